//! Unit tests of the API-call flow, driven by hand on canned replies.

use super::*;
use crate::options::ClientOptions;
use crate::{Call, TransportKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};
use std::time::Duration;

const T0: Duration = Duration::from_secs(0x6500_0000);
const LOGIN: &[u8] = br#"{"data":{"username":"root@pam","ticket":"PVE:root@pam:65000000::c2ln","CSRFPreventionToken":"c"}}"#;
const OK: &[u8] = br#"{"data":1}"#;

fn core_with(f: impl FnOnce(&mut ClientOptions)) -> ClientCore {
    let mut o = ClientOptions::new("pve1.example.com");
    f(&mut o);
    ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb)
}

fn password() -> ClientCore {
    core_with(|o| o.set_password("root@pam", "pw".into()))
}

fn token() -> ClientCore {
    core_with(|o| o.set_api_token("root@pam!ci", "s".into()))
}

fn at(ms: u64) -> Now {
    Now::new(
        MonoTime::from_duration(Duration::from_millis(ms)),
        T0 + Duration::from_millis(ms),
    )
}

fn http(status: u16, body: &[u8]) -> Reply {
    Reply::Http(HttpReply::new(status, None, body.to_vec()))
}

fn path(e: &Exchange) -> String {
    match &e.payload {
        Payload::Http(r) => format!("{} {}", r.method(), r.uri().path()),
        other => panic!("{other:?}"),
    }
}

fn expect_send<T: std::fmt::Debug>(step: Step<T>) -> Exchange {
    match step {
        Step::Send(e) => e,
        other => panic!("expected a send, got {other:?}"),
    }
}

/// Poll past events.
fn next<F: Flow>(flow: &mut F, now: Now) -> Step<F::Output>
where
    F::Output: std::fmt::Debug,
{
    loop {
        match flow.poll(now) {
            Step::Event(_) => continue,
            other => return other,
        }
    }
}

struct CountingWaker(AtomicUsize);
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn token_call_is_one_exchange() {
    let core = token();
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let ex = expect_send(f.poll(at(0)));
    assert_eq!(path(&ex), "GET /api2/json/version");
    assert_eq!(ex.kind, ExchangeKind::Api);
    assert_eq!(ex.connect_timeout, crate::options::DEFAULT_CONNECT_TIMEOUT);
    assert!(matches!(f.poll(at(1)), Step::AwaitReplies));
    f.handle(ex.id, http(200, OK));
    let Step::Done(Ok(r)) = f.poll(at(2)) else {
        panic!()
    };
    assert_eq!(r.body, OK);
    assert_eq!(f.attempts(), 1);
}

#[test]
fn one_login_for_many_callers_and_waiters_are_woken() {
    let core = password();
    let mut a = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let mut b = core.call(Call::get("nodes").unwrap(), &CallOptions::default());
    let login = expect_send(a.poll(at(0)));
    assert_eq!(path(&login), "POST /api2/json/access/ticket");
    let Step::WaitForLogin { until } = b.poll(at(1)) else {
        panic!()
    };
    assert!(
        until > MonoTime::from_duration(Duration::from_secs(60)),
        "{until}"
    );
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    assert!(b.wake_on_release(&Waker::from(counter.clone())));
    a.handle(login.id, http(200, LOGIN));
    let call = expect_send(next(&mut a, at(2)));
    assert_eq!(path(&call), "GET /api2/json/version");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "the waiter was woken");
    assert!(
        !b.wake_on_release(&Waker::from(counter.clone())),
        "no login under way"
    );
    let call = expect_send(b.poll(at(3)));
    assert_eq!(path(&call), "GET /api2/json/nodes");
    let Payload::Http(req) = &call.payload else {
        panic!()
    };
    assert!(req.headers().get("cookie").is_some());
}

#[test]
fn a_dropped_flow_releases_its_login_lease() {
    let core = password();
    let mut a = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let _login = expect_send(a.poll(at(0)));
    let mut b = core.call(Call::get("nodes").unwrap(), &CallOptions::default());
    assert!(matches!(b.poll(at(1)), Step::WaitForLogin { .. }));
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    assert!(b.wake_on_release(&Waker::from(counter.clone())));
    drop(a);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    let login = expect_send(b.poll(at(2)));
    assert_eq!(path(&login), "POST /api2/json/access/ticket");
}

