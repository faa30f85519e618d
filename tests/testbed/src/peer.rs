//! Locating and installing the peers, and the skip-or-fail rule for missing ones.

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

/// A peer could not be started: names what is missing and how to get it.
#[derive(Debug, Clone)]
pub struct PeerError {
    /// The peer (`fakepve`, `sshd`, ...).
    pub peer: String,
    /// What is missing or what went wrong, in one line.
    pub missing: String,
    /// Output of the failed step (stderr tail), possibly empty.
    pub detail: String,
}

impl PeerError {
    pub(crate) fn new(peer: &str, missing: impl Into<String>) -> Self {
        Self {
            peer: peer.to_owned(),
            missing: missing.into(),
            detail: String::new(),
        }
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} unavailable: {}", self.peer, self.missing)?;
        if !self.detail.trim().is_empty() {
            write!(f, "\n--- output ---\n{}", self.detail.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for PeerError {}

/// Whether the run is a CI run (`CI` is `true` or `1`): missing peers then fail instead of
/// skipping.
pub fn is_ci() -> bool {
    std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false)
}

/// The outcome of a launcher, for a test that needs the peer.
///
/// On success returns the peer. On failure: under `CI=true` it panics with the launcher's
/// message (a skipped peer test must never look like a pass in CI); otherwise it writes a loud
/// `SKIPPED` line straight to the process's stderr (not captured by the test harness) and
/// returns `None`, so the test can return early:
///
/// ```no_run
/// use proxmox_testbed::{FakePve, require_peer};
/// let Some(pve) = require_peer("fakepve", FakePve::start()) else { return };
/// println!("{}", pve.base_url());
/// ```
pub fn require_peer<T>(name: &str, started: Result<T, PeerError>) -> Option<T> {
    require_peer_in(is_ci(), name, started)
}

fn require_peer_in<T>(ci: bool, name: &str, started: Result<T, PeerError>) -> Option<T> {
    match started {
        Ok(peer) => Some(peer),
        Err(e) => {
            assert!(
                !ci,
                "peer {name} is required (CI=true) but unavailable: {e}"
            );
            let thread = std::thread::current();
            let test = thread.name().unwrap_or("?");
            // Written to the real stderr so the harness's output capture cannot hide it.
            let _ = writeln!(
                std::io::stderr(),
                "\n******** SKIPPED {test}: {e}\n******** (run tests/peers/setup.sh; under CI=true this is a failure)\n"
            );
            None
        }
    }
}

/// The repository root (the workspace that contains `tests/peers`).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("..").join("..");
    root.canonicalize().unwrap_or(root)
}

/// Where the venv and the per-run directories of the launchers live:
/// `$PROXMOX_TESTBED_DIR`, else `$CARGO_TARGET_DIR/peers`, else `<repo>/target/peers`.
pub fn peers_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROXMOX_TESTBED_DIR") {
        return PathBuf::from(dir);
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Some(t) => repo_root().join(t),
        None => repo_root().join("target"),
    };
    target.join("peers")
}

/// A fresh directory for one launcher run, under [`peers_dir`]`/run/`.
pub(crate) fn run_dir(peer: &str) -> Result<PathBuf, PeerError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        remove_stale_run_dirs();
    }
    let dir = peers_dir()
        .join("run")
        .join(format!("{peer}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| {
        PeerError::new(
            peer,
            format!("cannot create the directory {}: {e}", dir.display()),
        )
    })?;
    Ok(dir)
}

