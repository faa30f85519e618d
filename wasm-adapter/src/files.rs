//! Uploads from a `File`/`Blob`, streamed by the browser with the core's multipart framing.

use crate::{Client, Error, sys};
use proxmox_proto::Upid;
use proxmox_proto::checksum::{Checksum, ChecksumAlgorithm, StreamingDigest};
use proxmox_proto::upload::{Upload, UploadContent};
use wasm_bindgen::JsValue;

pub use proxmox_proto::upload::{DownloadChecksum, UploadChecksum};

const HASH_SLICE: f64 = 4.0 * 1024.0 * 1024.0;

async fn hash_blob(blob: &web_sys::Blob, alg: ChecksumAlgorithm) -> Result<Checksum, Error> {
    let mut d = StreamingDigest::new(alg);
    let size = blob.size();
    let mut pos = 0.0;
    while pos < size {
        let end = (pos + HASH_SLICE).min(size);
        d.update(
            &sys::read_slice(blob, pos, end)
                .await
                .map_err(|f| Error::Io(std::io::Error::other(f.message)))?,
        );
        pos = end;
    }
    Ok(d.finish())
}

impl Client {
    /// Upload a `File` or `Blob` to `storage` on `node` as `content` (iso, vztmpl, import),
    /// stored as `file_name`. The body is a Blob of `[head, file, tail]` with the core's
    /// multipart framing, which the browser streams from disk with its exact size. Returns the
    /// UPID of the server's import task. Never retried (the server may have stored the file).
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// # let file: web_sys::Blob = unimplemented!();
    /// let upid = client.upload("pve1", "local", UploadContent::Iso, &file, "debian-13.iso", UploadChecksum::None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload(
        &self,
        node: &str,
        storage: &str,
        content: UploadContent,
        file: &web_sys::Blob,
        file_name: &str,
        checksum: UploadChecksum,
    ) -> Result<Upid, Error> {
        let size = file.size();
        if !(size.is_finite() && size >= 0.0) {
            return Err(Error::Config("the Blob has no usable size".into()));
        }
        let mut upload = Upload::new(node, storage, content, file_name, size as u64)?;
        match checksum {
            UploadChecksum::None => {}
            UploadChecksum::Given(c) => upload = upload.with_checksum(c),
            UploadChecksum::Compute(alg) => {
                upload = upload.with_checksum(hash_blob(file, alg).await?)
            }
        }
        let flow = self.core().upload(upload, &sys::random16())?;
        let frame = flow.frame();
        let body = sys::blob_of(&[
            js_sys::Uint8Array::from(frame.head()).into(),
            file.clone().into(),
            js_sys::Uint8Array::from(frame.tail()).into(),
        ])
        .map_err(|f| Error::Io(std::io::Error::other(f.message)))?;
        if body.size() as u64 != frame.content_length() {
            return Err(Error::Config(
                "the upload body does not have the size the frame was built for".into(),
            ));
        }
        self.run_streamed(flow, &mut |_| {}, &JsValue::from(body))
            .await
    }
}
