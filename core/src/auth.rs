//! Authentication as values: API tokens, tickets, the login and TFA state machine, renewal.
//!
//! # Driving contract (login)
//!
//! 1. Make a [`Login`] and send [`Login::request`] (a [`Call`]) without auth.
//! 2. Feed the answer's status, reason phrase and body to [`Login::handle_response`]. It returns
//!    [`LoginOutcome::Authenticated`] with a [`Session`], or [`LoginOutcome::SecondFactor`] with
//!    a [`TfaChallenge`] that says which factors the server offers.
//! 3. For a challenge, build the answer with [`TfaChallenge::respond`], send
//!    [`TfaResponse::request`], feed the answer to [`TfaResponse::handle_response`]. A rejected
//!    factor is an error: the core never retries a TFA step (PVE locks the account).
//! 4. Before each request, ask [`Session::state`] with the current time. In
//!    [`TicketState::Renew`], send [`Session::renewal_request`] once (single flight is the
//!    adapter's job) and replace the session with [`Session::handle_renewal`]; ticket and CSRF
//!    token are swapped together. In [`TicketState::Expired`], log in again.
//!
//! [`Session`] and [`TfaChallenge`] are `serde` serialisable so a tool can save a session or a
//! pending challenge and resume later. Their `Debug` output never shows a secret.
//!
//! ```
//! use proxmox_proto::auth::{Login, LoginOutcome, SecondFactor, TicketState};
//! use proxmox_proto::Service;
//! use std::time::Duration;
//!
//! let login = Login::new(Service::Pve, "alice@pve", "s3cret").unwrap();
//! assert_eq!(login.request().params.to_form(), "username=alice%40pve&password=s3cret");
//! let half = "PVE:!tfa!%7B%22totp%22%3Atrue%2C%22recovery%22%3A%5B0%2C2%5D%7D:65000000::c2ln";
//! let body = format!(r#"{{"data":{{"username":"alice@pve","ticket":"{half}","CSRFPreventionToken":"65000000:abc","NeedTFA":1}}}}"#);
//! let LoginOutcome::SecondFactor(challenge) = login.handle_response(200, None, body.as_bytes()).unwrap() else {
//!     panic!("expected a challenge")
//! };
//! assert!(challenge.offers_totp());
//! assert_eq!(challenge.recovery_keys_left(), &[0, 2]);
//! let step = challenge.respond(SecondFactor::totp("123456")).unwrap();
//! assert_eq!(step.request().params.get("password"), Some("totp:123456"));
//! let body = br#"{"data":{"username":"alice@pve","ticket":"PVE:alice@pve:65000000::c2ln","CSRFPreventionToken":"65000000:def"}}"#;
//! let session = step.handle_response(200, None, body).unwrap();
//! assert_eq!(session.username(), "alice@pve");
//! let t0 = Duration::from_secs(0x6500_0000);
//! assert_eq!(session.state(t0 + Duration::from_secs(60)), TicketState::Valid);
//! assert_eq!(session.state(t0 + Duration::from_secs(3700)), TicketState::Renew);
//! assert_eq!(session.state(t0 + Duration::from_secs(7300)), TicketState::Expired);
//! assert!(!format!("{session:?}").contains("c2ln"));
//! ```

use crate::call::Call;
use crate::error::{ApiError, Error, InputError, ProtocolError};
use crate::params::Params;
use crate::response::parse_data;
use crate::service::Service;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// A ticket's lifetime on every Proxmox product: 2 hours.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// Renew a ticket once it is older than this (the last hour of its lifetime).
pub const TICKET_RENEW_AFTER: Duration = Duration::from_secs(3600);

/// Errors of the authentication flows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server wants a second factor; none was given.
    #[error("the server requires a second factor for this login")]
    SecondFactorRequired,
    /// The factor kind asked for is not among those the server offered.
    #[error("the server did not offer {kind} as a second factor (offered: {offered})")]
    FactorNotOffered {
        /// The kind asked for.
        kind: &'static str,
        /// What was offered.
        offered: String,
    },
    /// The second factor was refused (wrong code, used recovery key, locked out).
    #[error("second factor rejected: {0}")]
    SecondFactorRejected(Box<ApiError>),
    /// The session's ticket has expired; log in again.
    #[error("the ticket expired; log in again")]
    TicketExpired,
    /// A half ticket (TFA pending) cannot be used for API calls or renewal.
    #[error("the ticket is a TFA half ticket; finish the second factor first")]
    HalfTicket,
}

