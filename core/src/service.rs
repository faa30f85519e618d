//! The Proxmox products and what each of them supports.

use crate::error::InputError;
use std::fmt;

/// A Proxmox product whose API we speak.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum Service {
    /// Proxmox Virtual Environment.
    #[default]
    Pve,
    /// Proxmox Mail Gateway.
    Pmg,
    /// Proxmox Backup Server.
    Pbs,
    /// Proxmox Datacenter Manager (facts from proxmox-datacenter-manager and
    /// proxmox-auth-api): port 8443 (`lib/pdm-buildcfg`), tokens `PDMAPIToken=id:secret`, the
    /// ticket only as the `HttpOnly` cookie `__Host-PDMAuthCookie`.
    Pdm,
}

/// How requests reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// HTTPS to the API port.
    Https,
    /// `pvesh`/`pmgsh` run on the node itself.
    LocalShell,
    /// `pvesh`/`pmgsh` run over SSH.
    SshShell,
}

/// How the client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthKind {
    /// An API token (`user@realm!tokenid` and a secret).
    Token,
    /// A ticket obtained with a password (and maybe a second factor).
    Ticket,
    /// None at the API level: the shell transports run as the node's user.
    Shell,
}

impl Service {
    /// All services.
    pub const ALL: [Self; 4] = [Self::Pve, Self::Pmg, Self::Pbs, Self::Pdm];

    /// Default API port: 8006 for PVE and PMG, 8007 for PBS, 8443 for PDM.
    pub const fn default_port(self) -> u16 {
        match self {
            Self::Pve | Self::Pmg => 8006,
            Self::Pbs => 8007,
            Self::Pdm => 8443,
        }
    }

    /// The ticket's product prefix (`PVE`, `PMG`, `PBS`, `PDM`).
    pub const fn ticket_prefix(self) -> &'static str {
        match self {
            Self::Pve => "PVE",
            Self::Pmg => "PMG",
            Self::Pbs => "PBS",
            Self::Pdm => "PDM",
        }
    }

    /// Name of the ticket cookie. PDM's is `__Host-PDMAuthCookie` (proxmox-auth-api's
    /// `prefixed_auth_cookie_name`; the server also reads `PDMAuthCookie`).
    pub const fn cookie_name(self) -> &'static str {
        match self {
            Self::Pve => "PVEAuthCookie",
            Self::Pmg => "PMGAuthCookie",
            Self::Pbs => "PBSAuthCookie",
            Self::Pdm => "__Host-PDMAuthCookie",
        }
    }

    /// Whether a login's ticket comes only as an `HttpOnly` cookie (`Set-Cookie`), not in the
    /// answer's body, and a renewal sends it as the cookie instead of the password (PDM:
    /// proxmox-auth-api `create_ticket_http_only`, which PDM serves at `/access/ticket`).
    pub const fn ticket_in_cookie_only(self) -> bool {
        matches!(self, Self::Pdm)
    }

    /// The `Authorization` scheme for API tokens and the separator between token id and secret
    /// (PVE `=`, PBS `:`); `None` for PMG, which has no API tokens.
    pub const fn token_scheme(self) -> Option<(&'static str, char)> {
        match self {
            Self::Pve => Some(("PVEAPIToken", '=')),
            Self::Pbs => Some(("PBSAPIToken", ':')),
            Self::Pdm => Some(("PDMAPIToken", ':')),
            Self::Pmg => None,
        }
    }

    /// Whether the ticket may also travel as `Authorization: <Cookie>=<ticket>` (PVE only);
    /// browsers need that since scripts cannot set `Cookie`.
    pub const fn ticket_in_authorization_header(self) -> bool {
        matches!(self, Self::Pve)
    }

    /// The shell program on the node (`pvesh`, `pmgsh`); PBS and PDM have none.
    pub const fn shell_program(self) -> Option<&'static str> {
        match self {
            Self::Pve => Some("pvesh"),
            Self::Pmg => Some("pmgsh"),
            Self::Pbs | Self::Pdm => None,
        }
    }

    /// Check a transport and auth combination, as a client builder must before any request.
    pub fn check(self, transport: TransportKind, auth: AuthKind) -> Result<(), InputError> {
        match transport {
            TransportKind::LocalShell | TransportKind::SshShell => {
                if self.shell_program().is_none() {
                    return Err(InputError::Unsupported {
                        service: self,
                        what: "command-line transports (it has no pvesh-like program)",
                    });
                }
                if auth != AuthKind::Shell {
                    return Err(InputError::Unsupported {
                        service: self,
                        what: "API authentication over a command-line transport",
                    });
                }
            }
            TransportKind::Https => match auth {
                AuthKind::Token if self.token_scheme().is_none() => {
                    return Err(InputError::Unsupported {
                        service: self,
                        what: "API token authentication",
                    });
                }
                AuthKind::Shell => {
                    return Err(InputError::Unsupported {
                        service: self,
                        what: "HTTPS without credentials",
                    });
                }
                _ => {}
            },
        }
        Ok(())
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.ticket_prefix())
    }
}

