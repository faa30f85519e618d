//! Headless Chromium tests (native side): the wasm tests of `tests/web.rs` run in a real
//! browser page served by the simulator (same origin as the API), and the example dashboard
//! is driven end to end. The browser is driven over WebDriver (chromedriver).
//!
//! Both tests are `#[ignore]`d: they need artifacts that `wasm-adapter/scripts/test.sh` builds
//! first (the test wasm, the release bundle). Under `CI=true` a missing browser, driver or
//! artifact fails the test; otherwise it is skipped loudly.
#![cfg(not(target_arch = "wasm32"))]

use proxmox_sim::{AuthKind, ClockMode, Config, ConsoleEnd, Service, Simulator};
use proxmox_testbed::{PeerError, require_peer};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn missing(peer: &str, what: impl Into<String>) -> PeerError {
    PeerError {
        peer: peer.to_owned(),
        missing: what.into(),
        detail: String::new(),
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A chromedriver process and one headless Chromium session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

impl Browser {
    fn start() -> Result<Browser, PeerError> {
        let hint = "apt-get install -y chromium chromium-driver (or set CHROME_BIN/CHROMEDRIVER)";
        let chromium = find_program("CHROME_BIN", &["chromium", "chromium-browser"])
            .ok_or_else(|| missing("chromium", hint))?;
        let driver_bin = find_program("CHROMEDRIVER", &["chromedriver"])
            .ok_or_else(|| missing("chromedriver", hint))?;
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| missing("chromedriver", format!("{}: {e}", driver_bin.display())))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            agent,
        };
        let t0 = Instant::now();
        while b.http("GET", "/status", None).is_err() {
            if t0.elapsed() > Duration::from_secs(20) {
                return Err(missing(
                    "chromedriver",
                    "did not answer on its port within 20 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-extensions", "--no-first-run",
                         "--disable-component-update", "--window-size=1280,900"]
            }
        }}});
        let v = b
            .http("POST", "/session", Some(caps))
            .map_err(|e| missing("chromium", format!("no WebDriver session: {e}")))?;
        b.session = v["sessionId"]
            .as_str()
            .ok_or_else(|| missing("chromium", format!("no WebDriver session: {v}")))?
            .to_owned();
        Ok(b)
    }

    fn http(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
        }
        .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if status != 200 {
            return Err(format!("WebDriver {method} {path}: {status} {v}"));
        }
        Ok(v["value"].clone())
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.http(method, &path, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Run a script in the page (`arguments[0]`... are `args`) and return its value.
    fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Poll `script` until it returns a truthy value; panic with `what` and the page state on
    /// timeout.
    fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let t0 = Instant::now();
        loop {
            let v = self.js(script, json!([]));
            if !(v.is_null() || v == json!(false) || v == json!("")) {
                return v;
            }
            if t0.elapsed() > timeout {
                let page = self.js("return document.body.innerText", json!([]));
                panic!("timed out waiting for {what}; the page shows:\n{page}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, to: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = decode_base64(b64.as_str().expect("a base64 screenshot"));
        std::fs::write(to, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.http("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn artifact(env: &str, what: &str) -> Result<PathBuf, PeerError> {
    std::env::var_os(env)
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .ok_or_else(|| {
            missing(
                "proxmox-wasm build",
                format!("{what} ({env} unset or missing): run wasm-adapter/scripts/test.sh"),
            )
        })
}

fn simulator(static_dir: &Path, task_duration: Duration) -> Simulator {
    let mut cfg = Config::new(Service::Pve);
    // Plain HTTP on 127.0.0.1 is a secure context for the browser; the page and the API share
    // this one origin.
    cfg.plain_http = true;
    cfg.clock = ClockMode::Realtime;
    cfg.task_duration = task_duration;
    cfg.static_dir = Some(static_dir.to_owned());
    // The hostile routes under /hostile/ for tests/web/hostile.rs.
    cfg.hostile = true;
    Simulator::start(cfg).expect("start the simulator")
}

/// Let wasm-bindgen-test-runner write its browser page (run.js and the bindings) for the test
/// wasm, without serving it: the simulator serves it instead, so the tests run same-origin.
fn generate_test_page(wasm: &Path, out: &Path) -> Result<(), PeerError> {
    let runner = find_program("WASM_BINDGEN_TEST_RUNNER", &["wasm-bindgen-test-runner"])
        .ok_or_else(|| {
            missing(
                "wasm-bindgen-test-runner",
                "cargo install wasm-bindgen-cli --version 0.2.130",
            )
        })?;
    let mut child = Command::new(runner)
        .arg(wasm)
        .env("WASM_BINDGEN_USE_BROWSER", "1")
        .env("NO_HEADLESS", "1")
        .env("WASM_BINDGEN_KEEP_TEST_BUILD", "1")
        .env("WASM_BINDGEN_TEST_ADDRESS", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| missing("wasm-bindgen-test-runner", e.to_string()))?;
    let mut kept = None;
    let mut seen = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if let Some(p) = line.strip_prefix("Retaining temporary build output folder: ") {
                kept = Some(PathBuf::from(p.trim()));
            }
            if line.contains("tests are now available") {
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let kept = kept.filter(|k| k.join("run.js").exists()).ok_or_else(|| {
        missing(
            "wasm-bindgen-test-runner",
            "did not generate a browser page",
        )
        .with(seen)
    })?;
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).expect("create the page directory");
    for entry in std::fs::read_dir(&kept).expect("read the runner's output") {
        let entry = entry.expect("a directory entry");
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            std::fs::copy(entry.path(), out.join(entry.file_name())).expect("copy");
        }
    }
    let _ = std::fs::remove_dir_all(&kept);
    // The runner's own server resolves the extensionless import; a plain static server does not.
    let run = std::fs::read_to_string(out.join("run.js")).expect("run.js");
    let run = run.replace(
        "from './wasm-bindgen-test';",
        "from './wasm-bindgen-test.js';",
    );
    std::fs::write(out.join("run.js"), run).expect("write run.js");
    std::fs::write(out.join("index.html"), TEST_PAGE).expect("write index.html");
    Ok(())
}

trait WithDetail {
    fn with(self, detail: String) -> Self;
}

impl WithDetail for PeerError {
    fn with(mut self, detail: String) -> Self {
        self.detail = detail;
        self
    }
}

/// The page around the runner's run.js: an `output` element the test harness writes to, and
/// console hooks that forward to it.
const TEST_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>proxmox-wasm browser tests</title></head>
<body>
<pre id="output">Loading scripts...</pre>
<pre id="console_output"></pre>
<script>
  const sink = document.getElementById("console_output");
  for (const level of ["debug", "log", "info", "warn", "error"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      original(...args);
      sink.append(args.map(String).join(" ") + "\n");
      const hook = window["on_console_" + level];
      if (hook) hook(args);
    };
  }
  window.__wbg_test_invoke = (f) => f();
</script>
<script type="module" src="run.js"></script>
</body></html>
"#;

#[test]
#[ignore = "needs chromium, chromedriver and the test wasm: run wasm-adapter/scripts/test.sh browser"]
fn wasm_tests_in_chromium() {
    let Some(wasm) = require_peer(
        "proxmox-wasm test wasm",
        artifact("PROXMOX_WASM_TEST_WASM", "the wasm of tests/web.rs"),
    ) else {
        return;
    };
    let page = repo_root().join("target/wasm-adapter/browser-tests");
    let Some(()) = require_peer("wasm-bindgen-test-runner", generate_test_page(&wasm, &page))
    else {
        return;
    };
    let Some(browser) = require_peer("chromium", Browser::start()) else {
        return;
    };
    let sim = simulator(&page, Duration::from_millis(300));
    browser.goto(&format!("{}/dashboard/index.html", sim.base_url()));
    let output = browser.wait_for(
        "the wasm tests to finish in Chromium",
        Duration::from_secs(180),
        "const t = document.getElementById('output').textContent; \
         return t.includes('test result: ') ? t : null",
    );
    let output = output.as_str().unwrap_or_default().to_owned();
    println!("{output}");
    if !output.contains("test result: ok") {
        let console = browser.js(
            "return document.getElementById('console_output').textContent",
            json!([]),
        );
        panic!("wasm tests failed in Chromium:\n{output}\n--- console ---\n{console}");
    }
    assert!(!output.contains(" 0 passed"), "{output}");
    // What the browser actually sent: tickets in `Authorization` (the ticket cookie only
    // for the consoles' WebSocket upgrades, which cannot carry a header), CSRF on writes,
    // uploads with an exact Content-Length.
    let log = sim.requests();
    assert!(
        log.iter()
            .any(|r| r.auth == AuthKind::TicketHeader && r.csrf && r.method == "POST")
    );
    assert!(
        !log.iter()
            .any(|r| r.auth == AuthKind::TicketCookie && !r.path.ends_with("/vncwebsocket")),
        "only WebSocket upgrades use the cookie"
    );
    assert!(
        log.iter()
            .any(|r| r.auth == AuthKind::TicketCookie && r.path.ends_with("/vncwebsocket"))
    );
    // The consoles of tests/web/console.rs, as the simulator's termproxy saw them.
    let consoles = sim.console_sessions();
    let ended = |e: ConsoleEnd| consoles.iter().any(|c| c.ended == e);
    assert!(
        consoles
            .iter()
            .all(|c| c.user == "root@pam" && c.connected && c.login_accepted),
        "{consoles:#?}"
    );
    assert!(
        consoles
            .iter()
            .any(|c| c.size == Some((120, 40)) && c.keepalives >= 2),
        "resized, and keepalives while idle: {consoles:#?}"
    );
    assert!(ended(ConsoleEnd::ClientClose(Some(1000))), "{consoles:#?}");
    assert!(
        ended(ConsoleEnd::Dropped) && ended(ConsoleEnd::Exit),
        "{consoles:#?}"
    );
    let up = log
        .iter()
        .find(|r| r.path.ends_with("/upload"))
        .expect("the upload request");
    assert!(up.content_length.is_some_and(|n| n > 40));
    assert!(
        up.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("multipart/form-data; boundary="))
    );
    assert_eq!(up.status, 200);
}

#[test]
#[ignore = "needs chromium, chromedriver and the release bundle: run wasm-adapter/scripts/test.sh dashboard"]
fn dashboard_end_to_end() {
    let Some(dir) = require_peer(
        "proxmox-wasm dashboard bundle",
        artifact("PROXMOX_WASM_DASHBOARD", "the dashboard with pkg/"),
    ) else {
        return;
    };
    let Some(browser) = require_peer("chromium", Browser::start()) else {
        return;
    };
    let sim = simulator(&dir, Duration::from_millis(1500));
    assert_eq!(sim.guest_status(101).as_deref(), Some("stopped"));
    browser.goto(&format!("{}/dashboard/", sim.base_url()));
    browser.wait_for(
        "the wasm module to load",
        Duration::from_secs(30),
        "return document.body.dataset.ready === '1'",
    );
    // A wrong secret shows the server's answer, and the page stays on the login form.
    browser.js(
        "document.querySelector('#token-id').value = arguments[0];
         document.querySelector('#token-secret').value = 'wrong';
         document.querySelector('#login').click();",
        json!([proxmox_sim::TOKEN_ID]),
    );
    let err = browser.wait_for(
        "the login error",
        Duration::from_secs(20),
        "return document.querySelector('#login-error').textContent",
    );
    assert!(err.as_str().unwrap_or("").contains("401"), "{err}");
    browser.js(
        "document.querySelector('#token-secret').value = arguments[0];
         document.querySelector('#login').click();",
        json!([proxmox_sim::TOKEN_SECRET]),
    );
    let rows = browser.wait_for(
        "the guest list",
        Duration::from_secs(20),
        "const r = [...document.querySelectorAll('#guests tbody tr')];
         return r.length >= 3 ? r.map(tr => [tr.dataset.vmid, tr.dataset.status]) : null",
    );
    assert!(
        rows.as_array()
            .unwrap()
            .contains(&json!(["101", "stopped"])),
        "{rows}"
    );
    assert!(
        rows.as_array()
            .unwrap()
            .contains(&json!(["100", "running"])),
        "{rows}"
    );
    let nodes = browser.js(
        "return document.querySelector('#nodes tbody').innerText",
        json!([]),
    );
    assert!(nodes.as_str().unwrap_or("").contains("pve1"), "{nodes}");

    browser.js(
        "document.querySelector('tr[data-vmid=\"101\"] button.start').click()",
        json!([]),
    );
    let running = browser.wait_for(
        "the task to show as running",
        Duration::from_secs(20),
        "const s = document.querySelector('#task-status'); \
         return s.dataset.upid ? s.textContent : null",
    );
    assert!(
        running == json!("running") || running == json!("finished: OK"),
        "{running}"
    );
    browser.wait_for(
        "the task to finish",
        Duration::from_secs(30),
        "return document.querySelector('#task-status').textContent === 'finished: OK'",
    );
    let log = browser.js(
        "return document.querySelector('#task-log').textContent",
        json!([]),
    );
    assert!(log.as_str().unwrap_or("").contains("TASK OK"), "{log}");
    browser.wait_for(
        "guest 101 to show as running",
        Duration::from_secs(20),
        "const r = document.querySelector('tr[data-vmid=\"101\"]'); \
         return r && r.dataset.status === 'running'",
    );
    assert_eq!(sim.guest_status(101).as_deref(), Some("running"));
    // The change feed saw it start (watchResources every 2 s).
    let change = browser.wait_for(
        "the change feed to list qemu/101's start",
        Duration::from_secs(20),
        "const li = document.querySelector('#changes li[data-id=\"qemu/101\"][data-change=\"guest_status\"]'); \
         return li ? li.textContent : null",
    );
    assert!(
        change.as_str().unwrap_or("").contains("stopped → running"),
        "{change}"
    );
    // A token cannot open a console in a browser: the panel says what to do instead.
    browser.js("document.querySelector('#console-open').click()", json!([]));
    let err = browser.wait_for(
        "the console's refusal",
        Duration::from_secs(20),
        "return document.querySelector('#console-error').textContent",
    );
    assert!(err.as_str().unwrap_or("").contains("password()"), "{err}");
    // With a password login: the node's shell in the <pre>, a command typed in the input line.
    browser.goto(&format!("{}/dashboard/", sim.base_url()));
    browser.wait_for(
        "the wasm module to load again",
        Duration::from_secs(30),
        "return document.body.dataset.ready === '1'",
    );
    browser.js(
        "document.querySelector('#username').value = 'root@pam';
         document.querySelector('#password').value = 'secret';
         document.querySelector('#login').click();",
        json!([]),
    );
    browser.wait_for(
        "the console panel",
        Duration::from_secs(20),
        "return !document.querySelector('#console-box').hidden",
    );
    browser.js("document.querySelector('#console-open').click()", json!([]));
    browser.wait_for(
        "the shell's prompt",
        Duration::from_secs(20),
        "return document.querySelector('#console-out').textContent.includes('root@pve1:~# ')",
    );
    browser.js(
        "const i = document.querySelector('#console-in');
         i.value = 'echo dashboard-ok';
         i.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));",
        json!([]),
    );
    browser.wait_for(
        "the command's output",
        Duration::from_secs(20),
        "return document.querySelector('#console-out').textContent.includes('\\ndashboard-ok\\n')",
    );
    let shot = repo_root().join("target/wasm-adapter/dashboard.png");
    browser.screenshot(&shot);
    println!("screenshot: {}", shot.display());
    browser.js(
        "document.querySelector('#console-close').click()",
        json!([]),
    );
    let state = browser.wait_for(
        "the console to close",
        Duration::from_secs(20),
        "const b = document.querySelector('#console-box'); \
         return b.dataset.state === 'closed' ? document.querySelector('#console-state').textContent : null",
    );
    assert_eq!(state, json!("closed (1000)"));
    let consoles = sim.console_sessions();
    assert!(
        consoles.iter().any(|c| c.user == "root@pam"
            && c.size == Some((100, 30))
            && c.ended == ConsoleEnd::ClientClose(Some(1000))),
        "{consoles:#?}"
    );
    let log = sim.requests();
    assert!(log.iter().any(|r| r.method == "POST"
        && r.path.ends_with("/qemu/101/status/start")
        && r.auth == AuthKind::Token));
}
