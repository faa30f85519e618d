#![no_main]
//! Fuzz target `upgrade_head`: see [`proxmox_proto_fuzz::upgrade_head`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::upgrade_head(data));
