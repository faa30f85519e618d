//! Lenient deserialization for Perl's loose JSON.
//!
//! PVE and PMG are written in Perl, where a scalar is a number or a string depending on how it
//! was last used; the JSON encoder writes whichever it is at that moment. The same field can
//! therefore arrive as `123` from one code path and `"123"` from another, a boolean as `true`,
//! `1` or `"1"`, and fields change type between releases (qemu `memory` went from an integer to
//! the property string `[current=]<int>` in PVE 8.1). These helpers accept all of those forms and
//! give a serde error (never a panic) for anything else.
//!
//! # What is accepted
//!
//! | target | accepted | refused |
//! |---|---|---|
//! | integers ([`int`], any of `u8`..`u64`, `i8`..`i64`, `usize`, `isize`) | JSON integers; JSON floats without a fractional part (`5.0`); strings holding either (`"123"`, `"-4"`, `"+7"`, `"1e3"`) | out-of-range values, fractions (`1.5`), empty or non-numeric strings, booleans, arrays, objects, null |
//! | [`float`] (`f64`) | JSON numbers; strings holding a finite number (`"0.25"`, `"1e-3"`, `"7"`) | `"NaN"`, `"inf"`, empty or non-numeric strings, booleans, ... |
//! | [`boolean`] | `true`/`false`; the numbers `0`/`1` (also `0.0`/`1.0`); the strings `1 true yes on` / `0 false no off` in any case (what PVE's own schema parser accepts), and `""` (Perl's canonical false) | other numbers (`2`), other strings, null |
//! | [`string`] | strings; numbers, written in decimal (`100` → `"100"`) | booleans, arrays, objects, null |
//! | `Option<T>` ([`opt_int`], [`opt_float`], [`opt_boolean`], [`opt_string`]) | everything `T` accepts; `null` → `None`; a missing field → `None` when the field has `#[serde(default)]`; for numbers only, `""` → `None` | what `T` refuses |
//! | [`QemuMemory`] | an integer (PVE ≤ 8.0, MiB), a numeric string, or a property string `[current=]<int>[,key=value...]` | a bad number, an empty key or value, a key given twice |
//!
//! # Two ways to use them
//!
//! With `deserialize_with` on your own derived structs:
//!
//! ```
//! use proxmox_proto::loose;
//! #[derive(serde::Deserialize)]
//! struct Guest {
//!     #[serde(deserialize_with = "loose::int")]
//!     vmid: u32,
//!     #[serde(default, deserialize_with = "loose::opt_boolean")]
//!     template: Option<bool>,
//!     #[serde(default, deserialize_with = "loose::opt_float")]
//!     cpu: Option<f64>,
//! }
//! let g: Guest = serde_json::from_str(r#"{"vmid":"100","template":0,"cpu":"0.5"}"#).unwrap();
//! assert_eq!((g.vmid, g.template, g.cpu), (100, Some(false), Some(0.5)));
//! let g: Guest = serde_json::from_str(r#"{"vmid":100}"#).unwrap();
//! assert_eq!((g.template, g.cpu), (None, None));
//! assert!(serde_json::from_str::<Guest>(r#"{"vmid":"1.5"}"#).is_err());
//! ```
//!
//! Or with the [`Loose`] wrapper, for any type that implements [`LooseField`]:
//!
//! ```
//! use proxmox_proto::loose::{Loose, QemuMemory};
//! let v: Vec<Loose<Option<u64>>> = serde_json::from_str(r#"[1, "2", null, ""]"#).unwrap();
//! assert_eq!(v.iter().map(|x| x.0).collect::<Vec<_>>(), [Some(1), Some(2), None, None]);
//! let m: Loose<QemuMemory> = serde_json::from_str(r#""current=4096""#).unwrap();
//! assert_eq!(m.0.current, Some(4096));
//! ```

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// A type that can be read from Perl's loose JSON. Implemented for the integer types, `f64`,
/// `bool`, `String`, [`serde_json::Value`], [`QemuMemory`], the model enums in
/// [`crate::models`], and `Option` of any of them.
///
/// The typed models use this trait for every field; [`Loose`] makes it usable anywhere serde is.
pub trait LooseField: Sized {
    /// Read a value leniently.
    fn deserialize_loose<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;

