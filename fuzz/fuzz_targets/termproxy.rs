#![no_main]
//! Fuzz target `termproxy`: see [`proxmox_proto_fuzz::termproxy`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::termproxy(data));
