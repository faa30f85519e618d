//! Consoles: termproxy, VNC and SPICE, and the vncwebsocket upgrade, with a tungstenite client
//! over rustls.

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Client, enc, root_client, tls_config};
use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockEncrypt, KeyInit};
use proxmox_sim::{Config, ConsoleEnd, ConsoleKind, Service, Simulator};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::{Bytes, Message, WebSocket};

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;
type Ws = WebSocket<Tls>;

fn start() -> Simulator {
    let mut cfg = Config::new(Service::Pve);
    cfg.start_time = Some(Duration::from_secs(1_795_000_000));
    Simulator::start(cfg).expect("start simulator")
}

fn start_cluster() -> Simulator {
    let mut cfg = Config::new(Service::Pve);
    cfg.start_time = Some(Duration::from_secs(1_795_000_000));
    cfg.nodes = 3;
    Simulator::start(cfg).expect("start cluster")
}

/// A client authenticated with the `root@pam!ci` token.
fn token_client(sim: &Simulator) -> Client {
    let mut c = Client::new(sim);
    c.authorization = sim.token_header();
    c
}

/// How the WebSocket request authenticates.
enum Auth<'a> {
    Cookie(&'a str),
    Header(&'a str),
    Nothing,
}

impl<'a> Auth<'a> {
    fn of(c: &'a Client) -> Self {
        match (&c.ticket, &c.authorization) {
            (Some(t), _) => Auth::Cookie(t),
            (None, Some(h)) => Auth::Header(h),
            (None, None) => Auth::Nothing,
        }
    }
}

fn tls_stream(sim: &Simulator, addr: SocketAddr) -> Tls {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let name = ServerName::try_from(addr.ip().to_string()).expect("server name");
    let conn = rustls::ClientConnection::new(tls_config(sim.ca_pem()), name).expect("tls client");
    rustls::StreamOwned::new(conn, tcp)
}

/// Open `GET {base}/vncwebsocket?port=…&vncticket=…` on `addr`.
fn ws_connect(
    sim: &Simulator,
    addr: SocketAddr,
    base: &str,
    port: u64,
    ticket: &str,
    auth: Auth<'_>,
) -> Result<Ws, tungstenite::Error> {
    let url = format!(
        "wss://{addr}/api2/json{base}/vncwebsocket?port={port}&vncticket={}",
        enc(ticket)
    );
    let mut req = url.into_client_request()?;
    let h = req.headers_mut();
    h.insert("Sec-WebSocket-Protocol", "binary".parse().expect("header"));
    match auth {
        Auth::Cookie(t) => {
            h.insert(
                "Cookie",
                format!("PVEAuthCookie={t}").parse().expect("header"),
            );
        }
        Auth::Header(v) => {
            h.insert("Authorization", v.parse().expect("header"));
        }
        Auth::Nothing => {}
    }
    match tungstenite::client::client_with_config(req, tls_stream(sim, addr), None) {
        Ok((ws, resp)) => {
            assert_eq!(
                resp.headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok()),
                Some("binary")
            );
            Ok(ws)
        }
        Err(HandshakeError::Failure(e)) => Err(e),
        Err(HandshakeError::Interrupted(_)) => {
            Err(tungstenite::Error::Io(ErrorKind::WouldBlock.into()))
        }
    }
}

fn http_status(e: &tungstenite::Error) -> Option<u16> {
    match e {
        tungstenite::Error::Http(resp) => Some(resp.status().as_u16()),
        _ => None,
    }
}

fn send(ws: &mut Ws, bytes: &[u8]) {
    ws.send(Message::binary(bytes.to_vec())).expect("send");
}

/// Type `text` (termproxy `0:<len>:<data>`).
fn type_text(ws: &mut Ws, text: &str) {
    send(ws, format!("0:{}:{text}", text.len()).as_bytes());
}

/// Read binary frames until the output seen so far contains `needle`; all output read.
fn read_until(ws: &mut Ws, needle: &str) -> String {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {needle:?}"
        );
        match ws.read() {
            Ok(Message::Binary(b)) => out.extend_from_slice(&b),
            Ok(_) => {}
            Err(e) => panic!(
                "{e} while waiting for {needle:?}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
        let s = String::from_utf8_lossy(&out);
        if s.contains(needle) {
            return s.into_owned();
        }
    }
}

