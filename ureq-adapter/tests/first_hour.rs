//! What a new user meets in the first hour, as exact texts: addresses pasted as URLs, set-up
//! mistakes refused at `build()` with what to do, API errors that name the request, and a
//! failed task that `?` stops at.

use proxmox_proto::flow::{FailureKind, Phase};
use proxmox_proto::task::WaitOptions;
use proxmox_sim::{Config, Service as SimService, Simulator};
use proxmox_ureq::{Client, ClientBuilder, Error};
use serde_json::Value;
use std::time::Duration;

fn sim() -> Simulator {
    Simulator::start(Config::new(SimService::Pve)).expect("simulator starts")
}

fn trusting(b: ClientBuilder, sim: &Simulator) -> ClientBuilder {
    b.ca_pem(sim.ca_pem().as_bytes())
        .timeout(Duration::from_secs(10))
}

fn refusal(b: ClientBuilder) -> String {
    match b.build() {
        Ok(_) => panic!("the builder must refuse this"),
        Err(e) => {
            assert!(!e.may_have_been_sent(), "{e}");
            e.to_string()
        }
    }
}

#[test]
fn the_simulators_own_urls_are_addresses() {
    let sim = sim();
    for address in [sim.base_url(), sim.api_url(), format!("{}/", sim.api_url())] {
        let c = trusting(Client::builder(&address), &sim)
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .build()
            .unwrap_or_else(|e| panic!("{address}: {e}"));
        let v: Value = c.get("version").unwrap();
        assert!(v["version"].is_string(), "{address}: {v}");
    }
}

#[test]
fn set_up_mistakes_say_what_to_do() {
    assert_eq!(
        refusal(Client::builder("http://127.0.0.1:8006").api_token("a@pve!t", "s")),
        "invalid input: invalid target \"http://127.0.0.1:8006\": plain http:// is not \
         supported: the Proxmox APIs answer HTTPS only (write https://; PVE listens on 8006 by \
         default)"
    );
    assert_eq!(
        refusal(Client::builder("pve1").password("root", "secret")),
        "invalid input: invalid credentials: user id \"root\" has no \
         realm: write user@realm (did you mean \"root@pam\"? pam is the node's Linux users, pve \
         the Proxmox VE users, pbs the Backup Server's)"
    );
    assert_eq!(
        refusal(
            Client::builder("pve1")
                .api_token("a@pve!t", "s")
                .password("a@pve", "pw")
        ),
        "invalid input: both an API token and a password were given: \
         use one (a token needs no login and no renewal)"
    );
    let missing = std::env::temp_dir().join("proxmox-ureq-first-hour-no-such-ca.pem");
    let text = refusal(
        Client::builder("pve1")
            .api_token("a@pve!t", "s")
            .ca_file(&missing),
    );
    assert!(
        text.starts_with(&format!(
            "invalid input: cannot read the CA file {}: ",
            missing.display()
        )) && text.ends_with(
            "(give the cluster's pve-root-ca.pem, or pin the certificate with .fingerprint())"
        ),
        "{text}"
    );
}

#[test]
fn api_errors_name_the_request() {
    let sim = sim();
    let c = trusting(Client::builder(&sim.base_url()), &sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    let host = format!("127.0.0.1:{}", sim.addr().port());
    let e = c
        .get_with::<Value, _>(("nodes", "pve1", "qemuu"), &[("full", "1")])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "API error: GET /nodes/pve1/qemuu on {host}: 501 Method 'GET \
             /api2/json/nodes/pve1/qemuu' not implemented"
        )
    );
    // The query (which can carry secrets) is never part of it.
    assert!(!e.to_string().contains("full"), "{e}");
    let e = c
        .call::<Value>(&proxmox_proto::Call::get(("nodes", "pve1", "qemu", 999, "config")).unwrap())
        .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "API error: GET /nodes/pve1/qemu/999/config on {host}: 500 "
        )),
        "{e}"
    );
}

