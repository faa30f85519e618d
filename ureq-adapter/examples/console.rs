//! An interactive console: a node's shell, a container's console or a VM's serial terminal,
//! in this terminal. `Ctrl-]` leaves.
//!
//! ```sh
//! cargo run -p proxmox-ureq --example console                  # the simulator's pve1
//! PROXMOX_URL=https://pve1:8006 PROXMOX_USER=root@pam PROXMOX_PASSWORD=... \
//!   cargo run -p proxmox-ureq --example console -- pve1/lxc/200
//! ```
//!
//! The argument is `NODE`, `NODE/qemu/VMID` or `NODE/lxc/VMID`. The local terminal is put in
//! raw mode with `stty` (and restored on the way out); its size is sent right after the login
//! and again whenever it changes (looked at twice a second). One thread types while the main
//! thread prints: the console is shared between them.

mod common;

use common::{Fallible, connect};
use proxmox_ureq::ConsoleTarget;
use std::io::{IsTerminal, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// `Ctrl-]`, as telnet.
const LEAVE: u8 = 0x1d;

fn target(arg: &str) -> Fallible<ConsoleTarget> {
    let parts: Vec<&str> = arg.split('/').collect();
    Ok(match parts.as_slice() {
        [node] => ConsoleTarget::Node((*node).into()),
        [node, "qemu", id] => ConsoleTarget::Qemu {
            node: (*node).into(),
            vmid: id.parse()?,
        },
        [node, "lxc", id] => ConsoleTarget::Lxc {
            node: (*node).into(),
            vmid: id.parse()?,
        },
        _ => return Err(format!("{arg}: give NODE, NODE/qemu/VMID or NODE/lxc/VMID").into()),
    })
}

/// `stty` on the controlling terminal.
fn stty(args: &[&str]) -> Option<String> {
    let out = Command::new("stty")
        .args(args)
        .stdin(std::fs::File::open("/dev/tty").ok()?)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The terminal's size as (cols, rows).
fn size() -> Option<(u16, u16)> {
    let s = stty(&["size"])?;
    let (rows, cols) = s.split_once(' ')?;
    Some((cols.parse().ok()?, rows.parse().ok()?))
}

/// Restores the terminal's settings when dropped.
struct Raw(Option<String>);

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            stty(&[saved]);
        }
    }
}

fn main() -> Fallible<()> {
    let (client, _sim) = connect()?;
    let arg = std::env::args().nth(1).unwrap_or_else(|| "pve1".into());
    let interactive = std::io::stdin().is_terminal();
    let mut builder = client.console(target(&arg)?);
    if let Some((cols, rows)) = size().filter(|_| interactive) {
        builder = builder.size(cols, rows);
    }
    let shell = builder.build()?;
    eprintln!("connected to {arg}; Ctrl-] leaves\r");
    let _raw = Raw(interactive.then(|| stty(&["-g"])).flatten());
    if interactive {
        stty(&["raw", "-echo"]);
    }
    std::thread::scope(|s| -> Fallible<()> {
        let shell = &shell;
        // Typing.
        s.spawn(move || {
            let mut buf = [0u8; 1024];
            let mut stdin = std::io::stdin().lock();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let typed = &buf[..n];
                if let Some(at) = typed.iter().position(|&b| b == LEAVE) {
                    let _ = shell.send(&typed[..at]);
                    break;
                }
                if shell.send(typed).is_err() {
                    break;
                }
            }
            let _ = shell.close();
        });
        // Window changes.
        if interactive {
            s.spawn(move || {
                let mut last = size();
                while !shell.is_closed() {
                    std::thread::sleep(Duration::from_millis(500));
                    let now = size();
                    if let Some((cols, rows)) = now.filter(|_| now != last) {
                        let _ = shell.resize(cols, rows);
                        last = now;
                    }
                }
            });
        }
        // Printing.
        let mut out = std::io::stdout().lock();
        while let Some(bytes) = shell.recv(None)? {
            out.write_all(&bytes)?;
            out.flush()?;
        }
        Ok(())
    })?;
    eprintln!("\r\nconsole closed\r");
    Ok(())
}