/// A secret string: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret text, for putting on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

fn check_header_safe(what: &'static str, s: &str) -> Result<(), InputError> {
    if s.bytes().any(|b| b.is_ascii_control()) {
        return Err(InputError::InvalidCredentials(format!(
            "{what} contains control characters"
        )));
    }
    Ok(())
}

fn check_userid(user: &str) -> Result<(), InputError> {
    // `user@realm` is the norm; a bare user name is accepted too (PVE can take the realm as a
    // separate parameter, and test servers use bare names).
    if user.is_empty() || user.contains(['!', ':', '/']) || user.trim() != user {
        return Err(InputError::InvalidCredentials(format!(
            "user id {user:?} must be user@realm without '!', ':', '/' or surrounding spaces"
        )));
    }
    check_header_safe("user id", user)
}

/// An API token: `user@realm!tokenid` and its secret. No CSRF, no renewal.
///
/// ```
/// use proxmox_proto::{auth::ApiToken, Service};
/// let t = ApiToken::new("root@pam!mytoken", "41c97f11-b8c6-47db-9886-7fa841e64b6e").unwrap();
/// assert_eq!(t.header_value(Service::Pve).unwrap(), "PVEAPIToken=root@pam!mytoken=41c97f11-b8c6-47db-9886-7fa841e64b6e");
/// assert_eq!(t.header_value(Service::Pbs).unwrap(), "PBSAPIToken=root@pam!mytoken:41c97f11-b8c6-47db-9886-7fa841e64b6e");
/// assert!(t.header_value(Service::Pmg).is_err());
/// assert!(!format!("{t:?}").contains("41c97f11"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    user: String,
    name: String,
    secret: Secret,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("token_id", &self.token_id())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl ApiToken {
    /// From a full token id `user@realm!name` and the secret.
    pub fn new(token_id: &str, secret: impl Into<Secret>) -> Result<Self, InputError> {
        let Some((user, name)) = token_id.split_once('!') else {
            return Err(InputError::InvalidCredentials(format!(
                "token id {token_id:?} must be user@realm!tokenname"
            )));
        };
        Self::from_parts(user, name, secret)
    }

    /// From the user (`user@realm`, or a bare user for odd test servers), the token name and
    /// the secret.
    pub fn from_parts(
        user: &str,
        name: &str,
        secret: impl Into<Secret>,
    ) -> Result<Self, InputError> {
        let secret = secret.into();
        if user.is_empty() || user.contains(['!', ':', '=', ' ']) {
            return Err(InputError::InvalidCredentials(format!(
                "token user {user:?} is empty or contains '!', ':', '=' or spaces"
            )));
        }
        if name.is_empty() || name.contains(['!', ':', '=', ' ', '@']) {
            return Err(InputError::InvalidCredentials(format!(
                "token name {name:?} is empty or contains '!', ':', '=', '@' or spaces"
            )));
        }
        if secret.expose().is_empty() {
            return Err(InputError::InvalidCredentials(
                "the token secret is empty".into(),
            ));
        }
        check_header_safe("token user", user)?;
        check_header_safe("token name", name)?;
        check_header_safe("token secret", secret.expose())?;
        Ok(Self {
            user: user.to_owned(),
            name: name.to_owned(),
            secret,
        })
    }

    /// `user@realm!name`.
    pub fn token_id(&self) -> String {
        format!("{}!{}", self.user, self.name)
    }

    /// The user part.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `Authorization` header value for a service (PVE `=`, PBS `:`; PMG has no tokens).
    pub fn header_value(&self, service: Service) -> Result<String, InputError> {
        let (scheme, sep) = service.token_scheme().ok_or(InputError::Unsupported {
            service,
            what: "API token authentication",
        })?;
        // Built by hand: this runs for every call, and `format!` costs several times more.
        let secret = self.secret.expose();
        let mut v = String::with_capacity(
            scheme.len() + self.user.len() + self.name.len() + secret.len() + 3,
        );
        for part in [scheme, "=", &self.user, "!", &self.name] {
            v.push_str(part);
        }
        v.push(sep);
        v.push_str(secret);
        Ok(v)
    }
}

