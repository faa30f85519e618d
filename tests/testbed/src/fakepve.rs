//! The fakepve launcher.

use crate::catalogue::{Fault, Feature, PeerControl, PeerKind, PeerProfile};
use crate::peer::{PeerError, ensure_setup, repo_root, run_dir, tail};
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

const PEER: &str = "fakepve";
const READY: &str = "fakepve listening on ";

/// How to start fakepve. [`FakePveOptions::default`] suits deterministic tests.
#[derive(Debug, Clone, PartialEq)]
pub struct FakePveOptions {
    /// Real seconds per PVE second; 0 (default) ends every task before its POST returns.
    pub time_scale: f64,
    /// Every password login answers `NeedTFA` (fakepve has no second step: any TFA answer
    /// then fails with 401).
    pub tfa: bool,
    /// How long to wait for the `listening` line.
    pub start_timeout: Duration,
}

impl Default for FakePveOptions {
    fn default() -> Self {
        Self {
            time_scale: 0.0,
            tfa: false,
            start_timeout: Duration::from_secs(30),
        }
    }
}

/// A running fakepve 0.5.0 on `127.0.0.1` and a free port, killed on drop.
///
/// Guests: VM 100 `web1` (running, guest agent configured and answering), VM 101 `slowvm`
/// (stopped, agent configured; 5 s start, 8 s shutdown at time scale 1), CT 200 `ct1` (running); node `pve1`; storages `local` (iso, vztmpl, backup) and
/// `local-lvm`. Accounts: `root@pam` / `secret`, the API token `root@pam!ci`, and
/// `alice@pve` / `alicepw` holding `VM.Audit` on `/vms/100` only.
pub struct FakePve {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    dir: PathBuf,
    base_url: String,
    port: u16,
    ca_file: PathBuf,
    ca_pem: String,
    stderr_log: PathBuf,
}

