//! Request parameters: an ordered list of key/value pairs, and their form encoding.
//!
//! Rules, the same on every transport:
//!
//! * unset values (`None`, `()`) are dropped; an empty string is a real value and is kept;
//! * booleans are `1`/`0` (PVE refuses `True`);
//! * numbers and strings are sent as themselves;
//! * a list becomes the key repeated (`command=ls&command=-la`);
//! * nested maps are refused (the server could not read them from a form).
//!
//! Parameters come from the builder or from any `serde::Serialize` struct or map:
//!
//! ```
//! use proxmox_proto::Params;
//! #[derive(serde::Serialize)]
//! struct Create<'a> { vmid: u32, name: &'a str, start: bool, description: Option<&'a str>, net: Vec<&'a str> }
//! let p = Params::from_serialize(&Create { vmid: 100, name: "web", start: true, description: None, net: vec!["a", "b"] }).unwrap();
//! assert_eq!(p.to_form(), "vmid=100&name=web&start=1&net=a&net=b");
//! let p = Params::new().with("full", true).with("type", Some("vm")).with("x", None::<u32>);
//! assert_eq!(p.to_form(), "full=1&type=vm");
//! ```

use crate::error::InputError;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::ser::{self, Serialize};
use std::fmt;

/// Bytes escaped in `application/x-www-form-urlencoded`: everything but `A-Z a-z 0-9 - . _ ~`
/// (space becomes `+`, so `+` itself, `;` and `&` are always escaped).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Ordered request parameters. As serde data they are a list of `(key, value)` pairs, so a
/// `Params` can be given wherever parameters are taken (`get_with(path, &params)`).
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl fmt::Debug for Params {
    /// Values of keys that look secret (`password`, ...) are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_list();
        for (k, v) in &self.pairs {
            if is_secret_key(k) {
                m.entry(&(k, "<redacted>"));
            } else {
                m.entry(&(k, v));
            }
        }
        m.finish()
    }
}

/// The one list of secret names, matched as parts of parameter names (case-insensitive):
/// `password` (also `cipassword`, console passwords), `tfa-challenge` and `otp` (TFA answers),
/// `secret` (token secrets, webhook `secret`), `ticket` (also `vncticket`), `token` (CSRF
/// tokens, metrics-server `token`), `key` (`encryption-key`, `keyring`, `eab-hmac-key`,
/// `corosync_authkey`), `recovery` (TFA recovery keys). Whatever prints parameters (their
/// `Debug`, command lines in errors) redacts these values.
pub const SECRET_NAMES: &[&str] = &[
    "password",
    "tfa-challenge",
    "otp",
    "secret",
    "ticket",
    "token",
    "key",
    "recovery",
];

/// Fields of API *answers* that carry a secret, matched exactly: a new API token's `value`
/// (`POST /access/users/{user}/token/{name}`), TFA `recovery` keys, a console's `password`,
/// `ticket` and `CSRFPreventionToken`, and `corosync_authkey` of a cluster join.
pub const SECRET_ANSWER_FIELDS: &[&str] = &[
    "value",
    "recovery",
    "password",
    "ticket",
    "CSRFPreventionToken",
    "corosync_authkey",
];

/// Whether a parameter key carries a secret that must never be printed ([`SECRET_NAMES`]).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| k.contains(s)) && k != "keyboard"
}

/// Whether a field of an answer carries a secret ([`SECRET_ANSWER_FIELDS`]).
pub fn is_secret_answer_field(name: &str) -> bool {
    SECRET_ANSWER_FIELDS.contains(&name)
}

#[cfg(test)]
mod secret_names {
    use super::*;

