//! [`Document`]: a cheap, owned, untyped JSON value.
//!
//! `serde_json::Value` spends most of its time in the allocator: one `String` per key and per
//! string, one `Vec` per array and a B-tree per object. A [`Document`] is a flat *tape*
//! instead: one `Vec` of 16-byte nodes in document order (null, boolean, integer, float, string,
//! key, and array/object headers that hold their length and the index just past their
//! subtree, so lookups skip whole subtrees) and **one** `String` holding the bytes of every key
//! and string. Parsing a 5,000-guest `GET /cluster/resources` body into a `Document` makes a
//! handful of allocations instead of about 200,000, and dropping it frees two buffers: on that
//! 1.59 MB body it parses about five times as fast as `serde_json::Value` and faster than the
//! typed [`crate::models::ClusterResource`] (`cargo bench -p proxmox-proto --bench parse`).
//!
//! `Document` implements [`Deserialize`] over any self-describing deserializer, so it plugs into
//! everything that takes a `T: DeserializeOwned`: [`crate::response::parse_data`], the adapters'
//! `client.get::<Document>(..)`, `serde_json::from_slice`, or a typed model's field. It reads
//! JSON the way `serde_json::Value` does (same numbers, same strings, `null` for non-finite
//! floats given by non-JSON deserializers), and [`Json::to_value`] gives exactly the `Value`
//! that `serde_json` would have built from the same input.
//!
//! # Reading
//!
//! [`Document::root`] hands out a [`Json`], a small `Copy` handle borrowing the document, with
//! the accessors of `serde_json::Value` (`as_str`, `as_u64`, `get`, `index`, `pointer`, ...),
//! iterators over array items and object entries, Perl-loose accessors that apply the rules of
//! [`crate::loose`] (`"1"` as `true`, `"100"` as `100`), and [`Json::deserialize`] to read any
//! subtree as a typed `T` (strings borrow from the document).
//!
//! ```
//! use proxmox_proto::json::{Document, Kind};
//! use proxmox_proto::models::ClusterResource;
//! use proxmox_proto::response::parse_data;
//!
//! let body = br#"{"data":[
//!   {"id":"qemu/100","type":"qemu","vmid":100,"node":"pve1","template":"1","cpu":0.25},
//!   {"id":"node/pve1","type":"node","node":"pve1","maxcpu":"8"}
//! ]}"#;
//! let doc: Document = parse_data(200, Some("OK"), body).unwrap();
//! let list = doc.root();
//! assert_eq!((list.kind(), list.len()), (Kind::Array, 2));
//!
//! let guest = list.index(0).unwrap();
//! assert_eq!(guest.get("id").and_then(|v| v.as_str()), Some("qemu/100"));
//! assert_eq!(guest.get("vmid").and_then(|v| v.as_u64()), Some(100));
//! assert_eq!(guest.get("template").and_then(|v| v.loose_bool()), Some(true));
//! assert_eq!(list.pointer("/1/maxcpu").and_then(|v| v.loose_u64()), Some(8));
//! assert!(guest.get("missing").is_none());
//!
//! for (key, value) in guest.entries().take(2) {
//!     println!("{key} = {value}");
//! }
//! let nodes: Vec<&str> = list.items().filter_map(|g| g.get("node")?.as_str()).collect();
//! assert_eq!(nodes, ["pve1", "pve1"]);
//!
//! // A subtree as a typed model, a whole document as text or as a serde_json::Value.
//! let typed: ClusterResource = guest.deserialize().unwrap();
//! assert_eq!(typed.vmid, Some(100));
//! assert!(doc.to_string().starts_with(r#"[{"id":"qemu/100","type":"qemu","vmid":100,"#));
//! assert_eq!(doc.to_value()[1]["maxcpu"], "8");
//! ```
//!
//! # Semantics and limits
//!
//! * Objects keep their entries in document order, duplicates included; [`Json::get`] returns
//!   the **last** entry of a key given twice, as `serde_json::Value` (and [`crate::models`]) do,
//!   and so does [`Json::to_value`]. [`Json::len`] and [`Json::entries`] count and yield every
//!   entry as written. [`Serialize`] and [`Display`](fmt::Display) write the entries as stored.
//! * Equality (`==`) is that of `serde_json::Value`: object entries compare as a map (order and
//!   shadowed duplicates do not matter); `1` and `1.0` differ.
//! * Nesting is limited to [`MAX_DEPTH`] levels (serde_json's own parser stops at 127 first),
//!   whatever the deserializer, so a hostile body cannot exhaust the stack here or in the
//!   recursive readers. The string bytes and the node count are each limited to `u32::MAX`
//!   (4 GiB); beyond that deserialization fails with an error, never a panic or a wrap.
//! * Floats behave as in `serde_json` (which this crate uses without `float_roundtrip`): a
//!   float written out and read back may move by one ulp.

