//! `proxmox-wasm`: a Proxmox API client adapter over the sans-IO core [`proxmox_proto`].
//!
//! This crate is a placeholder until its issue lands; it re-exports the core so that the
//! workspace layout is in place.
#![forbid(unsafe_code)]

pub use proxmox_proto as proto;
