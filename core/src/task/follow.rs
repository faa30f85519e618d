//! Following a task's log while it runs: [`LogFollower`].
//!
//! # Driving contract
//!
//! The same loop as for the [`TaskWaiter`](super::TaskWaiter): `poll(now)` returns an
//! [`Action`]; send each [`Action::Send`] request and feed the answer by its [`RequestKind`]
//! to [`LogFollower::handle_status`] or [`LogFollower::handle_log`] (which returns the new
//! lines to show), failures to [`LogFollower::handle_error`] /
//! [`LogFollower::handle_transport_error`]; sleep on [`Action::SleepUntil`]; stop on
//! [`Action::Done`].
//!
//! Each round reads the task's **status first**, then the log from the first unseen line
//! (`start` = the last line number seen, `limit` = [`page_size`](super::WaitOptions::page_size)),
//! page after page until the end of the log. Because the status was read before the last page,
//! a task seen as stopped has written all its lines by then: when its last page has been read
//! the follower ends with the task's outcome, with no line lost. While the task runs, the line
//! at the very end of the log is held back until a later line exists or the task has stopped,
//! since the server may have read it half-written (without `total` in the answers, the last
//! line of every full page is held back, so use a page size of at least 2). Lines are never
//! returned twice: anything at or below the last line number returned is dropped.
//!
//! Between rounds the follower sleeps with the same backoff as the waiter, starting again from
//! the shortest interval whenever new lines arrived. With a deadline, a running task at the
//! deadline ends with [`TaskOutcome::TimedOut`]. Transient failures are retried as in the
//! waiter; other failures end with [`TaskOutcome::Error`]. A failed task's outcome carries the
//! last [`log_tail_lines`](super::WaitOptions::log_tail_lines) lines that were returned.
//!
//! ```
//! use proxmox_proto::task::{Action, LogFollower, LogPage, RequestKind, TaskOutcome, TaskStatus, WaitOptions};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! let upid = "UPID:pve1:000ABCDE:0012ABCD:65000000:vzdump:100:root@pam:".parse().unwrap();
//! let mut f = LogFollower::new(upid, WaitOptions::new().with_page_size(2));
//! // The server: the log grows between rounds; the task stops in round 3.
//! let logs = [
//!     vec!["INFO: starting", "INFO: creating ar"],          // round 1: last line half-written
//!     vec!["INFO: starting", "INFO: creating archive", "INFO: 50%"],
//!     vec!["INFO: starting", "INFO: creating archive", "INFO: 50%", "INFO: 100%", "TASK OK"],
//! ];
//! let mut round = 0;
//! let mut printed = Vec::new();
//! let mut now = Duration::from_secs(1_700_000_000);
//! let outcome = loop {
//!     match f.poll(now) {
//!         Action::Send(req) => match req.kind {
//!             RequestKind::Status => {
//!                 round += 1;
//!                 let data = if round < 3 { json!({"status": "running"}) }
//!                            else { json!({"status": "stopped", "exitstatus": "OK"}) };
//!                 f.handle_status(now, TaskStatus::from_data(&data).unwrap());
//!             }
//!             RequestKind::Log => {
//!                 // Serve lines start+1 ..= start+limit of this round's log, like the server.
//!                 let start: usize = req.call.params.get("start").unwrap().parse().unwrap();
//!                 let limit: usize = req.call.params.get("limit").unwrap().parse().unwrap();
//!                 let log = &logs[round - 1];
//!                 let data: Vec<_> = log.iter().enumerate().skip(start).take(limit)
//!                     .map(|(i, t)| json!({"n": i + 1, "t": t})).collect();
//!                 let page = LogPage::from_envelope(&json!({"data": data, "total": log.len()})).unwrap();
//!                 printed.extend(f.handle_log(now, page).into_iter().map(|l| l.t));
//!             }
//!         },
//!         Action::SleepUntil(t) => now = t,
//!         Action::Done(outcome) => break outcome,
//!         other => unreachable!("{other:?}"),
//!     }
//! };
//! assert_eq!(outcome, TaskOutcome::Ok);
//! assert_eq!(printed, ["INFO: starting", "INFO: creating archive", "INFO: 50%", "INFO: 100%", "TASK OK"]);
//! ```

