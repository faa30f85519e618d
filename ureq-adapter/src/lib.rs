//! # proxmox-ureq: a blocking Proxmox VE, PMG and PBS client
//!
//! Everything protocol-shaped comes from [`proxmox_proto`]; this crate moves bytes over
//! [ureq](https://docs.rs/ureq) with rustls and nothing else.
//!
//! ```no_run
//! use std::time::Duration;
//! # fn main() -> Result<(), proxmox_ureq::Error> {
//! let pve = proxmox_ureq::Client::builder("pve1.example.com")
//!     .api_token("automation@pve!ci", "8b1c…")
//!     .ca_file("pve-root-ca.pem")?            // or .fingerprint("AB:CD:…")
//!     .timeout(Duration::from_secs(30))
//!     .build()?;
//! let nodes: Vec<serde_json::Value> = pve.get("nodes")?;
//! let vms: Vec<serde_json::Value> = pve.get(("nodes", "pve1", "qemu"))?;
//! # Ok(()) }
//! ```
//!
//! * TLS verification is on by default; add a CA file, pin a SHA-256 fingerprint, present a
//!   client certificate, or opt into [`ClientBuilder::danger_accept_invalid_certs`].
//! * Connections are pooled and shared by every clone of a [`Client`] (it is `Clone + Send +
//!   Sync`); idle connections are dropped after 4 s, before pveproxy's 5 s keep-alive timeout.
//! * Password sessions renew their ticket in the last hour of its life, once for all threads,
//!   and log in again once after a 401.
//! * A GET that failed after it may have been sent is retried; a POST, PUT or DELETE never.
#![forbid(unsafe_code)]
// Library code never unwraps data from outside; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod files;
mod tasks;
mod tls;

pub use files::{DownloadChecksum, Progress, UploadChecksum};

use proxmox_proto::auth::{Auth, Login, LoginOutcome, SecondFactor, Session, TfaChallenge};
use proxmox_proto::options::{ClientOptions, ProxyOption};
use proxmox_proto::request::RequestBuilder;
use proxmox_proto::response::{Envelope, parse_envelope};
use proxmox_proto::retry::{Failure, RetryDecision, decide, decide_status};
use proxmox_proto::session::{Plan, SessionManager, retry_backoff};
use proxmox_proto::{AuthKind, Call, Target, TransportKind};
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tls::{ReasonTapConnector, TlsConnector};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, TcpConnector};

pub use proxmox_proto as proto;

/// Errors of this client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error, the answer did not parse, the input was bad, or
    /// authentication failed: the core's typed error.
    #[error(transparent)]
    Proto(#[from] proxmox_proto::Error),
    /// The request could not be completed on the wire.
    #[error("transport error ({}): {message}", if *.may_have_been_sent { "the request may have been sent" } else { "the request was not sent" })]
    Transport {
        /// What happened.
        message: String,
        /// Whether the server may have received (and acted on) the request.
        may_have_been_sent: bool,
        /// Whether it was a timeout.
        timeout: bool,
    },
    /// The client configuration is invalid.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A local file could not be read.
    #[error("local I/O error: {0}")]
    Io(#[from] std::io::Error),
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
}

/// A source of "now" (time since the Unix epoch); tests pass a simulated clock.
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

fn system_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

pub use proxmox_proto::auth::SecondFactorCallback;
use proxmox_proto::auth::SecondFactorSource;

/// Per-call settings.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// Connect timeout for this call (overrides the client's).
    pub connect_timeout: Option<Duration>,
    /// Read timeout for this call: time to the response head, and for the body.
    pub read_timeout: Option<Duration>,
    /// Largest body accepted for this call.
    pub body_limit: Option<u64>,
}

impl CallOptions {
    /// Both timeouts.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self.read_timeout = Some(t);
        self
    }
}

