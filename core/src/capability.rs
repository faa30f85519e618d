//! What each runtime can and cannot do, in one table for every adapter.
//!
//! Every adapter offers the same surface ([`SURFACE`]). Where a runtime cannot do something
//! (a browser cannot pin a certificate; `pvesh` over SSH has no login), the adapter refuses it
//! with [`Unsupported`] — when the client is built, or when the method is called if the method
//! itself is the capability — and the refusal says why and what to do instead. The README's
//! capability table is [`markdown_table`]'s output; a test keeps the two the same.

use std::fmt;

/// A runtime: an adapter, and for proxmox-async its HTTP backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Runtime {
    /// proxmox-ureq: blocking Rust over ureq.
    Blocking,
    /// proxmox-async over hyper (tokio).
    AsyncHyper,
    /// proxmox-async over reqwest.
    AsyncReqwest,
    /// proxmox-async over surf (async-std).
    AsyncSurf,
    /// proxmox-wasm: `fetch` in a browser, a worker or node.
    Browser,
    /// proxmox-cli: `pvesh`/`pmgsh` locally or over SSH.
    Shell,
}

impl Runtime {
    /// Every runtime, in table order.
    pub const ALL: [Runtime; 6] = [
        Runtime::Blocking,
        Runtime::AsyncHyper,
        Runtime::AsyncReqwest,
        Runtime::AsyncSurf,
        Runtime::Browser,
        Runtime::Shell,
    ];

    /// The name in tables and errors.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Blocking => "proxmox-ureq",
            Runtime::AsyncHyper => "proxmox-async (hyper)",
            Runtime::AsyncReqwest => "proxmox-async (reqwest)",
            Runtime::AsyncSurf => "proxmox-async (surf)",
            Runtime::Browser => "proxmox-wasm",
            Runtime::Shell => "proxmox-cli",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Something a runtime may be unable to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// Pinning the server certificate's SHA-256 fingerprint.
    CertificatePinning,
    /// Trusting extra CA certificates (a CA file).
    CustomCa,
    /// Presenting a client certificate.
    ClientCertificate,
    /// Accepting any certificate (tests only).
    AcceptInvalidCertificates,
    /// Going through an HTTP(S) proxy.
    HttpProxy,
    /// TLS to a host given as an IP address.
    TlsToIpAddress,
    /// Choosing the port to connect to.
    PortChoice,
    /// Telling whether a failed request reached the server (`may_have_been_sent`).
    KnowWhetherSent,
    /// Password login (with a second factor).
    PasswordLogin,
    /// API tokens.
    ApiToken,
    /// Discovering a published checksum next to a download URL.
    ChecksumDiscovery,
    /// Several endpoints of one cluster: failover, node affinity, discovery
    /// ([`crate::cluster`]).
    ClusterEndpoints,
    /// A pin store: a fingerprint per host and port, trust on first use ([`crate::pins`]).
    PinStore,
    /// Consoles: a node shell, a container or VM console (termproxy), VNC
    /// ([`crate::console`]).
    Console,
}

impl Capability {
    /// Every capability, in table order.
    pub const ALL: [Capability; 14] = [
        Capability::CertificatePinning,
        Capability::CustomCa,
        Capability::ClientCertificate,
        Capability::AcceptInvalidCertificates,
        Capability::HttpProxy,
        Capability::TlsToIpAddress,
        Capability::PortChoice,
        Capability::KnowWhetherSent,
        Capability::PasswordLogin,
        Capability::ApiToken,
        Capability::ChecksumDiscovery,
        Capability::ClusterEndpoints,
        Capability::PinStore,
        Capability::Console,
    ];

