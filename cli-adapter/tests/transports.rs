//! Transport behaviour against a real OpenSSH sshd on loopback (and local subprocesses):
//! argv byte for byte, exit codes and stderr, output of any size, time limits, host keys,
//! connection reuse, uploads.

mod common;

use common::{Peers, gone, scratch, script};
use proxmox_cli::proto::command::CommandLine;
use proxmox_cli::proto::task::{TaskOutcome, WaitOptions};
use proxmox_cli::proto::upload::UploadContent;
use proxmox_cli::proto::{Call, Service, Upid};
use proxmox_cli::{CallOptions, Client, Error, HostKeyPolicy, Ssh2HostKey, UploadChecksum};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The same client settings with another API shell program.
fn with_program(p: &Peers, which: &str, program: &Path) -> Client {
    let program = program.display().to_string();
    match which {
        "local" => Client::local().program(program).build().unwrap(),
        "openssh" => Client::openssh(p.sshd.host())
            .port(p.sshd.port())
            .user(p.sshd.user())
            .identity_file(p.sshd.identity_file())
            .known_hosts_file(p.sshd.known_hosts_file())
            .program(program)
            .build()
            .unwrap(),
        _ => Client::ssh2(p.sshd.host())
            .port(p.sshd.port())
            .user(p.sshd.user())
            .key_file(p.sshd.identity_file())
            .known_hosts_file(p.sshd.known_hosts_file())
            .program(program)
            .build()
            .unwrap(),
    }
}

const TRANSPORTS: [&str; 3] = ["local", "openssh", "ssh2"];

#[test]
fn shell_metacharacters_reach_pvesh_byte_for_byte() {
    let Some(p) = Peers::start() else { return };
    let value = "-x 'single' \"double\" $(touch /tmp/pwned) `id` ; echo pwned | cat & \nline2 \\ $HOME * ~ #";
    for (name, client) in [
        ("openssh", p.openssh(true)),
        ("ssh2", p.ssh2()),
        ("local", p.local()),
    ] {
        let call = Call::put(("nodes", "pve1", "qemu", 100, "config"))
            .unwrap()
            .param("description", value);
        let answer = client.call::<Value>(&call);
        assert!(answer.is_ok(), "{name}: {answer:?}");
        let last = p.sshd.pvesh_calls().pop().unwrap();
        assert_eq!(
            last,
            [
                "set",
                "/nodes/pve1/qemu/100/config",
                "--description",
                value,
                "--output-format",
                "json"
            ],
            "{name}"
        );
        let config: Value = client
            .get(("nodes", "pve1", "qemu", 100, "config"))
            .unwrap();
        assert_eq!(
            config["description"], value,
            "{name}: round trip through fakepve"
        );
    }
    assert!(!Path::new("/tmp/pwned").exists());
}

#[test]
fn warnings_preambles_errors_and_big_output() {
    let Some(p) = Peers::start() else { return };
    let dir = scratch("shims");
    let warn = script(
        &dir,
        "warn-pvesh",
        "echo \"WARN: storage 'nas' is not online\" >&2\nprintf '{\"version\":\"9.0.10\",\"release\":\"9.0\"}\\n'",
    );
    let preamble = script(
        &dir,
        "task-pvesh",
        "printf 'trying to acquire lock...\\n OK\\n'\nprintf '\"UPID:pve1:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam!ci:\"\\n'",
    );
    let fail = script(
        &dir,
        "fail-pvesh",
        "echo \"400 Parameter verification failed.\" >&2\necho \"vmid: type check ('integer') failed - got 'abc'\" >&2\nexit 255",
    );
    let big = script(
        &dir,
        "big-pvesh",
        "head -c 3000000 /dev/zero | tr '\\0' e >&2 &\nprintf '\"'; head -c 3000000 /dev/zero | tr '\\0' x; printf '\"\\n'\nwait",
    );
    for name in TRANSPORTS {
        let c = with_program(&p, name, &warn);
        let out = c
            .call_output(&Call::get("version").unwrap(), &CallOptions::default())
            .unwrap();
        assert_eq!(out.data["version"], "9.0.10", "{name}");
        assert_eq!(
            out.warnings().collect::<Vec<_>>(),
            ["WARN: storage 'nas' is not online"],
            "{name}"
        );

        let c = with_program(&p, name, &preamble);
        let upid: String = c
            .post(("nodes", "pve1", "qemu", 100, "status", "start"), &())
            .unwrap();
        let upid: Upid = upid.parse().unwrap();
        assert_eq!(upid.user(), "root@pam!ci", "{name}");

        let c = with_program(&p, name, &fail);
        let e = c.get::<Value>("version").unwrap_err();
        let api = e.api().unwrap_or_else(|| panic!("{name}: {e}"));
        assert_eq!((api.status, api.exit_code), (400, Some(255)), "{name}");
        assert!(api.param_errors.contains_key("vmid"), "{name}");

        let c = with_program(&p, name, &big);
        let raw = c
            .call_raw(&Call::get("version").unwrap(), &CallOptions::default())
            .unwrap();
        assert_eq!(raw.exit_code, Some(0), "{name}");
        assert_eq!(raw.stdout.len(), 3_000_003, "{name}");
        assert_eq!(raw.stderr.len(), 3_000_000, "{name}");
        let s: String = c.get("version").unwrap();
        assert_eq!(s.len(), 3_000_000, "{name}");
    }
}

