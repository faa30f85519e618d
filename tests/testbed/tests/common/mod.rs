//! A minimal catalogue driver over ureq 3 (rustls + ring), until the real adapters land.
//!
//! It verifies the peer's certificate against the PEM the peer hands out, sends PVE's wire
//! format (form bodies, `PVEAuthCookie` + `CSRFPreventionToken` or `PVEAPIToken=`), and parses
//! answers with `proxmox_proto::response`. ureq 3 does not expose the HTTP reason phrase, so
//! error messages come from the body's `message` (both peers send it).

#![allow(dead_code, unreachable_pub)]

use proxmox_proto::{Call, Method, Params};
use proxmox_testbed::{ApiErrorShape, Driver, DriverError};
use serde_json::Value;
use std::time::Duration;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

enum Auth {
    None,
    Token(String),
    Ticket { ticket: String, csrf: String },
}

/// One HTTP answer: status and body.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The parsed JSON body (Null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub struct UreqDriver {
    agent: ureq::Agent,
    base: String,
    auth: Auth,
    /// The `Cookie` name for tickets.
    cookie: &'static str,
}

impl UreqDriver {
    /// A driver for `base_url` (`https://host:port`) trusting exactly `ca_pem`.
    pub fn new(base_url: &str, ca_pem: &str) -> Self {
        let cert = Certificate::from_pem(ca_pem.as_bytes())
            .expect("the peer's certificate PEM parses")
            .to_owned();
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&[cert]))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Self {
            agent: config.into(),
            base: base_url.trim_end_matches('/').to_owned(),
            auth: Auth::None,
            cookie: "PVEAuthCookie",
        }
    }

    /// Raw request (for the shape test): `path` is the encoded path below `/api2/json`.
    pub fn raw(&mut self, method: Method, path: &str, params: &Params) -> Answer {
        self.send(method, path, params).expect("transport works")
    }

    fn send(&mut self, method: Method, path: &str, params: &Params) -> Result<Answer, String> {
        let mut url = format!("{}/api2/json{}", self.base, path);
        let form = params.to_form();
        let with_query = method.params_in_query();
        if with_query && !form.is_empty() {
            url.push('?');
            url.push_str(&form);
        }
        let mut req = http::Request::builder()
            .method(method.as_http())
            .uri(url.as_str())
            .header("Accept", "application/json");
        match &self.auth {
            Auth::None => {}
            Auth::Token(h) => req = req.header("Authorization", h.as_str()),
            Auth::Ticket { ticket, csrf } => {
                req = req.header("Cookie", format!("{}={ticket}", self.cookie));
                if method != Method::Get {
                    req = req.header("CSRFPreventionToken", csrf.as_str());
                }
            }
        }
        let body = if with_query {
            Vec::new()
        } else {
            req = req.header("Content-Type", "application/x-www-form-urlencoded");
            form.into_bytes()
        };
        let req = req.body(body).map_err(|e| e.to_string())?;
        self.run(req)
    }

    fn run(&mut self, req: http::Request<Vec<u8>>) -> Result<Answer, String> {
        let resp = self.agent.run(req).map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = resp.into_body().read_to_vec().map_err(|e| e.to_string())?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    fn data(answer: Answer) -> Result<Value, DriverError> {
        match proxmox_proto::response::parse_data::<Value>(answer.status, None, &answer.body) {
            Ok(v) => Ok(v),
            Err(proxmox_proto::Error::Api(e)) => Err(DriverError::Api(ApiErrorShape::from(&*e))),
            Err(other) => Err(DriverError::Transport(format!(
                "status {}: {other}",
                answer.status
            ))),
        }
    }

    fn ticket_request(&mut self, params: &Params) -> Result<Value, DriverError> {
        let saved = std::mem::replace(&mut self.auth, Auth::None);
        let answer = self.send(Method::Post, "/access/ticket", params);
        self.auth = saved;
        Self::data(answer.map_err(DriverError::Transport)?)
    }

    fn take_ticket(&mut self, data: &Value) -> Result<(), DriverError> {
        let ticket = data.get("ticket").and_then(Value::as_str);
        let csrf = data.get("CSRFPreventionToken").and_then(Value::as_str);
        match (ticket, csrf) {
            (Some(t), Some(c)) => {
                self.auth = Auth::Ticket {
                    ticket: t.to_owned(),
                    csrf: c.to_owned(),
                };
                Ok(())
            }
            _ => Err(DriverError::Transport("login answer without ticket".into())),
        }
    }
}

