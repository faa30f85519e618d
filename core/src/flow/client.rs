//! [`ClientCore`]: what every flow of one client shares (request builder, session and leases,
//! policy), and where flows are made.

use super::api_call::{ApiCall, Authenticate, UploadFlow};
use super::composite::MachineFlow;
use super::discover::DiscoverCluster;
use super::files::{DataCall, DiscoverChecksum, DownloadUrlFlow};
use super::options::{CallOptions, Policy};
use super::shell_call::ShellCall;
use super::sub_call::SubCall;
use super::tasks::{
    FollowLog, FollowOne, ReadLog, ReadTaskLog, WaitOne, WaitTask, WaitTasks, WatchMany,
};
use crate::auth::Session;
use crate::call::Call;
use crate::options::ValidatedOptions;
use crate::request::RequestBuilder;
use crate::service::AuthKind;
use crate::session::{LeaseHolder, SessionManager};
use crate::target::Target;
use crate::task::WaitOptions;
use crate::upid::Upid;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

/// The protocol side of one client: its request builder, its session (with the login and
/// renewal leases) and its policy. Cheap to clone; clones share everything. Adapters hold one
/// and ask it for flows ([`ClientCore::call`], [`ClientCore::authenticate`]), which they drive.
///
/// The lock inside is never held while a flow is suspended: flows take it for a few
/// instructions in `poll` and `handle`.
#[derive(Clone)]
pub struct ClientCore {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) rb: RequestBuilder,
    /// The shell wire (`pvesh` locally or over SSH): calls become commands, no auth.
    pub(crate) shell: Option<ShellWire>,
    /// The second factor given with the options: a login answers the server's challenge with
    /// it without asking (only without one does a flow hand out `Step::SecondFactor`).
    pub(crate) prepared_second_factor: Option<crate::auth::SecondFactor>,
    pub(crate) auth: Mutex<AuthState>,
    pub(crate) auth_kind: AuthKind,
    pub(crate) policy: Policy,
    /// A cluster client's endpoints and what it learnt of them (unset: one endpoint, until
    /// discovery finds more).
    pub(crate) router: std::sync::OnceLock<Mutex<crate::cluster::Router>>,
    /// The pin store, when the client has one (discovery teaches it the nodes' certificates).
    pub(crate) pins: Option<crate::options::PinOptions>,
    /// Where guests were found by [`ClientCore::guest_call`], by id.
    pub(crate) guests: Mutex<std::collections::HashMap<u32, crate::cluster::GuestLocation>>,
    /// The schema every call is checked against before it is sent, once set.
    #[cfg(feature = "schema")]
    pub(crate) schema: std::sync::OnceLock<crate::schema::Schema>,
}

impl Shared {
    /// `call` checked against the client's schema, if it has one (the error is shaped like
    /// PVE's 400 and says that nothing was sent).
    pub(crate) fn check_call(&self, call: &Call) -> Result<(), crate::Error> {
        #[cfg(feature = "schema")]
        if let Some(schema) = self.schema.get() {
            return schema.check(call, self.auth_kind).map_err(|e| {
                let mut e = e.into_error();
                if let crate::Error::Api(api) = &mut e {
                    api.checked_locally = true;
                }
                e
            });
        }
        let _ = call;
        Ok(())
    }
}

/// How calls become commands on the shell wire, and the host errors name.
pub(crate) struct ShellWire {
    pub(crate) commands: crate::command::CommandBuilder,
    pub(crate) host: String,
}

pub(crate) struct AuthState {
    pub(crate) manager: SessionManager,
    /// Flows waiting for another flow's login.
    waiters: Vec<Waker>,
    next_holder: LeaseHolder,
}

impl AuthState {
    /// A lease holder number for a flow (never 0, the anonymous holder).
    pub(crate) fn new_holder(&mut self) -> LeaseHolder {
        self.next_holder += 1;
        self.next_holder
    }

    /// Register a waiter for the end of a login that `holder` does not hold; `false` when no
    /// such login is under way.
    pub(crate) fn wait_for_login(&mut self, holder: LeaseHolder, waker: &Waker) -> bool {
        match self.manager.login_lease(crate::flow::MonoTime::ZERO) {
            Some(l) if l.holder != holder => {
                if !self.waiters.iter().any(|w| w.will_wake(waker)) {
                    self.waiters.push(waker.clone());
                }
                true
            }
            _ => false,
        }
    }

    /// The waiters to wake (after the lock is released) when a login ended.
    pub(crate) fn take_waiters(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.waiters)
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The session stays out: it holds the ticket.
        f.debug_struct("Shared")
            .field("target", self.rb.target())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// How errors name a request: method, path (never the query) and the host it went to
    /// (`host:port`, or the SSH host on the shell wire). Every flow and client uses this one.
    pub(crate) fn label(&self, method: crate::Method, path: String) -> crate::RequestLabel {
        let host = match &self.shell {
            Some(wire) => wire.host.clone(),
            None => self.rb.target().authority(),
        };
        crate::RequestLabel { method, path, host }
    }

