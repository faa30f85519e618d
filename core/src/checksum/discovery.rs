//! [`ChecksumDiscovery`]: the state machine that says which candidate URLs to fetch and picks
//! the checksum from what the adapter fetched (the driving contract is in the
//! [module docs](super)).

use super::{
    Candidate, CandidateKind, Checksum, ChecksumAlgorithm, ChecksumError, ChecksumFile,
    candidate_urls, file_name_from_url,
};

/// How discovery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryOutcome {
    /// A checksum was found (see [`ChecksumDiscovery::found_at`] for where).
    Found(Checksum),
    /// No candidate held a checksum for the file.
    NotFound,
}

/// The discovery state machine; see the [module docs](super) for the driving contract.
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
    use crate::checksum::*;

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
