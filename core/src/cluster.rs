//! Cluster clients: several endpoints, failover, node affinity, discovery.
//!
//! A PVE cluster has one API per node, and any node answers for the whole cluster: tickets
//! are valid on every node, and pveproxy forwards a call for another node's resources to that
//! node (`proxyto`), answering 595–599 when it cannot reach it (pve-http-server,
//! `PVE/APIServer/AnyEvent.pm`, `proxy_request`). A cluster client is given several
//! endpoints; its [`Router`] — one per client, shared by its flows — says where each exchange
//! goes, and the API-call flow tells it how each ended:
//!
//! * an exchange that was never sent (refused, name not found, connect timeout) goes on at the
//!   next endpoint at once; one that may have been sent goes on elsewhere only if the call is
//!   a GET; a write is never sent twice unless the server said it did not run (595);
//! * an endpoint whose certificate was refused (not the pinned one, unknown issuer) is never
//!   tried again; the call goes on at the others, and the refusal is in the final error;
//! * a failed endpoint is skipped by later calls for a backoff that grows, then tried again;
//!   when no endpoint is left the error lists each with why it was given up;
//! * calls for `/nodes/{n}/…` go to node `n` itself once its endpoint is known (affinity);
//!   a 595/596 marks the *target* node unreachable, not the endpoint that answered;
//! * at most [`DEFAULT_PER_NODE_IN_FLIGHT`] exchanges are in flight to one endpoint at once
//!   (`max_in_flight_per_node`); a flow over the limit waits ([`crate::flow::Step::WaitForSlot`])
//!   for a slot of the node it is routed to, and gives its slot back when answered or dropped;
//! * the session is the cluster's: one login serves every endpoint; the second step of a TFA
//!   login goes to the node that issued the challenge (its WebAuthn/U2F state lives in that
//!   node's `/run`).
//!
//! Discovery ([`crate::flow::ClientCore::discover`]) reads [`ClusterMap`]: node names,
//! addresses and which node answered from `/cluster/status` (which needs `Sys.Audit` on `/`;
//! without it only `/nodes` is read: names and fingerprints, no addresses, and it says so),
//! and certificate fingerprints from `/nodes`.
//!
//! Guests move between nodes: [`crate::flow::ClientCore::guest_call`] finds a guest's node
//! by its id ([`GuestLocation`], from `/cluster/resources`), and when the node answers that
//! the guest's configuration does not exist there ([`guest_not_on_node`]: it migrated), looks
//! again and tries once more at its new node.
//!
//! PMG clusters are out of scope for now, and PBS has none: their clients take one endpoint
//! (`build()` refuses several).

mod endpoint;
mod guest;
mod router;
mod status;

pub use endpoint::{Endpoint, parse_endpoints};
pub use guest::{GuestKind, GuestLocation, guest_not_on_node};
pub use router::{Choice, DEFAULT_PER_NODE_IN_FLIGHT, FIRST_BACKOFF, MAX_BACKOFF, Router};
pub use status::{ClusterMap, ClusterNode};

/// The node a path is about: `n` in `/nodes/{n}/…` (a path of its own, `/nodes/{n}`,
/// included).
///
/// ```
/// use proxmox_proto::cluster::node_of;
/// use proxmox_proto::ApiPath;
/// assert_eq!(node_of(&ApiPath::parse("nodes/pve2/qemu").unwrap()), Some("pve2"));
/// assert_eq!(node_of(&ApiPath::parse("cluster/resources").unwrap()), None);
/// ```
pub fn node_of(path: &crate::ApiPath) -> Option<&str> {
    match path.segments() {
        [first, node, ..] if first == "nodes" => Some(node.as_str()),
        _ => None,
    }
}

/// Whether a failed command never started on its host, so that it may go to another host of
/// the cluster (the command-line transports' failover): the host could not be resolved or
/// reached, the SSH login failed, or the exec request was refused — a transport error that
/// was not sent, of kind [`Dns`](crate::flow::FailureKind::Dns),
/// [`Connect`](crate::flow::FailureKind::Connect) or a connect-phase timeout. Never decided
/// from an exit code: a remote command can exit with 255 too (ssh's own failure code), so a
/// failure read from a finished command is never one of these.
///
/// ```
/// use proxmox_proto::cluster::never_started;
/// use proxmox_proto::flow::{FailureKind, TransportFailure};
/// use proxmox_proto::{ClientError, Method, RequestLabel, TransportError};
/// let label = RequestLabel { method: Method::Get, path: "/version".into(), host: "pve1".into() };
/// let err = |f: TransportFailure| {
///     ClientError::Transport(Box::new(TransportError::new(label.clone(), f, 1, Default::default())))
/// };
/// let refused = TransportFailure::not_sent("ssh: connection refused").with_kind(FailureKind::Connect);
/// assert!(never_started(&err(refused)));
/// // ssh exited with 255: maybe ssh, maybe the command.
/// assert!(!never_started(&err(TransportFailure::maybe_sent("exit code 255"))));
/// assert!(!never_started(&err(TransportFailure::not_sent("bad argument"))));
/// ```
pub fn never_started(error: &crate::ClientError) -> bool {
    use crate::flow::{FailureKind, Phase};
    error.transport().is_some_and(|t| {
        !t.failure.may_have_been_sent
            && matches!(
                t.failure.kind,
                FailureKind::Dns | FailureKind::Connect | FailureKind::Timeout(Phase::Connect)
            )
    })
}
