//! Tasks over the browser client: waiting (one or many), reading and following logs. The
//! core's machines decide what to send and when; this file only sends and sleeps on the
//! JavaScript event loop.

use crate::{Client, Error, sys};
use proxmox_proto::task::{
    Action, LogFollower, LogLine, LogPage, SetAction, TaskOutcome, TaskStatus, TaskWaiter,
    WaitOptions, WaiterSet,
};
use proxmox_proto::{Call, Upid};
use std::time::Duration;

/// What a driver does with the answer to a request a task machine asked for.
enum Answer {
    Raw(crate::RawResponse),
    Api(proxmox_proto::Error),
    Transport(String),
}

impl Client {
    async fn answer(&self, call: &Call) -> Result<Answer, Error> {
        match self.call_raw(call).await {
            Ok(raw) => Ok(Answer::Raw(raw)),
            Err(Error::Proto(e)) => Ok(Answer::Api(e)),
            // A status or log GET is safe to repeat; the machine counts transient failures.
            Err(Error::Transport { message, .. }) => Ok(Answer::Transport(message)),
            Err(other) => Err(other),
        }
    }

    async fn sleep_until(&self, t: Duration) {
        // At least a millisecond, so a clock that does not follow real time cannot spin.
        sys::sleep(t.saturating_sub(self.now()).max(Duration::from_millis(1))).await;
    }

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
        let mut w = TaskWaiter::new(upid.clone(), options);
        loop {
            match w.poll(self.now()) {
                Action::Send(req) => {
                    match self.answer(&req.call).await? {
                        Answer::Raw(r) => {
                            w.handle_response(self.now(), r.status, r.reason.as_deref(), &r.body)
                        }
                        Answer::Api(e) => w.handle_error(self.now(), e),
                        Answer::Transport(m) => w.handle_transport_error(self.now(), m, true),
                    }
                    if let Some(s) = w.last_status() {
                        progress(s);
                    }
                }
                Action::SleepUntil(t) => self.sleep_until(t).await,
                Action::Done(outcome) => return Ok(outcome),
                // Sequential driving never leaves a request unanswered.
                _ => return Err(Error::Config("task waiter stalled".into())),
            }
        }
    }

    /// Wait for many tasks at once (one loop, one request at a time); outcomes in input order.
    pub async fn wait_tasks(
        &self,
        upids: &[Upid],
        options: WaitOptions,
    ) -> Result<Vec<TaskOutcome>, Error> {
        let mut set = WaiterSet::new();
        for u in upids {
            set.push_upid(u.clone(), options.clone());
        }
        let mut outcomes: Vec<Option<TaskOutcome>> = vec![None; upids.len()];
        loop {
            match set.poll(self.now()) {
                SetAction::Send { index, request } => match self.answer(&request.call).await? {
                    Answer::Raw(r) => set.handle_response(
                        index,
                        self.now(),
                        r.status,
                        r.reason.as_deref(),
                        &r.body,
                    ),
                    Answer::Api(e) => set.handle_error(index, self.now(), e),
                    Answer::Transport(m) => set.handle_transport_error(index, self.now(), m, true),
                },
                SetAction::Finished { index, outcome } => {
                    if let Some(slot) = outcomes.get_mut(index) {
                        *slot = Some(outcome);
                    }
                }
                SetAction::SleepUntil(t) => self.sleep_until(t).await,
                SetAction::AllDone => break,
                _ => return Err(Error::Config("task set stalled".into())),
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(TaskOutcome::TimedOut))
            .collect())
    }

    /// The whole log of a task, page by page (500 lines a request).
    pub async fn task_log(&self, upid: &Upid) -> Result<Vec<LogLine>, Error> {
        const PAGE: u64 = 500;
        let mut lines: Vec<LogLine> = Vec::new();
        let mut start = 0;
        loop {
            let env = self
                .call_envelope::<serde_json::Value>(&upid.log_call(start, PAGE)?)
                .await?;
            let page =
                LogPage::from_data(&env.data, env.total).map_err(proxmox_proto::Error::from)?;
            let got = page.lines.len() as u64;
            let last = page.last_n();
            lines.extend(page.lines.into_iter().filter(|l| l.n > start));
            let done = got < PAGE || env.total.is_some_and(|t| last.is_some_and(|l| l >= t));
            match last {
                Some(l) if !done && l > start => start = l,
                _ => break,
            }
        }
        Ok(lines)
    }

    /// Follow a task's log while it runs: `on_lines` gets every new line once, in order.
    /// Returns how the task ended.
    pub async fn follow_task_log(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut on_lines: impl FnMut(&[LogLine]),
    ) -> Result<TaskOutcome, Error> {
        let mut f = LogFollower::new(upid.clone(), options);
        loop {
            match f.poll(self.now()) {
                Action::Send(req) => {
                    let new = match self.answer(&req.call).await? {
                        Answer::Raw(r) => {
                            f.handle_response(self.now(), r.status, r.reason.as_deref(), &r.body)
                        }
                        Answer::Api(e) => {
                            f.handle_error(self.now(), e);
                            Vec::new()
                        }
                        Answer::Transport(m) => {
                            f.handle_transport_error(self.now(), m, true);
                            Vec::new()
                        }
                    };
                    if !new.is_empty() {
                        on_lines(&new);
                    }
                }
                Action::SleepUntil(t) => self.sleep_until(t).await,
                Action::Done(outcome) => return Ok(outcome),
                _ => return Err(Error::Config("log follower stalled".into())),
            }
        }
    }

    /// Ask the server to stop a running task.
    pub async fn cancel_task(&self, upid: &Upid) -> Result<(), Error> {
        let _: serde_json::Value = self.call(&upid.cancel_call()?).await?;
        Ok(())
    }
}
