//! The task watcher against a model of PVE's and PBS's task lists (pve-manager
//! `PVE/API2/Tasks.pm` `node_tasks`, proxmox-backup `src/api2/node/tasks.rs` `list_tasks`):
//! paging, `since`, running tasks only with `source=all`, hidden tasks, refusals, deadlines.

use proxmox_proto::task::{
    TaskListing, TaskOutcome, TaskWatcher, WaitOptions, WatchAction, WatchKind,
};
use proxmox_proto::{Call, Upid};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const T0: u64 = 1_700_000_000;

#[derive(Clone)]
struct FakeTask {
    upid: String,
    node: String,
    start: u64,
    /// Seconds after T0 at which it ends.
    ends: u64,
    exit: String,
    /// Listed for the watcher (false: someone else's task the caller may not list).
    visible: bool,
}

/// A cluster's task lists, answered as the server would.
struct Fake {
    tasks: Vec<FakeTask>,
    pbs: bool,
    /// Answer listings with this status instead (e.g. 400 from a server without `source`).
    refuse_listing: Option<u16>,
    /// Listings still to fail with 595.
    fail_listings: u32,
    requests: Vec<(String, String)>,
}

fn param<'a>(form: &'a [(String, String)], k: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
}

impl Fake {
    fn new(tasks: Vec<FakeTask>) -> Self {
        Self {
            tasks,
            pbs: false,
            refuse_listing: None,
            fail_listings: 0,
            requests: Vec::new(),
        }
    }

