//! Property checks behind the cargo-fuzz targets of `proxmox-proto`.
//!
//! Each public function takes the raw fuzzer input, feeds it to one parser or builder of the
//! core, and asserts properties of the result (not only "no panic"): round trips, bounds,
//! sanitised error texts, paths that stay under the intended endpoint. The targets in
//! `fuzz_targets/` are one-line wrappers, so a crash input can be replayed by calling the same
//! function.
#![forbid(unsafe_code)]

use arbitrary::{Arbitrary, Unstructured};
use proxmox_proto::auth::{Login, LoginOutcome, SecondFactor, Ticket};
use proxmox_proto::checksum::{
    ChecksumAlgorithm, ChecksumDiscovery, ChecksumFile, DiscoveryOutcome, find_checksum,
};
use proxmox_proto::command::parse_output;
use proxmox_proto::json::{Document, Json};
use proxmox_proto::models::{
    ClusterResource, LxcListEntry, LxcStatus, NodeListEntry, QemuConfig, QemuListEntry, QemuStatus,
    StorageContentEntry, TaskListEntry, VersionInfo, parse_list, parse_single,
};
use proxmox_proto::request::RequestBuilder;
use proxmox_proto::response::{api_error, parse_envelope};
use proxmox_proto::task::{LogPage, TaskStatus};
use proxmox_proto::upload::{Upload, UploadContent, boundary_from_random};
use proxmox_proto::{ApiError, ApiPath, Call, Error, IntoApiPath, Params, Service, Target, Upid};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The password, TFA answer and other secrets the auth target configures; no output may show them.
const PASSWORD: &str = "Fuzz-Password-7c1e";
const TOTP: &str = "Fuzz-Totp-93b2";

fn service(b: u8) -> Service {
    match b % 3 {
        0 => Service::Pve,
        1 => Service::Pmg,
        _ => Service::Pbs,
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Status, reason and body from raw bytes: 2 bytes of status, 1 byte of reason length.
fn split_http(data: &[u8]) -> (u16, Option<String>, &[u8]) {
    let [a, b, rlen, rest @ ..] = data else {
        return (200, None, data);
    };
    let status = u16::from_be_bytes([*a, *b]) % 1000;
    let rlen = usize::from(*rlen);
    let (reason, body) = if rlen == 255 || rlen > rest.len() {
        (None, rest)
    } else {
        let (r, b) = rest.split_at(rlen);
        (Some(String::from_utf8_lossy(r).into_owned()), b)
    };
    (status, reason, body)
}

/// Properties every [`ApiError`] built from outside data has.
fn check_api_error(e: &ApiError, status: u16) {
    assert_eq!(e.status, status);
    assert!(
        !has_control(&e.reason),
        "reason not sanitised: {:?}",
        e.reason
    );
    assert!(!e.reason.contains('\n'));
    if let Some(m) = &e.message {
        assert!(!has_control(m), "message not sanitised: {m:?}");
    }
    if let Some(raw) = &e.raw_body {
        // 4 KiB of lossy UTF-8 (each byte at most one U+FFFD) and an ellipsis.
        assert!(raw.chars().count() <= 4097, "raw body kept too long");
        assert!(
            !raw.chars().any(|c| c.is_control() && c != '\n'),
            "raw body not sanitised"
        );
    }
    // The summary and the display never fail and never embed the reason's control bytes.
    let _ = e.summary();
    let _ = e.to_string();
}

/// Equal JSON, with floats compared to a relative 1e-15.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-15,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// `response::parse_envelope` and `response::api_error` on an arbitrary status, reason and body.
///
/// Properties: a non-2xx status is always an [`Error::Api`] with that status, a 2xx status is
/// never one; error texts are sanitised and bounded; `api_error` never fails.
pub fn envelope(data: &[u8]) {
    let (status, reason, body) = split_http(data);
    let e = api_error(status, reason.as_deref(), body);
    check_api_error(&e, status);
    match parse_envelope::<Value>(status, reason.as_deref(), body) {
        Ok(env) => {
            assert!((200..300).contains(&status));
            // What was read re-serialises and reads back the same (floats to within an ulp or
            // two: serde_json's default float parser is not correctly rounded, see
            // regressions/envelope/float-text-round-trip).
            let text = serde_json::to_vec(&env.data).expect("a Value serialises");
            let back: Value = serde_json::from_slice(&text).expect("reads back");
            assert!(same_json(&back, &env.data), "{back} != {}", env.data);
        }
        Err(Error::Api(api)) => {
            assert!(!(200..300).contains(&status));
            check_api_error(&api, status);
            assert_eq!(*api, e, "parse_envelope and api_error disagree");
        }
        Err(Error::Protocol(p)) => {
            assert!((200..300).contains(&status));
            let text = p.to_string();
            assert!(
                !text.contains('\x1b'),
                "protocol error shows an escape: {text:?}"
            );
        }
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
    // The typed path must agree with the generic one on what is an error.
    let typed = parse_envelope::<Option<Vec<Value>>>(status, reason.as_deref(), body);
    if !(200..300).contains(&status) {
        assert!(matches!(typed, Err(Error::Api(_))));
    }
}

fn model_round_trip<T>(body: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let fast = parse_list::<T>(body);
    let via_value = parse_envelope::<Option<Vec<T>>>(200, None, body);
    if let Ok(list) = &fast {
        // The fast path and the envelope path agree.
        if let Ok(env) = &via_value {
            assert_eq!(
                env.data.as_ref(),
                Some(list),
                "fast path and envelope disagree"
            );
        }
        // Whatever was read serialises and reads back to the same value.
        for item in list {
            let v = serde_json::to_value(item).expect("a model serialises");
            let back: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| {
                panic!(
                    "{} does not read back its own output {v}: {e}",
                    std::any::type_name::<T>()
                )
            });
            assert_eq!(&back, item, "round trip changed the value ({v})");
        }
    }
    if let Err(e) = &fast {
        assert!(!e.to_string().contains('\x1b'));
    }
    let single = parse_single::<T>(body);
    if let Ok(item) = &single {
        let v = serde_json::to_value(item).expect("a model serialises");
        let back: T = serde_json::from_value(v).expect("reads back");
        assert_eq!(&back, item);
    }
}

/// Typed deserialisation into the core's models and into `serde_json::Value`, with Perl-loose
/// JSON. The first byte picks the model; the rest is the body.
///
/// Properties: no panic; whatever parses serialises and reads back equal; the fast list parser
/// and the envelope parser agree.
pub fn models(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    match sel % 12 {
        0 => model_round_trip::<ClusterResource>(body),
        1 => model_round_trip::<NodeListEntry>(body),
        2 => model_round_trip::<QemuListEntry>(body),
        3 => model_round_trip::<LxcListEntry>(body),
        4 => model_round_trip::<QemuStatus>(body),
        5 => model_round_trip::<LxcStatus>(body),
        6 => model_round_trip::<QemuConfig>(body),
        7 => model_round_trip::<TaskListEntry>(body),
        8 => model_round_trip::<StorageContentEntry>(body),
        9 => model_round_trip::<VersionInfo>(body),
        10 => model_round_trip::<TaskStatus>(body),
        _ => model_round_trip::<Value>(body),
    }
}

fn assert_no_secret(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} shows a secret: {text}");
    }
}

