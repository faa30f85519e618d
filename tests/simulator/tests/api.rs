//! Guests, tasks, logs, errors, storage, upload and the PBS/PMG task flows.

mod common;

use std::time::Duration;

use common::{Client, enc, plain, root_client};
use proxmox_sim::{Config, Service, Simulator, TaskOutcome, TaskPlan};
use serde_json::{Value, json};

fn task_status(c: &mut Client, node: &str, upid: &str) -> Value {
    let r = c.get(&format!("/nodes/{node}/tasks/{upid}/status"));
    assert_eq!(r.status, 200, "{}", r.reason);
    r.data()
}

fn log(c: &mut Client, upid: &str, query: &str) -> Value {
    let r = c.get(&format!("/nodes/pve1/tasks/{}/log{query}", enc(upid)));
    assert_eq!(r.status, 200, "{}", r.reason);
    r.json()
}

#[test]
fn create_start_and_wait_over_simulated_time() {
    let sim = plain(Service::Pve);
    sim.set_task_duration(Duration::from_secs(5));
    let mut c = root_client(&sim);
    let next = c.get("/cluster/nextid").data();
    assert_eq!(next, json!("102"));
    let r = c.post(
        "/nodes/pve1/qemu",
        &[
            ("vmid", "102"),
            ("name", "t1"),
            ("memory", "1024"),
            ("cores", "2"),
            ("scsi0", "local-lvm:4"),
            ("net0", "virtio,bridge=vmbr0"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.reason);
    let upid = r.data().as_str().unwrap_or_default().to_owned();
    let f: Vec<&str> = upid.split(':').collect();
    assert_eq!(f.len(), 9, "{upid}");
    assert_eq!(
        (f[0], f[1], f[5], f[6], f[7], f[8]),
        ("UPID", "pve1", "qmcreate", "102", "root@pam", "")
    );
    assert!(f[2].len() == 8 && f[3].len() == 8 && f[4].len() == 8);
    assert_eq!(u64::from_str_radix(f[4], 16).ok(), Some(1_795_000_000));
    let st = task_status(&mut c, "pve1", &upid);
    assert_eq!(st["status"], "running");
    assert!(st.get("exitstatus").is_none());
    // A running task holds the config lock.
    let r = c
        .request("PUT", "/nodes/pve1/qemu/102/config", &[("memory", "2048")])
        .expect("put");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (
            500,
            "can't lock file '/var/lock/qemu-server/lock-102.conf' - got timeout"
        )
    );
    sim.clock().advance(Duration::from_secs(5));
    let st = task_status(&mut c, "pve1", &upid);
    assert_eq!(
        (st["status"].as_str(), st["exitstatus"].as_str()),
        (Some("stopped"), Some("OK"))
    );
    assert_eq!(st["type"], "qmcreate");
    assert_eq!(st["id"], "102");
    assert_eq!(st["upid"], upid.as_str());
    // Config has allocated disks and a MAC, plus a digest.
    let cfg = c.get("/nodes/pve1/qemu/102/config").data();
    assert_eq!(cfg["scsi0"], "local-lvm:vm-102-disk-0,size=4G");
    assert!(
        cfg["net0"]
            .as_str()
            .is_some_and(|n| n.starts_with("virtio=BC:24:11:") && n.ends_with(",bridge=vmbr0"))
    );
    assert_eq!(cfg["cores"], 2);
    assert_eq!(cfg["memory"], "1024");
    assert_eq!(cfg["digest"].as_str().map(str::len), Some(40));

    let r = c.post("/nodes/pve1/qemu/102/status/start", &[]);
    let upid = r.data().as_str().unwrap_or_default().to_owned();
    assert_eq!(
        c.get("/nodes/pve1/qemu/102/status/current").data()["status"],
        "stopped"
    );
    sim.clock().advance(Duration::from_secs(5));
    assert_eq!(task_status(&mut c, "pve1", &upid)["exitstatus"], "OK");
    let cur = c.get("/nodes/pve1/qemu/102/status/current").data();
    assert_eq!(cur["status"], "running");
    assert_eq!(cur["qmpstatus"], "running");
    assert_eq!(sim.guest_status(102).as_deref(), Some("running"));
    assert_eq!(
        log(&mut c, &upid, "")["data"],
        json!([{"n": 1, "t": "TASK OK"}])
    );
    // Task list: newest first, status = exit status, endtime.
    let list = c.get("/nodes/pve1/tasks").json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["data"][0]["upid"], upid.as_str());
    assert_eq!(list["data"][0]["status"], "OK");
    assert!(list["data"][0]["endtime"].is_u64());
    let filtered = c.get("/nodes/pve1/tasks?typefilter=qmcreate").json();
    assert_eq!(filtered["total"], 1);

    // Stop, then delete.
    let upid = c.post("/nodes/pve1/qemu/102/status/stop", &[]).data();
    sim.clock().advance(Duration::from_secs(5));
    assert_eq!(
        task_status(&mut c, "pve1", upid.as_str().unwrap_or(""))["exitstatus"],
        "OK"
    );
    let r = c
        .request("DELETE", "/nodes/pve1/qemu/102", &[])
        .expect("delete");
    assert_eq!(r.status, 200);
    sim.clock().advance(Duration::from_secs(5));
    let r = c.get("/nodes/pve1/qemu/102/config");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (
            500,
            "Configuration file 'nodes/pve1/qemu-server/102.conf' does not exist"
        )
    );
}