use crate::loose::LooseField;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// The deepest nesting of arrays and objects a [`Document`] accepts (the root container is
/// level 1). serde_json's parser refuses 128 levels already, so with JSON text its own
/// "recursion limit exceeded" error comes first; this bound protects the other deserializers.
pub const MAX_DEPTH: usize = 128;

/// The largest total of key and string bytes, and of nodes, in one document.
const MAX_SPAN: usize = u32::MAX as usize;

/// A position in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

/// An array or object header: its number of items (or entries) and the node index just past
/// its subtree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    len: u32,
    end: u32,
}

/// One node of the tape. An object's header is followed by `key, value subtree` pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    /// A negative integer (non-negative ones are always `Pos`, as in serde_json).
    Neg(i64),
    Pos(u64),
    /// Always finite.
    Float(f64),
    Str(Span),
    Key(Span),
    Array(Header),
    Object(Header),
}

const _: () = assert!(std::mem::size_of::<Node>() == 16);

/// An owned, untyped JSON value stored as a flat tape (see the [module docs](self)).
///
/// Build one with [`Deserialize`] (any deserializer: `serde_json::from_slice`,
/// [`crate::response::parse_data`], `Document::deserialize(&value)` from a
/// `serde_json::Value`, ...), [`Document::from_slice`] or [`str::parse`]; read it through
/// [`Document::root`].
#[derive(Clone)]
pub struct Document {
    nodes: Vec<Node>,
    arena: String,
}

/// What kind of JSON value a [`Json`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool,
    /// An integer or a float.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

/// A borrowed handle on one value of a [`Document`]: cheap to copy, and everything it hands out
/// borrows from the document.
#[derive(Clone, Copy)]
pub struct Json<'a> {
    doc: &'a Document,
    idx: usize,
}

impl Document {
    /// Parse JSON text: the result and errors of `serde_json::from_slice::<Document>`, faster.
    ///
    /// The whole input is checked to be UTF-8 once, so that serde_json need not check every
    /// string on its own (worth 15-30 % on a `cluster/resources` listing); input that is not
    /// UTF-8 goes to `serde_json::from_slice` for its usual error.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        crate::response::json_from_bytes(bytes)
    }

    /// The root value.
    pub fn root(&self) -> Json<'_> {
        Json { doc: self, idx: 0 }
    }

    /// The number of nodes on the tape: one per value and one per object key.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The number of key and string bytes the document holds.
    pub fn string_bytes(&self) -> usize {
        self.arena.len()
    }

    /// The whole document as a `serde_json::Value` (see [`Json::to_value`]).
    pub fn to_value(&self) -> Value {
        self.root().to_value()
    }

    fn node(&self, idx: usize) -> Node {
        self.nodes.get(idx).copied().unwrap_or(Node::Null)
    }

    fn text(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.arena
            .get(start..start.saturating_add(span.len as usize))
            .unwrap_or("")
    }

    /// The index just past the subtree that starts at `idx`.
    fn end(&self, idx: usize) -> usize {
        match self.node(idx) {
            Node::Array(h) | Node::Object(h) => h.end as usize,
            _ => idx + 1,
        }
    }
}

impl Default for Document {
    /// The document `null`.
    fn default() -> Self {
        Document {
            nodes: vec![Node::Null],
            arena: String::new(),
        }
    }
}

impl std::str::FromStr for Document {
    type Err = serde_json::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_str(s)
    }
}

impl<'a> Json<'a> {
    fn node(self) -> Node {
        self.doc.node(self.idx)
    }

