//! Tickets, CSRF tokens, API tokens and the login endpoint (with TFA).

use serde_json::{Value, json};

use crate::Service;
use crate::api::ApiErr;
use crate::http::Request;
use crate::state::{AuthKind, Shared, State};
use crate::util::{base64, keyed_hash, percent_decode};

/// Ticket lifetime (PVE `$ticket_lifetime`).
pub(crate) const TICKET_LIFETIME: u64 = 7200;
/// Tickets are accepted this long before their timestamp (clock drift).
const MIN_TICKET_AGE: u64 = 300;

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// `user@realm`.
    pub(crate) userid: String,
    /// `user@realm` or `user@realm!token`.
    pub(crate) authid: String,
    /// Authenticated with a ticket (so CSRF applies).
    pub(crate) ticket: bool,
}

/// The secret of a new API token `full` (hex), derived from the simulator's key.
pub(crate) fn token_secret_for(shared: &Shared, full: &str) -> String {
    crate::util::hex(&keyed_hash(&shared.secret, &[b"token", full.as_bytes()]))
}

/// The key tickets are signed with (rotated by [`crate::Simulator::expire_all_tickets`]); the
/// console tickets (`PVEVNC:`) use it too, as PVE signs them with the same auth key.
pub(crate) fn signing_key(shared: &Shared, epoch: u64) -> [u8; 32] {
    keyed_hash(&shared.secret, &[b"epoch", &epoch.to_be_bytes()])
}

fn sign(key: &[u8; 32], signed: &str, aad: &str) -> String {
    let a = keyed_hash(key, &[b"ticket-a", signed.as_bytes(), aad.as_bytes()]);
    let b = keyed_hash(key, &[b"ticket-b", signed.as_bytes(), aad.as_bytes()]);
    let mut sig = a.to_vec();
    sig.extend_from_slice(&b);
    base64(&sig, true)
}

/// `TAG:data:HEXTIME::signature`.
pub(crate) fn assemble_ticket(shared: &Shared, st: &State, data: &str, aad: &str) -> String {
    let key = signing_key(shared, st.key_epoch);
    let signed = format!(
        "{}:{}:{:08X}",
        shared.config.service.tag(),
        data,
        shared.clock.now_secs()
    );
    let sig = sign(&key, &signed, aad);
    format!("{signed}::{sig}")
}

/// Why a ticket was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TicketError {
    Invalid,
    Expired,
}

/// Check signature and age; returns the ticket data (user id or `!tfa!...`).
pub(crate) fn verify_ticket(
    shared: &Shared,
    st: &State,
    ticket: &str,
    aad: &str,
) -> Result<String, TicketError> {
    let tag = shared.config.service.tag();
    let (signed, sig) = ticket.rsplit_once("::").ok_or(TicketError::Invalid)?;
    let rest = signed
        .strip_prefix(tag)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or(TicketError::Invalid)?;
    let (data, hex) = rest.rsplit_once(':').ok_or(TicketError::Invalid)?;
    if hex.len() != 8 {
        return Err(TicketError::Invalid);
    }
    let ts = u64::from_str_radix(hex, 16).map_err(|_| TicketError::Invalid)?;
    let key = signing_key(shared, st.key_epoch);
    if sign(&key, signed, aad) != sig {
        return Err(TicketError::Invalid);
    }
    let now = shared.clock.now_secs();
    if ts > now + MIN_TICKET_AGE {
        return Err(TicketError::Invalid);
    }
    if now >= ts + TICKET_LIFETIME {
        return Err(TicketError::Expired);
    }
    Ok(data.to_owned())
}

/// `HEXTIME:signature`, bound to the user.
pub(crate) fn assemble_csrf(shared: &Shared, st: &State, userid: &str) -> String {
    let key = signing_key(shared, st.key_epoch);
    let hex = format!("{:08X}", shared.clock.now_secs());
    let mac = keyed_hash(&key, &[b"csrf", hex.as_bytes(), userid.as_bytes()]);
    format!("{hex}:{}", base64(&mac, false))
}

pub(crate) fn verify_csrf(shared: &Shared, st: &State, token: &str, userid: &str) -> bool {
    let Some((hex, sig)) = token.split_once(':') else {
        return false;
    };
    let Ok(ts) = u64::from_str_radix(hex, 16) else {
        return false;
    };
    let key = signing_key(shared, st.key_epoch);
    let mac = keyed_hash(&key, &[b"csrf", hex.as_bytes(), userid.as_bytes()]);
    if base64(&mac, false) != sig {
        return false;
    }
    let now = shared.clock.now_secs();
    ts <= now + MIN_TICKET_AGE && now < ts + TICKET_LIFETIME
}

