//! Deterministic generator of a PVE-shaped `/cluster/resources` body, shared by
//! `core/tests/models.rs` and `core/benches/parse.rs`.
//!
//! A port of the structure of `gen_resources.py` from the benchmark recipe (5,000 qemu guests
//! over 4 nodes, 80 % running, PVE's field order, compact JSON in `{"data":[...]}`). The random
//! source is SplitMix64 seeded with 42 rather than Python's Mersenne Twister, so the bytes are
//! not identical to the Python output, but the shape and size (about 1.59 MB) are.

#![allow(dead_code)]

use std::fmt::Write;

/// SplitMix64: tiny, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn choice<T: Copy>(&mut self, items: &[T]) -> T {
        let i = (self.next_u64() % items.len() as u64) as usize;
        items[i]
    }
    /// Uniform in [lo, hi], both included.
    fn randint(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// How many entries of each type a generated body holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) qemu: usize,
    pub(crate) lxc: usize,
    pub(crate) node: usize,
    pub(crate) storage: usize,
    pub(crate) pool: usize,
    pub(crate) sdn: usize,
    /// Guests whose numbers were written as strings (Perl-style).
    pub(crate) stringly: usize,
    /// Guests carrying an unknown field `x-future`.
    pub(crate) unknown_field: usize,
    /// Running guests.
    pub(crate) running: usize,
}

impl Counts {
    pub(crate) fn total(&self) -> usize {
        self.qemu + self.lxc + self.node + self.storage + self.pool + self.sdn
    }
}

const NODES: [&str; 4] = ["pve1", "pve2", "pve3", "pve4"];
const GIB: u64 = 1024 * 1024 * 1024;

/// The benchmark body: `guests` qemu entries exactly as the recipe lays them out.
pub(crate) fn recipe_body(guests: usize) -> String {
    generate(guests, false).0
}

/// A body with `guests` guests. With `mixed`, every 7th guest is an LXC container, every 97th
/// guest has its numbers and `template` as strings, every 101st carries an unknown field, and
/// node, storage, pool and SDN entries are added.
pub(crate) fn generate(guests: usize, mixed: bool) -> (String, Counts) {
    let mut rng = Rng(42);
    let mut c = Counts::default();
    let mut out = String::with_capacity(guests * 330 + 4096);
    out.push_str("{\"data\":[");
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    for i in 0..guests {
        let vmid = 100 + i as u64;
        let running = rng.random() < 0.8;
        let maxmem = rng.choice(&[1u64, 2, 4, 8, 16, 32]) * GIB;
        let maxdisk = rng.choice(&[8u64, 16, 32, 64, 128]) * GIB;
        let role = rng.choice(&["web", "db", "cache", "build", "ci", "app"]);
        let node = NODES[i % NODES.len()];
        let kind = if mixed && i % 7 == 6 { "lxc" } else { "qemu" };
        let stringly = mixed && i % 97 == 0;
        let q = |v: String| if stringly { format!("\"{v}\"") } else { v };
        let mem = if running {
            rng.randint(maxmem / 8, maxmem)
        } else {
            0
        };
        let maxcpu = rng.choice(&[1u64, 2, 4, 8]);
        let cpu = if running {
            format!("{}", rng.random() * 0.5)
        } else {
            "0".to_string()
        };
        let uptime = if running {
            rng.randint(60, 90 * 86400)
        } else {
            0
        };
        let mut traffic = [0u64; 4];
        for (j, t) in traffic.iter_mut().enumerate() {
            let hi = if j < 2 {
                100_000_000_000
            } else {
                1_000_000_000_000
            };
            *t = if running { rng.randint(0, hi) } else { 0 };
        }
        sep(&mut out);
        let _ = write!(
            out,
            "{{\"id\":\"{kind}/{vmid}\",\"type\":\"{kind}\",\"vmid\":{},\"name\":\"vm-{vmid}-{role}\",\
             \"node\":\"{node}\",\"status\":\"{}\",\"maxmem\":{},\"mem\":{},\"maxcpu\":{},\"cpu\":{},\
             \"maxdisk\":{},\"disk\":0,\"uptime\":{},\"netin\":{},\"netout\":{},\"diskread\":{},\
             \"diskwrite\":{},\"template\":{},\"tags\":\"\"",
            q(vmid.to_string()),
            if running { "running" } else { "stopped" },
            q(maxmem.to_string()),
            q(mem.to_string()),
            q(maxcpu.to_string()),
            q(cpu),
            q(maxdisk.to_string()),
            q(uptime.to_string()),
            q(traffic[0].to_string()),
            q(traffic[1].to_string()),
            q(traffic[2].to_string()),
            q(traffic[3].to_string()),
            if stringly { "\"0\"" } else { "0" },
        );
        if mixed && i % 101 == 0 {
            out.push_str(",\"x-future\":{\"a\":[1,2]}");
            c.unknown_field += 1;
        }
        out.push('}');
        if kind == "lxc" {
            c.lxc += 1;
        } else {
            c.qemu += 1;
        }
        c.stringly += usize::from(stringly);
        c.running += usize::from(running);
    }
    if mixed {
        for (n, node) in NODES.iter().enumerate() {
            sep(&mut out);
            let _ = write!(
                out,
                "{{\"id\":\"node/{node}\",\"type\":\"node\",\"node\":\"{node}\",\"status\":\"online\",\
                 \"maxmem\":{},\"mem\":{},\"maxcpu\":64,\"cpu\":0.125,\"maxdisk\":{},\"disk\":{},\
                 \"uptime\":{},\"level\":\"\",\"cgroup-mode\":2}}",
                512 * GIB,
                200 * GIB + n as u64,
                100 * GIB,
                20 * GIB,
                1_000_000 + n as u64
            );
            c.node += 1;
            for (storage, plugin, content, shared) in [
                ("local", "dir", "iso,vztmpl,backup", 0),
                ("local-lvm", "lvmthin", "rootdir,images", 0),
            ] {
                sep(&mut out);
                let _ = write!(
                    out,
                    "{{\"id\":\"storage/{node}/{storage}\",\"type\":\"storage\",\"storage\":\"{storage}\",\
                     \"node\":\"{node}\",\"status\":\"available\",\"plugintype\":\"{plugin}\",\
                     \"content\":\"{content}\",\"shared\":{shared},\"maxdisk\":{},\"disk\":{}}}",
                    100 * GIB,
                    10 * GIB
                );
                c.storage += 1;
            }
            sep(&mut out);
            let _ = write!(
                out,
                "{{\"id\":\"sdn/{node}/localnetwork\",\"type\":\"sdn\",\"sdn\":\"localnetwork\",\
                 \"node\":\"{node}\",\"status\":\"ok\"}}"
            );
            c.sdn += 1;
        }
        for pool in ["prod", "dev", "lab"] {
            sep(&mut out);
            let _ = write!(
                out,
                "{{\"id\":\"/pool/{pool}\",\"type\":\"pool\",\"pool\":\"{pool}\"}}"
            );
            c.pool += 1;
        }
    }
    out.push_str("]}");
    (out, c)
}
