//! Typed models of the endpoints that dominate real traffic, and a fast list parser.
//!
//! | model | endpoint (`GET`) |
//! |---|---|
//! | [`ClusterResource`] | `/cluster/resources` |
//! | [`NodeListEntry`] | `/nodes` |
//! | [`QemuListEntry`], [`LxcListEntry`] | `/nodes/{node}/qemu`, `/nodes/{node}/lxc` |
//! | [`QemuStatus`], [`LxcStatus`] | `/nodes/{node}/{qemu,lxc}/{vmid}/status/current` |
//! | [`QemuConfig`] | `/nodes/{node}/qemu/{vmid}/config` (the common keys; disks, NICs... in `extra`) |
//! | [`TaskListEntry`] | `/nodes/{node}/tasks`, `/cluster/tasks` |
//! | [`crate::task::TaskStatus`] (in the task module) | `/nodes/{node}/tasks/{upid}/status` |
//! | [`StorageContentEntry`] | `/nodes/{node}/storage/{storage}/content` |
//! | [`VersionInfo`] | `/version` |
//!
//! # Leniency
//!
//! Every field is read with [`crate::loose`]: numbers may come as strings, booleans as `0`/`1`/
//! `"1"`, qemu `memory` as an integer or a property string. Only the fields that identify an
//! entry (and that PVE always sends) are required; every other field is an `Option`, `None`
//! when missing or `null`. Status values are enums with an `Other(String)` fallback, so a new
//! state never breaks parsing. A key given twice: the last one wins.
//!
//! # Unknown fields are kept, cheaply
//!
//! Fields the model does not know land in `extra` (a `serde_json::Map`) rather than being
//! rejected or dropped, so a newer server's additions survive a read-modify-write. The models
//! implement `Deserialize` by hand (through one macro) instead of `#[derive]` with
//! `#[serde(flatten)] extra`: known keys are matched without allocating and read straight into
//! the result, and only unknown keys pay for a `serde_json::Value`, so with no unknown keys (the
//! common case) keeping them costs nothing. The macro reads as fast as a derived struct, with or
//! without a flattened `extra` (the figures, from `core/benches/parse.rs`, are in
//! `BENCHMARKS.md` under "Typed models: the macro against derive"); it was kept because one
//! declaration gives every field the lenient reader, makes a field required exactly when its
//! type is not an `Option`, accepts key aliases, and serializes without `null`s or duplicate
//! keys. `serde_json`'s `raw_value` feature is not needed.
//!
//! Serialization writes the known fields that are set (JSON key names as PVE spells them),
//! then `extra`.
//!
//! # The fast path
//!
//! [`parse_list`] and [`parse_single`] read the `{"data": ...}` envelope straight from the
//! bytes, without building a `serde_json::Value`:
//!
//! ```
//! use proxmox_proto::models::{parse_list, ClusterResource, ResourceKind, ResourceStatus};
//! let body = br#"{"data":[
//!   {"id":"qemu/100","type":"qemu","vmid":100,"name":"web","node":"pve1","status":"running",
//!    "maxmem":"2147483648","cpu":0.02,"template":0,"newfield":[1]},
//!   {"id":"node/pve1","type":"node","node":"pve1","status":"online","cgroup-mode":2}
//! ]}"#;
//! let list: Vec<ClusterResource> = parse_list(body).unwrap();
//! assert_eq!(list[0].kind, ResourceKind::Qemu);
//! assert_eq!(list[0].vmid, Some(100));
//! assert_eq!(list[0].maxmem, Some(2 << 30));
//! assert_eq!(list[0].template, Some(false));
//! assert_eq!(list[0].status, Some(ResourceStatus::Running));
//! assert_eq!(list[0].extra["newfield"], serde_json::json!([1]));
//! assert_eq!(list[1].kind, ResourceKind::Node);
//! assert_eq!(list[1].cgroup_mode, Some(2));
//! ```
//!
//! These functions expect the body of a successful (2xx) answer. To turn any status into a
//! typed error as well, use [`crate::response::parse_data`] with the same model types: they
//! read just as fast there.

