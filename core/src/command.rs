//! `pvesh`/`pmgsh` command lines: argv vectors for a [`Call`], shell-safe command lines, output
//! parsing, and uploads staged on the node.
//!
//! The command-line transports (a local subprocess, OpenSSH, an SSH library) run the node's
//! own API shell instead of talking HTTPS. The core builds what they run and reads what comes
//! back; the adapter only spawns the process (or the SSH channel) and collects stdout, stderr
//! and the exit code.
//!
//! # Driving contract
//!
//! 1. Build a [`CommandBuilder`] once per client ([`CommandBuilder::new`] refuses PBS, which has
//!    no API shell), with [`CommandBuilder::sudo`] if the remote user is not root.
//! 2. For each [`Call`], [`CommandBuilder::build`] gives a [`CommandLine`]. A local adapter
//!    spawns [`CommandLine::argv`] directly (no shell) with [`CommandLine::env`] added to the
//!    environment; an SSH adapter sends [`CommandLine::to_shell`], one line in which every word
//!    is quoted and the locale is forced to C.
//! 3. The adapter hands stdout, stderr and the exit code (`None` if the process died from a
//!    signal) to [`parse_output`] (or [`parse_data`] for a typed result). The exit code decides
//!    first: 0 is success, whatever stderr says; anything else is a [`crate::ApiError`] read
//!    from the stderr status line, the same typed error as over HTTPS.
//!
//! ```
//! use proxmox_proto::command::{parse_output, CommandBuilder};
//! use proxmox_proto::{Call, ErrorClass, Service};
//!
//! let pvesh = CommandBuilder::new(Service::Pve)?.sudo(true);
//! let call = Call::post(("nodes", "pve1", "qemu"))?
//!     .param("vmid", 100)
//!     .param("net0", "virtio,bridge=vmbr0")
//!     .param("start", true);
//! let cmd = pvesh.build(&call)?;
//! assert_eq!(cmd.argv(), [
//!     "sudo", "-n", "pvesh", "create", "/nodes/pve1/qemu",
//!     "--vmid", "100", "--net0", "virtio,bridge=vmbr0", "--start", "1",
//!     "--output-format", "json",
//! ]);
//! assert_eq!(cmd.env(), [("LC_ALL", "C")]);
//! assert_eq!(
//!     cmd.to_shell(),
//!     "env LC_ALL=C sudo -n pvesh create /nodes/pve1/qemu --vmid 100 --net0 virtio,bridge=vmbr0 --start 1 --output-format json",
//! );
//!
//! // The task's own output may come before the JSON (PVE bug 4333); warnings on stderr with
//! // exit code 0 are success.
//! let out = parse_output(
//!     b"trying to acquire lock...\n OK\n\"UPID:pve1:000ABCDE:0012ABCD:65000000:qmcreate:100:root@pam:\"\n",
//!     b"WARN: storage 'nas' is not online\n",
//!     Some(0),
//! )?;
//! assert_eq!(out.upid(), Some("UPID:pve1:000ABCDE:0012ABCD:65000000:qmcreate:100:root@pam:"));
//! assert_eq!(out.warnings().collect::<Vec<_>>(), ["WARN: storage 'nas' is not online"]);
//!
//! // A failure: the stderr status line becomes the same error as an HTTP 400.
//! let err = parse_output(
//!     b"",
//!     b"400 Parameter verification failed.\nvmid: property is missing and it is not optional\n\nUSAGE: pvesh create /nodes/{node}/qemu ...\n",
//!     Some(255),
//! ).unwrap_err();
//! let api = err.api().unwrap();
//! assert_eq!((api.status, api.class, api.exit_code), (400, ErrorClass::BadRequest, Some(255)));
//! assert_eq!(api.param_errors["vmid"], "property is missing and it is not optional");
//! # Ok::<(), proxmox_proto::Error>(())
//! ```

use crate::Service;
use crate::call::{Call, Method};
use crate::error::{
    ApiError, Error, ErrorClass, InputError, ProtocolError, sanitize_text, snippet,
};
use crate::params::is_secret_key;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

/// The environment every command runs with: the C locale, so that no translated or
/// locale-dependent text (or Perl's "Setting locale failed" warning) reaches stderr.
pub const LOCALE_ENV: [(&str, &str); 1] = [("LC_ALL", "C")];

/// How many bytes of output are kept in errors.
const RAW_KEEP: usize = 4096;

/// How many lines printed before the status line are kept in [`ApiError::other_errors`].
const CONTEXT_LINES: usize = 5;

/// Builds `pvesh`/`pmgsh` argv vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandBuilder {
    service: Service,
    program: String,
    sudo: bool,
}

impl CommandBuilder {
    /// A builder for `service`'s shell program (`pvesh` for PVE, `pmgsh` for PMG).
    ///
    /// # Errors
    ///
    /// [`InputError::Unsupported`] for PBS, which has no API shell.
    pub fn new(service: Service) -> Result<Self, InputError> {
        let program = service
            .shell_program()
            .ok_or(InputError::Unsupported {
                service,
                what: "command-line transports (it has no pvesh-like program)",
            })?
            .to_owned();
        Ok(Self {
            service,
            program,
            sudo: false,
        })
    }

