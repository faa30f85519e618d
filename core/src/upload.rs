//! Storage uploads (multipart framing) and the `download-url` / `query-url-metadata` calls.
//!
//! # Upload
//!
//! `POST /nodes/{node}/storage/{storage}/upload` takes `multipart/form-data` with a
//! `Content-Length` (chunked transfer gets 501). PVE's hand-written parser wants, in this order
//! and spelling:
//!
//! ```text
//! --B\r\nContent-Disposition: form-data; name="content"\r\n\r\niso\r\n
//! --B\r\nContent-Disposition: form-data; name="checksum-algorithm"\r\n\r\nsha512\r\n   (optional)
//! --B\r\nContent-Disposition: form-data; name="checksum"\r\n\r\n<hex>\r\n              (optional)
//! --B\r\nContent-Disposition: form-data; name="filename"; filename="<name>"\r\nContent-Type: application/octet-stream\r\n\r\n
//! <file bytes>
//! \r\n--B--\r\n
//! ```
//!
//! [`Upload::frame`] gives the bytes before the file ([`MultipartFrame::head`]), the bytes after
//! it ([`MultipartFrame::tail`]) and the exact total [`MultipartFrame::content_length`] (a `u64`,
//! so files beyond 4 GiB are fine), all computed before anything is sent. The adapter sends the
//! headers, the head, streams exactly `file_len` bytes of the file, then the tail: constant
//! memory for any size.
//!
//! The boundary is passed in (the core has no randomness; [`boundary_from_random`] turns 16
//! random bytes into the 32-hex-digit form). It must not occur in the file: PVE ends the file at
//! the first line break followed by `--<boundary>`, so use fresh random bytes for every upload
//! (16 random bytes make a collision practically impossible).
//!
//! ```
//! use proxmox_proto::checksum::{ChecksumAlgorithm, StreamingDigest};
//! use proxmox_proto::upload::{boundary_from_random, Upload, UploadContent};
//!
//! let file = b"not really an iso";
//! let mut digest = StreamingDigest::new(ChecksumAlgorithm::Sha256);
//! digest.update(file); // the adapter feeds the file in chunks
//! let upload = Upload::new("pve1", "local", UploadContent::Iso, "debian-12.iso", file.len() as u64)
//!     .unwrap()
//!     .with_checksum(digest.finish());
//! let boundary = boundary_from_random(&[0xab; 16]);
//! let frame = upload.frame(&boundary).unwrap();
//!
//! let call = upload.call().unwrap();
//! assert_eq!(call.path.to_string(), "/nodes/pve1/storage/local/upload");
//! assert_eq!(frame.content_type(), format!("multipart/form-data; boundary={boundary}"));
//!
//! // What an adapter sends, in order: head, the file streamed, tail.
//! let mut body = frame.head().to_vec();
//! body.extend_from_slice(file);
//! body.extend_from_slice(frame.tail());
//! assert_eq!(body.len() as u64, frame.content_length());
//! let text = String::from_utf8(body).unwrap();
//! assert!(text.starts_with(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\niso\r\n")));
//! assert!(text.ends_with(&format!("not really an iso\r\n--{boundary}--\r\n")));
//!
//! // Size is known up front, beyond 4 GiB too.
//! let big = Upload::new("pve1", "local", UploadContent::Import, "disk.ova", 5 << 30).unwrap();
//! let f = big.frame(&boundary).unwrap();
//! assert_eq!(f.content_length(), f.head().len() as u64 + (5u64 << 30) + f.tail().len() as u64);
//! ```
//!
//! # download-url
//!
//! [`DownloadUrl`] builds `POST /nodes/{node}/storage/{storage}/download-url` (PVE 7.0+): the
//! server fetches the URL itself and returns a UPID. [`query_url_metadata`] builds the companion
//! `GET /nodes/{node}/query-url-metadata` whose answer ([`UrlMetadata`]) gives the file name.

use crate::call::Call;
use crate::checksum::Checksum;
use crate::error::InputError;
use crate::params::Params;
use std::fmt;

/// The storage content kinds an upload or `download-url` may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadContent {
    /// ISO images (`.iso`, `.img`).
    Iso,
    /// Container templates (`.tar.gz`, `.tar.xz`, `.tar.zst`).
    Vztmpl,
    /// Import sources (`.ova`, disk images), PVE 8.3 and later.
    Import,
}

