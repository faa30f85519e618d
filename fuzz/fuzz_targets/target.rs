#![no_main]
//! Fuzz target `target`: see [`proxmox_proto_fuzz::target`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::target(data));
