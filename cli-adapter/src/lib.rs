//! # proxmox-cli: Proxmox VE and PMG over `pvesh`/`pmgsh`, locally or over SSH
//!
//! The same calls as the HTTP adapters (`get`, `post`, `put`, `delete`, `wait_task`, task logs,
//! uploads, QEMU agent exec), carried by the node's own API shell instead of HTTPS. Every call
//! is a flow of the core's shell wire ([`proxmox_proto::flow::ClientCore::shell`]: a call is a
//! `ShellCall`, tasks and logs are the same composites as over HTTP, an upload is a
//! `ShellUploadFlow`), with argv, quoting and output parsing from [`proxmox_proto::command`];
//! this crate runs the commands in one driver loop over one of three transports:
//!
//! | transport | builder | how |
//! |---|---|---|
//! | local subprocess | [`Client::local`] | spawns the argv (no shell), `LC_ALL=C`, optional `sudo -n` |
//! | OpenSSH | [`Client::openssh`] | the system `ssh` binary in batch mode, one connection reused through ControlMaster |
//! | libssh2 | `Client::ssh2` (feature `ssh2`, on by default) | one session, a channel per call |
//!
//! ```no_run
//! use proxmox_cli::{Client, HostKeyPolicy};
//! use std::time::Duration;
//! # fn main() -> Result<(), proxmox_cli::Error> {
//! let pve = Client::openssh("pve1.example.com")
//!     .user("root")
//!     .identity_file("/home/me/.ssh/id_ed25519")
//!     .known_hosts_file("/home/me/.ssh/known_hosts") // strict checking unless told otherwise
//!     .host_key_policy(HostKeyPolicy::Strict)
//!     .timeout(Duration::from_secs(30))
//!     .build()?;
//! let version: serde_json::Value = pve.get("version")?;
//! let vms: Vec<serde_json::Value> = pve.get(("nodes", "pve1", "qemu"))?;
//! # Ok(()) }
//! ```
//!
//! * The exit code decides first: 0 is success whatever stderr says (PVE 9 prints storage
//!   warnings there); anything else is the same typed [`proxmox_proto::ApiError`] as over
//!   HTTPS, read from the `NNN message` status line on stderr.
//! * Every call has a timeout (default 60 s, per call with [`CallOptions`]). A command that
//!   outlives it is killed: locally its whole process group; over SSH the remote command runs
//!   under a small POSIX `sh` watchdog that kills its process group when the connection's
//!   standard input closes. The client stays usable afterwards.
//! * Output is bounded like the HTTP adapters' response bodies: at most `body_limit` bytes
//!   (default 256 MiB, [`proxmox_proto::response::DEFAULT_BODY_LIMIT`]) on standard output,
//!   and as many on standard error. A command that prints more is stopped the same way as on
//!   a timeout and the call fails with [`proxmox_proto::ProtocolError::BodyTooLarge`]; the
//!   client (its SSH session or ControlMaster) stays usable.
//! * Host keys are never accepted silently: OpenSSH runs with `StrictHostKeyChecking=yes`
//!   unless [`HostKeyPolicy::AcceptNew`] is chosen; ssh2 checks a known_hosts file or a
//!   SHA-256 fingerprint and refuses an unknown host unless trust on first use was chosen.
//! * Several hosts of one cluster (`endpoints` on the OpenSSH and ssh2 builders): a command
//!   goes to the next host only when it never started on the one it went to (the connection,
//!   the login or the exec request failed — for OpenSSH, the ControlMaster connection — or
//!   the host key was refused), never because of an exit code: 255 is ssh's failure code and
//!   any remote command's too.
//! * PBS has no API shell: asking for it is an error when the client is built.
//! * Parameters travel as command-line words: anyone who can list processes on the node (and,
//!   for the local transport, on this machine) can read them while the command runs. Prefer
//!   an HTTPS adapter for calls that carry passwords.
//! * Uploads are staged at `/var/tmp/pveupload-<random hex>` (created exclusively, mode 0600)
//!   and completed with `pvesh create .../upload --tmpfilename`; the staged file is removed if
//!   anything fails.
#![forbid(unsafe_code)]
// Library code never unwraps data from outside; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod failover;
mod files;
mod local;
mod openssh;
mod process;
mod remote;
#[cfg(feature = "ssh2")]
mod ssh2;