/// POST `{base}/termproxy` (node or guest); its data.
fn termproxy(c: &mut Client, base: &str) -> Value {
    let r = c.post(&format!("{base}/termproxy"), &[]);
    assert_eq!(r.status, 200, "termproxy: {} {}", r.status, r.reason);
    r.data()
}

fn port_of(data: &Value) -> u64 {
    data["port"].as_u64().expect("port is a number")
}

fn ticket_of(data: &Value) -> String {
    data["ticket"].as_str().expect("ticket").to_owned()
}

/// termproxy from POST to prompt: the WebSocket, after `OK` and the prompt `root@{host}:~# `.
fn open_shell(sim: &Simulator, c: &mut Client, base: &str, host: &str) -> Ws {
    let data = termproxy(c, base);
    let mut ws = ws_connect(
        sim,
        sim.addr(),
        base,
        port_of(&data),
        &ticket_of(&data),
        Auth::of(c),
    )
    .expect("upgrade");
    // The login line, split across two frames.
    let line = format!(
        "{}:{}\n",
        data["user"].as_str().expect("user"),
        ticket_of(&data)
    );
    let (a, b) = line.split_at(5);
    send(&mut ws, a.as_bytes());
    send(&mut ws, b.as_bytes());
    let out = read_until(&mut ws, &format!("root@{host}:~# "));
    assert_eq!(out, format!("OKroot@{host}:~# "));
    ws
}

/// Wait until the only console session satisfies `f` (the session thread updates it).
fn wait_session(
    sim: &Simulator,
    f: impl Fn(&proxmox_sim::ConsoleRecord) -> bool,
) -> proxmox_sim::ConsoleRecord {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let all = sim.console_sessions();
        if let Some(r) = all.last()
            && f(r)
        {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "session never got there: {all:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Read until the connection ends; whether a close frame came first.
fn read_to_end(ws: &mut Ws) -> (Option<u16>, tungstenite::Error) {
    let mut close = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "connection did not end");
        match ws.read() {
            Ok(Message::Close(f)) => close = Some(f.map_or(0, |f| u16::from(f.code))),
            Ok(_) => {}
            Err(e) => return (close, e),
        }
    }
}

#[test]
fn termproxy_login_and_echo() {
    let sim = start();
    let mut c = root_client(&sim);
    let data = termproxy(&mut c, "/nodes/pve1");
    assert_eq!(data["user"], "root@pam");
    let ticket = ticket_of(&data);
    assert!(ticket.starts_with("PVEVNC:"), "{ticket}");
    assert_eq!(
        ticket.split("::").next().map(str::len),
        Some(15),
        "{ticket}"
    );
    assert_eq!(port_of(&data), 5900);
    let upid = data["upid"].as_str().expect("upid");
    assert!(
        upid.starts_with("UPID:pve1:") && upid.contains(":vncshell::root@pam:"),
        "{upid}"
    );

    let mut ws = open_shell(&sim, &mut c, "/nodes/pve1", "pve1");
    type_text(&mut ws, "echo hi\r");
    let out = read_until(&mut ws, "hi\r\nroot@pve1:~# ");
    assert_eq!(out, "echo hi\r\nhi\r\nroot@pve1:~# ");
    // Unknown commands, hostname, a message joined with the next one in one frame.
    send(&mut ws, b"0:6:uname\r0:9:hostname\r");
    let out = read_until(&mut ws, "pve1\r\nroot@pve1:~# ");
    assert_eq!(
        out,
        "uname\r\nLinux\r\nroot@pve1:~# hostname\r\npve1\r\nroot@pve1:~# "
    );
    type_text(&mut ws, "ls\r");
    read_until(&mut ws, "ls: command not found\r\nroot@pve1:~# ");

    let rec = wait_session(&sim, |r| r.input_bytes == 8 + 15 + 3);
    assert_eq!(rec.node, "pve1");
    assert_eq!(rec.path, "/nodes/pve1");
    assert_eq!(rec.kind, ConsoleKind::Termproxy);
    assert_eq!(rec.user, "root@pam");
    assert!(rec.connected && rec.login_accepted);
    assert_eq!(rec.ended, ConsoleEnd::Open);
    // The upgrade is logged as 101; the task runs while the session does.
    let log = sim.requests();
    let up = log
        .iter()
        .find(|e| e.path.ends_with("/vncwebsocket"))
        .expect("logged");
    assert_eq!(up.status, 101);
    // This shell is the second session (port 5901); the first one still waits.
    assert_eq!(rec.port, 5901);
    let st = c
        .get(&format!("/nodes/pve1/tasks/{}/status", enc(&rec.upid)))
        .data();
    assert_eq!(st["status"], "running");

    ws.close(None).expect("close");
    let (close, _) = read_to_end(&mut ws);
    assert_eq!(close, Some(0), "the server answers the close frame");
    let rec = wait_session(&sim, |r| r.ended != ConsoleEnd::Open);
    assert_eq!(rec.ended, ConsoleEnd::ClientClose(None));
    let st = c
        .get(&format!("/nodes/pve1/tasks/{}/status", enc(&rec.upid)))
        .data();
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["exitstatus"], "OK");
}

