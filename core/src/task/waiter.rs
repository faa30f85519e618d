//! Waiting for a task to stop: [`TaskWaiter`] for one UPID, [`WaiterSet`] for many.
//!
//! # Driving contract
//!
//! A [`TaskWaiter`] never does IO and never reads the clock. The driver loops:
//!
//! 1. `waiter.poll(now)` returns an [`Action`]:
//!    * [`Action::Send`]: send the request's `call` (a GET). Feed the answer back according to
//!      its [`RequestKind`]: a status answer's `data` to [`TaskWaiter::handle_status`], a log
//!      answer to [`TaskWaiter::handle_log`]; an error answer to [`TaskWaiter::handle_error`];
//!      no answer at all (connection refused, timeout) to
//!      [`TaskWaiter::handle_transport_error`].
//!    * [`Action::SleepUntil`]`(t)`: nothing to do before `t`; poll again at (or after) `t`.
//!    * [`Action::AwaitResponse`]: a request is still outstanding; feed its answer first.
//!    * [`Action::Done`]: finished; further polls return the same outcome.
//! 2. Repeat.
//!
//! The first `poll` sends a status request at once and fixes the deadline (`timeout` counts
//! from it). While the task runs, the next status request waits the backoff interval (0.25 s
//! growing to 5 s by default), never past the deadline; one last request goes out at the
//! deadline, and if the task is still running then, the outcome is [`TaskOutcome::TimedOut`].
//! A status that says `stopped` ends the wait at once, with no further sleep, even with a
//! zero timeout: the deadline only ends waiting on a running task. A task that failed gets the
//! last [`log_tail_lines`](super::WaitOptions::log_tail_lines) lines of its log fetched
//! (one request, or two when the log is longer than that) into [`TaskOutcome::Failed`]; a
//! failed log request only leaves the tail empty.
//!
//! A status request that fails with 595-599 or 502-504, or with a transport error the adapter
//! calls retryable, is retried with backoff while the deadline allows and at most
//! [`max_transient_errors`](super::WaitOptions::max_transient_errors) times in a row; any
//! other failure ends the wait with [`TaskOutcome::Error`]. Answers fed when none is expected
//! are ignored.
//!
//! Answers can be fed as whole HTTP answers ([`TaskWaiter::handle_response`]: status code,
//! reason phrase, body bytes), as unwrapped `data` from `pvesh`
//! ([`TaskWaiter::handle_data`]), or already decoded ([`TaskWaiter::handle_status`],
//! [`TaskWaiter::handle_log`]). Here on canned HTTP answers, one of them a 595 from a node
//! that was briefly unreachable:
//!
//! ```
//! use proxmox_proto::task::{Action, RequestKind, TaskOutcome, TaskWaiter, WaitOptions};
//! use proxmox_proto::Upid;
//! use std::time::Duration;
//!
//! let upid: Upid = "UPID:pve1:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam:".parse().unwrap();
//! let mut waiter = TaskWaiter::new(upid, WaitOptions::new().with_timeout(Duration::from_secs(60)));
//! let mut answers = vec![
//!     (200, &br#"{"data":{"status":"running","pid":"703710"}}"#[..]),
//!     (595, &b""[..]),
//!     (200, &br#"{"data":{"status":"stopped","exitstatus":"start failed: QEMU exited with code 1"}}"#[..]),
//!     (200, &br#"{"data":[{"n":1,"t":"kvm: cannot open disk"},{"n":2,"t":"TASK ERROR: start failed: QEMU exited with code 1"}],"total":2}"#[..]),
//! ].into_iter();
//! let start = Duration::from_secs(1_700_000_000);
//! let mut now = start;
//! let mut sent = Vec::new();
//! let outcome = loop {
//!     match waiter.poll(now) {
//!         Action::Send(req) => {
//!             sent.push((req.kind, req.call.path.to_string(), req.call.params.to_form()));
//!             let (status, body) = answers.next().unwrap(); // a real driver sends req.call
//!             waiter.handle_response(now, status, None, body);
//!         }
//!         Action::SleepUntil(t) => now = t, // a real driver sleeps here
//!         Action::AwaitResponse => unreachable!("this driver always answers at once"),
//!         Action::Done(outcome) => break outcome,
//!         _ => unreachable!(),
//!     }
//! };
//! assert_eq!(sent.len(), 4);
//! assert_eq!(sent[0].1, "/nodes/pve1/tasks/UPID:pve1:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam:/status");
//! assert_eq!((sent[3].0, sent[3].2.as_str()), (RequestKind::Log, "start=0&limit=20"));
//! // Waits of 0.25 s and 0.5 s (the 595 was retried), none after the stop.
//! assert_eq!(now, start + Duration::from_millis(750));
//! match outcome {
//!     TaskOutcome::Failed { message, log_tail } => {
//!         assert_eq!(message, "start failed: QEMU exited with code 1");
//!         assert_eq!(log_tail.len(), 2);
//!         assert_eq!(log_tail[0].t, "kvm: cannot open disk");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

