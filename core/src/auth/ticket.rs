//! Tickets (`PRODUCT:userid:HEXTIME::signature`) and their validity, and [`Session`]: a
//! logged-in user's ticket and CSRF token, with renewal.

use super::{AuthError, Secret, TICKET_LIFETIME, TICKET_RENEW_AFTER, check_header_safe};
use crate::call::Call;
use crate::error::{Error, ProtocolError};
use crate::params::Params;
use crate::response::parse_data;
use crate::service::Service;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

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

/// The `data` of a `/access/ticket` answer.
#[derive(Deserialize)]
pub(super) struct TicketData {
    #[serde(default)]
    pub(super) username: Option<String>,
    #[serde(default)]
    pub(super) ticket: Option<String>,
    #[serde(default, rename = "CSRFPreventionToken")]
    pub(super) csrf: Option<String>,
    #[serde(default, rename = "NeedTFA")]
    pub(super) need_tfa: Option<Value>,
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
        self.handle_renewal_http(status, reason, &http::HeaderMap::new(), body)
    }

    /// [`handle_renewal`](Self::handle_renewal) with the answer's headers, where a product
    /// that keeps the ticket out of the body ([`Service::ticket_in_cookie_only`]: PDM) sets it.
    pub fn handle_renewal_http(
        &self,
        status: u16,
        reason: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Self, Error> {
        let data: TicketData = parse_data(status, reason, body)?;
        session_from(
            self.service,
            &self.username,
            data.with_cookie(self.service, headers),
        )
    }
}

impl TicketData {
    /// For a product that sends the ticket only as a cookie: the ticket of the `Set-Cookie`
    /// headers when the body has none.
    pub(super) fn with_cookie(mut self, service: Service, headers: &http::HeaderMap) -> Self {
        if self.ticket.is_none() && service.ticket_in_cookie_only() {
            self.ticket = cookie_ticket(service, headers);
        }
        self
    }
}

/// The ticket a login answer set as the product's cookie (`Set-Cookie:
/// __Host-PDMAuthCookie=<ticket>; Expires=…; Secure; SameSite=Lax; HttpOnly; Path=/;`, as
/// proxmox-auth-api's `create_ticket_http_only` writes it); `None` when there is none, or it is
/// empty (a logout clears it so).
pub fn cookie_ticket(service: Service, headers: &http::HeaderMap) -> Option<String> {
    let name = service.cookie_name();
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, value) = pair.split_once('=')?;
            (k.trim() == name).then(|| value.trim().to_owned())
        })
        .find(|v| !v.is_empty())
}

/// `POST /access/ticket` with these parameters (login, TFA step, renewal).
pub(super) fn ticket_call(params: Params) -> Call {
    Call {
        method: crate::Method::Post,
        path: crate::ApiPath::root()
            .literal("access/ticket")
            .unwrap_or_default(),
        params,
    }
}

/// The session in a `/access/ticket` answer for `expected_user` (a half ticket is an error).
pub(super) fn session_from(
    service: Service,
    expected_user: &str,
    data: TicketData,
) -> Result<Session, Error> {
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

#[cfg(test)]
mod tests {
    /// PDM renews through its cookie: the new ticket is in `Set-Cookie`, not in the body.
    #[test]
    fn a_pdm_renewal_reads_the_cookie() {
        let s = Session::new(Service::Pdm, "u@pdm", "PDM:u@pdm:65000000::x", Some("c")).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.append(http::header::SET_COOKIE, "other=1; Path=/".parse().unwrap());
        headers.append(
            http::header::SET_COOKIE,
            "__Host-PDMAuthCookie=PDM:u@pdm:65000E10::y; Secure; HttpOnly; Path=/;"
                .parse()
                .unwrap(),
        );
        let body = br#"{"data":{"username":"u@pdm","CSRFPreventionToken":"d","ticket-info":"x"}}"#;
        let new = s.handle_renewal_http(200, None, &headers, body).unwrap();
        assert_eq!(new.ticket().expose(), "PDM:u@pdm:65000E10::y");
        // PVE's cookie name in a PDM answer is not PDM's ticket.
        let mut pve = http::HeaderMap::new();
        pve.append(
            http::header::SET_COOKIE,
            "PVEAuthCookie=PVE:u@pdm:65000E10::y".parse().unwrap(),
        );
        assert!(s.handle_renewal_http(200, None, &pve, body).is_err());
        assert_eq!(
            cookie_ticket(Service::Pdm, &headers).as_deref(),
            Some("PDM:u@pdm:65000E10::y")
        );
    }

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
