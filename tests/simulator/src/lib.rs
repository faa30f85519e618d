//! A simulator of the Proxmox VE, PMG and PBS HTTP APIs, for tests.
//!
//! It is the independent reference the client is tested against, so it does not use
//! `proxmox-proto`: every wire format is written again here, from the server's side.
//!
//! What it serves:
//!
//! - HTTPS with a certificate generated at start (self-signed, `CA:FALSE`, SAN `127.0.0.1`, `::1`,
//!   `localhost`), which rustls accepts as a trust anchor; plain HTTP only with
//!   [`Config::plain_http`].
//! - Login with real-looking tickets (`PVE:user@realm:HEXTIME::sig`) checked on every call,
//!   2 h expiry in simulated time, renewal with the ticket as the password, CSRF tokens required
//!   on non-GET calls with a ticket, API tokens (`PVEAPIToken=u@r!id=secret`,
//!   `PBSAPIToken=u@r!id:secret`), TFA (half ticket, TOTP, recovery keys, lockout).
//! - PVE nodes, qemu/lxc guests, storage, upload, download-url, tasks with UPIDs and paged logs;
//!   a few PBS and PMG endpoints with their own task formats.
//! - PVE consoles: `termproxy`, `vncshell`/`vncproxy` and `spiceproxy`, and the `vncwebsocket`
//!   upgrade to a fake shell (termproxy's protocol) or a small RFB server
//!   ([`Simulator::console_sessions`]).
//! - PVE's error wire format (the reason phrase carries the message).
//! - Fault injection ([`Fault`]) and a request log ([`LoggedRequest`]).
//!
//! Time: a [`SimClock`] that tests advance, so a 2-hour ticket expiry takes milliseconds.
//!
//! # Testing your own code against it
//!
//! Two lines give a client its address and its certificate: [`Simulator::url`] is accepted by
//! every client builder as the address, [`Simulator::fingerprint`] by `.fingerprint()`. The
//! accounts are [`ROOT_USER`] / [`Config::root_password`] and the token [`TOKEN_ID`] /
//! [`Config::token_secret`].
//!
//! Tasks and the clock: a task ends when [`Config::task_duration`] (default 0: at once) of
//! *simulated* time has passed. With the default [`ClockMode::Manual`] the simulated time only
//! moves when the test calls [`SimClock::advance`], so with a non-zero `task_duration` a task
//! never ends unless the test advances the clock; [`ClockMode::Realtime`] lets simulated time
//! follow the real clock (what the examples use, with tasks of 1.5 s).
//!
//! ```no_run
//! use proxmox_sim::{Config, Service, Simulator};
//! let sim = Simulator::start(Config::new(Service::Pve)).expect("start");
//! // let client = proxmox_ureq::Client::builder(&sim.url()).fingerprint(sim.fingerprint())
//! //     .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET).build()?;
//! println!("{} trusts {}", sim.url(), sim.fingerprint());
//! sim.clock().advance(std::time::Duration::from_secs(7200));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod auth;
mod clock;
mod cluster;
mod console;
mod hostile;
mod http;
mod state;
mod tls;
mod upload;
mod util;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use clock::{ClockMode, SimClock};
pub use cluster::NodeMode;
pub use console::{ConsoleEnd, ConsoleKind, ConsoleRecord};
pub use state::{
    AuthKind, DownloadRecord, Fault, FaultAction, LoggedRequest, TaskOutcome, TaskPlan,
    UploadRecord,
};

