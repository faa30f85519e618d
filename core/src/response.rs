//! The response envelope and API errors.
//!
//! PVE answers `{"data": ...}`, sometimes with siblings (`total` for paged lists, `changes` for
//! pending network changes; PBS and PMG add `success`, `status`, `message`). Errors come as an
//! HTTP status whose **reason phrase** carries the message (`500 unable to find configuration
//! file for VM 100`), a body `{"data": null}` or `{"data": null, "errors": {"param": "text"}}`,
//! and on newer servers a `message` member.
//!
//! Adapters hand the core the status code, the reason phrase if their HTTP stack exposes it,
//! and the body bytes:
//!
//! ```
//! use proxmox_proto::response::{parse_data, parse_envelope};
//! use proxmox_proto::ErrorClass;
//!
//! let nodes: Vec<serde_json::Value> = parse_data(200, Some("OK"), br#"{"data":[{"node":"pve"}]}"#).unwrap();
//! assert_eq!(nodes[0]["node"], "pve");
//!
//! let env = parse_envelope::<serde_json::Value>(200, None, br#"{"data":[{"n":1,"t":"start"}],"total":7}"#).unwrap();
//! assert_eq!(env.total, Some(7));
//!
//! let err = parse_data::<serde_json::Value>(
//!     400,
//!     Some("Parameter verification failed."),
//!     br#"{"data":null,"errors":{"vmid":"property is missing and it is not optional"}}"#,
//! ).unwrap_err();
//! let api = err.api().unwrap();
//! assert_eq!(api.class, ErrorClass::BadRequest);
//! assert_eq!(api.param_errors["vmid"], "property is missing and it is not optional");
//! ```

use crate::error::{ApiError, Error, ProtocolError, sanitize_text, snippet};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Default limit for response bodies adapters read into memory: 256 MiB (a 20,000-guest
/// `cluster/resources` is under 10 MiB; the limit is a guard against hostile servers).
pub const DEFAULT_BODY_LIMIT: u64 = 256 * 1024 * 1024;

/// Before reading a response body under `limit`, given its declared `Content-Length` (if
/// any): a declared length over the limit is refused at once ([`ProtocolError::BodyTooLarge`]),
/// unless the body is `encoded` (a `Content-Encoding` the adapter decodes, whose declared
/// length is the encoded one; the decoded bytes are then counted as they come). Otherwise,
/// the capacity to reserve for the body: the declared length, at most 16 MiB so that a lying
/// header costs little.
///
/// ```
/// use proxmox_proto::response::body_capacity;
/// assert_eq!(body_capacity(Some(1_592_934), false, 1 << 28), Ok(1_592_934));
/// assert_eq!(
///     body_capacity(Some(1 << 30), false, 1 << 28).unwrap_err().to_string(),
///     "response body of 1073741824 bytes exceeds the limit of 268435456 bytes"
/// );
/// assert_eq!(body_capacity(Some(1 << 30), true, 1 << 40), Ok(16 << 20));
/// assert_eq!(body_capacity(None, false, 1 << 28), Ok(0));
/// ```
pub fn body_capacity(
    content_length: Option<u64>,
    encoded: bool,
    limit: u64,
) -> Result<usize, ProtocolError> {
    match content_length {
        Some(size) if size > limit && !encoded => Err(ProtocolError::BodyTooLarge { size, limit }),
        Some(size) => Ok(usize::try_from(size.min(16 << 20)).unwrap_or(16 << 20)),
        None => Ok(0),
    }
}

/// How many bytes of a non-JSON body are kept in errors.
const RAW_BODY_KEEP: usize = 4096;

/// A decoded success envelope with its siblings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Envelope<T = Value> {
    /// The `data` member (`null` if absent).
    pub data: T,
    /// `total`, for paged lists (task logs, task lists).
    pub total: Option<u64>,
    /// `changes` (pending network configuration diff).
    pub changes: Option<Value>,
    /// `message`, if the server sent one.
    pub message: Option<String>,
    /// `success`, if the server sent one (PBS, PMG, extjs format).
    pub success: Option<bool>,
}

#[derive(Deserialize)]
struct WireEnvelope<T> {
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default, deserialize_with = "opt_u64_or_junk")]
    total: Option<u64>,
    #[serde(default)]
    changes: Option<Value>,
    #[serde(default, deserialize_with = "opt_string_or_junk")]
    message: Option<String>,
    #[serde(default, deserialize_with = "opt_bool_or_junk")]
    success: Option<bool>,
}

// Sibling members are read leniently: a sibling of an odd type is dropped, never fatal.
fn opt_u64_or_junk<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn opt_string_or_junk<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    })
}

fn opt_bool_or_junk<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        Value::String(s) => match s.as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

