#![no_main]
//! Fuzz target `params`: see [`proxmox_proto_fuzz::params`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::params(data));
