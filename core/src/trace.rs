//! `tracing` for every adapter, written once (feature `tracing`; without it every function
//! here does nothing and costs nothing).
//!
//! - A span `proxmox.exchange` per exchange an adapter performs, with `method`, `path` (never
//!   the query: it can carry tickets), `host`, `kind`, `exchange` (the id) and `attempt` (of
//!   its call, from 1), and, when the
//!   answer is in, `status` (or `failure`) and `elapsed_ms`; an event `answer` or
//!   `transport failure` inside it.
//! - An event per flow decision, emitted by the core's driver helper
//!   ([`crate::flow::next_io`]) where the flow makes it: `logged in` (the user), `ticket
//!   renewed`, `retrying` (attempts, backoff, why), `session refused, logging in again`, and at
//!   `trace` level task status and log lines (their count, never their text).
//!
//! What is recorded is chosen field by field: no header, body, parameter, ticket, CSRF token
//! or command argument ever reaches a span or an event, so no secret can (the test-bed's
//! capture test searches a whole TRACE-level run for each secret, raw, percent-encoded and
//! base64-encoded).
//!
//! Adapters call [`exchange`] before performing an exchange and [`Traced::answered`] with the
//! reply; the time comes from the adapter, as everywhere in the core.

use crate::flow::{Event, Exchange, Reply};
use std::time::Duration;

/// The trace of one exchange; records the answer with [`Traced::answered`].
#[must_use = "record the answer with Traced::answered"]
pub struct Traced {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl std::fmt::Debug for Traced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Traced")
    }
}

/// Start the trace of `exchange` (a `debug` span).
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub fn exchange(exchange: &Exchange) -> Traced {
    #[cfg(feature = "tracing")]
    {
        use crate::flow::Payload;
        let (method, path, host) = match &exchange.payload {
            Payload::Http(r) => (
                r.method().as_str().to_owned(),
                r.uri().path().to_owned(),
                r.uri().authority().map(|a| authority(a.as_str())),
            ),
            Payload::HttpStreaming { head, .. } => (
                head.method().as_str().to_owned(),
                head.uri().path().to_owned(),
                head.uri().authority().map(|a| authority(a.as_str())),
            ),
            // A command's arguments are the call's parameters (passwords among them): only
            // the program is named.
            Payload::Command(c) | Payload::CommandInput { command: c, .. } => {
                ("RUN".to_owned(), c.program().to_owned(), None)
            }
        };
        let span = tracing::debug_span!(
            "proxmox.exchange",
            exchange = exchange.id.0,
            attempt = exchange.attempt,
            kind = ?exchange.kind,
            method = %method,
            path = %path,
            host = host.as_deref().unwrap_or(""),
            status = tracing::field::Empty,
            failure = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        Traced { span }
    }
    #[cfg(not(feature = "tracing"))]
    Traced {}
}

/// `host:port` without any user info.
#[cfg(feature = "tracing")]
fn authority(a: &str) -> String {
    a.rsplit('@').next().unwrap_or("").to_owned()
}

impl Traced {
    /// Record the answer (`debug`) or the failure (`info`), and how long it took.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub fn answered(self, reply: &Reply, elapsed: Duration) {
        #[cfg(feature = "tracing")]
        {
            let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            let span = &self.span;
            span.record("elapsed_ms", ms);
            match reply {
                Reply::Http(r) => {
                    span.record("status", r.status);
                    tracing::debug!(parent: span, status = r.status, elapsed_ms = ms, "answer");
                }
                Reply::Shell(s) => {
                    let code = s.exit.map_or(-1, i64::from);
                    span.record("status", code);
                    tracing::debug!(parent: span, exit = code, elapsed_ms = ms, "command ended");
                }
                Reply::Failed(f) => {
                    span.record("failure", tracing::field::display(&f.kind));
                    tracing::info!(
                        parent: span,
                        kind = %f.kind,
                        may_have_been_sent = f.may_have_been_sent,
                        message = %f.message,
                        elapsed_ms = ms,
                        "transport failure"
                    );
                }
            }
        }
    }
}

/// Emit the event a flow handed out (called by [`crate::flow::next_io`]).
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub fn event(event: &Event) {
    #[cfg(feature = "tracing")]
    match event {
        Event::LoggedIn { user } => tracing::info!(user = %user, "logged in"),
        Event::Renewed => tracing::debug!("ticket renewed"),
        Event::Retrying {
            attempts,
            after,
            reason,
        } => tracing::info!(
            attempts,
            after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            reason = %reason,
            "retrying"
        ),
        Event::Relogin => tracing::info!("session refused, logging in again"),
        Event::DiscoveryLimited { reason } => tracing::warn!(reason = %reason, "discovery limited"),
        Event::EndpointFailed {
            endpoint,
            reason,
            permanent: true,
        } => tracing::warn!(endpoint = %endpoint, reason = %reason, "endpoint refused for good"),
        Event::EndpointFailed {
            endpoint, reason, ..
        } => tracing::info!(endpoint = %endpoint, reason = %reason, "endpoint failed"),
        Event::TaskStatus(s) => tracing::trace!(running = s.is_running(), "task status"),
        Event::LogLines(lines) => tracing::trace!(lines = lines.len(), "task log lines"),
        Event::TaskStarted { index, total } => tracing::debug!(index, total, "task seen running"),
        Event::TaskFinished {
            index,
            finished,
            total,
            outcome,
        } => tracing::debug!(
            index,
            finished,
            total,
            success = outcome.is_success(),
            "task finished"
        ),
    }
}

/// A pin recorded on first use (a `warn` event: trust was extended without a check).
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub fn pin_recorded(host: &str, port: u16, fingerprint: &crate::tls::Fingerprint) {
    #[cfg(feature = "tracing")]
    tracing::warn!(host, port, fingerprint = %fingerprint, "trust on first use: pin recorded");
}

/// A pin replaced by the fingerprint a verified connection reported (a `warn` event).
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub fn pin_replaced(
    host: &str,
    port: u16,
    old: &[crate::tls::Fingerprint],
    new: &crate::tls::Fingerprint,
) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        host,
        port,
        old = %old.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
        new = %new,
        "pin replaced by the node's certificate as the cluster reports it"
    );
}

/// A pin learnt from a verified `/nodes` answer that could not be written to the pin file
/// (a `warn` event; the client keeps it for its lifetime).
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub fn pin_not_written(host: &str, port: u16, error: &str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(host, port, error, "pin learnt but not written");
}
