//! API-token auth against a real server, with the certificate pinned or a CA file:
//!
//! ```sh
//! PROXMOX_HOST=pve1.example.com PROXMOX_TOKEN_ID='automation@pve!ci' PROXMOX_TOKEN_SECRET=... \
//!   PROXMOX_FINGERPRINT='AB:CD:…' cargo run -p proxmox-ureq --example token_auth
//! ```
//!
//! Without `PROXMOX_HOST` it runs against the embedded simulator with its `root@pam!ci` token.
//! A token with privilege separation and no ACLs gets 403: the example says so instead of
//! failing with a bare status.

mod common;

use common::{Fallible, env};
use proxmox_proto::ErrorClass;
use proxmox_proto::models::{NodeListEntry, VersionInfo};
use proxmox_ureq::Client;
use std::time::Duration;

fn main() -> Fallible<()> {
    let (client, _sim) = match env("PROXMOX_HOST") {
        Some(host) => {
            let id = env("PROXMOX_TOKEN_ID").ok_or("PROXMOX_TOKEN_ID is not set")?;
            let secret = env("PROXMOX_TOKEN_SECRET").ok_or("PROXMOX_TOKEN_SECRET is not set")?;
            let mut b = Client::builder(&host)
                .api_token(&id, secret)
                .timeout(Duration::from_secs(20));
            if let Some(fp) = env("PROXMOX_FINGERPRINT") {
                b = b.fingerprint(&fp);
            }
            if let Some(ca) = env("PROXMOX_CA_FILE") {
                b = b.ca_file(ca);
            }
            (b.build()?, None)
        }
        None => {
            let sim =
                proxmox_sim::Simulator::start(proxmox_sim::Config::new(proxmox_sim::Service::Pve))?;
            println!(
                "PROXMOX_HOST is not set: using the embedded simulator at {}",
                sim.base_url()
            );
            let c = Client::builder(&format!("127.0.0.1:{}", sim.addr().port()))
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
