//! The libssh2 transport: one SSH session for many calls, a channel per call.

use crate::remote::remote_line;
use crate::{Client, Common, Error, Limits, RawOutput, Transport, common_setters};
use proxmox_proto::command::CommandLine;
use ssh2::{CheckResult, HashType, HostKeyType, KnownHostFileKind, Session};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const NAME: &str = "ssh2";

/// How the ssh2 transport logs in.
#[derive(Clone)]
#[non_exhaustive]
pub enum Ssh2Auth {
    /// A password.
    Password(String),
    /// A private key file, with its passphrase if it has one.
    KeyFile {
        /// The private key (OpenSSH or PEM format).
        path: PathBuf,
        /// Its passphrase.
        passphrase: Option<String>,
    },
    /// The keys of the running SSH agent (`SSH_AUTH_SOCK`).
    Agent,
}

impl fmt::Debug for Ssh2Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::KeyFile { path, passphrase } => f
                .debug_struct("KeyFile")
                .field("path", path)
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .finish(),
            Self::Agent => f.write_str("Agent"),
        }
    }
}

/// How the server's host key is checked. There is no "accept anything".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ssh2HostKey {
    /// The key must be listed for the host (and port) in this OpenSSH known_hosts file.
    KnownHosts(PathBuf),
    /// The key's SHA-256 fingerprint must be this one, as `ssh-keygen -l` prints it
    /// (`SHA256:` and unpadded base64).
    Fingerprint(String),
    /// Like `KnownHosts`, but a host that is not in the file yet is trusted and appended to it
    /// (trust on first use). A changed key is still refused.
    TrustOnFirstUse(PathBuf),
}

/// Builds a [`Client`] over one libssh2 session.
#[derive(Debug, Clone)]
#[must_use]
pub struct Ssh2Builder {
    common: Common,
    host: String,
    port: u16,
    user: Option<String>,
    auth: Option<Ssh2Auth>,
    host_key: Option<Ssh2HostKey>,
    connect_timeout: Duration,
    kill_remote: bool,
    more_hosts: Vec<String>,
}

impl Ssh2Builder {
    pub(crate) fn new(host: &str) -> Self {
        Self {
            common: Common::default(),
            host: host.to_owned(),
            port: 22,
            user: None,
            auth: None,
            host_key: None,
            connect_timeout: Duration::from_secs(10),
            kill_remote: true,
            more_hosts: Vec::new(),
        }
    }

    common_setters!();

