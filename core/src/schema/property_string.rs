//! Property strings (`net0`, `scsi0`, `ipconfig0`, …): parsed from their format's keys into
//! ordered `key=value` entries, and written back the way PVE writes them.
//!
//! The rules are PVE's, as pve-common implements them (`src/PVE/JSONSchema.pm`,
//! `parse_property_string` and `print_property_string`; `src/PVE/ParseUtils.pm`, `split_list`;
//! read at commit `f665029e`, 2026-08-04). This module is written from those facts, not from
//! that code:
//!
//! * The text is cut at every `,`. There is no quoting and no escape: a value can never
//!   contain a `,` (PVE's printer refuses such a value, "illegal value with commas"). Parts
//!   that are empty or only white space are skipped.
//! * A part with a `=` is `key=value`, cut at the first `=`: the key is everything before it,
//!   the value everything after (it may contain more `=`). Both must be non-empty.
//! * A part without `=` is the value of the format's default key (`local-lvm:vm-100-disk-0`
//!   is `file=local-lvm:vm-100-disk-0`); at most once, and only if the format has one.
//! * A key with `alias` stands for another key: `volume=…` is stored as `file=…`. With
//!   `keyAlias` too, its own name becomes the value of that key: `virtio=BC:24:…` is
//!   `macaddr=BC:24:…` plus `model=virtio`.
//! * A key given twice is refused, also when the second one comes through an alias
//!   (`model=e1000,virtio=…`, `macaddr=…,virtio=…`). An unknown key is refused. A key that is
//!   neither optional nor an alias must be present.
//! * Values are kept as written. PVE reads a boolean key's `yes`/`on`/`true` as `1` (and the
//!   negatives as `0`); [`PropertyString::get_bool`] understands the same spellings. Values
//!   are not checked against their types, enums or patterns here: the checker does that, with
//!   [`key_schema`] to find each value's schema.
//! * Written back ([`PropertyString::to_text`]): the default key first, without `key=`; then
//!   the keys that are not optional, sorted; then the rest, sorted. A `keyAlias` pair is
//!   written as one part again (`virtio=BC:24:…`), as PVE writes it. So a string as PVE
//!   writes it comes back unchanged. Values are written as stored (PVE's printer writes the
//!   numbers it parsed, a boolean as `1`/`0` and a `disk-size` in bytes as `32G`; the strings
//!   it wrote are already in that form).
//!
//! A line break anywhere is refused: PVE keeps property strings in line-based configuration
//! files, and its key/value pattern does not match across one.
//!
//! These are PVE's rules (PMG's API shares pve-common). PBS's property strings come from its
//! Rust schema crate, which also reads a double-quoted value with backslash escapes; this
//! module does not.
//!
//! ```
//! use proxmox_proto::schema::property_string::parse;
//! # use proxmox_proto::schema::{PropSchema, PropertyFormat};
//! # let opt = PropSchema { optional: true, ..Default::default() };
//! # let alias = PropSchema { alias: Some("macaddr".into()), key_alias: Some("model".into()), ..Default::default() };
//! # let net = PropertyFormat {
//! #     keys: vec![
//! #         ("model".into(), PropSchema { default_key: true, ..Default::default() }),
//! #         ("macaddr".into(), opt.clone()), ("bridge".into(), opt.clone()),
//! #         ("firewall".into(), opt.clone()), ("trunks".into(), opt.clone()),
//! #         ("virtio".into(), alias.clone()), ("e1000".into(), alias),
//! #     ],
//! #     default_key: Some("model".into()),
//! # };
//! // `net` is the format of `net[n]`, as loaded from the server's schema.
//! let mut nic = parse(&net, "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1").unwrap();
//! assert_eq!(nic.get("model"), Some("virtio"));
//! assert_eq!(nic.get("macaddr"), Some("BC:24:11:2A:3B:4C"));
//! assert_eq!(nic.get_bool("firewall").unwrap(), Some(true));
//!
//! nic.set("trunks", "10;20;30").unwrap();
//! assert_eq!(nic.get_list("trunks"), Some(vec!["10", "20", "30"]));
//! assert_eq!(
//!     nic.to_text(&net),
//!     "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1,trunks=10;20;30"
//! );
//!
//! let err = parse(&net, "virtio=BC:24:11:2A:3B:4C,brige=vmbr0").unwrap_err();
//! assert!(err.to_string().contains("unknown key"));
//! ```