#[derive(Deserialize, Default)]
struct WireError {
    #[serde(default)]
    errors: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
}

/// The reason phrase an adapter should pass when its HTTP stack does not expose one.
pub fn canonical_reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or(match status {
            595 => "Errors during connection establishment, proxy handshake",
            596 => "Errors during TLS negotiation, request sending and header processing",
            597 => "Errors during body receiving or processing",
            598 => "User aborted request via on_header or on_body",
            599 => "Other, usually nonretryable, errors (garbled URL etc.)",
            _ => "",
        })
}

/// Whether a status is a success (2xx).
pub fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Turn an error answer into an [`ApiError`]. Never fails: a body that is not JSON is kept as
/// text in [`ApiError::raw_body`].
pub fn api_error(status: u16, reason: Option<&str>, body: &[u8]) -> ApiError {
    let reason = match reason {
        Some(r) if !r.trim().is_empty() => r.to_owned(),
        _ => canonical_reason(status).to_owned(),
    };
    let parsed: Option<WireError> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice(body).ok()
    };
    let message = parsed
        .as_ref()
        .and_then(|p| p.message.as_ref())
        .and_then(|m| match m {
            Value::String(s) => Some(s.trim_end().to_owned()),
            Value::Null => None,
            other => Some(other.to_string()),
        });
    let mut err = ApiError::new(status, reason, message);
    match parsed {
        Some(p) => match p.errors {
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    err.param_errors.insert(k, text.trim_end().to_owned());
                }
            }
            Some(Value::Array(list)) => {
                err.other_errors = list
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect();
            }
            Some(Value::String(s)) if !s.is_empty() => err.other_errors.push(s),
            _ => {}
        },
        None if !body.is_empty() => err.raw_body = Some(snippet(body, RAW_BODY_KEEP)),
        None => {}
    }
    // Re-derive the class now that the body message is known as well.
    err.class = crate::ErrorClass::from_status(
        status,
        &format!("{} {}", err.reason, err.message.as_deref().unwrap_or("")),
    );
    err
}

fn invalid_json(e: &serde_json::Error, body: &[u8]) -> ProtocolError {
    let detail = e.to_string();
    if detail.contains("recursion limit") {
        return ProtocolError::TooDeep { limit: 128 };
    }
    ProtocolError::InvalidJson {
        detail: sanitize_text(&detail),
        snippet: snippet(body, 64),
    }
}

/// `serde_json::from_slice`, with the whole input checked to be UTF-8 once up front so that
/// serde_json need not check every string on its own (faster on big listings; see
/// `BENCHMARKS.md`). Input that is not UTF-8 goes to `serde_json::from_slice`, for its usual
/// error and position.
pub(crate) fn json_from_bytes<'a, T: serde::Deserialize<'a>>(
    bytes: &'a [u8],
) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// What kind of JSON value a document that is not an object starts with, for errors.
fn json_kind(first: u8) -> &'static str {
    match first {
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// Parse a full response into the envelope with `data` read as `T`.
///
/// Non-2xx statuses become [`Error::Api`]. A 2xx body that is not JSON (or has trailing data)
/// is [`ProtocolError::InvalidJson`]; JSON that is not an object (an array, a string, a
/// number...) is [`ProtocolError::UnexpectedShape`], never read by position; an empty 2xx body
/// reads as `data: null`.
///
/// ```
/// use proxmox_proto::response::parse_data;
/// use proxmox_proto::{Error, ProtocolError};
/// let e = parse_data::<serde_json::Value>(200, None, b"[1,2]").unwrap_err();
/// assert!(matches!(e, Error::Protocol(ProtocolError::UnexpectedShape(_))), "{e:?}");
/// assert_eq!(
///     e.to_string(),
///     "protocol error: unexpected response shape: the response is an array, not a JSON object with `data`"
/// );
/// ```
pub fn parse_envelope<T: DeserializeOwned>(
    status: u16,
    reason: Option<&str>,
    body: &[u8],
) -> Result<Envelope<T>, Error> {
    if !is_success(status) {
        return Err(api_error(status, reason, body).into());
    }
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    let body_ref: &[u8] = match first {
        None => b"{}",
        Some(b'{') => body,
        // Not an object. A derived struct would read an array by position (`[1,2]` as data 1,
        // total 2): refuse it, telling JSON of the wrong kind apart from what is not JSON.
        Some(other) => {
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                    Ok(_) => ProtocolError::UnexpectedShape(format!(
                        "the response is {}, not a JSON object with `data`",
                        json_kind(other)
                    )),
                    Err(e) => invalid_json(&e, body),
                }
                .into(),
            );
        }
    };
    // First check the document is JSON at all, so "not JSON" and "wrong type" are told apart.
    let mut wire: WireEnvelope<T> = match json_from_bytes(body_ref) {
        Ok(w) => w,
        Err(e) if e.is_data() => {
            // Valid JSON of the wrong shape: tell which.
            match serde_json::from_slice::<WireEnvelope<Value>>(body_ref) {
                Ok(loose) => return string_scalar_fallback(loose, &e),
                Err(e2) => return Err(invalid_json(&e2, body).into()),
            }
        }
        Err(e) => return Err(invalid_json(&e, body).into()),
    };

    let data = match wire.data.take() {
        Some(d) => d,
        None => T::deserialize(Value::Null).map_err(|e| ProtocolError::Deserialize {
            type_name: std::any::type_name::<T>(),
            detail: format!("no data in the response ({e})"),
        })?,
    };
    Ok(wire.with_data(data))
}