impl UploadContent {
    /// The value PVE wants in `content`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iso => "iso",
            Self::Vztmpl => "vztmpl",
            Self::Import => "import",
        }
    }
}

impl fmt::Display for UploadContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for UploadContent {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "iso" => Ok(Self::Iso),
            "vztmpl" => Ok(Self::Vztmpl),
            "import" => Ok(Self::Import),
            _ => Err(InputError::Invalid {
                what: "upload content",
                reason: format!("{s:?} is not one of iso, vztmpl, import"),
            }),
        }
    }
}

impl crate::params::ParamValue for UploadContent {
    fn append_to(self, key: &str, out: &mut Vec<(String, String)>) {
        out.push((key.to_owned(), self.as_str().to_owned()));
    }
}

fn bad_name(key: &str, reason: &str) -> InputError {
    InputError::InvalidParameter {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Check a target file name: not empty, not `.`/`..`, no `/`, `\`, control characters (NUL,
/// CR, LF...), at most 255 bytes.
pub fn check_file_name(name: &str) -> Result<(), InputError> {
    let reason = if name.is_empty() {
        "the file name must not be empty"
    } else if name == "." || name == ".." {
        "the file name must not be '.' or '..'"
    } else if name.contains(['/', '\\']) {
        "the file name must not contain a path separator ('/' or '\\')"
    } else if name.chars().any(char::is_control) {
        "the file name must not contain control characters (NUL, CR, LF...)"
    } else if name.len() > 255 {
        "the file name is longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(bad_name("filename", reason))
}

/// [`check_file_name`], plus what the multipart header cannot carry: `"` ends the quoted name,
/// and PVE's parser splits the `Content-Disposition` header on `;` and `,`.
pub fn check_upload_file_name(name: &str) -> Result<(), InputError> {
    check_file_name(name)?;
    if name.contains(['"', ';', ',']) {
        return Err(bad_name(
            "filename",
            "the file name must not contain '\"', ';' or ',' (PVE's multipart parser cannot read them)",
        ));
    }
    Ok(())
}

/// Check a multipart boundary: 1 to 70 characters from `A-Z a-z 0-9 ' + _ - .`.
///
/// That is RFC 2046's boundary alphabet without the characters that would need quoting in the
/// `Content-Type` header (space, `( ) , / : = ?`): PVE reads the boundary parameter unquoted and
/// splits the header on `,` and `;`.
pub fn check_boundary(boundary: &str) -> Result<(), InputError> {
    let reason = if boundary.is_empty() || boundary.len() > 70 {
        "must be 1 to 70 characters long"
    } else if !boundary
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'\'' | b'+' | b'_' | b'-' | b'.'))
    {
        "may only contain A-Z a-z 0-9 ' + _ - ."
    } else {
        return Ok(());
    };
    Err(InputError::Invalid {
        what: "multipart boundary",
        reason: reason.to_owned(),
    })
}

