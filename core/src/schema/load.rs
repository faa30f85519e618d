//! Loading a schema: the served `apidoc.js` forms and plain JSON dumps, read into the
//! [model](super::model), and looking methods up by concrete path.
//!
//! The forms read:
//!
//! * PVE `/pve-docs/api-viewer/apidoc.js`: `const apiSchema = [ … ];`
//! * PBS `/docs/api-viewer/apidoc.js`: `var apiSchema = [ … ];` followed by the API viewer's
//!   JavaScript in the same file;
//! * older PMG `/pmg-docs/api-viewer/apidoc.js`: `var pmgapi = [ … ];`
//! * a plain JSON array of the root path nodes ([`Schema::from_json`]).
//!
//! Descriptions (`description`, `verbose_description`) are skipped while the JSON is read:
//! they never reach the model. The loader is lenient with odd values (`"1"` for a number,
//! `1`/`0` or `"true"` for a boolean, `null` for absent) and refuses anything that is not a
//! schema with a [`SchemaError`] naming the path, method and parameter and what was wrong.
//!
//! ```
//! use proxmox_proto::schema::{Schema, SchemaMethod};
//! let text = r#"const apiSchema = [
//!   {"path": "/nodes", "text": "nodes", "children": [
//!     {"path": "/nodes/{node}", "text": "{node}", "children": [
//!       {"path": "/nodes/{node}/qemu", "text": "qemu", "info": {
//!         "POST": {"name": "create_vm", "method": "POST", "protected": 1, "proxyto": "node",
//!           "parameters": {"additionalProperties": 0, "properties": {
//!             "node": {"type": "string", "format": "pve-node"},
//!             "vmid": {"type": "integer", "minimum": 100},
//!             "net[n]": {"type": "string", "optional": 1}}}}}}]}]}
//! ];"#;
//! let schema = Schema::from_apidoc(text).unwrap();
//! let call = schema.method(SchemaMethod::Post, "/nodes/pve1/qemu").unwrap();
//! assert_eq!(call.method.name, "create_vm");
//! assert_eq!(call.var("node"), Some("pve1"));
//! assert!(call.method.params.iter().any(|p| p.name == "net" && p.indexed));
//! assert!(schema.method(SchemaMethod::Get, "/nodes/pve1/qemu").is_none());
//! ```

use super::model::{
    Format, Method, Param, PathNode, Pattern, PatternId, PropSchema, PropertyFormat, Schema,
    SchemaData, SchemaMethod, SchemaType,
};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// Why a text is not a schema this client can load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The text has no schema in it (no `= [` assignment, no JSON array).
    #[error(
        "no API schema found: {reason}; give the server's apidoc.js unchanged (PVE \
         /pve-docs/api-viewer/apidoc.js, PBS /docs/api-viewer/apidoc.js, PMG \
         /pmg-docs/api-viewer/apidoc.js) or a JSON array of its path nodes"
    )]
    NotFound {
        /// What was found instead.
        reason: String,
    },
    /// The schema's JSON does not parse.
    #[error(
        "the API schema is not valid JSON at line {line}, column {column}: {message}; give \
         the file unchanged, as the server serves it"
    )]
    Json {
        /// The line (1-based) in the text given.
        line: usize,
        /// The column (1-based).
        column: usize,
        /// What the JSON parser found.
        message: String,
    },
    /// The JSON is not shaped like an API schema.
    #[error(
        "not a usable API schema: at {at}: {problem}; give the file unchanged, as the server \
         serves it (the apidoc.js of PVE, PBS and PMG is understood)"
    )]
    Shape {
        /// Where: path, method, parameter and nested keys (`path /nodes/{node}/qemu POST
        /// parameter net[n] format key model`).
        at: String,
        /// What was wrong.
        problem: String,
    },
}

impl SchemaMethod {
    /// Every method, in [`PathNode::methods`] order.
    pub const ALL: [SchemaMethod; 4] = [
        SchemaMethod::Get,
        SchemaMethod::Post,
        SchemaMethod::Put,
        SchemaMethod::Delete,
    ];

