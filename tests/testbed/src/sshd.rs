//! The OpenSSH `sshd` launcher with a `pvesh` shim.

use crate::fakepve::FakePve;
use crate::peer::{PeerError, ensure_setup, repo_root, run_dir, tail};
use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PEER: &str = "sshd";
const SSHD: &str = "/usr/sbin/sshd";
/// `sh -c WRAPPER /usr/sbin/sshd CONFIG`: run sshd in the foreground, kill it on stdin EOF.
/// (A background job's stdin is /dev/null in a non-interactive sh, hence fd 3.)
const WRAPPER: &str = r#"exec 3<&0
"$0" -D -e -f "$1" </dev/null &
pid=$!
( cat <&3 >/dev/null; kill "$pid" 2>/dev/null ) &
exec 3<&-
wait "$pid"
"#;

/// Where the `pvesh` shim forwards calls: an HTTPS API and its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct PveshTarget {
    /// `https://host:port` of the API (fakepve or the simulator).
    pub base_url: String,
    /// The full `Authorization` header value, e.g. `PVEAPIToken=root@pam!ci=SECRET`.
    pub authorization: String,
    /// The PEM certificate to verify the server with; `None` skips verification.
    pub ca_pem: Option<String>,
}

impl fmt::Debug for PveshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PveshTarget")
            .field("base_url", &self.base_url)
            .field("authorization", &"<redacted>")
            .field("verified", &self.ca_pem.is_some())
            .finish()
    }
}

impl PveshTarget {
    /// Forward to a running fakepve with its API token, verifying its certificate.
    pub fn fakepve(pve: &FakePve) -> Self {
        Self {
            base_url: pve.base_url().to_owned(),
            authorization: pve.token_header(),
            ca_pem: Some(pve.ca_pem().to_owned()),
        }
    }

    /// Forward to a running PVE simulator with its API token, verifying its certificate.
    #[cfg(feature = "sim")]
    pub fn simulator(sim: &proxmox_sim::Simulator) -> Self {
        Self {
            base_url: sim.base_url(),
            authorization: sim.token_header().unwrap_or_default(),
            ca_pem: Some(sim.ca_pem().to_owned()),
        }
    }
}

/// A running `sshd` on `127.0.0.1` and a free port, as the current user, killed on drop.
///
/// Key-only login for [`Sshd::user`] with [`Sshd::identity_file`]; the server's host key is
/// pinned in [`Sshd::known_hosts_file`]. Remote commands see a `PATH` that starts with
/// [`Sshd::bin_dir`], which holds the `pvesh` shim (`tests/peers/pvesh-shim`) configured to
/// forward to the [`PveshTarget`], so SSH-driven calls change the same state as HTTPS calls.
/// The same `bin` directory can be put first on a local `PATH` for a local `pvesh` backend
/// (then set the `PVESH_*` variables from [`Sshd::pvesh_env`]).
pub struct Sshd {
    child: Child,
    dir: PathBuf,
    port: u16,
    user: String,
    target: PveshTarget,
}

