//! # proxmox-wasm: a Proxmox VE, PMG and PBS client for the browser (and node)
//!
//! Everything protocol-shaped comes from [`proxmox_proto`]; this crate moves bytes over the
//! global `fetch` (found through the global object, so it works in a window, a worker and
//! node 20) and sleeps with `setTimeout`. It has two faces:
//!
//! * a Rust API ([`Client`]) for Rust code compiled to WebAssembly;
//! * a JavaScript API ([`js::ProxmoxClient`]) generated with wasm-bindgen: promises of plain
//!   JSON, errors as JS `Error`s carrying `status`, `statusText`, `errors`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), proxmox_wasm::Error> {
//! // Same origin as the page (the page is served by PVE or by a reverse proxy in front of it).
//! let pve = proxmox_wasm::Client::builder("")
//!     .api_token("dashboard@pve!ro", "8b1c…")
//!     .build()?;
//! let nodes: Vec<serde_json::Value> = pve.get("nodes").await?;
//! let guests: Vec<serde_json::Value> = pve.get_with("cluster/resources", &serde_json::json!({"type": "vm"})).await?;
//! # Ok(()) }
//! ```
//!
//! ## What a browser can and cannot do
//!
//! * Scripts cannot set `Cookie`, so a ticket travels as `Authorization: PVEAuthCookie=...`
//!   (PVE accepts it; PMG/PBS tickets need the browser's own cookie for that origin).
//! * PVE sends no CORS headers and answers `OPTIONS` with 501: calls from another origin fail
//!   in the browser. Serve the page from the same origin as the API, e.g. a reverse proxy that
//!   puts PVE under a path prefix ([`ClientBuilder::path_prefix`]) next to the page.
//! * Certificate pinning, client certificates and extra CAs are decided by the browser (or by
//!   node's `NODE_EXTRA_CA_CERTS`), not by a script, and so are proxies: asking for them is
//!   [`Error::Unsupported`] at build time.
//! * Timeouts are this client's own (`fetch` has none): an `AbortController` and the global
//!   `setTimeout`. The connect plus the read timeout bound the time from calling `fetch` to the
//!   response head (a browser does not report connecting separately); the read timeout bounds
//!   every wait for a chunk of the body. An upload's wait for the head is not bounded: it
//!   includes sending the file, which `fetch` does not report. A timeout is
//!   [`Error::Transport`] whose `is_timeout()` is true.
//! * Bodies are read as a stream and counted: past the body limit the download is aborted
//!   and the call fails with the core's `BodyTooLarge`, without buffering the rest.
//! * Redirects are never followed (`redirect: "manual"`): the API does not redirect, and the
//!   request and its credentials must not go to another host.
//! * `User-Agent`, `Accept-Encoding` and `Content-Length` are set by the browser.
//! * Consoles ([`Client::console`]) run over the runtime's `WebSocket`, which cannot send
//!   `Authorization`: in a window the upgrade carries the session's ticket cookie, set on the
//!   page's origin as PVE's GUI does (password login, client for the page's origin); node's
//!   `WebSocket` takes the cookie as a header. API tokens and workers are
//!   [`Error::Unsupported`] at [`ConsoleBuilder::build`].
#![forbid(unsafe_code)]
// Library code never unwraps data from outside; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod console;
mod files;
pub mod js;
mod resources;
mod sys;

pub use console::{Console, ConsoleBuilder};
pub use files::{DownloadChecksum, UploadChecksum};
pub use proxmox_proto as proto;
/// What a console's call answered and how it ended: the core's types (`ConsoleTarget` comes
/// with the common re-exports).
pub use proxmox_proto::console::{session::Closed, ticket::ConsoleTicket};
pub use resources::ResourceStream;

