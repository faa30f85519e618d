//! The scenario catalogue: one list of steps with expected outcomes that every adapter runs
//! against every peer.
//!
//! # Contract
//!
//! - An adapter's test implements [`Driver`] (log in, make a [`Call`], upload, wait for a task)
//!   on top of its own client, and gets a peer: the simulator or [`crate::FakePve`], either of
//!   which implements [`PeerControl`] (the accounts in a [`PeerProfile`], fault injection).
//! - [`run_catalogue`] runs every [`Scenario`] of [`catalogue()`] in order, skips those needing
//!   a [`Feature`] the peer lacks (fakepve has no TFA second step, answers unknown paths
//!   with 404 instead of 501, cannot cancel a task and serves no checksum mirror), and panics with the [`Report`] if any step did not give its
//!   expected outcome. A driver that cannot do something (an SSH adapter and uploads) returns
//!   [`DriverError::Unsupported`]: the scenario is reported as skipped, never as passed.
//! - Scenarios share variables in one run (`{vmid}` from `/cluster/nextid` is used by the later
//!   VM scenarios), so run them in catalogue order on a fresh peer. Paths, parameter values and
//!   expected texts are templates: `{name}` is replaced by a variable. Variables set at the
//!   start: `node`, `running_vmid` (100, running, guest agent configured and answering),
//!   `forbidden_vmid` (101, stopped, agent configured, which the limited user may not read),
//!   `missing_vmid` (999), `iso_storage` (`local`), `disk_storage` (`local-lvm`), `iso_name`,
//!   `dl_name`, `dl_sha256`, and `mirror` when the peer has a [`Feature::ChecksumMirror`].
//! - Every scenario logs in first; the driver keeps the last login for its calls.
//!
//! ```no_run
//! # use proxmox_testbed::{Driver, DriverError, FakePve, require_peer, run_catalogue};
//! # use proxmox_proto::Call;
//! # struct MyDriver;
//! # impl Driver for MyDriver {
//! #   fn login_token(&mut self, _: &str, _: &str) -> Result<(), DriverError> { todo!() }
//! #   fn login_password(&mut self, _: &str, _: &str) -> Result<(), DriverError> { todo!() }
//! #   fn call(&mut self, _: &Call) -> Result<serde_json::Value, DriverError> { todo!() }
//! # }
//! let Some(mut pve) = require_peer("fakepve", FakePve::start()) else { return };
//! let report = run_catalogue(&mut MyDriver, &mut pve);
//! println!("{report}");
//! ```

use crate::shape::JsonType;
use proxmox_proto::{ApiPath, Call, Method, Params};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write as _;
use std::time::{Duration, Instant};

/// Which peer a catalogue runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// The project's own simulator (`tests/simulator`).
    Simulator,
    /// fakepve 0.5.0.
    FakePve,
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Simulator => "simulator",
            Self::FakePve => "fakepve",
        })
    }
}

/// Something a scenario needs that not every peer offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// The TFA second step (fakepve: not implemented).
    Tfa,
    /// A user with `VM.Audit` on `/vms/{running_vmid}` only.
    LimitedUser,
    /// [`PeerControl::inject`] works.
    FaultInjection,
    /// Unknown paths answer `501` (fakepve: 404 text/plain).
    UnknownPath501,
    /// Multipart upload to a storage.
    Upload,
    /// `download-url` to a storage.
    DownloadUrl,
    /// `DELETE /nodes/{node}/tasks/{upid}` stops a running task, and
    /// [`PeerControl::plan_long_task`] works (fakepve: no task cancel).
    TaskCancel,
    /// [`PeerProfile::mirror`] serves a `SHA256SUMS` listing `mirror.iso` with `{dl_sha256}`.
    ChecksumMirror,
    /// `GET /cluster/status` and `/cluster/resources` as PVE answers them (discovery, finding
    /// a guest's node).
    ClusterStatus,
}

/// A TFA account: the password and a TOTP code the peer accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct TfaAccount {
    /// `user@realm`.
    pub user: String,
    /// Its password (first step).
    pub password: String,
    /// A TOTP code the peer accepts (second step).
    pub code: String,
}

/// The accounts and capabilities of a peer.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerProfile {
    /// Which peer.
    pub kind: PeerKind,
    /// The node name (`pve1`).
    pub node: String,
    /// A user with all privileges (`root@pam`).
    pub user: String,
    /// Its password.
    pub password: String,
    /// An API token id (`root@pam!ci`).
    pub token_id: String,
    /// The token's secret.
    pub token_secret: String,
    /// A user (and password) with `VM.Audit` on `/vms/100` only.
    pub limited_user: Option<(String, String)>,
    /// A TFA account, if the peer implements the second step.
    pub tfa: Option<TfaAccount>,
    /// What the peer offers.
    pub features: Vec<Feature>,
    /// A URL directory (`https://host:port/dir`, no trailing slash) that serves a
    /// `SHA256SUMS` file listing `mirror.iso` with the catalogue's `{dl_sha256}`
    /// ([`MIRROR_SHA256SUMS`]); the template variable `{mirror}`.
    pub mirror: Option<String>,
}

/// The SHA-256 the catalogue's downloads carry (`{dl_sha256}`), and the mirror lists.
pub const DL_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// What a [`Feature::ChecksumMirror`] serves as `SHA256SUMS`: `mirror.iso` with the
/// catalogue's `{dl_sha256}`, and another file.
pub const MIRROR_SHA256SUMS: &str = "\
1111111111111111111111111111111111111111111111111111111111111111  other.iso
9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 *mirror.iso
";

impl fmt::Debug for PeerProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerProfile")
            .field("kind", &self.kind)
            .field("node", &self.node)
            .field("user", &self.user)
            .field("token_id", &self.token_id)
            .field("limited_user", &self.limited_user.as_ref().map(|(u, _)| u))
            .field("tfa_user", &self.tfa.as_ref().map(|t| &t.user))
            .field("features", &self.features)
            .field("mirror", &self.mirror)
            .finish_non_exhaustive()
    }
}

/// An error answer to inject into the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The method it applies to.
    pub method: Method,
    /// The decoded path below `/api2/json` (`/nodes/pve1/qemu/100/status/current`).
    pub path: String,
    /// The status to answer.
    pub status: u16,
    /// The message (reason phrase).
    pub message: String,
    /// How many requests get it.
    pub times: u32,
}

/// The peer side of a catalogue run.
pub trait PeerControl {
    /// Accounts and features.
    fn profile(&self) -> PeerProfile;
    /// Answer the next [`Fault::times`] matching requests with the fault.
    fn inject(&mut self, fault: &Fault) -> Result<(), String>;
    /// Make the next task run until it is stopped (for [`Feature::TaskCancel`]).
    fn plan_long_task(&mut self) -> Result<(), String> {
        Err("this peer cannot plan a long task".into())
    }
}

/// An API error as the catalogue compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErrorShape {
    /// The HTTP status (or the status a command-line transport reported).
    pub status: u16,
    /// The error message: the body's `message` if any, else the reason phrase.
    pub message: String,
    /// Per-parameter errors (`errors` of a 400).
    pub param_errors: BTreeMap<String, String>,
}

impl From<&proxmox_proto::ApiError> for ApiErrorShape {
    fn from(e: &proxmox_proto::ApiError) -> Self {
        Self {
            status: e.status,
            message: e.summary().to_owned(),
            param_errors: e.param_errors.clone(),
        }
    }
}

/// What a [`Driver`] reports instead of data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverError {
    /// The server answered with an error.
    Api(ApiErrorShape),
    /// No answer: connection, TLS, timeout, malformed response.
    Transport(String),
    /// This driver cannot do that (the scenario is reported as skipped).
    Unsupported(String),
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(e) => {
                write!(f, "API error {} {}", e.status, e.message.trim_end())?;
                for (k, v) in &e.param_errors {
                    write!(f, "; {k}: {}", v.trim_end())?;
                }
                Ok(())
            }
            Self::Transport(t) => write!(f, "transport error: {t}"),
            Self::Unsupported(t) => write!(f, "unsupported by the driver: {t}"),
        }
    }
}

impl From<proxmox_proto::ApiError> for DriverError {
    fn from(e: proxmox_proto::ApiError) -> Self {
        Self::Api(ApiErrorShape::from(&e))
    }
}

