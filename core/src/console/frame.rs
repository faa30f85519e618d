//! WebSocket frames (RFC 6455 §5), the client's side: an encoder whose masking key comes in
//! as an argument (the core draws no randomness), and a decoder that takes bytes as they
//! arrive and yields whole messages, checking what a client must check — server frames are
//! not masked, reserved bits and opcodes are unused, control frames are short and whole, a
//! fragmented message is not interleaved with another — and refusing a frame larger than its
//! limit from its header, before the payload is read.
//!
//! ```
//! use proxmox_proto::console::frame::{Decoder, Message, Opcode, encode};
//! // What the client sends: masked.
//! let wire = encode(Opcode::Binary, b"0:2:ls", [1, 2, 3, 4]);
//! assert_eq!(wire[..2], [0x82, 0x80 | 6]);
//! // What the server sends: unmasked, maybe split anywhere.
//! let mut d = Decoder::new(1 << 20);
//! d.feed(&[0x82, 0x04, b'O', b'K']);
//! d.feed(&[b'h', b'i']);
//! assert_eq!(d.next_message().unwrap(), Some(Message::Binary(b"OKhi".to_vec())));
//! assert_eq!(d.next_message().unwrap(), None);
//! ```

use std::fmt;

/// Largest control frame payload (§5.5).
const MAX_CONTROL: usize = 125;

/// The largest frame a client should send to pveproxy: it drops the connection on a frame
/// over 128 KiB (pve-http-server `PVE/APIServer/AnyEvent.pm`, `websocket_proxy`).
pub const MAX_CLIENT_FRAME: usize = 128 * 1024;

/// A frame's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// The rest of a fragmented message.
    Continuation,
    /// UTF-8 text.
    Text,
    /// Bytes.
    Binary,
    /// The closing handshake.
    Close,
    /// A ping (answered with a pong carrying the same payload).
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    fn from_bits(b: u8) -> Option<Self> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// One whole frame, masked with `mask` as a client's frames are (§5.3): FIN set, no
/// extension bits. `payload` should stay within [`MAX_CLIENT_FRAME`] (and a control frame's
/// within 125 bytes); the caller splits longer data, a fresh mask per frame.
pub fn encode(opcode: Opcode, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode.bits());
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A close frame's payload: a status code and a reason (§5.5.1).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    // A control frame carries at most 125 bytes: the reason is cut at a character boundary.
    let mut end = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    p.extend_from_slice(&reason.as_bytes()[..end]);
    p
}

/// A whole message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Bytes (a termproxy's output, an RFB stream).
    Binary(Vec<u8>),
    /// Text (valid UTF-8).
    Text(String),
    /// A ping: answer with a pong with this payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// The server closes: its status code and reason, if it gave them.
    Close(Option<(u16, String)>),
}

/// Why the server's bytes are not a WebSocket stream a client may accept; the connection is
/// to be dropped (after a close frame with [`FrameError::close_code`], where there is one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame or message larger than the limit (refused from the header).
    #[error("the server sent a WebSocket {what} of {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// `frame` or `message`.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// Anything else RFC 6455 forbids a server to send.
    #[error("the server broke the WebSocket protocol: {0}")]
    Protocol(&'static str),
}

impl FrameError {
    /// The close code to send before dropping the connection (§7.4.1): 1009 for a message
    /// too big, 1002 for a protocol error.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::TooLarge { .. } => 1009,
            FrameError::Protocol(_) => 1002,
        }
    }
}

