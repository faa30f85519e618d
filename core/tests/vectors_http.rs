//! proxmoxer 2.3.0 vectors for the HTTP half of the core, turned into assertions.
//!
//! Data: `core/tests/data/<area>.json`, copied from the shared vector file. A vector marked
//! `same` is asserted as proxmoxer does it; a `differs` vector is asserted as our behaviour
//! (the expectation tables below name each one). Every vector of each area is visited: an
//! unknown name fails the test, so new vectors cannot be silently ignored.

use proxmox_proto::auth::{
    ApiToken, Auth, Login, LoginOutcome, SecondFactor, Session, TicketState,
};
use proxmox_proto::request::RequestBuilder;
use proxmox_proto::response::{api_error, canonical_reason, parse_data};
use proxmox_proto::{
    ApiError, ApiPath, AuthKind, Call, Error, ErrorClass, InputError, Method, Params,
    ProtocolError, Service, Target, TransportKind,
};
use serde_json::Value;
use std::time::Duration;

fn area(name: &str) -> Vec<Value> {
    let text = match name {
        "url_join" => include_str!("data/url_join.json"),
        "navigation" => include_str!("data/navigation.json"),
        "host_base_url" => include_str!("data/host_base_url.json"),
        "api_construction" => include_str!("data/api_construction.json"),
        "token_header" => include_str!("data/token_header.json"),
        "https_request_encoding" => include_str!("data/https_request_encoding.json"),
        "auth_flows" => include_str!("data/auth_flows.json"),
        "https_serializer" => include_str!("data/https_serializer.json"),
        "resource_exception" => include_str!("data/resource_exception.json"),
        "error_mapping" => include_str!("data/error_mapping.json"),
        other => panic!("no data for {other}"),
    };
    serde_json::from_str(text).expect("vector file parses")
}

fn name(v: &Value) -> &str {
    v["name"].as_str().expect("name")
}

fn same(v: &Value) -> bool {
    v["ours"] == "same"
}

/// Join a base URL and a path the way our request builder does.
fn join(base: &str, path: &ApiPath) -> String {
    if path.segments().is_empty() {
        return if base.is_empty() {
            "/".into()
        } else {
            base.into()
        };
    }
    format!("{}{}", base.trim_end_matches('/'), path.encoded())
}

#[test]
fn url_join() {
    for v in area("url_join") {
        let base = v["input"]["base"].as_str().unwrap();
        let segs: Vec<&str> = v["input"]["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let built = segs.iter().try_fold(ApiPath::root(), |p, s| p.literal(s));
        let ours = built.as_ref().map(|p| join(base, p));
        match name(&v) {
            "all_segments_fragment_preserved" => {
                // A base with a query or fragment cannot be built at all.
                assert!(Target::parse(Service::Pve, "www.example.com#div1").is_err());
                let t = Target::parse(Service::Pve, "www.example.com").unwrap();
                assert!(t.with_path_prefix("base#div1?search=query").is_err());
            }
            "dotdot_not_normalized" => assert!(built.is_err(), "'..' must be refused"),
            "empty_segment_adds_slash" => assert_eq!(ours.unwrap(), "https://www.example.com:80"),
            "empty_last_segment_trailing_slash" => {
                assert_eq!(ours.unwrap(), "https://h:8006/api2/json/nodes")
            }
            "leading_slash_segment_resets_path" => {
                assert_eq!(ours.unwrap(), "https://h:8006/api2/json/nodes")
            }
            "later_absolute_segment_resets" => {
                assert_eq!(ours.unwrap(), "https://h:8006/api2/json/nodes/abs")
            }
            "space_not_encoded_at_join" => {
                // Values are encoded when the path is built.
                let p = ApiPath::root().value("a b").unwrap();
                assert_eq!(join(base, &p), "https://h:8006/api2/json/a%20b");
            }
            n if same(&v) => assert_eq!(ours.unwrap(), v["expected"].as_str().unwrap(), "{n}"),
            n => panic!("unhandled differs vector {n}"),
        }
    }
}

/// Apply proxmoxer-style navigation steps to our path model: `attr` and string `call`s are
/// literals; list `call`s are values (one segment each); `null`/empty add nothing.
fn navigate(steps: &[Value]) -> Result<(ApiPath, Option<(Method, Params)>), InputError> {
    let mut p = ApiPath::root();
    let mut verb = None;
    for s in steps {
        if let Some(a) = s.get("attr") {
            p = p.literal(a.as_str().unwrap())?;
        } else if let Some(c) = s.get("call") {
            p = match c {
                Value::Null => p,
                Value::String(s) => p.literal(s)?,
                Value::Number(n) => p.value(n)?,
                Value::Array(items) => items.iter().try_fold(p, |p, i| match i {
                    Value::String(s) => p.value(s),
                    other => p.value(other),
                })?,
                other => panic!("call with {other}"),
            };
        } else if let Some(m) = s.get("method") {
            for a in s
                .get("args")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(a) = a.as_str() {
                    p = p.literal(a)?;
                }
            }
            let method = match m.as_str().unwrap() {
                "get" => Method::Get,
                "post" => Method::Post,
                "put" => Method::Put,
                "delete" => Method::Delete,
                other => panic!("verb {other}"),
            };
            let params = match s.get("kwargs") {
                Some(k) => Params::from_serialize(k)?,
                None => Params::new(),
            };
            verb = Some((method, params));
        }
    }
    Ok((p, verb))
}