/// A method of the adapters' common surface (see `proxmox_proto::capability::SURFACE`). In the
/// catalogue its strings are templates; the driver gets them filled in. Each adapter's driver
/// calls its client's method of that name, through [`surface_calls!`](crate::surface_calls),
/// and answers with the value described here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SurfaceOp {
    /// `get(path)`: `data`.
    Get {
        /// The path.
        path: String,
    },
    /// `get_with(path, params)`: `data`.
    GetWith {
        /// The path.
        path: String,
        /// Query parameters.
        params: BTreeMap<String, String>,
    },
    /// `post(path, params)`: `data`.
    Post {
        /// The path.
        path: String,
        /// Form parameters.
        params: BTreeMap<String, String>,
    },
    /// `create(path, params)` (pvesh's name for a POST): `data`.
    Create {
        /// The path.
        path: String,
        /// Form parameters.
        params: BTreeMap<String, String>,
    },
    /// `put(path, params)`: `data`.
    Put {
        /// The path.
        path: String,
        /// Form parameters.
        params: BTreeMap<String, String>,
    },
    /// `set(path, params)` (pvesh's name for a PUT): `data`.
    Set {
        /// The path.
        path: String,
        /// Form parameters.
        params: BTreeMap<String, String>,
    },
    /// `delete(path, &[])`: `data`.
    Delete {
        /// The path.
        path: String,
    },
    /// `request(method, path, params)`: `data`.
    Request {
        /// The method.
        method: Method,
        /// The path.
        path: String,
        /// Parameters, in order.
        params: Vec<(String, String)>,
    },
    /// `call_with(GET path, CallOptions` with this timeout`)`: `data`.
    CallWith {
        /// The path.
        path: String,
        /// The call's timeout.
        timeout: Duration,
    },
    /// `call_raw(GET path, CallOptions::default())`, the raw answer read by the driver: `data`.
    CallRaw {
        /// The path.
        path: String,
    },
    /// `session()` and `core()`: `{"session": bool, "host": the core's target host}`.
    Accessors,
    /// `wait_task_ok(upid, options)`: the number of warnings (an error for a failed task).
    WaitTaskOk {
        /// The UPID.
        upid: String,
    },
    /// `watch_resources(interval)`: the baseline taken, `then` POSTed, the first change of
    /// resource `id` as its JSON (`{"change": ..., "id": ..., "from": ..., "to": ...}`).
    WatchResources {
        /// A POST that changes something (a guest's start).
        then: String,
        /// The resource id whose change is awaited (`qemu/101`).
        id: String,
    },
    /// `wait_tasks(upids)`: the outcomes as [`outcome_text`], in input order.
    WaitTasks {
        /// The UPIDs.
        upids: Vec<String>,
    },
    /// `task_log(upid)`: the lines' texts.
    TaskLog {
        /// The UPID.
        upid: String,
    },
    /// `task_log_window(upid, start, limit)`: the lines' texts.
    TaskLogWindow {
        /// The UPID.
        upid: String,
        /// The first line (0-based).
        start: u64,
        /// How many lines.
        limit: u64,
    },
    /// `follow_task_log(upid)`: `{"outcome": outcome_text, "lines": [texts]}`.
    FollowTaskLog {
        /// The UPID.
        upid: String,
    },
    /// `cancel_task(upid)`: null.
    CancelTask {
        /// The UPID.
        upid: String,
    },
    /// `upload(node, storage, iso, path, UploadChecksum::None, progress)` of `size` generated
    /// bytes written to a file named `file_name`: the UPID.
    Upload {
        /// The storage.
        storage: String,
        /// The file name.
        file_name: String,
        /// Its size in bytes.
        size: usize,
    },
    /// `discover_checksum(url, None)`: the hex digest found, or null.
    DiscoverChecksum {
        /// The URL of the file whose checksum is looked for.
        url: String,
    },
    /// `download_url(node, storage, iso, url, file_name, checksum)`: the UPID. The checksum is
    /// `DownloadChecksum::Given(sha256)`, or `DownloadChecksum::Discover` when `sha256` is
    /// `None`.
    DownloadUrl {
        /// The storage.
        storage: String,
        /// The URL.
        url: String,
        /// The file name.
        file_name: String,
        /// The SHA-256 the node checks; `None`: discover it next to the URL.
        sha256: Option<String>,
    },
    /// `agent_exec(node, vmid, command)`: the agent's answer (`{"pid": n}`).
    AgentExec {
        /// The guest.
        vmid: String,
        /// The command line (split like a POSIX shell would).
        command: String,
    },
    /// `agent_exec_argv(node, vmid, argv)`: the agent's answer (`{"pid": n}`).
    AgentExecArgv {
        /// The guest.
        vmid: String,
        /// The words, sent as given.
        argv: Vec<String>,
    },
    /// `discover()`: `{"nodes": [names]}`.
    Discover,
    /// `guest_call(vmid, GET path)` (the path below the guest): `data`.
    GuestCall {
        /// The guest.
        vmid: String,
        /// The path below `/nodes/{n}/{qemu|lxc}/{vmid}/`.
        path: String,
    },
}

impl SurfaceOp {
    /// The surface method's name.
    pub fn method(&self) -> &'static str {
        match self {
            SurfaceOp::Get { .. } => "get",
            SurfaceOp::GetWith { .. } => "get_with",
            SurfaceOp::Post { .. } => "post",
            SurfaceOp::Create { .. } => "create",
            SurfaceOp::Put { .. } => "put",
            SurfaceOp::Set { .. } => "set",
            SurfaceOp::Delete { .. } => "delete",
            SurfaceOp::Request { .. } => "request",
            SurfaceOp::CallWith { .. } => "call_with",
            SurfaceOp::CallRaw { .. } => "call_raw",
            SurfaceOp::Accessors => "session",
            SurfaceOp::WaitTaskOk { .. } => "wait_task_ok",
            SurfaceOp::WaitTasks { .. } => "wait_tasks",
            SurfaceOp::TaskLog { .. } => "task_log",
            SurfaceOp::TaskLogWindow { .. } => "task_log_window",
            SurfaceOp::FollowTaskLog { .. } => "follow_task_log",
            SurfaceOp::CancelTask { .. } => "cancel_task",
            SurfaceOp::Upload { .. } => "upload",
            SurfaceOp::DiscoverChecksum { .. } => "discover_checksum",
            SurfaceOp::DownloadUrl { .. } => "download_url",
            SurfaceOp::AgentExec { .. } => "agent_exec",
            SurfaceOp::AgentExecArgv { .. } => "agent_exec_argv",
            SurfaceOp::Discover => "discover",
            SurfaceOp::WatchResources { .. } => "watch_resources",
            SurfaceOp::GuestCall { .. } => "guest_call",
        }
    }

    /// This op with every template filled by `fill`.
    fn filled(&self, fill: &dyn Fn(&str) -> Result<String, String>) -> Result<Self, String> {
        let map = |ps: &BTreeMap<String, String>| -> Result<BTreeMap<String, String>, String> {
            ps.iter().map(|(k, v)| Ok((k.clone(), fill(v)?))).collect()
        };
        let list =
            |vs: &[String]| -> Result<Vec<String>, String> { vs.iter().map(|v| fill(v)).collect() };
        Ok(match self {
            SurfaceOp::Get { path } => SurfaceOp::Get { path: fill(path)? },
            SurfaceOp::GetWith { path, params } => SurfaceOp::GetWith {
                path: fill(path)?,
                params: map(params)?,
            },
            SurfaceOp::Post { path, params } => SurfaceOp::Post {
                path: fill(path)?,
                params: map(params)?,
            },
            SurfaceOp::Create { path, params } => SurfaceOp::Create {
                path: fill(path)?,
                params: map(params)?,
            },
            SurfaceOp::Put { path, params } => SurfaceOp::Put {
                path: fill(path)?,
                params: map(params)?,
            },
            SurfaceOp::Set { path, params } => SurfaceOp::Set {
                path: fill(path)?,
                params: map(params)?,
            },
            SurfaceOp::Delete { path } => SurfaceOp::Delete { path: fill(path)? },
            SurfaceOp::Request {
                method,
                path,
                params,
            } => SurfaceOp::Request {
                method: *method,
                path: fill(path)?,
                params: params
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), fill(v)?)))
                    .collect::<Result<_, String>>()?,
            },
            SurfaceOp::CallWith { path, timeout } => SurfaceOp::CallWith {
                path: fill(path)?,
                timeout: *timeout,
            },
            SurfaceOp::CallRaw { path } => SurfaceOp::CallRaw { path: fill(path)? },
            SurfaceOp::Accessors => SurfaceOp::Accessors,
            SurfaceOp::WaitTasks { upids } => SurfaceOp::WaitTasks {
                upids: list(upids)?,
            },
            SurfaceOp::WaitTaskOk { upid } => SurfaceOp::WaitTaskOk { upid: fill(upid)? },
            SurfaceOp::TaskLog { upid } => SurfaceOp::TaskLog { upid: fill(upid)? },
            SurfaceOp::TaskLogWindow { upid, start, limit } => SurfaceOp::TaskLogWindow {
                upid: fill(upid)?,
                start: *start,
                limit: *limit,
            },
            SurfaceOp::FollowTaskLog { upid } => SurfaceOp::FollowTaskLog { upid: fill(upid)? },
            SurfaceOp::CancelTask { upid } => SurfaceOp::CancelTask { upid: fill(upid)? },
            SurfaceOp::Upload {
                storage,
                file_name,
                size,
            } => SurfaceOp::Upload {
                storage: fill(storage)?,
                file_name: fill(file_name)?,
                size: *size,
            },
            SurfaceOp::DiscoverChecksum { url } => SurfaceOp::DiscoverChecksum { url: fill(url)? },
            SurfaceOp::DownloadUrl {
                storage,
                url,
                file_name,
                sha256,
            } => SurfaceOp::DownloadUrl {
                storage: fill(storage)?,
                url: fill(url)?,
                file_name: fill(file_name)?,
                sha256: sha256.as_deref().map(fill).transpose()?,
            },
            SurfaceOp::AgentExec { vmid, command } => SurfaceOp::AgentExec {
                vmid: fill(vmid)?,
                command: fill(command)?,
            },
            SurfaceOp::AgentExecArgv { vmid, argv } => SurfaceOp::AgentExecArgv {
                vmid: fill(vmid)?,
                argv: list(argv)?,
            },
            SurfaceOp::Discover => SurfaceOp::Discover,
            SurfaceOp::WatchResources { then, id } => SurfaceOp::WatchResources {
                then: fill(then)?,
                id: fill(id)?,
            },
            SurfaceOp::GuestCall { vmid, path } => SurfaceOp::GuestCall {
                vmid: fill(vmid)?,
                path: fill(path)?,
            },
        })
    }
}

