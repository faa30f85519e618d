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
//!     .ca_file("pve-root-ca.pem")             // or .fingerprint("AB:CD:…")
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
//! * Every call runs the core's API-call flow ([`proxmox_proto::flow`]) in one driver loop.
//!   Password sessions log in once for all threads (a lease the others wait for), renew their
//!   ticket in the last hour of its life (one thread renews, the others keep using the
//!   still-valid ticket), and log in again once after a 401.
//! * A GET that failed after it may have been sent is retried; a POST, PUT or DELETE never. A
//!   refused certificate (not the pinned one, unknown issuer) is never retried.
//! * `timeout` (client or [`CallOptions`]) is the deadline of the whole call: attempts, backoff
//!   and waiting for another thread's login included; connect and read timeouts bound each
//!   attempt, cut to what remains. `max_attempts` (default 3) is the only setting for attempts.
//!   Errors say how many attempts took how long.
#![forbid(unsafe_code)]
// Library code never unwraps data from outside; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod console;
mod files;
mod tls;

pub use console::{Console, ConsoleBuilder};
pub use files::{DownloadChecksum, Progress, UploadChecksum};

use proxmox_proto::auth::{Auth, Session};
use proxmox_proto::flow::{
    ClientCore, Event, Exchange, Flow, HttpReply, IoStep, MonoClock, Now, Payload, Reply,
    TransportFailure, next_io,
};
use proxmox_proto::options::{ClientOptions, ProxyOption};
use proxmox_proto::request::RequestBuilder;
use proxmox_proto::response::Envelope;
use proxmox_proto::{Target, TransportKind};
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tls::{ReasonTapConnector, TlsConnector};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, TcpConnector};

pub use proxmox_proto as proto;

proxmox_proto::native_types!();

fn system_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