/// A 32-lowercase-hex-digit boundary from 16 random bytes (the caller supplies the randomness).
pub fn boundary_from_random(random: &[u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for b in random {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// An upload of one local file to a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    node: String,
    storage: String,
    content: UploadContent,
    file_name: String,
    file_len: u64,
    checksum: Option<Checksum>,
}

impl Upload {
    /// An upload of `file_len` bytes, stored as `file_name` (a bare name, see
    /// [`check_upload_file_name`]). `node` and `storage` are single path segments.
    pub fn new(
        node: &str,
        storage: &str,
        content: UploadContent,
        file_name: &str,
        file_len: u64,
    ) -> Result<Self, InputError> {
        check_upload_file_name(file_name)?;
        let up = Self {
            node: node.to_owned(),
            storage: storage.to_owned(),
            content,
            file_name: file_name.to_owned(),
            file_len,
            checksum: None,
        };
        // Validate the path now, so `call()` cannot fail later for a good value.
        up.call()?;
        Ok(up)
    }

    /// Ask the server to verify the upload against this checksum (`checksum-algorithm` and
    /// `checksum` fields).
    pub fn with_checksum(mut self, checksum: Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// The file name sent.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The file length.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The checksum sent, if any.
    pub fn checksum(&self) -> Option<&Checksum> {
        self.checksum.as_ref()
    }

    /// The text fields, in the order PVE's parser reads them: `content`, then
    /// `checksum-algorithm` and `checksum` when a checksum is set. (The file goes separately as
    /// the `filename` part; a command-line transport adds `filename=<staged path>` itself.)
    pub fn text_fields(&self) -> Params {
        let mut p = Params::new().with("content", self.content);
        if let Some(c) = &self.checksum {
            p.append("checksum-algorithm", c.algorithm());
            p.append("checksum", c.hex());
        }
        p
    }

    /// The call: `POST /nodes/{node}/storage/{storage}/upload` with the text fields as
    /// parameters. Over HTTP the body is not a form but the multipart frame from
    /// [`Upload::frame`] (with its `Content-Type` and `Content-Length`).
    pub fn call(&self) -> Result<Call, InputError> {
        Ok(
            Call::post(("nodes", &self.node, "storage", &self.storage, "upload"))?
                .with_params(self.text_fields()),
        )
    }

    /// The multipart frame for this upload with `boundary` (see [`check_boundary`]).
    pub fn frame(&self, boundary: &str) -> Result<MultipartFrame, InputError> {
        check_boundary(boundary)?;
        let mut head = Vec::with_capacity(512);
        for (k, v) in self.text_fields().iter() {
            head.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        head.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"{}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n",
                self.file_name
            )
            .as_bytes(),
        );
        let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
        let content_length = (head.len() as u64)
            .checked_add(tail.len() as u64)
            .and_then(|n| n.checked_add(self.file_len))
            .ok_or_else(|| InputError::Invalid {
                what: "upload size",
                reason: "the total body length overflows u64".into(),
            })?;
        Ok(MultipartFrame {
            head,
            tail,
            file_len: self.file_len,
            content_length,
            content_type: format!("multipart/form-data; boundary={boundary}"),
        })
    }
}

/// The bytes around the file in a multipart upload body; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartFrame {
    head: Vec<u8>,
    tail: Vec<u8>,
    file_len: u64,
    content_length: u64,
    content_type: String,
}

impl MultipartFrame {
    /// Everything before the file bytes.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Everything after the file bytes.
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// The number of file bytes the adapter must send between head and tail.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The exact `Content-Length` of the whole body.
    pub fn content_length(&self) -> u64 {
        self.content_length
    }

    /// The `Content-Type` header value: `multipart/form-data; boundary=<boundary>`.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The whole body for content already in memory. `file` must be exactly `file_len` bytes.
    pub fn assemble(&self, file: &[u8]) -> Result<Vec<u8>, InputError> {
        if file.len() as u64 != self.file_len {
            return Err(InputError::Invalid {
                what: "upload content",
                reason: format!(
                    "{} bytes given, the frame was built for {}",
                    file.len(),
                    self.file_len
                ),
            });
        }
        let mut body = Vec::with_capacity(self.head.len() + file.len() + self.tail.len());
        body.extend_from_slice(&self.head);
        body.extend_from_slice(file);
        body.extend_from_slice(&self.tail);
        Ok(body)
    }
}

/// `POST /nodes/{node}/storage/{storage}/download-url`: let the node download a file itself.
///
/// Parameters go in the order `checksum-algorithm`, `url`, `checksum`, `content`, `filename`,
/// `verify-certificates`, `compression`; unset ones are left out (the server then verifies
/// certificates and skips checksum validation).
///
/// ```
/// use proxmox_proto::checksum::{Checksum, ChecksumAlgorithm};
/// use proxmox_proto::upload::{DownloadUrl, UploadContent};
/// let call = DownloadUrl::new("https://example.com/debian-12.iso", UploadContent::Iso, "debian-12.iso")
///     .unwrap()
///     .checksum(Checksum::new(ChecksumAlgorithm::Md5, &"0".repeat(32)).unwrap())
///     .verify_certificates(false)
///     .call("pve1", "local")
///     .unwrap();
/// assert_eq!(call.path.to_string(), "/nodes/pve1/storage/local/download-url");
/// assert_eq!(
///     call.params.to_form(),
///     "checksum-algorithm=md5&url=https%3A%2F%2Fexample.com%2Fdebian-12.iso\
///      &checksum=00000000000000000000000000000000&content=iso&filename=debian-12.iso\
///      &verify-certificates=0"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadUrl {
    url: String,
    content: UploadContent,
    file_name: String,
    checksum: Option<Checksum>,
    verify_certificates: Option<bool>,
    compression: Option<String>,
}