fn json_params(v: &Value) -> Params {
    match v {
        Value::Null => Params::new(),
        other => Params::from_serialize(other).unwrap(),
    }
}

#[test]
fn navigation() {
    for v in area("navigation") {
        let base = v["input"]["base_url"].as_str().unwrap();
        let steps = v["input"]["steps"].as_array().unwrap();
        let n = name(&v);
        if n == "bytes_resource_id_raises" {
            continue; // not applicable in Rust: path values are strings
        }
        let (path, verb) = navigate(steps).unwrap_or_else(|e| panic!("{n}: {e}"));
        let url = join(base, &path);
        let expected_url = match n {
            "list_element_with_slash_not_split" => "https://h:8006/api2/json/nodes/pve%2Fx",
            "list_element_leading_slash_resets_path" => "https://h:8006/api2/json/%2Fnodes",
            "get_arg_none_becomes_literal_None" | "get_arg_empty_string_adds_trailing_slash" => {
                "https://h:8006/api2/json/nodes"
            }
            _ if same(&v) => v["expected"]["url"].as_str().unwrap(),
            _ => panic!("unhandled differs vector {n}"),
        };
        assert_eq!(url, expected_url, "{n}");
        if let Some((method, params)) = verb {
            let exp = &v["expected"];
            assert_eq!(method.to_string(), exp["method"].as_str().unwrap(), "{n}");
            let expected_params = if method.params_in_query() {
                &exp["params"]
            } else {
                &exp["data"]
            };
            assert_eq!(params, json_params(expected_params), "{n}");
        }
    }
    // The literal form of the leading-slash case keeps /api2/json.
    let p = ApiPath::parse("/nodes").unwrap();
    assert_eq!(
        join("https://h:8006/api2/json", &p),
        "https://h:8006/api2/json/nodes"
    );
}

#[test]
fn host_base_url() {
    for v in area("host_base_url") {
        let n = name(&v);
        let i = &v["input"];
        let service: Service = i
            .get("service")
            .and_then(Value::as_str)
            .unwrap_or("PVE")
            .parse()
            .unwrap();
        let build = || -> Result<String, InputError> {
            let mut t = Target::parse(service, i["host"].as_str().unwrap())?;
            match i.get("port") {
                Some(Value::Number(p)) => t = t.with_port(p.as_u64().unwrap() as u16)?,
                Some(Value::String(p)) => t = t.with_port(p.parse().unwrap())?,
                _ => {}
            }
            if let Some(pre) = i.get("path_prefix").and_then(Value::as_str) {
                t = t.with_path_prefix(pre)?;
            }
            Ok(t.base_url())
        };
        match n {
            "non_numeric_inline_port_dropped_uses_kwarg"
            | "empty_inline_port"
            | "ip6_bracketed_empty_port"
            | "three_colon_parts_treated_as_ipv6"
            | "port_zero_falls_back_to_default" => {
                assert!(build().is_err(), "{n} must be an error")
            }
            "empty_path_prefix_double_slash" => {
                assert_eq!(build().unwrap(), "https://1.2.3.4:8006/api2/json")
            }
            "path_prefix_with_slashes_verbatim" => {
                assert_eq!(build().unwrap(), "https://1.2.3.4:8006/a/b/api2/json")
            }
            _ if same(&v) => assert_eq!(build().unwrap(), v["expected"].as_str().unwrap(), "{n}"),
            _ => panic!("unhandled differs vector {n}"),
        }
    }
}

