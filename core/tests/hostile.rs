//! Hostile input against the core: deep, huge, malformed and invalid-UTF-8 answers become typed
//! errors; header values with CR/LF are refused before anything is built; caller values cannot
//! reach another endpoint nor another command (checked through a real `sh`).
//!
//! Fuzz crash inputs replayed as regression tests are at the end (`regression_*`).

use proxmox_proto::auth::{ApiToken, Auth, Login, LoginOutcome, Session, Ticket};
use proxmox_proto::command::{CommandBuilder, parse_output};
use proxmox_proto::models::{ClusterResource, parse_list, parse_single};
use proxmox_proto::request::RequestBuilder;
use proxmox_proto::response::{api_error, parse_data, parse_envelope};
use proxmox_proto::task::{LogPage, TaskStatus};
use proxmox_proto::{
    ApiPath, Call, Error, InputError, IntoApiPath, Params, ProtocolError, Service, Target, Upid,
};
use serde_json::Value;

/// `{"data":` + `[` × depth + `]` × depth + `}`.
fn deep_json(depth: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(depth * 2 + 10);
    v.extend_from_slice(b"{\"data\":");
    v.extend(std::iter::repeat_n(b'[', depth));
    v.extend(std::iter::repeat_n(b']', depth));
    v.push(b'}');
    v
}

fn rb() -> RequestBuilder {
    RequestBuilder::new(Target::parse(Service::Pve, "pve1.example.com").unwrap())
}

fn is_protocol(e: &Error) -> bool {
    matches!(e, Error::Protocol(_))
}

#[test]
fn json_nested_100000_deep_is_a_typed_error_everywhere() {
    let body = deep_json(100_000);
    let inner = &body[8..body.len() - 1];

    let e = parse_data::<Value>(200, Some("OK"), &body).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::TooDeep { .. })),
        "{e:?}"
    );
    let e = parse_envelope::<Vec<ClusterResource>>(200, None, &body).unwrap_err();
    assert!(is_protocol(&e), "{e:?}");
    assert!(is_protocol(
        &parse_list::<ClusterResource>(&body).unwrap_err()
    ));
    assert!(is_protocol(&parse_single::<Value>(&body).unwrap_err()));
    assert!(TaskStatus::from_data_slice(inner).is_err());
    assert!(LogPage::from_envelope_slice(&body).is_err());

    // An error answer with a deep body still gives the status and reason (the deep `data` is
    // skipped without recursion).
    let api = api_error(500, Some("boom"), &body);
    assert_eq!((api.status, api.reason.as_str()), (500, "boom"));
    let deep_errors = [&b"{\"errors\":"[..], &body[8..]].concat();
    let api = api_error(400, Some("bad"), &deep_errors);
    assert_eq!(api.status, 400);
    assert!(
        api.raw_body
            .as_ref()
            .is_none_or(|r| r.chars().count() <= 4097)
    );

    // pvesh output, and a login answer.
    assert!(is_protocol(&parse_output(inner, b"", Some(0)).unwrap_err()));
    let login = Login::new(Service::Pve, "u@pve", "pw").unwrap();
    assert!(is_protocol(
        &login.handle_response(200, None, &body).unwrap_err()
    ));

    // A TFA half ticket whose challenge is deeply nested JSON: offered nothing, no overflow.
    let challenge = "%5B".repeat(20_000);
    let ticket = format!("PVE:!tfa!{challenge}:65000000::c2ln");
    let answer = serde_json::json!({"data": {"username": "u@pve", "ticket": ticket, "NeedTFA": 1}});
    let login = Login::new(Service::Pve, "u@pve", "pw").unwrap();
    let out = login
        .handle_response(200, None, answer.to_string().as_bytes())
        .unwrap();
    let LoginOutcome::SecondFactor(ch) = out else {
        panic!("expected a challenge")
    };
    assert!(!ch.offers_totp());
}

