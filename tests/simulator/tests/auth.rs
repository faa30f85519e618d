//! Login, tickets, CSRF, tokens, renewal, expiry and TFA against the simulator.

mod common;

use std::time::Duration;

use common::{Client, plain, root_client};
use proxmox_sim::{AuthKind, Service};

#[test]
fn login_and_list_nodes() {
    let sim = plain(Service::Pve);
    let mut c = Client::new(&sim);
    let r = c.login("root@pam", "secret");
    assert_eq!(r.status, 200);
    let d = r.data();
    let ticket = d["ticket"].as_str().expect("ticket");
    let parts: Vec<&str> = ticket.splitn(3, ':').collect();
    assert_eq!(parts[0], "PVE");
    assert_eq!(parts[1], "root@pam");
    let hex = &parts[2][..8];
    assert_eq!(u64::from_str_radix(hex, 16).ok(), Some(1_795_000_000));
    assert_eq!(&parts[2][8..10], "::");
    let csrf = d["CSRFPreventionToken"].as_str().expect("csrf");
    assert!(csrf.starts_with(&format!("{hex}:")));
    assert_eq!(d["username"], "root@pam");
    let nodes = c.get("/nodes");
    assert_eq!(nodes.status, 200);
    assert_eq!(nodes.data()[0]["node"], "pve1");
    assert_eq!(nodes.data()[0]["ssl_fingerprint"], sim.fingerprint_sha256());
}

#[test]
fn username_without_realm_gets_pam_and_wrong_password_is_401() {
    let sim = plain(Service::Pve);
    let mut c = Client::new(&sim);
    assert_eq!(c.login("root", "secret").data()["username"], "root@pam");
    let mut c = Client::new(&sim);
    let r = c.login("root@pam", "nope");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (401, "authentication failure")
    );
    assert_eq!(r.json()["data"], serde_json::Value::Null);
    assert_eq!(r.json()["message"], "authentication failure\n");
    let r = c.login("nobody@pve", "secret");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (401, "authentication failure")
    );
}

#[test]
fn no_or_forged_ticket_is_401() {
    let sim = plain(Service::Pve);
    let mut c = Client::new(&sim);
    let r = c.get("/version");
    assert_eq!((r.status, r.reason.as_str()), (401, "No ticket"));
    let good = root_client(&sim).ticket.expect("ticket");
    // Same data, other signature.
    let (signed, _) = good.rsplit_once("::").expect("sig");
    c.ticket = Some(format!("{signed}::AAAA"));
    let r = c.get("/version");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (401, "permission denied - invalid PVE ticket")
    );
    // Other user, same signature.
    let forged = good.replacen("root@pam", "alice@pve", 1);
    c.ticket = Some(forged);
    assert_eq!(c.get("/version").status, 401);
    c.ticket = Some(good);
    assert_eq!(c.get("/version").status, 200);
}

#[test]
fn csrf_required_on_non_get_with_ticket() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    let csrf = c.csrf.take();
    let r = c.post("/nodes/pve1/qemu/101/status/start", &[]);
    assert_eq!(
        (r.status, r.reason.as_str()),
        (401, "Permission denied - invalid csrf token")
    );
    c.csrf = Some("6B093C86:forged".into());
    assert_eq!(c.post("/nodes/pve1/qemu/101/status/start", &[]).status, 401);
    c.csrf = csrf;
    let r = c.post("/nodes/pve1/qemu/101/status/start", &[]);
    assert_eq!(r.status, 200, "{}", r.reason);
    assert!(
        r.data()
            .as_str()
            .is_some_and(|u| u.starts_with("UPID:pve1:"))
    );
    let log = sim.requests();
    let posts: Vec<_> = log
        .iter()
        .filter(|e| e.path.ends_with("/status/start"))
        .collect();
    assert_eq!(posts.len(), 3);
    assert!(!posts[0].csrf && posts[1].csrf && posts[2].csrf);
    assert_eq!(posts[2].auth, AuthKind::TicketCookie);
}

