//! Checking a call against the schema before it is sent, with the answers PVE would give.
//!
//! [`Schema::check`] walks the checks in the order the server does, and stops where the
//! server would stop:
//!
//! 1. the path (pve-common `src/PVE/RESTHandler.pm` `find_handler`, `map_path_to_methods`):
//!    no handler is PVE's `501 Method 'POST /x' not implemented` (pve-manager
//!    `PVE/HTTPServer.pm` `rest_handler`); the error names the closest path of the schema;
//! 2. the method on that path: the same 501; the error says which methods the path has;
//! 3. a parameter given both in the path and as a parameter, with another value (`rest_handler`:
//!    "duplicate parameter (already defined in URI) with conflicting values!");
//! 4. an endpoint closed to API tokens (`allowtoken` off) with a token client: PVE's 403
//!    (`rest_handler`, `raise_perm_exc`);
//! 5. the parameters, path variables included, as pve-common `src/PVE/JSONSchema.pm`
//!    `validate` → `check_prop` → `check_object` checks them: every error goes into a map
//!    parameter → message with JSONSchema.pm's wording (PVE's 400 `errors`), and the call
//!    fails with "Parameter verification failed."
//!
//! The parameters are read as the server reads a form (pve-http-server
//! `src/PVE/APIServer/AnyEvent.pm` `decode_urlencoded`): an empty value is no value (so a
//! required parameter given empty is missing), a key given twice is a list (refused for a
//! single value, joined with `,` for a `-list` format, pve-common `RESTHandler.pm`
//! `$normalize_legacy_param_formats`), `_dc` is dropped. With a shell transport
//! ([`AuthKind::Shell`], `pvesh`) the values are read as `pvesh` reads them (JSONSchema.pm
//! `get_options`): an empty value is a value, booleans are `1`/`0`/`on`/`off`/`yes`/`no`/
//! `true`/`false` (and empty for true). Over HTTP a boolean is `1` or `0` only (`check_type`).
//!
//! What each value must be (`check_prop`, in its order; the first failure ends a value's
//! checks, as there): its type (`check_type`: integer `^[+-]?\d+$`, number, boolean), its
//! format (`check_format`), its pattern (anchored, as the loader translated it), `maxLength`,
//! `minLength`, `maximum`, `minimum` (only for a value that is a number), `enum`.
//!
//! Formats: a property string (`net0`, `scsi0`) is parsed with
//! [`property_string::parse_entries`] (keys, aliases, default key, duplicates, required keys:
//! `parse_property_string`; its refusals are given in PVE's words, an unknown key with a hint),
//! then each key's value is checked against its own schema (booleans in any of PVE's
//! spellings, as `parse_property_string` reads them), as one message `invalid format - format
//! error` followed by a line per key (`net0.model: …`), as PVE's exception text reads. A named
//! format's verifier is Perl code the schema does not carry;
//! these are checked here, re-implemented from JSONSchema.pm's verifiers with the same
//! messages (and as `-list`, split as pve-common `src/PVE/ParseUtils.pm` `split_list` splits,
//! each element checked, and `-opt`):
//!
//! | format | rule |
//! |---|---|
//! | `pve-vmid` | `[1-9][0-9]{2,8}` |
//! | `pve-node` | letters, digits, `-` inside |
//! | `pve-storage-id` | at least 2 characters, `[a-z][a-z0-9._-]*[a-z0-9]` (any case) |
//! | `pve-bridge-id` | word characters, `-`, `.` |
//! | `pve-configid` | `[a-z][a-z0-9_-]+` (any case) |
//! | `mac-addr` | six hex pairs, the I/G bit clear |
//! | `ipv4`, `ipv6`, `ip` | an address |
//! | `CIDRv4`, `CIDRv6`, `CIDR` | an address and a prefix length from 8 |
//! | `dns-name` | dot-separated labels of letters, digits, `-` inside |
//! | `urlencoded` | `[-%a-zA-Z0-9_.!~*'()]*` |
//! | `string`, `regex` | anything |
//!
//! Every other named format (`pve-volume-id`, `disk-size`, `pve-qm-boot`, …) is not checked:
//! what the schema gives for the value (type, enum, pattern, range, length) still is.
//!
//! What cannot be checked from the schema is let through rather than refused: the highest
//! index of a family (`net[n]` takes `net0`, `net1`, … with no upper bound in the schema), a
//! pattern the loader could not translate, a named format not in the table, a PBS list
//! property string ([`PropSchema::list_format`]). A path segment past a variable that has no
//! children is taken as part of that variable's value, as PVE's `fragmentDelimiter` does for
//! `…/content/{volume}` (volume ids contain `/`).
//!
//! The checks are PVE's; PMG shares them (pve-common). A PBS schema is checked with the same
//! rules but for what PBS reads more leniently: booleans in any spelling, and double-quoted
//! property-string values; PBS words its errors differently.
//!
//! Messages that repeat a value (`got 'x'`, `value 'x' does not have a value in the
//! enumeration`, `storage ID 'x' …`) show `<redacted>` instead for a parameter whose name
//! says it is secret ([`crate::params::is_secret_key`]).
//!
//! Nothing is allocated for a call that passes, beyond the one list of entries each property
//! string's parse takes; the errors map, the hints and the closest path are built only for a
//! call that is refused.

use super::model::{
    Format, Method, PathNode, PropSchema, PropertyFormat, Schema, SchemaData, SchemaType,
};
use super::property_string::{self, PropertyStringError};
use crate::Call;
use crate::call::Method as CallMethod;
use crate::error::{ApiError, Error};
use crate::service::AuthKind;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// JSONSchema.pm `check_prop`: a required property that is absent.
const MISSING: &str = "property is missing and it is not optional";
/// JSONSchema.pm `check_object`: a property the schema does not list, `additionalProperties`
/// off.
const NOT_DEFINED: &str =
    "property is not defined in schema and the schema does not allow additional properties";
/// pve-manager `PVE/HTTPServer.pm` `rest_handler`: a path variable given again as a parameter.
const URI_CONFLICT: &str = "duplicate parameter (already defined in URI) with conflicting values!";
/// What stands for a secret value in a message.
const REDACTED: &str = "<redacted>";
/// How deep property strings may nest inside each other before the check stops descending
/// (PVE's have one level; a hostile schema must not exhaust the stack).
const MAX_DEPTH: usize = 8;
/// Path variables kept without allocating (PVE paths have at most 5).
const MAX_VARS: usize = 12;

/// Why a call failed the check (see [`CheckError`]).
///
/// ```
/// use proxmox_proto::schema::check::CheckFailure;
/// let f = CheckFailure::TokenForbidden { schema_path: "/access/ticket".into() };
/// assert!(matches!(f, CheckFailure::TokenForbidden { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckFailure {
    /// No path of the schema matches the call's path (PVE: 501).
    UnknownPath {
        /// The path of the schema closest to the call's (`/nodes/{node}/qemu`), if there is
        /// any path with methods.
        closest: Option<String>,
    },
    /// The path exists but has no handler for the method (PVE: 501).
    MethodNotAvailable {
        /// The path as the schema writes it.
        schema_path: String,
        /// The methods it has, in the order GET, POST, PUT, DELETE.
        available: &'static [CallMethod],
    },
    /// The endpoint is closed to API tokens (`allowtoken` off) and the client uses one
    /// (PVE: 403).
    TokenForbidden {
        /// The path as the schema writes it.
        schema_path: String,
    },
    /// Parameter verification failed (PVE: 400); see [`CheckError::errors`].
    Parameters {
        /// The path as the schema writes it.
        schema_path: String,
    },
}

/// A call the schema refuses: which call, why, and per parameter what PVE would answer.
/// Nothing was sent.
///
/// ```
/// use proxmox_proto::schema::Schema;
/// use proxmox_proto::{AuthKind, Call};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let schema = Schema::from_json(br#"[{"path": "/nodes", "text": "nodes", "children": [
///     {"path": "/nodes/{node}", "text": "{node}", "info": {"GET": {"name": "n", "method": "GET",
///      "parameters": {"additionalProperties": 0, "properties": {"node": {"type": "string"}}}}}}]}]"#)?;
/// let call = Call::get(("nodes", "pve1"))?.param("verbose", 1);
/// let err = schema.check(&call, AuthKind::Token).unwrap_err();
/// assert_eq!(err.path, "/nodes/pve1");
/// assert!(err.errors["verbose"].starts_with("property is not defined in schema"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckError {
    /// The call's method.
    pub method: CallMethod,
    /// The call's path, percent-encoded as it would have been sent.
    pub path: String,
    /// Why it was refused.
    pub failure: CheckFailure,
    /// Per parameter, what PVE's 400 `errors` map would say (JSONSchema.pm's wording; a
    /// property string's keys are `net0.model`-style lines inside the `net0` message). Empty
    /// unless [`CheckFailure::Parameters`].
    pub errors: BTreeMap<String, String>,
    /// Per parameter, what the client suggests: the parameter meant for one the schema does
    /// not know (`did you mean 'net0'?`), the key meant for a property-string key the format
    /// does not have (`did you mean 'bridge' in net0?`).
    pub hints: BTreeMap<String, String>,
}

impl CheckError {
    fn new(call: &Call, failure: CheckFailure) -> Self {
        Self {
            method: call.method,
            path: call.path.to_string(),
            failure,
            errors: BTreeMap::new(),
            hints: BTreeMap::new(),
        }
    }

