//! Test bodies shared by every transport: each takes the backend and runs on its runtime.
//! [`backend_tests!`] expands the whole list for one backend (tests/backends.rs).

#![allow(dead_code, unreachable_pub)]

pub mod cluster;
pub mod driver;

use futures_util::future::{Either, join_all, select};
use proxmox_async::{Backend, CallOptions, Client, ClientBuilder, DownloadChecksum, Error};
use proxmox_proto::ErrorClass;
use proxmox_proto::Upid;
use proxmox_proto::checksum::{ChecksumAlgorithm, StreamingDigest};
use proxmox_proto::task::{TaskOutcome, WaitOptions};
use proxmox_proto::upload::UploadContent;
use proxmox_sim::{
    Config, Fault, Service as SimService, Simulator, TaskOutcome as SimOutcome, TaskPlan,
};
use proxmox_testbed::catalogue::Outcome;
use proxmox_testbed::{FakePve, Report, catalogue, require_peer, run_scenarios, start_simulator};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Whether the backend runs on tokio (else async-std).
pub fn on_tokio(backend: Backend) -> bool {
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => false,
        #[allow(unreachable_patterns)]
        _ => true,
    }
}

/// A tokio runtime as the tests use it: 2 workers, time and I/O.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Run a future on the backend's runtime.
pub fn block_on<F: Future>(backend: Backend, f: F) -> F::Output {
    if on_tokio(backend) {
        return tokio_runtime().block_on(f);
    }
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => async_std::task::block_on(f),
        #[allow(unreachable_patterns)]
        _ => unreachable!("unknown backend"),
    }
}

/// Spawn every future as its own task on the backend's runtime and collect the results in
/// order (this also checks that the client's futures are `Send + 'static` when they own a
/// clone of the client).
pub async fn spawn_all<T, F>(backend: Backend, futs: Vec<F>) -> Vec<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    if on_tokio(backend) {
        let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
        return join_all(handles)
            .await
            .into_iter()
            .map(|r| r.expect("task did not panic"))
            .collect();
    }
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => join_all(futs.into_iter().map(async_std::task::spawn)).await,
        #[allow(unreachable_patterns)]
        _ => unreachable!("unknown backend"),
    }
}

pub fn sim() -> Simulator {
    Simulator::start(Config::new(SimService::Pve)).expect("simulator starts")
}

/// The host to connect to: surf (rustls 0.18) needs a DNS name.
pub fn host(backend: Backend, port: u16) -> String {
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => format!("localhost:{port}"),
        #[allow(unreachable_patterns)]
        _ => format!("127.0.0.1:{port}"),
    }
}

pub fn plain(backend: Backend, sim: &Simulator) -> ClientBuilder {
    Client::builder(&host(backend, sim.addr().port()))
        .backend(backend)
        .timeout(Duration::from_secs(20))
}

pub fn builder(backend: Backend, sim: &Simulator) -> ClientBuilder {
    let clock = sim.clock().clone();
    plain(backend, sim)
        .ca_pem(sim.ca_pem().as_bytes())
        .clock(Arc::new(move || clock.now()))
}

pub fn token_client(backend: Backend, sim: &Simulator) -> Client {
    builder(backend, sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .expect("client")
}

pub fn password_client(backend: Backend, sim: &Simulator) -> Client {
    builder(backend, sim)
        .password(proxmox_sim::ROOT_USER, proxmox_sim::ROOT_PASSWORD)
        .build()
        .expect("client")
}

fn tickets(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path == "/api2/json/access/ticket")
        .count()
}