use super::model::{PropSchema, PropertyFormat};
use std::fmt;

/// The longest key an error repeats, in characters.
const SHOWN_KEY: usize = 64;

/// A parsed property string: its `(key, value)` entries in the order written, keys resolved
/// (aliases replaced by the key they stand for, a value without `key=` under the default key).
///
/// Keys are unique. Values are non-empty and never contain `,` or a line break.
///
/// ```
/// use proxmox_proto::schema::property_string::PropertyString;
/// let mut p = PropertyString::new();
/// p.set("ip", "dhcp").unwrap();
/// p.set("ip6", "auto").unwrap();
/// assert_eq!(p.to_string(), "ip=dhcp,ip6=auto");
/// assert_eq!(p.iter().collect::<Vec<_>>(), [("ip", "dhcp"), ("ip6", "auto")]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PropertyString {
    entries: Vec<(String, String)>,
}

/// Why a property string does not parse, or a value is not what a typed getter or
/// [`PropertyString::set`] needs.
///
/// Errors name keys, never values (a property string may carry a secret, such as a
/// `proxmox-remote` API token).
///
/// ```
/// use proxmox_proto::schema::property_string::{PropertyStringError, parse};
/// use proxmox_proto::schema::{PropSchema, PropertyFormat};
/// let format = PropertyFormat {
///     keys: vec![("ip".into(), PropSchema { optional: true, ..Default::default() })],
///     default_key: None,
/// };
/// let err = parse(&format, "ip=dhcp,ip=manual").unwrap_err();
/// assert_eq!(err, PropertyStringError::DuplicateKey { key: "ip".into(), via: None });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PropertyStringError {
    /// The text has a line break.
    #[error(
        "a property string cannot contain a line break; give the value on one line, parts \
         separated by ','"
    )]
    LineBreak,
    /// A part has `=` but nothing before or after it (`=x`, `key=`).
    #[error(
        "part {part} of the property string has an empty key or an empty value around '='; \
         write key=value (PVE has no empty values: leave the key out instead)"
    )]
    EmptyKeyOrValue {
        /// Which comma-separated part, counting from 1.
        part: usize,
    },
    /// A part without `key=`, but the format has no default key.
    #[error(
        "part {part} of the property string has no 'key=', and this format has no default key; \
         write it as key=value"
    )]
    NoDefaultKey {
        /// Which comma-separated part, counting from 1.
        part: usize,
    },
    /// A key the format does not have.
    #[error("unknown key {key:?} in the property string; the format's keys are: {}", list(.known))]
    UnknownKey {
        /// The key as written (cut to 64 characters).
        key: String,
        /// The format's keys: its own keys, then its aliases, each in schema order.
        known: Vec<String>,
    },
    /// A key given twice, directly or through an alias.
    #[error("key {key:?} is given twice in the property string{}; give each key once", via_text(.via))]
    DuplicateKey {
        /// The key given twice (as stored: an alias's target, or a `keyAlias` key).
        key: String,
        /// The alias key that set it the second time (`virtio` in `model=e1000,virtio=…`).
        via: Option<String>,
    },
    /// An alias key whose `alias` or `keyAlias` names no plain key of the format.
    #[error(
        "key {key:?} of the property string stands for {target:?}, which the format does not \
         define as a key of its own; the schema is inconsistent (load it again from the server)"
    )]
    BadAlias {
        /// The alias key.
        key: String,
        /// The key it names.
        target: String,
    },
    /// Keys that are neither optional nor aliases are missing.
    #[error("the property string lacks required key(s) {}; add them as key=value", list(.keys))]
    MissingKeys {
        /// The missing keys, in schema order.
        keys: Vec<String>,
    },
    /// A value is not of the type a typed getter reads.
    #[error("the value of key {key:?} is not {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// What it should be (`"a boolean (1/0, on/off, yes/no, true/false)"`).
        expected: &'static str,
    },
    /// [`PropertyString::set`] was given a key or value a property string cannot hold.
    #[error("cannot set key {key:?} in a property string: {reason}")]
    Unwritable {
        /// The key (cut to 64 characters).
        key: String,
        /// What is wrong and what to do.
        reason: &'static str,
    },
}

