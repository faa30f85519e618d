//! Tasks: status, waiting for a task to end, and task logs.
//!
//! Long-running operations (start a guest, back up, download an ISO) answer with a
//! [`Upid`](crate::Upid) at once and run as a *task* on the node named in the UPID. This module
//! holds everything a client needs to follow such a task, without any IO:
//!
//! * [`status`]: the model of `GET /nodes/{node}/tasks/{upid}/status` ([`TaskStatus`]) and the
//!   exit status (`OK`, `WARNINGS: n`, failure text) as an [`ExitStatus`];
//! * [`log`]: task log pages (`{n, t}` lines, `start`/`limit` paging) as [`LogPage`];
//! * [`waiter`]: [`TaskWaiter`], a state machine that polls the status with backoff until the
//!   task stops or a deadline passes, and fetches the log tail on failure; [`WaiterSet`] drives
//!   many of them from one loop;
//! * [`watcher`]: [`TaskWatcher`], many tasks watched with one task-list request per node per
//!   tick, falling back to status requests only for what the lists cannot settle;
//! * [`follow`]: [`LogFollower`], a state machine that follows a running task's log, line by
//!   line, without losing or repeating lines.
//!
//! The machines share one vocabulary: [`WaitOptions`] configure them, [`Action`] tells the
//! driver what to do next, a [`TaskRequest`] is a call to send, and [`TaskOutcome`] is how the
//! wait ended. Time is passed in as `now`, a [`Duration`] since the Unix epoch.
//!
//! Cancelling a task is one request: [`Upid::cancel_call`](crate::Upid::cancel_call).
//! [`TaskOutcome::into_result`] turns an outcome into `Result<u64, TaskError>` for `?`.

use crate::call::Call;
use std::time::Duration;

mod error;
pub mod follow;
pub mod log;
pub mod status;
pub mod waiter;
pub mod watcher;

pub use error::TaskError;
pub use follow::LogFollower;
pub use log::{LogLine, LogPage};
pub use status::{ExitStatus, RunState, TaskStatus};
pub use waiter::{SetAction, TaskWaiter, WaiterSet};
pub use watcher::{TaskListing, TaskWatcher, WatchAction, WatchKind, WatchStats};

/// How a waiter or log follower polls.
///
/// The first status request goes out at the first `poll`. After each status that says the
/// task is still running, the next request waits `interval`, which starts at
/// [`initial_interval`](Self::initial_interval) and is multiplied by
/// [`backoff_factor`](Self::backoff_factor) after every wait, up to
/// [`max_interval`](Self::max_interval). With the defaults the waits are 0.25 s, 0.5 s, 1 s,
/// 2 s, 4 s, then 5 s each.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The first wait between two status requests (default 250 ms).
    pub initial_interval: Duration,
    /// The longest wait between two status requests (default 5 s).
    pub max_interval: Duration,
    /// The factor applied to the wait after each wait (default 2.0; values below 1 or not
    /// finite are treated as 1).
    pub backoff_factor: f64,
    /// Give up this long after the first `poll` (default: none).
    pub timeout: Option<Duration>,
    /// Give up at this time since the Unix epoch (default: none). With both `timeout` and
    /// `deadline`, the earlier one counts.
    pub deadline: Option<Duration>,
    /// How many log lines to keep for a failed task (default 20; 0 fetches no log).
    pub log_tail_lines: u64,
    /// How many lines the log follower asks for per request (default 500; 0 asks for all).
    pub page_size: u64,
    /// How many transient failures in a row (595-599, 502-504, transport errors the adapter
    /// calls retryable) are retried before the wait ends with the error (default 5).
    pub max_transient_errors: u32,
    /// How many entries the task watcher asks for per page of a node's task list (default
    /// 500; at least 1: PVE lists nothing for `limit=0`).
    pub list_page_size: u64,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(5),
            backoff_factor: 2.0,
            timeout: None,
            deadline: None,
            log_tail_lines: 20,
            page_size: 500,
            max_transient_errors: 5,
            list_page_size: 500,
        }
    }
}

impl WaitOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the first and the longest wait.
    pub fn with_intervals(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_interval = initial;
        self.max_interval = max;
        self
    }

    /// Set the backoff factor.
    pub fn with_backoff_factor(mut self, factor: f64) -> Self {
        self.backoff_factor = factor;
        self
    }

    /// Give up this long after the first `poll`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Give up at this time (since the Unix epoch).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Keep this many log lines of a failed task (0: fetch no log).
    pub fn with_log_tail_lines(mut self, lines: u64) -> Self {
        self.log_tail_lines = lines;
        self
    }

    /// Lines per log request for the follower (0: all at once).
    pub fn with_page_size(mut self, lines: u64) -> Self {
        self.page_size = lines;
        self
    }

    /// Transient failures in a row that are retried.
    pub fn with_max_transient_errors(mut self, n: u32) -> Self {
        self.max_transient_errors = n;
        self
    }

    /// Entries per page of a node's task list for the task watcher (at least 1).
    pub fn with_list_page_size(mut self, entries: u64) -> Self {
        self.list_page_size = entries;
        self
    }
}

/// What a request of a task machine asks for, so the driver knows which `handle_*` method the
/// answer goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A status request: feed the answer's `data` to `handle_status`.
    Status,
    /// A log request: feed the answer's page to `handle_log`.
    Log,
}

/// A request a task machine wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    /// Status or log.
    pub kind: RequestKind,
    /// The call (always a GET).
    pub call: Call,
}

