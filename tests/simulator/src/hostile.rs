//! Hostile routes (only with [`crate::Config::hostile`], binary flag `--hostile`): answers no
//! real server should send, for the clients' hostile-input tests. Every route is
//! `/hostile/CASE/...` and ignores the rest of the path, so a client reaches one with the path
//! prefix `/hostile/CASE` and any API path. The routes need no authentication, write their bytes
//! raw and close the connection afterwards.
//!
//! | case | answer |
//! |---|---|
//! | `huge` | `200`, `Content-Length: 1 GiB`, spaces generated lazily until the client hangs up |
//! | `huge-chunked` | the same without a length (chunked) |
//! | `gzip-bomb` | `Content-Encoding: gzip`, an endless deflate stream: 13 bytes on the wire decode to 2,064 spaces, up to about 1 GiB |
//! | `deep` | `{"data":[[[...]]]}` nested 100,000 deep |
//! | `utf8` | JSON with invalid UTF-8 |
//! | `html` | `200 text/html`: a login page |
//! | `octet` | valid JSON labelled `application/octet-stream` |
//! | `bad-gateway` | `502 text/html` with a stray `\xff` |
//! | `stall-body` | the head and 4 of 100 body bytes, then nothing until the client hangs up |
//! | `stall-head` | reads the request, never answers, until the client hangs up |
//! | `reason-tab`, `reason-c1`, `reason-esc`, `reason-latin1` | `500` with a tab, C1 controls, ESC, or Latin-1 bytes in the reason phrase |
//! | `redirect-301` ... `redirect-308` | a redirect to `/hostile/landed/api2/json/nodes` on the other loopback name (`127.0.0.1` ↔ `localhost`: another origin) |
//! | `landed` | `200 {"data":[]}`: the redirect target, which must never be reached |
//! | `evil-csrf`, `evil-ticket` | a login answer whose CSRF token or ticket holds CR/LF; `200 {"data":[]}` for anything else |
//! | `seen` | `/hostile/seen/api2/json/CASE`: `{"data":[...]}`, what the server read for `CASE` |
//!
//! Each request is recorded (method, path, whether it carried `Authorization`, whether any
//! header name or value contains `x-evil`) and read back through `seen`.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::{Conn, Request};
use crate::state::Shared;

/// The huge answers stop after this much even if the client keeps reading.
const HUGE: u64 = 1 << 30;
/// The stalls end after this long at the latest.
const STALL_MAX: Duration = Duration::from_secs(30);

/// One request as a hostile route read it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    case: String,
    method: String,
    path: String,
    authorization: bool,
    evil: bool,
}

/// Whether `decoded` (the percent-decoded path) is a hostile route of an enabled simulator.
pub(crate) fn is_hostile(shared: &Shared, decoded: &str) -> bool {
    shared.config.hostile && (decoded == "/hostile" || decoded.starts_with("/hostile/"))
}

