//! proxmox-ureq tasks and files against the simulator.

use proxmox_proto::Upid;
use proxmox_proto::checksum::{ChecksumAlgorithm, StreamingDigest};
use proxmox_proto::task::{TaskOutcome, WaitOptions};
use proxmox_proto::upload::UploadContent;
use proxmox_sim::{Config, Service as SimService, Simulator, TaskOutcome as SimOutcome, TaskPlan};
use proxmox_ureq::{Client, DownloadChecksum, UploadChecksum};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

fn start(config: Config) -> (Simulator, Client) {
    let sim = Simulator::start(config).expect("simulator starts");
    let clock = sim.clock().clone();
    let c = Client::builder(&format!("127.0.0.1:{}", sim.addr().port()))
        .ca_pem(sim.ca_pem().as_bytes())
        .clock(Arc::new(move || clock.now()))
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .expect("client");
    (sim, c)
}

fn create_vm(c: &Client, vmid: u32) -> Upid {
    let upid: String = c
        .post(
            ("nodes", "pve1", "qemu"),
            &json!({"vmid": vmid, "name": format!("vm{vmid}"), "memory": 512}),
        )
        .unwrap();
    upid.parse().unwrap()
}

#[test]
fn wait_for_ok_warnings_and_failure() {
    let (sim, c) = start(Config::new(SimService::Pve));
    let upid = create_vm(&c, 700);
    let mut seen = 0;
    let out = c
        .wait_task(&upid, WaitOptions::default(), |_| seen += 1)
        .unwrap();
    assert_eq!(out, TaskOutcome::Ok);
    assert!(seen >= 1);

    sim.plan_next_task(TaskPlan::new(SimOutcome::Warnings(2)));
    let upid: String = c
        .post(("nodes", "pve1", "qemu", 700, "status", "start"), &())
        .unwrap();
    let out = c
        .wait_task(&upid.parse().unwrap(), WaitOptions::default(), |_| {})
        .unwrap();
    assert_eq!(out, TaskOutcome::Warnings(2));
    assert!(out.is_success());

    sim.plan_next_task(TaskPlan::new(SimOutcome::Error("disk full".into())));
    let upid: String = c
        .post(("nodes", "pve1", "qemu", 700, "status", "stop"), &())
        .unwrap();
    match c
        .wait_task(&upid.parse().unwrap(), WaitOptions::default(), |_| {})
        .unwrap()
    {
        TaskOutcome::Failed { message, log_tail } => {
            assert!(message.contains("disk full"), "{message}");
            assert!(
                log_tail.iter().any(|l| l.t.contains("TASK ERROR")),
                "{log_tail:?}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn many_tasks_and_logs() {
    let (_sim, c) = start(Config::new(SimService::Pve));
    let upids: Vec<Upid> = (710..715).map(|id| create_vm(&c, id)).collect();
    let outs = c.wait_tasks(&upids, WaitOptions::default()).unwrap();
    assert_eq!(outs.len(), 5);
    assert!(outs.iter().all(|o| *o == TaskOutcome::Ok), "{outs:?}");
    let log = c.task_log(&upids[0]).unwrap();
    assert!(!log.is_empty());
    assert_eq!(log.last().unwrap().t, "TASK OK");
    let ns: Vec<u64> = log.iter().map(|l| l.n).collect();
    let mut sorted = ns.clone();
    sorted.dedup();
    assert_eq!(ns, sorted, "no repeated lines");
    let mut followed = Vec::new();
    let out = c
        .follow_task_log(&upids[1], WaitOptions::default(), |lines| {
            followed.extend_from_slice(lines)
        })
        .unwrap();
    assert_eq!(out, TaskOutcome::Ok);
    assert_eq!(followed.last().map(|l| l.t.as_str()), Some("TASK OK"));
}

#[test]
fn task_running_over_real_time_is_followed_to_the_end() {
    let mut cfg = Config::new(SimService::Pve);
    cfg.clock = proxmox_sim::ClockMode::Realtime;
    cfg.task_duration = Duration::from_millis(1200);
    let (_sim, c) = start(cfg);
    let upid = create_vm(&c, 720);
    let mut running = 0;
    let opts = WaitOptions::default()
        .with_intervals(Duration::from_millis(100), Duration::from_millis(400));
    let out = c
        .wait_task(&upid, opts, |s| {
            if s.is_running() {
                running += 1;
            }
        })
        .unwrap();
    assert_eq!(out, TaskOutcome::Ok);
    assert!(running >= 2, "saw the task running {running} times");
    let opts = WaitOptions::default().with_timeout(Duration::from_millis(200));
    let upid = create_vm(&c, 721);
    assert_eq!(
        c.wait_task(&upid, opts, |_| {}).unwrap(),
        TaskOutcome::TimedOut
    );
}

#[test]
fn upload_streams_exact_bytes_with_checksum() {
    let (sim, c) = start(Config::new(SimService::Pve));
    let dir = std::env::temp_dir().join(format!("proxmox-ureq-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.iso");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    let mut d = StreamingDigest::new(ChecksumAlgorithm::Sha256);
    d.update(&data);
    let sha = d.finish_hex();
    let mut last = (0, 0);
    let upid = c
        .upload_as(
            "pve1",
            "local",
            UploadContent::Iso,
            &path,
            "tiny.iso",
            UploadChecksum::Compute(ChecksumAlgorithm::Sha256),
            &mut |a, b| last = (a, b),
        )
        .unwrap();
    assert_eq!(last, (data.len() as u64, data.len() as u64));
    assert_eq!(
        c.wait_task(&upid, WaitOptions::default(), |_| {}).unwrap(),
        TaskOutcome::Ok
    );
    let rec = sim.uploads();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].filename, "tiny.iso");
    assert_eq!(rec[0].size, data.len() as u64);
    assert_eq!(rec[0].sha256, sha);
    assert_eq!(rec[0].checksum.as_deref(), Some(sha.as_str()));
    assert_eq!(rec[0].checksum_algorithm.as_deref(), Some("sha256"));
    let content: Vec<Value> = c
        .get(("nodes", "pve1", "storage", "local", "content"))
        .unwrap();
    assert!(
        content
            .iter()
            .any(|e| e["volid"].as_str().is_some_and(|v| v.ends_with("tiny.iso"))),
        "{content:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn download_url_with_discovered_checksum() {
    let dir = std::env::temp_dir().join(format!("proxmox-ureq-dl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hex = "a".repeat(64);
    std::fs::write(
        dir.join("SHA256SUMS"),
        format!("{}  other.iso\n{hex}  debian.iso\n", "b".repeat(64)),
    )
    .unwrap();
    let mut cfg = Config::new(SimService::Pve);
    cfg.static_dir = Some(dir.clone());
    let (sim, c) = start(cfg);
    let url = format!(
        "https://127.0.0.1:{}/dashboard/debian.iso",
        sim.addr().port()
    );
    let found = c
        .discover_checksum(&url, None)
        .unwrap()
        .expect("found in SHA256SUMS");
    assert_eq!(found.hex(), hex);
    let upid = c
        .download_url(
            "pve1",
            "local",
            UploadContent::Iso,
            &url,
            "debian.iso",
            DownloadChecksum::Discover,
        )
        .unwrap();
    assert_eq!(
        c.wait_task(&upid, WaitOptions::default(), |_| {}).unwrap(),
        TaskOutcome::Ok
    );
    let dl = sim.downloads();
    let params: std::collections::HashMap<_, _> = dl[0].params.iter().cloned().collect();
    assert_eq!(
        params.get("checksum").map(String::as_str),
        Some(hex.as_str())
    );
    assert_eq!(
        params.get("checksum-algorithm").map(String::as_str),
        Some("sha256")
    );
    // Nothing published for this name: Discover is an error, DiscoverOptional goes on without.
    let url2 = format!(
        "https://127.0.0.1:{}/dashboard/unknown.iso",
        sim.addr().port()
    );
    let e = c
        .download_url(
            "pve1",
            "local",
            UploadContent::Iso,
            &url2,
            "unknown.iso",
            DownloadChecksum::Discover,
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("no checksum file next to") && e.to_string().contains("unknown.iso"),
        "{e}"
    );
    assert!(
        c.download_url(
            "pve1",
            "local",
            UploadContent::Iso,
            &url2,
            "unknown.iso",
            DownloadChecksum::DiscoverOptional
        )
        .is_ok()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn agent_exec_splits_the_command_string() {
    let (sim, c) = start(Config::new(SimService::Pve));
    let _ = c.agent_exec("pve1", 100, "ls -la '/tmp/a b'");
    let r = sim.requests();
    let last = r
        .iter()
        .rev()
        .find(|r| r.path.ends_with("/agent/exec"))
        .expect("exec sent");
    let cmds: Vec<&str> = last
        .form
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cmds, ["ls", "-la", "/tmp/a b"]);
}
