//! Watching many tasks through proxmox-ureq on a 3-node simulated cluster whose task lists
//! follow PVE's defaults (archive only unless `source=all`, 50 entries, `limit=0` lists
//! nothing): 200 tasks, more than a page per node, every outcome right, the requests counted.

use proxmox_proto::Upid;
use proxmox_proto::task::{TaskOutcome, WaitOptions};
use proxmox_sim::{
    ClockMode, Config, Service as SimService, Simulator, TaskOutcome as SimOutcome, TaskPlan,
};
use proxmox_ureq::Client;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

fn cluster() -> Simulator {
    let mut c = Config::new(SimService::Pve);
    c.nodes = 3;
    c.clock = ClockMode::Realtime;
    Simulator::start(c).expect("simulator starts")
}

fn client(sim: &Simulator) -> Client {
    let urls = sim.node_urls();
    let clock = sim.clock().clone();
    Client::builder(&urls[0])
        .endpoints(&urls[1..])
        .ca_pem(sim.ca_pem().as_bytes())
        .clock(Arc::new(move || clock.now()))
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .expect("builds")
}

/// What the simulator was told task `i` does.
fn plan(i: u32) -> (SimOutcome, Duration) {
    let outcome = match i % 10 {
        3 => SimOutcome::Warnings(2),
        7 => SimOutcome::Error(format!("simulated failure {i}")),
        _ => SimOutcome::Ok,
    };
    (
        outcome,
        Duration::from_millis(200 + u64::from(i * 37 % 2800)),
    )
}

#[test]
fn two_hundred_tasks_on_three_nodes_cost_one_listing_per_node_and_page_per_tick() {
    let sim = cluster();
    let c = client(&sim);
    let nodes = ["pve1", "pve2", "pve3"];
    let mut upids: Vec<Upid> = Vec::new();
    for i in 0..200u32 {
        let (outcome, duration) = plan(i);
        sim.plan_next_task(TaskPlan::new(outcome).duration(duration));
        let node = nodes[i as usize % 3];
        let upid: String = c
            .post(
                ("nodes", node, "qemu"),
                &json!({"vmid": 1000 + i, "name": format!("w{i}")}),
            )
            .expect("create");
        upids.push(upid.parse().expect("a UPID"));
    }
    sim.clear_requests();
    let outcomes = c
        .wait_tasks(&upids, WaitOptions::new().with_list_page_size(50))
        .expect("waits");
    let requests = sim.requests();

    for (i, got) in outcomes.iter().enumerate() {
        match (plan(i as u32).0, got) {
            (SimOutcome::Ok, TaskOutcome::Ok) => {}
            (SimOutcome::Warnings(2), TaskOutcome::Warnings(2)) => {}
            (SimOutcome::Error(m), TaskOutcome::Failed { message, log_tail }) => {
                assert_eq!(*message, m, "task {i}");
                assert!(
                    log_tail.iter().any(|l| l.t == format!("TASK ERROR: {m}")),
                    "task {i}: {log_tail:?}"
                );
            }
            (want, got) => panic!("task {i}: wanted {want:?}, got {got:?}"),
        }
    }

    // Every listing asked for running tasks too, in pages of 50.
    let listings: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/tasks"))
        .collect();
    for r in &listings {
        let q: BTreeMap<&str, &str> = r
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(q.get("source"), Some(&"all"), "{:?}", r.query);
        assert_eq!(q.get("limit"), Some(&"50"), "{:?}", r.query);
        assert!(q.contains_key("since"), "{:?}", r.query);
    }
    // A tick is one first page per node still watched; a node's later pages come only while
    // a watched task is unseen, so at most 2 pages (67 tasks) per node per tick.
    let mut ticks = 0;
    for node in nodes {
        let first = listings
            .iter()
            .filter(|r| r.path == format!("/api2/json/nodes/{node}/tasks"))
            .filter(|r| r.query.iter().any(|(k, v)| k == "start" && v == "0"))
            .count();
        ticks = ticks.max(first);
    }
    let fallback_upids: HashSet<&str> = requests
        .iter()
        .filter(|r| r.path.ends_with("/status"))
        .filter_map(|r| r.path.split('/').nth(6))
        .collect();
    let statuses = requests
        .iter()
        .filter(|r| r.path.ends_with("/status"))
        .count();
    assert!(
        fallback_upids.len() <= 10,
        "fallbacks: {} of 200",
        fallback_upids.len()
    );
    assert!(
        listings.len() <= ticks * nodes.len() * 2,
        "{} listings in {ticks} ticks",
        listings.len()
    );
    let logs = requests.iter().filter(|r| r.path.ends_with("/log")).count();
    assert!(logs <= 2 * 20, "log requests: {logs} for 20 failures");
    eprintln!(
        "200 tasks: {ticks} ticks, {} listings, {statuses} status requests ({} tasks), {logs} log requests",
        listings.len(),
        fallback_upids.len()
    );
}

/// A task the caller may not see (alice, without Sys.Audit, watching root's task) is not
/// polled forever: after two listings without it, one status request, whose 403 is its
/// outcome (pve-manager `PVE/API2/Tasks.pm` applies the same check to lists and status).
#[test]
fn a_task_the_caller_may_not_see_ends_with_the_servers_refusal() {
    let sim = cluster();
    let root = client(&sim);
    sim.plan_next_task(TaskPlan::new(SimOutcome::Ok).duration(Duration::from_secs(30)));
    let theirs: String = root
        .post(("nodes", "pve1", "qemu"), &json!({"vmid": 990}))
        .expect("a task");
    let urls = sim.node_urls();
    let alice = Client::builder(&urls[0])
        .ca_pem(sim.ca_pem().as_bytes())
        .password(proxmox_sim::LIMITED_USER, proxmox_sim::LIMITED_PASSWORD)
        .build()
        .expect("builds");
    sim.clear_requests();
    let outcomes = alice
        .wait_tasks(&[theirs.parse().unwrap()], WaitOptions::new())
        .expect("waits");
    match &outcomes[0] {
        TaskOutcome::Error(e) => assert!(e.to_string().contains("Sys.Audit"), "{e}"),
        other => panic!("{other:?}"),
    }
    let requests = sim.requests();
    let listings = requests
        .iter()
        .filter(|r| r.path.ends_with("/tasks"))
        .count();
    let statuses = requests
        .iter()
        .filter(|r| r.path.ends_with("/status"))
        .count();
    assert_eq!((listings, statuses), (2, 1));
}
