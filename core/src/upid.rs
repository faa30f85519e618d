//! UPIDs: the ids of Proxmox tasks, parsed into typed fields and displayed back exactly.
//!
//! Two shapes exist:
//!
//! * **PVE and PMG** (`pve-common`), 9 colon-separated fields including the empty one after the
//!   trailing colon:
//!   `UPID:<node>:<pid 8 hex>:<pstart 8-9 hex>:<starttime 8 hex>:<type>:<id>:<user>:`
//! * **PBS** (and the other Rust products), 10 fields, with a task counter and a
//!   systemd-escaped worker id:
//!   `UPID:<node>:<pid 8 hex>:<pstart 8-9 hex>:<task id 8-16 hex>:<starttime 8 hex>:<worker
//!   type>:<worker id>:<auth id>:`
//!
//! The shape is chosen by the number of fields. `pstart` has 9 digits once a node has been up
//! for about 497 days; the `id` may be empty; the user may be an API token (`root@pam!ci`). The
//! server always leaves the part after the last colon empty; some fixtures put text there, which
//! is kept as an opaque [`Upid::trailing`] part so that such strings also round-trip.
//!
//! [`Display`](std::fmt::Display) gives back exactly the parsed text, and serde reads and writes
//! a UPID as that string. The node to ask about a task is the node inside the UPID, so the
//! status, log and cancel requests are built from the UPID alone.
//!
//! ```
//! use proxmox_proto::upid::{Upid, UpidFlavor};
//! let upid: Upid = "UPID:pve1:000ABCDE:1A2B3C4D5:65000000:qmstart:100:root@pam!ci:".parse().unwrap();
//! assert_eq!(upid.flavor(), UpidFlavor::Pve);
//! assert_eq!((upid.node(), upid.pid(), upid.pstart()), ("pve1", 0xABCDE, 0x1A2B3C4D5));
//! assert_eq!(upid.start_time(), 0x6500_0000);
//! assert_eq!((upid.task_type(), upid.id(), upid.user()), ("qmstart", "100", "root@pam!ci"));
//! assert_eq!(upid.token_name(), Some("ci"));
//! assert_eq!(
//!     upid.status_call().unwrap().path.to_string(),
//!     "/nodes/pve1/tasks/UPID:pve1:000ABCDE:1A2B3C4D5:65000000:qmstart:100:root@pam!ci:/status"
//! );
//!
//! let pbs: Upid = r"UPID:backup:00000A1B:0001C2D3:0000000F:65000000:verify:store1\x2dvm\x2d100:root@pam:"
//!     .parse().unwrap();
//! assert_eq!(pbs.flavor(), UpidFlavor::Pbs);
//! assert_eq!(pbs.task_id(), Some(15));
//! assert_eq!(pbs.id_raw(), r"store1\x2dvm\x2d100");
//! assert_eq!(pbs.id(), "store1-vm-100");
//! assert_eq!(pbs.to_string(), r"UPID:backup:00000A1B:0001C2D3:0000000F:65000000:verify:store1\x2dvm\x2d100:root@pam:");
//!
//! let err = "UPID:pve1:zzzz:00000000:00000000:task:id:root@pam:".parse::<Upid>().unwrap_err();
//! assert!(err.to_string().contains("pid"));
//! ```

use crate::call::Call;
use crate::error::{InputError, ProtocolError};
use std::fmt;
use std::str::FromStr;

/// Which product family wrote a UPID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpidFlavor {
    /// PVE and PMG (`pve-common`): 9 fields.
    Pve,
    /// PBS and the other Rust products: 10 fields, task counter, systemd-escaped worker id.
    Pbs,
}

