//! Side by side with proxmoxer: wire conformance and benchmarks.
//!
//! * [`RecordingProxy`]: a small TLS reverse proxy on loopback that records every request
//!   (method, path, query pairs, form pairs, headers) and forwards it to an upstream HTTPS
//!   server (fakepve). A client marks the start of a scenario step with
//!   `GET /__sbs/step/NAME` (answered by the proxy itself) or [`RecordingProxy::mark`].
//! * [`compare_steps`]: the field-by-field comparison of two recordings (ours, proxmoxer's),
//!   body framing headers included ([`FRAMING_HEADERS`]),
//!   and [`Divergences`], the checked-in table of deliberate differences
//!   (`divergences.json`) that [`check`] applies.
//!
//! The tests live in `tests/conformance.rs`; the benchmark harness in `src/bin/sbs-bench.rs`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use percent_encoding::percent_decode_str;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Errors of the proxy and the divergence table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket or file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The certificate could not be made.
    #[error("certificate: {0}")]
    Cert(String),
    /// TLS configuration failed.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The divergence table does not parse.
    #[error("divergence table: {0}")]
    Table(String),
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The step marked before it (`""` before any mark).
    pub step: String,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as sent (percent-encoding kept), without the query.
    pub raw_path: String,
    /// The query as sent, `key=value` pairs (raw).
    pub raw_query: Vec<(String, String)>,
    /// The `application/x-www-form-urlencoded` body pairs (raw); empty for other bodies.
    pub raw_form: Vec<(String, String)>,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Body length.
    pub body_len: usize,
}

impl Recorded {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// How the request authenticates: `token`, `cookie`, `ticket-header` or `none`.
    pub fn auth_kind(&self) -> &'static str {
        match self.header("authorization") {
            Some(a) if a.starts_with("PVEAPIToken") => return "token",
            Some(a) if a.starts_with("PVEAuthCookie") => return "ticket-header",
            Some(_) => return "other",
            None => {}
        }
        match self.header("cookie") {
            Some(c) if c.contains("PVEAuthCookie=") => "cookie",
            _ => "none",
        }
    }

    /// The media type of the body (`Content-Type` before any `;`), or `-`.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_else(|| "-".to_owned())
    }
}

/// Decode one form/query component (`+` is a space).
pub fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_decode_str(&s).decode_utf8_lossy().into_owned()
}

fn split_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

struct Shared {
    step: Mutex<String>,
    log: Mutex<Vec<Recorded>>,
    stop: AtomicBool,
}

/// A recording TLS reverse proxy on `127.0.0.1` in front of an HTTPS upstream; stopped on
/// drop. One request per client connection (answers carry `Connection: close`).
pub struct RecordingProxy {
    port: u16,
    ca_pem: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RecordingProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingProxy")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl RecordingProxy {
    /// Start in front of `https://127.0.0.1:upstream_port`, trusting `upstream_ca_pem`.
    pub fn start(upstream_port: u16, upstream_ca_pem: &str) -> Result<Self, Error> {
        let (cert_pem, cert_der, key_der) = self_signed()?;
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert_der)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
            )?;
        let mut roots = rustls::RootCertStore::empty();
        for der in pem_certs(upstream_ca_pem) {
            roots
                .add(CertificateDer::from(der))
                .map_err(|e| Error::Cert(e.to_string()))?;
        }
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            step: Mutex::new(String::new()),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let (server, client) = (Arc::new(server), Arc::new(client));
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("sbs-proxy".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if sh.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (server, client, sh) = (server.clone(), client.clone(), sh.clone());
                    std::thread::spawn(move || {
                        let _ = serve(conn, server, client, upstream_port, &sh);
                    });
                }
            })?;
        Ok(Self {
            port,
            ca_pem: cert_pem,
            shared,
        })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The proxy's certificate (PEM; self-signed, `CA:FALSE`, SAN `127.0.0.1`, `localhost`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Start a new step: the requests that follow are recorded under `name`.
    pub fn mark(&self, name: &str) {
        *self.shared.step.lock().unwrap_or_else(|p| p.into_inner()) = name.to_owned();
    }

    /// Take the recording so far (oldest first) and start a new one.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.shared.log.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn self_signed() -> Result<(String, Vec<u8>, Vec<u8>), Error> {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType};
    let e = |e: rcgen::Error| Error::Cert(e.to_string());
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.subject_alt_names = vec![
        SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        SanType::DnsName("localhost".try_into().map_err(e)?),
    ];
    let key = KeyPair::generate().map_err(e)?;
    let cert = params.self_signed(&key).map_err(e)?;
    Ok((cert.pem(), cert.der().to_vec(), key.serialize_der()))
}

