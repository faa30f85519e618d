//! The surf transport: async-std, async-h1 and rustls 0.18 (surf's `h1-client-rustls`
//! backend, the only one that builds without OpenSSL).
//!
//! Limits of this backend, each refused with [`crate::Error::Unsupported`] when asked for:
//! no HTTP proxy, and no TLS to an IP-address host (rustls 0.18 only knows DNS names; use a
//! name, e.g. `localhost`). The reason phrase is not kept by async-h1, so error messages come
//! from the body's `message` (PVE and pve-http-server 5.2+ send it). Status codes that
//! http-types 2 does not know (PVE's 595-599 "node unreachable") cannot be read: they come
//! back as a transport error that says so (the request may have been sent).

use crate::TransportSettings;
use crate::transport::{
    BoxFuture, ReadChunk, RequestBody, Transport, TransportError, TransportResponse, UploadStream,
    chunked_reader,
};
use bytes::Bytes;
use futures_util::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};
use futures_util::{Stream, StreamExt, TryStreamExt};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

/// The surf/async-std transport.
pub struct SurfTransport {
    pool: Arc<Pool>,
}

/// The surf client in use. Replaced by a fresh one (a new connection pool) when an exchange is
/// abandoned or the server announces `Connection: close` (pveproxy does after every error),
/// because async-h1's pool would hand such a connection out again. Exchanges under way finish
/// on the old client, whose pool goes away with them.
struct Pool {
    config: surf::Config,
    client: Mutex<surf::Client>,
}

impl Pool {
    fn current(&self) -> surf::Client {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn reset(&self) {
        if let Ok(fresh) = SurfTransport::client(&self.config) {
            *self.client.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        }
    }
}

impl std::fmt::Debug for SurfTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurfTransport").finish_non_exhaustive()
    }
}

impl SurfTransport {
    pub(crate) fn new(s: &TransportSettings) -> Result<Self, String> {
        let tls = crate::tls::legacy_client_config(&s.tls)?;
        let config = surf::Config::new()
            .set_http_keep_alive(true)
            .set_tcp_no_delay(true)
            // Timeouts are applied by the client.
            .set_timeout(None)
            .set_max_connections_per_host(s.max_in_flight.max(1))
            .set_tls_config(Some(Arc::new(tls)));
        let client = Self::client(&config)?;
        Ok(Self {
            pool: Arc::new(Pool {
                config,
                client: Mutex::new(client),
            }),
        })
    }

    fn client(config: &surf::Config) -> Result<surf::Client, String> {
        surf::Client::try_from(config.clone()).map_err(|e| format!("cannot build surf: {e}"))
    }
}

/// A streamed upload body as the `AsyncBufRead + Sync` surf wants (the mutex is never
/// contended: one reader).
struct SyncStream {
    inner: Mutex<UploadStream>,
}

impl Stream for SyncStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.as_mut().poll_next(cx)
    }
}

fn convert(req: http::Request<RequestBody>) -> Result<http_types::Request, TransportError> {
    let (parts, body) = req.into_parts();
    let bad = |m: String| TransportError::not_sent(format!("bad request: {m}"));
    let url = http_types::Url::parse(&parts.uri.to_string()).map_err(|e| bad(e.to_string()))?;
    let method: http_types::Method = parts
        .method
        .as_str()
        .parse()
        .map_err(|e: http_types::Error| bad(e.to_string()))?;
    let mut r = http_types::Request::new(method, url);
    for (name, value) in &parts.headers {
        // The body sets the length; async-h1 writes Host itself.
        if name == http::header::CONTENT_LENGTH || name == http::header::HOST {
            continue;
        }
        let v = value
            .to_str()
            .map_err(|_| bad(format!("header {name} is not ASCII")))?;
        r.append_header(name.as_str(), v);
    }
    let content_type = parts.headers.get(http::header::CONTENT_TYPE).cloned();
    match body {
        RequestBody::Bytes(b) => r.set_body(http_types::Body::from_bytes(Vec::from(b))),
        RequestBody::Stream { stream, length } => {
            let reader = SyncStream {
                inner: Mutex::new(stream),
            }
            .into_async_read();
            let len = usize::try_from(length).map_err(|_| bad("body too long".into()))?;
            r.set_body(http_types::Body::from_reader(reader, Some(len)));
        }
    }
    // `set_body` may have put the body's own MIME type in.
    if let Some(ct) = content_type.and_then(|c| c.to_str().ok().map(str::to_owned)) {
        r.insert_header("content-type", ct);
    }
    Ok(r)
}

