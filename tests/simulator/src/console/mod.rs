//! Consoles: `termproxy`, VNC (`vncshell`, `vncproxy`) and SPICE (`spiceproxy`), and the
//! `vncwebsocket` upgrade that carries the first two.
//!
//! Where each behaviour comes from (read, never copied):
//!
//! - The POST answers, task types and permissions: pve-manager `PVE/API2/Nodes.pm`
//!   (`termproxy`, `vncshell`, `vncwebsocket`), qemu-server `src/PVE/API2/Qemu.pm` and
//!   pve-container `src/PVE/API2/LXC.pm` (`termproxy`, `vncproxy`, `vncwebsocket`,
//!   `spiceproxy`). None of them is forwarded (`proxyto`), except `spiceproxy`: the program
//!   listens on the node that received the POST, and reaches another node's guest or shell
//!   over SSH.
//! - The ticket: pve-access-control `src/PVE/AccessControl.pm` (`assemble_vnc_ticket`,
//!   `verify_vnc_ticket`: secret data `user:path:port`) over pve-common `src/PVE/Ticket.pm`
//!   (`PVEVNC:<8 HEX>::<signature>`, valid while `-20 < age < 40` seconds, else 401
//!   `permission denied - invalid PVEVNC ticket`); the VNC password `generate_vnc_password`
//!   (8 characters `!`..`` ` ``) and the `<password>:<ticket>` form of the `ticket` field.
//! - The upgrade: pve-http-server `src/PVE/APIServer/AnyEvent.pm` (`handle_api2_request`,
//!   `websocket_proxy`), see [`upgrade`].
//! - termproxy: pve-xtermjs `termproxy/src/main.rs`, see [`shell`].
//! - The SPICE answer: pve-access-control `remote_viewer_config` and pve-common
//!   `assemble_spice_ticket`.

mod shell;
mod vnc;
mod wire;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::api::{ApiErr, Ctx};
use crate::http::{Conn, Request, Response};
use crate::state::{Effect, Guest, GuestKind, NewTask, Shared, State, TaskOutcome};
use crate::util::{base64, hex, keyed_hash};

use wire::{Event, WsIo};

/// pve-common `Ticket.pm` `verify_rsa_ticket(..., -20, 40)`: the ticket is valid while its age
/// is above -20 s and below 40 s.
const TICKET_MIN_AGE: i64 = -20;
/// See [`TICKET_MIN_AGE`].
const TICKET_MAX_AGE: i64 = 40;
/// termproxy waits 10 s for its one client (pve-xtermjs `termproxy/src/main.rs`:
/// `listen_and_accept("localhost", ..., Duration::new(10, 0))`), as vncterm does with
/// `-timeout 10` (Nodes.pm) and `qm vncproxy`'s accept with `alarm $timeout` (Qemu.pm).
const LISTEN_WINDOW: Duration = Duration::from_secs(10);
/// pve-common `Tools.pm` `next_vnc_port`: `next_unused_port(5900, 6000, ...)`.
const PORT_FIRST: u16 = 5900;
/// One past the last port of [`PORT_FIRST`]'s range.
const PORT_END: u16 = 6000;
/// pve-common `Daemon.pm`: a pveproxy worker whose event loop died logs the error, sleeps 5 s
/// and exits, which is when its connections close.
const DEFAULT_FAILURE_DELAY: Duration = Duration::from_secs(5);
/// termproxy reads the login line for at most 10 s (`read_ticket_line(..., Duration::new(10,
/// 0))`), in a 4 KiB buffer (`authentication data is incomplete` when it fills).
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// See [`LOGIN_TIMEOUT`].
const LOGIN_MAX: usize = 4096;
/// How often a session thread wakes up to look at the clock and the simulator's stop flag.
const POLL: Duration = Duration::from_millis(50);
/// A task that lasts as long as its console (ended by hand when the session ends).
const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Which program serves a console session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsoleKind {
    /// `termproxy` (`POST …/termproxy`): the xterm.js protocol, a fake shell behind it.
    Termproxy,
    /// A VNC server (`POST /nodes/{node}/vncshell`, `POST …/{qemu|lxc}/{vmid}/vncproxy`): RFB 3.8
    /// with VNC authentication, no ticket line.
    Vnc,
}

/// How a console session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsoleEnd {
    /// Not over: waiting for its WebSocket, or connected.
    Open,
    /// Nobody connected within 10 s (simulated) of the POST: the program stopped listening.
    NeverConnected,
    /// termproxy refused the login line (wrong user or ticket, expired ticket, garbage, 10 s
    /// without a line, or an API token on an old server) and closed without a word.
    LoginRefused,
    /// The guest was not running: termproxy sent `OK`, the error, then closed.
    GuestNotRunning,
    /// The shell's `exit`: a close frame 1000, then the close handshake.
    Exit,
    /// The client sent a close frame (with this status code, if any); answered with a close
    /// frame.
    ClientClose(Option<u16>),
    /// The client went away without a close frame.
    ClientGone,
    /// The shell's `drop`: the TCP connection was cut mid-stream, without a close frame.
    Dropped,
    /// The shell's `oversize`: a frame header announcing 64 MiB was sent, then the connection
    /// was cut.
    Oversize,
    /// The client broke pveproxy's framing rules (the message is pveproxy's): fragmented,
    /// unmasked, RSV bits, a frame over 128 KiB or an unknown opcode. pveproxy's worker dies
    /// on it: the connection stays silent for the failure delay, then closes.
    ProtocolError(String),
    /// VNC authentication failed (wrong password): `SecurityResult` 1, then closed.
    VncAuthFailed,
}

