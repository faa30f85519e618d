//! Several SSH hosts of one cluster: a command goes to the first host that is not in its
//! backoff, and on to the next only when it never started on the one it went to
//! ([`proxmox_proto::cluster::never_started`]: the connection, the login or the exec request
//! failed) or the host's key was refused (that host is then never tried again). A command
//! that started is never run again elsewhere, whatever its outcome: its exit code alone
//! cannot say whether ssh or the command failed. The order and the backoff are the core's
//! [`Router`]'s, as for the HTTP adapters' endpoints.

use crate::{Error, Limits, RawOutput, Transport};
use proxmox_proto::cluster::{Choice, Endpoint, Router};
use proxmox_proto::command::CommandLine;
use proxmox_proto::flow::MonoClock;
use std::io::Read;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// One transport per host, in the order given.
pub(crate) struct Failover {
    hosts: Vec<(String, Box<dyn Transport>)>,
    router: Mutex<Router>,
    clock: MonoClock,
}

impl Failover {
    /// `hosts`: each host's name (for errors) and transport, the first the client's own.
    pub(crate) fn new(hosts: Vec<(String, Box<dyn Transport>)>) -> Result<Self, Error> {
        let endpoints = hosts
            .iter()
            .map(|(h, _)| {
                Endpoint::parse(proxmox_proto::Service::Pve, h).map_err(|e| {
                    Error::Config(format!("{h:?} is not a usable SSH host for failover: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            hosts,
            router: Mutex::new(Router::new(endpoints)),
            clock: MonoClock::starting_at(Instant::now()),
        })
    }

    fn router(&self) -> std::sync::MutexGuard<'_, Router> {
        self.router.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Transport for Failover {
    fn name(&self) -> &'static str {
        self.hosts.first().map_or("ssh", |(_, t)| t.name())
    }

    fn run(
        &self,
        cmd: &CommandLine,
        mut input: Option<&mut dyn Read>,
        limits: Limits,
    ) -> Result<RawOutput, Error> {
        let mut tried = Vec::new();
        let mut why: Vec<String> = Vec::new();
        loop {
            let now = self.clock.at(Instant::now());
            let id = match self.router().choose(None, &tried, now) {
                Choice::Endpoint(id) => id,
                Choice::Exhausted => break,
            };
            tried.push(id);
            let Some((host, t)) = self.hosts.get(id.0 as usize) else {
                break;
            };
            // A command that never started read none of its input: the next host gets it all.
            let reborrowed: Option<&mut dyn Read> = match &mut input {
                Some(r) => Some(&mut **r),
                None => None,
            };
            match t.run(cmd, reborrowed, limits) {
                Ok(out) => {
                    self.router().answered(id);
                    return Ok(out);
                }
                Err(e) => {
                    let refused = matches!(e, Error::HostKey { .. });
                    if !refused && !proxmox_proto::cluster::never_started(&e) {
                        return Err(e);
                    }
                    self.router().failed(id, now, &e.to_string(), refused);
                    why.push(format!("{host}: {e}"));
                }
            }
        }
        // Built with two hosts or more: every way out of the loop above is a refusal.
        let why = if why.is_empty() {
            format!("no host can run commands now: {}", self.router().summary())
        } else {
            format!("no host could run the command: {}", why.join("; "))
        };
        Err(crate::not_started(self.name(), why))
    }
}
