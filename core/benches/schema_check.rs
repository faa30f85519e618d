//! What checking a call against the API schema costs (`Schema::check`, feature `schema`).
//!
//! Run: `cargo bench -p proxmox-proto --features schema --bench schema_check`.
//!
//! The schema is `tests/data/schema_check/create_vm.json`, a small fixture written for the
//! project (paths, parameter names, types and limits; no text from Proxmox's schema):
//! `POST /nodes/{node}/qemu` with 30 parameters, `net[n]` and `scsi[n]` property strings
//! among them.
//!
//! * `create_vm`: `POST /nodes/pve1/qemu` with 8 parameters (`vmid`, `name`, `memory`,
//!   `cores`, `ostype`, `onboot`, `net0`, `scsi0`) and `node` from the path: the success path,
//!   the budget is 2 µs.
//! * `create_vm_without_property_strings`: five of them, without the property strings
//!   (`memory`, `net0`, `scsi0`): what the check itself allocates (nothing).
//! * `create_vm_refused`: the same call with three wrong values and a misspelled parameter:
//!   the error path, which builds the errors map and the hints.
//! * `unknown_path`: a misspelled path, which looks for the closest path of the schema.

use divan::Bencher;
use proxmox_proto::schema::Schema;
use proxmox_proto::{AuthKind, Call};
use std::sync::LazyLock;

// Counts allocations per iteration (divan prints them under each benchmark).
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    Schema::from_json(include_bytes!("../tests/data/schema_check/create_vm.json"))
        .expect("the fixture schema loads")
});

fn create_vm_call(params: &[(&str, &str)]) -> Call {
    let mut call = Call::post(("nodes", "pve1", "qemu")).expect("a valid path");
    for (k, v) in params {
        call.params.push(*k, *v);
    }
    call
}

const GOOD: [(&str, &str); 8] = [
    ("vmid", "100"),
    ("name", "web1"),
    ("memory", "4096"),
    ("cores", "4"),
    ("ostype", "l26"),
    ("onboot", "1"),
    (
        "net0",
        "virtio=BC:24:11:2E:4F:01,bridge=vmbr0,firewall=1,tag=20",
    ),
    (
        "scsi0",
        "local-lvm:32,cache=none,discard=on,iothread=1,ssd=1",
    ),
];

#[divan::bench]
fn create_vm(bencher: Bencher) {
    let schema = &*SCHEMA;
    let call = create_vm_call(&GOOD);
    assert!(schema.check(&call, AuthKind::Token).is_ok());
    bencher.bench_local(|| schema.check(divan::black_box(&call), AuthKind::Token));
}

#[divan::bench]
fn create_vm_without_property_strings(bencher: Bencher) {
    let schema = &*SCHEMA;
    let call = create_vm_call(&[GOOD[0], GOOD[1], GOOD[3], GOOD[4], GOOD[5]]);
    assert!(schema.check(&call, AuthKind::Token).is_ok());
    bencher.bench_local(|| schema.check(divan::black_box(&call), AuthKind::Token));
}

#[divan::bench]
fn create_vm_refused(bencher: Bencher) {
    let schema = &*SCHEMA;
    let call = create_vm_call(&[
        ("vmid", "100"),
        ("name", "web_1"),
        ("memory", "8"),
        ("cores", "0"),
        ("ostype", "l26"),
        ("onbot", "1"),
        (
            "net0",
            "virtio=BC:24:11:2E:4F:01,bridge=vmbr0,firewall=1,tag=20",
        ),
        (
            "scsi0",
            "local-lvm:32,cache=none,discard=on,iothread=1,ssd=1",
        ),
    ]);
    assert!(schema.check(&call, AuthKind::Token).is_err());
    bencher.bench_local(|| schema.check(divan::black_box(&call), AuthKind::Token));
}

#[divan::bench]
fn unknown_path(bencher: Bencher) {
    let schema = &*SCHEMA;
    let call = Call::post(("nodes", "pve1", "qemus")).expect("a valid path");
    assert!(schema.check(&call, AuthKind::Token).is_err());
    bencher.bench_local(|| schema.check(divan::black_box(&call), AuthKind::Token));
}