    #[test]
    fn the_names_of_the_issue_are_secret() {
        for k in [
            "password",
            "cipassword",
            "tfa-challenge",
            "otp",
            "vncticket",
            "CSRFPreventionToken",
            "token",
            "secret",
            "encryption-key",
            "keyring",
            "eab-hmac-key",
            "corosync_authkey",
            "recovery",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["keyboard", "vmid", "node", "description", "value"] {
            assert!(!is_secret_key(k), "{k}");
        }
        for f in ["value", "recovery", "password", "corosync_authkey"] {
            assert!(is_secret_answer_field(f), "{f}");
        }
    }
}

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder form of [`Params::append`].
    pub fn with(mut self, key: impl Into<String>, value: impl ParamValue) -> Self {
        self.append(key, value);
        self
    }

    /// Append a value under `key`: an unset `Option` adds nothing, a list adds one pair per
    /// item, and a key that is already there is kept (the new pair comes after it; use
    /// [`Params::remove`] first to replace it).
    ///
    /// ```
    /// use proxmox_proto::Params;
    /// let mut p = Params::new();
    /// p.append("tags", vec!["a", "b"]);
    /// p.append("tags", "c");
    /// p.append("description", None::<&str>);
    /// p.append("onboot", true);
    /// assert_eq!(p.to_form(), "tags=a&tags=b&tags=c&onboot=1");
    /// ```
    pub fn append(&mut self, key: impl Into<String>, value: impl ParamValue) {
        let key = key.into();
        value.append_to(&key, &mut self.pairs);
    }

    /// Append one raw string pair.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// Parameters from a `Serialize` struct or map, in field order.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, InputError> {
        let mut out = Self::new();
        value
            .serialize(TopSerializer {
                out: &mut out.pairs,
            })
            .map_err(|e| match e.key {
                Some(key) => InputError::InvalidParameter { key, reason: e.msg },
                None => InputError::Invalid {
                    what: "parameters",
                    reason: e.msg,
                },
            })?;
        Ok(out)
    }

    /// Append all pairs of `other`.
    pub fn extend(&mut self, other: Self) {
        self.pairs.extend(other.pairs);
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// All values for `key`, in order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .collect()
    }

    /// Remove every pair with `key`, returning the removed values.
    pub fn remove(&mut self, key: &str) -> Vec<String> {
        let mut removed = Vec::new();
        self.pairs.retain(|(k, v)| {
            if k == key {
                removed.push(v.clone());
                false
            } else {
                true
            }
        });
        removed
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// `application/x-www-form-urlencoded` text (also used for query strings).
    pub fn to_form(&self) -> String {
        let mut s = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                s.push('&');
            }
            form_escape_into(&mut s, k);
            s.push('=');
            form_escape_into(&mut s, v);
        }
        s
    }

    /// Decode `application/x-www-form-urlencoded` text the way PVE does: pairs split on `&` and
    /// `;`, `+` is a space. A key without `=` gets an empty value. Invalid UTF-8 is an error.
    pub fn from_form(text: &str) -> Result<Self, InputError> {
        let mut out = Self::new();
        for piece in text.split(['&', ';']).filter(|p| !p.is_empty()) {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            out.pairs.push((form_unescape(k)?, form_unescape(v)?));
        }
        Ok(out)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            pairs: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

fn form_escape_into(out: &mut String, s: &str) {
    for chunk in utf8_percent_encode(s, FORM) {
        if chunk == "%20" {
            out.push('+');
        } else {
            out.push_str(chunk);
        }
    }
}

fn form_unescape(s: &str) -> Result<String, InputError> {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| InputError::Invalid {
            what: "form encoding",
            reason: "percent-decoded bytes are not UTF-8".into(),
        })
}

/// A value that can be stored under a parameter key.
pub trait ParamValue {
    /// Append zero or more `(key, value)` pairs.
    fn append_to(self, key: &str, out: &mut Vec<(String, String)>);
}

macro_rules! display_param {
    ($($t:ty),*) => {$(
        impl ParamValue for $t {
            fn append_to(self, key: &str, out: &mut Vec<(String, String)>) {
                out.push((key.to_owned(), self.to_string()));
            }
        }
    )*};
}
display_param!(
    &str, String, &String, char, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize,
    f32, f64
);

