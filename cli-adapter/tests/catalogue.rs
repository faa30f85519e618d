//! The testbed's scenario catalogue over the three transports: fakepve behind OpenSSH's sshd
//! and the pvesh shim, so every call changes real (fake) PVE state; and over local pvesh in
//! front of the simulator, for what fakepve lacks (task cancel, a checksum mirror).

mod common;

use common::{CliDriver, Peers, local_client, scratch, shim};
use proxmox_cli::Client;
use proxmox_testbed::catalogue::{Outcome, Report};
use proxmox_testbed::{FakePve, PveshTarget, run_catalogue, start_simulator};

/// How a scenario went, by name.
fn outcome<'r>(report: &'r Report, name: &str) -> &'r Outcome {
    &report
        .results
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no scenario {name:?}: {report}"))
        .outcome
}

/// The scenarios that call surface methods, which must pass through pvesh on every peer.
const SURFACE_SCENARIOS: [&str; 5] = [
    "the common surface: tasks, logs, options, PUT",
    "download-url through the surface",
    "the verbs through the surface: get, create, put, request, post, call_raw, delete",
    "the guest agent through the surface",
    "upload through the surface",
];

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
    for name in SURFACE_SCENARIOS {
        assert_eq!(outcome(&report, name), &Outcome::Passed, "{name}: {report}");
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

/// What fakepve lacks, over local pvesh in front of the simulator: `cancel_task` passes, and
/// `discover_checksum` is refused by the capability table (the shell wire cannot fetch a
/// mirror), so that scenario is skipped with the table's reason, never passed.
#[test]
fn catalogue_over_local_pvesh_against_the_simulator() {
    let mut sim = start_simulator().expect("simulator");
    let Some(sshd) = shim(&PveshTarget::simulator(&sim)) else {
        return;
    };
    let mut driver = CliDriver {
        client: local_client(&sshd),
        root_user: proxmox_testbed::proxmox_sim::ROOT_USER.into(),
        root_password: sim.root_password().into(),
        dir: scratch("cat-sim"),
    };
    let report = run_catalogue(&mut driver, &mut sim);
    for name in SURFACE_SCENARIOS.into_iter().chain([
        "cancel a task through the surface",
        "the cluster through the surface",
        "the cluster's state through the surface",
    ]) {
        assert_eq!(outcome(&report, name), &Outcome::Passed, "{name}: {report}");
    }
    match outcome(&report, "checksum discovery through the surface") {
        Outcome::Skipped(why) => assert!(why.contains("checksum discovery"), "{why}"),
        other => panic!("checksum discovery over pvesh: {other:?}\n{report}"),
    }
}
