//! Client options shared by every adapter: where to connect, how to authenticate, how to check
//! the server certificate, timeouts, proxy, limits. All checks happen in
//! [`ClientOptions::validate`], before any request is sent, so a bad value is a clear error at
//! build time on every transport alike.
//!
//! Adapters keep a `ClientOptions` inside their builder and get the same chainable methods
//! from [`client_builder_methods!`](crate::client_builder_methods), so the option surface is
//! written once:
//!
//! ```
//! use proxmox_proto::options::ClientOptions;
//! use proxmox_proto::TransportKind;
//!
//! pub struct MyBuilder { options: ClientOptions }
//! impl MyBuilder {
//!     proxmox_proto::client_builder_methods!(options);
//! }
//! let b = MyBuilder { options: ClientOptions::new("pve1.example.com") }
//!     .api_token("automation@pve!ci", "s3cr3t")
//!     .fingerprint("ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89");
//! let v = b.options.validate(TransportKind::Https).unwrap();
//! assert_eq!(v.target.base_url(), "https://pve1.example.com:8006/api2/json");
//! let bad = MyBuilder { options: ClientOptions::new("pve1:0") }.api_token("a@b!c", "d");
//! assert!(bad.options.validate(TransportKind::Https).is_err());
//! ```

use crate::auth::{SecondFactor, Secret, Session};
use crate::error::InputError;
use crate::service::{AuthKind, Service, TransportKind};
use crate::session::{Credentials, SessionManager};
use crate::target::Target;
use crate::tls::Fingerprint;
use std::fmt;
use std::time::Duration;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default read timeout (time to the response head, and between body reads).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How the server certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsVerification {
    /// The platform's web PKI roots plus any extra CA certificates.
    #[default]
    WebPki,
    /// Only the certificate with this SHA-256 fingerprint is accepted (replaces CA checks).
    Pinned(Fingerprint),
    /// Any certificate is accepted. Opt-in only, for throw-away labs.
    DangerAcceptInvalid,
}

/// A client certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM. Never printed.
    pub key_pem: Secret,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// How the server certificate is checked.
    pub verification: TlsVerification,
    /// Extra trusted CA certificates, PEM (e.g. `/etc/pve/pve-root-ca.pem`).
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// A client certificate to present.
    pub client_identity: Option<ClientIdentity>,
    /// A pin store consulted when a certificate does not validate against the roots (see
    /// [`crate::pins`]).
    pub pins: Option<PinOptions>,
}

/// A pin store and how to use it: certificates that validate against the roots are accepted
/// as they are; one that does not is accepted only when pinned for its host and port, or
/// recorded on first use when that is on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PinOptions {
    /// The pins: read at build time, then what first use recorded and discovery learnt
    /// (shared by the verifier and the client's flows).
    pub store: crate::pins::LivePins,
    /// The file they came from, where a pin recorded on first use is written.
    pub file: Option<std::path::PathBuf>,
    /// Whether an unknown host is trusted and recorded the first time.
    pub first_use: crate::pins::FirstUse,
    /// The port of each of the client's hosts (its target, endpoints and node addresses):
    /// a TLS handshake knows the host only.
    pub ports: Vec<(String, u16)>,
    /// The port of a host not listed (the target's).
    pub default_port: u16,
}

impl PinOptions {
    /// The port the client uses for `host`.
    pub fn port_of(&self, host: &str) -> u16 {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.ports
            .iter()
            .find(|(h, _)| {
                h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .eq_ignore_ascii_case(host)
            })
            .map_or(self.default_port, |(_, p)| *p)
    }
}

/// Where an HTTP(S) proxy comes from. `Debug` hides a password in the URL.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyOption {
    /// No proxy.
    #[default]
    None,
    /// This proxy URL (`http://host:port`).
    Url(String),
    /// `HTTPS_PROXY`/`ALL_PROXY` and `NO_PROXY` from the environment (read by the adapter).
    FromEnv,
}

