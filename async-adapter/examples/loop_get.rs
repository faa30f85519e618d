//! For profiling the adapter's own cost per call: `N` sequential calls of one path over one
//! kept-alive connection, on a current-thread tokio runtime; prints calls/s.
//!
//! ```sh
//! cargo run --release -p proxmox-async --example loop_get -- hyper 127.0.0.1:18443 ca.pem version 10000
//! ```
//! `MODE` (optional, after `N`) is what one call is: `get` (the default; `GET PATH` into a
//! `serde_json::Value`), `post` (`POST PATH` with the 8 parameters of the side-by-side create
//! benchmark, answer read as a `String`) or `typed` (`GET PATH` into
//! `Vec<proxmox_proto::models::ClusterResource>`). `scripts/callgrind-per-call.sh` uses them.
//! The token is `root@pam!bench` with the secret of the benchmark's fakepve/nginx answers.

use proxmox_proto::models::ClusterResource;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (backend, host, ca, path, n, mode) = match args.as_slice() {
        [b, h, c, p, n] => (b, h, c, p, n, "get"),
        [b, h, c, p, n, m] => (b, h, c, p, n, m.as_str()),
        _ => {
            return Err(
                "usage: loop_get hyper|reqwest|surf HOST CA-PEM PATH N [get|post|typed]".into(),
            );
        }
    };
    if !matches!(mode, "get" | "post" | "typed") {
        return Err(format!("unknown mode {mode} (get, post or typed)").into());
    }
    let backend = match backend.as_str() {
        #[cfg(feature = "hyper")]
        "hyper" => proxmox_async::Backend::Hyper,
        #[cfg(feature = "reqwest")]
        "reqwest" => proxmox_async::Backend::Reqwest,
        #[cfg(feature = "surf")]
        "surf" => proxmox_async::Backend::Surf,
        other => return Err(format!("unknown or disabled backend {other}").into()),
    };
    let n: u32 = n.parse()?;
    let c = proxmox_async::Client::builder(host)
        .backend(backend)
        .api_token("root@pam!bench", "11111111-2222-3333-4444-555555555555")
        .ca_pem(&std::fs::read(ca)?)
        .timeout(Duration::from_secs(600))
        .max_in_flight(1)
        .build()?;
    let params = serde_json::json!({
        "vmid": 1000, "name": "bench", "memory": 512, "cores": 2, "sockets": 1,
        "ostype": "l26", "onboot": true, "net0": "virtio,bridge=vmbr0",
    });
    let run = async {
        let s = Instant::now();
        for _ in 0..n {
            match mode {
                "post" => {
                    let _: String = c.post(path.as_str(), &params).await?;
                }
                "typed" => {
                    let _: Vec<ClusterResource> = c.get(path.as_str()).await?;
                }
                _ => {
                    let _: serde_json::Value = c.get(path.as_str()).await?;
                }
            }
        }
        Ok::<f64, proxmox_async::Error>(f64::from(n) / s.elapsed().as_secs_f64())
    };
    let rate = match backend {
        #[cfg(feature = "surf")]
        proxmox_async::Backend::Surf => async_std::task::block_on(run)?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run)?,
    };
    println!("{rate:.0} calls/s");
    Ok(())
}
