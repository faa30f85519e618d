//! A transport-neutral API call: method, path and parameters.
//!
//! Every state machine in the core yields [`Call`]s. The HTTP adapters turn them into
//! `http::Request`s with [`crate::request::RequestBuilder`]; the command-line adapters turn them
//! into `pvesh` argv vectors with [`crate::command`]. Rules that must be the same on every
//! transport (the QEMU agent `exec` command split) live here, in [`Call::wire_params`].

use crate::error::InputError;
use crate::params::{ParamValue, Params};
use crate::path::{ApiPath, IntoApiPath};
use std::fmt;

/// The four verbs of the Proxmox API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// Read (`pvesh get`).
    Get,
    /// Create / act (`pvesh create`).
    Post,
    /// Update (`pvesh set`).
    Put,
    /// Delete (`pvesh delete`).
    Delete,
}

impl Method {
    /// The HTTP method.
    pub fn as_http(self) -> http::Method {
        match self {
            Self::Get => http::Method::GET,
            Self::Post => http::Method::POST,
            Self::Put => http::Method::PUT,
            Self::Delete => http::Method::DELETE,
        }
    }

    /// The `pvesh` verb.
    pub fn pvesh_verb(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "create",
            Self::Put => "set",
            Self::Delete => "delete",
        }
    }

    /// Whether parameters travel in the query string (GET, DELETE) rather than a form body.
    pub fn params_in_query(self) -> bool {
        matches!(self, Self::Get | Self::Delete)
    }

    /// Whether replaying the call after it may have been processed is harmless. Only GET is
    /// treated as such: a DELETE of a guest that another caller recreated is not harmless.
    pub fn is_safe_to_replay(self) -> bool {
        matches!(self, Self::Get)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_http().as_str())
    }
}

/// One API call, independent of the transport.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Call {
    /// The verb.
    pub method: Method,
    /// The path below `/api2/json`.
    pub path: ApiPath,
    /// The parameters, in order.
    pub params: Params,
}

impl Call {
    /// A call with no parameters.
    pub fn new(method: Method, path: impl IntoApiPath) -> Result<Self, InputError> {
        Ok(Self {
            method,
            path: path.into_api_path()?,
            params: Params::new(),
        })
    }

    /// `GET path`.
    pub fn get(path: impl IntoApiPath) -> Result<Self, InputError> {
        Self::new(Method::Get, path)
    }

    /// `POST path`.
    pub fn post(path: impl IntoApiPath) -> Result<Self, InputError> {
        Self::new(Method::Post, path)
    }

    /// `PUT path`.
    pub fn put(path: impl IntoApiPath) -> Result<Self, InputError> {
        Self::new(Method::Put, path)
    }

    /// `DELETE path`.
    pub fn delete(path: impl IntoApiPath) -> Result<Self, InputError> {
        Self::new(Method::Delete, path)
    }

    /// Replace the parameters.
    pub fn with_params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    /// Append one parameter (builder form).
    pub fn param(mut self, key: impl Into<String>, value: impl ParamValue) -> Self {
        self.params.append(key, value);
        self
    }

    /// Append parameters from a `Serialize` struct or map.
    pub fn params_from<T: serde::Serialize + ?Sized>(
        mut self,
        value: &T,
    ) -> Result<Self, InputError> {
        self.params.extend(Params::from_serialize(value)?);
        Ok(self)
    }

    /// The parameters as they go on the wire on every transport.
    ///
    /// For `POST .../agent/exec` with a single `command` string, the string is split the way a
    /// POSIX shell would and sent as repeated `command` keys (a list is sent as given); an
    /// unbalanced quote is an error. Every other path is left alone.
    pub fn wire_params(&self) -> Result<std::borrow::Cow<'_, Params>, InputError> {
        use std::borrow::Cow;
        // Borrowed unless the agent/exec split applies: no copy of every call's parameters.
        if !self.path.ends_with(&["agent", "exec"]) {
            return Ok(Cow::Borrowed(&self.params));
        }
        let commands = self.params.get_all("command");
        if commands.len() != 1 {
            return Ok(Cow::Borrowed(&self.params));
        }
        let words = crate::shell::split(commands[0]).map_err(|e| InputError::InvalidParameter {
            key: "command".into(),
            reason: e.to_string(),
        })?;
        let mut out = Params::new();
        let mut done = false;
        for (k, v) in self.params.iter() {
            if k == "command" {
                if !done {
                    for w in &words {
                        out.push("command", w.clone());
                    }
                    done = true;
                }
            } else {
                out.push(k, v);
            }
        }
        Ok(Cow::Owned(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        assert_eq!(Method::Post.pvesh_verb(), "create");
        assert_eq!(Method::Put.pvesh_verb(), "set");
        assert!(Method::Delete.params_in_query());
        assert!(!Method::Put.params_in_query());
        assert!(Method::Get.is_safe_to_replay());
        assert!(!Method::Delete.is_safe_to_replay());
    }

    #[test]
    fn agent_exec_split_only_on_exec() {
        let c = Call::post("nodes/pve/qemu/100/agent/exec")
            .unwrap()
            .param("command", "ls -la '/tmp/a b'");
        assert_eq!(
            c.wire_params().unwrap().to_form(),
            "command=ls&command=-la&command=%2Ftmp%2Fa+b"
        );
        let c = Call::post("nodes/pve/qemu/100/monitor")
            .unwrap()
            .param("command", "info block");
        assert_eq!(c.wire_params().unwrap().to_form(), "command=info+block");
        let c = Call::post("nodes/pve/qemu/100/agent/exec")
            .unwrap()
            .param("command", vec!["echo", "a b"]);
        assert_eq!(
            c.wire_params().unwrap().to_form(),
            "command=echo&command=a+b"
        );
        let c = Call::post("nodes/pve/qemu/100/agent/exec")
            .unwrap()
            .param("command", "echo 'oops");
        assert!(c.wire_params().is_err());
    }
}
