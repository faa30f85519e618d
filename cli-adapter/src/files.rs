//! Uploads (staged on the node, then completed with `pvesh create .../upload`), `download-url`
//! and the QEMU guest agent's `exec`.

use crate::{CallOptions, Client, Error, random_bytes};
use proxmox_proto::checksum::{Checksum, ChecksumAlgorithm, StreamingDigest};
use proxmox_proto::command::{ShellUpload, StagingPath, parse_data};
use proxmox_proto::upload::{DownloadUrl, UploadContent};
use proxmox_proto::{Call, Params, Upid};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// How an upload is checked by the node.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum UploadChecksum {
    /// No checksum.
    #[default]
    None,
    /// Send this checksum; the node verifies the staged file against it.
    Given(Checksum),
    /// Hash the local file first (one extra read, constant memory), then send that checksum.
    Compute(ChecksumAlgorithm),
}

/// Upload progress: bytes of the file copied so far and the file's size.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

struct ProgressReader<'a, R> {
    inner: R,
    sent: u64,
    total: u64,
    progress: Progress<'a>,
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        (self.progress)(self.sent, self.total);
        Ok(n)
    }
}

fn hash_file(path: &Path, alg: ChecksumAlgorithm) -> Result<Checksum, Error> {
    let mut f = File::open(path)?;
    let mut d = StreamingDigest::new(alg);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        d.update(&buf[..n]);
    }
    Ok(d.finish())
}

impl Client {
    /// Upload a local file to `storage` on `node` as `content` (iso, vztmpl, import): the file
    /// is copied to `/var/tmp/pveupload-<random hex>` on the node (locally a private copy;
    /// over SSH streamed into a command that creates the file exclusively, mode 0600), then
    /// `pvesh create /nodes/{node}/storage/{storage}/upload --tmpfilename ...` moves it into
    /// the storage. Returns the UPID of the node's import task. If anything fails, the staged
    /// file is removed.
    pub fn upload(
        &self,
        node: &str,
        storage: &str,
        content: UploadContent,
        path: impl AsRef<Path>,
        checksum: UploadChecksum,
        progress: Progress<'_>,
    ) -> Result<Upid, Error> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Config(format!("{} has no usable file name", path.display())))?;
        self.upload_as(node, storage, content, path, name, checksum, progress)
    }

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
            UploadChecksum::Compute(alg) => Some(hash_file(path, alg)?),
        };
        let staging = StagingPath::from_random(&random_bytes()?)?;
        let mut up = ShellUpload::new(node, storage, content, file_name, staging.clone())?;
        if let Some(c) = checksum {
            up = up.checksum(c);
        }
        // Build the completing command first: bad input fails before anything is copied.
        let complete = self.command_builder().upload(&up)?;
        let mut reader = ProgressReader {
            inner: file.take(len),
            sent: 0,
            total: len,
            progress,
        };
        let result = self
            .transport()
            .stage(&mut reader, &staging, self.upload_limits())
            .and_then(|()| {
                if reader.sent != len {
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

    /// Ask `node` to download `url` into `storage` (`download-url`), optionally verified with
    /// a checksum. Returns the UPID of the download task.
    pub fn download_url(
        &self,
        node: &str,
        storage: &str,
        content: UploadContent,
        url: &str,
        file_name: &str,
        checksum: Option<Checksum>,
    ) -> Result<Upid, Error> {
        let mut d = DownloadUrl::new(url, content, file_name)?;
        if let Some(c) = checksum {
            d = d.checksum(c);
        }
        self.call(&d.call(node, storage)?)
    }

    /// Run a command in a guest through the QEMU guest agent. A single string is split the
    /// way a POSIX shell would (quotes, escapes); returns the agent's answer (`{"pid": n}`).
    pub fn agent_exec(
        &self,
        node: &str,
        vmid: u32,
        command: &str,
    ) -> Result<serde_json::Value, Error> {
        self.call(
            &Call::post(("nodes", node, "qemu", vmid, "agent", "exec"))?.param("command", command),
        )
    }

    /// Like [`Client::agent_exec`] with the words given as a list (sent as given).
    pub fn agent_exec_argv(
        &self,
        node: &str,
        vmid: u32,
        argv: &[&str],
    ) -> Result<serde_json::Value, Error> {
        let mut p = Params::new();
        for w in argv {
            p.push("command", *w);
        }
        self.call(&Call::post(("nodes", node, "qemu", vmid, "agent", "exec"))?.with_params(p))
    }
}