/// Options gathered by a client builder. See the module docs.
#[derive(Clone)]
pub struct ClientOptions {
    host: String,
    service: Service,
    port: Option<u16>,
    prefix: Option<String>,
    credentials: Option<Credentials>,
    second_factor: Option<SecondFactor>,
    pve_compat: bool,
    tls: TlsOptions,
    connect_timeout: Duration,
    read_timeout: Duration,
    timeout: Option<Duration>,
    max_attempts: u32,
    proxy: ProxyOption,
    body_limit: u64,
    user_agent_suffix: Option<String>,
    /// More endpoints of the same cluster, after `host`.
    endpoints: Vec<String>,
    node_affinity: bool,
    node_addresses: Vec<(String, String)>,
    per_node_in_flight: Option<usize>,
    trust_on_first_use: bool,
    #[cfg(feature = "schema")]
    schema: Option<crate::schema::Schema>,
    errors: Vec<String>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("host", &self.host)
            .field("service", &self.service)
            .field("credentials", &self.credentials)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Checked options, ready for an adapter to build its client from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ValidatedOptions {
    /// Where the API is.
    pub target: Target,
    /// The auth state machine, primed with the credentials.
    pub session: SessionManager,
    /// The auth kind (for the retry rules).
    pub auth_kind: AuthKind,
    /// A prepared second factor for a TFA login.
    pub second_factor: Option<SecondFactor>,
    /// TLS settings.
    pub tls: TlsOptions,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout.
    pub read_timeout: Duration,
    /// The deadline of one call (attempts, backoff and waits included), if any.
    pub timeout: Option<Duration>,
    /// Attempts per call (at least 1).
    pub max_attempts: u32,
    /// Proxy.
    pub proxy: ProxyOption,
    /// Largest response body accepted.
    pub body_limit: u64,
    /// Appended to the adapter's `User-Agent` (after a space), if given.
    pub user_agent_suffix: Option<String>,
    /// A cluster client's endpoints, the target first (`None`: one endpoint).
    pub endpoints: Option<Vec<crate::cluster::Endpoint>>,
    /// Whether calls for `/nodes/{n}/…` go to node `n` itself (cluster clients).
    pub node_affinity: bool,
    /// Node name to address (`host` or `host:port`), used by discovery instead of what the
    /// cluster reports.
    pub node_addresses: Vec<(String, String)>,
    /// Exchanges in flight at once per endpoint, when set (cluster clients default to
    /// [`crate::cluster::DEFAULT_PER_NODE_IN_FLIGHT`]).
    pub per_node_in_flight: Option<usize>,
    /// The schema calls are checked against, if any.
    #[cfg(feature = "schema")]
    pub schema: Option<crate::schema::Schema>,
}

impl ValidatedOptions {
    /// The `User-Agent` value: the adapter's `base` (`proxmox-ureq/0.1.0`) and the suffix.
    pub fn user_agent(&self, base: &str) -> String {
        match &self.user_agent_suffix {
            Some(s) => format!("{base} {s}"),
            None => base.to_owned(),
        }
    }
}

impl fmt::Debug for ProxyOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Url(u) => f.debug_tuple("Url").field(&redact_userinfo(u)).finish(),
            Self::FromEnv => f.write_str("FromEnv"),
        }
    }
}

/// The URL with any `user:password@` replaced, for messages.
pub(crate) fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let shown = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}"),
        None => authority.to_owned(),
    };
    if scheme.is_empty() {
        format!("{shown}{path}")
    } else {
        format!("{scheme}://{shown}{path}")
    }
}

fn check_proxy_url(url: &str) -> Result<(), String> {
    let shown = redact_userinfo(url);
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("proxy {shown:?} must start with http:// or https://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    if hostport.is_empty()
        || hostport
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("proxy {shown:?} has no valid host"));
    }
    Ok(())
}

