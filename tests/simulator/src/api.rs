//! Routing and handlers for the PVE, PMG and PBS APIs.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::auth::{self, Caller};
use crate::http::{Request, Response};
use crate::state::{AuthKind, Effect, Guest, GuestKind, NewTask, Shared, State, Volume};
use crate::{LIMITED_USER, Service};

/// An API error in PVE's wire format.
#[derive(Debug, Clone)]
pub(crate) struct ApiErr {
    pub(crate) status: u16,
    pub(crate) message: String,
    pub(crate) errors: Option<Map<String, Value>>,
}

impl ApiErr {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
        }
    }

    /// `400 Parameter verification failed.` with per-parameter messages.
    pub(crate) fn params<'a>(errs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let map = errs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        Self::param_map(map)
    }

    pub(crate) fn param_map(map: Map<String, Value>) -> Self {
        Self {
            status: 400,
            message: "Parameter verification failed.".to_owned(),
            errors: Some(map),
        }
    }

    pub(crate) fn into_response(self, shared: &Shared, extjs: bool) -> Response {
        let first = self.message.lines().next().unwrap_or("").trim().to_owned();
        let mut msg = self.message.clone();
        if !msg.ends_with('\n') {
            msg.push('\n');
        }
        if shared.config.service == Service::Pbs && !extjs {
            return self.into_pbs_response();
        }
        if extjs {
            let mut body =
                json!({"data": null, "success": 0, "message": msg, "status": self.status});
            if let (Some(e), Some(obj)) = (self.errors, body.as_object_mut()) {
                obj.insert("errors".into(), Value::Object(e));
            }
            return Response::json(200, "OK", &body);
        }
        let mut body = Map::new();
        body.insert("data".into(), Value::Null);
        if shared.config.error_message_in_body {
            body.insert("message".into(), Value::String(msg));
        }
        if let Some(e) = self.errors {
            body.insert("errors".into(), Value::Object(e));
        }
        let mut r = Response::json(self.status, &first, &Value::Object(body));
        r.close = self.status >= 400;
        r
    }
}

impl ApiErr {
    /// proxmox-rest-server (PBS): canonical reason phrase, the message as the raw body (with a
    /// JSON content type), 404 `Path '...' not found.` for unknown paths and methods.
    fn into_pbs_response(self) -> Response {
        let (status, mut message) = match self.message.strip_prefix("Method '") {
            Some(rest) if self.status == 501 => {
                let path = rest
                    .split_once(' ')
                    .map(|(_, p)| p.trim_end_matches("' not implemented"))
                    .unwrap_or("");
                (404, format!("Path '{path}' not found."))
            }
            _ => (self.status, self.message),
        };
        if let Some(errs) = self.errors {
            message = "parameter verification errors\n".to_owned();
            for (k, v) in errs {
                let v = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                message.push_str(&format!("\nparameter '{k}': {}", v.trim_end()));
            }
        }
        let reason = match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            _ => "",
        };
        Response::text(
            status,
            reason,
            "application/json;charset=UTF-8",
            message.into_bytes(),
        )
    }
}

/// A successful result: `data` plus an optional `total`.
pub(crate) struct Out {
    data: Value,
    total: Option<usize>,
}

impl Out {
    fn data(v: Value) -> Result<Out, ApiErr> {
        Ok(Out {
            data: v,
            total: None,
        })
    }
}

type ApiResult = Result<Out, ApiErr>;

fn not_implemented(method: &str, path: &str) -> ApiErr {
    ApiErr::new(
        501,
        format!("Method '{method} /api2/json{path}' not implemented"),
    )
}

/// Handle an `/api2/json` or `/api2/extjs` request.
pub(crate) fn handle(
    shared: &Shared,
    req: &Request,
    rel: &str,
    extjs: bool,
) -> (Response, AuthKind) {
    let now = shared.clock.now();
    let mut st = shared.lock();
    st.tick(now);
    let params = req.params();
    let segs: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method.as_str();

    let (kind, result) = if segs.as_slice() == ["access", "ticket"] {
        let r = match method {
            "POST" => auth::login(shared, &mut st, &params).map(|v| Out {
                data: v,
                total: None,
            }),
            "GET" => Out::data(Value::Null),
            _ => Err(not_implemented(method, rel)),
        };
        (AuthKind::None, r)
    } else {
        let (kind, caller) = auth::authenticate(shared, &st, req);
        let r = caller.and_then(|caller| {
            if caller.ticket && method != "GET" {
                let ok = req
                    .header("csrfpreventiontoken")
                    .is_some_and(|t| auth::verify_csrf(shared, &st, t, &caller.userid));
                if !ok {
                    return Err(ApiErr::new(401, "Permission denied - invalid csrf token"));
                }
            }
            let mut ctx = Ctx {
                shared,
                st: &mut st,
                caller: &caller,
                params: &params,
                now,
                method,
                rel,
                local: req.node,
            };
            match shared.config.service {
                Service::Pve => pve(&mut ctx, &segs),
                Service::Pbs => pbs(&mut ctx, &segs),
                Service::Pmg => pmg(&mut ctx, &segs),
            }
        });
        (kind, r)
    };
    drop(st);
    let resp = match result {
        Ok(out) => {
            let mut body = Map::new();
            body.insert("data".into(), out.data);
            if let Some(t) = out.total {
                body.insert("total".into(), json!(t));
            }
            if extjs {
                body.insert("success".into(), json!(1));
                body.insert("status".into(), json!(200));
            }
            Response::json(200, "OK", &Value::Object(body))
        }
        Err(e) => e.into_response(shared, extjs),
    };
    (resp, kind)
}

/// Paths outside `/api2/`: the static dashboard, a tiny index, 501 otherwise.
pub(crate) fn non_api(shared: &Shared, req: &Request, path: &str) -> Response {
    if req.method == "GET" {
        if let (Some(dir), Some(rest)) =
            (&shared.config.static_dir, path.strip_prefix("/dashboard"))
        {
            return serve_static(dir, rest);
        }
        let docs = match shared.config.service {
            crate::Service::Pve => "/pve-docs/api-viewer/apidoc.js",
            crate::Service::Pmg => "/pmg-docs/api-viewer/apidoc.js",
            crate::Service::Pbs => "/docs/api-viewer/apidoc.js",
        };
        if path == docs {
            // Served by pveproxy from the docs package (pve-manager `PVE/Service/pveproxy.pm`
            // maps `/pve-docs/` to /usr/share/pve-docs); without the package, 404.
            return match &shared.config.api_schema {
                Some(json) => Response::text(
                    200,
                    "OK",
                    "application/javascript",
                    format!("const apiSchema = {json};\n").into_bytes(),
                ),
                None => {
                    let mut r =
                        Response::text(404, "Not Found", "text/plain", b"404 Not Found".to_vec());
                    r.close = true;
                    r
                }
            };
        }
        if path == "/" {
            let body = format!(
                "<!doctype html><title>proxmox-sim {}</title><p>proxmox-sim: API at /api2/json</p>",
                shared.config.service.tag()
            );
            return Response::text(200, "OK", "text/html;charset=UTF-8", body.into_bytes());
        }
    }
    ApiErr::new(
        501,
        format!("Method '{} {path}' not implemented", req.method),
    )
    .into_response(shared, false)
}

fn serve_static(dir: &std::path::Path, rest: &str) -> Response {
    let rel = rest.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let not_found = || {
        let mut r = Response::text(404, "Not Found", "text/plain", b"404: Not Found".to_vec());
        r.close = true;
        r
    };
    if rel
        .split('/')
        .any(|c| c == ".." || c.is_empty() || c.starts_with('.') || c.contains('\\'))
    {
        return not_found();
    }
    let file = dir.join(rel);
    let Ok(bytes) = std::fs::read(&file) else {
        return not_found();
    };
    let ct = match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html;charset=UTF-8",
        "js" | "mjs" => "text/javascript",
        "wasm" => "application/wasm",
        "css" => "text/css",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    };
    Response::text(200, "OK", ct, bytes)
}

