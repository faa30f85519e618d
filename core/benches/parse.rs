//! Parsing a 5,000-guest `GET /cluster/resources` body (about 1.6 MB, generated like the
//! benchmark recipe's `gen_resources.py`) into `serde_json::Value` and into the typed models.
//!
//! Run: `cargo bench -p proxmox-proto --bench parse`. Divan prints throughput per benchmark
//! (bytes of JSON per second). Every iteration parses and then frees the result, as a client
//! would.
//!
//! * `value`: `serde_json::from_slice::<serde_json::Value>`, the baseline.
//! * `document`: `serde_json::from_slice::<json::Document>`, the untyped tape (one node `Vec`,
//!   one string arena).
//! * `document_from_slice`: `json::Document::from_slice`, which checks UTF-8 once for the
//!   whole body and then parses it as `&str` (serde_json then skips its per-string check).
//! * `document_response_parse_data`: the same through `response::parse_data`.
//! * `typed_from_str`: the typed model the same way (UTF-8 checked once, then `from_str`), to
//!   show what `response::parse_envelope` would gain from it.
//! * `ignored_any`: `serde::de::IgnoredAny`, serde_json's syntax check alone (no numbers or
//!   strings decoded, nothing built): the ceiling of any serde-driven parse.
//! * `typed_parse_list`: `models::parse_list::<ClusterResource>`, the fast path.
//! * `typed_response_parse_data`: the same model through `response::parse_data`.
//! * `derive_flatten`: a `#[derive(Deserialize)]` struct with the same 34 fields as
//!   `ClusterResource`, the loose helpers, and `#[serde(flatten)] extra`, to show what flatten
//!   costs.
//! * `derive_no_extra`: the same derived struct without `extra` (unknown fields dropped).
//! * `derive_strict_19`: only the body's 19 fields, plain types, no loose helpers, no `extra`
//!   (the kind of struct behind the recipe's reference figure; a ceiling).

#[path = "../tests/data/models/gen_resources.rs"]
mod gen_resources;

use divan::Bencher;
use divan::counter::BytesCount;
use proxmox_proto::json::Document;
use proxmox_proto::loose;
use proxmox_proto::models::{ClusterResource, ResourceKind, ResourceStatus, parse_list};
use serde::Deserialize;
use std::sync::LazyLock;

fn main() {
    divan::main();
}

static BODY: LazyLock<Vec<u8>> = LazyLock::new(|| gen_resources::recipe_body(5000).into_bytes());

/// The fields of `ClusterResource`, derived, with or without a flattened `extra`.
macro_rules! derived_entry {
    ($name:ident $(, $extra:ident)?) => {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct $name {
            id: String,
            #[serde(rename = "type")]
            kind: ResourceKind,
            #[serde(default, deserialize_with = "loose::opt_int")]
            vmid: Option<u32>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            name: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            node: Option<String>,
            #[serde(default)]
            status: Option<ResourceStatus>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            maxmem: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            mem: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            memhost: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_float")]
            maxcpu: Option<f64>,
            #[serde(default, deserialize_with = "loose::opt_float")]
            cpu: Option<f64>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            maxdisk: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            disk: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            uptime: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            netin: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            netout: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            diskread: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_int")]
            diskwrite: Option<u64>,
            #[serde(default, deserialize_with = "loose::opt_boolean")]
            template: Option<bool>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            tags: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            lock: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            hastate: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            pool: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            storage: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            content: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_boolean")]
            shared: Option<bool>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            plugintype: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            level: Option<String>,
            #[serde(default, rename = "cgroup-mode", deserialize_with = "loose::opt_int")]
            cgroup_mode: Option<u32>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            sdn: Option<String>,
            #[serde(default, rename = "zone-type", deserialize_with = "loose::opt_string")]
            zone_type: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            network: Option<String>,
            #[serde(default, rename = "network-type", deserialize_with = "loose::opt_string")]
            network_type: Option<String>,
            #[serde(default, deserialize_with = "loose::opt_string")]
            protocol: Option<String>,
            $(
                #[serde(flatten)]
                $extra: serde_json::Map<String, serde_json::Value>,
            )?
        }
    };
}

derived_entry!(FlattenEntry, extra);
derived_entry!(NoExtraEntry);