/// `Ticket::parse` on arbitrary text, and the whole login + TFA flow against an arbitrary
/// server answer.
///
/// Properties: a parsed ticket keeps its exact text and never shows its signature in `Debug`;
/// the login answer is an authenticated session, a TFA challenge or a typed error, and no
/// `Debug`/`Display` anywhere shows the password or the TFA answer.
pub fn ticket_tfa(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    if let Ok(t) = Ticket::parse(&text) {
        assert_eq!(t.expose(), text);
        assert!(!t.product().is_empty() && t.product().bytes().all(|b| b.is_ascii_uppercase()));
        assert!(!t.userid().is_empty());
        assert!(!text.bytes().any(|b| b.is_ascii_control()));
        let sig = text.split_once("::").map(|(_, s)| s).unwrap_or("");
        let dbg = format!("{t:?}");
        if sig.len() >= 8 && !t.userid().contains(sig) && !t.product().contains(sig) {
            assert!(
                !dbg.contains(sig),
                "ticket Debug shows the signature: {dbg}"
            );
        }
        if t.is_half_ticket() && t.userid().len() > 6 {
            assert!(
                !dbg.contains(t.userid()),
                "half-ticket Debug shows the challenge"
            );
        }
        assert!(Ticket::parse(t.expose()).is_ok_and(|u| u == t));
    }

    let (status, reason, body) = split_http(body);
    let svc = service(sel);
    let login = Login::new(svc, "fuzz@pve", PASSWORD).expect("valid login");
    assert_no_secret("Login Debug", &format!("{login:?}"), &[PASSWORD]);
    match login.handle_response(status, reason.as_deref(), body) {
        Ok(LoginOutcome::Authenticated(session)) => {
            assert!((200..300).contains(&status));
            assert!(!session.ticket().is_half_ticket());
            let dbg = format!("{session:?}");
            assert_no_secret("Session Debug", &dbg, &[PASSWORD]);
            if let Some(c) = session.csrf_token() {
                assert!(!c.bytes().any(|b| b.is_ascii_control()));
            }
            // A hostile ticket or CSRF token can never produce a request with a broken header.
            let rb = RequestBuilder::new(Target::parse(svc, "pve.example").expect("target"));
            let auth = proxmox_proto::auth::Auth::Session(session);
            let call = Call::post(("nodes", "x")).expect("path");
            if let Ok(req) = rb.build(&call, Some(&auth)) {
                for v in req.headers().values() {
                    assert!(
                        !v.as_bytes()
                            .iter()
                            .any(|b| *b == b'\r' || *b == b'\n' || *b == 0)
                    );
                }
            }
        }
        Ok(LoginOutcome::SecondFactor(ch)) => {
            assert!((200..300).contains(&status));
            let dbg = format!("{ch:?}");
            assert_no_secret("TfaChallenge Debug", &dbg, &[PASSWORD]);
            let factors = [
                SecondFactor::totp(TOTP),
                SecondFactor::recovery(TOTP),
                SecondFactor::yubico(TOTP),
                SecondFactor::webauthn(TOTP),
                SecondFactor::u2f(TOTP),
            ];
            for f in factors {
                assert_no_secret("SecondFactor Debug", &format!("{f:?}"), &[TOTP]);
                match ch.respond(f) {
                    Ok(step) => {
                        assert_no_secret(
                            "TfaResponse Debug",
                            &format!("{step:?}"),
                            &[TOTP, PASSWORD],
                        );
                        let call = step.request();
                        assert_eq!(call.path.to_string(), "/access/ticket");
                        // The answer is rejected: the error must not show it.
                        if let Err(e) = step.handle_response(401, Some("no"), b"{\"data\":null}") {
                            assert_no_secret("TFA error", &format!("{e} {e:?}"), &[TOTP, PASSWORD]);
                        }
                    }
                    Err(e) => {
                        assert_no_secret("respond error", &format!("{e} {e:?}"), &[TOTP, PASSWORD])
                    }
                }
            }
        }
        Err(e) => {
            let text = format!("{e} {e:?}");
            assert_no_secret("login error", &text, &[PASSWORD]);
            if let Error::Api(api) = &e {
                check_api_error(api, status);
            }
        }
    }
}

/// `Upid::parse` on arbitrary text (both the PVE and the PBS form).
///
/// Properties: a parsed UPID displays as its exact input, parses again to an equal value, has
/// a node that is a single safe path segment, and its status/log/cancel calls stay under
/// `/nodes/{node}/tasks/{upid}`.
pub fn upid(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(u) = Upid::parse(s) else {
        return;
    };
    assert_eq!(u.to_string(), s);
    assert_eq!(u.as_str(), s);
    #[allow(clippy::unnecessary_to_owned)] // Display is what is tested
    let again = Upid::parse(&u.to_string()).expect("display re-parses");
    assert_eq!(again, u);
    assert_eq!(again.node(), u.node());
    assert_eq!(again.start_time(), u.start_time());
    assert_eq!(again.id(), u.id());
    assert!(!u.node().is_empty());
    assert!(
        u.node()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    );
    assert!(u.task_id().is_some() == (s.split(':').count() == 10));
    let json = serde_json::to_string(&u).expect("serialises");
    let back: Upid = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, u);
    for (call, tail) in [
        (u.status_call(), Some("status")),
        (u.log_call(0, 50), Some("log")),
        (u.cancel_call(), None),
    ] {
        let call = call.expect("a parsed UPID always makes a call");
        let segs = call.path.segments();
        assert_eq!(segs.len(), if tail.is_some() { 5 } else { 4 });
        assert_eq!(segs[0], "nodes");
        assert_eq!(segs[1], u.node());
        assert_eq!(segs[2], "tasks");
        assert_eq!(segs[3], s);
        assert_eq!(segs.get(4).map(String::as_str), tail);
        check_encoded_path(&call.path, segs.len());
    }
}

/// `TaskStatus::from_data`/`from_data_slice` and `LogPage::from_data`/`from_envelope_slice`.
///
/// Properties: log lines come out strictly ordered by line number; a status reads back from
/// its own serialisation; parsing from bytes and from a `Value` agree.
pub fn task(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let value: Option<Value> = serde_json::from_slice(body).ok();
    let st_slice = TaskStatus::from_data_slice(body);
    if let Some(v) = &value {
        let st = TaskStatus::from_data(v);
        // What reads from bytes reads the same from a Value. (The converse does not hold: a
        // key given twice is refused from bytes but last-wins from a Value; see
        // regressions/task/ and core/tests/hostile.rs.)
        if let Ok(from_bytes) = &st_slice {
            assert_eq!(
                st.as_ref().ok(),
                Some(from_bytes),
                "from_data and from_data_slice disagree"
            );
        }
        if let Ok(st) = st {
            let ser = serde_json::to_value(&st).expect("serialises");
            let back = TaskStatus::from_data(&ser).expect("reads its own output");
            assert_eq!(back, st);
            let _ = st.exit_status();
            let _ = st.is_running();
        }
        let total = (sel & 1 == 1).then_some(u64::from(sel));
        if let Ok(page) = LogPage::from_data(v, total) {
            assert!(
                page.lines.windows(2).all(|w| w[0].n < w[1].n),
                "log lines not ordered"
            );
            assert_eq!(page.total, total);
            assert_eq!(page.first_n(), page.lines.first().map(|l| l.n));
            assert_eq!(page.last_n(), page.lines.last().map(|l| l.n));
            let text = page.text();
            assert_eq!(
                text.len(),
                page.lines.iter().map(|l| l.t.len()).sum::<usize>()
                    + page.lines.len().saturating_sub(1)
            );
        }
    }
    if let Ok(page) = LogPage::from_envelope_slice(body) {
        assert!(page.lines.windows(2).all(|w| w[0].n < w[1].n));
    }
}