use proxmox_proto::auth::{SecondFactor, Session, TfaChallenge};
use proxmox_proto::capability::{self, Capability, Runtime};
use proxmox_proto::flow::{
    Authenticate, ClientCore, Event, Exchange, ExchangeKind, Flow, HttpReply, IoStep, MonoTime,
    Now, Payload, Reply, TransportFailure, next_io,
};
use proxmox_proto::options::{ClientOptions, ProxyOption, TlsOptions};
use proxmox_proto::request::{RequestBuilder, TicketPlacement};
use proxmox_proto::{InputError, Target, TransportKind};
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::Duration;

/// Per-call settings (timeout, body limit, attempts): the core's, as on every adapter.
pub use proxmox_proto::flow::CallOptions;
// What users touch, so that this crate alone is enough to depend on.
proxmox_proto::user_reexports!();

/// Errors of this client: the core's [`proxmox_proto::ClientError`], the same type and accessors
/// as every other adapter's. `fetch` does not say how far a failed request got, so a transport
/// error here says it may have been sent unless nothing was started.
pub use proxmox_proto::ClientError as Error;

/// A raw answer: status, reason phrase (`statusText`), body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// The reason phrase (`Response.statusText`; PVE puts its error message there). `None`
    /// when empty (HTTP/2 has none).
    pub reason: Option<String>,
    /// The body.
    pub body: Vec<u8>,
    /// How many attempts of the call this answer ended.
    pub attempts: u32,
}

/// The waits of one exchange: connecting plus the answer's head, then each piece of the body.
/// `upload`: the wait for the head includes sending the file, which fetch does not report, so
/// it is not bounded.
fn timeouts(connect: Duration, read: Duration, upload: bool) -> sys::Timeouts {
    sys::Timeouts {
        head: (!upload).then(|| connect.saturating_add(read)),
        read,
    }
}

/// What the driver loop performs besides plain `fetch` exchanges.
#[derive(Clone, Copy)]
pub(crate) enum Io<'a> {
    /// Only `fetch`.
    Fetch,
    /// An upload: the streamed exchange sends this body (a Blob).
    Upload(&'a wasm_bindgen::JsValue),
    /// A console: the WebSocket exchange opens a socket kept here.
    Console(&'a console::Sockets),
}

/// How a run of the driver loop ended.
pub(crate) enum Driven<T> {
    Done(T),
    SecondFactor(TfaChallenge),
}

/// The result of [`Client::login`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LoginState {
    /// Logged in (or no login needed: token credentials).
    LoggedIn,
    /// The server wants a second factor; answer with [`Client::complete_login`].
    SecondFactor(TfaChallenge),
}

/// A source of "now" (time since the Unix epoch); the default is `Date.now()`.
pub type Clock = Rc<dyn Fn() -> Duration>;

/// The core's client options, with the setters a browser cannot honour replaced by refusals.
/// The builder methods from [`proxmox_proto::client_builder_methods`] call `self.options.set_…`:
/// an inherent method of this type wins over the core's (reached through `Deref`), so every
/// other option is the core's own.
struct BrowserOptions {
    core: ClientOptions,
    /// Options refused when they were set, reported by `build` (the first one).
    refused: Vec<Error>,
}

impl Deref for BrowserOptions {
    type Target = ClientOptions;
    fn deref(&self) -> &ClientOptions {
        &self.core
    }
}

impl DerefMut for BrowserOptions {
    fn deref_mut(&mut self) -> &mut ClientOptions {
        &mut self.core
    }
}

impl BrowserOptions {
    /// Refused by the core's capability table.
    fn refuse(&mut self, what: Capability) {
        if let Err(e) = capability::require(Runtime::Browser, what) {
            self.refused.push(e.into());
        }
    }
    fn set_fingerprint(&mut self, _fingerprint: &str) {
        self.refuse(Capability::CertificatePinning);
    }
    fn add_ca_pem(&mut self, _pem: &[u8]) {
        self.refuse(Capability::CustomCa);
    }
    fn set_client_certificate(&mut self, _cert_pem: &[u8], _key_pem: &[u8]) {
        self.refuse(Capability::ClientCertificate);
    }
    fn set_danger_accept_invalid_certs(&mut self) {
        self.refuse(Capability::AcceptInvalidCertificates);
    }
    fn set_proxy(&mut self, _url: &str) {
        self.refuse(Capability::HttpProxy);
    }
    fn set_proxy_from_env(&mut self) {
        self.refuse(Capability::HttpProxy);
    }
    fn set_port(&mut self, _port: u16) {
        self.refused.push(Error::Config(
            "port(): the origin decides the port; give it there (https://host:port)".into(),
        ));
    }
}

