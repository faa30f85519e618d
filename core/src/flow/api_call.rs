//! The API-call flow: plan the auth, claim and perform a login (with TFA) or a renewal, send
//! the call, retry with backoff or log in again after a 401, all within the call's deadline.
//! [`Authenticate`] is the same machine without the call.

use super::client::Shared;
use super::exchange::{EndpointId, Exchange, ExchangeId, ExchangeKind, Payload};
use super::options::Policy;
use super::reply::{HttpReply, Reply, TransportFailure};
use super::step::{Event, Flow, Step};
use super::time::{MonoTime, Now};
use crate::auth::{Auth, AuthError, Login, LoginOutcome, SecondFactor, TfaChallenge, TfaResponse};
use crate::call::Call;
use crate::error::{Error, ProtocolError, RequestLabel, TransportError};
use crate::retry::{Failure, RetryDecision, decide_status_within, decide_within};
use crate::session::{LeaseHolder, Plan};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

/// How long a person may take to answer a second factor before another caller may log in.
const SECOND_FACTOR_LEASE: Duration = Duration::from_secs(300);

/// The flow of one API call, made by [`super::ClientCore::call`]. Its output is the answer to
/// the call, whatever its status: error statuses are answers too (parse them with
/// [`crate::response::parse_envelope`]); only failures on the wire and auth failures are
/// errors.
#[derive(Debug)]
pub struct ApiCall {
    engine: Engine,
}

/// The flow that authenticates a client (login with TFA, or renewal), made by
/// [`super::ClientCore::authenticate`]; its output is the auth to use.
#[derive(Debug)]
pub struct Authenticate {
    engine: Engine,
}

impl ApiCall {
    pub(crate) fn new(shared: Arc<Shared>, call: Call, policy: Policy) -> Self {
        Self {
            engine: Engine::new(shared, Some(call), policy),
        }
    }

    /// A WebSocket upgrade (consoles): the call with the upgrade's headers, sent as an
    /// [`ExchangeKind::WebSocket`] exchange to `endpoint` and no other (the node whose
    /// termproxy answered); a `101` ends it, any other answer too (no re-login or retry on
    /// a status: a refused console ticket does not get better).
    pub(crate) fn upgrade(
        shared: Arc<Shared>,
        call: Call,
        policy: Policy,
        endpoint: EndpointId,
        headers: Vec<(http::header::HeaderName, http::header::HeaderValue)>,
    ) -> Self {
        let mut engine = Engine::new(shared, Some(call), policy);
        engine.upgrade = Some(headers);
        engine.pinned = Some(endpoint);
        Self { engine }
    }

    /// How many attempts of the call were sent so far.
    pub fn attempts(&self) -> u32 {
        self.engine.attempts
    }
}

impl Authenticate {
    pub(crate) fn new(shared: Arc<Shared>, policy: Policy) -> Self {
        Self {
            engine: Engine::new(shared, None, policy),
        }
    }
}

/// What the engine ends with.
enum Outcome {
    Reply(HttpReply),
    Auth(Auth),
}

fn wrong_outcome() -> Error {
    ProtocolError::Malformed {
        what: "flow outcome",
        detail: "the API-call machine ended with the wrong kind of outcome".into(),
    }
    .into()
}

/// The [`Flow`] methods both wrappers hand to their engine.
macro_rules! engine_flow_methods {
    () => {
        fn handle(&mut self, id: ExchangeId, reply: Reply) {
            self.engine.handle(id, reply);
        }

        fn answer_second_factor(&mut self, answer: Result<SecondFactor, AuthError>) {
            self.engine.answer_second_factor(answer);
        }

        fn wake_on_release(&mut self, waker: &Waker) -> bool {
            self.engine.wake_on_release(waker)
        }
    };
}

impl Flow for ApiCall {
    type Output = HttpReply;

    fn poll(&mut self, now: Now) -> Step<HttpReply> {
        self.engine.poll(now).and_then_done(|o| match o {
            Outcome::Reply(r) => Ok(r),
            Outcome::Auth(_) => Err(wrong_outcome()),
        })
    }

    engine_flow_methods!();
}

impl Flow for Authenticate {
    type Output = Auth;

    fn poll(&mut self, now: Now) -> Step<Auth> {
        self.engine.poll(now).and_then_done(|o| match o {
            Outcome::Auth(a) => Ok(a),
            Outcome::Reply(_) => Err(wrong_outcome()),
        })
    }