    /// The SSH port (default 22).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The login user (required).
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    /// How to log in (required).
    pub fn auth(mut self, auth: Ssh2Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Log in with a password.
    pub fn password(self, password: impl Into<String>) -> Self {
        self.auth(Ssh2Auth::Password(password.into()))
    }

    /// Log in with a private key file without a passphrase.
    pub fn key_file(self, path: impl Into<PathBuf>) -> Self {
        self.auth(Ssh2Auth::KeyFile {
            path: path.into(),
            passphrase: None,
        })
    }

    /// Log in with the SSH agent's keys.
    pub fn agent(self) -> Self {
        self.auth(Ssh2Auth::Agent)
    }

    /// How to check the host key (default: `~/.ssh/known_hosts`, strictly).
    pub fn host_key(mut self, check: Ssh2HostKey) -> Self {
        self.host_key = Some(check);
        self
    }

    /// Check the host key against this known_hosts file.
    pub fn known_hosts_file(self, path: impl Into<PathBuf>) -> Self {
        self.host_key(Ssh2HostKey::KnownHosts(path.into()))
    }

    /// Accept only the host key with this SHA-256 fingerprint (`SHA256:...`).
    pub fn host_key_fingerprint(self, fingerprint: &str) -> Self {
        self.host_key(Ssh2HostKey::Fingerprint(fingerprint.to_owned()))
    }

    /// The TCP connect, key exchange and login timeout (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Run the remote command under the watchdog that kills it when this client gives up
    /// (default on). Off: the remote command line is exactly the core's
    /// [`CommandLine::to_shell`].
    pub fn kill_remote_on_timeout(mut self, on: bool) -> Self {
        self.kill_remote = on;
        self
    }

    /// More hosts of the same cluster, after the first: a command goes on at the next only
    /// when it never started (the connection, the login or the exec request failed), or the
    /// host's key was refused; one that started is never run twice. Each host is checked
    /// against the known_hosts file and has its own session.
    pub fn endpoints<S: AsRef<str>>(mut self, hosts: impl IntoIterator<Item = S>) -> Self {
        self.more_hosts
            .extend(hosts.into_iter().map(|h| h.as_ref().to_owned()));
        self
    }

    /// Check the settings and build the client (connects on the first call).
    pub fn build(self) -> Result<Client, Error> {
        let user = self
            .user
            .clone()
            .ok_or_else(|| Error::Config("ssh2 needs a user".into()))?;
        let auth = self
            .auth
            .clone()
            .ok_or_else(|| Error::Config("ssh2 needs password(), key_file() or agent()".into()))?;
        let host_key = match self.host_key.clone() {
            Some(Ssh2HostKey::Fingerprint(fp)) => {
                let b64 = fp.strip_prefix("SHA256:").unwrap_or(&fp);
                if b64.len() != 43 || !b64.bytes().all(is_b64) {
                    return Err(Error::Config(
                        "a host key fingerprint looks like SHA256: and 43 base64 characters".into(),
                    ));
                }
                Ssh2HostKey::Fingerprint(b64.to_owned())
            }
            Some(other) => other,
            None => {
                let home = std::env::var_os("HOME").ok_or_else(|| {
                    Error::Config("no host key check given and HOME is not set".into())
                })?;
                Ssh2HostKey::KnownHosts(PathBuf::from(home).join(".ssh").join("known_hosts"))
            }
        };
        if self.host.is_empty() || self.more_hosts.iter().any(String::is_empty) {
            return Err(Error::Config("empty SSH host".into()));
        }
        if !self.more_hosts.is_empty() && matches!(host_key, Ssh2HostKey::Fingerprint(_)) {
            return Err(Error::Config(
                "a host key fingerprint fits one host: give several hosts' keys in a \
                 known_hosts file (known_hosts_file) instead"
                    .into(),
            ));
        }
        let transport = |host: &str| -> Box<dyn crate::Transport> {
            Box::new(Ssh2 {
                host: host.to_owned(),
                port: self.port,
                user: user.clone(),
                auth: auth.clone(),
                host_key: host_key.clone(),
                connect_timeout: self.connect_timeout,
                kill_remote: self.kill_remote,
                conn: Mutex::new(None),
            })
        };
        if self.more_hosts.is_empty() {
            return Client::from_parts(self.common.clone(), &self.host, transport(&self.host));
        }
        let hosts = std::iter::once(&self.host)
            .chain(&self.more_hosts)
            .map(|h| (h.clone(), transport(h)))
            .collect();
        let t = crate::failover::Failover::new(hosts)?;
        Client::from_parts(self.common.clone(), &self.host, Box::new(t))
    }
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Unpadded standard base64 (fingerprints and known_hosts lines).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let idx = ((n >> (18 - 6 * i)) & 63) as usize;
            out.push(char::from(A[idx]));
        }
    }
    out
}

fn padded(mut s: String) -> String {
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

fn key_type_name(t: HostKeyType) -> Option<&'static str> {
    Some(match t {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        _ => return None,
    })
}

struct Conn {
    sess: Session,
}

struct Ssh2 {
    host: String,
    port: u16,
    user: String,
    auth: Ssh2Auth,
    host_key: Ssh2HostKey,
    connect_timeout: Duration,
    kill_remote: bool,
    conn: Mutex<Option<Conn>>,
}

/// Every failure before the channel's exec request was accepted: the command never started.
fn not_sent(message: impl Into<String>) -> Error {
    crate::not_started(NAME, message)
}

impl Ssh2 {
    fn host_entry(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }

