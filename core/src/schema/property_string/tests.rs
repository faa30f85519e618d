//! Unit tests of property strings on formats written here, modelled on PVE's `net[n]`,
//! `scsi[n]` and `ipconfig[n]` (key names and flags only), with strings as PVE writes them.

use super::*;
use crate::schema::SchemaType;

fn key(ty: SchemaType, optional: bool) -> PropSchema {
    PropSchema {
        ty,
        optional,
        ..PropSchema::default()
    }
}

fn opt(ty: SchemaType) -> PropSchema {
    key(ty, true)
}

fn default_of(ty: SchemaType) -> PropSchema {
    PropSchema {
        default_key: true,
        ..key(ty, false)
    }
}

fn alias(target: &str, key_alias: Option<&str>) -> PropSchema {
    PropSchema {
        alias: Some(target.into()),
        key_alias: key_alias.map(Into::into),
        ..PropSchema::default()
    }
}

fn format(keys: Vec<(&str, PropSchema)>) -> PropertyFormat {
    let default_key = keys
        .iter()
        .find(|(_, s)| s.default_key)
        .map(|(k, _)| (*k).to_owned());
    PropertyFormat {
        keys: keys.into_iter().map(|(k, s)| (k.to_owned(), s)).collect(),
        default_key,
    }
}

/// Like `net[n]` of a VM: `model` is the default key and required; each NIC model is an
/// alias for `macaddr` whose name goes to `model`.
fn net() -> PropertyFormat {
    use SchemaType::{Boolean, Integer, Number, String};
    let mut keys = vec![
        ("model", default_of(String)),
        ("macaddr", opt(String)),
        ("bridge", opt(String)),
        ("firewall", opt(Boolean)),
        ("link_down", opt(Boolean)),
        ("mtu", opt(Integer)),
        ("queues", opt(Integer)),
        ("rate", opt(Number)),
        ("tag", opt(Integer)),
        ("trunks", opt(String)),
    ];
    for m in ["e1000", "e1000e", "rtl8139", "virtio", "vmxnet3"] {
        keys.push((m, alias("macaddr", Some("model"))));
    }
    format(keys)
}

/// Like `scsi[n]`: `file` is the default key and required, `volume` an alias for it.
fn scsi() -> PropertyFormat {
    use SchemaType::{Boolean, Integer, String};
    format(vec![
        ("file", default_of(String)),
        ("volume", alias("file", None)),
        ("aio", opt(String)),
        ("backup", opt(Boolean)),
        ("cache", opt(String)),
        ("discard", opt(String)),
        ("format", opt(String)),
        ("iothread", opt(Boolean)),
        ("media", opt(String)),
        ("queues", opt(Integer)),
        ("replicate", opt(Boolean)),
        ("ro", opt(Boolean)),
        ("serial", opt(String)),
        ("size", opt(String)),
        ("ssd", opt(Boolean)),
        ("bps_rd_max_length", opt(Integer)),
        ("bps_rd_length", alias("bps_rd_max_length", None)),
    ])
}

/// Like `ipconfig[n]`: four optional keys, no default key.
fn ipconfig() -> PropertyFormat {
    format(
        ["ip", "gw", "ip6", "gw6"]
            .map(|k| (k, opt(SchemaType::String)))
            .to_vec(),
    )
}

fn entries(p: &PropertyString) -> Vec<(&str, &str)> {
    p.iter().collect()
}

