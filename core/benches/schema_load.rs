//! Loading the full API schemas into the model (`schema::Schema`), time and memory.
//!
//! Run: `cargo bench -p proxmox-proto --features schema --bench schema_load`. The schemas are
//! read from `/work/shared/schema/` (they are AGPL and never in this repository); without
//! them the bench prints that it skipped and exits.
//!
//! Divan's allocation profiler is the global allocator here: per load it prints `alloc` (all
//! bytes allocated), `dealloc` (freed during the load: the transient part) and `max alloc`
//! (the peak of bytes in use during the load, which is the memory figure of issue 21: the
//! text given in is not counted, the loaded model is).
//!
//! * `pve_apidata_js`: PVE 9.1's `apidata.js` (3.9 MB, `const apiSchema = [ … ];`) with
//!   `Schema::from_apidoc`.
//! * `pve_schema_json`: a plain JSON dump of PVE 9.1 (3.9 MB) with `Schema::from_json`.
//! * `pbs_apidoc_js`: a PBS `apidoc.js` (1.5 MB, the viewer's JavaScript after the array).
//! * `pve_method_lookup`: `Schema::method` for a concrete six-segment path.

use proxmox_proto::schema::{Schema, SchemaMethod};
use std::sync::LazyLock;

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

const DIR: &str = "/work/shared/schema";

fn read(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("{DIR}/{name}")).ok()
}

static PVE_JS: LazyLock<Option<String>> = LazyLock::new(|| read("pve-apidata.js"));
static PVE_JSON: LazyLock<Option<String>> = LazyLock::new(|| read("PVE-schema.json"));
static PBS_JS: LazyLock<Option<String>> = LazyLock::new(|| read("pbs-apidoc.js"));

fn main() {
    if PVE_JS.is_none() || PVE_JSON.is_none() || PBS_JS.is_none() {
        println!(
            "schema_load: skipped, the schemas are not in {DIR} on this machine (they are \
             not part of the repository)"
        );
        return;
    }
    divan::main();
}

fn text(t: &'static LazyLock<Option<String>>) -> &'static str {
    t.as_deref().unwrap_or_default()
}

#[divan::bench(sample_count = 30, sample_size = 1)]
fn pve_apidata_js() -> Schema {
    Schema::from_apidoc(divan::black_box(text(&PVE_JS))).expect("pve-apidata.js loads")
}

#[divan::bench(sample_count = 30, sample_size = 1)]
fn pve_schema_json() -> Schema {
    Schema::from_json(divan::black_box(text(&PVE_JSON).as_bytes())).expect("PVE-schema.json loads")
}

#[divan::bench(sample_count = 30, sample_size = 1)]
fn pbs_apidoc_js() -> Schema {
    Schema::from_apidoc(divan::black_box(text(&PBS_JS))).expect("pbs-apidoc.js loads")
}

#[divan::bench]
fn pve_method_lookup(bencher: divan::Bencher<'_, '_>) {
    let schema = Schema::from_apidoc(text(&PVE_JS)).expect("pve-apidata.js loads");
    bencher.bench_local(|| {
        schema
            .method(
                SchemaMethod::Post,
                divan::black_box("/nodes/pve1/qemu/100/status/start"),
            )
            .map(|m| m.method.params.len())
    });
}
