//! What a new user meets in the first hour, as exact texts: addresses pasted as URLs, set-up
//! mistakes refused at `build()` with what to do, API errors that name the request, and a
//! failed task that `?` stops at.

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
        "invalid input: invalid client option: invalid credentials: user id \"root\" has no \
         realm: write user@realm (did you mean \"root@pam\"? pam is the node's Linux users, pve \
         the Proxmox VE users, pbs the Backup Server's)"
    );
    assert_eq!(
        refusal(
            Client::builder("pve1")
                .api_token("a@pve!t", "s")
                .password("a@pve", "pw")
        ),
        "invalid input: invalid client option: both an API token and a password were given: \
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
            "invalid input: invalid client option: cannot read the CA file {}: ",
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
