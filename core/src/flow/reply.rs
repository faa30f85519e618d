//! What the adapter feeds back: one [`Reply`] per exchange.

use crate::tls::Fingerprint;
use std::fmt;

/// The outcome of one exchange.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An HTTP answer (any status).
    Http(HttpReply),
    /// A command's output.
    Shell(ShellReply),
    /// The exchange failed on the wire.
    Failed(TransportFailure),
}

/// An HTTP answer: status, the server's reason phrase, headers, the whole body (gzip already
/// decoded), and the SHA-256 fingerprint of the peer's certificate when the adapter can see it.
/// Its `Debug` shows the body's size and the header names only: a login answer carries the
/// ticket and the CSRF token.
#[derive(Clone, Default)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// The reason phrase as the server sent it (PVE puts its error message there); `None` when
    /// the HTTP stack does not keep it.
    pub reason: Option<String>,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The peer certificate's fingerprint, when known.
    pub peer_fingerprint: Option<Fingerprint>,
    /// How many attempts of its call this answer ended (set by the core's call flow; 0 when
    /// not known).
    pub attempts: u32,
    /// The endpoint that answered (set by the core's call flow; a cluster client has
    /// several).
    pub endpoint: super::EndpointId,
}

impl fmt::Debug for HttpReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpReply")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &format_args!("{} bytes", self.body.len()))
            .field("peer_fingerprint", &self.peer_fingerprint)
            .field("attempts", &self.attempts)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl HttpReply {
    /// An answer with this status, reason and body (no headers, no fingerprint).
    pub fn new(status: u16, reason: Option<String>, body: Vec<u8>) -> Self {
        Self {
            status,
            reason,
            headers: http::HeaderMap::new(),
            body,
            peer_fingerprint: None,
            attempts: 0,
            endpoint: super::EndpointId::PRIMARY,
        }
    }

    /// Whether the status is a success (2xx).
    pub fn is_success(&self) -> bool {
        crate::response::is_success(self.status)
    }
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default)]
pub struct ShellReply {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// The exit code; `None` when the command was ended by a signal.
    pub exit: Option<i32>,
}

/// What kind of failure on the wire: for a program that branches on it, and for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The host name did not resolve.
    Dns,
    /// No connection: refused, unreachable, no route.
    Connect,
    /// The TLS handshake failed (a refused certificate, a server that does not speak TLS).
    Tls,
    /// A time limit passed, in this phase.
    Timeout(Phase),
    /// The connection was closed or reset by the other side.
    Closed,
    /// Anything else (or the runtime cannot tell, as in a browser).
    Other,
}

/// When a timeout struck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Resolving the name, connecting or the TLS handshake: nothing was sent.
    Connect,
    /// Sending the request.
    Send,
    /// Waiting for the answer's head.
    Response,
    /// Reading the answer's body.
    Body,
    /// The phase is not known.
    Unknown,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Dns => "name resolution",
            Self::Connect => "connect",
            Self::Tls => "TLS",
            Self::Timeout(Phase::Connect) => "timeout while connecting",
            Self::Timeout(Phase::Send) => "timeout while sending",
            Self::Timeout(Phase::Response) => "timeout waiting for the answer",
            Self::Timeout(Phase::Body) => "timeout reading the answer",
            Self::Timeout(Phase::Unknown) => "timeout",
            Self::Closed => "connection closed",
            Self::Other => "transport",
        })
    }
}