/// Where a ticket's validity stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// Use it as it is.
    Valid,
    /// Still valid, but in the last hour of its life: renew it now.
    Renew,
    /// Too old: the server will refuse it. Log in again.
    Expired,
}

/// A parsed ticket `PRODUCT:userid:HEXTIME::signature`.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    raw: Secret,
    product: String,
    userid: String,
    issued: u64,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("product", &self.product)
            .field(
                "userid",
                &if self.is_half_ticket() {
                    "!tfa!…"
                } else {
                    self.userid.as_str()
                },
            )
            .field("issued", &self.issued)
            .field("signature", &"<redacted>")
            .finish()
    }
}

impl Serialize for Ticket {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.raw.expose())
    }
}

impl<'de> Deserialize<'de> for Ticket {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Ticket {
    /// Parse a ticket. PMG quarantine tickets (`PMGQUAR:`) and TFA half tickets
    /// (`PVE:!tfa!<challenge>:...`) parse too.
    pub fn parse(raw: &str) -> Result<Self, ProtocolError> {
        let bad = |why: &str| ProtocolError::MalformedTicket(why.to_owned());
        if raw.len() > 64 * 1024 {
            return Err(bad("longer than 64 KiB"));
        }
        if raw
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b';')
        {
            return Err(bad("contains control characters, spaces or ';'"));
        }
        let (head, sig) = raw
            .split_once("::")
            .ok_or_else(|| bad("no '::' before the signature"))?;
        if sig.is_empty() {
            return Err(bad("empty signature"));
        }
        let (rest, hex) = head
            .rsplit_once(':')
            .ok_or_else(|| bad("no timestamp field"))?;
        let (product, userid) = rest
            .split_once(':')
            .ok_or_else(|| bad("no product or user field"))?;
        if product.is_empty() || !product.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad("the product field is not upper-case letters"));
        }
        if userid.is_empty() {
            return Err(bad("empty user field"));
        }
        if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the timestamp is not 8 hex digits"));
        }
        let issued = u64::from_str_radix(hex, 16).map_err(|_| bad("bad timestamp"))?;
        Ok(Self {
            raw: Secret::new(raw),
            product: product.to_owned(),
            userid: userid.to_owned(),
            issued,
        })
    }

    /// The product prefix (`PVE`, `PMG`, `PMGQUAR`, `PBS`).
    pub fn product(&self) -> &str {
        &self.product
    }

    /// The user id the ticket is for (for a half ticket: the `!tfa!...` challenge field).
    pub fn userid(&self) -> &str {
        &self.userid
    }

    /// When the ticket was issued (seconds since the epoch).
    pub fn issued(&self) -> Duration {
        Duration::from_secs(self.issued)
    }

    /// When the ticket stops being accepted.
    pub fn expires(&self) -> Duration {
        self.issued() + TICKET_LIFETIME
    }

    /// When renewal should happen.
    pub fn renew_at(&self) -> Duration {
        self.issued() + TICKET_RENEW_AFTER
    }

    /// Whether this is a TFA half ticket.
    pub fn is_half_ticket(&self) -> bool {
        self.userid.starts_with("!tfa!")
    }

    /// The ticket text, for the cookie or the renewal request.
    pub fn expose(&self) -> &str {
        self.raw.expose()
    }

    /// Validity at `now` (time since the Unix epoch). A ticket stamped slightly in the future
    /// (clock skew) counts as fresh.
    pub fn state(&self, now: Duration) -> TicketState {
        if now >= self.expires() {
            TicketState::Expired
        } else if now >= self.renew_at() {
            TicketState::Renew
        } else {
            TicketState::Valid
        }
    }
}

/// A logged-in session: user, ticket and CSRF token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    service: Service,
    username: String,
    ticket: Ticket,
    csrf: Option<Secret>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("service", &self.service)
            .field("username", &self.username)
            .field("ticket", &self.ticket)
            .field("csrf", &self.csrf.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Deserialize)]