/// The DER certificates in a PEM text.
fn pem_certs(pem: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut b64 = String::new();
    let mut inside = false;
    for line in pem.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            inside = true;
            b64.clear();
        } else if line == "-----END CERTIFICATE-----" {
            inside = false;
            if let Some(der) = base64_decode(&b64) {
                out.push(der);
            }
        } else if inside {
            b64.push_str(line);
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Serve one client connection: read one request, record it, forward it, relay the answer.
fn serve(
    tcp: TcpStream,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    upstream_port: u16,
    sh: &Shared,
) -> Result<(), Box<dyn std::error::Error>> {
    if sh.stop.load(Ordering::Relaxed) {
        return Ok(());
    }
    let conn = rustls::ServerConnection::new(server)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = buf[head_end + 4..].to_vec();
    if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        while body.len() < len {
            let n = tls.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            if let Some(decoded) = dechunk(&body) {
                body = decoded;
                break;
            }
            let n = tls.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target.clone(), String::new()),
    };
    if let Some(step) = path.strip_prefix("/__sbs/step/") {
        *sh.step.lock().unwrap_or_else(|p| p.into_inner()) = decode(step);
        tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")?;
        tls.flush()?;
        tls.conn.send_close_notify();
        let _ = tls.flush();
        return Ok(());
    }
    let is_form =
        header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let rec = Recorded {
        step: sh.step.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        method: method.clone(),
        raw_path: path,
        raw_query: split_pairs(&query),
        raw_form: if is_form {
            split_pairs(&String::from_utf8_lossy(&body))
        } else {
            Vec::new()
        },
        headers: headers.clone(),
        body_len: body.len(),
    };
    sh.log.lock().unwrap_or_else(|p| p.into_inner()).push(rec);

    // Forward: the same head, framed by Content-Length, Connection: close.
    let up_tcp = TcpStream::connect(("127.0.0.1", upstream_port))?;
    let up_conn = rustls::ClientConnection::new(client, ServerName::try_from("127.0.0.1")?)?;
    let mut up = rustls::StreamOwned::new(up_conn, up_tcp);
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in &headers {
        if matches!(
            k.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    up.flush()?;
    let mut answer = Vec::new();
    loop {
        match up.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            // fakepve may close without close_notify.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
    }
    // Relay with our own framing: drop Connection/Keep-Alive, add Connection: close.
    let Some(end) = find(&answer, b"\r\n\r\n") else {
        return Ok(());
    };
    let ahead = String::from_utf8_lossy(&answer[..end]).into_owned();
    let mut relay = String::new();
    for (i, line) in ahead.split("\r\n").enumerate() {
        let lower = line.to_ascii_lowercase();
        if i > 0 && (lower.starts_with("connection:") || lower.starts_with("keep-alive:")) {
            continue;
        }
        relay.push_str(line);
        relay.push_str("\r\n");
    }
    relay.push_str("Connection: close\r\n\r\n");
    tls.write_all(relay.as_bytes())?;
    tls.write_all(&answer[end + 4..])?;
    tls.flush()?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(())
}

/// Decode a complete chunked body, or `None` if it is not complete yet.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let i = find(b, b"\r\n")?;
        let size_text = String::from_utf8_lossy(&b[..i]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[i + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// One difference between our request and proxmoxer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The scenario step.
    pub step: String,
    /// Index of the request within the step.
    pub index: usize,
    /// `count`, `method`, `path`, `path-encoding`, `query`, `query-encoding`, `form`,
    /// `form-encoding`, `auth`, `csrf`, `content-type`, `header`, `framing`
    /// (`Content-Length` and `Transfer-Encoding`, see [`FRAMING_HEADERS`]).
    pub field: String,
    /// The parameter or header name, if any.
    pub key: String,
    /// Our value (`<absent>` if missing).
    pub ours: String,
    /// proxmoxer's value (`<absent>` if missing).
    pub proxmoxer: String,
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{} #{}] {}{}: ours={:?} proxmoxer={:?}",
            self.step,
            self.index,
            self.field,
            if self.key.is_empty() {
                String::new()
            } else {
                format!(" {}", self.key)
            },
            self.ours,
            self.proxmoxer
        )
    }
}

const ABSENT: &str = "<absent>";

/// Values that differ from run to run (task ids, digests, tickets) replaced by a placeholder.
fn normalise(key: &str, value: &str) -> String {
    if value.starts_with("UPID:") {
        return "<UPID>".to_owned();
    }
    match key {
        "digest" => "<digest>".to_owned(),
        _ => value.to_owned(),
    }
}

fn normalise_path(decoded: &str) -> String {
    decoded
        .split('/')
        // A task id may carry a token id (`root@pam!ci`): still one segment.
        .map(|s| normalise("", s))
        .collect::<Vec<_>>()
        .join("/")
}

fn group(pairs: &[(String, String)]) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut m: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (k, v) in pairs {
        let key = decode(k);
        let e = m.entry(key.clone()).or_default();
        e.0.push(normalise(&key, &decode(v)));
        e.1.push(if normalise(&key, &decode(v)) == decode(v) {
            v.clone()
        } else {
            normalise(&key, &decode(v))
        });
    }
    m
}