/// 1,000 GETs through one client, 8 at a time: all succeed, never more than 8 in flight.
pub fn thousand_gets_bounded(backend: Backend) {
    let sim = sim();
    let c = builder(backend, &sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .max_in_flight(8)
        .build()
        .unwrap();
    block_on(backend, async {
        // Far more futures than slots: the client's limit does the bounding.
        let futs: Vec<_> = (0..1000)
            .map(|_| {
                let c = c.clone();
                async move { c.get::<Value>("version").await }
            })
            .collect();
        let results = spawn_all(backend, futs).await;
        assert_eq!(results.len(), 1000);
        for r in &results {
            assert!(r.as_ref().is_ok_and(|v| v["version"].is_string()), "{r:?}");
        }
    });
    let log = sim.requests();
    assert_eq!(
        log.iter()
            .filter(|r| r.path == "/api2/json/version")
            .count(),
        1000
    );
    assert!(log.iter().all(|r| r.status == 200));
    let max = sim.max_in_flight();
    assert!((1..=8).contains(&max), "max in flight {max}");
}

/// Two simulated hours in 10-minute steps, 64 concurrent calls at each step: one renewal per
/// renewal window (at 60 and 120 minutes), no 401.
pub fn renewal_single_flight(backend: Backend) {
    let sim = sim();
    let c = password_client(backend, &sim);
    block_on(backend, async {
        let _: Vec<Value> = c.get("nodes").await.unwrap();
        assert_eq!(tickets(&sim), 1);
        let mut renewals = Vec::new();
        for step in 1..=12 {
            sim.clock().advance(Duration::from_secs(600));
            let before = tickets(&sim);
            let futs: Vec<_> = (0..64)
                .map(|_| {
                    let c = c.clone();
                    async move { c.get::<Vec<Value>>("nodes").await }
                })
                .collect();
            let results = spawn_all(backend, futs).await;
            for r in results {
                assert!(!r.expect("no call fails").is_empty());
            }
            let n = tickets(&sim) - before;
            if n > 0 {
                renewals.push((step * 10, n));
            }
        }
        assert_eq!(renewals, vec![(60, 1), (120, 1)]);
    });
    assert!(sim.requests().iter().all(|r| r.status != 401));
}

/// Futures dropped mid-request and mid-renewal leave the client usable: the renewal claim is
/// released and the connection is not reused in a bad state.
pub fn dropped_futures(backend: Backend) {
    let sim = sim();
    let c = password_client(backend, &sim);
    block_on(backend, async {
        let _: Value = c.get("version").await.unwrap();
        // Mid-request: the server holds the answer for 2 s; we give up after 200 ms.
        sim.inject(Fault::delay("GET", "/nodes", Duration::from_secs(2)).times(3));
        for _ in 0..3 {
            let f = std::pin::pin!(c.get::<Value>("nodes"));
            match select(f, c.sleep(Duration::from_millis(200))).await {
                Either::Left((r, _)) => panic!("answered early: {r:?}"),
                Either::Right(_) => {}
            }
        }
        // Dropping mid-body: a body limit smaller than the answer abandons the exchange.
        let big = c
            .call_envelope::<Value>(
                &proxmox_proto::Call::get(("cluster", "resources")).unwrap(),
                &CallOptions::default().body_limit(10),
            )
            .await;
        assert!(big.is_err());
        for _ in 0..20 {
            let v: Value = c.get("version").await.expect("later calls succeed");
            assert!(v["version"].is_string());
        }
        // Mid-renewal: the renewal answer is delayed and the caller gives up.
        sim.clock().advance(Duration::from_secs(3700));
        sim.inject(Fault::delay("POST", "/access/ticket", Duration::from_secs(2)).times(1));
        let before = tickets(&sim);
        let old = c.session().expect("session").ticket().clone();
        {
            let f = std::pin::pin!(c.get::<Value>("version"));
            match select(f, c.sleep(Duration::from_millis(200))).await {
                Either::Left((r, _)) => panic!("answered early: {r:?}"),
                Either::Right(_) => {}
            }
        }
        // The claim was released: the next call renews (once) and everything succeeds.
        let results = join_all((0..16).map(|_| c.get::<Value>("version"))).await;
        for r in results {
            assert!(r.is_ok(), "{r:?}");
        }
        // Let the delayed renewal request reach the log.
        c.sleep(Duration::from_millis(2200)).await;
        let renewals = tickets(&sim) - before;
        assert!(
            (1..=2).contains(&renewals),
            "at most the dropped renewal and one more: {renewals}"
        );
        let new = c.session().expect("session").ticket().clone();
        assert!(
            old != new,
            "the ticket was renewed after the dropped renewal"
        );
        let _: Value = c.get("version").await.unwrap();
    });
    assert!(sim.requests().iter().all(|r| r.status != 401));
}

/// Where a call can be suspended when its future is dropped.
#[derive(Debug, Clone, Copy)]
enum AwaitPoint {
    /// Waiting for the login's answer (the flow holds the login lease).
    LoginAnswer,
    /// Waiting for another call's login (and that call's login, dropped with it).
    AnotherCallsLogin,
    /// Waiting for the call's answer.
    CallAnswer,
    /// Sleeping between two attempts (after a 595).
    Backoff,
    /// Waiting for an in-flight slot.
    Slot,
    /// Waiting for the renewal's answer (the flow holds the renewal lease).
    RenewalAnswer,
}

/// A call's future dropped at each await point of the API-call flow; after each the next call
/// logs in (or renews) and succeeds well within its deadline: no dropped flow keeps a lease.
pub fn cancelled_at_every_await_point(backend: Backend) {
    use AwaitPoint::*;
    for point in [
        LoginAnswer,
        AnotherCallsLogin,
        CallAnswer,
        Backoff,
        Slot,
        RenewalAnswer,
    ] {
        let sim = sim();
        let c = builder(backend, &sim)
            .password(proxmox_sim::ROOT_USER, proxmox_sim::ROOT_PASSWORD)
            .max_in_flight(1)
            .build()
            .expect("client");
        let give_up_after = |d: u64| c.sleep(Duration::from_millis(d));
        block_on(backend, async {
            match point {
                LoginAnswer => {
                    sim.inject(
                        Fault::delay("POST", "/access/ticket", Duration::from_secs(2)).times(1),
                    );
                    let f = std::pin::pin!(c.get::<Value>("nodes"));
                    assert!(matches!(
                        select(f, give_up_after(200)).await,
                        Either::Right(_)
                    ));
                }
                AnotherCallsLogin => {
                    sim.inject(
                        Fault::delay("POST", "/access/ticket", Duration::from_secs(2)).times(1),
                    );
                    let both = std::pin::pin!(futures_util::future::join(
                        c.get::<Value>("nodes"),
                        c.get::<Value>("version"),
                    ));
                    assert!(matches!(
                        select(both, give_up_after(200)).await,
                        Either::Right(_)
                    ));
                }
                CallAnswer => {
                    c.login().await.unwrap();
                    sim.inject(Fault::delay("GET", "/nodes", Duration::from_secs(2)).times(1));
                    let f = std::pin::pin!(c.get::<Value>("nodes"));
                    assert!(matches!(
                        select(f, give_up_after(200)).await,
                        Either::Right(_)
                    ));
                }
                Backoff => {
                    c.login().await.unwrap();
                    sim.inject(Fault::status("GET", "/nodes", 595, "no route to host").times(1));
                    // The 595 comes at once, then the flow sleeps 100 ms before the retry.
                    let f = std::pin::pin!(c.get::<Value>("nodes"));
                    let _ = select(f, give_up_after(60)).await;
                    sim.clear_faults();
                }
                Slot => {
                    c.login().await.unwrap();
                    sim.inject(Fault::delay("GET", "/nodes", Duration::from_millis(600)).times(1));
                    let busy = c.get::<Value>("nodes");
                    let waiting = async {
                        // Start after the busy call took the only slot.
                        c.sleep(Duration::from_millis(50)).await;
                        let f = std::pin::pin!(c.get::<Value>("version"));
                        assert!(matches!(
                            select(f, give_up_after(200)).await,
                            Either::Right(_)
                        ));
                    };
                    let (r, ()) = futures_util::future::join(busy, waiting).await;
                    r.expect("the call holding the slot ends normally");
                }
                RenewalAnswer => {
                    c.login().await.unwrap();
                    sim.clock().advance(Duration::from_secs(3700));
                    sim.inject(
                        Fault::delay("POST", "/access/ticket", Duration::from_secs(2)).times(1),
                    );
                    let f = std::pin::pin!(c.get::<Value>("nodes"));
                    assert!(matches!(
                        select(f, give_up_after(200)).await,
                        Either::Right(_)
                    ));
                }
            }
            // The next calls succeed, within a deadline far shorter than any lease.
            let opts = CallOptions::default().timeout(Duration::from_secs(5));
            for _ in 0..3 {
                let call = proxmox_proto::Call::get("version").unwrap();
                let v = c.call_envelope::<Value>(&call, &opts).await;
                assert!(v.is_ok(), "{point:?}: {v:?}");
            }
        });
        let logins = tickets(&sim);
        assert!(
            (1..=3).contains(&logins),
            "{point:?}: the dropped login or renewal and at most one more: {logins}"
        );
    }
}

/// A certificate refused for good (not the pinned one, unknown issuer) costs one TLS
/// handshake per call, never a retry; a refused connection is retried up to `max_attempts`.
pub fn permanent_tls_failures_are_not_retried(backend: Backend) {
    let sim = sim();
    let other = Simulator::start(Config::new(SimService::Pve)).unwrap();
    let builders = [
        plain(backend, &sim).fingerprint(other.fingerprint_sha256()),
        plain(backend, &sim),
    ];
    for (i, b) in builders.into_iter().enumerate() {
        let c = b
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .build()
            .unwrap();
        for _ in 0..2 {
            let before = sim.connections_accepted();
            let e = block_on(backend, c.get::<Value>("version")).unwrap_err();
            assert_eq!(sim.connections_accepted() - before, 1, "one handshake: {e}");
            assert!(
                (matches!(e, Error::Transport(_)) && !e.may_have_been_sent() && e.attempts() == 1),
                "{e:?}"
            );
            assert!(e.to_string().contains("GET /version on "), "{e}");
            assert_eq!(
                e.transport_kind(),
                Some(proxmox_proto::flow::FailureKind::Tls),
                "{e}"
            );
            // No CA given: the error names the server's certificate and what to do (the
            // core's verifier; surf verifies with its own rustls).
            if i == 1 && knows_all_status_codes(backend) {
                let text = e.to_string();
                assert!(
                    text.contains(&format!(
                        "its SHA-256 fingerprint is {}",
                        sim.fingerprint_sha256()
                    )) && text.contains(".ca_file(")
                        && text.contains(".fingerprint("),
                    "{text}"
                );
            }
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::builder(&host(backend, port))
        .backend(backend)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .max_attempts(2)
        .build()
        .unwrap();
    let e = block_on(backend, c.get::<Value>("version")).unwrap_err();
    assert!(
        (matches!(e, Error::Transport(_)) && !e.may_have_been_sent() && e.attempts() == 2),
        "{e:?}"
    );
    assert!(e.to_string().contains("2 attempts in"), "{e}");
    assert_eq!(
        e.transport_kind(),
        Some(proxmox_proto::flow::FailureKind::Connect),
        "{e:?}"
    );
}

/// CA, wrong CA, fingerprint, wrong fingerprint, no CA, insecure.
pub fn tls_options(backend: Backend) {
    let sim = sim();
    let other = Simulator::start(Config::new(SimService::Pve)).unwrap();
    let get = |b: ClientBuilder| {
        let c = b
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .build()
            .unwrap();
        block_on(backend, async move { c.get::<Value>("version").await })
    };
    assert!(get(plain(backend, &sim).ca_pem(sim.ca_pem().as_bytes())).is_ok());
    let e = get(plain(backend, &sim)).unwrap_err();
    assert!(!e.may_have_been_sent(), "{e:?}");
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    let e = get(plain(backend, &sim).ca_pem(other.ca_pem().as_bytes())).unwrap_err();
    assert!(!e.may_have_been_sent(), "{e:?}");
    assert!(get(plain(backend, &sim).fingerprint(sim.fingerprint_sha256())).is_ok());
    let e = get(plain(backend, &sim).fingerprint(other.fingerprint_sha256())).unwrap_err();
    assert!(!e.may_have_been_sent(), "{e:?}");
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert!(get(plain(backend, &sim).danger_accept_invalid_certs()).is_ok());
    // Only the pinned server: no request ever reached the wrong one.
    assert!(other.requests().is_empty());
}

/// Errors carry status and class; the message is PVE's (reason phrase or body).
pub fn typed_errors(backend: Backend) {
    let sim = sim();
    let c = token_client(backend, &sim);
    block_on(backend, async {
        let e = c
            .get::<Value>(("nodes", "pve1", "qemu", 99999, "config"))
            .await
            .unwrap_err();
        let api = e.api().expect("api error");
        assert_eq!(api.status, 500);
        assert_eq!(api.class, ErrorClass::NotFound);
        assert!(api.summary().contains("99999"), "{api:?}");
        assert!(e.may_have_been_sent());
        let e = c.get::<Value>("no/such/path").await.unwrap_err();
        assert_eq!(e.api().unwrap().status, 501);
        let e = c
            .post::<Value, _>(("nodes", "pve1", "qemu"), &json!({"vmid": "notanumber"}))
            .await
            .unwrap_err();
        let api = e.api().unwrap();
        assert_eq!(api.class, ErrorClass::BadRequest);
        assert!(api.param_errors.contains_key("vmid"), "{api:?}");
        // 595 is retried up to the attempt limit, then surfaces as upstream-unreachable.
        sim.inject(Fault::status("GET", "/nodes/pve2", 595, "no route to host").times(5));
        let e = c
            .get::<Value>(("nodes", "pve2", "status"))
            .await
            .unwrap_err();
        if knows_all_status_codes(backend) {
            assert_eq!(e.api().unwrap().class, ErrorClass::UpstreamUnreachable);
        } else {
            // surf (http-types 2) cannot represent 595: a transport error that says so.
            assert!(e.may_have_been_sent(), "{e:?}");
            assert!(e.to_string().contains("595"), "{e}");
        }
        let tries = sim
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/api2/json/nodes/pve2"))
            .count();
        assert_eq!(tries, 3, "a GET is retried up to the attempt limit");
        // The per-call read timeout, on the runtime's timer: typed as a timeout that may have
        // been sent (a GET, so it was retried up to the attempt limit first).
        sim.inject(Fault::delay("GET", "/cluster/nextid", Duration::from_secs(1)).times(3));
        let e = c
            .call_envelope::<Value>(
                &proxmox_proto::Call::get(("cluster", "nextid")).unwrap(),
                &CallOptions::default().timeout(Duration::from_millis(150)),
            )
            .await
            .unwrap_err();
        assert!(
            (matches!(e, Error::Transport(_)) && e.is_timeout() && e.may_have_been_sent()),
            "{e:?}"
        );
        // A dropped GET is retried; a POST that may have been processed is not.
        sim.inject(Fault::drop_after_read("GET", "/nodes").times(1));
        let nodes: Vec<Value> = c.get("nodes").await.expect("GET retried");
        assert!(!nodes.is_empty());
        sim.clear_requests();
        sim.inject(Fault::drop_after_read("POST", "/nodes/pve1/qemu").times(1));
        let e = c
            .post::<Value, _>(("nodes", "pve1", "qemu"), &json!({"vmid": 555}))
            .await
            .unwrap_err();
        assert!(e.may_have_been_sent(), "{e:?}");
        assert_eq!(
            sim.requests().iter().filter(|r| r.method == "POST").count(),
            1
        );
    });
}

/// Whether the backend reads every status code (surf's http-types 2 does not know 595-599).
pub fn knows_all_status_codes(backend: Backend) -> bool {
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => false,
        #[allow(unreachable_patterns)]
        _ => true,
    }
}

/// How often a request (method and path) was sent and how often it ran, from entry `since`
/// of the log on.
fn sent_and_executed(sim: &Simulator, since: usize, method: &str, path: &str) -> (usize, usize) {
    let log = sim.requests();
    let same: Vec<_> = log
        .iter()
        .skip(since)
        .filter(|r| r.method == method && r.path == path)
        .collect();
    (same.len(), same.iter().filter(|r| r.executed).count())
}

/// pveproxy answers 596 when forwarding failed after the request may have reached the node,
/// or when its 30 s forwarding timeout ended while the node still runs the call. A write
/// answered 596 is never sent again and its error says it may have been sent, whether the
/// simulator answered before running it or after; 595 (the node was never reached) replays a
/// write, which then runs once; a GET answered 596 is sent again. surf cannot read 595-599:
/// its transport error says the request may have been sent, so no write is replayed there
/// at all.
pub fn a_write_answered_596_is_never_executed_twice(backend: Backend) {
    let sim = sim();
    let c = token_client(backend, &sim);
    let reason = "Connection timed out";
    block_on(backend, async {
        for (i, case) in ["596 before running", "596 after running", "595"]
            .into_iter()
            .enumerate()
        {
            let vmid = 730 + u32::try_from(i).expect("small");
            for method in ["POST", "PUT", "DELETE"] {
                let prefix = match method {
                    "POST" => "/nodes/pve1/qemu".to_owned(),
                    "PUT" => format!("/nodes/pve1/qemu/{vmid}/config"),
                    _ => format!("/nodes/pve1/qemu/{vmid}"),
                };
                let fault = match case {
                    "596 before running" => Fault::status(method, &prefix, 596, reason),
                    "596 after running" => {
                        Fault::status_after_running(method, &prefix, 596, reason)
                    }
                    _ => Fault::status(method, &prefix, 595, "No route to host"),
                };
                sim.inject(fault.times(1));
                let since = sim.requests().len();
                let result: Result<Value, Error> = match method {
                    "POST" => {
                        c.post(("nodes", "pve1", "qemu"), &json!({"vmid": vmid}))
                            .await
                    }
                    "PUT" => {
                        c.put(
                            ("nodes", "pve1", "qemu", vmid, "config"),
                            &json!({"description": case}),
                        )
                        .await
                    }
                    _ => c.delete(("nodes", "pve1", "qemu", vmid), &()).await,
                };
                let path = format!("/api2/json{prefix}");
                let counts = sent_and_executed(&sim, since, method, &path);
                if case == "595" && knows_all_status_codes(backend) {
                    result.unwrap_or_else(|e| panic!("{case}: {method} {prefix}: {e}"));
                    assert_eq!(
                        counts,
                        (2, 1),
                        "{case}: {method} {prefix} replayed, ran once"
                    );
                    continue;
                }
                let e = result.expect_err(case);
                assert!(e.may_have_been_sent(), "{case}: {method} {prefix}: {e:?}");
                if knows_all_status_codes(backend) {
                    assert_eq!(e.api().map(|a| a.status), Some(596), "{case}: {e}");
                }
                let ran = usize::from(case == "596 after running");
                assert_eq!(counts, (1, ran), "{case}: {method} {prefix} sent once");
            }
        }
        // A GET answered 596 is sent again.
        sim.inject(Fault::status("GET", "/nodes/pve1/qemu/100/config", 596, reason).times(1));
        let since = sim.requests().len();
        let _: Value = c
            .get(("nodes", "pve1", "qemu", 100, "config"))
            .await
            .expect("GET retried");
        assert_eq!(
            sent_and_executed(&sim, since, "GET", "/api2/json/nodes/pve1/qemu/100/config"),
            (2, 1)
        );
    });
    // No write ran twice (the same method, path and parameters).
    let log = sim.requests();
    for r in log.iter().filter(|r| r.method != "GET" && r.executed) {
        let runs = log
            .iter()
            .filter(|o| {
                o.executed
                    && (&o.method, &o.path, &o.query, &o.form)
                        == (&r.method, &r.path, &r.query, &r.form)
            })
            .count();
        assert_eq!(runs, 1, "{} {} ran {runs} times", r.method, r.path);
    }
}

/// The calls of the framing test: GET and DELETE with and without query parameters, POST and
/// PUT with a form body and with an empty one.
fn framing_calls() -> Vec<proxmox_proto::Call> {
    use proxmox_proto::Call;
    vec![
        Call::get("version").unwrap(),
        Call::get(("nodes", "pve1", "tasks"))
            .unwrap()
            .param("limit", 5),
        Call::post(("nodes", "pve1", "qemu"))
            .unwrap()
            .param("vmid", 740)
            .param("name", "framing"),
        Call::put(("nodes", "pve1", "qemu", 740, "config"))
            .unwrap()
            .param("description", "x y"),
        Call::post(("nodes", "pve1", "qemu", 100, "status", "stop")).unwrap(),
        Call::delete(("nodes", "pve1", "qemu", 740))
            .unwrap()
            .param("purge", true),
        Call::delete(("nodes", "pve1", "lxc", 999)).unwrap(),
    ]
}

/// Whether the backend sends a request without any body framing (surf's async-h1 writes a
/// `Content-Length` on every request: `0` on a GET).
pub fn sends_body_less_requests(backend: Backend) -> bool {
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => false,
        #[allow(unreachable_patterns)]
        _ => true,
    }
}

/// Every request goes with exactly the framing the core built: GET and DELETE have no body,
/// so neither `Content-Length` nor `Transfer-Encoding` (pve-http-server reads a body only
/// when a `Content-Length` is given); POST and PUT carry the core's `Content-Length`, 0 for
/// an empty body. surf's async-h1 cannot send a request without framing: its GET and DELETE
/// carry `Content-Length: 0`, which pve-http-server reads as no body.
pub fn framing_is_exactly_what_the_core_built(backend: Backend) {
    let sim = sim();
    let c = token_client(backend, &sim);
    let rb = proxmox_proto::request::RequestBuilder::new(c.target().clone());
    block_on(backend, async {
        for call in framing_calls() {
            let since = sim.requests().len();
            let answer = c
                .call_raw(&call, &CallOptions::default())
                .await
                .expect("answered");
            let built = rb.build(&call, None).expect("builds");
            let logged = sim.requests()[since..].to_vec();
            assert_eq!(logged.len(), 1, "{call:?}: {logged:?} ({})", answer.status);
            let r = &logged[0];
            let core_length = built
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            let expected = match core_length {
                None if !sends_body_less_requests(backend) => Some(0),
                other => other,
            };
            assert_eq!(
                (r.content_length, r.transfer_encoding.as_deref()),
                (expected, None),
                "{} {}",
                r.method,
                r.path
            );
            match r.method.as_str() {
                "GET" | "DELETE" => assert_eq!(core_length, None, "{}", r.path),
                _ => assert_eq!(core_length, Some(built.body().len() as u64), "{}", r.path),
            }
        }
    });
}

/// Password login, CSRF on writes only, TFA, saved session, 401 re-login.
pub fn auth_flows(backend: Backend) {
    let sim = sim();
    let c = password_client(backend, &sim);
    block_on(backend, async {
        let _: Vec<Value> = c.get("nodes").await.unwrap();
        let upid: String = c
            .post(
                ("nodes", "pve1", "qemu"),
                &json!({"vmid": 321, "name": "t1"}),
            )
            .await
            .unwrap();
        assert!(upid.starts_with("UPID:pve1:"));
        let log = sim.requests();
        assert_eq!(log[0].path, "/api2/json/access/ticket");
        for r in &log[1..] {
            assert_eq!(r.csrf, r.method != "GET", "{r:?}");
        }
        let saved = c.session().expect("session");
        sim.clear_requests();
        let c2 = builder(backend, &sim).session(saved).build().unwrap();
        let _: Vec<Value> = c2.get("nodes").await.unwrap();
        assert_eq!(tickets(&sim), 0);
        sim.expire_all_tickets();
        let _: Vec<Value> = c.get("nodes").await.expect("one re-login after 401");
        assert_eq!(tickets(&sim), 1);
        let tfa = builder(backend, &sim)
            .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
            .second_factor(proxmox_proto::auth::SecondFactor::totp(
                proxmox_sim::TOTP_CODE,
            ))
            .build()
            .unwrap();
        let _: Vec<Value> = tfa.get("nodes").await.unwrap();
        let none = builder(backend, &sim)
            .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
            .build()
            .unwrap();
        let e = none.get::<Value>("nodes").await.unwrap_err();
        assert!(e.to_string().contains("second factor"), "{e}");
    });
}

async fn create_vm(c: &Client, vmid: u32) -> Upid {
    let upid: String = c
        .post(
            ("nodes", "pve1", "qemu"),
            &json!({"vmid": vmid, "name": format!("vm{vmid}"), "memory": 512}),
        )
        .await
        .unwrap();
    upid.parse().unwrap()
}

/// wait_task, wait_tasks over many UPIDs, task_log, follow_task_log, agent exec, map_concurrent.
pub fn tasks(backend: Backend) {
    let sim = sim();
    let c = token_client(backend, &sim);
    block_on(backend, async {
        let upid = create_vm(&c, 700).await;
        let mut seen = 0;
        let out = c
            .wait_task(&upid, WaitOptions::default(), |_| seen += 1)
            .await
            .unwrap();
        assert_eq!(out, TaskOutcome::Ok);
        assert!(seen >= 1);
        sim.plan_next_task(TaskPlan::new(SimOutcome::Error("disk full".into())));
        let failing: String = c
            .post(("nodes", "pve1", "qemu", 700, "status", "start"), &())
            .await
            .unwrap();
        let failing: Upid = failing.parse().unwrap();
        let mut upids = c
            .map_concurrent(701..=710, |vmid| create_vm(&c, vmid))
            .await;
        upids.push(failing.clone());
        let mut ended = 0;
        let outs = c
            .wait_tasks_with_progress(&upids, WaitOptions::default(), |p| {
                ended = p.finished;
                assert_eq!(p.total, 11);
            })
            .await
            .unwrap();
        assert_eq!(ended, 11);
        assert!(outs[..10].iter().all(|o| *o == TaskOutcome::Ok), "{outs:?}");
        assert!(
            matches!(&outs[10], TaskOutcome::Failed { message, .. } if message.contains("disk full")),
            "{outs:?}"
        );
        let log = c.task_log(&failing).await.unwrap();
        assert!(log.iter().any(|l| l.t.contains("disk full")), "{log:?}");
        let mut followed = Vec::new();
        let out = c
            .follow_task_log(&upid, WaitOptions::default(), |lines| {
                followed.extend(lines.iter().cloned())
            })
            .await
            .unwrap();
        assert_eq!(out, TaskOutcome::Ok);
        assert_eq!(followed.last().map(|l| l.t.as_str()), Some("TASK OK"));
        let _ = c.agent_exec("pve1", 100, "ls -la '/tmp/a b'").await;
    });
    let r = sim.requests();
    let last = r
        .iter()
        .rev()
        .find(|r| r.path.ends_with("/agent/exec"))
        .expect("exec sent");
    let cmds: Vec<&str> = last
        .form
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cmds, ["ls", "-la", "/tmp/a b"]);
}