#[test]
fn a_forgotten_lease_runs_out() {
    let core = password();
    let mut a = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let _login = expect_send(a.poll(at(0)));
    let mut b = core.call(Call::get("nodes").unwrap(), &CallOptions::default());
    let Step::WaitForLogin { until } = b.poll(at(1)) else {
        panic!()
    };
    // `a` is never polled again (a leaked flow); at the end of its lease `b` logs in.
    let later = Now::new(until, T0 + until.as_duration());
    let login = expect_send(b.poll(later));
    assert_eq!(path(&login), "POST /api2/json/access/ticket");
    std::mem::forget(a);
}

#[test]
fn second_factor_is_a_step_and_is_never_retried() {
    let core = password();
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let login = expect_send(f.poll(at(0)));
    let half = br#"{"data":{"username":"root@pam","NeedTFA":1,"CSRFPreventionToken":"x","ticket":"PVE:!tfa!%7B%22totp%22%3Atrue%7D:65000000::aGFsZg=="}}"#;
    f.handle(login.id, http(200, half));
    let Step::SecondFactor(challenge) = f.poll(at(1)) else {
        panic!()
    };
    assert!(challenge.offers_totp());
    f.answer_second_factor(Ok(crate::auth::SecondFactor::totp("123456")));
    let tfa = expect_send(f.poll(at(2)));
    assert_eq!(path(&tfa), "POST /api2/json/access/ticket");
    f.handle(tfa.id, http(401, b"{}"));
    let Step::Done(Err(e)) = f.poll(at(3)) else {
        panic!()
    };
    assert!(
        e.to_string().contains("second factor")
            || e.api().is_some()
            || matches!(e, crate::Error::Auth(_)),
        "{e}"
    );
    // The next call logs in again from the start (the lease was released).
    let mut g = core.call(Call::get("version").unwrap(), &CallOptions::default());
    assert_eq!(
        path(&expect_send(g.poll(at(4)))),
        "POST /api2/json/access/ticket"
    );
}

#[test]
fn no_answer_to_the_second_factor_fails_the_login() {
    let core = password();
    let mut f = core.authenticate();
    let login = expect_send(f.poll(at(0)));
    let half = br#"{"data":{"username":"root@pam","NeedTFA":1,"CSRFPreventionToken":"x","ticket":"PVE:!tfa!%7B%22totp%22%3Atrue%7D:65000000::aGFsZg=="}}"#;
    f.handle(login.id, http(200, half));
    assert!(matches!(f.poll(at(1)), Step::SecondFactor(_)));
    f.answer_second_factor(Err(crate::auth::AuthError::SecondFactorRequired));
    assert!(matches!(
        f.poll(at(2)),
        Step::Done(Err(crate::Error::Auth(_)))
    ));
}

#[test]
fn never_sent_get_is_retried_after_backoff() {
    let core = token();
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let ex = expect_send(f.poll(at(0)));
    f.handle(
        ex.id,
        Reply::Failed(TransportFailure::not_sent("connection refused")),
    );
    let Step::Event(Event::Retrying {
        attempts: 1, after, ..
    }) = f.poll(at(5))
    else {
        panic!()
    };
    assert_eq!(after, Duration::from_millis(100));
    let Step::SleepUntil(t) = f.poll(at(5)) else {
        panic!()
    };
    assert_eq!(t, MonoTime::from_duration(Duration::from_millis(105)));
    assert!(matches!(f.poll(at(50)), Step::SleepUntil(_)));
    let ex = expect_send(f.poll(at(105)));
    f.handle(ex.id, http(200, OK));
    assert!(matches!(f.poll(at(106)), Step::Done(Ok(_))));
    assert_eq!(f.attempts(), 2);
}

#[test]
fn permanent_failures_are_never_retried() {
    let core = token();
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let ex = expect_send(f.poll(at(0)));
    f.handle(
        ex.id,
        Reply::Failed(TransportFailure::not_sent("certificate does not match the pin").permanent()),
    );
    let Step::Done(Err(e)) = f.poll(at(1)) else {
        panic!()
    };
    let t = e.transport().unwrap();
    assert_eq!(t.attempts, 1);
    assert!(t.failure.permanent);
    assert_eq!(
        e.to_string(),
        "transport error (the request was not sent): GET /version on pve1.example.com:8006: \
         certificate does not match the pin (1 attempt in 0.00 s)"
    );
}