pub use super::{Action, RequestKind, TaskOutcome, TaskRequest, WaitError, WaitOptions};
use super::{ExitStatus, LogLine, LogPage, Schedule, TaskStatus};
use crate::upid::Upid;
use std::time::Duration;

#[derive(Debug, Clone)]
enum State {
    Start,
    Sleeping(Duration),
    AwaitStatus,
    LogDue {
        start: u64,
        first: bool,
        message: String,
    },
    AwaitLog {
        first: bool,
        message: String,
    },
    Done(TaskOutcome),
}

/// Waits for one task to stop; see the [module docs](self) for the driving contract.
#[derive(Debug, Clone)]
pub struct TaskWaiter {
    upid: Upid,
    schedule: Schedule,
    state: State,
    last_status: Option<TaskStatus>,
    requests: u64,
}

impl TaskWaiter {
    /// A waiter for `upid`; nothing is sent before the first [`poll`](Self::poll).
    pub fn new(upid: Upid, options: WaitOptions) -> Self {
        Self {
            upid,
            schedule: Schedule::new(options),
            state: State::Start,
            last_status: None,
            requests: 0,
        }
    }

    /// A waiter for a task already seen stopped with the error `message` (by a task listing):
    /// it only fetches the log tail ([`WaitOptions::log_tail_lines`] lines).
    pub(crate) fn for_failed_task(upid: Upid, options: WaitOptions, message: String) -> Self {
        let mut w = Self::new(upid, options);
        w.state = if w.schedule.opts.log_tail_lines > 0 {
            State::LogDue {
                start: 0,
                first: true,
                message,
            }
        } else {
            State::Done(TaskOutcome::Failed {
                message,
                log_tail: Vec::new(),
            })
        };
        w
    }

    /// The task waited on.
    pub fn upid(&self) -> &Upid {
        &self.upid
    }

    /// The last status received.
    pub fn last_status(&self) -> Option<&TaskStatus> {
        self.last_status.as_ref()
    }

    /// The outcome, once done.
    pub fn outcome(&self) -> Option<&TaskOutcome> {
        match &self.state {
            State::Done(o) => Some(o),
            _ => None,
        }
    }

    /// Whether the wait is over.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// How many requests this waiter has asked to send.
    pub fn requests_sent(&self) -> u64 {
        self.requests
    }

    /// The deadline in force (fixed at the first poll), if any.
    pub fn deadline(&self) -> Option<Duration> {
        self.schedule.deadline
    }

    /// What to do next.
    pub fn poll(&mut self, now: Duration) -> Action {
        match &self.state {
            State::Start => {
                self.schedule.start(now);
                self.send_status()
            }
            State::Sleeping(t) if now >= *t => self.send_status(),
            State::Sleeping(t) => Action::SleepUntil(*t),
            State::AwaitStatus | State::AwaitLog { .. } => Action::AwaitResponse,
            State::LogDue {
                start,
                first,
                message,
            } => {
                let (start, first, message) = (*start, *first, message.clone());
                match self.upid.log_call(start, self.schedule.opts.log_tail_lines) {
                    Ok(call) => {
                        self.requests += 1;
                        self.state = State::AwaitLog { first, message };
                        Action::Send(TaskRequest {
                            kind: RequestKind::Log,
                            call,
                        })
                    }
                    Err(_) => self.finish(TaskOutcome::Failed {
                        message,
                        log_tail: Vec::new(),
                    }),
                }
            }
            State::Done(o) => Action::Done(o.clone()),
        }
    }