#[test]
fn task_log_paging_while_running_and_after() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    sim.plan_next_task(
        TaskPlan::new(TaskOutcome::Ok)
            .duration(Duration::from_secs(100))
            .extra_log_lines(120),
    );
    let upid = c.post("/nodes/pve1/qemu/101/status/start", &[]).data();
    let upid = upid.as_str().unwrap_or_default().to_owned();
    sim.clock().advance(Duration::from_secs(50));
    let half = log(&mut c, &upid, "?limit=0");
    assert_eq!(half["total"], 60, "half the lines after half the time");
    sim.clock().advance(Duration::from_secs(50));
    let first = log(&mut c, &upid, "");
    assert_eq!(first["total"], 121);
    let lines = first["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 50, "limit defaults to 50");
    assert_eq!(lines[0], json!({"n": 1, "t": "simulated log line 1"}));
    let tail = log(&mut c, &upid, "?start=100&limit=50");
    let lines = tail["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 21);
    assert_eq!(lines[0]["n"], 101);
    assert_eq!(lines[20], json!({"n": 121, "t": "TASK OK"}));
    let all = log(&mut c, &upid, "?limit=0");
    assert_eq!(all["data"].as_array().map(Vec::len), Some(121));
}

#[test]
fn failing_warning_and_stopped_tasks() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    // Simulation-decided failure: VM 100 is already running.
    let upid = c.post("/nodes/pve1/qemu/100/status/start", &[]).data();
    let upid = upid.as_str().unwrap_or_default().to_owned();
    assert_eq!(
        task_status(&mut c, "pve1", &upid)["exitstatus"],
        "VM 100 already running"
    );
    assert_eq!(
        log(&mut c, &upid, "")["data"],
        json!([{"n": 1, "t": "VM 100 already running"}, {"n": 2, "t": "TASK ERROR: VM 100 already running"}])
    );
    // Planned failure: no effect on the VM.
    sim.plan_next_task(TaskPlan::new(TaskOutcome::Error("boom".into())));
    let upid = c.post("/nodes/pve1/qemu/101/status/start", &[]).data();
    let upid = upid.as_str().unwrap_or_default().to_owned();
    assert_eq!(task_status(&mut c, "pve1", &upid)["exitstatus"], "boom");
    let l = log(&mut c, &upid, "");
    assert_eq!(
        l["data"]
            .as_array()
            .and_then(|a| a.last())
            .map(|x| x["t"].clone()),
        Some(json!("TASK ERROR: boom"))
    );
    assert_eq!(sim.guest_status(101).as_deref(), Some("stopped"));
    // Warnings are a success.
    sim.plan_next_task(TaskPlan::new(TaskOutcome::Warnings(2)));
    let upid = c.post("/nodes/pve1/qemu/101/status/start", &[]).data();
    let upid = upid.as_str().unwrap_or_default().to_owned();
    assert_eq!(
        task_status(&mut c, "pve1", &upid)["exitstatus"],
        "WARNINGS: 2"
    );
    assert_eq!(sim.guest_status(101).as_deref(), Some("running"));
    let l = log(&mut c, &upid, "");
    assert_eq!(l["total"], 3);
    assert_eq!(l["data"][2]["t"], "TASK WARNINGS: 2");
    // DELETE stops a running task.
    sim.plan_next_task(TaskPlan::new(TaskOutcome::Ok).duration(Duration::from_secs(60)));
    let upid = c.post("/nodes/pve1/qemu/101/status/shutdown", &[]).data();
    let upid = upid.as_str().unwrap_or_default().to_owned();
    let r = c
        .request("DELETE", &format!("/nodes/pve1/tasks/{upid}"), &[])
        .expect("delete");
    assert_eq!(r.status, 200);
    let st = task_status(&mut c, "pve1", &upid);
    assert_eq!(
        (st["status"].as_str(), st["exitstatus"].as_str()),
        (Some("stopped"), Some("interrupted by signal"))
    );
    assert_eq!(sim.guest_status(101).as_deref(), Some("running"));
    // Unknown task.
    let r =
        c.get("/nodes/pve1/tasks/UPID:pve1:00000001:00000001:00000001:qmstart:1:root@pam:/status");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"]["upid"], "no such task");
}

