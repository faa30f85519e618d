//! 1,000 GETs of `/version` against the in-process simulator, sequential and 8 at a time,
//! through proxmox-async (hyper/tokio, reqwest/tokio and surf/async-std, as their features are
//! on) and through the blocking proxmox-ureq for comparison. Throughput is reported as items (calls)
//! per second.
//!
//! ```sh
//! cargo bench -p proxmox-async --features surf --bench gets
//! ```

// Without an async transport only the proxmox-ureq benches run.
#![cfg_attr(
    not(any(feature = "hyper", feature = "reqwest", feature = "surf")),
    allow(dead_code)
)]

use divan::Bencher;
use divan::counter::ItemsCount;
use futures_util::future::join_all;
use proxmox_sim::{Config, Service, Simulator};
use serde_json::Value;
use std::time::Duration;

const CALLS: usize = 1000;

fn main() {
    divan::main();
}

fn sim() -> Simulator {
    let mut cfg = Config::new(Service::Pve);
    cfg.keepalive_idle = Some(Duration::from_secs(30));
    Simulator::start(cfg).expect("simulator")
}

fn async_client(backend: proxmox_async::Backend, sim: &Simulator) -> proxmox_async::Client {
    proxmox_async::Client::builder(&format!("localhost:{}", sim.addr().port()))
        .backend(backend)
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .max_in_flight(8)
        .build()
        .expect("client")
}

async fn sequential(c: &proxmox_async::Client) {
    for _ in 0..CALLS {
        let v: Value = c.get("version").await.expect("GET");
        divan::black_box(v);
    }
}

async fn concurrent(c: &proxmox_async::Client) {
    // 1,000 futures; the client keeps 8 on the wire.
    let all = join_all((0..CALLS).map(|_| c.get::<Value>("version"))).await;
    for r in all {
        divan::black_box(r.expect("GET"));
    }
}

/// The tokio backends: warm up, then time 1,000 calls.
#[cfg(any(feature = "hyper", feature = "reqwest"))]
fn run_tokio(b: Bencher, backend: proxmox_async::Backend, concurrent_calls: bool) {
    let sim = sim();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let c = async_client(backend, &sim);
    rt.block_on(sequential(&c)); // warm up: connections, TLS
    b.counter(ItemsCount::new(CALLS)).bench(|| {
        rt.block_on(async {
            if concurrent_calls {
                concurrent(&c).await
            } else {
                sequential(&c).await
            }
        })
    });
}

#[cfg(feature = "hyper")]
mod hyper {
    use super::*;

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn sequential_1000(b: Bencher) {
        run_tokio(b, proxmox_async::Backend::Hyper, false);
    }

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn concurrency_8_1000(b: Bencher) {
        run_tokio(b, proxmox_async::Backend::Hyper, true);
    }
}

#[cfg(feature = "reqwest")]
mod reqwest {
    use super::*;

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn sequential_1000(b: Bencher) {
        run_tokio(b, proxmox_async::Backend::Reqwest, false);
    }

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn concurrency_8_1000(b: Bencher) {
        run_tokio(b, proxmox_async::Backend::Reqwest, true);
    }
}

#[cfg(feature = "surf")]
mod surf {
    use super::*;

    fn run(b: Bencher, concurrent_calls: bool) {
        let sim = sim();
        let c = async_client(proxmox_async::Backend::Surf, &sim);
        async_std::task::block_on(sequential(&c));
        b.counter(ItemsCount::new(CALLS)).bench(|| {
            async_std::task::block_on(async {
                if concurrent_calls {
                    concurrent(&c).await
                } else {
                    sequential(&c).await
                }
            })
        });
    }

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn sequential_1000(b: Bencher) {
        run(b, false);
    }

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn concurrency_8_1000(b: Bencher) {
        run(b, true);
    }
}

mod ureq {
    use super::*;

    fn client(sim: &Simulator) -> proxmox_ureq::Client {
        proxmox_ureq::Client::builder(&format!("localhost:{}", sim.addr().port()))
            .ca_pem(sim.ca_pem().as_bytes())
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .build()
            .expect("client")
    }

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn sequential_1000(b: Bencher) {
        let sim = sim();
        let c = client(&sim);
        let _: Value = c.get("version").expect("warm up");
        b.counter(ItemsCount::new(CALLS)).bench(|| {
            for _ in 0..CALLS {
                let v: Value = c.get("version").expect("GET");
                divan::black_box(v);
            }
        });
    }

    /// 8 threads sharing one client, 125 calls each.
    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn threads_8_1000(b: Bencher) {
        let sim = sim();
        let c = client(&sim);
        let _: Value = c.get("version").expect("warm up");
        b.counter(ItemsCount::new(CALLS)).bench(|| {
            std::thread::scope(|s| {
                for _ in 0..8 {
                    let c = c.clone();
                    s.spawn(move || {
                        for _ in 0..CALLS / 8 {
                            let v: Value = c.get("version").expect("GET");
                            divan::black_box(v);
                        }
                    });
                }
            });
        });
    }
}