/// One console session as the simulator saw it ([`crate::Simulator::console_sessions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsoleRecord {
    /// The node that answered the POST, where the program listens (`pve1`, …).
    pub node: String,
    /// The ticket's path: `/nodes/{node}` or `/vms/{vmid}`.
    pub path: String,
    /// termproxy or VNC.
    pub kind: ConsoleKind,
    /// The user (`user@realm`) or API token (`user@realm!name`) the ticket is for.
    pub user: String,
    /// The port on the answering node's localhost.
    pub port: u16,
    /// The UPID of the session's task.
    pub upid: String,
    /// Whether a WebSocket reached the program.
    pub connected: bool,
    /// termproxy: the login line was accepted (`OK` sent). VNC: the password was right.
    pub login_accepted: bool,
    /// termproxy keepalives (`2`) received.
    pub keepalives: u64,
    /// The last size set by a termproxy resize (`1:<cols>:<rows>:`), as (cols, rows).
    pub size: Option<(u16, u16)>,
    /// Bytes of terminal input received (termproxy `0:<len>:<data>` payloads; VNC: the client
    /// messages after the handshake).
    pub input_bytes: u64,
    /// How it ended, or [`ConsoleEnd::Open`].
    pub ended: ConsoleEnd,
}

/// One session: what the POST issued and what happened since.
#[derive(Debug, Clone)]
struct Session {
    id: u64,
    /// Index of the node that answered the POST (where the program "listens").
    node: usize,
    node_name: String,
    port: u16,
    kind: ConsoleKind,
    user: String,
    /// `PVEVNC:…` (without the VNC password prefix).
    ticket: String,
    /// The RFB password (VNC sessions that have one).
    password: Option<String>,
    path: String,
    issued: Duration,
    /// The prompt's host name, and the VNC desktop name.
    host: String,
    /// The guest, for the "not running" check when the WebSocket arrives.
    guest: Option<(GuestKind, u32)>,
    upid: String,
    connected: bool,
    login_accepted: bool,
    keepalives: u64,
    size: Option<(u16, u16)>,
    input_bytes: u64,
    ended: Option<ConsoleEnd>,
}

impl Session {
    /// Whether its port is taken at `now`: listening (within the window) or connected.
    fn holds_port(&self, now: Duration) -> bool {
        self.ended.is_none() && (self.connected || now < self.issued + LISTEN_WINDOW)
    }

    fn record(&self, now: Duration) -> ConsoleRecord {
        let ended = match &self.ended {
            Some(e) => e.clone(),
            None if !self.connected && now >= self.issued + LISTEN_WINDOW => {
                ConsoleEnd::NeverConnected
            }
            None => ConsoleEnd::Open,
        };
        ConsoleRecord {
            node: self.node_name.clone(),
            path: self.path.clone(),
            kind: self.kind,
            user: self.user.clone(),
            port: self.port,
            upid: self.upid.clone(),
            connected: self.connected,
            login_accepted: self.login_accepted,
            keepalives: self.keepalives,
            size: self.size,
            input_bytes: self.input_bytes,
            ended,
        }
    }
}

/// The console sessions and their settings (inside the simulator's state lock).
#[derive(Debug)]
pub(crate) struct Consoles {
    sessions: Vec<Session>,
    /// `false`: the old servers' refusal of API tokens (pve-manager < 9.0.13, qemu-server <
    /// 9.1.7, pve-container < 6.1.3).
    pub(crate) tokens_allowed: bool,
    /// How long a connection stays silent before it closes when pveproxy's worker dies.
    pub(crate) failure_delay: Duration,
    next_id: u64,
}

impl Default for Consoles {
    fn default() -> Self {
        Self {
            sessions: Vec::new(),
            tokens_allowed: true,
            failure_delay: DEFAULT_FAILURE_DELAY,
            next_id: 1,
        }
    }
}

impl Consoles {
    /// Every session's record at `now`.
    pub(crate) fn records(&self, now: Duration) -> Vec<ConsoleRecord> {
        self.sessions.iter().map(|s| s.record(now)).collect()
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.id == id)
    }

    /// The lowest free port of node `node` (pve-common `next_unused_port`).
    fn free_port(&self, node: usize, now: Duration) -> Option<u16> {
        (PORT_FIRST..PORT_END).find(|p| {
            !self
                .sessions
                .iter()
                .any(|s| s.node == node && s.port == *p && s.holds_port(now))
        })
    }

    /// pveproxy's `tcp_connect localhost, $port` on node `node`: the session listening there,
    /// which stops listening (it serves one client).
    fn connect(&mut self, node: usize, port: u16, now: Duration) -> Option<u64> {
        let s = self.sessions.iter_mut().find(|s| {
            s.node == node
                && s.port == port
                && !s.connected
                && s.ended.is_none()
                && now < s.issued + LISTEN_WINDOW
        })?;
        s.connected = true;
        Some(s.id)
    }
}

/// What to do with a connection after its upgrade request.
#[derive(Debug)]
pub(crate) enum Upgraded {
    /// Nothing listens on the port: pveproxy's worker dies (see [`upgrade`]).
    Refused,
    /// Answered 101: serve session `id`.
    Session(u64),
}

