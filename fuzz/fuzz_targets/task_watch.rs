#![no_main]
//! Fuzz target `task_watch`: see [`proxmox_proto_fuzz::task_watch`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::task_watch(data));
