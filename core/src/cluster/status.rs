//! What discovery reads: `GET /cluster/status` and `GET /nodes`, merged into a
//! [`ClusterMap`].
//!
//! From pve-manager: `PVE/API2/Cluster.pm` (`status`, which needs `Sys.Audit` on `/`) lists a
//! `cluster` entry (`name`, `nodes`, `quorate`) and one `node` entry per member (`name`,
//! `nodeid`, `ip`, `online`, `local` — 1 on the node that answered); `PVE/API2/Nodes.pm`
//! (`index`, any user) lists `node`, `status` (`online`, `offline`, `unknown`) and
//! `ssl_fingerprint` (SHA-256 of the node's `pve-ssl.pem`). Numbers and booleans may come as
//! strings (Perl): read loosely.

use crate::error::{Error, ProtocolError};
use crate::tls::Fingerprint;
use serde::Deserialize;

/// One node of the cluster, as discovery saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterNode {
    /// The node's name.
    pub name: String,
    /// Its address in the cluster (`/cluster/status` only).
    pub ip: Option<String>,
    /// Whether the cluster sees it online, when said.
    pub online: Option<bool>,
    /// Whether it is the node that answered.
    pub local: bool,
    /// The SHA-256 fingerprint of its API certificate (`/nodes` only).
    pub fingerprint: Option<Fingerprint>,
}

/// The cluster as discovery saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterMap {
    /// The cluster's name (none for a standalone node, or without `/cluster/status`).
    pub name: Option<String>,
    /// Its nodes, in the order the server listed them.
    pub nodes: Vec<ClusterNode>,
    /// Whether `/cluster/status` was read (addresses and the answering node are known);
    /// `false` when it was refused (no `Sys.Audit` on `/`) and only `/nodes` was read.
    pub addresses_known: bool,
}

#[derive(Deserialize)]
struct StatusEntry {
    #[serde(rename = "type", deserialize_with = "crate::loose::string")]
    kind: String,
    #[serde(default, deserialize_with = "crate::loose::opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::loose::opt_string")]
    ip: Option<String>,
    #[serde(default, deserialize_with = "crate::loose::opt_boolean")]
    online: Option<bool>,
    #[serde(default, deserialize_with = "crate::loose::opt_boolean")]
    local: Option<bool>,
}

#[derive(Deserialize)]
struct NodesEntry {
    #[serde(deserialize_with = "crate::loose::string")]
    node: String,
    #[serde(default, deserialize_with = "crate::loose::opt_string")]
    status: Option<String>,
    #[serde(default, deserialize_with = "crate::loose::opt_string")]
    ssl_fingerprint: Option<String>,
}

fn bad(what: &'static str, detail: String) -> Error {
    ProtocolError::Malformed { what, detail }.into()
}

fn check_name(what: &'static str, name: &str) -> Result<(), Error> {
    // A node name is a DNS label (pve-cluster); anything else would end up in paths.
    // Host::parse also holds each label to 63 characters (a 72-character name passed the
    // character check alone; found by the `cluster` fuzz target).
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || crate::target::Host::parse(name).is_err()
    {
        return Err(bad(what, format!("node name {name:?} is not a host name")));
    }
    Ok(())
}

impl ClusterMap {
    /// Read the `data` of `GET /cluster/status` (the envelope already taken off).
    ///
    /// ```
    /// use proxmox_proto::cluster::ClusterMap;
    /// let data = serde_json::json!([
    ///   {"type":"cluster","id":"cluster","name":"lab","nodes":2,"quorate":1,"version":4},
    ///   {"type":"node","id":"node/pve1","name":"pve1","nodeid":1,"ip":"10.0.0.1","online":1,"local":1},
    ///   {"type":"node","id":"node/pve2","name":"pve2","nodeid":2,"ip":"10.0.0.2","online":0,"local":0}
    /// ]);
    /// let map = ClusterMap::from_status(&serde_json::to_vec(&data).unwrap()).unwrap();
    /// assert_eq!(map.name.as_deref(), Some("lab"));
    /// assert_eq!(map.nodes[1].ip.as_deref(), Some("10.0.0.2"));
    /// assert_eq!(map.nodes[1].online, Some(false));
    /// assert!(map.nodes[0].local);
    /// ```
    pub fn from_status(data: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "/cluster/status";
        let entries: Vec<serde_json::Value> = serde_json::from_slice(data)
            .map_err(|e| bad(WHAT, format!("not a list of entries: {e}")))?;
        let mut map = ClusterMap {
            addresses_known: true,
            ..ClusterMap::default()
        };
        for v in entries {
            // Entries of other types (future ones) are skipped, not refused.
            let Ok(e) = StatusEntry::deserialize(&v) else {
                continue;
            };
            match e.kind.as_str() {
                "cluster" => map.name = e.name,
                "node" => {
                    let Some(name) = e.name else {
                        return Err(bad(WHAT, "a node entry without a name".into()));
                    };
                    check_name(WHAT, &name)?;
                    if map.nodes.iter().any(|n| n.name == name) {
                        return Err(bad(WHAT, format!("node {name} is listed twice")));
                    }
                    map.nodes.push(ClusterNode {
                        name,
                        ip: e.ip.filter(|ip| crate::target::Host::parse(ip).is_ok()),
                        online: e.online,
                        local: e.local.unwrap_or(false),
                        fingerprint: None,
                    });
                }
                _ => {}
            }
        }
        Ok(map)
    }