    /// What kind of value this is.
    pub fn kind(self) -> Kind {
        match self.node() {
            Node::Null | Node::Key(_) => Kind::Null,
            Node::Bool(_) => Kind::Bool,
            Node::Neg(_) | Node::Pos(_) | Node::Float(_) => Kind::Number,
            Node::Str(_) => Kind::String,
            Node::Array(_) => Kind::Array,
            Node::Object(_) => Kind::Object,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(self) -> bool {
        self.kind() == Kind::Null
    }

    /// Whether this is a boolean.
    pub fn is_bool(self) -> bool {
        self.kind() == Kind::Bool
    }

    /// Whether this is a number (integer or float).
    pub fn is_number(self) -> bool {
        self.kind() == Kind::Number
    }

    /// Whether this is a string.
    pub fn is_string(self) -> bool {
        self.kind() == Kind::String
    }

    /// Whether this is an array.
    pub fn is_array(self) -> bool {
        self.kind() == Kind::Array
    }

    /// Whether this is an object.
    pub fn is_object(self) -> bool {
        self.kind() == Kind::Object
    }

    /// Whether this is an integer that fits an `i64`.
    pub fn is_i64(self) -> bool {
        self.as_i64().is_some()
    }

    /// Whether this is a non-negative integer (always fits a `u64`).
    pub fn is_u64(self) -> bool {
        matches!(self.node(), Node::Pos(_))
    }

    /// Whether this is a float (written with a fraction or an exponent, or out of `u64`/`i64`
    /// range), as `serde_json::Value::is_f64`.
    pub fn is_f64(self) -> bool {
        matches!(self.node(), Node::Float(_))
    }

    /// The boolean, if this is `true` or `false`.
    pub fn as_bool(self) -> Option<bool> {
        match self.node() {
            Node::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The integer, if this is an integer that fits an `i64`.
    pub fn as_i64(self) -> Option<i64> {
        match self.node() {
            Node::Neg(i) => Some(i),
            Node::Pos(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    /// The integer, if this is a non-negative integer.
    pub fn as_u64(self) -> Option<u64> {
        match self.node() {
            Node::Pos(u) => Some(u),
            _ => None,
        }
    }

    /// Any number as an `f64` (integers may round), as `serde_json::Value::as_f64`.
    pub fn as_f64(self) -> Option<f64> {
        match self.node() {
            Node::Neg(i) => Some(i as f64),
            Node::Pos(u) => Some(u as f64),
            Node::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(self) -> Option<&'a str> {
        match self.node() {
            Node::Str(s) => Some(self.doc.text(s)),
            _ => None,
        }
    }

    /// The number of items of an array or entries of an object (duplicate keys included);
    /// 0 for anything else.
    pub fn len(self) -> usize {
        match self.node() {
            Node::Array(h) | Node::Object(h) => h.len as usize,
            _ => 0,
        }
    }

    /// Whether [`len`](Self::len) is 0 (also true for scalars).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The value of `key` in an object: the last entry with that key, as `serde_json::Value`
    /// keeps it. `None` for a missing key or if this is not an object.
    pub fn get(self, key: &str) -> Option<Json<'a>> {
        let Node::Object(h) = self.node() else {
            return None;
        };
        let doc = self.doc;
        let mut found = None;
        let mut at = self.idx + 1;
        // Every entry is looked at (a later duplicate wins); lengths are compared before bytes.
        while at < h.end as usize {
            if let Some(Node::Key(k)) = doc.nodes.get(at)
                && k.len as usize == key.len()
                && doc.text(*k) == key
            {
                found = Some(at + 1);
            }
            at = doc.end(at + 1);
        }
        found.map(|idx| Json { doc, idx })
    }

    /// Item `i` of an array (`None` if out of range or not an array). Walks the items before
    /// it, skipping their subtrees; to visit every item use [`items`](Self::items).
    pub fn index(self, i: usize) -> Option<Json<'a>> {
        self.items().nth(i)
    }

    /// The value at a JSON Pointer (RFC 6901), as `serde_json::Value::pointer`: `""` is this
    /// value, `"/data/0/id"` walks object keys and array indexes (`~1` is `/`, `~0` is `~`).
    pub fn pointer(self, pointer: &str) -> Option<Json<'a>> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        let mut cur = self;
        for token in rest.split('/') {
            let token: Cow<'_, str> = if token.contains('~') {
                Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(token)
            };
            cur = match cur.node() {
                Node::Object(_) => cur.get(&token)?,
                Node::Array(_) => cur.index(parse_index(&token)?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// The items of an array, in order (nothing if this is not an array).
    pub fn items(self) -> Items<'a> {
        match self.node() {
            Node::Array(h) => Items {
                doc: self.doc,
                next: self.idx + 1,
                remaining: h.len as usize,
            },
            _ => Items {
                doc: self.doc,
                next: 0,
                remaining: 0,
            },
        }
    }

    /// The entries of an object as `(key, value)`, in document order, duplicates included
    /// (nothing if this is not an object).
    pub fn entries(self) -> Entries<'a> {
        match self.node() {
            Node::Object(h) => Entries {
                doc: self.doc,
                next: self.idx + 1,
                remaining: h.len as usize,
            },
            _ => Entries {
                doc: self.doc,
                next: 0,
                remaining: 0,
            },
        }
    }

    /// The keys of an object, in document order, duplicates included.
    pub fn keys(self) -> impl Iterator<Item = &'a str> + 'a {
        self.entries().map(|(k, _)| k)
    }

    /// Read this value leniently as `T` with the rules of [`crate::loose`] (`"100"` as 100,
    /// `"1"`, `1` or `"yes"` as `true`, a number as a string, `Option` for `null`, ...).
    pub fn loose<T: LooseField>(self) -> Result<T, serde_json::Error> {
        T::deserialize_loose(self.into_deserializer())
    }

    /// A boolean in any of Perl's forms ([`crate::loose::boolean`]).
    pub fn loose_bool(self) -> Option<bool> {
        crate::loose::boolean(self.into_deserializer()).ok()
    }

    /// An integer as a number or a numeric string ([`crate::loose::int`]).
    pub fn loose_i64(self) -> Option<i64> {
        crate::loose::int(self.into_deserializer()).ok()
    }

    /// A non-negative integer as a number or a numeric string ([`crate::loose::int`]).
    pub fn loose_u64(self) -> Option<u64> {
        crate::loose::int(self.into_deserializer()).ok()
    }

    /// A finite number as a number or a numeric string ([`crate::loose::float`]).
    pub fn loose_f64(self) -> Option<f64> {
        crate::loose::float(self.into_deserializer()).ok()
    }

    /// A string, or a number written in decimal ([`crate::loose::string`]).
    pub fn loose_string(self) -> Option<String> {
        crate::loose::string(self.into_deserializer()).ok()
    }

    /// Deserialize this value (and its subtree) as `T`. Strings can borrow from the document.
    pub fn deserialize<T: Deserialize<'a>>(self) -> Result<T, serde_json::Error> {
        T::deserialize(JsonDeserializer { json: self })
    }

    /// This value as a `serde_json::Value`: exactly what serde_json builds from the same input
    /// (a key given twice keeps its last value).
    pub fn to_value(self) -> Value {
        match self.node() {
            Node::Null | Node::Key(_) => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Neg(i) => Value::from(i),
            Node::Pos(u) => Value::from(u),
            Node::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(self.doc.text(s).to_owned()),
            Node::Array(_) => Value::Array(self.items().map(Json::to_value).collect()),
            Node::Object(_) => Value::Object(
                self.entries()
                    .map(|(k, v)| (k.to_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// An object's entries sorted by key, each key once with its last value.
    fn effective_entries(self) -> Vec<(&'a str, Json<'a>)> {
        let mut all: Vec<_> = self.entries().collect();
        // Stable: entries with the same key keep their order, so the last one wins below.
        all.sort_by(|a, b| a.0.cmp(b.0));
        let mut out: Vec<(&'a str, Json<'a>)> = Vec::with_capacity(all.len());
        for (k, v) in all {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        out
    }

    fn unexpected(self) -> Unexpected<'a> {
        match self.node() {
            Node::Null | Node::Key(_) => Unexpected::Unit,
            Node::Bool(b) => Unexpected::Bool(b),
            Node::Neg(i) => Unexpected::Signed(i),
            Node::Pos(u) => Unexpected::Unsigned(u),
            Node::Float(f) => Unexpected::Float(f),
            Node::Str(s) => Unexpected::Str(self.doc.text(s)),
            Node::Array(_) => Unexpected::Seq,
            Node::Object(_) => Unexpected::Map,
        }
    }
}

/// An array index token of a JSON Pointer: decimal digits, no sign, no leading zero.
fn parse_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || !token.bytes().all(|b| b.is_ascii_digit())
        || (token.len() > 1 && token.starts_with('0'))
    {
        return None;
    }
    token.parse().ok()
}

/// The items of an array: see [`Json::items`].
#[derive(Clone)]
pub struct Items<'a> {
    doc: &'a Document,
    next: usize,
    remaining: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Json<'a>;

    fn next(&mut self) -> Option<Json<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let idx = self.next;
        self.next = self.doc.end(idx);
        Some(Json { doc: self.doc, idx })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Items<'_> {}
impl std::iter::FusedIterator for Items<'_> {}

/// The entries of an object: see [`Json::entries`].
#[derive(Clone)]
pub struct Entries<'a> {
    doc: &'a Document,
    next: usize,
    remaining: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, Json<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let key = match self.doc.node(self.next) {
            Node::Key(s) => self.doc.text(s),
            _ => "",
        };
        let idx = self.next + 1;
        self.next = self.doc.end(idx);
        Some((key, Json { doc: self.doc, idx }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Entries<'_> {}
impl std::iter::FusedIterator for Entries<'_> {}

// ---------------------------------------------------------------------------------------------
// Equality, formatting, serialization

impl PartialEq<Json<'_>> for Json<'_> {
    fn eq(&self, other: &Json<'_>) -> bool {
        match (self.node(), other.node()) {
            (Node::Array(_), Node::Array(_)) => {
                self.len() == other.len() && self.items().zip(other.items()).all(|(a, b)| a == b)
            }
            (Node::Object(_), Node::Object(_)) => {
                let (a, b) = (self.effective_entries(), other.effective_entries());
                a.len() == b.len()
                    && a.iter()
                        .zip(&b)
                        .all(|((ka, va), (kb, vb))| ka == kb && va == vb)
            }
            (Node::Str(_), Node::Str(_)) => self.as_str() == other.as_str(),
            (Node::Key(_), _) | (_, Node::Key(_)) => false,
            (a, b) => a == b,
        }
    }
}

impl PartialEq<Value> for Json<'_> {
    fn eq(&self, other: &Value) -> bool {
        match (self.node(), other) {
            (Node::Null, Value::Null) => true,
            (Node::Bool(a), Value::Bool(b)) => a == *b,
            (Node::Pos(a), Value::Number(n)) => n.is_u64() && n.as_u64() == Some(a),
            (Node::Neg(a), Value::Number(n)) => !n.is_u64() && n.as_i64() == Some(a),
            (Node::Float(a), Value::Number(n)) => n.is_f64() && n.as_f64() == Some(a),
            (Node::Str(_), Value::String(s)) => self.as_str() == Some(s.as_str()),
            (Node::Array(_), Value::Array(v)) => {
                self.len() == v.len() && self.items().zip(v).all(|(a, b)| a == *b)
            }
            (Node::Object(_), Value::Object(m)) => {
                let mine = self.effective_entries();
                mine.len() == m.len()
                    && mine
                        .iter()
                        .all(|(k, v)| m.get(*k).is_some_and(|theirs| v == theirs))
            }
            _ => false,
        }
    }
}

impl PartialEq for Document {
    fn eq(&self, other: &Document) -> bool {
        self.root() == other.root()
    }
}

/// Floats are always finite, so equality is an equivalence.
impl Eq for Document {}

impl PartialEq<Value> for Document {
    fn eq(&self, other: &Value) -> bool {
        self.root() == *other
    }
}

impl PartialEq<Document> for Value {
    fn eq(&self, other: &Document) -> bool {
        other.root() == *self
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.node() {
            Node::Null | Node::Key(_) => serializer.serialize_unit(),
            Node::Bool(b) => serializer.serialize_bool(b),
            Node::Neg(i) => serializer.serialize_i64(i),
            Node::Pos(u) => serializer.serialize_u64(u),
            Node::Float(f) => serializer.serialize_f64(f),
            Node::Str(s) => serializer.serialize_str(self.doc.text(s)),
            Node::Array(_) => {
                let mut seq = serializer.serialize_seq(Some(self.len()))?;
                for item in self.items() {
                    seq.serialize_element(&item)?;
                }
                seq.end()
            }
            Node::Object(_) => {
                let mut map = serializer.serialize_map(Some(self.len()))?;
                for (k, v) in self.entries() {
                    map.serialize_entry(k, &v)?;
                }
                map.end()
            }
        }
    }
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.root().serialize(serializer)
    }
}

/// Compact JSON, as `serde_json::to_string` writes it.
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// Compact JSON, as `serde_json::to_string` writes it.
impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.root(), f)
    }
}

/// How much of a value `Debug` shows.
const DEBUG_MAX: usize = 200;

/// An `io::Write` that keeps the first `DEBUG_MAX` bytes and then fails, to cut serialization
/// of a huge value short.
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = DEBUG_MAX.saturating_sub(self.0.len());
        if room == 0 {
            return Err(std::io::Error::other("cut"));
        }
        let n = room.min(buf.len());
        self.0.extend_from_slice(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The value's compact JSON, cut after 200 bytes (`...` marks the cut).
impl fmt::Debug for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = Capped(Vec::new());
        let complete = serde_json::to_writer(&mut w, self).is_ok();
        let text = String::from_utf8_lossy(&w.0);
        if complete {
            f.write_str(&text)
        } else {
            // A cut inside a multi-byte character shows as U+FFFD; harmless in a preview.
            write!(f, "{text}...")
        }
    }
}

/// The node count, string bytes, and the root's JSON cut after 200 bytes.
impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Document({} nodes, {} string bytes: {:?})",
            self.nodes.len(),
            self.arena.len(),
            self.root()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Building: Deserialize through seeds that push onto a builder

struct Builder {
    nodes: Vec<Node>,
    arena: String,
    depth: usize,
    max_bytes: usize,
    max_nodes: usize,
}

#[cold]
fn too_many_values<E: de::Error>(max: usize) -> E {
    E::custom(format_args!(
        "JSON document too large: more than {max} values"
    ))
}

#[cold]
fn too_many_bytes<E: de::Error>(max: usize) -> E {
    E::custom(format_args!(
        "JSON document too large: more than {max} bytes of strings"
    ))
}

impl Builder {
    #[allow(
        clippy::unnecessary_min_or_max,
        reason = "MAX_SPAN is usize::MAX where usize has 32 bits (wasm32): a no-op there"
    )]
    fn new(max_bytes: usize, max_nodes: usize) -> Self {
        Builder {
            nodes: Vec::with_capacity(64),
            arena: String::with_capacity(256),
            depth: 0,
            max_bytes: max_bytes.min(MAX_SPAN),
            max_nodes: max_nodes.min(MAX_SPAN),
        }
    }

    #[inline]
    fn push<E: de::Error>(&mut self, node: Node) -> Result<usize, E> {
        let idx = self.nodes.len();
        if idx >= self.max_nodes {
            return Err(too_many_values(self.max_nodes));
        }
        self.nodes.push(node);
        Ok(idx)
    }

    #[inline]
    fn span<E: de::Error>(&mut self, s: &str) -> Result<Span, E> {
        let start = self.arena.len();
        match (
            start.checked_add(s.len()).filter(|&e| e <= self.max_bytes),
            u32::try_from(start),
            u32::try_from(s.len()),
        ) {
            (Some(_), Ok(start), Ok(len)) => {
                self.arena.push_str(s);
                Ok(Span { start, len })
            }
            _ => Err(too_many_bytes(self.max_bytes)),
        }
    }

    /// Push a container header; returns its index. Fails beyond [`MAX_DEPTH`].
    fn open<E: de::Error>(&mut self, object: bool) -> Result<usize, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "recursion limit exceeded: JSON nested deeper than {MAX_DEPTH} levels"
            )));
        }
        self.depth += 1;
        let h = Header { len: 0, end: 0 };
        self.push(if object {
            Node::Object(h)
        } else {
            Node::Array(h)
        })
    }

    fn close<E: de::Error>(&mut self, at: usize, len: usize) -> Result<(), E> {
        self.depth = self.depth.saturating_sub(1);
        let h = Header {
            len: u32::try_from(len).map_err(|_| E::custom("JSON container too large"))?,
            end: u32::try_from(self.nodes.len())
                .map_err(|_| E::custom("JSON document too large"))?,
        };
        if let Some(slot) = self.nodes.get_mut(at) {
            *slot = if matches!(slot, Node::Object(_)) {
                Node::Object(h)
            } else {
                Node::Array(h)
            };
        }
        Ok(())
    }

    fn finish(self) -> Document {
        if self.nodes.is_empty() {
            return Document::default();
        }
        Document {
            nodes: self.nodes,
            arena: self.arena,
        }
    }
}

