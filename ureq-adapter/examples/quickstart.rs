//! A tour of the blocking client.
//!
//! Against a real server when `PROXMOX_URL` (or `PROXMOX_HOST`) is set:
//!
//! ```sh
//! PROXMOX_URL=https://pve1.example.com:8006 PROXMOX_TOKEN_ID='root@pam!ci' PROXMOX_TOKEN_SECRET=... \
//!   PROXMOX_CA_FILE=pve-root-ca.pem cargo run -p proxmox-ureq --example quickstart
//! ```
//!
//! (or `PROXMOX_USER`/`PROXMOX_PASSWORD`, `PROXMOX_OTP` for a TFA user, `PROXMOX_FINGERPRINT`,
//! `PROXMOX_INSECURE=1` for a throw-away lab, `PROXMOX_NODE`). Otherwise it starts the embedded
//! simulator in-process. It lists nodes and guests, creates a VM, starts it, waits for the task
//! with a progress indicator, prints the task log, and deletes the VM again.

mod common;

use common::{Fallible, connect, env};
// proxmox-ureq re-exports what a program touches: one dependency is enough.
use proxmox_ureq::{Client, ErrorClass, TaskOutcome, Upid, WaitOptions, json, models, serde_json};
use std::io::Write;
use std::time::Instant;

fn wait(client: &Client, what: &str, upid: &Upid) -> Fallible<TaskOutcome> {
    let spinner = ['|', '/', '-', '\\'];
    let started = Instant::now();
    let mut ticks = 0usize;
    let outcome = client.wait_task(upid, WaitOptions::default(), |status| {
        ticks += 1;
        let state = if status.is_running() {
            "running"
        } else {
            "stopped"
        };
        print!(
            "\r  {what}: {} {state} ({:.1} s)   ",
            spinner[ticks % 4],
            started.elapsed().as_secs_f64()
        );
        let _ = std::io::stdout().flush();
    })?;
    println!(
        "\r  {what}: {outcome:?} after {:.1} s            ",
        started.elapsed().as_secs_f64()
    );
    Ok(outcome)
}

fn main() -> Fallible<()> {
    let started = Instant::now();
    let (client, _sim) = connect()?;

    let version: serde_json::Value = client.get("version")?;
    println!(
        "server version: {}",
        version["version"].as_str().unwrap_or("?")
    );

    // The library's own models read PVE's loose JSON ("1"/1/true, numbers as strings).
    let nodes: Vec<models::NodeListEntry> = client.get("nodes")?;
    for n in &nodes {
        println!("node {} ({})", n.node, n.status);
    }
    let node = env("PROXMOX_NODE")
        .or_else(|| nodes.first().map(|n| n.node.clone()))
        .ok_or("no node")?;

    let guests: Vec<models::ClusterResource> =
        client.get_with(("cluster", "resources"), &[("type", "vm")])?;
    println!("{} guests:", guests.len());
    for g in guests.iter().take(10) {
        println!(
            "  {:>5} {:<6} {:<20} {}",
            g.vmid.map(|v| v.to_string()).unwrap_or_default(),
            g.kind,
            g.name.as_deref().unwrap_or(""),
            g.status.as_ref().map(|s| s.to_string()).unwrap_or_default()
        );
    }

    // The same listing untyped, as the core's flat JSON document (fast on big clusters).
    let all: json::Document = client.get(("cluster", "resources"))?;
    let by_type = all.root().items().fold(
        std::collections::BTreeMap::<&str, usize>::new(),
        |mut m, r| {
            *m.entry(r.get("type").and_then(|t| t.as_str()).unwrap_or("?"))
                .or_default() += 1;
            m
        },
    );
    println!("all resources: {by_type:?}");

    // PVE sends nextid as a string ("102"): it reads as a number.
    let vmid: u32 = client.get(("cluster", "nextid"))?;
    println!("creating VM {vmid} on {node}");
    #[derive(serde::Serialize)]
    struct NewVm<'a> {
        vmid: u32,
        name: &'a str,
        memory: u32,
        cores: u32,
        net0: &'a str,
        description: Option<&'a str>,
    }
    let upid: Upid = client.post(
        ("nodes", &node, "qemu"),
        &NewVm {
            vmid,
            name: "proxmox-rs-tour",
            memory: 512,
            cores: 1,
            net0: "virtio,bridge=vmbr0",
            description: None,
        },
    )?;
    // A task that failed is an outcome, not an error: into_result makes it one.
    wait(&client, "create", &upid)?.into_result(&upid)?;

    let upid: Upid = client.post(("nodes", &node, "qemu", vmid, "status", "start"), &())?;
    let outcome = wait(&client, "start", &upid)?;
    println!("task log of the start:");
    for line in client.task_log(&upid)? {
        println!("  {:>3} {}", line.n, line.t);
    }
    if !outcome.is_success() {
        println!("the start failed: {outcome:?}");
    }

    // Errors are typed: asking for a VM that does not exist is a NotFound, not a panic.
    match client.get::<serde_json::Value>(("nodes", &node, "qemu", 999_999, "status", "current")) {
        Err(e) if e.api().is_some_and(|a| a.class == ErrorClass::NotFound) => {
            println!(
                "VM 999999: not found, as expected ({})",
                e.api().map(|a| a.summary()).unwrap_or("")
            );
        }
        other => println!("VM 999999: unexpected answer {other:?}"),
    }

    let upid: Upid = client.post(("nodes", &node, "qemu", vmid, "status", "stop"), &())?;
    wait(&client, "stop", &upid)?.into_result(&upid)?;
    let upid: Upid = client.delete(("nodes", &node, "qemu", vmid), &())?;
    wait(&client, "delete", &upid)?.into_result(&upid)?;
    println!(
        "cleaned up; tour done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