/// A task outcome as the catalogue compares it: `OK`, `WARNINGS: n`, the exit status of a
/// failed task, `timed out`, or `error: ...`.
pub fn outcome_text(o: &proxmox_proto::task::TaskOutcome) -> String {
    use proxmox_proto::task::TaskOutcome;
    match o {
        TaskOutcome::Ok => "OK".into(),
        TaskOutcome::Warnings(n) => format!("WARNINGS: {n}"),
        TaskOutcome::Failed { message, .. } => message.clone(),
        TaskOutcome::TimedOut => "timed out".into(),
        TaskOutcome::Error(e) => format!("error: {e}"),
        other => format!("{other:?}"),
    }
}

/// What an adapter implements to run the catalogue. Keep one login (the last successful one)
/// and use it for every call. Secrets must not appear in errors.
pub trait Driver {
    /// Use an API token (`user@realm!id`, secret) from now on. A token is not checked until
    /// the next call.
    fn login_token(&mut self, token_id: &str, secret: &str) -> Result<(), DriverError>;

    /// Log in with a password (ticket + CSRF token) and use that ticket from now on. A
    /// `NeedTFA` answer must be reported as an error (401).
    fn login_password(&mut self, user: &str, password: &str) -> Result<(), DriverError>;

    /// Log in with a password and answer the TFA challenge with a TOTP `code`.
    fn login_tfa(&mut self, user: &str, password: &str, code: &str) -> Result<(), DriverError> {
        let _ = (user, password, code);
        Err(DriverError::Unsupported("TFA login".into()))
    }

    /// Make one call; returns `data` of the answer.
    fn call(&mut self, call: &Call) -> Result<Value, DriverError>;

    /// How many times this driver sends a GET that keeps failing with `status` before it
    /// reports the error (1 for a driver that never retries). An injected fault is repeated
    /// that many times, so that the error still surfaces through a client that retries
    /// (595, 596 on a GET, and lock timeouts are retryable in `proxmox_proto::retry`).
    fn attempts_per_call(&self, status: u16) -> u32 {
        let _ = status;
        1
    }

    /// Upload `data` as `filename` to `storage` (multipart `content` + `filename`); returns
    /// `data` of the answer (a UPID).
    fn upload(
        &mut self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        data: &[u8],
    ) -> Result<Value, DriverError> {
        let _ = (node, storage, content, filename, data);
        Err(DriverError::Unsupported("upload".into()))
    }

    /// A method of the common surface (each adapter calls its client's method of that name,
    /// with [`surface_calls!`](crate::surface_calls)). Drivers without a client surface (the
    /// raw test-bed drivers) keep this default, and the scenarios that need it
    /// ([`Scenario::uses_surface`]) are reported as skipped.
    fn surface(&mut self, node: &str, op: &SurfaceOp) -> Result<Value, DriverError> {
        let _ = node;
        Err(DriverError::Unsupported(format!(
            "the surface method {}",
            op.method()
        )))
    }

    /// Wait until the task has stopped; returns its final `status` object (with `exitstatus`).
    /// The default polls `GET /nodes/{node}/tasks/{upid}/status` every 50 ms.
    fn wait_task(
        &mut self,
        node: &str,
        upid: &str,
        timeout: Duration,
    ) -> Result<Value, DriverError> {
        let call = Call::get(("nodes", node, "tasks", upid, "status"))
            .map_err(|e| DriverError::Transport(e.to_string()))?;
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.call(&call)?;
            if status.get("status").and_then(Value::as_str) == Some("stopped") {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(DriverError::Transport(format!(
                    "task {upid} still running after {timeout:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Who logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The API token.
    Token,
    /// The full user with its password.
    Password,
    /// The full user with a wrong password.
    WrongPassword,
    /// The limited user.
    Limited,
    /// The TFA user with the right code.
    Tfa,
    /// The TFA user with a wrong code.
    TfaWrongCode,
}

/// A check on `data` of a successful answer. Pointers are JSON pointers (`""` is `data`
/// itself); texts are templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `data` is null.
    Null,
    /// `data` is a string starting with `UPID:`.
    Upid,
    /// The value at the pointer has this JSON type.
    Type(&'static str, JsonType),
    /// The value at the pointer, as text (strings bare, numbers printed), equals the text.
    Equals(&'static str, &'static str),
    /// The value at the pointer, as text, contains the text.
    Contains(&'static str, &'static str),
    /// `data` is an array with an element whose `key`, as text, equals the text.
    AnyElement(&'static str, &'static str),
    /// `data` is an array with an element whose `key` is a string containing the text.
    AnyElementContains(&'static str, &'static str),
    /// `data` is a non-empty array.
    NonEmpty,
    /// `data` is an array of this length.
    Len(usize),
}

/// The expected outcome of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Success, and every check holds.
    Ok(Vec<Check>),
    /// An API error with this status whose message contains the text (case-insensitive) and
    /// that names every one of these parameters in its per-parameter errors.
    Error {
        /// The status.
        status: u16,
        /// A part of the message (template; empty: any).
        contains: &'static str,
        /// Parameters that must have an error.
        params: Vec<&'static str>,
    },
}

/// How a task must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEnd {
    /// `exitstatus` is `OK`.
    Ok,
    /// `exitstatus` contains the text (a template).
    ErrorContaining(&'static str),
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Log in.
    Login {
        /// As whom.
        who: Who,
        /// Outcome (`data` is null on success).
        expect: Expect,
    },
    /// A call.
    Call {
        /// The method.
        method: Method,
        /// The path template (`/nodes/{node}/qemu/{vmid}/config`).
        path: &'static str,
        /// Parameter templates, in order.
        params: Vec<(&'static str, &'static str)>,
        /// The outcome.
        expect: Expect,
        /// Variables to set from the answer: (name, JSON pointer into `data`).
        save: Vec<(&'static str, &'static str)>,
    },
    /// Upload `size` bytes of a generated file.
    Upload {
        /// Storage (template).
        storage: &'static str,
        /// `content` (`iso`).
        content: &'static str,
        /// File name (template).
        filename: &'static str,
        /// Size in bytes.
        size: usize,
        /// The outcome.
        expect: Expect,
        /// Variables to set from the answer.
        save: Vec<(&'static str, &'static str)>,
    },
    /// Wait for the task whose UPID is in a variable.
    WaitTask {
        /// The variable holding the UPID.
        upid: &'static str,
        /// How it must end.
        end: TaskEnd,
        /// How long to wait.
        timeout: Duration,
    },
    /// A method of the common surface through the driver's client.
    Surface {
        /// The method and its arguments (templates).
        op: SurfaceOp,
        /// The outcome.
        expect: Expect,
        /// Variables to set from the answer.
        save: Vec<(&'static str, &'static str)>,
    },
    /// Make the peer's next task run until it is stopped ([`PeerControl::plan_long_task`]).
    LongNextTask,
    /// Inject a fault into the peer.
    Inject {
        /// The method.
        method: Method,
        /// The path template.
        path: &'static str,
        /// The status.
        status: u16,
        /// The message.
        message: &'static str,
        /// How many requests.
        times: u32,
    },
}

impl Step {
    fn call(method: Method, path: &'static str, params: &[(&'static str, &'static str)]) -> Self {
        Step::Call {
            method,
            path,
            params: params.to_vec(),
            expect: Expect::Ok(Vec::new()),
            save: Vec::new(),
        }
    }

    fn get(path: &'static str) -> Self {
        Self::call(Method::Get, path, &[])
    }

    fn ok(mut self, checks: &[Check]) -> Self {
        if let Step::Call { expect, .. }
        | Step::Upload { expect, .. }
        | Step::Surface { expect, .. } = &mut self
        {
            *expect = Expect::Ok(checks.to_vec());
        }
        self
    }

    fn err(mut self, status: u16, contains: &'static str, params: &[&'static str]) -> Self {
        if let Step::Call { expect, .. }
        | Step::Upload { expect, .. }
        | Step::Surface { expect, .. } = &mut self
        {
            *expect = Expect::Error {
                status,
                contains,
                params: params.to_vec(),
            };
        }
        self
    }

    fn save(mut self, var: &'static str, pointer: &'static str) -> Self {
        if let Step::Call { save, .. } | Step::Upload { save, .. } | Step::Surface { save, .. } =
            &mut self
        {
            save.push((var, pointer));
        }
        self
    }

    fn login(who: Who) -> Self {
        Step::Login {
            who,
            expect: Expect::Ok(Vec::new()),
        }
    }

    fn surface(op: SurfaceOp) -> Self {
        Step::Surface {
            op,
            expect: Expect::Ok(Vec::new()),
            save: Vec::new(),
        }
    }

    fn wait(upid: &'static str, end: TaskEnd) -> Self {
        Step::WaitTask {
            upid,
            end,
            timeout: Duration::from_secs(30),
        }
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        match self {
            Step::Login { who, .. } => format!("login {who:?}"),
            Step::Call {
                method,
                path,
                params,
                ..
            } => {
                let p: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{method} {path} {}", p.join("&"))
            }
            Step::Upload {
                storage, filename, ..
            } => format!("upload {filename} to {storage}"),
            Step::WaitTask { upid, end, .. } => format!("wait for task {{{upid}}} to end {end:?}"),
            Step::Surface { op, .. } => format!("surface {} {op:?}", op.method()),
            Step::LongNextTask => "the next task runs until stopped".into(),
            Step::Inject {
                method,
                path,
                status,
                ..
            } => format!("inject {status} for {method} {path}"),
        }
    }
}

/// A named list of steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Name in reports.
    pub name: &'static str,
    /// Features the peer must offer, else the scenario is skipped.
    pub needs: Vec<Feature>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// The scenarios of [`catalogue()`] that `profile`'s peer cannot run (a [`Feature`] it lacks),
/// in catalogue order: what a driver that can do everything sees skipped, and nothing else.
pub fn lacking(profile: &PeerProfile) -> Vec<&'static str> {
    catalogue()
        .into_iter()
        .filter(|s| s.needs.iter().any(|f| !profile.features.contains(f)))
        .map(|s| s.name)
        .collect()
}

impl Scenario {
    /// Whether a step calls a method of the clients' common surface ([`Step::Surface`]):
    /// drivers without a client (the raw test-bed drivers) skip such scenarios.
    pub fn uses_surface(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Surface { .. }))
    }
}

fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn scenario(name: &'static str, needs: &[Feature], steps: Vec<Step>) -> Scenario {
    Scenario {
        name,
        needs: needs.to_vec(),
        steps,
    }
}

/// The catalogue, in the order it must run.
pub fn catalogue() -> Vec<Scenario> {
    use Check::*;
    use Feature::*;
    use Method::{Delete, Post, Put};
    let vm = "/nodes/{node}/qemu/{vmid}";
    vec![
        scenario(
            "token login",
            &[],
            vec![
                Step::login(Who::Token),
                Step::get("/version").ok(&[
                    Type("/version", JsonType::String),
                    Type("/release", JsonType::String),
                ]),
            ],
        ),
        scenario(
            "password login",
            &[],
            vec![
                Step::Login {
                    who: Who::WrongPassword,
                    expect: Expect::Error {
                        status: 401,
                        contains: "authentication failure",
                        params: vec![],
                    },
                },
                Step::login(Who::Password),
                Step::get("/version").ok(&[Type("/version", JsonType::String)]),
            ],
        ),
        scenario(
            "TFA login",
            &[Tfa],
            vec![
                Step::Login {
                    who: Who::TfaWrongCode,
                    expect: Expect::Error {
                        status: 401,
                        contains: "",
                        params: vec![],
                    },
                },
                Step::login(Who::Tfa),
                Step::get("/version").ok(&[Type("/version", JsonType::String)]),
            ],
        ),
        scenario(
            "list nodes",
            &[],
            vec![
                Step::login(Who::Token),
                Step::get("/nodes").ok(&[
                    NonEmpty,
                    AnyElement("node", "{node}"),
                    AnyElement("status", "online"),
                ]),
            ],
        ),
        scenario(
            "create VM",
            &[],
            vec![
                Step::login(Who::Password),
                Step::get("/cluster/nextid").save("vmid", ""),
                Step::call(
                    Post,
                    "/nodes/{node}/qemu",
                    &[
                        ("vmid", "{vmid}"),
                        ("name", "testbed-vm"),
                        ("memory", "512"),
                        ("cores", "1"),
                        ("scsi0", "{disk_storage}:1"),
                        ("net0", "virtio,bridge=vmbr0"),
                    ],
                )
                .ok(&[Upid])
                .save("create_upid", ""),
                Step::wait("create_upid", TaskEnd::Ok),
                Step::get("/nodes/{node}/qemu/{vmid}/config")
                    .ok(&[Equals("/name", "testbed-vm"), Equals("/memory", "512")]),
            ],
        ),
        scenario(
            "start VM and wait for the task",
            &[],
            vec![
                Step::login(Who::Password),
                Step::call(Post, "/nodes/{node}/qemu/{vmid}/status/start", &[])
                    .ok(&[Upid])
                    .save("start_upid", ""),
                Step::wait("start_upid", TaskEnd::Ok),
                Step::get("/nodes/{node}/qemu/{vmid}/status/current")
                    .ok(&[Equals("/status", "running")]),
            ],
        ),
        scenario(
            "read the task log",
            &[],
            vec![
                Step::login(Who::Token),
                Step::get("/nodes/{node}/tasks/{start_upid}/log")
                    .ok(&[NonEmpty, AnyElementContains("t", "TASK OK")]),
                Step::get("/nodes/{node}/tasks/{start_upid}/status").ok(&[
                    Equals("/status", "stopped"),
                    Equals("/exitstatus", "OK"),
                    Equals("/upid", "{start_upid}"),
                ]),
            ],
        ),
        scenario(
            "update config with digest",
            &[],
            vec![
                Step::login(Who::Password),
                Step::get("/nodes/{node}/qemu/{vmid}/config")
                    .ok(&[Type("/digest", JsonType::String)])
                    .save("digest", "/digest"),
                Step::call(
                    Put,
                    "/nodes/{node}/qemu/{vmid}/config",
                    &[
                        ("description", "set by the testbed"),
                        ("digest", "{digest}"),
                    ],
                )
                .ok(&[Null]),
                Step::get("/nodes/{node}/qemu/{vmid}/config")
                    .ok(&[Equals("/description", "set by the testbed")]),
                // The digest changed with the update: the old one is now stale.
                Step::call(
                    Put,
                    "/nodes/{node}/qemu/{vmid}/config",
                    &[("description", "stale"), ("digest", "{digest}")],
                )
                .err(500, "other user", &[]),
            ],
        ),
        scenario(
            "failing task (TASK ERROR)",
            &[],
            vec![
                Step::login(Who::Token),
                Step::call(Post, "/nodes/{node}/qemu/{running_vmid}/status/start", &[])
                    .ok(&[Upid])
                    .save("fail_upid", ""),
                Step::wait("fail_upid", TaskEnd::ErrorContaining("already running")),
                Step::get("/nodes/{node}/tasks/{fail_upid}/log").ok(&[AnyElementContains(
                    "t",
                    "TASK ERROR: VM {running_vmid} already running",
                )]),
            ],
        ),
        scenario(
            "400 with per-parameter errors",
            &[],
            vec![
                Step::login(Who::Token),
                Step::call(
                    Post,
                    "/nodes/{node}/qemu",
                    &[("vmid", "abc"), ("memory", "lots")],
                )
                .err(400, "Parameter verification failed", &["vmid", "memory"]),
            ],
        ),
        scenario(
            "500 does not exist",
            &[],
            vec![
                Step::login(Who::Token),
                Step::get("/nodes/{node}/qemu/{missing_vmid}/config").err(
                    500,
                    "does not exist",
                    &[],
                ),
            ],
        ),
        scenario(
            "403 permission check",
            &[LimitedUser],
            vec![
                Step::login(Who::Limited),
                Step::get("/nodes/{node}/qemu/{running_vmid}/config")
                    .ok(&[Type("", JsonType::Object)]),
                Step::get("/nodes/{node}/qemu/{forbidden_vmid}/config").err(
                    403,
                    "Permission check failed",
                    &[],
                ),
            ],
        ),
        scenario(
            "501 method not implemented",
            &[],
            vec![
                Step::login(Who::Token),
                Step::call(Delete, "/version", &[]).err(501, "not implemented", &[]),
            ],
        ),
        scenario(
            "501 unknown path",
            &[UnknownPath501],
            vec![
                Step::login(Who::Token),
                Step::get("/testbed/no/such/path").err(501, "not implemented", &[]),
            ],
        ),
        scenario(
            "595 node unreachable (injected)",
            &[FaultInjection],
            vec![
                Step::login(Who::Token),
                Step::Inject {
                    method: Method::Get,
                    path: "/nodes/{node}/qemu/{running_vmid}/status/current",
                    status: 595,
                    message: "No route to host",
                    times: 1,
                },
                Step::get("/nodes/{node}/qemu/{running_vmid}/status/current").err(
                    595,
                    "No route to host",
                    &[],
                ),
                Step::get("/nodes/{node}/qemu/{running_vmid}/status/current")
                    .ok(&[Equals("/status", "running")]),
            ],
        ),
        scenario(
            "upload a small ISO and wait",
            &[Upload],
            vec![
                Step::login(Who::Token),
                Step::Upload {
                    storage: "{iso_storage}",
                    content: "iso",
                    filename: "{iso_name}",
                    size: 4096,
                    expect: Expect::Ok(vec![Upid]),
                    save: vec![("upload_upid", "")],
                },
                Step::wait("upload_upid", TaskEnd::Ok),
                Step::get("/nodes/{node}/storage/{iso_storage}/content")
                    .ok(&[AnyElement("volid", "{iso_storage}:iso/{iso_name}")]),
            ],
        ),
        scenario(
            "download-url with a checksum",
            &[DownloadUrl],
            vec![
                Step::login(Who::Token),
                Step::call(
                    Post,
                    "/nodes/{node}/storage/{iso_storage}/download-url",
                    &[
                        ("content", "iso"),
                        ("filename", "{dl_name}"),
                        ("url", "https://example.invalid/{dl_name}"),
                        ("checksum", "{dl_sha256}"),
                        ("checksum-algorithm", "sha256"),
                    ],
                )
                .ok(&[Upid])
                .save("dl_upid", ""),
                Step::wait("dl_upid", TaskEnd::Ok),
                Step::get("/nodes/{node}/storage/{iso_storage}/content")
                    .ok(&[AnyElement("volid", "{iso_storage}:iso/{dl_name}")]),
            ],
        ),
        scenario(
            "the common surface: tasks, logs, options, PUT",
            &[],
            vec![
                Step::login(Who::Password),
                Step::surface(SurfaceOp::Set {
                    path: "/nodes/{node}/qemu/{vmid}/config".into(),
                    params: [("description".into(), "through the surface".into())].into(),
                })
                .ok(&[Null]),
                Step::surface(SurfaceOp::GetWith {
                    path: "/nodes/{node}/qemu/{vmid}/config".into(),
                    params: BTreeMap::new(),
                })
                .ok(&[Equals("/description", "through the surface")]),
                Step::surface(SurfaceOp::CallWith {
                    path: "/version".into(),
                    timeout: Duration::from_secs(20),
                })
                .ok(&[Type("/version", JsonType::String)]),
                Step::surface(SurfaceOp::WaitTasks {
                    upids: vec!["{create_upid}".into(), "{start_upid}".into()],
                })
                .ok(&[Equals("/0", "OK"), Equals("/1", "OK")]),
                Step::surface(SurfaceOp::WaitTaskOk {
                    upid: "{create_upid}".into(),
                })
                .ok(&[Equals("", "0")]),
                Step::surface(SurfaceOp::TaskLog {
                    upid: "{start_upid}".into(),
                })
                .ok(&[NonEmpty]),
                Step::surface(SurfaceOp::TaskLogWindow {
                    upid: "{start_upid}".into(),
                    start: 0,
                    limit: 1,
                })
                .ok(&[Len(1)]),
                Step::surface(SurfaceOp::FollowTaskLog {
                    upid: "{start_upid}".into(),
                })
                .ok(&[Equals("/outcome", "OK"), Type("/lines", JsonType::Array)]),
            ],
        ),
        scenario(
            "download-url through the surface",
            &[DownloadUrl],
            vec![
                Step::login(Who::Token),
                Step::surface(SurfaceOp::DownloadUrl {
                    storage: "{iso_storage}".into(),
                    url: "https://example.invalid/surface-{dl_name}".into(),
                    file_name: "surface-{dl_name}".into(),
                    sha256: Some("{dl_sha256}".into()),
                })
                .ok(&[Upid])
                .save("surface_dl_upid", ""),
                Step::wait("surface_dl_upid", TaskEnd::Ok),
                Step::get("/nodes/{node}/storage/{iso_storage}/content")
                    .ok(&[AnyElement("volid", "{iso_storage}:iso/surface-{dl_name}")]),
            ],
        ),
        scenario(
            "the verbs through the surface: get, create, put, request, post, call_raw, delete",
            &[],
            vec![
                Step::login(Who::Password),
                Step::surface(SurfaceOp::Accessors).ok(&[
                    Type("/host", JsonType::String),
                    Type("/session", JsonType::Bool),
                ]),
                Step::surface(SurfaceOp::Get {
                    path: "/cluster/nextid".into(),
                })
                .save("vmid2", ""),
                Step::surface(SurfaceOp::Create {
                    path: "/nodes/{node}/qemu".into(),
                    params: form(&[
                        ("vmid", "{vmid2}"),
                        ("name", "surface-vm"),
                        ("memory", "256"),
                    ]),
                })
                .ok(&[Upid])
                .save("create2_upid", ""),
                Step::wait("create2_upid", TaskEnd::Ok),
                Step::surface(SurfaceOp::Put {
                    path: "/nodes/{node}/qemu/{vmid2}/config".into(),
                    params: form(&[("description", "put through the surface")]),
                })
                .ok(&[Null]),
                Step::surface(SurfaceOp::Request {
                    method: Method::Get,
                    path: "/nodes/{node}/qemu/{vmid2}/config".into(),
                    params: Vec::new(),
                })
                .ok(&[
                    Equals("/name", "surface-vm"),
                    Equals("/description", "put through the surface"),
                ]),
                // A POST through `post`: the task fails, the call does not.
                Step::surface(SurfaceOp::Post {
                    path: "/nodes/{node}/qemu/{running_vmid}/status/start".into(),
                    params: BTreeMap::new(),
                })
                .ok(&[Upid])
                .save("post_upid", ""),
                Step::wait("post_upid", TaskEnd::ErrorContaining("already running")),
                Step::surface(SurfaceOp::CallRaw {
                    path: "/version".into(),
                })
                .ok(&[Type("/version", JsonType::String)]),
                Step::surface(SurfaceOp::Delete {
                    path: "/nodes/{node}/qemu/{vmid2}".into(),
                })
                .ok(&[Upid])
                .save("delete2_upid", ""),
                Step::wait("delete2_upid", TaskEnd::Ok),
                Step::surface(SurfaceOp::Get {
                    path: "/nodes/{node}/qemu/{vmid2}/config".into(),
                })
                .err(500, "does not exist", &[]),
            ],
        ),
        scenario(
            "the guest agent through the surface",
            &[],
            vec![
                Step::login(Who::Password),
                Step::surface(SurfaceOp::AgentExec {
                    vmid: "{running_vmid}".into(),
                    command: "ls -l '/tmp/a b'".into(),
                })
                .ok(&[Type("/pid", JsonType::Number)]),
                Step::surface(SurfaceOp::AgentExecArgv {
                    vmid: "{running_vmid}".into(),
                    argv: vec!["uname".into(), "-a".into()],
                })
                .ok(&[Type("/pid", JsonType::Number)]),
                // VM 101 has the agent configured but is stopped: PVE says "VM 101 is not
                // running" (qemu-server PVE/QemuServer/Agent.pm, agent_available), fakepve
                // "QEMU guest agent is not running".
                Step::surface(SurfaceOp::AgentExec {
                    vmid: "{forbidden_vmid}".into(),
                    command: "true".into(),
                })
                .err(500, "not running", &[]),
            ],
        ),
        scenario(
            "upload through the surface",
            &[Upload],
            vec![
                Step::login(Who::Token),
                Step::surface(SurfaceOp::Upload {
                    storage: "{iso_storage}".into(),
                    file_name: "surface-{iso_name}".into(),
                    size: 2048,
                })
                .ok(&[Upid])
                .save("surface_upload_upid", ""),
                Step::wait("surface_upload_upid", TaskEnd::Ok),
                Step::get("/nodes/{node}/storage/{iso_storage}/content")
                    .ok(&[AnyElement("volid", "{iso_storage}:iso/surface-{iso_name}")]),
            ],
        ),
        scenario(
            "cancel a task through the surface",
            &[TaskCancel],
            vec![
                Step::login(Who::Password),
                Step::LongNextTask,
                Step::call(
                    Post,
                    "/nodes/{node}/qemu/{forbidden_vmid}/status/start",
                    &[],
                )
                .ok(&[Upid])
                .save("long_upid", ""),
                Step::surface(SurfaceOp::CancelTask {
                    upid: "{long_upid}".into(),
                })
                .ok(&[Null]),
                // pve-manager PVE/API2/Tasks.pm stop_task: the worker is killed; its status
                // then ends in an error (the simulator: "interrupted by signal").
                Step::surface(SurfaceOp::WaitTasks {
                    upids: vec!["{long_upid}".into()],
                })
                .ok(&[Contains("/0", "interrupted")]),
                Step::get("/nodes/{node}/qemu/{forbidden_vmid}/status/current")
                    .ok(&[Equals("/status", "stopped")]),
            ],
        ),
        scenario(
            "the cluster through the surface",
            &[ClusterStatus],
            vec![
                Step::login(Who::Token),
                Step::surface(SurfaceOp::Discover).ok(&[Equals("/nodes/0", "{node}")]),
                Step::surface(SurfaceOp::GuestCall {
                    vmid: "{running_vmid}".into(),
                    path: "status/current".into(),
                })
                .ok(&[Equals("/status", "running")]),
            ],
        ),
        scenario(
            "the cluster's state through the surface",
            &[ClusterStatus],
            vec![
                Step::login(Who::Token),
                Step::surface(SurfaceOp::WatchResources {
                    then: "/nodes/{node}/qemu/{forbidden_vmid}/status/start".into(),
                    id: "qemu/{forbidden_vmid}".into(),
                })
                .ok(&[
                    Equals("/change", "guest_status"),
                    Equals("/from", "stopped"),
                    Equals("/to", "running"),
                ]),
                // Leave the guest as it was for the other scenarios.
                Step::call(Post, "/nodes/{node}/qemu/{forbidden_vmid}/status/stop", &[])
                    .ok(&[Upid])
                    .save("stop_upid", ""),
                Step::surface(SurfaceOp::WaitTasks {
                    upids: vec!["{stop_upid}".into()],
                })
                .ok(&[Equals("/0", "OK")]),
            ],
        ),
        scenario(
            "checksum discovery through the surface",
            &[ChecksumMirror, DownloadUrl],
            vec![
                Step::login(Who::Token),
                Step::surface(SurfaceOp::DiscoverChecksum {
                    url: "{mirror}/mirror.iso".into(),
                })
                .ok(&[Equals("", "{dl_sha256}")]),
                Step::surface(SurfaceOp::DiscoverChecksum {
                    url: "{mirror}/not-listed.iso".into(),
                })
                .ok(&[Null]),
                Step::surface(SurfaceOp::DownloadUrl {
                    storage: "{iso_storage}".into(),
                    url: "{mirror}/mirror.iso".into(),
                    file_name: "discovered-{dl_name}".into(),
                    sha256: None,
                })
                .ok(&[Upid])
                .save("discovered_dl_upid", ""),
                Step::wait("discovered_dl_upid", TaskEnd::Ok),
                Step::get("/nodes/{node}/storage/{iso_storage}/content").ok(&[AnyElement(
                    "volid",
                    "{iso_storage}:iso/discovered-{dl_name}",
                )]),
            ],
        ),
        scenario(
            "delete the VM",
            &[],
            vec![
                Step::login(Who::Password),
                Step::call(Post, "/nodes/{node}/qemu/{vmid}/status/stop", &[])
                    .ok(&[Upid])
                    .save("stop_upid", ""),
                Step::wait("stop_upid", TaskEnd::Ok),
                Step::call(Delete, vm, &[])
                    .ok(&[Upid])
                    .save("delete_upid", ""),
                Step::wait("delete_upid", TaskEnd::Ok),
                Step::get("/nodes/{node}/qemu/{vmid}/config").err(500, "does not exist", &[]),
            ],
        ),
    ]
}

