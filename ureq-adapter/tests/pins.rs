//! The pin store on a 3-node simulated cluster whose certificates are signed by a cluster CA
//! the clients here do not trust (as a PVE cluster's `pve-root-ca.pem` is, until given):
//! pinned nodes accepted, a changed certificate refused naming both fingerprints (and the call
//! going on at another node), a renewal signed by a trusted CA accepted without a pin (ACME),
//! trust on first use recording into the file, concurrent clients losing no pin.

use proxmox_proto::pins::PinStore;
use proxmox_sim::{Config, Service as SimService, Simulator};
use proxmox_ureq::Client;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

fn cluster() -> Simulator {
    let mut c = Config::new(SimService::Pve);
    c.nodes = 3;
    Simulator::start(c).expect("simulator starts")
}

/// A fresh directory for a pin file.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ureq-pins-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// `host port` of node `i` (0-based) of `sim`.
fn host_port(sim: &Simulator, i: usize) -> (String, u16) {
    let url = &sim.node_urls()[i];
    let rest = url.trim_start_matches("https://");
    let authority = rest.split('/').next().expect("authority");
    let (h, p) = authority.rsplit_once(':').expect("port");
    (h.to_owned(), p.parse().expect("port number"))
}

/// The pin file text pinning every node of `sim` as it is now.
fn pins_of(sim: &Simulator) -> String {
    (0..3)
        .map(|i| {
            let (h, p) = host_port(sim, i);
            let fp = sim
                .node_fingerprint(&format!("pve{}", i + 1))
                .expect("node");
            format!("{h} {p} {fp}\n")
        })
        .collect()
}

fn builder(sim: &Simulator, nodes: &[usize]) -> proxmox_ureq::ClientBuilder {
    let urls = sim.node_urls();
    let rest: Vec<&String> = nodes[1..].iter().map(|i| &urls[*i]).collect();
    let b = Client::builder(&urls[nodes[0]])
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(10));
    if rest.is_empty() {
        b
    } else {
        b.endpoints(rest)
    }
}

#[test]
fn pinned_nodes_are_trusted_and_a_changed_certificate_is_refused_naming_both() {
    let sim = cluster();
    let d = dir("changed");
    let file = d.join("pins");
    std::fs::write(&file, format!("# the cluster\n{}", pins_of(&sim))).expect("pins");
    let old = sim.node_fingerprint("pve1").expect("pve1");

    let c = builder(&sim, &[0, 1, 2])
        .pin_file(&file)
        .build()
        .expect("builds");
    let _: Value = c.get("version").expect("pinned pve1 answers");
    assert_eq!(
        sim.requests().last().map(|r| r.node.clone()).as_deref(),
        Some("pve1")
    );

    // pve1 shows another certificate, signed by nobody the client trusts.
    let new = sim.renew_node_certificate("pve1", false).expect("renewed");
    sim.clear_requests();
    let alone = builder(&sim, &[0]).pin_file(&file).build().expect("builds");
    let e = alone.get::<Value>("version").unwrap_err().to_string();
    assert!(
        e.contains(&old) && e.contains(&new),
        "names both fingerprints: {e}"
    );
    assert!(
        e.contains("changed") && e.contains("pvenode cert info"),
        "{e}"
    );
    assert!(
        sim.requests().is_empty(),
        "nothing was sent to the changed node"
    );

    // A cluster client goes on at the next node, and says why pve1 was left.
    let c = builder(&sim, &[0, 1, 2])
        .pin_file(&file)
        .build()
        .expect("builds");
    let _: Value = c.get("version").expect("pve2 answers");
    assert_eq!(
        sim.requests()
            .iter()
            .map(|r| r.node.clone())
            .collect::<Vec<_>>(),
        ["pve2"]
    );
    // The file is as it was: a refusal changes no pin.
    assert_eq!(
        std::fs::read_to_string(&file).expect("pins"),
        format!("# the cluster\n{}", pins_of_with(&sim, 0, &old))
    );
    std::fs::remove_dir_all(&d).expect("cleanup");
}