#[test]
fn invalid_utf8_is_a_typed_error_with_a_printable_message() {
    for body in [
        &b"{\"data\":\"\xff\xfe\"}"[..],
        b"\xc3\x28",
        b"{\"data\":[{\"n\":1,\"t\":\"\xed\xa0\x80\"}]}",
    ] {
        let e = parse_data::<Value>(200, None, body).unwrap_err();
        assert!(is_protocol(&e), "{e:?}");
        let text = e.to_string();
        assert!(!text.contains('\x1b'));
        assert!(LogPage::from_envelope_slice(body).is_err());
        assert!(parse_list::<ClusterResource>(body).is_err());
        // A successful command whose stdout is not UTF-8 is a protocol error, not a panic.
        assert!(is_protocol(
            &parse_output(body, b"\xff", Some(0)).unwrap_err()
        ));
        // An error answer never fails; whatever it keeps is printable text.
        let api = api_error(502, Some("Bad Gateway"), body);
        assert_eq!(api.status, 502);
        assert!(api.raw_body.as_ref().is_none_or(|r| !r.contains('\x1b')));
    }
    // A failed command with invalid UTF-8 on stderr.
    let e = parse_output(b"", b"500 bad \xff\xfe thing\n", Some(255)).unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.status, 500);
    assert!(api.reason.contains('\u{FFFD}'));
    assert_eq!(api.exit_code, Some(255));
}

#[test]
fn wrong_content_non_json_answers() {
    let html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    let e = parse_data::<Value>(200, Some("OK"), html).unwrap_err();
    let Error::Protocol(ProtocolError::InvalidJson { snippet, .. }) = &e else {
        panic!("{e:?}")
    };
    assert!(snippet.starts_with("<html>"));
    let e = parse_data::<Value>(502, Some("Bad Gateway"), html).unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.status, 502);
    assert!(api.raw_body.as_deref().unwrap().contains("nginx"));
    // Trailing data after the document.
    assert!(parse_data::<Value>(200, None, b"{\"data\":1} {\"data\":2}").is_err());
    // Truncated.
    assert!(parse_data::<Value>(200, None, b"{\"data\":[1,2").is_err());
}

#[test]
fn huge_raw_bodies_are_cut_in_errors() {
    let body = vec![b'x'; 8 << 20];
    let api = api_error(500, None, &body);
    assert!(api.raw_body.as_ref().unwrap().len() < 8192);
    assert_eq!(api.reason, "Internal Server Error");
    let e = parse_data::<Value>(200, None, &body).unwrap_err();
    assert!(e.to_string().len() < 1024, "{}", e.to_string().len());
    let e = parse_output(b"", &body, Some(1)).unwrap_err();
    assert!(e.api().unwrap().raw_body.as_ref().unwrap().len() <= 4096 * 3 + 3);
    // Tickets, UPIDs and targets of absurd length are refused, not stored.
    assert!(Ticket::parse(&format!("PVE:u@pve:65000000::{}", "a".repeat(100_000))).is_err());
    assert!(Upid::parse(&"UPID:".repeat(100_000)).is_err());
    assert!(Target::parse(Service::Pve, &"a".repeat(100_000)).is_err());
}

#[test]
fn reason_phrase_control_characters_are_sanitised() {
    for reason in [
        "bad\x1b[31m red\x1b[0m",
        "two\r\nX-Injected: 1",
        "bell\x07 and nul\0 and del\x7f",
        "c1 \u{9b}31m csi",
    ] {
        let api = api_error(
            500,
            Some(reason),
            br#"{"data":null,"message":"m\u001b[2J\r\nsecond"}"#,
        );
        assert!(
            !api.reason.chars().any(char::is_control),
            "{:?}",
            api.reason
        );
        assert!(
            !api.message
                .as_deref()
                .unwrap()
                .chars()
                .any(char::is_control)
        );
        let text = api.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        let err = Error::from(api);
        assert!(!err.to_string().chars().any(char::is_control));
    }
}

/// An escape sequence in the server's per-parameter `errors` map reaches `ApiError`'s
/// `Display` unchanged (only `reason` and `message` are sanitised). A hostile server can thus
/// write terminal escapes into any log or terminal that prints the error.
/// Found while writing the hostile-input tests; waits for a core fix (sanitise
/// `param_errors` values, `other_errors` and keys in `api_error` and in `command_error`).
#[test]
fn regression_api_error_display_sanitises_param_and_other_errors() {
    let body = br#"{"data":null,"errors":{"vmid\u001b[1m":"bad\u001b[31m value"}}"#;
    let api = api_error(400, Some("Parameter verification failed."), body);
    assert!(!api.to_string().contains('\x1b'), "{:?}", api.to_string());
    let body = br#"{"data":null,"errors":["one\u001b]0;title\u0007"]}"#;
    let api = api_error(500, Some("x"), body);
    assert!(
        !api.to_string().chars().any(char::is_control),
        "{:?}",
        api.to_string()
    );
    let e = parse_output(
        b"",
        b"400 Parameter verification failed.\nvmid: bad\x1b[31m\n",
        Some(2),
    )
    .unwrap_err();
    assert!(!e.to_string().contains('\x1b'), "{:?}", e.to_string());
}

