#![no_main]
//! Fuzz target `property_string`: see [`proxmox_proto_fuzz::property_string`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::property_string(data));
