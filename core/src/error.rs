//! Typed errors of the core.
//!
//! Three layers, kept apart on purpose:
//!
//! * [`ApiError`]: the server answered, and the answer is an error (status, the server's reason
//!   phrase, the body `message`, the per-parameter `errors` map, and an [`ErrorClass`]).
//! * [`ProtocolError`]: the bytes we got do not make sense (not JSON, truncated, too deep, a
//!   UPID or ticket that does not parse, ...).
//! * Everything the caller could have got wrong before anything was sent: [`InputError`].
//!
//! Adapters add their own transport errors on top (with "may have been sent" information); the
//! core's [`Error`] gathers the three layers above. No error text ever contains a secret.

use std::collections::BTreeMap;
use std::fmt;

/// The broad kind of an API error, for callers that branch on "what went wrong".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ErrorClass {
    /// 400: parameter verification failed; see [`ApiError::param_errors`].
    BadRequest,
    /// 401: no ticket, bad ticket, authentication failure.
    Unauthorized,
    /// 403: permission check failed (also tokens without the needed ACLs).
    Forbidden,
    /// 404, 501, or a 500 whose message says something "does not exist": the thing or the
    /// endpoint is not there (an endpoint missing on an older version also answers 501).
    NotFound,
    /// 500 "can't lock file ... got timeout": another task holds the lock; worth retrying later.
    LockTimeout,
    /// 595–599: the node that received the request could not reach the node that owns the
    /// resource (pveproxy's upstream errors).
    UpstreamUnreachable,
    /// 500 `hostname lookup 'pve9' failed - ...` or `no such cluster node 'pve9'`: the node
    /// in the path is not a node of this cluster (pveproxy resolves the node name to forward
    /// the call: pve-cluster `src/PVE/Cluster.pm` `remote_node_ip`, `check_node_exists`).
    /// Check the name against `GET /nodes`.
    NoSuchNode,
    /// Any other 5xx.
    ServerError,
    /// Any other status that is not a success (3xx, other 4xx).
    Unexpected,
}

impl ErrorClass {
    /// Classify a status and the best message we have for it.
    pub fn from_status(status: u16, message: &str) -> Self {
        let lower = message.to_ascii_lowercase();
        match status {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 | 501 => Self::NotFound,
            595..=599 => Self::UpstreamUnreachable,
            500..=594 if lower.contains("can't lock file") || lower.contains("got timeout") => {
                Self::LockTimeout
            }
            500..=594
                if (lower.contains("hostname lookup '") && lower.contains("failed"))
                    || lower.contains("no such cluster node") =>
            {
                Self::NoSuchNode
            }
            500..=594 if lower.contains("does not exist") || lower.contains("no such ") => {
                Self::NotFound
            }
            500..=599 => Self::ServerError,
            _ => Self::Unexpected,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::BadRequest => "bad request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not found or not implemented",
            Self::LockTimeout => "lock timeout",
            Self::UpstreamUnreachable => "upstream node unreachable",
            Self::NoSuchNode => "no such node",
            Self::ServerError => "server error",
            Self::Unexpected => "unexpected status",
        })
    }
}