/// Upload 3 MB streamed from a file with a computed checksum and progress; download-url with
/// a discovered checksum.
pub fn files(backend: Backend) {
    let dir = std::env::temp_dir().join(format!(
        "proxmox-async-files-{}-{:?}",
        std::process::id(),
        backend
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let hex = "a".repeat(64);
    std::fs::write(
        dir.join("SHA256SUMS"),
        format!("{}  other.iso\n{hex}  debian.iso\n", "b".repeat(64)),
    )
    .unwrap();
    let path = dir.join("tiny.iso");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let mut d = StreamingDigest::new(ChecksumAlgorithm::Sha256);
    d.update(&data);
    let sha = d.finish_hex();
    let mut cfg = Config::new(SimService::Pve);
    cfg.static_dir = Some(dir.clone());
    let sim = Simulator::start(cfg).unwrap();
    let c = token_client(backend, &sim);
    let progress = Arc::new(AtomicU64::new(0));
    let p2 = Arc::clone(&progress);
    let url = format!(
        "https://{}/dashboard/debian.iso",
        host(backend, sim.addr().port())
    );
    block_on(backend, async {
        let upid = c
            .upload_as(
                "pve1",
                "local",
                UploadContent::Iso,
                &path,
                "tiny.iso",
                proxmox_async::UploadChecksum::Compute(ChecksumAlgorithm::Sha256),
                move |sent, total| {
                    assert!(sent <= total);
                    p2.store(sent, Ordering::SeqCst);
                },
            )
            .await
            .unwrap();
        assert_eq!(
            c.wait_task(&upid, WaitOptions::default(), |_| {})
                .await
                .unwrap(),
            TaskOutcome::Ok
        );
        let found = c
            .discover_checksum(&url, None)
            .await
            .unwrap()
            .expect("found");
        assert_eq!(found.hex(), hex);
        let upid = c
            .download_url(
                "pve1",
                "local",
                UploadContent::Iso,
                &url,
                "debian.iso",
                DownloadChecksum::Discover,
            )
            .await
            .unwrap();
        assert_eq!(
            c.wait_task(&upid, WaitOptions::default(), |_| {})
                .await
                .unwrap(),
            TaskOutcome::Ok
        );
    });
    assert_eq!(progress.load(Ordering::SeqCst), data.len() as u64);
    let rec = sim.uploads();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].filename, "tiny.iso");
    assert_eq!(rec[0].size, data.len() as u64);
    assert_eq!(rec[0].sha256, sha);
    assert_eq!(rec[0].checksum.as_deref(), Some(sha.as_str()));
    let dl = sim.downloads();
    let params: std::collections::HashMap<_, _> = dl[0].params.iter().cloned().collect();
    assert_eq!(
        params.get("checksum").map(String::as_str),
        Some(hex.as_str())
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Bad builder input is refused before anything is sent.
pub fn bad_builder_input(backend: Backend) {
    for (b, what) in [
        (Client::builder("").api_token("a@b!c", "d"), "empty host"),
        (Client::builder("h:0").api_token("a@b!c", "d"), "port 0"),
        (Client::builder("h").api_token("no-bang", "d"), "token id"),
        (Client::builder("h").fingerprint("zz"), "fingerprint"),
        (
            Client::builder("h")
                .ca_pem(b"not pem")
                .api_token("a@b!c", "d"),
            "CA",
        ),
        (Client::builder("h"), "no credentials"),
        (
            Client::builder("h")
                .service(proxmox_proto::Service::Pmg)
                .api_token("a@b!c", "d"),
            "PMG token",
        ),
        (
            Client::builder("h")
                .proxy("::not a url")
                .api_token("a@b!c", "d"),
            "proxy",
        ),
        (
            Client::builder("h")
                .api_token("a@b!c", "d")
                .second_factor_callback(|_| None),
            "a second-factor callback with a token",
        ),
    ] {
        assert!(
            b.backend(backend).build().is_err(),
            "{what} must be refused"
        );
    }
}

/// Whether the backend keeps the server's reason phrase (async-h1, under surf, drops it).
pub fn keeps_reason_phrase(backend: Backend) -> bool {
    knows_all_status_codes(backend)
}

/// Whether the backend can use an HTTP proxy and TLS to an IP-address host (surf cannot).
pub fn supports_proxy_and_ip_hosts(backend: Backend) -> bool {
    knows_all_status_codes(backend)
}

/// The catalogue's report as the backend can pass it: every scenario, or (surf) all but the
/// injected 595, which it cannot read and which fails with the transport error that says so.
fn check_catalogue(backend: Backend, report: &Report) {
    eprintln!("{report}");
    let failed = report.failed();
    if knows_all_status_codes(backend) {
        assert!(failed.is_empty(), "{report}");
    } else {
        assert_eq!(failed.len(), 1, "{report}");
        assert_eq!(failed[0].name, "595 node unreachable (injected)");
        let Outcome::Failed { message, .. } = &failed[0].outcome else {
            unreachable!()
        };
        assert!(message.contains("cannot represent"), "{message}");
    }
    assert!(report.passed() >= 15, "{report}");
}

/// The testbed's scenario catalogue against the simulator: none is skipped.
pub fn catalogue_against_the_simulator(backend: Backend) {
    let Some(mut sim) = require_peer("simulator", start_simulator()) else {
        return;
    };
    let mut d = driver::AsyncDriver::new(backend, sim.addr().port(), sim.ca_pem());
    let report = run_scenarios(&mut d, &mut sim, &catalogue());
    check_catalogue(backend, &report);
    assert_eq!(report.skipped(), 0, "{report}");
}

/// The catalogue against fakepve (no TFA second step, 404 for unknown paths, no task cancel, no
/// checksum mirror: exactly those skip).
pub fn catalogue_against_fakepve(backend: Backend) {
    let Some(mut pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let mut d = driver::AsyncDriver::new(backend, pve.port(), pve.ca_pem());
    let report = run_scenarios(&mut d, &mut pve, &catalogue());
    check_catalogue(backend, &report);
    let skipped: Vec<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .map(|r| r.name)
        .collect();
    let lacking = proxmox_testbed::catalogue::lacking(&pve.profile());
    assert_eq!(lacking.len(), 6, "{lacking:?}");
    assert_eq!(skipped, lacking, "{report}");
}

/// PVE's message in the reason phrase reaches the error (hyper keeps it in an extension);
/// surf, which drops it, gets the message from the body.
pub fn reason_phrase(backend: Backend) {
    let sim = sim();
    let c = token_client(backend, &sim);
    let e = block_on(backend, async {
        c.get::<Value>(("nodes", "pve1", "qemu", 99999, "config"))
            .await
            .unwrap_err()
    });
    let api = e.api().unwrap();
    assert_eq!(api.status, 500);
    if keeps_reason_phrase(backend) {
        assert!(api.reason.contains("99999"), "the reason phrase: {api:?}");
    } else {
        assert!(
            api.summary().contains("99999"),
            "the body's message: {api:?}"
        );
    }
}

/// surf refuses a proxy and TLS to an IP-address host when the client is built; the other
/// backends build both.
pub fn proxy_and_ip_host_options(backend: Backend) {
    for b in [
        Client::builder("127.0.0.1")
            .backend(backend)
            .api_token("a@b!c", "d"),
        Client::builder("pve")
            .backend(backend)
            .api_token("a@b!c", "d")
            .proxy("http://proxy:3128"),
        Client::builder("pve")
            .backend(backend)
            .api_token("a@b!c", "d")
            .proxy("https://user:pw@proxy:3129"),
    ] {
        let built = b.build();
        if supports_proxy_and_ip_hosts(backend) {
            assert!(built.is_ok(), "{built:?}");
        } else {
            let e = built.unwrap_err();
            assert!(
                matches!(
                    &e,
                    Error::Unsupported(u)
                        if u.runtime == proxmox_proto::capability::Runtime::AsyncSurf
                ),
                "{e:?}"
            );
        }
    }
}

/// A tiny HTTP CONNECT proxy on 127.0.0.1: records every request head it reads, answers a
/// CONNECT with 200 and relays bytes both ways to the named host:port.
pub struct ConnectProxy {
    pub port: u16,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let h = heads.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let h = h.clone();
                std::thread::spawn(move || relay(s, &h));
            }
        });
        Self { port, heads }
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn relay(mut client: std::net::TcpStream, heads: &std::sync::Mutex<Vec<String>>) {
    use std::io::{Read, Write};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || client.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    heads.lock().unwrap().push(text.clone());
    // A plain-HTTP request in absolute form: answered here, as a mirror would (a checksum
    // file for `SHA256SUMS`, 404 for anything else).
    if let Some(rest) = text.strip_prefix("GET http://") {
        let found = rest
            .split_whitespace()
            .next()
            .is_some_and(|u| u.ends_with("/SHA256SUMS"));
        let (status, body) = if found {
            ("200 OK", format!("{}  debian.iso\n", "c".repeat(64)))
        } else {
            ("404 Not Found", String::new())
        };
        let _ = client.write_all(
            format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        return;
    }
    let target = text
        .strip_prefix("CONNECT ")
        .and_then(|r| r.split_whitespace().next());
    let Some(upstream) = target.and_then(|t| std::net::TcpStream::connect(t).ok()) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(std::net::Shutdown::Write);
    });
    let mut upstream = upstream;
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
}