/// One field of a UPID, named in parse errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpidField {
    /// The `UPID` prefix.
    Prefix,
    /// The node name.
    Node,
    /// The process id (8 hex digits).
    Pid,
    /// The process start time in clock ticks since boot (8 or 9 hex digits).
    Pstart,
    /// The PBS task counter (8 to 16 hex digits).
    TaskId,
    /// The task start time (epoch seconds, 8 hex digits).
    StartTime,
    /// The task (worker) type.
    Type,
    /// The task (worker) id.
    Id,
    /// The user or API token that started the task.
    User,
    /// The part after the user (empty in UPIDs written by the server).
    Trailing,
}

impl fmt::Display for UpidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Prefix => "prefix",
            Self::Node => "node",
            Self::Pid => "pid",
            Self::Pstart => "pstart",
            Self::TaskId => "task id",
            Self::StartTime => "start time",
            Self::Type => "type",
            Self::Id => "id",
            Self::User => "user",
            Self::Trailing => "trailing part",
        })
    }
}

/// Why a string is not a UPID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpidError {
    /// The string has the wrong number of colon-separated fields.
    #[error(
        "UPID has {found} colon-separated fields; expected 9 (PVE/PMG, ending in ':') or 10 (PBS)"
    )]
    FieldCount {
        /// How many fields were found.
        found: usize,
    },
    /// One field is wrong.
    #[error("invalid UPID {field} {value:?}: {reason}")]
    Field {
        /// The field.
        field: UpidField,
        /// The text of the field (cut to 64 characters).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl UpidError {
    /// The field that is wrong (`None` for a wrong number of fields).
    pub fn field(&self) -> Option<UpidField> {
        match self {
            Self::FieldCount { .. } => None,
            Self::Field { field, .. } => Some(*field),
        }
    }

    fn field_err(field: UpidField, value: &str, reason: &'static str) -> Self {
        Self::Field {
            field,
            value: value.chars().take(64).collect(),
            reason,
        }
    }
}

impl From<UpidError> for ProtocolError {
    fn from(e: UpidError) -> Self {
        ProtocolError::MalformedUpid(e.to_string())
    }
}

impl From<UpidError> for InputError {
    fn from(e: UpidError) -> Self {
        InputError::Invalid {
            what: "UPID",
            reason: e.to_string(),
        }
    }
}

/// A parsed task id. Equality, ordering and hashing follow the exact text.
#[derive(Clone)]
pub struct Upid {
    raw: String,
    flavor: UpidFlavor,
    node: String,
    pid: u32,
    pstart: u64,
    task_id: Option<u64>,
    start_time: u64,
    task_type: String,
    id_raw: String,
    id: String,
    user: String,
    trailing: String,
}

impl Upid {
    /// Parse a UPID (same as [`str::parse`]).
    pub fn parse(s: &str) -> Result<Self, UpidError> {
        let parts: Vec<&str> = s.split(':').collect();
        let flavor = match parts.len() {
            9 => UpidFlavor::Pve,
            10 => UpidFlavor::Pbs,
            found => {
                // A wrong prefix is the more useful message for things that are not UPIDs at all.
                if parts.first().is_some_and(|p| *p != "UPID") {
                    return Err(UpidError::field_err(
                        UpidField::Prefix,
                        parts.first().copied().unwrap_or(""),
                        "a UPID starts with \"UPID:\"",
                    ));
                }
                return Err(UpidError::FieldCount { found });
            }
        };
        let mut it = parts.into_iter();
        let mut next = || it.next().unwrap_or("");
        let prefix = next();
        if prefix != "UPID" {
            return Err(UpidError::field_err(
                UpidField::Prefix,
                prefix,
                "a UPID starts with \"UPID:\"",
            ));
        }
        let node = next();
        check_node(node)?;
        let pid = hex_field(UpidField::Pid, next(), 8, 8)?;
        let pid = u32::try_from(pid)
            .map_err(|_| UpidError::field_err(UpidField::Pid, "", "process id out of range"))?;
        let pstart = hex_field(UpidField::Pstart, next(), 8, 9)?;
        let task_id = match flavor {
            UpidFlavor::Pbs => Some(hex_field(UpidField::TaskId, next(), 8, 16)?),
            UpidFlavor::Pve => None,
        };
        let start_time = hex_field(UpidField::StartTime, next(), 8, 8)?;
        let task_type = next();
        check_text(UpidField::Type, task_type, false)?;
        let id_raw = next();
        check_text(UpidField::Id, id_raw, true)?;
        let id = match flavor {
            UpidFlavor::Pve => id_raw.to_owned(),
            UpidFlavor::Pbs => systemd_unescape(id_raw)?,
        };
        let user = next();
        check_text(UpidField::User, user, false)?;
        let trailing = next();
        check_text(UpidField::Trailing, trailing, true)?;
        Ok(Self {
            raw: s.to_owned(),
            flavor,
            node: node.to_owned(),
            pid,
            pstart,
            task_id,
            start_time,
            task_type: task_type.to_owned(),
            id_raw: id_raw.to_owned(),
            id,
            user: user.to_owned(),
            trailing: trailing.to_owned(),
        })
    }