/// An error answer from the server (HTTP status, or a pvesh status line).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status code (or the code on pvesh's status line).
    pub status: u16,
    /// The server's reason phrase. PVE puts its real error message here
    /// (`500 unable to find configuration file for VM 100`). Its first line, control
    /// characters escaped.
    pub reason: String,
    /// The body's `message` field (pve-http-server 5.2+, PBS, PMG), if any; every line kept,
    /// control characters (line breaks included) escaped as `\n`, `\t`, `\u{1b}`.
    pub message: Option<String>,
    /// Per-parameter errors from the body's `errors` object (`{"vmid": "property is missing"}`).
    pub param_errors: BTreeMap<String, String>,
    /// Error texts that came as a list rather than a map.
    pub other_errors: Vec<String>,
    /// The raw body as text (lossy UTF-8, cut to a few KiB) when it was not a JSON envelope.
    pub raw_body: Option<String>,
    /// The process exit code, for command-line transports.
    pub exit_code: Option<i32>,
    /// What kind of error this is.
    pub class: ErrorClass,
    /// The request that got this answer (method, path without the query, host:port), when
    /// the client knows it (every client call sets it).
    pub request: Option<RequestLabel>,
    /// What the client knows that the server did not say (which credentials a 401 refused).
    pub note: Option<String>,
    /// How many attempts of the call ended with this answer (0 when not known); more than one
    /// when the answer was retried (595, 596 on a GET, a lock timeout).
    pub attempts: u32,
    /// The client answered for the server: it checked the call against the server's API
    /// schema and sent nothing (the error has the shape of the server's 400).
    pub checked_locally: bool,
}

impl ApiError {
    /// Build an error from a status, a reason phrase and an optional body message; the class is
    /// derived from them.
    pub fn new(status: u16, reason: impl Into<String>, message: Option<String>) -> Self {
        let reason = sanitize_text(&reason.into());
        let message = message.map(|m| server_text(&m));
        let class = ErrorClass::from_status(
            status,
            &format!("{reason} {}", message.as_deref().unwrap_or("")),
        );
        Self {
            status,
            reason,
            message,
            param_errors: BTreeMap::new(),
            other_errors: Vec::new(),
            raw_body: None,
            exit_code: None,
            class,
            request: None,
            note: None,
            attempts: 0,
            checked_locally: false,
        }
    }

    /// The most useful one-line description: the body message if present, else the reason.
    pub fn summary(&self) -> &str {
        match &self.message {
            Some(m) if !m.is_empty() => m,
            _ => &self.reason,
        }
    }

    /// Whether this error says the thing asked for does not exist (or the endpoint is missing).
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.request {
            write!(f, "{r}: ")?;
        }
        match &self.message {
            // PVE puts the message's first line in the reason phrase: say it once.
            Some(m) if !m.is_empty() && m.starts_with(&self.reason) && !self.reason.is_empty() => {
                write!(f, "{} {m}", self.status)?;
            }
            Some(m) if !m.is_empty() => write!(f, "{} {}: {m}", self.status, self.reason)?,
            _ => write!(f, "{} {}", self.status, self.reason)?,
        }
        if !self.param_errors.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.param_errors.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                let v = v.trim_end().lines().collect::<Vec<_>>().join("; ");
                write!(f, "{}: {}", clean(k), clean(&v))?;
            }
            f.write_str(")")?;
        }
        for e in &self.other_errors {
            write!(f, " - {}", clean(e.trim_end()))?;
        }
        if let Some(code) = self.exit_code {
            write!(f, " [exit code {code}]")?;
        }
        if self.attempts > 1 {
            write!(f, " ({} attempts)", self.attempts)?;
        }
        if let Some(note) = &self.note {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The bytes received do not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The body is not valid JSON (or has trailing data, or is truncated).
    #[error("response body is not valid JSON: {detail} (body starts with {snippet:?})")]
    InvalidJson {
        /// What the JSON parser said.
        detail: String,
        /// The first bytes of the body, lossy UTF-8.
        snippet: String,
    },
    /// The body is larger than the configured limit.
    #[error("response body of {size} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// Bytes received (at least).
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The JSON nests deeper than the parser allows.
    #[error("response JSON nests deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The JSON is well formed but has no `data` member or the wrong shape.
    #[error("unexpected response shape: {0}")]
    UnexpectedShape(String),
    /// The `data` could not be read as the requested type.
    #[error(
        "cannot read response data as {}: {detail}",
        short_type_name(type_name)
    )]
    Deserialize {
        /// The Rust type asked for.
        type_name: &'static str,
        /// What serde said.
        detail: String,
    },
    /// A ticket returned by the server does not parse.
    #[error("malformed ticket: {0}")]
    MalformedTicket(String),
    /// The server answered a login for another user than the one asked for.
    #[error("login answered for user {got:?}, expected {expected:?}")]
    UsernameMismatch {
        /// User asked for.
        expected: String,
        /// User in the answer.
        got: String,
    },
    /// A UPID does not parse.
    #[error("malformed UPID: {0}")]
    MalformedUpid(String),
    /// Any other malformed value from outside (task log page, checksum file, command output...).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

