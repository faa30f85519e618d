//! Task flows: wait for one task or many, read a log (whole or a window), follow a running
//! log — the core's task machines run on API-call sub-flows.

use super::composite::{Machine, MachineStep, machine_flow};
use super::step::Event;
use super::sub_call::Answer;
use crate::error::Error;
use crate::task::{
    Action, LogFollower, LogLine, LogPage, TaskListing, TaskOutcome, TaskWaiter, TaskWatcher,
    WaitOptions, WatchAction,
};
use crate::upid::Upid;
use std::collections::VecDeque;
use std::time::Duration;

/// A task machine's two error inputs.
trait FeedErrors {
    fn error(&mut self, wall: Duration, e: Error);
    fn transport(&mut self, wall: Duration, message: String, retryable: bool);
}

impl FeedErrors for TaskWaiter {
    fn error(&mut self, wall: Duration, e: Error) {
        self.handle_error(wall, e);
    }
    fn transport(&mut self, wall: Duration, message: String, retryable: bool) {
        self.handle_transport_error(wall, message, retryable);
    }
}

impl FeedErrors for LogFollower {
    fn error(&mut self, wall: Duration, e: Error) {
        self.handle_error(wall, e);
    }
    fn transport(&mut self, wall: Duration, message: String, retryable: bool) {
        self.handle_transport_error(wall, message, retryable);
    }
}

/// A sub-call that ended without an answer: a transport error is transient unless it is
/// permanent (the machine counts transient errors); anything else is the machine's error.
fn feed_error(machine: &mut impl FeedErrors, wall: Duration, e: Error) {
    match e {
        Error::Transport(t) => {
            let retryable = !t.failure.permanent;
            machine.transport(wall, t.to_string(), retryable);
        }
        e => machine.error(wall, e),
    }
}

/// A task machine's [`Action`] as a [`MachineStep`] for slot 0.
fn action_step(action: Action) -> MachineStep<TaskOutcome> {
    match action {
        Action::Send(request) => MachineStep::Call {
            slot: 0,
            call: request.call,
        },
        Action::SleepUntil(t) => MachineStep::SleepUntil(t),
        Action::AwaitResponse => MachineStep::Await,
        Action::Done(outcome) => MachineStep::Done(Ok(outcome)),
    }
}

/// Waits for one task; reports every status as [`Event::TaskStatus`].
pub(crate) struct WaitOne {
    waiter: TaskWaiter,
    status_event: Option<Event>,
}

impl WaitOne {
    pub(crate) fn new(upid: Upid, options: WaitOptions) -> Self {
        Self {
            waiter: TaskWaiter::new(upid, options),
            status_event: None,
        }
    }
}

impl Machine for WaitOne {
    type Output = TaskOutcome;

    fn next(&mut self, wall: Duration) -> MachineStep<TaskOutcome> {
        if let Some(e) = self.status_event.take() {
            return MachineStep::Event(e);
        }
        action_step(self.waiter.poll(wall))
    }

    fn feed(&mut self, _slot: usize, wall: Duration, answer: Result<Answer, Error>) {
        match answer {
            Ok(Answer::Http(r)) => {
                self.waiter
                    .handle_response(wall, r.status, r.reason.as_deref(), &r.body)
            }
            Ok(shell) => match shell.data::<serde_json::Value>() {
                Ok(d) => self.waiter.handle_data(wall, &d, None),
                Err(e) => feed_error(&mut self.waiter, wall, e),
            },
            Err(e) => feed_error(&mut self.waiter, wall, e),
        }
        if let Some(s) = self.waiter.last_status() {
            self.status_event = Some(Event::TaskStatus(s.clone()));
        }
    }
}

/// Follows a running task's log; new lines come as [`Event::LogLines`].
pub(crate) struct FollowOne {
    follower: LogFollower,
    lines: Option<Vec<LogLine>>,
}

impl FollowOne {
    pub(crate) fn new(upid: Upid, options: WaitOptions) -> Self {
        Self {
            follower: LogFollower::new(upid, options),
            lines: None,
        }
    }
}

impl Machine for FollowOne {
    type Output = TaskOutcome;

    fn next(&mut self, wall: Duration) -> MachineStep<TaskOutcome> {
        if let Some(lines) = self.lines.take() {
            return MachineStep::Event(Event::LogLines(lines));
        }
        action_step(self.follower.poll(wall))
    }

    fn feed(&mut self, _slot: usize, wall: Duration, answer: Result<Answer, Error>) {
        let new = match answer.and_then(|a| match a {
            Answer::Http(r) => {
                Ok(self
                    .follower
                    .handle_response(wall, r.status, r.reason.as_deref(), &r.body))
            }
            shell => Ok(self
                .follower
                .handle_data(wall, &shell.data::<serde_json::Value>()?, None)),
        }) {
            Ok(new) => new,
            Err(e) => {
                feed_error(&mut self.follower, wall, e);
                Vec::new()
            }
        };
        if !new.is_empty() {
            self.lines = Some(new);
        }
    }
}

/// Waits for many tasks with a [`TaskWatcher`]: one task-list request per node per tick,
/// status requests only for what the lists cannot settle. A task seen running is reported
/// as [`Event::TaskStarted`], each end as [`Event::TaskFinished`]; the outcomes come in input
/// order.
pub(crate) struct WatchMany {
    watcher: TaskWatcher,
    finished: usize,
}

impl WatchMany {
    pub(crate) fn new(upids: &[Upid], listing: TaskListing, options: WaitOptions) -> Self {
        Self {
            watcher: TaskWatcher::new(upids.iter().cloned(), listing, options),
            finished: 0,
        }
    }
}

