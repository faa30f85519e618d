#![no_main]
//! Fuzz target `shell`: see [`proxmox_proto_fuzz::shell`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::shell(data));