pub use files::{DownloadChecksum, Progress, UploadChecksum};
pub use local::LocalBuilder;
pub use openssh::{HostKeyPolicy, OpenSshBuilder};
#[cfg(feature = "ssh2")]
pub use ssh2::{Ssh2Auth, Ssh2Builder, Ssh2HostKey};

pub use proxmox_proto as proto;

use proxmox_proto::command::{CommandBuilder, CommandLine, Output, parse_data, parse_output};
use proxmox_proto::flow::{
    ClientCore, Event, Exchange, Flow, IoStep, MonoClock, Now, Payload, Reply, ShellReply,
    TransportFailure, next_io,
};
use serde::de::DeserializeOwned;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Errors of this client: the core's [`proxmox_proto::ClientError`], the same type and accessors
/// as every other adapter's. A command that could not be run, or was killed, is a
/// [`Error::Transport`] (it says whether the command may have run); an unknown or changed host
/// key is [`Error::HostKey`].
pub use proxmox_proto::ClientError as Error;

/// Per-call settings: the core's [`proxmox_proto::flow::CallOptions`]. The command-line
/// adapter uses `timeout` (the command is killed when it is reached) and `body_limit` (the most
/// the command may print on standard output, and on standard error; 0 is refused before
/// anything runs); the connect and read timeouts and `max_attempts` do not apply (a command is
/// never repeated: it may have run).
pub use proxmox_proto::flow::CallOptions;
// What users touch, so that this crate alone is enough to depend on.
proxmox_proto::user_reexports!();

/// The request label of a command run outside a call (a staged upload, [`Client::run_command`]):
/// the program on the transport.
fn command_label(transport: &'static str) -> proxmox_proto::RequestLabel {
    proxmox_proto::RequestLabel {
        method: proxmox_proto::Method::Post,
        path: "(command)".into(),
        host: transport.into(),
    }
}

/// A command that never started on its host: the connection, the login or the exec request
/// failed (a transport error of kind `Connect`, which [`proxmox_proto::cluster::never_started`]
/// reads: a client of several hosts goes on at the next).
pub(crate) fn not_started(transport: &'static str, message: impl Into<String>) -> Error {
    let failure = TransportFailure::not_sent(format!("{transport}: {}", message.into()))
        .with_kind(proxmox_proto::flow::FailureKind::Connect);
    Error::Transport(Box::new(proxmox_proto::TransportError::new(
        command_label(transport),
        failure,
        1,
        Duration::ZERO,
    )))
}

/// A command that could not be run, or whose outcome is unknown, on `transport`.
pub(crate) fn transport_error(
    transport: &'static str,
    message: impl Into<String>,
    may_have_been_sent: bool,
) -> Error {
    let message = format!("{transport}: {}", message.into());
    let failure = if may_have_been_sent {
        TransportFailure::maybe_sent(message)
    } else {
        TransportFailure::not_sent(message)
    };
    Error::Transport(Box::new(proxmox_proto::TransportError::new(
        command_label(transport),
        failure,
        1,
        Duration::ZERO,
    )))
}

/// A command killed after `after`: it may have acted.
pub(crate) fn timed_out(transport: &'static str, after: Duration) -> Error {
    let failure = TransportFailure::maybe_sent(format!(
        "{transport}: the command did not finish within {:.1} s and was killed",
        after.as_secs_f64()
    ))
    .timed_out();
    Error::Transport(Box::new(proxmox_proto::TransportError::new(
        command_label(transport),
        failure,
        1,
        after,
    )))
}

/// The file of an upload as it is staged: read once, counting.
pub(crate) type Staged<'a> =
    &'a mut proxmox_proto::upload::ProgressReader<'a, std::io::Take<std::fs::File>>;

/// What a finished command left: stdout, stderr and its exit code (`None` if it died from a
/// signal).
#[derive(Clone, PartialEq, Eq)]
pub struct RawOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// The exit code; `None` if the process was killed by a signal.
    pub exit_code: Option<i32>,
}

impl fmt::Debug for RawOutput {
    /// Sizes and the exit code only: output may contain secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawOutput")
            .field("stdout_bytes", &self.stdout.len())
            .field("stderr_bytes", &self.stderr.len())
            .field("exit_code", &self.exit_code)
            .finish()
    }
}

/// A way to run commands on the node. Implementations only move bytes.
pub(crate) trait Transport: Send + Sync {
    /// `local`, `openssh` or `ssh2` (for errors).
    fn name(&self) -> &'static str;

