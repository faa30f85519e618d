//! The pin store: which server certificates (SHA-256 of the leaf) a client trusts for which
//! host and port, as a plain text file like ssh's `known_hosts`, and the rules of first
//! contact. Format, merging and decisions only: reading, locking and writing the file are the
//! adapter's (the core reads no file).
//!
//! # Format
//!
//! One pin a line: `host port fingerprint`, the fingerprint as PVE shows it (`AB:CD:…`, 32
//! bytes) or plain hex. An IPv6 host is written bare or in brackets. `#` starts a comment;
//! blank lines and comments are kept as they are. A host and port may have several pins (a
//! node whose certificate is being replaced). A line that is not a pin nor a comment is an
//! error naming its number: a pin file is edited by hand, and a pin that silently stops
//! counting is a pin lost.
//!
//! # Rules
//!
//! [`PinStore::decide`]: a certificate that validates against the configured roots is accepted
//! without looking at pins (ACME certificates rotate every ~60 days); a pinned fingerprint is
//! accepted; an unknown host is refused, or accepted and recorded with trust on first use
//! (opt-in); a host whose pins do not include what it shows is refused, naming the pinned and
//! the new fingerprints. A fingerprint a verified connection reports (a cluster's `/nodes`,
//! read by discovery) is taken as it is ([`PinStore::learn`]): a new pin for a node not
//! pinned yet, the only pin of one whose certificate was renewed.
//!
//! ```
//! use proxmox_proto::pins::{FirstUse, PinDecision, PinStore};
//! use proxmox_proto::tls::Fingerprint;
//! let seen = Fingerprint::of_der(b"pve1's certificate");
//! let mut store = PinStore::parse("# cluster pins\n").unwrap();
//! let d = store.decide("pve1", 8006, &seen, false, FirstUse::Trust);
//! assert_eq!(d, PinDecision::Record);
//! store.insert("pve1", 8006, seen);
//! assert_eq!(store.decide("pve1", 8006, &seen, false, FirstUse::Refuse), PinDecision::Pinned);
//! let other = Fingerprint::of_der(b"someone else");
//! assert!(!store.decide("pve1", 8006, &other, false, FirstUse::Trust).accepts());
//! assert!(store.to_text().starts_with("# cluster pins\npve1 8006 "));
//! ```

use crate::error::InputError;
use crate::tls::Fingerprint;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One line of a pin file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Pin {
        host: String,
        port: u16,
        fingerprint: Fingerprint,
    },
    /// A comment or a blank line, kept verbatim.
    Text(String),
}

/// Pins by host and port, in file order, comments kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinStore {
    lines: Vec<Line>,
}

/// Whether a host without a pin may be trusted the first time it is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    /// Refuse it (the default): pin it first (`probe` shows the fingerprint).
    Refuse,
    /// Accept it and record its fingerprint (opt-in).
    Trust,
}

/// What [`PinStore::learn`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learned {
    /// The fingerprint was pinned already.
    Known,
    /// The host had no pin: now it has this one.
    Added,
    /// The host was pinned to these other certificates: now to this one only.
    Replaced(Vec<Fingerprint>),
}

/// What to do with a certificate a server shows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinDecision {
    /// It validates against the configured roots: accepted, pins not consulted.
    CaValid,
    /// Its fingerprint is pinned for this host and port: accepted.
    Pinned,
    /// No pin for this host and port, trust on first use: accept and record it.
    Record,
    /// No pin for this host and port, and trust on first use is off: refused.
    Unknown {
        /// What the server showed.
        seen: Fingerprint,
    },
    /// Pinned, but to other certificates: refused.
    Changed {
        /// The pins.
        pinned: Vec<Fingerprint>,
        /// What the server showed.
        seen: Fingerprint,
    },
}

impl PinDecision {
    /// Whether the connection may go on.
    pub fn accepts(&self) -> bool {
        matches!(self, Self::CaValid | Self::Pinned | Self::Record)
    }

