//! The schema loader on small fixtures written for these tests (`tests/data/schema/`: paths,
//! parameter names and types in the shape of the served `apidoc.js`, no Proxmox text; their
//! descriptions are `FIXTURE-PROSE-…` markers the loader must drop).
#![cfg(feature = "schema")]

use proxmox_proto::schema::{
    Format, Schema, SchemaError, SchemaMethod, SchemaType, model::PropSchema,
};
use std::sync::Arc;

const PVE: &str = include_str!("data/schema/pve-mini.json");
const PBS: &str = include_str!("data/schema/pbs-mini.json");

fn pve() -> Schema {
    Schema::from_json(PVE.as_bytes()).expect("the PVE fixture loads")
}

fn array(text: &str) -> &str {
    text.trim_end()
}

fn param<'a>(schema: &'a Schema, m: SchemaMethod, path: &str, name: &str) -> &'a PropSchema {
    &schema
        .method(m, path)
        .unwrap_or_else(|| panic!("{m} {path}"))
        .method
        .param(name)
        .unwrap_or_else(|| panic!("{m} {path} {name}"))
        .schema
}

fn shape_error(text: &str) -> (String, String) {
    match Schema::from_json(text.as_bytes()) {
        Err(SchemaError::Shape { at, problem }) => (at, problem),
        other => panic!("expected a shape error for {text}, got {other:?}"),
    }
}

#[test]
fn loads_the_path_tree_methods_and_counts() {
    let schema = pve();
    let stats = schema.stats();
    // 18 path nodes: the 15 the fixture lists and 3 ancestors it leaves out (`…/status`,
    // `…/storage/{storage}`, `…/content`).
    assert_eq!(stats.paths, 18);
    assert_eq!(stats.methods, 18);
    assert_eq!(stats.patterns, 3);
    assert_eq!(stats.untranslated_patterns, 0);
    assert_eq!(stats.property_formats, 2);
    let root = schema.paths().next().unwrap();
    assert_eq!(root.path, "/");
    let children: Vec<_> = root
        .children
        .iter()
        .map(|&c| schema.data().nodes[c as usize].segment.as_str())
        .collect();
    assert_eq!(children, ["nodes", "pools", "access", "version"]);
    let status = schema
        .paths()
        .find(|n| n.path == "/nodes/{node}/qemu/{vmid}/status")
        .expect("the missing ancestor is created");
    assert_eq!(status.methods, [None; 4]);
    assert_eq!(status.variable(), None);
    let vmid = schema
        .paths()
        .find(|n| n.path == "/nodes/{node}/qemu/{vmid}")
        .unwrap();
    assert_eq!(vmid.variable(), Some("vmid"));
    assert_eq!(schema.endpoints().count(), 18);
}

#[test]
fn every_served_form_loads_the_same() {
    let json = array(PVE);
    let forms = [
        format!("const apiSchema = {json};\n"),
        format!(
            "// the API viewer's data\nvar apiSchema = {json};\n\nExt.onReady(function() {{ var a = [1, 2]; }});\n"
        ),
        format!("var pmgapi = {json}\n;"),
        format!("\u{feff}const apiSchema={json};"),
        json.to_owned(),
    ];
    let expected = pve().stats();
    for text in &forms {
        let schema = Schema::from_apidoc(text).unwrap_or_else(|e| panic!("{e}: {text:.40}"));
        assert_eq!(schema.stats(), expected, "{text:.40}");
    }
}

#[test]
fn finds_methods_by_concrete_path() {
    let schema = pve();
    let start = schema
        .method(SchemaMethod::Post, "/nodes/pve1/qemu/100/status/start")
        .unwrap();
    assert_eq!(start.method.name, "vm_start");
    assert_eq!(start.path(), "/nodes/{node}/qemu/{vmid}/status/start");
    assert_eq!(start.kind, SchemaMethod::Post);
    assert_eq!(
        start.vars,
        [("node", "pve1".to_owned()), ("vmid", "100".to_owned())]
    );
    // Without the leading slash, with doubled and trailing slashes.
    let same = schema
        .method(SchemaMethod::Post, "nodes/pve1//qemu/100/status/start/")
        .unwrap();
    assert_eq!(same.method.name, "vm_start");
    // Segments are percent-decoded.
    let volume = schema
        .method(
            SchemaMethod::Delete,
            "/nodes/pve1/storage/local/content/local%3Aiso%2Fdebian.iso",
        )
        .unwrap();
    assert_eq!(volume.var("volume"), Some("local:iso/debian.iso"));
    assert_eq!(volume.var("storage"), Some("local"));
    // Unknown paths and methods.
    assert!(
        schema
            .method(SchemaMethod::Get, "/nodes/pve1/lxc")
            .is_none()
    );
    assert!(
        schema
            .method(SchemaMethod::Put, "/nodes/pve1/qemu/100/status/start")
            .is_none()
    );
    assert!(schema.method(SchemaMethod::Get, "/").is_none());
    // The node exists even where the method does not.
    let (node, vars) = schema.resolve("/nodes/pve1/qemu/100/status").unwrap();
    assert_eq!(node.path, "/nodes/{node}/qemu/{vmid}/status");
    assert_eq!(vars.len(), 2);
}