#[test]
fn resize_then_stty_size_and_keepalives() {
    let sim = start();
    let mut c = root_client(&sim);
    let mut ws = open_shell(&sim, &mut c, "/nodes/pve1", "pve1");
    // termproxy's pty starts at 80x20.
    type_text(&mut ws, "stty size\r");
    read_until(&mut ws, "\r\n20 80\r\nroot@pve1:~# ");
    // A resize split over two frames, then keepalives alone and joined.
    send(&mut ws, b"1:132:");
    send(&mut ws, b"43:");
    send(&mut ws, b"2");
    send(&mut ws, b"22");
    type_text(&mut ws, "stty size\r");
    read_until(&mut ws, "\r\n43 132\r\nroot@pve1:~# ");
    let rec = wait_session(&sim, |r| r.keepalives == 3);
    assert_eq!(rec.size, Some((132, 43)));
    // Ping is answered with pong.
    ws.send(Message::Ping(Bytes::from_static(b"hello")))
        .expect("ping");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline);
        if let Message::Pong(p) = ws.read().expect("read") {
            assert_eq!(&p[..], b"hello");
            break;
        }
    }
}

#[test]
fn bulk_output_and_split_utf8() {
    let sim = start();
    let mut c = root_client(&sim);
    let mut ws = open_shell(&sim, &mut c, "/nodes/pve1", "pve1");
    type_text(&mut ws, "bulk 100000\r");
    let out = read_until(&mut ws, "root@pve1:~# ");
    let body = out
        .strip_prefix("bulk 100000\r\n")
        .and_then(|o| o.strip_suffix("root@pve1:~# "))
        .expect("output");
    assert_eq!(body.len(), 100_000);
    assert!(body.bytes().all(|b| matches!(b, b'x' | b'\r' | b'\n')));
    // Command output is cut in two frames, here inside the 'é'.
    type_text(&mut ws, "echo aé\r");
    let mut frames: Vec<Vec<u8>> = Vec::new();
    while !frames.concat().ends_with(b"root@pve1:~# ") {
        if let Message::Binary(b) = ws.read().expect("read") {
            frames.push(b.to_vec());
        }
    }
    assert_eq!(frames.concat(), "echo aé\r\naé\r\nroot@pve1:~# ".as_bytes());
    assert!(
        frames.iter().any(|f| std::str::from_utf8(f).is_err()),
        "{frames:?}"
    );
}

