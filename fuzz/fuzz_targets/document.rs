#![no_main]
//! Fuzz target `document`: see [`proxmox_proto_fuzz::document`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::document(data));
