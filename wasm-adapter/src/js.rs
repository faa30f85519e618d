//! The JavaScript API: a `ProxmoxClient` class whose methods return promises of plain JSON.
//!
//! ```js
//! import init, { ProxmoxClient } from "./pkg/proxmox_wasm.js";
//! await init();
//! const pve = new ProxmoxClient({ tokenId: "dashboard@pve!ro", tokenSecret: "8b1c…" });
//! const guests = await pve.get("cluster/resources", { type: "vm" });
//! const upid = await pve.post(["nodes", "pve1", "qemu", 100, "status", "start"]);
//! const result = await pve.waitTask(upid, { onProgress: (s) => console.log(s.status) });
//! ```
//!
//! Paths are either a string (a literal path, `/` separates segments) or an array whose
//! elements are each exactly one segment (escaped, so a value cannot change the endpoint).
//! Errors are `Error` objects named `ProxmoxError` with `kind` (`api`, `transport`, `input`,
//! `auth`, `protocol`, `console`, `unsupported`, `config`), `status`, `statusText`, `errors`
//! (the per-parameter messages), `class`, `mayHaveBeenSent` and (transport errors) `timeout`.
//!
//! Consoles (password login, in a window on PVE's origin, or node with a global WebSocket):
//!
//! ```js
//! const con = await pve.console({ node: "pve1", cols: 120, rows: 40 });
//! con.onOutput((bytes) => term.write(bytes));
//! con.onClose((info) => console.log("closed", info.code, info.error?.message));
//! con.send("uname -a\n");
//! con.resize(100, 30);
//! con.close();
//! ```

use crate::{
    CallOptions, Client, Console, ConsoleTarget, DownloadChecksum, Error, LoginState,
    UploadChecksum,
};
use js_sys::{Function, Promise, Reflect, Uint8Array};
use proxmox_proto::auth::{SecondFactor, TfaChallenge};
use proxmox_proto::checksum::{Checksum, ChecksumAlgorithm};
use proxmox_proto::task::{TaskOutcome, WaitOptions};
use proxmox_proto::upload::UploadContent;
use proxmox_proto::{ApiPath, Call, Method, Service, Upid};
use serde::Deserialize;
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options of `new ProxmoxClient(...)`. Give a token, or a user and password. */
export interface ProxmoxClientOptions {
  /** `https://host:port` of the API; omit for the page's own origin (the usual case). */
  baseUrl?: string;
  /** Path prefix of a reverse proxy in front of the API, e.g. `/pve`. */
  pathPrefix?: string;
  /** `pve` (default), `pmg` or `pbs`. */
  service?: "pve" | "pmg" | "pbs";
  /** `user@realm!tokenid`. */
  tokenId?: string;
  tokenSecret?: string;
  /** `user@realm`, for a ticket login. */
  username?: string;
  password?: string;
  /** A TOTP code sent when the server asks for a second factor. */
  totp?: string;
  /** A recovery key sent when the server asks for a second factor. */
  recoveryKey?: string;
  /** Send `new-format=1` at login (PVE 7.1–7.4 TFA). */
  pve7TfaCompatibility?: boolean;
  /** Connect and read timeout at once, in milliseconds. */
  timeoutMs?: number;
  /** Added to the read timeout for the wait for the response head (default 10 s). */
  connectTimeoutMs?: number;
  /** Bounds the wait for the response head (with the connect timeout) and for every body chunk (default 60 s). */
  readTimeoutMs?: number;
  /** Largest response body accepted, in bytes (default 256 MiB); larger answers are aborted. */
  bodyLimit?: number;
  /** Not possible in a browser: throws. */
  fingerprint?: string;
  /** Not possible in a browser: throws. */
  caCert?: string;
  /** Not possible in a browser: throws. */
  clientCert?: string;
}
/** A literal path (`"nodes/pve1/qemu"`) or one segment per element (`["nodes", node, "qemu"]`). */
export type ApiPathLike = string | Array<string | number>;
/** Parameters: unset (`null`/`undefined`) values are dropped, booleans become 1/0, arrays repeat the key. */
export type ApiParams = Record<string, string | number | boolean | null | undefined | Array<string | number>>;
/** The second factors the server offered. */
export interface TfaOffered { totp: boolean; recovery: number[]; yubico: boolean; webauthn: unknown | null; u2f: unknown | null }
export type LoginResult = { status: "ok"; username?: string } | { status: "tfa"; username: string; offered: TfaOffered };
export interface LogLine { n: number; t: string }
export interface TaskResult {
  outcome: "ok" | "warnings" | "failed" | "timedOut" | "error";
  success: boolean;
  warnings?: number;
  message?: string;
  logTail?: LogLine[];
}
export interface TaskStatus { status: "running" | "stopped"; exitstatus?: string; [key: string]: unknown }
export interface WaitTaskOptions {
  /** Give up waiting after this long (the task keeps running). */
  timeoutMs?: number;
  /** First and largest pause between status requests. */
  intervalMs?: number;
  maxIntervalMs?: number;
  /** Sees every status answer. */
  onProgress?: (status: TaskStatus) => void;
}
export interface Envelope { data: any; total?: number; changes?: unknown; message?: string; success?: boolean }
export interface RawResponse { status: number; statusText: string; body: string }
export interface UploadOptions {
  /** Stored name (default: the File's name). */
  fileName?: string;
  /** A checksum the server verifies: hex, with `checksumAlgorithm` or guessed from its length. */
  checksum?: string;
  checksumAlgorithm?: string;
  /** Hash the file in the browser first with this algorithm (`sha256`, ...). */
  computeChecksum?: string;
}
export interface DownloadUrlOptions {
  checksum?: string;
  checksumAlgorithm?: string;
  /** Look for SHA*SUMS next to the URL (fetched by the browser: needs CORS on that site). */
  discoverChecksum?: boolean | "optional";
  verifyCertificates?: boolean;
}
/** What the promises reject with. */
export interface ProxmoxError extends Error {
  name: "ProxmoxError";
  kind: "api" | "transport" | "input" | "auth" | "protocol" | "console" | "unsupported" | "config";
  status?: number;
  statusText?: string;
  errors?: Record<string, string>;
  class?: string;
  mayHaveBeenSent: boolean;
  /** A timeout of this client ended the call (kind `transport`). */
  timeout?: boolean;
}
/** Options of `console`: a node's shell, or a guest's console with `vmid`. */
export interface ConsoleOptions {
  node: string;
  vmid?: number;
  /** The guest's type (default `qemu`). */
  kind?: "qemu" | "lxc";
  /** The raw RFB stream (`vncshell`/`vncproxy`) instead of a terminal. */
  vnc?: boolean;
  /** The terminal's size, sent right after the login is accepted. */
  cols?: number;
  rows?: number;
  /** termproxy's keepalive interval (default 30000; 0: never). */
  keepaliveMs?: number;
}
/** One change between two `cluster/resources` snapshots (see `watchResources`). */
export interface ResourceChange {
  change: "added" | "removed" | "guest_status" | "migrated" | "node_status" | "storage_status" | "status_changed" | "lock" | "ha_state";
  id: string;
  /** The resource's type (added, removed, status_changed). */
  type?: string;
  /** The node (added, removed; node_status: the node's name, `id` being `node/<name>`). */
  node?: string | null;
  status?: string | null;
  vmid?: number | null;
  name?: string | null;
  /** Before and now (status, node, lock or HA state; null: none). */
  from?: string | null;
  to?: string | null;
}
/** How a console ended: a close (`code`, `reason`, `clean`, `byClient`) or a failure (`error`). */
export interface ConsoleCloseInfo { code?: number; reason?: string; clean: boolean; byClient?: boolean; error?: ProxmoxError }
"#;

