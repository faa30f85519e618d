//! The task status: `GET /nodes/{node}/tasks/{upid}/status`.
//!
//! The answer's `data` is `{"status": "running" | "stopped", "exitstatus": ..., "upid": ...,
//! "type": ..., "id": ..., "user": ..., "node": ..., "pid": ..., "pstart": ..., "starttime":
//! ...}`; `exitstatus` is there once the task stopped. Numbers may come as strings (Perl), and
//! fields this model does not know are kept in [`TaskStatus::extra`].
//!
//! Only `OK` and `WARNINGS: <n>` are success (as in `pve-common`'s `status_is_error`);
//! everything else (`unexpected status` after a reboot killed the task, PBS `unknown`, the
//! error text) is a failure.
//!
//! ```
//! use proxmox_proto::task::{ExitStatus, TaskStatus};
//! let s = TaskStatus::from_data(&serde_json::json!({
//!     "status": "stopped", "exitstatus": "WARNINGS: 3", "pid": "1044989", "node": "pve1"
//! })).unwrap();
//! assert_eq!(s.exit_status(), Some(ExitStatus::Warnings(3)));
//! assert!(s.exit_status().unwrap().is_success());
//! assert_eq!(s.pid, Some(1044989));
//! ```

use crate::error::ProtocolError;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Whether the task still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Still running.
    Running,
    /// Stopped; `exitstatus` says how.
    Stopped,
}

/// How a stopped task ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// `OK`.
    Ok,
    /// `WARNINGS: n`: a success with `n` warnings in the log.
    Warnings(u64),
    /// Anything else: the error text (`unexpected status`, `unknown`, `command '...' failed`).
    Failed(String),
}

impl ExitStatus {
    /// Read the server's `exitstatus` text.
    pub fn parse(text: &str) -> Self {
        if text == "OK" {
            return Self::Ok;
        }
        if let Some(n) = text.strip_prefix("WARNINGS: ")
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            // All digits: only overflow can fail, and that is still "many warnings".
            return Self::Warnings(n.parse().unwrap_or(u64::MAX));
        }
        Self::Failed(text.to_owned())
    }

    /// `OK` or `WARNINGS: n`.
    pub fn is_success(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }
}

impl fmt::Display for ExitStatus {
    /// The server's spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("OK"),
            Self::Warnings(n) => write!(f, "WARNINGS: {n}"),
            Self::Failed(m) => f.write_str(m),
        }
    }
}

/// The `data` of a task status answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskStatus {
    /// Running or stopped.
    pub status: RunState,
    /// The exit status text, once stopped.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub exitstatus: Option<String>,
    /// The task's UPID, as the server wrote it.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub upid: Option<String>,
    /// The node running the task.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub node: Option<String>,
    /// The task type (PBS spells it `worker_type`).
    #[serde(
        rename = "type",
        alias = "worker_type",
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub task_type: Option<String>,
    /// The task id (a vmid, a storage, ...; may be empty). PBS spells it `worker_id`.
    #[serde(
        alias = "worker_id",
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// The user or token that started the task.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub user: Option<String>,
    /// The worker's process id.
    #[serde(
        default,
        deserialize_with = "opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub pid: Option<u64>,
    /// The worker's process start time (clock ticks since boot).
    #[serde(
        default,
        deserialize_with = "opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub pstart: Option<u64>,
    /// The start time, in seconds since the Unix epoch.
    #[serde(
        default,
        deserialize_with = "opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub starttime: Option<u64>,
    /// Fields this model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl TaskStatus {
    /// A minimal status (no optional fields), e.g. for tests and canned answers.
    pub fn new(status: RunState, exitstatus: Option<&str>) -> Self {
        Self {
            status,
            exitstatus: exitstatus.map(str::to_owned),
            upid: None,
            node: None,
            task_type: None,
            id: None,
            user: None,
            pid: None,
            pstart: None,
            starttime: None,
            extra: BTreeMap::new(),
        }
    }

    /// Read the `data` member of a status answer.
    pub fn from_data(data: &serde_json::Value) -> Result<Self, ProtocolError> {
        Self::deserialize(data).map_err(|e| ProtocolError::Deserialize {
            type_name: "TaskStatus",
            detail: e.to_string(),
        })
    }

    /// Read the `data` member from JSON text (what `pvesh get .../status` prints).
    pub fn from_data_slice(data: &[u8]) -> Result<Self, ProtocolError> {
        // Through a `Value`, so that a key given twice behaves as in `from_data` (the last one
        // wins) instead of failing as a derived `Deserialize` would.
        let v: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| ProtocolError::Deserialize {
                type_name: "TaskStatus",
                detail: e.to_string(),
            })?;
        Self::from_data(&v)
    }

    /// Whether the task still runs.
    pub fn is_running(&self) -> bool {
        self.status == RunState::Running
    }

    /// How the task ended; `None` while it runs. A stopped task without an `exitstatus` (the
    /// server always sends one) counts as failed.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self.status {
            RunState::Running => None,
            RunState::Stopped => Some(match &self.exitstatus {
                Some(t) => ExitStatus::parse(t),
                None => ExitStatus::Failed("task stopped without an exit status".into()),
            }),
        }
    }
}

