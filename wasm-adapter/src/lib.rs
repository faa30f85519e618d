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
//!   [`Error::Transport`] with `timeout: true`.
//! * Bodies are read as a stream and counted: past the body limit the download is aborted
//!   and the call fails with the core's `BodyTooLarge`, without buffering the rest.
//! * Redirects are never followed (`redirect: "manual"`): the API does not redirect, and the
//!   request and its credentials must not go to another host.
//! * `User-Agent`, `Accept-Encoding` and `Content-Length` are set by the browser.
#![forbid(unsafe_code)]
// Library code never unwraps data from outside; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod files;
pub mod js;
mod sys;
mod tasks;

pub use files::{DownloadChecksum, UploadChecksum};
pub use proxmox_proto as proto;

use proxmox_proto::auth::{Auth, Login, LoginOutcome, SecondFactor, Session, TfaChallenge};
use proxmox_proto::options::{ClientOptions, ProxyOption, TlsOptions};
use proxmox_proto::request::{RequestBuilder, TicketPlacement};
use proxmox_proto::response::{Envelope, parse_envelope};
use proxmox_proto::retry::{Failure, RetryDecision, decide, decide_status, retry_backoff};
use proxmox_proto::session::{Plan, SessionManager};
use proxmox_proto::{
    AuthKind, Call, InputError, IntoApiPath, Method, Params, Target, TransportKind,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::Duration;

/// Errors of this client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error, the answer did not parse, the input was bad, or
    /// authentication failed: the core's typed error. `Api` errors were sent (and answered).
    #[error(transparent)]
    Proto(#[from] proxmox_proto::Error),
    /// `fetch` failed (network error, refused by CORS, aborted) or a timeout fired. A browser
    /// does not say how far the request got, so unless `may_have_been_sent` is `false` treat a
    /// write as possibly done.
    #[error("transport error ({}): {message}", if *.may_have_been_sent { "the request may have been sent" } else { "the request was not sent" })]
    Transport {
        /// What the JavaScript side reported, or which wait timed out.
        message: String,
        /// Whether the server may have received (and acted on) the request.
        may_have_been_sent: bool,
        /// Whether a timeout of this client ended the exchange.
        timeout: bool,
    },
    /// Something a script in a browser cannot do (pinning, client certificates, custom CAs);
    /// nothing was sent.
    #[error("not possible in a browser: {0}")]
    Unsupported(String),
    /// The client configuration is invalid; nothing was sent.
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl From<proxmox_proto::InputError> for Error {
    fn from(e: proxmox_proto::InputError) -> Self {
        Self::Proto(e.into())
    }
}

impl Error {
    /// The API error, if the server answered with one.
    pub fn api(&self) -> Option<&proxmox_proto::ApiError> {
        match self {
            Self::Proto(e) => e.api(),
            _ => None,
        }
    }

    /// Whether a timeout ended the exchange.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport { timeout: true, .. })
    }

    /// Whether the request may have reached the server.
    pub fn may_have_been_sent(&self) -> bool {
        match self {
            Self::Proto(proxmox_proto::Error::Api(_)) => true,
            Self::Transport {
                may_have_been_sent, ..
            } => *may_have_been_sent,
            _ => false,
        }
    }
}

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

const NO_PINNING: &str = "certificate fingerprint pinning: the browser verifies TLS itself; \
    import the certificate into the browser's trust store or use a certificate from a trusted CA";
const NO_CA: &str = "custom CA certificates: add the CA to the browser's (or the OS) trust \
    store, or start node with NODE_EXTRA_CA_CERTS=<file>";
const NO_CLIENT_CERT: &str = "client certificates: the browser selects them from its own store";
const NO_INSECURE: &str =
    "accepting invalid certificates: only the user (or the browser's flags) can";
const NO_PROXY: &str = "an HTTP proxy: the browser (or node) uses its own proxy settings";

impl BrowserOptions {
    fn refuse(&mut self, what: &str) {
        self.refused.push(Error::Unsupported(what.to_owned()));
    }
    fn set_fingerprint(&mut self, _fingerprint: &str) {
        self.refuse(NO_PINNING);
    }
    fn add_ca_pem(&mut self, _pem: &[u8]) {
        self.refuse(NO_CA);
    }
    fn set_client_certificate(&mut self, _cert_pem: &[u8], _key_pem: &[u8]) {
        self.refuse(NO_CLIENT_CERT);
    }
    fn set_danger_accept_invalid_certs(&mut self) {
        self.refuse(NO_INSECURE);
    }
    fn set_proxy(&mut self, _url: &str) {
        self.refuse(NO_PROXY);
    }
    fn set_proxy_from_env(&mut self) {
        self.refuse(NO_PROXY);
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
            return Err(Error::Unsupported(
                "TLS options: the browser verifies certificates itself".into(),
            ));
        }
        if v.proxy != ProxyOption::None {
            return Err(Error::Unsupported(NO_PROXY.into()));
        }
        let rb = RequestBuilder::new(v.target)
            .user_agent(None)
            .accept_gzip(false)
            .ticket_placement(TicketPlacement::AuthorizationHeader);
        Ok(Client {
            inner: Rc::new(Inner {
                origin: self.origin,
                rb,
                auth_kind: v.auth_kind,
                body_limit: v.body_limit,
                connect_timeout: v.connect_timeout,
                read_timeout: v.read_timeout,
                clock: self.clock,
                state: RefCell::new(State {
                    manager: v.session,
                    second: v.second_factor,
                    logging_in: false,
                }),
            }),
        })
    }
}

