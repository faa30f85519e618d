//! proxmox-async over surf/async-std against the simulator and fakepve.
#![cfg(feature = "surf")]

mod common;

use proxmox_async::Backend;
use proxmox_testbed::catalogue::Outcome;
use proxmox_testbed::{FakePve, Report, catalogue, require_peer, run_scenarios, start_simulator};

const B: Backend = Backend::Surf;

/// Everything passes except the injected 595, which surf cannot read (http-types 2 has no 595):
/// that step gets the transport error that says so.
fn only_595_fails(report: &Report) {
    eprintln!("{report}");
    let failed = report.failed();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0].name, "595 node unreachable (injected)");
    let Outcome::Failed { message, .. } = &failed[0].outcome else {
        unreachable!()
    };
    assert!(message.contains("cannot represent"), "{message}");
    assert!(report.passed() >= 15, "{report}");
}

#[test]
fn catalogue_against_the_simulator() {
    let Some(mut sim) = require_peer("simulator", start_simulator()) else {
        return;
    };
    let mut d = common::driver::AsyncDriver::new(B, sim.addr().port(), sim.ca_pem());
    let report = run_scenarios(&mut d, &mut sim, &catalogue());
    only_595_fails(&report);
    assert_eq!(report.skipped(), 0, "{report}");
}

#[test]
fn catalogue_against_fakepve() {
    let Some(mut pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let mut d = common::driver::AsyncDriver::new(B, pve.port(), pve.ca_pem());
    let report = run_scenarios(&mut d, &mut pve, &catalogue());
    only_595_fails(&report);
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
fn unsupported_options_are_typed_errors() {
    for b in [
        proxmox_async::Client::builder("127.0.0.1")
            .backend(B)
            .api_token("a@b!c", "d"),
        proxmox_async::Client::builder("pve")
            .backend(B)
            .api_token("a@b!c", "d")
            .proxy("http://proxy:3128"),
    ] {
        let e = b.build().unwrap_err();
        assert!(
            matches!(
                e,
                proxmox_async::Error::Unsupported {
                    transport: "surf",
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