    /// The exact text of the UPID.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// PVE/PMG or PBS shape.
    pub fn flavor(&self) -> UpidFlavor {
        self.flavor
    }

    /// The node that runs the task; status, log and cancel requests go to this node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The worker's process start time (clock ticks since boot).
    pub fn pstart(&self) -> u64 {
        self.pstart
    }

    /// The PBS task counter (`None` for PVE/PMG UPIDs).
    pub fn task_id(&self) -> Option<u64> {
        self.task_id
    }

    /// When the task started, in seconds since the Unix epoch.
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// The task type (`qmstart`, `vzdump`, `download`; PBS calls it the worker type).
    pub fn task_type(&self) -> &str {
        &self.task_type
    }

    /// The PBS name for [`Upid::task_type`].
    pub fn worker_type(&self) -> &str {
        &self.task_type
    }

    /// The task id as written in the UPID (systemd-escaped for PBS; may be empty).
    pub fn id_raw(&self) -> &str {
        &self.id_raw
    }

    /// The task id, decoded (PBS worker ids are systemd-unescaped: `\x2d` → `-`, `-` → `/`);
    /// for PVE/PMG the same as [`Upid::id_raw`].
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The user or API token that started the task, in full (`root@pam`, `root@pam!ci`).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The PBS name for [`Upid::user`].
    pub fn auth_id(&self) -> &str {
        &self.user
    }

    /// The user without a token name (`root@pam` for `root@pam!ci`).
    pub fn user_without_token(&self) -> &str {
        self.user.split_once('!').map_or(&self.user, |(u, _)| u)
    }

    /// The API token name, if the task was started with a token.
    pub fn token_name(&self) -> Option<&str> {
        self.user.split_once('!').map(|(_, t)| t)
    }

    /// The text after the user's colon. Always empty in UPIDs written by the server; kept so
    /// that fixtures with text there round-trip.
    pub fn trailing(&self) -> &str {
        &self.trailing
    }

    /// `GET /nodes/{node}/tasks/{upid}/status`.
    pub fn status_call(&self) -> Result<Call, InputError> {
        Call::get(("nodes", self.node(), "tasks", self, "status"))
    }

    /// `GET /nodes/{node}/tasks/{upid}/log?start=..&limit=..`. `start` is a 0-based line
    /// offset; `limit` 0 asks for all lines; the server's default limit is 50.
    pub fn log_call(&self, start: u64, limit: u64) -> Result<Call, InputError> {
        Ok(Call::get(("nodes", self.node(), "tasks", self, "log"))?
            .param("start", start)
            .param("limit", limit))
    }

    /// `DELETE /nodes/{node}/tasks/{upid}`: ask the server to stop the task.
    pub fn cancel_call(&self) -> Result<Call, InputError> {
        Call::delete(("nodes", self.node(), "tasks", self))
    }
}

