//! Shared simulator state: guests, storages, tasks, faults and the request log.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sha1::{Digest, Sha1};

use crate::clock::SimClock;
use crate::tls::Identity;
use crate::{Config, Service};

/// How a request authenticated itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthKind {
    /// No credentials were sent.
    None,
    /// A valid ticket in the cookie.
    TicketCookie,
    /// A valid ticket in `Authorization: PVEAuthCookie=...`.
    TicketHeader,
    /// A valid API token.
    Token,
    /// Credentials were sent but were rejected.
    Bad,
}

/// One request as the simulator saw it. Secrets are replaced by `<redacted>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// Connection number (1-based, in accept order): count distinct values to count connections.
    pub conn_id: u64,
    /// HTTP method.
    pub method: String,
    /// Path as sent, without the query string (still percent-encoded).
    pub path: String,
    /// Query pairs, decoded.
    pub query: Vec<(String, String)>,
    /// Form or JSON body pairs, decoded, secrets redacted (empty for uploads).
    pub form: Vec<(String, String)>,
    /// How the request authenticated.
    pub auth: AuthKind,
    /// Whether a `CSRFPreventionToken` header was present.
    pub csrf: bool,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Content-Length` header.
    pub content_length: Option<u64>,
    /// The `Transfer-Encoding` header, as sent.
    pub transfer_encoding: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The status answered (0 if the connection was dropped without an answer).
    pub status: u16,
    /// The node that received it (`pve1` for a single node; in a cluster, the node whose
    /// address the client connected to).
    pub node: String,
    /// Whether the request reached the API handler, which then acted on it (or refused it
    /// with an error of its own). `false` when the simulator answered or dropped it before
    /// that (a fault, a chunked or oversized body, an unknown method). Count the entries with
    /// `executed` to count how many times a write ran.
    pub executed: bool,
}

/// The outcome a planned task ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// `exitstatus: OK`, log ends with `TASK OK`.
    Ok,
    /// `exitstatus: WARNINGS: n`, log ends with `TASK WARNINGS: n`.
    Warnings(u32),
    /// `exitstatus: <msg>`, log ends with `TASK ERROR: <msg>`.
    Error(String),
}

/// A test hook for the next created task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskPlan {
    /// Simulated run time (default: the configured task duration).
    pub duration: Option<Duration>,
    /// How it ends.
    pub outcome: TaskOutcome,
    /// Extra log lines before the final line (to test paging).
    pub extra_log_lines: usize,
}

impl TaskPlan {
    /// A plan that ends with `outcome`, default duration, no extra lines.
    pub fn new(outcome: TaskOutcome) -> Self {
        Self {
            duration: None,
            outcome,
            extra_log_lines: 0,
        }
    }

    /// Set the simulated run time.
    pub fn duration(mut self, d: Duration) -> Self {
        self.duration = Some(d);
        self
    }

    /// Add `n` log lines before the final line.
    pub fn extra_log_lines(mut self, n: usize) -> Self {
        self.extra_log_lines = n;
        self
    }
}

/// What a matching fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// Wait this long (real time) before answering; the request is then handled normally.
    Delay(Duration),
    /// Read the whole request, then close the connection without answering.
    DropAfterRead,
    /// Answer with this status and raw reason phrase (may hold any bytes, even control
    /// characters) and a body (default `{"data":null}`), without running the request.
    Status {
        /// Status code.
        status: u16,
        /// Reason phrase, written as is.
        reason: String,
        /// Body, written as is.
        body: Option<String>,
    },
    /// Run the request (it takes effect), then answer with this status, reason and body
    /// instead of the handler's answer: what pveproxy does when its forwarding to the node
    /// that runs the call times out (596) while the node goes on with it.
    StatusAfterRunning {
        /// Status code.
        status: u16,
        /// Reason phrase, written as is.
        reason: String,
        /// Body, written as is.
        body: Option<String>,
    },
}

/// A fault rule: requests whose method and API path (after `/api2/json`) match get `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// Method to match (`None`: any).
    pub method: Option<String>,
    /// Prefix of the API path, e.g. `/nodes/pve1/qemu` (empty: any).
    pub path_prefix: String,
    /// How many matching calls it applies to (`None`: all).
    pub times: Option<u32>,
    /// What happens.
    pub action: FaultAction,
}

