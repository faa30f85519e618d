//! TLS, keep-alive, fault injection, the request log and static files.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Client, plain, root_client};
use proxmox_sim::{AuthKind, Config, Fault, Service, Simulator};
use sha2::Digest;

#[test]
fn tls_with_generated_certificate() {
    let sim = Simulator::start(Config::new(Service::Pve)).expect("start");
    assert!(sim.base_url().starts_with("https://127.0.0.1:"));
    assert!(sim.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let fp: String = sha2::Sha256::digest(sim.cert_der())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(sim.fingerprint_sha256(), fp);
    // rustls verifies the self-signed CA:FALSE certificate against itself as the trust anchor.
    let mut c = root_client(&sim);
    let r = c.get("/nodes");
    assert_eq!(r.status, 200);
    assert_eq!(r.data()[0]["ssl_fingerprint"], fp);
    // Keep-alive over TLS: same connection for both requests.
    let ids: Vec<u64> = sim.requests().iter().map(|e| e.conn_id).collect();
    assert_eq!(ids, vec![1, 1]);
    // A client trusting another certificate fails the handshake.
    let other = Simulator::start(Config::new(Service::Pve)).expect("start other");
    let cfg = common::tls_config(other.ca_pem());
    let tcp = TcpStream::connect(sim.addr()).expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(cfg, name).expect("client");
    let mut s = rustls::StreamOwned::new(conn, tcp);
    assert!(
        s.write_all(b"GET / HTTP/1.1\r\n\r\n")
            .and_then(|_| s.flush())
            .is_err()
            || {
                let mut b = [0u8; 1];
                s.read(&mut b).is_err()
            }
    );
}

#[test]
fn certificate_is_an_end_entity_with_loopback_names() {
    let sim = Simulator::start(Config::new(Service::Pbs)).expect("start");
    let der = sim.cert_der();
    // basicConstraints: OID, optional critical flag, then OCTET STRING { SEQUENCE { cA? } }.
    // CA:FALSE is the empty SEQUENCE (04 02 30 00); CA:TRUE would be 04 05 30 03 01 01 FF.
    let bc_oid = [0x06, 0x03, 0x55, 0x1d, 0x13];
    let pos = der
        .windows(5)
        .position(|w| w == bc_oid)
        .expect("basicConstraints present");
    let mut rest = &der[pos + 5..];
    if rest.starts_with(&[0x01, 0x01, 0xff]) {
        rest = &rest[3..];
    }
    assert_eq!(&rest[..4], &[0x04, 0x02, 0x30, 0x00], "CA:FALSE");
    // SAN has 127.0.0.1 and ::1.
    assert!(der.windows(6).any(|w| w == [0x87, 0x04, 127, 0, 0, 1]));
    assert!(der.windows(2).any(|w| w == [0x87, 0x10]));
    assert!(der.windows(9).any(|w| w == b"localhost"));
}

#[test]
fn keep_alive_and_errors_close_connections() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    assert_eq!(c.get("/version").status, 200);
    assert!(c.has_connection());
    assert_eq!(c.get("/nodes/pve1/qemu/999/config").status, 500);
    assert!(!c.has_connection(), "status >= 400 closes the connection");
    assert_eq!(c.get("/version").status, 200);
    let ids: Vec<u64> = sim.requests().iter().map(|e| e.conn_id).collect();
    assert_eq!(ids, vec![1, 1, 1, 2]);
    assert_eq!(sim.connections_accepted(), 2);
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let sim = plain(Service::Pve);
    sim.set_keepalive_idle(Some(Duration::from_millis(300)));
    let mut s = TcpStream::connect(sim.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /api2/json/access/ticket HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).expect("response");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    let t = Instant::now();
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "server closed the idle connection");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[test]
fn status_override_for_next_calls() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    sim.inject(Fault::status("GET", "/nodes/pve1/qemu", 503, "Service Unavailable").times(2));
    for _ in 0..2 {
        let r = c.get("/nodes/pve1/qemu/100/status/current");
        assert_eq!((r.status, r.reason.as_str()), (503, "Service Unavailable"));
    }
    assert_eq!(c.get("/nodes/pve1/qemu/100/status/current").status, 200);
    // Method filter: POST is not affected by a GET rule.
    sim.inject(
        Fault::status("GET", "/version", 595, "No route to host")
            .with_body("{\"data\":null,\"x\":1}"),
    );
    let r = c.get("/version");
    assert_eq!((r.status, r.reason.as_str()), (595, "No route to host"));
    assert_eq!(r.json()["x"], 1);
    assert_eq!(c.get("/version").status, 595, "without times it stays");
    sim.clear_faults();
    assert_eq!(c.get("/version").status, 200);
    let statuses: Vec<u16> = sim.requests().iter().map(|e| e.status).collect();
    assert_eq!(statuses, vec![200, 503, 503, 200, 595, 595, 200]);
}

