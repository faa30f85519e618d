//! One surface: every adapter's `Client` has every method of
//! [`proxmox_proto::capability::SURFACE`] (written in its own source, or brought in by one of
//! the core's method macros), and the README's capability table is the core's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The names after `pub fn` / `pub async fn` in `text`.
fn pub_fns(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let l = line.trim_start();
        let rest = l
            .strip_prefix("pub async fn ")
            .or_else(|| l.strip_prefix("pub fn "))
            .or_else(|| l.strip_prefix("pub $($async)? fn "));
        if let Some(rest) = rest {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

/// The methods each of the core's method macros brings in (with those of the macros it
/// invokes).
fn macro_methods() -> Vec<(String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(root().join("core/src/blocking_verbs.rs")).unwrap();
    let mut own = Vec::new();
    for part in text.split("macro_rules! ").skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        own.push((name, part.to_owned()));
    }
    assert!(own.len() >= 4, "the method macros were not found");
    own.iter()
        .map(|(name, body)| {
            let mut methods = pub_fns(body);
            for (other, other_body) in &own {
                if body.contains(&format!("$crate::{other}!(")) {
                    methods.extend(pub_fns(other_body));
                }
            }
            (name.clone(), methods)
        })
        .collect()
}

fn surface_of(adapter: &str) -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join(adapter).join("src"), &mut files);
    let macros = macro_methods();
    let mut names = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        names.extend(pub_fns(&text));
        for (m, methods) in &macros {
            if text.contains(&format!("proxmox_proto::{m}!(")) {
                names.extend(methods.iter().cloned());
            }
        }
    }
    names
}

#[test]
fn every_adapter_has_the_whole_surface() {
    let mut missing = Vec::new();
    for adapter in [
        "ureq-adapter",
        "async-adapter",
        "wasm-adapter",
        "cli-adapter",
    ] {
        let have = surface_of(adapter);
        for m in proxmox_proto::capability::SURFACE {
            if !have.contains(*m) {
                missing.push(format!("{adapter}: {m}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "methods of the common surface missing (add them; a runtime that cannot do one \
         refuses it with the capability table's Unsupported):\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_error_accessors_are_the_cores() {
    let text = std::fs::read_to_string(root().join("core/src/client_error.rs")).unwrap();
    let have = pub_fns(&text);
    for m in proxmox_proto::capability::ERROR_SURFACE {
        assert!(have.contains(*m), "ClientError lacks {m}");
    }
    for adapter in [
        "ureq-adapter",
        "async-adapter",
        "wasm-adapter",
        "cli-adapter",
    ] {
        let lib = std::fs::read_to_string(root().join(adapter).join("src/lib.rs")).unwrap();
        // Either re-exported directly or through the core's native_types! macro.
        let native = lib.contains("proxmox_proto::native_types!();") && native_types_reexport();
        assert!(
            native || lib.contains("pub use proxmox_proto::ClientError as Error;"),
            "{adapter} has an error type of its own"
        );
        assert!(
            native || lib.contains("pub use proxmox_proto::flow::CallOptions;"),
            "{adapter} has call options of its own"
        );
        for own in ["enum Error", "struct Error", "struct CallOptions"] {
            assert!(!lib.contains(own), "{adapter} defines {own}");
        }
    }
}

/// Whether the core's `native_types!` re-exports its error and call options.
fn native_types_reexport() -> bool {
    let text = std::fs::read_to_string(root().join("core/src/blocking_verbs.rs")).unwrap();
    let Some(body) = text.split("macro_rules! native_types").nth(1) else {
        return false;
    };
    let body = body.split("macro_rules!").next().unwrap_or("");
    body.contains("pub use $crate::ClientError as Error;")
        && body.contains("pub use $crate::flow::CallOptions;")
}

#[test]
fn the_readme_capability_table_is_the_cores() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table = proxmox_proto::capability::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's capability table differs from the core's; replace it with:\n\n{table}"
    );
}
