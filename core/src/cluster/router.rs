//! [`Router`]: where each exchange of a cluster client goes, learnt from how earlier ones
//! ended.

use super::endpoint::Endpoint;
use super::status::ClusterMap;
use crate::flow::{EndpointId, MonoTime};
use std::task::Waker;
use std::time::Duration;

/// The first backoff of a failed endpoint; it doubles with every failure in a row.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest an endpoint is skipped after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Exchanges in flight at once per endpoint (node) of a cluster client, by default:
/// pveproxy and pvedaemon each run about three workers (`PVE/Service/pveproxy.pm`,
/// `max_workers => 3`), so more only queue on the node.
pub const DEFAULT_PER_NODE_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
struct EndpointState {
    endpoint: Endpoint,
    /// Failures in a row.
    failures: u32,
    down_until: Option<MonoTime>,
    /// Refused for good (a certificate that is not the pinned one, an unknown issuer).
    bad: bool,
    last_error: Option<String>,
    /// Exchanges on the wire to it now.
    in_flight: usize,
}

#[derive(Debug, Clone)]
struct NodeState {
    name: String,
    failures: u32,
    /// A forwarding node answered 595/596 for it: not reachable from the cluster.
    unreachable_until: Option<MonoTime>,
}

/// Where the next exchange goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// This endpoint.
    Endpoint(EndpointId),
    /// Every endpoint was tried by this exchange's call or is refused for good.
    Exhausted,
}

/// The routing state of one cluster client, shared by all its flows: the endpoints, which of
/// them failed and until when they are skipped, which are refused for good, which node each
/// one is, and which nodes the cluster could not reach.
///
/// The rules:
///
/// * a call for `/nodes/{n}/…` goes to node `n`'s own endpoint when it is known and neither
///   it nor the node is skipped (affinity, on by default); everything else goes to the first
///   endpoint in the given order that is not skipped;
/// * a failed endpoint is skipped for a backoff that starts at [`FIRST_BACKOFF`] and doubles
///   with each failure in a row, up to [`MAX_BACKOFF`]; an answer (any status) ends it;
/// * when every endpoint a call has not tried yet is skipped, the one that comes back first is
///   tried anyway: a call never fails without trying;
/// * an endpoint whose certificate was refused is never tried again;
/// * a 595/596 from a forwarding node marks the *target* node unreachable (its own endpoint is
///   not used for affinity during the backoff), not the endpoint that answered.
///
/// ```
/// use proxmox_proto::cluster::{Choice, Endpoint, Router};
/// use proxmox_proto::flow::{EndpointId, MonoTime};
/// use proxmox_proto::Service;
/// use std::time::Duration;
///
/// let eps = ["pve1", "pve2", "pve3"].map(|h| Endpoint::parse(Service::Pve, h).unwrap().with_node(h));
/// let mut router = Router::new(eps.to_vec());
/// let t0 = MonoTime::ZERO;
/// assert_eq!(router.choose(None, &[], t0), Choice::Endpoint(EndpointId(0)));
/// // pve1 refused the connection: the call goes on at pve2, and later calls skip pve1.
/// router.failed(EndpointId(0), t0, "connection refused", false);
/// assert_eq!(router.choose(None, &[EndpointId(0)], t0), Choice::Endpoint(EndpointId(1)));
/// assert_eq!(router.choose(None, &[], t0), Choice::Endpoint(EndpointId(1)));
/// // Affinity: a call for pve3's resources goes to pve3.
/// assert_eq!(router.choose(Some("pve3"), &[], t0), Choice::Endpoint(EndpointId(2)));
/// // After the backoff, pve1 is tried again.
/// assert_eq!(router.choose(None, &[], t0 + Duration::from_secs(2)), Choice::Endpoint(EndpointId(0)));
/// ```
#[derive(Debug, Clone)]
pub struct Router {
    endpoints: Vec<EndpointState>,
    nodes: Vec<NodeState>,
    affinity: bool,
    /// Node name to address, given by the user: overrides what discovery reports.
    addresses: Vec<(String, String)>,
    /// At most this many exchanges in flight per endpoint.
    limit: usize,
    /// Flows waiting for a slot: all are woken when one comes free.
    waiters: Vec<Waker>,
}

fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(1 << shift).min(MAX_BACKOFF)
}

