//! The server's schema through proxmox-async (feature `schema`, hyper): fetched from the
//! node's API viewer, then calls checked against it before they are sent.
#![cfg(feature = "hyper")]

use proxmox_async::{Call, Client};
use proxmox_sim::{Config, Service as SimService, Simulator};

const FIXTURE: &str = include_str!("../../core/tests/data/schema/pve-mini.json");

#[test]
fn the_fetched_schema_checks_calls_before_they_are_sent() {
    let mut c = Config::new(SimService::Pve);
    c.api_schema = Some(FIXTURE.to_owned());
    let sim = Simulator::start(c).expect("simulator starts");
    let builder = || {
        Client::builder(&sim.url())
            .ca_pem(sim.ca_pem().as_bytes())
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let schema = builder()
            .build()
            .unwrap()
            .fetch_schema()
            .await
            .expect("schema");
        let client = builder().schema(schema).build().unwrap();
        let _: serde_json::Value = client.get("version").await.expect("a call the schema has");
        sim.clear_requests();
        let bad = Call::post("nodes/pve1/qemu").unwrap().param("vmid", "x");
        let e = client.call::<serde_json::Value>(&bad).await.unwrap_err();
        assert_eq!(e.api().map(|a| a.status), Some(400), "{e}");
        assert!(
            e.api().is_some_and(|a| a.param_errors.contains_key("vmid")),
            "{e}"
        );
        assert!(!e.may_have_been_sent(), "{e}");
        assert!(sim.requests().is_empty(), "nothing was sent");
    });
}
