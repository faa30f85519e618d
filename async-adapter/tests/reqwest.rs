//! proxmox-async over reqwest/tokio against the simulator and fakepve.
#![cfg(feature = "reqwest")]

mod common;

use proxmox_async::Backend;
use proxmox_testbed::catalogue::Outcome;
use proxmox_testbed::{FakePve, require_peer, run_catalogue, start_simulator};

const B: Backend = Backend::Reqwest;

#[test]
fn catalogue_against_the_simulator() {
    let Some(mut sim) = require_peer("simulator", start_simulator()) else {
        return;
    };
    let mut d = common::driver::AsyncDriver::new(B, sim.addr().port(), sim.ca_pem());
    let report = run_catalogue(&mut d, &mut sim);
    // Every scenario runs against the simulator; none is skipped.
    assert!(
        report
            .results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Passed)),
        "{report}"
    );
}

#[test]
fn catalogue_against_fakepve() {
    let Some(mut pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let mut d = common::driver::AsyncDriver::new(B, pve.port(), pve.ca_pem());
    let report = run_catalogue(&mut d, &mut pve);
    // fakepve has no TFA second step and answers unknown paths with 404: exactly those skip.
    let skipped: Vec<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .map(|r| r.name)
        .collect();
    assert_eq!(skipped, vec!["TFA login", "501 unknown path"], "{report}");
}

#[test]
fn thousand_gets_with_concurrency_8() {
    common::thousand_gets_bounded(B);
}

#[test]
fn renewal_is_single_flight_across_64_tasks() {
    common::renewal_single_flight(B);
}

#[test]
fn dropped_futures_leave_the_client_usable() {
    common::dropped_futures(B);
}

#[test]
fn tls_ca_fingerprint_insecure() {
    common::tls_options(B);
}

#[test]
fn errors_are_typed() {
    common::typed_errors(B);
}

#[test]
fn auth_flows() {
    common::auth_flows(B);
}

#[test]
fn tasks_and_fan_out() {
    common::tasks(B);
}

#[test]
fn upload_and_download_url() {
    common::files(B);
}

#[test]
fn bad_builder_input() {
    common::bad_builder_input(B);
}

#[test]
fn the_reason_phrase_is_kept() {
    let sim = common::sim();
    let c = common::token_client(B, &sim);
    let e = common::block_on(B, async {
        c.get::<serde_json::Value>(("nodes", "pve1", "qemu", 99999, "config"))
            .await
            .unwrap_err()
    });
    let api = e.api().unwrap();
    assert!(
        api.reason.contains("99999"),
        "hyper's ReasonPhrase reached us: {api:?}"
    );
}
