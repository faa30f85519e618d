//! The loader and the pattern translation on the full PVE and PBS schemas, on a machine that
//! has them in `/work/shared/schema/` (they are AGPL: never copied into this repository, only
//! read here at test time). Each test prints why and passes when its file is absent; the Perl
//! comparison also needs `perl`.
#![cfg(feature = "schema")]

use proxmox_proto::schema::model::{Pattern, PropSchema};
use proxmox_proto::schema::pattern::{PatternDialect, translate};
use proxmox_proto::schema::{Format, Schema, SchemaMethod, SchemaType};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const DIR: &str = "/work/shared/schema";

/// The file's text, or `None` (with a message) when this machine does not have it.
fn shared(name: &str) -> Option<String> {
    let path = Path::new(DIR).join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            println!("skipped: {} is not readable here ({e})", path.display());
            None
        }
    }
}

fn load(name: &str) -> Option<Schema> {
    let text = shared(name)?;
    let start = Instant::now();
    let schema = if name.ends_with(".json") {
        Schema::from_json(text.as_bytes())
    } else {
        Schema::from_apidoc(&text)
    }
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    println!(
        "{name}: loaded in {:?} (this build's profile)",
        start.elapsed()
    );
    Some(schema)
}

fn count_by_method(schema: &Schema) -> [usize; 4] {
    let mut n = [0; 4];
    for (m, _, _) in schema.endpoints() {
        n[m.index()] += 1;
    }
    n
}

#[test]
fn pve_apidata_loads_with_the_documented_counts() {
    let Some(schema) = load("pve-apidata.js") else {
        return;
    };
    let stats = schema.stats();
    println!("pve-apidata.js: {stats:?}");
    assert_eq!(stats.paths, 435);
    assert_eq!(stats.methods, 649);
    assert_eq!(count_by_method(&schema), [327, 169, 79, 74]);
    assert_eq!(stats.patterns, 66);
    assert_eq!(stats.untranslated_patterns, 0);
    let no_token = schema.endpoints().filter(|(_, _, m)| !m.allowtoken).count();
    assert_eq!(no_token, 5);
}

#[test]
fn pve_schema_json_loads_with_the_documented_counts() {
    let Some(schema) = load("PVE-schema.json") else {
        return;
    };
    let stats = schema.stats();
    println!("PVE-schema.json: {stats:?}");
    assert_eq!(stats.paths, 432);
    assert_eq!(stats.methods, 646);
    assert_eq!(count_by_method(&schema), [326, 167, 79, 74]);
    assert_eq!(stats.untranslated_patterns, 0);
}

#[test]
fn pbs_apidoc_loads_with_the_documented_counts() {
    let Some(schema) = load("pbs-apidoc.js") else {
        return;
    };
    let stats = schema.stats();
    println!("pbs-apidoc.js: {stats:?}");
    assert_eq!(stats.paths, 248);
    assert_eq!(stats.methods, 367);
    assert_eq!(count_by_method(&schema), [185, 91, 53, 38]);
    assert_eq!(stats.untranslated_patterns, 0);
}

/// Every distinct pattern of the three files, with the file it first appears in.
fn all_patterns() -> Option<BTreeMap<String, &'static str>> {
    let mut all = BTreeMap::new();
    for name in ["pve-apidata.js", "PVE-schema.json", "pbs-apidoc.js"] {
        let schema = load(name)?;
        for p in &schema.data().patterns {
            all.entry(p.perl.clone()).or_insert(name);
        }
    }
    Some(all)
}

#[test]
fn every_pattern_of_both_schemas_translates_and_compiles() {
    let Some(all) = all_patterns() else { return };
    let mut perl = 0;
    let mut rust = 0;
    let mut perl_only = 0;
    let mut constructs: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pve_caret_or_atomic = 0;
    for (source, file) in &all {
        let t = translate(source).unwrap_or_else(|e| panic!("{file}: {source}: {e}"));
        let compiled = Pattern::new(source);
        assert!(
            compiled.is_match("").is_ok(),
            "{file}: {source} → {}: {:?}",
            t.regex,
            compiled.translated
        );
        match t.dialect {
            PatternDialect::Perl => perl += 1,
            PatternDialect::Rust => rust += 1,
        }
        if !t.perl_only.is_empty() {
            perl_only += 1;
        }
        for c in &t.perl_only {
            *constructs.entry(c).or_default() += 1;
        }
        if t.perl_only.iter().any(|c| *c == "(?^…)" || *c == "(?>…)") {
            pve_caret_or_atomic += 1;
        }
    }
    println!(
        "{} distinct patterns: {perl} Perl (PVE), {rust} Rust (PBS); {perl_only} needed a \
         Perl-only rewrite, {pve_caret_or_atomic} of them for `(?^` or `(?>`; by construct: \
         {constructs:?}",
        all.len()
    );
    assert_eq!(rust, 38);
    // The issue's count: 21 of PVE's 66 use `(?^:`, `(?^i:` or atomic groups.
    assert_eq!(pve_caret_or_atomic, 21);
    assert_eq!(perl_only, 23, "the 21 and two `{{,n}}` repetitions");
}

