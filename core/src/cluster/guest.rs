//! Finding a guest: which node a VM or container runs on, from `GET /cluster/resources`, and
//! whether an answer says it is not on the node a call went to (it migrated).

use crate::error::{Error, InputError};
use crate::path::ApiPath;
use crate::response::parse_data;

/// A VM or a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuestKind {
    /// A QEMU VM (`/nodes/{n}/qemu/{vmid}`).
    Qemu,
    /// An LXC container (`/nodes/{n}/lxc/{vmid}`).
    Lxc,
}

impl GuestKind {
    /// The path segment: `qemu` or `lxc`.
    pub fn segment(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }
}

/// Where a guest is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuestLocation {
    /// Its id.
    pub vmid: u32,
    /// The node it is on.
    pub node: String,
    /// VM or container.
    pub kind: GuestKind,
}

impl GuestLocation {
    /// Find guest `vmid` in the `data` of `GET /cluster/resources` (any `type` filter that
    /// keeps guests); `None` when it is not listed (no such guest, or the user may not see it).
    ///
    /// ```
    /// use proxmox_proto::cluster::{GuestKind, GuestLocation};
    /// let data = br#"[{"id":"node/pve1","type":"node","node":"pve1"},
    ///                 {"id":"lxc/101","type":"lxc","vmid":"101","node":"pve2"}]"#;
    /// let at = GuestLocation::find(data, 101).unwrap().unwrap();
    /// assert_eq!((at.node.as_str(), at.kind), ("pve2", GuestKind::Lxc));
    /// assert_eq!(GuestLocation::find(data, 100).unwrap(), None);
    /// ```
    pub fn find(resources: &[u8], vmid: u32) -> Result<Option<Self>, Error> {
        let list: Vec<crate::models::ClusterResource> = parse_data(200, None, &wrap(resources))?;
        Ok(Self::find_in(list, vmid))
    }

    /// Find guest `vmid` in a listing of `/cluster/resources`.
    pub fn find_in(
        list: impl IntoIterator<Item = crate::models::ClusterResource>,
        vmid: u32,
    ) -> Option<Self> {
        list.into_iter().find_map(|r| {
            let kind = match r.kind {
                crate::models::ResourceKind::Qemu => GuestKind::Qemu,
                crate::models::ResourceKind::Lxc => GuestKind::Lxc,
                _ => return None,
            };
            (r.vmid == Some(vmid)).then_some(())?;
            Some(Self {
                vmid,
                node: r.node?,
                kind,
            })
        })
    }

    /// The path of `rest` (relative, e.g. `status/current`) below this guest:
    /// `nodes/{node}/{qemu|lxc}/{vmid}/{rest}`.
    ///
    /// ```
    /// use proxmox_proto::cluster::{GuestKind, GuestLocation};
    /// use proxmox_proto::ApiPath;
    /// let at = GuestLocation { vmid: 100, node: "pve3".into(), kind: GuestKind::Qemu };
    /// let p = at.path(&ApiPath::parse("status/current").unwrap()).unwrap();
    /// assert_eq!(p.encoded(), "/nodes/pve3/qemu/100/status/current");
    /// ```
    pub fn path(&self, rest: &ApiPath) -> Result<ApiPath, InputError> {
        Ok(ApiPath::root()
            .literal("nodes")?
            .value(&self.node)?
            .literal(self.kind.segment())?
            .value(self.vmid)?
            .join(rest))
    }
}

/// `{"data": …}` around a bare `data`, for the envelope parser.
fn wrap(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 9);
    v.extend_from_slice(b"{\"data\":");
    v.extend_from_slice(data);
    v.push(b'}');
    v
}

/// Whether `error` says guest `vmid`'s configuration is not on the node asked: what
/// pve-guest-common's `PVE/AbstractConfig.pm` (`load_config`) dies with, `Configuration file
/// 'nodes/{node}/qemu-server/{vmid}.conf' does not exist` (`lxc/{vmid}.conf` for a
/// container), as a 500. The API handlers of qemu-server (`PVE/API2/Qemu.pm`) and
/// pve-container (`PVE/API2/LXC*.pm`) load the configuration before they change anything, so
/// the call did not run: it may go to the guest's new node.
///
/// ```
/// use proxmox_proto::cluster::guest_not_on_node;
/// use proxmox_proto::response::parse_data;
/// let e = parse_data::<serde_json::Value>(
///     500,
///     Some("Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist"),
///     b"{\"data\":null}",
/// )
/// .unwrap_err();
/// assert!(guest_not_on_node(&e, 100));
/// assert!(!guest_not_on_node(&e, 10));
/// ```
pub fn guest_not_on_node(error: &Error, vmid: u32) -> bool {
    let Some(api) = error.api() else {
        return false;
    };
    if api.status != 500 {
        return false;
    }
    let tail = format!("/{vmid}.conf' does not exist");
    std::iter::once(api.reason.as_str())
        .chain(api.message.as_deref())
        .any(|m| m.contains("Configuration file 'nodes/") && m.contains(&tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_errors_are_not_a_migration() {
        for (status, reason) in [
            (
                500,
                "Configuration file 'nodes/pve1/qemu-server/1000.conf' does not exist",
            ),
            (500, "VM 100 not running"),
            (
                404,
                "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist",
            ),
        ] {
            let e = parse_data::<serde_json::Value>(status, Some(reason), b"{\"data\":null}")
                .unwrap_err();
            assert!(!guest_not_on_node(&e, 100), "{status} {reason}");
        }
        let lxc = parse_data::<serde_json::Value>(
            500,
            Some("Configuration file 'nodes/pve2/lxc/100.conf' does not exist"),
            b"{\"data\":null}",
        )
        .unwrap_err();
        assert!(guest_not_on_node(&lxc, 100));
    }

    #[test]
    fn a_listing_without_the_guest_or_with_odd_entries_finds_nothing() {
        let data = br#"[{"id":"storage/pve1/local","type":"storage","node":"pve1"},
                        {"id":"qemu/100","type":"qemu","vmid":100}]"#;
        assert_eq!(
            GuestLocation::find(data, 100).unwrap(),
            None,
            "no node: not found"
        );
        assert!(GuestLocation::find(b"{}", 100).is_err());
    }
}