/// Reads the server's frames from bytes fed as they arrive. See the module docs.
pub struct Decoder {
    buf: Vec<u8>,
    /// Where unread bytes start in `buf`.
    start: usize,
    /// A fragmented message being gathered: its first opcode and its bytes so far.
    partial: Option<(Opcode, Vec<u8>)>,
    limit: usize,
    /// A close frame was read, or an error: nothing more is read.
    done: bool,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("buffered", &(self.buf.len() - self.start))
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder that refuses frames and messages over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            partial: None,
            limit,
            done: false,
        }
    }

    /// Bytes from the server.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes fed and not yet read as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole message, `None` until more bytes are fed (or after the close frame).
    /// An error ends the stream: the decoder reads nothing more.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        if self.done {
            return Ok(None);
        }
        let r = self.next_inner();
        if matches!(r, Err(_) | Ok(Some(Message::Close(_)))) {
            self.done = true;
        }
        if self.start > 4096 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        r
    }

    fn next_inner(&mut self) -> Result<Option<Message>, FrameError> {
        loop {
            let Some((fin, opcode, payload)) = self.frame()? else {
                return Ok(None);
            };
            if opcode.is_control() {
                return control(opcode, payload).map(Some);
            }
            let (kind, mut data) = match (opcode, self.partial.take()) {
                (Opcode::Continuation, Some((kind, mut data))) => {
                    if data.len() + payload.len() > self.limit {
                        return Err(FrameError::TooLarge {
                            what: "message",
                            size: (data.len() + payload.len()) as u64,
                            limit: self.limit,
                        });
                    }
                    data.extend_from_slice(&payload);
                    (kind, data)
                }
                (Opcode::Continuation, None) => {
                    return Err(FrameError::Protocol(
                        "a continuation frame without a message to continue",
                    ));
                }
                (_, Some(_)) => {
                    return Err(FrameError::Protocol(
                        "a new message began before the fragmented one ended",
                    ));
                }
                (kind, None) => (kind, payload),
            };
            if !fin {
                self.partial = Some((kind, std::mem::take(&mut data)));
                continue;
            }
            return match kind {
                Opcode::Text => String::from_utf8(data)
                    .map(|s| Some(Message::Text(s)))
                    .map_err(|_| FrameError::Protocol("a text message that is not UTF-8")),
                _ => Ok(Some(Message::Binary(data))),
            };
        }
    }

    /// The next whole frame's FIN bit, opcode and payload, if all of it is buffered.
    fn frame(&mut self) -> Result<Option<(bool, Opcode, Vec<u8>)>, FrameError> {
        let b = &self.buf[self.start..];
        let (Some(&b0), Some(&b1)) = (b.first(), b.get(1)) else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(FrameError::Protocol(
                "reserved bits set, and no extension was agreed",
            ));
        }
        let opcode =
            Opcode::from_bits(b0 & 0x0F).ok_or(FrameError::Protocol("a reserved opcode"))?;
        let fin = b0 & 0x80 != 0;
        if b1 & 0x80 != 0 {
            return Err(FrameError::Protocol("a masked frame from the server"));
        }
        let (len, head) = match b1 & 0x7F {
            126 => match b.get(2..4) {
                Some(x) => (u64::from(u16::from_be_bytes([x[0], x[1]])), 4),
                None => return Ok(None),
            },
            127 => match b.get(2..10) {
                Some(x) => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(x);
                    let len = u64::from_be_bytes(a);
                    if len >> 63 != 0 {
                        return Err(FrameError::Protocol("a frame length with its top bit set"));
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if opcode.is_control() && (!fin || len > MAX_CONTROL as u64) {
            return Err(FrameError::Protocol(
                "a control frame that is fragmented or longer than 125 bytes",
            ));
        }
        if len > self.limit as u64 {
            return Err(FrameError::TooLarge {
                what: "frame",
                size: len,
                limit: self.limit,
            });
        }
        // Within the limit, so it fits in usize.
        let len = len as usize;
        let Some(payload) = b.get(head..head + len) else {
            return Ok(None);
        };
        let payload = payload.to_vec();
        self.start += head + len;
        Ok(Some((fin, opcode, payload)))
    }
}

/// A control frame's message.
fn control(opcode: Opcode, payload: Vec<u8>) -> Result<Message, FrameError> {
    Ok(match opcode {
        Opcode::Ping => Message::Ping(payload),
        Opcode::Pong => Message::Pong(payload),
        _ => match payload.len() {
            0 => Message::Close(None),
            1 => {
                return Err(FrameError::Protocol(
                    "a close frame with a one-byte payload",
                ));
            }
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                let reason = String::from_utf8(payload[2..].to_vec())
                    .map_err(|_| FrameError::Protocol("a close reason that is not UTF-8"))?;
                Message::Close(Some((code, reason)))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame (unmasked).
    fn server(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![if fin { 0x80 } else { 0 } | op];
        let len = payload.len();
        if len < 126 {
            v.push(len as u8);
        } else if len <= 0xFFFF {
            v.push(126);
            v.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            v.push(127);
            v.extend_from_slice(&(len as u64).to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    /// Unmask a client frame as a server does: (opcode, payload).
    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        assert_eq!(frame[0] & 0x80, 0x80, "FIN");
        assert_eq!(frame[1] & 0x80, 0x80, "masked");
        let (len, head) = match frame[1] & 0x7F {
            126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let mask = &frame[head..head + 4];
        let body = &frame[head + 4..];
        assert_eq!(body.len(), len);
        (
            frame[0] & 0x0F,
            body.iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect(),
        )
    }

    #[test]
    fn lengths_of_every_header_size_round_trip() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (op, back) = unmask(&encode(Opcode::Binary, &data, [9, 8, 7, 6]));
            assert_eq!((op, back.len()), (2, len));
            assert_eq!(back, data);
            let mut d = Decoder::new(1 << 20);
            d.feed(&server(true, 2, &data));
            assert_eq!(d.next_message().unwrap(), Some(Message::Binary(data)));
        }
    }

    #[test]
    fn bytes_split_anywhere_and_fragments_interleaved_with_pings() {
        let mut wire = server(false, 1, "héllo ".as_bytes());
        wire.extend(server(true, 9, b"are you there"));
        wire.extend(server(true, 0, "wörld".as_bytes()));
        wire.extend(server(true, 8, &close_payload(1000, "bye")));
        wire.extend(server(true, 2, b"after close"));
        for cut in 0..wire.len() {
            let mut d = Decoder::new(1024);
            let mut got = Vec::new();
            for part in [&wire[..cut], &wire[cut..]] {
                d.feed(part);
                while let Some(m) = d.next_message().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(
                got,
                [
                    Message::Ping(b"are you there".to_vec()),
                    Message::Text("héllo wörld".into()),
                    Message::Close(Some((1000, "bye".into()))),
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn what_a_server_must_not_send_is_refused() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (encode(Opcode::Binary, b"x", [1, 1, 1, 1]), "masked"),
            (vec![0xC2, 0x00], "reserved bits"),
            (vec![0x83, 0x00], "reserved opcode"),
            (server(false, 9, b"p"), "control frame"),
            (server(true, 9, &[0; 126]), "control frame"),
            (server(true, 0, b"x"), "continuation"),
            (server(true, 8, b"x"), "one-byte"),
            (server(true, 1, &[0xFF]), "UTF-8"),
            (
                [server(false, 2, b"a"), server(true, 2, b"b")].concat(),
                "new message",
            ),
            (vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], "top bit"),
        ];
        for (wire, want) in cases {
            let mut d = Decoder::new(1024);
            d.feed(&wire);
            let e = loop {
                match d.next_message() {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("{want}: accepted"),
                    Err(e) => break e,
                }
            };
            assert!(e.to_string().contains(want), "{want}: {e}");
            assert_eq!(e.close_code(), 1002);
            assert_eq!(d.next_message(), Ok(None), "nothing read after an error");
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_from_its_header() {
        let mut d = Decoder::new(1000);
        // Only the header of a 1 GiB frame has arrived.
        d.feed(&[0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0]);
        let e = d.next_message().unwrap_err();
        assert!(
            matches!(e, FrameError::TooLarge { what: "frame", .. }),
            "{e}"
        );
        assert_eq!(e.close_code(), 1009);
        // Fragments that add up to too much.
        let mut d = Decoder::new(1000);
        d.feed(&server(false, 2, &[0; 600]));
        d.feed(&server(true, 0, &[0; 600]));
        assert!(matches!(
            d.next_message().unwrap_err(),
            FrameError::TooLarge {
                what: "message",
                ..
            }
        ));
    }

    #[test]
    fn a_long_close_reason_is_cut_at_a_character() {
        let p = close_payload(1000, &"é".repeat(100));
        assert!(p.len() <= 125);
        assert!(std::str::from_utf8(&p[2..]).is_ok());
    }
}
