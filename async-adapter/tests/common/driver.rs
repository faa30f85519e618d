//! The testbed's catalogue driver over proxmox-async: every step blocks on the backend's
//! runtime (one runtime for the driver's life, so pooled connections stay valid).

use super::host;
use proxmox_async::{Backend, CallOptions, Client, ClientBuilder, Error};
use proxmox_proto::Call;
use proxmox_testbed::catalogue::SurfaceOp;
use proxmox_testbed::{ApiErrorShape, Driver, DriverError};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

enum Rt {
    Tokio(tokio::runtime::Runtime),
    #[cfg(feature = "surf")]
    AsyncStd,
}

impl Rt {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        match self {
            Rt::Tokio(rt) => rt.block_on(f),
            #[cfg(feature = "surf")]
            Rt::AsyncStd => async_std::task::block_on(f),
        }
    }
}

pub struct AsyncDriver {
    backend: Backend,
    host: String,
    ca_pem: String,
    client: Option<Client>,
    rt: Rt,
}

impl AsyncDriver {
    /// A driver for a peer on 127.0.0.1:`port` trusting exactly `ca_pem`.
    pub fn new(backend: Backend, port: u16, ca_pem: &str) -> Self {
        let rt = if super::on_tokio(backend) {
            Rt::Tokio(super::tokio_runtime())
        } else {
            #[cfg(feature = "surf")]
            {
                Rt::AsyncStd
            }
            #[cfg(not(feature = "surf"))]
            unreachable!("unknown backend")
        };
        Self {
            backend,
            host: host(backend, port),
            ca_pem: ca_pem.to_owned(),
            client: None,
            rt,
        }
    }

    fn builder(&self) -> ClientBuilder {
        Client::builder(&self.host)
            .backend(self.backend)
            .ca_pem(self.ca_pem.as_bytes())
            .timeout(Duration::from_secs(30))
    }

    fn login(&mut self, b: ClientBuilder) -> Result<(), DriverError> {
        let c = b
            .build()
            .map_err(|e| DriverError::Transport(e.to_string()))?;
        self.rt.block_on(c.login()).map_err(to_driver)?;
        self.client = Some(c);
        Ok(())
    }

    fn client(&self) -> Result<&Client, DriverError> {
        self.client
            .as_ref()
            .ok_or_else(|| DriverError::Transport("not logged in".into()))
    }
}

fn to_driver(e: Error) -> DriverError {
    if let Some(api) = e.api() {
        return DriverError::Api(ApiErrorShape::from(api));
    }
    match e {
        // A refused login (wrong password, TFA needed or refused) is the server's 401.
        Error::Proto(proxmox_proto::Error::Auth(a)) => DriverError::Api(ApiErrorShape {
            status: 401,
            message: a.to_string(),
            param_errors: Default::default(),
        }),
        other => DriverError::Transport(other.to_string()),
    }
}

/// The first change of resource `id` after the POST `then`, from the client's change-feed
/// `Stream` (the baseline is the stream's first poll; the POST waits for it, and the stream
/// is read alongside). `{"change": null}` when none came within the test bed's poll budget.
async fn first_change(c: &Client, then: &str, id: &str) -> Result<serde_json::Value, Error> {
    use futures_util::StreamExt;
    use proxmox_testbed::surface::{WATCH_INTERVAL, WATCH_POLLS};
    let changes = c
        .watch_resources(WATCH_INTERVAL)
        .filter(|c| std::future::ready(c.as_ref().map_or(true, |c| c.id() == id)));
    let mut changes = std::pin::pin!(changes);
    let act = async {
        // Two intervals: the baseline poll has been made.
        c.sleep(WATCH_INTERVAL * 2).await;
        c.post::<serde_json::Value, _>(then, &()).await.map(drop)
    };
    let limit = c.sleep(WATCH_INTERVAL * WATCH_POLLS);
    let watch = async {
        match futures_util::future::select(changes.next(), limit).await {
            futures_util::future::Either::Left((Some(item), _)) => {
                item.map(|c| serde_json::to_value(&c).unwrap_or_default())
            }
            _ => Ok(serde_json::json!({"change": null})),
        }
    };
    let (seen, acted) = futures_util::future::join(watch, act).await;
    acted?;
    seen
}

impl Driver for AsyncDriver {
    fn surface(&mut self, node: &str, op: &SurfaceOp) -> Result<Value, DriverError> {
        let c = self.client()?;
        let rt = &self.rt;
        let scratch = std::env::temp_dir().join(format!(
            "proxmox-async-catalogue-{}-{}",
            std::process::id(),
            self.host.replace([':', '[', ']'], "_")
        ));
        proxmox_testbed::surface_calls!(
            client: c, node: node, op: op, scratch: &scratch,
            err: to_driver,
            raw: |r| proxmox_testbed::surface::http_data(r.status, &r.body),
            // Boxed: with surf the watch's future is too large for a test thread's stack.
            watch: |then, id| Box::pin(first_change(c, then, id)),
            run: |f| rt.block_on(f),
        )
    }

    fn login_token(&mut self, token_id: &str, secret: &str) -> Result<(), DriverError> {
        let c = self
            .builder()
            .api_token(token_id, secret)
            .build()
            .map_err(|e| DriverError::Transport(e.to_string()))?;
        self.client = Some(c);
        Ok(())
    }

    fn login_password(&mut self, user: &str, password: &str) -> Result<(), DriverError> {
        let b = self.builder().password(user, password);
        self.login(b)
    }

    fn login_tfa(&mut self, user: &str, password: &str, code: &str) -> Result<(), DriverError> {
        let b = self
            .builder()
            .password(user, password)
            .second_factor(proxmox_proto::auth::SecondFactor::totp(code));
        self.login(b)
    }

    fn call(&mut self, call: &Call) -> Result<Value, DriverError> {
        let c = self.client()?;
        // One call means one request: the catalogue checks the server's own answers.
        let opts = CallOptions::default().without_retries();
        self.rt
            .block_on(c.call_envelope::<Value>(call, &opts))
            .map(|e| e.data)
            .map_err(to_driver)
    }

    fn upload(
        &mut self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        data: &[u8],
    ) -> Result<Value, DriverError> {
        let c = self.client()?;
        let content = content
            .parse()
            .map_err(|e| DriverError::Transport(format!("content: {e:?}")))?;
        let bytes = bytes::Bytes::copy_from_slice(data);
        let stream = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
        let upid = self
            .rt
            .block_on(c.upload_stream(
                node,
                storage,
                content,
                filename,
                data.len() as u64,
                stream,
                None,
                |_, _| {},
            ))
            .map_err(to_driver)?;
        Ok(Value::String(upid.to_string()))
    }
}
