//! A client of a 3-node simulated cluster: failover when a node is stopped or blackholed,
//! affinity after discovery, and a 595 for a node the cluster cannot reach.

use proxmox_sim::{Config, NodeMode, Service as SimService, Simulator};
use proxmox_ureq::Client;
use serde_json::Value;
use std::time::Duration;

fn cluster() -> Simulator {
    let mut c = Config::new(SimService::Pve);
    c.nodes = 3;
    Simulator::start(c).expect("simulator starts")
}

fn client(sim: &Simulator) -> Client {
    let urls = sim.node_urls();
    Client::builder(&urls[0])
        .endpoints(&urls[1..])
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("builds")
}

/// The nodes that received the requests logged for `path`.
fn served_by(sim: &Simulator, path: &str) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.ends_with(path))
        .map(|r| r.node)
        .collect()
}

#[test]
fn a_stopped_first_node_is_left_for_the_next() {
    let sim = cluster();
    assert!(sim.set_node_mode("pve1", NodeMode::Stopped));
    let c = client(&sim);
    for _ in 0..3 {
        let v: Value = c.get("version").expect("served by another node");
        assert!(v["version"].is_string());
    }
    assert_eq!(served_by(&sim, "/version"), ["pve2", "pve2", "pve2"]);
}

#[test]
fn a_blackholed_first_node_costs_one_connect_timeout_then_is_skipped() {
    let sim = cluster();
    sim.set_node_mode("pve1", NodeMode::Blackholed);
    let c = client(&sim);
    let _: Value = c.get("version").expect("served by another node");
    let _: Value = c.get("version").expect("again");
    assert_eq!(served_by(&sim, "/version"), ["pve2", "pve2"]);
}

#[test]
fn discovery_names_the_nodes_and_nodes_calls_go_to_their_node() {
    let sim = cluster();
    let urls = sim.node_urls();
    // Given one address only: discovery finds the others.
    let c = Client::builder(&urls[0])
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    let map = c.discover().expect("discovers");
    assert_eq!(map.nodes.len(), 3);
    assert!(map.addresses_known);
    assert_eq!(
        map.nodes[1].fingerprint.map(|f| f.to_string()),
        sim.node_fingerprint("pve2")
    );
    let _: Value = c.get(("nodes", "pve2", "status")).unwrap();
    let _: Value = c.get(("nodes", "pve3", "status")).unwrap();
    assert_eq!(served_by(&sim, "/nodes/pve2/status"), ["pve2"]);
    assert_eq!(served_by(&sim, "/nodes/pve3/status"), ["pve3"]);
    // Without affinity, the first node forwards.
    let c = client(&sim);
    let c2 = Client::builder(&urls[0])
        .endpoints(&urls[1..])
        .node_affinity(false)
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    c2.discover().unwrap();
    sim.clear_requests();
    let _: Value = c2.get(("nodes", "pve3", "status")).unwrap();
    assert_eq!(served_by(&sim, "/nodes/pve3/status"), ["pve1"]);
    drop(c);
}

#[test]
fn without_sys_audit_discovery_falls_back_to_nodes() {
    let sim = cluster();
    let urls = sim.node_urls();
    let c = Client::builder(&urls[0])
        .ca_pem(sim.ca_pem().as_bytes())
        .password(proxmox_sim::LIMITED_USER, proxmox_sim::LIMITED_PASSWORD)
        .build()
        .unwrap();
    let map = c.discover().expect("discovers what it may");
    assert!(!map.addresses_known);
    assert_eq!(map.nodes.len(), 3);
}

#[test]
fn a_write_for_a_node_the_cluster_cannot_reach_does_not_run() {
    let sim = cluster();
    let c = client(&sim);
    sim.set_node_mode("pve3", NodeMode::Partitioned);
    let e = c
        .post::<Value, _>(
            ("nodes", "pve3", "qemu", "100", "status", "start"),
            &[("timeout", "1")],
        )
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("595"), "{text}");
    // Never run: every attempt was answered 595 by a forwarding node.
    assert!(
        sim.requests()
            .iter()
            .filter(|r| r.path.ends_with("/status/start"))
            .all(|r| !r.executed && r.status == 595),
        "{:?}",
        sim.requests()
    );
}

#[test]
fn per_node_in_flight_never_exceeds_the_limit() {
    let sim = cluster();
    let urls = sim.node_urls();
    let c = Client::builder(&urls[0])
        .endpoints(&urls[1..])
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .max_in_flight_per_node(2)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("builds");
    c.discover().expect("discovers");
    // Slow answers, so that calls overlap.
    sim.inject(proxmox_sim::Fault::delay(
        "GET",
        "/nodes",
        Duration::from_millis(40),
    ));
    sim.clear_requests();
    std::thread::scope(|s| {
        for i in 0..8 {
            let c = &c;
            s.spawn(move || {
                let node = ["pve2", "pve3"][i % 2];
                for _ in 0..3 {
                    let _: Value = c.get(("nodes", node, "status")).expect("answered");
                }
            });
        }
    });
    assert_eq!(served_by(&sim, "/nodes/pve2/status").len(), 12);
    for node in ["pve2", "pve3"] {
        assert!(
            served_by(&sim, &format!("/nodes/{node}/status"))
                .iter()
                .all(|n| n == node)
        );
        // Two at once (the limit), never more: 4 threads each wanted the node.
        assert_eq!(sim.node_max_in_flight(node), Some(2), "{node}");
    }
    assert_eq!(sim.node_max_in_flight("pve1"), Some(0));
}