    /// The error the server would have answered, as the client's [`Error::Api`]: a 400
    /// "Parameter verification failed." with [`crate::ApiError::param_errors`] filled, the
    /// 501 "Method '…' not implemented" of an unknown path or method (class
    /// [`crate::ErrorClass::NotFound`], as an endpoint missing on an older server), or the
    /// 403 of an endpoint closed to tokens; its note says that the client checked the call
    /// against the API schema and sent nothing, with the closest path, the methods there or
    /// the parameter names meant.
    ///
    /// ```
    /// use proxmox_proto::schema::Schema;
    /// use proxmox_proto::{AuthKind, Call, ErrorClass};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let schema = Schema::from_json(br#"[{"path": "/version", "text": "version",
    ///     "info": {"GET": {"name": "version", "method": "GET",
    ///     "parameters": {"additionalProperties": 0, "properties": {}}}}}]"#)?;
    /// let err = schema.check(&Call::get("version")?.param("full", 1), AuthKind::Token).unwrap_err();
    /// let err = err.into_error();
    /// let api = err.api().expect("an API error");
    /// assert_eq!((api.status, api.reason.as_str()), (400, "Parameter verification failed."));
    /// assert_eq!(api.class, ErrorClass::BadRequest);
    /// assert!(api.param_errors.contains_key("full"));
    /// # Ok(()) }
    /// ```
    pub fn into_error(self) -> Error {
        let mut note = format!(
            "the client checked {} {} against the server's API schema and sent nothing",
            self.method, self.path
        );
        let (status, reason) = match &self.failure {
            CheckFailure::UnknownPath { closest } => {
                match closest {
                    Some(c) => note.push_str(&format!(": no such path, the closest is {c}")),
                    None => note.push_str(": no such path"),
                }
                (
                    501,
                    format!("Method '{} {}' not implemented", self.method, self.path),
                )
            }
            CheckFailure::MethodNotAvailable {
                schema_path,
                available,
            } => {
                note.push_str(&format!(": {schema_path} has {}", methods_text(available)));
                (
                    501,
                    format!("Method '{} {}' not implemented", self.method, self.path),
                )
            }
            CheckFailure::TokenForbidden { schema_path } => {
                note.push_str(&format!(
                    ": {} {schema_path} is closed to API tokens; log in with a password \
                     (a ticket) for this call",
                    self.method
                ));
                (
                    403,
                    format!(
                        "Permission check failed (URI '{}' not available with API token, \
                         need proper ticket.)",
                        self.path
                    ),
                )
            }
            CheckFailure::Parameters { .. } => {
                for (k, h) in &self.hints {
                    note.push_str(&format!("; {k}: {h}"));
                }
                (400, "Parameter verification failed.".to_owned())
            }
        };
        let mut e = ApiError::new(status, reason, None);
        e.param_errors = self.errors;
        e.note = Some(note);
        Error::from(e)
    }
}

fn methods_text(available: &[CallMethod]) -> String {
    if available.is_empty() {
        return "no methods".to_owned();
    }
    let names: Vec<String> = available.iter().map(|m| m.to_string()).collect();
    format!("only {}", names.join(", "))
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.method, self.path)?;
        match &self.failure {
            CheckFailure::UnknownPath { closest } => {
                f.write_str("no such path in the API schema")?;
                if let Some(c) = closest {
                    write!(f, " (the closest is {c})")?;
                }
            }
            CheckFailure::MethodNotAvailable {
                schema_path,
                available,
            } => write!(
                f,
                "{schema_path} has no {} method (it has {})",
                self.method,
                methods_text(available)
            )?,
            CheckFailure::TokenForbidden { schema_path } => write!(
                f,
                "closed to API tokens ({} {schema_path} has allowtoken off): log in with a \
                 password (a ticket) for this call",
                self.method
            )?,
            CheckFailure::Parameters { .. } => {
                f.write_str("parameter verification failed (")?;
                for (i, (k, v)) in self.errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{k}: {}", v.replace('\n', " / "))?;
                    if let Some(h) = self.hints.get(k) {
                        write!(f, ", {h}")?;
                    }
                }
                f.write_str(")")?;
            }
        }
        f.write_str("; checked against the server's API schema, nothing was sent")
    }
}

impl std::error::Error for CheckError {}

impl From<CheckError> for Error {
    fn from(e: CheckError) -> Self {
        e.into_error()
    }
}

impl Schema {
    /// Check `call` as the server would before running it: the path, the method, an endpoint
    /// closed to API tokens when `auth` is [`AuthKind::Token`], and every parameter (path
    /// variables included) against its schema. See the [module](self) for the rules and
    /// their sources in PVE. Nothing is allocated unless the call is refused, beyond what
    /// parsing a property string takes.
    ///
    /// ```
    /// use proxmox_proto::schema::Schema;
    /// use proxmox_proto::schema::check::CheckFailure;
    /// use proxmox_proto::{AuthKind, Call};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let schema = Schema::from_json(br#"[{"path": "/nodes", "text": "nodes", "children": [
    ///   {"path": "/nodes/{node}", "text": "{node}", "children": [
    ///     {"path": "/nodes/{node}/qemu", "text": "qemu", "info": {"POST": {"name": "create_vm",
    ///      "method": "POST", "parameters": {"additionalProperties": 0, "properties": {
    ///        "node": {"type": "string", "format": "pve-node"},
    ///        "vmid": {"type": "integer", "minimum": 100, "maximum": 999999999},
    ///        "cores": {"type": "integer", "minimum": 1, "optional": 1}}}}}}]}]}]"#)?;
    /// let ok = Call::post(("nodes", "pve1", "qemu"))?.param("vmid", 100).param("cores", 2);
    /// assert!(schema.check(&ok, AuthKind::Token).is_ok());
    ///
    /// let bad = Call::post(("nodes", "pve1", "qemu"))?.param("vmid", 100).param("cores", 0);
    /// let err = schema.check(&bad, AuthKind::Token).unwrap_err();
    /// assert_eq!(err.errors["cores"], "value must have a minimum value of 1");
    ///
    /// let typo = Call::post(("nodes", "pve1", "qemus"))?;
    /// let err = schema.check(&typo, AuthKind::Token).unwrap_err();
    /// assert_eq!(err.failure, CheckFailure::UnknownPath { closest: Some("/nodes/{node}/qemu".into()) });
    /// # Ok(()) }
    /// ```
    pub fn check(&self, call: &Call, auth: AuthKind) -> Result<(), CheckError> {
        let data = self.data();
        let segments = call.path.segments();
        let mut vars = Vars::default();
        let Some(node_index) = resolve(data, segments, &mut vars) else {
            let closest = closest_path(data, segments, call.method).map(str::to_owned);
            return Err(CheckError::new(call, CheckFailure::UnknownPath { closest }));
        };
        let Some(node) = data.nodes.get(node_index) else {
            return Err(CheckError::new(
                call,
                CheckFailure::UnknownPath { closest: None },
            ));
        };
        let Some(method) = node_method(data, node, call.method) else {
            let mask = METHODS
                .iter()
                .enumerate()
                .filter(|(_, m)| node_method(data, node, **m).is_some())
                .fold(0, |mask, (i, _)| mask | (1 << i));
            let available = SUBSETS.get(mask).copied().unwrap_or_default();
            return Err(CheckError::new(
                call,
                CheckFailure::MethodNotAvailable {
                    schema_path: node.path.clone(),
                    available,
                },
            ));
        };
        let parameters = |call| {
            CheckError::new(
                call,
                CheckFailure::Parameters {
                    schema_path: node.path.clone(),
                },
            )
        };

        // pve-manager `rest_handler`: a parameter that repeats a path variable must say the
        // same (a repeated key is a list, which never equals the path's value).
        let mut errors = Errors::default();
        for (name, value) in vars.iter() {
            let mut seen = 0;
            for (k, v) in call.params.iter() {
                if same(k, name) {
                    seen += 1;
                    if v != value || seen > 1 {
                        errors.add(&ErrPath::Top(name), Cow::Borrowed(URI_CONFLICT));
                        break;
                    }
                }
            }
        }
        if let Some(map) = errors.map {
            let mut e = parameters(call);
            e.errors = map;
            return Err(e);
        }

        // pve-manager `rest_handler`: `raise_perm_exc` when a token calls an endpoint
        // registered with `allowtoken => 0`.
        if auth == AuthKind::Token && !method.allowtoken {
            return Err(CheckError::new(
                call,
                CheckFailure::TokenForbidden {
                    schema_path: node.path.clone(),
                },
            ));
        }

        let checker = Checker {
            schema: self,
            shell: auth == AuthKind::Shell,
        };
        checker.check_params(call, method, &vars, &mut errors);
        match errors.map {
            None => Ok(()),
            Some(map) => {
                let mut e = parameters(call);
                e.errors = map;
                e.hints = errors.hints.unwrap_or_default();
                Err(e)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The path.

/// The path variables of a resolved path: names from the schema, values from the call.
#[derive(Default)]
struct Vars<'s, 'c> {
    items: [Option<(&'s str, Cow<'c, str>)>; MAX_VARS],
    len: usize,
}

impl<'s, 'c> Vars<'s, 'c> {
    /// Keep one; `false` when there is no room (the path is then treated as unknown).
    fn push(&mut self, name: &'s str, value: Cow<'c, str>) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = Some((name, value));
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&'s str, &str)> + '_ {
        self.items
            .iter()
            .take(self.len)
            .flatten()
            .map(|(n, v)| (*n, v.as_ref()))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| same(n, name)).map(|(_, v)| v)
    }
}

/// The variable's name of a `{name}` (or `{name:regex}`) segment.
fn var_name(segment: &str) -> Option<&str> {
    let inner = segment.strip_prefix('{')?.strip_suffix('}')?;
    Some(inner.split_once(':').map_or(inner, |(n, _)| n))
}

/// pve-common `RESTHandler.pm` `map_path_to_methods`: literal segments first, then the level's
/// variable. Returns the node's index.
fn resolve<'s, 'c>(
    data: &'s SchemaData,
    segments: &'c [String],
    vars: &mut Vars<'s, 'c>,
) -> Option<usize> {
    let mut current = 0usize;
    let mut i = 0;
    while let Some(segment) = segments.get(i) {
        let node = data.nodes.get(current)?;
        let child = |c: &u32| data.nodes.get(*c as usize).map(|n| (*c as usize, n));
        if let Some((c, _)) = node
            .children
            .iter()
            .filter_map(child)
            .find(|(_, n)| same(&n.segment, segment) && var_name(&n.segment).is_none())
        {
            current = c;
            i += 1;
            continue;
        }
        let (c, var_node) = node
            .children
            .iter()
            .filter_map(child)
            .find(|(_, n)| n.segment.starts_with('{') && var_name(&n.segment).is_some())?;
        let name = var_name(&var_node.segment)?;
        let rest = segments.get(i..).unwrap_or_default();
        if var_node.children.is_empty() && rest.len() > 1 {
            // `fragmentDelimiter => ''`: the rest of the path is the value (volume ids).
            if !vars.push(name, Cow::Owned(rest.join("/"))) {
                return None;
            }
            return Some(c);
        }
        if !vars.push(name, Cow::Borrowed(segment.as_str())) {
            return None;
        }
        current = c;
        i += 1;
    }
    Some(current)
}

/// The four methods, in the order of [`PathNode::methods`].
const METHODS: [CallMethod; 4] = [
    CallMethod::Get,
    CallMethod::Post,
    CallMethod::Put,
    CallMethod::Delete,
];

/// Every subset of [`METHODS`], by bit mask (bit `i` for `METHODS[i]`): a path's methods
/// without allocating, and a [`CheckError`] small enough to return by value.
const SUBSETS: [&[CallMethod]; 16] = {
    use CallMethod::{Delete as D, Get as G, Post as P, Put as U};
    [
        &[],
        &[G],
        &[P],
        &[G, P],
        &[U],
        &[G, U],
        &[P, U],
        &[G, P, U],
        &[D],
        &[G, D],
        &[P, D],
        &[G, P, D],
        &[U, D],
        &[G, U, D],
        &[P, U, D],
        &[G, P, U, D],
    ]
};

fn method_slot(m: CallMethod) -> usize {
    match m {
        CallMethod::Get => 0,
        CallMethod::Post => 1,
        CallMethod::Put => 2,
        CallMethod::Delete => 3,
    }
}

fn node_method<'s>(data: &'s SchemaData, node: &PathNode, m: CallMethod) -> Option<&'s Method> {
    let index = node.methods.get(method_slot(m)).copied().flatten()?;
    data.methods.get(index as usize)
}

/// The schema's path closest to `segments`: segment by segment, a variable takes any value, a
/// literal costs its edit distance, a segment too many or too few costs its length; a path
/// without the call's method costs a little more. Only on the error path.
fn closest_path<'s>(data: &'s SchemaData, segments: &[String], m: CallMethod) -> Option<&'s str> {
    let mut best: Option<(usize, &str)> = None;
    for node in &data.nodes {
        if node.methods.iter().all(Option::is_none) {
            continue;
        }
        let template: Vec<&str> = node.path.split('/').filter(|s| !s.is_empty()).collect();
        let mut cost = 0;
        for i in 0..template.len().max(segments.len()) {
            cost += match (template.get(i), segments.get(i)) {
                (Some(t), Some(s)) if var_name(t).is_some() || *t == s => 0,
                (Some(t), Some(s)) => edit_distance(t, s),
                (Some(t), None) => t.chars().count().max(3),
                (None, Some(s)) => s.chars().count().max(3),
                (None, None) => 0,
            };
        }
        let cost = cost * 2 + usize::from(node.methods[method_slot(m)].is_none());
        if best.is_none_or(|(b, _)| cost < b) {
            best = Some((cost, &node.path));
        }
    }
    best.map(|(_, p)| p)
}