#[test]
fn a_write_that_may_have_been_sent_is_not_replayed() {
    let core = token();
    let mut f = core.call(Call::post("nodes").unwrap(), &CallOptions::default());
    let ex = expect_send(f.poll(at(0)));
    f.handle(
        ex.id,
        Reply::Failed(TransportFailure::maybe_sent("connection reset")),
    );
    let Step::Done(Err(e)) = f.poll(at(1)) else {
        panic!()
    };
    assert!(e.transport().unwrap().failure.may_have_been_sent);
}

/// A write answered 596 (pveproxy's forwarding may have delivered it, or timed out while the
/// node runs it) is sent once and its answer is the result; a 595 (never reached the node)
/// is sent again, and a GET answered 596 too.
#[test]
fn a_write_answered_596_is_sent_once_595_and_a_get_are_retried() {
    let core = token();
    for call in [
        Call::post(("nodes", "pve2", "qemu")).unwrap(),
        Call::put(("nodes", "pve2", "qemu", 100, "config")).unwrap(),
        Call::delete(("nodes", "pve2", "qemu", 100)).unwrap(),
    ] {
        let mut f = core.call(call.clone(), &CallOptions::default());
        let ex = expect_send(f.poll(at(0)));
        f.handle(ex.id, http(596, br#"{"data":null}"#));
        let Step::Done(Ok(r)) = f.poll(at(1)) else {
            panic!("{call:?}")
        };
        assert_eq!(r.status, 596);
        assert_eq!(f.attempts(), 1, "{call:?}");

        let mut f = core.call(call.clone(), &CallOptions::default());
        let ex = expect_send(f.poll(at(0)));
        f.handle(ex.id, http(595, br#"{"data":null}"#));
        assert!(matches!(next(&mut f, at(1)), Step::SleepUntil(_)));
        let ex = expect_send(next(&mut f, at(200)));
        f.handle(ex.id, http(200, OK));
        assert!(matches!(f.poll(at(201)), Step::Done(Ok(_))));
        assert_eq!(f.attempts(), 2, "{call:?}");
    }
    let mut f = core.call(
        Call::get(("nodes", "pve2", "status")).unwrap(),
        &CallOptions::default(),
    );
    let ex = expect_send(f.poll(at(0)));
    f.handle(ex.id, http(596, br#"{"data":null}"#));
    assert!(matches!(next(&mut f, at(1)), Step::SleepUntil(_)));
    let ex = expect_send(next(&mut f, at(200)));
    f.handle(ex.id, http(200, OK));
    assert!(matches!(f.poll(at(201)), Step::Done(Ok(_))));
    assert_eq!(f.attempts(), 2);
}

#[test]
fn relogin_once_after_401() {
    let core = password();
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let login = expect_send(f.poll(at(0)));
    f.handle(login.id, http(200, LOGIN));
    let call = expect_send(next(&mut f, at(1)));
    f.handle(call.id, http(401, b""));
    assert!(matches!(f.poll(at(2)), Step::Event(Event::Relogin)));
    let login = expect_send(next(&mut f, at(2)));
    assert_eq!(path(&login), "POST /api2/json/access/ticket");
    f.handle(login.id, http(200, LOGIN));
    let call = expect_send(next(&mut f, at(3)));
    f.handle(call.id, http(401, b""));
    // Only once: the second 401 is the answer.
    let Step::Done(Ok(r)) = next(&mut f, at(4)) else {
        panic!()
    };
    assert_eq!(r.status, 401);
}

#[test]
fn the_deadline_covers_attempts_and_backoff() {
    let core = token();
    let opts = CallOptions::default().timeout(Duration::from_millis(150));
    let mut f = core.call(Call::get("version").unwrap(), &opts);
    let ex = expect_send(f.poll(at(1000)));
    assert_eq!(
        ex.read_timeout,
        Duration::from_millis(150),
        "cut to the deadline"
    );
    assert_eq!(
        ex.deadline,
        Some(MonoTime::from_duration(Duration::from_millis(1150)))
    );
    f.handle(ex.id, Reply::Failed(TransportFailure::not_sent("refused")));
    let Step::SleepUntil(t) = next(&mut f, at(1010)) else {
        panic!()
    };
    assert_eq!(t, MonoTime::from_duration(Duration::from_millis(1110)));
    let ex = expect_send(next(&mut f, at(1110)));
    assert_eq!(ex.read_timeout, Duration::from_millis(40));
    f.handle(ex.id, Reply::Failed(TransportFailure::not_sent("refused")));
    // The next backoff (200 ms) would pass the deadline: give up now, saying so.
    let Step::Done(Err(e)) = next(&mut f, at(1120)) else {
        panic!()
    };
    let t = e.transport().unwrap();
    assert_eq!(t.attempts, 2);
    assert_eq!(t.elapsed, Duration::from_millis(120));
    assert!(e.to_string().contains("2 attempts in 0.12 s"), "{e}");
}

#[test]
fn max_attempts_one_sends_once() {
    let core = core_with(|o| {
        o.set_api_token("root@pam!ci", "s".into());
        o.set_max_attempts(1);
    });
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let ex = expect_send(f.poll(at(0)));
    f.handle(ex.id, http(595, b""));
    let Step::Done(Ok(r)) = f.poll(at(1)) else {
        panic!()
    };
    assert_eq!(r.status, 595);
    // Per call, too.
    let mut f = token().call(
        Call::get("version").unwrap(),
        &CallOptions::default().without_retries(),
    );
    let ex = expect_send(f.poll(at(0)));
    f.handle(ex.id, Reply::Failed(TransportFailure::not_sent("refused")));
    assert!(matches!(f.poll(at(1)), Step::Done(Err(_))));
}

#[test]
fn renewal_is_single_flight_and_a_failed_one_keeps_the_ticket() {
    let core = password();
    let mut f = core.authenticate();
    let login = expect_send(f.poll(at(0)));
    f.handle(login.id, http(200, LOGIN));
    assert!(matches!(next(&mut f, at(1)), Step::Done(Ok(_))));
    // In the ticket's last hour: one caller renews, the other goes on with the ticket.
    let late = 3700 * 1000;
    let mut a = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let mut b = core.call(Call::get("nodes").unwrap(), &CallOptions::default());
    let renewal = expect_send(a.poll(at(late)));
    let Payload::Http(req) = &renewal.payload else {
        panic!()
    };
    assert_eq!(req.uri().path(), "/api2/json/access/ticket");
    assert_eq!(path(&expect_send(b.poll(at(late)))), "GET /api2/json/nodes");
    a.handle(
        renewal.id,
        Reply::Failed(TransportFailure::not_sent("refused")),
    );
    // A failed renewal: the call goes out with the old ticket, no second renewal.
    assert_eq!(
        path(&expect_send(next(&mut a, at(late + 1)))),
        "GET /api2/json/version"
    );
    // Dropping a renewing flow releases the claim.
    let mut c = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let renewal = expect_send(c.poll(at(late + 2)));
    assert_eq!(path(&renewal), "POST /api2/json/access/ticket");
    drop(c);
    let mut d = core.call(Call::get("version").unwrap(), &CallOptions::default());
    assert_eq!(
        path(&expect_send(d.poll(at(late + 3)))),
        "POST /api2/json/access/ticket"
    );
}

#[test]
fn flows_are_send_and_static() {
    fn check<T: Send + 'static>() {}
    check::<ApiCall>();
    check::<Authenticate>();
    check::<ClientCore>();
}

#[test]
fn a_prepared_second_factor_answers_without_asking_and_events_pass_on() {
    let core = core_with(|o| {
        o.set_password("root@pam", "pw".into());
        o.set_second_factor(crate::auth::SecondFactor::totp("123456"));
    });
    let mut f = core.authenticate();
    let mut events = Vec::new();
    let IoStep::Send(login) = next_io(&mut f, at(0), &mut |e| events.push(e)) else {
        panic!()
    };
    let half = br#"{"data":{"username":"root@pam","NeedTFA":1,"CSRFPreventionToken":"x","ticket":"PVE:!tfa!%7B%22totp%22%3Atrue%7D:65000000::aGFsZg=="}}"#;
    f.handle(login.id, http(200, half));
    let IoStep::Send(tfa) = next_io(&mut f, at(1), &mut |e| events.push(e)) else {
        panic!()
    };
    let Payload::Http(req) = &tfa.payload else {
        panic!()
    };
    assert!(req.body().ends_with(b"password=totp%3A123456"));
    f.handle(tfa.id, http(200, LOGIN));
    let IoStep::Done(Ok(_)) = next_io(&mut f, at(2), &mut |e| events.push(e)) else {
        panic!()
    };
    assert_eq!(
        events,
        [Event::LoggedIn {
            user: "root@pam".into()
        }]
    );
    // Without one, the driver is asked; refusing fails the login.
    let core = password();
    let mut f = core.authenticate();
    let IoStep::Send(login) = next_io(&mut f, at(0), &mut |_| {}) else {
        panic!()
    };
    f.handle(login.id, http(200, half));
    let IoStep::SecondFactor(challenge) = next_io(&mut f, at(1), &mut |_| {}) else {
        panic!()
    };
    assert!(challenge.offers_totp());
    f.answer_second_factor(Err(crate::auth::AuthError::SecondFactorRequired));
    assert!(matches!(
        next_io(&mut f, at(2), &mut |_| {}),
        IoStep::Done(Err(crate::Error::Auth(
            crate::auth::AuthError::SecondFactorRequired
        )))
    ));
}

const UPID_A: &str = "UPID:pve1:00000001:00000001:65000000:qmstart:100:root@pam:";
const UPID_B: &str = "UPID:pve2:00000002:00000002:65000000:vzdump:101:root@pam:";

fn status(state: &str) -> Reply {
    let body = match state {
        "running" => r#"{"data":{"status":"running"}}"#.to_owned(),
        exit => format!(r#"{{"data":{{"status":"stopped","exitstatus":"{exit}"}}}}"#),
    };
    http(200, body.as_bytes())
}

#[test]
fn wait_task_polls_until_the_task_stops_and_reports_statuses() {
    let core = token();
    let mut f = core.wait_task(UPID_A.parse().unwrap(), crate::task::WaitOptions::default());
    let ex = expect_send(f.poll(at(0)));
    let p = path(&ex);
    assert!(
        p.starts_with("GET /api2/json/nodes/pve1/tasks/UPID:pve1:") && p.ends_with("/status"),
        "{p}"
    );
    f.handle(ex.id, status("running"));
    let Step::Event(Event::TaskStatus(s)) = f.poll(at(1)) else {
        panic!()
    };
    assert!(s.is_running());
    let Step::SleepUntil(t) = f.poll(at(1)) else {
        panic!()
    };
    assert_eq!(t, MonoTime::from_duration(Duration::from_millis(251)));
    let ex = expect_send(f.poll(at(251)));
    f.handle(ex.id, status("WARNINGS: 2"));
    assert!(matches!(f.poll(at(252)), Step::Event(Event::TaskStatus(_))));
    let Step::Done(Ok(outcome)) = f.poll(at(252)) else {
        panic!()
    };
    assert_eq!(outcome, crate::task::TaskOutcome::Warnings(2));
}

/// A node's task list holding `entries` (UPID, status text; `RUNNING` for a running task).
fn listing(entries: &[(&str, &str)]) -> Reply {
    let items: Vec<String> = entries
        .iter()
        .map(|(u, s)| match *s {
            "RUNNING" => format!(r#"{{"upid":"{u}","status":"RUNNING"}}"#),
            exit => format!(r#"{{"upid":"{u}","endtime":1700000000,"status":"{exit}"}}"#),
        })
        .collect();
    let body = format!(
        r#"{{"data":[{}],"total":{}}}"#,
        items.join(","),
        entries.len()
    );
    http(200, body.as_bytes())
}

#[test]
fn wait_tasks_lists_each_node_once_per_tick() {
    let core = token();
    let upids: Vec<crate::Upid> = [UPID_A, UPID_B]
        .iter()
        .map(|u| u.parse().unwrap())
        .collect();
    let mut f = core.wait_tasks(
        &upids,
        crate::task::WaitOptions::default().with_log_tail_lines(0),
    );
    let a = expect_send(f.poll(at(0)));
    let b = expect_send(f.poll(at(0)));
    assert_ne!(a.id, b.id);
    assert_eq!(path(&a), "GET /api2/json/nodes/pve1/tasks");
    assert_eq!(path(&b), "GET /api2/json/nodes/pve2/tasks");
    let Payload::Http(req) = &a.payload else {
        panic!()
    };
    assert_eq!(
        req.uri().query(),
        Some("source=all&since=1694498816&start=0&limit=500")
    );
    assert!(matches!(f.poll(at(0)), Step::AwaitReplies));
    // Answers in any order.
    f.handle(b.id, listing(&[(UPID_B, "OK")]));
    let Step::Event(Event::TaskFinished {
        index: 1,
        finished: 1,
        total: 2,
        ..
    }) = f.poll(at(1))
    else {
        panic!()
    };
    assert!(matches!(f.poll(at(1)), Step::AwaitReplies));
    f.handle(a.id, listing(&[(UPID_A, "RUNNING")]));
    assert!(matches!(
        f.poll(at(2)),
        Step::Event(Event::TaskStarted { index: 0, total: 2 })
    ));
    // The next tick lists pve1 only (pve2 has nothing left to watch), after 250 ms.
    let Step::SleepUntil(t) = f.poll(at(2)) else {
        panic!()
    };
    assert_eq!(t, MonoTime::from_duration(Duration::from_millis(252)));
    let a = expect_send(f.poll(at(252)));
    assert_eq!(path(&a), "GET /api2/json/nodes/pve1/tasks");
    assert!(matches!(f.poll(at(252)), Step::AwaitReplies));
    f.handle(a.id, listing(&[(UPID_A, "some error")]));
    assert!(matches!(
        f.poll(at(253)),
        Step::Event(Event::TaskFinished {
            index: 0,
            finished: 2,
            ..
        })
    ));
    let Step::Done(Ok(outcomes)) = f.poll(at(253)) else {
        panic!()
    };
    assert!(
        matches!(outcomes[0], crate::task::TaskOutcome::Failed { .. }),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], crate::task::TaskOutcome::Ok);
}

#[test]
fn a_wait_logs_in_once_for_all_its_requests() {
    let core = password();
    let upids: Vec<crate::Upid> = [UPID_A, UPID_B]
        .iter()
        .map(|u| u.parse().unwrap())
        .collect();
    let mut f = core.wait_tasks(&upids, crate::task::WaitOptions::default());
    let login = expect_send(f.poll(at(0)));
    assert_eq!(path(&login), "POST /api2/json/access/ticket");
    // The second listing waits for that login.
    assert!(matches!(f.poll(at(0)), Step::AwaitReplies));
    f.handle(login.id, http(200, LOGIN));
    let mut sent = Vec::new();
    loop {
        match f.poll(at(1)) {
            Step::Send(e) => sent.push(path(&e)),
            Step::Event(_) => {}
            Step::AwaitReplies | Step::WaitForLogin { .. } | Step::SleepUntil(_) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|p| p.ends_with("/tasks")), "{sent:?}");
}

#[test]
fn read_log_pages_and_windows() {
    let core = token();
    let page = |from: u64, n: u64, total: u64| {
        let lines: Vec<String> = (from..from + n)
            .map(|i| format!(r#"{{"n":{i},"t":"line {i}"}}"#))
            .collect();
        http(
            200,
            format!(r#"{{"data":[{}],"total":{total}}}"#, lines.join(",")).as_bytes(),
        )
    };
    // Whole log of 600 lines: two pages.
    let mut f = core.read_log(UPID_A.parse().unwrap(), None);
    let ex = expect_send(f.poll(at(0)));
    let Payload::Http(req) = &ex.payload else {
        panic!()
    };
    assert_eq!(req.uri().query(), Some("start=0&limit=500"));
    f.handle(ex.id, page(1, 500, 600));
    let ex = expect_send(f.poll(at(1)));
    let Payload::Http(req) = &ex.payload else {
        panic!()
    };
    assert_eq!(req.uri().query(), Some("start=500&limit=500"));
    f.handle(ex.id, page(501, 100, 600));
    let Step::Done(Ok(lines)) = f.poll(at(2)) else {
        panic!()
    };
    assert_eq!(lines.len(), 600);
    assert_eq!((lines[0].n, lines[599].n), (1, 600));
    // A window of 20 lines after line 10.
    let mut f = core.read_log(UPID_A.parse().unwrap(), Some((10, 20)));
    let ex = expect_send(f.poll(at(0)));
    let Payload::Http(req) = &ex.payload else {
        panic!()
    };
    assert_eq!(req.uri().query(), Some("start=10&limit=20"));
    f.handle(ex.id, page(11, 20, 600));
    let Step::Done(Ok(lines)) = f.poll(at(1)) else {
        panic!()
    };
    assert_eq!((lines.len(), lines[0].n), (20, 11));
    // An error answer ends the read with the API error.
    let mut f = core.read_log(UPID_A.parse().unwrap(), None);
    let ex = expect_send(f.poll(at(0)));
    f.handle(ex.id, http(403, br#"{"data":null}"#));
    let Step::Done(Err(e)) = f.poll(at(1)) else {
        panic!()
    };
    assert_eq!(e.api().unwrap().status, 403);
}

#[test]
fn follow_log_reports_new_lines_once() {
    let core = token();
    let mut f = core.follow_log(UPID_A.parse().unwrap(), crate::task::WaitOptions::default());
    let mut lines_seen = Vec::new();
    let mut now = 0;
    let mut log_pages = 0;
    let outcome = loop {
        match f.poll(at(now)) {
            Step::Send(ex) => {
                let p = path(&ex);
                let reply = if p.ends_with("/log") {
                    log_pages += 1;
                    match log_pages {
                        1 => http(
                            200,
                            br#"{"data":[{"n":1,"t":"a"},{"n":2,"t":"b"}],"total":2}"#,
                        ),
                        _ => http(
                            200,
                            br#"{"data":[{"n":2,"t":"b"},{"n":3,"t":"c"}],"total":3}"#,
                        ),
                    }
                } else if log_pages < 2 {
                    status("running")
                } else {
                    status("OK")
                };
                f.handle(ex.id, reply);
            }
            Step::Event(Event::LogLines(l)) => lines_seen.extend(l.into_iter().map(|l| l.t)),
            Step::Event(_) => {}
            Step::SleepUntil(t) => now = t.as_duration().as_millis() as u64,
            Step::Done(r) => break r.unwrap(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(lines_seen, ["a", "b", "c"]);
    assert_eq!(outcome, crate::task::TaskOutcome::Ok);
}

#[test]
fn a_client_clock_far_ahead_logs_in_once_and_uses_the_new_ticket() {
    let core = password();
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    // The client's clock is 3 hours ahead of the server's: every ticket looks expired.
    let ahead = Now::new(MonoTime::ZERO, T0 + Duration::from_secs(3 * 3600));
    let login = expect_send(f.poll(ahead));
    f.handle(login.id, http(200, LOGIN));
    let call = expect_send(next(&mut f, ahead));
    assert_eq!(path(&call), "GET /api2/json/version");
    f.handle(call.id, http(200, OK));
    assert!(matches!(f.poll(ahead), Step::Done(Ok(_))));
}

#[test]
fn a_reply_debug_shows_no_body() {
    let r = HttpReply::new(200, None, LOGIN.to_vec());
    let shown = format!("{r:?}");
    assert!(
        !shown.contains("c2ln") && !shown.contains("CSRF"),
        "{shown}"
    );
    assert!(shown.contains(&format!("{} bytes", LOGIN.len())), "{shown}");
}

#[test]
fn an_exchange_outside_a_flow_names_its_request() {
    let uri: http::Uri = "https://user:pw@mirror.example:8443/iso/SHA256SUMS"
        .parse()
        .unwrap();
    let e = TransportFailure::not_sent("connection refused").into_error(
        &http::Method::GET,
        &uri,
        Duration::from_millis(20),
    );
    let shown = e.to_string();
    assert_eq!(
        shown,
        "transport error (the request was not sent): GET /iso/SHA256SUMS on \
         mirror.example:8443: connection refused (1 attempt in 0.02 s)"
    );
    let refused = TransportFailure::refused(crate::ProtocolError::BodyTooLarge {
        size: 11,
        limit: 10,
    })
    .into_error(&http::Method::POST, &uri, Duration::ZERO);
    assert!(matches!(
        refused,
        crate::Error::Protocol(crate::ProtocolError::BodyTooLarge { .. })
    ));
}

/// PDM's HttpOnly login (proxmox-auth-api `create_ticket_http_only`): the ticket comes only as
/// `Set-Cookie: __Host-PDMAuthCookie=…`, the body has `username`, `CSRFPreventionToken` and
/// `ticket-info`; the calls after it carry the cookie (and the CSRF token on writes); a
/// renewal reads the new ticket from the cookie too.
#[test]
fn pdm_takes_its_ticket_from_the_httponly_cookie() {
    let core = core_with(|o| {
        o.set_service(crate::Service::Pdm);
        o.set_password("root@pam", "pw".into());
    });
    let cookie_reply = |ticket: &str| {
        let body = br#"{"data":{"username":"root@pam","CSRFPreventionToken":"65000000:Y3NyZg","ticket-info":"PDM:root@pam:65000000"}}"#;
        let mut r = HttpReply::new(200, None, body.to_vec());
        r.headers.insert(
            http::header::SET_COOKIE,
            http::HeaderValue::from_str(&format!(
                "__Host-PDMAuthCookie={ticket}; Expires=Thu, 01 Jan 2037 00:00:00 GMT; Secure; SameSite=Lax; HttpOnly; Path=/;"
            ))
            .unwrap(),
        );
        Reply::Http(r)
    };
    let mut f = core.call(
        Call::post("remotes/remote").unwrap(),
        &CallOptions::default(),
    );
    let login = expect_send(f.poll(at(0)));
    assert_eq!(path(&login), "POST /api2/json/access/ticket");
    let Payload::Http(req) = &login.payload else {
        panic!()
    };
    assert_eq!(req.uri().port_u16(), Some(8443), "{}", req.uri());
    f.handle(login.id, cookie_reply("PDM:root@pam:65000000::c2ln"));
    assert!(matches!(f.poll(at(1)), Step::Event(Event::LoggedIn { .. })));
    let call = expect_send(f.poll(at(1)));
    let Payload::Http(req) = &call.payload else {
        panic!()
    };
    assert_eq!(
        req.headers().get(http::header::COOKIE).unwrap(),
        "__Host-PDMAuthCookie=PDM:root@pam:65000000::c2ln"
    );
    assert_eq!(
        req.headers().get("CSRFPreventionToken").unwrap(),
        "65000000:Y3NyZg"
    );
    // A login answer without the cookie (and no ticket in the body) is a clear error.
    let core = core_with(|o| {
        o.set_service(crate::Service::Pdm);
        o.set_password("root@pam", "pw".into());
    });
    let mut f = core.call(Call::get("version").unwrap(), &CallOptions::default());
    let login = expect_send(f.poll(at(0)));
    f.handle(
        login.id,
        http(
            200,
            br#"{"data":{"username":"root@pam","CSRFPreventionToken":"x"}}"#,
        ),
    );
    let Step::Done(Err(e)) = f.poll(at(1)) else {
        panic!()
    };
    assert!(e.to_string().contains("no ticket"), "{e}");
}

/// PDM's API tokens: `Authorization: PDMAPIToken=user@realm!name:secret` (proxmox-auth-api
/// `extract_auth_data`), on port 8443.
#[test]
fn pdm_tokens_use_their_own_scheme() {
    let core = core_with(|o| {
        o.set_service(crate::Service::Pdm);
        o.set_api_token("root@pam!ci", "s".into());
    });
    let mut f = core.call(
        Call::get("remotes/remote").unwrap(),
        &CallOptions::default(),
    );
    let ex = expect_send(f.poll(at(0)));
    let Payload::Http(req) = &ex.payload else {
        panic!()
    };
    assert_eq!(
        req.headers().get(http::header::AUTHORIZATION).unwrap(),
        "PDMAPIToken=root@pam!ci:s"
    );
    assert_eq!(req.uri().port_u16(), Some(8443));
}