/// Deserializes one value onto the builder.
struct ValueSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.push(Node::Null).map(drop)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push(Node::Bool(v)).map(drop)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let node = match u64::try_from(v) {
            Ok(u) => Node::Pos(u),
            Err(_) => Node::Neg(v),
        };
        self.0.push(node).map(drop)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.0.push(Node::Pos(v)).map(drop)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<(), E> {
        if let Ok(u) = u64::try_from(v) {
            self.visit_u64(u)
        } else if let Ok(i) = i64::try_from(v) {
            self.visit_i64(i)
        } else {
            Err(E::custom("JSON number out of range"))
        }
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<(), E> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(E::custom("JSON number out of range")),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // As serde_json::Value: a non-finite float (only other formats can give one) is null.
        let node = if v.is_finite() {
            Node::Float(v)
        } else {
            Node::Null
        };
        self.0.push(node).map(drop)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let span = self.0.span(v)?;
        self.0.push(Node::Str(span)).map(drop)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = self.0.open(false)?;
        let mut len = 0usize;
        while seq.next_element_seed(ValueSeed(&mut *self.0))?.is_some() {
            len += 1;
        }
        self.0.close(at, len)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.0.open(true)?;
        let mut len = 0usize;
        while map.next_key_seed(KeySeed(&mut *self.0))?.is_some() {
            map.next_value_seed(ValueSeed(&mut *self.0))?;
            len += 1;
        }
        self.0.close(at, len)
    }
}

