//! Per-call latency of `get /version`, 100 calls per transport, against one sshd and one
//! fakepve (the test bed's), in one run:
//!
//! * `shim_*`: the test bed's Python `pvesh` shim, which forwards to fakepve over HTTPS (what
//!   a caller sees end to end; the shim's own start dominates);
//! * `fast_*`: a `/bin/sh` stand-in that prints a constant answer (the transport's own cost);
//! * proxmoxer 2.3.0's `openssh` and `ssh_paramiko` backends on the same sshd and shim,
//!   measured by a Python script with the test bed's venv, printed before divan's table.
//!
//! All SSH rows go through a second sshd started from the test bed's configuration with
//! `SHLVL=1` added (see [`light_sshd`]), so that root's `~/.bashrc` is not part of every call.
//!
//! Run: `cargo bench -p proxmox-cli --bench latency`. No peers (no venv, no sshd): the
//! benchmark says so and exits.

use proxmox_cli::Client;
use proxmox_testbed::{FakePve, PveshTarget, Sshd, ensure_setup};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Peers {
    // Not `Sync` by themselves; held to keep fakepve and the second sshd running.
    _pve: Mutex<FakePve>,
    sshd: Sshd,
    light: Mutex<Option<Child>>,
    port: u16,
    known_hosts: PathBuf,
    ssh_config: PathBuf,
    fast: PathBuf,
}

