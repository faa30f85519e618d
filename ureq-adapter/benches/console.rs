//! Consoles through proxmox-ureq against the simulator's termproxy (release build):
//! `cargo bench -p proxmox-ureq --bench console`.
//!
//! * `echo_rtt_*`: one typed byte and its echo (the fake shell echoes input as a tty does):
//!   a round trip through the console, the connection kept open;
//! * `bulk_*`: the shell's `bulk 16777216` (16 MiB of output in 16 KiB frames) read to the
//!   next prompt: output throughput.
//!
//! `*_proxmox_ureq` is the client's console (`Client::console`); `*_tungstenite` is the
//! ceiling: a raw loop with tungstenite over rustls on the same kind of connection, doing the
//! termproxy protocol by hand (login line, `0:1:x`), with no session machine at all.

use proxmox_sim::{Config, Service, Simulator};
use proxmox_ureq::{Client, ConsoleTarget};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

const BULK: usize = 16 * 1024 * 1024;
const WAIT: Duration = Duration::from_secs(30);

fn main() {
    divan::main();
}

fn sim() -> Simulator {
    Simulator::start(Config::new(Service::Pve)).expect("simulator")
}

fn client(sim: &Simulator) -> Client {
    Client::builder(&sim.url())
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .expect("client")
}

type Ws = WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// The ceiling's connection: the termproxy call through the client, then tungstenite over
/// rustls, the login line and `OK` by hand.
fn raw(sim: &Simulator) -> Ws {
    let c = client(sim);
    let t: serde_json::Value = c
        .call(&proxmox_ureq::Call::post("nodes/pve1/termproxy").unwrap())
        .expect("termproxy");
    let (user, ticket, port) = (
        t["user"].as_str().unwrap().to_owned(),
        t["ticket"].as_str().unwrap().to_owned(),
        t["port"].as_u64().unwrap(),
    );
    let addr = sim.addr();
    let enc: String = ticket
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!("wss://{addr}/api2/json/nodes/pve1/vncwebsocket?port={port}&vncticket={enc}");
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "binary".parse().unwrap());
    req.headers_mut().insert(
        "authorization",
        sim.token_header().unwrap().parse().unwrap(),
    );
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(sim.ca_pem()) {
        roots.add(cert).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
        .unwrap()
        .to_owned();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let (mut ws, _) = tungstenite::client::client(req, rustls::StreamOwned::new(conn, tcp))
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    ws.send(Message::binary(format!("{user}:{ticket}\n").into_bytes()))
        .unwrap();
    raw_until(&mut ws, b"# ");
    ws
}

/// The CA's certificates from PEM (base64 between the markers).
fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap())
        .collect()
}

/// Read until `needle` is in the output read (counting the bytes).
fn raw_until(ws: &mut Ws, needle: &[u8]) -> usize {
    let mut tail: Vec<u8> = Vec::new();
    let mut total = 0;
    loop {
        match ws.read().unwrap() {
            Message::Binary(b) => {
                total += b.len();
                tail.extend_from_slice(&b);
                if tail.windows(needle.len()).any(|w| w == needle) {
                    return total;
                }
                let keep = tail.len().saturating_sub(needle.len());
                tail.drain(..keep);
            }
            Message::Close(_) => panic!("closed"),
            _ => {}
        }
    }
}

#[divan::bench(sample_count = 50, sample_size = 20)]
fn echo_rtt_proxmox_ureq(b: divan::Bencher) {
    let sim = sim();
    let c = client(&sim);
    let shell = c
        .console(ConsoleTarget::Node("pve1".into()))
        .build()
        .unwrap();
    shell.read_until(b"# ", WAIT).unwrap();
    b.bench_local(|| {
        shell.send(b"x").unwrap();
        shell.read_until(b"x", WAIT).unwrap()
    });
}

#[divan::bench(sample_count = 50, sample_size = 20)]
fn echo_rtt_tungstenite(b: divan::Bencher) {
    let sim = sim();
    let mut ws = raw(&sim);
    b.bench_local(|| {
        ws.send(Message::binary(&b"0:1:x"[..])).unwrap();
        raw_until(&mut ws, b"x")
    });
}

#[divan::bench(sample_count = 10, sample_size = 1, counters = [divan::counter::BytesCount::new(BULK)])]
fn bulk_proxmox_ureq(b: divan::Bencher) {
    let sim = sim();
    let c = client(&sim);
    let shell = c
        .console(ConsoleTarget::Node("pve1".into()))
        .build()
        .unwrap();
    shell.read_until(b"# ", WAIT).unwrap();
    let command = format!("bulk {BULK}\r");
    b.bench_local(|| {
        shell.send(command.as_bytes()).unwrap();
        let mut total = 0usize;
        let mut tail = Vec::new();
        loop {
            let chunk = shell.recv(Some(WAIT)).unwrap().unwrap();
            total += chunk.len();
            tail.extend_from_slice(&chunk);
            if tail.ends_with(b"# ") && total > BULK {
                break total;
            }
            let keep = tail.len().saturating_sub(2);
            tail.drain(..keep);
        }
    });
}

#[divan::bench(sample_count = 10, sample_size = 1, counters = [divan::counter::BytesCount::new(BULK)])]
fn bulk_tungstenite(b: divan::Bencher) {
    let sim = sim();
    let mut ws = raw(&sim);
    let command = format!("bulk {BULK}\r");
    let input = format!("0:{}:{command}", command.len());
    b.bench_local(|| {
        ws.send(Message::binary(input.clone().into_bytes()))
            .unwrap();
        let mut total = 0;
        loop {
            total += raw_until(&mut ws, b"# ");
            if total > BULK {
                break total;
            }
        }
    });
}
