//! The API-call flow of a cluster client, driven by hand: failover, what is never sent
//! twice, certificates refused for good, affinity, TFA's second step, discovery.

use super::*;
use crate::options::ClientOptions;
use crate::{Call, TransportKind};
use std::sync::Arc;
use std::time::Duration;

const T0: Duration = Duration::from_secs(0x6500_0000);

fn cluster(f: impl FnOnce(&mut ClientOptions)) -> ClientCore {
    let mut o = ClientOptions::new("10.0.0.1");
    o.add_endpoints(&["10.0.0.2", "10.0.0.3"]);
    f(&mut o);
    ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb)
}

fn token() -> ClientCore {
    cluster(|o| o.set_api_token("root@pam!ci", "s".into()))
}

fn at(ms: u64) -> Now {
    Now::new(
        MonoTime::from_duration(Duration::from_millis(ms)),
        T0 + Duration::from_millis(ms),
    )
}

/// Poll until the next exchange, collecting the events on the way.
fn send<F: Flow>(flow: &mut F, now: Now, events: &mut Vec<Event>) -> Exchange
where
    F::Output: std::fmt::Debug,
{
    loop {
        match flow.poll(now) {
            Step::Event(e) => events.push(e),
            Step::Send(ex) => return ex,
            other => panic!("expected a send, got {other:?}"),
        }
    }
}

fn done<F: Flow>(flow: &mut F, now: Now) -> Result<F::Output, crate::Error>
where
    F::Output: std::fmt::Debug,
{
    loop {
        match flow.poll(now) {
            Step::Event(_) => {}
            Step::Done(r) => return r,
            other => panic!("expected the end, got {other:?}"),
        }
    }
}

/// `host:port path` of an exchange.
fn dest(e: &Exchange) -> String {
    match &e.payload {
        Payload::Http(r) => format!(
            "{} {}",
            r.uri().authority().map(|a| a.as_str()).unwrap_or(""),
            r.uri().path()
        ),
        other => panic!("{other:?}"),
    }
}

fn ok() -> Reply {
    Reply::Http(HttpReply::new(200, None, br#"{"data":1}"#.to_vec()))
}

fn refused() -> Reply {
    Reply::Failed(TransportFailure::not_sent("connection refused").with_kind(FailureKind::Connect))
}

#[test]
fn a_refused_endpoint_is_left_at_once_and_skipped_by_the_next_calls() {
    let core = token();
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let mut events = Vec::new();
    let ex = send(&mut f, at(0), &mut events);
    assert_eq!(dest(&ex), "10.0.0.1:8006 /api2/json/version");
    assert_eq!(ex.endpoint, EndpointId(0));
    f.handle(ex.id, refused());
    // No backoff: the next endpoint at once.
    let ex = send(&mut f, at(0), &mut events);
    assert_eq!(dest(&ex), "10.0.0.2:8006 /api2/json/version");
    assert_eq!(ex.endpoint, EndpointId(1));
    assert!(
        matches!(&events[..], [Event::EndpointFailed { endpoint, permanent: false, .. }] if endpoint == "10.0.0.1:8006"),
        "{events:?}"
    );
    f.handle(ex.id, ok());
    let reply = done(&mut f, at(0)).unwrap();
    assert_eq!(reply.endpoint, EndpointId(1));
    // The next call starts where the last one succeeded; after the backoff, at the first.
    let mut g = core.call(Call::get("version").unwrap(), &CallOptions::default());
    assert_eq!(send(&mut g, at(10), &mut events).endpoint, EndpointId(1));
    let mut h = core.call(Call::get("version").unwrap(), &CallOptions::default());
    assert_eq!(send(&mut h, at(1_500), &mut events).endpoint, EndpointId(0));
}

#[test]
fn a_write_that_may_have_been_sent_is_never_sent_again_anywhere() {
    let core = token();
    let call = Call::post(("nodes", "pve1", "qemu")).unwrap();
    let mut f = core.call(call, &CallOptions::default());
    let mut events = Vec::new();
    let ex = send(&mut f, at(0), &mut events);
    f.handle(
        ex.id,
        Reply::Failed(TransportFailure::maybe_sent("connection reset").timed_out()),
    );
    let e = done(&mut f, at(0)).unwrap_err();
    let crate::Error::Transport(t) = &e else {
        panic!("{e:?}")
    };
    assert!(t.failure.may_have_been_sent, "{e}");
    assert_eq!(t.attempts, 1);
    assert!(
        e.to_string().contains("10.0.0.1:8006 (connection reset)"),
        "{e}"
    );
}

#[test]
fn a_write_never_sent_and_a_get_that_may_have_been_go_on_elsewhere() {
    let core = token();
    let mut events = Vec::new();
    let mut f = core.call(
        Call::post(("nodes", "pve1", "qemu")).unwrap(),
        &CallOptions::default(),
    );
    let ex = send(&mut f, at(0), &mut events);
    f.handle(ex.id, refused());
    let ex = send(&mut f, at(0), &mut events);
    assert_eq!(ex.endpoint, EndpointId(1));
    let mut g = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let ex = send(&mut g, at(0), &mut events);
    assert_eq!(ex.endpoint, EndpointId(1));
    g.handle(
        ex.id,
        Reply::Failed(TransportFailure::maybe_sent("read timed out").timed_out()),
    );
    let ex = send(&mut g, at(0), &mut events);
    assert_eq!(ex.endpoint, EndpointId(2));
}

#[test]
fn a_refused_certificate_ends_that_endpoint_for_good() {
    let core = token();
    let mut events = Vec::new();
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let ex = send(&mut f, at(0), &mut events);
    f.handle(
        ex.id,
        Reply::Failed(
            TransportFailure::not_sent("certificate fingerprint AA does not match the pinned BB")
                .permanent(),
        ),
    );
    let ex = send(&mut f, at(0), &mut events);
    assert_eq!(ex.endpoint, EndpointId(1));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::EndpointFailed {
            permanent: true,
            ..
        }
    )));
    f.handle(ex.id, ok());
    done(&mut f, at(0)).unwrap();
    // An hour later, the first endpoint is still not used.
    let mut g = core.call(Call::get("version").unwrap(), &CallOptions::default());
    assert_eq!(
        send(&mut g, at(3_600_000), &mut events).endpoint,
        EndpointId(1)
    );
}