/// The test bed's sshd runs commands through the login user's shell, and Debian's bash reads
/// `~/.bashrc` for commands run by sshd; on a machine whose `~/.bashrc` is slow (`pyenv init`
/// takes about 0.2 s here) that cost lands in every SSH call, ours and proxmoxer's alike. The
/// benchmark therefore runs a second sshd from the same configuration with `SHLVL=1` added to
/// its `SetEnv` (bash then skips `~/.bashrc`), on its own port.
fn light_sshd(sshd: &Sshd) -> (Child, u16, PathBuf, PathBuf) {
    let dir = sshd
        .known_hosts_file()
        .parent()
        .expect("the sshd run directory")
        .to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let old = sshd.port().to_string();
    let config = std::fs::read_to_string(dir.join("sshd_config")).expect("sshd_config");
    let config: String = config
        .lines()
        .map(|l| {
            if l.starts_with("Port ") {
                format!("Port {port}")
            } else if l.starts_with("PidFile ") {
                format!("PidFile {}", dir.join("sshd-light.pid").display())
            } else if l.starts_with("SetEnv ") {
                format!("{l} \"SHLVL=1\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("sshd_config.light"), config + "\n").expect("write the config");
    for name in ["known_hosts", "ssh_config"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("read");
        let text = text
            .replace(&old, &port.to_string())
            .replace("/known_hosts\n", "/known_hosts.light\n");
        std::fs::write(dir.join(format!("{name}.light")), text).expect("write");
    }
    let log = dir.join("sshd-light.log");
    let child = Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(dir.join("sshd_config.light"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("start sshd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("Server listening")
    {
        assert!(Instant::now() < deadline, "the second sshd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (
        child,
        port,
        dir.join("known_hosts.light"),
        dir.join("ssh_config.light"),
    )
}

fn peers() -> &'static Peers {
    static P: OnceLock<Peers> = OnceLock::new();
    P.get_or_init(|| {
        let pve = FakePve::start().unwrap_or_else(|e| panic!("fakepve: {e}"));
        let sshd = Sshd::start(&PveshTarget::fakepve(&pve)).unwrap_or_else(|e| panic!("sshd: {e}"));
        let fast = sshd.bin_dir().join("fast-pvesh");
        std::fs::write(
            &fast,
            "#!/bin/sh\nprintf '{\"version\":\"9.0.10\",\"release\":\"9.0\",\"repoid\":\"bench\"}\\n'\n",
        )
        .expect("write the fast stand-in");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fast, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the fast stand-in");
        let (child, port, known_hosts, ssh_config) = light_sshd(&sshd);
        Peers {
            _pve: Mutex::new(pve),
            sshd,
            light: Mutex::new(Some(child)),
            port,
            known_hosts,
            ssh_config,
            fast,
        }
    })
}

fn program(fast: bool) -> String {
    let p = peers();
    if fast {
        p.fast.display().to_string()
    } else {
        p.sshd.bin_dir().join("pvesh").display().to_string()
    }
}

/// The same `PATH` as the remote side's (the test bed's `SetEnv`), so that `python3` is the
/// system's and not, say, a pyenv shim first on this process's `PATH`.
fn remote_path() -> String {
    format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        peers().sshd.bin_dir().display()
    )
}

fn local(fast: bool) -> Client {
    let mut b = Client::local()
        .program(program(fast))
        .env("PATH", remote_path());
    for (k, v) in peers().sshd.pvesh_env() {
        b = b.env(k, v);
    }
    b.build().expect("local client")
}

fn openssh(fast: bool, control_master: bool) -> Client {
    let p = peers();
    let s = &p.sshd;
    Client::openssh(s.host())
        .port(p.port)
        .user(s.user())
        .identity_file(s.identity_file())
        .known_hosts_file(&p.known_hosts)
        .control_master(control_master)
        .program(program(fast))
        .build()
        .expect("openssh client")
}

fn ssh2(fast: bool) -> Client {
    let p = peers();
    let s = &p.sshd;
    Client::ssh2(s.host())
        .port(p.port)
        .user(s.user())
        .key_file(s.identity_file())
        .known_hosts_file(&p.known_hosts)
        .program(program(fast))
        .build()
        .expect("ssh2 client")
}

fn bench_client(b: divan::Bencher, c: Client) {
    // One warm-up call: connects (ssh2) or starts the ControlMaster.
    let _: Value = c.get("version").expect("warm-up call");
    b.bench_local(|| {
        let v: Value = c.get("version").expect("get /version");
        v
    });
}

macro_rules! transport_benches {
    ($fast:literal, $local:ident, $cm:ident, $nocm:ident, $ssh2:ident) => {
        #[divan::bench(sample_count = 100, sample_size = 1)]
        fn $local(b: divan::Bencher) {
            bench_client(b, local($fast));
        }

        #[divan::bench(sample_count = 100, sample_size = 1)]
        fn $cm(b: divan::Bencher) {
            bench_client(b, openssh($fast, true));
        }

        #[divan::bench(sample_count = 100, sample_size = 1)]
        fn $nocm(b: divan::Bencher) {
            bench_client(b, openssh($fast, false));
        }

        #[divan::bench(sample_count = 100, sample_size = 1)]
        fn $ssh2(b: divan::Bencher) {
            bench_client(b, ssh2($fast));
        }
    };
}

transport_benches!(
    false,
    shim_local,
    shim_openssh_controlmaster,
    shim_openssh_no_controlmaster,
    shim_ssh2_one_session
);
transport_benches!(
    true,
    fast_local,
    fast_openssh_controlmaster,
    fast_openssh_no_controlmaster,
    fast_ssh2_one_session
);

const PROXMOXER: &str = r#"
import statistics, sys, time
from proxmoxer import ProxmoxAPI
host, port, user, key, config = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def run(name, px):
    px.version.get()  # warm-up (paramiko connects here)
    t = []
    for _ in range(100):
        s = time.perf_counter(); v = px.version.get(); t.append(time.perf_counter() - s)
        assert v["version"] == "9.0.10", v
    t.sort()
    print("proxmoxer %-13s median %7.2f ms   mean %7.2f ms   fastest %7.2f ms   slowest %7.2f ms   (100 calls)" % (
        name, statistics.median(t) * 1e3, statistics.mean(t) * 1e3, t[0] * 1e3, t[-1] * 1e3), flush=True)
run("openssh", ProxmoxAPI(host, backend="openssh", user=user, port=port, identity_file=key, config_file=config))
run("ssh_paramiko", ProxmoxAPI(host, backend="ssh_paramiko", user=user, port=port, private_key_file=key))
"#;

fn proxmoxer() {
    let Ok(setup) = ensure_setup(true) else {
        println!("proxmoxer: the test bed's venv is missing (tests/peers/setup.sh)");
        return;
    };
    let p = peers();
    let s = &p.sshd;
    let out = Command::new(setup.python())
        .arg("-c")
        .arg(PROXMOXER)
        .arg(s.host())
        .arg(p.port.to_string())
        .arg(s.user())
        .arg(s.identity_file())
        .arg(&p.ssh_config)
        .output()
        .expect("run the proxmoxer script");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        println!(
            "proxmoxer script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn main() {
    if ensure_setup(true).is_err() {
        println!("latency bench: no test peers (run tests/peers/setup.sh); nothing measured");
        return;
    }
    proxmoxer();
    divan::main();
    let light = peers().light.lock().ok().and_then(|mut c| c.take());
    if let Some(mut child) = light {
        let _ = child.kill();
        let _ = child.wait();
    }
}