impl ParamValue for bool {
    fn append_to(self, key: &str, out: &mut Vec<(String, String)>) {
        out.push((key.to_owned(), if self { "1" } else { "0" }.to_owned()));
    }
}

impl<T: ParamValue> ParamValue for Option<T> {
    fn append_to(self, key: &str, out: &mut Vec<(String, String)>) {
        if let Some(v) = self {
            v.append_to(key, out);
        }
    }
}

impl<T: ParamValue> ParamValue for Vec<T> {
    fn append_to(self, key: &str, out: &mut Vec<(String, String)>) {
        for v in self {
            v.append_to(key, out);
        }
    }
}

impl<T: ParamValue + Clone> ParamValue for &[T] {
    fn append_to(self, key: &str, out: &mut Vec<(String, String)>) {
        for v in self {
            v.clone().append_to(key, out);
        }
    }
}

impl<T: ParamValue, const N: usize> ParamValue for [T; N] {
    fn append_to(self, key: &str, out: &mut Vec<(String, String)>) {
        for v in self {
            v.append_to(key, out);
        }
    }
}

// ---- serde: Serialize -> Params -------------------------------------------------------------

#[derive(Debug)]
struct SerError {
    key: Option<String>,
    msg: String,
}

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            key: None,
            msg: msg.to_string(),
        }
    }
}

fn unsupported(what: &str) -> SerError {
    SerError {
        key: None,
        msg: format!("{what} cannot be a request parameter"),
    }
}

/// Serializes the top level: a struct, a map, a list of `(key, value)` pairs (kept in order;
/// a key may repeat), or nothing.
struct TopSerializer<'a> {
    out: &'a mut Vec<(String, String)>,
}

/// Serializer methods that refuse a scalar with `$err` (the scalars every parameter
/// serializer here refuses; `$($extra)*` for more).
macro_rules! refuse_scalars {
    ($err:expr; $($f:ident($($t:ty),*)),* $(,)?) => {
        refuse_scalars!(@fns $err;
            serialize_bool(bool),
            serialize_i8(i8),
            serialize_i16(i16),
            serialize_i32(i32),
            serialize_i64(i64),
            serialize_u8(u8),
            serialize_u16(u16),
            serialize_u32(u32),
            serialize_u64(u64),
            serialize_f32(f32),
            serialize_f64(f64),
            serialize_char(char),
            serialize_str(&str),
            serialize_bytes(&[u8]),
            serialize_unit_variant(&'static str, u32, &'static str),
            $($f($($t),*),)*
        );
    };
    (@fns $err:expr; $($f:ident($($t:ty),*)),* $(,)?) => {$(
        fn $f(self $(, _: $t)*) -> Result<(), SerError> {
            Err($err)
        }
    )*};
}