// ---------------------------------------------------------------------------------------------
// Tickets

fn ticket_signature(
    shared: &Shared,
    st: &State,
    plain: &str,
    user: &str,
    path: &str,
    port: u16,
) -> String {
    let key = crate::auth::signing_key(shared, st.key_epoch);
    let port = port.to_string();
    let mac = keyed_hash(
        &key,
        &[
            b"PVEVNC",
            plain.as_bytes(),
            user.as_bytes(),
            path.as_bytes(),
            port.as_bytes(),
        ],
    );
    base64(&mac, true)
}

/// `PVEVNC:<8 HEX time>::<signature>`, bound to `user:path:port`.
fn assemble_ticket(shared: &Shared, st: &State, user: &str, path: &str, port: u16) -> String {
    let plain = format!("PVEVNC:{:08X}", shared.clock.now_secs());
    let sig = ticket_signature(shared, st, &plain, user, path, port);
    format!("{plain}::{sig}")
}

/// pve-access-control `verify_vnc_ticket`: drops a leading `<8 characters>:` (the VNC password
/// of the `ticket` field, `^.{8}:(PVEVNC:.*)$`), then checks signature and age.
fn verify_ticket(
    shared: &Shared,
    st: &State,
    ticket: &str,
    user: &str,
    path: &str,
    port: u16,
) -> bool {
    let ticket = strip_password(ticket);
    let Some((plain, sig)) = ticket.rsplit_once("::") else {
        return false;
    };
    let Some(hex_time) = plain.strip_prefix("PVEVNC:") else {
        return false;
    };
    if hex_time.len() != 8
        || !hex_time
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return false;
    }
    let Ok(ts) = i64::from_str_radix(hex_time, 16) else {
        return false;
    };
    if ticket_signature(shared, st, plain, user, path, port) != sig {
        return false;
    }
    let now = i64::try_from(shared.clock.now_secs()).unwrap_or(i64::MAX);
    let age = now.saturating_sub(ts);
    age > TICKET_MIN_AGE && age < TICKET_MAX_AGE
}

fn strip_password(ticket: &str) -> &str {
    match ticket.char_indices().nth(8) {
        Some((i, ':')) => match ticket.get(i + 1..) {
            Some(rest) if rest.starts_with("PVEVNC:") => rest,
            _ => ticket,
        },
        _ => ticket,
    }
}