fn algorithm(b: u8) -> Option<ChecksumAlgorithm> {
    match b % 7 {
        0 => Some(ChecksumAlgorithm::Md5),
        1 => Some(ChecksumAlgorithm::Sha1),
        2 => Some(ChecksumAlgorithm::Sha224),
        3 => Some(ChecksumAlgorithm::Sha256),
        4 => Some(ChecksumAlgorithm::Sha384),
        5 => Some(ChecksumAlgorithm::Sha512),
        _ => None,
    }
}

#[derive(Arbitrary, Debug)]
struct DiscoveryInput<'a> {
    url: &'a str,
    file_name: Option<&'a str>,
    preferred: u8,
    answers: Vec<(u16, &'a [u8], bool)>,
}

/// Checksum file parsing and the checksum discovery state machine.
///
/// Properties: every entry's hex length matches its algorithm; `find_checksum` only returns
/// entries of the file; discovery asks for at most one fetch per candidate, every fetch is a
/// candidate, and a found checksum comes from the answer just given.
pub fn checksum(data: &[u8]) {
    let file = ChecksumFile::parse(data);
    for e in file.entries() {
        let c = &e.checksum;
        assert_eq!(c.hex().len(), c.algorithm().hex_len());
        assert!(
            c.hex()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        if let Some(n) = &e.name {
            // A line break in a name can only come from a GNU-escaped line (`\hash  a\nb`).
            if n.contains(['\n', '\r']) {
                assert_eq!(e.format, proxmox_proto::checksum::EntryFormat::Gnu, "{n:?}");
            }
            assert!(e.is_for(n) || n.is_empty());
        }
    }
    if let Some(first) = file.entries().iter().find_map(|e| e.name.as_deref()) {
        let found = find_checksum(data, first, None).expect("a named entry is found");
        assert!(file.entries().iter().any(|e| e.checksum == found));
    }

    let mut u = Unstructured::new(data);
    let Ok(input) = DiscoveryInput::arbitrary(&mut u) else {
        return;
    };
    let Ok(mut d) = ChecksumDiscovery::new(input.url, input.file_name, algorithm(input.preferred))
    else {
        return;
    };
    let n = d.candidates().len();
    assert!(n <= 18);
    let mut answers = input.answers.into_iter();
    let mut fetches = 0;
    while let Some(url) = d.next_fetch() {
        fetches += 1;
        assert!(fetches <= n, "more fetches than candidates");
        assert!(d.candidates().iter().any(|c| c.url == url));
        assert_eq!(
            d.next_fetch().as_deref(),
            Some(url.as_str()),
            "next_fetch not stable"
        );
        // A report for another URL is refused and changes nothing.
        assert!(
            d.handle_failure("https://other.invalid/x").is_err()
                || url == "https://other.invalid/x"
        );
        match answers.next() {
            Some((status, body, false)) => {
                d.handle_fetch(&url, status, body)
                    .expect("pending fetch accepted");
                if let Some(c) = d.checksum() {
                    assert_eq!(status, 200);
                    assert!(
                        ChecksumFile::parse(body)
                            .entries()
                            .iter()
                            .any(|e| &e.checksum == c)
                    );
                    assert_eq!(d.found_at(), Some(url.as_str()));
                }
            }
            _ => d.handle_failure(&url).expect("pending failure accepted"),
        }
    }
    assert!(d.is_finished());
    match d.outcome() {
        Some(DiscoveryOutcome::Found(_)) => assert!(d.found_at().is_some()),
        Some(DiscoveryOutcome::NotFound) => assert!(d.found_at().is_none()),
        other => panic!("finished without an outcome: {other:?}"),
    }
}

/// `command::parse_output` on arbitrary stdout, stderr and exit code.
///
/// Properties: exit code 0 never gives an API error, any other code always does (with the exit
/// code kept); error texts are sanitised and bounded.
pub fn command_output(data: &[u8]) {
    let [c0, c1, split_a, split_b, rest @ ..] = data else {
        return;
    };
    let code = match *c0 {
        0..=127 => Some(0),
        128..=250 => Some(i32::from(*c1) - 128),
        _ => None,
    };
    let at = usize::from(u16::from_be_bytes([*split_a, *split_b])).min(rest.len());
    let (stdout, stderr) = rest.split_at(at);
    match parse_output(stdout, stderr, code) {
        Ok(out) => {
            assert_eq!(code, Some(0));
            for w in out.warnings() {
                assert!(!w.trim().is_empty());
            }
            if let Some(u) = out.upid() {
                assert!(u.starts_with("UPID:"));
            }
        }
        Err(Error::Api(e)) => {
            assert_ne!(code, Some(0));
            assert_eq!(e.exit_code, code);
            assert!((100..1000).contains(&e.status), "status {}", e.status);
            let status = e.status;
            check_api_error(&e, status);
        }
        Err(Error::Protocol(p)) => {
            assert_eq!(code, Some(0));
            assert!(!p.to_string().contains('\x1b'));
        }
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

/// `Target::parse`, `with_port` and `with_path_prefix` on arbitrary text.
///
/// Properties: the base URL never contains whitespace, `?`, `#`, `@` in the authority or
/// control characters; it is a valid URI whose authority is the target's; `host_name` round
/// trips through `Target::parse`.
pub fn target(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (host, prefix) = text.split_once('\u{1}').unwrap_or((&text, ""));
    let svc = service(sel);
    let Ok(t) = Target::parse(svc, host) else {
        return;
    };
    let t = if sel & 0x80 != 0 {
        t.with_port(u16::from(sel) * 97 + 1).expect("port")
    } else {
        t
    };
    let t = match t.clone().with_path_prefix(prefix) {
        Ok(p) => p,
        Err(_) => t,
    };
    let base = t.base_url();
    assert!(
        !base
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#'),
        "bad base URL {base:?} from {host:?} / {prefix:?}"
    );
    assert!(base.starts_with("https://") && base.ends_with("/api2/json"));
    let uri: http::Uri = base
        .parse()
        .unwrap_or_else(|e| panic!("{base:?} is not a URI: {e}"));
    assert_eq!(uri.scheme_str(), Some("https"));
    let auth = uri.authority().expect("authority");
    assert_eq!(auth.as_str(), t.authority());
    assert!(
        !auth.as_str().contains('@'),
        "userinfo in the authority {auth}"
    );
    assert_eq!(uri.port_u16(), Some(t.port()));
    if let Some(p) = t.path_prefix() {
        assert!(!p.split('/').any(|s| s == ".." || s == "." || s.is_empty()));
        assert_eq!(uri.path(), format!("/{p}/api2/json"));
    } else {
        assert_eq!(uri.path(), "/api2/json");
    }
    let again = Target::parse(svc, &t.authority()).expect("authority re-parses");
    assert_eq!(again.host(), t.host());
    assert_eq!(again.port(), t.port());
}

/// Check an encoded path: exactly `n` segments, no dot segments, no `?`, `#` or raw controls.
fn check_encoded_path(path: &ApiPath, n: usize) {
    let enc = path.encoded();
    assert!(enc.starts_with('/'));
    assert!(!enc.contains('?') && !enc.contains('#'), "{enc:?}");
    assert!(
        !enc.contains("/../") && !enc.ends_with("/..") && !enc.contains("/./"),
        "{enc:?}"
    );
    assert!(
        !enc.chars()
            .any(|c| c.is_control() || c.is_whitespace() || !c.is_ascii()),
        "{enc:?}"
    );
    if n == 0 {
        assert_eq!(enc, "/");
    } else {
        assert_eq!(
            enc.split('/').count() - 1,
            n,
            "{enc:?} should have {n} segments"
        );
    }
}

#[derive(Arbitrary, Debug)]
struct PathInput {
    node: String,
    vmid_or_name: String,
    extra: Vec<String>,
    number: u64,
    prefix: bool,
}

/// Path building with arbitrary caller values, alone and through `RequestBuilder`.
///
/// Properties: a value is exactly one segment, so the encoded path always has the intended
/// number of segments; it never contains `/../`, `?` or `#`; the request URI's path is the base
/// path plus the encoded path and decodes back to the values; values that are refused are
/// refused with a typed error.
pub fn path(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = PathInput::arbitrary(&mut u) else {
        return;
    };
    let p = (
        "nodes",
        input.node.as_str(),
        "qemu",
        input.vmid_or_name.as_str(),
        "status",
        input.number,
    )
        .into_api_path();
    let Ok(p) = p else {
        return;
    };
    check_encoded_path(&p, 6);
    assert_eq!(p.segments()[1], input.node);
    assert_eq!(p.segments()[3], input.vmid_or_name);
    let mut full = p.clone();
    let mut count = 6;
    for e in &input.extra {
        if let Ok(next) = full.clone().value(e) {
            full = next;
            count += 1;
        }
    }
    check_encoded_path(&full, count);
    let mut target = Target::parse(Service::Pve, "pve.example:8006").expect("target");
    if input.prefix {
        target = target.with_path_prefix("/proxy/pve/").expect("prefix");
    }
    let rb = RequestBuilder::new(target);
    let req = rb
        .build(&Call::get(full.clone()).expect("call"), None)
        .expect("request");
    let uri = req.uri();
    assert_eq!(
        uri.authority().map(|a| a.as_str()),
        Some("pve.example:8006")
    );
    assert!(uri.query().is_none());
    let base = if input.prefix {
        "/proxy/pve/api2/json"
    } else {
        "/api2/json"
    };
    let rest = uri.path().strip_prefix(base).expect("under the API root");
    assert_eq!(rest, full.encoded());
    let decoded: Vec<String> = rest.split('/').skip(1).map(percent_decode).collect();
    assert_eq!(decoded, full.segments());
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            let h = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex escape");
            out.push(h);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("decodes to UTF-8")
}

/// Form encoding: `from_form(to_form(p)) == p` for arbitrary pairs; the encoding has exactly
/// one `=` per pair and no raw `&`, `;`, `+`, `%` (other than escapes), whitespace or controls;
/// and `from_form` never panics on arbitrary text.
pub fn params(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Params::from_form(s);
    }
    let mut u = Unstructured::new(data);
    let Ok(pairs) = Vec::<(String, String)>::arbitrary(&mut u) else {
        return;
    };
    let p: Params = pairs.iter().cloned().collect();
    let form = p.to_form();
    assert!(
        !form
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ';' || c == '#')
    );
    if !pairs.is_empty() {
        assert_eq!(form.split('&').count(), pairs.len());
        assert!(form.split('&').all(|kv| kv.matches('=').count() == 1));
    }
    let back = Params::from_form(&form).expect("our own encoding decodes");
    // Decoding drops nothing but empty pieces; a pair is never empty because it has '='.
    assert_eq!(back, p, "form round trip: {form:?}");
    // Also through the request builder: GET puts it in the query, POST in the body.
    let rb = RequestBuilder::new(Target::parse(Service::Pve, "pve.example").expect("target"));
    let post = Call::post("nodes").expect("path").with_params(p.clone());
    if let Ok(req) = rb.build(&post, None) {
        let body = std::str::from_utf8(req.body()).expect("form is ASCII");
        assert_eq!(Params::from_form(body).expect("decodes"), p);
    }
    let get = Call::get("nodes").expect("path").with_params(p.clone());
    if let Ok(req) = rb.build(&get, None) {
        assert_eq!(req.uri().path(), "/api2/json/nodes");
        let q = req.uri().query().unwrap_or("");
        assert_eq!(Params::from_form(q).expect("decodes"), p);
    }
}

/// Shell quoting: `split(join(words)) == words` and `split(quote(w)) == [w]` for arbitrary
/// words; `split` never panics on arbitrary text.
pub fn shell(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(words) = proxmox_proto::shell::split(s)
    {
        // Splitting then joining then splitting is stable.
        let again = proxmox_proto::shell::split(&proxmox_proto::shell::join(&words))
            .expect("joined words split");
        assert_eq!(again, words);
    }
    let mut u = Unstructured::new(data);
    let Ok(words) = Vec::<String>::arbitrary(&mut u) else {
        return;
    };
    let line = proxmox_proto::shell::join(&words);
    let back = proxmox_proto::shell::split(&line).expect("a joined line splits");
    assert_eq!(back, words, "join/split round trip of {line:?}");
    for w in &words {
        let q = proxmox_proto::shell::quote(w);
        assert_eq!(
            proxmox_proto::shell::split(&q).expect("quoted"),
            vec![w.clone()]
        );
    }
    if let Some(first) = words.first() {
        // The first word of a joined line is never an assignment or a reserved word as written.
        let head = line.split(' ').next().unwrap_or("");
        if !first.is_empty() {
            assert!(!head.contains('=') || head.starts_with('\''), "{line:?}");
        }
    }
}

#[derive(Arbitrary, Debug)]
struct MultipartInput<'a> {
    node: &'a str,
    storage: &'a str,
    content: u8,
    file_name: &'a str,
    file_len: u64,
    random: [u8; 16],
    custom_boundary: Option<&'a str>,
    checksum: Option<u8>,
}

