#![no_main]
//! Fuzz target `models`: see [`proxmox_proto_fuzz::models`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::models(data));
