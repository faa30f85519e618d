//! Shared by the examples: connect to the server the environment names (`PROXMOX_URL` or
//! `PROXMOX_HOST`, read by `ClientBuilder::from_env()`), or start the embedded simulator
//! in-process.
#![allow(dead_code)]

use proxmox_ureq::{Client, ClientBuilder};
use std::time::Duration;

/// An environment variable, if set and not empty.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Errors of the examples.
pub(crate) type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// A client for the server the environment names (token or password from it too), or for a
/// simulator started here (kept alive by the returned handle).
pub(crate) fn connect() -> Fallible<(Client, Option<proxmox_sim::Simulator>)> {
    connect_with(|_| {})
}

/// Like [`connect`], letting the caller adjust the simulator's configuration.
pub(crate) fn connect_with(
    tune: impl FnOnce(&mut proxmox_sim::Config),
) -> Fallible<(Client, Option<proxmox_sim::Simulator>)> {
    if env("PROXMOX_URL").or_else(|| env("PROXMOX_HOST")).is_some() {
        // Every PROXMOX_* variable is read by the library (see proxmox_proto::env).
        let client = ClientBuilder::from_env()
            .timeout(Duration::from_secs(30))
            .build()?;
        println!("connecting to {}", client.core().target().origin_url());
        return Ok((client, None));
    }
    let mut cfg = proxmox_sim::Config::new(proxmox_sim::Service::Pve);
    cfg.clock = proxmox_sim::ClockMode::Realtime;
    cfg.task_duration = Duration::from_millis(1500);
    tune(&mut cfg);
    let sim = proxmox_sim::Simulator::start(cfg)?;
    println!(
        "PROXMOX_URL and PROXMOX_HOST are not set: using the embedded simulator at {}",
        sim.base_url()
    );
    let client = Client::builder(&sim.base_url())
        .fingerprint(sim.fingerprint_sha256())
        .password(proxmox_sim::ROOT_USER, proxmox_sim::ROOT_PASSWORD)
        .build()?;
    Ok((client, Some(sim)))
}
