//! A small HTTP/1.1 server over std::net (and rustls), with full control over faults.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use rustls::{ServerConnection, StreamOwned};

use crate::state::{AuthKind, FaultAction, LoggedRequest, Shared};
use crate::util::{parse_form, percent_decode};

/// Headers are capped like pveproxy (8 KiB, 64 lines).
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADER_LINES: usize = 64;
/// Non-upload bodies are capped at 512 KiB like pveproxy.
pub(crate) const MAX_BODY: u64 = 512 * 1024;
/// pveproxy serves 100 requests per connection.
const MAX_REQUESTS_PER_CONN: u32 = 100;
/// Read timeout once a request has started.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A byte stream that can be closed politely.
pub(crate) trait Transport: Read + Write + Send {
    /// Finish a pending handshake (TLS), if any.
    fn handshake(&mut self) -> io::Result<()>;
    /// Close the connection (TLS close_notify, then TCP shutdown).
    fn close(&mut self);
    /// Cut the TCP connection without a TLS close_notify, as a process that dies (or
    /// pveproxy's `shutdown($fh, 1)` on the raw socket) does.
    fn abort(&mut self);
    /// Set the read timeout of the TCP socket (a read that times out fails with `WouldBlock`
    /// or `TimedOut` and can be retried).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn handshake(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn close(&mut self) {
        let _ = self.flush();
        let _ = self.shutdown(Shutdown::Both);
    }
    fn abort(&mut self) {
        let _ = self.shutdown(Shutdown::Both);
    }
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

impl Transport for StreamOwned<ServerConnection, TcpStream> {
    fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.conn.complete_io(&mut self.sock)?;
        }
        Ok(())
    }
    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.conn.complete_io(&mut self.sock);
        let _ = self.sock.shutdown(Shutdown::Both);
    }
    fn abort(&mut self) {
        let _ = self.sock.shutdown(Shutdown::Both);
    }
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }
}

/// A parsed request (body already read, except for uploads).
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) conn_id: u64,
    pub(crate) method: String,
    /// Path without the query, still percent-encoded.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    /// Header names in lower case.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) http10: bool,
    /// The node that received it (an index into the cluster; 0 for a single node).
    pub(crate) node: usize,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    pub(crate) fn is_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"))
    }

    /// Body parameters (form or JSON).
    pub(crate) fn body_params(&self) -> Vec<(String, String)> {
        if self.body.is_empty() {
            return Vec::new();
        }
        if self.is_json() {
            return crate::util::json_to_pairs(&self.body).unwrap_or_default();
        }
        parse_form(&String::from_utf8_lossy(&self.body))
    }

    /// Query plus body parameters.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        let mut p = self.query.clone();
        p.extend(self.body_params());
        p
    }
}

/// A response to write.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// Written as is (may hold anything for hostile tests).
    pub(crate) reason: String,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
    /// Close the connection after this response.
    pub(crate) close: bool,
}

impl Response {
    pub(crate) fn json(status: u16, reason: &str, body: &serde_json::Value) -> Self {
        Self {
            status,
            reason: reason.to_owned(),
            content_type: "application/json;charset=UTF-8".to_owned(),
            body: body.to_string().into_bytes(),
            close: false,
        }
    }

    pub(crate) fn text(status: u16, reason: &str, ct: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            reason: reason.to_owned(),
            content_type: ct.to_owned(),
            body,
            close: false,
        }
    }
}

/// The connection with its read buffer.
pub(crate) struct Conn {
    pub(crate) t: Box<dyn Transport>,
    pub(crate) buf: Vec<u8>,
    /// A console WebSocket to serve once the request that opened it is done (and no longer
    /// counted in flight): set by [`crate::console::upgrade`].
    pub(crate) upgraded: Option<crate::console::Upgraded>,
}

impl Conn {
    /// Read more bytes into the buffer; Ok(0) on EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.t.read(&mut chunk)?;
        self.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        Ok(n)
    }

    /// Read up to `max` body bytes (buffered first). Empty on EOF.
    pub(crate) fn read_some(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() && self.fill()? == 0 {
            return Ok(Vec::new());
        }
        let n = max.min(self.buf.len());
        Ok(self.buf.drain(..n).collect())
    }

    /// Answer `Expect: 100-continue` before reading a body the server will accept.
    pub(crate) fn send_continue(&mut self, req: &Request) {
        if req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            let _ = self.t.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            let _ = self.t.flush();
        }
    }

    fn read_exact_body(&mut self, len: u64) -> io::Result<Vec<u8>> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        while self.buf.len() < len {
            if self.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short body"));
            }
        }
        Ok(self.buf.drain(..len).collect())
    }
}