    /// Prefix every command with `sudo -n` (non-interactive: fails at once instead of waiting
    /// for a password). Off by default.
    pub fn sudo(mut self, on: bool) -> Self {
        self.sudo = on;
        self
    }

    /// Run another program than the service's default (a full path such as
    /// `/usr/bin/pvesh`, or a wrapper). It must be non-empty and free of NUL characters.
    pub fn program(mut self, program: impl Into<String>) -> Result<Self, InputError> {
        let program = program.into();
        if program.is_empty() || program.contains('\0') {
            return Err(InputError::Invalid {
                what: "shell program",
                reason: "must be non-empty and must not contain NUL".into(),
            });
        }
        self.program = program;
        Ok(self)
    }

    /// The service.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Whether commands are prefixed with `sudo -n`.
    pub fn uses_sudo(&self) -> bool {
        self.sudo
    }

    /// The argv for one call:
    /// `[sudo -n] <program> <get|create|set|delete> <path> --key value ... [--output-format json]`.
    ///
    /// * The path is the decoded path (`pvesh` does not percent-decode).
    /// * Parameters come from [`Call::wire_params`], so lists are repeated flags, booleans are
    ///   `1`/`0` and the QEMU agent `exec` command is split exactly as over HTTPS.
    /// * Each value is its own argv word, so a value starting with `-` stays a value.
    /// * `--output-format json` is added for PVE; `pmgsh` always prints JSON and has no such
    ///   option.
    ///
    /// # Errors
    ///
    /// * a path segment containing `/` (pvesh would read it as two segments, so a caller's
    ///   value could reach another endpoint), an empty segment, or one with control characters;
    /// * a key that is not a plain option name (`[A-Za-z0-9_-]`, not starting with `-`);
    /// * a value containing NUL (no process can receive it);
    /// * an `agent/exec` command string that does not split (unbalanced quote).
    pub fn build(&self, call: &Call) -> Result<CommandLine, InputError> {
        let mut argv = self.prefix();
        argv.push(verb(call.method).to_owned());
        argv.push(shell_path(call)?);
        let params = call.wire_params()?;
        // For `agent/exec`, the command words go after the other options (as proxmoxer does);
        // pvesh does not care about the order, and the words keep theirs.
        let exec = call.path.ends_with(&["agent", "exec"]);
        let ordered = params
            .iter()
            .filter(|(k, _)| !exec || *k != "command")
            .chain(params.iter().filter(|(k, _)| exec && *k == "command"));
        for (key, value) in ordered {
            check_key(key)?;
            if value.contains('\0') {
                return Err(InputError::InvalidParameter {
                    key: key.to_owned(),
                    reason: "a value containing NUL cannot be passed on a command line".into(),
                });
            }
            argv.push(format!("--{key}"));
            argv.push(value.to_owned());
        }
        if self.service == Service::Pve {
            argv.push("--output-format".into());
            argv.push("json".into());
        }
        Ok(CommandLine { argv })
    }

    /// The argv that completes an upload whose file is already staged on the node:
    /// `pvesh create /nodes/{node}/storage/{storage}/upload --content <kind> --filename <name>
    /// [--checksum-algorithm <algo> --checksum <hex>] --tmpfilename /var/tmp/pveupload-<hex>`.
    ///
    /// The call returns a UPID; the task moves the staged file into the storage. If it fails
    /// (or the call is refused before a task starts), run [`StagingPath::cleanup_command`].
    pub fn upload(&self, upload: &ShellUpload) -> Result<CommandLine, InputError> {
        let mut call = Call::post((
            "nodes",
            upload.node.as_str(),
            "storage",
            upload.storage.as_str(),
            "upload",
        ))?
        .param("content", upload.content.as_str())
        .param("filename", upload.filename.as_str());
        if let Some((algorithm, hex)) = &upload.checksum {
            call = call
                .param("checksum-algorithm", algorithm.as_str())
                .param("checksum", hex.as_str());
        }
        call = call.param("tmpfilename", upload.staging.as_str());
        self.build(&call)
    }

    fn prefix(&self) -> Vec<String> {
        let mut argv = Vec::with_capacity(16);
        if self.sudo {
            argv.push("sudo".into());
            argv.push("-n".into());
        }
        argv.push(self.program.clone());
        argv
    }
}

/// The `pvesh` verb of a method.
fn verb(method: Method) -> &'static str {
    method.pvesh_verb()
}

/// The decoded path as one argv word.
fn shell_path(call: &Call) -> Result<String, InputError> {
    let segments = call.path.segments();
    if segments.is_empty() {
        return Ok("/".into());
    }
    let mut out = String::new();
    for s in segments {
        let reason = if s.is_empty() {
            "a path segment must not be empty"
        } else if s.contains('/') {
            "a value containing '/' cannot be passed to pvesh, which splits the path on '/'"
        } else if s == "." || s == ".." {
            "'.' and '..' are not allowed as path segments"
        } else if s.chars().any(char::is_control) {
            "control characters are not allowed in a path"
        } else {
            out.push('/');
            out.push_str(s);
            continue;
        };
        return Err(InputError::InvalidPathSegment {
            segment: s.clone(),
            reason,
        });
    }
    Ok(out)
}

