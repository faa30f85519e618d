//! proxmox-ureq against the in-process simulator (release build):
//! `cargo bench -p proxmox-ureq --bench client`.
//!
//! * `get_version`: sequential GETs over one kept-alive TLS connection;
//! * `cluster_resources_5000`: `GET /cluster/resources` with 5,000 generated guests, typed
//!   (`models::ClusterResource`) and untyped (`serde_json::Value`);
//! * `create_vm_8_params`: a POST with 8 parameters;
//! * `upload_1gib`: a 1 GiB sparse file streamed to the simulator (divan reports bytes/s; the
//!   peak RSS of the process is printed at the end).
//!
//! The simulator runs in the same process, so its own cost is included: these numbers are
//! a floor for the client. The side-by-side harness compares against proxmoxer and curl on a
//! static server.

use proxmox_proto::models::ClusterResource;
use proxmox_proto::upload::UploadContent;
use proxmox_sim::{Config, Service, Simulator};
use proxmox_ureq::{Client, UploadChecksum};
use std::sync::{Arc, OnceLock};

struct Bed {
    sim: Simulator,
    client: Client,
}

fn bed() -> &'static Bed {
    static BED: OnceLock<Bed> = OnceLock::new();
    BED.get_or_init(|| {
        let mut cfg = Config::new(Service::Pve);
        cfg.generated_guests = 5000;
        let sim = Simulator::start(cfg).expect("simulator");
        let clock = sim.clock().clone();
        let client = Client::builder(&format!("127.0.0.1:{}", sim.addr().port()))
            .ca_pem(sim.ca_pem().as_bytes())
            .clock(Arc::new(move || clock.now()))
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .timeout(std::time::Duration::from_secs(600))
            .build()
            .expect("client");
        Bed { sim, client }
    })
}

fn main() {
    divan::main();
    let _ = bed().sim.connections_accepted();
    if let Ok(s) = std::fs::read_to_string("/proc/self/status")
        && let Some(l) = s.lines().find(|l| l.starts_with("VmHWM:"))
    {
        println!(
            "peak RSS of the whole run (client + simulator): {}",
            l.trim_start_matches("VmHWM:").trim()
        );
    }
}

#[divan::bench(sample_count = 20, sample_size = 50)]
fn get_version(b: divan::Bencher) {
    let c = &bed().client;
    b.bench(|| {
        let v: serde_json::Value = c.get("version").expect("version");
        v
    });
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn cluster_resources_5000_typed(b: divan::Bencher) {
    let c = &bed().client;
    b.bench(|| {
        let v: Vec<ClusterResource> = c.get(("cluster", "resources")).expect("resources");
        assert!(v.len() >= 5000);
        v
    });
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn cluster_resources_5000_value(b: divan::Bencher) {
    let c = &bed().client;
    b.bench(|| {
        let v: serde_json::Value = c.get(("cluster", "resources")).expect("resources");
        v
    });
}

#[divan::bench(sample_count = 20, sample_size = 20)]
fn create_vm_8_params(b: divan::Bencher) {
    let c = &bed().client;
    let next = std::sync::atomic::AtomicU32::new(100_000);
    b.bench(|| {
        let vmid = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let upid: String = c
            .post(
                ("nodes", "pve1", "qemu"),
                &serde_json::json!({"vmid": vmid, "name": "bench", "memory": 512, "cores": 1,
                    "sockets": 1, "ostype": "l26", "net0": "virtio,bridge=vmbr0", "scsihw": "virtio-scsi-pci"}),
            )
            .expect("create");
        upid
    });
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn upload_1gib(b: divan::Bencher) {
    const SIZE: u64 = 1 << 30;
    let c = &bed().client;
    let path = std::env::temp_dir().join(format!("proxmox-ureq-bench-{}.iso", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(SIZE))
        .expect("sparse file");
    b.counter(divan::counter::BytesCount::new(SIZE)).bench(|| {
        c.upload(
            "pve1",
            "local",
            UploadContent::Iso,
            &path,
            UploadChecksum::None,
        )
        .expect("upload")
    });
    std::fs::remove_file(&path).ok();
}
