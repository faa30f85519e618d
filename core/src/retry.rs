//! Whether a failed call may be retried: one pure function, used by every adapter.
//!
//! Rules:
//!
//! * a failure that happened before the request could have reached the server (connect error,
//!   DNS, TLS handshake) is retryable for every method;
//! * a failure after the request may have been sent is retryable only for GET: a POST, PUT or
//!   DELETE that may have been processed is never replayed automatically;
//! * 595 (pveproxy could not connect to the node that owns the resource, so the call never
//!   ran) is retryable for every method;
//! * 596 is retryable for GET only. AnyEvent::HTTP, which pveproxy forwards with, answers 596
//!   for failures during TLS negotiation, *request sending* and header processing, and for its
//!   30 s forwarding timeout while the target node is still running the call: a write answered
//!   596 may have run, so it is reported (its error says it may have been sent), never
//!   replayed;
//! * 597-599 (body, abort, other) are never retried;
//! * lock timeouts (the handler gave up before acting) are retryable;
//! * authentication is never retried, except one re-login after a 401 for password sessions
//!   (a 401 means the server refused the call before running it).
//!
//! | failure | GET | POST, PUT, DELETE |
//! |---|---|---|
//! | never sent (connect, DNS, TLS handshake) | retry | retry |
//! | may have been sent (dropped, timed out) | retry | give up |
//! | 595 | retry | retry |
//! | 596 | retry | give up |
//! | 597, 598, 599 | give up | give up |
//! | lock timeout (500 "got timeout") | retry | retry |
//! | 401, password session, first time | log in again, retry | log in again, retry |
//! | any other status | give up | give up |
//!
//! ```
//! use proxmox_proto::retry::{decide, Failure, RetryDecision};
//! use proxmox_proto::{AuthKind, Method};
//! assert_eq!(decide(Method::Post, AuthKind::Token, &Failure::MaybeSent, 0), RetryDecision::GiveUp);
//! assert_eq!(decide(Method::Get, AuthKind::Token, &Failure::MaybeSent, 0), RetryDecision::Retry);
//! assert_eq!(decide(Method::Post, AuthKind::Token, &Failure::Status(595, "no route to host"), 0), RetryDecision::Retry);
//! assert_eq!(decide(Method::Post, AuthKind::Token, &Failure::Status(596, "Connection timed out"), 0), RetryDecision::GiveUp);
//! assert_eq!(decide(Method::Get, AuthKind::Token, &Failure::Status(596, "Connection timed out"), 0), RetryDecision::Retry);
//! assert_eq!(decide(Method::Post, AuthKind::Ticket, &Failure::Status(401, "invalid PVE ticket"), 0), RetryDecision::ReloginThenRetry);
//! ```

use crate::call::Method;
use crate::error::{ApiError, ErrorClass};
use crate::service::AuthKind;
use std::time::Duration;

/// How many attempts a retryable failure gets in total, by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// How long to wait before retry number `attempt` (0-based): 100 ms doubling, at most 3.2 s.
///
/// ```
/// use proxmox_proto::retry::retry_backoff;
/// use std::time::Duration;
/// assert_eq!(retry_backoff(0), Duration::from_millis(100));
/// assert_eq!(retry_backoff(1), Duration::from_millis(200));
/// assert_eq!(retry_backoff(9), Duration::from_millis(3200));
/// ```
pub fn retry_backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(5))
}

/// What went wrong, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure<'a> {
    /// The request certainly did not reach the server.
    NotSent,
    /// The request may have been (partly) sent and processed.
    MaybeSent,
    /// The server answered with this status and message.
    Status(u16, &'a str),
}

impl<'a> Failure<'a> {
    /// From an API error.
    pub fn from_api(e: &'a ApiError) -> Self {
        Self::Status(e.status, e.summary())
    }