impl FailureKind {
    /// The kind an error chain shows, as far as it can be told from the standard error types
    /// and texts the HTTP stacks use: a rustls error is TLS; I/O error kinds tell connect,
    /// closed and timeout; DNS failures only show as text (`failed to lookup address`,
    /// `Name or service not known`, `dns error`). `None` when nothing tells.
    pub fn of_error(e: &(dyn std::error::Error + 'static)) -> Option<Self> {
        use std::io::ErrorKind as K;
        let mut found = None;
        let mut cur = Some(e);
        while let Some(e) = cur {
            let text = e.to_string().to_ascii_lowercase();
            if text.contains("failed to lookup address")
                || text.contains("name or service not known")
                || text.contains("dns error")
                || text.contains("nodename nor servname")
                || text.contains("no address associated")
            {
                return Some(Self::Dns);
            }
            #[cfg(feature = "rustls")]
            if e.downcast_ref::<rustls::Error>().is_some() {
                return Some(Self::Tls);
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                let kind = match io.kind() {
                    K::ConnectionRefused
                    | K::AddrNotAvailable
                    | K::HostUnreachable
                    | K::NetworkUnreachable => Some(Self::Connect),
                    K::ConnectionReset
                    | K::ConnectionAborted
                    | K::BrokenPipe
                    | K::UnexpectedEof => Some(Self::Closed),
                    K::TimedOut | K::WouldBlock => Some(Self::Timeout(Phase::Unknown)),
                    _ => None,
                };
                found = found.or(kind);
                // An io::Error's source() skips the error it wraps.
                if let Some(inner) = io.get_ref() {
                    cur = Some(inner as &(dyn std::error::Error + 'static));
                    continue;
                }
            }
            cur = e.source();
        }
        found
    }
}

/// An exchange that failed on the wire, with what retrying needs to know.
#[derive(Clone)]
#[non_exhaustive]
pub struct TransportFailure {
    /// What happened (never contains credentials).
    pub message: String,
    /// Whether the server may have received (and acted on) the request.
    pub may_have_been_sent: bool,
    /// Whether it was a timeout.
    pub timeout: bool,
    /// Whether trying again cannot help: the certificate does not match the pin, its issuer is
    /// unknown, the client certificate was refused. Never retried.
    pub permanent: bool,
    /// The adapter refused the answer for a protocol reason (a body over the limit): the call
    /// ends with this error. Never retried.
    pub refused: Option<crate::ProtocolError>,
    /// What kind of failure, as far as the adapter can tell.
    pub kind: FailureKind,
    /// The HTTP stack's own error, for `source()` (not compared).
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for TransportFailure {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
            && self.may_have_been_sent == other.may_have_been_sent
            && self.timeout == other.timeout
            && self.permanent == other.permanent
            && self.refused == other.refused
            && self.kind == other.kind
    }
}

impl Eq for TransportFailure {}

impl TransportFailure {
    /// The adapter refused the answer (a body over the limit): permanent, and it may have been
    /// sent (the server answered).
    pub fn refused(error: crate::ProtocolError) -> Self {
        Self {
            message: error.to_string(),
            may_have_been_sent: true,
            timeout: false,
            permanent: true,
            refused: Some(error),
            kind: FailureKind::Other,
            source: None,
        }
    }

    /// A failure before anything was written to the server.
    pub fn not_sent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            may_have_been_sent: false,
            timeout: false,
            permanent: false,
            refused: None,
            kind: FailureKind::Other,
            source: None,
        }
    }

    /// A failure after the request may have reached the server.
    pub fn maybe_sent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            may_have_been_sent: true,
            timeout: false,
            permanent: false,
            refused: None,
            kind: FailureKind::Other,
            source: None,
        }
    }

    /// The error of one exchange made outside a flow and sent once (a streamed upload, a
    /// checksum file): the protocol error of a refused answer, or a transport error naming the
    /// request (`method`, the URI's path, its `host:port`) after one attempt of `elapsed`.
    pub fn into_error(
        self,
        method: &http::Method,
        uri: &http::Uri,
        elapsed: std::time::Duration,
    ) -> crate::Error {
        if let Some(e) = self.refused {
            return e.into();
        }
        let method = match *method {
            http::Method::POST => crate::Method::Post,
            http::Method::PUT => crate::Method::Put,
            http::Method::DELETE => crate::Method::Delete,
            // The clients send nothing but the API's four verbs.
            _ => crate::Method::Get,
        };
        let host = uri.authority().map_or_else(String::new, |a| {
            a.as_str().rsplit('@').next().unwrap_or("").to_owned()
        });
        crate::Error::Transport(Box::new(crate::TransportError {
            request: crate::RequestLabel {
                method,
                path: uri.path().to_owned(),
                host,
            },
            failure: self,
            attempts: 1,
            elapsed,
        }))
    }

    /// Mark it a timeout.
    pub fn timed_out(mut self) -> Self {
        self.timeout = true;
        if !matches!(self.kind, FailureKind::Timeout(_)) {
            self.kind = FailureKind::Timeout(Phase::Unknown);
        }
        self
    }

    /// Say what kind of failure it is.
    pub fn with_kind(mut self, kind: FailureKind) -> Self {
        self.kind = kind;
        if matches!(kind, FailureKind::Timeout(_)) {
            self.timeout = true;
        }
        self
    }

    /// Keep the HTTP stack's error as the source; the kind is read from it when not known yet
    /// ([`FailureKind::of_error`]).
    pub fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        if self.kind == FailureKind::Other
            && let Some(k) = FailureKind::of_error(&e)
        {
            self.kind = match k {
                // The flag knows better whether it was a timeout at all.
                FailureKind::Timeout(_) if !self.timeout => FailureKind::Other,
                k => k,
            };
        }
        if self.timeout && !matches!(self.kind, FailureKind::Timeout(_)) {
            self.kind = FailureKind::Timeout(Phase::Unknown);
        }
        self.source = Some(std::sync::Arc::new(e));
        self
    }

    /// Mark it permanent (never retried).
    pub fn permanent(mut self) -> Self {
        self.permanent = true;
        self
    }
}

impl fmt::Debug for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportFailure")
            .field("message", &self.message)
            .field("may_have_been_sent", &self.may_have_been_sent)
            .field("timeout", &self.timeout)
            .field("permanent", &self.permanent)
            .field("kind", &self.kind)
            .finish()
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
