//! Client settings from the environment: one documented set of variables for every adapter's
//! `ClientBuilder::from_env()`. The core reads neither the environment nor files: the adapter
//! passes a lookup and a file reader in, and gets [`ClientOptions`] whose problems
//! [`ClientOptions::validate`] reports at `build()`, like any other option's.
//!
//! | variable | meaning |
//! |---|---|
//! | `PROXMOX_URL` | `https://host:port[/prefix]`, or `…/api2/json` |
//! | `PROXMOX_HOST` | `host` or `host:port` (instead of `PROXMOX_URL`) |
//! | | either may list several nodes of one cluster, `pve1,pve2,pve3`: the client's endpoints, tried in that order ([`crate::cluster`]) |
//! | `PROXMOX_PORT` | the port, when the address has none |
//! | `PROXMOX_SERVICE` | `pve` (default), `pmg` or `pbs`; it picks the default port |
//! | `PROXMOX_TOKEN_ID` | an API token id, `user@realm!name` |
//! | `PROXMOX_TOKEN_SECRET` / `PROXMOX_TOKEN_SECRET_FILE` | its secret, or a file holding it |
//! | `PROXMOX_USER` | a user for a password login, `user@realm` |
//! | `PROXMOX_PASSWORD` / `PROXMOX_PASSWORD_FILE` | the password, or a file holding it |
//! | `PROXMOX_OTP` | a TOTP code for a login with a second factor |
//! | `PROXMOX_CA_FILE` | a PEM file of CA certificates to trust (the cluster's `pve-root-ca.pem`) |
//! | `PROXMOX_FINGERPRINT` | the server certificate's SHA-256 fingerprint to pin |
//! | `PROXMOX_INSECURE` | `1`: accept any certificate (throw-away labs only; a warning says so) |
//! | `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY` | an HTTP proxy, as usual |
//!
//! A file's contents are used without a trailing line end. Setting both a token and a user,
//! both a value and its `_FILE`, or `PROXMOX_INSECURE` with a CA file or a fingerprint is an
//! error; no error text contains a secret.
//!
//! ```
//! use proxmox_proto::options::ClientOptions;
//! use proxmox_proto::TransportKind;
//! let vars = [
//!     ("PROXMOX_URL", "https://pve1.example.com:8006"),
//!     ("PROXMOX_TOKEN_ID", "automation@pve!ci"),
//!     ("PROXMOX_TOKEN_SECRET", "8b1c0000-0000-0000-0000-000000000000"),
//! ];
//! let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
//! // The adapter passes its file reader; here no file is needed.
//! let no_files = |_: &std::path::Path| Err(std::io::ErrorKind::NotFound.into());
//! let (options, warnings) = ClientOptions::from_env(&lookup, &no_files);
//! assert!(warnings.is_empty());
//! let v = options.validate(TransportKind::Https).unwrap();
//! assert_eq!(v.target.base_url(), "https://pve1.example.com:8006/api2/json");
//! ```

use crate::auth::{SecondFactor, Secret};
use crate::options::ClientOptions;
use crate::service::Service;
use std::path::Path;

/// A lookup of one environment variable (`None`: unset).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;
/// A reader of a whole file.
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>;

