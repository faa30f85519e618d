//! Tasks over the browser client: waiting (one or many), reading and following logs. The
//! core's task flows decide everything; each method is one run of the driver loop, sleeping
//! with `setTimeout`.

use crate::{Client, Error};
use proxmox_proto::Upid;
use proxmox_proto::flow::Event;
use proxmox_proto::task::{LogLine, TaskOutcome, TaskStatus, WaitOptions};

impl Client {
    /// Wait for a task to end, sleeping with `setTimeout` between status requests. `progress`
    /// sees every status answer. The outcome says `Ok`, `Warnings(n)` (a success), `Failed`
    /// with the log tail, or `TimedOut`; request failures the waiter gave up on end as
    /// `TaskOutcome::Error`.
    pub async fn wait_task(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut progress: impl FnMut(&TaskStatus),
    ) -> Result<TaskOutcome, Error> {
        let flow = self.core().wait_task(upid.clone(), options);
        self.run_events(flow, &mut |e| {
            if let Event::TaskStatus(s) = &e {
                progress(s);
            }
        })
        .await
    }

    /// Wait for many tasks at once (one loop, one request at a time); outcomes in input order.
    pub async fn wait_tasks(
        &self,
        upids: &[Upid],
        options: WaitOptions,
    ) -> Result<Vec<TaskOutcome>, Error> {
        self.run(self.core().wait_tasks(upids, options)).await
    }

    /// The whole log of a task, page by page (500 lines a request).
    pub async fn task_log(&self, upid: &Upid) -> Result<Vec<LogLine>, Error> {
        self.run(self.core().read_log(upid.clone(), None)).await
    }

    /// Follow a task's log while it runs: `on_lines` gets every new line once, in order.
    /// Returns how the task ended.
    pub async fn follow_task_log(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut on_lines: impl FnMut(&[LogLine]),
    ) -> Result<TaskOutcome, Error> {
        let flow = self.core().follow_log(upid.clone(), options);
        self.run_events(flow, &mut |e| {
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