// ---------------------------------------------------------------------------------------------
// The errors map.

/// Where an error is, as JSONSchema.pm names it: `vmid`, `net0.model`, `command[1]`.
enum ErrPath<'a> {
    Top(&'a str),
    Key(&'a ErrPath<'a>, &'a str),
    Index(&'a ErrPath<'a>, usize),
}

impl fmt::Display for ErrPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Top(k) => f.write_str(k),
            Self::Key(parent, k) => write!(f, "{parent}.{k}"),
            Self::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

impl ErrPath<'_> {
    /// The parameter at the top, whose name says whether values are secret.
    fn top(&self) -> &str {
        match self {
            Self::Top(k) => k,
            Self::Key(p, _) | Self::Index(p, _) => p.top(),
        }
    }
}

/// The errors map and the hints, built on the first error only.
#[derive(Default)]
struct Errors {
    map: Option<BTreeMap<String, String>>,
    hints: Option<BTreeMap<String, String>>,
}

impl Errors {
    /// JSONSchema.pm `add_error`: a second message for the same path is joined with a literal
    /// `\n` (two characters: Perl's single-quoted `'\n'`).
    fn add(&mut self, path: &ErrPath<'_>, msg: Cow<'_, str>) {
        let map = self.map.get_or_insert_with(BTreeMap::new);
        let key = path.to_string();
        match map.get_mut(&key) {
            Some(old) => {
                old.push_str("\\n");
                old.push_str(&msg);
            }
            None => {
                map.insert(key, msg.into_owned());
            }
        }
    }

    /// What the client suggests for the parameter at the top of `path`.
    fn hint(&mut self, path: &ErrPath<'_>, hint: String) {
        self.hints
            .get_or_insert_with(BTreeMap::new)
            .insert(path.top().to_owned(), hint);
    }
}

// ---------------------------------------------------------------------------------------------
// The parameters.

struct Checker<'s> {
    schema: &'s Schema,
    /// `pvesh` reads the values (empty is a value, booleans spelled any PVE way).
    shell: bool,
}

/// The values of one parameter as the server sees them.
enum Values<'c> {
    /// Not given (or only empty over HTTP).
    Absent,
    /// One value.
    One(&'c str),
    /// Several: a list, the occurrences of the key after the first `skip`.
    Many {
        /// Occurrences before the list (up to and including the last empty one).
        skip: usize,
    },
}

/// String equality for the short names of a schema: the length and the first byte decide most
/// comparisons without a call to `memcmp` (a third of the check's time otherwise).
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// `Ord` of two short strings without a call to `memcmp`.
#[inline]
fn cmp_short(a: &str, b: &str) -> std::cmp::Ordering {
    for (x, y) in a.bytes().zip(b.bytes()) {
        if x != y {
            return x.cmp(&y);
        }
    }
    a.len().cmp(&b.len())
}

/// Whether `key` is a member of the indexed family `stem` (`net0` of `net[n]`): the stem, then
/// a decimal index without leading zeros.
fn family_member(stem: &str, key: &str) -> bool {
    if key.len() <= stem.len() || key.as_bytes().first() != stem.as_bytes().first() {
        return false;
    }
    match key.strip_prefix(stem) {
        Some(index) if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) => {
            index == "0" || !index.starts_with('0')
        }
        _ => false,
    }
}

/// The schema of parameter `key`. PVE's and PBS's schemas list parameters sorted by name, so a
/// binary search finds most (a family by its stem, `net` for `net0`); whatever it misses, in
/// a schema listed in another order, the scan after it finds.
fn find_param<'m>(method: &'m Method, key: &str) -> Option<&'m PropSchema> {
    let params = &method.params;
    let by_name = |name: &str| {
        params
            .binary_search_by(|p| cmp_short(&p.name, name))
            .ok()
            .and_then(|i| params.get(i))
    };
    if let Some(p) = by_name(key)
        && !p.indexed
    {
        return Some(&p.schema);
    }
    let stem = key.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() < key.len()
        && let Some(p) = by_name(stem)
        && p.indexed
        && family_member(&p.name, key)
    {
        return Some(&p.schema);
    }
    params
        .iter()
        .find(|p| {
            if p.indexed {
                family_member(&p.name, key)
            } else {
                same(&p.name, key)
            }
        })
        .map(|p| &p.schema)
}

