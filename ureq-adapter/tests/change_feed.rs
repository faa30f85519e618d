//! The change feed through proxmox-ureq on a 3-node simulated cluster: exactly the changes
//! made (create, start, migrate, stop, delete, a node down), nothing else.

use proxmox_proto::resources::ResourceChange;
use proxmox_sim::{ClockMode, Config, NodeMode, Service as SimService, Simulator};
use proxmox_ureq::Client;
use serde_json::json;
use std::sync::mpsc;
use std::time::Duration;

fn cluster() -> Simulator {
    let mut c = Config::new(SimService::Pve);
    c.nodes = 3;
    c.clock = ClockMode::Realtime;
    Simulator::start(c).expect("simulator starts")
}

fn client(sim: &Simulator) -> Client {
    Client::builder(&sim.node_urls()[0])
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .expect("builds")
}

#[test]
fn the_feed_reports_exactly_the_changes_made() {
    let sim = cluster();
    let watcher = client(&sim);
    let (tx, rx) = mpsc::channel::<String>();
    // The watch runs in its own thread and hands each change over (the iterator is endless).
    std::thread::spawn(move || {
        for change in watcher.watch_resources(Duration::from_millis(40)) {
            let line = match change {
                Ok(c) => c.to_string(),
                Err(e) => format!("error: {e}"),
            };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let c = client(&sim);
    // Let the baseline be taken, then change one thing at a time, each seen by a poll.
    let settle = || std::thread::sleep(Duration::from_millis(250));
    settle();
    let upid: String = c
        .post(
            ("nodes", "pve1", "qemu"),
            &json!({"vmid": 500, "name": "feed"}),
        )
        .unwrap();
    c.wait_task_ok(&upid.parse().unwrap(), Default::default())
        .unwrap();
    settle();
    let upid: String = c
        .post(("nodes", "pve1", "qemu", 500, "status", "start"), &())
        .unwrap();
    c.wait_task_ok(&upid.parse().unwrap(), Default::default())
        .unwrap();
    settle();
    assert!(sim.migrate_guest(500, "pve2"));
    settle();
    let upid: String = c
        .post(("nodes", "pve2", "qemu", 500, "status", "stop"), &())
        .unwrap();
    c.wait_task_ok(&upid.parse().unwrap(), Default::default())
        .unwrap();
    settle();
    let upid: String = c.delete(("nodes", "pve2", "qemu", 500), &()).unwrap();
    c.wait_task_ok(&upid.parse().unwrap(), Default::default())
        .unwrap();
    settle();
    assert!(sim.set_node_mode("pve3", NodeMode::Stopped));
    settle();

    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
        seen.push(line);
    }
    assert_eq!(
        seen,
        [
            "+ qemu/500 (stopped on pve1)",
            "qemu/500 stopped -> running",
            "qemu/500 migrated pve1 -> pve2",
            "qemu/500 running -> stopped",
            "- qemu/500",
            "pve3 online -> offline",
            "storage/pve3/local available -> unknown",
            "storage/pve3/local-lvm available -> unknown",
        ]
    );
}

/// A poll that fails is an `Err` item and the watch goes on: the next good poll is the
/// baseline, and a change after it is seen.
#[test]
fn a_failed_poll_is_an_item_and_the_watch_goes_on() {
    let sim = cluster();
    let c = client(&sim);
    let mut changes = c.watch_resources(Duration::from_millis(30));
    assert!(sim.set_node_mode("pve1", NodeMode::Stopped));
    let e = changes
        .next()
        .expect("endless")
        .expect_err("the node is down");
    assert!(e.transport().is_some(), "{e}");
    assert!(!e.may_have_been_sent(), "{e}");
    assert!(sim.set_node_mode("pve1", NodeMode::Up));
    let actor = client(&sim);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let _: String = actor
            .post(("nodes", "pve1", "qemu"), &json!({"vmid": 501}))
            .unwrap();
    });
    let next = changes.next().expect("endless").expect("polls again");
    assert!(
        matches!(&next, ResourceChange::Added(r) if r.id == "qemu/501"),
        "{next:?}"
    );
    t.join().unwrap();
}
