//! The OpenSSH transport: the system `ssh` binary, one process per call, with one TCP
//! connection reused through a ControlMaster whose socket lives in a private directory.

use crate::process::{self, Stdin};
use crate::remote::remote_line;
use crate::{Client, Common, Error, Limits, PrivateDir, RawOutput, Transport, common_setters};
use proxmox_proto::command::CommandLine;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const NAME: &str = "openssh";

/// What to do with a host key that is not in the known-hosts file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HostKeyPolicy {
    /// Refuse unknown and changed keys (`StrictHostKeyChecking=yes`). The default.
    #[default]
    Strict,
    /// Add an unknown key to the known-hosts file and go on; still refuse a changed key
    /// (`StrictHostKeyChecking=accept-new`). Trust on first use: only when the first
    /// connection's network path is trusted.
    AcceptNew,
}

/// Builds a [`Client`] that runs the API shell through the system `ssh` binary.
///
/// `ssh` always runs with `BatchMode=yes` (never a prompt), strict host key checking unless
/// [`HostKeyPolicy::AcceptNew`] is chosen, no agent forwarding unless asked, and (by default)
/// a ControlMaster connection that later calls reuse, kept for
/// [`OpenSshBuilder::control_persist`] after the last use.
#[derive(Debug, Clone)]
#[must_use]
pub struct OpenSshBuilder {
    common: Common,
    host: String,
    port: Option<u16>,
    user: Option<String>,
    identity_file: Option<PathBuf>,
    config_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
    policy: HostKeyPolicy,
    forward_agent: bool,
    control_master: bool,
    control_persist: Duration,
    connect_timeout: Duration,
    ssh_program: PathBuf,
    options: Vec<String>,
    kill_remote: bool,
    more_hosts: Vec<String>,
}

impl OpenSshBuilder {
    pub(crate) fn new(host: &str) -> Self {
        Self {
            common: Common::default(),
            host: host.to_owned(),
            port: None,
            user: None,
            identity_file: None,
            config_file: None,
            known_hosts_file: None,
            policy: HostKeyPolicy::Strict,
            forward_agent: false,
            control_master: true,
            control_persist: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            ssh_program: PathBuf::from("ssh"),
            options: Vec::new(),
            kill_remote: true,
            more_hosts: Vec::new(),
        }
    }

    common_setters!();