/// [`pins_of`] with node `i`'s fingerprint given (what the file held before a renewal).
fn pins_of_with(sim: &Simulator, i: usize, fp: &str) -> String {
    let now = pins_of(sim);
    let mut lines: Vec<String> = now.lines().map(str::to_owned).collect();
    let (h, p) = host_port(sim, i);
    lines[i] = format!("{h} {p} {fp}");
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn a_renewal_signed_by_a_trusted_ca_is_accepted_over_an_old_pin() {
    let sim = cluster();
    let d = dir("acme");
    let file = d.join("pins");
    std::fs::write(&file, pins_of(&sim)).expect("pins");
    // ACME: a new certificate every ~60 days, from a CA the client trusts.
    let new = sim.renew_node_certificate("pve1", true).expect("renewed");
    let c = builder(&sim, &[0])
        .pin_file(&file)
        .ca_pem(sim.ca_pem().as_bytes())
        .build()
        .expect("builds");
    let _: Value = c
        .get("version")
        .expect("the CA vouches for the new certificate");
    let text = std::fs::read_to_string(&file).expect("pins");
    assert!(
        !text.contains(&new),
        "a CA-valid certificate is not pinned: {text}"
    );
    std::fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn an_unknown_node_is_refused_naming_its_fingerprint_unless_trusted_on_first_use() {
    let sim = cluster();
    let d = dir("tofu");
    let file = d.join("pins");
    let fp1 = sim.node_fingerprint("pve1").expect("pve1");

    let e = builder(&sim, &[0])
        .pin_file(&file)
        .build()
        .expect("builds")
        .get::<Value>("version")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&fp1) && e.contains("not in the pin store"),
        "{e}"
    );
    assert!(!file.exists(), "a refusal writes nothing");

    let c = builder(&sim, &[0])
        .pin_file(&file)
        .trust_on_first_use(true)
        .build()
        .expect("builds");
    let _: Value = c.get("version").expect("trusted on first use");
    let (h, p) = host_port(&sim, 0);
    let store = PinStore::parse(&std::fs::read_to_string(&file).expect("pins")).expect("parses");
    assert_eq!(
        store
            .pins(&h, p)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [fp1.as_str()]
    );

    // Recorded once, the pin holds: a changed certificate is refused even with first use on.
    let new = sim.renew_node_certificate("pve1", false).expect("renewed");
    let e = builder(&sim, &[0])
        .pin_file(&file)
        .trust_on_first_use(true)
        .build()
        .expect("builds")
        .get::<Value>("version")
        .unwrap_err()
        .to_string();
    assert!(e.contains(&fp1) && e.contains(&new), "{e}");
    std::fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn clients_recording_at_once_lose_no_pin() {
    let sim = cluster();
    let d = dir("writers");
    let file = d.join("pins");
    std::fs::write(&file, "# shared by every script on this host\n").expect("seed");
    let workers: Vec<_> = (0..3)
        .flat_map(|i| std::iter::repeat_n(i, 4))
        .map(|i| {
            let c = builder(&sim, &[i])
                .pin_file(&file)
                .trust_on_first_use(true)
                .build()
                .expect("builds");
            std::thread::spawn(move || c.get::<Value>("version").map(|_| ()))
        })
        .collect();
    for w in workers {
        w.join().expect("worker").expect("call");
    }
    let store = PinStore::parse(&std::fs::read_to_string(&file).expect("pins")).expect("parses");
    for i in 0..3 {
        let (h, p) = host_port(&sim, i);
        let fp = sim
            .node_fingerprint(&format!("pve{}", i + 1))
            .expect("node");
        assert_eq!(
            store
                .pins(&h, p)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [fp],
            "node {}",
            i + 1
        );
    }
    assert!(
        store
            .to_text()
            .starts_with("# shared by every script on this host\n")
    );
    std::fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn a_pin_store_excludes_a_single_fingerprint_and_first_use_needs_a_store() {
    let e = Client::builder("pve1.example.com")
        .api_token("a@pve!b", "c")
        .pins(PinStore::new())
        .fingerprint("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89")
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("pin store") && e.contains("fingerprint"), "{e}");
    let e = Client::builder("pve1.example.com")
        .api_token("a@pve!b", "c")
        .trust_on_first_use(true)
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("pin_file"), "{e}");
    let d = dir("bad");
    let file = d.join("pins");
    std::fs::write(&file, "pve1 8006 not-a-fingerprint\n").expect("seed");
    let e = Client::builder("pve1.example.com")
        .api_token("a@pve!b", "c")
        .pin_file(&file)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&file.display().to_string()) && e.contains("line 1"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn discovery_pins_the_nodes_it_finds_and_replaces_a_renewed_nodes_pin() {
    let sim = cluster();
    let d = dir("learn");
    let file = d.join("pins");
    // Only pve1 is pinned (checked by hand); discovery over it vouches for the others.
    let first: String = pins_of(&sim).lines().next().expect("pve1").to_owned();
    std::fs::write(&file, format!("{first}\n")).expect("pins");
    let c = builder(&sim, &[0]).pin_file(&file).build().expect("builds");
    c.discover().expect("discovers");
    sim.clear_requests();
    let _: Value = c
        .get(("nodes", "pve2", "status"))
        .expect("pve2, pinned by discovery");
    assert_eq!(sim.requests()[0].node, "pve2", "sent to pve2 itself");
    let store = PinStore::parse(&std::fs::read_to_string(&file).expect("pins")).expect("parses");
    for i in 0..3 {
        let (h, p) = host_port(&sim, i);
        assert_eq!(
            store
                .pins(&h, p)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [sim.node_fingerprint(&format!("pve{}", i + 1))
                .expect("node")],
            "node {}",
            i + 1
        );
    }

    // pve2 gets a new certificate: refused on its own, then learnt from the cluster.
    let old = sim.node_fingerprint("pve2").expect("pve2");
    let new = sim.renew_node_certificate("pve2", false).expect("renewed");
    let e = builder(&sim, &[1])
        .pin_file(&file)
        .build()
        .expect("builds")
        .get::<Value>("version")
        .unwrap_err()
        .to_string();
    assert!(e.contains(&old) && e.contains(&new), "{e}");
    // The client that knew pve2 finds it refused once its old connections are gone (pve2
    // restarted), and goes through pve1, which forwards; discovery re-pins pve2.
    sim.set_node_mode("pve2", proxmox_sim::NodeMode::Stopped);
    sim.set_node_mode("pve2", proxmox_sim::NodeMode::Up);
    sim.clear_requests();
    let _: Value = c.get(("nodes", "pve2", "status")).expect("through pve1");
    assert_eq!(
        sim.requests()
            .iter()
            .map(|r| r.node.clone())
            .collect::<Vec<_>>(),
        ["pve1"]
    );
    c.discover().expect("discovers");
    sim.clear_requests();
    let _: Value = c
        .get(("nodes", "pve2", "status"))
        .expect("the new pin holds");
    assert_eq!(sim.requests()[0].node, "pve2");
    let text = std::fs::read_to_string(&file).expect("pins");
    assert!(text.contains(&new) && !text.contains(&old), "{text}");
    std::fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn probe_reads_the_certificate_and_sends_nothing() {
    let sim = cluster();
    let urls = sim.node_urls();
    let fp1 = sim.node_fingerprint("pve1").expect("pve1");
    sim.clear_requests();

    // No credentials needed, none sent, no request made.
    let r = Client::builder(&urls[0]).probe().expect("probed");
    assert_eq!(r.fingerprint().map(|f| f.to_string()), Some(fp1.clone()));
    assert!(!r.ca_valid && r.ca_error.is_some(), "{r}");
    assert_eq!(r.pin, None);
    assert!(r.to_string().contains(&fp1), "{r}");
    assert!(sim.requests().is_empty());

    let r = Client::builder(&urls[0])
        .ca_pem(sim.ca_pem().as_bytes())
        .probe()
        .expect("probed");
    assert!(r.ca_valid, "the cluster CA vouches for it: {r}");

    let d = dir("probe");
    let file = d.join("pins");
    std::fs::write(&file, pins_of(&sim)).expect("pins");
    let r = Client::builder(&urls[0])
        .pin_file(&file)
        .probe()
        .expect("probed");
    assert_eq!(r.pin, Some(proxmox_proto::pins::PinDecision::Pinned), "{r}");
    let new = sim.renew_node_certificate("pve1", false).expect("renewed");
    let r = Client::builder(&urls[0])
        .pin_file(&file)
        .probe()
        .expect("probed");
    assert!(
        matches!(
            &r.pin,
            Some(proxmox_proto::pins::PinDecision::Changed { .. })
        ),
        "{r}"
    );
    assert!(
        r.to_string().contains(&new) && r.to_string().contains(&fp1),
        "{r}"
    );
    std::fs::remove_dir_all(&d).expect("cleanup");

    // A node that refuses, and one that never answers.
    sim.set_node_mode("pve2", proxmox_sim::NodeMode::Stopped);
    let e = Client::builder(&urls[1]).probe().unwrap_err();
    assert!(!e.may_have_been_sent(), "{e}");
    // Refused at connect, or reset while the node closes its port.
    let at = format!(
        "probing {}",
        sim.node_urls()[1].trim_start_matches("https://")
    );
    assert!(e.to_string().contains(at.trim_end_matches('/')), "{e}");
    sim.set_node_mode("pve3", proxmox_sim::NodeMode::Blackholed);
    let e = Client::builder(&urls[2])
        .connect_timeout(Duration::from_millis(300))
        .probe()
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(
        e.to_string().contains(&host_port(&sim, 2).0),
        "names the host: {e}"
    );
}
