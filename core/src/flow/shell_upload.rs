//! The upload flow of the shell wire: stage the file on the node (a command that creates the
//! staging file exclusively, mode 0600, fed the file on its standard input), complete it with
//! `pvesh create .../upload --tmpfilename`, and remove the staged file if anything failed.

use super::client::Shared;
use super::exchange::{EndpointId, Exchange, ExchangeId, ExchangeKind, Payload};
use super::reply::{Reply, ShellReply};
use super::step::{Flow, Step};
use super::time::{MonoTime, Now};
use crate::auth::{AuthError, SecondFactor};
use crate::command::{CommandLine, ShellUpload, StagingPath};
use crate::error::{Error, ProtocolError, RequestLabel, TransportError};
use crate::upid::Upid;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

/// The upload flow of the shell wire, made by [`super::ClientCore::shell_upload`]. Its first
/// exchange is a [`Payload::CommandInput`]: the adapter runs it with the file on standard
/// input (and answers with a failure if the file did not have the size it said). Nothing is
/// retried; a failure after staging began removes the staged file, then ends with the error.
/// Ends with the UPID of the node's import task.
///
/// ```
/// use proxmox_proto::command::{CommandBuilder, ShellUpload, StagingPath};
/// use proxmox_proto::flow::{ClientCore, Flow, MonoTime, Now, Payload, Reply, ShellReply, Step};
/// use proxmox_proto::upload::UploadContent;
/// use proxmox_proto::Service;
/// use std::time::Duration;
///
/// let core = ClientCore::shell(Service::Pve, CommandBuilder::new(Service::Pve).unwrap(), "pve1",
///                              Duration::from_secs(60), 1 << 20);
/// let staging = StagingPath::from_hex("0123456789abcdef").unwrap();
/// let up = ShellUpload::new("pve1", "local", UploadContent::Iso, "tiny.iso", staging).unwrap();
/// let mut flow = core.shell_upload(up, 4, Some(Duration::from_secs(3600))).unwrap();
/// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
/// let upid = "UPID:pve1:00000004:00000004:65000000:imgcopy::root@pam:";
/// let mut ran = Vec::new();
/// let done = loop {
///     match flow.poll(now) {
///         Step::Send(ex) => {
///             let (cmd, stdout) = match &ex.payload {
///                 Payload::CommandInput { command, input_len } => {
///                     assert_eq!(*input_len, 4, "the file goes on standard input");
///                     (command, String::new())
///                 }
///                 Payload::Command(command) => (command, format!("\"{upid}\"")),
///                 _ => unreachable!(),
///             };
///             ran.push(cmd.program().to_owned());
///             let reply = ShellReply { stdout: stdout.into_bytes(), stderr: vec![], exit: Some(0) };
///             flow.handle(ex.id, Reply::Shell(reply));
///         }
///         Step::Done(upid) => break upid.unwrap(),
///         other => unreachable!("{other:?}"),
///     }
/// };
/// assert_eq!(ran, ["sh", "pvesh"], "staged, then completed; nothing to clean up");
/// assert_eq!(done.to_string(), upid);
/// ```
#[derive(Debug)]
pub struct ShellUploadFlow {
    shared: Arc<Shared>,
    staging: StagingPath,
    complete: Option<CommandLine>,
    len: u64,
    upload_timeout: Option<Duration>,
    state: State,
    next_id: u64,
    reply: Option<(ExchangeId, Reply)>,
    started: Option<MonoTime>,
}

#[derive(Debug)]
enum State {
    Stage,
    Staging(ExchangeId),
    Complete,
    Completing(ExchangeId),
    Cleanup(Error),
    CleaningUp(ExchangeId, Error),
    Finished,
}

impl ShellUploadFlow {
    pub(crate) fn new(
        shared: Arc<Shared>,
        upload: ShellUpload,
        len: u64,
        upload_timeout: Option<Duration>,
    ) -> Result<Self, Error> {
        let Some(wire) = &shared.shell else {
            return Err(ProtocolError::Malformed {
                what: "flow",
                detail: "a shell upload on a client without a shell wire".into(),
            }
            .into());
        };
        // Built first: bad input fails before anything is copied.
        let complete = wire.commands.upload(&upload)?;
        Ok(Self {
            staging: upload.staging().clone(),
            shared,
            complete: Some(complete),
            len,
            upload_timeout,
            state: State::Stage,
            next_id: 0,
            reply: None,
            started: None,
        })
    }

    fn exchange(
        &mut self,
        kind: ExchangeKind,
        payload: Payload,
        timeout: Option<Duration>,
    ) -> Exchange {
        let id = ExchangeId(self.next_id);
        self.next_id += 1;
        let policy = &self.shared.policy;
        Exchange {
            id,
            kind,
            endpoint: EndpointId::PRIMARY,
            payload,
            connect_timeout: policy.connect_timeout,
            read_timeout: timeout.unwrap_or(Duration::MAX),
            deadline: None,
            body_limit: policy.body_limit,
            attempt: 1,
        }
    }

