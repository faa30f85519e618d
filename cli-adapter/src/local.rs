//! The local transport: `pvesh`/`pmgsh` as a subprocess of this process, on the node itself.

use crate::process::{self, Stdin};
use crate::{Client, Common, Error, Limits, RawOutput, Transport, common_setters};
use proxmox_proto::command::CommandLine;
use std::ffi::OsString;
use std::io::Read;
use std::process::Command;

const NAME: &str = "local";

/// Builds a [`Client`] that runs the API shell as a local subprocess.
///
/// ```no_run
/// # fn main() -> Result<(), proxmox_cli::Error> {
/// let pve = proxmox_cli::Client::local().sudo(true).build()?;
/// let nodes: Vec<serde_json::Value> = pve.get("nodes")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct LocalBuilder {
    common: Common,
    env: Vec<(OsString, OsString)>,
}

impl LocalBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    common_setters!();

    /// Set an environment variable for every command (in addition to `LC_ALL=C`, which
    /// always wins).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Check the settings and build the client (runs nothing).
    pub fn build(self) -> Result<Client, Error> {
        Client::from_parts(self.common, "localhost", Box::new(Local { env: self.env }))
    }
}

struct Local {
    env: Vec<(OsString, OsString)>,
}

impl Transport for Local {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(
        &self,
        cmd: &CommandLine,
        input: Option<&mut dyn Read>,
        limits: Limits,
    ) -> Result<RawOutput, Error> {
        let mut c = Command::new(cmd.program());
        c.args(cmd.args());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        for (k, v) in cmd.env() {
            c.env(k, v);
        }
        let stdin = match input {
            Some(r) => Stdin::Feed(r),
            None => Stdin::Null,
        };
        process::run(NAME, c, stdin, limits)
    }
}
