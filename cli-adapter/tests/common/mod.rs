//! Shared test helpers: peers (fakepve behind sshd's pvesh shim), clients for the three
//! transports, small fake API shells, and the catalogue driver.
#![allow(dead_code, unreachable_pub)]

use proxmox_cli::proto::Call;
use proxmox_cli::proto::task::WaitOptions;
use proxmox_cli::proto::upload::UploadContent;
use proxmox_cli::{Client, Error, UploadChecksum};
use proxmox_testbed::catalogue::SurfaceOp;
use proxmox_testbed::{
    ApiErrorShape, Driver, DriverError, FakePve, PveshTarget, Sshd, require_peer,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// fakepve, and sshd whose `pvesh` forwards to it (with uploads through `--tmpfilename`).
pub struct Peers {
    pub pve: FakePve,
    pub sshd: Sshd,
}

/// sshd whose `pvesh` forwards to `target`, with the upload wrapper in front of the shim.
pub fn shim(target: &PveshTarget) -> Option<Sshd> {
    let sshd = require_peer("sshd", Sshd::start(target))?;
    let bin = sshd.bin_dir();
    std::fs::rename(bin.join("pvesh"), bin.join("pvesh-shim")).unwrap();
    let wrapper =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/pvesh-upload-wrapper.py");
    std::fs::copy(wrapper, bin.join("pvesh")).unwrap();
    chmod(&bin.join("pvesh"), 0o755);
    Some(sshd)
}

/// A local-transport client whose `pvesh` is `sshd`'s shim.
pub fn local_client(sshd: &Sshd) -> Client {
    let mut b = Client::local()
        .program(sshd.bin_dir().join("pvesh").display().to_string())
        // The remote side's PATH (the system python3, not a pyenv shim).
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", sshd.bin_dir().display()),
        )
        .timeout(Duration::from_secs(60));
    for (k, v) in sshd.pvesh_env() {
        b = b.env(k, v);
    }
    b.build().unwrap()
}

impl Peers {
    pub fn start() -> Option<Self> {
        let pve = require_peer("fakepve", FakePve::start())?;
        let sshd = shim(&PveshTarget::fakepve(&pve))?;
        Some(Self { pve, sshd })
    }

    pub fn local(&self) -> Client {
        local_client(&self.sshd)
    }

    pub fn openssh(&self, control_master: bool) -> Client {
        Client::openssh(self.sshd.host())
            .port(self.sshd.port())
            .user(self.sshd.user())
            .identity_file(self.sshd.identity_file())
            .known_hosts_file(self.sshd.known_hosts_file())
            .control_master(control_master)
            .build()
            .unwrap()
    }

    pub fn ssh2(&self) -> Client {
        Client::ssh2(self.sshd.host())
            .port(self.sshd.port())
            .user(self.sshd.user())
            .key_file(self.sshd.identity_file())
            .known_hosts_file(self.sshd.known_hosts_file())
            .build()
            .unwrap()
    }

    /// All three transports.
    pub fn all(&self) -> Vec<Client> {
        vec![self.local(), self.openssh(true), self.ssh2()]
    }

    /// How many SSH connections have logged in so far (one login per TCP connection; the
    /// launcher's readiness probe connects without logging in).
    pub fn connections(&self) -> usize {
        self.sshd.log().matches("Accepted publickey for ").count()
    }
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A scratch directory for this test process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("proxmox-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write an executable `/bin/sh` script.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    chmod(&p, 0o755);
    p
}

/// Runs the testbed catalogue through a [`Client`].
///
/// The API shell has no API login: it runs as the node's user (root). Token logins and the
/// full user's password login therefore map to that identity; other identities (a wrong
/// password, the limited user) are reported as unsupported, so those scenarios are skipped,
/// never passed.
pub struct CliDriver {
    pub client: Client,
    pub root_user: String,
    pub root_password: String,
    pub dir: PathBuf,
}

pub fn driver_error(e: Error) -> DriverError {
    match e.api() {
        Some(api) => DriverError::Api(ApiErrorShape::from(api)),
        None => DriverError::Transport(e.to_string()),
    }
}

impl Driver for CliDriver {
    fn surface(&mut self, node: &str, op: &SurfaceOp) -> Result<Value, DriverError> {
        proxmox_testbed::surface_calls!(
            client: &self.client, node: node, op: op, scratch: &self.dir,
            err: driver_error,
            raw: |r| proxmox_testbed::surface::shell_data(r.exit_code, &r.stdout),
            watch: |then, id| proxmox_testbed::surface::first_change(
                self.client.watch_resources(proxmox_testbed::surface::WATCH_INTERVAL),
                || self.client.post::<serde_json::Value, _>(then, &()).map(drop),
                id,
            ),
            run: |f| f,
        )
    }

    fn login_token(&mut self, _token_id: &str, _secret: &str) -> Result<(), DriverError> {
        Ok(())
    }

    fn login_password(&mut self, user: &str, password: &str) -> Result<(), DriverError> {
        // The shell wire has no API login: the capability table refuses it, and calls run as
        // the node's user.
        match self.client.login() {
            Err(Error::Unsupported(_)) => {}
            other => {
                return Err(DriverError::Transport(format!(
                    "login over pvesh must be refused as unsupported, got {other:?}"
                )));
            }
        }
        if user == self.root_user && password == self.root_password {
            Ok(())
        } else {
            Err(DriverError::Unsupported(
                "API identities other than the node's own user (pvesh has no API login)".into(),
            ))
        }
    }

    fn call(&mut self, call: &Call) -> Result<Value, DriverError> {
        self.client.call::<Value>(call).map_err(driver_error)
    }

    fn upload(
        &mut self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        data: &[u8],
    ) -> Result<Value, DriverError> {
        let local = self.dir.join(filename);
        std::fs::write(&local, data).map_err(|e| DriverError::Transport(e.to_string()))?;
        let content: UploadContent = content
            .parse()
            .map_err(|_| DriverError::Unsupported(format!("content {content}")))?;
        let upid = self
            .client
            .upload_as(
                node,
                storage,
                content,
                &local,
                filename,
                UploadChecksum::None,
                &mut |_, _| {},
            )
            .map_err(driver_error)?;
        Ok(Value::String(upid.to_string()))
    }

    fn wait_task(
        &mut self,
        node: &str,
        upid: &str,
        timeout: Duration,
    ) -> Result<Value, DriverError> {
        let parsed = upid
            .parse()
            .map_err(|e| DriverError::Transport(format!("{e}")))?;
        let options = WaitOptions::new()
            .with_intervals(Duration::from_millis(20), Duration::from_millis(500))
            .with_timeout(timeout);
        // The outcome is read from the final status below, as the catalogue compares it.
        let _outcome = self
            .client
            .wait_task(&parsed, options, |_| {})
            .map_err(driver_error)?;
        let call = Call::get(("nodes", node, "tasks", upid, "status"))
            .map_err(|e| DriverError::Transport(e.to_string()))?;
        self.call(&call)
    }
}

/// Whether the process `pid` ended (or is a zombie), waiting up to 10 s for it.
pub fn gone(pid: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s) if s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')) => return true,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    false
}
