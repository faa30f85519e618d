//! The remote command line for SSH transports.
//!
//! The command itself is the core's [`CommandLine::to_shell`]. By default it runs under a
//! small POSIX `sh` watchdog: the command gets its own session and process group (`setsid`,
//! where available) and standard input from `/dev/null`, while a helper waits for the SSH
//! channel's standard input to close. The client keeps that input open for as long as it
//! waits; when it gives up (time limit) or dies, the input closes and the helper sends TERM,
//! then KILL, to the command's whole process group. Without this, a command stuck on the node
//! would outlive a killed SSH client. The exit code is the command's own.

use proxmox_proto::command::CommandLine;

/// The line to hand to the remote shell for `cmd`: under the core's watchdog (`killable`,
/// [`CommandLine::to_shell_killable`]) or bare.
pub(crate) fn remote_line(cmd: &CommandLine, killable: bool) -> String {
    if killable {
        cmd.to_shell_killable()
    } else {
        cmd.to_shell()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};

    /// Run the line in `sh` with standard input held open until it exits.
    fn run(line: &str) -> (Option<i32>, String, String) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let held = child.stdin.take();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        drop(held);
        (status.code(), out, err)
    }

    #[test]
    fn the_watchdog_keeps_every_byte_and_the_exit_code() {
        let value = "-x 'q' \"d\" $(id) `id` ; echo no\nline2 \\ $HOME *";
        let cmd = CommandLine::from_argv(["printf", "%s|", value, "two words"]).unwrap();
        let (code, out, _) = run(&remote_line(&cmd, true));
        assert_eq!(code, Some(0));
        assert_eq!(out, format!("{value}|two words|"));
        let fail = CommandLine::from_argv(["sh", "-c", "echo 400 bad >&2; exit 255"]).unwrap();
        let (code, _, err) = run(&remote_line(&fail, true));
        assert_eq!(code, Some(255));
        assert_eq!(err, "400 bad\n");
    }

    #[test]
    fn closing_stdin_kills_the_command_group() {
        let cmd = CommandLine::from_argv(["sh", "-c", "sleep 30 & sleep 30; echo never"]).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(remote_line(&cmd, true))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(143));
        assert!(out.stdout.is_empty());
    }

    #[test]
    fn without_the_watchdog_the_line_is_the_cores() {
        let cmd = CommandLine::from_argv(["pvesh", "get", "/version"]).unwrap();
        assert_eq!(remote_line(&cmd, false), cmd.to_shell());
    }
}
