//! The credentials and auth state of one client, as a state machine every adapter shares.
//!
//! Adapters hold a [`SessionManager`] behind their own lock (a `Mutex`, an async mutex, a
//! `RefCell` in the browser) and ask it what to do before each call:
//!
//! 1. [`SessionManager::plan`] with the current time returns a [`Plan`]:
//!    * [`Plan::Use`]: send the call with this auth;
//!    * [`Plan::Renew`]: the ticket is in its last hour; send the renewal call, feed the answer
//!      to [`SessionManager::finish_renewal`], then use the result. Renewal is *single flight*:
//!      one caller renews while the others go on with the `current` auth of [`Plan::Renew`], which is still
//!      valid ([`SessionManager::claim_renewal`] says who renews);
//!    * [`Plan::Login`]: log in (first call, or the ticket expired); drive the [`Login`] machine
//!      and hand the session to [`SessionManager::install`].
//! 2. After a 401, [`SessionManager::invalidate`] with the auth that was used says whether one
//!    re-login is worth trying (password credentials only, and only if nobody replaced the
//!    session meanwhile).
//!
//! ```
//! use proxmox_proto::flow::MonoTime;
//! use proxmox_proto::session::{Credentials, Plan, SessionManager};
//! use proxmox_proto::auth::LoginOutcome;
//! use proxmox_proto::Service;
//! use std::time::Duration;
//!
//! let mut m = SessionManager::new(Service::Pve, Credentials::password("root@pam", "pw").unwrap());
//! let t0 = Duration::from_secs(0x6500_0000);
//! let Plan::Login(login) = m.plan(t0).unwrap() else { panic!() };
//! let body = br#"{"data":{"username":"root@pam","ticket":"PVE:root@pam:65000000::c2ln","CSRFPreventionToken":"c"}}"#;
//! let LoginOutcome::Authenticated(s) = login.handle_response(200, None, body).unwrap() else { panic!() };
//! m.install(s);
//! assert!(matches!(m.plan(t0 + Duration::from_secs(10)).unwrap(), Plan::Use(_)));
//! let Plan::Renew { call, current } = m.plan(t0 + Duration::from_secs(3700)).unwrap() else { panic!() };
//! let (now, until) = (MonoTime::ZERO, MonoTime::from_duration(Duration::from_secs(70)));
//! assert!(m.claim_renewal(&current, 1, now, until));
//! assert!(!m.claim_renewal(&current, 2, now, until), "single flight: a second caller does not renew");
//! assert_eq!(call.params.get("password"), Some("PVE:root@pam:65000000::c2ln"));
//! let body = br#"{"data":{"username":"root@pam","ticket":"PVE:root@pam:65000E74::bmV3","CSRFPreventionToken":"d"}}"#;
//! m.finish_renewal(Ok((200, None, body.as_slice()))).unwrap();
//! assert!(matches!(m.plan(t0 + Duration::from_secs(3700)).unwrap(), Plan::Use(_)));
//! ```

use crate::auth::{ApiToken, Auth, Login, Secret, Session, TicketState};
use crate::call::Call;
use crate::error::{Error, InputError};
use crate::flow::MonoTime;
use crate::service::{AuthKind, Service};
use std::fmt;
use std::time::Duration;

/// Who holds a lease: a number unique among the flows of one client (see
/// [`crate::flow::ClientCore`]).
pub type LeaseHolder = u64;

/// A claim on doing something for every caller (log in, renew), held by one caller until it
/// releases it or until `until`: a caller that vanished without releasing can never block the
/// next login for longer than its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it.
    pub holder: LeaseHolder,
    /// When it ends by itself.
    pub until: MonoTime,
}

/// What a client authenticates with.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// An API token.
    Token(ApiToken),
    /// A user and password (the second factor, if any, is supplied by the adapter).
    Password {
        /// `user@realm`.
        user: String,
        /// The password.
        password: Secret,
    },
    /// A saved session, without a password to log in again.
    Session(Session),
    /// None at the API level: `pvesh` on the node runs as the node's (SSH or local) user.
    Node,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(t) => f.debug_tuple("Token").field(t).finish(),
            Self::Password { user, .. } => f
                .debug_struct("Password")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Self::Session(s) => f.debug_tuple("Session").field(s).finish(),
            Self::Node => f.write_str("Node"),
        }
    }
}