#[test]
fn config_put_with_digest_and_post_async() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    let cfg = c.get("/nodes/pve1/qemu/100/config").data();
    let digest = cfg["digest"].as_str().unwrap_or_default().to_owned();
    let r = c
        .request(
            "PUT",
            "/nodes/pve1/qemu/100/config",
            &[("memory", "4096"), ("digest", &digest)],
        )
        .expect("put");
    assert_eq!(r.status, 200);
    assert_eq!(r.data(), Value::Null);
    // Old digest no longer matches.
    let r = c
        .request(
            "PUT",
            "/nodes/pve1/qemu/100/config",
            &[("memory", "8192"), ("digest", &digest)],
        )
        .expect("put");
    assert_eq!(r.status, 500);
    assert!(r.reason.starts_with("detected modified configuration"));
    let cfg = c.get("/nodes/pve1/qemu/100/config").data();
    assert_eq!(cfg["memory"], "4096");
    assert_ne!(cfg["digest"].as_str(), Some(digest.as_str()));
    // delete= removes keys; POST returns a qmconfig task.
    let r = c.post(
        "/nodes/pve1/qemu/100/config",
        &[("delete", "net0"), ("description", "hello")],
    );
    let upid = r.data().as_str().unwrap_or_default().to_owned();
    assert!(upid.contains(":qmconfig:100:"), "{upid}");
    let cfg = c.get("/nodes/pve1/qemu/100/config").data();
    assert!(cfg.get("net0").is_none());
    assert_eq!(cfg["description"], "hello");
    // LXC: PUT works, POST is not implemented.
    let r = c
        .request("PUT", "/nodes/pve1/lxc/200/config", &[("memory", "1024")])
        .expect("put");
    assert_eq!(r.status, 200);
    assert_eq!(c.get("/nodes/pve1/lxc/200/config").data()["memory"], 1024);
    let r = c.post("/nodes/pve1/lxc/200/config", &[("memory", "1024")]);
    assert_eq!(r.status, 501);
}