struct TicketData {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default, rename = "CSRFPreventionToken")]
    csrf: Option<String>,
    #[serde(default, rename = "NeedTFA")]
    need_tfa: Option<Value>,
}

impl Session {
    /// Build a session from parts (e.g. a ticket obtained elsewhere).
    pub fn new(
        service: Service,
        username: &str,
        ticket: &str,
        csrf: Option<&str>,
    ) -> Result<Self, Error> {
        let ticket = Ticket::parse(ticket)?;
        if ticket.is_half_ticket() {
            return Err(AuthError::HalfTicket.into());
        }
        if let Some(c) = csrf {
            check_header_safe("CSRF token", c)?;
        }
        Ok(Self {
            service,
            username: username.to_owned(),
            ticket,
            csrf: csrf.map(Secret::new),
        })
    }

    /// The service.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The user id.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The ticket.
    pub fn ticket(&self) -> &Ticket {
        &self.ticket
    }

    /// The CSRF token, for the `CSRFPreventionToken` header on non-GET requests.
    pub fn csrf_token(&self) -> Option<&str> {
        self.csrf.as_ref().map(Secret::expose)
    }

    /// Validity at `now`.
    pub fn state(&self, now: Duration) -> TicketState {
        self.ticket.state(now)
    }

    /// `Cookie` header value: `PVEAuthCookie=<ticket>` (per service).
    pub fn cookie_header(&self) -> String {
        format!("{}={}", self.service.cookie_name(), self.ticket.expose())
    }

    /// `Authorization` header value carrying the ticket, where the service accepts it (PVE);
    /// browsers need it because scripts cannot set `Cookie`.
    pub fn authorization_header(&self) -> Option<String> {
        self.service
            .ticket_in_authorization_header()
            .then(|| self.cookie_header())
    }

    /// The renewal request: `POST /access/ticket` with the ticket as the password.
    pub fn renewal_request(&self) -> Call {
        ticket_call(
            Params::new()
                .with("username", self.username.as_str())
                .with("password", self.ticket.expose()),
        )
    }

    /// Read the renewal answer into a new session (ticket and CSRF token replaced together).
    pub fn handle_renewal(
        &self,
        status: u16,
        reason: Option<&str>,
        body: &[u8],
    ) -> Result<Self, Error> {
        let data: TicketData = parse_data(status, reason, body)?;
        session_from(self.service, &self.username, data)
    }
}

fn ticket_call(params: Params) -> Call {
    Call {
        method: crate::Method::Post,
        path: crate::ApiPath::root()
            .literal("access/ticket")
            .unwrap_or_default(),
        params,
    }
}

fn session_from(service: Service, expected_user: &str, data: TicketData) -> Result<Session, Error> {
    if let Some(got) = &data.username
        && got != expected_user
    {
        return Err(ProtocolError::UsernameMismatch {
            expected: expected_user.to_owned(),
            got: got.clone(),
        }
        .into());
    }
    let ticket = data
        .ticket
        .ok_or_else(|| ProtocolError::MalformedTicket("the answer has no ticket".into()))?;
    let ticket = Ticket::parse(&ticket)?;
    if ticket.is_half_ticket() {
        return Err(AuthError::HalfTicket.into());
    }
    if let Some(c) = &data.csrf {
        check_header_safe("CSRF token", c).map_err(|_| {
            ProtocolError::MalformedTicket("CSRF token has control characters".into())
        })?;
    }
    Ok(Session {
        service,
        username: expected_user.to_owned(),
        ticket,
        csrf: data.csrf.map(Secret::new),
    })
}

/// Step one of a ticket login.
#[derive(Clone)]
pub struct Login {
    service: Service,
    username: String,
    password: Secret,
    new_format: bool,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("service", &self.service)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What the first login step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum LoginOutcome {
    /// Logged in.
    Authenticated(Session),
    /// A second factor is needed.
    SecondFactor(TfaChallenge),
}

impl Login {
    /// A login for `username` (`user@realm`) with a password.
    pub fn new(
        service: Service,
        username: &str,
        password: impl Into<Secret>,
    ) -> Result<Self, InputError> {
        check_userid(username)?;
        let password = password.into();
        if password.expose().is_empty() {
            return Err(InputError::InvalidCredentials(
                "the password is empty".into(),
            ));
        }
        Ok(Self {
            service,
            username: username.to_owned(),
            password,
            new_format: false,
        })
    }

