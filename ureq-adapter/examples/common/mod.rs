//! Shared by the examples: connect to `PROXMOX_HOST` from the environment, or start the
//! embedded simulator in-process.
#![allow(dead_code)]

use proxmox_proto::auth::SecondFactor;
use proxmox_ureq::Client;
use std::time::Duration;

/// An environment variable, if set and not empty.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Errors of the examples.
pub(crate) type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// A client for `PROXMOX_HOST` (token or password from the environment), or for a simulator
/// started here (kept alive by the returned handle).
pub(crate) fn connect() -> Fallible<(Client, Option<proxmox_sim::Simulator>)> {
    connect_with(|_| {})
}

/// Like [`connect`], letting the caller adjust the simulator's configuration.
pub(crate) fn connect_with(
    tune: impl FnOnce(&mut proxmox_sim::Config),
) -> Fallible<(Client, Option<proxmox_sim::Simulator>)> {
    if let Some(host) = env("PROXMOX_HOST") {
        let mut b = Client::builder(&host).timeout(Duration::from_secs(30));
        if let Some(ca) = env("PROXMOX_CA_FILE") {
            b = b.ca_file(ca);
        }
        if let Some(fp) = env("PROXMOX_FINGERPRINT") {
            b = b.fingerprint(&fp);
        }
        if env("PROXMOX_INSECURE").as_deref() == Some("1") {
            b = b.danger_accept_invalid_certs();
        }
        b = match (env("PROXMOX_TOKEN_ID"), env("PROXMOX_TOKEN_SECRET")) {
            (Some(id), Some(secret)) => b.api_token(&id, secret),
            _ => {
                let user = env("PROXMOX_USER").ok_or(
                    "set PROXMOX_TOKEN_ID/PROXMOX_TOKEN_SECRET or PROXMOX_USER/PROXMOX_PASSWORD",
                )?;
                let pw = env("PROXMOX_PASSWORD").ok_or("PROXMOX_PASSWORD is not set")?;
                let b = b.password(&user, pw);
                match env("PROXMOX_OTP") {
                    Some(code) => b.second_factor(SecondFactor::totp(code)),
                    None => b,
                }
            }
        };
        println!("connecting to {host}");
        return Ok((b.build()?, None));
    }
    let mut cfg = proxmox_sim::Config::new(proxmox_sim::Service::Pve);
    cfg.clock = proxmox_sim::ClockMode::Realtime;
    cfg.task_duration = Duration::from_millis(1500);
    tune(&mut cfg);
    let sim = proxmox_sim::Simulator::start(cfg)?;
    println!(
        "PROXMOX_HOST is not set: using the embedded simulator at {}",
        sim.base_url()
    );
    let client = Client::builder(&format!("127.0.0.1:{}", sim.addr().port()))
        .fingerprint(sim.fingerprint_sha256())
        .password(proxmox_sim::ROOT_USER, proxmox_sim::ROOT_PASSWORD)
        .build()?;
    Ok((client, Some(sim)))
}
