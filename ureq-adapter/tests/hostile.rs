//! proxmox-ureq against hostile servers: tiny raw TLS servers written here send exactly the
//! bytes each test wants (a 1 GiB body, JSON 100,000 deep, invalid UTF-8, HTML, a stall after
//! the headers, no answer at all, control characters in the reason phrase, a redirect to
//! another host), and the simulator's request log shows that hostile caller values never reach
//! another endpoint. Timeouts are short; nothing here asserts a duration.

use proxmox_proto::{ErrorClass, ProtocolError};
use proxmox_sim::{Config, Service as SimService, Simulator};
use proxmox_testbed::hostile::{CA_PEM, Hostile, respond, serve_gzip_bomb};
use proxmox_ureq::{CallOptions, Client, ClientBuilder, Error};
use serde_json::Value;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN_SECRET: &str = "Tok-SECRET-hostile-0001";

fn builder(host: &str) -> ClientBuilder {
    Client::builder(host)
        .ca_pem(CA_PEM.as_bytes())
        .api_token("root@pam!ci", TOKEN_SECRET)
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(5))
}

fn client(server: &Hostile) -> Client {
    builder(&server.host()).build().unwrap()
}

/// A configuration refused by `build()`, before any connection.
fn refused_at_build(e: &Error) -> bool {
    matches!(
        e,
        Error::Config(_) | Error::Proto(proxmox_proto::Error::Input(_))
    )
}

fn protocol(e: &Error) -> Option<&ProtocolError> {
    match e {
        Error::Proto(proxmox_proto::Error::Protocol(p)) => Some(p),
        _ => None,
    }
}

#[test]
fn a_1_gib_body_stops_at_the_body_limit() {
    // Declared length and chunked: both stop at the limit, the server does not get to send
    // the whole GiB.
    for chunked in [false, true] {
        let server = Hostile::start(move |w, _| {
            let head = if chunked {
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned()
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    1u64 << 30
                )
            };
            if w.write_all(head.as_bytes()).is_err() {
                return;
            }
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..(1 << 14) {
                let ok = if chunked {
                    w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .is_ok()
                        && w.write_all(&chunk).is_ok()
                        && w.write_all(b"\r\n").is_ok()
                } else {
                    w.write_all(&chunk).is_ok()
                };
                if !ok {
                    return;
                }
            }
        });
        let c = builder(&server.host()).body_limit(1 << 20).build().unwrap();
        let e = c
            .call_raw(
                &proxmox_proto::Call::post("nodes").unwrap(),
                &CallOptions::default(),
            )
            .unwrap_err();
        assert!(
            matches!(protocol(&e), Some(ProtocolError::BodyTooLarge { limit, .. }) if *limit == 1 << 20),
            "{e:?}"
        );
        // A per-call limit overrides the client's.
        let mut opts = CallOptions::default();
        opts.body_limit = Some(4096);
        let e = c
            .call_raw(&proxmox_proto::Call::post("nodes").unwrap(), &opts)
            .unwrap_err();
        assert!(
            matches!(
                protocol(&e),
                Some(ProtocolError::BodyTooLarge { limit: 4096, .. })
            ),
            "{e:?}"
        );
    }
    // The default suits a 20,000-guest cluster/resources (about 10 MiB) with a wide margin.
    const {
        assert!(proxmox_proto::response::DEFAULT_BODY_LIMIT >= 64 << 20);
        assert!(proxmox_proto::response::DEFAULT_BODY_LIMIT <= 1 << 30);
    }
}

#[test]
fn a_gzip_bomb_stops_at_the_body_limit() {
    let server = Hostile::start(serve_gzip_bomb);
    let c = builder(&server.host()).body_limit(1 << 20).build().unwrap();
    let e = c.get::<Value>("nodes").unwrap_err();
    assert!(
        matches!(protocol(&e), Some(ProtocolError::BodyTooLarge { limit, .. }) if *limit == 1 << 20),
        "{e:?}"
    );
}