impl Checker<'_> {
    fn check_params(&self, call: &Call, method: &Method, vars: &Vars<'_, '_>, errors: &mut Errors) {
        // The path variables are parameters like the others (`rest_handler` merges them).
        for (name, value) in vars.iter() {
            match find_param(method, name) {
                Some(schema) => self.check_value(value, schema, &ErrPath::Top(name), errors, 0),
                None if !method.additional_properties => {
                    errors.add(&ErrPath::Top(name), Cow::Borrowed(NOT_DEFINED));
                }
                None => {}
            }
        }

        for (i, (key, _)) in call.params.iter().enumerate() {
            // pve-http-server `handle_api2_request` drops `_dc`; a path variable given again
            // was compared above; a repeated key is seen at its first occurrence.
            if key == "_dc"
                || vars.get(key).is_some()
                || call.params.iter().take(i).any(|(k, _)| same(k, key))
            {
                continue;
            }
            let Some(schema) = find_param(method, key) else {
                if !method.additional_properties {
                    errors.add(&ErrPath::Top(key), Cow::Borrowed(NOT_DEFINED));
                    if let Some(s) = suggest(method, key) {
                        errors.hint(&ErrPath::Top(key), format!("did you mean '{s}'?"));
                    }
                }
                continue;
            };
            let path = ErrPath::Top(key);
            match self.values(call, i, key) {
                Values::Absent => {}
                Values::One(v) => self.check_top(v, schema, &path, errors),
                Values::Many { skip } => {
                    let all = || {
                        call.params
                            .iter()
                            .skip(i)
                            .filter(move |(k, _)| *k == key)
                            .map(|(_, v)| v)
                            .skip(skip)
                    };
                    self.check_list(all, schema, &path, errors);
                }
            }
        }

        // JSONSchema.pm `check_object`: every property of the schema, present or not.
        for p in &method.params {
            if p.indexed || p.schema.optional || p.schema.alias.is_some() {
                continue;
            }
            let present = vars.get(&p.name).is_some()
                || !matches!(self.values_of(call, &p.name), Values::Absent);
            if !present {
                errors.add(&ErrPath::Top(&p.name), Cow::Borrowed(MISSING));
            }
        }
    }

    fn values_of<'c>(&self, call: &'c Call, key: &str) -> Values<'c> {
        match call.params.iter().position(|(k, _)| same(k, key)) {
            Some(i) => self.values(call, i, key),
            None => Values::Absent,
        }
    }

    /// pve-http-server `decode_urlencoded`: `k=` is no value (undef), and it resets the list
    /// the key had so far; a key given again makes a list. `pvesh` keeps empty values.
    fn values<'c>(&self, call: &'c Call, first: usize, key: &str) -> Values<'c> {
        let mut total = 0;
        let mut start = 0;
        let mut last = "";
        for (k, v) in call.params.iter().skip(first) {
            if !same(k, key) {
                continue;
            }
            total += 1;
            if v.is_empty() && !self.shell {
                start = total;
            }
            last = v;
        }
        match total - start {
            0 => Values::Absent,
            1 => Values::One(last),
            _ => Values::Many { skip: start },
        }
    }

    /// One value at the top: an `array` parameter takes it as a list of one
    /// (`$normalize_legacy_param_formats`, only for a value Perl finds true).
    fn check_top(&self, value: &str, schema: &PropSchema, path: &ErrPath<'_>, errors: &mut Errors) {
        if let SchemaType::Array(items) = &schema.ty
            && perl_true(value)
        {
            if let Some(items) = items {
                self.check_value(value, items, &ErrPath::Index(path, 0), errors, 0);
            }
            return;
        }
        self.check_value(value, schema, path, errors, 0);
    }

    /// Several values for one key.
    fn check_list<'c, I: Iterator<Item = &'c str>>(
        &self,
        all: impl Fn() -> I,
        schema: &PropSchema,
        path: &ErrPath<'_>,
        errors: &mut Errors,
    ) {
        match &schema.ty {
            SchemaType::Array(items) => {
                if let Some(items) = items {
                    for (i, v) in all().enumerate() {
                        self.check_value(v, items, &ErrPath::Index(path, i), errors, 0);
                    }
                }
            }
            SchemaType::String if matches!(&schema.format, Some(Format::Named(n)) if n.ends_with("-list")) =>
            {
                let mut joined = String::new();
                for (i, v) in all().enumerate() {
                    if i > 0 {
                        joined.push(',');
                    }
                    joined.push_str(v);
                }
                self.check_value(&joined, schema, path, errors, 0);
            }
            SchemaType::Any => {}
            ty => errors.add(path, Cow::Borrowed(type_failed_list(ty))),
        }
    }

    /// JSONSchema.pm `check_prop` for a defined, plain (not a list) value.
    fn check_value(
        &self,
        value: &str,
        schema: &PropSchema,
        path: &ErrPath<'_>,
        errors: &mut Errors,
        depth: usize,
    ) {
        // Aliases are remapped to their target and not checked themselves.
        if schema.alias.is_some() {
            return;
        }
        let shown = || {
            if crate::params::is_secret_key(path.top()) {
                REDACTED
            } else {
                value
            }
        };
        // `check_type`. A property string's booleans went through `parse_boolean`
        // (`parse_property_string`), `pvesh`'s through `get_options`.
        let bool_spellings = depth > 0 || self.shell;
        let type_error = match &schema.ty {
            SchemaType::String | SchemaType::Any => None,
            SchemaType::Boolean => {
                let ok = value == "1"
                    || value == "0"
                    || (self.shell && depth == 0 && value.is_empty())
                    || (parse_boolean(value).is_some() && (bool_spellings || is_pbs(self.schema)));
                (!ok).then(|| format!("type check ('boolean') failed - got '{}'", shown()))
            }
            SchemaType::Integer => (!is_integer(value))
                .then(|| format!("type check ('integer') failed - got '{}'", shown())),
            SchemaType::Number => (!is_number(value))
                .then(|| format!("type check ('number') failed - got '{}'", shown())),
            SchemaType::Null => Some("type check ('null') failed - value is not null".to_owned()),
            SchemaType::Array(_) => Some("type check ('array') failed".to_owned()),
            SchemaType::Object { .. } => Some("type check ('object') failed".to_owned()),
        };
        if let Some(msg) = type_error {
            errors.add(path, Cow::Owned(msg));
            return;
        }

        // `check_format`.
        if let Some(format) = &schema.format {
            let result = match format {
                Format::Named(name) => check_named(name, value).map_err(|(msg, v)| {
                    let secret = crate::params::is_secret_key(path.top());
                    msg.render(if secret { REDACTED } else { v })
                }),
                Format::PropertyString(pf) => self
                    .check_property_string(pf, value, path, depth)
                    .map_err(|(msg, hint)| {
                        if let Some(hint) = hint {
                            errors.hint(path, hint);
                        }
                        msg
                    }),
            };
            if let Err(msg) = result {
                errors.add(path, Cow::Owned(format!("invalid format - {msg}")));
                return;
            }
        }

        // `m/^$pattern$/`, as the loader translated it; a pattern it could not translate is
        // not checked.
        if let Some(id) = schema.pattern
            && let Ok(false) = self.schema.pattern_matches(id, value)
        {
            errors.add(
                path,
                Cow::Borrowed("value does not match the regex pattern"),
            );
            return;
        }

        if schema.max_length.is_some() || schema.min_length.is_some() {
            let length = value.chars().count() as u64;
            if let Some(max) = schema.max_length
                && length > max
            {
                errors.add(
                    path,
                    Cow::Owned(format!("value may only be {max} characters long")),
                );
                return;
            }
            if let Some(min) = schema.min_length
                && length < min
            {
                errors.add(
                    path,
                    Cow::Owned(format!("value must be at least {min} characters long")),
                );
                return;
            }
        }

        if (schema.maximum.is_some() || schema.minimum.is_some())
            && is_number(value)
            && let Ok(n) = perl_chomp(value).parse::<f64>()
        {
            if let Some(max) = schema.maximum
                && n > max
            {
                errors.add(
                    path,
                    Cow::Owned(format!(
                        "value must have a maximum value of {}",
                        perl_num(max)
                    )),
                );
                return;
            }
            if let Some(min) = schema.minimum
                && n < min
            {
                errors.add(
                    path,
                    Cow::Owned(format!(
                        "value must have a minimum value of {}",
                        perl_num(min)
                    )),
                );
                return;
            }
        }

        if let Some(values) = &schema.enumeration
            && !values.iter().any(|v| same(v, value))
        {
            errors.add(
                path,
                Cow::Owned(format!(
                    "value '{}' does not have a value in the enumeration '{}'",
                    shown(),
                    values.join(", ")
                )),
            );
        }
    }

    /// JSONSchema.pm `parse_property_string` then `check_object` on its keys: the parse's own
    /// error (unknown key, duplicate, no default key) in PVE's words, or "format error" and a
    /// line per key as `PVE::Exception` prints the errors it carries. The `Err` carries a hint
    /// for an unknown key (the key meant, or the format's keys).
    fn check_property_string(
        &self,
        format: &PropertyFormat,
        value: &str,
        path: &ErrPath<'_>,
        depth: usize,
    ) -> Result<(), (String, Option<String>)> {
        if depth >= MAX_DEPTH {
            return Ok(());
        }
        let entries = match property_string::parse_entries(format, value) {
            Ok(entries) => entries,
            // PBS also reads double-quoted values, which the parser does not: let them be.
            Err(_) if value.contains('"') && is_pbs(self.schema) => return Ok(()),
            Err(e) => return Err(parse_error(format, path, e)),
        };
        let mut inner = Errors::default();
        for (key, v) in &entries {
            if let Some(schema) = format_key(format, key) {
                self.check_value(v, schema, &ErrPath::Key(path, key), &mut inner, depth + 1);
            }
        }
        match inner.map {
            None => Ok(()),
            Some(map) => Err((format_error(&map), None)),
        }
    }
}

/// `check_object`'s errors inside a property string, as `PVE::Exception` prints them after
/// the message: `format error`, then `path: message` per line.
fn format_error(map: &BTreeMap<String, String>) -> String {
    let mut msg = String::from("format error");
    for (k, m) in map {
        msg.push('\n');
        msg.push_str(k);
        msg.push_str(": ");
        msg.push_str(m);
    }
    msg
}

/// The parser's error in the words of JSONSchema.pm `parse_property_string` (its `die`s), and
/// a hint for an unknown key. A missing required key is `check_object`'s "property is missing"
/// line (PVE would list the other keys' errors with it; the parser stops at the first).
fn parse_error(
    format: &PropertyFormat,
    path: &ErrPath<'_>,
    e: PropertyStringError,
) -> (String, Option<String>) {
    match e {
        PropertyStringError::EmptyKeyOrValue { .. } => (
            "missing key in comma-separated list property".to_owned(),
            None,
        ),
        PropertyStringError::NoDefaultKey { .. } => (
            "value without key, but schema does not define a default key".to_owned(),
            None,
        ),
        PropertyStringError::UnknownKey { key, known } => {
            let hint = match closest(&key, known.iter().map(String::as_str)) {
                Some(k) => format!("did you mean '{k}' in {path}?"),
                None => format!("the keys of {path} are: {}", known.join(", ")),
            };
            (
                format!("invalid key in comma-separated list property: {key}"),
                Some(hint),
            )
        }
        PropertyStringError::DuplicateKey { key, via: None } => (
            format!("duplicate key in comma-separated list property: {key}"),
            None,
        ),
        PropertyStringError::DuplicateKey {
            key,
            via: Some(alias),
        } => {
            let key_alias = format
                .keys
                .iter()
                .find(|(k, _)| *k == alias)
                .and_then(|(_, s)| s.key_alias.as_deref());
            if key_alias == Some(key.as_str()) {
                (format!("key alias '{key}' is already defined"), None)
            } else {
                (format!("key '{key}' is already defined (via alias)"), None)
            }
        }
        PropertyStringError::MissingKeys { keys } => {
            let map = keys
                .iter()
                .map(|k| (format!("{path}.{k}"), MISSING.to_owned()))
                .collect();
            (format_error(&map), None)
        }
        other => (other.to_string(), None),
    }
}

/// The schema of a property string's key (the parser resolved aliases): by binary search
/// first (PVE's and PBS's schemas list the keys sorted), then as `property_string::key_schema`
/// finds it.
fn format_key<'f>(format: &'f PropertyFormat, key: &str) -> Option<&'f PropSchema> {
    match format.keys.binary_search_by(|(k, _)| cmp_short(k, key)) {
        Ok(i) => format.keys.get(i).map(|(_, s)| s),
        Err(_) => property_string::key_schema(format, key),
    }
}

/// Whether the schema is a Proxmox Backup Server's (it has PBS's protocol upgrade paths):
/// PBS reads booleans with `parse_boolean` everywhere (Rust `proxmox-schema`), where PVE's
/// forms take `1` and `0` only. Asked only when a boolean is spelled otherwise.
fn is_pbs(schema: &Schema) -> bool {
    schema
        .data()
        .nodes
        .iter()
        .any(|n| n.path == "/backup/_upgrade_" || n.path == "/reader/_upgrade_")
}

/// `check_type` of a list (a Perl array reference) against a scalar type.
fn type_failed_list(ty: &SchemaType) -> &'static str {
    match ty {
        SchemaType::String => "type check ('string') failed - got ARRAY",
        SchemaType::Integer => "type check ('integer') failed - got ARRAY",
        SchemaType::Number => "type check ('number') failed - got ARRAY",
        SchemaType::Boolean => "type check ('boolean') failed - got ARRAY",
        SchemaType::Null => "type check ('null') failed - value is not null",
        SchemaType::Object { .. } => "type check ('object') failed",
        SchemaType::Array(_) | SchemaType::Any => "",
    }
}

