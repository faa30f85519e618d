//! The termproxy protocol on top of the WebSocket (pve-xtermjs `termproxy/src/main.rs` and
//! `xterm.js/src/main.js`):
//!
//! * the client's first bytes are `<user>:<ticket>\n`, the `user` and `ticket` of the
//!   `termproxy` call's answer (not the login ticket);
//! * termproxy answers `OK`, then the terminal's bytes, split anywhere (`OK` may share a
//!   frame with the first output); on a refused ticket it closes without a word;
//! * the client sends a byte stream (pveproxy strips the WebSocket framing):
//!   `0:<len>:<data>` input, `len` in bytes; `1:<cols>:<rows>:` a resize; `2` a keepalive
//!   (the web client sends one every 30 s).
//!
//! ```
//! use proxmox_proto::console::termproxy::{Output, OutputDecoder, input, resize};
//! assert_eq!(input("ls -l\n".as_bytes()), b"0:6:ls -l\n");
//! assert_eq!(input("é".as_bytes()), "0:2:é".as_bytes());
//! assert_eq!(resize(80, 24), b"1:80:24:");
//! let mut d = OutputDecoder::new();
//! assert_eq!(d.feed(b"O"), Ok(Output::default()));
//! let out = d.feed(b"Kroot@pve1:~# ").unwrap();
//! assert!(out.logged_in);
//! assert_eq!(out.bytes, b"root@pve1:~# ");
//! ```

use crate::auth::Secret;
use std::fmt;

/// How often the web client sends a keepalive (pve-xtermjs `xterm.js/src/main.js`).
pub const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The keepalive message.
pub const KEEPALIVE: &[u8] = b"2";

/// The login line: `<user>:<ticket>\n`. It carries the console ticket: send it, never print
/// it.
pub fn login_line(user: &str, ticket: &Secret) -> Secret {
    Secret::new(format!("{user}:{}\n", ticket.expose()))
}

/// Terminal input: `0:<len>:<data>`, `len` in bytes.
pub fn input(data: &[u8]) -> Vec<u8> {
    let mut out = format!("0:{}:", data.len()).into_bytes();
    out.extend_from_slice(data);
    out
}

/// A resize: `1:<cols>:<rows>:`.
pub fn resize(cols: u16, rows: u16) -> Vec<u8> {
    format!("1:{cols}:{rows}:").into_bytes()
}

/// What a chunk of the server's bytes gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The login was accepted with this chunk (`OK` arrived).
    pub logged_in: bool,
    /// Terminal output.
    pub bytes: Vec<u8>,
}

/// Why a console ended before its login was accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The server's first bytes were not `OK`.
    #[error("termproxy did not accept the login: it answered {0:?} instead of OK")]
    NotOk(String),
    /// The connection closed before `OK`.
    #[error(
        "termproxy closed the console without accepting the login: the console ticket was \
         refused (it lives about 40 s, and only on the node that issued it), or the server \
         does not allow API tokens on consoles (pve-manager before 9.0.13 for a node shell, \
         qemu-server before 9.1.7 or pve-container before 6.1.3 for a guest): log in with a \
         password, or upgrade the node"
    )]
    ClosedBeforeOk,
    /// The server refused the console for an API token (pve-manager before 9.0.13 answers a
    /// token's node `termproxy` with 500 "… does not look like a valid user name"; `vncshell`
    /// and `spiceshell` refuse tokens on every version).
    #[error(
        "this server version does not allow API tokens on consoles ({message}): log in with a \
         password, or upgrade the node (pve-manager 9.0.13 for a node shell, qemu-server \
         9.1.7 or pve-container 6.1.3 for a guest)"
    )]
    TokensNotAllowed {
        /// What the server said.
        message: String,
    },
    /// The WebSocket upgrade was refused or not valid.
    #[error(transparent)]
    Handshake(#[from] super::handshake::HandshakeError),
    /// The server's WebSocket frames broke the protocol or a limit.
    #[error(transparent)]
    WebSocket(#[from] super::frame::FrameError),
    /// The console is closed (or closing): nothing more can be sent.
    #[error("the console is closed")]
    NotOpen,
    /// The console ended before the output awaited appeared.
    #[error("the console ended before {needle:?} appeared in its output")]
    EndedBefore {
        /// What was awaited.
        needle: String,
    },
}

/// When `needle` is in `got`: the bytes up to and including it, taken out of `got` (what
/// follows stays). For scripted sessions: read until a prompt.
///
/// ```
/// use proxmox_proto::console::termproxy::split_after;
/// let mut got = b"login: root\r\n# ls".to_vec();
/// assert_eq!(split_after(&mut got, b"$ ").as_deref(), None);
/// assert_eq!(split_after(&mut got, b"\r\n").as_deref(), Some(&b"login: root\r\n"[..]));
/// assert_eq!(got, b"# ls");
/// ```
pub fn split_after(got: &mut Vec<u8>, needle: &[u8]) -> Option<Vec<u8>> {
    if needle.is_empty() {
        return Some(Vec::new());
    }
    let at = got.windows(needle.len()).position(|w| w == needle)?;
    let rest = got.split_off(at + needle.len());
    Some(std::mem::replace(got, rest))
}

/// Reads termproxy's bytes: the `OK` first (across chunks), then output.
#[derive(Clone, Default)]
pub struct OutputDecoder {
    /// `OK` has arrived.
    open: bool,
    /// Bytes of `OK` seen so far.
    seen: usize,
}

impl fmt::Debug for OutputDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputDecoder")
            .field("logged_in", &self.open)
            .finish()
    }
}

