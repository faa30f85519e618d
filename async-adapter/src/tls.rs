//! TLS settings gathered by the builder, independent of the rustls version a backend uses
//! (reqwest: rustls 0.23; surf: rustls 0.18). Certificates and keys are kept as DER.

use proxmox_proto::tls::Fingerprint;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;

/// How the server certificate is checked.
#[derive(Clone, Default)]
pub(crate) enum Verification {
    /// Web PKI roots plus any extra CA certificates.
    #[default]
    Roots,
    /// Only a certificate with this SHA-256 fingerprint is accepted (replaces CA validation).
    Pinned(Fingerprint),
    /// Anything is accepted. Opt-in only.
    Insecure,
}

/// A client certificate chain and its private key, as DER.
#[derive(Clone)]
pub(crate) struct ClientIdentity {
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) key: KeyDer,
}

/// A private key in one of the DER encodings PEM files carry.
#[derive(Clone)]
#[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
pub(crate) enum KeyDer {
    Pkcs8(Vec<u8>),
    Pkcs1(Vec<u8>),
    Sec1(Vec<u8>),
}

/// TLS settings gathered by the client builder.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    pub(crate) verification: Verification,
    pub(crate) extra_roots: Vec<Vec<u8>>,
    pub(crate) client_cert: Option<ClientIdentity>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match &self.verification {
            Verification::Roots => "roots".to_owned(),
            Verification::Pinned(fp) => format!("pinned {fp}"),
            Verification::Insecure => "INSECURE".to_owned(),
        };
        f.debug_struct("TlsSettings")
            .field("verification", &v)
            .field("extra_roots", &self.extra_roots.len())
            .field("client_cert", &self.client_cert.is_some())
            .finish()
    }
}

/// Every certificate in a PEM text, as DER.
pub(crate) fn certs_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| format!("cannot read PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate found in the PEM data".into());
    }
    Ok(certs.into_iter().map(|c| c.to_vec()).collect())
}

/// A private key from PEM.
pub(crate) fn key_from_pem(pem: &[u8]) -> Result<KeyDer, String> {
    let key = PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("cannot read the PEM private key: {e}"))?;
    Ok(match key {
        PrivateKeyDer::Pkcs8(k) => KeyDer::Pkcs8(k.secret_pkcs8_der().to_vec()),
        PrivateKeyDer::Pkcs1(k) => KeyDer::Pkcs1(k.secret_pkcs1_der().to_vec()),
        PrivateKeyDer::Sec1(k) => KeyDer::Sec1(k.secret_sec1_der().to_vec()),
        _ => return Err("unsupported private key format".into()),
    })
}

#[cfg(feature = "reqwest")]
pub(crate) mod modern {
    //! rustls 0.23 with the ring provider (the reqwest transport).

    use super::{KeyDer, TlsSettings, Verification};
    use proxmox_proto::tls::Fingerprint;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
    use rustls::pki_types::{
        CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
        ServerName, UnixTime,
    };
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
    use std::sync::Arc;