#[test]
fn api_construction() {
    for v in area("api_construction") {
        let n = name(&v);
        let i = &v["input"];
        match n {
            "init_basic_case_insensitive"
            | "repr_https"
            | "get_tokens_https_token_auth"
            | "cert_tuple" => {
                let service: Service = i
                    .get("service")
                    .and_then(Value::as_str)
                    .unwrap_or("pve")
                    .parse()
                    .unwrap();
                let t = Target::parse(service, i["host"].as_str().unwrap()).unwrap();
                assert_eq!(
                    t.base_url(),
                    v["expected"]["base_url"].as_str().unwrap(),
                    "{n}"
                );
                assert!(service.check(TransportKind::Https, AuthKind::Token).is_ok());
            }
            "invalid_backend_for_service" => {
                let e = Service::Pbs
                    .check(TransportKind::LocalShell, AuthKind::Shell)
                    .unwrap_err();
                assert!(e.to_string().starts_with("PBS does not support"), "{e}");
            }
            "pmg_token_not_supported" => {
                let e = Service::Pmg
                    .check(TransportKind::Https, AuthKind::Token)
                    .unwrap_err();
                assert_eq!(
                    e.to_string(),
                    "PMG does not support API token authentication"
                );
            }
            "no_credentials" => {
                assert!(
                    Service::Pve
                        .check(TransportKind::Https, AuthKind::Shell)
                        .is_err()
                );
            }
            "mode_not_json_assertion" => {
                // No mode option: the base is always /api2/json.
                assert!(
                    Target::parse(Service::Pve, "h")
                        .unwrap()
                        .base_url()
                        .ends_with("/api2/json")
                );
            }
            "repr_local" | "repr_openssh" | "repr_paramiko" | "https_missing_host" => {
                assert!(
                    v["ours"].as_str().unwrap().contains("not applicable"),
                    "{n}"
                );
            }
            other => panic!("unhandled vector {other}"),
        }
    }
}

#[test]
fn token_header() {
    for v in area("token_header") {
        let i = &v["input"];
        let t = ApiToken::from_parts(
            i["user"].as_str().unwrap(),
            i["token_name"].as_str().unwrap(),
            i["token_value"].as_str().unwrap(),
        )
        .unwrap();
        let service: Service = i["service"].as_str().unwrap().parse().unwrap();
        assert_eq!(v["expected"]["header"], "Authorization");
        assert_eq!(
            t.header_value(service).unwrap(),
            v["expected"]["value"].as_str().unwrap(),
            "{}",
            name(&v)
        );
        // The same value lands in the request.
        let rb = RequestBuilder::new(Target::parse(service, "1.2.3.4").unwrap());
        let r = rb
            .build(&Call::get("nodes").unwrap(), Some(&Auth::Token(t)))
            .unwrap();
        assert_eq!(
            r.headers()["authorization"],
            v["expected"]["value"].as_str().unwrap()
        );
    }
}

fn rb_1234() -> RequestBuilder {
    RequestBuilder::new(Target::parse(Service::Pve, "1.2.3.4").unwrap())
}

