//! Waiting for many tasks with progress (the task methods every adapter has come from
//! `proxmox_proto::async_flow_methods!`).

use crate::{Client, Error};
use proxmox_proto::Upid;
use proxmox_proto::flow::Event;
use proxmox_proto::task::{TaskOutcome, WaitOptions};

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
    /// Like [`Client::wait_tasks`], calling `progress` whenever a task ends (for a live
    /// progress line).
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// # let upid: Upid = "UPID:pve1:00001234:00005678:65000000:qmstart:100:root@pam:".parse()?;
    /// let outcomes = client
    ///     .wait_tasks_with_progress(&[upid], WaitOptions::default(), |p| eprintln!("{}/{}", p.finished, p.total))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_tasks_with_progress(
        &self,
        upids: &[Upid],
        options: WaitOptions,
        mut progress: impl FnMut(&SetProgress<'_>) + Send,
    ) -> Result<Vec<TaskOutcome>, Error> {
        let flow = self.core().wait_tasks(upids, options);
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
}