    /// Run `cmd`; `input` (if any) is streamed to its standard input, which is then closed.
    /// Without input, the command's standard input stays open until it ends (the SSH
    /// watchdog's signal that the caller is still there). `limits.timeout`: kill it after that
    /// long; `limits.output`: stop it (and fail with `BodyTooLarge`) once it printed more
    /// than that on standard output or on standard error.
    fn run(
        &self,
        cmd: &CommandLine,
        input: Option<&mut dyn Read>,
        limits: Limits,
    ) -> Result<RawOutput, Error>;
}

/// The bounds of one command run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Kill the command after this long.
    pub(crate) timeout: Option<Duration>,
    /// The most it may print on standard output, and on standard error (at least 1).
    pub(crate) output: u64,
}

impl Limits {
    /// The typed error of a stream that went over [`Limits::output`]: at least one byte more
    /// than the limit arrived (the rest was never read).
    pub(crate) fn too_large(self) -> Error {
        proxmox_proto::ProtocolError::BodyTooLarge {
            size: self.output.saturating_add(1),
            limit: self.output,
        }
        .into()
    }
}

/// A body limit of zero is refused the way the HTTP adapters refuse it.
fn check_body_limit(bytes: u64) -> Result<u64, Error> {
    if bytes == 0 {
        return Err(proxmox_proto::InputError::Invalid {
            what: "body limit",
            reason: "a body limit of zero would refuse every answer".into(),
        }
        .into());
    }
    Ok(bytes)
}

/// Settings every transport shares.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) service: Service,
    pub(crate) sudo: bool,
    pub(crate) program: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) upload_timeout: Option<Duration>,
    pub(crate) body_limit: u64,
    /// The schema every call is checked against before it runs.
    #[cfg(feature = "schema")]
    pub(crate) schema: Option<proxmox_proto::schema::Schema>,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            service: Service::Pve,
            sudo: false,
            program: None,
            timeout: Duration::from_secs(60),
            upload_timeout: Some(Duration::from_secs(3600)),
            body_limit: proxmox_proto::response::DEFAULT_BODY_LIMIT,
            #[cfg(feature = "schema")]
            schema: None,
        }
    }
}

impl Common {
    fn command_builder(&self) -> Result<CommandBuilder, Error> {
        let mut b = CommandBuilder::new(self.service)?.sudo(self.sudo);
        if let Some(p) = &self.program {
            b = b.program(p.clone())?;
        }
        Ok(b)
    }
}

/// The setters every builder has.
macro_rules! common_setters {
    () => {
        /// Check every call against the server's API schema before the command runs (see
        /// `proxmox_proto::schema`; load it from a file with `Schema::from_apidoc`, e.g. the
        /// node's `/usr/share/pve-docs/api-viewer/apidoc.js`).
        #[cfg(feature = "schema")]
        pub fn schema(mut self, schema: proxmox_proto::schema::Schema) -> Self {
            self.common.schema = Some(schema);
            self
        }

        /// The product: PVE (default, `pvesh`) or PMG (`pmgsh`). PBS has no API shell and is
        /// refused by `build`.
        pub fn service(mut self, service: proxmox_proto::Service) -> Self {
            self.common.service = service;
            self
        }

        /// Prefix every command with `sudo -n` (for a login user other than root; fails at
        /// once instead of asking for a password).
        pub fn sudo(mut self, on: bool) -> Self {
            self.common.sudo = on;
            self
        }

        /// Run another program than `pvesh`/`pmgsh` (a full path, or a wrapper).
        pub fn program(mut self, program: impl Into<String>) -> Self {
            self.common.program = Some(program.into());
            self
        }

        /// The time limit of each call (default 60 s); a command that outlives it is killed.
        pub fn timeout(mut self, t: std::time::Duration) -> Self {
            self.common.timeout = t;
            self
        }

        /// The time limit for copying an upload to the node (default 1 h; `None`: no limit).
        pub fn upload_timeout(mut self, t: Option<std::time::Duration>) -> Self {
            self.common.upload_timeout = t;
            self
        }

        /// The most a command may print, in bytes: on standard output, and separately on
        /// standard error (default 256 MiB, the HTTP adapters' response body limit; per call
        /// with [`CallOptions::body_limit`](crate::CallOptions::body_limit)). A command that
        /// prints more is stopped like one that runs out of time, nothing beyond the limit is
        /// kept, and the call fails with
        /// [`ProtocolError::BodyTooLarge`](proxmox_proto::ProtocolError::BodyTooLarge). Zero
        /// is refused by `build`.
        pub fn body_limit(mut self, bytes: u64) -> Self {
            self.common.body_limit = bytes;
            self
        }
    };
}
pub(crate) use common_setters;