#[wasm_bindgen]
extern "C" {
    /// Optional call parameters (`ApiParams` in TypeScript).
    #[wasm_bindgen(typescript_type = "ApiParams")]
    pub type ParamsArg;
    /// Options of `waitTask` and `followTaskLog`.
    #[wasm_bindgen(typescript_type = "WaitTaskOptions")]
    pub type WaitTaskOptionsArg;
    /// Options of `upload`.
    #[wasm_bindgen(typescript_type = "UploadOptions")]
    pub type UploadOptionsArg;
    /// Options of `downloadUrl`.
    #[wasm_bindgen(typescript_type = "DownloadUrlOptions")]
    pub type DownloadUrlOptionsArg;
    /// Options of `console`.
    #[wasm_bindgen(typescript_type = "ConsoleOptions")]
    pub type ConsoleOptionsArg;
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Options {
    base_url: Option<String>,
    path_prefix: Option<String>,
    service: Option<String>,
    token_id: Option<String>,
    token_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
    totp: Option<String>,
    recovery_key: Option<String>,
    pve7_tfa_compatibility: bool,
    timeout_ms: Option<f64>,
    connect_timeout_ms: Option<f64>,
    read_timeout_ms: Option<f64>,
    body_limit: Option<f64>,
    fingerprint: Option<String>,
    ca_cert: Option<String>,
    client_cert: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PathArg {
    Literal(String),
    Segments(Vec<Value>),
}

fn to_json(v: &JsValue) -> Result<Value, Error> {
    if v.is_undefined() || v.is_null() {
        return Ok(Value::Null);
    }
    let s = js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| Error::Config("the argument cannot be turned into JSON".into()))?;
    serde_json::from_str(&s).map_err(|e| Error::Config(format!("bad argument: {e}")))
}

fn from_json(v: &Value) -> JsValue {
    match serde_json::to_string(v) {
        Ok(s) => js_sys::JSON::parse(&s).unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    }
}

fn path_of(v: &JsValue) -> Result<ApiPath, Error> {
    let arg: PathArg = serde_json::from_value(to_json(v)?)
        .map_err(|_| Error::Config("a path is a string or an array of segments".into()))?;
    Ok(match arg {
        PathArg::Literal(s) => ApiPath::parse(&s)?,
        PathArg::Segments(segs) => {
            let mut p = ApiPath::root();
            for s in segs {
                p = match s {
                    Value::String(s) => p.value(s)?,
                    Value::Number(n) => p.value(n)?,
                    other => {
                        return Err(Error::Config(format!(
                            "a path segment must be a string or a number, not {other}"
                        )));
                    }
                };
            }
            p
        }
    })
}

fn call_of(method: Method, path: &JsValue, params: &JsValue) -> Result<Call, Error> {
    let mut call = Call::new(method, path_of(path)?)?;
    match to_json(params)? {
        Value::Null => {}
        v @ Value::Object(_) => call = call.params_from(&v)?,
        _ => return Err(Error::Config("parameters must be an object".into())),
    }
    Ok(call)
}

fn set(obj: &JsValue, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &key.into(), &value.into());
}