#[test]
fn error_wire_format() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    let r = c.post("/nodes/pve1/qemu", &[("vmid", "abc"), ("memory", "lots")]);
    assert_eq!(
        (r.status, r.reason.as_str()),
        (400, "Parameter verification failed.")
    );
    let j = r.json();
    assert_eq!(j["data"], Value::Null);
    assert_eq!(
        j["errors"]["vmid"],
        "type check ('integer') failed - got 'abc'"
    );
    assert_eq!(
        j["errors"]["memory"],
        "invalid format - format error\nmemory.current: type check ('integer') failed - got 'lots'\n"
    );
    assert_eq!(j["message"], "Parameter verification failed.\n");
    assert_eq!(
        r.header("connection"),
        Some("close"),
        "errors close the connection"
    );
    let r = c.post("/nodes/pve1/qemu", &[("vmid", "150"), ("bogus", "1")]);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["errors"]["bogus"]
            .as_str()
            .is_some_and(|m| m.contains("not defined in schema"))
    );
    let r = c.get("/nodes/pve1/qemu/999/config");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (
            500,
            "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist"
        )
    );
    let r = c.get("/nodes/pve1/lxc/100/config");
    assert_eq!(
        r.reason,
        "Configuration file 'nodes/pve1/lxc/100.conf' does not exist"
    );
    let r = c.get("/no/such/path");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (501, "Method 'GET /api2/json/no/such/path' not implemented")
    );
    let r = c.request("DELETE", "/version", &[]).expect("delete");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (501, "Method 'DELETE /api2/json/version' not implemented")
    );
    let r = c.request("OPTIONS", "/version", &[]).expect("options");
    assert_eq!(r.status, 501);
    let r = c.get("/nodes/pve9/qemu");
    assert_eq!(r.status, 500);
    assert!(r.reason.starts_with("hostname lookup 'pve9' failed"));
    sim.set_node_offline("pve1", true);
    let r = c.get("/nodes/pve1/qemu");
    assert_eq!((r.status, r.reason.as_str()), (595, "No route to host"));
    sim.set_node_offline("pve1", false);
    let r = c
        .request("DELETE", "/nodes/pve1/qemu/100", &[])
        .expect("delete");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (500, "VM 100 is running - destroy failed")
    );
    let r = c.post("/nodes/pve1/qemu", &[("vmid", "100")]);
    assert_eq!(
        r.reason,
        "unable to create VM 100 - VM 100 already exists on node 'pve1'"
    );
    // Unauthenticated unknown path: 401 first, like pveproxy.
    let mut anon = Client::new(&sim);
    assert_eq!(anon.get("/no/such/path").status, 401);
    // extjs: always 200, status in the body.
    let r = c.get("/api2/extjs/nodes/pve1/qemu/999/config");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["success"], 0);
    assert_eq!(r.json()["status"], 500);
}

#[test]
fn old_servers_without_message_in_body() {
    let mut cfg = Config::new(Service::Pve);
    cfg.plain_http = true;
    cfg.error_message_in_body = false;
    let sim = Simulator::start(cfg).expect("start");
    let mut c = root_client(&sim);
    let r = c.get("/nodes/pve1/qemu/999/config");
    assert_eq!(r.json(), json!({"data": null}));
    assert!(r.reason.contains("does not exist"));
}

#[test]
fn cluster_resources_with_generated_guests() {
    let mut cfg = Config::new(Service::Pve);
    cfg.plain_http = true;
    cfg.generated_guests = 5000;
    let sim = Simulator::start(cfg).expect("start");
    let mut c = root_client(&sim);
    let all = c.get("/cluster/resources").data();
    let all = all.as_array().cloned().unwrap_or_default();
    assert_eq!(all.len(), 1 + 5003 + 2);
    let vms = c.get("/cluster/resources?type=vm").data();
    let vms = vms.as_array().cloned().unwrap_or_default();
    assert_eq!(vms.len(), 5003);
    let v = vms
        .iter()
        .find(|v| v["vmid"] == 100)
        .cloned()
        .unwrap_or_default();
    assert_eq!(v["id"], "qemu/100");
    assert_eq!(v["type"], "qemu");
    assert_eq!(v["node"], "pve1");
    assert_eq!(v["status"], "running");
    assert!(vms.iter().any(|v| v["type"] == "lxc"));
    let r = c.get("/cluster/resources?type=bogus");
    assert_eq!(r.status, 400);
    assert_eq!(c.get("/cluster/nextid?vmid=100").status, 400);
    assert_eq!(c.get("/cluster/nextid?vmid=555").data(), json!("555"));
}

#[test]
fn lxc_create_start_destroy() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    let r = c.post(
        "/nodes/pve1/lxc",
        &[
            ("vmid", "300"),
            ("hostname", "ct300"),
            ("ostemplate", "local:vztmpl/debian-12.tar.zst"),
            ("rootfs", "local-lvm:8"),
            ("memory", "512"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.reason);
    assert!(
        r.data()
            .as_str()
            .is_some_and(|u| u.contains(":vzcreate:300:"))
    );
    let cfg = c.get("/nodes/pve1/lxc/300/config").data();
    assert_eq!(cfg["rootfs"], "local-lvm:vm-300-disk-0,size=8G");
    assert_eq!(cfg["hostname"], "ct300");
    assert!(cfg.get("ostemplate").is_none());
    let r = c.post("/nodes/pve1/lxc/300/status/start", &[]);
    assert!(
        r.data()
            .as_str()
            .is_some_and(|u| u.contains(":vzstart:300:"))
    );
    assert_eq!(
        c.get("/nodes/pve1/lxc/300/status/current").data()["status"],
        "running"
    );
    let list = c.get("/nodes/pve1/lxc").data();
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().any(|g| g["vmid"] == 300 && g["type"] == "lxc"))
    );
}

fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, filename, data) in parts {
        b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => b.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => b.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    b
}

fn upload_req(c: &Client, body: &[u8], length: bool, chunked: bool) -> Vec<u8> {
    let mut h = format!(
        "POST /api2/json/nodes/pve1/storage/local/upload HTTP/1.1\r\nHost: x\r\nCookie: PVEAuthCookie={}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n",
        c.ticket.clone().unwrap_or_default()
    );
    if length {
        h.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if chunked {
        h.push_str("Transfer-Encoding: chunked\r\n");
    }
    h.push_str("\r\n");
    let mut out = h.into_bytes();
    if chunked {
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n0\r\n\r\n");
    } else if length {
        out.extend_from_slice(body);
    }
    out
}

#[test]
fn upload_rules_and_checksum() {
    use sha2::Digest;
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    // 300 KiB of data containing boundary-like bytes.
    let data: Vec<u8> = (0..300 * 1024u32)
        .map(|i| if i % 1000 == 0 { b'-' } else { (i % 251) as u8 })
        .collect();
    let sha = common_hex(&sha2::Sha256::digest(&data));
    let good = multipart(
        "XyZ",
        &[
            ("content", None, b"iso"),
            ("checksum-algorithm", None, b"sha256"),
            ("checksum", None, sha.as_bytes()),
            ("filename", Some("small.iso"), &data),
        ],
    );
    // Missing Content-Length.
    let r = c.raw(&upload_req(&c, &good, false, false)).expect("raw");
    assert_eq!((r.status, r.reason.as_str()), (400, "bad upload request"));
    c.drop_connection();
    // Chunked.
    let r = c.raw(&upload_req(&c, &good, false, true)).expect("raw");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (501, "chunked transfer encoding not supported")
    );
    c.drop_connection();
    // Wrong order: file first.
    let wrong = multipart(
        "XyZ",
        &[
            ("filename", Some("small.iso"), &data),
            ("content", None, b"iso"),
        ],
    );
    let r = c.raw(&upload_req(&c, &wrong, true, false)).expect("raw");
    assert_eq!(r.status, 400);
    assert!(r.reason.contains("wrong field order"), "{}", r.reason);
    c.drop_connection();
    // Wrong order: checksum before content.
    let wrong = multipart(
        "XyZ",
        &[
            ("checksum", None, b"00"),
            ("content", None, b"iso"),
            ("filename", Some("a.iso"), b"x"),
        ],
    );
    let r = c.raw(&upload_req(&c, &wrong, true, false)).expect("raw");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (400, "wrong field name 'content', expected 'filename'")
    );
    c.drop_connection();
    assert!(sim.uploads().is_empty());
    // Correct upload (no CSRF header needed).
    let r = c.raw(&upload_req(&c, &good, true, false)).expect("raw");
    assert_eq!(r.status, 200, "{}", r.reason);
    assert_eq!(r.header("connection"), Some("close"));
    c.drop_connection();
    let upid = r.data().as_str().unwrap_or_default().to_owned();
    assert!(upid.contains(":imgcopy::root@pam:"), "{upid}");
    let up = sim.uploads();
    assert_eq!(up.len(), 1);
    assert_eq!(
        (up[0].size, up[0].sha256.as_str(), up[0].filename.as_str()),
        (data.len() as u64, sha.as_str(), "small.iso")
    );
    assert_eq!(task_status(&mut c, "pve1", &upid)["exitstatus"], "OK");
    let content = c
        .get("/nodes/pve1/storage/local/content?content=iso")
        .data();
    assert_eq!(content[0]["volid"], "local:iso/small.iso");
    assert_eq!(content[0]["size"], data.len());
    // Wrong checksum: accepted, the task fails.
    let bad = multipart(
        "XyZ",
        &[
            ("content", None, b"iso"),
            ("checksum-algorithm", None, b"md5"),
            ("checksum", None, b"00000000000000000000000000000000"),
            ("filename", Some("b.iso"), b"hello"),
        ],
    );
    let r = c.raw(&upload_req(&c, &bad, true, false)).expect("raw");
    c.drop_connection();
    let upid = r.data().as_str().unwrap_or_default().to_owned();
    let st = task_status(&mut c, "pve1", &upid);
    assert_eq!(
        st["exitstatus"],
        "checksum mismatch: got '5d41402abc4b2a76b9719d911017c592' != expect '00000000000000000000000000000000'"
    );
    // Extension check.
    let bad = multipart(
        "XyZ",
        &[("content", None, b"iso"), ("filename", Some("x.exe"), b"x")],
    );
    let r = c.raw(&upload_req(&c, &bad, true, false)).expect("raw");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"]["filename"], "wrong file extension");
}

