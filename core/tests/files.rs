//! Checksum files, checksum discovery, upload framing and download-url, checked against the
//! proxmoxer 2.3.0 vectors (`checksum_*`, `files_flows`, and the multipart vectors of
//! `https_request_encoding`) and with property tests.
//!
//! A vector marked `same` is asserted as is; one marked `differs: X` is asserted as X.

use proptest::prelude::*;
use proxmox_proto::checksum::{
    Candidate, CandidateKind, Checksum, ChecksumAlgorithm, ChecksumDiscovery, ChecksumFile,
    DiscoveryOutcome, StreamingDigest, candidate_urls, find_checksum,
};
use proxmox_proto::upload::{
    DownloadUrl, MultipartFrame, Upload, UploadContent, UrlMetadata, query_url_metadata,
};
use serde_json::Value;
use std::collections::BTreeSet;

const CHECKSUM_TYPES: &str = include_str!("data/checksum_types.json");
const CHECKSUM_URLS: &str = include_str!("data/checksum_urls.json");
const CHECKSUM_PARSE: &str = include_str!("data/checksum_parse.json");
const CHECKSUM_DISCOVERY: &str = include_str!("data/checksum_discovery.json");
const FILES_FLOWS: &str = include_str!("data/files_flows.json");
const HTTPS_REQUEST_ENCODING: &str = include_str!("data/https_request_encoding.json");

/// The 32-hex-digit boundary used where a vector says `{BOUNDARY}`.
const BOUNDARY: &str = "0123456789abcdef0123456789abcdef";
const H64: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn load(text: &str) -> Vec<Value> {
    serde_json::from_str(text).expect("vector file is a JSON list")
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{ptr} is not a string in {v}"))
}

fn ours(v: &Value) -> &str {
    s(v, "/ours")
}

fn name(v: &Value) -> &str {
    s(v, "/name")
}

/// Every vector of an area must be handled by name: a new vector fails the test until it is.
fn assert_all_handled(vectors: &[Value], handled: &[&str]) {
    let have: BTreeSet<&str> = vectors.iter().map(name).collect();
    let want: BTreeSet<&str> = handled.iter().copied().collect();
    assert_eq!(
        have, want,
        "vector names differ from the ones this test handles"
    );
}

fn alg(label: &str) -> ChecksumAlgorithm {
    ChecksumAlgorithm::from_label(label).unwrap_or_else(|| panic!("algorithm {label}"))
}

/// A canned server: `Some((status, body))` or `None` for a connection error.
type Server<'a> = &'a dyn Fn(&str) -> Option<(u16, Vec<u8>)>;

/// Drive a discovery to the end; returns the URLs fetched, in order.
fn drive(d: &mut ChecksumDiscovery, server: Server<'_>) -> Vec<String> {
    let mut fetched = Vec::new();
    while let Some(url) = d.next_fetch() {
        match server(&url) {
            Some((status, body)) => d.handle_fetch(&url, status, &body).expect("pending url"),
            None => d.handle_failure(&url).expect("pending url"),
        }
        fetched.push(url);
        assert!(fetched.len() <= 18, "too many fetches");
    }
    fetched
}

