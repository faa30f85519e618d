//! Wire conformance with proxmoxer 2.3.0.
//!
//! The same scenario (token and password login, list nodes, create a VM with 8 parameters,
//! start it, read the task status and log, read and update the config with its digest, a 400
//! error with a list parameter, stop, delete) runs through proxmoxer (the test bed's venv)
//! and through our clients, each against a fresh fakepve behind a recording TLS proxy
//! (HTTP), or through sshd and the `pvesh` shim that records argv (command line). Every
//! request is compared field by field, its body framing (`Content-Length` and
//! `Transfer-Encoding`, presence and value) included. Every difference must be listed in
//! `divergences.json`; an unlisted one fails the test, and a listed one that no longer occurs
//! is reported.

use proxmox_sidebyside::{
    Diff, Divergences, Recorded, RecordingProxy, check, compare_argv, compare_steps,
};
use proxmox_testbed::{FakePve, PveshTarget, Sshd, ensure_setup, require_peer};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const VMID: u32 = 150;

/// What each step returned: (step, value).
type Steps = Vec<(String, Value)>;
/// The pvesh argv lists of each step: (step, calls).
type Argvs = Vec<(String, Vec<Vec<String>>)>;

/// A client under test: four verbs over a path given as segments.
trait Api {
    fn call(&mut self, method: &str, path: &[String], params: Value) -> Result<Value, u16>;
}

fn p(segments: &[&dyn std::fmt::Display]) -> Vec<String> {
    segments.iter().map(|s| s.to_string()).collect()
}

fn status_of(api: Option<&proxmox_proto::ApiError>, text: String) -> u16 {
    match api {
        Some(e) => e.status,
        None => panic!("not an API error: {text}"),
    }
}

struct Ureq(proxmox_ureq::Client);

impl Api for Ureq {
    fn call(&mut self, method: &str, path: &[String], params: Value) -> Result<Value, u16> {
        let c = &self.0;
        let path = path.to_vec();
        let r = match method {
            "GET" => c.get_with(path, &params),
            "POST" => c.post(path, &params),
            "PUT" => c.put(path, &params),
            _ => c.delete(path, &params),
        };
        r.map_err(|e| status_of(e.api(), e.to_string()))
    }
}

struct Async(proxmox_async::Client, tokio::runtime::Runtime);

impl Api for Async {
    fn call(&mut self, method: &str, path: &[String], params: Value) -> Result<Value, u16> {
        let c = &self.0;
        let path = path.to_vec();
        let r = self.1.block_on(async {
            match method {
                "GET" => c.get_with(path, &params).await,
                "POST" => c.post(path, &params).await,
                "PUT" => c.put(path, &params).await,
                _ => c.delete(path, &params).await,
            }
        });
        r.map_err(|e| status_of(e.api(), e.to_string()))
    }
}

struct Cli(proxmox_cli::Client);

impl Api for Cli {
    fn call(&mut self, method: &str, path: &[String], params: Value) -> Result<Value, u16> {
        let c = &self.0;
        let path = path.to_vec();
        let r = match method {
            "GET" => c.get_with(path, &params),
            "POST" => c.post(path, &params),
            "PUT" => c.put(path, &params),
            _ => c.delete(path, &params),
        };
        r.map_err(|e| status_of(e.api(), e.to_string()))
    }
}

