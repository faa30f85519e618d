//! The README's tour of the blocking client, as it stands there (extracted by `build.rs`): it
//! compiles with `proxmox-ureq` as the only dependency. Not run (it needs a server).

include!(concat!(env!("OUT_DIR"), "/tour.rs"));