impl std::str::FromStr for Service {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pve" => Ok(Self::Pve),
            "pmg" => Ok(Self::Pmg),
            "pbs" => Ok(Self::Pbs),
            "pdm" => Ok(Self::Pdm),
            _ => Err(InputError::Invalid {
                what: "service",
                reason: format!("{s:?} is not one of pve, pmg, pbs, pdm"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(Service::Pve.default_port(), 8006);
        assert_eq!(Service::Pmg.default_port(), 8006);
        assert_eq!(Service::Pbs.default_port(), 8007);
        assert_eq!(Service::Pmg.cookie_name(), "PMGAuthCookie");
        assert_eq!(Service::Pbs.token_scheme(), Some(("PBSAPIToken", ':')));
        assert_eq!(Service::Pmg.token_scheme(), None);
        assert_eq!(Service::Pmg.shell_program(), Some("pmgsh"));
        assert_eq!(Service::Pbs.shell_program(), None);
        assert_eq!("pVe".parse::<Service>(), Ok(Service::Pve));
        assert_eq!(Service::Pdm.default_port(), 8443);
        assert_eq!(Service::Pdm.token_scheme(), Some(("PDMAPIToken", ':')));
        assert_eq!(Service::Pdm.cookie_name(), "__Host-PDMAuthCookie");
        assert!(Service::Pdm.ticket_in_cookie_only() && !Service::Pbs.ticket_in_cookie_only());
        assert_eq!("PDM".parse::<Service>(), Ok(Service::Pdm));
        // proxmox-cli has no program to run for PDM: refused at build().
        assert!(
            Service::Pdm
                .check(TransportKind::SshShell, AuthKind::Shell)
                .is_err()
        );
        assert!("xyz".parse::<Service>().is_err());
    }

    #[test]
    fn impossible_combinations() {
        // vector api_construction/invalid_backend_for_service: PBS + local
        let e = Service::Pbs
            .check(TransportKind::LocalShell, AuthKind::Shell)
            .unwrap_err();
        assert!(e.to_string().contains("PBS does not support command-line"));
        // vector api_construction/pmg_token_not_supported
        let e = Service::Pmg
            .check(TransportKind::Https, AuthKind::Token)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "PMG does not support API token authentication"
        );
        assert!(
            Service::Pve
                .check(TransportKind::Https, AuthKind::Token)
                .is_ok()
        );
        assert!(
            Service::Pmg
                .check(TransportKind::SshShell, AuthKind::Shell)
                .is_ok()
        );
        assert!(
            Service::Pbs
                .check(TransportKind::Https, AuthKind::Ticket)
                .is_ok()
        );
        assert!(
            Service::Pve
                .check(TransportKind::Https, AuthKind::Shell)
                .is_err()
        );
    }
}
