//! The candidate checksum URLs next to a download URL, in preference order, built on the
//! URL's path (see the [module docs](super)).

use super::{ChecksumAlgorithm, ChecksumError};

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

/// The ordered candidate checksum URLs for `url`, as described in the [module docs](super).
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

#[cfg(test)]
mod tests {
    use crate::checksum::*;

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
}
