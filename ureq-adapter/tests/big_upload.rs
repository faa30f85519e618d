//! A 5 GiB (sparse) upload through TLS to the in-process simulator: the server must receive
//! exactly the bytes of the file, and the whole process (client and simulator) must stay
//! under 64 MiB of peak resident memory.
//!
//! Ignored by default (it moves 5 GiB); `scripts/test-all.sh` runs it explicitly in release
//! mode: `cargo test --release -p proxmox-ureq --test big_upload -- --ignored`.

use proxmox_proto::checksum::{ChecksumAlgorithm, StreamingDigest};
use proxmox_proto::task::{TaskOutcome, WaitOptions};
use proxmox_proto::upload::UploadContent;
use proxmox_sim::{Config, Service as SimService, Simulator};
use proxmox_ureq::{Client, UploadChecksum};
use std::sync::Arc;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .expect("VmHWM in /proc/self/status")
}

#[test]
#[ignore = "moves 5 GiB; run explicitly (scripts/test-all.sh does)"]
fn five_gib_sparse_upload_streams_in_constant_memory() {
    const SIZE: u64 = 5 * 1024 * 1024 * 1024;
    let sim = Simulator::start(Config::new(SimService::Pve)).expect("simulator");
    let clock = sim.clock().clone();
    let c = Client::builder(&format!("127.0.0.1:{}", sim.addr().port()))
        .ca_pem(sim.ca_pem().as_bytes())
        .clock(Arc::new(move || clock.now()))
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .expect("client");
    let dir = std::env::temp_dir().join(format!("proxmox-ureq-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("big.iso");
    let f = std::fs::File::create(&path).expect("create");
    f.set_len(SIZE).expect("sparse file");
    drop(f);

    // The expected digest of 5 GiB of zeros, computed the same streaming way.
    let mut d = StreamingDigest::new(ChecksumAlgorithm::Sha256);
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(SIZE >> 20) {
        d.update(&zeros);
    }
    let expected = d.finish_hex();
    drop(zeros);

    let mut reports = 0u64;
    let upid = c
        .upload_as(
            "pve1",
            "local",
            UploadContent::Iso,
            &path,
            "big.iso",
            UploadChecksum::None,
            &mut |sent, total| {
                assert!(sent <= total);
                reports += 1;
            },
        )
        .expect("upload");
    assert!(reports > 1);
    assert_eq!(
        c.wait_task(&upid, WaitOptions::default(), |_| {})
            .expect("wait"),
        TaskOutcome::Ok
    );
    let rec = sim.uploads();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].size, SIZE);
    assert_eq!(rec[0].sha256, expected);
    let peak = peak_rss_kib();
    println!("peak RSS {peak} KiB for a {SIZE}-byte upload");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB is over 64 MiB");
    std::fs::remove_dir_all(&dir).ok();
}