#[test]
fn a_node_killed_under_8_workers_never_runs_a_create_twice() {
    let sim = cluster();
    let c = client(&sim);
    // Slow answers, so that the kill finds calls on the wire.
    sim.inject(proxmox_sim::Fault::delay(
        "*",
        "/nodes",
        Duration::from_millis(25),
    ));
    let results = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8u32)
            .map(|w| {
                let c = &c;
                s.spawn(move || {
                    let mut out = Vec::new();
                    for k in 0..12u32 {
                        if w % 2 == 0 {
                            let r: Result<Value, _> = c.get(("nodes", "pve2", "status"));
                            out.push((None, r.map(drop)));
                        } else {
                            let vmid = 1000 + w * 100 + k;
                            let r: Result<Value, _> = c.post(
                                ("nodes", "pve2", "qemu"),
                                &[("vmid", vmid.to_string()), ("name", format!("w{w}k{k}"))],
                            );
                            out.push((Some(vmid), r.map(drop)));
                        }
                    }
                    out
                })
            })
            .collect();
        // Kill pve1 while it has calls on the wire (4 at once: the per-node limit).
        std::thread::sleep(Duration::from_millis(60));
        for _ in 0..500 {
            if sim.in_flight() >= 4 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        sim.set_node_mode("pve1", NodeMode::Stopped);
        workers
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect::<Vec<_>>()
    });
    let log = sim.requests();
    let mut may_have_run = 0;
    for (vmid, r) in &results {
        match (vmid, r) {
            // Every GET succeeds: one that was cut off goes on at another node.
            (None, r) => assert!(r.is_ok(), "{r:?}"),
            (Some(vmid), r) => {
                let form_vmid = vmid.to_string();
                let ran = log
                    .iter()
                    .filter(|q| {
                        q.method == "POST"
                            && q.executed
                            && q.form.iter().any(|(k, v)| k == "vmid" && *v == form_vmid)
                    })
                    .count();
                assert!(ran <= 1, "create {vmid} ran {ran} times");
                match r {
                    Ok(()) => assert_eq!(ran, 1, "create {vmid} succeeded"),
                    // Cut off on the wire: it may have run, and the error says so.
                    Err(e) => {
                        assert!(e.may_have_been_sent(), "create {vmid}: {e}");
                        may_have_run += 1;
                    }
                }
            }
        }
    }
    let nodes: std::collections::BTreeSet<_> = log.iter().map(|r| r.node.as_str()).collect();
    assert!(
        nodes.contains("pve1") && nodes.contains("pve2"),
        "{nodes:?}"
    );
    eprintln!("creates that may have run: {may_have_run} of 48");
}

#[test]
fn a_migrated_guest_is_found_again_and_a_write_runs_once_at_its_new_node() {
    let sim = cluster();
    let c = client(&sim);
    let calls = |sim: &Simulator| {
        sim.requests()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    };
    let call = |p: &str| proxmox_proto::Call::get(p).unwrap();

    let s: Value = c.guest_call(100, call("status/current")).expect("found");
    assert_eq!(s["status"], "running");
    assert_eq!(
        calls(&sim),
        [
            "GET /api2/json/cluster/resources",
            "GET /api2/json/nodes/pve1/qemu/100/status/current"
        ]
    );

    // Remembered: no second look-up.
    sim.clear_requests();
    let _: Value = c.guest_call(100, call("config")).expect("config");
    assert_eq!(calls(&sim), ["GET /api2/json/nodes/pve1/qemu/100/config"]);

    // Migrated: pve1 says the configuration does not exist; looked up again, called at pve3.
    assert!(sim.migrate_guest(100, "pve3"));
    sim.clear_requests();
    let s: Value = c
        .guest_call(100, call("status/current"))
        .expect("re-routed");
    assert_eq!(s["status"], "running");
    assert_eq!(
        calls(&sim),
        [
            "GET /api2/json/nodes/pve1/qemu/100/status/current",
            "GET /api2/json/cluster/resources",
            "GET /api2/json/nodes/pve3/qemu/100/status/current"
        ]
    );

    // A write: refused where the guest is not (nothing ran there), run once where it is.
    assert!(sim.migrate_guest(100, "pve2"));
    sim.clear_requests();
    let upid: String = c
        .guest_call(100, proxmox_proto::Call::post("status/stop").unwrap())
        .expect("stopped at pve2");
    assert!(upid.starts_with("UPID:pve2:"), "{upid}");
    assert_eq!(
        calls(&sim),
        [
            "POST /api2/json/nodes/pve3/qemu/100/status/stop",
            "GET /api2/json/cluster/resources",
            "POST /api2/json/nodes/pve2/qemu/100/status/stop"
        ]
    );

    let e = c
        .guest_call::<Value>(999, call("status/current"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no VM or container 999"), "{e}");
}