#[test]
fn json_100000_deep_is_a_typed_error() {
    let mut body = b"{\"data\":".to_vec();
    body.extend(std::iter::repeat_n(b'[', 100_000));
    body.extend(std::iter::repeat_n(b']', 100_000));
    body.push(b'}');
    let server = Hostile::start(move |w, _| {
        respond(w, b"200 OK", "Content-Type: application/json\r\n", &body)
    });
    let c = client(&server);
    let e = c.get::<Value>("nodes").unwrap_err();
    assert!(
        matches!(protocol(&e), Some(ProtocolError::TooDeep { .. })),
        "{e:?}"
    );
    let e = c
        .get::<Vec<proxmox_proto::models::ClusterResource>>(("cluster", "resources"))
        .unwrap_err();
    assert!(protocol(&e).is_some(), "{e:?}");
}

#[test]
fn invalid_utf8_and_wrong_content_type_are_typed_errors() {
    let server = Hostile::start(|w, req| {
        let line = req.request_line().to_owned();
        if line.contains("/utf8") {
            respond(
                w,
                b"200 OK",
                "Content-Type: application/json\r\n",
                b"{\"data\":\"\xff\xfe\xc3\x28\"}",
            );
        } else if line.contains("/html") {
            respond(
                w,
                b"200 OK",
                "Content-Type: text/html\r\n",
                b"<html><body>login page</body></html>",
            );
        } else if line.contains("/bad-gateway") {
            respond(
                w,
                b"502 Bad Gateway",
                "Content-Type: text/html\r\n",
                b"<html>\xff nginx</html>",
            );
        } else {
            // Valid JSON labelled as something else: the body decides, not the label.
            respond(
                w,
                b"200 OK",
                "Content-Type: application/octet-stream\r\n",
                b"{\"data\":[1]}",
            );
        }
    });
    let c = client(&server);
    let e = c.get::<Value>("utf8").unwrap_err();
    assert!(
        matches!(protocol(&e), Some(ProtocolError::InvalidJson { .. })),
        "{e:?}"
    );
    assert!(!e.to_string().contains('\u{0}'));
    let e = c.get::<Value>("html").unwrap_err();
    let Some(ProtocolError::InvalidJson { snippet, .. }) = protocol(&e) else {
        panic!("{e:?}")
    };
    assert!(snippet.starts_with("<html>"));
    let e = c.get::<Value>("bad-gateway").unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.status, 502);
    assert!(api.raw_body.as_deref().unwrap().contains("nginx"));
    assert_eq!(c.get::<Vec<u32>>("other").unwrap(), [1]);
}

#[test]
fn headers_then_stall_fires_the_read_timeout() {
    let server = Hostile::start(|w, _| {
        let _ = w.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"da",
        );
        let _ = w.flush();
        std::thread::sleep(Duration::from_secs(8));
    });
    let c = builder(&server.host())
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    // A POST is never replayed: one request, and the error says it may have been sent.
    let e = c.post::<Value, _>("nodes", &()).unwrap_err();
    assert!(
        (matches!(e, Error::Transport(_)) && e.is_timeout() && e.may_have_been_sent()),
        "{e:?}"
    );
    assert_eq!(server.seen().len(), 1);
    // A GET may be retried, a bounded number of times.
    let e = c.get::<Value>("nodes").unwrap_err();
    assert!(
        (matches!(e, Error::Transport(_)) && e.is_timeout()),
        "{e:?}"
    );
    let gets = server.seen().len() - 1;
    assert!(
        (1..=proxmox_proto::retry::DEFAULT_MAX_ATTEMPTS as usize).contains(&gets),
        "{gets}"
    );
}

#[test]
fn a_server_that_stalls_before_the_status_line() {
    let server = Hostile::start(|_, _| std::thread::sleep(Duration::from_secs(8)));
    let c = builder(&server.host())
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = c.post::<Value, _>("nodes", &()).unwrap_err();
    assert!(
        (matches!(e, Error::Transport(_)) && e.is_timeout() && e.may_have_been_sent()),
        "{e:?}"
    );
}

