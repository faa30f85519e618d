//! The README's async tour, as it stands there (extracted by `build.rs`): it compiles with
//! `proxmox-async` as the only dependency. Not run (it needs a server).

include!(concat!(env!("OUT_DIR"), "/tour.rs"));

fn main() {
    // Built, never polled: compiling the tour is the point.
    drop(tour(String::new(), Vec::new()));
}
