//! A call for a guest wherever it runs: its node from `GET /cluster/resources` (remembered
//! by the client), the call on that node, and one more look and one more try when the answer
//! says the guest is not there (it migrated; see [`guest_not_on_node`]).

use super::client::Shared;
use super::composite::{Machine, MachineFlow, MachineStep};
use super::sub_call::Answer;
use crate::call::Call;
use crate::cluster::{GuestLocation, guest_not_on_node};
use crate::error::{Error, InputError};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

const LOCATE: usize = 0;
const CALL: usize = 1;

enum State {
    /// Look the guest up (again: `relocating`).
    Locate,
    /// Waiting for `/cluster/resources`.
    Locating,
    /// Call it there.
    Call(GuestLocation),
    /// Waiting for the call's answer at that location.
    Calling(GuestLocation),
}

/// The machine of [`GuestCall`].
pub(crate) struct GuestRoute<T> {
    shared: Arc<Shared>,
    vmid: u32,
    /// The call, its path relative to the guest.
    call: Call,
    state: State,
    /// Where the first try went, once it answered that the guest was not there.
    missed: Option<GuestLocation>,
    done: Option<Result<T, Error>>,
    _out: PhantomData<fn() -> T>,
}

impl<T> GuestRoute<T> {
    pub(crate) fn new(shared: Arc<Shared>, vmid: u32, call: Call) -> Self {
        let known = shared
            .guests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&vmid)
            .cloned();
        Self {
            shared,
            vmid,
            call,
            state: known.map_or(State::Locate, State::Call),
            missed: None,
            done: None,
            _out: PhantomData,
        }
    }

    fn remember(&self, at: Option<&GuestLocation>) {
        let mut guests = self
            .shared
            .guests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match at {
            Some(at) => {
                guests.insert(self.vmid, at.clone());
            }
            None => {
                guests.remove(&self.vmid);
            }
        }
    }
}

impl<T: DeserializeOwned + Send + 'static> Machine for GuestRoute<T> {
    type Output = T;

    fn next(&mut self, _wall: Duration) -> MachineStep<T> {
        if let Some(done) = self.done.take() {
            return MachineStep::Done(done);
        }
        match std::mem::replace(&mut self.state, State::Locating) {
            State::Locate => {
                let call = Call::get("cluster/resources").map(|c| c.param("type", "vm"));
                match call {
                    Ok(call) => MachineStep::Call { slot: LOCATE, call },
                    Err(e) => MachineStep::Done(Err(e.into())),
                }
            }
            State::Call(at) => {
                let call = at.path(&self.call.path).map(|path| Call {
                    method: self.call.method,
                    path,
                    params: self.call.params.clone(),
                });
                self.state = State::Calling(at);
                match call {
                    Ok(call) => MachineStep::Call { slot: CALL, call },
                    Err(e) => MachineStep::Done(Err(e.into())),
                }
            }
            waiting @ (State::Locating | State::Calling(_)) => {
                self.state = waiting;
                MachineStep::Await
            }
        }
    }

    fn feed(&mut self, slot: usize, _wall: Duration, answer: Result<Answer, Error>) {
        if slot == LOCATE {
            let found = answer
                .and_then(|a| a.data::<Vec<crate::models::ClusterResource>>())
                .map(|list| GuestLocation::find_in(list, self.vmid));
            match found {
                Ok(Some(at)) if self.missed.as_ref() == Some(&at) => {
                    // Still listed where it was not: answer as the node did.
                    self.done = Some(Err(not_there(self.vmid, &at)));
                }
                Ok(Some(at)) => {
                    self.remember(Some(&at));
                    self.state = State::Call(at);
                }
                Ok(None) => {
                    self.remember(None);
                    self.done = Some(Err(InputError::Invalid {
                        what: "guest",
                        reason: format!(
                            "no VM or container {} in /cluster/resources: it does not exist, or \
                             this user may not see it (VM.Audit on /vms/{})",
                            self.vmid, self.vmid
                        ),
                    }
                    .into()));
                }
                Err(e) => self.done = Some(Err(e)),
            }
            return;
        }
        let State::Calling(at) = std::mem::replace(&mut self.state, State::Locating) else {
            return;
        };
        let result = answer.and_then(|a| a.data::<T>());
        match result {
            Err(e) if self.missed.is_none() && guest_not_on_node(&e, self.vmid) => {
                // Migrated since it was found: look again, once.
                self.remember(None);
                self.missed = Some(at);
                self.state = State::Locate;
            }
            other => self.done = Some(other),
        }
    }
}

/// The guest is listed on a node that says it does not have it.
fn not_there(vmid: u32, at: &GuestLocation) -> Error {
    InputError::Invalid {
        what: "guest",
        reason: format!(
            "guest {vmid} is listed on node {} by /cluster/resources, and that node says its \
             configuration does not exist there (a migration under way?); try again shortly",
            at.node
        ),
    }
    .into()
}

/// The flow of [`super::ClientCore::guest_call`]: finds guest `vmid`'s node (from
/// `/cluster/resources`, remembered by the client), makes the call below
/// `/nodes/{node}/{qemu|lxc}/{vmid}/`, and when the node answers that the guest is not there
/// (it migrated), looks again and tries once more at the new node. Ends with the call's
/// `data` as `T`.
pub struct GuestCall<T: DeserializeOwned + Send + 'static>(pub(crate) MachineFlow<GuestRoute<T>>);

impl<T: DeserializeOwned + Send + 'static> std::fmt::Debug for GuestCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GuestCall").field(&self.0).finish()
    }
}

impl<T: DeserializeOwned + Send + 'static> super::Flow for GuestCall<T> {
    type Output = T;

    fn poll(&mut self, now: super::Now) -> super::Step<T> {
        self.0.poll(now)
    }

    fn handle(&mut self, id: super::ExchangeId, reply: super::Reply) {
        self.0.handle(id, reply);
    }

    fn answer_second_factor(
        &mut self,
        answer: Result<crate::auth::SecondFactor, crate::auth::AuthError>,
    ) {
        self.0.answer_second_factor(answer);
    }

    fn wake_on_release(&mut self, waker: &std::task::Waker) -> bool {
        self.0.wake_on_release(waker)
    }
}