/// Releases a login or renewal claim when the future that holds it ends or is dropped, so a
/// cancelled call cannot leave other calls waiting for a login that never finishes.
struct Claim<'a> {
    client: &'a Client,
    kind: ClaimKind,
}

enum ClaimKind {
    Login,
    Renewal,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.client.inner.state.try_borrow_mut() {
            match self.kind {
                ClaimKind::Login => st.logging_in = false,
                // Dropped before the answer: the old, still-valid ticket stays.
                ClaimKind::Renewal => {
                    let _ = st.manager.finish_renewal(Err(()));
                }
            }
        }
    }
}

struct State {
    manager: SessionManager,
    second: Option<SecondFactor>,
    logging_in: bool,
}

struct Inner {
    /// `scheme://authority`, or empty for the page's own origin.
    origin: String,
    rb: RequestBuilder,
    auth_kind: AuthKind,
    body_limit: u64,
    connect_timeout: Duration,
    read_timeout: Duration,
    clock: Clock,
    state: RefCell<State>,
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
            .field("target", self.inner.rb.target())
            .field("auth", &self.inner.auth_kind)
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
    pub fn target(&self) -> &Target {
        self.inner.rb.target()
    }

    /// Now, from the clock (`Date.now()` unless the builder was given another).
    pub(crate) fn now(&self) -> Duration {
        (self.inner.clock)()
    }

    /// The current session (for password logins), to save and resume later with
    /// [`ClientBuilder::session`]. Contains the ticket: store it like a password.
    pub fn session(&self) -> Option<Session> {
        self.inner.state.borrow().manager.session().cloned()
    }

    /// The URL actually fetched for a request the core built: the core's path and query on
    /// this client's origin.
    fn url_of(&self, uri: &http::Uri) -> String {
        let pq = uri.path_and_query().map_or("/", |p| p.as_str());
        format!("{}{pq}", self.inner.origin)
    }

    /// The client's timeouts; `upload`: the wait for the head is not bounded.
    pub(crate) fn timeouts(&self, upload: bool) -> sys::Timeouts {
        sys::Timeouts {
            head: (!upload).then(|| {
                self.inner
                    .connect_timeout
                    .saturating_add(self.inner.read_timeout)
            }),
            read: self.inner.read_timeout,
        }
    }

    /// Send one request through `fetch`. Never retried here.
    pub(crate) async fn send_http(
        &self,
        parts: &http::request::Parts,
        body: Option<&wasm_bindgen::JsValue>,
        upload: bool,
    ) -> Result<RawResponse, Error> {
        let url = self.url_of(&parts.uri);
        sys::fetch(
            parts.method.as_str(),
            &url,
            &parts.headers,
            body,
            self.inner.body_limit,
            self.timeouts(upload),
        )
        .await
    }

    async fn send_once(&self, call: &Call, auth: Option<&Auth>) -> Result<RawResponse, Error> {
        let req = self.inner.rb.build(call, auth)?;
        let (parts, body) = req.into_parts();
        let body = (!body.is_empty()).then(|| js_sys::Uint8Array::from(body.as_slice()).into());
        self.send_http(&parts, body.as_ref(), false).await
    }