    /// What it is, in a few words.
    pub fn name(self) -> &'static str {
        match self {
            Capability::CertificatePinning => "certificate fingerprint pinning",
            Capability::CustomCa => "custom CA certificates",
            Capability::ClientCertificate => "client certificates",
            Capability::AcceptInvalidCertificates => "accepting invalid certificates",
            Capability::HttpProxy => "an HTTP proxy",
            Capability::TlsToIpAddress => "TLS to an IP-address host",
            Capability::PortChoice => "choosing the port",
            Capability::KnowWhetherSent => "knowing whether a failed request was sent",
            Capability::PasswordLogin => "password login (with TFA)",
            Capability::ApiToken => "API tokens",
            Capability::ChecksumDiscovery => "checksum discovery for download-url",
            Capability::ClusterEndpoints => "several cluster endpoints (failover, discovery)",
            Capability::PinStore => "a pin store (per-node pins, trust on first use)",
            Capability::Console => "consoles (termproxy shells, VNC streams)",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// How well a runtime supports a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Fully.
    Yes,
    /// Yes, with this limit.
    Limited(&'static str),
    /// No: why, and what to do instead.
    No(&'static str),
}

/// The table: a capability's support in a runtime.
pub fn support(runtime: Runtime, capability: Capability) -> Support {
    use Capability as C;
    use Runtime as R;
    match (capability, runtime) {
        (C::CertificatePinning | C::PinStore, R::Browser) => Support::No(
            "the browser verifies TLS itself; import the certificate into the browser's trust \
             store or use a certificate from a trusted CA",
        ),
        (C::CustomCa, R::Browser) => Support::No(
            "add the CA to the browser's (or the OS) trust store, or start node with \
             NODE_EXTRA_CA_CERTS=<file>",
        ),
        (C::ClientCertificate, R::Browser) => {
            Support::No("the browser selects client certificates from its own store")
        }
        (C::AcceptInvalidCertificates, R::Browser) => {
            Support::No("only the user (or the browser's flags) can")
        }
        (C::HttpProxy, R::Browser) => {
            Support::No("the browser (or node) uses its own proxy settings")
        }
        (C::PinStore, R::AsyncSurf) => Support::No(
            "surf's TLS stack (rustls 0.18) is not the one the pin verifier is written for; use \
             the hyper or reqwest backend, or pin one certificate with .fingerprint()",
        ),
        (C::HttpProxy, R::AsyncSurf) => {
            Support::No("surf has no proxy support; use the hyper or reqwest backend")
        }
        (C::TlsToIpAddress, R::AsyncSurf) => Support::No(
            "surf's rustls 0.18 needs a DNS name; use a host name, or the hyper or reqwest \
             backend",
        ),
        (C::PortChoice, R::Browser) => Support::Limited(
            "any port fetch allows; the server must answer CORS for the page's origin",
        ),
        (C::KnowWhetherSent, R::Browser) => Support::Limited(
            "fetch does not say how far a failed request got: `may_have_been_sent` stays true \
             unless nothing was started",
        ),
        (C::ChecksumDiscovery, R::Browser) => Support::Limited(
            "the mirror must allow the page's origin (CORS); otherwise give the checksum",
        ),
        (C::ChecksumDiscovery, R::Shell) => Support::No(
            "the command-line adapter does not fetch URLs itself; give the checksum, or use an \
             HTTP adapter",
        ),
        (
            C::CertificatePinning
            | C::PinStore
            | C::CustomCa
            | C::ClientCertificate
            | C::AcceptInvalidCertificates
            | C::TlsToIpAddress,
            R::Shell,
        ) => Support::No(
            "no TLS is involved: the SSH host key is checked instead (known_hosts or a \
             fingerprint)",
        ),
        (C::ClusterEndpoints, R::Browser) => Support::No(
            "the browser talks to one origin: put a reverse proxy that checks the nodes' health \
             in front of the cluster, and point the client at it",
        ),
        (C::ClusterEndpoints, R::Shell) => Support::Limited(
            "several SSH hosts (endpoints): a command goes to the next host only when it never \
             started there; no node affinity (pvesh forwards to the node itself)",
        ),
        (C::HttpProxy, R::Shell) => {
            Support::No("use OpenSSH's ProxyJump or ProxyCommand (`option`)")
        }
        (C::PasswordLogin | C::ApiToken, R::Shell) => Support::No(
            "pvesh runs as the SSH (or local) user: no API login; use an HTTP adapter for \
             other identities",
        ),
        (C::Console, R::AsyncSurf) => Support::No(
            "surf cannot take over an upgraded connection (WebSocket); use the hyper or reqwest \
             backend",
        ),
        (C::Console, R::Browser) => Support::Limited(
            "a browser WebSocket cannot send an API token: password login in a window (the \
             ticket cookie on PVE's origin); not in workers",
        ),
        (C::Console, R::Shell) => Support::No(
            "out of scope for pvesh: run `qm terminal`, `pct console` or a shell over SSH \
             instead",
        ),
        _ => Support::Yes,
    }
}

/// Fails with [`Unsupported`] unless `runtime` supports `capability` (fully or limited).
pub fn require(runtime: Runtime, capability: Capability) -> Result<(), Unsupported> {
    match support(runtime, capability) {
        Support::No(advice) => Err(Unsupported {
            capability,
            runtime,
            advice,
        }),
        Support::Yes | Support::Limited(_) => Ok(()),
    }
}

/// A capability the runtime does not have; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unsupported {
    /// What was asked for.
    pub capability: Capability,
    /// Where.
    pub runtime: Runtime,
    /// Why not, and what to do instead.
    pub advice: &'static str,
}

impl Unsupported {
    /// The part of a `Limited` capability a runtime cannot do (a browser's console with an
    /// API token): `advice` says why and what to do instead.
    pub fn new(capability: Capability, runtime: Runtime, advice: &'static str) -> Self {
        Self {
            capability,
            runtime,
            advice,
        }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not possible with {}: {}",
            self.capability, self.runtime, self.advice
        )
    }
}

impl std::error::Error for Unsupported {}

/// The public methods every adapter's `Client` has (async ones as `async fn`). The testbed
/// checks each adapter's source for them; a method whose capability a runtime lacks is still
/// there and fails with [`Unsupported`].
pub const SURFACE: &[&str] = &[
    "get",
    "get_with",
    "post",
    "put",
    "delete",
    "create",
    "set",
    "call",
    "call_with",
    "call_raw",
    "login",
    "session",
    "wait_task",
    "wait_task_ok",
    "wait_tasks",
    "task_log",
    "task_log_window",
    "follow_task_log",
    "cancel_task",
    "discover_checksum",
    "download_url",
    "agent_exec",
    "agent_exec_argv",
    "discover",
    "guest_call",
    "watch_resources",
    "request",
    "upload",
    "core",
];

/// The accessors every adapter's `Error` has (it is [`crate::ClientError`] everywhere).
pub const ERROR_SURFACE: &[&str] = &[
    "api",
    "class",
    "transport",
    "may_have_been_sent",
    "is_timeout",
    "attempts",
    "task",
    "transport_kind",
];

/// The capability table as Markdown (rows: capabilities; columns: runtimes; cells: yes,
/// limited or no, with the notes below the table).
pub fn markdown_table() -> String {
    let mut out = String::from("| |");
    for r in Runtime::ALL {
        out.push_str(&format!(" {r} |"));
    }
    out.push_str("\n|---|");
    for _ in Runtime::ALL {
        out.push_str("---|");
    }
    out.push('\n');
    let mut notes: Vec<&'static str> = Vec::new();
    for c in Capability::ALL {
        out.push_str(&format!("| {c} |"));
        for r in Runtime::ALL {
            let (word, note) = match support(r, c) {
                Support::Yes => ("yes", None),
                Support::Limited(n) => ("limited", Some(n)),
                Support::No(n) => ("no", Some(n)),
            };
            match note {
                Some(n) => {
                    let i = match notes.iter().position(|m| *m == n) {
                        Some(i) => i,
                        None => {
                            notes.push(n);
                            notes.len() - 1
                        }
                    };
                    out.push_str(&format!(" {word} ({}) |", i + 1));
                }
                None => out.push_str(&format!(" {word} |")),
            }
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, n) in notes.iter().enumerate() {
        out.push_str(&format!("{}. {n}\n", i + 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_what_where_and_what_to_do() {
        let e = require(Runtime::Browser, Capability::CertificatePinning).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("certificate fingerprint pinning is not possible with proxmox-wasm: ")
        );
        assert!(text.contains("trust store"), "{text}");
        assert!(require(Runtime::Blocking, Capability::CertificatePinning).is_ok());
        assert!(
            require(Runtime::Browser, Capability::ChecksumDiscovery).is_ok(),
            "limited is allowed"
        );
        assert!(require(Runtime::Shell, Capability::ChecksumDiscovery).is_err());
        let e = require(Runtime::Browser, Capability::ClusterEndpoints).unwrap_err();
        assert!(e.to_string().contains("reverse proxy"), "{e}");
        assert!(require(Runtime::AsyncHyper, Capability::ClusterEndpoints).is_ok());
    }

    #[test]
    fn the_table_has_a_row_per_capability_and_a_note_per_distinct_limit() {
        let t = markdown_table();
        let rows = t
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| |"))
            .count();
        assert_eq!(rows, Capability::ALL.len());
        assert!(
            t.contains("| an HTTP proxy | yes | yes | yes | no ("),
            "{t}"
        );
    }
}