    /// Send `new-format=1`, which PVE 7.1–7.4 need for the TFA flow (PVE 8+ ignores it).
    pub fn pve_compatibility(mut self, on: bool) -> Self {
        self.new_format = on;
        self
    }

    /// The user id.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The request to send, without any auth.
    pub fn request(&self) -> Call {
        let mut p = Params::new()
            .with("username", self.username.as_str())
            .with("password", self.password.expose());
        if self.new_format {
            p.append("new-format", true);
        }
        ticket_call(p)
    }

    /// Read the answer. A 401 is an [`Error::Api`] of class unauthorized.
    pub fn handle_response(
        self,
        status: u16,
        reason: Option<&str>,
        body: &[u8],
    ) -> Result<LoginOutcome, Error> {
        let data: TicketData = parse_data(status, reason, body)?;
        let need_tfa = match &data.need_tfa {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0) != 0,
            Some(Value::String(s)) => s == "1",
            _ => false,
        };
        let half = data.ticket.as_deref().map(Ticket::parse).transpose()?;
        match half {
            Some(t) if need_tfa || t.is_half_ticket() => {
                if let Some(got) = &data.username
                    && got != &self.username
                {
                    return Err(ProtocolError::UsernameMismatch {
                        expected: self.username,
                        got: got.clone(),
                    }
                    .into());
                }
                let offered = Offered::from_half_ticket(&t);
                Ok(LoginOutcome::SecondFactor(TfaChallenge {
                    service: self.service,
                    username: self.username,
                    half_ticket: Secret::new(t.expose()),
                    offered,
                }))
            }
            _ => session_from(self.service, &self.username, data).map(LoginOutcome::Authenticated),
        }
    }
}

/// The second factors a server offered, decoded from the half ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Offered {
    /// TOTP codes.
    pub totp: bool,
    /// Indices of the recovery keys still unused.
    pub recovery: Vec<u32>,
    /// Yubico OTP (PVE only).
    pub yubico: bool,
    /// The WebAuthn challenge (`publicKey` options), to pass to a browser or authenticator.
    pub webauthn: Option<Value>,
    /// A legacy U2F challenge.
    pub u2f: Option<Value>,
}

impl Offered {
    fn from_half_ticket(t: &Ticket) -> Self {
        let Some(enc) = t.userid().strip_prefix("!tfa!") else {
            // NeedTFA without a challenge in the ticket (old servers): assume TOTP.
            return Self {
                totp: true,
                ..Self::default()
            };
        };
        let decoded = percent_decode_str(enc).decode_utf8_lossy();
        let v: Value = serde_json::from_str(&decoded).unwrap_or(Value::Null);
        let flag = |k: &str| match v.get(k) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0) != 0,
            Some(Value::Object(_)) => true,
            _ => false,
        };
        let recovery = match v.get("recovery") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect(),
            _ => Vec::new(),
        };
        let obj = |k: &str| v.get(k).filter(|x| x.is_object()).cloned();
        Self {
            totp: flag("totp"),
            recovery,
            yubico: flag("yubico"),
            webauthn: obj("webauthn"),
            u2f: obj("u2f"),
        }
    }

    fn describe(&self) -> String {
        let mut v = Vec::new();
        if self.totp {
            v.push("totp".to_owned());
        }
        if !self.recovery.is_empty() {
            v.push(format!("recovery ({} left)", self.recovery.len()));
        }
        if self.yubico {
            v.push("yubico".into());
        }
        if self.webauthn.is_some() {
            v.push("webauthn".into());
        }
        if self.u2f.is_some() {
            v.push("u2f".into());
        }
        if v.is_empty() {
            "nothing".into()
        } else {
            v.join(", ")
        }
    }
}

/// A pending second-factor challenge. Serialisable, so a tool can ask the user later.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TfaChallenge {
    service: Service,
    username: String,
    half_ticket: Secret,
    offered: Offered,
}

impl fmt::Debug for TfaChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TfaChallenge")
            .field("service", &self.service)
            .field("username", &self.username)
            .field("offered", &self.offered)
            .field("half_ticket", &"<redacted>")
            .finish()
    }
}

