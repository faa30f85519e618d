//! Flows built from API calls: a [`Machine`] (a task waiter, a log follower, a set of
//! waiters, a log reader) decides which calls to make; [`MachineFlow`] runs each as an
//! API call on the client's wire ([`super::ApiCall`] over HTTP with auth, retries and
//! deadline; [`super::ShellCall`] over `pvesh`), several at once when the
//! machine asks for several, and hands the machine their answers.

use super::client::Shared;
use super::exchange::ExchangeId;
use super::options::Policy;
use super::reply::Reply;
use super::step::{Event, Flow, Step};
use super::sub_call::{Answer, SubCall};
use super::time::{MonoTime, Now};
use crate::auth::{AuthError, SecondFactor};
use crate::call::Call;
use crate::error::{Error, ProtocolError};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

/// What a machine wants next. Its clock is the wall clock (the task machines compare with
/// the server's task times).
pub(crate) enum MachineStep<T> {
    /// Make this call for `slot` (answer with [`Machine::feed`] and the same slot).
    Call { slot: usize, call: Call },
    /// Tell the caller.
    Event(Event),
    /// Nothing to call before this wall-clock time.
    SleepUntil(Duration),
    /// Every call it wants is under way.
    Await,
    /// Finished.
    Done(Result<T, Error>),
}

/// A machine whose requests are API calls.
pub(crate) trait Machine: Send + 'static {
    type Output;
    fn next(&mut self, wall: Duration) -> MachineStep<Self::Output>;
    /// The outcome of the call made for `slot`: the answer (any status), or the error the
    /// call ended with (the sub-flow already retried what the retry rules allow).
    fn feed(&mut self, slot: usize, wall: Duration, answer: Result<Answer, Error>);
}

/// Sub-flow exchange ids are made unique by their slot: `slot << 32 | id`.
const SLOT_SHIFT: u32 = 32;

/// A flow that runs a [`Machine`]'s calls as sub-flows on the client's wire.
pub(crate) struct MachineFlow<M: Machine> {
    shared: Arc<Shared>,
    policy: Policy,
    machine: M,
    calls: Vec<(usize, SubCall)>,
    /// The slot whose call asked for a second factor.
    asking: Option<usize>,
}

impl<M: Machine> std::fmt::Debug for MachineFlow<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineFlow")
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl<M: Machine> MachineFlow<M> {
    pub(crate) fn new(shared: Arc<Shared>, policy: Policy, machine: M) -> Self {
        Self {
            shared,
            policy,
            machine,
            calls: Vec::new(),
            asking: None,
        }
    }
}

/// A step of a sub-flow handed out as a step of the composite (never `Done`).
fn pass<T>(step: Step<Answer>, slot: usize) -> Step<T> {
    step.pass_up(|id| ExchangeId(((slot as u64) << SLOT_SHIFT) | id.0))
}

fn earliest(a: Option<MonoTime>, b: MonoTime) -> Option<MonoTime> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl<M: Machine> Flow for MachineFlow<M>
where
    M::Output: Send,
{
    type Output = M::Output;

    fn poll(&mut self, now: Now) -> Step<M::Output> {
        loop {
            // The sub-calls first: hand out what they want, feed what they finished.
            let mut sleep: Option<MonoTime> = None;
            let mut login: Option<MonoTime> = None;
            let mut slot_wait: Option<MonoTime> = None;
            let mut awaiting = false;
            let mut i = 0;
            let mut fed = false;
            while i < self.calls.len() {
                let slot = self.calls[i].0;
                match self.calls[i].1.poll(now) {
                    Step::Done(result) => {
                        self.calls.remove(i);
                        self.machine.feed(slot, now.wall, result);
                        fed = true;
                        continue;
                    }
                    Step::AwaitReplies => awaiting = true,
                    Step::SleepUntil(t) => sleep = earliest(sleep, t),
                    Step::WaitForLogin { until } => login = earliest(login, until),
                    Step::WaitForSlot { until } => slot_wait = earliest(slot_wait, until),
                    Step::SecondFactor(c) => {
                        self.asking = Some(slot);
                        return Step::SecondFactor(c);
                    }
                    other => return pass(other, slot),
                }
                i += 1;
            }
            if fed {
                continue;
            }
            // Then the machine.
            match self.machine.next(now.wall) {
                MachineStep::Call { slot, call } => {
                    let sub = SubCall::new(self.shared.clone(), call, self.policy.clone());
                    self.calls.push((slot, sub));
                    continue;
                }
                MachineStep::Event(e) => return Step::Event(e),
                MachineStep::Done(result) => return Step::Done(result),
                MachineStep::SleepUntil(t) => {
                    // At least a millisecond, so a clock that does not follow real time
                    // cannot spin.
                    let wait = t.saturating_sub(now.wall).max(Duration::from_millis(1));
                    sleep = earliest(sleep, now.mono + wait);
                }
                MachineStep::Await => {}
            }
            // Waiting for a login or a slot: the driver registers one waker for both (the
            // sub-calls that wait each register it).
            if !awaiting {
                let cap = |until: MonoTime| sleep.map_or(until, |s| s.min(until));
                match (login, slot_wait) {
                    (Some(l), s) => {
                        return Step::WaitForLogin {
                            until: cap(s.map_or(l, |s| s.min(l))),
                        };
                    }
                    (None, Some(s)) => return Step::WaitForSlot { until: cap(s) },
                    (None, None) => {}
                }
            }
            return match sleep {
                Some(t) => Step::SleepUntil(t),
                None if awaiting || login.is_some() || slot_wait.is_some() => Step::AwaitReplies,
                None => Step::Done(Err(ProtocolError::Malformed {
                    what: "flow",
                    detail: "the machine waits for calls that are not under way".into(),
                }
                .into())),
            };
        }
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        let slot = (id.0 >> SLOT_SHIFT) as usize;
        let inner = ExchangeId(id.0 & ((1u64 << SLOT_SHIFT) - 1));
        if let Some((_, call)) = self.calls.iter_mut().find(|(s, _)| *s == slot) {
            call.handle(inner, reply);
        }
    }

    fn answer_second_factor(&mut self, answer: Result<SecondFactor, AuthError>) {
        let asking = self.asking.take();
        if let Some((_, call)) = self.calls.iter_mut().find(|(s, _)| Some(*s) == asking) {
            call.answer_second_factor(answer);
        }
    }

    fn wake_on_release(&mut self, waker: &Waker) -> bool {
        self.calls
            .iter_mut()
            .any(|(_, call)| call.wake_on_release(waker))
    }
}

/// A public flow type over a [`MachineFlow`]: `machine_flow!(Name, Machine, Output, "docs")`.
macro_rules! machine_flow {
    ($name:ident, $machine:ty, $output:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name(pub(crate) $crate::flow::composite::MachineFlow<$machine>);

        impl $crate::flow::Flow for $name {
            type Output = $output;

            fn poll(&mut self, now: $crate::flow::Now) -> $crate::flow::Step<$output> {
                self.0.poll(now)
            }

            fn handle(&mut self, id: $crate::flow::ExchangeId, reply: $crate::flow::Reply) {
                self.0.handle(id, reply);
            }

            fn answer_second_factor(
                &mut self,
                answer: Result<$crate::auth::SecondFactor, $crate::auth::AuthError>,
            ) {
                self.0.answer_second_factor(answer);
            }

            fn wake_on_release(&mut self, waker: &std::task::Waker) -> bool {
                self.0.wake_on_release(waker)
            }
        }
    };
}
pub(crate) use machine_flow;
