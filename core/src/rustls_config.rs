//! rustls client configurations for the core's [`TlsOptions`] (feature `rustls`), shared by
//! the native HTTP adapters: web PKI roots plus extra CAs, SHA-256 pinning (the pin replaces CA
//! validation; handshake signatures are still verified), client certificates, and the opt-in
//! accept-anything mode. rustls is itself sans-IO, so this stays free of sockets and clocks.

use crate::options::{TlsOptions, TlsVerification};
use crate::tls::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Parse every certificate in a PEM text.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| format!("cannot read PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate found in the PEM data".into());
    }
    Ok(certs)
}

/// Parse a private key from PEM.
pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("cannot read the PEM private key: {e}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration for the core's TLS options.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let algs = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let builder = match &opts.verification {
        TlsVerification::Pinned(fp) => {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(CustomVerifier {
                    pin: Some(*fp),
                    algs,
                }))
        }
        TlsVerification::DangerAcceptInvalid => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CustomVerifier { pin: None, algs })),
        _ => {
            let webpki = webpki_verifier(opts)?;
            let verifier: Arc<dyn ServerCertVerifier> = match &opts.pins {
                Some(p) => Arc::new(crate::pin_verifier::PinVerifier::new(webpki, p.clone())),
                None => Arc::new(NamingVerifier(webpki)),
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
        }
    };
    let config = match &opts.client_identity {
        Some(id) => builder
            .with_client_auth_cert(
                certs_from_pem(&id.cert_pem)?,
                key_from_pem(id.key_pem.expose().as_bytes())?,
            )
            .map_err(|e| format!("the client certificate is not usable: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The web PKI verifier for `opts`: the platform's roots plus the extra CAs.
pub(crate) fn webpki_verifier(
    opts: &TlsOptions,
) -> Result<Arc<rustls::client::WebPkiServerVerifier>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in &opts.extra_ca_pem {
        for c in certs_from_pem(pem)? {
            roots
                .add(c)
                .map_err(|e| format!("the CA certificate is not usable: {e}"))?;
        }
    }
    rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| format!("TLS setup failed: {e}"))
}

/// The server's certificate is not the pinned one.
#[derive(Debug)]
struct PinMismatch {
    got: Fingerprint,
    pinned: Fingerprint,
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "certificate fingerprint {} does not match the pinned {}; if the node's \
             certificate was renewed, check the new one on the node (pvenode cert info) and pin \
             it, otherwise something is intercepting the connection",
            self.got, self.pinned
        )
    }
}

impl std::error::Error for PinMismatch {}

/// The server's certificate is signed by no CA the client trusts: says its fingerprint, so
/// that the user can check it on the node and pin it, or trust the cluster's CA.
#[derive(Debug)]
struct UnknownIssuer {
    got: Fingerprint,
}

impl std::fmt::Display for UnknownIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server's certificate is not signed by a trusted CA (its SHA-256 fingerprint is \
             {fp}); trust the cluster's CA with .ca_file(\"pve-root-ca.pem\") (from \
             /etc/pve/pve-root-ca.pem on a node), or pin this certificate with \
             .fingerprint(\"{fp}\") after checking it on the node (pvenode cert info)",
            fp = self.got
        )
    }
}

impl std::error::Error for UnknownIssuer {}

/// The handshake-signature methods of a verifier that wraps a web PKI verifier in `self.$field`
/// (they check signatures with the certificate's key, whatever decided to trust it).
macro_rules! webpki_signatures {
    ($field:tt) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.$field.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.$field.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.$field.supported_verify_schemes()
        }
    };
}
pub(crate) use webpki_signatures;

/// Web PKI verification (the roots plus the CAs given) that names the server's certificate
/// when its issuer is unknown; everything else is the webpki verifier's.
#[derive(Debug)]
struct NamingVerifier(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for NamingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                        rustls::OtherError(Arc::new(UnknownIssuer {
                            got: Fingerprint::of_der(end_entity),
                        })),
                    ))
                }
                other => other,
            })
    }

    webpki_signatures!(0);
}

/// The rustls error somewhere in `e`'s source chain (an `io::Error` wrapping one included).
pub fn find_tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        // An io::Error's `source()` skips the error it wraps (and I/O errors nest: hyper-util
        // wraps tokio-rustls' io::Error in another); step into the wrapped one instead.
        cur = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Whether a TLS failure somewhere in `e`'s source chain is one that trying again cannot
