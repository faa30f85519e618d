//! The catalogue and launcher checks against fakepve 0.5.0 (a real peer we did not write).
//!
//! Under `CI=true` a missing fakepve fails these tests; elsewhere they print SKIPPED.

mod common;

use common::UreqDriver;
use proxmox_proto::{Call, Method, Params};
use proxmox_testbed::catalogue::Outcome;
use proxmox_testbed::{Driver, DriverError, FakePve, FakePveOptions, require_peer, run_catalogue};

#[test]
fn catalogue_runs_against_fakepve() {
    let Some(mut pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let mut driver = UreqDriver::new(pve.base_url(), pve.ca_pem());
    let report = run_catalogue(&mut driver, &mut pve);
    // fakepve has no TFA second step and answers unknown paths with 404: exactly those skip,
    // and the scenarios of the clients' common surface (this raw driver has no client).
    let skipped: Vec<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .map(|r| r.name)
        .collect();
    let expected: Vec<&str> = proxmox_testbed::catalogue()
        .into_iter()
        .filter(|s| s.name == "TFA login" || s.name == "501 unknown path" || s.uses_surface())
        .map(|s| s.name)
        .collect();
    assert_eq!(skipped, expected, "{report}");
    // The catalogue really went over the wire.
    let seen = pve.requests().expect("request log");
    assert!(
        seen.iter()
            .any(|(m, p)| m == "POST" && p.ends_with("/upload")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(m, p)| m == "DELETE" && p.contains("/qemu/")),
        "{seen:?}"
    );
}

#[test]
fn fakepve_certificate_is_the_only_trust_anchor() {
    let Some(pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    assert!(pve.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(pve.base_url().starts_with("https://127.0.0.1:"));
    // Verified TLS with the handed-out certificate works ...
    let mut good = UreqDriver::new(pve.base_url(), pve.ca_pem());
    good.login_token(FakePve::TOKEN_ID, FakePve::TOKEN_SECRET)
        .expect("token");
    let v = good
        .call(&Call::get("version").expect("path"))
        .expect("version");
    assert_eq!(v["repoid"], "fakepve");
    // ... and another instance's certificate is rejected.
    let Some(other) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let mut bad = UreqDriver::new(pve.base_url(), other.ca_pem());
    bad.login_token(FakePve::TOKEN_ID, FakePve::TOKEN_SECRET)
        .expect("token");
    match bad.call(&Call::get("version").expect("path")) {
        Err(DriverError::Transport(t)) => assert!(t.to_lowercase().contains("certificate"), "{t}"),
        other => panic!("a foreign certificate must fail TLS, got {other:?}"),
    }
}

#[test]
fn fakepve_control_channel_injects_faults_and_revokes_tickets() {
    let Some(mut pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let mut d = UreqDriver::new(pve.base_url(), pve.ca_pem());
    d.login_password(FakePve::ROOT_USER, FakePve::ROOT_PASSWORD)
        .expect("login");
    let nodes = Call::get("nodes").expect("path");
    assert!(d.call(&nodes).is_ok());
    pve.fail("GET", "/nodes", 503, "injected by the testbed", 1)
        .expect("fail");
    match d.call(&nodes) {
        Err(DriverError::Api(e)) => {
            assert_eq!(e.status, 503);
            assert!(e.message.contains("injected by the testbed"), "{e:?}");
        }
        other => panic!("expected the injected 503, got {other:?}"),
    }
    assert!(d.call(&nodes).is_ok(), "times=1 applies once");
    pve.set_node_offline("pve1", true).expect("offline");
    match d.call(&Call::get("nodes/pve1/qemu").expect("path")) {
        Err(DriverError::Api(e)) => {
            assert_eq!((e.status, e.message.as_str()), (595, "No route to host"))
        }
        other => panic!("expected 595, got {other:?}"),
    }
    pve.set_node_offline("pve1", false).expect("online");
    pve.revoke_tickets().expect("revoke");
    match d.call(&nodes) {
        Err(DriverError::Api(e)) => assert_eq!(e.status, 401),
        other => panic!("a revoked ticket must give 401, got {other:?}"),
    }
}

#[test]
fn fakepve_answers_unknown_paths_with_404_text_not_501() {
    // Fidelity gap 4 of test-peers.md section 1.9, pinned so an upgrade that fixes it is noticed.
    let Some(pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let mut d = UreqDriver::new(pve.base_url(), pve.ca_pem());
    d.login_token(FakePve::TOKEN_ID, FakePve::TOKEN_SECRET)
        .expect("token");
    let a = d.raw(Method::Get, "/testbed/no/such/path", &Params::new());
    assert_eq!(a.status, 404);
    assert!(
        a.content_type.starts_with("text/plain"),
        "{}",
        a.content_type
    );
}

#[test]
fn fakepve_tfa_option_asks_for_tfa_but_has_no_second_step() {
    // Fidelity gap 2 of test-peers.md section 1.9: TFA logins can only be tested on the simulator.
    let options = FakePveOptions {
        tfa: true,
        ..FakePveOptions::default()
    };
    let Some(pve) = require_peer("fakepve", FakePve::start_with(&options)) else {
        return;
    };
    let mut d = UreqDriver::new(pve.base_url(), pve.ca_pem());
    match d.login_password(FakePve::ROOT_USER, FakePve::ROOT_PASSWORD) {
        Err(DriverError::Api(e)) => {
            assert_eq!((e.status, e.message.as_str()), (401, "TFA required"))
        }
        other => panic!("expected NeedTFA, got {other:?}"),
    }
    match d.login_tfa(FakePve::ROOT_USER, FakePve::ROOT_PASSWORD, "123456") {
        Err(DriverError::Api(e)) => assert_eq!(e.status, 401),
        other => panic!("fakepve 0.5.0 has no TFA second step, got {other:?}"),
    }
    // Tokens are not affected.
    d.login_token(FakePve::TOKEN_ID, FakePve::TOKEN_SECRET)
        .expect("token");
    assert!(d.call(&Call::get("version").expect("path")).is_ok());
}
