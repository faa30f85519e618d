//! A small RFB server behind `vncshell`/`vncproxy` (RFC 6143), as vncterm and QEMU's VNC
//! server answer over pveproxy's WebSocket: version `RFB 003.008`, security type 2 (VNC
//! authentication) with the session's password, `SecurityResult`, and a `ServerInit` of
//! 640x480, 32 bits per pixel, named after the node or guest. Then it reads and drops the
//! client's messages until the client leaves.

use std::time::{Duration, Instant};

use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockEncrypt, KeyInit};

use super::wire::{Event, WsIo};
use super::{ConsoleEnd, Session, stopping, update};
use crate::state::Shared;
use crate::util::keyed_hash;

/// How long the handshake may take (vncterm and QEMU give up on silent clients too).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// QEMU's reason for a failed VNC authentication (RFB 3.8 sends a reason).
const AUTH_FAILED: &str = "Authentication failed";

/// VNC authentication (RFC 6143 §7.2.2): the challenge DES-encrypted with the password (up to
/// 8 bytes, zero-padded) as the key, each key byte's bits reversed.
pub(crate) fn auth_response(password: &[u8], challenge: &[u8; 16]) -> [u8; 16] {
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password) {
        *k = p.reverse_bits();
    }
    let cipher = des::Des::new(GenericArray::from_slice(&key));
    let mut out = *challenge;
    for block in out.chunks_exact_mut(8) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

/// The client's bytes, read across frames.
struct Reader {
    buf: Vec<u8>,
    deadline: Instant,
}

impl Reader {
    fn read(
        &mut self,
        shared: &Shared,
        io: &mut WsIo<'_>,
        n: usize,
    ) -> Result<Vec<u8>, ConsoleEnd> {
        while self.buf.len() < n {
            if Instant::now() >= self.deadline || stopping(shared) {
                return Err(ConsoleEnd::ClientGone);
            }
            match io.next() {
                Event::Data(d) => self.buf.extend_from_slice(&d),
                Event::Idle => {}
                Event::Close(code) => return Err(ConsoleEnd::ClientClose(code)),
                Event::Gone => return Err(ConsoleEnd::ClientGone),
                Event::Violation(m) => return Err(ConsoleEnd::ProtocolError(m)),
            }
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }
}

/// Serve the RFB handshake, then idle; how the session ended.
pub(super) fn run(shared: &Shared, io: &mut WsIo<'_>, s: &Session) -> ConsoleEnd {
    match handshake(shared, io, s) {
        Ok(rest) => idle(shared, io, s, rest),
        Err(end) => end,
    }
}

fn handshake(shared: &Shared, io: &mut WsIo<'_>, s: &Session) -> Result<usize, ConsoleEnd> {
    let gone = |_| ConsoleEnd::ClientGone;
    let mut r = Reader {
        buf: Vec::new(),
        deadline: Instant::now() + HANDSHAKE_TIMEOUT,
    };
    io.send(b"RFB 003.008\n").map_err(gone)?;
    let version = r.read(shared, io, 12)?;
    // `RFB 003.00x\n`: 3.8 and later speak 3.8, 3.7 is 3.7, anything else is 3.3 (RFC 6143
    // §7.1.1: servers treat unknown minor versions as 3.3).
    let minor = match version.get(..8) {
        Some(b"RFB 003.") => std::str::from_utf8(version.get(8..11).unwrap_or_default())
            .ok()
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(3),
        _ => return Err(ConsoleEnd::ClientGone),
    };
    let v38 = minor >= 8;
    if minor >= 7 {
        io.send(&[1, 2]).map_err(gone)?;
        let chosen = r.read(shared, io, 1)?;
        if chosen.first() != Some(&2) {
            let mut fail = 1u32.to_be_bytes().to_vec();
            if v38 {
                push_string(&mut fail, "Unsupported security type");
            }
            let _ = io.send(&fail);
            return Err(ConsoleEnd::VncAuthFailed);
        }
    } else {
        io.send(&2u32.to_be_bytes()).map_err(gone)?;
    }
    let challenge = challenge(shared, s);
    io.send(&challenge).map_err(gone)?;
    let response = r.read(shared, io, 16)?;
    // Without a generated password, the ticket is the VNC password (its first 8 bytes).
    let password = s.password.as_deref().unwrap_or(&s.ticket);
    let ok = auth_response(password.as_bytes(), &challenge)[..] == response[..];
    if !ok {
        let mut fail = 1u32.to_be_bytes().to_vec();
        if v38 {
            push_string(&mut fail, AUTH_FAILED);
        }
        let _ = io.send(&fail);
        return Err(ConsoleEnd::VncAuthFailed);
    }
    update(shared, s.id, |x| x.login_accepted = true);
    io.send(&0u32.to_be_bytes()).map_err(gone)?;
    // ClientInit (the shared flag), then ServerInit.
    r.read(shared, io, 1)?;
    let mut init = Vec::new();
    init.extend_from_slice(&640u16.to_be_bytes());
    init.extend_from_slice(&480u16.to_be_bytes());
    // PIXEL_FORMAT: 32 bpp, depth 24, little endian, true colour, 255/255/255, shifts 16/8/0.
    init.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    push_string(&mut init, &s.host);
    io.send(&init).map_err(gone)?;
    Ok(r.buf.len())
}

/// A `u32` length and the bytes of `s`.
fn push_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// 16 bytes that differ per session and call.
fn challenge(shared: &Shared, s: &Session) -> [u8; 16] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let h = keyed_hash(
        &shared.secret,
        &[b"vnc-challenge", &s.id.to_be_bytes(), &nanos.to_be_bytes()],
    );
    let mut c = [0u8; 16];
    c.copy_from_slice(h.get(..16).unwrap_or(&[0u8; 16]));
    c
}