/// 8 characters from `!` to `` ` `` (pve-common `generate_vnc_password`), derived from the
/// simulator's secret and the session (no randomness needed).
fn vnc_password(shared: &Shared, id: u64, now: Duration) -> String {
    let h = keyed_hash(
        &shared.secret,
        &[
            b"vnc-password",
            &id.to_be_bytes(),
            &now.as_nanos().to_be_bytes(),
        ],
    );
    h.iter()
        .take(8)
        .map(|b| char::from(b'!' + (b % 64)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The API

/// `Sys.Console` on `/nodes/{node}` (alice has none).
fn check_node_console(ctx: &Ctx<'_>, node: &str) -> Result<(), ApiErr> {
    if ctx.caller.userid == crate::LIMITED_USER {
        return Err(ApiErr::new(
            403,
            format!("Permission check failed (/nodes/{node}, Sys.Console)"),
        ));
    }
    Ok(())
}

/// `VM.Console` on `/vms/{vmid}` (alice only has `VM.Audit` on `/vms/100`).
pub(crate) fn check_guest_console(ctx: &Ctx<'_>, vmid: u32) -> Result<(), ApiErr> {
    if ctx.caller.userid == crate::LIMITED_USER {
        return Err(ApiErr::new(
            403,
            format!("Permission check failed (/vms/{vmid}, VM.Console)"),
        ));
    }
    Ok(())
}

/// pve-access-control `verify_username` (`src/PVE/Auth/Plugin.pm`), which an API token id
/// (`user@realm!name`) fails: 500 `value '…' does not look like a valid user name`.
fn verify_username(authid: &str) -> Result<(), ApiErr> {
    if authid.contains('!') {
        return Err(ApiErr::new(
            500,
            format!("value '{authid}' does not look like a valid user name"),
        ));
    }
    Ok(())
}

/// A PVE boolean parameter (`1`, `0`, `yes`, `no`, `on`, `off`, `true`, `false`).
fn bool_param(ctx: &Ctx<'_>, name: &str) -> Result<bool, ApiErr> {
    match ctx.param(name).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(false),
        Some("1" | "yes" | "on" | "true") => Ok(true),
        Some("0" | "no" | "off" | "false") => Ok(false),
        Some(_) => Err(ApiErr::params([(
            name,
            format!(
                "type check ('boolean') failed - got '{}'",
                ctx.param(name).unwrap_or("")
            )
            .as_str(),
        )])),
    }
}

/// What a console POST opens.
struct Open<'a> {
    kind: ConsoleKind,
    path: String,
    host: String,
    guest: Option<(GuestKind, u32)>,
    task_type: &'a str,
    task_id: String,
    /// The task's error when nobody connects in time.
    timeout_error: &'a str,
    /// Whether the session gets an RFB password.
    with_password: bool,
}

/// Allocate a port on the receiving node, sign the ticket, start the task, record the session.
fn open_session(ctx: &mut Ctx<'_>, open: Open<'_>) -> Result<Session, ApiErr> {
    let now = ctx.now;
    let user = ctx.caller.authid.clone();
    let port = ctx
        .st
        .consoles
        .free_port(ctx.local, now)
        .ok_or_else(|| ApiErr::new(500, "unable to find free port (5900-6000)"))?;
    let ticket = assemble_ticket(ctx.shared, ctx.st, &user, &open.path, port);
    // The task runs on the node that received the POST (fork_worker); it fails like the real
    // program when nobody connects within the window, and lasts as long as the session else.
    let local = ctx.shared.node_name(ctx.local);
    let plans = std::mem::take(&mut ctx.st.task_plans);
    let duration = std::mem::replace(&mut ctx.st.task_duration, LISTEN_WINDOW);
    let upid = ctx.task(NewTask {
        node: &local,
        kind: open.task_type,
        id: &open.task_id,
        user: &user,
        lines: Vec::new(),
        error: Some(open.timeout_error.to_owned()),
        effect: Effect::None,
        lock_vmid: None,
    });
    ctx.st.task_duration = duration;
    ctx.st.task_plans = plans;
    let id = ctx.st.consoles.next_id;
    ctx.st.consoles.next_id += 1;
    let password = open
        .with_password
        .then(|| vnc_password(ctx.shared, id, now));
    let s = Session {
        id,
        node: ctx.local,
        node_name: local,
        port,
        kind: open.kind,
        user,
        ticket,
        password,
        path: open.path,
        issued: now,
        host: open.host,
        guest: open.guest,
        upid,
        connected: false,
        login_accepted: false,
        keepalives: 0,
        size: None,
        input_bytes: 0,
        ended: None,
    };
    ctx.st.consoles.sessions.push(s.clone());
    Ok(s)
}

/// `POST /nodes/{node}/termproxy` (Nodes.pm) and `POST …/{qemu|lxc}/{vmid}/termproxy`
/// (Qemu.pm, LXC.pm): `{user, ticket, port, upid}`.
///
/// The node shell's task is a `vncshell` task, the guests' a `vncproxy` task. Before
/// pve-manager 9.0.13 the node's termproxy ran `verify_username` on the caller, which an API
/// token fails (see [`verify_username`]); the guests' old termproxy accepted the POST, and
/// termproxy then refused the token's login line.
pub(crate) fn termproxy(
    ctx: &mut Ctx<'_>,
    node: &str,
    guest: Option<&Guest>,
) -> Result<Value, ApiErr> {
    let open = match guest {
        None => {
            check_node_console(ctx, node)?;
            if !ctx.st.consoles.tokens_allowed {
                verify_username(&ctx.caller.authid)?;
            }
            Open {
                kind: ConsoleKind::Termproxy,
                path: format!("/nodes/{node}"),
                host: node.to_owned(),
                guest: None,
                task_type: "vncshell",
                task_id: String::new(),
                timeout_error: "failed waiting for client: timed out",
                with_password: false,
            }
        }
        Some(g) => Open {
            kind: ConsoleKind::Termproxy,
            path: format!("/vms/{}", g.vmid),
            host: g.name(),
            guest: Some((g.kind, g.vmid)),
            task_type: "vncproxy",
            task_id: g.vmid.to_string(),
            timeout_error: "failed waiting for client: timed out",
            with_password: false,
        },
    };
    let s = open_session(ctx, open)?;
    Ok(json!({"user": s.user, "ticket": s.ticket, "port": s.port, "upid": s.upid}))
}

/// `POST /nodes/{node}/vncshell` (Nodes.pm) and `POST …/{qemu|lxc}/{vmid}/vncproxy` (Qemu.pm,
/// LXC.pm): `{user, ticket, port, upid, cert}` plus `password` (the RFB password) when there is
/// one; then `ticket` is `<password>:PVEVNC:…`.
///
/// A VM's display gets a password only with `generate-password=1` (else the ticket is QEMU's
/// VNC password); the node shell and containers with `websocket=1`. `vncshell` runs `verify_username`, so API tokens get 500 on every version.
pub(crate) fn vncproxy(
    ctx: &mut Ctx<'_>,
    node: &str,
    guest: Option<&Guest>,
) -> Result<Value, ApiErr> {
    let websocket = bool_param(ctx, "websocket")?;
    let mut user = ctx.caller.authid.clone();
    let open = match guest {
        None => {
            check_node_console(ctx, node)?;
            verify_username(&ctx.caller.authid)?;
            user = ctx.caller.userid.clone();
            Open {
                kind: ConsoleKind::Vnc,
                path: format!("/nodes/{node}"),
                host: node.to_owned(),
                guest: None,
                task_type: "vncshell",
                task_id: String::new(),
                timeout_error: "vncterm failed",
                with_password: websocket,
            }
        }
        Some(g) => Open {
            kind: ConsoleKind::Vnc,
            path: format!("/vms/{}", g.vmid),
            host: g.name(),
            guest: Some((g.kind, g.vmid)),
            task_type: "vncproxy",
            task_id: g.vmid.to_string(),
            timeout_error: "connection timed out",
            // A VM's display: a generated password only when asked for (qemu-server's
            // `generate-password`, "Returned if requested"); otherwise QEMU's VNC password is
            // the ticket itself. Containers (vncterm) get one with `websocket`.
            with_password: if g.kind == GuestKind::Qemu {
                bool_param(ctx, "generate-password")?
            } else {
                websocket
            },
        },
    };
    let s = open_session(ctx, open)?;
    let ticket = match &s.password {
        Some(p) => format!("{p}:{}", s.ticket),
        None => s.ticket.clone(),
    };
    let mut out = json!({
        "user": user, "ticket": ticket, "port": s.port, "upid": s.upid, "cert": ca_pem(ctx.shared),
    });
    if let (Some(p), Some(o)) = (&s.password, out.as_object_mut()) {
        o.insert("password".into(), json!(p));
    }
    Ok(out)
}

/// `GET …/vncwebsocket?port=…&vncticket=…` without an upgrade: the handler alone, which checks
/// the ticket and answers `{port}` (the port as sent, a string). With an upgrade the same call
/// decides between 401 and [`upgrade`].
pub(crate) fn vncwebsocket(
    ctx: &mut Ctx<'_>,
    node: &str,
    guest: Option<&Guest>,
) -> Result<Value, ApiErr> {
    let path = match guest {
        None => {
            check_node_console(ctx, node)?;
            format!("/nodes/{node}")
        }
        Some(g) => format!("/vms/{}", g.vmid),
    };
    let mut errs = Map::new();
    let ticket = ctx.param("vncticket").unwrap_or_default().to_owned();
    match ctx.param("vncticket") {
        None => {
            errs.insert(
                "vncticket".into(),
                json!("property is missing and it is not optional"),
            );
        }
        Some(t) if t.chars().count() > 512 => {
            errs.insert(
                "vncticket".into(),
                json!("value may only be 512 characters long"),
            );
        }
        Some(_) => {}
    }
    let port_s = ctx.param("port").unwrap_or_default().to_owned();
    let mut port = 0u16;
    match ctx.param("port").map(|p| (p, p.trim().parse::<i64>())) {
        None => {
            errs.insert(
                "port".into(),
                json!("property is missing and it is not optional"),
            );
        }
        Some((p, Err(_))) => {
            errs.insert(
                "port".into(),
                json!(format!("type check ('integer') failed - got '{p}'")),
            );
        }
        Some((_, Ok(n))) if n < i64::from(PORT_FIRST) => {
            errs.insert(
                "port".into(),
                json!("value must have a minimum value of 5900"),
            );
        }
        Some((_, Ok(n))) if n >= i64::from(PORT_END) => {
            errs.insert(
                "port".into(),
                json!("value must have a maximum value of 5999"),
            );
        }
        Some((_, Ok(n))) => port = u16::try_from(n).unwrap_or(0),
    }
    if !errs.is_empty() {
        return Err(ApiErr::param_map(errs));
    }
    // Before pve-manager 9.0.13 the node's vncwebsocket also ran verify_username.
    if guest.is_none() && !ctx.st.consoles.tokens_allowed {
        verify_username(&ctx.caller.authid)?;
    }
    if !verify_ticket(ctx.shared, ctx.st, &ticket, &ctx.caller.authid, &path, port) {
        return Err(ApiErr::new(
            401,
            "permission denied - invalid PVEVNC ticket",
        ));
    }
    Ok(json!({ "port": port_s }))
}

/// The certificate PVE hands out as `cert` and `ca` (`/etc/pve/pve-root-ca.pem`): the cluster
/// CA, or the single node's own certificate.
fn ca_pem(shared: &Shared) -> String {
    shared
        .cluster_ca_pem
        .clone()
        .unwrap_or_else(|| shared.ident.cert_pem.clone())
}

/// `POST …/{qemu|lxc}/{vmid}/spiceproxy` (`proxyto => 'node'`: answered by the guest's node):
/// the `[virt-viewer]` fields of pve-access-control `remote_viewer_config`.
///
/// A stopped VM fails in `spice_port` (its QMP command: 500 `VM <vmid> not running`), a stopped
/// container with `CT <vmid> not running` (LXC.pm).
pub(crate) fn spiceproxy(ctx: &mut Ctx<'_>, g: &Guest) -> Result<Value, ApiErr> {
    let what = if g.kind == GuestKind::Qemu {
        "VM"
    } else {
        "CT"
    };
    if !g.running {
        return Err(ApiErr::new(500, format!("{what} {} not running", g.vmid)));
    }
    let index = ctx.shared.cluster.iter().position(|c| c.name == g.node);
    let ip = match index.and_then(|i| ctx.shared.cluster.get(i)) {
        Some(c) => c.addr.ip(),
        None => ctx.shared.config.bind,
    };
    let proxy = ctx
        .param("proxy")
        .map(str::to_owned)
        .unwrap_or_else(|| ip.to_string());
    let proxy = if proxy.contains(':') && !proxy.starts_with('[') {
        format!("[{proxy}]")
    } else {
        proxy
    };
    // qemu: the VM's SPICE TLS port (61000-61999); lxc: spiceterm's first free port.
    let port = match g.kind {
        GuestKind::Qemu => 61000 + g.vmid % 1000,
        GuestKind::Lxc => 61000,
    };
    let plain = format!(
        "pvespiceproxy:{:08x}:{}:{}:{port}",
        ctx.now.as_secs(),
        g.vmid,
        g.node.to_lowercase()
    );
    let sig = keyed_hash(&ctx.shared.secret, &[b"spiceproxy", plain.as_bytes()]);
    let sig = hex(sig.get(..20).unwrap_or_default());
    let password = keyed_hash(
        &ctx.shared.secret,
        &[
            b"spice-password",
            plain.as_bytes(),
            ctx.caller.authid.as_bytes(),
        ],
    );
    let password = hex(password.get(..20).unwrap_or_default());
    let title = match (g.kind, g.config.get("name")) {
        (GuestKind::Qemu, Some(name)) => format!("VM {} - {name}", g.vmid),
        (GuestKind::Qemu, None) => format!("VM {}", g.vmid),
        (GuestKind::Lxc, _) => format!("CT {}", g.vmid),
    };
    // `read_x509_subject_spice` of the node certificate (the subjects `crate::tls` writes).
    let subject = match index {
        Some(i) => format!("CN=pve{}.sim", i + 1),
        None => "CN=proxmox-sim,O=proxmox-sim test certificate".to_owned(),
    };
    Ok(json!({
        "type": "spice",
        "title": title,
        "host": format!("{plain}::{sig}"),
        "proxy": format!("http://{proxy}:3128"),
        "tls-port": port,
        "host-subject": subject,
        "ca": ca_pem(ctx.shared).replace('\n', "\\n"),
        "password": password,
        "delete-this-file": 1,
        "secure-attention": "Ctrl+Alt+Ins",
        "toggle-fullscreen": "Shift+F11",
        "release-cursor": "Ctrl+Alt+R",
    }))
}

// ---------------------------------------------------------------------------------------------
// The upgrade

/// pve-http-server `AnyEvent.pm` `handle_api2_request`: a GET whose path ends in `websocket`
/// with an `Upgrade` header takes the WebSocket branch.
pub(crate) fn is_upgrade(req: &Request, rel: &str) -> bool {
    req.method == "GET"
        && req.header("upgrade").is_some_and(|u| !u.is_empty())
        && rel.ends_with("websocket")
}

/// The WebSocket branch of pveproxy (`AnyEvent.pm` `handle_api2_request`, then
/// `websocket_proxy`), after authentication passed and the `vncwebsocket` handler ran
/// (`resp`):
///
/// 1. `Upgrade` other than `websocket`, `Sec-WebSocket-Version` other than 13, or no
///    `Sec-WebSocket-Key`: 501 with pveproxy's message, even when the handler failed.
/// 2. The handler's error (401 for a bad, expired or other-path vncticket): answered as is.
/// 3. `tcp_connect localhost, $port` on the node that received the request. When something
///    listens there (the session that the POST opened on this node, within 10 s, once), the
///    answer is `101 Switching Protocols` with `Sec-WebSocket-Accept` and the request's
///    `Sec-WebSocket-Protocol` echoed; the log says 101.
/// 4. When nothing listens (another node's session, a second connection, too late), the
///    connect callback dies: `my ($fh) = @_ or die "connect to '$remhost:$remport' failed:
///    $!"` (`connect to 'localhost:5900' failed: Connection refused`). AnyEvent::Socket calls
///    a failed `tcp_connect`'s callback later (`AE::postpone`), so the `die` is outside
///    `websocket_proxy`'s `eval`; pve-http-server depends on no other event loop than
///    AnyEvent's pure-Perl one, which catches nothing, so the `die` leaves the worker's
///    `$self->{end_cond}->recv` (`run`), and pve-common `PVE/Daemon.pm` logs it, sleeps 5 s
///    (`avoid fast restarts`) and exits the worker. The client gets no answer at all: its
///    connection stays silent for the failure delay
///    ([`crate::Simulator::set_console_failure_delay`], 5 s), then closes without a TLS
///    close_notify. The log says 0. (The worker's other connections die with it; the
///    simulator does not do that.)
pub(crate) fn upgrade(
    shared: &Shared,
    conn: &mut Conn,
    req: &Request,
    resp: Response,
    extjs: bool,
) -> Result<(u16, Upgraded), Response> {
    let fail = |msg: String| {
        let mut r = ApiErr::new(501, msg).into_response(shared, false);
        r.close = true;
        r
    };
    let upgrade = req
        .header("upgrade")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if upgrade != "websocket" {
        return Err(fail(format!("unable to upgrade to protocol '{upgrade}'")));
    }
    let version = req.header("sec-websocket-version").unwrap_or_default();
    if version != "13" {
        return Err(fail(format!("unsupported websocket-version '{version}'")));
    }
    // The request's subprotocol is echoed as sent (AnyEvent.pm: "for backwards compatibility,
    // we have to reply with the websocket subprotocol from the request").
    let protocol = req
        .headers_all("sec-websocket-protocol")
        .collect::<Vec<_>>()
        .join(", ");
    let Some(key) = req.header("sec-websocket-key").filter(|k| !k.is_empty()) else {
        return Err(fail("missing websocket-key".to_owned()));
    };
    // pveproxy looks at the handler's status, before any formatting: an `/api2/extjs` error
    // is answered 200 with `success: 0` but does not upgrade.
    let handler_ok = resp.status == 200
        && (!extjs
            || serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("success").and_then(Value::as_i64))
                == Some(1));
    if !handler_ok {
        return Err(resp);
    }
    let port = req
        .query
        .iter()
        .find(|(k, _)| k == "port")
        .and_then(|(_, v)| v.trim().parse::<u16>().ok());
    let now = shared.clock.now();
    let found = {
        let mut st = shared.lock();
        let id = port.and_then(|p| st.consoles.connect(req.node, p, now));
        if let Some(id) = id
            && let Some(upid) = st.consoles.get_mut(id).map(|s| s.upid.clone())
            && let Some(t) = st.tasks.iter_mut().find(|t| t.upid == upid)
        {
            t.duration = FOREVER;
            t.outcome = TaskOutcome::Ok;
            t.lines.clear();
        }
        id
    };
    let Some(id) = found else {
        return Ok((0, Upgraded::Refused));
    };
    let mut head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        wire::accept_key(key)
    );
    if !protocol.is_empty() {
        head.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    head.push_str("\r\n");
    // A client gone by now shows as ClientGone when the session reads.
    let _ = conn
        .t
        .write_all(head.as_bytes())
        .and_then(|()| conn.t.flush());
    Ok((101, Upgraded::Session(id)))
}