    /// Log in now (password credentials). With a second factor from the builder the whole
    /// login happens here; without one, a TFA user gets [`LoginState::SecondFactor`] to answer
    /// with [`Client::complete_login`]. Token and saved-session clients are `LoggedIn` at once.
    pub async fn login(&self) -> Result<LoginState, Error> {
        let plan = self.inner.state.borrow().manager.plan(self.now())?;
        let login = match plan {
            Plan::Login(login) => login,
            Plan::Use(_) | Plan::Renew { .. } => return Ok(LoginState::LoggedIn),
        };
        match self.first_step(login).await? {
            Ok(session) => {
                self.inner.state.borrow_mut().manager.install(session);
                Ok(LoginState::LoggedIn)
            }
            Err(challenge) => {
                let prepared = self.inner.state.borrow().second.clone();
                match prepared {
                    Some(f) => {
                        self.complete_login(&challenge, f).await?;
                        Ok(LoginState::LoggedIn)
                    }
                    None => Ok(LoginState::SecondFactor(challenge)),
                }
            }
        }
    }

    async fn first_step(&self, login: Login) -> Result<Result<Session, TfaChallenge>, Error> {
        let raw = self.send_once(&login.request(), None).await?;
        Ok(
            match login.handle_response(raw.status, raw.reason.as_deref(), &raw.body)? {
                LoginOutcome::Authenticated(s) => Ok(s),
                LoginOutcome::SecondFactor(c) => Err(c),
            },
        )
    }

    /// Answer a TFA challenge from [`Client::login`]. Never retried (PVE locks the account
    /// after repeated failures).
    pub async fn complete_login(
        &self,
        challenge: &TfaChallenge,
        factor: SecondFactor,
    ) -> Result<(), Error> {
        let step = challenge.respond(factor)?;
        let raw = self.send_once(&step.request(), None).await?;
        let session = step.handle_response(raw.status, raw.reason.as_deref(), &raw.body)?;
        self.inner.state.borrow_mut().manager.install(session);
        Ok(())
    }