struct Inner {
    /// Calls become commands, flows (tasks, logs, data calls) are composed: the core's.
    core: ClientCore,
    commands: CommandBuilder,
    common: Common,
    transport: Box<dyn Transport>,
    mono: MonoClock,
    /// The node, for errors of commands run outside a call.
    host: String,
}

/// A client for one node. Cheap to clone; clones share the transport (and its SSH
/// connection). Calls from several threads are allowed; the ssh2 transport runs them one at a
/// time on its session.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("transport", &self.inner.transport.name())
            .field("service", &self.inner.common.service)
            .field("sudo", &self.inner.common.sudo)
            .finish_non_exhaustive()
    }
}

pub(crate) fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Client {
    /// A client that runs `pvesh`/`pmgsh` as a local subprocess (on the node itself).
    pub fn local() -> LocalBuilder {
        LocalBuilder::new()
    }

    /// A client that runs `pvesh`/`pmgsh` on `host` through the system `ssh` binary.
    pub fn openssh(host: &str) -> OpenSshBuilder {
        OpenSshBuilder::new(host)
    }

    /// A client that runs `pvesh`/`pmgsh` on `host` over one libssh2 session.
    #[cfg(feature = "ssh2")]
    pub fn ssh2(host: &str) -> Ssh2Builder {
        Ssh2Builder::new(host)
    }

    pub(crate) fn from_parts(
        common: Common,
        host: &str,
        transport: Box<dyn Transport>,
    ) -> Result<Self, Error> {
        check_body_limit(common.body_limit)?;
        let commands = common.command_builder()?;
        let core = ClientCore::shell(
            common.service,
            commands.clone(),
            host,
            common.timeout,
            common.body_limit,
        );
        #[cfg(feature = "schema")]
        if let Some(schema) = common.schema.clone() {
            core.set_schema(schema);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                core,
                commands,
                common,
                transport,
                mono: MonoClock::starting_at(Instant::now()),
                host: host.to_owned(),
            }),
        })
    }

    /// The product this client talks to.
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// println!("{}", client.service());
    /// # Ok(()) }
    /// ```
    pub fn service(&self) -> Service {
        self.inner.common.service
    }

    /// The transport's name: `local`, `openssh` or `ssh2`.
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// println!("over {}", client.transport_name());
    /// # Ok(()) }
    /// ```
    pub fn transport_name(&self) -> &'static str {
        self.inner.transport.name()
    }

    /// The argv builder (to inspect the command a call becomes).
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let argv = client.command_builder().build(&Call::get("version")?)?;
    /// # Ok(()) }
    /// ```
    pub fn command_builder(&self) -> &CommandBuilder {
        &self.inner.commands
    }

    /// The core's flows of this client (for driving one yourself).
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let target = client.core().target();
    /// # Ok(()) }
    /// ```
    pub fn core(&self) -> &ClientCore {
        &self.inner.core
    }

    fn now(&self) -> Now {
        Now::new(self.inner.mono.at(Instant::now()), now())
    }

    /// Perform one exchange of a flow: run its command. A failure of the transport is the
    /// exchange's reply; a host-key or local error ends the flow.
    fn perform(&self, exchange: Exchange, input: &mut Option<Staged<'_>>) -> Result<Reply, Error> {
        let timeout = match exchange.deadline {
            Some(d) => Some(self.now().mono.until(d)),
            None if exchange.read_timeout == Duration::MAX => None,
            None => Some(exchange.read_timeout),
        };
        let limits = Limits {
            timeout,
            output: exchange.body_limit,
        };
        let ran = match exchange.payload {
            Payload::Command(cmd) => self.inner.transport.run(&cmd, None, limits),
            // Staging an upload: the file on standard input, once.
            Payload::CommandInput { command, input_len } => {
                let Some(reader) = input.take() else {
                    return Ok(Reply::Failed(
                        TransportFailure::not_sent("an upload's file can be staged once")
                            .permanent(),
                    ));
                };
                let ran = self
                    .inner
                    .transport
                    .run(&command, Some(&mut *reader), limits);
                if ran.is_ok() && reader.sent() != input_len {
                    return Ok(Reply::Failed(
                        TransportFailure::maybe_sent(format!(
                            "the file changed size while it was copied ({} of {input_len} bytes)",
                            reader.sent()
                        ))
                        .permanent(),
                    ));
                }
                ran
            }
            Payload::Http(_) | Payload::HttpStreaming { .. } => {
                return Ok(Reply::Failed(
                    TransportFailure::not_sent("the command-line adapter runs commands only")
                        .permanent(),
                ));
            }
        };
        match ran {
            Ok(raw) => Ok(Reply::Shell(ShellReply {
                stdout: raw.stdout,
                stderr: raw.stderr,
                exit: raw.exit_code,
            })),
            Err(Error::Transport(t)) => Ok(Reply::Failed(t.failure)),
            Err(Error::Proto(proxmox_proto::Error::Protocol(p))) => {
                Ok(Reply::Failed(TransportFailure::refused(p)))
            }
            Err(other) => Err(other),
        }
    }

    /// The driver loop: drives a flow of the core to its end, one command at a time; events
    /// go to `on_event`. Every call runs through here.
    fn run_with<F: Flow>(
        &self,
        flow: F,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<F::Output, Error> {
        self.run_io(flow, on_event, &mut None)
    }

    /// The driver loop itself; `input` is the file a [`Payload::CommandInput`] exchange (an
    /// upload's staging) sends.
    pub(crate) fn run_io<F: Flow>(
        &self,
        mut flow: F,
        on_event: &mut dyn FnMut(Event),
        input: &mut Option<Staged<'_>>,
    ) -> Result<F::Output, Error> {
        loop {
            match next_io(&mut flow, self.now(), on_event) {
                IoStep::Send(exchange) => {
                    let id = exchange.id;
                    let traced = proxmox_proto::trace::exchange(&exchange);
                    let started = std::time::Instant::now();
                    let reply = self.perform(exchange, input)?;
                    traced.answered(&reply, started.elapsed());
                    flow.handle(id, reply);
                }
                IoStep::SleepUntil(t) => {
                    let wait = self.now().mono.until(t).max(Duration::from_millis(1));
                    std::thread::sleep(wait);
                }
                // No logins on the shell wire; a flow that asks is answered with an error.
                IoStep::SecondFactor(_) => flow.answer_second_factor(Err(
                    proxmox_proto::auth::AuthError::SecondFactorRequired,
                )),
                IoStep::WaitForLogin { .. } | IoStep::WaitForSlot { .. } | IoStep::AwaitReplies => {
                    return Err(proxmox_proto::ProtocolError::Malformed {
                        what: "flow",
                        detail: "a shell flow waited for something that never comes".into(),
                    }
                    .into());
                }
                IoStep::Done(result) => return result.map_err(Error::from),
            }
        }
    }

    /// [`Client::run_with`] without events.
    fn run<F: Flow>(&self, flow: F) -> Result<F::Output, Error> {
        self.run_with(flow, &mut |_| {})
    }

    fn limits(&self, opts: &CallOptions) -> Result<Limits, Error> {
        Ok(Limits {
            timeout: Some(opts.timeout.unwrap_or(self.inner.common.timeout)),
            output: check_body_limit(opts.body_limit.unwrap_or(self.inner.common.body_limit))?,
        })
    }

    /// Run any command on the node (program first, no shell locally; quoted for the remote
    /// shell over SSH) with the client's time and output limit rules.
    /// A failure names the program and the node.
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let cmd = proto::command::CommandLine::from_argv(["pveversion", "-v"])?;
    /// let out = client.run_command(&cmd, &CallOptions::default())?;
    /// println!("{}", String::from_utf8_lossy(&out.stdout));
    /// # Ok(()) }
    /// ```
    pub fn run_command(&self, cmd: &CommandLine, opts: &CallOptions) -> Result<RawOutput, Error> {
        let limits = self.limits(opts)?;
        self.inner
            .transport
            .run(cmd, None, limits)
            .map_err(|e| match e {
                Error::Transport(mut t) => {
                    t.request.path = format!("(command {})", cmd.program());
                    t.request.host.clone_from(&self.inner.host);
                    Error::Transport(t)
                }
                other => other,
            })
    }

    /// Perform a call and return what the command printed and its exit code, unparsed.
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let raw = client.call_raw(&Call::get("version")?, &CallOptions::default())?;
    /// println!("exit {:?}, {} bytes", raw.exit_code, raw.stdout.len());
    /// # Ok(()) }
    /// ```
    pub fn call_raw(&self, call: &Call, opts: &CallOptions) -> Result<RawOutput, Error> {
        self.limits(opts)?;
        let out = self.run(self.inner.core.shell_call(call.clone(), opts))?;
        Ok(RawOutput {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: out.exit,
        })
    }

    /// Perform a call and return the parsed output: the JSON data, text printed before it,
    /// and warnings from stderr.
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let out = client.call_output(&Call::get("version")?, &CallOptions::default())?;
    /// # Ok(()) }
    /// ```
    pub fn call_output(&self, call: &Call, opts: &CallOptions) -> Result<Output, Error> {
        let raw = self.call_raw(call, opts)?;
        Ok(parse_output(&raw.stdout, &raw.stderr, raw.exit_code)
            .map_err(|e| e.with_request(self.core().label(call)))?)
    }

    /// Perform a call with options and return its data as `T`.
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let opts = CallOptions::default().timeout(std::time::Duration::from_secs(5));
    /// let version: serde_json::Value = client.call_with(&Call::get("version")?, &opts)?;
    /// # Ok(()) }
    /// ```
    pub fn call_with<T: DeserializeOwned>(
        &self,
        call: &Call,
        opts: &CallOptions,
    ) -> Result<T, Error> {
        self.call_owned_with(call.clone(), opts)
    }

    /// Perform a call and return its data as `T`.
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let status: serde_json::Value = client.call(&Call::get(("nodes", "pve1", "status"))?)?;
    /// # Ok(()) }
    /// ```
    pub fn call<T: DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
        self.call_with(call, &CallOptions::default())
    }

    fn call_owned_with<T: DeserializeOwned>(
        &self,
        call: Call,
        opts: &CallOptions,
    ) -> Result<T, Error> {
        self.limits(opts)?;
        let (method, path) = (call.method, call.path.clone());
        let out = self.run(self.inner.core.shell_call(call, opts))?;
        Ok(parse_data(&out.stdout, &out.stderr, out.exit)
            .map_err(|e| e.with_request(self.inner.core.label_of(method, &path)))?)
    }

    /// [`Client::call`] with an owned call, for the verbs of `blocking_client_methods!`.
    fn call_owned<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        self.call_owned_with(call, &CallOptions::default())
    }

    proxmox_proto::blocking_client_methods!("proxmox_cli");
    proxmox_proto::blocking_flow_methods!("proxmox_cli");

    fn runtime(&self) -> proxmox_proto::capability::Runtime {
        proxmox_proto::capability::Runtime::Shell
    }

    /// There is no API login on the shell wire: `pvesh` runs as the node's (SSH or local)
    /// user. Always [`Error::Unsupported`] (the capability table's password-login row), so
    /// code written for every adapter can call it and learn why.
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// // pvesh runs as the SSH (or local) user: there is no API login to do.
    /// assert!(matches!(client.login(), Err(Error::Unsupported(_))));
    /// # Ok(()) }
    /// ```
    pub fn login(&self) -> Result<(), Error> {
        proxmox_proto::capability::require(
            self.runtime(),
            proxmox_proto::capability::Capability::PasswordLogin,
        )?;
        Ok(())
    }

    /// No API session on the shell wire: always `None`.
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// assert!(client.session().is_none()); // no tickets on the shell wire
    /// # Ok(()) }
    /// ```
    pub fn session(&self) -> Option<proxmox_proto::auth::Session> {
        None
    }

    /// The limits for staging an upload: the upload time limit, the client's output bound.
    pub(crate) fn upload_limits(&self) -> Limits {
        Limits {
            timeout: self.inner.common.upload_timeout,
            output: self.inner.common.body_limit,
        }
    }
}

/// 16 random bytes from the operating system (for staging names and private directories).
pub(crate) fn random_bytes() -> Result<[u8; 16], Error> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b)
        .map_err(|e| Error::Io(std::io::Error::other(format!("no randomness: {e}"))))?;
    Ok(b)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A private (0700) directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    path: std::path::PathBuf,
}

impl PrivateDir {
    pub(crate) fn new(prefix: &str) -> Result<Self, Error> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", hex(&random_bytes()?[..8])));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&path)?;
        Ok(Self { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