fn compare_pairs(
    out: &mut Vec<Diff>,
    step: &str,
    index: usize,
    field: &str,
    ours: &[(String, String)],
    theirs: &[(String, String)],
) {
    let (a, b) = (group(ours), group(theirs));
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let d = |m: &BTreeMap<String, (Vec<String>, Vec<String>)>, raw: bool| {
            m.get(k)
                .map(|(dec, r)| if raw { r.join("&") } else { dec.join("&") })
                .unwrap_or_else(|| ABSENT.to_owned())
        };
        let (od, td) = (d(&a, false), d(&b, false));
        let mut push = |field: String, o: String, t: String| {
            out.push(Diff {
                step: step.to_owned(),
                index,
                field,
                key: k.clone(),
                ours: o,
                proxmoxer: t,
            })
        };
        if od != td {
            push(field.to_owned(), od, td);
        } else {
            let (or, tr) = (d(&a, true), d(&b, true));
            if or != tr {
                push(format!("{field}-encoding"), or, tr);
            }
        }
    }
}

/// Headers compared by value besides the auth kind, CSRF and Content-Type.
pub const COMPARED_HEADERS: &[&str] = &["accept", "accept-encoding", "user-agent"];

/// The body framing headers, compared on every request by presence and value (field
/// `framing`): what the server's request reader decides the body by (pve-http-server reads a
/// body only when a `Content-Length` is given and refuses chunked bodies).
pub const FRAMING_HEADERS: &[&str] = &["content-length", "transfer-encoding"];

/// The value of framing header `name` of `r` as compared with the same request `other` of the
/// other client: `<absent>`, or the value as sent. When the two bodies differ in length (a
/// parameter that differs, compared and listed on its own), a `Content-Length` is checked
/// against its own body instead: `<body length>` when it matches, else the value and the
/// body's real length.
fn framing_value(name: &str, r: &Recorded, other: &Recorded) -> String {
    let Some(v) = r.header(name) else {
        return ABSENT.to_owned();
    };
    if name != "content-length" || r.body_len == other.body_len {
        return v.to_owned();
    }
    match v.parse::<usize>() {
        Ok(n) if n == r.body_len => "<body length>".to_owned(),
        _ => format!("{v} (body of {} bytes)", r.body_len),
    }
}

