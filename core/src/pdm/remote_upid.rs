//! A task on a PDM remote: `<pve|pbs>:<remote>!<native UPID>` (proxmox-datacenter-manager
//! `lib/pdm-api-types/src/remote_upid.rs`; the older `<remote>!<native UPID>`, whose kind comes
//! from the UPID's shape, is read too).

use crate::IntoApiPath;
use crate::call::Call;
use crate::error::InputError;
use crate::upid::{Upid, UpidError, UpidFlavor};
use std::fmt;
use std::str::FromStr;

/// The kind of a PDM remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemoteKind {
    /// A PVE cluster or node.
    Pve,
    /// A Proxmox Backup Server.
    Pbs,
}

impl RemoteKind {
    /// `pve` or `pbs`, as PDM writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pve => "pve",
            Self::Pbs => "pbs",
        }
    }
}

impl fmt::Display for RemoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a string is not a remote UPID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteUpidError {
    /// No `!` between the remote and the UPID.
    #[error("a remote UPID is '<pve|pbs>:<remote>!UPID:…'; {0:?} has no '!'")]
    NoSeparator(String),
    /// The kind before the remote is neither `pve` nor `pbs`.
    #[error("unknown remote kind {0:?} in a remote UPID (pve or pbs)")]
    Kind(String),
    /// The remote id is not a PDM id (`[A-Za-z0-9_][A-Za-z0-9._-]*`).
    #[error(
        "invalid remote {0:?} in a remote UPID (letters, digits, '_', '.', '-'; not first '.' or '-')"
    )]
    Remote(String),
    /// The native UPID does not parse.
    #[error("invalid UPID in a remote UPID: {0}")]
    Upid(#[from] UpidError),
}

/// A task on a PDM remote. Shown as `<kind>:<remote>!<UPID>` (PDM's current form) whichever
/// form it was read from.
///
/// ```
/// use proxmox_proto::pdm::{RemoteKind, RemoteUpid};
///
/// let t: RemoteUpid = "pve:prod!UPID:pve1:00039E4D:002638B8:67B4A9D1:stopall::root@pam:".parse()?;
/// assert_eq!((t.kind(), t.remote(), t.upid().node()), (RemoteKind::Pve, "prod", "pve1"));
/// // The older form: the kind from the UPID's shape (PBS UPIDs have ten fields).
/// let old: RemoteUpid = "backup!UPID:pbs:000002B2:00000158:00000000:674D828C:logrotate::root@pam:".parse()?;
/// assert_eq!(old.kind(), RemoteKind::Pbs);
/// assert_eq!(old.to_string(), "pbs:backup!UPID:pbs:000002B2:00000158:00000000:674D828C:logrotate::root@pam:");
/// # Ok::<(), proxmox_proto::pdm::RemoteUpidError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteUpid {
    kind: RemoteKind,
    remote: String,
    upid: Upid,
}

impl RemoteUpid {
    /// A remote UPID from its parts (`remote` is checked as PDM checks it).
    pub fn new(kind: RemoteKind, remote: &str, upid: Upid) -> Result<Self, RemoteUpidError> {
        check_remote(remote)?;
        Ok(Self {
            kind,
            remote: remote.to_owned(),
            upid,
        })
    }

    /// The remote's kind.
    pub fn kind(&self) -> RemoteKind {
        self.kind
    }

    /// The remote's id in PDM.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// The task's UPID on the remote.
    pub fn upid(&self) -> &Upid {
        &self.upid
    }

    /// `GET /{pve|pbs}/remotes/{remote}/tasks/{remote upid}/status`: the task's status through
    /// PDM (proxmox-datacenter-manager `server/src/api/pve/tasks.rs`; the answer is the remote's
    /// own, as [`TaskStatus`](crate::task::TaskStatus) reads it).
    pub fn status_call(&self) -> Result<Call, InputError> {
        Call::get(self.task_path("status")?)
    }

    /// `GET …/tasks/{remote upid}/log?start=..&limit=..` through PDM (`start` 0-based).
    pub fn log_call(&self, start: u64, limit: u64) -> Result<Call, InputError> {
        Ok(Call::get(self.task_path("log")?)?
            .param("start", start)
            .param("limit", limit))
    }

    /// `DELETE /{pve|pbs}/remotes/{remote}/tasks/{remote upid}`: stop the task through PDM.
    pub fn cancel_call(&self) -> Result<Call, InputError> {
        let shown = self.to_string();
        Call::delete((
            self.kind.as_str(),
            "remotes",
            self.remote.as_str(),
            "tasks",
            shown.as_str(),
        ))
    }