#[test]
fn a_user_agent_suffix_names_the_program_in_the_access_log() {
    let sim = sim();
    let c = trusting(Client::builder(&sim.url()), &sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .user_agent_suffix("backup-script/2 (host01)")
        .build()
        .unwrap();
    let _: Value = c.get("version").unwrap();
    let ua = sim.requests().pop().and_then(|r| r.user_agent);
    assert_eq!(
        ua.as_deref(),
        Some(concat!(
            "proxmox-ureq/",
            env!("CARGO_PKG_VERSION"),
            " backup-script/2 (host01)"
        ))
    );
    assert_eq!(
        refusal(
            Client::builder("pve1")
                .api_token("a@pve!t", "s")
                .user_agent_suffix("bad\nline")
        ),
        "invalid input: user agent suffix \"bad\\nline\": at most 100 \
         characters, letters, digits, space and -._/()+;:,= (e.g. \"backup-script/2\")"
    );
}

#[test]
fn refused_credentials_are_named() {
    let sim = sim();
    let host = format!("127.0.0.1:{}", sim.addr().port());
    let e = trusting(Client::builder(&sim.base_url()), &sim)
        .api_token(proxmox_sim::TOKEN_ID, "not-the-secret")
        .build()
        .unwrap()
        .get::<Value>("nodes")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "API error: GET /nodes on {host}: 401 authentication failure; the API token {} was \
             refused (wrong token id or secret, the token or its user expired or disabled)",
            proxmox_sim::TOKEN_ID
        )
    );
    assert!(!e.to_string().contains("not-the-secret"));
    let e = trusting(Client::builder(&sim.base_url()), &sim)
        .password("root@pam", "wrong-password")
        .build()
        .unwrap()
        .login()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "API error: POST /access/ticket on {host}: 401 authentication failure; the password \
             login as root@pam was refused (wrong user, realm or password, or the account is \
             disabled or expired)"
        )
    );
    assert!(!e.to_string().contains("wrong-password"));
}

