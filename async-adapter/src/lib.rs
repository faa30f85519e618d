//! # proxmox-async: an async Proxmox VE, PMG and PBS client
//!
//! The same capabilities and method names as the blocking `proxmox-ureq`, over async I/O.
//! Everything protocol-shaped (requests, auth and renewal decisions, retry rules, task
//! waiters, checksum discovery, upload framing) comes from [`proxmox_proto`]; the client is
//! written once against a small [`Transport`] trait, with three transports behind features:
//!
//! | feature | runtime | HTTP | TLS |
//! |---|---|---|---|
//! | `hyper` (default) | tokio | hyper 1, hyper-util's pooled client | rustls 0.23, ring provider (hyper-rustls) |
//! | `reqwest` | tokio | reqwest 0.13 / hyper 1 | rustls 0.23, ring provider |
//! | `surf` | async-std | surf 2.3 / async-h1 | rustls 0.18, ring 0.16 |
//!
//! ```no_run
//! # async fn demo() -> Result<(), proxmox_async::Error> {
//! use std::time::Duration;
//! let pve = proxmox_async::Client::builder("pve1.example.com")
//!     .api_token("automation@pve!ci", "8b1c…")
//!     .ca_file("pve-root-ca.pem")             // or .fingerprint("AB:CD:…")
//!     .timeout(Duration::from_secs(30))
//!     .max_in_flight(6)                       // PVE serves about 3 workers per node
//!     .build()?;
//! let vms: Vec<serde_json::Value> = pve.get(("nodes", "pve1", "qemu")).await?;
//! let configs = pve
//!     .map_concurrent(vms.iter().filter_map(|v| v["vmid"].as_u64()), |vmid| {
//!         let pve = pve.clone();
//!         async move { pve.get::<serde_json::Value>(("nodes", "pve1", "qemu", vmid, "config")).await }
//!     })
//!     .await;
//! # let _ = configs; Ok(()) }
//! ```
//!
//! ## Which transport
//!
//! **`hyper` is the default.** It runs on tokio, which is what most async Rust uses; hyper,
//! hyper-util and hyper-rustls are maintained and are what reqwest itself is built on, without
//! reqwest's layers (URL re-parsing, redirect and decompression machinery), so a call costs
//! less CPU. It keeps PVE's non-standard reason phrases (where PVE puts its error messages;
//! hyper stores them in a `ReasonPhrase` response extension), reads every status code
//! (including PVE's 595–599), and supports every option of the builder on current rustls 0.23
//! with the ring provider, without OpenSSL or aws-lc: CA files, fingerprint pinning (a custom
//! rustls verifier), client certificates, insecure mode, IP-address hosts, and an HTTP or
//! HTTPS proxy, given (with `user:password`) or from `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`
//! (API calls go through a `CONNECT` tunnel). It asks for gzip and decodes it as the body
//! arrives (flate2's pure-Rust backend), counting the decoded bytes against the body limit.
//!
//! **`reqwest`** runs on tokio too and supports the same options, and also asks for and decodes
//! gzip. Choose it when the application already builds reqwest.
//!
//! **`surf`** runs on async-std, as the project's design first asked. Choose it knowingly:
//! async-std is discontinued (RUSTSEC-2025-0052, in favour of smol) and surf is unmaintained
//! (RUSTSEC-2026-0169); its only backend that builds without OpenSSL (`h1-client-rustls`) pulls
//! rustls 0.18 and ring 0.16, which carry advisories of their own. With surf:
//!
//! * CA files, fingerprint pinning, client certificates (PKCS#8 or PKCS#1 keys) and the
//!   insecure mode work (a rustls 0.18 configuration with a custom verifier);
//! * an HTTP proxy, and TLS to an IP-address host (rustls 0.18 only knows DNS names), are
//!   refused at build time with [`Error::Unsupported`];
//! * the reason phrase is not available (async-h1 drops it), so error messages come from the
//!   body's `message`, which PVE sends (pve-http-server 5.2 and later);
//! * status codes outside http-types 2's list cannot be read: PVE's 595–599 ("node
//!   unreachable", sent by a cluster node for a peer it cannot reach) come back as
//!   [`Error::Transport`] saying so, not as a typed 595 API error;
//! * gzip is not asked for (no decoder in that stack);
//! * the connect timeout is not separate: it counts into the time to the response head.
//!
//! Any of the features can be enabled together; [`ClientBuilder::backend`] picks one (default:
//! hyper, else reqwest, else surf).
//!
//! ## Behaviour
//!
//! * At most [`ClientBuilder::max_in_flight`] requests (default 6) are on the wire at once per
//!   client (all clones share the limit); waiting for a slot is cancellation-safe.
//! * Every call runs the core's API-call flow ([`proxmox_proto::flow`]) in one driver loop:
//!   password sessions log in lazily, once for all tasks (the login is a lease the others
//!   wait for), renew the ticket in its last hour (one task renews, the others keep using the
//!   still-valid ticket), and log in again once after a 401. A TFA step is never retried.
//! * A GET that failed after it may have been sent is retried; a POST, PUT or DELETE never. A
//!   refused certificate (not the pinned one, unknown issuer) is never retried.
//! * `timeout` (client or [`CallOptions`]) is the deadline of the whole call: attempts, backoff,
//!   waiting for a slot and for another task's login included. `max_attempts` (default 3) is
//!   the only setting for attempts. Errors say how many attempts took how long.
//! * Cancellation: dropping any future of this client at any await point is safe. The dropped
//!   flow gives back its login or renewal lease at once (a lease also runs out by itself), a
//!   slot is released by its permit, and an exchange dropped before its body was read to the
//!   end is reported to the transport, which never hands that connection out again.
//! * Timeouts use the runtime's timer through [`Transport::sleep`]. The read timeout bounds
//!   the wait for the response head and for every body chunk (a chunk that is already there
//!   costs no timer). hyper and reqwest bound connecting (TCP, proxy tunnel, TLS) with the
//!   client's connect timeout themselves; with surf the connect timeout is added to the
//!   deadline for the head. Both are cut to what remains of the call's deadline.
#![forbid(unsafe_code)]
// Without a transport feature only build_with_transport() is usable.
#![cfg_attr(
    not(any(feature = "hyper", feature = "reqwest", feature = "surf")),
    allow(dead_code)
)]
// Library code never unwraps data from outside; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod console;
mod fanout;
mod files;
#[cfg(feature = "hyper")]
mod hyper_transport;
#[cfg(feature = "reqwest")]
mod reqwest_transport;
mod resources;
#[cfg(feature = "surf")]
mod surf_transport;
mod tasks;
#[cfg(feature = "surf")]
mod tls;
#[cfg(any(feature = "hyper", feature = "reqwest"))]
mod tokio_rt;
pub mod transport;