/// A JS `Error` for a Rust error: never contains a secret (the core's errors do not).
fn js_error(e: &Error) -> JsValue {
    let err: JsValue = js_sys::Error::new(&e.to_string()).into();
    set(&err, "name", "ProxmoxError");
    set(&err, "mayHaveBeenSent", e.may_have_been_sent());
    let kind = match e {
        Error::Proto(proxmox_proto::Error::Api(_)) => "api",
        Error::Proto(proxmox_proto::Error::Protocol(_)) => "protocol",
        Error::Proto(proxmox_proto::Error::Input(_)) => "input",
        Error::Proto(proxmox_proto::Error::Auth(_)) => "auth",
        Error::Proto(proxmox_proto::Error::Console(_)) => "console",
        Error::Proto(_) => "protocol",
        Error::Transport(_) => "transport",
        Error::Unsupported(_) => "unsupported",
        Error::Config(_) => "config",
        Error::HostKey { .. } => "hostkey",
        Error::Io(_) => "io",
        _ => "other",
    };
    set(&err, "kind", kind);
    if matches!(e, Error::Transport(_)) {
        set(&err, "timeout", e.is_timeout());
    }
    let api = e.api().or(match e {
        Error::Proto(proxmox_proto::Error::Auth(
            proxmox_proto::auth::AuthError::SecondFactorRejected(a),
        )) => Some(a.as_ref()),
        _ => None,
    });
    if let Some(a) = api {
        set(&err, "status", a.status);
        set(&err, "statusText", a.reason.as_str());
        set(&err, "class", format!("{:?}", a.class));
        if let Some(m) = &a.message {
            set(&err, "serverMessage", m.as_str());
        }
        let errors = js_sys::Object::new();
        for (k, v) in &a.param_errors {
            set(&errors, k, v.as_str());
        }
        set(&err, "errors", errors);
    }
    err
}

fn outcome_json(o: &TaskOutcome) -> Value {
    match o {
        TaskOutcome::Ok => json!({"outcome": "ok", "success": true}),
        TaskOutcome::Warnings(n) => json!({"outcome": "warnings", "success": true, "warnings": n}),
        TaskOutcome::Failed { message, log_tail } => {
            json!({"outcome": "failed", "success": false, "message": message, "logTail": log_tail})
        }
        TaskOutcome::TimedOut => json!({"outcome": "timedOut", "success": false}),
        TaskOutcome::Error(e) => {
            json!({"outcome": "error", "success": false, "message": e.to_string()})
        }
        _ => json!({"outcome": "error", "success": false, "message": format!("{o:?}")}),
    }
}