fn check_node(node: &str) -> Result<(), UpidError> {
    let ok = !node.is_empty()
        && node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !node.starts_with('-')
        && !node.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(UpidError::field_err(
            UpidField::Node,
            node,
            "a node name is letters, digits and inner '-'",
        ))
    }
}

fn hex_field(field: UpidField, s: &str, min: usize, max: usize) -> Result<u64, UpidError> {
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) || s.is_empty() {
        return Err(UpidError::field_err(field, s, "not a hexadecimal number"));
    }
    if s.len() < min || s.len() > max {
        let reason = match field {
            UpidField::Pstart => "expected 8 or 9 hexadecimal digits",
            UpidField::TaskId => "expected 8 to 16 hexadecimal digits",
            _ => "expected 8 hexadecimal digits",
        };
        return Err(UpidError::field_err(field, s, reason));
    }
    u64::from_str_radix(s, 16).map_err(|_| UpidError::field_err(field, s, "number out of range"))
}

fn check_text(field: UpidField, s: &str, may_be_empty: bool) -> Result<(), UpidError> {
    if s.is_empty() && !may_be_empty {
        return Err(UpidError::field_err(field, s, "must not be empty"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UpidError::field_err(
            field,
            s,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

/// Decode a systemd-escaped unit name part: `-` is `/`, `\xNN` is the byte `NN`.
fn systemd_unescape(s: &str) -> Result<String, UpidError> {
    let bad = |reason| UpidError::field_err(UpidField::Id, s, reason);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'-' => {
                out.push(b'/');
                i += 1;
            }
            b'\\' => {
                let (Some(b'x'), Some(&h), Some(&l)) =
                    (bytes.get(i + 1), bytes.get(i + 2), bytes.get(i + 3))
                else {
                    return Err(bad("bad systemd escape (expected \\xNN)"));
                };
                let (Some(h), Some(l)) = (hex_val(h), hex_val(l)) else {
                    return Err(bad("bad systemd escape (expected \\xNN)"));
                };
                out.push(h * 16 + l);
                i += 4;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad("escaped worker id is not UTF-8"))
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl FromStr for Upid {
    type Err = UpidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Upid {
    type Error = UpidError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Upid {
    type Error = UpidError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl fmt::Display for Upid {
    /// The exact text that was parsed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Upid({:?})", self.raw)
    }
}

impl AsRef<str> for Upid {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

impl PartialEq for Upid {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Upid {}

impl std::hash::Hash for Upid {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl PartialOrd for Upid {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Upid {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.raw.cmp(&other.raw)
    }
}

impl serde::Serialize for Upid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> serde::Deserialize<'de> for Upid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Upid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a UPID string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Upid, E> {
                Upid::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pve_fields() {
        let u = Upid::parse("UPID:node:000CFC5C:03E8D0C3:6194806C:aptupdate::root@pam:").unwrap();
        assert_eq!(u.flavor(), UpidFlavor::Pve);
        assert_eq!(u.pid(), 851036);
        assert_eq!(u.pstart(), 65589443);
        assert_eq!(u.start_time(), 1637122156);
        assert_eq!(u.task_id(), None);
        assert_eq!(u.id(), "");
        assert_eq!(u.trailing(), "");
        assert_eq!(u.token_name(), None);
        assert_eq!(u.user_without_token(), "root@pam");
    }

    #[test]
    fn nine_digit_pstart_and_lowercase_hex() {
        let u = Upid::parse("UPID:pve:000abcde:1ffffffff:65000000:qmstart:100:root@pam:").unwrap();
        assert_eq!(u.pstart(), 0x1_ffff_ffff);
        assert_eq!(u.pid(), 0xabcde);
    }

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&str, Option<UpidField>)] = &[
            ("", Some(UpidField::Prefix)),
            ("not-a-upid", Some(UpidField::Prefix)),
            ("UPID:a:b", None),
            (
                "upid:pve:00000001:00000001:00000001:t:i:u@pam:",
                Some(UpidField::Prefix),
            ),
            (
                "UPID::00000001:00000001:00000001:t:i:u@pam:",
                Some(UpidField::Node),
            ),
            (
                "UPID:-pve:00000001:00000001:00000001:t:i:u@pam:",
                Some(UpidField::Node),
            ),
            (
                "UPID:p_ve:00000001:00000001:00000001:t:i:u@pam:",
                Some(UpidField::Node),
            ),
            (
                "UPID:pve:0000001:00000001:00000001:t:i:u@pam:",
                Some(UpidField::Pid),
            ),
            (
                "UPID:pve:+0000001:00000001:00000001:t:i:u@pam:",
                Some(UpidField::Pid),
            ),
            (
                "UPID:pve:00000001:0000001:00000001:t:i:u@pam:",
                Some(UpidField::Pstart),
            ),
            (
                "UPID:pve:00000001:0000000001:00000001:t:i:u@pam:",
                Some(UpidField::Pstart),
            ),
            (
                "UPID:pve:00000001:00000001:0000000g:t:i:u@pam:",
                Some(UpidField::StartTime),
            ),
            (
                "UPID:pve:00000001:00000001:00000001::i:u@pam:",
                Some(UpidField::Type),
            ),
            (
                "UPID:pve:00000001:00000001:00000001:t:i x:u@pam:",
                Some(UpidField::Id),
            ),
            (
                "UPID:pve:00000001:00000001:00000001:t:i::",
                Some(UpidField::User),
            ),
            (
                "UPID:pve:00000001:00000001:00000001:t:i:u@pam:a\nb",
                Some(UpidField::Trailing),
            ),
            (
                "UPID:pbs:00000001:00000001:0000001:00000001:t:i:u@pam:",
                Some(UpidField::TaskId),
            ),
            (
                r"UPID:pbs:00000001:00000001:00000001:00000001:t:a\x2:u@pam:",
                Some(UpidField::Id),
            ),
            (
                r"UPID:pbs:00000001:00000001:00000001:00000001:t:a\xff:u@pam:",
                Some(UpidField::Id),
            ),
            (
                "UPID:pbs:00000001:00000001:00000001:00000001:t:i:u@pam::",
                None,
            ),
        ];
        for (s, field) in cases {
            let e = Upid::parse(s).unwrap_err();
            assert_eq!(e.field(), *field, "{s:?}: {e}");
            if let Some(f) = field {
                assert!(e.to_string().contains(&f.to_string()), "{e}");
            }
        }
    }

    #[test]
    fn pbs_unescape() {
        let u = Upid::parse(
            r"UPID:pbs:000004D2:0001E240:00000010:65000000:backup:store\x3avm-100:root@pam!tok:",
        )
        .unwrap();
        assert_eq!(u.id(), "store:vm/100");
        assert_eq!(u.auth_id(), "root@pam!tok");
        assert_eq!(u.worker_type(), "backup");
        assert_eq!(u.task_id(), Some(16));
    }

    #[test]
    fn calls() {
        let u =
            Upid::parse("UPID:pve1:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam!ci:").unwrap();
        let c = u.cancel_call().unwrap();
        assert_eq!(c.method, crate::Method::Delete);
        assert_eq!(
            c.path.to_string(),
            "/nodes/pve1/tasks/UPID:pve1:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam!ci:"
        );
        let c = u.log_call(50, 50).unwrap();
        assert_eq!(c.method, crate::Method::Get);
        assert!(c.path.to_string().ends_with(":/log"));
        assert_eq!(c.params.to_form(), "start=50&limit=50");
    }

    #[test]
    fn serde_string() {
        let s = "UPID:pve:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam:";
        let u: Upid = serde_json::from_str(&format!("{s:?}")).unwrap();
        assert_eq!(serde_json::to_string(&u).unwrap(), format!("{s:?}"));
        assert!(serde_json::from_str::<Upid>("\"UPID:x\"").is_err());
        assert!(serde_json::from_str::<Upid>("12").is_err());
    }
}