impl fmt::Debug for Sshd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sshd")
            .field("pid", &self.child.id())
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<String, PeerError> {
    let out = cmd
        .output()
        .map_err(|e| PeerError::new(PEER, format!("cannot run {what}: {e}")))?;
    if !out.status.success() {
        return Err(
            PeerError::new(PEER, format!("{what} failed ({})", out.status))
                .with_detail(String::from_utf8_lossy(&out.stderr).into_owned()),
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn write(path: &Path, text: &str) -> Result<(), PeerError> {
    std::fs::write(path, text)
        .map_err(|e| PeerError::new(PEER, format!("cannot write {}: {e}", path.display())))
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) -> Result<(), PeerError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| PeerError::new(PEER, format!("cannot chmod {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn chmod(_path: &Path, _mode: u32) -> Result<(), PeerError> {
    Ok(())
}

/// Quote a value for sshd_config (double quotes; sshd does not expand variables).
fn quoted(value: &str) -> Result<String, PeerError> {
    if value.contains('"') || value.contains('\n') {
        return Err(PeerError::new(
            PEER,
            format!("cannot put {value:?} into sshd_config"),
        ));
    }
    Ok(format!("\"{value}\""))
}

impl Sshd {
    /// Start `sshd` with a `pvesh` shim forwarding to `target` (runs `tests/peers/setup.sh` first,
    /// which installs `openssh-server` if `/usr/sbin/sshd` is missing).
    pub fn start(target: &PveshTarget) -> Result<Self, PeerError> {
        ensure_setup(true)?;
        if !Path::new(SSHD).exists() {
            return Err(PeerError::new(
                PEER,
                "/usr/sbin/sshd is missing (apt-get install openssh-server)",
            ));
        }
        let shim = repo_root().join("tests").join("peers").join("pvesh-shim");
        if !shim.exists() {
            return Err(PeerError::new(
                PEER,
                format!("the pvesh shim {} is missing", shim.display()),
            ));
        }
        if !Path::new("/run/sshd").is_dir() && std::fs::create_dir_all("/run/sshd").is_err() {
            return Err(PeerError::new(
                PEER,
                "sshd needs its privilege separation directory /run/sshd (mkdir -p /run/sshd as root)",
            ));
        }
        let user = run(Command::new("id").arg("-un"), "id -un")?;
        let dir = run_dir(PEER)?;
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin)
            .map_err(|e| PeerError::new(PEER, format!("cannot create {}: {e}", bin.display())))?;
        let pvesh = bin.join("pvesh");
        std::fs::copy(&shim, &pvesh)
            .map_err(|e| PeerError::new(PEER, format!("cannot copy the pvesh shim: {e}")))?;
        chmod(&pvesh, 0o755)?;
        for key in ["hostkey", "client_key"] {
            run(
                Command::new("ssh-keygen")
                    .args([
                        "-q",
                        "-t",
                        "ed25519",
                        "-N",
                        "",
                        "-C",
                        "proxmox-testbed",
                        "-f",
                    ])
                    .arg(dir.join(key)),
                "ssh-keygen (from openssh-client)",
            )?;
            chmod(&dir.join(key), 0o600)?;
        }
        let client_pub = std::fs::read_to_string(dir.join("client_key.pub"))
            .map_err(|e| PeerError::new(PEER, format!("cannot read client_key.pub: {e}")))?;
        write(&dir.join("authorized_keys"), &client_pub)?;
        chmod(&dir.join("authorized_keys"), 0o600)?;
        let host_pub = std::fs::read_to_string(dir.join("hostkey.pub"))
            .map_err(|e| PeerError::new(PEER, format!("cannot read hostkey.pub: {e}")))?;
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();

        // One start at a time in this process, so two launchers never pick the same free port.
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = STARTING.lock().unwrap_or_else(|p| p.into_inner());
        let mut last = None;
        for _attempt in 0..3 {
            let port = free_port()?;
            Self::write_configs(&dir, port, &user, target, &host_pub)?;
            match Self::spawn(&dir, port) {
                Ok(child) => {
                    return Ok(Sshd {
                        child,
                        dir,
                        port,
                        user,
                        target: target.clone(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last.unwrap_or_else(|| PeerError::new(PEER, "sshd did not start")))
    }

    fn write_configs(
        dir: &Path,
        port: u16,
        user: &str,
        target: &PveshTarget,
        host_pub: &[&str],
    ) -> Result<(), PeerError> {
        let d = dir.display();
        let path = format!("{d}/bin:/usr/local/bin:/usr/bin:/bin");
        let ca = match &target.ca_pem {
            Some(pem) => {
                let file = dir.join("ca.pem");
                write(&file, pem)?;
                file.display().to_string()
            }
            None => String::new(),
        };
        let env = [
            ("PATH", path.as_str()),
            ("PVESH_URL", target.base_url.as_str()),
            ("PVESH_AUTHORIZATION", target.authorization.as_str()),
            ("PVESH_CAFILE", ca.as_str()),
            ("PVESH_LOG", &format!("{d}/pvesh-calls.log")),
            // bash skips ~/.bashrc for commands when SHLVL is set: a login shell's rc file
            // (pyenv init and the like) would otherwise cost every SSH call 0.2-0.4 s.
            ("SHLVL", "1"),
        ];
        let mut setenv = String::from("SetEnv");
        for (k, v) in env {
            setenv.push(' ');
            setenv.push_str(&quoted(&format!("{k}={v}"))?);
        }
        let sshd_config = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {d}/hostkey\n\
             PidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             AllowUsers {user}\n\
             PermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             {setenv}\n\
             Subsystem sftp /usr/lib/openssh/sftp-server\n\
             LogLevel VERBOSE\n"
        );
        write(&dir.join("sshd_config"), &sshd_config)?;
        let (kind, key) = match host_pub {
            [kind, key] => (*kind, *key),
            _ => return Err(PeerError::new(PEER, "hostkey.pub is malformed")),
        };
        write(
            &dir.join("known_hosts"),
            &format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )?;
        let ssh_config = format!(
            "Host testbed 127.0.0.1\n\
             \x20 HostName 127.0.0.1\n\
             \x20 Port {port}\n\
             \x20 User {user}\n\
             \x20 IdentityFile {d}/client_key\n\
             \x20 IdentitiesOnly yes\n\
             \x20 StrictHostKeyChecking yes\n\
             \x20 UserKnownHostsFile {d}/known_hosts\n\
             \x20 BatchMode yes\n"
        );
        write(&dir.join("ssh_config"), &ssh_config)
    }

    fn spawn(dir: &Path, port: u16) -> Result<Child, PeerError> {
        let config = dir.join("sshd_config");
        run(
            Command::new(SSHD).arg("-t").arg("-f").arg(&config),
            "sshd -t (config test)",
        )?;
        let log = dir.join("sshd.log");
        let stderr = std::fs::File::create(&log)
            .map_err(|e| PeerError::new(PEER, format!("cannot create {}: {e}", log.display())))?;
        // sshd runs under a small sh wrapper that kills it when our end of the wrapper's stdin
        // closes, so even a test process killed with SIGKILL leaves no sshd behind.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg(SSHD)
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| PeerError::new(PEER, format!("cannot run {SSHD}: {e}")))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(
                    PeerError::new(PEER, format!("sshd exited at start ({status})"))
                        .with_detail(tail(&log, 4000)),
                );
            }
            // Ready when our sshd says so: a TCP probe alone could reach another process that
            // took the same port (ours then fails to bind and exits).
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            if said.contains(&format!("Server listening on 127.0.0.1 port {port}"))
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(child);
            }
            if Instant::now() > deadline {
                stop(&mut child);
                let _ = child.wait();
                return Err(
                    PeerError::new(PEER, "sshd did not open its port within 10 s")
                        .with_detail(tail(&log, 4000)),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login user (the current user).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The private key (ed25519, no passphrase) that may log in.
    pub fn identity_file(&self) -> PathBuf {
        self.dir.join("client_key")
    }

    /// A known_hosts file that pins the server's host key for `[127.0.0.1]:PORT`.
    pub fn known_hosts_file(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// An `ssh -F` config with a `testbed` host (and `127.0.0.1`): port, user, identity, strict
    /// host key checking against [`Sshd::known_hosts_file`], batch mode.
    pub fn ssh_config_file(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// The directory with the `pvesh` shim, first on the remote `PATH`.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// The `PVESH_*` variables the shim needs, for running it locally (as sshd sets them).
    pub fn pvesh_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PVESH_URL".to_owned(), self.target.base_url.clone()),
            (
                "PVESH_AUTHORIZATION".to_owned(),
                self.target.authorization.clone(),
            ),
            (
                "PVESH_LOG".to_owned(),
                self.dir.join("pvesh-calls.log").display().to_string(),
            ),
        ];
        if self.target.ca_pem.is_some() {
            env.push((
                "PVESH_CAFILE".to_owned(),
                self.dir.join("ca.pem").display().to_string(),
            ));
        }
        env
    }

    /// The argv of every `pvesh` call so far, oldest first.
    pub fn pvesh_calls(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.dir.join("pvesh-calls.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// An `ssh` command for `remote` through this server (uses [`Sshd::ssh_config_file`]).
    pub fn ssh_command(&self, remote: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(self.ssh_config_file())
            .arg("testbed")
            .arg(remote);
        cmd
    }

    /// sshd's log so far (stderr with `LogLevel VERBOSE`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

fn free_port() -> Result<u16, PeerError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| PeerError::new(PEER, format!("cannot find a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| PeerError::new(PEER, format!("cannot find a free port: {e}")))
}

/// Close the wrapper's stdin (it then kills sshd and exits); kill it after 5 s.
fn stop(child: &mut Child) {
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Sshd {
    fn drop(&mut self) {
        stop(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
