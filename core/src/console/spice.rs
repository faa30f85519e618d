//! SPICE: the `[virt-viewer]` file (`.vv`) remote-viewer opens, from the answer of
//! `POST …/spiceproxy` (qemu-server `src/PVE/API2/Qemu.pm`, fields from pve-access-control
//! `remote_viewer_config`: `type`, `title`, `host`, `proxy`, `tls-port`, `host-subject`, `ca`
//! with literal `\n`, `password`, `delete-this-file`, `secure-attention`, `toggle-fullscreen`,
//! `release-cursor`). The file holds the SPICE password: the adapter writes it with mode
//! 0600, and nothing here prints it.
//!
//! ```
//! use proxmox_proto::console::spice::SpiceConfig;
//! let answer = br#"{"type":"spice","host":"pvespiceproxy:6750a1b2:100:pve1::abc","tls-port":61000,
//!     "proxy":"http://pve1.example.com:3128","password":"s3cret","delete-this-file":1,
//!     "ca":"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"}"#;
//! let vv = SpiceConfig::from_data(answer).unwrap();
//! assert!(!format!("{vv:?}").contains("s3cret"));
//! let text = vv.to_vv();
//! assert!(text.expose().starts_with("[virt-viewer]\ntype=spice\n"));
//! assert!(text.expose().contains("tls-port=61000\n"));
//! assert!(text.expose().contains("ca=-----BEGIN CERTIFICATE-----\\nMIIB"), "the \\n stays literal");
//! ```

use crate::auth::Secret;
use crate::call::Call;
use crate::error::{Error, ProtocolError};
use crate::flow::ConsoleTarget;
use std::fmt;

/// The fields of a `.vv` file, in file order (`type` first).
#[derive(Clone, PartialEq, Eq)]
pub struct SpiceConfig {
    fields: Vec<(String, String)>,
}

impl fmt::Debug for SpiceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.fields {
            if k == "password" {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

fn bad(detail: String) -> Error {
    ProtocolError::Malformed {
        what: "SPICE configuration",
        detail,
    }
    .into()
}

impl SpiceConfig {
    /// Read the `data` of a `spiceproxy` answer (a JSON object of strings, numbers and
    /// booleans). A key that is not `[a-z0-9-]` or a value that spans lines is refused: it
    /// would add lines of its own to the file.
    pub fn from_data(data: &[u8]) -> Result<Self, Error> {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(data).map_err(|e| bad(e.to_string()))?;
        let mut fields = Vec::with_capacity(map.len());
        for (k, v) in map {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(bad(format!("the key {k:?} is not a virt-viewer key")));
            }
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => u8::from(b).to_string(),
                _ => return Err(bad(format!("the value of {k} is not a string or a number"))),
            };
            if v.contains(['\n', '\r', '\0']) {
                return Err(bad(format!("the value of {k} spans lines")));
            }
            fields.push((k, v));
        }
        if !fields.iter().any(|(k, v)| k == "type" && v == "spice") {
            return Err(bad("no type=spice".into()));
        }
        fields.sort_by_key(|(k, _)| k != "type");
        Ok(Self { fields })
    }

    /// [`Self::from_data`] of an answer's `data` already parsed.
    pub fn from_value(data: &serde_json::Value) -> Result<Self, Error> {
        Self::from_data(data.to_string().as_bytes())
    }

    /// A field's value (`host`, `tls-port`, …); the password only through [`Self::to_vv`].
    pub fn get(&self, key: &str) -> Option<&str> {
        (key != "password")
            .then(|| self.fields.iter().find(|(k, _)| k == key))
            .flatten()
            .map(|(_, v)| v.as_str())
    }

    /// The file's text (it holds the password).
    pub fn to_vv(&self) -> Secret {
        let mut out = String::from("[virt-viewer]\n");
        for (k, v) in &self.fields {
            out.push_str(k);
            out.push('=');
            out.push_str(v);
            out.push('\n');
        }
        Secret::new(out)
    }
}

/// The call that asks for a SPICE session: `POST …/{qemu|lxc}/{vmid}/spiceproxy`, or
/// `POST /nodes/{node}/spiceshell` for a node (which refuses API tokens; pve-manager
/// `PVE/API2/Nodes.pm`), with `proxy` (the SPICE proxy remote-viewer connects to; the
/// server's default is the node's address) when given.
///
/// ```
/// use proxmox_proto::console::spice::spice_call;
/// use proxmox_proto::flow::ConsoleTarget;
/// let c = spice_call(&ConsoleTarget::Qemu { node: "pve1".into(), vmid: 100 }, Some("pve.example.com")).unwrap();
/// assert_eq!(c.path.to_string(), "/nodes/pve1/qemu/100/spiceproxy");
/// ```
pub fn spice_call(target: &ConsoleTarget, proxy: Option<&str>) -> Result<Call, crate::InputError> {
    let base = target.base()?;
    let path = match target {
        ConsoleTarget::Node(_) => base.literal("spiceshell")?,
        _ => base.literal("spiceproxy")?,
    };
    let mut call = Call::post(path)?;
    if let Some(p) = proxy {
        call = call.param("proxy", p);
    }
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_lines_and_odd_answers_are_refused() {
        for bad in [
            &br#"{"type":"spice","title":"x\n[virt-viewer]\nhost=evil"}"#[..],
            br#"{"type":"spice","Bad Key":"x"}"#,
            br#"{"type":"spice","host":["a"]}"#,
            br#"{"type":"vnc"}"#,
            b"[]",
        ] {
            let e = SpiceConfig::from_data(bad).unwrap_err().to_string();
            assert!(e.contains("SPICE configuration"), "{e}");
        }
        let c = SpiceConfig::from_data(br#"{"type":"spice","password":"pw","host":"h"}"#).unwrap();
        assert_eq!(c.get("host"), Some("h"));
        assert_eq!(c.get("password"), None);
        assert!(c.to_vv().expose().contains("password=pw\n"));
    }
}