/// How one scenario went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every step gave its expected outcome.
    Passed,
    /// Not run: the peer or the driver lacks something.
    Skipped(String),
    /// A step did not give its expected outcome.
    Failed {
        /// Index of the step (0-based).
        step: usize,
        /// The step, described.
        what: String,
        /// What went wrong.
        message: String,
    },
}

/// One scenario's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioResult {
    /// The scenario's name.
    pub name: &'static str,
    /// How it went.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// The results of a catalogue run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The peer.
    pub peer: PeerKind,
    /// One result per scenario, in order.
    pub results: Vec<ScenarioResult>,
}

impl Report {
    /// The failed scenarios.
    pub fn failed(&self) -> Vec<&ScenarioResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
            .collect()
    }

    /// Number of passed scenarios.
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Passed)
            .count()
    }

    /// Number of skipped scenarios.
    pub fn skipped(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "catalogue against {}:", self.peer)?;
        for r in &self.results {
            let ms = r.elapsed.as_millis();
            match &r.outcome {
                Outcome::Passed => writeln!(f, "  PASS  {} ({ms} ms)", r.name)?,
                Outcome::Skipped(why) => writeln!(f, "  SKIP  {}: {why}", r.name)?,
                Outcome::Failed {
                    step,
                    what,
                    message,
                } => writeln!(
                    f,
                    "  FAIL  {} at step {} ({what}): {message}",
                    r.name,
                    step + 1
                )?,
            }
        }
        write!(
            f,
            "  {} passed, {} failed, {} skipped",
            self.passed(),
            self.failed().len(),
            self.skipped()
        )
    }
}

