//! No Proxmox API schema, and none of its prose, is in the repository (the schema is AGPL;
//! this project is MIT OR Apache-2.0 and loads the schema from the user's own server).
//!
//! Every file `git ls-files` lists is checked for:
//!
//! * a schema file by name (`apidoc.js`, `apidata.js`);
//! * a schema dump: an `apiSchema = [` / `pmgapi = [` assignment in a file over 64 KiB, or 25
//!   or more `"info": {"GET"`-shaped method tables;
//! * description sentences of the real schemas: when this machine has them in
//!   `/work/shared/schema/`, 50 descriptions longer than 60 characters are read from each at
//!   test time (never written anywhere) and searched for.
//!
//! Without git (or outside a checkout) the test prints why and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Method tables allowed in one file (the loader's fixtures have about a dozen).
const MAX_METHOD_TABLES: usize = 25;
/// Below this size an `apiSchema = [` assignment is an example, not a dump.
const MAX_ASSIGNMENT_FILE: usize = 64 * 1024;

fn repo_root() -> PathBuf {
    // Cargo sets it when running the test too; the compile-time value is the fallback.
    let core = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    core.parent().unwrap_or(Path::new(".")).to_path_buf()
}

fn tracked_files(root: &Path) -> Option<Vec<PathBuf>> {
    let out = match Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
    {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            println!(
                "skipped: git ls-files failed here ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Err(e) => {
            println!("skipped: no git here ({e})");
            return None;
        }
    };
    Some(
        out.stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
            .collect(),
    )
}

/// How many `"info" : { "GET"` (any of the four methods) tables the text has.
fn method_tables(text: &str) -> usize {
    let mut n = 0;
    let mut rest = text;
    while let Some(i) = rest.find("\"info\"") {
        rest = &rest[i + 6..];
        let after = rest.trim_start();
        let Some(after) = after.strip_prefix(':') else {
            continue;
        };
        let Some(after) = after.trim_start().strip_prefix('{') else {
            continue;
        };
        let after = after.trim_start();
        if ["\"GET\"", "\"POST\"", "\"PUT\"", "\"DELETE\""]
            .iter()
            .any(|m| after.starts_with(m))
        {
            n += 1;
        }
    }
    n
}

/// Whether the text assigns a schema array (`apiSchema = [`, `pmgapi = [`).
fn has_schema_assignment(text: &str) -> bool {
    ["apiSchema", "pmgapi"].iter().any(|name| {
        text.match_indices(name).any(|(i, _)| {
            let rest = text[i + name.len()..].trim_start();
            rest.strip_prefix('=')
                .is_some_and(|r| r.trim_start().starts_with('['))
        })
    })
}

/// Why `text` (of file `name`) looks like a schema dump, if it does.
fn looks_like_a_dump(name: &str, text: &str) -> Option<String> {
    if matches!(name, "apidoc.js" | "apidata.js") {
        return Some("it is named like the served schema".to_owned());
    }
    let tables = method_tables(text);
    if tables >= MAX_METHOD_TABLES {
        return Some(format!(
            "it has {tables} `\"info\": {{\"GET\"…` method tables"
        ));
    }
    if text.len() > MAX_ASSIGNMENT_FILE && has_schema_assignment(text) {
        return Some(format!(
            "it assigns `apiSchema = [` and is {} bytes long",
            text.len()
        ));
    }
    None
}

/// 50 descriptions longer than 60 characters from a schema on this machine, spread over the
/// file (read now, kept in memory only).
fn probes(file: &str) -> Vec<String> {
    let path = Path::new("/work/shared/schema").join(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!(
            "{}: not here, its descriptions are not checked",
            path.display()
        );
        return Vec::new();
    };
    let Some(start) = text.find('[') else {
        return Vec::new();
    };
    let mut de = serde_json::Deserializer::from_str(&text[start..]);
    let Ok(value) = <serde_json::Value as serde::Deserialize>::deserialize(&mut de) else {
        println!("{}: does not parse, skipped", path.display());
        return Vec::new();
    };
    let mut all = Vec::new();
    collect(&value, &mut all);
    all.sort();
    all.dedup();
    let step = (all.len() / 50).max(1);
    // The first 60 characters of each: a copy that was re-wrapped later still matches.
    all.iter()
        .step_by(step)
        .take(50)
        .map(|d| d.chars().take(60).collect())
        .collect()
}

fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                match x {
                    serde_json::Value::String(s)
                        if (k == "description" || k == "verbose_description")
                            && s.chars().count() > 60
                            && !s.contains('\n') =>
                    {
                        out.push(s.clone());
                    }
                    _ => collect(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
        _ => {}
    }
}

#[test]
fn the_repository_holds_no_schema_and_no_schema_prose() {
    let root = repo_root();
    let Some(files) = tracked_files(&root) else {
        return;
    };
    let mut probes_all = probes("PVE-schema.json");
    probes_all.extend(probes("pbs-apidoc.js"));
    let mut found = Vec::new();
    let mut checked = 0;
    for path in &files {
        let Ok(bytes) = std::fs::read(path) else {
            continue; // deleted in the work tree
        };
        let text = String::from_utf8_lossy(&bytes);
        let shown = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(why) = looks_like_a_dump(name, &text) {
            found.push(format!("{shown}: looks like a schema dump: {why}"));
        }
        for (i, probe) in probes_all.iter().enumerate() {
            if text.contains(probe.as_str()) {
                // The text is not printed: it must not spread further.
                found.push(format!("{shown}: contains schema description #{i}"));
            }
        }
        checked += 1;
    }
    println!(
        "{checked} tracked files checked against {} description probes",
        probes_all.len()
    );
    assert!(
        found.is_empty(),
        "schema text in the repository (remove it; load schemas at the user's site):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_dump_detector_finds_dumps_and_passes_examples() {
    let table = r#"{"path": "/x", "info" : { "GET": {"name": "x"}, "POST": {}}}"#;
    let dump = format!("const apiSchema = [{}];", [table; 30].join(","));
    assert!(looks_like_a_dump("data.js", &dump).is_some());
    let few = format!("const apiSchema = [{}];", [table; 3].join(","));
    assert!(looks_like_a_dump("example.rs", &few).is_none());
    let big = format!("var pmgapi = [{}];", " ".repeat(MAX_ASSIGNMENT_FILE));
    assert!(looks_like_a_dump("x.js", &big).is_some());
    assert!(looks_like_a_dump("apidoc.js", "").is_some());
    assert!(has_schema_assignment("var apiSchema= [1]"));
    assert!(!has_schema_assignment("apiSchema is served"));
    assert_eq!(
        method_tables(r#""info":{"DELETE":1} "info": 3 "info":{"x":1}"#),
        1
    );
}