#[test]
fn ticket_in_authorization_header_and_url_encoded_cookie() {
    let sim = plain(Service::Pve);
    let ticket = root_client(&sim).ticket.expect("ticket");
    let mut c = Client::new(&sim);
    c.authorization = Some(format!("PVEAuthCookie={ticket}"));
    assert_eq!(c.get("/version").status, 200);
    let mut c = Client::new(&sim);
    c.ticket = Some(common::enc(&ticket));
    assert_eq!(c.get("/version").status, 200);
    let kinds: Vec<AuthKind> = sim
        .requests()
        .iter()
        .filter(|e| e.path.ends_with("/version"))
        .map(|e| e.auth)
        .collect();
    assert_eq!(kinds, vec![AuthKind::TicketHeader, AuthKind::TicketCookie]);
}

#[test]
fn pve_token_format_and_no_csrf() {
    let sim = plain(Service::Pve);
    let mut c = Client::new(&sim);
    c.authorization = sim.token_header();
    assert_eq!(
        c.authorization.as_deref(),
        Some("PVEAPIToken=root@pam!ci=11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(c.get("/nodes").status, 200);
    let r = c.post("/nodes/pve1/qemu/101/status/start", &[]);
    assert_eq!(r.status, 200);
    let upid = r.data().as_str().unwrap_or_default().to_owned();
    assert!(upid.ends_with(":qmstart:101:root@pam!ci:"), "{upid}");
    // A space after the prefix is accepted too.
    c.authorization = Some("PVEAPIToken root@pam!ci=11111111-2222-3333-4444-555555555555".into());
    assert_eq!(c.get("/version").status, 200);
    // The PBS separator is wrong for PVE.
    c.authorization = Some("PVEAPIToken=root@pam!ci:11111111-2222-3333-4444-555555555555".into());
    let r = c.get("/version");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (401, "authentication failure")
    );
    c.authorization = Some("PVEAPIToken=root@pam!ci=wrong".into());
    assert_eq!(c.get("/version").status, 401);
    let kinds: Vec<AuthKind> = sim.requests().iter().map(|e| e.auth).collect();
    assert_eq!(
        kinds,
        vec![
            AuthKind::Token,
            AuthKind::Token,
            AuthKind::Token,
            AuthKind::Bad,
            AuthKind::Bad
        ]
    );
}

#[test]
fn pbs_token_and_cookie_names() {
    let sim = plain(Service::Pbs);
    let mut c = Client::new(&sim);
    c.authorization = sim.token_header();
    assert_eq!(
        c.authorization.as_deref(),
        Some("PBSAPIToken=root@pam!ci:11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(c.get("/admin/datastore").status, 200);
    c.authorization = Some("PBSAPIToken=root@pam!ci=11111111-2222-3333-4444-555555555555".into());
    assert_eq!(c.get("/admin/datastore").status, 401);
    // Percent-encoded secret is decoded.
    c.authorization = Some("PBSAPIToken=root@pam!ci:11111111%2D2222-3333-4444-555555555555".into());
    assert_eq!(c.get("/admin/datastore").status, 200);

    let mut c = Client::new(&sim);
    let r = c.login("root@pam", "secret");
    let ticket = r.data()["ticket"].as_str().unwrap_or_default().to_owned();
    assert!(ticket.starts_with("PBS:root@pam:"), "{ticket}");
    for name in ["__Host-PBSAuthCookie", "PBSAuthCookie"] {
        c.cookie_name = name.into();
        assert_eq!(c.get("/version").status, 200, "{name}");
    }
    c.cookie_name = "PVEAuthCookie".into();
    assert_eq!(c.get("/version").status, 401);
    // PBS has no Authorization fallback for tickets.
    let mut c = Client::new(&sim);
    c.authorization = Some(format!("PBSAuthCookie={ticket}"));
    assert_eq!(c.get("/version").status, 401);
}

#[test]
fn pmg_has_no_tokens_but_tickets_work() {
    let sim = plain(Service::Pmg);
    assert_eq!(sim.token_header(), None);
    let mut c = Client::new(&sim);
    c.authorization = Some("PMGAPIToken=root@pam!ci=11111111-2222-3333-4444-555555555555".into());
    assert_eq!(c.get("/version").status, 401);
    let mut c = root_client(&sim);
    assert!(
        c.ticket
            .as_deref()
            .is_some_and(|t| t.starts_with("PMG:root@pam:"))
    );
    assert_eq!(c.get("/config/admin").status, 200);
    c.cookie_name = "PVEAuthCookie".into();
    assert_eq!(c.get("/config/admin").status, 401);
}

#[test]
fn renewal_with_ticket_as_password() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    let old = c.ticket.clone().expect("ticket");
    sim.clock().advance(Duration::from_secs(3600));
    let r = c.login("root@pam", &old);
    assert_eq!(r.status, 200, "{}", r.reason);
    let new = c.ticket.clone().expect("renewed");
    assert_ne!(old, new);
    let hex = |t: &str| u64::from_str_radix(&t[13..21], 16).unwrap_or(0);
    assert_eq!(hex(&new) - hex(&old), 3600);
    // Old one still valid (tickets are not stored), until its own 2 h are over.
    let mut oldc = Client::new(&sim);
    oldc.ticket = Some(old.clone());
    assert_eq!(oldc.get("/version").status, 200);
    sim.clock().advance(Duration::from_secs(3600));
    assert_eq!(oldc.get("/version").status, 401);
    assert_eq!(c.get("/version").status, 200);
    // An expired ticket cannot be renewed; a ticket of another user neither.
    let mut x = Client::new(&sim);
    assert_eq!(x.login("root@pam", &old).status, 401);
    assert_eq!(x.login("alice@pve", &new).status, 401);
    // The login log redacts the ticket used as password.
    let log = sim.requests();
    assert!(
        log.iter()
            .all(|e| e.form.iter().all(|(_, v)| !v.starts_with("PVE:")))
    );
}

#[test]
fn expiry_after_two_hours_of_simulated_time() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    sim.clock().advance(Duration::from_secs(7199));
    assert_eq!(c.get("/version").status, 200);
    sim.clock().advance(Duration::from_secs(1));
    let r = c.get("/version");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (401, "permission denied - invalid PVE ticket")
    );
    // A fresh login works again; then all tickets can be revoked at once.
    let mut c = root_client(&sim);
    assert_eq!(c.get("/version").status, 200);
    sim.expire_all_tickets();
    assert_eq!(c.get("/version").status, 401);
}