/// Multipart framing for uploads.
///
/// Properties: `head + file + tail == content_length`; the frame's boundary does not occur in
/// its text fields; the body assembled from in-memory content is exactly `content_length`
/// bytes; the call path is exactly `/nodes/{node}/storage/{storage}/upload`.
pub fn multipart(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = MultipartInput::arbitrary(&mut u) else {
        return;
    };
    let content = match input.content % 3 {
        0 => UploadContent::Iso,
        1 => UploadContent::Vztmpl,
        _ => UploadContent::Import,
    };
    let Ok(mut up) = Upload::new(
        input.node,
        input.storage,
        content,
        input.file_name,
        input.file_len,
    ) else {
        return;
    };
    if let Some(a) = input.checksum.and_then(algorithm) {
        let hex = "0".repeat(a.hex_len());
        let c = proxmox_proto::checksum::Checksum::new(a, &hex).expect("checksum");
        up = up.with_checksum(c);
    }
    let call = up.call().expect("validated at construction");
    let segs = call.path.segments();
    assert_eq!(segs.len(), 5);
    assert_eq!(segs[1], input.node);
    assert_eq!(segs[3], input.storage);
    check_encoded_path(&call.path, 5);
    let boundary = match input.custom_boundary {
        Some(b) => b.to_owned(),
        None => boundary_from_random(&input.random),
    };
    let Ok(frame) = up.frame(&boundary) else {
        // Only a caller's own boundary can be refused, or a length that overflows u64.
        assert!(
            input.custom_boundary.is_some() || input.file_len > u64::MAX - 4096,
            "a random boundary is always valid"
        );
        return;
    };
    let total = frame.head().len() as u64 + frame.file_len() + frame.tail().len() as u64;
    assert_eq!(total, frame.content_length());
    assert_eq!(frame.file_len(), input.file_len);
    assert_eq!(
        frame.content_type(),
        format!("multipart/form-data; boundary={boundary}")
    );
    // Exactly one delimiter per part: the text fields, the file, and the close delimiter.
    let head = String::from_utf8(frame.head().to_vec()).expect("head is UTF-8");
    let delim = format!("--{boundary}");
    if !input.file_name.contains(&delim) {
        assert_eq!(
            head.matches(&delim).count(),
            up.text_fields().len() + 1,
            "{head:?}"
        );
    }
    assert!(head.ends_with("Content-Type: application/octet-stream\r\n\r\n"));
    assert_eq!(frame.tail(), format!("\r\n--{boundary}--\r\n").as_bytes());
    if input.file_len <= 4096 {
        let file = vec![b'x'; input.file_len as usize];
        let body = frame.assemble(&file).expect("right length");
        assert_eq!(body.len() as u64, frame.content_length());
        assert!(
            frame
                .assemble(&file[..file.len().saturating_sub(1)])
                .is_err()
                || file.is_empty()
        );
    }
    // Building the streaming request head keeps the exact length.
    let rb = RequestBuilder::new(Target::parse(Service::Pve, "pve.example").expect("target"));
    let req = rb
        .build_streaming(
            call.method,
            &call.path,
            frame.content_type(),
            frame.content_length(),
            None,
        )
        .expect("streaming head");
    assert_eq!(
        req.headers()["content-length"].to_str().expect("ascii"),
        frame.content_length().to_string()
    );
}