#[test]
fn when_every_endpoint_fails_the_error_names_each() {
    let core = token();
    let mut events = Vec::new();
    let opts = CallOptions::default().max_attempts(1);
    let mut f = core.call(Call::get("version").unwrap(), &opts);
    for _ in 0..3 {
        let ex = send(&mut f, at(0), &mut events);
        f.handle(ex.id, refused());
    }
    let e = done(&mut f, at(0)).unwrap_err().to_string();
    for host in ["10.0.0.1:8006", "10.0.0.2:8006", "10.0.0.3:8006"] {
        assert!(e.contains(&format!("{host} (connection refused)")), "{e}");
    }
}

#[test]
fn the_second_factor_goes_to_the_node_that_asked_for_it() {
    let core = cluster(|o| {
        o.set_password("root@pam", "pw".into());
        o.set_second_factor(crate::auth::SecondFactor::totp("123456"));
    });
    let mut events = Vec::new();
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    // The login goes to the first endpoint, refused; then to the second, which asks for TFA.
    let ex = send(&mut f, at(0), &mut events);
    assert_eq!(dest(&ex), "10.0.0.1:8006 /api2/json/access/ticket");
    f.handle(ex.id, refused());
    let ex = send(&mut f, at(0), &mut events);
    assert_eq!(dest(&ex), "10.0.0.2:8006 /api2/json/access/ticket");
    let half = br#"{"data":{"username":"root@pam","NeedTFA":1,"CSRFPreventionToken":"x","ticket":"PVE:!tfa!%7B%22totp%22%3Atrue%7D:65000000::aGFsZg=="}}"#;
    f.handle(ex.id, Reply::Http(HttpReply::new(200, None, half.to_vec())));
    let ex = send(&mut f, at(0), &mut events);
    assert_eq!(dest(&ex), "10.0.0.2:8006 /api2/json/access/ticket");
    assert_eq!(ex.endpoint, EndpointId(1));
}

