//! API paths: literal pieces and caller-supplied values, each value exactly one segment.
//!
//! Three ways to write a path, all producing an [`ApiPath`]:
//!
//! * A whole string is a **literal**: `"/nodes/pve1/qemu"` splits on `/`; a leading or
//!   trailing `/` is fine. It is taken as written, so what would silently reach another
//!   endpoint is refused: white space around it, an empty piece inside (`nodes//qemu`, what
//!   `format!("nodes/{node}/qemu")` gives for an empty `node`) and a leading `/api2/json`.
//!   A string is for fixed paths; put values (node names, vmids, storage ids) in a tuple.
//! * A tuple, array, slice or `Vec` is a list of **values**: each element is exactly one segment,
//!   percent-encoded where needed, so no value can reach another endpoint.
//!   `("nodes", node, "qemu", vmid)` is the everyday form. Wrap a multi-segment literal in
//!   [`Lit`] to use it inside a tuple: `("nodes", node, Lit("storage/local/content"))`.
//! * The builder: `ApiPath::root().literal("nodes")?.value(node)?`.
//!
//! A value that is empty, `.` or `..` is refused (a reverse proxy may decode and normalise an
//! encoded `..`). `:`, `@` and `!` travel unescaped, as PVE expects them in UPIDs and user ids.
//!
//! ```
//! use proxmox_proto::path::{ApiPath, IntoApiPath, Lit};
//! let node = "pve1";
//! let p = ("nodes", node, "qemu", 100).into_api_path().unwrap();
//! assert_eq!(p.to_string(), "/nodes/pve1/qemu/100");
//! let p = ("nodes", node, Lit("storage/local/content"), "local:iso/debian.iso").into_api_path().unwrap();
//! assert_eq!(p.to_string(), "/nodes/pve1/storage/local/content/local:iso%2Fdebian.iso");
//! assert!(("nodes", "..").into_api_path().is_err());
//! assert_eq!("nodes/pve1/qemu".into_api_path().unwrap(), ("nodes", "pve1", "qemu").into_api_path().unwrap());
//! ```

use crate::error::InputError;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::fmt;

/// Bytes escaped in a path segment: everything but `A-Z a-z 0-9 - . _ ~ : @ !`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'@')
    .remove(b'!');

/// A path below the API root (`/api2/json`), as a list of decoded segments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ApiPath {
    segments: Vec<String>,
}

impl ApiPath {
    /// The API root itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// A literal path: split on `/`, empty pieces ignored.
    ///
    /// A string path is taken as written, so what would silently reach another endpoint is
    /// refused: white space around it, an empty piece inside (`nodes//qemu`, from
    /// `format!("nodes/{node}/qemu")` with an empty `node`) and a leading `/api2/json` (the
    /// client adds it). One `/` at either end is fine.
    pub fn parse(literal: &str) -> Result<Self, InputError> {
        let bad = |reason| InputError::InvalidPath {
            path: literal.to_owned(),
            reason,
        };
        if literal.trim() != literal {
            return Err(bad("white space around the path"));
        }
        let inner = literal.strip_prefix('/').unwrap_or(literal);
        let inner = inner.strip_suffix('/').unwrap_or(inner);
        if inner.split('/').any(str::is_empty) && !inner.is_empty() {
            return Err(bad(
                "an empty piece inside the path (an empty value in format!(\"nodes/{node}/...\")?); \
                 give values as tuple elements, (\"nodes\", node, \"qemu\"), which refuse an empty one",
            ));
        }
        if inner == "api2/json" || inner.starts_with("api2/json/") {
            return Err(bad(
                "the path starts with /api2/json, which the client adds: give the path below it (\"nodes\")",
            ));
        }
        Self::root().literal(literal)
    }

    /// Append a literal: split on `/`, empty pieces ignored; `.`/`..` pieces and control
    /// characters are refused.
    pub fn literal(mut self, literal: &str) -> Result<Self, InputError> {
        for piece in literal.split('/').filter(|p| !p.is_empty()) {
            check_segment(piece)?;
            self.segments.push(piece.to_owned());
        }
        Ok(self)
    }

    /// Append one caller-supplied value as exactly one segment.
    pub fn value(mut self, value: impl fmt::Display) -> Result<Self, InputError> {
        let v = value.to_string();
        if v.is_empty() {
            return Err(InputError::InvalidPathSegment {
                segment: v,
                reason: "a path value must not be empty",
            });
        }
        check_segment(&v)?;
        self.segments.push(v);
        Ok(self)
    }

    /// Append every segment of another path.
    pub fn join(mut self, other: &Self) -> Self {
        self.segments.extend(other.segments.iter().cloned());
        self
    }