/// `json::Document` against `serde_json::Value` on arbitrary bytes.
///
/// Properties: a `Document` parses iff a `Value` does; `to_value()` equals the `Value`, and so
/// do `==`, the tape deserializer, a `Document` built from the `Value`, every object lookup
/// (the last of duplicate keys) and array index; the document's own text reads back as the
/// `Value`'s text does (floats go through the same write and read on both sides).
pub fn document(data: &[u8]) {
    let value = serde_json::from_slice::<Value>(data);
    let doc = Document::from_slice(data);
    let (value, doc) = match (value, doc) {
        (Ok(v), Ok(d)) => (v, d),
        (Err(_), Err(_)) => return,
        (v, d) => panic!(
            "Value parses: {}, Document parses: {}",
            v.is_ok(),
            d.is_ok()
        ),
    };
    assert_eq!(doc.to_value(), value);
    assert!(doc == value);
    assert_eq!(
        doc.root()
            .deserialize::<Value>()
            .expect("tape deserializer"),
        value
    );
    assert_eq!(Document::deserialize(&value).expect("from a Value"), doc);
    check_lookups(doc.root(), &value);
    let reread: Value = serde_json::from_str(&doc.to_string()).expect("own text parses");
    let value_reread: Value = serde_json::from_str(&value.to_string()).expect("Value text");
    assert_eq!(reread, value_reread);
}

fn check_lookups(j: Json<'_>, v: &Value) {
    match v {
        Value::Array(items) => {
            assert_eq!(j.len(), items.len());
            for (a, b) in j.items().zip(items) {
                check_lookups(a, b);
            }
            assert!(j.index(items.len()).is_none());
        }
        Value::Object(map) => {
            assert!(j.len() >= map.len());
            assert!(j.keys().all(|k| map.contains_key(k)));
            for (k, x) in map {
                let last = j.get(k).expect("every key of the Value is found");
                assert!(last == *x);
                check_lookups(last, x);
            }
        }
        _ => {
            assert_eq!(j.as_str(), v.as_str());
            assert_eq!(j.as_u64(), v.as_u64());
            assert_eq!(j.as_i64(), v.as_i64());
            assert_eq!(j.as_f64(), v.as_f64());
            assert_eq!(j.as_bool(), v.as_bool());
        }
    }
}

/// `pins`: a pin file (`host port fingerprint` lines, comments). Whatever parses round-trips
/// through `to_text` to an equal store; merging a store into itself changes nothing; deciding
/// on any certificate never panics, and only a pinned one (or a CA-valid one) is accepted
/// without trust on first use.
pub fn pins(data: &[u8]) {
    use proxmox_proto::pins::{FirstUse, PinStore};
    use proxmox_proto::tls::Fingerprint;
    let text = String::from_utf8_lossy(data);
    let Ok(store) = PinStore::parse(&text) else {
        return;
    };
    let again = PinStore::parse(&store.to_text()).expect("a written store parses");
    assert_eq!(again, store, "round trip of {text:?}");
    let mut merged = store.clone();
    merged.merge(&store);
    assert_eq!(merged, store, "merging a store into itself");
    let seen = Fingerprint::of_der(data);
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(host), Some(port)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        let d = store.decide(host, port, &seen, false, FirstUse::Refuse);
        assert_eq!(
            d.accepts(),
            store.pins(host, port).contains(&seen),
            "{host} {port}: {d:?}"
        );
        assert!(store.decide(host, port, &seen, true, FirstUse::Refuse).accepts());
    }
}

/// `cluster`: the answers discovery reads. The first byte picks `/cluster/status` (even) or
/// `/nodes` (odd); the rest is the body. Whatever parses has unique node names that are host
/// names (nothing a server sends can change a path), every node is found by name, merging with
/// itself keeps the names, and a router that learns the map routes every node's calls
/// somewhere, with one endpoint per node at most.
pub fn cluster(data: &[u8]) {
    use proxmox_proto::Service;
    use proxmox_proto::cluster::{Choice, ClusterMap, Endpoint, Router};
    use proxmox_proto::flow::{EndpointId, MonoTime};
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let parsed = if sel % 2 == 0 {
        ClusterMap::from_status(body)
    } else {
        ClusterMap::from_nodes(body)
    };
    let Ok(map) = parsed else {
        return;
    };
    let mut names: Vec<&str> = map.nodes.iter().map(|n| n.name.as_str()).collect();
    for n in &map.nodes {
        assert!(
            proxmox_proto::target::Host::parse(&n.name).is_ok(),
            "node name {:?} is not a host name",
            n.name
        );
        assert!(!n.name.contains(['/', '?', '#', '%']), "{:?}", n.name);
        assert_eq!(map.node(&n.name).map(|m| &m.name), Some(&n.name));
        if let Some(ip) = &n.ip {
            assert!(proxmox_proto::target::Host::parse(ip).is_ok(), "{ip:?}");
        }
    }
    names.sort_unstable();
    let len = names.len();
    names.dedup();
    assert_eq!(names.len(), len, "node names are unique");
    let merged = map.clone().with_nodes(map.clone());
    assert_eq!(merged.nodes.len(), map.nodes.len());
    let first = Endpoint::parse(Service::Pve, "pve.example:8006").expect("a valid endpoint");
    let mut router = Router::new(vec![first]);
    router.set_addresses(vec![("n1".into(), "10.9.9.9".into())]);
    let added = router.install(&map, EndpointId(0));
    assert!(router.len() <= map.nodes.len().max(1) + 1);
    assert_eq!(router.len(), 1 + added.len());
    let mut seen: Vec<&str> = router.endpoints().filter_map(Endpoint::node).collect();
    seen.sort_unstable();
    let len = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), len, "one endpoint per node");
    for n in &map.nodes {
        match router.choose(Some(&n.name), &[], MonoTime::ZERO) {
            Choice::Endpoint(id) => assert!(router.endpoint(id).is_some()),
            Choice::Exhausted => panic!("no endpoint for {}", n.name),
        }
    }
    let _ = router.summary();
}