fn urls(c: &[Candidate]) -> Vec<&str> {
    c.iter().map(|c| c.url.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// checksum_types
// ---------------------------------------------------------------------------------------------

#[test]
fn vectors_checksum_types() {
    let v = load(CHECKSUM_TYPES);
    assert_all_handled(&v, &["checksum_info_str_repr"]);
    // The Python utility class has no Rust counterpart; what it stands for is the typed table.
    assert!(ours(&v[0]).starts_with("differs: not applicable in Rust"));
    // Its made-up "name"/123-digit type cannot exist here.
    assert_eq!(ChecksumAlgorithm::from_label(s(&v[0], "/input/name")), None);
    assert_eq!(ChecksumAlgorithm::from_hex_len(123), None);
    let table: Vec<(&str, usize)> = ChecksumAlgorithm::PREFERENCE
        .iter()
        .map(|a| (a.name(), a.hex_len()))
        .collect();
    assert_eq!(
        table,
        [
            ("sha512", 128),
            ("sha256", 64),
            ("sha224", 56),
            ("sha384", 96),
            ("md5", 32),
            ("sha1", 40)
        ]
    );
    for a in ChecksumAlgorithm::ALL {
        assert_eq!(a.to_string(), a.name());
        assert_eq!(
            serde_json::to_value(a).expect("serialize"),
            Value::from(a.name())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// checksum_urls
// ---------------------------------------------------------------------------------------------

#[test]
fn vectors_checksum_urls() {
    let v = load(CHECKSUM_URLS);
    assert_all_handled(
        &v,
        &[
            "candidate_order_default_preference",
            "candidate_order_md5_preferred",
            "sha256_urls_for_example_com_file_iso_frag",
            "sha256_urls_for_example_com",
        ],
    );
    for vec in &v {
        let url = s(vec, "/input/url");
        match name(vec) {
            "candidate_order_default_preference" | "candidate_order_md5_preferred" => {
                assert_eq!(ours(vec), "same");
                let preferred = alg(s(vec, "/input/preferred_type"));
                let expected: Vec<&str> = vec["expected"]["requested_urls_in_order"]
                    .as_array()
                    .expect("list")
                    .iter()
                    .map(|u| u.as_str().expect("url"))
                    .collect();
                let c = candidate_urls(url, Some(preferred)).expect("valid url");
                assert_eq!(urls(&c), expected);
                // Nothing answers: the same URLs are fetched in the same order, result "none".
                assert_eq!(vec["expected"]["result"], serde_json::json!([null, null]));
                let mut d = ChecksumDiscovery::new(url, None, Some(preferred)).expect("valid");
                let fetched = drive(&mut d, &|_| Some((404, b"Not Found".to_vec())));
                assert_eq!(fetched, expected);
                assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound));
            }
            "sha256_urls_for_example_com_file_iso_frag" => {
                assert!(
                    ours(vec)
                        .starts_with("differs: extension candidates are built on the URL path")
                );
                let c = candidate_urls(url, Some(alg(s(vec, "/input/checksum")))).expect("valid");
                let sha256: Vec<&Candidate> = c
                    .iter()
                    .filter(|c| c.algorithm == ChecksumAlgorithm::Sha256)
                    .collect();
                assert_eq!(sha256.len(), 3);
                assert_eq!(sha256[0].kind, CandidateKind::SumsFile);
                assert_eq!(sha256[0].url, s(vec, "/expected/sibling"));
                assert_eq!(sha256[1].url, "https://example.com/file.iso.sha256");
                assert_eq!(sha256[2].url, "https://example.com/file.iso.SHA256");
                assert!(c.iter().all(|c| !c.url.contains('#')));
            }
            "sha256_urls_for_example_com" => {
                assert!(ours(vec).starts_with("differs: the URL path names no file"));
                let c = candidate_urls(url, Some(alg(s(vec, "/input/checksum")))).expect("valid");
                assert_eq!(c[0].url, s(vec, "/expected/sibling"));
                assert!(c.iter().all(|c| c.kind == CandidateKind::SumsFile));
                assert!(!urls(&c).contains(&s(vec, "/expected/extension")));
                assert!(!urls(&c).contains(&s(vec, "/expected/extension_upper")));
                // And the discovery has no file name to look for: it ends at once.
                let d = ChecksumDiscovery::new(url, None, None).expect("valid");
                assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound));
            }
            other => panic!("unhandled {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// checksum_parse
// ---------------------------------------------------------------------------------------------

#[test]
fn vectors_checksum_parse() {
    let v = load(CHECKSUM_PARSE);
    assert_all_handled(
        &v,
        &[
            "tests_extension",
            "tests_extension_upper",
            "gnu_two_spaces",
            "substring_match_zsync_line_first",
            "substring_match_longer_name_first",
            "bsd_format_not_supported_returns_garbage",
            "hash_only_file_no_filename_no_match",
            "comment_line_containing_name",
            "short_line_returned_whole",
            "no_match",
            "connection_error_or_read_timeout_returns_none",
        ],
    );
    for vec in &v {
        let n = name(vec);
        if n == "connection_error_or_read_timeout_returns_none" {
            assert_eq!(ours(vec), "same");
            // A failed fetch yields nothing and discovery moves on to the next candidate.
            let mut d =
                ChecksumDiscovery::new("https://sub.domain.tld/file.iso", None, None).expect("ok");
            let first = d.next_fetch().expect("a candidate");
            d.handle_failure(&first).expect("pending");
            assert_ne!(d.next_fetch().as_deref(), Some(first.as_str()));
            assert!(!d.is_finished());
            continue;
        }
        let body = s(vec, "/input/sums_body");
        let file = s(vec, "/input/filename");
        assert_eq!(vec["input"]["http_status"], 200);
        let label = s(vec, "/input/checksum_info/name");
        let Some(algorithm) = ChecksumAlgorithm::from_label(label) else {
            // "testing", 16 characters: a made-up algorithm and a non-hex "hash".
            assert!(ours(vec).starts_with("differs: the fixture uses a made-up algorithm"));
            assert_eq!(label, "testing");
            for a in ChecksumAlgorithm::ALL {
                assert_eq!(find_checksum(body.as_bytes(), file, Some(a)), None);
            }
            assert_eq!(find_checksum(body.as_bytes(), file, None), None);
            assert!(ChecksumFile::parse(body.as_bytes()).entries().is_empty());
            continue;
        };
        let expected: Option<&str> = match n {
            "gnu_two_spaces" | "no_match" => {
                assert_eq!(ours(vec), "same");
                vec["expected"].as_str()
            }
            "substring_match_zsync_line_first"
            | "substring_match_longer_name_first"
            | "comment_line_containing_name" => {
                assert!(ours(vec).starts_with("differs: exact file-name match"));
                Some(H64)
            }
            "bsd_format_not_supported_returns_garbage" => {
                assert!(ours(vec).starts_with("differs: the BSD"));
                Some(H64)
            }
            "hash_only_file_no_filename_no_match" => {
                assert!(ours(vec).starts_with("differs: a bare single-hash file"));
                Some(H64)
            }
            "short_line_returned_whole" => {
                assert!(ours(vec).starts_with("differs: 'abc' is not a hex hash"));
                None
            }
            other => panic!("unhandled {other}"),
        };
        let got = find_checksum(body.as_bytes(), file, Some(algorithm));
        assert_eq!(got.as_ref().map(Checksum::hex), expected, "{n}");
        if let Some(c) = &got {
            assert_eq!(c.algorithm(), algorithm);
        }
        // Without a requested algorithm, the hex length decides: same answer.
        let any = find_checksum(body.as_bytes(), file, None);
        assert_eq!(any, got, "{n}");
        // Fed through discovery at the extension URL `file.iso.sha256`, the same answer.
        let mut d = ChecksumDiscovery::new(
            &format!("https://sub.domain.tld/extension/{file}"),
            None,
            Some(algorithm),
        )
        .expect("ok");
        let fetched = drive(&mut d, &|u| {
            (u == format!("https://sub.domain.tld/extension/{file}.{label}"))
                .then(|| (200, body.as_bytes().to_vec()))
        });
        assert_eq!(
            fetched[1],
            format!("https://sub.domain.tld/extension/{file}.sha256")
        );
        assert_eq!(d.checksum().map(Checksum::hex), expected, "{n}");
    }
}

// ---------------------------------------------------------------------------------------------
// checksum_discovery
// ---------------------------------------------------------------------------------------------

#[test]
fn vectors_checksum_discovery() {
    let v = load(CHECKSUM_DISCOVERY);
    assert_all_handled(
        &v,
        &[
            "all_checksums_preferred_sha512",
            "all_checksums_preferred_sha384",
            "all_checksums_preferred_md5",
            "missing_everywhere",
            "sibling_success_discovered_filename",
            "sibling_success_explicit_filename",
            "sibling_fail",
            "extension_fail_connectionerror",
            "extension_upper_fail",
        ],
    );
    let token130 = "1234567890".repeat(13);
    for vec in &v {
        let url = s(vec, "/input/url");
        match name(vec) {
            n if n.starts_with("all_checksums_preferred_") => {
                assert!(ours(vec).starts_with("differs: the served line holds a 130-digit token"));
                let preferred = alg(s(vec, "/input/preferred_type"));
                // The vector's expected value is the token cut to the algorithm's length.
                assert_eq!(
                    s(vec, "/expected/checksum"),
                    &token130[..preferred.hex_len()]
                );
                let body = format!("{token130} file.iso");
                let prefix = format!("{url}.");
                let mut d = ChecksumDiscovery::new(url, None, Some(preferred)).expect("ok");
                let fetched = drive(&mut d, &|u| {
                    u.starts_with(&prefix)
                        .then(|| (200, body.clone().into_bytes()))
                });
                assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound), "{n}");
                // Same candidate order: preferred first, SUMS, .alg, .ALG.
                let c = candidate_urls(url, Some(preferred)).expect("ok");
                assert_eq!(fetched, urls(&c));
                let sums = format!(
                    "https://sub.domain.tld/checksums/{}",
                    preferred.sums_file_name()
                );
                let ext = format!("{url}.{}", preferred.name());
                let ext_upper = format!("{url}.{}", preferred.upper_name());
                assert_eq!(
                    fetched[..3],
                    [sums.as_str(), ext.as_str(), ext_upper.as_str()]
                );
                // A valid hash in the same shape is found at once.
                let good = "1".repeat(preferred.hex_len());
                let mut d = ChecksumDiscovery::new(url, None, Some(preferred)).expect("ok");
                drive(&mut d, &|u| {
                    u.starts_with(&prefix)
                        .then(|| (200, format!("{good} file.iso").into_bytes()))
                });
                assert_eq!(d.found_at(), Some(ext.as_str()));
                assert_eq!(d.checksum().map(Checksum::algorithm), Some(preferred));
            }
            "missing_everywhere" => {
                assert_eq!(ours(vec), "same");
                let mut d = ChecksumDiscovery::new(url, None, None).expect("ok");
                let fetched = drive(&mut d, &|_| None);
                assert_eq!(fetched.len(), 18);
                assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound));
                assert!(vec["expected"]["checksum"].is_null());
            }
            n @ ("sibling_success_discovered_filename" | "sibling_success_explicit_filename") => {
                assert!(ours(vec).starts_with("differs: the fixture uses a made-up algorithm"));
                assert_eq!(
                    ChecksumAlgorithm::from_label(s(vec, "/input/checksum_info/name")),
                    None
                );
                // The mock serves "this_is_the_hash  file.iso" as the sums file: nothing valid.
                let file_name = vec["input"]["filename"].as_str();
                let mut d = ChecksumDiscovery::new(url, file_name, None).expect("ok");
                assert_eq!(d.file_name(), "file.iso");
                drive(&mut d, &|_| {
                    Some((200, b"this_is_the_hash  file.iso\n".to_vec()))
                });
                assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound), "{n}");
            }
            n @ ("sibling_fail" | "extension_fail_connectionerror" | "extension_upper_fail") => {
                assert_eq!(ours(vec), "same");
                assert!(vec["expected"].is_null());
                let file_name = vec["input"]["filename"].as_str();
                let mut d = ChecksumDiscovery::new(url, file_name, None).expect("ok");
                // The files that exist in the mock are for file.iso, not for this name; the
                // "connectionerror" URLs fail to connect.
                let fetched = drive(&mut d, &|u| {
                    if u.contains("connectionerror") {
                        None
                    } else {
                        Some((200, format!("{H64}  file.iso\n").into_bytes()))
                    }
                });
                assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound), "{n}");
                assert_eq!(fetched.len(), 18);
            }
            other => panic!("unhandled {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// files_flows
// ---------------------------------------------------------------------------------------------

/// Split `https://1.2.3.4:1234/api2/json/<path>?<query>` into (path, query).
fn api_path_and_query(url: &str) -> (&str, &str) {
    let rest = url.split_once("/api2/json").expect("api url").1;
    rest.split_once('?').unwrap_or((rest, ""))
}

fn form_without(body: &str, drop: &[&str]) -> String {
    body.split('&')
        .filter(|kv| !drop.contains(&kv.split('=').next().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("&")
}

fn with_boundary(text: &str) -> String {
    text.replace("{BOUNDARY}", BOUNDARY)
}

fn check_frame_against(frame: &MultipartFrame, file: &[u8], expected_body: &str) {
    let body = frame.assemble(file).expect("right length");
    assert_eq!(String::from_utf8_lossy(&body), expected_body);
    assert_eq!(frame.content_length(), body.len() as u64);
    assert_eq!(
        frame.head().len() + file.len() + frame.tail().len(),
        body.len()
    );
}

#[test]
fn vectors_files_flows() {
    let v = load(FILES_FLOWS);
    assert_all_handled(
        &v,
        &[
            "repr",
            "get_file_info_pass",
            "download_discover_checksum_request_sequence",
            "download_explicit_checksum_non_blocking",
            "download_uneven_checksum",
            "download_no_discovered_checksum_warns",
            "upload_no_file",
            "upload_directory",
            "upload_proxmox_error_propagates",
            "upload_request_sequence",
            "upload_no_checksum_non_blocking_vztmpl",
        ],
    );
    for vec in &v {
        match name(vec) {
            "repr" | "download_uneven_checksum" => {
                // No Python repr; a checksum and its algorithm are one typed value.
                assert!(ours(vec).starts_with("differs: not applicable in Rust"));
            }
            "upload_no_file" | "upload_directory" => {
                // The core never touches files: the adapter opens the file and returns its
                // typed error; the core only receives a length. Nothing to assert here beyond
                // the annotation.
                assert!(
                    ours(vec)
                        .starts_with("differs: a missing or non-regular file is a typed error")
                );
            }
            "upload_proxmox_error_propagates" => {
                // The 500 answer is an ordinary API error, read by the response module; the
                // upload call itself is an ordinary POST on the named storage.
                assert_eq!(ours(vec), "same");
                let up = Upload::new(
                    "node1",
                    s(vec, "/input/storage"),
                    UploadContent::Iso,
                    "a.iso",
                    1,
                )
                .expect("ok");
                assert_eq!(
                    up.call().expect("call").path.to_string(),
                    "/nodes/node1/storage/missing/upload"
                );
                let err = proxmox_proto::response::parse_data::<String>(
                    500,
                    None,
                    b"storage 'missing' does not exist",
                )
                .expect_err("500 is an error");
                let api = err.api().expect("an API error");
                assert_eq!(api.status, vec["expected"]["status_code"]);
                assert_eq!(api.reason, s(vec, "/expected/status_message"));
            }
            "get_file_info_pass" => {
                assert_eq!(ours(vec), "same");
                let url = s(vec, "/input/url");
                let call = query_url_metadata("node1", url, None).expect("ok");
                assert_eq!(call.method.to_string(), s(vec, "/input/request/method"));
                assert_eq!(call.path.to_string(), s(vec, "/input/request/path"));
                let params: Vec<(&str, &str)> = call.params.iter().collect();
                assert_eq!(params, [("url", s(vec, "/input/request/params/url"))]);
                let answer = serde_json::json!({ "data": vec["input"]["server_data"] }).to_string();
                let meta: UrlMetadata =
                    proxmox_proto::response::parse_data(200, None, answer.as_bytes())
                        .expect("parse");
                assert_eq!(meta.filename.as_deref(), Some(s(vec, "/expected/filename")));
                assert_eq!(meta.mimetype.as_deref(), Some(s(vec, "/expected/mimetype")));
                assert_eq!(meta.size, vec["expected"]["size"].as_u64());
            }
            "download_discover_checksum_request_sequence" => {
                assert!(
                    ours(vec).starts_with("differs: the fixture's 130-digit 'hash' is not valid")
                );
                let url = s(vec, "/input/url");
                let reqs = vec["expected"]["requests"].as_array().expect("list");
                // 1. metadata GET on the storage's node.
                let meta = query_url_metadata("node1", url, None).expect("ok");
                let (path, query) = api_path_and_query(s(&reqs[0], "/url"));
                assert_eq!(meta.path.to_string(), path);
                assert_eq!(meta.params.to_form(), query);
                // 2. discovery: same first fetches, then (130-digit token) nothing found.
                let mut d = ChecksumDiscovery::new(url, Some("file.iso"), None).expect("ok");
                let token = "1234567890".repeat(13);
                let prefix = format!("{url}.");
                let fetched = drive(&mut d, &|u| {
                    u.starts_with(&prefix)
                        .then(|| (200, format!("{token} file.iso").into_bytes()))
                });
                assert_eq!(fetched[0], s(&reqs[1], "/url"));
                assert_eq!(fetched[1], s(&reqs[2], "/url"));
                assert_eq!(fetched.len(), 18);
                assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound));
                // 3. download-url without the checksum fields, otherwise the same body.
                let dl = DownloadUrl::new(url, UploadContent::Iso, "file.iso").expect("ok");
                let call = dl.call("node1", "storage1").expect("ok");
                assert_eq!(call.method.to_string(), s(&reqs[3], "/method"));
                assert_eq!(
                    call.path.to_string(),
                    api_path_and_query(s(&reqs[3], "/url")).0
                );
                assert_eq!(
                    call.params.to_form(),
                    form_without(s(&reqs[3], "/body"), &["checksum", "checksum-algorithm"])
                );
            }
            "download_explicit_checksum_non_blocking" => {
                assert!(
                    ours(vec).starts_with(
                        "differs: the status request goes to the node named in the UPID"
                    )
                );
                let url = s(vec, "/input/url");
                let reqs = vec["expected"]["requests"].as_array().expect("list");
                let meta = query_url_metadata("node1", url, None).expect("ok");
                let (path, query) = api_path_and_query(s(&reqs[0], "/url"));
                assert_eq!(
                    (
                        meta.path.to_string().as_str(),
                        meta.params.to_form().as_str()
                    ),
                    (path, query)
                );
                // "abc" is no sha256: our typed checksum refuses it before anything is sent.
                let algorithm = alg(s(vec, "/input/checksum_type"));
                assert!(Checksum::new(algorithm, s(vec, "/input/checksum")).is_err());
                // With a valid sha256 the POST is byte for byte the vector's, field order included.
                let c = Checksum::new(algorithm, H64).expect("valid");
                let call = DownloadUrl::new(url, UploadContent::Iso, "file.iso")
                    .expect("ok")
                    .checksum(c)
                    .call("node1", "storage1")
                    .expect("ok");
                assert_eq!(
                    call.path.to_string(),
                    api_path_and_query(s(&reqs[1], "/url")).0
                );
                assert_eq!(
                    call.params.to_form(),
                    s(&reqs[1], "/body").replace("checksum=abc", &format!("checksum={H64}"))
                );
            }
            "download_no_discovered_checksum_warns" => {
                assert_eq!(ours(vec), "same");
                let p = DownloadUrl::new(s(vec, "/input/url"), UploadContent::Iso, "file.iso")
                    .expect("ok")
                    .params();
                for key in vec["expected"]["download_params_omit"]
                    .as_array()
                    .expect("list")
                {
                    assert_eq!(p.get(key.as_str().expect("key")), None);
                }
            }
            "upload_request_sequence" => {
                assert_eq!(ours(vec), "same");
                let bytes = s(vec, "/input/file_bytes").as_bytes();
                // The checksum proxmoxer sent is the sha512 of the file: our streaming digest
                // gives the same, fed in odd-sized chunks.
                let mut digest = StreamingDigest::new(ChecksumAlgorithm::Sha512);
                for chunk in bytes.chunks(7) {
                    digest.update(chunk);
                }
                let up = Upload::new(
                    s(vec, "/input/node"),
                    s(vec, "/input/storage"),
                    UploadContent::Iso,
                    s(vec, "/input/file_basename"),
                    bytes.len() as u64,
                )
                .expect("ok")
                .with_checksum(digest.finish());
                let req = &vec["expected"]["requests"][0];
                let call = up.call().expect("call");
                assert_eq!(call.method.to_string(), s(req, "/method"));
                assert_eq!(call.path.to_string(), api_path_and_query(s(req, "/url")).0);
                let frame = up.frame(BOUNDARY).expect("frame");
                assert_eq!(frame.content_type(), with_boundary(s(req, "/content_type")));
                check_frame_against(&frame, bytes, &with_boundary(s(req, "/body")));
            }
            "upload_no_checksum_non_blocking_vztmpl" => {
                assert!(
                    ours(vec).starts_with(
                        "differs: the status request goes to the node named in the UPID"
                    )
                );
                let bytes = s(vec, "/input/file_bytes").as_bytes();
                let up = Upload::new(
                    "node1",
                    "storage1",
                    UploadContent::Vztmpl,
                    s(vec, "/input/file_basename"),
                    bytes.len() as u64,
                )
                .expect("ok");
                let req = &vec["expected"]["requests"][0];
                assert_eq!(
                    up.call().expect("call").path.to_string(),
                    api_path_and_query(s(req, "/url")).0
                );
                let frame = up.frame(BOUNDARY).expect("frame");
                assert_eq!(frame.content_type(), with_boundary(s(req, "/content_type")));
                check_frame_against(&frame, bytes, &with_boundary(s(req, "/body")));
            }
            other => panic!("unhandled {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// https_request_encoding: the multipart vectors
// ---------------------------------------------------------------------------------------------

#[test]
fn vectors_upload_encoding() {
    let all = load(HTTPS_REQUEST_ENCODING);
    let get = |n: &str| {
        all.iter()
            .find(|v| name(v) == n)
            .unwrap_or_else(|| panic!("vector {n}"))
    };

    // A nameless file part: we always name it, the rest of the bytes are the same.
    let v = get("upload_bytesio_no_filename");
    assert!(ours(v).starts_with("differs: the upload always names the file part"));
    let up = Upload::new("pve", "local", UploadContent::Iso, "x.iso", 3).expect("ok");
    let call = up.call().expect("call");
    assert_eq!(
        call.path.to_string(),
        api_path_and_query(s(v, "/expected/url")).0
    );
    let frame = up.frame(BOUNDARY).expect("frame");
    let expected = with_boundary(s(v, "/expected/body")).replace(
        "name=\"filename\"\r\n",
        "name=\"filename\"; filename=\"x.iso\"\r\n",
    );
    check_frame_against(&frame, b"abc", &expected);
    let their_len: u64 = s(v, "/expected/content_length").parse().expect("number");
    assert_eq!(
        frame.content_length(),
        their_len + "; filename=\"x.iso\"".len() as u64
    );

    // Beyond any threshold (2 GiB, 4 GiB): the length is computed, nothing is refused.
    for n in [
        "session_streaming_file_multipart",
        "session_too_large_without_toolbelt",
        "session_too_large_with_toolbelt_streams",
    ] {
        let v = get(n);
        assert!(ours(v).starts_with("differs:"), "{n}");
        let size = v["input"]["data"]["iso"]["size"].as_u64().expect("size");
        for len in [size, (2u64 << 30) + 1, (4u64 << 30) + 1, 1 << 50] {
            let f = Upload::new("pve", "local", UploadContent::Iso, "big.iso", len)
                .expect("ok")
                .frame(BOUNDARY)
                .expect("frame");
            assert_eq!(
                f.content_length(),
                f.head().len() as u64 + len + f.tail().len() as u64
            );
            assert_eq!(f.file_len(), len);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// A multipart reader that follows PVE's rules: parts separated by `\r\n--B`, the first
/// delimiter at the start of the body, the last one followed by `--\r\n`; headers end at an
/// empty line. Returns (headers, content) per part.
fn parse_multipart(body: &[u8], boundary: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let delim = format!("\r\n--{boundary}").into_bytes();
    let mut data = b"\r\n".to_vec();
    data.extend_from_slice(body);
    let mut pieces = Vec::new();
    let mut rest = data.as_slice();
    loop {
        let at = find(rest, &delim)?;
        pieces.push(&rest[..at]);
        rest = &rest[at + delim.len()..];
        if rest == b"--\r\n" {
            break;
        }
        rest = rest.strip_prefix(b"\r\n")?;
    }
    if !pieces.first()?.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for p in &pieces[1..] {
        let split = find(p, b"\r\n\r\n")?;
        let headers = String::from_utf8(p[..split].to_vec()).ok()?;
        parts.push((headers, p[split + 4..].to_vec()));
    }
    Some(parts)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn algorithm_strategy() -> impl Strategy<Value = ChecksumAlgorithm> {
    prop::sample::select(ChecksumAlgorithm::ALL.to_vec())
}

fn checksum_strategy() -> impl Strategy<Value = Checksum> {
    (algorithm_strategy(), any::<bool>()).prop_flat_map(|(a, upper)| {
        prop::collection::vec(
            prop::sample::select(b"0123456789abcdef".to_vec()),
            a.hex_len(),
        )
        .prop_map(move |digits| {
            let hex = String::from_utf8(digits).expect("ascii");
            let hex = if upper { hex.to_uppercase() } else { hex };
            Checksum::new(a, &hex).expect("valid by construction")
        })
    })
}

proptest! {
    #[test]
    fn upload_length_and_layout(
        file in prop::collection::vec(any::<u8>(), 0..2048),
        file_name in "[A-Za-z0-9][A-Za-z0-9 ()._+-]{0,40}",
        boundary in "[A-Za-z0-9'+_.-]{1,70}",
        checksum in prop::option::of(checksum_strategy()),
        content in prop::sample::select(vec![UploadContent::Iso, UploadContent::Vztmpl, UploadContent::Import]),
    ) {
        prop_assume!(file_name != "." && file_name != "..");
        prop_assume!(find(&file, format!("\r\n--{boundary}").as_bytes()).is_none());
        let mut up = Upload::new("pve", "local", content, &file_name, file.len() as u64).expect("valid name");
        if let Some(c) = &checksum {
            up = up.with_checksum(c.clone());
        }
        let frame = up.frame(&boundary).expect("valid boundary");
        prop_assert_eq!(
            frame.head().len() as u64 + file.len() as u64 + frame.tail().len() as u64,
            frame.content_length()
        );
        let body = frame.assemble(&file).expect("length");
        prop_assert_eq!(body.len() as u64, frame.content_length());
        let first = format!("--{boundary}\r\n");
        prop_assert!(body.starts_with(first.as_bytes()));
        let last = format!("\r\n--{boundary}--\r\n");
        prop_assert!(body.ends_with(last.as_bytes()));
        prop_assert_eq!(frame.content_type(), format!("multipart/form-data; boundary={boundary}"));

        let parts = parse_multipart(&body, &boundary).expect("parses back");
        let mut expected = vec![(
            "Content-Disposition: form-data; name=\"content\"".to_owned(),
            content.as_str().as_bytes().to_vec(),
        )];
        if let Some(c) = &checksum {
            expected.push((
                "Content-Disposition: form-data; name=\"checksum-algorithm\"".to_owned(),
                c.algorithm().name().as_bytes().to_vec(),
            ));
            expected.push((
                "Content-Disposition: form-data; name=\"checksum\"".to_owned(),
                c.hex().to_lowercase().into_bytes(),
            ));
        }
        expected.push((
            format!("Content-Disposition: form-data; name=\"filename\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream"),
            file.clone(),
        ));
        prop_assert_eq!(parts, expected);
    }

    #[test]
    fn upload_length_any_size(len in any::<u64>(), boundary in "[a-f0-9]{32}") {
        let up = Upload::new("pve", "local", UploadContent::Iso, "a.iso", len).expect("ok");
        match up.frame(&boundary) {
            Ok(f) => prop_assert_eq!(
                f.content_length() as u128,
                f.head().len() as u128 + len as u128 + f.tail().len() as u128
            ),
            Err(_) => prop_assert!(len as u128 + 1000 > u64::MAX as u128),
        }
    }

    #[test]
    fn bad_boundaries_refused(boundary in ".*") {
        let ok = !boundary.is_empty()
            && boundary.len() <= 70
            && boundary.bytes().all(|b| b.is_ascii_alphanumeric() || b"'+_-.".contains(&b));
        let up = Upload::new("pve", "local", UploadContent::Iso, "a.iso", 0).expect("ok");
        prop_assert_eq!(up.frame(&boundary).is_ok(), ok);
    }

    #[test]
    fn checksum_lines_round_trip(
        checksum in checksum_strategy(),
        name in "[A-Za-z0-9()._+-][A-Za-z0-9 ()._+-]{0,30}[A-Za-z0-9()._+-]",
        other in "[A-Za-z0-9._-]{1,20}",
        form in 0..4u8,
        crlf in any::<bool>(),
    ) {
        prop_assume!(name != other);
        let hex = checksum.hex();
        let upper = checksum.algorithm().upper_name();
        let line = match form {
            0 => format!("{hex}  {name}"),
            1 => format!("{hex} *{name}"),
            2 => format!("{upper} ({name}) = {}", hex.to_uppercase()),
            _ => format!("{hex}  ./{name}"),
        };
        let eol = if crlf { "\r\n" } else { "\n" };
        // Decoy lines (longer names containing this one) carry another hash.
        let d = if hex.starts_with('0') { "1" } else { "0" };
        let decoy_hex = format!("{d}{}", &hex[1..]);
        let decoy = format!("{decoy_hex}  {name}{other}{eol}{decoy_hex}  {other}{name}{eol}");
        let body = format!("# {name}{eol}{decoy}{line}{eol}");
        let found = find_checksum(body.as_bytes(), &name, Some(checksum.algorithm()));
        prop_assert_eq!(found.as_ref(), Some(&checksum));
        let any = find_checksum(body.as_bytes(), &name, None);
        prop_assert_eq!(any.as_ref(), Some(&checksum));
        // Another algorithm finds nothing (lengths differ).
        for a in ChecksumAlgorithm::ALL {
            if a != checksum.algorithm() {
                prop_assert_eq!(find_checksum(body.as_bytes(), &name, Some(a)), None);
            }
        }
    }

    #[test]
    fn checksum_parser_never_panics(body in prop::collection::vec(any::<u8>(), 0..512), name in ".{0,10}") {
        let f = ChecksumFile::parse(&body);
        for e in f.entries() {
            prop_assert_eq!(e.checksum.hex().len(), e.checksum.algorithm().hex_len());
        }
        let _ = find_checksum(&body, &name, None);
    }

    #[test]
    fn candidates_never_carry_query_or_fragment(
        host in "[a-z0-9.-]{1,20}",
        path in "(/[A-Za-z0-9%._-]{0,12}){0,4}",
        query in prop::option::of("[A-Za-z0-9=&./]{0,12}"),
        fragment in prop::option::of("[A-Za-z0-9./]{0,12}"),
    ) {
        let mut url = format!("https://{host}{path}");
        if let Some(q) = &query { url.push('?'); url.push_str(q); }
        if let Some(f) = &fragment { url.push('#'); url.push_str(f); }
        let c = candidate_urls(&url, None).expect("valid url");
        prop_assert!(c.len() == 6 || c.len() == 18);
        for cand in &c {
            prop_assert!(!cand.url.contains('?') && !cand.url.contains('#'), "{}", cand.url);
            let origin = format!("https://{host}/");
            prop_assert!(cand.url.starts_with(&origin));
        }
        let mut d = ChecksumDiscovery::new(&url, None, None).expect("valid url");
        let fetched = drive(&mut d, &|_| Some((404, Vec::new())));
        prop_assert!(d.is_finished());
        prop_assert!(fetched.is_empty() || fetched.len() == c.len());
    }

    #[test]
    fn discovery_urls_never_panic(url in ".{0,60}", file in prop::option::of(".{0,10}")) {
        if let Ok(mut d) = ChecksumDiscovery::new(&url, file.as_deref(), None) {
            drive(&mut d, &|_| Some((200, b"x".to_vec())));
            prop_assert_eq!(d.outcome(), Some(&DiscoveryOutcome::NotFound));
        }
    }
}