impl DownloadUrl {
    /// Download `url` (`http://` or `https://`) as `file_name` (a bare name, see
    /// [`check_file_name`]).
    pub fn new(url: &str, content: UploadContent, file_name: &str) -> Result<Self, InputError> {
        check_download_url(url)?;
        check_file_name(file_name)?;
        Ok(Self {
            url: url.to_owned(),
            content,
            file_name: file_name.to_owned(),
            checksum: None,
            verify_certificates: None,
            compression: None,
        })
    }

    /// Have the server verify the download against this checksum.
    pub fn checksum(mut self, checksum: Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }

    /// Set `verify-certificates` (sent as `1`/`0`; the server default is `1`).
    pub fn verify_certificates(mut self, verify: bool) -> Self {
        self.verify_certificates = Some(verify);
        self
    }

    /// Decompress the download with this algorithm (`gz`, `lzo`, `zst`, `bz2`, ... as the
    /// server knows them): 1 to 16 ASCII letters and digits.
    pub fn compression(mut self, compression: &str) -> Result<Self, InputError> {
        if compression.is_empty()
            || compression.len() > 16
            || !compression.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(InputError::InvalidParameter {
                key: "compression".into(),
                reason: "expected 1 to 16 ASCII letters or digits (gz, lzo, zst, bz2...)".into(),
            });
        }
        self.compression = Some(compression.to_owned());
        Ok(self)
    }

    /// The parameters, in order.
    pub fn params(&self) -> Params {
        let mut p = Params::new();
        p.append(
            "checksum-algorithm",
            self.checksum.as_ref().map(Checksum::algorithm),
        );
        p.append("url", self.url.as_str());
        p.append("checksum", self.checksum.as_ref().map(Checksum::hex));
        p.append("content", self.content);
        p.append("filename", self.file_name.as_str());
        p.append("verify-certificates", self.verify_certificates);
        p.append("compression", self.compression.as_deref());
        p
    }

    /// The call for `node` and `storage` (single path segments).
    pub fn call(&self, node: &str, storage: &str) -> Result<Call, InputError> {
        Ok(
            Call::post(("nodes", node, "storage", storage, "download-url"))?
                .with_params(self.params()),
        )
    }
}

fn check_download_url(url: &str) -> Result<(), InputError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let reason = if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        "expected an http:// or https:// URL"
    } else if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        "the URL must not contain whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(InputError::InvalidParameter {
        key: "url".into(),
        reason: reason.into(),
    })
}

/// `GET /nodes/{node}/query-url-metadata?url=...`: the file name, size and MIME type the server
/// sees for a URL (read the answer as [`UrlMetadata`]). `verify_certificates` is sent only when
/// given.
pub fn query_url_metadata(
    node: &str,
    url: &str,
    verify_certificates: Option<bool>,
) -> Result<Call, InputError> {
    check_download_url(url)?;
    Ok(Call::get(("nodes", node, "query-url-metadata"))?
        .param("url", url)
        .param("verify-certificates", verify_certificates))
}

/// The `data` of a `query-url-metadata` answer. Every field is optional (the server leaves out
/// what it could not learn).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UrlMetadata {
    /// The file name (from `Content-Disposition` or the URL).
    #[serde(default)]
    pub filename: Option<String>,
    /// The MIME type.
    #[serde(default)]
    pub mimetype: Option<String>,
    /// The size in bytes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub size: Option<u64>,
}

/// A size as a number or a numeric string (Perl may send either).
fn lenient_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize as _;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u64),
        Str(String),
        Null(()),
    }
    Ok(match Option::<N>::deserialize(d)? {
        None | Some(N::Null(())) => None,
        Some(N::Num(n)) => Some(n),
        Some(N::Str(s)) => s.trim().parse().ok(),
    })
}

/// How an upload is checked by the server (the adapters' `upload` option).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UploadChecksum {
    /// No checksum.
    #[default]
    None,
    /// Send this checksum; the server verifies the received file against it.
    Given(Checksum),
    /// Hash the local file first (one extra read, constant memory), then send that checksum.
    Compute(crate::checksum::ChecksumAlgorithm),
}

