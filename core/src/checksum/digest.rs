//! Streaming digests: hash local content chunk by chunk, in constant memory.

use super::algorithm::bytes_to_hex;
use super::{Checksum, ChecksumAlgorithm, ChecksumError};
use sha2::Digest as _;
use std::fmt;

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
    /// The checksum of everything `reader` gives (a local file before an upload), read in
    /// 256 KiB pieces: constant memory at any size.
    pub fn of_reader(
        algorithm: ChecksumAlgorithm,
        mut reader: impl std::io::Read,
    ) -> std::io::Result<Checksum> {
        let mut d = Self::new(algorithm);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(d.finish());
            }
            d.update(buf.get(..n).unwrap_or_default());
        }
    }

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

#[cfg(test)]
mod tests {
    use crate::checksum::*;

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
}
