//! The client against the simulator, under node and in headless Chromium.
//!
//! Run by `wasm-adapter/scripts/test.sh`: under node the simulator's URL comes from
//! `process.env.PROXMOX_WASM_SIM_URL` (HTTPS, trusted through `NODE_EXTRA_CA_CERTS`); in the
//! browser the test page is served by the simulator itself, so the API is on the page's own
//! origin and the client uses relative URLs. The simulator runs with its hostile routes on
//! (`--hostile`) for the tests in `web/hostile.rs`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Promise, Reflect};
use proxmox_proto::ErrorClass;
use proxmox_proto::auth::SecondFactor;
use proxmox_proto::checksum::ChecksumAlgorithm;
use proxmox_proto::task::{TaskOutcome, WaitOptions};
use proxmox_proto::upload::UploadContent;
use proxmox_proto::{Service, Upid};
use proxmox_wasm::js::ProxmoxClient;
use proxmox_wasm::{Client, Error, LoginState, UploadChecksum};
use serde_json::{Value, json};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

#[path = "web/console.rs"]
mod console;
#[path = "web/hostile.rs"]
mod hostile;

const TOKEN_ID: &str = "root@pam!ci";
const TOKEN_SECRET: &str = "11111111-2222-3333-4444-555555555555";

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `""` (the page's own origin) in a browser, the simulator's URL under node.
fn origin() -> String {
    let g: JsValue = js_sys::global().into();
    if get(&g, "document").is_object() {
        return String::new();
    }
    get(&get(&get(&g, "process"), "env"), "PROXMOX_WASM_SIM_URL")
        .as_string()
        .expect("PROXMOX_WASM_SIM_URL is not set: run wasm-adapter/scripts/test.sh")
}

fn token_client() -> Client {
    Client::builder(&origin())
        .api_token(TOKEN_ID, TOKEN_SECRET)
        .build()
        .unwrap()
}

fn quick() -> WaitOptions {
    WaitOptions::default()
        .with_intervals(Duration::from_millis(50), Duration::from_millis(200))
        .with_timeout(Duration::from_secs(30))
}

async fn js(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

fn json_of(v: &JsValue) -> Value {
    serde_json::from_str(&js_sys::JSON::stringify(v).unwrap().as_string().unwrap()).unwrap()
}

#[wasm_bindgen_test]
async fn token_login_lists_nodes_and_guests() {
    let c = token_client();
    let nodes: Vec<Value> = c.get("nodes").await.unwrap();
    assert!(nodes.iter().any(|n| n["node"] == "pve1"), "{nodes:?}");
    let guests: Vec<Value> = c
        .get_with("cluster/resources", &json!({"type": "vm"}))
        .await
        .unwrap();
    assert!(
        guests
            .iter()
            .all(|g| g["type"] == "qemu" || g["type"] == "lxc")
    );
    assert!(
        guests
            .iter()
            .any(|g| g["vmid"] == 100 && g["name"] == "web1")
    );
    assert!(
        guests
            .iter()
            .any(|g| g["vmid"] == 200 && g["type"] == "lxc")
    );
    assert!(c.session().is_none(), "a token client has no session");
}

#[wasm_bindgen_test]
async fn password_login_with_tfa_challenge_then_ticket_calls() {
    let c = Client::builder(&origin())
        .password("tfa@pve", "tfapass")
        .build()
        .unwrap();
    let LoginState::SecondFactor(ch) = c.login().await.unwrap() else {
        panic!("tfa@pve must get a TFA challenge")
    };
    assert!(ch.offers_totp());
    assert_eq!(ch.recovery_keys_left().len(), 3);
    assert!(c.session().is_none(), "a half ticket is not a session");
    c.complete_login(&ch, SecondFactor::totp("123456"))
        .await
        .unwrap();
    assert_eq!(c.session().unwrap().username(), "tfa@pve");
    // The ticket travels in `Authorization: PVEAuthCookie=...`; a write needs the CSRF token.
    let v: Value = c.get("version").await.unwrap();
    assert!(v["version"].is_string());
    let upid: String = c
        .post(
            ("nodes", "pve1", "qemu", 100, "status", "reboot"),
            &json!({}),
        )
        .await
        .unwrap();
    let out = c
        .wait_task(&upid.parse::<Upid>().unwrap(), quick(), |_| {})
        .await
        .unwrap();
    assert!(out.is_success(), "{out:?}");
}

async fn sleep_ms(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function =
            get(&js_sys::global().into(), "setTimeout").unchecked_into();
        set_timeout
            .call2(&JsValue::UNDEFINED, &resolve, &JsValue::from(ms))
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

#[wasm_bindgen_test]
async fn ticket_renewal_in_the_last_hour_and_relogin_after_expiry() {
    // The client's clock runs ahead of the server's by `offset`.
    let offset = Rc::new(Cell::new(Duration::ZERO));
    let o = Rc::clone(&offset);
    let c = Client::builder(&origin())
        .password("root@pam", "secret")
        .clock(Rc::new(move || {
            Duration::from_millis(js_sys::Date::now() as u64) + o.get()
        }))
        .build()
        .unwrap();
    assert!(matches!(c.login().await.unwrap(), LoginState::LoggedIn));
    let first = c.session().unwrap().ticket().issued();
    // Tickets carry whole seconds: let one pass so that a new ticket is visibly newer.
    sleep_ms(1100).await;
    // In the ticket's last hour: the next call renews it first (ticket as password).
    offset.set(Duration::from_secs(3700));
    let _: Value = c.get("version").await.unwrap();
    let renewed = c.session().unwrap().ticket().issued();
    assert!(
        renewed > first,
        "the ticket was renewed: {first:?} -> {renewed:?}"
    );
    // Past its lifetime: a fresh login with the stored password, then the call.
    sleep_ms(1100).await;
    offset.set(Duration::from_secs(7300));
    let _: Value = c.get("version").await.unwrap();
    assert!(c.session().unwrap().ticket().issued() > renewed);
}

#[wasm_bindgen_test]
async fn wrong_second_factor_is_rejected_and_prepared_one_logs_in_lazily() {
    let c = Client::builder(&origin())
        .password("tfa@pve", "tfapass")
        .build()
        .unwrap();
    let LoginState::SecondFactor(ch) = c.login().await.unwrap() else {
        panic!("expected a challenge")
    };
    let e = c
        .complete_login(&ch, SecondFactor::totp("000000"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Proto(proxmox_proto::Error::Auth(_))),
        "{e:?}"
    );
    // A prepared factor: the first call logs in by itself.
    let c = Client::builder(&origin())
        .password("tfa@pve", "tfapass")
        .second_factor(SecondFactor::totp("123456"))
        .build()
        .unwrap();
    let nodes: Vec<Value> = c.get("nodes").await.unwrap();
    assert!(!nodes.is_empty());
    assert_eq!(c.session().unwrap().username(), "tfa@pve");
    // No factor at all: a lazy login says so instead of hanging.
    let c = Client::builder(&origin())
        .password("tfa@pve", "tfapass")
        .build()
        .unwrap();
    let e = c.get::<Value>("nodes").await.unwrap_err();
    assert!(e.to_string().contains("second factor"), "{e}");
}

#[wasm_bindgen_test]
async fn create_start_wait_and_read_the_log() {
    let c = Client::builder(&origin())
        .password("root@pam", "secret")
        .build()
        .unwrap();
    let vmid = if origin().is_empty() { 9101 } else { 9001 };
    let upid: String = c
        .post(
            ("nodes", "pve1", "qemu"),
            &json!({"vmid": vmid, "name": "wasm-test", "memory": 512, "start": false}),
        )
        .await
        .unwrap();
    let upid: Upid = upid.parse().unwrap();
    assert_eq!(upid.task_type(), "qmcreate");
    let out = c.wait_task(&upid, quick(), |_| {}).await.unwrap();
    assert_eq!(out, TaskOutcome::Ok);

    let upid: String = c
        .post(
            ("nodes", "pve1", "qemu", vmid, "status", "start"),
            &json!({}),
        )
        .await
        .unwrap();
    let upid: Upid = upid.parse().unwrap();
    let mut seen = Vec::new();
    let out = c
        .wait_task(&upid, quick(), |s| seen.push(s.is_running()))
        .await
        .unwrap();
    assert_eq!(out, TaskOutcome::Ok);
    assert_eq!(seen.last(), Some(&false), "the last status is stopped");
    let log = c.task_log(&upid).await.unwrap();
    assert!(!log.is_empty());
    assert_eq!(log.last().unwrap().t, "TASK OK");
    let status: Value = c
        .get(("nodes", "pve1", "qemu", vmid, "status", "current"))
        .await
        .unwrap();
    assert_eq!(status["status"], "running");
}

/// The methods of the common surface that the other tests do not call, each against the
/// simulator: `create`, `set`, `get_with`, `call_with`, `request`, `wait_tasks`,
/// `follow_task_log`, `cancel_task`, `download_url`, `discover_checksum`, `agent_exec`,
/// `agent_exec_argv`, `wait_task_ok`, `task_log_window`.
#[wasm_bindgen_test]
async fn the_common_surface() {
    use proxmox_proto::checksum::{Checksum, ChecksumAlgorithm as Alg};
    use proxmox_proto::upload::DownloadChecksum;
    use proxmox_wasm::CallOptions;
    let c = token_client();
    let vmid = if origin().is_empty() { 9102 } else { 9002 };
    let create: String = c
        .create(
            ("nodes", "pve1", "qemu"),
            &json!({"vmid": vmid, "name": "surface", "memory": 512}),
        )
        .await
        .unwrap();
    let start: String = c
        .request(
            proxmox_proto::Method::Post,
            ("nodes", "pve1", "qemu", vmid, "status", "start"),
            proxmox_proto::Params::new(),
        )
        .await
        .unwrap();
    let upids: Vec<Upid> = [create, start].iter().map(|u| u.parse().unwrap()).collect();
    let outcomes = c.wait_tasks(&upids, quick()).await.unwrap();
    assert_eq!(outcomes, [TaskOutcome::Ok, TaskOutcome::Ok]);
    assert_eq!(c.wait_task_ok(&upids[0], quick()).await.unwrap(), 0);
    let first = c.task_log_window(&upids[1], 0, 1).await.unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    let mut lines = Vec::new();
    let followed = c
        .follow_task_log(&upids[1], quick(), |new| {
            lines.extend(new.iter().map(|l| l.t.clone()))
        })
        .await
        .unwrap();
    assert_eq!(followed, TaskOutcome::Ok);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("TASK OK"),
        "{lines:?}"
    );
    // Cancelling a task that has ended is accepted by the simulator, as by PVE.
    c.cancel_task(&upids[1]).await.unwrap();
    let _: Value = c
        .set(
            ("nodes", "pve1", "qemu", vmid, "config"),
            &json!({"description": "set through the surface"}),
        )
        .await
        .unwrap();
    let config: Value = c
        .get_with(("nodes", "pve1", "qemu", vmid, "config"), &json!({}))
        .await
        .unwrap();
    assert_eq!(config["description"], "set through the surface");
    let version: Value = c
        .call_with(
            &proxmox_proto::Call::get("version").unwrap(),
            &CallOptions::default().timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert!(version["version"].is_string(), "{version}");
    let sha = "c".repeat(64);
    let upid = c
        .download_url(
            "pve1",
            "local",
            UploadContent::Iso,
            "https://example.invalid/surface.iso",
            &format!("surface-{vmid}.iso"),
            DownloadChecksum::Given(Checksum::new(Alg::Sha256, &sha).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        c.wait_task(&upid, quick(), |_| {}).await.unwrap(),
        TaskOutcome::Ok
    );
    // No checksum file next to this URL: nothing found (each candidate fetched, none there).
    let page = if origin().is_empty() {
        get(&get(&js_sys::global().into(), "location"), "origin")
            .as_string()
            .unwrap()
    } else {
        origin()
    };
    let found = c
        .discover_checksum(&format!("{page}/dashboard/none.iso"), None)
        .await
        .unwrap();
    assert_eq!(found, None);
    // VM 100 has the guest agent; the new VM has none configured, which is an API error.
    let pid = c.agent_exec("pve1", 100, "uname -a").await.unwrap();
    assert!(pid["pid"].is_u64(), "{pid}");
    let pid = c.agent_exec_argv("pve1", 100, &["ls", "/"]).await.unwrap();
    assert!(pid["pid"].is_u64(), "{pid}");
    let e = c.agent_exec("pve1", vmid, "uname -a").await.unwrap_err();
    assert!(
        e.api()
            .is_some_and(|a| a.summary().contains("No QEMU guest agent configured")),
        "{e}"
    );
    // A task that failed stops at `?` through wait_task_ok: starting VM 100 (running) again.
    let again: String = c
        .post(
            ("nodes", "pve1", "qemu", 100, "status", "start"),
            &json!({}),
        )
        .await
        .unwrap();
    let e = c
        .wait_task_ok(&again.parse().unwrap(), quick())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "task qmstart 100 on pve1 failed: VM 100 already running"
    );
}

#[wasm_bindgen_test]
async fn errors_400_with_parameter_map_501_and_403() {
    let c = token_client();
    // 400: the per-parameter messages survive, and the reason phrase (statusText) too.
    let e = c
        .post::<Value, _>(("nodes", "pve1", "qemu"), &json!({"vmid": "abc"}))
        .await
        .unwrap_err();
    let api = e.api().expect("an API error");
    assert_eq!(api.status, 400);
    assert_eq!(api.class, ErrorClass::BadRequest);
    assert!(api.param_errors["vmid"].contains("type check"), "{api:?}");
    assert!(
        api.reason.contains("Parameter verification failed"),
        "{api:?}"
    );
    assert!(e.may_have_been_sent());
    // 501: unknown endpoint.
    let e = c
        .get::<Value>(("nodes", "pve1", "no-such-thing"))
        .await
        .unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.status, 501);
    assert_eq!(api.class, ErrorClass::NotFound);
    // 403: a user without rights on VM 101.
    let alice = Client::builder(&origin())
        .password("alice@pve", "alicepw")
        .build()
        .unwrap();
    let e = alice
        .get::<Value>(("nodes", "pve1", "qemu", 101, "config"))
        .await
        .unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.status, 403);
    assert_eq!(api.class, ErrorClass::Forbidden);
    assert!(api.reason.contains("Permission check failed"));
    // A wrong password: 401, not retried forever.
    let bad = Client::builder(&origin())
        .password("root@pam", "wrong")
        .build()
        .unwrap();
    let e = bad.get::<Value>("nodes").await.unwrap_err();
    assert_eq!(e.api().map(|a| a.status), Some(401), "{e:?}");
}

#[wasm_bindgen_test]
async fn unreachable_server_is_a_transport_error() {
    let c = Client::builder("http://127.0.0.1:9")
        .api_token(TOKEN_ID, TOKEN_SECRET)
        .build()
        .unwrap();
    let e = c.get::<Value>("nodes").await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
}

#[wasm_bindgen_test]
async fn upload_a_blob_with_a_computed_checksum() {
    let c = token_client();
    let parts = js_sys::Array::new();
    parts.push(&JsValue::from_str(
        "not really an iso\n--boundary-lookalike\r\n",
    ));
    let blob = web_sys::Blob::new_with_str_sequence(&parts).unwrap();
    let name = if origin().is_empty() {
        "wasm-browser.iso"
    } else {
        "wasm-node.iso"
    };
    let upid = c
        .upload(
            "pve1",
            "local",
            UploadContent::Iso,
            &blob,
            name,
            UploadChecksum::Compute(ChecksumAlgorithm::Sha256),
        )
        .await
        .unwrap();
    let out = c.wait_task(&upid, quick(), |_| {}).await.unwrap();
    assert!(out.is_success(), "{out:?}");
    let content: Vec<Value> = c
        .get_with(
            ("nodes", "pve1", "storage", "local", "content"),
            &json!({"content": "iso"}),
        )
        .await
        .unwrap();
    assert!(
        content
            .iter()
            .any(|v| v["volid"] == format!("local:iso/{name}") && v["size"] == blob.size() as u64),
        "{content:?}"
    );
}

#[wasm_bindgen_test]
async fn browser_limits_are_clear_errors() {
    let e = Client::builder(&origin())
        .api_token(TOKEN_ID, TOKEN_SECRET)
        .fingerprint("AB:CD")
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)));
    let e = Client::builder(&origin())
        .service(Service::Pmg)
        .api_token("root@pam!ci", "x")
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Proto(_)), "PMG has no API tokens: {e:?}");
}