enum Head {
    Ok(Request),
    Bad(u16, &'static str),
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Read the request head. Ok(None) on EOF or idle timeout before any byte.
fn read_head(conn: &mut Conn, conn_id: u64) -> io::Result<Option<Head>> {
    loop {
        if let Some(end) = find_head_end(&conn.buf) {
            let head: Vec<u8> = conn.buf.drain(..end + 4).collect();
            return Ok(Some(parse_head(&head, conn_id)));
        }
        if conn.buf.len() > MAX_HEAD {
            return Ok(Some(Head::Bad(431, "Request Header Fields Too Large")));
        }
        match conn.fill() {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if conn.buf.is_empty() => {
                let _ = e;
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
    }
}

fn parse_head(head: &[u8], conn_id: u64) -> Head {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let Some(first) = lines.next() else {
        return Head::Bad(400, "bad request");
    };
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Head::Bad(400, "bad request");
    };
    if !version.starts_with("HTTP/1.") {
        return Head::Bad(506, "HTTP protocol version not supported");
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once(':') else {
            return Head::Bad(400, "bad request");
        };
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    if headers.len() > MAX_HEADER_LINES {
        return Head::Bad(431, "too many http header lines");
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), parse_form(q)),
        None => (target.to_owned(), Vec::new()),
    };
    Head::Ok(Request {
        conn_id,
        method: method.to_owned(),
        path,
        query,
        headers,
        body: Vec::new(),
        http10: version == "HTTP/1.0",
        node: 0,
    })
}

fn write_response(conn: &mut Conn, shared: &Shared, resp: &Response) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, resp.reason);
    if shared.config.service != crate::Service::Pbs {
        head.push_str("Server: pve-api-daemon/3.0\r\n");
    }
    head.push_str("Cache-Control: max-age=0\r\nPragma: no-cache\r\n");
    head.push_str(&format!(
        "Content-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        resp.content_type,
        resp.body.len(),
        if resp.close { "close" } else { "Keep-Alive" }
    ));
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    conn.t.write_all(&out)?;
    conn.t.flush()
}

/// Accept connections until the simulator stops.
pub(crate) fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // e.g. out of file descriptors: do not spin.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        spawn_conn(&shared, stream, 0);
    }
}

/// Serve a connection that node `node` accepted, on a thread of its own.
pub(crate) fn spawn_conn(shared: &Arc<Shared>, stream: TcpStream, node: usize) {
    let id = shared.conn_counter.fetch_add(1, Ordering::SeqCst) + 1;
    if let Ok(clone) = stream.try_clone() {
        shared
            .open_conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, clone);
    }
    let sh = Arc::clone(shared);
    let _ = std::thread::Builder::new()
        .name(format!("proxmox-sim-conn-{id}"))
        .spawn(move || {
            serve_conn(&sh, stream, id, node);
            sh.open_conns
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        });
}

fn redact(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    const SECRET_KEYS: [&str; 6] = [
        "password",
        "tfa-challenge",
        "otp",
        "new-password",
        "ticket",
        "CSRFPreventionToken",
    ];
    pairs
        .into_iter()
        .map(|(k, v)| {
            let secret = SECRET_KEYS.contains(&k.as_str())
                || ["PVE:", "PMG:", "PBS:", "PMGQUAR:"]
                    .iter()
                    .any(|p| v.starts_with(p));
            if secret {
                (k, "<redacted>".to_owned())
            } else {
                (k, v)
            }
        })
        .collect()
}

