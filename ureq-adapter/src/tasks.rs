//! Tasks over the blocking client: waiting (one or many), reading and following logs. The
//! core's task flows decide everything; each method is one run of the driver loop.

use crate::{Client, Error};
use proxmox_proto::Upid;
use proxmox_proto::flow::Event;
use proxmox_proto::task::{LogLine, TaskOutcome, TaskStatus, WaitOptions};

impl Client {
    /// Wait for a task to end. `progress` sees every status answer (e.g. to draw a spinner).
    /// The outcome says `Ok`, `Warnings(n)` (a success), `Failed` with the log tail, or
    /// `TimedOut`; request failures that the waiter gave up on end as `TaskOutcome::Error`.
    pub fn wait_task(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut progress: impl FnMut(&TaskStatus),
    ) -> Result<TaskOutcome, Error> {
        let flow = self.inner.core.wait_task(upid.clone(), options);
        self.run_with(flow, &mut |e| {
            if let Event::TaskStatus(s) = &e {
                progress(s);
            }
        })
    }

    /// Wait for many tasks at once (one loop, one request at a time); outcomes in input order.
    pub fn wait_tasks(
        &self,
        upids: &[Upid],
        options: WaitOptions,
    ) -> Result<Vec<TaskOutcome>, Error> {
        self.run(self.inner.core.wait_tasks(upids, options))
    }

    /// The whole log of a task, page by page (500 lines a request).
    pub fn task_log(&self, upid: &Upid) -> Result<Vec<LogLine>, Error> {
        self.run(self.inner.core.read_log(upid.clone(), None))
    }

    /// Follow a task's log while it runs: `on_lines` gets every new line once, in order.
    /// Returns how the task ended.
    pub fn follow_task_log(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut on_lines: impl FnMut(&[LogLine]),
    ) -> Result<TaskOutcome, Error> {
        let flow = self.inner.core.follow_log(upid.clone(), options);
        self.run_with(flow, &mut |e| {
            if let Event::LogLines(lines) = &e {
                on_lines(lines);
            }
        })
    }

    /// Ask the server to stop a running task.
    pub fn cancel_task(&self, upid: &Upid) -> Result<(), Error> {
        let _: serde_json::Value = self.call(&upid.cancel_call()?)?;
        Ok(())
    }
}