impl<T> WireEnvelope<T> {
    /// The envelope with `data` and this one's siblings.
    fn with_data<D>(self, data: D) -> Envelope<D> {
        Envelope {
            data,
            total: self.total,
            changes: self.changes,
            message: self.message,
            success: self.success,
        }
    }
}

/// `data` did not read as `T`. PVE sends many numbers and booleans as strings (`nextid` is
/// `"102"`): a string that holds a number or a boolean is read as that, once, here on the
/// error path; otherwise the error says so and names [`crate::loose::Loose`].
fn string_scalar_fallback<T: DeserializeOwned>(
    wire: WireEnvelope<Value>,
    first: &serde_json::Error,
) -> Result<Envelope<T>, Error> {
    let as_scalar = match &wire.data {
        Some(Value::String(s)) => match s.trim() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            t => serde_json::from_str::<serde_json::Number>(t)
                .ok()
                .map(Value::Number),
        },
        _ => None,
    };
    let data = match as_scalar.map(T::deserialize) {
        Some(Ok(data)) => data,
        other => {
            let hint = if other.is_some() || matches!(wire.data, Some(Value::String(_))) {
                " (PVE sends some numbers and booleans as strings: \
                 proxmox_proto::loose::Loose<T> reads both)"
            } else {
                ""
            };
            return Err(ProtocolError::Deserialize {
                type_name: std::any::type_name::<T>(),
                detail: format!("{}{hint}", sanitize_text(&first.to_string())),
            }
            .into());
        }
    };
    Ok(wire.with_data(data))
}

