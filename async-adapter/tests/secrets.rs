//! Every secret proxmox-async handles (password, ticket, CSRF token, token secret, TFA answer,
//! TFA half ticket, client key, proxy password) is configured, real flows run against the
//! simulator (success and failure) over each backend whose feature is on (hyper, reqwest, surf), and the
//! `Debug`/`Display` of the builder, the client, the session, the raw response and every error
//! are searched for them.
#![cfg(any(feature = "hyper", feature = "reqwest", feature = "surf"))]

use proxmox_async::{Backend, CallOptions, Client, ClientBuilder, Error};
use proxmox_proto::Call;
use proxmox_proto::auth::SecondFactor;
use proxmox_sim::{Config, Service as SimService, Simulator};
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxmox_testbed::secrets::{
    CLIENT_CERT, CLIENT_KEY, PROXY_PASSWORD, Secrets, WRONG_PASSWORD, WRONG_TOKEN, WRONG_TOTP,
};

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

/// surf (rustls 0.18) needs a DNS name.
fn host_for(backend: Backend, port: u16) -> String {
    match backend {
        #[cfg(feature = "surf")]
        Backend::Surf => format!("localhost:{port}"),
        _ => format!("127.0.0.1:{port}"),
    }
}

fn sim() -> Simulator {
    Simulator::start(Config::new(SimService::Pve)).expect("simulator starts")
}

fn builder(backend: Backend, sim: &Simulator) -> ClientBuilder {
    let clock = sim.clock().clone();
    Client::builder(&host_for(backend, sim.addr().port()))
        .backend(backend)
        .ca_pem(sim.ca_pem().as_bytes())
        .clock(Arc::new(move || clock.now()))
        .timeout(Duration::from_secs(10))
}

#[test]
fn token_client() {
    let sim = sim();
    let s = Secrets::new();
    for backend in backends() {
        let b = builder(backend, &sim)
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .client_certificate(CLIENT_CERT.as_bytes(), CLIENT_KEY.as_bytes());
        s.debug("ClientBuilder(token, client cert)", &b);
        let c = b.build().unwrap();
        s.debug("Client(token)", &c);
        let wrong = builder(backend, &sim)
            .api_token(proxmox_sim::TOKEN_ID, WRONG_TOKEN)
            .build()
            .unwrap();
        block_on(backend, async {
            let _: Value = c.get("nodes").await.unwrap();
            s.error(
                "404",
                &c.get::<Value>(("nodes", "nope", "qemu", 1, "status", "current"))
                    .await
                    .unwrap_err(),
            );
            s.error(
                "bad params",
                &c.post::<Value, _>(("nodes", "pve1", "qemu"), &serde_json::json!({"vmid": "x"}))
                    .await
                    .unwrap_err(),
            );
            let raw = c
                .call_raw(&Call::get("version").unwrap(), &CallOptions::default())
                .await
                .unwrap();
            s.debug("RawResponse", &raw);
            s.error(
                "wrong token",
                &wrong.get::<Value>("nodes").await.unwrap_err(),
            );
        });
        for secret in [format!("{WRONG_TOKEN}\r\nX: 1"), String::new()] {
            let e = builder(backend, &sim)
                .api_token(proxmox_sim::TOKEN_ID, secret)
                .build()
                .unwrap_err();
            s.error("bad token config", &e);
        }
    }
}

#[test]
fn password_client_and_saved_session() {
    for backend in backends() {
        let sim = sim();
        let mut s = Secrets::new();
        let b = builder(backend, &sim).password("alice@pve", "alicepw");
        s.debug("ClientBuilder(password)", &b);
        let c = b.build().unwrap();
        s.debug("Client before login", &c);
        block_on(backend, async {
            c.login().await.unwrap();
            s.add_session(&c.session().expect("a session"));
            s.debug("Client after login", &c);
            s.debug("Session", &c.session().unwrap());
            // alice may only see VM 100: 403.
            s.error(
                "403",
                &c.get::<Value>(("nodes", "pve1", "qemu", 101, "config"))
                    .await
                    .unwrap_err(),
            );
            s.error(
                "POST 403",
                &c.post::<Value, _>(("nodes", "pve1", "qemu"), &serde_json::json!({"vmid": 300}))
                    .await
                    .unwrap_err(),
            );
            let raw = c
                .call_raw(&Call::get("version").unwrap(), &CallOptions::default())
                .await
                .unwrap();
            s.debug("RawResponse(password)", &raw);

            // Ticket expiry, renewal and re-login keep secrets out too.
            sim.clock().advance(Duration::from_secs(3700));
            let _ = c.get::<Value>("version").await;
            s.add_session(&c.session().expect("a session"));
            sim.expire_all_tickets();
            let _ = c.get::<Value>("version").await;
            s.add_session(&c.session().expect("a session"));
            s.debug("Client after renewal", &c);

            // Resuming the saved session.
            let b = builder(backend, &sim).session(c.session().unwrap());
            s.debug("ClientBuilder(session)", &b);
            let resumed = b.build().unwrap();
            s.debug("Client(session)", &resumed);
            sim.expire_all_tickets();
            s.error(
                "expired saved session",
                &resumed.get::<Value>("nodes").await.unwrap_err(),
            );

            // Wrong password, and a password login to a server that is not there.
            let c = builder(backend, &sim)
                .password("alice@pve", WRONG_PASSWORD)
                .build()
                .unwrap();
            s.error("wrong password", &c.login().await.unwrap_err());
            let c = Client::builder(&host_for(backend, 9))
                .backend(backend)
                .password("alice@pve", WRONG_PASSWORD)
                .connect_timeout(Duration::from_millis(500))
                .read_timeout(Duration::from_millis(500))
                .build()
                .unwrap();
            s.error("no server", &c.login().await.unwrap_err());
        });
    }
}