// What users touch, so that this crate alone is enough to depend on.
proxmox_proto::user_reexports!();

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

    /// A builder set up from the environment: `PROXMOX_URL` (or `PROXMOX_HOST` and
    /// `PROXMOX_PORT`), `PROXMOX_SERVICE`, an API token (`PROXMOX_TOKEN_ID`,
    /// `PROXMOX_TOKEN_SECRET` or `_FILE`) or a password (`PROXMOX_USER`, `PROXMOX_PASSWORD` or
    /// `_FILE`, `PROXMOX_OTP`), `PROXMOX_CA_FILE`, `PROXMOX_FINGERPRINT`, `PROXMOX_INSECURE=1`
    /// and the usual proxy variables: the table is in [`proxmox_proto::env`]. Missing or
    /// contradicting variables are reported by `build()`, naming them (never a secret);
    /// `PROXMOX_INSECURE=1` prints a warning to standard error. Other options can still be
    /// chained.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), proxmox_ureq::Error> {
    /// // PROXMOX_URL=https://pve1:8006 PROXMOX_TOKEN_ID=ci@pve!ci PROXMOX_TOKEN_SECRET=... ./app
    /// let client = proxmox_ureq::ClientBuilder::from_env().build()?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Self {
        let (options, warnings) =
            ClientOptions::from_env(&|k| std::env::var(k).ok(), &|p| std::fs::read(p));
        for w in warnings {
            eprintln!("proxmox-ureq: warning: {w}");
        }
        Self {
            options,
            ..Self::new("")
        }
    }

    proxmox_proto::client_builder_methods!(options);

    proxmox_proto::native_builder_methods!();

    /// Trust the CA certificates in this PEM file in addition to the web PKI roots (e.g.
    /// `/etc/pve/pve-root-ca.pem`). A file that cannot be read is reported by `build()`, with
    /// its path.
    pub fn ca_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref();
        self.options.add_ca_file(path, std::fs::read(path));
        self
    }

    /// Trust certificates pinned in this pin file (lines of `host port fingerprint`, like
    /// ssh's `known_hosts`; see [`proxmox_proto::pins`]) for hosts whose certificate does not
    /// validate against the roots and CA files. A missing file is an empty store; with
    /// [`trust_on_first_use`](Self::trust_on_first_use) a new host's pin is added to it under
    /// a lock. A file that cannot be read or holds a bad line is reported by `build()`.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = proxmox_ureq::Client::builder("pve1.example.com")
    ///     .api_token("automation@pve!ci", "s3cr3t")
    ///     .pin_file("/etc/proxmox-pins")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn pin_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref();
        self.options
            .set_pin_file(path, proxmox_proto::pin_file::read(path));
        self
    }

    /// First contact without trust: connect to the host, read its certificate chain and stop
    /// — no request and no credentials are sent (credentials need not be set). The report
    /// gives the chain's SHA-256 fingerprints (the server's first: what `pvenode cert info`
    /// shows, and what to pin), whether it validates against the roots and CA files given,
    /// and what the pin store says. Uses the host, port, CA files, pin store and connect
    /// timeout of this builder; no proxy.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), proxmox_ureq::Error> {
    /// let report = proxmox_ureq::Client::builder("pve1.example.com").probe()?;
    /// println!("{report}");
    /// if !report.ca_valid {
    ///     println!("check on the node (pvenode cert info), then pin {:?}", report.fingerprint());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn probe(&self) -> Result<proxmox_proto::probe::ProbeReport, Error> {
        use proxmox_proto::probe::{Probe, ProbeFailure, drive};
        use std::net::ToSocketAddrs;
        let (target, tls, timeout) = self.options.probe_settings()?;
        let start = std::time::Instant::now();
        let authority = target.authority();
        let fail = |f: ProbeFailure| f.into_error(&target, start.elapsed());
        let probe = Probe::new(&target, &tls).map_err(Error::Config)?;
        let addrs = (target.host_name().as_str(), target.port())
            .to_socket_addrs()
            .map_err(|e| fail(ProbeFailure::new(&authority, "resolving the host", &e)))?;
        let mut last = std::io::Error::other("the name resolves to no address");
        let mut stream = None;
        for a in addrs {
            match std::net::TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let mut stream =
            stream.ok_or_else(|| fail(ProbeFailure::new(&authority, "connecting", &last)))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(|e| fail(ProbeFailure::new(&authority, "connecting", &e)))?;
        drive(probe, &mut stream).map_err(fail)
    }

    /// Check everything and build the client. A password login happens lazily, on the first
    /// call (or explicitly with [`Client::login`]).
    pub fn build(self) -> Result<Client, Error> {
        let v = self.options.validate(TransportKind::Https)?;
        if self.second_factor_callback.is_some() && v.auth_kind != proxmox_proto::AuthKind::Ticket {
            return Err(Error::Config(
                "a second factor needs a password login".into(),
            ));
        }
        let second = self.second_factor_callback;
        let tls_config = tls::client_config(&v.tls).map_err(Error::Config)?;
        let proxy = match &v.proxy {
            ProxyOption::Url(p) => Some(
                ureq::Proxy::new(p.as_str()).map_err(|e| Error::Config(format!("proxy: {e}")))?,
            ),
            ProxyOption::FromEnv => ureq::Proxy::try_from_env(),
            _ => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .https_only(false)
            .user_agent(v.user_agent(&self.user_agent).as_str())
            .proxy(proxy.clone())
            .max_idle_age(Duration::from_secs(4))
            .max_idle_connections_per_host(16)
            .timeout_connect(Some(v.connect_timeout))
            .timeout_recv_response(Some(v.read_timeout))
            .timeout_recv_body(Some(v.read_timeout))
            .build();
        let connector = ()
            .chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(TlsConnector {
                config: tls_config.clone(),
            })
            .chain(ReasonTapConnector);
        let agent = ureq::Agent::with_parts(config, connector, DefaultResolver::default());
        let user_agent = v.user_agent(&self.user_agent);
        let core = ClientCore::from_options(v, |rb: RequestBuilder| {
            rb.user_agent(Some(user_agent)).accept_gzip(true)
        });
        Ok(Client {
            inner: Arc::new(Inner {
                agent,
                tls_config,
                proxy,
                core,
                second,
                clock: self.clock,
                mono: MonoClock::starting_at(Instant::now()),
            }),
        })
    }
}