impl Router {
    /// A router over these endpoints, in order of preference (at least one: an empty list
    /// routes everything to [`Choice::Exhausted`]).
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Self {
            endpoints: endpoints
                .into_iter()
                .map(|endpoint| EndpointState {
                    endpoint,
                    failures: 0,
                    down_until: None,
                    bad: false,
                    last_error: None,
                    in_flight: 0,
                })
                .collect(),
            nodes: Vec::new(),
            affinity: true,
            addresses: Vec::new(),
            limit: DEFAULT_PER_NODE_IN_FLIGHT,
            waiters: Vec::new(),
        }
    }

    /// At most `n` exchanges in flight at once per endpoint (at least 1; by default
    /// [`DEFAULT_PER_NODE_IN_FLIGHT`]).
    pub fn set_in_flight_limit(&mut self, n: usize) {
        self.limit = n.max(1);
    }

    /// The per-endpoint in-flight limit.
    pub fn in_flight_limit(&self) -> usize {
        self.limit
    }

    /// Exchanges in flight to `endpoint` now.
    pub fn in_flight(&self, endpoint: EndpointId) -> usize {
        self.endpoints
            .get(endpoint.0 as usize)
            .map_or(0, |s| s.in_flight)
    }

    /// Take one of `endpoint`'s in-flight slots: `false` when all are taken (wait with
    /// [`Router::wait_for_slot`]). Every slot taken is given back with
    /// [`Router::release_slot`].
    pub fn take_slot(&mut self, endpoint: EndpointId) -> bool {
        match self.endpoints.get_mut(endpoint.0 as usize) {
            Some(s) if s.in_flight >= self.limit => false,
            Some(s) => {
                s.in_flight += 1;
                true
            }
            // Not an endpoint of this router: nothing to count.
            None => true,
        }
    }

    /// Give a slot of `endpoint` back. Returns the wakers of the flows waiting for a slot:
    /// wake them once the router is unlocked.
    #[must_use = "the waiting flows must be woken"]
    pub fn release_slot(&mut self, endpoint: EndpointId) -> Vec<Waker> {
        if let Some(s) = self.endpoints.get_mut(endpoint.0 as usize) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        std::mem::take(&mut self.waiters)
    }

    /// Wake `waker` when a slot of `endpoint` may have come free: `false` when one is free
    /// now (poll again at once, nothing registered).
    pub fn wait_for_slot(&mut self, endpoint: EndpointId, waker: &Waker) -> bool {
        if self
            .endpoints
            .get(endpoint.0 as usize)
            .is_none_or(|s| s.in_flight < self.limit)
        {
            return false;
        }
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
        true
    }

    /// Addresses for nodes by name (`("pve2", "10.1.0.2")`), used by discovery instead of
    /// what the cluster reports (a node's cluster address may not be reachable from here).
    pub fn set_addresses(&mut self, addresses: Vec<(String, String)>) {
        self.addresses = addresses;
    }

    /// Turn node affinity on (the default) or off.
    pub fn set_affinity(&mut self, on: bool) {
        self.affinity = on;
    }

    /// How many endpoints there are.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// An endpoint.
    pub fn endpoint(&self, id: EndpointId) -> Option<&Endpoint> {
        self.endpoints.get(id.0 as usize).map(|s| &s.endpoint)
    }

    /// Every endpoint, in order.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().map(|s| &s.endpoint)
    }

    fn usable(&self, i: usize, tried: &[EndpointId], now: MonoTime) -> bool {
        self.endpoints.get(i).is_some_and(|s| {
            !s.bad && !tried.contains(&id(i)) && s.down_until.is_none_or(|t| now >= t)
        })
    }

    fn node_reachable(&self, name: &str, now: MonoTime) -> bool {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .is_none_or(|n| n.unreachable_until.is_none_or(|t| now >= t))
    }

    /// Where an exchange goes: `node` is the node its path names (`/nodes/{node}/…`), if
    /// any; `tried` the endpoints its call already tried.
    pub fn choose(&self, node: Option<&str>, tried: &[EndpointId], now: MonoTime) -> Choice {
        if self.affinity
            && let Some(name) = node
            && self.node_reachable(name, now)
            && let Some(i) = self
                .endpoints
                .iter()
                .position(|s| s.endpoint.node() == Some(name))
            && self.usable(i, tried, now)
        {
            return Choice::Endpoint(id(i));
        }
        if let Some(i) = (0..self.endpoints.len()).find(|&i| self.usable(i, tried, now)) {
            return Choice::Endpoint(id(i));
        }
        // Everything left is in its backoff: the one that comes back first.
        self.endpoints
            .iter()
            .enumerate()
            .filter(|(i, s)| !s.bad && !tried.contains(&id(*i)))
            .min_by_key(|(_, s)| s.down_until)
            .map_or(Choice::Exhausted, |(i, _)| Choice::Endpoint(id(i)))
    }

    /// Whether a call that tried `tried` has another endpoint to go to.
    pub fn has_untried(&self, tried: &[EndpointId]) -> bool {
        (0..self.endpoints.len()).any(|i| !tried.contains(&id(i)) && !self.endpoints[i].bad)
    }

    /// An exchange to `endpoint` failed on the way (`permanent`: its certificate was refused;
    /// it is never tried again).
    pub fn failed(&mut self, endpoint: EndpointId, now: MonoTime, reason: &str, permanent: bool) {
        if let Some(s) = self.endpoints.get_mut(endpoint.0 as usize) {
            s.failures = s.failures.saturating_add(1);
            s.down_until = Some(now + backoff(s.failures));
            s.bad |= permanent;
            s.last_error = Some(reason.to_owned());
        }
    }

    /// The endpoints at `host:port` may be tried again at once: their certificate, refused
    /// before, is now pinned (discovery learnt it from the cluster).
    pub fn trust_again(&mut self, host: &str, port: u16) {
        for s in &mut self.endpoints {
            let t = s.endpoint.target();
            if t.port() == port && t.host_name().eq_ignore_ascii_case(host) {
                s.bad = false;
                s.failures = 0;
                s.down_until = None;
                s.last_error = None;
            }
        }
    }

    /// `endpoint` answered (any status): it is up.
    pub fn answered(&mut self, endpoint: EndpointId) {
        if let Some(s) = self.endpoints.get_mut(endpoint.0 as usize)
            && (s.failures != 0 || s.down_until.is_some())
        {
            s.failures = 0;
            s.down_until = None;
        }
    }

    /// A forwarding node answered 595/596 for a call to `node`: the cluster cannot reach it.
    pub fn node_unreachable(&mut self, node: &str, now: MonoTime) {
        let i = match self.nodes.iter().position(|n| n.name == node) {
            Some(i) => i,
            None => {
                self.nodes.push(NodeState {
                    name: node.to_owned(),
                    failures: 0,
                    unreachable_until: None,
                });
                self.nodes.len() - 1
            }
        };
        let n = &mut self.nodes[i];
        n.failures = n.failures.saturating_add(1);
        n.unreachable_until = Some(now + backoff(n.failures));
    }

    /// A call for `node` was answered by it (or through it): it is reachable.
    pub fn node_answered(&mut self, node: &str) {
        if let Some(n) = self.nodes.iter_mut().find(|n| n.name == node) {
            n.failures = 0;
            n.unreachable_until = None;
        }
    }

    /// Every endpoint and why it was last given up on, for the error of a call that found
    /// none: `pve1:8006 (connection refused); pve2:8006 (answered last)`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .endpoints
            .iter()
            .map(|s| match (&s.last_error, s.bad) {
                (Some(e), true) => format!("{} (refused for good: {e})", s.endpoint.authority()),
                (Some(e), false) if s.down_until.is_some() => {
                    format!("{} ({e})", s.endpoint.authority())
                }
                _ => format!("{} (up)", s.endpoint.authority()),
            })
            .collect();
        parts.join("; ")
    }

    /// Learn the cluster: `answered_by` is the endpoint `/cluster/status` came from (the node
    /// marked `local` is the one there); a node with an address (given with
    /// [`Router::set_addresses`], or reported by the cluster) and no endpoint yet gets one,
    /// with the first endpoint's port and path prefix. Returns the endpoints added.
    pub fn install(&mut self, map: &ClusterMap, answered_by: EndpointId) -> Vec<Endpoint> {
        if let Some(local) = map.nodes.iter().find(|n| n.local)
            && let Some(s) = self.endpoints.get_mut(answered_by.0 as usize)
            && s.endpoint.node().is_none()
        {
            s.endpoint.set_node(&local.name);
        }
        let mut added = Vec::new();
        let Some(template) = self.endpoints.first().map(|s| s.endpoint.target().clone()) else {
            return added;
        };
        for node in &map.nodes {
            let given = self
                .addresses
                .iter()
                .find(|(n, _)| *n == node.name)
                .map(|(_, a)| a.as_str());
            // An endpoint that already is this node, or already has this address, stays.
            if self
                .endpoints
                .iter()
                .any(|s| s.endpoint.node() == Some(node.name.as_str()))
            {
                continue;
            }
            // A given address may carry its own port; a reported one is a bare IP.
            let target = match (given, node.ip.as_deref()) {
                (Some(a), _) => match crate::target::Target::parse(template.service(), a) {
                    Ok(t) => match template.path_prefix() {
                        Some(p) if t.path_prefix().is_none() => match t.with_path_prefix(p) {
                            Ok(t) => t,
                            Err(_) => continue,
                        },
                        _ => t,
                    },
                    Err(_) => continue,
                },
                (None, Some(ip)) => match crate::target::Host::parse(ip) {
                    Ok(host) => template.with_host(host),
                    Err(_) => continue,
                },
                (None, None) => continue,
            };
            if let Some(s) = self
                .endpoints
                .iter_mut()
                .find(|s| s.endpoint.authority() == target.authority())
            {
                // Never rename an endpoint known to be another node.
                if s.endpoint.node().is_none() {
                    s.endpoint.set_node(&node.name);
                }
                continue;
            }
            let e = Endpoint::from_target(target).with_node(&node.name);
            added.push(e.clone());
            self.endpoints.push(EndpointState {
                endpoint: e,
                failures: 0,
                down_until: None,
                bad: false,
                last_error: None,
                in_flight: 0,
            });
        }
        added
    }
}