/// Answer a hostile route. Always ends the connection.
pub(crate) fn handle(shared: &Shared, conn: &mut Conn, req: &Request, decoded: &str) {
    let rest = decoded.strip_prefix("/hostile").unwrap_or_default();
    let case = rest
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    // Read the body first, so that the client sees an answer and not a reset.
    if let Some(n) = req.content_length() {
        let mut left = n.min(crate::http::MAX_BODY);
        while left > 0 {
            match conn.read_some(usize::try_from(left).unwrap_or(usize::MAX)) {
                Ok(b) if !b.is_empty() => left = left.saturating_sub(b.len() as u64),
                _ => return,
            }
        }
    }
    let evil = req
        .headers
        .iter()
        .any(|(k, v)| k.contains("x-evil") || v.to_ascii_lowercase().contains("x-evil"));
    if case != "seen" {
        shared
            .hostile_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Seen {
                case: case.clone(),
                method: req.method.clone(),
                path: req.path.clone(),
                authorization: req.header("authorization").is_some(),
                evil,
            });
    }
    let w = &mut conn.t;
    let json_ct = "Content-Type: application/json;charset=UTF-8\r\n";
    match case.as_str() {
        "huge" => {
            let head = format!("{json_ct}Content-Length: {HUGE}\r\n");
            if respond_head(w, b"200 OK", &head) {
                spaces(w, false);
            }
        }
        "huge-chunked" => {
            if respond_head(
                w,
                b"200 OK",
                &format!("{json_ct}Transfer-Encoding: chunked\r\n"),
            ) {
                spaces(w, true);
            }
        }
        "gzip-bomb" => {
            let head = format!("{json_ct}Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n");
            if respond_head(w, b"200 OK", &head) {
                gzip_bomb(w);
            }
        }
        "deep" => {
            let mut body = b"{\"data\":".to_vec();
            body.extend(std::iter::repeat_n(b'[', 100_000));
            body.extend(std::iter::repeat_n(b']', 100_000));
            body.push(b'}');
            respond(w, b"200 OK", json_ct, &body);
        }
        "utf8" => respond(w, b"200 OK", json_ct, b"{\"data\":\"\xff\xfe\xc3\x28\"}"),
        "html" => respond(
            w,
            b"200 OK",
            "Content-Type: text/html\r\n",
            b"<html><body>login page</body></html>",
        ),
        "octet" => respond(
            w,
            b"200 OK",
            "Content-Type: application/octet-stream\r\n",
            b"{\"data\":[1]}",
        ),
        "bad-gateway" => respond(
            w,
            b"502 Bad Gateway",
            "Content-Type: text/html\r\n",
            b"<html>\xff nginx</html>",
        ),
        "stall-body" => {
            let ok = w
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"da",
                )
                .and_then(|()| w.flush())
                .is_ok();
            if ok {
                stall(shared, conn);
            }
        }
        "stall-head" => stall(shared, conn),
        "reason-tab" | "reason-c1" | "reason-esc" | "reason-latin1" => {
            let status: &[u8] = match case.as_str() {
                "reason-tab" => b"500 bad\tthing\t\tand more",
                // U+009B (CSI) in UTF-8: obs-text to HTTP, a C1 control character to Unicode.
                "reason-c1" => b"500 red \xc2\x9b31m alert \xc2\x9b0m",
                "reason-esc" => b"500 esc \x1b[2J cleared",
                _ => b"500 latin1 \xe9t\xe9",
            };
            respond(w, status, json_ct, b"{\"data\":null}");
        }
        "redirect-301" | "redirect-302" | "redirect-303" | "redirect-307" | "redirect-308" => {
            let status: &[u8] = match case.as_str() {
                "redirect-301" => b"301 Moved Permanently",
                "redirect-302" => b"302 Found",
                "redirect-303" => b"303 See Other",
                "redirect-307" => b"307 Temporary Redirect",
                _ => b"308 Permanent Redirect",
            };
            let host = req.header("host").unwrap_or_default();
            let port = host.rsplit_once(':').map_or("", |(_, p)| p);
            let other = if host.starts_with("localhost") {
                "127.0.0.1"
            } else {
                "localhost"
            };
            let scheme = if shared.config.plain_http {
                "http"
            } else {
                "https"
            };
            let location =
                format!("Location: {scheme}://{other}:{port}/hostile/landed/api2/json/nodes\r\n");
            respond(
                w,
                status,
                &format!("{json_ct}{location}"),
                b"{\"data\":null}",
            );
        }
        "evil-csrf" | "evil-ticket" if req.path.ends_with("/access/ticket") => {
            let user = "root@pam";
            let ticket = "PVE:root@pam:65000000::c2ln";
            let data = if case == "evil-csrf" {
                json!({"username": user, "ticket": ticket, "CSRFPreventionToken": "t\r\nX-Evil: 1"})
            } else {
                json!({"username": user, "ticket": format!("{ticket}\r\nX-Evil: 1"), "CSRFPreventionToken": "t"})
            };
            let body = json!({ "data": data }).to_string();
            respond(w, b"200 OK", json_ct, body.as_bytes());
        }
        "seen" => {
            let of = rest
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            let seen: Vec<_> = shared
                .hostile_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .filter(|s| s.case == of)
                .map(|s| {
                    json!({"method": s.method, "path": s.path,
                           "authorization": s.authorization, "evil": s.evil})
                })
                .collect();
            let body = json!({ "data": seen }).to_string();
            respond(w, b"200 OK", json_ct, body.as_bytes());
        }
        _ => respond(w, b"200 OK", json_ct, b"{\"data\":[]}"),
    }
}

