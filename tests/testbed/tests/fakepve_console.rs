//! proxmox-ureq's VNC console against fakepve 0.5.0's RFB server (a real peer we did not write).
//!
//! What fakepve does (`fakepve/server.py`, `_vncproxy`, `_take_vnc_ticket`, `_vncwebsocket`,
//! `_rfb`):
//!
//! * `POST …/qemu/{vmid}/vncproxy` with `websocket=1` answers `user`, `ticket` (`PVEVNC:` and 16
//!   hex digits), `port` `"5900"` and `upid`; a `password` only when `generate-password=1` was
//!   asked for, as PVE does. proxmox-ureq does not ask, so `Console::password()` is the
//!   ticket (VNC authentication uses its first 8 bytes), as PVE's noVNC client does.
//! * `GET …/vncwebsocket?port=…&vncticket=…` authenticates like every other path (the
//!   `PVEAPIToken` header or the `PVEAuthCookie` cookie), then takes the ticket: it must be the
//!   last one issued for the VM, to the same user or token, at most 40 s old, and it serves one
//!   connection. The subprotocol is `binary`.
//! * The RFB server: version 3.8, one security type (2, VNC authentication), `SecurityResult`,
//!   then `ClientInit`/`ServerInit` (the VM's name, a 4x2 screen), and after `SetPixelFormat`,
//!   `SetEncodings` and `FramebufferUpdateRequest` a `Bell` and one raw `FramebufferUpdate` of two
//!   rectangles (the second one's pixels in a WebSocket frame of their own), 32-bit pixels
//!   `b, g, r, 0`.
//!
//! Under `CI=true` a missing fakepve fails this test; elsewhere it prints SKIPPED.

