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
        map.nodes[1].fingerprint.map(|f| f.to_string()).as_deref(),
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
