//! Checksums: algorithms, checksum files, discovery of a download's checksum, streaming digests.
//!
//! * [`ChecksumAlgorithm`]: the six algorithms PVE's `checksum-algorithm` accepts (`md5`, `sha1`,
//!   `sha224`, `sha256`, `sha384`, `sha512`), with their hex lengths (32, 40, 56, 64, 96, 128).
//! * [`Checksum`]: an algorithm and a validated lower-case hex digest.
//! * [`ChecksumFile`]: a parsed checksum file (GNU `hash  name` / `hash *name`, BSD
//!   `SHA256 (name) = hash`, a bare single hash), with exact file-name lookup.
//! * [`ChecksumDiscovery`]: a state machine that says which URLs to fetch to find the checksum
//!   of a download, and picks the answer from what the adapter fetched.
//! * [`StreamingDigest`]: hash local content chunk by chunk (the adapter reads the file).
//!
//! One concern per file, every item re-exported here: [`algorithm`] (the algorithms and
//! [`Checksum`]), [`digest`] (streaming digests), [`file`](mod@file) (the checksum file parser),
//! [`candidates`] (the candidate URLs next to a download) and [`discovery`] (the state
//! machine).
//!
//! # Checksum file rules
//!
//! * Lines end with `\n`, `\r\n` or `\r`. Leading and trailing spaces and tabs are ignored;
//!   blank lines and lines starting with `#` are skipped, and so is any line that is not one of
//!   the formats below (a PGP armour, `Hash: SHA256`, ...). The body is read as bytes: a line
//!   that is not UTF-8 never matches but does not spoil the rest of the file.
//! * GNU: `<hex><sp or tab><' ' or '*'><name>`; the single-space form (`md5 -r`) is read too. A
//!   line starting with `\` has an escaped name (`\\`, `\n`, `\r`), as coreutils writes it.
//! * BSD / `--tag` / OpenSSL: `LABEL (name) = hex` or `LABEL(name)= hex`; the label
//!   (`SHA256`, `SHA2-256`, `MD5`, ...) decides the algorithm and must agree with the hex length.
//! * Bare: a line holding one hex token and nothing else. It names no file; it is used only when
//!   it is the only entry of the file (the `file.iso.sha256` style, see [`ChecksumFile::bare`]).
//! * A hash is accepted only as hex (upper or lower case) of exactly the length of a supported
//!   algorithm; it is stored in lower case. Base64 digests are not supported.
//! * File names match **exactly** (case-sensitive, never as a substring). A name written as
//!   `./name` also matches `name` (it is the same file, as written by `sha256sum ./*`); no other
//!   path form does (`sub/name` is another file). An empty file name matches nothing.
//!
//! # Discovery
//!
//! For a download URL, the candidates are, for each algorithm in preference order (the
//! preferred one first, then sha512, sha256, sha224, sha384, md5, sha1):
//!
//! 1. the sibling `<ALG>SUMS` file in the same directory (`.../images/SHA512SUMS`);
//! 2. `<path>.<alg>` (`.../debian-12.iso.sha512`);
//! 3. `<path>.<ALG>` (`.../debian-12.iso.SHA512`).
//!
//! Candidates are built on the URL **path**: query and fragment are dropped (never
//! `file.iso?x=1.sha256`). When the path names no file (`https://host`, `https://host/dir/`)
//! there are no extension candidates. A sibling `SUMS` file must name the file; an extension file
//! may also be a bare hash. The names looked for are the explicit file name, if one is given,
//! then the percent-decoded last path segment of the URL.
//!
//! ## Driving contract
//!
//! 1. Call [`ChecksumDiscovery::next_fetch`]. `Some(url)`: fetch it with a plain GET (no API
//!    credentials, certificate checks on, redirects followed, at most
//!    [`MAX_CHECKSUM_FILE_BYTES`] read). `None`: the machine is finished; read
//!    [`ChecksumDiscovery::outcome`].
//! 2. Report the answer for that same URL: [`ChecksumDiscovery::handle_fetch`] with the status
//!    and body (only status 200 is read), or [`ChecksumDiscovery::handle_failure`] when the
//!    fetch failed (connection error, timeout, body too large). Reporting another URL is an
//!    error and changes nothing.
//! 3. Repeat. The machine stops at the first hit with [`DiscoveryOutcome::Found`], or after the
//!    last candidate with [`DiscoveryOutcome::NotFound`].
//!
//! ```
//! use proxmox_proto::checksum::{ChecksumAlgorithm, ChecksumDiscovery, DiscoveryOutcome};
//! let mut d = ChecksumDiscovery::new("https://example.com/images/debian-12.iso", None, None)
//!     .unwrap();
//! let hash = "ab".repeat(32); // 64 hex digits: sha256
//! let sums = format!("# comment\n{}  debian-12.iso.zsync\n{hash} *debian-12.iso\n", "cd".repeat(32));
//! let mut fetched = Vec::new();
//! while let Some(url) = d.next_fetch() {
//!     fetched.push(url.clone());
//!     match url.as_str() {
//!         "https://example.com/images/SHA256SUMS" => d.handle_fetch(&url, 200, sums.as_bytes()).unwrap(),
//!         "https://example.com/images/debian-12.iso.sha512" => d.handle_failure(&url).unwrap(),
//!         _ => d.handle_fetch(&url, 404, b"not found").unwrap(),
//!     }
//! }
//! assert_eq!(fetched.len(), 4); // SHA512SUMS, .sha512, .SHA512, SHA256SUMS
//! match d.outcome() {
//!     Some(DiscoveryOutcome::Found(c)) => {
//!         assert_eq!(c.algorithm(), ChecksumAlgorithm::Sha256);
//!         assert_eq!(c.hex(), hash);
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! assert_eq!(d.found_at(), Some("https://example.com/images/SHA256SUMS"));
//! ```