#[track_caller]
fn round_trip(format: &PropertyFormat, text: &str) -> PropertyString {
    let p = parse(format, text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(
        parse_entries(format, text).unwrap(),
        entries(&p),
        "borrowed"
    );
    assert_eq!(p.to_text(format), text, "to_text of {text:?}");
    let again = parse(format, &p.to_string()).unwrap();
    assert_eq!(again, p, "Display of {text:?} reads back in the same order");
    p
}

#[test]
fn net_strings_as_pve_writes_them_round_trip() {
    let net = net();
    let p = round_trip(&net, "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1");
    assert_eq!(
        entries(&p),
        [
            ("macaddr", "BC:24:11:2A:3B:4C"),
            ("model", "virtio"),
            ("bridge", "vmbr0"),
            ("firewall", "1"),
        ]
    );
    let p = round_trip(
        &net,
        "e1000=BC:24:11:00:00:01,bridge=vmbr1,link_down=1,rate=12.5,tag=20,trunks=10;20;30",
    );
    assert_eq!(p.get("model"), Some("e1000"));
    assert_eq!(p.get_int("tag").unwrap(), Some(20));
    assert_eq!(p.get_number("rate").unwrap(), Some(12.5));
    assert_eq!(p.get_bool("link_down").unwrap(), Some(true));
    assert_eq!(p.get_list("trunks"), Some(vec!["10", "20", "30"]));
    round_trip(
        &net,
        "vmxnet3=BC:24:11:00:00:02,bridge=vmbr0,mtu=1500,queues=4",
    );
    // Without a MAC address PVE writes the model alone, as the default key.
    let p = round_trip(&net, "virtio,bridge=vmbr0");
    assert_eq!(entries(&p), [("model", "virtio"), ("bridge", "vmbr0")]);
}

#[test]
fn net_written_in_other_forms_comes_back_in_pves_form() {
    let net = net();
    let p = parse(
        &net,
        "bridge=vmbr0,firewall=1,macaddr=BC:24:11:2A:3B:4C,model=virtio",
    )
    .unwrap();
    assert_eq!(
        p.to_text(&net),
        "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1"
    );
    let p = parse(&net, "bridge=vmbr0,virtio").unwrap();
    assert_eq!(p.to_text(&net), "virtio,bridge=vmbr0");
    // A model that is no alias key is written plainly (the MAC address separately).
    let p = parse(&net, "model=ne2k,macaddr=BC:24:11:2A:3B:4C").unwrap();
    assert_eq!(p.to_text(&net), "ne2k,macaddr=BC:24:11:2A:3B:4C");
    assert!(parse(&net, &p.to_text(&net)).unwrap().same_entries(&p));
}

#[test]
fn scsi_strings_as_pve_writes_them_round_trip() {
    let scsi = scsi();
    let p = round_trip(&scsi, "local-lvm:vm-100-disk-0,iothread=1,size=32G");
    assert_eq!(
        entries(&p),
        [
            ("file", "local-lvm:vm-100-disk-0"),
            ("iothread", "1"),
            ("size", "32G")
        ]
    );
    round_trip(
        &scsi,
        "local-lvm:vm-100-disk-1,aio=io_uring,backup=0,cache=writeback,discard=on,iothread=1,\
         replicate=0,serial=QM00001,size=100G,ssd=1",
    );
    round_trip(&scsi, "local:iso/debian-12.iso,media=cdrom,size=600M");
    round_trip(&scsi, "none,media=cdrom");
    round_trip(&scsi, "/dev/disk/by-id/ata-X,backup=0,format=raw");
}

#[test]
fn scsi_aliases_and_key_forms() {
    let scsi = scsi();
    let p = parse(&scsi, "size=8G,volume=local:100/vm-100-disk-0.qcow2").unwrap();
    assert_eq!(
        entries(&p),
        [("size", "8G"), ("file", "local:100/vm-100-disk-0.qcow2")]
    );
    assert_eq!(p.to_text(&scsi), "local:100/vm-100-disk-0.qcow2,size=8G");
    let p = parse(&scsi, "file=local:x,bps_rd_length=30").unwrap();
    assert_eq!(p.get("bps_rd_max_length"), Some("30"));
    assert_eq!(p.to_text(&scsi), "local:x,bps_rd_max_length=30");
    // A default value with `=` in it reads back only with `file=`.
    let p = parse(&scsi, "file=a=b,ro=1").unwrap();
    assert_eq!(p.get("file"), Some("a=b"));
    assert_eq!(p.to_text(&scsi), "file=a=b,ro=1");
    // So does one that is only white space (a blank part is skipped).
    let p = parse(&scsi, "file= ").unwrap();
    assert_eq!(p.to_text(&scsi), "file= ");
    assert!(parse(&scsi, &p.to_text(&scsi)).unwrap().same_entries(&p));
}

#[test]
fn ipconfig_strings_round_trip() {
    let ipc = ipconfig();
    let p = round_trip(&ipc, "ip=dhcp,ip6=auto");
    assert_eq!(entries(&p), [("ip", "dhcp"), ("ip6", "auto")]);
    round_trip(&ipc, "gw=192.168.1.1,ip=192.168.1.10/24");
    round_trip(
        &ipc,
        "gw=10.0.0.1,gw6=2001:db8::1,ip=10.0.0.5/24,ip6=2001:db8::5/64",
    );
    let p = parse(&ipc, "").unwrap();
    assert!(p.is_empty());
    assert_eq!(p.to_text(&ipc), "");
}

#[test]
fn blank_parts_are_skipped_and_keys_are_exact() {
    let ipc = ipconfig();
    let p = parse(&ipc, " ,ip=dhcp,,\t,ip6=auto,").unwrap();
    assert_eq!(entries(&p), [("ip", "dhcp"), ("ip6", "auto")]);
    // Values keep their spaces; keys are not trimmed.
    let p = parse(&ipc, "ip= dhcp ").unwrap();
    assert_eq!(p.get("ip"), Some(" dhcp "));
    assert!(matches!(
        parse(&ipc, "ip=dhcp, ip6=auto"),
        Err(PropertyStringError::UnknownKey { key, .. }) if key == " ip6"
    ));
}

#[test]
fn unknown_key_is_named_with_the_known_ones() {
    let err = parse(&net(), "virtio=BC:24:11:2A:3B:4C,brige=vmbr0").unwrap_err();
    let PropertyStringError::UnknownKey { key, known } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(key, "brige");
    assert_eq!(known[..3], ["model", "macaddr", "bridge"]);
    assert_eq!(known.last().map(String::as_str), Some("vmxnet3"));
    let text = err.to_string();
    assert!(text.contains("unknown key \"brige\""), "{text}");
    assert!(text.contains("bridge, firewall"), "{text}");
    let long = "k".repeat(500);
    let err = parse(&ipconfig(), &format!("{long}=1")).unwrap_err();
    assert!(err.to_string().len() < 200, "{err}");
}

#[test]
fn duplicate_keys_are_refused_directly_and_through_aliases() {
    let dup = |key: &str, via: Option<&str>| PropertyStringError::DuplicateKey {
        key: key.into(),
        via: via.map(Into::into),
    };
    let (net, scsi) = (net(), scsi());
    assert_eq!(
        parse(&net, "virtio,bridge=a,bridge=b"),
        Err(dup("bridge", None))
    );
    assert_eq!(
        parse(&net, "model=e1000,virtio=BC:24:11:2A:3B:4C"),
        Err(dup("model", Some("virtio")))
    );
    assert_eq!(
        parse(&net, "virtio=BC:24:11:2A:3B:4C,model=e1000"),
        Err(dup("model", None))
    );
    assert_eq!(
        parse(&net, "macaddr=BC:24:11:2A:3B:4C,virtio=BC:24:11:2A:3B:4D"),
        Err(dup("macaddr", Some("virtio")))
    );
    assert_eq!(
        parse(&net, "virtio=BC:24:11:2A:3B:4C,e1000=BC:24:11:2A:3B:4D"),
        Err(dup("model", Some("e1000")))
    );
    assert_eq!(parse(&scsi, "a,b"), Err(dup("file", None)));
    assert_eq!(parse(&scsi, "file=a,b"), Err(dup("file", None)));
    assert_eq!(parse(&scsi, "a,file=b"), Err(dup("file", None)));
    assert_eq!(parse(&scsi, "a,volume=b"), Err(dup("file", Some("volume"))));
    assert_eq!(
        parse_entries(&net, "model=e1000,virtio=BC:24:11:2A:3B:4C"),
        Err(dup("model", Some("virtio")))
    );
    let text = dup("model", Some("virtio")).to_string();
    assert!(
        text.contains("\"model\"") && text.contains("\"virtio\""),
        "{text}"
    );
}

#[test]
fn syntax_errors_are_named() {
    let ipc = ipconfig();
    assert_eq!(
        parse(&ipc, "ip=dhcp,dhcp"),
        Err(PropertyStringError::NoDefaultKey { part: 2 })
    );
    assert_eq!(
        parse(&ipc, "ip="),
        Err(PropertyStringError::EmptyKeyOrValue { part: 1 })
    );
    assert_eq!(
        parse(&ipc, "ip=dhcp,=auto"),
        Err(PropertyStringError::EmptyKeyOrValue { part: 2 })
    );
    assert_eq!(
        parse(&ipc, "ip=dhcp\n"),
        Err(PropertyStringError::LineBreak)
    );
    for err in [
        PropertyStringError::NoDefaultKey { part: 2 },
        PropertyStringError::EmptyKeyOrValue { part: 1 },
        PropertyStringError::LineBreak,
    ] {
        let text = err.to_string();
        assert!(
            text.contains("key=value") || text.contains("one line"),
            "{text}"
        );
    }
}

#[test]
fn missing_required_keys_are_listed() {
    assert_eq!(
        parse(&scsi(), "iothread=1,size=32G"),
        Err(PropertyStringError::MissingKeys {
            keys: vec!["file".into()]
        })
    );
    assert_eq!(
        parse(&net(), "bridge=vmbr0"),
        Err(PropertyStringError::MissingKeys {
            keys: vec!["model".into()]
        })
    );
    let audio = format(vec![
        ("device", key(SchemaType::String, false)),
        ("driver", opt(SchemaType::String)),
        ("name", key(SchemaType::String, false)),
    ]);
    let err = parse(&audio, "driver=spice").unwrap_err();
    assert_eq!(
        err,
        PropertyStringError::MissingKeys {
            keys: vec!["device".into(), "name".into()]
        }
    );
    assert!(err.to_string().contains("device, name"), "{err}");
    // Required keys come after the default key, sorted, before the optional ones.
    let p = parse(&audio, "name=x,driver=spice,device=ich9-intel-hda").unwrap();
    assert_eq!(
        p.to_text(&audio),
        "device=ich9-intel-hda,name=x,driver=spice"
    );
}

#[test]
fn inconsistent_aliases_are_refused_not_followed() {
    let f = format(vec![
        ("a", opt(SchemaType::String)),
        ("b", alias("nowhere", None)),
        ("c", alias("a", Some("missing"))),
        ("d", alias("b", None)),
    ]);
    let bad = |key: &str, target: &str| PropertyStringError::BadAlias {
        key: key.into(),
        target: target.into(),
    };
    assert_eq!(parse(&f, "b=1"), Err(bad("b", "nowhere")));
    assert_eq!(parse(&f, "c=1"), Err(bad("c", "missing")));
    assert_eq!(parse(&f, "d=1"), Err(bad("d", "b")));
    // A default key that is an alias is no default key.
    let g = PropertyFormat {
        default_key: Some("b".into()),
        ..f.clone()
    };
    assert_eq!(default_key(&g), None);
    assert_eq!(
        parse(&g, "x"),
        Err(PropertyStringError::NoDefaultKey { part: 1 })
    );
}

#[test]
fn default_key_and_key_schema() {
    let mut scsi = scsi();
    assert_eq!(default_key(&scsi), Some("file"));
    scsi.default_key = None;
    assert_eq!(default_key(&scsi), Some("file"), "from the key's flag");
    assert_eq!(default_key(&ipconfig()), None);
    let net = net();
    assert!(matches!(
        key_schema(&net, "virtio").map(|s| &s.ty),
        Some(SchemaType::String)
    ));
    assert!(key_schema(&net, "virtio").is_some_and(|s| s.alias.is_none()));
    assert!(matches!(
        key_schema(&net, "firewall").map(|s| &s.ty),
        Some(SchemaType::Boolean)
    ));
    assert!(key_schema(&net, "nope").is_none());
}

#[test]
fn typed_getters_follow_pves_syntax() {
    let mut p = PropertyString::new();
    for (i, v) in ["1", "on", "YES", "True", "0", "off", "No", "FALSE"]
        .iter()
        .enumerate()
    {
        p.set(format!("b{i}"), *v).unwrap();
        assert_eq!(p.get_bool(&format!("b{i}")).unwrap(), Some(i < 4), "{v}");
    }
    for bad in ["2", "y", "enabled", " 1"] {
        p.set("x", bad).unwrap();
        assert!(
            matches!(p.get_bool("x"), Err(PropertyStringError::BadValue { ref key, .. }) if key == "x"),
            "{bad}"
        );
    }
    for (v, n) in [("0", 0), ("-7", -7), ("+12", 12), ("0042", 42)] {
        p.set("i", v).unwrap();
        assert_eq!(p.get_int("i").unwrap(), Some(n), "{v}");
    }
    for bad in [
        "",
        "1.0",
        "1e3",
        "0x10",
        " 1",
        "99999999999999999999",
        "+",
        "-",
    ] {
        if p.set("i", bad).is_ok() {
            assert!(p.get_int("i").is_err(), "{bad}");
        }
    }
    for (v, n) in [
        ("12", 12.0),
        ("-1.5", -1.5),
        (".5", 0.5),
        ("3.", 3.0),
        ("1e6", 1e6),
        ("+2.5E-1", 0.25),
    ] {
        p.set("n", v).unwrap();
        assert_eq!(p.get_number("n").unwrap(), Some(n), "{v}");
    }
    for bad in [
        ".", "e5", "1e", "1e+", "inf", "NaN", "1.2.3", "1e999", "--1", "1_0",
    ] {
        p.set("n", bad).unwrap();
        assert!(p.get_number("n").is_err(), "{bad}");
    }
    assert_eq!(p.get_bool("absent").unwrap(), None);
    assert_eq!(p.get_int("absent").unwrap(), None);
    assert_eq!(p.get_number("absent").unwrap(), None);
    assert_eq!(p.get_list("absent"), None);
}

#[test]
fn lists_split_like_split_list() {
    let mut p = PropertyString::new();
    p.set("a", "10;20;30").unwrap();
    p.set("b", " 10 ;; 20\t30; ").unwrap();
    p.set("c", "x\0\0y\0\0").unwrap();
    p.set("d", ";").unwrap();
    assert_eq!(p.get_list("a"), Some(vec!["10", "20", "30"]));
    assert_eq!(p.get_list("b"), Some(vec!["10", "20", "30"]));
    assert_eq!(p.get_list("c"), Some(vec!["x", "", "y"]));
    assert_eq!(p.get_list("d"), Some(vec![]));
    p.set_list("e", ["1", "2-5"]).unwrap();
    assert_eq!(p.get("e"), Some("1;2-5"));
    for bad in [&["a b"][..], &[""], &["x,y"], &["a\0"]] {
        assert!(p.set_list("e", bad).is_err(), "{bad:?}");
    }
    assert!(
        p.set_list("e", Vec::<String>::new()).is_err(),
        "an empty list"
    );
}

#[test]
fn set_remove_and_iteration() {
    let mut p = PropertyString::new();
    assert_eq!(p.set("bridge", "vmbr0").unwrap(), None);
    assert_eq!(p.set("tag", "5").unwrap(), None);
    assert_eq!(p.set("bridge", "vmbr1").unwrap().as_deref(), Some("vmbr0"));
    assert_eq!(entries(&p), [("bridge", "vmbr1"), ("tag", "5")]);
    assert_eq!((&p).into_iter().len(), 2);
    assert_eq!(p.to_string(), "bridge=vmbr1,tag=5");
    assert_eq!(p.remove("bridge").as_deref(), Some("vmbr1"));
    assert_eq!(p.remove("bridge"), None);
    assert_eq!(p.len(), 1);
    for (k, v) in [
        ("", "x"),
        ("a=b", "x"),
        ("a,b", "x"),
        ("a\nb", "x"),
        ("k", ""),
        ("k", "a,b"),
        ("k", "a\nb"),
    ] {
        let err = p.set(k, v).unwrap_err();
        assert!(
            matches!(err, PropertyStringError::Unwritable { .. }),
            "{k:?}={v:?}"
        );
        assert!(!err.to_string().contains(v) || v.is_empty() || v == "x");
    }
    // A value may contain `=`; a key the format does not know is written among the others.
    p.set("zz", "a=b").unwrap();
    p.set("aa", "1").unwrap();
    assert_eq!(p.to_text(&ipconfig()), "aa=1,tag=5,zz=a=b");
}

#[test]
fn built_entries_write_in_pves_form() {
    let net = net();
    let mut p = PropertyString::new();
    p.set("firewall", "1").unwrap();
    p.set("bridge", "vmbr0").unwrap();
    p.set("macaddr", "BC:24:11:2A:3B:4C").unwrap();
    p.set("model", "virtio").unwrap();
    assert_eq!(
        p.to_text(&net),
        "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1"
    );
    assert!(parse(&net, &p.to_text(&net)).unwrap().same_entries(&p));
}

#[test]
fn errors_never_repeat_values() {
    let remote = format(vec![
        ("host", key(SchemaType::String, false)),
        ("apitoken", key(SchemaType::String, false)),
    ]);
    for text in [
        "host=pve,apitoken=PVEAPIToken=root@pam!t=SECRET,apitoken=PVEAPIToken=root@pam!t=SECRET",
        "host=pve,PVEAPIToken=root@pam!t=SECRET",
        "PVEAPIToken=root@pam!t",
        "host=pve,SECRET",
    ] {
        let err = parse(&remote, text).unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(!format!("{err:?}").contains("SECRET"), "{err:?}");
    }
}
