#![no_main]
//! Fuzz target `command_output`: see [`proxmox_proto_fuzz::command_output`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| proxmox_proto_fuzz::command_output(data));
