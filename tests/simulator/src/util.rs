//! Small encoding helpers: base64, hex, percent-encoding, form parsing.

use sha2::{Digest, Sha256};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64, with or without `=` padding.
pub(crate) fn base64(data: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(B64.get(idx).copied().unwrap_or(b'A')));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Lower-case hex.
pub(crate) fn hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Upper-case colon-separated hex (certificate fingerprint style).
pub(crate) fn colon_hex(data: &[u8]) -> String {
    data.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// SHA-256 over the concatenation of `parts`, each prefixed by its length.
pub(crate) fn keyed_hash(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((key.len() as u64).to_be_bytes());
    h.update(key);
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn from_hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode; `plus_space` turns `+` into a space (form encoding).
pub(crate) fn percent_decode(s: &str, plus_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(from_hex_digit);
            let lo = bytes.get(i + 2).copied().and_then(from_hex_digit);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        if b == b'+' && plus_space {
            out.push(b' ');
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse `a=1&b=2;c` like pve-http-server (splits on `&` and `;`, `+` is a space).
pub(crate) fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split(['&', ';'])
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
            None => (percent_decode(p, true), String::new()),
        })
        .collect()
}

/// Parse a JSON object body into flat pairs (arrays repeat the key, booleans become 1/0).
pub(crate) fn json_to_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let mut out = Vec::new();
    for (k, v) in obj {
        push_json(&mut out, k, v);
    }
    Some(out)
}

fn push_json(out: &mut Vec<(String, String)>, k: &str, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push((k.to_owned(), if *b { "1" } else { "0" }.to_owned())),
        Value::Number(n) => out.push((k.to_owned(), n.to_string())),
        Value::String(s) => out.push((k.to_owned(), s.clone())),
        Value::Array(a) => {
            for item in a {
                push_json(out, k, item);
            }
        }
        Value::Object(_) => out.push((k.to_owned(), v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"", true), "");
        assert_eq!(base64(b"f", true), "Zg==");
        assert_eq!(base64(b"fo", true), "Zm8=");
        assert_eq!(base64(b"foo", true), "Zm9v");
        assert_eq!(base64(b"foob", false), "Zm9vYg");
        assert_eq!(base64(&[0xfb, 0xff], true), "+/8=");
    }

    #[test]
    fn form_parsing_like_pve() {
        let p = parse_form("a=1+2&b=%3B;c&d=x%");
        assert_eq!(
            p,
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), ";".into()),
                ("c".into(), String::new()),
                ("d".into(), "x%".into())
            ]
        );
    }

    #[test]
    fn json_pairs() {
        let p = json_to_pairs(br#"{"a":true,"b":[1,"x"],"c":null}"#).unwrap_or_default();
        assert_eq!(
            p,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "1".into()),
                ("b".into(), "x".into())
            ]
        );
    }
}