fn cookie_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    for h in req.headers_all("cookie") {
        for part in h.split(';') {
            if let Some((k, v)) = part.trim().split_once('=')
                && k == name
            {
                return Some(v);
            }
        }
    }
    None
}

fn unauthorized(msg: &str) -> ApiErr {
    ApiErr::new(401, msg)
}

/// Authenticate a request: the auth kind for the log, and the caller or a 401.
pub(crate) fn authenticate(
    shared: &Shared,
    st: &State,
    req: &Request,
) -> (AuthKind, Result<Caller, ApiErr>) {
    let service = shared.config.service;
    let tag = service.tag();
    let authz = req.header("authorization").map(str::trim);
    // API token.
    if let Some(value) = authz.and_then(|a| a.strip_prefix(&format!("{tag}APIToken"))) {
        let value = value
            .strip_prefix('=')
            .or_else(|| value.strip_prefix(' '))
            .unwrap_or("");
        let sep = if service == Service::Pbs { ':' } else { '=' };
        let found = value.split_once(sep).and_then(|(id, secret)| {
            let id = percent_decode(id, false);
            let secret = percent_decode(secret, false);
            if service == Service::Pmg {
                return None;
            }
            match st.tokens.get(&id) {
                Some(s) if *s == secret => Some(id),
                _ => None,
            }
        });
        return match found {
            Some(id) => {
                let userid = id.split('!').next().unwrap_or("").to_owned();
                (
                    AuthKind::Token,
                    Ok(Caller {
                        userid,
                        authid: id,
                        ticket: false,
                    }),
                )
            }
            None => (AuthKind::Bad, Err(unauthorized("authentication failure"))),
        };
    }
    // Ticket in the Authorization header (PVE, PMG: pve-http-server).
    let header_ticket = if service == Service::Pbs {
        None
    } else {
        authz.and_then(|a| a.strip_prefix(&format!("{tag}AuthCookie=")))
    };
    let (kind, ticket) = if let Some(t) = header_ticket {
        (AuthKind::TicketHeader, Some(t))
    } else {
        let names: &[&str] = match service {
            Service::Pve => &["PVEAuthCookie"],
            Service::Pmg => &["PMGAuthCookie"],
            Service::Pbs => &["__Host-PBSAuthCookie", "PBSAuthCookie"],
        };
        let t = names.iter().find_map(|n| cookie_value(req, n));
        (AuthKind::TicketCookie, t)
    };
    let Some(ticket) = ticket else {
        if authz.is_some() {
            return (AuthKind::Bad, Err(unauthorized("authentication failure")));
        }
        let msg = if service == Service::Pbs {
            "no authentication credentials provided."
        } else {
            "No ticket"
        };
        return (AuthKind::None, Err(unauthorized(msg)));
    };
    let ticket = percent_decode(ticket, false);
    let bad = || {
        (
            AuthKind::Bad,
            Err(unauthorized(&format!(
                "permission denied - invalid {tag} ticket"
            ))),
        )
    };
    match verify_ticket(shared, st, &ticket, "") {
        Ok(userid) if !userid.starts_with("!tfa!") && st.users.contains_key(&userid) => (
            kind,
            Ok(Caller {
                authid: userid.clone(),
                userid,
                ticket: true,
            }),
        ),
        _ => bad(),
    }
}

fn normalize_user(username: &str, realm: Option<&str>) -> String {
    if username.contains('@') {
        username.to_owned()
    } else {
        format!("{username}@{}", realm.unwrap_or("pam"))
    }
}

fn encode_challenge(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b == b':' || b == b'%' || !(0x21..=0x7e).contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn get<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
}

fn login_ok(shared: &Shared, st: &State, userid: &str) -> Value {
    let ticket = assemble_ticket(shared, st, userid, "");
    let csrf = assemble_csrf(shared, st, userid);
    match shared.config.service {
        Service::Pve => json!({
            "ticket": ticket,
            "CSRFPreventionToken": csrf,
            "username": userid,
            "cap": {
                "vms": {"VM.Audit": 1, "VM.PowerMgmt": 1, "VM.Allocate": 1, "VM.Config.Options": 1},
                "storage": {"Datastore.Audit": 1, "Datastore.AllocateTemplate": 1},
                "nodes": {"Sys.Audit": 1},
                "access": {},
                "dc": {},
                "sdn": {},
                "mapping": {}
            }
        }),
        Service::Pmg => json!({
            "ticket": ticket,
            "CSRFPreventionToken": csrf,
            "username": userid,
            "role": "root"
        }),
        Service::Pbs => json!({
            "ticket": ticket,
            "CSRFPreventionToken": csrf,
            "username": userid
        }),
    }
}

