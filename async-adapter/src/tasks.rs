//! Tasks over the async client: waiting (one or many from one loop), reading and following
//! logs. The core's task flows decide everything; each method is one run of the driver loop.

use crate::{Client, Error};
use proxmox_proto::Upid;
use proxmox_proto::flow::Event;
use proxmox_proto::task::{LogLine, TaskOutcome, TaskStatus, WaitOptions};

/// Progress of [`Client::wait_tasks_with_progress`].
#[derive(Debug)]
#[non_exhaustive]
pub struct SetProgress<'a> {
    /// How many tasks have ended.
    pub finished: usize,
    /// How many tasks there are.
    pub total: usize,
    /// The task that just ended (its index in the input) and how.
    pub ended: Option<(usize, &'a TaskOutcome)>,
}

impl Client {
    /// Wait for a task to end. `progress` sees every status answer (e.g. to draw a spinner).
    /// The outcome says `Ok`, `Warnings(n)` (a success), `Failed` with the log tail, or
    /// `TimedOut`; request failures that the waiter gave up on end as `TaskOutcome::Error`.
    pub async fn wait_task(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut progress: impl FnMut(&TaskStatus) + Send,
    ) -> Result<TaskOutcome, Error> {
        let flow = self.inner_core().wait_task(upid.clone(), options);
        self.run_with(flow, &mut |e| {
            if let Event::TaskStatus(s) = &e {
                progress(s);
            }
        })
        .await
    }

    /// Wait for many tasks at once from one loop; their status requests go out concurrently
    /// (within the client's in-flight limit). Outcomes in input order.
    pub async fn wait_tasks(
        &self,
        upids: &[Upid],
        options: WaitOptions,
    ) -> Result<Vec<TaskOutcome>, Error> {
        self.wait_tasks_with_progress(upids, options, |_| {}).await
    }

    /// Like [`Client::wait_tasks`], calling `progress` whenever a task ends (for a live
    /// progress line).
    pub async fn wait_tasks_with_progress(
        &self,
        upids: &[Upid],
        options: WaitOptions,
        mut progress: impl FnMut(&SetProgress<'_>) + Send,
    ) -> Result<Vec<TaskOutcome>, Error> {
        let flow = self.inner_core().wait_tasks(upids, options);
        self.run_with(flow, &mut |e| {
            if let Event::TaskFinished {
                index,
                finished,
                total,
                outcome,
                ..
            } = &e
            {
                progress(&SetProgress {
                    finished: *finished,
                    total: *total,
                    ended: Some((*index, outcome)),
                });
            }
        })
        .await
    }

    /// The whole log of a task, page by page (500 lines a request).
    pub async fn task_log(&self, upid: &Upid) -> Result<Vec<LogLine>, Error> {
        self.run_with(self.inner_core().read_log(upid.clone(), None), &mut |_| {})
            .await
    }

    /// Follow a task's log while it runs: `on_lines` gets every new line once, in order.
    /// Returns how the task ended.
    pub async fn follow_task_log(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut on_lines: impl FnMut(&[LogLine]) + Send,
    ) -> Result<TaskOutcome, Error> {
        let flow = self.inner_core().follow_log(upid.clone(), options);
        self.run_with(flow, &mut |e| {
            if let Event::LogLines(lines) = &e {
                on_lines(lines);
            }
        })
        .await
    }

    /// Ask the server to stop a running task.
    pub async fn cancel_task(&self, upid: &Upid) -> Result<(), Error> {
        let _: serde_json::Value = self.call(&upid.cancel_call()?).await?;
        Ok(())
    }
}