#[test]
fn a_server_that_never_answers() {
    // Accepts TCP connections (the kernel does) but never reads or writes: the TLS handshake
    // never completes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let held2 = held.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            held2.lock().unwrap().push(s);
        }
    });
    let c = builder(&format!("127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(300))
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = c.post::<Value, _>("nodes", &()).unwrap_err();
    assert!(
        (matches!(e, Error::Transport(_)) && e.is_timeout()),
        "{e:?}"
    );
    // Nothing was sent: the request bytes never left the TLS handshake.
    assert!(
        (matches!(e, Error::Transport(_)) && !e.may_have_been_sent()),
        "{e:?}"
    );
}

#[test]
fn reason_phrases_with_control_characters_are_sanitised() {
    let server = Hostile::start(|w, req| {
        let line = req.request_line().to_owned();
        let status: &[u8] = if line.contains("/tab") {
            b"500 bad\tthing\t\tand more"
        } else if line.contains("/c1") {
            // U+009B (CSI) in UTF-8 is obs-text to HTTP; it is a C1 control character.
            b"500 red \xc2\x9b31m alert \xc2\x9b0m"
        } else if line.contains("/esc") {
            b"500 esc \x1b[2J cleared"
        } else {
            b"500 latin1 \xe9t\xe9"
        };
        respond(
            w,
            status,
            "Content-Type: application/json\r\n",
            b"{\"data\":null}",
        );
    });
    let c = client(&server);
    for path in ["tab", "c1", "latin1"] {
        let e = c.post::<Value, _>(path, &()).unwrap_err();
        let api = e.api().unwrap_or_else(|| panic!("{path}: {e:?}"));
        assert_eq!(api.status, 500);
        assert!(
            !api.reason.chars().any(char::is_control),
            "{path}: {:?}",
            api.reason
        );
        assert!(!e.to_string().chars().any(char::is_control), "{path}: {e}");
        assert_eq!(api.class, ErrorClass::ServerError);
    }
    // A raw ESC is not even valid HTTP: the client refuses the answer; no escape in the error.
    let e = c.post::<Value, _>("esc", &()).unwrap_err();
    assert!(!format!("{e} {e:?}").contains('\x1b'), "{e:?}");
}

#[test]
fn a_redirect_to_another_host_is_not_followed() {
    let other = Hostile::start(|w, _| respond(w, b"200 OK", "", b"{\"data\":[]}"));
    let target = format!("https://{}/api2/json/nodes", other.host());
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let location = format!("Location: {target}\r\n");
        let status = status.to_owned();
        let server = Hostile::start(move |w, _| {
            respond(w, status.as_bytes(), &location, b"{\"data\":null}")
        });
        let c = client(&server);
        let e = c.get::<Value>("nodes").unwrap_err();
        let api = e.api().unwrap_or_else(|| panic!("{e:?}"));
        assert!((300..400).contains(&api.status));
        assert_eq!(api.class, ErrorClass::Unexpected);
        let e = c
            .post::<Value, _>("nodes", &serde_json::json!({"x": 1}))
            .unwrap_err();
        assert!(e.api().is_some(), "{e:?}");
        // Password logins are not followed either.
        let pc = Client::builder(&server.host())
            .ca_pem(CA_PEM.as_bytes())
            .password("root@pam", "Pw-SECRET-redirect")
            .build()
            .unwrap();
        assert!(pc.login().is_err());
    }
    assert!(
        other.seen().is_empty(),
        "followed a redirect: {:?}",
        other.seen()
    );
}

