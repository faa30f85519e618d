//! An open console as a value: bytes from the connection in, events and bytes to write out,
//! the keepalive on a timer the driver honours — the connection's state machine, with no
//! socket (in the manner of quinn-proto's `Connection`).
//!
//! ## The driving contract
//!
//! The adapter owns the connection (a TLS stream after the `101`, or a browser `WebSocket`)
//! and repeats:
//!
//! 1. bytes read from the connection go to [`ConsoleSession::handle_bytes`] (a browser
//!    `WebSocket` delivers whole messages: [`ConsoleSession::handle_message`]); the end of
//!    the stream to [`ConsoleSession::handle_eof`];
//! 2. what the caller wants goes to [`ConsoleSession::send`], [`ConsoleSession::resize`] and
//!    [`ConsoleSession::close`];
//! 3. everything [`ConsoleSession::poll_transmit`] hands out is written, in order;
//! 4. [`ConsoleSession::poll_event`] gives what the caller sees (the login accepted, output,
//!    the end);
//! 5. at [`ConsoleSession::poll_timeout`] (the next keepalive), it calls
//!    [`ConsoleSession::handle_timeout`] even when nothing was read — a reader blocked on the
//!    socket must wake for it — and writes what that queued.
//!
//! When [`ConsoleSession::is_closed`] and nothing is left to transmit, the adapter closes
//! the connection.
//!
//! A termproxy session on canned bytes:
//!
//! ```
//! use proxmox_proto::auth::Secret;
//! use proxmox_proto::console::frame::{Decoder, Message};
//! use proxmox_proto::console::session::{ConsoleEvent, ConsoleSession, Framing, Protocol};
//! use proxmox_proto::flow::MonoTime;
//! use std::time::Duration;
//!
//! let protocol = Protocol::Terminal { user: "root@pam".into(), ticket: Secret::new("PVEVNC:1::s") };
//! let mut n = 0u8;
//! let masks = Framing::websocket(move || { n = n.wrapping_add(1); [n; 4] });
//! let mut s = ConsoleSession::new(protocol, masks, MonoTime::ZERO);
//! // What the server reads first: the login line, in a masked frame.
//! let mut server = Decoder::new(1 << 20);
//! let unmask = |wire: Vec<u8>| {
//!     // (a server's decoder would unmask; here the test reads the frame header by hand)
//!     let mask = [wire[2], wire[3], wire[4], wire[5]];
//!     wire[6..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect::<Vec<u8>>()
//! };
//! assert_eq!(unmask(s.poll_transmit().unwrap()), b"root@pam:PVEVNC:1::s\n");
//! // Typed before the login is accepted: held back until `OK`.
//! s.send(b"uname\n", MonoTime::ZERO).unwrap();
//! assert!(s.poll_transmit().is_none());
//! // The server: `OK` and the first output in one binary frame.
//! s.handle_bytes(&[0x82, 4, b'O', b'K', b'$', b' ']);
//! assert_eq!(s.poll_event(), Some(ConsoleEvent::Opened));
//! assert_eq!(s.poll_event(), Some(ConsoleEvent::Output(b"$ ".to_vec())));
//! assert_eq!(unmask(s.poll_transmit().unwrap()), b"0:6:uname\n");
//! // Thirty seconds without a write: the keepalive.
//! let due = s.poll_timeout().unwrap();
//! assert_eq!(due, MonoTime::ZERO + Duration::from_secs(30));
//! s.handle_timeout(due);
//! assert_eq!(unmask(s.poll_transmit().unwrap()), b"2");
//! // The server closes: the session answers the close and ends.
//! s.handle_bytes(&[0x88, 2, 0x03, 0xe8]);
//! assert!(matches!(s.poll_event(), Some(ConsoleEvent::Closed(c)) if c.code == Some(1000)));
//! assert!(s.poll_transmit().is_some(), "the close is echoed");
//! assert!(s.is_closed());
//! # let _ = server.next_message();
//! ```

use super::frame::{Decoder, FrameError, Message, Opcode, close_payload, encode};
use super::termproxy::{self, ConsoleError, OutputDecoder};
use crate::auth::Secret;
use crate::flow::MonoTime;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// The largest input one termproxy message carries: its frame stays well below pveproxy's
/// 128 KiB limit (pve-http-server `AnyEvent.pm` `websocket_proxy` drops larger frames).
const INPUT_CHUNK: usize = 64 * 1024;

