//! [`Endpoint`]: one node's API address in a cluster client.

use crate::error::InputError;
use crate::service::Service;
use crate::target::Target;

/// One API endpoint of a cluster: an address (host and port; the client's path prefix
/// applies to all) and, once known, the name of the node that answers there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    target: Target,
    node: Option<String>,
}

impl Endpoint {
    /// Parse `host`, `host:port`, an IP address or a URL, as [`Target::parse`] does.
    ///
    /// ```
    /// use proxmox_proto::cluster::Endpoint;
    /// use proxmox_proto::Service;
    /// let e = Endpoint::parse(Service::Pve, "10.0.0.2").unwrap();
    /// assert_eq!(e.authority(), "10.0.0.2:8006");
    /// assert!(Endpoint::parse(Service::Pve, "pve2:0").is_err());
    /// ```
    pub fn parse(service: Service, input: &str) -> Result<Self, InputError> {
        Ok(Self::from_target(Target::parse(service, input)?))
    }

    /// An endpoint at a target.
    pub fn from_target(target: Target) -> Self {
        Self { target, node: None }
    }

    /// The same endpoint, known to be node `node`.
    #[must_use]
    pub fn with_node(mut self, node: &str) -> Self {
        self.node = Some(node.to_owned());
        self
    }

    /// Its address.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `host:port` (IPv6 bracketed), for URLs and error messages.
    pub fn authority(&self) -> String {
        self.target.authority()
    }

    /// The node that answers there, when known (given, or learnt by discovery).
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    pub(crate) fn set_node(&mut self, node: &str) {
        self.node = Some(node.to_owned());
    }
}

/// Parse a list of endpoints, as `endpoints([...])` and `PROXMOX_HOST=a,b,c` give them; every
/// bad entry is named, with its position. At least one is needed.
///
/// ```
/// use proxmox_proto::cluster::parse_endpoints;
/// use proxmox_proto::Service;
/// let list = parse_endpoints(Service::Pve, &["pve1", "10.0.0.2:8006", "[fd00::3]"]).unwrap();
/// assert_eq!(list[2].authority(), "[fd00::3]:8006");
/// let e = parse_endpoints(Service::Pve, &["pve1", ""]).unwrap_err();
/// assert!(e.to_string().contains("endpoint 2"), "{e}");
/// ```
pub fn parse_endpoints<S: AsRef<str>>(
    service: Service,
    list: &[S],
) -> Result<Vec<Endpoint>, InputError> {
    if list.is_empty() {
        return Err(InputError::Invalid {
            what: "endpoints",
            reason: "the list is empty: give at least one node's address".into(),
        });
    }
    let mut out: Vec<Endpoint> = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let e = Endpoint::parse(service, s.as_ref()).map_err(|e| InputError::Invalid {
            what: "endpoints",
            reason: format!("endpoint {} of {}: {e}", i + 1, list.len()),
        })?;
        if out.iter().any(|o| o.authority() == e.authority()) {
            return Err(InputError::Invalid {
                what: "endpoints",
                reason: format!(
                    "endpoint {} ({}) is given twice; give each node's address once",
                    i + 1,
                    e.authority()
                ),
            });
        }
        out.push(e);
    }
    Ok(out)
}
