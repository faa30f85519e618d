//! TLS certificate fingerprints (SHA-256 over the DER of the leaf certificate), as PVE shows
//! them (`AB:CD:...`). Pure functions; adapters plug them into their TLS stack.
//!
//! A pin **replaces** CA validation for the pinned leaf: with a fingerprint configured, a
//! certificate matches if and only if its SHA-256 equals the pin (name and chain are not
//! checked), which is what users of self-signed clusters need.
//!
//! ```
//! use proxmox_proto::tls::Fingerprint;
//! let der = b"not really a certificate";
//! let fp = Fingerprint::of_der(der);
//! let parsed: Fingerprint = fp.to_string().to_lowercase().replace(':', "").parse().unwrap();
//! assert!(parsed.matches_der(der));
//! assert!("AB:CD".parse::<Fingerprint>().is_err());
//! ```

use crate::error::InputError;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Whether a DER certificate has this fingerprint.
    pub fn matches_der(&self, der: &[u8]) -> bool {
        // Not secret, so a plain comparison is fine.
        Self::of_der(der) == *self
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for Fingerprint {
    type Err = InputError;
    /// `AB:CD:...` or plain hex, any case, optional `sha256` prefix; exactly 32 bytes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| InputError::Invalid {
            what: "fingerprint",
            reason: reason.to_owned(),
        };
        let t = s.trim();
        let t = t
            .strip_prefix("sha256:")
            .or_else(|| t.strip_prefix("SHA256:"))
            .unwrap_or(t);
        let hex: Vec<u8> = t.bytes().filter(|b| *b != b':').collect();
        if hex.len() != 64 {
            return Err(bad("a SHA-256 fingerprint has 32 bytes (64 hex digits)"));
        }
        if t.contains(':') && t.split(':').any(|p| p.len() != 2) {
            return Err(bad("colon-separated form needs two hex digits per byte"));
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => out[i] = (h * 16 + l) as u8,
                _ => return Err(bad("not hexadecimal")),
            }
        }
        Ok(Self(out))
    }
}

impl fmt::Display for Fingerprint {
    /// Upper-case colon form, as PVE shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let fp = Fingerprint::of_der(b"abc");
        let colon = fp.to_string();
        assert_eq!(colon.len(), 95);
        assert_eq!(colon.parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(colon.to_lowercase().parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(colon.replace(':', "").parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(
            format!("sha256:{colon}").parse::<Fingerprint>().unwrap(),
            fp
        );
        // sha256("abc")
        assert!(colon.starts_with("BA:78:16:BF"));
        assert!(fp.matches_der(b"abc"));
        assert!(!fp.matches_der(b"abd"));
        for bad in [
            "",
            "zz",
            &colon[..colon.len() - 3],
            &format!("{colon}:00"),
            &colon.replace("BA:78", "B:A78"),
            &"g".repeat(64),
        ] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad:?}");
        }
    }
}