/// Remove run directories left by test processes that were killed (`PEER-PID-N` with no
/// process PID any more; Linux only, elsewhere nothing is removed).
fn remove_stale_run_dirs() {
    let proc_fs = Path::new("/proc/self");
    if !proc_fs.exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(peers_dir().join("run")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // PEER-PID-N: the second field from the end.
        let pid = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new("/proc").join(pid.to_string()).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The last `max` bytes of a text file (for error messages).
pub(crate) fn tail(path: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

/// The installed peers, as `tests/peers/setup.sh` reports them.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The Python venv with fakepve, proxmoxer and friends.
    pub venv: PathBuf,
}

impl Setup {
    /// The venv's Python interpreter.
    pub fn python(&self) -> PathBuf {
        self.venv.join("bin").join("python")
    }
}

/// Runs `tests/peers/setup.sh` once per process (and per `ssh` flag): creates the venv with the
/// pinned peers and, with `ssh`, installs `openssh-server`. A no-op taking milliseconds once
/// installed. With `PROXMOX_TESTBED_NO_INSTALL=1` nothing is installed: only checks.
pub fn ensure_setup(ssh: bool) -> Result<Setup, PeerError> {
    static DONE: Mutex<Option<HashMap<bool, Result<Setup, PeerError>>>> = Mutex::new(None);
    let mut guard = DONE.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(done) = map.get(&ssh) {
        return done.clone();
    }
    let outcome = run_setup(ssh);
    map.insert(ssh, outcome.clone());
    outcome
}

fn run_setup(ssh: bool) -> Result<Setup, PeerError> {
    let venv = peers_dir().join("venv");
    let what = if ssh { "sshd" } else { "fakepve" };
    let no_install = std::env::var("PROXMOX_TESTBED_NO_INSTALL")
        .map(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        .unwrap_or(false);
    if no_install {
        if !venv.join("bin").join("fakepve").exists() {
            return Err(PeerError::new(
                what,
                format!(
                    "no venv with fakepve at {} and PROXMOX_TESTBED_NO_INSTALL is set (run tests/peers/setup.sh)",
                    venv.display()
                ),
            ));
        }
        if ssh && !Path::new("/usr/sbin/sshd").exists() {
            return Err(PeerError::new(
                what,
                "/usr/sbin/sshd is missing and PROXMOX_TESTBED_NO_INSTALL is set (apt-get install openssh-server)",
            ));
        }
        return Ok(Setup { venv });
    }
    let script = repo_root().join("tests").join("peers").join("setup.sh");
    if !script.exists() {
        return Err(PeerError::new(
            what,
            format!("the setup script {} is missing", script.display()),
        ));
    }
    let started = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(&script).env("PROXMOX_TESTBED_DIR", peers_dir());
    if !ssh {
        cmd.arg("--no-ssh");
    }
    let out = cmd
        .output()
        .map_err(|e| PeerError::new(what, format!("cannot run bash {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(PeerError::new(
            what,
            format!(
                "tests/peers/setup.sh failed ({}); it installs python3-venv, the pinned pip packages and openssh-server",
                out.status
            ),
        )
        .with_detail(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    let took = started.elapsed();
    if took.as_secs() >= 2 {
        let _ = writeln!(
            std::io::stderr(),
            "proxmox-testbed: tests/peers/setup.sh installed the peers in {:.1} s",
            took.as_secs_f64()
        );
    }
    Ok(Setup { venv })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing() -> Result<u8, PeerError> {
        Err(PeerError::new("fakepve", "the venv is missing").with_detail("pip: no network"))
    }

    #[test]
    #[should_panic(
        expected = "peer fakepve is required (CI=true) but unavailable: fakepve unavailable: the venv is missing"
    )]
    fn a_missing_peer_fails_under_ci() {
        let _ = require_peer_in(true, "fakepve", missing());
    }

    #[test]
    fn a_missing_peer_is_skipped_elsewhere_and_a_present_one_is_returned() {
        assert_eq!(require_peer_in(false, "fakepve", missing()), None);
        assert_eq!(require_peer_in(true, "fakepve", Ok(7u8)), Some(7));
    }

    #[test]
    fn errors_name_what_is_missing_and_keep_the_output() {
        let text = missing().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.starts_with("fakepve unavailable: the venv is missing"),
            "{text}"
        );
        assert!(text.contains("pip: no network"), "{text}");
    }

    #[test]
    fn peers_live_under_the_target_directory() {
        if std::env::var_os("PROXMOX_TESTBED_DIR").is_none() {
            let dir = peers_dir();
            assert!(dir.ends_with("peers"), "{}", dir.display());
        }
        assert!(
            repo_root()
                .join("tests")
                .join("peers")
                .join("setup.sh")
                .exists()
        );
    }
}