impl fmt::Debug for FakePve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakePve")
            .field("pid", &self.child.id())
            .field("base_url", &self.base_url)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl FakePve {
    /// `root@pam`.
    pub const ROOT_USER: &'static str = "root@pam";
    /// Password of `root@pam`.
    pub const ROOT_PASSWORD: &'static str = "secret";
    /// The API token id registered at start.
    pub const TOKEN_ID: &'static str = "root@pam!ci";
    /// The secret of [`FakePve::TOKEN_ID`].
    pub const TOKEN_SECRET: &'static str = "11111111-2222-3333-4444-555555555555";
    /// A user with `VM.Audit` on `/vms/100` only.
    pub const LIMITED_USER: &'static str = "alice@pve";
    /// Password of [`FakePve::LIMITED_USER`].
    pub const LIMITED_PASSWORD: &'static str = "alicepw";
    /// The node name.
    pub const NODE: &'static str = "pve1";

    /// Start with [`FakePveOptions::default`] (runs `tests/peers/setup.sh` first if needed).
    pub fn start() -> Result<Self, PeerError> {
        Self::start_with(&FakePveOptions::default())
    }

    /// Start with these options.
    pub fn start_with(options: &FakePveOptions) -> Result<Self, PeerError> {
        let setup = ensure_setup(false)?;
        let python = setup.python();
        if !python.exists() {
            return Err(PeerError::new(
                PEER,
                format!("the venv interpreter {} is missing", python.display()),
            ));
        }
        let script = repo_root()
            .join("tests")
            .join("peers")
            .join("launch_fakepve.py");
        if !script.exists() {
            return Err(PeerError::new(
                PEER,
                format!("the launch script {} is missing", script.display()),
            ));
        }
        let dir = run_dir(PEER)?;
        let stderr_log = dir.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_log).map_err(|e| {
            PeerError::new(PEER, format!("cannot create {}: {e}", stderr_log.display()))
        })?;
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .arg("--dir")
            .arg(&dir)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .arg("--time-scale")
            .arg(options.time_scale.to_string())
            .arg("--root-password")
            .arg(Self::ROOT_PASSWORD)
            .arg("--token")
            .arg(format!("{}={}", Self::TOKEN_ID, Self::TOKEN_SECRET))
            .arg("--user")
            .arg(format!("{}={}", Self::LIMITED_USER, Self::LIMITED_PASSWORD))
            .arg("--grant")
            .arg(format!("{}:/vms/100:VM.Audit", Self::LIMITED_USER))
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        if options.tfa {
            cmd.arg("--tfa");
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| PeerError::new(PEER, format!("cannot run {}: {e}", python.display())))?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PeerError::new(
                PEER,
                "no stdout pipe from the launch script",
            ));
        };
        let (tx, lines) = channel();
        std::thread::Builder::new()
            .name("fakepve-stdout".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| PeerError::new(PEER, format!("cannot spawn a reader thread: {e}")))?;
        let mut pve = FakePve {
            child,
            stdin,
            lines,
            dir,
            base_url: String::new(),
            port: 0,
            ca_file: PathBuf::new(),
            ca_pem: String::new(),
            stderr_log,
        };
        // Dropping `pve` on any error below kills the process.
        let line = loop {
            match pve.lines.recv_timeout(options.start_timeout) {
                Ok(line) if line.starts_with(READY) => break line,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(pve.error(format!(
                        "no '{READY}...' line within {:?}",
                        options.start_timeout
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(pve.error("the launch script exited before listening"));
                }
            }
        };
        let rest = &line[READY.len()..];
        let (url, cert) = match rest.split_once(" cert=") {
            Some((url, cert)) => (url.trim(), PathBuf::from(cert.trim())),
            None => return Err(pve.error(format!("cannot parse the listening line '{line}'"))),
        };
        let port = url
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .ok_or_else(|| pve.error(format!("no port in '{url}'")))?;
        let ca_pem = std::fs::read_to_string(&cert).map_err(|e| {
            pve.error(format!(
                "cannot read the certificate {}: {e}",
                cert.display()
            ))
        })?;
        pve.base_url = url.to_owned();
        pve.port = port;
        pve.ca_file = cert;
        pve.ca_pem = ca_pem;
        Ok(pve)
    }

    fn error(&self, what: impl Into<String>) -> PeerError {
        PeerError::new(PEER, what).with_detail(tail(&self.stderr_log, 4000))
    }

    /// `https://127.0.0.1:PORT`, without a path.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// [`FakePve::base_url`] + `/api2/json`.
    pub fn api_url(&self) -> String {
        format!("{}/api2/json", self.base_url)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The certificate (PEM) to trust: `CA:FALSE`, SAN `localhost` and `127.0.0.1`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The certificate file.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The full `Authorization` header value of the registered token.
    pub fn token_header(&self) -> String {
        format!("PVEAPIToken={}={}", Self::TOKEN_ID, Self::TOKEN_SECRET)
    }

    /// The process id (for diagnostics).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The accounts and test objects, for [`crate::run_catalogue`].
    pub fn profile(&self) -> PeerProfile {
        PeerProfile {
            kind: PeerKind::FakePve,
            node: Self::NODE.to_owned(),
            user: Self::ROOT_USER.to_owned(),
            password: Self::ROOT_PASSWORD.to_owned(),
            token_id: Self::TOKEN_ID.to_owned(),
            token_secret: Self::TOKEN_SECRET.to_owned(),
            limited_user: Some((
                Self::LIMITED_USER.to_owned(),
                Self::LIMITED_PASSWORD.to_owned(),
            )),
            tfa: None,
            features: vec![
                Feature::LimitedUser,
                Feature::FaultInjection,
                Feature::Upload,
                Feature::DownloadUrl,
            ],
            // fakepve serves the API only.
            mirror: None,
        }
    }

    /// Send one control command (a JSON object) to the launch script; returns the text after
    /// `ok`.
    fn control(&mut self, command: &serde_json::Value) -> Result<String, PeerError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(PeerError::new(PEER, "the control channel is closed"));
        };
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|e| self.error(format!("cannot write a control command: {e}")))?;
        match self.lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line == "ok" => Ok(String::new()),
            Ok(line) => match line.strip_prefix("ok ") {
                Some(rest) => Ok(rest.to_owned()),
                None => Err(PeerError::new(
                    PEER,
                    format!("control command {command} failed: {line}"),
                )),
            },
            Err(_) => Err(self.error(format!("no answer to control command {command}"))),
        }
    }

    /// Answer the next `times` requests whose path ends with `suffix` (after authentication)
    /// with `status` and `message` (fakepve's `pve.fail`).
    pub fn fail(
        &mut self,
        method: &str,
        suffix: &str,
        status: u16,
        message: &str,
        times: u32,
    ) -> Result<(), PeerError> {
        self.control(&serde_json::json!({
            "op": "fail", "method": method, "suffix": suffix,
            "status": status, "message": message, "times": times,
        }))
        .map(drop)
    }

    /// Take a node offline (its paths answer `595 No route to host`) or back online.
    pub fn set_node_offline(&mut self, node: &str, offline: bool) -> Result<(), PeerError> {
        self.control(&serde_json::json!({"op": "node_offline", "node": node, "offline": offline}))
            .map(drop)
    }

    /// Forget every login ticket.
    pub fn revoke_tickets(&mut self) -> Result<(), PeerError> {
        self.control(&serde_json::json!({"op": "revoke_tickets"}))
            .map(drop)
    }

    /// The requests seen so far as `(method, path)`, oldest first.
    pub fn requests(&mut self) -> Result<Vec<(String, String)>, PeerError> {
        let text = self.control(&serde_json::json!({"op": "requests"}))?;
        serde_json::from_str(&text)
            .map_err(|e| PeerError::new(PEER, format!("bad request list: {e}")))
    }
}

impl PeerControl for FakePve {
    fn profile(&self) -> PeerProfile {
        FakePve::profile(self)
    }

    fn inject(&mut self, fault: &Fault) -> Result<(), String> {
        self.fail(
            fault.method.as_http().as_str(),
            &fault.path,
            fault.status,
            &fault.message,
            fault.times,
        )
        .map_err(|e| e.to_string())
    }
}

impl Drop for FakePve {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
