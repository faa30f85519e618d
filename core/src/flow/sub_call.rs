//! One call inside a composite flow, on whichever wire the client has: an [`ApiCall`] over
//! HTTP, or a [`ShellCall`] over `pvesh`. The composites (task machines, `download-url`, data
//! calls) are written once against [`SubCall`] and its [`Answer`].

use super::api_call::ApiCall;
use super::client::Shared;
use super::exchange::ExchangeId;
use super::options::Policy;
use super::reply::{HttpReply, Reply, ShellReply};
use super::shell_call::ShellCall;
use super::step::{Flow, Step};
use super::time::Now;
use crate::auth::{AuthError, SecondFactor};
use crate::call::Call;
use crate::error::Error;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::task::Waker;

/// What a call came back with, on either wire.
#[derive(Debug)]
pub(crate) enum Answer {
    Http(HttpReply),
    Shell(ShellReply),
}

impl Answer {
    /// The `data` as `T` (an error status or a failed command is the typed error).
    pub(crate) fn data<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match self {
            Answer::Http(r) => crate::response::parse_data(r.status, r.reason.as_deref(), &r.body),
            Answer::Shell(s) => crate::command::parse_data(&s.stdout, &s.stderr, s.exit),
        }
    }

    /// The `data` and the `total` next to it (pvesh prints `data` only: no total).
    pub(crate) fn envelope<T: DeserializeOwned>(&self) -> Result<(T, Option<u64>), Error> {
        match self {
            Answer::Http(r) => {
                let env =
                    crate::response::parse_envelope::<T>(r.status, r.reason.as_deref(), &r.body)?;
                Ok((env.data, env.total))
            }
            Answer::Shell(_) => Ok((self.data()?, None)),
        }
    }
}

/// A call on the client's wire. Not boxed: the HTTP variant, the large one, is the common one.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum SubCall {
    Http(ApiCall),
    Shell(ShellCall),
}

impl SubCall {
    pub(crate) fn new(shared: Arc<Shared>, call: Call, policy: Policy) -> Self {
        if shared.shell.is_some() {
            SubCall::Shell(ShellCall::new(shared, call, policy))
        } else {
            SubCall::Http(ApiCall::new(shared, call, policy))
        }
    }
}

impl Flow for SubCall {
    type Output = Answer;

    fn poll(&mut self, now: Now) -> Step<Answer> {
        match self {
            SubCall::Http(c) => c.poll(now).and_then_done(|r| Ok(Answer::Http(r))),
            SubCall::Shell(c) => c.poll(now).and_then_done(|r| Ok(Answer::Shell(r))),
        }
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        match self {
            SubCall::Http(c) => c.handle(id, reply),
            SubCall::Shell(c) => c.handle(id, reply),
        }
    }

    fn answer_second_factor(&mut self, answer: Result<SecondFactor, AuthError>) {
        match self {
            SubCall::Http(c) => c.answer_second_factor(answer),
            SubCall::Shell(c) => c.answer_second_factor(answer),
        }
    }

    fn wake_on_release(&mut self, waker: &Waker) -> bool {
        match self {
            SubCall::Http(c) => c.wake_on_release(waker),
            SubCall::Shell(c) => c.wake_on_release(waker),
        }
    }
}
