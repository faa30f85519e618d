//! Where the API lives: host, port, optional reverse-proxy path prefix, and the base URL.

use crate::Service;
use crate::error::InputError;
use core::net::{Ipv4Addr, Ipv6Addr};
use std::fmt;

/// The input as shown in errors: anything up to an `@` (a `user:password@` someone put in the
/// host) is replaced, so a password never reaches an error message.
fn shown(input: &str) -> String {
    match input.rsplit_once('@') {
        Some((_, rest)) => format!("<redacted>@{rest}"),
        None => input.to_owned(),
    }
}

/// A parsed host name or address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Host {
    /// A DNS name (case kept as given).
    Name(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address.
    V6(Ipv6Addr),
}

impl Host {
    /// Parse a bare host (no port): a DNS name, an IPv4 address, or an IPv6 address with or
    /// without brackets.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        let bad = |reason: &str| InputError::InvalidTarget {
            input: shown(input),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(bad("the host is empty"));
        }
        let inner = input
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(input);
        if let Ok(v6) = inner.parse::<Ipv6Addr>() {
            return Ok(Self::V6(v6));
        }
        if inner.len() != input.len() {
            return Err(bad("brackets hold something that is not an IPv6 address"));
        }
        if let Ok(v4) = input.parse::<Ipv4Addr>() {
            return Ok(Self::V4(v4));
        }
        if input.len() > 253 {
            return Err(bad("the host name is longer than 253 characters"));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let name = input.strip_suffix('.').unwrap_or(input);
        if !name.split('.').all(label_ok) {
            return Err(bad(
                "not a host name, IPv4 address or IPv6 address (allowed: letters, digits, '-', '_', '.')",
            ));
        }
        if name
            .split('.')
            .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("looks like an IPv4 address but is not a valid one"));
        }
        Ok(Self::Name(input.to_owned()))
    }
}

impl fmt::Display for Host {
    /// The form used in URLs: IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::V4(a) => write!(f, "{a}"),
            Self::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// An API endpoint: service, host, port, and an optional path prefix for reverse proxies.
///
/// ```
/// use proxmox_proto::{Service, Target};
/// let t = Target::parse(Service::Pve, "[2001:db8::1]:1234").unwrap();
/// assert_eq!(t.base_url(), "https://[2001:db8::1]:1234/api2/json");
/// let t = Target::parse(Service::Pbs, "backup.example.com").unwrap().with_path_prefix("/pbs/").unwrap();
/// assert_eq!(t.base_url(), "https://backup.example.com:8007/pbs/api2/json");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Target {
    service: Service,
    host: Host,
    port: u16,
    port_inline: bool,
    prefix: Option<String>,
}

