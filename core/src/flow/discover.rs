//! Cluster discovery: `GET /cluster/status` and `GET /nodes` at once, merged into a
//! [`ClusterMap`] and taught to the client's router.

use super::client::Shared;
use super::composite::{Machine, MachineStep, machine_flow};
use super::step::Event;
use super::sub_call::Answer;
use crate::call::Call;
use crate::cluster::ClusterMap;
use crate::error::Error;
use std::sync::Arc;
use std::time::Duration;

const STATUS: usize = 0;
const NODES: usize = 1;

/// Reads both lists, then merges them.
pub(crate) struct Discover {
    shared: Arc<Shared>,
    /// How many of the two calls were asked for.
    asked: u8,
    status: Option<Result<Answer, Error>>,
    nodes: Option<Result<Answer, Error>>,
    /// The limited-discovery event was considered.
    said: bool,
}

impl Discover {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            asked: 0,
            status: None,
            nodes: None,
            said: false,
        }
    }

    /// Both answers in: the map, taught to the router.
    fn finish(&mut self) -> Result<ClusterMap, Error> {
        let nodes = match self.nodes.take() {
            Some(Ok(a)) => ClusterMap::from_nodes(&raw_data(&a)?)?,
            Some(Err(e)) => return Err(e),
            None => return Err(missing()),
        };
        let (map, answered_by) = match self.status.take() {
            Some(Ok(Answer::Http(r))) if r.status == 403 => (nodes, None),
            Some(Ok(a)) => {
                let endpoint = match &a {
                    Answer::Http(r) => Some(r.endpoint),
                    Answer::Shell(_) => None,
                };
                (
                    ClusterMap::from_status(&raw_data(&a)?)?.with_nodes(nodes),
                    endpoint,
                )
            }
            Some(Err(e)) => return Err(e),
            None => return Err(missing()),
        };
        if let Some(by) = answered_by {
            self.shared.router_or_init().install(&map, by);
        }
        learn_pins(&self.shared, &map);
        Ok(map)
    }
}

/// With a pin store: take the fingerprints `/nodes` reported (over a connection the client
/// verified) for the endpoints whose node is known — a new pin for a node not pinned yet (a
/// discovered node), the pin replaced for one pinned to another certificate (a renewal), with
/// a warning — in the store and in its file (under its lock).
fn learn_pins(shared: &Shared, map: &ClusterMap) {
    let Some(pins) = &shared.pins else {
        return;
    };
    let learnt: Vec<(String, u16, crate::tls::Fingerprint)> = match shared.router() {
        Some(router) => router
            .endpoints()
            .filter_map(|e| {
                let fp = map.node(e.node()?)?.fingerprint?;
                Some((e.target().host_name(), e.target().port(), fp))
            })
            .collect(),
        None => return,
    };
    for (host, port, fp) in learnt {
        let change = pins.store.lock().learn(&host, port, fp);
        match &change {
            crate::pins::Learned::Known => continue,
            crate::pins::Learned::Added => {}
            crate::pins::Learned::Replaced(old) => {
                crate::trace::pin_replaced(&host, port, old, &fp)
            }
        }
        // Refused before with the old pin, maybe: worth a try now.
        if let Some(mut router) = shared.router() {
            router.trust_again(&host, port);
        }
        #[cfg(feature = "rustls")]
        if let Some(path) = &pins.file {
            // Re-read under the lock and written with this change: other writers' pins stay.
            match crate::pin_file::update(path, |s| {
                s.learn(&host, port, fp);
            }) {
                Ok(written) => *pins.store.lock() = written,
                Err(e) => crate::trace::pin_not_written(&host, port, &e),
            }
        }
    }
}

fn missing() -> Error {
    crate::error::ProtocolError::Malformed {
        what: "cluster discovery",
        detail: "finished before both answers came".into(),
    }
    .into()
}

/// The `data` of an answer, as JSON bytes (errors as the typed error of the call).
fn raw_data(a: &Answer) -> Result<Vec<u8>, Error> {
    let v: serde_json::Value = a.data()?;
    serde_json::to_vec(&v).map_err(|e| {
        crate::error::ProtocolError::Malformed {
            what: "cluster discovery",
            detail: e.to_string(),
        }
        .into()
    })
}

impl Machine for Discover {
    type Output = ClusterMap;

    fn next(&mut self, _wall: Duration) -> MachineStep<ClusterMap> {
        // Both calls at once: `/nodes` is needed either way.
        if self.asked < 2 {
            let (slot, path) = if self.asked == 0 {
                (STATUS, "cluster/status")
            } else {
                (NODES, "nodes")
            };
            self.asked += 1;
            return match Call::get(path) {
                Ok(call) => MachineStep::Call { slot, call },
                Err(e) => MachineStep::Done(Err(e.into())),
            };
        }
        if self.status.is_none() || self.nodes.is_none() {
            return MachineStep::Await;
        }
        if !self.said {
            self.said = true;
            if matches!(&self.status, Some(Ok(Answer::Http(r))) if r.status == 403) {
                return MachineStep::Event(Event::DiscoveryLimited {
                    reason: "GET /cluster/status was refused (it needs Sys.Audit on /): node \
                             names and fingerprints come from /nodes, without addresses; \
                             give the nodes' addresses as endpoints"
                        .into(),
                });
            }
        }
        MachineStep::Done(self.finish())
    }

    fn feed(&mut self, slot: usize, _wall: Duration, answer: Result<Answer, Error>) {
        match slot {
            STATUS => self.status = Some(answer),
            _ => self.nodes = Some(answer),
        }
    }
}

machine_flow!(
    DiscoverCluster,
    Discover,
    ClusterMap,
    "The flow of [`super::ClientCore::discover`]: reads `/cluster/status` (falling back to \
     `/nodes` alone when it is refused, said with [`Event::DiscoveryLimited`]) and `/nodes`, \
     teaches the client's router which endpoint is which node and adds endpoints for the \
     nodes it did not have; ends with the [`ClusterMap`]."
);