#[test]
fn https_request_encoding() {
    for v in area("https_request_encoding") {
        let n = name(&v);
        let i = &v["input"];
        let build = |method: Method, path: &str, params: &Value| {
            let call = Call::new(method, path)
                .unwrap()
                .with_params(json_params(params));
            rb_1234().build(&call, None).unwrap()
        };
        match n {
            "get_no_params"
            | "post_empty"
            | "agent_exec_string_shlex_split"
            | "monitor_command_not_split" => {
                let method = if i["method"] == "GET" {
                    Method::Get
                } else {
                    Method::Post
                };
                let params = if method == Method::Get {
                    &i["params"]
                } else {
                    &i["data"]
                };
                let r = build(method, i["path"].as_str().unwrap(), params);
                let e = &v["expected"];
                assert_eq!(r.uri().to_string(), e["url"].as_str().unwrap(), "{n}");
                let body =
                    (!r.body().is_empty()).then(|| String::from_utf8(r.body().to_vec()).unwrap());
                assert_eq!(body.as_deref(), e["body"].as_str(), "{n}");
                assert_eq!(
                    r.headers().get("content-type").map(|h| h.to_str().unwrap()),
                    e["content_type"].as_str(),
                    "{n}"
                );
                assert_eq!(
                    r.headers()
                        .get("content-length")
                        .map(|h| h.to_str().unwrap()),
                    e["content_length"].as_str(),
                    "{n}"
                );
            }
            "get_params_types" => {
                // serde_json sorts object keys, so the vector's input order is spelled out here.
                assert_eq!(i["params"]["full"], true);
                let params = Params::new()
                    .with("full", true)
                    .with("x", None::<&str>)
                    .with("n", 1)
                    .with("l", vec!["a", "b"])
                    .with("s", "a b&c=\u{fc}");
                let call = Call::get(i["path"].as_str().unwrap())
                    .unwrap()
                    .with_params(params);
                let r = rb_1234().build(&call, None).unwrap();
                assert_eq!(
                    r.uri().to_string(),
                    "https://1.2.3.4:8006/api2/json/nodes/pve/qemu?full=1&n=1&l=a&l=b&s=a+b%26c%3D%C3%BC"
                );
            }
            "post_form_types" => {
                assert_eq!(i["data"]["skiplock"], false);
                let params = Params::new()
                    .with("timeout", 30)
                    .with("skiplock", false)
                    .with("x", None::<&str>)
                    .with("l", vec!["a", "b"])
                    .with("s", "a b");
                let call = Call::post(i["path"].as_str().unwrap())
                    .unwrap()
                    .with_params(params);
                let r = rb_1234().build(&call, None).unwrap();
                assert_eq!(r.body(), b"timeout=30&skiplock=0&l=a&l=b&s=a+b");
                assert_eq!(r.headers()["content-length"], "35");
            }
            "default_headers_token_auth" => {
                let t = ApiToken::from_parts("root@pam", "tok", "abc-123").unwrap();
                let r = rb_1234()
                    .build(&Call::get("nodes").unwrap(), Some(&Auth::Token(t)))
                    .unwrap();
                assert_eq!(
                    r.headers()["authorization"],
                    "PVEAPIToken=root@pam!tok=abc-123"
                );
                assert_eq!(r.headers()["accept"], "application/json");
                assert!(
                    r.headers()["user-agent"]
                        .to_str()
                        .unwrap()
                        .starts_with("proxmox-proto/")
                );
            }
            "accept_types" => {
                let r = rb_1234().build(&Call::get("nodes").unwrap(), None).unwrap();
                assert_eq!(r.headers()["accept"], "application/json");
            }
            "session_data_on_get_form_body"
            | "session_exec_command_string"
            | "session_monitor_command_list_repeated_keys" => {
                let url = i["url"].as_str().unwrap();
                let path = url.strip_prefix("https://1.2.3.4:1234/api2/json/").unwrap();
                let r = build(Method::Get, path, &i["data"]);
                assert!(r.body().is_empty(), "{n}: a GET never carries a body");
                let query = r.uri().query().unwrap().to_owned();
                let expected = match n {
                    "session_data_on_get_form_body" => "key=value",
                    "session_exec_command_string" => "command=echo&command=hello&command=world",
                    _ => "command=info&command=block",
                };
                assert_eq!(query, expected, "{n}");
            }
            // Upload framing is covered by the files tests (upload module).
            "upload_bytesio_no_filename"
            | "session_streaming_file_multipart"
            | "session_too_large_without_toolbelt"
            | "session_too_large_with_toolbelt_streams"
            | "session_explicit_files_kwarg_filename_from_key" => {
                assert!(!same(&v), "{n}");
            }
            other => panic!("unhandled vector {other}"),
        }
    }
}

// ---- auth flows against the vectors' mock /access/ticket, with real-shaped tickets ----------

const T0: u64 = 0x6500_0000;

