//! Watch `cluster/resources` on async-std (surf transport) and print changes.
//!
//! ```sh
//! cargo run -p proxmox-async --features surf --example async_std_watch            # embedded simulator
//! PROXMOX_URL=https://pve1.example.com:8006 PROXMOX_TOKEN_ID='root@pam!ci' PROXMOX_TOKEN_SECRET=... \
//!   PROXMOX_CA_FILE=pve-root-ca.pem cargo run -p proxmox-async --features surf --example async_std_watch
//! ```
//!
//! `WATCH_ROUNDS` (default 6 on the simulator, forever on a real server) and
//! `WATCH_INTERVAL_MS` (default 1000).

mod common;

use std::time::Duration;

#[async_std::main]
async fn main() -> common::Fallible<()> {
    let (client, sim) = common::connect(proxmox_async::Backend::Surf)?;
    let rounds = common::env("WATCH_ROUNDS")
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(if sim.is_some() { 6 } else { 0 });
    let interval = common::env("WATCH_INTERVAL_MS")
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(1000);
    common::watch(
        &client,
        rounds,
        Duration::from_millis(interval),
        sim.is_some(),
    )
    .await
}
