//! Fetching the server's own API schema (feature `schema`): one plain GET, without
//! credentials, of the API viewer's `apidoc.js` on the client's origin (path prefix
//! included), read into a [`Schema`]. Every node serves its own, matching its version: PVE
//! `/pve-docs/api-viewer/apidoc.js` (package pve-docs), PBS `/docs/api-viewer/apidoc.js`, PMG
//! `/pmg-docs/api-viewer/apidoc.js` (pmg-docs).

use super::client::Shared;
use super::exchange::{EndpointId, Exchange, ExchangeId, ExchangeKind, Payload};
use super::options::Policy;
use super::reply::Reply;
use super::step::{Flow, Step};
use super::time::Now;
use crate::Service;
use crate::auth::{AuthError, SecondFactor};
use crate::error::{ApiError, Error, ProtocolError};
use crate::schema::Schema;
use std::sync::Arc;
use std::task::Waker;

/// The largest schema accepted (PVE 9's is about 4 MB).
pub const MAX_SCHEMA_BYTES: u64 = 32 * 1024 * 1024;

/// Where `service` serves its schema, below the origin.
pub fn schema_path(service: Service) -> &'static str {
    match service {
        Service::Pve => "/pve-docs/api-viewer/apidoc.js",
        Service::Pmg => "/pmg-docs/api-viewer/apidoc.js",
        // PDM installs its viewer like PBS (proxmox-datacenter-manager `docs/api-viewer`).
        Service::Pbs | Service::Pdm => "/docs/api-viewer/apidoc.js",
    }
}

/// The package that serves it.
fn docs_package(service: Service) -> &'static str {
    match service {
        Service::Pve => "pve-docs",
        Service::Pmg => "pmg-docs",
        Service::Pbs => "proxmox-backup-docs",
        Service::Pdm => "proxmox-datacenter-manager-docs",
    }
}

/// The flow of [`super::ClientCore::fetch_schema`]. Its output is the loaded [`Schema`].
pub struct FetchSchema {
    shared: Arc<Shared>,
    policy: Policy,
    sent: Option<ExchangeId>,
    reply: Option<Reply>,
    url: String,
}

impl std::fmt::Debug for FetchSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchSchema")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl FetchSchema {
    pub(crate) fn new(shared: Arc<Shared>, policy: Policy) -> Self {
        let target = shared.rb.target();
        let url = format!("{}{}", target.origin_url(), schema_path(target.service()));
        Self {
            shared,
            policy,
            sent: None,
            reply: None,
            url,
        }
    }

    /// The URL fetched.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn label(&self) -> crate::RequestLabel {
        let target = self.shared.rb.target();
        crate::RequestLabel {
            method: crate::Method::Get,
            path: schema_path(target.service()).to_owned(),
            host: target.authority(),
        }
    }
}

impl Flow for FetchSchema {
    type Output = Schema;

    fn poll(&mut self, _now: Now) -> Step<Schema> {
        if self.shared.shell.is_some() && self.sent.is_none() {
            // The shell wire runs pvesh only; the file is on the node.
            return Step::Done(Err(crate::error::InputError::Invalid {
                what: "fetch_schema",
                reason: format!(
                    "a pvesh client fetches no URLs: read the node's /usr/share/{}/api-viewer/apidoc.js \
                     and load it with Schema::from_apidoc",
                    docs_package(self.shared.rb.target().service())
                ),
            }
            .into()));
        }
        if self.sent.is_none() {
            let req = match self.shared.rb.fetch(&self.url) {
                Ok(r) => r,
                Err(e) => return Step::Done(Err(e.into())),
            };
            let id = ExchangeId(0);
            self.sent = Some(id);
            return Step::Send(Exchange {
                id,
                kind: ExchangeKind::Fetch,
                endpoint: EndpointId::PRIMARY,
                payload: Payload::Http(req),
                connect_timeout: self.policy.connect_timeout,
                read_timeout: self.policy.read_timeout,
                deadline: None,
                body_limit: MAX_SCHEMA_BYTES,
                attempt: 1,
            });
        }
        let Some(reply) = self.reply.take() else {
            return Step::AwaitReplies;
        };
        let service = self.shared.rb.target().service();
        let result = match reply {
            Reply::Http(r) if r.status == 200 => {
                let text = String::from_utf8_lossy(&r.body);
                Schema::from_apidoc(&text).map_err(|e| {
                    Error::from(ProtocolError::Malformed {
                        what: "API schema",
                        detail: format!("{} is not a schema the client can read: {e}", self.url),
                    })
                })
            }
            Reply::Http(r) => {
                let mut e = ApiError::new(r.status, r.reason.as_deref().unwrap_or(""), None);
                e.request = Some(self.label());
                if r.status == 404 {
                    e.note = Some(format!(
                        "the node serves no API schema: the {} package is not installed \
                         (apt install {}), or load a schema file with Schema::from_apidoc",
                        docs_package(service),
                        docs_package(service)
                    ));
                }
                Err(e.into())
            }
            Reply::Failed(f) => Err(Error::Transport(Box::new(
                crate::error::TransportError::new(self.label(), f, 1, std::time::Duration::ZERO),
            ))),
            Reply::Shell(_) => Err(ProtocolError::Malformed {
                what: "flow",
                detail: "a command's output answered a fetch".into(),
            }
            .into()),
        };
        Step::Done(result)
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        if self.sent == Some(id) {
            self.reply = Some(reply);
        }
    }

    fn answer_second_factor(&mut self, _answer: Result<SecondFactor, AuthError>) {}

    fn wake_on_release(&mut self, _waker: &Waker) -> bool {
        false
    }
}