    /// Why a refused certificate is refused, and what to do (for `host:port`).
    pub fn refusal(&self, host: &str, port: u16) -> Option<String> {
        let at = host_port(host, port);
        match self {
            Self::Unknown { seen } => Some(format!(
                "{at} is not in the pin store and its certificate is not signed by a trusted CA \
                 (SHA-256 {seen}); check the fingerprint on the node (pvenode cert info) and pin \
                 it, or turn on trust on first use"
            )),
            Self::Changed { pinned, seen } => Some(format!(
                "the certificate of {at} changed: pinned {}, now {seen}; if the node's \
                 certificate was renewed, check the new one on the node (pvenode cert info) and \
                 replace the pin",
                pinned
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
            _ => None,
        }
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The host as stored and compared: IPv6 without brackets, names in lower case.
fn normal_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

impl PinStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse a pin file. A line that is neither a pin, a comment nor blank is an error naming
    /// its number.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                // Written back with `\n` line ends.
                lines.push(Line::Text(raw.trim_end_matches('\r').to_owned()));
                continue;
            }
            let bad = |reason: &str| InputError::Invalid {
                what: "pin file",
                reason: format!("line {}: {reason}", i + 1),
            };
            let mut words = t.split_whitespace();
            let (Some(host), Some(port), Some(fp), None) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                return Err(bad("expected `host port fingerprint`"));
            };
            let port = match port.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad("the port is not a number from 1 to 65535")),
            };
            let fingerprint = fp
                .parse::<Fingerprint>()
                .map_err(|_| bad("the fingerprint is not 32 bytes of hex (AB:CD:…)"))?;
            // A host name or an address, as a client's target has it: anything else (`#` in
            // brackets, found by the fuzzer) would not read back as the same line.
            if crate::target::Host::parse(host).is_err() {
                return Err(bad("the host is not a host name or address"));
            }
            let host = normal_host(host);
            lines.push(Line::Pin {
                host,
                port,
                fingerprint,
            });
        }
        Ok(Self { lines })
    }

    /// The pins of `host` and `port`.
    pub fn pins(&self, host: &str, port: u16) -> Vec<Fingerprint> {
        let host = normal_host(host);
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Pin {
                    host: h,
                    port: p,
                    fingerprint,
                } if *h == host && *p == port => Some(*fingerprint),
                _ => None,
            })
            .collect()
    }

    /// Add a pin (nothing if it is there already).
    pub fn insert(&mut self, host: &str, port: u16, fingerprint: Fingerprint) {
        if self.pins(host, port).contains(&fingerprint) {
            return;
        }
        self.lines.push(Line::Pin {
            host: normal_host(host),
            port,
            fingerprint,
        });
    }

    /// Make `fingerprint` the only pin of `host` and `port` (a certificate learned over an
    /// already verified connection); returns the pins it replaced.
    pub fn replace(&mut self, host: &str, port: u16, fingerprint: Fingerprint) -> Vec<Fingerprint> {
        let old = self.pins(host, port);
        let h = normal_host(host);
        self.lines.retain(
            |l| !matches!(l, Line::Pin { host: lh, port: lp, .. } if *lh == h && *lp == port),
        );
        self.insert(host, port, fingerprint);
        old.into_iter().filter(|f| *f != fingerprint).collect()
    }

    /// Take `fingerprint` for `host` and `port` as a verified connection reported it (a
    /// cluster's `/nodes` answer, read from a node the client already trusts): a new pin for
    /// a host without one, the only pin of a host pinned to other certificates.
    ///
    /// ```
    /// use proxmox_proto::pins::{Learned, PinStore};
    /// use proxmox_proto::tls::Fingerprint;
    /// let (old, new) = (Fingerprint::of_der(b"old"), Fingerprint::of_der(b"new"));
    /// let mut s = PinStore::new();
    /// assert_eq!(s.learn("pve2", 8006, old), Learned::Added);
    /// assert_eq!(s.learn("pve2", 8006, old), Learned::Known);
    /// assert_eq!(s.learn("pve2", 8006, new), Learned::Replaced(vec![old]));
    /// assert_eq!(s.pins("pve2", 8006), vec![new]);
    /// ```
    pub fn learn(&mut self, host: &str, port: u16, fingerprint: Fingerprint) -> Learned {
        let old = self.pins(host, port);
        if old.contains(&fingerprint) {
            Learned::Known
        } else if old.is_empty() {
            self.insert(host, port, fingerprint);
            Learned::Added
        } else {
            Learned::Replaced(self.replace(host, port, fingerprint))
        }
    }

    /// Add every pin of `other` this store lacks (a writer merges what others wrote since it
    /// read the file, so that concurrent writers lose nothing).
    pub fn merge(&mut self, other: &PinStore) {
        for l in &other.lines {
            if let Line::Pin {
                host,
                port,
                fingerprint,
            } = l
            {
                self.insert(host, *port, *fingerprint);
            }
        }
    }

    /// What to do with the certificate `seen` that `host:port` shows; `ca_valid` says whether
    /// it validated against the configured roots.
    pub fn decide(
        &self,
        host: &str,
        port: u16,
        seen: &Fingerprint,
        ca_valid: bool,
        first_use: FirstUse,
    ) -> PinDecision {
        if ca_valid {
            return PinDecision::CaValid;
        }
        let pinned = self.pins(host, port);
        if pinned.contains(seen) {
            PinDecision::Pinned
        } else if !pinned.is_empty() {
            PinDecision::Changed {
                pinned,
                seen: *seen,
            }
        } else if first_use == FirstUse::Trust {
            PinDecision::Record
        } else {
            PinDecision::Unknown { seen: *seen }
        }
    }

    /// The file's text: comments and blank lines as they were, one pin a line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            match l {
                Line::Text(t) => out.push_str(t),
                Line::Pin {
                    host,
                    port,
                    fingerprint,
                } => out.push_str(&format!("{host} {port} {fingerprint}")),
            }
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for PinStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A pin store shared by a client's certificate verifier and its flows: what first use
/// records and discovery learns is seen by the next handshake. Clones share the store.
#[derive(Clone, Default)]
pub struct LivePins(Arc<Mutex<PinStore>>);

