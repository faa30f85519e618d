//! Tests of the Perl-loose JSON helpers (`proxmox_proto::loose`) and the typed models
//! (`proxmox_proto::models`) on realistic fixtures and on a generated 5,000-guest listing.

#[path = "data/models/gen_resources.rs"]
mod gen_resources;

use proptest::prelude::*;
use proxmox_proto::loose::{self, Loose, LooseField, QemuMemory};
use proxmox_proto::models::*;
use proxmox_proto::{Error, ProtocolError};
use serde_json::json;

fn loose<T: LooseField>(json: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str::<Loose<T>>(json).map(|l| l.0)
}

// ---------------------------------------------------------------------------------------------
// loose: every accepted and refused form

#[test]
fn loose_integers_accepted() {
    for (json, want) in [
        ("123", 123u64),
        (r#""123""#, 123),
        (r#""+7""#, 7),
        ("5.0", 5),
        (r#""5.0""#, 5),
        (r#""1e3""#, 1000),
        ("0", 0),
        ("18446744073709551615", u64::MAX),
        (r#""18446744073709551615""#, u64::MAX),
    ] {
        assert_eq!(loose::<u64>(json).unwrap(), want, "{json}");
    }
    assert_eq!(loose::<i64>("-4").unwrap(), -4);
    assert_eq!(loose::<i64>(r#""-4""#).unwrap(), -4);
    assert_eq!(loose::<i8>(r#""-128""#).unwrap(), -128);
    assert_eq!(loose::<u8>("255").unwrap(), 255);
    assert_eq!(loose::<u32>(r#""4294967295""#).unwrap(), u32::MAX);
    assert_eq!(loose::<i32>("-2.0").unwrap(), -2);
    assert_eq!(loose::<usize>(r#""42""#).unwrap(), 42);
}

#[test]
fn loose_integers_refused() {
    for json in [
        "1.5",
        r#""1.5""#,
        r#""""#,
        r#""abc""#,
        r#"" 1""#,
        r#""1 ""#,
        r#""0x10""#,
        "true",
        "false",
        "null",
        "[]",
        "{}",
        "-1",
        r#""-1""#,
        "18446744073709551616",
        r#""18446744073709551616""#,
        "1e300",
        r#""NaN""#,
        r#""inf""#,
    ] {
        assert!(
            loose::<u64>(json).is_err(),
            "{json} should be refused for u64"
        );
    }
    assert!(loose::<u8>("256").is_err());
    assert!(loose::<i8>("-129").is_err());
    assert!(loose::<u32>(r#""4294967296""#).is_err());
    let e = loose::<u32>(r#""x""#).unwrap_err().to_string();
    assert!(e.contains("u32") && e.contains("\"x\""), "{e}");
}

#[test]
fn loose_optional_integers() {
    for (json, want) in [
        ("null", None),
        (r#""""#, None),
        ("7", Some(7u32)),
        (r#""7""#, Some(7)),
    ] {
        assert_eq!(loose::<Option<u32>>(json).unwrap(), want, "{json}");
    }
    for json in ["1.5", r#""x""#, "true", "[]", "-1"] {
        assert!(loose::<Option<u32>>(json).is_err(), "{json}");
    }
}

#[test]
fn loose_floats() {
    for (json, want) in [
        ("0.25", 0.25),
        (r#""0.25""#, 0.25),
        ("7", 7.0),
        ("-7", -7.0),
        (r#""7""#, 7.0),
        (r#""1e-3""#, 0.001),
        (r#""0.00""#, 0.0),
        ("18446744073709551615", 18446744073709551615.0),
    ] {
        assert_eq!(loose::<f64>(json).unwrap(), want, "{json}");
    }
    for json in [
        r#""""#,
        r#""NaN""#,
        r#""inf""#,
        r#""-infinity""#,
        r#""x""#,
        "true",
        "null",
        "[]",
        "{}",
        "1e999",
    ] {
        assert!(
            loose::<f64>(json).is_err(),
            "{json} should be refused for f64"
        );
    }
    assert_eq!(loose::<Option<f64>>("null").unwrap(), None);
    assert_eq!(loose::<Option<f64>>(r#""""#).unwrap(), None);
    assert_eq!(loose::<Option<f64>>(r#""1.5""#).unwrap(), Some(1.5));
    assert!(loose::<Option<f64>>(r#""NaN""#).is_err());
}

#[test]
fn loose_booleans() {
    for json in [
        "true",
        "1",
        "1.0",
        r#""1""#,
        r#""true""#,
        r#""TRUE""#,
        r#""yes""#,
        r#""Yes""#,
        r#""on""#,
        r#""ON""#,
    ] {
        assert!(loose::<bool>(json).unwrap(), "{json}");
    }
    for json in [
        "false",
        "0",
        "0.0",
        r#""0""#,
        r#""false""#,
        r#""False""#,
        r#""no""#,
        r#""off""#,
        r#""""#,
    ] {
        assert!(!loose::<bool>(json).unwrap(), "{json}");
    }
    for json in [
        "2",
        "-1",
        "0.5",
        r#""2""#,
        r#""y""#,
        r#""t""#,
        r#""enabled""#,
        r#"" 1""#,
        "null",
        "[]",
        "{}",
    ] {
        assert!(
            loose::<bool>(json).is_err(),
            "{json} should be refused for bool"
        );
    }
    assert_eq!(loose::<Option<bool>>("null").unwrap(), None);
    assert_eq!(loose::<Option<bool>>(r#""""#).unwrap(), Some(false));
    assert_eq!(loose::<Option<bool>>("1").unwrap(), Some(true));
    assert!(loose::<Option<bool>>("2").is_err());
}

#[test]
fn loose_strings() {
    assert_eq!(loose::<String>(r#""web""#).unwrap(), "web");
    assert_eq!(loose::<String>(r#""""#).unwrap(), "");
    assert_eq!(loose::<String>(r#""a\"b\u00e9""#).unwrap(), "a\"bé");
    assert_eq!(loose::<String>("100").unwrap(), "100");
    assert_eq!(loose::<String>("-3").unwrap(), "-3");
    assert_eq!(loose::<String>("1.5").unwrap(), "1.5");
    for json in ["true", "null", "[]", "{}"] {
        assert!(loose::<String>(json).is_err(), "{json}");
    }
    assert_eq!(loose::<Option<String>>("null").unwrap(), None);
    assert_eq!(
        loose::<Option<String>>(r#""""#).unwrap(),
        Some(String::new())
    );
    assert_eq!(loose::<Option<String>>("12").unwrap(), Some("12".into()));
}

#[test]
fn loose_memory_forms() {
    // PVE 7 (integer), PVE 8.0 (numeric string), PVE 8.1+ (property string).
    for json in ["4096", r#""4096""#, r#""current=4096""#, "4096.0"] {
        let m = loose::<QemuMemory>(json).unwrap();
        assert_eq!(m.current, Some(4096), "{json}");
        assert!(m.other.is_empty());
        assert_eq!(serde_json::to_value(&m).unwrap(), json!(4096));
        assert_eq!(m.to_string(), "4096");
    }
    let m = loose::<QemuMemory>(r#""current=2048,future=x""#).unwrap();
    assert_eq!(m.current, Some(2048));
    assert_eq!(m.other, vec![("future".to_string(), "x".to_string())]);
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        json!("current=2048,future=x")
    );
    // The property string round-trips.
    let back: QemuMemory = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
    assert_eq!(back, m);
    for json in [
        r#""""#,
        r#""current=""#,
        r#""=1""#,
        r#""big""#,
        r#""current=1,current=2""#,
        r#""current=-1""#,
        "-1",
        "1.5",
        "true",
        "null",
        "[]",
        "{}",
    ] {
        assert!(loose::<QemuMemory>(json).is_err(), "{json}");
    }
    assert_eq!(loose::<Option<QemuMemory>>("null").unwrap(), None);
}

#[test]
fn deserialize_with_helpers_on_a_derived_struct() {
    #[derive(serde::Deserialize, Debug)]
    struct S {
        #[serde(deserialize_with = "loose::int")]
        a: u16,
        #[serde(default, deserialize_with = "loose::opt_int")]
        b: Option<i64>,
        #[serde(deserialize_with = "loose::float")]
        c: f64,
        #[serde(default, deserialize_with = "loose::opt_float")]
        d: Option<f64>,
        #[serde(deserialize_with = "loose::boolean")]
        e: bool,
        #[serde(default, deserialize_with = "loose::opt_boolean")]
        f: Option<bool>,
        #[serde(deserialize_with = "loose::string")]
        g: String,
        #[serde(default, deserialize_with = "loose::opt_string")]
        h: Option<String>,
    }
    let s: S = serde_json::from_str(
        r#"{"a":"1","b":"-2","c":"3.5","d":null,"e":"on","f":0,"g":7,"h":"x"}"#,
    )
    .unwrap();
    assert_eq!(
        (s.a, s.b, s.c, s.d, s.e, s.f, s.g.as_str(), s.h.as_deref()),
        (1, Some(-2), 3.5, None, true, Some(false), "7", Some("x"))
    );
    let s: S = serde_json::from_str(r#"{"a":1,"c":1,"e":1,"g":""}"#).unwrap();
    assert_eq!((s.b, s.d, s.f, s.h), (None, None, None, None));
    assert!(serde_json::from_str::<S>(r#"{"a":70000,"c":1,"e":1,"g":""}"#).is_err());
    assert!(serde_json::from_str::<S>(r#"{"a":1,"c":1,"e":2,"g":""}"#).is_err());
}

// ---------------------------------------------------------------------------------------------
// models on fixtures

const CLUSTER_RESOURCES: &[u8] = include_bytes!("data/models/cluster_resources.json");

#[test]
fn cluster_resources_fixture() {
    let list: Vec<ClusterResource> = parse_list(CLUSTER_RESOURCES).unwrap();
    assert_eq!(list.len(), 12);
    let kinds: Vec<&str> = list.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "node",
            "node",
            "storage",
            "storage",
            "pool",
            "sdn",
            "network",
            "qemu",
            "qemu",
            "lxc",
            "openvz",
            "brand-new-kind"
        ]
    );
    let node = &list[0];
    assert_eq!(node.kind, ResourceKind::Node);
    assert_eq!(node.status, Some(ResourceStatus::Online));
    assert_eq!(node.cgroup_mode, Some(2));
    assert_eq!(node.maxcpu, Some(16.0));
    assert_eq!(node.level.as_deref(), Some("c"));
    assert_eq!(list[1].status, Some(ResourceStatus::Offline));
    assert_eq!(list[1].cpu, None);

    let local = &list[2];
    assert_eq!(local.storage.as_deref(), Some("local"));
    assert_eq!(local.shared, Some(false));
    assert_eq!(local.disk, Some(21474836480));
    assert_eq!(local.maxdisk, Some(100861726720));
    assert_eq!(local.status, Some(ResourceStatus::Available));
    assert_eq!(list[3].shared, Some(true));
    assert_eq!(list[4].pool.as_deref(), Some("prod"));
    assert_eq!(list[4].node, None);
    assert_eq!(list[5].zone_type.as_deref(), Some("simple"));
    assert_eq!(list[5].status, Some(ResourceStatus::Ok));
    assert_eq!(list[6].network_type.as_deref(), Some("fabric"));
    assert_eq!(list[6].protocol.as_deref(), Some("openfabric"));

    let web = &list[7];
    assert!(web.is_guest());
    assert_eq!(web.vmid, Some(100));
    assert_eq!(web.memhost, Some(1100000000));
    assert_eq!(web.template, Some(false));
    assert_eq!(web.tags.as_deref(), Some("prod;web"));
    assert_eq!(web.hastate.as_deref(), Some("started"));
    assert!(web.extra.is_empty());

    // Everything as strings, Perl style.
    let db = &list[8];
    assert_eq!(db.vmid, Some(101));
    assert_eq!(db.maxmem, Some(2147483648));
    assert_eq!(db.mem, Some(0));
    assert_eq!(db.maxcpu, Some(1.5));
    assert_eq!(db.cpu, Some(0.0));
    assert_eq!(db.template, Some(true));
    assert_eq!(db.lock.as_deref(), Some("backup"));
    assert_eq!(db.status, Some(ResourceStatus::Stopped));

    let ct = &list[9];
    assert_eq!(ct.kind, ResourceKind::Lxc);
    assert_eq!(ct.status, Some(ResourceStatus::Unknown));
    assert_eq!(ct.template, Some(false));
    assert_eq!(ct.extra.len(), 2);
    assert_eq!(ct.extra["x-future"], json!({"a": 1}));
    assert_eq!(ct.extra["another"], json!("kept"));
    assert_eq!(list[10].kind, ResourceKind::Openvz);

    let weird = &list[11];
    assert_eq!(weird.kind, ResourceKind::Other("brand-new-kind".into()));
    assert_eq!(weird.status, Some(ResourceStatus::Other("glowing".into())));
    assert!(!weird.is_guest());
}

#[test]
fn serialization_round_trips_with_unknown_fields() {
    let list: Vec<ClusterResource> = parse_list(CLUSTER_RESOURCES).unwrap();
    let ct = &list[9];
    let v = serde_json::to_value(ct).unwrap();
    assert_eq!(
        v,
        json!({"id":"lxc/200","type":"lxc","vmid":200,"name":"ct1","node":"pve2",
               "status":"unknown","maxmem":536870912,"template":false,
               "x-future":{"a":1},"another":"kept"})
    );
    // Every entry survives a write and a read.
    for r in &list {
        let back: ClusterResource =
            serde_json::from_value(serde_json::to_value(r).unwrap()).unwrap();
        assert_eq!(&back, r);
    }
    // Keys in `extra` that shadow a known field are not written twice.
    let mut r = list[7].clone();
    r.extra.insert("vmid".into(), json!(999));
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(text.matches("\"vmid\"").count(), 1, "{text}");
    assert!(ClusterResource::KNOWN_KEYS.contains(&"cgroup-mode"));
}

#[test]
fn nodes_fixture() {
    let nodes: Vec<NodeListEntry> = parse_list(include_bytes!("data/models/nodes.json")).unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0].node, "pve1");
    assert_eq!(nodes[0].status, NodeStatus::Online);
    assert_eq!(nodes[0].maxcpu, Some(16));
    assert_eq!(nodes[0].id.as_deref(), Some("node/pve1"));
    assert!(
        nodes[0]
            .ssl_fingerprint
            .as_deref()
            .unwrap()
            .starts_with("AB:CD")
    );
    assert_eq!(nodes[0].extra["type"], json!("node"));
    assert_eq!(nodes[1].status, NodeStatus::Offline);
    assert_eq!(nodes[1].cpu, None);
    assert_eq!(nodes[2].status, NodeStatus::Unknown);
    assert_eq!(nodes[2].maxcpu, Some(8));
    assert_eq!(nodes[2].uptime, Some(12));
}

#[test]
fn qemu_and_lxc_lists() {
    let vms: Vec<QemuListEntry> = parse_list(include_bytes!("data/models/qemu_list.json")).unwrap();
    assert_eq!(vms.len(), 3);
    assert_eq!((vms[0].vmid, &vms[0].status), (100, &GuestStatus::Running));
    assert_eq!(vms[0].serial, Some(true));
    assert_eq!(vms[0].pid, Some(12345));
    assert_eq!(vms[0].cpus, Some(2.0));
    assert_eq!((vms[1].vmid, &vms[1].status), (101, &GuestStatus::Stopped));
    assert_eq!(vms[1].cpus, Some(4.0));
    assert_eq!(vms[1].template, Some(true));
    assert_eq!(vms[1].pid, None);
    assert_eq!(vms[2].qmpstatus.as_deref(), Some("paused"));
    assert_eq!(
        vms[2].running_machine.as_deref(),
        Some("pc-i440fx-9.0+pve0")
    );
    assert_eq!(vms[2].running_qemu.as_deref(), Some("9.0.2"));
    assert_eq!(vms[2].pressurecpusome, Some(0.5));
    assert_eq!(vms[2].pressurememoryfull, Some(0.0));
    assert_eq!(vms[2].name, None);

    let cts: Vec<LxcListEntry> = parse_list(include_bytes!("data/models/lxc_list.json")).unwrap();
    assert_eq!(cts.len(), 2);
    assert_eq!(cts[0].vmid, 200);
    assert_eq!(cts[0].cpus, Some(1.5));
    assert_eq!(cts[0].maxswap, Some(536870912));
    assert_eq!(cts[0].kind.as_deref(), Some("lxc"));
    assert_eq!(cts[1].template, Some(true));
    assert_eq!(cts[1].status, GuestStatus::Stopped);
}

#[test]
fn guest_status_current() {
    let s7: QemuStatus = parse_single(include_bytes!("data/models/qemu_status_pve7.json")).unwrap();
    assert_eq!(s7.vmid, 100);
    assert_eq!(s7.status, GuestStatus::Running);
    assert_eq!(s7.agent, Some(true));
    assert_eq!(s7.spice, Some(true));
    assert_eq!(s7.pid, Some(12345));
    assert_eq!(s7.balloon, Some(4294967296));
    assert_eq!(s7.ha.as_ref().unwrap().managed, Some(false));
    assert_eq!(s7.ha.as_ref().unwrap().state, None);
    assert_eq!(
        s7.extra["proxmox-support"],
        json!({"pbs-dirty-bitmap": true, "query-bitrate": true})
    );
    assert!(s7.extra.contains_key("nics") && s7.extra.contains_key("ballooninfo"));
    assert_eq!(s7.memhost, None);

    let s8: QemuStatus = parse_single(include_bytes!("data/models/qemu_status_pve8.json")).unwrap();
    assert_eq!(s8.vmid, 100);
    assert_eq!(s8.status, GuestStatus::Stopped);
    let ha = s8.ha.as_ref().unwrap();
    assert_eq!(ha.managed, Some(true));
    assert_eq!(ha.state.as_deref(), Some("started"));
    assert_eq!(ha.group.as_deref(), Some("g1"));
    assert_eq!((ha.max_relocate, ha.max_restart), (Some(1), Some(1)));
    assert_eq!(s8.template, Some(false)); // "" is Perl's false
    assert_eq!(s8.serial, Some(false));
    assert_eq!(s8.clipboard.as_deref(), Some("vnc"));
    assert_eq!(s8.pressurecpusome, Some(0.0));
    assert!(s8.extra.is_empty());

    let ct: LxcStatus = parse_single(include_bytes!("data/models/lxc_status.json")).unwrap();
    assert_eq!((ct.vmid, &ct.status), (200, &GuestStatus::Running));
    assert_eq!(ct.swap, Some(0));
    assert_eq!(ct.disk, Some(1073741824));
    assert_eq!(ct.pressurememoryfull, Some(0.0));
}

#[test]
fn qemu_config_memory_across_versions() {
    let c7: QemuConfig = parse_single(include_bytes!("data/models/qemu_config_pve7.json")).unwrap();
    assert_eq!(c7.memory, Some(QemuMemory::from_mib(4096)));
    assert_eq!(c7.balloon, Some(2048));
    assert_eq!((c7.cores, c7.sockets), (Some(2), Some(1)));
    assert_eq!(c7.onboot, Some(true));
    assert_eq!(c7.numa, Some(false));
    assert_eq!(c7.agent.as_deref(), Some("1"));
    assert_eq!(c7.extra["scsi0"], json!("local-lvm:vm-100-disk-0,size=32G"));
    assert!(c7.extra.contains_key("net0") && c7.extra.contains_key("smbios1"));

    let c8: QemuConfig = parse_single(include_bytes!("data/models/qemu_config_pve8.json")).unwrap();
    assert_eq!(c8.memory, Some(QemuMemory::from_mib(4096)));
    assert_eq!((c8.cores, c8.sockets), (Some(2), Some(1)));
    assert_eq!(c8.cpulimit, Some(1.5));
    assert_eq!(c8.onboot, Some(true));
    assert_eq!(c8.protection, Some(false));
    assert_eq!(c8.agent.as_deref(), Some("enabled=1,fstrim_cloned_disks=1"));
    assert_eq!(c8.balloon, None);

    let c9: QemuConfig = parse_single(include_bytes!("data/models/qemu_config_pve9.json")).unwrap();
    assert_eq!(c9.memory.as_ref().unwrap().current, Some(8192));
    assert_eq!(c9.memory.as_ref().unwrap().current_or_default(), 8192);
    assert_eq!(c9.description.as_deref(), Some("line1\nline2"));
    assert_eq!(c9.lock.as_deref(), Some("migrate"));
    // Written back as a plain integer, which every PVE version accepts.
    assert_eq!(serde_json::to_value(&c9).unwrap()["memory"], json!(8192));

    // A config without memory: PVE's default applies.
    let c: QemuConfig = parse_single(br#"{"data":{"name":"x"}}"#).unwrap();
    assert_eq!(c.memory, None);
}

#[test]
fn tasks_fixture() {
    let tasks: Vec<TaskListEntry> = parse_list(include_bytes!("data/models/tasks.json")).unwrap();
    assert_eq!(tasks.len(), 3);
    let t = &tasks[0];
    assert_eq!(t.task_type, "qmstart");
    assert_eq!(t.id, "100");
    assert_eq!(t.status.as_deref(), Some("OK"));
    assert_eq!((t.starttime, t.endtime), (1705096899, Some(1705096901)));
    assert_eq!(t.parse_upid().unwrap().node(), "pve1");
    let t = &tasks[1];
    assert_eq!(t.id, "");
    assert_eq!(t.user, "root@pam!ci");
    assert_eq!((t.pid, t.pstart), (Some(662317), Some(19114958)));
    assert_eq!(t.endtime, Some(1705097000));
    assert_eq!(t.status.as_deref(), Some("WARNINGS: 2"));
    assert_eq!(t.extra["tokenid"], json!("ci"));
    let t = &tasks[2];
    assert_eq!(t.id, "101"); // a number, read as text
    assert_eq!(t.status, None);
    assert_eq!(t.endtime, None);
    assert_eq!(t.pstart, Some(287551439));

    // PBS spellings.
    let pbs: Vec<TaskListEntry> = parse_list(
        br#"{"data":[{"upid":"UPID:pbs:00000001:00000002:0000000000000003:65A1B2C3:verify:store:root@pam:","node":"pbs","worker_type":"verify","worker_id":"store","user":"root@pam","starttime":1}]}"#,
    )
    .unwrap();
    assert_eq!(
        (pbs[0].task_type.as_str(), pbs[0].id.as_str()),
        ("verify", "store")
    );
}

#[test]
fn task_status_fixtures_through_the_task_module_model() {
    // The status endpoint's model lives in `task` (`TaskStatus`); it reads through the same
    // fast envelope path.
    use proxmox_proto::task::{RunState, TaskStatus};
    let r: TaskStatus =
        parse_single(include_bytes!("data/models/task_status_running.json")).unwrap();
    assert_eq!(r.status, RunState::Running);
    assert_eq!(r.exitstatus, None);
    let s: TaskStatus =
        parse_single(include_bytes!("data/models/task_status_stopped.json")).unwrap();
    assert_eq!(s.status, RunState::Stopped);
    assert_eq!(
        s.exitstatus.as_deref(),
        Some("command 'qm start 100' failed: exit code 1")
    );
    assert_eq!((s.pid, s.starttime), (Some(662316), Some(1705096899)));
}

#[test]
fn storage_content_fixture() {
    let c: Vec<StorageContentEntry> =
        parse_list(include_bytes!("data/models/storage_content.json")).unwrap();
    assert_eq!(c.len(), 4);
    assert_eq!(c[0].content.as_deref(), Some("iso"));
    assert_eq!(c[0].size, Some(658505728));
    assert_eq!(c[0].vmid, None);
    assert_eq!(c[1].size, Some(34359738368));
    assert_eq!(c[1].used, Some(1073741824));
    assert_eq!(c[1].vmid, Some(100));
    assert_eq!(c[1].parent.as_deref(), Some("base-900-disk-0"));
    assert_eq!(c[2].protected, Some(true));
    assert_eq!(c[2].encrypted.as_deref(), Some("aa:bb"));
    assert_eq!(c[2].notes.as_deref(), Some("nightly"));
    assert_eq!(c[2].subtype.as_deref(), Some("qemu"));
    assert_eq!(c[2].verification.as_ref().unwrap()["state"], json!("ok"));
    assert_eq!(c[3].protected, Some(false));
    assert_eq!(c[3].extra["future"], json!(true));
}

#[test]
fn version_fixture() {
    let v: VersionInfo = parse_single(include_bytes!("data/models/version.json")).unwrap();
    assert_eq!(v.version, "8.2.4");
    assert_eq!(v.release.as_deref(), Some("8.2"));
    assert_eq!(v.repoid.as_deref(), Some("faa83925c9641325"));
    assert_eq!(v.console.as_deref(), Some("xtermjs"));
    // PBS/PMG answer the same shape without console.
    let v: VersionInfo =
        parse_single(br#"{"data":{"version":"3.2.7","release":"3.2","repoid":"x"}}"#).unwrap();
    assert_eq!(v.console, None);
}

#[test]
fn models_also_work_through_the_response_parser() {
    // The lead's envelope parser takes any DeserializeOwned; the models must fit it.
    let list: Vec<ClusterResource> =
        proxmox_proto::response::parse_data(200, Some("OK"), CLUSTER_RESOURCES).unwrap();
    assert_eq!(
        list,
        parse_list::<ClusterResource>(CLUSTER_RESOURCES).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// refusals and errors

#[test]
fn required_fields_are_required() {
    for (body, field) in [
        (&br#"{"data":[{"type":"qemu"}]}"#[..], "id"),
        (br#"{"data":[{"id":"qemu/1"}]}"#, "type"),
    ] {
        let e = parse_list::<ClusterResource>(body).unwrap_err();
        match e {
            Error::Protocol(ProtocolError::Deserialize { detail, .. }) => {
                assert!(detail.contains(field), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(parse_list::<QemuListEntry>(br#"{"data":[{"vmid":1}]}"#).is_err());
    assert!(parse_list::<QemuListEntry>(br#"{"data":[{"status":"running"}]}"#).is_err());
    assert!(parse_single::<VersionInfo>(br#"{"data":{"release":"8.2"}}"#).is_err());
    assert!(parse_list::<TaskListEntry>(br#"{"data":[{"upid":"u"}]}"#).is_err());
    assert!(parse_list::<StorageContentEntry>(br#"{"data":[{"size":1}]}"#).is_err());
    assert!(parse_list::<NodeListEntry>(br#"{"data":[{"node":"a"}]}"#).is_err());
    // Required fields may not be null either.
    assert!(
        parse_list::<QemuListEntry>(br#"{"data":[{"vmid":null,"status":"running"}]}"#).is_err()
    );
}

#[test]
fn wrong_types_are_refused() {
    for body in [
        &br#"{"data":[{"id":"qemu/1","type":"qemu","vmid":"abc"}]}"#[..],
        br#"{"data":[{"id":"qemu/1","type":"qemu","template":2}]}"#,
        br#"{"data":[{"id":"qemu/1","type":"qemu","cpu":"fast"}]}"#,
        br#"{"data":[{"id":"qemu/1","type":"qemu","maxmem":-1}]}"#,
        br#"{"data":[{"id":["qemu/1"],"type":"qemu"}]}"#,
        br#"{"data":[{"id":"qemu/1","type":5}]}"#,
        br#"{"data":[["qemu/1","qemu"]]}"#,
        br#"{"data":[5]}"#,
        br#"{"data":{"id":"qemu/1","type":"qemu"}}"#,
        br#"{"data":"x"}"#,
    ] {
        let e = parse_list::<ClusterResource>(body).unwrap_err();
        assert!(
            matches!(e, Error::Protocol(ProtocolError::Deserialize { .. })),
            "{}: {e:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn bad_envelopes() {
    for body in [&br#"{"data":null}"#[..], br#"{}"#, br#"{"total":1}"#] {
        let e = parse_list::<ClusterResource>(body).unwrap_err();
        assert!(
            matches!(e, Error::Protocol(ProtocolError::Deserialize { .. })),
            "{e:?}"
        );
    }
    for body in [
        &b""[..],
        b"not json",
        br#"{"data":[]"#,
        br#"{"data":[]} trailing"#,
        b"\xff\xfe",
        br#"[1,2]"#,
    ] {
        let e = parse_list::<ClusterResource>(body).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Protocol(ProtocolError::InvalidJson { .. })
                    | Error::Protocol(ProtocolError::Deserialize { .. })
            ),
            "{e:?}"
        );
    }
    // Not JSON at all is told apart from JSON of the wrong shape.
    assert!(matches!(
        parse_list::<ClusterResource>(b"<html>").unwrap_err(),
        Error::Protocol(ProtocolError::InvalidJson { .. })
    ));
    // Nesting too deep inside an unknown field (kept as a Value) is refused, not a stack overflow.
    let deep = format!(
        "{{\"data\":[{{\"id\":\"x\",\"type\":\"qemu\",\"x\":{}{}}}]}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert!(matches!(
        parse_list::<ClusterResource>(deep.as_bytes()).unwrap_err(),
        Error::Protocol(ProtocolError::TooDeep { .. })
    ));
    // Siblings are skipped, even odd ones, and data can come after them.
    let l: Vec<VersionInfo> =
        parse_list(br#"{"total":"x","changes":{"a":[1]},"data":[{"version":"1"}],"success":1}"#)
            .unwrap();
    assert_eq!(l.len(), 1);
    // An empty list is fine.
    assert!(
        parse_list::<ClusterResource>(br#"{"data":[]}"#)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn duplicate_keys_last_wins() {
    let l: Vec<QemuListEntry> =
        parse_list(br#"{"data":[{"vmid":1,"status":"running","vmid":"2","x":1,"x":2}]}"#).unwrap();
    assert_eq!(l[0].vmid, 2);
    assert_eq!(l[0].extra["x"], json!(2));
}

#[test]
fn every_prefix_of_a_fixture_is_an_error_not_a_panic() {
    for cut in 0..CLUSTER_RESOURCES.len() {
        let r = parse_list::<ClusterResource>(&CLUSTER_RESOURCES[..cut]);
        // Only trailing whitespace can be cut off and still parse.
        if r.is_ok() {
            assert!(CLUSTER_RESOURCES[cut..].iter().all(u8::is_ascii_whitespace));
        }
    }
}

proptest! {
    #[test]
    fn integers_read_the_same_as_numbers_and_strings(v in any::<u64>()) {
        prop_assert_eq!(loose::<u64>(&v.to_string()).unwrap(), v);
        prop_assert_eq!(loose::<u64>(&format!("\"{v}\"")).unwrap(), v);
        prop_assert_eq!(loose::<Option<u64>>(&format!("\"{v}\"")).unwrap(), Some(v));
    }

    #[test]
    fn signed_integers_too(v in any::<i64>()) {
        prop_assert_eq!(loose::<i64>(&v.to_string()).unwrap(), v);
        prop_assert_eq!(loose::<i64>(&format!("\"{v}\"")).unwrap(), v);
    }

    #[test]
    fn floats_read_the_same_as_numbers_and_strings(v in -1.0e12f64..1.0e12) {
        let text = serde_json::to_string(&v).unwrap();
        // As a number, serde_json's own float parser decides (it may be 1 ulp off without its
        // `float_roundtrip` feature); as a string, Rust's exact parser does.
        prop_assert_eq!(loose::<f64>(&text).unwrap(), serde_json::from_str::<f64>(&text).unwrap());
        prop_assert_eq!(loose::<f64>(&format!("\"{text}\"")).unwrap(), v);
    }

    #[test]
    fn any_string_value_never_panics(s in ".*") {
        let json = serde_json::to_string(&s).unwrap();
        let _ = loose::<u64>(&json);
        let _ = loose::<i8>(&json);
        let _ = loose::<f64>(&json);
        let _ = loose::<bool>(&json);
        let _ = loose::<QemuMemory>(&json);
        prop_assert_eq!(loose::<String>(&json).unwrap(), s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_list::<ClusterResource>(&body);
        let _ = parse_single::<QemuStatus>(&body);
    }

    #[test]
    fn memory_property_string_round_trips(mib in 16u64..1 << 40, other in proptest::option::of("[a-z]{1,8}")) {
        let mut m = QemuMemory::from_mib(mib);
        if let Some(k) = other.filter(|k| k != "current") {
            m.other.push((k, "v".into()));
        }
        let back = loose::<QemuMemory>(&serde_json::to_string(&m).unwrap()).unwrap();
        prop_assert_eq!(back, m);
    }
}

// ---------------------------------------------------------------------------------------------
// the generated 5,000-guest listing

#[test]
fn recipe_body_has_the_expected_shape() {
    let body = gen_resources::recipe_body(5000);
    // The recipe's Python body is 1,592,934 bytes; ours uses another random source but the same
    // shape, so it is within a few percent.
    assert!(
        (1_500_000..1_700_000).contains(&body.len()),
        "size {}",
        body.len()
    );
    let list: Vec<ClusterResource> = parse_list(body.as_bytes()).unwrap();
    assert_eq!(list.len(), 5000);
    assert!(
        list.iter()
            .all(|r| r.kind == ResourceKind::Qemu && r.extra.is_empty())
    );
    assert_eq!(list[0].id, "qemu/100");
    assert_eq!(list[4999].vmid, Some(5099));
    let running = list
        .iter()
        .filter(|r| r.status == Some(ResourceStatus::Running))
        .count();
    assert!((3800..4200).contains(&running), "{running} running");
    // Stopped guests use no memory or CPU.
    assert!(
        list.iter()
            .filter(|r| r.status == Some(ResourceStatus::Stopped))
            .all(|r| r.mem == Some(0) && r.cpu == Some(0.0) && r.uptime == Some(0))
    );
    // The same data through serde_json::Value agrees.
    let v: serde_json::Value = serde_json::from_slice(body.as_bytes()).unwrap();
    let arr = v["data"].as_array().unwrap();
    for (typed, raw) in list.iter().zip(arr).step_by(97) {
        assert_eq!(Some(typed.mem.unwrap()), raw["mem"].as_u64());
        assert_eq!(typed.cpu, raw["cpu"].as_f64());
        assert_eq!(typed.name.as_deref(), raw["name"].as_str());
    }
}

#[test]
fn mixed_generated_listing_counts_per_type() {
    let (body, want) = gen_resources::generate(5000, true);
    let list: Vec<ClusterResource> = parse_list(body.as_bytes()).unwrap();
    assert!(list.len() > 5000);
    assert_eq!(list.len(), want.total());
    let count = |k: ResourceKind| list.iter().filter(|r| r.kind == k).count();
    assert_eq!(count(ResourceKind::Qemu), want.qemu);
    assert_eq!(count(ResourceKind::Lxc), want.lxc);
    assert_eq!(count(ResourceKind::Node), want.node);
    assert_eq!(count(ResourceKind::Storage), want.storage);
    assert_eq!(count(ResourceKind::Pool), want.pool);
    assert_eq!(count(ResourceKind::Sdn), want.sdn);
    assert_eq!(want.qemu + want.lxc, 5000);
    assert_eq!((want.node, want.storage, want.pool, want.sdn), (4, 8, 3, 4));
    assert!(want.lxc > 700);
    let running = list
        .iter()
        .filter(|r| r.is_guest() && r.status == Some(ResourceStatus::Running))
        .count();
    assert_eq!(running, want.running);
    assert_eq!(
        list.iter().filter(|r| !r.extra.is_empty()).count(),
        want.unknown_field
    );
    assert!(want.stringly > 50);
    // Stringly entries read the same as their numeric neighbours would.
    let first = &list[0]; // i = 0 is stringly
    assert_eq!(first.vmid, Some(100));
    assert_eq!(first.template, Some(false));
    assert!(first.maxmem.unwrap() >= 1 << 30);
    let v: serde_json::Value = serde_json::from_slice(body.as_bytes()).unwrap();
    assert_eq!(
        v["data"][0]["maxmem"]
            .as_str()
            .map(|s| s.parse::<u64>().unwrap()),
        first.maxmem
    );
}