use proxmox_testbed::{FakePve, require_peer};
use proxmox_ureq::{Client, Console, ConsoleTarget};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_vnc_console_through_proxmox_ureq_does_the_whole_rfb_handshake_with_fakepve() {
    let Some(mut pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let host = format!("127.0.0.1:{}", pve.port());
    let builder = || {
        Client::builder(&host)
            .ca_pem(pve.ca_pem().as_bytes())
            .timeout(WAIT)
    };
    // Both of fakepve's logins: the token goes on the upgrade as `Authorization`, the ticket as
    // the `PVEAuthCookie` cookie; the console ticket is for the token or the user.
    let logins = [
        (
            "API token",
            builder().api_token(FakePve::TOKEN_ID, FakePve::TOKEN_SECRET),
            FakePve::TOKEN_ID,
        ),
        (
            "password",
            builder().password(FakePve::ROOT_USER, FakePve::ROOT_PASSWORD),
            FakePve::ROOT_USER,
        ),
    ];
    for (login, builder, user) in logins {
        let client = builder
            .build()
            .unwrap_or_else(|e| panic!("{login}: the client builds: {e}"));
        rfb_session(&client, login, user);
    }
    let seen = pve.requests().expect("request log");
    let console: Vec<(&str, &str)> = seen
        .iter()
        .filter(|(_, p)| p.contains("/vnc"))
        .map(|(m, p)| (m.as_str(), p.as_str()))
        .collect();
    let proxy = ("POST", "/api2/json/nodes/pve1/qemu/100/vncproxy");
    let socket = ("GET", "/api2/json/nodes/pve1/qemu/100/vncwebsocket");
    assert_eq!(console, [proxy, socket, proxy, socket], "{seen:?}");
}

/// One VNC session on VM 100 (`web1`): open, RFB 3.8, VNC authentication with the ticket,
/// `ServerInit`, one framebuffer update, close.
fn rfb_session(client: &Client, login: &str, user: &str) {
    let vnc = client
        .console(ConsoleTarget::Qemu {
            node: FakePve::NODE.into(),
            vmid: 100,
        })
        .vnc()
        .build()
        .unwrap_or_else(|e| panic!("{login}: the VNC console opens: {e}"));
    let ticket = vnc.ticket();
    assert_eq!(ticket.user, user, "{login}");
    assert_eq!(ticket.port, 5900, "{login}");
    assert!(
        ticket
            .upid
            .as_deref()
            .is_some_and(|u| u.contains(":vncproxy:100:")),
        "{login}: {ticket:?}"
    );
    // No `generate-password`, so no `password` in the answer: the RFB password is the
    // ticket, and the console says so.
    assert!(ticket.password.is_none(), "{login}");
    let secret = ticket.ticket.expose().to_owned();
    assert_eq!(
        vnc.password().map(|p| p.expose()),
        Some(secret.as_str()),
        "{login}"
    );
    assert!(secret.starts_with("PVEVNC:"), "{login}");
    assert!(!format!("{vnc:?}").contains(&secret), "{login}");

    let mut rfb = Rfb {
        vnc: &vnc,
        got: Vec::new(),
        login,
    };
    assert_eq!(rfb.take(12, "ProtocolVersion"), b"RFB 003.008\n");
    rfb.send(b"RFB 003.008\n");
    let n = rfb.take(1, "number of security types")[0];
    assert_eq!(
        rfb.take(usize::from(n), "security types"),
        [2],
        "{login}: VNC authentication alone"
    );
    rfb.send(&[2]);
    let challenge: [u8; 16] = rfb.take(16, "VNC challenge").try_into().unwrap();
    rfb.send(&vnc_response(secret.as_bytes(), &challenge));
    assert_eq!(
        rfb.take(4, "SecurityResult"),
        [0, 0, 0, 0],
        "{login}: SecurityResult OK"
    );
    // ClientInit (shared), then ServerInit: 4x2, 16-bit true colour, the VM's name.
    rfb.send(&[1]);
    let init = rfb.take(24, "ServerInit");
    assert_eq!(
        (be16(&init[0..]), be16(&init[2..])),
        (4, 2),
        "{login}: size"
    );
    assert_eq!(
        &init[4..8],
        [16, 16, 0, 1],
        "{login}: bpp, depth, big-endian, true colour"
    );
    let name_len = u32::from_be_bytes(init[20..24].try_into().unwrap());
    assert_eq!(rfb.take(name_len as usize, "desktop name"), b"web1");
    // SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, 8 bits each at 16, 8, 0.
    rfb.send(&[
        0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0,
    ]);
    // SetEncodings: raw.
    rfb.send(&[2, 0, 0, 1, 0, 0, 0, 0]);
    // FramebufferUpdateRequest: not incremental, the whole 4x2 screen.
    rfb.send(&[3, 0, 0, 0, 0, 0, 0, 4, 0, 2]);
    let mut screen = vec![0u8; 4 * 2 * 4];
    loop {
        match rfb.take(1, "server message type")[0] {
            // Bell.
            2 => continue,
            // FramebufferUpdate.
            0 => break,
            other => panic!("{login}: unexpected server message type {other}"),
        }
    }
    let rects = be16(&rfb.take(3, "FramebufferUpdate header")[1..]);
    let mut covered = 0;
    for _ in 0..rects {
        let r = rfb.take(12, "rectangle header");
        let (x, y, w, h) = (
            usize::from(be16(&r[0..])),
            usize::from(be16(&r[2..])),
            usize::from(be16(&r[4..])),
            usize::from(be16(&r[6..])),
        );
        assert_eq!(&r[8..12], [0, 0, 0, 0], "{login}: raw encoding");
        assert!(x + w <= 4 && y + h <= 2, "{login}: {x},{y} {w}x{h}");
        let pixels = rfb.take(w * h * 4, "raw pixels");
        for row in 0..h {
            let at = ((y + row) * 4 + x) * 4;
            screen[at..at + w * 4].copy_from_slice(&pixels[row * w * 4..(row + 1) * w * 4]);
        }
        covered += w * h;
    }
    assert_eq!(covered, 8, "{login}: the update covers the screen");
    // fakepve's screen: pixel i has red 3i, green 3i+1, blue 3i+2.
    let want: Vec<u8> = (0u8..8)
        .flat_map(|i| [3 * i + 2, 3 * i + 1, 3 * i, 0])
        .collect();
    assert_eq!(screen, want, "{login}: the framebuffer");
    vnc.close()
        .unwrap_or_else(|e| panic!("{login}: close: {e}"));
    assert!(vnc.is_closed(), "{login}");
}

/// The RFB byte stream over [`Console::recv`] with a timeout (a peer that stops talking fails
/// the test instead of hanging it), whatever the WebSocket frames' boundaries.
struct Rfb<'a> {
    vnc: &'a Console,
    got: Vec<u8>,
    login: &'a str,
}

impl Rfb<'_> {
    fn take(&mut self, n: usize, what: &str) -> Vec<u8> {
        while self.got.len() < n {
            match self.vnc.recv(Some(WAIT)) {
                Ok(Some(bytes)) => self.got.extend_from_slice(&bytes),
                Ok(None) => panic!(
                    "{}: the console closed before the {what} ({n} bytes; have {:?})",
                    self.login, self.got
                ),
                Err(e) => panic!("{}: reading the {what}: {e}", self.login),
            }
        }
        self.got.drain(..n).collect()
    }

    fn send(&self, bytes: &[u8]) {
        self.vnc
            .send(bytes)
            .unwrap_or_else(|e| panic!("{}: send: {e}", self.login));
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// VNC authentication's response: the challenge encrypted with DES under the password's first
/// 8 bytes (zero-padded), each key byte's bits reversed (RFB 3.8 §7.2.2).
fn vnc_response(password: &[u8], challenge: &[u8; 16]) -> [u8; 16] {
    use des::cipher::{BlockEncrypt, KeyInit};
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password) {
        *k = p.reverse_bits();
    }
    let cipher = des::Des::new_from_slice(&key).expect("an 8-byte key");
    let mut out = *challenge;
    for block in out.chunks_mut(8) {
        cipher.encrypt_block(block.into());
    }
    out
}
