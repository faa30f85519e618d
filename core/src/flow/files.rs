//! File flows: checksum discovery next to a URL, `download-url` with it, and calls whose
//! `data` is read as a value (the QEMU guest agent's `exec`).

use super::client::Shared;
use super::exchange::{EndpointId, Exchange, ExchangeId, ExchangeKind, Payload};
use super::options::Policy;
use super::reply::Reply;
use super::step::{Flow, Step};
use super::sub_call::{Answer, SubCall};
use super::time::Now;
use crate::auth::{AuthError, SecondFactor};
use crate::checksum::{Checksum, ChecksumDiscovery, DiscoveryOutcome, MAX_CHECKSUM_FILE_BYTES};
use crate::error::Error;
use crate::upid::Upid;
use crate::upload::{DownloadChecksum, DownloadUrl};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::Waker;

/// Looks for a checksum published next to a URL: fetches the candidates (`SHA512SUMS`,
/// `url.sha256`, …) one by one without credentials, as plain [`ExchangeKind::Fetch`]es; a
/// candidate that fails or is not there is skipped. Ends with the checksum found, if any.
///
/// ```
/// use proxmox_proto::flow::{ClientCore, Flow, HttpReply, MonoTime, Now, Payload, Reply, Step, TransportFailure};
/// use proxmox_proto::options::ClientOptions;
/// use proxmox_proto::TransportKind;
/// use std::time::Duration;
///
/// let mut o = ClientOptions::new("pve1.example.com");
/// o.set_api_token("root@pam!ci", "s".into());
/// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
/// let mut flow = core.discover_checksum("https://mirror.example/iso/debian.iso", None).unwrap();
/// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
/// let sha = "a".repeat(64);
/// let found = loop {
///     match flow.poll(now) {
///         Step::Send(ex) => {
///             let Payload::Http(req) = &ex.payload else { unreachable!() };
///             assert!(req.headers().get("authorization").is_none(), "no credentials to a mirror");
///             let reply = if req.uri().path() == "/iso/SHA256SUMS" {
///                 Reply::Http(HttpReply::new(200, None, format!("{sha}  debian.iso\n").into_bytes()))
///             } else {
///                 Reply::Failed(TransportFailure::maybe_sent("404"))
///             };
///             flow.handle(ex.id, reply);
///         }
///         Step::Done(found) => break found.unwrap(),
///         other => unreachable!("{other:?}"),
///     }
/// };
/// assert_eq!(found.unwrap().hex(), sha);
/// ```
#[derive(Debug)]
pub struct DiscoverChecksum {
    shared: Arc<Shared>,
    policy: Policy,
    discovery: ChecksumDiscovery,
    pending: Option<(ExchangeId, String)>,
    reply: Option<Reply>,
    next_id: u64,
}

impl DiscoverChecksum {
    pub(crate) fn new(
        shared: Arc<Shared>,
        policy: Policy,
        url: &str,
        file_name: Option<&str>,
    ) -> Result<Self, Error> {
        Ok(Self {
            shared,
            policy,
            discovery: ChecksumDiscovery::new(url, file_name, None)?,
            pending: None,
            reply: None,
            next_id: 0,
        })
    }
}

impl Flow for DiscoverChecksum {
    type Output = Option<Checksum>;

    fn poll(&mut self, _now: Now) -> Step<Option<Checksum>> {
        loop {
            if let Some((_, url)) = &self.pending {
                let Some(reply) = self.reply.take() else {
                    return Step::AwaitReplies;
                };
                let fed = match reply {
                    Reply::Http(r) => self.discovery.handle_fetch(url, r.status, &r.body),
                    Reply::Failed(_) | Reply::Shell(_) => self.discovery.handle_failure(url),
                };
                self.pending = None;
                if let Err(e) = fed {
                    return Step::Done(Err(e.into()));
                }
            }
            let Some(url) = self.discovery.next_fetch() else {
                return Step::Done(Ok(match self.discovery.outcome() {
                    Some(DiscoveryOutcome::Found(c)) => Some(c.clone()),
                    _ => None,
                }));
            };
            let req = match self.shared.rb.fetch(&url) {
                Ok(r) => r,
                Err(_) => {
                    // A candidate that cannot even be requested is skipped like a 404.
                    if let Err(e) = self.discovery.handle_failure(&url) {
                        return Step::Done(Err(e.into()));
                    }
                    continue;
                }
            };
            let id = ExchangeId(self.next_id);
            self.next_id += 1;
            self.pending = Some((id, url));
            return Step::Send(Exchange {
                id,
                kind: ExchangeKind::Fetch,
                endpoint: EndpointId::PRIMARY,
                payload: Payload::Http(req),
                connect_timeout: self.policy.connect_timeout,
                read_timeout: self.policy.read_timeout,
                deadline: None,
                body_limit: MAX_CHECKSUM_FILE_BYTES as u64,
                attempt: 1,
            });
        }
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        if self.pending.as_ref().is_some_and(|(p, _)| *p == id) {
            self.reply = Some(reply);
        }
    }