/// WebSocket frames from a server (`console::frame::Decoder`): the first byte picks the limit
/// and where the rest is split in two feeds. Never a panic; a message never exceeds the limit
/// nor the bytes fed; a control payload stays within 125 bytes; the same bytes fed at once or
/// split give the same messages; after an error or a close nothing more is read.
pub fn websocket(data: &[u8]) {
    use proxmox_proto::console::frame::{Decoder, Message};
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let limit = 16usize << (sel % 8);
    let cut = (usize::from(sel) * 7) % (body.len() + 1);
    let run = |parts: &[&[u8]]| {
        let mut d = Decoder::new(limit);
        let mut got = Vec::new();
        let mut ended = false;
        for p in parts {
            d.feed(p);
            loop {
                match d.next_message() {
                    Ok(Some(m)) => {
                        assert!(!ended, "a message after the close");
                        ended = matches!(m, Message::Close(_));
                        got.push(Ok(m));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        got.push(Err(e));
                        assert_eq!(d.next_message(), Ok(None), "nothing after an error");
                        ended = true;
                        break;
                    }
                }
            }
        }
        got
    };
    let whole = run(&[body]);
    let split = run(&[&body[..cut], &body[cut..]]);
    assert_eq!(whole, split, "split at {cut}");
    for m in whole.iter().flatten() {
        match m {
            Message::Binary(b) => assert!(b.len() <= limit && b.len() <= body.len()),
            Message::Text(t) => assert!(t.len() <= limit && t.len() <= body.len()),
            Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
            Message::Close(Some((_, r))) => assert!(r.len() <= 123),
            Message::Close(None) => {}
        }
    }
}