impl LivePins {
    /// Share `store`.
    pub fn new(store: PinStore) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// The store, locked.
    pub fn lock(&self) -> MutexGuard<'_, PinStore> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the store as it is now.
    pub fn snapshot(&self) -> PinStore {
        self.lock().clone()
    }
}

impl PartialEq for LivePins {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.snapshot() == other.snapshot()
    }
}

impl Eq for LivePins {}

impl fmt::Debug for LivePins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pins = self
            .lock()
            .lines
            .iter()
            .filter(|l| matches!(l, Line::Pin { .. }))
            .count();
        f.debug_struct("LivePins").field("pins", &pins).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(s: &str) -> Fingerprint {
        Fingerprint::of_der(s.as_bytes())
    }

    #[test]
    fn round_trip_keeps_comments_and_normalises_hosts() {
        let text = format!(
            "# pins of the lab\n\nPVE1.example.com 8006 {}\n[2001:db8::1] 8006 {}\n",
            fp("a"),
            fp("b")
        );
        let store = PinStore::parse(&text).unwrap();
        assert_eq!(store.pins("pve1.EXAMPLE.com", 8006), vec![fp("a")]);
        assert_eq!(store.pins("2001:db8::1", 8006), vec![fp("b")]);
        assert_eq!(store.pins("[2001:db8::1]", 8006), vec![fp("b")]);
        assert!(store.pins("pve1.example.com", 8007).is_empty());
        let again = PinStore::parse(&store.to_text()).unwrap();
        assert_eq!(again, store);
        assert!(
            store
                .to_text()
                .starts_with("# pins of the lab\n\npve1.example.com 8006 ")
        );
    }

    #[test]
    fn malformed_lines_name_their_number() {
        for (text, want) in [
            ("pve1 8006\n", "line 1: expected `host port fingerprint`"),
            (
                "# ok\npve1 x AB\n",
                "line 2: the port is not a number from 1 to 65535",
            ),
            (
                "pve1 0 AB\n",
                "line 1: the port is not a number from 1 to 65535",
            ),
            (
                "pve1 8006 AB:CD\n",
                "line 1: the fingerprint is not 32 bytes of hex (AB:CD:…)",
            ),
            (
                "pve1 8006 AB CD\n",
                "line 1: expected `host port fingerprint`",
            ),
            // Found by the fuzzer: unbracketed, this host would read back as a comment.
            (
                &format!("[#1::2] 8007 {}\n", "cd".repeat(32)),
                "line 1: the host is not a host name or address",
            ),
            (
                &format!("pve1/x 8007 {}\n", "cd".repeat(32)),
                "line 1: the host is not a host name or address",
            ),
        ] {
            let e = PinStore::parse(text).unwrap_err().to_string();
            assert_eq!(e, format!("invalid pin file: {want}"), "{text:?}");
        }
    }

    #[test]
    fn decisions() {
        let mut s = PinStore::new();
        s.insert("pve1", 8006, fp("a"));
        assert_eq!(
            s.decide("pve1", 8006, &fp("b"), true, FirstUse::Refuse),
            PinDecision::CaValid
        );
        assert_eq!(
            s.decide("pve1", 8006, &fp("a"), false, FirstUse::Refuse),
            PinDecision::Pinned
        );
        let changed = s.decide("pve1", 8006, &fp("b"), false, FirstUse::Trust);
        assert_eq!(
            changed,
            PinDecision::Changed {
                pinned: vec![fp("a")],
                seen: fp("b")
            }
        );
        assert_eq!(
            changed.refusal("pve1", 8006).unwrap(),
            format!(
                "the certificate of pve1:8006 changed: pinned {}, now {}; if the node's \
                 certificate was renewed, check the new one on the node (pvenode cert info) and \
                 replace the pin",
                fp("a"),
                fp("b")
            )
        );
        assert_eq!(
            s.decide("pve2", 8006, &fp("c"), false, FirstUse::Trust),
            PinDecision::Record
        );
        let unknown = s.decide("::1", 8006, &fp("c"), false, FirstUse::Refuse);
        assert!(!unknown.accepts());
        assert!(
            unknown
                .refusal("::1", 8006)
                .unwrap()
                .starts_with("[::1]:8006 is not in the pin store")
        );
    }

    #[test]
    fn replace_and_merge_lose_nothing() {
        let mut mine = PinStore::parse("# mine\n").unwrap();
        mine.insert("pve1", 8006, fp("a"));
        mine.insert("pve1", 8006, fp("a"));
        assert_eq!(mine.pins("pve1", 8006).len(), 1);
        let mut theirs = PinStore::new();
        theirs.insert("pve2", 8006, fp("b"));
        theirs.insert("pve1", 8006, fp("a"));
        mine.merge(&theirs);
        assert_eq!(mine.pins("pve2", 8006), vec![fp("b")]);
        assert_eq!(mine.pins("pve1", 8006), vec![fp("a")]);
        assert_eq!(mine.replace("pve1", 8006, fp("z")), vec![fp("a")]);
        assert_eq!(mine.pins("pve1", 8006), vec![fp("z")]);
        assert!(mine.to_text().starts_with("# mine\n"));
    }
}