/// Runs the whole [`catalogue()`] and panics with the report if a scenario failed (or none
/// passed). The report is also written to stderr.
pub fn run_catalogue(driver: &mut dyn Driver, peer: &mut dyn PeerControl) -> Report {
    let report = run_scenarios(driver, peer, &catalogue());
    let _ = writeln!(std::io::stderr(), "{report}");
    assert!(report.failed().is_empty(), "{report}");
    assert!(report.passed() > 0, "no scenario passed:\n{report}");
    report
}

/// Runs these scenarios in order and reports; never panics on a failed expectation.
pub fn run_scenarios(
    driver: &mut dyn Driver,
    peer: &mut dyn PeerControl,
    scenarios: &[Scenario],
) -> Report {
    let profile = peer.profile();
    let mut run = Run::new(&profile);
    let mut results = Vec::new();
    for sc in scenarios {
        let started = Instant::now();
        let missing: Vec<String> = sc
            .needs
            .iter()
            .filter(|f| !profile.features.contains(f))
            .map(|f| format!("{f:?}"))
            .collect();
        let outcome = if missing.is_empty() {
            run.scenario(driver, peer, sc)
        } else {
            Outcome::Skipped(format!("{} lacks {}", profile.kind, missing.join(", ")))
        };
        results.push(ScenarioResult {
            name: sc.name,
            outcome,
            elapsed: started.elapsed(),
        });
    }
    Report {
        peer: profile.kind,
        results,
    }
}

/// Why a step did not pass.
enum StepError {
    Failed(String),
    Skipped(String),
}

impl From<String> for StepError {
    fn from(s: String) -> Self {
        StepError::Failed(s)
    }
}

struct Run<'p> {
    profile: &'p PeerProfile,
    vars: HashMap<String, String>,
}

impl<'p> Run<'p> {
    fn new(profile: &'p PeerProfile) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{n}", std::process::id());
        let mut vars = HashMap::new();
        let mut set = |k: &str, v: String| {
            vars.insert(k.to_owned(), v);
        };
        set("node", profile.node.clone());
        set("running_vmid", "100".into());
        set("forbidden_vmid", "101".into());
        set("missing_vmid", "999".into());
        set("iso_storage", "local".into());
        set("disk_storage", "local-lvm".into());
        set("iso_name", format!("testbed-{tag}.iso"));
        set("dl_name", format!("testbed-dl-{tag}.iso"));
        set("dl_sha256", DL_SHA256.into());
        if let Some(m) = &profile.mirror {
            set("mirror", m.clone());
        }
        Self { profile, vars }
    }