impl ClientOptions {
    /// Options from the environment variables above, read through `var` (files through
    /// `read`), and the warnings to show the user (`PROXMOX_INSECURE=1`). Problems are
    /// reported by [`ClientOptions::validate`].
    pub fn from_env(var: Lookup<'_>, read: ReadFile<'_>) -> (ClientOptions, Vec<String>) {
        let get = |k: &str| var(k).filter(|v| !v.is_empty());
        let mut warnings = Vec::new();
        let (mut o, address_error) = match (get("PROXMOX_URL"), get("PROXMOX_HOST")) {
            (Some(url), None) => (addresses("PROXMOX_URL", &url), None),
            (None, Some(host)) => (addresses("PROXMOX_HOST", &host), None),
            (Some(url), Some(_)) => (
                addresses("PROXMOX_URL", &url),
                Some("PROXMOX_URL and PROXMOX_HOST are both set: use one"),
            ),
            (None, None) => (
                ClientOptions::new(""),
                Some(
                    "neither PROXMOX_URL nor PROXMOX_HOST is set: export \
                     PROXMOX_URL=https://pve1.example.com:8006 (or PROXMOX_HOST=pve1.example.com)",
                ),
            ),
        };
        if let Some(e) = address_error {
            o.add_error(e);
        }
        if let Some(s) = get("PROXMOX_SERVICE") {
            match s.parse::<Service>() {
                Ok(service) => o.set_service(service),
                Err(_) => o.add_error(format!(
                    "PROXMOX_SERVICE={s:?} is not one of pve, pmg, pbs, pdm"
                )),
            }
        }
        if let Some(p) = get("PROXMOX_PORT") {
            match p.trim().parse::<u16>() {
                Ok(port) if port > 0 => {
                    // A port in the address wins (as in proxmoxer): say that this one is unused.
                    let address = get("PROXMOX_URL").or_else(|| get("PROXMOX_HOST"));
                    let inline = address
                        .and_then(|a| crate::Target::parse(Service::Pve, first_entry(&a)).ok())
                        .filter(|t| t.clone().with_port(port).is_ok_and(|w| w.port() != port));
                    if let Some(t) = inline {
                        warnings.push(format!(
                            "PROXMOX_PORT={port} is not used: the address names port {}",
                            t.port()
                        ));
                    }
                    o.set_port(port)
                }
                _ => o.add_error(format!("PROXMOX_PORT={p:?} is not a port number (1-65535)")),
            }
        }
        let secret = |name: &str, o: &mut ClientOptions| -> Option<String> {
            let file_var = format!("{name}_FILE");
            match (get(name), get(&file_var)) {
                (Some(v), None) => Some(v),
                (None, Some(path)) => match read(Path::new(&path)) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => Some(text.trim_end_matches(['\n', '\r']).to_owned()),
                        Err(_) => {
                            o.add_error(format!("{file_var}: {path} is not UTF-8 text"));
                            None
                        }
                    },
                    Err(e) => {
                        o.add_error(format!("{file_var}: cannot read {path}: {e}"));
                        None
                    }
                },
                (Some(_), Some(_)) => {
                    o.add_error(format!("{name} and {file_var} are both set: use one"));
                    None
                }
                (None, None) => None,
            }
        };
        let token_id = get("PROXMOX_TOKEN_ID");
        let token_secret = secret("PROXMOX_TOKEN_SECRET", &mut o);
        let user = get("PROXMOX_USER");
        let password = secret("PROXMOX_PASSWORD", &mut o);
        match (token_id, token_secret) {
            (Some(id), Some(s)) => o.set_api_token(&id, Secret::new(s)),
            (Some(_), None) => o.add_error(
                "PROXMOX_TOKEN_ID is set, but neither PROXMOX_TOKEN_SECRET nor \
                 PROXMOX_TOKEN_SECRET_FILE",
            ),
            (None, Some(_)) => o.add_error("PROXMOX_TOKEN_SECRET is set, but not PROXMOX_TOKEN_ID"),
            (None, None) => {}
        }
        match (user, password) {
            (Some(u), Some(p)) => o.set_password(&u, Secret::new(p)),
            (Some(_), None) => o.add_error(
                "PROXMOX_USER is set, but neither PROXMOX_PASSWORD nor PROXMOX_PASSWORD_FILE",
            ),
            (None, Some(_)) => o.add_error("PROXMOX_PASSWORD is set, but not PROXMOX_USER"),
            (None, None) => {}
        }
        if [
            "PROXMOX_TOKEN_ID",
            "PROXMOX_TOKEN_SECRET",
            "PROXMOX_TOKEN_SECRET_FILE",
        ]
        .iter()
        .chain(&["PROXMOX_USER", "PROXMOX_PASSWORD", "PROXMOX_PASSWORD_FILE"])
        .all(|k| get(k).is_none())
        {
            o.add_error(
                "no credentials in the environment: set PROXMOX_TOKEN_ID and \
                 PROXMOX_TOKEN_SECRET (or PROXMOX_TOKEN_SECRET_FILE), or PROXMOX_USER and \
                 PROXMOX_PASSWORD (or PROXMOX_PASSWORD_FILE)",
            );
        }
        if let Some(code) = get("PROXMOX_OTP") {
            o.set_second_factor(SecondFactor::totp(code));
        }
        let ca_file = get("PROXMOX_CA_FILE");
        if let Some(path) = &ca_file {
            o.add_ca_file(Path::new(path), read(Path::new(path)));
        }
        let fingerprint = get("PROXMOX_FINGERPRINT");
        if let Some(fp) = &fingerprint {
            o.set_fingerprint(fp);
        }
        match get("PROXMOX_INSECURE").as_deref() {
            None | Some("0") => {}
            Some("1") if ca_file.is_some() || fingerprint.is_some() => o.add_error(
                "PROXMOX_INSECURE=1 turns certificate checks off, which contradicts \
                 PROXMOX_CA_FILE and PROXMOX_FINGERPRINT: keep one",
            ),
            Some("1") => {
                o.set_danger_accept_invalid_certs();
                warnings.push(
                    "PROXMOX_INSECURE=1: the server's certificate is not checked; anyone on \
                     the path can read and change the traffic, credentials included"
                        .to_owned(),
                );
            }
            Some(other) => o.add_error(format!(
                "PROXMOX_INSECURE={other:?}: only 1 turns certificate checks off"
            )),
        }
        if ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .any(|k| get(k).is_some())
        {
            o.set_proxy_from_env();
        }
        (o, warnings)
    }
}