/// The largest message accepted from the server (a termproxy or RFB chunk is far smaller;
/// larger is refused from the frame header).
pub const DEFAULT_MESSAGE_LIMIT: usize = 16 * 1024 * 1024;

/// What runs over the WebSocket.
#[derive(Clone)]
pub enum Protocol {
    /// termproxy (a node shell, a container console, a VM's serial console): the login line,
    /// `OK`, then terminal bytes; input, resize and keepalive encoded (pve-xtermjs
    /// `termproxy/src/main.rs`).
    Terminal {
        /// `user` from the termproxy answer.
        user: String,
        /// `ticket` from the termproxy answer.
        ticket: Secret,
    },
    /// VNC (`vncshell`, `vncproxy`): the RFB byte stream as it is, both ways; no login line,
    /// no keepalive (RFB authenticates with the answer's `password`).
    Raw,
}

impl fmt::Debug for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Terminal { user, .. } => f
                .debug_struct("Terminal")
                .field("user", user)
                .field("ticket", &"<redacted>")
                .finish(),
            Protocol::Raw => f.write_str("Raw"),
        }
    }
}

/// Who frames the WebSocket.
pub enum Framing {
    /// The session does (a native adapter's own stream): each frame is masked with a key
    /// drawn from this source (the adapter's random numbers; RFC 6455 §5.3 wants them
    /// unpredictable).
    WebSocket(Box<dyn FnMut() -> [u8; 4] + Send>),
    /// The runtime does (a browser `WebSocket`): the session reads and writes whole binary
    /// messages.
    Messages,
}

impl Framing {
    /// Frames masked with keys from `masks`.
    pub fn websocket(masks: impl FnMut() -> [u8; 4] + Send + 'static) -> Self {
        Framing::WebSocket(Box::new(masks))
    }
}

impl fmt::Debug for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framing::WebSocket(_) => "WebSocket",
            Framing::Messages => "Messages",
        })
    }
}

/// What the caller of a console sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleEvent {
    /// termproxy accepted the login (`OK`); a VNC session is open from the start and never
    /// reports this.
    Opened,
    /// Bytes from the terminal or the RFB server.
    Output(Vec<u8>),
    /// The console ended; nothing more comes.
    Closed(Closed),
    /// The console failed; nothing more comes.
    Failed(ConsoleError),
}

/// How a console ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The close code the server sent (1000 for `exit`), if it sent a close frame.
    pub code: Option<u16>,
    /// Its reason.
    pub reason: String,
    /// Whether the close handshake took place (a connection dropped mid-stream is `false`).
    pub clean: bool,
    /// Whether the caller asked for it.
    pub by_client: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// termproxy: the login line is out, `OK` is awaited.
    LoggingIn,
    Open,
    /// The caller closed: our close frame is queued; the server's is awaited.
    Closing,
    Closed,
}

/// An open console's state machine. See the [module docs](self) for the contract.
pub struct ConsoleSession {
    protocol: Protocol,
    framing: Framing,
    frames: Decoder,
    term: OutputDecoder,
    state: State,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<ConsoleEvent>,
    /// Input typed before the login was accepted.
    held: Vec<u8>,
    keepalive: Option<Duration>,
    /// When the last bytes went out.
    last_sent: MonoTime,
}

impl fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSession")
            .field("protocol", &self.protocol)
            .field("framing", &self.framing)
            .field("state", &self.state)
            .field("queued", &self.transmit.len())
            .finish_non_exhaustive()
    }
}

impl ConsoleSession {
    /// A session over a connection that has just switched protocols, at `now`. A terminal
    /// session queues its login line at once.
    pub fn new(protocol: Protocol, framing: Framing, now: MonoTime) -> Self {
        let mut s = Self {
            framing,
            frames: Decoder::new(DEFAULT_MESSAGE_LIMIT),
            term: OutputDecoder::new(),
            state: State::Open,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            held: Vec::new(),
            keepalive: None,
            last_sent: now,
            protocol,
        };
        if let Protocol::Terminal { user, ticket } = &s.protocol {
            let line = termproxy::login_line(user, ticket);
            s.state = State::LoggingIn;
            s.keepalive = Some(termproxy::KEEPALIVE_INTERVAL);
            s.queue(Opcode::Binary, line.expose().as_bytes());
        }
        s
    }

