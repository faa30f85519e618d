//! The cluster's state as a change feed: successive `GET /cluster/resources` snapshots in,
//! typed [`ResourceChange`]s out ([`ChangeFeed`]).
//!
//! Dashboards and exporters poll `/cluster/resources` and compare the answers by hand; the
//! feed does the comparing once, by resource id, in time linear in the snapshot's size. It is a
//! *state* diff: what changed between two polls is reported, a change that comes and goes
//! between two polls (a guest started and stopped within the interval) is invisible, and
//! metrics (CPU, memory, disk, network counters) are not changes. Every adapter offers it on
//! top of its client (`watch_resources(interval)`: an iterator in proxmox-ureq and proxmox-cli
//! ([`ResourceWatch`]), a `Stream` in proxmox-async and proxmox-wasm, a callback in
//! JavaScript).

pub mod change;
pub mod feed;
pub mod watch;

pub use change::ResourceChange;
pub use feed::ChangeFeed;
pub use watch::ResourceWatch;
