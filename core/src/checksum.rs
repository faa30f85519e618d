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

use sha2::Digest as _;
use std::fmt;
use std::str::FromStr;

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

/// A checksum algorithm PVE accepts in `checksum-algorithm`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    /// MD5, 32 hex digits.
    Md5,
    /// SHA-1, 40 hex digits.
    Sha1,
    /// SHA-224, 56 hex digits.
    Sha224,
    /// SHA-256, 64 hex digits.
    Sha256,
    /// SHA-384, 96 hex digits.
    Sha384,
    /// SHA-512, 128 hex digits.
    Sha512,
}

impl ChecksumAlgorithm {
    /// Every algorithm, weakest first.
    pub const ALL: [Self; 6] = [
        Self::Md5,
        Self::Sha1,
        Self::Sha224,
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
    ];

    /// The default discovery order: sha512, sha256, sha224, sha384, md5, sha1 (sha224 before
    /// sha384, as proxmoxer tries them).
    pub const PREFERENCE: [Self; 6] = [
        Self::Sha512,
        Self::Sha256,
        Self::Sha224,
        Self::Sha384,
        Self::Md5,
        Self::Sha1,
    ];

    /// The name PVE's `checksum-algorithm` wants (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha224 => "sha224",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The upper-case name (`SHA256`), as in `SHA256SUMS` and BSD lines.
    pub fn upper_name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha1 => "SHA1",
            Self::Sha224 => "SHA224",
            Self::Sha256 => "SHA256",
            Self::Sha384 => "SHA384",
            Self::Sha512 => "SHA512",
        }
    }

    /// The conventional sums file name (`SHA256SUMS`).
    pub fn sums_file_name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5SUMS",
            Self::Sha1 => "SHA1SUMS",
            Self::Sha224 => "SHA224SUMS",
            Self::Sha256 => "SHA256SUMS",
            Self::Sha384 => "SHA384SUMS",
            Self::Sha512 => "SHA512SUMS",
        }
    }

    /// The number of hex digits of a digest.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha1 => 40,
            Self::Sha224 => 56,
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }

    /// The algorithm whose digest has this many hex digits (the six lengths are distinct).
    pub fn from_hex_len(len: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.hex_len() == len)
    }

    /// The algorithm named by a label, case-insensitively: `sha256`, `SHA256`, `sha256sum`,
    /// `SHA256SUMS`, `SHA-256`, `SHA2-256`, `sha_256`, `MD5`, `SHA-1`...
    pub fn from_label(label: &str) -> Option<Self> {
        let lower = label.trim().to_ascii_lowercase();
        let base = lower
            .strip_suffix("sums")
            .or_else(|| lower.strip_suffix("sum"))
            .unwrap_or(&lower);
        let compact: String = base.chars().filter(|c| *c != '-' && *c != '_').collect();
        match compact.as_str() {
            "md5" => Some(Self::Md5),
            "sha1" => Some(Self::Sha1),
            "sha224" | "sha2224" => Some(Self::Sha224),
            "sha256" | "sha2256" => Some(Self::Sha256),
            "sha384" | "sha2384" => Some(Self::Sha384),
            "sha512" | "sha2512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The discovery order with `preferred` first, then [`ChecksumAlgorithm::PREFERENCE`]
    /// without repeats.
    pub fn preference_order(preferred: Option<Self>) -> Vec<Self> {
        let mut out = Vec::with_capacity(6);
        out.extend(preferred);
        for a in Self::PREFERENCE {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ChecksumAlgorithm {
    type Err = ChecksumError;

    /// See [`ChecksumAlgorithm::from_label`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_label(s).ok_or_else(|| ChecksumError::UnknownAlgorithm(s.to_owned()))
    }
}

impl crate::params::ParamValue for ChecksumAlgorithm {
    fn append_to(self, key: &str, out: &mut Vec<(String, String)>) {
        out.push((key.to_owned(), self.name().to_owned()));
    }
}

/// A checksum: an algorithm and its digest as lower-case hex of the algorithm's length.
///
/// ```
/// use proxmox_proto::checksum::{Checksum, ChecksumAlgorithm};
/// let c = Checksum::new(ChecksumAlgorithm::Md5, "D41D8CD98F00B204E9800998ECF8427E").unwrap();
/// assert_eq!(c.hex(), "d41d8cd98f00b204e9800998ecf8427e");
/// assert!(Checksum::new(ChecksumAlgorithm::Sha256, "abc").is_err());
/// assert_eq!(Checksum::from_hex(c.hex()).unwrap().algorithm(), ChecksumAlgorithm::Md5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawChecksum", into = "RawChecksum")]
pub struct Checksum {
    algorithm: ChecksumAlgorithm,
    hex: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RawChecksum {
    algorithm: ChecksumAlgorithm,
    hex: String,
}

impl TryFrom<RawChecksum> for Checksum {
    type Error = ChecksumError;
    fn try_from(r: RawChecksum) -> Result<Self, Self::Error> {
        Checksum::new(r.algorithm, &r.hex)
    }
}

impl From<Checksum> for RawChecksum {
    fn from(c: Checksum) -> Self {
        Self {
            algorithm: c.algorithm,
            hex: c.hex,
        }
    }
}

impl Checksum {
    /// Validate `hex` (upper or lower case, exactly `algorithm.hex_len()` digits).
    pub fn new(algorithm: ChecksumAlgorithm, hex: &str) -> Result<Self, ChecksumError> {
        if hex.len() != algorithm.hex_len() {
            return Err(ChecksumError::InvalidHex {
                algorithm,
                reason: format!(
                    "expected {} hex digits, got {} characters",
                    algorithm.hex_len(),
                    hex.chars().count()
                ),
            });
        }
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ChecksumError::InvalidHex {
                algorithm,
                reason: "not a hexadecimal string".into(),
            });
        }
        Ok(Self {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// Guess the algorithm from the hex length, then validate.
    pub fn from_hex(hex: &str) -> Result<Self, ChecksumError> {
        let algorithm = ChecksumAlgorithm::from_hex_len(hex.len())
            .ok_or(ChecksumError::UnknownLength { len: hex.len() })?;
        Self::new(algorithm, hex)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// The digest, lower-case hex.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Whether a hex digest (any case) equals this one.
    pub fn matches_hex(&self, hex: &str) -> bool {
        self.hex.eq_ignore_ascii_case(hex)
    }

    /// Hash `data` in one go and compare (see [`StreamingDigest`] for large content).
    pub fn verify(&self, data: &[u8]) -> Result<(), ChecksumError> {
        let mut d = StreamingDigest::new(self.algorithm);
        d.update(data);
        d.verify(self)
    }
}

impl fmt::Display for Checksum {
    /// `sha256:<hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

fn bytes_to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

// ------------------------------------------------------------------------------------------
// Streaming digests
// ------------------------------------------------------------------------------------------

#[derive(Clone)]
enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

/// A digest fed chunk by chunk, so an adapter can hash a file of any size in constant memory.
///
/// ```
/// use proxmox_proto::checksum::{ChecksumAlgorithm, StreamingDigest};
/// let mut d = StreamingDigest::new(ChecksumAlgorithm::Sha256);
/// d.update(b"hello ");
/// d.update(b"world");
/// assert_eq!(d.bytes(), 11);
/// assert_eq!(
///     d.finish_hex(),
///     "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
/// );
/// ```
#[derive(Clone)]
pub struct StreamingDigest {
    hasher: Hasher,
    bytes: u64,
}

impl fmt::Debug for StreamingDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingDigest")
            .field("algorithm", &self.algorithm())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl StreamingDigest {
    /// A fresh digest.
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let hasher = match algorithm {
            ChecksumAlgorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            ChecksumAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            ChecksumAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            ChecksumAlgorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            ChecksumAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        };
        Self { hasher, bytes: 0 }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self.hasher {
            Hasher::Md5(_) => ChecksumAlgorithm::Md5,
            Hasher::Sha1(_) => ChecksumAlgorithm::Sha1,
            Hasher::Sha224(_) => ChecksumAlgorithm::Sha224,
            Hasher::Sha256(_) => ChecksumAlgorithm::Sha256,
            Hasher::Sha384(_) => ChecksumAlgorithm::Sha384,
            Hasher::Sha512(_) => ChecksumAlgorithm::Sha512,
        }
    }

    /// Feed one chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        match &mut self.hasher {
            Hasher::Md5(h) => h.update(chunk),
            Hasher::Sha1(h) => h.update(chunk),
            Hasher::Sha224(h) => h.update(chunk),
            Hasher::Sha256(h) => h.update(chunk),
            Hasher::Sha384(h) => h.update(chunk),
            Hasher::Sha512(h) => h.update(chunk),
        }
        self.bytes = self.bytes.saturating_add(chunk.len() as u64);
    }

    /// The number of bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The digest as lower-case hex.
    pub fn finish_hex(self) -> String {
        match self.hasher {
            Hasher::Md5(h) => bytes_to_hex(&h.finalize()),
            Hasher::Sha1(h) => bytes_to_hex(&h.finalize()),
            Hasher::Sha224(h) => bytes_to_hex(&h.finalize()),
            Hasher::Sha256(h) => bytes_to_hex(&h.finalize()),
            Hasher::Sha384(h) => bytes_to_hex(&h.finalize()),
            Hasher::Sha512(h) => bytes_to_hex(&h.finalize()),
        }
    }

    /// The digest as a [`Checksum`].
    pub fn finish(self) -> Checksum {
        let algorithm = self.algorithm();
        Checksum {
            algorithm,
            hex: self.finish_hex(),
        }
    }

    /// Finish and compare with `expected` (an algorithm mismatch is a mismatch too).
    pub fn verify(self, expected: &Checksum) -> Result<(), ChecksumError> {
        let actual = self.finish();
        if actual.algorithm == expected.algorithm && actual.hex == expected.hex {
            Ok(())
        } else {
            Err(ChecksumError::Mismatch {
                algorithm: expected.algorithm,
                expected: expected.hex.clone(),
                actual: actual.to_string(),
            })
        }
    }
}

// ------------------------------------------------------------------------------------------
// Checksum files
// ------------------------------------------------------------------------------------------

/// How a checksum line was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryFormat {
    /// `hash  name` or `hash *name` (or `hash name`).
    Gnu,
    /// `LABEL (name) = hash`.
    Bsd,
    /// A hash alone on its line.
    Bare,
}

/// One valid line of a checksum file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumEntry {
    /// The checksum (algorithm from the BSD label or from the hex length).
    pub checksum: Checksum,
    /// The file name as written (after GNU unescaping), `None` for a bare hash.
    pub name: Option<String>,
    /// GNU binary mode marker (`*name`).
    pub binary: bool,
    /// The line format.
    pub format: EntryFormat,
}

impl ChecksumEntry {
    /// Whether this entry is for `file_name`: exact match, or written as `./file_name`.
    /// An empty `file_name` matches nothing.
    pub fn is_for(&self, file_name: &str) -> bool {
        if file_name.is_empty() {
            return false;
        }
        match &self.name {
            Some(n) => n == file_name || n.strip_prefix("./") == Some(file_name),
            None => false,
        }
    }
}

/// A parsed checksum file: the valid entries, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChecksumFile {
    entries: Vec<ChecksumEntry>,
}

impl ChecksumFile {
    /// Parse a checksum file. Never fails: lines that are not valid entries are skipped.
    pub fn parse(body: &[u8]) -> Self {
        let entries = split_lines(body).filter_map(parse_line).collect();
        Self { entries }
    }

    /// The valid entries, in file order.
    pub fn entries(&self) -> &[ChecksumEntry] {
        &self.entries
    }

    /// The first entry for `file_name` (see [`ChecksumEntry::is_for`]) with `algorithm` (any
    /// algorithm when `None`).
    pub fn find(&self, file_name: &str, algorithm: Option<ChecksumAlgorithm>) -> Option<&Checksum> {
        self.entries
            .iter()
            .filter(|e| algorithm.is_none_or(|a| e.checksum.algorithm == a))
            .find(|e| e.is_for(file_name))
            .map(|e| &e.checksum)
    }

    /// The hash of a bare single-hash file: the file's only entry is a bare hash (with
    /// `algorithm`, when given).
    pub fn bare(&self, algorithm: Option<ChecksumAlgorithm>) -> Option<&Checksum> {
        match self.entries.as_slice() {
            [e] if e.format == EntryFormat::Bare
                && algorithm.is_none_or(|a| e.checksum.algorithm == a) =>
            {
                Some(&e.checksum)
            }
            _ => None,
        }
    }
}

/// Look up `file_name` in a checksum file body: the first exact entry, else the hash of a bare
/// single-hash file (as served at `file.iso.sha256`).
///
/// ```
/// use proxmox_proto::checksum::{find_checksum, ChecksumAlgorithm};
/// let h = "a".repeat(64);
/// let body = format!("{}  myfile.iso\r\nSHA256 (file.iso) = {}\r\n", "b".repeat(64), h.to_uppercase());
/// let c = find_checksum(body.as_bytes(), "file.iso", Some(ChecksumAlgorithm::Sha256)).unwrap();
/// assert_eq!(c.hex(), h);
/// assert!(find_checksum(body.as_bytes(), "file.is", None).is_none());
/// ```
pub fn find_checksum(
    body: &[u8],
    file_name: &str,
    algorithm: Option<ChecksumAlgorithm>,
) -> Option<Checksum> {
    let file = ChecksumFile::parse(body);
    file.find(file_name, algorithm)
        .or_else(|| file.bare(algorithm))
        .cloned()
}

/// Split on `\n`, `\r\n` or `\r`.
fn split_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                let line = rest;
                rest = &[];
                Some(line)
            }
            Some(i) => {
                let (line, tail) = rest.split_at(i);
                let skip = if tail.starts_with(b"\r\n") { 2 } else { 1 };
                rest = tail.get(skip..).unwrap_or(&[]);
                Some(line)
            }
        }
    })
}