/// Write a status line and headers (plus `Connection: close`); false if the client is gone.
fn respond_head(w: &mut Box<dyn crate::http::Transport>, status: &[u8], headers: &str) -> bool {
    let mut out = b"HTTP/1.1 ".to_vec();
    out.extend_from_slice(status);
    out.extend_from_slice(format!("\r\nConnection: close\r\n{headers}\r\n").as_bytes());
    w.write_all(&out).is_ok()
}

/// A complete answer with `Content-Length` and `Connection: close`.
fn respond(w: &mut Box<dyn crate::http::Transport>, status: &[u8], headers: &str, body: &[u8]) {
    let headers = format!("{headers}Content-Length: {}\r\n", body.len());
    if respond_head(w, status, &headers) {
        let _ = w.write_all(body).and_then(|()| w.flush());
    }
}

/// Up to [`HUGE`] spaces in 64 KiB writes, until a write fails (the client hung up).
fn spaces(w: &mut Box<dyn crate::http::Transport>, chunked: bool) {
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0u64;
    while sent < HUGE {
        let ok = if chunked {
            w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| w.write_all(&chunk))
                .and_then(|()| w.write_all(b"\r\n"))
        } else {
            w.write_all(&chunk)
        };
        if ok.is_err() {
            return;
        }
        sent += chunk.len() as u64;
    }
    if chunked {
        let _ = w.write_all(b"0\r\n\r\n");
    }
    let _ = w.flush();
}

/// Deflate output bits, least significant first; Huffman codes go most significant bit first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u8,
    n: u8,
}

impl Bits {
    fn bit(&mut self, b: u32) {
        self.acc |= u8::from(b & 1 == 1) << self.n;
        self.n += 1;
        if self.n == 8 {
            self.out.push(self.acc);
            self.acc = 0;
            self.n = 0;
        }
    }

    fn code(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.bit(code >> i);
        }
    }

    /// A match of length 258 at distance 1 in the fixed Huffman code (RFC 1951 3.2.6):
    /// literal/length code 285 is `11000101` (8 bits), distance code 0 is `00000` (5 bits).
    fn copy_258(&mut self) {
        self.code(0b1100_0101, 8);
        self.code(0, 5);
    }
}

/// A gzip stream that never ends: a gzip header (RFC 1952), then one fixed-Huffman deflate
/// block holding the literal `0x20` and matches of 258 bytes at distance 1, sent in chunks
/// until about [`HUGE`] decoded bytes or until the client hangs up. No end of block, no trailer.
fn gzip_bomb(w: &mut Box<dyn crate::http::Transport>) {
    let mut head = Bits::default();
    head.bit(1); // BFINAL
    head.bit(1); // BTYPE 01 (fixed Huffman), least significant bit first
    head.bit(0);
    // Literal 0x20 (space): literals 0-143 are 0x30 + value in 8 bits.
    head.code(0x30 + 0x20, 8);
    head.copy_258();
    // 3 + 8 + 13 = 24 bits: byte aligned.
    let mut prefix = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    prefix.extend_from_slice(&head.out);
    // Eight matches are 104 bits, 13 bytes: byte aligned again, so the block repeats.
    let mut rep = Bits::default();
    for _ in 0..8 {
        rep.copy_258();
    }
    let block: Vec<u8> = rep.out.iter().copied().cycle().take(13 * 2048).collect();
    let per_block = (block.len() / 13 * 8 * 258) as u64;
    let write_chunk = |w: &mut Box<dyn crate::http::Transport>, data: &[u8]| {
        w.write_all(format!("{:x}\r\n", data.len()).as_bytes())
            .and_then(|()| w.write_all(data))
            .and_then(|()| w.write_all(b"\r\n"))
            .is_ok()
    };
    if !write_chunk(w, &prefix) {
        return;
    }
    let mut decoded = 0u64;
    while decoded < HUGE {
        if !write_chunk(w, &block) {
            return;
        }
        decoded += per_block;
    }
    let _ = w.flush();
}

/// Wait until the client hangs up (a read ends), the simulator stops, or [`STALL_MAX`].
fn stall(shared: &Shared, conn: &mut Conn) {
    let t0 = Instant::now();
    while t0.elapsed() < STALL_MAX && !shared.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        // The socket's read timeout (30 s while busy) bounds each read.
        match conn.read_some(1) {
            Ok(b) if !b.is_empty() => {}
            _ => return,
        }
    }
}
