//! Consoles over a connection of the client's own: ureq 3 cannot hand an upgraded connection
//! over, so the upgrade goes on a TCP stream (through the CONNECT proxy when one is set) with
//! the client's rustls configuration — the same verifier, pins and CA — and the core's
//! [`ConsoleSession`] drives it.
//!
//! Reading and writing never block each other: a reader waits on the socket without the
//! session's lock, and wakes at the next keepalive to send it, so the keepalive is never
//! starved by a reader blocked on a quiet console.

use crate::{Client, Error};
use proxmox_proto::console::ConsoleError;
use proxmox_proto::console::ConsoleInfo;
use proxmox_proto::console::http1::{ResponseHead, request_head};
use proxmox_proto::console::session::{ConsoleEvent, ConsoleSession, Framing};
use proxmox_proto::flow::{
    CallOptions, ConsoleKind, ConsoleTarget, Exchange, ExchangeId, FailureKind, HttpReply, Payload,
    Reply, TransportFailure,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Builds a console: [`Client::console`].
#[derive(Debug)]
#[must_use]
pub struct ConsoleBuilder {
    client: Client,
    target: ConsoleTarget,
    settings: proxmox_proto::console::ConsoleSettings,
}

impl ConsoleBuilder {
    pub(crate) fn new(client: Client, target: ConsoleTarget) -> Self {
        Self {
            client,
            target,
            settings: Default::default(),
        }
    }

    proxmox_proto::console_builder_methods!("proxmox_ureq", blocking);

    /// Open the console: the console call, the WebSocket upgrade on the node that answered
    /// it, and for a terminal the login (this returns once termproxy said `OK`), within the
    /// client's connect and read timeouts.
    ///
    /// ```no_run
    /// # fn example(client: &proxmox_ureq::Client) -> Result<(), proxmox_ureq::Error> {
    /// use proxmox_ureq::ConsoleTarget;
    /// let shell = client.console(ConsoleTarget::Lxc { node: "pve1".into(), vmid: 200 }).build()?;
    /// shell.send(b"uname -a\n")?;
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<Console, Error> {
        let client = self.client;
        let provider = rustls::crypto::ring::default_provider();
        let random = provider.secure_random;
        let mut key = [0u8; 16];
        random
            .fill(&mut key)
            .map_err(|_| Error::Config("no random numbers for the WebSocket key".into()))?;
        let masks = Framing::websocket(move || {
            let mut m = [0u8; 4];
            // The system's generator does not fail once it has worked for the key.
            let _ = random.fill(&mut m);
            m
        });
        let flow = client.inner.core.console(
            self.target,
            self.settings.kind,
            key,
            masks,
            &CallOptions::default(),
        )?;
        let mut upgraded: Option<(ExchangeId, Upgraded)> = None;
        let opened = client.run_io(flow, &mut |_| {}, &mut |exchange: Exchange| {
            let id = exchange.id;
            let (reply, conn) = client.upgrade(exchange);
            if let Some(conn) = conn {
                upgraded = Some((id, conn));
            }
            reply
        })?;
        let Some((id, up)) = upgraded.filter(|(id, _)| *id == opened.exchange) else {
            return Err(Error::Config(
                "the console's upgraded connection went missing".into(),
            ));
        };
        debug_assert_eq!(id, opened.exchange);
        let mut session = opened.session;
        self.settings.apply(&mut session);
        let read_timeout = client.inner.core.policy().read_timeout;
        let Upgraded { tls, leftover } = up;
        let StreamOwned { conn, sock } = tls;
        let reader = sock.try_clone().map_err(Error::Io)?;
        let console = Console {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    conn,
                    session,
                    plain: Vec::new(),
                    ended: false,
                }),
                read: Mutex::new(ReadSide {
                    sock: reader,
                    pending: VecDeque::new(),
                }),
                write: sock,
                client: client.clone(),
                info: ConsoleInfo::new(opened.ticket, opened.request, self.settings.kind),
            }),
        };
        {
            // What came with the 101's head, and what TLS decrypted past it, is the
            // console's first output.
            let mut rd = console
                .shared
                .read
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut st = console.shared.lock();
            let now = client.inner.mono.at(Instant::now());
            st.session.handle_bytes(&leftover);
            Shared::drain(&mut st);
            st.session.handle_timeout(now);
            console.shared.collect(&mut st, &mut rd.pending);
            console.shared.flush(&mut st)?;
        }
        if self.settings.kind == ConsoleKind::Terminal {
            console.wait_open(read_timeout)?;
            if let Some((cols, rows)) = self.settings.size {
                console.resize(cols, rows)?;
            }
        }
        Ok(console)
    }
}