fn trim_blank(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', tail @ ..] = s {
        s = tail;
    }
    while let [head @ .., b' ' | b'\t'] = s {
        s = head;
    }
    s
}

fn is_hex_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_hexdigit)
}

fn parse_line(line: &[u8]) -> Option<ChecksumEntry> {
    let line = trim_blank(line);
    if line.is_empty() || line.starts_with(b"#") {
        return None;
    }
    let (escaped, body) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    if let Some(e) = parse_bsd(body, escaped) {
        return Some(e);
    }
    parse_gnu(body, escaped)
}

fn parse_bsd(line: &[u8], escaped: bool) -> Option<ChecksumEntry> {
    let open = line.iter().position(|&b| b == b'(')?;
    let (label, after_label) = line.split_at(open);
    let label = trim_blank(label);
    if label.is_empty()
        || !label
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
    {
        return None;
    }
    let inner = after_label.get(1..)?;
    let close = inner.iter().rposition(|&b| b == b')')?;
    let (name, after_name) = inner.split_at(close);
    let rest = trim_blank(after_name.get(1..)?);
    let hex = trim_blank(rest.strip_prefix(b"=")?);
    if !is_hex_token(hex) || name.is_empty() {
        return None;
    }
    let algorithm = ChecksumAlgorithm::from_label(std::str::from_utf8(label).ok()?)?;
    let checksum = Checksum::new(algorithm, std::str::from_utf8(hex).ok()?).ok()?;
    let name = decode_name(name, escaped)?;
    Some(ChecksumEntry {
        checksum,
        name: Some(name),
        binary: false,
        format: EntryFormat::Bsd,
    })
}