/// A request being handled: counted in all, and per node in a cluster.
struct InFlight<'a>(&'a Shared, Option<&'a crate::cluster::NodeCtl>);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared, node: usize) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let ctl = shared.cluster.get(node).map(|c| &**c);
        if let Some(c) = ctl {
            let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            c.max_in_flight.fetch_max(now, Ordering::SeqCst);
        }
        InFlight(shared, ctl)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(c) = self.1 {
            c.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn serve_conn(shared: &Shared, tcp: TcpStream, id: u64, node: usize) {
    let _ = tcp.set_nodelay(true);
    let Ok(ctl) = tcp.try_clone() else {
        return;
    };
    let tls = match shared.cluster.get(node) {
        Some(c) => c.tls(),
        None => shared.tls.clone(),
    };
    let t: Box<dyn Transport> = match tls {
        Some(cfg) => match ServerConnection::new(cfg) {
            Ok(c) => Box::new(StreamOwned::new(c, tcp)),
            Err(_) => return,
        },
        None => Box::new(tcp),
    };
    let mut conn = Conn {
        t,
        buf: Vec::new(),
        upgraded: None,
    };
    let drop_now = {
        let mut st = shared.lock();
        if st.drop_connections > 0 {
            st.drop_connections -= 1;
            true
        } else {
            false
        }
    };
    if drop_now {
        let _ = ctl.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = conn.t.handshake();
        let _ = ctl.shutdown(Shutdown::Both);
        return;
    }
    let mut served = 0u32;
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let idle = shared.lock().keepalive_idle;
        let _ = ctl.set_read_timeout(idle);
        let head = match read_head(&mut conn, id) {
            Ok(Some(h)) => h,
            _ => break,
        };
        let _ = ctl.set_read_timeout(Some(BUSY_TIMEOUT));
        let guard = InFlight::enter(shared, node);
        served += 1;
        let mut req = match head {
            Head::Ok(mut r) => {
                r.node = node;
                r
            }
            Head::Bad(status, reason) => {
                let mut resp = Response::json(status, reason, &serde_json::json!({"data": null}));
                resp.close = true;
                drop(guard);
                let _ = write_response(&mut conn, shared, &resp);
                break;
            }
        };
        match handle_one(shared, &mut conn, &mut req) {
            Some(mut resp) => {
                // pveproxy closes after every error; the Rust products (PBS) do not.
                let errors_close = shared.config.service != crate::Service::Pbs;
                let keep = !resp.close
                    && (resp.status < 400 || !errors_close)
                    && served < MAX_REQUESTS_PER_CONN
                    && !req.http10
                    && !req
                        .header("connection")
                        .is_some_and(|c| c.eq_ignore_ascii_case("close"));
                resp.close = !keep;
                // Leave the gauge before the client can see the answer.
                drop(guard);
                if write_response(&mut conn, shared, &resp).is_err() || !keep {
                    break;
                }
            }
            None => {
                drop(guard);
                if let Some(upgraded) = conn.upgraded.take() {
                    crate::console::serve(shared, &mut conn, upgraded);
                }
                break;
            }
        }
    }
    conn.t.close();
    let _ = ctl.shutdown(Shutdown::Both);
}

/// Whether the request reached its handler (see [`LoggedRequest::executed`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ran {
    Yes,
    No,
}

fn log_request(
    shared: &Shared,
    req: &Request,
    form: Vec<(String, String)>,
    auth: AuthKind,
    status: u16,
    ran: Ran,
) {
    let entry = LoggedRequest {
        conn_id: req.conn_id,
        method: req.method.clone(),
        path: req.path.clone(),
        query: redact(req.query.clone()),
        form: redact(form),
        auth,
        csrf: req.header("csrfpreventiontoken").is_some(),
        content_type: req.header("content-type").map(str::to_owned),
        content_length: req.content_length(),
        transfer_encoding: req.header("transfer-encoding").map(str::to_owned),
        user_agent: req.header("user-agent").map(str::to_owned),
        status,
        executed: ran == Ran::Yes,
        node: shared.node_name(req.node),
    };
    shared.lock().log.push(entry);
}

fn error_response(shared: &Shared, status: u16, msg: &str) -> Response {
    crate::api::ApiErr::new(status, msg).into_response(shared, false)
}

