//! For profiling the adapter's own cost per call: `N` sequential GETs of one path over one
//! kept-alive connection, on a current-thread tokio runtime; prints calls/s.
//!
//! ```sh
//! cargo run --release -p proxmox-async --example loop_get -- hyper 127.0.0.1:18443 ca.pem version 10000
//! ```
//! The token is `root@pam!bench` with the secret of the benchmark's fakepve/nginx answers.

use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [backend, host, ca, path, n] = args.as_slice() else {
        return Err("usage: loop_get hyper|reqwest|surf HOST CA-PEM PATH N".into());
    };
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
    let run = async {
        let s = Instant::now();
        for _ in 0..n {
            let _: serde_json::Value = c.get(path.as_str()).await?;
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