#[test]
fn tfa_logins() {
    for backend in backends() {
        let sim = sim();
        let mut s = Secrets::new();
        let b = builder(backend, &sim)
            .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
            .second_factor(SecondFactor::totp(proxmox_sim::TOTP_CODE));
        s.debug("ClientBuilder(tfa)", &b);
        let c = b.build().unwrap();
        let wrong = builder(backend, &sim)
            .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
            .second_factor(SecondFactor::totp(WRONG_TOTP))
            .build()
            .unwrap();
        let none = builder(backend, &sim)
            .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let b = builder(backend, &sim)
            .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
            .second_factor_callback(move |ch| {
                seen2
                    .lock()
                    .unwrap()
                    .push((format!("{ch:?} {ch:#?}"), serde_json::to_value(ch).unwrap()));
                Some(SecondFactor::recovery(proxmox_sim::RECOVERY_KEYS[0]))
            });
        s.debug("ClientBuilder(callback)", &b);
        let cb = b.build().unwrap();
        block_on(backend, async {
            c.login().await.unwrap();
            s.add_session(&c.session().expect("a session"));
            s.debug("Client after TFA", &c);
            s.error("TFA rejected", &wrong.login().await.unwrap_err());
            s.error("TFA required", &none.login().await.unwrap_err());
            cb.login().await.unwrap();
            s.add_session(&cb.session().expect("a session"));
        });
        let (dbg, saved) = seen.lock().unwrap().pop().unwrap();
        let half = saved["half_ticket"]
            .as_str()
            .expect("a serialised challenge keeps its half ticket");
        s.0.push(half.split_once("::").unwrap().1.to_owned());
        s.debug("TfaChallenge (callback)", &dbg);
        s.debug("Client after callback TFA", &cb);
    }
}

#[test]
fn proxy_password() {
    let sim = sim();
    let s = Secrets::new();
    let url = format!("http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:9");
    for backend in backends() {
        let b = builder(backend, &sim)
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .proxy(&url)
            .connect_timeout(Duration::from_millis(500));
        s.debug("ClientBuilder(proxy)", &b);
        match b.build() {
            Ok(c) => {
                s.debug("Client(proxy)", &c);
                block_on(backend, async {
                    s.error(
                        "proxy unreachable",
                        &c.get::<Value>("nodes").await.unwrap_err(),
                    );
                });
            }
            // surf has no proxy support: refused at build time, without the URL's password.
            Err(e) => s.error("proxy refused", &e),
        }
        let e = builder(backend, &sim)
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .proxy(&format!("socks9://proxyuser:{PROXY_PASSWORD}@"))
            .build()
            .unwrap_err();
        s.error("bad proxy config", &e);
    }
}

/// The core's target parser quotes the whole host string in `InputError::InvalidTarget`, so
/// a password put into the host's userinfo shows in the error.
#[test]
fn credentials_in_the_host_are_refused_without_echoing_them() {
    let s = Secrets::new();
    for backend in backends() {
        for host in [
            format!("alice:{WRONG_PASSWORD}@127.0.0.1:9"),
            format!("https://alice:{WRONG_PASSWORD}@127.0.0.1:9"),
        ] {
            let e = Client::builder(&host)
                .backend(backend)
                .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
                .build()
                .unwrap_err();
            s.error("host with credentials", &e);
        }
    }
}

#[test]
fn transport_errors() {
    let s = Secrets::new();
    for backend in backends() {
        let c = Client::builder(&host_for(backend, 9))
            .backend(backend)
            .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
            .connect_timeout(Duration::from_millis(500))
            .read_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        block_on(backend, async {
            let e = c.get::<Value>("nodes").await.unwrap_err();
            assert!(matches!(e, Error::Transport(_)), "{backend:?}: {e:?}");
            s.error("connection refused", &e);
        });
    }
}
