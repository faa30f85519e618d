#![no_main]
//! Fuzz target `console_session`: see [`proxmox_proto_fuzz::console_session`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::console_session(data));