// ---------------------------------------------------------------------------------------------
// Serving a session

/// Serve what [`upgrade`] left on the connection; returns when it is over (the caller then
/// closes the connection politely, unless it was cut already).
pub(crate) fn serve(shared: &Shared, conn: &mut Conn, upgraded: Upgraded) {
    match upgraded {
        Upgraded::Refused => worker_dies(shared, conn),
        Upgraded::Session(id) => run_session(shared, conn, id),
    }
}

/// pveproxy's worker died: silence for the failure delay, then the connection closes without a
/// TLS close_notify (the process exits).
fn worker_dies(shared: &Shared, conn: &mut Conn) {
    let delay = shared.lock().consoles.failure_delay;
    sleep_unless_stopping(shared, delay);
    conn.t.abort();
}

/// Sleep `d` (real time) in small steps; `false` when the simulator stops meanwhile.
fn sleep_unless_stopping(shared: &Shared, d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(POLL));
    }
}

fn update(shared: &Shared, id: u64, f: impl FnOnce(&mut Session)) {
    if let Some(s) = shared.lock().consoles.get_mut(id) {
        f(s);
    }
}

fn run_session(shared: &Shared, conn: &mut Conn, id: u64) {
    let Some(session) = shared.lock().consoles.get_mut(id).map(|s| s.clone()) else {
        conn.t.abort();
        return;
    };
    let _ = conn.t.set_read_timeout(Some(POLL));
    let leftover = std::mem::take(&mut conn.buf);
    let end = {
        let mut io = WsIo::new(&mut conn.t, leftover);
        match session.kind {
            ConsoleKind::Termproxy => run_term(shared, &mut io, &session),
            ConsoleKind::Vnc => vnc::run(shared, &mut io, &session),
        }
    };
    let now = shared.clock.now();
    {
        let mut st = shared.lock();
        if let Some(s) = st.consoles.get_mut(id) {
            s.ended = Some(end.clone());
        }
        if let Some(t) = st.tasks.iter_mut().find(|t| t.upid == session.upid)
            && t.ended.is_none()
        {
            t.ended = Some(now.max(t.start));
            if end == ConsoleEnd::LoginRefused {
                t.outcome = TaskOutcome::Error("authentication request failed".to_owned());
                t.lines.push("authentication request failed".to_owned());
            }
        }
    }
    match end {
        // A clean close handshake: the caller closes with close_notify.
        ConsoleEnd::Exit | ConsoleEnd::ClientClose(_) | ConsoleEnd::Open => {}
        ConsoleEnd::ProtocolError(_) => worker_dies(shared, conn),
        // termproxy or the VNC server exited: pveproxy shuts the client socket down
        // (`client_do_disconnect`), without a close frame.
        _ => conn.t.abort(),
    }
}