impl Fault {
    fn new(method: &str, path_prefix: &str, action: FaultAction) -> Self {
        Self {
            method: if method.is_empty() || method == "*" {
                None
            } else {
                Some(method.to_ascii_uppercase())
            },
            path_prefix: path_prefix.to_owned(),
            times: None,
            action,
        }
    }

    /// Answer `status reason` for matching calls (`method` `"*"` or `""` for any) *instead of*
    /// running them: the call has no effect (what pveproxy answers when it could not reach the
    /// node, 595, or failed before the node read the request, 596).
    pub fn status(method: &str, path_prefix: &str, status: u16, reason: &str) -> Self {
        Self::new(
            method,
            path_prefix,
            FaultAction::Status {
                status,
                reason: reason.to_owned(),
                body: None,
            },
        )
    }

    /// Run matching calls (they take effect), then answer `status reason` instead of their
    /// answer: pveproxy's 596 when its 30 s forwarding timeout ends while the target node still
    /// runs the call. The request log marks them [`LoggedRequest::executed`].
    pub fn status_after_running(
        method: &str,
        path_prefix: &str,
        status: u16,
        reason: &str,
    ) -> Self {
        Self::new(
            method,
            path_prefix,
            FaultAction::StatusAfterRunning {
                status,
                reason: reason.to_owned(),
                body: None,
            },
        )
    }

    /// Delay matching calls by `d` (real time).
    pub fn delay(method: &str, path_prefix: &str, d: Duration) -> Self {
        Self::new(method, path_prefix, FaultAction::Delay(d))
    }

    /// Read matching requests, then drop the connection without an answer.
    pub fn drop_after_read(method: &str, path_prefix: &str) -> Self {
        Self::new(method, path_prefix, FaultAction::DropAfterRead)
    }

    /// Apply only to the next `n` matching calls.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Replace the body of a [`FaultAction::Status`] or [`FaultAction::StatusAfterRunning`]
    /// fault.
    pub fn with_body(mut self, new_body: &str) -> Self {
        if let FaultAction::Status { body, .. } | FaultAction::StatusAfterRunning { body, .. } =
            &mut self.action
        {
            *body = Some(new_body.to_owned());
        }
        self
    }

    fn matches(&self, method: &str, api_path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && api_path.starts_with(&self.path_prefix)
    }
}

/// A file received by the upload endpoint (the bytes themselves are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadRecord {
    /// Node from the path.
    pub node: String,
    /// Storage from the path.
    pub storage: String,
    /// `content` field.
    pub content: String,
    /// File name from the file part's `filename="..."`.
    pub filename: String,
    /// Bytes received.
    pub size: u64,
    /// SHA-256 of the received bytes, lower-case hex.
    pub sha256: String,
    /// `checksum` field, if sent.
    pub checksum: Option<String>,
    /// `checksum-algorithm` field, if sent.
    pub checksum_algorithm: Option<String>,
    /// The UPID of the `imgcopy` task.
    pub upid: String,
}

/// A `download-url` call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadRecord {
    /// Storage from the path.
    pub storage: String,
    /// All parameters as sent (url, content, filename, checksum, ...).
    pub params: Vec<(String, String)>,
    /// The UPID of the `download` task.
    pub upid: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuestKind {
    Qemu,
    Lxc,
}

impl GuestKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Guest {
    pub(crate) vmid: u32,
    pub(crate) kind: GuestKind,
    pub(crate) node: String,
    pub(crate) running: bool,
    pub(crate) started_at: Duration,
    pub(crate) config: BTreeMap<String, String>,
}

impl Guest {
    pub(crate) fn name(&self) -> String {
        let key = if self.kind == GuestKind::Lxc {
            "hostname"
        } else {
            "name"
        };
        self.config
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("VM{}", self.vmid))
    }

    pub(crate) fn digest(&self) -> String {
        let mut h = Sha1::new();
        for (k, v) in &self.config {
            h.update(k.as_bytes());
            h.update(b": ");
            h.update(v.as_bytes());
            h.update(b"\n");
        }
        crate::util::hex(&h.finalize())
    }

    pub(crate) fn maxmem(&self) -> u64 {
        let mem = self
            .config
            .get("memory")
            .map(|m| m.trim_start_matches("current="))
            .and_then(|m| m.split(',').next())
            .and_then(|m| m.parse::<u64>().ok())
            .unwrap_or(512);
        mem.saturating_mul(1024 * 1024)
    }

    pub(crate) fn cpus(&self) -> u64 {
        self.config
            .get("cores")
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(1)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub(crate) volid: String,
    pub(crate) content: String,
    pub(crate) format: String,
    pub(crate) size: u64,
    pub(crate) ctime: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Storage {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) content: &'static str,
    pub(crate) volumes: Vec<Volume>,
}

