//! Watching N tasks on a 3-node simulated cluster (release build, simulator clock in real
//! time): `cargo bench -p proxmox-ureq --bench task_watch`. Prints a Markdown table.
//!
//! For N = 1, 10, 100 and 1,000 tasks (spread over the nodes, each ending 1 to 3 s after
//! it started, one in ten with an error), two ways of waiting:
//! * `watcher`: `client.wait_tasks` (one task list per node per tick, paged; pages of 500,
//!   and for 1,000 tasks also pages of 50, so that a node's 333 tasks take 7 pages);
//! * `per-task`: the core's `WaiterSet` driven over the same client, one status request per
//!   task per tick (what every client did before).
//!
//! Columns: requests sent while waiting (from the simulator's log), ticks, requests per tick,
//! and the time from the last task's end to the wait's return (time to notice).

use proxmox_proto::Upid;
use proxmox_proto::task::{SetAction, TaskOutcome, WaitOptions, WaiterSet};
use proxmox_sim::{ClockMode, Config, Service, Simulator, TaskOutcome as SimOutcome, TaskPlan};
use proxmox_ureq::Client;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn cluster() -> Simulator {
    let mut c = Config::new(Service::Pve);
    c.nodes = 3;
    c.clock = ClockMode::Realtime;
    Simulator::start(c).expect("simulator")
}

fn client(sim: &Simulator) -> Client {
    let urls = sim.node_urls();
    let clock = sim.clock().clone();
    Client::builder(&urls[0])
        .endpoints(&urls[1..])
        .ca_pem(sim.ca_pem().as_bytes())
        .clock(Arc::new(move || clock.now()))
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Start `n` tasks; returns their UPIDs and the simulated time the last one ends.
fn start_tasks(sim: &Simulator, c: &Client, n: u32) -> (Vec<Upid>, Duration) {
    let nodes = ["pve1", "pve2", "pve3"];
    let mut last_end = Duration::ZERO;
    let mut upids = Vec::new();
    for i in 0..n {
        let run = Duration::from_millis(1000 + u64::from(i * 7919 % 2000));
        let outcome = if i % 10 == 9 {
            SimOutcome::Error(format!("failure {i}"))
        } else {
            SimOutcome::Ok
        };
        sim.plan_next_task(TaskPlan::new(outcome).duration(run));
        let upid: String = c
            .post(
                ("nodes", nodes[i as usize % 3], "qemu"),
                &json!({"vmid": 10_000 + i}),
            )
            .expect("create");
        last_end = last_end.max(sim.clock().now() + run);
        upids.push(upid.parse().expect("upid"));
    }
    (upids, last_end)
}

/// The per-task way: a WaiterSet, every status request through the client, one at a time.
fn per_task(c: &Client, sim: &Simulator, upids: &[Upid]) -> Vec<TaskOutcome> {
    let mut set = WaiterSet::new();
    for u in upids {
        set.push_upid(u.clone(), WaitOptions::new());
    }
    let mut outcomes = vec![TaskOutcome::TimedOut; upids.len()];
    loop {
        let now = sim.clock().now();
        match set.poll(now) {
            SetAction::Send { index, request } => match c.call::<Value>(&request.call) {
                Ok(v) => set.handle_data(index, now, &v, None),
                Err(e) => set.handle_transport_error(index, now, e.to_string(), true),
            },
            SetAction::Finished { index, outcome } => outcomes[index] = outcome,
            SetAction::SleepUntil(t) => std::thread::sleep(t.saturating_sub(now)),
            SetAction::AllDone => return outcomes,
            other => panic!("{other:?}"),
        }
    }
}

fn main() {
    println!("| tasks | way | requests | ticks | requests per tick | time to notice |");
    println!("|---:|---|---:|---:|---:|---:|");
    for n in [1u32, 10, 100, 1000] {
        let ways: &[&str] = if n == 1000 {
            &["watcher", "watcher, pages of 50", "per-task"]
        } else {
            &["watcher", "per-task"]
        };
        for &way in ways {
            let sim = cluster();
            let c = client(&sim);
            let (upids, last_end) = start_tasks(&sim, &c, n);
            sim.clear_requests();
            let outcomes = match way {
                "watcher" => c.wait_tasks(&upids, WaitOptions::new()).expect("waits"),
                "watcher, pages of 50" => c
                    .wait_tasks(&upids, WaitOptions::new().with_list_page_size(50))
                    .expect("waits"),
                _ => per_task(&c, &sim, &upids),
            };
            let noticed = sim.clock().now().saturating_sub(last_end);
            let failed = outcomes.iter().filter(|o| !o.is_success()).count();
            assert_eq!(failed, (n / 10) as usize, "{way} {n}: {outcomes:?}");
            let log = sim.requests();
            let waits: Vec<_> = log.iter().filter(|r| !r.path.ends_with("/log")).collect();
            // A tick: one first page per node still watched (watcher), one status request
            // per task still running (per-task): the most any node or task saw.
            let mut per_key: std::collections::HashMap<String, usize> = Default::default();
            for r in &waits {
                let first_page = r.query.iter().any(|(k, v)| k == "start" && v == "0");
                if r.path.ends_with("/status") || first_page {
                    *per_key.entry(r.path.clone()).or_default() += 1;
                }
            }
            let ticks = per_key.values().copied().max().unwrap_or(0);
            println!(
                "| {n} | {way} | {} | {ticks} | {:.1} | {:.2} s |",
                waits.len(),
                waits.len() as f64 / ticks.max(1) as f64,
                noticed.as_secs_f64()
            );
        }
    }
}