/// The next thing the driver of a task machine must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send this request, then feed its answer (or its failure) back.
    Send(TaskRequest),
    /// Nothing to send before this time (since the Unix epoch); poll again then.
    SleepUntil(Duration),
    /// A request is outstanding; feed its answer (or failure) first.
    AwaitResponse,
    /// Finished. Polling again returns the same outcome.
    Done(TaskOutcome),
}

/// How waiting for a task ended. A failed task is an outcome, not an error: check it, or turn
/// it into a `Result` with [`TaskOutcome::into_result`] (what the clients' `wait_task_ok` does).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a failed or timed-out task is an outcome, not an error: check it, or use into_result"]
pub enum TaskOutcome {
    /// The task stopped with `OK`.
    Ok,
    /// The task stopped with `WARNINGS: n`, which is a success.
    Warnings(u64),
    /// The task stopped with an error.
    Failed {
        /// The exit status text (`unexpected status`, `unknown`, the error message...).
        message: String,
        /// The last lines of the task log (empty if not fetched or not available).
        log_tail: Vec<LogLine>,
    },
    /// The deadline passed while the task was still running. The task keeps running; cancel it
    /// with [`Upid::cancel_call`](crate::Upid::cancel_call) if needed.
    TimedOut,
    /// A request failed and the wait could not go on.
    Error(WaitError),
}

impl TaskOutcome {
    /// Whether the task stopped successfully (`OK` or `WARNINGS: n`).
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Ok | Self::Warnings(_))
    }

    /// The outcome for a stopped task's exit status (with an empty log tail).
    pub fn from_exit(exit: &ExitStatus) -> Self {
        match exit {
            ExitStatus::Ok => Self::Ok,
            ExitStatus::Warnings(n) => Self::Warnings(*n),
            ExitStatus::Failed(m) => Self::Failed {
                message: m.clone(),
                log_tail: Vec::new(),
            },
        }
    }
}

/// A request of a task machine that failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The server answered with an error, or the answer did not make sense.
    #[error(transparent)]
    Core(#[from] crate::Error),
    /// The adapter could not get an answer (connection refused, timeout, ...).
    #[error("transport error: {0}")]
    Transport(String),
}

impl WaitError {
    /// Whether retrying the same GET later may succeed: 595–599 (the node that owns the task is
    /// unreachable from the node we talk to) and 502–504 (a proxy in front).
    pub fn is_transient_api(&self) -> bool {
        match self {
            Self::Core(crate::Error::Api(e)) => {
                e.class == crate::ErrorClass::UpstreamUnreachable || matches!(e.status, 502..=504)
            }
            _ => false,
        }
    }
}

/// Backoff, deadline and transient-error bookkeeping shared by the machines.
#[derive(Debug, Clone)]
struct Schedule {
    opts: WaitOptions,
    interval: Duration,
    deadline: Option<Duration>,
    started: bool,
    transient_errors: u32,
}

impl Schedule {
    fn new(opts: WaitOptions) -> Self {
        Self {
            interval: opts.initial_interval,
            deadline: opts.deadline,
            opts,
            started: false,
            transient_errors: 0,
        }
    }

    /// Fix the deadline at the first poll.
    fn start(&mut self, now: Duration) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(t) = self.opts.timeout {
            let d = now.saturating_add(t);
            self.deadline = Some(self.deadline.map_or(d, |x| x.min(d)));
        }
    }

    fn past_deadline(&self, now: Duration) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// When to send next, and grow the interval.
    fn next_wake(&mut self, now: Duration) -> Duration {
        let wake = now.saturating_add(self.interval.min(self.opts.max_interval));
        let factor = if self.opts.backoff_factor.is_finite() && self.opts.backoff_factor > 1.0 {
            self.opts.backoff_factor
        } else {
            1.0
        };
        let grown = Duration::try_from_secs_f64(self.interval.as_secs_f64() * factor)
            .unwrap_or(self.opts.max_interval);
        self.interval = grown.min(self.opts.max_interval);
        match self.deadline {
            Some(d) => wake.min(d),
            None => wake,
        }
    }

    fn reset_interval(&mut self) {
        self.interval = self.opts.initial_interval;
    }

    fn answered(&mut self) {
        self.transient_errors = 0;
    }

    /// Whether a failure may be retried now; counts it.
    fn may_retry(&mut self, now: Duration, transient: bool) -> bool {
        if !transient
            || self.past_deadline(now)
            || self.transient_errors >= self.opts.max_transient_errors
        {
            return false;
        }
        self.transient_errors += 1;
        true
    }
}

/// An answer read for a pending request.
enum Answer {
    Status(TaskStatus),
    Log(LogPage),
}

/// Parse a whole HTTP answer for a request of `kind`.
fn parse_answer(
    kind: RequestKind,
    status: u16,
    reason: Option<&str>,
    body: &[u8],
) -> Result<Answer, crate::Error> {
    let env = crate::response::parse_envelope::<serde_json::Value>(status, reason, body)?;
    read_data(kind, &env.data, env.total)
}

/// Read the `data` of an answer for a request of `kind`.
fn read_data(
    kind: RequestKind,
    data: &serde_json::Value,
    total: Option<u64>,
) -> Result<Answer, crate::Error> {
    Ok(match kind {
        RequestKind::Status => Answer::Status(TaskStatus::from_data(data)?),
        RequestKind::Log => Answer::Log(LogPage::from_data(data, total)?),
    })
}