use crate::error::{Error, ProtocolError, sanitize_text, snippet};
use crate::loose::{Loose, LooseField, QemuMemory};
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// Defines a model struct with a hand-written lenient `Deserialize` (known keys matched without
/// allocation, unknown keys into `extra`) and a `Serialize` that writes set fields then `extra`.
///
/// Each field is `"json-key" [| "alias"...] => name: Type,`; the first key is the one written.
/// Required fields are the ones whose type is not an `Option`.
macro_rules! model {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $json:literal $(| $alias:literal)* => $field:ident : $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
            /// Fields this model does not know, as the server sent them.
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $name {
            /// The JSON keys this model reads into named fields (aliases included).
            pub const KNOWN_KEYS: &'static [&'static str] = &[$($json, $($alias,)*)*];
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[allow(non_camel_case_types)]
                enum Field {
                    $($field,)*
                    Unknown(String),
                }

                #[allow(non_camel_case_types)]
                #[derive(Clone, Copy)]
                enum Index {
                    $($field,)*
                }

                const _: () = assert!([$($json),*].len() <= 64, "at most 64 fields per model");

                struct FieldVisitor;

                impl Visitor<'_> for FieldVisitor {
                    type Value = Field;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a field name")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                        Ok(match v {
                            $($json $(| $alias)* => Field::$field,)*
                            other => Field::Unknown(other.to_owned()),
                        })
                    }
                }

                impl<'de> Deserialize<'de> for Field {
                    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                        d.deserialize_identifier(FieldVisitor)
                    }
                }

                struct ModelVisitor;

                impl<'de> Visitor<'de> for ModelVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("an object (", stringify!($name), ")"))
                    }

                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        // Fields are written straight into the result (no per-field locals to
                        // move at the end); `seen` records which keys were present.
                        let mut out = $name::default();
                        let mut seen: u64 = 0;
                        while let Some(key) = map.next_key::<Field>()? {
                            match key {
                                $(Field::$field => {
                                    out.$field = map.next_value::<Loose<$ty>>()?.0;
                                    seen |= 1 << (Index::$field as u32);
                                })*
                                Field::Unknown(k) => {
                                    let v = map.next_value::<serde_json::Value>()?;
                                    out.extra.insert(k, v);
                                }
                            }
                        }
                        $(
                            if seen & (1 << (Index::$field as u32)) == 0 {
                                match <$ty as LooseField>::when_missing() {
                                    Some(v) => out.$field = v,
                                    None => return Err(de::Error::missing_field($json)),
                                }
                            }
                        )*
                        Ok(out)
                    }
                }

                deserializer.deserialize_map(ModelVisitor)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                $(
                    if !LooseField::is_absent(&self.$field) {
                        map.serialize_entry($json, &self.$field)?;
                    }
                )*
                for (k, v) in &self.extra {
                    if !Self::KNOWN_KEYS.contains(&k.as_str()) {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
        }

        impl LooseField for $name {
            fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::deserialize(d)
            }
        }
    };
}

/// Defines a string enum with an `Other(String)` fallback: never fails on a new value, and
/// writes back exactly what it read.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $text:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )*
            /// A value this version does not know, as sent.
            Other(String),
        }

        impl $name {
            /// The text as PVE writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(StrEnumVisitor::<$name>(PhantomData))
            }
        }

        impl LooseField for $name {
            fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::deserialize(d)
            }
        }
    };
}

struct StrEnumVisitor<T>(PhantomData<T>);

impl<T: for<'a> From<&'a str>> Visitor<'_> for StrEnumVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok(T::from(v))
    }
}

string_enum! {
    /// The `type` of a `cluster/resources` entry.
    pub enum ResourceKind {
        /// A cluster node.
        Node = "node",
        /// A storage on a node.
        Storage = "storage",
        /// A resource pool.
        Pool = "pool",
        /// A QEMU virtual machine.
        Qemu = "qemu",
        /// An LXC container.
        Lxc = "lxc",
        /// An OpenVZ container (PVE 3 and older).
        Openvz = "openvz",
        /// An SDN zone.
        Sdn = "sdn",
        /// A network entity (fabric or zone, PVE 9).
        Network = "network",
    }
}

