#![no_main]
//! Fuzz target `task`: see [`proxmox_proto_fuzz::task`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::task(data));