impl<'a> ser::Serializer for TopSerializer<'a> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = TopPairs<'a>;
    type SerializeTuple = TopPairs<'a>;
    type SerializeTupleStruct = ser::Impossible<(), SerError>;
    type SerializeTupleVariant = ser::Impossible<(), SerError>;
    type SerializeMap = TopMap<'a>;
    type SerializeStruct = TopMap<'a>;
    type SerializeStructVariant = ser::Impossible<(), SerError>;

    refuse_scalars!(SerError {
        key: None,
        msg: "a lone value cannot be the parameters: give a struct, a map, or pairs like \
              &[(\"type\", \"vm\")]"
            .into(),
    };);

    fn serialize_none(self) -> Result<(), SerError> {
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), SerError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), SerError> {
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), SerError> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
        Ok(TopPairs(TopMap {
            out: self.out,
            key: None,
        }))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerError> {
        Ok(TopPairs(TopMap {
            out: self.out,
            key: None,
        }))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(unsupported("a tuple struct at the top level"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Ok(TopMap {
            out: self.out,
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Ok(TopMap {
            out: self.out,
            key: None,
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(unsupported("an enum variant with data"))
    }
}

/// A top-level list: each element is a `(key, value)` pair (a 2-tuple or a 2-element list).
struct TopPairs<'a>(TopMap<'a>);

impl TopPairs<'_> {
    fn pair<T: ?Sized + Serialize>(&mut self, element: &T) -> Result<(), SerError> {
        element.serialize(PairSerializer { map: &mut self.0 })
    }
}

impl ser::SerializeSeq for TopPairs<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        self.pair(value)
    }
    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

impl ser::SerializeTuple for TopPairs<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        self.pair(value)
    }
    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

fn not_a_pair() -> SerError {
    unsupported("a list element that is not a (key, value) pair")
}

/// One element of a top-level list: a 2-tuple or a 2-element list, key first.
struct PairSerializer<'m, 'a> {
    map: &'m mut TopMap<'a>,
}

impl<'m, 'a> ser::Serializer for PairSerializer<'m, 'a> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = PairParts<'m, 'a>;
    type SerializeTuple = PairParts<'m, 'a>;
    type SerializeTupleStruct = ser::Impossible<(), SerError>;
    type SerializeTupleVariant = ser::Impossible<(), SerError>;
    type SerializeMap = ser::Impossible<(), SerError>;
    type SerializeStruct = ser::Impossible<(), SerError>;
    type SerializeStructVariant = ser::Impossible<(), SerError>;

    refuse_scalars!(not_a_pair();
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    );

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), SerError> {
        Err(not_a_pair())
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
        match len {
            Some(2) | None => Ok(PairParts {
                map: self.map,
                seen: 0,
            }),
            Some(_) => Err(not_a_pair()),
        }
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(not_a_pair())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(not_a_pair())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Err(not_a_pair())
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Err(not_a_pair())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(not_a_pair())
    }
}

/// The key, then the value, of one pair.
struct PairParts<'m, 'a> {
    map: &'m mut TopMap<'a>,
    seen: u8,
}

impl PairParts<'_, '_> {
    fn part<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        self.seen += 1;
        match self.seen {
            1 => ser::SerializeMap::serialize_key(&mut *self.map, value),
            2 => ser::SerializeMap::serialize_value(&mut *self.map, value),
            _ => Err(not_a_pair()),
        }
    }
    fn done(self) -> Result<(), SerError> {
        if self.seen == 2 {
            Ok(())
        } else {
            Err(not_a_pair())
        }
    }
}

impl ser::SerializeSeq for PairParts<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        self.part(value)
    }
    fn end(self) -> Result<(), SerError> {
        self.done()
    }
}

impl ser::SerializeTuple for PairParts<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        self.part(value)
    }
    fn end(self) -> Result<(), SerError> {
        self.done()
    }
}

struct TopMap<'a> {
    out: &'a mut Vec<(String, String)>,
    key: Option<String>,
}

impl TopMap<'_> {
    fn put<T: ?Sized + Serialize>(&mut self, key: String, value: &T) -> Result<(), SerError> {
        let values = value
            .serialize(ValueSerializer { in_list: false })
            .map_err(|mut e| {
                e.key = Some(key.clone());
                e
            })?;
        for v in values {
            self.out.push((key.clone(), v));
        }
        Ok(())
    }
}

impl ser::SerializeMap for TopMap<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), SerError> {
        let mut k = key.serialize(ValueSerializer { in_list: true })?;
        match (k.pop(), k.is_empty()) {
            (Some(k), true) => {
                self.key = Some(k);
                Ok(())
            }
            _ => Err(unsupported("a map key that is not a string or number")),
        }
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| unsupported("a map value without a key"))?;
        self.put(key, value)
    }
    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

impl ser::SerializeStruct for TopMap<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        self.put(key.to_owned(), value)
    }
    fn end(self) -> Result<(), SerError> {
        Ok(())
    }
}

/// Serializes one parameter value into zero (unset), one, or several (list) strings.
struct ValueSerializer {
    in_list: bool,
}