    fn send_status(&mut self) -> Action {
        match self.upid.status_call() {
            Ok(call) => {
                self.requests += 1;
                self.state = State::AwaitStatus;
                Action::Send(TaskRequest {
                    kind: RequestKind::Status,
                    call,
                })
            }
            Err(e) => self.finish(TaskOutcome::Error(WaitError::Core(e.into()))),
        }
    }

    fn finish(&mut self, outcome: TaskOutcome) -> Action {
        self.state = State::Done(outcome.clone());
        Action::Done(outcome)
    }

    /// The kind of the request whose answer is awaited, if any.
    pub fn pending(&self) -> Option<RequestKind> {
        match self.state {
            State::AwaitStatus => Some(RequestKind::Status),
            State::AwaitLog { .. } => Some(RequestKind::Log),
            _ => None,
        }
    }

    /// Feed a whole HTTP answer (status code, reason phrase if known, body) to the request
    /// awaited; it is parsed and routed to `handle_status`, `handle_log` or `handle_error`.
    pub fn handle_response(
        &mut self,
        now: Duration,
        status: u16,
        reason: Option<&str>,
        body: &[u8],
    ) {
        if let Some(kind) = self.pending() {
            match super::parse_answer(kind, status, reason, body) {
                Ok(super::Answer::Status(s)) => self.handle_status(now, s),
                Ok(super::Answer::Log(p)) => self.handle_log(now, p),
                Err(e) => self.handle_error(now, e),
            }
        }
    }

    /// Feed the unwrapped `data` of the awaited answer (for command-line transports, where
    /// `pvesh` prints only the data); `total` is the log's line count if known.
    pub fn handle_data(&mut self, now: Duration, data: &serde_json::Value, total: Option<u64>) {
        if let Some(kind) = self.pending() {
            match super::read_data(kind, data, total) {
                Ok(super::Answer::Status(s)) => self.handle_status(now, s),
                Ok(super::Answer::Log(p)) => self.handle_log(now, p),
                Err(e) => self.handle_error(now, e),
            }
        }
    }

    /// Feed the `data` of a status answer.
    pub fn handle_status(&mut self, now: Duration, status: TaskStatus) {
        if !matches!(self.state, State::AwaitStatus) {
            return;
        }
        self.schedule.answered();
        let exit = status.exit_status();
        self.last_status = Some(status);
        self.state = match exit {
            None if self.schedule.past_deadline(now) => State::Done(TaskOutcome::TimedOut),
            None => State::Sleeping(self.schedule.next_wake(now)),
            Some(ExitStatus::Failed(message)) if self.schedule.opts.log_tail_lines > 0 => {
                State::LogDue {
                    start: 0,
                    first: true,
                    message,
                }
            }
            Some(exit) => State::Done(TaskOutcome::from_exit(&exit)),
        };
    }

    /// Feed a log page (after a [`RequestKind::Log`] request).
    pub fn handle_log(&mut self, _now: Duration, page: LogPage) {
        let State::AwaitLog { first, message } = &self.state else {
            return;
        };
        let want = self.schedule.opts.log_tail_lines;
        if *first
            && let Some(total) = page.total
            && total > want
        {
            self.state = State::LogDue {
                start: total - want,
                first: false,
                message: message.clone(),
            };
            return;
        }
        let skip = page
            .lines
            .len()
            .saturating_sub(usize::try_from(want).unwrap_or(usize::MAX));
        let log_tail: Vec<LogLine> = page.lines.into_iter().skip(skip).collect();
        self.state = State::Done(TaskOutcome::Failed {
            message: message.clone(),
            log_tail,
        });
    }

