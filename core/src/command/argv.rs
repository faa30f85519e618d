//! Command lines: [`CommandBuilder`] turns a [`Call`] into a `pvesh`/`pmgsh` argv, and
//! [`CommandLine`] is what an adapter runs (directly, or as one quoted shell line).

use super::{LOCALE_ENV, ShellUpload};
use crate::Service;
use crate::call::{Call, Method};
use crate::error::InputError;
use crate::params::is_secret_key;
use std::fmt;

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
    /// (or the call is refused before a task starts), run
    /// [`StagingPath::cleanup_command`](super::StagingPath::cleanup_command).
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
        if let Some(c) = &upload.checksum {
            call = call
                .param("checksum-algorithm", c.algorithm().name())
                .param("checksum", c.hex());
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
    pub(super) argv: Vec<String>,
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
}
