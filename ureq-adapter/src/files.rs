//! Streamed uploads of any size over the blocking client: the core's upload flow, the body
//! read from the file as it goes.

use crate::{Client, Error};
use proxmox_proto::Upid;
use proxmox_proto::checksum::StreamingDigest;
pub use proxmox_proto::upload::{DownloadChecksum, UploadChecksum};
use proxmox_proto::upload::{ProgressReader, Upload, UploadContent};
use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read};
use std::path::Path;

pub use proxmox_proto::upload::Progress;

/// 16 random bytes for the multipart boundary, from the standard library's per-process random
/// hash keys (no extra dependency); the core turns them into the boundary.
fn random_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

impl Client {
    /// Like [`Client::upload`], storing the file under another name, with `progress` called as
    /// the bytes go out (sent, total).
    ///
    /// ```no_run
    /// # use proxmox_ureq::*;
    /// # fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let upid = client.upload_as("pve1", "local", UploadContent::Iso, std::path::Path::new("/tmp/dl.iso"),
    ///     "debian-13.iso", UploadChecksum::None, &mut |sent, total| eprintln!("{sent}/{total}"))?;
    /// # Ok(()) }
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn upload_as(
        &self,
        node: &str,
        storage: &str,
        content: UploadContent,
        path: &Path,
        file_name: &str,
        checksum: UploadChecksum,
        progress: Progress<'_>,
    ) -> Result<Upid, Error> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut upload = Upload::new(node, storage, content, file_name, len)?;
        match checksum {
            UploadChecksum::None => {}
            UploadChecksum::Given(c) => upload = upload.with_checksum(c),
            UploadChecksum::Compute(alg) => {
                upload = upload.with_checksum(StreamingDigest::of_reader(alg, File::open(path)?)?)
            }
        }
        let flow = self.core().upload(upload, &random_bytes())?;
        let frame = flow.frame().clone();
        let mut file = ProgressReader::new(file.take(len), len, progress);
        let mut body = io::Cursor::new(frame.head())
            .chain(&mut file)
            .chain(io::Cursor::new(frame.tail()));
        let mut body = Some(ureq::SendBody::from_reader(&mut body));
        let result = self.run_io(flow, &mut |_| {}, &mut |exchange| {
            self.perform(exchange, &mut body)
        });
        // ureq sends exactly Content-Length bytes: a file that shrank fails the exchange; one
        // that grew would be cut, so say so.
        if result.is_ok() && file.sent() != len {
            return Err(Error::Io(io::Error::other(format!(
                "{} changed size while it was sent",
                path.display()
            ))));
        }
        result
    }
}
