//! Per-call settings, the same on every adapter, and the client-wide policy they refine.

use std::time::Duration;

/// Per-call settings; every unset one falls back to the client's.
///
/// * `timeout` is the deadline of the whole call: every attempt, the backoff between them,
///   waiting for an in-flight slot and for another caller's login included.
/// * `connect_timeout` bounds connecting (TCP, proxy tunnel, TLS handshake) and `read_timeout`
///   the wait for the answer's head and between reads of its body, per attempt; both are cut to
///   what remains of `timeout`.
/// * `max_attempts` is the only setting for attempts (1: send once, no retry and no re-login
///   after a 401).
///
/// ```
/// use proxmox_proto::flow::CallOptions;
/// use std::time::Duration;
/// let opts = CallOptions::default().timeout(Duration::from_secs(5)).max_attempts(1).body_limit(4096);
/// assert_eq!(opts.max_attempts, Some(1));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The deadline of the whole call.
    pub timeout: Option<Duration>,
    /// The connect timeout of each attempt.
    pub connect_timeout: Option<Duration>,
    /// The read timeout of each attempt.
    pub read_timeout: Option<Duration>,
    /// The largest body accepted.
    pub body_limit: Option<u64>,
    /// How many attempts in all (at least 1).
    pub max_attempts: Option<u32>,
}

impl CallOptions {
    /// The deadline of the whole call.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// The connect timeout of each attempt.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self
    }

    /// The read timeout of each attempt.
    pub fn read_timeout(mut self, t: Duration) -> Self {
        self.read_timeout = Some(t);
        self
    }

    /// The largest body accepted.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// How many attempts in all (0 counts as 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n.max(1));
        self
    }

    /// Send once: no retry after a failure the retry rules would repeat (595, a GET answered
    /// 596, lock timeouts, a GET that failed on the wire) and no re-login after a 401. The same as
    /// `max_attempts(1)`.
    pub fn without_retries(self) -> Self {
        self.max_attempts(1)
    }
}

/// The client-wide settings of the API-call flow (from the checked client options).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// The deadline of one call, if any.
    pub timeout: Option<Duration>,
    /// The connect timeout of each attempt.
    pub connect_timeout: Duration,
    /// The read timeout of each attempt.
    pub read_timeout: Duration,
    /// The largest body accepted.
    pub body_limit: u64,
    /// Attempts per call.
    pub max_attempts: u32,
}

impl Policy {
    /// The settings of one call: `opts` over these.
    pub(crate) fn for_call(&self, opts: &CallOptions) -> Policy {
        Policy {
            timeout: opts.timeout.or(self.timeout),
            connect_timeout: opts.connect_timeout.unwrap_or(self.connect_timeout),
            read_timeout: opts.read_timeout.unwrap_or(self.read_timeout),
            body_limit: opts.body_limit.unwrap_or(self.body_limit),
            max_attempts: opts.max_attempts.unwrap_or(self.max_attempts).max(1),
        }
    }
}