#[test]
fn literal_segments_win_and_dead_ends_fall_back_to_variables() {
    let schema = pve();
    let all = schema.method(SchemaMethod::Get, "/pools/all").unwrap();
    assert_eq!(all.method.name, "all_pools");
    assert!(all.vars.is_empty());
    // `/pools/all` has no PUT: the variable sibling does.
    let put = schema.method(SchemaMethod::Put, "/pools/all").unwrap();
    assert_eq!(put.method.name, "update_pool");
    assert_eq!(put.var("poolid"), Some("all"));
    let other = schema.method(SchemaMethod::Get, "/pools/dev").unwrap();
    assert_eq!(other.method.name, "read_pool");
}

#[test]
fn method_flags_and_their_defaults() {
    let schema = pve();
    let create = schema
        .method(SchemaMethod::Post, "/nodes/n/qemu")
        .unwrap()
        .method;
    assert_eq!(create.name, "create_vm");
    assert!(create.protected);
    assert_eq!(create.proxyto.as_deref(), Some("node"));
    assert!(create.allowtoken, "allowtoken absent means yes");
    assert!(!create.additional_properties);
    assert!(!create.download_allowed);
    let ticket = schema
        .method(SchemaMethod::Post, "/access/ticket")
        .unwrap()
        .method;
    assert!(!ticket.allowtoken);
    assert!(!ticket.protected);
    let version = schema.method(SchemaMethod::Get, "/version").unwrap().method;
    assert!(
        version.additional_properties,
        "additionalProperties absent allows others, as PVE's check_object does"
    );
    assert!(version.params.is_empty());
    assert!(version.permissions.is_none());
    let download = schema
        .method(SchemaMethod::Get, "/nodes/n/storage/s/download")
        .unwrap()
        .method;
    assert!(download.download_allowed);
    match &version.returns.as_ref().unwrap().ty {
        SchemaType::Object { properties, .. } => {
            assert_eq!(
                properties.keys().collect::<Vec<_>>(),
                ["release", "version"]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn parameters_keep_schema_order_and_indexed_families() {
    let schema = pve();
    let create = schema
        .method(SchemaMethod::Post, "/nodes/n/qemu")
        .unwrap()
        .method;
    let names: Vec<_> = create
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.indexed))
        .collect();
    assert_eq!(
        names,
        [
            ("node", false),
            ("vmid", false),
            ("name", false),
            ("memory", false),
            ("cores", false),
            ("ostype", false),
            ("net", true),
            ("scsi", true),
            ("labels", false),
            ("description", false),
            ("start", false),
        ]
    );
    assert_eq!(create.param("net0").unwrap().name, "net");
    assert_eq!(create.param("scsi12").unwrap().name, "scsi");
    assert!(create.param("net").is_none());
    assert!(create.param("netx").is_none());
    // A parameter *named* description is a parameter, not prose.
    let description = create.param("description").unwrap();
    assert_eq!(description.schema.max_length, Some(8192));
}

#[test]
fn value_schemas_read_leniently() {
    let schema = pve();
    let vmid = param(&schema, SchemaMethod::Post, "/nodes/n/qemu", "vmid");
    assert!(matches!(vmid.ty, SchemaType::Integer));
    assert_eq!(
        (vmid.minimum, vmid.maximum),
        (Some(100.0), Some(999_999_999.0))
    );
    assert!(matches!(&vmid.format, Some(Format::Named(n)) if n == "pve-vmid"));
    assert!(!vmid.optional);
    let cores = param(&schema, SchemaMethod::Post, "/nodes/n/qemu", "cores");
    assert_eq!(cores.default, Some(serde_json::json!(1)));
    assert!(cores.optional);
    let ostype = param(&schema, SchemaMethod::Post, "/nodes/n/qemu", "ostype");
    assert_eq!(
        ostype.enumeration.as_deref(),
        Some(&["l26".to_owned(), "win11".to_owned(), "other".to_owned()][..])
    );
    // `"optional": "1"` and `"minimum": "0"` (strings) are read as what they say.
    let start = "/nodes/n/qemu/1/status/start";
    assert!(param(&schema, SchemaMethod::Post, start, "skiplock").optional);
    let timeout = param(&schema, SchemaMethod::Post, start, "timeout");
    assert_eq!(
        (timeout.minimum, timeout.maximum),
        (Some(0.0), Some(86400.0))
    );
    let name = param(&schema, SchemaMethod::Post, "/nodes/n/qemu", "name");
    assert_eq!(name.max_length, Some(64));
    let delete = param(
        &schema,
        SchemaMethod::Put,
        "/nodes/n/qemu/1/config",
        "delete",
    );
    assert!(matches!(&delete.format, Some(Format::Named(n)) if n == "pve-configid-list"));
}

#[test]
fn property_string_formats_keep_key_order_default_key_and_aliases() {
    let schema = pve();
    let net = param(&schema, SchemaMethod::Post, "/nodes/n/qemu", "net0");
    assert!(net.typetext.as_deref().unwrap().starts_with("[model=]"));
    let Some(Format::PropertyString(format)) = &net.format else {
        panic!("net[n] has a property-string format: {:?}", net.format);
    };
    let keys: Vec<_> = format.keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "model", "macaddr", "bridge", "firewall", "tag", "trunks", "virtio", "e1000"
        ]
    );
    assert_eq!(format.default_key.as_deref(), Some("model"));
    let (_, virtio) = &format.keys[6];
    assert_eq!(virtio.alias.as_deref(), Some("macaddr"));
    assert_eq!(virtio.key_alias.as_deref(), Some("model"));
    let (_, tag) = &format.keys[4];
    assert_eq!((tag.minimum, tag.maximum), (Some(1.0), Some(4094.0)));
    // The same format on PUT …/config is the same value, shared.
    let put = param(&schema, SchemaMethod::Put, "/nodes/n/qemu/1/config", "net1");
    let Some(Format::PropertyString(put_format)) = &put.format else {
        panic!("{:?}", put.format);
    };
    assert!(Arc::ptr_eq(format, put_format));
    let scsi = param(&schema, SchemaMethod::Post, "/nodes/n/qemu", "scsi0");
    let Some(Format::PropertyString(scsi)) = &scsi.format else {
        panic!()
    };
    assert_eq!(scsi.default_key.as_deref(), Some("file"));
    assert_eq!(scsi.keys[0].1.format_description.as_deref(), Some("volume"));
    assert!(
        scsi.keys[3].1.optional,
        "\"optional\": \"1\" in a format key"
    );
}

