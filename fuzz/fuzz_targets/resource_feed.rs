#![no_main]
//! Fuzz target `resource_feed`: see [`proxmox_proto_fuzz::resource_feed`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::resource_feed(data));