    /// Its index in [`PathNode::methods`].
    pub fn index(self) -> usize {
        match self {
            SchemaMethod::Get => 0,
            SchemaMethod::Post => 1,
            SchemaMethod::Put => 2,
            SchemaMethod::Delete => 3,
        }
    }

    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaMethod::Get => "GET",
            SchemaMethod::Post => "POST",
            SchemaMethod::Put => "PUT",
            SchemaMethod::Delete => "DELETE",
        }
    }

    /// The method named `name` (`GET`, case-insensitive), if it is one of the four.
    pub fn from_name(name: &str) -> Option<SchemaMethod> {
        SchemaMethod::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for SchemaMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PathNode {
    /// The variable's name if this segment is one (`{node}` → `node`).
    pub fn variable(&self) -> Option<&str> {
        variable(&self.segment)
    }
}

fn variable(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

/// A method found by [`Schema::method`] for a concrete path.
#[derive(Debug, Clone)]
pub struct MethodRef<'a> {
    /// Which method.
    pub kind: SchemaMethod,
    /// The path node (its [`PathNode::path`] is the schema's template, `/nodes/{node}/qemu`).
    pub node: &'a PathNode,
    /// The method.
    pub method: &'a Method,
    /// The path variables' values, percent-decoded, in path order (`("node", "pve1")`).
    pub vars: Vec<(&'a str, String)>,
}

impl<'a> MethodRef<'a> {
    /// The value of path variable `name`.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The schema path (`/nodes/{node}/qemu`).
    pub fn path(&self) -> &'a str {
        &self.node.path
    }
}

impl Method {
    /// The parameter `name` stands for: a listed one, or an indexed family's member (`net0`
    /// → `net[n]`).
    pub fn param(&self, name: &str) -> Option<&Param> {
        if let Some(p) = self.params.iter().find(|p| !p.indexed && p.name == name) {
            return Some(p);
        }
        let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
        if stem.len() == name.len() {
            return None;
        }
        self.params.iter().find(|p| p.indexed && p.name == stem)
    }
}

/// Counts of a loaded schema.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchemaStats {
    /// Path nodes, not counting the root `/` unless it has methods.
    pub paths: usize,
    /// Methods.
    pub methods: usize,
    /// Parameters of all methods (an indexed family counts once).
    pub params: usize,
    /// Distinct patterns.
    pub patterns: usize,
    /// Patterns without a translation (see the `pattern` module).
    pub untranslated_patterns: usize,
    /// Distinct property-string formats (shared between the parameters that use them).
    pub property_formats: usize,
}

impl Schema {
    /// Reads the served `apidoc.js` (`const apiSchema = [ … ];`, `var apiSchema = [ … ];`,
    /// `var pmgapi = [ … ];`): one JSON value from the first `[` after `=`; JavaScript after it
    /// is ignored. A text that starts with `[` is read as plain JSON.
    ///
    /// # Errors
    ///
    /// [`SchemaError`]: no schema in the text, invalid JSON, or JSON not shaped like a schema.
    pub fn from_apidoc(text: &str) -> Result<Schema, SchemaError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let start = if text.trim_start().starts_with('[') {
            text.len() - text.trim_start().len()
        } else {
            assignment_start(text).ok_or_else(|| SchemaError::NotFound {
                reason: not_found_reason(text),
            })?
        };
        let json = &text[start..];
        let mut de = serde_json::Deserializer::from_str(json);
        let root = J::deserialize(&mut de).map_err(|e| json_error(&e, text, start))?;
        // Whatever follows the value (`;`, the viewer's JavaScript) is not read.
        build(&root)
    }

    /// Reads a plain JSON array of the root path nodes (as `PVE-schema.json` dumps are).
    ///
    /// # Errors
    ///
    /// [`SchemaError`]: invalid JSON, trailing data, or JSON not shaped like a schema.
    pub fn from_json(bytes: &[u8]) -> Result<Schema, SchemaError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let (line, column) = line_column(&bytes[..e.valid_up_to()]);
            SchemaError::Json {
                line,
                column,
                message: "the text is not UTF-8".to_owned(),
            }
        })?;
        if text.trim().is_empty() {
            return Err(SchemaError::NotFound {
                reason: "the text is empty".to_owned(),
            });
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let root = J::deserialize(&mut de).map_err(|e| json_error(&e, text, 0))?;
        de.end().map_err(|e| json_error(&e, text, 0))?;
        build(&root)
    }

    /// The method `m` of the concrete `path` (`/nodes/pve1/qemu/100/status/start`, with or
    /// without the leading `/`, segments percent-encoded or not), with the path variables'
    /// values. Literal segments are tried before `{var}` segments.
    pub fn method(&self, m: SchemaMethod, path: &str) -> Option<MethodRef<'_>> {
        self.inner.method(m, path)
    }

    /// The path node of the concrete `path`, whatever its methods, with the path variables'
    /// values (to tell "no such path" from "no such method").
    pub fn resolve(&self, path: &str) -> Option<(&PathNode, Vec<(&str, String)>)> {
        self.inner.resolve(path)
    }

    /// Every path node, the root `/` first, then in schema order.
    pub fn paths(&self) -> impl Iterator<Item = &PathNode> + '_ {
        self.inner.nodes.iter()
    }

    /// Every method with its path node.
    pub fn endpoints(&self) -> impl Iterator<Item = (SchemaMethod, &PathNode, &Method)> + '_ {
        self.inner.endpoints()
    }

    /// Counts: paths, methods, parameters, patterns.
    pub fn stats(&self) -> SchemaStats {
        self.inner.stats()
    }
}