    fn scenario(
        &mut self,
        driver: &mut dyn Driver,
        peer: &mut dyn PeerControl,
        sc: &Scenario,
    ) -> Outcome {
        for (i, step) in sc.steps.iter().enumerate() {
            match self.step(driver, peer, step) {
                Ok(()) => {}
                Err(StepError::Skipped(why)) => return Outcome::Skipped(why),
                Err(StepError::Failed(message)) => {
                    return Outcome::Failed {
                        step: i,
                        what: step.describe(),
                        message,
                    };
                }
            }
        }
        Outcome::Passed
    }

    fn fill(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!("unclosed '{{' in template {template:?}"));
            };
            let name = &after[..close];
            match self.vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(format!(
                        "variable {{{name}}} is not set (an earlier scenario failed?)"
                    ));
                }
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn build_call(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Call, String> {
        let path = self.fill(path)?;
        let mut api = ApiPath::root();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            api = api.value(seg).map_err(|e| e.to_string())?;
        }
        let mut p = Params::new();
        for (k, v) in params {
            p.push(*k, self.fill(v)?);
        }
        Call::new(method, api)
            .map(|c| c.with_params(p))
            .map_err(|e| e.to_string())
    }

    fn step(
        &mut self,
        driver: &mut dyn Driver,
        peer: &mut dyn PeerControl,
        step: &Step,
    ) -> Result<(), StepError> {
        match step {
            Step::Login { who, expect } => {
                let result = self.login(driver, *who)?;
                self.check(expect, result.map(|()| Value::Null))?;
                Ok(())
            }
            Step::Call {
                method,
                path,
                params,
                expect,
                save,
            } => {
                let call = self.build_call(*method, path, params)?;
                let data = self.check(expect, driver.call(&call))?;
                self.save(save, data.as_ref())
            }
            Step::Upload {
                storage,
                content,
                filename,
                size,
                expect,
                save,
            } => {
                let storage = self.fill(storage)?;
                let filename = self.fill(filename)?;
                let bytes = iso_bytes(*size);
                let result =
                    driver.upload(&self.profile.node, &storage, content, &filename, &bytes);
                let data = self.check(expect, result)?;
                self.save(save, data.as_ref())
            }
            Step::WaitTask { upid, end, timeout } => {
                let upid = self.fill(&format!("{{{upid}}}"))?;
                let status = driver
                    .wait_task(&self.profile.node, &upid, *timeout)
                    .map_err(driver_error)?;
                let exit = status
                    .get("exitstatus")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("no exitstatus in the final task status {status}"))?;
                match end {
                    TaskEnd::Ok if exit == "OK" => Ok(()),
                    TaskEnd::Ok => Err(format!("task ended with {exit:?}, expected OK").into()),
                    TaskEnd::ErrorContaining(text) => {
                        let text = self.fill(text)?;
                        if exit != "OK" && exit.contains(&text) {
                            Ok(())
                        } else {
                            Err(format!(
                                "task ended with {exit:?}, expected an error containing {text:?}"
                            )
                            .into())
                        }
                    }
                }
            }
            Step::Surface { op, expect, save } => {
                let op = op.filled(&|t| self.fill(t))?;
                let data = self.check(expect, driver.surface(&self.profile.node, &op))?;
                self.save(save, data.as_ref())
            }
            Step::LongNextTask => peer
                .plan_long_task()
                .map_err(|e| StepError::Failed(format!("cannot plan a long task: {e}"))),
            Step::Inject {
                method,
                path,
                status,
                message,
                times,
            } => {
                let fault = Fault {
                    method: *method,
                    path: self.fill(path)?,
                    status: *status,
                    message: (*message).to_owned(),
                    times: times.saturating_mul(driver.attempts_per_call(*status).max(1)),
                };
                peer.inject(&fault)
                    .map_err(|e| StepError::Failed(format!("fault injection failed: {e}")))
            }
        }
    }

    fn login(
        &self,
        driver: &mut dyn Driver,
        who: Who,
    ) -> Result<Result<(), DriverError>, StepError> {
        let p = self.profile;
        let tfa = || {
            p.tfa
                .as_ref()
                .ok_or_else(|| StepError::Skipped(format!("{} has no TFA account", p.kind)))
        };
        Ok(match who {
            Who::Token => driver.login_token(&p.token_id, &p.token_secret),
            Who::Password => driver.login_password(&p.user, &p.password),
            Who::WrongPassword => driver.login_password(&p.user, "wrong-password-for-testbed"),
            Who::Limited => {
                let Some((user, pw)) = &p.limited_user else {
                    return Err(StepError::Skipped(format!(
                        "{} has no limited user",
                        p.kind
                    )));
                };
                driver.login_password(user, pw)
            }
            Who::Tfa => {
                let t = tfa()?;
                driver.login_tfa(&t.user, &t.password, &t.code)
            }
            Who::TfaWrongCode => {
                let t = tfa()?;
                let wrong = if t.code == "000000" {
                    "999999"
                } else {
                    "000000"
                };
                driver.login_tfa(&t.user, &t.password, wrong)
            }
        })
    }

    /// Checks an outcome; returns `data` on an expected success.
    fn check(
        &self,
        expect: &Expect,
        result: Result<Value, DriverError>,
    ) -> Result<Option<Value>, StepError> {
        match (expect, result) {
            (_, Err(DriverError::Unsupported(what))) => Err(StepError::Skipped(format!(
                "driver does not support {what}"
            ))),
            (_, Err(DriverError::Transport(t))) => {
                Err(StepError::Failed(format!("transport error: {t}")))
            }
            (Expect::Ok(checks), Ok(data)) => {
                for c in checks {
                    self.check_data(c, &data)
                        .map_err(|m| StepError::Failed(format!("{m}; data: {}", short(&data))))?;
                }
                Ok(Some(data))
            }
            (Expect::Ok(_), Err(e)) => Err(StepError::Failed(format!("expected success, got {e}"))),
            (Expect::Error { status, .. }, Ok(data)) => Err(StepError::Failed(format!(
                "expected error {status}, got success: {}",
                short(&data)
            ))),
            (
                Expect::Error {
                    status,
                    contains,
                    params,
                },
                Err(DriverError::Api(e)),
            ) => {
                let contains = self.fill(contains)?;
                let mut problems = Vec::new();
                if e.status != *status {
                    problems.push(format!("status {} instead of {status}", e.status));
                }
                if !e.message.to_lowercase().contains(&contains.to_lowercase()) {
                    problems.push(format!("message does not contain {contains:?}"));
                }
                for p in params {
                    if !e.param_errors.contains_key(*p) {
                        problems.push(format!("no error for parameter {p:?}"));
                    }
                }
                if problems.is_empty() {
                    Ok(None)
                } else {
                    Err(StepError::Failed(format!(
                        "{} (got {})",
                        problems.join(", "),
                        DriverError::Api(e)
                    )))
                }
            }
        }
    }

    fn check_data(&self, check: &Check, data: &Value) -> Result<(), String> {
        let at = |ptr: &str| {
            data.pointer(ptr)
                .ok_or_else(|| format!("nothing at {ptr:?}"))
        };
        match check {
            Check::Null if data.is_null() => Ok(()),
            Check::Null => Err("expected null".into()),
            Check::Upid => match data.as_str() {
                Some(s) if s.starts_with("UPID:") => Ok(()),
                _ => Err("expected a UPID".into()),
            },
            Check::Type(ptr, ty) => {
                let got = JsonType::of(at(ptr)?);
                if got == *ty {
                    Ok(())
                } else {
                    Err(format!("{ptr:?} is {got}, expected {ty}"))
                }
            }
            Check::Equals(ptr, want) => {
                let want = self.fill(want)?;
                let got = as_text(at(ptr)?);
                if got == want {
                    Ok(())
                } else {
                    Err(format!("{ptr:?} is {got:?}, expected {want:?}"))
                }
            }
            Check::Len(n) => match data.as_array() {
                Some(items) if items.len() == *n => Ok(()),
                Some(items) => Err(format!("{} elements, expected {n}", items.len())),
                None => Err("expected an array".into()),
            },
            Check::Contains(ptr, want) => {
                let want = self.fill(want)?;
                let got = as_text(at(ptr)?);
                if got.contains(&want) {
                    Ok(())
                } else {
                    Err(format!(
                        "{ptr:?} is {got:?}, expected it to contain {want:?}"
                    ))
                }
            }
            Check::AnyElement(key, want) => {
                let want = self.fill(want)?;
                let items = data.as_array().ok_or("expected an array")?;
                if items
                    .iter()
                    .any(|i| i.get(*key).map(as_text).as_deref() == Some(want.as_str()))
                {
                    Ok(())
                } else {
                    Err(format!("no element with {key} = {want:?}"))
                }
            }
            Check::AnyElementContains(key, want) => {
                let want = self.fill(want)?;
                let items = data.as_array().ok_or("expected an array")?;
                if items.iter().any(|i| {
                    i.get(*key)
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.contains(&want))
                }) {
                    Ok(())
                } else {
                    Err(format!("no element whose {key} contains {want:?}"))
                }
            }
            Check::NonEmpty => match data.as_array() {
                Some(a) if !a.is_empty() => Ok(()),
                _ => Err("expected a non-empty array".into()),
            },
        }
    }

    fn save(&mut self, save: &[(&str, &str)], data: Option<&Value>) -> Result<(), StepError> {
        if save.is_empty() {
            return Ok(());
        }
        let Some(data) = data else {
            return Ok(());
        };
        for (var, ptr) in save {
            let v = data
                .pointer(ptr)
                .ok_or_else(|| format!("cannot save {{{var}}}: nothing at {ptr:?}"))?;
            self.vars.insert((*var).to_owned(), as_text(v));
        }
        Ok(())
    }
}