/// Whether the simulator is stopping.
fn stopping(shared: &Shared) -> bool {
    shared.stopping.load(std::sync::atomic::Ordering::SeqCst)
}

/// termproxy (pve-xtermjs `termproxy/src/main.rs`): the login line, `OK`, then the byte
/// stream of `0:`/`1:`/`2` messages to the fake shell.
fn run_term(shared: &Shared, io: &mut WsIo<'_>, s: &Session) -> ConsoleEnd {
    // `read_ticket_line`: up to the first newline, within 10 s, in a 4 KiB buffer.
    let deadline = Instant::now() + LOGIN_TIMEOUT;
    let mut buf: Vec<u8> = Vec::new();
    let (line, rest) = loop {
        if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let rest = buf.split_off(nl + 1);
            buf.truncate(nl);
            break (buf, rest);
        }
        if buf.len() >= LOGIN_MAX || Instant::now() >= deadline {
            return ConsoleEnd::LoginRefused;
        }
        if stopping(shared) {
            return ConsoleEnd::ClientGone;
        }
        match io.next() {
            Event::Data(d) => buf.extend_from_slice(&d),
            Event::Idle => {}
            Event::Close(code) => return ConsoleEnd::ClientClose(code),
            Event::Gone => return ConsoleEnd::ClientGone,
            Event::Violation(m) => return ConsoleEnd::ProtocolError(m),
        }
    };
    if !login_ok(shared, s, &line) {
        return ConsoleEnd::LoginRefused;
    }
    update(shared, s.id, |x| x.login_accepted = true);
    // termproxy writes `OK`, then starts the command: `qm terminal` of a stopped VM prints its
    // error (qemu-server `src/PVE/CLI/qm.pm`: `VM <vmid> not running`) and exits, and
    // termproxy with it.
    if let Some(msg) = not_running(shared, s) {
        let _ = io.send(format!("OK{msg}\r\n").as_bytes());
        return ConsoleEnd::GuestNotRunning;
    }
    let mut shell = shell::Shell::new(&s.host);
    let mut first = b"OK".to_vec();
    first.extend_from_slice(&shell.prompt());
    if io.send(&first).is_err() {
        return ConsoleEnd::ClientGone;
    }
    let mut parser = shell::Parser::default();
    let mut pending = Some(rest);
    loop {
        let data = match pending.take() {
            Some(d) => d,
            None => {
                if stopping(shared) {
                    return ConsoleEnd::ClientGone;
                }
                match io.next() {
                    Event::Data(d) => d,
                    Event::Idle => continue,
                    Event::Close(code) => return ConsoleEnd::ClientClose(code),
                    Event::Gone => return ConsoleEnd::ClientGone,
                    Event::Violation(m) => return ConsoleEnd::ProtocolError(m),
                }
            }
        };
        for msg in parser.feed(&data) {
            match msg {
                shell::Msg::Keepalive => update(shared, s.id, |x| x.keepalives += 1),
                shell::Msg::Resize(cols, rows) => {
                    shell.resize(cols, rows);
                    update(shared, s.id, |x| x.size = Some((cols, rows)));
                }
                shell::Msg::Data(bytes) => {
                    let n = bytes.len() as u64;
                    update(shared, s.id, |x| x.input_bytes += n);
                    for action in shell.input(&bytes) {
                        if let Some(end) = act(shared, io, action) {
                            return end;
                        }
                    }
                }
            }
        }
    }
}