#[derive(Deserialize)]
#[allow(dead_code)]
struct StrictEntry {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    vmid: Option<u32>,
    name: Option<String>,
    node: Option<String>,
    status: Option<String>,
    maxmem: Option<u64>,
    mem: Option<u64>,
    maxcpu: Option<f64>,
    cpu: Option<f64>,
    maxdisk: Option<u64>,
    disk: Option<u64>,
    uptime: Option<u64>,
    netin: Option<u64>,
    netout: Option<u64>,
    diskread: Option<u64>,
    diskwrite: Option<u64>,
    template: Option<u8>,
    tags: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Env<T> {
    data: T,
}

fn run<T>(bencher: Bencher<'_, '_>, parse: impl Fn(&[u8]) -> T + Sync) {
    let body: &[u8] = &BODY;
    bencher
        .counter(BytesCount::new(body.len()))
        .bench(|| drop(parse(divan::black_box(body))));
}

#[divan::bench(sample_count = 30)]
fn value(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        serde_json::from_slice::<serde_json::Value>(b).expect("valid JSON")
    });
}

#[divan::bench(sample_count = 30)]
fn ignored_any(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        serde_json::from_slice::<serde::de::IgnoredAny>(b).expect("valid JSON")
    });
}

#[divan::bench(sample_count = 30)]
fn document(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        serde_json::from_slice::<Document>(b).expect("valid JSON")
    });
}

#[divan::bench(sample_count = 30)]
fn document_from_slice(bencher: Bencher<'_, '_>) {
    run(bencher, |b| Document::from_slice(b).expect("valid JSON"));
}

#[divan::bench(sample_count = 30)]
fn typed_from_str(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        let text = std::str::from_utf8(b).expect("UTF-8");
        serde_json::from_str::<Env<Vec<ClusterResource>>>(text).expect("valid JSON")
    });
}

#[divan::bench(sample_count = 30)]
fn document_response_parse_data(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        let d = proxmox_proto::response::parse_data::<Document>(200, None, b).expect("valid body");
        assert_eq!(d.root().len(), 5000);
        d
    });
}

#[divan::bench(sample_count = 30)]
fn typed_parse_list(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        let v = parse_list::<ClusterResource>(b).expect("valid body");
        assert_eq!(v.len(), 5000);
        v
    });
}

#[divan::bench(sample_count = 30)]
fn typed_response_parse_data(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        proxmox_proto::response::parse_data::<Vec<ClusterResource>>(200, None, b)
            .expect("valid body")
    });
}

#[divan::bench(sample_count = 30)]
fn derive_flatten(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        serde_json::from_slice::<Env<Vec<FlattenEntry>>>(b).expect("valid body")
    });
}

#[divan::bench(sample_count = 30)]
fn derive_no_extra(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        serde_json::from_slice::<Env<Vec<NoExtraEntry>>>(b).expect("valid body")
    });
}

#[divan::bench(sample_count = 30)]
fn derive_strict_19(bencher: Bencher<'_, '_>) {
    run(bencher, |b| {
        serde_json::from_slice::<Env<Vec<StrictEntry>>>(b).expect("valid body")
    });
}

/// Reading, not parsing: the total `maxmem` of the running guests from an already parsed
/// body, by key lookups on every entry (throughput counted against the body's size).
#[divan::bench(sample_count = 30)]
fn read_document(bencher: Bencher<'_, '_>) {
    let doc = Document::from_slice(&BODY).expect("valid JSON");
    let list = doc.root().get("data").expect("data");
    bencher.counter(BytesCount::new(BODY.len())).bench(|| {
        divan::black_box(list)
            .items()
            .filter(|g| g.get("status").and_then(|s| s.as_str()) == Some("running"))
            .filter_map(|g| g.get("maxmem")?.as_u64())
            .sum::<u64>()
    });
}

/// The same read on a `serde_json::Value`.
#[divan::bench(sample_count = 30)]
fn read_value(bencher: Bencher<'_, '_>) {
    let value: serde_json::Value = serde_json::from_slice(&BODY).expect("valid JSON");
    let list = value["data"].as_array().expect("data");
    bencher.counter(BytesCount::new(BODY.len())).bench(|| {
        divan::black_box(list)
            .iter()
            .filter(|g| g["status"] == "running")
            .filter_map(|g| g["maxmem"].as_u64())
            .sum::<u64>()
    });
}
