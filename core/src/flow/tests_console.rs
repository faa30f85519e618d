//! The console flow driven by hand: the upgrade goes where the console call was answered,
//! old servers' refusal of tokens is the typed error, a refused upgrade is not retried.

use super::*;
use crate::console::ConsoleError;
use crate::console::session::{ConsoleEvent, Framing};
use crate::options::ClientOptions;
use crate::{Error, TransportKind};
use std::time::Duration;

fn now() -> Now {
    Now::new(MonoTime::ZERO, Duration::from_secs(0x6500_0000))
}

fn core(endpoints: &[&str]) -> ClientCore {
    let mut o = ClientOptions::new("10.0.0.1");
    if !endpoints.is_empty() {
        o.add_endpoints(endpoints);
    }
    o.set_api_token("root@pam!ci", "s".into());
    ClientCore::from_options(o.validate(TransportKind::Https).unwrap(), |rb| rb)
}

fn open(core: &ClientCore, target: ConsoleTarget) -> OpenConsole {
    core.console(
        target,
        ConsoleKind::Terminal,
        [7; 16],
        Framing::websocket(|| [0; 4]),
        &CallOptions::default(),
    )
    .unwrap()
}

fn next_send(flow: &mut OpenConsole) -> Result<Exchange, Box<Result<OpenedConsole, Error>>> {
    loop {
        match flow.poll(now()) {
            Step::Send(ex) => return Ok(ex),
            Step::Event(_) => {}
            Step::Done(r) => return Err(Box::new(r)),
            other => panic!("{other:?}"),
        }
    }
}

fn uri(ex: &Exchange) -> String {
    let Payload::Http(r) = &ex.payload else {
        panic!("{ex:?}")
    };
    format!(
        "{}{}",
        r.uri().authority().map_or("", |a| a.as_str()),
        r.uri().path()
    )
}

const TICKET: &[u8] = br#"{"data":{"user":"root@pam!ci","ticket":"PVEVNC:1::s","port":5901,"upid":"UPID:pve2:1:2:3:vncshell::root@pam!ci:"}}"#;

fn switched() -> Reply {
    let mut r = HttpReply::new(101, None, Vec::new());
    r.headers
        .insert("upgrade", http::HeaderValue::from_static("websocket"));
    r.headers
        .insert("connection", http::HeaderValue::from_static("Upgrade"));
    r.headers.insert(
        "sec-websocket-accept",
        http::HeaderValue::from_static("CdXSYUsvsaMthlEXWDNURGWA/1o="),
    );
    Reply::Http(r)
}