fn wait_options(opts: &JsValue) -> Result<(WaitOptions, Option<Function>), Error> {
    let mut w = WaitOptions::default();
    let v = to_json(opts)?;
    let ms = |k: &str| v.get(k).and_then(Value::as_f64).filter(|x| *x >= 0.0);
    if let Some(t) = ms("timeoutMs") {
        w = w.with_timeout(Duration::from_millis(t as u64));
    }
    if let Some(i) = ms("intervalMs") {
        let max = ms("maxIntervalMs").unwrap_or(i.max(5000.0));
        w = w.with_intervals(
            Duration::from_millis(i as u64),
            Duration::from_millis(max as u64),
        );
    }
    let cb = if opts.is_object() {
        Reflect::get(opts, &"onProgress".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
    } else {
        None
    };
    Ok((w, cb))
}

fn checksum_of(hex: Option<&str>, alg: Option<&str>) -> Result<Option<Checksum>, Error> {
    let Some(hex) = hex else { return Ok(None) };
    let bad = |e: proxmox_proto::checksum::ChecksumError| Error::Config(e.to_string());
    Ok(Some(match alg {
        Some(a) => Checksum::new(a.parse::<ChecksumAlgorithm>().map_err(bad)?, hex).map_err(bad)?,
        None => Checksum::from_hex(hex).map_err(bad)?,
    }))
}

/// A UPID given by the caller: a bad one is an input error, not the server's fault.
fn upid_of(s: &str) -> Result<Upid, Error> {
    s.parse::<Upid>()
        .map_err(|e| Error::Proto(proxmox_proto::Error::Input(e.into())))
}

fn content_of(s: &str) -> Result<UploadContent, Error> {
    Ok(s.parse::<UploadContent>()?)
}

/// Run a future and turn its result into a Promise of JSON (or a rejected `ProxmoxError`).
fn promise<F>(f: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue, Error>> + 'static,
{
    future_to_promise(async move { f.await.map_err(|e| js_error(&e)) })
}

/// A Proxmox VE, PMG or PBS client for JavaScript. Every method returns a Promise of plain
/// JSON; failures reject with a `ProxmoxError`.
#[wasm_bindgen]
pub struct ProxmoxClient {
    client: Client,
    pending: Rc<RefCell<Option<TfaChallenge>>>,
}

#[wasm_bindgen]
impl ProxmoxClient {
    /// Check the options and build a client (no request is sent yet). Throws a
    /// `ProxmoxError` for bad or impossible options (pinning, CA, client certificates).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ProxmoxClientOptions")] options: JsValue,
    ) -> Result<ProxmoxClient, JsValue> {
        Self::build(&options).map_err(|e| js_error(&e))
    }

    fn build(options: &JsValue) -> Result<ProxmoxClient, Error> {
        let o: Options = serde_json::from_value(to_json(options)?)
            .map_err(|e| Error::Config(format!("bad options: {e}")))?;
        let mut b = Client::builder(o.base_url.as_deref().unwrap_or(""));
        if let Some(s) = &o.service {
            b = b.service(s.parse::<Service>()?);
        }
        if let Some(p) = &o.path_prefix {
            b = b.path_prefix(p);
        }
        match (&o.token_id, &o.token_secret, &o.username, &o.password) {
            (Some(id), Some(secret), None, None) => b = b.api_token(id, secret.as_str()),
            (None, None, Some(user), Some(pw)) => b = b.password(user, pw.as_str()),
            _ => {
                return Err(Error::Config(
                    "give tokenId and tokenSecret, or username and password".into(),
                ));
            }
        }
        if let Some(c) = &o.totp {
            b = b.second_factor(SecondFactor::totp(c.as_str()));
        } else if let Some(k) = &o.recovery_key {
            b = b.second_factor(SecondFactor::recovery(k.as_str()));
        }
        if o.fingerprint.is_some() {
            b = b.fingerprint("");
        }
        if o.ca_cert.is_some() {
            b = b.ca_pem(b"");
        }
        if o.client_cert.is_some() {
            b = b.client_certificate(b"", b"");
        }
        b = b.pve7_tfa_compatibility(o.pve7_tfa_compatibility);
        let ms = |what: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(Duration::from_millis(v as u64))
            } else {
                Err(Error::Config(format!(
                    "{what} must be a number of milliseconds"
                )))
            }
        };
        if let Some(t) = o.timeout_ms {
            b = b.timeout(ms("timeoutMs", t)?);
        }
        if let Some(t) = o.connect_timeout_ms {
            b = b.connect_timeout(ms("connectTimeoutMs", t)?);
        }
        if let Some(t) = o.read_timeout_ms {
            b = b.read_timeout(ms("readTimeoutMs", t)?);
        }
        if let Some(n) = o.body_limit {
            if !(n.is_finite() && n >= 0.0) {
                return Err(Error::Config("bodyLimit must be a number of bytes".into()));
            }
            b = b.body_limit(n as u64);
        }
        Ok(ProxmoxClient {
            client: b.build()?,
            pending: Rc::new(RefCell::new(None)),
        })
    }

    /// Log in now. Resolves `{status: "ok"}`, or `{status: "tfa", offered}` when the server
    /// wants a second factor that was not given in the options; answer with `secondFactor`.
    #[wasm_bindgen(unchecked_return_type = "Promise<LoginResult>")]
    pub fn login(&self) -> Promise {
        let c = self.client.clone();
        let pending = Rc::clone(&self.pending);
        promise(async move {
            Ok(from_json(&match c.login().await? {
                LoginState::SecondFactor(ch) => {
                    let v = json!({"status": "tfa", "username": ch.username(), "offered": ch.offered()});
                    *pending.borrow_mut() = Some(ch);
                    v
                }
                _ => {
                    json!({"status": "ok", "username": c.session().map(|s| s.username().to_owned())})
                }
            }))
        })
    }

    /// Answer the pending TFA challenge: `kind` is `totp`, `recovery`, `yubico` or `webauthn`
    /// (the assertion as JSON text). Never retried: a wrong code rejects, call `login` again.
    #[wasm_bindgen(js_name = secondFactor, unchecked_return_type = "Promise<LoginResult>")]
    pub fn second_factor(&self, kind: String, answer: String) -> Promise {
        let c = self.client.clone();
        let pending = self.pending.borrow_mut().take();
        promise(async move {
            let ch = pending.ok_or_else(|| {
                Error::Config("no second factor is pending: call login() first".into())
            })?;
            let f = match kind.as_str() {
                "totp" => SecondFactor::totp(answer),
                "recovery" => SecondFactor::recovery(answer),
                "yubico" => SecondFactor::yubico(answer),
                "webauthn" => SecondFactor::webauthn(answer),
                other => return Err(Error::Config(format!("unknown second factor {other:?}"))),
            };
            c.complete_login(&ch, f).await?;
            Ok(from_json(
                &json!({"status": "ok", "username": c.session().map(|s| s.username().to_owned())}),
            ))
        })
    }

    fn data(&self, method: Method, path: &JsValue, params: &JsValue) -> Promise {
        let c = self.client.clone();
        let call = call_of(method, path, params);
        promise(async move { Ok(from_json(&c.call::<Value>(&call?).await?)) })
    }

    /// `GET path` with query parameters; resolves `data`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ApiPathLike")] path: JsValue,
        params: Option<ParamsArg>,
    ) -> Promise {
        self.data(
            Method::Get,
            &path,
            &params.map(JsValue::from).unwrap_or_default(),
        )
    }

    /// `POST path` with form parameters; resolves `data` (a UPID for task-starting calls).
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn post(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ApiPathLike")] path: JsValue,
        params: Option<ParamsArg>,
    ) -> Promise {
        self.data(
            Method::Post,
            &path,
            &params.map(JsValue::from).unwrap_or_default(),
        )
    }

    /// `PUT path`; resolves `data`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn put(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ApiPathLike")] path: JsValue,
        params: Option<ParamsArg>,
    ) -> Promise {
        self.data(
            Method::Put,
            &path,
            &params.map(JsValue::from).unwrap_or_default(),
        )
    }

    /// `DELETE path`; resolves `data`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ApiPathLike")] path: JsValue,
        params: Option<ParamsArg>,
    ) -> Promise {
        self.data(
            Method::Delete,
            &path,
            &params.map(JsValue::from).unwrap_or_default(),
        )
    }

    /// Any method (`GET`, `POST`, `PUT`, `DELETE`); resolves the whole envelope
    /// (`data`, `total`, `changes`, `message`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Envelope>")]
    pub fn call(
        &self,
        method: String,
        #[wasm_bindgen(unchecked_param_type = "ApiPathLike")] path: JsValue,
        params: Option<ParamsArg>,
    ) -> Promise {
        let c = self.client.clone();
        let call = method_of(&method)
            .and_then(|m| call_of(m, &path, &params.map(JsValue::from).unwrap_or_default()));
        promise(async move {
            let env = c
                .call_envelope::<Value>(&call?, &CallOptions::default())
                .await?;
            let mut o = serde_json::Map::new();
            o.insert("data".into(), env.data);
            if let Some(t) = env.total {
                o.insert("total".into(), json!(t));
            }
            if let Some(ch) = env.changes {
                o.insert("changes".into(), ch);
            }
            if let Some(m) = env.message {
                o.insert("message".into(), json!(m));
            }
            if let Some(s) = env.success {
                o.insert("success".into(), json!(s));
            }
            Ok(from_json(&Value::Object(o)))
        })
    }

    /// Any method; resolves the raw answer `{status, statusText, body}` without turning an
    /// error status into a rejection.
    #[wasm_bindgen(unchecked_return_type = "Promise<RawResponse>")]
    pub fn raw(
        &self,
        method: String,
        #[wasm_bindgen(unchecked_param_type = "ApiPathLike")] path: JsValue,
        params: Option<ParamsArg>,
    ) -> Promise {
        let c = self.client.clone();
        let call = method_of(&method)
            .and_then(|m| call_of(m, &path, &params.map(JsValue::from).unwrap_or_default()));
        promise(async move {
            let r = c.call_raw(&call?, &CallOptions::default()).await?;
            Ok(from_json(&json!({
                "status": r.status,
                "statusText": r.reason.unwrap_or_default(),
                "body": String::from_utf8_lossy(&r.body),
            })))
        })
    }

    /// Wait for a task to end (timers from the event loop); `onProgress` sees every status.
    #[wasm_bindgen(js_name = waitTask, unchecked_return_type = "Promise<TaskResult>")]
    pub fn wait_task(&self, upid: String, options: Option<WaitTaskOptionsArg>) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let upid = upid_of(&upid)?;
            let (w, cb) = wait_options(&options.map(JsValue::from).unwrap_or_default())?;
            let outcome = c
                .wait_task(&upid, w, |s| {
                    if let Some(f) = &cb
                        && let Ok(v) = serde_json::to_value(s)
                    {
                        let _ = f.call1(&JsValue::UNDEFINED, &from_json(&v));
                    }
                })
                .await?;
            Ok(from_json(&outcome_json(&outcome)))
        })
    }

    /// The whole log of a task: `[{n, t}, ...]`.
    #[wasm_bindgen(js_name = taskLog, unchecked_return_type = "Promise<LogLine[]>")]
    pub fn task_log(&self, upid: String) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let lines = c.task_log(&upid_of(&upid)?).await?;
            Ok(from_json(&json!(lines)))
        })
    }

    /// Follow a running task's log: `onLines` gets each new batch of `{n, t}` once, in order.
    /// Resolves how the task ended.
    #[wasm_bindgen(js_name = followTaskLog, unchecked_return_type = "Promise<TaskResult>")]
    pub fn follow_task_log(
        &self,
        upid: String,
        #[wasm_bindgen(js_name = onLines, unchecked_param_type = "(lines: LogLine[]) => void")]
        on_lines: Function,
        options: Option<WaitTaskOptionsArg>,
    ) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let upid = upid_of(&upid)?;
            let (w, _) = wait_options(&options.map(JsValue::from).unwrap_or_default())?;
            let outcome = c
                .follow_task_log(&upid, w, |lines| {
                    let _ = on_lines.call1(&JsValue::UNDEFINED, &from_json(&json!(lines)));
                })
                .await?;
            Ok(from_json(&outcome_json(&outcome)))
        })
    }

    /// Watch the cluster's state: every `intervalMs` a `GET cluster/resources`, compared
    /// with the last; `onChange` gets each change (`{change, id, ...}`: `added`, `removed`,
    /// `guest_status`, `migrated`, `node_status`, `storage_status`, `status_changed`, `lock`,
    /// `ha_state`), `onError` each failed poll (the watch goes on). The first snapshot is
    /// the baseline. Returns a handle whose `stop()` ends the watch.
    #[wasm_bindgen(js_name = watchResources)]
    pub fn watch_resources(
        &self,
        #[wasm_bindgen(js_name = intervalMs)] interval_ms: f64,
        #[wasm_bindgen(js_name = onChange, unchecked_param_type = "(change: ResourceChange) => void")]
        on_change: Function,
        #[wasm_bindgen(js_name = onError, unchecked_param_type = "(error: ProxmoxError) => void")]
        on_error: Option<Function>,
    ) -> Result<ResourceWatchHandle, JsValue> {
        if !(interval_ms.is_finite() && interval_ms >= 1.0) {
            return Err(js_error(&Error::Config(
                "watchResources: intervalMs must be a number of milliseconds, at least 1".into(),
            )));
        }
        let interval = Duration::from_millis(interval_ms as u64);
        let stopped = Rc::new(std::cell::Cell::new(false));
        let (c, stop) = (self.client.clone(), Rc::clone(&stopped));
        wasm_bindgen_futures::spawn_local(async move {
            let mut changes = c.watch_resources(interval);
            let mut first = true;
            // The stop flag is read before every poll and after it, so no request goes out
            // and no callback runs once the watch is stopped (a poll under way is discarded).
            loop {
                if !first {
                    crate::sys::sleep(interval).await;
                }
                first = false;
                if stop.get() {
                    break;
                }
                let batch = changes.poll_now().await;
                if stop.get() {
                    break;
                }
                match batch {
                    Ok(list) => {
                        for change in list {
                            let _ =
                                on_change.call1(&JsValue::UNDEFINED, &from_json(&json!(change)));
                        }
                    }
                    Err(e) => {
                        if let Some(f) = &on_error {
                            let _ = f.call1(&JsValue::UNDEFINED, &js_error(&e));
                        }
                    }
                }
            }
        });
        Ok(ResourceWatchHandle { stopped })
    }

    /// Upload a `File` or `Blob` to a storage (`content`: iso, vztmpl, import); the browser
    /// streams it. Resolves the UPID of the import task.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn upload(
        &self,
        node: String,
        storage: String,
        content: String,
        file: web_sys::Blob,
        options: Option<UploadOptionsArg>,
    ) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let o = to_json(&options.map(JsValue::from).unwrap_or_default())?;
            let s = |k: &str| o.get(k).and_then(Value::as_str);
            let name = match s("fileName") {
                Some(n) => n.to_owned(),
                None => Reflect::get(&file, &"name".into())
                    .ok()
                    .and_then(|n| n.as_string())
                    .ok_or_else(|| Error::Config("a Blob needs options.fileName".into()))?,
            };
            let checksum = match (
                s("computeChecksum"),
                checksum_of(s("checksum"), s("checksumAlgorithm"))?,
            ) {
                (Some(alg), _) => UploadChecksum::Compute(
                    alg.parse::<ChecksumAlgorithm>()
                        .map_err(|e| Error::Config(e.to_string()))?,
                ),
                (None, Some(c)) => UploadChecksum::Given(c),
                (None, None) => UploadChecksum::None,
            };
            let upid = c
                .upload(
                    &node,
                    &storage,
                    content_of(&content)?,
                    &file,
                    &name,
                    checksum,
                )
                .await?;
            Ok(JsValue::from_str(upid.as_str()))
        })
    }

    /// Let the node download `url` into a storage (`download-url`). Resolves the UPID.
    #[wasm_bindgen(js_name = downloadUrl, unchecked_return_type = "Promise<string>")]
    pub fn download_url(
        &self,
        node: String,
        storage: String,
        content: String,
        url: String,
        #[wasm_bindgen(js_name = fileName)] file_name: String,
        options: Option<DownloadUrlOptionsArg>,
    ) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let o = to_json(&options.map(JsValue::from).unwrap_or_default())?;
            let s = |k: &str| o.get(k).and_then(Value::as_str);
            let checksum = match (
                o.get("discoverChecksum"),
                checksum_of(s("checksum"), s("checksumAlgorithm"))?,
            ) {
                (_, Some(c)) => DownloadChecksum::Given(c),
                (Some(Value::Bool(true)), None) => DownloadChecksum::Discover,
                (Some(Value::String(v)), None) if v == "optional" => {
                    DownloadChecksum::DiscoverOptional
                }
                _ => DownloadChecksum::None,
            };
            let upid = c
                .download_url(
                    &node,
                    &storage,
                    content_of(&content)?,
                    &url,
                    &file_name,
                    checksum,
                )
                .await?;
            Ok(JsValue::from_str(upid.as_str()))
        })
    }

    /// The logged-in user (ticket logins), if any.
    #[wasm_bindgen(getter)]
    pub fn username(&self) -> Option<String> {
        self.client.session().map(|s| s.username().to_owned())
    }

    /// Open a console: `{node}` for a node's shell, `{node, vmid, kind}` for a guest's;
    /// `vnc: true` for the raw RFB stream. Resolves once termproxy accepted the login.
    /// Rejects with kind `unsupported` for a token client, in a worker, or without a
    /// global `WebSocket`.
    #[wasm_bindgen(unchecked_return_type = "Promise<ProxmoxConsole>")]
    pub fn console(&self, options: ConsoleOptionsArg) -> Promise {
        let c = self.client.clone();
        let options = console_options(&options.into());
        promise(async move {
            let o = options?;
            let target = match (o.vmid, o.kind.as_deref()) {
                (None, None) => ConsoleTarget::Node(o.node),
                (Some(vmid), None | Some("qemu")) => ConsoleTarget::Qemu { node: o.node, vmid },
                (Some(vmid), Some("lxc")) => ConsoleTarget::Lxc { node: o.node, vmid },
                (_, Some(k)) => {
                    return Err(Error::Config(format!(
                        "console kind {k:?}: give qemu or lxc with a vmid"
                    )));
                }
            };
            let mut b = c.console(target);
            if o.vnc {
                b = b.vnc();
            }
            match (o.cols, o.rows) {
                (Some(cols), Some(rows)) => b = b.size(cols, rows),
                (None, None) => {}
                _ => return Err(Error::Config("give cols and rows together".into())),
            }
            if let Some(ms) = o.keepalive_ms {
                if !(ms.is_finite() && ms >= 0.0) {
                    return Err(Error::Config(
                        "keepaliveMs must be a number of milliseconds".into(),
                    ));
                }
                b = b.keepalive((ms > 0.0).then(|| Duration::from_millis(ms as u64)));
            }
            Ok(ProxmoxConsole::new(b.build().await?).into())
        })
    }
}