fn need_tfa(data: &Value) -> bool {
    data.get("NeedTFA")
        .is_some_and(|v| v.as_u64() == Some(1) || v.as_bool() == Some(true))
}

impl Driver for UreqDriver {
    fn login_token(&mut self, token_id: &str, secret: &str) -> Result<(), DriverError> {
        self.auth = Auth::Token(format!("PVEAPIToken={token_id}={secret}"));
        Ok(())
    }

    fn login_password(&mut self, user: &str, password: &str) -> Result<(), DriverError> {
        let params = Params::new()
            .with("username", user)
            .with("password", password);
        let data = self.ticket_request(&params)?;
        if need_tfa(&data) {
            return Err(DriverError::Api(ApiErrorShape {
                status: 401,
                message: "TFA required".into(),
                param_errors: Default::default(),
            }));
        }
        self.take_ticket(&data)
    }

    fn login_tfa(&mut self, user: &str, password: &str, code: &str) -> Result<(), DriverError> {
        let first = Params::new()
            .with("username", user)
            .with("password", password);
        let data = self.ticket_request(&first)?;
        if !need_tfa(&data) {
            return self.take_ticket(&data);
        }
        let challenge = data
            .get("ticket")
            .and_then(Value::as_str)
            .ok_or_else(|| DriverError::Transport("NeedTFA without a ticket".into()))?
            .to_owned();
        let second = Params::new()
            .with("username", user)
            .with("tfa-challenge", challenge)
            .with("password", format!("totp:{code}"));
        let data = self.ticket_request(&second)?;
        self.take_ticket(&data)
    }

    fn call(&mut self, call: &Call) -> Result<Value, DriverError> {
        let params = call
            .wire_params()
            .map_err(|e| DriverError::Transport(e.to_string()))?;
        let answer = self
            .send(call.method, &call.path.encoded(), &params)
            .map_err(DriverError::Transport)?;
        Self::data(answer)
    }

    fn upload(
        &mut self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        data: &[u8],
    ) -> Result<Value, DriverError> {
        let boundary = "----proxmox-testbed-7d3f0c1e";
        let mut body = Vec::new();
        // PVE wants the file part last.
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n{content}\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let path = proxmox_proto::ApiPath::root()
            .literal("nodes")
            .and_then(|p| p.value(node))
            .and_then(|p| p.literal("storage"))
            .and_then(|p| p.value(storage))
            .and_then(|p| p.literal("upload"))
            .map_err(|e| DriverError::Transport(e.to_string()))?;
        let url = format!("{}/api2/json{}", self.base, path.encoded());
        let mut req = http::Request::builder()
            .method("POST")
            .uri(url.as_str())
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("Content-Length", body.len().to_string());
        match &self.auth {
            Auth::None => {}
            Auth::Token(h) => req = req.header("Authorization", h.as_str()),
            Auth::Ticket { ticket, csrf } => {
                req = req
                    .header("Cookie", format!("{}={ticket}", self.cookie))
                    .header("CSRFPreventionToken", csrf.as_str());
            }
        }
        let req = req
            .body(body)
            .map_err(|e| DriverError::Transport(e.to_string()))?;
        let answer = self.run(req).map_err(DriverError::Transport)?;
        Self::data(answer)
    }
}