#[test]
fn patterns_are_shared_translated_and_anchored() {
    let schema = pve();
    let labels = param(&schema, SchemaMethod::Post, "/nodes/n/qemu", "labels");
    let id = labels.pattern.unwrap();
    assert_eq!(schema.pattern_matches(id, "Web,db2"), Ok(true));
    assert_eq!(schema.pattern_matches(id, "web,,db"), Ok(false));
    assert_eq!(schema.pattern_matches(id, "web;db"), Ok(false));
    let read = param(&schema, SchemaMethod::Get, "/pools/p", "poolid");
    let update = param(&schema, SchemaMethod::Put, "/pools/p", "poolid");
    assert_eq!(read.pattern, update.pattern, "one pattern, deduplicated");
    let pool = read.pattern.unwrap();
    assert_eq!(schema.pattern_matches(pool, "dev-a-b-c"), Ok(true));
    assert_eq!(schema.pattern_matches(pool, "dev-a-b-c-d"), Ok(false));
    let p = &schema.data().patterns[pool.0 as usize];
    assert!(p.perl.contains("(?>"));
    assert!(p.translated.as_ref().unwrap().contains("{0,3}"));
    assert!(
        schema
            .pattern_matches(proxmox_proto::schema::model::PatternId(99), "x")
            .is_err()
    );
}

#[test]
fn descriptions_never_reach_the_model() {
    let schema = pve();
    let dump = format!("{:?}", schema.data());
    assert!(!dump.contains("FIXTURE-PROSE"), "a description was kept");
    let create = schema
        .method(SchemaMethod::Post, "/nodes/n/qemu")
        .unwrap()
        .method;
    assert_eq!(
        create.permissions,
        Some(serde_json::json!({"check": ["perm", "/vms/{vmid}", ["VM.Allocate"]]}))
    );
    let pbs = Schema::from_json(PBS.as_bytes()).unwrap();
    assert!(!format!("{:?}", pbs.data()).contains("FIXTURE-PROSE"));
}