macro_rules! value_display {
    ($($f:ident($t:ty)),* $(,)?) => {$(
        fn $f(self, v: $t) -> Result<Vec<String>, SerError> {
            Ok(vec![v.to_string()])
        }
    )*};
}

impl ser::Serializer for ValueSerializer {
    type Ok = Vec<String>;
    type Error = SerError;
    type SerializeSeq = ListSer;
    type SerializeTuple = ListSer;
    type SerializeTupleStruct = ListSer;
    type SerializeTupleVariant = ser::Impossible<Vec<String>, SerError>;
    type SerializeMap = ser::Impossible<Vec<String>, SerError>;
    type SerializeStruct = ser::Impossible<Vec<String>, SerError>;
    type SerializeStructVariant = ser::Impossible<Vec<String>, SerError>;

    value_display!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
    );

    fn serialize_bool(self, v: bool) -> Result<Vec<String>, SerError> {
        Ok(vec![if v { "1" } else { "0" }.to_owned()])
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Vec<String>, SerError> {
        Err(unsupported("raw bytes"))
    }
    fn serialize_none(self) -> Result<Vec<String>, SerError> {
        Ok(Vec::new())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<Vec<String>, SerError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Vec<String>, SerError> {
        Ok(Vec::new())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Vec<String>, SerError> {
        Ok(Vec::new())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Vec<String>, SerError> {
        Ok(vec![variant.to_owned()])
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Vec<String>, SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Vec<String>, SerError> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<ListSer, SerError> {
        if self.in_list {
            return Err(unsupported("a list inside a list"));
        }
        Ok(ListSer { items: Vec::new() })
    }
    fn serialize_tuple(self, len: usize) -> Result<ListSer, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<ListSer, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Err(unsupported("a nested map"))
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, SerError> {
        Err(unsupported("a nested struct"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(unsupported("an enum variant with data"))
    }
}

struct ListSer {
    items: Vec<String>,
}

impl ListSer {
    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        self.items
            .extend(value.serialize(ValueSerializer { in_list: true })?);
        Ok(())
    }
}

impl ser::SerializeSeq for ListSer {
    type Ok = Vec<String>;
    type Error = SerError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        self.push(value)
    }
    fn end(self) -> Result<Vec<String>, SerError> {
        Ok(self.items)
    }
}

impl ser::SerializeTuple for ListSer {
    type Ok = Vec<String>;
    type Error = SerError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        self.push(value)
    }
    fn end(self) -> Result<Vec<String>, SerError> {
        Ok(self.items)
    }
}

impl ser::SerializeTupleStruct for ListSer {
    type Ok = Vec<String>;
    type Error = SerError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        self.push(value)
    }
    fn end(self) -> Result<Vec<String>, SerError> {
        Ok(self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn builder_rules() {
        let p = Params::new()
            .with("full", true)
            .with("x", None::<&str>)
            .with("n", 1)
            .with("l", vec!["a", "b"])
            .with("s", "a b&c=ü")
            .with("empty", "");
        assert_eq!(p.to_form(), "full=1&n=1&l=a&l=b&s=a+b%26c%3D%C3%BC&empty=");
    }

    #[test]
    fn lists_of_pairs_and_params_themselves_are_parameters() {
        let form = |v: &dyn erased::Ser| v.form();
        assert_eq!(
            form(&[("type", "vm"), ("full", "1")]),
            Ok("type=vm&full=1".into())
        );
        assert_eq!(form(&vec![("k", 1), ("k", 2)]), Ok("k=1&k=2".into()));
        assert_eq!(form(&[["a", "b"]]), Ok("a=b".into()));
        assert_eq!(
            form(&[("command", vec!["ls", "-l"])]),
            Ok("command=ls&command=-l".into())
        );
        let p = Params::new().with("b", 2).with("a", "x");
        assert_eq!(form(&p), Ok("b=2&a=x".into()));
        assert_eq!(form(&&p), Ok("b=2&a=x".into()));
        assert_eq!(form(&serde_json::json!({"full": 1})), Ok("full=1".into()));
        assert_eq!(
            form(&"type=vm"),
            Err(
                "invalid parameters: a lone value cannot be the parameters: give a struct, a \
                 map, or pairs like &[(\"type\", \"vm\")]"
                    .into()
            )
        );
        // Params as serde data: the list of pairs, both ways.
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(text, r#"[["b","2"],["a","x"]]"#);
        assert_eq!(serde_json::from_str::<Params>(&text).unwrap(), p);
        for (bad, what) in [
            (
                form(&[("a", "b", "c")]),
                "a list element that is not a (key, value) pair",
            ),
            (
                form(&["lone"]),
                "a list element that is not a (key, value) pair",
            ),
            (
                form(&[["a"]]),
                "a list element that is not a (key, value) pair",
            ),
        ] {
            assert_eq!(
                bad,
                Err(format!(
                    "invalid parameters: {what} cannot be a request parameter"
                ))
            );
        }
    }

    /// `Params::from_serialize` over `dyn`-friendly values, for the table above.
    mod erased {
        pub(super) trait Ser {
            fn form(&self) -> Result<String, String>;
        }
        impl<T: serde::Serialize> Ser for T {
            fn form(&self) -> Result<String, String> {
                super::Params::from_serialize(self)
                    .map(|p| p.to_form())
                    .map_err(|e| e.to_string())
            }
        }
    }

    #[test]
    fn escapes_what_the_server_splits_on() {
        let p = Params::new().with("k", "a;b+c%d/e~f.g-h_i");
        assert_eq!(p.to_form(), "k=a%3Bb%2Bc%25d%2Fe~f.g-h_i");
        assert_eq!(Params::from_form(&p.to_form()).unwrap(), p);
    }

    #[test]
    fn serde_struct_and_map() {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "kebab-case")]
        struct S {
            timeout: u32,
            skiplock: bool,
            x: Option<u32>,
            l: Vec<String>,
            s: &'static str,
            checksum_algorithm: Option<&'static str>,
        }
        let p = Params::from_serialize(&S {
            timeout: 30,
            skiplock: false,
            x: None,
            l: vec!["a".into(), "b".into()],
            s: "a b",
            checksum_algorithm: Some("sha256"),
        })
        .unwrap();
        assert_eq!(
            p.to_form(),
            "timeout=30&skiplock=0&l=a&l=b&s=a+b&checksum-algorithm=sha256"
        );
        let mut m = BTreeMap::new();
        m.insert("b", 2);
        m.insert("a", 1);
        assert_eq!(Params::from_serialize(&m).unwrap().to_form(), "a=1&b=2");
        let v = serde_json::json!({"k": true, "n": null, "l": [1, 2]});
        assert_eq!(Params::from_serialize(&v).unwrap().to_form(), "k=1&l=1&l=2");
    }

    #[test]
    fn serde_refuses_nested() {
        let v = serde_json::json!({"k": {"x": 1}});
        let e = Params::from_serialize(&v).unwrap_err();
        assert!(e.to_string().contains("\"k\""), "{e}");
        assert!(Params::from_serialize(&serde_json::json!({"k": [[1]]})).is_err());
        assert!(Params::from_serialize(&5).is_err());
        assert!(Params::from_serialize(&()).unwrap().is_empty());
    }

    #[test]
    fn debug_redacts_secrets() {
        let p = Params::new()
            .with("username", "root@pam")
            .with("password", "hunter2");
        let d = format!("{p:?}");
        assert!(!d.contains("hunter2"));
        assert!(d.contains("root@pam"));
    }

    #[test]
    fn accessors() {
        let mut p = Params::new().with("a", 1).with("b", 2).with("a", 3);
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get_all("a"), ["1", "3"]);
        assert_eq!(p.remove("a"), ["1", "3"]);
        assert_eq!(p.len(), 1);
        assert_eq!(
            Params::from_form("a=1;b&c=%ZZ").unwrap().to_form(),
            "a=1&b=&c=%25ZZ"
        );
    }
}