#[test]
fn numbers_sent_as_strings_and_paths_as_people_write_them() {
    let sim = sim();
    let c = trusting(Client::builder(&sim.base_url()), &sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    // PVE answers nextid as a string.
    let id: u32 = c.get(("cluster", "nextid")).unwrap();
    assert!(id >= 100, "{id}");
    let node = "";
    let e = c
        .get::<Value>(format!("nodes/{node}/qemu").as_str())
        .unwrap_err();
    assert!(!e.may_have_been_sent(), "{e}");
    assert!(
        e.to_string().starts_with(
            "invalid input: invalid path \"nodes//qemu\": an empty piece inside the path"
        ),
        "{e}"
    );
    let e = c.get::<Value>("/api2/json/nodes").unwrap_err();
    assert!(
        e.to_string()
            .contains("the path starts with /api2/json, which the client adds"),
        "{e}"
    );
    // Parameters as pairs, and as the core's own Params.
    let p = proxmox_proto::Params::new().with("type", "vm");
    let a: Vec<Value> = c.get_with("cluster/resources", &p).unwrap();
    let b: Vec<Value> = c.get_with("cluster/resources", &[("type", "vm")]).unwrap();
    assert_eq!(a, b);
    assert!(
        a.iter().all(|r| r["type"] == "qemu" || r["type"] == "lxc"),
        "{a:?}"
    );
}

#[test]
fn a_failed_task_stops_at_the_question_mark() {
    let sim = sim();
    let c = trusting(Client::builder(&sim.base_url()), &sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    // VM 100 is running: starting it again fails in the task, not in the call.
    let upid: proxmox_proto::Upid = c
        .post(("nodes", "pve1", "qemu", 100, "status", "start"), &())
        .unwrap();
    let e = c.wait_task_ok(&upid, WaitOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "task qmstart 100 on pve1 failed: VM 100 already running"
    );
    assert!(matches!(e, Error::Task(_)), "{e:?}");
    assert_eq!(e.task().map(|t| t.upid()), Some(&upid));
    assert!(e.may_have_been_sent());
    // A task that succeeds gives its warnings (none).
    let upid: proxmox_proto::Upid = c
        .post(("nodes", "pve1", "qemu", 101, "status", "start"), &())
        .unwrap();
    assert_eq!(c.wait_task_ok(&upid, WaitOptions::default()).unwrap(), 0);
    // A window of the log: one request with start and limit.
    let lines = c.task_log_window(&upid, 0, 1).unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let last = sim.requests().into_iter().last().expect("a request");
    assert!(
        last.path.ends_with("/log")
            && last.query.contains(&("start".to_owned(), "0".to_owned()))
            && last.query.contains(&("limit".to_owned(), "1".to_owned())),
        "{last:?}"
    );
}

#[test]
fn tls_failures_say_what_to_do() {
    let sim = sim();
    // No CA given: the simulator's certificate is self-signed.
    let e = Client::builder(&sim.base_url())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap()
        .get::<Value>("version")
        .unwrap_err();
    let text = e.to_string();
    assert!(!e.may_have_been_sent(), "{text}");
    assert!(
        text.contains(&format!(
            "its SHA-256 fingerprint is {}",
            sim.fingerprint_sha256()
        )) && text.contains(".ca_file(")
            && text.contains(".fingerprint("),
        "{text}"
    );
    assert_eq!(
        e.attempts(),
        1,
        "a refused certificate is not retried: {text}"
    );
    assert_eq!(e.transport_kind(), Some(FailureKind::Tls), "{text}");
    assert!(std::error::Error::source(&e).is_some(), "{text}");
    // A server that closes the connection on a TLS hello.
    let port = scripted_server(b"");
    let e = plain_client(port).get::<Value>("version").unwrap_err();
    assert!(!e.may_have_been_sent(), "{e}");
    assert!(
        e.to_string().contains(
            "TLS handshake failed: the server closed the connection (is this port serving HTTPS?"
        ),
        "{e}"
    );
    // HTTPS to a port that answers plain HTTP (as a web server does to a TLS hello).
    let port = scripted_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let e = plain_client(port).get::<Value>("version").unwrap_err();
    assert!(!e.may_have_been_sent(), "{e}");
    assert!(
        e.to_string()
            .contains("the server did not answer TLS (is this a plain-HTTP port?"),
        "{e}"
    );
}

fn plain_client(port: u16) -> Client {
    Client::builder(&format!("127.0.0.1:{port}"))
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A server on loopback that reads what comes first, answers `reply` and closes, for each of
/// the first 3 connections.
fn scripted_server(reply: &'static [u8]) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in listener.incoming().take(3) {
            let Ok(mut conn) = conn else { continue };
            let mut hello = [0u8; 512];
            let _ = conn.read(&mut hello);
            let _ = conn.write_all(reply);
        }
    });
    port
}