    /// Read a present, non-null value for an `Option<Self>` field. Numbers override this so
    /// that `""` reads as `None`; everything else reads as `Some(value)`.
    fn deserialize_loose_present<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Self>, D::Error> {
        Self::deserialize_loose(deserializer).map(Some)
    }

    /// The value a missing field takes: `Some(None)` for `Option`s, `None` (the field is
    /// required) for everything else.
    fn when_missing() -> Option<Self> {
        None
    }

    /// Whether serialization should leave this value out (true for `None`).
    fn is_absent(&self) -> bool {
        false
    }
}

/// Wrapper that deserializes `T` leniently (see the [module docs](self)) and serializes it as
/// `T` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loose<T>(pub T);

impl<'de, T: LooseField> Deserialize<'de> for Loose<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize_loose(deserializer).map(Loose)
    }
}

impl<T: Serialize> Serialize for Loose<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<T> std::ops::Deref for Loose<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Cut a string quoted in an error message to a sane length.
fn short(s: &str) -> &str {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ---------------------------------------------------------------------------------------------
// Integers

mod sealed {
    pub trait Sealed {}
}

/// The integer types [`int`] and [`opt_int`] can produce. Sealed.
pub trait LooseInt: sealed::Sealed + Copy + Sized {
    /// The type's name, for error messages.
    #[doc(hidden)]
    const NAME: &'static str;
    /// Convert from a wide integer if it fits.
    #[doc(hidden)]
    fn from_i128(v: i128) -> Option<Self>;
}

macro_rules! loose_int {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl LooseInt for $t {
            const NAME: &'static str = stringify!($t);
            fn from_i128(v: i128) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
        }
        impl LooseField for $t {
            fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(IntVisitor::<$t>(PhantomData))?
                    .ok_or_else(|| de::Error::invalid_value(Unexpected::Str(""), &IntVisitor::<$t>(PhantomData)))
            }
            fn deserialize_loose_present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
                d.deserialize_any(IntVisitor::<$t>(PhantomData))
            }
        }
    )*};
}
loose_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// Reads an integer in any loose form; `""` gives `None` (the caller decides whether that is
/// allowed).
struct IntVisitor<T>(PhantomData<T>);

impl<T: LooseInt> IntVisitor<T> {
    fn fit<E: de::Error>(&self, v: i128, unexp: Unexpected<'_>) -> Result<Option<T>, E> {
        T::from_i128(v)
            .map(Some)
            .ok_or_else(|| E::invalid_value(unexp, self))
    }

    fn fit_float<E: de::Error>(&self, v: f64, unexp: Unexpected<'_>) -> Result<Option<T>, E> {
        // i128 covers every integer type we produce; the bound keeps the cast exact.
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1.0e30 {
            self.fit(v as i128, unexp)
        } else {
            Err(E::invalid_value(unexp, self))
        }
    }
}

impl<T: LooseInt> Visitor<'_> for IntVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an integer ({}) as a number or a string holding one",
            T::NAME
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.fit(i128::from(v), Unexpected::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.fit(i128::from(v), Unexpected::Signed(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        match i128::try_from(v) {
            Ok(i) => self.fit(i, Unexpected::Other("128-bit integer")),
            Err(_) => Err(E::invalid_value(
                Unexpected::Other("128-bit integer"),
                &self,
            )),
        }
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        self.fit(v, Unexpected::Other("128-bit integer"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.fit_float(v, Unexpected::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Ok(None);
        }
        let unexp = Unexpected::Str(short(v));
        if let Ok(i) = v.parse::<i128>() {
            return self.fit(i, unexp);
        }
        match v.parse::<f64>() {
            Ok(f) => self.fit_float(f, unexp),
            Err(_) => Err(E::invalid_value(unexp, &self)),
        }
    }
}

/// `deserialize_with` helper: an integer as a number or a string (see the module docs).
pub fn int<'de, D: Deserializer<'de>, T: LooseInt + LooseField>(d: D) -> Result<T, D::Error> {
    T::deserialize_loose(d)
}

/// `deserialize_with` helper: an optional integer; `null` and `""` give `None`. Use with
/// `#[serde(default)]` so that a missing field is `None` too.
pub fn opt_int<'de, D: Deserializer<'de>, T: LooseInt + LooseField>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize_loose(d)
}

// ---------------------------------------------------------------------------------------------
// Floats

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a finite number, or a string holding one")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.is_finite() {
            Ok(Some(v))
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(E::invalid_value(Unexpected::Str(short(v)), &self)),
        }
    }
}

