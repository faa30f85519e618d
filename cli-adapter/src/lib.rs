//! # proxmox-cli: Proxmox VE and PMG over `pvesh`/`pmgsh`, locally or over SSH
//!
//! The same calls as the HTTP adapters (`get`, `post`, `put`, `delete`, `wait_task`, task logs,
//! uploads, QEMU agent exec), carried by the node's own API shell instead of HTTPS. Everything
//! protocol-shaped comes from [`proxmox_proto::command`] (argv, quoting, output parsing, upload
//! staging) and [`proxmox_proto::task`] (waiting, logs); this crate runs processes and moves
//! bytes over one of three transports:
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

mod files;
mod local;
mod openssh;
mod process;
mod remote;
#[cfg(feature = "ssh2")]
mod ssh2;
mod tasks;

pub use files::{Progress, UploadChecksum};
pub use local::LocalBuilder;
pub use openssh::{HostKeyPolicy, OpenSshBuilder};
#[cfg(feature = "ssh2")]
pub use ssh2::{Ssh2Auth, Ssh2Builder, Ssh2HostKey};

pub use proxmox_proto as proto;

use proxmox_proto::command::{CommandBuilder, CommandLine, Output, parse_data, parse_output};
use proxmox_proto::{Call, Service};
use serde::de::DeserializeOwned;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Errors of this client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command failed with an API error (exit code and stderr status line), its output
    /// did not parse, or the input was invalid: the core's typed error.
    #[error(transparent)]
    Proto(#[from] proxmox_proto::Error),
    /// The command could not be run, or its outcome is unknown.
    #[error("{transport} transport error ({}): {message}", if *.may_have_been_sent { "the command may have run" } else { "the command did not run" })]
    Transport {
        /// `local`, `openssh` or `ssh2`.
        transport: &'static str,
        /// What happened.
        message: String,
        /// Whether the command may have started (and acted) on the node.
        may_have_been_sent: bool,
        /// Whether the command ran out of time and was killed.
        timeout: bool,
    },
    /// The server's host key is unknown or does not match: nothing was sent.
    #[error("host key check failed for {host}: {message}")]
    HostKey {
        /// The host (and port).
        host: String,
        /// Why: unknown host, changed key, ...
        message: String,
    },
    /// The client configuration is invalid.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("local I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<proxmox_proto::InputError> for Error {
    fn from(e: proxmox_proto::InputError) -> Self {
        Self::Proto(e.into())
    }
}

impl Error {
    /// The API error, if the command failed with one.
    pub fn api(&self) -> Option<&proxmox_proto::ApiError> {
        match self {
            Self::Proto(e) => e.api(),
            _ => None,
        }
    }

    /// Whether the command ran out of time (and was killed).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport { timeout: true, .. })
    }

    /// Whether the command may have run on the node (so a non-idempotent call must not be
    /// repeated blindly). API errors and output that could not be used (too large, not
    /// parseable) count as run; invalid input does not.
    pub fn may_have_been_sent(&self) -> bool {
        match self {
            Self::Transport {
                may_have_been_sent, ..
            } => *may_have_been_sent,
            Self::Proto(e) => matches!(
                e,
                proxmox_proto::Error::Api(_) | proxmox_proto::Error::Protocol(_)
            ),
            Self::HostKey { .. } | Self::Config(_) | Self::Io(_) => false,
        }
    }

    pub(crate) fn transport(
        transport: &'static str,
        message: impl Into<String>,
        may_have_been_sent: bool,
    ) -> Self {
        Self::Transport {
            transport,
            message: message.into(),
            may_have_been_sent,
            timeout: false,
        }
    }

    pub(crate) fn timed_out(transport: &'static str, after: Duration) -> Self {
        Self::Transport {
            transport,
            message: format!(
                "the command did not finish within {:.1} s and was killed",
                after.as_secs_f64()
            ),
            may_have_been_sent: true,
            timeout: true,
        }
    }
}

/// Per-call settings.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// Time limit for this call (overrides the client's). The command is killed when it is
    /// reached.
    pub timeout: Option<Duration>,
    /// The most this call's command may print on standard output, and on standard error
    /// (overrides the client's `body_limit`; 0 is refused before anything runs).
    pub body_limit: Option<u64>,
}

