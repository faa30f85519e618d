//! The shape of a JSON value: keys and JSON types, recursively, ignoring values.
//!
//! Used to check that the simulator answers like a real peer on the endpoints both serve:
//! take the `data` of the same request from both, build each one's [`Shape`] and [`diff`] them.
//! Array elements are merged into one element shape (keys of all elements; differing types
//! become [`Shape::Mixed`]), so lists of different lengths compare fine.
//!
//! ```
//! use proxmox_testbed::shape::{Shape, diff};
//! let a = Shape::of(&serde_json::json!([{"node": "pve1", "cpu": 0.1}]));
//! let b = Shape::of(&serde_json::json!([{"node": "x", "cpu": "0.1", "level": ""}]));
//! let d = diff(&a, &b);
//! assert_eq!(d.len(), 2);
//! assert_eq!(d[0].to_string(), "[].cpu: number vs string");
//! assert_eq!(d[1].to_string(), "[].level: missing vs string");
//! ```

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The JSON type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool,
    /// Any number (integer or not: PVE prints `0` and `0.02` for the same field).
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The type of `value`.
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Bool,
            Value::Number(_) => Self::Number,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Null => "null",
            Self::Bool => "bool",
            Self::Number => "number",
            Self::String => "string",
            Self::Array => "array",
            Self::Object => "object",
        })
    }
}

/// Keys and types of a JSON value, recursively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `null`.
    Null,
    /// A boolean.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array with the merged shape of its elements (`None`: empty).
    Array(Option<Box<Shape>>),
    /// An object: key -> shape.
    Object(BTreeMap<String, Shape>),
    /// Elements of one array had different types.
    Mixed(BTreeSet<JsonType>),
}

impl Shape {
    /// The shape of `value`.
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Bool,
            Value::Number(_) => Self::Number,
            Value::String(_) => Self::String,
            Value::Array(items) => {
                Self::Array(items.iter().map(Self::of).reduce(Self::merge).map(Box::new))
            }
            Value::Object(map) => {
                Self::Object(map.iter().map(|(k, v)| (k.clone(), Self::of(v))).collect())
            }
        }
    }

    /// The top-level JSON types this shape stands for.
    pub fn types(&self) -> BTreeSet<JsonType> {
        let one = match self {
            Self::Null => JsonType::Null,
            Self::Bool => JsonType::Bool,
            Self::Number => JsonType::Number,
            Self::String => JsonType::String,
            Self::Array(_) => JsonType::Array,
            Self::Object(_) => JsonType::Object,
            Self::Mixed(set) => return set.clone(),
        };
        BTreeSet::from([one])
    }

    /// One shape for two array elements.
    pub fn merge(self, other: Shape) -> Shape {
        match (self, other) {
            (Self::Object(mut a), Self::Object(b)) => {
                for (k, v) in b {
                    let merged = match a.remove(&k) {
                        Some(old) => old.merge(v),
                        None => v,
                    };
                    a.insert(k, merged);
                }
                Self::Object(a)
            }
            (Self::Array(a), Self::Array(b)) => Self::Array(match (a, b) {
                (Some(a), Some(b)) => Some(Box::new(a.merge(*b))),
                (a, b) => a.or(b),
            }),
            (a, b) if a == b => a,
            (a, b) => {
                let mut set = a.types();
                set.extend(b.types());
                Self::Mixed(set)
            }
        }
    }

    fn describe(&self) -> String {
        self.types()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// One difference between two shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeDiff {
    /// Where: `.key` for object keys, `[]` for array elements (empty for the top level).
    pub path: String,
    /// The left side's type(s), or `missing`.
    pub left: String,
    /// The right side's type(s), or `missing`.
    pub right: String,
}

impl fmt::Display for ShapeDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.strip_prefix('.').unwrap_or(&self.path);
        let path = if path.is_empty() { "(top)" } else { path };
        write!(f, "{path}: {} vs {}", self.left, self.right)
    }
}

/// The differences between two shapes, in key order. Empty arrays match any array.
pub fn diff(left: &Shape, right: &Shape) -> Vec<ShapeDiff> {
    let mut out = Vec::new();
    walk(left, right, String::new(), &mut out);
    out
}

fn walk(left: &Shape, right: &Shape, path: String, out: &mut Vec<ShapeDiff>) {
    match (left, right) {
        (Shape::Object(a), Shape::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let sub = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => walk(x, y, sub, out),
                    (Some(x), None) => out.push(ShapeDiff {
                        path: sub,
                        left: x.describe(),
                        right: "missing".into(),
                    }),
                    (None, Some(y)) => out.push(ShapeDiff {
                        path: sub,
                        left: "missing".into(),
                        right: y.describe(),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Shape::Array(a), Shape::Array(b)) => {
            if let (Some(a), Some(b)) = (a, b) {
                walk(a, b, format!("{path}[]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(ShapeDiff {
            path,
            left: a.describe(),
            right: b.describe(),
        }),
    }
}

/// Shortcut: the differences between the shapes of two JSON values.
pub fn diff_values(left: &Value, right: &Value) -> Vec<ShapeDiff> {
    diff(&Shape::of(left), &Shape::of(right))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_shape_different_values() {
        let a = json!({"a": 1, "b": ["x"], "c": {"d": true}});
        let b = json!({"a": 2.5, "b": ["y", "z"], "c": {"d": false}});
        assert!(diff_values(&a, &b).is_empty());
    }

    #[test]
    fn reports_missing_keys_and_types_with_paths() {
        let a = json!({"data": [{"n": 1, "t": "x"}]});
        let b = json!({"data": [{"n": "1"}], "extra": null});
        let d: Vec<String> = diff_values(&a, &b)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            d,
            vec![
                "data[].n: number vs string",
                "data[].t: string vs missing",
                "extra: missing vs null"
            ]
        );
    }

    #[test]
    fn array_elements_merge() {
        let s = Shape::of(&json!([{"a": 1}, {"b": "x"}, {"a": "y"}]));
        let Shape::Array(Some(inner)) = s else {
            panic!("not an array shape")
        };
        let Shape::Object(map) = *inner else {
            panic!("not an object")
        };
        assert_eq!(map.len(), 2);
        assert_eq!(
            map.get("a"),
            Some(&Shape::Mixed(BTreeSet::from([
                JsonType::Number,
                JsonType::String
            ])))
        );
    }

    #[test]
    fn empty_array_matches_any_array_but_not_object() {
        assert!(diff_values(&json!([]), &json!([{"a": 1}])).is_empty());
        let d = diff_values(&json!([]), &json!({}));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to_string(), "(top): array vs object");
    }
}
