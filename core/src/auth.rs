//! Authentication as values: API tokens, tickets, the login and TFA state machine, renewal.
//!
//! # Driving contract (login)
//!
//! 1. Make a [`Login`] and send [`Login::request`] (a [`Call`](crate::Call)) without auth.
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
//!
//! One concern per file, every item re-exported here: [`token`] (API tokens), [`ticket`]
//! (tickets and sessions, renewal), [`login`] (the first login step) and [`tfa`] (the second
//! factor).

use crate::error::{ApiError, InputError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

pub mod login;
pub mod tfa;
pub mod ticket;
pub mod token;

pub use login::{Login, LoginOutcome};
pub use tfa::{FactorKind, Offered, SecondFactor, TfaChallenge, TfaResponse};
pub use ticket::{Session, Ticket, TicketState, cookie_ticket};
pub use token::ApiToken;

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

/// How a request authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Auth {
    /// An API token.
    Token(ApiToken),
    /// A ticket session.
    Session(Session),
}
