//! What the secrets tests of the adapters look for: the simulator's secrets plus some that
//! the tests hand out themselves, and assertions that no `Debug`/`Display` text shows any of
//! them. Tickets and CSRF tokens join the list as sessions hand them out.

use proxmox_proto::auth::Session;
use std::fmt::{Debug, Display};

/// A wrong password the tests send.
pub const WRONG_PASSWORD: &str = "Wrong-SECRET-pw-77";
/// A wrong TOTP code the tests send.
pub const WRONG_TOTP: &str = "987654";
/// A wrong token secret the tests send.
pub const WRONG_TOKEN: &str = "Wrong-SECRET-token-88";
/// The password in the tests' proxy URLs.
pub const PROXY_PASSWORD: &str = "ProxySECRET-55";
/// A throw-away client certificate (the hostile servers' leaf).
pub const CLIENT_CERT: &str = crate::hostile::LEAF_PEM;
/// Its key: a secret for these tests.
pub const CLIENT_KEY: &str = crate::hostile::LEAF_KEY;

/// The secrets to look for; grows as the flows hand out tickets and CSRF tokens.
#[derive(Debug, Clone)]
pub struct Secrets(pub Vec<String>);

impl Secrets {
    /// The fixed secrets.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let mut v: Vec<String> = [
            proxmox_sim::TOKEN_SECRET,
            proxmox_sim::TFA_PASSWORD,
            proxmox_sim::TOTP_CODE,
            "alicepw",
            WRONG_PASSWORD,
            WRONG_TOTP,
            WRONG_TOKEN,
            PROXY_PASSWORD,
        ]
        .map(String::from)
        .to_vec();
        v.extend(proxmox_sim::RECOVERY_KEYS.map(String::from));
        v.extend(
            CLIENT_KEY
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .map(String::from),
        );
        Self(v)
    }

    /// Add a session's ticket, its signature and its CSRF token.
    pub fn add_session(&mut self, s: &Session) {
        let ticket = s.ticket().expose().to_owned();
        self.0.push(
            ticket
                .split_once("::")
                .expect("a ticket has a signature")
                .1
                .to_owned(),
        );
        self.0.push(ticket);
        if let Some(csrf) = s.csrf_token() {
            self.0
                .push(csrf.split_once(':').map_or(csrf, |(_, t)| t).to_owned());
        }
    }

    #[track_caller]
    /// Assert that the `Debug` of `v` (plain and pretty) shows no secret.
    pub fn debug(&self, what: &str, v: &impl Debug) {
        let text = format!("{v:?} {v:#?}");
        for s in &self.0 {
            assert!(
                !text.contains(s.as_str()),
                "{what} Debug shows {s:?}: {text}"
            );
        }
    }

    #[track_caller]
    /// Assert that neither `Debug` nor `Display` of `e` shows a secret.
    pub fn error(&self, what: &str, e: &(impl Debug + Display)) {
        self.debug(what, e);
        let text = e.to_string();
        for s in &self.0 {
            assert!(
                !text.contains(s.as_str()),
                "{what} Display shows {s:?}: {text}"
            );
        }
    }
}
