//! The API schema, licence-clean (feature `schema`): a model of the schema a server serves
//! about itself (PVE `/pve-docs/api-viewer/apidoc.js`, PBS `/docs/api-viewer/apidoc.js`, PMG
//! `/pmg-docs/api-viewer/apidoc.js`), loaded at the user's site — the project ships no schema,
//! no code generated from one, and none of its prose (Proxmox's schema is AGPL).
//!
//! * [`model`]: the path tree, methods, parameters, formats (property strings included);
//! * `load`: reading `apidoc.js` and plain JSON dumps into the model;
//! * `pattern`: the schema's Perl patterns translated for `regex-lite`;
//! * `property_string`: parsing and formatting property strings (`net0`, `scsi0`);
//! * `check`: validating a call against the schema before it is sent, with errors shaped like
//!   PVE's 400 `errors` map.

pub mod check;
pub mod load;
pub mod model;
pub mod pattern;
pub mod property_string;

pub use load::{MethodRef, SchemaError, SchemaStats};
pub use model::{Format, PropSchema, PropertyFormat, Schema, SchemaMethod, SchemaType};