/// What a task does to the state when it ends successfully.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    None,
    SetRunning(u32, bool),
    Destroy(u32),
    /// The guest was inserted at creation; remove it if the task fails.
    Created(u32),
    AddVolume(String, Volume),
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) upid: String,
    pub(crate) node: String,
    pub(crate) pid: u32,
    pub(crate) pstart: u32,
    pub(crate) starttime: u64,
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) start: Duration,
    pub(crate) duration: Duration,
    pub(crate) lines: Vec<String>,
    pub(crate) outcome: TaskOutcome,
    pub(crate) effect: Effect,
    pub(crate) lock_vmid: Option<u32>,
    /// Simulated end time once finished.
    pub(crate) ended: Option<Duration>,
    pub(crate) interrupted: bool,
}

impl Task {
    pub(crate) fn running(&self) -> bool {
        self.ended.is_none()
    }

    pub(crate) fn exitstatus(&self) -> String {
        if self.interrupted {
            return "interrupted by signal".to_owned();
        }
        match &self.outcome {
            TaskOutcome::Ok => "OK".to_owned(),
            TaskOutcome::Warnings(n) => format!("WARNINGS: {n}"),
            TaskOutcome::Error(m) => m.clone(),
        }
    }

    /// The log lines visible at `now`.
    pub(crate) fn log(&self, now: Duration) -> Vec<String> {
        if self.ended.is_some() {
            let mut v = self.lines.clone();
            if self.interrupted {
                v.push("received interrupt".to_owned());
                v.push("TASK ERROR: interrupted by signal".to_owned());
                return v;
            }
            v.push(match &self.outcome {
                TaskOutcome::Ok => "TASK OK".to_owned(),
                TaskOutcome::Warnings(n) => format!("TASK WARNINGS: {n}"),
                TaskOutcome::Error(m) => format!("TASK ERROR: {m}"),
            });
            v
        } else {
            let elapsed = now.saturating_sub(self.start).as_secs_f64();
            let total = self.duration.as_secs_f64().max(f64::MIN_POSITIVE);
            let frac = (elapsed / total).clamp(0.0, 1.0);
            let n = (self.lines.len() as f64 * frac).floor() as usize;
            self.lines.iter().take(n).cloned().collect()
        }
    }
}

/// A registered user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) password: String,
    pub(crate) tfa: bool,
}

/// Everything mutable behind one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) users: HashMap<String, User>,
    pub(crate) tokens: HashMap<String, String>,
    pub(crate) recovery_used: HashSet<usize>,
    pub(crate) tfa_failures: HashMap<String, u32>,
    pub(crate) key_epoch: u64,
    pub(crate) guests: BTreeMap<u32, Guest>,
    pub(crate) storages: Vec<Storage>,
    pub(crate) datastores: Vec<String>,
    pub(crate) tasks: Vec<Task>,
    pub(crate) next_pid: u32,
    /// Guest-agent `exec` requests: (vmid, pid, argv).
    pub(crate) agent_execs: Vec<(u32, u32, Vec<String>)>,
    pub(crate) task_plans: VecDeque<TaskPlan>,
    pub(crate) task_duration: Duration,
    pub(crate) faults: Vec<Fault>,
    pub(crate) drop_connections: u32,
    pub(crate) keepalive_idle: Option<Duration>,
    pub(crate) offline_nodes: HashSet<String>,
    pub(crate) log: Vec<LoggedRequest>,
    pub(crate) uploads: Vec<UploadRecord>,
    pub(crate) downloads: Vec<DownloadRecord>,
    pub(crate) nodes: Vec<String>,
    /// Console sessions (termproxy, VNC) and their settings.
    pub(crate) consoles: crate::console::Consoles,
}