    /// The SSH port (default: ssh's own default or the config file's).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The login user (default: ssh's own default or the config file's).
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    /// A private key file to log in with (`-i`, with `IdentitiesOnly=yes`).
    pub fn identity_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.identity_file = Some(path.into());
        self
    }

    /// An ssh config file (`-F`) instead of `~/.ssh/config`.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// The known-hosts file to check the host key against (`UserKnownHostsFile`).
    pub fn known_hosts_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts_file = Some(path.into());
        self
    }

    /// What to do with an unknown host key (default: refuse).
    pub fn host_key_policy(mut self, policy: HostKeyPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Forward the local SSH agent to the node (`ForwardAgent=yes`). Off by default: whoever
    /// is root on the node can use a forwarded agent.
    pub fn forward_agent(mut self, on: bool) -> Self {
        self.forward_agent = on;
        self
    }

    /// Reuse one connection through a ControlMaster (default on). Off: a new connection,
    /// key exchange and login for every call.
    pub fn control_master(mut self, on: bool) -> Self {
        self.control_master = on;
        self
    }

    /// How long the ControlMaster connection stays up after the last call (default 60 s).
    pub fn control_persist(mut self, t: Duration) -> Self {
        self.control_persist = t;
        self
    }

    /// The TCP connect timeout (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// The `ssh` program (default `ssh` from `PATH`).
    pub fn ssh_program(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssh_program = path.into();
        self
    }

    /// An extra `-o` option, e.g. `ProxyJump=bastion` or `Ciphers=aes128-gcm@openssh.com`.
    pub fn option(mut self, option: &str) -> Self {
        self.options.push(option.to_owned());
        self
    }

    /// Run the remote command under the watchdog that kills it when this client gives up
    /// (default on). Off: the remote command line is exactly the core's
    /// [`CommandLine::to_shell`], and a command that outlives its time limit keeps running on
    /// the node.
    pub fn kill_remote_on_timeout(mut self, on: bool) -> Self {
        self.kill_remote = on;
        self
    }

    /// More hosts of the same cluster, after the first: a command goes on at the next only
    /// when it never started (the ControlMaster connection to the host failed), or the
    /// host's key was refused; one that started is never run twice (ssh's exit code 255
    /// cannot tell ssh's failure from the command's, so it never decides). Needs the
    /// ControlMaster (on by default); each host gets its own.
    pub fn endpoints<S: AsRef<str>>(mut self, hosts: impl IntoIterator<Item = S>) -> Self {
        self.more_hosts
            .extend(hosts.into_iter().map(|h| h.as_ref().to_owned()));
        self
    }

    /// Check the settings and build the client (connects on the first call).
    pub fn build(self) -> Result<Client, Error> {
        for host in std::iter::once(&self.host).chain(&self.more_hosts) {
            if host.is_empty()
                || host.starts_with('-')
                || host.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(Error::Config(format!("{host:?} is not a usable SSH host")));
            }
        }
        if !self.more_hosts.is_empty() && !self.control_master {
            return Err(Error::Config(
                "failing over to other hosts needs the ControlMaster (control_master(true)): \
                 without it a failed connection and a command that exited with 255 look alike"
                    .into(),
            ));
        }
        for o in &self.options {
            if !o.contains('=') || o.starts_with('-') || o.contains(['\n', '\0']) {
                return Err(Error::Config(format!(
                    "ssh option {o:?} must look like Key=Value"
                )));
            }
        }
        let transport = |host: &str| -> Result<Box<dyn crate::Transport>, Error> {
            let dir = if self.control_master {
                Some(PrivateDir::new("proxmox-cli-ssh")?)
            } else {
                None
            };
            Ok(Box::new(OpenSsh {
                args: self.base_args(),
                host: host.to_owned(),
                program: self.ssh_program.clone(),
                persist: self.control_persist,
                connect_timeout: self.connect_timeout,
                kill_remote: self.kill_remote,
                master: Mutex::new(()),
                dir,
            }))
        };
        let common = self.common.clone();
        if self.more_hosts.is_empty() {
            return Client::from_parts(common, &self.host, transport(&self.host)?);
        }
        let hosts = std::iter::once(&self.host)
            .chain(&self.more_hosts)
            .map(|h| Ok((h.clone(), transport(h)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let t = crate::failover::Failover::new(hosts)?;
        Client::from_parts(common, &self.host, Box::new(t))
    }

    fn base_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut o = |s: String| {
            a.push("-o".into());
            a.push(s.into());
        };
        o("BatchMode=yes".into());
        o(format!(
            "StrictHostKeyChecking={}",
            match self.policy {
                HostKeyPolicy::Strict => "yes",
                HostKeyPolicy::AcceptNew => "accept-new",
            }
        ));
        o(format!(
            "ConnectTimeout={}",
            self.connect_timeout.as_secs().max(1)
        ));
        o(format!(
            "ForwardAgent={}",
            if self.forward_agent { "yes" } else { "no" }
        ));
        o("LogLevel=ERROR".into());
        for extra in &self.options {
            o(extra.clone());
        }
        if let Some(k) = &self.known_hosts_file {
            a.push("-o".into());
            let mut s = OsString::from("UserKnownHostsFile=");
            s.push(quote_path(k));
            a.push(s);
        }
        if let Some(f) = &self.config_file {
            a.push("-F".into());
            a.push(f.clone().into_os_string());
        }
        if let Some(p) = self.port {
            a.push("-p".into());
            a.push(p.to_string().into());
        }
        if let Some(u) = &self.user {
            a.push("-l".into());
            a.push(u.into());
        }
        if let Some(i) = &self.identity_file {
            a.push("-i".into());
            a.push(i.clone().into_os_string());
            a.push("-o".into());
            a.push("IdentitiesOnly=yes".into());
        }
        a.push("-T".into());
        a
    }
}

/// ssh reads option values like its config file: a path with spaces needs double quotes.
fn quote_path(p: &Path) -> OsString {
    let s = p.as_os_str();
    if s.to_string_lossy().contains(' ') {
        let mut q = OsString::from("\"");
        q.push(s);
        q.push("\"");
        q
    } else {
        s.to_owned()
    }
}

struct OpenSsh {
    args: Vec<OsString>,
    host: String,
    program: PathBuf,
    persist: Duration,
    connect_timeout: Duration,
    kill_remote: bool,
    /// Held while the master is checked or started.
    master: Mutex<()>,
    /// The private directory with the control socket (ControlMaster on).
    dir: Option<PrivateDir>,
}

impl OpenSsh {
    fn socket(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("cm"))
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        c
    }

    fn control_args(&self, c: &mut Command) {
        c.arg("-o").arg("ControlMaster=no").arg("-o");
        match self.socket() {
            Some(s) => {
                let mut v = OsString::from("ControlPath=");
                v.push(s.as_os_str());
                c.arg(v);
            }
            None => {
                c.arg("ControlPath=none");
            }
        }
    }

    /// Start the ControlMaster if its socket is not there.
    fn ensure_master(&self) -> Result<(), Error> {
        let (Some(sock), Some(dir)) = (self.socket(), self.dir.as_ref()) else {
            return Ok(());
        };
        let _one = self.master.lock().unwrap_or_else(|p| p.into_inner());
        if sock.exists() {
            return Ok(());
        }
        let log = dir.path().join("master.log");
        let log_file = std::fs::File::create(&log)?;
        let mut c = self.command();
        let mut path = OsString::from("ControlPath=");
        path.push(sock.as_os_str());
        c.arg("-o")
            .arg("ControlMaster=yes")
            .arg("-o")
            .arg(path)
            .arg("-o")
            .arg(format!("ControlPersist={}s", self.persist.as_secs().max(1)))
            .arg("-N")
            .arg("-f")
            .arg("--")
            .arg(&self.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        let mut child = c.spawn().map_err(|e| {
            crate::transport_error(
                NAME,
                format!("cannot run {}: {e}", self.program.display()),
                false,
            )
        })?;
        // `-f`: ssh goes to the background once logged in; the foreground process exits.
        let deadline = Instant::now() + self.connect_timeout + Duration::from_secs(20);
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(crate::not_started(
                        NAME,
                        format!(
                            "the ControlMaster connection to {} did not come up in time",
                            self.host
                        ),
                    ));
                }
                Err(e) => return Err(crate::transport_error(NAME, e.to_string(), false)),
            }
        };
        let said = std::fs::read(&log).unwrap_or_default();
        if !status.success() {
            // `ssh -N` runs no remote command: whatever failed, nothing started on the host.
            return Err(match classify_failure(&self.host, &said) {
                Some(e @ Error::HostKey { .. }) => e,
                _ => crate::not_started(
                    NAME,
                    format!(
                        "the ControlMaster connection to {} failed: {}",
                        self.host,
                        describe(&said, &status)
                    ),
                ),
            });
        }
        Ok(())
    }
}