fn check_key(key: &str) -> Result<(), InputError> {
    let ok = !key.is_empty()
        && !key.starts_with('-')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(InputError::InvalidParameter {
            key: key.to_owned(),
            reason: "a pvesh option name must be made of letters, digits, '_' and '-' and must not start with '-'".into(),
        })
    }
}

/// One command to run: an argv vector plus the environment it needs.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandLine {
    argv: Vec<String>,
}

impl CommandLine {
    /// A command from any argv (program first), for the few commands an adapter runs besides
    /// the API shell.
    ///
    /// # Errors
    ///
    /// An empty argv, or a word containing NUL.
    pub fn from_argv<S: Into<String>>(
        argv: impl IntoIterator<Item = S>,
    ) -> Result<Self, InputError> {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        if argv.is_empty() || argv.iter().any(|w| w.contains('\0')) {
            return Err(InputError::Invalid {
                what: "argv",
                reason: "must be non-empty, and no word may contain NUL".into(),
            });
        }
        Ok(Self { argv })
    }

    /// The whole argv, program first. Spawn it directly, without a shell.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The program to spawn (`sudo`, `pvesh`, `pmgsh`, ...).
    pub fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    /// The arguments after the program.
    pub fn args(&self) -> &[String] {
        self.argv.get(1..).unwrap_or(&[])
    }

    /// Environment variables to set for a local subprocess ([`LOCALE_ENV`]).
    pub fn env(&self) -> &'static [(&'static str, &'static str)] {
        &LOCALE_ENV
    }

    /// The argv prefixed with `env LC_ALL=C`, for transports that can run an argv but cannot
    /// set environment variables.
    pub fn to_env_argv(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.argv.len() + 2);
        v.push("env".to_owned());
        v.extend(LOCALE_ENV.iter().map(|(k, val)| format!("{k}={val}")));
        v.extend(self.argv.iter().cloned());
        v
    }

    /// One POSIX shell command line, `env LC_ALL=C ...` with every word quoted by
    /// [`crate::shell::join`], for transports that hand a string to a remote shell (OpenSSH,
    /// SSH libraries' `exec`). The remote login shell must be a POSIX shell (sh, bash, dash,
    /// zsh).
    ///
    /// The result may contain secrets given as parameters (passwords); do not log it.
    pub fn to_shell(&self) -> String {
        crate::shell::join(&self.to_env_argv())
    }

    /// The argv, consumed.
    pub fn into_argv(self) -> Vec<String> {
        self.argv
    }
}

impl fmt::Debug for CommandLine {
    /// The argv with the value after a secret option (`--password`, ...) redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut redact_next = false;
        for w in &self.argv {
            if redact_next {
                list.entry(&"<redacted>");
                redact_next = false;
                continue;
            }
            list.entry(w);
            if let Some(key) = w.strip_prefix("--") {
                redact_next = is_secret_key(key);
            }
        }
        list.finish()
    }
}

// ---- uploads ---------------------------------------------------------------------------------

/// Where a file is staged on the node before `.../upload` is called with `tmpfilename`:
/// `/var/tmp/pveupload-<hex>`, the only form PVE 8+ accepts
/// (`/var/tmp/pveupload-[0-9a-f]+`).
///
/// ```
/// use proxmox_proto::command::StagingPath;
/// let p = StagingPath::from_random(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]).unwrap();
/// assert_eq!(p.as_str(), "/var/tmp/pveupload-deadbeef00010203");
/// assert_eq!(p.cleanup_command().argv(), ["rm", "-f", "--", "/var/tmp/pveupload-deadbeef00010203"]);
/// assert!(StagingPath::from_hex("DEADBEEF00010203").is_err());
/// assert!(StagingPath::from_random(&[1, 2, 3]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StagingPath(String);

impl StagingPath {
    /// The fixed part of the path.
    pub const PREFIX: &'static str = "/var/tmp/pveupload-";
    /// The fewest random bytes accepted (the name must not be guessable in a world-writable
    /// directory).
    pub const MIN_RANDOM_BYTES: usize = 8;
    /// The most random bytes accepted.
    pub const MAX_RANDOM_BYTES: usize = 64;

    /// A path named after `random` bytes (hex-encoded) that the caller drew from a secure
    /// source; 16 bytes are a good choice.
    ///
    /// # Errors
    ///
    /// Fewer than [`Self::MIN_RANDOM_BYTES`] or more than [`Self::MAX_RANDOM_BYTES`] bytes.
    pub fn from_random(random: &[u8]) -> Result<Self, InputError> {
        if !(Self::MIN_RANDOM_BYTES..=Self::MAX_RANDOM_BYTES).contains(&random.len()) {
            return Err(InputError::Invalid {
                what: "upload staging name",
                reason: format!(
                    "needs {} to {} random bytes, got {}",
                    Self::MIN_RANDOM_BYTES,
                    Self::MAX_RANDOM_BYTES,
                    random.len()
                ),
            });
        }
        let mut s = String::with_capacity(Self::PREFIX.len() + 2 * random.len());
        s.push_str(Self::PREFIX);
        for b in random {
            s.push_str(&format!("{b:02x}"));
        }
        Ok(Self(s))
    }

