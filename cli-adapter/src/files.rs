//! Uploads: staged on the node, then completed with `pvesh create .../upload`.

use crate::{CallOptions, Client, Error, random_bytes};
use proxmox_proto::Upid;
use proxmox_proto::checksum::StreamingDigest;
use proxmox_proto::command::{ShellUpload, StagingPath, parse_data};
use proxmox_proto::upload::{ProgressReader, UploadContent};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

pub use proxmox_proto::upload::{DownloadChecksum, Progress, UploadChecksum};

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
        let checksum = match checksum {
            UploadChecksum::None => None,
            UploadChecksum::Given(c) => Some(c),
            UploadChecksum::Compute(alg) => {
                Some(StreamingDigest::of_reader(alg, File::open(path)?)?)
            }
        };
        let staging = StagingPath::from_random(&random_bytes()?)?;
        let mut up = ShellUpload::new(node, storage, content, file_name, staging.clone())?;
        if let Some(c) = checksum {
            up = up.checksum(c);
        }
        // Build the completing command first: bad input fails before anything is copied.
        let complete = self.command_builder().upload(&up)?;
        let mut reader = ProgressReader::new(file.take(len), len, progress);
        let result = self
            .transport()
            .stage(&mut reader, &staging, self.upload_limits())
            .and_then(|()| {
                if reader.sent() != len {
                    return Err(Error::Io(io::Error::other(format!(
                        "{} changed size while it was copied",
                        path.display()
                    ))));
                }
                // Never retried: the node may have taken the file.
                let raw = self.run_command(&complete, &CallOptions::default())?;
                Ok(parse_data(&raw.stdout, &raw.stderr, raw.exit_code)?)
            });
        if result.is_err() {
            // Best effort: the error that matters is the one above.
            let _ = self.run_command(&staging.cleanup_command(), &CallOptions::default());
        }
        result
    }
}
