//! The small trait every HTTP backend implements, and the values that cross it.
//!
//! The client ([`crate::Client`]) is written once against [`Transport`]: it hands over an
//! [`http::Request`] whose body is bytes or a stream, and gets back the status, the reason
//! phrase, the headers and a body stream. Sleeping and opening local files also go through the
//! transport, so the client never names a runtime.

use bytes::Bytes;
use futures_util::Stream;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, `Send` future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A request body that is streamed (uploads): chunks of bytes, or an I/O error that aborts the
/// request.
pub type UploadStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + 'static>>;

/// A response body as it arrives.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send + 'static>>;

/// The body of a request handed to a [`Transport`].
pub enum RequestBody {
    /// The whole body (possibly empty).
    Bytes(Bytes),
    /// A streamed body of exactly `length` bytes; the request head carries the same
    /// `Content-Length` (the server refuses chunked uploads).
    Stream {
        /// The chunks.
        stream: UploadStream,
        /// The total length.
        length: u64,
    },
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Self::Stream { length, .. } => write!(f, "Stream({length} bytes)"),
        }
    }
}

/// The head of an answer and its body stream.
pub struct TransportResponse {
    /// HTTP status.
    pub status: u16,
    /// The reason phrase as the server sent it, when the backend keeps it (PVE puts its error
    /// message there). `None` when the backend cannot tell.
    pub reason: Option<String>,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The body, decoded if the backend decodes `Content-Encoding` itself.
    pub body: BodyStream,
}

impl fmt::Debug for TransportResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportResponse")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// A failure to complete an exchange on the wire: the core's
/// [`TransportFailure`](proxmox_proto::flow::TransportFailure), which says whether the request
/// may have been sent, whether it timed out and whether it is permanent (a refused certificate:
/// never retried).
pub use proxmox_proto::flow::TransportFailure as TransportError;

/// A failure with each flag given.
#[cfg(any(feature = "hyper", feature = "reqwest", feature = "surf"))]
pub(crate) fn failure(
    message: String,
    may_have_been_sent: bool,
    timeout: bool,
    permanent: bool,
) -> TransportError {
    let mut f = if may_have_been_sent {
        TransportError::maybe_sent(message)
    } else {
        TransportError::not_sent(message)
    };
    f.timeout = timeout;
    f.permanent = permanent;
    f
}

/// An HTTP backend with its runtime. Implemented by the `hyper` and `reqwest` (tokio) and `surf`
/// (async-std) transports of this crate; another runtime needs only this trait.
///
/// Contract:
///
/// * [`Transport::send`] performs one exchange and returns as soon as the response head is
///   there. It never follows redirects and never retries: the client decides that.
/// * Dropping the future of `send`, or the body stream, abandons the exchange; the backend must
///   not reuse that connection afterwards (the client also calls
///   [`Transport::abandoned`]).
/// * A backend that can decode gzip asks for it and decodes it itself; the client never
///   asks for it.
/// * Timeouts are applied by the client with [`Transport::sleep`]; a backend may add its own
///   connect timeout.
pub trait Transport: Send + Sync + 'static {
    /// A short name for messages (`"hyper"`, `"reqwest"`, `"surf"`).
    fn name(&self) -> &'static str;

    /// Send a request.
    fn send(
        &self,
        request: http::Request<RequestBody>,
    ) -> BoxFuture<'static, Result<TransportResponse, TransportError>>;

    /// Sleep on the runtime's timer.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Open a local file for streaming: its length and its chunks (constant memory), read on
    /// the runtime's file I/O.
    fn open_file(&self, path: &Path) -> BoxFuture<'static, std::io::Result<(u64, UploadStream)>>;

    /// Whether the backend bounds connection setup with the client's connect timeout itself
    /// (then the client's deadline for the response head is the read timeout alone, unless a
    /// call sets its own connect timeout).
    fn has_connect_timeout(&self) -> bool {
        false
    }

    /// An exchange was dropped before its body was read to the end (cancelled, timed out, or
    /// refused by the body limit). A backend whose pool could hand out that connection again
    /// must make sure it does not.
    fn abandoned(&self) {}

    /// Send a WebSocket upgrade request (consoles): the answer's head and, when it is `101`,
    /// the upgraded connection, which the client then owns. A backend that cannot hand an
    /// upgraded connection over keeps this default, which refuses for good.
    fn upgrade(
        &self,
        request: http::Request<RequestBody>,
    ) -> BoxFuture<'static, Result<(TransportResponse, Option<Upgraded>), TransportError>> {
        drop(request);
        let message = format!(
            "the {} backend cannot hand over an upgraded connection (consoles): use the hyper \
             or reqwest backend",
            self.name()
        );
        Box::pin(std::future::ready(Err(
            TransportError::not_sent(message).permanent()
        )))
    }
}

