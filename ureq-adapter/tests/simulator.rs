//! proxmox-ureq against the in-process simulator: auth kinds, TLS options, errors, renewal
//! across threads, faults and retries.

use proxmox_proto::ErrorClass;
use proxmox_proto::auth::SecondFactor;
use proxmox_sim::{Config, Fault, Service as SimService, Simulator};
use proxmox_ureq::{Client, ClientBuilder, Error};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

fn sim() -> Simulator {
    Simulator::start(Config::new(SimService::Pve)).expect("simulator starts")
}

fn host(sim: &Simulator) -> String {
    format!("127.0.0.1:{}", sim.addr().port())
}

fn builder(sim: &Simulator) -> ClientBuilder {
    let clock = sim.clock().clone();
    Client::builder(&host(sim))
        .ca_pem(sim.ca_pem().as_bytes())
        .clock(Arc::new(move || clock.now()))
        .timeout(Duration::from_secs(10))
}

fn token_client(sim: &Simulator) -> Client {
    builder(sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .expect("client")
}

fn password_client(sim: &Simulator) -> Client {
    builder(sim)
        .password(proxmox_sim::ROOT_USER, proxmox_sim::ROOT_PASSWORD)
        .build()
        .expect("client")
}

#[test]
fn token_lists_nodes_without_csrf() {
    let sim = sim();
    let c = token_client(&sim);
    let nodes: Vec<Value> = c.get("nodes").unwrap();
    assert!(!nodes.is_empty());
    let _: Value = c
        .post(("nodes", "pve1", "qemu", 100, "status", "start"), &())
        .ok()
        .unwrap_or_default();
    let log = sim.requests();
    assert!(
        log.iter().all(|r| r.auth == proxmox_sim::AuthKind::Token),
        "{log:?}"
    );
    assert!(log.iter().all(|r| !r.csrf));
}

#[test]
fn password_login_sends_csrf_on_writes_only() {
    let sim = sim();
    let c = password_client(&sim);
    let _: Vec<Value> = c.get("nodes").unwrap();
    let next: Value = c.get(("cluster", "nextid")).unwrap();
    assert!(next.is_string() || next.is_number());
    let upid: String = c
        .post(
            ("nodes", "pve1", "qemu"),
            &serde_json::json!({"vmid": 321, "name": "t1"}),
        )
        .unwrap();
    assert!(upid.starts_with("UPID:pve1:"), "{upid}");
    let log = sim.requests();
    assert_eq!(log[0].path, "/api2/json/access/ticket");
    for r in &log[1..] {
        assert_eq!(r.csrf, r.method != "GET", "{r:?}");
    }
    // The form never shows the password in the simulator's (redacted) log either.
    assert!(
        log[0]
            .form
            .iter()
            .all(|(_, v)| v != proxmox_sim::ROOT_PASSWORD)
    );
    let saved = c.session().expect("a session");
    // Resume from the saved session: no new login.
    sim.clear_requests();
    let c2 = builder(&sim).session(saved).build().unwrap();
    let _: Vec<Value> = c2.get("nodes").unwrap();
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.path != "/api2/json/access/ticket")
    );
}

#[test]
fn tfa_login_with_prepared_code_and_wrong_code() {
    let sim = sim();
    let c = builder(&sim)
        .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
        .second_factor(SecondFactor::totp(proxmox_sim::TOTP_CODE))
        .build()
        .unwrap();
    let _: Vec<Value> = c.get("nodes").unwrap();
    let bad = builder(&sim)
        .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
        .second_factor(SecondFactor::totp("000000"))
        .build()
        .unwrap();
    let e = bad.get::<Value>("nodes").unwrap_err();
    assert!(
        matches!(e, Error::Proto(proxmox_proto::Error::Auth(_))),
        "{e:?}"
    );
    // Exactly one second step was sent for the failing client: no automatic retry.
    let steps = sim
        .requests()
        .iter()
        .filter(|r| {
            r.path == "/api2/json/access/ticket" && r.form.iter().any(|(k, _)| k == "tfa-challenge")
        })
        .count();
    assert_eq!(steps, 2);
    let none = builder(&sim)
        .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
        .build()
        .unwrap();
    let e = none.get::<Value>("nodes").unwrap_err();
    assert!(e.to_string().contains("second factor"), "{e}");
}

