//! A SPICE connection file for a VM: `spiceproxy`'s answer written as a `.vv` file that only
//! its owner can read (it holds the session's password, valid for a short while), ready for
//! `remote-viewer`.
//!
//! ```sh
//! cargo run -p proxmox-ureq --example spice                    # the embedded simulator
//! PROXMOX_URL=https://pve1:8006 PROXMOX_USER=root@pam PROXMOX_PASSWORD=... \
//!   cargo run -p proxmox-ureq --example spice -- pve1 100 && remote-viewer vm100.vv
//! ```

mod common;

use common::{Fallible, connect};
use proxmox_ureq::ConsoleTarget;

fn main() -> Fallible<()> {
    let (client, _sim) = connect()?;
    let mut args = std::env::args().skip(1);
    let node = args.next().unwrap_or_else(|| "pve1".into());
    let vmid: u32 = args.next().map_or(Ok(100), |v| v.parse())?;
    let vv = client.spice(&ConsoleTarget::Qemu { node, vmid }, None)?;
    // Debug shows the fields, never the password.
    println!("{vv:?}");
    let path = format!("vm{vmid}.vv");
    proxmox_ureq::write_vv(&path, &vv)?;
    println!("wrote {path} (mode 0600): remote-viewer {path}");
    Ok(())
}
