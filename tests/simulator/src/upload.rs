//! `POST /nodes/{node}/storage/{storage}/upload`: a streaming multipart parser with PVE's rules.
//!
//! pve-http-server requires a `Content-Length`, takes the text fields `content`,
//! `checksum-algorithm` and `checksum` in this order, then exactly one file part named
//! `filename`. Only the size and hashes of the file are kept.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use crate::api::{ApiErr, CHECKSUM_ALGOS, check_extension, check_node, storage_supports};
use crate::auth;
use crate::http::{Conn, Request, Response};
use crate::state::{AuthKind, Effect, NewTask, UploadRecord, Volume};
use crate::util::hex;

const TEXT_FIELDS: [&str; 3] = ["content", "checksum-algorithm", "checksum"];
const MAX_PART_HEAD: usize = 4096;
const MAX_TEXT: usize = 4096;

pub(crate) fn is_upload(method: &str, rel: &str) -> bool {
    let segs: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    method == "POST" && matches!(segs.as_slice(), ["nodes", _, "storage", _, "upload"])
}

/// Reads at most `remaining` bytes of the request body.
struct Body<'a> {
    conn: &'a mut Conn,
    remaining: u64,
    buf: Vec<u8>,
}

impl Body<'_> {
    /// Append more data to `buf`; false at the end of the body.
    fn more(&mut self) -> Result<bool, ApiErr> {
        if self.remaining == 0 {
            return Ok(false);
        }
        let want = usize::try_from(self.remaining.min(64 * 1024)).unwrap_or(64 * 1024);
        let chunk = self
            .conn
            .read_some(want)
            .map_err(|_| ApiErr::new(400, "bad upload request"))?;
        if chunk.is_empty() {
            return Err(ApiErr::new(400, "bad upload request"));
        }
        self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
        self.buf.extend_from_slice(&chunk);
        Ok(true)
    }

    fn find(&self, needle: &[u8]) -> Option<usize> {
        self.buf.windows(needle.len()).position(|w| w == needle)
    }

    /// Consume up to and including `delim`, returning what came before (capped).
    fn until(&mut self, delim: &[u8], cap: usize) -> Result<Vec<u8>, ApiErr> {
        loop {
            if let Some(i) = self.find(delim) {
                let out: Vec<u8> = self.buf.drain(..i).collect();
                self.buf.drain(..delim.len());
                return Ok(out);
            }
            if self.buf.len() > cap + delim.len() {
                return Err(ApiErr::new(400, "bad upload request"));
            }
            if !self.more()? {
                return Err(ApiErr::new(400, "bad upload request"));
            }
        }
    }

    /// Stream until `delim`, feeding everything before it to `sink`.
    fn stream_until(&mut self, delim: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<(), ApiErr> {
        loop {
            if let Some(i) = self.find(delim) {
                sink(self.buf.get(..i).unwrap_or(&[]));
                self.buf.drain(..i + delim.len());
                return Ok(());
            }
            let keep = delim.len().saturating_sub(1);
            if self.buf.len() > keep {
                let n = self.buf.len() - keep;
                sink(self.buf.get(..n).unwrap_or(&[]));
                self.buf.drain(..n);
            }
            if !self.more()? {
                return Err(ApiErr::new(400, "bad upload request"));
            }
        }
    }

    fn drain_rest(&mut self) {
        self.buf.clear();
        while self.remaining > 0 {
            match self.more() {
                Ok(true) => self.buf.clear(),
                _ => break,
            }
        }
    }
}

enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    fn new(algo: &str) -> Option<Self> {
        Some(match algo {
            "md5" => Hasher::Md5(Md5::new()),
            "sha1" => Hasher::Sha1(Sha1::new()),
            "sha224" => Hasher::Sha224(Sha224::new()),
            "sha256" => Hasher::Sha256(Sha256::new()),
            "sha384" => Hasher::Sha384(Sha384::new()),
            "sha512" => Hasher::Sha512(Sha512::new()),
            _ => return None,
        })
    }
    fn update(&mut self, d: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(d),
            Hasher::Sha1(h) => h.update(d),
            Hasher::Sha224(h) => h.update(d),
            Hasher::Sha256(h) => h.update(d),
            Hasher::Sha384(h) => h.update(d),
            Hasher::Sha512(h) => h.update(d),
        }
    }
    fn finish(self) -> String {
        match self {
            Hasher::Md5(h) => hex(&h.finalize()),
            Hasher::Sha1(h) => hex(&h.finalize()),
            Hasher::Sha224(h) => hex(&h.finalize()),
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Sha384(h) => hex(&h.finalize()),
            Hasher::Sha512(h) => hex(&h.finalize()),
        }
    }
}

