//! sshd (Debian's openssh-server) with the `pvesh` shim forwarding to fakepve.
//!
//! Under `CI=true` a missing sshd or fakepve fails these tests; elsewhere they print SKIPPED.

mod common;

use common::UreqDriver;
use proxmox_proto::Call;
use proxmox_testbed::{Driver, FakePve, PveshTarget, Sshd, require_peer};
use std::process::Command;

fn ssh(sshd: &Sshd, remote: &str) -> (i32, String, String) {
    let out = sshd.ssh_command(remote).output().expect("ssh runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn pvesh_over_ssh_changes_the_same_state_as_https() {
    let Some(pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let Some(sshd) = require_peer("sshd", Sshd::start(&PveshTarget::fakepve(&pve))) else {
        return;
    };
    assert!(sshd.port() > 0);
    assert!(sshd.identity_file().exists());
    let known = std::fs::read_to_string(sshd.known_hosts_file()).expect("known_hosts");
    assert!(
        known.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port())),
        "{known}"
    );

    let (rc, out, err) = ssh(&sshd, "pvesh get /version --output-format json");
    assert_eq!(rc, 0, "stderr: {err}\nsshd log:\n{}", sshd.log());
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON on stdout");
    assert_eq!(v["repoid"], "fakepve");

    // Create over SSH, read over HTTPS.
    let (rc, out, err) = ssh(
        &sshd,
        "pvesh create /nodes/pve1/qemu -vmid 321 -name over-ssh -memory 256 --output-format json",
    );
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("UPID:pve1:"), "{out}");
    let mut https = UreqDriver::new(pve.base_url(), pve.ca_pem());
    https
        .login_token(FakePve::TOKEN_ID, FakePve::TOKEN_SECRET)
        .expect("token");
    let conf = https
        .call(&Call::get(("nodes", "pve1", "qemu", "321", "config")).expect("path"))
        .expect("the VM created over SSH exists");
    assert_eq!(conf["name"], "over-ssh");

    // API errors: status line and per-parameter lines on stderr, exit 255 like Perl's die.
    let (rc, out, err) = ssh(
        &sshd,
        "pvesh create /nodes/pve1/qemu -vmid abc --output-format json",
    );
    assert_eq!(rc, 255, "stdout: {out}");
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some("400 Parameter verification failed."),
        "{err}"
    );
    assert!(err.lines().any(|l| l.starts_with("vmid: ")), "{err}");

    let calls = sshd.pvesh_calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0], ["get", "/version", "--output-format", "json"]);
}

#[test]
fn the_shim_also_runs_locally_with_the_same_environment() {
    let Some(pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let Some(sshd) = require_peer("sshd", Sshd::start(&PveshTarget::fakepve(&pve))) else {
        return;
    };
    let out = Command::new(sshd.bin_dir().join("pvesh"))
        .args(["get", "/nodes", "--output-format", "json"])
        .envs(sshd.pvesh_env())
        .output()
        .expect("the shim runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(nodes[0]["node"], "pve1");
    // Unknown verbs fail like pvesh, before any request.
    let out = Command::new(sshd.bin_dir().join("pvesh"))
        .args(["frobnicate", "/nodes"])
        .envs(sshd.pvesh_env())
        .output()
        .expect("the shim runs");
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("400 unknown command 'frobnicate'"));
}

#[test]
fn the_host_key_is_pinned() {
    let Some(pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let target = PveshTarget::fakepve(&pve);
    let Some(a) = require_peer("sshd", Sshd::start(&target)) else {
        return;
    };
    let Some(b) = require_peer("sshd", Sshd::start(&target)) else {
        return;
    };
    // b's known_hosts does not hold a's host key: strict checking refuses the connection.
    let out = Command::new("ssh")
        .arg("-F")
        .arg(b.ssh_config_file())
        .args(["-p", &a.port().to_string(), "-o"])
        .arg(format!(
            "UserKnownHostsFile={}",
            b.known_hosts_file().display()
        ))
        .args(["127.0.0.1", "true"])
        .output()
        .expect("ssh runs");
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Host key verification failed") || err.contains("No ED25519 host key"),
        "{err}"
    );
}

#[test]
fn the_shim_forwards_to_the_simulator_too() {
    let sim = proxmox_testbed::start_simulator().expect("simulator");
    let Some(sshd) = require_peer("sshd", Sshd::start(&PveshTarget::simulator(&sim))) else {
        return;
    };
    let (rc, out, err) = ssh(&sshd, "pvesh get /nodes --output-format json");
    assert_eq!(rc, 0, "{err}");
    let nodes: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON on stdout");
    assert_eq!(nodes[0]["node"], "pve1");
    let (rc, _out, err) = ssh(&sshd, "pvesh get /nodes/pve1/qemu/999/config");
    assert_eq!(rc, 255);
    assert!(err.starts_with("500 "), "{err}");
    // The simulator saw the shim's calls, authenticated with the token over verified TLS.
    let log = sim.requests();
    assert!(
        log.iter().any(|r| r.path == "/api2/json/nodes"
            && r.auth == proxmox_testbed::proxmox_sim::AuthKind::Token),
        "{log:?}"
    );
}