/// A string, or a number/boolean written as text; `null` is `None`.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(if b { "1" } else { "0" }.to_owned())),
        other => Err(D::Error::custom(format!(
            "expected a string, found {}",
            kind(&other)
        ))),
    }
}

/// A non-negative integer, or such an integer written as a string; `null` and `""` are `None`.
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let v = serde_json::Value::deserialize(d)?;
    loose_u64(&v).map_err(D::Error::custom)
}

/// See [`opt_u64`].
pub(crate) fn loose_u64(v: &serde_json::Value) -> Result<Option<u64>, String> {
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("expected a non-negative integer, found {n}")),
        serde_json::Value::String(s) if s.trim().is_empty() => Ok(None),
        serde_json::Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("expected a non-negative integer, found {s:?}")),
        other => Err(format!(
            "expected a non-negative integer, found {}",
            kind(other)
        )),
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exit_status_texts() {
        assert_eq!(ExitStatus::parse("OK"), ExitStatus::Ok);
        assert_eq!(ExitStatus::parse("WARNINGS: 3"), ExitStatus::Warnings(3));
        assert_eq!(
            ExitStatus::parse("WARNINGS: 99999999999999999999999"),
            ExitStatus::Warnings(u64::MAX)
        );
        for failed in [
            "unexpected status",
            "unknown",
            "command 'qm start 100' failed: exit code 1",
            "WARNINGS: x",
            "WARNINGS: ",
            "WARNINGS:3",
            "ok",
            "",
        ] {
            assert_eq!(ExitStatus::parse(failed), ExitStatus::Failed(failed.into()));
            assert!(!ExitStatus::parse(failed).is_success());
        }
        assert_eq!(ExitStatus::Warnings(2).to_string(), "WARNINGS: 2");
    }

    #[test]
    fn lenient_fields_and_extra_kept() {
        let s = TaskStatus::from_data(&json!({
            "status": "running", "pid": "12", "pstart": 34, "starttime": " 56 ", "id": 100,
            "tokenid": "ci", "exitstatus": null
        }))
        .unwrap();
        assert!(s.is_running());
        assert_eq!(s.exit_status(), None);
        assert_eq!(
            (s.pid, s.pstart, s.starttime),
            (Some(12), Some(34), Some(56))
        );
        assert_eq!(s.id.as_deref(), Some("100"));
        assert_eq!(s.extra.get("tokenid"), Some(&json!("ci")));
        assert_eq!(s.exitstatus, None);
    }

    #[test]
    fn bad_status_is_an_error() {
        assert!(TaskStatus::from_data(&json!({"exitstatus": "OK"})).is_err());
        assert!(TaskStatus::from_data(&json!({"status": "paused"})).is_err());
        assert!(TaskStatus::from_data(&json!({"status": "stopped", "pid": -1})).is_err());
        assert!(TaskStatus::from_data(&json!({"status": "stopped", "pid": "x"})).is_err());
        assert!(TaskStatus::from_data(&json!([1])).is_err());
        assert!(TaskStatus::from_data_slice(b"{").is_err());
    }

    #[test]
    fn stopped_without_exitstatus_is_failure() {
        let s = TaskStatus::new(RunState::Stopped, None);
        assert!(!s.exit_status().unwrap().is_success());
    }
}