    fn answer(&mut self, call: &Call, now: Duration) -> (u16, Vec<u8>) {
        let path = call.path.to_string();
        let form: Vec<(String, String)> = url_pairs(&call.params.to_form());
        self.requests.push((path.clone(), call.params.to_form()));
        let secs = now.as_secs();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["nodes", node, "tasks"] => {
                if let Some(code) = self.refuse_listing {
                    return (code, br#"{"data":null,"errors":{"source":"property is not defined in schema and the schema does not allow additional properties"}}"#.to_vec());
                }
                if self.fail_listings > 0 {
                    self.fail_listings -= 1;
                    return (595, Vec::new());
                }
                let source = param(&form, "source").unwrap_or("archive");
                assert!(
                    !self.pbs || param(&form, "source").is_none(),
                    "PBS has no source"
                );
                let start: usize = param(&form, "start").map_or(0, |v| v.parse().unwrap());
                let limit: usize = param(&form, "limit").map_or(50, |v| v.parse().unwrap());
                let since: u64 = param(&form, "since").map_or(0, |v| v.parse().unwrap());
                let running = |t: &FakeTask| T0 + t.ends > secs;
                let mut list: Vec<&FakeTask> = self
                    .tasks
                    .iter()
                    .filter(|t| t.node == *node && t.visible && t.start <= secs)
                    .filter(|t| t.start >= since)
                    .filter(|t| self.pbs || source == "all" || !running(t))
                    .collect();
                // Active tasks first, then the archive, newest end first.
                list.sort_by_key(|t| (!running(t), std::cmp::Reverse(t.ends)));
                let total = list.len();
                let items: Vec<Value> = list
                    .into_iter()
                    .skip(start)
                    .take(limit)
                    .map(|t| {
                        if running(t) {
                            if self.pbs {
                                json!({"upid": t.upid})
                            } else {
                                json!({"upid": t.upid, "status": "RUNNING"})
                            }
                        } else {
                            json!({"upid": t.upid, "endtime": T0 + t.ends, "status": t.exit})
                        }
                    })
                    .collect();
                let total = if self.pbs {
                    // PBS: the count so far, plus one while the page is full.
                    start + items.len() + usize::from(items.len() >= limit)
                } else {
                    total
                };
                (
                    200,
                    json!({"data": items, "total": total})
                        .to_string()
                        .into_bytes(),
                )
            }
            ["nodes", _, "tasks", upid, "status"] => {
                let t = self.tasks.iter().find(|t| t.upid == *upid).unwrap();
                let data = if T0 + t.ends > secs {
                    json!({"status": "running"})
                } else {
                    json!({"status": "stopped", "exitstatus": t.exit})
                };
                (200, json!({ "data": data }).to_string().into_bytes())
            }
            ["nodes", _, "tasks", upid, "log"] => {
                let t = self.tasks.iter().find(|t| t.upid == *upid).unwrap();
                let data = json!([{"n": 1, "t": "working"}, {"n": 2, "t": format!("TASK ERROR: {}", t.exit)}]);
                (
                    200,
                    json!({"data": data, "total": 2}).to_string().into_bytes(),
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn listings(&self) -> usize {
        self.requests
            .iter()
            .filter(|(p, _)| p.ends_with("/tasks"))
            .count()
    }

    fn statuses(&self) -> usize {
        self.requests
            .iter()
            .filter(|(p, _)| p.ends_with("/status"))
            .count()
    }
}

fn url_pairs(form: &str) -> Vec<(String, String)> {
    form.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn task(i: usize, node: &str, ends: u64, exit: &str) -> FakeTask {
    let start = T0 - 10 + (i as u64 % 7);
    FakeTask {
        upid: format!(
            "UPID:{node}:{:08X}:{:08X}:{start:08X}:qmstart:{}:root@pam:",
            1000 + i,
            5000 + i,
            100 + i
        ),
        node: node.to_owned(),
        start,
        ends,
        exit: exit.to_owned(),
        visible: true,
    }
}

struct Run {
    outcomes: Vec<TaskOutcome>,
    started: Vec<usize>,
    finished_at: HashMap<usize, Duration>,
    ticks: u64,
    /// Requests per tick (listings and status requests sent between two sleeps).
    per_tick: Vec<usize>,
    fallbacks: u64,
}

/// Drive `w` against `fake`, answering at once, sleeping as told.
fn drive(w: &mut TaskWatcher, fake: &mut Fake) -> Run {
    let mut now = Duration::from_secs(T0);
    let (mut started, mut finished_at, mut per_tick) = (Vec::new(), HashMap::new(), vec![0]);
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 1_000_000, "the watch does not end");
        match w.poll(now) {
            WatchAction::Send { slot, kind, call } => {
                if matches!(kind, WatchKind::Listing { .. } | WatchKind::Status { .. }) {
                    *per_tick.last_mut().unwrap() += 1;
                }
                let (status, body) = fake.answer(&call, now);
                w.handle_response(slot, now, status, None, &body);
            }
            WatchAction::Started { index } => started.push(index),
            WatchAction::Finished { index, .. } => {
                assert!(finished_at.insert(index, now).is_none(), "reported twice");
            }
            WatchAction::SleepUntil(t) => {
                assert!(t > now, "sleep into the past");
                now = t;
                per_tick.push(0);
            }
            WatchAction::AllDone => break,
            other => panic!("{other:?}"),
        }
    }
    per_tick.retain(|n| *n > 0);
    Run {
        outcomes: w.outcomes(),
        started,
        finished_at,
        ticks: w.stats().ticks,
        per_tick,
        fallbacks: w.stats().fallbacks,
    }
}

fn upids(tasks: &[FakeTask]) -> Vec<Upid> {
    tasks.iter().map(|t| t.upid.parse().unwrap()).collect()
}

fn expected(t: &FakeTask) -> TaskOutcome {
    match t.exit.as_str() {
        "OK" => TaskOutcome::Ok,
        w if w.starts_with("WARNINGS: ") => TaskOutcome::Warnings(w[10..].parse().unwrap()),
        _ => TaskOutcome::Failed {
            message: t.exit.clone(),
            log_tail: Vec::new(),
        },
    }
}

fn check_outcomes(run: &Run, tasks: &[FakeTask]) {
    for (i, (got, t)) in run.outcomes.iter().zip(tasks).enumerate() {
        match (got, expected(t)) {
            (TaskOutcome::Failed { message, log_tail }, TaskOutcome::Failed { message: m, .. }) => {
                assert_eq!(*message, m, "task {i}");
                assert_eq!(log_tail.len(), 2, "task {i}: the log tail");
                assert_eq!(log_tail[1].t, format!("TASK ERROR: {m}"));
            }
            (got, want) => assert_eq!(*got, want, "task {i}"),
        }
    }
}

/// 200 tasks on three nodes, more than a page per node: one listing per node and page per
/// tick, no fallback, every outcome right (OK, warnings, errors with their log tail).
#[test]
fn two_hundred_tasks_on_three_nodes() {
    let nodes = ["pve1", "pve2", "pve3"];
    let tasks: Vec<FakeTask> = (0..200)
        .map(|i| {
            let exit = match i % 10 {
                0 => "WARNINGS: 2".to_owned(),
                1 => format!("command 'qm start {}' failed", 100 + i),
                _ => "OK".to_owned(),
            };
            task(i, nodes[i % 3], 1 + (i as u64 * 37 % 30), &exit)
        })
        .collect();
    let mut fake = Fake::new(tasks.clone());
    let mut w = TaskWatcher::new(
        upids(&tasks),
        TaskListing::Pve,
        WaitOptions::new().with_list_page_size(50),
    );
    let run = drive(&mut w, &mut fake);
    check_outcomes(&run, &tasks);
    assert_eq!(run.fallbacks, 0);
    assert_eq!(fake.statuses(), 0);
    // 67 tasks on a node: two pages of 50 at most.
    for (i, n) in run.per_tick.iter().enumerate() {
        assert!(*n <= 3 * 2, "tick {i}: {n} requests");
    }
    assert_eq!(fake.listings() as u64, w.stats().listings);
    // Each task was seen running first (they all run at the first listing).
    let mut started = run.started.clone();
    started.sort();
    assert_eq!(started, (0..200).collect::<Vec<_>>());
    // Every listing asked for running tasks, from the earliest start still watched.
    for (path, form) in fake.requests.iter().filter(|(p, _)| p.ends_with("/tasks")) {
        assert!(form.starts_with("source=all&since="), "{path}?{form}");
        assert!(form.contains("&limit=50"), "{form}");
    }
    // Noticed within one tick interval (5 s at most) of the end.
    for (i, t) in tasks.iter().enumerate() {
        let noticed = run.finished_at[&i].as_secs() - T0;
        assert!(
            noticed >= t.ends && noticed <= t.ends + 5,
            "task {i}: {noticed} vs {}",
            t.ends
        );
    }
    assert!(run.ticks > 3);
}

/// A page boundary is crossed only while a watched task is still unseen: with the watched
/// tasks on the first page, one request per tick.
#[test]
fn pages_stop_once_every_watched_task_is_seen() {
    // 120 tasks on the node; the 3 watched run longest, so they head the list throughout.
    let all: Vec<FakeTask> = (0..120)
        .map(|i| {
            task(
                i,
                "pve1",
                if i >= 117 {
                    10 + i as u64 % 3
                } else {
                    1 + i as u64 % 3
                },
                "OK",
            )
        })
        .collect();
    let watched: Vec<FakeTask> = all[117..].to_vec();
    let mut fake = Fake::new(all);
    let mut w = TaskWatcher::new(
        upids(&watched),
        TaskListing::Pve,
        WaitOptions::new().with_list_page_size(50),
    );
    let run = drive(&mut w, &mut fake);
    check_outcomes(&run, &watched);
    assert!(run.per_tick.iter().all(|n| *n == 1), "{:?}", run.per_tick);
}

/// Someone else's task (the caller lacks Sys.Audit) never shows in the list: after two
/// listings without it, its own status requests settle it; the others stay on the list.
#[test]
fn a_task_the_list_does_not_show_falls_back() {
    let mut tasks: Vec<FakeTask> = (0..20).map(|i| task(i, "pve1", 8, "OK")).collect();
    tasks[7].visible = false;
    tasks[7].exit = "WARNINGS: 1".into();
    let mut fake = Fake::new(tasks.clone());
    let mut w = TaskWatcher::new(upids(&tasks), TaskListing::Pve, WaitOptions::new());
    let run = drive(&mut w, &mut fake);
    check_outcomes(&run, &tasks);
    assert_eq!(run.fallbacks, 1);
    assert!(fake.statuses() >= 1);
    assert!(
        fake.requests
            .iter()
            .filter(|(p, _)| p.ends_with("/status"))
            .all(|(p, _)| p.contains(&tasks[7].upid))
    );
}

/// A server that refuses the listing's parameters (400): every task goes its own way.
#[test]
fn a_refused_listing_falls_back_to_status_requests() {
    let tasks: Vec<FakeTask> = (0..5).map(|i| task(i, "pve1", 2, "OK")).collect();
    let mut fake = Fake::new(tasks.clone());
    fake.refuse_listing = Some(400);
    let mut w = TaskWatcher::new(upids(&tasks), TaskListing::Pve, WaitOptions::new());
    let run = drive(&mut w, &mut fake);
    check_outcomes(&run, &tasks);
    assert_eq!(fake.listings(), 1, "asked once");
    assert_eq!(run.fallbacks, 5);
}

/// 595s on the listing are retried at the next tick without falling back.
#[test]
fn a_transient_listing_failure_is_retried() {
    let tasks: Vec<FakeTask> = (0..5).map(|i| task(i, "pve1", 2, "OK")).collect();
    let mut fake = Fake::new(tasks.clone());
    fake.fail_listings = 3;
    let mut w = TaskWatcher::new(upids(&tasks), TaskListing::Pve, WaitOptions::new());
    let run = drive(&mut w, &mut fake);
    check_outcomes(&run, &tasks);
    assert_eq!(run.fallbacks, 0);
    assert_eq!(fake.statuses(), 0);
}

/// PBS: no `source`, a running task listed without a status, the virtual `total`.
#[test]
fn pbs_lists_running_tasks_by_default() {
    let tasks: Vec<FakeTask> = (0..30)
        .map(|i| {
            task(
                i,
                "pbs",
                1 + i as u64 % 5,
                if i % 4 == 0 {
                    "unexpected status"
                } else {
                    "OK"
                },
            )
        })
        .collect();
    let mut fake = Fake::new(tasks.clone());
    fake.pbs = true;
    let mut w = TaskWatcher::new(
        upids(&tasks),
        TaskListing::Pbs,
        WaitOptions::new().with_list_page_size(8),
    );
    let run = drive(&mut w, &mut fake);
    check_outcomes(&run, &tasks);
    assert_eq!(run.fallbacks, 0);
    assert_eq!(run.started.len(), 30);
}

/// PMG has no usable list: one status request per task, as before.
#[test]
fn without_a_listing_each_task_is_polled() {
    let tasks: Vec<FakeTask> = (0..3).map(|i| task(i, "pmg", 1, "OK")).collect();
    let mut fake = Fake::new(tasks.clone());
    let mut w = TaskWatcher::new(upids(&tasks), TaskListing::None, WaitOptions::new());
    let run = drive(&mut w, &mut fake);
    check_outcomes(&run, &tasks);
    assert_eq!(fake.listings(), 0);
    assert_eq!(run.fallbacks, 3);
}

/// At the deadline one last tick; what still runs has timed out, what ended has its outcome.
#[test]
fn the_deadline_ends_the_watch() {
    let tasks = vec![task(0, "pve1", 1, "OK"), task(1, "pve1", 3600, "OK")];
    let mut fake = Fake::new(tasks.clone());
    let mut w = TaskWatcher::new(
        upids(&tasks),
        TaskListing::Pve,
        WaitOptions::new().with_timeout(Duration::from_secs(10)),
    );
    let run = drive(&mut w, &mut fake);
    assert_eq!(run.outcomes, [TaskOutcome::Ok, TaskOutcome::TimedOut]);
    assert_eq!(run.finished_at[&1], Duration::from_secs(T0 + 10));
}

/// pvesh prints only the data (no `total`): a full page means "ask on".
#[test]
fn pages_without_a_total() {
    let tasks: Vec<FakeTask> = (0..25).map(|i| task(i, "pve1", 2, "OK")).collect();
    let mut fake = Fake::new(tasks.clone());
    let mut w = TaskWatcher::new(
        upids(&tasks),
        TaskListing::Pve,
        WaitOptions::new().with_list_page_size(10),
    );
    let mut now = Duration::from_secs(T0);
    loop {
        match w.poll(now) {
            WatchAction::Send { slot, call, .. } => {
                let (_, body) = fake.answer(&call, now);
                let v: Value = serde_json::from_slice(&body).unwrap();
                w.handle_data(slot, now, &v["data"], None);
            }
            WatchAction::SleepUntil(t) => now = t,
            WatchAction::AllDone => break,
            _ => {}
        }
    }
    assert!(w.outcomes().iter().all(|o| *o == TaskOutcome::Ok));
    assert_eq!(w.stats().fallbacks, 0);
    // The first tick read three pages (10, 10, 5).
    let first: Vec<&str> = fake.requests[..3].iter().map(|(_, f)| f.as_str()).collect();
    assert!(first[2].contains("start=20"), "{first:?}");
}

/// A server that ignores `start` and announces a huge `total` cannot keep a tick going: the
/// repeated page ends it, the tasks it never shows fall back, and the deadline holds.
#[test]
fn a_broken_listing_cannot_page_forever() {
    let tasks = vec![task(0, "pve1", 3600, "OK"), task(1, "pve1", 3600, "OK")];
    let mut w = TaskWatcher::new(
        upids(&tasks),
        TaskListing::Pve,
        WaitOptions::new()
            .with_timeout(Duration::from_secs(10))
            .with_list_page_size(2),
    );
    let page = json!({"data": [
        {"upid": "UPID:pve1:00000009:00000009:65000000:qmstart:900:root@pam:", "status": "RUNNING"},
        {"upid": "UPID:pve1:0000000A:0000000A:65000000:qmstart:901:root@pam:", "status": "RUNNING"},
    ], "total": 1_000_000_000u64})
    .to_string();
    let running = json!({"data": {"status": "running"}}).to_string();
    let mut now = Duration::from_secs(T0);
    let mut requests = 0;
    loop {
        requests += 1;
        assert!(requests < 1000, "still paging");
        match w.poll(now) {
            WatchAction::Send { slot, kind, .. } => {
                let body = match kind {
                    WatchKind::Listing { .. } => &page,
                    _ => &running,
                };
                now += Duration::from_millis(10);
                w.handle_response(slot, now, 200, None, body.as_bytes());
            }
            WatchAction::SleepUntil(t) => now = t,
            WatchAction::AllDone => break,
            _ => {}
        }
    }
    assert_eq!(w.outcomes(), [TaskOutcome::TimedOut, TaskOutcome::TimedOut]);
    assert!(
        now <= Duration::from_secs(T0 + 11),
        "{:?}",
        now - Duration::from_secs(T0)
    );
    assert_eq!(w.stats().fallbacks, 2);
}