/// The checksum for a `download-url` (the adapters' `download_url` option).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DownloadChecksum {
    /// None: the server does not verify the download.
    #[default]
    None,
    /// This checksum.
    Given(Checksum),
    /// Look for `SHA512SUMS`, `url.sha256`, ... next to the URL; none found is an error.
    Discover,
    /// Like `Discover`, but go on without a checksum when none is found.
    DiscoverOptional,
}

impl DownloadChecksum {
    /// Whether a checksum must first be looked for next to the URL (drive a
    /// [`crate::checksum::ChecksumDiscovery`], then hand its find to
    /// [`DownloadChecksum::resolve`]).
    pub fn wants_discovery(&self) -> bool {
        matches!(self, Self::Discover | Self::DiscoverOptional)
    }

    /// The checksum to send with the download of `url` as `file_name`, given what discovery
    /// `found` (`None` when it did not run or found nothing). `Discover` without a find is
    /// [`ChecksumError::NotFound`](crate::checksum::ChecksumError::NotFound).
    ///
    /// ```
    /// use proxmox_proto::upload::DownloadChecksum;
    /// let url = "https://user:pw@mirror.example/debian.iso";
    /// assert!(DownloadChecksum::Discover.wants_discovery());
    /// assert_eq!(DownloadChecksum::DiscoverOptional.resolve(url, "debian.iso", None), Ok(None));
    /// let e = DownloadChecksum::Discover.resolve(url, "debian.iso", None).unwrap_err();
    /// assert!(!e.to_string().contains("pw"), "{e}");
    /// ```
    pub fn resolve(
        self,
        url: &str,
        file_name: &str,
        found: Option<Checksum>,
    ) -> Result<Option<Checksum>, crate::checksum::ChecksumError> {
        match (self, found) {
            (Self::None, _) => Ok(None),
            (Self::Given(c), _) => Ok(Some(c)),
            (Self::Discover, None) => Err(crate::checksum::ChecksumError::NotFound {
                url: crate::options::redact_userinfo(url),
                file_name: file_name.to_owned(),
            }),
            (Self::Discover | Self::DiscoverOptional, found) => Ok(found),
        }
    }
}

/// Upload progress, called as the file is read: bytes read so far and the file's size.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// A file being sent, reporting [`Progress`] as it is read (the adapters put it between the
/// multipart head and tail, or stream it to the node's staging file).
pub struct ProgressReader<'a, R> {
    inner: R,
    sent: u64,
    total: u64,
    progress: Progress<'a>,
}

impl<'a, R> ProgressReader<'a, R> {
    /// `inner` (of `total` bytes) reporting to `progress`.
    pub fn new(inner: R, total: u64, progress: Progress<'a>) -> Self {
        Self {
            inner,
            sent: 0,
            total,
            progress,
        }
    }

    /// Bytes read so far (compare with the size to find a file that shrank while it was sent).
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

impl<R: std::io::Read> std::io::Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        (self.progress)(self.sent, self.total);
        Ok(n)
    }
}

