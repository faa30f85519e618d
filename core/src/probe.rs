//! First contact without trust (feature `rustls`): a TLS handshake that reads the server's
//! certificate chain and stops there, before anything else is sent — no request, no
//! credentials. The report gives the chain's SHA-256 fingerprints (the leaf's is what PVE shows
//! as the node's fingerprint), whether it validates against the configured roots and CA files,
//! and what the pin store would say.
//!
//! Sans-IO like the rest of the core (rustls is): the adapter connects, then moves bytes —
//! [`Probe::outgoing`] to the server, what the server sends to [`Probe::incoming`] — until
//! [`Probe::report`] has the answer; at end of stream it calls [`Probe::closed`].
//!
//! ```
//! use proxmox_proto::options::TlsOptions;
//! use proxmox_proto::probe::Probe;
//! use proxmox_proto::{Service, Target};
//! let target = Target::parse(Service::Pve, "pve1.example.com").unwrap();
//! let mut probe = Probe::new(&target, &TlsOptions::default()).unwrap();
//! let hello = probe.outgoing();
//! assert_eq!(hello[0], 0x16, "a TLS handshake record: the ClientHello");
//! assert!(probe.report().is_none(), "nothing seen yet");
//! // A server that answers plain HTTP:
//! probe.incoming(b"HTTP/1.1 400 Bad Request\r\n\r\n");
//! let e = probe.report().unwrap().unwrap_err();
//! assert!(e.contains("did not answer TLS"), "{e}");
//! ```

use crate::options::TlsOptions;
use crate::pins::PinDecision;
use crate::target::{Host, Target};
use crate::tls::Fingerprint;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeReport {
    /// `host:port` probed.
    pub authority: String,
    /// The SHA-256 fingerprints of the chain the server sent, its own certificate first.
    pub chain: Vec<Fingerprint>,
    /// Whether the chain validates against the roots and CA files for this name.
    pub ca_valid: bool,
    /// Why it does not, when it does not.
    pub ca_error: Option<String>,
    /// What the client's pin store says of it, when it has one.
    pub pin: Option<PinDecision>,
}

impl ProbeReport {
    /// The server certificate's fingerprint (what `pvenode cert info` shows, and what to pin).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.chain.first().copied()
    }
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.authority)?;
        match self.fingerprint() {
            Some(fp) => write!(f, "certificate SHA-256 {fp}")?,
            None => f.write_str("no certificate")?,
        }
        if self.chain.len() > 1 {
            write!(f, " (+{} in the chain)", self.chain.len() - 1)?;
        }
        match &self.ca_error {
            None => f.write_str("; valid for the configured roots")?,
            Some(e) => write!(f, "; not valid for the configured roots: {e}")?,
        }
        match &self.pin {
            Some(PinDecision::Pinned) => f.write_str("; pinned"),
            Some(PinDecision::Changed { pinned, .. }) => write!(
                f,
                "; the pin store has other certificates for it ({})",
                pinned
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(PinDecision::Unknown { .. } | PinDecision::Record) => {
                f.write_str("; not in the pin store")
            }
            _ => Ok(()),
        }
    }
}

/// What the recording verifier saw.
#[derive(Debug)]
struct Seen {
    chain: Vec<Fingerprint>,
    ca: Result<(), String>,
}

/// Records the chain and its web PKI verdict, then stops the handshake.
#[derive(Debug)]
struct Recorder {
    webpki: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Option<Seen>>>,
}

/// The text of the error the recorder stops the handshake with.
const STOPPED: &str = "probe: certificate read, handshake stopped";

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| Fingerprint::of_der(c))
            .collect();
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(Seen { chain, ca });
        Err(rustls::Error::General(STOPPED.into()))
    }

    crate::rustls_config::webpki_signatures!(webpki);
}

/// One probe of one server. See the module docs for how to drive it.
pub struct Probe {
    conn: ClientConnection,
    seen: Arc<Mutex<Option<Seen>>>,
    authority: String,
    host: String,
    port: u16,
    tls: TlsOptions,
    /// Why the handshake failed before a certificate was seen.
    failed: Option<String>,
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl Probe {
    /// A probe of `target` with the roots, CA files and pin store of `tls`.
    pub fn new(target: &Target, tls: &TlsOptions) -> Result<Self, String> {
        let webpki = crate::rustls_config::webpki_verifier(tls)?;
        let seen = Arc::new(Mutex::new(None));
        let recorder = Recorder {
            webpki,
            seen: Arc::clone(&seen),
        };
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup failed: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(recorder))
                .with_no_client_auth();
        let host = target.host_name();
        let name = match target.host() {
            Host::Name(n) => ServerName::try_from(n.clone())
                .map_err(|e| format!("{n} is not a usable TLS server name: {e}"))?,
            Host::V4(a) => ServerName::IpAddress(std::net::IpAddr::V4(*a).into()),
            Host::V6(a) => ServerName::IpAddress(std::net::IpAddr::V6(*a).into()),
        };
        let conn = ClientConnection::new(Arc::new(config), name)
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        Ok(Self {
            conn,
            seen,
            authority: target.authority(),
            host,
            port: target.port(),
            tls: tls.clone(),
            failed: None,
        })
    }

