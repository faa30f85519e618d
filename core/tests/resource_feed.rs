//! The change feed: exactly the changes between two `/cluster/resources` snapshots, by kind;
//! unknown types passed through; ids given twice; removals in id order; a large snapshot
//! compared with a naive diff.

use proxmox_proto::models::{ClusterResource, ResourceKind, ResourceStatus};
use proxmox_proto::resources::{ChangeFeed, ResourceChange};
use serde_json::{Value, json};

fn res(v: Value) -> ClusterResource {
    serde_json::from_value(v).unwrap()
}

fn guest(vmid: u32, node: &str, status: &str) -> Value {
    json!({"id": format!("qemu/{vmid}"), "type": "qemu", "vmid": vmid, "node": node, "status": status,
           "cpu": 0.01, "mem": 1_000_000, "uptime": 10})
}

fn snapshot(items: &[Value]) -> Vec<ClusterResource> {
    items.iter().cloned().map(res).collect()
}

fn lines(changes: &[ResourceChange]) -> Vec<String> {
    changes.iter().map(ToString::to_string).collect()
}

fn base() -> Vec<Value> {
    vec![
        json!({"id": "node/pve1", "type": "node", "node": "pve1", "status": "online"}),
        json!({"id": "node/pve2", "type": "node", "node": "pve2", "status": "online"}),
        json!({"id": "storage/pve2/local", "type": "storage", "node": "pve2", "storage": "local", "status": "available"}),
        guest(100, "pve1", "running"),
        guest(101, "pve1", "stopped"),
        guest(102, "pve2", "running"),
        json!({"id": "lxc/200", "type": "lxc", "vmid": 200, "node": "pve2", "status": "running"}),
        json!({"id": "pool/web", "type": "pool", "pool": "web"}),
        json!({"id": "widget/7", "type": "widget", "status": "fine", "color": "blue"}),
    ]
}

#[test]
fn the_first_snapshot_is_the_baseline() {
    let mut feed = ChangeFeed::new();
    assert!(!feed.is_primed());
    assert!(feed.update(snapshot(&base())).is_empty());
    assert!(feed.is_primed());
    assert_eq!(feed.len(), 9);
    // The same snapshot again, metrics moved: nothing.
    let mut again = base();
    again[3]["cpu"] = json!(0.9);
    again[3]["uptime"] = json!(99);
    assert!(feed.update(snapshot(&again)).is_empty());
}

#[test]
fn each_kind_of_change_is_reported_once() {
    let mut feed = ChangeFeed::new();
    feed.update(snapshot(&base()));
    let mut next = base();
    next[1]["status"] = json!("offline"); // node down
    next[2]["status"] = json!("unknown"); // its storage
    next[3]["status"] = json!("stopped"); // stop
    next[4]["status"] = json!("running"); // start
    next[5]["node"] = json!("pve1"); // migrated
    next[5]["lock"] = json!("migrate"); // locked while at it
    next[6]["hastate"] = json!("started"); // HA-managed now
    next[8]["status"] = json!("broken"); // an unknown type's status
    next.remove(7); // pool deleted
    next.push(guest(103, "pve1", "stopped")); // created
    let changes = feed.update(snapshot(&next));
    assert_eq!(
        lines(&changes),
        [
            "pve2 online -> offline",
            "storage/pve2/local available -> unknown",
            "qemu/100 running -> stopped",
            "qemu/101 stopped -> running",
            "qemu/102 migrated pve2 -> pve1",
            "qemu/102 lock - -> migrate",
            "lxc/200 HA - -> started",
            "widget/7 fine -> broken",
            "+ qemu/103 (stopped on pve1)",
            "- pool/web",
        ]
    );
    assert!(matches!(
        &changes[0],
        ResourceChange::NodeStatus { id, node, from: Some(ResourceStatus::Online), to: Some(ResourceStatus::Offline) } if node == "pve2" && id == "node/pve2"
    ));
    assert!(
        matches!(&changes[7], ResourceChange::StatusChanged { kind: ResourceKind::Other(k), .. } if k == "widget")
    );
    // The unknown type's fields are passed through.
    let mut gone = next.clone();
    gone.retain(|r| r["id"] != "widget/7");
    let changes = feed.update(snapshot(&gone));
    match &changes[..] {
        [ResourceChange::Removed(r)] => {
            assert_eq!(r.kind, ResourceKind::Other("widget".into()));
            assert_eq!(r.extra["color"], "blue");
        }
        other => panic!("{other:?}"),
    }
    // Lock cleared, HA left.
    let mut back = gone.clone();
    back.iter_mut().for_each(|r| {
        if let Some(o) = r.as_object_mut() {
            o.remove("lock");
            o.remove("hastate");
        }
    });
    assert_eq!(
        lines(&feed.update(snapshot(&back))),
        ["qemu/102 lock migrate -> -", "lxc/200 HA started -> -"]
    );
}