fn driver_error(e: DriverError) -> StepError {
    match e {
        DriverError::Unsupported(what) => {
            StepError::Skipped(format!("driver does not support {what}"))
        }
        other => StepError::Failed(other.to_string()),
    }
}

/// Strings bare, everything else as JSON text.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 300 {
        return s;
    }
    let mut end = 300;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// A deterministic payload of `size` bytes for the upload step (no peer inspects it).
pub(crate) fn iso_bytes(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> PeerProfile {
        PeerProfile {
            kind: PeerKind::Simulator,
            node: "pve1".into(),
            user: "root@pam".into(),
            password: "pw".into(),
            token_id: "root@pam!ci".into(),
            token_secret: "s".into(),
            limited_user: None,
            tfa: None,
            features: vec![],
            mirror: Some("https://mirror.invalid/dir".into()),
        }
    }

    #[test]
    fn templates_fill_and_fail_on_unknown() {
        let p = profile();
        let run = Run::new(&p);
        assert_eq!(
            run.fill("/nodes/{node}/qemu").ok().as_deref(),
            Some("/nodes/pve1/qemu")
        );
        assert!(run.fill("/nodes/{nope}").is_err());
        assert!(run.fill("/nodes/{node").is_err());
    }

    #[test]
    fn error_expectations_compare_status_message_and_params() {
        let p = profile();
        let run = Run::new(&p);
        let expect = Expect::Error {
            status: 400,
            contains: "verification",
            params: vec!["vmid"],
        };
        let mut errors = BTreeMap::new();
        errors.insert("vmid".to_owned(), "bad".to_owned());
        let good = DriverError::Api(ApiErrorShape {
            status: 400,
            message: "Parameter verification failed.".into(),
            param_errors: errors,
        });
        assert!(run.check(&expect, Err(good)).is_ok());
        let wrong = DriverError::Api(ApiErrorShape {
            status: 500,
            message: "Parameter verification failed.".into(),
            param_errors: BTreeMap::new(),
        });
        match run.check(&expect, Err(wrong)) {
            Err(StepError::Failed(m)) => {
                assert!(m.contains("status 500 instead of 400"), "{m}");
                assert!(m.contains("no error for parameter \"vmid\""), "{m}");
            }
            _ => panic!("a wrong status must fail"),
        }
        assert!(matches!(
            run.check(&expect, Ok(Value::Null)),
            Err(StepError::Failed(_))
        ));
    }

    #[test]
    fn data_checks() {
        let p = profile();
        let run = Run::new(&p);
        let data = serde_json::json!([{"node": "pve1", "n": 3, "t": "TASK OK"}]);
        assert!(
            run.check_data(&Check::AnyElement("node", "{node}"), &data)
                .is_ok()
        );
        assert!(run.check_data(&Check::AnyElement("n", "3"), &data).is_ok());
        assert!(
            run.check_data(&Check::AnyElementContains("t", "OK"), &data)
                .is_ok()
        );
        assert!(
            run.check_data(&Check::AnyElement("node", "x"), &data)
                .is_err()
        );
        assert!(run.check_data(&Check::Upid, &data).is_err());
        assert!(run.check_data(&Check::NonEmpty, &data).is_ok());
        assert!(
            run.check_data(&Check::Type("/0/n", JsonType::Number), &data)
                .is_ok()
        );
        assert!(run.check_data(&Check::Equals("/0/n", "3"), &data).is_ok());
        assert!(run.check_data(&Check::Equals("/9", "3"), &data).is_err());
    }

    #[test]
    fn unsupported_driver_skips_instead_of_passing() {
        struct Nothing;
        impl Driver for Nothing {
            fn login_token(&mut self, _: &str, _: &str) -> Result<(), DriverError> {
                Err(DriverError::Unsupported("tokens".into()))
            }
            fn login_password(&mut self, _: &str, _: &str) -> Result<(), DriverError> {
                Err(DriverError::Unsupported("passwords".into()))
            }
            fn call(&mut self, _: &Call) -> Result<Value, DriverError> {
                Err(DriverError::Transport("no".into()))
            }
        }
        struct Peer(PeerProfile);
        impl PeerControl for Peer {
            fn profile(&self) -> PeerProfile {
                self.0.clone()
            }
            fn inject(&mut self, _: &Fault) -> Result<(), String> {
                Ok(())
            }
        }
        let report = run_scenarios(&mut Nothing, &mut Peer(profile()), &catalogue());
        assert_eq!(report.passed(), 0);
        assert_eq!(report.skipped(), report.results.len());
    }

    /// The catalogue calls every method of the common surface: through a surface step, or
    /// through the [`Driver`] methods every adapter implements with its client's method of the
    /// same name (`call`, `login`, `wait_task`); `core` is read by the accessors step.
    #[test]
    fn the_mirror_lists_the_catalogue_checksum() {
        assert!(MIRROR_SHA256SUMS.contains(&format!("{DL_SHA256} *mirror.iso\n")));
    }

    #[test]
    fn every_surface_method_is_called() {
        let mut called: Vec<&str> = vec!["call", "login", "wait_task", "core"];
        for sc in catalogue() {
            for step in &sc.steps {
                if let Step::Surface { op, .. } = step {
                    called.push(op.method());
                }
            }
        }
        let missing: Vec<&&str> = proxmox_proto::capability::SURFACE
            .iter()
            .filter(|m| !called.contains(m))
            .collect();
        assert!(
            missing.is_empty(),
            "not called by the catalogue: {missing:?}"
        );
    }

    #[test]
    fn every_template_variable_is_defined_or_saved_earlier() {
        let p = profile();
        let mut known: Vec<String> = Run::new(&p).vars.keys().cloned().collect();
        for sc in catalogue() {
            for step in &sc.steps {
                let mut texts: Vec<&str> = Vec::new();
                match step {
                    Step::Call {
                        path, params, save, ..
                    } => {
                        texts.push(path);
                        texts.extend(params.iter().map(|(_, v)| *v));
                        known.extend(save.iter().map(|(n, _)| (*n).to_owned()));
                    }
                    Step::Upload {
                        storage,
                        filename,
                        save,
                        ..
                    } => {
                        texts.push(storage);
                        texts.push(filename);
                        known.extend(save.iter().map(|(n, _)| (*n).to_owned()));
                    }
                    Step::WaitTask { upid, .. } => {
                        assert!(known.iter().any(|k| k == upid), "{upid} in {}", sc.name);
                    }
                    _ => {}
                }
                let mut texts: Vec<String> = texts.into_iter().map(str::to_owned).collect();
                if let Step::Surface { op, save, .. } = step {
                    let seen = std::cell::RefCell::new(Vec::new());
                    op.filled(&|t| {
                        seen.borrow_mut().push(t.to_owned());
                        Ok(t.to_owned())
                    })
                    .expect("filling never fails here");
                    texts.extend(seen.into_inner());
                    known.extend(save.iter().map(|(n, _)| (*n).to_owned()));
                }
                for t in &texts {
                    let mut rest: &str = t;
                    while let Some(o) = rest.find('{') {
                        let c = rest[o..].find('}').expect("closed") + o;
                        let name = &rest[o + 1..c];
                        assert!(known.iter().any(|k| k == name), "{name} in {}", sc.name);
                        rest = &rest[c + 1..];
                    }
                }
            }
        }
    }
}