// ---------------------------------------------------------------------------------------------
// Perl's view of values.

/// Perl's `$` matches before a final newline: `m/^\d+$/` takes `"5\n"`.
fn perl_chomp(v: &str) -> &str {
    v.strip_suffix('\n').unwrap_or(v)
}

/// Perl truth: everything but `""` and `"0"`.
fn perl_true(v: &str) -> bool {
    !v.is_empty() && v != "0"
}

/// JSONSchema.pm `parse_boolean`.
fn parse_boolean(v: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["1", "on", "yes", "true"];
    const FALSE: [&str; 4] = ["0", "off", "no", "false"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(v)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(v)) {
        Some(false)
    } else {
        None
    }
}

fn digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// JSONSchema.pm `is_integer`: `^[+-]?\d+$`.
fn is_integer(v: &str) -> bool {
    let v = perl_chomp(v);
    let v = v.strip_prefix(['+', '-']).unwrap_or(v);
    !v.is_empty() && digits(v) == v.len()
}

/// JSONSchema.pm `is_number`: `^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$`.
fn is_number(v: &str) -> bool {
    let v = perl_chomp(v);
    let v = v.strip_prefix(['+', '-']).unwrap_or(v);
    let int = digits(v);
    let mut rest = &v[int..];
    let mut frac = 0;
    if let Some(r) = rest.strip_prefix('.') {
        frac = digits(r);
        rest = &r[frac..];
    } else if int == 0 {
        return false;
    }
    if int == 0 && frac == 0 {
        return false;
    }
    if let Some(e) = rest.strip_prefix(['e', 'E']) {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        let n = digits(e);
        return n > 0 && n == e.len();
    }
    rest.is_empty()
}

/// A number as Perl prints it (`%.15g`): integers without a fraction.
fn perl_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

// ---------------------------------------------------------------------------------------------
// Named formats: JSONSchema.pm's verifiers, re-implemented (the schema names them only).

/// A verifier's `die` text: fixed, or with the value inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Msg {
    Fixed(&'static str),
    /// Text before and after the value.
    Value(&'static str, &'static str),
}

impl Msg {
    fn render(self, value: &str) -> String {
        match self {
            Self::Fixed(m) => m.to_owned(),
            Self::Value(before, after) => format!("{before}{value}{after}"),
        }
    }
}

/// `check_format` for a named format: `name-list` splits the value (`split_list`) and checks
/// each element, `name-opt` checks a value Perl finds true. A format not known here passes.
/// The error carries the value the message names (the element of a list).
fn check_named<'v>(name: &str, value: &'v str) -> Result<(), (Msg, &'v str)> {
    if let Some(base) = name.strip_suffix("-list") {
        let mut result = Ok(());
        split_list(value, |element| {
            if result.is_ok() {
                result = verify(base, element).map_err(|m| (m, element));
            }
        });
        return result;
    }
    if let Some(base) = name.strip_suffix("-opt") {
        return if perl_true(value) {
            verify(base, value).map_err(|m| (m, value))
        } else {
            Ok(())
        };
    }
    verify(name, value).map_err(|m| (m, value))
}

/// pve-common `src/PVE/ParseUtils.pm` `split_list`: on NUL if there is one (Perl's `split`
/// keeps empty pieces but the trailing ones), else on `,`, `;` and white space, empty pieces
/// dropped.
fn split_list<'v>(value: &'v str, mut each: impl FnMut(&'v str)) {
    if value.contains('\0') {
        let end = value.trim_end_matches('\0');
        if !end.is_empty() {
            end.split('\0').for_each(each);
        }
    } else {
        value
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .for_each(&mut each);
    }
}

/// One value against a named format's verifier: `Err` with the verifier's `die` text.
fn verify(name: &str, value: &str) -> Result<(), Msg> {
    let v = perl_chomp(value);
    let ok = match name {
        "pve-vmid" => {
            let b = v.as_bytes();
            (3..=9).contains(&b.len())
                && b.first().is_some_and(|c| (b'1'..=b'9').contains(c))
                && b.iter().all(u8::is_ascii_digit)
        }
        "pve-node" => is_dns_label(v),
        "pve-storage-id" => {
            if value.chars().count() < 2 {
                return Err(Msg::Value(
                    "storage ID '",
                    "' cannot be shorter than 2 characters",
                ));
            }
            let b = v.as_bytes();
            b.len() >= 2
                && b.first().is_some_and(u8::is_ascii_alphabetic)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        // `^[-_.\w\d]+$`; Perl's `\w` takes any letter or digit.
        "pve-bridge-id" => {
            !v.is_empty() && v.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c))
        }
        "pve-configid" => {
            let b = v.as_bytes();
            b.len() >= 2
                && b.first().is_some_and(u8::is_ascii_alphabetic)
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
        }
        "mac-addr" => {
            let hex = |s: &str| s.len() == 2 && s.bytes().all(|c| c.is_ascii_hexdigit());
            let mut parts = v.split(':');
            let first = parts.next().is_some_and(|p| {
                hex(p)
                    && p.as_bytes()
                        .get(1)
                        .is_some_and(|c| b"02468aceACE".contains(c))
            });
            first && parts.clone().count() == 5 && parts.all(hex)
        }
        "ipv4" => v.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => v.parse::<std::net::Ipv6Addr>().is_ok(),
        "ip" => v.parse::<std::net::IpAddr>().is_ok(),
        "CIDRv4" => cidr(v, false),
        "CIDRv6" => cidr(v, true),
        "CIDR" => cidr(v, false) || cidr(v, true),
        "dns-name" => v.split('.').all(is_dns_label),
        "urlencoded" => v
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-%_.!~*'()".contains(&c)),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    Err(match name {
        "pve-vmid" => Msg::Fixed("value does not look like a valid VM ID"),
        "pve-node" => Msg::Fixed("value does not look like a valid node name"),
        "pve-storage-id" => Msg::Value("storage ID '", "' contains illegal characters"),
        "pve-bridge-id" => Msg::Value("invalid bridge ID '", "'"),
        "pve-configid" => Msg::Value("invalid configuration ID '", "'"),
        "mac-addr" => Msg::Fixed("value does not look like a valid unicast MAC address"),
        "ipv4" => Msg::Fixed("value does not look like a valid IPv4 address"),
        "ipv6" => Msg::Fixed("value does not look like a valid IPv6 address"),
        "ip" => Msg::Fixed("value does not look like a valid IP address"),
        "CIDRv4" => Msg::Fixed("value does not look like a valid IPv4 CIDR network"),
        "CIDRv6" => Msg::Fixed("value does not look like a valid IPv6 CIDR network"),
        "CIDR" => Msg::Fixed("value does not look like a valid CIDR network"),
        "dns-name" => Msg::Fixed("value does not look like a valid DNS name"),
        _ => Msg::Value("invalid urlencoded string: ", ""),
    })
}

/// `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `pve_verify_cidrv4` / `pve_verify_cidrv6`: an address, `/`, a prefix length above 7.
fn cidr(v: &str, v6: bool) -> bool {
    let Some((addr, len)) = v.split_once('/') else {
        return false;
    };
    if len.is_empty() || digits(len) != len.len() {
        return false;
    }
    let Ok(len) = len.parse::<u32>() else {
        return false;
    };
    if v6 {
        addr.parse::<std::net::Ipv6Addr>().is_ok() && (8..=128).contains(&len)
    } else {
        addr.parse::<std::net::Ipv4Addr>().is_ok() && (8..=32).contains(&len)
    }
}

// ---------------------------------------------------------------------------------------------
// "Did you mean".

/// The parameter of `method` closest to `key`: a family's member with the key's index
/// (`nte0` → `net0`), compared without case, within an edit distance of a third of its
/// length (at least 1, at most 3).
fn suggest(method: &Method, key: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    let index_at = lower.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let index = lower
        .get(index_at..)
        .unwrap_or_default()
        .trim_start_matches('0');
    let index = if index.is_empty() { "0" } else { index };
    let candidates: Vec<Cow<'_, str>> = method
        .params
        .iter()
        .filter(|p| p.schema.alias.is_none())
        .map(|p| {
            if p.indexed {
                Cow::Owned(format!("{}{index}", p.name))
            } else {
                Cow::Borrowed(p.name.as_str())
            }
        })
        .collect();
    closest(key, candidates.iter().map(AsRef::as_ref))
}