#[test]
fn bad_ticket_and_missing_auth_are_401() {
    let sim = start();
    let mut c = root_client(&sim);
    let data = termproxy(&mut c, "/nodes/pve1");
    let port = port_of(&data);
    let ticket = ticket_of(&data);
    let tampered = format!("{}x", ticket.trim_end_matches('='));
    let e = ws_connect(
        &sim,
        sim.addr(),
        "/nodes/pve1",
        port,
        &tampered,
        Auth::of(&c),
    )
    .expect_err("refused");
    assert_eq!(http_status(&e), Some(401), "{e}");
    // Another port: the ticket is bound to it.
    let e = ws_connect(
        &sim,
        sim.addr(),
        "/nodes/pve1",
        port + 1,
        &ticket,
        Auth::of(&c),
    )
    .expect_err("refused");
    assert_eq!(http_status(&e), Some(401), "{e}");
    // Another path (a guest): the ticket is bound to /nodes/pve1.
    let e = ws_connect(
        &sim,
        sim.addr(),
        "/nodes/pve1/qemu/100",
        port,
        &ticket,
        Auth::of(&c),
    )
    .expect_err("refused");
    assert_eq!(http_status(&e), Some(401), "{e}");
    // No cookie at all.
    let e = ws_connect(
        &sim,
        sim.addr(),
        "/nodes/pve1",
        port,
        &ticket,
        Auth::Nothing,
    )
    .expect_err("refused");
    assert_eq!(http_status(&e), Some(401), "{e}");
    // The session still waits: none of them reached it.
    assert!(!sim.console_sessions()[0].connected);
    // Without an upgrade the call only checks the ticket.
    let r = c.get(&format!(
        "/nodes/pve1/vncwebsocket?port={port}&vncticket={}",
        enc(&ticket)
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.data()["port"], port.to_string());
}

#[test]
fn ticket_expires_after_40_seconds() {
    let sim = start();
    let mut c = root_client(&sim);
    let data = termproxy(&mut c, "/nodes/pve1");
    sim.clock().advance(Duration::from_secs(41));
    let e = ws_connect(
        &sim,
        sim.addr(),
        "/nodes/pve1",
        port_of(&data),
        &ticket_of(&data),
        Auth::of(&c),
    )
    .expect_err("refused");
    assert_eq!(http_status(&e), Some(401), "{e}");
    assert_eq!(sim.console_sessions()[0].ended, ConsoleEnd::NeverConnected);
    // Its task failed like termproxy's wait for a client.
    let upid = data["upid"].as_str().expect("upid");
    let st = c
        .get(&format!("/nodes/pve1/tasks/{}/status", enc(upid)))
        .data();
    assert_eq!(st["exitstatus"], "failed waiting for client: timed out");
}

#[test]
fn nothing_listens_after_10_seconds_or_a_second_time() {
    let sim = start();
    sim.set_console_failure_delay(Duration::from_millis(200));
    let mut c = root_client(&sim);
    let data = termproxy(&mut c, "/nodes/pve1");
    sim.clock().advance(Duration::from_secs(11));
    // The ticket is still valid, but termproxy stopped listening: pveproxy's worker dies.
    let t0 = Instant::now();
    let e = ws_connect(
        &sim,
        sim.addr(),
        "/nodes/pve1",
        port_of(&data),
        &ticket_of(&data),
        Auth::of(&c),
    )
    .expect_err("refused");
    assert_eq!(http_status(&e), None, "no answer at all: {e}");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert_eq!(sim.console_sessions()[0].ended, ConsoleEnd::NeverConnected);
    // The port is free again; a session serves one connection.
    let data = termproxy(&mut c, "/nodes/pve1");
    assert_eq!(port_of(&data), 5900);
    let (port, ticket) = (port_of(&data), ticket_of(&data));
    let mut ws =
        ws_connect(&sim, sim.addr(), "/nodes/pve1", port, &ticket, Auth::of(&c)).expect("upgrade");
    send(&mut ws, format!("root@pam:{ticket}\n").as_bytes());
    read_until(&mut ws, "OKroot@pve1:~# ");
    let t0 = Instant::now();
    let e = ws_connect(&sim, sim.addr(), "/nodes/pve1", port, &ticket, Auth::of(&c))
        .expect_err("refused");
    assert_eq!(http_status(&e), None, "no answer at all: {e}");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|e| e.path.ends_with("/vncwebsocket"))
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, vec![0, 101, 0]);
    // While it is open, the next POST gets the next port.
    assert_eq!(port_of(&termproxy(&mut c, "/nodes/pve1")), 5901);
    type_text(&mut ws, "echo still here\r");
    read_until(&mut ws, "still here\r\nroot@pve1:~# ");
}

#[test]
fn websocket_on_another_node_finds_nothing_listening() {
    let sim = start_cluster();
    sim.set_console_failure_delay(Duration::from_millis(200));
    let urls = sim.node_urls();
    let node2: SocketAddr = urls[1]
        .strip_prefix("https://")
        .and_then(|a| a.parse().ok())
        .expect("node 2 address");
    let mut c = root_client(&sim);
    let data = termproxy(&mut c, "/nodes/pve1");
    let (port, ticket) = (port_of(&data), ticket_of(&data));
    // pve2 accepts the ticket (one auth key for the cluster) but nothing listens on its
    // localhost: no answer, then the connection closes.
    let t0 = Instant::now();
    let e =
        ws_connect(&sim, node2, "/nodes/pve1", port, &ticket, Auth::of(&c)).expect_err("refused");
    assert_eq!(http_status(&e), None, "no HTTP answer: {e}");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    let entry = sim
        .requests()
        .into_iter()
        .find(|e| e.path.ends_with("/vncwebsocket"))
        .expect("logged");
    assert_eq!((entry.node.as_str(), entry.status), ("pve2", 0));
    // The session on pve1 still waits, and the node that answered the POST serves it.
    assert!(!sim.console_sessions()[0].connected);
    let mut ws = ws_connect(&sim, sim.addr(), "/nodes/pve1", port, &ticket, Auth::of(&c))
        .expect("upgrade on pve1");
    send(&mut ws, format!("root@pam:{ticket}\n").as_bytes());
    read_until(&mut ws, "OKroot@pve1:~# ");
    // A shell of pve2 opened through pve1 lives on pve1 too.
    let data = termproxy(&mut c, "/nodes/pve2");
    let rec = sim.console_sessions().pop().expect("session");
    assert_eq!(
        (rec.node.as_str(), rec.path.as_str()),
        ("pve1", "/nodes/pve2")
    );
    assert_eq!(port_of(&data), 5901);
}