    /// Feed a request that was answered with an error (or an answer that did not parse).
    pub fn handle_error(&mut self, now: Duration, error: crate::Error) {
        self.failed(now, WaitError::Core(error), None);
    }

    /// Feed a request that got no answer; `retryable` is the adapter's judgement (a GET that
    /// timed out or whose connection was refused may be retried; a certificate mismatch not).
    pub fn handle_transport_error(
        &mut self,
        now: Duration,
        message: impl Into<String>,
        retryable: bool,
    ) {
        self.failed(now, WaitError::Transport(message.into()), Some(retryable));
    }

    fn failed(&mut self, now: Duration, error: WaitError, retryable: Option<bool>) {
        match &self.state {
            State::AwaitStatus => {
                let transient = retryable.unwrap_or_else(|| error.is_transient_api());
                self.state = if self.schedule.may_retry(now, transient) {
                    State::Sleeping(self.schedule.next_wake(now))
                } else {
                    State::Done(TaskOutcome::Error(error))
                };
            }
            State::AwaitLog { message, .. } => {
                self.state = State::Done(TaskOutcome::Failed {
                    message: message.clone(),
                    log_tail: Vec::new(),
                });
            }
            _ => {}
        }
    }
}

/// What a [`WaiterSet`] wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetAction {
    /// Send this request for the waiter at `index`; feed the answer with the set's `handle_*`
    /// methods and the same index.
    Send {
        /// Which waiter.
        index: usize,
        /// What to send.
        request: TaskRequest,
    },
    /// The waiter at `index` has finished (reported once per waiter).
    Finished {
        /// Which waiter.
        index: usize,
        /// How it ended.
        outcome: TaskOutcome,
    },
    /// Nothing to send before this time; poll again then, or earlier when an outstanding
    /// answer arrives.
    SleepUntil(Duration),
    /// Every unfinished waiter has a request outstanding; feed an answer first.
    AwaitResponses,
    /// Every waiter has finished and been reported.
    AllDone,
}

#[derive(Debug, Clone)]
struct Slot {
    waiter: TaskWaiter,
    reported: bool,
}

/// Many waiters driven from one loop, each known by the index [`push`](Self::push) returned.
///
/// Driving contract: call [`poll`](Self::poll) until it returns something other than
/// [`SetAction::Send`] or [`SetAction::Finished`] (so every ready request goes out in one
/// round), send the requests (one after the other or concurrently), feed each answer with
/// the index it came with, and when the set says [`SetAction::SleepUntil`], wait until that
/// time or until an outstanding answer arrives. [`SetAction::AllDone`] ends the loop.
///
/// ```
/// use proxmox_proto::task::{RequestKind, SetAction, TaskOutcome, TaskStatus, WaiterSet, WaitOptions};
/// use serde_json::json;
/// use std::time::Duration;
///
/// let mut set = WaiterSet::new();
/// let a = set.push_upid("UPID:pve1:00000001:00000001:65000000:qmstart:100:root@pam:".parse().unwrap(), WaitOptions::new());
/// let b = set.push_upid("UPID:pve2:00000002:00000002:65000000:vzdump:101:root@pam!ci:".parse().unwrap(), WaitOptions::new());
/// let mut polls = [0u32; 2];
/// let mut now = Duration::from_secs(1_700_000_000);
/// let mut done = Vec::new();
/// loop {
///     match set.poll(now) {
///         SetAction::Send { index, request } => {
///             assert_eq!(request.kind, RequestKind::Status);
///             polls[index] += 1;
///             // pve1's task stops at its 2nd poll, pve2's at its 3rd with a warning.
///             let data = match (index, polls[index]) {
///                 (0, 2) => json!({"status": "stopped", "exitstatus": "OK"}),
///                 (1, 3) => json!({"status": "stopped", "exitstatus": "WARNINGS: 1"}),
///                 _ => json!({"status": "running"}),
///             };
///             set.handle_status(index, now, TaskStatus::from_data(&data).unwrap());
///         }
///         SetAction::Finished { index, outcome } => done.push((index, outcome)),
///         SetAction::SleepUntil(t) => now = t,
///         SetAction::AllDone => break,
///         other => unreachable!("{other:?}"),
///     }
/// }
/// assert_eq!(done, [(a, TaskOutcome::Ok), (b, TaskOutcome::Warnings(1))]);
/// assert_eq!(polls, [2, 3]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct WaiterSet {
    slots: Vec<Slot>,
}

