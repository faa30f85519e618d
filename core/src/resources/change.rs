//! What changed in the cluster between two snapshots.

use crate::models::{ClusterResource, ResourceKind, ResourceStatus};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// One change between two `/cluster/resources` snapshots, in the order the newer snapshot
/// lists its resources (removals last, by id). A resource whose type the model does not know
/// is reported too ([`Added`](Self::Added), [`Removed`](Self::Removed),
/// [`StatusChanged`](Self::StatusChanged)), never dropped.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResourceChange {
    /// A resource appeared (a guest created, a storage added, a node joined, ...).
    Added(Box<ClusterResource>),
    /// A resource is gone (a guest destroyed, ...): its last known state.
    Removed(Box<ClusterResource>),
    /// A guest's status changed (`stopped` → `running`, ...).
    GuestStatus {
        /// `qemu/100`, `lxc/101`.
        id: String,
        /// The guest id.
        vmid: Option<u32>,
        /// Before.
        from: Option<ResourceStatus>,
        /// Now.
        to: Option<ResourceStatus>,
    },
    /// A guest now lives on another node.
    Migrated {
        /// `qemu/100`, `lxc/101`.
        id: String,
        /// The guest id.
        vmid: Option<u32>,
        /// The node it was on.
        from: Option<String>,
        /// The node it is on now.
        to: Option<String>,
    },
    /// A node went online or offline (or its status changed otherwise).
    NodeStatus {
        /// `node/<name>`.
        id: String,
        /// The node's name.
        node: String,
        /// Before.
        from: Option<ResourceStatus>,
        /// Now.
        to: Option<ResourceStatus>,
    },
    /// A storage became available or not.
    StorageStatus {
        /// `storage/<node>/<storage>`.
        id: String,
        /// Before.
        from: Option<ResourceStatus>,
        /// Now.
        to: Option<ResourceStatus>,
    },
    /// The status of any other resource changed (pools, SDN, types the model does not know).
    StatusChanged {
        /// The resource id.
        id: String,
        /// Its type.
        kind: ResourceKind,
        /// Before.
        from: Option<ResourceStatus>,
        /// Now.
        to: Option<ResourceStatus>,
    },
    /// A guest's config lock was set, cleared or replaced (`backup`, `migrate`, ...).
    Lock {
        /// The resource id.
        id: String,
        /// Before (`None`: it was not locked).
        from: Option<String>,
        /// Now (`None`: the lock was cleared).
        to: Option<String>,
    },
    /// A guest's HA state changed, or a node's (`online`, `maintenance`, `fence`, ...:
    /// pve-manager `PVE/API2/Cluster.pm` sets `hastate` on node entries too).
    HaState {
        /// The resource id.
        id: String,
        /// Before (`None`: not HA-managed).
        from: Option<String>,
        /// Now (`None`: no longer HA-managed).
        to: Option<String>,
    },
}

impl ResourceChange {
    /// The id of the resource that changed.
    pub fn id(&self) -> &str {
        match self {
            Self::Added(r) | Self::Removed(r) => &r.id,
            Self::GuestStatus { id, .. }
            | Self::Migrated { id, .. }
            | Self::StorageStatus { id, .. }
            | Self::StatusChanged { id, .. }
            | Self::Lock { id, .. }
            | Self::HaState { id, .. }
            | Self::NodeStatus { id, .. } => id,
        }
    }

    /// The change's name as serialized (`added`, `removed`, `guest_status`, `migrated`,
    /// `node_status`, `storage_status`, `status_changed`, `lock`, `ha_state`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Added(_) => "added",
            Self::Removed(_) => "removed",
            Self::GuestStatus { .. } => "guest_status",
            Self::Migrated { .. } => "migrated",
            Self::NodeStatus { .. } => "node_status",
            Self::StorageStatus { .. } => "storage_status",
            Self::StatusChanged { .. } => "status_changed",
            Self::Lock { .. } => "lock",
            Self::HaState { .. } => "ha_state",
        }
    }
}

impl std::fmt::Display for ResourceChange {
    /// One line: `+ qemu/100 (running on pve1)`, `qemu/100 stopped -> running`, ...
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
            v.as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string)
        }
        match self {
            Self::Added(r) => write!(
                f,
                "+ {} ({} on {})",
                r.id,
                opt(&r.status),
                r.node.as_deref().unwrap_or("-")
            ),
            Self::Removed(r) => write!(f, "- {}", r.id),
            Self::GuestStatus { id, from, to, .. }
            | Self::NodeStatus {
                node: id, from, to, ..
            }
            | Self::StorageStatus { id, from, to }
            | Self::StatusChanged { id, from, to, .. } => {
                write!(f, "{id} {} -> {}", opt(from), opt(to))
            }
            Self::Migrated { id, from, to, .. } => {
                write!(f, "{id} migrated {} -> {}", opt(from), opt(to))
            }
            Self::Lock { id, from, to } => write!(f, "{id} lock {} -> {}", opt(from), opt(to)),
            Self::HaState { id, from, to } => {
                write!(f, "{id} HA {} -> {}", opt(from), opt(to))
            }
        }
    }
}

impl Serialize for ResourceChange {
    /// An object with `change` (see [`ResourceChange::name`]) and `id`; `from`/`to` for the
    /// changes that have them; for `added`/`removed`, the resource's `type`, `node`, `status`,
    /// `vmid` and `name`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("change", self.name())?;
        m.serialize_entry("id", self.id())?;
        match self {
            Self::Added(r) | Self::Removed(r) => {
                m.serialize_entry("type", &r.kind)?;
                m.serialize_entry("node", &r.node)?;
                m.serialize_entry("status", &r.status)?;
                m.serialize_entry("vmid", &r.vmid)?;
                m.serialize_entry("name", &r.name)?;
            }
            Self::GuestStatus { vmid, from, to, .. } => {
                m.serialize_entry("vmid", vmid)?;
                m.serialize_entry("from", from)?;
                m.serialize_entry("to", to)?;
            }
            Self::Migrated { vmid, from, to, .. } => {
                m.serialize_entry("vmid", vmid)?;
                m.serialize_entry("from", from)?;
                m.serialize_entry("to", to)?;
            }
            Self::NodeStatus { node, from, to, .. } => {
                m.serialize_entry("node", node)?;
                m.serialize_entry("from", from)?;
                m.serialize_entry("to", to)?;
            }
            Self::StorageStatus { from, to, .. } => {
                m.serialize_entry("from", from)?;
                m.serialize_entry("to", to)?;
            }
            Self::StatusChanged { kind, from, to, .. } => {
                m.serialize_entry("type", kind)?;
                m.serialize_entry("from", from)?;
                m.serialize_entry("to", to)?;
            }
            Self::Lock { from, to, .. } | Self::HaState { from, to, .. } => {
                m.serialize_entry("from", from)?;
                m.serialize_entry("to", to)?;
            }
        }
        m.end()
    }
}