#[test]
fn a_stuck_command_is_killed_and_the_session_recovers() {
    let Some(p) = Peers::start() else { return };
    let dir = scratch("stuck");
    for (name, client) in [
        ("local", p.local()),
        ("openssh", p.openssh(true)),
        ("ssh2", p.ssh2()),
    ] {
        let pidfile = dir.join(format!("{name}.pid"));
        let stuck = script(
            &dir,
            &format!("stuck-{name}"),
            &format!("echo $$ > {}\nexec sleep 600", pidfile.display()),
        );
        let cmd = CommandLine::from_argv([stuck.display().to_string()]).unwrap();
        // Connected first, so that the recovery below can be checked to reuse the connection.
        let _: Value = client.get("version").unwrap();
        let logins = p.connections();
        let e = client
            .run_command(
                &cmd,
                &CallOptions::default().timeout(Duration::from_secs(2)),
            )
            .unwrap_err();
        assert!(e.is_timeout() && e.may_have_been_sent(), "{name}: {e}");
        assert!(e.to_string().contains("killed"), "{name}: {e}");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        assert!(
            gone(pid.trim()),
            "{name}: the stuck command {pid} still runs"
        );
        let v: Value = client.get("version").unwrap();
        assert_eq!(
            v["release"], "9.0",
            "{name}: the client works after a timeout"
        );
        assert_eq!(
            p.connections(),
            logins,
            "{name}: a timeout must not cost the SSH connection (ssh2 session, ControlMaster)"
        );
    }
}

#[test]
fn one_tcp_connection_for_100_calls_over_ssh2_and_controlmaster() {
    let Some(p) = Peers::start() else { return };
    let dir = scratch("fast");
    let fast = script(&dir, "fast-pvesh", "printf '{\"version\":\"9.0.10\"}\\n'");
    for name in ["ssh2", "openssh"] {
        let before = p.connections();
        let c = with_program(&p, name, &fast);
        for _ in 0..100 {
            let v: Value = c.get("version").unwrap();
            assert_eq!(v["version"], "9.0.10");
        }
        assert_eq!(
            p.connections() - before,
            1,
            "{name}: 100 calls, one connection"
        );
    }
    // Without ControlMaster: one connection per call.
    let before = p.connections();
    let c = Client::openssh(p.sshd.host())
        .port(p.sshd.port())
        .user(p.sshd.user())
        .identity_file(p.sshd.identity_file())
        .known_hosts_file(p.sshd.known_hosts_file())
        .control_master(false)
        .program(fast.display().to_string())
        .build()
        .unwrap();
    for _ in 0..3 {
        let _: Value = c.get("version").unwrap();
    }
    assert_eq!(p.connections() - before, 3);
}

fn fingerprint(known_hosts: &Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(known_hosts)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap().to_owned()
}