    /// A path from a lower-case hex name the caller made (16 to 128 characters of `[0-9a-f]`).
    pub fn from_hex(hex: &str) -> Result<Self, InputError> {
        let len_ok = (2 * Self::MIN_RANDOM_BYTES..=2 * Self::MAX_RANDOM_BYTES).contains(&hex.len());
        if !len_ok || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(InputError::Invalid {
                what: "upload staging name",
                reason: format!(
                    "must be {} to {} lower-case hex digits",
                    2 * Self::MIN_RANDOM_BYTES,
                    2 * Self::MAX_RANDOM_BYTES
                ),
            });
        }
        Ok(Self(format!("{}{hex}", Self::PREFIX)))
    }

    /// Parse a full path `/var/tmp/pveupload-<hex>`.
    pub fn parse(path: &str) -> Result<Self, InputError> {
        match path.strip_prefix(Self::PREFIX) {
            Some(hex) => Self::from_hex(hex),
            None => Err(InputError::Invalid {
                what: "upload staging path",
                reason: format!("must start with {}", Self::PREFIX),
            }),
        }
    }

    /// The full path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A command that writes its standard input to the staging path, for transports without
    /// a file-copy channel (the adapter streams the file into the process's stdin):
    /// `sh -c 'set -C; umask 077; exec cat > "$1"' sh <path>`. `set -C` refuses to overwrite
    /// an existing file (or follow a planted symlink); `umask 077` keeps the file private to
    /// the staging user (root, or the sudo target, can still read it).
    pub fn stage_command(&self) -> CommandLine {
        CommandLine {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "set -C; umask 077; exec cat > \"$1\"".into(),
                "sh".into(),
                self.0.clone(),
            ],
        }
    }

    /// A command that removes the staged file: `rm -f -- <path>`. Run it after a failed
    /// upload; it succeeds if the file is already gone. It runs without sudo, as the user who
    /// staged the file.
    pub fn cleanup_command(&self) -> CommandLine {
        CommandLine {
            argv: vec!["rm".into(), "-f".into(), "--".into(), self.0.clone()],
        }
    }
}

impl fmt::Display for StagingPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`CommandBuilder::upload`] needs: where the file goes, what it is, and where it is
/// staged.
///
/// ```
/// use proxmox_proto::command::{CommandBuilder, ShellUpload, StagingPath};
/// use proxmox_proto::Service;
/// let staging = StagingPath::from_hex("0123456789abcdef").unwrap();
/// let up = ShellUpload::new("pve1", "local", "iso", "debian-12.iso", staging).unwrap();
/// let cmd = CommandBuilder::new(Service::Pve).unwrap().upload(&up).unwrap();
/// assert_eq!(cmd.argv(), [
///     "pvesh", "create", "/nodes/pve1/storage/local/upload",
///     "--content", "iso", "--filename", "debian-12.iso",
///     "--tmpfilename", "/var/tmp/pveupload-0123456789abcdef",
///     "--output-format", "json",
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellUpload {
    node: String,
    storage: String,
    content: String,
    filename: String,
    checksum: Option<(String, String)>,
    staging: StagingPath,
}

/// Content kinds the upload endpoint accepts.
pub const UPLOAD_CONTENT: [&str; 3] = ["iso", "vztmpl", "import"];

/// Checksum algorithms the upload endpoint accepts, with their hex lengths.
const CHECKSUMS: [(&str, usize); 6] = [
    ("md5", 32),
    ("sha1", 40),
    ("sha224", 56),
    ("sha256", 64),
    ("sha384", 96),
    ("sha512", 128),
];

impl ShellUpload {
    /// An upload of `filename` (the name to create in the storage; no path) with content kind
    /// `content` (`iso`, `vztmpl` or `import`), staged at `staging`.
    pub fn new(
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        staging: StagingPath,
    ) -> Result<Self, InputError> {
        if !UPLOAD_CONTENT.contains(&content) {
            return Err(InputError::InvalidParameter {
                key: "content".into(),
                reason: format!("{content:?} is not one of iso, vztmpl, import"),
            });
        }
        let bad_name = filename.is_empty()
            || filename == "."
            || filename == ".."
            || filename.len() > 255
            || filename.contains(['/', '\\'])
            || filename.chars().any(char::is_control);
        if bad_name {
            return Err(InputError::InvalidParameter {
                key: "filename".into(),
                reason: "must be a plain file name of 1 to 255 bytes, without path separators or control characters".into(),
            });
        }
        Ok(Self {
            node: node.to_owned(),
            storage: storage.to_owned(),
            content: content.to_owned(),
            filename: filename.to_owned(),
            checksum: None,
            staging,
        })
    }