    /// The decoded segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether the path ends with these literal segments (e.g. `["agent", "exec"]`).
    pub fn ends_with(&self, tail: &[&str]) -> bool {
        self.segments.len() >= tail.len()
            && self.segments[self.segments.len() - tail.len()..]
                .iter()
                .zip(tail)
                .all(|(a, b)| a == b)
    }

    /// The encoded path, starting with `/` (`/` alone for the root).
    pub fn encoded(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ApiPath {
    /// The percent-encoded path, starting with `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for s in &self.segments {
            write!(f, "/{}", utf8_percent_encode(s, SEGMENT))?;
        }
        Ok(())
    }
}

fn check_segment(s: &str) -> Result<(), InputError> {
    let reason = if s == "." || s == ".." {
        "'.' and '..' are not allowed as path segments"
    } else if s.chars().any(char::is_control) {
        "control characters are not allowed in a path"
    } else {
        return Ok(());
    };
    Err(InputError::InvalidPathSegment {
        segment: s.to_owned(),
        reason,
    })
}

/// A literal path piece for use inside a tuple or list; it may contain `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lit<'a>(pub &'a str);

/// One element of a path list: pushes itself onto a path.
pub trait PathSegment {
    /// Append to `path`.
    fn push_onto(self, path: ApiPath) -> Result<ApiPath, InputError>;
}

impl PathSegment for Lit<'_> {
    fn push_onto(self, path: ApiPath) -> Result<ApiPath, InputError> {
        path.literal(self.0)
    }
}

impl<T: PathSegment> PathSegment for Option<T> {
    /// `None` adds nothing.
    fn push_onto(self, path: ApiPath) -> Result<ApiPath, InputError> {
        match self {
            Some(v) => v.push_onto(path),
            None => Ok(path),
        }
    }
}