/// The scenario after login; `before(step)` runs before each step. Returns (step, value).
fn scenario(api: &mut dyn Api, before: &mut dyn FnMut(&str)) -> Vec<(String, Value)> {
    let node = FakePve::NODE;
    let mut out = Vec::new();
    let mut step = |name: &str,
                    api: &mut dyn Api,
                    method: &str,
                    path: Vec<String>,
                    params: Value,
                    out: &mut Vec<(String, Value)>| {
        before(name);
        let v = match api.call(method, &path, params) {
            Ok(v) => v,
            Err(status) => json!(status),
        };
        out.push((name.to_owned(), v.clone()));
        v
    };
    let nodes = step(
        "list-nodes",
        api,
        "GET",
        p(&[&"nodes"]),
        json!({}),
        &mut out,
    );
    out.last_mut().unwrap().1 = json!(
        nodes
            .as_array()
            .map(|a| a.iter().map(|n| n["node"].clone()).collect::<Vec<_>>())
    );
    step(
        "create-vm",
        api,
        "POST",
        p(&[&"nodes", &node, &"qemu"]),
        json!({
            "vmid": VMID, "name": "sbs-vm", "memory": 512, "cores": 2, "sockets": 1,
            "ostype": "l26", "onboot": true, "net0": "virtio,bridge=vmbr0,firewall=1",
            "description": "side by side: a&b=c ü/% 'q' $x",
        }),
        &mut out,
    );
    let upid = step(
        "start",
        api,
        "POST",
        p(&[&"nodes", &node, &"qemu", &VMID, &"status", &"start"]),
        json!({}),
        &mut out,
    );
    let upid = upid.as_str().unwrap_or_default().to_owned();
    let st = step(
        "task-status",
        api,
        "GET",
        p(&[&"nodes", &node, &"tasks", &upid, &"status"]),
        json!({}),
        &mut out,
    );
    out.last_mut().unwrap().1 = st["status"].clone();
    let log = step(
        "task-log",
        api,
        "GET",
        p(&[&"nodes", &node, &"tasks", &upid, &"log"]),
        json!({"start": 0, "limit": 50}),
        &mut out,
    );
    out.last_mut().unwrap().1 = json!(log.as_array().map(Vec::len));
    let cfg = step(
        "read-config",
        api,
        "GET",
        p(&[&"nodes", &node, &"qemu", &VMID, &"config"]),
        json!({}),
        &mut out,
    );
    out.last_mut().unwrap().1 = cfg["name"].clone();
    step(
        "update-config",
        api,
        "PUT",
        p(&[&"nodes", &node, &"qemu", &VMID, &"config"]),
        json!({"digest": cfg["digest"], "cores": 4, "description": "updated"}),
        &mut out,
    );
    step(
        "error-400",
        api,
        "POST",
        p(&[&"nodes", &node, &"qemu"]),
        json!({"vmid": VMID + 1, "memory": "lots", "tags": ["alpha", "beta"]}),
        &mut out,
    );
    step(
        "stop",
        api,
        "POST",
        p(&[&"nodes", &node, &"qemu", &VMID, &"status", &"stop"]),
        json!({}),
        &mut out,
    );
    step(
        "delete",
        api,
        "DELETE",
        p(&[&"nodes", &node, &"qemu", &VMID]),
        json!({"purge": 1}),
        &mut out,
    );
    out
}

/// Task ids differ from run to run.
fn norm(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("UPID:") => json!("<UPID>"),
        other => other.clone(),
    }
}

fn python(pve_setup_ssh: bool) -> std::path::PathBuf {
    ensure_setup(pve_setup_ssh)
        .expect("the venv is installed (fakepve started)")
        .python()
}

fn script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("py")
        .join(name)
}

fn parse_steps(stdout: &str) -> Vec<(String, Value)> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            (
                v["step"].as_str().unwrap_or("").to_owned(),
                norm(&v["value"]),
            )
        })
        .collect()
}

