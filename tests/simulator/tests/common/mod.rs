//! A tiny HTTP/1.1 client for the simulator tests (plain TCP or rustls), with keep-alive.

#![allow(dead_code, unreachable_pub)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use proxmox_sim::Simulator;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;

pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn data(&self) -> Value {
        self.json().get("data").cloned().unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Client state: one connection, reused while the server keeps it open.
pub struct Client {
    addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Option<Box<dyn Stream>>,
    pub cookie_name: String,
    pub ticket: Option<String>,
    pub csrf: Option<String>,
    pub authorization: Option<String>,
}

pub fn tls_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("PEM cert")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

impl Client {
    pub fn new(sim: &Simulator) -> Self {
        let tls = sim
            .base_url()
            .starts_with("https")
            .then(|| tls_config(sim.ca_pem()));
        Client {
            addr: sim.addr(),
            tls,
            conn: None,
            cookie_name: format!("{}AuthCookie", sim.service().tag()),
            ticket: None,
            csrf: None,
            authorization: None,
        }
    }

    /// A client for a server not started in-process (e.g. the binary).
    pub fn with(addr: SocketAddr, ca_pem: Option<&str>, tag: &str) -> Self {
        Client {
            addr,
            tls: ca_pem.map(tls_config),
            conn: None,
            cookie_name: format!("{tag}AuthCookie"),
            ticket: None,
            csrf: None,
            authorization: None,
        }
    }

    pub fn connect(&self) -> io::Result<Box<dyn Stream>> {
        let tcp = TcpStream::connect(self.addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(match &self.tls {
            Some(cfg) => {
                let name = ServerName::try_from("127.0.0.1").map_err(io::Error::other)?;
                let conn = rustls::ClientConnection::new(Arc::clone(cfg), name)
                    .map_err(io::Error::other)?;
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
            None => Box::new(tcp),
        })
    }

    /// Send raw request bytes on the current (or a new) connection and read one response.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<Resp> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        conn.write_all(bytes)?;
        conn.flush()?;
        let resp = read_response(&mut conn)?;
        let close = resp
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if !close {
            self.conn = Some(conn);
        }
        Ok(resp)
    }

    pub fn drop_connection(&mut self) {
        self.conn = None;
    }

    pub fn has_connection(&self) -> bool {
        self.conn.is_some()
    }

    fn auth_headers(&self, method: &str) -> String {
        let mut h = String::new();
        if let Some(a) = &self.authorization {
            h.push_str(&format!("Authorization: {a}\r\n"));
        }
        if let Some(t) = &self.ticket {
            h.push_str(&format!("Cookie: {}={t}\r\n", self.cookie_name));
            if method != "GET"
                && let Some(c) = &self.csrf
            {
                h.push_str(&format!("CSRFPreventionToken: {c}\r\n"));
            }
        }
        h
    }

    pub fn request(&mut self, method: &str, path: &str, form: &[(&str, &str)]) -> io::Result<Resp> {
        let enc = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let full = if path.starts_with("/api2/") || path.starts_with("/dashboard") || path == "/" {
            path.to_owned()
        } else {
            format!("/api2/json{path}")
        };
        let mut req;
        if method == "GET" || method == "DELETE" {
            let target = if enc.is_empty() {
                full
            } else {
                format!("{full}?{enc}")
            };
            req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            req.push_str(&self.auth_headers(method));
            req.push_str("\r\n");
        } else {
            req = format!("{method} {full} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            req.push_str(&self.auth_headers(method));
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{enc}",
                enc.len()
            ));
        }
        self.raw(req.as_bytes())
    }

    pub fn get(&mut self, path: &str) -> Resp {
        self.request("GET", path, &[]).expect("GET")
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.request("POST", path, form).expect("POST")
    }

    /// Password login; stores ticket and CSRF token on success.
    pub fn login(&mut self, user: &str, password: &str) -> Resp {
        let r = self.post(
            "/access/ticket",
            &[("username", user), ("password", password)],
        );
        if r.status == 200 {
            let d = r.data();
            if d.get("NeedTFA").is_none() {
                self.ticket = d["ticket"].as_str().map(str::to_owned);
                self.csrf = d["CSRFPreventionToken"].as_str().map(str::to_owned);
            }
        }
        r
    }
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn read_response(conn: &mut Box<dyn Stream>) -> io::Result<Resp> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = conn.read(&mut byte)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before response",
            ));
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body)?;
    Ok(Resp {
        status,
        reason,
        headers,
        body,
    })
}

/// Start a plain-HTTP PVE simulator with test defaults.
pub fn plain(service: proxmox_sim::Service) -> Simulator {
    let mut cfg = proxmox_sim::Config::new(service);
    cfg.plain_http = true;
    cfg.start_time = Some(Duration::from_secs(1_795_000_000));
    Simulator::start(cfg).expect("start simulator")
}

/// Log in as root and return the client.
pub fn root_client(sim: &Simulator) -> Client {
    let mut c = Client::new(sim);
    let r = c.login("root@pam", sim.root_password());
    assert_eq!(r.status, 200, "login: {} {}", r.status, r.reason);
    c
}
