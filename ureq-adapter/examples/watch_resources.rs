//! Watch `cluster/resources` and print what changes (guests appearing, starting, stopping,
//! migrating, nodes going down) with the change feed:
//!
//! ```sh
//! cargo run -p proxmox-ureq --example watch_resources -- [seconds]
//! ```
//!
//! Against `PROXMOX_URL` or the embedded simulator (where the example itself starts a guest
//! so there is something to see). `client.watch_resources(interval)` is an endless iterator;
//! here its `next_batch()` is polled until the given number of seconds (default 6) passed.

mod common;

use common::{Fallible, connect};
use std::time::{Duration, Instant};

fn main() -> Fallible<()> {
    let (client, sim) = connect()?;
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let until = Instant::now() + Duration::from_secs(seconds);
    if sim.is_some() {
        // Something to watch on the simulator: start the stopped VM 101 once the watch has
        // its baseline.
        let poke = client.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            let _: Result<String, _> =
                poke.post(("nodes", "pve1", "qemu", 101, "status", "start"), &());
        });
    }
    println!("watching cluster/resources every second for {seconds} s");
    // The iterator returns only when something changed; next_batch() after every poll, so
    // the loop can stop on time.
    let mut watch = client.watch_resources(Duration::from_secs(1));
    while Instant::now() < until {
        match watch.next_batch() {
            Ok(changes) => changes.iter().for_each(|c| println!("{c}")),
            Err(e) => eprintln!("poll failed: {e}"),
        }
    }
    Ok(())
}