    /// The auth to use now: log in lazily or after expiry (once, other calls wait), renew in
    /// the last hour (single flight; other calls use the still-valid ticket meanwhile).
    pub(crate) async fn current_auth(&self) -> Result<Auth, Error> {
        loop {
            let now = self.now();
            let plan = self.inner.state.borrow().manager.plan(now)?;
            match plan {
                Plan::Use(auth) => return Ok(auth),
                Plan::Renew { call, current } => {
                    if !self
                        .inner
                        .state
                        .borrow_mut()
                        .manager
                        .begin_renewal(&current)
                    {
                        return Ok(current);
                    }
                    let guard = Claim {
                        client: self,
                        kind: ClaimKind::Renewal,
                    };
                    let answer = self.send_once(&call, None).await;
                    std::mem::forget(guard);
                    let mut st = self.inner.state.borrow_mut();
                    // A failed renewal leaves the old, still-valid ticket in place.
                    let _ = match &answer {
                        Ok(r) => {
                            st.manager
                                .finish_renewal(Ok((r.status, r.reason.as_deref(), &r.body)))
                        }
                        Err(_) => st.manager.finish_renewal(Err(())),
                    };
                    return match st.manager.plan(now)? {
                        Plan::Use(auth) => Ok(auth),
                        _ => Ok(current),
                    };
                }
                Plan::Login(login) => {
                    if std::mem::replace(&mut self.inner.state.borrow_mut().logging_in, true) {
                        // Another call is logging in: wait for it, then plan again.
                        sys::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let _guard = Claim {
                        client: self,
                        kind: ClaimKind::Login,
                    };
                    return self.lazy_login(login).await.map(Auth::Session);
                }
            }
        }
    }

    async fn lazy_login(&self, login: Login) -> Result<Session, Error> {
        let session =
            match self.first_step(login).await? {
                Ok(s) => s,
                Err(challenge) => {
                    let factor = self.inner.state.borrow().second.clone().ok_or(
                        proxmox_proto::Error::Auth(
                            proxmox_proto::auth::AuthError::SecondFactorRequired,
                        ),
                    )?;
                    let step = challenge.respond(factor)?;
                    let raw = self.send_once(&step.request(), None).await?;
                    step.handle_response(raw.status, raw.reason.as_deref(), &raw.body)?
                }
            };
        self.inner
            .state
            .borrow_mut()
            .manager
            .install(session.clone());
        Ok(session)
    }

    /// Perform a call and return the raw answer, with auth, renewal and the retry rules of
    /// [`proxmox_proto::retry`] (a failed GET is retried; a POST, PUT or DELETE that may have
    /// been sent never is).
    pub async fn call_raw(&self, call: &Call) -> Result<RawResponse, Error> {
        let mut attempt = 0u32;
        loop {
            let auth = self.current_auth().await?;
            let result = self.send_once(call, Some(&auth)).await;
            let decision = match &result {
                Ok(r) if (200..300).contains(&r.status) => return result,
                Ok(r) => decide_status(
                    call.method,
                    self.inner.auth_kind,
                    r.status,
                    r.reason.as_deref(),
                    &r.body,
                    attempt,
                ),
                Err(Error::Transport {
                    may_have_been_sent, ..
                }) => decide(
                    call.method,
                    self.inner.auth_kind,
                    &Failure::transport(*may_have_been_sent),
                    attempt,
                ),
                Err(_) => RetryDecision::GiveUp,
            };
            match decision {
                RetryDecision::GiveUp => return result,
                RetryDecision::Retry => sys::sleep(retry_backoff(attempt)).await,
                RetryDecision::ReloginThenRetry => {
                    if !self.inner.state.borrow_mut().manager.invalidate(&auth) {
                        return result;
                    }
                }
            }
            attempt += 1;
        }
    }

    /// Perform a call and return the whole envelope (`data` plus `total` and friends).
    pub async fn call_envelope<T: DeserializeOwned>(
        &self,
        call: &Call,
    ) -> Result<Envelope<T>, Error> {
        let raw = self.call_raw(call).await?;
        Ok(parse_envelope(
            raw.status,
            raw.reason.as_deref(),
            &raw.body,
        )?)
    }

    /// Perform a call and return `data` as `T`.
    pub async fn call<T: DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
        self.call_envelope(call).await.map(|e| e.data)
    }

    /// `GET path`.
    pub async fn get<T: DeserializeOwned>(&self, path: impl IntoApiPath) -> Result<T, Error> {
        self.call(&Call::get(path)?).await
    }

    /// `GET path` with query parameters from a `Serialize` struct, map or list of pairs.
    pub async fn get_with<T: DeserializeOwned, P: Serialize + ?Sized>(
        &self,
        path: impl IntoApiPath,
        params: &P,
    ) -> Result<T, Error> {
        self.call(&Call::get(path)?.params_from(params)?).await
    }

    /// `POST path` with form parameters (unset `Option`s dropped, booleans 1/0).
    pub async fn post<T: DeserializeOwned, P: Serialize + ?Sized>(
        &self,
        path: impl IntoApiPath,
        params: &P,
    ) -> Result<T, Error> {
        self.call(&Call::post(path)?.params_from(params)?).await
    }

    /// `PUT path`.
    pub async fn put<T: DeserializeOwned, P: Serialize + ?Sized>(
        &self,
        path: impl IntoApiPath,
        params: &P,
    ) -> Result<T, Error> {
        self.call(&Call::put(path)?.params_from(params)?).await
    }

    /// `DELETE path` with query parameters.
    pub async fn delete<T: DeserializeOwned, P: Serialize + ?Sized>(
        &self,
        path: impl IntoApiPath,
        params: &P,
    ) -> Result<T, Error> {
        self.call(&Call::delete(path)?.params_from(params)?).await
    }

    /// A call with explicit parameters.
    pub async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: impl IntoApiPath,
        params: Params,
    ) -> Result<T, Error> {
        self.call(&Call::new(method, path)?.with_params(params))
            .await
    }
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
        let t = c.timeouts(false);
        assert_eq!(t.head, Some(Duration::from_millis(2300)));
        assert_eq!(t.read, Duration::from_millis(300));
        assert_eq!(
            c.timeouts(true).head,
            None,
            "an upload's head wait is unbounded"
        );
        let d = Client::builder("")
            .api_token("a@pve!t", "s")
            .build()
            .unwrap()
            .timeouts(false);
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
            .rb
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