#[test]
fn exit_closes_with_1000_and_drop_without_a_close_frame() {
    let sim = start();
    let mut c = root_client(&sim);
    let mut ws = open_shell(&sim, &mut c, "/nodes/pve1", "pve1");
    type_text(&mut ws, "exit\r");
    let (close, end) = read_to_end(&mut ws);
    assert_eq!(close, Some(1000));
    assert!(matches!(end, tungstenite::Error::ConnectionClosed), "{end}");
    assert_eq!(
        wait_session(&sim, |r| r.ended != ConsoleEnd::Open).ended,
        ConsoleEnd::Exit
    );

    let mut ws = open_shell(&sim, &mut c, "/nodes/pve1", "pve1");
    type_text(&mut ws, "drop\r");
    let (close, end) = read_to_end(&mut ws);
    assert_eq!(close, None, "no close frame");
    assert!(
        matches!(
            end,
            tungstenite::Error::Io(_)
                | tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
                )
        ),
        "{end}"
    );
    assert_eq!(
        wait_session(&sim, |r| r.ended != ConsoleEnd::Open).ended,
        ConsoleEnd::Dropped
    );
}

#[test]
fn oversize_frame_is_refused_from_its_header() {
    let sim = start();
    let mut c = root_client(&sim);
    let mut ws = open_shell(&sim, &mut c, "/nodes/pve1", "pve1");
    type_text(&mut ws, "oversize\r");
    let t0 = Instant::now();
    let (_, end) = read_to_end(&mut ws);
    assert!(
        matches!(end, tungstenite::Error::Capacity(_)),
        "refused from the header: {end}"
    );
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[test]
fn fragmented_frame_kills_the_worker() {
    let sim = start();
    sim.set_console_failure_delay(Duration::from_millis(200));
    let mut c = root_client(&sim);
    let mut ws = open_shell(&sim, &mut c, "/nodes/pve1", "pve1");
    let frame = Frame::message(
        Bytes::from_static(b"0:1:"),
        OpCode::Data(Data::Binary),
        false,
    );
    ws.send(Message::Frame(frame)).expect("send");
    let t0 = Instant::now();
    let (close, _) = read_to_end(&mut ws);
    assert_eq!(close, None);
    assert!(t0.elapsed() >= Duration::from_millis(150));
    assert_eq!(
        wait_session(&sim, |r| r.ended != ConsoleEnd::Open).ended,
        ConsoleEnd::ProtocolError("received fragmented websocket frame".into())
    );
}

#[test]
fn guests_and_a_stopped_vm() {
    let sim = start();
    let mut c = root_client(&sim);
    let mut ws = open_shell(&sim, &mut c, "/nodes/pve1/qemu/100", "web1");
    type_text(&mut ws, "hostname\r");
    read_until(&mut ws, "web1\r\nroot@web1:~# ");
    let rec = sim.console_sessions().pop().expect("session");
    assert_eq!(rec.path, "/vms/100");
    assert!(rec.upid.contains(":vncproxy:100:root@pam:"), "{}", rec.upid);
    let _ct = open_shell(&sim, &mut c, "/nodes/pve1/lxc/200", "ct1");
    // A stopped VM: the POST works, termproxy says OK, then qm's error, then closes.
    let data = termproxy(&mut c, "/nodes/pve1/qemu/101");
    let mut ws = ws_connect(
        &sim,
        sim.addr(),
        "/nodes/pve1/qemu/101",
        port_of(&data),
        &ticket_of(&data),
        Auth::of(&c),
    )
    .expect("upgrade");
    send(
        &mut ws,
        format!("root@pam:{}\n", ticket_of(&data)).as_bytes(),
    );
    assert_eq!(read_until(&mut ws, "\r\n"), "OKVM 101 not running\r\n");
    let (close, _) = read_to_end(&mut ws);
    assert_eq!(close, None);
    // No such guest on that node; alice lacks VM.Console.
    assert_eq!(c.post("/nodes/pve1/qemu/200/termproxy", &[]).status, 500);
    let mut alice = Client::new(&sim);
    assert_eq!(alice.login("alice@pve", "alicepw").status, 200);
    let r = alice.post("/nodes/pve1/qemu/100/termproxy", &[]);
    assert_eq!(
        (r.status, r.reason.as_str()),
        (403, "Permission check failed (/vms/100, VM.Console)")
    );
    let r = alice.post("/nodes/pve1/termproxy", &[]);
    assert_eq!(
        (r.status, r.reason.as_str()),
        (403, "Permission check failed (/nodes/pve1, Sys.Console)")
    );
}

#[test]
fn wrong_login_line_closes_without_a_word() {
    let sim = start();
    let mut c = root_client(&sim);
    let data = termproxy(&mut c, "/nodes/pve1");
    let mut ws = ws_connect(
        &sim,
        sim.addr(),
        "/nodes/pve1",
        port_of(&data),
        &ticket_of(&data),
        Auth::of(&c),
    )
    .expect("upgrade");
    send(
        &mut ws,
        format!("alice@pve:{}\n", ticket_of(&data)).as_bytes(),
    );
    let mut got = Vec::new();
    let end = loop {
        match ws.read() {
            Ok(Message::Binary(b)) => got.extend_from_slice(&b),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(got.is_empty(), "{got:?}");
    assert!(
        !matches!(end, tungstenite::Error::ConnectionClosed),
        "no close frame: {end}"
    );
    let rec = wait_session(&sim, |r| r.ended != ConsoleEnd::Open);
    assert_eq!(rec.ended, ConsoleEnd::LoginRefused);
    assert!(!rec.login_accepted);
}

#[test]
fn tokens_on_new_and_old_servers() {
    let sim = start();
    let mut t = token_client(&sim);
    // New servers: the token is the user.
    let data = termproxy(&mut t, "/nodes/pve1");
    assert_eq!(data["user"], "root@pam!ci");
    let _ws = open_shell(&sim, &mut t, "/nodes/pve1/qemu/100", "web1");
    assert_eq!(
        sim.console_sessions().pop().map(|r| r.user),
        Some("root@pam!ci".into())
    );
    // vncshell refuses tokens everywhere.
    let r = t.post("/nodes/pve1/vncshell", &[("websocket", "1")]);
    assert_eq!(
        (r.status, r.reason.as_str()),
        (
            500,
            "value 'root@pam!ci' does not look like a valid user name"
        )
    );

    // Old servers.
    sim.set_console_tokens_allowed(false);
    let r = t.post("/nodes/pve1/termproxy", &[]);
    assert_eq!(
        (r.status, r.reason.as_str()),
        (
            500,
            "value 'root@pam!ci' does not look like a valid user name"
        )
    );
    let data = termproxy(&mut t, "/nodes/pve1/qemu/100");
    let mut ws = ws_connect(
        &sim,
        sim.addr(),
        "/nodes/pve1/qemu/100",
        port_of(&data),
        &ticket_of(&data),
        Auth::of(&t),
    )
    .expect("upgrade");
    send(
        &mut ws,
        format!("root@pam!ci:{}\n", ticket_of(&data)).as_bytes(),
    );
    let (close, _) = read_to_end(&mut ws);
    assert_eq!(close, None, "closed without OK and without a close frame");
    let rec = wait_session(&sim, |r| r.ended != ConsoleEnd::Open);
    assert_eq!(rec.ended, ConsoleEnd::LoginRefused);
    assert!(!rec.login_accepted);
    // Users still work.
    let mut c = root_client(&sim);
    let _ws = open_shell(&sim, &mut c, "/nodes/pve1", "pve1");
}

/// The VNC client's answer to the challenge (RFC 6143 §7.2.2).
fn vnc_response(password: &str, challenge: &[u8]) -> Vec<u8> {
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password.bytes()) {
        *k = p.reverse_bits();
    }
    let cipher = des::Des::new(GenericArray::from_slice(&key));
    let mut out = challenge.to_vec();
    for block in out.chunks_exact_mut(8) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

/// Read exactly `n` bytes of the RFB stream.
fn rfb_read(ws: &mut Ws, buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
    while buf.len() < n {
        if let Message::Binary(b) = ws.read().expect("read") {
            buf.extend_from_slice(&b);
        }
    }
    let rest = buf.split_off(n);
    std::mem::replace(buf, rest)
}

/// vncproxy + WebSocket + RFB up to the security result; the result and the connection.
fn vnc_login(
    sim: &Simulator,
    c: &mut Client,
    base: &str,
    post: &str,
    wrong: bool,
) -> (u32, Vec<u8>, Ws) {
    // A VM's display has a generated password only when asked for.
    let params: &[(&str, &str)] = if base.contains("/qemu/") {
        &[("websocket", "1"), ("generate-password", "1")]
    } else {
        &[("websocket", "1")]
    };
    let r = c.post(&format!("{base}/{post}"), params);
    assert_eq!(r.status, 200, "{}", r.reason);
    let data = r.data();
    let password = data["password"].as_str().expect("password").to_owned();
    assert_eq!(password.len(), 8);
    assert!(
        password.bytes().all(|b| (b'!'..=b'`').contains(&b)),
        "{password}"
    );
    let ticket = ticket_of(&data);
    // `<password>:PVEVNC:…` (the password may hold a ':' itself).
    assert_eq!(ticket.get(..9), Some(format!("{password}:").as_str()));
    assert!(ticket.get(9..).is_some_and(|t| t.starts_with("PVEVNC:")));
    assert!(
        data["cert"]
            .as_str()
            .is_some_and(|c| c.contains("BEGIN CERTIFICATE"))
    );
    let mut ws =
        ws_connect(sim, sim.addr(), base, port_of(&data), &ticket, Auth::of(c)).expect("upgrade");
    let mut buf = Vec::new();
    assert_eq!(rfb_read(&mut ws, &mut buf, 12), b"RFB 003.008\n");
    send(&mut ws, b"RFB 003.008\n");
    assert_eq!(rfb_read(&mut ws, &mut buf, 2), [1, 2]);
    send(&mut ws, &[2]);
    let challenge = rfb_read(&mut ws, &mut buf, 16);
    let pw = if wrong { "wrong!!!" } else { password.as_str() };
    send(&mut ws, &vnc_response(pw, &challenge));
    let result = rfb_read(&mut ws, &mut buf, 4);
    (
        u32::from_be_bytes([result[0], result[1], result[2], result[3]]),
        buf,
        ws,
    )
}

#[test]
fn vnc_handshake_right_and_wrong_password() {
    let sim = start();
    let mut c = root_client(&sim);
    let (result, mut buf, mut ws) =
        vnc_login(&sim, &mut c, "/nodes/pve1/qemu/100", "vncproxy", false);
    assert_eq!(result, 0);
    send(&mut ws, &[1]);
    let init = rfb_read(&mut ws, &mut buf, 24);
    assert_eq!(&init[..4], &[0x02, 0x80, 0x01, 0xe0], "640x480");
    assert_eq!(init[4], 32, "bits per pixel");
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    assert_eq!(rfb_read(&mut ws, &mut buf, name_len), b"web1");
    let rec = wait_session(&sim, |r| r.login_accepted);
    assert_eq!(rec.kind, ConsoleKind::Vnc);
    ws.close(None).expect("close");
    let _ = read_to_end(&mut ws);

    let (result, mut buf, mut ws) = vnc_login(&sim, &mut c, "/nodes/pve1", "vncshell", true);
    assert_eq!(result, 1);
    let len = rfb_read(&mut ws, &mut buf, 4);
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    assert_eq!(rfb_read(&mut ws, &mut buf, len), b"Authentication failed");
    let (close, _) = read_to_end(&mut ws);
    assert_eq!(close, None);
    let rec = wait_session(&sim, |r| r.ended != ConsoleEnd::Open);
    assert_eq!(rec.ended, ConsoleEnd::VncAuthFailed);
    assert!(!rec.login_accepted);
}

#[test]
fn spiceproxy_fields() {
    let sim = start();
    let mut c = root_client(&sim);
    let r = c.post("/nodes/pve1/qemu/100/spiceproxy", &[]);
    assert_eq!(r.status, 200, "{}", r.reason);
    let d = r.data();
    assert_eq!(d["type"], "spice");
    assert_eq!(d["title"], "VM 100 - web1");
    let host = d["host"].as_str().expect("host");
    assert!(
        host.starts_with("pvespiceproxy:") && host.contains(":100:pve1:"),
        "{host}"
    );
    assert_eq!(d["proxy"], "http://127.0.0.1:3128");
    assert!(
        d["tls-port"]
            .as_u64()
            .is_some_and(|p| (61000..62000).contains(&p))
    );
    assert!(
        d["host-subject"]
            .as_str()
            .is_some_and(|s| s.contains("CN="))
    );
    let ca = d["ca"].as_str().expect("ca");
    assert!(
        ca.starts_with("-----BEGIN CERTIFICATE-----\\n") && !ca.contains('\n'),
        "{ca}"
    );
    let pw = d["password"].as_str().expect("password");
    assert!(
        pw.len() == 40 && pw.bytes().all(|b| b.is_ascii_hexdigit()),
        "{pw}"
    );
    assert_eq!(d["delete-this-file"], 1);
    assert_eq!(d["secure-attention"], "Ctrl+Alt+Ins");
    assert_eq!(d["toggle-fullscreen"], "Shift+F11");
    assert_eq!(d["release-cursor"], "Ctrl+Alt+R");
    let d = c
        .post(
            "/nodes/pve1/lxc/200/spiceproxy",
            &[("proxy", "pve.example.com")],
        )
        .data();
    assert_eq!(
        (d["title"].as_str(), d["proxy"].as_str()),
        (Some("CT 200"), Some("http://pve.example.com:3128"))
    );
    let r = c.post("/nodes/pve1/qemu/101/spiceproxy", &[]);
    assert_eq!((r.status, r.reason.as_str()), (500, "VM 101 not running"));
}

#[test]
fn upgrade_header_checks_like_pveproxy() {
    let sim = start();
    let mut c = root_client(&sim);
    let data = termproxy(&mut c, "/nodes/pve1");
    let ticket = c.ticket.clone().expect("ticket");
    let raw = |extra: &str| {
        format!(
            "GET /api2/json/nodes/pve1/vncwebsocket?port={}&vncticket={} HTTP/1.1\r\nHost: x\r\nCookie: PVEAuthCookie={ticket}\r\n{extra}\r\n",
            port_of(&data),
            enc(&ticket_of(&data))
        )
    };
    let r = c.raw(raw("Upgrade: h2c\r\n").as_bytes()).expect("answer");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (501, "unable to upgrade to protocol 'h2c'")
    );
    let r = c
        .raw(raw("Upgrade: websocket\r\nSec-WebSocket-Version: 8\r\n").as_bytes())
        .expect("answer");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (501, "unsupported websocket-version '8'")
    );
    let r = c
        .raw(raw("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n").as_bytes())
        .expect("answer");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (501, "missing websocket-key")
    );
    // The extjs format answers a bad ticket 200 with success 0: no upgrade either.
    let r = c
        .raw(
            format!(
                "GET /api2/extjs/nodes/pve1/vncwebsocket?port={}&vncticket=PVEVNC:00000000::x HTTP/1.1\r\nHost: x\r\nCookie: PVEAuthCookie={ticket}\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                port_of(&data)
            )
            .as_bytes(),
        )
        .expect("answer");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["success"], 0);
    assert!(!sim.console_sessions()[0].connected);
}