fn walk_schema<'a>(s: &'a PropSchema, out: &mut Vec<&'a PropSchema>) {
    out.push(s);
    if let Some(Format::PropertyString(f)) = &s.format {
        for (_, k) in &f.keys {
            walk_schema(k, out);
        }
    }
    if let Some(items) = &s.list_format {
        walk_schema(items, out);
    }
    match &s.ty {
        SchemaType::Array(Some(items)) => walk_schema(items, out),
        SchemaType::Object { properties, .. } => {
            for p in properties.values() {
                walk_schema(p, out);
            }
        }
        _ => {}
    }
}

fn every_value_schema(schema: &Schema) -> Vec<&PropSchema> {
    let mut out = Vec::new();
    for (_, _, m) in schema.endpoints() {
        for p in &m.params {
            walk_schema(&p.schema, &mut out);
        }
        if let Some(r) = &m.returns {
            walk_schema(r, &mut out);
        }
    }
    out
}

#[test]
fn string_defaults_and_their_own_patterns() {
    // Informational: some defaults are prose-like placeholders, not values.
    for name in ["pve-apidata.js", "pbs-apidoc.js"] {
        let Some(schema) = load(name) else { return };
        let (mut matching, mut other) = (0, 0);
        for s in every_value_schema(&schema) {
            let (Some(id), Some(serde_json::Value::String(d))) = (s.pattern, &s.default) else {
                continue;
            };
            match schema.pattern_matches(id, d) {
                Ok(true) => matching += 1,
                Ok(false) => other += 1,
                Err(e) => panic!("{name}: {e}"),
            }
        }
        println!("{name}: {matching} string defaults match their patterns, {other} do not");
    }
}