/// The options of `console` (read by hand: a serde derive costs bundle size for nothing).
struct ConsoleOptions {
    node: String,
    vmid: Option<u32>,
    kind: Option<String>,
    vnc: bool,
    cols: Option<u16>,
    rows: Option<u16>,
    keepalive_ms: Option<f64>,
}

fn console_options(v: &JsValue) -> Result<ConsoleOptions, Error> {
    let o = to_json(v)?;
    let bad = |what: &str| Error::Config(format!("bad console options: {what}"));
    let int = |k: &str| -> Result<Option<u64>, Error> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| bad(&format!("{k} must be a whole number"))),
        }
    };
    let small = |k: &str| -> Result<Option<u16>, Error> {
        int(k)?
            .map(|n| u16::try_from(n).map_err(|_| bad(&format!("{k} is too large"))))
            .transpose()
    };
    Ok(ConsoleOptions {
        node: o
            .get("node")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("node (a string) is missing"))?
            .to_owned(),
        vmid: int("vmid")?
            .map(|n| u32::try_from(n).map_err(|_| bad("vmid is too large")))
            .transpose()?,
        kind: o.get("kind").and_then(Value::as_str).map(str::to_owned),
        vnc: o.get("vnc").and_then(Value::as_bool).unwrap_or(false),
        cols: small("cols")?,
        rows: small("rows")?,
        keepalive_ms: o.get("keepaliveMs").and_then(Value::as_f64),
    })
}