fn parse_gnu(line: &[u8], escaped: bool) -> Option<ChecksumEntry> {
    let split = line.iter().position(|&b| b == b' ' || b == b'\t');
    let (hex, rest) = match split {
        None => (line, None),
        Some(i) => {
            let (hex, rest) = line.split_at(i);
            (hex, Some(rest.get(1..).unwrap_or(&[])))
        }
    };
    if !is_hex_token(hex) {
        return None;
    }
    let checksum = Checksum::from_hex(std::str::from_utf8(hex).ok()?).ok()?;
    let Some(rest) = rest else {
        if escaped {
            return None;
        }
        return Some(ChecksumEntry {
            checksum,
            name: None,
            binary: false,
            format: EntryFormat::Bare,
        });
    };
    let (binary, name) = match rest {
        [b'*', name @ ..] => (true, name),
        [b' ', name @ ..] => (false, name),
        name => (false, name),
    };
    if name.is_empty() {
        return None;
    }
    let name = decode_name(name, escaped)?;
    Some(ChecksumEntry {
        checksum,
        name: Some(name),
        binary,
        format: EntryFormat::Gnu,
    })
}

/// UTF-8 decode a file name, undoing GNU escapes when the line started with `\`.
fn decode_name(raw: &[u8], escaped: bool) -> Option<String> {
    if !escaped {
        return std::str::from_utf8(raw).ok().map(str::to_owned);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            match it.next()? {
                b'\\' => out.push(b'\\'),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                _ => return None,
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

// ------------------------------------------------------------------------------------------
// Discovery
// ------------------------------------------------------------------------------------------

/// Where a candidate checksum URL comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    /// The sibling `<ALG>SUMS` file; it must name the file.
    SumsFile,
    /// `<path>.<alg>` or `<path>.<ALG>`; it may also be a bare hash.
    Extension,
}

/// One URL to try.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// The URL to GET.
    pub url: String,
    /// The algorithm looked for in it.
    pub algorithm: ChecksumAlgorithm,
    /// What kind of file it is.
    pub kind: CandidateKind,
}

/// A download URL split into `scheme://authority` and the path (query and fragment dropped).
struct UrlParts<'a> {
    origin: &'a str,
    path: &'a str,
}

