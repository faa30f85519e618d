//! One `GET` over a transport chosen on the command line; prints the JSON data.
//!
//! ```sh
//! cargo run -p proxmox-cli --example pvesh -- local /version
//! cargo run -p proxmox-cli --example pvesh -- ssh root@pve1.example.com /nodes
//! cargo run -p proxmox-cli --example pvesh -- ssh2 root@pve1.example.com /nodes
//! ```
//!
//! `ssh` uses your ssh configuration (strict host key checking, batch mode, ControlMaster);
//! `ssh2` logs in with the SSH agent and checks `~/.ssh/known_hosts`.

use proxmox_cli::Client;
use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: pvesh (local PATH | ssh [USER@]HOST PATH | ssh2 USER@HOST PATH)";
    let (client, path) = match args.as_slice() {
        [t, path] if t == "local" => (Client::local().build()?, path),
        [t, dest, path] if t == "ssh" => {
            let (user, host) = match dest.split_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, dest.as_str()),
            };
            let mut b = Client::openssh(host);
            if let Some(u) = user {
                b = b.user(u);
            }
            (b.build()?, path)
        }
        [t, dest, path] if t == "ssh2" => {
            let (user, host) = dest.split_once('@').ok_or(usage)?;
            (Client::ssh2(host).user(user).agent().build()?, path)
        }
        _ => return Err(usage.into()),
    };
    let data: Value = client.get(path.as_str())?;
    println!("{}", serde_json::to_string_pretty(&data)?);
    Ok(())
}
