//! proxmox-async (hyper, reqwest and surf, as their features are on) against hostile servers: tiny raw
//! TLS servers written here (the same as proxmox-ureq's tests/hostile.rs) send exactly the bytes
//! each test wants (a 64 MiB body, JSON 100,000 deep, invalid UTF-8, a stall after the headers,
//! no answer at all, control characters in the reason phrase, a redirect to another host), and
//! header values with CR/LF are refused before anything is sent. Timeouts are short; nothing
//! here asserts a duration.
#![cfg(any(feature = "hyper", feature = "reqwest", feature = "surf"))]

use proxmox_async::{Backend, CallOptions, Client, ClientBuilder, Error};
use proxmox_proto::{Call, ErrorClass, ProtocolError};
use proxmox_testbed::hostile::{CA_PEM, Hostile, SeenRequest, respond, serve_gzip_bomb};
use serde_json::Value;
use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN_SECRET: &str = "Tok-SECRET-hostile-async-0001";

/// The backends under test: each whose feature is on.
fn backends() -> Vec<Backend> {
    vec![
        #[cfg(feature = "hyper")]
        Backend::Hyper,
        #[cfg(feature = "reqwest")]
        Backend::Reqwest,
        #[cfg(feature = "surf")]
        Backend::Surf,
    ]
}

/// Whether the backend bounds connecting (TCP and TLS) with the connect timeout itself.
fn bounds_connecting(backend: Backend) -> bool {
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => false,
        #[allow(unreachable_patterns)]
        _ => true,
    }
}

/// Run a future on the backend's runtime.
fn block_on<F: Future>(backend: Backend, f: F) -> F::Output {
    match backend {
        #[cfg(feature = "hyper")]
        Backend::Hyper => tokio_block_on(f),
        #[cfg(feature = "reqwest")]
        Backend::Reqwest => tokio_block_on(f),
        #[cfg(feature = "surf")]
        Backend::Surf => async_std::task::block_on(f),
        #[allow(unreachable_patterns)]
        _ => unreachable!(),
    }
}

#[cfg(any(feature = "hyper", feature = "reqwest"))]
fn tokio_block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// `host:port` as the backend can use it: surf (rustls 0.18) needs a DNS name; the leaf
/// certificate names both `127.0.0.1` and `localhost`.
fn host_for(backend: Backend, port: u16) -> String {
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => format!("localhost:{port}"),
        _ => format!("127.0.0.1:{port}"),
    }
}

fn builder(backend: Backend, port: u16) -> ClientBuilder {
    Client::builder(&host_for(backend, port))
        .backend(backend)
        .ca_pem(CA_PEM.as_bytes())
        .api_token("root@pam!ci", TOKEN_SECRET)
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(5))
}

fn client(backend: Backend, server: &Hostile) -> Client {
    builder(backend, server.port).build().unwrap()
}

fn protocol(e: &Error) -> Option<&ProtocolError> {
    match e {
        Error::Proto(proxmox_proto::Error::Protocol(p)) => Some(p),
        _ => None,
    }
}

/// A configuration refused by `build()`, before any connection.
fn refused_at_build(e: &Error) -> bool {
    matches!(
        e,
        Error::Config(_) | Error::Proto(proxmox_proto::Error::Input(_))
    )
}

/// Sends the head, then up to 64 MiB of spaces until the client hangs up.
fn sixty_four_mib(chunked: bool) -> impl Fn(&mut dyn Write, &SeenRequest) + Send + Sync {
    move |w, _| {
        let head = if chunked {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned()
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                64u64 << 20
            )
        };
        if w.write_all(head.as_bytes()).is_err() {
            return;
        }
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..1024 {
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
        if chunked {
            let _ = w.write_all(b"0\r\n\r\n");
        }
    }
}

/// Whether the backend asks for gzip and decodes it (surf's stack has no decoder).
fn decodes_gzip(backend: Backend) -> bool {
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => false,
        #[allow(unreachable_patterns)]
        _ => true,
    }
}

