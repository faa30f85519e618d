//! TLS for the surf transport: a rustls 0.18 configuration (what surf's `h1-client-rustls`
//! backend is built on) for the core's [`TlsOptions`]: web PKI roots plus extra CAs, SHA-256
//! pinning, client certificates (PKCS#8 or PKCS#1 keys), the opt-in accept-anything mode.
//! The hyper and reqwest transports use the core's rustls 0.23 configuration
//! ([`proxmox_proto::rustls_config`]) instead.

use proxmox_proto::options::{TlsOptions, TlsVerification};
use proxmox_proto::tls::Fingerprint;
use rustls_old::{
    Certificate, ClientConfig, PrivateKey, RootCertStore, ServerCertVerified, ServerCertVerifier,
    TLSError,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// Every certificate in a PEM text, as DER.
fn certs_from_pem(pem: &[u8]) -> Result<Vec<Certificate>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| format!("cannot read PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate found in the PEM data".into());
    }
    Ok(certs.into_iter().map(|c| Certificate(c.to_vec())).collect())
}

/// A private key from PEM, in an encoding rustls 0.18 reads.
fn key_from_pem(pem: &[u8]) -> Result<PrivateKey, String> {
    let key = PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("cannot read the PEM private key: {e}"))?;
    match key {
        PrivateKeyDer::Pkcs8(k) => Ok(PrivateKey(k.secret_pkcs8_der().to_vec())),
        PrivateKeyDer::Pkcs1(k) => Ok(PrivateKey(k.secret_pkcs1_der().to_vec())),
        PrivateKeyDer::Sec1(_) => Err(
            "SEC1 (\"EC PRIVATE KEY\") client keys are not supported by rustls 0.18; convert \
             the key to PKCS#8"
                .into(),
        ),
        _ => Err("unsupported private key format".into()),
    }
}

/// The rustls 0.18 configuration for these options.
pub(crate) fn legacy_client_config(opts: &TlsOptions) -> Result<ClientConfig, String> {
    if opts.pins.is_some() {
        proxmox_proto::capability::require(
            proxmox_proto::capability::Runtime::AsyncSurf,
            proxmox_proto::capability::Capability::PinStore,
        )
        .map_err(|e| e.to_string())?;
    }
    let mut config = ClientConfig::new();
    match &opts.verification {
        TlsVerification::Pinned(fp) => config
            .dangerous()
            .set_certificate_verifier(Arc::new(Verifier { pin: Some(*fp) })),
        TlsVerification::DangerAcceptInvalid => config
            .dangerous()
            .set_certificate_verifier(Arc::new(Verifier { pin: None })),
        _ => {
            config
                .root_store
                .add_server_trust_anchors(&webpki_roots_old::TLS_SERVER_ROOTS);
            for pem in &opts.extra_ca_pem {
                for c in certs_from_pem(pem)? {
                    config
                        .root_store
                        .add(&c)
                        .map_err(|e| format!("the CA certificate is not usable: {e:?}"))?;
                }
            }
        }
    }
    if let Some(id) = &opts.client_identity {
        let chain = certs_from_pem(&id.cert_pem)?;
        let key = key_from_pem(id.key_pem.expose().as_bytes())?;
        config
            .set_single_client_cert(chain, key)
            .map_err(|e| format!("the client certificate is not usable: {e:?}"))?;
    }
    Ok(config)
}

/// Pinned fingerprint (`pin: Some`) or accept-anything (`pin: None`, opt-in insecure mode).
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
