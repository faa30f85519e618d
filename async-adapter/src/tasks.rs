//! Tasks over the async client: waiting (one or many from one loop), reading and following
//! logs. The core's machines decide what to send and when; this file only sends and sleeps.

use crate::{CallOptions, Client, Error, RawResponse};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use proxmox_proto::task::{
    Action, LogFollower, LogLine, LogPage, SetAction, TaskOutcome, TaskStatus, TaskWaiter,
    WaitOptions, WaiterSet,
};
use proxmox_proto::{Call, Upid};
use std::time::Duration;

/// What a driver does with the answer to a request a task machine asked for.
enum Answer {
    Raw(RawResponse),
    Api(proxmox_proto::Error),
    Transport(String),
}

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
    async fn answer(&self, call: &Call) -> Result<Answer, Error> {
        match self.call_raw(call, &CallOptions::default()).await {
            Ok(raw) => Ok(Answer::Raw(raw)),
            Err(Error::Proto(e)) => Ok(Answer::Api(e)),
            // A status or log GET is safe to repeat; the machine counts transient failures.
            Err(Error::Transport { message, .. }) => Ok(Answer::Transport(message)),
            Err(other) => Err(other),
        }
    }

    fn until(&self, t: Duration) -> Duration {
        // At least a millisecond, so a clock that does not follow real time cannot spin.
        t.saturating_sub(self.now()).max(Duration::from_millis(1))
    }

    /// Wait for a task to end. `progress` sees every status answer (e.g. to draw a spinner).
    /// The outcome says `Ok`, `Warnings(n)` (a success), `Failed` with the log tail, or
    /// `TimedOut`; request failures that the waiter gave up on end as `TaskOutcome::Error`.
    pub async fn wait_task(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut progress: impl FnMut(&TaskStatus) + Send,
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
                Action::SleepUntil(t) => self.sleep(self.until(t)).await,
                Action::Done(outcome) => return Ok(outcome),
                // Sequential driving never leaves a request unanswered.
                Action::AwaitResponse => return Err(Error::Config("task waiter stalled".into())),
                _ => return Err(Error::Config("unknown task waiter action".into())),
            }
        }
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
        let mut set = WaiterSet::new();
        for u in upids {
            set.push_upid(u.clone(), options.clone());
        }
        let total = upids.len();
        let mut outcomes: Vec<Option<TaskOutcome>> = vec![None; total];
        let mut finished = 0;
        let mut in_flight = FuturesUnordered::new();
        let feed = |set: &mut WaiterSet, index: usize, answer: Answer, now: Duration| match answer {
            Answer::Raw(r) => {
                set.handle_response(index, now, r.status, r.reason.as_deref(), &r.body)
            }
            Answer::Api(e) => set.handle_error(index, now, e),
            Answer::Transport(m) => set.handle_transport_error(index, now, m, true),
        };
        loop {
            match set.poll(self.now()) {
                SetAction::Send { index, request } => in_flight.push(async move {
                    let a = self.answer(&request.call).await;
                    (index, a)
                }),
                SetAction::Finished { index, outcome } => {
                    finished += 1;
                    progress(&SetProgress {
                        finished,
                        total,
                        ended: Some((index, &outcome)),
                    });
                    if let Some(slot) = outcomes.get_mut(index) {
                        *slot = Some(outcome);
                    }
                }
                SetAction::SleepUntil(t) => {
                    let wait = self.until(t);
                    if in_flight.is_empty() {
                        self.sleep(wait).await;
                    } else if let Some(Some((index, answer))) =
                        self.timed_next(wait, &mut in_flight).await
                    {
                        feed(&mut set, index, answer?, self.now());
                    }
                }
                SetAction::AwaitResponses => match in_flight.next().await {
                    Some((index, answer)) => feed(&mut set, index, answer?, self.now()),
                    None => return Err(Error::Config("task set stalled".into())),
                },
                SetAction::AllDone => break,
                _ => return Err(Error::Config("unknown task set action".into())),
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(TaskOutcome::TimedOut))
            .collect())
    }

    /// The next item of `s`, or `None` when `d` passes first.
    async fn timed_next<S: futures_util::Stream + Unpin>(
        &self,
        d: Duration,
        s: &mut S,
    ) -> Option<Option<S::Item>> {
        let next = s.next();
        match futures_util::future::select(next, self.transport().sleep(d)).await {
            futures_util::future::Either::Left((v, _)) => Some(v),
            futures_util::future::Either::Right(_) => None,
        }
    }

    /// The whole log of a task, page by page (500 lines a request).
    pub async fn task_log(&self, upid: &Upid) -> Result<Vec<LogLine>, Error> {
        const PAGE: u64 = 500;
        let mut lines: Vec<LogLine> = Vec::new();
        let mut start = 0;
        loop {
            let env = self
                .call_envelope::<serde_json::Value>(
                    &upid.log_call(start, PAGE)?,
                    &CallOptions::default(),
                )
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
        mut on_lines: impl FnMut(&[LogLine]) + Send,
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
                Action::SleepUntil(t) => self.sleep(self.until(t)).await,
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