#[test]
fn gzip_answers_are_asked_for_and_decoded_and_a_bad_one_is_an_error() {
    let json = br#"{"data":{"version":"9.0.3","release":"9.0","repoid":"gz"}}"#;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(json).unwrap();
    let gz = enc.finish().unwrap();
    // The same body with a wrong CRC-32 in the trailer.
    let mut bad = gz.clone();
    let crc_at = bad.len() - 8;
    bad[crc_at] ^= 0xff;
    for backend in backends().into_iter().filter(|b| decodes_gzip(*b)) {
        let body = gz.clone();
        let server = Hostile::start(move |w, _| {
            let headers = "Content-Type: application/json\r\nContent-Encoding: gzip\r\n";
            respond(w, b"200 OK", headers, &body)
        });
        let c = client(backend, &server);
        let v: Value = block_on(backend, c.get("version")).unwrap();
        assert_eq!(v["repoid"], "gz", "{backend:?}");
        let head = server.seen()[0].head.to_ascii_lowercase();
        assert!(
            head.lines()
                .any(|l| l.starts_with("accept-encoding:") && l.contains("gzip")),
            "{backend:?}: {head}"
        );
        let body = bad.clone();
        let server = Hostile::start(move |w, _| {
            let headers = "Content-Type: application/json\r\nContent-Encoding: gzip\r\n";
            respond(w, b"200 OK", headers, &body)
        });
        let c = client(backend, &server);
        let e = block_on(backend, c.get::<Value>("version")).unwrap_err();
        assert!(
            (matches!(e, Error::Transport(_)) && e.may_have_been_sent()),
            "{backend:?}: {e:?}"
        );
    }
}

#[test]
fn a_gzip_bomb_stops_at_the_body_limit() {
    for backend in backends() {
        let server = Hostile::start(serve_gzip_bomb);
        let c = builder(backend, server.port)
            .body_limit(1 << 20)
            .build()
            .unwrap();
        // Without a decoder (surf) the encoded bytes themselves go over the limit.
        let e = block_on(backend, c.get::<Value>("nodes")).unwrap_err();
        assert!(
            matches!(protocol(&e), Some(ProtocolError::BodyTooLarge { limit, .. }) if *limit == 1 << 20),
            "{backend:?}: {e:?}"
        );
    }
}

#[test]
fn a_64_mib_body_stops_at_a_1_mib_limit() {
    for backend in backends() {
        for chunked in [false, true] {
            let server = Hostile::start(sixty_four_mib(chunked));
            let c = builder(backend, server.port)
                .body_limit(1 << 20)
                .build()
                .unwrap();
            block_on(backend, async {
                let e = c
                    .call_raw(&Call::post("nodes").unwrap(), &CallOptions::default())
                    .await
                    .unwrap_err();
                assert!(
                    matches!(protocol(&e), Some(ProtocolError::BodyTooLarge { limit, .. }) if *limit == 1 << 20),
                    "{backend:?} chunked={chunked}: {e:?}"
                );
                // A per-call limit overrides the client's.
                let opts = CallOptions::default().body_limit(4096);
                let e = c
                    .call_raw(&Call::post("nodes").unwrap(), &opts)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(
                        protocol(&e),
                        Some(ProtocolError::BodyTooLarge { limit: 4096, .. })
                    ),
                    "{backend:?} chunked={chunked}: {e:?}"
                );
            });
            // A POST is sent once each time: no replay after the limit.
            assert_eq!(server.seen().len(), 2, "{backend:?}");
        }
    }
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
    for backend in backends() {
        let c = client(backend, &server);
        block_on(backend, async {
            let e = c.get::<Value>("nodes").await.unwrap_err();
            assert!(
                matches!(protocol(&e), Some(ProtocolError::TooDeep { .. })),
                "{backend:?}: {e:?}"
            );
            let e = c
                .get::<Vec<proxmox_proto::models::ClusterResource>>(("cluster", "resources"))
                .await
                .unwrap_err();
            assert!(protocol(&e).is_some(), "{backend:?}: {e:?}");
        });
    }
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
            respond(
                w,
                b"200 OK",
                "Content-Type: application/octet-stream\r\n",
                b"{\"data\":[1]}",
            );
        }
    });
    for backend in backends() {
        let c = client(backend, &server);
        block_on(backend, async {
            let e = c.get::<Value>("utf8").await.unwrap_err();
            assert!(
                matches!(protocol(&e), Some(ProtocolError::InvalidJson { .. })),
                "{backend:?}: {e:?}"
            );
            assert!(!e.to_string().contains('\u{0}'));
            let e = c.get::<Value>("html").await.unwrap_err();
            let Some(ProtocolError::InvalidJson { snippet, .. }) = protocol(&e) else {
                panic!("{backend:?}: {e:?}")
            };
            assert!(snippet.starts_with("<html>"));
            let e = c.get::<Value>("bad-gateway").await.unwrap_err();
            let api = e.api().unwrap_or_else(|| panic!("{backend:?}: {e:?}"));
            assert_eq!(api.status, 502);
            assert!(api.raw_body.as_deref().unwrap().contains("nginx"));
            assert_eq!(c.get::<Vec<u32>>("other").await.unwrap(), [1]);
        });
    }
}