/// The callbacks of a [`ProxmoxConsole`].
#[derive(Default)]
struct Hooks {
    output: RefCell<Vec<Function>>,
    close: RefCell<Vec<Function>>,
    /// The close callbacks were called.
    told: Cell<bool>,
}

/// Hand queued output to the `onOutput` callbacks and, once, the end to the `onClose` ones.
fn deliver(console: &Weak<Console>, hooks: &Hooks) {
    let Some(console) = console.upgrade() else {
        return;
    };
    let output = hooks.output.borrow().clone();
    if !output.is_empty() {
        let bytes = console.take_output();
        if !bytes.is_empty() {
            let chunk = Uint8Array::from(bytes.as_slice());
            for f in &output {
                let _ = f.call1(&JsValue::UNDEFINED, &chunk);
            }
        }
    }
    let close = hooks.close.borrow().clone();
    if close.is_empty() || hooks.told.get() {
        return;
    }
    let Some(end) = console.end() else { return };
    hooks.told.set(true);
    let info = js_sys::Object::new();
    match end {
        Ok(c) => {
            if let Some(code) = c.code {
                set(&info, "code", code);
            }
            set(&info, "reason", c.reason.as_str());
            set(&info, "clean", c.clean);
            set(&info, "byClient", c.by_client);
        }
        Err(e) => {
            set(&info, "clean", false);
            set(&info, "error", js_error(&e));
        }
    }
    for f in &close {
        let _ = f.call1(&JsValue::UNDEFINED, &info);
    }
}

