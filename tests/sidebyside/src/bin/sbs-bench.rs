//! The side-by-side benchmark harness: our clients and proxmoxer (and curl as the ceiling)
//! against the same local nginx serving canned PVE answers over TLS. Not a test: it only
//! measures, and writes a Markdown table. Run it through `scripts/bench-side-by-side.sh`.
//!
//! ```text
//! sbs-bench run --host 127.0.0.1:PORT --ca CERT --python VENV/bin/python --py DIR
//!               [--runs N] [--upload FILE] [--upload4 FILE] [--only a,b] [--out FILE]
//! sbs-bench once-ureq|once-async HOST CA     (one call from process start; prints nothing)
//! sbs-bench upload-ureq HOST CA FILE         (one streamed upload; prints peak RSS in KiB)
//! sbs-bench loop-ureq HOST CA PATH N [get|post|typed]  (N sequential calls, for profiling;
//!     no mode: GET into a `Document`; get: into a `Value`; post: the 8 create parameters;
//!     typed: into `Vec<ClusterResource>`. proxmox-async has the same in
//!     `cargo run --release -p proxmox-async --example loop_get`)
//! sbs-bench loop-reqwest-raw|loop-hyperutil-raw|loop-hyper-raw HOST CA PATH N  (the ceilings)
//! ```

#![forbid(unsafe_code)]

use proxmox_proto::json::Document;
use proxmox_proto::models::ClusterResource;
use proxmox_proto::upload::UploadContent;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

const TOKEN_ID: &str = "root@pam!bench";
const TOKEN_USER: &str = "root@pam";
const TOKEN_NAME: &str = "bench";
const SECRET: &str = "11111111-2222-3333-4444-555555555555";

type Res<T> = Result<T, Box<dyn std::error::Error>>;
/// One benchmark group.
type Step = fn(&mut Bench) -> Res<()>;

fn ureq_client(host: &str, ca: &[u8]) -> Res<proxmox_ureq::Client> {
    Ok(proxmox_ureq::Client::builder(host)
        .api_token(TOKEN_ID, SECRET)
        .ca_pem(ca)
        .timeout(Duration::from_secs(600))
        .build()?)
}

fn async_client(host: &str, ca: &[u8], in_flight: usize) -> Res<proxmox_async::Client> {
    async_client_on(proxmox_async::Backend::Hyper, host, ca, in_flight)
}

fn async_client_on(
    backend: proxmox_async::Backend,
    host: &str,
    ca: &[u8],
    in_flight: usize,
) -> Res<proxmox_async::Client> {
    Ok(proxmox_async::Client::builder(host)
        .backend(backend)
        .api_token(TOKEN_ID, SECRET)
        .ca_pem(ca)
        .timeout(Duration::from_secs(600))
        .max_in_flight(in_flight)
        .build()?)
}

