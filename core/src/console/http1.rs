//! The upgrade request and its answer as HTTP/1.1 bytes, for an adapter that performs the
//! upgrade on a connection of its own (its HTTP stack cannot hand an upgraded connection
//! over): the request head written from the `http::Request` the flow built, and the answer's
//! head read from the first bytes, with what follows it left for the WebSocket.
//!
//! ```
//! use proxmox_proto::console::http1::{ResponseHead, request_head};
//! let req = http::Request::get("https://pve1:8006/api2/json/nodes/pve1/vncwebsocket?port=5900")
//!     .header("upgrade", "websocket")
//!     .body(())
//!     .unwrap();
//! let head = request_head(&req);
//! assert!(head.starts_with(b"GET /api2/json/nodes/pve1/vncwebsocket?port=5900 HTTP/1.1\r\nhost: pve1:8006\r\n"));
//! let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x82\x02OK";
//! let (head, used) = ResponseHead::parse(answer).unwrap().unwrap();
//! assert_eq!((head.status, head.reason.as_deref()), (101, Some("Switching Protocols")));
//! assert_eq!(&answer[used..], b"\x82\x02OK", "the first frame stays for the session");
//! ```

use http::{HeaderMap, HeaderName, HeaderValue};

/// The largest response head accepted (pveproxy's own limit for request heads is 8 KiB).
pub const MAX_HEAD: usize = 16 * 1024;

/// `request`'s head: request line, `Host` (from the URL when the request has none), the
/// headers, the empty line. The upgrade has no body.
pub fn request_head<B>(request: &http::Request<B>) -> Vec<u8> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = format!("{} {target} HTTP/1.1\r\n", request.method()).into_bytes();
    if !request.headers().contains_key(http::header::HOST)
        && let Some(authority) = uri.authority()
    {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(authority.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in request.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// An answer's head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status.
    pub status: u16,
    /// The reason phrase (PVE puts its error message there).
    pub reason: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
}

/// Why bytes are not an HTTP/1.1 answer's head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer to the WebSocket upgrade is not HTTP/1.1: {0}")]
pub struct HeadError(&'static str);

impl ResponseHead {
    /// The head at the start of `buf` and how many bytes it took; `None` while it is not
    /// complete.
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, HeadError> {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return if buf.len() > MAX_HEAD {
                Err(HeadError("the head is larger than 16 KiB"))
            } else {
                Ok(None)
            };
        };
        if end > MAX_HEAD {
            return Err(HeadError("the head is larger than 16 KiB"));
        }
        let text = std::str::from_utf8(&buf[..end]).map_err(|_| HeadError("not text"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(HeadError("no HTTP/1.x status line"));
        }
        let status = parts
            .next()
            .filter(|s| s.len() == 3)
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or(HeadError("no status code"))?;
        let reason = parts
            .next()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        let mut headers = HeaderMap::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or(HeadError("a header without ':'"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| HeadError("a header name that is not a token"))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| HeadError("a header value with control characters"))?;
            headers.append(name, value);
        }
        Ok(Some((
            Self {
                status,
                reason,
                headers,
            },
            end + 4,
        )))
    }

    /// The body's length, when the answer gives one.
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_odd_and_oversized_heads() {
        assert!(
            ResponseHead::parse(b"HTTP/1.1 101 Switching")
                .unwrap()
                .is_none()
        );
        for bad in [
            &b"SSH-2.0-x\r\n\r\n"[..],
            b"HTTP/1.1 1x1 No\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nbad name: x\r\n\r\n",
        ] {
            assert!(ResponseHead::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ResponseHead::parse(&vec![b'a'; MAX_HEAD + 1]).is_err());
        let (h, _) = ResponseHead::parse(
            b"HTTP/1.1 401 permission denied - invalid PVEVNC ticket\r\ncontent-length: 13\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.status, 401);
        assert_eq!(h.content_length(), Some(13));
        assert_eq!(
            h.reason.as_deref(),
            Some("permission denied - invalid PVEVNC ticket")
        );
    }
}
