//! Watching many tasks with one listing per node per tick: [`TaskWatcher`].
//!
//! Polling each task's status costs one request per task per tick, and each runs on the
//! node's few API workers (the status call is `protected`, pve-manager `PVE/API2/Tasks.pm`).
//! A node lists its tasks in one call instead: `GET /nodes/{node}/tasks`, which runs in the
//! proxy itself. The watcher asks each node involved for its list once per tick, settles every
//! task the list shows as ended, and asks for a task's own status only when the list cannot
//! settle it.
//!
//! # What the listing is, per product
//!
//! * PVE (`PVE/API2/Tasks.pm` `node_tasks`): `source` defaults to `archive`, which leaves out
//!   running tasks, so the watcher asks for `source=all` (the active tasks come first, with
//!   `status` `RUNNING`, then the archive, newest first). `limit` defaults to 50 and `0` lists
//!   nothing, so the watcher pages with `start` and an explicit `limit`, and `since` (the earliest
//!   start of the tasks still watched) cuts the list short. `total` counts every task the
//!   filters let through. A user without `Sys.Audit` on the node sees only their own tasks (a
//!   token only its own).
//! * PBS (`src/api2/node/tasks.rs` `list_tasks`): running and finished tasks by default (no
//!   `source`), `since` and `limit`/`start` alike; `total` is the count so far plus one while
//!   a page is full, so "a full page" and "`start` + length < `total`" both mean "ask on".
//! * PMG has no `since`: its tasks are watched one status request each
//!   ([`TaskListing::None`]), as are the tasks of a node whose listing is refused (an old
//!   server that does not know `source` answers 400).
//!
//! An entry with an `endtime`, or a `status` other than `RUNNING`, settles its task: `OK` and
//! `WARNINGS: n` at once; an error fetches the log tail (one or two log requests, as
//! [`TaskWaiter`] does). A task missing from two complete listings of its node in a row (the
//! listing lags, or it belongs to someone whose tasks the caller may not list) falls back to
//! its own status requests until it ends. Paging is bounded: at most the pages the first
//! page's `total` announces plus one (1,000 without a total), never past the deadline, and
//! not on when a page repeats the last one (a server that ignores `start`).
//!
//! # Driving contract
//!
//! The same as [`super::WaiterSet`]'s: call [`poll`](TaskWatcher::poll) until it returns
//! something other than [`WatchAction::Send`], [`WatchAction::Started`] or
//! [`WatchAction::Finished`]; send each request (concurrently is fine) and feed its answer
//! with the `slot` it came with (`handle_response` for whole HTTP answers, `handle_data` for
//! `pvesh`'s unwrapped data, `handle_error`, `handle_transport_error`); when the watcher says
//! [`WatchAction::SleepUntil`], wait until then or until an outstanding answer arrives.
//! [`WatchAction::AllDone`] ends the loop; [`outcomes`](TaskWatcher::outcomes) are in input
//! order. Each tick's listings go out together; the next tick waits for all of them, then the
//! backoff interval of [`WaitOptions`] (0.25 s growing to 5 s by default). At the deadline one
//! last round goes out; a task still running after it is [`TaskOutcome::TimedOut`].
//!
//! Here two tasks on one node, driven on canned answers: the first listing shows both
//! running, the second shows one ended with `OK` and one with an error, whose log tail is then
//! fetched.
//!
//! ```
//! use proxmox_proto::task::{TaskListing, TaskOutcome, TaskWatcher, WaitOptions, WatchAction, WatchKind};
//! use proxmox_proto::Upid;
//! use std::time::Duration;
//!
//! let a = "UPID:pve1:00000001:00000001:65000000:qmstart:100:root@pam:";
//! let b = "UPID:pve1:00000002:00000002:65000000:qmstart:101:root@pam:";
//! let upids: Vec<Upid> = [a, b].iter().map(|u| u.parse().unwrap()).collect();
//! let mut w = TaskWatcher::new(upids, TaskListing::Pve, WaitOptions::new());
//! let running = format!(
//!     r#"{{"data":[{{"upid":"{a}","status":"RUNNING"}},{{"upid":"{b}","status":"RUNNING"}}],"total":2}}"#
//! );
//! let ended = format!(
//!     r#"{{"data":[{{"upid":"{a}","endtime":1694498817,"status":"OK"}},{{"upid":"{b}","endtime":1694498818,"status":"disk full"}}],"total":2}}"#
//! );
//! let log = r#"{"data":[{"n":1,"t":"writing"},{"n":2,"t":"TASK ERROR: disk full"}],"total":2}"#;
//! let mut now = Duration::from_secs(1_700_000_000);
//! let (mut sent, mut started, mut listings) = (Vec::new(), 0, 0);
//! loop {
//!     match w.poll(now) {
//!         WatchAction::Send { slot, kind, call } => {
//!             sent.push(call.path.to_string());
//!             let body = match kind {
//!                 WatchKind::Listing { .. } => {
//!                     listings += 1;
//!                     assert_eq!(call.params.to_form(), "source=all&since=1694498816&start=0&limit=500");
//!                     if listings == 1 { running.clone() } else { ended.clone() }
//!                 }
//!                 WatchKind::Log { .. } => log.to_owned(),
//!                 other => unreachable!("{other:?}"),
//!             };
//!             w.handle_response(slot, now, 200, None, body.as_bytes());
//!         }
//!         WatchAction::Started { .. } => started += 1,
//!         WatchAction::Finished { .. } => {}
//!         WatchAction::SleepUntil(t) => now = t,
//!         WatchAction::AllDone => break,
//!         other => unreachable!("{other:?}"),
//!     }
//! }
//! assert_eq!(sent[0], "/nodes/pve1/tasks");
//! assert_eq!((started, w.stats().listings, w.stats().status_requests, w.stats().log_requests), (2, 2, 0, 1));
//! let outcomes = w.outcomes();
//! assert_eq!(outcomes[0], TaskOutcome::Ok);
//! match &outcomes[1] {
//!     TaskOutcome::Failed { message, log_tail } => {
//!         assert_eq!(message, "disk full");
//!         assert_eq!(log_tail[1].t, "TASK ERROR: disk full");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use super::{Action, ExitStatus, RequestKind, Schedule, TaskOutcome, TaskWaiter, WaitOptions};
use crate::call::Call;
use crate::upid::Upid;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How the server lists a node's tasks (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskListing {
    /// PVE: `source=all`, `since`, `start`/`limit`.
    Pve,
    /// PBS: `since`, `start`/`limit` (running tasks are listed by default).
    Pbs,
    /// No usable listing (PMG): one status request per task.
    None,
}