    /// The cluster router, locked (`None`: a client of one endpoint).
    pub(crate) fn router(&self) -> Option<MutexGuard<'_, crate::cluster::Router>> {
        self.router
            .get()
            .map(|r| r.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The router, made with the target as its one endpoint if there is none yet (discovery
    /// on a client of one endpoint).
    pub(crate) fn router_or_init(&self) -> MutexGuard<'_, crate::cluster::Router> {
        self.router
            .get_or_init(|| {
                Mutex::new(crate::cluster::Router::new(vec![
                    crate::cluster::Endpoint::from_target(self.rb.target().clone()),
                ]))
            })
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCore")
            .field("target", self.shared.rb.target())
            .field("auth", &self.shared.auth_kind)
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

impl ClientCore {
    /// A core from checked options and the request builder the adapter configured (user agent,
    /// gzip, ticket placement).
    pub fn new(rb: RequestBuilder, session: SessionManager, policy: Policy) -> Self {
        let auth_kind = session.auth_kind();
        Self {
            shared: Arc::new(Shared {
                rb,
                shell: None,
                prepared_second_factor: None,
                auth: Mutex::new(AuthState {
                    manager: session,
                    waiters: Vec::new(),
                    next_holder: 0,
                }),
                auth_kind,
                policy,
                router: std::sync::OnceLock::new(),
                pins: None,
                guests: Mutex::new(std::collections::HashMap::new()),
                #[cfg(feature = "schema")]
                schema: std::sync::OnceLock::new(),
            }),
        }
    }

    /// A core from [`ValidatedOptions`]; `configure` adjusts the request builder (user agent,
    /// gzip, ticket placement).
    pub fn from_options(
        v: ValidatedOptions,
        configure: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Self {
        let policy = Policy {
            timeout: v.timeout,
            connect_timeout: v.connect_timeout,
            read_timeout: v.read_timeout,
            body_limit: v.body_limit,
            max_attempts: v.max_attempts,
        };
        let mut core = Self::new(configure(RequestBuilder::new(v.target)), v.session, policy);
        if let Some(shared) = Arc::get_mut(&mut core.shared) {
            shared.prepared_second_factor = v.second_factor;
            shared.pins = v.tls.pins.clone();
            #[cfg(feature = "schema")]
            if let Some(schema) = v.schema {
                let _ = shared.schema.set(schema);
            }
            if v.endpoints.is_some()
                || !v.node_addresses.is_empty()
                || !v.node_affinity
                || v.per_node_in_flight.is_some()
            {
                let endpoints = v.endpoints.unwrap_or_else(|| {
                    vec![crate::cluster::Endpoint::from_target(
                        shared.rb.target().clone(),
                    )]
                });
                let mut router = crate::cluster::Router::new(endpoints);
                router.set_affinity(v.node_affinity);
                router.set_addresses(v.node_addresses);
                if let Some(n) = v.per_node_in_flight {
                    router.set_in_flight_limit(n);
                }
                shared.router = Mutex::new(router).into();
            }
        }
        core
    }

    /// A core for the shell wire: every call becomes a `pvesh`/`pmgsh` command built by
    /// `commands` ([`ClientCore::shell_call`]; the composite flows — tasks, logs, data calls —
    /// run their calls that way too). No auth (the command runs as the node's user), no
    /// retries (a command that failed on the way may have run). `host` names the node in
    /// errors; `timeout` and `body_limit` bound every command (and its output).
    pub fn shell(
        service: crate::Service,
        commands: crate::command::CommandBuilder,
        host: &str,
        timeout: std::time::Duration,
        body_limit: u64,
    ) -> Self {
        let policy = Policy {
            timeout: Some(timeout),
            connect_timeout: timeout,
            read_timeout: timeout,
            body_limit,
            max_attempts: 1,
        };
        let target = crate::Target::parse(service, host)
            .or_else(|_| crate::Target::parse(service, "localhost"));
        let rb = match target {
            Ok(t) => RequestBuilder::new(t),
            // "localhost" always parses.
            Err(_) => RequestBuilder::new(
                crate::Target::parse(crate::Service::Pve, "localhost")
                    .unwrap_or_else(|_| unreachable!()),
            ),
        };
        let session = SessionManager::new(service, crate::session::Credentials::Node);
        let mut core = Self::new(rb, session, policy);
        if let Some(shared) = Arc::get_mut(&mut core.shared) {
            shared.shell = Some(ShellWire {
                commands,
                host: host.to_owned(),
            });
        }
        core
    }

    /// The flow of one call over the shell wire (see [`ClientCore::shell`]); ends with what
    /// the command left, whatever its exit code.
    pub fn shell_call(&self, call: Call, opts: &CallOptions) -> ShellCall {
        ShellCall::new(self.shared.clone(), call, self.shared.policy.for_call(opts))
    }

    /// The upload flow of the shell wire (see [`super::ShellUploadFlow`]): stage `len` bytes
    /// at the upload's staging path (within `upload_timeout`), complete, clean up on failure.
    pub fn shell_upload(
        &self,
        upload: crate::command::ShellUpload,
        len: u64,
        upload_timeout: Option<std::time::Duration>,
    ) -> Result<super::ShellUploadFlow, crate::Error> {
        super::ShellUploadFlow::new(self.shared.clone(), upload, len, upload_timeout)
    }

    /// The flow of one API call: auth (login with TFA, renewal, re-login after a 401), the
    /// request, retries with backoff, all within the call's deadline.
    pub fn call(&self, call: Call, opts: &CallOptions) -> ApiCall {
        ApiCall::new(self.shared.clone(), call, self.shared.policy.for_call(opts))
    }

    /// The flow of a streamed upload (see [`UploadFlow`]): `upload` with its checksum, and 16
    /// random bytes for the multipart boundary (the core has no randomness). The adapter
    /// sends the frame's head, the file and the frame's tail as the exchange's body.
    ///
    /// ```
    /// use proxmox_proto::flow::{ClientCore, ExchangeKind, Flow, HttpReply, MonoTime, Now, Payload, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::upload::{Upload, UploadContent};
    /// use proxmox_proto::TransportKind;
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("pve1.example.com");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let upload = Upload::new("pve1", "local", UploadContent::Iso, "tiny.iso", 4).unwrap();
    /// let mut flow = core.upload(upload, &[7; 16]).unwrap();
    /// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
    /// let upid = "UPID:pve1:00000004:00000004:65000000:imgcopy::root@pam:";
    /// let done = loop {
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => {
    ///             assert_eq!(ex.kind, ExchangeKind::Upload);
    ///             let Payload::HttpStreaming { head, body_len } = &ex.payload else { unreachable!() };
    ///             let frame = flow.frame();
    ///             let mut body = frame.head().to_vec();
    ///             body.extend_from_slice(b"DATA");
    ///             body.extend_from_slice(frame.tail());
    ///             assert_eq!(body.len() as u64, *body_len);
    ///             assert_eq!(head.headers()["content-length"], body_len.to_string().as_str());
    ///             let answer = format!(r#"{{"data":"{upid}"}}"#).into_bytes();
    ///             flow.handle(ex.id, Reply::Http(HttpReply::new(200, None, answer)));
    ///         }
    ///         Step::Done(upid) => break upid.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// assert_eq!(done.to_string(), upid);
    /// ```
    pub fn upload(
        &self,
        upload: crate::upload::Upload,
        boundary_random: &[u8; 16],
    ) -> Result<UploadFlow, crate::Error> {
        let frame = upload.frame(&crate::upload::boundary_from_random(boundary_random))?;
        let call = upload.call()?;
        Ok(UploadFlow::new(
            self.shared.clone(),
            call,
            frame,
            self.shared.policy.clone(),
        ))
    }

    /// The flow that makes sure the client is authenticated (logs in, or renews a ticket in its
    /// last hour) and ends with the auth to use.
    pub fn authenticate(&self) -> Authenticate {
        Authenticate::new(self.shared.clone(), self.shared.policy.clone())
    }

    /// The flow that waits for a task to end (statuses as [`super::Event::TaskStatus`]).
    ///
    /// Driven on canned bytes: the task runs at the first poll and stops at the second.
    ///
    /// ```
    /// use proxmox_proto::flow::{ClientCore, Event, Flow, HttpReply, MonoTime, Now, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::task::{TaskOutcome, WaitOptions};
    /// use proxmox_proto::TransportKind;
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("pve1.example.com");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let upid = "UPID:pve1:00000001:00000001:65000000:qmstart:100:root@pam:".parse().unwrap();
    /// let mut flow = core.wait_task(upid, WaitOptions::default());
    /// let mut answers = vec![
    ///     br#"{"data":{"status":"stopped","exitstatus":"OK"}}"#.to_vec(),
    ///     br#"{"data":{"status":"running"}}"#.to_vec(),
    /// ];
    /// let (mut ms, mut statuses) = (0u64, 0);
    /// let outcome = loop {
    ///     let now = Now::new(MonoTime::from_duration(Duration::from_millis(ms)),
    ///                        Duration::from_secs(1_700_000_000) + Duration::from_millis(ms));
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => {
    ///             let body = answers.pop().unwrap();
    ///             flow.handle(ex.id, Reply::Http(HttpReply::new(200, None, body)));
    ///         }
    ///         Step::Event(Event::TaskStatus(_)) => statuses += 1,
    ///         Step::SleepUntil(t) => ms = t.as_duration().as_millis() as u64,
    ///         Step::Done(outcome) => break outcome.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// assert_eq!(outcome, TaskOutcome::Ok);
    /// assert_eq!((statuses, ms), (2, 250), "one wait of 250 ms between the two status requests");
    /// ```
    pub fn wait_task(&self, upid: Upid, options: WaitOptions) -> WaitTask {
        WaitTask(MachineFlow::new(
            self.shared.clone(),
            self.shared.policy.clone(),
            WaitOne::new(upid, options),
        ))
    }

    /// The flow that waits for many tasks at once with one task-list request per node per
    /// tick ([`crate::task::TaskWatcher`]: `GET /nodes/{node}/tasks`, paged; a task's own
    /// status only when the lists cannot settle it). A task seen running comes as
    /// [`super::Event::TaskStarted`], each end as [`super::Event::TaskFinished`]; outcomes in
    /// input order. PMG has no usable listing: its tasks are polled one status request each.
    ///
    /// Driven on canned bytes: two tasks on one node cost one listing per tick; the failed
    /// one's log tail is fetched.
    ///
    /// ```
    /// use proxmox_proto::flow::{ClientCore, Event, Flow, HttpReply, MonoTime, Now, Payload, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::task::{TaskOutcome, WaitOptions};
    /// use proxmox_proto::{TransportKind, Upid};
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("pve1.example.com");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let (a, b) = (
    ///     "UPID:pve1:00000001:00000001:65000000:qmstart:100:root@pam:",
    ///     "UPID:pve1:00000002:00000002:65000000:qmstart:101:root@pam:",
    /// );
    /// let upids: Vec<Upid> = [a, b].iter().map(|u| u.parse().unwrap()).collect();
    /// let mut flow = core.wait_tasks(&upids, WaitOptions::default());
    /// let mut now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
    /// let (mut sent, mut paths, mut started, mut finished) = (Vec::new(), Vec::new(), 0, 0);
    /// let outcomes = loop {
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => sent.push(ex),
    ///         Step::AwaitReplies => {
    ///             for ex in sent.drain(..) {
    ///                 let Payload::Http(req) = &ex.payload else { unreachable!() };
    ///                 let path = req.uri().path().to_owned();
    ///                 let listings = paths.iter().filter(|p: &&String| p.ends_with("/tasks")).count();
    ///                 let body = if path.ends_with("/log") {
    ///                     r#"{"data":[{"n":1,"t":"TASK ERROR: some error"}],"total":1}"#.to_owned()
    ///                 } else if listings == 0 {
    ///                     format!(r#"{{"data":[{{"upid":"{a}","status":"RUNNING"}},{{"upid":"{b}","status":"RUNNING"}}],"total":2}}"#)
    ///                 } else {
    ///                     format!(r#"{{"data":[{{"upid":"{a}","endtime":1700000001,"status":"OK"}},{{"upid":"{b}","endtime":1700000001,"status":"some error"}}],"total":2}}"#)
    ///                 };
    ///                 paths.push(path);
    ///                 flow.handle(ex.id, Reply::Http(HttpReply::new(200, None, body.into_bytes())));
    ///             }
    ///         }
    ///         Step::SleepUntil(t) => now = Now::new(t, now.wall + t.since(now.mono)),
    ///         Step::Event(Event::TaskStarted { .. }) => started += 1,
    ///         Step::Event(Event::TaskFinished { .. }) => finished += 1,
    ///         Step::Done(outcomes) => break outcomes.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// assert_eq!(paths, ["/api2/json/nodes/pve1/tasks", "/api2/json/nodes/pve1/tasks",
    ///     &format!("/api2/json/nodes/pve1/tasks/{b}/log")]);
    /// assert_eq!((started, finished), (2, 2));
    /// assert_eq!(outcomes[0], TaskOutcome::Ok);
    /// assert!(matches!(outcomes[1], TaskOutcome::Failed { .. }), "{:?}", outcomes[1]);
    /// ```
    pub fn wait_tasks(&self, upids: &[Upid], options: WaitOptions) -> WaitTasks {
        let listing = crate::task::TaskListing::for_service(self.shared.rb.target().service());
        WaitTasks(MachineFlow::new(
            self.shared.clone(),
            self.shared.policy.clone(),
            WatchMany::new(upids, listing, options),
        ))
    }

    /// The flow that follows a running task's log (new lines as [`super::Event::LogLines`])
    /// and ends with the task's outcome.
    ///
    /// Driven on canned bytes: every request is answered from the path it asks for.
    ///
    /// ```
    /// use proxmox_proto::flow::{ClientCore, Event, Flow, HttpReply, MonoTime, Now, Payload, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::task::{TaskOutcome, WaitOptions};
    /// use proxmox_proto::TransportKind;
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("pve1.example.com");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let upid = "UPID:pve1:00000001:00000001:65000000:vzdump:100:root@pam:".parse().unwrap();
    /// let mut flow = core.follow_log(upid, WaitOptions::default());
    /// let mut ms = 0u64;
    /// let mut lines = Vec::new();
    /// let outcome = loop {
    ///     let now = Now::new(MonoTime::from_duration(Duration::from_millis(ms)),
    ///                        Duration::from_secs(1_700_000_000) + Duration::from_millis(ms));
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => {
    ///             let Payload::Http(req) = &ex.payload else { unreachable!() };
    ///             let body: &[u8] = if req.uri().path().ends_with("/log") {
    ///                 br#"{"data":[{"n":1,"t":"starting backup"},{"n":2,"t":"TASK OK"}],"total":2}"#
    ///             } else {
    ///                 br#"{"data":{"status":"stopped","exitstatus":"OK"}}"#
    ///             };
    ///             flow.handle(ex.id, Reply::Http(HttpReply::new(200, None, body.to_vec())));
    ///         }
    ///         Step::Event(Event::LogLines(new)) => lines.extend(new.into_iter().map(|l| l.t)),
    ///         Step::SleepUntil(t) => ms = t.as_duration().as_millis() as u64,
    ///         Step::Done(outcome) => break outcome.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// assert_eq!(outcome, TaskOutcome::Ok);
    /// assert_eq!(lines, ["starting backup", "TASK OK"], "each line once, in order");
    /// ```
    pub fn follow_log(&self, upid: Upid, options: WaitOptions) -> FollowLog {
        FollowLog(MachineFlow::new(
            self.shared.clone(),
            self.shared.policy.clone(),
            FollowOne::new(upid, options),
        ))
    }

    /// The flow that reads a task log: all of it ([`super::LOG_PAGE`] lines a request), or the
    /// window of `limit` lines after line `start`.
    ///
    /// ```
    /// use proxmox_proto::flow::{ClientCore, Flow, HttpReply, MonoTime, Now, Payload, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::TransportKind;
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("pve1.example.com");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let upid = "UPID:pve1:00000001:00000001:65000000:qmstart:100:root@pam:".parse().unwrap();
    /// let mut flow = core.read_log(upid, Some((10, 2)));
    /// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
    /// let lines = loop {
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => {
    ///             let Payload::Http(req) = &ex.payload else { unreachable!() };
    ///             assert_eq!(req.uri().query(), Some("start=10&limit=2"));
    ///             let body = br#"{"data":[{"n":11,"t":"a"},{"n":12,"t":"b"}],"total":40}"#;
    ///             flow.handle(ex.id, Reply::Http(HttpReply::new(200, None, body.to_vec())));
    ///         }
    ///         Step::Done(lines) => break lines.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// assert_eq!(lines.iter().map(|l| l.t.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn read_log(&self, upid: Upid, window: Option<(u64, u64)>) -> ReadTaskLog {
        ReadTaskLog(MachineFlow::new(
            self.shared.clone(),
            self.shared.policy.clone(),
            ReadLog::new(upid, window),
        ))
    }

    /// An API call whose `data` is read as `T`.
    pub fn data_call<T: serde::de::DeserializeOwned + 'static>(
        &self,
        call: Call,
        opts: &CallOptions,
    ) -> DataCall<T> {
        DataCall::new(SubCall::new(
            self.shared.clone(),
            call,
            self.shared.policy.for_call(opts),
        ))
    }

    /// The flow that discovers the cluster ([`DiscoverCluster`]): which endpoint is which
    /// node (for affinity), endpoints for the nodes not given, and each node's certificate
    /// fingerprint. A client given one endpoint becomes a cluster client this way.
    ///
    /// Driven on canned bytes: `/cluster/status` and `/nodes` are asked at once.
    ///
    /// ```
    /// use proxmox_proto::flow::{ClientCore, Flow, HttpReply, MonoTime, Now, Payload, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::TransportKind;
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("10.0.0.1");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// o.add_endpoints(&["10.0.0.2"]);
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let mut flow = core.discover();
    /// let status = br#"{"data":[{"type":"node","name":"pve1","ip":"10.0.0.1","local":1,"online":1},
    ///   {"type":"node","name":"pve2","ip":"10.0.0.2","online":1},
    ///   {"type":"node","name":"pve3","ip":"10.0.0.3","online":1}]}"#;
    /// let nodes = br#"{"data":[{"node":"pve1"},{"node":"pve2"},{"node":"pve3"}]}"#;
    /// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
    /// let mut sent = Vec::new();
    /// let map = loop {
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => {
    ///             let Payload::Http(req) = &ex.payload else { unreachable!() };
    ///             sent.push((ex.id, req.uri().path().to_owned()));
    ///         }
    ///         Step::AwaitReplies => {
    ///             for (id, path) in sent.drain(..) {
    ///                 let body = if path.ends_with("/status") { &status[..] } else { &nodes[..] };
    ///                 flow.handle(id, Reply::Http(HttpReply::new(200, None, body.to_vec())));
    ///             }
    ///         }
    ///         Step::Event(_) => {}
    ///         Step::Done(result) => break result.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// assert_eq!(map.nodes.len(), 3);
    /// // pve3 was not given: it is an endpoint now.
    /// let endpoints = core.endpoints();
    /// assert_eq!(endpoints.len(), 3);
    /// assert_eq!((endpoints[2].authority().as_str(), endpoints[2].node()), ("10.0.0.3:8006", Some("pve3")));
    /// ```
    pub fn discover(&self) -> DiscoverCluster {
        DiscoverCluster(MachineFlow::new(
            self.shared.clone(),
            self.shared.policy.clone(),
            super::discover::Discover::new(self.shared.clone()),
        ))
    }

    /// The flow of a call for guest `vmid` wherever it runs (see [`super::GuestCall`]): `call`'s
    /// path is relative to the guest (`status/current`, `config`, `status/start`).
    ///
    /// Driven on canned bytes: the guest is found on pve1, which answers that it is not there
    /// (it migrated), found again on pve2, and called there.
    ///
    /// ```
    /// use proxmox_proto::flow::{ClientCore, Flow, HttpReply, MonoTime, Now, Payload, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::{Call, TransportKind};
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("pve1.example.com");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let mut flow = core.guest_call::<serde_json::Value>(100, Call::get("status/current").unwrap());
    /// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
    /// let listed = |node: &str| {
    ///     format!(r#"{{"data":[{{"id":"qemu/100","type":"qemu","vmid":100,"node":"{node}"}}]}}"#)
    /// };
    /// let moved = "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist";
    /// let mut answers = [
    ///     (200, None, listed("pve1")),
    ///     (500, Some(moved.to_string()), r#"{"data":null}"#.to_string()),
    ///     (200, None, listed("pve2")),
    ///     (200, None, r#"{"data":{"status":"running"}}"#.to_string()),
    /// ]
    /// .into_iter();
    /// let mut paths = Vec::new();
    /// let out = loop {
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => {
    ///             let Payload::Http(req) = &ex.payload else { unreachable!() };
    ///             paths.push(req.uri().path().to_string());
    ///             let (status, reason, body) = answers.next().unwrap();
    ///             flow.handle(ex.id, Reply::Http(HttpReply::new(status, reason, body.into_bytes())));
    ///         }
    ///         Step::Done(out) => break out.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// assert_eq!(out["status"], "running");
    /// assert_eq!(paths, [
    ///     "/api2/json/cluster/resources",
    ///     "/api2/json/nodes/pve1/qemu/100/status/current",
    ///     "/api2/json/cluster/resources",
    ///     "/api2/json/nodes/pve2/qemu/100/status/current",
    /// ]);
    /// ```
    pub fn guest_call<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        vmid: u32,
        call: Call,
    ) -> super::GuestCall<T> {
        super::GuestCall(MachineFlow::new(
            self.shared.clone(),
            self.shared.policy.clone(),
            super::guest::GuestRoute::new(self.shared.clone(), vmid, call),
        ))
    }

    /// The flow that opens a console (see [`super::OpenConsole`]): the console call on
    /// `target`'s node, then the WebSocket upgrade on the endpoint that answered it. `key`:
    /// 16 random bytes for `Sec-WebSocket-Key`; `framing`: who frames the WebSocket (masks
    /// from the adapter's random numbers, or the browser).
    ///
    /// ```
    /// use proxmox_proto::console::session::{ConsoleEvent, Framing};
    /// use proxmox_proto::flow::{CallOptions, ClientCore, ConsoleKind, ConsoleTarget, ExchangeKind};
    /// use proxmox_proto::flow::{Flow, HttpReply, MonoTime, Now, Payload, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::TransportKind;
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("pve1.example.com");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let target = ConsoleTarget::Node("pve1".into());
    /// let mut flow = core
    ///     .console(target, ConsoleKind::Terminal, [7; 16], Framing::websocket(|| [1, 2, 3, 4]), &CallOptions::default())
    ///     .unwrap();
    /// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
    /// let opened = loop {
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => {
    ///             let Payload::Http(req) = &ex.payload else { unreachable!() };
    ///             let reply = match ex.kind {
    ///                 ExchangeKind::Api => {
    ///                     assert_eq!(req.uri().path(), "/api2/json/nodes/pve1/termproxy");
    ///                     HttpReply::new(200, None, br#"{"data":{"user":"root@pam!ci","ticket":"PVEVNC:1::s","port":"5900","upid":"UPID:pve1:1:2:3:vncshell::root@pam!ci:"}}"#.to_vec())
    ///                 }
    ///                 ExchangeKind::WebSocket => {
    ///                     assert_eq!(req.uri().path(), "/api2/json/nodes/pve1/vncwebsocket");
    ///                     assert_eq!(req.headers()["upgrade"], "websocket");
    ///                     assert!(req.headers()["authorization"].to_str().unwrap().starts_with("PVEAPIToken="));
    ///                     // The adapter keeps this connection: it is the console's now.
    ///                     let mut r = HttpReply::new(101, None, Vec::new());
    ///                     r.headers.insert("upgrade", "websocket".parse().unwrap());
    ///                     r.headers.insert("connection", "Upgrade".parse().unwrap());
    ///                     r.headers.insert("sec-websocket-accept", "CdXSYUsvsaMthlEXWDNURGWA/1o=".parse().unwrap());
    ///                     r
    ///                 }
    ///                 other => unreachable!("{other:?}"),
    ///             };
    ///             flow.handle(ex.id, Reply::Http(reply));
    ///         }
    ///         Step::Event(_) => {}
    ///         Step::Done(result) => break result.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// let mut session = opened.session;
    /// assert!(session.poll_transmit().is_some(), "the login line is queued");
    /// session.handle_bytes(&[0x82, 2, b'O', b'K']);
    /// assert_eq!(session.poll_event(), Some(ConsoleEvent::Opened));
    /// ```
    pub fn console(
        &self,
        target: super::ConsoleTarget,
        kind: super::ConsoleKind,
        key: [u8; 16],
        framing: crate::console::session::Framing,
        opts: &CallOptions,
    ) -> Result<super::OpenConsole, crate::InputError> {
        super::OpenConsole::new(
            self.shared.clone(),
            self.shared.policy.for_call(opts),
            target,
            kind,
            key,
            framing,
        )
    }

    /// Check every call against `schema` before it is sent (unknown paths, methods and
    /// parameters, types, ranges, patterns, property strings, endpoints closed to tokens),
    /// from now on. A client's schema is set once: `false` when it already had one.
    #[cfg(feature = "schema")]
    pub fn set_schema(&self, schema: crate::schema::Schema) -> bool {
        self.shared.schema.set(schema).is_ok()
    }

    /// The schema calls are checked against, if set.
    #[cfg(feature = "schema")]
    pub fn schema(&self) -> Option<&crate::schema::Schema> {
        self.shared.schema.get()
    }

    /// The flow that fetches the server's own schema (see [`super::FetchSchema`]).
    #[cfg(feature = "schema")]
    pub fn fetch_schema(&self) -> super::FetchSchema {
        super::FetchSchema::new(self.shared.clone(), self.shared.policy.clone())
    }

    /// A cluster client's endpoints, in order, with the nodes they are known to be (a client
    /// of one endpoint: its target).
    pub fn endpoints(&self) -> Vec<crate::cluster::Endpoint> {
        match self.shared.router() {
            Some(r) => r.endpoints().cloned().collect(),
            None => vec![crate::cluster::Endpoint::from_target(
                self.shared.rb.target().clone(),
            )],
        }
    }

    /// The flow that looks for a checksum published next to `url` (see
    /// [`DiscoverChecksum`]); `file_name` is the name to look for besides the URL's own.
    pub fn discover_checksum(
        &self,
        url: &str,
        file_name: Option<&str>,
    ) -> Result<DiscoverChecksum, crate::Error> {
        DiscoverChecksum::new(
            self.shared.clone(),
            self.shared.policy.clone(),
            url,
            file_name,
        )
    }

    /// The flow of `download-url`: `node` downloads `url` into `storage` as `file_name`,
    /// with the checksum given, discovered next to the URL first, or none. Ends with the UPID
    /// of the download task.
    ///
    /// Driven on canned bytes: the mirror's `SHA256SUMS` is found, and its checksum goes with
    /// the call.
    ///
    /// ```
    /// use proxmox_proto::flow::{ClientCore, ExchangeKind, Flow, HttpReply, MonoTime, Now, Payload, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::upload::{DownloadChecksum, UploadContent};
    /// use proxmox_proto::TransportKind;
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("pve1.example.com");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let url = "https://mirror.example/iso/debian.iso";
    /// let mut flow = core
    ///     .download_url("pve1", "local", UploadContent::Iso, url, "debian.iso", DownloadChecksum::Discover)
    ///     .unwrap();
    /// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
    /// let sha = "b".repeat(64);
    /// let upid = "UPID:pve1:00000003:00000003:65000000:download:debian.iso:root@pam:";
    /// let done = loop {
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => {
    ///             let Payload::Http(req) = &ex.payload else { unreachable!() };
    ///             let reply = match (ex.kind, req.uri().path()) {
    ///                 (ExchangeKind::Fetch, "/iso/SHA256SUMS") => format!("{sha}  debian.iso\n"),
    ///                 (ExchangeKind::Fetch, _) => String::new(),
    ///                 (_, path) => {
    ///                     assert!(path.ends_with("/nodes/pve1/storage/local/download-url"));
    ///                     let form = String::from_utf8(req.body().to_vec()).unwrap();
    ///                     assert!(form.contains(&format!("checksum={sha}")), "{form}");
    ///                     assert!(form.contains("checksum-algorithm=sha256"), "{form}");
    ///                     format!(r#"{{"data":"{upid}"}}"#)
    ///                 }
    ///             };
    ///             let status = if reply.is_empty() { 404 } else { 200 };
    ///             flow.handle(ex.id, Reply::Http(HttpReply::new(status, None, reply.into_bytes())));
    ///         }
    ///         Step::Done(upid) => break upid.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// assert_eq!(done.to_string(), upid);
    /// ```
    pub fn download_url(
        &self,
        node: &str,
        storage: &str,
        content: crate::upload::UploadContent,
        url: &str,
        file_name: &str,
        checksum: crate::upload::DownloadChecksum,
    ) -> Result<DownloadUrlFlow, crate::Error> {
        let download = crate::upload::DownloadUrl::new(url, content, file_name)?;
        DownloadUrlFlow::new(
            self.shared.clone(),
            self.shared.policy.clone(),
            node,
            storage,
            download,
            url,
            file_name,
            checksum,
        )
    }

    /// The flow of the QEMU guest agent's `exec` in guest `vmid` on `node`: one command
    /// string is split the way a POSIX shell would; ends with the agent's answer
    /// (`{"pid": n}`).
    ///
    /// Driven on canned bytes: the words go as repeated `command` parameters.
    ///
    /// ```
    /// use proxmox_proto::flow::{ClientCore, Flow, HttpReply, MonoTime, Now, Payload, Reply, Step};
    /// use proxmox_proto::options::ClientOptions;
    /// use proxmox_proto::TransportKind;
    /// use std::time::Duration;
    ///
    /// let mut o = ClientOptions::new("pve1.example.com");
    /// o.set_api_token("root@pam!ci", "s".into());
    /// let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    /// let mut flow = core.agent_exec("pve1", 100, "ls -l '/var/log'").unwrap();
    /// let now = Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000));
    /// let answer = loop {
    ///     match flow.poll(now) {
    ///         Step::Send(ex) => {
    ///             let Payload::Http(req) = &ex.payload else { unreachable!() };
    ///             assert!(req.uri().path().ends_with("/nodes/pve1/qemu/100/agent/exec"));
    ///             let form = String::from_utf8(req.body().to_vec()).unwrap();
    ///             assert_eq!(form, "command=ls&command=-l&command=%2Fvar%2Flog");
    ///             let body = br#"{"data":{"pid":4242}}"#.to_vec();
    ///             flow.handle(ex.id, Reply::Http(HttpReply::new(200, None, body)));
    ///         }
    ///         Step::Done(answer) => break answer.unwrap(),
    ///         other => unreachable!("{other:?}"),
    ///     }
    /// };
    /// assert_eq!(answer["pid"], 4242);
    /// ```
    pub fn agent_exec(
        &self,
        node: &str,
        vmid: u32,
        command: &str,
    ) -> Result<DataCall<serde_json::Value>, crate::InputError> {
        let call =
            Call::post(("nodes", node, "qemu", vmid, "agent", "exec"))?.param("command", command);
        Ok(self.data_call(call, &CallOptions::default()))
    }

    /// [`ClientCore::agent_exec`] with the words given as a list (sent as given).
    pub fn agent_exec_argv(
        &self,
        node: &str,
        vmid: u32,
        argv: &[&str],
    ) -> Result<DataCall<serde_json::Value>, crate::InputError> {
        let mut params = crate::Params::new();
        for w in argv {
            params.push("command", *w);
        }
        let call = Call::post(("nodes", node, "qemu", vmid, "agent", "exec"))?.with_params(params);
        Ok(self.data_call(call, &CallOptions::default()))
    }

    /// The target.
    pub fn target(&self) -> &Target {
        self.shared.rb.target()
    }

    /// How errors name `call`: method, path (never the query) and the host it went to (the
    /// SSH host on the shell wire).
    pub fn label(&self, call: &Call) -> crate::RequestLabel {
        self.label_of(call.method, &call.path)
    }

    /// [`ClientCore::label`] of a call given by method and path.
    pub fn label_of(&self, method: crate::Method, path: &crate::ApiPath) -> crate::RequestLabel {
        self.shared.label(method, path.to_string())
    }

    /// `e` naming the call `method path`, and for a 401 to an API token, which token.
    fn explain(
        &self,
        e: crate::Error,
        method: crate::Method,
        path: &crate::ApiPath,
    ) -> crate::Error {
        let e = e.with_request(self.label_of(method, path));
        // pve-http-server AnyEvent.pm proxy_request: 595 when the forwarding node cannot
        // connect to the target node, 596 when the target node did not answer in time.
        let e = e
            .with_note(595, || {
                "the node that answered could not reach the node that owns the resource: the \
                 call did not run there; another node may reach it"
                    .into()
            })
            .with_note(596, || {
                if method.is_safe_to_replay() {
                    "the node that owns the resource did not answer the forwarding node in time"
                        .into()
                } else {
                    "the forwarding node gave up waiting for the node that owns the resource: the \
                     call may have taken effect there; check (the task list, the resource) before \
                     repeating it"
                        .into()
                }
            });
        if self.shared.auth_kind != AuthKind::Token {
            return e;
        }
        e.with_note(401, || {
            let st = self
                .shared
                .auth
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let id = match st.manager.credentials() {
                crate::session::Credentials::Token(t) => t.token_id(),
                _ => "given".into(),
            };
            format!(
                "the API token {id} was refused (wrong token id or secret, the token or its \
                 user expired or disabled)"
            )
        })
    }

    /// The `data` of an HTTP answer to the call `method path` as `T`; an error answer names
    /// the call.
    pub fn data<T: serde::de::DeserializeOwned>(
        &self,
        method: crate::Method,
        path: &crate::ApiPath,
        reply: &super::HttpReply,
    ) -> Result<T, crate::Error> {
        crate::response::parse_data(reply.status, reply.reason.as_deref(), &reply.body)
            .map_err(|e| self.explain(e.with_attempts(reply.attempts), method, path))
    }

    /// The envelope of an HTTP answer to `call` (status, reason phrase, body); an error
    /// answer names the call.
    pub fn envelope<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call,
        status: u16,
        reason: Option<&str>,
        body: &[u8],
        attempts: u32,
    ) -> Result<crate::response::Envelope<T>, crate::Error> {
        crate::response::parse_envelope(status, reason, body)
            .map_err(|e| self.explain(e.with_attempts(attempts), call.method, &call.path))
    }

    /// The request builder.
    pub fn request_builder(&self) -> &RequestBuilder {
        &self.shared.rb
    }

    /// The auth kind.
    pub fn auth_kind(&self) -> AuthKind {
        self.shared.auth_kind
    }

    /// The client-wide policy.
    pub fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    /// The current session (password logins), to save and resume later. Contains the ticket:
    /// store it like a password.
    pub fn session(&self) -> Option<Session> {
        self.shared.lock().manager.session().cloned()
    }
}