/// Compare two recordings step by step, request by request, field by field.
pub fn compare_steps(ours: &[Recorded], theirs: &[Recorded]) -> Vec<Diff> {
    let mut steps: Vec<String> = Vec::new();
    for r in ours.iter().chain(theirs) {
        if !steps.contains(&r.step) {
            steps.push(r.step.clone());
        }
    }
    let mut out = Vec::new();
    for step in steps {
        let o: Vec<&Recorded> = ours.iter().filter(|r| r.step == step).collect();
        let t: Vec<&Recorded> = theirs.iter().filter(|r| r.step == step).collect();
        if o.len() != t.len() {
            let list = |v: &[&Recorded]| {
                v.iter()
                    .map(|r| format!("{} {}", r.method, normalise_path(&decode(&r.raw_path))))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push(Diff {
                step: step.clone(),
                index: 0,
                field: "count".into(),
                key: String::new(),
                ours: list(&o),
                proxmoxer: list(&t),
            });
        }
        for (i, (a, b)) in o.iter().zip(&t).enumerate() {
            let mut push = |field: &str, key: &str, x: String, y: String| {
                if x != y {
                    out.push(Diff {
                        step: step.clone(),
                        index: i,
                        field: field.into(),
                        key: key.into(),
                        ours: x,
                        proxmoxer: y,
                    });
                }
            };
            push("method", "", a.method.clone(), b.method.clone());
            let (pa, pb) = (
                normalise_path(&decode(&a.raw_path)),
                normalise_path(&decode(&b.raw_path)),
            );
            if pa != pb {
                push("path", "", pa, pb);
            } else if normalise_path(&a.raw_path) != normalise_path(&b.raw_path)
                && !(a.raw_path.contains("UPID") || b.raw_path.contains("UPID"))
            {
                push("path-encoding", "", a.raw_path.clone(), b.raw_path.clone());
            } else if a.raw_path != b.raw_path && a.raw_path.contains("UPID") {
                // Compare the encoding of the task id's separators only.
                let shape = |p: &str| {
                    p.split('/')
                        .map(|s| {
                            if decode(s).starts_with("UPID:") {
                                s.chars().filter(|c| !c.is_ascii_alphanumeric()).collect()
                            } else {
                                s.to_owned()
                            }
                        })
                        .collect::<Vec<String>>()
                        .join("/")
                };
                push("path-encoding", "", shape(&a.raw_path), shape(&b.raw_path));
            }
            push("auth", "", a.auth_kind().into(), b.auth_kind().into());
            push(
                "csrf",
                "",
                a.header("csrfpreventiontoken").is_some().to_string(),
                b.header("csrfpreventiontoken").is_some().to_string(),
            );
            push("content-type", "", a.media_type(), b.media_type());
            for h in COMPARED_HEADERS {
                let v = |r: &Recorded| r.header(h).unwrap_or(ABSENT).to_owned();
                push("header", h, v(a), v(b));
            }
            for h in FRAMING_HEADERS {
                push("framing", h, framing_value(h, a, b), framing_value(h, b, a));
            }
            compare_pairs(&mut out, &step, i, "query", &a.raw_query, &b.raw_query);
            compare_pairs(&mut out, &step, i, "form", &a.raw_form, &b.raw_form);
        }
    }
    out
}

/// One deliberate divergence: matches a [`Diff`] when every given field matches (`*` or a
/// missing field matches anything; a value ending in `*` matches by prefix).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Divergence {
    /// A short name.
    pub id: String,
    /// Why we differ on purpose.
    pub why: String,
    /// Which client(s) it applies to (`proxmox-ureq`, `proxmox-async`, `proxmox-cli`, ...);
    /// empty: all.
    #[serde(default)]
    pub clients: Vec<String>,
    /// [`Diff::field`].
    pub field: String,
    /// [`Diff::key`].
    #[serde(default)]
    pub key: Option<String>,
    /// [`Diff::step`].
    #[serde(default)]
    pub step: Option<String>,
    /// [`Diff::ours`].
    #[serde(default)]
    pub ours: Option<String>,
    /// [`Diff::proxmoxer`].
    #[serde(default)]
    pub proxmoxer: Option<String>,
}

fn matches(pattern: &Option<String>, value: &str) -> bool {
    match pattern.as_deref() {
        None | Some("*") => true,
        Some(p) => match p.strip_suffix('*') {
            Some(prefix) => value.starts_with(prefix),
            None => p == value,
        },
    }
}

impl Divergence {
    /// Whether this entry explains `d` for `client`.
    pub fn explains(&self, client: &str, d: &Diff) -> bool {
        (self.clients.is_empty() || self.clients.iter().any(|c| c == client))
            && self.field == d.field
            && matches(&self.key, &d.key)
            && matches(&self.step, &d.step)
            && matches(&self.ours, &d.ours)
            && matches(&self.proxmoxer, &d.proxmoxer)
    }
}

/// The checked-in table of deliberate divergences.
#[derive(Debug, Clone, Deserialize)]
pub struct Divergences {
    /// The entries.
    pub divergences: Vec<Divergence>,
}

impl Divergences {
    /// Parse the JSON table.
    pub fn parse(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| Error::Table(e.to_string()))
    }

    /// `divergences.json` next to this crate's Cargo.toml.
    pub fn load() -> Result<Self, Error> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("divergences.json");
        Self::parse(&std::fs::read_to_string(path)?)
    }
}