macro_rules! value_segment {
    ($($t:ty),*) => {$(
        impl PathSegment for $t {
            fn push_onto(self, path: ApiPath) -> Result<ApiPath, InputError> {
                path.value(self)
            }
        }
    )*};
}
value_segment!(
    &str, String, &String, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

impl PathSegment for &crate::upid::Upid {
    fn push_onto(self, path: ApiPath) -> Result<ApiPath, InputError> {
        path.value(self)
    }
}

/// Anything that names an API path: a string (a literal path, taken as written) or a tuple,
/// array, slice or `Vec` (each element one segment, percent-encoded: the form for values). See
/// the [module docs](self) for why values belong in tuples.
///
/// ```
/// use proxmox_proto::IntoApiPath;
/// let vmid = 100;
/// let node = "pve1";
/// // Fixed path: a string. Values: a tuple, one element per segment.
/// assert_eq!("cluster/resources".into_api_path().unwrap().to_string(), "/cluster/resources");
/// assert_eq!(("nodes", node, "qemu", vmid).into_api_path().unwrap().to_string(), "/nodes/pve1/qemu/100");
/// // A value that contains '/' stays one segment in a tuple...
/// assert_eq!(("nodes", "a/b").into_api_path().unwrap().to_string(), "/nodes/a%2Fb");
/// // ...and an empty one is refused instead of silently reaching "/nodes/qemu".
/// assert!(("nodes", "", "qemu").into_api_path().is_err());
/// assert!(format!("nodes/{}/qemu", "").as_str().into_api_path().is_err());
/// ```
pub trait IntoApiPath {
    /// Convert into a path.
    fn into_api_path(self) -> Result<ApiPath, InputError>;
}

impl IntoApiPath for ApiPath {
    fn into_api_path(self) -> Result<ApiPath, InputError> {
        Ok(self)
    }
}

impl IntoApiPath for &ApiPath {
    fn into_api_path(self) -> Result<ApiPath, InputError> {
        Ok(self.clone())
    }
}

impl IntoApiPath for &str {
    /// A literal path, split on `/`.
    fn into_api_path(self) -> Result<ApiPath, InputError> {
        ApiPath::parse(self)
    }
}

impl IntoApiPath for String {
    /// A literal path, split on `/`.
    fn into_api_path(self) -> Result<ApiPath, InputError> {
        ApiPath::parse(&self)
    }
}

impl IntoApiPath for &String {
    /// A literal path, split on `/`.
    fn into_api_path(self) -> Result<ApiPath, InputError> {
        ApiPath::parse(self)
    }
}

impl<T: PathSegment, const N: usize> IntoApiPath for [T; N] {
    fn into_api_path(self) -> Result<ApiPath, InputError> {
        self.into_iter()
            .try_fold(ApiPath::root(), |p, s| s.push_onto(p))
    }
}

impl<T: PathSegment> IntoApiPath for Vec<T> {
    fn into_api_path(self) -> Result<ApiPath, InputError> {
        self.into_iter()
            .try_fold(ApiPath::root(), |p, s| s.push_onto(p))
    }
}

impl<T: PathSegment + Clone> IntoApiPath for &[T] {
    fn into_api_path(self) -> Result<ApiPath, InputError> {
        self.iter()
            .cloned()
            .try_fold(ApiPath::root(), |p, s| s.push_onto(p))
    }
}

macro_rules! tuple_path {
    ($($name:ident),+) => {
        impl<$($name: PathSegment),+> IntoApiPath for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_api_path(self) -> Result<ApiPath, InputError> {
                let ($($name,)+) = self;
                let p = ApiPath::root();
                $(let p = $name.push_onto(p)?;)+
                Ok(p)
            }
        }
    };
}
tuple_path!(A);
tuple_path!(A, B);
tuple_path!(A, B, C);
tuple_path!(A, B, C, D);
tuple_path!(A, B, C, D, E);
tuple_path!(A, B, C, D, E, F);
tuple_path!(A, B, C, D, E, F, G);
tuple_path!(A, B, C, D, E, F, G, H);
tuple_path!(A, B, C, D, E, F, G, H, I);
tuple_path!(A, B, C, D, E, F, G, H, I, J);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_paths_are_taken_as_written() {
        assert_eq!(ApiPath::parse("").unwrap().to_string(), "/");
        assert_eq!(ApiPath::parse("/nodes/").unwrap().to_string(), "/nodes");
        assert_eq!(ApiPath::parse("/").unwrap().to_string(), "/");
        assert_eq!(
            ApiPath::parse("nodes/pve1").unwrap().to_string(),
            "/nodes/pve1"
        );
        for (path, reason) in [
            ("nodes//qemu", "an empty piece inside the path"),
            ("/nodes/pve1//", "an empty piece inside the path"),
            (" nodes", "white space around the path"),
            ("nodes\n", "white space around the path"),
            ("/api2/json/nodes", "the path starts with /api2/json"),
            ("api2/json", "the path starts with /api2/json"),
        ] {
            let e = ApiPath::parse(path).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid path {path:?}: {reason}")),
                "{e}"
            );
        }
        assert_eq!(
            ApiPath::parse("nodes//qemu").unwrap_err().to_string(),
            "invalid path \"nodes//qemu\": an empty piece inside the path (an empty value in \
             format!(\"nodes/{node}/...\")?); give values as tuple elements, (\"nodes\", node, \
             \"qemu\"), which refuse an empty one"
        );
        assert!(ApiPath::parse("nodes/../x").is_err());
        assert!(ApiPath::parse("nodes/\n").is_err());
    }

    #[test]
    fn values_are_single_segments() {
        let p = ("nodes", "pve/x").into_api_path().unwrap();
        assert_eq!(p.to_string(), "/nodes/pve%2Fx");
        let p = ["/nodes"].into_api_path().unwrap();
        assert_eq!(p.to_string(), "/%2Fnodes");
        for (v, enc) in [
            ("a b", "a%20b"),
            ("a?b", "a%3Fb"),
            ("a#b", "a%23b"),
            ("100%", "100%25"),
            ("%2e%2e", "%252e%252e"),
            ("root@pam!tok", "root@pam!tok"),
            (
                "UPID:pve:0000C3B8:00A1B2C3:6553F0E1:qmstart:100:root@pam:",
                "UPID:pve:0000C3B8:00A1B2C3:6553F0E1:qmstart:100:root@pam:",
            ),
            ("ü", "%C3%BC"),
            ("a;b+c&d=e", "a%3Bb%2Bc%26d%3De"),
        ] {
            assert_eq!(
                ApiPath::root().value(v).unwrap().to_string(),
                format!("/{enc}"),
                "{v:?}"
            );
        }
        for v in ["", ".", "..", "a\0b", "x\ny"] {
            assert!(ApiPath::root().value(v).is_err(), "{v:?}");
        }
    }

    #[test]
    fn mixed_forms() {
        let node = String::from("pve1");
        let p = ("nodes", &node, "qemu", 100u32, Lit("status/current"))
            .into_api_path()
            .unwrap();
        assert_eq!(p.to_string(), "/nodes/pve1/qemu/100/status/current");
        assert!(p.ends_with(&["status", "current"]));
        let none: Option<&str> = None;
        assert_eq!(
            ("nodes", none).into_api_path().unwrap().to_string(),
            "/nodes"
        );
        assert_eq!(
            ("pools", 0).into_api_path().unwrap().to_string(),
            "/pools/0"
        );
        let v: Vec<&str> = vec![];
        assert_eq!(v.into_api_path().unwrap().to_string(), "/");
    }
}
