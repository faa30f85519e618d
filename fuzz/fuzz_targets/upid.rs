#![no_main]
//! Fuzz target `upid`: see [`proxmox_proto_fuzz::upid`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::upid(data));
