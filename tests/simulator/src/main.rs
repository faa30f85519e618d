//! `proxmox-sim`: run the simulator standalone.
//!
//! ```text
//! proxmox-sim [--service pve|pmg|pbs] [--port N] [--bind ADDR] [--plain] [--ca-out PATH]
//!             [--task-secs S] [--guests N] [--static DIR] [--manual-clock]
//!             [--hostile]
//! ```

use std::time::Duration;

use proxmox_sim::{ClockMode, Config, Service, Simulator};

fn usage() -> ! {
    eprintln!(
        "usage: proxmox-sim [--service pve|pmg|pbs] [--port N] [--bind ADDR] [--plain] [--ca-out PATH]\n\
         \x20                  [--task-secs S] [--guests N] [--static DIR] [--manual-clock]\n\
         \x20                  [--hostile] [--nodes N]"
    );
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = Config::new(Service::Pve);
    config.clock = ClockMode::Realtime;
    config.task_duration = Duration::from_secs(2);
    let mut port: Option<u16> = None;
    let mut ca_out = None;
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--service" => config.service = Service::parse(&val()).unwrap_or_else(|| usage()),
            "--port" => port = Some(val().parse().unwrap_or_else(|_| usage())),
            "--bind" => config.bind = val().parse().unwrap_or_else(|_| usage()),
            "--plain" => config.plain_http = true,
            "--ca-out" => ca_out = Some(val()),
            "--task-secs" => {
                config.task_duration =
                    Duration::from_secs_f64(val().parse().unwrap_or_else(|_| usage()))
            }
            "--guests" => config.generated_guests = val().parse().unwrap_or_else(|_| usage()),
            "--static" => config.static_dir = Some(val().into()),
            "--manual-clock" => config.clock = ClockMode::Manual,
            "--hostile" => config.hostile = true,
            "--nodes" => {
                config.nodes = val()
                    .parse()
                    .ok()
                    .filter(|n| (1..=254).contains(n))
                    .unwrap_or_else(|| usage())
            }
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    config.port = port.unwrap_or(config.service.default_port());
    let sim = match Simulator::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("proxmox-sim: cannot start: {e}");
            std::process::exit(1);
        }
    };
    if let Some(path) = ca_out
        && let Err(e) = std::fs::write(&path, sim.ca_pem())
    {
        eprintln!("proxmox-sim: cannot write {path}: {e}");
        std::process::exit(1);
    }
    println!(
        "proxmox-sim {} listening on {}",
        sim.service().tag(),
        sim.base_url()
    );
    println!("fingerprint {}", sim.fingerprint_sha256());
    let names = sim.node_names();
    if names.len() > 1 {
        for (name, url) in names.iter().zip(sim.node_urls()) {
            println!(
                "node {name} at {url} fingerprint {}",
                sim.node_fingerprint(name).unwrap_or_else(|| "?".into())
            );
        }
    }
    println!(
        "user {} password {}",
        proxmox_sim::ROOT_USER,
        sim.root_password()
    );
    if let Some(t) = sim.token_header() {
        println!("token Authorization: {t}");
    }
    println!(
        "tfa user {} password {} totp {}",
        proxmox_sim::TFA_USER,
        proxmox_sim::TFA_PASSWORD,
        proxmox_sim::TOTP_CODE
    );
    loop {
        std::thread::park();
    }
}