/// What the transport says when the server's status code is one http-types 2 cannot
/// represent.
pub(crate) const UNKNOWN_STATUS: &str = "the server answered with a status code that surf \
(http-types 2) cannot represent, such as PVE's 595-599 for an unreachable node; use the \
hyper or reqwest transport to read these answers";

fn classify(e: &surf::Error) -> TransportError {
    let mut message = e.to_string();
    if message == "Invalid status code" {
        message = UNKNOWN_STATUS.to_owned();
    }
    // A connection that could not be made comes out of the pool as "error occured while
    // creating a new object"; I/O errors of kinds that happen before writing are not sent.
    let not_sent = message.contains("while creating a new object")
        || message.contains("while waiting for a slot")
        || e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::InvalidInput
            )
        });
    // rustls 0.18's certificate errors reach surf as text only.
    let permanent = [
        "InvalidCertificate",
        "UnknownIssuer",
        "NoCertificatesPresented",
        "does not match the pinned",
    ]
    .iter()
    .any(|t| message.contains(t));
    let timeout = e
        .downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
    use proxmox_proto::flow::{FailureKind, Phase};
    let kind = if permanent || message.contains("InvalidCertificate") {
        Some(FailureKind::Tls)
    } else if timeout {
        Some(FailureKind::Timeout(if not_sent {
            Phase::Connect
        } else {
            Phase::Unknown
        }))
    } else {
        // surf's error is no std error: read the kind from the I/O error inside, if any.
        e.downcast_ref::<std::io::Error>()
            .and_then(|io| FailureKind::of_error(io))
            .or(not_sent.then_some(FailureKind::Connect))
    };
    let f = crate::transport::failure(message, !not_sent, timeout, permanent);
    match kind {
        Some(k) => f.with_kind(k),
        None => f,
    }
}

struct AsyncStdFile(async_std::fs::File);

impl ReadChunk for AsyncStdFile {
    fn read_chunk<'a>(&'a mut self, buf: &'a mut [u8]) -> BoxFuture<'a, std::io::Result<usize>> {
        Box::pin(self.0.read(buf))
    }
}

/// The body as chunks, each copied out of the reader's own buffer (no buffer of ours to zero
/// per read). async-h1 bounds the reader by `Content-Length` or the chunked framing.
fn body_stream<R: AsyncBufRead + Unpin + Send + 'static>(
    reader: R,
) -> crate::transport::BodyStream {
    futures_util::stream::unfold((reader, false), |(mut r, done)| async move {
        if done {
            return None;
        }
        let chunk = match r.fill_buf().await {
            Ok([]) => return None,
            Ok(buf) => Bytes::copy_from_slice(buf),
            Err(e) => {
                return Some((
                    Err(TransportError::maybe_sent(format!(
                        "reading the response body: {e}"
                    ))),
                    (r, true),
                ));
            }
        };
        r.consume_unpin(chunk.len());
        Some((Ok(chunk), (r, false)))
    })
    .boxed()
}

impl Transport for SurfTransport {
    fn name(&self) -> &'static str {
        "surf"
    }

    fn send(
        &self,
        request: http::Request<RequestBody>,
    ) -> BoxFuture<'static, Result<TransportResponse, TransportError>> {
        let req = convert(request);
        let pool = Arc::clone(&self.pool);
        let client = pool.current();
        Box::pin(async move {
            let req = req?;
            let mut resp = client
                .send(surf::Request::from(req))
                .await
                .map_err(|e| classify(&e))?;
            let status = u16::from(resp.status());
            let mut headers = http::HeaderMap::new();
            for (name, values) in resp.iter() {
                let Ok(n) = http::HeaderName::from_bytes(name.as_str().as_bytes()) else {
                    continue;
                };
                for v in values.iter() {
                    if let Ok(v) = http::HeaderValue::from_str(v.as_str()) {
                        headers.append(n.clone(), v);
                    }
                }
            }
            let closing = headers
                .get_all(http::header::CONNECTION)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.eq_ignore_ascii_case("close")));
            if closing {
                pool.reset();
            }
            let body = resp.take_body();
            Ok(TransportResponse {
                status,
                // async-h1 does not keep the reason phrase.
                reason: None,
                headers,
                body: body_stream(body),
            })
        })
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async_std::task::sleep(duration))
    }

    fn open_file(&self, path: &Path) -> BoxFuture<'static, std::io::Result<(u64, UploadStream)>> {
        let path = path.to_owned();
        Box::pin(async move {
            let f = async_std::fs::File::open(&path).await?;
            let len = f.metadata().await?.len();
            Ok((len, chunked_reader(AsyncStdFile(f), 256 * 1024)))
        })
    }

    fn abandoned(&self) {
        // async-h1's pool takes a connection back when its guard drops, even mid-exchange.
        self.pool.reset();
    }
}
