//! Tiny scripted TLS servers for hostile-input tests: each answers every request with
//! exactly the bytes a test wants (huge or deep bodies, stalls, odd reason phrases, redirects)
//! and records what it read. The certificate pair below was made for these tests only
//! (`openssl req -x509 -newkey ec ...`, valid until 2126); its key protects nothing. Clients
//! trust [`CA_PEM`]; the leaf names `127.0.0.1` and `localhost`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The test CA that signed [`LEAF_PEM`]; what clients of a [`Hostile`] server trust.
pub const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUV4jrPc/JPS3SvcPRh6YkLgT4jwkwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPaG9zdGlsZS10ZXN0LWNhMCAXDTI2MTEyNzEwMDIyMFoYDzIx
MjYxMTAzMTAwMjIwWjAaMRgwFgYDVQQDDA9ob3N0aWxlLXRlc3QtY2EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAASS9Npl3ggDiyXEO5HAm/X8RsT9Zast9nsG5M/U
x7cbqtoGy6q3bPT4GcJwAVZgiOg50HngnPdz2svKBcKxHENFo2MwYTAdBgNVHQ4E
FgQUHF3oSSHxTtgXXjfzKEErStweCh8wHwYDVR0jBBgwFoAUHF3oSSHxTtgXXjfz
KEErStweCh8wDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZI
zj0EAwIDSQAwRgIhALfT6NjDuqHWVUl86hWB7JvaLqfZ2Drw0Ph8r12LuJbmAiEA
vKPJuwvLXthR1iT8BX1Kfa5HmK5jY7b+EsrG71UnUm4=
-----END CERTIFICATE-----
";
/// The server certificate (`127.0.0.1`, `localhost`).
pub const LEAF_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBtDCCAVqgAwIBAgIUfQp7G0vsz+oOGHs4m+ZetnnYX+IwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPaG9zdGlsZS10ZXN0LWNhMCAXDTI2MTEyNzEwMDIyMFoYDzIx
MjYxMTAzMTAwMjIwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAASgkiiixZ4ZnUPOQZqQ4Z317W0fNwdhksw1Fwjx7fnyE8zt
cdyUmBUbB/4K7Y9ML2wictEDpBZoieAxgtiuvmido4GBMH8wGgYDVR0RBBMwEYcE
fwAAAYIJbG9jYWxob3N0MAwGA1UdEwEB/wQCMAAwEwYDVR0lBAwwCgYIKwYBBQUH
AwEwHQYDVR0OBBYEFMEYzN6WufX6xfYCwHakRaOeuKp+MB8GA1UdIwQYMBaAFBxd
6Ekh8U7YF1438yhBK0rcHgofMAoGCCqGSM49BAMCA0gAMEUCIQCU8ixdBzbO7yFl
p/Xp+JXhkEiRK04+MYh9DUlMolWpjgIge8ezxMnZ099dAB7jir2wl4OfHcLh815Q
lL4YFMKqYkg=
-----END CERTIFICATE-----
";
/// The server key (also usable as a throw-away client key in tests).
pub const LEAF_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgaTO4WESmUHGfTtoF
oHjPto+rdOPwogbaea40VUhqzv+hRANCAASgkiiixZ4ZnUPOQZqQ4Z317W0fNwdh
ksw1Fwjx7fnyE8ztcdyUmBUbB/4K7Y9ML2wictEDpBZoieAxgtiuvmid
-----END PRIVATE KEY-----
";

/// One request as a hostile server read it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// The request line and headers.
    pub head: String,
    /// The body (at most 1 MiB is read).
    pub body: Vec<u8>,
}