#[test]
fn headers_then_stall_fires_the_read_timeout_and_a_post_is_not_replayed() {
    for backend in backends() {
        let server = Hostile::start(|w, _| {
            let _ = w.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"da",
            );
            let _ = w.flush();
            std::thread::sleep(Duration::from_secs(5));
        });
        let c = builder(backend, server.port)
            .read_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        block_on(backend, async {
            let e = c.post::<Value, _>("nodes", &()).await.unwrap_err();
            assert!(
                (matches!(e, Error::Transport(_)) && e.is_timeout() && e.may_have_been_sent()),
                "{backend:?}: {e:?}"
            );
            assert!(e.may_have_been_sent());
        });
        assert_eq!(server.seen().len(), 1, "{backend:?}: the POST was replayed");
        // A GET may be retried, a bounded number of times.
        block_on(backend, async {
            let e = c.get::<Value>("nodes").await.unwrap_err();
            assert!(
                (matches!(e, Error::Transport(_)) && e.is_timeout()),
                "{backend:?}: {e:?}"
            );
        });
        let gets = server.seen().len() - 1;
        assert!(
            (1..=proxmox_proto::retry::DEFAULT_MAX_ATTEMPTS as usize).contains(&gets),
            "{backend:?}: {gets}"
        );
    }
}

#[test]
fn a_server_that_never_answers() {
    // Accepts TCP connections (the kernel does) but never reads or writes: the TLS handshake
    // never completes, so the request bytes never leave.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let held2 = held.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            held2.lock().unwrap().push(s);
        }
    });
    // hyper and reqwest bound connecting (TCP and TLS) with the connect timeout themselves
    // and know nothing was sent.
    for backend in backends() {
        if !bounds_connecting(backend) {
            continue;
        }
        let c = builder(backend, port)
            .connect_timeout(Duration::from_millis(300))
            .read_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        block_on(backend, async {
            let e = c.post::<Value, _>("nodes", &()).await.unwrap_err();
            assert!(
                (matches!(e, Error::Transport(_)) && e.is_timeout() && !e.may_have_been_sent()),
                "{backend:?}: {e:?}"
            );
        });
    }
    // surf has no separate connect timeout (documented): the deadline for the head fires,
    // and the client cannot tell that nothing was sent, so it says it may have been.
    #[cfg(feature = "surf")]
    {
        let c = builder(Backend::Surf, port)
            .connect_timeout(Duration::from_millis(200))
            .read_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        block_on(Backend::Surf, async {
            let e = c.post::<Value, _>("nodes", &()).await.unwrap_err();
            assert!(
                (matches!(e, Error::Transport(_)) && e.is_timeout()),
                "{e:?}"
            );
        });
    }
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
    for backend in backends() {
        let c = client(backend, &server);
        block_on(backend, async {
            for path in ["tab", "c1", "latin1"] {
                let e = c.post::<Value, _>(path, &()).await.unwrap_err();
                let api = e
                    .api()
                    .unwrap_or_else(|| panic!("{backend:?} {path}: {e:?}"));
                assert_eq!(api.status, 500);
                assert!(
                    !api.reason.chars().any(char::is_control),
                    "{backend:?} {path}: {:?}",
                    api.reason
                );
                assert!(
                    !e.to_string().chars().any(char::is_control),
                    "{backend:?} {path}: {e}"
                );
                assert_eq!(api.class, ErrorClass::ServerError);
            }
            // The raw answer keeps what the server sent only as data, never in an error.
            let raw = c
                .call_raw(&Call::post("tab").unwrap(), &CallOptions::default())
                .await
                .unwrap();
            assert_eq!(raw.status, 500);
            // A raw ESC is not even valid HTTP: whatever the client makes of it, no escape
            // reaches an error message.
            let e = c.post::<Value, _>("esc", &()).await.unwrap_err();
            assert!(!format!("{e} {e:?}").contains('\x1b'), "{backend:?}: {e:?}");
        });
    }
}