#[test]
fn hostile_reason_phrase_is_sent_raw() {
    let sim = plain(Service::Pve);
    sim.inject(Fault::status("*", "", 500, "bad\u{1}\u{7f}reason\ttab").times(1));
    let mut s = TcpStream::connect(sim.addr()).expect("connect");
    s.write_all(b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    assert!(
        buf.starts_with(b"HTTP/1.1 500 bad\x01\x7freason\ttab\r\n"),
        "{buf:?}"
    );
}

#[test]
fn drop_before_and_after_reading_the_request() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    sim.inject(Fault::drop_after_read("POST", "/nodes/pve1/qemu/101/status/start").times(1));
    let e = c.request("POST", "/nodes/pve1/qemu/101/status/start", &[]);
    assert!(e.is_err(), "no answer");
    c.drop_connection();
    // The request was read (and logged with status 0) but not executed.
    let last = sim.requests().last().cloned().expect("logged");
    assert_eq!((last.method.as_str(), last.status), ("POST", 0));
    assert_eq!(sim.guest_status(101).as_deref(), Some("stopped"));
    assert_eq!(c.post("/nodes/pve1/qemu/101/status/start", &[]).status, 200);

    sim.drop_next_connections(2);
    let before = sim.requests().len();
    c.drop_connection();
    assert!(c.request("GET", "/version", &[]).is_err());
    c.drop_connection();
    assert!(c.request("GET", "/version", &[]).is_err());
    c.drop_connection();
    assert_eq!(c.get("/version").status, 200);
    assert_eq!(
        sim.requests().len(),
        before + 1,
        "dropped connections read nothing"
    );
}

#[test]
fn status_596_before_and_after_running_a_write() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    let start = "/nodes/pve1/qemu/101/status/start";
    // Before: the answer comes instead of the call, which has no effect.
    sim.inject(Fault::status("POST", start, 596, "Connection timed out").times(1));
    let r = c.post(start, &[]);
    assert_eq!((r.status, r.reason.as_str()), (596, "Connection timed out"));
    let last = sim.requests().last().cloned().expect("logged");
    assert_eq!((last.status, last.executed), (596, false));
    assert_eq!(sim.guest_status(101).as_deref(), Some("stopped"));
    // After: the call runs (the guest starts), then the client is answered 596, as pveproxy
    // answers when its forwarding times out while the node still runs the call.
    c.drop_connection();
    sim.inject(
        Fault::status_after_running("POST", start, 596, "Connection timed out")
            .with_body("{\"data\":null,\"x\":1}")
            .times(1),
    );
    let r = c.post(start, &[]);
    assert_eq!((r.status, r.reason.as_str()), (596, "Connection timed out"));
    assert_eq!(r.json()["x"], 1);
    let last = sim.requests().last().cloned().expect("logged");
    assert_eq!((last.status, last.executed), (596, true));
    assert_ne!(sim.guest_status(101).as_deref(), Some("stopped"));
    // Requests that reach their handler are executed, whatever they answer.
    c.drop_connection();
    assert_eq!(c.get("/version").status, 200);
    assert_eq!(c.get("/nodes/pve1/qemu/999/config").status, 500);
    let executed: Vec<(u16, bool)> = sim
        .requests()
        .iter()
        .rev()
        .take(2)
        .map(|r| (r.status, r.executed))
        .collect();
    assert_eq!(executed, [(500, true), (200, true)]);
}

#[test]
fn drop_before_read_over_tls_after_handshake() {
    let sim = Simulator::start(Config::new(Service::Pve)).expect("start");
    sim.drop_next_connections(1);
    let mut c = Client::new(&sim);
    assert!(c.request("GET", "/version", &[]).is_err());
    c.drop_connection();
    assert_eq!(c.login("root@pam", "secret").status, 200);
}

#[test]
fn delay_and_max_concurrency() {
    let sim = plain(Service::Pve);
    let ticket = root_client(&sim).ticket.expect("ticket");
    sim.clear_requests();
    sim.inject(Fault::delay("GET", "/version", Duration::from_millis(300)));
    let t = Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let mut c = Client::new(&sim);
            c.ticket = Some(ticket.clone());
            std::thread::spawn(move || c.get("/version").status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), 200);
    }
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        took < Duration::from_millis(1100),
        "served in parallel: {took:?}"
    );
    assert_eq!(sim.max_in_flight(), 4);
    let conns: std::collections::HashSet<u64> = sim.requests().iter().map(|e| e.conn_id).collect();
    assert_eq!(conns.len(), 4);
}

