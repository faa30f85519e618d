//! Task logs: `GET /nodes/{node}/tasks/{upid}/log?start=&limit=`.
//!
//! `start` is a 0-based line offset and `limit` the number of lines (the server's default is
//! 50; 0 means all). The answer's `data` is a list of `{"n": <1-based line number>, "t":
//! <text>}` and the envelope carries `total`, the number of lines in the whole log. A page
//! need not start at line 1, and its lines may come in any order; [`LogPage`] sorts them by
//! `n`. An empty log is answered with one synthetic line `{n: 1, t: "no content"}`.
//!
//! ```
//! use proxmox_proto::task::LogPage;
//! let page = LogPage::from_envelope_slice(
//!     br#"{"data":[{"n":52,"t":"second"},{"n":51,"t":"first"}],"total":52}"#,
//! ).unwrap();
//! assert_eq!(page.total, Some(52));
//! assert_eq!(page.text(), "first\nsecond");
//! assert_eq!(page.last_n(), Some(52));
//! ```

use super::status::loose_u64;
use crate::error::ProtocolError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The server's default `limit` for log requests.
pub const DEFAULT_LIMIT: u64 = 50;

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogLine {
    /// The 1-based line number.
    pub n: u64,
    /// The text, without the line end (empty when the server sent none).
    pub t: String,
}

/// A page of log lines, sorted by line number, with the log's total line count when known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// The lines, sorted by `n`, each `n` once.
    pub lines: Vec<LogLine>,
    /// The number of lines in the whole log (the envelope's `total`), if the answer had it.
    pub total: Option<u64>,
}

fn malformed(detail: String) -> ProtocolError {
    ProtocolError::Malformed {
        what: "task log page",
        detail,
    }
}

impl LogPage {
    /// Decode the `data` list of a log answer; `total` comes from the envelope, if known.
    ///
    /// Each entry must be an object with a non-negative integer `n` (a number or a numeric
    /// string); a missing or `null` `t` is an empty line; a number or boolean `t` is written as
    /// text. Lines are sorted by `n`; if the same `n` appears twice, the first is kept.
    pub fn from_data(data: &Value, total: Option<u64>) -> Result<Self, ProtocolError> {
        let Value::Array(items) = data else {
            return Err(malformed("expected a list of {n, t} lines".into()));
        };
        let mut lines = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::Object(map) = item else {
                return Err(malformed(format!("entry {i} is not an object")));
            };
            let n = map
                .get("n")
                .map(loose_u64)
                .transpose()
                .map_err(|e| malformed(format!("entry {i}: n: {e}")))?
                .flatten()
                .ok_or_else(|| malformed(format!("entry {i} has no line number n")))?;
            let t = match map.get("t") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(x)) => x.to_string(),
                Some(Value::Bool(b)) => if *b { "1" } else { "0" }.to_owned(),
                Some(_) => return Err(malformed(format!("entry {i}: t is not text"))),
            };
            lines.push(LogLine { n, t });
        }
        lines.sort_by_key(|l| l.n);
        lines.dedup_by_key(|l| l.n);
        Ok(Self { lines, total })
    }

    /// Decode a whole answer `{"data": [...], "total": n}`.
    pub fn from_envelope(body: &Value) -> Result<Self, ProtocolError> {
        let Value::Object(map) = body else {
            return Err(malformed("the answer is not a JSON object".into()));
        };
        let data = map
            .get("data")
            .ok_or_else(|| malformed("the answer has no data member".into()))?;
        let total = match map.get("total") {
            Some(v) => loose_u64(v).map_err(|e| malformed(format!("total: {e}")))?,
            None => None,
        };
        Self::from_data(data, total)
    }

    /// Decode a whole answer from its body bytes.
    pub fn from_envelope_slice(body: &[u8]) -> Result<Self, ProtocolError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| ProtocolError::InvalidJson {
            detail: e.to_string(),
            snippet: String::from_utf8_lossy(body.get(..body.len().min(64)).unwrap_or(b""))
                .into_owned(),
        })?;
        Self::from_envelope(&v)
    }

    /// The lines' text joined with `\n`, in line order.
    pub fn text(&self) -> String {
        join_lines(&self.lines)
    }

    /// The highest line number on this page.
    pub fn last_n(&self) -> Option<u64> {
        self.lines.last().map(|l| l.n)
    }

    /// The lowest line number on this page.
    pub fn first_n(&self) -> Option<u64> {
        self.lines.first().map(|l| l.n)
    }
}

/// Join lines' text with `\n`.
pub fn join_lines(lines: &[LogLine]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.t.len() + 1).sum());
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&l.t);
    }
    out
}

/// Decode a `data` list of `{n, t}` lines into text, in line order (proxmoxer's `decode_log`,
/// but pages that do not start at line 1 decode too).
pub fn decode_log(data: &Value) -> Result<String, ProtocolError> {
    Ok(LogPage::from_data(data, None)?.text())
}

/// The paged log requests for lines `start..start+total_lines` of a task, `limit` lines each
/// (`limit` 0 gives one request for all lines from `start`).
pub fn page_calls(
    upid: &crate::Upid,
    start: u64,
    total_lines: u64,
    limit: u64,
) -> Result<Vec<crate::Call>, crate::InputError> {
    if limit == 0 {
        return Ok(vec![upid.log_call(start, 0)?]);
    }
    let mut out = Vec::new();
    let end = start.saturating_add(total_lines);
    let mut at = start;
    while at < end {
        let n = limit.min(end - at);
        out.push(upid.log_call(at, n)?);
        at += n;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_entries() {
        let p = LogPage::from_data(
            &json!([{"n": "3", "t": 5}, {"n": 1, "t": null}, {"n": 2, "t": "b"}, {"n": 2, "t": "dup"}]),
            Some(3),
        )
        .unwrap();
        assert_eq!(p.text(), "\nb\n5");
        assert_eq!(
            (p.first_n(), p.last_n(), p.total),
            (Some(1), Some(3), Some(3))
        );
    }

    #[test]
    fn bad_pages() {
        for bad in [
            json!({"n": 1}),
            json!([1]),
            json!([{"t": "x"}]),
            json!([{"n": -1, "t": "x"}]),
            json!([{"n": 1.5, "t": "x"}]),
            json!([{"n": 1, "t": ["x"]}]),
        ] {
            assert!(LogPage::from_data(&bad, None).is_err(), "{bad}");
        }
        assert!(LogPage::from_envelope(&json!([])).is_err());
        assert!(LogPage::from_envelope(&json!({"total": 1})).is_err());
        assert!(LogPage::from_envelope(&json!({"data": [], "total": "x"})).is_err());
        assert!(LogPage::from_envelope_slice(b"{\"data\": [").is_err());
        let empty = LogPage::from_envelope(&json!({"data": []})).unwrap();
        assert_eq!(
            (empty.text(), empty.last_n(), empty.total),
            (String::new(), None, None)
        );
    }

    #[test]
    fn paging() {
        let u = crate::Upid::parse("UPID:pve:000ABCDE:0012ABCD:65000000:qmstart:100:root@pam:")
            .unwrap();
        let calls = page_calls(&u, 10, 120, 50).unwrap();
        let forms: Vec<String> = calls.iter().map(|c| c.params.to_form()).collect();
        assert_eq!(
            forms,
            [
                "start=10&limit=50",
                "start=60&limit=50",
                "start=110&limit=20"
            ]
        );
        assert_eq!(page_calls(&u, 0, 0, 50).unwrap().len(), 0);
        let all = page_calls(&u, 5, 999, 0).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].params.to_form(), "start=5&limit=0");
    }
}