fn half_ticket(c: &mut Client) -> (String, serde_json::Value) {
    let r = c.login(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD);
    assert_eq!(r.status, 200);
    let d = r.data();
    assert_eq!(d["NeedTFA"], 1);
    (d["ticket"].as_str().unwrap_or_default().to_owned(), d)
}

#[test]
fn tfa_second_step_with_totp_and_recovery() {
    let sim = plain(Service::Pve);
    let mut c = Client::new(&sim);
    let (half, d) = half_ticket(&mut c);
    assert_eq!(d["username"], "tfa@pve");
    let challenge = half
        .strip_prefix("PVE:!tfa!")
        .and_then(|r| r.rsplit_once("::"))
        .and_then(|(s, _)| s.rsplit_once(':'))
        .map(|(c, _)| c.replace("%3A", ":"))
        .expect("challenge");
    let parsed: serde_json::Value = serde_json::from_str(&challenge).expect("challenge JSON");
    assert_eq!(parsed["totp"], true);
    assert_eq!(parsed["recovery"], serde_json::json!([0, 1, 2]));
    // The half ticket is not a ticket.
    c.ticket = Some(half.clone());
    assert_eq!(c.get("/version").status, 401);
    c.ticket = None;
    // Bare code in password fails; the typed one works.
    let step = |c: &mut Client, resp: &str, half: &str| {
        c.post(
            "/access/ticket",
            &[
                ("username", "tfa@pve"),
                ("tfa-challenge", half),
                ("password", resp),
            ],
        )
    };
    assert_eq!(step(&mut c, "123456", &half).status, 401);
    let r = step(&mut c, "totp:123456", &half);
    assert_eq!(r.status, 200);
    let ticket = r.data()["ticket"].as_str().unwrap_or_default().to_owned();
    assert!(ticket.starts_with("PVE:tfa@pve:"));
    c.ticket = Some(ticket);
    assert_eq!(c.get("/version").status, 200);
    // The half ticket is bound to its user.
    let r = c.post(
        "/access/ticket",
        &[
            ("username", "root@pam"),
            ("tfa-challenge", &half),
            ("password", "totp:123456"),
        ],
    );
    assert_eq!(r.status, 401);
    // Recovery keys work once each and disappear from the challenge.
    let key = proxmox_sim::RECOVERY_KEYS[1];
    assert_eq!(step(&mut c, &format!("recovery:{key}"), &half).status, 200);
    assert_eq!(step(&mut c, &format!("recovery:{key}"), &half).status, 401);
    let (half2, _) = half_ticket(&mut Client::new(&sim));
    assert!(half2.contains("\"recovery\"%3A[0,2]"), "{half2}");
    // The TFA answer is redacted in the log.
    for e in sim.requests() {
        for (k, v) in &e.form {
            assert!(!v.contains("123456"), "{k}={v}");
            if k == "tfa-challenge" {
                assert_eq!(v, "<redacted>");
            }
        }
    }
}

