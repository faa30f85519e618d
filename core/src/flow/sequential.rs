//! The part of a driver loop that needs no I/O, written once for every driver.

use super::exchange::Exchange;
use super::step::{Event, Flow, Step};
use super::time::{MonoTime, Now};
use crate::error::Error;

/// What a driver still has to do itself, after [`next_io`] handled the steps that need no
/// I/O. Exhaustive.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum IoStep<T> {
    /// Perform the exchange, then [`Flow::handle`] its reply.
    Send(Exchange),
    /// Sleep until this instant.
    SleepUntil(MonoTime),
    /// Every exchange handed out is unanswered: feed a reply first (a driver that answers
    /// each exchange before it polls again never sees this).
    AwaitReplies,
    /// Another caller is logging in: register a waker with [`Flow::wake_on_release`] and wait
    /// until it is woken, or until `until`.
    WaitForLogin {
        /// When the other caller's lease ends.
        until: MonoTime,
    },
    /// Every in-flight slot of the node the exchange goes to is taken: register a waker with
    /// [`Flow::wake_on_release`] and wait until it is woken, or until `until`.
    WaitForSlot {
        /// When to poll again at the latest.
        until: MonoTime,
    },
    /// The server wants a second factor and none was given with the client's options: ask
    /// for one (a callback, a person) and answer with [`Flow::answer_second_factor`] (an
    /// error, [`crate::auth::AuthError::SecondFactorRequired`], when there is none).
    SecondFactor(crate::auth::TfaChallenge),
    /// The flow is over.
    Done(Result<T, Error>),
}

/// Poll `flow` until it needs I/O or an answer: events go to `on_event`.
pub fn next_io<F: Flow>(
    flow: &mut F,
    now: Now,
    on_event: &mut dyn FnMut(Event),
) -> IoStep<F::Output> {
    loop {
        match flow.poll(now) {
            Step::Send(exchange) => return IoStep::Send(exchange),
            Step::SleepUntil(t) => return IoStep::SleepUntil(t),
            Step::WaitForLogin { until } => return IoStep::WaitForLogin { until },
            Step::WaitForSlot { until } => return IoStep::WaitForSlot { until },
            Step::Done(result) => return IoStep::Done(result),
            Step::SecondFactor(challenge) => return IoStep::SecondFactor(challenge),
            Step::Event(event) => {
                crate::trace::event(&event);
                on_event(event)
            }
            Step::AwaitReplies => return IoStep::AwaitReplies,
        }
    }
}
