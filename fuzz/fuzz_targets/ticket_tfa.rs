#![no_main]
//! Fuzz target `ticket_tfa`: see [`proxmox_proto_fuzz::ticket_tfa`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::ticket_tfa(data));