/// A second-factor answer. Its `Debug` output never shows the code.
#[derive(Clone, PartialEq, Eq)]
pub struct SecondFactor {
    kind: FactorKind,
    answer: Secret,
}

/// The kinds of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FactorKind {
    /// A TOTP code.
    Totp,
    /// A recovery key.
    Recovery,
    /// A Yubico OTP.
    Yubico,
    /// A WebAuthn assertion (JSON).
    Webauthn,
    /// A U2F response (JSON).
    U2f,
}

impl FactorKind {
    /// The prefix PVE expects in `password=<kind>:<answer>`.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Recovery => "recovery",
            Self::Yubico => "yubico",
            Self::Webauthn => "webauthn",
            Self::U2f => "u2f",
        }
    }
}

impl fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecondFactor")
            .field("kind", &self.kind)
            .field("answer", &"<redacted>")
            .finish()
    }
}

impl SecondFactor {
    /// A TOTP code.
    pub fn totp(code: impl Into<Secret>) -> Self {
        Self {
            kind: FactorKind::Totp,
            answer: code.into(),
        }
    }
    /// A recovery key.
    pub fn recovery(key: impl Into<Secret>) -> Self {
        Self {
            kind: FactorKind::Recovery,
            answer: key.into(),
        }
    }
    /// A Yubico OTP.
    pub fn yubico(otp: impl Into<Secret>) -> Self {
        Self {
            kind: FactorKind::Yubico,
            answer: otp.into(),
        }
    }
    /// A WebAuthn assertion, as the JSON text the authenticator produced.
    pub fn webauthn(json: impl Into<Secret>) -> Self {
        Self {
            kind: FactorKind::Webauthn,
            answer: json.into(),
        }
    }
    /// A U2F response, as JSON text.
    pub fn u2f(json: impl Into<Secret>) -> Self {
        Self {
            kind: FactorKind::U2f,
            answer: json.into(),
        }
    }
    /// The kind.
    pub fn kind(&self) -> FactorKind {
        self.kind
    }
}

impl TfaChallenge {
    /// The user logging in.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// What the server offered.
    pub fn offered(&self) -> &Offered {
        &self.offered
    }

    /// Whether TOTP is offered.
    pub fn offers_totp(&self) -> bool {
        self.offered.totp
    }

    /// Indices of the unused recovery keys.
    pub fn recovery_keys_left(&self) -> &[u32] {
        &self.offered.recovery
    }

    /// Answer the challenge. Refuses a kind the server did not offer and an empty answer.
    pub fn respond(&self, factor: SecondFactor) -> Result<TfaResponse, Error> {
        let o = &self.offered;
        let offered = match factor.kind {
            FactorKind::Totp => o.totp,
            FactorKind::Recovery => !o.recovery.is_empty(),
            FactorKind::Yubico => o.yubico,
            FactorKind::Webauthn => o.webauthn.is_some(),
            FactorKind::U2f => o.u2f.is_some(),
        };
        if !offered {
            return Err(AuthError::FactorNotOffered {
                kind: factor.kind.wire_name(),
                offered: o.describe(),
            }
            .into());
        }
        let a = factor.answer.expose().trim();
        if a.is_empty() {
            return Err(
                InputError::InvalidCredentials("the second-factor answer is empty".into()).into(),
            );
        }
        Ok(TfaResponse {
            challenge: self.clone(),
            factor,
        })
    }
}

/// Step two of a TFA login: the answered challenge.
#[derive(Debug, Clone)]
pub struct TfaResponse {
    challenge: TfaChallenge,
    factor: SecondFactor,
}

impl TfaResponse {
    /// `POST /access/ticket` with `username`, `tfa-challenge` and `password=<kind>:<answer>`.
    pub fn request(&self) -> Call {
        ticket_call(
            Params::new()
                .with("username", self.challenge.username.as_str())
                .with("tfa-challenge", self.challenge.half_ticket.expose())
                .with(
                    "password",
                    format!(
                        "{}:{}",
                        self.factor.kind.wire_name(),
                        self.factor.answer.expose().trim()
                    ),
                ),
        )
    }

