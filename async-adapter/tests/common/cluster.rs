//! A client of a 3-node simulated cluster, per backend: failover when a node is stopped or
//! blackholed, affinity after discovery, discovery without `Sys.Audit`, per-node in-flight
//! limits, and a node killed under 8 concurrent workers. The tokio backends only: the nodes
//! listen on 127.0.0.1–3, and surf's TLS stack (rustls 0.18) verifies DNS names only.

use super::{block_on, spawn_all};
use proxmox_async::{Backend, Client, ClientBuilder};
use proxmox_sim::{Config, Fault, NodeMode, Service as SimService, Simulator};
use serde_json::Value;
use std::time::Duration;

pub fn cluster() -> Simulator {
    let mut c = Config::new(SimService::Pve);
    c.nodes = 3;
    Simulator::start(c).expect("simulator starts")
}

fn builder(backend: Backend, sim: &Simulator) -> ClientBuilder {
    let urls = sim.node_urls();
    Client::builder(&urls[0])
        .backend(backend)
        .ca_pem(sim.ca_pem().as_bytes())
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(20))
}

fn client(backend: Backend, sim: &Simulator) -> Client {
    builder(backend, sim)
        .endpoints(&sim.node_urls()[1..])
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
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

pub fn stopped_first_node(backend: Backend) {
    let sim = cluster();
    assert!(sim.set_node_mode("pve1", NodeMode::Stopped));
    let c = client(backend, &sim);
    block_on(backend, async {
        for _ in 0..3 {
            let v: Value = c.get("version").await.expect("served by another node");
            assert!(v["version"].is_string());
        }
    });
    assert_eq!(served_by(&sim, "/version"), ["pve2", "pve2", "pve2"]);
}

pub fn blackholed_first_node(backend: Backend) {
    let sim = cluster();
    sim.set_node_mode("pve1", NodeMode::Blackholed);
    let c = client(backend, &sim);
    block_on(backend, async {
        let _: Value = c.get("version").await.expect("served by another node");
        let _: Value = c.get("version").await.expect("again");
    });
    assert_eq!(served_by(&sim, "/version"), ["pve2", "pve2"]);
}

pub fn discovery_and_affinity(backend: Backend) {
    let sim = cluster();
    let c = builder(backend, &sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    block_on(backend, async {
        let map = c.discover().await.expect("discovers");
        assert_eq!(map.nodes.len(), 3);
        assert!(map.addresses_known);
        assert_eq!(
            map.nodes[2].fingerprint.map(|f| f.to_string()),
            sim.node_fingerprint("pve3")
        );
        let _: Value = c.get(("nodes", "pve2", "status")).await.unwrap();
        let _: Value = c.get(("nodes", "pve3", "status")).await.unwrap();
    });
    assert_eq!(served_by(&sim, "/nodes/pve2/status"), ["pve2"]);
    assert_eq!(served_by(&sim, "/nodes/pve3/status"), ["pve3"]);
    // Without Sys.Audit: /nodes only, no addresses.
    let c = builder(backend, &sim)
        .password(proxmox_sim::LIMITED_USER, proxmox_sim::LIMITED_PASSWORD)
        .build()
        .unwrap();
    let map = block_on(backend, c.discover()).expect("discovers what it may");
    assert!(!map.addresses_known);
    assert_eq!(map.nodes.len(), 3);
}

pub fn per_node_limit(backend: Backend) {
    let sim = cluster();
    let c = builder(backend, &sim)
        .endpoints(&sim.node_urls()[1..])
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .max_in_flight_per_node(2)
        .build()
        .unwrap();
    block_on(backend, async {
        c.discover().await.expect("discovers");
        sim.inject(Fault::delay("GET", "/nodes", Duration::from_millis(40)));
        sim.clear_requests();
        let futs: Vec<_> = (0..16)
            .map(|i| {
                let c = c.clone();
                async move {
                    let node = ["pve2", "pve3"][i % 2];
                    c.get::<Value>(("nodes", node, "status")).await
                }
            })
            .collect();
        for r in spawn_all(backend, futs).await {
            r.expect("answered");
        }
    });
    for node in ["pve2", "pve3"] {
        let by = served_by(&sim, &format!("/nodes/{node}/status"));
        assert_eq!(by.len(), 8);
        assert!(by.iter().all(|n| n == node), "{by:?}");
        assert_eq!(sim.node_max_in_flight(node), Some(2), "{node}");
    }
}

pub fn node_killed_under_8_workers(backend: Backend) {
    let sim = cluster();
    let c = client(backend, &sim);
    sim.inject(Fault::delay("*", "/nodes", Duration::from_millis(25)));
    let results = block_on(backend, async {
        let workers: Vec<_> = (0..8u32)
            .map(|w| {
                let c = c.clone();
                async move {
                    let mut out = Vec::new();
                    for k in 0..12u32 {
                        if w % 2 == 0 {
                            let r = c.get::<Value>(("nodes", "pve2", "status")).await;
                            out.push((None, r.map(drop).map_err(|e| e.to_string())));
                        } else {
                            let vmid = 1000 + w * 100 + k;
                            let r = c
                                .post::<Value, _>(
                                    ("nodes", "pve2", "qemu"),
                                    &[("vmid", vmid.to_string()), ("name", format!("w{w}k{k}"))],
                                )
                                .await;
                            let r = r.map(drop).map_err(|e| {
                                assert!(e.may_have_been_sent(), "create {vmid}: {e}");
                                e.to_string()
                            });
                            out.push((Some(vmid), r));
                        }
                    }
                    out
                }
            })
            .collect();
        let kill = async {
            // Kill pve1 while it has calls on the wire (4 at once: the per-node limit).
            tokio::time::sleep(Duration::from_millis(60)).await;
            for _ in 0..500 {
                if sim.in_flight() >= 4 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            sim.set_node_mode("pve1", NodeMode::Stopped);
        };
        let (results, ()) = tokio::join!(spawn_all(backend, workers), kill);
        results.into_iter().flatten().collect::<Vec<_>>()
    });
    let log = sim.requests();
    for (vmid, r) in &results {
        match vmid {
            None => assert!(r.is_ok(), "{r:?}"),
            Some(vmid) => {
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
                if r.is_ok() {
                    assert_eq!(ran, 1, "create {vmid} succeeded");
                }
            }
        }
    }
    let nodes: std::collections::BTreeSet<_> = log.iter().map(|r| r.node.as_str()).collect();
    assert!(
        nodes.contains("pve1") && nodes.contains("pve2"),
        "{nodes:?}"
    );
}

/// `host`, `port` of node `i` (0-based).
fn host_port(sim: &Simulator, i: usize) -> (String, u16) {
    let url = &sim.node_urls()[i];
    let authority = url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .expect("authority");
    let (h, p) = authority.rsplit_once(':').expect("port");
    (h.to_owned(), p.parse().expect("port number"))
}

/// A client of node `i` alone, with the pin file `file` and no cluster CA.
fn pinned(backend: Backend, sim: &Simulator, i: usize, file: &std::path::Path) -> ClientBuilder {
    Client::builder(&sim.node_urls()[i])
        .backend(backend)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .pin_file(file)
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(20))
}

/// Trust on first use records each node once, concurrent clients included; a pinned node
/// whose certificate changes is refused naming both fingerprints (a cluster client goes on
/// at the next node); a renewal a trusted CA signed is accepted over the old pin.
pub fn pins(backend: Backend) {
    let sim = cluster();
    let d = std::env::temp_dir().join(format!("async-pins-{backend:?}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    let file = d.join("pins");

    let fp1 = sim.node_fingerprint("pve1").expect("pve1");
    let e = block_on(backend, async {
        pinned(backend, &sim, 0, &file)
            .build()
            .expect("builds")
            .get::<Value>("version")
            .await
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&fp1) && e.contains("not in the pin store"),
        "{e}"
    );

    let clients: Vec<Client> = (0..3)
        .flat_map(|i| std::iter::repeat_n(i, 3))
        .map(|i| {
            pinned(backend, &sim, i, &file)
                .trust_on_first_use(true)
                .build()
                .expect("builds")
        })
        .collect();
    let results = block_on(
        backend,
        spawn_all(
            backend,
            clients
                .into_iter()
                .map(|c| async move { c.get::<Value>("version").await.map(|_| ()) })
                .collect(),
        ),
    );
    for r in results {
        r.expect("trusted on first use");
    }
    let store =
        proxmox_proto::pins::PinStore::parse(&std::fs::read_to_string(&file).expect("pins"))
            .expect("parses");
    for i in 0..3 {
        let (h, p) = host_port(&sim, i);
        assert_eq!(
            store
                .pins(&h, p)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [sim.node_fingerprint(&format!("pve{}", i + 1))
                .expect("node")]
        );
    }

    let new = sim.renew_node_certificate("pve1", false).expect("renewed");
    let e = block_on(backend, async {
        pinned(backend, &sim, 0, &file)
            .build()
            .expect("builds")
            .get::<Value>("version")
            .await
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&fp1) && e.contains(&new),
        "names both fingerprints: {e}"
    );
    sim.clear_requests();
    block_on(backend, async {
        pinned(backend, &sim, 0, &file)
            .endpoints(&sim.node_urls()[1..])
            .build()
            .expect("builds")
            .get::<Value>("version")
            .await
    })
    .expect("the next node answers");
    assert_eq!(served_by(&sim, "/version"), ["pve2"]);

    let acme = sim.renew_node_certificate("pve2", true).expect("renewed");
    block_on(backend, async {
        pinned(backend, &sim, 1, &file)
            .ca_pem(sim.ca_pem().as_bytes())
            .build()
            .expect("builds")
            .get::<Value>("version")
            .await
    })
    .expect("the CA vouches for pve2's new certificate");
    assert!(
        !std::fs::read_to_string(&file)
            .expect("pins")
            .contains(&acme)
    );
    std::fs::remove_dir_all(&d).expect("cleanup");
}

/// A guest found by its id, remembered, found again after it migrated; a write refused
/// where the guest is not runs once at its new node.
pub fn migrated_guest(backend: Backend) {
    let sim = cluster();
    let c = client(backend, &sim);
    let calls = |sim: &Simulator| {
        sim.requests()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    };
    let get = |p: &str| proxmox_proto::Call::get(p).expect("path");
    block_on(backend, async {
        let s: Value = c
            .guest_call(100, get("status/current"))
            .await
            .expect("found");
        assert_eq!(s["status"], "running");
        assert!(sim.migrate_guest(100, "pve3"));
        sim.clear_requests();
        let s: Value = c
            .guest_call(100, get("status/current"))
            .await
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
        assert!(sim.migrate_guest(100, "pve2"));
        sim.clear_requests();
        let upid: String = c
            .guest_call(100, proxmox_proto::Call::post("status/stop").expect("path"))
            .await
            .expect("stopped at pve2");
        assert!(upid.starts_with("UPID:pve2:"), "{upid}");
        assert_eq!(
            calls(&sim)
                .iter()
                .filter(|c| c.starts_with("POST"))
                .collect::<Vec<_>>(),
            [
                "POST /api2/json/nodes/pve3/qemu/100/status/stop",
                "POST /api2/json/nodes/pve2/qemu/100/status/stop"
            ]
        );
    });
}

/// A probe reads the certificate and sends nothing; a blackholed node times out.
#[cfg(any(feature = "hyper", feature = "reqwest"))]
pub fn probe(backend: Backend) {
    let sim = cluster();
    let urls = sim.node_urls();
    sim.clear_requests();
    let b = Client::builder(&urls[0]).backend(backend);
    let r = block_on(backend, b.probe()).expect("probed");
    assert_eq!(
        r.fingerprint().map(|f| f.to_string()),
        sim.node_fingerprint("pve1")
    );
    assert!(!r.ca_valid, "{r}");
    assert!(sim.requests().is_empty(), "nothing sent");
    let b = Client::builder(&urls[0])
        .backend(backend)
        .ca_pem(sim.ca_pem().as_bytes());
    assert!(block_on(backend, b.probe()).expect("probed").ca_valid);
    sim.set_node_mode("pve3", NodeMode::Blackholed);
    let b = Client::builder(&urls[2])
        .backend(backend)
        .connect_timeout(Duration::from_millis(300));
    let e = block_on(backend, b.probe()).unwrap_err();
    assert!(e.is_timeout() && !e.may_have_been_sent(), "{e}");
}
