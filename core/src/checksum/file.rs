//! Checksum files: GNU (`hash  name`, `hash *name`), BSD (`SHA256 (name) = hash`) and bare
//! single-hash files, parsed line by line, with exact file-name lookup. The rules are in the
//! [module docs](super).

use super::{Checksum, ChecksumAlgorithm};

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

#[cfg(test)]
mod tests {
    use crate::checksum::*;

    const H64: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn sha256(body: &str, name: &str) -> Option<String> {
        find_checksum(body.as_bytes(), name, Some(ChecksumAlgorithm::Sha256))
            .map(|c| c.hex().to_owned())
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
}