fn describe(stderr: &[u8], status: &std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        format!("ssh failed ({status})")
    } else {
        format!("ssh failed ({status}): {text}")
    }
}

/// ssh's own failures (exit code 255 without an API status line): host key problems, and
/// failures before the command was sent.
fn classify_failure(host: &str, stderr: &[u8]) -> Option<Error> {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.contains("Host key verification failed")
        || text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || text.contains("host key is known")
        || text.contains("No matching host key")
    {
        return Some(Error::HostKey {
            host: host.to_owned(),
            message: text.replace("\r\n", "\n"),
        });
    }
    const NOT_SENT: [&str; 9] = [
        "Connection refused",
        "Could not resolve hostname",
        "Permission denied (",
        "Connection timed out",
        "No route to host",
        "Network is unreachable",
        "Connection closed by",
        "kex_exchange_identification",
        "Too many authentication failures",
    ];
    if NOT_SENT.iter().any(|s| text.contains(s)) {
        return Some(crate::transport_error(
            NAME,
            format!("ssh could not log in: {text}"),
            false,
        ));
    }
    None
}

impl Transport for OpenSsh {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(
        &self,
        cmd: &CommandLine,
        input: Option<&mut dyn Read>,
        limits: Limits,
    ) -> Result<RawOutput, Error> {
        self.ensure_master()?;
        let killable = self.kill_remote && input.is_none();
        let mut c = self.command();
        self.control_args(&mut c);
        c.arg("--").arg(&self.host).arg(remote_line(cmd, killable));
        let stdin = match input {
            Some(r) => Stdin::Feed(r),
            None if killable => Stdin::HoldOpen,
            None => Stdin::Null,
        };
        let out = process::run(NAME, c, stdin, limits)?;
        if out.exit_code == Some(255) && !proxmox_proto::command::has_status_line(&out.stderr) {
            let e = classify_failure(&self.host, &out.stderr).unwrap_or_else(|| {
                crate::transport_error(
                    NAME,
                    format!(
                        "ssh or the remote command failed with exit code 255: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                    true,
                )
            });
            return Err(e);
        }
        Ok(out)
    }
}

impl Drop for OpenSsh {
    fn drop(&mut self) {
        let Some(sock) = self.socket() else { return };
        if !sock.exists() {
            return;
        }
        let mut c = self.command();
        let mut path = OsString::from("ControlPath=");
        path.push(sock.as_os_str());
        let _ = c
            .arg("-o")
            .arg(path)
            .arg("-O")
            .arg("exit")
            .arg("--")
            .arg(&self.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_and_ssh_failures() {
        assert!(proxmox_proto::command::has_status_line(
            b"warn\n400 Parameter verification failed.\n"
        ));
        assert!(!proxmox_proto::command::has_status_line(
            b"ssh: connect to host x port 22: Connection refused\n"
        ));
        let e = classify_failure("h", b"No ED25519 host key is known for h and you have requested strict checking.\r\nHost key verification failed.\r\n").unwrap();
        assert!(matches!(e, Error::HostKey { .. }), "{e}");
        let e =
            classify_failure("h", b"ssh: connect to host h port 22: Connection refused").unwrap();
        assert!(!e.may_have_been_sent());
        assert!(classify_failure("h", b"something else").is_none());
    }

    #[test]
    fn options_are_checked_and_strict_is_the_default() {
        let b = OpenSshBuilder::new("pve1").port(2222).user("root");
        let args: Vec<String> = b
            .base_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("BatchMode=yes"), "{joined}");
        assert!(joined.contains("StrictHostKeyChecking=yes"), "{joined}");
        assert!(joined.contains("ForwardAgent=no"), "{joined}");
        assert!(joined.contains("-p 2222 -l root"), "{joined}");
        let accept = OpenSshBuilder::new("pve1")
            .host_key_policy(HostKeyPolicy::AcceptNew)
            .forward_agent(true)
            .base_args();
        let joined: Vec<String> = accept
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(joined.contains(&"StrictHostKeyChecking=accept-new".to_owned()));
        assert!(joined.contains(&"ForwardAgent=yes".to_owned()));
        assert!(OpenSshBuilder::new("-oProxyCommand=x").build().is_err());
        assert!(OpenSshBuilder::new("h").option("-x").build().is_err());
        assert!(
            OpenSshBuilder::new("h")
                .service(proxmox_proto::Service::Pbs)
                .control_master(false)
                .build()
                .is_err()
        );
    }
}
