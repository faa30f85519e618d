//! A scripted console session: open a node's shell (or a guest's console), wait for the
//! prompt, type a command, capture its output up to the next prompt, and leave — what an
//! installer answered on a serial console, or a command run in a VM without a guest agent,
//! looks like.
//!
//! ```sh
//! cargo run -p proxmox-ureq --example expect                  # the embedded simulator
//! PROXMOX_URL=https://pve1:8006 PROXMOX_USER=root@pam PROXMOX_PASSWORD=... \
//!   cargo run -p proxmox-ureq --example expect -- pve1 'uname -a'
//! ```
//!
//! The prompt awaited is `# ` (root's shell); every wait has a timeout, and a console that
//! ends before the prompt is an error naming what was awaited.

mod common;

use common::{Fallible, connect};
use proxmox_ureq::ConsoleTarget;
use std::time::Duration;

fn main() -> Fallible<()> {
    let (client, _sim) = connect()?;
    let mut args = std::env::args().skip(1);
    let node = args.next().unwrap_or_else(|| "pve1".into());
    let command = args.next().unwrap_or_else(|| "uname -a".into());
    let timeout = Duration::from_secs(10);

    let shell = client.console(ConsoleTarget::Node(node.clone())).build()?;
    let banner = shell.read_until(b"# ", timeout)?;
    println!(
        "logged in to {node}: {:?}",
        String::from_utf8_lossy(&banner)
    );
    // A terminal wants a carriage return, as a keyboard sends it.
    shell.send(format!("{command}\r").as_bytes())?;
    let out = shell.read_until(b"# ", timeout)?;
    let out = String::from_utf8_lossy(&out);
    // The echo of the command, its output, the next prompt.
    let lines: Vec<&str> = out.split("\r\n").collect();
    let output = &lines[1..lines.len().saturating_sub(1)];
    println!("$ {command}");
    for line in output {
        println!("{line}");
    }
    shell.close()?;
    Ok(())
}
