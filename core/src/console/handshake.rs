//! The WebSocket opening handshake (RFC 6455 §4), the client's side: the headers of the
//! upgrade request (the key's 16 bytes come in as an argument) and the check of the server's
//! answer — 101, `Upgrade: websocket`, `Connection: upgrade`, and the `Sec-WebSocket-Accept`
//! the key calls for.
//!
//! ```
//! use proxmox_proto::console::handshake::Upgrade;
//! // RFC 6455 §1.3's example key.
//! let key = *b"the sample nonce";
//! let up = Upgrade::new(key);
//! assert_eq!(up.key(), "dGhlIHNhbXBsZSBub25jZQ==");
//! assert_eq!(up.expected_accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//! let mut answer = http::HeaderMap::new();
//! answer.insert("upgrade", "websocket".parse().unwrap());
//! answer.insert("connection", "Upgrade".parse().unwrap());
//! answer.insert("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".parse().unwrap());
//! assert!(up.check(101, &answer).is_ok());
//! assert!(up.check(401, &answer).is_err());
//! ```

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use sha1::{Digest, Sha1};

/// The GUID every accept key is derived with (§1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The subprotocol a Proxmox console asks for (the web client's choice; pveproxy echoes it).
pub const SUBPROTOCOL: &str = "binary";

/// One opening handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    key: String,
}

/// Why the server did not switch to WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// It answered with another status (401: the session or the vncticket was refused).
    #[error("the server answered the WebSocket upgrade with {status} instead of 101{hint}")]
    Status {
        /// The status.
        status: u16,
        /// What it likely means.
        hint: &'static str,
    },
    /// It switched, but not as RFC 6455 says.
    #[error("the server's WebSocket upgrade is not valid: {0}")]
    Invalid(&'static str),
}

impl Upgrade {
    /// A handshake with this key (16 random bytes: the adapter draws them).
    pub fn new(key: [u8; 16]) -> Self {
        Self { key: base64(&key) }
    }

    /// The `Sec-WebSocket-Key` value.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `Sec-WebSocket-Accept` the server must answer with.
    pub fn expected_accept(&self) -> String {
        let mut h = Sha1::new();
        h.update(self.key.as_bytes());
        h.update(GUID);
        base64(&h.finalize())
    }

    /// The headers that make a GET an upgrade request (besides the auth headers and `Host`,
    /// which the request builder adds).
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let v = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
        vec![
            (
                http::header::CONNECTION,
                HeaderValue::from_static("Upgrade"),
            ),
            (http::header::UPGRADE, HeaderValue::from_static("websocket")),
            (
                http::header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            ),
            (http::header::SEC_WEBSOCKET_KEY, v(&self.key)),
            (
                http::header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(SUBPROTOCOL),
            ),
        ]
    }

    /// Check the server's answer to the upgrade request.
    pub fn check(&self, status: u16, headers: &HeaderMap) -> Result<(), HandshakeError> {
        if status != 101 {
            return Err(HandshakeError::Status {
                status,
                hint: match status {
                    401 => {
                        " (the session, or the console ticket, was refused: console tickets \
                         live about 40 s and belong to the node that issued them)"
                    }
                    403 => " (the user may not open this console)",
                    595..=599 => " (the node could not be reached)",
                    _ => "",
                },
            });
        }
        let has = |name: HeaderName, token: &str| {
            headers.get_all(name).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            })
        };
        if !has(http::header::UPGRADE, "websocket") {
            return Err(HandshakeError::Invalid("no Upgrade: websocket"));
        }
        if !has(http::header::CONNECTION, "upgrade") {
            return Err(HandshakeError::Invalid("no Connection: upgrade"));
        }
        let accept = headers
            .get(http::header::SEC_WEBSOCKET_ACCEPT)
            .and_then(|v| v.to_str().ok());
        if accept != Some(self.expected_accept().as_str()) {
            return Err(HandshakeError::Invalid(
                "Sec-WebSocket-Accept does not match the key",
            ));
        }
        if let Some(p) = headers.get(http::header::SEC_WEBSOCKET_PROTOCOL)
            && p.to_str().ok().map(str::trim) != Some(SUBPROTOCOL)
        {
            return Err(HandshakeError::Invalid(
                "the server chose a subprotocol that was not asked for",
            ));
        }
        if headers.contains_key(http::header::SEC_WEBSOCKET_EXTENSIONS) {
            return Err(HandshakeError::Invalid(
                "the server chose an extension that was not asked for",
            ));
        }
        Ok(())
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn a_bad_answer_is_named() {
        let up = Upgrade::new([7; 16]);
        let mut h = HeaderMap::new();
        h.insert("upgrade", "websocket".parse().unwrap());
        h.insert("connection", "keep-alive, Upgrade".parse().unwrap());
        h.insert(
            "sec-websocket-accept",
            up.expected_accept().parse().unwrap(),
        );
        assert_eq!(up.check(101, &h), Ok(()));
        let e = up.check(401, &h).unwrap_err().to_string();
        assert!(e.contains("401") && e.contains("ticket"), "{e}");
        let mut wrong = h.clone();
        wrong.insert("sec-websocket-accept", "AAAA".parse().unwrap());
        assert!(up.check(101, &wrong).is_err());
        let mut other = h.clone();
        other.insert("sec-websocket-protocol", "chat".parse().unwrap());
        assert!(up.check(101, &other).is_err());
        let mut no_upgrade = h.clone();
        no_upgrade.remove("upgrade");
        assert!(up.check(101, &no_upgrade).is_err());
        let names: Vec<String> = up.headers().iter().map(|(n, _)| n.to_string()).collect();
        assert!(names.contains(&"sec-websocket-key".to_owned()), "{names:?}");
    }
}