/// Something the caller asked for cannot be done; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A host, port or path prefix that does not parse.
    #[error("invalid target {input:?}: {reason}")]
    InvalidTarget {
        /// What was given.
        input: String,
        /// Why it is refused.
        reason: String,
    },
    /// A client option was refused; the text says which and why.
    #[error("{0}")]
    ClientOption(String),
    /// A string path that would not reach the endpoint it seems to name.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// Why it is refused, and what to write instead.
        reason: &'static str,
    },
    /// A path value that cannot be a single safe segment.
    #[error("invalid path segment {segment:?}: {reason}")]
    InvalidPathSegment {
        /// The value given.
        segment: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A parameter that cannot be encoded.
    #[error("invalid parameter {key:?}: {reason}")]
    InvalidParameter {
        /// The key.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// The request body is too large for a non-upload call (PVE answers 501 past 512 KiB).
    #[error("request body of {size} bytes exceeds the {limit}-byte limit for non-upload calls")]
    BodyTooLarge {
        /// Body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A service cannot be used with this transport or auth kind.
    #[error("{service} does not support {what}")]
    Unsupported {
        /// The service.
        service: crate::Service,
        /// What it does not support.
        what: &'static str,
    },
    /// Credentials are missing or malformed.
    #[error("invalid credentials: {0}")]
    InvalidCredentials(String),
    /// A header value we would build contains characters that are not allowed (CR, LF, NUL...).
    #[error("invalid header value for {name}: {reason}")]
    InvalidHeader {
        /// Header name.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Any other invalid argument.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The argument.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// Every error the core can produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error.
    #[error("API error: {0}")]
    Api(Box<ApiError>),
    /// The answer could not be understood.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The request could not be built from what the caller gave.
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    /// Login needs a second factor that was not supplied, or the factor was refused.
    #[error("authentication: {0}")]
    Auth(#[from] crate::auth::AuthError),
    /// The exchange failed on the wire, or the call's deadline passed (from a flow: names the
    /// request, the attempts and the time they took).
    #[error("{0}")]
    Transport(Box<TransportError>),
    /// A console could not be opened, or failed once open.
    #[error("{0}")]
    Console(Box<ConsoleFailure>),
}

/// A console's failure, with the request it is about (the console call, or the WebSocket).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("console ({request}): {error}")]
#[non_exhaustive]
pub struct ConsoleFailure {
    /// The request.
    pub request: RequestLabel,
    /// What went wrong.
    pub error: crate::console::ConsoleError,
}

impl ConsoleFailure {
    /// `error` about `request`.
    pub fn new(request: RequestLabel, error: crate::console::ConsoleError) -> Self {
        Self { request, error }
    }
}

impl From<ConsoleFailure> for Error {
    fn from(f: ConsoleFailure) -> Self {
        Self::Console(Box::new(f))
    }
}

/// Which request an error is about: method, path (never the query string, which can carry
/// tickets) and `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLabel {
    /// The method.
    pub method: crate::Method,
    /// The path below `/api2/json`, percent-encoded as sent.
    pub path: String,
    /// `host:port` (IPv6 in brackets).
    pub host: String,
}

impl RequestLabel {
    /// The label of `call` sent to `target`.
    pub fn new(call: &crate::Call, target: &crate::Target) -> Self {
        Self {
            method: call.method,
            path: call.path.to_string(),
            host: target.authority(),
        }
    }
}

impl fmt::Display for RequestLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} on {}", self.method, self.path, self.host)
    }
}