#[test]
fn the_upgrade_goes_to_the_endpoint_that_answered_even_after_a_failover() {
    let core = core(&["10.0.0.2", "10.0.0.3"]);
    let mut flow = open(
        &core,
        ConsoleTarget::Qemu {
            node: "pve2".into(),
            vmid: 100,
        },
    );
    // The first endpoint is down: the console call goes on at the next.
    let first = next_send(&mut flow).unwrap();
    assert_eq!(first.kind, ExchangeKind::Api);
    assert!(uri(&first).ends_with("/api2/json/nodes/pve2/qemu/100/termproxy"));
    flow.handle(
        first.id,
        Reply::Failed(TransportFailure::not_sent("refused").with_kind(FailureKind::Connect)),
    );
    let second = next_send(&mut flow).unwrap();
    assert_ne!(second.endpoint, first.endpoint);
    flow.handle(
        second.id,
        Reply::Http(HttpReply::new(200, None, TICKET.to_vec())),
    );
    let up = next_send(&mut flow).unwrap();
    assert_eq!(up.kind, ExchangeKind::WebSocket);
    assert_eq!(up.endpoint, second.endpoint, "the node that runs termproxy");
    assert_eq!(
        uri(&up),
        format!(
            "{}/api2/json/nodes/pve2/qemu/100/vncwebsocket",
            uri(&second).split('/').next().unwrap()
        )
    );
    let Payload::Http(req) = &up.payload else {
        unreachable!()
    };
    let q = req.uri().query().unwrap();
    assert!(q.contains("port=5901") && q.contains("vncticket=PVEVNC"));
    assert_eq!(req.headers()["sec-websocket-protocol"], "binary");
    // The upgrade fails on the way: it is retried at the same endpoint, never another.
    flow.handle(
        up.id,
        Reply::Failed(TransportFailure::not_sent("reset").with_kind(FailureKind::Connect)),
    );
    let mut at = now();
    let again = loop {
        match flow.poll(at) {
            Step::Send(ex) => break ex,
            Step::SleepUntil(t) => at = Now::new(t, at.wall + t.since(at.mono)),
            Step::Event(_) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(again.endpoint, second.endpoint);
    flow.handle(again.id, switched());
    let opened = loop {
        match flow.poll(at) {
            Step::Done(r) => break r.unwrap(),
            Step::Event(_) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(opened.exchange, again.id);
    assert_eq!(opened.endpoint, second.endpoint);
    assert_eq!(opened.ticket.port, 5901);
    assert!(opened.request.to_string().contains("vncwebsocket"));
    assert!(!format!("{opened:?}").contains("PVEVNC"));
}

#[test]
fn an_old_server_refusing_a_token_is_the_typed_error() {
    let core = core(&[]);
    let mut flow = open(&core, ConsoleTarget::Node("pve1".into()));
    let ex = next_send(&mut flow).unwrap();
    let msg = "user name 'root@pam!ci' does not look like a valid user name";
    let body = format!(r#"{{"data":null,"message":"{msg}\n"}}"#);
    flow.handle(
        ex.id,
        Reply::Http(HttpReply::new(500, Some(msg.into()), body.into_bytes())),
    );
    let e = next_send(&mut flow).unwrap_err().unwrap_err();
    let Error::Console(f) = &e else {
        panic!("{e:?}")
    };
    assert!(matches!(f.error, ConsoleError::TokensNotAllowed { .. }));
    let text = e.to_string();
    assert!(text.contains("POST /nodes/pve1/termproxy"), "{text}");
    assert!(text.contains("9.0.13"), "{text}");
}

#[test]
fn a_refused_upgrade_is_an_api_error_sent_once() {
    let core = core(&[]);
    let mut flow = open(&core, ConsoleTarget::Node("pve1".into()));
    let ex = next_send(&mut flow).unwrap();
    flow.handle(
        ex.id,
        Reply::Http(HttpReply::new(200, None, TICKET.to_vec())),
    );
    let up = next_send(&mut flow).unwrap();
    flow.handle(
        up.id,
        Reply::Http(HttpReply::new(
            401,
            Some("permission denied - invalid PVEVNC ticket".into()),
            br#"{"data":null}"#.to_vec(),
        )),
    );
    let e = next_send(&mut flow).unwrap_err().unwrap_err();
    let Error::Api(api) = &e else { panic!("{e:?}") };
    assert_eq!(api.status, 401);
    assert!(e.to_string().contains("vncwebsocket"), "{e}");
    assert!(!e.to_string().contains("PVEVNC:1"), "{e}");
}

#[test]
fn a_bad_accept_key_is_refused_and_the_session_reports_a_silent_close() {
    let core = core(&[]);
    let mut flow = open(
        &core,
        ConsoleTarget::Lxc {
            node: "pve1".into(),
            vmid: 200,
        },
    );
    let ex = next_send(&mut flow).unwrap();
    flow.handle(
        ex.id,
        Reply::Http(HttpReply::new(200, None, TICKET.to_vec())),
    );
    let up = next_send(&mut flow).unwrap();
    let Reply::Http(mut r) = switched() else {
        unreachable!()
    };
    r.headers.insert(
        "sec-websocket-accept",
        http::HeaderValue::from_static("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    );
    flow.handle(up.id, Reply::Http(r));
    let e = next_send(&mut flow).unwrap_err().unwrap_err();
    assert!(
        matches!(&e, Error::Console(f) if matches!(f.error, ConsoleError::Handshake(_))),
        "{e:?}"
    );

    // A good one; then termproxy closes without `OK`.
    let mut flow = open(&core, ConsoleTarget::Node("pve1".into()));
    let ex = next_send(&mut flow).unwrap();
    flow.handle(
        ex.id,
        Reply::Http(HttpReply::new(200, None, TICKET.to_vec())),
    );
    let up = next_send(&mut flow).unwrap();
    flow.handle(up.id, switched());
    let mut opened = next_send(&mut flow).unwrap_err().unwrap();
    opened.session.handle_eof();
    assert_eq!(
        opened.session.poll_event(),
        Some(ConsoleEvent::Failed(ConsoleError::ClosedBeforeOk))
    );
}