/// The outcome of [`check`].
#[derive(Debug, Default)]
pub struct Verdict {
    /// Differences no entry explains: the test fails on any.
    pub unexplained: Vec<Diff>,
    /// Differences explained, with the entry id.
    pub explained: Vec<(String, Diff)>,
    /// Entries for this client (and these fields) that explained nothing in this run.
    pub unused: Vec<String>,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.unexplained {
            writeln!(f, "UNLISTED  {d}")?;
        }
        for (id, d) in &self.explained {
            writeln!(f, "listed    {d}  ({id})")?;
        }
        for id in &self.unused {
            writeln!(f, "NO LONGER OCCURS  divergence '{id}'")?;
        }
        Ok(())
    }
}

/// Sort `diffs` of `client` into explained and unexplained; report entries of the given
/// `fields` that no longer occur.
pub fn check(table: &Divergences, client: &str, fields: &[&str], diffs: &[Diff]) -> Verdict {
    let mut v = Verdict::default();
    let mut used = vec![false; table.divergences.len()];
    for d in diffs {
        match table.divergences.iter().position(|e| e.explains(client, d)) {
            Some(i) => {
                used[i] = true;
                v.explained
                    .push((table.divergences[i].id.clone(), d.clone()));
            }
            None => v.unexplained.push(d.clone()),
        }
    }
    for (i, e) in table.divergences.iter().enumerate() {
        let applies = (e.clients.is_empty() || e.clients.iter().any(|c| c == client))
            && fields.iter().any(|f| *f == e.field || f.is_empty());
        if applies && !used[i] {
            v.unused.push(e.id.clone());
        }
    }
    v
}

/// A `pvesh` command line taken apart: verb, path, `-key value` options (in order) and the
/// dash style of each option (`-` or `--`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PveshArgv {
    /// `get`, `create`, ...
    pub verb: String,
    /// The API path.
    pub path: String,
    /// `(key, value, dashes)`.
    pub options: Vec<(String, String, String)>,
}

impl PveshArgv {
    /// Parse an argv as the shim logged it (without the program name). Every option takes a
    /// value except pvesh's own flags `--noproxy` and `--quiet`.
    pub fn parse(argv: &[String]) -> Self {
        let mut it = argv.iter().peekable();
        let mut out = PveshArgv {
            verb: it.next().cloned().unwrap_or_default(),
            path: it.next().cloned().unwrap_or_default(),
            options: Vec::new(),
        };
        while let Some(a) = it.next() {
            let key = a.trim_start_matches('-');
            let dashes = a[..a.len() - key.len()].to_owned();
            let value = if matches!(key, "noproxy" | "quiet") {
                String::new()
            } else {
                it.next().cloned().unwrap_or_default()
            };
            out.options.push((key.to_owned(), value, dashes));
        }
        out
    }
}