fn id(i: usize) -> EndpointId {
    EndpointId(u32::try_from(i).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Service;

    fn router(n: usize) -> Router {
        let eps = (1..=n)
            .map(|i| {
                Endpoint::parse(Service::Pve, &format!("pve{i}"))
                    .unwrap()
                    .with_node(&format!("pve{i}"))
            })
            .collect();
        Router::new(eps)
    }

    const T0: MonoTime = MonoTime::ZERO;

    #[test]
    fn the_backoff_doubles_up_to_the_cap_and_an_answer_ends_it() {
        let mut r = router(2);
        let e = EndpointId(0);
        let mut skipped_for = Vec::new();
        for _ in 0..9 {
            r.failed(e, T0, "refused", false);
            let s = &r.endpoints[0];
            skipped_for.push(s.down_until.unwrap().since(T0).as_secs());
        }
        assert_eq!(skipped_for, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(r.choose(None, &[], T0), Choice::Endpoint(EndpointId(1)));
        r.answered(e);
        assert_eq!(r.choose(None, &[], T0), Choice::Endpoint(e));
    }

    #[test]
    fn when_all_are_down_the_first_to_come_back_is_tried_and_a_call_never_tries_one_twice() {
        let mut r = router(3);
        r.failed(EndpointId(0), T0, "refused", false);
        r.failed(EndpointId(0), T0, "refused", false); // 2 s
        r.failed(EndpointId(1), T0, "refused", false); // 1 s
        r.failed(EndpointId(2), T0, "refused", false);
        r.failed(EndpointId(2), T0, "refused", false);
        r.failed(EndpointId(2), T0, "refused", false); // 4 s
        assert_eq!(r.choose(None, &[], T0), Choice::Endpoint(EndpointId(1)));
        assert_eq!(
            r.choose(None, &[EndpointId(1)], T0),
            Choice::Endpoint(EndpointId(0))
        );
        let all = [EndpointId(0), EndpointId(1), EndpointId(2)];
        assert_eq!(r.choose(None, &all, T0), Choice::Exhausted);
        assert!(!r.has_untried(&all));
        let s = r.summary();
        assert!(
            s.starts_with("pve1:8006 (refused); pve2:8006 (refused)"),
            "{s}"
        );
    }

    #[test]
    fn a_refused_certificate_is_never_tried_again() {
        let mut r = router(2);
        r.failed(
            EndpointId(0),
            T0,
            "certificate fingerprint X does not match",
            true,
        );
        let later = T0 + Duration::from_secs(3600);
        assert_eq!(r.choose(None, &[], later), Choice::Endpoint(EndpointId(1)));
        assert_eq!(
            r.choose(Some("pve1"), &[], later),
            Choice::Endpoint(EndpointId(1))
        );
        r.failed(EndpointId(1), later, "refused", false);
        assert_eq!(r.choose(None, &[EndpointId(1)], later), Choice::Exhausted);
        assert!(r.summary().contains("refused for good"), "{}", r.summary());
    }

    #[test]
    fn a_595_marks_the_target_node_not_the_endpoint_that_answered() {
        let mut r = router(3);
        r.node_unreachable("pve3", T0);
        // pve3's calls go elsewhere (through a forwarding node) during the backoff...
        assert_eq!(
            r.choose(Some("pve3"), &[], T0),
            Choice::Endpoint(EndpointId(0))
        );
        // ...the endpoint that answered is still first for everything else...
        assert_eq!(
            r.choose(Some("pve1"), &[], T0),
            Choice::Endpoint(EndpointId(0))
        );
        // ...and pve3 gets its calls again once it answered.
        r.node_answered("pve3");
        assert_eq!(
            r.choose(Some("pve3"), &[], T0),
            Choice::Endpoint(EndpointId(2))
        );
        r.set_affinity(false);
        assert_eq!(
            r.choose(Some("pve3"), &[], T0),
            Choice::Endpoint(EndpointId(0))
        );
    }
}