#[test]
fn errors_are_typed_with_the_reason_phrase() {
    let sim = sim();
    let c = token_client(&sim);
    let e = c
        .get::<Value>(("nodes", "pve1", "qemu", 99999, "config"))
        .unwrap_err();
    let api = e.api().expect("api error");
    assert_eq!(api.status, 500);
    assert_eq!(api.class, ErrorClass::NotFound);
    assert!(api.reason.contains("99999"), "reason phrase kept: {api:?}");
    let e = c.get::<Value>("no/such/path").unwrap_err();
    assert_eq!(e.api().unwrap().status, 501);
    let e = c
        .post::<Value, _>(
            ("nodes", "pve1", "qemu"),
            &serde_json::json!({"vmid": "notanumber"}),
        )
        .unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.class, ErrorClass::BadRequest);
    assert!(api.param_errors.contains_key("vmid"), "{api:?}");
}

#[test]
fn tls_options() {
    let sim = sim();
    let ok = |b: ClientBuilder| {
        b.api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .build()
            .unwrap()
            .get::<Value>("version")
    };
    let plain = || Client::builder(&host(&sim));
    // Right CA: fine. No CA: refused. Wrong CA: refused.
    assert!(ok(plain().ca_pem(sim.ca_pem().as_bytes())).is_ok());
    let e = ok(plain()).unwrap_err();
    assert!(
        (matches!(e, Error::Transport(_)) && !e.may_have_been_sent()),
        "{e:?}"
    );
    let other = Simulator::start(Config::new(SimService::Pve)).unwrap();
    assert!(ok(plain().ca_pem(other.ca_pem().as_bytes())).is_err());
    // Pinning: the right fingerprint works without any CA; a wrong one fails.
    assert!(ok(plain().fingerprint(sim.fingerprint_sha256())).is_ok());
    let e = ok(plain().fingerprint(other.fingerprint_sha256())).unwrap_err();
    assert!(
        e.to_string().contains("fingerprint") || matches!(e, Error::Transport(_)),
        "{e}"
    );
    // Insecure only when chosen.
    assert!(ok(plain().danger_accept_invalid_certs()).is_ok());
}

