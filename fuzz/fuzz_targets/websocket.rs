#![no_main]
//! Fuzz target `websocket`: see [`proxmox_proto_fuzz::websocket`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::websocket(data));