impl Machine for WatchMany {
    type Output = Vec<TaskOutcome>;

    fn next(&mut self, wall: Duration) -> MachineStep<Vec<TaskOutcome>> {
        match self.watcher.poll(wall) {
            WatchAction::Send { slot, call, .. } => MachineStep::Call { slot, call },
            WatchAction::Started { index } => MachineStep::Event(Event::TaskStarted {
                index,
                total: self.watcher.len(),
            }),
            WatchAction::Finished { index, outcome } => {
                self.finished += 1;
                MachineStep::Event(Event::TaskFinished {
                    index,
                    finished: self.finished,
                    total: self.watcher.len(),
                    outcome,
                })
            }
            WatchAction::SleepUntil(t) => MachineStep::SleepUntil(t),
            WatchAction::AwaitResponses => MachineStep::Await,
            WatchAction::AllDone => MachineStep::Done(Ok(self.watcher.outcomes())),
        }
    }

    fn feed(&mut self, slot: usize, wall: Duration, answer: Result<Answer, Error>) {
        match answer {
            Ok(Answer::Http(r)) => {
                self.watcher
                    .handle_response(slot, wall, r.status, r.reason.as_deref(), &r.body)
            }
            Ok(shell) => match shell.data::<serde_json::Value>() {
                Ok(d) => self.watcher.handle_data(slot, wall, &d, None),
                Err(e) => self.watcher.handle_error(slot, wall, e),
            },
            Err(Error::Transport(t)) => {
                let retryable = !t.failure.permanent;
                self.watcher
                    .handle_transport_error(slot, wall, t.to_string(), retryable)
            }
            Err(e) => self.watcher.handle_error(slot, wall, e),
        }
    }
}

/// Lines per log request when reading a whole log.
pub const LOG_PAGE: u64 = 500;

/// Reads a task log page by page: the whole log, or the window `start..start+limit`.
pub(crate) struct ReadLog {
    upid: Upid,
    /// The last line number read (lines after it come next).
    after: u64,
    /// Lines still wanted (`None`: all).
    left: Option<u64>,
    lines: Vec<LogLine>,
    state: ReadState,
}

enum ReadState {
    Ask,
    Waiting,
    Done,
    Failed(Error),
}

impl ReadLog {
    pub(crate) fn new(upid: Upid, window: Option<(u64, u64)>) -> Self {
        let (after, left) = match window {
            Some((start, limit)) => (start, Some(limit)),
            None => (0, None),
        };
        Self {
            upid,
            after,
            left,
            lines: Vec::new(),
            state: ReadState::Ask,
        }
    }
}

impl Machine for ReadLog {
    type Output = Vec<LogLine>;

    fn next(&mut self, _wall: Duration) -> MachineStep<Vec<LogLine>> {
        match std::mem::replace(&mut self.state, ReadState::Waiting) {
            ReadState::Ask => {
                let limit = self.left.map_or(LOG_PAGE, |l| l.min(LOG_PAGE));
                match self.upid.log_call(self.after, limit) {
                    Ok(call) => MachineStep::Call { slot: 0, call },
                    Err(e) => MachineStep::Done(Err(e.into())),
                }
            }
            ReadState::Waiting => MachineStep::Await,
            ReadState::Done => MachineStep::Done(Ok(std::mem::take(&mut self.lines))),
            ReadState::Failed(e) => MachineStep::Done(Err(e)),
        }
    }

    fn feed(&mut self, _slot: usize, _wall: Duration, answer: Result<Answer, Error>) {
        let page = answer.and_then(|a| {
            let (data, total) = a.envelope::<serde_json::Value>()?;
            Ok(LogPage::from_data(&data, total)?)
        });
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                self.state = ReadState::Failed(e);
                return;
            }
        };
        let asked = self.left.map_or(LOG_PAGE, |l| l.min(LOG_PAGE));
        let got = page.lines.len() as u64;
        let last = page.last_n();
        let after = self.after;
        let mut new: VecDeque<LogLine> = page.lines.into_iter().filter(|l| l.n > after).collect();
        if let Some(left) = &mut self.left {
            new.truncate(usize::try_from(*left).unwrap_or(usize::MAX));
            *left -= new.len() as u64;
        }
        self.lines.extend(new);
        let done = got < asked
            || self.left == Some(0)
            || page.total.is_some_and(|t| last.is_some_and(|l| l >= t));
        self.state = match last {
            Some(l) if !done && l > self.after => {
                self.after = l;
                ReadState::Ask
            }
            _ => ReadState::Done,
        };
    }
}

machine_flow!(
    WaitTask,
    WaitOne,
    TaskOutcome,
    "The flow of [`super::ClientCore::wait_task`]: ends with the task's outcome; every status \
     answer comes as [`Event::TaskStatus`]."
);
machine_flow!(
    WaitTasks,
    WatchMany,
    Vec<TaskOutcome>,
    "The flow of [`super::ClientCore::wait_tasks`]: one task-list request per node per tick \
     ([`crate::task::TaskWatcher`]); a task seen running comes as [`Event::TaskStarted`], each \
     end as [`Event::TaskFinished`]; ends with the outcomes in input order."
);
machine_flow!(
    FollowLog,
    FollowOne,
    TaskOutcome,
    "The flow of [`super::ClientCore::follow_log`]: new lines come as [`Event::LogLines`], each \
     once, in order; ends with the task's outcome."
);
machine_flow!(
    ReadTaskLog,
    ReadLog,
    Vec<LogLine>,
    "The flow of [`super::ClientCore::read_log`]: ends with the lines read."
);
