//! proxmox-ureq against a 3-node simulated cluster (release build):
//! `cargo bench -p proxmox-ureq --bench cluster`.
//!
//! * `first_success_*`: a new client (nothing learnt yet) and its first `GET /version`, with
//!   every node up, the first node stopped (connection refused), or the first node blackholed
//!   (accepts, never answers; connect timeout 250 ms);
//! * `node_gets_*`: `GET /nodes/{n}/status` for the three nodes in turn, with affinity (each
//!   to its own node, after `discover()`) and without (all through the first node, which
//!   forwards). The simulator's forwarding costs nothing, unlike pveproxy's (an extra TLS
//!   hop to the target node), so this shows the routing's own cost, not its gain.

use proxmox_sim::{Config, NodeMode, Service, Simulator};
use proxmox_ureq::Client;
use std::time::Duration;

fn cluster() -> Simulator {
    let mut c = Config::new(Service::Pve);
    c.nodes = 3;
    Simulator::start(c).expect("simulator")
}

fn client(sim: &Simulator, affinity: bool) -> Client {
    let urls = sim.node_urls();
    Client::builder(&urls[0])
        .endpoints(&urls[1..])
        .node_affinity(affinity)
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .connect_timeout(Duration::from_millis(250))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn main() {
    divan::main();
}

fn first_success(b: divan::Bencher, first: NodeMode) {
    let sim = cluster();
    sim.set_node_mode("pve1", first);
    b.bench(|| {
        let c = client(&sim, true);
        let v: serde_json::Value = c.get("version").expect("version");
        v
    });
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn first_success_all_up(b: divan::Bencher) {
    first_success(b, NodeMode::Up);
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn first_success_first_refused(b: divan::Bencher) {
    first_success(b, NodeMode::Stopped);
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn first_success_first_blackholed(b: divan::Bencher) {
    first_success(b, NodeMode::Blackholed);
}

fn node_gets(b: divan::Bencher, affinity: bool) {
    let sim = cluster();
    let c = client(&sim, affinity);
    c.discover().expect("discover");
    let nodes = ["pve1", "pve2", "pve3"];
    let mut i = 0;
    b.bench_local(|| {
        i += 1;
        let v: serde_json::Value = c.get(("nodes", nodes[i % 3], "status")).expect("status");
        v
    });
}

#[divan::bench(sample_count = 20, sample_size = 30)]
fn node_gets_affinity(b: divan::Bencher) {
    node_gets(b, true);
}

#[divan::bench(sample_count = 20, sample_size = 30)]
fn node_gets_through_one_node(b: divan::Bencher) {
    node_gets(b, false);
}
