//! The scenario catalogue through proxmox-ureq, against the simulator and against fakepve
//! (token, password and, on the simulator, TFA logins). Under `CI=true` a missing fakepve
//! fails the test.

use proxmox_proto::Call;
use proxmox_proto::auth::SecondFactor;
use proxmox_proto::task::{TaskOutcome, WaitOptions};
use proxmox_proto::upload::UploadContent;
use proxmox_testbed::catalogue::{Outcome, SurfaceOp};
use proxmox_testbed::{
    ApiErrorShape, Driver, DriverError, FakePve, require_peer, run_catalogue, start_simulator,
};
use proxmox_ureq::{Client, ClientBuilder, Error, UploadChecksum};
use serde_json::Value;
use std::time::Duration;

struct UreqDriver {
    host: String,
    ca_pem: String,
    client: Option<Client>,
    scratch: std::path::PathBuf,
}

impl UreqDriver {
    fn new(base_url: &str, ca_pem: &str) -> Self {
        let host = base_url
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_owned();
        let scratch = std::env::temp_dir().join(format!(
            "proxmox-ureq-catalogue-{}-{}",
            std::process::id(),
            host.replace(':', "_")
        ));
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        Self {
            host,
            ca_pem: ca_pem.to_owned(),
            client: None,
            scratch,
        }
    }

    fn builder(&self) -> ClientBuilder {
        Client::builder(&self.host)
            .ca_pem(self.ca_pem.as_bytes())
            .timeout(Duration::from_secs(30))
    }

    fn client(&self) -> Result<&Client, DriverError> {
        self.client
            .as_ref()
            .ok_or_else(|| DriverError::Transport("not logged in".into()))
    }

    fn install(&mut self, b: ClientBuilder) -> Result<(), DriverError> {
        let c = b.build().map_err(map_err)?;
        self.client = Some(c);
        Ok(())
    }
}

fn map_err(e: Error) -> DriverError {
    match &e {
        Error::Proto(proxmox_proto::Error::Api(api)) => {
            DriverError::Api(ApiErrorShape::from(&**api))
        }
        // A refused login or second factor is what the catalogue calls a 401.
        Error::Proto(proxmox_proto::Error::Auth(a)) => DriverError::Api(ApiErrorShape {
            status: 401,
            message: a.to_string(),
            param_errors: Default::default(),
        }),
        _ => DriverError::Transport(e.to_string()),
    }
}

impl Driver for UreqDriver {
    fn surface(&mut self, node: &str, op: &SurfaceOp) -> Result<Value, DriverError> {
        let c = self.client()?;
        proxmox_testbed::surface_calls!(
            client: c, node: node, op: op, scratch: &self.scratch,
            err: map_err,
            raw: |r| proxmox_testbed::surface::http_data(r.status, &r.body),
            watch: |then, id| proxmox_testbed::surface::first_change(
                c.watch_resources(proxmox_testbed::surface::WATCH_INTERVAL),
                || c.post::<Value, _>(then, &()).map(drop),
                id,
            ),
            run: |f| f,
        )
    }

    fn login_token(&mut self, token_id: &str, secret: &str) -> Result<(), DriverError> {
        let b = self.builder().api_token(token_id, secret);
        self.install(b)
    }

    fn login_password(&mut self, user: &str, password: &str) -> Result<(), DriverError> {
        let b = self.builder().password(user, password);
        self.install(b)?;
        self.client()?.login().map_err(map_err)
    }

    fn login_tfa(&mut self, user: &str, password: &str, code: &str) -> Result<(), DriverError> {
        let b = self
            .builder()
            .password(user, password)
            .second_factor(SecondFactor::totp(code));
        self.install(b)?;
        self.client()?.login().map_err(map_err)
    }

    fn call(&mut self, call: &Call) -> Result<Value, DriverError> {
        self.client()?.call::<Value>(call).map_err(map_err)
    }

    fn attempts_per_call(&self, status: u16) -> u32 {
        // proxmox-ureq retries a GET answered 595/596 up to the core's attempt limit.
        if matches!(status, 595 | 596) {
            proxmox_proto::retry::DEFAULT_MAX_ATTEMPTS
        } else {
            1
        }
    }

    fn upload(
        &mut self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        data: &[u8],
    ) -> Result<Value, DriverError> {
        let content = match content {
            "iso" => UploadContent::Iso,
            "vztmpl" => UploadContent::Vztmpl,
            "import" => UploadContent::Import,
            other => return Err(DriverError::Unsupported(format!("content {other}"))),
        };
        let path = self.scratch.join(filename);
        std::fs::write(&path, data).map_err(|e| DriverError::Transport(e.to_string()))?;
        let upid = self
            .client()?
            .upload_as(
                node,
                storage,
                content,
                &path,
                filename,
                UploadChecksum::None,
                &mut |_, _| {},
            )
            .map_err(map_err)?;
        Ok(Value::String(upid.to_string()))
    }

    fn wait_task(
        &mut self,
        node: &str,
        upid: &str,
        timeout: Duration,
    ) -> Result<Value, DriverError> {
        let parsed: proxmox_proto::Upid = upid
            .parse()
            .map_err(|e| DriverError::Transport(format!("{e}")))?;
        let c = self.client()?;
        let outcome = c
            .wait_task(
                &parsed,
                WaitOptions::default().with_timeout(timeout),
                |_| {},
            )
            .map_err(map_err)?;
        if outcome == TaskOutcome::TimedOut {
            return Err(DriverError::Transport(format!(
                "task {upid} still running after {timeout:?}"
            )));
        }
        c.call::<Value>(
            &Call::get(("nodes", node, "tasks", upid, "status"))
                .map_err(|e| DriverError::Transport(e.to_string()))?,
        )
        .map_err(map_err)
    }
}

impl Drop for UreqDriver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn skipped(report: &proxmox_testbed::catalogue::Report) -> Vec<&str> {
    report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .map(|r| r.name)
        .collect()
}

#[test]
fn catalogue_through_proxmox_ureq_against_the_simulator() {
    let mut sim = start_simulator().expect("simulator");
    let mut driver = UreqDriver::new(&sim.base_url(), sim.ca_pem());
    let report = run_catalogue(&mut driver, &mut sim);
    assert!(skipped(&report).is_empty(), "{report}");
    // `upload_as` (the upload scenario) and `upload` (through the surface).
    assert_eq!(sim.uploads().len(), 2);
}

#[test]
fn catalogue_through_proxmox_ureq_against_fakepve() {
    let Some(mut pve) = require_peer("fakepve", FakePve::start()) else {
        return;
    };
    let mut driver = UreqDriver::new(pve.base_url(), pve.ca_pem());
    let report = run_catalogue(&mut driver, &mut pve);
    // fakepve has no TFA second step, answers unknown paths with 404 (test-peers.md §1.9),
    // cannot cancel a task, serves no checksum mirror and no /cluster/status (nor a whole
    // /cluster/resources for the change feed): exactly those skip.
    let lacking = proxmox_testbed::catalogue::lacking(&pve.profile());
    assert_eq!(lacking.len(), 6, "{lacking:?}");
    assert_eq!(skipped(&report), lacking, "{report}");
}