    /// The rustls configuration for these settings.
    pub(crate) fn client_config(s: &TlsSettings) -> Result<ClientConfig, String> {
        let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
        let algs = provider.signature_verification_algorithms;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let builder = match &s.verification {
            Verification::Roots => {
                let mut roots = RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                for c in &s.extra_roots {
                    roots
                        .add(CertificateDer::from(c.clone()))
                        .map_err(|e| format!("the CA certificate is not usable: {e}"))?;
                }
                builder.with_root_certificates(roots)
            }
            Verification::Pinned(fp) => {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Verifier {
                        pin: Some(*fp),
                        algs,
                    }))
            }
            Verification::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier { pin: None, algs })),
        };
        match &s.client_cert {
            Some(id) => {
                let chain = id.chain.iter().cloned().map(CertificateDer::from).collect();
                let key: PrivateKeyDer<'static> = match &id.key {
                    KeyDer::Pkcs8(k) => PrivatePkcs8KeyDer::from(k.clone()).into(),
                    KeyDer::Pkcs1(k) => PrivatePkcs1KeyDer::from(k.clone()).into(),
                    KeyDer::Sec1(k) => PrivateSec1KeyDer::from(k.clone()).into(),
                };
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("the client certificate is not usable: {e}"))
            }
            None => Ok(builder.with_no_client_auth()),
        }
    }

    /// Pinned fingerprint (`pin: Some`) or accept-anything (`pin: None`, opt-in insecure mode).
    /// Handshake signatures are always checked.
    #[derive(Debug)]
    struct Verifier {
        pin: Option<Fingerprint>,
        algs: WebPkiSupportedAlgorithms,
    }

    impl ServerCertVerifier for Verifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            match &self.pin {
                None => Ok(ServerCertVerified::assertion()),
                Some(pin) if pin.matches_der(end_entity) => Ok(ServerCertVerified::assertion()),
                Some(pin) => Err(rustls::Error::General(format!(
                    "certificate fingerprint {} does not match the pinned {pin}",
                    Fingerprint::of_der(end_entity),
                ))),
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
}

#[cfg(feature = "surf")]
pub(crate) mod legacy {
    //! rustls 0.18 (what surf's `h1-client-rustls` backend is built on).

    use super::{KeyDer, TlsSettings, Verification};
    use proxmox_proto::tls::Fingerprint;
    use rustls_old::{
        Certificate, ClientConfig, PrivateKey, RootCertStore, ServerCertVerified,
        ServerCertVerifier, TLSError,
    };
    use std::sync::Arc;

    /// The rustls 0.18 configuration for these settings.
    pub(crate) fn client_config(s: &TlsSettings) -> Result<ClientConfig, String> {
        let mut config = ClientConfig::new();
        match &s.verification {
            Verification::Roots => {
                config
                    .root_store
                    .add_server_trust_anchors(&webpki_roots_old::TLS_SERVER_ROOTS);
                for c in &s.extra_roots {
                    config
                        .root_store
                        .add(&Certificate(c.clone()))
                        .map_err(|e| format!("the CA certificate is not usable: {e:?}"))?;
                }
            }
            Verification::Pinned(fp) => config
                .dangerous()
                .set_certificate_verifier(Arc::new(Verifier { pin: Some(*fp) })),
            Verification::Insecure => config
                .dangerous()
                .set_certificate_verifier(Arc::new(Verifier { pin: None })),
        }
        if let Some(id) = &s.client_cert {
            let chain = id.chain.iter().cloned().map(Certificate).collect();
            let key = match &id.key {
                KeyDer::Pkcs8(k) | KeyDer::Pkcs1(k) => PrivateKey(k.clone()),
                KeyDer::Sec1(_) => {
                    return Err(
                        "SEC1 (\"EC PRIVATE KEY\") client keys are not supported by rustls 0.18; \
                         convert the key to PKCS#8"
                            .into(),
                    );
                }
            };
            config
                .set_single_client_cert(chain, key)
                .map_err(|e| format!("the client certificate is not usable: {e:?}"))?;
        }
        Ok(config)
    }

    struct Verifier {
        pin: Option<Fingerprint>,
    }

    impl ServerCertVerifier for Verifier {
        fn verify_server_cert(
            &self,
            _roots: &RootCertStore,
            presented: &[Certificate],
            _dns_name: webpki_old::DNSNameRef<'_>,
            _ocsp: &[u8],
        ) -> Result<ServerCertVerified, TLSError> {
            let Some(pin) = &self.pin else {
                return Ok(ServerCertVerified::assertion());
            };
            let Some(end_entity) = presented.first() else {
                return Err(TLSError::NoCertificatesPresented);
            };
            if pin.matches_der(&end_entity.0) {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(TLSError::General(format!(
                    "certificate fingerprint {} does not match the pinned {pin}",
                    Fingerprint::of_der(&end_entity.0),
                )))
            }
        }
    }
}
