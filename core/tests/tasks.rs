//! UPIDs, task status, the task waiter, task logs and the log follower: the proxmoxer vectors
//! (`upid_decode`, `task_log_decode`, `blocking_status`) plus our own behaviour.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proxmox_proto::task::log::{DEFAULT_LIMIT, decode_log};
use proxmox_proto::task::{
    Action, LogFollower, LogPage, RequestKind, SetAction, TaskOutcome, TaskRequest, TaskStatus,
    TaskWaiter, WaitError, WaitOptions, WaiterSet,
};
use proxmox_proto::upid::{UpidError, UpidField, UpidFlavor};
use proxmox_proto::{ApiError, Error, Method, Upid};
use serde_json::{Value, json};
use std::time::Duration;

fn vectors(text: &str) -> Vec<Value> {
    serde_json::from_str(text).unwrap()
}

fn ours(v: &Value) -> &str {
    v["ours"].as_str().unwrap()
}

const T0: Duration = Duration::from_secs(1_700_000_000);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- upid_decode ------------------------------------------------------------------------------

#[test]
fn upid_decode_vectors() {
    let vs = vectors(include_str!("data/upid_decode.json"));
    assert_eq!(vs.len(), 9);
    for v in &vs {
        let name = v["name"].as_str().unwrap();
        let input = v["input"].as_str().unwrap();
        let exp = &v["expected"];
        if exp.get("raises").is_some() {
            assert_eq!(ours(v), "same", "{name}");
            let err = Upid::parse(input).unwrap_err();
            let want = match name {
                "invalid_length" => None,
                "invalid_start" => Some(UpidField::Prefix),
                "non_hex_pid" => Some(UpidField::Pid),
                other => panic!("unhandled error vector {other}"),
            };
            assert_eq!(err.field(), want, "{name}: {err}");
            if name == "invalid_length" {
                assert_eq!(err, UpidError::FieldCount { found: 8 });
            }
            continue;
        }
        let u = Upid::parse(input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(u.to_string(), exp["upid"].as_str().unwrap(), "{name}");
        assert_eq!(u.as_str(), input);
        assert_eq!(u.flavor(), UpidFlavor::Pve);
        assert_eq!(u.node(), exp["node"].as_str().unwrap(), "{name}");
        assert_eq!(u64::from(u.pid()), exp["pid"].as_u64().unwrap(), "{name}");
        assert_eq!(u.pstart(), exp["pstart"].as_u64().unwrap(), "{name}");
        assert_eq!(u.start_time(), exp["starttime"].as_u64().unwrap(), "{name}");
        assert_eq!(u.task_type(), exp["type"].as_str().unwrap(), "{name}");
        assert_eq!(u.id(), exp["id"].as_str().unwrap(), "{name}");
        assert_eq!(u.trailing(), exp["comment"].as_str().unwrap(), "{name}");
        assert_eq!(
            u.user_without_token(),
            exp["user"].as_str().unwrap(),
            "{name}"
        );
        match ours(v) {
            "same" => assert_eq!(u.user(), exp["user"].as_str().unwrap(), "{name}"),
            d => {
                assert_eq!(name, "token_user_stripped");
                assert!(d.contains("'root@pam!mytoken'"), "{d}");
                assert_eq!(u.user(), "root@pam!mytoken");
                assert_eq!(u.token_name(), Some("mytoken"));
            }
        }
        // serde: a string, both ways.
        let j = serde_json::to_value(&u).unwrap();
        assert_eq!(j, json!(input));
        assert_eq!(serde_json::from_value::<Upid>(j).unwrap(), u);
    }
}

// ---- task_log_decode --------------------------------------------------------------------------

#[test]
fn task_log_decode_vectors() {
    let vs = vectors(include_str!("data/task_log_decode.json"));
    assert_eq!(vs.len(), 5);
    for v in &vs {
        let name = v["name"].as_str().unwrap();
        let text = decode_log(&v["input"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        match ours(v) {
            "same" => assert_eq!(text, v["expected"].as_str().unwrap(), "{name}"),
            d => {
                assert_eq!(name, "n_not_starting_at_1_out_of_range");
                assert!(d.contains(r"'x\ny\nz'"), "{d}");
                assert_eq!(text, "x\ny\nz");
                let page = LogPage::from_data(&v["input"], None).unwrap();
                assert_eq!((page.first_n(), page.last_n()), (Some(2), Some(4)));
            }
        }
    }
}

// ---- a driver for the waiter ------------------------------------------------------------------

enum Reply {
    Status(Value),
    Log(Value),
    Api(u16, &'static str),
    Transport(bool),
}

#[derive(Debug)]
struct Run {
    outcome: TaskOutcome,
    requests: Vec<(Duration, TaskRequest)>,
    sleeps: Vec<Duration>,
    end: Duration,
}

/// Drive a waiter on a fake clock; the server answers instantly.
fn drive(
    waiter: &mut TaskWaiter,
    start: Duration,
    mut reply: impl FnMut(&TaskRequest, usize) -> Reply,
) -> Run {
    let mut now = start;
    let mut requests = Vec::new();
    let mut sleeps = Vec::new();
    for _ in 0..1000 {
        match waiter.poll(now) {
            Action::Send(req) => {
                assert_eq!(req.call.method, Method::Get);
                let r = reply(&req, requests.len());
                requests.push((now, req.clone()));
                match r {
                    Reply::Status(v) => {
                        assert_eq!(req.kind, RequestKind::Status);
                        waiter.handle_status(now, TaskStatus::from_data(&v).unwrap());
                    }
                    Reply::Log(v) => {
                        assert_eq!(req.kind, RequestKind::Log);
                        waiter.handle_log(now, LogPage::from_envelope(&v).unwrap());
                    }
                    Reply::Api(status, reason) => {
                        waiter.handle_error(now, Error::from(ApiError::new(status, reason, None)))
                    }
                    Reply::Transport(retryable) => {
                        waiter.handle_transport_error(now, "connection refused", retryable)
                    }
                }
            }
            Action::SleepUntil(t) => {
                assert!(t > now, "sleep into the past");
                sleeps.push(t);
                now = t;
            }
            Action::Done(outcome) => {
                assert_eq!(waiter.poll(now + ms(1)), Action::Done(outcome.clone()));
                assert_eq!(waiter.outcome(), Some(&outcome));
                return Run {
                    outcome,
                    requests,
                    sleeps,
                    end: now,
                };
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("waiter did not finish");
}

fn upid(s: &str) -> Upid {
    s.parse().unwrap()
}

fn status_path(u: &Upid) -> String {
    format!("/nodes/{}/tasks/{}/status", u.node(), u)
}

// ---- blocking_status --------------------------------------------------------------------------

#[test]
fn blocking_status_vectors() {
    let vs = vectors(include_str!("data/blocking_status.json"));
    assert_eq!(vs.len(), 5);
    let base = "https://1.2.3.4:1234/api2/json";
    for v in &vs {
        let name = v["name"].as_str().unwrap();
        let input = &v["input"];
        let exp = &v["expected"];
        match name {
            "basic_done" => {
                assert_eq!(ours(v), "same");
                let u = upid(input["task_id"].as_str().unwrap());
                let data = input["status_response_data_every_poll"].clone();
                let mut w = TaskWaiter::new(u.clone(), WaitOptions::new());
                let run = drive(&mut w, T0, |_, _| Reply::Status(data.clone()));
                assert_eq!(run.outcome, TaskOutcome::Ok);
                assert_eq!(
                    run.requests.len() as u64,
                    exp["status_get_count"].as_u64().unwrap()
                );
                let req = &run.requests[0].1;
                assert_eq!(req.call.method.to_string(), exp["request"]["method"]);
                let url = exp["request"]["url"].as_str().unwrap();
                assert_eq!(req.call.path.to_string(), url.strip_prefix(base).unwrap());
                assert!(run.sleeps.is_empty());
                // The status object comes back whole.
                let last = serde_json::to_value(w.last_status().unwrap()).unwrap();
                assert_eq!(last, exp["return"]);
            }
            "timeout" => {
                assert!(ours(v).starts_with("differs: polling backs off up to a deadline"));
                let u = upid(input["task_id"].as_str().unwrap());
                let data = input["status_response_data_every_poll"].clone();
                let url = exp["request"]["url"].as_str().unwrap();
                // timeout 0.021 s with polls starting at the vector's 0.01 s interval: the
                // schedule is 0, 0.01, then the deadline (0.021); still running -> TimedOut.
                let opts = WaitOptions::new()
                    .with_timeout(ms(21))
                    .with_intervals(ms(10), Duration::from_secs(5));
                let mut w = TaskWaiter::new(u.clone(), opts);
                let run = drive(&mut w, T0, |_, _| Reply::Status(data.clone()));
                assert_eq!(run.outcome, TaskOutcome::TimedOut);
                assert_ne!(exp["return"], json!("TimedOut")); // proxmoxer: None
                assert_eq!(run.sleeps, [T0 + ms(10), T0 + ms(21)]);
                assert_eq!(run.requests.len(), 3);
                for (_, r) in &run.requests {
                    assert_eq!(r.call.path.to_string(), url.strip_prefix(base).unwrap());
                }
                assert_eq!(w.deadline(), Some(T0 + ms(21)));
                // With the default schedule (0.25 s first wait) the deadline comes first.
                let mut w = TaskWaiter::new(u, WaitOptions::new().with_timeout(ms(21)));
                let run = drive(&mut w, T0, |_, _| Reply::Status(data.clone()));
                assert_eq!(run.outcome, TaskOutcome::TimedOut);
                assert_eq!(run.sleeps, [T0 + ms(21)]);
                assert_eq!(run.requests.len(), 2);
            }
            "invalid_upid_raises_before_polling" => {
                assert_eq!(ours(v), "same");
                // No waiter can be built without a UPID, so no request can go out.
                let e = Upid::parse(input["task_id"].as_str().unwrap()).unwrap_err();
                assert_eq!(e.field(), Some(UpidField::Prefix));
                assert_eq!(exp["status_get_count"], 0);
            }
            "sequence_running_running_stopped_sleeps_after_each_poll" => {
                assert!(ours(v).starts_with("differs: no sleep after the task stopped"));
                let u = upid(input["task_id"].as_str().unwrap());
                // The vector lists only the final answer; the name and the three requests say
                // running, running, stopped, and the expected return carries `exitstatus: OK`.
                let mut answers = vec![
                    json!({"status": "running"}),
                    json!({"status": "running"}),
                    exp["return"].clone(),
                ]
                .into_iter();
                let opts = WaitOptions::new().with_timeout(Duration::from_secs(300));
                let mut w = TaskWaiter::new(u, opts);
                let run = drive(&mut w, T0, |_, _| Reply::Status(answers.next().unwrap()));
                assert_eq!(run.outcome, TaskOutcome::Ok);
                let urls: Vec<String> = run
                    .requests
                    .iter()
                    .map(|(_, r)| r.call.path.to_string())
                    .collect();
                assert_eq!(urls, exp["request_urls"].as_array().unwrap().clone());
                // Backoff 0.25 s then 0.5 s, and no sleep after the stop.
                assert_eq!(run.sleeps, [T0 + ms(250), T0 + ms(750)]);
                assert_eq!(run.end, T0 + ms(750));
            }
            "timeout_zero_returns_none_even_if_stopped" => {
                assert!(
                    ours(v).starts_with("differs: a status that is already 'stopped' yields its")
                );
                let u = upid(input["task_id"].as_str().unwrap());
                // With the exit status the server always sends for a stopped task: Ok.
                let mut w = TaskWaiter::new(u.clone(), WaitOptions::new().with_timeout(ms(0)));
                let run = drive(&mut w, T0, |_, _| {
                    Reply::Status(json!({"status": "stopped", "exitstatus": "OK"}))
                });
                assert_eq!(run.outcome, TaskOutcome::Ok);
                assert_eq!(run.requests.len(), 1);
                assert!(run.sleeps.is_empty());
                // Literally as in the vector (no exitstatus): still one request, no sleep, and
                // the stopped task's outcome rather than a timeout; we do not call a task
                // without an exit status a success.
                let data = input["status_response_data_sequence"][0].clone();
                let mut w = TaskWaiter::new(
                    u,
                    WaitOptions::new()
                        .with_timeout(ms(0))
                        .with_log_tail_lines(0),
                );
                let run = drive(&mut w, T0, |_, _| Reply::Status(data.clone()));
                assert!(matches!(run.outcome, TaskOutcome::Failed { .. }));
                assert_eq!(run.requests.len(), 1);
                assert!(run.sleeps.is_empty());
            }
            other => panic!("unhandled vector {other}"),
        }
    }
}

// ---- waiter: our own behaviour ----------------------------------------------------------------

const U: &str = "UPID:pve1:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam!ci:";

#[test]
fn backoff_schedule_caps_at_max() {
    let mut w = TaskWaiter::new(upid(U), WaitOptions::new());
    let run = drive(&mut w, T0, |_, i| {
        Reply::Status(if i < 8 {
            json!({"status": "running"})
        } else {
            json!({"status": "stopped", "exitstatus": "WARNINGS: 2"})
        })
    });
    assert_eq!(run.outcome, TaskOutcome::Warnings(2));
    assert!(run.outcome.is_success());
    let gaps: Vec<u64> = std::iter::once(T0)
        .chain(run.sleeps.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis() as u64)
        .collect();
    assert_eq!(gaps, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
    assert_eq!(w.requests_sent(), 9);
}

#[test]
fn custom_factor_and_deadline_gets_a_last_poll() {
    let opts = WaitOptions::new()
        .with_intervals(ms(100), ms(300))
        .with_backoff_factor(1.5)
        .with_deadline(T0 + ms(700));
    let mut w = TaskWaiter::new(upid(U), opts);
    let run = drive(&mut w, T0, |_, _| {
        Reply::Status(json!({"status": "running"}))
    });
    assert_eq!(run.outcome, TaskOutcome::TimedOut);
    // 100, 150, 225, then capped by the deadline at 700.
    assert_eq!(
        run.sleeps,
        [T0 + ms(100), T0 + ms(250), T0 + ms(475), T0 + ms(700)]
    );
    assert_eq!(run.requests.last().unwrap().0, T0 + ms(700));
    assert_eq!(run.end, T0 + ms(700));
}

#[test]
fn nonsense_factor_means_fixed_interval() {
    for f in [0.0, -3.0, f64::NAN, f64::INFINITY] {
        let opts = WaitOptions::new()
            .with_backoff_factor(f)
            .with_intervals(ms(100), ms(1000))
            .with_timeout(ms(350));
        let mut w = TaskWaiter::new(upid(U), opts);
        let run = drive(&mut w, T0, |_, _| {
            Reply::Status(json!({"status": "running"}))
        });
        assert_eq!(
            run.sleeps,
            [T0 + ms(100), T0 + ms(200), T0 + ms(300), T0 + ms(350)],
            "{f}"
        );
    }
}

#[test]
fn failure_fetches_log_tail_in_two_steps_when_long() {
    let mut w = TaskWaiter::new(upid(U), WaitOptions::new());
    let run = drive(&mut w, T0, |req, i| match (i, req.kind) {
        (0, RequestKind::Status) => Reply::Status(json!({"status": "running"})),
        (1, RequestKind::Status) => {
            Reply::Status(json!({"status": "stopped", "exitstatus": "unexpected status"}))
        }
        (2, RequestKind::Log) => {
            assert_eq!(req.call.params.to_form(), "start=0&limit=20");
            let lines: Vec<Value> = (1..=20).map(|n| json!({"n": n, "t": "x"})).collect();
            Reply::Log(json!({"data": lines, "total": 100}))
        }
        (3, RequestKind::Log) => {
            assert_eq!(req.call.params.to_form(), "start=80&limit=20");
            assert!(req.call.path.to_string().ends_with(&format!("{U}/log")));
            let lines: Vec<Value> = (81..=100)
                .map(|n| json!({"n": n, "t": format!("l{n}")}))
                .collect();
            Reply::Log(json!({"data": lines, "total": 100}))
        }
        _ => panic!("unexpected request {i}"),
    });
    let TaskOutcome::Failed { message, log_tail } = run.outcome else {
        panic!("{:?}", run.outcome)
    };
    assert_eq!(message, "unexpected status");
    assert_eq!(log_tail.len(), 20);
    assert_eq!(log_tail[0].n, 81);
    assert_eq!(log_tail[19].t, "l100");
    // No sleep after the stop, not even for the log.
    assert_eq!(run.sleeps, [T0 + ms(250)]);
}

#[test]
fn short_log_without_total_is_taken_whole_and_pbs_unknown_fails() {
    let opts = WaitOptions::new().with_log_tail_lines(3);
    let mut w = TaskWaiter::new(upid(U), opts);
    let run = drive(&mut w, T0, |_, i| match i {
        0 => Reply::Status(json!({"status": "stopped", "exitstatus": "unknown"})),
        _ => Reply::Log(json!({"data": [{"n": 1, "t": "a"}, {"n": 2, "t": "b"}]})),
    });
    assert_eq!(
        run.outcome,
        TaskOutcome::Failed {
            message: "unknown".into(),
            log_tail: LogPage::from_data(&json!([{"n": 1, "t": "a"}, {"n": 2, "t": "b"}]), None)
                .unwrap()
                .lines
        }
    );
    assert_eq!(run.requests.len(), 2);
}

#[test]
fn failed_log_request_leaves_tail_empty_and_zero_tail_sends_no_log() {
    let mut w = TaskWaiter::new(upid(U), WaitOptions::new());
    let run = drive(&mut w, T0, |_, i| match i {
        0 => Reply::Status(json!({"status": "stopped", "exitstatus": "boom"})),
        _ => Reply::Api(595, "Connection refused"),
    });
    assert_eq!(
        run.outcome,
        TaskOutcome::Failed {
            message: "boom".into(),
            log_tail: vec![]
        }
    );
    assert_eq!(run.requests.len(), 2);

    let mut w = TaskWaiter::new(upid(U), WaitOptions::new().with_log_tail_lines(0));
    let run = drive(&mut w, T0, |_, _| {
        Reply::Status(json!({"status": "stopped", "exitstatus": "boom"}))
    });
    assert!(matches!(run.outcome, TaskOutcome::Failed { ref log_tail, .. } if log_tail.is_empty()));
    assert_eq!(run.requests.len(), 1);
}

#[test]
fn transient_errors_are_retried_with_backoff() {
    let mut w = TaskWaiter::new(upid(U), WaitOptions::new());
    let run = drive(&mut w, T0, |_, i| match i {
        0 => Reply::Api(595, "Connection timed out"),
        1 => Reply::Transport(true),
        2 => Reply::Api(503, "Service Unavailable"),
        _ => Reply::Status(json!({"status": "stopped", "exitstatus": "OK"})),
    });
    assert_eq!(run.outcome, TaskOutcome::Ok);
    assert_eq!(run.sleeps, [T0 + ms(250), T0 + ms(750), T0 + ms(1750)]);
}

#[test]
fn permanent_errors_end_the_wait() {
    for (reply, want_transport) in [
        (Reply::Api(400, "no such task"), false),
        (Reply::Api(403, "Permission check failed"), false),
        (Reply::Transport(false), true),
    ] {
        let mut w = TaskWaiter::new(upid(U), WaitOptions::new());
        let mut reply = Some(reply);
        let run = drive(&mut w, T0, |_, _| reply.take().unwrap());
        match run.outcome {
            TaskOutcome::Error(WaitError::Transport(m)) => {
                assert!(want_transport);
                assert_eq!(m, "connection refused");
            }
            TaskOutcome::Error(WaitError::Core(Error::Api(e))) => assert!(!want_transport, "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(run.requests.len(), 1);
    }
}

#[test]
fn transient_errors_give_up_after_the_limit_or_at_the_deadline() {
    let opts = WaitOptions::new().with_max_transient_errors(2);
    let mut w = TaskWaiter::new(upid(U), opts);
    let run = drive(&mut w, T0, |_, _| Reply::Api(596, "Broken pipe"));
    assert_eq!(run.requests.len(), 3);
    let TaskOutcome::Error(e) = &run.outcome else {
        panic!()
    };
    assert!(e.is_transient_api());
    assert!(e.to_string().contains("596"), "{e}");

    let opts = WaitOptions::new().with_timeout(ms(600));
    let mut w = TaskWaiter::new(upid(U), opts);
    let run = drive(&mut w, T0, |_, _| Reply::Transport(true));
    assert_eq!(run.sleeps, [T0 + ms(250), T0 + ms(600)]);
    assert!(matches!(
        run.outcome,
        TaskOutcome::Error(WaitError::Transport(_))
    ));

    // A success in between resets the count.
    let opts = WaitOptions::new().with_max_transient_errors(1);
    let mut w = TaskWaiter::new(upid(U), opts);
    let run = drive(&mut w, T0, |_, i| match i {
        0 | 2 => Reply::Api(595, "x"),
        1 => Reply::Status(json!({"status": "running"})),
        _ => Reply::Status(json!({"status": "stopped", "exitstatus": "OK"})),
    });
    assert_eq!(run.outcome, TaskOutcome::Ok);
}

#[test]
fn outstanding_request_and_stray_answers() {
    let mut w = TaskWaiter::new(upid(U), WaitOptions::new());
    let Action::Send(req) = w.poll(T0) else {
        panic!()
    };
    assert_eq!(req.call.path.to_string(), status_path(&upid(U)));
    assert_eq!(w.poll(T0), Action::AwaitResponse);
    assert_eq!(w.poll(T0 + ms(10_000)), Action::AwaitResponse);
    // A log page nobody asked for is ignored.
    w.handle_log(T0, LogPage::default());
    assert_eq!(w.poll(T0), Action::AwaitResponse);
    w.handle_status(
        T0,
        TaskStatus::from_data(&json!({"status": "running"})).unwrap(),
    );
    assert_eq!(w.poll(T0 + ms(100)), Action::SleepUntil(T0 + ms(250)));
    // Stray answers while sleeping are ignored too.
    w.handle_status(
        T0,
        TaskStatus::from_data(&json!({"status": "stopped", "exitstatus": "OK"})).unwrap(),
    );
    w.handle_error(T0, Error::from(ApiError::new(500, "x", None)));
    assert_eq!(w.poll(T0 + ms(100)), Action::SleepUntil(T0 + ms(250)));
    assert!(!w.is_done());
    assert!(matches!(w.poll(T0 + ms(300)), Action::Send(_)));
}

#[test]
fn cancel_is_a_delete_on_the_upid() {
    let u = upid(U);
    let c = u.cancel_call().unwrap();
    assert_eq!(c.method, Method::Delete);
    assert_eq!(c.path.to_string(), format!("/nodes/pve1/tasks/{U}"));
    assert!(c.params.is_empty());
    let pbs = upid(
        r"UPID:backup:00000A1B:0001C2D3:0000000F:65000000:verify:store1\x2dvm\x2d100:root@pam:",
    );
    assert_eq!(
        pbs.status_call().unwrap().path.to_string(),
        r"/nodes/backup/tasks/UPID:backup:00000A1B:0001C2D3:0000000F:65000000:verify:store1%5Cx2dvm%5Cx2d100:root@pam:/status"
    );
    assert_eq!(pbs.status_call().unwrap().path.segments()[3], pbs.as_str());
}

// ---- waiter set -------------------------------------------------------------------------------

#[test]
fn waiter_set_drives_many() {
    let mut set = WaiterSet::new();
    assert_eq!(set.poll(T0), SetAction::AllDone);
    let a = set.push_upid(upid(U), WaitOptions::new());
    let b = set.push_upid(
        upid("UPID:pve2:00000002:00000002:65000000:vzdump:101:root@pam:"),
        WaitOptions::new().with_intervals(ms(100), ms(100)),
    );
    let c = set.push_upid(
        upid("UPID:pve3:00000003:00000003:65000000:vzdump:102:root@pam:"),
        WaitOptions::new().with_timeout(ms(1000)),
    );
    assert_eq!(set.len(), 3);
    // Round one: three status requests, to three nodes.
    let mut sent = vec![];
    loop {
        match set.poll(T0) {
            SetAction::Send { index, request } => sent.push((index, request)),
            SetAction::AwaitResponses => break,
            other => panic!("{other:?}"),
        }
    }
    let nodes: Vec<String> = sent
        .iter()
        .map(|(_, r)| r.call.path.segments()[1].clone())
        .collect();
    assert_eq!(nodes, ["pve1", "pve2", "pve3"]);
    let running = || TaskStatus::from_data(&json!({"status": "running"})).unwrap();
    assert_eq!(set.poll(T0), SetAction::AwaitResponses);
    set.handle_status(a, T0, running());
    // Outstanding answers do not hide a waiter's sleep.
    assert_eq!(set.poll(T0), SetAction::SleepUntil(T0 + ms(250)));
    set.handle_status(b, T0, running());
    assert_eq!(set.poll(T0), SetAction::SleepUntil(T0 + ms(100)));
    // b fails for good; the earliest sleep moves to a's.
    set.handle_status(
        c,
        T0,
        TaskStatus::from_data(&json!({"status": "stopped", "exitstatus": "OK"})).unwrap(),
    );
    set.handle_status(99, T0, running()); // unknown index: ignored
    assert_eq!(
        set.poll(T0),
        SetAction::Finished {
            index: c,
            outcome: TaskOutcome::Ok
        }
    );
    assert_eq!(set.poll(T0), SetAction::SleepUntil(T0 + ms(100)));
    let SetAction::Send { index, .. } = set.poll(T0 + ms(100)) else {
        panic!()
    };
    assert_eq!(index, b);
    set.handle_error(
        b,
        T0 + ms(100),
        Error::from(ApiError::new(400, "no such task", None)),
    );
    assert!(matches!(
        set.poll(T0 + ms(100)),
        SetAction::Finished { index, outcome: TaskOutcome::Error(_) } if index == b
    ));
    assert_eq!(set.poll(T0 + ms(100)), SetAction::SleepUntil(T0 + ms(250)));
    let SetAction::Send { index, .. } = set.poll(T0 + ms(250)) else {
        panic!()
    };
    assert_eq!(index, a);
    set.handle_transport_error(a, T0 + ms(250), "reset", false);
    assert!(matches!(set.poll(T0 + ms(250)), SetAction::Finished { index, .. } if index == a));
    assert_eq!(set.poll(T0 + ms(250)), SetAction::AllDone);
    assert!(set.iter().all(|(_, w)| w.is_done()));
    assert_eq!(set.waiter(c).unwrap().outcome(), Some(&TaskOutcome::Ok));
}

// ---- log follower -----------------------------------------------------------------------------

/// A fake server whose log grows; `visible(step)` says how much of it exists at each request.
struct GrowingLog {
    lines: Vec<String>,
    /// (complete lines, bytes of the next line already written) per request, in order.
    steps: Vec<(usize, usize)>,
    step: usize,
    page_answers_total: bool,
}

impl GrowingLog {
    fn state(&self) -> (usize, usize) {
        let last = (self.lines.len(), 0);
        self.steps.get(self.step).copied().unwrap_or(last)
    }

    fn answer(&mut self, req: &TaskRequest) -> Value {
        let (complete, partial) = self.state();
        self.step += 1;
        match req.kind {
            RequestKind::Status => {
                if complete == self.lines.len() {
                    json!({"status": "stopped", "exitstatus": "OK"})
                } else {
                    json!({"status": "running"})
                }
            }
            RequestKind::Log => {
                let start: usize = req.call.params.get("start").unwrap().parse().unwrap();
                let limit: usize = req.call.params.get("limit").unwrap().parse().unwrap();
                let mut visible: Vec<String> = self.lines[..complete].to_vec();
                if partial > 0 && complete < self.lines.len() {
                    let l = &self.lines[complete];
                    visible.push(l[..partial.min(l.len())].to_owned());
                }
                let total = visible.len();
                let data: Vec<Value> = visible
                    .iter()
                    .enumerate()
                    .skip(start)
                    .take(if limit == 0 { usize::MAX } else { limit })
                    .map(|(i, t)| json!({"n": i + 1, "t": t}))
                    .collect();
                if self.page_answers_total {
                    json!({"data": data, "total": total})
                } else {
                    json!({"data": data})
                }
            }
        }
    }
}

fn follow(f: &mut LogFollower, server: &mut GrowingLog) -> (TaskOutcome, Vec<String>, usize) {
    let mut now = T0;
    let mut out = Vec::new();
    let mut requests = 0;
    for _ in 0..10_000 {
        match f.poll(now) {
            Action::Send(req) => {
                requests += 1;
                let v = server.answer(&req);
                match req.kind {
                    RequestKind::Status => f.handle_status(now, TaskStatus::from_data(&v).unwrap()),
                    RequestKind::Log => out.extend(
                        f.handle_log(now, LogPage::from_envelope(&v).unwrap())
                            .into_iter()
                            .map(|l| l.t),
                    ),
                }
            }
            Action::SleepUntil(t) => now = t,
            Action::Done(o) => return (o, out, requests),
            other => panic!("{other:?}"),
        }
    }
    panic!("follower did not finish");
}

#[test]
fn follower_reads_status_first_and_loses_nothing() {
    // Lines appear between the status read and the log read: the status said "running", so
    // the follower goes round again and picks them up.
    let lines: Vec<String> = ["a", "bb", "ccc", "TASK OK"].map(String::from).to_vec();
    let mut server = GrowingLog {
        lines: lines.clone(),
        // status, log, status, log, ... ; the task's last lines land right after a status read.
        steps: vec![(1, 0), (3, 1), (3, 0), (3, 0), (4, 0)],
        step: 0,
        page_answers_total: true,
    };
    let u = upid(U);
    let mut f = LogFollower::new(u, WaitOptions::new());
    let (o, out, _) = follow(&mut f, &mut server);
    assert_eq!(o, TaskOutcome::Ok);
    assert_eq!(out, lines);
    assert_eq!(f.lines_seen(), 4);
}

#[test]
fn follower_failed_task_keeps_tail_and_times_out_when_running() {
    let lines: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
    let mut failing = GrowingLog {
        lines: lines.clone(),
        steps: vec![],
        step: 0,
        page_answers_total: false,
    };
    // Make the status say failed instead of OK.
    let mut f = LogFollower::new(
        upid(U),
        WaitOptions::new().with_page_size(7).with_log_tail_lines(3),
    );
    let mut now = T0;
    let mut got = Vec::new();
    let outcome = loop {
        match f.poll(now) {
            Action::Send(req) if req.kind == RequestKind::Status => f.handle_status(
                now,
                TaskStatus::from_data(&json!({"status": "stopped", "exitstatus": "TASK ERROR"}))
                    .unwrap(),
            ),
            Action::Send(req) => {
                let v = failing.answer(&req);
                got.extend(f.handle_log(now, LogPage::from_envelope(&v).unwrap()));
            }
            Action::SleepUntil(t) => now = t,
            Action::Done(o) => break o,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(got.len(), 30);
    assert_eq!(now, T0);
    let TaskOutcome::Failed { message, log_tail } = outcome else {
        panic!()
    };
    assert_eq!(message, "TASK ERROR");
    let tail: Vec<&str> = log_tail.iter().map(|l| l.t.as_str()).collect();
    assert_eq!(tail, ["line 28", "line 29", "line 30"]);

    // Never stops: the deadline ends it.
    let mut server = GrowingLog {
        lines: vec!["a".into(), "b".into()],
        steps: vec![(1, 0); 10_000],
        step: 0,
        page_answers_total: true,
    };
    let mut f = LogFollower::new(upid(U), WaitOptions::new().with_timeout(ms(2000)));
    let (o, out, _) = follow(&mut f, &mut server);
    assert_eq!(o, TaskOutcome::TimedOut);
    assert!(out.is_empty(), "the only line may be half-written: {out:?}");
}

#[test]
fn follower_retries_transient_and_stops_on_permanent_errors() {
    let mut f = LogFollower::new(upid(U), WaitOptions::new());
    let Action::Send(req) = f.poll(T0) else {
        panic!()
    };
    assert_eq!(req.kind, RequestKind::Status);
    f.handle_error(T0, Error::from(ApiError::new(595, "no route", None)));
    assert_eq!(f.poll(T0), Action::SleepUntil(T0 + ms(250)));
    let Action::Send(req) = f.poll(T0 + ms(250)) else {
        panic!()
    };
    assert_eq!(req.kind, RequestKind::Status);
    f.handle_status(
        T0,
        TaskStatus::from_data(&json!({"status": "running"})).unwrap(),
    );
    let Action::Send(req) = f.poll(T0 + ms(250)) else {
        panic!()
    };
    assert_eq!(req.kind, RequestKind::Log);
    assert_eq!(req.call.params.to_form(), "start=0&limit=500");
    f.handle_transport_error(T0 + ms(250), "timeout", true);
    // The retry repeats the log request, not the status.
    let Action::SleepUntil(t) = f.poll(T0 + ms(250)) else {
        panic!()
    };
    let Action::Send(req) = f.poll(t) else {
        panic!()
    };
    assert_eq!(req.kind, RequestKind::Log);
    f.handle_error(
        t,
        Error::from(ApiError::new(403, "Permission check failed", None)),
    );
    assert!(matches!(f.poll(t), Action::Done(TaskOutcome::Error(_))));
    assert!(f.outcome().is_some());
}

#[test]
fn follower_starting_after_and_all_at_once() {
    let lines: Vec<String> = (1..=120).map(|i| format!("{i}")).collect();
    let mut server = GrowingLog {
        lines: lines.clone(),
        steps: vec![],
        step: 0,
        page_answers_total: true,
    };
    let mut f = LogFollower::new(upid(U), WaitOptions::new().with_page_size(0)).starting_after(100);
    let (o, out, requests) = follow(&mut f, &mut server);
    assert_eq!(o, TaskOutcome::Ok);
    assert_eq!(out, lines[100..]);
    assert_eq!(requests, 2);
    assert_eq!(DEFAULT_LIMIT, 50);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// However the log grows between requests (whole lines, half-written lines, pages of any
    /// size, with or without `total`), the follower returns every line exactly once, in order.
    #[test]
    fn follower_never_loses_or_repeats(
        lines in prop::collection::vec("[a-z ]{1,12}", 1..40),
        growth in prop::collection::vec((0usize..4, 0usize..6), 0..60),
        page in 0u64..8,
        total in any::<bool>(),
    ) {
        let mut steps = Vec::new();
        let (mut complete, n) = (0usize, lines.len());
        for (add, partial) in growth {
            complete = (complete + add).min(n.saturating_sub(1));
            steps.push((complete, partial));
        }
        let mut server = GrowingLog { lines: lines.clone(), steps, step: 0, page_answers_total: total };
        let mut f = LogFollower::new(upid(U), WaitOptions::new().with_page_size(page));
        let (o, out, _) = follow(&mut f, &mut server);
        prop_assert_eq!(o, TaskOutcome::Ok);
        prop_assert_eq!(out, lines);
    }
}

// ---- UPID round trip --------------------------------------------------------------------------

fn systemd_escape(s: &str) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

fn node() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,14}[a-zA-Z0-9])?"
}

fn user() -> impl Strategy<Value = String> {
    "[a-z0-9._-]{1,10}@(pam|pve|[a-z]{2,8})(![a-zA-Z0-9_-]{1,8})?"
}

fn hex(width: usize, v: u64, upper: bool) -> String {
    if upper {
        format!("{v:0width$X}")
    } else {
        format!("{v:0width$x}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn pve_upid_round_trips(
        node in node(),
        pid in any::<u32>(),
        pstart in 0u64..=0xF_FFFF_FFFF,
        start in any::<u32>(),
        ty in "[a-zA-Z0-9_.-]{1,12}",
        id in "[a-zA-Z0-9_.@!/=+,-]{0,16}",
        user in user(),
        trailing in prop_oneof![Just(String::new()), "[a-z]{1,8}"],
        upper in any::<bool>(),
    ) {
        let text = format!(
            "UPID:{node}:{}:{}:{}:{ty}:{id}:{user}:{trailing}",
            hex(8, pid.into(), upper), hex(8, pstart, upper), hex(8, start.into(), upper)
        );
        let u: Upid = text.parse().unwrap();
        prop_assert_eq!(u.to_string(), text.clone());
        prop_assert_eq!(u.flavor(), UpidFlavor::Pve);
        prop_assert_eq!((u.node(), u.pid(), u.pstart(), u.start_time()), (node.as_str(), pid, pstart, u64::from(start)));
        prop_assert_eq!((u.task_type(), u.id(), u.id_raw(), u.user(), u.trailing()), (ty.as_str(), id.as_str(), id.as_str(), user.as_str(), trailing.as_str()));
        prop_assert_eq!(u.task_id(), None);
        let again: Upid = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
        prop_assert_eq!(&again, &u);
        let call = u.status_call().unwrap();
        prop_assert_eq!(call.path.segments()[1].as_str(), node.as_str());
    }

    #[test]
    fn pbs_upid_round_trips(
        node in node(),
        pid in any::<u32>(),
        pstart in 0u64..=0xF_FFFF_FFFF,
        task_id in any::<u64>(),
        task_width in 8usize..=16,
        start in any::<u32>(),
        ty in "[a-z_-]{1,12}",
        worker in "\\PC{0,16}",
        user in user(),
        upper in any::<bool>(),
    ) {
        let task_hex = hex(task_width, task_id, upper);
        prop_assume!(task_hex.len() <= 16);
        let escaped = systemd_escape(&worker);
        let text = format!(
            "UPID:{node}:{}:{}:{task_hex}:{}:{ty}:{escaped}:{user}:",
            hex(8, pid.into(), upper), hex(8, pstart, upper), hex(8, start.into(), upper)
        );
        let u: Upid = text.parse().unwrap();
        prop_assert_eq!(u.to_string(), text.clone());
        prop_assert_eq!(u.flavor(), UpidFlavor::Pbs);
        prop_assert_eq!(u.task_id(), Some(task_id));
        prop_assert_eq!((u.pid(), u.pstart(), u.start_time()), (pid, pstart, u64::from(start)));
        prop_assert_eq!((u.worker_type(), u.id_raw(), u.id(), u.auth_id()), (ty.as_str(), escaped.as_str(), worker.as_str(), user.as_str()));
        let again: Upid = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
        prop_assert_eq!(again, u);
    }

    /// Any text: an error or a UPID that displays as the same text; never a panic.
    #[test]
    fn parse_never_panics(s in "(UPID:)?[\\PC:]{0,60}") {
        if let Ok(u) = Upid::parse(&s) {
            prop_assert_eq!(u.to_string(), s);
        }
    }
}

// ---- whole answers: HTTP bytes and pvesh data ----------------------------------------------------

#[test]
fn waiter_reads_http_answers_and_pvesh_data() {
    // A 400 "no such task" ends the wait with the typed API error.
    let mut w = TaskWaiter::new(upid(U), WaitOptions::new());
    assert!(w.pending().is_none());
    w.handle_response(
        T0,
        200,
        None,
        br#"{"data":{"status":"stopped","exitstatus":"OK"}}"#,
    );
    assert!(matches!(w.poll(T0), Action::Send(_)));
    assert_eq!(w.pending(), Some(RequestKind::Status));
    w.handle_response(
        T0,
        400,
        Some("Parameter verification failed."),
        br#"{"data":null,"errors":{"upid":"no such task"}}"#,
    );
    let Action::Done(TaskOutcome::Error(WaitError::Core(Error::Api(e)))) = w.poll(T0) else {
        panic!("{:?}", w.outcome())
    };
    assert_eq!(e.param_errors["upid"], "no such task");

    // A 200 that is not JSON is a protocol error, not a retry.
    let mut w = TaskWaiter::new(upid(U), WaitOptions::new());
    w.poll(T0);
    w.handle_response(T0, 200, None, b"<html>proxy error</html>");
    assert!(matches!(
        w.poll(T0),
        Action::Done(TaskOutcome::Error(WaitError::Core(Error::Protocol(_))))
    ));

    // pvesh prints only the data; PBS spells type and id worker_type/worker_id.
    let mut w = TaskWaiter::new(upid(U), WaitOptions::new().with_log_tail_lines(1));
    w.poll(T0);
    let pbs = json!({"status": "stopped", "exitstatus": "job failed", "worker_type": "verify",
                     "worker_id": "store1", "pid": 12});
    w.handle_data(T0, &pbs, None);
    assert_eq!(
        w.last_status().unwrap().task_type.as_deref(),
        Some("verify")
    );
    assert_eq!(w.last_status().unwrap().id.as_deref(), Some("store1"));
    let Action::Send(req) = w.poll(T0) else {
        panic!()
    };
    assert_eq!(req.call.params.to_form(), "start=0&limit=1");
    w.handle_data(
        T0,
        &json!([{"n": 1, "t": "a"}, {"n": 2, "t": "b"}]),
        Some(2),
    );
    let Action::Send(req) = w.poll(T0) else {
        panic!()
    };
    assert_eq!(req.call.params.to_form(), "start=1&limit=1");
    w.handle_response(
        T0,
        200,
        None,
        br#"{"data":[{"n":2,"t":"TASK ERROR: job failed"}],"total":2}"#,
    );
    let Some(TaskOutcome::Failed { message, log_tail }) = w.outcome() else {
        panic!()
    };
    assert_eq!(message, "job failed");
    assert_eq!(log_tail[0].t, "TASK ERROR: job failed");
}

#[test]
fn follower_reads_http_answers_and_pvesh_data() {
    let mut f = LogFollower::new(upid(U), WaitOptions::new());
    assert!(f.handle_response(T0, 200, None, b"{}").is_empty());
    f.poll(T0);
    assert!(
        f.handle_response(
            T0,
            200,
            None,
            br#"{"data":{"status":"stopped","exitstatus":"OK"}}"#
        )
        .is_empty()
    );
    assert!(matches!(f.poll(T0), Action::Send(_)));
    let lines = f.handle_response(
        T0,
        200,
        None,
        br#"{"data":[{"n":1,"t":"one"},{"n":2,"t":"TASK OK"}],"total":2}"#,
    );
    assert_eq!(lines.len(), 2);
    assert_eq!(f.poll(T0), Action::Done(TaskOutcome::Ok));

    let mut f = LogFollower::new(upid(U), WaitOptions::new());
    f.poll(T0);
    f.handle_data(T0, &json!({"status": "running"}), None);
    f.poll(T0);
    let lines = f.handle_data(
        T0,
        &json!([{"n": 1, "t": "one"}, {"n": 2, "t": "tw"}]),
        None,
    );
    assert_eq!(
        lines.iter().map(|l| l.t.as_str()).collect::<Vec<_>>(),
        ["one"]
    );
    assert!(matches!(f.poll(T0), Action::SleepUntil(_)));
    assert_eq!(f.last_status().map(TaskStatus::is_running), Some(true));
    // A bad page ends the follow with a protocol error.
    let Action::SleepUntil(t) = f.poll(T0) else {
        panic!()
    };
    f.poll(t);
    f.handle_data(t, &json!({"status": "running"}), None);
    f.poll(t);
    f.handle_data(t, &json!({"not": "a page"}), None);
    assert!(matches!(
        f.poll(t),
        Action::Done(TaskOutcome::Error(WaitError::Core(Error::Protocol(_))))
    ));
}
