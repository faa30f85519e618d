//! Uploads: staged on the node, then completed with `pvesh create .../upload`.

use crate::{Client, Error, random_bytes};
use proxmox_proto::Upid;
use proxmox_proto::checksum::StreamingDigest;
use proxmox_proto::command::{ShellUpload, StagingPath};
use proxmox_proto::upload::{ProgressReader, UploadContent};
use std::fs::File;
use std::io::Read;
use std::path::Path;

pub use proxmox_proto::upload::{DownloadChecksum, Progress, UploadChecksum};

impl Client {
    /// Like [`Client::upload`], storing the file under another name, with `progress` called as
    /// the bytes go out (sent, total).
    ///
    /// ```no_run
    /// # use proxmox_cli::*;
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
        let checksum = match checksum {
            UploadChecksum::None => None,
            UploadChecksum::Given(c) => Some(c),
            UploadChecksum::Compute(alg) => {
                Some(StreamingDigest::of_reader(alg, File::open(path)?)?)
            }
        };
        let staging = StagingPath::from_random(&random_bytes()?)?;
        let mut up = ShellUpload::new(node, storage, content, file_name, staging)?;
        if let Some(c) = checksum {
            up = up.checksum(c);
        }
        let flow = self
            .core()
            .shell_upload(up, len, self.upload_limits().timeout)?;
        let mut reader = ProgressReader::new(file.take(len), len, progress);
        self.run_io(flow, &mut |_| {}, &mut Some(&mut reader))
    }
}