    fn connect(&self) -> Result<Conn, Error> {
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| not_sent(format!("cannot resolve {}: {e}", self.host)))?;
        let mut last = None;
        let mut sock = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.connect_timeout) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let sock = sock.ok_or_else(|| {
            not_sent(format!(
                "cannot connect to {}: {}",
                self.host_entry(),
                last.map_or_else(|| "no address".to_owned(), |e| e.to_string())
            ))
        })?;
        let _ = sock.set_nodelay(true);
        let mut sess = Session::new().map_err(|e| not_sent(e.to_string()))?;
        sess.set_tcp_stream(sock);
        sess.set_timeout(ms(self.connect_timeout));
        sess.handshake().map_err(|e| {
            not_sent(format!(
                "SSH handshake with {} failed: {e}",
                self.host_entry()
            ))
        })?;
        self.check_host_key(&sess)?;
        let auth = match &self.auth {
            Ssh2Auth::Password(pw) => sess.userauth_password(&self.user, pw),
            Ssh2Auth::KeyFile { path, passphrase } => {
                sess.userauth_pubkey_file(&self.user, None, path, passphrase.as_deref())
            }
            Ssh2Auth::Agent => sess.userauth_agent(&self.user),
        };
        if let Err(e) = auth {
            return Err(not_sent(format!(
                "login as {} on {} failed: {}",
                self.user,
                self.host_entry(),
                e.message()
            )));
        }
        if !sess.authenticated() {
            return Err(not_sent(format!("login as {} was refused", self.user)));
        }
        Ok(Conn { sess })
    }

    fn check_host_key(&self, sess: &Session) -> Result<(), Error> {
        let host = self.host_entry();
        let refuse = |message: String| Error::HostKey {
            host: host.clone(),
            message,
        };
        let (key, kind) = sess
            .host_key()
            .ok_or_else(|| refuse("the server sent no host key".into()))?;
        let sha = sess
            .host_key_hash(HashType::Sha256)
            .map(base64)
            .unwrap_or_default();
        let (file, tofu) = match &self.host_key {
            Ssh2HostKey::Fingerprint(want) => {
                return if !sha.is_empty() && sha == *want {
                    Ok(())
                } else {
                    Err(refuse(format!(
                        "the host key SHA256:{sha} is not the expected SHA256:{want}"
                    )))
                };
            }
            Ssh2HostKey::KnownHosts(f) => (f, false),
            Ssh2HostKey::TrustOnFirstUse(f) => (f, true),
        };
        let mut kh = sess
            .known_hosts()
            .map_err(|e| refuse(format!("cannot read known hosts: {e}")))?;
        if file.exists() {
            kh.read_file(file, KnownHostFileKind::OpenSSH)
                .map_err(|e| refuse(format!("cannot read {}: {}", file.display(), e.message())))?;
        }
        match kh.check_port(&self.host, self.port, key) {
            CheckResult::Match => Ok(()),
            CheckResult::Mismatch => Err(refuse(format!(
                "the host key SHA256:{sha} does NOT match the one in {} (changed key, or someone in between)",
                file.display()
            ))),
            CheckResult::NotFound if tofu => {
                let name =
                    key_type_name(kind).ok_or_else(|| refuse("unknown host key type".into()))?;
                let line = format!("{host} {name} {}\n", padded(base64(key)));
                let mut o = std::fs::OpenOptions::new();
                o.append(true).create(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    o.mode(0o600);
                }
                o.open(file)
                    .and_then(|mut f| f.write_all(line.as_bytes()))
                    .map_err(|e| {
                        refuse(format!(
                            "cannot record the new host key in {}: {e}",
                            file.display()
                        ))
                    })?;
                Ok(())
            }
            CheckResult::NotFound => Err(refuse(format!(
                "the host is not in {} (host key SHA256:{sha}); add it, or choose trust on first use explicitly",
                file.display()
            ))),
            CheckResult::Failure => Err(refuse("the known hosts check failed".into())),
        }
    }

    /// Open a channel and start the command, reconnecting once if the session is gone.
    fn start(&self, slot: &mut Option<Conn>, line: &str) -> Result<ssh2::Channel, Error> {
        for attempt in 0..2 {
            let fresh = slot.is_none();
            if fresh {
                *slot = Some(self.connect()?);
            }
            let Some(conn) = slot.as_ref() else {
                continue;
            };
            conn.sess.set_blocking(true);
            conn.sess.set_timeout(ms(self.connect_timeout));
            let started = conn
                .sess
                .channel_session()
                .and_then(|mut ch| ch.exec(line).map(|()| ch));
            match started {
                Ok(ch) => return Ok(ch),
                Err(e) => {
                    *slot = None;
                    if fresh || attempt == 1 {
                        return Err(not_sent(format!("cannot start the command: {e}")));
                    }
                }
            }
        }
        Err(not_sent("cannot start the command"))
    }
}

