//! Opening a console: the console call (`termproxy`, `vncshell`, `vncproxy`) on the node it
//! names, then the WebSocket upgrade on the node that answered it, then an open
//! [`ConsoleSession`] the adapter drives over the upgraded connection.
//!
//! termproxy listens on localhost of the node that received the POST (pve-manager
//! `PVE/API2/Nodes.pm` `termproxy`; qemu-server `src/PVE/API2/Qemu.pm`, pve-container
//! `src/PVE/API2/LXC.pm`), and pveproxy connects the WebSocket to that local port
//! (pve-http-server `src/PVE/APIServer/AnyEvent.pm` `websocket_proxy`): the upgrade goes to
//! the same endpoint, never another one (a cluster client does not fail over here).

use super::api_call::ApiCall;
use super::client::Shared;
use super::exchange::{EndpointId, ExchangeId};
use super::options::Policy;
use super::reply::{HttpReply, Reply};
use super::step::{Flow, Step};
use super::time::Now;
use crate::auth::{AuthError, SecondFactor};
use crate::call::Call;
use crate::console::ConsoleError;
use crate::console::handshake::Upgrade;
use crate::console::session::{ConsoleSession, Framing, Protocol};
use crate::console::ticket::ConsoleTicket;
use crate::error::{ConsoleFailure, Error, InputError, ProtocolError};
use crate::path::ApiPath;
use std::sync::Arc;
use std::task::Waker;

/// Whose console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleTarget {
    /// A node's shell.
    Node(String),
    /// A VM's serial console (termproxy) or screen (VNC).
    Qemu {
        /// The node it runs on.
        node: String,
        /// Its id.
        vmid: u32,
    },
    /// A container's console.
    Lxc {
        /// The node it runs on.
        node: String,
        /// Its id.
        vmid: u32,
    },
}

impl ConsoleTarget {
    /// The path the console calls are made below: `nodes/{node}` or
    /// `nodes/{node}/{qemu|lxc}/{vmid}`.
    pub fn base(&self) -> Result<ApiPath, InputError> {
        let (node, guest) = match self {
            ConsoleTarget::Node(node) => (node, None),
            ConsoleTarget::Qemu { node, vmid } => (node, Some(("qemu", *vmid))),
            ConsoleTarget::Lxc { node, vmid } => (node, Some(("lxc", *vmid))),
        };
        let path = ApiPath::parse("nodes")?.value(node)?;
        match guest {
            Some((kind, vmid)) => path.literal(kind)?.value(vmid),
            None => Ok(path),
        }
    }
}

/// What runs in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleKind {
    /// A terminal through termproxy (`POST …/termproxy`).
    Terminal,
    /// VNC: `POST /nodes/{node}/vncshell` or `POST …/vncproxy` with `websocket=1`; the
    /// upgraded stream is raw RFB, authenticated with [`ConsoleTicket::password`].
    Vnc,
}

/// The console call for `kind` on `target`.
pub fn console_call(target: &ConsoleTarget, kind: ConsoleKind) -> Result<Call, InputError> {
    let base = target.base()?;
    Ok(match (kind, target) {
        (ConsoleKind::Terminal, _) => Call::post(base.literal("termproxy")?)?,
        (ConsoleKind::Vnc, ConsoleTarget::Node(_)) => {
            Call::post(base.literal("vncshell")?)?.param("websocket", true)
        }
        (ConsoleKind::Vnc, _) => Call::post(base.literal("vncproxy")?)?.param("websocket", true),
    })
}

/// An open console: hand the connection of [`OpenedConsole::exchange`] (the upgrade's
/// `101`) to [`OpenedConsole::session`] and drive it (see
/// [`crate::console::session`]).
#[derive(Debug)]
pub struct OpenedConsole {
    /// The upgrade exchange whose connection is now the console's.
    pub exchange: ExchangeId,
    /// The console's state machine (the login line is already queued).
    pub session: ConsoleSession,
    /// The console call's answer (the RFB password, for VNC).
    pub ticket: ConsoleTicket,
    /// The endpoint the console lives on.
    pub endpoint: EndpointId,
    /// The WebSocket's request, for errors.
    pub request: crate::RequestLabel,
}