pub use console::{Console, ConsoleBuilder};
pub use fanout::map_concurrent;
pub use files::{DownloadChecksum, Progress, UploadChecksum};
#[cfg(feature = "hyper")]
pub use hyper_transport::HyperTransport;
#[cfg(feature = "reqwest")]
pub use reqwest_transport::ReqwestTransport;
#[cfg(feature = "surf")]
pub use surf_transport::SurfTransport;
pub use tasks::SetProgress;
pub use transport::{
    RequestBody, Transport, TransportError, TransportResponse, Upgraded, UploadStream,
};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use proxmox_proto::auth::{Auth, Session};
use proxmox_proto::capability::Runtime;
use proxmox_proto::flow::{
    ClientCore, Event, Exchange, Flow, HttpReply, IoStep, MonoClock, MonoTime, Now, Payload, Reply,
    next_io,
};
use proxmox_proto::options::{ClientOptions, ProxyOption, TlsOptions, ValidatedOptions};
use proxmox_proto::request::RequestBuilder;
use proxmox_proto::{InputError, Target, TransportKind};
use serde::de::DeserializeOwned;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use proxmox_proto as proto;

proxmox_proto::native_types!();

fn system_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

// What users touch, so that this crate alone is enough to depend on.
proxmox_proto::user_reexports!();

/// Which built-in transport a client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// hyper 1 over tokio, with hyper-util's pooled client and hyper-rustls (feature `hyper`).
    #[cfg(feature = "hyper")]
    Hyper,
    /// reqwest over tokio (feature `reqwest`).
    #[cfg(feature = "reqwest")]
    Reqwest,
    /// surf over async-std (feature `surf`).
    #[cfg(feature = "surf")]
    Surf,
}

impl Backend {
    /// Its row of the capability table.
    pub fn runtime(self) -> Runtime {
        match self {
            #[cfg(feature = "hyper")]
            Backend::Hyper => Runtime::AsyncHyper,
            #[cfg(feature = "reqwest")]
            Backend::Reqwest => Runtime::AsyncReqwest,
            #[cfg(feature = "surf")]
            Backend::Surf => Runtime::AsyncSurf,
        }
    }
}

/// The transport used when [`ClientBuilder::backend`] is not called.
#[cfg(feature = "hyper")]
const DEFAULT_BACKEND: Option<Backend> = Some(Backend::Hyper);
#[cfg(all(feature = "reqwest", not(feature = "hyper")))]
const DEFAULT_BACKEND: Option<Backend> = Some(Backend::Reqwest);
#[cfg(all(feature = "surf", not(any(feature = "hyper", feature = "reqwest"))))]
const DEFAULT_BACKEND: Option<Backend> = Some(Backend::Surf);
#[cfg(not(any(feature = "hyper", feature = "reqwest", feature = "surf")))]
const DEFAULT_BACKEND: Option<Backend> = None;