/// The candidate closest to `key`, compared without case, within an edit distance of a third
/// of its length (at least 1, at most 3); not `key` itself.
fn closest<'c>(key: &str, candidates: impl Iterator<Item = &'c str>) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&lower, &candidate.to_ascii_lowercase());
        let limit = (candidate.chars().count() / 3).clamp(1, 3);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c.to_owned()).filter(|c| c != key)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// neighbours cost 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        if let Some(first) = row.first_mut() {
            *first = i;
        }
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = v;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::model::{
        Format, Method, Param, PathNode, Pattern, PatternId, PropSchema, PropertyFormat, Schema,
        SchemaData, SchemaType,
    };
    use super::*;
    use crate::error::ErrorClass;
    use std::sync::Arc;

    // A schema written here, facts only: paths, parameter names, types and limits.

    fn ty(t: SchemaType) -> PropSchema {
        PropSchema {
            ty: t,
            ..PropSchema::default()
        }
    }
    fn string() -> PropSchema {
        ty(SchemaType::String)
    }
    fn integer(min: Option<f64>, max: Option<f64>) -> PropSchema {
        PropSchema {
            minimum: min,
            maximum: max,
            ..ty(SchemaType::Integer)
        }
    }
    fn boolean() -> PropSchema {
        ty(SchemaType::Boolean)
    }
    fn opt(mut s: PropSchema) -> PropSchema {
        s.optional = true;
        s
    }
    fn named(mut s: PropSchema, f: &str) -> PropSchema {
        s.format = Some(Format::Named(f.into()));
        s
    }
    fn one_of(values: &[&str]) -> PropSchema {
        PropSchema {
            enumeration: Some(values.iter().map(|v| (*v).to_owned()).collect()),
            ..string()
        }
    }
    fn param(name: &str, schema: PropSchema) -> Param {
        Param {
            name: name.into(),
            indexed: false,
            schema,
        }
    }
    fn family(name: &str, schema: PropSchema) -> Param {
        Param {
            name: name.into(),
            indexed: true,
            schema,
        }
    }
    fn pstring(keys: Vec<(&str, PropSchema)>) -> PropSchema {
        let keys: Vec<(String, PropSchema)> =
            keys.into_iter().map(|(k, s)| (k.to_owned(), s)).collect();
        let default_key = keys
            .iter()
            .find(|(_, s)| s.default_key)
            .map(|(k, _)| k.clone());
        PropSchema {
            format: Some(Format::PropertyString(Arc::new(PropertyFormat {
                keys,
                default_key,
            }))),
            ..string()
        }
    }
    fn alias(to: &str, key_alias: Option<&str>) -> PropSchema {
        PropSchema {
            alias: Some(to.into()),
            key_alias: key_alias.map(str::to_owned),
            ..PropSchema::default()
        }
    }

    fn net() -> PropSchema {
        let mut model = one_of(&["e1000", "virtio", "vmxnet3"]);
        model.default_key = true;
        pstring(vec![
            ("model", model),
            ("macaddr", opt(named(string(), "mac-addr"))),
            ("bridge", opt(named(string(), "pve-bridge-id"))),
            ("firewall", opt(boolean())),
            ("tag", opt(integer(Some(1.0), Some(4094.0)))),
            ("trunks", {
                let mut s = opt(string());
                s.pattern = Some(PatternId(1));
                s
            }),
            ("virtio", alias("macaddr", Some("model"))),
            ("e1000", alias("macaddr", Some("model"))),
        ])
    }

    fn scsi() -> PropSchema {
        let mut file = named(string(), "pve-volume-id-or-qm-path");
        file.default_key = true;
        pstring(vec![
            ("file", file),
            ("cache", opt(one_of(&["none", "writeback"]))),
            ("iothread", opt(boolean())),
            ("size", opt(named(string(), "disk-size"))),
            ("volume", alias("file", None)),
        ])
    }

    fn create_vm() -> Method {
        let mut name = opt(named(string(), "dns-name"));
        name.max_length = Some(15);
        let mut description = opt(string());
        description.min_length = Some(2);
        let mut pool = opt(string());
        pool.pattern = Some(PatternId(0));
        Method {
            name: "create_vm".into(),
            params: vec![
                param("node", named(string(), "pve-node")),
                param(
                    "vmid",
                    named(integer(Some(100.0), Some(999_999_999.0)), "pve-vmid"),
                ),
                param("name", name),
                param("description", description),
                param("cores", opt(integer(Some(1.0), None))),
                param("cpulimit", {
                    let mut s = opt(ty(SchemaType::Number));
                    s.maximum = Some(128.0);
                    s
                }),
                param("onboot", opt(boolean())),
                param("ostype", opt(one_of(&["l26", "win11", "other"]))),
                param("pool", pool),
                param("storage", opt(named(string(), "pve-storage-id"))),
                param("tags", opt(named(string(), "pve-tag-list"))),
                param("hookpools", opt(named(string(), "pve-storage-id-list"))),
                param("cipassword", opt(one_of(&["never-valid"]))),
                param(
                    "memory",
                    opt(pstring(vec![("current", {
                        let mut s = integer(Some(16.0), None);
                        s.default_key = true;
                        s
                    })])),
                ),
                family("net", opt(net())),
                family("scsi", opt(scsi())),
            ],
            additional_properties: false,
            allowtoken: true,
            ..Method::default()
        }
    }

    fn method(name: &str, params: Vec<Param>) -> Method {
        Method {
            name: name.into(),
            params,
            additional_properties: false,
            allowtoken: true,
            ..Method::default()
        }
    }

    /// `/nodes/{node}/qemu` (GET, POST), `…/{vmid}/agent/exec` (POST, `command` a list),
    /// `…/storage/{storage}/content/{volume}` (GET), `/access/ticket` (POST, closed to
    /// tokens), `/cluster/options` (PUT, any parameter).
    fn schema() -> Schema {
        let node = || param("node", named(string(), "pve-node"));
        let vmid = || param("vmid", named(integer(Some(100.0), None), "pve-vmid"));
        let methods = vec![
            method("nodes", vec![]),      // 0 GET /nodes
            method("list", vec![node()]), // 1 GET /nodes/{node}/qemu
            create_vm(),                  // 2 POST /nodes/{node}/qemu
            method(
                "exec",
                vec![
                    node(),
                    vmid(),
                    param("command", ty(SchemaType::Array(Some(Box::new(string()))))),
                ],
            ), // 3 POST …/agent/exec
            method(
                "content",
                vec![
                    node(),
                    param("storage", named(string(), "pve-storage-id")),
                    param("volume", string()),
                ],
            ), // 4 GET …/content/{volume}
            Method {
                allowtoken: false,
                ..method(
                    "ticket",
                    vec![param("username", string()), param("password", string())],
                )
            }, // 5 POST /access/ticket
            Method {
                additional_properties: true,
                ..method("options", vec![])
            }, // 6 PUT /cluster/options
            method("vm", vec![node(), vmid()]), // 7 GET …/qemu/{vmid}
            method("delete_vm", vec![node(), vmid()]), // 8 DELETE …/qemu/{vmid}
        ];
        let n =
            |segment: &str, path: &str, children: Vec<u32>, methods: [Option<u32>; 4]| PathNode {
                segment: segment.into(),
                path: path.into(),
                children,
                methods,
            };
        let nodes = vec![
            n("", "/", vec![1, 11, 13], [None; 4]), // 0
            n("nodes", "/nodes", vec![2], [Some(0), None, None, None]), // 1
            n("{node}", "/nodes/{node}", vec![3, 7], [None; 4]), // 2
            n(
                "qemu",
                "/nodes/{node}/qemu",
                vec![4],
                [Some(1), Some(2), None, None],
            ), // 3
            n(
                "{vmid}",
                "/nodes/{node}/qemu/{vmid}",
                vec![5],
                [Some(7), None, None, Some(8)],
            ), // 4
            n(
                "agent",
                "/nodes/{node}/qemu/{vmid}/agent",
                vec![6],
                [None; 4],
            ), // 5
            n(
                "exec",
                "/nodes/{node}/qemu/{vmid}/agent/exec",
                vec![],
                [None, Some(3), None, None],
            ), // 6
            n("storage", "/nodes/{node}/storage", vec![8], [None; 4]), // 7
            n(
                "{storage}",
                "/nodes/{node}/storage/{storage}",
                vec![9],
                [None; 4],
            ), // 8
            n(
                "content",
                "/nodes/{node}/storage/{storage}/content",
                vec![10],
                [None; 4],
            ), // 9
            n(
                "{volume}",
                "/nodes/{node}/storage/{storage}/content/{volume}",
                vec![],
                [Some(4), None, None, None],
            ), // 10
            n("access", "/access", vec![12], [None; 4]), // 11
            n(
                "ticket",
                "/access/ticket",
                vec![],
                [None, Some(5), None, None],
            ), // 12
            n("cluster", "/cluster", vec![14], [None; 4]), // 13
            n(
                "options",
                "/cluster/options",
                vec![],
                [None, None, Some(6), None],
            ), // 14
        ];
        let patterns = vec![Pattern::new("[a-z]+"), Pattern::new(r"\d+(?:;\d+)*")];
        Schema {
            inner: Arc::new(SchemaData {
                nodes,
                methods,
                patterns,
            }),
        }
    }

    fn create(params: &[(&str, &str)]) -> Call {
        let mut call = Call::post(("nodes", "pve1", "qemu")).unwrap();
        for (k, v) in params {
            call.params.push(*k, *v);
        }
        call
    }

    /// The errors map of a refused `POST /nodes/pve1/qemu` with `vmid=100` and `params`.
    fn errors_of(params: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut all = vec![("vmid", "100")];
        all.extend_from_slice(params);
        let e = schema()
            .check(&create(&all), AuthKind::Token)
            .expect_err("refused");
        assert!(matches!(e.failure, CheckFailure::Parameters { .. }), "{e}");
        e.errors
    }

    fn error_of(params: &[(&str, &str)], key: &str) -> String {
        let errors = errors_of(params);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{errors:?}"))
    }

    #[test]
    fn a_good_call_passes() {
        let call = create(&[
            ("vmid", "100"),
            ("name", "web1"),
            ("memory", "2048"),
            ("cores", "2"),
            ("ostype", "l26"),
            ("onboot", "1"),
            (
                "net0",
                "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1,tag=10",
            ),
            ("scsi0", "local-lvm:32,cache=none,iothread=on"),
            ("tags", "a;b,c"),
            ("cpulimit", "1.5"),
        ]);
        assert_eq!(schema().check(&call, AuthKind::Token), Ok(()));
    }

    #[test]
    fn unknown_path_names_the_closest() {
        let call = Call::post(("nodes", "pve1", "qemus")).unwrap();
        let e = schema().check(&call, AuthKind::Token).unwrap_err();
        assert_eq!(
            e.failure,
            CheckFailure::UnknownPath {
                closest: Some("/nodes/{node}/qemu".into())
            }
        );
        assert_eq!(e.path, "/nodes/pve1/qemus");
        let call = Call::get("nodes/pve1/qemu/100/agent/exce").unwrap();
        let e = schema().check(&call, AuthKind::Token).unwrap_err();
        assert_eq!(
            e.failure,
            CheckFailure::UnknownPath {
                closest: Some("/nodes/{node}/qemu/{vmid}/agent/exec".into())
            }
        );
        let err = e.into_error();
        let api = err.api().unwrap();
        assert_eq!(api.status, 501);
        assert_eq!(api.class, ErrorClass::NotFound);
        assert_eq!(
            api.reason,
            "Method 'GET /nodes/pve1/qemu/100/agent/exce' not implemented"
        );
        assert!(
            api.note
                .as_deref()
                .unwrap()
                .contains("/nodes/{node}/qemu/{vmid}/agent/exec")
        );
    }

    #[test]
    fn subsets_are_the_masks() {
        for (mask, subset) in SUBSETS.iter().enumerate() {
            let expected: Vec<CallMethod> = METHODS
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, m)| *m)
                .collect();
            assert_eq!(*subset, expected.as_slice());
        }
    }

    #[test]
    fn method_not_available_says_which_are() {
        let call = Call::put(("nodes", "pve1", "qemu")).unwrap();
        let e = schema().check(&call, AuthKind::Token).unwrap_err();
        assert_eq!(
            e.failure,
            CheckFailure::MethodNotAvailable {
                schema_path: "/nodes/{node}/qemu".into(),
                available: &[CallMethod::Get, CallMethod::Post],
            }
        );
        assert!(e.to_string().contains("only GET, POST"), "{e}");
        let api = e.into_error();
        let api = api.api().unwrap();
        assert_eq!(api.status, 501);
        assert!(api.note.as_deref().unwrap().contains("only GET, POST"));
    }

    #[test]
    fn unknown_parameter_did_you_mean() {
        let e = schema()
            .check(
                &create(&[
                    ("vmid", "100"),
                    ("nte0", "virtio"),
                    ("VMID", "1"),
                    ("cors", "1"),
                ]),
                AuthKind::Token,
            )
            .unwrap_err();
        for k in ["nte0", "VMID", "cors"] {
            assert_eq!(e.errors[k], NOT_DEFINED);
        }
        assert_eq!(e.hints["nte0"], "did you mean 'net0'?");
        assert_eq!(e.hints["VMID"], "did you mean 'vmid'?");
        assert_eq!(e.hints["cors"], "did you mean 'cores'?");
        // A family member spelled with a leading zero is not one; the hint names the member.
        let e = schema()
            .check(
                &create(&[("vmid", "100"), ("net01", "virtio")]),
                AuthKind::Token,
            )
            .unwrap_err();
        assert_eq!(e.hints["net01"], "did you mean 'net1'?");
        // Nothing close: no hint.
        let e = schema()
            .check(
                &create(&[("vmid", "100"), ("zzzzzz", "1")]),
                AuthKind::Token,
            )
            .unwrap_err();
        assert!(e.hints.is_empty());
        let note = e.into_error().api().unwrap().note.clone().unwrap();
        assert!(note.contains("sent nothing"), "{note}");
    }

    #[test]
    fn additional_properties_allowed_takes_any_parameter() {
        let call = Call::put("cluster/options").unwrap().param("anything", "x");
        assert_eq!(schema().check(&call, AuthKind::Token), Ok(()));
    }

    #[test]
    fn missing_required_parameter() {
        // `node` comes from the path; `vmid` is missing, and so is an empty one (a form's
        // `vmid=` is no value).
        for call in [create(&[]), create(&[("vmid", "")])] {
            let e = schema().check(&call, AuthKind::Token).unwrap_err();
            assert_eq!(e.errors.len(), 1, "{:?}", e.errors);
            assert_eq!(e.errors["vmid"], MISSING);
        }
        // `pvesh` takes an empty value as a value.
        let e = schema()
            .check(&create(&[("vmid", "")]), AuthKind::Shell)
            .unwrap_err();
        assert_eq!(e.errors["vmid"], "type check ('integer') failed - got ''");
    }

    #[test]
    fn types() {
        assert_eq!(
            error_of(&[("cores", "two")], "cores"),
            "type check ('integer') failed - got 'two'"
        );
        assert_eq!(
            error_of(&[("cores", "1.0")], "cores"),
            "type check ('integer') failed - got '1.0'"
        );
        assert_eq!(
            error_of(&[("cpulimit", "1.5.")], "cpulimit"),
            "type check ('number') failed - got '1.5.'"
        );
        for good in ["1.5", ".5", "2.", "+1", "-0", "1e2", "1.5E-3"] {
            let call = create(&[("vmid", "100"), ("cpulimit", good)]);
            assert_eq!(schema().check(&call, AuthKind::Token), Ok(()), "{good}");
        }
        // Over HTTP a boolean is 1 or 0 (`check_type`); `pvesh` parses the other spellings.
        assert_eq!(
            error_of(&[("onboot", "true")], "onboot"),
            "type check ('boolean') failed - got 'true'"
        );
        for spelling in ["true", "Yes", "off", ""] {
            let call = create(&[("vmid", "100"), ("onboot", spelling)]);
            assert_eq!(schema().check(&call, AuthKind::Shell), Ok(()), "{spelling}");
        }
        // A string takes anything; a key given twice is a list, which a string is not.
        let call = create(&[("vmid", "100"), ("description", "a b\nc")]);
        assert_eq!(schema().check(&call, AuthKind::Token), Ok(()));
        assert_eq!(
            error_of(
                &[("description", "ab"), ("description", "cd")],
                "description"
            ),
            "type check ('string') failed - got ARRAY"
        );
    }

    #[test]
    fn arrays() {
        let exec = |cmds: &[&str]| {
            let mut call = Call::post("nodes/pve1/qemu/100/agent/exec").unwrap();
            for c in cmds {
                call.params.push("command", *c);
            }
            schema().check(&call, AuthKind::Token)
        };
        assert_eq!(exec(&["ls", "-la"]), Ok(()));
        assert_eq!(exec(&["ls"]), Ok(()));
        // `$normalize_legacy_param_formats` wraps only a value Perl finds true.
        let e = exec(&["0"]).unwrap_err();
        assert_eq!(e.errors["command"], "type check ('array') failed");
    }

    #[test]
    fn enum_lists_the_allowed_values() {
        assert_eq!(
            error_of(&[("ostype", "linux")], "ostype"),
            "value 'linux' does not have a value in the enumeration 'l26, win11, other'"
        );
    }

    #[test]
    fn minimum_and_maximum() {
        assert_eq!(
            error_of(&[("cores", "0")], "cores"),
            "value must have a minimum value of 1"
        );
        assert_eq!(
            error_of(&[("cpulimit", "128.5")], "cpulimit"),
            "value must have a maximum value of 128"
        );
        let e = schema()
            .check(&create(&[("vmid", "99")]), AuthKind::Token)
            .unwrap_err();
        // The format comes first (`check_prop`): 99 is no VM ID before it is below 100.
        assert_eq!(
            e.errors["vmid"],
            "invalid format - value does not look like a valid VM ID"
        );
    }

    #[test]
    fn min_and_max_length() {
        assert_eq!(
            error_of(&[("name", "a-very-long-name-indeed")], "name"),
            "value may only be 15 characters long"
        );
        assert_eq!(
            error_of(&[("description", "é")], "description"),
            "value must be at least 2 characters long"
        );
        // Characters, not bytes.
        let call = create(&[("vmid", "100"), ("description", "éé")]);
        assert_eq!(schema().check(&call, AuthKind::Token), Ok(()));
    }

    #[test]
    fn pattern_is_anchored() {
        assert_eq!(
            error_of(&[("pool", "abc1")], "pool"),
            "value does not match the regex pattern"
        );
        let call = create(&[("vmid", "100"), ("pool", "abc")]);
        assert_eq!(schema().check(&call, AuthKind::Token), Ok(()));
    }

    #[test]
    fn list_formats() {
        // Each element against the base format, split as `split_list` splits.
        for list in ["local, nfs1;ceph ", "local\0nfs1\0"] {
            let call = create(&[("vmid", "100"), ("hookpools", list)]);
            assert_eq!(schema().check(&call, AuthKind::Token), Ok(()), "{list:?}");
        }
        // With a NUL, only NUL separates.
        assert_eq!(
            error_of(&[("hookpools", "local,nfs1\0ceph")], "hookpools"),
            "invalid format - storage ID 'local,nfs1' contains illegal characters"
        );
        assert_eq!(
            error_of(&[("hookpools", "local x nfs1")], "hookpools"),
            "invalid format - storage ID 'x' cannot be shorter than 2 characters"
        );
        assert_eq!(
            error_of(&[("hookpools", "local,1abc")], "hookpools"),
            "invalid format - storage ID '1abc' contains illegal characters"
        );
        // Given twice, a `-list` is joined with `,` and checked whole.
        let call = create(&[
            ("vmid", "100"),
            ("hookpools", "local"),
            ("hookpools", "nfs1"),
        ]);
        assert_eq!(schema().check(&call, AuthKind::Token), Ok(()));
        // A base format not known here (`pve-tag`) is not checked.
        let call = create(&[("vmid", "100"), ("tags", "~anything~")]);
        assert_eq!(schema().check(&call, AuthKind::Token), Ok(()));
    }

    #[test]
    fn named_formats() {
        let e = schema()
            .check(
                &Call::post(("nodes", "pve_1", "qemu"))
                    .unwrap()
                    .param("vmid", 100),
                AuthKind::Token,
            )
            .unwrap_err();
        assert_eq!(
            e.errors["node"],
            "invalid format - value does not look like a valid node name"
        );
        assert_eq!(
            error_of(&[("name", "web_1")], "name"),
            "invalid format - value does not look like a valid DNS name"
        );
        for (name, good, bad) in [
            ("pve-vmid", "100", "0100"),
            ("pve-node", "pve-1", "-pve"),
            ("pve-storage-id", "local-lvm", "local-"),
            ("pve-bridge-id", "vmbr0.10", "vmbr 0"),
            ("pve-configid", "net0", "0net"),
            ("mac-addr", "BC:24:11:00:00:01", "01:24:11:00:00:01"),
            ("ipv4", "192.0.2.1", "192.0.2.01"),
            ("ipv6", "2001:db8::1", "2001:db8:::1"),
            ("ip", "::1", "::g"),
            ("CIDRv4", "192.0.2.0/24", "192.0.2.0/7"),
            ("CIDRv6", "2001:db8::/32", "2001:db8::/129"),
            ("dns-name", "a.b-c.d", "a..b"),
            ("urlencoded", "a%20b", "a b"),
        ] {
            assert_eq!(verify(name, good), Ok(()), "{name} {good}");
            assert!(verify(name, bad).is_err(), "{name} {bad}");
        }
        assert_eq!(check_named("pve-vmid-opt", ""), Ok(()));
        assert_eq!(check_named("pve-vmid-opt", "0"), Ok(()));
        assert!(check_named("pve-vmid-opt", "1").is_err());
        assert_eq!(check_named("pve-volume-id", "anything at all"), Ok(()));
    }

    #[test]
    fn property_string_keys_and_values() {
        let e = schema()
            .check(
                &create(&[("vmid", "100"), ("net0", "virtio,bridg=vmbr0")]),
                AuthKind::Token,
            )
            .unwrap_err();
        assert_eq!(
            e.errors["net0"],
            "invalid format - invalid key in comma-separated list property: bridg"
        );
        assert_eq!(e.hints["net0"], "did you mean 'bridge' in net0?");
        // The parser's other refusals, in PVE's words.
        for (text, msg) in [
            (
                "virtio,bridge=",
                "missing key in comma-separated list property",
            ),
            (
                "virtio,e1000",
                "duplicate key in comma-separated list property: model",
            ),
            (
                "model=e1000,virtio=BC:24:11:00:00:01",
                "key alias 'model' is already defined",
            ),
            (
                "macaddr=BC:24:11:00:00:01,virtio=BC:24:11:00:00:02",
                "key 'macaddr' is already defined (via alias)",
            ),
        ] {
            assert_eq!(
                error_of(&[("net0", text)], "net0"),
                format!("invalid format - {msg}"),
                "{text}"
            );
        }
        assert_eq!(
            error_of(&[("net0", "rtl,tag=5000,firewall=maybe")], "net0"),
            "invalid format - format error\n\
             net0.firewall: type check ('boolean') failed - got 'maybe'\n\
             net0.model: value 'rtl' does not have a value in the enumeration 'e1000, virtio, vmxnet3'\n\
             net0.tag: value must have a maximum value of 4094"
        );
        // A required key (the default key `model` of net, `file` of scsi) that is missing.
        assert_eq!(
            error_of(&[("net1", "bridge=vmbr0")], "net1"),
            "invalid format - format error\nnet1.model: property is missing and it is not optional"
        );
        assert_eq!(
            error_of(&[("scsi0", "cache=none")], "scsi0"),
            "invalid format - format error\nscsi0.file: property is missing and it is not optional"
        );
        // Aliases (`virtio=MAC`, `volume=`), booleans spelled any PVE way, key patterns and
        // named formats of keys.
        for ok in [
            ("net0", "virtio=BC:24:11:00:00:01,firewall=yes,trunks=1;2"),
            ("scsi0", "volume=local:vm-100-disk-0,iothread=off"),
        ] {
            let call = create(&[("vmid", "100"), ok]);
            assert_eq!(schema().check(&call, AuthKind::Token), Ok(()), "{ok:?}");
        }
        assert_eq!(
            error_of(&[("net0", "virtio=01:00:00:00:00:00,trunks=1;x")], "net0"),
            "invalid format - format error\n\
             net0.macaddr: invalid format - value does not look like a valid unicast MAC address\n\
             net0.trunks: value does not match the regex pattern"
        );
        assert_eq!(
            error_of(&[("memory", "8")], "memory"),
            "invalid format - format error\nmemory.current: value must have a minimum value of 16"
        );
    }

    #[test]
    fn token_forbidden_endpoint() {
        let call = Call::post("access/ticket")
            .unwrap()
            .param("username", "root@pam")
            .param("password", "x");
        let e = schema().check(&call, AuthKind::Token).unwrap_err();
        assert_eq!(
            e.failure,
            CheckFailure::TokenForbidden {
                schema_path: "/access/ticket".into()
            }
        );
        let err = e.into_error();
        let api = err.api().unwrap();
        assert_eq!(api.status, 403);
        assert_eq!(api.class, ErrorClass::Forbidden);
        assert_eq!(
            api.reason,
            "Permission check failed (URI '/access/ticket' not available with API token, need proper ticket.)"
        );
        assert_eq!(schema().check(&call, AuthKind::Ticket), Ok(()));
        assert_eq!(schema().check(&call, AuthKind::Shell), Ok(()));
    }

    #[test]
    fn path_variables_are_checked_and_must_agree() {
        let e = schema()
            .check(&Call::get("nodes/pve1/qemu/abc").unwrap(), AuthKind::Token)
            .unwrap_err();
        assert_eq!(
            e.errors["vmid"],
            "type check ('integer') failed - got 'abc'"
        );
        let call = Call::get("nodes/pve1/qemu").unwrap().param("node", "pve2");
        let e = schema().check(&call, AuthKind::Token).unwrap_err();
        assert_eq!(e.errors["node"], URI_CONFLICT);
        let call = Call::get("nodes/pve1/qemu").unwrap().param("node", "pve1");
        assert_eq!(schema().check(&call, AuthKind::Token), Ok(()));
    }

    #[test]
    fn a_volume_with_slashes_is_one_value() {
        for call in [
            Call::get((
                "nodes",
                "pve1",
                "storage",
                "local",
                "content",
                "local:iso/d.iso",
            )),
            Call::get("nodes/pve1/storage/local/content/local:iso/d.iso"),
        ] {
            assert_eq!(schema().check(&call.unwrap(), AuthKind::Token), Ok(()));
        }
    }

    #[test]
    fn into_error_is_pves_400() {
        let e = schema()
            .check(&create(&[("vmid", "100"), ("cores", "0")]), AuthKind::Token)
            .unwrap_err();
        assert_eq!(e.method, CallMethod::Post);
        assert_eq!(e.path, "/nodes/pve1/qemu");
        let text = e.to_string();
        assert!(
            text.contains("cores: value must have a minimum value of 1"),
            "{text}"
        );
        let err = e.into_error();
        let api = err.api().unwrap();
        assert_eq!(api.status, 400);
        assert_eq!(api.reason, "Parameter verification failed.");
        assert_eq!(api.class, ErrorClass::BadRequest);
        assert_eq!(
            api.param_errors["cores"],
            "value must have a minimum value of 1"
        );
        assert!(api.request.is_none());
        let note = api.note.as_deref().unwrap();
        assert!(note.contains("POST /nodes/pve1/qemu"), "{note}");
        assert!(note.contains("sent nothing"), "{note}");
    }

    #[test]
    fn secret_values_stay_out_of_messages() {
        let e = error_of(&[("cipassword", "hunter2")], "cipassword");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains(REDACTED), "{e}");
    }

    #[test]
    fn pbs_reads_booleans_and_quoted_values_leniently() {
        let pbs = |with_upgrade_path: bool| {
            let n = |segment: &str, path: &str, children: Vec<u32>, get: Option<u32>| PathNode {
                segment: segment.into(),
                path: path.into(),
                children,
                methods: [get, None, None, None],
            };
            let mut nodes = vec![
                n("", "/", vec![1, 2], None),
                n("status", "/status", vec![], Some(0)),
                n("backup", "/backup", vec![3], None),
            ];
            let upgrade = if with_upgrade_path {
                "/backup/_upgrade_"
            } else {
                "/backup/x"
            };
            nodes.push(n("_upgrade_", upgrade, vec![], None));
            let m = method(
                "status",
                vec![
                    param("verbose", opt(boolean())),
                    param("notify", opt(pstring(vec![("mode", opt(string()))]))),
                ],
            );
            Schema {
                inner: Arc::new(SchemaData {
                    nodes,
                    methods: vec![m],
                    patterns: vec![],
                }),
            }
        };
        let call = Call::get("status")
            .unwrap()
            .param("verbose", "true")
            .param("notify", "mode=\"a,b\"");
        assert_eq!(pbs(true).check(&call, AuthKind::Token), Ok(()));
        let e = pbs(false).check(&call, AuthKind::Token).unwrap_err();
        assert_eq!(
            e.errors["verbose"],
            "type check ('boolean') failed - got 'true'"
        );
        assert!(e.errors.contains_key("notify"), "{e}");
    }

    #[test]
    fn dc_is_ignored() {
        let call = create(&[("vmid", "100"), ("_dc", "12345")]);
        assert_eq!(schema().check(&call, AuthKind::Token), Ok(()));
    }

    #[test]
    fn perl_numbers() {
        assert!(is_integer("-12") && is_integer("+0") && is_integer("5\n"));
        assert!(!is_integer("") && !is_integer("+") && !is_integer("1 "));
        assert!(is_number("1.") && is_number(".5") && is_number("1e5") && is_number("-1.5E+3"));
        assert!(!is_number(".") && !is_number("e5") && !is_number("1e") && !is_number("0x10"));
        assert_eq!(perl_num(4094.0), "4094");
        assert_eq!(perl_num(0.5), "0.5");
        assert_eq!(edit_distance("nte0", "net0"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn a_schema_with_bad_indices_does_not_panic() {
        let bad = Schema {
            inner: Arc::new(SchemaData {
                nodes: vec![
                    PathNode {
                        segment: String::new(),
                        path: "/".into(),
                        children: vec![1, 99],
                        methods: [Some(7), None, None, None],
                    },
                    PathNode {
                        segment: "{x}".into(),
                        path: "/{x}".into(),
                        children: vec![0],
                        methods: [Some(0), Some(42), None, None],
                    },
                ],
                methods: vec![method(
                    "m",
                    vec![param("p", {
                        let mut s = string();
                        s.pattern = Some(PatternId(9));
                        s
                    })],
                )],
                patterns: vec![],
            }),
        };
        for path in ["", "a", "a/b/c", "a/b"] {
            for m in [CallMethod::Get, CallMethod::Post, CallMethod::Put] {
                let call = Call::new(m, path).unwrap().param("p", "v").param("q", "");
                let _ = bad.check(&call, AuthKind::Token);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(
            segments in proptest::collection::vec("[a-z{}0-9]{1,6}", 0..6),
            params in proptest::collection::vec(("[a-z0-9_]{0,6}", "[ -~]{0,12}"), 0..6),
        ) {
            let mut call = Call::post("nodes/pve1/qemu").unwrap();
            call.path = crate::path::ApiPath::root();
            for s in &segments {
                call.path = call.path.clone().value(s).unwrap();
            }
            for (k, v) in &params {
                call.params.push(k.clone(), v.clone());
            }
            for auth in [AuthKind::Token, AuthKind::Ticket, AuthKind::Shell] {
                if let Err(e) = schema().check(&call, auth) {
                    let _ = e.to_string();
                    let _ = e.into_error().to_string();
                }
            }
            let mut net = create(&[("vmid", "100")]);
            for (k, v) in &params {
                net.params.push(format!("net{}", k.len()), v.clone());
                net.params.push("scsi0", format!("{v},{k}={v}"));
            }
            let _ = schema().check(&net, AuthKind::Token);
        }
    }
}