/// Handle one request; None means: close the connection without an answer.
fn handle_one(shared: &Shared, conn: &mut Conn, req: &mut Request) -> Option<Response> {
    let decoded = percent_decode(&req.path, false);
    let (api_rel, extjs) = if let Some(r) = decoded.strip_prefix("/api2/json") {
        (Some(r.to_owned()), false)
    } else if let Some(r) = decoded.strip_prefix("/api2/extjs") {
        (Some(r.to_owned()), true)
    } else {
        (None, false)
    };
    if crate::hostile::is_hostile(shared, &decoded) {
        crate::hostile::handle(shared, conn, req, &decoded);
        return None;
    }
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut r = error_response(shared, 501, "chunked transfer encoding not supported");
        r.close = true;
        log_request(shared, req, Vec::new(), AuthKind::None, 501, Ran::No);
        return Some(r);
    }
    if !matches!(req.method.as_str(), "GET" | "POST" | "PUT" | "DELETE") {
        let msg = format!("method '{}' not available", req.method);
        log_request(shared, req, Vec::new(), AuthKind::None, 501, Ran::No);
        return Some(error_response(shared, 501, &msg));
    }
    let rel = api_rel.clone().unwrap_or_default();
    let (delay, action) = {
        let mut st = shared.lock();
        if api_rel.is_some() {
            st.match_faults(&req.method, &rel)
        } else {
            (Duration::ZERO, None)
        }
    };

    // Uploads stream their body.
    if api_rel.is_some() && crate::upload::is_upload(&req.method, &rel) {
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if let Some(FaultAction::Status {
            status,
            reason,
            body,
        }) = &action
        {
            let resp = fault_response(*status, reason, body.as_deref());
            log_request(shared, req, Vec::new(), AuthKind::None, *status, Ran::No);
            return Some(resp);
        }
        let (resp, auth, form) = crate::upload::handle(shared, conn, req, &rel);
        let mut resp = match action {
            Some(FaultAction::DropAfterRead) => {
                log_request(shared, req, form, auth, 0, Ran::Yes);
                return None;
            }
            Some(FaultAction::StatusAfterRunning {
                status,
                reason,
                body,
            }) => fault_response(status, &reason, body.as_deref()),
            _ => resp,
        };
        log_request(shared, req, form, auth, resp.status, Ran::Yes);
        resp.close = true;
        return Some(resp);
    }

    if req.header("content-length").is_some() && req.content_length().is_none() {
        let mut r = error_response(shared, 400, "invalid Content-Length");
        r.close = true;
        log_request(shared, req, Vec::new(), AuthKind::None, 400, Ran::No);
        return Some(r);
    }
    match req.content_length() {
        Some(n) if n > MAX_BODY => {
            let mut r = error_response(shared, 501, "for data too large");
            r.close = true;
            log_request(shared, req, Vec::new(), AuthKind::None, 501, Ran::No);
            return Some(r);
        }
        Some(n) if n > 0 => {
            conn.send_continue(req);
            match conn.read_exact_body(n) {
                Ok(b) => req.body = b,
                Err(_) => return None,
            }
        }
        _ => {}
    }
    let form = req.body_params();
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    // A call for another node is forwarded, as pveproxy does; it does not run when that node
    // cannot be reached.
    if let Some(rel) = &api_rel
        && let Some(target) = rel
            .strip_prefix("/nodes/")
            .and_then(|r| r.split('/').next())
        && let Some(reason) = crate::cluster::unreachable(shared, req.node, target)
    {
        log_request(shared, req, form, AuthKind::None, 595, Ran::No);
        return Some(fault_response(595, reason, None));
    }
    let after_running = match action {
        Some(FaultAction::DropAfterRead) => {
            log_request(shared, req, form, AuthKind::None, 0, Ran::No);
            return None;
        }
        Some(FaultAction::Status {
            status,
            reason,
            body,
        }) => {
            log_request(shared, req, form, AuthKind::None, status, Ran::No);
            return Some(fault_response(status, &reason, body.as_deref()));
        }
        Some(FaultAction::StatusAfterRunning {
            status,
            reason,
            body,
        }) => Some(fault_response(status, &reason, body.as_deref())),
        _ => None,
    };
    let (resp, auth) = match &api_rel {
        Some(rel) => crate::api::handle(shared, req, rel, extjs),
        None => (crate::api::non_api(shared, req, &decoded), AuthKind::None),
    };
    // A console WebSocket (pveproxy's upgrade branch): answered 101 and served after this
    // request, or left without an answer when nothing listens on its port.
    if let Some(rel) = &api_rel
        && after_running.is_none()
        && crate::console::is_upgrade(req, rel)
        && matches!(
            auth,
            AuthKind::TicketCookie | AuthKind::TicketHeader | AuthKind::Token
        )
    {
        return match crate::console::upgrade(shared, conn, req, resp, extjs) {
            Ok((status, upgraded)) => {
                log_request(shared, req, form, auth, status, Ran::Yes);
                conn.upgraded = Some(upgraded);
                None
            }
            Err(resp) => {
                if resp.status == 401 && !shared.config.unauthorized_delay.is_zero() {
                    std::thread::sleep(shared.config.unauthorized_delay);
                }
                log_request(shared, req, form, auth, resp.status, Ran::Yes);
                Some(resp)
            }
        };
    }
    if resp.status == 401 && !shared.config.unauthorized_delay.is_zero() {
        std::thread::sleep(shared.config.unauthorized_delay);
    }
    // The call took effect; the client sees the fault's answer instead of the handler's.
    let resp = after_running.unwrap_or(resp);
    log_request(shared, req, form, auth, resp.status, Ran::Yes);
    Some(resp)
}

fn fault_response(status: u16, reason: &str, body: Option<&str>) -> Response {
    Response::text(
        status,
        reason,
        "application/json;charset=UTF-8",
        body.unwrap_or("{\"data\":null}").as_bytes().to_vec(),
    )
}
