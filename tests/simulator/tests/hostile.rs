//! The hostile routes (`Config::hostile`, `--hostile`): off by default, and on they send what
//! the table in `src/hostile.rs` promises, generating the huge bodies lazily.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use proxmox_sim::{Config, Service, Simulator};

fn start(hostile: bool) -> Simulator {
    let mut cfg = Config::new(Service::Pve);
    cfg.plain_http = true;
    cfg.hostile = hostile;
    Simulator::start(cfg).expect("start")
}

fn connect(sim: &Simulator, method: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(sim.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let host = format!("127.0.0.1:{}", sim.addr().port());
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: PVEAPIToken=x\r\nContent-Length: 3\r\n\r\na=1"
    )
    .unwrap();
    s
}

/// The whole answer (the connection closes after it).
fn fetch(sim: &Simulator, method: &str, path: &str) -> (String, Vec<u8>) {
    let mut s = connect(sim, method, path);
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    (head, all[end + 4..].to_vec())
}

#[test]
fn off_by_default() {
    let sim = start(false);
    let mut s = connect(&sim, "GET", "/hostile/utf8/api2/json/nodes");
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 501");
}

#[test]
fn answers_as_promised() {
    let sim = start(true);
    let (head, body) = fetch(&sim, "GET", "/hostile/deep/api2/json/nodes");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(body.len(), 8 + 200_000 + 1);
    assert!(body.starts_with(b"{\"data\":[[[") && body.ends_with(b"]]]}"));

    let (head, body) = fetch(&sim, "POST", "/hostile/utf8/api2/json/nodes");
    assert!(head.contains("application/json"), "{head}");
    assert!(std::str::from_utf8(&body).is_err());

    let (head, _) = fetch(&sim, "GET", "/hostile/reason-esc/api2/json/nodes");
    assert!(
        head.starts_with("HTTP/1.1 500 esc \x1b[2J cleared\r\n"),
        "{head:?}"
    );

    let (head, _) = fetch(&sim, "GET", "/hostile/redirect-307/api2/json/nodes");
    assert!(head.starts_with("HTTP/1.1 307 "), "{head}");
    let port = sim.addr().port();
    assert!(
        head.contains(&format!(
            "Location: http://localhost:{port}/hostile/landed/api2/json/nodes\r\n"
        )),
        "{head}"
    );

    // What the routes read, per case.
    let (_, seen) = fetch(&sim, "GET", "/hostile/seen/api2/json/utf8");
    let seen: serde_json::Value = serde_json::from_slice(&seen).unwrap();
    assert_eq!(
        seen["data"],
        serde_json::json!([{"method": "POST", "path": "/hostile/utf8/api2/json/nodes",
                             "authorization": true, "evil": false}])
    );
    // None of this is in the API request log.
    assert!(sim.requests().is_empty());
}

#[test]
fn huge_bodies_are_generated_while_the_client_reads() {
    let sim = start(true);
    for case in ["huge", "huge-chunked", "gzip-bomb"] {
        let mut s = connect(&sim, "GET", &format!("/hostile/{case}/api2/json/nodes"));
        // Read 4 MiB, then hang up: the server stops writing (its write fails).
        let mut got = vec![0u8; 4 << 20];
        s.read_exact(&mut got).unwrap();
        let head = String::from_utf8_lossy(&got[..200]).into_owned();
        match case {
            "huge" => assert!(head.contains("Content-Length: 1073741824\r\n"), "{head}"),
            "huge-chunked" => assert!(head.contains("Transfer-Encoding: chunked\r\n")),
            _ => {
                assert!(head.contains("Content-Encoding: gzip\r\n"), "{head}");
                // The first chunk starts with the gzip magic.
                let body = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                let chunk = got[body..].windows(2).position(|w| w == b"\r\n").unwrap();
                assert_eq!(&got[body + chunk + 2..body + chunk + 4], [0x1f, 0x8b]);
            }
        }
        drop(s);
    }
}

#[test]
fn stalls_end_when_the_client_hangs_up() {
    let sim = start(true);
    let mut s = connect(&sim, "GET", "/hostile/stall-head/api2/json/nodes");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 1];
    let e = s.read(&mut buf).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{e:?}"
    );
    let mut s = connect(&sim, "GET", "/hostile/stall-body/api2/json/nodes");
    let mut head = vec![0u8; 200];
    let n = s.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(
        head.ends_with("Content-Length: 100\r\n\r\n{\"da"),
        "{head:?}"
    );
}