#[test]
fn crlf_in_header_values_is_refused_before_sending() {
    let server = Hostile::start(|w, _| respond(w, b"200 OK", "", b"{\"data\":[]}"));
    // Token secret, token id, user id.
    for (id, secret) in [
        ("root@pam!ci", "s\r\nX-Evil: 1"),
        ("root@pam!ci\r\nX-Evil: 1", "s"),
        ("root@pam!ci", "s\n"),
        ("root@pam!ci", "s\0"),
    ] {
        let e = Client::builder(&server.host())
            .ca_pem(CA_PEM.as_bytes())
            .api_token(id, secret)
            .build()
            .unwrap_err();
        assert!(refused_at_build(&e), "{e:?}");
    }
    let e = Client::builder(&server.host())
        .ca_pem(CA_PEM.as_bytes())
        .password("root@pam\r\nX-Evil: 1", "pw")
        .build()
        .unwrap_err();
    assert!(refused_at_build(&e), "{e:?}");
    // A path prefix or host with CR/LF.
    assert!(builder("127.0.0.1\r\nX: 1").build().is_err());
    assert!(
        builder(&server.host())
            .path_prefix("a\r\nX: 1")
            .build()
            .is_err()
    );
    assert!(server.seen().is_empty());

    // A CSRF token or ticket from the server with CR/LF: the login fails, and nothing else is
    // ever sent with it.
    for data in [
        serde_json::json!({"username":"root@pam","ticket":"PVE:root@pam:65000000::c2ln","CSRFPreventionToken":"t\r\nX-Evil: 1"}),
        serde_json::json!({"username":"root@pam","ticket":"PVE:root@pam:65000000::c2ln\r\nX-Evil: 1","CSRFPreventionToken":"t"}),
    ] {
        let body = serde_json::json!({ "data": data }).to_string();
        let server = Hostile::start(move |w, _| {
            respond(
                w,
                b"200 OK",
                "Content-Type: application/json\r\n",
                body.as_bytes(),
            )
        });
        let c = Client::builder(&server.host())
            .ca_pem(CA_PEM.as_bytes())
            .password("root@pam", "pw")
            .build()
            .unwrap();
        let e = c.post::<Value, _>("nodes", &()).unwrap_err();
        assert!(protocol(&e).is_some(), "{e:?}");
        let seen = server.seen();
        assert!(
            seen.iter().all(|r| r
                .request_line()
                .starts_with("POST /api2/json/access/ticket ")),
            "{seen:?}"
        );
        assert!(
            seen.iter()
                .all(|r| r.body.starts_with(b"username=root%40pam&password="))
        );
        assert!(
            seen.iter()
                .all(|r| !r.head.to_ascii_lowercase().contains("x-evil"))
        );
    }
    // A user-agent with CR/LF cannot be configured on this client at all; the core's
    // RequestBuilder refuses one (core/tests/hostile.rs).
}

// ---- injection through the simulator -------------------------------------------------------

const HOSTILE: [&str; 14] = [
    "../",
    "../../access/users",
    "%2e%2e",
    "%2e%2e%2faccess",
    "?",
    "a?b=c",
    "#",
    "a#frag",
    "/",
    "a/b",
    "a\0b",
    "a\nb",
    "a\r\nHost: evil",
    "..",
];

#[test]
fn hostile_values_never_reach_another_endpoint() {
    let sim = Simulator::start(Config::new(SimService::Pve)).unwrap();
    let c = Client::builder(&format!("127.0.0.1:{}", sim.addr().port()))
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    for v in HOSTILE {
        sim.clear_requests();
        let r = c.get::<Value>(("nodes", v, "qemu"));
        let log = sim.requests();
        if let Err(Error::Proto(proxmox_proto::Error::Input(_))) = &r {
            // Refused before sending: dot segments and control characters.
            assert!(v == ".." || v.chars().any(char::is_control), "{v:?}");
            assert!(log.is_empty(), "{v:?} refused but sent: {log:?}");
            continue;
        }
        assert_eq!(log.len(), 1, "{v:?}: {log:?}");
        let path = &log[0].path;
        let rest = path
            .strip_prefix("/api2/json/nodes/")
            .unwrap_or_else(|| panic!("{path}"));
        let (seg, tail) = rest.split_once('/').unwrap();
        assert_eq!(tail, "qemu", "{v:?} -> {path}");
        assert!(
            !seg.contains(['/', '?', '#']) && seg != ".." && seg != ".",
            "{path}"
        );
        assert!(
            log[0].query.is_empty(),
            "{v:?} added a query: {:?}",
            log[0].query
        );
        // The segment decodes back to exactly the value (percent signs themselves encoded).
        assert_eq!(percent_decode(seg), v, "{path}");
        assert!(
            !path.contains("/../") && !path.contains("%2e%2e%2f"),
            "{path}"
        );
        // The node does not exist, so the answer is an error about that node only.
        assert!(r.is_err(), "{v:?}: {r:?}");
    }
    // As parameter values: one query pair each, on the intended path.
    for v in HOSTILE {
        sim.clear_requests();
        let _ = c.get_with::<Value, _>(("nodes", "pve1", "qemu"), &serde_json::json!({"full": v}));
        let log = sim.requests();
        if v.contains('\0') {
            continue;
        }
        assert_eq!(log.len(), 1, "{v:?}");
        assert_eq!(log[0].path, "/api2/json/nodes/pve1/qemu");
        assert_eq!(log[0].query, [("full".to_owned(), v.to_owned())], "{v:?}");
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
