//! Watch `cluster/resources` and print what changes (guests appearing, starting, stopping):
//!
//! ```sh
//! cargo run -p proxmox-ureq --example watch_resources -- [seconds]
//! ```
//!
//! Against `PROXMOX_URL` or the embedded simulator (where the example itself starts and stops
//! a guest so there is something to see). Uses the typed, lenient `ClusterResource` model.

mod common;

use common::{Fallible, connect};
use proxmox_proto::models::ClusterResource;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn snapshot(c: &proxmox_ureq::Client) -> Fallible<BTreeMap<String, String>> {
    let list: Vec<ClusterResource> = c.get(("cluster", "resources"))?;
    Ok(list
        .into_iter()
        .map(|r| {
            let status = r.status.map(|s| format!("{s:?}")).unwrap_or_default();
            (r.id, status)
        })
        .collect())
}

fn main() -> Fallible<()> {
    let (client, sim) = connect()?;
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let mut last = snapshot(&client)?;
    println!("{} resources", last.len());
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut poked = false;
    while Instant::now() < until {
        if sim.is_some() && !poked {
            // Something to watch on the simulator: start the stopped VM 101.
            let _: serde_json::Value =
                client.post(("nodes", "pve1", "qemu", 101, "status", "start"), &())?;
            poked = true;
        }
        std::thread::sleep(Duration::from_secs(1));
        let now = snapshot(&client)?;
        for (id, status) in &now {
            match last.get(id) {
                None => println!("+ {id} {status}"),
                Some(old) if old != status => println!("~ {id} {old} -> {status}"),
                _ => {}
            }
        }
        for id in last.keys().filter(|k| !now.contains_key(*k)) {
            println!("- {id}");
        }
        last = now;
    }
    Ok(())
}