/// The entries of a comma-separated address list, trimmed.
fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim)
}

/// The first entry of an address list: the client's own address.
fn first_entry(list: &str) -> &str {
    entries(list).next().unwrap_or_default()
}

/// Options for the address in `var`: one address, or a list of a cluster's nodes (the first is
/// the client's address, all of them its endpoints). An empty entry is an error naming its
/// position.
fn addresses(var: &str, list: &str) -> ClientOptions {
    let mut o = ClientOptions::new(first_entry(list));
    if list.contains(',') {
        let all: Vec<&str> = entries(list).collect();
        match all.iter().position(|e| e.is_empty()) {
            Some(i) => o.add_error(format!(
                "{var} has an empty entry (number {} of {}): list the nodes as pve1,pve2,pve3",
                i + 1,
                all.len()
            )),
            None => o.add_endpoints(&all),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportKind;
    use std::collections::HashMap;

    fn options(vars: &[(&str, &str)]) -> (Result<String, String>, Vec<String>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let read = |p: &Path| -> std::io::Result<Vec<u8>> {
            match p.to_str() {
                Some("/run/secrets/token") => Ok(b"s3cret\n".to_vec()),
                Some("/run/secrets/binary") => Ok(vec![0xff, 0xfe]),
                _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            }
        };
        let (o, warnings) = ClientOptions::from_env(&|k| map.get(k).cloned(), &read);
        let r = o
            .validate(TransportKind::Https)
            .map(|v| v.target.base_url())
            .map_err(|e| e.to_string());
        (r, warnings)
    }

    const TOKEN: [(&str, &str); 2] = [
        ("PROXMOX_TOKEN_ID", "a@pve!ci"),
        ("PROXMOX_TOKEN_SECRET", "s3cret"),
    ];

    #[test]
    fn addresses_ports_and_services() {
        let with = |extra: &[(&str, &str)]| {
            let mut v = TOKEN.to_vec();
            v.extend_from_slice(extra);
            options(&v).0
        };
        assert_eq!(
            with(&[("PROXMOX_URL", "https://pve1:8006/api2/json")]),
            Ok("https://pve1:8006/api2/json".into())
        );
        assert_eq!(
            with(&[("PROXMOX_HOST", "pve1"), ("PROXMOX_PORT", "32997")]),
            Ok("https://pve1:32997/api2/json".into())
        );
        assert_eq!(
            with(&[("PROXMOX_HOST", "backup"), ("PROXMOX_SERVICE", "pbs")]),
            Ok("https://backup:8007/api2/json".into())
        );
        assert_eq!(
            with(&[]),
            Err("neither PROXMOX_URL nor PROXMOX_HOST is set: export \
                 PROXMOX_URL=https://pve1.example.com:8006 (or PROXMOX_HOST=pve1.example.com)"
                .into())
        );
        assert_eq!(
            with(&[("PROXMOX_HOST", "pve1"), ("PROXMOX_PORT", "80a")]),
            Err("PROXMOX_PORT=\"80a\" is not a port number (1-65535)".into())
        );
        assert_eq!(
            with(&[("PROXMOX_HOST", "pve1"), ("PROXMOX_SERVICE", "pxx")]),
            Err("PROXMOX_SERVICE=\"pxx\" is not one of pve, pmg, pbs, pdm".into())
        );
        let (ok, warnings) = options(&[
            ("PROXMOX_URL", "https://pve1:8006"),
            ("PROXMOX_PORT", "1234"),
            TOKEN[0],
            TOKEN[1],
        ]);
        assert_eq!(ok, Ok("https://pve1:8006/api2/json".into()));
        assert_eq!(
            warnings,
            ["PROXMOX_PORT=1234 is not used: the address names port 8006"]
        );
        assert_eq!(
            options(&[("PROXMOX_URL", "https://pve1:8006")]).0,
            Err(
                "no credentials in the environment: set PROXMOX_TOKEN_ID and \
                 PROXMOX_TOKEN_SECRET (or PROXMOX_TOKEN_SECRET_FILE), or PROXMOX_USER and \
                 PROXMOX_PASSWORD (or PROXMOX_PASSWORD_FILE)"
                    .into()
            )
        );
        assert_eq!(
            with(&[("PROXMOX_HOST", "a"), ("PROXMOX_URL", "https://b")]),
            Err("PROXMOX_URL and PROXMOX_HOST are both set: use one".into())
        );
    }

    #[test]
    fn a_list_of_nodes_is_the_clients_endpoints() {
        let endpoints = |vars: &[(&str, &str)]| {
            let mut v = TOKEN.to_vec();
            v.extend_from_slice(vars);
            let map: HashMap<&str, &str> = v.into_iter().collect();
            let no_files = |_: &Path| Err(std::io::ErrorKind::NotFound.into());
            let (o, _) =
                ClientOptions::from_env(&|k| map.get(k).map(|v| (*v).to_owned()), &no_files);
            o.validate(TransportKind::Https)
                .map(|v| {
                    v.endpoints
                        .unwrap_or_default()
                        .iter()
                        .map(|e| e.authority())
                        .collect::<Vec<_>>()
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            endpoints(&[("PROXMOX_HOST", "pve1, pve2:8007,10.0.0.3")]),
            Ok(vec![
                "pve1:8006".into(),
                "pve2:8007".into(),
                "10.0.0.3:8006".into()
            ])
        );
        assert_eq!(
            endpoints(&[
                ("PROXMOX_URL", "https://pve1,https://pve2"),
                ("PROXMOX_PORT", "443")
            ]),
            Ok(vec!["pve1:443".into(), "pve2:443".into()])
        );
        // One address is no cluster client.
        assert_eq!(endpoints(&[("PROXMOX_HOST", "pve1")]), Ok(vec![]));
        let err = endpoints(&[("PROXMOX_HOST", "pve1,,pve3")]).unwrap_err();
        assert!(
            err.contains("PROXMOX_HOST has an empty entry (number 2 of 3)"),
            "{err}"
        );
        let err = endpoints(&[("PROXMOX_HOST", "pve1,pve1")]).unwrap_err();
        assert!(err.contains("pve1"), "{err}");
    }

    #[test]
    fn credentials_and_files_without_showing_secrets() {
        let host = ("PROXMOX_HOST", "pve1");
        let file = options(&[
            host,
            ("PROXMOX_TOKEN_ID", "a@pve!ci"),
            ("PROXMOX_TOKEN_SECRET_FILE", "/run/secrets/token"),
        ]);
        assert_eq!(file.0, Ok("https://pve1:8006/api2/json".into()));
        for (vars, want) in [
            (
                vec![host, ("PROXMOX_TOKEN_ID", "a@pve!ci")],
                "PROXMOX_TOKEN_ID is set, but neither PROXMOX_TOKEN_SECRET nor \
                 PROXMOX_TOKEN_SECRET_FILE",
            ),
            (
                vec![
                    host,
                    ("PROXMOX_TOKEN_ID", "a@pve!ci"),
                    ("PROXMOX_TOKEN_SECRET", "s3cret"),
                    ("PROXMOX_TOKEN_SECRET_FILE", "/run/secrets/token"),
                ],
                "PROXMOX_TOKEN_SECRET and PROXMOX_TOKEN_SECRET_FILE are both set: use one",
            ),
            (
                vec![
                    host,
                    ("PROXMOX_USER", "root@pam"),
                    ("PROXMOX_PASSWORD_FILE", "/run/secrets/missing"),
                ],
                "PROXMOX_PASSWORD_FILE: cannot read /run/secrets/missing: entity not found",
            ),
            (
                vec![
                    host,
                    ("PROXMOX_USER", "root@pam"),
                    ("PROXMOX_PASSWORD_FILE", "/run/secrets/binary"),
                ],
                "PROXMOX_PASSWORD_FILE: /run/secrets/binary is not UTF-8 text",
            ),
            (
                vec![host, ("PROXMOX_PASSWORD", "s3cret")],
                "PROXMOX_PASSWORD is set, but not PROXMOX_USER",
            ),
            (
                vec![
                    host,
                    ("PROXMOX_TOKEN_ID", "a@pve!ci"),
                    ("PROXMOX_TOKEN_SECRET", "s3cret"),
                    ("PROXMOX_USER", "root@pam"),
                    ("PROXMOX_PASSWORD", "s3cret"),
                ],
                "both an API token and a password were given: use one (a token needs no login \
                 and no renewal)",
            ),
        ] {
            let (r, _) = options(&vars);
            let e = r.expect_err(want);
            assert_eq!(e, format!("{want}"));
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn certificate_settings() {
        let mut v = TOKEN.to_vec();
        v.push(("PROXMOX_HOST", "pve1"));
        let with = |extra: &[(&str, &str)]| {
            let mut all = v.clone();
            all.extend_from_slice(extra);
            options(&all)
        };
        let (ok, warnings) = with(&[("PROXMOX_INSECURE", "1")]);
        assert!(ok.is_ok(), "{ok:?}");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("PROXMOX_INSECURE=1: the server's certificate is not checked")
        );
        assert_eq!(
            with(&[("PROXMOX_INSECURE", "yes")]).0,
            Err("PROXMOX_INSECURE=\"yes\": only 1 turns certificate \
                 checks off"
                .into())
        );
        let fp = "AB:".repeat(31) + "AB";
        assert!(with(&[("PROXMOX_FINGERPRINT", fp.as_str())]).0.is_ok());
        assert_eq!(
            with(&[
                ("PROXMOX_INSECURE", "1"),
                ("PROXMOX_FINGERPRINT", fp.as_str())
            ])
            .0,
            Err("PROXMOX_INSECURE=1 turns certificate checks off, which \
                 contradicts PROXMOX_CA_FILE and PROXMOX_FINGERPRINT: keep one"
                .into())
        );
        let missing = with(&[("PROXMOX_CA_FILE", "/etc/pve/nope.pem")])
            .0
            .unwrap_err();
        assert!(
            missing.starts_with("cannot read the CA file /etc/pve/nope.pem: "),
            "{missing}"
        );
    }
}
