//! What a console call answers, and the WebSocket call that follows it.
//!
//! `POST …/termproxy` (pve-manager `PVE/API2/Nodes.pm`, qemu-server `src/PVE/API2/Qemu.pm`,
//! pve-container `src/PVE/API2/LXC.pm`) answers `user`, `ticket` (a `PVEVNC:…` ticket that
//! lives about 40 s), `port` and `upid`; `vncshell` and `…/vncproxy` answer the same and, for
//! VNC, the RFB `password` (8 characters, about 30 s). The WebSocket then goes to
//! `GET …/vncwebsocket?port=…&vncticket=…` on the node that answered.

use crate::auth::Secret;
use crate::call::Call;
use crate::error::{Error, InputError};
use crate::path::ApiPath;
use std::fmt;

/// A console's ticket: the answer of `termproxy`, `vncshell` or `vncproxy`.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleTicket {
    /// The user the login line names (`root@pam`, or the token's user).
    pub user: String,
    /// The console ticket (`PVEVNC:…`). Never printed.
    pub ticket: Secret,
    /// The port termproxy or the VNC proxy listens on, on the node that answered.
    pub port: u16,
    /// The task running the console, if given.
    pub upid: Option<String>,
    /// The RFB password (VNC only). Never printed.
    pub password: Option<Secret>,
}

impl fmt::Debug for ConsoleTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleTicket")
            .field("user", &self.user)
            .field("ticket", &"<redacted>")
            .field("port", &self.port)
            .field("upid", &self.upid)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct Wire {
    #[serde(deserialize_with = "crate::loose::string")]
    user: String,
    #[serde(deserialize_with = "crate::loose::string")]
    ticket: String,
    #[serde(deserialize_with = "crate::loose::int")]
    port: u16,
    #[serde(default, deserialize_with = "crate::loose::opt_string")]
    upid: Option<String>,
    #[serde(default, deserialize_with = "crate::loose::opt_string")]
    password: Option<String>,
}

impl ConsoleTicket {
    /// Read the `data` of a console call's answer (the JSON object).
    ///
    /// ```
    /// use proxmox_proto::console::ticket::ConsoleTicket;
    /// let t = ConsoleTicket::from_data(
    ///     br#"{"user":"root@pam","ticket":"PVEVNC:6750A1B2::c2ln","port":"5900","upid":"UPID:pve1:1:2:3:vncshell::root@pam:"}"#,
    /// ).unwrap();
    /// assert_eq!((t.user.as_str(), t.port), ("root@pam", 5900));
    /// assert!(!format!("{t:?}").contains("PVEVNC"));
    /// ```
    pub fn from_data(data: &[u8]) -> Result<Self, Error> {
        let w: Wire =
            serde_json::from_slice(data).map_err(|e| crate::error::ProtocolError::Malformed {
                what: "console ticket",
                detail: e.to_string(),
            })?;
        // The login line is `<user>:<ticket>\n`: a user id has neither.
        if w.user.is_empty() || w.user.contains(['\n', '\r', ':']) {
            return Err(crate::error::ProtocolError::Malformed {
                what: "console ticket",
                detail: "the user is not a user id".into(),
            }
            .into());
        }
        if w.ticket.is_empty() || w.ticket.contains(['\n', '\r']) {
            return Err(crate::error::ProtocolError::Malformed {
                what: "console ticket",
                detail: "the ticket is empty or spans lines".into(),
            }
            .into());
        }
        Ok(Self {
            user: w.user,
            ticket: Secret::new(w.ticket),
            port: w.port,
            upid: w.upid,
            password: w.password.map(Secret::new),
        })
    }

    /// The password of a VNC console's RFB authentication: the answer's `password` when the
    /// server generated one (qemu-server's `generate-password`), otherwise the console ticket
    /// itself, as PVE's noVNC client uses it (VNC authentication reads its first 8 bytes).
    ///
    /// ```
    /// use proxmox_proto::console::ticket::ConsoleTicket;
    /// let t = ConsoleTicket::from_data(br#"{"user":"root@pam","ticket":"PVEVNC:X","port":5900}"#).unwrap();
    /// assert_eq!(t.rfb_password().expose(), "PVEVNC:X");
    /// ```
    pub fn rfb_password(&self) -> &Secret {
        self.password.as_ref().unwrap_or(&self.ticket)
    }

    /// The WebSocket call for this ticket below `base` (the node, `nodes/pve1`, or the guest,
    /// `nodes/pve1/qemu/100`): `GET {base}/vncwebsocket?port=…&vncticket=…`. The query holds
    /// the ticket: error labels never print queries.
    ///
    /// ```
    /// use proxmox_proto::console::ticket::ConsoleTicket;
    /// use proxmox_proto::ApiPath;
    /// let t = ConsoleTicket::from_data(br#"{"user":"root@pam","ticket":"PVEVNC:X","port":5900}"#).unwrap();
    /// let call = t.websocket_call(&ApiPath::parse("nodes/pve1").unwrap()).unwrap();
    /// assert_eq!(call.path.to_string(), "/nodes/pve1/vncwebsocket");
    /// assert_eq!(call.params.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["port", "vncticket"]);
    /// ```
    pub fn websocket_call(&self, base: &ApiPath) -> Result<Call, InputError> {
        let path = base.clone().literal("vncwebsocket")?;
        Ok(Call::get(path)?
            .param("port", u64::from(self.port))
            .param("vncticket", self.ticket.expose()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_answers_are_named_and_secrets_never_printed() {
        for bad in [
            &br#"{"user":"root@pam","port":5900}"#[..],
            br#"{"user":"root@pam","ticket":"x","port":70000}"#,
            br#"{"user":"","ticket":"x","port":1}"#,
            br#"{"user":"root@pam","ticket":"a\nb","port":1}"#,
            b"[]",
        ] {
            let e = ConsoleTicket::from_data(bad).unwrap_err().to_string();
            assert!(e.contains("console ticket"), "{e}");
        }
        let t = ConsoleTicket::from_data(
            br#"{"user":"root@pam","ticket":"PVEVNC:T","port":5901,"password":"s3cretpw"}"#,
        )
        .unwrap();
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("PVEVNC") && !shown.contains("s3cretpw"),
            "{shown}"
        );
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("s3cretpw"));
    }
}