#[test]
fn pbs_forms_root_node_schema_formats_and_slash_patterns() {
    let text = format!(
        "var apiSchema = {};\n\nExt.define('PBS.Viewer', {{ items: [ {{ a: 1 }} ] }});\n",
        array(PBS)
    );
    let schema = Schema::from_apidoc(&text).unwrap();
    // The root `/` has a method: it is node 0, and counted.
    let root = schema.method(SchemaMethod::Get, "/").unwrap();
    assert_eq!(root.method.name, "index");
    assert_eq!(root.path(), "/");
    let stats = schema.stats();
    assert_eq!(stats.paths, 7);
    assert_eq!(stats.methods, 3);
    let upgrade = schema
        .method(SchemaMethod::Get, "/backup/_upgrade_")
        .unwrap();
    assert_eq!(upgrade.method.params.len(), 2);
    let path = "/config/datastore/store1";
    let update = schema.method(SchemaMethod::Put, path).unwrap().method;
    assert!(!update.additional_properties);
    assert!(update.protected);
    let mode = param(&schema, SchemaMethod::Put, path, "maintenance-mode");
    let Some(Format::PropertyString(mode)) = &mode.format else {
        panic!("{:?}", mode.format)
    };
    let keys: Vec<_> = mode.keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["type", "message"]);
    assert_eq!(mode.default_key.as_deref(), Some("type"));
    let vanished = param(&schema, SchemaMethod::Put, path, "remove-vanished");
    assert!(vanished.format.is_none());
    let items = vanished.list_format.as_ref().unwrap();
    assert_eq!(items.enumeration.as_ref().unwrap().len(), 3);
    // PBS patterns are `/…/` in Rust syntax, applied as a search.
    let name = param(&schema, SchemaMethod::Put, path, "name")
        .pattern
        .unwrap();
    assert_eq!(schema.pattern_matches(name, "store1"), Ok(true));
    assert_eq!(schema.pattern_matches(name, "st"), Ok(false));
    let message = mode.keys[1].1.pattern.unwrap();
    assert_eq!(schema.pattern_matches(message, "disk swap"), Ok(true));
    assert_eq!(schema.pattern_matches(message, "bell\u{7}"), Ok(false));
}