fn split_url(url: &str) -> Result<UrlParts<'_>, ChecksumError> {
    let bad = |reason| ChecksumError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("contains whitespace or control characters"));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://host/path"))?;
    let mut sc = scheme.bytes();
    if !sc.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !sc.all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    {
        return Err(bad("invalid scheme"));
    }
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if auth_len == 0 {
        return Err(bad("missing host"));
    }
    let origin_len = scheme.len() + 3 + auth_len;
    let origin = url.get(..origin_len).ok_or_else(|| bad("invalid URL"))?;
    let after = url.get(origin_len..).unwrap_or("");
    let path_len = after.find(['?', '#']).unwrap_or(after.len());
    let path = after.get(..path_len).unwrap_or("");
    Ok(UrlParts { origin, path })
}

/// The last path segment, or `None` when the path names no file (empty, ends with `/`, or is
/// `.`/`..`).
fn last_segment(path: &str) -> Option<&str> {
    let seg = path.rsplit('/').next().unwrap_or("");
    if seg.is_empty() || seg == "." || seg == ".." {
        None
    } else {
        Some(seg)
    }
}

/// The ordered candidate checksum URLs for `url`, as described in the [module docs](self).
///
/// ```
/// use proxmox_proto::checksum::{candidate_urls, ChecksumAlgorithm};
/// let c = candidate_urls("https://example.com/isos/a.iso?token=1#x", Some(ChecksumAlgorithm::Sha256)).unwrap();
/// let urls: Vec<&str> = c.iter().take(4).map(|c| c.url.as_str()).collect();
/// assert_eq!(urls, [
///     "https://example.com/isos/SHA256SUMS",
///     "https://example.com/isos/a.iso.sha256",
///     "https://example.com/isos/a.iso.SHA256",
///     "https://example.com/isos/SHA512SUMS",
/// ]);
/// assert_eq!(c.len(), 18);
/// ```
pub fn candidate_urls(
    url: &str,
    preferred: Option<ChecksumAlgorithm>,
) -> Result<Vec<Candidate>, ChecksumError> {
    let parts = split_url(url)?;
    let dir = match parts.path.rfind('/') {
        Some(i) => parts.path.get(..=i).unwrap_or("/"),
        None => "/",
    };
    let has_file = last_segment(parts.path).is_some();
    let mut out = Vec::with_capacity(18);
    for algorithm in ChecksumAlgorithm::preference_order(preferred) {
        out.push(Candidate {
            url: format!("{}{}{}", parts.origin, dir, algorithm.sums_file_name()),
            algorithm,
            kind: CandidateKind::SumsFile,
        });
        if has_file {
            for ext in [algorithm.name(), algorithm.upper_name()] {
                out.push(Candidate {
                    url: format!("{}{}.{}", parts.origin, parts.path, ext),
                    algorithm,
                    kind: CandidateKind::Extension,
                });
            }
        }
    }
    Ok(out)
}