pub mod algorithm;
pub mod candidates;
pub mod digest;
pub mod discovery;
pub mod file;

pub use algorithm::{Checksum, ChecksumAlgorithm};
pub use candidates::{Candidate, CandidateKind, candidate_urls, file_name_from_url};
pub use digest::StreamingDigest;
pub use discovery::{ChecksumDiscovery, DiscoveryOutcome};
pub use file::{ChecksumEntry, ChecksumFile, EntryFormat, find_checksum};

/// The most bytes of a checksum file an adapter should read. A larger body should be reported
/// with [`ChecksumDiscovery::handle_failure`]: a truncated file could end inside a longer name
/// and make it look like the one searched for.
pub const MAX_CHECKSUM_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChecksumError {
    /// A label that names no supported algorithm.
    #[error(
        "unknown checksum algorithm {0:?} (expected md5, sha1, sha224, sha256, sha384 or sha512)"
    )]
    UnknownAlgorithm(String),
    /// A hex digest that is not valid for its algorithm.
    #[error("invalid {algorithm} checksum: {reason}")]
    InvalidHex {
        /// The algorithm the digest was given for.
        algorithm: ChecksumAlgorithm,
        /// What is wrong.
        reason: String,
    },
    /// A hex digest whose length is not that of any supported algorithm.
    #[error("a checksum of {len} hex digits matches no supported algorithm")]
    UnknownLength {
        /// The length given.
        len: usize,
    },
    /// A download URL that cannot be used for discovery.
    #[error("invalid download URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A fetch result was reported for a URL the machine did not ask for (or when it asked for
    /// none).
    #[error("fetch result for {got:?}, but the pending fetch is {expected:?}")]
    UnexpectedFetch {
        /// The URL being waited for, if any.
        expected: Option<String>,
        /// The URL reported.
        got: String,
    },
    /// Discovery was asked for ([`crate::upload::DownloadChecksum::Discover`]) and no
    /// checksum file next to the URL names the file. The URL is shown without credentials.
    #[error("no checksum file next to {url} names {file_name:?}")]
    NotFound {
        /// The download URL (any `user:password@` redacted).
        url: String,
        /// The file name searched for.
        file_name: String,
    },
    /// Local content does not have the expected checksum.
    #[error("{algorithm} checksum mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The algorithm.
        algorithm: ChecksumAlgorithm,
        /// The checksum expected.
        expected: String,
        /// The checksum computed.
        actual: String,
    },
}

impl From<ChecksumError> for crate::Error {
    fn from(e: ChecksumError) -> Self {
        match e {
            ChecksumError::UnexpectedFetch { .. } | ChecksumError::Mismatch { .. } => {
                crate::Error::Protocol(crate::ProtocolError::Malformed {
                    what: "checksum",
                    detail: e.to_string(),
                })
            }
            _ => crate::Error::Input(crate::InputError::Invalid {
                what: "checksum",
                reason: e.to_string(),
            }),
        }
    }
}