// ---- The JavaScript API, called the way JavaScript calls it. ----

fn options(v: Value) -> JsValue {
    let mut v = v;
    if let Some(o) = v.as_object_mut()
        && !origin().is_empty()
    {
        o.insert("baseUrl".into(), json!(origin()));
    }
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

fn js_val(v: Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

#[wasm_bindgen_test]
async fn js_api_token_list_start_and_wait() {
    let c = ProxmoxClient::new(options(
        json!({"tokenId": TOKEN_ID, "tokenSecret": TOKEN_SECRET}),
    ))
    .unwrap();
    let guests = js(c.get(
        js_val(json!("cluster/resources")),
        Some(js_val(json!({"type": "vm"})).unchecked_into()),
    ))
    .await
    .unwrap();
    assert!(js_sys::Array::is_array(&guests));
    let guests = json_of(&guests);
    assert!(guests.as_array().unwrap().iter().any(|g| g["vmid"] == 101));
    // Segments in an array; a number is a segment too.
    let upid = js(c.post(
        js_val(json!(["nodes", "pve1", "lxc", 200, "status", "stop"])),
        None,
    ))
    .await
    .unwrap();
    let upid = upid.as_string().unwrap();
    let progress = js_sys::Array::new();
    let p2 = progress.clone();
    let cb = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |s: JsValue| {
        p2.push(&s);
    });
    let opts = js_sys::Object::new();
    Reflect::set(&opts, &"intervalMs".into(), &JsValue::from(50)).unwrap();
    Reflect::set(&opts, &"onProgress".into(), cb.as_ref()).unwrap();
    let res = json_of(
        &js(c.wait_task(upid.clone(), Some(opts.unchecked_into())))
            .await
            .unwrap(),
    );
    assert_eq!(res, json!({"outcome": "ok", "success": true}));
    assert!(progress.length() >= 1);
    assert_eq!(
        json_of(&progress.get(progress.length() - 1))["status"],
        "stopped"
    );
    let log = json_of(&js(c.task_log(upid)).await.unwrap());
    assert_eq!(log.as_array().unwrap().last().unwrap()["t"], "TASK OK");
    // The whole envelope and the raw answer.
    let env = json_of(
        &js(c.call("GET".into(), js_val(json!("nodes")), None))
            .await
            .unwrap(),
    );
    assert!(env["data"].is_array());
    let raw = json_of(
        &js(c.raw("GET".into(), js_val(json!("nodes/pve1/nope")), None))
            .await
            .unwrap(),
    );
    assert_eq!(raw["status"], 501);
    assert!(
        raw["statusText"]
            .as_str()
            .unwrap()
            .contains("not implemented"),
        "{raw}"
    );
}

#[wasm_bindgen_test]
async fn js_api_tfa_login_and_errors() {
    let c = ProxmoxClient::new(options(
        json!({"username": "tfa@pve", "password": "tfapass"}),
    ))
    .unwrap();
    let r = json_of(&js(c.login()).await.unwrap());
    assert_eq!(r["status"], "tfa");
    assert_eq!(r["offered"]["totp"], true);
    let r = json_of(
        &js(c.second_factor("totp".into(), "123456".into()))
            .await
            .unwrap(),
    );
    assert_eq!(r, json!({"status": "ok", "username": "tfa@pve"}));
    assert_eq!(c.username().as_deref(), Some("tfa@pve"));

    // A 400 rejects with an Error carrying status, statusText and the per-parameter errors.
    let e = js(c.post(
        js_val(json!(["nodes", "pve1", "qemu"])),
        Some(js_val(json!({"vmid": "abc", "memory": "lots"})).unchecked_into()),
    ))
    .await
    .unwrap_err();
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&e, "name"), "ProxmoxError");
    assert_eq!(get(&e, "kind"), "api");
    assert_eq!(get(&e, "status"), 400);
    assert!(
        get(&e, "statusText")
            .as_string()
            .unwrap()
            .contains("Parameter verification failed")
    );
    let errors = json_of(&get(&e, "errors"));
    assert!(
        errors["vmid"].as_str().unwrap().contains("type check"),
        "{errors}"
    );
    assert!(errors["memory"].is_string(), "{errors}");
    assert_eq!(get(&e, "mayHaveBeenSent"), true);
    // 403 for alice.
    let alice = ProxmoxClient::new(options(
        json!({"username": "alice@pve", "password": "alicepw"}),
    ))
    .unwrap();
    let e = js(alice.get(js_val(json!("nodes/pve1/qemu/101/config")), None))
        .await
        .unwrap_err();
    assert_eq!(get(&e, "status"), 403);
    assert_eq!(get(&e, "class"), "Forbidden");
    // 501.
    let e = js(c.get(js_val(json!("nodes/pve1/bogus")), None))
        .await
        .unwrap_err();
    assert_eq!(get(&e, "status"), 501);
    // What a browser cannot do throws at construction, and says so.
    let e = ProxmoxClient::new(options(
        json!({"tokenId": TOKEN_ID, "tokenSecret": "x", "fingerprint": "AB:CD"}),
    ))
    .err()
    .unwrap();
    assert_eq!(get(&e, "kind"), "unsupported");
    let msg = e
        .dyn_ref::<js_sys::Error>()
        .unwrap()
        .message()
        .as_string()
        .unwrap();
    assert!(msg.contains("is not possible with proxmox-wasm"), "{msg}");
    assert!(!msg.contains('x') || !msg.contains("tokenSecret"));
}