#[test]
fn unknown_host_keys_are_refused_unless_trust_on_first_use_is_chosen() {
    let Some(p) = Peers::start() else { return };
    let dir = scratch("hostkeys");
    let s = &p.sshd;
    let openssh = |kh: &Path, policy| {
        Client::openssh(s.host())
            .port(s.port())
            .user(s.user())
            .identity_file(s.identity_file())
            .known_hosts_file(kh)
            .host_key_policy(policy)
            .build()
            .unwrap()
    };
    let ssh2 = |check| {
        Client::ssh2(s.host())
            .port(s.port())
            .user(s.user())
            .key_file(s.identity_file())
            .host_key(check)
            .build()
            .unwrap()
    };

    // OpenSSH: strict by default.
    let kh = dir.join("openssh_known_hosts");
    std::fs::write(&kh, "").unwrap();
    let e = openssh(&kh, HostKeyPolicy::Strict)
        .get::<Value>("version")
        .unwrap_err();
    assert!(matches!(e, Error::HostKey { .. }), "{e}");
    assert!(!e.may_have_been_sent());
    assert!(
        e.to_string().contains("Host key verification failed"),
        "{e}"
    );
    assert!(p.sshd.pvesh_calls().is_empty(), "nothing ran");
    let _: Value = openssh(&kh, HostKeyPolicy::AcceptNew)
        .get("version")
        .unwrap();
    assert!(
        std::fs::read_to_string(&kh)
            .unwrap()
            .contains("ssh-ed25519")
    );
    let _: Value = openssh(&kh, HostKeyPolicy::Strict).get("version").unwrap();

    // ssh2: refused by default, recorded with trust on first use, checked afterwards.
    let kh = dir.join("ssh2_known_hosts");
    std::fs::write(&kh, "").unwrap();
    let e = ssh2(Ssh2HostKey::KnownHosts(kh.clone()))
        .get::<Value>("version")
        .unwrap_err();
    assert!(matches!(e, Error::HostKey { .. }), "{e}");
    assert!(e.to_string().contains("trust on first use"), "{e}");
    let _: Value = ssh2(Ssh2HostKey::TrustOnFirstUse(kh.clone()))
        .get("version")
        .unwrap();
    let _: Value = ssh2(Ssh2HostKey::KnownHosts(kh.clone()))
        .get("version")
        .unwrap();
    assert_eq!(fingerprint(&kh), fingerprint(&s.known_hosts_file()));

    // A changed key is refused even with trust on first use.
    let other = dir.join("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    let pubkey = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let wrong = dir.join("wrong_known_hosts");
    let key: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    std::fs::write(
        &wrong,
        format!("[127.0.0.1]:{} {} {}\n", s.port(), key[0], key[1]),
    )
    .unwrap();
    let e = ssh2(Ssh2HostKey::TrustOnFirstUse(wrong))
        .get::<Value>("version")
        .unwrap_err();
    assert!(e.to_string().contains("does NOT match"), "{e}");

    // Fingerprints.
    let fp = fingerprint(&s.known_hosts_file());
    let _: Value = ssh2(Ssh2HostKey::Fingerprint(fp)).get("version").unwrap();
    let e = ssh2(Ssh2HostKey::Fingerprint(fingerprint(
        &other.with_extension("pub"),
    )))
    .get::<Value>("version")
    .unwrap_err();
    assert!(matches!(e, Error::HostKey { .. }), "{e}");
}

#[test]
fn tasks_logs_agent_exec_and_failed_upload_cleanup() {
    let Some(p) = Peers::start() else { return };
    let dir = scratch("tasks");
    for client in p.all() {
        let name = client.transport_name();
        let upid: String = client
            .post(("nodes", "pve1", "qemu", 100, "status", "start"), &())
            .unwrap();
        let upid: Upid = upid.parse().unwrap();
        let opts = WaitOptions::new()
            .with_intervals(Duration::from_millis(20), Duration::from_millis(200));
        match client.wait_task(&upid, opts.clone(), |_| {}).unwrap() {
            TaskOutcome::Failed { message, log_tail } => {
                assert!(message.contains("already running"), "{name}: {message}");
                assert!(!log_tail.is_empty(), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        let log = client.task_log(&upid).unwrap();
        assert!(log.iter().any(|l| l.t.contains("TASK ERROR")), "{name}");
        let mut followed = Vec::new();
        let outcome = client
            .follow_task_log(&upid, opts, |lines| followed.extend(lines.iter().cloned()))
            .unwrap();
        assert!(!outcome.is_success(), "{name}");
        assert_eq!(followed.len(), log.len(), "{name}");

        // agent exec: the words of the command arrive as repeated --command flags.
        let _ = client.agent_exec("pve1", 100, "ls '-la' \"/tmp dir\"");
        let last = p.sshd.pvesh_calls().pop().unwrap();
        assert_eq!(
            last[..8],
            [
                "create",
                "/nodes/pve1/qemu/100/agent/exec",
                "--command",
                "ls",
                "--command",
                "-la",
                "--command",
                "/tmp dir"
            ],
            "{name}"
        );

        // A refused upload removes its staged file.
        let file = dir.join("small.iso");
        std::fs::write(&file, vec![7u8; 1000]).unwrap();
        let mut seen = 0;
        let e = client
            .upload_as(
                "pve1",
                "no-such-storage",
                UploadContent::Iso,
                &file,
                "small.iso",
                UploadChecksum::None,
                &mut |n, _| seen = n,
            )
            .unwrap_err();
        assert!(e.api().is_some(), "{name}: {e}");
        assert_eq!(seen, 1000, "{name}");
        let call = p
            .sshd
            .pvesh_calls()
            .into_iter()
            .rev()
            .find(|c| c.iter().any(|w| w == "--tmpfilename"))
            .unwrap();
        let staged = call
            .iter()
            .skip_while(|w| *w != "--tmpfilename")
            .nth(1)
            .unwrap()
            .clone();
        assert!(
            staged.starts_with("/var/tmp/pveupload-"),
            "{name}: {staged}"
        );
        assert!(
            !Path::new(&staged).exists(),
            "{name}: {staged} was left behind"
        );
    }
}

#[test]
fn pbs_is_refused_and_pmg_uses_pmgsh() {
    let e = Client::local().service(Service::Pbs).build().unwrap_err();
    assert!(e.to_string().contains("PBS"), "{e}");
    let e = Client::openssh("pve1")
        .service(Service::Pbs)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("PBS"), "{e}");
    let pmg = Client::local()
        .service(Service::Pmg)
        .sudo(true)
        .build()
        .unwrap();
    let cmd = pmg
        .command_builder()
        .build(&Call::get("/nodes").unwrap())
        .unwrap();
    assert_eq!(cmd.argv(), ["sudo", "-n", "pmgsh", "get", "/nodes"]);
}

#[test]
fn a_missing_program_is_a_transport_error_that_did_not_run() {
    let c = Client::local()
        .program("/nonexistent/pvesh")
        .build()
        .unwrap();
    let e = c.get::<Value>("version").unwrap_err();
    assert!(
        matches!(e, Error::Transport(_)) && !e.may_have_been_sent(),
        "{e}"
    );
}

/// An openssh or ssh2 client of `hosts` (the first, then `endpoints`), with the peers' key,
/// user and port, the known_hosts file `known`, and the API shell `program`.
fn several(p: &Peers, which: &str, hosts: &[&str], known: &Path, program: &Path) -> Client {
    let program = program.display().to_string();
    match which {
        "openssh" => Client::openssh(hosts[0])
            .endpoints(&hosts[1..])
            .port(p.sshd.port())
            .user(p.sshd.user())
            .identity_file(p.sshd.identity_file())
            .known_hosts_file(known)
            .connect_timeout(Duration::from_secs(2))
            .program(program)
            .build()
            .unwrap(),
        _ => Client::ssh2(hosts[0])
            .endpoints(&hosts[1..])
            .port(p.sshd.port())
            .user(p.sshd.user())
            .key_file(p.sshd.identity_file())
            .known_hosts_file(known)
            .connect_timeout(Duration::from_secs(2))
            .program(program)
            .build()
            .unwrap(),
    }
}

#[test]
fn several_hosts_fail_over_only_when_the_command_never_started() {
    let Some(p) = Peers::start() else { return };
    let dir = scratch("failover");
    let count = dir.join("count");
    let fast = script(&dir, "fast-pvesh", "printf '{\"version\":\"9.0.10\"}\\n'");
    // A command that started and exits with 255, saying what ssh says when it cannot connect.
    let lies = script(
        &dir,
        "lying-pvesh",
        &format!(
            "echo run >> '{}'\necho 'ssh: connect to host pve1 port 22: Connection refused' >&2\nexit 255",
            count.display()
        ),
    );
    // The server's key for `localhost` too: a second host that works.
    let known = dir.join("known_hosts");
    let pinned = std::fs::read_to_string(p.sshd.known_hosts_file()).unwrap();
    let as_localhost = pinned.replace("[127.0.0.1]", "[localhost]");
    std::fs::write(&known, format!("{pinned}{as_localhost}")).unwrap();

    for which in ["openssh", "ssh2"] {
        // sshd listens on 127.0.0.1 only: 127.0.0.2 refuses, and the call goes on.
        let c = several(&p, which, &["127.0.0.2", "127.0.0.1"], &known, &fast);
        for _ in 0..3 {
            let v: Value = c.get("version").unwrap_or_else(|e| panic!("{which}: {e}"));
            assert_eq!(v["version"], "9.0.10");
        }

        // Every host refuses: the error names each, and nothing ran.
        let c = several(&p, which, &["127.0.0.2", "127.0.0.3"], &known, &fast);
        let e = c.get::<Value>("version").unwrap_err();
        let text = e.to_string();
        assert!(!e.may_have_been_sent(), "{which}: {text}");
        assert!(
            text.contains("127.0.0.2") && text.contains("127.0.0.3"),
            "{which}: {text}"
        );

        // A command that started is never run on another host, whatever it printed.
        let _ = std::fs::remove_file(&count);
        let c = several(&p, which, &["127.0.0.1", "localhost"], &known, &lies);
        let e = c
            .post::<Value, _>(("nodes", "pve1", "qemu"), &[("vmid", "900")])
            .unwrap_err();
        let runs = std::fs::read_to_string(&count).unwrap_or_default();
        assert_eq!(runs.lines().count(), 1, "{which}: ran once: {e}");
        // The working second host is there: a plain call after the lie still works on it.
        let c = several(&p, which, &["127.0.0.2", "localhost"], &known, &fast);
        let _: Value = c
            .get("version")
            .unwrap_or_else(|e| panic!("{which}: localhost: {e}"));
    }
}
