//! Files over the blocking client: streamed uploads of any size, `download-url` with checksum
//! discovery, and the QEMU guest agent's `exec`.

use crate::{CallOptions, Client, Error};
use proxmox_proto::checksum::StreamingDigest;
pub use proxmox_proto::upload::{DownloadChecksum, UploadChecksum};
use proxmox_proto::upload::{ProgressReader, Upload, UploadContent};
use proxmox_proto::{Method, Upid};
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
    /// Like [`Client::upload`], storing the file under another name.
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
        let frame = upload.frame(&proxmox_proto::upload::boundary_from_random(&random_bytes()))?;
        let call = upload.call()?;
        let auth = self.current_auth()?;
        let head = self.request_builder().build_streaming(
            Method::Post,
            &call.path,
            frame.content_type(),
            frame.content_length(),
            Some(&auth),
        )?;
        let mut body = io::Cursor::new(frame.head().to_vec())
            .chain(ProgressReader::new(file.take(len), len, progress))
            .chain(io::Cursor::new(frame.tail().to_vec()));
        let (parts, ()) = head.into_parts();
        let req = http::Request::from_parts(parts, ureq::SendBody::from_reader(&mut body));
        // Never retried: the server may have stored the file.
        let raw = self.send_http(req, &CallOptions::default())?;
        Ok(proxmox_proto::response::parse_data(
            raw.status,
            raw.reason.as_deref(),
            &raw.body,
        )?)
    }
}