/// Builds a [`Client`]. Every option is checked in [`ClientBuilder::build`], before any
/// request is sent. The option methods are the core's
/// ([`proxmox_proto::client_builder_methods`]), the same on every adapter; what a browser
/// cannot do (pinning, CAs, client certificates, ignoring certificate errors, a proxy, a port
/// apart from the origin's) makes `build` fail with [`Error::Unsupported`] ([`Error::Config`]
/// for the port). Timeouts and the body limit are the core's options, enforced by this client
/// (see the crate documentation).
#[must_use]
pub struct ClientBuilder {
    /// `scheme://authority`, or empty for the page's own origin.
    origin: String,
    origin_error: Option<Error>,
    options: BrowserOptions,
    clock: Clock,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("origin", &self.origin)
            .field("options", &self.options.core)
            .finish_non_exhaustive()
    }
}

/// Split `scheme://authority` (no path); an empty string means "the page's own origin".
fn parse_origin(origin_in: &str) -> Result<(String, String), Error> {
    let origin = origin_in.trim_end_matches('/');
    // What errors may show: never a `user:password@` someone put in the origin.
    let shown = match origin.rsplit_once('@') {
        Some((_, rest)) => format!("<redacted>@{rest}"),
        None => origin.to_owned(),
    };
    if origin.is_empty() {
        return Ok((String::new(), "localhost".to_owned()));
    }
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or_else(|| Error::Config(format!("{shown:?}: expected https://host[:port]")))?;
    if !matches!(scheme, "https" | "http") {
        return Err(Error::Config(format!(
            "{shown:?}: the scheme must be https or http"
        )));
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err(Error::Config(format!(
            "{shown:?}: give only scheme://host[:port]; use path_prefix() for a path"
        )));
    }
    Ok((format!("{scheme}://{rest}"), rest.to_owned()))
}

impl ClientBuilder {
    fn new(origin: &str) -> Self {
        // The core's target needs a host: the origin's, or a placeholder for the page's own
        // origin (requests then go to relative URLs).
        let (origin, authority, origin_error) = match parse_origin(origin) {
            Ok((origin, authority)) => (origin, authority, None),
            Err(e) => (String::new(), "localhost".to_owned(), Some(e)),
        };
        Self {
            origin,
            origin_error,
            options: BrowserOptions {
                core: ClientOptions::new(&authority),
                refused: Vec::new(),
            },
            clock: Rc::new(sys::now),
        }
    }

    proxmox_proto::client_builder_methods!(options);

    /// Where "now" comes from (default `Date.now()`); tests pass a shifted clock to reach the
    /// ticket's renewal window or its expiry.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Check everything and build the client. A password login happens lazily, on the first
    /// call, or explicitly with [`Client::login`]. Without a prepared second factor, a login
    /// that needs one returns the challenge from [`Client::login`].
    pub fn build(self) -> Result<Client, Error> {
        let BrowserOptions { core, refused } = self.options;
        if let Some(e) = refused.into_iter().next() {
            return Err(e);
        }
        if let Some(e) = self.origin_error {
            return Err(e);
        }
        let v = core.validate(TransportKind::Https).map_err(|e| match e {
            InputError::InvalidCredentials(m) => Error::Config(m),
            e => e.into(),
        })?;
        // The setters above refuse these already; this holds should the core's option surface
        // grow another way to set them.
        if v.tls != TlsOptions::default() {
            capability::require(Runtime::Browser, Capability::CertificatePinning)?;
        }
        if v.proxy != ProxyOption::None {
            capability::require(Runtime::Browser, Capability::HttpProxy)?;
        }
        // Same-origin: one endpoint (the README says why and what to do instead).
        if v.endpoints.is_some() || !v.node_addresses.is_empty() {
            capability::require(Runtime::Browser, Capability::ClusterEndpoints)?;
        }
        let core = ClientCore::from_options(v, |rb: RequestBuilder| {
            rb.user_agent(None)
                .accept_gzip(false)
                .ticket_placement(TicketPlacement::AuthorizationHeader)
        });
        Ok(Client {
            inner: Rc::new(Inner {
                origin: self.origin,
                core,
                clock: self.clock,
                started_ms: std::cell::Cell::new(None),
                pending_login: RefCell::new(None),
            }),
        })
    }
}