fn common_hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn download_url_is_recorded() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    let r = c.post(
        "/nodes/pve1/storage/local/download-url",
        &[
            ("content", "iso"),
            ("filename", "debian.iso"),
            ("url", "https://example.invalid/debian.iso"),
            ("checksum", "abcd"),
            ("checksum-algorithm", "sha256"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.reason);
    let upid = r.data().as_str().unwrap_or_default().to_owned();
    assert!(upid.contains(":download:local:root@pam:"), "{upid}");
    let d = sim.downloads();
    assert_eq!(d.len(), 1);
    assert!(
        d[0].params
            .contains(&("url".into(), "https://example.invalid/debian.iso".into()))
    );
    assert!(d[0].params.contains(&("checksum".into(), "abcd".into())));
    let l = log(&mut c, &upid, "");
    assert_eq!(
        l["data"][0]["t"],
        "downloading https://example.invalid/debian.iso to debian.iso"
    );
    let content = c.get("/nodes/pve1/storage/local/content").data();
    assert_eq!(content[0]["volid"], "local:iso/debian.iso");
    let r = c.post(
        "/nodes/pve1/storage/local/download-url",
        &[("content", "iso"), ("filename", "x.iso")],
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["errors"]["url"].is_string());
    let r = c.post(
        "/nodes/pve1/storage/nope/download-url",
        &[("content", "iso"), ("filename", "x.iso"), ("url", "u")],
    );
    assert_eq!(
        (r.status, r.reason.as_str()),
        (500, "storage 'nope' does not exist")
    );
    let storages = c.get("/nodes/pve1/storage").data();
    assert_eq!(storages.as_array().map(Vec::len), Some(2));
}

#[test]
fn pbs_task_flow_with_ten_field_upids() {
    let sim = plain(Service::Pbs);
    let mut c = Client::new(&sim);
    c.authorization = sim.token_header();
    let stores = c.get("/admin/datastore").data();
    assert_eq!(stores[0]["store"], "store1");
    sim.plan_next_task(TaskPlan::new(TaskOutcome::Ok).duration(Duration::from_secs(3)));
    let upid = c.post("/admin/datastore/store1/gc", &[]).data();
    let upid = upid.as_str().unwrap_or_default().to_owned();
    let f: Vec<&str> = upid.split(':').collect();
    assert_eq!(f.len(), 10, "{upid}");
    assert_eq!(
        (f[1], f[6], f[7], f[8]),
        ("pbs1", "garbage_collection", "store1", "root@pam!ci")
    );
    let st = task_status(&mut c, "localhost", &upid);
    assert_eq!(st["status"], "running");
    sim.clock().advance(Duration::from_secs(3));
    let st = task_status(&mut c, "localhost", &upid);
    assert_eq!(st["exitstatus"], "OK");
    assert_eq!(st["user"], "root@pam");
    assert_eq!(st["tokenid"], "root@pam!ci");
    let l = c.get(&format!("/nodes/localhost/tasks/{upid}/log")).json();
    assert_eq!(l["total"], 4);
    assert_eq!(l["data"][3]["t"], "TASK OK");
    let list = c.get("/nodes/localhost/tasks").data();
    assert_eq!(list[0]["worker_type"], "garbage_collection");
    // PBS errors: canonical reason phrase, message as the raw body, connection kept.
    let r = c.get("/admin/datastore/nope/status");
    assert_eq!((r.status, r.reason.as_str()), (400, "Bad Request"));
    assert_eq!(r.body, b"unable to find datastore 'nope'");
    assert!(c.has_connection());
    let r = c.get("/admin/nothing");
    assert_eq!((r.status, r.reason.as_str()), (404, "Not Found"));
    assert_eq!(r.body, b"Path '/api2/json/admin/nothing' not found.");
    let r = c.get("/nodes/localhost/tasks?limit=x");
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).starts_with("parameter verification errors"));
    let mut anon = Client::new(&sim);
    assert_eq!(anon.get("/version").reason, "Unauthorized");
}