/// The file name a download URL names: its percent-decoded last path segment (`""` if none).
pub fn file_name_from_url(url: &str) -> Result<String, ChecksumError> {
    let parts = split_url(url)?;
    Ok(match last_segment(parts.path) {
        None => String::new(),
        Some(seg) => percent_encoding::percent_decode_str(seg)
            .decode_utf8()
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| seg.to_owned()),
    })
}

/// How discovery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryOutcome {
    /// A checksum was found (see [`ChecksumDiscovery::found_at`] for where).
    Found(Checksum),
    /// No candidate held a checksum for the file.
    NotFound,
}

/// The discovery state machine; see the [module docs](self) for the driving contract.
#[derive(Debug, Clone)]
pub struct ChecksumDiscovery {
    /// Names looked for, in priority order, non-empty and distinct.
    names: Vec<String>,
    candidates: Vec<Candidate>,
    /// Index of the candidate handed out (or to hand out next).
    pos: usize,
    pending: bool,
    outcome: Option<DiscoveryOutcome>,
}

impl ChecksumDiscovery {
    /// Discovery for a download `url`. `file_name` is the name to look for (for example the
    /// `filename` from `query-url-metadata`); the URL's percent-decoded last path segment is
    /// looked for too (after it, when both are given and differ), since the checksum files
    /// next to the URL name the file as the URL does. `preferred` is tried first. With no
    /// non-empty name nothing can match, so the machine is finished at once with
    /// [`DiscoveryOutcome::NotFound`].
    pub fn new(
        url: &str,
        file_name: Option<&str>,
        preferred: Option<ChecksumAlgorithm>,
    ) -> Result<Self, ChecksumError> {
        let candidates = candidate_urls(url, preferred)?;
        let mut names: Vec<String> = Vec::with_capacity(2);
        for n in file_name
            .map(str::to_owned)
            .into_iter()
            .chain([file_name_from_url(url)?])
        {
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
        let outcome = names.is_empty().then_some(DiscoveryOutcome::NotFound);
        Ok(Self {
            names,
            candidates,
            pos: 0,
            pending: false,
            outcome,
        })
    }

    /// The main file name looked for (`""` when there is none).
    pub fn file_name(&self) -> &str {
        self.names.first().map_or("", String::as_str)
    }

    /// Every file name looked for, in priority order.
    pub fn file_names(&self) -> &[String] {
        &self.names
    }

    /// All candidates, in the order they are tried.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The next URL to fetch, or `None` when finished. Asking again before reporting gives the
    /// same URL.
    pub fn next_fetch(&mut self) -> Option<String> {
        if self.outcome.is_some() {
            return None;
        }
        match self.candidates.get(self.pos) {
            Some(c) => {
                self.pending = true;
                Some(c.url.clone())
            }
            None => {
                self.outcome = Some(DiscoveryOutcome::NotFound);
                None
            }
        }
    }

    fn check_pending(&self, url: &str) -> Result<&Candidate, ChecksumError> {
        match self.candidates.get(self.pos) {
            Some(c) if self.pending && self.outcome.is_none() && c.url == url => Ok(c),
            other => Err(ChecksumError::UnexpectedFetch {
                expected: other
                    .filter(|_| self.pending && self.outcome.is_none())
                    .map(|c| c.url.clone()),
                got: url.to_owned(),
            }),
        }
    }

    fn advance(&mut self) {
        self.pending = false;
        self.pos += 1;
        if self.pos >= self.candidates.len() {
            self.outcome = Some(DiscoveryOutcome::NotFound);
        }
    }

    /// Report the HTTP answer for the pending `url`. Only status 200 is read; the body is a
    /// checksum file (see the module docs for what matches).
    pub fn handle_fetch(
        &mut self,
        url: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), ChecksumError> {
        let cand = self.check_pending(url)?;
        if status == 200 {
            let file = ChecksumFile::parse(body);
            let alg = Some(cand.algorithm);
            let named = self.names.iter().find_map(|n| file.find(n, alg));
            let hit = match cand.kind {
                CandidateKind::SumsFile => named,
                CandidateKind::Extension => named.or_else(|| file.bare(alg)),
            };
            if let Some(c) = hit {
                self.outcome = Some(DiscoveryOutcome::Found(c.clone()));
                self.pending = false;
                return Ok(());
            }
        }
        self.advance();
        Ok(())
    }

    /// Report that fetching the pending `url` failed (connection error, timeout, too large).
    pub fn handle_failure(&mut self, url: &str) -> Result<(), ChecksumError> {
        self.check_pending(url)?;
        self.advance();
        Ok(())
    }

    /// The outcome, once finished.
    pub fn outcome(&self) -> Option<&DiscoveryOutcome> {
        self.outcome.as_ref()
    }

    /// Whether the machine is finished.
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// The URL the checksum was found at, when [`DiscoveryOutcome::Found`].
    pub fn found_at(&self) -> Option<&str> {
        match self.outcome {
            Some(DiscoveryOutcome::Found(_)) => {
                self.candidates.get(self.pos).map(|c| c.url.as_str())
            }
            _ => None,
        }
    }

    /// The checksum found, if any.
    pub fn checksum(&self) -> Option<&Checksum> {
        match &self.outcome {
            Some(DiscoveryOutcome::Found(c)) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H64: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn sha256(body: &str, name: &str) -> Option<String> {
        find_checksum(body.as_bytes(), name, Some(ChecksumAlgorithm::Sha256))
            .map(|c| c.hex().to_owned())
    }

    #[test]
    fn algorithm_table() {
        let lens: Vec<usize> = ChecksumAlgorithm::ALL.iter().map(|a| a.hex_len()).collect();
        assert_eq!(lens, [32, 40, 56, 64, 96, 128]);
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::from_hex_len(a.hex_len()), Some(a));
            assert_eq!(ChecksumAlgorithm::from_label(a.name()), Some(a));
            assert_eq!(ChecksumAlgorithm::from_label(a.upper_name()), Some(a));
            assert_eq!(ChecksumAlgorithm::from_label(a.sums_file_name()), Some(a));
            assert_eq!(a.name().parse::<ChecksumAlgorithm>(), Ok(a));
            assert_eq!(a.to_string(), a.name());
            let s = format!("{}sum", a.name());
            assert_eq!(ChecksumAlgorithm::from_label(&s), Some(a));
        }
        assert_eq!(
            ChecksumAlgorithm::from_label("SHA2-256"),
            Some(ChecksumAlgorithm::Sha256)
        );
        assert_eq!(
            ChecksumAlgorithm::from_label("SHA-1"),
            Some(ChecksumAlgorithm::Sha1)
        );
        assert_eq!(ChecksumAlgorithm::from_label("testing"), None);
        assert_eq!(ChecksumAlgorithm::from_label("BLAKE2b"), None);
        assert_eq!(ChecksumAlgorithm::from_label(""), None);
        assert_eq!(ChecksumAlgorithm::from_hex_len(16), None);
        assert!("sha3".parse::<ChecksumAlgorithm>().is_err());
        assert_eq!(
            ChecksumAlgorithm::preference_order(Some(ChecksumAlgorithm::Sha384)),
            [
                ChecksumAlgorithm::Sha384,
                ChecksumAlgorithm::Sha512,
                ChecksumAlgorithm::Sha256,
                ChecksumAlgorithm::Sha224,
                ChecksumAlgorithm::Md5,
                ChecksumAlgorithm::Sha1
            ]
        );
        assert_eq!(
            ChecksumAlgorithm::preference_order(None),
            ChecksumAlgorithm::PREFERENCE
        );
    }

    #[test]
    fn checksum_validation() {
        assert!(Checksum::new(ChecksumAlgorithm::Sha256, H64).is_ok());
        assert!(Checksum::new(ChecksumAlgorithm::Sha512, H64).is_err());
        let bad = H64.replacen('a', "g", 1);
        assert!(matches!(
            Checksum::new(ChecksumAlgorithm::Sha256, &bad),
            Err(ChecksumError::InvalidHex { .. })
        ));
        // Multi-byte characters must not be mistaken for hex or panic.
        let multi = format!("é{}", &H64[2..]);
        assert!(Checksum::new(ChecksumAlgorithm::Sha256, &multi).is_err());
        assert_eq!(
            Checksum::from_hex("abc"),
            Err(ChecksumError::UnknownLength { len: 3 })
        );
        let c = Checksum::new(ChecksumAlgorithm::Sha256, &H64.to_uppercase()).expect("valid");
        assert_eq!(c.hex(), H64);
        assert!(c.matches_hex(&H64.to_uppercase()));
        assert_eq!(c.to_string(), format!("sha256:{H64}"));
        let json = serde_json::to_string(&c).expect("serialize");
        assert_eq!(json, format!(r#"{{"algorithm":"sha256","hex":"{H64}"}}"#));
        let back: Checksum = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, c);
        assert!(serde_json::from_str::<Checksum>(r#"{"algorithm":"md5","hex":"abc"}"#).is_err());
    }

    #[test]
    fn known_digests() {
        let cases = [
            (ChecksumAlgorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
            (
                ChecksumAlgorithm::Sha1,
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
            (
                ChecksumAlgorithm::Sha224,
                "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
            ),
            (
                ChecksumAlgorithm::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                ChecksumAlgorithm::Sha384,
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                ChecksumAlgorithm::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
        ];
        for (alg, hex) in cases {
            let mut d = StreamingDigest::new(alg);
            d.update(b"a");
            d.update(b"");
            d.update(b"bc");
            assert_eq!(d.algorithm(), alg);
            assert_eq!(d.bytes(), 3);
            let expected = Checksum::new(alg, hex).expect("valid");
            assert!(d.clone().verify(&expected).is_ok());
            assert_eq!(d.finish_hex(), hex);
            assert!(expected.verify(b"abc").is_ok());
            assert!(matches!(
                expected.verify(b"abd"),
                Err(ChecksumError::Mismatch { .. })
            ));
        }
        // Same hex length is impossible across algorithms, but an algorithm mismatch is caught.
        let md5 = Checksum::new(ChecksumAlgorithm::Md5, "900150983cd24fb0d6963f7d28e17f72")
            .expect("valid");
        let mut d = StreamingDigest::new(ChecksumAlgorithm::Sha1);
        d.update(b"abc");
        assert!(d.verify(&md5).is_err());
    }

    #[test]
    fn gnu_bsd_bare_forms() {
        assert_eq!(
            sha256(&format!("{H64}  file.iso\n"), "file.iso").as_deref(),
            Some(H64)
        );
        assert_eq!(
            sha256(&format!("{H64} *file.iso"), "file.iso").as_deref(),
            Some(H64)
        );
        assert_eq!(
            sha256(&format!("{H64} file.iso"), "file.iso").as_deref(),
            Some(H64)
        );
        assert_eq!(
            sha256(&format!("{H64}\tfile.iso"), "file.iso").as_deref(),
            Some(H64)
        );
        assert_eq!(
            sha256(&format!("SHA256 (file.iso) = {H64}"), "file.iso").as_deref(),
            Some(H64)
        );
        assert_eq!(
            sha256(&format!("SHA2-256(file.iso)= {H64}"), "file.iso").as_deref(),
            Some(H64)
        );
        // Label and length must agree.
        assert_eq!(
            sha256(&format!("SHA512 (file.iso) = {H64}"), "file.iso"),
            None
        );
        assert_eq!(
            sha256(&format!("BLAKE2b (file.iso) = {H64}"), "file.iso"),
            None
        );
        // Names with parentheses and spaces.
        assert_eq!(
            sha256(&format!("SHA256 (a (1).iso) = {H64}"), "a (1).iso").as_deref(),
            Some(H64)
        );
        assert_eq!(
            sha256(&format!("{H64}  a (1).iso"), "a (1).iso").as_deref(),
            Some(H64)
        );
        assert_eq!(
            sha256(&format!("{H64}  two  spaces.iso"), "two  spaces.iso").as_deref(),
            Some(H64)
        );
        // ./name is the same file; sub/name is not.
        assert_eq!(
            sha256(&format!("{H64}  ./file.iso"), "file.iso").as_deref(),
            Some(H64)
        );
        assert_eq!(sha256(&format!("{H64}  sub/file.iso"), "file.iso"), None);
        // Case-sensitive names.
        assert_eq!(sha256(&format!("{H64}  FILE.ISO"), "file.iso"), None);
        // Bare file; but a bare hash among named lines is not used.
        assert_eq!(
            sha256(&format!("{H64}\r\n"), "anything").as_deref(),
            Some(H64)
        );
        assert_eq!(
            sha256(
                &format!("{H64}\n{}  other.iso\n", "b".repeat(64)),
                "file.iso"
            ),
            None
        );
        // A bare hash of the wrong length.
        assert_eq!(sha256(&"a".repeat(32), "file.iso"), None);
        // Empty name matches nothing.
        assert_eq!(sha256(&format!("{H64}  file.iso"), ""), None);
    }

    #[test]
    fn escapes_crlf_comments_and_junk() {
        let body = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n  # file.iso\r\n\
             \\{H64}  dir\\\\x\\nfile.iso\r\n\r{H64}  file.iso   \r\n-----BEGIN PGP SIGNATURE-----\r\n"
        );
        let f = ChecksumFile::parse(body.as_bytes());
        assert_eq!(f.entries().len(), 2);
        assert_eq!(f.entries()[0].name.as_deref(), Some("dir\\x\nfile.iso"));
        assert_eq!(sha256(&body, "file.iso").as_deref(), Some(H64));
        assert_eq!(sha256(&body, "dir\\x\nfile.iso").as_deref(), Some(H64));
        // A bad escape is not an entry.
        assert!(
            ChecksumFile::parse(format!("\\{H64}  a\\qb").as_bytes())
                .entries()
                .is_empty()
        );
        // Invalid UTF-8 lines are skipped, not fatal.
        let mut raw = format!("{H64}  caf").into_bytes();
        raw.extend_from_slice(b"\xff.iso\n");
        raw.extend_from_slice(format!("{H64}  file.iso\n").as_bytes());
        assert_eq!(
            find_checksum(&raw, "file.iso", None)
                .map(|c| c.hex().to_owned())
                .as_deref(),
            Some(H64)
        );
    }

    #[test]
    fn url_splitting() {
        let c =
            candidate_urls("https://example.com", Some(ChecksumAlgorithm::Sha256)).expect("valid");
        assert_eq!(c.len(), 6);
        assert_eq!(c[0].url, "https://example.com/SHA256SUMS");
        assert!(c.iter().all(|c| c.kind == CandidateKind::SumsFile));
        let c = candidate_urls("http://h:8080/a/b/", None).expect("valid");
        assert_eq!(c[0].url, "http://h:8080/a/b/SHA512SUMS");
        assert_eq!(c.len(), 6);
        let c = candidate_urls("https://u@h?x=/y.iso", None).expect("valid");
        assert_eq!(c[0].url, "https://u@h/SHA512SUMS");
        assert_eq!(c.len(), 6);
        let c = candidate_urls("https://h/d/x.iso?sig=a.b#f", None).expect("valid");
        assert_eq!(c[1].url, "https://h/d/x.iso.sha512");
        assert_eq!(c[2].url, "https://h/d/x.iso.SHA512");
        for bad in [
            "",
            "example.com/x.iso",
            "https://",
            "https:///x.iso",
            "1x://h/a",
            "https://h/a b",
        ] {
            assert!(candidate_urls(bad, None).is_err(), "{bad:?}");
        }
        assert_eq!(
            file_name_from_url("https://h/d/my%20file.iso?x").as_deref(),
            Ok("my file.iso")
        );
        assert_eq!(file_name_from_url("https://h/d/").as_deref(), Ok(""));
        assert_eq!(
            file_name_from_url("https://h/d/%ff.iso").as_deref(),
            Ok("%ff.iso")
        );
    }

    #[test]
    fn machine_contract() {
        let url = "https://h/d/f.iso";
        let mut d = ChecksumDiscovery::new(url, None, Some(ChecksumAlgorithm::Md5)).expect("ok");
        assert_eq!(d.file_name(), "f.iso");
        // Nothing pending yet.
        assert!(d.handle_failure("https://h/d/MD5SUMS").is_err());
        let first = d.next_fetch().expect("first");
        assert_eq!(first, "https://h/d/MD5SUMS");
        assert_eq!(d.next_fetch().as_deref(), Some(first.as_str()));
        let err = d
            .handle_fetch("https://h/d/other", 200, b"")
            .expect_err("wrong url");
        assert_eq!(
            err,
            ChecksumError::UnexpectedFetch {
                expected: Some(first.clone()),
                got: "https://h/d/other".into()
            }
        );
        // 404 with a body that would match is not read.
        let md5 = "0123456789abcdef0123456789ABCDEF";
        d.handle_fetch(&first, 404, format!("{md5}  f.iso").as_bytes())
            .expect("ok");
        let second = d.next_fetch().expect("second");
        assert_eq!(second, "https://h/d/f.iso.md5");
        // A SUMS-style answer naming another file at an extension URL: no.
        d.handle_fetch(&second, 200, format!("{md5}  g.iso").as_bytes())
            .expect("ok");
        let third = d.next_fetch().expect("third");
        assert_eq!(third, "https://h/d/f.iso.MD5");
        d.handle_fetch(&third, 200, md5.as_bytes()).expect("ok");
        assert!(d.is_finished());
        assert_eq!(d.next_fetch(), None);
        assert_eq!(d.found_at(), Some("https://h/d/f.iso.MD5"));
        assert_eq!(
            d.checksum().map(Checksum::hex),
            Some(md5.to_ascii_lowercase().as_str())
        );
        // Reporting after the end is an error.
        assert!(d.handle_failure(&third).is_err());

        // A bare hash in a SUMS file does not count.
        let mut d = ChecksumDiscovery::new(url, None, Some(ChecksumAlgorithm::Md5)).expect("ok");
        let first = d.next_fetch().expect("first");
        d.handle_fetch(&first, 200, md5.as_bytes()).expect("ok");
        assert!(!d.is_finished());

        // An explicit name is looked for first, the URL's name too.
        let mut d = ChecksumDiscovery::new("https://h/d/latest.iso", Some("debian-12.iso"), None)
            .expect("ok");
        assert_eq!(d.file_names(), ["debian-12.iso", "latest.iso"]);
        let first = d.next_fetch().expect("first");
        let body = format!(
            "{}  latest.iso\n{}  debian-12.iso\n",
            "1".repeat(128),
            "2".repeat(128)
        );
        d.handle_fetch(&first, 200, body.as_bytes()).expect("ok");
        assert_eq!(
            d.checksum().map(Checksum::hex),
            Some("2".repeat(128).as_str())
        );
        let mut d = ChecksumDiscovery::new("https://h/d/latest.iso", Some("debian-12.iso"), None)
            .expect("ok");
        let first = d.next_fetch().expect("first");
        let body = format!("{}  latest.iso\n", "1".repeat(128));
        d.handle_fetch(&first, 200, body.as_bytes()).expect("ok");
        assert_eq!(
            d.checksum().map(Checksum::hex),
            Some("1".repeat(128).as_str())
        );
        // An explicit name with a URL that names no file.
        let d = ChecksumDiscovery::new("https://h/get/", Some("x.iso"), None).expect("ok");
        assert_eq!(d.file_names(), ["x.iso"]);
        assert!(!d.is_finished());
        assert_eq!(d.candidates().len(), 6);

        // Empty file name: finished at once.
        let mut d = ChecksumDiscovery::new("https://h/d/", None, None).expect("ok");
        assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound));
        assert_eq!(d.next_fetch(), None);

        // Everything fails: NotFound after all candidates.
        let mut d = ChecksumDiscovery::new(url, Some("x.iso"), None).expect("ok");
        let mut n = 0;
        while let Some(u) = d.next_fetch() {
            d.handle_failure(&u).expect("ok");
            n += 1;
        }
        assert_eq!(n, 18);
        assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound));
        assert_eq!(d.found_at(), None);
    }
}