struct Inner {
    /// `scheme://authority`, or empty for the page's own origin.
    origin: String,
    /// Request building, the session with its login and renewal leases, the retry policy.
    core: ClientCore,
    clock: Clock,
    /// The origin of the monotonic clock (`Date.now()` at the first call; the wall clock above
    /// may be a test's simulated one, and sleeps must follow real time).
    started_ms: std::cell::Cell<Option<f64>>,
    /// A login that waits for the second factor (see [`Client::complete_login`]).
    pending_login: RefCell<Option<Authenticate>>,
}

/// A client. Cheap to clone; clones share the session. Not `Send`: WebAssembly in the browser
/// is single-threaded, calls interleave on the JavaScript event loop.
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("origin", &self.inner.origin)
            .field("target", self.inner.core.target())
            .field("auth", &self.inner.core.auth_kind())
            .finish()
    }
}

impl Client {
    /// Start building a client for `origin`: `https://host[:port]` (or `http://` behind a
    /// TLS-terminating proxy), or `""` for the page's own origin (relative URLs; browsers only).
    pub fn builder(origin: &str) -> ClientBuilder {
        ClientBuilder::new(origin)
    }

    /// The target (host and path prefix; the scheme and port actually used are the origin's).
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// println!("{}", client.target().base_url());
    /// # Ok(()) }
    /// ```
    pub fn target(&self) -> &Target {
        self.inner.core.target()
    }

    /// Now, from the clock (`Date.now()` unless the builder was given another).
    pub(crate) fn now(&self) -> Duration {
        (self.inner.clock)()
    }

    fn flow_now(&self) -> Now {
        let real = js_sys::Date::now();
        let origin = self.inner.started_ms.get().unwrap_or(real);
        self.inner.started_ms.set(Some(origin));
        let ms = real - origin;
        let mono = if ms.is_finite() && ms > 0.0 {
            Duration::from_millis(ms as u64)
        } else {
            Duration::ZERO
        };
        Now::new(MonoTime::from_duration(mono), self.now())
    }

    /// The core's flows of this client (for driving one yourself).
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let base = client.core().target().base_url();
    /// # Ok(()) }
    /// ```
    pub fn core(&self) -> &ClientCore {
        &self.inner.core
    }

