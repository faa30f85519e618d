//! The change feed through proxmox-async (hyper and reqwest): a `Stream` of the changes made
//! while it runs (create, start, stop, delete), nothing else.
#![cfg(any(feature = "hyper", feature = "reqwest"))]

use futures_util::StreamExt;
use proxmox_async::Client;
use proxmox_sim::{ClockMode, Config, Service as SimService, Simulator};
use serde_json::json;
use std::time::Duration;

fn run(backend: &str) {
    let mut c = Config::new(SimService::Pve);
    c.clock = ClockMode::Realtime;
    let sim = Simulator::start(c).expect("simulator starts");
    let mut builder = Client::builder(&sim.url())
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET);
    #[cfg(feature = "reqwest")]
    if backend == "reqwest" {
        builder = builder.backend(proxmox_async::Backend::Reqwest);
    }
    let _ = backend;
    let client = builder.build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let actor = async {
            let settle = || client.sleep(Duration::from_millis(200));
            settle().await;
            for path in [None, Some("start"), Some("stop")] {
                let upid: String = match path {
                    None => client
                        .post(("nodes", "pve1", "qemu"), &json!({"vmid": 600}))
                        .await
                        .unwrap(),
                    Some(action) => client
                        .post(("nodes", "pve1", "qemu", 600, "status", action), &())
                        .await
                        .unwrap(),
                };
                client
                    .wait_task_ok(&upid.parse().unwrap(), Default::default())
                    .await
                    .unwrap();
                settle().await;
            }
            let upid: String = client
                .delete(("nodes", "pve1", "qemu", 600), &())
                .await
                .unwrap();
            client
                .wait_task_ok(&upid.parse().unwrap(), Default::default())
                .await
                .unwrap();
        };
        let watch = client
            .watch_resources(Duration::from_millis(40))
            .map(|c| {
                c.map(|c| c.to_string())
                    .unwrap_or_else(|e| format!("error: {e}"))
            })
            .take(4)
            .collect::<Vec<String>>();
        let (seen, ()) = futures_util::future::join(watch, actor).await;
        assert_eq!(
            seen,
            [
                "+ qemu/600 (stopped on pve1)",
                "qemu/600 stopped -> running",
                "qemu/600 running -> stopped",
                "- qemu/600",
            ],
            "{backend}"
        );
    });
}

#[cfg(feature = "hyper")]
#[test]
fn a_stream_of_the_changes_made_hyper() {
    run("hyper");
}

#[cfg(feature = "reqwest")]
#[test]
fn a_stream_of_the_changes_made_reqwest() {
    run("reqwest");
}