impl WaiterSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a waiter; returns its index.
    pub fn push(&mut self, waiter: TaskWaiter) -> usize {
        self.slots.push(Slot {
            waiter,
            reported: false,
        });
        self.slots.len() - 1
    }

    /// Add a waiter for `upid`; returns its index.
    pub fn push_upid(&mut self, upid: Upid, options: WaitOptions) -> usize {
        self.push(TaskWaiter::new(upid, options))
    }

    /// How many waiters the set holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the set holds no waiter.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The waiter at `index`.
    pub fn waiter(&self, index: usize) -> Option<&TaskWaiter> {
        self.slots.get(index).map(|s| &s.waiter)
    }

    /// Every waiter with its index.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &TaskWaiter)> {
        self.slots.iter().map(|s| &s.waiter).enumerate()
    }

    /// What to do next (see the type's docs).
    pub fn poll(&mut self, now: Duration) -> SetAction {
        let mut earliest: Option<Duration> = None;
        let mut awaiting = false;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.reported {
                continue;
            }
            match slot.waiter.poll(now) {
                Action::Send(request) => return SetAction::Send { index, request },
                Action::Done(outcome) => {
                    slot.reported = true;
                    return SetAction::Finished { index, outcome };
                }
                Action::SleepUntil(t) => earliest = Some(earliest.map_or(t, |e| e.min(t))),
                Action::AwaitResponse => awaiting = true,
            }
        }
        match earliest {
            Some(t) => SetAction::SleepUntil(t),
            None if awaiting => SetAction::AwaitResponses,
            None => SetAction::AllDone,
        }
    }

    /// Feed a status answer to the waiter at `index` (unknown indices are ignored).
    pub fn handle_status(&mut self, index: usize, now: Duration, status: TaskStatus) {
        if let Some(s) = self.slots.get_mut(index) {
            s.waiter.handle_status(now, status);
        }
    }

    /// Feed a whole HTTP answer to the waiter at `index` (see [`TaskWaiter::handle_response`]).
    pub fn handle_response(
        &mut self,
        index: usize,
        now: Duration,
        status: u16,
        reason: Option<&str>,
        body: &[u8],
    ) {
        if let Some(s) = self.slots.get_mut(index) {
            s.waiter.handle_response(now, status, reason, body);
        }
    }

    /// Feed the unwrapped `data` of an answer to the waiter at `index` (see
    /// [`TaskWaiter::handle_data`]).
    pub fn handle_data(
        &mut self,
        index: usize,
        now: Duration,
        data: &serde_json::Value,
        total: Option<u64>,
    ) {
        if let Some(s) = self.slots.get_mut(index) {
            s.waiter.handle_data(now, data, total);
        }
    }

    /// Feed a log page to the waiter at `index`.
    pub fn handle_log(&mut self, index: usize, now: Duration, page: LogPage) {
        if let Some(s) = self.slots.get_mut(index) {
            s.waiter.handle_log(now, page);
        }
    }

    /// Feed an error answer to the waiter at `index`.
    pub fn handle_error(&mut self, index: usize, now: Duration, error: crate::Error) {
        if let Some(s) = self.slots.get_mut(index) {
            s.waiter.handle_error(now, error);
        }
    }

    /// Feed a transport failure to the waiter at `index`.
    pub fn handle_transport_error(
        &mut self,
        index: usize,
        now: Duration,
        message: impl Into<String>,
        retryable: bool,
    ) {
        if let Some(s) = self.slots.get_mut(index) {
            s.waiter.handle_transport_error(now, message, retryable);
        }
    }
}