/// Sub-flow exchange ids: the console call's as they are, the upgrade's with this bit.
const UPGRADE_BIT: u64 = 1 << 40;

enum State {
    Ticket(ApiCall),
    Upgrade {
        call: ApiCall,
        ticket: ConsoleTicket,
        label: crate::RequestLabel,
    },
    Finished,
}

/// The flow that opens a console, made by [`super::ClientCore::console`]. Its output is an
/// [`OpenedConsole`]; the adapter performs the [`super::ExchangeKind::WebSocket`] exchange
/// by keeping the connection when it answers `101` (and feeding the head as the reply).
pub struct OpenConsole {
    shared: Arc<Shared>,
    policy: Policy,
    target: ConsoleTarget,
    kind: ConsoleKind,
    upgrade: Upgrade,
    framing: Option<Framing>,
    state: State,
    /// The upgrade exchange last answered with 101.
    switched: Option<ExchangeId>,
    call_label: crate::RequestLabel,
}

impl std::fmt::Debug for OpenConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenConsole")
            .field("target", &self.target)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl OpenConsole {
    pub(crate) fn new(
        shared: Arc<Shared>,
        policy: Policy,
        target: ConsoleTarget,
        kind: ConsoleKind,
        key: [u8; 16],
        framing: Framing,
    ) -> Result<Self, InputError> {
        let call = console_call(&target, kind)?;
        let call_label = shared.label(call.method, call.path.to_string());
        Ok(Self {
            state: State::Ticket(ApiCall::new(shared.clone(), call, policy.clone())),
            shared,
            policy,
            target,
            kind,
            upgrade: Upgrade::new(key),
            framing: Some(framing),
            switched: None,
            call_label,
        })
    }

    fn fail(&mut self, request: crate::RequestLabel, error: ConsoleError) -> Step<OpenedConsole> {
        self.state = State::Finished;
        Step::Done(Err(ConsoleFailure::new(request, error).into()))
    }

    /// The console call answered: its ticket, then the upgrade on the same endpoint.
    fn on_ticket(&self, reply: HttpReply) -> Result<State, Error> {
        if !reply.is_success() {
            let e = crate::response::parse_data::<serde_json::Value>(
                reply.status,
                reply.reason.as_deref(),
                &reply.body,
            )
            .err()
            .unwrap_or_else(|| {
                ProtocolError::Malformed {
                    what: "console call",
                    detail: format!("status {} without an error", reply.status),
                }
                .into()
            });
            // pve-manager before 9.0.13 (`PVE/API2/Nodes.pm` termproxy) hands a token's id
            // to a login check that refuses it.
            if let Error::Api(api) = &e
                && let Some(message) = api.message.as_deref().or(Some(api.reason.as_str()))
                && message.contains("does not look like a valid user name")
            {
                let error = ConsoleError::TokensNotAllowed {
                    message: message.to_owned(),
                };
                return Err(ConsoleFailure::new(self.call_label.clone(), error).into());
            }
            return Err(e.with_request(self.call_label.clone()));
        }
        let data = crate::response::parse_data::<serde_json::Value>(
            reply.status,
            reply.reason.as_deref(),
            &reply.body,
        )
        .and_then(|v| ConsoleTicket::from_data(v.to_string().as_bytes()));
        let ticket = data.map_err(|e| e.with_request(self.call_label.clone()))?;
        let call = self
            .target
            .base()
            .and_then(|base| ticket.websocket_call(&base))?;
        let mut label = self.shared.label(call.method, call.path.to_string());
        if let Some(router) = self.shared.router()
            && let Some(e) = router.endpoint(reply.endpoint)
        {
            label.host = e.authority();
        }
        let headers = self.upgrade.headers();
        let call = ApiCall::upgrade(
            self.shared.clone(),
            call,
            self.policy.clone(),
            reply.endpoint,
            headers,
        );
        Ok(State::Upgrade {
            call,
            ticket,
            label,
        })
    }

    fn on_upgrade(
        &mut self,
        now: Now,
        reply: HttpReply,
        ticket: ConsoleTicket,
        label: crate::RequestLabel,
    ) -> Step<OpenedConsole> {
        self.state = State::Finished;
        if reply.status != 101 {
            if reply.status >= 400 {
                let e = crate::response::parse_data::<serde_json::Value>(
                    reply.status,
                    reply.reason.as_deref(),
                    &reply.body,
                )
                .err();
                if let Some(e) = e {
                    return Step::Done(Err(e.with_request(label)));
                }
            }
            let error = ConsoleError::Handshake(
                self.upgrade
                    .check(reply.status, &reply.headers)
                    .err()
                    .unwrap_or(crate::console::handshake::HandshakeError::Invalid(
                        "no switch",
                    )),
            );
            return self.fail(label, error);
        }
        let browser = matches!(self.framing, Some(Framing::Messages));
        // A browser checks the accept key itself and does not show it.
        if !browser && let Err(e) = self.upgrade.check(reply.status, &reply.headers) {
            return self.fail(label, ConsoleError::Handshake(e));
        }
        let (Some(exchange), Some(framing)) = (self.switched, self.framing.take()) else {
            return Step::Done(Err(ProtocolError::Malformed {
                what: "console",
                detail: "a 101 answer that no exchange reported".into(),
            }
            .into()));
        };
        let protocol = match self.kind {
            ConsoleKind::Terminal => Protocol::Terminal {
                user: ticket.user.clone(),
                ticket: ticket.ticket.clone(),
            },
            ConsoleKind::Vnc => Protocol::Raw,
        };
        let session = ConsoleSession::new(protocol, framing, now.mono);
        Step::Done(Ok(OpenedConsole {
            exchange,
            session,
            ticket,
            endpoint: reply.endpoint,
            request: label,
        }))
    }
}