    /// Ask the server to verify the staged file against a checksum (`algorithm` one of `md5`,
    /// `sha1`, `sha224`, `sha256`, `sha384`, `sha512`; `hex` of the matching length).
    pub fn checksum(mut self, algorithm: &str, hex: &str) -> Result<Self, InputError> {
        let Some(&(_, len)) = CHECKSUMS.iter().find(|(a, _)| *a == algorithm) else {
            return Err(InputError::InvalidParameter {
                key: "checksum-algorithm".into(),
                reason: format!(
                    "{algorithm:?} is not one of md5, sha1, sha224, sha256, sha384, sha512"
                ),
            });
        };
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InputError::InvalidParameter {
                key: "checksum".into(),
                reason: format!("a {algorithm} checksum is {len} hex digits"),
            });
        }
        self.checksum = Some((algorithm.to_owned(), hex.to_ascii_lowercase()));
        Ok(self)
    }

    /// The staging path.
    pub fn staging(&self) -> &StagingPath {
        &self.staging
    }
}

// ---- output ----------------------------------------------------------------------------------

/// A successful command's result.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Output {
    /// The JSON document printed on stdout (`null` if stdout was empty). A bare UPID printed
    /// instead of JSON, or a UPID printed on stderr with nothing on stdout, is returned as a
    /// JSON string.
    pub data: Value,
    /// Text printed on stdout before the JSON (a task's own output, PVE bug 4333).
    pub preamble: String,
    /// Everything printed on stderr (lossy UTF-8): warnings, since the command succeeded.
    pub stderr: String,
}

impl Output {
    /// The non-empty stderr lines (warnings).
    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.stderr
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
    }

    /// The data as a UPID string, if it is one.
    pub fn upid(&self) -> Option<&str> {
        match &self.data {
            Value::String(s) if is_upid(s) => Some(s),
            _ => None,
        }
    }

    /// The data read as `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, ProtocolError> {
        T::deserialize(&self.data).map_err(|e| ProtocolError::Deserialize {
            type_name: std::any::type_name::<T>(),
            detail: sanitize_text(&e.to_string()),
        })
    }
}

/// Read a finished command: `stdout`, `stderr` and the exit code (`None` if it died from a
/// signal).
///
/// * Exit code 0 is success, whatever stderr holds. Stdout is one JSON document, possibly
///   after lines of task output; empty stdout is `null`.
/// * Any other exit code (or none) is an [`ApiError`] with [`ApiError::exit_code`] set. Its
///   status comes from the first stderr line of the form `NNN text` (`400 Parameter
///   verification failed.`), with the `key: message` lines right after it as
///   [`ApiError::param_errors`]; without such a line the status is 500 and the last stderr
///   line is the message. Up to five lines printed before the status line go to
///   [`ApiError::other_errors`]; the whole stderr (cut to 4 KiB) is in [`ApiError::raw_body`].
///
/// # Errors
///
/// [`Error::Api`] for a failed command; [`Error::Protocol`] when a successful command's stdout
/// is not JSON (or not UTF-8, or has data after the JSON).
pub fn parse_output(stdout: &[u8], stderr: &[u8], exit_code: Option<i32>) -> Result<Output, Error> {
    if exit_code != Some(0) {
        return Err(command_error(stdout, stderr, exit_code).into());
    }
    let stderr = String::from_utf8_lossy(stderr).into_owned();
    let (preamble, data) = match parse_stdout(stdout)? {
        Some((preamble, data)) => (preamble, data),
        None => match upids(&stderr).next() {
            Some(upid) => (String::new(), Value::String(upid.to_owned())),
            None => (String::new(), Value::Null),
        },
    };
    Ok(Output {
        data,
        preamble,
        stderr,
    })
}

/// [`parse_output`], then the data read as `T`.
///
/// ```
/// use proxmox_proto::command::parse_data;
/// let nodes: Vec<serde_json::Value> = parse_data(br#"[{"node":"pve1"}]"#, b"", Some(0)).unwrap();
/// assert_eq!(nodes[0]["node"], "pve1");
/// let e = parse_data::<serde_json::Value>(b"", b"500 unable to find configuration file for VM 100\n", Some(2)).unwrap_err();
/// assert_eq!(e.api().unwrap().reason, "unable to find configuration file for VM 100");
/// ```
pub fn parse_data<T: DeserializeOwned>(
    stdout: &[u8],
    stderr: &[u8],
    exit_code: Option<i32>,
) -> Result<T, Error> {
    // Fast path: stdout is exactly one JSON document, read straight into `T` (several times
    // faster than going through `serde_json::Value` for large lists).
    if exit_code == Some(0)
        && !stdout.iter().all(u8::is_ascii_whitespace)
        && let Ok(v) = crate::response::json_from_bytes::<T>(stdout)
    {
        return Ok(v);
    }
    Ok(parse_output(stdout, stderr, exit_code)?.data_as()?)
}