/// Accept a TFA response (`totp:CODE`, `recovery:KEY`) for the TFA user.
fn check_tfa_response(st: &mut State, response: &str) -> bool {
    match response.split_once(':') {
        Some(("totp", code)) => code == crate::TOTP_CODE,
        Some(("recovery", key)) => {
            let idx = crate::RECOVERY_KEYS.iter().position(|k| *k == key);
            match idx {
                Some(i) if !st.recovery_used.contains(&i) => {
                    st.recovery_used.insert(i);
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// `POST /access/ticket`: password login, TFA second step, renewal.
pub(crate) fn login(
    shared: &Shared,
    st: &mut State,
    params: &[(String, String)],
) -> Result<Value, ApiErr> {
    let fail = || ApiErr::new(401, "authentication failure");
    let username = get(params, "username").ok_or_else(|| {
        ApiErr::params([("username", "property is missing and it is not optional")])
    })?;
    let password = get(params, "password").ok_or_else(|| {
        ApiErr::params([("password", "property is missing and it is not optional")])
    })?;
    let userid = normalize_user(username, get(params, "realm"));
    let tag = shared.config.service.tag();
    let limit = shared.config.tfa_lockout_after;

    // Second step: tfa-challenge + password=<type>:<response>.
    if let Some(challenge) = get(params, "tfa-challenge") {
        if get(params, "otp").is_some() {
            return Err(fail());
        }
        let data = verify_ticket(shared, st, challenge, &userid).map_err(|_| fail())?;
        if !data.starts_with("!tfa!") {
            return Err(fail());
        }
        if st.tfa_failures.get(&userid).copied().unwrap_or(0) >= limit {
            return Err(fail());
        }
        if check_tfa_response(st, password) {
            st.tfa_failures.remove(&userid);
            return Ok(login_ok(shared, st, &userid));
        }
        *st.tfa_failures.entry(userid).or_insert(0) += 1;
        return Err(fail());
    }

    // Renewal: the password is a valid full ticket of the same user.
    if password.starts_with(&format!("{tag}:")) {
        return match verify_ticket(shared, st, password, "") {
            Ok(data) if data == userid && st.users.contains_key(&userid) => {
                Ok(login_ok(shared, st, &userid))
            }
            _ => Err(fail()),
        };
    }

    let user = st.users.get(&userid).cloned().ok_or_else(fail)?;
    if user.password != password {
        return Err(fail());
    }
    if !user.tfa {
        return Ok(login_ok(shared, st, &userid));
    }
    // One-shot TFA in `otp` (e.g. otp=totp:123456).
    if let Some(otp) = get(params, "otp") {
        if st.tfa_failures.get(&userid).copied().unwrap_or(0) >= limit {
            return Err(fail());
        }
        if check_tfa_response(st, otp) {
            st.tfa_failures.remove(&userid);
            return Ok(login_ok(shared, st, &userid));
        }
        *st.tfa_failures.entry(userid).or_insert(0) += 1;
        return Err(fail());
    }
    let recovery: Vec<usize> = (0..crate::RECOVERY_KEYS.len())
        .filter(|i| !st.recovery_used.contains(i))
        .collect();
    let recovery_json = recovery
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let challenge = format!("{{\"totp\":true,\"recovery\":[{recovery_json}]}}");
    let half = assemble_ticket(
        shared,
        st,
        &format!("!tfa!{}", encode_challenge(&challenge)),
        &userid,
    );
    Ok(json!({
        "ticket": half,
        "CSRFPreventionToken": assemble_csrf(shared, st, &userid),
        "username": userid,
        "NeedTFA": 1
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_encoding_keeps_json_readable() {
        assert_eq!(
            encode_challenge("{\"totp\":true}"),
            "{\"totp\"%3Atrue}".to_owned()
        );
    }

    #[test]
    fn usernames_get_a_realm() {
        assert_eq!(normalize_user("root", None), "root@pam");
        assert_eq!(normalize_user("bob", Some("pve")), "bob@pve");
        assert_eq!(normalize_user("a@b", Some("pve")), "a@b");
    }
}
