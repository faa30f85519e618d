//! A task that did not end well, as an error: [`TaskOutcome::into_result`] turns `Failed`,
//! `TimedOut` and `Error` outcomes into a [`TaskError`] that names the task and carries the
//! exit status and the log tail, so that `?` stops at a failed task.

use super::{LogLine, TaskOutcome, WaitError};
use crate::Upid;
use std::fmt;

/// How many log lines a [`TaskError`] shows (it keeps them all).
const SHOWN_TAIL: usize = 3;

/// A task that failed, that was still running when the wait gave up, or whose wait failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task stopped with an error.
    #[error("task {} failed: {message}{}", TaskName(upid), Tail(log_tail, message))]
    Failed {
        /// The task.
        upid: Box<Upid>,
        /// The exit status (`VM 100 already running`, `unexpected status`, ...).
        message: String,
        /// The last lines of the task log (empty if they could not be read).
        log_tail: Vec<LogLine>,
    },
    /// The wait's deadline passed while the task was still running.
    #[error(
        "task {} was still running when the wait gave up; it keeps running (wait again with a \
         longer timeout, or stop it with cancel_task)",
        TaskName(upid)
    )]
    TimedOut {
        /// The task.
        upid: Box<Upid>,
    },
    /// A status request failed for good, so the task's end is unknown.
    #[error("waiting for task {} failed: {error}", TaskName(upid))]
    Wait {
        /// The task.
        upid: Box<Upid>,
        /// Why.
        #[source]
        error: WaitError,
    },
}

impl TaskError {
    /// The task.
    pub fn upid(&self) -> &Upid {
        match self {
            Self::Failed { upid, .. } | Self::TimedOut { upid } | Self::Wait { upid, .. } => upid,
        }
    }
}

impl TaskOutcome {
    /// `Ok(warnings)` for a task that succeeded (0 for `OK`, n for `WARNINGS: n`), else the
    /// [`TaskError`] that names `upid` and says how it ended.
    ///
    /// ```
    /// use proxmox_proto::task::{LogLine, TaskOutcome};
    /// let upid: proxmox_proto::Upid =
    ///     "UPID:pve1:00001234:00005678:65000000:qmstart:100:root@pam:".parse().unwrap();
    /// assert_eq!(TaskOutcome::Warnings(2).into_result(&upid), Ok(2));
    /// let failed = TaskOutcome::Failed {
    ///     message: "VM 100 already running".into(),
    ///     log_tail: vec![LogLine { n: 1, t: "TASK ERROR: VM 100 already running".into() }],
    /// };
    /// let e = failed.into_result(&upid).unwrap_err();
    /// assert_eq!(e.to_string(), "task qmstart 100 on pve1 failed: VM 100 already running");
    /// ```
    pub fn into_result(self, upid: &Upid) -> Result<u64, TaskError> {
        let upid = Box::new(upid.clone());
        match self {
            Self::Ok => Ok(0),
            Self::Warnings(n) => Ok(n),
            Self::Failed { message, log_tail } => Err(TaskError::Failed {
                upid,
                message,
                log_tail,
            }),
            Self::TimedOut => Err(TaskError::TimedOut { upid }),
            Self::Error(error) => Err(TaskError::Wait { upid, error }),
        }
    }
}

/// `qmstart 100 on pve1`: what a person recognises of a UPID.
struct TaskName<'a>(&'a Upid);

impl fmt::Display for TaskName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = self.0;
        match u.id() {
            "" => write!(f, "{} on {}", u.task_type(), u.node()),
            id => write!(f, "{} {id} on {}", u.task_type(), u.node()),
        }
    }
}

/// `; log: a | b | c`: the last lines of the log that say more than the exit status (the
/// second field).
struct Tail<'a>(&'a [LogLine], &'a str);

impl fmt::Display for Tail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said: Vec<&str> = self
            .0
            .iter()
            .map(|l| l.t.trim())
            .filter(|t| {
                !t.is_empty()
                    && !t.starts_with("TASK ERROR:")
                    && *t != "no content"
                    && *t != self.1.trim()
            })
            .collect();
        let shown = &said[said.len().saturating_sub(SHOWN_TAIL)..];
        if shown.is_empty() {
            return Ok(());
        }
        f.write_str("; log: ")?;
        for (i, line) in shown.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            // Escaped like Debug but without the quotes: a control character stays visible.
            write!(f, "{}", line.escape_debug())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upid() -> Upid {
        "UPID:pve1:00001234:00005678:65000000:vzdump::root@pam:"
            .parse()
            .unwrap()
    }

    fn line(n: u64, t: &str) -> LogLine {
        LogLine { n, t: t.into() }
    }

    #[test]
    fn failed_shows_the_last_lines_that_add_something() {
        let e = TaskOutcome::Failed {
            message: "job errors".into(),
            log_tail: vec![
                line(1, "INFO: starting new backup job"),
                line(2, "ERROR: Backup of VM 100 failed - no space left"),
                line(3, "INFO: Failed at 2026-12-05"),
                line(4, "INFO: tab\there"),
                line(5, "TASK ERROR: job errors"),
            ],
        }
        .into_result(&upid())
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "task vzdump on pve1 failed: job errors; log: ERROR: Backup of VM 100 failed - no \
             space left | INFO: Failed at 2026-12-05 | INFO: tab\\there"
        );
        assert_eq!(e.upid(), &upid());
        assert!(std::mem::size_of::<TaskError>() <= 128);
    }

    #[test]
    fn timed_out_and_wait_errors_say_what_to_do() {
        assert_eq!(
            TaskOutcome::TimedOut
                .into_result(&upid())
                .unwrap_err()
                .to_string(),
            "task vzdump on pve1 was still running when the wait gave up; it keeps running \
             (wait again with a longer timeout, or stop it with cancel_task)"
        );
        let e = TaskOutcome::Error(WaitError::Transport("connection refused".into()))
            .into_result(&upid())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "waiting for task vzdump on pve1 failed: transport error: connection refused"
        );
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn successes_count_warnings() {
        assert_eq!(TaskOutcome::Ok.into_result(&upid()), Ok(0));
        assert_eq!(TaskOutcome::Warnings(3).into_result(&upid()), Ok(3));
    }
}