/// Parse stdout: `None` if it is blank, else the text before the JSON and the JSON value.
fn parse_stdout(stdout: &[u8]) -> Result<Option<(String, Value)>, ProtocolError> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut first_err = None;
    // Candidate starts: the beginning, then every line start whose first non-blank byte can
    // begin a JSON value. Each attempt must consume the rest of the output.
    let mut start = 0;
    loop {
        if let Some(rest) = stdout.get(start..)
            && starts_json(rest)
        {
            match serde_json::from_slice::<Value>(rest) {
                Ok(v) => {
                    let preamble = String::from_utf8_lossy(stdout.get(..start).unwrap_or(&[]));
                    return Ok(Some((preamble.into_owned(), v)));
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        match stdout
            .get(start..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
        {
            Some(nl) => start += nl + 1,
            None => break,
        }
    }
    // Not JSON: a bare UPID on the last line is the result (`pvesh` without JSON output,
    // `pmgsh`).
    let text = String::from_utf8_lossy(stdout);
    let last = text.lines().rev().map(str::trim).find(|l| !l.is_empty());
    if let Some(last) = last
        && is_upid(last)
    {
        let cut = text.rfind(last).unwrap_or(0);
        let preamble = text.get(..cut).unwrap_or("").to_owned();
        return Ok(Some((preamble, Value::String(last.to_owned()))));
    }
    if let Err(e) = std::str::from_utf8(stdout) {
        return Err(ProtocolError::Malformed {
            what: "command output",
            detail: format!("stdout is not valid UTF-8 (at byte {})", e.valid_up_to()),
        });
    }
    let detail = first_err.map_or_else(|| "no JSON value found".to_owned(), |e| e.to_string());
    if detail.contains("recursion limit") {
        return Err(ProtocolError::TooDeep { limit: 128 });
    }
    Err(ProtocolError::InvalidJson {
        detail: sanitize_text(&detail),
        snippet: snippet(stdout, 64),
    })
}

/// Whether the bytes (after blanks) can begin a JSON value.
fn starts_json(s: &[u8]) -> bool {
    match s.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b) => matches!(
            b,
            b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
        ),
        None => false,
    }
}

/// The error for a command that did not exit with 0.
fn command_error(stdout: &[u8], stderr: &[u8], exit_code: Option<i32>) -> ApiError {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let status_at = lines.iter().position(|l| status_line(l).is_some());
    let found = status_at.and_then(|i| lines.get(i).and_then(|l| status_line(l)).map(|s| (i, s)));
    let mut err = match found {
        Some((i, (status, reason))) => {
            let mut err = ApiError::new(status, reason, None);
            for l in lines.iter().skip(i + 1) {
                match param_error(l) {
                    Some((k, v)) => {
                        err.param_errors.insert(k.to_owned(), v.to_owned());
                    }
                    None => break,
                }
            }
            err.other_errors = context(lines.get(..i).unwrap_or(&[]));
            err
        }
        None => {
            let nonblank: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| !l.trim().is_empty())
                .collect();
            let message = match (nonblank.last(), exit_code) {
                (Some(last), _) => last.trim().to_owned(),
                (None, Some(code)) => {
                    format!("the command exited with code {code} and printed nothing on stderr")
                }
                (None, None) => "the command was killed by a signal".to_owned(),
            };
            let mut err = ApiError::new(500, "Internal Server Error", Some(message));
            err.other_errors = context(
                nonblank
                    .get(..nonblank.len().saturating_sub(1))
                    .unwrap_or(&[]),
            );
            err
        }
    };
    err.class = ErrorClass::from_status(
        err.status,
        &format!("{} {}", err.reason, err.message.as_deref().unwrap_or("")),
    );
    err.exit_code = exit_code;
    err.raw_body = if !stderr.is_empty() {
        Some(snippet(stderr, RAW_KEEP))
    } else if !stdout.is_empty() {
        Some(snippet(stdout, RAW_KEEP))
    } else {
        None
    };
    err
}

/// The last few non-blank lines, sanitized.
fn context(lines: &[&str]) -> Vec<String> {
    let nonblank: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty())
        .collect();
    nonblank
        .get(nonblank.len().saturating_sub(CONTEXT_LINES)..)
        .unwrap_or(&[])
        .iter()
        .map(|l| sanitize_text(l.trim()))
        .collect()
}

/// `NNN text` with NNN in 100..=599 and text starting with an ASCII letter.
fn status_line(line: &str) -> Option<(u16, &str)> {
    let b = line.as_bytes();
    if b.len() < 5 || !b.get(..3)?.iter().all(u8::is_ascii_digit) || b.get(3) != Some(&b' ') {
        return None;
    }
    if !b.get(4)?.is_ascii_alphabetic() {
        return None;
    }
    let status: u16 = line.get(..3)?.parse().ok()?;
    if !(100..=599).contains(&status) {
        return None;
    }
    Some((status, line.get(4..)?.trim()))
}

/// Whether `stderr` holds an API status line (`NNN text`), i.e. the API shell itself answered.
/// Transports use it to tell the program's own exit code (pvesh exits 255 on API errors) from
/// a failure of the transport (ssh also exits 255).
pub fn has_status_line(stderr: &[u8]) -> bool {
    String::from_utf8_lossy(stderr)
        .lines()
        .any(|l| status_line(l).is_some())
}

/// `key: message` as printed by PVE's exception for each parameter error.
fn param_error(line: &str) -> Option<(&str, &str)> {
    let (key, msg) = line.split_once(": ")?;
    let key_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'));
    key_ok.then(|| (key, msg.trim()))
}

// ---- UPIDs in text ---------------------------------------------------------------------------