    /// Read the answer. Any non-2xx answer is [`AuthError::SecondFactorRejected`]; never retry it
    /// automatically.
    pub fn handle_response(
        self,
        status: u16,
        reason: Option<&str>,
        body: &[u8],
    ) -> Result<Session, Error> {
        let data: TicketData = match parse_data(status, reason, body) {
            Ok(d) => d,
            Err(Error::Api(e)) => return Err(AuthError::SecondFactorRejected(e).into()),
            Err(e) => return Err(e),
        };
        session_from(self.challenge.service, &self.challenge.username, data)
    }
}

/// How a request authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Auth {
    /// An API token.
    Token(ApiToken),
    /// A ticket session.
    Session(Session),
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 0x6500_0000;

    fn ticket(user: &str) -> String {
        format!("PVE:{user}:{T0:08X}::c2lnbmF0dXJl")
    }

    #[test]
    fn ticket_parse() {
        let t = Ticket::parse(&ticket("root@pam")).unwrap();
        assert_eq!(t.product(), "PVE");
        assert_eq!(t.userid(), "root@pam");
        assert_eq!(t.issued(), Duration::from_secs(T0));
        let q = Ticket::parse("PMGQUAR:user@quarantine:65000000::abc").unwrap();
        assert_eq!(q.product(), "PMGQUAR");
        for bad in [
            "",
            "ticket",
            "PVE:root@pam:65000000:",
            "PVE:root@pam:6500000::x",
            "PVE::65000000::x",
            "pve:u@p:65000000::x",
            "PVE:u@p:6500000G::x",
            "PVE:u@p:65000000::",
            "PVE:u@p\n:65000000::x",
        ] {
            assert!(Ticket::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ticket_states() {
        let t = Ticket::parse(&ticket("root@pam")).unwrap();
        let at = |s: u64| t.state(Duration::from_secs(T0 + s));
        assert_eq!(t.state(Duration::from_secs(T0 - 200)), TicketState::Valid);
        assert_eq!(at(0), TicketState::Valid);
        assert_eq!(at(3599), TicketState::Valid);
        assert_eq!(at(3600), TicketState::Renew);
        assert_eq!(at(7199), TicketState::Renew);
        assert_eq!(at(7200), TicketState::Expired);
    }

    #[test]
    fn login_plain_and_renewal() {
        let login = Login::new(Service::Pve, "user@pve", "password").unwrap();
        let req = login.request();
        assert_eq!(req.method, crate::Method::Post);
        assert_eq!(req.path.to_string(), "/access/ticket");
        assert_eq!(
            req.params.to_form(),
            "username=user%40pve&password=password"
        );
        let body = format!(
            r#"{{"data":{{"username":"user@pve","ticket":"{}","CSRFPreventionToken":"65000000:tok"}}}}"#,
            ticket("user@pve")
        );
        let LoginOutcome::Authenticated(s) =
            login.handle_response(200, None, body.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            s.cookie_header(),
            format!("PVEAuthCookie={}", ticket("user@pve"))
        );
        assert_eq!(s.csrf_token(), Some("65000000:tok"));
        let r = s.renewal_request();
        assert_eq!(r.params.get("password"), Some(ticket("user@pve").as_str()));
        let newt = "PVE:user@pve:65000E10::bmV3";
        let body = format!(
            r#"{{"data":{{"username":"user@pve","ticket":"{newt}","CSRFPreventionToken":"65000E10:tok2"}}}}"#
        );
        let s2 = s.handle_renewal(200, None, body.as_bytes()).unwrap();
        assert_eq!(s2.ticket().expose(), newt);
        assert_eq!(s2.csrf_token(), Some("65000E10:tok2"));
        // serialisable round trip
        let json = serde_json::to_string(&s2).unwrap();
        let back: Session = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s2);
    }

    #[test]
    fn login_failures() {
        let login = Login::new(Service::Pve, "bad_auth@pve", "x").unwrap();
        let e = login
            .clone()
            .handle_response(401, Some("authentication failure"), br#"{"data":null}"#)
            .unwrap_err();
        assert_eq!(e.api().map(|a| a.status), Some(401));
        assert_eq!(
            e.api().map(|a| a.class),
            Some(crate::ErrorClass::Unauthorized)
        );
        let body = format!(
            r#"{{"data":{{"username":"other@pve","ticket":"{}"}}}}"#,
            ticket("other@pve")
        );
        let e = login
            .handle_response(200, None, body.as_bytes())
            .unwrap_err();
        assert!(matches!(
            e,
            Error::Protocol(ProtocolError::UsernameMismatch { .. })
        ));
        assert!(Login::new(Service::Pve, "root@pam!tok", "x").is_err());
        assert!(Login::new(Service::Pve, "", "x").is_err());
        assert!(Login::new(Service::Pve, "a@b", "").is_err());
    }

    #[test]
    fn tfa_flow_and_refusals() {
        let login = Login::new(Service::Pve, "otp@pve", "password")
            .unwrap()
            .pve_compatibility(true);
        assert_eq!(login.request().params.get("new-format"), Some("1"));
        let half = "PVE:!tfa!%7B%22recovery%22%3A%5B1%5D%2C%22webauthn%22%3A%7B%22publicKey%22%3A%7B%7D%7D%7D:65000000::c2ln";
        let body = format!(
            r#"{{"data":{{"username":"otp@pve","ticket":"{half}","CSRFPreventionToken":"x","NeedTFA":1}}}}"#
        );
        let LoginOutcome::SecondFactor(ch) =
            login.handle_response(200, None, body.as_bytes()).unwrap()
        else {
            panic!()
        };
        assert!(!ch.offers_totp());
        assert_eq!(ch.recovery_keys_left(), [1]);
        assert!(ch.offered().webauthn.is_some());
        let e = ch.respond(SecondFactor::totp("123456")).unwrap_err();
        assert!(e.to_string().contains("did not offer totp"), "{e}");
        assert!(!e.to_string().contains("123456"));
        assert!(ch.respond(SecondFactor::recovery("  ")).is_err());
        let step = ch.respond(SecondFactor::recovery("ABCD-1234")).unwrap();
        let req = step.request();
        assert_eq!(req.params.get("tfa-challenge"), Some(half));
        assert_eq!(req.params.get("password"), Some("recovery:ABCD-1234"));
        assert!(!format!("{step:?}").contains("ABCD"));
        let e = step
            .handle_response(401, None, br#"{"data":null}"#)
            .unwrap_err();
        assert!(matches!(e, Error::Auth(AuthError::SecondFactorRejected(_))));
        // a pending challenge survives serialisation
        let json = serde_json::to_string(&ch).unwrap();
        let back: TfaChallenge = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ch);
    }

    #[test]
    fn tokens() {
        let t = ApiToken::from_parts("user", "name", "value").unwrap();
        assert_eq!(
            t.header_value(Service::Pve).unwrap(),
            "PVEAPIToken=user!name=value"
        );
        assert_eq!(
            t.header_value(Service::Pbs).unwrap(),
            "PBSAPIToken=user!name:value"
        );
        assert!(ApiToken::new("no-bang", "x").is_err());
        assert!(ApiToken::new("a@b!t", "").is_err());
        assert!(ApiToken::new("a@b!t", "x\r\ny").is_err());
        assert!(ApiToken::new("a@b!t=x", "y").is_err());
    }

    #[test]
    fn pmg_and_pbs_cookies() {
        let s = Session::new(Service::Pmg, "u@pmg", "PMG:u@pmg:65000000::x", Some("c")).unwrap();
        assert_eq!(s.cookie_header(), "PMGAuthCookie=PMG:u@pmg:65000000::x");
        assert_eq!(s.authorization_header(), None);
        let s = Session::new(Service::Pbs, "u@pbs", "PBS:u@pbs:65000000::x", None).unwrap();
        assert_eq!(s.cookie_header(), "PBSAuthCookie=PBS:u@pbs:65000000::x");
        let s = Session::new(Service::Pve, "u@pve", "PVE:u@pve:65000000::x", None).unwrap();
        assert_eq!(
            s.authorization_header().as_deref(),
            Some("PVEAuthCookie=PVE:u@pve:65000000::x")
        );
        assert!(Session::new(Service::Pve, "u@pve", "PVE:!tfa!x:65000000::x", None).is_err());
    }
}