    engine_flow_methods!();
}

/// The flow of a streamed upload, made by [`super::ClientCore::upload`]: auth as for any call,
/// then one [`ExchangeKind::Upload`] exchange whose [`Payload::HttpStreaming`] body the adapter
/// sends: [`UploadFlow::frame`]'s head, the file's bytes, its tail. Sent once (the body is
/// read as it goes): a failure is never retried. Ends with the UPID of the server's import
/// task.
#[derive(Debug)]
pub struct UploadFlow {
    engine: Engine,
    frame: crate::upload::MultipartFrame,
}

impl UploadFlow {
    pub(crate) fn new(
        shared: Arc<Shared>,
        call: Call,
        frame: crate::upload::MultipartFrame,
        mut policy: Policy,
    ) -> Self {
        // No deadline (a large file takes as long as it takes; the adapter bounds each wait
        // for data), and one attempt: the body is a stream.
        policy.timeout = None;
        policy.max_attempts = 1;
        let mut engine = Engine::new(shared, Some(call), policy);
        engine.stream = Some((frame.content_type().to_owned(), frame.content_length()));
        Self { engine, frame }
    }

    /// The bytes around the file: the adapter sends `head()`, the file, `tail()`.
    pub fn frame(&self) -> &crate::upload::MultipartFrame {
        &self.frame
    }
}

impl Flow for UploadFlow {
    type Output = crate::Upid;

    fn poll(&mut self, now: Now) -> Step<crate::Upid> {
        self.engine.poll(now).and_then_done(|o| match o {
            Outcome::Reply(r) => {
                crate::response::parse_data(r.status, r.reason.as_deref(), &r.body)
            }
            Outcome::Auth(_) => Err(wrong_outcome()),
        })
    }

    engine_flow_methods!();
}

#[derive(Debug)]
enum State {
    /// Decide the auth (use, renew, log in) and send.
    Plan,
    Login {
        login: Login,
        ex: ExchangeId,
    },
    AskSecondFactor {
        challenge: TfaChallenge,
    },
    SendTfa {
        response: TfaResponse,
    },
    Tfa {
        response: TfaResponse,
        ex: ExchangeId,
    },
    Renew {
        ex: ExchangeId,
    },
    Call {
        auth: Auth,
        ex: ExchangeId,
    },
    Backoff {
        until: MonoTime,
    },
    /// Ends with this error at the next poll.
    Failed(Error),
    Finished,
}

struct Engine {
    shared: Arc<Shared>,
    call: Option<Call>,
    /// The call's body is streamed by the adapter (an upload): `Content-Type` and length.
    stream: Option<(String, u64)>,
    policy: Policy,
    /// 0 until this flow claims a lease.
    holder: LeaseHolder,
    started: Option<MonoTime>,
    deadline: Option<MonoTime>,
    /// Attempts of the call (and of a login that never reached the server).
    attempts: u32,
    /// A renewal was tried: use the current ticket even if it is still in its last hour.
    renewal_tried: bool,
    /// The session this flow just logged in with: used as it is, without asking the clock
    /// again (a client clock far ahead of the server's would find every new ticket expired
    /// and log in forever).
    fresh: Option<Auth>,
    next_id: u64,
    state: State,
    reply: Option<(ExchangeId, Reply)>,
    /// The last failure, for the error when the deadline passes.
    last_failure: Option<TransportFailure>,
    /// Events to hand out before the next step.
    events: std::collections::VecDeque<Event>,
    /// Cluster clients: the endpoints this call tried since its last backoff, and where its
    /// exchange in flight went.
    tried: Vec<EndpointId>,
    sent_to: EndpointId,
    /// The endpoint that issued a TFA challenge: the second step goes there.
    tfa_endpoint: Option<EndpointId>,
    /// The in-flight slot the exchange on the wire holds (cluster clients).
    slot: Option<EndpointId>,
    /// An exchange made but not handed out: its node's slots are all taken.
    parked: Option<Exchange>,
    /// A WebSocket upgrade: its headers.
    upgrade: Option<Vec<(http::header::HeaderName, http::header::HeaderValue)>>,
    /// The call goes to this endpoint and no other.
    pinned: Option<EndpointId>,
}