#[test]
fn pmg_reads_and_task_flow() {
    let sim = plain(Service::Pmg);
    let mut c = root_client(&sim);
    assert_eq!(c.get("/version").data()["release"], "9.0");
    assert_eq!(c.get("/config/mail").status, 200);
    let upid = c.post("/nodes/pmg1/services/postfix/restart", &[]).data();
    let upid = upid.as_str().unwrap_or_default().to_owned();
    assert_eq!(upid.split(':').count(), 9, "{upid}");
    assert!(upid.starts_with("UPID:pmg1:") && upid.ends_with(":srvrestart:postfix:root@pam:"));
    assert_eq!(task_status(&mut c, "pmg1", &upid)["exitstatus"], "OK");
    assert_eq!(c.get("/nodes/pve1/status").status, 500);
}

/// The task list with PVE's defaults (pve-manager `PVE/API2/Tasks.pm` `node_tasks`): the
/// archive alone unless `source` says otherwise, 50 entries, `limit=0` lists nothing,
/// `total` counts all that match, `since` by start time; a user without Sys.Audit sees
/// only their own tasks. PBS lists running tasks by default and knows no `source`.
#[test]
fn task_lists_mirror_the_servers_defaults() {
    let sim = plain(Service::Pve);
    let mut c = root_client(&sim);
    // 60 finished tasks, then 3 running ones.
    sim.set_task_duration(Duration::from_secs(0));
    for i in 0..60 {
        let vmid = (300 + i).to_string();
        assert_eq!(
            c.post("/nodes/pve1/qemu", &[("vmid", vmid.as_str())])
                .status,
            200
        );
    }
    sim.clock().advance(Duration::from_secs(1));
    sim.set_task_duration(Duration::from_secs(100));
    let mut running = Vec::new();
    for vmid in ["201", "202", "203"] {
        running.push(c.post("/nodes/pve1/qemu", &[("vmid", vmid)]).data());
    }
    let archive = c.get("/nodes/pve1/tasks").json();
    assert_eq!(archive["data"].as_array().map(Vec::len), Some(50));
    assert_eq!(archive["total"], 60);
    assert!(
        archive["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "OK" && t["endtime"].is_u64())
    );
    let all = c.get("/nodes/pve1/tasks?source=all&limit=5").json();
    assert_eq!(all["total"], 63);
    assert_eq!(all["data"][0]["status"], "RUNNING");
    assert!(all["data"][0].get("endtime").is_none());
    assert!(running.contains(&all["data"][0]["upid"]));
    let active = c.get("/nodes/pve1/tasks?source=active").json();
    assert_eq!(active["total"], 3);
    let none = c.get("/nodes/pve1/tasks?source=all&limit=0").json();
    assert_eq!(
        (
            none["data"].as_array().map(Vec::len),
            none["total"].as_u64()
        ),
        (Some(0), Some(63))
    );
    let page = c
        .get("/nodes/pve1/tasks?source=all&start=60&limit=50")
        .json();
    assert_eq!(page["data"].as_array().map(Vec::len), Some(3));
    let now = c
        .get("/nodes/pve1/tasks?source=all&since=1795000001")
        .json();
    assert_eq!(now["total"], 3, "since counts from the start time");
    assert_eq!(c.get("/nodes/pve1/tasks?source=some").status, 400);
    // Someone without Sys.Audit sees their own tasks only.
    let mut alice = common::Client::new(&sim);
    assert_eq!(alice.login("alice@pve", "alicepw").status, 200);
    let theirs = alice.get("/nodes/pve1/tasks?source=all").json();
    assert_eq!(theirs["total"], 0);

    let pbs = plain(Service::Pbs);
    let mut c = root_client(&pbs);
    assert_eq!(c.get("/nodes/localhost/tasks?source=all").status, 400);
}