/// A sub-call's step as a step of this flow (never `Done`).
fn pass<T>(step: Step<HttpReply>, bit: u64) -> Step<T> {
    step.pass_up(|id| ExchangeId(id.0 | bit))
}

impl Flow for OpenConsole {
    type Output = OpenedConsole;

    fn poll(&mut self, now: Now) -> Step<OpenedConsole> {
        loop {
            match std::mem::replace(&mut self.state, State::Finished) {
                State::Ticket(mut call) => match call.poll(now) {
                    Step::Done(Ok(reply)) => match self.on_ticket(reply) {
                        Ok(next) => self.state = next,
                        Err(e) => return Step::Done(Err(e)),
                    },
                    Step::Done(Err(e)) => return Step::Done(Err(e)),
                    other => {
                        self.state = State::Ticket(call);
                        return pass(other, 0);
                    }
                },
                State::Upgrade {
                    mut call,
                    ticket,
                    label,
                } => match call.poll(now) {
                    Step::Done(Ok(reply)) => return self.on_upgrade(now, reply, ticket, label),
                    Step::Done(Err(e)) => return Step::Done(Err(e)),
                    other => {
                        self.state = State::Upgrade {
                            call,
                            ticket,
                            label,
                        };
                        return pass(other, UPGRADE_BIT);
                    }
                },
                State::Finished => {
                    return Step::Done(Err(ProtocolError::Malformed {
                        what: "flow",
                        detail: "polled after it finished".into(),
                    }
                    .into()));
                }
            }
        }
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        match &mut self.state {
            State::Ticket(call) if id.0 & UPGRADE_BIT == 0 => call.handle(id, reply),
            State::Upgrade { call, .. } if id.0 & UPGRADE_BIT != 0 => {
                if matches!(&reply, Reply::Http(r) if r.status == 101) {
                    self.switched = Some(id);
                }
                call.handle(ExchangeId(id.0 & !UPGRADE_BIT), reply);
            }
            _ => {}
        }
    }

    fn answer_second_factor(&mut self, answer: Result<SecondFactor, AuthError>) {
        match &mut self.state {
            State::Ticket(call) => call.answer_second_factor(answer),
            State::Upgrade { call, .. } => call.answer_second_factor(answer),
            State::Finished => {}
        }
    }

    fn wake_on_release(&mut self, waker: &Waker) -> bool {
        match &mut self.state {
            State::Ticket(call) => call.wake_on_release(waker),
            State::Upgrade { call, .. } => call.wake_on_release(waker),
            State::Finished => false,
        }
    }
}