    /// A failure on the wire, before any answer: [`Failure::MaybeSent`] or
    /// [`Failure::NotSent`].
    pub fn transport(may_have_been_sent: bool) -> Failure<'static> {
        if may_have_been_sent {
            Failure::MaybeSent
        } else {
            Failure::NotSent
        }
    }
}

/// [`decide`] for an answer with a non-2xx status, its message read the way
/// [`crate::response::api_error`] reads it (the reason phrase, else the body's `message`), so
/// that every adapter sees a lock timeout the same way whether or not its HTTP stack keeps
/// the reason phrase.
pub fn decide_status(
    method: Method,
    auth: AuthKind,
    status: u16,
    reason: Option<&str>,
    body: &[u8],
    attempt: u32,
) -> RetryDecision {
    decide_status_within(
        method,
        auth,
        status,
        reason,
        body,
        attempt,
        DEFAULT_MAX_ATTEMPTS,
    )
}

/// [`decide_status`] with a limit of `max_attempts` attempts in all.
pub fn decide_status_within(
    method: Method,
    auth: AuthKind,
    status: u16,
    reason: Option<&str>,
    body: &[u8],
    attempt: u32,
    max_attempts: u32,
) -> RetryDecision {
    let e = crate::response::api_error(status, reason, body);
    decide_within(method, auth, &Failure::from_api(&e), attempt, max_attempts)
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send the same request again (after a short backoff).
    Retry,
    /// Log in again with the stored password, then send the request again.
    ReloginThenRetry,
    /// Surface the failure.
    GiveUp,
}

/// Decide. `attempt` counts earlier retries of this call (0 on the first failure).
pub fn decide(
    method: Method,
    auth: AuthKind,
    failure: &Failure<'_>,
    attempt: u32,
) -> RetryDecision {
    decide_within(method, auth, failure, attempt, DEFAULT_MAX_ATTEMPTS)
}