impl TaskListing {
    /// The listing a product offers.
    pub fn for_service(service: crate::Service) -> Self {
        match service {
            crate::Service::Pve => Self::Pve,
            // PDM's own tasks are listed like PBS's (proxmox-rest-server); a remote's tasks
            // are watched through the remote's paths.
            crate::Service::Pbs | crate::Service::Pdm => Self::Pbs,
            crate::Service::Pmg => Self::None,
        }
    }
}

/// What a request of the watcher is for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchKind {
    /// A page of a node's task list.
    Listing {
        /// The node.
        node: String,
    },
    /// The status of the task at `index` (it fell back to its own requests).
    Status {
        /// The task's index in the input.
        index: usize,
    },
    /// The log of the failed task at `index` (for its tail).
    Log {
        /// The task's index in the input.
        index: usize,
    },
}

/// What a [`TaskWatcher`] wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchAction {
    /// Send `call`; feed the answer with `slot`.
    Send {
        /// Which request this is (a slot has at most one request outstanding).
        slot: usize,
        /// What it asks for.
        kind: WatchKind,
        /// The call (a GET).
        call: Call,
    },
    /// The task at `index` was seen running (reported once per task, and not for a task
    /// first seen ended).
    Started {
        /// Its index in the input.
        index: usize,
    },
    /// The task at `index` ended (reported once per task).
    Finished {
        /// Its index in the input.
        index: usize,
        /// How.
        outcome: TaskOutcome,
    },
    /// Nothing to send before this time (since the Unix epoch); poll again then, or earlier
    /// when an outstanding answer arrives.
    SleepUntil(Duration),
    /// Requests are outstanding; feed an answer first.
    AwaitResponses,
    /// Every task has ended and been reported.
    AllDone,
}

