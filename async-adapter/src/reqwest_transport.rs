//! The reqwest transport: tokio, hyper, rustls 0.23 with the ring provider.

use crate::TransportSettings;
use crate::transport::{
    BoxFuture, RequestBody, Transport, TransportError, TransportResponse, Upgraded, UploadStream,
};
use futures_util::{StreamExt, TryStreamExt};
use proxmox_proto::options::ProxyOption;
use std::path::Path;
use std::time::Duration;

/// The reqwest/tokio transport. Needs a tokio runtime (with the time driver enabled) around
/// every call.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    pub(crate) fn new(s: &TransportSettings) -> Result<Self, String> {
        let tls =
            std::sync::Arc::unwrap_or_clone(proxmox_proto::rustls_config::client_config(&s.tls)?);
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(s.connect_timeout)
            // pveproxy closes idle connections after 5 s: drop ours first.
            .pool_idle_timeout(Duration::from_secs(4))
            .pool_max_idle_per_host(s.max_in_flight.max(1))
            .http1_only()
            .tcp_nodelay(true);
        match &s.proxy {
            ProxyOption::Url(p) => {
                let proxy = reqwest::Proxy::all(p.as_str()).map_err(|e| format!("proxy: {e}"))?;
                b = b.proxy(proxy);
            }
            // reqwest reads HTTP(S)_PROXY, ALL_PROXY and NO_PROXY by default.
            ProxyOption::FromEnv => {}
            _ => b = b.no_proxy(),
        }
        let client = b
            .build()
            .map_err(|e| format!("cannot build the reqwest client: {e}"))?;
        Ok(Self { client })
    }
}

fn classify(e: reqwest::Error) -> TransportError {
    use proxmox_proto::flow::{FailureKind, Phase};
    // The message chain (reqwest's top-level text hides the TLS or I/O cause).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    let mut f = crate::transport::failure(
        proxmox_proto::rustls_config::tls_failure_text(&e).unwrap_or(message),
        !(e.is_connect() || e.is_builder()),
        e.is_timeout(),
        proxmox_proto::rustls_config::is_permanent_tls_failure(&e),
    );
    if e.is_connect() {
        f = f.with_kind(match FailureKind::of_error(&e) {
            _ if e.is_timeout() => FailureKind::Timeout(Phase::Connect),
            Some(k @ (FailureKind::Dns | FailureKind::Tls)) => k,
            _ => FailureKind::Connect,
        });
    } else if e.is_timeout() {
        f = f.with_kind(FailureKind::Timeout(if e.is_body() {
            Phase::Body
        } else {
            Phase::Response
        }));
    }
    f.with_source(e)
}

/// The request as reqwest sends it.
fn prepare(request: http::Request<RequestBody>) -> Result<reqwest::Request, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let body = match body {
        RequestBody::Bytes(b) => reqwest::Body::from(b),
        RequestBody::Stream { stream, .. } => reqwest::Body::wrap_stream(stream),
    };
    reqwest::Request::try_from(http::Request::from_parts(parts, body))
}

/// The reason phrase: hyper keeps a non-canonical one (PVE's error message) in an extension;
/// a canonical one is not stored, and is the standard text.
fn reason(resp: &reqwest::Response) -> Option<String> {
    match resp.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(r) => Some(String::from_utf8_lossy(r.as_bytes()).into_owned()),
        None => resp.status().canonical_reason().map(str::to_owned),
    }
}

/// An answer's head and its body stream.
fn head(mut resp: reqwest::Response) -> TransportResponse {
    let status = resp.status().as_u16();
    let reason = reason(&resp);
    let headers = std::mem::take(resp.headers_mut());
    let body = resp
        .bytes_stream()
        .map_err(|e| {
            let mut t = classify(e);
            t.may_have_been_sent = true;
            t
        })
        .boxed();
    TransportResponse {
        status,
        reason,
        headers,
        body,
    }
}

impl Transport for ReqwestTransport {
    fn name(&self) -> &'static str {
        "reqwest"
    }

    fn send(
        &self,
        request: http::Request<RequestBody>,
    ) -> BoxFuture<'static, Result<TransportResponse, TransportError>> {
        let req = prepare(request);
        let client = self.client.clone();
        Box::pin(async move {
            let req = req.map_err(|e| TransportError::not_sent(format!("bad request: {e}")))?;
            let resp = client.execute(req).await.map_err(classify)?;
            Ok(head(resp))
        })
    }

    fn has_connect_timeout(&self) -> bool {
        true
    }

    fn upgrade(
        &self,
        request: http::Request<RequestBody>,
    ) -> BoxFuture<'static, Result<(TransportResponse, Option<Upgraded>), TransportError>> {
        let req = prepare(request);
        let client = self.client.clone();
        Box::pin(async move {
            let req = req.map_err(|e| TransportError::not_sent(format!("bad request: {e}")))?;
            let mut resp = client.execute(req).await.map_err(classify)?;
            if resp.status().as_u16() != 101 {
                return Ok((head(resp), None));
            }
            let headers = std::mem::take(resp.headers_mut());
            let reason = reason(&resp);
            let upgraded = resp.upgrade().await.map_err(|e| {
                let mut t = classify(e);
                t.may_have_been_sent = true;
                t
            })?;
            let head = TransportResponse {
                status: 101,
                reason,
                headers,
                body: Box::pin(futures_util::stream::empty()),
            };
            Ok((head, Some(crate::transport::split_tokio(upgraded))))
        })
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        crate::tokio_rt::sleep(duration)
    }

    fn open_file(&self, path: &Path) -> BoxFuture<'static, std::io::Result<(u64, UploadStream)>> {
        crate::tokio_rt::open_file(path)
    }
}