impl ClientOptions {
    /// Options for `host` (`name`, `name:port`, IPv4, IPv6, `[v6]:port`) with the defaults:
    /// PVE, TLS verified against the web PKI, 10 s connect and 60 s read timeouts, no proxy,
    /// a 256 MiB body limit.
    pub fn new(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            service: Service::Pve,
            port: None,
            prefix: None,
            credentials: None,
            second_factor: None,
            pve_compat: false,
            tls: TlsOptions::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            timeout: None,
            max_attempts: crate::retry::DEFAULT_MAX_ATTEMPTS,
            proxy: ProxyOption::None,
            body_limit: crate::response::DEFAULT_BODY_LIMIT,
            user_agent_suffix: None,
            endpoints: Vec::new(),
            node_affinity: true,
            node_addresses: Vec::new(),
            per_node_in_flight: None,
            trust_on_first_use: false,
            #[cfg(feature = "schema")]
            schema: None,
            errors: Vec::new(),
        }
    }

    fn record<T, E: fmt::Display>(&mut self, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e.to_string());
                None
            }
        }
    }

    /// More nodes of the same cluster, after the host: calls fail over to them (see
    /// [`crate::cluster`]). Entries are `host`, `host:port`, IP addresses or URLs; the
    /// client's port and path prefix apply to those without their own; the host itself may be
    /// listed again. Called twice, the lists add up.
    pub fn add_endpoints<S: AsRef<str>>(&mut self, endpoints: &[S]) {
        self.endpoints
            .extend(endpoints.iter().map(|e| e.as_ref().to_owned()));
    }

    /// Turn node affinity of a cluster client off (on by default): every call then goes to
    /// the first endpoint that is up, and pveproxy forwards it.
    pub fn set_node_affinity(&mut self, on: bool) {
        self.node_affinity = on;
    }

    /// Check every call against `schema` before it is sent.
    #[cfg(feature = "schema")]
    pub fn set_schema(&mut self, schema: crate::schema::Schema) {
        self.schema = Some(schema);
    }

    /// At most `n` exchanges in flight at once to one endpoint (node). A cluster client has
    /// [`crate::cluster::DEFAULT_PER_NODE_IN_FLIGHT`] unless set; a client of one endpoint
    /// has no such limit unless set. 0 is refused at `build()`.
    pub fn set_max_in_flight_per_node(&mut self, n: usize) {
        if n == 0 {
            self.errors.push(
                "max_in_flight_per_node(0) would never send anything: give at least 1".into(),
            );
        }
        self.per_node_in_flight = Some(n);
    }

    /// Where node `node` is reached from here (`host` or `host:port`): cluster discovery uses
    /// it instead of the address the cluster reports (which may be a network this client is
    /// not on).
    pub fn add_node_address(&mut self, node: &str, address: &str) {
        match Target::parse(self.service, address) {
            Ok(_) => self
                .node_addresses
                .push((node.to_owned(), address.to_owned())),
            Err(e) => self.errors.push(format!("the address of node {node}: {e}")),
        }
    }

    /// The product.
    pub fn set_service(&mut self, service: Service) {
        self.service = service;
    }
    /// The port (a port in the host string wins).
    pub fn set_port(&mut self, port: u16) {
        self.port = Some(port);
    }
    /// A path prefix for a reverse proxy.
    pub fn set_path_prefix(&mut self, prefix: &str) {
        self.prefix = Some(prefix.to_owned());
    }
    /// Authenticate with an API token.
    pub fn set_api_token(&mut self, token_id: &str, secret: Secret) {
        if let Some(c) = self.record(Credentials::token(token_id, secret)) {
            self.set_credentials(c);
        }
    }
    /// Authenticate with a password.
    pub fn set_password(&mut self, user: &str, password: Secret) {
        if let Some(c) = self.record(Credentials::password(user, password)) {
            self.set_credentials(c);
        }
    }
    /// An API token and a password both given is a mistake (one would silently win): it is
    /// reported by [`ClientOptions::validate`]. Giving the same kind again replaces it.
    fn set_credentials(&mut self, c: Credentials) {
        let token = |c: &Credentials| matches!(c, Credentials::Token(_));
        let password = |c: &Credentials| matches!(c, Credentials::Password { .. });
        if let Some(old) = &self.credentials
            && ((token(old) && password(&c)) || (password(old) && token(&c)))
        {
            self.errors.push(
                "both an API token and a password were given: use one (a token needs no login \
                 and no renewal)"
                    .into(),
            );
        }
        self.credentials = Some(c);
    }
    /// Resume a saved session.
    pub fn set_session(&mut self, session: Session) {
        self.credentials = Some(Credentials::Session(session));
    }
    /// A prepared second factor for a TFA login.
    pub fn set_second_factor(&mut self, factor: SecondFactor) {
        self.second_factor = Some(factor);
    }
    /// Send `new-format=1` at login (PVE 7.1–7.4 TFA).
    pub fn set_pve7_tfa_compatibility(&mut self, on: bool) {
        self.pve_compat = on;
    }
    /// Trust the CA certificates in this PEM text (checked for a certificate block here; the
    /// adapter's TLS stack parses it).
    pub fn add_ca_pem(&mut self, pem: &[u8]) {
        if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            self.tls.extra_ca_pem.push(pem.to_vec());
        } else {
            self.errors
                .push("the CA data holds no PEM certificate".into());
        }
    }
    /// Pin the server certificate's SHA-256 fingerprint (`AB:CD:…`).
    pub fn set_fingerprint(&mut self, fingerprint: &str) {
        if let Some(fp) = self.record(fingerprint.parse::<Fingerprint>()) {
            self.tls.verification = TlsVerification::Pinned(fp);
        }
    }
    /// Present a client certificate (PEM chain and PEM private key).
    pub fn set_client_certificate(&mut self, cert_pem: &[u8], key_pem: &[u8]) {
        if !cert_pem
            .windows(27)
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            self.errors
                .push("the client certificate holds no PEM certificate".into());
            return;
        }
        if !key_pem.windows(11).any(|w| w == b"PRIVATE KEY") {
            self.errors
                .push("the client key holds no PEM private key".into());
            return;
        }
        self.tls.client_identity = Some(ClientIdentity {
            cert_pem: cert_pem.to_vec(),
            key_pem: Secret::new(String::from_utf8_lossy(key_pem).into_owned()),
        });
    }
    /// Use the pins of `store` (read by the adapter from `file`, when there is one: the core
    /// reads no file) for certificates that do not validate against the roots.
    pub fn set_pins(&mut self, store: crate::pins::PinStore, file: Option<std::path::PathBuf>) {
        let first_use = self
            .tls
            .pins
            .as_ref()
            .map_or(crate::pins::FirstUse::Refuse, |p| p.first_use);
        self.tls.pins = Some(PinOptions {
            store: crate::pins::LivePins::new(store),
            file,
            first_use,
            ports: Vec::new(),
            default_port: 0,
        });
    }
    /// Use the pin file at `path`, as the adapter read it with
    /// `pin_file::read` (feature `rustls`); a read error is reported
    /// by [`ClientOptions::validate`].
    pub fn set_pin_file(
        &mut self,
        path: &std::path::Path,
        read: Result<crate::pins::PinStore, String>,
    ) {
        match read {
            Ok(store) => self.set_pins(store, Some(path.to_path_buf())),
            Err(e) => self.add_error(e),
        }
    }
    /// Whether a host that is not pinned, and whose certificate does not validate, is trusted
    /// and recorded the first time it is seen. Needs a pin store.
    pub fn set_trust_on_first_use(&mut self, on: bool) {
        self.trust_on_first_use = on;
    }
    /// Accept any server certificate (throw-away labs only).
    pub fn set_danger_accept_invalid_certs(&mut self) {
        self.tls.verification = TlsVerification::DangerAcceptInvalid;
    }
    /// The connect timeout.
    pub fn set_connect_timeout(&mut self, t: Duration) {
        self.connect_timeout = t;
    }
    /// The read timeout.
    pub fn set_read_timeout(&mut self, t: Duration) {
        self.read_timeout = t;
    }
    /// The deadline of one call.
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = Some(t);
    }
    /// Attempts per call.
    pub fn set_max_attempts(&mut self, n: u32) {
        self.max_attempts = n;
    }
    /// An HTTP(S) proxy URL.
    pub fn set_proxy(&mut self, url: &str) {
        if self.record(check_proxy_url(url)).is_some() {
            self.proxy = ProxyOption::Url(url.to_owned());
        }
    }
    /// Take the proxy from the environment.
    pub fn set_proxy_from_env(&mut self) {
        self.proxy = ProxyOption::FromEnv;
    }
    /// A suffix for the `User-Agent` header (`backup-script/2 (host01)`), so that an admin
    /// finds the program in pveproxy's access log. At most 100 characters: letters, digits,
    /// space and `-._/()+;:,=`.
    pub fn set_user_agent_suffix(&mut self, suffix: &str) {
        let ok = !suffix.trim().is_empty()
            && suffix.len() <= 100
            && suffix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " -._/()+;:,=".contains(c));
        if ok {
            self.user_agent_suffix = Some(suffix.trim().to_owned());
        } else {
            self.errors.push(format!(
                "user agent suffix {suffix:?}: at most 100 characters, letters, digits, space \
                 and -._/()+;:,= (e.g. \"backup-script/2\")"
            ));
        }
    }
    /// Largest response body accepted.
    pub fn set_body_limit(&mut self, bytes: u64) {
        self.body_limit = bytes;
    }
    /// Trust the CA certificates of the PEM file at `path`, whose contents the adapter read
    /// (`read`: the core reads no file). A file that could not be read is reported by
    /// [`ClientOptions::validate`], with its path and what to do.
    pub fn add_ca_file(&mut self, path: &std::path::Path, read: std::io::Result<Vec<u8>>) {
        match read {
            Ok(pem) => self.add_ca_pem(&pem),
            Err(e) => self.add_error(format!(
                "cannot read the CA file {}: {e} (give the cluster's pve-root-ca.pem, or pin \
                 the certificate with .fingerprint())",
                path.display()
            )),
        }
    }

    /// Record an error found by the adapter (e.g. an unreadable CA file), reported by
    /// [`ClientOptions::validate`].
    pub fn add_error(&mut self, error: impl Into<String>) {
        self.errors.push(error.into());
    }

    /// The service.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Check everything for `transport`; the first problem is the error.
    pub fn validate(self, transport: TransportKind) -> Result<ValidatedOptions, InputError> {
        if let Some(e) = self.errors.first() {
            return Err(InputError::ClientOption(e.clone()));
        }
        let mut target = Target::parse(self.service, &self.host)?;
        if let Some(p) = self.port {
            target = target.with_port(p)?;
        }
        if let Some(p) = &self.prefix {
            target = target.with_path_prefix(p)?;
        }
        let endpoints = self.cluster_endpoints(&target, transport)?;
        let tls = self.pin_options(&target, endpoints.as_deref(), transport)?;
        let credentials = self.credentials.ok_or_else(|| {
            InputError::InvalidCredentials(
                "no credentials: give an API token, a password or a saved session".into(),
            )
        })?;
        let auth_kind = credentials.auth_kind();
        self.service.check(transport, auth_kind)?;
        if let Credentials::Session(s) = &credentials
            && s.service() != self.service
        {
            return Err(InputError::InvalidCredentials(format!(
                "the saved session is for {}, not {}",
                s.service(),
                self.service
            )));
        }
        if self.second_factor.is_some() && !matches!(credentials, Credentials::Password { .. }) {
            return Err(InputError::InvalidCredentials(
                "a second factor needs a password login".into(),
            ));
        }
        if self.connect_timeout.is_zero()
            || self.read_timeout.is_zero()
            || self.timeout.is_some_and(|t| t.is_zero())
        {
            return Err(InputError::Invalid {
                what: "timeout",
                reason: "a timeout of zero would fail every call".into(),
            });
        }
        if self.max_attempts == 0 {
            return Err(InputError::Invalid {
                what: "max_attempts",
                reason: "at least one attempt is needed: 1 sends every call once, without retries"
                    .into(),
            });
        }
        if self.body_limit == 0 {
            return Err(InputError::Invalid {
                what: "body limit",
                reason: "a body limit of zero would refuse every answer".into(),
            });
        }
        Ok(ValidatedOptions {
            target,
            session: SessionManager::new(self.service, credentials)
                .pve_compatibility(self.pve_compat),
            auth_kind,
            second_factor: self.second_factor,
            tls,
            // No attempt may outlast the call: the timeouts of adapters that do not run the
            // call flow are cut to the call's deadline too.
            connect_timeout: self
                .timeout
                .map_or(self.connect_timeout, |t| t.min(self.connect_timeout)),
            read_timeout: self
                .timeout
                .map_or(self.read_timeout, |t| t.min(self.read_timeout)),
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            proxy: self.proxy,
            body_limit: self.body_limit,
            user_agent_suffix: self.user_agent_suffix,
            endpoints,
            node_affinity: self.node_affinity,
            node_addresses: self.node_addresses,
            per_node_in_flight: self.per_node_in_flight,
            #[cfg(feature = "schema")]
            schema: self.schema,
        })
    }

    /// The TLS options with the pin store completed (first use, the port of each host), or
    /// why the pin options do not fit together.
    fn pin_options(
        &self,
        target: &Target,
        endpoints: Option<&[crate::cluster::Endpoint]>,
        transport: TransportKind,
    ) -> Result<TlsOptions, InputError> {
        let mut tls = self.tls.clone();
        let Some(p) = &mut tls.pins else {
            if self.trust_on_first_use {
                return Err(InputError::Invalid {
                    what: "trust on first use",
                    reason: "it records pins in a pin store: give one with .pin_file(path) \
                             (a missing file is created when the first pin is recorded)"
                        .into(),
                });
            }
            return Ok(tls);
        };
        let refuse = |reason: &str| InputError::Invalid {
            what: "pin store",
            reason: reason.into(),
        };
        if transport != TransportKind::Https {
            return Err(refuse(
                "a pin store checks HTTPS certificates; this transport does not use TLS \
                 (SSH checks its own host keys)",
            ));
        }
        if tls.verification != TlsVerification::WebPki {
            return Err(refuse(
                "a pin store and .fingerprint() or .danger_accept_invalid_certs() exclude each \
                 other: put the fingerprint in the pin store instead",
            ));
        }
        if self.trust_on_first_use {
            p.first_use = crate::pins::FirstUse::Trust;
        }
        p.default_port = target.port();
        p.ports = std::iter::once(target)
            .chain(endpoints.into_iter().flatten().map(|e| e.target()))
            .map(|t| (t.host_name(), t.port()))
            .collect();
        Ok(tls)
    }

    /// What a probe of the host needs (first contact, no credentials): the target with its
    /// port, the TLS options with the pin store completed, and the connect timeout.
    pub fn probe_settings(&self) -> Result<(Target, TlsOptions, Duration), InputError> {
        if let Some(e) = self.errors.first() {
            return Err(InputError::ClientOption(e.clone()));
        }
        let mut target = Target::parse(self.service, &self.host)?;
        if let Some(p) = self.port {
            target = target.with_port(p)?;
        }
        let tls = self.pin_options(&target, None, TransportKind::Https)?;
        Ok((target, tls, self.connect_timeout))
    }

    /// The endpoints of a cluster client, `target` first; `None` when only the target is
    /// given.
    fn cluster_endpoints(
        &self,
        target: &Target,
        transport: TransportKind,
    ) -> Result<Option<Vec<crate::cluster::Endpoint>>, InputError> {
        if self.endpoints.is_empty() {
            return Ok(None);
        }
        let refuse = |reason: String| InputError::Invalid {
            what: "endpoints",
            reason,
        };
        if self.service != Service::Pve {
            return Err(refuse(format!(
                "several endpoints are for PVE clusters; a {} client takes one host",
                self.service
            )));
        }
        if transport != TransportKind::Https {
            return Err(refuse(
                "several endpoints are for HTTPS clients; this transport takes one host".into(),
            ));
        }
        let parsed = crate::cluster::parse_endpoints(self.service, &self.endpoints)?;
        let mut out = vec![crate::cluster::Endpoint::from_target(target.clone())];
        for e in parsed {
            let mut t = e.target().clone();
            if let Some(p) = self.port {
                t = t.with_port(p)?;
            }
            if let Some(p) = &self.prefix
                && t.path_prefix().is_none()
            {
                t = t.with_path_prefix(p)?;
            }
            if t.path_prefix() != target.path_prefix() {
                return Err(refuse(format!(
                    "endpoint {} has another path prefix than {}; every endpoint of a client \
                     serves the same API",
                    t.authority(),
                    target.authority()
                )));
            }
            // The host itself, listed again, is the same endpoint.
            if t.authority() != target.authority() {
                out.push(crate::cluster::Endpoint::from_target(t));
            }
        }
        Ok(Some(out))
    }
}