/// What a watch has cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchStats {
    /// Listing pages asked for.
    pub listings: u64,
    /// Status requests of tasks that fell back.
    pub status_requests: u64,
    /// Log requests for failed tasks' tails.
    pub log_requests: u64,
    /// Ticks begun.
    pub ticks: u64,
    /// Tasks that fell back to their own status requests.
    pub fallbacks: u64,
}

/// Listings a task may be missing from, in a row, before it falls back.
const UNSEEN_BEFORE_FALLBACK: u32 = 2;

/// Pages per node and tick when the answers carry no `total` (pvesh).
const MAX_PAGES_WITHOUT_TOTAL: u64 = 1000;

#[derive(Debug, Clone)]
enum Phase {
    /// Watched through its node's listing.
    Listed,
    /// Its own requests: status polls after a fallback, or the log tail of a failure.
    Own(Box<TaskWaiter>),
    /// Ended (its report is queued or made).
    Done(TaskOutcome),
}

#[derive(Debug, Clone)]
struct Watched {
    upid: Upid,
    node: usize,
    phase: Phase,
    /// The tick whose listing last showed it.
    seen_tick: u64,
    /// Complete listings of its node in a row that did not show it.
    unseen: u32,
    /// Whether `Started` was reported.
    started_reported: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NodeState {
    /// Nothing under way this tick.
    Idle,
    /// The page at `start` is due.
    Due { start: u64 },
    /// The page at `start` was sent.
    Awaiting { start: u64 },
}

#[derive(Debug, Clone)]
struct NodeWatch {
    name: String,
    state: NodeState,
    /// Whether its listing can be used (a refusal turns it off for good).
    usable: bool,
    /// Transient listing failures in a row.
    transient: u32,
    /// Pages asked for in this tick.
    pages: u64,
    /// The most pages this tick may take (from the first page's `total`).
    page_cap: u64,
    /// The first UPID of the last page (a server that ignores `start` repeats it).
    last_first: Option<String>,
}

/// Watches many tasks, one listing per node per tick; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct TaskWatcher {
    tasks: Vec<Watched>,
    nodes: Vec<NodeWatch>,
    by_upid: HashMap<String, Vec<usize>>,
    listing: TaskListing,
    options: WaitOptions,
    schedule: Schedule,
    tick: u64,
    /// When the next tick begins (`None` before the first poll).
    next_tick: Option<Duration>,
    /// The tick under way is the last one (it began at or after the deadline).
    last_tick: bool,
    events: VecDeque<WatchAction>,
    stats: WatchStats,
}

