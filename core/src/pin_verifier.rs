//! The certificate verifier of a client with a pin store (feature `rustls`): the roots first,
//! then the pins, by [`PinStore::decide`](crate::pins::PinStore::decide)'s rules. A certificate
//! recorded on first use is written to the pin file before the handshake goes on, so a pin is
//! never trusted without being kept.

use crate::options::PinOptions;
use crate::pins::PinDecision;
use crate::tls::Fingerprint;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// Roots, then pins.
#[derive(Debug)]
pub(crate) struct PinVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    options: PinOptions,
}

/// A certificate the pin store refuses: unknown, or changed.
#[derive(Debug)]
pub(crate) struct PinRefused(pub(crate) String);

impl std::fmt::Display for PinRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PinRefused {}

fn refuse(text: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        Arc::new(PinRefused(text)),
    )))
}

impl PinVerifier {
    pub(crate) fn new(webpki: Arc<WebPkiServerVerifier>, options: PinOptions) -> Self {
        Self { webpki, options }
    }

    /// Record `fp` for `host:port` in the store, and in the file when there is one.
    fn record(&self, host: &str, port: u16, fp: Fingerprint) -> Result<(), rustls::Error> {
        let mut store = self.options.store.lock();
        match &self.options.file {
            Some(path) => {
                let written =
                    crate::pin_file::update(path, |s| s.insert(host, port, fp)).map_err(|e| {
                        refuse(format!(
                            "trust on first use: {host}:{port} (SHA-256 {fp}) was not \
                             trusted, because its pin could not be recorded: {e}"
                        ))
                    })?;
                *store = written;
            }
            None => store.insert(host, port, fp),
        }
        crate::trace::pin_recorded(host, port, &fp);
        Ok(())
    }
}

/// The host a handshake is for, as the pin store keys it.
fn host_of(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // Validates against the roots: pins are not consulted (ACME rotates every ~60 days).
            Ok(v) => return Ok(v),
            Err(rustls::Error::InvalidCertificate(_)) => {}
            Err(e) => return Err(e),
        }
        let host = host_of(server_name);
        let port = self.options.port_of(&host);
        let fp = Fingerprint::of_der(end_entity);
        let decision =
            self.options
                .store
                .lock()
                .decide(&host, port, &fp, false, self.options.first_use);
        match decision {
            PinDecision::Pinned | PinDecision::CaValid => Ok(ServerCertVerified::assertion()),
            PinDecision::Record => {
                self.record(&host, port, fp)?;
                Ok(ServerCertVerified::assertion())
            }
            refused => Err(refuse(refused.refusal(&host, port).unwrap_or_else(|| {
                format!("the certificate of {host}:{port} is refused")
            }))),
        }
    }

    crate::rustls_config::webpki_signatures!(webpki);
}