/// Everything a handler needs.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) st: &'a mut State,
    pub(crate) caller: &'a Caller,
    pub(crate) params: &'a [(String, String)],
    pub(crate) now: Duration,
    pub(crate) method: &'a str,
    pub(crate) rel: &'a str,
    /// The node that received the call (index into the cluster).
    pub(crate) local: usize,
}

impl Ctx<'_> {
    pub(crate) fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn nyi(&self) -> ApiErr {
        not_implemented(self.method, self.rel)
    }

    pub(crate) fn task(&mut self, t: NewTask<'_>) -> String {
        self.st.new_task(self.shared.config.service, self.now, t)
    }

    fn int_param(&self, k: &str) -> Result<Option<i64>, ApiErr> {
        match self.param(k) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                ApiErr::params([(
                    k,
                    format!("type check ('integer') failed - got '{v}'").as_str(),
                )])
            }),
        }
    }
}

/// Node check: offline nodes answer 595, unknown nodes fail the hostname lookup.
pub(crate) fn check_node(shared: &Shared, st: &State, node: &str) -> Result<String, ApiErr> {
    let real = if shared.config.service == Service::Pbs && node == "localhost" {
        shared.config.service.node()
    } else {
        node
    };
    if st.offline_nodes.contains(real) {
        return Err(ApiErr::new(595, "No route to host"));
    }
    if !st.nodes.iter().any(|n| n == real) {
        return Err(ApiErr::new(
            500,
            format!(
                "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
            ),
        ));
    }
    Ok(real.to_owned())
}

fn version(service: Service) -> Value {
    match service {
        Service::Pve => {
            json!({"version": "9.0.10", "release": "9.0", "repoid": "0d2b1f5c"})
        }
        Service::Pmg => json!({"version": "9.0.1", "release": "9.0", "repoid": "6a1c4f2e"}),
        Service::Pbs => json!({"version": "4.0.14", "release": "4.0", "repoid": "3b5e7d9a"}),
    }
}

/// Whether node `node` is online as the cluster sees it.
fn node_online(shared: &Shared, node: &str) -> bool {
    shared
        .cluster
        .iter()
        .find(|c| c.name == node)
        .is_none_or(|c| c.mode() == crate::cluster::NodeMode::Up)
}

fn node_entry(shared: &Shared, node: &str) -> Value {
    let fingerprint = shared
        .cluster
        .iter()
        .find(|c| c.name == node)
        .map_or_else(|| shared.ident.fingerprint.clone(), |c| c.fingerprint());
    let status = if node_online(shared, node) {
        "online"
    } else {
        "offline"
    };
    json!({
        "node": node, "status": status, "type": "node", "id": format!("node/{node}"),
        "level": "", "ssl_fingerprint": fingerprint,
        "cpu": 0.02, "maxcpu": 4, "mem": 2147483648u64, "maxmem": 8589934592u64,
        "disk": 4294967296u64, "maxdisk": 68719476736u64, "uptime": 3600
    })
}

fn node_status(shared: &Shared) -> Value {
    let service = shared.config.service;
    let mut v = json!({
        "uptime": 3600, "loadavg": ["0.10", "0.05", "0.01"], "cpu": 0.02, "wait": 0.0,
        "kversion": "Linux 6.14.8-2-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2 (2025-07-22T10:04Z)",
        "memory": {"total": 8589934592u64, "used": 2147483648u64, "free": 6442450944u64},
        "swap": {"total": 0, "used": 0, "free": 0},
        "rootfs": {"total": 68719476736u64, "used": 4294967296u64, "avail": 64424509440u64, "free": 64424509440u64},
        "cpuinfo": {"model": "Simulated CPU", "cpus": 4, "sockets": 1, "cores": 4, "mhz": "2400.000", "hvm": "1"}
    });
    if service == Service::Pve
        && let Some(o) = v.as_object_mut()
    {
        o.insert("pveversion".into(), json!("pve-manager/9.0.10/0d2b1f5c"));
    }
    v
}

/// Whether the caller has Sys.Audit on the node (the limited user has not).
fn task_auditor(ctx: &Ctx<'_>) -> bool {
    ctx.caller.userid != LIMITED_USER
}

/// pve-manager `PVE/API2/Tasks.pm` `$check_task_user`: a user owns their tasks and their
/// tokens' tasks; a token only its own.
fn owns_task(authid: &str, task_user: &str) -> bool {
    task_user == authid || (!authid.contains('!') && task_user.split('!').next() == Some(authid))
}