    /// The current session (for password logins), to save and resume later with
    /// [`ClientBuilder::session`]. Contains the ticket: store it like a password.
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// if let Some(session) = client.session() {
    ///     // Store it like a password; resume later with ClientBuilder::session(session).
    ///     let _ = session;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn session(&self) -> Option<Session> {
        self.inner.core.session()
    }

    /// The URL actually fetched for a request the core built: the core's path and query on
    /// this client's origin.
    fn url_of(&self, uri: &http::Uri) -> String {
        let pq = uri.path_and_query().map_or("/", |p| p.as_str());
        format!("{}{pq}", self.inner.origin)
    }

    /// Perform one exchange of a flow.
    async fn perform(&self, exchange: Exchange, io: Io<'_>) -> Reply {
        if exchange.kind == ExchangeKind::WebSocket {
            return match io {
                Io::Console(sockets) => sockets.open(self, exchange).await,
                _ => Reply::Failed(
                    TransportFailure::not_sent("a WebSocket exchange outside a console")
                        .permanent(),
                ),
            };
        }
        let streamed = match io {
            Io::Upload(body) => Some(body),
            _ => None,
        };
        let Exchange {
            kind,
            payload,
            connect_timeout,
            read_timeout,
            body_limit,
            ..
        } = exchange;
        let (parts, body, timeouts) = match payload {
            Payload::Http(req) => {
                let (parts, body) = req.into_parts();
                let body =
                    (!body.is_empty()).then(|| js_sys::Uint8Array::from(body.as_slice()).into());
                (parts, body, timeouts(connect_timeout, read_timeout, false))
            }
            // An upload: the Blob of [head, file, tail], which the browser streams (and can
            // stream again). The wait for the answer's head includes sending the file, which
            // fetch does not report: it is not bounded.
            Payload::HttpStreaming { head, .. } => {
                let Some(body) = streamed else {
                    return Reply::Failed(
                        TransportFailure::not_sent("an upload exchange without a body").permanent(),
                    );
                };
                let t = timeouts(connect_timeout, read_timeout, true);
                (head.into_parts().0, Some(body.clone()), t)
            }
            Payload::Command(_) | Payload::CommandInput { .. } => {
                return Reply::Failed(
                    TransportFailure::not_sent("this exchange kind is not performed in a browser")
                        .permanent(),
                );
            }
        };
        // A plain fetch goes where it says (a mirror); an API call to this client's origin.
        let url = match kind {
            ExchangeKind::Fetch => parts.uri.to_string(),
            _ => self.url_of(&parts.uri),
        };
        match sys::fetch(
            parts.method.as_str(),
            &url,
            &parts.headers,
            body.as_ref(),
            body_limit,
            timeouts,
        )
        .await
        {
            Ok(r) => Reply::Http(HttpReply::new(r.status, r.reason, r.body)),
            Err(f) => Reply::Failed(f),
        }
    }

    /// The driver loop: drives a flow of the core to its end over `fetch`, one exchange at a
    /// time, on the JavaScript event loop. Every API call runs through here.
    pub(crate) async fn drive<F: Flow>(
        &self,
        flow: &mut F,
        on_event: &mut dyn FnMut(Event),
        io: Io<'_>,
    ) -> Result<Driven<F::Output>, Error> {
        loop {
            let now = self.flow_now();
            match next_io(flow, now, on_event) {
                IoStep::Send(exchange) => {
                    let id = exchange.id;
                    let reply = self.perform(exchange, io).await;
                    flow.handle(id, reply);
                }
                IoStep::SleepUntil(t) => sys::sleep(now.mono.until(t)).await,
                IoStep::WaitForLogin { until } | IoStep::WaitForSlot { until } => {
                    // Woken when the other call's login ends (or at the end of its lease), or
                    // when a slot of the node comes free.
                    let mut registered = false;
                    let woken = std::future::poll_fn(|cx| {
                        if registered || !flow.wake_on_release(cx.waker()) {
                            return std::task::Poll::Ready(());
                        }
                        registered = true;
                        std::task::Poll::Pending
                    });
                    sys::first_of(woken, sys::sleep(now.mono.until(until))).await;
                }
                IoStep::SecondFactor(challenge) => return Ok(Driven::SecondFactor(challenge)),
                // Every exchange was answered before this poll: the flow is stuck.
                IoStep::AwaitReplies => {
                    return Err(Error::Config(
                        "a flow awaited a reply the browser driver had already given".into(),
                    ));
                }
                IoStep::Done(result) => return Ok(Driven::Done(result?)),
            }
        }
    }

    /// A flow run to its end, its events to `on_event`.
    pub(crate) async fn run_with<F: Flow>(
        &self,
        mut flow: F,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<F::Output, Error> {
        match self.drive(&mut flow, on_event, Io::Fetch).await? {
            Driven::Done(out) => Ok(out),
            Driven::SecondFactor(_) => Err(proxmox_proto::Error::Auth(
                proxmox_proto::auth::AuthError::SecondFactorRequired,
            )
            .into()),
        }
    }

    /// [`Client::run_with`] for a flow whose streamed exchange (an upload) sends `streamed`.
    pub(crate) async fn run_streamed<F: Flow>(
        &self,
        mut flow: F,
        on_event: &mut dyn FnMut(Event),
        streamed: &wasm_bindgen::JsValue,
    ) -> Result<F::Output, Error> {
        match self
            .drive(&mut flow, on_event, Io::Upload(streamed))
            .await?
        {
            Driven::Done(out) => Ok(out),
            Driven::SecondFactor(_) => Err(proxmox_proto::Error::Auth(
                proxmox_proto::auth::AuthError::SecondFactorRequired,
            )
            .into()),
        }
    }

    /// [`Client::run_with`] to the end, the second factor from the builder.
    pub(crate) async fn run<F: Flow>(&self, flow: F) -> Result<F::Output, Error> {
        self.run_with(flow, &mut |_| {}).await
    }

    /// Log in now (password credentials). With a second factor from the builder the whole
    /// login happens here; without one, a TFA user gets [`LoginState::SecondFactor`] to answer
    /// with [`Client::complete_login`]. Token and saved-session clients are `LoggedIn` at once.
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// if let LoginState::SecondFactor(challenge) = client.login().await? {
    ///     // Ask the person for the code, then: client.complete_login(&challenge, factor).await?
    ///     let _ = challenge;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn login(&self) -> Result<LoginState, Error> {
        let mut flow = self.inner.core.authenticate();
        match self.drive(&mut flow, &mut |_| {}, Io::Fetch).await? {
            Driven::Done(_) => Ok(LoginState::LoggedIn),
            Driven::SecondFactor(challenge) => {
                // The flow keeps the login lease while the person answers.
                *self.inner.pending_login.borrow_mut() = Some(flow);
                Ok(LoginState::SecondFactor(challenge))
            }
        }
    }

    /// Answer the TFA challenge of [`Client::login`]. Never retried (PVE locks the account
    /// after repeated failures).
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// if let LoginState::SecondFactor(challenge) = client.login().await? {
    ///     let code = "123456"; // what the person typed
    ///     client.complete_login(&challenge, proto::auth::SecondFactor::totp(code)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn complete_login(
        &self,
        _challenge: &TfaChallenge,
        factor: SecondFactor,
    ) -> Result<(), Error> {
        let Some(mut flow) = self.inner.pending_login.borrow_mut().take() else {
            return Err(Error::Config(
                "no login waits for a second factor: call login() first".into(),
            ));
        };
        flow.answer_second_factor(Ok(factor));
        self.run(flow).await.map(|_| ())
    }

    /// Perform a call and return the raw answer, with auth, renewal and the retry rules of
    /// [`proxmox_proto::retry`] (a failed GET is retried; a POST, PUT or DELETE that may have
    /// been sent never is).
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let raw = client.call_raw(&Call::get("version")?, &CallOptions::default()).await?;
    /// println!("{} ({} bytes)", raw.status, raw.body.len());
    /// # Ok(()) }
    /// ```
    pub async fn call_raw(&self, call: &Call, opts: &CallOptions) -> Result<RawResponse, Error> {
        let r = self.run(self.inner.core.call(call.clone(), opts)).await?;
        Ok(RawResponse {
            status: r.status,
            reason: r.reason,
            body: r.body,
            attempts: r.attempts,
        })
    }

    async fn call_owned<T: DeserializeOwned>(&self, call: Result<Call, Error>) -> Result<T, Error> {
        self.call(&call?).await
    }

    fn runtime(&self) -> Runtime {
        Runtime::Browser
    }

    proxmox_proto::async_client_methods!("proxmox_wasm");
    proxmox_proto::async_flow_methods!("proxmox_wasm");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxmox_proto::Service;

    #[test]
    fn origins() {
        assert_eq!(parse_origin("").unwrap().0, "");
        assert_eq!(
            parse_origin("https://pve1:8006/").unwrap(),
            ("https://pve1:8006".into(), "pve1:8006".into())
        );
        assert!(parse_origin("pve1").is_err());
        assert!(parse_origin("ftp://pve1").is_err());
        assert!(parse_origin("https://pve1/pve").is_err());
        assert!(parse_origin("https://u@pve1").is_err());
    }

    #[test]
    fn browser_limits_are_clear_errors() {
        for b in [
            Client::builder("")
                .api_token("a@pve!t", "s")
                .fingerprint("AB"),
            Client::builder("").api_token("a@pve!t", "s").ca_pem(b"x"),
            Client::builder("")
                .api_token("a@pve!t", "s")
                .client_certificate(b"c", b"k"),
            Client::builder("")
                .api_token("a@pve!t", "s")
                .danger_accept_invalid_certs(),
        ] {
            let e = b.build().unwrap_err();
            assert!(matches!(e, Error::Unsupported(_)), "{e}");
            assert!(!e.may_have_been_sent());
        }
        for b in [
            Client::builder("")
                .api_token("a@pve!t", "s")
                .proxy("http://proxy:3128"),
            Client::builder("")
                .api_token("a@pve!t", "s")
                .proxy_from_env(),
        ] {
            assert!(matches!(b.build(), Err(Error::Unsupported(_))));
        }
        // Timeouts are this client's own (AbortController + setTimeout): accepted and used.
        let c = Client::builder("")
            .api_token("a@pve!t", "s")
            .connect_timeout(Duration::from_secs(2))
            .read_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let of = |c: &Client, upload: bool| {
            let p = c.core().policy();
            timeouts(p.connect_timeout, p.read_timeout, upload)
        };
        let t = of(&c, false);
        assert_eq!(t.head, Some(Duration::from_millis(2300)));
        assert_eq!(t.read, Duration::from_millis(300));
        assert_eq!(
            of(&c, true).head,
            None,
            "an upload's head wait is unbounded"
        );
        let d = of(
            &Client::builder("")
                .api_token("a@pve!t", "s")
                .build()
                .unwrap(),
            false,
        );
        assert_eq!(
            d.head,
            Some(
                proxmox_proto::options::DEFAULT_CONNECT_TIMEOUT
                    + proxmox_proto::options::DEFAULT_READ_TIMEOUT
            )
        );
        // A zero timeout would fail every call: refused at build time.
        let zero = Client::builder("")
            .api_token("a@pve!t", "s")
            .timeout(Duration::ZERO)
            .build();
        assert!(matches!(zero, Err(Error::Proto(_))), "{zero:?}");
        let port = Client::builder("https://pve1").api_token("a@pve!t", "s");
        assert!(matches!(port.port(8006).build(), Err(Error::Config(_))));
        assert!(matches!(Client::builder("").build(), Err(Error::Config(_))));
        assert!(matches!(
            Client::builder("")
                .api_token("a@pve!t", "s")
                .second_factor(SecondFactor::totp("123456"))
                .build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Client::builder("")
                .service(Service::Pmg)
                .api_token("a@pmg!t", "s")
                .build(),
            Err(Error::Proto(_))
        ));
    }

    #[test]
    fn urls_use_the_origin_and_prefix() {
        let c = Client::builder("http://127.0.0.1:9")
            .path_prefix("/pve")
            .api_token("a@pve!t", "s")
            .build()
            .unwrap();
        let req = c
            .inner
            .core
            .request_builder()
            .build(&Call::get(("nodes", "a/b")).unwrap(), None)
            .unwrap();
        assert_eq!(
            c.url_of(req.uri()),
            "http://127.0.0.1:9/pve/api2/json/nodes/a%2Fb"
        );
        let same = Client::builder("")
            .api_token("a@pve!t", "s")
            .build()
            .unwrap();
        assert_eq!(same.url_of(req.uri()), "/pve/api2/json/nodes/a%2Fb");
        assert!(!format!("{same:?}").contains("\"s\""));
    }
}