/// How long closing a channel may take (our EOF and CLOSE, the server's CLOSE) before the
/// session is given up.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How long freeing a channel whose close failed may wait for the server, in milliseconds.
const FREE_WAIT_MS: u32 = 200;

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// Waits between polls of a non-blocking channel: short at first, longer when idle.
struct Backoff {
    wait: Duration,
    idle_since: Instant,
}

impl Backoff {
    fn new() -> Self {
        Self {
            wait: Duration::from_micros(20),
            idle_since: Instant::now(),
        }
    }

    fn progressed(&mut self) {
        self.wait = Duration::from_micros(20);
        self.idle_since = Instant::now();
    }

    fn idle(&mut self) {
        std::thread::sleep(self.wait);
        let cap = if self.idle_since.elapsed() > Duration::from_millis(200) {
            Duration::from_millis(5)
        } else {
            Duration::from_micros(500)
        };
        self.wait = (self.wait * 2).min(cap);
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn ssh_would_block(e: &ssh2::Error) -> bool {
    matches!(e.code(), ssh2::ErrorCode::Session(-37))
}

/// Repeat a non-blocking channel operation until it stops asking to be retried.
fn retry(
    deadline: Instant,
    mut op: impl FnMut() -> Result<(), ssh2::Error>,
) -> Result<(), ssh2::Error> {
    let mut b = Backoff::new();
    loop {
        match op() {
            Err(e) if ssh_would_block(&e) && Instant::now() < deadline => b.idle(),
            other => return other,
        }
    }
}

impl Transport for Ssh2 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(
        &self,
        cmd: &CommandLine,
        mut input: Option<&mut dyn Read>,
        limits: Limits,
    ) -> Result<RawOutput, Error> {
        let killable = self.kill_remote && input.is_none();
        let line = remote_line(cmd, killable);
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        let mut ch = self.start(&mut slot, &line)?;
        let Some(conn) = slot.as_ref() else {
            return Err(crate::transport_error(NAME, "the session is gone", true));
        };
        let sess = &conn.sess;
        sess.set_blocking(false);
        let deadline = limits.timeout.map(|t| started + t);
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let (mut out_eof, mut err_eof) = (false, false);
        let mut pending: Vec<u8> = Vec::new();
        let mut pos = 0;
        let mut input_done = input.is_none();
        let mut buf = vec![0u8; 64 * 1024];
        let mut backoff = Backoff::new();
        // The most kept of each stream: one byte past the limit proves it was exceeded.
        let keep = usize::try_from(limits.output.saturating_add(1)).unwrap_or(usize::MAX);
        let failure: Option<Error> = loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Some(crate::timed_out(NAME, started.elapsed()));
            }
            let mut progressed = false;
            if !input_done && let Some(r) = input.as_deref_mut() {
                if pos == pending.len() {
                    pending.resize(32 * 1024, 0);
                    match r.read(&mut pending) {
                        Ok(0) => {
                            pending.clear();
                            pos = 0;
                            match ch.send_eof() {
                                Ok(()) => input_done = true,
                                Err(e) if ssh_would_block(&e) => {}
                                Err(e) => {
                                    break Some(crate::transport_error(NAME, e.to_string(), true));
                                }
                            }
                        }
                        Ok(n) => {
                            pending.truncate(n);
                            pos = 0;
                        }
                        Err(e) => break Some(Error::Io(e)),
                    }
                }
                if pos < pending.len() {
                    match ch.write(&pending[pos..]) {
                        Ok(n) => {
                            pos += n;
                            progressed |= n > 0;
                        }
                        Err(e) if would_block(&e) => {}
                        Err(e) => {
                            break Some(crate::transport_error(
                                NAME,
                                format!("sending the command's input failed: {e}"),
                                true,
                            ));
                        }
                    }
                }
            }
            let mut read_err = None;
            let mut too_large = false;
            for (stream, eof, sink) in [
                (0, &mut out_eof, &mut stdout),
                (1, &mut err_eof, &mut stderr),
            ] {
                if *eof {
                    continue;
                }
                let got = if stream == 0 {
                    ch.read(&mut buf)
                } else {
                    ch.stderr().read(&mut buf)
                };
                match got {
                    Ok(0) if ch.eof() => *eof = true,
                    Ok(0) => {}
                    Ok(n) => {
                        // The same bound as the other transports: never keep more than the
                        // limit (and the byte that proves it was passed); closing the channel
                        // below ends the command.
                        let room = keep.saturating_sub(sink.len());
                        sink.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
                        progressed = true;
                        too_large |= sink.len() as u64 > limits.output;
                    }
                    Err(e) if would_block(&e) => {}
                    Err(e) => read_err = Some(e),
                }
            }
            if let Some(e) = read_err {
                break Some(crate::transport_error(
                    NAME,
                    format!("reading the command's output failed: {e}"),
                    true,
                ));
            }
            if too_large {
                break Some(limits.too_large());
            }
            if out_eof && err_eof {
                break None;
            }
            if progressed {
                backoff.progressed();
            } else {
                backoff.idle();
            }
        };
        // Closing: our EOF tells the watchdog to kill a command that is still running; our
        // CLOSE makes sshd close the command's pipes (a command that keeps printing gets
        // EPIPE) and answer with its own CLOSE. Until then, what the command still sends is
        // bounded by the channel window and dropped with the channel: nothing more is read.
        // libssh2's non-blocking close may return before the server's CLOSE arrived (and
        // `wait_close` refuses to wait before the server's EOF), so `wait_eof` waits for that
        // first: the server's CLOSE counts as its EOF.
        let grace = Instant::now() + CLOSE_GRACE;
        let closed = retry(grace, || ch.send_eof())
            .and_then(|()| retry(grace, || ch.close()))
            .and_then(|()| retry(grace, || ch.wait_eof()))
            .and_then(|()| retry(grace, || ch.wait_close()));
        if let Err(close_error) = closed {
            // Freeing the channel (and the session) waits for the server's CLOSE again: keep
            // that short, then start a fresh session on the next call.
            sess.set_timeout(FREE_WAIT_MS);
            sess.set_blocking(true);
            drop(ch);
            *slot = None;
            return Err(failure.unwrap_or_else(|| {
                crate::transport_error(
                    NAME,
                    format!("closing the channel failed: {close_error}"),
                    true,
                )
            }));
        }
        sess.set_blocking(true);
        if let Some(e) = failure {
            // A timeout or an output bound ends the command but leaves the session in step
            // (the channel closed cleanly): keep it for the next call. Anything else may have
            // left it out of step: start a fresh one.
            let clean = e.is_timeout()
                || matches!(
                    &e,
                    Error::Proto(proxmox_proto::Error::Protocol(
                        proxmox_proto::ProtocolError::BodyTooLarge { .. }
                    ))
                );
            if !clean {
                *slot = None;
            }
            return Err(e);
        }
        let signal = ch.exit_signal().ok().and_then(|s| s.exit_signal);
        let exit_code = match signal {
            Some(_) => None,
            None => ch.exit_status().ok(),
        };
        Ok(RawOutput {
            stdout,
            stderr,
            exit_code,
        })
    }
}

impl Drop for Ssh2 {
    fn drop(&mut self) {
        let slot = self.conn.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(conn) = slot.take() {
            conn.sess.set_timeout(1000);
            let _ = conn
                .sess
                .disconnect(Some(ssh2::DisconnectCode::ByApplication), "bye", None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg");
        assert_eq!(base64(b"fo"), "Zm8");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(padded(base64(b"foob")), "Zm9vYg==");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8");
    }

    #[test]
    fn builder_needs_user_auth_and_a_sane_fingerprint() {
        assert!(Ssh2Builder::new("h").key_file("/k").build().is_err());
        assert!(Ssh2Builder::new("h").user("root").build().is_err());
        let e = Ssh2Builder::new("h")
            .user("root")
            .agent()
            .host_key_fingerprint("SHA256:short")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("fingerprint"), "{e}");
        let ok = Ssh2Builder::new("h")
            .user("root")
            .password("hunter2")
            .host_key_fingerprint("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU")
            .build()
            .unwrap();
        assert_eq!(ok.transport_name(), "ssh2");
        let d = format!("{:?}", Ssh2Auth::Password("hunter2".into()));
        assert!(!d.contains("hunter2"));
    }
}
