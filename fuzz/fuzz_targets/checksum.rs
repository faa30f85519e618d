#![no_main]
//! Fuzz target `checksum`: see [`proxmox_proto_fuzz::checksum`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::checksum(data));