impl Credentials {
    /// An API token from `user@realm!tokenid` and its secret.
    pub fn token(token_id: &str, secret: impl Into<Secret>) -> Result<Self, InputError> {
        let token = ApiToken::new(token_id, secret)?;
        if let Some((user, name)) = token_id.split_once('!')
            && !user.contains('@')
        {
            return Err(InputError::InvalidCredentials(format!(
                "token id {token_id:?} has no realm: write user@realm!tokenname (did you mean \
                 \"{user}@pam!{name}\"?)"
            )));
        }
        Ok(Self::Token(token))
    }

    /// A password login. The user id must name its realm (`root@pam`, `alice@pve`): the
    /// server answers for `user@realm`, so a bare name is refused here, before anything is
    /// sent, with the likely id in the message.
    pub fn password(user: &str, password: impl Into<Secret>) -> Result<Self, InputError> {
        let password = password.into();
        // Validates the user and password the same way the login will.
        Login::new(Service::Pve, user, password.clone())?;
        if !user.contains('@') {
            return Err(InputError::InvalidCredentials(format!(
                "user id {user:?} has no realm: write user@realm (did you mean \"{user}@pam\"? \
                 pam is the node's Linux users, pve the Proxmox VE users, pbs the Backup \
                 Server's)"
            )));
        }
        Ok(Self::Password {
            user: user.to_owned(),
            password,
        })
    }

    /// The auth kind, for [`Service::check`] and the retry rules.
    pub fn auth_kind(&self) -> AuthKind {
        match self {
            Self::Token(_) => AuthKind::Token,
            Self::Password { .. } | Self::Session(_) => AuthKind::Ticket,
            Self::Node => AuthKind::Shell,
        }
    }
}

/// What to do before a call.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Plan {
    /// Send the call with this auth.
    Use(Auth),
    /// Renew first if [`SessionManager::claim_renewal`] says so; otherwise use `current`.
    Renew {
        /// The renewal call.
        call: Call,
        /// The still-valid auth to use meanwhile (or if renewal fails).
        current: Auth,
    },
    /// Log in with this machine (first call, or the ticket expired).
    Login(Login),
}

/// A renewal's HTTP answer: status, reason phrase, headers, body.
pub type RenewalAnswer<'a> = (u16, Option<&'a str>, &'a http::HeaderMap, &'a [u8]);

/// The auth state of one client. See the module docs for the driving contract.
#[derive(Debug, Clone)]
pub struct SessionManager {
    service: Service,
    credentials: Credentials,
    current: Option<Auth>,
    renewal: Option<Lease>,
    login_lease: Option<Lease>,
    generation: u64,
    pve_compat: bool,
}

impl SessionManager {
    /// A manager for these credentials.
    pub fn new(service: Service, credentials: Credentials) -> Self {
        let current = match &credentials {
            Credentials::Token(t) => Some(Auth::Token(t.clone())),
            Credentials::Session(s) => Some(Auth::Session(s.clone())),
            Credentials::Password { .. } | Credentials::Node => None,
        };
        Self {
            service,
            credentials,
            current,
            renewal: None,
            login_lease: None,
            generation: 0,
            pve_compat: false,
        }
    }

    /// Send `new-format=1` on logins (PVE 7.1–7.4 TFA).
    pub fn pve_compatibility(mut self, on: bool) -> Self {
        self.pve_compat = on;
        self
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The auth kind.
    pub fn auth_kind(&self) -> AuthKind {
        self.credentials.auth_kind()
    }

    /// The current session, if logged in with a ticket.
    pub fn session(&self) -> Option<&Session> {
        match &self.current {
            Some(Auth::Session(s)) => Some(s),
            _ => None,
        }
    }

    /// How many times the auth was replaced (login, renewal, invalidation).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn login(&self) -> Result<Login, Error> {
        match &self.credentials {
            Credentials::Password { user, password } => {
                Ok(Login::new(self.service, user, password.clone())?
                    .pve_compatibility(self.pve_compat))
            }
            _ => Err(crate::auth::AuthError::TicketExpired.into()),
        }
    }