/// A certificate refused for good (not the pinned one, unknown issuer) costs one TLS
/// handshake per call, never a retry; a refused connection is retried up to `max_attempts`.
#[test]
fn permanent_tls_failures_are_not_retried() {
    let sim = sim();
    let other = Simulator::start(Config::new(SimService::Pve)).unwrap();
    let plain = || Client::builder(&host(&sim));
    for b in [plain().fingerprint(other.fingerprint_sha256()), plain()] {
        let c = b
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .build()
            .unwrap();
        for _ in 0..2 {
            let before = sim.connections_accepted();
            let e = c.get::<Value>("version").unwrap_err();
            assert_eq!(sim.connections_accepted() - before, 1, "one handshake: {e}");
            assert!(
                (matches!(e, Error::Transport(_)) && !e.may_have_been_sent() && e.attempts() == 1),
                "{e:?}"
            );
            assert!(
                e.to_string()
                    .contains(&format!("GET /version on {}", host(&sim))),
                "{e}"
            );
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Client::builder(&format!("127.0.0.1:{port}"))
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .max_attempts(2)
        .build()
        .unwrap()
        .get::<Value>("version")
        .unwrap_err();
    assert!(
        (matches!(e, Error::Transport(_)) && !e.may_have_been_sent() && e.attempts() == 2),
        "{e:?}"
    );
    assert!(e.to_string().contains("2 attempts in"), "{e}");
}

/// `timeout` is the deadline of the whole call: against a server that never answers, a call
/// ends when it passes, saying how many attempts it made; `max_attempts` bounds the attempts.
#[test]
fn the_timeout_is_the_calls_deadline() {
    let sim = sim();
    sim.inject(Fault::delay("GET", "/nodes", Duration::from_secs(3)));
    let c = builder(&sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    let e = c.get::<Value>("nodes").unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    let (attempts, elapsed) = (e.attempts(), e.elapsed().expect("a transport error"));
    // A GET that timed out after it was sent may be retried, within the deadline only.
    assert!((1..=3).contains(&attempts), "{attempts}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(e.is_timeout());
}

#[test]
fn bad_builder_input_is_a_clear_error() {
    let sim = sim();
    for (b, what) in [
        (Client::builder("").api_token("a@b!c", "d"), "empty host"),
        (Client::builder("h:0").api_token("a@b!c", "d"), "port 0"),
        (Client::builder("h").api_token("no-bang", "d"), "token id"),
        (Client::builder("h").api_token("a@b!c", ""), "empty secret"),
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
                .path_prefix("a/../b")
                .api_token("a@b!c", "d"),
            "prefix",
        ),
        (
            Client::builder("h")
                .proxy("::not a url")
                .api_token("a@b!c", "d"),
            "proxy",
        ),
        (Client::builder(&host(&sim)).password("", "x"), "empty user"),
        (
            Client::builder("h")
                .api_token("a@b!c", "d")
                .second_factor_callback(|_| None),
            "a second-factor callback with a token",
        ),
        (
            Client::builder("h")
                .api_token("a@b!c", "d")
                .second_factor(SecondFactor::totp("123456")),
            "a second factor with a token",
        ),
    ] {
        assert!(b.build().is_err(), "{what} must be refused");
    }
}

#[test]
fn renewal_is_single_flight_across_threads() {
    let sim = sim();
    let c = password_client(&sim);
    let _: Vec<Value> = c.get("nodes").unwrap();
    let mut renewals = 0;
    // Two simulated hours in 10-minute steps, 8 threads calling at each step.
    for _ in 0..12 {
        sim.clock().advance(Duration::from_secs(600));
        let before = sim.requests().len();
        std::thread::scope(|s| {
            for _ in 0..8 {
                let c = c.clone();
                s.spawn(move || {
                    let v: Vec<Value> = c.get("nodes").expect("no call fails");
                    assert!(!v.is_empty());
                });
            }
        });
        renewals += sim.requests()[before..]
            .iter()
            .filter(|r| r.path == "/api2/json/access/ticket")
            .count();
    }
    // A ticket is renewed once it is an hour old: at 60 and 120 minutes.
    assert_eq!(
        renewals,
        2,
        "{:?}",
        sim.requests()
            .iter()
            .filter(|r| r.path.ends_with("ticket"))
            .collect::<Vec<_>>()
    );
    assert!(sim.requests().iter().all(|r| r.status != 401));
}

#[test]
fn expired_ticket_relogs_in_once() {
    let sim = sim();
    let c = password_client(&sim);
    let _: Vec<Value> = c.get("nodes").unwrap();
    sim.expire_all_tickets();
    let _: Vec<Value> = c.get("nodes").expect("one re-login after 401");
    let logins = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api2/json/access/ticket")
        .count();
    assert_eq!(logins, 2);
}

#[test]
fn dropped_get_is_retried_but_post_is_not() {
    let sim = sim();
    let c = token_client(&sim);
    sim.inject(Fault::drop_after_read("GET", "/nodes").times(1));
    let nodes: Vec<Value> = c.get("nodes").expect("GET retried");
    assert!(!nodes.is_empty());
    sim.clear_requests();
    sim.inject(Fault::drop_after_read("POST", "/nodes/pve1/qemu").times(1));
    let e = c
        .post::<Value, _>(("nodes", "pve1", "qemu"), &serde_json::json!({"vmid": 555}))
        .unwrap_err();
    assert!(
        (matches!(e, Error::Transport(_)) && e.may_have_been_sent()),
        "{e:?}"
    );
    let posts = sim.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(
        posts, 1,
        "a POST that may have been processed is never replayed"
    );
}

#[test]
fn upstream_595_is_classified_and_retried() {
    let sim = sim();
    let c = token_client(&sim);
    sim.inject(Fault::status("GET", "/nodes/pve2", 595, "no route to host").times(5));
    let e = c.get::<Value>(("nodes", "pve2", "status")).unwrap_err();
    assert_eq!(e.api().unwrap().class, ErrorClass::UpstreamUnreachable);
    let tries = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api2/json/nodes/pve2"))
        .count();
    assert_eq!(tries, 3, "retried up to the attempt limit");
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
/// write, which then runs once; a GET answered 596 is sent again.
#[test]
fn a_write_answered_596_is_never_executed_twice() {
    let sim = sim();
    let c = token_client(&sim);
    let reason = "Connection timed out";
    for (i, case) in ["596 before running", "596 after running", "595"]
        .into_iter()
        .enumerate()
    {
        let vmid = 730 + u32::try_from(i).expect("small");
        let fault = |method: &str, prefix: &str| {
            let f = match case {
                "596 before running" => Fault::status(method, prefix, 596, reason),
                "596 after running" => Fault::status_after_running(method, prefix, 596, reason),
                _ => Fault::status(method, prefix, 595, "No route to host"),
            };
            f.times(1)
        };
        for method in ["POST", "PUT", "DELETE"] {
            let prefix = match method {
                "POST" => "/nodes/pve1/qemu".to_owned(),
                "PUT" => format!("/nodes/pve1/qemu/{vmid}/config"),
                _ => format!("/nodes/pve1/qemu/{vmid}"),
            };
            sim.inject(fault(method, &prefix));
            let since = sim.requests().len();
            let result: Result<Value, Error> = match method {
                "POST" => c.post(
                    ("nodes", "pve1", "qemu"),
                    &serde_json::json!({"vmid": vmid}),
                ),
                "PUT" => c.put(
                    ("nodes", "pve1", "qemu", vmid, "config"),
                    &serde_json::json!({"description": case}),
                ),
                _ => c.delete(("nodes", "pve1", "qemu", vmid), &()),
            };
            let path = format!("/api2/json{prefix}");
            let counts = sent_and_executed(&sim, since, method, &path);
            match case {
                "595" => {
                    result.unwrap_or_else(|e| panic!("{case}: {method} {prefix}: {e}"));
                    assert_eq!(
                        counts,
                        (2, 1),
                        "{case}: {method} {prefix} replayed, ran once"
                    );
                }
                _ => {
                    let e = result.expect_err(case);
                    assert_eq!(e.api().map(|a| a.status), Some(596), "{case}: {e}");
                    assert!(e.may_have_been_sent(), "{case}: {method} {prefix}: {e:?}");
                    let ran = usize::from(case == "596 after running");
                    assert_eq!(counts, (1, ran), "{case}: {method} {prefix} sent once");
                }
            }
        }
    }
    // A GET answered 596 is sent again.
    sim.inject(Fault::status("GET", "/nodes/pve1/qemu/100/config", 596, reason).times(1));
    let since = sim.requests().len();
    let _: Value = c
        .get(("nodes", "pve1", "qemu", 100, "config"))
        .expect("GET retried");
    assert_eq!(
        sent_and_executed(&sim, since, "GET", "/api2/json/nodes/pve1/qemu/100/config"),
        (2, 1)
    );
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

/// The calls of the framing tests: GET and DELETE with and without query parameters, POST
/// and PUT with a form body and with an empty one.
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

/// Every request goes with exactly the framing the core built: GET and DELETE have no body,
/// so neither `Content-Length` nor `Transfer-Encoding` (pve-http-server reads a body only
/// when a `Content-Length` is given); POST and PUT carry the core's `Content-Length`, 0 for
/// an empty body.
#[test]
fn framing_is_exactly_what_the_core_built() {
    let sim = sim();
    let c = token_client(&sim);
    let rb = proxmox_proto::request::RequestBuilder::new(c.target().clone());
    for call in framing_calls() {
        let since = sim.requests().len();
        let answer = c
            .call_raw(&call, &proxmox_ureq::CallOptions::default())
            .expect("answered");
        let built = rb.build(&call, None).expect("builds");
        let logged = sim.requests()[since..].to_vec();
        assert_eq!(logged.len(), 1, "{call:?}: {logged:?} ({})", answer.status);
        let r = &logged[0];
        let core_length = built
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        assert_eq!(
            (r.content_length, r.transfer_encoding.as_deref()),
            (core_length, None),
            "{} {}",
            r.method,
            r.path
        );
        match r.method.as_str() {
            "GET" | "DELETE" => assert_eq!(core_length, None, "{}", r.path),
            _ => assert_eq!(core_length, Some(built.body().len() as u64), "{}", r.path),
        }
    }
}

#[test]
fn connections_are_reused() {
    let sim = sim();
    let c = token_client(&sim);
    for _ in 0..20 {
        let _: Value = c.get("version").unwrap();
    }
    assert_eq!(sim.connections_accepted(), 1);
}

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[test]
fn client_is_shareable_across_threads() {
    assert_send_sync_clone::<Client>();
}

/// A minimal HTTP CONNECT proxy on loopback that counts the tunnels it opened.
fn connect_proxy() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = tunnels.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { return };
            let count = count.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let Ok(upstream) = TcpStream::connect(&target) else {
                    return;
                };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut c2 = client.try_clone().unwrap();
                c2.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let mut up_r = upstream.try_clone().unwrap();
                let mut up_w = upstream;
                let mut down_w = client;
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up_r, &mut down_w);
                });
                let _ = std::io::copy(&mut reader, &mut up_w);
            });
        }
    });
    (port, tunnels)
}

#[test]
fn https_through_a_connect_proxy() {
    let sim = sim();
    let (port, tunnels) = connect_proxy();
    let c = builder(&sim)
        .proxy(&format!("http://127.0.0.1:{port}"))
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    for _ in 0..3 {
        let v: Value = c.get("version").unwrap();
        assert!(v["version"].is_string());
    }
    assert!(
        tunnels.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the call went through the proxy"
    );
}