pub use super::{Action, RequestKind, TaskOutcome, TaskRequest, WaitError, WaitOptions};
use super::{ExitStatus, LogLine, LogPage, Schedule, TaskStatus};
use crate::upid::Upid;
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Status,
    Log,
}

#[derive(Debug, Clone)]
enum State {
    Start,
    Sleeping(Duration, Next),
    Due(Next),
    Awaiting(Next),
    Done(TaskOutcome),
}

/// Follows one task's log; see the [module docs](self) for the driving contract.
#[derive(Debug, Clone)]
pub struct LogFollower {
    upid: Upid,
    schedule: Schedule,
    state: State,
    /// The last line number returned (the next request's `start`).
    seen: u64,
    /// The exit status from this round's status read, if the task had stopped.
    exit: Option<ExitStatus>,
    /// Whether this round returned new lines.
    progressed: bool,
    tail: VecDeque<LogLine>,
    last_status: Option<TaskStatus>,
}

impl LogFollower {
    /// Follow `upid`'s log from its first line.
    pub fn new(upid: Upid, options: WaitOptions) -> Self {
        Self {
            upid,
            schedule: Schedule::new(options),
            state: State::Start,
            seen: 0,
            exit: None,
            progressed: false,
            tail: VecDeque::new(),
            last_status: None,
        }
    }

    /// Skip the first `lines` lines (already shown elsewhere).
    pub fn starting_after(mut self, lines: u64) -> Self {
        self.seen = lines;
        self
    }

    /// The task followed.
    pub fn upid(&self) -> &Upid {
        &self.upid
    }

