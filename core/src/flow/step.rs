//! What a flow tells its driver to do next: one [`Step`], and the [`Flow`] trait every flow
//! implements.

use super::exchange::{Exchange, ExchangeId};
use super::reply::Reply;
use super::time::{MonoTime, Now};
use crate::auth::{AuthError, SecondFactor, TfaChallenge};
use crate::error::Error;
use std::task::Waker;

/// The next thing a driver does for a flow. Exhaustive: a driver matches every variant.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Step<T> {
    /// Perform this exchange, then [`Flow::handle`] its reply. A flow may hand out several
    /// before it wants a reply (a driver that performs them one by one simply answers each
    /// before polling again).
    Send(Exchange),
    /// Nothing to do before this instant (backoff, the next status poll): poll again then.
    SleepUntil(MonoTime),
    /// Every exchange handed out is still unanswered: feed a reply, then poll again.
    AwaitReplies,
    /// Another caller holds the login lease. Call [`Flow::wake_on_release`] with a waker and
    /// poll again when it is woken, or at `until` at the latest (when the lease runs out).
    WaitForLogin {
        /// When the other caller's lease ends.
        until: MonoTime,
    },
    /// Every in-flight slot of the node this exchange is routed to is taken (a cluster
    /// client's per-node limit, [`crate::cluster::Router::take_slot`]). Call
    /// [`Flow::wake_on_release`] with a waker and poll again when it is woken, or at `until`
    /// at the latest.
    WaitForSlot {
        /// When to poll again at the latest (the call's deadline, or a timeout's length).
        until: MonoTime,
    },
    /// The server wants a second factor for this login: answer with
    /// [`Flow::answer_second_factor`], then poll again. A TFA step is never retried.
    SecondFactor(TfaChallenge),
    /// Something worth telling the caller (progress, a retry, a warning); poll again at once.
    Event(Event),
    /// The flow is over.
    Done(Result<T, Error>),
}

impl<T> Step<T> {
    /// The same step with a successful output turned into another result (for flows built on
    /// other flows).
    pub fn and_then_done<U>(self, f: impl FnOnce(T) -> Result<U, Error>) -> Step<U> {
        match self {
            Step::Send(e) => Step::Send(e),
            Step::SleepUntil(t) => Step::SleepUntil(t),
            Step::AwaitReplies => Step::AwaitReplies,
            Step::WaitForLogin { until } => Step::WaitForLogin { until },
            Step::WaitForSlot { until } => Step::WaitForSlot { until },
            Step::SecondFactor(c) => Step::SecondFactor(c),
            Step::Event(e) => Step::Event(e),
            Step::Done(r) => Step::Done(r.and_then(f)),
        }
    }
}

impl<T> Step<T> {
    /// A sub-flow's step handed out by the flow made of it, its exchange ids tagged with
    /// `tag` (so a reply finds its way back). A sub-flow's end is never handed out: the
    /// composite feeds it to itself, and handing it out is a bug reported as an error.
    pub(crate) fn pass_up<U>(self, tag: impl FnOnce(ExchangeId) -> ExchangeId) -> Step<U> {
        match self {
            Step::Send(mut e) => {
                e.id = tag(e.id);
                Step::Send(e)
            }
            Step::SleepUntil(t) => Step::SleepUntil(t),
            Step::AwaitReplies => Step::AwaitReplies,
            Step::WaitForLogin { until } => Step::WaitForLogin { until },
            Step::WaitForSlot { until } => Step::WaitForSlot { until },
            Step::SecondFactor(c) => Step::SecondFactor(c),
            Step::Event(e) => Step::Event(e),
            Step::Done(_) => Step::Done(Err(crate::error::ProtocolError::Malformed {
                what: "flow",
                detail: "a finished sub-call was handed out".into(),
            }
            .into())),
        }
    }
}

/// What a flow reports on the way.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A login succeeded (the user id).
    LoggedIn {
        /// `user@realm`.
        user: String,
    },
    /// The ticket was renewed.
    Renewed,
    /// A failed attempt will be repeated after `after`.
    Retrying {
        /// Attempts made so far.
        attempts: u32,
        /// The backoff before the next one.
        after: std::time::Duration,
        /// Why the attempt failed.
        reason: String,
    },
    /// The session was refused (401); the flow logs in again once.
    Relogin,
    /// Cluster discovery could read less than it wanted (why, and what to do).
    DiscoveryLimited {
        /// What was missing and what to do.
        reason: String,
    },
    /// A cluster client gave up on an endpoint for now (`permanent`: for good, its
    /// certificate was refused); the call goes on at another one if it can.
    EndpointFailed {
        /// `host:port`.
        endpoint: String,
        /// Why.
        reason: String,
        /// Refused for good: it is never tried again.
        permanent: bool,
    },
    /// A status answer of a task being waited for.
    TaskStatus(crate::task::TaskStatus),
    /// New lines of a followed task log, each once, in order.
    LogLines(Vec<crate::task::LogLine>),
    /// One of several tasks waited for was seen running (once per task; a task first seen
    /// ended is only reported as [`Event::TaskFinished`]).
    TaskStarted {
        /// Its index in the list given.
        index: usize,
        /// How many tasks are waited for.
        total: usize,
    },
    /// One of several tasks waited for ended.
    TaskFinished {
        /// Its index in the list given.
        index: usize,
        /// How many have ended so far (this one included).
        finished: usize,
        /// How many tasks are waited for.
        total: usize,
        /// How it ended.
        outcome: crate::task::TaskOutcome,
    },
}

/// A flow: a value the adapter polls with the time and feeds replies to, until it is
/// [`Step::Done`]. See the [module docs](super) for the driving contract.
pub trait Flow: Send + 'static {
    /// What the flow produces.
    type Output;

    /// What to do next, at `now`.
    fn poll(&mut self, now: Now) -> Step<Self::Output>;

    /// The reply to exchange `id`.
    fn handle(&mut self, id: ExchangeId, reply: Reply);

    /// The answer to a [`Step::SecondFactor`]: the factor, or why there is none (the login
    /// then fails with that error).
    fn answer_second_factor(&mut self, answer: Result<SecondFactor, AuthError>);

    /// After [`Step::WaitForLogin`] or [`Step::WaitForSlot`]: register `waker` to be woken
    /// when the login lease or a slot of the node is released. Returns `false` when it
    /// already was (poll again at once).
    fn wake_on_release(&mut self, waker: &Waker) -> bool;
}