#[test]
fn text_that_is_no_schema_is_refused_with_what_it_is() {
    let cases: [(&str, &str); 6] = [
        ("", "empty"),
        (
            "<!DOCTYPE html><html><body>404 Not Found</body></html>",
            "HTML",
        ),
        ("{\"data\": null}", "JSON object"),
        ("console.log('hello');", "no `= [` assignment"),
        ("var apiSchema = [];", "empty"),
        ("var apiSchema = [{\"path\": \"/x\"}];", "no methods"),
    ];
    for (text, says) in cases {
        match Schema::from_apidoc(text) {
            Err(e @ SchemaError::NotFound { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(says), "{text:?}: {msg}");
                assert!(msg.contains("apidoc.js"), "says what to give: {msg}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    assert!(matches!(
        Schema::from_json(b"  \n"),
        Err(SchemaError::NotFound { .. })
    ));
}

#[test]
fn invalid_json_is_located_in_the_text_given() {
    let text = "// viewer\nconst apiSchema = [\n  {\"path\": \"/x\",, }\n];";
    match Schema::from_apidoc(text) {
        Err(SchemaError::Json { line, column, .. }) => assert_eq!((line, column), (3, 17)),
        other => panic!("{other:?}"),
    }
    let e = Schema::from_apidoc("const apiSchema = [ {\"path\": 1").unwrap_err();
    assert!(matches!(e, SchemaError::Json { line: 1, .. }), "{e:?}");
    // Plain JSON must end where the value ends.
    let trailing = format!("{}\n;junk", array(PVE));
    assert!(matches!(
        Schema::from_json(trailing.as_bytes()),
        Err(SchemaError::Json { .. })
    ));
    assert!(matches!(
        Schema::from_json(b"[\xff]"),
        Err(SchemaError::Json { .. })
    ));
    // Nesting beyond serde_json's limit is an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Schema::from_json(deep.as_bytes()).is_err());
}

#[test]
fn shape_errors_name_path_method_and_parameter() {
    let (at, problem) = shape_error(
        r#"[{"path": "/a", "info": {"POST": {"parameters": {"properties": {"net[n]": {"type": "string", "optional": "maybe"}}}}}}]"#,
    );
    assert_eq!(at, "path /a POST parameter net[n]");
    assert!(
        problem.contains("optional") && problem.contains("\"maybe\""),
        "{problem}"
    );

    let (at, problem) = shape_error(
        r#"[{"path": "/a", "children": [{"path": "/a/{id}", "info": {"PUT": {"parameters": {"properties": {"x": {"type": "string", "format": {"k": {"type": "integer", "minimum": "low"}}}}}}}}]}]"#,
    );
    assert_eq!(at, "path /a/{id} PUT parameter x format format key k");
    assert!(problem.contains("minimum"), "{problem}");

    let (at, problem) = shape_error(
        r#"[{"path": "/a", "info": {"GET": {"returns": {"type": "array", "items": {"type": 5}}}}}]"#,
    );
    assert_eq!(at, "path /a GET returns items");
    assert!(problem.contains("`type` is a number"), "{problem}");

    let (at, problem) = shape_error(r#"[1]"#);
    assert_eq!(at, "the top level");
    assert!(problem.contains("a path node is a number"), "{problem}");

    let (at, problem) = shape_error(
        r#"[{"path": "/a", "info": {"GET": {}}}, {"path": "/a/", "info": {"GET": {}}}]"#,
    );
    assert_eq!(at, "path /a GET");
    assert!(problem.contains("twice"), "{problem}");

    let (_, problem) = shape_error(r#"[{"path": "/a/{}", "info": {"GET": {}}}]"#);
    assert!(problem.contains("names no variable"), "{problem}");

    let (at, problem) = shape_error(
        r#"[{"path": "/a", "info": {"GET": {"parameters": {"properties": {"s": {"pattern": ["x"]}}}}}}]"#,
    );
    assert_eq!(at, "path /a GET parameter s");
    assert!(problem.contains("`pattern` is an array"), "{problem}");

    let (_, problem) = shape_error(r#"[{"path": "/a", "children": {"path": "/a/b"}}]"#);
    assert!(problem.contains("`children` is an object"), "{problem}");

    let deep = format!(
        "[{{\"path\": \"{}\", \"info\": {{\"GET\": {{}}}}}}]",
        "/a".repeat(65)
    );
    let (_, problem) = shape_error(&deep);
    assert!(problem.contains("more than 64 segments"), "{problem}");

    let e = Schema::from_json(br#"[{"path": "/a", "info": {"GET": {"allowtoken": "sometimes"}}}]"#)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("path /a GET") && msg.contains("give the file unchanged"),
        "{msg}"
    );
}

#[test]
fn odd_but_harmless_values_are_accepted() {
    // Nulls for absent, 1/0 and "true" for booleans, numbers as strings, unknown methods and
    // keys skipped, a node without `path` named by its `text`.
    let text = r#"[{"path": "/a", "info": {
        "GET": {"name": null, "allowtoken": "0", "protected": true, "proxyto": null,
                "parameters": {"additionalProperties": "1", "properties": {
                    "n": {"type": "integer", "minimum": "1", "maxLength": 4.0, "enum": [1, 2],
                          "optional": 0, "default_key": null, "title": "x"},
                    "u": {"type": ["string", "null"]},
                    "o": {"properties": {"k": {"type": "string"}}},
                    "l": {"items": {"type": "string"}}}},
                "returns": null, "permissions": null},
        "PATCH": {"anything": true}},
      "children": [{"text": "b", "info": {"delete": {}}}]}]"#;
    let schema = Schema::from_json(text.as_bytes()).unwrap();
    let get = schema.method(SchemaMethod::Get, "/a").unwrap().method;
    assert!(!get.allowtoken && get.protected && get.additional_properties);
    assert_eq!(get.name, "");
    let n = &get.param("n").unwrap().schema;
    assert_eq!((n.minimum, n.max_length), (Some(1.0), Some(4)));
    assert_eq!(
        n.enumeration.as_deref(),
        Some(&["1".to_owned(), "2".to_owned()][..])
    );
    assert!(matches!(get.param("u").unwrap().schema.ty, SchemaType::Any));
    assert!(matches!(
        get.param("o").unwrap().schema.ty,
        SchemaType::Object {
            additional: true,
            ..
        }
    ));
    assert!(matches!(
        get.param("l").unwrap().schema.ty,
        SchemaType::Array(Some(_))
    ));
    assert!(schema.method(SchemaMethod::Delete, "/a/b").is_some());
    assert_eq!(schema.stats().methods, 2);
}

#[test]
fn method_names_and_indices() {
    for (i, m) in SchemaMethod::ALL.into_iter().enumerate() {
        assert_eq!(m.index(), i);
        assert_eq!(SchemaMethod::from_name(m.as_str()), Some(m));
        assert_eq!(SchemaMethod::from_name(&m.as_str().to_lowercase()), Some(m));
        assert_eq!(m.to_string(), m.as_str());
    }
    assert_eq!(SchemaMethod::from_name("PATCH"), None);
}