/// Deserializes one object key onto the builder.
struct KeySeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let span = self.0.span(v)?;
        self.0.push(Node::Key(span)).map(drop)
    }
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut b = Builder::new(MAX_SPAN, MAX_SPAN);
        ValueSeed(&mut b).deserialize(deserializer)?;
        Ok(b.finish())
    }
}

/// A `Document` field of a typed model takes any JSON value, as `serde_json::Value` does.
impl LooseField for Document {
    fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Document::deserialize(d)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a subtree as a typed value

/// A [`serde::Deserializer`] over one value of a [`Document`] (see [`Json::deserialize`]);
/// strings are handed out borrowed from the document. Errors are `serde_json::Error`, as from
/// `serde_json::from_value`.
pub struct JsonDeserializer<'a> {
    json: Json<'a>,
}

impl<'a> IntoDeserializer<'a, serde_json::Error> for Json<'a> {
    type Deserializer = JsonDeserializer<'a>;

    fn into_deserializer(self) -> JsonDeserializer<'a> {
        JsonDeserializer { json: self }
    }
}

impl<'a> Deserializer<'a> for JsonDeserializer<'a> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let json = self.json;
        match json.node() {
            Node::Null | Node::Key(_) => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(b),
            Node::Neg(i) => visitor.visit_i64(i),
            Node::Pos(u) => visitor.visit_u64(u),
            Node::Float(f) => visitor.visit_f64(f),
            Node::Str(s) => visitor.visit_borrowed_str(json.doc.text(s)),
            Node::Array(_) => {
                let mut access = SeqAcc {
                    items: json.items(),
                };
                let out = visitor.visit_seq(&mut access)?;
                if access.items.remaining == 0 {
                    Ok(out)
                } else {
                    Err(de::Error::invalid_length(
                        json.len(),
                        &"fewer elements in array",
                    ))
                }
            }
            Node::Object(_) => {
                let mut access = MapAcc {
                    entries: json.entries(),
                    value: None,
                };
                let out = visitor.visit_map(&mut access)?;
                if access.entries.remaining == 0 {
                    Ok(out)
                } else {
                    Err(de::Error::invalid_length(
                        json.len(),
                        &"fewer elements in map",
                    ))
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.json.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let json = self.json;
        match json.node() {
            Node::Str(_) => visitor.visit_enum(EnumAcc {
                variant: json.as_str().unwrap_or(""),
                value: None,
            }),
            Node::Object(_) if json.len() == 1 => {
                let Some((variant, value)) = json.entries().next() else {
                    return Err(de::Error::invalid_value(
                        Unexpected::Map,
                        &"map with a single key",
                    ));
                };
                visitor.visit_enum(EnumAcc {
                    variant,
                    value: Some(value),
                })
            }
            Node::Object(_) => Err(de::Error::invalid_value(
                Unexpected::Map,
                &"map with a single key",
            )),
            _ => Err(de::Error::invalid_type(json.unexpected(), &"string or map")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct SeqAcc<'a> {
    items: Items<'a>,
}

impl<'a> SeqAccess<'a> for SeqAcc<'a> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.items
            .next()
            .map(|json| seed.deserialize(JsonDeserializer { json }))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.remaining)
    }
}

struct MapAcc<'a> {
    entries: Entries<'a>,
    value: Option<Json<'a>>,
}