    /// The last line number returned so far.
    pub fn lines_seen(&self) -> u64 {
        self.seen
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

    /// What to do next.
    pub fn poll(&mut self, now: Duration) -> Action {
        let next = match &self.state {
            State::Start => {
                self.schedule.start(now);
                Next::Status
            }
            State::Sleeping(t, _) if now < *t => return Action::SleepUntil(*t),
            State::Sleeping(_, next) | State::Due(next) => *next,
            State::Awaiting(_) => return Action::AwaitResponse,
            State::Done(o) => return Action::Done(o.clone()),
        };
        let (kind, call) = match next {
            Next::Status => (RequestKind::Status, self.upid.status_call()),
            Next::Log => (
                RequestKind::Log,
                self.upid.log_call(self.seen, self.schedule.opts.page_size),
            ),
        };
        match call {
            Ok(call) => {
                self.state = State::Awaiting(next);
                Action::Send(TaskRequest { kind, call })
            }
            Err(e) => {
                let o = TaskOutcome::Error(WaitError::Core(e.into()));
                self.state = State::Done(o.clone());
                Action::Done(o)
            }
        }
    }

    /// The kind of the request whose answer is awaited, if any.
    pub fn pending(&self) -> Option<RequestKind> {
        match self.state {
            State::Awaiting(Next::Status) => Some(RequestKind::Status),
            State::Awaiting(Next::Log) => Some(RequestKind::Log),
            _ => None,
        }
    }

    /// Feed a whole HTTP answer (status code, reason phrase if known, body) to the request
    /// awaited; returns the new log lines, if it was a log page.
    pub fn handle_response(
        &mut self,
        now: Duration,
        status: u16,
        reason: Option<&str>,
        body: &[u8],
    ) -> Vec<LogLine> {
        let Some(kind) = self.pending() else {
            return Vec::new();
        };
        self.route(now, super::parse_answer(kind, status, reason, body))
    }

    /// Feed the unwrapped `data` of the awaited answer (command-line transports); `total` is
    /// the log's line count if known. Returns the new log lines, if it was a log page.
    pub fn handle_data(
        &mut self,
        now: Duration,
        data: &serde_json::Value,
        total: Option<u64>,
    ) -> Vec<LogLine> {
        let Some(kind) = self.pending() else {
            return Vec::new();
        };
        self.route(now, super::read_data(kind, data, total))
    }

    fn route(
        &mut self,
        now: Duration,
        answer: Result<super::Answer, crate::Error>,
    ) -> Vec<LogLine> {
        match answer {
            Ok(super::Answer::Status(s)) => {
                self.handle_status(now, s);
                Vec::new()
            }
            Ok(super::Answer::Log(p)) => self.handle_log(now, p),
            Err(e) => {
                self.handle_error(now, e);
                Vec::new()
            }
        }
    }

    /// Feed the `data` of a status answer.
    pub fn handle_status(&mut self, _now: Duration, status: TaskStatus) {
        if !matches!(self.state, State::Awaiting(Next::Status)) {
            return;
        }
        self.schedule.answered();
        self.exit = status.exit_status();
        self.last_status = Some(status);
        self.progressed = false;
        self.state = State::Due(Next::Log);
    }

    /// Feed a log page; returns the lines not returned before, in order.
    pub fn handle_log(&mut self, now: Duration, page: LogPage) -> Vec<LogLine> {
        if !matches!(self.state, State::Awaiting(Next::Log)) {
            return Vec::new();
        }
        self.schedule.answered();
        let limit = self.schedule.opts.page_size;
        let page_len = page.lines.len();
        let page_last = page.last_n();
        let mut new: Vec<LogLine> = page.lines.into_iter().filter(|l| l.n > self.seen).collect();
        let full = u64::try_from(page_len).map_or(true, |len| len >= limit);
        let (at_end, maybe_end) = match (page.total, page_last) {
            _ if limit == 0 || page_len == 0 => (true, true),
            (Some(total), Some(last)) => (last >= total, last >= total),
            // Without `total`, a full page may still end exactly at the end of the log.
            _ => (!full, true),
        };
        let stopped = self.exit.is_some();
        if maybe_end && !stopped {
            // The last line of a running task's log may be half-written: take it next time.
            new.pop();
        }
        if let Some(last) = new.last() {
            self.seen = last.n;
            self.progressed = true;
        }
        let keep = usize::try_from(self.schedule.opts.log_tail_lines).unwrap_or(usize::MAX);
        for l in &new {
            if keep > 0 {
                if self.tail.len() == keep {
                    self.tail.pop_front();
                }
                self.tail.push_back(l.clone());
            }
        }
        // A page past which nothing new came cannot lead anywhere: treat it as the end.
        let at_end = at_end || new.is_empty();
        self.state = if !at_end {
            State::Due(Next::Log)
        } else if let Some(exit) = &self.exit {
            State::Done(match exit {
                ExitStatus::Failed(message) => TaskOutcome::Failed {
                    message: message.clone(),
                    log_tail: self.tail.iter().cloned().collect(),
                },
                other => TaskOutcome::from_exit(other),
            })
        } else if self.schedule.past_deadline(now) {
            State::Done(TaskOutcome::TimedOut)
        } else {
            if self.progressed {
                self.schedule.reset_interval();
            }
            State::Sleeping(self.schedule.next_wake(now), Next::Status)
        };
        new
    }

    /// Feed a request that was answered with an error (or an answer that did not parse).
    pub fn handle_error(&mut self, now: Duration, error: crate::Error) {
        self.failed(now, WaitError::Core(error), None);
    }

    /// Feed a request that got no answer; `retryable` is the adapter's judgement.
    pub fn handle_transport_error(
        &mut self,
        now: Duration,
        message: impl Into<String>,
        retryable: bool,
    ) {
        self.failed(now, WaitError::Transport(message.into()), Some(retryable));
    }

    fn failed(&mut self, now: Duration, error: WaitError, retryable: Option<bool>) {
        let State::Awaiting(next) = self.state else {
            return;
        };
        let transient = retryable.unwrap_or_else(|| error.is_transient_api());
        self.state = if self.schedule.may_retry(now, transient) {
            State::Sleeping(self.schedule.next_wake(now), next)
        } else {
            State::Done(TaskOutcome::Error(error))
        };
    }
}
