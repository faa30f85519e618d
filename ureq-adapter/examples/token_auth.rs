//! API-token auth against a real server, with the certificate pinned or a CA file:
//!
//! ```sh
//! PROXMOX_URL=https://pve1.example.com:8006 PROXMOX_TOKEN_ID='automation@pve!ci' PROXMOX_TOKEN_SECRET=... \
//!   PROXMOX_FINGERPRINT='AB:CD:…' cargo run -p proxmox-ureq --example token_auth
//! ```
//!
//! Without `PROXMOX_URL` (or `PROXMOX_HOST`) it runs against the embedded simulator with its `root@pam!ci` token.
//! A token with privilege separation and no ACLs gets 403: the example says so instead of
//! failing with a bare status.

mod common;

use common::{Fallible, env};
use proxmox_proto::ErrorClass;
use proxmox_proto::models::{NodeListEntry, VersionInfo};
use proxmox_ureq::{Client, ClientBuilder};
use std::time::Duration;

fn main() -> Fallible<()> {
    let (client, _sim) = match env("PROXMOX_URL").or_else(|| env("PROXMOX_HOST")) {
        // PROXMOX_TOKEN_ID, PROXMOX_TOKEN_SECRET (or _FILE), PROXMOX_FINGERPRINT or
        // PROXMOX_CA_FILE: read by the library, which names what is missing.
        Some(_) => (
            ClientBuilder::from_env()
                .timeout(Duration::from_secs(20))
                .build()?,
            None,
        ),
        None => {
            let sim =
                proxmox_sim::Simulator::start(proxmox_sim::Config::new(proxmox_sim::Service::Pve))?;
            println!(
                "PROXMOX_URL and PROXMOX_HOST are not set: using the embedded simulator at {}",
                sim.base_url()
            );
            let c = Client::builder(&sim.base_url())
                .fingerprint(sim.fingerprint_sha256())
                .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
                .build()?;
            (c, Some(sim))
        }
    };
    // A token is only checked on first use: ask for the version to fail fast.
    let v: VersionInfo = client.get("version")?;
    println!(
        "connected: {} (release {})",
        v.version,
        v.release.as_deref().unwrap_or("?")
    );
    match client.get::<Vec<NodeListEntry>>("nodes") {
        Ok(nodes) => {
            for n in nodes {
                println!(
                    "node {:<12} {:?} cpu {:.1}%",
                    n.node,
                    n.status,
                    n.cpu.unwrap_or(0.0) * 100.0
                );
            }
        }
        Err(e) if e.api().is_some_and(|a| a.class == ErrorClass::Forbidden) => {
            println!(
                "403: the token has no permission on /nodes; with privilege separation, grant ACLs to the token itself"
            );
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