impl<'a> MapAccess<'a> for MapAcc<'a> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(json) => seed.deserialize(JsonDeserializer { json }),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.remaining)
    }
}

struct EnumAcc<'a> {
    variant: &'a str,
    value: Option<Json<'a>>,
}

impl<'a> EnumAccess<'a> for EnumAcc<'a> {
    type Error = serde_json::Error;
    type Variant = VariantAcc<'a>;

    fn variant_seed<V: DeserializeSeed<'a>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantAcc<'a>), Self::Error> {
        let v = seed.deserialize(
            de::value::BorrowedStrDeserializer::<serde_json::Error>::new(self.variant),
        )?;
        Ok((v, VariantAcc { value: self.value }))
    }
}

struct VariantAcc<'a> {
    value: Option<Json<'a>>,
}

impl<'a> VariantAccess<'a> for VariantAcc<'a> {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        match self.value {
            None => Ok(()),
            Some(json) => <()>::deserialize(JsonDeserializer { json }),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        match self.value {
            Some(json) => seed.deserialize(JsonDeserializer { json }),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value {
            Some(json) if json.is_array() => JsonDeserializer { json }.deserialize_any(visitor),
            Some(json) => Err(de::Error::invalid_type(json.unexpected(), &"tuple variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value {
            Some(json) if json.is_object() => JsonDeserializer { json }.deserialize_any(visitor),
            Some(json) => Err(de::Error::invalid_type(
                json.unexpected(),
                &"struct variant",
            )),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_with(
        max_bytes: usize,
        max_nodes: usize,
        text: &str,
    ) -> Result<Document, serde_json::Error> {
        let mut b = Builder::new(max_bytes, max_nodes);
        let mut de = serde_json::Deserializer::from_str(text);
        ValueSeed(&mut b).deserialize(&mut de)?;
        de.end()?;
        Ok(b.finish())
    }

    #[test]
    fn string_bytes_limit_is_an_error() {
        // 10 bytes of keys and strings fit exactly; one more is refused.
        let ok = build_with(10, 100, r#"{"ab":"cdefghij"}"#).unwrap();
        assert_eq!(ok.string_bytes(), 10);
        let err = build_with(10, 100, r#"{"ab":"cdefghijk"}"#).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        let err = build_with(10, 100, r#"["0123456789", ""]"#).unwrap();
        assert_eq!(err.string_bytes(), 10);
        assert!(build_with(10, 100, r#"["0123456789", "x"]"#).is_err());
    }

    #[test]
    fn node_limit_is_an_error() {
        assert_eq!(build_with(100, 4, "[1,2,3]").unwrap().node_count(), 4);
        let err = build_with(100, 4, "[1,2,3,4]").unwrap_err();
        assert!(err.to_string().contains("more than 4 values"), "{err}");
    }

    #[test]
    fn limits_never_exceed_u32() {
        let b = Builder::new(usize::MAX, usize::MAX);
        assert_eq!((b.max_bytes, b.max_nodes), (MAX_SPAN, MAX_SPAN));
        assert_eq!(MAX_SPAN as u64, u64::from(u32::MAX));
    }

    #[test]
    fn tape_layout() {
        let d = build_with(MAX_SPAN, MAX_SPAN, r#"{"a":[1,-2,{"b":null}],"c":"x"}"#).unwrap();
        let s = |start, len| Span { start, len };
        let h = |len, end| Header { len, end };
        assert_eq!(
            d.nodes,
            [
                Node::Object(h(2, 10)),
                Node::Key(s(0, 1)),
                Node::Array(h(3, 8)),
                Node::Pos(1),
                Node::Neg(-2),
                Node::Object(h(1, 8)),
                Node::Key(s(1, 1)),
                Node::Null,
                Node::Key(s(2, 1)),
                Node::Str(s(3, 1)),
            ]
        );
        assert_eq!(d.arena, "abcx");
    }
}
