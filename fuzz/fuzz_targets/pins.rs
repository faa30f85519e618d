#![no_main]
//! Fuzz target `pins`: see [`proxmox_proto_fuzz::pins`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::pins(data));
