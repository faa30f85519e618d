#![no_main]
//! Fuzz target `schema_load`: see [`proxmox_proto_fuzz::schema_load`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::schema_load(data));
