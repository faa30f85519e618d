//! Property strings against every inline property-string format of a real PVE schema, read
//! from `/work/shared/schema/PVE-schema.json` on the development machine (never copied into
//! the project: the schema is AGPL). Skips, saying so, where that file is absent.
//!
//! The formats are built here from the JSON directly (key names and flags only), so this test
//! does not depend on the schema loader. For each format, the default key and the `keyAlias`
//! pairs its `typetext` documents (PVE's `generate_typetext` writes `[key=]…` for the default
//! key and `[,<keyAlias>=<alias>]` for each pair) must be the ones the parser uses, and
//! synthetic values must parse and round-trip.
#![cfg(feature = "schema")]

use proxmox_proto::schema::property_string::{PropertyStringError, default_key, parse};
use proxmox_proto::schema::{PropSchema, PropertyFormat, SchemaType};
use serde_json::{Map, Value};

const SCHEMA: &str = "/work/shared/schema/PVE-schema.json";

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(s)) => s == "1" || s == "true",
        _ => false,
    }
}

fn ty(v: Option<&Value>) -> SchemaType {
    match v.and_then(Value::as_str) {
        Some("string") => SchemaType::String,
        Some("integer") => SchemaType::Integer,
        Some("number") => SchemaType::Number,
        Some("boolean") => SchemaType::Boolean,
        _ => SchemaType::Any,
    }
}

/// An inline property-string format: an object whose every value is an object (a key's
/// schema). This tells it from a key named `format` inside a format, or a parameter named
/// `format` in a `properties` map, whose schemas have plain values.
fn inline_format(v: &Value) -> Option<&Map<String, Value>> {
    let map = v.as_object()?;
    (!map.is_empty() && map.values().all(Value::is_object)).then_some(map)
}

fn build(map: &Map<String, Value>) -> PropertyFormat {
    let mut keys = Vec::new();
    let mut default = None;
    for (name, s) in map {
        let str_of = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_owned);
        let schema = PropSchema {
            ty: ty(s.get("type")),
            optional: flag(s.get("optional")),
            alias: str_of("alias"),
            key_alias: str_of("keyAlias"),
            default_key: flag(s.get("default_key")),
            ..PropSchema::default()
        };
        if schema.default_key && default.is_none() {
            default = Some(name.clone());
        }
        keys.push((name.clone(), schema));
    }
    PropertyFormat {
        keys,
        default_key: default,
    }
}

