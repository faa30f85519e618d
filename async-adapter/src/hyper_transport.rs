//! The hyper transport: tokio, hyper 1 with hyper-util's pooled client, rustls 0.23 with the
//! ring provider through hyper-rustls. The same TLS configuration as every other rustls 0.23
//! user of the project ([`proxmox_proto::rustls_config::client_config`]): extra CAs, SHA-256
//! pinning, client certificates, the opt-in accept-anything mode.
//!
//! Connections: HTTP/1.1 only, `TCP_NODELAY`, at most `max_in_flight` idle connections kept,
//! dropped after 4 s idle (pveproxy closes them after 5 s). Connecting (TCP, proxy tunnel, TLS)
//! is bounded by the connect timeout. Through a proxy, `https://` targets are reached through
//! an HTTP `CONNECT` tunnel (TLS to the proxy itself when the proxy URL is `https://`), plain
//! `http://` URLs (checksum discovery) are sent to the proxy in absolute form; the proxy's
//! `user:password` goes out as `Proxy-Authorization: Basic`.
//!
//! hyper never reuses a connection whose exchange was abandoned: a connection goes back to the
//! pool only when its response body was read to the end (a dropped body or request closes it).

use crate::TransportSettings;
use crate::transport::{
    BodyStream, BoxFuture, RequestBody, Transport, TransportError, TransportResponse, Upgraded,
    UploadStream,
};
use bytes::Bytes;
use futures_util::Stream;
use http::HeaderValue;
use http::uri::Authority;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use proxmox_proto::flow::{FailureKind, Phase};
use proxmox_proto::options::ProxyOption;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The hyper/tokio transport. Needs a tokio runtime (with the time and I/O drivers enabled)
/// around every call.
#[derive(Clone)]
pub struct HyperTransport {
    client: PooledClient<Timed<HttpsConnector<Connector>>, HyperBody>,
    /// Set when a proxy may be used (for `Proxy-Authorization` on plain-HTTP requests).
    proxy: Option<Arc<Matcher>>,
    /// The `Host` header for the last authority (hyper-util would format it anew for every
    /// request).
    host: Arc<Mutex<Option<(Authority, HeaderValue)>>>,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The proxy matcher holds the proxy password: only say whether there is one.
        f.debug_struct("HyperTransport")
            .field("proxy", &self.proxy.is_some())
            .finish_non_exhaustive()
    }
}

impl HyperTransport {
    pub(crate) fn new(s: &TransportSettings) -> Result<Self, String> {
        let tls = proxmox_proto::rustls_config::client_config(&s.tls)?;
        let mut tcp = HttpConnector::new();
        // The TLS layer above decides the scheme.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let matcher = match &s.proxy {
            ProxyOption::Url(url) => {
                let m = Matcher::builder().all(url.as_str()).build();
                // The matcher ignores a URL it cannot use: refuse it here instead.
                let probe = http::Uri::from_static("https://pve.invalid/");
                let usable = m
                    .intercept(&probe)
                    .is_some_and(|i| matches!(i.uri().scheme_str(), Some("http" | "https")));
                if !usable {
                    return Err("proxy: the URL is not an http:// or https:// proxy".into());
                }
                Some(Arc::new(m))
            }
            // HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (upper or lower case), as curl.
            ProxyOption::FromEnv => Some(Arc::new(Matcher::from_env())),
            _ => None,
        };
        let connector = Connector {
            // TLS to an https:// proxy uses the same configuration as to the server.
            proxy: matcher.as_ref().map(|m| ProxyRoute {
                matcher: Arc::clone(m),
                to_proxy: HttpsConnector::from((tcp.clone(), Arc::clone(&tls))),
            }),
            tcp,
        };
        let connector = Timed {
            inner: HttpsConnector::from((connector, tls)),
            timeout: s.connect_timeout,
        };
        let client = PooledClient::builder(TokioExecutor::new())
            // pveproxy closes idle connections after 5 s: drop ours first.
            .pool_idle_timeout(Duration::from_secs(4))
            .pool_max_idle_per_host(s.max_in_flight.max(1))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            client,
            proxy: matcher,
            host: Arc::default(),
        })
    }

    /// `Host` for this URL: its authority, without the scheme's default port (as hyper-util
    /// writes it).
    fn host_header(&self, uri: &http::Uri) -> Option<HeaderValue> {
        let authority = uri.authority()?;
        let mut cached = self.host.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((a, v)) = cached.as_ref()
            && a == authority
        {
            return Some(v.clone());
        }
        let default_port = match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        };
        // From host and port: never a user-info part of the URL.
        let v = match authority.port_u16() {
            Some(p) if Some(p) != default_port => {
                HeaderValue::from_str(&format!("{}:{p}", authority.host()))
            }
            _ => HeaderValue::from_str(authority.host()),
        }
        .ok()?;
        *cached = Some((authority.clone(), v.clone()));
        Some(v)
    }
}