impl SeenRequest {
    /// The first line (`GET /path HTTP/1.1`).
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

/// What a hostile server does with a request.
pub type Script = Arc<dyn Fn(&mut dyn Write, &SeenRequest) + Send + Sync>;

/// A TLS server on 127.0.0.1 that answers every request with `script` (one request per
/// connection) and records what it read.
pub struct Hostile {
    /// The port on 127.0.0.1.
    pub port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl Hostile {
    /// Start answering every request with `script`.
    pub fn start(script: impl Fn(&mut dyn Write, &SeenRequest) + Send + Sync + 'static) -> Self {
        let script: Script = Arc::new(script);
        let certs =
            vec![CertificateDer::from_pem_slice(LEAF_PEM.as_bytes()).expect("hostile test server")];
        let key = PrivateKeyDer::from_pem_slice(LEAF_KEY.as_bytes()).expect("hostile test server");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("hostile test server")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("hostile test server"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("hostile test server");
        let port = listener.local_addr().expect("hostile test server").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                let (config, seen, script) = (config.clone(), seen2.clone(), script.clone());
                std::thread::spawn(move || serve_one(tcp, config, &seen, &script));
            }
        });
        Self { port, seen }
    }

    /// `127.0.0.1:port`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The requests read so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("hostile test server").clone()
    }
}

fn serve_one(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    seen: &Mutex<Vec<SeenRequest>>,
    script: &Script,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len.min(1 << 20)];
    if tls.read_exact(&mut body).is_err() {
        return;
    }
    let req = SeenRequest { head, body };
    seen.lock().expect("hostile test server").push(req.clone());
    script(&mut tls, &req);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// Write a complete response with `Connection: close`.
pub fn respond(w: &mut dyn Write, status_line: &[u8], headers: &str, body: &[u8]) {
    let mut out = Vec::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status_line);
    out.extend_from_slice(
        format!(
            "\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    let _ = w.write_all(&out);
}

/// Deflate bits, LSB first; Huffman codes are written most significant bit first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn bit(&mut self, b: u32) {
        self.acc |= (b & 1) << self.n;
        self.n += 1;
        if self.n == 8 {
            self.out.push(self.acc as u8);
            self.acc = 0;
            self.n = 0;
        }
    }

    fn code(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.bit(code >> i);
        }
    }

    /// One back-reference of length 258 at distance 1 (fixed Huffman: 8 + 5 bits).
    fn copy_258(&mut self) {
        self.code(0b1100_0101, 8);
        self.code(0, 5);
    }
}

/// An endless gzip bomb: a 10-byte gzip header, then a fixed-Huffman deflate block of one
/// zero byte and copies of it; every 13 bytes of `repeat` decode to 2,064 zero bytes.
pub fn gzip_bomb() -> (Vec<u8>, Vec<u8>) {
    let mut head = Bits::default();
    head.bit(1); // BFINAL
    head.bit(1); // BTYPE = 01, fixed Huffman
    head.bit(0);
    head.code(0b0011_0000, 8); // literal 0
    head.copy_258();
    assert_eq!(head.n, 0);
    let mut prefix = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    prefix.extend_from_slice(&head.out);
    let mut rep = Bits::default();
    for _ in 0..8 {
        rep.copy_258();
    }
    assert_eq!((rep.n, rep.out.len()), (0, 13));
    (prefix, rep.out)
}

/// A script that answers with an endless chunked [`gzip_bomb`]: up to about 1 GiB decoded
/// (8.6 MB on the wire), until the client hangs up.
pub fn serve_gzip_bomb(w: &mut dyn Write, _: &SeenRequest) {
    let (prefix, rep) = gzip_bomb();
    let block: Vec<u8> = rep.iter().copied().cycle().take(13 * 4096).collect();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut ok = w.write_all(head.as_bytes()).is_ok()
        && w.write_all(format!("{:x}\r\n", prefix.len()).as_bytes())
            .is_ok()
        && w.write_all(&prefix).is_ok()
        && w.write_all(b"\r\n").is_ok();
    let mut sent = 0;
    while ok && sent < 1 << 30 {
        ok = w
            .write_all(format!("{:x}\r\n", block.len()).as_bytes())
            .is_ok()
            && w.write_all(&block).is_ok()
            && w.write_all(b"\r\n").is_ok();
        sent += block.len() / 13 * 2064;
    }
}