    /// Read the `data` of `GET /nodes`: names, whether online, fingerprints; no addresses.
    ///
    /// ```
    /// use proxmox_proto::cluster::ClusterMap;
    /// let fp = "AB:".repeat(31) + "AB";
    /// let data = format!(r#"[{{"node":"pve1","status":"online","ssl_fingerprint":"{fp}"}},{{"node":"pve2","status":"offline"}}]"#);
    /// let map = ClusterMap::from_nodes(data.as_bytes()).unwrap();
    /// assert!(!map.addresses_known);
    /// assert_eq!(map.nodes[0].fingerprint.unwrap().to_string(), fp);
    /// assert_eq!(map.nodes[1].online, Some(false));
    /// ```
    pub fn from_nodes(data: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "/nodes";
        let entries: Vec<serde_json::Value> = serde_json::from_slice(data)
            .map_err(|e| bad(WHAT, format!("not a list of nodes: {e}")))?;
        let mut map = ClusterMap::default();
        for v in entries {
            let e =
                NodesEntry::deserialize(&v).map_err(|e| bad(WHAT, format!("a node entry: {e}")))?;
            check_name(WHAT, &e.node)?;
            if map.nodes.iter().any(|n| n.name == e.node) {
                return Err(bad(WHAT, format!("node {} is listed twice", e.node)));
            }
            let fingerprint = match e.ssl_fingerprint.as_deref() {
                None | Some("") => None,
                Some(s) => Some(s.parse::<Fingerprint>().map_err(|err| {
                    bad(
                        WHAT,
                        format!("the ssl_fingerprint of node {}: {err}", e.node),
                    )
                })?),
            };
            map.nodes.push(ClusterNode {
                name: e.node,
                ip: None,
                online: match e.status.as_deref() {
                    Some("online") => Some(true),
                    Some("offline") => Some(false),
                    _ => None,
                },
                local: false,
                fingerprint,
            });
        }
        Ok(map)
    }

    /// This map (from `/cluster/status`) with the fingerprints of `nodes` (from `/nodes`);
    /// a node only `/nodes` lists is added without an address.
    #[must_use]
    pub fn with_nodes(mut self, nodes: ClusterMap) -> Self {
        for n in nodes.nodes {
            match self.nodes.iter_mut().find(|m| m.name == n.name) {
                Some(m) => {
                    m.fingerprint = n.fingerprint;
                    m.online = m.online.or(n.online);
                }
                None => self.nodes.push(n),
            }
        }
        self
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_over_63_characters_is_no_node_name() {
        let long = format!("p{}e", "w".repeat(70));
        let data = format!(r#"[{{"type":"node","name":"{long}","online":1}}]"#);
        let e = ClusterMap::from_status(data.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a host name"), "{e}");
        let data = format!(r#"[{{"node":"{long}","status":"online"}}]"#);
        assert!(ClusterMap::from_nodes(data.as_bytes()).is_err());
    }

    #[test]
    fn a_standalone_node_has_no_cluster_entry_and_strings_are_read_loosely() {
        let data = br#"[{"type":"node","name":"pve","ip":"192.168.1.5","online":"1","local":"1","nodeid":"0"}]"#;
        let map = ClusterMap::from_status(data).unwrap();
        assert_eq!(map.name, None);
        assert_eq!(map.nodes.len(), 1);
        assert_eq!(map.nodes[0].online, Some(true));
        assert!(map.nodes[0].local);
    }

    #[test]
    fn names_that_would_change_a_path_and_duplicates_are_refused() {
        for name in ["", "../x", "a/b", "a b", "a?b"] {
            let data = serde_json::json!([{"type":"node","name":name}]).to_string();
            let e = ClusterMap::from_status(data.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("/cluster/status"), "{e}");
        }
        let dup = br#"[{"node":"a"},{"node":"a"}]"#;
        assert!(
            ClusterMap::from_nodes(dup)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let e = ClusterMap::from_nodes(br#"[{"node":"a","ssl_fingerprint":"AB:CD"}]"#).unwrap_err();
        assert!(e.to_string().contains("ssl_fingerprint of node a"), "{e}");
    }

    #[test]
    fn a_bad_address_is_dropped_and_unknown_entries_skipped() {
        let data = br#"[{"type":"quorum","x":1},{"type":"node","name":"n1","ip":"not an ip/"},7]"#;
        let map = ClusterMap::from_status(data).unwrap();
        assert_eq!(map.nodes.len(), 1);
        assert_eq!(map.nodes[0].ip, None);
    }

    #[test]
    fn fingerprints_join_the_status() {
        let fp = "11:".repeat(31) + "11";
        let status = ClusterMap::from_status(
            br#"[{"type":"node","name":"a","ip":"10.0.0.1","local":1},{"type":"node","name":"b","ip":"10.0.0.2"}]"#,
        )
        .unwrap();
        let nodes = ClusterMap::from_nodes(
            format!(
                r#"[{{"node":"b","status":"online","ssl_fingerprint":"{fp}"}},{{"node":"c"}}]"#
            )
            .as_bytes(),
        )
        .unwrap();
        let map = status.with_nodes(nodes);
        assert!(map.addresses_known);
        assert_eq!(map.node("b").unwrap().fingerprint.unwrap().to_string(), fp);
        assert_eq!(map.node("b").unwrap().ip.as_deref(), Some("10.0.0.2"));
        assert_eq!(map.node("c").unwrap().ip, None);
    }
}