/// Builds a [`Client`]. Every option is checked in [`ClientBuilder::build`], before any
/// request is sent; the option methods are the core's
/// ([`proxmox_proto::client_builder_methods`]), the same on every adapter.
#[must_use]
pub struct ClientBuilder {
    options: ClientOptions,
    second_factor_callback: Option<SecondFactorCallback>,
    clock: Clock,
    user_agent: String,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn new(host: &str) -> Self {
        Self {
            options: ClientOptions::new(host),
            second_factor_callback: None,
            clock: Arc::new(system_clock),
            user_agent: concat!("proxmox-ureq/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    proxmox_proto::client_builder_methods!(options);

    /// A callback asked for the second factor when the server wants one (it sees what is
    /// offered; returning `None` aborts the login). Needs a password login.
    pub fn second_factor_callback(
        mut self,
        f: impl Fn(&TfaChallenge) -> Option<SecondFactor> + Send + Sync + 'static,
    ) -> Self {
        self.second_factor_callback = Some(Arc::new(f));
        self
    }

    /// Trust the CA certificates in this PEM file in addition to the web PKI roots (e.g.
    /// `/etc/pve/pve-root-ca.pem`).
    pub fn ca_file(self, path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let pem = std::fs::read(path.as_ref())?;
        Ok(self.ca_pem(&pem))
    }

    /// Where "now" comes from (default: the system clock). Tests pass a simulated clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Check everything and build the client. A password login happens lazily, on the first
    /// call (or explicitly with [`Client::login`]).
    pub fn build(self) -> Result<Client, Error> {
        let v = self.options.validate(TransportKind::Https)?;
        let second =
            SecondFactorSource::choose(self.second_factor_callback, v.second_factor, v.auth_kind)
                .map_err(|e| Error::Config(e.to_string()))?;
        let tls_config = tls::client_config(&v.tls).map_err(Error::Config)?;
        let proxy = match &v.proxy {
            ProxyOption::Url(p) => {
                Some(ureq::Proxy::new(p).map_err(|e| Error::Config(format!("proxy: {e}")))?)
            }
            ProxyOption::FromEnv => ureq::Proxy::try_from_env(),
            _ => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .https_only(false)
            .user_agent(self.user_agent.as_str())
            .proxy(proxy)
            .max_idle_age(Duration::from_secs(4))
            .max_idle_connections_per_host(16)
            .timeout_connect(Some(v.connect_timeout))
            .timeout_recv_response(Some(v.read_timeout))
            .timeout_recv_body(Some(v.read_timeout))
            .build();
        let connector =
            ().chain(ConnectProxyConnector::default())
                .chain(TcpConnector::default())
                .chain(TlsConnector { config: tls_config })
                .chain(ReasonTapConnector);
        let agent = ureq::Agent::with_parts(config, connector, DefaultResolver::default());
        let rb = RequestBuilder::new(v.target)
            .user_agent(Some(self.user_agent))
            .accept_gzip(true);
        Ok(Client {
            inner: Arc::new(Inner {
                agent,
                rb,
                session: Mutex::new(v.session),
                login_lock: Mutex::new(()),
                second,
                clock: self.clock,
                body_limit: v.body_limit,
                auth_kind: v.auth_kind,
            }),
        })
    }
}

struct Inner {
    agent: ureq::Agent,
    rb: RequestBuilder,
    session: Mutex<SessionManager>,
    /// Serialises logins, so that many threads finding an expired ticket log in once.
    login_lock: Mutex<()>,
    second: SecondFactorSource,
    clock: Clock,
    body_limit: u64,
    auth_kind: AuthKind,
}

/// A blocking client. Cheap to clone; clones share connections and the session.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("target", self.inner.rb.target())
            .field("auth", &self.inner.auth_kind)
            .finish()
    }
}

/// A raw answer: status, reason phrase (as sent by the server), body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// The reason phrase from the status line (PVE puts its error message there).
    pub reason: Option<String>,
    /// The body (gzip already decoded).
    pub body: Vec<u8>,
}

fn transport_error(e: ureq::Error, phase_sent: bool) -> Error {
    use ureq::Error as U;
    let (not_sent, timeout) = match &e {
        U::HostNotFound
        | U::ConnectionFailed
        | U::ConnectProxyFailed(_)
        | U::Tls(_)
        | U::Rustls(_) => (true, false),
        U::Timeout(t) => (
            matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect) || !phase_sent,
            true,
        ),
        U::BadUri(_) | U::InvalidProxyUrl | U::RequireHttpsOnly(_) => (true, false),
        // A TLS failure (certificate refused, handshake) happens before the request is written.
        U::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            (true, false)
        }
        _ => (!phase_sent, false),
    };
    Error::Transport {
        message: e.to_string(),
        may_have_been_sent: !not_sent,
        timeout,
    }
}

impl Client {
    /// Start building a client for `host` (`name`, `name:port`, IPv4, IPv6, `[v6]:port`).
    pub fn builder(host: &str) -> ClientBuilder {
        ClientBuilder::new(host)
    }

    /// The target.
    pub fn target(&self) -> &Target {
        self.inner.rb.target()
    }

    pub(crate) fn now(&self) -> Duration {
        (self.inner.clock)()
    }

    fn manager(&self) -> std::sync::MutexGuard<'_, SessionManager> {
        self.inner.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current session (for password logins), to save and resume later with
    /// [`ClientBuilder::session`]. Contains the ticket: store it like a password.
    pub fn session(&self) -> Option<Session> {
        self.manager().session().cloned()
    }

    /// Log in now (password credentials), instead of lazily on the first call.
    pub fn login(&self) -> Result<(), Error> {
        self.current_auth().map(|_| ())
    }

    /// Drive the login machine to a session, answering a TFA challenge from the builder's
    /// second-factor source. A TFA step is never retried.
    fn drive_login(&self, login: Login) -> Result<Session, Error> {
        let raw = self.send_once(&login.request(), None, &CallOptions::default())?;
        match login.handle_response(raw.status, raw.reason.as_deref(), &raw.body)? {
            LoginOutcome::Authenticated(s) => Ok(s),
            LoginOutcome::SecondFactor(challenge) => {
                let factor = self
                    .inner
                    .second
                    .answer(&challenge)
                    .map_err(proxmox_proto::Error::Auth)?;
                let step = challenge.respond(factor)?;
                let raw = self.send_once(&step.request(), None, &CallOptions::default())?;
                Ok(step.handle_response(raw.status, raw.reason.as_deref(), &raw.body)?)
            }
        }
    }