/// Carry out one shell action; `Some` when the session ends with it.
fn act(shared: &Shared, io: &mut WsIo<'_>, action: shell::Action) -> Option<ConsoleEnd> {
    let gone = Some(ConsoleEnd::ClientGone);
    match action {
        shell::Action::Out(bytes) => io.send(&bytes).err().and(gone),
        shell::Action::Split(bytes) => {
            // Output may be split anywhere (pveproxy frames whatever it read): send command
            // output as two frames, cut in the middle (even inside a UTF-8 sequence).
            let (a, b) = bytes.split_at(bytes.len() / 2);
            io.send(a).and_then(|()| io.send(b)).err().and(gone)
        }
        shell::Action::Bulk(n) => {
            const CHUNK: usize = 16 * 1024;
            let mut bulk = shell::Bulk::new(n);
            while let Some(chunk) = bulk.next_chunk(CHUNK) {
                if stopping(shared) || io.send_buffered(&chunk).is_err() {
                    return gone;
                }
            }
            io.flush().err().and(gone)
        }
        shell::Action::SlowRead(d) => {
            if io.flush().is_err() || !sleep_unless_stopping(shared, d) {
                return gone;
            }
            None
        }
        shell::Action::Exit => {
            io.close_normal(Duration::from_secs(2));
            Some(ConsoleEnd::Exit)
        }
        shell::Action::Drop => {
            let _ = io.flush();
            Some(ConsoleEnd::Dropped)
        }
        shell::Action::Oversize => {
            io.oversize(shared, Duration::from_secs(2));
            Some(ConsoleEnd::Oversize)
        }
    }
}