/// [`decide`] with a limit of `max_attempts` attempts in all (1: never retry, not even the
/// re-login after a 401).
pub fn decide_within(
    method: Method,
    auth: AuthKind,
    failure: &Failure<'_>,
    attempt: u32,
    max_attempts: u32,
) -> RetryDecision {
    if attempt.saturating_add(1) >= max_attempts {
        return RetryDecision::GiveUp;
    }
    match failure {
        Failure::NotSent => RetryDecision::Retry,
        Failure::MaybeSent if method.is_safe_to_replay() => RetryDecision::Retry,
        Failure::MaybeSent => RetryDecision::GiveUp,
        Failure::Status(401, _) if auth == AuthKind::Ticket && attempt == 0 => {
            RetryDecision::ReloginThenRetry
        }
        Failure::Status(status, msg) => match ErrorClass::from_status(*status, msg) {
            ErrorClass::LockTimeout => RetryDecision::Retry,
            // 595: the forwarding pveproxy never reached the node; the call did not run.
            ErrorClass::UpstreamUnreachable if *status == 595 => RetryDecision::Retry,
            // 596: the request may have reached the node and run there (see the module docs).
            ErrorClass::UpstreamUnreachable if *status == 596 && method.is_safe_to_replay() => {
                RetryDecision::Retry
            }
            _ => RetryDecision::GiveUp,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_answers_read_the_message_from_the_reason_or_the_body() {
        let lock = "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout";
        let body = format!(r#"{{"data":null,"message":"{lock}\n"}}"#);
        for reason in [Some(lock), None] {
            assert_eq!(
                decide_status(
                    Method::Post,
                    AuthKind::Token,
                    500,
                    reason,
                    body.as_bytes(),
                    0
                ),
                RetryDecision::Retry,
                "{reason:?}"
            );
        }
        assert_eq!(
            decide_status(Method::Get, AuthKind::Token, 500, None, b"", 0),
            RetryDecision::GiveUp
        );
        assert_eq!(Failure::transport(true), Failure::MaybeSent);
        assert_eq!(Failure::transport(false), Failure::NotSent);
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let waits: Vec<Duration> = (0..8).map(retry_backoff).collect();
        let ms = [100, 200, 400, 800, 1600, 3200, 3200, 3200].map(Duration::from_millis);
        assert_eq!(waits, ms);
        assert_eq!(retry_backoff(u32::MAX), Duration::from_millis(3200));
    }

    #[test]
    fn table() {
        use RetryDecision::*;
        let all = [Method::Get, Method::Post, Method::Put, Method::Delete];
        for m in all {
            assert_eq!(decide(m, AuthKind::Token, &Failure::NotSent, 0), Retry);
            assert_eq!(
                decide(m, AuthKind::Token, &Failure::Status(595, "no route"), 0),
                Retry
            );
            for status in [597, 598, 599] {
                assert_eq!(
                    decide(m, AuthKind::Token, &Failure::Status(status, ""), 0),
                    GiveUp,
                    "{m} {status}"
                );
            }
            assert_eq!(
                decide(
                    m,
                    AuthKind::Token,
                    &Failure::Status(
                        500,
                        "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout"
                    ),
                    0
                ),
                Retry
            );
            assert_eq!(
                decide(m, AuthKind::Token, &Failure::Status(500, "boom"), 0),
                GiveUp
            );
            assert_eq!(
                decide(m, AuthKind::Token, &Failure::Status(400, ""), 0),
                GiveUp
            );
            assert_eq!(
                decide(m, AuthKind::Token, &Failure::Status(401, ""), 0),
                GiveUp
            );
            assert_eq!(
                decide(m, AuthKind::Ticket, &Failure::Status(401, ""), 0),
                ReloginThenRetry
            );
            assert_eq!(
                decide(m, AuthKind::Ticket, &Failure::Status(401, ""), 1),
                GiveUp
            );
            assert_eq!(decide(m, AuthKind::Token, &Failure::NotSent, 2), GiveUp);
        }
        assert_eq!(
            decide(Method::Get, AuthKind::Ticket, &Failure::MaybeSent, 0),
            Retry
        );
        assert_eq!(
            decide(Method::Get, AuthKind::Token, &Failure::Status(596, ""), 1),
            Retry
        );
        for m in [Method::Post, Method::Put, Method::Delete] {
            assert_eq!(decide(m, AuthKind::Ticket, &Failure::MaybeSent, 0), GiveUp);
        }
    }

    /// pveproxy answers 596 when the forwarded request may have reached the target node (TLS,
    /// request sending, header processing, its 30 s forwarding timeout): a write that got it
    /// may have run and is never replayed; only 595 and never-sent failures replay a write.
    #[test]
    fn a_write_is_replayed_only_on_595_and_never_sent_failures() {
        use RetryDecision::*;
        for m in [Method::Post, Method::Put, Method::Delete] {
            for auth in [AuthKind::Token, AuthKind::Ticket] {
                for status in 596..=599 {
                    let reason = crate::response::canonical_reason(status);
                    assert_eq!(
                        decide(m, auth, &Failure::Status(status, reason), 0),
                        GiveUp,
                        "{m} {status}"
                    );
                    assert_eq!(
                        decide_status(m, auth, status, None, b"{\"data\":null}", 0),
                        GiveUp,
                        "{m} {status} (decide_status)"
                    );
                }
                assert_eq!(decide(m, auth, &Failure::Status(595, ""), 0), Retry);
                assert_eq!(decide(m, auth, &Failure::NotSent, 0), Retry);
                assert_eq!(decide(m, auth, &Failure::MaybeSent, 0), GiveUp);
            }
        }
        // A GET may be replayed on 595 and 596, up to the attempt limit.
        for status in [595, 596] {
            assert_eq!(
                decide(
                    Method::Get,
                    AuthKind::Token,
                    &Failure::Status(status, ""),
                    0
                ),
                Retry
            );
            assert_eq!(
                decide_within(
                    Method::Get,
                    AuthKind::Token,
                    &Failure::Status(status, ""),
                    1,
                    2
                ),
                GiveUp
            );
        }
    }
}
