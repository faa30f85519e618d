//! `json::Document`, the flat untyped JSON value: equivalence with `serde_json::Value` on the
//! repository's test data and on generated documents, lookups, iteration, the loose accessors,
//! typed reads of subtrees, and the depth and size guards.

#[path = "data/models/gen_resources.rs"]
mod gen_resources;

use proptest::prelude::*;
use proxmox_proto::json::{Document, Json, Kind, MAX_DEPTH};
use proxmox_proto::models::{ClusterResource, ResourceKind};
use proxmox_proto::response::parse_data;
use proxmox_proto::{Error, ProtocolError};
use serde::Deserialize;
use serde::de::IntoDeserializer;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn doc(text: &str) -> Document {
    text.parse().unwrap()
}

/// Every accessor of `j` agrees with `v`, recursively.
fn assert_same(j: Json<'_>, v: &Value, at: &str) {
    assert!(j == *v, "{at}: {j:?} != {v}");
    assert_eq!(j.is_null(), v.is_null(), "{at}");
    assert_eq!(j.as_bool(), v.as_bool(), "{at}");
    assert_eq!(j.as_i64(), v.as_i64(), "{at}");
    assert_eq!(j.as_u64(), v.as_u64(), "{at}");
    assert_eq!(j.as_f64(), v.as_f64(), "{at}");
    assert_eq!(j.is_i64(), v.is_i64(), "{at}");
    assert_eq!(j.is_u64(), v.is_u64(), "{at}");
    assert_eq!(j.is_f64(), v.is_f64(), "{at}");
    assert_eq!(j.as_str(), v.as_str(), "{at}");
    let kind = match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    };
    assert_eq!(j.kind(), kind, "{at}");
    match v {
        Value::Array(items) => {
            assert_eq!(j.len(), items.len(), "{at}");
            assert_eq!(j.items().len(), items.len(), "{at}");
            for (i, (a, b)) in j.items().zip(items).enumerate() {
                assert_same(a, b, &format!("{at}/{i}"));
                assert!(j.index(i).is_some_and(|x| x == *b), "{at}/{i}");
            }
            assert!(j.index(items.len()).is_none());
        }
        Value::Object(map) => {
            // Test data has no duplicate keys, so entries and map agree one to one.
            assert_eq!(j.len(), map.len(), "{at}");
            for (k, x) in j.entries() {
                assert_same(x, &map[k], &format!("{at}/{k}"));
                assert!(j.get(k).is_some_and(|g| g == map[k]));
            }
            assert!(j.get("\u{0}no such key").is_none());
        }
        _ => {
            assert_eq!(j.len(), 0);
            assert!(j.items().next().is_none() && j.entries().next().is_none());
        }
    }
}

/// Document and Value agree on `text` in every way the API offers.
fn check_equivalent(text: &[u8], name: &str) {
    let v: Value = serde_json::from_slice(text).unwrap();
    let d = Document::from_slice(text).unwrap();
    assert_eq!(d.to_value(), v, "{name}: to_value");
    assert!(d == v, "{name}: PartialEq<Value>");
    assert_eq!(v, d, "{name}: PartialEq<Document> for Value");
    assert_same(d.root(), &v, name);
    // Serialize and Display give the same JSON as the Value.
    assert_eq!(serde_json::to_value(&d).unwrap(), v, "{name}: Serialize");
    // Written out and read back, a float may move by an ulp (serde_json without
    // `float_roundtrip`), the same way for the Value's own text.
    let v_again: Value = serde_json::from_str(&v.to_string()).unwrap();
    let shown: Value = serde_json::from_str(&d.to_string()).unwrap();
    assert_eq!(shown, v_again, "{name}: Display");
    assert!(approx_eq(&shown, &v), "{name}: Display");
    // The tape deserializer, and building a Document from a Value.
    assert_eq!(
        d.root().deserialize::<Value>().unwrap(),
        v,
        "{name}: deserialize"
    );
    assert_eq!(Document::deserialize(&v).unwrap(), d, "{name}: from &Value");
    assert_eq!(
        d.root().deserialize::<Document>().unwrap(),
        d,
        "{name}: copy"
    );
    // A text round trip is equal as a document.
    assert!(doc(&d.to_string()) == v_again, "{name}: text round trip");
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn equivalent_to_value_on_all_test_data() {
    let mut files = Vec::new();
    json_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
        &mut files,
    );
    assert!(files.len() >= 30, "found only {files:?}");
    for f in &files {
        let text = std::fs::read(f).unwrap();
        check_equivalent(&text, &f.display().to_string());
    }
}