/// Every UPID-shaped token in `text`, in order.
///
/// A token starts at `UPID:` (not preceded by a letter, digit or `_`) and runs until
/// whitespace or one of `" ' , ; ( ) [ ] { } < >`. It counts if it is a UPID by
/// [`crate::Upid::parse`]: the PVE/PMG form `UPID:node:pid:pstart:starttime:type:id:user:` (pid
/// and starttime 8 hex digits, pstart 8 or 9, `id` may be empty, `user` may be a token
/// `user@realm!name`; text after the last colon is tolerated) or the PBS form with a task id
/// (8 to 16 hex digits) before the start time and a systemd-escaped worker id.
///
/// ```
/// use proxmox_proto::command::upids;
/// let text = "starting\nUPID:pve:000ABCDE:1012ABCDE:65000000:vzdump::root@pam!ci:\n\"UPID:pbs:000003E8:0000A1B2:00000001:65000000:verify:store1\\x3avm-100:root@pam:\"";
/// assert_eq!(upids(text).collect::<Vec<_>>(), [
///     "UPID:pve:000ABCDE:1012ABCDE:65000000:vzdump::root@pam!ci:",
///     "UPID:pbs:000003E8:0000A1B2:00000001:65000000:verify:store1\\x3avm-100:root@pam:",
/// ]);
/// ```
pub fn upids(text: &str) -> impl Iterator<Item = &str> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        loop {
            let rest = text.get(pos..)?;
            let found = rest.find("UPID:")?;
            let start = pos + found;
            let preceded_ok = text
                .get(..start)
                .and_then(|s| s.chars().next_back())
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let tail = text.get(start..)?;
            let len = tail.find(is_token_end).unwrap_or(tail.len());
            let token = tail.get(..len)?;
            pos = start + len.max(5);
            if preceded_ok && is_upid(token) {
                return Some(token);
            }
        }
    })
}

fn is_token_end(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | ',' | ';' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>'
        )
}

/// Whether `s` is exactly one UPID (PVE/PMG or PBS form): whether [`crate::Upid::parse`]
/// accepts it. There is one UPID grammar in the core, and this is it.
pub fn is_upid(s: &str) -> bool {
    crate::upid::Upid::parse(s).is_ok()
}

/// `sh` code that runs `"$1"` in its own process group with standard input from `/dev/null`,
/// and kills that group (TERM, then KILL) once its own standard input closes: SSH transports
/// keep the channel's input open while they wait, so a timeout or a dead client ends the
/// remote command too. The exit code is the command's own.
const WATCHDOG: &str = r#"exec 3<&0
if command -v setsid >/dev/null 2>&1; then setsid sh -c "$1" </dev/null 3<&- & else sh -c "$1" </dev/null 3<&- & fi
p=$!
(cat <&3 >/dev/null 2>&1; kill -s TERM -- "-$p" 2>/dev/null || kill -s TERM "$p" 2>/dev/null; sleep 2; kill -s KILL -- "-$p" 2>/dev/null) >/dev/null 2>&1 &
w=$!
exec 3<&-
wait "$p"
r=$?
kill "$w" 2>/dev/null
exit "$r""#;