    fn take_reply(&mut self, id: ExchangeId) -> Option<Reply> {
        match self.reply.take() {
            Some((got, r)) if got == id => Some(r),
            other => {
                self.reply = other;
                None
            }
        }
    }

    /// The error of a command of this flow that did not come back as it should.
    fn failed(&self, now: Now, what: &str, reply: Reply) -> Error {
        let host = self
            .shared
            .shell
            .as_ref()
            .map_or_else(String::new, |w| w.host.clone());
        let failure = match reply {
            Reply::Failed(f) => {
                if let Some(p) = f.refused {
                    return p.into();
                }
                f
            }
            Reply::Shell(ShellReply { stderr, exit, .. }) => {
                super::reply::TransportFailure::maybe_sent(format!(
                    "{what} at {} failed (exit code {exit:?}): {}",
                    self.staging,
                    String::from_utf8_lossy(&stderr).trim()
                ))
                .permanent()
            }
            Reply::Http(_) => {
                super::reply::TransportFailure::not_sent("an HTTP answer came back for a command")
                    .permanent()
            }
        };
        let elapsed = self.started.map_or(Duration::ZERO, |s| now.mono.since(s));
        Error::Transport(Box::new(TransportError::new(
            RequestLabel {
                method: crate::Method::Post,
                path: format!("(upload staged at {})", self.staging),
                host,
            },
            failure,
            1,
            elapsed,
        )))
    }
}

impl Flow for ShellUploadFlow {
    type Output = Upid;

    fn poll(&mut self, now: Now) -> Step<Upid> {
        self.started.get_or_insert(now.mono);
        loop {
            match std::mem::replace(&mut self.state, State::Finished) {
                State::Stage => {
                    let payload = Payload::CommandInput {
                        command: self.staging.stage_command(),
                        input_len: self.len,
                    };
                    let ex = self.exchange(ExchangeKind::Upload, payload, self.upload_timeout);
                    self.state = State::Staging(ex.id);
                    return Step::Send(ex);
                }
                State::Staging(id) => match self.take_reply(id) {
                    None => {
                        self.state = State::Staging(id);
                        return Step::AwaitReplies;
                    }
                    Some(Reply::Shell(out)) if out.exit == Some(0) => self.state = State::Complete,
                    Some(other) => {
                        self.state = State::Cleanup(self.failed(now, "staging the upload", other))
                    }
                },
                State::Complete => {
                    let Some(cmd) = self.complete.take() else {
                        return Step::Done(Err(ProtocolError::Malformed {
                            what: "flow",
                            detail: "the upload was completed twice".into(),
                        }
                        .into()));
                    };
                    let timeout = self.shared.policy.timeout;
                    let ex = self.exchange(ExchangeKind::Api, Payload::Command(cmd), timeout);
                    self.state = State::Completing(ex.id);
                    return Step::Send(ex);
                }
                State::Completing(id) => match self.take_reply(id) {
                    None => {
                        self.state = State::Completing(id);
                        return Step::AwaitReplies;
                    }
                    Some(Reply::Shell(out)) => {
                        match crate::command::parse_data::<Upid>(&out.stdout, &out.stderr, out.exit)
                        {
                            Ok(upid) => return Step::Done(Ok(upid)),
                            Err(e) => self.state = State::Cleanup(e),
                        }
                    }
                    Some(other) => {
                        self.state =
                            State::Cleanup(self.failed(now, "completing the upload", other))
                    }
                },
                State::Cleanup(error) => {
                    let cmd = self.staging.cleanup_command();
                    let timeout = self.shared.policy.timeout;
                    let ex = self.exchange(ExchangeKind::Api, Payload::Command(cmd), timeout);
                    self.state = State::CleaningUp(ex.id, error);
                    return Step::Send(ex);
                }
                // Best effort: the error that matters is the one before.
                State::CleaningUp(id, error) => match self.take_reply(id) {
                    None => {
                        self.state = State::CleaningUp(id, error);
                        return Step::AwaitReplies;
                    }
                    Some(_) => return Step::Done(Err(error)),
                },
                State::Finished => {
                    return Step::Done(Err(ProtocolError::Malformed {
                        what: "flow",
                        detail: "polled after it was done".into(),
                    }
                    .into()));
                }
            }
        }
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        self.reply = Some((id, reply));
    }

    fn answer_second_factor(&mut self, _answer: Result<SecondFactor, AuthError>) {}

    fn wake_on_release(&mut self, _waker: &Waker) -> bool {
        false
    }
}
