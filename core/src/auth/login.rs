//! The first step of a ticket login: user and password in, a [`Session`] or a
//! [`TfaChallenge`] out.

use super::tfa::Offered;
use super::ticket::{TicketData, session_from, ticket_call};
use super::{Secret, Session, TfaChallenge, Ticket, check_userid};
use crate::call::Call;
use crate::error::{Error, InputError, ProtocolError};
use crate::params::Params;
use crate::response::parse_data;
use crate::service::Service;
use serde_json::Value;
use std::fmt;

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
        self.handle_http(status, reason, &http::HeaderMap::new(), body)
    }

    /// [`handle_response`](Self::handle_response) with the answer's headers, where a product
    /// that keeps the ticket out of the body ([`Service::ticket_in_cookie_only`]: PDM) sets it.
    pub fn handle_http(
        self,
        status: u16,
        reason: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<LoginOutcome, Error> {
        let data: TicketData = parse_data(status, reason, body).map_err(|e| {
            e.with_note(401, || {
                format!(
                    "the password login as {} was refused (wrong user, realm or password, or \
                     the account is disabled or expired)",
                    self.username
                )
            })
        })?;
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
            _ => session_from(
                self.service,
                &self.username,
                data.with_cookie(self.service, headers),
            )
            .map(LoginOutcome::Authenticated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::*;

    const T0: u64 = 0x6500_0000;

    fn ticket(user: &str) -> String {
        format!("PVE:{user}:{T0:08X}::c2lnbmF0dXJl")
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
}