impl CommandLine {
    /// [`CommandLine::to_shell`] wrapped in a watchdog for remote shells: the command runs in
    /// its own process group and is killed when the SSH channel's standard input closes (the
    /// client gave up or died). Every byte of every argument still arrives unchanged.
    pub fn to_shell_killable(&self) -> String {
        crate::shell::join(&["sh", "-c", WATCHDOG, "sh", self.to_shell().as_str()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pve() -> CommandBuilder {
        CommandBuilder::new(Service::Pve).unwrap()
    }

    #[test]
    fn pbs_has_no_shell() {
        let e = CommandBuilder::new(Service::Pbs).unwrap_err();
        assert!(matches!(
            e,
            InputError::Unsupported {
                service: Service::Pbs,
                ..
            }
        ));
        assert!(e.to_string().contains("PBS does not support command-line"));
    }

    #[test]
    fn pmg_has_no_output_format() {
        let b = CommandBuilder::new(Service::Pmg).unwrap();
        let c = b.build(&Call::get("/nodes").unwrap()).unwrap();
        assert_eq!(c.argv(), ["pmgsh", "get", "/nodes"]);
    }

    #[test]
    fn root_and_program_override() {
        let b = pve().program("/usr/bin/pvesh").unwrap();
        let c = b.build(&Call::get("").unwrap()).unwrap();
        assert_eq!(
            c.argv(),
            ["/usr/bin/pvesh", "get", "/", "--output-format", "json"]
        );
        assert_eq!(c.program(), "/usr/bin/pvesh");
        assert_eq!(c.args().len(), 4);
        assert!(pve().program("").is_err());
        assert!(pve().program("a\0b").is_err());
    }

    #[test]
    fn bad_paths_keys_values() {
        let call = Call::delete((
            "nodes",
            "pve",
            "storage",
            "local",
            "content",
            "local:iso/x.iso",
        ))
        .unwrap();
        let e = pve().build(&call).unwrap_err();
        assert!(matches!(e, InputError::InvalidPathSegment { .. }), "{e:?}");
        for key in ["", "-x", "a b", "a=b", "--x", "ü"] {
            let call = Call::get("/x").unwrap().param(key, 1);
            assert!(pve().build(&call).is_err(), "{key:?}");
        }
        let call = Call::put("/x").unwrap().param("description", "a\0b");
        let e = pve().build(&call).unwrap_err();
        assert!(!e.to_string().contains("a\0b"));
        let call = Call::put("/x").unwrap().param("x_y-9", "-1");
        assert_eq!(pve().build(&call).unwrap().argv()[3..5], ["--x_y-9", "-1"]);
    }

    #[test]
    fn debug_redacts_secrets() {
        let call = Call::post("/access/users")
            .unwrap()
            .param("userid", "bob@pve")
            .param("password", "hunter2");
        let c = pve().build(&call).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("bob@pve"));
        assert!(c.to_shell().contains("hunter2"));
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_line("400 Parameter verification failed."),
            Some((400, "Parameter verification failed."))
        );
        assert_eq!(status_line("500"), None);
        assert_eq!(status_line("   404 x"), None);
        assert_eq!(status_line("1234 abc"), None);
        assert_eq!(status_line("404 1"), None);
        assert_eq!(status_line("000 abc"), None);
        assert_eq!(status_line("700 abc"), None);
        assert_eq!(param_error("vmid: missing"), Some(("vmid", "missing")));
        assert_eq!(param_error("USAGE: x"), Some(("USAGE", "x")));
        assert_eq!(param_error("a b: c"), None);
    }

    #[test]
    fn upid_forms() {
        for u in [
            "UPID:pve:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam:",
            "UPID:pve:000ABCDE:1012ABCDE:65000000:qmstart:100:root@pam:",
            "UPID:pve:000ABCDE:0012ABCD:65000000:vzdump::root@pam:",
            "UPID:pve:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam!tok:",
            "UPID:node:003094EA:095F1EFE:63E88772:download:file.iso:root@pam:done",
            "UPID:pbs:000003E8:0000A1B2:0000000000000001:65000000:garbage_collection:store1:root@pam:",
        ] {
            assert!(is_upid(u), "{u}");
        }
        for u in [
            "UPID:pve:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam",
            "UPID:pve:ABCDE:0012ABCD:65000000:qmstart:100:root@pam:",
            "UPID:-pve:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam:",
            "UPID:pve:000ABCDE:0012ABCD:65000000::100:root@pam:",
            "UPID:pve:000ABCDE:0012ABCD:65000000:qmstart:100::",
            "UPID:pve:000ABCDG:0012ABCD:65000000:qmstart:100:root@pam:",
            "UPID:",
            "",
        ] {
            assert!(!is_upid(u), "{u}");
        }
        assert_eq!(
            upids("XUPID:pve:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam:").count(),
            0
        );
        assert_eq!(
            upids("UPID:UPID:pve:000ABCDE:0012ABCD:65000000:a:1:u:").count(),
            0
        );
        assert_eq!(
            upids("(UPID:pve:000ABCDE:0012ABCD:65000000:a:1:u:)").count(),
            1
        );
        assert_eq!(upids("UPIDUPID:ü UPID:").count(), 0);
    }

    /// One UPID grammar: what the output scanner accepts is what `Upid::parse` accepts, so a
    /// PBS worker id with a broken systemd escape is not a UPID in command output either.
    #[test]
    fn upids_in_output_follow_upid_parse() {
        let bad_escape =
            r"UPID:pbs:000003E8:0000A1B2:00000001:65000000:verify:store1\x3zvm:root@pam:";
        let cut_escape = r"UPID:pbs:000003E8:0000A1B2:00000001:65000000:verify:store1\x3:root@pam:";
        let good =
            r"UPID:pbs:000003E8:0000A1B2:00000001:65000000:verify:store1\x3avm-100:root@pam:";
        for (u, ok) in [
            (bad_escape, false),
            (cut_escape, false),
            (good, true),
            (
                "UPID:pve:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam:",
                true,
            ),
            (
                "UPID:pve:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam",
                false,
            ),
        ] {
            assert_eq!(is_upid(u), ok, "{u}");
            assert_eq!(is_upid(u), crate::Upid::parse(u).is_ok(), "{u}");
            assert_eq!(
                upids(&format!("task: {u}\n")).count(),
                usize::from(ok),
                "{u}"
            );
        }
        // A bare UPID printed instead of JSON is the result only if it parses.
        let out = parse_output(format!("{good}\n").as_bytes(), b"", Some(0)).unwrap();
        assert_eq!(out.upid(), Some(good));
        let bad = parse_output(format!("{bad_escape}\n").as_bytes(), b"", Some(0));
        assert!(bad.is_err() || bad.is_ok_and(|o| o.upid().is_none()));
    }

    #[test]
    fn signal_and_silent_failures() {
        let e = command_error(b"", b"", None);
        assert_eq!(e.status, 500);
        assert_eq!(e.exit_code, None);
        assert_eq!(
            e.message.as_deref(),
            Some("the command was killed by a signal")
        );
        let e = command_error(b"[]", b"", Some(1));
        assert_eq!(e.raw_body.as_deref(), Some("[]"));
        assert!(e.message.as_deref().is_some_and(|m| m.contains("code 1")));
    }
}
