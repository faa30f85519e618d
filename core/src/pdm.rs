//! Proxmox Datacenter Manager: what is its own beyond the service table
//! ([`Service::Pdm`](crate::Service::Pdm)): the UPIDs of the remotes' tasks
//! ([`RemoteUpid`]).

pub mod remote_upid;

pub use remote_upid::{RemoteKind, RemoteUpid, RemoteUpidError};
