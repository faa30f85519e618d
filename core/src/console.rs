//! Consoles (node shells, container and VM serial consoles) as values: the pieces a console
//! is made of, sans-IO, written here rather than taken from a crate that draws randomness or
//! does IO.
//!
//! * [`handshake`]: the WebSocket upgrade request's headers (the key comes in as an argument)
//!   and the check of the server's answer;
//! * [`http1`]: the upgrade as HTTP/1.1 bytes, for an adapter that performs it on its own
//!   connection;
//! * [`frame`]: WebSocket frames — an encoder with the masking key passed in, a decoder fed
//!   bytes as they arrive, with limits;
//! * [`termproxy`]: the Proxmox layer on top — the login line, `OK` across frames, input,
//!   resize and keepalive, output as text across split characters;
//! * [`ticket`]: the answer of `termproxy`/`vncshell`/`vncproxy` and the `vncwebsocket` call;
//! * [`spice`]: the `.vv` file from a `spiceproxy` answer.
//!
//! * [`session`]: an open console's state machine — bytes in, events and bytes out, the
//!   keepalive on a timer;
//! * the flow that opens one: [`crate::flow::OpenConsole`].
//!
//! How PVE opens a console (pve-manager `PVE/API2/Nodes.pm` `termproxy`/`vncwebsocket`,
//! qemu-server `src/PVE/API2/Qemu.pm`, pve-container `src/PVE/API2/LXC.pm`): `POST
//! …/termproxy` answers `user`, `ticket`, `port` and `upid`; termproxy listens on the node
//! that answered, so the WebSocket (`GET …/vncwebsocket?port=…&vncticket=…`, with the
//! session's normal auth) goes to that same node within 10 s; then the login line, `OK`, and
//! the terminal.
//!
//! A client's session, driven on canned bytes (what a simulator's termproxy answers):
//!
//! ```
//! use proxmox_proto::auth::Secret;
//! use proxmox_proto::console::frame::{Decoder, Message, Opcode, encode};
//! use proxmox_proto::console::termproxy::{OutputDecoder, input, login_line};
//! let ticket = Secret::new("PVEVNC:5F00AA::sig".to_owned());
//! // Client → server: the login line, then a command, each in a masked binary frame.
//! let mut sent = encode(Opcode::Binary, login_line("root@pam", &ticket).expose().as_bytes(), [1, 2, 3, 4]);
//! sent.extend(encode(Opcode::Binary, &input(b"uname\n"), [5, 6, 7, 8]));
//! assert!(!sent.windows(6).any(|w| w == b"PVEVNC"), "masked on the wire");
//! // Server → client: `OK` and output, split across frames.
//! let mut frames = Decoder::new(1 << 20);
//! frames.feed(&[0x82, 1, b'O', 0x82, 8, b'K', b'L', b'i', b'n', b'u', b'x', b'\r', b'\n']);
//! let mut term = OutputDecoder::new();
//! let mut screen = Vec::new();
//! while let Some(Message::Binary(chunk)) = frames.next_message().unwrap() {
//!     screen.extend(term.feed(&chunk).unwrap().bytes);
//! }
//! assert!(term.logged_in());
//! assert_eq!(screen, b"Linux\r\n");
//! ```

pub mod frame;
pub mod handshake;
pub mod http1;
pub mod session;
pub mod spice;
pub mod termproxy;
pub mod ticket;

pub use termproxy::ConsoleError;

/// What a console is opened with: every adapter's console builder holds one (its setters come
/// from [`crate::console_builder_methods!`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// A terminal (termproxy) or VNC.
    pub kind: crate::flow::ConsoleKind,
    /// The terminal's size, sent right after the login: (cols, rows).
    pub size: Option<(u16, u16)>,
    /// The keepalive's interval when not the default (`Some(None)`: never).
    pub keepalive: Option<Option<std::time::Duration>>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            kind: crate::flow::ConsoleKind::Terminal,
            size: None,
            keepalive: None,
        }
    }
}

/// What every adapter's open console knows besides its connection: the console call's
/// answer, whether it is VNC, and the WebSocket's request (which its errors name). The
/// accessors come from [`crate::console_info_methods!`].
#[derive(Debug, Clone)]
pub struct ConsoleInfo {
    /// The console call's answer (secrets hidden in `Debug`).
    pub ticket: ticket::ConsoleTicket,
    /// A VNC console.
    pub vnc: bool,
    /// The WebSocket's request.
    pub request: crate::RequestLabel,
}

impl ConsoleInfo {
    /// From the flow's output ([`crate::flow::OpenedConsole`]'s ticket and request) and the
    /// console's kind.
    pub fn new(
        ticket: ticket::ConsoleTicket,
        request: crate::RequestLabel,
        kind: crate::flow::ConsoleKind,
    ) -> Self {
        Self {
            ticket,
            vnc: kind == crate::flow::ConsoleKind::Vnc,
            request,
        }
    }

    /// The RFB password of a VNC console (`None` for a terminal): see
    /// [`ticket::ConsoleTicket::rfb_password`].
    pub fn password(&self) -> Option<&crate::auth::Secret> {
        self.vnc.then(|| self.ticket.rfb_password())
    }

    /// `e` as the error of this console (naming its request).
    pub fn error(&self, e: ConsoleError) -> crate::Error {
        crate::error::ConsoleFailure::new(self.request.clone(), e).into()
    }

    /// The error of a read that waited `waited` without output (see [`no_output_within`]).
    pub fn no_output_within(&self, waited: std::time::Duration) -> crate::Error {
        no_output_within(&self.request, waited)
    }
}

impl ConsoleSettings {
    /// Apply what concerns the open session (the keepalive).
    pub fn apply(&self, session: &mut session::ConsoleSession) {
        if let Some(every) = self.keepalive {
            session.set_keepalive(every);
        }
    }
}

/// The error of a console read that waited `waited` without output: a transport timeout
/// (its `is_timeout` is true); the console stays open.
pub fn no_output_within(
    request: &crate::RequestLabel,
    waited: std::time::Duration,
) -> crate::Error {
    let failure = crate::flow::TransportFailure::not_sent(format!(
        "no console output within {:.1} s",
        waited.as_secs_f64()
    ))
    .timed_out();
    crate::Error::Transport(Box::new(crate::error::TransportError::new(
        request.clone(),
        failure,
        1,
        waited,
    )))
}
