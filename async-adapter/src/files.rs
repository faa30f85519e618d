//! Files over the async client: streamed uploads of any size, `download-url` with checksum
//! discovery, and the QEMU guest agent's `exec`.

use crate::transport::{RequestBody, UploadStream};
use crate::{Client, Error};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use proxmox_proto::Upid;
use proxmox_proto::checksum::{Checksum, ChecksumAlgorithm, StreamingDigest};
use proxmox_proto::upload::{Upload, UploadContent};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use proxmox_proto::upload::{DownloadChecksum, UploadChecksum};

/// Upload progress: called with the bytes of the file sent so far and the file's size.
pub type Progress = Box<dyn FnMut(u64, u64) + Send + 'static>;

/// 16 random bytes for the multipart boundary, from the standard library's per-process random
/// hash keys (no extra dependency).
pub(crate) fn random_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

enum Part {
    Head,
    File,
    Tail,
    Done,
}

/// The multipart body: head, exactly `len` bytes of the file (a file that grows or shrinks
/// while it is sent fails the upload), tail. Reports progress as the file goes out.
struct Framed {
    part: Part,
    head: Bytes,
    file: UploadStream,
    tail: Bytes,
    sent: u64,
    len: u64,
    progress: Progress,
}

impl Stream for Framed {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match this.part {
                Part::Head => {
                    this.part = Part::File;
                    return Poll::Ready(Some(Ok(this.head.clone())));
                }
                Part::File => match this.file.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(chunk))) => {
                        if chunk.is_empty() {
                            continue;
                        }
                        this.sent += chunk.len() as u64;
                        if this.sent > this.len {
                            this.part = Part::Done;
                            return Poll::Ready(Some(Err(std::io::Error::other(
                                "the file grew while it was uploaded",
                            ))));
                        }
                        (this.progress)(this.sent, this.len);
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    Poll::Ready(Some(Err(e))) => {
                        this.part = Part::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(None) if this.sent != this.len => {
                        this.part = Part::Done;
                        return Poll::Ready(Some(Err(std::io::Error::other(
                            "the file shrank while it was uploaded",
                        ))));
                    }
                    Poll::Ready(None) => this.part = Part::Tail,
                },
                Part::Tail => {
                    this.part = Part::Done;
                    return Poll::Ready(Some(Ok(this.tail.clone())));
                }
                Part::Done => return Poll::Ready(None),
            }
        }
    }
}

impl Client {
    async fn hash_file(&self, path: &Path, alg: ChecksumAlgorithm) -> Result<Checksum, Error> {
        let (_, mut chunks) = self.transport().open_file(path).await?;
        let mut d = StreamingDigest::new(alg);
        while let Some(chunk) = chunks.next().await {
            d.update(&chunk?);
        }
        Ok(d.finish())
    }

    /// Upload a local file to `storage` on `node` as `content` (iso, vztmpl, import), streamed
    /// with constant memory at any size, read with the runtime's file I/O, stored under its own
    /// name (`upload_as` for another name and a progress callback). Returns the UPID of the
    /// server's import task. Never retried (the server may have stored the file).
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let upid = client
    ///     .upload("pve1", "local", UploadContent::Iso, "/tmp/debian-13.iso", UploadChecksum::None)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload(
        &self,
        node: &str,
        storage: &str,
        content: UploadContent,
        path: impl AsRef<Path>,
        checksum: UploadChecksum,
    ) -> Result<Upid, Error> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Config(format!("{} has no usable file name", path.display())))?
            .to_owned();
        self.upload_as(node, storage, content, path, &name, checksum, |_, _| {})
            .await
    }

    /// Like [`Client::upload`], storing the file under another name, with `progress` called as
    /// the bytes go out (sent, total).
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let upid = client.upload_as("pve1", "local", UploadContent::Iso, std::path::Path::new("/tmp/dl.iso"),
    ///     "debian-13.iso", UploadChecksum::None, |_, _| {}).await?;
    /// # Ok(()) }
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_as(
        &self,
        node: &str,
        storage: &str,
        content: UploadContent,
        path: &Path,
        file_name: &str,
        checksum: UploadChecksum,
        progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<Upid, Error> {
        let checksum = match checksum {
            UploadChecksum::Compute(alg) => Some(self.hash_file(path, alg).await?),
            UploadChecksum::Given(c) => Some(c),
            UploadChecksum::None => None,
        };
        let (len, chunks) = self.transport().open_file(path).await?;
        self.upload_stream(
            node, storage, content, file_name, len, chunks, checksum, progress,
        )
        .await
    }

    /// Upload `length` bytes from a stream (any source), with an optional checksum for the
    /// server to verify. The stream must yield exactly `length` bytes.
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let bytes = bytes::Bytes::from_static(b"...");
    /// let chunks: UploadStream = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
    /// let upid = client.upload_stream("pve1", "local", UploadContent::Iso, "small.iso", 3, chunks, None, |_, _| {}).await?;
    /// # Ok(()) }
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_stream(
        &self,
        node: &str,
        storage: &str,
        content: UploadContent,
        file_name: &str,
        length: u64,
        chunks: UploadStream,
        checksum: Option<Checksum>,
        progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<Upid, Error> {
        let mut upload = Upload::new(node, storage, content, file_name, length)?;
        if let Some(c) = checksum {
            upload = upload.with_checksum(c);
        }
        let flow = self.core().upload(upload, &random_bytes())?;
        let frame = flow.frame();
        let body = Framed {
            part: Part::Head,
            head: Bytes::copy_from_slice(frame.head()),
            file: chunks,
            tail: Bytes::copy_from_slice(frame.tail()),
            sent: 0,
            len: length,
            progress: Box::new(progress),
        };
        let body = RequestBody::Stream {
            stream: Box::pin(body),
            length: frame.content_length(),
        };
        let io = crate::ExchangeIo {
            body: std::sync::Mutex::new(Some(body)),
            ..Default::default()
        };
        self.run_io(flow, &mut |_| {}, &io).await
    }
}
