//! The testbed's scenario catalogue over the three transports: fakepve behind OpenSSH's sshd
//! and the pvesh shim, so every call changes real (fake) PVE state.

mod common;

use common::{CliDriver, Peers, scratch};
use proxmox_cli::Client;
use proxmox_testbed::{FakePve, run_catalogue};

fn run(name: &str, make: impl FnOnce(&Peers) -> Client) {
    let Some(mut peers) = Peers::start() else {
        return;
    };
    let mut driver = CliDriver {
        client: make(&peers),
        root_user: FakePve::ROOT_USER.into(),
        root_password: FakePve::ROOT_PASSWORD.into(),
        dir: scratch(name),
    };
    let report = run_catalogue(&mut driver, &mut peers.pve);
    // The identities pvesh cannot take (wrong password, limited user) are the only skips;
    // fakepve has no TFA and answers unknown paths with 404.
    assert!(report.passed() >= 13, "{report}");
    // Every surface method the catalogue calls ran through pvesh.
    for name in [
        "the common surface: tasks, logs, options, PUT",
        "download-url through the surface",
    ] {
        let r = report.results.iter().find(|r| r.name == name);
        assert!(
            r.is_some_and(|r| matches!(r.outcome, proxmox_testbed::catalogue::Outcome::Passed)),
            "{name} did not pass: {report}"
        );
    }
    let calls = peers.sshd.pvesh_calls();
    assert!(
        calls
            .iter()
            .any(|c| c.first().map(String::as_str) == Some("create")
                && c.iter().any(|w| w == "--tmpfilename")),
        "the upload went through pvesh with a staged file"
    );
}

#[test]
fn catalogue_over_local_pvesh() {
    run("cat-local", Peers::local);
}

#[test]
fn catalogue_over_the_ssh_binary_with_controlmaster() {
    run("cat-openssh", |p| p.openssh(true));
}

#[test]
fn catalogue_over_ssh2() {
    run("cat-ssh2", Peers::ssh2);
}
