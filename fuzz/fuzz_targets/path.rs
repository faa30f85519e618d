#![no_main]
//! Fuzz target `path`: see [`proxmox_proto_fuzz::path`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::path(data));