#[test]
fn request_log_fields_and_redaction() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    c.post(
        "/nodes/pve1/qemu/101/config",
        &[("description", "a b"), ("cipassword", "x")],
    );
    c.get("/nodes/pve1/tasks?limit=5&start=0");
    let mut anon = Client::new(&sim);
    anon.get("/version");
    let log = sim.requests();
    assert_eq!(log.len(), 4);
    let login = &log[0];
    assert_eq!(
        (login.method.as_str(), login.path.as_str()),
        ("POST", "/api2/json/access/ticket")
    );
    assert_eq!(login.auth, AuthKind::None);
    assert_eq!(
        login.form,
        vec![
            ("username".into(), "root@pam".into()),
            ("password".into(), "<redacted>".into())
        ]
    );
    assert_eq!(
        login.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        login.content_length,
        Some("username=root%40pam&password=secret".len() as u64)
    );
    let post = &log[1];
    assert!(post.csrf);
    assert_eq!(post.auth, AuthKind::TicketCookie);
    assert!(post.form.contains(&("description".into(), "a b".into())));
    let get = &log[2];
    assert_eq!(
        get.query,
        vec![("limit".into(), "5".into()), ("start".into(), "0".into())]
    );
    assert_eq!(get.path, "/api2/json/nodes/pve1/tasks");
    assert_eq!((log[3].auth, log[3].status), (AuthKind::None, 401));
    let dump = format!("{log:?}");
    assert!(
        !dump.contains("secret") && !dump.contains("PVE:root@pam"),
        "{dump}"
    );
}

#[test]
fn chunked_and_oversized_bodies() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    let r = c
        .raw(b"POST /api2/json/nodes/pve1/qemu HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        .expect("raw");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (501, "chunked transfer encoding not supported")
    );
    let last = sim.requests().last().cloned().expect("logged");
    assert_eq!(
        (last.transfer_encoding.as_deref(), last.content_length),
        (Some("chunked"), None)
    );
    assert!(!last.executed);
    c.drop_connection();
    let r = c
        .raw(b"POST /api2/json/nodes/pve1/qemu HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n")
        .expect("raw");
    assert_eq!((r.status, r.reason.as_str()), (501, "for data too large"));
}

#[test]
fn static_dashboard_route() {
    let dir = std::env::temp_dir().join(format!("proxmox-sim-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("index.html"), "<h1>hi</h1>").expect("write");
    std::fs::write(dir.join("app.wasm"), [0u8, 97, 115, 109]).expect("write");
    let mut cfg = Config::new(Service::Pve);
    cfg.plain_http = true;
    cfg.static_dir = Some(dir.clone());
    let sim = Simulator::start(cfg).expect("start");
    let mut c = Client::new(&sim);
    let r = c.get("/dashboard/");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"<h1>hi</h1>".as_slice())
    );
    let r = c.get("/dashboard/app.wasm");
    assert_eq!(r.header("content-type"), Some("application/wasm"));
    assert_eq!(c.get("/dashboard/../Cargo.toml").status, 404);
    c.drop_connection();
    assert_eq!(c.get("/dashboard/missing.js").status, 404);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_closes_the_port() {
    let mut sim = plain(Service::Pve);
    let addr = sim.addr();
    let mut c = root_client(&sim);
    assert_eq!(c.get("/version").status, 200);
    sim.shutdown();
    assert!(c.request("GET", "/version", &[]).is_err());
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

#[test]
fn binary_prints_url_and_serves_tls() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let ca = std::env::temp_dir().join(format!("proxmox-sim-ca-{}.pem", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_proxmox-sim"))
        .args(["--service", "pve", "--port", "0", "--ca-out"])
        .arg(&ca)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let url = first
        .strip_prefix("proxmox-sim PVE listening on ")
        .unwrap_or_default()
        .to_owned();
    let second = lines.next().and_then(Result::ok).unwrap_or_default();
    let result = std::panic::catch_unwind(|| {
        assert!(url.starts_with("https://127.0.0.1:"), "{first}");
        let addr: std::net::SocketAddr =
            url.trim_start_matches("https://").parse().expect("address");
        let pem = std::fs::read_to_string(&ca).expect("CA file written");
        let mut c = Client::with(addr, Some(&pem), "PVE");
        assert_eq!(c.login("root@pam", "secret").status, 200);
        let nodes = c.get("/nodes");
        assert_eq!(nodes.status, 200);
        let fp = nodes.data()[0]["ssl_fingerprint"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(second, format!("fingerprint {fp}"));
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&ca);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn expect_continue_and_bad_content_length() {
    let sim = plain(Service::Pve);
    let ticket = root_client(&sim).ticket.expect("ticket");
    let mut s = TcpStream::connect(sim.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let body = "vmid=150&memory=512";
    let head = format!(
        "POST /api2/json/nodes/pve1/qemu HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nExpect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        sim.token_header().unwrap_or_default(),
        body.len()
    );
    s.write_all(head.as_bytes()).expect("head");
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).expect("100 Continue");
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).expect("body");
    let mut b = [0u8; 12];
    s.read_exact(&mut b).expect("final status");
    assert_eq!(&b, b"HTTP/1.1 200");
    assert_eq!(sim.guest_status(150).as_deref(), Some("stopped"));

    let mut c = Client::new(&sim);
    c.ticket = Some(ticket);
    let r = c
        .raw(b"POST /api2/json/nodes/pve1/qemu HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n")
        .expect("raw");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (400, "invalid Content-Length")
    );
}