impl CallOptions {
    /// A time limit for this call.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// An output bound for this call, in bytes (see [`CallOptions::body_limit`]).
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = Some(bytes);
        self
    }
}

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

    /// Put the local file at `staging` on the node. The default streams it into
    /// [`proxmox_proto::command::StagingPath::stage_command`].
    fn stage(
        &self,
        file: &mut dyn Read,
        staging: &proxmox_proto::command::StagingPath,
        limits: Limits,
    ) -> Result<(), Error> {
        let out = self.run(&staging.stage_command(), Some(file), limits)?;
        if out.exit_code == Some(0) {
            Ok(())
        } else {
            Err(Error::transport(
                self.name(),
                format!(
                    "staging the upload at {staging} failed (exit code {:?}): {}",
                    out.exit_code,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                true,
            ))
        }
    }
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
        Error::Proto(
            proxmox_proto::ProtocolError::BodyTooLarge {
                size: self.output.saturating_add(1),
                limit: self.output,
            }
            .into(),
        )
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
    commands: CommandBuilder,
    common: Common,
    transport: Box<dyn Transport>,
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

    pub(crate) fn from_parts(common: Common, transport: Box<dyn Transport>) -> Result<Self, Error> {
        check_body_limit(common.body_limit)?;
        let commands = common.command_builder()?;
        Ok(Self {
            inner: Arc::new(Inner {
                commands,
                common,
                transport,
            }),
        })
    }

    /// The product this client talks to.
    pub fn service(&self) -> Service {
        self.inner.common.service
    }

    /// The transport's name: `local`, `openssh` or `ssh2`.
    pub fn transport_name(&self) -> &'static str {
        self.inner.transport.name()
    }

    /// The argv builder (to inspect the command a call becomes).
    pub fn command_builder(&self) -> &CommandBuilder {
        &self.inner.commands
    }

    fn limits(&self, opts: &CallOptions) -> Result<Limits, Error> {
        Ok(Limits {
            timeout: Some(opts.timeout.unwrap_or(self.inner.common.timeout)),
            output: check_body_limit(opts.body_limit.unwrap_or(self.inner.common.body_limit))?,
        })
    }

    /// Run any command on the node (program first, no shell locally; quoted for the remote
    /// shell over SSH) with the client's time and output limit rules.
    pub fn run_command(&self, cmd: &CommandLine, opts: &CallOptions) -> Result<RawOutput, Error> {
        let limits = self.limits(opts)?;
        self.inner.transport.run(cmd, None, limits)
    }

    /// Perform a call and return what the command printed and its exit code, unparsed.
    pub fn call_raw(&self, call: &Call, opts: &CallOptions) -> Result<RawOutput, Error> {
        let cmd = self.inner.commands.build(call)?;
        self.run_command(&cmd, opts)
    }

    /// Perform a call and return the parsed output: the JSON data, text printed before it,
    /// and warnings from stderr.
    pub fn call_output(&self, call: &Call, opts: &CallOptions) -> Result<Output, Error> {
        let raw = self.call_raw(call, opts)?;
        Ok(parse_output(&raw.stdout, &raw.stderr, raw.exit_code)?)
    }

    /// Perform a call with options and return its data as `T`.
    pub fn call_with<T: DeserializeOwned>(
        &self,
        call: &Call,
        opts: &CallOptions,
    ) -> Result<T, Error> {
        let raw = self.call_raw(call, opts)?;
        Ok(parse_data(&raw.stdout, &raw.stderr, raw.exit_code)?)
    }

    /// Perform a call and return its data as `T`.
    pub fn call<T: DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
        self.call_with(call, &CallOptions::default())
    }

    /// [`Client::call`] with an owned call, for the verbs of `blocking_client_methods!`.
    fn call_owned<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        self.call(&call)
    }

    proxmox_proto::blocking_client_methods!();

    pub(crate) fn transport(&self) -> &dyn Transport {
        self.inner.transport.as_ref()
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