/// Compare two `pvesh` calls: `argv` (verb, path), `argv-dashes` (option style), and
/// `argv-param` per option (values of repeated keys joined with `&`; order ignored, as pvesh
/// ignores it).
pub fn compare_argv(step: &str, index: usize, ours: &[String], theirs: &[String]) -> Vec<Diff> {
    let (a, b) = (PveshArgv::parse(ours), PveshArgv::parse(theirs));
    let mut out = Vec::new();
    let mut push = |field: &str, key: &str, x: String, y: String| {
        if x != y {
            out.push(Diff {
                step: step.to_owned(),
                index,
                field: field.into(),
                key: key.into(),
                ours: x,
                proxmoxer: y,
            });
        }
    };
    push("argv", "verb", a.verb.clone(), b.verb.clone());
    push(
        "argv",
        "path",
        normalise_path(&a.path),
        normalise_path(&b.path),
    );
    let style = |p: &PveshArgv| {
        let mut s: Vec<&str> = p
            .options
            .iter()
            .filter(|(k, _, _)| k != "output-format")
            .map(|(_, _, d)| d.as_str())
            .collect();
        s.dedup();
        s.join(",")
    };
    push("argv-dashes", "", style(&a), style(&b));
    let grouped = |p: &PveshArgv| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v, _) in &p.options {
            m.entry(k.clone()).or_default().push(normalise(k, v));
        }
        m
    };
    let (ga, gb) = (grouped(&a), grouped(&b));
    let keys: std::collections::BTreeSet<&String> = ga.keys().chain(gb.keys()).collect();
    for k in keys {
        let v = |m: &BTreeMap<String, Vec<String>>| {
            m.get(k)
                .map(|v| v.join("&"))
                .unwrap_or_else(|| ABSENT.to_owned())
        };
        push("argv-param", k, v(&ga), v(&gb));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: &str, form: &[(&str, &str)]) -> Recorded {
        Recorded {
            step: step.into(),
            method: "POST".into(),
            raw_path: "/api2/json/nodes/pve1/qemu".into(),
            raw_query: vec![],
            raw_form: form
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body_len: 0,
        }
    }

    #[test]
    fn differences_are_found_and_explained_by_the_table() {
        let ours = [rec("create", &[("onboot", "1"), ("net0", "a%2Cb")])];
        let theirs = [rec("create", &[("onboot", "True"), ("net0", "a,b")])];
        let diffs = compare_steps(&ours, &theirs);
        assert_eq!(diffs.len(), 2, "{diffs:?}");
        assert_eq!(diffs[0].field, "form-encoding");
        assert_eq!(diffs[1].field, "form");
        let table = Divergences::parse(
            r#"{"divergences": [
              {"id": "bool", "why": "PVE wants 1/0", "field": "form", "ours": "1", "proxmoxer": "True"},
              {"id": "never", "why": "x", "field": "form", "key": "nothing"}
            ]}"#,
        )
        .unwrap();
        let v = check(&table, "proxmox-ureq", &["form"], &diffs);
        assert_eq!(v.unexplained.len(), 1, "{v}");
        assert_eq!(v.unexplained[0].key, "net0");
        assert_eq!(v.explained.len(), 1);
        assert_eq!(v.unused, vec!["never".to_owned()]);
    }

    #[test]
    fn request_counts_and_auth_kinds_are_compared() {
        let mut a = rec("s", &[]);
        a.headers
            .push(("authorization".into(), "PVEAPIToken=x!y=z".into()));
        let b = rec("s", &[]);
        let diffs = compare_steps(&[a.clone(), a], &[b]);
        let fields: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, vec!["count", "auth"]);
    }

    #[test]
    fn framing_headers_are_compared_by_presence_and_value() {
        let with = |method: &str, framing: &[(&str, &str)], body_len: usize| {
            let mut r = rec("s", &[]);
            r.method = method.into();
            r.headers = framing
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            r.body_len = body_len;
            r
        };
        let framing = |ours: &Recorded, theirs: &Recorded| -> Vec<(String, String, String)> {
            compare_steps(std::slice::from_ref(ours), std::slice::from_ref(theirs))
                .into_iter()
                .filter(|d| d.field == "framing")
                .map(|d| (d.key, d.ours, d.proxmoxer))
                .collect()
        };
        let none = with("GET", &[], 0);
        let zero = with("GET", &[("content-length", "0")], 0);
        // Presence: `Content-Length: 0` on a GET is a difference.
        assert_eq!(
            framing(&zero, &none),
            [("content-length".into(), "0".into(), ABSENT.into())]
        );
        assert!(framing(&none, &none).is_empty());
        // Value, for bodies of the same length.
        let a = with("POST", &[("content-length", "8")], 8);
        let b = with("POST", &[("content-length", "9")], 8);
        assert_eq!(
            framing(&a, &b),
            [("content-length".into(), "8".into(), "9".into())]
        );
        // Bodies of different lengths: each value against its own body.
        let c = with("POST", &[("content-length", "11")], 11);
        assert!(framing(&a, &c).is_empty());
        let lying = with("POST", &[("content-length", "12")], 11);
        assert_eq!(
            framing(&a, &lying),
            [(
                "content-length".into(),
                "<body length>".into(),
                "12 (body of 11 bytes)".into()
            )]
        );
        // Transfer-Encoding: presence and value.
        let chunked = with("POST", &[("transfer-encoding", "chunked")], 8);
        assert_eq!(
            framing(&a, &chunked),
            [
                ("content-length".into(), "8".into(), ABSENT.into()),
                ("transfer-encoding".into(), ABSENT.into(), "chunked".into())
            ]
        );
    }

    #[test]
    fn pvesh_argv_is_compared_option_by_option() {
        let v = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let ours = v("create /nodes/pve1/qemu --b 1 --a x --output-format json");
        let theirs = v("create /nodes/pve1/qemu -a x -b True --output-format json");
        let diffs = compare_argv("s", 0, &ours, &theirs);
        let got: Vec<(&str, &str)> = diffs
            .iter()
            .map(|d| (d.field.as_str(), d.key.as_str()))
            .collect();
        assert_eq!(got, vec![("argv-dashes", ""), ("argv-param", "b")]);
    }

    #[test]
    fn pem_is_decoded() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certs(pem), vec![vec![0, 1, 2]]);
        assert_eq!(decode("a%2Cb+c"), "a,b c");
    }
}