impl TaskWatcher {
    /// A watcher for `upids` (a UPID given twice is reported under each index); nothing is sent before the first [`poll`](Self::poll), which fixes the deadline.
    pub fn new(
        upids: impl IntoIterator<Item = Upid>,
        listing: TaskListing,
        options: WaitOptions,
    ) -> Self {
        let mut nodes: Vec<NodeWatch> = Vec::new();
        let mut tasks = Vec::new();
        let mut by_upid: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, upid) in upids.into_iter().enumerate() {
            let node = match nodes.iter().position(|n| n.name == upid.node()) {
                Some(i) => i,
                None => {
                    nodes.push(NodeWatch {
                        name: upid.node().to_owned(),
                        state: NodeState::Idle,
                        usable: listing != TaskListing::None,
                        transient: 0,
                        pages: 0,
                        page_cap: 1,
                        last_first: None,
                    });
                    nodes.len() - 1
                }
            };
            by_upid
                .entry(upid.as_str().to_owned())
                .or_default()
                .push(index);
            tasks.push(Watched {
                upid,
                node,
                phase: Phase::Listed,
                seen_tick: 0,
                unseen: 0,
                started_reported: false,
            });
        }
        Self {
            tasks,
            nodes,
            by_upid,
            listing,
            schedule: Schedule::new(options.clone()),
            options,
            tick: 0,
            next_tick: None,
            last_tick: false,
            events: VecDeque::new(),
            stats: WatchStats::default(),
        }
    }

    /// How many tasks are watched.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task is watched.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// What the watch has cost so far.
    pub fn stats(&self) -> WatchStats {
        self.stats
    }

    /// The outcome of each task, in input order ([`TaskOutcome::TimedOut`] for one that has
    /// not ended).
    pub fn outcomes(&self) -> Vec<TaskOutcome> {
        self.tasks
            .iter()
            .map(|t| match &t.phase {
                Phase::Done(outcome) => outcome.clone(),
                _ => TaskOutcome::TimedOut,
            })
            .collect()
    }

    /// The slot of node `n`'s listing (after the tasks' slots).
    fn node_slot(&self, n: usize) -> usize {
        self.tasks.len() + n
    }

    /// What to do next (see the [module docs](self)).
    pub fn poll(&mut self, now: Duration) -> WatchAction {
        if self.next_tick.is_none() {
            self.schedule.start(now);
            self.next_tick = Some(now);
            // Tasks on nodes without a usable listing go their own way from the start.
            for i in 0..self.tasks.len() {
                if !self.nodes[self.tasks[i].node].usable {
                    self.fall_back(i);
                }
            }
        }
        // Each pass either returns or settles tasks / changes a node's state, so it ends.
        loop {
            if let Some(e) = self.events.pop_front() {
                return e;
            }
            let mut earliest: Option<Duration> = None;
            let mut awaiting = false;
            let mut settled = false;
            // Tasks on their own requests.
            for index in 0..self.tasks.len() {
                let Phase::Own(waiter) = &mut self.tasks[index].phase else {
                    continue;
                };
                match waiter.poll(now) {
                    Action::Send(request) => {
                        let kind = match request.kind {
                            RequestKind::Status => {
                                self.stats.status_requests += 1;
                                WatchKind::Status { index }
                            }
                            RequestKind::Log => {
                                self.stats.log_requests += 1;
                                WatchKind::Log { index }
                            }
                        };
                        return WatchAction::Send {
                            slot: index,
                            kind,
                            call: request.call,
                        };
                    }
                    Action::Done(outcome) => {
                        self.settle(index, outcome);
                        settled = true;
                    }
                    Action::SleepUntil(t) => earliest = Some(earliest.map_or(t, |e| e.min(t))),
                    Action::AwaitResponse => awaiting = true,
                }
            }
            if settled {
                continue;
            }
            // Listings: a tick begins when it is due and the last one is over.
            let busy = self.nodes.iter().any(|n| n.state != NodeState::Idle);
            if !busy && self.any_listed() {
                let due = self.next_tick.unwrap_or(now);
                if self.last_tick {
                    // The tick at the deadline is over: what still runs has timed out.
                    for i in 0..self.tasks.len() {
                        if matches!(self.tasks[i].phase, Phase::Listed) {
                            self.settle(i, TaskOutcome::TimedOut);
                        }
                    }
                    continue;
                } else if now >= due {
                    self.begin_tick(now);
                } else {
                    earliest = Some(earliest.map_or(due, |e| e.min(due)));
                }
            }
            let mut refused = false;
            for n in 0..self.nodes.len() {
                match self.nodes[n].state {
                    NodeState::Due { start } => match self.listing_call(n, start) {
                        Some(call) => {
                            self.nodes[n].state = NodeState::Awaiting { start };
                            self.stats.listings += 1;
                            return WatchAction::Send {
                                slot: self.node_slot(n),
                                kind: WatchKind::Listing {
                                    node: self.nodes[n].name.clone(),
                                },
                                call,
                            };
                        }
                        None => {
                            // No path can hold this node name: its tasks go their own way
                            // (where the status call fails with the reason).
                            self.refuse_listing(n, now);
                            refused = true;
                        }
                    },
                    NodeState::Awaiting { .. } => awaiting = true,
                    NodeState::Idle => {}
                }
            }
            if refused || !self.events.is_empty() {
                continue;
            }
            return match earliest {
                Some(t) => WatchAction::SleepUntil(t),
                None if awaiting => WatchAction::AwaitResponses,
                None if self.all_done() => WatchAction::AllDone,
                // Not reached (a listed task always has a tick due or under way); never spin.
                None => WatchAction::SleepUntil(now + self.options.initial_interval),
            };
        }
    }

    fn any_listed(&self) -> bool {
        self.tasks.iter().any(|t| matches!(t.phase, Phase::Listed))
    }

    fn all_done(&self) -> bool {
        self.tasks.iter().all(|t| matches!(t.phase, Phase::Done(_)))
    }

    fn begin_tick(&mut self, now: Duration) {
        self.tick += 1;
        self.stats.ticks += 1;
        self.last_tick = self.schedule.past_deadline(now);
        for n in 0..self.nodes.len() {
            let listed = self
                .tasks
                .iter()
                .any(|t| t.node == n && matches!(t.phase, Phase::Listed));
            if listed && self.nodes[n].usable {
                self.nodes[n].state = NodeState::Due { start: 0 };
            }
        }
    }

    /// The tick is over when no node has a page due or awaited: schedule the next.
    fn maybe_end_tick(&mut self, now: Duration) {
        if self.nodes.iter().all(|n| n.state == NodeState::Idle) {
            self.next_tick = Some(self.schedule.next_wake(now));
        }
    }

    fn listing_call(&self, n: usize, start: u64) -> Option<Call> {
        let node = &self.nodes[n];
        let since = self
            .tasks
            .iter()
            .filter(|t| t.node == n && matches!(t.phase, Phase::Listed))
            .map(|t| t.upid.start_time())
            .min()?;
        let mut call = Call::get(("nodes", node.name.as_str(), "tasks")).ok()?;
        if self.listing == TaskListing::Pve {
            call = call.param("source", "all");
        }
        Some(
            call.param("since", since)
                .param("start", start)
                .param("limit", self.page_size()),
        )
    }

    fn page_size(&self) -> u64 {
        self.options.list_page_size.max(1)
    }

    /// The task at `index` ended: record it and queue its report.
    fn settle(&mut self, index: usize, outcome: TaskOutcome) {
        let t = &mut self.tasks[index];
        if matches!(t.phase, Phase::Done(_)) {
            return;
        }
        t.phase = Phase::Done(outcome.clone());
        self.events
            .push_back(WatchAction::Finished { index, outcome });
    }

    fn mark_started(&mut self, index: usize) {
        let t = &mut self.tasks[index];
        if !t.started_reported {
            t.started_reported = true;
            self.events.push_back(WatchAction::Started { index });
        }
    }

    /// The task at `index` goes its own way: status requests until it ends.
    fn fall_back(&mut self, index: usize) {
        if !matches!(self.tasks[index].phase, Phase::Listed) {
            return;
        }
        self.stats.fallbacks += 1;
        let mut options = self.options.clone();
        options.timeout = None;
        options.deadline = self.schedule.deadline;
        let waiter = TaskWaiter::new(self.tasks[index].upid.clone(), options);
        self.tasks[index].phase = Phase::Own(Box::new(waiter));
    }

    /// Node `n`'s listing cannot be used: its tasks go their own way.
    fn refuse_listing(&mut self, n: usize, now: Duration) {
        self.nodes[n].usable = false;
        self.nodes[n].state = NodeState::Idle;
        for i in 0..self.tasks.len() {
            if self.tasks[i].node == n {
                self.fall_back(i);
            }
        }
        self.maybe_end_tick(now);
    }

    /// Feed a whole HTTP answer to the request sent with `slot`.
    pub fn handle_response(
        &mut self,
        slot: usize,
        now: Duration,
        status: u16,
        reason: Option<&str>,
        body: &[u8],
    ) {
        if let Some(n) = self.listing_slot(slot) {
            match crate::response::parse_envelope::<Value>(status, reason, body) {
                Ok(env) => self.handle_listing(n, now, &env.data, env.total),
                Err(e) => self.handle_error(slot, now, e),
            }
        } else if let Some(Phase::Own(w)) = self.tasks.get_mut(slot).map(|t| &mut t.phase) {
            w.handle_response(now, status, reason, body);
            self.after_own(slot);
        }
    }

    /// Feed the unwrapped `data` of an answer (from `pvesh`); `total` if known.
    pub fn handle_data(&mut self, slot: usize, now: Duration, data: &Value, total: Option<u64>) {
        if let Some(n) = self.listing_slot(slot) {
            self.handle_listing(n, now, data, total);
        } else if let Some(Phase::Own(w)) = self.tasks.get_mut(slot).map(|t| &mut t.phase) {
            w.handle_data(now, data, total);
            self.after_own(slot);
        }
    }

    /// Feed a request that was answered with an error (or an answer that did not parse).
    pub fn handle_error(&mut self, slot: usize, now: Duration, error: crate::Error) {
        if let Some(n) = self.listing_slot(slot) {
            let transient = super::WaitError::Core(error).is_transient_api();
            self.listing_failed(n, now, transient);
        } else if let Some(Phase::Own(w)) = self.tasks.get_mut(slot).map(|t| &mut t.phase) {
            w.handle_error(now, error);
        }
    }

    /// Feed a request that got no answer; `retryable` is the adapter's judgement.
    pub fn handle_transport_error(
        &mut self,
        slot: usize,
        now: Duration,
        message: impl Into<String>,
        retryable: bool,
    ) {
        if let Some(n) = self.listing_slot(slot) {
            self.listing_failed(n, now, retryable);
        } else if let Some(Phase::Own(w)) = self.tasks.get_mut(slot).map(|t| &mut t.phase) {
            w.handle_transport_error(now, message, retryable);
        }
    }

    /// The node whose listing is awaited under `slot`.
    fn listing_slot(&self, slot: usize) -> Option<usize> {
        let n = slot.checked_sub(self.tasks.len())?;
        match self.nodes.get(n)?.state {
            NodeState::Awaiting { .. } => Some(n),
            _ => None,
        }
    }

    /// A task on its own requests got an answer: note that it runs.
    fn after_own(&mut self, index: usize) {
        let running = match &self.tasks[index].phase {
            Phase::Own(w) => w.last_status().is_some_and(|s| s.exit_status().is_none()),
            _ => false,
        };
        if running {
            self.mark_started(index);
        }
    }

    fn listing_failed(&mut self, n: usize, now: Duration, transient: bool) {
        let node = &mut self.nodes[n];
        node.transient += 1;
        if !transient || node.transient > self.options.max_transient_errors {
            // Refused (an old server, a product without the parameters) or down for too
            // long: each task's own requests decide (their retry budget applies).
            self.refuse_listing(n, now);
            return;
        }
        // Try again next tick; this tick says nothing about the node's tasks.
        node.state = NodeState::Idle;
        self.maybe_end_tick(now);
    }

    fn handle_listing(&mut self, n: usize, now: Duration, data: &Value, total: Option<u64>) {
        let NodeState::Awaiting { start } = self.nodes[n].state else {
            return;
        };
        let Some(items) = data.as_array() else {
            self.listing_failed(n, now, false);
            return;
        };
        self.nodes[n].transient = 0;
        let first = items
            .first()
            .and_then(|i| i.get("upid"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let repeated = start > 0 && first.is_some() && first == self.nodes[n].last_first;
        let pbs = self.listing == TaskListing::Pbs;
        let node = &mut self.nodes[n];
        node.pages = if start == 0 { 1 } else { node.pages + 1 };
        // PBS's `total` is the count so far plus one while a page is full: it grows page by
        // page, so its bound is taken from each page; PVE's counts everything at once.
        if start == 0 || pbs {
            // Enough pages for what the page announced, and one for tasks that start
            // meanwhile; without a total (pvesh), a bound all the same.
            node.page_cap = total.map_or(MAX_PAGES_WITHOUT_TOTAL, |t| {
                t.div_ceil(self.options.list_page_size.max(1)) + 1
            });
        }
        node.last_first = first;
        for item in items {
            let Some(upid) = item.get("upid").and_then(Value::as_str) else {
                continue;
            };
            let Some(indices) = self.by_upid.get(upid).cloned() else {
                continue;
            };
            let status = item.get("status").and_then(Value::as_str);
            let ended = item.get("endtime").is_some_and(|e| !e.is_null())
                || status.is_some_and(|s| s != "RUNNING");
            for index in indices {
                if !matches!(self.tasks[index].phase, Phase::Listed) {
                    continue;
                }
                self.tasks[index].seen_tick = self.tick;
                self.tasks[index].unseen = 0;
                match (ended, status) {
                    (false, _) => self.mark_started(index),
                    (true, Some(text)) => self.ended(index, ExitStatus::parse(text)),
                    // Ended without a status: ask the task itself.
                    (true, None) => self.fall_back(index),
                }
            }
        }
        let got = items.len() as u64;
        let more = got > 0
            && match total {
                Some(t) => start + got < t,
                None => got >= self.page_size(),
            };
        let missing = self
            .tasks
            .iter()
            .any(|t| t.node == n && matches!(t.phase, Phase::Listed) && t.seen_tick != self.tick);
        // Page on only within bounds: a server that ignores `start` or announces a wrong
        // `total` must not keep a tick going, nor the deadline pass unnoticed.
        let past_deadline = self.schedule.past_deadline(now);
        let within = self.nodes[n].pages < self.nodes[n].page_cap && !repeated && !past_deadline;
        if more && missing && within {
            self.nodes[n].state = NodeState::Due { start: start + got };
            return;
        }
        if past_deadline {
            self.last_tick = true;
        }
        // The node's listing for this tick is complete.
        for i in 0..self.tasks.len() {
            let t = &mut self.tasks[i];
            if t.node == n && matches!(t.phase, Phase::Listed) && t.seen_tick != self.tick {
                t.unseen += 1;
                if t.unseen >= UNSEEN_BEFORE_FALLBACK {
                    self.fall_back(i);
                }
            }
        }
        self.nodes[n].state = NodeState::Idle;
        self.maybe_end_tick(now);
    }

    /// A listing showed the task at `index` ended with `exit`.
    fn ended(&mut self, index: usize, exit: ExitStatus) {
        match exit {
            ExitStatus::Failed(message) if self.options.log_tail_lines > 0 => {
                let waiter = TaskWaiter::for_failed_task(
                    self.tasks[index].upid.clone(),
                    self.options.clone(),
                    message,
                );
                self.tasks[index].phase = Phase::Own(Box::new(waiter));
            }
            exit => self.settle(index, TaskOutcome::from_exit(&exit)),
        }
    }
}