/// The `root@pam` user name.
pub const ROOT_USER: &str = "root@pam";
/// Default password of `root@pam`.
pub const ROOT_PASSWORD: &str = "secret";
/// The API token id that exists by default (`root@pam!ci`).
pub const TOKEN_ID: &str = "root@pam!ci";
/// Default secret of [`TOKEN_ID`].
pub const TOKEN_SECRET: &str = "11111111-2222-3333-4444-555555555555";
/// A user with TOTP and recovery keys: the first login step answers `NeedTFA`.
pub const TFA_USER: &str = "tfa@pve";
/// Password of [`TFA_USER`].
pub const TFA_PASSWORD: &str = "tfapass";
/// The TOTP code the simulator accepts for [`TFA_USER`] (at any time).
pub const TOTP_CODE: &str = "123456";
/// Recovery keys of [`TFA_USER`]; each works once (indices 0, 1, 2 in the challenge).
pub const RECOVERY_KEYS: [&str; 3] = ["aaaa-bbbb-cccc", "dddd-eeee-ffff", "1111-2222-3333"];
/// A user with `VM.Audit` on `/vms/100` only (PVE): other guests answer 403.
pub const LIMITED_USER: &str = "alice@pve";
/// Password of [`LIMITED_USER`].
pub const LIMITED_PASSWORD: &str = "alicepw";

/// Which product the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Proxmox VE (`PVEAuthCookie`, `PVEAPIToken=u@r!id=secret`, node `pve1`).
    Pve,
    /// Proxmox Mail Gateway (`PMGAuthCookie`, no API tokens, node `pmg1`).
    Pmg,
    /// Proxmox Backup Server (`__Host-PBSAuthCookie`/`PBSAuthCookie`,
    /// `PBSAPIToken=u@r!id:secret`, 10-field UPIDs, node `pbs1`).
    Pbs,
}

impl Service {
    /// Ticket prefix and product tag: `PVE`, `PMG` or `PBS`.
    pub fn tag(self) -> &'static str {
        match self {
            Service::Pve => "PVE",
            Service::Pmg => "PMG",
            Service::Pbs => "PBS",
        }
    }

    /// The usual port of the real product (8006 for PVE and PMG, 8007 for PBS).
    pub fn default_port(self) -> u16 {
        match self {
            Service::Pbs => 8007,
            _ => 8006,
        }
    }

    /// The node name the simulator uses.
    pub fn node(self) -> &'static str {
        match self {
            Service::Pve => "pve1",
            Service::Pmg => "pmg1",
            Service::Pbs => "pbs1",
        }
    }

    /// Parse `pve`, `pmg` or `pbs` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pve" => Some(Service::Pve),
            "pmg" => Some(Service::Pmg),
            "pbs" => Some(Service::Pbs),
            _ => None,
        }
    }
}

/// Start-up configuration. [`Config::new`] gives deterministic test defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Which product to play.
    pub service: Service,
    /// Address to bind (default `127.0.0.1`).
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Serve plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// How the simulated clock moves (default [`ClockMode::Manual`]).
    pub clock: ClockMode,
    /// Simulated start time since the Unix epoch (default: the real time at start, whole seconds).
    pub start_time: Option<Duration>,
    /// Password of `root@pam`.
    pub root_password: String,
    /// Secret of the `root@pam!ci` API token.
    pub token_secret: String,
    /// How long tasks run in simulated time unless a [`TaskPlan`] says otherwise (default 0).
    pub task_duration: Duration,
    /// Extra guests generated on start (for `cluster/resources` benchmarks), VMIDs from 1000.
    pub generated_guests: usize,
    /// Close keep-alive connections idle this long, in real time (default 5 s like pveproxy).
    pub keepalive_idle: Option<Duration>,
    /// Real delay before every 401 answer (PVE waits 3 s; default 0).
    pub unauthorized_delay: Duration,
    /// Put `message` into error bodies like pve-http-server 5.2+ (default true).
    pub error_message_in_body: bool,
    /// Serve this directory at `/dashboard/` (same origin, no auth).
    pub static_dir: Option<PathBuf>,
    /// The API viewer's schema, served without auth where the product serves it (PVE
    /// `/pve-docs/api-viewer/apidoc.js`, PMG `/pmg-docs/…`, PBS `/docs/…`) as
    /// `const apiSchema = <this JSON>;`; `None` answers 404 there, as a node without the docs
    /// package does.
    pub api_schema: Option<String>,
    /// Failed TFA second steps before the user is locked out (default 5).
    pub tfa_lockout_after: u32,
    /// Serve the hostile routes under `/hostile/` (default false; binary flag `--hostile`):
    /// huge, endless, deep, malformed and stalling answers for clients' hostile-input tests.
    /// See the table in the crate's README.
    pub hostile: bool,
    /// Nodes of the simulated PVE cluster (default 1; binary flag `--nodes N`). With more
    /// than one, node `i` (`pve{i}`) listens on `127.0.0.{i}` (same port as the first when
    /// it is free) with its own certificate, signed by a cluster CA ([`Simulator::ca_pem`]);
    /// calls for another node are forwarded as pveproxy does (595 when it cannot be
    /// reached); [`Simulator::set_node_mode`] stops, blackholes or partitions a node.
    pub nodes: usize,
}

