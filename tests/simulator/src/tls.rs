//! Certificate generation and the rustls server configuration.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

/// The generated certificate and key.
pub(crate) struct Identity {
    pub(crate) cert_pem: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) key_der: Vec<u8>,
    pub(crate) fingerprint: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A self-signed P-256 end-entity certificate (`CA:FALSE`, serverAuth) for the loopback
    /// names and `bind`. rustls accepts it as its own trust anchor.
    pub(crate) fn generate(bind: IpAddr) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "proxmox-sim");
        dn.push(DnType::OrganizationName, "proxmox-sim test certificate");
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let mut sans = vec![
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            SanType::DnsName("localhost".try_into()?),
        ];
        let known = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        if !bind.is_unspecified() && !known.contains(&bind) {
            sans.push(SanType::IpAddress(bind));
        }
        params.subject_alt_names = sans;
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let der = cert.der().to_vec();
        let fingerprint = crate::util::colon_hex(&Sha256::digest(&der));
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: der,
            key_der: key.serialize_der(),
            fingerprint,
        })
    }

    /// A copy (the simulator's state keeps the first node's identity).
    pub(crate) fn clone_of(other: &Self) -> Self {
        Self {
            cert_pem: other.cert_pem.clone(),
            cert_der: other.cert_der.clone(),
            key_der: other.key_der.clone(),
            fingerprint: other.fingerprint.clone(),
        }
    }

    /// A cluster's certificates, as PVE makes them: a CA (`pve-root-ca.pem`) and one node
    /// certificate per address (`pve-ssl.pem`), each with the loopback names and its address.
    /// Returns the CA and the nodes' identities.
    pub(crate) fn generate_cluster(ips: &[IpAddr]) -> Result<(ClusterCa, Vec<Self>), rcgen::Error> {
        let mut ca = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "proxmox-sim cluster CA");
        ca.distinguished_name = dn;
        ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate()?;
        let issuer = ClusterCa(rcgen::CertifiedIssuer::self_signed(ca, ca_key)?);
        let nodes = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| Self::node(i + 1, *ip, Some(&issuer)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((issuer, nodes))
    }

    /// Node `n`'s certificate for `ip`: signed by the cluster CA, or self-signed (`None`).
    pub(crate) fn node(n: usize, ip: IpAddr, ca: Option<&ClusterCa>) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("pve{n}.sim"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let mut sans = vec![
            SanType::IpAddress(ip),
            SanType::DnsName(format!("pve{n}").try_into()?),
        ];
        if ip != IpAddr::V4(Ipv4Addr::LOCALHOST) {
            sans.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        }
        params.subject_alt_names = sans;
        let key = KeyPair::generate()?;
        let cert = match ca {
            Some(ca) => params.signed_by(&key, &ca.0)?,
            None => params.self_signed(&key)?,
        };
        let der = cert.der().to_vec();
        Ok(Self {
            fingerprint: crate::util::colon_hex(&Sha256::digest(&der)),
            cert_pem: cert.pem(),
            cert_der: der,
            key_der: key.serialize_der(),
        })
    }

    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )?;
        Ok(Arc::new(cfg))
    }
}

/// A simulated cluster's CA (`pve-root-ca.pem` and its key), kept to sign renewed node
/// certificates.
pub(crate) struct ClusterCa(rcgen::CertifiedIssuer<'static, KeyPair>);

impl ClusterCa {
    pub(crate) fn pem(&self) -> String {
        self.0.pem()
    }
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterCa")
    }
}