impl OutputDecoder {
    /// Before the login's answer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `OK` has arrived.
    pub fn logged_in(&self) -> bool {
        self.open
    }

    /// A chunk of the server's bytes (a WebSocket message's payload).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Output, ConsoleError> {
        let mut out = Output::default();
        if !self.open {
            while self.seen < 2 {
                let Some((&b, rest)) = bytes.split_first() else {
                    return Ok(out);
                };
                if b != b"OK"[self.seen] {
                    let mut said = b"OK"[..self.seen].to_vec();
                    said.extend(bytes.iter().take(64));
                    return Err(ConsoleError::NotOk(
                        String::from_utf8_lossy(&said).into_owned(),
                    ));
                }
                self.seen += 1;
                bytes = rest;
            }
            self.open = true;
            out.logged_in = true;
        }
        out.bytes = bytes.to_vec();
        Ok(out)
    }

    /// The connection closed: an error if `OK` never came.
    pub fn closed(&self) -> Result<(), ConsoleError> {
        if self.open {
            Ok(())
        } else {
            Err(ConsoleError::ClosedBeforeOk)
        }
    }
}

/// Terminal output as text: UTF-8 characters split between chunks are kept until whole;
/// bytes that are not UTF-8 become U+FFFD.
#[derive(Debug, Clone, Default)]
pub struct Utf8Joiner {
    tail: Vec<u8>,
}

impl Utf8Joiner {
    /// No bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text of `bytes` after what was held back; an incomplete last character is held.
    ///
    /// ```
    /// use proxmox_proto::console::termproxy::Utf8Joiner;
    /// let mut j = Utf8Joiner::new();
    /// let e = "é".as_bytes();
    /// assert_eq!(j.push(&[b'a', e[0]]), "a");
    /// assert_eq!(j.push(&[e[1], b'b']), "éb");
    /// ```
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.tail.extend_from_slice(bytes);
        let mut out = String::new();
        let mut rest: &[u8] = &self.tail;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, after) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &after[n..];
                        }
                        // An incomplete character at the end: keep it for the next chunk.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.tail = rest.to_vec();
        out
    }

    /// Whatever is held back, at the end of the stream (U+FFFD for an incomplete character).
    pub fn finish(&mut self) -> String {
        let t = std::mem::take(&mut self.tail);
        String::from_utf8_lossy(&t).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_split_anywhere_and_sharing_a_chunk_with_output() {
        let stream = b"OKwelcome\r\n$ ";
        for cut in 0..=stream.len() {
            let mut d = OutputDecoder::new();
            let a = d.feed(&stream[..cut]).unwrap();
            let b = d.feed(&stream[cut..]).unwrap();
            assert!(
                a.logged_in ^ b.logged_in || cut == 0 && b.logged_in,
                "cut {cut}"
            );
            assert_eq!([a.bytes, b.bytes].concat(), b"welcome\r\n$ ", "cut {cut}");
            assert!(d.closed().is_ok());
        }
    }

    #[test]
    fn a_refusal_is_named() {
        let mut d = OutputDecoder::new();
        assert!(d.feed(b"").unwrap() == Output::default());
        assert_eq!(d.closed(), Err(ConsoleError::ClosedBeforeOk));
        assert!(
            ConsoleError::ClosedBeforeOk
                .to_string()
                .contains("API tokens")
        );
        let e = d.feed(b"Oops").unwrap_err();
        assert!(e.to_string().contains("Oops"), "{e}");
    }

    #[test]
    fn the_login_line_is_a_secret() {
        let l = login_line("root@pam", &Secret::new("PVEVNC:abc".to_owned()));
        assert_eq!(l.expose(), "root@pam:PVEVNC:abc\n");
        assert!(!format!("{l:?}").contains("PVEVNC"));
    }

    #[test]
    fn utf8_split_and_broken() {
        let text = "ä€😀x";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut j = Utf8Joiner::new();
            let s = j.push(&bytes[..cut]) + &j.push(&bytes[cut..]) + &j.finish();
            assert_eq!(s, text, "cut {cut}");
        }
        let mut j = Utf8Joiner::new();
        assert_eq!(j.push(&[b'a', 0xFF, b'b']), "a\u{FFFD}b");
        assert_eq!(j.push(&[0xE2, 0x82]), "");
        assert_eq!(j.finish(), "\u{FFFD}");
    }
}
