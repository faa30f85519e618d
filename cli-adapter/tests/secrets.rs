//! proxmox-cli: the ssh2 password (and key passphrase) and the command line (`sudo`, `pvesh`
//! and its parameters) never show in the `Debug`/`Display` of builders, clients and errors;
//! and a hostile API shell (a fake `pvesh` script run by the local transport) printing huge
//! output, invalid UTF-8, JSON 100,000 deep, or control characters on stderr, or never
//! finishing, gives typed errors: no panic, no hang (the per-call time limit).

use proxmox_cli::proto::{Call, ProtocolError};
use proxmox_cli::{CallOptions, Client, Error, Ssh2Auth};
use proxmox_testbed::{PveshTarget, Sshd, require_peer};
use serde_json::Value;
use std::fmt::{Debug, Display};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SSH_PASSWORD: &str = "Ssh-SECRET-pw-4242";
const PASSPHRASE: &str = "Key-SECRET-passphrase-17";
const ARGV_SECRET: &str = "Argv-SECRET-param-31";
const ALL: [&str; 3] = [SSH_PASSWORD, PASSPHRASE, ARGV_SECRET];

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

/// A scratch directory for this test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("proxmox-cli-secrets-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An executable `/bin/sh` script standing in for `pvesh`.
fn stub(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

fn local(program: &str) -> Client {
    Client::local()
        .program(program)
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// A call whose command line carries a secret parameter.
fn secret_call() -> Call {
    Call::put(("access", "password"))
        .unwrap()
        .param("userid", "alice@pve")
        .param("password", ARGV_SECRET)
}

fn protocol(e: &Error) -> Option<&ProtocolError> {
    match e {
        Error::Proto(proxmox_cli::proto::Error::Protocol(p)) => Some(p),
        _ => None,
    }
}

#[test]
fn ssh2_builders_and_clients_hide_the_password() {
    let b = Client::ssh2("127.0.0.1")
        .port(9)
        .user("root")
        .password(SSH_PASSWORD)
        .host_key_fingerprint("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .connect_timeout(Duration::from_secs(2))
        .sudo(true);
    no_secret("Ssh2Builder(password)", &b);
    let c = b.build().unwrap();
    no_secret("Client(ssh2 password)", &c);
    // Nothing listens on port 9: connection refused, nothing sent.
    let e = c.call::<Value>(&secret_call()).unwrap_err();
    assert!(
        (matches!(e, Error::Transport(_)) && !e.may_have_been_sent()),
        "{e:?}"
    );
    no_secret_error("ssh2 connection refused", &e);

    let auth = Ssh2Auth::KeyFile {
        path: "/nonexistent/id_ed25519".into(),
        passphrase: Some(PASSPHRASE.into()),
    };
    no_secret("Ssh2Auth::KeyFile", &auth);
    no_secret(
        "Ssh2Auth::Password",
        &Ssh2Auth::Password(SSH_PASSWORD.into()),
    );
    let b = Client::ssh2("127.0.0.1")
        .port(9)
        .user("root")
        .auth(auth)
        .host_key_fingerprint("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .connect_timeout(Duration::from_secs(2));
    no_secret("Ssh2Builder(key passphrase)", &b);
    let c = b.build().unwrap();
    no_secret("Client(ssh2 key)", &c);
    no_secret_error("ssh2 key, refused", &c.get::<Value>("nodes").unwrap_err());

    // Configuration errors.
    let e = Client::ssh2("127.0.0.1")
        .password(SSH_PASSWORD)
        .build()
        .unwrap_err();
    no_secret_error("ssh2 without user", &e);
    let e = Client::ssh2("127.0.0.1")
        .user("root")
        .password(SSH_PASSWORD)
        .host_key_fingerprint("nonsense")
        .build()
        .unwrap_err();
    no_secret_error("ssh2 bad fingerprint", &e);
}

#[test]
fn ssh2_wrong_password_against_sshd() {
    // The testbed sshd allows public keys only: a password login is refused like a wrong
    // password would be, through libssh2's password authentication.
    let target = PveshTarget {
        base_url: "https://127.0.0.1:9".into(),
        authorization: "PVEAPIToken=unused".into(),
        ca_pem: None,
    };
    let Some(sshd) = require_peer("sshd", Sshd::start(&target)) else {
        return;
    };
    let c = Client::ssh2(sshd.host())
        .port(sshd.port())
        .user(sshd.user())
        .password(SSH_PASSWORD)
        .known_hosts_file(sshd.known_hosts_file())
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    no_secret("Client(ssh2 against sshd)", &c);
    let e = c.call::<Value>(&secret_call()).unwrap_err();
    assert!(!e.may_have_been_sent(), "{e:?}");
    no_secret_error("ssh2 login refused", &e);
    assert!(
        !sshd.log().contains(SSH_PASSWORD),
        "the password reached sshd's log"
    );
}

#[test]
fn the_command_line_never_shows_in_errors() {
    let dir = scratch("argv");
    // A failed call: status line and a parameter error on stderr.
    let failing = stub(
        &dir,
        "pvesh-fails",
        "printf '400 Parameter verification failed.\\npassword: invalid format\\n' >&2; exit 255",
    );
    let b = Client::local().program(&failing).sudo(false);
    no_secret("LocalBuilder", &b);
    let c = b.build().unwrap();
    no_secret("Client(local)", &c);
    let e = c.call::<Value>(&secret_call()).unwrap_err();
    let api = e.api().unwrap_or_else(|| panic!("{e:?}"));
    assert_eq!(api.status, 400);
    no_secret_error("failed command", &e);
    let raw = c.call_raw(&secret_call(), &CallOptions::default()).unwrap();
    no_secret("RawOutput", &raw);

    // Killed at the time limit.
    let slow = stub(&dir, "pvesh-slow", "exec sleep 30");
    let e = local(&slow)
        .call_with::<Value>(
            &secret_call(),
            &CallOptions::default().timeout(Duration::from_millis(300)),
        )
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    no_secret_error("timed out", &e);

    // The program cannot be started, with and without sudo.
    for sudo in [false, true] {
        let c = Client::local()
            .program("/nonexistent/dir/pvesh")
            .sudo(sudo)
            .build()
            .unwrap();
        no_secret("Client(sudo)", &c);
        let e = c.call::<Value>(&secret_call()).unwrap_err();
        no_secret_error("cannot run", &e);
    }

    // A bad parameter name is refused before running anything, without quoting the value.
    let c = local(&failing);
    let call = Call::put(("access", "password"))
        .unwrap()
        .param("pass word\n", ARGV_SECRET);
    if let Err(e) = c.call::<Value>(&call) {
        no_secret_error("bad parameter", &e);
    }
}

#[test]
fn hostile_api_shell_output() {
    let dir = scratch("hostile");
    let opts = CallOptions::default().timeout(Duration::from_secs(15));

    // 64 MiB of blanks and no JSON on stdout: a typed protocol error.
    let huge = stub(
        &dir,
        "pvesh-huge",
        "head -c 67108864 /dev/zero | tr '\\000' ' '; printf 'x'",
    );
    let e = local(&huge)
        .call_with::<Value>(&Call::get("nodes").unwrap(), &opts)
        .unwrap_err();
    assert!(protocol(&e).is_some(), "{e:?}");

    // 64 MiB on stderr of a failed command: an API error whose message stays small.
    let huge_err = stub(
        &dir,
        "pvesh-huge-stderr",
        "printf '500 broken\\n' >&2; head -c 67108864 /dev/zero | tr '\\000' 'e' >&2; exit 2",
    );
    let e = local(&huge_err)
        .call_with::<Value>(&Call::get("nodes").unwrap(), &opts)
        .unwrap_err();
    let api = e.api().unwrap_or_else(|| panic!("{e:?}"));
    assert_eq!(api.status, 500);
    assert!(api.raw_body.as_deref().unwrap_or("").len() <= 8192);
    assert!(e.to_string().len() < 64 * 1024, "{}", e.to_string().len());

    // Invalid UTF-8, bare and inside a JSON string.
    for (name, body) in [
        ("pvesh-utf8", "printf '\\377\\376 not json'"),
        ("pvesh-utf8-json", "printf '{\"a\":\"\\377\\376\"}'"),
    ] {
        let p = stub(&dir, name, body);
        let e = local(&p)
            .call_with::<Value>(&Call::get("nodes").unwrap(), &opts)
            .unwrap_err();
        assert!(protocol(&e).is_some(), "{name}: {e:?}");
    }

    // JSON 100,000 deep.
    let deep = stub(
        &dir,
        "pvesh-deep",
        "head -c 100000 /dev/zero | tr '\\000' '['; head -c 100000 /dev/zero | tr '\\000' ']'",
    );
    let e = local(&deep)
        .call_with::<Value>(&Call::get("nodes").unwrap(), &opts)
        .unwrap_err();
    assert!(
        matches!(protocol(&e), Some(ProtocolError::TooDeep { .. })),
        "{e:?}"
    );
    let e = local(&deep)
        .call_with::<Vec<proxmox_cli::proto::models::ClusterResource>>(
            &Call::get(("cluster", "resources")).unwrap(),
            &opts,
        )
        .unwrap_err();
    assert!(protocol(&e).is_some(), "{e:?}");

    // Control characters on stderr: escapes, bells, carriage returns, C1 controls.
    let ctl = stub(
        &dir,
        "pvesh-ctl",
        "printf 'warn \\033[31mred\\033[0m\\n500 bad \\033[2J thing\\r\\033]0;title\\007 \\302\\233 end\\nkey: v\\033[1m\\n' >&2; exit 2",
    );
    let e = local(&ctl)
        .call_with::<Value>(&Call::get("nodes").unwrap(), &opts)
        .unwrap_err();
    let api = e.api().unwrap_or_else(|| panic!("{e:?}"));
    assert_eq!(api.status, 500);
    assert!(
        !api.reason.chars().any(char::is_control),
        "{:?}",
        api.reason
    );
    let shown = e.to_string();
    assert!(
        !shown.chars().any(|c| c.is_control() && c != '\n'),
        "{shown:?}"
    );
    // On success, control characters on stderr are only warnings.
    let warn = stub(
        &dir,
        "pvesh-warn",
        "printf 'careful \\033[2J\\007\\n' >&2; printf '[1]'",
    );
    assert_eq!(
        local(&warn)
            .call_with::<Vec<u32>>(&Call::get("nodes").unwrap(), &opts)
            .unwrap(),
        [1]
    );

    // Endless trickling output, and a child that keeps the pipes open: the time limit fires.
    for (name, body) in [
        (
            "pvesh-trickle",
            "while :; do echo '{\"data\":1}'; sleep 0.05; done",
        ),
        ("pvesh-orphan", "(sleep 30) & sleep 30"),
    ] {
        let p = stub(&dir, name, body);
        let e = local(&p)
            .call_with::<Value>(
                &Call::post("nodes").unwrap(),
                &CallOptions::default().timeout(Duration::from_millis(400)),
            )
            .unwrap_err();
        assert!(
            (matches!(e, Error::Transport(_)) && e.is_timeout() && e.may_have_been_sent()),
            "{name}: {e:?}"
        );
    }
}

/// By default every transport keeps at most the HTTP clients' body limit (256 MiB) of a
/// command's output: a command printing 1 GiB gives a typed "too large" error instead of
/// buffering it all. (A configured `body_limit`, on every transport, is in `output_limit.rs`.)
#[test]
fn output_beyond_a_limit_is_refused() {
    let dir = scratch("limit");
    let p = stub(
        &dir,
        "pvesh-gib",
        "printf '\"'; head -c 1073741824 /dev/zero | tr '\\000' 'a'; printf '\"'",
    );
    let e = local(&p)
        .call_with::<Value>(
            &Call::get("nodes").unwrap(),
            &CallOptions::default().timeout(Duration::from_secs(60)),
        )
        .unwrap_err();
    assert!(
        matches!(
            protocol(&e),
            Some(ProtocolError::BodyTooLarge { limit, .. })
                if *limit == proxmox_cli::proto::response::DEFAULT_BODY_LIMIT
        ),
        "{e:?}"
    );
}