fn collect<'a>(v: &'a Value, out: &mut Vec<(&'a Map<String, Value>, Option<&'a str>)>) {
    match v {
        Value::Object(map) => {
            if let Some(f) = map.get("format").and_then(inline_format) {
                out.push((f, map.get("typetext").and_then(Value::as_str)));
            }
            for x in map.values() {
                collect(x, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| collect(x, out)),
        _ => {}
    }
}

/// The default key a generated typetext documents: it starts `[key=]` (or `[[key=]` when
/// the key is optional).
fn documented_default(typetext: &str) -> Option<&str> {
    let t = typetext.trim_start_matches('[');
    let eq = t.find('=')?;
    t[eq + 1..].starts_with(']').then(|| &t[..eq])
}

/// The `keyAlias` pairs a generated typetext documents: `[,<model>=<macaddr>]`.
fn documented_key_aliases(typetext: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for (at, _) in typetext.match_indices(",<") {
        let rest = &typetext[at + 2..];
        let Some((key_alias, rest)) = rest.split_once(">=<") else {
            continue;
        };
        let Some((target, _)) = rest.split_once(">]") else {
            continue;
        };
        if !key_alias.contains(['<', '>', ',']) && !target.contains(['<', '>', ',']) {
            out.push((key_alias, target));
        }
    }
    out
}

fn required(format: &PropertyFormat) -> Vec<&str> {
    format
        .keys
        .iter()
        .filter(|(_, s)| !s.optional && s.alias.is_none())
        .map(|(k, _)| k.as_str())
        .collect()
}

/// A synthetic string with every required key (the default key bare), leaving out `skip`.
fn synthetic(format: &PropertyFormat, skip: &[&str]) -> Vec<String> {
    let dk = default_key(format);
    let mut parts = Vec::new();
    if dk.is_some_and(|k| !skip.contains(&k)) {
        parts.push("v-default".to_owned());
    }
    for k in required(format) {
        if Some(k) != dk && !skip.contains(&k) {
            parts.push(format!("{k}=v-{k}"));
        }
    }
    parts
}

#[track_caller]
fn round_trips(format: &PropertyFormat, text: &str) {
    let p = parse(format, text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let written = p.to_text(format);
    let again = parse(format, &written).unwrap_or_else(|e| panic!("{written:?}: {e}"));
    assert!(again.same_entries(&p), "{text:?} -> {written:?}");
    assert_eq!(again.to_text(format), written);
}

#[test]
fn every_inline_format_of_the_pve_schema() {
    let Ok(bytes) = std::fs::read(SCHEMA) else {
        println!("skipped: {SCHEMA} is not present (a development-machine-only check)");
        return;
    };
    let root: Value = serde_json::from_slice(&bytes).expect("the schema is JSON");
    let mut found = Vec::new();
    collect(&root, &mut found);
    assert!(
        found.len() > 100,
        "only {} inline formats found",
        found.len()
    );
    let (mut documented, mut pairs, mut aliases) = (0, 0, 0);
    for (map, typetext) in &found {
        let format = build(map);
        let dk = default_key(&format);

        if let Some(tt) = typetext {
            documented += 1;
            assert_eq!(dk, documented_default(tt), "default key of {tt:?}");
            let doc_pairs = documented_key_aliases(tt);
            for (key_alias, target) in &doc_pairs {
                pairs += 1;
                assert!(
                    format
                        .keys
                        .iter()
                        .any(|(_, s)| s.alias.as_deref() == Some(target)
                            && s.key_alias.as_deref() == Some(key_alias)),
                    "<{key_alias}>=<{target}> of {tt:?}"
                );
            }
            for (k, s) in &format.keys {
                if let (Some(t), Some(ka)) = (&s.alias, &s.key_alias) {
                    assert!(
                        doc_pairs.contains(&(ka.as_str(), t.as_str())),
                        "{k}: <{ka}>=<{t}> not in {tt:?}"
                    );
                }
            }
        }

        // The required keys, the default one bare.
        let base = synthetic(&format, &[]);
        round_trips(&format, &base.join(","));
        let p = parse(&format, &base.join(",")).unwrap();
        assert_eq!(p.len(), base.len());
        if let Some(dk) = dk {
            assert_eq!(p.get(dk), Some("v-default"));
        }

        // Each required key left out is named.
        for k in required(&format) {
            let text = synthetic(&format, &[k]).join(",");
            match parse(&format, &text) {
                Err(PropertyStringError::MissingKeys { keys }) => {
                    assert!(keys.iter().any(|m| m == k), "{k} not in {keys:?}")
                }
                other => panic!("{text:?} without {k}: {other:?}"),
            }
        }

        // Every optional key, and every alias.
        for (k, s) in &format.keys {
            if s.optional && s.alias.is_none() && Some(k.as_str()) != dk {
                let mut parts = base.clone();
                parts.push(format!("{k}=x"));
                round_trips(&format, &parts.join(","));
            }
            let Some(target) = s.alias.as_deref() else {
                continue;
            };
            aliases += 1;
            let key_alias = s.key_alias.as_deref();
            let mut skip = vec![target];
            skip.extend(key_alias);
            let mut parts = synthetic(&format, &skip);
            parts.push(format!("{k}=via-alias"));
            let text = parts.join(",");
            let p = parse(&format, &text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(p.get(target), Some("via-alias"), "{text:?}");
            if let Some(ka) = key_alias {
                assert_eq!(p.get(ka), Some(k.as_str()), "{text:?}");
                let written = p.to_text(&format);
                assert!(
                    written
                        .split(',')
                        .any(|part| part == format!("{k}=via-alias")),
                    "{written:?} does not write the pair as PVE does"
                );
            }
            round_trips(&format, &text);
        }

        let mut parts = base.clone();
        parts.push("no-such-key=1".into());
        assert!(matches!(
            parse(&format, &parts.join(",")),
            Err(PropertyStringError::UnknownKey { .. })
        ));
    }
    println!(
        "{} inline formats ({documented} with a typetext, {pairs} keyAlias pairs documented), \
         {aliases} alias keys: all understood",
        found.len()
    );
}