impl Default for ResourceKind {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

string_enum! {
    /// The `status` of a `cluster/resources` entry; its meaning depends on the resource type.
    pub enum ResourceStatus {
        /// Guest running.
        Running = "running",
        /// Guest stopped.
        Stopped = "stopped",
        /// Node online.
        Online = "online",
        /// Node offline.
        Offline = "offline",
        /// Storage or SDN zone available.
        Available = "available",
        /// State not known (for example a guest on an unreachable node).
        Unknown = "unknown",
        /// SDN entity in order.
        Ok = "ok",
    }
}

string_enum! {
    /// The `status` of a guest (`running` or `stopped`; anything else is kept in `Other`).
    pub enum GuestStatus {
        /// The guest is running (see `qmpstatus` for paused/suspended VMs).
        Running = "running",
        /// The guest is stopped.
        Stopped = "stopped",
    }
}

impl Default for GuestStatus {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

string_enum! {
    /// The `status` of a node in `/nodes`.
    pub enum NodeStatus {
        /// Part of the quorate cluster and reachable.
        Online = "online",
        /// Not reachable.
        Offline = "offline",
        /// Not known.
        Unknown = "unknown",
    }
}

impl Default for NodeStatus {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

model! {
    /// One entry of `GET /cluster/resources`. Which fields are set depends on [`kind`](Self::kind).
    pub struct ClusterResource {
        /// Resource id: `qemu/100`, `lxc/101`, `node/pve1`, `storage/pve1/local`, `/pool/p` (with
        /// a leading slash: pve-manager `PVE/API2/Cluster.pm`), ...
        "id" => id: String,
        /// Resource type (`type` on the wire).
        "type" => kind: ResourceKind,
        /// Guest id (qemu, lxc).
        "vmid" => vmid: Option<u32>,
        /// Resource name (guests, ...).
        "name" => name: Option<String>,
        /// Node the resource lives on (node, storage, qemu, lxc).
        "node" => node: Option<String>,
        /// Type-dependent status.
        "status" => status: Option<ResourceStatus>,
        /// Memory available, bytes (node, guests).
        "maxmem" => maxmem: Option<u64>,
        /// Memory used, bytes (node, guests).
        "mem" => mem: Option<u64>,
        /// Memory used as seen by the host, bytes (guests, PVE 9).
        "memhost" => memhost: Option<u64>,
        /// CPUs available (node, guests; may be fractional with a CPU limit).
        "maxcpu" => maxcpu: Option<f64>,
        /// CPU utilisation, 0.0 to 1.0 per `maxcpu`.
        "cpu" => cpu: Option<f64>,
        /// Storage size / root disk size, bytes.
        "maxdisk" => maxdisk: Option<u64>,
        /// Storage / root disk space used, bytes.
        "disk" => disk: Option<u64>,
        /// Uptime, seconds (node, guests).
        "uptime" => uptime: Option<u64>,
        /// Network bytes received by the guest.
        "netin" => netin: Option<u64>,
        /// Network bytes sent by the guest.
        "netout" => netout: Option<u64>,
        /// Block device bytes read by the guest.
        "diskread" => diskread: Option<u64>,
        /// Block device bytes written by the guest.
        "diskwrite" => diskwrite: Option<u64>,
        /// Whether the guest is a template.
        "template" => template: Option<bool>,
        /// Guest tags, `;`-separated.
        "tags" => tags: Option<String>,
        /// The guest's config lock, if any.
        "lock" => lock: Option<String>,
        /// HA service state, for HA-managed guests.
        "hastate" => hastate: Option<String>,
        /// Pool name (pool, and guests in a pool).
        "pool" => pool: Option<String>,
        /// Storage id (storage).
        "storage" => storage: Option<String>,
        /// Allowed content types, comma-separated (storage).
        "content" => content: Option<String>,
        /// Whether the storage is shared (storage).
        "shared" => shared: Option<bool>,
        /// More specific type (storage plugin type, ...).
        "plugintype" => plugintype: Option<String>,
        /// Support subscription level (node).
        "level" => level: Option<String>,
        /// cgroup mode of the node (node).
        "cgroup-mode" => cgroup_mode: Option<u32>,
        /// SDN entity name (sdn).
        "sdn" => sdn: Option<String>,
        /// SDN zone type (sdn).
        "zone-type" => zone_type: Option<String>,
        /// Network entity name (network).
        "network" => network: Option<String>,
        /// Network type: `fabric` or `zone` (network).
        "network-type" => network_type: Option<String>,
        /// Fabric protocol (network).
        "protocol" => protocol: Option<String>,
    }
}

impl ClusterResource {
    /// Whether this is a QEMU VM or an LXC container.
    pub fn is_guest(&self) -> bool {
        matches!(self.kind, ResourceKind::Qemu | ResourceKind::Lxc)
    }
}

model! {
    /// One entry of `GET /nodes`.
    pub struct NodeListEntry {
        /// Node name.
        "node" => node: String,
        /// Online, offline or unknown.
        "status" => status: NodeStatus,
        /// Resource id (`node/<name>`).
        "id" => id: Option<String>,
        /// CPU utilisation, 0.0 to 1.0.
        "cpu" => cpu: Option<f64>,
        /// Number of CPUs.
        "maxcpu" => maxcpu: Option<u32>,
        /// Memory used, bytes.
        "mem" => mem: Option<u64>,
        /// Memory available, bytes.
        "maxmem" => maxmem: Option<u64>,
        /// Root file system used, bytes.
        "disk" => disk: Option<u64>,
        /// Root file system size, bytes.
        "maxdisk" => maxdisk: Option<u64>,
        /// Uptime, seconds.
        "uptime" => uptime: Option<u64>,
        /// Support subscription level.
        "level" => level: Option<String>,
        /// SHA-256 fingerprint of the node's certificate.
        "ssl_fingerprint" => ssl_fingerprint: Option<String>,
    }
}

model! {
    /// One entry of `GET /nodes/{node}/qemu`.
    pub struct QemuListEntry {
        /// Guest id.
        "vmid" => vmid: u32,
        /// Running or stopped.
        "status" => status: GuestStatus,
        /// VM name.
        "name" => name: Option<String>,
        /// CPU utilisation, 0.0 to 1.0 per `cpus`.
        "cpu" => cpu: Option<f64>,
        /// Usable CPUs.
        "cpus" => cpus: Option<f64>,
        /// Memory available, bytes.
        "maxmem" => maxmem: Option<u64>,
        /// Memory used, bytes.
        "mem" => mem: Option<u64>,
        /// Memory used as seen by the host, bytes.
        "memhost" => memhost: Option<u64>,
        /// Root disk size, bytes.
        "maxdisk" => maxdisk: Option<u64>,
        /// Root disk used, bytes (usually 0 for VMs).
        "disk" => disk: Option<u64>,
        /// Uptime, seconds.
        "uptime" => uptime: Option<u64>,
        /// Network bytes received.
        "netin" => netin: Option<u64>,
        /// Network bytes sent.
        "netout" => netout: Option<u64>,
        /// Block bytes read.
        "diskread" => diskread: Option<u64>,
        /// Block bytes written.
        "diskwrite" => diskwrite: Option<u64>,
        /// QEMU process id, when running.
        "pid" => pid: Option<u32>,
        /// QMP run state (`running`, `paused`, `prelaunch`, ...), with `full=1`.
        "qmpstatus" => qmpstatus: Option<String>,
        /// Machine type in use, when running.
        "running-machine" => running_machine: Option<String>,
        /// QEMU version in use, when running.
        "running-qemu" => running_qemu: Option<String>,
        /// Whether a serial device is configured.
        "serial" => serial: Option<bool>,
        /// Whether this is a template.
        "template" => template: Option<bool>,
        /// Tags, `;`-separated.
        "tags" => tags: Option<String>,
        /// Config lock, if any.
        "lock" => lock: Option<String>,
        /// CPU "some" pressure stall, last 10 s.
        "pressurecpusome" => pressurecpusome: Option<f64>,
        /// CPU "full" pressure stall, last 10 s.
        "pressurecpufull" => pressurecpufull: Option<f64>,
        /// IO "some" pressure stall, last 10 s.
        "pressureiosome" => pressureiosome: Option<f64>,
        /// IO "full" pressure stall, last 10 s.
        "pressureiofull" => pressureiofull: Option<f64>,
        /// Memory "some" pressure stall, last 10 s.
        "pressurememorysome" => pressurememorysome: Option<f64>,
        /// Memory "full" pressure stall, last 10 s.
        "pressurememoryfull" => pressurememoryfull: Option<f64>,
    }
}

model! {
    /// One entry of `GET /nodes/{node}/lxc`.
    pub struct LxcListEntry {
        /// Guest id.
        "vmid" => vmid: u32,
        /// Running or stopped.
        "status" => status: GuestStatus,
        /// Container name.
        "name" => name: Option<String>,
        /// Always `lxc` when present.
        "type" => kind: Option<String>,
        /// CPU utilisation, 0.0 to 1.0 per `cpus`.
        "cpu" => cpu: Option<f64>,
        /// Usable CPUs (may be fractional with a CPU limit).
        "cpus" => cpus: Option<f64>,
        /// Memory available, bytes.
        "maxmem" => maxmem: Option<u64>,
        /// Memory used, bytes.
        "mem" => mem: Option<u64>,
        /// Swap available, bytes.
        "maxswap" => maxswap: Option<u64>,
        /// Swap used, bytes.
        "swap" => swap: Option<u64>,
        /// Root disk size, bytes.
        "maxdisk" => maxdisk: Option<u64>,
        /// Root disk used, bytes.
        "disk" => disk: Option<u64>,
        /// Uptime, seconds.
        "uptime" => uptime: Option<u64>,
        /// Network bytes received.
        "netin" => netin: Option<u64>,
        /// Network bytes sent.
        "netout" => netout: Option<u64>,
        /// Block bytes read.
        "diskread" => diskread: Option<u64>,
        /// Block bytes written.
        "diskwrite" => diskwrite: Option<u64>,
        /// Whether this is a template.
        "template" => template: Option<bool>,
        /// Tags, `;`-separated.
        "tags" => tags: Option<String>,
        /// Config lock, if any.
        "lock" => lock: Option<String>,
        /// CPU "some" pressure stall, last 10 s.
        "pressurecpusome" => pressurecpusome: Option<f64>,
        /// IO "some" pressure stall, last 10 s.
        "pressureiosome" => pressureiosome: Option<f64>,
        /// IO "full" pressure stall, last 10 s.
        "pressureiofull" => pressureiofull: Option<f64>,
        /// Memory "some" pressure stall, last 10 s.
        "pressurememorysome" => pressurememorysome: Option<f64>,
        /// Memory "full" pressure stall, last 10 s.
        "pressurememoryfull" => pressurememoryfull: Option<f64>,
    }
}

model! {
    /// The `ha` member of a guest's `status/current`.
    pub struct HaStatus {
        /// Whether the HA manager manages this guest.
        "managed" => managed: Option<bool>,
        /// Requested HA state (`started`, `stopped`, `disabled`, `ignored`).
        "state" => state: Option<String>,
        /// HA group, if any.
        "group" => group: Option<String>,
        /// Maximal number of relocations.
        "max_relocate" => max_relocate: Option<u32>,
        /// Maximal number of restarts.
        "max_restart" => max_restart: Option<u32>,
    }
}

model! {
    /// `GET /nodes/{node}/qemu/{vmid}/status/current`.
    pub struct QemuStatus {
        /// Guest id.
        "vmid" => vmid: u32,
        /// Running or stopped.
        "status" => status: GuestStatus,
        /// QMP run state (`running`, `paused`, `prelaunch`, `suspended`, ...).
        "qmpstatus" => qmpstatus: Option<String>,
        /// VM name.
        "name" => name: Option<String>,
        /// HA state.
        "ha" => ha: Option<HaStatus>,
        /// Whether the guest agent is enabled in the config.
        "agent" => agent: Option<bool>,
        /// CPU utilisation, 0.0 to 1.0 per `cpus`.
        "cpu" => cpu: Option<f64>,
        /// Usable CPUs.
        "cpus" => cpus: Option<f64>,
        /// Memory available, bytes.
        "maxmem" => maxmem: Option<u64>,
        /// Memory used, bytes.
        "mem" => mem: Option<u64>,
        /// Memory used as seen by the host, bytes.
        "memhost" => memhost: Option<u64>,
        /// Current balloon size, bytes.
        "balloon" => balloon: Option<u64>,
        /// Root disk size, bytes.
        "maxdisk" => maxdisk: Option<u64>,
        /// Root disk used, bytes.
        "disk" => disk: Option<u64>,
        /// Uptime, seconds.
        "uptime" => uptime: Option<u64>,
        /// Network bytes received.
        "netin" => netin: Option<u64>,
        /// Network bytes sent.
        "netout" => netout: Option<u64>,
        /// Block bytes read.
        "diskread" => diskread: Option<u64>,
        /// Block bytes written.
        "diskwrite" => diskwrite: Option<u64>,
        /// QEMU process id, when running.
        "pid" => pid: Option<u32>,
        /// Machine type in use.
        "running-machine" => running_machine: Option<String>,
        /// QEMU version in use.
        "running-qemu" => running_qemu: Option<String>,
        /// Whether the display supports SPICE.
        "spice" => spice: Option<bool>,
        /// Whether a serial device is configured.
        "serial" => serial: Option<bool>,
        /// Clipboard kind (`vnc`), if enabled.
        "clipboard" => clipboard: Option<String>,
        /// Whether this is a template.
        "template" => template: Option<bool>,
        /// Tags, `;`-separated.
        "tags" => tags: Option<String>,
        /// Config lock, if any.
        "lock" => lock: Option<String>,
        /// CPU "some" pressure stall, last 10 s.
        "pressurecpusome" => pressurecpusome: Option<f64>,
        /// CPU "full" pressure stall, last 10 s.
        "pressurecpufull" => pressurecpufull: Option<f64>,
        /// IO "some" pressure stall, last 10 s.
        "pressureiosome" => pressureiosome: Option<f64>,
        /// IO "full" pressure stall, last 10 s.
        "pressureiofull" => pressureiofull: Option<f64>,
        /// Memory "some" pressure stall, last 10 s.
        "pressurememorysome" => pressurememorysome: Option<f64>,
        /// Memory "full" pressure stall, last 10 s.
        "pressurememoryfull" => pressurememoryfull: Option<f64>,
    }
}

model! {
    /// `GET /nodes/{node}/lxc/{vmid}/status/current`.
    pub struct LxcStatus {
        /// Guest id.
        "vmid" => vmid: u32,
        /// Running or stopped.
        "status" => status: GuestStatus,
        /// Container name.
        "name" => name: Option<String>,
        /// Always `lxc` when present.
        "type" => kind: Option<String>,
        /// HA state.
        "ha" => ha: Option<HaStatus>,
        /// CPU utilisation, 0.0 to 1.0 per `cpus`.
        "cpu" => cpu: Option<f64>,
        /// Usable CPUs.
        "cpus" => cpus: Option<f64>,
        /// Memory available, bytes.
        "maxmem" => maxmem: Option<u64>,
        /// Memory used, bytes.
        "mem" => mem: Option<u64>,
        /// Swap available, bytes.
        "maxswap" => maxswap: Option<u64>,
        /// Swap used, bytes.
        "swap" => swap: Option<u64>,
        /// Root disk size, bytes.
        "maxdisk" => maxdisk: Option<u64>,
        /// Root disk used, bytes.
        "disk" => disk: Option<u64>,
        /// Uptime, seconds.
        "uptime" => uptime: Option<u64>,
        /// Network bytes received.
        "netin" => netin: Option<u64>,
        /// Network bytes sent.
        "netout" => netout: Option<u64>,
        /// Block bytes read.
        "diskread" => diskread: Option<u64>,
        /// Block bytes written.
        "diskwrite" => diskwrite: Option<u64>,
        /// Whether this is a template.
        "template" => template: Option<bool>,
        /// Tags, `;`-separated.
        "tags" => tags: Option<String>,
        /// Config lock, if any.
        "lock" => lock: Option<String>,
        /// CPU "some" pressure stall, last 10 s.
        "pressurecpusome" => pressurecpusome: Option<f64>,
        /// IO "some" pressure stall, last 10 s.
        "pressureiosome" => pressureiosome: Option<f64>,
        /// IO "full" pressure stall, last 10 s.
        "pressureiofull" => pressureiofull: Option<f64>,
        /// Memory "some" pressure stall, last 10 s.
        "pressurememorysome" => pressurememorysome: Option<f64>,
        /// Memory "full" pressure stall, last 10 s.
        "pressurememoryfull" => pressurememoryfull: Option<f64>,
    }
}

model! {
    /// The common keys of `GET /nodes/{node}/qemu/{vmid}/config`. Disks, NICs and every other
    /// key are in `extra`.
    pub struct QemuConfig {
        /// VM name.
        "name" => name: Option<String>,
        /// Memory: an integer up to PVE 8.0, `[current=]<int>` since PVE 8.1; both read here.
        "memory" => memory: Option<QemuMemory>,
        /// Balloon target, MiB (0 disables the balloon driver).
        "balloon" => balloon: Option<u64>,
        /// Cores per socket.
        "cores" => cores: Option<u32>,
        /// Sockets.
        "sockets" => sockets: Option<u32>,
        /// Hot-plugged vCPUs.
        "vcpus" => vcpus: Option<u32>,
        /// CPU limit (fractional CPUs).
        "cpulimit" => cpulimit: Option<f64>,
        /// Emulated CPU type (property string).
        "cpu" => cpu: Option<String>,
        /// Guest OS type.
        "ostype" => ostype: Option<String>,
        /// Machine type.
        "machine" => machine: Option<String>,
        /// BIOS (`seabios`, `ovmf`).
        "bios" => bios: Option<String>,
        /// Boot order (property string).
        "boot" => boot: Option<String>,
        /// Start at boot.
        "onboot" => onboot: Option<bool>,
        /// Guest agent settings (property string, `1` or `enabled=1,...`).
        "agent" => agent: Option<String>,
        /// NUMA enabled.
        "numa" => numa: Option<bool>,
        /// SCSI controller model.
        "scsihw" => scsihw: Option<String>,
        /// Hotplug features.
        "hotplug" => hotplug: Option<String>,
        /// Tags, `;`-separated.
        "tags" => tags: Option<String>,
        /// Whether this is a template.
        "template" => template: Option<bool>,
        /// Protection flag.
        "protection" => protection: Option<bool>,
        /// Config lock, if any.
        "lock" => lock: Option<String>,
        /// Description (notes).
        "description" => description: Option<String>,
        /// SHA-1 digest of the config file, for optimistic locking on updates.
        "digest" => digest: Option<String>,
    }
}

model! {
    /// One entry of `GET /nodes/{node}/tasks` or `GET /cluster/tasks`. The PBS spellings
    /// `worker_type` and `worker_id` are accepted as aliases of `type` and `id`.
    pub struct TaskListEntry {
        /// The task's UPID, as text (see [`TaskListEntry::parse_upid`]).
        "upid" => upid: String,
        /// Node the task runs on.
        "node" => node: String,
        /// Task type (`qmstart`, `vzdump`, ...).
        "type" | "worker_type" => task_type: String,
        /// Task id (often the vmid; may be empty).
        "id" | "worker_id" => id: String,
        /// User (or token) that started the task.
        "user" => user: String,
        /// Start time, epoch seconds.
        "starttime" => starttime: u64,
        /// End time, epoch seconds (finished tasks).
        "endtime" => endtime: Option<u64>,
        /// Exit status text of finished tasks (`OK`, `WARNINGS: 2`, an error message).
        "status" => status: Option<String>,
        /// Worker process id.
        "pid" => pid: Option<u32>,
        /// Process start time (jiffies).
        "pstart" => pstart: Option<u64>,
        /// Whether the task is saved in the active list (`/cluster/tasks`).
        "saved" => saved: Option<String>,
    }
}

impl TaskListEntry {
    /// Parse [`upid`](Self::upid).
    pub fn parse_upid(&self) -> Result<crate::Upid, crate::upid::UpidError> {
        crate::Upid::parse(&self.upid)
    }
}

model! {
    /// One entry of `GET /nodes/{node}/storage/{storage}/content`.
    pub struct StorageContentEntry {
        /// Volume id (`local:iso/debian.iso`, `local-lvm:vm-100-disk-0`).
        "volid" => volid: String,
        /// Content type (`iso`, `images`, `rootdir`, `vztmpl`, `backup`, `import`, `snippets`).
        "content" => content: Option<String>,
        /// Format (`raw`, `qcow2`, `subvol`, `iso`, `tgz`, `pbs-vm`, ...).
        "format" => format: Option<String>,
        /// Size, bytes.
        "size" => size: Option<u64>,
        /// Used space, bytes (few storages report it).
        "used" => used: Option<u64>,
        /// Owner guest id.
        "vmid" => vmid: Option<u32>,
        /// Creation time, epoch seconds.
        "ctime" => ctime: Option<u64>,
        /// Parent volume (linked clones).
        "parent" => parent: Option<String>,
        /// First line of the notes (backups).
        "notes" => notes: Option<String>,
        /// Whether the backup is protected.
        "protected" => protected: Option<bool>,
        /// Encryption key fingerprint, or `1` (backups).
        "encrypted" => encrypted: Option<String>,
        /// Backup guest type (`qemu`, `lxc`) where the storage reports it.
        "subtype" => subtype: Option<String>,
        /// Last verification result (PBS storages), as sent.
        "verification" => verification: Option<serde_json::Value>,
    }
}

model! {
    /// `GET /version`.
    pub struct VersionInfo {
        /// Full package version (`8.2.4`, `9.0.10`).
        "version" => version: String,
        /// Point release (`8.2`).
        "release" => release: Option<String>,
        /// Short git revision.
        "repoid" => repoid: Option<String>,
        /// Default console viewer.
        "console" => console: Option<String>,
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope fast path

/// Reads `{"data": T, ...}`: `data` into `T`, every sibling skipped without building values.
struct DataOnly<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for DataOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = DataOnly<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a response envelope {"data": ...}"#)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut data = None;
                while let Some(key) = map.next_key::<EnvelopeKey>()? {
                    match key {
                        EnvelopeKey::Data => data = map.next_value::<Option<T>>()?,
                        EnvelopeKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(DataOnly(data))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

enum EnvelopeKey {
    Data,
    Other,
}

impl<'de> Deserialize<'de> for EnvelopeKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EnvelopeKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvelopeKey, E> {
                Ok(if v == "data" {
                    EnvelopeKey::Data
                } else {
                    EnvelopeKey::Other
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

fn map_json_error<T>(e: &serde_json::Error, body: &[u8]) -> Error {
    use serde_json::error::Category;
    let detail = sanitize_text(&e.to_string());
    match e.classify() {
        Category::Data => ProtocolError::Deserialize {
            type_name: std::any::type_name::<T>(),
            detail,
        }
        .into(),
        _ if detail.contains("recursion limit exceeded") => {
            ProtocolError::TooDeep { limit: 128 }.into()
        }
        _ => ProtocolError::InvalidJson {
            detail,
            snippet: snippet(body, 64),
        }
        .into(),
    }
}

/// Read `T` from the `data` member of a success body, without an intermediate
/// `serde_json::Value`. Siblings (`total`, ...) are skipped; a missing or `null` `data` is
/// [`ProtocolError::Deserialize`]; bytes that are not one JSON document are
/// [`ProtocolError::InvalidJson`].
///
/// ```
/// use proxmox_proto::models::{parse_single, VersionInfo};
/// let v: VersionInfo = parse_single(br#"{"data":{"version":"8.2.4","release":"8.2","repoid":"faa83925"}}"#).unwrap();
/// assert_eq!(v.release.as_deref(), Some("8.2"));
/// ```
pub fn parse_single<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    match crate::response::json_from_bytes::<DataOnly<T>>(body) {
        Ok(DataOnly(Some(v))) => Ok(v),
        Ok(DataOnly(None)) => Err(ProtocolError::Deserialize {
            type_name: std::any::type_name::<T>(),
            detail: "the response has no data (missing or null)".into(),
        }
        .into()),
        Err(e) => Err(map_json_error::<T>(&e, body)),
    }
}

/// Read a list of `T` from the `data` member of a success body (`{"data":[...]}`), without an
/// intermediate `serde_json::Value`; errors as for [`parse_single`].
///
/// ```
/// use proxmox_proto::models::{parse_list, NodeListEntry, NodeStatus};
/// let nodes: Vec<NodeListEntry> = parse_list(br#"{"data":[{"node":"pve1","status":"online","maxcpu":"8"}]}"#).unwrap();
/// assert_eq!(nodes[0].status, NodeStatus::Online);
/// assert_eq!(nodes[0].maxcpu, Some(8));
/// assert!(parse_list::<NodeListEntry>(br#"{"data":null}"#).is_err());
/// ```
pub fn parse_list<T: DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, Error> {
    parse_single::<Vec<T>>(body)
}