impl SchemaData {
    /// See [`Schema::method`].
    pub fn method(&self, m: SchemaMethod, path: &str) -> Option<MethodRef<'_>> {
        let segments = split_path(path);
        let mut found = Vec::new();
        let node = self.walk(0, &segments, 0, Some(m), &mut found)?;
        let node_ref = self.nodes.get(node as usize)?;
        let method = self.methods.get(node_ref.methods[m.index()]? as usize)?;
        Some(MethodRef {
            kind: m,
            node: node_ref,
            method,
            vars: self.vars_of(&found, &segments),
        })
    }

    /// See [`Schema::resolve`].
    pub fn resolve(&self, path: &str) -> Option<(&PathNode, Vec<(&str, String)>)> {
        let segments = split_path(path);
        let mut found = Vec::new();
        let node = self.walk(0, &segments, 0, None, &mut found)?;
        Some((
            self.nodes.get(node as usize)?,
            self.vars_of(&found, &segments),
        ))
    }

    /// See [`Schema::endpoints`].
    pub fn endpoints(&self) -> impl Iterator<Item = (SchemaMethod, &PathNode, &Method)> + '_ {
        self.nodes.iter().flat_map(move |node| {
            SchemaMethod::ALL.into_iter().filter_map(move |m| {
                let i = node.methods[m.index()]?;
                Some((m, node, self.methods.get(i as usize)?))
            })
        })
    }

    /// See [`Schema::stats`].
    pub fn stats(&self) -> SchemaStats {
        let root_counts = self
            .nodes
            .first()
            .is_some_and(|n| n.methods.iter().any(Option::is_some));
        let mut formats: Vec<*const PropertyFormat> = Vec::new();
        for method in &self.methods {
            for param in &method.params {
                collect_formats(&param.schema, &mut formats);
            }
        }
        formats.sort_unstable();
        formats.dedup();
        SchemaStats {
            paths: self.nodes.len().saturating_sub(1) + usize::from(root_counts),
            methods: self.methods.len(),
            params: self.methods.iter().map(|m| m.params.len()).sum(),
            patterns: self.patterns.len(),
            untranslated_patterns: self
                .patterns
                .iter()
                .filter(|p| p.translated.is_err())
                .count(),
            property_formats: formats.len(),
        }
    }

    fn vars_of(&self, found: &[(u32, usize)], segments: &[Cow<'_, str>]) -> Vec<(&str, String)> {
        found
            .iter()
            .filter_map(|&(node, seg)| {
                let name = variable(&self.nodes.get(node as usize)?.segment)?;
                Some((name, segments.get(seg)?.to_string()))
            })
            .collect()
    }

    /// Depth-first from `node` at segment `at`: literal children, then variables; a dead end
    /// backtracks. The tree has one route to each node, so a lookup visits each node at most
    /// once, and the depth is at most [`MAX_PATH_SEGMENTS`].
    fn walk(
        &self,
        node: u32,
        segments: &[Cow<'_, str>],
        at: usize,
        want: Option<SchemaMethod>,
        found: &mut Vec<(u32, usize)>,
    ) -> Option<u32> {
        let here = self.nodes.get(node as usize)?;
        let Some(segment) = segments.get(at) else {
            return match want {
                Some(m) if here.methods[m.index()].is_none() => None,
                _ => Some(node),
            };
        };
        for &child in &here.children {
            let c = self.nodes.get(child as usize)?;
            if variable(&c.segment).is_none()
                && c.segment == **segment
                && let Some(n) = self.walk(child, segments, at + 1, want, found)
            {
                return Some(n);
            }
        }
        for &child in &here.children {
            let c = self.nodes.get(child as usize)?;
            if variable(&c.segment).is_some() {
                found.push((child, at));
                if let Some(n) = self.walk(child, segments, at + 1, want, found) {
                    return Some(n);
                }
                found.pop();
            }
        }
        None
    }
}

/// The most segments a schema path may have (PVE 9's deepest has 8, PBS's 6).
pub const MAX_PATH_SEGMENTS: usize = 64;

/// The segments of a concrete path, percent-decoded; empty segments are dropped.
fn split_path(path: &str) -> Vec<Cow<'_, str>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy())
        .collect()
}

fn collect_formats(schema: &PropSchema, out: &mut Vec<*const PropertyFormat>) {
    if let Some(Format::PropertyString(f)) = &schema.format {
        out.push(Arc::as_ptr(f));
    }
    if let Some(items) = &schema.list_format {
        collect_formats(items, out);
    }
}

// ---------------------------------------------------------------------------------------
// Reading the JSON: a compact, order-keeping tree that borrows from the text and has no
// descriptions.

/// A JSON value as read: strings borrowed where they have no escapes, objects as ordered
/// key/value lists, `description`/`verbose_description` strings left out.
#[derive(Debug, PartialEq)]
enum J<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Vec<(Cow<'a, str>, J<'a>)>),
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