/// A running `watchResources` (from `ProxmoxClient.watchResources`).
#[wasm_bindgen]
pub struct ResourceWatchHandle {
    stopped: Rc<std::cell::Cell<bool>>,
}

#[wasm_bindgen]
impl ResourceWatchHandle {
    /// End the watch: no request goes out and no callback runs after this (a poll under way
    /// is discarded). Freeing the handle stops it too.
    pub fn stop(&self) {
        self.stopped.set(true);
    }
}

impl Drop for ResourceWatchHandle {
    fn drop(&mut self) {
        self.stopped.set(true);
    }
}

/// An open console (from `ProxmoxClient.console`). Output arrives at the `onOutput`
/// callbacks, or from `recv()` when there are none (use one or the other).
#[wasm_bindgen]
pub struct ProxmoxConsole {
    console: Rc<Console>,
    hooks: Rc<Hooks>,
}

impl ProxmoxConsole {
    fn new(console: Console) -> Self {
        let console = Rc::new(console);
        let hooks = Rc::new(Hooks::default());
        let (weak, h) = (Rc::downgrade(&console), Rc::clone(&hooks));
        console.set_listener(Some(Rc::new(move || deliver_soon(&weak, &h))));
        Self { console, hooks }
    }
}

/// Deliver what is queued on a later microtask: callbacks never run inside `send`, `close`
/// or a registration.
fn deliver_soon(console: &Weak<Console>, hooks: &Rc<Hooks>) {
    let (weak, hooks) = (console.clone(), Rc::clone(hooks));
    wasm_bindgen_futures::spawn_local(async move { deliver(&weak, &hooks) });
}

