//! A schema on the shell wire (feature `schema`): a call the schema refuses never runs a
//! command; one it accepts runs as usual.

use proxmox_cli::{Call, Client};

const FIXTURE: &str = include_str!("../../core/tests/data/schema/pve-mini.json");

#[test]
fn a_refused_call_never_runs_the_command() {
    let schema = proxmox_proto::schema::Schema::from_json(FIXTURE.as_bytes()).expect("fixture");
    let dir = std::env::temp_dir().join(format!("cli-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("ran");
    let program = dir.join("pvesh");
    std::fs::write(
        &program,
        format!("#!/bin/sh\ntouch '{}'\necho '{{}}'\n", marker.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let client = Client::local()
        .program(program.to_string_lossy())
        .schema(schema)
        .build()
        .expect("builds");
    let bad = Call::post("nodes/pve1/qemu").unwrap().param("vmid", "x");
    let e = client.call::<serde_json::Value>(&bad).unwrap_err();
    assert_eq!(e.api().map(|a| a.status), Some(400), "{e}");
    assert!(!e.may_have_been_sent(), "{e}");
    assert!(!marker.exists(), "the command did not run");
    let _: serde_json::Value = client.get("version").expect("a call the schema has runs");
    assert!(marker.exists(), "the command ran");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fetch_schema_says_where_the_file_is() {
    let client = Client::local()
        .program("/bin/false")
        .build()
        .expect("builds");
    let e = client.fetch_schema().unwrap_err().to_string();
    assert!(
        e.contains("/usr/share/pve-docs/api-viewer/apidoc.js"),
        "{e}"
    );
    assert!(e.contains("Schema::from_apidoc"), "{e}");
}