/// A node's HA state (maintenance, fencing) is a change; its id is the resource id, so the
/// feed finds it again (found by a new user's review).
#[test]
fn a_node_s_ha_state_and_its_id() {
    let mut feed = ChangeFeed::new();
    let node = |status: &str, ha: &str| json!({"id": "node/pve1", "type": "node", "node": "pve1", "status": status, "hastate": ha});
    feed.update(snapshot(&[node("online", "online")]));
    let changes = feed.update(snapshot(&[node("offline", "fence")]));
    assert_eq!(
        lines(&changes),
        ["pve1 online -> offline", "node/pve1 HA online -> fence"]
    );
    assert!(changes.iter().all(|c| feed.get(c.id()).is_some()));
    assert_eq!(
        serde_json::to_value(&changes[0]).unwrap(),
        json!({"change": "node_status", "id": "node/pve1", "node": "pve1", "from": "online", "to": "offline"})
    );
}

#[test]
fn removals_come_last_in_id_order_and_a_repeated_id_keeps_the_last() {
    let mut feed = ChangeFeed::new();
    feed.update(snapshot(&[
        guest(105, "pve1", "running"),
        guest(103, "pve1", "running"),
        guest(104, "pve1", "running"),
    ]));
    let changes = feed.update(snapshot(&[
        guest(106, "pve1", "running"),
        guest(106, "pve1", "stopped"),
    ]));
    assert_eq!(
        lines(&changes),
        [
            "+ qemu/106 (stopped on pve1)",
            "- qemu/103",
            "- qemu/104",
            "- qemu/105"
        ]
    );
    assert_eq!(
        feed.get("qemu/106").and_then(|r| r.status.clone()),
        Some(ResourceStatus::Stopped)
    );
    // The same snapshot again, its repeated id included, changes nothing (the resource_feed
    // fuzz target found the first entry compared with the state of the last).
    let twice = snapshot(&[guest(106, "pve1", "running"), guest(106, "pve1", "stopped")]);
    assert!(feed.update(twice).is_empty());
}

#[test]
fn serialized_for_javascript() {
    let mut feed = ChangeFeed::new();
    feed.update(snapshot(&[guest(100, "pve1", "stopped")]));
    let changes = feed.update(snapshot(&[
        guest(100, "pve2", "running"),
        guest(101, "pve1", "stopped"),
    ]));
    assert_eq!(
        serde_json::to_value(&changes).unwrap(),
        json!([
            {"change": "guest_status", "id": "qemu/100", "vmid": 100, "from": "stopped", "to": "running"},
            {"change": "migrated", "id": "qemu/100", "vmid": 100, "from": "pve1", "to": "pve2"},
            {"change": "added", "id": "qemu/101", "type": "qemu", "node": "pve1", "status": "stopped", "vmid": 101, "name": null},
        ])
    );
}

/// 20,000 guests, a few hundred changes of each kind: the feed finds exactly what a naive
/// comparison finds.
#[test]
fn a_large_snapshot_matches_a_naive_diff() {
    let n = 20_000u32;
    let first: Vec<Value> = (0..n)
        .map(|i| {
            guest(
                100 + i,
                &format!("pve{}", i % 7),
                if i % 2 == 0 { "running" } else { "stopped" },
            )
        })
        .collect();
    let mut second = first.clone();
    for i in (0..n as usize).step_by(97) {
        second[i]["status"] = json!("stopped");
    }
    for i in (5..n as usize).step_by(301) {
        second[i]["node"] = json!("pve9");
    }
    second.retain(|r| r["vmid"].as_u64().unwrap() % 503 != 0);
    for i in 0..150 {
        second.push(guest(900_000 + i, "pve1", "stopped"));
    }
    let mut feed = ChangeFeed::new();
    feed.update(snapshot(&first));
    let changes = feed.update(snapshot(&second));

    let before: std::collections::HashMap<&str, &Value> = first
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    let after: std::collections::HashSet<&str> =
        second.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let (mut status, mut migrated, mut added) = (0, 0, 0);
    for r in &second {
        match before.get(r["id"].as_str().unwrap()) {
            Some(old) => {
                status += usize::from(old["status"] != r["status"]);
                migrated += usize::from(old["node"] != r["node"]);
            }
            None => added += 1,
        }
    }
    let removed = first
        .iter()
        .filter(|r| !after.contains(r["id"].as_str().unwrap()))
        .count();
    let count = |name: &str| changes.iter().filter(|c| c.name() == name).count();
    assert_eq!(count("guest_status"), status);
    assert_eq!(count("migrated"), migrated);
    assert_eq!(count("added"), added);
    assert_eq!(count("removed"), removed);
    assert_eq!(changes.len(), status + migrated + added + removed);
    assert!(status > 100 && migrated > 50 && removed > 30 && added == 150);
}