struct Inner {
    agent: ureq::Agent,
    /// The TLS configuration of every connection (consoles make their own).
    tls_config: Arc<rustls::ClientConfig>,
    /// The proxy, if any (consoles tunnel through it themselves).
    proxy: Option<ureq::Proxy>,
    /// Request building, the session with its login and renewal leases, the retry policy.
    core: ClientCore,
    /// Answers the flows' second-factor step (a factor given with the options never asks).
    second: Option<SecondFactorCallback>,
    clock: Clock,
    mono: MonoClock,
}

/// Wakes a thread parked in [`Client::run`] while another thread logs in.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A blocking client. Cheap to clone; clones share connections and the session.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("target", self.inner.core.target())
            .field("auth", &self.inner.core.auth_kind())
            .finish()
    }
}

/// A raw answer: status, the reason phrase as the server sent it, headers and body (gzip
/// already decoded).
pub type RawResponse = HttpReply;

/// A ureq failure as the flows see it: whether the request may have been sent, whether it was
/// a timeout, and whether it is permanent (a refused certificate: never retried).
fn transport_failure(e: ureq::Error) -> TransportFailure {
    use ureq::Error as U;
    // ureq's Error does not expose its I/O error as a source: look into it here.
    let (permanent, text) = match &e {
        U::Io(io) => (
            proxmox_proto::rustls_config::is_permanent_tls_failure(io),
            proxmox_proto::rustls_config::tls_failure_text(io),
        ),
        other => (
            proxmox_proto::rustls_config::is_permanent_tls_failure(other),
            None,
        ),
    };
    let message = text.unwrap_or_else(|| e.to_string());
    let (not_sent, timeout) = match &e {
        U::HostNotFound
        | U::ConnectionFailed
        | U::ConnectProxyFailed(_)
        | U::Tls(_)
        | U::Rustls(_) => (true, false),
        U::Timeout(t) => (
            matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect),
            true,
        ),
        U::BadUri(_) | U::InvalidProxyUrl | U::RequireHttpsOnly(_) => (true, false),
        // Nothing is written before the handshake has succeeded.
        U::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<tls::HandshakeFailed>()) =>
        {
            (true, false)
        }
        // A TLS failure (certificate refused, handshake) happens before the request is
        // written, and so do these I/O errors: they only come from connecting.
        U::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
                || matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::AddrNotAvailable
                        | std::io::ErrorKind::NetworkUnreachable
                        | std::io::ErrorKind::HostUnreachable
                ) =>
        {
            (true, false)
        }
        _ => (false, false),
    };
    use proxmox_proto::flow::{FailureKind as K, Phase};
    let kind = match &e {
        U::HostNotFound => Some(K::Dns),
        U::ConnectionFailed | U::ConnectProxyFailed(_) => Some(K::Connect),
        U::Tls(_) | U::Rustls(_) => Some(K::Tls),
        U::Timeout(t) => Some(K::Timeout(match t {
            ureq::Timeout::Resolve | ureq::Timeout::Connect => Phase::Connect,
            ureq::Timeout::SendRequest | ureq::Timeout::SendBody => Phase::Send,
            ureq::Timeout::Await100 | ureq::Timeout::RecvResponse => Phase::Response,
            ureq::Timeout::RecvBody => Phase::Body,
            _ => Phase::Unknown,
        })),
        U::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<tls::HandshakeFailed>()) =>
        {
            Some(K::Tls)
        }
        // ureq's Error does not expose its I/O error as a source: read the kind from it here.
        U::Io(io) => K::of_error(io).filter(|k| !matches!(k, K::Timeout(_)) || timeout),
        _ => None,
    };
    // A name that did not resolve or a connection that was not made: nothing was sent, in
    // whatever form ureq reports it (a DNS failure comes as an I/O error).
    let not_sent = not_sent || matches!(kind, Some(K::Dns | K::Connect));
    let mut f = if not_sent {
        TransportFailure::not_sent(message)
    } else {
        TransportFailure::maybe_sent(message)
    };
    f.timeout = timeout;
    f.permanent = permanent;
    if let Some(k) = kind {
        f = f.with_kind(k);
    }
    f.with_source(e)
}