    /// Send keepalives this often instead of every 30 s (`None`: never). Terminal sessions
    /// only.
    pub fn set_keepalive(&mut self, every: Option<Duration>) {
        if matches!(self.protocol, Protocol::Terminal { .. }) {
            self.keepalive = every.filter(|d| !d.is_zero());
        }
    }

    /// Refuse server messages over `limit` bytes (default [`DEFAULT_MESSAGE_LIMIT`]).
    pub fn set_message_limit(&mut self, limit: usize) {
        self.frames = Decoder::new(limit);
    }

    /// Whether termproxy accepted the login (always for VNC).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the console has ended (closed or failed).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The RFB byte stream or terminal input: typed input goes out as termproxy's
    /// `0:<len>:<data>` (in chunks pveproxy accepts), held back until the login is accepted.
    pub fn send(&mut self, data: &[u8], now: MonoTime) -> Result<(), ConsoleError> {
        match self.state {
            State::Closed | State::Closing => return Err(ConsoleError::NotOpen),
            State::LoggingIn => {
                self.held.extend_from_slice(data);
                return Ok(());
            }
            State::Open => {}
        }
        self.last_sent = now;
        match self.protocol {
            Protocol::Terminal { .. } => {
                for chunk in data.chunks(INPUT_CHUNK) {
                    self.queue(Opcode::Binary, &termproxy::input(chunk));
                }
            }
            Protocol::Raw => {
                for chunk in data.chunks(INPUT_CHUNK) {
                    self.queue(Opcode::Binary, chunk);
                }
            }
        }
        Ok(())
    }

    /// Tell termproxy the terminal's size (ignored for VNC, where RFB says it).
    pub fn resize(&mut self, cols: u16, rows: u16, now: MonoTime) -> Result<(), ConsoleError> {
        match self.state {
            State::Closed | State::Closing => Err(ConsoleError::NotOpen),
            _ if matches!(self.protocol, Protocol::Raw) => Ok(()),
            _ => {
                self.last_sent = now;
                self.queue(Opcode::Binary, &termproxy::resize(cols, rows));
                Ok(())
            }
        }
    }

    /// Close the console: a close frame (1000) goes out; the session ends when the server
    /// answers it or the connection ends.
    pub fn close(&mut self, now: MonoTime) {
        match self.state {
            State::Closed | State::Closing => {}
            _ => {
                self.last_sent = now;
                self.queue(Opcode::Close, &close_payload(1000, ""));
                self.state = State::Closing;
                if matches!(self.framing, Framing::Messages) {
                    // The runtime runs the close handshake.
                    self.end(Closed {
                        code: Some(1000),
                        reason: String::new(),
                        clean: true,
                        by_client: true,
                    });
                }
            }
        }
    }