/// A call that failed on the wire, after every attempt the retry rules allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportError {
    /// The request.
    pub request: RequestLabel,
    /// The last failure.
    pub failure: crate::flow::TransportFailure,
    /// How many attempts were made.
    pub attempts: u32,
    /// How long the call took, from its first poll to the failure.
    pub elapsed: std::time::Duration,
}

impl TransportError {
    /// A transport error of `request`: the last `failure`, after `attempts` that took
    /// `elapsed`.
    pub fn new(
        request: RequestLabel,
        failure: crate::flow::TransportFailure,
        attempts: u32,
        elapsed: std::time::Duration,
    ) -> Self {
        Self {
            request,
            failure,
            attempts,
            elapsed,
        }
    }

    /// The request, what happened and how many attempts it took, without the "sent or not"
    /// part (adapters print that in front).
    pub fn detail(&self) -> String {
        let hint = match self.failure.kind {
            crate::flow::FailureKind::Connect => {
                "; is the server up and the port right? PVE and PMG answer on 8006, PBS on 8007"
            }
            crate::flow::FailureKind::Dns => "; check the host name",
            _ => "",
        };
        format!(
            "{}: {}{hint} ({} attempt{} in {:.2} s)",
            self.request,
            clean(&self.failure.message),
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64()
        )
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sent = if self.failure.may_have_been_sent {
            "the request may have been sent"
        } else {
            "the request was not sent"
        };
        write!(f, "transport error ({sent}): {}", self.detail())
    }
}

impl std::error::Error for TransportError {
    /// The HTTP stack's own error, when the adapter kept it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failure
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Self::Api(Box::new(e))
    }
}

impl Error {
    /// This error with the request that caused it, when it is an API error that does not name
    /// one yet (the clients call this for every call, so that the message says which).
    pub fn with_request(self, request: RequestLabel) -> Self {
        match self {
            Self::Api(mut e) => {
                if e.request.is_none() {
                    e.request = Some(request);
                }
                Self::Api(e)
            }
            other => other,
        }
    }

    /// This error with the number of attempts its call made, when it is an API error.
    pub fn with_attempts(self, attempts: u32) -> Self {
        match self {
            Self::Api(mut e) => {
                e.attempts = attempts;
                Self::Api(e)
            }
            other => other,
        }
    }

    /// This error with a note, when it is an API error answered with `status` that has none.
    pub fn with_note(self, status: u16, note: impl FnOnce() -> String) -> Self {
        match self {
            Self::Api(mut e) if e.status == status && e.note.is_none() => {
                e.note = Some(note());
                Self::Api(e)
            }
            other => other,
        }
    }

    /// The API error inside, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The transport error inside, if this is one.
    pub fn transport(&self) -> Option<&TransportError> {
        match self {
            Self::Transport(e) => Some(e),
            _ => None,
        }
    }
}

/// Replace control characters (a hostile reason phrase could carry terminal escapes) and cut a
/// multi-line text to its first line, as PVE does for reason phrases.
pub(crate) fn sanitize_text(s: &str) -> String {
    escape_controls(s.lines().next().unwrap_or(""))
}

/// A server text shown to people: trailing white space dropped, every line kept, control
/// characters (line breaks included) written as escapes (`\n`, `\t`, `\u{1b}`) so that they
/// stay readable and cannot move a terminal's cursor.
pub(crate) fn server_text(s: &str) -> String {
    escape_controls(s.trim_end())
}

/// Control characters replaced by their escapes, everything else kept.
fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters escaped, all lines kept (for texts from the server shown in `Display`).
fn clean(s: &str) -> String {
    escape_controls(s)
}

/// A Rust type name without module paths: `Vec<QemuListEntry>` for
/// `alloc::vec::Vec<proxmox_proto::models::QemuListEntry>`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut word = String::new();
    for c in full.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(&word));
            word.clear();
            if c != ' ' || !out.is_empty() {
                out.push(c);
            }
        }
    }
    out.trim_end().to_owned()
}

