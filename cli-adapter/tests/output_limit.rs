//! The output bound (`body_limit`) on every transport, against a real sshd on loopback: a
//! command that prints more than the limit on stdout or on stderr ends with the typed
//! `BodyTooLarge` error, is stopped (also when it would print forever), and the client's
//! connection (ssh2 session, OpenSSH ControlMaster) serves the next call.

mod common;

use common::{Peers, gone, scratch};
use proxmox_cli::proto::command::CommandLine;
use proxmox_cli::proto::{InputError, ProtocolError};
use proxmox_cli::{CallOptions, Client, Error};
use serde_json::Value;

const MIB: u64 = 1024 * 1024;
const LIMIT: u64 = MIB;

fn sh(script: &str) -> CommandLine {
    CommandLine::from_argv(["sh", "-c", script]).unwrap()
}

/// The bound that was passed, if `e` is the typed "too large" error.
fn too_large(e: &Error) -> Option<(u64, u64)> {
    match e {
        Error::Proto(proxmox_cli::proto::Error::Protocol(ProtocolError::BodyTooLarge {
            size,
            limit,
        })) => Some((*size, *limit)),
        _ => None,
    }
}

fn limited(p: &Peers, name: &str, kill_remote: bool) -> Client {
    let s = &p.sshd;
    match name {
        "local" => {
            let mut b = Client::local().body_limit(LIMIT);
            for (k, v) in s.pvesh_env() {
                b = b.env(k, v);
            }
            b.program(s.bin_dir().join("pvesh").display().to_string())
                .env(
                    "PATH",
                    format!("{}:/usr/local/bin:/usr/bin:/bin", s.bin_dir().display()),
                )
                .build()
                .unwrap()
        }
        "openssh" => Client::openssh(s.host())
            .port(s.port())
            .user(s.user())
            .identity_file(s.identity_file())
            .known_hosts_file(s.known_hosts_file())
            .kill_remote_on_timeout(kill_remote)
            .body_limit(LIMIT)
            .build()
            .unwrap(),
        _ => Client::ssh2(s.host())
            .port(s.port())
            .user(s.user())
            .key_file(s.identity_file())
            .known_hosts_file(s.known_hosts_file())
            .kill_remote_on_timeout(kill_remote)
            .body_limit(LIMIT)
            .build()
            .unwrap(),
    }
}

/// The next call works, over the same SSH connection.
fn still_works(p: &Peers, name: &str, c: &Client, logins: usize, what: &str) {
    let v: Value = c.get("version").unwrap();
    assert_eq!(v["release"], "9.0", "{name}: a call after {what}");
    assert_eq!(
        p.connections(),
        logins,
        "{name}: {what} must not cost the connection"
    );
}

#[test]
fn a_zero_body_limit_is_refused_before_anything_runs() {
    let invalid = |r: Result<Client, Error>| match r {
        Err(Error::Proto(proxmox_cli::proto::Error::Input(InputError::Invalid {
            what, ..
        }))) => what == "body limit",
        _ => false,
    };
    assert!(invalid(Client::local().body_limit(0).build()));
    assert!(invalid(Client::openssh("pve1").body_limit(0).build()));
    assert!(invalid(
        Client::ssh2("pve1")
            .user("root")
            .agent()
            .host_key_fingerprint("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU")
            .body_limit(0)
            .build()
    ));
    // Per call: refused before the (missing) program is looked for.
    let c = Client::local()
        .program("/nonexistent/pvesh")
        .build()
        .unwrap();
    let e = c
        .call_raw(
            &proxmox_cli::proto::Call::get("version").unwrap(),
            &CallOptions::default().body_limit(0),
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::Proto(proxmox_cli::proto::Error::Input(_))) && !e.may_have_been_sent(),
        "{e:?}"
    );
    assert!(e.to_string().contains("body limit"), "{e}");
}

#[test]
fn output_over_the_limit_fails_typed_on_every_transport_and_the_client_goes_on() {
    let Some(p) = Peers::start() else { return };
    for name in ["local", "openssh", "ssh2"] {
        let c = limited(&p, name, true);
        // Warm up: the SSH connection exists before anything is counted.
        let _: Value = c.get("version").unwrap();
        let logins = p.connections();

        // Exactly the limit, on both streams at once, is accepted.
        let out = c
            .run_command(
                &sh(&format!(
                    "head -c {LIMIT} /dev/zero & head -c {LIMIT} /dev/zero >&2; wait"
                )),
                &CallOptions::default(),
            )
            .unwrap();
        assert_eq!(
            (out.stdout.len() as u64, out.stderr.len() as u64),
            (LIMIT, LIMIT),
            "{name}"
        );
        assert_eq!(out.exit_code, Some(0), "{name}");

        for (stream, script) in [
            ("stdout", format!("head -c {} /dev/zero", 64 * MIB)),
            ("stderr", format!("head -c {} /dev/zero >&2", 64 * MIB)),
            (
                "stdout, one byte over",
                format!("head -c {} /dev/zero", LIMIT + 1),
            ),
        ] {
            let e = c
                .run_command(&sh(&script), &CallOptions::default())
                .unwrap_err();
            assert_eq!(
                too_large(&e),
                Some((LIMIT + 1, LIMIT)),
                "{name}, {stream}: {e:?}"
            );
            assert!(e.may_have_been_sent(), "{name}: the command ran");
            assert!(
                e.to_string().contains(&format!("limit of {LIMIT} bytes")),
                "{name}: {e}"
            );
            still_works(&p, name, &c, logins, &format!("{stream} over the limit"));
        }

        // A call's own bound wins over the client's.
        let half = LIMIT / 2;
        let e = c
            .run_command(
                &sh(&format!("head -c {LIMIT} /dev/zero")),
                &CallOptions::default().body_limit(half),
            )
            .unwrap_err();
        assert_eq!(too_large(&e), Some((half + 1, half)), "{name}: {e:?}");
        let out = c
            .run_command(
                &sh(&format!("head -c {} /dev/zero", 2 * LIMIT)),
                &CallOptions::default().body_limit(2 * LIMIT),
            )
            .unwrap();
        assert_eq!(out.stdout.len() as u64, 2 * LIMIT, "{name}");
        still_works(&p, name, &c, logins, "a per-call bound");
    }
}

#[test]
fn a_command_that_keeps_printing_is_ended_on_every_transport() {
    let Some(p) = Peers::start() else { return };
    let dir = scratch("endless");
    for (name, kill_remote) in [
        ("local", true),
        ("openssh", true),
        ("openssh", false),
        ("ssh2", true),
        ("ssh2", false),
    ] {
        let c = limited(&p, name, kill_remote);
        let _: Value = c.get("version").unwrap();
        let logins = p.connections();
        for stream in ["", ">&2"] {
            let pidfile = dir.join(format!("{name}-{kill_remote}-{}.pid", stream.len()));
            // A command that never stops printing (and never reads its input).
            let script = format!("echo $$ > {}; exec yes {stream}", pidfile.display());
            let e = c
                .run_command(&sh(&script), &CallOptions::default())
                .unwrap_err();
            let label = format!("{name} (watchdog {kill_remote}, {stream:?})");
            assert_eq!(too_large(&e), Some((LIMIT + 1, LIMIT)), "{label}: {e:?}");
            let pid = std::fs::read_to_string(&pidfile).unwrap();
            assert!(gone(pid.trim()), "{label}: the printer {pid} still runs");
            still_works(
                &p,
                name,
                &c,
                logins,
                &format!("{label}: an endless printer"),
            );
        }
    }
}