#[test]
fn tfa_half_ticket_expires_and_lockout_after_failures() {
    let sim = plain(Service::Pve);
    let mut c = Client::new(&sim);
    let (half, _) = half_ticket(&mut c);
    for _ in 0..5 {
        let r = c.post(
            "/access/ticket",
            &[
                ("username", "tfa@pve"),
                ("tfa-challenge", &half),
                ("password", "totp:000000"),
            ],
        );
        assert_eq!(
            (r.status, r.reason.as_str()),
            (401, "authentication failure")
        );
    }
    assert!(sim.tfa_locked("tfa@pve"));
    let r = c.post(
        "/access/ticket",
        &[
            ("username", "tfa@pve"),
            ("tfa-challenge", &half),
            ("password", "totp:123456"),
        ],
    );
    assert_eq!(r.status, 401, "locked out even with the right code");

    let sim = plain(Service::Pve);
    let mut c = Client::new(&sim);
    let (half, _) = half_ticket(&mut c);
    sim.clock().advance(Duration::from_secs(7200));
    let r = c.post(
        "/access/ticket",
        &[
            ("username", "tfa@pve"),
            ("tfa-challenge", &half),
            ("password", "totp:123456"),
        ],
    );
    assert_eq!(r.status, 401);
    // One-shot TFA through otp on the first call.
    let r = c.post(
        "/access/ticket",
        &[
            ("username", "tfa@pve"),
            ("password", "tfapass"),
            ("otp", "totp:123456"),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(r.data().get("NeedTFA").is_none());
}

#[test]
fn json_login_body_is_accepted() {
    let sim = plain(Service::Pve);
    let mut c = Client::new(&sim);
    let body = r#"{"username":"root@pam","password":"secret"}"#;
    let req = format!(
        "POST /api2/json/access/ticket HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = c.raw(req.as_bytes()).expect("raw");
    assert_eq!(r.status, 200);
    assert_eq!(r.data()["username"], "root@pam");
    let e = &sim.requests()[0];
    assert_eq!(e.content_type.as_deref(), Some("application/json"));
    assert!(e.form.contains(&("password".into(), "<redacted>".into())));
    assert!(e.form.contains(&("username".into(), "root@pam".into())));
}

#[test]
fn limited_user_gets_403() {
    let sim = plain(Service::Pve);
    let mut c = Client::new(&sim);
    assert_eq!(c.login("alice@pve", "alicepw").status, 200);
    assert_eq!(c.get("/nodes/pve1/qemu/100/config").status, 200);
    let r = c.get("/nodes/pve1/qemu/101/config");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (403, "Permission check failed (/vms/101, VM.Audit)")
    );
    let vms = c.get("/cluster/resources?type=vm").data();
    assert_eq!(vms.as_array().map(Vec::len), Some(1));
}