fn list(items: &[String]) -> String {
    items.join(", ")
}

fn via_text(via: &Option<String>) -> String {
    match via {
        Some(v) => format!(" (the second time through alias key {v:?})"),
        None => String::new(),
    }
}

fn shown(key: &str) -> String {
    key.chars().take(SHOWN_KEY).collect()
}

fn blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// Whether a key name can be written as `name=value` and read back as that name.
fn printable_key(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', ',', '\n'])
}

fn find<'f>(format: &'f PropertyFormat, key: &str) -> Option<&'f PropSchema> {
    format.keys.iter().find(|(k, _)| k == key).map(|(_, s)| s)
}

/// A key of the format that is not an alias, and can be written back.
fn plain<'f>(format: &'f PropertyFormat, key: &str) -> Option<&'f PropSchema> {
    find(format, key).filter(|s| s.alias.is_none() && printable_key(key))
}

/// The key a value without `key=` belongs to: [`PropertyFormat::default_key`], or else the
/// first key marked [`PropSchema::default_key`]; `None` if the format has none, or names one
/// that is not a plain key of its own (PVE refuses an alias as the default key).
///
/// ```
/// use proxmox_proto::schema::property_string::default_key;
/// use proxmox_proto::schema::{PropSchema, PropertyFormat};
/// let format = PropertyFormat {
///     keys: vec![("file".into(), PropSchema { default_key: true, ..Default::default() })],
///     default_key: None,
/// };
/// assert_eq!(default_key(&format), Some("file"));
/// ```
pub fn default_key(format: &PropertyFormat) -> Option<&str> {
    let named = match &format.default_key {
        Some(k) => k.as_str(),
        None => format
            .keys
            .iter()
            .find(|(_, s)| s.default_key)
            .map(|(k, _)| k.as_str())?,
    };
    plain(format, named).map(|_| named)
}

/// The schema of the value stored under `key`: the key's own schema, or for an alias key
/// (`virtio`, `volume`) the schema of the key it stands for (`macaddr`, `file`). `None` for a
/// key the format does not have.
///
/// The checker validates each entry of a [`PropertyString`] with it.
///
/// ```
/// use proxmox_proto::schema::property_string::key_schema;
/// use proxmox_proto::schema::{PropSchema, PropertyFormat, SchemaType};
/// let format = PropertyFormat {
///     keys: vec![
///         ("file".into(), PropSchema { ty: SchemaType::String, ..Default::default() }),
///         ("volume".into(), PropSchema { alias: Some("file".into()), ..Default::default() }),
///     ],
///     default_key: Some("file".into()),
/// };
/// assert!(matches!(key_schema(&format, "volume").unwrap().ty, SchemaType::String));
/// assert!(key_schema(&format, "size").is_none());
/// ```
pub fn key_schema<'f>(format: &'f PropertyFormat, key: &str) -> Option<&'f PropSchema> {
    let schema = find(format, key)?;
    match &schema.alias {
        Some(target) => find(format, target).filter(|s| s.alias.is_none()),
        None => Some(schema),
    }
}

/// Parses a property string against its format: syntax and keys, not values (see the module
/// documentation for PVE's rules).
///
/// ```
/// use proxmox_proto::schema::property_string::parse;
/// use proxmox_proto::schema::{PropSchema, PropertyFormat};
/// let opt = PropSchema { optional: true, ..Default::default() };
/// let scsi = PropertyFormat {
///     keys: vec![
///         ("file".into(), PropSchema { default_key: true, ..Default::default() }),
///         ("iothread".into(), opt.clone()),
///         ("size".into(), opt),
///     ],
///     default_key: Some("file".into()),
/// };
/// let disk = parse(&scsi, "local-lvm:vm-100-disk-0,iothread=1,size=32G").unwrap();
/// assert_eq!(disk.get("file"), Some("local-lvm:vm-100-disk-0"));
/// assert_eq!(disk.to_text(&scsi), "local-lvm:vm-100-disk-0,iothread=1,size=32G");
/// assert!(parse(&scsi, "iothread=1").is_err()); // `file` is required
/// ```
pub fn parse(format: &PropertyFormat, text: &str) -> Result<PropertyString, PropertyStringError> {
    let entries = parse_entries(format, text)?;
    Ok(PropertyString {
        entries: entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    })
}