#[test]
fn discovery_names_the_endpoints_and_affinity_sends_a_nodes_call_to_its_node() {
    let core = token();
    let mut flow = core.discover();
    let status = br#"{"data":[{"type":"cluster","name":"lab"},
        {"type":"node","name":"pve1","ip":"10.0.0.1","local":1,"online":1},
        {"type":"node","name":"pve2","ip":"10.0.0.2","online":1},
        {"type":"node","name":"pve3","ip":"10.0.0.3","online":1}]}"#;
    let nodes = br#"{"data":[{"node":"pve1"},{"node":"pve2"},{"node":"pve3"}]}"#;
    let mut events = Vec::new();
    let a = send(&mut flow, at(0), &mut events);
    let b = send(&mut flow, at(0), &mut events);
    assert!(matches!(flow.poll(at(0)), Step::AwaitReplies));
    let mut paths = [dest(&a), dest(&b)];
    paths.sort();
    assert_eq!(
        paths,
        [
            "10.0.0.1:8006 /api2/json/cluster/status",
            "10.0.0.1:8006 /api2/json/nodes"
        ]
    );
    for ex in [a, b] {
        let body = if dest(&ex).ends_with("status") {
            &status[..]
        } else {
            &nodes[..]
        };
        flow.handle(ex.id, Reply::Http(HttpReply::new(200, None, body.to_vec())));
    }
    let map = done(&mut flow, at(0)).unwrap();
    assert_eq!(map.name.as_deref(), Some("lab"));
    let names: Vec<_> = core
        .endpoints()
        .iter()
        .map(|e| e.node().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        [
            Some("pve1".into()),
            Some("pve2".into()),
            Some("pve3".into())
        ]
    );
    let mut f = core.call(
        Call::get(("nodes", "pve3", "status")).unwrap(),
        &CallOptions::default(),
    );
    assert_eq!(
        dest(&send(&mut f, at(0), &mut events)),
        "10.0.0.3:8006 /api2/json/nodes/pve3/status"
    );
    // A 595 from pve3 for itself cannot happen; from a forwarding node it marks pve3.
    let mut g = core.call(
        Call::get(("nodes", "pve2", "status")).unwrap(),
        &CallOptions::default(),
    );
    let ex = send(&mut g, at(0), &mut events);
    assert_eq!(ex.endpoint, EndpointId(1));
    g.handle(
        ex.id,
        Reply::Http(HttpReply::new(
            595,
            Some("No route to host".into()),
            Vec::new(),
        )),
    );
    // Retried after the backoff, through the first endpoint, not at pve2 itself.
    let mut now = at(5_000);
    let ex = loop {
        match g.poll(now) {
            Step::Send(ex) => break ex,
            Step::Event(_) => {}
            Step::SleepUntil(t) => now = Now::new(t, T0 + t.since(MonoTime::ZERO)),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ex.endpoint, EndpointId(0));
}

#[test]
fn without_sys_audit_discovery_reads_nodes_and_says_so() {
    let core = token();
    let mut flow = core.discover();
    let mut events = Vec::new();
    let a = send(&mut flow, at(0), &mut events);
    let b = send(&mut flow, at(0), &mut events);
    for ex in [a, b] {
        let reply = if dest(&ex).ends_with("status") {
            HttpReply::new(
                403,
                Some("Permission check failed (/, Sys.Audit)".into()),
                Vec::new(),
            )
        } else {
            HttpReply::new(
                200,
                None,
                br#"{"data":[{"node":"pve1"},{"node":"pve2"}]}"#.to_vec(),
            )
        };
        flow.handle(ex.id, Reply::Http(reply));
    }
    let mut said = None;
    let map = loop {
        match flow.poll(at(0)) {
            Step::Event(Event::DiscoveryLimited { reason }) => said = Some(reason),
            Step::Event(_) => {}
            Step::Done(r) => break r.unwrap(),
            other => panic!("{other:?}"),
        }
    };
    assert!(!map.addresses_known);
    assert_eq!(map.nodes.len(), 2);
    assert!(said.unwrap().contains("Sys.Audit"));
    assert_eq!(core.endpoints().len(), 3);
}

#[test]
fn several_endpoints_are_refused_where_they_cannot_work() {
    let mut o = ClientOptions::new("pbs1");
    o.set_service(crate::Service::Pbs);
    o.set_api_token("root@pam!ci", "s".into());
    o.add_endpoints(&["pbs2"]);
    let e = o.validate(TransportKind::Https).unwrap_err().to_string();
    assert!(e.contains("PVE clusters"), "{e}");
    let mut o = ClientOptions::new("pve1");
    o.set_api_token("root@pam!ci", "s".into());
    o.add_endpoints(&["pve2", "pve2:8006"]);
    let e = o.validate(TransportKind::Https).unwrap_err().to_string();
    assert!(e.contains("given twice"), "{e}");
    let mut o = ClientOptions::new("pve1");
    o.set_api_token("root@pam!ci", "s".into());
    o.add_endpoints(&["pve1", "pve2:9000"]);
    let v = o.validate(TransportKind::Https).unwrap();
    let list: Vec<_> = v.endpoints.unwrap().iter().map(|e| e.authority()).collect();
    assert_eq!(list, ["pve1:8006", "pve2:9000"]);
}