    fn answer_second_factor(&mut self, _answer: Result<SecondFactor, AuthError>) {}

    fn wake_on_release(&mut self, _waker: &Waker) -> bool {
        false
    }
}

/// An API call whose `data` is read as `T` (a UPID, the agent's answer, …), on the client's
/// wire (HTTP or `pvesh`).
pub struct DataCall<T> {
    call: SubCall,
    _out: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for DataCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DataCall").field(&self.call).finish()
    }
}

impl<T: DeserializeOwned + 'static> DataCall<T> {
    pub(crate) fn new(call: SubCall) -> Self {
        Self {
            call,
            _out: PhantomData,
        }
    }
}

fn data<T: DeserializeOwned>(a: Answer) -> Result<T, Error> {
    a.data()
}

impl<T: DeserializeOwned + 'static> Flow for DataCall<T> {
    type Output = T;

    fn poll(&mut self, now: Now) -> Step<T> {
        self.call.poll(now).and_then_done(data)
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        self.call.handle(id, reply);
    }

    fn answer_second_factor(&mut self, answer: Result<SecondFactor, AuthError>) {
        self.call.answer_second_factor(answer);
    }

    fn wake_on_release(&mut self, waker: &Waker) -> bool {
        self.call.wake_on_release(waker)
    }
}

/// `download-url`: the checksum given, or discovered next to the URL first, then the call.
/// Ends with the UPID of the server's download task.
#[derive(Debug)]
pub struct DownloadUrlFlow {
    shared: Arc<Shared>,
    policy: Policy,
    node: String,
    storage: String,
    url: String,
    file_name: String,
    download: Option<DownloadUrl>,
    checksum: DownloadChecksum,
    discover: Option<DiscoverChecksum>,
    call: Option<DataCall<Upid>>,
}

impl DownloadUrlFlow {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Arc<Shared>,
        policy: Policy,
        node: &str,
        storage: &str,
        download: DownloadUrl,
        url: &str,
        file_name: &str,
        checksum: DownloadChecksum,
    ) -> Result<Self, Error> {
        let discover = if checksum.wants_discovery() {
            Some(DiscoverChecksum::new(
                shared.clone(),
                policy.clone(),
                url,
                Some(file_name),
            )?)
        } else {
            None
        };
        Ok(Self {
            shared,
            policy,
            node: node.to_owned(),
            storage: storage.to_owned(),
            url: url.to_owned(),
            file_name: file_name.to_owned(),
            download: Some(download),
            checksum,
            discover,
            call: None,
        })
    }

    /// The call, with the checksum resolved from what discovery `found`.
    fn start_call(&mut self, found: Option<Checksum>) -> Result<(), Error> {
        let checksum = std::mem::take(&mut self.checksum);
        let mut download = self.download.take().ok_or_else(|| {
            Error::from(crate::ProtocolError::Malformed {
                what: "flow",
                detail: "download-url started twice".into(),
            })
        })?;
        if let Some(c) = checksum.resolve(&self.url, &self.file_name, found)? {
            download = download.checksum(c);
        }
        let call = download.call(&self.node, &self.storage)?;
        self.call = Some(DataCall::new(SubCall::new(
            self.shared.clone(),
            call,
            self.policy.clone(),
        )));
        Ok(())
    }
}

impl Flow for DownloadUrlFlow {
    type Output = Upid;

    fn poll(&mut self, now: Now) -> Step<Upid> {
        loop {
            if let Some(call) = &mut self.call {
                return call.poll(now);
            }
            let found = match &mut self.discover {
                Some(d) => match d.poll(now) {
                    Step::Done(Ok(found)) => found,
                    Step::Done(Err(e)) => return Step::Done(Err(e)),
                    other => return other.and_then_done(|_| unreachable_done()),
                },
                None => None,
            };
            self.discover = None;
            if let Err(e) = self.start_call(found) {
                return Step::Done(Err(e));
            }
        }
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        match (&mut self.call, &mut self.discover) {
            (Some(c), _) => c.handle(id, reply),
            (None, Some(d)) => d.handle(id, reply),
            (None, None) => {}
        }
    }

    fn answer_second_factor(&mut self, answer: Result<SecondFactor, AuthError>) {
        if let Some(c) = &mut self.call {
            c.answer_second_factor(answer);
        }
    }

    fn wake_on_release(&mut self, waker: &Waker) -> bool {
        self.call.as_mut().is_some_and(|c| c.wake_on_release(waker))
    }
}

/// The `Done` arm of a step that is not `Done` (never taken).
fn unreachable_done() -> Result<Upid, Error> {
    Err(crate::ProtocolError::Malformed {
        what: "flow",
        detail: "a finished discovery was handed out".into(),
    }
    .into())
}