fn real_ticket(service: Service, placeholder: &str) -> String {
    let p = service.ticket_prefix();
    match placeholder {
        "ticket" => format!("{p}:user:{T0:08X}::dGlja2V0"),
        "new_ticket" => format!("{p}:user:{:08X}::bmV3", T0 + 3700),
        "otp_ticket" => {
            format!("{p}:!tfa!%7B%22totp%22%3Atrue%2C%22recovery%22%3A%5B0%5D%7D:{T0:08X}::b3Rw")
        }
        other => panic!("placeholder {other}"),
    }
}

/// The mock server of `meta.auth_mock_server`.
fn mock_ticket_endpoint(service: Service, form: &Params) -> (u16, String) {
    let user = form.get("username").unwrap_or("");
    let reply = |t: &str, csrf: &str| {
        (
            200,
            format!(
                r#"{{"data":{{"username":"{user}","ticket":"{}","CSRFPreventionToken":"{csrf}"}}}}"#,
                real_ticket(service, t)
            ),
        )
    };
    if user == "bad_auth" {
        return (401, r#"{"data":null}"#.into());
    }
    if let Some(ch) = form.get("tfa-challenge") {
        if ch == real_ticket(service, "otp_ticket") && form.get("password") == Some("totp:123456") {
            return reply("new_ticket", "CSRFPreventionToken_2");
        }
        return (401, r#"{"data":null}"#.into());
    }
    if user == "otp" {
        return (
            200,
            format!(
                r#"{{"data":{{"username":"otp","ticket":"{}","CSRFPreventionToken":"CSRFPreventionToken","NeedTFA":1}}}}"#,
                real_ticket(service, "otp_ticket")
            ),
        );
    }
    if form.get("password") == Some(real_ticket(service, "ticket").as_str()) {
        return reply("new_ticket", "CSRFPreventionToken_2");
    }
    reply("ticket", "CSRFPreventionToken")
}

/// What went on the wire for one API request: method, URL, Cookie, CSRF, Authorization.
type ApiRequest = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

struct Recorded {
    ticket_requests: Vec<(String, String)>,
    api_requests: Vec<ApiRequest>,
}

fn send_ticket(rb: &RequestBuilder, call: &Call, rec: &mut Recorded) -> (u16, String) {
    let r = rb.build(call, None).unwrap();
    let form = String::from_utf8(r.body().to_vec()).unwrap();
    rec.ticket_requests
        .push((r.uri().to_string(), form.clone()));
    mock_ticket_endpoint(rb.target().service(), &Params::from_form(&form).unwrap())
}

fn header<B>(r: &http::Request<B>, h: &str) -> Option<String> {
    r.headers().get(h).map(|v| v.to_str().unwrap().to_owned())
}

/// Run the vector's actions through our state machines and record what would go on the wire.
fn run_auth_flow(v: &Value) -> Result<(Recorded, Option<Session>), Error> {
    let kw = &v["input"]["ProxmoxAPI_kwargs"];
    let service: Service = kw
        .get("service")
        .and_then(Value::as_str)
        .unwrap_or("PVE")
        .parse()
        .unwrap();
    let rb = RequestBuilder::new(Target::parse(service, kw["host"].as_str().unwrap()).unwrap());
    let mut rec = Recorded {
        ticket_requests: vec![],
        api_requests: vec![],
    };
    let mut now = Duration::from_secs(T0 + 10);
    let auth = if let Some(tok) = kw.get("token_name") {
        Auth::Token(ApiToken::from_parts(
            kw["user"].as_str().unwrap(),
            tok.as_str().unwrap(),
            kw["token_value"].as_str().unwrap(),
        )?)
    } else {
        let login = Login::new(
            service,
            kw["user"].as_str().unwrap(),
            kw["password"].as_str().unwrap(),
        )?;
        let (status, body) = send_ticket(&rb, &login.request(), &mut rec);
        let session = match login.handle_response(status, None, body.as_bytes())? {
            LoginOutcome::Authenticated(s) => s,
            LoginOutcome::SecondFactor(ch) => {
                let code = kw
                    .get("otp")
                    .and_then(Value::as_str)
                    .ok_or(proxmox_proto::auth::AuthError::SecondFactorRequired)?;
                let step = ch.respond(SecondFactor::totp(code))?;
                let (status, body) = send_ticket(&rb, &step.request(), &mut rec);
                step.handle_response(status, None, body.as_bytes())?
            }
        };
        Auth::Session(session)
    };
    let mut auth = auth;
    for action in v["input"]["actions"].as_array().unwrap() {
        match action.as_str().unwrap() {
            "force_renew" => now = Duration::from_secs(T0 + 3650),
            "reset_renew" => {}
            verb => {
                if let Auth::Session(s) = &auth
                    && s.state(now) == TicketState::Renew
                {
                    let (status, body) = send_ticket(&rb, &s.renewal_request(), &mut rec);
                    auth = Auth::Session(s.handle_renewal(status, None, body.as_bytes())?);
                }
                let call = Call::new(
                    if verb == "get" {
                        Method::Get
                    } else {
                        Method::Post
                    },
                    "nodes",
                )?;
                let r = rb.build(&call, Some(&auth))?;
                rec.api_requests.push((
                    r.method().to_string(),
                    r.uri().to_string(),
                    header(&r, "cookie"),
                    header(&r, "csrfpreventiontoken"),
                    header(&r, "authorization"),
                ));
            }
        }
    }
    let session = match auth {
        Auth::Session(s) => Some(s),
        Auth::Token(_) => None,
    };
    Ok((rec, session))
}

/// Replace placeholder tickets in an expected header by their real-shaped forms.
fn expand(service: Service, s: &str) -> String {
    match s.split_once('=') {
        Some((cookie, t)) if ["ticket", "new_ticket"].contains(&t) => {
            format!("{cookie}={}", real_ticket(service, t))
        }
        _ => s.to_owned(),
    }
}

fn check_recorded(v: &Value, rec: &Recorded, service: Service) {
    let n = name(v);
    let exp = &v["expected"];
    let tr = exp["ticket_requests"].as_array().unwrap();
    assert_eq!(rec.ticket_requests.len(), tr.len(), "{n}: ticket requests");
    for ((url, form), e) in rec.ticket_requests.iter().zip(tr) {
        assert_eq!(url, e["url"].as_str().unwrap(), "{n}");
        let got = Params::from_form(form).unwrap();
        for (k, val) in e["fields"].as_object().unwrap() {
            let val = val.as_str().unwrap();
            let val = if ["ticket", "otp_ticket"].contains(&val) {
                real_ticket(service, val)
            } else {
                val.to_owned()
            };
            assert_eq!(got.get(k), Some(val.as_str()), "{n}: field {k}");
        }
    }
    let ar = exp["api_requests"].as_array().unwrap();
    assert_eq!(rec.api_requests.len(), ar.len(), "{n}: api requests");
    for ((m, url, cookie, csrf, authz), e) in rec.api_requests.iter().zip(ar) {
        assert_eq!(m, e["method"].as_str().unwrap(), "{n}");
        assert_eq!(url, e["url"].as_str().unwrap(), "{n}");
        assert_eq!(
            cookie.clone(),
            e["cookie"].as_str().map(|c| expand(service, c)),
            "{n}: cookie"
        );
        assert_eq!(
            csrf.as_deref(),
            e["CSRFPreventionToken"].as_str(),
            "{n}: csrf"
        );
        assert_eq!(
            authz.as_deref(),
            e["Authorization"].as_str(),
            "{n}: authorization"
        );
    }
}

#[test]
fn auth_flows() {
    for v in area("auth_flows") {
        let n = name(&v);
        match n {
            "pmg_cookie_name"
            | "pbs_cookie_name"
            | "tfa_two_step_success"
            | "token_auth_no_cookie_no_csrf" => {
                let service: Service = v["input"]["ProxmoxAPI_kwargs"]
                    .get("service")
                    .and_then(Value::as_str)
                    .unwrap_or("PVE")
                    .parse()
                    .unwrap();
                let (rec, session) = run_auth_flow(&v).unwrap();
                check_recorded(&v, &rec, service);
                let tokens = &v["expected"]["get_tokens"];
                match session {
                    Some(s) => {
                        assert_eq!(
                            s.ticket().expose(),
                            real_ticket(service, tokens[0].as_str().unwrap())
                        );
                        assert_eq!(s.csrf_token(), tokens[1].as_str());
                    }
                    None => assert!(tokens[0].is_null()),
                }
            }
            "ticket_renewal_reuses_ticket_as_password" => {
                // Ours: renewal completes before the request is built; ticket and CSRF swap together.
                let (rec, session) = run_auth_flow(&v).unwrap();
                assert_eq!(rec.ticket_requests.len(), 2);
                let renewal = Params::from_form(&rec.ticket_requests[1].1).unwrap();
                assert_eq!(
                    renewal.get("password"),
                    Some(real_ticket(Service::Pve, "ticket").as_str())
                );
                let new_cookie =
                    format!("PVEAuthCookie={}", real_ticket(Service::Pve, "new_ticket"));
                assert_eq!(
                    rec.api_requests[0].2.as_deref(),
                    Some(format!("PVEAuthCookie={}", real_ticket(Service::Pve, "ticket")).as_str())
                );
                assert_eq!(rec.api_requests[0].3, None);
                for post in &rec.api_requests[1..] {
                    assert_eq!(post.2.as_deref(), Some(new_cookie.as_str()));
                    assert_eq!(post.3.as_deref(), Some("CSRFPreventionToken_2"));
                }
                let s = session.unwrap();
                assert_eq!(s.csrf_token(), Some("CSRFPreventionToken_2"));
            }
            "get_cookies_pve" => {
                let s = Session::new(
                    Service::Pve,
                    "user",
                    &real_ticket(Service::Pve, "ticket"),
                    None,
                )
                .unwrap();
                assert_eq!(
                    s.cookie_header(),
                    format!("PVEAuthCookie={}", real_ticket(Service::Pve, "ticket"))
                );
            }
            "auth_failure_message" => {
                let login = Login::new(Service::Pve, "bad_auth", "x").unwrap();
                let (status, body) = mock_ticket_endpoint(Service::Pve, &login.request().params);
                let e = login
                    .handle_response(status, None, body.as_bytes())
                    .unwrap_err();
                let api = e.api().expect("structured API error");
                assert_eq!(api.status, 401);
                assert_eq!(api.class, ErrorClass::Unauthorized);
            }
            "otptype_only_on_auth_class" => {
                let login = Login::new(Service::Pve, "otp", "password").unwrap();
                let (status, body) = mock_ticket_endpoint(Service::Pve, &login.request().params);
                let LoginOutcome::SecondFactor(ch) = login
                    .handle_response(status, None, body.as_bytes())
                    .unwrap()
                else {
                    panic!("expected a challenge")
                };
                let step = ch.respond(SecondFactor::recovery("ABCD-1234")).unwrap();
                let req = step.request();
                assert_eq!(req.params.get("username"), Some("otp"));
                assert_eq!(
                    req.params.get("tfa-challenge"),
                    Some(real_ticket(Service::Pve, "otp_ticket").as_str())
                );
                assert_eq!(req.params.get("password"), Some("recovery:ABCD-1234"));
                let (status, body) = mock_ticket_endpoint(Service::Pve, &req.params);
                let e = step
                    .handle_response(status, None, body.as_bytes())
                    .unwrap_err();
                assert!(
                    matches!(
                        e,
                        Error::Auth(proxmox_proto::auth::AuthError::SecondFactorRejected(_))
                    ),
                    "{e:?}"
                );
            }
            "legacy_2_2_0_needtfa_is_error" => {
                let login = Login::new(Service::Pve, "otp", "password").unwrap();
                let (status, body) = mock_ticket_endpoint(Service::Pve, &login.request().params);
                let out = login
                    .handle_response(status, None, body.as_bytes())
                    .unwrap();
                assert!(matches!(out, LoginOutcome::SecondFactor(_)));
            }
            // Python base-class defaults and auth-class selection: not applicable; TLS verification
            // defaults are the adapters' (on by default there).
            "auth_base_defaults"
            | "token_name_empty_string_selects_token_auth"
            | "backend_verify_ssl_default_true" => {}
            other => panic!("unhandled vector {other}"),
        }
    }
}

#[test]
fn https_serializer() {
    for v in area("https_serializer") {
        let body = v["input"]["body_utf8"].as_str().unwrap().as_bytes();
        match name(&v) {
            "loads_not_json" | "loads_not_unicode" => {
                let e = parse_data::<Value>(200, None, body).unwrap_err();
                assert!(
                    matches!(e, Error::Protocol(ProtocolError::InvalidJson { .. })),
                    "{e:?}"
                );
            }
            "loads_errors_pass" => {
                let e = api_error(400, None, body);
                let exp: Vec<String> = serde_json::from_value(v["expected"].clone()).unwrap();
                assert_eq!(e.other_errors, exp);
            }
            "loads_errors_not_json" => {
                let e = api_error(400, None, body);
                assert!(e.param_errors.is_empty() && e.other_errors.is_empty());
                assert_eq!(
                    e.raw_body.as_deref(),
                    Some(v["input"]["body_utf8"].as_str().unwrap())
                );
            }
            other => panic!("unhandled vector {other}"),
        }
    }
}

#[test]
fn resource_exception() {
    for v in area("resource_exception") {
        let a = v["input"]["args"].as_array().unwrap();
        let status = a[0].as_u64().unwrap() as u16;
        let e = ApiError::new(
            status,
            a[1].as_str().unwrap(),
            Some(a[2].as_str().unwrap().to_owned()),
        );
        assert_eq!(
            e.status,
            v["expected"]["status_code"].as_u64().unwrap() as u16
        );
        assert_eq!(e.reason, v["expected"]["status_message"].as_str().unwrap());
        assert_eq!(
            e.message.as_deref().map(str::trim_end),
            v["expected"]["content"].as_str().map(str::trim_end)
        );
        assert!(e.to_string().starts_with(&format!("{status} ")));
    }
}

#[test]
fn error_mapping() {
    for v in area("error_mapping") {
        let n = name(&v);
        let i = &v["input"];
        match n {
            "fail_with_reason_attr" => {
                let r = &i["response"];
                let e = api_error(
                    500,
                    r["reason"].as_str(),
                    r["content_bytes"].as_str().unwrap().as_bytes(),
                );
                assert_eq!(e.reason, "this is the reason");
                assert!(e.param_errors.is_empty());
                assert_eq!(e.raw_body.as_deref(), Some("this is the error"));
            }
            // Command transports: covered by the command-output tests.
            "fail_without_reason_attr" => assert!(!same(&v)),
            "http_400_with_errors" | "http_501_json_without_errors" | "http_304_returns_none" => {
                let status = i["status"].as_u64().unwrap() as u16;
                let e = parse_data::<Value>(
                    status,
                    i["reason"].as_str(),
                    i["body"].as_str().unwrap().as_bytes(),
                )
                .unwrap_err();
                let api = e.api().unwrap();
                assert_eq!(api.status, status);
                assert_eq!(api.reason, i["reason"].as_str().unwrap());
                let class = match status {
                    400 => ErrorClass::BadRequest,
                    501 => ErrorClass::NotFound,
                    _ => ErrorClass::Unexpected,
                };
                assert_eq!(api.class, class, "{n}");
                if status == 400 {
                    assert_eq!(
                        api.param_errors["vmid"],
                        "property is missing and it is not optional"
                    );
                } else {
                    assert!(api.param_errors.is_empty());
                }
            }
            "http_200_data_unwrapped" => {
                let d: Value =
                    parse_data(200, Some("OK"), i["body"].as_str().unwrap().as_bytes()).unwrap();
                assert_eq!(d, v["expected"]["return"]);
            }
            "status_message_table" => {
                for (code, text) in v["expected"].as_object().unwrap() {
                    let code: u16 = code.parse().unwrap();
                    let e = api_error(code, None, b"");
                    match text.as_str() {
                        Some(t) => assert_eq!(canonical_reason(code), t, "{code}"),
                        None => assert_eq!(canonical_reason(code), "", "{code}"),
                    }
                    if (595..=599).contains(&code) {
                        assert_eq!(e.class, ErrorClass::UpstreamUnreachable);
                    }
                    // The server's own reason phrase always wins.
                    assert_eq!(
                        api_error(code, Some("from server"), b"").reason,
                        "from server"
                    );
                }
            }
            other => panic!("unhandled vector {other}"),
        }
    }
}