/// The chainable builder methods over a [`ClientOptions`] field, for an adapter's builder:
/// `impl ClientBuilder { proxmox_proto::client_builder_methods!(options); }`.
#[macro_export]
macro_rules! client_builder_methods {
    ($field:ident) => {
        /// More nodes of the same PVE cluster, after the host: a call that could not reach
        /// one node goes on at the next (a write only when it was never sent), calls for
        /// `/nodes/{n}/…` go to node `n` itself, and a node that failed is skipped for a
        /// while (see [`proxmox_proto::cluster`]). The client's port and path prefix apply to
        /// entries without their own. Checked by `build()`:
        /// `.endpoints(["pve2.example.com", "pve3.example.com"])`.
        pub fn endpoints<S: AsRef<str>>(mut self, endpoints: impl IntoIterator<Item = S>) -> Self {
            let list: Vec<S> = endpoints.into_iter().collect();
            self.$field.add_endpoints(&list);
            self
        }

        /// Whether calls for `/nodes/{n}/…` go to node `n` itself when it is one of the
        /// endpoints (on by default; off: they go to the first endpoint that is up, which
        /// forwards them).
        pub fn node_affinity(mut self, on: bool) -> Self {
            self.$field.set_node_affinity(on);
            self
        }

        /// At most `n` requests in flight at once to one node (endpoint): pveproxy and
        /// pvedaemon run about three workers each, so more only queue there. Cluster clients
        /// default to 4 ([`proxmox_proto::cluster::DEFAULT_PER_NODE_IN_FLIGHT`]); a client of
        /// one endpoint has no per-node limit unless this is set. A call over the limit
        /// waits for a slot, within its timeout.
        pub fn max_in_flight_per_node(mut self, n: usize) -> Self {
            self.$field.set_max_in_flight_per_node(n);
            self
        }

        /// Where node `node` is reached from here (`host` or `host:port`): cluster discovery
        /// uses it instead of the address the cluster reports for it.
        pub fn node_address(mut self, node: &str, address: &str) -> Self {
            self.$field.add_node_address(node, address);
            self
        }

        /// Check every call against the server's API schema before it is sent: unknown
        /// paths, methods and parameters ("did you mean"), types, enums, ranges, patterns,
        /// property strings, missing parameters and endpoints closed to API tokens fail
        /// with a 400-shaped error and nothing is sent. Load the schema from the node
        /// (`fetch_schema()`) or a file (`proxmox_proto::schema::Schema::from_apidoc`).
        #[cfg(feature = "schema")]
        pub fn schema(mut self, schema: $crate::schema::Schema) -> Self {
            self.$field.set_schema(schema);
            self
        }

        /// The product (default PVE).
        pub fn service(mut self, service: $crate::Service) -> Self {
            self.$field.set_service(service);
            self
        }
        /// The port (default per service; a port written in the host string wins).
        pub fn port(mut self, port: u16) -> Self {
            self.$field.set_port(port);
            self
        }
        /// A path prefix for a reverse proxy in front of the API (`/pve`).
        pub fn path_prefix(mut self, prefix: &str) -> Self {
            self.$field.set_path_prefix(prefix);
            self
        }
        /// Authenticate with an API token (`user@realm!tokenid` and its secret).
        pub fn api_token(mut self, token_id: &str, secret: impl Into<String>) -> Self {
            self.$field
                .set_api_token(token_id, $crate::auth::Secret::new(secret.into()));
            self
        }
        /// Authenticate with a password; the ticket is renewed automatically.
        pub fn password(mut self, user: &str, password: impl Into<String>) -> Self {
            self.$field
                .set_password(user, $crate::auth::Secret::new(password.into()));
            self
        }
        /// A prepared second factor for a password login (e.g. a TOTP code).
        pub fn second_factor(mut self, factor: $crate::auth::SecondFactor) -> Self {
            self.$field.set_second_factor(factor);
            self
        }
        /// Resume a saved session.
        pub fn session(mut self, session: $crate::auth::Session) -> Self {
            self.$field.set_session(session);
            self
        }
        /// Send `new-format=1` at login, which PVE 7.1–7.4 need for TFA.
        pub fn pve7_tfa_compatibility(mut self, on: bool) -> Self {
            self.$field.set_pve7_tfa_compatibility(on);
            self
        }
        /// Trust the CA certificates in this PEM text (e.g. the cluster's `pve-root-ca.pem`).
        pub fn ca_pem(mut self, pem: &[u8]) -> Self {
            self.$field.add_ca_pem(pem);
            self
        }
        /// Accept only the certificate with this SHA-256 fingerprint (`AB:CD:…`, as PVE shows
        /// it). The pin replaces CA validation.
        pub fn fingerprint(mut self, fingerprint: &str) -> Self {
            self.$field.set_fingerprint(fingerprint);
            self
        }
        /// Present a client certificate (PEM chain and PEM private key).
        pub fn client_certificate(mut self, cert_pem: &[u8], key_pem: &[u8]) -> Self {
            self.$field.set_client_certificate(cert_pem, key_pem);
            self
        }
        /// Trust certificates pinned in `store` (see [`proxmox_proto::pins`]) for hosts whose
        /// certificate does not validate against the roots and CA files; a pin is kept per host
        /// and port, so each node of a cluster has its own. Pins recorded on first use stay in
        /// the client (use `pin_file` to keep them).
        pub fn pins(mut self, store: $crate::pins::PinStore) -> Self {
            self.$field.set_pins(store, None);
            self
        }
        /// With a pin store: trust a host that has no pin, and whose certificate does not
        /// validate, the first time it is seen, and record its fingerprint (off by default:
        /// such a host is refused, naming the fingerprint to check and pin). A host whose pin
        /// does not match is refused either way.
        pub fn trust_on_first_use(mut self, on: bool) -> Self {
            self.$field.set_trust_on_first_use(on);
            self
        }
        /// Accept any server certificate. Only for throw-away test setups: anyone on the path
        /// can read and change the traffic, credentials included.
        pub fn danger_accept_invalid_certs(mut self) -> Self {
            self.$field.set_danger_accept_invalid_certs();
            self
        }
        /// The deadline of one call (default: none): every attempt, the backoff between them
        /// and waiting for an in-flight slot or another caller's login included. Connect and
        /// read timeouts still bound each attempt, cut to what remains.
        pub fn timeout(mut self, t: std::time::Duration) -> Self {
            self.$field.set_timeout(t);
            self
        }
        /// Attempts per call in all (default 3; 1 sends every call once, without retries or
        /// a re-login after a 401).
        pub fn max_attempts(mut self, n: u32) -> Self {
            self.$field.set_max_attempts(n);
            self
        }
        /// The connect timeout (default 10 s).
        pub fn connect_timeout(mut self, t: std::time::Duration) -> Self {
            self.$field.set_connect_timeout(t);
            self
        }
        /// The read timeout (default 60 s).
        pub fn read_timeout(mut self, t: std::time::Duration) -> Self {
            self.$field.set_read_timeout(t);
            self
        }
        /// An HTTP(S) proxy, e.g. `http://proxy.example.com:3128`.
        pub fn proxy(mut self, url: &str) -> Self {
            self.$field.set_proxy(url);
            self
        }
        /// Use `HTTPS_PROXY`/`ALL_PROXY` (and `NO_PROXY`) from the environment.
        pub fn proxy_from_env(mut self) -> Self {
            self.$field.set_proxy_from_env();
            self
        }
        /// Largest response body accepted (default 256 MiB).
        pub fn body_limit(mut self, bytes: u64) -> Self {
            self.$field.set_body_limit(bytes);
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(o: ClientOptions) -> Result<ValidatedOptions, InputError> {
        o.validate(TransportKind::Https)
    }

    #[test]
    fn every_bad_option_is_refused() {
        let base = || {
            let mut o = ClientOptions::new("h");
            o.set_api_token("a@b!c", Secret::new("d"));
            o
        };
        assert!(v(base()).is_ok());
        type Case = (&'static str, Box<dyn Fn(&mut ClientOptions)>);
        let cases: Vec<Case> = vec![
            ("no credentials", Box::new(|o| *o = ClientOptions::new("h"))),
            (
                "bad token",
                Box::new(|o| o.set_api_token("nobang", Secret::new("x"))),
            ),
            (
                "empty secret",
                Box::new(|o| o.set_api_token("a@b!c", Secret::new(""))),
            ),
            ("fingerprint", Box::new(|o| o.set_fingerprint("zz"))),
            ("ca", Box::new(|o| o.add_ca_pem(b"nope"))),
            (
                "client cert",
                Box::new(|o| o.set_client_certificate(b"x", b"y")),
            ),
            ("proxy", Box::new(|o| o.set_proxy("::nope"))),
            ("proxy host", Box::new(|o| o.set_proxy("http://"))),
            ("prefix", Box::new(|o| o.set_path_prefix("a/../b"))),
            ("port", Box::new(|o| o.set_port(0))),
            ("timeout", Box::new(|o| o.set_read_timeout(Duration::ZERO))),
            ("body limit", Box::new(|o| o.set_body_limit(0))),
            ("pmg token", Box::new(|o| o.set_service(Service::Pmg))),
            (
                "tfa without password",
                Box::new(|o| o.set_second_factor(SecondFactor::totp("1"))),
            ),
            (
                "empty user",
                Box::new(|o| o.set_password("", Secret::new("p"))),
            ),
        ];
        for (what, f) in cases {
            let mut o = base();
            f(&mut o);
            assert!(v(o).is_err(), "{what} must be refused");
        }
    }

    #[test]
    fn credential_mistakes_are_named_before_anything_is_sent() {
        let refusal = |f: &dyn Fn(&mut ClientOptions)| {
            let mut o = ClientOptions::new("h");
            f(&mut o);
            v(o).expect_err("refused").to_string()
        };
        assert_eq!(
            refusal(&|o| o.set_password("root", Secret::new("pw"))),
            "invalid credentials: user id \"root\" has no realm: write \
             user@realm (did you mean \"root@pam\"? pam is the node's Linux users, pve the \
             Proxmox VE users, pbs the Backup Server's)"
        );
        let both = "both an API token and a password were given: use \
                    one (a token needs no login and no renewal)";
        assert_eq!(
            refusal(&|o| {
                o.set_api_token("a@pve!t", Secret::new("s"));
                o.set_password("a@pve", Secret::new("pw"));
            }),
            both
        );
        assert_eq!(
            refusal(&|o| {
                o.set_password("a@pve", Secret::new("pw"));
                o.set_api_token("a@pve!t", Secret::new("s"));
            }),
            both
        );
        assert_eq!(
            refusal(&|o| o.set_api_token("root!ci", Secret::new("s"))),
            "invalid credentials: token id \"root!ci\" has no realm: write \
             user@realm!tokenname (did you mean \"root@pam!ci\"?)"
        );
        // The same kind twice: the last one wins.
        let mut o = ClientOptions::new("h");
        o.set_password("a@pve", Secret::new("pw"));
        o.set_password("b@pve", Secret::new("pw"));
        assert!(v(o).is_ok());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let mut o = ClientOptions::new("h");
        o.set_api_token("a@b!c", Secret::new("tok-secret"));
        o.set_client_certificate(
            b"-----BEGIN CERTIFICATE-----\n",
            b"-----BEGIN PRIVATE KEY-----\nkey-secret",
        );
        let d = format!("{o:?}");
        assert!(
            !d.contains("tok-secret") && !d.contains("key-secret"),
            "{d}"
        );
        let val = v(o).unwrap();
        assert!(!format!("{val:?}").contains("tok-secret"));
    }

    #[test]
    fn pbs_shell_refused_and_session_service_checked() {
        let mut o = ClientOptions::new("h");
        o.set_service(Service::Pbs);
        o.set_api_token("a@b!c", Secret::new("d"));
        assert!(o.clone().validate(TransportKind::SshShell).is_err());
        let s = Session::new(Service::Pve, "u@pve", "PVE:u@pve:65000000::x", None).unwrap();
        o.set_session(s);
        assert!(o.validate(TransportKind::Https).is_err());
    }
}