/// The connection of a `101`, and the bytes read past its head.
pub(crate) struct Upgraded {
    tls: StreamOwned<ClientConnection, TcpStream>,
    leftover: Vec<u8>,
}

impl Client {
    /// A console: a node's shell, a container's console or a VM's serial terminal
    /// (termproxy), or with [`ConsoleBuilder::vnc`] a VNC stream. Nothing happens before
    /// [`ConsoleBuilder::build`].
    ///
    /// ```no_run
    /// # fn example(client: &proxmox_ureq::Client) -> Result<(), proxmox_ureq::Error> {
    /// use proxmox_ureq::ConsoleTarget;
    /// use std::time::Duration;
    /// let shell = client.console(ConsoleTarget::Node("pve1".into())).build()?;
    /// shell.send(b"hostname\n")?;
    /// let out = shell.read_until(b"# ", Duration::from_secs(5))?;
    /// println!("{}", String::from_utf8_lossy(&out));
    /// shell.close()?;
    /// # Ok(()) }
    /// ```
    pub fn console(&self, target: ConsoleTarget) -> ConsoleBuilder {
        ConsoleBuilder::new(self.clone(), target)
    }

    /// Perform an exchange of a console flow: the upgrade on a connection of its own, any
    /// other exchange as usual.
    fn upgrade(&self, exchange: Exchange) -> (Reply, Option<Upgraded>) {
        if exchange.kind != proxmox_proto::flow::ExchangeKind::WebSocket {
            return (self.perform(exchange, &mut None), None);
        }
        let traced = proxmox_proto::trace::exchange(&exchange);
        let started = Instant::now();
        let (reply, conn) = match self.upgrade_untraced(exchange) {
            Ok((reply, conn)) => (Reply::Http(reply), conn),
            Err(f) => (Reply::Failed(f), None),
        };
        traced.answered(&reply, started.elapsed());
        (reply, conn)
    }