/// The read side of an upgraded connection.
pub trait UpgradedRead: Send + 'static {
    /// Read into `buf`: 0 at the end. Dropping the future before it is ready loses nothing.
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> BoxFuture<'a, std::io::Result<usize>>;
}

/// The write side of an upgraded connection.
pub trait UpgradedWrite: Send + 'static {
    /// Write all of `buf`, and flush it.
    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> BoxFuture<'a, std::io::Result<()>>;
    /// Shut the connection down for writing.
    fn shutdown(&mut self) -> BoxFuture<'_, std::io::Result<()>>;
}

/// A connection after `101 Switching Protocols`, in two halves that work independently (one
/// task reads while another writes).
pub struct Upgraded {
    /// Bytes from the server.
    pub read: Box<dyn UpgradedRead>,
    /// Bytes to the server.
    pub write: Box<dyn UpgradedWrite>,
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Upgraded")
    }
}

#[cfg(any(feature = "hyper", feature = "reqwest"))]
mod tokio_halves {
    use super::{BoxFuture, UpgradedRead, UpgradedWrite};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

    impl<T: AsyncRead + Send + 'static> UpgradedRead for ReadHalf<T> {
        fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> BoxFuture<'a, std::io::Result<usize>> {
            Box::pin(AsyncReadExt::read(self, buf))
        }
    }

    impl<T: AsyncWrite + Send + 'static> UpgradedWrite for WriteHalf<T> {
        fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> BoxFuture<'a, std::io::Result<()>> {
            Box::pin(async move {
                AsyncWriteExt::write_all(self, buf).await?;
                AsyncWriteExt::flush(self).await
            })
        }

        fn shutdown(&mut self) -> BoxFuture<'_, std::io::Result<()>> {
            Box::pin(AsyncWriteExt::shutdown(self))
        }
    }

    /// A tokio connection in two halves.
    pub(crate) fn split<T: AsyncRead + AsyncWrite + Send + 'static>(io: T) -> super::Upgraded {
        let (r, w) = tokio::io::split(io);
        super::Upgraded {
            read: Box::new(r),
            write: Box::new(w),
        }
    }
}
#[cfg(any(feature = "hyper", feature = "reqwest"))]
pub(crate) use tokio_halves::split as split_tokio;

/// Read a file in chunks of `chunk` bytes with a runtime's read function: shared by the
/// transports (the read itself is runtime-specific).
#[cfg(any(feature = "hyper", feature = "reqwest", feature = "surf"))]
pub(crate) fn chunked_reader<R>(reader: R, chunk: usize) -> UploadStream
where
    R: ReadChunk + Send + 'static,
{
    Box::pin(futures_util::stream::unfold(
        (reader, false),
        move |(mut r, done)| async move {
            if done {
                return None;
            }
            let mut buf = vec![0u8; chunk];
            match r.read_chunk(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (r, false)))
                }
                Err(e) => Some((Err(e), (r, true))),
            }
        },
    ))
}

/// One read of a runtime's async file.
#[cfg(any(feature = "hyper", feature = "reqwest", feature = "surf"))]
pub(crate) trait ReadChunk {
    /// Read into `buf`; 0 at the end.
    fn read_chunk<'a>(&'a mut self, buf: &'a mut [u8]) -> BoxFuture<'a, std::io::Result<usize>>;
}