/// Run the HTTP scenario through proxmoxer; returns (recording, step results).
fn proxmoxer_http() -> Option<(Vec<Recorded>, Steps)> {
    let pve = require_peer("fakepve", FakePve::start())?;
    let proxy = RecordingProxy::start(pve.port(), pve.ca_pem()).unwrap();
    let dir = std::env::temp_dir().join(format!("sbs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("proxy-ca.pem");
    std::fs::write(&ca, proxy.ca_pem()).unwrap();
    let out = Command::new(python(false))
        .arg(script("http_scenario.py"))
        .args(["127.0.0.1", &proxy.port().to_string()])
        .arg(&ca)
        .args(["root@pam", "ci", FakePve::TOKEN_SECRET])
        .args([FakePve::ROOT_USER, FakePve::ROOT_PASSWORD, FakePve::NODE])
        .arg(VMID.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "proxmoxer scenario failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((proxy.take(), parse_steps(&stdout)))
}

/// Run the HTTP scenario through one of ours.
fn ours_http(client: &str) -> Option<(Vec<Recorded>, Steps)> {
    let pve = require_peer("fakepve", FakePve::start())?;
    let proxy = RecordingProxy::start(pve.port(), pve.ca_pem()).unwrap();
    let host = format!("127.0.0.1:{}", proxy.port());
    let ca = proxy.ca_pem().as_bytes().to_vec();
    let mut results = Vec::new();
    let mut api: Box<dyn Api> = match client {
        "proxmox-ureq" => {
            let b = |b: proxmox_ureq::ClientBuilder| {
                b.ca_pem(&ca)
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap()
            };
            proxy.mark("login-token");
            let tok = Ureq(b(proxmox_ureq::Client::builder(&host)
                .api_token(FakePve::TOKEN_ID, FakePve::TOKEN_SECRET)));
            let v: Value = tok.0.get("version").unwrap();
            results.push(("login-token".to_owned(), v["version"].clone()));
            proxy.mark("login-password");
            let pw = Ureq(b(proxmox_ureq::Client::builder(&host)
                .password(FakePve::ROOT_USER, FakePve::ROOT_PASSWORD)));
            let v: Value = pw.0.get("version").unwrap();
            results.push(("login-password".to_owned(), v["version"].clone()));
            Box::new(pw)
        }
        _ => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let backend = if client == "proxmox-async (reqwest)" {
                proxmox_async::Backend::Reqwest
            } else {
                proxmox_async::Backend::Hyper
            };
            let b = |b: proxmox_async::ClientBuilder| {
                b.backend(backend)
                    .ca_pem(&ca)
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap()
            };
            proxy.mark("login-token");
            let tok = b(proxmox_async::Client::builder(&host)
                .api_token(FakePve::TOKEN_ID, FakePve::TOKEN_SECRET));
            let v: Value = rt.block_on(tok.get("version")).unwrap();
            results.push(("login-token".to_owned(), v["version"].clone()));
            proxy.mark("login-password");
            let pw = b(proxmox_async::Client::builder(&host)
                .password(FakePve::ROOT_USER, FakePve::ROOT_PASSWORD));
            let v: Value = rt.block_on(pw.get("version")).unwrap();
            results.push(("login-password".to_owned(), v["version"].clone()));
            Box::new(Async(pw, rt))
        }
    };
    let rest = scenario(api.as_mut(), &mut |s| proxy.mark(s));
    results.extend(rest.into_iter().map(|(s, v)| (s, norm(&v))));
    Some((proxy.take(), results))
}

fn verdict(client: &str, fields: &[&str], diffs: &[Diff]) -> (bool, String) {
    let table = Divergences::load().expect("divergences.json parses");
    let v = check(&table, client, fields, diffs);
    (v.unexplained.is_empty(), format!("--- {client}\n{v}"))
}

#[test]
fn http_requests_match_proxmoxer_or_a_listed_divergence() {
    let Some((theirs, their_results)) = proxmoxer_http() else {
        return;
    };
    assert_eq!(their_results.len(), 12, "{their_results:?}");
    // The recording sees what matters (so an all-equal comparison is not vacuous).
    let kinds: Vec<(&str, &str, bool)> = theirs
        .iter()
        .map(|r| {
            (
                r.step.as_str(),
                r.auth_kind(),
                r.header("csrfpreventiontoken").is_some(),
            )
        })
        .collect();
    assert_eq!(kinds[0], ("login-token", "token", false), "{kinds:?}");
    assert!(kinds.contains(&("create-vm", "cookie", true)), "{kinds:?}");
    assert!(
        theirs
            .iter()
            .any(|r| r.raw_form.iter().any(|(k, _)| k == "onboot")),
        "form pairs recorded"
    );
    let mut ok = true;
    let mut report = String::new();
    for client in ["proxmox-ureq", "proxmox-async", "proxmox-async (reqwest)"] {
        let Some((ours, our_results)) = ours_http(client) else {
            return;
        };
        // Behaviour first: every step answered as it did for proxmoxer.
        assert_eq!(our_results, their_results, "{client}: step results differ");
        let diffs = compare_steps(&ours, &theirs);
        let fields = [
            "count",
            "method",
            "path",
            "path-encoding",
            "query",
            "query-encoding",
            "form",
            "form-encoding",
            "auth",
            "csrf",
            "content-type",
            "header",
            "framing",
        ];
        let (good, text) = verdict(client, &fields, &diffs);
        ok &= good;
        report.push_str(&text);
    }
    eprintln!("{report}");
    assert!(ok, "unlisted differences from proxmoxer:\n{report}");
}

/// Run the pvesh scenario through proxmoxer's openssh backend; returns (argv per step,
/// results).
fn proxmoxer_cli() -> Option<(Argvs, Steps)> {
    let pve = require_peer("fakepve", FakePve::start())?;
    let sshd = require_peer("sshd", Sshd::start(&PveshTarget::fakepve(&pve)))?;
    let mut child = Command::new(python(true))
        .arg(script("cli_scenario.py"))
        .args([
            "openssh",
            sshd.host(),
            &sshd.port().to_string(),
            sshd.user(),
        ])
        .arg(sshd.identity_file())
        .arg(sshd.ssh_config_file())
        .args([FakePve::NODE, &VMID.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut calls = Vec::new();
    let mut results = Vec::new();
    for _ in 0..10 {
        let before = sshd.pvesh_calls().len();
        if writeln!(stdin, "go").is_err() {
            break;
        }
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let got = parse_steps(&line);
        let now = sshd.pvesh_calls();
        if let Some((step, v)) = got.into_iter().next() {
            calls.push((step.clone(), now[before..].to_vec()));
            results.push((step, v));
        }
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && results.len() == 10,
        "proxmoxer openssh scenario failed after {results:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((calls, results))
}

fn ours_cli() -> Option<(Argvs, Steps)> {
    let pve = require_peer("fakepve", FakePve::start())?;
    let sshd = require_peer("sshd", Sshd::start(&PveshTarget::fakepve(&pve)))?;
    let client = proxmox_cli::Client::openssh(sshd.host())
        .port(sshd.port())
        .user(sshd.user())
        .identity_file(sshd.identity_file())
        .known_hosts_file(sshd.known_hosts_file())
        .build()
        .unwrap();
    let mut api = Cli(client);
    let mut marks: Vec<(String, usize)> = Vec::new();
    let results = scenario(&mut api, &mut |s| {
        marks.push((s.to_owned(), sshd.pvesh_calls().len()))
    });
    let all = sshd.pvesh_calls();
    let mut calls = Vec::new();
    for (i, (step, start)) in marks.iter().enumerate() {
        let end = marks.get(i + 1).map(|m| m.1).unwrap_or(all.len());
        calls.push((step.clone(), all[*start..end].to_vec()));
    }
    Some((
        calls,
        results.into_iter().map(|(s, v)| (s, norm(&v))).collect(),
    ))
}

#[test]
fn pvesh_argv_matches_proxmoxer_openssh_or_a_listed_divergence() {
    let Some((theirs, their_results)) = proxmoxer_cli() else {
        return;
    };
    let Some((ours, our_results)) = ours_cli() else {
        return;
    };
    assert_eq!(our_results, their_results, "step results differ");
    let mut diffs = Vec::new();
    for ((step, a), (_, b)) in ours.iter().zip(&theirs) {
        if a.len() != b.len() {
            diffs.push(Diff {
                step: step.clone(),
                index: 0,
                field: "argv-count".into(),
                key: String::new(),
                ours: a.len().to_string(),
                proxmoxer: b.len().to_string(),
            });
        }
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            diffs.extend(compare_argv(step, i, x, y));
        }
    }
    let (good, text) = verdict(
        "proxmox-cli",
        &["argv", "argv-count", "argv-dashes", "argv-param"],
        &diffs,
    );
    eprintln!("{text}");
    assert!(good, "unlisted differences from proxmoxer:\n{text}");
}
