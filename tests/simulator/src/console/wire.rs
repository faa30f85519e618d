//! The WebSocket after the 101: pveproxy's rules for client frames, and tungstenite for the
//! rest (unmasking, ping/pong, the close handshake, writing frames).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Bytes, Message, WebSocket};

use crate::http::Transport;
use crate::state::Shared;

/// pveproxy's `$max_payload_size` (pve-http-server `AnyEvent.pm` `websocket_proxy`): client
/// frames above 128 KiB are refused from their header.
pub(crate) const MAX_PAYLOAD: usize = 128 * 1024;

/// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)), as pveproxy computes it.
pub(crate) fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    crate::util::base64(&h.finalize(), true)
}

/// Watches the client's bytes for what pveproxy's `hdlreader` dies on, before tungstenite
/// parses them, so that the session ends with pveproxy's own message. Tungstenite would refuse
/// most of them too, but accepts fragmented messages, which pveproxy does not.
#[derive(Debug)]
pub(crate) struct Guard<S> {
    inner: S,
    /// The frame header read so far (at most 14 bytes).
    hdr: Vec<u8>,
    /// Payload bytes of the current frame still to come.
    left: u64,
    /// pveproxy's message, once a frame broke its rules.
    violation: Option<String>,
}

impl<S> Guard<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            hdr: Vec::with_capacity(14),
            left: 0,
            violation: None,
        }
    }

    pub(crate) fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    pub(crate) fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Follow `data` through the frames; returns how many of its bytes come before a frame
    /// that breaks the rules (all of them when none does).
    pub(crate) fn scan(&mut self, data: &[u8]) -> usize {
        let mut i = 0;
        // Where the current frame's header started in `data` (0 if in an earlier read).
        let mut frame_start = 0;
        while i < data.len() {
            if self.violation.is_some() {
                return frame_start;
            }
            if self.left > 0 {
                let n = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(data.len() - i);
                self.left -= n as u64;
                i += n;
                continue;
            }
            if self.hdr.is_empty() {
                frame_start = i;
            }
            self.hdr.push(data.get(i).copied().unwrap_or(0));
            i += 1;
            self.check_header();
        }
        if self.violation.is_some() {
            frame_start
        } else {
            data.len()
        }
    }

    /// The checks of `AnyEvent.pm` `hdlreader`, in its order.
    fn check_header(&mut self) {
        let (Some(&b0), Some(&b1)) = (self.hdr.first(), self.hdr.get(1)) else {
            return;
        };
        if b0 & 0x80 == 0 {
            self.violation = Some("received fragmented websocket frame".to_owned());
            return;
        }
        if b0 & 0x70 != 0 {
            self.violation = Some("received websocket frame with RSV flags".to_owned());
            return;
        }
        if b1 & 0x80 == 0 {
            self.violation = Some("received unmasked websocket frame from client".to_owned());
            return;
        }
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        if self.hdr.len() < 2 + ext + 4 {
            return;
        }
        let len = match ext {
            0 => u64::from(b1 & 0x7f),
            _ => self
                .hdr
                .get(2..2 + ext)
                .unwrap_or_default()
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        };
        if len > MAX_PAYLOAD as u64 {
            self.violation = Some(format!("received too large websocket frame (len = {len})"));
            return;
        }
        let opcode = b0 & 0x0f;
        if !matches!(opcode, 1 | 2 | 8 | 9 | 10) {
            self.violation = Some(format!("received unhandled websocket opcode {opcode}"));
            return;
        }
        self.left = len;
        self.hdr.clear();
    }
}

impl<S: Read> Read for Guard<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(v) = &self.violation {
            return Err(io::Error::new(io::ErrorKind::InvalidData, v.clone()));
        }
        let n = self.inner.read(buf)?;
        let ok = self.scan(buf.get(..n).unwrap_or_default());
        if ok == 0
            && n > 0
            && let Some(v) = &self.violation
        {
            return Err(io::Error::new(io::ErrorKind::InvalidData, v.clone()));
        }
        Ok(ok)
    }
}

impl<S: Write> Write for Guard<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What the client did.
#[derive(Debug)]
pub(crate) enum Event {
    /// Payload of a binary or text frame: bytes of the stream pveproxy passes on.
    Data(Vec<u8>),
    /// A close frame (already answered).
    Close(Option<u16>),
    /// The connection ended without a close frame.
    Gone,
    /// A frame pveproxy dies on.
    Violation(String),
    /// Nothing yet (read timeout), or a ping/pong.
    Idle,
}

/// The server side of one console WebSocket.
pub(crate) struct WsIo<'a> {
    ws: WebSocket<Guard<&'a mut Box<dyn Transport>>>,
}

impl<'a> WsIo<'a> {
    /// Take over the connection after the 101, with the bytes already read past the request.
    pub(crate) fn new(t: &'a mut Box<dyn Transport>, mut leftover: Vec<u8>) -> Self {
        let mut guard = Guard::new(t);
        let ok = guard.scan(&leftover);
        leftover.truncate(ok);
        let config = WebSocketConfig::default()
            .max_frame_size(Some(MAX_PAYLOAD))
            .max_message_size(Some(MAX_PAYLOAD));
        let ws = WebSocket::from_partially_read(guard, leftover, Role::Server, Some(config));
        Self { ws }
    }