impl ProxmoxConsole {
    fn deliver_soon(&self) {
        deliver_soon(&Rc::downgrade(&self.console), &self.hooks);
    }
}

#[wasm_bindgen]
impl ProxmoxConsole {
    /// Type a string (sent as UTF-8) or bytes. Throws once the console has ended.
    pub fn send(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] data: JsValue,
    ) -> Result<(), JsValue> {
        let bytes = if let Some(s) = data.as_string() {
            s.into_bytes()
        } else if let Some(a) = data.dyn_ref::<Uint8Array>() {
            a.to_vec()
        } else {
            return Err(js_error(&Error::Config(
                "send() takes a string or a Uint8Array".into(),
            )));
        };
        self.console.send(&bytes).map_err(|e| js_error(&e))
    }

    /// Tell the terminal its size. Throws once the console has ended.
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), JsValue> {
        self.console.resize(cols, rows).map_err(|e| js_error(&e))
    }

    /// Close the console; `onClose` callbacks then see `byClient: true`.
    pub fn close(&self) {
        self.console.close();
    }

    /// Call `callback(bytes)` with each piece of output (a `Uint8Array`), starting with what
    /// arrived before.
    #[wasm_bindgen(js_name = onOutput)]
    pub fn on_output(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(bytes: Uint8Array) => void")] callback: Function,
    ) {
        self.hooks.output.borrow_mut().push(callback);
        self.deliver_soon();
    }

    /// Call `callback(info)` once when the console ends (`ConsoleCloseInfo`).
    #[wasm_bindgen(js_name = onClose)]
    pub fn on_close(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(info: ConsoleCloseInfo) => void")]
        callback: Function,
    ) {
        self.hooks.close.borrow_mut().push(callback);
        self.deliver_soon();
    }

    /// The next output (`Uint8Array`), or `null` once the console has ended; rejects when it
    /// failed, or (kind `transport`, `timeout: true`) after `timeoutMs` without output.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array | null>")]
    pub fn recv(&self, #[wasm_bindgen(js_name = timeoutMs)] timeout_ms: Option<f64>) -> Promise {
        let console = Rc::clone(&self.console);
        let timeout = timeout_ms
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| Duration::from_millis(ms as u64));
        promise(async move {
            Ok(match console.recv(timeout).await? {
                Some(bytes) => Uint8Array::from(bytes.as_slice()).into(),
                None => JsValue::NULL,
            })
        })
    }

    /// The RFB password of a VNC console (a secret: do not log it).
    #[wasm_bindgen(getter)]
    pub fn password(&self) -> Option<String> {
        self.console.password().map(|p| p.expose().to_owned())
    }
}

fn method_of(m: &str) -> Result<Method, Error> {
    match m.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::Get),
        "POST" => Ok(Method::Post),
        "PUT" => Ok(Method::Put),
        "DELETE" => Ok(Method::Delete),
        _ => Err(Error::Config(format!("unknown method {m:?}"))),
    }
}