/// What the built-in transports are built from.
#[derive(Debug, Clone)]
#[cfg_attr(not(any(feature = "hyper", feature = "reqwest")), allow(dead_code))]
pub(crate) struct TransportSettings {
    pub(crate) tls: TlsOptions,
    pub(crate) proxy: ProxyOption,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_in_flight: usize,
}

/// Builds a [`Client`]. Every option is checked in [`ClientBuilder::build`], before any
/// request is sent; the option methods are the core's
/// ([`proxmox_proto::client_builder_methods`]), the same on every adapter. The proxy options
/// need the hyper or reqwest transport.
#[must_use]
pub struct ClientBuilder {
    options: ClientOptions,
    second_factor_callback: Option<SecondFactorCallback>,
    clock: Clock,
    max_in_flight: usize,
    backend: Option<Backend>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("options", &self.options)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Default number of requests in flight per client.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 6;

/// The builder's options, checked.
struct Checked {
    v: ValidatedOptions,
    /// Answers the flows' second-factor step (a factor given with the options never asks).
    second: Option<SecondFactorCallback>,
    clock: Clock,
    max_in_flight: usize,
}

/// Option errors as this crate has always reported them: bad or missing credentials and bad
/// option values are [`Error::Config`]; the rest is the core's typed error.
fn option_error(e: InputError) -> Error {
    match e {
        InputError::InvalidCredentials(m) => Error::Config(m),
        InputError::Invalid {
            what: "client option",
            reason,
        } => Error::Config(reason),
        e => e.into(),
    }
}

impl ClientBuilder {
    fn new(host: &str) -> Self {
        Self {
            options: ClientOptions::new(host),
            second_factor_callback: None,
            clock: Arc::new(system_clock),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            backend: None,
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
    /// # fn main() -> Result<(), proxmox_async::Error> {
    /// // PROXMOX_URL=https://pve1:8006 PROXMOX_TOKEN_ID=ci@pve!ci PROXMOX_TOKEN_SECRET=... ./app
    /// let client = proxmox_async::ClientBuilder::from_env().build()?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Self {
        let (options, warnings) =
            ClientOptions::from_env(&|k| std::env::var(k).ok(), &|p| std::fs::read(p));
        for w in warnings {
            eprintln!("proxmox-async: warning: {w}");
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
    /// its path. Read synchronously: call it before entering the runtime
    /// or accept one small blocking read.
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
    /// let client = proxmox_async::Client::builder("pve1.example.com")
    ///     .api_token("automation@pve!ci", "s3cr3t")
    ///     .pin_file("/etc/proxmox-pins")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn pin_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref();
        #[cfg(any(feature = "hyper", feature = "reqwest"))]
        let read = proxmox_proto::pin_file::read(path);
        // A surf-only build has no pin verifier: build() says so.
        #[cfg(not(any(feature = "hyper", feature = "reqwest")))]
        let read = proxmox_proto::capability::require(
            proxmox_proto::capability::Runtime::AsyncSurf,
            proxmox_proto::capability::Capability::PinStore,
        )
        .map(|()| proxmox_proto::pins::PinStore::new())
        .map_err(|e| e.to_string());
        self.options.set_pin_file(path, read);
        self
    }

    /// How many requests this client (and its clones) keeps on the wire at once (default 6;
    /// PVE serves API calls with about 3 workers per node). At least 1.
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// println!("at most {} requests at once", client.max_in_flight());
    /// # Ok(()) }
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Pick the transport (default: hyper when its feature is on, else reqwest, else surf).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    fn check(self) -> Result<Checked, Error> {
        let v = self
            .options
            .validate(TransportKind::Https)
            .map_err(option_error)?;
        if self.second_factor_callback.is_some() && v.auth_kind != proxmox_proto::AuthKind::Ticket {
            return Err(Error::Config(
                "a second factor needs a password login".into(),
            ));
        }
        let second = self.second_factor_callback;
        Ok(Checked {
            v,
            second,
            clock: self.clock,
            max_in_flight: self.max_in_flight,
        })
    }

    /// First contact without trust: connect to the host, read its certificate chain and stop
    /// — no request and no credentials are sent (credentials need not be set). The report
    /// gives the chain's SHA-256 fingerprints (the server's first: what `pvenode cert info`
    /// shows, and what to pin), whether it validates against the roots and CA files given,
    /// and what the pin store says. Uses the host, port, CA files, pin store and connect
    /// timeout of this builder; no proxy. Runs on tokio (the hyper and reqwest backends).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), proxmox_async::Error> {
    /// let report = proxmox_async::Client::builder("pve1.example.com").probe().await?;
    /// println!("{report}");
    /// # Ok(()) }
    /// ```
    #[cfg(any(feature = "hyper", feature = "reqwest"))]
    pub async fn probe(&self) -> Result<proxmox_proto::probe::ProbeReport, Error> {
        use proxmox_proto::probe::{Probe, ProbeFailure};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        #[cfg(feature = "surf")]
        if self.backend.or(DEFAULT_BACKEND) == Some(Backend::Surf) {
            return Err(Error::Config(
                "probe runs on tokio: use the hyper or reqwest backend for it".into(),
            ));
        }
        let (target, tls, timeout) = self.options.probe_settings()?;
        let start = std::time::Instant::now();
        let authority = target.authority();
        let fail = |f: ProbeFailure| f.into_error(&target, start.elapsed());
        let io = |what: &str, e: std::io::Error| fail(ProbeFailure::new(&authority, what, &e));
        let timed_out = || std::io::Error::from(std::io::ErrorKind::TimedOut);
        let mut probe = Probe::new(&target, &tls).map_err(Error::Config)?;
        let addr = (target.host_name(), target.port());
        let mut stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| io("connecting", timed_out()))?
            .map_err(|e| io("connecting", e))?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let out = probe.outgoing();
            if !out.is_empty() {
                stream
                    .write_all(&out)
                    .await
                    .map_err(|e| io("sending the TLS hello", e))?;
            }
            if let Some(r) = probe.report() {
                return r.map_err(|message| {
                    fail(ProbeFailure {
                        message,
                        timeout: false,
                    })
                });
            }
            match tokio::time::timeout(timeout, stream.read(&mut buf)).await {
                Err(_) => return Err(io("waiting for the certificate", timed_out())),
                Ok(Err(e)) => return Err(io("waiting for the certificate", e)),
                Ok(Ok(0)) => probe.closed(),
                Ok(Ok(n)) => probe.incoming(&buf[..n]),
            }
        }
    }