/// A short, printable prefix of a body for error messages.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let cut = &body[..body.len().min(max)];
    let mut s: String = String::from_utf8_lossy(cut)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    if body.len() > max {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(ErrorClass::from_status(400, ""), ErrorClass::BadRequest);
        assert_eq!(ErrorClass::from_status(401, ""), ErrorClass::Unauthorized);
        assert_eq!(ErrorClass::from_status(403, ""), ErrorClass::Forbidden);
        assert_eq!(ErrorClass::from_status(404, ""), ErrorClass::NotFound);
        assert_eq!(
            ErrorClass::from_status(501, "Method 'GET /x' not implemented"),
            ErrorClass::NotFound
        );
        assert_eq!(
            ErrorClass::from_status(
                500,
                "Configuration file 'nodes/x/qemu-server/100.conf' does not exist"
            ),
            ErrorClass::NotFound
        );
        assert_eq!(
            ErrorClass::from_status(
                500,
                "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout"
            ),
            ErrorClass::LockTimeout
        );
        for s in 595..=599 {
            assert_eq!(
                ErrorClass::from_status(s, ""),
                ErrorClass::UpstreamUnreachable
            );
        }
        assert_eq!(
            ErrorClass::from_status(500, "boom"),
            ErrorClass::ServerError
        );
        // pve-cluster src/PVE/Cluster.pm: remote_node_ip, check_node_exists.
        assert_eq!(
            ErrorClass::from_status(
                500,
                "hostname lookup 'pve9' failed - failed to get address info for: pve9: Name or \
                 service not known"
            ),
            ErrorClass::NoSuchNode
        );
        assert_eq!(
            ErrorClass::from_status(500, "no such cluster node 'pve9'"),
            ErrorClass::NoSuchNode
        );
        assert_eq!(ErrorClass::NoSuchNode.to_string(), "no such node");
        assert_eq!(format!("[{:<10}]", ErrorClass::Forbidden), "[forbidden ]");
        assert_eq!(format!("[{:>10}]", ErrorClass::Forbidden), "[ forbidden]");
        assert_eq!(ErrorClass::from_status(304, ""), ErrorClass::Unexpected);
        assert_eq!(ErrorClass::from_status(499, ""), ErrorClass::Unexpected);
    }

    #[test]
    fn type_names_are_short() {
        assert_eq!(
            short_type_name("alloc::vec::Vec<proxmox_proto::models::QemuListEntry>"),
            "Vec<QemuListEntry>"
        );
        assert_eq!(short_type_name("u32"), "u32");
        assert_eq!(
            short_type_name("core::option::Option<(u32, alloc::string::String)>"),
            "Option<(u32, String)>"
        );
    }

    #[test]
    fn reason_is_sanitized_and_first_line_only() {
        let e = ApiError::new(500, "bad\x1b[31m thing\nsecond line", None);
        assert_eq!(e.reason, "bad\\u{1b}[31m thing");
        assert!(!e.to_string().contains('\x1b'));
        // A body message keeps its lines, readable.
        let e = ApiError::new(
            500,
            "Internal Server Error",
            Some("command failed\nexit code 1\tdetail\n".into()),
        );
        assert_eq!(
            e.to_string(),
            "500 Internal Server Error: command failed\\nexit code 1\\tdetail"
        );
    }

    #[test]
    fn display_lists_param_errors() {
        let mut e = ApiError::new(400, "Parameter verification failed.", None);
        e.param_errors.insert(
            "vmid".into(),
            "property is missing and it is not optional\n".into(),
        );
        assert_eq!(
            e.to_string(),
            "400 Parameter verification failed. (vmid: property is missing and it is not optional)"
        );
        assert_eq!(e.class, ErrorClass::BadRequest);
    }
}