/// Where an exchange may go (cluster clients).
#[derive(Clone, Copy, Debug)]
enum Route {
    /// The call's own exchange: to the node its path names, if any.
    Call,
    /// Login and renewal: anywhere (the session is the cluster's).
    Any,
    /// This endpoint and no other.
    At(EndpointId),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCallFlow")
            .field(
                "call",
                &self.call.as_ref().map(|c| (c.method, c.path.to_string())),
            )
            .field("attempts", &self.attempts)
            .field("state", &std::mem::discriminant(&self.state))
            .finish_non_exhaustive()
    }
}

impl Drop for Engine {
    /// A dropped flow (cancelled, timed out, abandoned) gives its leases and its in-flight
    /// slot back at once.
    fn drop(&mut self) {
        if self.holder != 0 {
            self.release_leases();
        }
        self.release_slot();
    }
}

impl Engine {
    fn new(shared: Arc<Shared>, call: Option<Call>, policy: Policy) -> Self {
        Self {
            shared,
            call,
            stream: None,
            policy,
            holder: 0,
            started: None,
            deadline: None,
            attempts: 0,
            renewal_tried: false,
            fresh: None,
            next_id: 0,
            state: State::Plan,
            reply: None,
            last_failure: None,
            events: std::collections::VecDeque::new(),
            tried: Vec::new(),
            sent_to: EndpointId::PRIMARY,
            tfa_endpoint: None,
            slot: None,
            parked: None,
            upgrade: None,
            pinned: None,
        }
    }

    /// Hand `exchange` out if its node has a free in-flight slot (taking it), or park it and
    /// wait for one.
    fn admit(&mut self, now: Now, exchange: Exchange) -> Step<Outcome> {
        let taken = match self.shared.router() {
            Some(mut router) => router.take_slot(exchange.endpoint),
            None => return Step::Send(exchange),
        };
        if taken {
            self.slot = Some(exchange.endpoint);
            return Step::Send(exchange);
        }
        let wait = self.policy.connect_timeout + self.policy.read_timeout;
        let until = self
            .deadline
            .map_or(now.mono + wait, |d| d.min(now.mono + wait));
        self.parked = Some(exchange);
        Step::WaitForSlot { until }
    }

