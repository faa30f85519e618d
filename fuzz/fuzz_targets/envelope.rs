#![no_main]
//! Fuzz target `envelope`: see [`proxmox_proto_fuzz::envelope`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::envelope(data));