/// The body of a request: bytes, or a stream of exactly `remaining` more bytes (a stream that
/// ends early or runs long fails the request instead of framing it wrong).
enum HyperBody {
    Full(Option<Bytes>),
    Stream {
        stream: UploadStream,
        remaining: u64,
    },
}

impl Body for HyperBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Full(b) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            Self::Stream { stream, remaining } => {
                let next = ready!(stream.as_mut().poll_next(cx));
                Poll::Ready(match next {
                    None if *remaining == 0 => None,
                    None => Some(Err(format!(
                        "the upload stream ended {remaining} bytes before its announced length"
                    )
                    .into())),
                    Some(Err(e)) => Some(Err(e.into())),
                    Some(Ok(chunk)) => match remaining.checked_sub(chunk.len() as u64) {
                        Some(left) => {
                            *remaining = left;
                            Some(Ok(Frame::data(chunk)))
                        }
                        None => {
                            *remaining = 0;
                            Some(Err(
                                "the upload stream is longer than its announced length".into()
                            ))
                        }
                    },
                })
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            Self::Stream { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

/// The response body as a stream of data chunks (trailers are skipped).
///
/// At the end of the body the stream yields to the executor once before it reports the end:
/// hyper-util hands the connection back to its pool from a task of its own, and a next request
/// made before that task ran would open a second connection instead of reusing this one.
struct IncomingStream {
    body: Incoming,
    yielded_at_end: bool,
}

impl Stream for IncomingStream {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.yielded_at_end {
            // The body is not polled again after its end.
            return Poll::Ready(None);
        }
        loop {
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => {
                    self.yielded_at_end = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Some(Err(e)) => {
                    let timeout = has_timeout(&e);
                    let mut f = crate::transport::failure(
                        format!("reading the response body: {}", chain(&e)),
                        true,
                        timeout,
                        false,
                    );
                    if timeout {
                        f = f.with_kind(FailureKind::Timeout(Phase::Body));
                    }
                    return Poll::Ready(Some(Err(f.with_source(e))));
                }
            }
        }
    }
}

/// A gzip-encoded body, decoded as it arrives. Encoded input is fed in slices of at most
/// 4 KiB and what they decode to is handed over before more is fed, so that one chunk cannot
/// expand without bound (deflate tops out near 1,000:1) before the client counts the output
/// against its body limit.
struct Gunzip {
    inner: IncomingStream,
    /// Encoded bytes received but not fed to the decoder yet.
    pending: Bytes,
    /// `None` once the body ended or failed.
    decoder: Option<flate2::write::GzDecoder<Vec<u8>>>,
}

/// The most encoded bytes fed to the decoder at a time.
const GUNZIP_SLICE: usize = 4 * 1024;

fn corrupt_gzip(e: &std::io::Error) -> TransportError {
    TransportError::maybe_sent(format!("the gzip-encoded response body is corrupt: {e}"))
}

impl Stream for Gunzip {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use std::io::Write;
        let this = &mut *self;
        loop {
            let Some(decoder) = this.decoder.as_mut() else {
                return Poll::Ready(None);
            };
            if !decoder.get_ref().is_empty() {
                let out = std::mem::take(decoder.get_mut());
                return Poll::Ready(Some(Ok(Bytes::from(out))));
            }
            if !this.pending.is_empty() {
                let slice = this.pending.split_to(this.pending.len().min(GUNZIP_SLICE));
                if let Err(e) = decoder.write_all(&slice) {
                    this.decoder = None;
                    return Poll::Ready(Some(Err(corrupt_gzip(&e))));
                }
                continue;
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(chunk)) => this.pending = chunk,
                Some(Err(e)) => {
                    this.decoder = None;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    let Some(decoder) = this.decoder.take() else {
                        return Poll::Ready(None);
                    };
                    return match decoder.finish() {
                        Ok(rest) if rest.is_empty() => Poll::Ready(None),
                        Ok(rest) => Poll::Ready(Some(Ok(Bytes::from(rest)))),
                        Err(e) => Poll::Ready(Some(Err(corrupt_gzip(&e)))),
                    };
                }
            }
        }
    }
}

