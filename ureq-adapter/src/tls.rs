//! TLS for ureq: a connector that applies the core's rustls configuration
//! ([`proxmox_proto::rustls_config`]: CA files, pinning, client certificates, explicit insecure
//! mode) and a transport tap that keeps the HTTP reason phrase,
//! which ureq 3 drops but PVE uses to carry its error messages.

pub(crate) use proxmox_proto::rustls_config::client_config;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::cell::RefCell;
use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

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
        conn.complete_io(&mut sock).map_err(|e| {
            // A timeout stays ureq's own (a connect timeout: nothing was sent).
            match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
                Some(ureq::Error::Timeout(t)) => ureq::Error::Timeout(*t),
                _ => ureq::Error::Io(std::io::Error::other(HandshakeFailed(e))),
            }
        })?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// The TLS handshake failed: the request was not sent. The I/O error is its source (and a
/// rustls error inside it stays findable by `rustls_config::find_tls_error`).
#[derive(Debug)]
pub(crate) struct HandshakeFailed(pub(crate) std::io::Error);

impl fmt::Display for HandshakeFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.kind() == std::io::ErrorKind::UnexpectedEof {
            f.write_str(
                "TLS handshake failed: the server closed the connection (is this port serving \
                 HTTPS? The Proxmox APIs answer HTTPS on 8006, PBS on 8007)",
            )
        } else {
            write!(f, "TLS handshake failed: {}", self.0)
        }
    }
}

impl std::error::Error for HandshakeFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
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