/// mend: the server's certificate was refused (unknown issuer, expired, wrong name, not the
/// pinned one) or the server refused ours. Such a failure is never retried.
pub fn is_permanent_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    find_tls_error(e).is_some_and(is_permanent)
}

/// A readable text for a TLS failure in `e`'s source chain, where rustls' own is not (a pin
/// mismatch prints as `Other(OtherError(..))` there).
pub fn tls_failure_text(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    match find_tls_error(e)? {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            let o = &other.0;
            o.downcast_ref::<PinMismatch>()
                .map(|p| format!("invalid peer certificate: {p}"))
                .or_else(|| {
                    o.downcast_ref::<UnknownIssuer>()
                        .map(|u| format!("invalid peer certificate: {u}"))
                })
                .or_else(|| {
                    o.downcast_ref::<crate::pin_verifier::PinRefused>()
                        .map(|r| format!("invalid peer certificate: {r}"))
                })
        }
        // HTTPS to a port that answers plain HTTP: rustls reads "HTTP/1.1 400 ..." as a record.
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => Some(
            "the server did not answer TLS (is this a plain-HTTP port? The Proxmox APIs \
             answer HTTPS on 8006, PBS on 8007)"
                .into(),
        ),
        _ => None,
    }
}

/// [`is_permanent_tls_failure`] for one rustls error.
pub fn is_permanent(e: &rustls::Error) -> bool {
    use rustls::AlertDescription as A;
    matches!(
        e,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::AlertReceived(
                A::BadCertificate
                    | A::UnsupportedCertificate
                    | A::CertificateRevoked
                    | A::CertificateExpired
                    | A::CertificateUnknown
                    | A::UnknownCA
                    | A::AccessDenied
                    | A::CertificateRequired
            )
    )
}

/// The server certificate checked against a SHA-256 pin, or (`pin: None`, the opt-in insecure
/// mode) not checked at all. Handshake signatures are always verified.
#[derive(Debug)]
struct CustomVerifier {
    pin: Option<Fingerprint>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for CustomVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pin {
            Some(pin) if !pin.matches_der(end_entity) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch {
                    got: Fingerprint::of_der(end_entity),
                    pinned: *pin,
                }))),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn permanent_tls_failures_are_found_through_nested_io_errors() {
        let pin = PinMismatch {
            got: Fingerprint::of_der(b"a"),
            pinned: Fingerprint::of_der(b"b"),
        };
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
            rustls::OtherError(Arc::new(pin)),
        ));
        // As hyper-util hands it over: io::Error(Other, io::Error(InvalidData, rustls)).
        let nested = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, refused));
        assert!(is_permanent_tls_failure(&nested));
        let text = tls_failure_text(&nested).unwrap();
        assert!(
            text.starts_with("invalid peer certificate: certificate fingerprint "),
            "{text}"
        );
        assert!(text.contains("does not match the pinned"), "{text}");
        let unknown = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(is_permanent_tls_failure(&unknown));
        assert!(tls_failure_text(&unknown).is_none());
        // As the client's verifier reports it: with the fingerprint and what to do.
        let named = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(UnknownIssuer {
                    got: Fingerprint::of_der(b"a"),
                }),
            ))),
        );
        assert!(is_permanent_tls_failure(&named));
        let fp = Fingerprint::of_der(b"a").to_string();
        assert_eq!(
            tls_failure_text(&named).unwrap(),
            format!(
                "invalid peer certificate: the server's certificate is not signed by a trusted \
                 CA (its SHA-256 fingerprint is {fp}); trust the cluster's CA with \
                 .ca_file(\"pve-root-ca.pem\") (from /etc/pve/pve-root-ca.pem on a node), or \
                 pin this certificate with .fingerprint(\"{fp}\") after checking it on the \
                 node (pvenode cert info)"
            )
        );
        let plain = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert_eq!(
            tls_failure_text(&plain).unwrap(),
            "the server did not answer TLS (is this a plain-HTTP port? The Proxmox APIs answer \
             HTTPS on 8006, PBS on 8007)"
        );
        // A handshake that broke off, or no TLS at all: worth another try.
        let broken = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::HandshakeNotComplete,
        );
        assert!(!is_permanent_tls_failure(&broken));
        assert!(!is_permanent_tls_failure(&io::Error::from(
            io::ErrorKind::ConnectionRefused
        )));
    }
}
