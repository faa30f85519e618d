//! Uploads over a command line: the file is staged on the node at a [`StagingPath`]
//! (`/var/tmp/pveupload-<hex>`, what PVE 8+ requires), then `.../upload` is called with
//! `tmpfilename` ([`ShellUpload`], [`super::CommandBuilder::upload`]).

use super::CommandLine;
use crate::checksum::Checksum;
use crate::error::InputError;
use crate::upload::UploadContent;
use std::fmt;

/// Where a file is staged on the node before `.../upload` is called with `tmpfilename`:
/// `/var/tmp/pveupload-<hex>`, the only form PVE 8+ accepts
/// (`/var/tmp/pveupload-[0-9a-f]+`).
///
/// ```
/// use proxmox_proto::command::StagingPath;
/// let p = StagingPath::from_random(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]).unwrap();
/// assert_eq!(p.as_str(), "/var/tmp/pveupload-deadbeef00010203");
/// assert_eq!(p.cleanup_command().argv(), ["rm", "-f", "--", "/var/tmp/pveupload-deadbeef00010203"]);
/// assert!(StagingPath::from_hex("DEADBEEF00010203").is_err());
/// assert!(StagingPath::from_random(&[1, 2, 3]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StagingPath(String);

impl StagingPath {
    /// The fixed part of the path.
    pub const PREFIX: &'static str = "/var/tmp/pveupload-";
    /// The fewest random bytes accepted (the name must not be guessable in a world-writable
    /// directory).
    pub const MIN_RANDOM_BYTES: usize = 8;
    /// The most random bytes accepted.
    pub const MAX_RANDOM_BYTES: usize = 64;

    /// A path named after `random` bytes (hex-encoded) that the caller drew from a secure
    /// source; 16 bytes are a good choice.
    ///
    /// # Errors
    ///
    /// Fewer than [`Self::MIN_RANDOM_BYTES`] or more than [`Self::MAX_RANDOM_BYTES`] bytes.
    pub fn from_random(random: &[u8]) -> Result<Self, InputError> {
        if !(Self::MIN_RANDOM_BYTES..=Self::MAX_RANDOM_BYTES).contains(&random.len()) {
            return Err(InputError::Invalid {
                what: "upload staging name",
                reason: format!(
                    "needs {} to {} random bytes, got {}",
                    Self::MIN_RANDOM_BYTES,
                    Self::MAX_RANDOM_BYTES,
                    random.len()
                ),
            });
        }
        let mut s = String::with_capacity(Self::PREFIX.len() + 2 * random.len());
        s.push_str(Self::PREFIX);
        for b in random {
            s.push_str(&format!("{b:02x}"));
        }
        Ok(Self(s))
    }

    /// A path from a lower-case hex name the caller made (16 to 128 characters of `[0-9a-f]`).
    pub fn from_hex(hex: &str) -> Result<Self, InputError> {
        let len_ok = (2 * Self::MIN_RANDOM_BYTES..=2 * Self::MAX_RANDOM_BYTES).contains(&hex.len());
        if !len_ok || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(InputError::Invalid {
                what: "upload staging name",
                reason: format!(
                    "must be {} to {} lower-case hex digits",
                    2 * Self::MIN_RANDOM_BYTES,
                    2 * Self::MAX_RANDOM_BYTES
                ),
            });
        }
        Ok(Self(format!("{}{hex}", Self::PREFIX)))
    }

    /// Parse a full path `/var/tmp/pveupload-<hex>`.
    pub fn parse(path: &str) -> Result<Self, InputError> {
        match path.strip_prefix(Self::PREFIX) {
            Some(hex) => Self::from_hex(hex),
            None => Err(InputError::Invalid {
                what: "upload staging path",
                reason: format!("must start with {}", Self::PREFIX),
            }),
        }
    }

    /// The full path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A command that writes its standard input to the staging path, for transports without
    /// a file-copy channel (the adapter streams the file into the process's stdin):
    /// `sh -c 'set -C; umask 077; exec cat > "$1"' sh <path>`. `set -C` refuses to overwrite
    /// an existing file (or follow a planted symlink); `umask 077` keeps the file private to
    /// the staging user (root, or the sudo target, can still read it).
    pub fn stage_command(&self) -> CommandLine {
        CommandLine {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "set -C; umask 077; exec cat > \"$1\"".into(),
                "sh".into(),
                self.0.clone(),
            ],
        }
    }

    /// A command that removes the staged file: `rm -f -- <path>`. Run it after a failed
    /// upload; it succeeds if the file is already gone. It runs without sudo, as the user who
    /// staged the file.
    pub fn cleanup_command(&self) -> CommandLine {
        CommandLine {
            argv: vec!["rm".into(), "-f".into(), "--".into(), self.0.clone()],
        }
    }
}

impl fmt::Display for StagingPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`CommandBuilder::upload`](super::CommandBuilder::upload) needs: where the file goes,
/// what it is, and where it is staged.
///
/// ```
/// use proxmox_proto::command::{CommandBuilder, ShellUpload, StagingPath};
/// use proxmox_proto::upload::UploadContent;
/// use proxmox_proto::Service;
/// let staging = StagingPath::from_hex("0123456789abcdef").unwrap();
/// let up = ShellUpload::new("pve1", "local", UploadContent::Iso, "debian-12.iso", staging).unwrap();
/// let cmd = CommandBuilder::new(Service::Pve).unwrap().upload(&up).unwrap();
/// assert_eq!(cmd.argv(), [
///     "pvesh", "create", "/nodes/pve1/storage/local/upload",
///     "--content", "iso", "--filename", "debian-12.iso",
///     "--tmpfilename", "/var/tmp/pveupload-0123456789abcdef",
///     "--output-format", "json",
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellUpload {
    pub(super) node: String,
    pub(super) storage: String,
    pub(super) content: UploadContent,
    pub(super) filename: String,
    pub(super) checksum: Option<Checksum>,
    pub(super) staging: StagingPath,
}

impl ShellUpload {
    /// An upload of `filename` (the name to create in the storage; no path, checked with
    /// [`check_file_name`](crate::upload::check_file_name)) as `content`, staged at `staging`.
    pub fn new(
        node: &str,
        storage: &str,
        content: UploadContent,
        filename: &str,
        staging: StagingPath,
    ) -> Result<Self, InputError> {
        crate::upload::check_file_name(filename)?;
        Ok(Self {
            node: node.to_owned(),
            storage: storage.to_owned(),
            content,
            filename: filename.to_owned(),
            checksum: None,
            staging,
        })
    }

    /// Ask the server to verify the staged file against a checksum.
    pub fn checksum(mut self, checksum: Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// The staging path.
    pub fn staging(&self) -> &StagingPath {
        &self.staging
    }
}