/// `name` and `filename` from a part's headers (matched literally, like PVE).
fn part_names(head: &str) -> (Option<String>, Option<String>) {
    let mut name = None;
    let mut filename = None;
    for line in head.split("\r\n") {
        let Some(rest) = line.strip_prefix("Content-Disposition: form-data;") else {
            continue;
        };
        for item in rest.split(';') {
            let item = item.trim();
            if let Some(v) = item.strip_prefix("name=\"") {
                name = v.strip_suffix('"').map(str::to_owned);
            } else if let Some(v) = item.strip_prefix("filename=\"") {
                filename = v.strip_suffix('"').map(str::to_owned);
            }
        }
    }
    (name, filename)
}

fn boundary(ct: &str) -> Option<String> {
    let rest = ct.strip_prefix("multipart/form-data")?;
    let b = rest
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?;
    let b = b.trim_matches('"');
    (!b.is_empty()).then(|| b.to_owned())
}

/// Handle an upload: returns the response, the auth kind and the text fields for the log.
pub(crate) fn handle(
    shared: &crate::state::Shared,
    conn: &mut Conn,
    req: &Request,
    rel: &str,
) -> (Response, AuthKind, Vec<(String, String)>) {
    let segs: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    let (node, storage) = match segs.as_slice() {
        ["nodes", n, "storage", s, "upload"] => ((*n).to_owned(), (*s).to_owned()),
        _ => (String::new(), String::new()),
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    // Authenticate before reading the body (no CSRF token needed for uploads).
    let (kind, caller, node) = {
        let st = shared.lock();
        let (kind, caller) = auth::authenticate(shared, &st, req);
        let caller = match caller {
            Ok(c) => c,
            Err(e) => return (e.into_response(shared, false), kind, fields),
        };
        let node = match check_node(shared, &st, &node) {
            Ok(n) => n,
            Err(e) => return (e.into_response(shared, false), kind, fields),
        };
        if !st.storages.iter().any(|s| s.name == storage) {
            let e = ApiErr::new(500, format!("storage '{storage}' does not exist"));
            return (e.into_response(shared, false), kind, fields);
        }
        if caller.userid == crate::LIMITED_USER {
            let e = ApiErr::new(
                403,
                format!("Permission check failed (/storage/{storage}, Datastore.AllocateTemplate)"),
            );
            return (e.into_response(shared, false), kind, fields);
        }
        (kind, caller, node)
    };
    let result = receive(
        shared,
        conn,
        req,
        &node,
        &storage,
        &caller.authid,
        &mut fields,
    );
    let resp = match result {
        Ok(upid) => Response::json(200, "OK", &serde_json::json!({"data": upid})),
        Err(e) => e.into_response(shared, false),
    };
    (resp, kind, fields)
}

fn receive(
    shared: &crate::state::Shared,
    conn: &mut Conn,
    req: &Request,
    node: &str,
    storage: &str,
    authid: &str,
    fields: &mut Vec<(String, String)>,
) -> Result<String, ApiErr> {
    let Some(len) = req.content_length() else {
        return Err(ApiErr::new(400, "bad upload request"));
    };
    let ct = req.header("content-type").unwrap_or("");
    let Some(boundary) = boundary(ct) else {
        return Err(ApiErr::new(506, "unsupported content type"));
    };
    conn.send_continue(req);
    let mut body = Body {
        conn,
        remaining: len,
        buf: Vec::new(),
    };
    let result = parse_parts(&mut body, &boundary, fields);
    body.drain_rest();
    let (file_name, size, sha256, checksum_got) = result?;

    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let Some(content) = get("content") else {
        return Err(ApiErr::params([(
            "content",
            "property is missing and it is not optional",
        )]));
    };
    let checksum = get("checksum");
    let algo = get("checksum-algorithm");
    let dir = check_extension(&content, &file_name)?;
    let now = shared.clock.now();
    let mut st = shared.lock();
    st.tick(now);
    storage_supports(&st, storage, &content)?;
    let tmp = format!("/var/tmp/pveupload-{}", &sha256.get(..32).unwrap_or(""));
    let target = format!("/var/lib/vz/template/{dir}/{file_name}");
    let mut lines = vec![
        format!("starting file import from: {tmp}"),
        format!("target node: {node}"),
        format!("target file: {target}"),
        format!("file size is: {size}"),
    ];
    let mut error = None;
    if let (Some(expect), Some(got)) = (&checksum, &checksum_got) {
        if got.eq_ignore_ascii_case(expect.trim()) {
            lines.push("calculated checksum OK".to_owned());
        } else {
            error = Some(format!(
                "checksum mismatch: got '{got}' != expect '{}'",
                expect.trim().to_ascii_lowercase()
            ));
        }
    }
    if error.is_none() {
        lines.push(format!("command: cp -- {tmp} {target}"));
        lines.push("finished file import successfully".to_owned());
    }
    let vol = Volume {
        volid: format!("{storage}:{dir}/{file_name}"),
        content: content.clone(),
        format: if content == "iso" {
            "iso".into()
        } else {
            "tgz".into()
        },
        size,
        ctime: now.as_secs(),
    };
    let upid = st.new_task(
        shared.config.service,
        now,
        NewTask {
            node,
            kind: "imgcopy",
            id: "",
            user: authid,
            lines,
            error,
            effect: Effect::AddVolume(storage.to_owned(), vol),
            lock_vmid: None,
        },
    );
    st.uploads.push(UploadRecord {
        node: node.to_owned(),
        storage: storage.to_owned(),
        content,
        filename: file_name,
        size,
        sha256,
        checksum,
        checksum_algorithm: algo,
        upid: upid.clone(),
    });
    Ok(upid)
}

type Parsed = (String, u64, String, Option<String>);

fn parse_parts(
    body: &mut Body<'_>,
    boundary: &str,
    fields: &mut Vec<(String, String)>,
) -> Result<Parsed, ApiErr> {
    let first = format!("--{boundary}\r\n");
    let delim = format!("\r\n--{boundary}");
    body.until(first.as_bytes(), MAX_TEXT)?;
    let mut next_text = 0usize;
    loop {
        let head = body.until(b"\r\n\r\n", MAX_PART_HEAD)?;
        let head = String::from_utf8_lossy(&head).into_owned();
        let (name, filename) = part_names(&head);
        let name = name.unwrap_or_default();
        if name == "filename" {
            let Some(file_name) = filename else {
                return Err(ApiErr::new(400, "wrong field name, expected 'filename'"));
            };
            let algo = fields
                .iter()
                .find(|(k, _)| k == "checksum-algorithm")
                .map(|(_, v)| v.clone());
            let mut extra = match &algo {
                Some(a) => Some(Hasher::new(a).ok_or_else(|| {
                    ApiErr::params([(
                        "checksum-algorithm",
                        format!(
                            "value '{a}' does not have a value in the enumeration '{}'",
                            CHECKSUM_ALGOS.join(", ")
                        )
                        .as_str(),
                    )])
                })?),
                None => None,
            };
            let mut sha = Sha256::new();
            let mut size = 0u64;
            body.stream_until(delim.as_bytes(), &mut |d| {
                sha.update(d);
                if let Some(h) = &mut extra {
                    h.update(d);
                }
                size += d.len() as u64;
            })?;
            // The file must be the last part.
            let tail = loop {
                if body.buf.len() >= 2 {
                    break body.buf.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
                }
                if !body.more()? {
                    return Err(ApiErr::new(400, "bad upload request"));
                }
            };
            if tail != b"--" {
                return Err(ApiErr::new(
                    400,
                    "wrong field order: the file must be the last part",
                ));
            }
            return Ok((
                file_name,
                size,
                hex(&sha.finalize()),
                extra.map(Hasher::finish),
            ));
        }
        let pos = TEXT_FIELDS.iter().position(|f| *f == name);
        match pos {
            Some(p) if p >= next_text && filename.is_none() => {
                let value = body.until(delim.as_bytes(), MAX_TEXT)?;
                // After the delimiter: "\r\n" for another part.
                let crlf = body.until(b"\r\n", 2)?;
                if !crlf.is_empty() {
                    return Err(ApiErr::new(400, "bad upload request"));
                }
                fields.push((name, String::from_utf8_lossy(&value).into_owned()));
                next_text = p + 1;
            }
            _ => {
                return Err(ApiErr::new(
                    400,
                    format!("wrong field name '{name}', expected 'filename'"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_and_names() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(boundary("application/json"), None);
        let (n, f) = part_names(
            "Content-Disposition: form-data; name=\"filename\"; filename=\"a.iso\"\r\nContent-Type: application/octet-stream",
        );
        assert_eq!(n.as_deref(), Some("filename"));
        assert_eq!(f.as_deref(), Some("a.iso"));
        let (n, _) = part_names("content-disposition: form-data; name=\"content\"");
        assert_eq!(n, None, "PVE matches the header literally");
    }
}