impl Config {
    /// Defaults for `service`: free port on 127.0.0.1, HTTPS, manual clock, tasks finish at once.
    pub fn new(service: Service) -> Self {
        Self {
            service,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            plain_http: false,
            clock: ClockMode::Manual,
            start_time: None,
            root_password: ROOT_PASSWORD.to_owned(),
            token_secret: TOKEN_SECRET.to_owned(),
            task_duration: Duration::ZERO,
            generated_guests: 0,
            keepalive_idle: Some(Duration::from_secs(5)),
            unauthorized_delay: Duration::ZERO,
            error_message_in_body: true,
            static_dir: None,
            api_schema: None,
            tfa_lockout_after: 5,
            hostile: false,
            nodes: 1,
        }
    }
}

/// A running simulator. Stops on [`Simulator::shutdown`] or drop.
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<state::Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    /// A cluster's node threads.
    nodes: Vec<JoinHandle<()>>,
}

impl Simulator {
    /// Bind, generate the certificate and start serving on a background thread.
    pub fn start(config: Config) -> std::io::Result<Simulator> {
        let start = config.start_time.unwrap_or_else(|| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::from_secs(1_800_000_000));
            Duration::from_secs(now.as_secs())
        });
        let clock = SimClock::new(start, config.clock);
        if config.nodes > 1 && config.service == Service::Pve {
            return Self::start_cluster(config, clock);
        }
        let ident = tls::Identity::generate(config.bind)
            .map_err(|e| std::io::Error::other(format!("certificate generation failed: {e}")))?;
        let listener = TcpListener::bind(SocketAddr::new(config.bind, config.port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(state::Shared::new(config, clock, ident)?);
        let sh = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("proxmox-sim-accept".into())
            .spawn(move || http::accept_loop(sh, listener))?;
        Ok(Simulator {
            shared,
            addr,
            accept: Some(accept),
            nodes: Vec::new(),
        })
    }

    /// Start a cluster of `config.nodes` PVE nodes (see [`Config::nodes`]).
    fn start_cluster(config: Config, clock: SimClock) -> std::io::Result<Simulator> {
        let gen_err =
            |e: rcgen::Error| std::io::Error::other(format!("certificate generation failed: {e}"));
        let first = TcpListener::bind(SocketAddr::new(config.bind, config.port))?;
        let port = first.local_addr()?.port();
        let mut listeners = vec![first];
        for i in 2..=config.nodes {
            // 127.0.0.i on the same port, like a cluster's nodes; another port if taken.
            let ip = match config.bind {
                IpAddr::V4(v4) if v4.is_loopback() => {
                    IpAddr::V4(Ipv4Addr::new(127, 0, 0, i.min(254) as u8))
                }
                other => other,
            };
            let l = TcpListener::bind(SocketAddr::new(ip, port))
                .or_else(|_| TcpListener::bind(SocketAddr::new(ip, 0)))?;
            listeners.push(l);
        }
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<std::io::Result<Vec<_>>>()?;
        let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
        let (ca, idents) = tls::Identity::generate_cluster(&ips).map_err(gen_err)?;
        let plain = config.plain_http;
        let mut ctls = Vec::new();
        for (i, (ident, addr)) in idents.into_iter().zip(&addrs).enumerate() {
            let tls = if plain {
                None
            } else {
                Some(ident.server_config().map_err(std::io::Error::other)?)
            };
            ctls.push(Arc::new(cluster::NodeCtl::new(
                format!("pve{}", i + 1),
                *addr,
                ident,
                tls,
            )));
        }
        let first_ident = ctls[0].ident();
        let mut shared = state::Shared::new(config, clock, first_ident)?;
        shared.tls = ctls[0].tls();
        shared.cluster = ctls;
        shared.cluster_ca_pem = Some(ca.pem());
        shared.cluster_ca = Some(ca);
        let shared = Arc::new(shared);
        let mut threads = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            l.set_nonblocking(true)?;
            let sh = Arc::clone(&shared);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("proxmox-sim-node-{}", i + 1))
                    .spawn(move || cluster::node_loop(sh, i, l))?,
            );
        }
        Ok(Simulator {
            shared,
            addr: addrs[0],
            accept: None,
            nodes: threads,
        })
    }

    /// The nodes' names (`pve1`, …), in order; one name outside a cluster.
    pub fn node_names(&self) -> Vec<String> {
        if self.shared.cluster.is_empty() {
            return vec![self.shared.config.service.node().to_owned()];
        }
        self.shared.cluster.iter().map(|c| c.name.clone()).collect()
    }

    /// Every node's address for a client builder (`https://127.0.0.{i}:PORT`), in order.
    pub fn node_urls(&self) -> Vec<String> {
        if self.shared.cluster.is_empty() {
            return vec![self.url()];
        }
        let scheme = if self.shared.config.plain_http {
            "http"
        } else {
            "https"
        };
        self.shared
            .cluster
            .iter()
            .map(|c| format!("{scheme}://{}", c.addr))
            .collect()
    }

    /// The SHA-256 fingerprint of node `name`'s certificate (`AB:CD:…`), as it is now.
    pub fn node_fingerprint(&self, name: &str) -> Option<String> {
        if self.shared.cluster.is_empty() {
            return (name == self.shared.config.service.node()).then(|| self.fingerprint().into());
        }
        self.shared
            .cluster
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.fingerprint())
    }

    /// Give node `name` (cluster simulators) a new certificate, as `pvenode cert set` or an
    /// ACME renewal does: signed by the cluster CA (`by_cluster_ca`), or self-signed (a node
    /// reinstalled, or someone in the middle). New connections get it; returns its
    /// fingerprint, or `None` when there is no such node.
    pub fn renew_node_certificate(&self, name: &str, by_cluster_ca: bool) -> Option<String> {
        let (i, ctl) = self
            .shared
            .cluster
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)?;
        let ca = if by_cluster_ca {
            self.shared.cluster_ca.as_ref()
        } else {
            None
        };
        let ident = tls::Identity::node(i + 1, ctl.addr.ip(), ca).ok()?;
        let fp = ident.fingerprint.clone();
        ctl.renew(ident).ok()?;
        Some(fp)
    }

    /// The most requests node `name` handled at once since the log was cleared (cluster
    /// simulators; `None` when there is no such node).
    pub fn node_max_in_flight(&self, name: &str) -> Option<usize> {
        self.shared
            .cluster
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.max_in_flight.load(Ordering::SeqCst))
    }

    /// Stop, restart, blackhole or partition node `name` (cluster simulators); `false` when
    /// there is no such node.
    pub fn set_node_mode(&self, name: &str, mode: NodeMode) -> bool {
        match self.shared.cluster.iter().find(|c| c.name == name) {
            Some(c) => {
                c.set_mode(mode);
                true
            }
            None => false,
        }
    }

    /// The service this simulator plays.
    pub fn service(&self) -> Service {
        self.shared.config.service
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` (or `http://` with [`Config::plain_http`]), without a path.
    pub fn base_url(&self) -> String {
        let scheme = if self.shared.config.plain_http {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The directory served at `/dashboard/` ([`Config::static_dir`]), if any.
    pub fn static_dir(&self) -> Option<&std::path::Path> {
        self.shared.config.static_dir.as_deref()
    }

    /// The address to give a client builder: [`Simulator::base_url`].
    pub fn url(&self) -> String {
        self.base_url()
    }

    /// The certificate's SHA-256 fingerprint, for a client builder's `.fingerprint()`:
    /// [`Simulator::fingerprint_sha256`].
    pub fn fingerprint(&self) -> &str {
        self.fingerprint_sha256()
    }

    /// `base_url()` + `/api2/json`.
    pub fn api_url(&self) -> String {
        format!("{}/api2/json", self.base_url())
    }

    /// The certificate (PEM) a client should trust: the cluster's CA for a cluster, else the
    /// node's own certificate.
    pub fn ca_pem(&self) -> &str {
        match &self.shared.cluster_ca_pem {
            Some(ca) => ca,
            None => &self.shared.ident.cert_pem,
        }
    }

    /// The certificate in DER form.
    pub fn cert_der(&self) -> &[u8] {
        &self.shared.ident.cert_der
    }

    /// SHA-256 fingerprint of the certificate DER, upper-case colon hex.
    pub fn fingerprint_sha256(&self) -> &str {
        &self.shared.ident.fingerprint
    }

    /// The simulated clock.
    pub fn clock(&self) -> &SimClock {
        &self.shared.clock
    }

    /// The `root@pam` password.
    pub fn root_password(&self) -> &str {
        &self.shared.config.root_password
    }

    /// The full token header value for `root@pam!ci` in this service's format
    /// (`PVEAPIToken=root@pam!ci=SECRET` or `PBSAPIToken=root@pam!ci:SECRET`; PMG has none).
    pub fn token_header(&self) -> Option<String> {
        let s = &self.shared.config.token_secret;
        match self.service() {
            Service::Pve => Some(format!("PVEAPIToken={TOKEN_ID}={s}")),
            Service::Pbs => Some(format!("PBSAPIToken={TOKEN_ID}:{s}")),
            Service::Pmg => None,
        }
    }

    /// Add a fault rule (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Remove all fault rules and pending connection drops.
    pub fn clear_faults(&self) {
        let mut st = self.shared.lock();
        st.faults.clear();
        st.drop_connections = 0;
    }

    /// Close the next `n` accepted connections before reading any request (after the TLS
    /// handshake).
    pub fn drop_next_connections(&self, n: u32) {
        self.shared.lock().drop_connections = n;
    }

    /// Invalidate every ticket and CSRF token issued so far (rotates the signing key).
    pub fn expire_all_tickets(&self) {
        self.shared.lock().key_epoch += 1;
    }

    /// Change the keep-alive idle timeout for new waits (`None`: never close idle connections).
    pub fn set_keepalive_idle(&self, idle: Option<Duration>) {
        self.shared.lock().keepalive_idle = idle;
    }

    /// Mark a node offline: calls under `/nodes/{node}` answer `595 No route to host`.
    pub fn set_node_offline(&self, node: &str, offline: bool) {
        let mut st = self.shared.lock();
        if offline {
            st.offline_nodes.insert(node.to_owned());
        } else {
            st.offline_nodes.remove(node);
        }
    }

    /// Plan the next task created (outcome, duration, extra log lines); plans queue up.
    pub fn plan_next_task(&self, plan: TaskPlan) {
        self.shared.lock().task_plans.push_back(plan);
    }

    /// Change the default simulated task duration.
    pub fn set_task_duration(&self, d: Duration) {
        self.shared.lock().task_duration = d;
    }

    /// Every request seen so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    /// Forget the request log and reset the in-flight maximum.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
        for c in &self.shared.cluster {
            c.max_in_flight.store(0, Ordering::SeqCst);
        }
    }

    /// Number of TCP connections accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.conn_counter.load(Ordering::SeqCst)
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The highest number of requests that were being handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Files received by the upload endpoint.
    pub fn uploads(&self) -> Vec<UploadRecord> {
        self.shared.lock().uploads.clone()
    }

    /// Calls to `download-url`.
    pub fn downloads(&self) -> Vec<DownloadRecord> {
        self.shared.lock().downloads.clone()
    }

    /// Whether `userid` is locked out after failed TFA attempts.
    pub fn tfa_locked(&self, userid: &str) -> bool {
        let st = self.shared.lock();
        st.tfa_failures.get(userid).copied().unwrap_or(0) >= self.shared.config.tfa_lockout_after
    }

    /// Move guest `vmid` to node `node` (cluster simulators), as a finished migration
    /// leaves it: listed there by `/cluster/resources`, and its old node answers 500
    /// `Configuration file '…' does not exist`. `false` when there is no such guest or node.
    pub fn migrate_guest(&self, vmid: u32, node: &str) -> bool {
        if !self.node_names().iter().any(|n| n == node) {
            return false;
        }
        let mut st = self.shared.lock();
        match st.guests.get_mut(&vmid) {
            Some(g) => {
                g.node = node.to_owned();
                true
            }
            None => false,
        }
    }

    /// The console sessions opened so far (`termproxy`, `vncshell`, `vncproxy` POSTs), oldest
    /// first, with what their WebSocket did: login, keepalives, size, input, how it ended.
    pub fn console_sessions(&self) -> Vec<ConsoleRecord> {
        let now = self.shared.clock.now();
        self.shared.lock().consoles.records(now)
    }

    /// Whether consoles accept API tokens (default `true`, as pve-manager 9.0.13, qemu-server
    /// 9.1.7 and pve-container 6.1.3 do). `false` plays the older servers: the node's
    /// `termproxy` (and its `vncwebsocket`) answers a token 500 `value 'root@pam!ci' does not
    /// look like a valid user name`, and a guest's termproxy accepts the POST but closes the
    /// WebSocket without `OK` when the token's login line arrives. `vncshell` refuses tokens
    /// either way, as PVE does.
    pub fn set_console_tokens_allowed(&self, allowed: bool) {
        self.shared.lock().consoles.tokens_allowed = allowed;
    }

    /// How long a console connection stays silent before it closes when pveproxy's worker dies
    /// on it (default 5 s, real time: pve-common `PVE/Daemon.pm` sleeps 5 s before a dying
    /// worker exits). That is what happens when a `vncwebsocket` reaches a node where nothing
    /// listens on its port (another node's session, a second connection, or more than 10 s
    /// after the POST), and when a client breaks pveproxy's framing rules.
    pub fn set_console_failure_delay(&self, delay: Duration) {
        self.shared.lock().consoles.failure_delay = delay;
    }

    /// `running` or `stopped` for a guest, `None` when there is no such guest.
    pub fn guest_status(&self, vmid: u32) -> Option<String> {
        let mut st = self.shared.lock();
        let now = self.shared.clock.now();
        st.tick(now);
        st.guests.get(&vmid).map(|g| {
            if g.running {
                "running".to_owned()
            } else {
                "stopped".to_owned()
            }
        })
    }

    /// The configuration of a guest as `key -> value` (without `digest`).
    pub fn guest_config(&self, vmid: u32) -> Option<Vec<(String, String)>> {
        let st = self.shared.lock();
        st.guests.get(&vmid).map(|g| {
            g.config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    /// Stop serving: close the listener and every open connection. Idempotent.
    pub fn shutdown(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for h in self.nodes.drain(..) {
            let _ = h.join();
        }
        let conns = std::mem::take(
            &mut *self
                .shared
                .open_conns
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (_, s) in conns {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}