/// An error and its sources, `: `-separated (hyper's top-level text hides the TLS or I/O
/// cause).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // Some layers repeat their source's text.
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

fn has_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = e.source();
    }
    false
}

fn classify(e: hyper_util::client::legacy::Error) -> TransportError {
    let timeout = has_timeout(&e);
    let mut f = crate::transport::failure(
        proxmox_proto::rustls_config::tls_failure_text(&e).unwrap_or_else(|| chain(&e)),
        // Connecting (TCP, proxy tunnel, TLS) failed: nothing was written. hyper-util itself
        // retries a request whose pooled connection closed before it was written.
        !e.is_connect(),
        timeout,
        proxmox_proto::rustls_config::is_permanent_tls_failure(&e),
    );
    if e.is_connect() {
        f = f.with_kind(match FailureKind::of_error(&e) {
            _ if timeout => FailureKind::Timeout(Phase::Connect),
            Some(k @ (FailureKind::Dns | FailureKind::Tls)) => k,
            _ => FailureKind::Connect,
        });
    } else if timeout {
        f = f.with_kind(FailureKind::Timeout(Phase::Response));
    }
    f.with_source(e)
}

impl HyperTransport {
    /// The request as hyper sends it: `Host`, proxy credentials for plain HTTP, gzip asked
    /// for, the body.
    fn prepare(
        &self,
        request: http::Request<RequestBody>,
    ) -> Result<http::Request<HyperBody>, TransportError> {
        let (mut parts, body) = request.into_parts();
        if parts.uri.scheme().is_none() || parts.uri.authority().is_none() {
            return Err(TransportError::not_sent(
                "bad request: the URL is not absolute",
            ));
        }
        if !parts.headers.contains_key(http::header::HOST)
            && let Some(host) = self.host_header(&parts.uri)
        {
            parts.headers.insert(http::header::HOST, host);
        }
        // A plain-HTTP request through a proxy goes to the proxy itself, which wants the
        // credentials on the request (a tunnel carries them on its CONNECT).
        if parts.uri.scheme() == Some(&http::uri::Scheme::HTTP)
            && let Some(auth) = self
                .proxy
                .as_ref()
                .and_then(|m| m.intercept(&parts.uri))
                .and_then(|i| i.basic_auth().cloned())
        {
            parts
                .headers
                .insert(http::header::PROXY_AUTHORIZATION, auth);
        }
        // PVE compresses big answers when asked (a cluster/resources listing shrinks ~10×).
        if !parts.headers.contains_key(http::header::ACCEPT_ENCODING) {
            parts.headers.insert(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_static("gzip"),
            );
        }
        let body = match body {
            RequestBody::Bytes(b) => HyperBody::Full(Some(b)),
            RequestBody::Stream { stream, length } => HyperBody::Stream {
                stream,
                remaining: length,
            },
        };
        Ok(http::Request::from_parts(parts, body))
    }
}

