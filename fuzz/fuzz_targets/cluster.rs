#![no_main]
//! Fuzz target `cluster`: see [`proxmox_proto_fuzz::cluster`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::cluster(data));