    /// Check everything and build the client with the chosen (or default) transport. A
    /// password login happens lazily, on the first call (or explicitly with
    /// [`Client::login`]). Building needs no runtime; calls need the transport's runtime
    /// (tokio for hyper and reqwest, async-std for surf).
    pub fn build(self) -> Result<Client, Error> {
        let backend = self.backend.or(DEFAULT_BACKEND);
        let c = self.check()?;
        let backend = backend.ok_or_else(|| {
            Error::Config(
                "no transport: enable the `hyper`, `reqwest` or `surf` feature, or use \
                 build_with_transport()"
                    .into(),
            )
        })?;
        let transport = builtin_transport(backend, &c)?;
        Ok(c.finish(transport, backend.runtime()))
    }

    /// Build the client over a transport of your own (another runtime, a test double). The
    /// TLS and proxy options of this builder belong to the built-in transports: setting them
    /// here is an error.
    pub fn build_with_transport(self, transport: Arc<dyn Transport>) -> Result<Client, Error> {
        let c = self.check()?;
        if c.v.tls != TlsOptions::default() || c.v.proxy != ProxyOption::None {
            return Err(Error::Config(
                "TLS and proxy options are not used with a custom transport: configure the transport".into(),
            ));
        }
        // A transport of your own is held to the full HTTP row of the capability table.
        Ok(c.finish(transport, Runtime::AsyncHyper))
    }
}

// Without a transport feature `Backend` has no variants and the settings go unused.
#[cfg_attr(
    not(any(feature = "hyper", feature = "reqwest", feature = "surf")),
    allow(unused_variables)
)]
fn builtin_transport(backend: Backend, c: &Checked) -> Result<Arc<dyn Transport>, Error> {
    let settings = TransportSettings {
        tls: c.v.tls.clone(),
        proxy: c.v.proxy.clone(),
        connect_timeout: c.v.connect_timeout,
        max_in_flight: c.max_in_flight,
    };
    match backend {
        #[cfg(feature = "hyper")]
        Backend::Hyper => Ok(Arc::new(
            HyperTransport::new(&settings).map_err(Error::Config)?,
        )),
        #[cfg(feature = "reqwest")]
        Backend::Reqwest => Ok(Arc::new(
            ReqwestTransport::new(&settings).map_err(Error::Config)?,
        )),
        #[cfg(feature = "surf")]
        Backend::Surf => {
            use proxmox_proto::capability::{Capability, Runtime, require};
            if settings.proxy != ProxyOption::None {
                require(Runtime::AsyncSurf, Capability::HttpProxy)?;
            }
            if matches!(
                c.v.target.host(),
                proxmox_proto::Host::V4(_) | proxmox_proto::Host::V6(_)
            ) {
                require(Runtime::AsyncSurf, Capability::TlsToIpAddress)?;
            }
            Ok(Arc::new(
                SurfTransport::new(&settings).map_err(Error::Config)?,
            ))
        }
    }
}