/// An answer's head, its body stream decoded when gzip.
fn head(resp: http::Response<Incoming>) -> TransportResponse {
    let (parts, body) = resp.into_parts();
    // hyper keeps a non-canonical reason phrase (PVE's error message) in an extension;
    // a canonical one is not stored, and is the standard text.
    let reason = match parts.extensions.get::<hyper::ext::ReasonPhrase>() {
        Some(r) => Some(String::from_utf8_lossy(r.as_bytes()).into_owned()),
        None => parts.status.canonical_reason().map(str::to_owned),
    };
    let mut headers = parts.headers;
    let incoming = IncomingStream {
        body,
        yielded_at_end: false,
    };
    let gzip = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let body: BodyStream = if gzip {
        // Decoded here: the headers then describe the decoded body (no length known).
        headers.remove(http::header::CONTENT_ENCODING);
        headers.remove(http::header::CONTENT_LENGTH);
        Box::pin(Gunzip {
            inner: incoming,
            pending: Bytes::new(),
            decoder: Some(flate2::write::GzDecoder::new(Vec::new())),
        })
    } else {
        Box::pin(incoming)
    };
    TransportResponse {
        status: parts.status.as_u16(),
        reason,
        headers,
        body,
    }
}

impl Transport for HyperTransport {
    fn name(&self) -> &'static str {
        "hyper"
    }

    fn send(
        &self,
        request: http::Request<RequestBody>,
    ) -> BoxFuture<'static, Result<TransportResponse, TransportError>> {
        let response = match self.prepare(request) {
            Ok(req) => self.client.request(req),
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        Box::pin(async move {
            let resp = response.await.map_err(classify)?;
            Ok(head(resp))
        })
    }

    fn upgrade(
        &self,
        request: http::Request<RequestBody>,
    ) -> BoxFuture<'static, Result<(TransportResponse, Option<Upgraded>), TransportError>> {
        let response = match self.prepare(request) {
            Ok(req) => self.client.request(req),
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        Box::pin(async move {
            let mut resp = response.await.map_err(classify)?;
            if resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
                return Ok((head(resp), None));
            }
            let on = hyper::upgrade::on(&mut resp);
            let head = head(resp);
            let upgraded = on
                .await
                .map_err(|e| TransportError::maybe_sent(format!("the upgraded connection: {e}")))?;
            Ok((
                head,
                Some(crate::transport::split_tokio(TokioIo::new(upgraded))),
            ))
        })
    }

    fn has_connect_timeout(&self) -> bool {
        true
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        crate::tokio_rt::sleep(duration)
    }

    fn open_file(&self, path: &Path) -> BoxFuture<'static, std::io::Result<(u64, UploadStream)>> {
        crate::tokio_rt::open_file(path)
    }
}

/// A connection: TCP (direct, or a tunnel through a proxy, possibly over TLS to the proxy).
/// `to_proxy` marks a plain-HTTP request sent to a proxy, which wants the absolute URL.
struct Conn {
    io: MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>,
    to_proxy: bool,
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.to_proxy)
    }
}

/// How to reach a destination through a proxy.
#[derive(Clone)]
struct ProxyRoute {
    matcher: Arc<Matcher>,
    /// TCP, plus TLS when the proxy URL is `https://`.
    to_proxy: HttpsConnector<HttpConnector>,
}

/// Opens the connection below the server's TLS: direct, or through the proxy that the
/// matcher picks for the destination.
#[derive(Clone)]
struct Connector {
    tcp: HttpConnector,
    proxy: Option<ProxyRoute>,
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = Conn;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Conn, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Both inner connectors are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let route = self
            .proxy
            .as_ref()
            .and_then(|p| p.matcher.intercept(&dst).map(|i| (p, i)));
        let Some((route, intercept)) = route else {
            let connecting = self.tcp.call(dst);
            return Box::pin(async move {
                Ok(Conn {
                    io: MaybeHttpsStream::Http(connecting.await?),
                    to_proxy: false,
                })
            });
        };
        let proxy_uri = intercept.uri().clone();
        if !matches!(proxy_uri.scheme_str(), Some("http" | "https")) {
            return Box::pin(std::future::ready(Err(format!(
                "unsupported proxy scheme {:?} (only http:// and https:// proxies)",
                proxy_uri.scheme_str().unwrap_or_default()
            )
            .into())));
        }
        if dst.scheme() == Some(&http::uri::Scheme::HTTP) {
            let connecting = route.to_proxy.clone().call(proxy_uri);
            return Box::pin(async move {
                Ok(Conn {
                    io: connecting.await?,
                    to_proxy: true,
                })
            });
        }
        let mut tunnel = Tunnel::new(proxy_uri, route.to_proxy.clone());
        if let Some(auth) = intercept.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        let connecting = tunnel.call(dst);
        Box::pin(async move {
            Ok(Conn {
                io: connecting.await?,
                to_proxy: false,
            })
        })
    }
}