/// `Basic` + base64 of `proxyuser:Pr0xy-Pass`.
const PROXY_BASIC: &str = "Basic cHJveHl1c2VyOlByMHh5LVBhc3M=";

/// A client of the simulator through `proxy` with user:password; `None` (after checking the
/// build is refused as unsupported) for a backend without proxy support.
fn proxied_client(backend: Backend, sim: &Simulator, proxy: &ConnectProxy) -> Option<Client> {
    let b = builder(backend, sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .proxy(&format!(
            "http://proxyuser:Pr0xy-Pass@127.0.0.1:{}",
            proxy.port
        ));
    if !supports_proxy_and_ip_hosts(backend) {
        let e = b.build().unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
        return None;
    }
    Some(b.build().unwrap())
}

/// The `Proxy-Authorization` value of a request head (empty when absent).
fn proxy_authorization(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("proxy-authorization")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default()
}

/// A proxy URL with user:password: the API is reached through one kept-alive CONNECT tunnel
/// to the server, whose CONNECT carries the credentials (surf: refused at build time).
pub fn proxy_tunnel(backend: Backend) {
    let sim = sim();
    let proxy = ConnectProxy::start();
    let Some(c) = proxied_client(backend, &sim, &proxy) else {
        return;
    };
    block_on(backend, async {
        for _ in 0..3 {
            let v: Value = c.get("version").await.unwrap();
            assert!(v["version"].is_string(), "{v}");
            // The pools (hyper-util's, reqwest's) hand a connection back from a task of their
            // own once the body is read; on a loaded machine a call made at once can find the
            // pool empty and open a second tunnel. Give that task its turn: keep-alive is what
            // this test checks, not how fast a pool takes a connection back.
            c.sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "one tunnel, kept alive: {heads:?}");
    let target = host(backend, sim.addr().port());
    assert!(
        heads[0].starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")),
        "{heads:?}"
    );
    assert_eq!(proxy_authorization(&heads[0]), PROXY_BASIC, "{heads:?}");
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path == "/api2/json/version")
            .count(),
        3
    );
}

/// A plain-HTTP URL through a proxy with user:password (checksum discovery next to an
/// `http://` image URL) goes to the proxy in absolute form with `Proxy-Authorization`.
pub fn proxy_plain_http(backend: Backend) {
    let sim = sim();
    let proxy = ConnectProxy::start();
    let Some(c) = proxied_client(backend, &sim, &proxy) else {
        return;
    };
    let url = "http://mirror.invalid/images/debian.iso";
    let found = block_on(backend, async { c.discover_checksum(url, None).await })
        .unwrap()
        .expect("found");
    assert_eq!(found.hex(), "c".repeat(64));
    let heads = proxy.heads();
    let sums = heads
        .iter()
        .find(|h| h.starts_with("GET http://mirror.invalid/images/SHA256SUMS HTTP/1.1\r\n"))
        .unwrap_or_else(|| panic!("{heads:?}"));
    assert_eq!(proxy_authorization(sums), PROXY_BASIC, "{heads:?}");
    assert!(
        heads
            .iter()
            .all(|h| h.starts_with("GET http://mirror.invalid/")),
        "no tunnel for plain HTTP: {heads:?}"
    );
    // Nothing reached the API server.
    assert!(sim.requests().is_empty());
}

/// Expands the shared test list for one backend: `backend_tests!(Backend::Hyper);` inside a
/// module of its own.
#[macro_export]
macro_rules! backend_tests {
    ($backend:expr) => {
        const B: proxmox_async::Backend = $backend;

        #[test]
        fn catalogue_against_the_simulator() {
            $crate::common::catalogue_against_the_simulator(B);
        }

        #[test]
        fn catalogue_against_fakepve() {
            $crate::common::catalogue_against_fakepve(B);
        }

        #[test]
        fn thousand_gets_with_concurrency_8() {
            $crate::common::thousand_gets_bounded(B);
        }

        #[test]
        fn renewal_is_single_flight_across_64_tasks() {
            $crate::common::renewal_single_flight(B);
        }

        #[test]
        fn dropped_futures_leave_the_client_usable() {
            $crate::common::dropped_futures(B);
        }

        #[test]
        fn cancelled_at_every_await_point() {
            $crate::common::cancelled_at_every_await_point(B);
        }

        #[test]
        fn permanent_tls_failures_are_not_retried() {
            $crate::common::permanent_tls_failures_are_not_retried(B);
        }

        #[test]
        fn tls_ca_fingerprint_insecure() {
            $crate::common::tls_options(B);
        }

        #[test]
        fn errors_are_typed() {
            $crate::common::typed_errors(B);
        }

        #[test]
        fn a_write_answered_596_is_never_executed_twice() {
            $crate::common::a_write_answered_596_is_never_executed_twice(B);
        }

        #[test]
        fn framing_is_exactly_what_the_core_built() {
            $crate::common::framing_is_exactly_what_the_core_built(B);
        }

        #[test]
        fn auth_flows() {
            $crate::common::auth_flows(B);
        }

        #[test]
        fn tasks_and_fan_out() {
            $crate::common::tasks(B);
        }

        #[test]
        fn upload_and_download_url() {
            $crate::common::files(B);
        }

        #[test]
        fn bad_builder_input() {
            $crate::common::bad_builder_input(B);
        }

        #[test]
        fn the_reason_phrase_is_kept() {
            $crate::common::reason_phrase(B);
        }

        #[test]
        fn proxy_and_ip_host_options() {
            $crate::common::proxy_and_ip_host_options(B);
        }

        #[test]
        fn a_proxy_with_credentials_tunnels() {
            $crate::common::proxy_tunnel(B);
        }

        #[test]
        fn plain_http_through_a_proxy_is_absolute_form() {
            $crate::common::proxy_plain_http(B);
        }
    };
}

/// The cluster tests ([`cluster`]) for one backend on tokio.
#[macro_export]
macro_rules! cluster_tests {
    ($backend:expr) => {
        mod cluster {
            const B: proxmox_async::Backend = $backend;

            #[test]
            fn a_stopped_first_node_is_left_for_the_next() {
                $crate::common::cluster::stopped_first_node(B);
            }

            #[test]
            fn a_blackholed_first_node_costs_one_connect_timeout() {
                $crate::common::cluster::blackholed_first_node(B);
            }

            #[test]
            fn discovery_with_and_without_sys_audit_and_affinity() {
                $crate::common::cluster::discovery_and_affinity(B);
            }

            #[test]
            fn per_node_in_flight_never_exceeds_the_limit() {
                $crate::common::cluster::per_node_limit(B);
            }

            #[test]
            fn a_node_killed_under_8_workers_never_runs_a_create_twice() {
                $crate::common::cluster::node_killed_under_8_workers(B);
            }

            #[test]
            fn pins_first_use_changed_certificate_and_ca_renewal() {
                $crate::common::cluster::pins(B);
            }

            #[test]
            fn a_migrated_guest_is_found_again() {
                $crate::common::cluster::migrated_guest(B);
            }

            #[test]
            fn probe_reads_the_certificate_and_sends_nothing() {
                $crate::common::cluster::probe(B);
            }
        }
    };
}
