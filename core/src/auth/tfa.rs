//! The second factor: what the server offered ([`Offered`], decoded from the half ticket), the
//! pending [`TfaChallenge`], the caller's [`SecondFactor`] and the [`TfaResponse`] step. A TFA
//! step is never retried (PVE locks the account).

use super::ticket::{TicketData, session_from, ticket_call};
use super::{AuthError, Secret, Session, Ticket};
use crate::call::Call;
use crate::error::{Error, InputError};
use crate::params::Params;
use crate::response::parse_data;
use crate::service::Service;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

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
    /// What a half ticket offers (TOTP alone when it holds no challenge).
    pub(super) fn from_half_ticket(t: &Ticket) -> Self {
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
    pub(super) service: Service,
    pub(super) username: String,
    pub(super) half_ticket: Secret,
    pub(super) offered: Offered,
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
        self.handle_http(status, reason, &http::HeaderMap::new(), body)
    }

    /// [`handle_response`](Self::handle_response) with the answer's headers, where a product
    /// that keeps the ticket out of the body (PDM) sets it.
    pub fn handle_http(
        self,
        status: u16,
        reason: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Session, Error> {
        let data: TicketData = match parse_data(status, reason, body) {
            Ok(d) => d,
            Err(Error::Api(e)) => return Err(AuthError::SecondFactorRejected(e).into()),
            Err(e) => return Err(e),
        };
        let service = self.challenge.service;
        session_from(
            service,
            &self.challenge.username,
            data.with_cookie(service, headers),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::*;

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
}
