#![no_main]
//! Fuzz target `multipart`: see [`proxmox_proto_fuzz::multipart`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::multipart(data));
