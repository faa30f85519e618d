//! Upload an ISO with a progress bar, the checksum computed locally and verified by the server:
//!
//! ```sh
//! cargo run -p proxmox-ureq --example upload_iso -- path/to/debian.iso [storage]
//! ```
//!
//! Against `PROXMOX_URL` (see the quickstart for the variables) or the embedded simulator.
//! Without a path it uploads a generated 64 MiB file. Memory stays constant at any file size.

mod common;

use common::{Fallible, connect, env};
use proxmox_proto::checksum::ChecksumAlgorithm;
use proxmox_proto::task::WaitOptions;
use proxmox_proto::upload::UploadContent;
use proxmox_ureq::UploadChecksum;
use std::io::Write;
use std::time::Instant;

fn main() -> Fallible<()> {
    let (client, _sim) = connect()?;
    let mut args = std::env::args().skip(1);
    let (path, generated) = match args.next() {
        Some(p) => (std::path::PathBuf::from(p), false),
        None => {
            let p = std::env::temp_dir().join("proxmox-ureq-example.iso");
            std::fs::File::create(&p)?.set_len(64 << 20)?;
            (p, true)
        }
    };
    let storage = args.next().unwrap_or_else(|| "local".into());
    let node = env("PROXMOX_NODE").unwrap_or_else(|| "pve1".into());
    let started = Instant::now();
    let mut progress = |sent: u64, total: u64| {
        let pct = (sent * 100).checked_div(total).unwrap_or(100);
        let bar = "#".repeat((pct / 4) as usize);
        let mb_s = sent as f64 / 1e6 / started.elapsed().as_secs_f64().max(1e-3);
        print!("\r[{bar:<25}] {pct:>3}% {:.0} MB/s", mb_s);
        let _ = std::io::stdout().flush();
    };
    println!(
        "hashing and uploading {} to {node}/{storage}",
        path.display()
    );
    // upload_as: the name to store it under, and a progress callback.
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload.iso")
        .to_owned();
    let upid = client.upload_as(
        &node,
        &storage,
        UploadContent::Iso,
        &path,
        &name,
        UploadChecksum::Compute(ChecksumAlgorithm::Sha256),
        &mut progress,
    )?;
    println!();
    let outcome = client.wait_task(&upid, WaitOptions::default(), |_| {})?;
    println!(
        "import task: {outcome:?} ({:.1} s in all)",
        started.elapsed().as_secs_f64()
    );
    if generated {
        std::fs::remove_file(&path).ok();
    }
    Ok(())
}