/// After `ServerInit`: count and drop the client's messages until it leaves.
fn idle(shared: &Shared, io: &mut WsIo<'_>, s: &Session, already: usize) -> ConsoleEnd {
    if already > 0 {
        let n = already as u64;
        update(shared, s.id, |x| x.input_bytes += n);
    }
    loop {
        if stopping(shared) {
            return ConsoleEnd::ClientGone;
        }
        match io.next() {
            Event::Data(d) => {
                let n = d.len() as u64;
                update(shared, s.id, |x| x.input_bytes += n);
            }
            Event::Idle => {}
            Event::Close(code) => return ConsoleEnd::ClientClose(code),
            Event::Gone => return ConsoleEnd::ClientGone,
            Event::Violation(m) => return ConsoleEnd::ProtocolError(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn des_matches_the_classic_vector() {
        // FIPS 46 worked example: key 133457799BBCDFF1, 0123456789ABCDEF -> 85E813540F0AB405.
        // auth_response reverses the key's bits, so give it the reversed key.
        let key: Vec<u8> = [0x13, 0x34, 0x57, 0x79, 0x9B, 0xBC, 0xDF, 0xF1]
            .iter()
            .map(|b: &u8| b.reverse_bits())
            .collect();
        let mut challenge = [0u8; 16];
        challenge[..8].copy_from_slice(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
        challenge[8..].copy_from_slice(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
        let r = auth_response(&key, &challenge);
        assert_eq!(r[..8], [0x85, 0xE8, 0x13, 0x54, 0x0F, 0x0A, 0xB4, 0x05]);
        assert_eq!(r[8..], r[..8]);
    }

    #[test]
    fn long_passwords_are_cut_to_eight_bytes() {
        let c = [7u8; 16];
        assert_eq!(
            auth_response(b"abcdefghXYZ", &c),
            auth_response(b"abcdefgh", &c)
        );
        assert_ne!(
            auth_response(b"abcdefgh", &c),
            auth_response(b"abcdefgi", &c)
        );
    }
}