    /// Bytes read from the connection (framed by this session).
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.frames.feed(bytes);
        // A message can end the session (termproxy's answer was not `OK`): nothing after it
        // is read.
        while self.state != State::Closed {
            match self.frames.next_message() {
                Ok(None) => return,
                Ok(Some(Message::Binary(data))) => self.payload(&data),
                Ok(Some(Message::Text(text))) => self.payload(text.as_bytes()),
                Ok(Some(Message::Ping(data))) => self.queue(Opcode::Pong, &data),
                Ok(Some(Message::Pong(_))) => {}
                Ok(Some(Message::Close(said))) => {
                    let by_client = self.state == State::Closing;
                    if !by_client {
                        // Echo the close (§5.5.1).
                        let code = said.as_ref().map_or(1000, |(c, _)| *c);
                        self.queue(Opcode::Close, &close_payload(code, ""));
                    }
                    let (code, reason) = said.map_or((None, String::new()), |(c, r)| (Some(c), r));
                    self.closed_by_server(Closed {
                        code,
                        reason,
                        clean: true,
                        by_client,
                    });
                    return;
                }
                Err(e) => {
                    self.frame_error(e);
                    return;
                }
            }
        }
    }

    /// One whole binary (or text) message, when the runtime frames (a browser `WebSocket`).
    pub fn handle_message(&mut self, payload: &[u8]) {
        if self.state != State::Closed {
            self.payload(payload);
        }
    }

    /// The runtime reports the close handshake's end (a browser `WebSocket`'s `close` event).
    pub fn handle_close(&mut self, code: Option<u16>, reason: &str) {
        if self.state == State::Closed {
            return;
        }
        let by_client = self.state == State::Closing;
        self.closed_by_server(Closed {
            code,
            reason: reason.to_owned(),
            clean: true,
            by_client,
        });
    }

    /// The connection ended (EOF, reset) without a close handshake.
    pub fn handle_eof(&mut self) {
        if self.state == State::Closed {
            return;
        }
        let by_client = self.state == State::Closing;
        self.closed_by_server(Closed {
            code: None,
            reason: String::new(),
            clean: false,
            by_client,
        });
    }

    /// When [`Self::handle_timeout`] is due next (the keepalive), if ever.
    pub fn poll_timeout(&self) -> Option<MonoTime> {
        match self.state {
            State::LoggingIn | State::Open => self.keepalive.map(|k| self.last_sent + k),
            State::Closing | State::Closed => None,
        }
    }

    /// The time has come (or passed): queue what is due.
    pub fn handle_timeout(&mut self, now: MonoTime) {
        if let Some(due) = self.poll_timeout()
            && now >= due
        {
            self.last_sent = now;
            self.queue(Opcode::Binary, termproxy::KEEPALIVE);
        }
    }

    /// The next bytes to write (a frame, or a whole message when the runtime frames), in
    /// order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// Whether anything is waiting in [`Self::poll_transmit`].
    pub fn wants_transmit(&self) -> bool {
        !self.transmit.is_empty()
    }

    /// The next thing the caller sees.
    pub fn poll_event(&mut self) -> Option<ConsoleEvent> {
        self.events.pop_front()
    }

    fn queue(&mut self, opcode: Opcode, payload: &[u8]) {
        match &mut self.framing {
            Framing::WebSocket(masks) => {
                let mask = masks();
                self.transmit.push_back(encode(opcode, payload, mask));
            }
            // The runtime frames data; its own close method closes.
            Framing::Messages if opcode == Opcode::Binary => {
                self.transmit.push_back(payload.to_vec());
            }
            Framing::Messages => {}
        }
    }

    fn payload(&mut self, data: &[u8]) {
        match self.protocol {
            Protocol::Raw => {
                if !data.is_empty() {
                    self.events.push_back(ConsoleEvent::Output(data.to_vec()));
                }
            }
            Protocol::Terminal { .. } => match self.term.feed(data) {
                Ok(out) => {
                    if out.logged_in {
                        if self.state == State::LoggingIn {
                            self.state = State::Open;
                        }
                        self.events.push_back(ConsoleEvent::Opened);
                        let held = std::mem::take(&mut self.held);
                        if !held.is_empty() {
                            // `send` cannot fail while open.
                            let now = self.last_sent;
                            let _ = self.send(&held, now);
                        }
                    }
                    if !out.bytes.is_empty() {
                        self.events.push_back(ConsoleEvent::Output(out.bytes));
                    }
                }
                Err(e) => {
                    self.queue(Opcode::Close, &close_payload(1002, ""));
                    self.fail(e);
                }
            },
        }
    }

    fn frame_error(&mut self, e: FrameError) {
        self.queue(Opcode::Close, &close_payload(e.close_code(), ""));
        self.fail(ConsoleError::WebSocket(e));
    }

    fn closed_by_server(&mut self, closed: Closed) {
        if self.state == State::LoggingIn {
            self.fail(ConsoleError::ClosedBeforeOk);
        } else {
            self.end(closed);
        }
    }

    fn fail(&mut self, e: ConsoleError) {
        self.state = State::Closed;
        self.held.clear();
        self.events.push_back(ConsoleEvent::Failed(e));
    }

    fn end(&mut self, closed: Closed) {
        self.state = State::Closed;
        self.held.clear();
        self.events.push_back(ConsoleEvent::Closed(closed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal() -> ConsoleSession {
        let p = Protocol::Terminal {
            user: "root@pam".into(),
            ticket: Secret::new("PVEVNC:AB::sig"),
        };
        ConsoleSession::new(p, Framing::websocket(|| [0; 4]), MonoTime::ZERO)
    }

    fn drain(s: &mut ConsoleSession) -> Vec<ConsoleEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    #[test]
    fn ok_split_across_frames_and_output_in_order() {
        let mut s = terminal();
        s.poll_transmit().unwrap();
        s.handle_bytes(&[0x82, 1, b'O']);
        assert!(drain(&mut s).is_empty());
        s.handle_bytes(&[0x82, 3, b'K', b'a', b'b', 0x82, 1]);
        assert_eq!(
            drain(&mut s),
            [ConsoleEvent::Opened, ConsoleEvent::Output(b"ab".to_vec())]
        );
        s.handle_bytes(b"c");
        assert_eq!(drain(&mut s), [ConsoleEvent::Output(b"c".to_vec())]);
    }

    #[test]
    fn closed_before_ok_is_the_typed_error() {
        let mut s = terminal();
        s.handle_eof();
        assert_eq!(
            drain(&mut s),
            [ConsoleEvent::Failed(ConsoleError::ClosedBeforeOk)]
        );
        assert!(s.is_closed());
        assert_eq!(s.send(b"x", MonoTime::ZERO), Err(ConsoleError::NotOpen));
    }

    #[test]
    fn oversized_frame_is_refused_from_its_header_with_1009() {
        let mut s = terminal();
        s.poll_transmit().unwrap();
        s.set_message_limit(1024);
        // A 64 MiB binary frame announced; only the header arrives.
        s.handle_bytes(&[0x82, 127, 0, 0, 0, 0, 4, 0, 0, 0]);
        let ev = drain(&mut s);
        assert!(
            matches!(
                &ev[..],
                [ConsoleEvent::Failed(ConsoleError::WebSocket(
                    FrameError::TooLarge { .. }
                ))]
            ),
            "{ev:?}"
        );
        let close = s.poll_transmit().unwrap();
        assert_eq!(close[0], 0x88);
        assert_eq!(&close[6..8], &1009u16.to_be_bytes(), "masked with zeros");
    }

    #[test]
    fn ping_is_answered_and_large_input_is_chunked() {
        let mut s = terminal();
        s.poll_transmit().unwrap();
        s.handle_bytes(&[0x82, 2, b'O', b'K', 0x89, 1, b'p']);
        let pong = s.poll_transmit().unwrap();
        assert_eq!((pong[0], &pong[6..]), (0x8a, &b"p"[..]));
        s.send(&vec![b'a'; 150 * 1024], MonoTime::ZERO).unwrap();
        let frames: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.len() < 128 * 1024));
    }

    #[test]
    fn caller_close_waits_for_the_server_and_is_clean() {
        let mut s = terminal();
        s.poll_transmit().unwrap();
        s.handle_bytes(&[0x82, 2, b'O', b'K']);
        drain(&mut s);
        s.close(MonoTime::ZERO);
        assert_eq!(s.poll_transmit().unwrap()[0], 0x88);
        assert!(!s.is_closed());
        assert_eq!(s.poll_timeout(), None, "no keepalive while closing");
        s.handle_bytes(&[0x88, 2, 0x03, 0xe8]);
        assert!(s.poll_transmit().is_none(), "a close is not echoed twice");
        assert!(matches!(
            &drain(&mut s)[..],
            [ConsoleEvent::Closed(Closed {
                code: Some(1000),
                clean: true,
                by_client: true,
                ..
            })]
        ));
    }

    #[test]
    fn a_vnc_session_is_a_byte_stream_and_browser_framing_has_no_frames() {
        let mut s = ConsoleSession::new(Protocol::Raw, Framing::Messages, MonoTime::ZERO);
        assert!(s.is_open());
        assert_eq!(s.poll_timeout(), None);
        s.handle_message(b"RFB 003.008\n");
        assert_eq!(
            drain(&mut s),
            [ConsoleEvent::Output(b"RFB 003.008\n".to_vec())]
        );
        s.send(b"RFB 003.008\n", MonoTime::ZERO).unwrap();
        assert_eq!(s.poll_transmit().unwrap(), b"RFB 003.008\n");
        s.handle_close(Some(1006), "");
        assert!(s.is_closed());
    }

    #[test]
    fn nothing_is_read_after_the_session_failed() {
        let mut s = terminal();
        s.poll_transmit().unwrap();
        // Not `OK`, then a control frame that breaks the protocol, in one read.
        s.handle_bytes(&[0x82, 1, 0, 0x89, 0x7e, 0, 0]);
        assert!(matches!(
            &drain(&mut s)[..],
            [ConsoleEvent::Failed(ConsoleError::NotOk(_))]
        ));
        s.handle_eof();
        assert!(drain(&mut s).is_empty());
    }

    #[test]
    fn the_ticket_is_never_printed() {
        let s = terminal();
        assert!(!format!("{s:?}").contains("PVEVNC"));
    }
}
