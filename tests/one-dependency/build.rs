//! Extracts a README code block into `$OUT_DIR/tour.rs`, as rustdoc would read it (lines
//! starting with `# ` are code too), so that the block is compiled as it stands in README.md.
//! Which block: the first Rust block after the heading this package names.

use std::path::Path;

fn main() {
    let heading = match std::env::var("CARGO_PKG_NAME").as_deref() {
        Ok("one-dependency-ureq") => "## A tour of the blocking client",
        Ok("one-dependency-async") => "## Async (tokio or async-std)",
        other => panic!("no README block is known for the package {other:?}"),
    };
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let readme = Path::new(&manifest).join("../../../README.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", readme.display()));
    let after = text
        .split_once(heading)
        .unwrap_or_else(|| panic!("README.md has no heading {heading:?}"))
        .1;
    let block = after
        .split_once("```rust")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap_or_else(|| panic!("no Rust block after {heading:?} in README.md"))
        .0;
    let code: String = block
        .lines()
        .map(|l| match l {
            "#" => "",
            _ => l.strip_prefix("# ").unwrap_or(l),
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("tour.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