/// What [`parse`] gives, borrowed from the format and the text: the same entries in the same
/// order, the same errors, and no allocation but the list. For checking a value without
/// keeping it (the checker does this for every property-string parameter of a call).
///
/// ```
/// use proxmox_proto::schema::property_string::parse_entries;
/// use proxmox_proto::schema::{PropSchema, PropertyFormat};
/// let opt = PropSchema { optional: true, ..Default::default() };
/// let format = PropertyFormat {
///     keys: vec![("ip".into(), opt.clone()), ("ip6".into(), opt)],
///     default_key: None,
/// };
/// assert_eq!(
///     parse_entries(&format, "ip=dhcp,ip6=auto").unwrap(),
///     [("ip", "dhcp"), ("ip6", "auto")]
/// );
/// ```
pub fn parse_entries<'a>(
    format: &'a PropertyFormat,
    text: &'a str,
) -> Result<Vec<(&'a str, &'a str)>, PropertyStringError> {
    if text.contains('\n') {
        return Err(PropertyStringError::LineBreak);
    }
    let mut out: Vec<(&'a str, &'a str)> = Vec::with_capacity(8);
    for (index, part) in text.split(',').enumerate() {
        let number = index + 1;
        if blank(part) {
            continue;
        }
        match part.split_once('=') {
            Some((key, value)) if !key.is_empty() && !value.is_empty() => {
                insert_keyed(&mut out, format, key, value)?;
            }
            Some(_) => return Err(PropertyStringError::EmptyKeyOrValue { part: number }),
            None => {
                let Some(key) = default_key(format) else {
                    return Err(PropertyStringError::NoDefaultKey { part: number });
                };
                if lookup(&out, key).is_some() {
                    return Err(duplicate(key, None));
                }
                out.push((key, part));
            }
        }
    }
    let required = |(key, schema): &&'a (String, PropSchema)| {
        !schema.optional && schema.alias.is_none() && lookup(&out, key).is_none()
    };
    if format.keys.iter().any(|e| required(&e)) {
        let mut missing: Vec<String> = Vec::new();
        for (key, _) in format.keys.iter().filter(required) {
            if !missing.contains(key) {
                missing.push(key.clone());
            }
        }
        return Err(PropertyStringError::MissingKeys { keys: missing });
    }
    Ok(out)
}

fn lookup<'a>(entries: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    entries.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Stores one `key=value` part, resolving an alias (PVE's `alias` and `keyAlias`).
fn insert_keyed<'a>(
    out: &mut Vec<(&'a str, &'a str)>,
    format: &'a PropertyFormat,
    key: &'a str,
    value: &'a str,
) -> Result<(), PropertyStringError> {
    let Some((name, schema)) = format.keys.iter().find(|(k, _)| k == key) else {
        return Err(unknown(format, key));
    };
    if lookup(out, key).is_some() {
        return Err(duplicate(key, None));
    }
    let Some(target) = schema.alias.as_deref() else {
        out.push((name, value));
        return Ok(());
    };
    if plain(format, target).is_none() {
        return Err(bad_alias(key, target));
    }
    if let Some(key_alias) = schema.key_alias.as_deref() {
        if plain(format, key_alias).is_none() {
            return Err(bad_alias(key, key_alias));
        }
        if lookup(out, key_alias).is_some() || key_alias == target {
            return Err(duplicate(key_alias, Some(key)));
        }
    }
    if lookup(out, target).is_some() {
        return Err(duplicate(target, Some(key)));
    }
    out.push((target, value));
    if let Some(key_alias) = schema.key_alias.as_deref() {
        out.push((key_alias, name));
    }
    Ok(())
}

fn unknown(format: &PropertyFormat, key: &str) -> PropertyStringError {
    let own = format.keys.iter().filter(|(_, s)| s.alias.is_none());
    let aliases = format.keys.iter().filter(|(_, s)| s.alias.is_some());
    PropertyStringError::UnknownKey {
        key: shown(key),
        known: own.chain(aliases).map(|(k, _)| shown(k)).collect(),
    }
}

fn duplicate(key: &str, via: Option<&str>) -> PropertyStringError {
    PropertyStringError::DuplicateKey {
        key: key.to_owned(),
        via: via.map(str::to_owned),
    }
}