impl<R> std::fmt::Debug for ProgressReader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressReader")
            .field("sent", &self.sent)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::ChecksumAlgorithm;

    #[test]
    fn file_names() {
        for bad in [
            "", ".", "..", "a/b.iso", "a\\b.iso", "a\0.iso", "a\r.iso", "a\n.iso",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
            assert!(check_upload_file_name(bad).is_err(), "{bad:?}");
            assert!(Upload::new("n", "s", UploadContent::Iso, bad, 0).is_err());
            assert!(DownloadUrl::new("https://h/x", UploadContent::Iso, bad).is_err());
        }
        for bad in ["a\".iso", "a;b.iso", "a,b.iso"] {
            assert!(check_file_name(bad).is_ok());
            assert!(check_upload_file_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_file_name(&"a".repeat(256)).is_err());
        assert!(check_file_name(&"a".repeat(255)).is_ok());
        for good in ["debian-12.iso", "..iso", "a b.iso", "é.iso", "x.tar.zst"] {
            assert!(check_upload_file_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn boundaries() {
        for good in [
            "a",
            "0123456789abcdef0123456789abcdef",
            "A'+_-.z",
            &"x".repeat(70),
        ] {
            assert!(check_boundary(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "a b",
            "a\r\nb",
            "a:b",
            "a/b",
            "a=b",
            "a,b",
            "a;b",
            "\"ab\"",
            &"x".repeat(71),
        ] {
            assert!(check_boundary(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            boundary_from_random(&[0, 1, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]),
            "0001feff000000000000000000000010"
        );
    }

    #[test]
    fn node_and_storage_are_single_segments() {
        assert!(Upload::new("..", "s", UploadContent::Iso, "a.iso", 1).is_err());
        assert!(Upload::new("n", "", UploadContent::Iso, "a.iso", 1).is_err());
        let up = Upload::new("n/x", "s", UploadContent::Iso, "a.iso", 1).expect("ok");
        assert_eq!(
            up.call().expect("call").path.to_string(),
            "/nodes/n%2Fx/storage/s/upload"
        );
        assert!(
            DownloadUrl::new("https://h/a.iso", UploadContent::Iso, "a.iso")
                .expect("ok")
                .call("n", "..")
                .is_err()
        );
    }

    #[test]
    fn length_overflow_is_an_error() {
        let up = Upload::new("n", "s", UploadContent::Iso, "a.iso", u64::MAX).expect("ok");
        assert!(up.frame("b").is_err());
        let up = Upload::new("n", "s", UploadContent::Iso, "a.iso", u64::MAX - 1000).expect("ok");
        let f = up.frame("b").expect("fits");
        assert_eq!(
            f.content_length(),
            u64::MAX - 1000 + f.head().len() as u64 + f.tail().len() as u64
        );
        assert!(f.assemble(b"short").is_err());
    }

    #[test]
    fn download_url_params() {
        let d = DownloadUrl::new("https://h/t.tar.zst", UploadContent::Vztmpl, "t.tar.zst")
            .expect("ok");
        assert_eq!(
            d.params().to_form(),
            "url=https%3A%2F%2Fh%2Ft.tar.zst&content=vztmpl&filename=t.tar.zst"
        );
        let d = d
            .checksum(Checksum::new(ChecksumAlgorithm::Sha1, &"F".repeat(40)).expect("valid"))
            .verify_certificates(true)
            .compression("zst")
            .expect("ok");
        let p = d.params();
        assert_eq!(p.get("checksum-algorithm"), Some("sha1"));
        assert_eq!(p.get("checksum"), Some("f".repeat(40).as_str()));
        assert_eq!(p.get("verify-certificates"), Some("1"));
        assert_eq!(p.get("compression"), Some("zst"));
        let call = d.call("pve", "local").expect("call");
        assert_eq!(call.method, crate::Method::Post);
        for bad in ["", "z st", "zst;rm", &"z".repeat(17)] {
            assert!(d.clone().compression(bad).is_err(), "{bad:?}");
        }
        for bad in ["ftp://h/x", "h/x", "https://h/a b", "https://h/\n", ""] {
            assert!(
                DownloadUrl::new(bad, UploadContent::Iso, "x.iso").is_err(),
                "{bad:?}"
            );
            assert!(query_url_metadata("n", bad, None).is_err(), "{bad:?}");
        }
        assert!(DownloadUrl::new("HTTPS://H/x", UploadContent::Iso, "x.iso").is_ok());
    }

    #[test]
    fn content_kinds() {
        for c in [
            UploadContent::Iso,
            UploadContent::Vztmpl,
            UploadContent::Import,
        ] {
            assert_eq!(c.as_str().parse::<UploadContent>(), Ok(c));
            assert_eq!(c.to_string(), c.as_str());
        }
        assert!("images".parse::<UploadContent>().is_err());
        assert!("ISO".parse::<UploadContent>().is_err());
    }

    #[test]
    fn url_metadata_lenient() {
        let m: UrlMetadata =
            serde_json::from_str(r#"{"size":"42","filename":"a.iso","other":1}"#).expect("ok");
        assert_eq!(m.size, Some(42));
        let m: UrlMetadata = serde_json::from_str(r#"{"size":null}"#).expect("ok");
        assert_eq!(m, UrlMetadata::default());
        let m: UrlMetadata = serde_json::from_str("{}").expect("ok");
        assert_eq!(m, UrlMetadata::default());
    }
}
