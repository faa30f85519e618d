//! Checksum algorithms ([`ChecksumAlgorithm`]) and checksums ([`Checksum`]): an algorithm and a
//! validated lower-case hex digest.

use super::{ChecksumError, StreamingDigest};
use std::fmt;
use std::str::FromStr;

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
        f.pad(self.name())
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
    pub(super) algorithm: ChecksumAlgorithm,
    pub(super) hex: String,
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

/// Lower-case hex of `bytes`.
pub(super) fn bytes_to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::checksum::*;

    const H64: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

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
}