fn bad_alias(key: &str, target: &str) -> PropertyStringError {
    PropertyStringError::BadAlias {
        key: key.to_owned(),
        target: shown(target),
    }
}

/// PVE's boolean spellings (`parse_boolean`): case-insensitive.
fn boolean(value: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["1", "on", "yes", "true"];
    const FALSE: [&str; 4] = ["0", "off", "no", "false"];
    if TRUE.iter().any(|t| value.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| value.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// PVE's integer syntax (`is_integer`): an optional sign and decimal digits.
fn integer_syntax(value: &str) -> bool {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// PVE's number syntax (`is_number`): an optional sign, digits with an optional `.` (digits
/// on at least one side), an optional exponent.
fn number_syntax(value: &str) -> bool {
    let rest = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = (!int.is_empty() || !frac.is_empty()) && all_digits(int) && all_digits(frac);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

impl PropertyString {
    /// An empty property string.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// assert!(PropertyString::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn index(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    /// The value of `key`, if present. Keys are the resolved ones: `macaddr` and `model` for
    /// a `virtio=…` part, never `virtio`.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let mut p = PropertyString::new();
    /// p.set("bridge", "vmbr0").unwrap();
    /// assert_eq!(p.get("bridge"), Some("vmbr0"));
    /// assert_eq!(p.get("tag"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn typed<T>(
        &self,
        key: &str,
        expected: &'static str,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, PropertyStringError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => read(v)
                .map(Some)
                .ok_or_else(|| PropertyStringError::BadValue {
                    key: key.to_owned(),
                    expected,
                }),
        }
    }

    /// The value of `key` as a boolean, with PVE's spellings: `1`, `on`, `yes`, `true` and
    /// `0`, `off`, `no`, `false`, in any case. `Ok(None)` if absent; an error if present but
    /// none of these.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let mut p = PropertyString::new();
    /// p.set("firewall", "Yes").unwrap();
    /// p.set("link_down", "maybe").unwrap();
    /// assert_eq!(p.get_bool("firewall").unwrap(), Some(true));
    /// assert_eq!(p.get_bool("rate").unwrap(), None);
    /// assert!(p.get_bool("link_down").is_err());
    /// ```
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, PropertyStringError> {
        self.typed(key, "a boolean (1/0, on/off, yes/no, true/false)", boolean)
    }

    /// The value of `key` as an integer, with PVE's syntax: an optional sign and decimal
    /// digits. `Ok(None)` if absent; an error if present but not an integer, or outside 64
    /// bits.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let mut p = PropertyString::new();
    /// p.set("tag", "+42").unwrap();
    /// p.set("mtu", "1.5").unwrap();
    /// assert_eq!(p.get_int("tag").unwrap(), Some(42));
    /// assert!(p.get_int("mtu").is_err());
    /// ```
    pub fn get_int(&self, key: &str) -> Result<Option<i64>, PropertyStringError> {
        self.typed(
            key,
            "an integer (optional sign, decimal digits, within 64 bits)",
            |v| {
                if integer_syntax(v) {
                    v.parse().ok()
                } else {
                    None
                }
            },
        )
    }

    /// The value of `key` as a number, with PVE's syntax (`12`, `-1.5`, `.5`, `3.`, `1e6`;
    /// no `inf` or `nan`). `Ok(None)` if absent; an error if present but not a finite number.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let mut p = PropertyString::new();
    /// p.set("rate", "12.5").unwrap();
    /// p.set("bad", "inf").unwrap();
    /// assert_eq!(p.get_number("rate").unwrap(), Some(12.5));
    /// assert!(p.get_number("bad").is_err());
    /// ```
    pub fn get_number(&self, key: &str) -> Result<Option<f64>, PropertyStringError> {
        self.typed(key, "a finite number (like 12, -1.5, .5, 1e6)", |v| {
            if number_syntax(v) {
                v.parse::<f64>().ok().filter(|n| n.is_finite())
            } else {
                None
            }
        })
    }

    /// The value of `key` as a list, split as PVE's `split_list` splits it: at `;` and white
    /// space (runs count once, no empty items), or at NUL characters if there are any. A
    /// value inside a property string never has a `,`, so lists there use `;`
    /// (`trunks=10;20;30`). `None` if absent.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let mut p = PropertyString::new();
    /// p.set("trunks", "10;20; 30").unwrap();
    /// assert_eq!(p.get_list("trunks"), Some(vec!["10", "20", "30"]));
    /// ```
    pub fn get_list(&self, key: &str) -> Option<Vec<&str>> {
        let value = self.get(key)?;
        if value.contains('\0') {
            let mut items: Vec<&str> = value.split('\0').collect();
            // Like Perl's `split`, trailing empty items are dropped.
            while items.last().is_some_and(|s| s.is_empty()) {
                items.pop();
            }
            return Some(items);
        }
        Some(
            value
                .split(|c: char| c == ';' || c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    /// Sets `key` to `value`, in place if present (the old value is returned), else at the
    /// end. Keys are stored as given: set `model` and `macaddr`, not `virtio`.
    ///
    /// Refused: an empty key or value (PVE has no empty values: [`remove`](Self::remove)
    /// the key instead), a key with `=`, and a `,` or a line break in either (a property
    /// string cannot hold them).
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let mut p = PropertyString::new();
    /// assert_eq!(p.set("tag", "10").unwrap(), None);
    /// assert_eq!(p.set("tag", "20").unwrap().as_deref(), Some("10"));
    /// assert!(p.set("trunks", "10,20").is_err());
    /// ```
    pub fn set(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Option<String>, PropertyStringError> {
        let key = key.into();
        let value = value.into();
        let reason = if key.is_empty() {
            Some("the key is empty")
        } else if key.contains(['=', ',', '\n']) {
            Some("a key cannot contain '=', ',' or a line break")
        } else if value.is_empty() {
            Some("the value is empty; PVE has no empty values, remove the key instead")
        } else if value.contains([',', '\n']) {
            Some(
                "a value cannot contain ',' or a line break (PVE's property strings have no \
                 quoting); use ';' between list items",
            )
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(PropertyStringError::Unwritable {
                key: shown(&key),
                reason,
            });
        }
        match self.index(&key) {
            Some(i) => Ok(Some(std::mem::replace(&mut self.entries[i].1, value))),
            None => {
                self.entries.push((key, value));
                Ok(None)
            }
        }
    }

    /// Sets `key` to a `;`-separated list (`trunks=10;20;30`), the way PVE writes lists
    /// inside property strings. Items must be non-empty, without `;`, `,`, white space or
    /// NUL (they would split differently when read back); an empty list is refused.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let mut p = PropertyString::new();
    /// p.set_list("trunks", ["10", "20", "30"]).unwrap();
    /// assert_eq!(p.get("trunks"), Some("10;20;30"));
    /// assert!(p.set_list("trunks", ["10;20"]).is_err());
    /// ```
    pub fn set_list<I>(
        &mut self,
        key: impl Into<String>,
        items: I,
    ) -> Result<Option<String>, PropertyStringError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let key = key.into();
        let mut joined = String::new();
        for item in items {
            let item = item.as_ref();
            if item.is_empty()
                || item
                    .chars()
                    .any(|c| c == ';' || c == ',' || c == '\0' || c.is_whitespace())
            {
                return Err(PropertyStringError::Unwritable {
                    key: shown(&key),
                    reason: "a list item must be non-empty, without ';', ',', white space or NUL",
                });
            }
            if !joined.is_empty() {
                joined.push(';');
            }
            joined.push_str(item);
        }
        self.set(key, joined)
    }

    /// Removes `key`, returning its value if it was present.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let mut p = PropertyString::new();
    /// p.set("tag", "10").unwrap();
    /// assert_eq!(p.remove("tag").as_deref(), Some("10"));
    /// assert!(p.is_empty());
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.index(key)?;
        Some(self.entries.remove(i).1)
    }

    /// The `(key, value)` entries, in order (as written when parsed; set keys at the end).
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let mut p = PropertyString::new();
    /// p.set("b", "2").unwrap();
    /// p.set("a", "1").unwrap();
    /// assert_eq!(p.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["b", "a"]);
    /// ```
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.entries.iter(),
        }
    }

    /// How many entries there are.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// assert_eq!(PropertyString::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// assert!(PropertyString::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether both hold the same keys with the same values, in any order (`==` also
    /// compares the order).
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::PropertyString;
    /// let (mut a, mut b) = (PropertyString::new(), PropertyString::new());
    /// a.set("x", "1").unwrap();
    /// a.set("y", "2").unwrap();
    /// b.set("y", "2").unwrap();
    /// b.set("x", "1").unwrap();
    /// assert!(a.same_entries(&b) && a != b);
    /// ```
    pub fn same_entries(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }

    /// The text as PVE's `print_property_string` writes it: the default key's value first
    /// without `key=`; then the keys that are not optional, sorted; then the others, sorted.
    /// A `keyAlias` pair is one part (`model=virtio` with `macaddr=BC:…` is `virtio=BC:…`).
    ///
    /// Where PVE's form would not read back (a default value with `=` in it, or only white
    /// space), that value is written with `key=`. Keys the format does not know are written
    /// as `key=value` among the others. What [`parse`] returns reads back from this text to
    /// the same entries.
    ///
    /// ```
    /// use proxmox_proto::schema::property_string::parse;
    /// use proxmox_proto::schema::{PropSchema, PropertyFormat};
    /// let opt = PropSchema { optional: true, ..Default::default() };
    /// let ipconfig = PropertyFormat {
    ///     keys: ["gw", "gw6", "ip", "ip6"].map(|k| (k.to_string(), opt.clone())).to_vec(),
    ///     default_key: None,
    /// };
    /// let p = parse(&ipconfig, "ip6=auto,ip=dhcp").unwrap();
    /// assert_eq!(p.to_text(&ipconfig), "ip=dhcp,ip6=auto");
    /// ```
    pub fn to_text(&self, format: &PropertyFormat) -> String {
        let mut writer = Writer {
            entries: &self.entries,
            format,
            done: vec![false; self.entries.len()],
            parts: Vec::with_capacity(self.entries.len()),
        };
        if let Some(i) = default_key(format).and_then(|k| self.index(k)) {
            writer.emit(i, true);
        }
        let mut sorted: Vec<usize> = (0..self.entries.len()).collect();
        sorted.sort_by(|&a, &b| self.entries[a].0.cmp(&self.entries[b].0));
        for &i in &sorted {
            if find(format, &self.entries[i].0).is_some_and(|s| !s.optional) {
                writer.emit(i, false);
            }
        }
        for &i in &sorted {
            writer.emit(i, false);
        }
        writer.parts.join(",")
    }
}

/// The state of [`PropertyString::to_text`].
struct Writer<'a> {
    entries: &'a [(String, String)],
    format: &'a PropertyFormat,
    done: Vec<bool>,
    parts: Vec<String>,
}

impl Writer<'_> {
    fn emit(&mut self, i: usize, default: bool) {
        if self.done[i] {
            return;
        }
        self.done[i] = true;
        let (key, value) = &self.entries[i];
        if let Some(part) = self.combined(key, value) {
            self.parts.push(part);
            return;
        }
        if default && !value.contains('=') && !blank(value) {
            self.parts.push(value.clone());
        } else {
            self.parts.push(format!("{key}={value}"));
        }
    }

    /// `model=virtio` with `macaddr=X` as the one part `virtio=X`, when `virtio` is an alias
    /// key of the format for `macaddr` with `keyAlias` `model`, and `macaddr` is not written
    /// yet (PVE's printer combines such pairs the same way).
    fn combined(&mut self, key: &str, value: &str) -> Option<String> {
        let alias = find(self.format, value)?;
        let target = alias.alias.as_deref()?;
        if alias.key_alias.as_deref() != Some(key)
            || target == key
            || !printable_key(value)
            || plain(self.format, target).is_none()
            || plain(self.format, key).is_none()
        {
            return None;
        }
        let j = self.entries.iter().position(|(k, _)| k == target)?;
        if self.done[j] {
            return None;
        }
        self.done[j] = true;
        Some(format!("{value}={}", self.entries[j].1))
    }
}

/// `key=value` parts joined by `,`, in the entries' order, without a format (so no default
/// key or alias forms).
impl fmt::Display for PropertyString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// The entries of a [`PropertyString`] as `(key, value)` pairs: [`PropertyString::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: std::slice::Iter<'a, (String, String)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a PropertyString {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests;
