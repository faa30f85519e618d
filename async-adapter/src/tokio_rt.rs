//! What the two tokio transports (hyper and reqwest) share: the timer and file reads.

use crate::transport::{BoxFuture, ReadChunk, UploadStream, chunked_reader};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncReadExt;

struct TokioFile(tokio::fs::File);

impl ReadChunk for TokioFile {
    fn read_chunk<'a>(&'a mut self, buf: &'a mut [u8]) -> BoxFuture<'a, std::io::Result<usize>> {
        Box::pin(self.0.read(buf))
    }
}

/// Sleep on tokio's timer.
pub(crate) fn sleep(duration: Duration) -> BoxFuture<'static, ()> {
    Box::pin(tokio::time::sleep(duration))
}

/// Open a file for a streamed upload: its length and 256 KiB chunks read on tokio's file I/O.
pub(crate) fn open_file(path: &Path) -> BoxFuture<'static, std::io::Result<(u64, UploadStream)>> {
    let path = path.to_owned();
    Box::pin(async move {
        let f = tokio::fs::File::open(&path).await?;
        let len = f.metadata().await?.len();
        Ok((len, chunked_reader(TokioFile(f), 256 * 1024)))
    })
}