/// Parse a full response and return only `data` as `T`.
pub fn parse_data<T: DeserializeOwned>(
    status: u16,
    reason: Option<&str>,
    body: &[u8],
) -> Result<T, Error> {
    parse_envelope(status, reason, body).map(|e| e.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_booleans_sent_as_strings_read_as_such() {
        assert_eq!(
            parse_data::<u32>(200, None, br#"{"data":"102"}"#).unwrap(),
            102
        );
        assert_eq!(
            parse_data::<f64>(200, None, br#"{"data":"0.5"}"#).unwrap(),
            0.5
        );
        assert!(parse_data::<bool>(200, None, br#"{"data":"true"}"#).unwrap());
        assert_eq!(
            parse_data::<String>(200, None, br#"{"data":"102"}"#).unwrap(),
            "102"
        );
        let e = parse_data::<u32>(200, None, br#"{"data":"abc"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "protocol error: cannot read response data as u32: invalid type: string \"abc\", \
             expected u32 at line 1 column 13 (PVE sends some numbers and booleans as strings: \
             proxmox_proto::loose::Loose<T> reads both)"
        );
        let e = parse_data::<u32>(200, None, br#"{"data":[1]}"#).unwrap_err();
        assert!(!e.to_string().contains("Loose"), "{e}");
    }
    use crate::ErrorClass;

    #[test]
    fn success_keeps_siblings() {
        let e: Envelope = parse_envelope(
            200,
            None,
            br#"{"data":[1],"total":"3","changes":"x","success":1,"message":"ok"}"#,
        )
        .unwrap();
        assert_eq!(e.data, serde_json::json!([1]));
        assert_eq!(e.total, Some(3));
        assert_eq!(e.changes, Some(serde_json::json!("x")));
        assert_eq!(e.success, Some(true));
        assert_eq!(e.message.as_deref(), Some("ok"));
    }

    #[test]
    fn success_without_data_is_null() {
        let v: Value = parse_data(200, None, b"").unwrap();
        assert_eq!(v, Value::Null);
        let v: Option<String> = parse_data(200, None, br#"{"data":null}"#).unwrap();
        assert_eq!(v, None);
        let e = parse_data::<Vec<u32>>(200, None, br#"{}"#).unwrap_err();
        assert!(
            matches!(e, Error::Protocol(ProtocolError::Deserialize { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn not_json_and_trailing_data() {
        for body in [
            &b"There was an error with the request"[..],
            "{\"data\": {\"key1\": \"value1\"}, \"errors\": {}}\u{0080}".as_bytes(),
            b"{\"data\": [1,2",
            b"\xff\xfe",
        ] {
            let e = parse_data::<Value>(200, None, body).unwrap_err();
            assert!(
                matches!(e, Error::Protocol(ProtocolError::InvalidJson { .. })),
                "{e:?}"
            );
        }
    }

    #[test]
    fn the_envelope_is_a_json_object_or_an_error() {
        for (body, kind) in [
            (&b"[1,2]"[..], "an array"),
            (b" [null, 7, 1, \"m\", true]", "an array"),
            (b"[]", "an array"),
            (b"\"data\"", "a string"),
            (b"42", "a number"),
            (b"-1.5e3", "a number"),
            (b"true", "a boolean"),
            (b"null", "null"),
        ] {
            let e = parse_envelope::<Value>(200, None, body).unwrap_err();
            let Error::Protocol(ProtocolError::UnexpectedShape(text)) = &e else {
                panic!("{body:?}: {e:?}")
            };
            assert!(text.contains(kind), "{text}");
            // The typed paths agree: never data 1 and total 2 from `[1,2]`.
            assert!(parse_data::<u64>(200, None, body).is_err());
            assert!(parse_data::<Option<u64>>(200, None, body).is_err());
            assert!(crate::models::parse_single::<u64>(body).is_err());
        }
        // Not JSON at all stays an InvalidJson error, and an object still parses.
        let e = parse_data::<Value>(200, None, b"[1,").unwrap_err();
        assert!(
            matches!(e, Error::Protocol(ProtocolError::InvalidJson { .. })),
            "{e:?}"
        );
        let e: Envelope<u64> = parse_envelope(200, None, b" \n{\"data\":1,\"total\":2}").unwrap();
        assert_eq!((e.data, e.total), (1, Some(2)));
        // An error status is an API error whatever the body's shape.
        let e = parse_data::<Value>(500, None, b"[1,2]").unwrap_err();
        assert_eq!(e.api().map(|a| a.status), Some(500));
    }

    #[test]
    fn wrong_type_is_a_deserialize_error() {
        let e = parse_data::<Vec<u32>>(200, None, br#"{"data":{"a":1}}"#).unwrap_err();
        assert!(
            matches!(e, Error::Protocol(ProtocolError::Deserialize { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut body = String::from("{\"data\":");
        body.push_str(&"[".repeat(100_000));
        let e = parse_data::<Value>(200, None, body.as_bytes()).unwrap_err();
        assert!(
            matches!(e, Error::Protocol(ProtocolError::TooDeep { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn errors_map_list_and_message() {
        let e = api_error(
            400,
            Some("Bad Request"),
            br#"{"data": null, "errors": {"vmid": "property is missing and it is not optional"}}"#,
        );
        assert_eq!(e.status, 400);
        assert_eq!(e.reason, "Bad Request");
        assert_eq!(
            e.param_errors["vmid"],
            "property is missing and it is not optional"
        );
        assert_eq!(e.class, ErrorClass::BadRequest);
        let e = api_error(
            400,
            None,
            br#"{"data": {}, "errors": ["missing required param 1", "missing required param 2"]}"#,
        );
        assert_eq!(
            e.other_errors,
            ["missing required param 1", "missing required param 2"]
        );
        let e = api_error(500, Some("Internal Server Error"), br#"{"data":null,"message":"Configuration file 'nodes/x/qemu-server/100.conf' does not exist\n"}"#);
        assert_eq!(e.class, ErrorClass::NotFound);
        assert_eq!(
            e.summary(),
            "Configuration file 'nodes/x/qemu-server/100.conf' does not exist"
        );
    }

    #[test]
    fn error_without_json_keeps_raw_text() {
        let e = api_error(500, Some("this is the reason"), b"this is the error");
        assert_eq!(e.reason, "this is the reason");
        assert!(e.param_errors.is_empty());
        assert_eq!(e.raw_body.as_deref(), Some("this is the error"));
        let e = api_error(501, None, br#"{"data": null}"#);
        assert_eq!(e.reason, "Not Implemented");
        assert_eq!(e.class, ErrorClass::NotFound);
        assert!(e.raw_body.is_none());
        let e = api_error(596, None, b"");
        assert_eq!(e.class, ErrorClass::UpstreamUnreachable);
        assert!(e.reason.starts_with("Errors during TLS"));
    }

    #[test]
    fn unexpected_status_is_an_error() {
        let e = parse_data::<Value>(304, Some("Not Modified"), b"").unwrap_err();
        assert_eq!(e.api().map(|a| a.class), Some(ErrorClass::Unexpected));
    }
}