#[test]
fn a_vm_display_without_a_generated_password_takes_the_ticket_as_its_vnc_password() {
    let sim = start();
    let mut c = root_client(&sim);
    let base = "/nodes/pve1/qemu/100";
    let r = c.post(&format!("{base}/vncproxy"), &[("websocket", "1")]);
    assert_eq!(r.status, 200, "{}", r.reason);
    let data = r.data();
    assert!(data.get("password").is_none(), "{data}");
    let ticket = ticket_of(&data);
    assert!(ticket.starts_with("PVEVNC:"), "{ticket}");
    let mut ws = ws_connect(
        &sim,
        sim.addr(),
        base,
        port_of(&data),
        &ticket,
        Auth::of(&c),
    )
    .expect("upgrade");
    let mut buf = Vec::new();
    assert_eq!(rfb_read(&mut ws, &mut buf, 12), b"RFB 003.008\n");
    send(&mut ws, b"RFB 003.008\n");
    assert_eq!(rfb_read(&mut ws, &mut buf, 2), [1, 2]);
    send(&mut ws, &[2]);
    let challenge = rfb_read(&mut ws, &mut buf, 16);
    send(&mut ws, &vnc_response(&ticket, &challenge));
    assert_eq!(
        rfb_read(&mut ws, &mut buf, 4),
        [0, 0, 0, 0],
        "SecurityResult OK"
    );
}