    fn upgrade_untraced(
        &self,
        exchange: Exchange,
    ) -> Result<(HttpReply, Option<Upgraded>), TransportFailure> {
        let Payload::Http(req) = exchange.payload else {
            return Err(
                TransportFailure::not_sent("a WebSocket upgrade without a request").permanent(),
            );
        };
        let uri = req.uri().clone();
        let host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
            .ok_or_else(|| {
                TransportFailure::not_sent("a WebSocket URL without a host").permanent()
            })?;
        let port = uri.port_u16().unwrap_or(443);
        let sock = self.connect_console(&uri, &host, port, exchange.connect_timeout)?;
        let name = ServerName::try_from(host.clone())
            .map_err(|_| TransportFailure::not_sent("invalid TLS server name").permanent())?;
        let conn = ClientConnection::new(self.inner.tls_config.clone(), name).map_err(|e| {
            TransportFailure::not_sent(format!("TLS: {e}")).with_kind(FailureKind::Tls)
        })?;
        let mut tls = StreamOwned::new(conn, sock);
        let _ = tls.sock.set_read_timeout(Some(exchange.connect_timeout));
        while tls.conn.is_handshaking() {
            if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
                let permanent = proxmox_proto::rustls_config::is_permanent_tls_failure(&e);
                let text = proxmox_proto::rustls_config::tls_failure_text(&e)
                    .unwrap_or_else(|| format!("TLS handshake: {e}"));
                let mut f = TransportFailure::not_sent(text).with_kind(FailureKind::Tls);
                f.permanent = permanent;
                return Err(f);
            }
        }
        let _ = tls.sock.set_read_timeout(Some(exchange.read_timeout));
        let _ = tls.sock.set_write_timeout(Some(exchange.read_timeout));
        let sent = |e: io::Error| {
            let timeout = matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            );
            let mut f = TransportFailure::maybe_sent(format!("WebSocket upgrade: {e}"));
            if timeout {
                f = f.timed_out();
            }
            f
        };
        tls.write_all(&request_head(&req)).map_err(sent)?;
        tls.flush().map_err(sent)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let (head, used) = loop {
            match ResponseHead::parse(&buf) {
                Ok(Some(done)) => break done,
                Ok(None) => {}
                Err(e) => return Err(TransportFailure::maybe_sent(e.to_string())),
            }
            let n = tls.read(&mut chunk).map_err(sent)?;
            if n == 0 {
                return Err(TransportFailure::maybe_sent(
                    "the server closed the connection before answering the WebSocket upgrade",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let leftover = buf.split_off(used);
        let mut reply = HttpReply::new(head.status, head.reason.clone(), Vec::new());
        reply.headers = head.headers.clone();
        if head.status == 101 {
            return Ok((reply, Some(Upgraded { tls, leftover })));
        }
        // An error answer: its body, within the limit.
        let want = head.content_length().unwrap_or(0).min(exchange.body_limit);
        let mut body = leftover;
        while (body.len() as u64) < want {
            match tls.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        body.truncate(want as usize);
        reply.body = body;
        Ok((reply, None))
    }

    /// A TCP connection to `host:port`, through the CONNECT proxy when one applies.
    fn connect_console(
        &self,
        uri: &http::Uri,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<TcpStream, TransportFailure> {
        let proxy = self.inner.proxy.as_ref().filter(|p| !p.is_no_proxy(uri));
        let (to_host, to_port) = match proxy {
            Some(p) => (p.host().to_owned(), p.port()),
            None => (host.to_owned(), port),
        };
        let addrs = (to_host.as_str(), to_port).to_socket_addrs().map_err(|e| {
            TransportFailure::not_sent(format!("resolving {to_host}: {e}"))
                .with_kind(FailureKind::Dns)
        })?;
        let mut last = io::Error::other("the name resolves to no address");
        let mut sock = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let sock = sock.ok_or_else(|| {
            let mut f =
                TransportFailure::not_sent(format!("connecting to {to_host}:{to_port}: {last}"))
                    .with_kind(FailureKind::Connect);
            if last.kind() == io::ErrorKind::TimedOut {
                f = f.timed_out();
            }
            f
        })?;
        let _ = sock.set_nodelay(true);
        if let Some(p) = proxy {
            tunnel(&sock, p, host, port, timeout)?;
        }
        Ok(sock)
    }
}

/// Open a CONNECT tunnel through `proxy` to `host:port` on `sock`.
fn tunnel(
    mut sock: &TcpStream,
    proxy: &ureq::Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(), TransportFailure> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(user) = proxy.username() {
        let pass = proxy.password().unwrap_or_default();
        let creds = proxmox_proto::console::handshake::base64(format!("{user}:{pass}").as_bytes());
        head.push_str(&format!("Proxy-Authorization: Basic {creds}\r\n"));
    }
    head.push_str("\r\n");
    let fail = |what: String| TransportFailure::not_sent(what).with_kind(FailureKind::Connect);
    let _ = sock.set_read_timeout(Some(timeout));
    sock.write_all(head.as_bytes())
        .map_err(|e| fail(format!("the proxy: {e}")))?;
    // Read the answer byte by byte: nothing past its head may be taken from the tunnel.
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        match sock.read(&mut byte) {
            Ok(1) if answer.len() < 8192 => answer.push(byte[0]),
            Ok(_) => return Err(fail("the proxy closed or sent too much".into())),
            Err(e) => return Err(fail(format!("the proxy: {e}"))),
        }
    }
    match ResponseHead::parse(&answer) {
        Ok(Some((h, _))) if (200..300).contains(&h.status) => Ok(()),
        Ok(Some((h, _))) => Err(fail(format!(
            "the proxy refused the tunnel to {authority}: {} {}",
            h.status,
            h.reason.unwrap_or_default()
        ))),
        _ => Err(fail("the proxy's answer is not HTTP".into())),
    }
}

struct State {
    conn: ClientConnection,
    session: ConsoleSession,
    /// Plaintext read out of TLS, scratch.
    plain: Vec<u8>,
    /// The connection was shut down.
    ended: bool,
}

struct ReadSide {
    sock: TcpStream,
    /// Output received and not yet handed out (and the end, once).
    pending: VecDeque<Result<Option<Vec<u8>>, Error>>,
}

struct Shared {
    state: Mutex<State>,
    read: Mutex<ReadSide>,
    /// The socket written to (under the state's lock).
    write: TcpStream,
    client: Client,
    info: ConsoleInfo,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> proxmox_proto::flow::MonoTime {
        self.client.inner.mono.at(Instant::now())
    }

    fn error(&self, e: ConsoleError) -> Error {
        self.info.error(e).into()
    }

    /// Write what the session queued; shut the connection once the session is over.
    fn flush(&self, st: &mut State) -> Result<(), Error> {
        while let Some(bytes) = st.session.poll_transmit() {
            st.conn.writer().write_all(&bytes).map_err(Error::Io)?;
        }
        let mut w = &self.write;
        while st.conn.wants_write() {
            if let Err(e) = st.conn.write_tls(&mut w) {
                st.ended = true;
                let _ = self.write.shutdown(Shutdown::Both);
                return Err(Error::Io(e));
            }
        }
        if st.session.is_closed() && !st.ended {
            st.ended = true;
            st.conn.send_close_notify();
            let _ = st.conn.write_tls(&mut w);
            let _ = self.write.shutdown(Shutdown::Both);
        }
        Ok(())
    }

    /// Feed bytes read from the socket (`None`: its end) and collect what they gave.
    fn feed(
        &self,
        st: &mut State,
        bytes: Option<&[u8]>,
        out: &mut VecDeque<Result<Option<Vec<u8>>, Error>>,
    ) {
        match bytes {
            Some(mut bytes) => {
                while !bytes.is_empty() {
                    if st.conn.read_tls(&mut bytes).is_err() {
                        break;
                    }
                    if let Err(e) = st.conn.process_new_packets() {
                        out.push_back(Err(Error::Io(io::Error::other(e))));
                        st.session.handle_eof();
                        break;
                    }
                    Self::drain(st);
                }
            }
            None => st.session.handle_eof(),
        }
        self.collect(st, out);
    }

    /// Hand what TLS has decrypted to the session.
    fn drain(st: &mut State) {
        let mut plain = std::mem::take(&mut st.plain);
        plain.resize(64 * 1024, 0);
        loop {
            match st.conn.reader().read(&mut plain) {
                Ok(0) => {
                    st.session.handle_eof();
                    break;
                }
                Ok(n) => st.session.handle_bytes(&plain[..n]),
                Err(_) => break,
            }
        }
        st.plain = plain;
    }

    /// Move the session's events to `out`.
    fn collect(&self, st: &mut State, out: &mut VecDeque<Result<Option<Vec<u8>>, Error>>) {
        while let Some(ev) = st.session.poll_event() {
            match ev {
                ConsoleEvent::Opened => out.push_back(Ok(Some(Vec::new()))),
                ConsoleEvent::Output(b) => out.push_back(Ok(Some(b))),
                ConsoleEvent::Closed(_) => out.push_back(Ok(None)),
                ConsoleEvent::Failed(e) => out.push_back(Err(self.error(e))),
            }
        }
    }
}

/// An open console (see [`Client::console`]). Share it between threads (`&Console` is
/// `Send + Sync`): one reads while another writes. Also [`Read`] and [`Write`], for a VNC
/// byte stream.
pub struct Console {
    shared: Arc<Shared>,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("info", &self.shared.info)
            .finish()
    }
}

impl Console {
    proxmox_proto::console_info_methods!("proxmox_ureq");

    fn info(&self) -> &ConsoleInfo {
        &self.shared.info
    }

    /// Send input: typed bytes (a terminal), or RFB bytes (VNC).
    ///
    /// ```no_run
    /// # fn example(shell: &proxmox_ureq::Console) -> Result<(), proxmox_ureq::Error> {
    /// shell.send(b"ls /\n")?;
    /// # Ok(()) }
    /// ```
    pub fn send(&self, data: &[u8]) -> Result<(), Error> {
        let now = self.shared.now();
        let mut st = self.shared.lock();
        st.session.handle_timeout(now);
        st.session
            .send(data, now)
            .map_err(|e| self.shared.error(e))?;
        self.shared.flush(&mut st)
    }

    /// Tell the terminal its new size.
    ///
    /// ```no_run
    /// # fn example(shell: &proxmox_ureq::Console) -> Result<(), proxmox_ureq::Error> {
    /// shell.resize(132, 43)?;
    /// # Ok(()) }
    /// ```
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), Error> {
        let now = self.shared.now();
        let mut st = self.shared.lock();
        st.session
            .resize(cols, rows, now)
            .map_err(|e| self.shared.error(e))?;
        self.shared.flush(&mut st)
    }

    /// The next output, waiting at most `timeout` (`None`: until there is some; keepalives
    /// go out meanwhile). `Ok(None)` once the console has closed; a timeout is an error whose
    /// [`Error::is_timeout`] is true (the console stays open).
    ///
    /// ```no_run
    /// # fn example(shell: &proxmox_ureq::Console) -> Result<(), proxmox_ureq::Error> {
    /// use std::time::Duration;
    /// while let Some(bytes) = shell.recv(Some(Duration::from_secs(5)))? {
    ///     print!("{}", String::from_utf8_lossy(&bytes));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Option<Vec<u8>>, Error> {
        loop {
            match self.next(timeout)? {
                Some(b) if b.is_empty() => continue,
                other => return Ok(other),
            }
        }
    }

    /// Output until `needle` appears (included), waiting at most `timeout` in all: for
    /// scripted sessions (wait for a prompt, then type).
    ///
    /// ```no_run
    /// # fn example(shell: &proxmox_ureq::Console) -> Result<(), proxmox_ureq::Error> {
    /// use std::time::Duration;
    /// shell.send(b"echo done\n")?;
    /// let out = shell.read_until(b"done\r\n", Duration::from_secs(10))?;
    /// # Ok(()) }
    /// ```
    pub fn read_until(&self, needle: &[u8], timeout: Duration) -> Result<Vec<u8>, Error> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            if let Some(found) = proxmox_proto::console::termproxy::split_after(&mut got, needle) {
                // What follows the needle stays for the next read.
                if !got.is_empty() {
                    self.shared
                        .read
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pending
                        .push_front(Ok(Some(got)));
                }
                return Ok(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(Some(left))? {
                Some(b) => got.extend_from_slice(&b),
                None => {
                    return Err(self.shared.error(ConsoleError::EndedBefore {
                        needle: String::from_utf8_lossy(needle).into_owned(),
                    }));
                }
            }
        }
    }

    /// Close the console: a close frame, then the server's answer (at most the client's read
    /// timeout), then the connection is shut.
    ///
    /// ```no_run
    /// # fn example(shell: proxmox_ureq::Console) -> Result<(), proxmox_ureq::Error> {
    /// shell.close()?;
    /// # Ok(()) }
    /// ```
    pub fn close(&self) -> Result<(), Error> {
        {
            let now = self.shared.now();
            let mut st = self.shared.lock();
            st.session.close(now);
            self.shared.flush(&mut st)?;
        }
        let timeout = self.shared.client.inner.core.policy().read_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(Some(left)) {
                Ok(None) => return Ok(()),
                Ok(Some(_)) => {}
                Err(e) if e.is_timeout() => {
                    let _ = self.shared.write.shutdown(Shutdown::Both);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the console has ended.
    ///
    /// ```no_run
    /// # fn example(shell: &proxmox_ureq::Console) {
    /// assert!(!shell.is_closed());
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().session.is_closed()
    }

    fn timed_out(&self, waited: Option<Duration>) -> Error {
        self.shared
            .info
            .no_output_within(waited.unwrap_or_default())
            .into()
    }

    /// Wait for termproxy's `OK`.
    fn wait_open(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.lock().session.is_open() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(Some(left))? {
                Some(b) if b.is_empty() => return Ok(()),
                Some(b) => {
                    self.shared
                        .read
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pending
                        .push_back(Ok(Some(b)));
                }
                None => return Err(self.shared.error(ConsoleError::ClosedBeforeOk)),
            }
        }
    }

    /// The next event's bytes: `Some(empty)` for the login accepted, `Some(output)`, `None`
    /// at the end.
    fn next(&self, timeout: Option<Duration>) -> Result<Option<Vec<u8>>, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut rd = self
            .shared
            .read
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(item) = rd.pending.pop_front() {
                if matches!(item, Ok(None)) {
                    // The end stays the end.
                    rd.pending.push_front(Ok(None));
                }
                return item;
            }
            // Wake for the keepalive, or the caller's deadline, whichever comes first.
            let keepalive = {
                let st = self.shared.lock();
                if st.ended || st.session.is_closed() {
                    rd.pending.push_back(Ok(None));
                    continue;
                }
                st.session.poll_timeout()
            };
            let now = Instant::now();
            let mono = self.shared.now();
            let mut wait = deadline.map(|d| d.saturating_duration_since(now));
            if let Some(k) = keepalive {
                let k = mono.until(k);
                wait = Some(wait.map_or(k, |w| w.min(k)));
            }
            if wait == Some(Duration::ZERO) && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(self.timed_out(timeout));
            }
            let _ = rd
                .sock
                .set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))));
            let read = rd.sock.read(&mut buf);
            let mut st = self.shared.lock();
            let ReadSide { pending, .. } = &mut *rd;
            match read {
                Ok(0) => self.shared.feed(&mut st, None, pending),
                Ok(n) => self.shared.feed(&mut st, Some(&buf[..n]), pending),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let now = self.shared.now();
                    st.session.handle_timeout(now);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.shared.feed(&mut st, None, pending),
            }
            self.shared.flush(&mut st)?;
            drop(st);
            if rd.pending.is_empty() && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(self.timed_out(timeout));
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let now = self.now();
        let mut st = self.lock();
        if !st.ended {
            st.session.close(now);
            let _ = self.flush(&mut st);
            let _ = self.write.shutdown(Shutdown::Both);
        }
    }
}

impl Read for &Console {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(bytes) = self.recv(None).map_err(io::Error::other)? else {
            return Ok(0);
        };
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        if n < bytes.len() {
            self.shared
                .read
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pending
                .push_front(Ok(Some(bytes[n..].to_vec())));
        }
        Ok(n)
    }
}

impl Write for &Console {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