    /// Give the in-flight slot back (answered, or the flow dropped) and wake who waits.
    fn release_slot(&mut self) {
        let Some(endpoint) = self.slot.take() else {
            return;
        };
        let waiters = match self.shared.router() {
            Some(mut router) => router.release_slot(endpoint),
            None => Vec::new(),
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    fn release_leases(&mut self) {
        let waiters = {
            let mut st = self.shared.lock();
            st.manager.release_renewal(self.holder);
            if st.manager.release_login(self.holder) {
                st.take_waiters()
            } else {
                Vec::new()
            }
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    fn release_login(&mut self) {
        let waiters = {
            let mut st = self.shared.lock();
            st.manager.release_login(self.holder);
            st.take_waiters()
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    fn label(&self, call: Option<&Call>) -> RequestLabel {
        match call.or(self.call.as_ref()) {
            Some(c) => self.shared.label(c.method, c.path.to_string()),
            None => self.login_label(),
        }
    }

    /// The login's request (`POST /access/ticket`), for its errors.
    fn login_label(&self) -> RequestLabel {
        self.shared
            .label(crate::Method::Post, "/access/ticket".into())
    }

    fn transport_error(
        &self,
        mut failure: TransportFailure,
        now: Now,
        call: Option<&Call>,
    ) -> Error {
        if let Some(e) = failure.refused {
            return e.into();
        }
        // A call that tried several endpoints says what became of each.
        if let Some(router) = self.shared.router()
            && router.len() > 1
        {
            failure.message = format!(
                "{}; every endpoint was tried: {}",
                failure.message,
                router.summary()
            );
        }
        Error::Transport(Box::new(TransportError {
            request: self.label(call),
            failure,
            attempts: self.attempts,
            elapsed: now.mono.since(self.started.unwrap_or(now.mono)),
        }))
    }

    fn deadline_error(&self, now: Now) -> Error {
        let t = self.policy.timeout.unwrap_or_default();
        let mut failure = TransportFailure::not_sent(format!(
            "the call's timeout of {:.2} s passed",
            t.as_secs_f64()
        ))
        .timed_out();
        if let Some(last) = &self.last_failure {
            failure.may_have_been_sent = last.may_have_been_sent;
            failure.message = format!("{}; the last attempt: {}", failure.message, last.message);
        }
        self.transport_error(failure, now, None)
    }

    fn finish(&mut self, result: Result<Outcome, Error>) -> Step<Outcome> {
        self.state = State::Finished;
        Step::Done(result)
    }

    fn send(
        &mut self,
        now: Now,
        req: Result<http::Request<crate::request::FormBody>, crate::InputError>,
        route: Route,
    ) -> Result<(ExchangeId, Step<Outcome>), Error> {
        let payload = Payload::Http(req?);
        self.send_payload(now, payload, ExchangeKind::Api, route)
    }

    /// Where a cluster client's exchange goes, with its URL pointed there.
    fn route(&self, now: Now, payload: &mut Payload, route: Route) -> Result<EndpointId, Error> {
        let Some(router) = self.shared.router() else {
            return Ok(EndpointId::PRIMARY);
        };
        let choice = match route {
            Route::At(e) => crate::cluster::Choice::Endpoint(e),
            Route::Any => router.choose(None, &self.tried, now.mono),
            Route::Call => {
                let node = self
                    .call
                    .as_ref()
                    .and_then(|c| crate::cluster::node_of(&c.path));
                router.choose(node, &self.tried, now.mono)
            }
        };
        let endpoint = match choice {
            crate::cluster::Choice::Endpoint(e) => e,
            crate::cluster::Choice::Exhausted => {
                let failure = TransportFailure::not_sent(format!(
                    "no endpoint is left to try: {}",
                    router.summary()
                ))
                .permanent();
                drop(router);
                return Err(self.transport_error(failure, now, None));
            }
        };
        // Endpoint 0 is the target the request builder already addresses.
        if endpoint != EndpointId::PRIMARY
            && let Some(e) = router.endpoint(endpoint)
        {
            retarget(payload, &e.authority());
        }
        Ok(endpoint)
    }

    fn send_payload(
        &mut self,
        now: Now,
        mut payload: Payload,
        kind: ExchangeKind,
        route: Route,
    ) -> Result<(ExchangeId, Step<Outcome>), Error> {
        let remaining = self.deadline.map(|d| now.mono.until(d));
        if remaining == Some(Duration::ZERO) {
            return Err(self.deadline_error(now));
        }
        let endpoint = self.route(now, &mut payload, route)?;
        self.sent_to = endpoint;
        let cut = |t: Duration| remaining.map_or(t, |r| t.min(r));
        let id = ExchangeId(self.next_id);
        self.next_id += 1;
        let exchange = Exchange {
            id,
            kind,
            endpoint,
            payload,
            connect_timeout: cut(self.policy.connect_timeout),
            read_timeout: cut(self.policy.read_timeout),
            deadline: self.deadline,
            body_limit: self.policy.body_limit,
            attempt: self.attempts.saturating_add(1),
        };
        Ok((id, self.admit(now, exchange)))
    }

    fn take_reply(&mut self, ex: ExchangeId) -> Option<Reply> {
        match self.reply.take() {
            Some((id, r)) if id == ex => Some(r),
            other => {
                self.reply = other;
                None
            }
        }
    }

    fn poll(&mut self, now: Now) -> Step<Outcome> {
        if self.started.is_none() {
            self.started = Some(now.mono);
            self.deadline = self.policy.timeout.map(|t| now.mono + t);
            // A client with a schema checks the call before anything is sent.
            if let Some(call) = &self.call
                && let Err(e) = self.shared.check_call(call)
            {
                return self.finish(Err(e));
            }
        }
        loop {
            if let Some(e) = self.events.pop_front() {
                return Step::Event(e);
            }
            // An exchange waiting for a slot of its node: hand it out once one is free.
            if let Some(exchange) = self.parked.take() {
                if self.deadline.is_some_and(|d| now.mono >= d) {
                    let (limit, endpoint) = self.shared.router().map_or((0, String::new()), |r| {
                        let name = r.endpoint(exchange.endpoint).map(|e| e.authority());
                        (r.in_flight_limit(), name.unwrap_or_default())
                    });
                    let failure = TransportFailure::not_sent(format!(
                        "the call's timeout of {:.2} s passed while it waited for one of the \
                         {limit} in-flight slots of {endpoint} (raise max_in_flight_per_node, \
                         or the timeout)",
                        self.policy.timeout.unwrap_or_default().as_secs_f64()
                    ))
                    .timed_out();
                    let e = self.transport_error(failure, now, None);
                    return self.finish(Err(e));
                }
                return self.admit(now, exchange);
            }
            let state = std::mem::replace(&mut self.state, State::Finished);
            match state {
                State::Finished => {
                    return Step::Done(Err(ProtocolError::Malformed {
                        what: "flow",
                        detail: "polled after it was done".into(),
                    }
                    .into()));
                }
                State::Failed(e) => return self.finish(Err(e)),
                State::Plan => {
                    if self.deadline.is_some_and(|d| now.mono >= d) {
                        let e = self.deadline_error(now);
                        return self.finish(Err(e));
                    }
                    return self.plan(now);
                }
                State::Backoff { until } => {
                    if now.mono < until {
                        self.state = State::Backoff { until };
                        return Step::SleepUntil(until);
                    }
                    self.state = State::Plan;
                }
                State::AskSecondFactor { challenge } => {
                    let step = Step::SecondFactor(challenge.clone());
                    self.state = State::AskSecondFactor { challenge };
                    return step;
                }
                State::SendTfa { response } => {
                    let req = self.shared.rb.build(&response.request(), None);
                    let route = self.tfa_endpoint.map_or(Route::Any, Route::At);
                    match self.send(now, req, route) {
                        Ok((ex, step)) => {
                            self.state = State::Tfa { response, ex };
                            return step;
                        }
                        Err(e) => {
                            self.release_login();
                            return self.finish(Err(e));
                        }
                    }
                }
                State::Login { login, ex } => match self.take_reply(ex) {
                    None => {
                        self.state = State::Login { login, ex };
                        return Step::AwaitReplies;
                    }
                    Some(reply) => {
                        if let Some(step) = self.on_login_reply(now, login, reply) {
                            return step;
                        }
                    }
                },
                State::Tfa { response, ex } => match self.take_reply(ex) {
                    None => {
                        self.state = State::Tfa { response, ex };
                        return Step::AwaitReplies;
                    }
                    Some(reply) => {
                        self.learn(now, &reply, false);
                        let result = match reply {
                            Reply::Http(r) => response.handle_http(
                                r.status,
                                r.reason.as_deref(),
                                &r.headers,
                                &r.body,
                            ),
                            Reply::Failed(f) => {
                                Err(self.transport_error(f, now, Some(&response.request())))
                            }
                            Reply::Shell(_) => Err(wrong_reply()),
                        };
                        match result {
                            Ok(session) => self.logged_in(session),
                            Err(e) => {
                                self.release_login();
                                let e = e.with_request(self.login_label());
                                return self.finish(Err(e));
                            }
                        }
                    }
                },
                State::Renew { ex } => match self.take_reply(ex) {
                    None => {
                        self.state = State::Renew { ex };
                        return Step::AwaitReplies;
                    }
                    Some(reply) => {
                        self.learn(now, &reply, false);
                        let renewed = {
                            let mut st = self.shared.lock();
                            let before = st.manager.generation();
                            let _ = match &reply {
                                Reply::Http(r) => st.manager.finish_renewal_http(Ok((
                                    r.status,
                                    r.reason.as_deref(),
                                    &r.headers,
                                    &r.body,
                                ))),
                                _ => st.manager.finish_renewal(Err(())),
                            };
                            st.manager.generation() != before
                        };
                        // A failed renewal leaves the old, still-valid ticket in place.
                        self.renewal_tried = true;
                        if renewed {
                            self.events.push_back(Event::Renewed);
                        }
                        self.state = State::Plan;
                    }
                },
                State::Call { auth, ex } => match self.take_reply(ex) {
                    None => {
                        self.state = State::Call { auth, ex };
                        return Step::AwaitReplies;
                    }
                    Some(reply) => {
                        if let Some(step) = self.on_call_reply(now, auth, reply) {
                            return step;
                        }
                    }
                },
            }
        }
    }

    fn plan(&mut self, now: Now) -> Step<Outcome> {
        if let Some(auth) = self.fresh.take() {
            return self.send_call(now, auth);
        }
        let mut st = self.shared.lock();
        let plan = match st.manager.plan(now.wall) {
            Ok(p) => p,
            Err(e) => {
                drop(st);
                return self.finish(Err(e));
            }
        };
        match plan {
            Plan::Use(auth) => {
                drop(st);
                self.send_call(now, auth)
            }
            Plan::Renew { call, current } => {
                let until = now.mono + self.policy.connect_timeout + self.policy.read_timeout;
                let holder = holder_id(&mut self.holder, &mut st);
                if self.renewal_tried
                    || !st.manager.claim_renewal(&current, holder, now.mono, until)
                {
                    drop(st);
                    return self.send_call(now, current);
                }
                drop(st);
                let req = self.shared.rb.build(&call, None);
                match self.send(now, req, Route::Any) {
                    Ok((ex, step)) => {
                        self.state = State::Renew { ex };
                        step
                    }
                    Err(e) => {
                        self.release_leases();
                        self.finish(Err(e))
                    }
                }
            }
            Plan::Login(login) => {
                let lease = 2 * (self.policy.connect_timeout + self.policy.read_timeout);
                let holder = holder_id(&mut self.holder, &mut st);
                if let Err(until) = st.manager.claim_login(holder, now.mono, now.mono + lease) {
                    drop(st);
                    self.state = State::Plan;
                    let until = self.deadline.map_or(until, |d| d.min(until));
                    return Step::WaitForLogin { until };
                }
                drop(st);
                let req = self.shared.rb.build(&login.request(), None);
                match self.send(now, req, Route::Any) {
                    Ok((ex, step)) => {
                        self.state = State::Login { login, ex };
                        step
                    }
                    Err(e) => {
                        self.release_login();
                        self.finish(Err(e))
                    }
                }
            }
        }
    }

    fn send_call(&mut self, now: Now, auth: Auth) -> Step<Outcome> {
        let Some(call) = &self.call else {
            return self.finish(Ok(Outcome::Auth(auth)));
        };
        let sent = match &self.stream {
            Some((content_type, len)) => {
                let len = *len;
                match self.shared.rb.build_streaming(
                    call.method,
                    &call.path,
                    content_type,
                    len,
                    Some(&auth),
                ) {
                    Ok(head) => {
                        let payload = Payload::HttpStreaming {
                            head,
                            body_len: len,
                        };
                        self.send_payload(now, payload, ExchangeKind::Upload, Route::Call)
                    }
                    Err(e) => Err(e.into()),
                }
            }
            None => {
                let route = self.pinned.map_or(Route::Call, Route::At);
                match &self.upgrade {
                    Some(headers) => match self.shared.rb.build(call, Some(&auth)) {
                        Ok(mut req) => {
                            req.headers_mut().extend(headers.iter().cloned());
                            let payload = Payload::Http(req);
                            self.send_payload(now, payload, ExchangeKind::WebSocket, route)
                        }
                        Err(e) => Err(e.into()),
                    },
                    None => {
                        let req = self.shared.rb.build(call, Some(&auth));
                        self.send(now, req, route)
                    }
                }
            }
        };
        match sent {
            Ok((ex, step)) => {
                self.attempts += 1;
                self.state = State::Call { auth, ex };
                step
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    fn logged_in(&mut self, session: crate::auth::Session) {
        let user = session.username().to_owned();
        self.fresh = Some(Auth::Session(session.clone()));
        let waiters = {
            let mut st = self.shared.lock();
            st.manager.install(session);
            st.manager.release_login(self.holder);
            st.take_waiters()
        };
        waiters.into_iter().for_each(Waker::wake);
        self.events.push_back(Event::LoggedIn { user });
        self.state = State::Plan;
    }

    /// `None` to go on with the next state in the loop.
    fn on_login_reply(&mut self, now: Now, login: Login, reply: Reply) -> Option<Step<Outcome>> {
        self.learn(now, &reply, false);
        match reply {
            Reply::Http(r) => {
                match login.handle_http(r.status, r.reason.as_deref(), &r.headers, &r.body) {
                    Ok(LoginOutcome::Authenticated(session)) => {
                        self.logged_in(session);
                        None
                    }
                    Ok(LoginOutcome::SecondFactor(challenge)) => {
                        // The second step goes to the node that issued the challenge.
                        if self.shared.router.get().is_some() {
                            self.tfa_endpoint = Some(self.sent_to);
                        }
                        // A factor given with the options answers at once; otherwise ask.
                        if let Some(factor) = self.shared.prepared_second_factor.clone() {
                            return match challenge.respond(factor) {
                                Ok(response) => {
                                    self.state = State::SendTfa { response };
                                    None
                                }
                                Err(e) => {
                                    self.release_login();
                                    Some(self.finish(Err(e)))
                                }
                            };
                        }
                        self.shared
                            .lock()
                            .manager
                            .extend_login(self.holder, now.mono + SECOND_FACTOR_LEASE);
                        self.state = State::AskSecondFactor { challenge };
                        None
                    }
                    Err(e) => {
                        self.release_login();
                        let e = e.with_request(self.login_label());
                        Some(self.finish(Err(e)))
                    }
                }
            }
            Reply::Failed(f) => {
                self.release_login();
                // A login that never reached the server may be tried again like any call.
                self.attempts += 1;
                if self.fails_over(&f, crate::Method::Post) {
                    self.last_failure = Some(f);
                    self.state = State::Plan;
                    return None;
                }
                let decision = if f.permanent {
                    RetryDecision::GiveUp
                } else {
                    decide_within(
                        crate::Method::Post,
                        self.shared.auth_kind,
                        &Failure::transport(f.may_have_been_sent),
                        self.attempts - 1,
                        self.policy.max_attempts,
                    )
                };
                if decision == RetryDecision::Retry
                    && let Some(until) = self.backoff(now, &f.message)
                {
                    self.last_failure = Some(f);
                    self.state = State::Backoff { until };
                    return None;
                }
                let e = self.transport_error(f, now, Some(&login.request()));
                Some(self.finish(Err(e)))
            }
            Reply::Shell(_) => {
                self.release_login();
                Some(self.finish(Err(wrong_reply())))
            }
        }
    }

    /// Tell a cluster client's router how the exchange in flight ended; `call`: it was the
    /// call's own (its path's node learns from the status).
    fn learn(&mut self, now: Now, reply: &Reply, call: bool) {
        let Some(mut router) = self.shared.router() else {
            return;
        };
        match reply {
            Reply::Http(r) => {
                router.answered(self.sent_to);
                if let Some(node) = self
                    .call
                    .as_ref()
                    .filter(|_| call)
                    .and_then(|c| crate::cluster::node_of(&c.path))
                {
                    if matches!(r.status, 595 | 596) {
                        router.node_unreachable(node, now.mono);
                    } else {
                        router.node_answered(node);
                    }
                }
            }
            Reply::Failed(f) => {
                router.failed(self.sent_to, now.mono, &f.message, f.permanent);
                let endpoint = router
                    .endpoint(self.sent_to)
                    .map(|e| e.authority())
                    .unwrap_or_default();
                drop(router);
                if !self.tried.contains(&self.sent_to) {
                    self.tried.push(self.sent_to);
                }
                self.events.push_back(Event::EndpointFailed {
                    endpoint,
                    reason: f.message.clone(),
                    permanent: f.permanent,
                });
            }
            Reply::Shell(_) => {}
        }
    }

    /// Whether a cluster call whose exchange failed on the way goes on at once at an endpoint
    /// it has not tried: when the request was never sent, or may be sent again (a GET). A
    /// streamed body is sent once, so an upload never fails over.
    fn fails_over(&self, f: &TransportFailure, method: crate::Method) -> bool {
        self.stream.is_none()
            && (!f.may_have_been_sent || method.is_safe_to_replay())
            && self
                .shared
                .router()
                .is_some_and(|r| r.has_untried(&self.tried))
    }

    /// The instant to retry at, or `None` when the backoff would pass the deadline.
    fn backoff(&mut self, now: Now, reason: &str) -> Option<MonoTime> {
        let after = crate::retry::retry_backoff(self.attempts.saturating_sub(1));
        let until = now.mono + after;
        if self.deadline.is_some_and(|d| until >= d) {
            return None;
        }
        // After the backoff, every endpoint may be tried again.
        self.tried.clear();
        self.events.push_back(Event::Retrying {
            attempts: self.attempts,
            after,
            reason: reason.to_owned(),
        });
        Some(until)
    }

    /// `None` to go on with the next state in the loop.
    fn on_call_reply(&mut self, now: Now, auth: Auth, reply: Reply) -> Option<Step<Outcome>> {
        let Some(call) = &self.call else {
            return Some(self.finish(Err(wrong_outcome())));
        };
        let method = call.method;
        self.learn(now, &reply, true);
        if let Reply::Failed(f) = &reply
            && self.pinned.is_none()
            && self.fails_over(f, method)
        {
            if let Reply::Failed(f) = reply {
                self.last_failure = Some(f);
            }
            self.state = State::Plan;
            return None;
        }
        let attempt = self.attempts.saturating_sub(1);
        let max = self.policy.max_attempts;
        let kind = self.shared.auth_kind;
        let (decision, reason) = match &reply {
            Reply::Http(r) if r.is_success() || self.upgrade.is_some() => {
                (RetryDecision::GiveUp, None)
            }
            Reply::Http(r) => (
                decide_status_within(
                    method,
                    kind,
                    r.status,
                    r.reason.as_deref(),
                    &r.body,
                    attempt,
                    max,
                ),
                Some(format!("HTTP {}", r.status)),
            ),
            Reply::Failed(f) if f.permanent => (RetryDecision::GiveUp, None),
            Reply::Failed(f) => (
                decide_within(
                    method,
                    kind,
                    &Failure::transport(f.may_have_been_sent),
                    attempt,
                    max,
                ),
                Some(f.message.clone()),
            ),
            Reply::Shell(_) => return Some(self.finish(Err(wrong_reply()))),
        };
        match decision {
            RetryDecision::Retry => {
                if let Some(until) = self.backoff(now, reason.as_deref().unwrap_or_default()) {
                    if let Reply::Failed(f) = reply {
                        self.last_failure = Some(f);
                    }
                    self.state = State::Backoff { until };
                    return None;
                }
            }
            RetryDecision::ReloginThenRetry => {
                // The next round logs in again (unless another caller already did).
                if self.shared.lock().manager.invalidate(&auth) {
                    self.events.push_back(Event::Relogin);
                    self.state = State::Plan;
                    return None;
                }
            }
            RetryDecision::GiveUp => {}
        }
        let result = match reply {
            Reply::Http(mut r) => {
                r.attempts = self.attempts;
                r.endpoint = self.sent_to;
                Ok(Outcome::Reply(r))
            }
            Reply::Failed(f) => Err(self.transport_error(f, now, None)),
            Reply::Shell(_) => Err(wrong_reply()),
        };
        Some(self.finish(result))
    }

    fn handle(&mut self, id: ExchangeId, reply: Reply) {
        self.release_slot();
        self.reply = Some((id, reply));
    }

    fn answer_second_factor(&mut self, answer: Result<SecondFactor, AuthError>) {
        let State::AskSecondFactor { challenge } =
            std::mem::replace(&mut self.state, State::Finished)
        else {
            // Not asked: nothing to answer.
            return;
        };
        match answer
            .map_err(Error::from)
            .and_then(|f| challenge.respond(f))
        {
            Ok(response) => self.state = State::SendTfa { response },
            Err(e) => {
                self.release_login();
                self.state = State::Failed(e);
            }
        }
    }

    fn wake_on_release(&mut self, waker: &Waker) -> bool {
        if let Some(exchange) = &self.parked {
            return self
                .shared
                .router()
                .is_some_and(|mut r| r.wait_for_slot(exchange.endpoint, waker));
        }
        let holder = self.holder;
        self.shared.lock().wait_for_login(holder, waker)
    }
}

/// This flow's lease holder number, made on first use.
fn holder_id(holder: &mut LeaseHolder, st: &mut super::client::AuthState) -> LeaseHolder {
    if *holder == 0 {
        *holder = st.new_holder();
    }
    *holder
}

fn wrong_reply() -> Error {
    ProtocolError::Malformed {
        what: "reply",
        detail: "a command's output came back for an HTTP exchange".into(),
    }
    .into()
}

/// Point an exchange's URL at another endpoint (`host:port`): scheme, path and query stay.
fn retarget(payload: &mut Payload, authority: &str) {
    fn swap(uri: &mut http::Uri, authority: &str) {
        let Ok(authority) = authority.parse::<http::uri::Authority>() else {
            return;
        };
        let mut parts = uri.clone().into_parts();
        parts.authority = Some(authority);
        if let Ok(u) = http::Uri::from_parts(parts) {
            *uri = u;
        }
    }
    match payload {
        Payload::Http(r) => swap(r.uri_mut(), authority),
        Payload::HttpStreaming { head, .. } => swap(head.uri_mut(), authority),
        Payload::Command(_) | Payload::CommandInput { .. } => {}
    }
}