#[test]
fn equivalent_on_the_5000_guest_listing() {
    let body = gen_resources::recipe_body(5000);
    check_equivalent(body.as_bytes(), "recipe_body(5000)");
    let d: Document = parse_data(200, Some("OK"), body.as_bytes()).unwrap();
    assert_eq!(d.root().len(), 5000);
    // Typed reads of every item agree with the typed model parsed directly.
    let typed: Vec<ClusterResource> = parse_data(200, None, body.as_bytes()).unwrap();
    let from_doc: Vec<ClusterResource> = d.root().deserialize().unwrap();
    assert_eq!(from_doc, typed);
}

#[test]
fn lookups_take_the_last_duplicate_like_value() {
    let text = r#"{"a":1,"b":{"x":[10,20,{"deep":"yes"}]},"a":2,"a\"b":"quote","c/d":3,"e~f":4}"#;
    let d = doc(text);
    let v: Value = serde_json::from_str(text).unwrap();
    let r = d.root();
    assert_eq!(r.get("a").and_then(Json::as_u64), Some(2));
    assert_eq!(v["a"], 2);
    assert_eq!(d.to_value(), v);
    assert!(d == v);
    // Entries are kept as written, duplicates included.
    assert_eq!(r.len(), 6);
    assert_eq!(
        r.keys().collect::<Vec<_>>(),
        ["a", "b", "a", "a\"b", "c/d", "e~f"]
    );
    assert_eq!(r.get("a\"b").and_then(Json::as_str), Some("quote"));
    assert!(r.get("A").is_none() && r.get("").is_none());
    // index skips whole subtrees.
    let x = r.pointer("/b/x").unwrap();
    assert_eq!(x.index(1).and_then(Json::as_i64), Some(20));
    assert_eq!(
        x.index(2)
            .and_then(|o| o.get("deep"))
            .and_then(Json::as_str),
        Some("yes")
    );
    assert!(x.index(3).is_none());
    // JSON Pointer, with serde_json's rules.
    for p in [
        "",
        "/a",
        "/b/x/0",
        "/b/x/2/deep",
        "/a\"b",
        "/c~1d",
        "/e~0f",
        "/b/x/01",
        "/b/x/+1",
        "/b/x/3",
        "/nope",
        "a",
        "/a/0",
        "/b/x/-",
    ] {
        assert_eq!(
            r.pointer(p).map(Json::to_value).as_ref(),
            v.pointer(p),
            "pointer {p:?}"
        );
    }
    // Scalars and wrong kinds.
    assert!(r.index(0).is_none());
    assert!(x.get("0").is_none());
    assert!(doc("5").root().get("a").is_none());
}