/// The change feed over the browser client: a guest created while the watch runs comes as
/// `Added`, its start as `GuestStatus` stopped → running (other tests' guests may change
/// too: only this guest's changes are looked at).
#[wasm_bindgen_test]
async fn the_change_feed_sees_a_guest_created_and_started() {
    use proxmox_proto::models::ResourceStatus;
    use proxmox_proto::resources::ResourceChange;
    let c = token_client();
    let vmid: u32 = if origin().is_empty() { 9103 } else { 9003 };
    let id = format!("qemu/{vmid}");
    let actor = c.clone();
    wasm_bindgen_futures::spawn_local(async move {
        sleep_ms(300).await;
        let create: String = actor
            .create(
                ("nodes", "pve1", "qemu"),
                &json!({"vmid": vmid, "memory": 512}),
            )
            .await
            .unwrap();
        actor
            .wait_task_ok(&create.parse().unwrap(), quick())
            .await
            .unwrap();
        sleep_ms(300).await;
        let start: String = actor
            .post(("nodes", "pve1", "qemu", vmid, "status", "start"), &())
            .await
            .unwrap();
        actor
            .wait_task_ok(&start.parse().unwrap(), quick())
            .await
            .unwrap();
    });
    let mut changes = c.watch_resources(Duration::from_millis(100));
    let mut seen = Vec::new();
    for _ in 0..200 {
        let change = changes.next().await.expect("endless").expect("polls");
        if change.id() != id {
            continue;
        }
        seen.push(change.clone());
        if matches!(change, ResourceChange::GuestStatus { .. }) {
            break;
        }
    }
    assert!(
        matches!(&seen[0], ResourceChange::Added(r) if r.vmid == Some(vmid)),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|c| matches!(
            c,
            ResourceChange::GuestStatus {
                from: Some(ResourceStatus::Stopped),
                to: Some(ResourceStatus::Running),
                ..
            }
        )),
        "{seen:?}"
    );
}