/// termproxy's check of the login line `<user>:<ticket>`: the ticket it was started with
/// (`--ticket-fd`), then `POST /access/vncticket` (`--vncticket-endpoint`: `authid`,
/// `vncticket`, `path`, `port`), which verifies the ticket again (age below 40 s). Old
/// termproxy called `/access/ticket` with `username=<user>`, which fails for an API token.
fn login_ok(shared: &Shared, s: &Session, line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, ticket) = line.split_at(colon);
    let ticket = ticket.get(1..).unwrap_or_default();
    if user != s.user.as_bytes() || ticket != s.ticket.as_bytes() {
        return false;
    }
    let st = shared.lock();
    if !st.consoles.tokens_allowed && s.user.contains('!') {
        return false;
    }
    verify_ticket(shared, &st, &s.ticket, &s.user, &s.path, s.port)
}

/// The error a stopped guest's console command prints, if the guest is stopped now.
fn not_running(shared: &Shared, s: &Session) -> Option<String> {
    let (kind, vmid) = s.guest?;
    let now = shared.clock.now();
    let mut st = shared.lock();
    st.tick(now);
    let running = st.guests.get(&vmid).is_some_and(|g| g.running);
    if running {
        return None;
    }
    Some(match kind {
        GuestKind::Qemu => format!("VM {vmid} not running"),
        GuestKind::Lxc => format!("CT {vmid} not running"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_prefix_is_dropped_like_verify_vnc_ticket() {
        assert_eq!(strip_password("abcdefgh:PVEVNC:0000::x"), "PVEVNC:0000::x");
        assert_eq!(strip_password("PVEVNC:0000::x"), "PVEVNC:0000::x");
        assert_eq!(
            strip_password("abcdefg:PVEVNC:0000::x"),
            "abcdefg:PVEVNC:0000::x"
        );
        assert_eq!(strip_password("ääääääää:PVEVNC:1"), "PVEVNC:1");
        assert_eq!(strip_password("abcdefgh:other"), "abcdefgh:other");
    }
}
