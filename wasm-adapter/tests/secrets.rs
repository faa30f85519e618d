//! Native (non-wasm) checks of the browser client's builder: its errors never show a secret
//! (token secret, password, TFA answer, saved ticket, proxy password) in `Debug`/`Display`, and
//! what the browser cannot do is refused at `build()`. Nothing here touches JavaScript.
#![cfg(not(target_arch = "wasm32"))]

use proxmox_proto::Service;
use proxmox_proto::auth::{SecondFactor, Session};
use proxmox_wasm::Client;
use std::fmt::{Debug, Display};

const TOKEN_SECRET: &str = "Tok-SECRET-wasm-0001";
const PASSWORD: &str = "Pw-SECRET-wasm-0002";
const TOTP: &str = "246813";
const RECOVERY: &str = "Rec-SECRET-wasm-0003";
const PROXY_PASSWORD: &str = "Proxy-SECRET-wasm-0004";
const TICKET_SIG: &str = "VGlja2V0U0VDUkVUd2FzbTAwMDU=";
const CSRF: &str = "CSRF-SECRET-wasm-0006";
const ALL: [&str; 7] = [
    TOKEN_SECRET,
    PASSWORD,
    TOTP,
    RECOVERY,
    PROXY_PASSWORD,
    TICKET_SIG,
    CSRF,
];

#[track_caller]
fn no_secret(what: &str, v: &impl Debug) {
    let text = format!("{v:?} {v:#?}");
    for s in ALL {
        assert!(!text.contains(s), "{what} Debug shows {s:?}: {text}");
    }
}

#[track_caller]
fn no_secret_error(what: &str, e: &(impl Debug + Display)) {
    no_secret(what, e);
    let text = e.to_string();
    for s in ALL {
        assert!(!text.contains(s), "{what} Display shows {s:?}: {text}");
    }
}

const ORIGIN: &str = "https://pve.example.com:8006";

#[test]
fn builders_and_clients_hide_credentials() {
    let b = Client::builder(ORIGIN).api_token("root@pam!ci", TOKEN_SECRET);
    no_secret("ClientBuilder(token)", &b);
    no_secret("Client(token)", &b.build().unwrap());

    let b = Client::builder(ORIGIN)
        .password("root@pam", PASSWORD)
        .second_factor(SecondFactor::totp(TOTP));
    no_secret("ClientBuilder(password, totp)", &b);
    no_secret("Client(password)", &b.build().unwrap());

    let b = Client::builder(ORIGIN)
        .password("root@pam", PASSWORD)
        .second_factor(SecondFactor::recovery(RECOVERY));
    no_secret("ClientBuilder(password, recovery)", &b);
    no_secret("Client(recovery)", &b.build().unwrap());

    let session = Session::new(
        Service::Pve,
        "root@pam",
        &format!("PVE:root@pam:65000000::{TICKET_SIG}"),
        Some(&format!("65000000:{CSRF}")),
    )
    .unwrap();
    no_secret("Session", &session);
    let b = Client::builder(ORIGIN).session(session);
    no_secret("ClientBuilder(session)", &b);
    no_secret("Client(session)", &b.build().unwrap());
}

#[test]
fn configuration_errors_hide_credentials() {
    // A proxy is refused in a browser: the refusal does not quote the URL's password.
    let e = Client::builder(ORIGIN)
        .api_token("root@pam!ci", TOKEN_SECRET)
        .proxy(&format!("http://user:{PROXY_PASSWORD}@proxy:3128"))
        .build()
        .unwrap_err();
    no_secret_error("proxy refused", &e);
    for secret in [
        format!("{TOKEN_SECRET}\r\nX: 1"),
        format!("{TOKEN_SECRET}\0"),
    ] {
        let e = Client::builder(ORIGIN)
            .api_token("root@pam!ci", secret)
            .build()
            .unwrap_err();
        no_secret_error("bad token", &e);
    }
    let e = Client::builder(ORIGIN)
        .password("root@pam\r\nX: 1", PASSWORD)
        .build()
        .unwrap_err();
    no_secret_error("bad user", &e);
}

/// `parse_origin` (wasm-adapter/src/lib.rs) quotes the whole origin in its `Error::Config`,
/// so a password put into the origin's userinfo shows in the error.
#[test]
fn origin_with_credentials_is_refused_without_echoing_them() {
    let e = Client::builder(&format!("https://root:{PASSWORD}@pve:8006"))
        .api_token("root@pam!ci", TOKEN_SECRET)
        .build()
        .unwrap_err();
    no_secret_error("origin with credentials", &e);
}

/// Same-origin: several endpoints, or node addresses, are refused at `build()` with what to
/// do instead (and without the token secret).
#[test]
fn cluster_endpoints_are_refused_at_build() {
    for b in [
        Client::builder("https://pve1:8006").endpoints(["pve2", "pve3"]),
        Client::builder("https://pve1:8006").node_address("pve2", "10.0.0.2"),
    ] {
        let e = b
            .api_token("root@pam!ci", TOKEN_SECRET)
            .build()
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("several cluster endpoints"), "{text}");
        assert!(text.contains("reverse proxy"), "{text}");
        no_secret_error("cluster endpoints", &e);
    }
}

#[test]
fn console_builders_hide_credentials() {
    let c = Client::builder(ORIGIN)
        .password("root@pam", PASSWORD)
        .build()
        .unwrap();
    let b = c
        .console(proxmox_wasm::ConsoleTarget::Node("pve1".into()))
        .size(80, 24)
        .keepalive(None);
    no_secret("ConsoleBuilder", &b);
}