/// termproxy's output (`console::termproxy`): split where the first byte says, the decoder
/// accepts exactly the streams that start with `OK` and hands out every byte after it once;
/// the UTF-8 joiner's text of the pieces is the lossy text of the whole.
pub fn termproxy(data: &[u8]) {
    use proxmox_proto::console::termproxy::{OutputDecoder, Utf8Joiner};
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let cut = usize::from(sel) % (body.len() + 1);
    let mut d = OutputDecoder::new();
    let mut out = Vec::new();
    let mut logged_in = 0;
    let mut failed = false;
    for p in [&body[..cut], &body[cut..]] {
        match d.feed(p) {
            Ok(o) => {
                logged_in += usize::from(o.logged_in);
                out.extend(o.bytes);
            }
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if body.starts_with(b"OK") {
        assert!(!failed && logged_in == 1 && d.closed().is_ok());
        assert_eq!(out, &body[2..]);
    } else if b"OK".starts_with(body) {
        assert!(!failed && logged_in == 0 && d.closed().is_err() && out.is_empty());
    } else {
        assert!(failed && logged_in == 0);
    }
    let mut j = Utf8Joiner::new();
    let mut text = String::new();
    for p in body.chunks(usize::from(sel % 5) + 1) {
        text.push_str(&j.push(p));
    }
    text.push_str(&j.finish());
    assert_eq!(text, String::from_utf8_lossy(body));
}

/// An open console (`console::session`) fed a server's bytes in pieces, with input, resizes,
/// keepalives and a close in between, as the first bytes choose: nothing panics; every frame
/// it sends is one masked, final client frame under pveproxy's 128 KiB limit; once it reports
/// its end, it reports nothing more and is closed; it never hands out more output than it
/// was given.
pub fn console_session(data: &[u8]) {
    use proxmox_proto::auth::Secret;
    use proxmox_proto::console::session::{ConsoleEvent, ConsoleSession, Framing, Protocol};
    use proxmox_proto::flow::MonoTime;
    use std::time::Duration;
    let Some((&plan, body)) = data.split_first() else {
        return;
    };
    let protocol = if plan & 1 == 0 {
        Protocol::Terminal {
            user: "root@pam".into(),
            ticket: Secret::new("PVEVNC:00000000::sig"),
        }
    } else {
        Protocol::Raw
    };
    let mut n = 0u8;
    let mut s = ConsoleSession::new(
        protocol,
        Framing::websocket(move || {
            n = n.wrapping_add(37);
            [n, n ^ 0x5a, 1, 2]
        }),
        MonoTime::ZERO,
    );
    s.set_message_limit(4096);
    let mut ended = false;
    let mut output = 0usize;
    let mut t = MonoTime::ZERO;
    let step = usize::from(plan >> 1) % 7 + 1;
    for (i, piece) in body.chunks(step).enumerate() {
        t = t + Duration::from_secs(7);
        match (usize::from(plan) + i) % 5 {
            0 => {
                let _ = s.send(piece, t);
            }
            1 => {
                let _ = s.resize(u16::from(piece[0]), 24, t);
            }
            2 => s.handle_timeout(t),
            _ => {}
        }
        if i == 40 && plan & 0x80 != 0 {
            s.close(t);
        }
        s.handle_bytes(piece);
        while let Some(frame) = s.poll_transmit() {
            assert!(frame.len() >= 6 && frame[0] & 0x80 != 0 && frame[1] & 0x80 != 0);
            assert!(frame.len() <= 128 * 1024);
        }
        while let Some(ev) = s.poll_event() {
            assert!(!ended, "an event after the end: {ev:?}");
            match ev {
                ConsoleEvent::Output(b) => output += b.len(),
                ConsoleEvent::Closed(_) | ConsoleEvent::Failed(_) => ended = true,
                ConsoleEvent::Opened => {}
            }
        }
        assert_eq!(ended, s.is_closed());
        assert!(output <= body.len());
    }
    s.handle_eof();
    assert!(s.is_closed());
}

/// The answer to a WebSocket upgrade read from raw bytes (`console::http1`): nothing panics;
/// a head that parses ends with the empty line and parses the same from its own bytes.
pub fn upgrade_head(data: &[u8]) {
    use proxmox_proto::console::http1::ResponseHead;
    if let Ok(Some((head, used))) = ResponseHead::parse(data) {
        assert!(used <= data.len() && data[..used].ends_with(b"\r\n\r\n"));
        let (again, used2) = ResponseHead::parse(&data[..used]).unwrap().unwrap();
        assert_eq!((again.status, used2), (head.status, used));
        assert!((100..1000).contains(&head.status));
    }
}

/// Key names for the formats `property_string` builds from its input: plain names, names PVE
/// uses for aliases, and names no property string can spell (`k=v`, `x,y`, empty, blank).
const PS_NAMES: [&str; 13] = [
    "a", "b", "c", "model", "macaddr", "virtio", "e1000", "file", "volume", " ", "k=v", "x,y", "",
];

/// A property-string format: with the selector's top bit clear one of three shaped like PVE's
/// `net[n]`, `scsi[n]` and `ipconfig[n]`; with it set, one built from the input (1 to 6 keys of
/// 3 bytes each: name, flags, alias names), inconsistent ones included.
fn ps_format(sel: u8, data: &[u8]) -> (proxmox_proto::schema::PropertyFormat, &[u8]) {
    use proxmox_proto::schema::{PropSchema, PropertyFormat, SchemaType};
    let opt = PropSchema {
        optional: true,
        ..PropSchema::default()
    };
    let dflt = PropSchema {
        default_key: true,
        ..PropSchema::default()
    };
    let alias = |target: &str, key_alias: Option<&str>| PropSchema {
        alias: Some(target.into()),
        key_alias: key_alias.map(Into::into),
        ..PropSchema::default()
    };
    let own = |v: Vec<(&str, PropSchema)>| -> Vec<(String, PropSchema)> {
        v.into_iter().map(|(k, s)| (k.to_owned(), s)).collect()
    };
    if sel & 0x80 == 0 {
        let format = match sel % 3 {
            0 => PropertyFormat {
                keys: own(vec![
                    ("model", dflt.clone()),
                    ("macaddr", opt.clone()),
                    ("bridge", opt.clone()),
                    (
                        "firewall",
                        PropSchema {
                            ty: SchemaType::Boolean,
                            ..opt.clone()
                        },
                    ),
                    ("tag", opt.clone()),
                    ("trunks", opt.clone()),
                    ("virtio", alias("macaddr", Some("model"))),
                    ("e1000", alias("macaddr", Some("model"))),
                ]),
                default_key: Some("model".into()),
            },
            1 => PropertyFormat {
                keys: own(vec![
                    ("file", dflt.clone()),
                    ("volume", alias("file", None)),
                    ("iothread", opt.clone()),
                    ("size", opt.clone()),
                    ("media", opt.clone()),
                ]),
                default_key: None,
            },
            _ => PropertyFormat {
                keys: own(["ip", "gw", "ip6", "gw6"]
                    .map(|k| (k, opt.clone()))
                    .to_vec()),
                default_key: None,
            },
        };
        return (format, data);
    }
    let name = |b: u8| PS_NAMES[usize::from(b) % PS_NAMES.len()].to_owned();
    let Some((&n, mut rest)) = data.split_first() else {
        return (PropertyFormat::default(), data);
    };
    let mut keys = Vec::new();
    for _ in 0..(n % 6 + 1) {
        let [b0, flags, refs, tail @ ..] = rest else {
            break;
        };
        rest = tail;
        keys.push((
            name(*b0),
            PropSchema {
                optional: flags & 1 != 0,
                default_key: flags & 2 != 0,
                alias: (flags & 4 != 0).then(|| name(*refs)),
                key_alias: (flags & 8 != 0).then(|| name(refs >> 4)),
                ..PropSchema::default()
            },
        ));
    }
    let default_key = if n & 0x40 != 0 { Some(name(n)) } else { None };
    (PropertyFormat { keys, default_key }, rest)
}

/// `property_string` (`schema::property_string`): a format (see `ps_format`) and a text.
/// Never a panic; what parses has unique keys and values without `,` or a line break; its
/// `to_text` reads back to the same entries and is written again the same; its `Display`
/// reads back to the same entries in the same order; errors are one bounded line.
pub fn property_string(data: &[u8]) {
    use proxmox_proto::schema::property_string::{default_key, key_schema, parse, parse_entries};
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (format, text) = ps_format(sel, rest);
    let text = String::from_utf8_lossy(text);
    let _ = default_key(&format);
    let borrowed = parse_entries(&format, &text);
    let p = match parse(&format, &text) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(borrowed, Err(e.clone()), "parse_entries of {text:?}");
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "{shown:?}");
            assert!(shown.len() <= 4096, "{} bytes", shown.len());
            return;
        }
    };
    assert_eq!(
        borrowed,
        Ok(p.iter().collect()),
        "parse_entries of {text:?}"
    );
    let mut keys: Vec<&str> = Vec::new();
    for (k, v) in &p {
        assert!(!keys.contains(&k), "key {k:?} twice in {text:?}");
        keys.push(k);
        assert!(!v.is_empty() && !v.contains([',', '\n']), "{k}={v:?}");
        assert!(key_schema(&format, k).is_some(), "{k:?} has no schema");
        let _ = (p.get_bool(k), p.get_int(k), p.get_number(k));
        if let Some(items) = p.get_list(k)
            && !v.contains('\0')
        {
            assert!(items.iter().all(|i| !i.is_empty() && !i.contains(';')));
        }
    }
    let written = p.to_text(&format);
    let again = parse(&format, &written)
        .unwrap_or_else(|e| panic!("{text:?} wrote {written:?}, which does not parse: {e}"));
    assert!(
        again.same_entries(&p),
        "{text:?} -> {written:?}: {again:?} != {p:?}"
    );
    assert_eq!(
        again.to_text(&format),
        written,
        "written twice from {text:?}"
    );
    let shown = p.to_string();
    let plain = parse(&format, &shown)
        .unwrap_or_else(|e| panic!("{text:?} displayed {shown:?}, which does not parse: {e}"));
    assert_eq!(plain, p, "Display of {text:?}");
    // Edits never panic, and a removed key is gone.
    let mut edited = p.clone();
    if let Some(k) = keys.first() {
        assert!(edited.remove(k).is_some() && edited.get(k).is_none());
    }
    let _ = edited.set(text.chars().take(8).collect::<String>(), "v");
    let _ = edited.to_text(&format);
}

