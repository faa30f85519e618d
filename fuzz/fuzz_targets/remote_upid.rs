#![no_main]
//! Fuzz target `remote_upid`: see [`proxmox_proto_fuzz::remote_upid`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::remote_upid(data));