/// Bounds a whole connect (TCP, proxy tunnel, TLS) by the connect timeout.
#[derive(Clone)]
struct Timed<S> {
    inner: S,
    timeout: Duration,
}

impl<S> tower_service::Service<http::Uri> for Timed<S>
where
    S: tower_service::Service<http::Uri>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(r) => r.map_err(Into::into),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting timed out after {timeout:?}"),
                )
                .into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls the body to its end: the data, or the first error's text.
    fn drain(mut body: HyperBody) -> Result<Vec<u8>, String> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut out = Vec::new();
        loop {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(None) => return Ok(out),
                Poll::Ready(Some(Ok(f))) => out.extend_from_slice(&f.into_data().unwrap()),
                Poll::Ready(Some(Err(e))) => return Err(e.to_string()),
                Poll::Pending => panic!("an in-memory stream is never pending"),
            }
        }
    }

    fn stream(parts: &[&'static [u8]], length: u64) -> HyperBody {
        let chunks: Vec<std::io::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        HyperBody::Stream {
            stream: Box::pin(futures_util::stream::iter(chunks)),
            remaining: length,
        }
    }

    #[test]
    fn a_streamed_body_is_exactly_its_announced_length() {
        let b = stream(&[b"abc", b"", b"de"], 5);
        assert_eq!(b.size_hint().exact(), Some(5));
        assert_eq!(drain(b).unwrap(), b"abcde");
        let short = drain(stream(&[b"abc"], 5)).unwrap_err();
        assert!(short.contains("2 bytes before"), "{short}");
        let long = drain(stream(&[b"abc", b"def"], 5)).unwrap_err();
        assert!(long.contains("longer"), "{long}");
    }

    #[test]
    fn a_whole_body_announces_its_length() {
        let b = HyperBody::Full(Some(Bytes::from_static(b"x=1")));
        assert_eq!(b.size_hint().exact(), Some(3));
        assert!(!b.is_end_stream());
        assert_eq!(drain(b).unwrap(), b"x=1");
        let empty = HyperBody::Full(Some(Bytes::new()));
        assert!(empty.is_end_stream());
        assert_eq!(drain(empty).unwrap(), b"");
    }

    #[test]
    fn the_host_header_drops_only_the_default_port() {
        let t = HyperTransport::new(&TransportSettings {
            tls: Default::default(),
            proxy: ProxyOption::None,
            connect_timeout: Duration::from_secs(1),
            max_in_flight: 1,
        })
        .unwrap();
        for (url, host) in [
            ("https://pve:8006/api2/json/version", "pve:8006"),
            ("https://pve:8006/api2/json/nodes", "pve:8006"),
            ("https://pve:443/x", "pve"),
            ("https://[::1]:8006/x", "[::1]:8006"),
            ("http://mirror/SHA256SUMS", "mirror"),
            ("http://mirror:80/SHA256SUMS", "mirror"),
            ("http://user:pw@mirror:8080/SHA256SUMS", "mirror:8080"),
        ] {
            let v = t.host_header(&url.parse().unwrap()).unwrap();
            assert_eq!(v, host, "{url}");
        }
    }

    #[test]
    fn a_proxy_url_the_matcher_cannot_use_is_refused() {
        let settings = |proxy: &str| TransportSettings {
            tls: Default::default(),
            proxy: ProxyOption::Url(proxy.to_owned()),
            connect_timeout: Duration::from_secs(1),
            max_in_flight: 1,
        };
        assert!(HyperTransport::new(&settings("http://user:pw@proxy:3128")).is_ok());
        let e = HyperTransport::new(&settings("socks5://proxy:1080")).unwrap_err();
        assert!(e.contains("proxy"), "{e}");
    }
}