/// The rustls configuration the adapters use, trusting `ca`, for the raw ceiling loops.
fn raw_tls(ca: Vec<u8>) -> Res<std::sync::Arc<rustls::ClientConfig>> {
    let mut tls = proxmox_proto::options::TlsOptions::default();
    tls.extra_ca_pem.push(ca);
    Ok(proxmox_proto::rustls_config::client_config(&tls)?)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The 8 parameters of the create benchmark (as proxmoxer's).
fn create_params(i: u32) -> Value {
    serde_json::json!({
        "vmid": 1000 + i % 1000, "name": "bench", "memory": 512, "cores": 2, "sockets": 1,
        "ostype": "l26", "onboot": true, "net0": "virtio,bridge=vmbr0",
    })
}

/// One row of the table: samples of one metric for one client.
struct Row {
    group: &'static str,
    client: String,
    unit: &'static str,
    /// Higher is better (rates) or lower is better (times, memory).
    higher_better: bool,
    samples: Vec<f64>,
    target: &'static str,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn fmt(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 1000.0 {
        format!("{:.0}", x)
    } else if x >= 100.0 {
        format!("{:.1}", x)
    } else {
        format!("{:.2}", x)
    }
}

struct Bench {
    host: String,
    ca_path: String,
    ca: Vec<u8>,
    python: String,
    py: String,
    runs: usize,
    rows: Vec<Row>,
    log: Vec<String>,
}

impl Bench {
    fn add(
        &mut self,
        group: &'static str,
        client: &str,
        unit: &'static str,
        higher_better: bool,
        target: &'static str,
        sample: f64,
    ) {
        if let Some(r) = self
            .rows
            .iter_mut()
            .find(|r| r.group == group && r.client == client && r.unit == unit)
        {
            r.samples.push(sample);
            return;
        }
        self.rows.push(Row {
            group,
            client: client.to_owned(),
            unit,
            higher_better,
            samples: vec![sample],
            target,
        });
    }

    fn proxmoxer(&self, mode: &str, arg: &str) -> Res<Value> {
        let (host, port) = self.host.rsplit_once(':').ok_or("host:port")?;
        let out = Command::new(&self.python)
            .arg(format!("{}/bench_proxmoxer.py", self.py))
            .args([
                mode,
                host,
                port,
                &self.ca_path,
                TOKEN_USER,
                TOKEN_NAME,
                SECRET,
                arg,
            ])
            .output()?;
        if !out.status.success() {
            return Err(
                format!("proxmoxer {mode}: {}", String::from_utf8_lossy(&out.stderr)).into(),
            );
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// `curl` with the same URL `n` times in one invocation (one reused connection).
    fn curl_repeat(&self, path: &str, n: usize) -> Res<f64> {
        let dir = std::env::temp_dir().join(format!("sbs-curl-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let cfg = dir.join(format!("{}.cfg", path.replace('/', "_")));
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(&format!(
                "url = \"https://{}/api2/json/{path}\"\noutput = \"/dev/null\"\n",
                self.host
            ));
        }
        std::fs::write(&cfg, text)?;
        let t = Instant::now();
        let st = Command::new("curl")
            .args(["-s", "--cacert", &self.ca_path, "-H"])
            .arg(format!("Authorization: PVEAPIToken={TOKEN_ID}={SECRET}"))
            .arg("-K")
            .arg(&cfg)
            .status()?;
        let secs = t.elapsed().as_secs_f64();
        if !st.success() {
            return Err("curl failed".into());
        }
        Ok(n as f64 / secs)
    }

    /// `wrk -t1 -cC -d2s` requests/s, if wrk is installed.
    fn wrk(&self, path: &str, conns: u32) -> Res<Option<f64>> {
        let Ok(out) = Command::new("wrk")
            .args(["-t1", &format!("-c{conns}"), "-d2s"])
            .arg(format!("https://{}/api2/json/{path}", self.host))
            .output()
        else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok()))
    }

    fn version(&mut self) -> Res<()> {
        let n = 3000;
        let t = "ours ≥ 15× proxmoxer and ≥ 75 % of curl";
        for _ in 0..self.runs {
            let px = self.proxmoxer("version", "1000")?;
            let rate = px["n"].as_f64().unwrap_or(0.0) / px["seconds"].as_f64().unwrap_or(1.0);
            self.add(
                "GET /version, sequential, 1 connection",
                "proxmoxer",
                "calls/s",
                true,
                t,
                rate,
            );
            let c = ureq_client(&self.host, &self.ca)?;
            let _: Value = c.get("version")?;
            let s = Instant::now();
            for _ in 0..n {
                let _: Value = c.get("version")?;
            }
            self.add(
                "GET /version, sequential, 1 connection",
                "proxmox-ureq",
                "calls/s",
                true,
                t,
                n as f64 / s.elapsed().as_secs_f64(),
            );
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            for (name, backend) in [
                ("proxmox-async (hyper)", proxmox_async::Backend::Hyper),
                ("proxmox-async (reqwest)", proxmox_async::Backend::Reqwest),
                ("proxmox-async (surf)", proxmox_async::Backend::Surf),
            ] {
                // surf's rustls 0.18 cannot verify an IP address: use the certificate's DNS name.
                let host = match backend {
                    proxmox_async::Backend::Surf => self.host.replacen("127.0.0.1", "localhost", 1),
                    _ => self.host.clone(),
                };
                let c = async_client_on(backend, &host, &self.ca, 1)?;
                let run = async {
                    let _: Value = c.get("version").await?;
                    let s = Instant::now();
                    for _ in 0..n {
                        let _: Value = c.get("version").await?;
                    }
                    Ok::<f64, proxmox_async::Error>(n as f64 / s.elapsed().as_secs_f64())
                };
                let rate = if backend == proxmox_async::Backend::Surf {
                    async_std::task::block_on(run)?
                } else {
                    rt.block_on(run)?
                };
                self.add(
                    "GET /version, sequential, 1 connection",
                    name,
                    "calls/s",
                    true,
                    t,
                    rate,
                );
            }
            let rate = self.curl_repeat("version", 2000)?;
            self.add(
                "GET /version, sequential, 1 connection",
                "curl -K, 2,000 URLs (incl. process start)",
                "calls/s",
                true,
                "",
                rate,
            );
            if let Some(rate) = self.wrk("version", 1)? {
                self.add(
                    "GET /version, sequential, 1 connection",
                    "wrk -t1 -c1 (ceiling)",
                    "calls/s",
                    true,
                    "",
                    rate,
                );
            }
        }
        Ok(())
    }

    fn resources(&mut self) -> Res<()> {
        let g = "GET /cluster/resources, 5,000 guests (1.59 MB)";
        let t = "typed ≥ 4×, untyped ≥ 2× proxmoxer";
        let c = ureq_client(&self.host, &self.ca)?;
        let body = c
            .call_raw(
                &proxmox_proto::Call::get("cluster/resources")?,
                &proxmox_ureq::CallOptions::default(),
            )?
            .body;
        let mb = body.len() as f64 / 1e6;
        for _ in 0..self.runs {
            let px = self.proxmoxer("resources", "20")?;
            let rate = px["n"].as_f64().unwrap_or(0.0) / px["seconds"].as_f64().unwrap_or(1.0);
            self.add(g, "proxmoxer", "calls/s", true, t, rate);
            self.add(g, "proxmoxer", "MB/s", true, t, rate * mb);
            let n = 40;
            let s = Instant::now();
            for _ in 0..n {
                let v: Vec<ClusterResource> = c.get("cluster/resources")?;
                assert_eq!(v.len(), 5000);
            }
            let rate = n as f64 / s.elapsed().as_secs_f64();
            self.add(g, "proxmox-ureq typed", "calls/s", true, t, rate);
            self.add(g, "proxmox-ureq typed", "MB/s", true, t, rate * mb);
            let n = 20;
            let s = Instant::now();
            for _ in 0..n {
                let v: Value = c.get("cluster/resources")?;
                assert_eq!(v.as_array().map(Vec::len), Some(5000));
            }
            let rate = n as f64 / s.elapsed().as_secs_f64();
            self.add(
                g,
                "proxmox-ureq serde_json::Value",
                "calls/s",
                true,
                t,
                rate,
            );
            self.add(
                g,
                "proxmox-ureq serde_json::Value",
                "MB/s",
                true,
                t,
                rate * mb,
            );
            // The untyped representation we recommend: the core's flat JSON document.
            let n = 40;
            let s = Instant::now();
            for _ in 0..n {
                let v: Document = c.get("cluster/resources")?;
                assert_eq!(v.root().len(), 5000);
            }
            let rate = n as f64 / s.elapsed().as_secs_f64();
            let name = "proxmox-ureq untyped json::Document";
            self.add(g, name, "calls/s", true, t, rate);
            self.add(g, name, "MB/s", true, t, rate * mb);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let ac = async_client(&self.host, &self.ca, 1)?;
            let rate = rt.block_on(async {
                let n = 40;
                let s = Instant::now();
                for _ in 0..n {
                    let _: Vec<ClusterResource> = ac.get("cluster/resources").await?;
                }
                Ok::<f64, proxmox_async::Error>(n as f64 / s.elapsed().as_secs_f64())
            })?;
            self.add(g, "proxmox-async typed", "calls/s", true, t, rate);
            self.add(g, "proxmox-async typed", "MB/s", true, t, rate * mb);
            // The core's parse alone.
            let n = 40;
            let s = Instant::now();
            for _ in 0..n {
                let v: Vec<ClusterResource> = proxmox_proto::models::parse_list(&body)?;
                assert_eq!(v.len(), 5000);
            }
            self.add(
                g,
                "core parse alone, typed (models::parse_list)",
                "MB/s",
                true,
                "",
                n as f64 * mb / s.elapsed().as_secs_f64(),
            );
            let s = Instant::now();
            for _ in 0..20 {
                let v: Value = serde_json::from_slice(&body)?;
                assert!(v["data"].is_array());
            }
            self.add(
                g,
                "core parse alone, serde_json::Value",
                "MB/s",
                true,
                "",
                20.0 * mb / s.elapsed().as_secs_f64(),
            );
            let s = Instant::now();
            for _ in 0..n {
                let v = Document::from_slice(&body)?;
                assert!(v.root().get("data").is_some_and(|d| d.is_array()));
            }
            self.add(
                g,
                "core parse alone, json::Document",
                "MB/s",
                true,
                "",
                n as f64 * mb / s.elapsed().as_secs_f64(),
            );
            let rate = self.curl_repeat("cluster/resources", 50)?;
            self.add(
                g,
                "curl -K (transfer only, ceiling)",
                "calls/s",
                true,
                "",
                rate,
            );
        }
        Ok(())
    }

    fn create(&mut self) -> Res<()> {
        let g = "POST qemu create, 8 parameters, sequential";
        let t = "ours ≥ 15× proxmoxer";
        for _ in 0..self.runs {
            let px = self.proxmoxer("create", "1000")?;
            let rate = px["n"].as_f64().unwrap_or(0.0) / px["seconds"].as_f64().unwrap_or(1.0);
            self.add(g, "proxmoxer", "calls/s", true, t, rate);
            let c = ureq_client(&self.host, &self.ca)?;
            let _: Value = c.get("version")?;
            let n = 3000;
            let s = Instant::now();
            for i in 0..n {
                let _: String = c.post(("nodes", "pve1", "qemu"), &create_params(i))?;
            }
            self.add(
                g,
                "proxmox-ureq",
                "calls/s",
                true,
                t,
                n as f64 / s.elapsed().as_secs_f64(),
            );
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let ac = async_client(&self.host, &self.ca, 1)?;
            let rate = rt.block_on(async {
                let _: Value = ac.get("version").await?;
                let s = Instant::now();
                for i in 0..n {
                    let _: String = ac
                        .post(("nodes", "pve1", "qemu"), &create_params(i))
                        .await?;
                }
                Ok::<f64, proxmox_async::Error>(n as f64 / s.elapsed().as_secs_f64())
            })?;
            self.add(g, "proxmox-async (hyper)", "calls/s", true, t, rate);
        }
        Ok(())
    }

    fn fanout(&mut self) -> Res<()> {
        let g = "fan-out: 1,000 GET /version, concurrency 8";
        let t = "ours ≥ 10× proxmoxer's 8 threads";
        for _ in 0..self.runs {
            let px = self.proxmoxer("fanout", "1000")?;
            let rate = px["n"].as_f64().unwrap_or(0.0) / px["seconds"].as_f64().unwrap_or(1.0);
            self.add(
                g,
                "proxmoxer, ThreadPoolExecutor(8)",
                "calls/s",
                true,
                t,
                rate,
            );
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let ac = async_client(&self.host, &self.ca, 8)?;
            let rate = rt.block_on(async {
                let _: Value = ac.get("version").await?;
                let s = Instant::now();
                let out = ac
                    .map_concurrent(0..1000, |_| {
                        let c = ac.clone();
                        async move { c.get::<Value>("version").await }
                    })
                    .await;
                let secs = s.elapsed().as_secs_f64();
                for r in out {
                    r?;
                }
                Ok::<f64, proxmox_async::Error>(1000.0 / secs)
            })?;
            self.add(
                g,
                "proxmox-async (hyper), map_concurrent 8",
                "calls/s",
                true,
                t,
                rate,
            );
            if let Some(rate) = self.wrk("version", 8)? {
                self.add(g, "wrk -t1 -c8 (ceiling)", "calls/s", true, "", rate);
            }
        }
        Ok(())
    }

    /// Run `cmd` under `/usr/bin/time -f '%e %M'`: (wall s, peak RSS MiB).
    fn timed(&self, cmd: &mut Command) -> Res<(f64, f64)> {
        let out = cmd.output()?;
        if !out.status.success() {
            return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("");
        let mut it = last.split_whitespace();
        let wall: f64 = it.next().ok_or("time output")?.parse()?;
        let kib: f64 = it.next().ok_or("time output")?.parse()?;
        Ok((wall, kib / 1024.0))
    }

    fn upload(&mut self, file: &str, g: &'static str, runs: usize) -> Res<()> {
        let size = std::fs::metadata(file)?.len() as f64 / 1e6;
        let me = std::env::current_exe()?;
        let hp = self.host.clone();
        let ca_path = self.ca_path.clone();
        let python = self.python.clone();
        let py = self.py.clone();
        let (host, port) = hp.rsplit_once(':').ok_or("host:port")?;
        for _ in 0..runs {
            // Every client reads the file from the page cache, not the first one from disk.
            std::io::copy(&mut std::fs::File::open(file)?, &mut std::io::sink())?;
            let time = || {
                let mut c = Command::new("/usr/bin/time");
                c.args(["-f", "%e %M"]);
                c
            };
            let (w, rss) =
                self.timed(time().arg(&me).args(["upload-ureq", &hp, &ca_path, file]))?;
            self.add(g, "proxmox-ureq", "MB/s", true, "≥ 90 % of curl", size / w);
            self.add(g, "proxmox-ureq", "peak RSS MiB", false, "≤ 16 MiB", rss);
            let (w, rss) = self.timed(
                time()
                    .arg(&python)
                    .arg(format!("{py}/bench_proxmoxer.py"))
                    .args([
                        "upload", host, port, &ca_path, TOKEN_USER, TOKEN_NAME, SECRET, file,
                    ]),
            )?;
            self.add(
                g,
                "proxmoxer + requests-toolbelt",
                "MB/s",
                true,
                "",
                size / w,
            );
            self.add(
                g,
                "proxmoxer + requests-toolbelt",
                "peak RSS MiB",
                false,
                "",
                rss,
            );
            let (w, rss) = self.timed(
                time()
                    .args(["curl", "-s", "-o", "/dev/null", "--cacert", &ca_path, "-H"])
                    .arg(format!("Authorization: PVEAPIToken={TOKEN_ID}={SECRET}"))
                    .args(["-F", "content=iso", "-F"])
                    .arg(format!("filename=@{file}"))
                    .arg(format!(
                        "https://{hp}/api2/json/nodes/pve1/storage/local/upload"
                    )),
            )?;
            self.add(g, "curl -F", "MB/s", true, "", size / w);
            self.add(g, "curl -F", "peak RSS MiB", false, "", rss);
        }
        Ok(())
    }

    fn startup(&mut self) -> Res<()> {
        let g = "process start to first answer (GET /version)";
        let me = std::env::current_exe()?;
        let hp = self.host.clone();
        let (host, port) = hp.rsplit_once(':').ok_or("host:port")?;
        let (ca_path, python, py) = (self.ca_path.clone(), self.python.clone(), self.py.clone());
        for _ in 0..self.runs * 2 {
            for (name, sub) in [
                ("proxmox-ureq", "once-ureq"),
                ("proxmox-async (hyper)", "once-async"),
            ] {
                let s = Instant::now();
                let st = Command::new(&me).args([sub, &hp, &ca_path]).status()?;
                let ms = s.elapsed().as_secs_f64() * 1e3;
                if !st.success() {
                    return Err(format!("{sub} failed").into());
                }
                self.add(g, name, "ms", false, "≤ 10 ms", ms);
            }
            let s = Instant::now();
            let out = Command::new(&python)
                .arg(format!("{py}/bench_proxmoxer.py"))
                .args(["once", host, port, &ca_path, TOKEN_USER, TOKEN_NAME, SECRET])
                .output()?;
            let ms = s.elapsed().as_secs_f64() * 1e3;
            if !out.status.success() {
                return Err("proxmoxer once failed".into());
            }
            self.add(g, "proxmoxer (python3 script)", "ms", false, "", ms);
            let s = Instant::now();
            Command::new("curl")
                .args(["-s", "-o", "/dev/null", "--cacert", &ca_path])
                .arg(format!("https://{hp}/api2/json/version"))
                .status()?;
            self.add(g, "curl", "ms", false, "", s.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    }

    /// pvesh over SSH (sshd on loopback): per-call latency of `GET /version`, twice: with the
    /// test bed's `pvesh` shim forwarding to fakepve (a Python process and an HTTPS call per
    /// call, ~75 ms of server-side floor), and with a `/bin/sh` stand-in printing a canned
    /// answer, so that the SSH transport's own cost dominates (as nginx does for HTTPS).
    fn ssh(&mut self) -> Res<()> {
        self.ssh_group(
            "pvesh over SSH, sequential GET /version (shim → fakepve)",
            false,
        )?;
        self.ssh_group(
            "pvesh over SSH, sequential GET /version (sh stand-in: transport cost)",
            true,
        )
    }

    fn ssh_group(&mut self, g: &'static str, stand_in: bool) -> Res<()> {
        use proxmox_testbed::{FakePve, PveshTarget, Sshd};
        let t = "ssh2 ≥ 5× faster than proxmoxer openssh";
        let pve = FakePve::start()?;
        let sshd = Sshd::start(&PveshTarget::fakepve(&pve))?;
        let pvesh = sshd.bin_dir().join("pvesh");
        if stand_in {
            // The same answer fakepve gives, without the shim's Python start and HTTPS call.
            std::fs::write(
                &pvesh,
                "#!/bin/sh\nprintf '%s\\n' '{\"release\":\"8.0\",\"repoid\":\"bench\",\"version\":\"8.0.0\"}'\n",
            )?;
        }
        let n = if stand_in { 50 } else { 20 };
        let ssh2 = proxmox_cli::Client::ssh2(sshd.host())
            .port(sshd.port())
            .user(sshd.user())
            .key_file(sshd.identity_file())
            .known_hosts_file(sshd.known_hosts_file())
            .build()?;
        let openssh = proxmox_cli::Client::openssh(sshd.host())
            .port(sshd.port())
            .user(sshd.user())
            .identity_file(sshd.identity_file())
            .known_hosts_file(sshd.known_hosts_file())
            .build()?;
        for _ in 0..self.runs {
            for (name, c) in [
                ("proxmox-cli ssh2", &ssh2),
                ("proxmox-cli openssh", &openssh),
            ] {
                let _: Value = c.get("version")?;
                let s = Instant::now();
                for _ in 0..n {
                    let _: Value = c.get("version")?;
                }
                let ms = s.elapsed().as_secs_f64() * 1e3 / n as f64;
                self.add(g, name, "ms/call", false, t, ms);
            }
            // The floor: the remote program itself, run locally without SSH.
            let s = Instant::now();
            for _ in 0..n {
                let st = Command::new(&pvesh)
                    .args(["get", "/version", "--output-format", "json"])
                    .envs(sshd.pvesh_env())
                    // As sshd's SetEnv has it: the system python3, not a pyenv shim.
                    .env(
                        "PATH",
                        format!("{}:/usr/local/bin:/usr/bin:/bin", sshd.bin_dir().display()),
                    )
                    .env("SHLVL", "1")
                    .stdout(std::process::Stdio::null())
                    .status()?;
                if !st.success() {
                    return Err("the remote pvesh failed locally".into());
                }
            }
            let ms = s.elapsed().as_secs_f64() * 1e3 / n as f64;
            let floor = if stand_in {
                "sh stand-in alone, local (floor)"
            } else {
                "pvesh shim alone, local (floor)"
            };
            self.add(g, floor, "ms/call", false, "", ms);
            for backend in ["openssh", "ssh_paramiko"] {
                let out = Command::new(&self.python)
                    .arg(format!("{}/bench_ssh.py", self.py))
                    .args([backend, sshd.host(), &sshd.port().to_string(), sshd.user()])
                    .arg(sshd.identity_file())
                    .arg(sshd.ssh_config_file())
                    .arg(n.to_string())
                    .output()?;
                if !out.status.success() {
                    return Err(format!(
                        "proxmoxer {backend}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    )
                    .into());
                }
                let v: Value = serde_json::from_slice(&out.stdout)?;
                let ms = v["seconds"].as_f64().unwrap_or(0.0) * 1e3 / n as f64;
                let name = if backend == "openssh" {
                    "proxmoxer openssh"
                } else {
                    "proxmoxer ssh_paramiko"
                };
                self.add(g, name, "ms/call", false, t, ms);
            }
        }
        Ok(())
    }

    fn table(&self) -> String {
        let mut out = String::from(
            "| benchmark | client | median | min | max | unit | runs | vs proxmoxer | target |\n\
             |---|---|---:|---:|---:|---|---:|---:|---|\n",
        );
        let mut px: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        for r in &self.rows {
            if r.client.starts_with("proxmoxer") {
                px.entry((r.group, r.unit))
                    .or_insert_with(|| median(&r.samples));
            }
        }
        for r in &self.rows {
            let m = median(&r.samples);
            let min = r.samples.iter().copied().fold(f64::INFINITY, f64::min);
            let max = r.samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ratio = match px.get(&(r.group, r.unit)) {
                Some(p)
                    if !r.client.starts_with("proxmoxer")
                        && !r.client.starts_with("curl")
                        && !r.client.starts_with("wrk")
                        && !r.client.starts_with("pvesh shim")
                        && !r.client.starts_with("sh stand-in") =>
                {
                    let x = if r.higher_better { m / p } else { p / m };
                    format!("{x:.1}×")
                }
                _ => String::new(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.group,
                r.client,
                fmt(m),
                fmt(min),
                fmt(max),
                r.unit,
                r.samples.len(),
                ratio,
                r.target
            ));
        }
        out.push_str(
            "\n\"vs proxmoxer\": how many times better than proxmoxer's median (rate ÷ rate, or \
             time ÷ time and memory ÷ memory inverted), so higher is better everywhere.\n",
        );
        out
    }
}

fn arg_after(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("once-ureq") => {
            let ca = std::fs::read(&args[2])?;
            let c = ureq_client(&args[1], &ca)?;
            let _: Value = c.get("version")?;
            Ok(())
        }
        Some("once-async") => {
            let ca = std::fs::read(&args[2])?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let c = async_client(&args[1], &ca, 1)?;
            rt.block_on(c.get::<Value>("version"))?;
            Ok(())
        }
        Some("loop-ureq") => {
            // For profiling: N sequential calls of one path, prints calls/s (see the top).
            let ca = std::fs::read(&args[2])?;
            let n: u32 = args[4].parse()?;
            let path = args[3].as_str();
            let mode = args.get(5).map_or("", String::as_str);
            if !matches!(mode, "" | "get" | "post" | "typed") {
                return Err(format!("loop-ureq: unknown mode {mode} (get, post or typed)").into());
            }
            let params = create_params(0);
            let c = ureq_client(&args[1], &ca)?;
            let s = Instant::now();
            for _ in 0..n {
                match mode {
                    "get" => {
                        let _: Value = c.get(path)?;
                    }
                    "post" => {
                        let _: String = c.post(path, &params)?;
                    }
                    "typed" => {
                        let _: Vec<ClusterResource> = c.get(path)?;
                    }
                    _ => {
                        let _: Document = c.get(path)?;
                    }
                }
            }
            println!("{:.0} calls/s", f64::from(n) / s.elapsed().as_secs_f64());
            Ok(())
        }
        Some("loop-reqwest-raw") => {
            // The ceiling of the reqwest transport: reqwest alone, same TLS and settings.
            let ca = std::fs::read(&args[2])?;
            let n: u32 = args[4].parse()?;
            let tls = std::sync::Arc::unwrap_or_clone(raw_tls(ca)?);
            let client = reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .redirect(reqwest::redirect::Policy::none())
                .http1_only()
                .tcp_nodelay(true)
                .no_proxy()
                .build()?;
            let url = format!("https://{}/api2/json/{}", args[1], args[3]);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let rate = rt.block_on(async {
                let s = Instant::now();
                for _ in 0..n {
                    let r = client
                        .get(&url)
                        .header("Authorization", format!("PVEAPIToken={TOKEN_ID}={SECRET}"))
                        .send()
                        .await?;
                    let b = r.bytes().await?;
                    let _: Value = serde_json::from_slice(&b)?;
                }
                Ok::<f64, Box<dyn std::error::Error>>(f64::from(n) / s.elapsed().as_secs_f64())
            })?;
            println!("{rate:.0} calls/s");
            Ok(())
        }
        Some("loop-hyper-raw") => {
            // One hyper HTTP/1 connection over tokio-rustls, no pool and no layers.
            let ca = std::fs::read(&args[2])?;
            let n: u32 = args[4].parse()?;
            let tls = raw_tls(ca)?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let url: http::Uri = format!("https://{}/api2/json/{}", args[1], args[3]).parse()?;
            let rate = rt.block_on(async {
                use http_body_util::BodyExt;
                let tcp = tokio::net::TcpStream::connect(&args[1]).await?;
                tcp.set_nodelay(true)?;
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
                let stream = tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await?;
                let (mut send, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await?;
                tokio::spawn(conn);
                let s = Instant::now();
                for _ in 0..n {
                    let req = http::Request::get(url.clone())
                        .header("Host", args[1].as_str())
                        .header("Authorization", format!("PVEAPIToken={TOKEN_ID}={SECRET}"))
                        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
                    let resp = send.send_request(req).await?;
                    let b = resp.into_body().collect().await?.to_bytes();
                    let _: Value = serde_json::from_slice(&b)?;
                }
                Ok::<f64, Box<dyn std::error::Error>>(f64::from(n) / s.elapsed().as_secs_f64())
            })?;
            println!("{rate:.0} calls/s");
            Ok(())
        }
        Some("loop-hyperutil-raw") => {
            // hyper-util's pooled client with hyper-rustls: what reqwest is built on.
            let ca = std::fs::read(&args[2])?;
            let n: u32 = args[4].parse()?;
            let tls = std::sync::Arc::unwrap_or_clone(raw_tls(ca)?);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let url: http::Uri = format!("https://{}/api2/json/{}", args[1], args[3]).parse()?;
            let rate = rt.block_on(async {
                use http_body_util::BodyExt;
                let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
                http.enforce_http(false);
                http.set_nodelay(true);
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http);
                let client = hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build::<_, http_body_util::Empty<bytes::Bytes>>(https);
                let s = Instant::now();
                for _ in 0..n {
                    let req = http::Request::get(url.clone())
                        .header("Authorization", format!("PVEAPIToken={TOKEN_ID}={SECRET}"))
                        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
                    let resp = client.request(req).await?;
                    let b = resp.into_body().collect().await?.to_bytes();
                    let _: Value = serde_json::from_slice(&b)?;
                }
                Ok::<f64, Box<dyn std::error::Error>>(f64::from(n) / s.elapsed().as_secs_f64())
            })?;
            println!("{rate:.0} calls/s");
            Ok(())
        }
        Some("upload-ureq") => {
            let ca = std::fs::read(&args[2])?;
            let c = ureq_client(&args[1], &ca)?;
            c.upload(
                "pve1",
                "local",
                UploadContent::Iso,
                &args[3],
                proxmox_ureq::UploadChecksum::None,
            )?;
            println!("{}", peak_rss_kib());
            Ok(())
        }
        Some("run") => {
            let need = |f: &str| arg_after(&args, f).ok_or_else(|| format!("{f} is required"));
            let ca_path = need("--ca")?;
            let mut b = Bench {
                host: need("--host")?,
                ca: std::fs::read(&ca_path)?,
                ca_path,
                python: need("--python")?,
                py: need("--py")?,
                runs: arg_after(&args, "--runs").and_then(|r| r.parse().ok()).unwrap_or(5),
                rows: Vec::new(),
                log: Vec::new(),
            };
            let only = arg_after(&args, "--only").unwrap_or_default();
            let want = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
            let steps: [(&str, Step); 6] = [
                ("version", Bench::version),
                ("resources", Bench::resources),
                ("create", Bench::create),
                ("fanout", Bench::fanout),
                ("startup", Bench::startup),
                ("ssh", Bench::ssh),
            ];
            for (name, f) in steps {
                if want(name) {
                    eprintln!("sbs-bench: {name}...");
                    if let Err(e) = f(&mut b) {
                        b.log.push(format!("{name} failed: {e}"));
                    }
                }
            }
            if let Some(file) = arg_after(&args, "--upload")
                && want("upload")
            {
                eprintln!("sbs-bench: upload...");
                let runs = b.runs.min(3);
                if let Err(e) = b.upload(&file, "upload 1 GiB (multipart, streamed)", runs) {
                    b.log.push(format!("upload failed: {e}"));
                }
            }
            if let Some(file) = arg_after(&args, "--upload4")
                && want("upload")
            {
                eprintln!("sbs-bench: upload 4 GiB...");
                let g = "upload 4 GiB (multipart, streamed)";
                if let Err(e) = b.upload(&file, g, b.runs.min(3)) {
                    b.log.push(format!("upload 4 GiB failed: {e}"));
                }
            }
            let mut text = b.table();
            for l in &b.log {
                text.push_str(&format!("\n**{l}**\n"));
            }
            let out = arg_after(&args, "--out").unwrap_or_else(|| "target/bench/side-by-side.md".into());
            if let Some(dir) = std::path::Path::new(&out).parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&out, &text)?;
            print!("{text}");
            Ok(())
        }
        _ => Err("usage: sbs-bench run --host H:P --ca CERT --python PY --py DIR [--runs N] [--upload FILE] [--upload4 FILE] [--only a,b] [--out FILE]".into()),
    }
}
