//! [`ChangeFeed`]: snapshots of `/cluster/resources` in, [`ResourceChange`]s out.

use super::ResourceChange;
use crate::models::{ClusterResource, ResourceKind};
use std::collections::HashMap;

/// The last snapshot of `/cluster/resources`, by id; [`update`](Self::update) compares the
/// next one with it. Pure: no IO, no clock; the caller polls (see the [module docs](super)).
///
/// The first snapshot is the baseline and yields no changes. Resources are matched by `id`
/// (`qemu/100`, `node/pve1`, `storage/pve1/local`, ...), each snapshot once, in time linear in
/// its size; within a resource, these fields are compared: for guests `status`, `node`
/// (a migration), `lock` and `hastate`; for nodes `status` and `hastate`; for storages and
/// any other type `status`. Metrics, names, tags, pools and the template flag are not
/// changes. A snapshot that lists an id twice
/// keeps the last entry.
///
/// ```
/// use proxmox_proto::models::ClusterResource;
/// use proxmox_proto::resources::{ChangeFeed, ResourceChange};
///
/// let snapshot = |json: &str| -> Vec<ClusterResource> { serde_json::from_str(json).unwrap() };
/// let mut feed = ChangeFeed::new();
/// assert!(feed.update(snapshot(r#"[
///     {"id":"node/pve1","type":"node","node":"pve1","status":"online"},
///     {"id":"qemu/100","type":"qemu","vmid":100,"node":"pve1","status":"stopped"}
/// ]"#)).is_empty(), "the first snapshot is the baseline");
/// let changes = feed.update(snapshot(r#"[
///     {"id":"node/pve1","type":"node","node":"pve1","status":"online"},
///     {"id":"qemu/100","type":"qemu","vmid":100,"node":"pve2","status":"running","lock":"migrate"},
///     {"id":"lxc/101","type":"lxc","vmid":101,"node":"pve1","status":"stopped"}
/// ]"#));
/// let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
/// assert_eq!(lines, [
///     "qemu/100 stopped -> running",
///     "qemu/100 migrated pve1 -> pve2",
///     "qemu/100 lock - -> migrate",
///     "+ lxc/101 (stopped on pve1)",
/// ]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChangeFeed {
    /// The last snapshot, as given (it is kept, not copied).
    current: Vec<ClusterResource>,
    /// Its ids, to their place in `current` (the last place for an id given twice).
    index: HashMap<String, usize>,
    primed: bool,
}

impl ChangeFeed {
    /// A feed without a baseline: the first [`update`](Self::update) sets it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a snapshot has been given (the next one yields changes).
    pub fn is_primed(&self) -> bool {
        self.primed
    }

    /// How many resources (distinct ids) the last snapshot held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the last snapshot held nothing (or none was given).
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The resource with `id` in the last snapshot.
    pub fn get(&self, id: &str) -> Option<&ClusterResource> {
        self.index.get(id).and_then(|&i| self.current.get(i))
    }

    /// Take the next snapshot; returns what changed since the last one (nothing for the
    /// first): changes in the snapshot's order, removals last, ordered by id. An id given
    /// twice counts as its last entry.
    pub fn update(&mut self, snapshot: Vec<ClusterResource>) -> Vec<ResourceChange> {
        let mut changes = Vec::new();
        // Each id's kept entry is its last one.
        let mut index: HashMap<String, usize> = HashMap::with_capacity(snapshot.len());
        for (i, r) in snapshot.iter().enumerate() {
            match index.get_mut(&r.id) {
                Some(place) => *place = i,
                None => {
                    index.insert(r.id.clone(), i);
                }
            }
        }
        let mut matched = vec![false; self.current.len()];
        for (i, r) in snapshot.iter().enumerate() {
            if index.get(&r.id) != Some(&i) {
                // An earlier entry of an id given twice: not compared.
                continue;
            }
            match self.index.get(&r.id) {
                Some(&j) => {
                    matched[j] = true;
                    compare(&self.current[j], r, &mut changes);
                }
                None if self.primed => changes.push(ResourceChange::Added(Box::new(r.clone()))),
                None => {}
            }
        }
        if self.primed {
            let old = std::mem::take(&mut self.current);
            let old_index = std::mem::take(&mut self.index);
            let mut removed: Vec<ClusterResource> = old
                .into_iter()
                .enumerate()
                // An id given twice in the last snapshot is reported once, as its kept entry.
                .filter(|(j, r)| !matched[*j] && old_index.get(&r.id) == Some(j))
                .map(|(_, r)| r)
                .collect();
            removed.sort_unstable_by(|a, b| a.id.cmp(&b.id));
            changes.extend(
                removed
                    .into_iter()
                    .map(|r| ResourceChange::Removed(Box::new(r))),
            );
        }
        self.current = snapshot;
        self.index = index;
        self.primed = true;
        changes
    }
}

/// The changes between two states of one resource.
fn compare(old: &ClusterResource, new: &ClusterResource, out: &mut Vec<ResourceChange>) {
    let status_moved = old.status != new.status;
    match &new.kind {
        ResourceKind::Qemu | ResourceKind::Lxc | ResourceKind::Openvz => {
            if status_moved {
                out.push(ResourceChange::GuestStatus {
                    id: new.id.clone(),
                    vmid: new.vmid,
                    from: old.status.clone(),
                    to: new.status.clone(),
                });
            }
            if old.node != new.node {
                out.push(ResourceChange::Migrated {
                    id: new.id.clone(),
                    vmid: new.vmid,
                    from: old.node.clone(),
                    to: new.node.clone(),
                });
            }
            if old.lock != new.lock {
                out.push(ResourceChange::Lock {
                    id: new.id.clone(),
                    from: old.lock.clone(),
                    to: new.lock.clone(),
                });
            }
            if old.hastate != new.hastate {
                out.push(ResourceChange::HaState {
                    id: new.id.clone(),
                    from: old.hastate.clone(),
                    to: new.hastate.clone(),
                });
            }
        }
        ResourceKind::Node => {
            if status_moved {
                out.push(ResourceChange::NodeStatus {
                    id: new.id.clone(),
                    node: new.node.clone().unwrap_or_else(|| {
                        new.id.strip_prefix("node/").unwrap_or(&new.id).to_owned()
                    }),
                    from: old.status.clone(),
                    to: new.status.clone(),
                });
            }
            if old.hastate != new.hastate {
                out.push(ResourceChange::HaState {
                    id: new.id.clone(),
                    from: old.hastate.clone(),
                    to: new.hastate.clone(),
                });
            }
        }
        ResourceKind::Storage if status_moved => out.push(ResourceChange::StorageStatus {
            id: new.id.clone(),
            from: old.status.clone(),
            to: new.status.clone(),
        }),
        ResourceKind::Storage => {}
        kind if status_moved => out.push(ResourceChange::StatusChanged {
            id: new.id.clone(),
            kind: kind.clone(),
            from: old.status.clone(),
            to: new.status.clone(),
        }),
        _ => {}
    }
}