/// Schema loading (`schema::Schema::from_apidoc`, `from_json`) from raw bytes. The first byte
/// chooses: bit 0 reads the rest with `from_json`, otherwise with `from_apidoc`; bit 1 wraps
/// the text in `const apiSchema = …;` first. Nothing panics; errors are one line without
/// control characters; a schema that loads has consistent counts, finds every endpoint again
/// by a concrete path (variables filled in, percent-encoded), answers lookups of raw paths
/// made from the input, and evaluates every pattern on input-made values; plain JSON loads
/// the same through both readers.
pub fn schema_load(data: &[u8]) {
    use proxmox_proto::schema::{Schema, SchemaMethod};
    let [mode, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = if mode & 2 != 0 {
        format!("const apiSchema = {text};\nExt.onReady(function () {{}});")
    } else {
        text.into_owned()
    };
    let result = if mode & 1 != 0 {
        Schema::from_json(text.as_bytes())
    } else {
        Schema::from_apidoc(&text)
    };
    let schema = match result {
        Ok(schema) => schema,
        Err(e) => {
            let msg = e.to_string();
            assert!(!has_control(&msg), "error with control characters: {msg:?}");
            return;
        }
    };
    if mode & 3 == 1 {
        let again = Schema::from_apidoc(&text).expect("plain JSON loads through from_apidoc too");
        assert_eq!(again.stats(), schema.stats());
    }
    let stats = schema.stats();
    assert_eq!(stats.methods, schema.endpoints().count());
    assert_eq!(stats.patterns, schema.data().patterns.len());
    assert!(stats.methods > 0);
    let values: Vec<String> = rest
        .split(|b| *b == b'/')
        .take(8)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    for (i, (m, node, method)) in schema.endpoints().enumerate() {
        let mut segments = 0;
        let path: String = node
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|seg| {
                segments += 1;
                if seg.starts_with('{') && seg.ends_with('}') && seg.len() > 2 {
                    format!("/v{i}%2F%3A")
                } else {
                    format!("/{}", percent_encode(seg))
                }
            })
            .collect();
        let found = schema
            .method(m, &path)
            .unwrap_or_else(|| panic!("{m} {} not found as {path}", node.path));
        let found_segments = found.path().split('/').filter(|s| !s.is_empty()).count();
        assert_eq!(found_segments, segments, "{path}");
        assert!(std::ptr::eq(found.method, method) || found.node.path != node.path);
        for (_, v) in &found.vars {
            assert_eq!(*v, format!("v{i}/:"), "{path}");
        }
    }
    for v in &values {
        for m in SchemaMethod::ALL {
            let _ = schema.method(m, v);
        }
        let _ = schema.resolve(v);
        for id in 0..schema.data().patterns.len() {
            let id = proxmox_proto::schema::model::PatternId(u32::try_from(id).unwrap());
            let _ = schema.pattern_matches(id, v);
        }
    }
}

/// Every byte outside `[A-Za-z0-9._~-]` percent-encoded.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._~-".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `task_watch`: the task watcher fed arbitrary answers (status code and body per request,
/// from the input; `pvesh` data when the code byte is odd), three tasks on two nodes, a
/// deadline. Properties: each task is reported finished once, `Started` at most once and
/// never after its end; the watch ends (all done) within a bounded number of steps, also
/// when the input runs out (then every request fails for good).
pub fn task_watch(data: &[u8]) {
    use proxmox_proto::task::{TaskListing, TaskWatcher, WaitOptions, WatchAction};
    use std::time::Duration;
    let upids: Vec<Upid> = [
        "UPID:pve1:00000001:00000001:65000000:qmstart:100:root@pam:",
        "UPID:pve1:00000002:00000002:65000001:qmstart:101:root@pam:",
        "UPID:pve2:00000003:00000003:65000002:vzdump:102:root@pam!ci:",
    ]
    .iter()
    .map(|u| u.parse().unwrap())
    .collect();
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let listing = match sel % 3 {
        0 => TaskListing::Pve,
        1 => TaskListing::Pbs,
        _ => TaskListing::None,
    };
    let options = WaitOptions::new()
        .with_timeout(Duration::from_secs(60))
        .with_list_page_size(u64::from(sel >> 4).max(1));
    let mut w = TaskWatcher::new(upids.clone(), listing, options);
    let mut now = Duration::from_secs(1_700_000_000);
    let (mut started, mut finished) = ([false; 3], [false; 3]);
    for _ in 0..100_000 {
        match w.poll(now) {
            WatchAction::Send { slot, .. } => {
                // Next answer: [code][len lo][len hi][body...].
                if rest.len() < 3 {
                    w.handle_transport_error(slot, now, "input exhausted", false);
                    continue;
                }
                let code = rest[0];
                let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
                let body = &rest[3..3 + len];
                rest = &rest[3 + len..];
                if code % 2 == 1 {
                    match serde_json::from_slice::<Value>(body) {
                        Ok(v) => w.handle_data(slot, now, &v, None),
                        Err(_) => w.handle_transport_error(slot, now, "garbage", code > 200),
                    }
                } else {
                    let status = [200, 200, 200, 400, 403, 500, 595, 596, 503][usize::from(code) % 9];
                    w.handle_response(slot, now, status, None, body);
                }
            }
            WatchAction::Started { index } => {
                assert!(!started[index] && !finished[index], "started {index} twice or late");
                started[index] = true;
            }
            WatchAction::Finished { index, .. } => {
                assert!(!finished[index], "finished {index} twice");
                finished[index] = true;
            }
            WatchAction::SleepUntil(t) => {
                assert!(t > now || t == now, "sleep into the past");
                now = t.max(now + Duration::from_millis(1));
            }
            WatchAction::AwaitResponses => panic!("answers are given at once"),
            WatchAction::AllDone => {
                assert_eq!(finished, [true; 3]);
                assert_eq!(w.outcomes().len(), 3);
                return;
            }
            other => panic!("{other:?}"),
        }
    }
    panic!("the watch did not end");
}

/// `resource_feed`: two `/cluster/resources` snapshots from the input (split at the first
/// 0xFF byte) into the change feed. Properties: an added id is not in the first snapshot, a
/// removed one not in the second, every change names an id of either; the second snapshot
/// again changes nothing.
pub fn resource_feed(data: &[u8]) {
    use proxmox_proto::resources::{ChangeFeed, ResourceChange};
    use std::collections::HashSet;
    let (a, b) = match data.iter().position(|&x| x == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"[]"[..]),
    };
    let (Ok(a), Ok(b)) = (
        serde_json::from_slice::<Vec<ClusterResource>>(a),
        serde_json::from_slice::<Vec<ClusterResource>>(b),
    ) else {
        return;
    };
    let ids_a: HashSet<String> = a.iter().map(|r| r.id.clone()).collect();
    let ids_b: HashSet<String> = b.iter().map(|r| r.id.clone()).collect();
    let mut feed = ChangeFeed::new();
    assert!(feed.update(a).is_empty());
    let changes = feed.update(b.clone());
    for c in &changes {
        match c {
            ResourceChange::Added(r) => assert!(!ids_a.contains(&r.id) && ids_b.contains(&r.id)),
            ResourceChange::Removed(r) => assert!(ids_a.contains(&r.id) && !ids_b.contains(&r.id)),
            other => assert!(ids_a.contains(other.id()) && ids_b.contains(other.id()), "{other:?}"),
        }
        let _ = serde_json::to_string(c).unwrap();
        let _ = c.to_string();
    }
    assert_eq!(feed.len(), ids_b.len());
    assert!(feed.update(b).is_empty(), "the same snapshot twice changes nothing");
}

/// `remote_upid`: PDM's remote UPIDs (`<pve|pbs>:<remote>!UPID…`, or `<remote>!UPID…`).
/// Properties: what parses prints in PDM's current form and reads back equal; the remote is a
/// PDM id; an error's text is bounded.
pub fn remote_upid(data: &[u8]) {
    use proxmox_proto::pdm::RemoteUpid;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<RemoteUpid>() {
        Ok(t) => {
            let shown = t.to_string();
            assert!(shown.starts_with(&format!("{}:{}!", t.kind(), t.remote())), "{shown}");
            assert_eq!(shown.parse::<RemoteUpid>().as_ref(), Ok(&t));
            assert!(!t.remote().is_empty() && !t.remote().contains(['!', ':', '/']));
            assert_eq!(t.upid().as_str().parse::<Upid>().as_ref(), Ok(t.upid()));
        }
        Err(e) => assert!(e.to_string().len() < 512, "{e}"),
    }
}