// ---- CR/LF in header values we build ---------------------------------------------------------

fn is_header_refusal(e: &InputError) -> bool {
    matches!(
        e,
        InputError::InvalidHeader { .. } | InputError::InvalidCredentials(_)
    )
}

#[test]
fn crlf_in_any_header_value_is_refused_before_a_request_exists() {
    let call = Call::post(("nodes", "pve1", "qemu")).unwrap();
    // User agent.
    for ua in ["x\r\nX-Evil: 1", "x\nY", "x\0", "x\u{7f}"] {
        let e = rb()
            .user_agent(Some(ua.into()))
            .build(&call, None)
            .unwrap_err();
        assert!(is_header_refusal(&e), "{ua:?}: {e:?}");
    }
    // Token id and secret.
    for (id, secret) in [
        ("root@pam!ci", "s3cr3t\r\nX-Evil: 1"),
        ("root@pam!ci\r\nX: y", "s3cr3t"),
        ("root@pam\n!ci", "s3cr3t"),
        ("root@pam!ci", "s\0"),
    ] {
        let e = ApiToken::new(id, secret).unwrap_err();
        assert!(is_header_refusal(&e), "{e:?}");
        assert!(!e.to_string().contains("s3cr3t"));
    }
    // User ids (they travel in the form, but also in tokens and logs).
    for user in ["root@pam\r\n", "a\nb@pve", " root@pam"] {
        assert!(Login::new(Service::Pve, user, "pw").is_err(), "{user:?}");
    }
    // Ticket and CSRF token of a saved session.
    let ticket = "PVE:root@pam:65000000::c2ln";
    assert!(Session::new(Service::Pve, "root@pam", ticket, Some("a\r\nX: 1")).is_err());
    assert!(
        Session::new(
            Service::Pve,
            "root@pam",
            "PVE:root@pam\r\n:65000000::c2ln",
            None
        )
        .is_err()
    );
    assert!(
        Session::new(
            Service::Pve,
            "root@pam",
            "PVE:root@pam:65000000::c2ln\r\nX: 1",
            None
        )
        .is_err()
    );

    // From a server: a CSRF token or ticket with CR/LF in the login answer.
    for data in [
        serde_json::json!({"username":"root@pam","ticket":ticket,"CSRFPreventionToken":"t\r\nX-Evil: 1"}),
        serde_json::json!({"username":"root@pam","ticket":"PVE:root@pam:65000000::c2l\r\nX: 1"}),
        serde_json::json!({"username":"root@pam","ticket":"PVE:root@pam:65000000::c2ln; Path=/"}),
    ] {
        let body = serde_json::json!({ "data": data }).to_string();
        let login = Login::new(Service::Pve, "root@pam", "pw").unwrap();
        let e = login
            .handle_response(200, None, body.as_bytes())
            .unwrap_err();
        assert!(is_protocol(&e), "{e:?}");
    }

    // A CSRF token with non-ASCII text travels as HTTP obs-text bytes, never as a line break;
    // DEL and other control bytes are refused.
    let body = serde_json::json!({"data": {"username":"root@pam","ticket":ticket,"CSRFPreventionToken":"t\u{e9}\u{2028}\u{85}"}})
        .to_string();
    let login = Login::new(Service::Pve, "root@pam", "pw").unwrap();
    let Ok(LoginOutcome::Authenticated(s)) = login.handle_response(200, None, body.as_bytes())
    else {
        panic!("login")
    };
    if let Ok(req) = rb().build(&call, Some(&Auth::Session(s))) {
        for v in req.headers().values() {
            assert!(!v.as_bytes().iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
        }
    }
    let body = serde_json::json!({"data": {"username":"root@pam","ticket":ticket,"CSRFPreventionToken":"t\u{7f}"}})
        .to_string();
    let login = Login::new(Service::Pve, "root@pam", "pw").unwrap();
    assert!(login.handle_response(200, None, body.as_bytes()).is_err());
}

// ---- injection --------------------------------------------------------------------------------

const HOSTILE: [&str; 16] = [
    "../",
    "..",
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
    "a b",
    "a;b|c&d$e`f'g\"h",
];

#[test]
fn path_values_stay_one_segment_under_the_endpoint() {
    for v in HOSTILE {
        let built = ("nodes", v, "qemu", 100, "status").into_api_path();
        let p = match built {
            Ok(p) => p,
            Err(e) => {
                // Refused values: dot segments and control characters only.
                assert!(
                    v == ".." || v.chars().any(char::is_control),
                    "{v:?} refused: {e}"
                );
                continue;
            }
        };
        assert_eq!(p.segments()[1], v);
        let enc = p.encoded();
        assert_eq!(enc.split('/').count(), 6, "{v:?} -> {enc}");
        assert!(!enc.contains("/../") && !enc.contains('?') && !enc.contains('#'));
        assert!(!enc.chars().any(|c| c.is_whitespace() || c.is_control()));
        let req = rb().build(&Call::get(p.clone()).unwrap(), None).unwrap();
        assert_eq!(req.uri().path(), format!("/api2/json{enc}"));
        assert!(req.uri().query().is_none(), "{v:?}");
        assert!(req.uri().path().ends_with("/qemu/100/status"));
        // Percent-encoded dots stay encoded (a proxy that decodes once sees `%2e`, not `.`).
        if v.contains("%2e") {
            assert!(enc.contains("%252e"), "{enc}");
        }
    }
    // Parameters never leave their key either.
    for v in HOSTILE {
        let call = Call::get(("nodes", "pve1", "qemu"))
            .unwrap()
            .param("name", v)
            .param("full", 1);
        let req = rb().build(&call, None).unwrap();
        assert_eq!(req.uri().path(), "/api2/json/nodes/pve1/qemu");
        let back = Params::from_form(req.uri().query().unwrap()).unwrap();
        assert_eq!(back.get("name"), Some(v));
        assert_eq!(back.len(), 2);
    }
    // Literal paths refuse dot segments too.
    assert!(ApiPath::parse("nodes/../access").is_err());
    assert!(ApiPath::parse("nodes/./x").is_err());
}

/// A directory with a fake `pvesh` (and `sudo`) that print their arguments NUL-separated.
struct FakeBin {
    dir: std::path::PathBuf,
}

impl FakeBin {
    fn new(tag: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("proxmox-hostile-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        for prog in ["pvesh", "pmgsh", "sudo"] {
            let p = dir.join("bin").join(prog);
            std::fs::write(&p, format!("#!/bin/sh\nprintf '%s\\0' {prog} \"$@\"\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self { dir }
    }

    /// Run a command line through `sh -c` in the scratch directory; the words the program got.
    fn run(&self, line: &str) -> Vec<String> {
        let path = format!("{}:/usr/bin:/bin", self.dir.join("bin").display());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(&self.dir)
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut words: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .map(|w| String::from_utf8(w.to_vec()).unwrap())
            .collect();
        assert_eq!(words.pop().as_deref(), Some(""));
        words
    }

    /// Names in the scratch directory besides `bin`: a command that ran would leave a trace.
    fn traces(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "bin")
            .collect()
    }
}

impl Drop for FakeBin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn command_values_cannot_add_words_or_commands_through_sh() {
    let fake = FakeBin::new("argv");
    let mut values: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    values.extend(
        [
            "$(touch pwned1)",
            "`touch pwned2`",
            "; touch pwned3",
            "' ; touch pwned4 ; '",
            "\" ; touch pwned5 ; \"",
            "x\n touch pwned6",
            "--output-format=text",
            "-x",
            "$HOME ~ * ?",
            "\\",
            "if",
            "A=b",
            "",
            "é ☃ \u{200b}",
        ]
        .map(String::from),
    );
    for sudo in [false, true] {
        for service in [Service::Pve, Service::Pmg] {
            let cb = CommandBuilder::new(service).unwrap().sudo(sudo);
            for v in &values {
                // As a parameter value: always exactly one argv word.
                let call = Call::post(("nodes", "pve1", "qemu"))
                    .unwrap()
                    .param("name", v.as_str())
                    .param("description", v.as_str());
                match cb.build(&call) {
                    Ok(cmd) => {
                        let words = fake.run(&cmd.to_shell());
                        assert_eq!(words, cmd.argv(), "value {v:?}");
                        let i = words.iter().position(|w| w == "--name").unwrap();
                        assert_eq!(&words[i + 1], v);
                    }
                    Err(e) => assert!(v.contains('\0'), "{v:?}: {e}"),
                }
                // As a path value: one path segment, or refused.
                if let Ok(call) = Call::get(("nodes", v.as_str(), "qemu")) {
                    match cb.build(&call) {
                        Ok(cmd) => {
                            let words = fake.run(&cmd.to_shell());
                            assert_eq!(words, cmd.argv());
                            let path = words.iter().find(|w| w.starts_with("/nodes/")).unwrap();
                            assert_eq!(*path, format!("/nodes/{v}/qemu"));
                            assert_eq!(path.split('/').count(), 4, "{path}");
                        }
                        Err(e) => assert!(
                            v.contains('/') || v.is_empty() || v.chars().any(char::is_control),
                            "{v:?}: {e}"
                        ),
                    }
                }
            }
        }
    }
    assert!(
        fake.traces().is_empty(),
        "a command ran: {:?}",
        fake.traces()
    );
}

#[test]
fn shell_join_round_trips_through_a_real_sh() {
    let fake = FakeBin::new("join");
    let words: Vec<String> = [
        "pvesh", "a b", "", "'", "\"", "\\", "$x", "`id`", "$(id)", "a\nb", "\t", "*", "~", "#x",
        "!", "if", "x=y", "-", "--", "ü", ";", "&&", "|", ">", "<", "(", ")", "{", "}",
    ]
    .map(String::from)
    .to_vec();
    let line = proxmox_proto::shell::join(&words);
    assert_eq!(fake.run(&line), words);
    assert_eq!(proxmox_proto::shell::split(&line).unwrap(), words);
    // Every single word, each as an argument.
    for w in &words {
        let argv = vec!["pvesh".to_owned(), w.clone()];
        assert_eq!(fake.run(&proxmox_proto::shell::join(&argv)), argv);
    }
    // A first word that looks like an assignment or a reserved word is still the program.
    for first in ["A=b", "if", "for", "while"] {
        let line = proxmox_proto::shell::join(&[first, "x"]);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{line} 2>/dev/null; echo rc=$?"))
            .output()
            .unwrap();
        // sh tries to run a program with that name (exit 127), never a syntax construct.
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("rc=127"),
            "{first}"
        );
    }
    assert!(fake.traces().is_empty());
}

// ---- regressions from fuzzing -----------------------------------------------------------------

/// fuzz/regressions/task/duplicate-key-from-data-slice: a status object with the key `status`
/// twice. `TaskStatus::from_data` (through a `Value`, last key wins) accepts it;
/// `TaskStatus::from_data_slice` (derived `Deserialize` straight from bytes) refuses it with
/// "duplicate field". The two entry points disagree on the same document; the models module
/// documents "a key given twice: the last one wins".
#[test]
fn regression_task_status_duplicate_key() {
    let body = br#"{"upid":"UPID:pve1:000A1B2C:0123ABCD:65000000:qmstart:100:t@pam:","status":"running","status":"stopped","exitstatus":"OK"}"#;
    let v: Value = serde_json::from_slice(body).unwrap();
    let from_value = TaskStatus::from_data(&v).unwrap();
    let from_bytes = TaskStatus::from_data_slice(body);
    assert_eq!(from_bytes.ok(), Some(from_value));
}

/// fuzz/regressions/envelope/float-text-round-trip: `{"data":[1000…000 (57 digits), 2]}`. The
/// big integer reads as the f64 9.999999999999999e55, which serde_json writes as such but reads
/// back as 1e56: serde_json's default float parser is not correctly rounded (its
/// `float_roundtrip` feature is), so a read-modify-write of a float can move it by an ulp.
/// Harmless for Proxmox values (CPU fractions, sizes); the fuzz target now compares floats to
/// a relative 1e-15. Un-ignore if the core enables `float_roundtrip`.
#[test]
#[ignore = "serde_json without float_roundtrip: text round trip of a float may change its last ulp (reported to the lead)"]
fn regression_float_text_round_trip() {
    let body = format!("{{\"data\":[1{}, 2]}}", "0".repeat(56));
    let v: Value = parse_data(200, None, body.as_bytes()).unwrap();
    let text = serde_json::to_string(&v).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, v);
}