    /// Wait (one read timeout at most) for what the client does next.
    pub(crate) fn next(&mut self) -> Event {
        use tungstenite::Error as E;
        use tungstenite::error::ProtocolError as P;
        match self.ws.read() {
            Ok(Message::Binary(b)) => Event::Data(b.to_vec()),
            Ok(Message::Text(t)) => Event::Data(t.as_bytes().to_vec()),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => Event::Idle,
            Ok(Message::Close(frame)) => {
                // Tungstenite queued the answer; send it now.
                let _ = self.ws.flush();
                Event::Close(frame.map(|f| u16::from(f.code)))
            }
            Err(E::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Event::Idle
            }
            Err(_) if self.ws.get_ref().violation().is_some() => {
                Event::Violation(self.ws.get_ref().violation().unwrap_or_default().to_owned())
            }
            Err(
                E::ConnectionClosed
                | E::AlreadyClosed
                | E::Io(_)
                | E::Protocol(P::ResetWithoutClosingHandshake),
            ) => Event::Gone,
            Err(e) => Event::Violation(e.to_string()),
        }
    }

    /// One binary frame, sent now.
    pub(crate) fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.send_buffered(data)?;
        self.flush()
    }

    /// One binary frame, written when the buffer fills or on [`WsIo::flush`].
    pub(crate) fn send_buffered(&mut self, data: &[u8]) -> io::Result<()> {
        self.ws
            .write(Message::Binary(Bytes::copy_from_slice(data)))
            .map_err(io::Error::other)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.ws.flush().map_err(io::Error::other)
    }

    /// Close frame 1000, then wait (up to `wait`) for the client's close frame.
    pub(crate) fn close_normal(&mut self, wait: Duration) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        if self.ws.close(Some(frame)).is_err() {
            return;
        }
        let end = Instant::now() + wait;
        while Instant::now() < end {
            match self.next() {
                Event::Idle | Event::Data(_) => {}
                _ => return,
            }
        }
    }

    /// A frame header announcing 64 MiB, then 4 bytes of it; the connection then stays open
    /// (reading and dropping what comes) until the client hangs up or `wait` passes.
    pub(crate) fn oversize(&mut self, shared: &Shared, wait: Duration) {
        if self.flush().is_err() {
            return;
        }
        let mut frame = vec![0x82, 127];
        frame.extend_from_slice(&(64u64 << 20).to_be_bytes());
        frame.extend_from_slice(b"xxxx");
        let t = self.ws.get_mut().inner_mut();
        if t.write_all(&frame).and_then(|()| t.flush()).is_err() {
            return;
        }
        let end = Instant::now() + wait;
        let mut sink = [0u8; 4096];
        while Instant::now() < end && !shared.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            match t.read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc6455() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    /// A masked frame header (client to server).
    fn masked(b0: u8, len: usize) -> Vec<u8> {
        let mut v = vec![b0];
        if len < 126 {
            v.push(0x80 | len as u8);
        } else if len <= 0xffff {
            v.push(0x80 | 126);
            v.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            v.push(0x80 | 127);
            v.extend_from_slice(&(len as u64).to_be_bytes());
        }
        v.extend_from_slice(&[1, 2, 3, 4]);
        v.extend(std::iter::repeat_n(b'a', len.min(200_000)));
        v
    }

    #[test]
    fn guard_follows_frames_across_reads() {
        let mut g = Guard::new(());
        let mut data = masked(0x82, 5);
        data.extend(masked(0x89, 0));
        data.extend(masked(0x82, 300));
        // Byte by byte: every byte passes.
        for b in &data {
            assert_eq!(g.scan(std::slice::from_ref(b)), 1);
        }
        assert!(g.violation().is_none());
    }

    #[test]
    fn guard_stops_before_a_bad_frame() {
        for (b0, len, msg) in [
            (0x02, 5, "received fragmented websocket frame"),
            (0xc2, 5, "received websocket frame with RSV flags"),
            (0x83, 5, "received unhandled websocket opcode 3"),
            (
                0x82,
                MAX_PAYLOAD + 1,
                "received too large websocket frame (len = 131073)",
            ),
        ] {
            let mut g = Guard::new(());
            let good = masked(0x82, 3);
            let mut data = good.clone();
            data.extend(masked(b0, len));
            assert_eq!(g.scan(&data), good.len(), "{msg}");
            assert_eq!(g.violation(), Some(msg));
        }
        // Exactly 128 KiB is allowed.
        let mut g = Guard::new(());
        g.scan(&masked(0x82, MAX_PAYLOAD));
        assert!(g.violation().is_none());
        // Unmasked.
        let mut g = Guard::new(());
        assert_eq!(g.scan(&[0x82, 0x01, b'a']), 0);
        assert_eq!(
            g.violation(),
            Some("received unmasked websocket frame from client")
        );
    }
}