#[test]
fn a_redirect_to_another_host_is_not_followed() {
    let other = Hostile::start(|w, _| respond(w, b"200 OK", "", b"{\"data\":[]}"));
    for backend in backends() {
        let target = format!("https://{}/api2/json/nodes", host_for(backend, other.port));
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
            let c = client(backend, &server);
            let pc = Client::builder(&host_for(backend, server.port))
                .backend(backend)
                .ca_pem(CA_PEM.as_bytes())
                .password("root@pam", "Pw-SECRET-redirect")
                .build()
                .unwrap();
            block_on(backend, async {
                let e = c.get::<Value>("nodes").await.unwrap_err();
                let api = e.api().unwrap_or_else(|| panic!("{backend:?}: {e:?}"));
                assert!((300..400).contains(&api.status));
                assert_eq!(api.class, ErrorClass::Unexpected);
                let e = c
                    .post::<Value, _>("nodes", &serde_json::json!({"x": 1}))
                    .await
                    .unwrap_err();
                assert!(e.api().is_some(), "{backend:?}: {e:?}");
                // Password logins are not followed either.
                assert!(pc.login().await.is_err());
            });
        }
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
    for backend in backends() {
        let host = host_for(backend, server.port);
        for (id, secret) in [
            ("root@pam!ci", "s\r\nX-Evil: 1"),
            ("root@pam!ci\r\nX-Evil: 1", "s"),
            ("root@pam!ci", "s\n"),
            ("root@pam!ci", "s\0"),
        ] {
            let e = Client::builder(&host)
                .backend(backend)
                .ca_pem(CA_PEM.as_bytes())
                .api_token(id, secret)
                .build()
                .unwrap_err();
            assert!(refused_at_build(&e), "{backend:?}: {e:?}");
        }
        let e = Client::builder(&host)
            .backend(backend)
            .ca_pem(CA_PEM.as_bytes())
            .password("root@pam\r\nX-Evil: 1", "pw")
            .build()
            .unwrap_err();
        assert!(refused_at_build(&e), "{backend:?}: {e:?}");
        assert!(
            Client::builder("127.0.0.1\r\nX: 1")
                .backend(backend)
                .api_token("root@pam!ci", TOKEN_SECRET)
                .build()
                .is_err()
        );
        assert!(
            builder(backend, server.port)
                .path_prefix("a\r\nX: 1")
                .build()
                .is_err()
        );
        // Path segments with CR/LF are refused by the core before sending.
        let c = client(backend, &server);
        block_on(backend, async {
            let e = c
                .get::<Value>(("nodes", "a\r\nX-Evil: 1"))
                .await
                .unwrap_err();
            assert!(!e.may_have_been_sent(), "{backend:?}: {e:?}");
        });
    }
    assert!(server.seen().is_empty(), "{:?}", server.seen());

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
        for backend in backends() {
            let c = Client::builder(&host_for(backend, server.port))
                .backend(backend)
                .ca_pem(CA_PEM.as_bytes())
                .password("root@pam", "pw")
                .build()
                .unwrap();
            block_on(backend, async {
                let e = c.post::<Value, _>("nodes", &()).await.unwrap_err();
                assert!(protocol(&e).is_some(), "{backend:?}: {e:?}");
            });
        }
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
}