    /// What to do before a call at `now`. Fails only when a login is needed and impossible
    /// (a saved session expired and there is no password).
    pub fn plan(&self, now: Duration) -> Result<Plan, Error> {
        match &self.current {
            Some(Auth::Token(t)) => Ok(Plan::Use(Auth::Token(t.clone()))),
            Some(Auth::Session(s)) => match s.state(now) {
                TicketState::Valid => Ok(Plan::Use(Auth::Session(s.clone()))),
                TicketState::Renew => Ok(Plan::Renew {
                    call: s.renewal_request(),
                    current: Auth::Session(s.clone()),
                }),
                TicketState::Expired => self.login().map(Plan::Login),
            },
            None => self.login().map(Plan::Login),
        }
    }

    /// Claim the renewal of `planned` (the `current` of the [`Plan::Renew`] the caller got) for
    /// `holder` until `until`: `true` for the one caller that should send it; `false` while
    /// another lease is in force, or when the session is no longer `planned` (another caller
    /// renewed it between this caller's [`SessionManager::plan`] and now). On `false`, go on with
    /// `planned`: it is still valid. A lease that ran out counts as released.
    pub fn claim_renewal(
        &mut self,
        planned: &Auth,
        holder: LeaseHolder,
        now: MonoTime,
        until: MonoTime,
    ) -> bool {
        if self.renewal.is_some_and(|l| l.until > now) || self.current.as_ref() != Some(planned) {
            return false;
        }
        self.renewal = Some(Lease { holder, until });
        true
    }

    /// Give the renewal lease back without an answer (the caller was dropped or gave up); the
    /// old, still-valid session stays. Returns whether `holder` held it.
    pub fn release_renewal(&mut self, holder: LeaseHolder) -> bool {
        if self.renewal.is_some_and(|l| l.holder == holder) {
            self.renewal = None;
            return true;
        }
        false
    }

    /// Claim the login for `holder` until `until`. `Err` with the end of the other holder's
    /// lease while someone else is logging in; a lease that ran out counts as released.
    pub fn claim_login(
        &mut self,
        holder: LeaseHolder,
        now: MonoTime,
        until: MonoTime,
    ) -> Result<(), MonoTime> {
        match self.login_lease {
            Some(l) if l.holder != holder && l.until > now => Err(l.until),
            _ => {
                self.login_lease = Some(Lease { holder, until });
                Ok(())
            }
        }
    }

    /// Move the end of `holder`'s login lease (while a person types a second factor).
    pub fn extend_login(&mut self, holder: LeaseHolder, until: MonoTime) {
        if let Some(l) = &mut self.login_lease
            && l.holder == holder
        {
            l.until = until;
        }
    }

    /// Give the login lease back. Returns whether `holder` held it.
    pub fn release_login(&mut self, holder: LeaseHolder) -> bool {
        if self.login_lease.is_some_and(|l| l.holder == holder) {
            self.login_lease = None;
            return true;
        }
        false
    }

    /// The login lease in force at `now`, if any.
    pub fn login_lease(&self, now: MonoTime) -> Option<Lease> {
        self.login_lease.filter(|l| l.until > now)
    }

    /// Finish a renewal with the answer (or `Err` when the call failed on the wire). On
    /// failure the old, still-valid session stays.
    pub fn finish_renewal(
        &mut self,
        answer: Result<(u16, Option<&str>, &[u8]), ()>,
    ) -> Result<(), Error> {
        let none = http::HeaderMap::new();
        self.finish_renewal_http(answer.map(|(status, reason, body)| (status, reason, &none, body)))
    }

    /// [`finish_renewal`](Self::finish_renewal) with the answer's headers ([`RenewalAnswer`]),
    /// where a product that keeps the ticket out of the body (PDM) sets it.
    pub fn finish_renewal_http(
        &mut self,
        answer: Result<RenewalAnswer<'_>, ()>,
    ) -> Result<(), Error> {
        self.renewal = None;
        let Some(Auth::Session(s)) = &self.current else {
            return Ok(());
        };
        let Ok((status, reason, headers, body)) = answer else {
            return Ok(());
        };
        let new = s.handle_renewal_http(status, reason, headers, body)?;
        self.install(new);
        Ok(())
    }

