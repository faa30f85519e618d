//! Consoles through proxmox-async (hyper, the default backend) against the simulator's
//! termproxy, as proxmox-ureq's `console` bench measures them (release build):
//! `cargo bench -p proxmox-async --bench console`.
//!
//! * `echo_rtt_hyper`: one typed byte and its echo, the connection kept open;
//! * `bulk_hyper`: the shell's `bulk 16777216` (16 MiB of output) read to the next prompt.
#![cfg_attr(not(feature = "hyper"), allow(dead_code))]

use proxmox_sim::{Config, Service, Simulator};
use std::time::Duration;

const BULK: usize = 16 * 1024 * 1024;
const WAIT: Duration = Duration::from_secs(30);

fn main() {
    divan::main();
}

#[cfg(feature = "hyper")]
fn open(rt: &tokio::runtime::Runtime, sim: &Simulator) -> proxmox_async::Console {
    let c = proxmox_async::Client::builder(&sim.url())
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .expect("client");
    rt.block_on(async {
        let shell = c
            .console(proxmox_async::ConsoleTarget::Node("pve1".into()))
            .build()
            .await
            .expect("console");
        shell.read_until(b"# ", WAIT).await.expect("prompt");
        shell
    })
}

#[cfg(feature = "hyper")]
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[cfg(feature = "hyper")]
#[divan::bench(sample_count = 50, sample_size = 20)]
fn echo_rtt_hyper(b: divan::Bencher) {
    let sim = Simulator::start(Config::new(Service::Pve)).expect("simulator");
    let rt = runtime();
    let shell = open(&rt, &sim);
    b.bench_local(|| {
        rt.block_on(async {
            shell.send(b"x").await.unwrap();
            shell.read_until(b"x", WAIT).await.unwrap()
        })
    });
}

#[cfg(feature = "hyper")]
#[divan::bench(sample_count = 10, sample_size = 1, counters = [divan::counter::BytesCount::new(BULK)])]
fn bulk_hyper(b: divan::Bencher) {
    let sim = Simulator::start(Config::new(Service::Pve)).expect("simulator");
    let rt = runtime();
    let shell = open(&rt, &sim);
    let command = format!("bulk {BULK}\r");
    b.bench_local(|| {
        rt.block_on(async {
            shell.send(command.as_bytes()).await.unwrap();
            let mut total = 0usize;
            let mut tail = Vec::new();
            loop {
                let chunk = shell.recv(Some(WAIT)).await.unwrap().unwrap();
                total += chunk.len();
                tail.extend_from_slice(&chunk);
                if tail.ends_with(b"# ") && total > BULK {
                    break total;
                }
                let keep = tail.len().saturating_sub(2);
                tail.drain(..keep);
            }
        })
    });
}