impl LooseField for f64 {
    fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FloatVisitor)?
            .ok_or_else(|| de::Error::invalid_value(Unexpected::Str(""), &FloatVisitor))
    }
    fn deserialize_loose_present<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Self>, D::Error> {
        d.deserialize_any(FloatVisitor)
    }
}

/// `deserialize_with` helper: a finite `f64` as a number or a string.
pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    f64::deserialize_loose(d)
}

/// `deserialize_with` helper: an optional `f64`; `null` and `""` give `None`.
pub fn opt_float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<f64>::deserialize_loose(d)
}

// ---------------------------------------------------------------------------------------------
// Booleans

struct BoolVisitor;

impl Visitor<'_> for BoolVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a boolean: true/false, 0/1, or one of the strings 1/true/yes/on/0/false/no/off/\"\"",
        )
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        if v == 0.0 {
            Ok(false)
        } else if v == 1.0 {
            Ok(true)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        const TRUE: [&str; 4] = ["1", "true", "yes", "on"];
        const FALSE: [&str; 5] = ["0", "false", "no", "off", ""];
        if TRUE.iter().any(|t| v.eq_ignore_ascii_case(t)) {
            Ok(true)
        } else if FALSE.iter().any(|t| v.eq_ignore_ascii_case(t)) {
            Ok(false)
        } else {
            Err(E::invalid_value(Unexpected::Str(short(v)), &self))
        }
    }
}

impl LooseField for bool {
    fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BoolVisitor)
    }
}

/// `deserialize_with` helper: a boolean in any of Perl's forms (see the module docs).
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    bool::deserialize_loose(d)
}

/// `deserialize_with` helper: an optional boolean; `null` gives `None` (`""` is `Some(false)`,
/// Perl's false).
pub fn opt_boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Option::<bool>::deserialize_loose(d)
}

// ---------------------------------------------------------------------------------------------
// Strings

struct StringVisitor;

impl Visitor<'_> for StringVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

impl LooseField for String {
    fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringVisitor)
    }
}

/// `deserialize_with` helper: a string, or a number written in decimal.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize_loose(d)
}

/// `deserialize_with` helper: an optional string (or number); `null` gives `None`, `""` is
/// `Some("")`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize_loose(d)
}

// ---------------------------------------------------------------------------------------------
// Option, Value

struct OptionVisitor<T>(PhantomData<T>);

impl<'de, T: LooseField> Visitor<'de> for OptionVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        T::deserialize_loose_present(d)
    }
}

impl<T: LooseField> LooseField for Option<T> {
    fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(OptionVisitor::<T>(PhantomData))
    }

    fn when_missing() -> Option<Self> {
        Some(None)
    }

    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl LooseField for serde_json::Value {
    fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d)
    }
}

// ---------------------------------------------------------------------------------------------
// qemu memory

/// The qemu `memory` setting: an integer (MiB) up to PVE 8.0, the property string
/// `[current=]<int>` since PVE 8.1 (qemu-server 8.0.x). Both read into this type.
///
/// ```
/// use proxmox_proto::loose::{Loose, QemuMemory};
/// for json in [r#"4096"#, r#""4096""#, r#""current=4096""#] {
///     let m: Loose<QemuMemory> = serde_json::from_str(json).unwrap();
///     assert_eq!(m.current, Some(4096));
///     assert_eq!(m.to_string(), "4096");
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QemuMemory {
    /// `current`: the amount of online RAM in MiB (`None` if the string does not set it; PVE's
    /// default is then [`QemuMemory::DEFAULT_MIB`]).
    pub current: Option<u64>,
    /// Other `key=value` members of the property string, in order (none exist today; kept so
    /// a future key is not lost).
    pub other: Vec<(String, String)>,
}

impl QemuMemory {
    /// PVE's default when `current` is not set: 512 MiB.
    pub const DEFAULT_MIB: u64 = 512;

    /// A value with just `current` set.
    pub fn from_mib(mib: u64) -> Self {
        Self {
            current: Some(mib),
            other: Vec::new(),
        }
    }

