//! The call flow of the shell wire (`pvesh`/`pmgsh` locally or over SSH): no auth, one command
//! ([`Payload::Command`]) answered by [`Reply::Shell`], bounded by the call's timeout and body
//! limit. Never retried: a command that failed on the way may have run.

use super::client::Shared;
use super::exchange::{EndpointId, Exchange, ExchangeId, ExchangeKind, Payload};
use super::options::Policy;
use super::reply::{Reply, ShellReply};
use super::step::{Flow, Step};
use super::time::{MonoTime, Now};
use crate::auth::{AuthError, SecondFactor};
use crate::call::Call;
use crate::error::{Error, ProtocolError, RequestLabel, TransportError};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

/// The flow of one call over the shell wire, made by [`super::ClientCore::shell_call`]. Its
/// output is what the command left (exit code, stdout, stderr), whatever the exit code: parse
/// it with [`crate::command::parse_output`] or [`crate::command::parse_data`].
///
/// ```
/// use proxmox_proto::command::CommandBuilder;
/// use proxmox_proto::flow::{CallOptions, ClientCore, Flow, MonoTime, Now, Payload, Reply, ShellReply, Step};
/// use proxmox_proto::{Call, Service};
/// use std::time::Duration;
///
/// let commands = CommandBuilder::new(Service::Pve).unwrap();
/// let core = ClientCore::shell(Service::Pve, commands, "pve1", Duration::from_secs(60), 1 << 20);
/// let mut flow = core.shell_call(Call::get("version").unwrap(), &CallOptions::default());
/// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
/// let out = loop {
///     match flow.poll(now) {
///         Step::Send(ex) => {
///             let Payload::Command(cmd) = &ex.payload else { unreachable!() };
///             assert_eq!(cmd.argv()[..3], ["pvesh", "get", "/version"]);
///             let reply = ShellReply { stdout: br#"{"version":"9.0"}"#.to_vec(), stderr: vec![], exit: Some(0) };
///             flow.handle(ex.id, Reply::Shell(reply));
///         }
///         Step::Done(out) => break out.unwrap(),
///         other => unreachable!("{other:?}"),
///     }
/// };
/// let v: serde_json::Value = proxmox_proto::command::parse_data(&out.stdout, &out.stderr, out.exit).unwrap();
/// assert_eq!(v["version"], "9.0");
/// ```
#[derive(Debug)]
pub struct ShellCall {
    shared: Arc<Shared>,
    call: Option<Call>,
    label: Option<RequestLabel>,
    policy: Policy,
    started: Option<MonoTime>,
    sent: Option<ExchangeId>,
    reply: Option<Reply>,
    done: bool,
}

impl ShellCall {
    pub(crate) fn new(shared: Arc<Shared>, call: Call, policy: Policy) -> Self {
        Self {
            shared,
            call: Some(call),
            label: None,
            policy,
            started: None,
            sent: None,
            reply: None,
            done: false,
        }
    }

    fn finish(&mut self, result: Result<ShellReply, Error>) -> Step<ShellReply> {
        self.done = true;
        Step::Done(result)
    }
}

impl Flow for ShellCall {
    type Output = ShellReply;

    fn poll(&mut self, now: Now) -> Step<ShellReply> {
        if self.done {
            return Step::Done(Err(ProtocolError::Malformed {
                what: "flow",
                detail: "polled after it was done".into(),
            }
            .into()));
        }
        let started = *self.started.get_or_insert(now.mono);
        if let Some(call) = self.call.take() {
            // A client with a schema checks the call before anything runs.
            if let Err(e) = self.shared.check_call(&call) {
                return self.finish(Err(e));
            }
            let Some(wire) = &self.shared.shell else {
                return self.finish(Err(ProtocolError::Malformed {
                    what: "flow",
                    detail: "a shell call on a client without a shell wire".into(),
                }
                .into()));
            };
            self.label = Some(self.shared.label(call.method, call.path.to_string()));
            let cmd = match wire.commands.build(&call) {
                Ok(c) => c,
                Err(e) => return self.finish(Err(e.into())),
            };
            let deadline = self.policy.timeout.map(|t| started + t);
            let id = ExchangeId(0);
            self.sent = Some(id);
            return Step::Send(Exchange {
                id,
                kind: ExchangeKind::Api,
                endpoint: EndpointId::PRIMARY,
                payload: Payload::Command(cmd),
                connect_timeout: self.policy.connect_timeout,
                read_timeout: self.policy.timeout.unwrap_or(Duration::MAX),
                deadline,
                body_limit: self.policy.body_limit,
                // A command runs once: the shell wire does not retry.
                attempt: 1,
            });
        }
        let Some(reply) = self.reply.take() else {
            return Step::AwaitReplies;
        };
        let elapsed = now.mono.since(started);
        match reply {
            Reply::Shell(out) => self.finish(Ok(out)),
            Reply::Failed(f) => {
                if let Some(p) = f.refused {
                    return self.finish(Err(p.into()));
                }
                let request = self.label.take().unwrap_or_else(|| RequestLabel {
                    method: crate::Method::Get,
                    path: String::new(),
                    host: String::new(),
                });
                self.finish(Err(Error::Transport(Box::new(TransportError {
                    request,
                    failure: f,
                    attempts: 1,
                    elapsed,
                }))))
            }
            Reply::Http(_) => self.finish(Err(ProtocolError::Malformed {
                what: "reply",
                detail: "an HTTP answer came back for a command".into(),
            }
            .into())),
        }
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        if self.sent == Some(id) {
            self.sent = None;
            self.reply = Some(reply);
        }
    }

    fn answer_second_factor(&mut self, _answer: Result<SecondFactor, AuthError>) {}

    fn wake_on_release(&mut self, _waker: &Waker) -> bool {
        false
    }
}
