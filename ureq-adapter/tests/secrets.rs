//! Every secret proxmox-ureq handles (password, ticket, CSRF token, token secret, TFA answer,
//! TFA half ticket, client key, proxy password) is configured, real flows run against the
//! simulator (success and failure), and the `Debug`/`Display` of the builder, the client, the
//! session and every error are searched for them. The project does not use `tracing`; there is
//! no log output to search yet.

use proxmox_proto::auth::SecondFactor;
use proxmox_sim::{Config, Service as SimService, Simulator};
use proxmox_ureq::{Client, ClientBuilder, Error};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxmox_testbed::secrets::{
    CLIENT_CERT, CLIENT_KEY, PROXY_PASSWORD, Secrets, WRONG_PASSWORD, WRONG_TOKEN, WRONG_TOTP,
};

fn sim() -> Simulator {
    Simulator::start(Config::new(SimService::Pve)).expect("simulator starts")
}

fn builder(sim: &Simulator) -> ClientBuilder {
    let clock = sim.clock().clone();
    Client::builder(&format!("127.0.0.1:{}", sim.addr().port()))
        .ca_pem(sim.ca_pem().as_bytes())
        .clock(Arc::new(move || clock.now()))
        .timeout(Duration::from_secs(10))
}

#[test]
fn token_client() {
    let sim = sim();
    let s = Secrets::new();
    let b = builder(&sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .client_certificate(CLIENT_CERT.as_bytes(), CLIENT_KEY.as_bytes());
    s.debug("ClientBuilder(token, client cert)", &b);
    let c = b.build().unwrap();
    s.debug("Client(token)", &c);
    let _: Value = c.get("nodes").unwrap();
    s.error(
        "404",
        &c.get::<Value>(("nodes", "nope", "qemu", 1, "status", "current"))
            .unwrap_err(),
    );
    s.error(
        "bad params",
        &c.post::<Value, _>(("nodes", "pve1", "qemu"), &serde_json::json!({"vmid": "x"}))
            .unwrap_err(),
    );
    let raw = c
        .call_raw(
            &proxmox_proto::Call::get("version").unwrap(),
            &Default::default(),
        )
        .unwrap();
    s.debug("RawResponse", &raw);

    let c = builder(&sim)
        .api_token(proxmox_sim::TOKEN_ID, WRONG_TOKEN)
        .build()
        .unwrap();
    s.error("wrong token", &c.get::<Value>("nodes").unwrap_err());
    for secret in [format!("{WRONG_TOKEN}\r\nX: 1"), String::new()] {
        let e = builder(&sim)
            .api_token(proxmox_sim::TOKEN_ID, secret)
            .build()
            .unwrap_err();
        s.error("bad token config", &e);
    }
}

#[test]
fn password_client_and_saved_session() {
    let sim = sim();
    let mut s = Secrets::new();
    let b = builder(&sim).password("alice@pve", "alicepw");
    s.debug("ClientBuilder(password)", &b);
    let c = b.build().unwrap();
    s.debug("Client before login", &c);
    c.login().unwrap();
    s.add_session(&c.session().expect("a session"));
    s.debug("Client after login", &c);
    s.debug("Session", &c.session().unwrap());
    // alice may only see VM 100: 403.
    s.error(
        "403",
        &c.get::<Value>(("nodes", "pve1", "qemu", 101, "config"))
            .unwrap_err(),
    );
    s.error(
        "POST 403",
        &c.post::<Value, _>(("nodes", "pve1", "qemu"), &serde_json::json!({"vmid": 300}))
            .unwrap_err(),
    );

    // Ticket expiry, renewal and re-login keep secrets out too.
    sim.clock().advance(Duration::from_secs(3700));
    let _ = c.get::<Value>("version");
    s.add_session(&c.session().expect("a session"));
    sim.expire_all_tickets();
    let _ = c.get::<Value>("version");
    s.add_session(&c.session().expect("a session"));
    s.debug("Client after renewal", &c);

    // Resuming the saved session.
    let b = builder(&sim).session(c.session().unwrap());
    s.debug("ClientBuilder(session)", &b);
    let resumed = b.build().unwrap();
    s.debug("Client(session)", &resumed);
    sim.expire_all_tickets();
    s.error(
        "expired saved session",
        &resumed.get::<Value>("nodes").unwrap_err(),
    );

    // Wrong password, and a password login to a server that is not there.
    let c = builder(&sim)
        .password("alice@pve", WRONG_PASSWORD)
        .build()
        .unwrap();
    s.error("wrong password", &c.login().unwrap_err());
    let c = Client::builder("127.0.0.1:9")
        .password("alice@pve", WRONG_PASSWORD)
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    s.error("no server", &c.login().unwrap_err());
}

#[test]
fn tfa_logins() {
    let sim = sim();
    let mut s = Secrets::new();
    let b = builder(&sim)
        .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
        .second_factor(SecondFactor::totp(proxmox_sim::TOTP_CODE));
    s.debug("ClientBuilder(tfa)", &b);
    let c = b.build().unwrap();
    c.login().unwrap();
    s.add_session(&c.session().expect("a session"));
    s.debug("Client after TFA", &c);

    // Wrong code.
    let c = builder(&sim)
        .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
        .second_factor(SecondFactor::totp(WRONG_TOTP))
        .build()
        .unwrap();
    s.error("TFA rejected", &c.login().unwrap_err());

    // No factor at all.
    let c = builder(&sim)
        .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
        .build()
        .unwrap();
    s.error("TFA required", &c.login().unwrap_err());

    // Through a callback, which sees the challenge: the half ticket is a secret too.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let b = builder(&sim)
        .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
        .second_factor_callback(move |ch| {
            seen2
                .lock()
                .unwrap()
                .push((format!("{ch:?} {ch:#?}"), serde_json::to_value(ch).unwrap()));
            Some(SecondFactor::recovery(proxmox_sim::RECOVERY_KEYS[0]))
        });
    s.debug("ClientBuilder(callback)", &b);
    let c = b.build().unwrap();
    c.login().unwrap();
    s.add_session(&c.session().expect("a session"));
    let (dbg, saved) = seen.lock().unwrap().pop().unwrap();
    let half = saved["half_ticket"]
        .as_str()
        .expect("a serialised challenge keeps its half ticket");
    let half_sig = half.split_once("::").unwrap().1;
    s.0.push(half_sig.to_owned());
    s.debug("TfaChallenge (callback)", &dbg);
    s.debug("Client after callback TFA", &c);
}

#[test]
fn proxy_password() {
    let sim = sim();
    let s = Secrets::new();
    let url = format!("http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:9");
    let b = builder(&sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .proxy(&url)
        .connect_timeout(Duration::from_millis(500));
    s.debug("ClientBuilder(proxy)", &b);
    let c = b.build().unwrap();
    s.debug("Client(proxy)", &c);
    s.error("proxy unreachable", &c.get::<Value>("nodes").unwrap_err());
}

/// The core's proxy check (`proxmox_proto::options`) quotes the whole proxy URL in its error,
/// password included.
#[test]
fn regression_invalid_proxy_url_error_hides_the_password() {
    let sim = sim();
    let s = Secrets::new();
    let e = builder(&sim)
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .proxy(&format!("socks9://proxyuser:{PROXY_PASSWORD}@"))
        .build()
        .unwrap_err();
    s.error("bad proxy config", &e);
}

#[test]
fn transport_and_protocol_errors() {
    let s = Secrets::new();
    let c = Client::builder("127.0.0.1:9")
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let e = c.get::<Value>("nodes").unwrap_err();
    assert!(matches!(e, Error::Transport(_)));
    s.error("connection refused", &e);
}
