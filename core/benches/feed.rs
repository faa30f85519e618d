//! The change feed's diff: `cargo bench -p proxmox-proto --bench feed`.
//!
//! Two snapshots of `/cluster/resources` with N guests (N = 5,000 and 50,000) on 10 nodes,
//! the second with 1 % of the guests changed (status, node or lock), 0.1 % removed and 0.1 %
//! added; each sample feeds the second snapshot to a feed primed with the first (the
//! snapshot's copy is made outside the timing).

use proxmox_proto::models::ClusterResource;
use proxmox_proto::resources::ChangeFeed;
use serde_json::json;

fn main() {
    divan::main();
}

fn snapshots(n: u32) -> (Vec<ClusterResource>, Vec<ClusterResource>) {
    let guest = |vmid: u32, node: u32, status: &str, lock: Option<&str>| {
        let mut v = json!({"id": format!("qemu/{vmid}"), "type": "qemu", "vmid": vmid,
            "name": format!("guest-{vmid}"), "node": format!("pve{node}"), "status": status,
            "cpu": 0.013, "maxcpu": 4, "mem": 2_147_483_648u64, "maxmem": 4_294_967_296u64,
            "disk": 0, "maxdisk": 34_359_738_368u64, "uptime": 86_400, "netin": 123_456_789,
            "netout": 98_765_432, "diskread": 1_234_567, "diskwrite": 7_654_321, "template": 0,
            "tags": "web;prod"});
        if let Some(l) = lock {
            v["lock"] = json!(l);
        }
        serde_json::from_value::<ClusterResource>(v).unwrap()
    };
    let first: Vec<ClusterResource> = (0..n)
        .map(|i| guest(100 + i, i % 10, "running", None))
        .collect();
    let second: Vec<ClusterResource> = (0..n)
        .filter(|i| i % 1000 != 7)
        .map(|i| match i % 100 {
            0 => guest(100 + i, i % 10, "stopped", None),
            33 => guest(100 + i, (i + 1) % 10, "running", None),
            66 => guest(100 + i, i % 10, "running", Some("backup")),
            _ => guest(100 + i, i % 10, "running", None),
        })
        .chain((0..n / 1000).map(|i| guest(1_000_000 + i, 0, "stopped", None)))
        .collect();
    (first, second)
}

fn diff(bencher: divan::Bencher, n: u32) {
    let (first, second) = snapshots(n);
    bencher
        .with_inputs(|| {
            let mut feed = ChangeFeed::new();
            feed.update(first.clone());
            (feed, second.clone())
        })
        // The feed is handed back so that dropping it is not timed.
        .bench_local_values(|(mut feed, snapshot)| {
            let changes = feed.update(snapshot);
            (feed, changes)
        });
}

#[divan::bench(sample_count = 30)]
fn diff_5000_guests(bencher: divan::Bencher) {
    diff(bencher, 5_000);
}

#[divan::bench(sample_count = 15)]
fn diff_50000_guests(bencher: divan::Bencher) {
    diff(bencher, 50_000);
}