/// Prose keys: their string values are skipped while reading.
fn is_prose(key: &str) -> bool {
    matches!(key, "description" | "verbose_description")
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<J<'de>, E> {
        Ok(J::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<J<'de>, E> {
        Ok(J::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<J<'de>, E> {
        Ok(J::UInt(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<J<'de>, E> {
        Ok(J::Float(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }

    fn visit_none<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(item) = seq.next_element::<J<'de>>()? {
            items.push(item);
        }
        Ok(J::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if is_prose(&key) {
                if let Prose::Other(value) = map.next_value_seed(ProseSeed)? {
                    fields.push((key, value));
                }
            } else {
                fields.push((key, map.next_value::<J<'de>>()?));
            }
        }
        Ok(J::Obj(fields))
    }
}

/// An object key, borrowed where it can be.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The value of a prose key: a string is dropped unread (not even copied), anything else
/// (a parameter *named* `description` has an object) is kept.
enum Prose<'a> {
    Text,
    Other(J<'a>),
}

struct ProseSeed;

impl<'de> DeserializeSeed<'de> for ProseSeed {
    type Value = Prose<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Prose<'de>, D::Error> {
        d.deserialize_any(ProseVisitor)
    }
}

struct ProseVisitor;

impl<'de> Visitor<'de> for ProseVisitor {
    type Value = Prose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Prose<'de>, E> {
        Ok(Prose::Other(J::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Prose<'de>, E> {
        Ok(Prose::Other(J::Int(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Prose<'de>, E> {
        Ok(Prose::Other(J::UInt(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Prose<'de>, E> {
        Ok(Prose::Other(J::Float(v)))
    }

    fn visit_str<E>(self, _: &str) -> Result<Prose<'de>, E> {
        Ok(Prose::Text)
    }

    fn visit_unit<E>(self) -> Result<Prose<'de>, E> {
        Ok(Prose::Other(J::Null))
    }

    fn visit_none<E>(self) -> Result<Prose<'de>, E> {
        Ok(Prose::Other(J::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Prose<'de>, A::Error> {
        JVisitor.visit_seq(seq).map(Prose::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Prose<'de>, A::Error> {
        JVisitor.visit_map(map).map(Prose::Other)
    }
}

impl J<'_> {
    /// What kind of value this is, for errors.
    fn kind(&self) -> &'static str {
        match self {
            J::Null => "null",
            J::Bool(_) => "a boolean",
            J::Int(_) | J::UInt(_) | J::Float(_) => "a number",
            J::Str(_) => "a string",
            J::Arr(_) => "an array",
            J::Obj(_) => "an object",
        }
    }

    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            // The last of duplicate keys wins, as in serde_json.
            J::Obj(fields) => fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn to_value(&self, drop_descriptions: bool) -> serde_json::Value {
        use serde_json::Value;
        match self {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Int(i) => Value::from(*i),
            J::UInt(u) => Value::from(*u),
            J::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            J::Str(s) => Value::String(s.to_string()),
            J::Arr(a) => Value::Array(a.iter().map(|v| v.to_value(drop_descriptions)).collect()),
            J::Obj(o) => Value::Object(
                o.iter()
                    .filter(|(k, _)| !(drop_descriptions && is_prose(k)))
                    .map(|(k, v)| (k.to_string(), v.to_value(drop_descriptions)))
                    .collect(),
            ),
        }
    }
}

/// Where `=` and then `[` start the schema's array (`const apiSchema = [`).
fn assignment_start(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(eq) = text.get(from..)?.find('=') {
        let eq = from + eq;
        let after = &text[eq + 1..];
        let rest = after.trim_start();
        // `==`, `<=`, `=>` and other uses of `=` are passed over.
        let before = eq.checked_sub(1).and_then(|i| bytes.get(i));
        let operator = matches!(before, Some(b'=' | b'!' | b'<' | b'>'))
            || matches!(bytes.get(eq + 1), Some(b'=' | b'>'));
        if rest.starts_with('[') && !operator {
            return Some(text.len() - rest.len());
        }
        from = eq + 1;
    }
    None
}

fn not_found_reason(text: &str) -> String {
    let start = text.trim_start();
    if start.is_empty() {
        "the text is empty".to_owned()
    } else if start.starts_with('<') {
        "the text is HTML or XML, not JavaScript (an error page? a 404 means the docs package \
         is not installed)"
            .to_owned()
    } else if start.starts_with('{') {
        "the text is a JSON object, not an array of path nodes (an API response?)".to_owned()
    } else {
        "it has no `= [` assignment and is not a JSON array".to_owned()
    }
}

/// 1-based line and column at the end of `bytes`.
fn line_column(bytes: &[u8]) -> (usize, usize) {
    let line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    (line, bytes.len() - line_start + 1)
}

/// A serde_json error as a [`SchemaError::Json`], its position counted in `text` (the JSON
/// starts at byte `offset`).
fn json_error(e: &serde_json::Error, text: &str, offset: usize) -> SchemaError {
    let (pline, pcol) = line_column(&text.as_bytes()[..offset]);
    let (line, column) = if e.line() <= 1 {
        (pline, pcol + e.column().saturating_sub(1))
    } else {
        (pline + e.line() - 1, e.column())
    };
    let message = e.to_string();
    let message = clean(match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => &message,
    });
    SchemaError::Json {
        line,
        column,
        message,
    }
}

// ---------------------------------------------------------------------------------------
// Building the model.

/// One step of where the builder is, for errors.
#[derive(Clone, Copy)]
enum Crumb<'j> {
    Param(&'j str),
    FormatKey(&'j str),
    Property(&'j str),
    Field(&'static str),
}

struct Builder<'j> {
    data: SchemaData,
    patterns: HashMap<&'j str, PatternId>,
    /// Inline formats already built, by their JSON (identical ones are shared).
    formats: Vec<(&'j J<'j>, Arc<PropertyFormat>)>,
    /// The current node's path, method and nested keys.
    path: String,
    method: Option<&'j str>,
    trail: Vec<Crumb<'j>>,
}

fn build<'j>(root: &'j J<'j>) -> Result<Schema, SchemaError> {
    let mut b = Builder {
        data: SchemaData {
            nodes: vec![PathNode {
                segment: String::new(),
                path: "/".to_owned(),
                ..PathNode::default()
            }],
            ..SchemaData::default()
        },
        patterns: HashMap::new(),
        formats: Vec::new(),
        path: String::new(),
        method: None,
        trail: Vec::new(),
    };
    match root {
        J::Arr(nodes) if nodes.is_empty() => {
            return Err(SchemaError::NotFound {
                reason: "the array of path nodes is empty".to_owned(),
            });
        }
        J::Arr(nodes) => {
            for node in nodes {
                b.node(node, "")?;
            }
        }
        // One root node given alone.
        J::Obj(_) if root.get("path").is_some() => b.node(root, "")?,
        other => {
            return Err(SchemaError::NotFound {
                reason: format!("the JSON is {}, not an array of path nodes", other.kind()),
            });
        }
    }
    if b.data.methods.is_empty() {
        return Err(SchemaError::NotFound {
            reason: "the path nodes have no methods".to_owned(),
        });
    }
    let mut data = b.data;
    data.nodes.shrink_to_fit();
    data.methods.shrink_to_fit();
    data.patterns.shrink_to_fit();
    Ok(Schema {
        inner: Arc::new(data),
    })
}

impl<'j> Builder<'j> {
    fn err(&self, problem: impl Into<String>) -> SchemaError {
        let mut at = if self.path.is_empty() {
            "the top level".to_owned()
        } else {
            format!("path {}", clean(&self.path))
        };
        if let Some(m) = self.method {
            at.push(' ');
            at.push_str(m);
        }
        for crumb in &self.trail {
            match crumb {
                Crumb::Param(p) => at.push_str(&format!(" parameter {}", clean(p))),
                Crumb::FormatKey(k) => at.push_str(&format!(" format key {}", clean(k))),
                Crumb::Property(k) => at.push_str(&format!(" property {}", clean(k))),
                Crumb::Field(f) => at.push_str(&format!(" {f}")),
            }
        }
        SchemaError::Shape {
            at,
            problem: problem.into(),
        }
    }

    /// Runs `f` with `crumb` on the trail.
    fn within<T>(
        &mut self,
        crumb: Crumb<'j>,
        f: impl FnOnce(&mut Self) -> Result<T, SchemaError>,
    ) -> Result<T, SchemaError> {
        self.trail.push(crumb);
        let r = f(self);
        self.trail.pop();
        r
    }

    fn node(&mut self, j: &'j J<'j>, parent: &str) -> Result<(), SchemaError> {
        let J::Obj(_) = j else {
            return Err(self.err(format!("a path node is {}, not an object", j.kind())));
        };
        let path = match (j.get("path"), j.get("text")) {
            (Some(J::Str(p)), _) => p.to_string(),
            (None | Some(J::Null), Some(J::Str(t))) => format!("{parent}/{t}"),
            (None | Some(J::Null), _) => {
                return Err(self.err("a path node has no `path` (and no `text`)"));
            }
            (Some(other), _) => {
                return Err(self.err(format!("a path node's `path` is {}", other.kind())));
            }
        };
        let index = self.insert_path(&path)?;
        let path = self.data.nodes[index as usize].path.clone();
        let saved = std::mem::replace(&mut self.path, path);
        match j.get("info") {
            None | Some(J::Null) => {}
            Some(J::Obj(methods)) => {
                for (name, method) in methods {
                    // Methods other than the four are not callable through this model.
                    let Some(kind) = SchemaMethod::from_name(name) else {
                        continue;
                    };
                    self.method = Some(kind.as_str());
                    let r = self.method_of(method);
                    self.method = None;
                    let method = r?;
                    let id = u32::try_from(self.data.methods.len())
                        .map_err(|_| self.err("too many methods"))?;
                    let slot = &mut self.data.nodes[index as usize].methods[kind.index()];
                    if slot.is_some() {
                        self.method = Some(kind.as_str());
                        let e = self.err("the method is defined twice");
                        self.method = None;
                        return Err(e);
                    }
                    *slot = Some(id);
                    self.data.methods.push(method);
                }
            }
            Some(other) => return Err(self.err(format!("`info` is {}", other.kind()))),
        }
        let r = match j.get("children") {
            None | Some(J::Null) => Ok(()),
            Some(J::Arr(children)) => {
                let here = self.path.clone();
                children.iter().try_for_each(|c| self.node(c, &here))
            }
            Some(other) => Err(self.err(format!("`children` is {}", other.kind()))),
        };
        self.path = saved;
        r
    }

    /// The node for `path`, created with its missing ancestors.
    fn insert_path(&mut self, path: &str) -> Result<u32, SchemaError> {
        let mut node = 0u32;
        let mut full = String::new();
        for (depth, segment) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
            if depth >= MAX_PATH_SEGMENTS {
                self.path = path.chars().take(200).collect();
                return Err(self.err(format!(
                    "the path has more than {MAX_PATH_SEGMENTS} segments"
                )));
            }
            if variable(segment).is_some_and(str::is_empty) {
                self.path = path.to_owned();
                return Err(self.err("a path segment `{}` names no variable"));
            }
            full.push('/');
            full.push_str(segment);
            let found = self.data.nodes[node as usize]
                .children
                .iter()
                .copied()
                .find(|&c| self.data.nodes[c as usize].segment == segment);
            node = match found {
                Some(c) => c,
                None => {
                    let id = u32::try_from(self.data.nodes.len())
                        .map_err(|_| self.err("too many path nodes"))?;
                    self.data.nodes.push(PathNode {
                        segment: segment.to_owned(),
                        path: full.clone(),
                        ..PathNode::default()
                    });
                    self.data.nodes[node as usize].children.push(id);
                    id
                }
            };
        }
        Ok(node)
    }

    fn method_of(&mut self, j: &'j J<'j>) -> Result<Method, SchemaError> {
        let J::Obj(fields) = j else {
            return Err(self.err(format!("the method is {}, not an object", j.kind())));
        };
        let mut m = Method {
            allowtoken: true,
            additional_properties: true,
            ..Method::default()
        };
        let mut download = false;
        for (key, value) in fields {
            match key.as_ref() {
                "name" => m.name = self.string(value, "name")?.unwrap_or_default(),
                "parameters" => self.parameters(value, &mut m)?,
                "returns" => {
                    m.returns = match value {
                        J::Null => None,
                        _ => Some(Box::new(
                            self.within(Crumb::Field("returns"), |b| b.prop(value))?,
                        )),
                    }
                }
                "permissions" => match value {
                    J::Null => {}
                    J::Obj(_) => m.permissions = Some(value.to_value(true)),
                    other => {
                        return Err(
                            self.err(format!("`permissions` is {}, not an object", other.kind()))
                        );
                    }
                },
                "protected" => m.protected = self.boolean(value, "protected")?.unwrap_or(false),
                "proxyto" => m.proxyto = self.string(value, "proxyto")?,
                "allowtoken" => m.allowtoken = self.boolean(value, "allowtoken")?.unwrap_or(true),
                "download_allowed" => {
                    m.download_allowed = self.boolean(value, "download_allowed")?.unwrap_or(false);
                }
                // The older name (PVE before 9).
                "download" => download = self.boolean(value, "download")?.unwrap_or(false),
                _ => {}
            }
        }
        m.download_allowed |= download;
        Ok(m)
    }

    fn parameters(&mut self, j: &'j J<'j>, m: &mut Method) -> Result<(), SchemaError> {
        let J::Obj(fields) = j else {
            if let J::Null = j {
                return Ok(());
            }
            return Err(self.err(format!("`parameters` is {}, not an object", j.kind())));
        };
        for (key, value) in fields {
            match key.as_ref() {
                "additionalProperties" => {
                    m.additional_properties = self.additional(value)?;
                }
                "properties" => {
                    let J::Obj(props) = value else {
                        if let J::Null = value {
                            continue;
                        }
                        return Err(
                            self.err(format!("`properties` is {}, not an object", value.kind()))
                        );
                    };
                    m.params.reserve_exact(props.len());
                    for (name, schema) in props {
                        let param = self.within(Crumb::Param(name), |b| {
                            let (stem, indexed) = match name.strip_suffix("[n]") {
                                Some("") => {
                                    return Err(b.err("an indexed parameter has no name"));
                                }
                                Some(stem) => (stem, true),
                                None => (name.as_ref(), false),
                            };
                            Ok(Param {
                                name: stem.to_owned(),
                                indexed,
                                schema: b.prop(schema)?,
                            })
                        })?;
                        m.params.push(param);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `additionalProperties`: a boolean, or a schema for the others (allowed).
    fn additional(&self, j: &J<'_>) -> Result<bool, SchemaError> {
        match j {
            J::Obj(_) => Ok(true),
            _ => Ok(self.boolean(j, "additionalProperties")?.unwrap_or(true)),
        }
    }

    fn prop(&mut self, j: &'j J<'j>) -> Result<PropSchema, SchemaError> {
        let J::Obj(fields) = j else {
            return Err(self.err(format!("a schema is {}, not an object", j.kind())));
        };
        let mut p = PropSchema::default();
        let mut ty: Option<&str> = None;
        let mut items = None;
        let mut properties: Option<BTreeMap<String, PropSchema>> = None;
        let mut additional = true;
        for (key, value) in fields {
            match key.as_ref() {
                "type" => {
                    ty = match value {
                        J::Str(s) => Some(s.as_ref()),
                        // A union of types (`["string", "array"]`), or none.
                        J::Arr(_) | J::Null => Some("any"),
                        other => {
                            return Err(
                                self.err(format!("`type` is {}, not a type name", other.kind()))
                            );
                        }
                    }
                }
                "optional" => p.optional = self.boolean(value, "optional")?.unwrap_or(false),
                "default" => {
                    p.default = match value {
                        J::Null => None,
                        v => Some(v.to_value(false)),
                    }
                }
                "enum" => p.enumeration = self.enumeration(value)?,
                "minimum" => p.minimum = self.number(value, "minimum")?,
                "maximum" => p.maximum = self.number(value, "maximum")?,
                "minLength" => p.min_length = self.count(value, "minLength")?,
                "maxLength" => p.max_length = self.count(value, "maxLength")?,
                "pattern" => p.pattern = self.pattern(value)?,
                "format" => {
                    self.within(Crumb::Field("format"), |b| b.format(value, &mut p))?;
                }
                "typetext" => p.typetext = self.string(value, "typetext")?,
                "format_description" => {
                    p.format_description = self.string(value, "format_description")?;
                }
                "alias" => p.alias = self.string(value, "alias")?,
                "keyAlias" => p.key_alias = self.string(value, "keyAlias")?,
                "default_key" => {
                    // PBS names the default key on the object (`"default_key": "type"`),
                    // see `format`; PVE marks the key's own schema with `1`.
                    p.default_key = match value {
                        J::Str(_) if boolean(value).is_none() => false,
                        _ => self.boolean(value, "default_key")?.unwrap_or(false),
                    }
                }
                "items" => {
                    items = match value {
                        J::Null => None,
                        v => Some(Box::new(self.within(Crumb::Field("items"), |b| b.prop(v))?)),
                    }
                }
                "properties" => {
                    properties = match value {
                        J::Null => None,
                        J::Obj(props) => {
                            let mut map = BTreeMap::new();
                            for (name, schema) in props {
                                let s = self.within(Crumb::Property(name), |b| b.prop(schema))?;
                                map.insert(name.to_string(), s);
                            }
                            Some(map)
                        }
                        other => {
                            return Err(self
                                .err(format!("`properties` is {}, not an object", other.kind())));
                        }
                    }
                }
                "additionalProperties" => additional = self.additional(value)?,
                _ => {}
            }
        }
        let ty = match ty {
            Some(t) => t,
            None if properties.is_some() => "object",
            None if items.is_some() => "array",
            None => "any",
        };
        p.ty = match ty {
            "string" => SchemaType::String,
            "integer" => SchemaType::Integer,
            "number" => SchemaType::Number,
            "boolean" => SchemaType::Boolean,
            "null" => SchemaType::Null,
            "array" => SchemaType::Array(items),
            "object" => SchemaType::Object {
                properties: properties.unwrap_or_default(),
                additional,
            },
            // `any`, and types the model does not know (`coderef`).
            _ => SchemaType::Any,
        };
        Ok(p)
    }

    fn format(&mut self, j: &'j J<'j>, p: &mut PropSchema) -> Result<(), SchemaError> {
        match j {
            J::Null => {}
            J::Str(name) => p.format = Some(Format::Named(name.to_string())),
            J::Obj(fields) => {
                // PBS writes the format as a schema (`"type": "object"` / `"array"`); PVE as
                // the keys' schemas (a key named `type` has an object).
                match j.get("type") {
                    Some(J::Str(t)) if t == "array" => {
                        let items = match j.get("items") {
                            Some(items @ J::Obj(_)) => {
                                self.within(Crumb::Field("items"), |b| b.prop(items))?
                            }
                            _ => PropSchema::default(),
                        };
                        p.list_format = Some(Box::new(items));
                    }
                    Some(J::Str(_)) => {
                        let f = self.shared_format(j, |b| b.pbs_object_format(j))?;
                        p.format = Some(Format::PropertyString(f));
                    }
                    _ => {
                        let f = self.shared_format(j, |b| b.pve_format(fields))?;
                        p.format = Some(Format::PropertyString(f));
                    }
                }
            }
            other => {
                return Err(self.err(format!(
                    "`format` is {}, not a name or an object",
                    other.kind()
                )));
            }
        }
        Ok(())
    }

    /// The format built from `j` before, or a new one.
    fn shared_format(
        &mut self,
        j: &'j J<'j>,
        build: impl FnOnce(&mut Self) -> Result<PropertyFormat, SchemaError>,
    ) -> Result<Arc<PropertyFormat>, SchemaError> {
        if let Some((_, f)) = self.formats.iter().find(|(seen, _)| *seen == j) {
            return Ok(f.clone());
        }
        let f = Arc::new(build(self)?);
        self.formats.push((j, f.clone()));
        Ok(f)
    }

    /// PVE: `{ key: schema, … }`, the default key marked `default_key: 1`.
    fn pve_format(
        &mut self,
        fields: &'j [(Cow<'j, str>, J<'j>)],
    ) -> Result<PropertyFormat, SchemaError> {
        let mut f = PropertyFormat::default();
        f.keys.reserve_exact(fields.len());
        for (key, schema) in fields {
            let s = self.within(Crumb::FormatKey(key), |b| b.prop(schema))?;
            if s.default_key && f.default_key.is_none() {
                f.default_key = Some(key.to_string());
            }
            f.keys.push((key.to_string(), s));
        }
        Ok(f)
    }

    /// PBS: an object schema, the default key named by `default_key`.
    fn pbs_object_format(&mut self, j: &'j J<'j>) -> Result<PropertyFormat, SchemaError> {
        let mut f = PropertyFormat::default();
        match j.get("properties") {
            None | Some(J::Null) => {}
            Some(J::Obj(props)) => {
                for (key, schema) in props {
                    let s = self.within(Crumb::FormatKey(key), |b| b.prop(schema))?;
                    f.keys.push((key.to_string(), s));
                }
            }
            Some(other) => {
                return Err(self.err(format!("`properties` is {}, not an object", other.kind())));
            }
        }
        f.default_key = match j.get("default_key") {
            Some(J::Str(k)) => Some(k.to_string()),
            _ => f
                .keys
                .iter()
                .find(|(_, s)| s.default_key)
                .map(|(k, _)| k.clone()),
        };
        Ok(f)
    }

    fn pattern(&mut self, j: &'j J<'j>) -> Result<Option<PatternId>, SchemaError> {
        let source: &'j str = match j {
            J::Null => return Ok(None),
            J::Str(s) => s,
            other => {
                return Err(self.err(format!("`pattern` is {}, not a string", other.kind())));
            }
        };
        if let Some(id) = self.patterns.get(source) {
            return Ok(Some(*id));
        }
        let id = PatternId(
            u32::try_from(self.data.patterns.len()).map_err(|_| self.err("too many patterns"))?,
        );
        self.data.patterns.push(Pattern::new(source));
        self.patterns.insert(source, id);
        Ok(Some(id))
    }

    fn enumeration(&self, j: &J<'_>) -> Result<Option<Vec<String>>, SchemaError> {
        let J::Arr(values) = j else {
            if let J::Null = j {
                return Ok(None);
            }
            return Err(self.err(format!("`enum` is {}, not an array", j.kind())));
        };
        values
            .iter()
            .map(|v| {
                scalar_text(v).ok_or_else(|| {
                    self.err(format!("an `enum` value is {}, not a string", v.kind()))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn string(&self, j: &J<'_>, field: &str) -> Result<Option<String>, SchemaError> {
        match j {
            J::Null => Ok(None),
            v => scalar_text(v)
                .map(Some)
                .ok_or_else(|| self.err(format!("`{field}` is {}, not a string", v.kind()))),
        }
    }

    fn boolean(&self, j: &J<'_>, field: &str) -> Result<Option<bool>, SchemaError> {
        match j {
            J::Null => Ok(None),
            v => boolean(v).map(Some).ok_or_else(|| {
                self.err(format!(
                    "`{field}` is {}, not a boolean (1/0, true/false)",
                    describe(v)
                ))
            }),
        }
    }

    fn number(&self, j: &J<'_>, field: &str) -> Result<Option<f64>, SchemaError> {
        let n = match j {
            J::Null => return Ok(None),
            J::Int(i) => *i as f64,
            J::UInt(u) => *u as f64,
            J::Float(f) => *f,
            J::Str(s) => match s.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => n,
                _ => return Err(self.err(format!("`{field}` is {}, not a number", describe(j)))),
            },
            other => {
                return Err(self.err(format!("`{field}` is {}, not a number", other.kind())));
            }
        };
        Ok(Some(n))
    }

    fn count(&self, j: &J<'_>, field: &str) -> Result<Option<u64>, SchemaError> {
        let bad = || {
            self.err(format!(
                "`{field}` is {}, not a non-negative whole number",
                describe(j)
            ))
        };
        match j {
            J::Null => Ok(None),
            J::UInt(u) => Ok(Some(*u)),
            J::Int(i) => u64::try_from(*i).map(Some).map_err(|_| bad()),
            J::Float(f) if *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19 => Ok(Some(*f as u64)),
            J::Str(s) => s.trim().parse::<u64>().map(Some).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// A name from the schema for an error: control characters escaped, at most 100 characters.
fn clean(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 100 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A scalar as text: strings as they are, numbers and booleans as Perl prints them.
fn scalar_text(j: &J<'_>) -> Option<String> {
    match j {
        J::Str(s) => Some(s.to_string()),
        J::Int(i) => Some(i.to_string()),
        J::UInt(u) => Some(u.to_string()),
        J::Float(f) => Some(f.to_string()),
        J::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

/// A boolean as a schema writes one: `true`/`false`, `1`/`0`, or those as strings (also
/// `yes`/`no`, `on`/`off`).
fn boolean(j: &J<'_>) -> Option<bool> {
    match j {
        J::Bool(b) => Some(*b),
        J::Int(i) => Some(*i != 0),
        J::UInt(u) => Some(*u != 0),
        J::Float(f) => Some(*f != 0.0),
        J::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A short description of a value for an error: its kind, and a short scalar's text.
fn describe(j: &J<'_>) -> String {
    match j {
        J::Str(s) if s.len() <= 32 && !s.chars().any(char::is_control) => {
            format!("the string {s:?}")
        }
        J::Int(_) | J::UInt(_) | J::Float(_) | J::Bool(_) => {
            format!("{} ({})", j.kind(), scalar_text(j).unwrap_or_default())
        }
        other => other.kind().to_owned(),
    }
}