    /// The bytes to send to the server now (empty: nothing until it answers).
    pub fn outgoing(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        out
    }

    /// Bytes the server sent.
    pub fn incoming(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.failed.is_none() && !self.has_seen() {
            match self.conn.read_tls(&mut bytes) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    self.failed = Some(format!("reading the server's TLS: {e}"));
                    break;
                }
            }
            if let Err(e) = self.conn.process_new_packets()
                && !self.has_seen()
            {
                self.failed = Some(match e {
                    rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                        "the server did not answer TLS (is this a plain-HTTP port? The Proxmox \
                         APIs answer HTTPS on 8006, PBS on 8007)"
                            .into()
                    }
                    e => format!("the TLS handshake failed before a certificate: {e}"),
                });
            }
        }
    }

    /// The server closed the connection (end of stream).
    pub fn closed(&mut self) {
        if !self.has_seen() && self.failed.is_none() {
            self.failed =
                Some("the server closed the connection before showing a certificate".into());
        }
    }

    fn has_seen(&self) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The answer, once there is one: the report, or why no certificate was seen.
    pub fn report(&self) -> Option<Result<ProbeReport, String>> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = seen.as_ref() {
            let ca_valid = s.ca.is_ok();
            let pin = self.tls.pins.as_ref().zip(s.chain.first()).map(|(p, fp)| {
                p.store.lock().decide(
                    &self.host,
                    self.port,
                    fp,
                    false,
                    crate::pins::FirstUse::Refuse,
                )
            });
            return Some(Ok(ProbeReport {
                authority: self.authority.clone(),
                chain: s.chain.clone(),
                ca_valid,
                ca_error: s.ca.as_ref().err().cloned(),
                pin,
            }));
        }
        self.failed
            .as_ref()
            .map(|e| Err(format!("probing {}: {e}", self.authority)))
    }
}

/// Drive `probe` over a connected stream until it has its answer: what a blocking adapter
/// does with a socket (set its read timeout first: a read that times out ends the probe).
pub fn drive<S: std::io::Read + std::io::Write>(
    mut probe: Probe,
    stream: &mut S,
) -> Result<ProbeReport, ProbeFailure> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let out = probe.outgoing();
        if !out.is_empty() {
            stream
                .write_all(&out)
                .and_then(|()| stream.flush())
                .map_err(|e| ProbeFailure::io(&probe, "sending the TLS hello", &e))?;
        }
        if let Some(r) = probe.report() {
            return r.map_err(|message| ProbeFailure {
                message,
                timeout: false,
            });
        }
        match stream.read(&mut buf) {
            Ok(0) => probe.closed(),
            Ok(n) => probe.incoming(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ProbeFailure::io(&probe, "waiting for the certificate", &e)),
        }
    }
}

/// Why a probe saw no certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    /// What happened, naming the host.
    pub message: String,
    /// Whether it was a timeout (connect, or waiting for the server).
    pub timeout: bool,
}

impl ProbeFailure {
    /// A failure of `authority`'s probe: `what` failed with `error`.
    pub fn new(authority: &str, what: &str, error: &std::io::Error) -> Self {
        let timeout = matches!(
            error.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        );
        Self {
            message: format!("probing {authority}: {what}: {error}"),
            timeout,
        }
    }

    fn io(probe: &Probe, what: &str, error: &std::io::Error) -> Self {
        Self::new(&probe.authority, what, error)
    }

    /// The client error for it: a transport error (nothing but a TLS hello was sent) naming
    /// the host.
    pub fn into_error(self, target: &Target, elapsed: std::time::Duration) -> crate::ClientError {
        let mut failure = crate::flow::TransportFailure::not_sent(self.message);
        if self.timeout {
            failure = failure.timed_out();
        }
        crate::ClientError::Transport(Box::new(crate::error::TransportError::new(
            crate::error::RequestLabel {
                method: crate::Method::Get,
                path: "(TLS probe, no request)".into(),
                host: target.authority(),
            },
            failure,
            1,
            elapsed,
        )))
    }
}