impl Client {
    /// Start building a client for `host` (`name`, `name:port`, IPv4, IPv6, `[v6]:port`).
    pub fn builder(host: &str) -> ClientBuilder {
        ClientBuilder::new(host)
    }

    /// The target.
    ///
    /// ```no_run
    /// # use proxmox_ureq::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// println!("{}", client.target().base_url());
    /// # Ok(()) }
    /// ```
    pub fn target(&self) -> &Target {
        self.inner.core.target()
    }

    pub(crate) fn now(&self) -> Duration {
        (self.inner.clock)()
    }

    fn flow_now(&self) -> Now {
        Now::new(self.inner.mono.at(Instant::now()), self.now())
    }

    /// The current session (for password logins), to save and resume later with
    /// [`ClientBuilder::session`]. Contains the ticket: store it like a password.
    ///
    /// ```no_run
    /// # use proxmox_ureq::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// if let Some(session) = client.session() {
    ///     // Store it like a password; resume later with ClientBuilder::session(session).
    ///     let _ = session;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn session(&self) -> Option<Session> {
        self.inner.core.session()
    }

    /// Log in now (password credentials), instead of lazily on the first call.
    ///
    /// ```no_run
    /// # use proxmox_ureq::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.login()?; // a wrong password fails here, not at the first call
    /// # Ok(()) }
    /// ```
    pub fn login(&self) -> Result<(), Error> {
        self.current_auth().map(|_| ())
    }

    /// The auth to use now: logs in lazily or after expiry (once for all threads), renews in
    /// the last hour (one thread renews, the others go on with the still-valid ticket).
    pub(crate) fn current_auth(&self) -> Result<Auth, Error> {
        self.run(self.inner.core.authenticate())
    }

    /// The driver loop: drives a flow of the core to its end, performing its exchanges on this
    /// thread. Every API call runs through here.
    fn run<F: Flow>(&self, flow: F) -> Result<F::Output, Error> {
        self.run_with(flow, &mut |_| {})
    }

    /// [`Client::run`], handing the flow's events to `on_event`.
    pub(crate) fn run_with<F: Flow>(
        &self,
        flow: F,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<F::Output, Error> {
        self.run_io(flow, on_event, &mut |exchange| {
            self.perform(exchange, &mut None)
        })
    }

    /// The driver loop itself; `perform` performs each exchange (an upload's streams its
    /// body, a console's keeps the upgraded connection).
    pub(crate) fn run_io<F: Flow>(
        &self,
        mut flow: F,
        on_event: &mut dyn FnMut(Event),
        perform: &mut dyn FnMut(Exchange) -> Reply,
    ) -> Result<F::Output, Error> {
        loop {
            let now = self.flow_now();
            match next_io(&mut flow, now, on_event) {
                IoStep::Send(exchange) => {
                    let id = exchange.id;
                    let reply = perform(exchange);
                    flow.handle(id, reply);
                }
                IoStep::SleepUntil(t) => std::thread::sleep(now.mono.until(t)),
                IoStep::WaitForLogin { until } | IoStep::WaitForSlot { until } => {
                    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
                    if flow.wake_on_release(&waker) {
                        // Woken when the login ends or a slot of the node comes free; a
                        // spurious wake-up just polls again.
                        std::thread::park_timeout(now.mono.until(until));
                    }
                }
                // Every exchange was answered before this poll: the flow is stuck.
                IoStep::AwaitReplies => {
                    return Err(Error::Config(
                        "a flow awaited a reply the blocking driver had already given".into(),
                    ));
                }
                // No factor was given with the options: the callback answers, if any.
                IoStep::SecondFactor(challenge) => flow.answer_second_factor(
                    self.inner
                        .second
                        .as_ref()
                        .and_then(|ask| ask(&challenge))
                        .ok_or(proxmox_proto::auth::AuthError::SecondFactorRequired),
                ),
                IoStep::Done(result) => return result.map_err(Error::from),
            }
        }
    }

    /// Perform one exchange of a flow.
    pub(crate) fn perform(
        &self,
        exchange: Exchange,
        body: &mut Option<ureq::SendBody<'_>>,
    ) -> Reply {
        let traced = proxmox_proto::trace::exchange(&exchange);
        let started = Instant::now();
        let reply = self.perform_untraced(exchange, body);
        traced.answered(&reply, started.elapsed());
        reply
    }

    fn perform_untraced(&self, exchange: Exchange, body: &mut Option<ureq::SendBody<'_>>) -> Reply {
        let Exchange {
            payload,
            connect_timeout,
            read_timeout,
            body_limit,
            ..
        } = exchange;
        match payload {
            Payload::Http(req) => {
                // Exactly the framing the core built: POST and PUT carry its Content-Length;
                // GET and DELETE have no body, so no Content-Length and no Transfer-Encoding
                // (ureq 3 would add `Content-Length: 0` for an empty `Vec`, so they go with
                // `()`). pve-http-server's request reader (PVE::APIServer::AnyEvent,
                // `unshift_read_header`) reads a body only when the request has a
                // Content-Length, and refuses chunked bodies with 501.
                let body_less = req.body().is_empty()
                    && !req.headers().contains_key(http::header::CONTENT_LENGTH);
                let result = if body_less {
                    self.exchange(req.map(|_| ()), connect_timeout, read_timeout, body_limit)
                } else {
                    let req = req.map(proxmox_proto::request::FormBody::into_vec);
                    self.exchange(req, connect_timeout, read_timeout, body_limit)
                };
                match result {
                    Ok(r) => Reply::Http(r),
                    Err(f) => Reply::Failed(f),
                }
            }
            // A streamed body goes once: the flow never asks twice, save after a 401.
            Payload::HttpStreaming { head, .. } => match body.take() {
                Some(b) => {
                    let (parts, ()) = head.into_parts();
                    let req = http::Request::from_parts(parts, b);
                    match self.exchange(req, connect_timeout, read_timeout, body_limit) {
                        Ok(r) => Reply::Http(r),
                        Err(f) => Reply::Failed(f),
                    }
                }
                None => Reply::Failed(
                    TransportFailure::not_sent(
                        "the upload's body was already sent once (the server refused the \
                         ticket?): upload again",
                    )
                    .permanent(),
                ),
            },
            Payload::Command(_) | Payload::CommandInput { .. } => Reply::Failed(
                TransportFailure::not_sent("this exchange kind is not performed by this client")
                    .permanent(),
            ),
        }
    }

    /// One HTTP exchange: the request, the whole body within the limit and timeouts.
    fn exchange<B: ureq::AsSendBody>(
        &self,
        req: http::Request<B>,
        connect_timeout: Duration,
        read_timeout: Duration,
        limit: u64,
    ) -> Result<HttpReply, TransportFailure> {
        use std::io::Read;
        use ureq::RequestExt;
        tls::clear_last_reason();
        let policy = self.inner.core.policy();
        let req = req.with_agent(&self.inner.agent);
        // The agent is configured with the client's timeouts; a request-level configuration
        // (a copy of the agent's) only when this exchange's differ.
        let resp =
            if connect_timeout == policy.connect_timeout && read_timeout == policy.read_timeout {
                req.run()
            } else {
                req.configure()
                    .timeout_connect(Some(connect_timeout))
                    .timeout_recv_response(Some(read_timeout))
                    .timeout_recv_body(Some(read_timeout))
                    .run()
            }
            .map_err(transport_failure)?;
        let reason = tls::take_last_reason();
        let (parts, body) = resp.into_parts();
        // ureq decodes gzip itself; the declared length is then the encoded one.
        let encoded = parts.headers.contains_key(http::header::CONTENT_ENCODING);
        let capacity =
            proxmox_proto::response::body_capacity(body.content_length(), encoded, limit)
                .map_err(TransportFailure::refused)?;
        let mut buf = Vec::with_capacity(capacity);
        body.into_with_config()
            .limit(limit)
            .reader()
            .read_to_end(&mut buf)
            .map_err(|e| match ureq::Error::from(e) {
                ureq::Error::BodyExceedsLimit(_) => {
                    TransportFailure::refused(proxmox_proto::ProtocolError::BodyTooLarge {
                        size: limit + 1,
                        limit,
                    })
                }
                other => {
                    let mut f = transport_failure(other);
                    // The head came: the request was sent.
                    f.may_have_been_sent = true;
                    f
                }
            })?;
        Ok(HttpReply {
            status: parts.status.as_u16(),
            reason,
            headers: parts.headers,
            body: buf,
            peer_fingerprint: None,
            attempts: 0,
            endpoint: proxmox_proto::flow::EndpointId::PRIMARY,
        })
    }

    /// Perform a call and return the raw answer, with auth, renewal and the retry rules of
    /// [`proxmox_proto::retry`], within the call's deadline. Error statuses are answers, not
    /// errors.
    ///
    /// ```no_run
    /// # use proxmox_ureq::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let raw = client.call_raw(&Call::get("version")?, &CallOptions::default())?;
    /// println!("{} ({} bytes)", raw.status, raw.body.len());
    /// # Ok(()) }
    /// ```
    pub fn call_raw(&self, call: &Call, opts: &CallOptions) -> Result<RawResponse, Error> {
        self.run(self.inner.core.call(call.clone(), opts))
    }

    /// Perform a call and return the whole envelope (`data` plus `total` and friends).
    ///
    /// ```no_run
    /// # use proxmox_ureq::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let env: proto::response::Envelope<Vec<serde_json::Value>> =
    ///     client.call_envelope(&Call::get("cluster/tasks")?, &CallOptions::default())?;
    /// println!("{} tasks of {:?}", env.data.len(), env.total);
    /// # Ok(()) }
    /// ```
    pub fn call_envelope<T: DeserializeOwned>(
        &self,
        call: &Call,
        opts: &CallOptions,
    ) -> Result<Envelope<T>, Error> {
        let raw = self.call_raw(call, opts)?;
        Ok(self.core().envelope(
            call,
            raw.status,
            raw.reason.as_deref(),
            &raw.body,
            raw.attempts,
        )?)
    }

    /// Perform a call and return `data` as `T`.
    ///
    /// ```no_run
    /// # use proxmox_ureq::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let status: serde_json::Value = client.call(&Call::get(("nodes", "pve1", "status"))?)?;
    /// # Ok(()) }
    /// ```
    pub fn call<T: DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
        self.call_with(call, &CallOptions::default())
    }

    /// Perform a call with options (deadline, timeouts, body limit, attempts) and return
    /// `data` as `T`.
    ///
    /// ```no_run
    /// # use proxmox_ureq::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let opts = CallOptions::default().timeout(std::time::Duration::from_secs(5));
    /// let version: serde_json::Value = client.call_with(&Call::get("version")?, &opts)?;
    /// # Ok(()) }
    /// ```
    pub fn call_with<T: DeserializeOwned>(
        &self,
        call: &Call,
        opts: &CallOptions,
    ) -> Result<T, Error> {
        self.call_envelope(call, opts).map(|e| e.data)
    }

    /// [`Client::call`] with an owned call (no copy of its parameters).
    fn call_owned<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let (method, path) = (call.method, call.path.clone());
        let raw = self.run(self.inner.core.call(call, &CallOptions::default()))?;
        Ok(self.inner.core.data(method, &path, &raw)?)
    }

    proxmox_proto::blocking_client_methods!("proxmox_ureq");
    proxmox_proto::blocking_flow_methods!("proxmox_ureq");

    /// The core's flows of this client (for driving one yourself).
    ///
    /// ```no_run
    /// # use proxmox_ureq::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let base = client.core().target().base_url();
    /// # Ok(()) }
    /// ```
    pub fn core(&self) -> &ClientCore {
        &self.inner.core
    }

    fn runtime(&self) -> proxmox_proto::capability::Runtime {
        proxmox_proto::capability::Runtime::Blocking
    }
}