#[test]
fn equality_is_that_of_value() {
    assert_eq!(doc(r#"{"a":1,"b":[2,3]}"#), doc(r#"{"b":[2,3],"a":1}"#));
    assert_eq!(doc(r#"{"a":0,"a":1}"#), doc(r#"{"a":1}"#));
    assert_ne!(doc(r#"{"a":1,"a":0}"#), doc(r#"{"a":1}"#));
    assert_ne!(doc(r#"{"a":1}"#), doc(r#"{"a":1,"b":1}"#));
    assert_ne!(doc("1"), doc("1.0"));
    assert_ne!(doc("-1"), doc("-1.0"));
    assert_ne!(doc("[1,2]"), doc("[2,1]"));
    assert_ne!(doc(r#""1""#), doc("1"));
    assert_ne!(doc("null"), doc("false"));
    assert_eq!(doc("-0"), serde_json::from_str::<Value>("-0").unwrap());
    assert!(doc(r#"{"a":0,"a":1}"#) == json!({"a": 1}));
    assert!(doc(r#"{"a":1,"a":0}"#) != json!({"a": 1}));
    assert!(doc(r#"{"a":1,"b":2}"#) != json!({"a": 1}));
    assert!(doc(r#"{"a":1}"#) != json!({"a": 1, "b": 2}));
}

#[test]
fn iteration_keeps_order_and_sizes() {
    let d = doc(r#"[{"k":[1,[2,[3]]]},"s",[],{},null,{"z":1,"y":2,"x":3}]"#);
    let items: Vec<Json<'_>> = d.root().items().collect();
    assert_eq!(items.len(), 6);
    assert_eq!(
        items.iter().map(|j| j.kind()).collect::<Vec<_>>(),
        [
            Kind::Object,
            Kind::String,
            Kind::Array,
            Kind::Object,
            Kind::Null,
            Kind::Object
        ]
    );
    assert!(items[2].is_empty() && items[3].is_empty() && items[2].is_array());
    let mut it = items[5].entries();
    assert_eq!(it.len(), 3);
    assert_eq!(
        it.next().map(|(k, v)| (k, v.as_u64())),
        Some(("z", Some(1)))
    );
    assert_eq!(it.len(), 2);
    assert_eq!(
        it.map(|(k, _)| k).collect::<Vec<_>>(),
        ["y", "x"],
        "document order, not sorted"
    );
    assert_eq!(
        d.to_string(),
        r#"[{"k":[1,[2,[3]]]},"s",[],{},null,{"z":1,"y":2,"x":3}]"#
    );
    assert_eq!(
        items[0].to_string(),
        r#"{"k":[1,[2,[3]]]}"#,
        "a subtree displays alone"
    );
    // Node count: one per value and key.
    assert_eq!(doc(r#"{"a":[1,2]}"#).node_count(), 5);
}

#[test]
fn loose_accessors_follow_the_loose_module() {
    let d = doc(
        r#"{"t1":1,"t2":"1","t3":"yes","t4":true,"t5":1.0,"f1":0,"f2":"","f3":"off","bad":2,
            "n1":"100","n2":100,"n3":"1e3","n4":"5.0","n5":"-4","frac":"1.5","big":18446744073709551615,
            "x":"0.25","s":"text","null":null,"arr":[1]}"#,
    );
    let r = d.root();
    let get = |k: &str| r.get(k).unwrap();
    for k in ["t1", "t2", "t3", "t4", "t5"] {
        assert_eq!(get(k).loose_bool(), Some(true), "{k}");
    }
    for k in ["f1", "f2", "f3"] {
        assert_eq!(get(k).loose_bool(), Some(false), "{k}");
    }
    for k in ["bad", "s", "null", "arr"] {
        assert_eq!(get(k).loose_bool(), None, "{k}");
    }
    assert_eq!(get("n1").loose_u64(), Some(100));
    assert_eq!(get("n2").loose_i64(), Some(100));
    assert_eq!(get("n3").loose_u64(), Some(1000));
    assert_eq!(get("n4").loose_u64(), Some(5));
    assert_eq!(get("n5").loose_i64(), Some(-4));
    assert_eq!(get("n5").loose_u64(), None, "negative");
    assert_eq!(get("frac").loose_u64(), None);
    assert_eq!(get("big").loose_u64(), Some(u64::MAX));
    assert_eq!(get("big").loose_i64(), None, "out of range");
    assert_eq!(get("f2").loose_u64(), None, "\"\" is no integer");
    assert_eq!(get("x").loose_f64(), Some(0.25));
    assert_eq!(get("n2").loose_f64(), Some(100.0));
    assert_eq!(get("s").loose_f64(), None);
    assert_eq!(get("n2").loose_string().as_deref(), Some("100"));
    assert_eq!(get("s").loose_string().as_deref(), Some("text"));
    assert_eq!(get("t4").loose_string(), None);
    // The generic form takes any LooseField, Option included.
    assert_eq!(get("f2").loose::<Option<u64>>().unwrap(), None);
    assert_eq!(get("null").loose::<Option<u64>>().unwrap(), None);
    assert_eq!(get("n1").loose::<Option<u32>>().unwrap(), Some(100));
    assert!(get("big").loose::<u32>().is_err());
    // The strict accessors stay strict.
    assert_eq!(get("t2").as_bool(), None);
    assert_eq!(get("n1").as_u64(), None);
}

#[test]
fn typed_reads_of_subtrees() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct Borrowing<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: ResourceKind,
        tags: Vec<&'a str>,
        pair: (u8, i32),
        opt: Option<f64>,
        missing: Option<String>,
        e1: Mode,
        e2: Mode,
        e3: Mode,
        e4: Mode,
        #[serde(flatten)]
        rest: std::collections::BTreeMap<String, Value>,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Plain,
        Wrapped(u32),
        Pair(u8, u8),
        Named { x: bool },
    }
    let d = doc(
        r#"{"list":[{"id":"qemu/100","type":"qemu","tags":["a","b"],"pair":[7,-7],"opt":null,
           "e1":"plain","e2":{"wrapped":5},"e3":{"pair":[1,2]},"e4":{"named":{"x":true}},"extra":{"k":1}}]}"#,
    );
    let item = d.root().pointer("/list/0").unwrap();
    let b: Borrowing<'_> = item.deserialize().unwrap();
    assert_eq!(b.id, "qemu/100");
    assert!(
        std::ptr::eq(b.id, item.get("id").unwrap().as_str().unwrap()),
        "borrowed"
    );
    assert_eq!(b.kind, ResourceKind::Qemu);
    assert_eq!(
        (b.tags, b.pair, b.opt, b.missing),
        (vec!["a", "b"], (7, -7), None, None)
    );
    assert_eq!(
        (b.e1, b.e2, b.e3, b.e4),
        (
            Mode::Plain,
            Mode::Wrapped(5),
            Mode::Pair(1, 2),
            Mode::Named { x: true }
        )
    );
    assert_eq!(b.rest["extra"], json!({"k": 1}));
    // Errors are serde_json errors, never panics.
    let wrong = doc(r#"[1,2,3]"#);
    assert!(
        wrong.root().deserialize::<(u8, u8)>().is_err(),
        "fewer elements"
    );
    assert!(wrong.root().deserialize::<String>().is_err());
    assert!(
        doc(r#"{"a":1,"b":2}"#)
            .root()
            .deserialize::<Mode>()
            .is_err()
    );
    assert!(doc(r#""other""#).root().deserialize::<Mode>().is_err());
    assert!(doc("256").root().deserialize::<u8>().is_err());
    let e = doc(r#"{"id":1}"#)
        .root()
        .deserialize::<ClusterResource>()
        .unwrap_err();
    assert!(e.is_data(), "{e}");
}

#[test]
fn document_fields_in_typed_models_and_envelopes() {
    #[derive(Deserialize)]
    struct WithExtra {
        name: String,
        config: Document,
    }
    let w: WithExtra =
        serde_json::from_str(r#"{"name":"n","config":{"net0":"virtio=AA","cores":4}}"#).unwrap();
    assert_eq!(w.name, "n");
    assert_eq!(w.config.root().get("cores").and_then(Json::as_u64), Some(4));
    // Loose wrapper works too (Document is a LooseField).
    let l: proxmox_proto::loose::Loose<Document> = serde_json::from_str("[1]").unwrap();
    assert_eq!(l.0, doc("[1]"));
    // `data: null`, a missing `data` and an empty body are the null document.
    for body in [&br#"{"data":null}"#[..], br#"{}"#, b""] {
        let d: Document = parse_data(200, None, body).unwrap();
        assert!(d.root().is_null(), "{body:?}");
        assert_eq!(d, Document::default());
    }
    assert!(matches!(
        parse_data::<Document>(200, None, b"{\"data\":[1,}"),
        Err(Error::Protocol(ProtocolError::InvalidJson { .. }))
    ));
    assert!(matches!(
        parse_data::<Document>(500, Some("boom"), b"{\"data\":null}"),
        Err(Error::Api(_))
    ));
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    // From JSON text, serde_json's own limit (127 levels) applies first.
    assert!(Document::from_slice(nested(127).as_bytes()).is_ok());
    assert!(Document::from_slice(nested(128).as_bytes()).is_err());
    let e = Document::from_slice(nested(100_000).as_bytes()).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
    let objects = "{\"a\":".repeat(100_000);
    assert!(Document::from_slice(objects.as_bytes()).is_err());
    assert!(matches!(
        parse_data::<Document>(
            200,
            None,
            format!("{{\"data\":{}}}", nested(100_000)).as_bytes()
        ),
        Err(Error::Protocol(ProtocolError::TooDeep { .. }))
    ));
    // A deserializer without a limit of its own (a serde_json::Value) meets MAX_DEPTH.
    let deep = |levels: usize| {
        let mut v = Value::Null;
        for _ in 0..levels {
            v = Value::Array(vec![v]);
        }
        v
    };
    let ok = Document::deserialize(&deep(MAX_DEPTH)).unwrap();
    assert_eq!(ok, deep(MAX_DEPTH));
    // Every recursive reader copes with the deepest document.
    assert_eq!(ok.to_value(), deep(MAX_DEPTH));
    assert_eq!(ok.root().deserialize::<Value>().unwrap(), deep(MAX_DEPTH));
    assert!(ok.to_string().starts_with("[[[[") && format!("{:?}", ok.root()).ends_with("..."));
    let e = Document::deserialize(&deep(MAX_DEPTH + 1)).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
    let e = Document::deserialize(&deep(5_000)).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
}

#[test]
fn huge_strings_and_many_nodes() {
    // 16 MiB of text with escapes and multi-byte characters, as value and as key.
    let chunk = "ab\"c\\d\u{e9}\u{1F600}\n\u{0}x";
    let big: String = chunk.repeat((16 << 20) / chunk.len());
    let text = serde_json::to_string(&json!({ big.clone(): [big.clone(), 1] })).unwrap();
    let d = doc(&text);
    let (k, v) = d.root().entries().next().unwrap();
    assert_eq!(k, big);
    assert_eq!(v.index(0).and_then(Json::as_str), Some(big.as_str()));
    assert_eq!(d.string_bytes(), 2 * big.len());
    // A 300,000-item array.
    let items = format!("[{}0]", "0,".repeat(299_999));
    let d = doc(&items);
    assert_eq!(d.root().len(), 300_000);
    assert_eq!(d.node_count(), 300_001);
    assert_eq!(
        d.root().items().filter(|j| j.as_u64() == Some(0)).count(),
        300_000
    );
    // Debug stays short however big the document is.
    let dbg = format!("{d:?}");
    assert!(dbg.len() < 300, "{}", dbg.len());
    assert!(
        dbg.starts_with("Document(300001 nodes, 0 string bytes: [0,0,"),
        "{dbg}"
    );
}

#[test]
fn numbers_as_serde_json_reads_them() {
    for text in [
        "0",
        "-0",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1e308",
        "-1.5e-300",
        "0.1",
        "100000000000000000000000000000000000000000000000000000000",
        "5e-324",
        "[1.0, 2, -3]",
    ] {
        check_equivalent(text.as_bytes(), text);
    }
    for text in ["1e400", "-1e400", "01", "1.", "NaN", "+1", ".5"] {
        assert!(Document::from_slice(text.as_bytes()).is_err(), "{text}");
        assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
    }
    // Other deserializers: non-finite floats become null (as in Value), wide integers fit or fail.
    let nan: serde::de::value::F64Deserializer<serde_json::Error> = f64::NAN.into_deserializer();
    assert!(Document::deserialize(nan).unwrap().root().is_null());
    let i: serde::de::value::I128Deserializer<serde_json::Error> = (-5i128).into_deserializer();
    assert_eq!(Document::deserialize(i).unwrap(), doc("-5"));
    let u: serde::de::value::U128Deserializer<serde_json::Error> = 7u128.into_deserializer();
    assert_eq!(Document::deserialize(u).unwrap().root().as_u64(), Some(7));
    let wide: serde::de::value::U128Deserializer<serde_json::Error> = u128::MAX.into_deserializer();
    assert!(Document::deserialize(wide).is_err());
    let pos: serde::de::value::I64Deserializer<serde_json::Error> = 5i64.into_deserializer();
    assert!(
        Document::deserialize(pos).unwrap().root().is_u64(),
        "as Value"
    );
}

#[test]
fn invalid_text_is_refused_like_value() {
    for text in [
        "",
        " ",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\"}",
        "{1:2}",
        "[1] x",
        "\"\\ud800\"",
        "\"\u{1}\"",
        "tru",
        "[",
        "]",
        "{\"a\":1",
        "\"abc",
    ] {
        assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}");
        assert!(text.parse::<Document>().is_err(), "{text:?}");
    }
    assert!(Document::from_slice(b"\"\xff\"").is_err());
}

// ---------------------------------------------------------------------------------------------
// Generated documents

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        (-1000i32..1000, 0u32..4).prop_map(|(m, e)| json!(f64::from(m) / 10f64.powi(e as i32))),
        any::<String>().prop_map(Value::String),
        "[a-z\"\\\\/\u{0}-\u{1f}é😀]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"é]{0,4}|.{0,6}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Equal, with floats compared to within two ulps (serde_json's float parser without
/// `float_roundtrip` may move a float by an ulp in a text round trip).
fn approx_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            // Ulps, not a relative bound: a subnormal such as -2.45499461020908e-309 moves by
            // one ulp, which is 2e-15 of its value (CI failure of 29e3042).
            x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 2)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| approx_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| approx_eq(v, w)))
        }
        _ => a == b,
    }
}

/// JSON text with duplicate keys (from a tiny alphabet) and odd spacing, built by hand.
fn arb_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just(" true ".to_owned()),
        Just("-0".to_owned()),
        Just("1.5e3".to_owned()),
        any::<i64>().prop_map(|i| i.to_string()),
        "[a-c]{0,3}".prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[ab]", inner), 0..6).prop_map(|v| {
                let body: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\" : {x}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn value_text_document_round_trip(v in arb_value()) {
        let text = serde_json::to_string(&v).unwrap();
        let reread: Value = serde_json::from_str(&text).unwrap();
        let d: Document = text.parse().unwrap();
        prop_assert_eq!(d.to_value(), reread.clone());
        prop_assert!(d == reread);
        prop_assert!(approx_eq(&d.to_value(), &v));
        // Keys came sorted from the Value, so the document writes the very same text back.
        prop_assert_eq!(d.to_string(), serde_json::to_string(&reread).unwrap());
        prop_assert_eq!(d.root().deserialize::<Value>().unwrap(), reread.clone());
        prop_assert_eq!(Document::deserialize(&reread).unwrap(), d.clone());
        // Pretty text, another deserializer input, reads the same.
        let pretty = serde_json::to_string_pretty(&d).unwrap();
        let pretty_value: Value = serde_json::from_str(&pretty).unwrap();
        prop_assert!(pretty.parse::<Document>().unwrap() == pretty_value);
    }

    #[test]
    fn duplicate_keys_agree_with_value(text in arb_text()) {
        let v: Value = serde_json::from_str(&text).unwrap();
        let d: Document = text.parse().unwrap();
        prop_assert_eq!(d.to_value(), v.clone());
        prop_assert!(d == v);
        for k in ["a", "b"] {
            let got = d.root().get(k).map(Json::to_value);
            prop_assert_eq!(got.as_ref(), v.get(k));
        }
        // Re-reading the document's own text keeps it equal (duplicates and order included).
        let again: Document = d.to_string().parse().unwrap();
        prop_assert_eq!(again.to_string(), d.to_string());
        prop_assert_eq!(again, d);
    }
}

/// The input that failed CI once: a subnormal that serde_json's text round trip moves by one ulp.
/// The document reads it exactly as serde_json does, and the comparison above accepts the ulp.
#[test]
fn subnormal_round_trip_matches_serde_json() {
    let v = serde_json::json!([-2.45499461020908e-309f64]);
    let text = serde_json::to_string(&v).unwrap();
    let reread: Value = serde_json::from_str(&text).unwrap();
    let d: Document = text.parse().unwrap();
    assert_eq!(d.to_value(), reread);
    assert!(approx_eq(&d.to_value(), &v));
    assert!(!approx_eq(
        &serde_json::json!([1.0]),
        &serde_json::json!([1.0000000000000007])
    ));
}
