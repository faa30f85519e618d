//! Tasks over `pvesh`: waiting (one or many), reading and following logs. The core's machines
//! decide what to ask and when; this file runs the commands and sleeps.

use crate::{CallOptions, Client, Error, now};
use proxmox_proto::task::{
    Action, LogFollower, LogLine, LogPage, SetAction, TaskOutcome, TaskStatus, TaskWaiter,
    WaitOptions, WaiterSet,
};
use proxmox_proto::{Call, Upid};
use serde_json::Value;
use std::time::Duration;

/// The answer to a request a task machine asked for.
enum Answer {
    Data(Value),
    Api(proxmox_proto::Error),
    Transport(String),
}

impl Client {
    fn answer(&self, call: &Call) -> Result<Answer, Error> {
        match self.call_with::<Value>(call, &CallOptions::default()) {
            Ok(v) => Ok(Answer::Data(v)),
            Err(Error::Proto(e)) => Ok(Answer::Api(e)),
            // A status or log read is safe to repeat; the machine counts transient failures.
            Err(Error::Transport { message, .. }) => Ok(Answer::Transport(message)),
            Err(other) => Err(other),
        }
    }

    fn sleep_until(&self, t: Duration) {
        std::thread::sleep(t.saturating_sub(now()).max(Duration::from_millis(1)));
    }

    /// Wait for a task to end. `progress` sees every status answer. The outcome says `Ok`,
    /// `Warnings(n)` (a success), `Failed` with the log tail, or `TimedOut`; failures the
    /// waiter gave up on end as `TaskOutcome::Error`.
    pub fn wait_task(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut progress: impl FnMut(&TaskStatus),
    ) -> Result<TaskOutcome, Error> {
        let mut w = TaskWaiter::new(upid.clone(), options);
        loop {
            match w.poll(now()) {
                Action::Send(req) => {
                    match self.answer(&req.call)? {
                        // pvesh prints `data` only: no `total` next to it.
                        Answer::Data(d) => w.handle_data(now(), &d, None),
                        Answer::Api(e) => w.handle_error(now(), e),
                        Answer::Transport(m) => w.handle_transport_error(now(), m, true),
                    }
                    if let Some(s) = w.last_status() {
                        progress(s);
                    }
                }
                Action::SleepUntil(t) => self.sleep_until(t),
                Action::Done(outcome) => return Ok(outcome),
                Action::AwaitResponse => return Err(Error::Config("task waiter stalled".into())),
                _ => return Err(Error::Config("unknown task waiter action".into())),
            }
        }
    }

    /// Wait for many tasks at once (one loop, one command at a time); outcomes in input order.
    pub fn wait_tasks(
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
            match set.poll(now()) {
                SetAction::Send { index, request } => match self.answer(&request.call)? {
                    Answer::Data(d) => set.handle_data(index, now(), &d, None),
                    Answer::Api(e) => set.handle_error(index, now(), e),
                    Answer::Transport(m) => set.handle_transport_error(index, now(), m, true),
                },
                SetAction::Finished { index, outcome } => {
                    if let Some(slot) = outcomes.get_mut(index) {
                        *slot = Some(outcome);
                    }
                }
                SetAction::SleepUntil(t) => self.sleep_until(t),
                SetAction::AllDone => break,
                _ => return Err(Error::Config("task set stalled".into())),
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(TaskOutcome::TimedOut))
            .collect())
    }

    /// The whole log of a task, page by page (500 lines a command).
    pub fn task_log(&self, upid: &Upid) -> Result<Vec<LogLine>, Error> {
        const PAGE: u64 = 500;
        let mut lines: Vec<LogLine> = Vec::new();
        let mut start = 0;
        loop {
            let data: Value = self.call(&upid.log_call(start, PAGE)?)?;
            let page = LogPage::from_data(&data, None).map_err(proxmox_proto::Error::from)?;
            let got = page.lines.len() as u64;
            let last = page.last_n();
            lines.extend(page.lines.into_iter().filter(|l| l.n > start));
            match last {
                Some(l) if got >= PAGE && l > start => start = l,
                _ => break,
            }
        }
        Ok(lines)
    }

    /// Follow a task's log while it runs: `on_lines` gets every new line once, in order.
    /// Returns how the task ended.
    pub fn follow_task_log(
        &self,
        upid: &Upid,
        options: WaitOptions,
        mut on_lines: impl FnMut(&[LogLine]),
    ) -> Result<TaskOutcome, Error> {
        let mut f = LogFollower::new(upid.clone(), options);
        loop {
            match f.poll(now()) {
                Action::Send(req) => {
                    let new = match self.answer(&req.call)? {
                        Answer::Data(d) => f.handle_data(now(), &d, None),
                        Answer::Api(e) => {
                            f.handle_error(now(), e);
                            Vec::new()
                        }
                        Answer::Transport(m) => {
                            f.handle_transport_error(now(), m, true);
                            Vec::new()
                        }
                    };
                    if !new.is_empty() {
                        on_lines(&new);
                    }
                }
                Action::SleepUntil(t) => self.sleep_until(t),
                Action::Done(outcome) => return Ok(outcome),
                _ => return Err(Error::Config("log follower stalled".into())),
            }
        }
    }

    /// Ask the node to stop a running task.
    pub fn cancel_task(&self, upid: &Upid) -> Result<(), Error> {
        let _: Value = self.call(&upid.cancel_call()?)?;
        Ok(())
    }
}