    /// Install a fresh session (after a login).
    pub fn install(&mut self, session: Session) {
        self.current = Some(Auth::Session(session));
        self.generation += 1;
    }

    /// After a 401 with `used`: returns `true` if logging in again is worth one try (password
    /// credentials, and the session was not replaced meanwhile); the stale session is dropped.
    pub fn invalidate(&mut self, used: &Auth) -> bool {
        if !matches!(self.credentials, Credentials::Password { .. }) {
            return false;
        }
        if self.current.as_ref() == Some(used) {
            self.current = None;
            self.generation += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE_END: MonoTime = MonoTime::from_duration(Duration::from_secs(70));

    #[test]
    fn token_always_used() {
        let m = SessionManager::new(Service::Pve, Credentials::token("a@b!c", "d").unwrap());
        assert!(matches!(
            m.plan(Duration::ZERO).unwrap(),
            Plan::Use(Auth::Token(_))
        ));
        let mut m = m;
        assert!(!m.invalidate(&Auth::Token(ApiToken::new("a@b!c", "d").unwrap())));
    }

    #[test]
    fn expired_saved_session_without_password_is_an_error() {
        let s = Session::new(Service::Pve, "u@pve", "PVE:u@pve:65000000::x", Some("c")).unwrap();
        let m = SessionManager::new(Service::Pve, Credentials::Session(s));
        assert!(m.plan(Duration::from_secs(0x6500_0000 + 8000)).is_err());
    }

    #[test]
    fn invalidate_only_once_per_session() {
        let mut m = SessionManager::new(Service::Pve, Credentials::password("u@pve", "p").unwrap());
        let s = Session::new(Service::Pve, "u@pve", "PVE:u@pve:65000000::x", Some("c")).unwrap();
        m.install(s.clone());
        let used = Auth::Session(s);
        assert!(m.invalidate(&used));
        assert!(m.session().is_none());
        assert!(matches!(
            m.plan(Duration::from_secs(0x6500_0000)).unwrap(),
            Plan::Login(_)
        ));
        assert!(!format!("{:?}", m.credentials()).contains("\"p\""));
    }

    #[test]
    fn a_renewal_planned_before_another_finished_is_not_sent_again() {
        let mut m = SessionManager::new(Service::Pve, Credentials::password("u@pve", "p").unwrap());
        let t0 = Duration::from_secs(0x6500_0000);
        m.install(Session::new(Service::Pve, "u@pve", "PVE:u@pve:65000000::x", Some("c")).unwrap());
        let later = t0 + Duration::from_secs(3700);
        // Two callers plan before either claims (two threads).
        let Plan::Renew { current: a, .. } = m.plan(later).unwrap() else {
            panic!("renew")
        };
        let Plan::Renew { current: b, .. } = m.plan(later).unwrap() else {
            panic!("renew")
        };
        assert!(m.claim_renewal(&a, 1, MonoTime::ZERO, LEASE_END));
        let body = br#"{"data":{"username":"u@pve","ticket":"PVE:u@pve:65000E74::bmV3","CSRFPreventionToken":"d"}}"#;
        m.finish_renewal(Ok((200, None, body.as_slice()))).unwrap();
        // The second caller's claim comes after the first renewal finished.
        assert!(
            !m.claim_renewal(&b, 1, MonoTime::ZERO, LEASE_END),
            "the session it planned with was renewed"
        );
        assert!(matches!(m.plan(later).unwrap(), Plan::Use(_)));
    }

    #[test]
    fn failed_renewal_keeps_the_session() {
        let mut m = SessionManager::new(Service::Pve, Credentials::password("u@pve", "p").unwrap());
        let s = Session::new(Service::Pve, "u@pve", "PVE:u@pve:65000000::x", Some("c")).unwrap();
        m.install(s.clone());
        let planned = Auth::Session(s);
        assert!(m.claim_renewal(&planned, 1, MonoTime::ZERO, LEASE_END));
        m.finish_renewal(Err(())).unwrap();
        assert!(m.session().is_some());
        assert!(
            m.claim_renewal(&planned, 1, MonoTime::ZERO, LEASE_END),
            "the claim is released after a failure"
        );
        assert!(m.finish_renewal(Ok((401, None, b"{}"))).is_err());
        assert!(m.session().is_some());
    }
}