/// State shared by all connection threads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) clock: SimClock,
    pub(crate) ident: Identity,
    pub(crate) tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// The nodes of a cluster (empty for a single node).
    pub(crate) cluster: Vec<std::sync::Arc<crate::cluster::NodeCtl>>,
    /// The cluster's CA (PEM), which signed every node's certificate.
    pub(crate) cluster_ca_pem: Option<String>,
    /// The cluster CA, to sign renewed node certificates.
    pub(crate) cluster_ca: Option<crate::tls::ClusterCa>,
    /// Secret for ticket and CSRF signatures (never sent).
    pub(crate) secret: [u8; 32],
    pub(crate) state: Mutex<State>,
    pub(crate) conn_counter: AtomicU64,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    pub(crate) open_conns: Mutex<HashMap<u64, TcpStream>>,
    /// What the hostile routes read ([`crate::Config::hostile`]).
    pub(crate) hostile_seen: Mutex<Vec<crate::hostile::Seen>>,
}

fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Shared {
    pub(crate) fn new(config: Config, clock: SimClock, ident: Identity) -> std::io::Result<Self> {
        let tls = if config.plain_http {
            None
        } else {
            Some(ident.server_config().map_err(std::io::Error::other)?)
        };
        let secret = crate::util::keyed_hash(b"proxmox-sim-secret", &[&ident.key_der]);
        let node = config.service.node().to_owned();
        let now = clock.now();
        let mut users = HashMap::new();
        users.insert(
            crate::ROOT_USER.to_owned(),
            User {
                password: config.root_password.clone(),
                tfa: false,
            },
        );
        users.insert(
            crate::TFA_USER.to_owned(),
            User {
                password: crate::TFA_PASSWORD.to_owned(),
                tfa: true,
            },
        );
        users.insert(
            crate::LIMITED_USER.to_owned(),
            User {
                password: crate::LIMITED_PASSWORD.to_owned(),
                tfa: false,
            },
        );
        let mut tokens = HashMap::new();
        if config.service != Service::Pmg {
            tokens.insert(crate::TOKEN_ID.to_owned(), config.token_secret.clone());
        }
        let mut guests = BTreeMap::new();
        if config.service == Service::Pve {
            let g = |vmid, kind, running, c: &[(&str, &str)]| Guest {
                vmid,
                kind,
                node: node.clone(),
                running,
                started_at: now,
                config: cfg(c),
            };
            guests.insert(
                100,
                g(
                    100,
                    GuestKind::Qemu,
                    true,
                    &[
                        ("name", "web1"),
                        ("memory", "2048"),
                        ("cores", "2"),
                        ("scsi0", "local-lvm:vm-100-disk-0,size=32G"),
                        ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0"),
                        ("agent", "1"),
                    ],
                ),
            );
            guests.insert(
                101,
                g(
                    101,
                    GuestKind::Qemu,
                    false,
                    &[("name", "slowvm"), ("memory", "1024"), ("agent", "1")],
                ),
            );
            guests.insert(
                200,
                g(
                    200,
                    GuestKind::Lxc,
                    true,
                    &[
                        ("hostname", "ct1"),
                        ("memory", "512"),
                        ("rootfs", "local-lvm:vm-200-disk-0,size=8G"),
                    ],
                ),
            );
            for i in 0..config.generated_guests {
                let vmid = 1000 + i as u32;
                let kind = if i % 4 == 3 {
                    GuestKind::Lxc
                } else {
                    GuestKind::Qemu
                };
                let name = format!("gen{vmid}");
                let namekey = if kind == GuestKind::Lxc {
                    "hostname"
                } else {
                    "name"
                };
                guests.insert(
                    vmid,
                    g(
                        vmid,
                        kind,
                        i % 2 == 0,
                        &[(namekey, name.as_str()), ("memory", "1024"), ("cores", "1")],
                    ),
                );
            }
        }
        let storages = vec![
            Storage {
                name: "local".into(),
                kind: "dir",
                content: "iso,vztmpl,backup",
                volumes: Vec::new(),
            },
            Storage {
                name: "local-lvm".into(),
                kind: "lvmthin",
                content: "images,rootdir",
                volumes: Vec::new(),
            },
        ];
        let state = State {
            users,
            tokens,
            recovery_used: HashSet::new(),
            tfa_failures: HashMap::new(),
            key_epoch: 0,
            guests,
            storages,
            datastores: vec!["store1".into(), "store2".into()],
            tasks: Vec::new(),
            next_pid: 1000,
            agent_execs: Vec::new(),
            task_plans: VecDeque::new(),
            task_duration: config.task_duration,
            faults: Vec::new(),
            drop_connections: 0,
            keepalive_idle: config.keepalive_idle,
            offline_nodes: HashSet::new(),
            log: Vec::new(),
            uploads: Vec::new(),
            downloads: Vec::new(),
            nodes: if config.service == Service::Pve && config.nodes > 1 {
                (1..=config.nodes).map(|i| format!("pve{i}")).collect()
            } else {
                vec![node]
            },
            consoles: crate::console::Consoles::default(),
        };
        Ok(Self {
            config,
            clock,
            ident,
            tls,
            cluster: Vec::new(),
            cluster_ca_pem: None,
            cluster_ca: None,
            secret,
            state: Mutex::new(state),
            conn_counter: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            stopping: std::sync::atomic::AtomicBool::new(false),
            open_conns: Mutex::new(HashMap::new()),
            hostile_seen: Mutex::new(Vec::new()),
        })
    }

    /// The name of node `index` (the single node's name outside a cluster).
    pub(crate) fn node_name(&self, index: usize) -> String {
        match self.cluster.get(index) {
            Some(c) => c.name.clone(),
            None => self.config.service.node().to_owned(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Parameters for a new task.
pub(crate) struct NewTask<'a> {
    pub(crate) node: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) id: &'a str,
    pub(crate) user: &'a str,
    pub(crate) lines: Vec<String>,
    /// Failure decided by the simulation itself (e.g. "VM 100 already running").
    pub(crate) error: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) lock_vmid: Option<u32>,
}

/// systemd-style escaping of a PBS worker id.
fn systemd_escape(s: &str) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => out.push(char::from(b)),
            b'.' if i > 0 => out.push('.'),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

impl State {
    /// Finish tasks whose time is up and apply their effects.
    pub(crate) fn tick(&mut self, now: Duration) {
        let mut effects = Vec::new();
        for t in &mut self.tasks {
            if t.ended.is_none() && now >= t.start + t.duration {
                t.ended = Some(t.start + t.duration);
                let ok = !matches!(t.outcome, TaskOutcome::Error(_));
                effects.push((t.effect.clone(), ok));
            }
        }
        for (effect, ok) in effects {
            self.apply(effect, ok);
        }
    }

    fn apply(&mut self, effect: Effect, ok: bool) {
        match effect {
            Effect::None => {}
            Effect::SetRunning(vmid, running) => {
                if ok && let Some(g) = self.guests.get_mut(&vmid) {
                    g.running = running;
                }
            }
            Effect::Destroy(vmid) => {
                if ok {
                    self.guests.remove(&vmid);
                }
            }
            Effect::Created(vmid) => {
                if !ok {
                    self.guests.remove(&vmid);
                }
            }
            Effect::AddVolume(storage, vol) => {
                if ok && let Some(s) = self.storages.iter_mut().find(|s| s.name == storage) {
                    s.volumes.retain(|v| v.volid != vol.volid);
                    s.volumes.push(vol);
                }
            }
        }
    }

    /// Whether a running task holds the config lock of `vmid`.
    pub(crate) fn locked(&self, vmid: u32) -> bool {
        self.tasks
            .iter()
            .any(|t| t.running() && t.lock_vmid == Some(vmid))
    }

    /// Create a task; returns its UPID.
    pub(crate) fn new_task(&mut self, service: Service, now: Duration, t: NewTask<'_>) -> String {
        let plan = self.task_plans.pop_front();
        let duration = plan
            .as_ref()
            .and_then(|p| p.duration)
            .unwrap_or(self.task_duration);
        let mut lines = t.lines;
        if let Some(p) = &plan {
            for i in 0..p.extra_log_lines {
                lines.push(format!("simulated log line {}", i + 1));
            }
        }
        let outcome = match (t.error, plan.map(|p| p.outcome)) {
            (Some(e), _) => TaskOutcome::Error(e),
            (None, Some(o)) => o,
            (None, None) => TaskOutcome::Ok,
        };
        match &outcome {
            TaskOutcome::Warnings(n) => {
                for i in 0..*n {
                    lines.push(format!("WARN: simulated warning {}", i + 1));
                }
            }
            TaskOutcome::Error(m) => lines.push(m.clone()),
            TaskOutcome::Ok => {}
        }
        let pid = self.next_pid;
        self.next_pid += 1;
        let pstart = 7000 + pid;
        let starttime = now.as_secs();
        let upid = match service {
            Service::Pbs => format!(
                "UPID:{}:{:08X}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
                t.node,
                pid,
                pstart,
                self.tasks.len(),
                starttime,
                t.kind,
                systemd_escape(t.id),
                t.user
            ),
            _ => format!(
                "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
                t.node, pid, pstart, starttime, t.kind, t.id, t.user
            ),
        };
        self.tasks.push(Task {
            upid: upid.clone(),
            node: t.node.to_owned(),
            pid,
            pstart,
            starttime,
            kind: t.kind.to_owned(),
            id: t.id.to_owned(),
            user: t.user.to_owned(),
            start: now,
            duration,
            lines,
            outcome,
            effect: t.effect,
            lock_vmid: t.lock_vmid,
            ended: None,
            interrupted: false,
        });
        self.tick(now);
        upid
    }

    /// Stop a running task (DELETE on the task).
    pub(crate) fn stop_task(&mut self, upid: &str, now: Duration) -> bool {
        let mut effect = None;
        let mut found = false;
        if let Some(t) = self.tasks.iter_mut().find(|t| t.upid == upid) {
            found = true;
            if t.ended.is_none() {
                t.ended = Some(now);
                t.interrupted = true;
                effect = Some(t.effect.clone());
            }
        }
        if let Some(e) = effect {
            self.apply(e, false);
        }
        found
    }

    /// Match fault rules: (total delay, terminal action).
    pub(crate) fn match_faults(
        &mut self,
        method: &str,
        api_path: &str,
    ) -> (Duration, Option<FaultAction>) {
        match_faults(&mut self.faults, method, api_path)
    }
}

/// Apply matching rules: delays add up, the first terminal action wins, counts go down.
fn match_faults(
    faults: &mut Vec<Fault>,
    method: &str,
    api_path: &str,
) -> (Duration, Option<FaultAction>) {
    let mut delay = Duration::ZERO;
    let mut terminal = None;
    for f in faults.iter_mut() {
        if f.times == Some(0) || !f.matches(method, api_path) {
            continue;
        }
        match &f.action {
            FaultAction::Delay(d) => delay += *d,
            other => {
                if terminal.is_some() {
                    continue;
                }
                terminal = Some(other.clone());
            }
        }
        if let Some(n) = &mut f.times {
            *n -= 1;
        }
    }
    faults.retain(|f| f.times != Some(0));
    (delay, terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_escape_like_pbs() {
        assert_eq!(systemd_escape("store1:vm/100"), "store1\\x3avm-100");
    }

    #[test]
    fn faults_count_down_and_combine() {
        let mut f = vec![
            Fault::delay("*", "/nodes", Duration::from_millis(5)),
            Fault::status("GET", "/nodes", 500, "x").times(2),
            Fault::drop_after_read("GET", "/nodes").times(1),
        ];
        let (d, a) = match_faults(&mut f, "POST", "/nodes/pve1");
        assert_eq!((d, a), (Duration::from_millis(5), None));
        let (_, a) = match_faults(&mut f, "GET", "/nodes/pve1");
        assert!(matches!(a, Some(FaultAction::Status { status: 500, .. })));
        // The drop rule was not consumed while the status rule won.
        assert_eq!(f.len(), 3);
        let (_, a) = match_faults(&mut f, "GET", "/nodes/pve1");
        assert!(matches!(a, Some(FaultAction::Status { .. })));
        assert_eq!(f.len(), 2);
        let (_, a) = match_faults(&mut f, "GET", "/version");
        assert_eq!(a, None);
        let (_, a) = match_faults(&mut f, "GET", "/nodes");
        assert_eq!(a, Some(FaultAction::DropAfterRead));
        assert_eq!(f.len(), 1);
    }
}