    /// `current`, or PVE's default of 512 MiB.
    pub fn current_or_default(&self) -> u64 {
        self.current.unwrap_or(Self::DEFAULT_MIB)
    }

    /// Parse the property string form (`4096`, `current=4096`, `current=4096,foo=bar`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for part in s.split(',') {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k, v),
                None => ("current", part),
            };
            if key.is_empty() || value.is_empty() {
                return Err(format!("empty key or value in {:?}", short(s)));
            }
            if key == "current" {
                if out.current.is_some() {
                    return Err("`current` given twice".into());
                }
                let mib = value
                    .parse::<u64>()
                    .map_err(|_| format!("`current` is not an integer: {:?}", short(value)))?;
                out.current = Some(mib);
            } else {
                if out.other.iter().any(|(k, _)| k == key) {
                    return Err(format!("`{}` given twice", short(key)));
                }
                out.other.push((key.to_owned(), value.to_owned()));
            }
        }
        Ok(out)
    }
}

impl fmt::Display for QemuMemory {
    /// The property string: `4096` when only `current` is set, else `current=4096,key=value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        if let Some(c) = self.current {
            if self.other.is_empty() {
                return write!(f, "{c}");
            }
            write!(f, "current={c}")?;
            first = false;
        }
        for (k, v) in &self.other {
            if !first {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
            first = false;
        }
        Ok(())
    }
}

impl Serialize for QemuMemory {
    /// An integer when only `current` is set (readable by every PVE version and by clients
    /// that expect the old type), the property string otherwise.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.current {
            Some(c) if self.other.is_empty() => s.serialize_u64(c),
            _ => s.collect_str(self),
        }
    }
}

struct MemoryVisitor;

impl Visitor<'_> for MemoryVisitor {
    type Value = QemuMemory;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a memory size in MiB or a property string `[current=]<int>`")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<QemuMemory, E> {
        Ok(QemuMemory::from_mib(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<QemuMemory, E> {
        u64::try_from(v)
            .map(QemuMemory::from_mib)
            .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<QemuMemory, E> {
        IntVisitor::<u64>(PhantomData)
            .fit_float::<E>(v, Unexpected::Float(v))?
            .map(QemuMemory::from_mib)
            .ok_or_else(|| E::invalid_value(Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<QemuMemory, E> {
        QemuMemory::parse(v).map_err(|why| {
            E::custom(format_args!(
                "invalid qemu memory value {:?}: {why}",
                short(v)
            ))
        })
    }
}

impl LooseField for QemuMemory {
    fn deserialize_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MemoryVisitor)
    }
}

impl<'de> Deserialize<'de> for QemuMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MemoryVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p<T: LooseField>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str::<Loose<T>>(json).map(|l| l.0)
    }

    #[test]
    fn short_cuts_on_char_boundary() {
        let s = "é".repeat(40);
        let c = short(&s);
        assert!(c.len() <= 64 && s.starts_with(c));
        assert_eq!(short("abc"), "abc");
    }

    #[test]
    fn error_for_long_string_is_cut() {
        let long = format!("\"{}\"", "x".repeat(1000));
        let e = p::<u64>(&long).unwrap_err().to_string();
        assert!(e.len() < 300, "{e}");
    }

    #[test]
    fn memory_parse_forms() {
        assert_eq!(
            QemuMemory::parse("1024").unwrap(),
            QemuMemory::from_mib(1024)
        );
        let m = QemuMemory::parse("current=2048,foo=bar").unwrap();
        assert_eq!(m.current, Some(2048));
        assert_eq!(m.other, vec![("foo".to_string(), "bar".to_string())]);
        assert_eq!(m.to_string(), "current=2048,foo=bar");
        let m = QemuMemory::parse("foo=bar").unwrap();
        assert_eq!(m.current, None);
        assert_eq!(m.current_or_default(), 512);
        assert_eq!(m.to_string(), "foo=bar");
        for bad in [
            "",
            "current=",
            "=5",
            "x",
            "current=1,current=2",
            "1,current=2",
            "foo=1,foo=2",
            "-5",
            "1,",
        ] {
            assert!(QemuMemory::parse(bad).is_err(), "{bad:?}");
        }
    }
}
