//! Everything proxmox-ureq traces, captured at TRACE level (span fields and Debug values
//! included) over a TFA login, a ticket renewal, an upload and an answer carrying a new API
//! token's secret, then searched for every secret: raw, percent-encoded and base64-encoded.
#![cfg(feature = "tracing")]

use proxmox_proto::auth::SecondFactor;
use proxmox_sim::{Config, Service as SimService, Simulator};
use proxmox_ureq::{Client, UploadChecksum, UploadContent, WaitOptions, serde_json};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Writes every span, every recorded field and every event, with all fields as Debug.
struct Capture {
    text: Arc<Mutex<String>>,
    next: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut t = self.text.lock().unwrap();
        let _ = write!(
            t,
            "\nspan {} {}",
            span.metadata().level(),
            span.metadata().name()
        );
        span.record(&mut Fields(&mut t));
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut t = self.text.lock().unwrap();
        t.push_str("\nrecord");
        values.record(&mut Fields(&mut t));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut t = self.text.lock().unwrap();
        let _ = write!(
            t,
            "\nevent {} {}",
            event.metadata().level(),
            event.metadata().target()
        );
        event.record(&mut Fields(&mut t));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn percent_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn no_secret_reaches_a_span_or_an_event() {
    let sim = Simulator::start(Config::new(SimService::Pve)).unwrap();
    let clock = sim.clock().clone();
    let text = Arc::new(Mutex::new(String::new()));
    let capture = Capture {
        text: text.clone(),
        next: AtomicU64::new(0),
    };
    let mut secrets: Vec<String> = vec![
        proxmox_sim::TFA_PASSWORD.into(),
        proxmox_sim::TOTP_CODE.into(),
        proxmox_sim::TOKEN_SECRET.into(),
    ];
    tracing::subscriber::with_default(capture, || {
        let c = Client::builder(&sim.url())
            .fingerprint(sim.fingerprint())
            .clock(Arc::new(move || clock.now()))
            .password(proxmox_sim::TFA_USER, proxmox_sim::TFA_PASSWORD)
            .second_factor(SecondFactor::totp(proxmox_sim::TOTP_CODE))
            .build()
            .unwrap();
        c.login().unwrap();
        let first = c.session().expect("a session after the login");
        secrets.push(first.ticket().expose().to_owned());
        secrets.extend(first.csrf_token().map(str::to_owned));
        // Into the ticket's last hour: the next call renews it.
        sim.clock().advance(Duration::from_secs(3700));
        let _: serde_json::Value = c.get("version").unwrap();
        let renewed = c.session().expect("a session after the renewal");
        // A 595 (node unreachable) is retried: the second attempt's span says so.
        sim.inject(
            proxmox_sim::Fault::status("GET", "/cluster/status", 595, "No route to host").times(1),
        );
        let _: serde_json::Value = c.get("cluster/status").unwrap();
        assert_ne!(renewed.ticket().expose(), first.ticket().expose());
        secrets.push(renewed.ticket().expose().to_owned());
        // An upload (the multipart head and the file travel; neither may be traced).
        let dir = std::env::temp_dir().join(format!("proxmox-ureq-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("trace.iso");
        std::fs::write(&file, b"not an iso").unwrap();
        let upid = c
            .upload(
                "pve1",
                "local",
                UploadContent::Iso,
                &file,
                UploadChecksum::None,
            )
            .unwrap();
        c.wait_task_ok(&upid, WaitOptions::default()).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        // An answer that carries a secret: a new API token's value, then a call with it.
        let token: serde_json::Value = c
            .post(
                ("access", "users", proxmox_sim::TFA_USER, "token", "traced"),
                &(),
            )
            .unwrap();
        let value = token["value"]
            .as_str()
            .expect("the new token's secret")
            .to_owned();
        secrets.push(value.clone());
        let t = Client::builder(&sim.url())
            .fingerprint(sim.fingerprint())
            .api_token(&format!("{}!traced", proxmox_sim::TFA_USER), value)
            .build()
            .unwrap();
        let _: serde_json::Value = t.get("version").unwrap();
        // And a token the server refuses (the error is traced too).
        let refused = Client::builder(&sim.url())
            .fingerprint(sim.fingerprint())
            .api_token(
                proxmox_sim::TOKEN_ID,
                proxmox_sim::TOKEN_SECRET.replace('1', "9"),
            )
            .build()
            .unwrap();
        assert!(refused.get::<serde_json::Value>("version").is_err());
        secrets.push(proxmox_sim::TOKEN_SECRET.replace('1', "9"));
    });
    let text = text.lock().unwrap().clone();
    if std::env::var_os("SHOW_TRACE").is_some() {
        eprintln!("{text}");
    }
    // The capture saw the run: spans per exchange and the flow's events.
    for expected in [
        "span DEBUG proxmox.exchange",
        "path=/api2/json/access/ticket",
        "path=/api2/json/nodes/pve1/storage/local/upload",
        "status=200",
        "logged in",
        "ticket renewed",
        "attempt=1",
        "attempt=2",
        "message=retrying",
        "reason=",
        "user=tfa@pve",
    ] {
        assert!(text.contains(expected), "{expected:?} not traced:\n{text}");
    }
    for secret in &secrets {
        for form in [
            secret.clone(),
            percent_encoded(secret),
            base64(secret.as_bytes()),
        ] {
            assert!(
                !text.contains(&form),
                "a secret reached the trace as {form:?}:\n{text}"
            );
        }
    }
}