impl Target {
    /// Parse `host`, `host:port`, an IPv4 address, a bare IPv6 address, `[v6]` or `[v6]:port`,
    /// or a URL: `https://host[:port][/prefix]`, where a path ending in `/api2/json` is the API
    /// root (Terraform's form, what a browser's address bar shows) and what comes before it is
    /// the reverse-proxy prefix. The scheme may be left out (`host:port/prefix`). Without a
    /// port, the service's default port is used.
    ///
    /// `http://` is refused (the Proxmox APIs answer HTTPS only), and so are a query, a
    /// fragment, credentials in the URL and a path below the API root.
    ///
    /// ```
    /// use proxmox_proto::{Service, Target};
    /// let t = Target::parse(Service::Pve, "https://pve1.example.com:8006/api2/json").unwrap();
    /// assert_eq!(t.base_url(), "https://pve1.example.com:8006/api2/json");
    /// let t = Target::parse(Service::Pbs, "https://proxy.example.com/pbs/").unwrap();
    /// assert_eq!(t.base_url(), "https://proxy.example.com:8007/pbs/api2/json");
    /// let e = Target::parse(Service::Pve, "http://pve1:8006").unwrap_err();
    /// assert!(e.to_string().contains("HTTPS only"), "{e}");
    /// ```
    pub fn parse(service: Service, input: &str) -> Result<Self, InputError> {
        let bad = |reason: &str| InputError::InvalidTarget {
            input: shown(input),
            reason: reason.to_owned(),
        };
        let input_trimmed = input.trim();
        if input_trimmed.is_empty() {
            return Err(bad("the host is empty"));
        }
        if let Some((scheme, rest)) = input_trimmed.split_once("://") {
            if scheme.eq_ignore_ascii_case("http") {
                return Err(bad(&format!(
                    "plain http:// is not supported: the Proxmox APIs answer HTTPS only \
                     (write https://; {service} listens on {} by default)",
                    service.default_port()
                )));
            }
            if !scheme.eq_ignore_ascii_case("https") {
                return Err(bad(&format!(
                    "the scheme {scheme:?} is not supported: write https://host:port"
                )));
            }
            return Self::parse_url(service, input, rest);
        }
        if input_trimmed.contains('/') {
            return Self::parse_url(service, input, input_trimmed);
        }
        let (host_part, port_part) = if let Some(rest) = input_trimmed.strip_prefix('[') {
            let Some(end) = rest.find(']') else {
                return Err(bad("'[' without a closing ']'"));
            };
            let after = &rest[end + 1..];
            let host = &input_trimmed[..end + 2];
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(p) => (host, Some(p)),
                    None => return Err(bad("unexpected text after ']'")),
                },
            }
        } else {
            match input_trimmed.matches(':').count() {
                0 => (input_trimmed, None),
                1 => {
                    let (h, p) = input_trimmed.split_once(':').unwrap_or((input_trimmed, ""));
                    (h, Some(p))
                }
                _ => {
                    // More than one colon: only a bare IPv6 address is acceptable.
                    if input_trimmed.parse::<Ipv6Addr>().is_err() {
                        return Err(bad("neither an IPv6 address nor host:port"));
                    }
                    (input_trimmed, None)
                }
            }
        };
        let host = Host::parse(host_part)?;
        let (port, port_inline) = match port_part {
            None => (service.default_port(), false),
            Some(p) => (parse_port(p).map_err(bad)?, true),
        };
        Ok(Self {
            service,
            host,
            port,
            port_inline,
            prefix: None,
        })
    }

    /// `host[:port][/path]` of a URL (`rest`, after the scheme): the authority is parsed as a
    /// plain target, the path gives the prefix.
    fn parse_url(service: Service, input: &str, rest: &str) -> Result<Self, InputError> {
        let bad = |reason: &str| InputError::InvalidTarget {
            input: shown(input),
            reason: reason.to_owned(),
        };
        if rest.contains(['?', '#']) {
            return Err(bad(
                "a query or fragment is not part of an API address: give https://host:port[/prefix]",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad(
                "credentials do not belong in the address: use the builder's api_token() or password()",
            ));
        }
        if authority.is_empty() {
            return Err(bad("the host is empty"));
        }
        let mut target = Self::parse(service, authority)?;
        let path = path.trim_end_matches('/');
        let prefix = match path.find("/api2/json") {
            Some(i) if path[i..] == *"/api2/json" => &path[..i],
            Some(_) => {
                return Err(bad(
                    "the path goes below the API root /api2/json: give the address only, and the API path to each call",
                ));
            }
            None if path.ends_with("/api2") || path.contains("/api2/") => {
                return Err(bad(
                    "the API root is /api2/json: give https://host:port[/prefix] or .../api2/json",
                ));
            }
            None => path,
        };
        if !prefix.is_empty() {
            target = target.with_path_prefix(prefix)?;
        }
        Ok(target)
    }

    /// Set the port. A port written in the host string (`host:port`) takes precedence, as in
    /// proxmoxer. Port 0 is an error.
    pub fn with_port(mut self, port: u16) -> Result<Self, InputError> {
        if port == 0 {
            return Err(InputError::InvalidTarget {
                input: "0".into(),
                reason: "port 0 is not a valid port".into(),
            });
        }
        if !self.port_inline {
            self.port = port;
        }
        Ok(self)
    }

    /// Set a path prefix for a reverse proxy (`/pve`, `pve/`, `a/b`). Slashes around it are
    /// normalised; an empty prefix means none. Query, fragment, `.`/`..` pieces and characters
    /// that would need escaping are errors.
    pub fn with_path_prefix(mut self, prefix: &str) -> Result<Self, InputError> {
        let trimmed = prefix.trim_matches('/');
        if trimmed.is_empty() {
            self.prefix = None;
            return Ok(self);
        }
        for piece in trimmed.split('/') {
            let ok = !piece.is_empty()
                && piece != "."
                && piece != ".."
                && piece.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'@')
                });
            if !ok {
                return Err(InputError::InvalidTarget {
                    input: shown(prefix),
                    reason: "a path prefix is made of '/'-separated pieces of letters, digits and -._~+@".into(),
                });
            }
        }
        self.prefix = Some(trimmed.to_owned());
        Ok(self)
    }

    /// The same port, path prefix and service at another host (a cluster's other nodes).
    #[must_use]
    pub fn with_host(&self, host: Host) -> Self {
        Self {
            host,
            ..self.clone()
        }
    }

    /// The service.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The host as used for TLS server names and SSH (IPv6 without brackets).
    pub fn host_name(&self) -> String {
        match &self.host {
            Host::Name(n) => n.clone(),
            Host::V4(a) => a.to_string(),
            Host::V6(a) => a.to_string(),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path prefix without surrounding slashes, if any.
    pub fn path_prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// `host:port` with IPv6 bracketed, for the `Host` header and connections.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `https://host:port[/prefix]`, the origin plus prefix, without the API root.
    pub fn origin_url(&self) -> String {
        match &self.prefix {
            Some(p) => format!("https://{}/{p}", self.authority()),
            None => format!("https://{}", self.authority()),
        }
    }

    /// `https://host:port[/prefix]/api2/json`.
    pub fn base_url(&self) -> String {
        format!("{}/api2/json", self.origin_url())
    }
}

fn parse_port(p: &str) -> Result<u16, &'static str> {
    if p.is_empty() {
        return Err("the port after ':' is empty");
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port is not a number");
    }
    match p.parse::<u32>() {
        Ok(0) => Err("port 0 is not a valid port"),
        Ok(n) if n <= 65535 => Ok(n as u16),
        _ => Err("the port is larger than 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> Result<String, InputError> {
        Target::parse(Service::Pve, s).map(|t| t.base_url())
    }

    #[test]
    fn forms() {
        assert_eq!(base("1.2.3.4").unwrap(), "https://1.2.3.4:8006/api2/json");
        assert_eq!(
            base("1.2.3.4:1234").unwrap(),
            "https://1.2.3.4:1234/api2/json"
        );
        assert_eq!(
            base("2001:db8::1").unwrap(),
            "https://[2001:db8::1]:8006/api2/json"
        );
        assert_eq!(base("::1").unwrap(), "https://[::1]:8006/api2/json");
        assert_eq!(base("[::1]").unwrap(), "https://[::1]:8006/api2/json");
        assert_eq!(
            base("[2001:db8::1:2:3:4]:1234").unwrap(),
            "https://[2001:db8::1:2:3:4]:1234/api2/json"
        );
        assert_eq!(
            base("PVE.Example.COM:8443").unwrap(),
            "https://PVE.Example.COM:8443/api2/json"
        );
        assert_eq!(base("pve1").unwrap(), "https://pve1:8006/api2/json");
    }

    #[test]
    fn junk_is_an_error() {
        for bad in [
            "",
            " ",
            "1.2.3.4:abc",
            "1.2.3.4:",
            "[::1]:",
            "1.2.3.4:1:2",
            "h:0",
            "h:65536",
            "h:99999999999",
            "[::1",
            "[nothost]",
            "[::1]x",
            "a b",
            "h?x",
            "h#x",
            "-h",
            "999.1.1.1",
            "h..x",
        ] {
            assert!(base(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(base("h:65535").unwrap(), "https://h:65535/api2/json");
    }

    /// The error text for `input`.
    fn refusal(input: &str) -> String {
        Target::parse(Service::Pve, input)
            .expect_err(input)
            .to_string()
    }

    #[test]
    fn urls_as_people_paste_them() {
        for (input, want) in [
            ("https://pve1:8006", "https://pve1:8006/api2/json"),
            ("https://pve1:8006/", "https://pve1:8006/api2/json"),
            ("HTTPS://pve1", "https://pve1:8006/api2/json"),
            (
                "https://127.0.0.1:32997/api2/json",
                "https://127.0.0.1:32997/api2/json",
            ),
            (
                "https://127.0.0.1:32997/api2/json/",
                "https://127.0.0.1:32997/api2/json",
            ),
            (
                "127.0.0.1:32997/api2/json",
                "https://127.0.0.1:32997/api2/json",
            ),
            ("https://proxy/pve", "https://proxy:8006/pve/api2/json"),
            (
                "https://proxy/a/b/api2/json",
                "https://proxy:8006/a/b/api2/json",
            ),
            ("proxy:443/pve/", "https://proxy:443/pve/api2/json"),
            (
                "https://[::1]:8006/api2/json",
                "https://[::1]:8006/api2/json",
            ),
        ] {
            assert_eq!(base(input).unwrap(), want, "{input}");
        }
        // A port in the URL is the port (as a port in host:port is).
        let t = Target::parse(Service::Pve, "https://h:1234")
            .unwrap()
            .with_port(8006)
            .unwrap();
        assert_eq!(t.port(), 1234);
    }

    #[test]
    fn urls_that_cannot_be_an_api_address_say_why() {
        assert_eq!(
            refusal("http://127.0.0.1:8006"),
            "invalid target \"http://127.0.0.1:8006\": plain http:// is not supported: the \
             Proxmox APIs answer HTTPS only (write https://; PVE listens on 8006 by default)"
        );
        assert_eq!(
            refusal("ftp://h"),
            "invalid target \"ftp://h\": the scheme \"ftp\" is not supported: write \
             https://host:port"
        );
        assert_eq!(
            refusal("https://h:8006/api2/json/nodes"),
            "invalid target \"https://h:8006/api2/json/nodes\": the path goes below the API \
             root /api2/json: give the address only, and the API path to each call"
        );
        assert_eq!(
            refusal("https://h/api2/extjs"),
            "invalid target \"https://h/api2/extjs\": the API root is /api2/json: give \
             https://host:port[/prefix] or .../api2/json"
        );
        assert_eq!(
            refusal("https://h/?x=1"),
            "invalid target \"https://h/?x=1\": a query or fragment is not part of an API \
             address: give https://host:port[/prefix]"
        );
        // Credentials are refused, and not repeated in the message.
        let e = refusal("https://root:hunter2@h");
        assert!(
            e.contains("use the builder's api_token() or password()"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(
            refusal("https://"),
            "invalid target \"https://\": the host is empty"
        );
        assert_eq!(
            refusal("127.0.0.1:abc/x"),
            "invalid target \"127.0.0.1:abc\": the port is not a number"
        );
    }

    #[test]
    fn ports() {
        let t = Target::parse(Service::Pve, "1.2.3.4:1234")
            .unwrap()
            .with_port(5678)
            .unwrap();
        assert_eq!(t.port(), 1234);
        let t = Target::parse(Service::Pve, "1.2.3.4")
            .unwrap()
            .with_port(8443)
            .unwrap();
        assert_eq!(t.base_url(), "https://1.2.3.4:8443/api2/json");
        assert!(
            Target::parse(Service::Pve, "1.2.3.4")
                .unwrap()
                .with_port(0)
                .is_err()
        );
        assert_eq!(Target::parse(Service::Pbs, "h").unwrap().port(), 8007);
        assert_eq!(Target::parse(Service::Pmg, "h").unwrap().port(), 8006);
    }

    #[test]
    fn prefixes() {
        let t = Target::parse(Service::Pve, "1.2.3.4").unwrap();
        assert_eq!(
            t.clone().with_path_prefix("").unwrap().base_url(),
            "https://1.2.3.4:8006/api2/json"
        );
        assert_eq!(
            t.clone().with_path_prefix("/a/b/").unwrap().base_url(),
            "https://1.2.3.4:8006/a/b/api2/json"
        );
        assert_eq!(
            t.clone().with_path_prefix("pve").unwrap().base_url(),
            "https://1.2.3.4:8006/pve/api2/json"
        );
        for bad in ["a/../b", "a?x", "a#b", "a//b", "a b", "./a"] {
            assert!(t.clone().with_path_prefix(bad).is_err(), "{bad:?}");
        }
        let v6 = Target::parse(Service::Pve, "::1").unwrap();
        assert_eq!(v6.host_name(), "::1");
        assert_eq!(v6.authority(), "[::1]:8006");
    }
}