impl Checked {
    fn finish(self, transport: Arc<dyn Transport>, runtime: Runtime) -> Client {
        let user_agent = self
            .v
            .user_agent(concat!("proxmox-async/", env!("CARGO_PKG_VERSION")));
        let connect_timeout = self.v.connect_timeout;
        let core = ClientCore::from_options(self.v, |rb: RequestBuilder| {
            rb.user_agent(Some(user_agent)).accept_gzip(false)
        });
        Client {
            inner: Arc::new(Inner {
                transport,
                runtime,
                core,
                limiter: async_lock::Semaphore::new(self.max_in_flight),
                max_in_flight: self.max_in_flight,
                second: self.second,
                clock: self.clock,
                mono: MonoClock::starting_at(Instant::now()),
                connect_timeout,
            }),
        }
    }
}

struct Inner {
    transport: Arc<dyn Transport>,
    /// The row of the capability table this client is held to.
    runtime: Runtime,
    /// Request building, the session with its login and renewal leases, the retry policy.
    core: ClientCore,
    /// Requests on the wire.
    limiter: async_lock::Semaphore,
    max_in_flight: usize,
    /// Answers the flows' second-factor step (a factor given with the options never asks).
    second: Option<SecondFactorCallback>,
    clock: Clock,
    mono: MonoClock,
    /// The client's connect timeout, for transports that do not bound connecting themselves.
    connect_timeout: Duration,
}

/// An async client. Cheap to clone; clones share the transport, the session and the in-flight
/// limit. Its futures are `Send`.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("target", self.inner.core.target())
            .field("auth", &self.inner.core.auth_kind())
            .field("transport", &self.inner.transport.name())
            .field("max_in_flight", &self.inner.max_in_flight)
            .finish()
    }
}

/// A raw answer: status, reason phrase (as sent by the server, when the transport keeps it),
/// headers and body (gzip already decoded).
pub type RawResponse = HttpReply;

/// The limits of one exchange.
/// What the exchanges of one flow share with its caller: the body of its streamed exchange
/// (sent once), and the connection an upgrade handed over.
#[derive(Default)]
pub(crate) struct ExchangeIo {
    pub(crate) body: std::sync::Mutex<Option<RequestBody>>,
    pub(crate) upgraded:
        std::sync::Mutex<Option<(proxmox_proto::flow::ExchangeId, transport::Upgraded)>>,
}

struct Limits {
    /// The connect timeout (`None`: the client's), added to the wait for the head when the
    /// transport does not bound connecting itself.
    connect: Option<Duration>,
    read: Duration,
    body: u64,
    /// The call's deadline, which bounds waiting for an in-flight slot.
    deadline: Option<MonoTime>,
}

/// Tells the transport when an exchange is dropped before its body was read to the end.
struct ExchangeGuard<'a> {
    transport: &'a dyn Transport,
    complete: bool,
}

impl Drop for ExchangeGuard<'_> {
    fn drop(&mut self) {
        if !self.complete {
            self.transport.abandoned();
        }
    }
}

impl Client {
    /// Start building a client for `host` (`name`, `name:port`, IPv4, IPv6, `[v6]:port`).
    pub fn builder(host: &str) -> ClientBuilder {
        ClientBuilder::new(host)
    }

    /// The target.
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// println!("{}", client.target().base_url());
    /// # Ok(()) }
    /// ```
    pub fn target(&self) -> &Target {
        self.inner.core.target()
    }