/// `ClientBuilder::from_env()` in a child process (this test binary, running
/// `child_from_env`) with the variables set, as a user's program would have them.
#[test]
fn from_env_reaches_the_simulator() {
    let sim = sim();
    let dir = std::env::temp_dir().join(format!("proxmox-ureq-from-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("token");
    std::fs::write(&secret_file, format!("{}\n", proxmox_sim::TOKEN_SECRET)).unwrap();
    let run = |expect: &str, vars: &[(&str, String)]| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", "child_from_env", "--nocapture"]);
        for (k, _) in std::env::vars() {
            if k.starts_with("PROXMOX_") || k.to_ascii_uppercase().ends_with("_PROXY") {
                cmd.env_remove(k);
            }
        }
        cmd.env("FIRST_HOUR_EXPECT", expect);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
    };
    run(
        "version",
        &[
            ("PROXMOX_URL", sim.api_url()),
            ("PROXMOX_TOKEN_ID", proxmox_sim::TOKEN_ID.into()),
            (
                "PROXMOX_TOKEN_SECRET_FILE",
                secret_file.display().to_string(),
            ),
            ("PROXMOX_FINGERPRINT", sim.fingerprint_sha256().into()),
        ],
    );
    run(
        "version",
        &[
            ("PROXMOX_HOST", "127.0.0.1".into()),
            ("PROXMOX_PORT", sim.addr().port().to_string()),
            ("PROXMOX_USER", proxmox_sim::ROOT_USER.into()),
            ("PROXMOX_PASSWORD", proxmox_sim::ROOT_PASSWORD.into()),
            ("PROXMOX_INSECURE", "1".into()),
        ],
    );
    run("no address", &[]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
#[ignore = "run by from_env_reaches_the_simulator, in a child process with the variables set"]
fn child_from_env() {
    match std::env::var("FIRST_HOUR_EXPECT").as_deref() {
        Ok("version") => {
            let c = ClientBuilder::from_env()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let v: Value = c.get("version").unwrap();
            assert!(v["version"].is_string(), "{v}");
        }
        Ok("no address") => {
            let e = ClientBuilder::from_env().build().unwrap_err();
            assert_eq!(
                e.to_string(),
                "invalid input: neither PROXMOX_URL nor PROXMOX_HOST is \
                 set: export PROXMOX_URL=https://pve1.example.com:8006 (or \
                 PROXMOX_HOST=pve1.example.com)"
            );
        }
        other => panic!("FIRST_HOUR_EXPECT={other:?}: run by from_env_reaches_the_simulator"),
    }
}

#[test]
fn transport_errors_have_a_kind_and_say_whether_they_were_sent() {
    // Refused: nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = plain_client(port).get::<Value>("version").unwrap_err();
    assert_eq!(e.transport_kind(), Some(FailureKind::Connect), "{e}");
    assert!(!e.may_have_been_sent(), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "transport error (the request was not sent): GET /version on 127.0.0.1:{port}: "
        )) && text.contains(
            "; is the server up and the port right? PVE and PMG answer on 8006, PBS on 8007 (3 attempts in "
        ),
        "{text}"
    );
    // A name that does not resolve (.invalid never does).
    let e = Client::builder("no-such-node.invalid")
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .max_attempts(1)
        .build()
        .unwrap()
        .get::<Value>("version")
        .unwrap_err();
    assert_eq!(e.transport_kind(), Some(FailureKind::Dns), "{e}");
    assert!(!e.may_have_been_sent(), "{e}");
    // A server that accepts the connection and never answers the TLS hello.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(2));
        drop(conns);
    });
    let e = Client::builder(&format!("127.0.0.1:{port}"))
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .connect_timeout(Duration::from_millis(300))
        .max_attempts(1)
        .build()
        .unwrap()
        .get::<Value>("version")
        .unwrap_err();
    assert_eq!(
        e.transport_kind(),
        Some(FailureKind::Timeout(Phase::Connect)),
        "{e}"
    );
    assert!(e.is_timeout() && !e.may_have_been_sent(), "{e}");
    assert_eq!(e.attempts(), 1, "{e}");
    held.join().unwrap();
}

#[test]
fn answers_from_a_forwarding_node_say_whether_the_call_ran() {
    let sim = sim();
    let c = trusting(Client::builder(&sim.url()), &sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    // pve-http-server: 596 when the target node did not answer the forwarding one in time.
    sim.inject(proxmox_sim::Fault::status(
        "POST",
        "/nodes/pve1/qemu/100/status/reboot",
        596,
        "Connection timed out",
    ));
    let e = c
        .post::<Value, _>(("nodes", "pve1", "qemu", 100, "status", "reboot"), &())
        .unwrap_err();
    assert!(
        e.to_string().ends_with(
            "; the forwarding node gave up waiting for the node that owns the resource: the call \
             may have taken effect there; check (the task list, the resource) before repeating it"
        ),
        "{e}"
    );
    assert!(e.may_have_been_sent());
    // 595 on a GET is retried; when it stays, the error says the call did not run there.
    sim.inject(proxmox_sim::Fault::status("GET", "/version", 595, "No route to host").times(3));
    let e = c.get::<Value>("version").unwrap_err();
    assert!(
        e.to_string().ends_with(
            " (3 attempts); the node that answered could not reach the node that owns the \
             resource: the call did not run there; another node may reach it"
        ),
        "{e}"
    );
    assert_eq!(e.attempts(), 3, "{e}");
}