/// A waker that counts its wake-ups.
struct Counter(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_call_over_the_per_node_limit_waits_for_a_slot_of_that_node() {
    let core = cluster(|o| {
        o.set_api_token("root@pam!ci", "s".into());
        o.set_max_in_flight_per_node(2);
    });
    let call = || Call::get("version").unwrap();
    let mut events = Vec::new();
    let mut flows: Vec<_> = (0..3)
        .map(|_| core.call(call(), &CallOptions::default()))
        .collect();
    let a = send(&mut flows[0], at(0), &mut events);
    let b = send(&mut flows[1], at(0), &mut events);
    assert_eq!(dest(&a), dest(&b));
    // The third waits: both slots of 10.0.0.1 are taken.
    let Step::WaitForSlot { until } = flows[2].poll(at(0)) else {
        panic!("the third call did not wait");
    };
    assert!(until > at(0).mono);
    let counter = Arc::new(Counter(0.into()));
    let waker = std::task::Waker::from(counter.clone());
    assert!(flows[2].wake_on_release(&waker), "registered while full");
    assert!(matches!(flows[2].poll(at(1)), Step::WaitForSlot { .. }));
    // A call for another node's resources is not held up by 10.0.0.1's slots... once that
    // node is known; here every call goes to the first endpoint, so it waits too.
    assert_eq!(core.shared.router().unwrap().in_flight(EndpointId(0)), 2);
    flows[0].handle(a.id, ok());
    assert_eq!(
        counter.0.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "woken"
    );
    let c = send(&mut flows[2], at(2), &mut events);
    assert_eq!(dest(&c), dest(&a));
    assert_eq!(
        c.id,
        ExchangeId(0),
        "the parked exchange itself is handed out"
    );
    assert_eq!(done(&mut flows[0], at(2)).unwrap().status, 200);
    // A dropped flow gives its slot back: a new call goes out at once.
    drop(flows.remove(1));
    let mut d = core.call(call(), &CallOptions::default());
    let _ = send(&mut d, at(3), &mut events);
    assert_eq!(core.shared.router().unwrap().in_flight(EndpointId(0)), 2);
    // Answered or dropped, every slot comes back.
    drop(d);
    drop(flows);
    assert_eq!(core.shared.router().unwrap().in_flight(EndpointId(0)), 0);
}

#[test]
fn a_call_that_waits_for_a_slot_past_its_timeout_says_so_and_was_not_sent() {
    let core = cluster(|o| {
        o.set_api_token("root@pam!ci", "s".into());
        o.set_max_in_flight_per_node(1);
    });
    let mut events = Vec::new();
    let mut a = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let _held = send(&mut a, at(0), &mut events);
    let opts = CallOptions {
        timeout: Some(Duration::from_secs(2)),
        ..CallOptions::default()
    };
    let mut b = core.call(Call::post("nodes/pve1/qemu").unwrap(), &opts);
    let Step::WaitForSlot { until } = b.poll(at(0)) else {
        panic!("did not wait");
    };
    assert_eq!(until, at(2000).mono, "at most until the deadline");
    let e = done(&mut b, at(2000)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("waited for one of the 1 in-flight slots of 10.0.0.1:8006"),
        "{text}"
    );
    let t = e.transport().expect("a transport error");
    assert!(!t.failure.may_have_been_sent, "{text}");
    assert!(t.failure.timeout, "{text}");
}

#[test]
fn a_client_of_one_endpoint_has_no_per_node_limit_unless_set() {
    let one = |f: &dyn Fn(&mut ClientOptions)| {
        let mut o = ClientOptions::new("10.0.0.1");
        o.set_api_token("root@pam!ci", "s".into());
        f(&mut o);
        o
    };
    let core =
        ClientCore::from_options(one(&|_| {}).validate(TransportKind::Https).unwrap(), |rb| {
            rb
        });
    assert!(core.shared.router().is_none());
    let o = one(&|o| o.set_max_in_flight_per_node(3));
    let core = ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb);
    assert_eq!(core.shared.router().unwrap().in_flight_limit(), 3);
    let o = one(&|o| o.set_max_in_flight_per_node(0));
    let e = o.validate(TransportKind::Https).unwrap_err().to_string();
    assert!(e.contains("max_in_flight_per_node(0)"), "{e}");
    assert_eq!(
        token().shared.router().unwrap().in_flight_limit(),
        crate::cluster::DEFAULT_PER_NODE_IN_FLIGHT
    );
}
