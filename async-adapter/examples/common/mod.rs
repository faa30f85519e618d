//! Shared by the examples, and runtime-agnostic like the client: connect to the server the
//! environment names (`ClientBuilder::from_env()`) or start the embedded simulator, watch `cluster/resources`, start many
//! VMs and wait for them with a live progress line. Each example only picks the runtime.
#![allow(dead_code)]

use proxmox_async::{Backend, Client, ClientBuilder};
use proxmox_proto::Upid;
use proxmox_proto::task::{TaskOutcome, WaitOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Errors of the examples.
pub(crate) type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An environment variable, if set and not empty.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A client for the server the environment names (`PROXMOX_URL` or `PROXMOX_HOST`, a token or
/// a password, certificate settings: the table is in `proxmox_proto::env`), or for a simulator
/// started here (kept alive by the returned handle; tasks take 1.5 s of real time).
pub(crate) fn connect(backend: Backend) -> Fallible<(Client, Option<proxmox_sim::Simulator>)> {
    if env("PROXMOX_URL").or_else(|| env("PROXMOX_HOST")).is_some() {
        // Every PROXMOX_* variable is read by the library (see proxmox_proto::env).
        let client = ClientBuilder::from_env()
            .backend(backend)
            .timeout(Duration::from_secs(30))
            .build()?;
        println!("connecting to {}", client.core().target().origin_url());
        return Ok((client, None));
    }
    let mut cfg = proxmox_sim::Config::new(proxmox_sim::Service::Pve);
    cfg.clock = proxmox_sim::ClockMode::Realtime;
    cfg.task_duration = Duration::from_millis(1500);
    let sim = proxmox_sim::Simulator::start(cfg)?;
    println!(
        "PROXMOX_URL and PROXMOX_HOST are not set: using the embedded simulator at {}",
        sim.base_url()
    );
    // surf (rustls 0.18) cannot do TLS to an IP address: use the name.
    let client = Client::builder(&format!("localhost:{}", sim.addr().port()))
        .backend(backend)
        .fingerprint(sim.fingerprint_sha256())
        .password(proxmox_sim::ROOT_USER, proxmox_sim::ROOT_PASSWORD)
        .build()?;
    Ok((client, Some(sim)))
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Poll `cluster/resources` every `interval` and print what appeared, disappeared or changed
/// status. `rounds` = 0 watches forever. With `demo`, a VM is created and started meanwhile so
/// that there is something to see.
pub(crate) async fn watch(
    client: &Client,
    rounds: u32,
    interval: Duration,
    demo: bool,
) -> Fallible<()> {
    let mut known: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut demo_vm: Option<u32> = None;
    let mut round = 0;
    loop {
        let resources: Vec<Value> = client.get(("cluster", "resources")).await?;
        let mut now: BTreeMap<String, (String, String)> = BTreeMap::new();
        for r in &resources {
            let id = text(r, "id");
            let name = match text(r, "name") {
                n if n.is_empty() => text(r, "node"),
                n => n,
            };
            now.insert(id, (text(r, "status"), name));
        }
        if round == 0 {
            println!("{} resources", now.len());
        } else {
            for (id, (status, name)) in &now {
                match known.get(id) {
                    None => println!("+ {id} {name} {status}"),
                    Some((old, _)) if old != status => println!("~ {id} {name} {old} -> {status}"),
                    _ => {}
                }
            }
            for (id, (_, name)) in &known {
                if !now.contains_key(id) {
                    println!("- {id} {name}");
                }
            }
        }
        known = now;
        round += 1;
        if rounds != 0 && round >= rounds {
            return Ok(());
        }
        if demo {
            demo_step(client, round, &mut demo_vm).await?;
        }
        client.sleep(interval).await;
    }
}

async fn demo_step(client: &Client, round: u32, vm: &mut Option<u32>) -> Fallible<()> {
    match (round, *vm) {
        (1, None) => {
            let id: Value = client.get(("cluster", "nextid")).await?;
            let id: u32 = match &id {
                Value::String(s) => s.parse()?,
                other => u32::try_from(other.as_u64().ok_or("odd nextid")?)?,
            };
            let _: Upid = client
                .post(
                    ("nodes", "pve1", "qemu"),
                    &serde_json::json!({"vmid": id, "name": "watched"}),
                )
                .await?;
            *vm = Some(id);
        }
        (3, Some(id)) => {
            let _: Upid = client
                .post(("nodes", "pve1", "qemu", id, "status", "start"), &())
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Start `vmids` on `node` (fan-out within the client's in-flight limit) and wait for all
/// start tasks from one loop, with a live progress line.
pub(crate) async fn start_all(client: &Client, node: &str, vmids: &[u32]) -> Fallible<()> {
    let started = Instant::now();
    let upids: Vec<Result<Upid, proxmox_async::Error>> = client
        .map_concurrent(vmids.iter().copied(), |vmid| async move {
            client
                .post(("nodes", node, "qemu", vmid, "status", "start"), &())
                .await
        })
        .await;
    let mut ok_upids = Vec::new();
    for (vmid, r) in vmids.iter().zip(upids) {
        match r {
            Ok(u) => ok_upids.push(u),
            Err(e) => println!("VM {vmid}: not started: {e}"),
        }
    }
    let total = ok_upids.len();
    let mut failed = 0;
    print!("\r  0/{total} started");
    let _ = std::io::stdout().flush();
    let outcomes = client
        .wait_tasks_with_progress(&ok_upids, WaitOptions::default(), |p| {
            if let Some((_, outcome)) = p.ended
                && !outcome.is_success()
            {
                failed += 1;
            }
            print!(
                "\r  {}/{} started, {failed} failed ({:.1} s)   ",
                p.finished - failed,
                p.total,
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stdout().flush();
        })
        .await?;
    println!();
    for (upid, o) in ok_upids.iter().zip(&outcomes) {
        if !matches!(o, TaskOutcome::Ok | TaskOutcome::Warnings(_)) {
            println!("  {upid}: {o:?}");
        }
    }
    println!(
        "{} of {} VMs started in {:.1} s",
        outcomes.iter().filter(|o| o.is_success()).count(),
        vmids.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The VMs to start: `PROXMOX_VMIDS` (comma-separated) on a real server; on the simulator, 20
/// new VMs created here first.
pub(crate) async fn vms_to_start(client: &Client, simulated: bool) -> Fallible<(String, Vec<u32>)> {
    let node = env("PROXMOX_NODE").unwrap_or_else(|| "pve1".to_owned());
    if !simulated {
        let list = env("PROXMOX_VMIDS")
            .ok_or("set PROXMOX_VMIDS=100,101,... (the VMs to start) and PROXMOX_NODE")?;
        let ids: Result<Vec<u32>, _> = list.split(',').map(|s| s.trim().parse()).collect();
        return Ok((node, ids?));
    }
    let ids: Vec<u32> = (2000..2020).collect();
    println!("creating 20 VMs on the simulator");
    let created = client
        .map_concurrent(ids.iter().copied(), |vmid| async move {
            client
                .post::<Upid, _>(
                    ("nodes", "pve1", "qemu"),
                    &serde_json::json!({"vmid": vmid, "name": format!("demo{vmid}")}),
                )
                .await
        })
        .await;
    let upids: Result<Vec<Upid>, _> = created.into_iter().collect();
    client.wait_tasks(&upids?, WaitOptions::default()).await?;
    Ok((node, ids))
}