/// Values to try every PVE pattern with (written for this test), plus the schema's own enum
/// values and string defaults.
const VALUES: &[&str] = &[
    "",
    "a",
    "A",
    "0",
    "1",
    "7",
    "42",
    "100",
    "-1",
    "+5",
    "1.5",
    "1.5G",
    "10M",
    "512",
    "4K",
    "abc",
    "ABC",
    "aBc",
    "a b",
    " a",
    "a ",
    "a\n",
    "abc\n",
    "a\nb",
    "\n",
    "\n\n",
    "ab\n\n",
    "abc-def",
    "abc_def",
    "abc.def",
    "a,b",
    "a;b",
    "a=b",
    "a=b,c=d",
    "k=v, k2=v2",
    "a==b",
    "vm-100-disk-0",
    "local",
    "local-lvm",
    "local:iso/x.iso",
    "pve1",
    "pve-1",
    "-pve",
    "pve-",
    "node1.example.com",
    "Node_1",
    "192.168.1.10",
    "10.0.0.1/24",
    "fe80::1",
    "2001:db8::/64",
    "aa:bb:cc:dd:ee:ff",
    "AA:BB:CC:DD:EE:FF",
    "0000:00:1f.2",
    "01:00.0",
    "00:1f.2",
    "1234:5678",
    "0x1234:0x5678",
    "1-2.3",
    "1-2.3.4",
    "spice",
    "SPICE",
    "Spice",
    "/dev/sda",
    "/dev/sdb1",
    "/dev/parport0",
    "/dev/usb/lp1",
    "/dev/",
    "socket",
    "/var/tmp/pveupload-abc123",
    "/var/tmp/pveupload-",
    "2024-01-31",
    "2024-1-3",
    "2024-01-31 12:00",
    "2024-01-31 12:00:59",
    "2024-01-31T12:00:00",
    "now",
    "12:30",
    "1:2",
    "123:45",
    "5/minute",
    "1/second",
    "0/hour",
    "ide0",
    "scsi12",
    "virtio3",
    "sata",
    "pc",
    "pc-i440fx-8.1",
    "pc-8.1+pve1",
    "q35",
    "pc-q35-9.0+pve1",
    "pc-q35-9.0.pxe",
    "virt",
    "virt-9.0",
    "virt+pve2",
    "0755",
    "0788",
    "root@pam",
    "user@pve!token",
    "a@b@c",
    "https://example.com",
    "http://x",
    "ftp://x",
    "HTTPS://x",
    "acl;properties",
    "entry",
    "none",
    "acl;none",
    "ceph",
    "ceph.mon.a",
    "mon",
    "osd.1",
    "mds.a-",
    "mgr.x1",
    "pve1c-0123456789",
    "\tpve2b-abcdef0123 ",
    "pve3c-0123456789",
    "a\u{0}b=1",
    "x=1\u{0}y=2",
    "x=1\u{0}",
    "x=\u{7}",
    "discard;noatime",
    "discard;",
    "nodev",
    "1-3;5",
    "1;2;3",
    "1;;2",
    "net0=1,net1=2",
    "net0=1,",
    "+a,-b",
    "+a,,b",
    "a=1,b",
    "UPPER:lower",
    "ab:cd;ef:gh",
    "ab:cd, ef:gh",
    "my-tag",
    "Tag_1+x.y",
    "-tag",
    "t1;t2",
    "t1;",
    "ab",
    "a1",
    "x:0a0b0c",
    "x:0a0b0c:0d0e0f",
    "x:0a0b0c;y:010203",
    "x:0a0b",
    "x.y+z:abcdef",
    "12345678-1234-1234-1234-123456789abc",
    "12345678-1234-1234-1234-123456789abg",
    "01",
    "abcdef12",
    "0123456789abcdef",
    "0x0123456789abcdef",
    "0x0123",
    "pve2-1",
    "1.2.3",
    "1.",
    "docker.io/library/alpine:3.19",
    "registry:5000/foo/bar",
    "foo/bar_baz__qux",
    "foo--bar",
    "foo/bar:latest",
    "alpine",
    "Alpine",
    "(a) b-c_d.e",
    "x y z",
    "!=",
    "A=1!",
    "abc=",
    "12/second",
    "02/day",
    "1,2",
    "name=x,desc=y",
    "a=b , c=d",
    "a= b",
    "<>",
    "a#b",
    "a\"b",
    "a\u{7f}b",
    "\u{1}",
    "\u{9}tab",
    "é",
    "ünïcödé",
    "日本",
    "naïve-host",
    "ａ",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
];

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// What Perl says: for each pattern, `E` (does not compile) or one `0`/`1` per value, for
/// `$value =~ m/^$pattern$/` on the decoded strings.
fn perl_verdicts(patterns: &[&str], values: &[&str]) -> Option<Vec<String>> {
    const SCRIPT: &str = r#"
        use strict; use warnings; use Encode qw(decode);
        my (@p, @v);
        while (my $line = <STDIN>) {
            chomp $line;
            my ($kind, $hex) = split / /, $line, 2;
            my $s = decode('UTF-8', pack('H*', $hex // ''));
            if ($kind eq 'P') { push @p, $s } else { push @v, $s }
        }
        binmode STDOUT;
        for my $p (@p) {
            my @r = eval { map { ($_ =~ m/^$p$/) ? '1' : '0' } @v };
            print $@ ? "E\n" : join('', @r) . "\n";
        }
    "#;
    let mut child = match Command::new("perl")
        .args(["-e", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: no perl here ({e})");
            return None;
        }
    };
    let mut input = String::new();
    for p in patterns {
        input.push_str(&format!("P {}\n", hex(p)));
    }
    for v in values {
        input.push_str(&format!("V {}\n", hex(v)));
    }
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("perl reads");
    let out = child.wait_with_output().expect("perl runs");
    assert!(out.status.success(), "perl failed");
    Some(
        String::from_utf8(out.stdout)
            .expect("ASCII")
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

#[test]
fn perl_and_the_translation_agree_on_every_pve_pattern() {
    let mut patterns = BTreeSet::new();
    let mut values: BTreeSet<String> = VALUES.iter().map(|v| (*v).to_owned()).collect();
    for name in ["pve-apidata.js", "PVE-schema.json"] {
        let Some(schema) = load(name) else { return };
        patterns.extend(schema.data().patterns.iter().map(|p| p.perl.clone()));
        for s in every_value_schema(&schema) {
            values.extend(s.enumeration.iter().flatten().cloned());
            if let Some(serde_json::Value::String(d)) = &s.default {
                values.insert(d.clone());
            }
        }
    }
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let Some(verdicts) = perl_verdicts(&patterns, &values) else {
        return;
    };
    assert_eq!(verdicts.len(), patterns.len());
    let mut mismatches = Vec::new();
    let mut unicode = Vec::new();
    let mut accepted = 0;
    for (p, perl) in patterns.iter().zip(&verdicts) {
        assert_ne!(perl, "E", "perl does not compile {p}");
        let compiled = Pattern::new(p);
        for (v, said) in values.iter().zip(perl.chars()) {
            let ours = compiled.is_match(v).expect("translated");
            accepted += usize::from(said == '1');
            if ours != (said == '1') {
                let entry = format!("{p:?} on {v:?}: perl {said}, here {ours}");
                if v.is_ascii() {
                    mismatches.push(entry);
                } else {
                    unicode.push(entry);
                }
            }
        }
    }
    println!(
        "{} patterns x {} values compared with perl ({accepted} matches); {} differ only on \
         non-ASCII values (Unicode \\w, \\d, \\s and case folding): {unicode:#?}",
        patterns.len(),
        values.len(),
        unicode.len()
    );
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// A concrete path for a schema path: each `{var}` replaced by a value.
fn concrete(template: &str) -> (String, Vec<(String, String)>) {
    let mut vars = Vec::new();
    let path = template
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let value = format!("v-{name}:1");
                    vars.push((name.to_owned(), value.clone()));
                    value.replace(':', "%3A")
                }
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    (path, vars)
}

#[test]
fn every_endpoint_is_found_by_a_concrete_path() {
    for name in ["pve-apidata.js", "PVE-schema.json", "pbs-apidoc.js"] {
        let Some(schema) = load(name) else { return };
        let mut n = 0;
        for (m, node, method) in schema.endpoints() {
            let (path, vars) = concrete(&node.path);
            let found = schema
                .method(m, &path)
                .unwrap_or_else(|| panic!("{name}: {m} {path}"));
            assert!(std::ptr::eq(found.method, method), "{name}: {m} {path}");
            let got: Vec<_> = found
                .vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            assert_eq!(got, vars, "{name}: {m} {path}");
            n += 1;
        }
        println!("{name}: {n} endpoints found by concrete path");
    }
}

#[test]
fn pve_lookups_and_parameters_a_client_relies_on() {
    let Some(schema) = load("pve-apidata.js") else {
        return;
    };
    let create = schema
        .method(SchemaMethod::Post, "/nodes/pve1/qemu")
        .expect("POST /nodes/{node}/qemu");
    let net = create.method.param("net0").expect("net[n]");
    let Some(Format::PropertyString(f)) = &net.schema.format else {
        panic!("net[n] is a property string")
    };
    assert_eq!(f.default_key.as_deref(), Some("model"));
    assert!(
        f.keys
            .iter()
            .any(|(k, s)| k == "virtio" && s.alias.is_some())
    );
    assert!(create.method.param("scsi0").is_some());
    let ticket = schema
        .method(SchemaMethod::Post, "/access/ticket")
        .expect("ticket");
    assert!(!ticket.method.allowtoken);
}

#[test]
fn no_description_survives_loading() {
    for name in ["pve-apidata.js", "pbs-apidoc.js"] {
        let Some(text) = shared(name) else { return };
        let schema = Schema::from_apidoc(&text).expect("loads");
        let start = text.find('[').expect("an array");
        let mut de = serde_json::Deserializer::from_str(&text[start..]);
        let raw: serde_json::Value = serde::Deserialize::deserialize(&mut de).expect("JSON");
        let mut descriptions = Vec::new();
        collect_descriptions(&raw, &mut descriptions);
        descriptions.sort_by_key(|d| std::cmp::Reverse(d.len()));
        descriptions.dedup();
        let dump = format!("{:?}", schema.data());
        for d in descriptions.iter().take(60) {
            // Debug escapes quotes and newlines; compare a plain run of the text.
            let probe: String = d.chars().take_while(|c| *c != '"' && *c != '\n').collect();
            if probe.len() > 40 {
                assert!(!dump.contains(&probe), "{name}: a description was kept");
            }
        }
        println!(
            "{name}: the model ({} bytes as Debug) holds none of the 60 longest of {} descriptions",
            dump.len(),
            descriptions.len()
        );
    }
}

fn collect_descriptions(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                match x {
                    serde_json::Value::String(s)
                        if k == "description" || k == "verbose_description" =>
                    {
                        out.push(s.clone());
                    }
                    _ => collect_descriptions(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_descriptions(x, out)),
        _ => {}
    }
}
