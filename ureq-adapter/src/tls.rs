//! TLS for ureq: our own rustls configuration (CA file, fingerprint pinning, client
//! certificate, explicit insecure mode) and a transport tap that keeps the HTTP reason phrase,
//! which ureq 3 drops but PVE uses to carry its error messages.

use proxmox_proto::options::{TlsOptions, TlsVerification};
use proxmox_proto::tls::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};
use std::cell::RefCell;
use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// Parse every certificate in a PEM text.
pub(crate) fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| format!("cannot read PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate found in the PEM data".into());
    }
    Ok(certs)
}

/// Parse a private key from PEM.
pub(crate) fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("cannot read the PEM private key: {e}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration for the core's TLS options.
pub(crate) fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let algs = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let builder = match &opts.verification {
        TlsVerification::Pinned(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pin: *fp, algs })),
        TlsVerification::DangerAcceptInvalid => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyVerifier { algs })),
        _ => {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for pem in &opts.extra_ca_pem {
                for c in certs_from_pem(pem)? {
                    roots
                        .add(c)
                        .map_err(|e| format!("the CA certificate is not usable: {e}"))?;
                }
            }
            builder.with_root_certificates(roots)
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

#[derive(Debug)]
struct PinnedVerifier {
    pin: Fingerprint,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pin.matches_der(end_entity) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint {} does not match the pinned {}",
                Fingerprint::of_der(end_entity),
                self.pin
            )))
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

#[derive(Debug)]
struct AcceptAnyVerifier {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyVerifier {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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

/// Wraps a plain transport in TLS with our configuration.
pub(crate) struct TlsConnector {
    pub(crate) config: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::Tls("no connection to wrap in TLS"));
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .authority()
            .map(|a| {
                a.host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned()
            })
            .ok_or(ureq::Error::Tls("URL without a host"))?;
        let name =
            ServerName::try_from(host).map_err(|_| ureq::Error::Tls("invalid TLS server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A TLS connection as a ureq transport.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let out = &self.buffers.output()[..amount];
        self.stream.write_all(out)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let buf = self.buffers.input_append_buf();
        let n = self.stream.read(buf)?;
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

thread_local! {
    /// The reason phrase of the last response status line read on this thread. ureq runs a
    /// request on the calling thread, so the client reads it right after `run` returns.
    static LAST_REASON: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Take the reason phrase captured for the last response on this thread.
pub(crate) fn take_last_reason() -> Option<String> {
    LAST_REASON.with(|r| r.borrow_mut().take())
}

/// Forget any captured reason (before sending a request).
pub(crate) fn clear_last_reason() {
    LAST_REASON.with(|r| *r.borrow_mut() = None);
}

/// Outermost connector: wraps the connection so the status line's reason phrase is kept.
#[derive(Debug)]
pub(crate) struct ReasonTapConnector;

impl<In: Transport> Connector<In> for ReasonTapConnector {
    type Out = ReasonTap<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| ReasonTap {
            inner,
            awaiting_status: false,
        }))
    }
}

/// See [`ReasonTapConnector`].
#[derive(Debug)]
pub(crate) struct ReasonTap<T> {
    inner: T,
    awaiting_status: bool,
}

impl<T: Transport> Transport for ReasonTap<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        // Whatever arrives next starts with a status line (HTTP/1.1, one request at a time).
        self.awaiting_status = true;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let more = self.inner.await_input(timeout)?;
        if self.awaiting_status {
            let input = self.inner.buffers().input();
            if let Some(end) = input.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&input[..end]);
                // "HTTP/1.1 500 unable to find configuration file": the third field onwards.
                let mut parts = line.splitn(3, ' ');
                let (_, _, reason) = (parts.next(), parts.next(), parts.next());
                let status = line.split(' ').nth(1).unwrap_or("");
                if status != "100" {
                    let reason = reason.unwrap_or("").to_owned();
                    LAST_REASON.with(|r| *r.borrow_mut() = Some(reason));
                    self.awaiting_status = false;
                }
            } else if input.len() > 64 * 1024 {
                self.awaiting_status = false;
            }
        }
        Ok(more)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