    /// The auth to use now: log in lazily or after expiry (once for all threads), renew in the
    /// last hour (single flight; other threads use the still-valid ticket meanwhile).
    pub(crate) fn current_auth(&self) -> Result<Auth, Error> {
        let now = self.now();
        let plan = self.manager().plan(now)?;
        match plan {
            Plan::Use(auth) => Ok(auth),
            Plan::Renew { call, current } => {
                if !self.manager().begin_renewal(&current) {
                    return Ok(current);
                }
                let answer = self.send_once(&call, None, &CallOptions::default());
                let mut m = self.manager();
                let _ = match &answer {
                    Ok(raw) => m.finish_renewal(Ok((raw.status, raw.reason.as_deref(), &raw.body))),
                    Err(_) => m.finish_renewal(Err(())),
                };
                // A failed renewal leaves the old, still-valid ticket in place.
                match m.plan(now)? {
                    Plan::Use(auth) => Ok(auth),
                    _ => Ok(current),
                }
            }
            Plan::Login(_) => {
                let _guard = self
                    .inner
                    .login_lock
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                // Someone else may have logged in while we waited.
                let login = match self.manager().plan(now)? {
                    Plan::Login(login) => login,
                    Plan::Use(auth) | Plan::Renew { current: auth, .. } => return Ok(auth),
                };
                let session = self.drive_login(login)?;
                self.manager().install(session.clone());
                Ok(Auth::Session(session))
            }
        }
    }

    fn send_once(
        &self,
        call: &Call,
        auth: Option<&Auth>,
        opts: &CallOptions,
    ) -> Result<RawResponse, Error> {
        let req = self.inner.rb.build(call, auth)?.map(Vec::from);
        self.send_http(req, opts)
    }

    pub(crate) fn send_http<B: ureq::AsSendBody>(
        &self,
        req: http::Request<B>,
        opts: &CallOptions,
    ) -> Result<RawResponse, Error> {
        use std::io::Read;
        use ureq::RequestExt;
        tls::clear_last_reason();
        let mut cfg = req.with_agent(&self.inner.agent).configure();
        if let Some(t) = opts.connect_timeout {
            cfg = cfg.timeout_connect(Some(t));
        }
        if let Some(t) = opts.read_timeout {
            cfg = cfg
                .timeout_recv_response(Some(t))
                .timeout_recv_body(Some(t));
        }
        let resp = cfg.run().map_err(|e| transport_error(e, true))?;
        let reason = tls::take_last_reason();
        let status = resp.status().as_u16();
        let limit = opts.body_limit.unwrap_or(self.inner.body_limit);
        let too_large = |size: u64| {
            Error::Proto(proxmox_proto::ProtocolError::BodyTooLarge { size, limit }.into())
        };
        // ureq decodes gzip itself; the declared length is then the encoded one.
        let encoded = resp.headers().contains_key(http::header::CONTENT_ENCODING);
        let body = resp.into_body();
        let capacity =
            proxmox_proto::response::body_capacity(body.content_length(), encoded, limit)
                .map_err(proxmox_proto::Error::from)?;
        let mut buf = Vec::with_capacity(capacity);
        body.into_with_config()
            .limit(limit)
            .reader()
            .read_to_end(&mut buf)
            .map_err(|e| match ureq::Error::from(e) {
                ureq::Error::BodyExceedsLimit(_) => too_large(limit + 1),
                other => transport_error(other, true),
            })?;
        let body = buf;
        Ok(RawResponse {
            status,
            reason,
            body,
        })
    }

    /// Perform a call and return the raw answer, with auth, renewal and the retry rules of
    /// [`proxmox_proto::retry`].
    pub fn call_raw(&self, call: &Call, opts: &CallOptions) -> Result<RawResponse, Error> {
        let mut attempt = 0u32;
        loop {
            let auth = self.current_auth()?;
            let result = self.send_once(call, Some(&auth), opts);
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
                RetryDecision::Retry => std::thread::sleep(retry_backoff(attempt)),
                RetryDecision::ReloginThenRetry => {
                    // The next round logs in again (unless another thread already did).
                    if !self.manager().invalidate(&auth) {
                        return result;
                    }
                }
            }
            attempt += 1;
        }
    }

    /// Perform a call and return the whole envelope (`data` plus `total` and friends).
    pub fn call_envelope<T: DeserializeOwned>(
        &self,
        call: &Call,
        opts: &CallOptions,
    ) -> Result<Envelope<T>, Error> {
        let raw = self.call_raw(call, opts)?;
        Ok(parse_envelope(
            raw.status,
            raw.reason.as_deref(),
            &raw.body,
        )?)
    }

    /// Perform a call and return `data` as `T`.
    pub fn call<T: DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
        self.call_envelope(call, &CallOptions::default())
            .map(|e| e.data)
    }

    proxmox_proto::blocking_client_methods!();
}
