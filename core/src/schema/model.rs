//! The schema model: what a server's API schema says, compactly — the path tree, each
//! method's parameters, returns, permissions and flags. No descriptions are kept (they are
//! prose, and the project never ships them; a model is loaded from the user's own server).

use std::collections::BTreeMap;
use std::sync::Arc;

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SchemaMethod {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

/// A loaded API schema. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Schema {
    pub(crate) inner: Arc<SchemaData>,
}

impl Schema {
    /// The model's data: nodes, methods, patterns.
    pub fn data(&self) -> &SchemaData {
        &self.inner
    }
}

/// The data behind a [`Schema`].
#[derive(Debug, Default)]
pub struct SchemaData {
    /// Every path node; index 0 is the root (`/`).
    pub nodes: Vec<PathNode>,
    /// Every method of every node.
    pub methods: Vec<Method>,
    /// Every distinct pattern, translated for the regex engine (see `pattern`).
    pub patterns: Vec<Pattern>,
}

/// One segment of the path tree (`nodes`, `{node}`, `qemu`, `{vmid}`).
#[derive(Debug, Clone, Default)]
pub struct PathNode {
    /// The segment: a literal, or `{name}` for a variable (the value of parameter `name`).
    pub segment: String,
    /// The full path as the schema writes it (`/nodes/{node}/qemu`).
    pub path: String,
    /// Children by index into [`SchemaData::nodes`], in schema order.
    pub children: Vec<u32>,
    /// Its methods: GET, POST, PUT, DELETE, by index into [`SchemaData::methods`].
    pub methods: [Option<u32>; 4],
}

/// One method of one path.
#[derive(Debug, Clone, Default)]
pub struct Method {
    /// The handler's name (`create_vm`).
    pub name: String,
    /// The parameters (path variables included, as the schema lists them), in schema order.
    /// An indexed family is one entry with [`Param::indexed`] (`net[n]` → `net0`, `net1`, …).
    pub params: Vec<Param>,
    /// Whether parameters not listed are accepted (`additionalProperties`).
    pub additional_properties: bool,
    /// What it returns.
    pub returns: Option<Box<PropSchema>>,
    /// Its permission check, as the schema gives it (a JSON value; descriptions dropped).
    pub permissions: Option<serde_json::Value>,
    /// `protected`: runs in the privileged daemon (pvedaemon), proxied by pveproxy.
    pub protected: bool,
    /// `proxyto`: the parameter naming the node the call is forwarded to (`node`).
    pub proxyto: Option<String>,
    /// `allowtoken`: whether API tokens may call it (the schema's default is yes).
    pub allowtoken: bool,
    /// `download_allowed`.
    pub download_allowed: bool,
}

/// One parameter of a method.
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name; for an indexed family the stem (`net` for `net[n]`).
    pub name: String,
    /// An indexed family (`net[n]`): `net0`, `net1`, … all take this schema.
    pub indexed: bool,
    /// Its schema.
    pub schema: PropSchema,
}

/// The type of a value.
#[derive(Debug, Clone)]
pub enum SchemaType {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A number.
    Number,
    /// A boolean (`1`/`0` on the wire; PVE also accepts `true`/`false`, `yes`/`no`, `on`/`off`).
    Boolean,
    /// An array of `items`.
    Array(Option<Box<PropSchema>>),
    /// An object with these properties (and others if `additional`).
    Object {
        /// Its properties.
        properties: BTreeMap<String, PropSchema>,
        /// Whether other properties are allowed.
        additional: bool,
    },
    /// `null`.
    Null,
    /// No type given, or one this model does not know (`any`).
    Any,
}

/// A `format`: a named format (`pve-vmid`, `pve-storage-id-list`) or an inline property
/// string.
#[derive(Debug, Clone)]
pub enum Format {
    /// A named format. `-list` formats (`pve-vmid-list`) are lists of the base format,
    /// separated by `,`, `;`, space or NUL as PVE's `split_list` splits them.
    Named(String),
    /// A property string (`net0`, `scsi0`): its keys.
    PropertyString(Arc<PropertyFormat>),
}

/// The keys of a property string (`model=virtio,bridge=vmbr0,firewall=1`).
#[derive(Debug, Clone, Default)]
pub struct PropertyFormat {
    /// Each key's schema, in schema order. A key with [`PropSchema::alias`] stands for another
    /// key (`virtio=AA:…` is `macaddr=AA:…` with `model=virtio`: [`PropSchema::key_alias`]).
    pub keys: Vec<(String, PropSchema)>,
    /// The key a value without `key=` belongs to (`default_key`), if any.
    pub default_key: Option<String>,
}

/// A compiled pattern (index into [`SchemaData::patterns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternId(pub u32);

/// A pattern as the schema writes it, and translated for the regex engine.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// As the schema writes it: Perl syntax (PVE, PMG), or `/…/` in Rust `regex` syntax (PBS;
    /// see the `pattern` module).
    pub perl: String,
    /// The translation (anchored as the server applies the pattern), or why there is none.
    pub translated: Result<String, String>,
    /// The translation, compiled once (see `Pattern::new` and `Pattern::is_match`).
    pub(crate) regex: Option<regex_lite::Regex>,
}

/// The schema of one value: a parameter, a property-string key, an array's items, a
/// returned value.
#[derive(Debug, Clone)]
pub struct PropSchema {
    /// Its type.
    pub ty: SchemaType,
    /// `optional`.
    pub optional: bool,
    /// `default`.
    pub default: Option<serde_json::Value>,
    /// `enum`: the values allowed.
    pub enumeration: Option<Vec<String>>,
    /// `minimum`.
    pub minimum: Option<f64>,
    /// `maximum`.
    pub maximum: Option<f64>,
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `pattern`.
    pub pattern: Option<PatternId>,
    /// `format`.
    pub format: Option<Format>,
    /// `typetext`: how the schema writes the value's shape (`<integer> (1 - N)`).
    pub typetext: Option<String>,
    /// `format_description`: the placeholder in a property string's typetext (`bridge`).
    pub format_description: Option<String>,
    /// `alias`: in a property string, the key this one stands for.
    pub alias: Option<String>,
    /// `keyAlias`: in a property string, the key that takes this key's name as its value.
    pub key_alias: Option<String>,
    /// `default_key`: in a property string, a value without `key=` is this key's.
    pub default_key: bool,
    /// A list property string (PBS writes such a `format` as an array schema): the value is
    /// a list, and each item has this schema.
    pub list_format: Option<Box<PropSchema>>,
}

impl Default for PropSchema {
    fn default() -> Self {
        Self {
            ty: SchemaType::Any,
            optional: false,
            default: None,
            enumeration: None,
            minimum: None,
            maximum: None,
            min_length: None,
            max_length: None,
            pattern: None,
            format: None,
            typetext: None,
            format_description: None,
            alias: None,
            key_alias: None,
            default_key: false,
            list_format: None,
        }
    }
}