    fn task_path(&self, last: &str) -> Result<crate::ApiPath, InputError> {
        let shown = self.to_string();
        (
            self.kind.as_str(),
            "remotes",
            self.remote.as_str(),
            "tasks",
            shown.as_str(),
            last,
        )
            .into_api_path()
    }
}

/// PDM's remote ids are `SAFE_ID`s (proxmox-schema): `[A-Za-z0-9_][A-Za-z0-9._-]*`.
fn check_remote(remote: &str) -> Result<(), RemoteUpidError> {
    let mut bytes = remote.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        Ok(())
    } else {
        Err(RemoteUpidError::Remote(remote.chars().take(64).collect()))
    }
}

impl FromStr for RemoteUpid {
    type Err = RemoteUpidError;

    fn from_str(s: &str) -> Result<Self, RemoteUpidError> {
        // The first '!' ends the remote part (a remote id has none; a token's UPID may).
        let (head, upid) = s
            .split_once('!')
            .ok_or_else(|| RemoteUpidError::NoSeparator(s.chars().take(64).collect()))?;
        let upid: Upid = upid.parse()?;
        let (kind, remote) = match head.split_once(':') {
            Some(("pve", remote)) => (RemoteKind::Pve, remote),
            Some(("pbs", remote)) => (RemoteKind::Pbs, remote),
            Some((other, _)) => {
                return Err(RemoteUpidError::Kind(other.chars().take(16).collect()));
            }
            None => match upid.flavor() {
                UpidFlavor::Pbs => (RemoteKind::Pbs, head),
                _ => (RemoteKind::Pve, head),
            },
        };
        Self::new(kind, remote, upid)
    }
}

impl fmt::Display for RemoteUpid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}!{}", self.kind, self.remote, self.upid)
    }
}

impl serde::Serialize for RemoteUpid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RemoteUpid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PVE: &str = "UPID:pve:00039E4D:002638B8:67B4A9D1:stopall::root@pam:";
    const PBS: &str = "UPID:pbs:000002B2:00000158:00000000:674D828C:logrotate::root@pam:";

    #[test]
    fn both_forms_and_the_errors() {
        let t: RemoteUpid = format!("pve:pve-remote!{PVE}").parse().unwrap();
        assert_eq!((t.kind(), t.remote()), (RemoteKind::Pve, "pve-remote"));
        assert_eq!(t.upid().as_str(), PVE);
        assert_eq!(t.to_string(), format!("pve:pve-remote!{PVE}"));
        let old: RemoteUpid = format!("pve-remote!{PVE}").parse().unwrap();
        assert_eq!(old, t);
        let b: RemoteUpid = format!("pbs-remote!{PBS}").parse().unwrap();
        assert_eq!(b.kind(), RemoteKind::Pbs);
        // A token's task: the UPID holds a '!' of its own.
        let tok = "UPID:pve:00039E4D:002638B8:67B4A9D1:qmstart:100:root@pam!ci:";
        let t: RemoteUpid = format!("pve:r1!{tok}").parse().unwrap();
        assert_eq!(t.upid().user(), "root@pam!ci");
        assert!(matches!(
            PVE.parse::<RemoteUpid>(),
            Err(RemoteUpidError::NoSeparator(_))
        ));
        assert!(matches!(
            format!("pmg:r!{PVE}").parse::<RemoteUpid>(),
            Err(RemoteUpidError::Kind(_))
        ));
        assert!(matches!(
            format!("pve:-r!{PVE}").parse::<RemoteUpid>(),
            Err(RemoteUpidError::Remote(_))
        ));
        assert!(matches!(
            format!("pve:!{PVE}").parse::<RemoteUpid>(),
            Err(RemoteUpidError::Remote(_))
        ));
        assert!(matches!(
            "pve:r!UPID:x".parse::<RemoteUpid>(),
            Err(RemoteUpidError::Upid(_))
        ));
        let e = "pve:a/b!UPID:pve:00039E4D:002638B8:67B4A9D1:stopall::root@pam:"
            .parse::<RemoteUpid>()
            .unwrap_err();
        assert!(e.to_string().contains("\"a/b\""), "{e}");
        assert_eq!(
            t.status_call().unwrap().path.to_string(),
            format!("/pve/remotes/r1/tasks/pve:r1!{tok}/status")
        );
        assert_eq!(
            b.log_call(0, 50).unwrap().params.to_form(),
            "start=0&limit=50"
        );
        assert!(
            b.cancel_call()
                .unwrap()
                .path
                .to_string()
                .starts_with("/pbs/remotes/pbs-remote/tasks/pbs:")
        );
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<RemoteUpid>(&json).unwrap(), t);
    }
}