    /// The transport's name (`"hyper"`, `"reqwest"`, `"surf"`, or a custom one).
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// println!("over {}", client.transport_name());
    /// # Ok(()) }
    /// ```
    pub fn transport_name(&self) -> &'static str {
        self.inner.transport.name()
    }

    /// The in-flight limit.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight
    }

    pub(crate) fn now(&self) -> Duration {
        (self.inner.clock)()
    }

    fn flow_now(&self) -> Now {
        Now::new(self.inner.mono.at(Instant::now()), self.now())
    }

    pub(crate) fn transport(&self) -> &dyn Transport {
        &*self.inner.transport
    }

    /// The core's flows of this client (for driving one yourself).
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let base = client.core().target().base_url();
    /// # Ok(()) }
    /// ```
    pub fn core(&self) -> &ClientCore {
        &self.inner.core
    }

    fn runtime(&self) -> Runtime {
        self.inner.runtime
    }

    proxmox_proto::async_flow_methods!("proxmox_async", Send);

    /// The current session (for password logins), to save and resume later with
    /// [`ClientBuilder::session`]. Contains the ticket: store it like a password.
    ///
    /// ```no_run
    /// # use proxmox_async::*;
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

    /// Log in now (password credentials), instead of lazily on the first call.
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.login().await?; // a wrong password fails here, not at the first call
    /// # Ok(()) }
    /// ```
    pub async fn login(&self) -> Result<(), Error> {
        self.current_auth().await.map(|_| ())
    }

    /// The auth to use now: logs in lazily or after expiry (once for all tasks), renews in the
    /// last hour (one task renews, the others go on with the still-valid ticket).
    pub(crate) async fn current_auth(&self) -> Result<Auth, Error> {
        self.run(self.inner.core.authenticate()).await
    }

    /// Sleep on the runtime's timer (the transport's), e.g. to time out a call without naming
    /// the runtime.
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.sleep(std::time::Duration::from_millis(250)).await;
    /// # Ok(()) }
    /// ```
    pub fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send + Unpin + 'static {
        self.inner.transport.sleep(d)
    }

    /// `fut`, or `None` when `d` passes first. The timer is armed only when `fut` is not ready
    /// on its first poll: a body chunk that is already buffered costs no timer.
    pub(crate) async fn timed<F: Future>(&self, d: Duration, fut: F) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        let mut timer: Option<transport::BoxFuture<'static, ()>> = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            timer
                .get_or_insert_with(|| self.inner.transport.sleep(d))
                .as_mut()
                .poll(cx)
                .map(|()| None)
        })
        .await
    }

    /// The driver loop: drives a flow of the core to its end, performing its exchanges on
    /// the transport. Every API call runs through here. Dropping the future at any await
    /// point drops the flow, which gives back any login or renewal lease at once.
    async fn run<F: Flow>(&self, flow: F) -> Result<F::Output, Error> {
        self.run_with(flow, &mut |_| {}).await
    }

    /// [`Client::run`], handing the flow's events to `on_event`. Exchanges a flow hands out
    /// together (the status requests of many tasks) are performed concurrently, within the
    /// client's in-flight limit; a lone exchange is performed in place.
    pub(crate) async fn run_with<F: Flow>(
        &self,
        flow: F,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> Result<F::Output, Error> {
        self.run_io(flow, on_event, &ExchangeIo::default()).await
    }

    /// The driver loop itself; `body` holds the body of the flow's streamed exchange (an
    /// upload), sent once, and receives the connection of an upgrade (a console).
    pub(crate) async fn run_io<F: Flow>(
        &self,
        mut flow: F,
        on_event: &mut (dyn FnMut(Event) + Send),
        body: &ExchangeIo,
    ) -> Result<F::Output, Error> {
        // The first exchange handed out, and any handed out with it; the in-flight set is
        // made only when a flow has several at once (a lone exchange is performed in place).
        let mut first: Option<Exchange> = None;
        let mut more: Vec<Exchange> = Vec::new();
        let mut in_flight = None;
        let mut now = self.flow_now();
        loop {
            let step = next_io(&mut flow, now, on_event);
            let idle = in_flight
                .as_ref()
                .is_none_or(|f: &FuturesUnordered<_>| f.is_empty());
            let step = match step {
                // Nothing was awaited: poll again with the same time.
                IoStep::Send(exchange) if first.is_none() => {
                    first = Some(exchange);
                    continue;
                }
                IoStep::Send(exchange) => {
                    more.push(exchange);
                    continue;
                }
                // No factor was given with the options: the callback answers, if any.
                IoStep::SecondFactor(challenge) => {
                    let answer = self.inner.second.as_ref().and_then(|ask| ask(&challenge));
                    flow.answer_second_factor(
                        answer.ok_or(proxmox_proto::auth::AuthError::SecondFactorRequired),
                    );
                    continue;
                }
                IoStep::Done(result) => return result.map_err(Error::from),
                IoStep::AwaitReplies if more.is_empty() && idle => {
                    let Some(exchange) = first.take() else {
                        return Err(Error::Config(
                            "a flow awaited a reply to nothing it had handed out".into(),
                        ));
                    };
                    let id = exchange.id;
                    let reply = self.perform(exchange, body).await;
                    flow.handle(id, reply);
                    now = self.flow_now();
                    continue;
                }
                other => other,
            };
            let in_flight = in_flight.get_or_insert_with(FuturesUnordered::new);
            for exchange in first.take().into_iter().chain(more.drain(..)) {
                let id = exchange.id;
                in_flight.push(async move { (id, self.perform(exchange, body).await) });
            }
            let answered = match step {
                IoStep::AwaitReplies => match in_flight.next().await {
                    Some(answer) => Some(answer),
                    None => {
                        return Err(Error::Config(
                            "a flow awaited a reply to nothing it had handed out".into(),
                        ));
                    }
                },
                IoStep::SleepUntil(t) if in_flight.is_empty() => {
                    self.sleep(now.mono.until(t)).await;
                    None
                }
                IoStep::SleepUntil(t) => self
                    .timed(now.mono.until(t), in_flight.next())
                    .await
                    .flatten(),
                IoStep::WaitForLogin { until } | IoStep::WaitForSlot { until } => {
                    // Woken when the login ends (or at the end of its lease) or a slot of the
                    // node comes free, or by an answer (the login may be one of this flow's
                    // own exchanges); a spurious wake-up just polls again.
                    let mut registered = false;
                    let mut next = in_flight.next();
                    let woken = std::future::poll_fn(|cx| {
                        if let Poll::Ready(Some(answer)) = std::pin::Pin::new(&mut next).poll(cx) {
                            return Poll::Ready(Some(answer));
                        }
                        if registered || !flow.wake_on_release(cx.waker()) {
                            return Poll::Ready(None);
                        }
                        registered = true;
                        Poll::Pending
                    });
                    self.timed(now.mono.until(until), woken).await.flatten()
                }
                IoStep::Send(_) | IoStep::SecondFactor(_) | IoStep::Done(_) => None,
            };
            if let Some((id, reply)) = answered {
                flow.handle(id, reply);
            }
            now = self.flow_now();
        }
    }

    /// Perform one exchange of a flow.
    async fn perform(&self, exchange: Exchange, body: &ExchangeIo) -> Reply {
        let traced = proxmox_proto::trace::exchange(&exchange);
        let started = Instant::now();
        let reply = self.perform_untraced(exchange, body).await;
        traced.answered(&reply, started.elapsed());
        reply
    }

    async fn perform_untraced(&self, exchange: Exchange, body: &ExchangeIo) -> Reply {
        let Exchange {
            id,
            kind,
            payload,
            connect_timeout,
            read_timeout,
            body_limit,
            deadline,
            ..
        } = exchange;
        match payload {
            Payload::Http(req) if kind == proxmox_proto::flow::ExchangeKind::WebSocket => {
                let req = req.map(|b| RequestBody::Bytes(Bytes::from(b.into_vec())));
                let limits = Limits {
                    connect: Some(connect_timeout),
                    read: read_timeout,
                    body: body_limit,
                    deadline,
                };
                match self.upgrade(req, limits).await {
                    Ok((reply, upgraded)) => {
                        if let Some(up) = upgraded {
                            *body
                                .upgraded
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                                Some((id, up));
                        }
                        Reply::Http(reply)
                    }
                    Err(f) => Reply::Failed(f),
                }
            }
            Payload::Http(req) => {
                let (parts, body) = req.into_parts();
                let req = http::Request::from_parts(
                    parts,
                    RequestBody::Bytes(Bytes::from(body.into_vec())),
                );
                let limits = Limits {
                    connect: Some(connect_timeout),
                    read: read_timeout,
                    body: body_limit,
                    deadline,
                };
                match self.exchange(req, limits).await {
                    Ok(r) => Reply::Http(r),
                    Err(f) => Reply::Failed(f),
                }
            }
            // A streamed body goes once: the flow never asks twice, save after a 401.
            Payload::HttpStreaming { head, .. } => {
                let taken = body
                    .body
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                let Some(b) = taken else {
                    return Reply::Failed(
                        TransportError::not_sent(
                            "the upload's body was already sent once (the server refused the \
                             ticket?): upload again",
                        )
                        .permanent(),
                    );
                };
                let (parts, ()) = head.into_parts();
                let limits = Limits {
                    connect: Some(connect_timeout),
                    read: read_timeout,
                    body: body_limit,
                    deadline,
                };
                match self
                    .exchange(http::Request::from_parts(parts, b), limits)
                    .await
                {
                    Ok(r) => Reply::Http(r),
                    Err(f) => Reply::Failed(f),
                }
            }
            Payload::Command(_) | Payload::CommandInput { .. } => Reply::Failed(
                TransportError::not_sent("this exchange kind is not performed by this client")
                    .permanent(),
            ),
        }
    }

    /// One exchange: a slot (within the deadline), the request, the whole body (within the
    /// limit and timeouts).
    async fn exchange(
        &self,
        req: http::Request<RequestBody>,
        limits: Limits,
    ) -> Result<HttpReply, TransportError> {
        let _slot = match limits.deadline {
            Some(d) => {
                let left = self.inner.mono.at(Instant::now()).until(d);
                self.timed(left, self.inner.limiter.acquire())
                    .await
                    .ok_or_else(|| {
                        TransportError::not_sent(format!(
                            "no in-flight slot came free before the call's deadline ({} in flight at most)",
                            self.inner.max_in_flight
                        ))
                        .timed_out()
                    })?
            }
            None => self.inner.limiter.acquire().await,
        };
        let mut guard = ExchangeGuard {
            transport: &*self.inner.transport,
            complete: false,
        };
        let read = limits.read;
        // The deadline for the head: the read timeout, plus the connect timeout when the
        // transport does not bound connecting itself.
        let connect = if self.inner.transport.has_connect_timeout() {
            Duration::ZERO
        } else {
            limits.connect.unwrap_or(self.inner.connect_timeout)
        };
        let timeout = |what: &str| {
            TransportError::maybe_sent(format!("timed out waiting for the {what}")).timed_out()
        };
        let head = self
            .timed(connect.saturating_add(read), self.inner.transport.send(req))
            .await
            .ok_or_else(|| timeout("response head"))??;
        let reply = self.collect(head, &limits).await?;
        guard.complete = true;
        Ok(reply)
    }

    /// A WebSocket upgrade (a console's): the answer's head and, on `101`, the connection.
    async fn upgrade(
        &self,
        req: http::Request<RequestBody>,
        limits: Limits,
    ) -> Result<(HttpReply, Option<transport::Upgraded>), TransportError> {
        let connect = if self.inner.transport.has_connect_timeout() {
            Duration::ZERO
        } else {
            limits.connect.unwrap_or(self.inner.connect_timeout)
        };
        let (head, upgraded) = self
            .timed(
                connect.saturating_add(limits.read),
                self.inner.transport.upgrade(req),
            )
            .await
            .ok_or_else(|| {
                TransportError::maybe_sent("timed out waiting for the WebSocket upgrade's answer")
                    .timed_out()
            })??;
        let reply = self.collect(head, &limits).await?;
        Ok((reply, upgraded))
    }

    /// An answer's whole body, within the limit and the read timeout.
    async fn collect(
        &self,
        head: TransportResponse,
        limits: &Limits,
    ) -> Result<HttpReply, TransportError> {
        let read = limits.read;
        let timeout = |what: &str| {
            TransportError::maybe_sent(format!("timed out waiting for the {what}")).timed_out()
        };
        let limit = limits.body;
        // The transports that decode gzip drop Content-Length and Content-Encoding; any
        // encoding left is not decoded, so the declared length is that of the bytes read.
        let declared = head
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let capacity = proxmox_proto::response::body_capacity(declared, false, limit)
            .map_err(TransportError::refused)?;
        let mut body = Vec::with_capacity(capacity);
        let mut stream = head.body;
        loop {
            match self.timed(read, stream.next()).await {
                None => return Err(timeout("response body")),
                Some(None) => break,
                Some(Some(Err(e))) => return Err(e),
                Some(Some(Ok(chunk))) => {
                    let size = (body.len() + chunk.len()) as u64;
                    if size > limit {
                        return Err(TransportError::refused(
                            proxmox_proto::ProtocolError::BodyTooLarge { size, limit },
                        ));
                    }
                    if body.capacity() == 0 {
                        // Without a copy when the transport hands over an unshared buffer.
                        body = Vec::from(chunk);
                    } else {
                        body.extend_from_slice(&chunk);
                    }
                }
            }
        }
        Ok(HttpReply {
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            body,
            peer_fingerprint: None,
            attempts: 0,
            endpoint: proxmox_proto::flow::EndpointId::PRIMARY,
        })
    }

    /// Perform a call and return the raw answer, with auth, renewal and the retry rules of
    /// [`proxmox_proto::retry`], within the call's deadline. Error statuses are returned as
    /// answers, not errors.
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let raw = client.call_raw(&Call::get("version")?, &CallOptions::default()).await?;
    /// println!("{} ({} bytes)", raw.status, raw.body.len());
    /// # Ok(()) }
    /// ```
    pub async fn call_raw(&self, call: &Call, opts: &CallOptions) -> Result<RawResponse, Error> {
        self.run(self.inner.core.call(call.clone(), opts)).await
    }

    async fn call_owned<T: DeserializeOwned>(&self, call: Result<Call, Error>) -> Result<T, Error> {
        let call = call?;
        let (method, path) = (call.method, call.path.clone());
        let raw = self
            .run(self.inner.core.call(call, &CallOptions::default()))
            .await?;
        Ok(self.inner.core.data(method, &path, &raw)?)
    }

    proxmox_proto::async_client_methods!("proxmox_async", Send);
}
