//! The server's schema through proxmox-ureq (feature `schema`): fetched from the node's API
//! viewer (a 404 says the docs package is missing), then every call checked against it before
//! it is sent. The schema served is a small fixture of facts (core/tests/data/schema).

use proxmox_sim::{Config, Service as SimService, Simulator};
use proxmox_ureq::{Call, Client};
use std::time::Duration;

const FIXTURE: &str = include_str!("../../core/tests/data/schema/pve-mini.json");

fn sim(schema: bool) -> Simulator {
    let mut c = Config::new(SimService::Pve);
    if schema {
        c.api_schema = Some(FIXTURE.to_owned());
    }
    Simulator::start(c).expect("simulator starts")
}

fn builder(sim: &Simulator) -> proxmox_ureq::ClientBuilder {
    Client::builder(&sim.url())
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .timeout(Duration::from_secs(10))
}

#[test]
fn a_node_without_the_docs_package_answers_404_and_the_error_says_so() {
    let sim = sim(false);
    let e = builder(&sim).build().unwrap().fetch_schema().unwrap_err();
    assert_eq!(e.api().map(|a| a.status), Some(404), "{e}");
    let text = e.to_string();
    assert!(text.contains("pve-docs"), "{text}");
    assert!(text.contains("/pve-docs/api-viewer/apidoc.js"), "{text}");
}

#[test]
fn the_fetched_schema_checks_calls_before_they_are_sent() {
    let sim = sim(true);
    let schema = builder(&sim)
        .build()
        .unwrap()
        .fetch_schema()
        .expect("schema");
    assert!(schema.stats().paths > 5, "{:?}", schema.stats());
    // The fetch went without credentials.
    let fetched = sim
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("apidoc.js"))
        .expect("fetched");
    assert_eq!(fetched.auth, proxmox_sim::AuthKind::None);

    let client = builder(&sim).schema(schema).build().unwrap();
    let v: serde_json::Value = client.get("version").expect("a call the schema has");
    assert!(v.get("version").is_some());
    sim.clear_requests();
    let bad = Call::post("nodes/pve1/qemu")
        .unwrap()
        .param("vmid", "not-a-number");
    let e = client.call::<serde_json::Value>(&bad).unwrap_err();
    let api = e.api().expect("a 400-shaped error");
    assert_eq!(api.status, 400, "{e}");
    assert!(api.param_errors.contains_key("vmid"), "{e}");
    assert!(!e.may_have_been_sent(), "checked before sending: {e}");
    let e = client
        .call::<serde_json::Value>(&Call::get("nodes/pve1/no-such-thing").unwrap())
        .unwrap_err();
    // What PVE answers for a path it does not have: 501 (NotFound class), here without
    // asking it.
    assert_eq!(e.api().map(|a| a.status), Some(501), "{e}");
    assert!(e.api().is_some_and(|a| a.is_not_found()), "{e}");
    assert!(!e.may_have_been_sent(), "{e}");
    assert!(e.to_string().contains("closest"), "{e}");
    assert!(
        sim.requests().is_empty(),
        "nothing was sent: {:?}",
        sim.requests()
    );
}
