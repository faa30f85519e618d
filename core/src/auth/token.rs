//! API tokens: `user@realm!tokenid` and a secret, sent in a header; no CSRF, no renewal.

use super::{Secret, check_header_safe};
use crate::error::InputError;
use crate::service::Service;
use serde::{Deserialize, Serialize};
use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
