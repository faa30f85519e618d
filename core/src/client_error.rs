//! [`ClientError`]: the one error type of every adapter (each re-exports it as its `Error`), with
//! the same accessors everywhere.

use crate::capability::Unsupported;
use crate::error::{ApiError, Error, ErrorClass, InputError, TransportError};
use std::time::Duration;

/// The error of every client: proxmox-ureq, proxmox-async, proxmox-wasm and proxmox-cli all
/// export it as `Error`, so code that handles errors works with any of them.
///
/// ```
/// use proxmox_proto::ClientError;
/// use proxmox_proto::error::ApiError;
///
/// let e = ClientError::from(proxmox_proto::Error::from(ApiError::new(403, "Permission check failed", None)));
/// assert_eq!(e.api().map(|a| a.status), Some(403));
/// assert!(e.may_have_been_sent(), "the server answered");
/// assert!(!e.is_timeout());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error, the answer did not parse, the input was bad, or
    /// authentication failed: the core's typed error (see [`ClientError::api`] for status and
    /// class). Never a transport error: those are [`ClientError::Transport`].
    #[error(transparent)]
    Proto(Error),
    /// The request could not be completed on the wire (after every attempt the retry rules
    /// allowed), the call's deadline passed, or (command-line adapter) the command could not
    /// be run or was killed.
    #[error(transparent)]
    Transport(Box<TransportError>),
    /// The SSH server's host key is unknown or does not match: nothing was sent.
    #[error("host key check failed for {host}: {message}")]
    HostKey {
        /// The host (and port).
        host: String,
        /// Why: unknown host, changed key, ...
        message: String,
    },
    /// The runtime cannot do what was asked (see [`crate::capability`]); nothing was sent.
    #[error(transparent)]
    Unsupported(Unsupported),
    /// The client configuration is invalid; nothing was sent.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("local I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A task failed, was still running when the wait gave up, or could not be followed
    /// (`wait_task_ok`); its log tail and UPID are in the [`TaskError`](crate::task::TaskError).
    #[error(transparent)]
    Task(Box<crate::task::TaskError>),
}

impl From<crate::task::TaskError> for ClientError {
    fn from(e: crate::task::TaskError) -> Self {
        Self::Task(Box::new(e))
    }
}

impl From<Error> for ClientError {
    fn from(e: Error) -> Self {
        match e {
            Error::Transport(t) => Self::Transport(t),
            e => Self::Proto(e),
        }
    }
}

impl From<InputError> for ClientError {
    fn from(e: InputError) -> Self {
        Self::Proto(e.into())
    }
}

impl From<Unsupported> for ClientError {
    fn from(e: Unsupported) -> Self {
        Self::Unsupported(e)
    }
}

impl From<crate::ProtocolError> for ClientError {
    fn from(e: crate::ProtocolError) -> Self {
        Self::Proto(e.into())
    }
}

impl ClientError {
    /// The API error (status, reason, message, per-parameter errors), if the server answered
    /// with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Proto(e) => e.api(),
            _ => None,
        }
    }

    /// The class of the API error (not found, forbidden, lock timeout, ...), if there is one.
    pub fn class(&self) -> Option<ErrorClass> {
        self.api().map(|a| a.class)
    }

    /// The transport error (the request, the last failure, attempts and time), if this is one.
    pub fn transport(&self) -> Option<&TransportError> {
        match self {
            Self::Transport(t) => Some(t),
            _ => None,
        }
    }

    /// Whether the request may have reached the server (so a write must not be repeated
    /// blindly). An answer (an API error, or one that could not be used) means it did;
    /// configuration, input, host-key and capability errors mean it did not.
    pub fn may_have_been_sent(&self) -> bool {
        match self {
            Self::Transport(t) => t.failure.may_have_been_sent,
            Self::Proto(Error::Api(a)) => !a.checked_locally,
            Self::Proto(e) => matches!(e, Error::Protocol(_)),
            Self::HostKey { .. } | Self::Unsupported(_) | Self::Config(_) | Self::Io(_) => false,
            // The task was started: its request was sent.
            Self::Task(_) => true,
        }
    }

    /// Whether a timeout (of an attempt, or the call's deadline, or a task wait's deadline)
    /// ended the call.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Transport(t) => t.failure.timeout,
            Self::Task(t) => matches!(**t, crate::task::TaskError::TimedOut { .. }),
            _ => false,
        }
    }

    /// The task error, if a task failed or its wait gave up (`wait_task_ok`).
    pub fn task(&self) -> Option<&crate::task::TaskError> {
        match self {
            Self::Task(t) => Some(t),
            _ => None,
        }
    }

    /// How many attempts the call made: for a transport error, and for an API error answered
    /// after retries (0 when not known, and for other errors).
    pub fn attempts(&self) -> u32 {
        match (self.transport(), self.api()) {
            (Some(t), _) => t.attempts,
            (None, Some(a)) => a.attempts,
            _ => 0,
        }
    }

    /// How long the failed call took, for transport errors.
    pub fn elapsed(&self) -> Option<Duration> {
        self.transport().map(|t| t.elapsed)
    }

    /// The kind of a transport error (name resolution, connect, TLS, a timeout and its phase,
    /// a closed connection), as far as the runtime can tell.
    pub fn transport_kind(&self) -> Option<crate::flow::FailureKind> {
        self.transport().map(|t| t.failure.kind)
    }

    /// What happened on the wire, without the "sent or not" part (transport errors only).
    pub fn transport_message(&self) -> Option<&str> {
        self.transport().map(|t| t.failure.message.as_str())
    }
}