/// `GET /nodes/{node}/tasks` as the products answer it. PVE (pve-manager
/// `PVE/API2/Tasks.pm` `node_tasks`): `source` defaults to `archive` (finished tasks only),
/// `active` lists the running ones (status `RUNNING`), `all` both, active first; `limit`
/// defaults to 50 and `0` lists nothing; `total` counts every task the filters let through;
/// `since`/`until` compare the start time. PBS (`src/api2/node/tasks.rs` `list_tasks`): no
/// `source` (running and finished by default, `running=1` for running only), `limit=0` is no
/// limit, `total` is the count so far plus one while a page is full. Without Sys.Audit a
/// caller sees its own tasks (a token only its own).
fn task_list(ctx: &mut Ctx<'_>, node: &str, pbs: bool) -> ApiResult {
    if pbs && ctx.param("source").is_some() {
        return Err(ApiErr::params([(
            "source",
            "schema does not allow additional properties",
        )]));
    }
    let source = ctx.param("source").unwrap_or("archive").to_owned();
    if !matches!(source.as_str(), "archive" | "active" | "all") {
        return Err(ApiErr::params([(
            "source",
            format!(
                "value '{source}' does not have a value in the enumeration 'archive, active, all'"
            )
            .as_str(),
        )]));
    }
    let start = ctx.int_param("start")?.unwrap_or(0).max(0) as usize;
    let limit = ctx.int_param("limit")?.unwrap_or(50).max(0) as usize;
    let since = ctx.int_param("since")?;
    let until = ctx.int_param("until")?;
    let vmid = ctx.param("vmid").map(str::to_owned);
    let typefilter = ctx.param("typefilter").map(str::to_owned);
    let userfilter = ctx.param("userfilter").map(str::to_lowercase);
    let errors_only = ctx.param("errors") == Some("1");
    let running_only = pbs && ctx.param("running") == Some("1");
    let statusfilter: Option<Vec<String>> = ctx.param("statusfilter").map(|f| {
        f.split([',', ';', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase)
            .collect()
    });
    let auditor = task_auditor(ctx);
    let authid = ctx.caller.authid.clone();
    let status_type = |t: &crate::state::Task| {
        if t.running() {
            return "unknown";
        }
        match t.exitstatus().as_str() {
            "OK" => "ok",
            s if s.starts_with("WARNINGS: ") => "warning",
            _ => "error",
        }
    };
    let shown = |t: &&crate::state::Task| {
        t.node == node
            && (auditor || owns_task(&authid, &t.user))
            && userfilter
                .as_deref()
                .is_none_or(|f| t.user.to_lowercase().contains(f))
            && typefilter
                .as_deref()
                .is_none_or(|f| if pbs { t.kind.contains(f) } else { t.kind == f })
            && vmid.as_deref().is_none_or(|v| t.id == v)
            && since.is_none_or(|s| t.starttime as i64 >= s)
            && until.is_none_or(|u| t.starttime as i64 <= u)
            && (!running_only || t.running())
            && (!errors_only || status_type(t) != "ok")
            && statusfilter
                .as_ref()
                .is_none_or(|f| !t.running() && f.iter().any(|x| x == status_type(t)))
    };
    // Running tasks first (newest first), then the finished ones, the latest end first.
    let mut running: Vec<&crate::state::Task> = ctx
        .st
        .tasks
        .iter()
        .filter(|t| t.running())
        .filter(shown)
        .collect();
    running.sort_by(|a, b| b.starttime.cmp(&a.starttime).then(b.pid.cmp(&a.pid)));
    let mut ended: Vec<&crate::state::Task> = ctx
        .st
        .tasks
        .iter()
        .filter(|t| !t.running())
        .filter(shown)
        .collect();
    ended.sort_by(|a, b| b.ended.cmp(&a.ended).then(b.pid.cmp(&a.pid)));
    let list: Vec<&crate::state::Task> = match (pbs, source.as_str()) {
        (true, _) | (false, "all") => running.into_iter().chain(ended).collect(),
        (false, "active") => running,
        _ => ended,
    };
    let page_len = if pbs && limit == 0 { usize::MAX } else { limit };
    let items: Vec<Value> = list
        .iter()
        .skip(start)
        .take(page_len)
        .map(|t| {
            let mut o = if pbs {
                json!({"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
                       "starttime": t.starttime, "worker_type": t.kind, "worker_id": t.id, "user": t.user})
            } else {
                json!({"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
                       "starttime": t.starttime, "type": t.kind, "id": t.id, "user": t.user})
            };
            if let Some(obj) = o.as_object_mut() {
                match t.ended {
                    Some(end) => {
                        obj.insert("endtime".into(), json!(end.as_secs()));
                        obj.insert("status".into(), json!(t.exitstatus()));
                    }
                    None if !pbs => {
                        obj.insert("status".into(), json!("RUNNING"));
                    }
                    None => {}
                }
            }
            o
        })
        .collect();
    let total = if pbs {
        start + items.len() + usize::from(!items.is_empty() && items.len() >= page_len)
    } else {
        list.len()
    };
    Ok(Out {
        data: Value::Array(items),
        total: Some(total),
    })
}

fn tasks_route(ctx: &mut Ctx<'_>, node: &str, rest: &[&str]) -> ApiResult {
    let pbs = ctx.shared.config.service == Service::Pbs;
    match (ctx.method, rest) {
        ("GET", []) => task_list(ctx, node, pbs),
        (m, [upid, tail @ ..]) => {
            let upid = *upid;
            let idx = ctx.st.tasks.iter().position(|t| t.upid == upid);
            let Some(idx) = idx else {
                if !upid.starts_with("UPID:") || upid.split(':').count() < 9 {
                    return Err(ApiErr::params([(
                        "upid",
                        format!("unable to parse worker upid '{upid}'").as_str(),
                    )]));
                }
                return Err(ApiErr::params([("upid", "no such task")]));
            };
            // Status, log and stop need Sys.Audit unless the task is the caller's own (as
            // the list does).
            let visible = task_auditor(ctx)
                || ctx
                    .st
                    .tasks
                    .get(idx)
                    .is_some_and(|t| owns_task(&ctx.caller.authid, &t.user));
            if !visible && !tail.is_empty() {
                return Err(ApiErr::new(
                    403,
                    format!("Permission check failed (/nodes/{node}, Sys.Audit)"),
                ));
            }
            match (m, tail) {
                ("GET", []) => Out::data(json!([{"name": "log"}, {"name": "status"}])),
                ("DELETE", []) => {
                    let now = ctx.now;
                    ctx.st.stop_task(upid, now);
                    Out::data(Value::Null)
                }
                ("GET", ["status"]) => {
                    let Some(t) = ctx.st.tasks.get(idx) else {
                        return Err(ApiErr::params([("upid", "no such task")]));
                    };
                    let mut o = json!({"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
                        "starttime": t.starttime, "type": t.kind, "id": t.id, "user": t.user,
                        "status": if t.running() { "running" } else { "stopped" }});
                    if let (false, Some(obj)) = (t.running(), o.as_object_mut()) {
                        obj.insert("exitstatus".into(), json!(t.exitstatus()));
                    }
                    if pbs
                        && t.user.contains('!')
                        && let Some(obj) = o.as_object_mut()
                    {
                        let user = t.user.split('!').next().unwrap_or("").to_owned();
                        obj.insert("tokenid".into(), json!(t.user));
                        obj.insert("user".into(), json!(user));
                    }
                    Out::data(o)
                }
                ("GET", ["log"]) => {
                    let start = ctx.int_param("start")?.unwrap_or(0).max(0) as usize;
                    let limit = ctx.int_param("limit")?.unwrap_or(50).max(0) as usize;
                    let Some(t) = ctx.st.tasks.get(idx) else {
                        return Err(ApiErr::params([("upid", "no such task")]));
                    };
                    let mut lines = t.log(ctx.now);
                    if lines.is_empty() {
                        lines.push("no content".to_owned());
                    }
                    let total = lines.len();
                    let items: Vec<Value> = lines
                        .into_iter()
                        .enumerate()
                        .skip(start)
                        .take(if limit == 0 { usize::MAX } else { limit })
                        .map(|(i, t)| json!({"n": i + 1, "t": t}))
                        .collect();
                    Ok(Out {
                        data: Value::Array(items),
                        total: Some(total),
                    })
                }
                _ => Err(ctx.nyi()),
            }
        }
        _ => Err(ctx.nyi()),
    }
}

fn service_restart(ctx: &mut Ctx<'_>, node: &str, svc: &str) -> ApiResult {
    let user = ctx.caller.authid.clone();
    let upid = ctx.task(NewTask {
        node,
        kind: "srvrestart",
        id: svc,
        user: &user,
        lines: vec![format!("restarting service {svc}")],
        error: None,
        effect: Effect::None,
        lock_vmid: None,
    });
    Out::data(json!(upid))
}

fn pve(ctx: &mut Ctx<'_>, segs: &[&str]) -> ApiResult {
    let m = ctx.method;
    match segs {
        ["version"] if m == "GET" => Out::data(version(Service::Pve)),
        [] if m == "GET" => Out::data(
            json!([{"subdir": "version"}, {"subdir": "cluster"}, {"subdir": "nodes"}, {"subdir": "storage"}, {"subdir": "access"}, {"subdir": "pools"}]),
        ),
        ["nodes"] if m == "GET" => {
            let nodes: Vec<Value> = ctx
                .st
                .nodes
                .iter()
                .map(|n| node_entry(ctx.shared, n))
                .collect();
            Out::data(Value::Array(nodes))
        }
        ["access", "users", userid, "token", name] if m == "POST" => new_token(ctx, userid, name),
        ["cluster", "resources"] if m == "GET" => cluster_resources(ctx),
        ["cluster", "nextid"] if m == "GET" => nextid(ctx),
        // PVE/API2/Cluster.pm `status`: needs Sys.Audit on `/`.
        ["cluster", "status"] if m == "GET" => {
            if ctx.caller.userid == LIMITED_USER {
                return Err(ApiErr::new(403, "Permission check failed (/, Sys.Audit)"));
            }
            let mut out: Vec<Value> = Vec::new();
            if ctx.shared.cluster.len() > 1 {
                out.push(json!({"type": "cluster", "id": "cluster", "name": "sim", "nodes": ctx.shared.cluster.len(), "quorate": 1, "version": ctx.shared.cluster.len()}));
            }
            for (i, n) in ctx.st.nodes.iter().enumerate() {
                let ip = ctx
                    .shared
                    .cluster
                    .get(i)
                    .map_or_else(|| "127.0.0.1".to_owned(), |c| c.addr.ip().to_string());
                let online = node_online(ctx.shared, n);
                out.push(json!({"type": "node", "id": format!("node/{n}"), "name": n, "nodeid": i + 1, "online": i64::from(online), "local": i64::from(i == ctx.local), "ip": ip, "level": ""}));
            }
            Out::data(Value::Array(out))
        }
        ["nodes", node, rest @ ..] => {
            let node = check_node(ctx.shared, ctx.st, node)?;
            pve_node(ctx, &node, rest)
        }
        _ => Err(ctx.nyi()),
    }
}

fn pve_node(ctx: &mut Ctx<'_>, node: &str, rest: &[&str]) -> ApiResult {
    let m = ctx.method;
    match rest {
        [] if m == "GET" => Out::data(
            json!([{"name": "qemu"}, {"name": "lxc"}, {"name": "status"}, {"name": "storage"}, {"name": "tasks"}, {"name": "services"}]),
        ),
        ["status"] if m == "GET" => Out::data(node_status(ctx.shared)),
        ["tasks", tail @ ..] => tasks_route(ctx, node, tail),
        ["services", svc, "restart"] if m == "POST" => service_restart(ctx, node, svc),
        // Consoles (pve-manager `PVE/API2/Nodes.pm`): see `crate::console`.
        ["termproxy"] if m == "POST" => Out::data(crate::console::termproxy(ctx, node, None)?),
        ["vncshell"] if m == "POST" => Out::data(crate::console::vncproxy(ctx, node, None)?),
        ["vncwebsocket"] if m == "GET" => Out::data(crate::console::vncwebsocket(ctx, node, None)?),
        [kind @ ("qemu" | "lxc"), tail @ ..] => {
            let kind = if *kind == "qemu" {
                GuestKind::Qemu
            } else {
                GuestKind::Lxc
            };
            guests(ctx, node, kind, tail)
        }
        ["storage", tail @ ..] => storage(ctx, node, tail),
        _ => Err(ctx.nyi()),
    }
}

/// `POST /access/users/{userid}/token/{tokenid}`: a new API token, usable at once; the answer
/// carries its secret once, as `value` (pve-access-control `src/PVE/API2/User.pm`,
/// generate_token: `full-tokenid`, `info`, `value`). Only for the caller's own user, or root.
fn new_token(ctx: &mut Ctx<'_>, userid: &str, name: &str) -> ApiResult {
    let userid = crate::util::percent_decode(userid, false);
    if ctx.caller.userid != userid && ctx.caller.userid != crate::ROOT_USER {
        return Err(ApiErr::new(
            403,
            format!("Permission check failed (/access/users/{userid}, User.Modify)"),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || name.is_empty()
    {
        return Err(ApiErr::params([(
            "tokenid",
            "invalid format - invalid token name",
        )]));
    }
    let full = format!("{userid}!{name}");
    if ctx.st.tokens.contains_key(&full) {
        return Err(ApiErr::new(500, "Token already exists."));
    }
    // A UUID-shaped secret, derived from the simulator's key (no randomness needed).
    let h = crate::auth::token_secret_for(ctx.shared, &full);
    let value = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    ctx.st.tokens.insert(full.clone(), value.clone());
    let privsep = ctx.param("privsep") != Some("0");
    let comment = ctx.param("comment").unwrap_or("").to_owned();
    Out::data(json!({
        "full-tokenid": full,
        "info": {"privsep": u8::from(privsep), "expire": 0, "comment": comment},
        "value": value,
    }))
}

fn acl_vm(ctx: &Ctx<'_>, vmid: u32) -> Result<(), ApiErr> {
    if ctx.caller.userid != LIMITED_USER {
        return Ok(());
    }
    if vmid != 100 {
        return Err(ApiErr::new(
            403,
            format!("Permission check failed (/vms/{vmid}, VM.Audit)"),
        ));
    }
    if ctx.method != "GET" {
        return Err(ApiErr::new(
            403,
            format!("Permission check failed (/vms/{vmid}, VM.PowerMgmt)"),
        ));
    }
    Ok(())
}

fn acl_sys(ctx: &Ctx<'_>, path: &str, priv_: &str) -> Result<(), ApiErr> {
    if ctx.caller.userid == LIMITED_USER && ctx.method != "GET" {
        return Err(ApiErr::new(
            403,
            format!("Permission check failed ({path}, {priv_})"),
        ));
    }
    Ok(())
}

fn visible(ctx: &Ctx<'_>, vmid: u32) -> bool {
    ctx.caller.userid != LIMITED_USER || vmid == 100
}

fn guest_entry(g: &Guest, now: Duration) -> Value {
    let uptime = if g.running {
        now.saturating_sub(g.started_at).as_secs()
    } else {
        0
    };
    let mut v = json!({
        "vmid": g.vmid, "name": g.name(), "status": if g.running { "running" } else { "stopped" },
        "cpus": g.cpus(), "maxmem": g.maxmem(), "mem": if g.running { g.maxmem() / 2 } else { 0 },
        "maxdisk": 34359738368u64, "disk": 0, "cpu": if g.running { 0.01 } else { 0.0 },
        "uptime": uptime, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0
    });
    if let Some(o) = v.as_object_mut() {
        if g.kind == GuestKind::Lxc {
            o.insert("type".into(), json!("lxc"));
            o.insert("maxswap".into(), json!(536870912u64));
            o.insert("swap".into(), json!(0));
        } else if g.running {
            o.insert("pid".into(), json!(10000 + g.vmid));
            o.insert("qmpstatus".into(), json!("running"));
        } else {
            o.insert("qmpstatus".into(), json!("stopped"));
        }
        if g.config.get("template").map(String::as_str) == Some("1") {
            o.insert("template".into(), json!(1));
        }
    }
    v
}

fn cluster_resources(ctx: &mut Ctx<'_>) -> ApiResult {
    let filter = ctx.param("type").map(str::to_owned);
    if let Some(f) = &filter
        && !["vm", "node", "storage", "sdn", "pool"].contains(&f.as_str())
    {
        return Err(ApiErr::params([(
            "type",
            format!("value '{f}' does not have a value in the enumeration 'vm, storage, node, sdn, pool'").as_str(),
        )]));
    }
    let want = |t: &str| filter.as_deref().is_none_or(|f| f == t);
    let mut out = Vec::new();
    if want("node") {
        for n in &ctx.st.nodes {
            let mut e = node_entry(ctx.shared, n);
            if let Some(o) = e.as_object_mut() {
                o.remove("ssl_fingerprint");
                o.insert("cgroup-mode".into(), json!(2));
            }
            out.push(e);
        }
    }
    if want("vm") {
        for g in ctx.st.guests.values() {
            if !visible(ctx, g.vmid) {
                continue;
            }
            let mut e = guest_entry(g, ctx.now);
            if let Some(o) = e.as_object_mut() {
                o.insert(
                    "id".into(),
                    json!(format!("{}/{}", g.kind.as_str(), g.vmid)),
                );
                o.insert("type".into(), json!(g.kind.as_str()));
                o.insert("node".into(), json!(g.node));
                o.insert("maxcpu".into(), json!(g.cpus()));
                o.remove("cpus");
                o.remove("pid");
                o.remove("qmpstatus");
                o.remove("maxswap");
                o.remove("swap");
                if !o.contains_key("template") {
                    o.insert("template".into(), json!(0));
                }
            }
            out.push(e);
        }
    }
    if want("storage") {
        for n in &ctx.st.nodes {
            // pve-manager `PVE/API2Tools.pm` `extract_storage_stats`: `available` while the
            // node reports the storage's stats, `unknown` otherwise (a node that is down).
            let status = if node_online(ctx.shared, n) {
                "available"
            } else {
                "unknown"
            };
            for s in &ctx.st.storages {
                out.push(json!({
                    "id": format!("storage/{n}/{}", s.name), "type": "storage", "storage": s.name,
                    "node": n, "status": status, "plugintype": s.kind, "content": s.content,
                    "disk": 4294967296u64, "maxdisk": 68719476736u64, "shared": 0
                }));
            }
        }
    }
    Out::data(Value::Array(out))
}

fn nextid(ctx: &mut Ctx<'_>) -> ApiResult {
    if let Some(v) = ctx.int_param("vmid")? {
        if !(100..=999_999_999).contains(&v) {
            return Err(ApiErr::params([(
                "vmid",
                "value must have a minimum value of 100",
            )]));
        }
        if ctx.st.guests.contains_key(&(v as u32)) {
            return Err(ApiErr::params([(
                "vmid",
                format!("VM {v} already exists").as_str(),
            )]));
        }
        return Out::data(json!(v.to_string()));
    }
    let mut id = 100u32;
    while ctx.st.guests.contains_key(&id) {
        id += 1;
    }
    Out::data(json!(id.to_string()))
}

fn conf_path(node: &str, kind: GuestKind, vmid: &str) -> String {
    match kind {
        GuestKind::Qemu => format!("nodes/{node}/qemu-server/{vmid}.conf"),
        GuestKind::Lxc => format!("nodes/{node}/lxc/{vmid}.conf"),
    }
}

fn lock_error(kind: GuestKind, vmid: u32) -> ApiErr {
    let file = match kind {
        GuestKind::Qemu => format!("/var/lock/qemu-server/lock-{vmid}.conf"),
        GuestKind::Lxc => format!("/run/lock/lxc/pve-config-{vmid}.lock"),
    };
    ApiErr::new(500, format!("can't lock file '{file}' - got timeout"))
}

const QEMU_KEYS: &[&str] = &[
    "name",
    "memory",
    "cores",
    "sockets",
    "cpu",
    "ostype",
    "boot",
    "bootdisk",
    "agent",
    "description",
    "tags",
    "bios",
    "machine",
    "balloon",
    "numa",
    "onboot",
    "start",
    "pool",
    "scsihw",
    "vga",
    "efidisk0",
    "tpmstate0",
    "cdrom",
    "ciuser",
    "cipassword",
    "citype",
    "sshkeys",
    "nameserver",
    "searchdomain",
    "archive",
    "storage",
    "unique",
    "force",
    "template",
    "protection",
    "hotplug",
    "kvm",
    "acpi",
    "tablet",
    "localtime",
    "args",
    "hookscript",
    "vmgenid",
    "smbios1",
    "affinity",
    "cpulimit",
    "cpuunits",
    "startup",
    "keyboard",
    "vcpus",
    "freeze",
    "arch",
    "live-restore",
    "bwlimit",
    "meta",
    "rng0",
    "audio0",
    "vmstatestorage",
    "shares",
    "watchdog",
    "ciupgrade",
    "cicustom",
    "migrate_downtime",
    "migrate_speed",
];
const QEMU_INDEXED: &[&str] = &[
    "net", "scsi", "virtio", "ide", "sata", "ipconfig", "serial", "usb", "hostpci", "unused",
    "parallel", "numa", "virtiofs",
];
const LXC_KEYS: &[&str] = &[
    "hostname",
    "ostemplate",
    "memory",
    "swap",
    "cores",
    "rootfs",
    "password",
    "ssh-public-keys",
    "storage",
    "unprivileged",
    "features",
    "start",
    "onboot",
    "pool",
    "description",
    "tags",
    "arch",
    "ostype",
    "nameserver",
    "searchdomain",
    "cmode",
    "console",
    "tty",
    "cpulimit",
    "cpuunits",
    "protection",
    "restore",
    "force",
    "unique",
    "ignore-unpack-errors",
    "hookscript",
    "timezone",
    "startup",
    "template",
    "debug",
    "entrypoint",
    "env",
    "bwlimit",
];
const LXC_INDEXED: &[&str] = &["net", "mp", "dev", "unused"];
const CONTROL_KEYS: &[&str] = &[
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "background_delay",
];
/// Parameters accepted on create that do not end up in the config.
const NOT_IN_CONFIG: &[&str] = &[
    "node",
    "vmid",
    "start",
    "storage",
    "pool",
    "force",
    "unique",
    "archive",
    "ostemplate",
    "password",
    "ssh-public-keys",
    "ignore-unpack-errors",
    "restore",
    "bwlimit",
    "live-restore",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "background_delay",
];
const INT_KEYS: &[&str] = &[
    "cores",
    "sockets",
    "balloon",
    "onboot",
    "numa",
    "template",
    "cpuunits",
    "swap",
    "vcpus",
    "protection",
    "tablet",
    "kvm",
    "acpi",
    "unprivileged",
    "tty",
    "localtime",
];

fn key_known(kind: GuestKind, key: &str) -> bool {
    let (keys, indexed) = match kind {
        GuestKind::Qemu => (QEMU_KEYS, QEMU_INDEXED),
        GuestKind::Lxc => (LXC_KEYS, LXC_INDEXED),
    };
    if keys.contains(&key) || CONTROL_KEYS.contains(&key) {
        return true;
    }
    indexed.iter().any(|p| {
        key.strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Validate guest parameters like the PVE schema (a subset).
fn validate(kind: GuestKind, params: &[(String, String)]) -> Result<(), ApiErr> {
    let mut errs = Map::new();
    for (k, v) in params {
        if !key_known(kind, k) {
            errs.insert(
                k.clone(),
                json!("property is not defined in schema and the schema does not allow additional properties"),
            );
            continue;
        }
        if INT_KEYS.contains(&k.as_str()) && v.parse::<i64>().is_err() {
            errs.insert(
                k.clone(),
                json!(format!("type check ('integer') failed - got '{v}'")),
            );
        }
        if k == "memory" {
            let cur = v.strip_prefix("current=").unwrap_or(v);
            let cur = cur.split(',').next().unwrap_or("");
            if cur.parse::<u64>().is_err() {
                let msg = match kind {
                    GuestKind::Qemu => format!(
                        "invalid format - format error\nmemory.current: type check ('integer') failed - got '{cur}'\n"
                    ),
                    GuestKind::Lxc => format!("type check ('integer') failed - got '{v}'"),
                };
                errs.insert(k.clone(), json!(msg));
            }
        }
        if k == "name" && (v.is_empty() || v.contains(' ') || v.contains('_')) {
            errs.insert(
                k.clone(),
                json!(format!(
                    "invalid format - value does not look like a valid DNS name\n"
                )),
            );
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiErr::param_map(errs))
    }
}

fn parse_vmid(v: &str) -> Result<u32, ApiErr> {
    match v.parse::<u32>() {
        Ok(n) if (100..=999_999_999).contains(&n) => Ok(n),
        Ok(_) => Err(ApiErr::params([(
            "vmid",
            "value must have a minimum value of 100",
        )])),
        Err(_) => Err(ApiErr::params([(
            "vmid",
            format!("type check ('integer') failed - got '{v}'").as_str(),
        )])),
    }
}

fn config_json(g: &Guest) -> Value {
    let mut o = Map::new();
    for (k, v) in &g.config {
        let val = if INT_KEYS.contains(&k.as_str()) || (g.kind == GuestKind::Lxc && k == "memory") {
            v.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(v))
        } else {
            json!(v)
        };
        o.insert(k.clone(), val);
    }
    o.insert("digest".into(), json!(g.digest()));
    Value::Object(o)
}

/// Turn create parameters into a stored config (allocate disks, MACs).
fn build_config(
    kind: GuestKind,
    vmid: u32,
    ctime: u64,
    params: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut disk_no = 0;
    let mut mac_no = 0u32;
    for (k, v) in params {
        if NOT_IN_CONFIG.contains(&k.as_str()) {
            continue;
        }
        let is_disk = ["scsi", "virtio", "ide", "sata", "efidisk", "tpmstate", "mp"]
            .iter()
            .any(|p| k.starts_with(p))
            || k == "rootfs";
        let value = if is_disk {
            let (first, opts) = v.split_once(',').map_or((v.as_str(), ""), |(a, b)| (a, b));
            match first.split_once(':') {
                Some((store, size))
                    if !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    let name = format!("{store}:vm-{vmid}-disk-{disk_no},size={size}G");
                    disk_no += 1;
                    if opts.is_empty() {
                        name
                    } else {
                        format!("{name},{opts}")
                    }
                }
                _ => v.clone(),
            }
        } else if k.starts_with("net") && kind == GuestKind::Qemu {
            let (model, opts) = v.split_once(',').map_or((v.as_str(), ""), |(a, b)| (a, b));
            if model.contains('=') {
                v.clone()
            } else {
                mac_no += 1;
                let mac = format!(
                    "BC:24:11:{:02X}:{:02X}:{:02X}",
                    (vmid >> 8) & 0xff,
                    vmid & 0xff,
                    mac_no & 0xff
                );
                if opts.is_empty() {
                    format!("{model}={mac}")
                } else {
                    format!("{model}={mac},{opts}")
                }
            }
        } else {
            v.clone()
        };
        out.push((k.clone(), value));
    }
    if kind == GuestKind::Qemu {
        let mut order: Vec<&str> = out
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| {
                ["scsi", "virtio", "sata", "ide"]
                    .iter()
                    .any(|p| k.starts_with(p))
            })
            .collect();
        order.extend(
            out.iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| k.starts_with("net")),
        );
        if !order.is_empty() && !out.iter().any(|(k, _)| k == "boot") {
            let boot = format!("order={}", order.join(";"));
            out.push(("boot".into(), boot));
        }
        out.push(("meta".into(), format!("creation-qemu=10.0.2,ctime={ctime}")));
        out.push((
            "smbios1".into(),
            format!("uuid=00000000-0000-4000-8000-{vmid:012}"),
        ));
        out.push((
            "vmgenid".into(),
            format!("11111111-0000-4000-8000-{vmid:012}"),
        ));
    }
    out
}

fn get_guest<'a>(
    st: &'a State,
    node: &str,
    kind: GuestKind,
    vmid_s: &str,
) -> Result<&'a Guest, ApiErr> {
    let vmid = parse_vmid(vmid_s)?;
    match st.guests.get(&vmid) {
        Some(g) if g.kind == kind && g.node == node => Ok(g),
        _ => Err(ApiErr::new(
            500,
            format!(
                "Configuration file '{}' does not exist",
                conf_path(node, kind, vmid_s)
            ),
        )),
    }
}

fn guests(ctx: &mut Ctx<'_>, node: &str, kind: GuestKind, rest: &[&str]) -> ApiResult {
    let m = ctx.method;
    let prefix = if kind == GuestKind::Qemu { "qm" } else { "vz" };
    let what = if kind == GuestKind::Qemu { "VM" } else { "CT" };
    let user = ctx.caller.authid.clone();
    match rest {
        [] if m == "GET" => {
            let list: Vec<Value> = ctx
                .st
                .guests
                .values()
                .filter(|g| g.kind == kind && g.node == node && visible(ctx, g.vmid))
                .map(|g| guest_entry(g, ctx.now))
                .collect();
            Out::data(Value::Array(list))
        }
        [] if m == "POST" => {
            acl_sys(ctx, "/vms", "VM.Allocate")?;
            let Some(vmid_s) = ctx.param("vmid") else {
                return Err(ApiErr::params([(
                    "vmid",
                    "property is missing and it is not optional",
                )]));
            };
            let vmid = match parse_vmid(vmid_s) {
                Ok(v) => v,
                Err(e) => {
                    // Report other bad parameters together with the vmid, like PVE.
                    let mut errs = e.errors.unwrap_or_default();
                    if let Err(more) = validate(kind, ctx.params) {
                        errs.extend(more.errors.unwrap_or_default());
                    }
                    return Err(ApiErr::param_map(errs));
                }
            };
            validate(kind, ctx.params)?;
            if let Some(g) = ctx.st.guests.get(&vmid) {
                return Err(ApiErr::new(
                    500,
                    format!(
                        "unable to create {what} {vmid} - {what} {vmid} already exists on node '{}'",
                        g.node
                    ),
                ));
            }
            if kind == GuestKind::Lxc && ctx.param("ostemplate").is_none() {
                return Err(ApiErr::params([(
                    "ostemplate",
                    "property is missing and it is not optional",
                )]));
            }
            let config = build_config(kind, vmid, ctx.now.as_secs(), ctx.params);
            let start = ctx.param("start") == Some("1");
            ctx.st.guests.insert(
                vmid,
                Guest {
                    vmid,
                    kind,
                    node: node.to_owned(),
                    running: false,
                    started_at: ctx.now,
                    config: config.into_iter().collect(),
                },
            );
            let vmid_s = vmid.to_string();
            let upid = ctx.task(NewTask {
                node,
                kind: &format!("{prefix}create"),
                id: &vmid_s,
                user: &user,
                lines: Vec::new(),
                error: None,
                effect: Effect::Created(vmid),
                lock_vmid: Some(vmid),
            });
            if start && let Some(g) = ctx.st.guests.get_mut(&vmid) {
                g.running = true;
                g.started_at = ctx.now;
            }
            Out::data(json!(upid))
        }
        [vmid_s, tail @ ..] => {
            let vmid = parse_vmid(vmid_s)?;
            // Consoles (qemu-server `PVE/API2/Qemu.pm`, pve-container `PVE/API2/LXC.pm`): they
            // check VM.Console before loading the configuration.
            if let [sub @ ("termproxy" | "vncproxy" | "vncwebsocket" | "spiceproxy")] = tail {
                crate::console::check_guest_console(ctx, vmid)?;
                let g = get_guest(ctx.st, node, kind, vmid_s)?.clone();
                return match (m, *sub) {
                    ("POST", "termproxy") => {
                        Out::data(crate::console::termproxy(ctx, node, Some(&g))?)
                    }
                    ("POST", "vncproxy") => {
                        Out::data(crate::console::vncproxy(ctx, node, Some(&g))?)
                    }
                    ("GET", "vncwebsocket") => {
                        Out::data(crate::console::vncwebsocket(ctx, node, Some(&g))?)
                    }
                    ("POST", "spiceproxy") => Out::data(crate::console::spiceproxy(ctx, &g)?),
                    _ => Err(ctx.nyi()),
                };
            }
            acl_vm(ctx, vmid)?;
            let g = get_guest(ctx.st, node, kind, vmid_s)?.clone();
            let locked = ctx.st.locked(vmid);
            match (m, tail) {
                ("GET", []) => Out::data(
                    json!([{"subdir": "config"}, {"subdir": "status"}, {"subdir": "pending"}]),
                ),
                ("DELETE", []) => {
                    if locked {
                        return Err(lock_error(kind, vmid));
                    }
                    if g.running {
                        return Err(ApiErr::new(
                            500,
                            format!("{what} {vmid} is running - destroy failed"),
                        ));
                    }
                    let upid = ctx.task(NewTask {
                        node,
                        kind: &format!("{prefix}destroy"),
                        id: vmid_s,
                        user: &user,
                        lines: vec![format!(
                            "  Logical volume \"vm-{vmid}-disk-0\" successfully removed."
                        )],
                        error: None,
                        effect: Effect::Destroy(vmid),
                        lock_vmid: Some(vmid),
                    });
                    Out::data(json!(upid))
                }
                ("GET", ["config"]) => Out::data(config_json(&g)),
                ("GET", ["pending"]) => {
                    let list: Vec<Value> = g
                        .config
                        .iter()
                        .map(|(k, v)| json!({"key": k, "value": v}))
                        .collect();
                    Out::data(Value::Array(list))
                }
                ("PUT", ["config"]) | ("POST", ["config"]) => {
                    if m == "POST" && kind == GuestKind::Lxc {
                        return Err(ctx.nyi());
                    }
                    validate(kind, ctx.params)?;
                    if locked {
                        return Err(lock_error(kind, vmid));
                    }
                    if let Some(d) = ctx.param("digest")
                        && d != g.digest()
                    {
                        return Err(ApiErr::new(
                            500,
                            "detected modified configuration - file changed by other user? Try again.",
                        ));
                    }
                    let mut changes: Vec<String> = Vec::new();
                    let deletes: Vec<String> = ctx
                        .param("delete")
                        .map(|d| {
                            d.split([',', ';', ' '])
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default();
                    let sets: Vec<(String, String)> = ctx
                        .params
                        .iter()
                        .filter(|(k, _)| !NOT_IN_CONFIG.contains(&k.as_str()))
                        .cloned()
                        .collect();
                    for (k, _) in &sets {
                        if deletes.contains(k) {
                            return Err(ApiErr::params([(
                                "delete",
                                format!("unable to delete '{k}' - option is also set").as_str(),
                            )]));
                        }
                    }
                    if let Some(gm) = ctx.st.guests.get_mut(&vmid) {
                        for k in &deletes {
                            gm.config.remove(k);
                            changes.push(format!("delete {k}"));
                        }
                        for (k, v) in sets {
                            changes.push(format!("update VM {vmid}: -{k} {v}"));
                            gm.config.insert(k, v);
                        }
                    }
                    if m == "PUT" {
                        return Out::data(Value::Null);
                    }
                    let upid = ctx.task(NewTask {
                        node,
                        kind: "qmconfig",
                        id: vmid_s,
                        user: &user,
                        lines: changes,
                        error: None,
                        effect: Effect::None,
                        lock_vmid: Some(vmid),
                    });
                    Out::data(json!(upid))
                }
                ("GET", ["status"]) => Out::data(
                    json!([{"subdir": "current"}, {"subdir": "start"}, {"subdir": "stop"}, {"subdir": "shutdown"}, {"subdir": "reboot"}]),
                ),
                ("GET", ["status", "current"]) => {
                    let mut v = guest_entry(&g, ctx.now);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("ha".into(), json!({"managed": 0}));
                        if kind == GuestKind::Qemu {
                            // qemu-server: `agent` is 1 when the config enables the agent.
                            o.insert("agent".into(), json!(u8::from(agent_enabled(&g))));
                        }
                    }
                    Out::data(v)
                }
                (
                    "POST",
                    [
                        "status",
                        action @ ("start" | "stop" | "shutdown" | "reboot"),
                    ],
                ) => {
                    if locked {
                        return Err(lock_error(kind, vmid));
                    }
                    let (error, effect) = match *action {
                        "start" if g.running => {
                            (Some(format!("{what} {vmid} already running")), Effect::None)
                        }
                        "start" => (None, Effect::SetRunning(vmid, true)),
                        _ if !g.running => {
                            (Some(format!("{what} {vmid} not running")), Effect::None)
                        }
                        "reboot" => (None, Effect::None),
                        _ => (None, Effect::SetRunning(vmid, false)),
                    };
                    let upid = ctx.task(NewTask {
                        node,
                        kind: &format!("{prefix}{action}"),
                        id: vmid_s,
                        user: &user,
                        lines: Vec::new(),
                        error,
                        effect,
                        lock_vmid: Some(vmid),
                    });
                    if *action == "start"
                        && let Some(gm) = ctx.st.guests.get_mut(&vmid)
                        && !gm.running
                    {
                        gm.started_at = ctx.now;
                    }
                    Out::data(json!(upid))
                }
                (m, ["agent", command]) if kind == GuestKind::Qemu => agent(ctx, &g, m, command),
                _ => Err(ctx.nyi()),
            }
        }
        _ => Err(ctx.nyi()),
    }
}

/// The guest agent of a VM: `exec` (POST, `command` repeated: one word each) and
/// `exec-status` (GET, `pid`); other commands answer `ping`-like empty results. Nothing runs.
///
/// The checks and their order are qemu-server's `PVE/QemuServer/Agent.pm` `agent_available`:
/// no `agent` in the config, then the VM not running; the agent itself always answers here.
/// The exec answer `{"pid": n}` and the status fields are qemu-server's
/// `PVE/API2/Qemu/Agent.pm` (`exec`, `exec-status`).
fn agent(ctx: &mut Ctx<'_>, g: &crate::state::Guest, method: &str, command: &str) -> ApiResult {
    let vmid = g.vmid;
    if !agent_enabled(g) {
        return Err(ApiErr::new(500, "No QEMU guest agent configured"));
    }
    if !g.running {
        return Err(ApiErr::new(500, format!("VM {vmid} is not running")));
    }
    match (method, command) {
        ("POST", "exec") => {
            let argv: Vec<String> = ctx
                .params
                .iter()
                .filter(|(k, _)| k == "command")
                .map(|(_, v)| v.clone())
                .collect();
            if argv.is_empty() {
                return Err(ApiErr::params([(
                    "command",
                    "property is missing and it is not optional",
                )]));
            }
            let pid = ctx.st.next_pid;
            ctx.st.next_pid += 1;
            ctx.st.agent_execs.push((vmid, pid, argv));
            Out::data(json!({ "pid": pid }))
        }
        ("GET", "exec-status") => {
            let pid = ctx.int_param("pid")?.unwrap_or(-1);
            if !ctx
                .st
                .agent_execs
                .iter()
                .any(|(v, p, _)| *v == vmid && i64::from(*p) == pid)
            {
                return Err(ApiErr::new(500, "Agent error: Invalid parameter 'pid'"));
            }
            Out::data(json!({"exited": 1, "exitcode": 0, "out-data": ""}))
        }
        ("POST", "ping") => Out::data(json!({"result": {}})),
        _ => Err(ctx.nyi()),
    }
}

/// Whether the VM's `agent` option enables the agent (`1`, `enabled=1,...`, `1,fstrim...`).
fn agent_enabled(g: &crate::state::Guest) -> bool {
    g.config.get("agent").is_some_and(|a| {
        let first = a.split(',').next().unwrap_or("");
        matches!(
            first.strip_prefix("enabled=").unwrap_or(first),
            "1" | "on" | "yes" | "true"
        )
    })
}

fn storage_entry(s: &crate::state::Storage) -> Value {
    json!({
        "storage": s.name, "type": s.kind, "content": s.content, "active": 1, "enabled": 1,
        "shared": 0, "total": 68719476736u64, "used": 4294967296u64, "avail": 64424509440u64,
        "used_fraction": 0.0625
    })
}

pub(crate) fn storage_supports(st: &State, storage: &str, content: &str) -> Result<(), ApiErr> {
    let s = st
        .storages
        .iter()
        .find(|s| s.name == storage)
        .ok_or_else(|| ApiErr::new(500, format!("storage '{storage}' does not exist")))?;
    if !s.content.split(',').any(|c| c == content) {
        return Err(ApiErr::new(
            500,
            format!("storage '{storage}' does not support content-type '{content}'"),
        ));
    }
    Ok(())
}

fn storage(ctx: &mut Ctx<'_>, node: &str, rest: &[&str]) -> ApiResult {
    let m = ctx.method;
    match rest {
        [] if m == "GET" => {
            let content = ctx.param("content").map(str::to_owned);
            let list: Vec<Value> = ctx
                .st
                .storages
                .iter()
                .filter(|s| {
                    content
                        .as_deref()
                        .is_none_or(|c| s.content.split(',').any(|x| x == c))
                })
                .map(storage_entry)
                .collect();
            Out::data(Value::Array(list))
        }
        [name, tail @ ..] => {
            let Some(s) = ctx.st.storages.iter().find(|s| s.name == *name).cloned() else {
                return Err(ApiErr::new(500, format!("storage '{name}' does not exist")));
            };
            match (m, tail) {
                ("GET", []) => Out::data(
                    json!([{"subdir": "status"}, {"subdir": "content"}, {"subdir": "upload"}, {"subdir": "download-url"}]),
                ),
                ("GET", ["status"]) => Out::data(storage_entry(&s)),
                ("GET", ["content"]) => {
                    let content = ctx.param("content");
                    let vmid = ctx.param("vmid");
                    let mut list: Vec<Value> = s
                        .volumes
                        .iter()
                        .filter(|v| content.is_none_or(|c| v.content == c))
                        .map(|v| json!({"volid": v.volid, "content": v.content, "format": v.format, "size": v.size, "ctime": v.ctime}))
                        .collect();
                    if s.name == "local-lvm" {
                        for g in ctx.st.guests.values() {
                            if vmid.is_some_and(|v| v != g.vmid.to_string()) {
                                continue;
                            }
                            for (k, v) in &g.config {
                                if let Some(vol) = v.split(',').next()
                                    && vol.starts_with("local-lvm:vm-")
                                    && !k.starts_with("unused")
                                {
                                    let c = if g.kind == GuestKind::Lxc {
                                        "rootdir"
                                    } else {
                                        "images"
                                    };
                                    if content.is_none_or(|x| x == c) {
                                        list.push(json!({"volid": vol, "content": c, "format": "raw", "size": 4294967296u64, "vmid": g.vmid}));
                                    }
                                }
                            }
                        }
                    }
                    Out::data(Value::Array(list))
                }
                ("POST", ["download-url"]) => download_url(ctx, node, &s.name),
                _ => Err(ctx.nyi()),
            }
        }
        _ => Err(ctx.nyi()),
    }
}

pub(crate) fn check_extension(content: &str, filename: &str) -> Result<String, ApiErr> {
    let lower = filename.to_ascii_lowercase();
    let ok = match content {
        "iso" => lower.ends_with(".iso") || lower.ends_with(".img"),
        "vztmpl" => [".tar.gz", ".tar.xz", ".tar.zst", ".tgz", ".tar.bz2"]
            .iter()
            .any(|e| lower.ends_with(e)),
        "import" => [".ova", ".qcow2", ".raw", ".vmdk", ".img"]
            .iter()
            .any(|e| lower.ends_with(e)),
        _ => {
            return Err(ApiErr::params([(
                "content",
                format!("value '{content}' does not have a value in the enumeration 'iso, vztmpl, import'").as_str(),
            )]));
        }
    };
    if !ok || filename.contains('/') || filename.is_empty() {
        return Err(ApiErr::params([("filename", "wrong file extension")]));
    }
    let dir = match content {
        "iso" => "iso",
        "vztmpl" => "vztmpl",
        _ => "import",
    };
    Ok(dir.to_owned())
}

pub(crate) const CHECKSUM_ALGOS: [&str; 6] =
    ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

fn download_url(ctx: &mut Ctx<'_>, node: &str, storage: &str) -> ApiResult {
    acl_sys(
        ctx,
        &format!("/storage/{storage}"),
        "Datastore.AllocateTemplate",
    )?;
    let mut errs = Map::new();
    for k in ["url", "content", "filename"] {
        if ctx.param(k).is_none() {
            errs.insert(
                k.into(),
                json!("property is missing and it is not optional"),
            );
        }
    }
    if let Some(a) = ctx.param("checksum-algorithm")
        && !CHECKSUM_ALGOS.contains(&a)
    {
        errs.insert(
            "checksum-algorithm".into(),
            json!(format!("value '{a}' does not have a value in the enumeration 'md5, sha1, sha224, sha256, sha384, sha512'")),
        );
    }
    if ctx.param("checksum").is_some() && ctx.param("checksum-algorithm").is_none() {
        errs.insert(
            "checksum-algorithm".into(),
            json!("'checksum-algorithm' is required when 'checksum' is set"),
        );
    }
    if !errs.is_empty() {
        return Err(ApiErr::param_map(errs));
    }
    let url = ctx.param("url").unwrap_or("").to_owned();
    let content = ctx.param("content").unwrap_or("").to_owned();
    let filename = ctx.param("filename").unwrap_or("").to_owned();
    let dir = check_extension(&content, &filename)?;
    storage_supports(ctx.st, storage, &content)?;
    let mut lines = vec![format!("downloading {url} to {filename}")];
    if let Some(c) = ctx.param("checksum") {
        lines.push(format!(
            "calculated checksum OK ({}: {c})",
            ctx.param("checksum-algorithm").unwrap_or("")
        ));
    }
    let user = ctx.caller.authid.clone();
    let vol = Volume {
        volid: format!("{storage}:{dir}/{filename}"),
        content: content.clone(),
        format: if content == "iso" {
            "iso".into()
        } else {
            "tgz".into()
        },
        size: 1_048_576,
        ctime: ctx.now.as_secs(),
    };
    let upid = ctx.task(NewTask {
        node,
        kind: "download",
        id: storage,
        user: &user,
        lines,
        error: None,
        effect: Effect::AddVolume(storage.to_owned(), vol),
        lock_vmid: None,
    });
    ctx.st.downloads.push(crate::state::DownloadRecord {
        storage: storage.to_owned(),
        params: ctx.params.to_vec(),
        upid: upid.clone(),
    });
    Out::data(json!(upid))
}

fn pbs(ctx: &mut Ctx<'_>, segs: &[&str]) -> ApiResult {
    let m = ctx.method;
    match segs {
        ["version"] if m == "GET" => Out::data(version(Service::Pbs)),
        ["admin", "datastore"] if m == "GET" => {
            let list: Vec<Value> = ctx
                .st
                .datastores
                .iter()
                .map(|d| json!({"store": d, "comment": format!("simulated datastore {d}")}))
                .collect();
            Out::data(Value::Array(list))
        }
        ["admin", "datastore", store, tail @ ..] => {
            if !ctx.st.datastores.iter().any(|d| d == store) {
                return Err(ApiErr::new(
                    400,
                    format!("unable to find datastore '{store}'"),
                ));
            }
            match (m, tail) {
                ("GET", ["status"]) => Out::data(
                    json!({"total": 68719476736u64, "used": 4294967296u64, "avail": 64424509440u64}),
                ),
                ("POST", ["gc"]) => {
                    let user = ctx.caller.authid.clone();
                    let node = ctx.shared.config.service.node();
                    let upid = ctx.task(NewTask {
                        node,
                        kind: "garbage_collection",
                        id: store,
                        user: &user,
                        lines: vec![
                            format!("starting garbage collection on store {store}"),
                            "Start GC phase1 (mark used chunks)".to_owned(),
                            "Start GC phase2 (sweep unused chunks)".to_owned(),
                        ],
                        error: None,
                        effect: Effect::None,
                        lock_vmid: None,
                    });
                    Out::data(json!(upid))
                }
                _ => Err(ctx.nyi()),
            }
        }
        ["nodes"] if m == "GET" => Out::data(json!([{"node": "localhost"}])),
        ["nodes", node, rest @ ..] => {
            let node = check_node(ctx.shared, ctx.st, node)?;
            match rest {
                ["status"] if m == "GET" => Out::data(node_status(ctx.shared)),
                ["tasks", tail @ ..] => tasks_route(ctx, &node, tail),
                ["services", svc, "restart"] if m == "POST" => service_restart(ctx, &node, svc),
                _ => Err(ctx.nyi()),
            }
        }
        _ => Err(ctx.nyi()),
    }
}

fn pmg(ctx: &mut Ctx<'_>, segs: &[&str]) -> ApiResult {
    let m = ctx.method;
    match segs {
        ["version"] if m == "GET" => Out::data(version(Service::Pmg)),
        ["config", "admin"] if m == "GET" => Out::data(json!({
            "dailyreport": 1, "statlifetime": 7, "email": "postmaster@example.invalid",
            "advfilter": 0, "dkim-use-domain": "envelope", "clamav": 1, "custom_check": 0
        })),
        ["config", "mail"] if m == "GET" => Out::data(json!({
            "relay": "smtp.example.invalid", "relayport": 25, "smarthostport": 25,
            "maxsize": 10485760, "int_port": 26, "ext_port": 25, "greylist": 1, "spf": 1,
            "hide_received": 0, "banner": "ESMTP Proxmox"
        })),
        ["config", "domains"] if m == "GET" => {
            Out::data(json!([{"domain": "example.invalid", "comment": "simulated relay domain"}]))
        }
        ["nodes"] if m == "GET" => {
            let node = ctx.shared.config.service.node();
            Out::data(
                json!([{"node": node, "status": "online", "type": "node", "id": format!("node/{node}")}]),
            )
        }
        ["nodes", node, rest @ ..] => {
            let node = check_node(ctx.shared, ctx.st, node)?;
            match rest {
                ["status"] if m == "GET" => Out::data(node_status(ctx.shared)),
                ["tasks", tail @ ..] => tasks_route(ctx, &node, tail),
                ["services", svc, "restart"] if m == "POST" => service_restart(ctx, &node, svc),
                _ => Err(ctx.nyi()),
            }
        }
        _ => Err(ctx.nyi()),
    }
}
