//! Reading a finished command: [`parse_output`] decides by the exit code, then reads stdout's
//! JSON (after any task output) or stderr's status line into the same typed errors as over
//! HTTPS; [`upids`] finds the task ids in printed text.

use crate::error::{ApiError, Error, ErrorClass, ProtocolError, sanitize_text, snippet};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How many bytes of output are kept in errors.
const RAW_KEEP: usize = 4096;

/// How many lines printed before the status line are kept in [`ApiError::other_errors`].
const CONTEXT_LINES: usize = 5;

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

#[cfg(test)]
mod tests {
    use super::*;

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
