//! A cluster of simulated nodes: one listener per node (its own address, certificate and
//! fingerprint), shared state, and the run-time faults of a real cluster — a node stopped
//! (connections refused), blackholed (connections accepted, never answered: a connect
//! timeout for the client, since nothing gets past the TLS handshake), or partitioned from
//! the others (it answers for itself, and the cluster cannot reach it).
//!
//! Forwarding is pveproxy's (pve-http-server `PVE/APIServer/AnyEvent.pm`, `proxy_request`): a
//! call for `/nodes/{n}/…` that reaches another node is forwarded to `n`, and answered 595
//! when `n` cannot be reached, without running.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::state::Shared;

/// What a simulated node does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeMode {
    /// Serving.
    Up,
    /// Stopped: its port refuses connections.
    Stopped,
    /// Connections are accepted and never answered (a dropped route, a hung host).
    Blackholed,
    /// It serves its own calls, but cannot reach the other nodes, nor they it.
    Partitioned,
}

/// A node's certificate and the server configuration that presents it.
#[derive(Debug)]
struct NodeCert {
    ident: crate::tls::Identity,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// One node's listener and its mode.
#[derive(Debug)]
pub(crate) struct NodeCtl {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    /// Its certificate and the TLS configuration serving it (replaced on renewal).
    cert: Mutex<NodeCert>,
    pub(crate) mode: Mutex<NodeMode>,
    /// Blackholed connections, held open until the mode changes.
    held: Mutex<Vec<TcpStream>>,
    /// Its served connections (clones), closed when it is stopped.
    pub(crate) conns: Mutex<Vec<TcpStream>>,
    /// Requests it is handling now, and the most at once since the log was cleared.
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
}

impl NodeCtl {
    pub(crate) fn new(
        name: String,
        addr: SocketAddr,
        ident: crate::tls::Identity,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        Self {
            name,
            addr,
            cert: Mutex::new(NodeCert { ident, tls }),
            mode: Mutex::new(NodeMode::Up),
            held: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    /// Its certificate's SHA-256 fingerprint (`AB:CD:…`).
    pub(crate) fn fingerprint(&self) -> String {
        self.cert
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ident
            .fingerprint
            .clone()
    }

    /// The TLS configuration new connections get (`None`: plain HTTP).
    pub(crate) fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.cert
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tls
            .clone()
    }

    /// A copy of its identity.
    pub(crate) fn ident(&self) -> crate::tls::Identity {
        crate::tls::Identity::clone_of(
            &self
                .cert
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .ident,
        )
    }

    /// Serve `ident` from now on (new connections; open ones keep theirs).
    pub(crate) fn renew(&self, ident: crate::tls::Identity) -> Result<(), rustls::Error> {
        let mut cert = self.cert.lock().unwrap_or_else(PoisonError::into_inner);
        if cert.tls.is_some() {
            cert.tls = Some(ident.server_config()?);
        }
        cert.ident = ident;
        Ok(())
    }

    pub(crate) fn mode(&self) -> NodeMode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_mode(&self, mode: NodeMode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
        if mode == NodeMode::Stopped || mode == NodeMode::Blackholed {
            // Killed: its open connections die with it.
            for s in std::mem::take(&mut *self.conns.lock().unwrap_or_else(PoisonError::into_inner))
            {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        if mode != NodeMode::Blackholed {
            for s in std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner))
            {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// Whether a call received by node `from` for node `to` can be forwarded: `None` if so (or
/// no forwarding is needed), else the 595 reason pveproxy answers with.
pub(crate) fn unreachable(shared: &Shared, from: usize, to: &str) -> Option<&'static str> {
    let from = shared.cluster.get(from)?;
    if from.name == to {
        return None;
    }
    let target = shared.cluster.iter().find(|c| c.name == to)?;
    match (from.mode(), target.mode()) {
        (NodeMode::Partitioned, _) | (_, NodeMode::Partitioned) => Some("No route to host"),
        (_, NodeMode::Stopped) => Some("Connection refused"),
        (_, NodeMode::Blackholed) => Some("Connection timed out"),
        _ => None,
    }
}

/// Serve node `index` until the simulator stops: accept while up, close the port while
/// stopped (bound again on restart), hold connections while blackholed.
pub(crate) fn node_loop(shared: Arc<Shared>, index: usize, listener: TcpListener) {
    let Some(ctl) = shared.cluster.get(index).map(Arc::clone) else {
        return;
    };
    let mut listener = Some(listener);
    while !shared.stopping.load(Ordering::SeqCst) {
        let mode = ctl.mode();
        if mode == NodeMode::Stopped {
            listener = None;
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match TcpListener::bind(ctl.addr).and_then(|l| {
                l.set_nonblocking(true)?;
                Ok(l)
            }) {
                Ok(l) => listener.insert(l),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
        };
        match l.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                if ctl.mode() == NodeMode::Blackholed {
                    ctl.held
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(stream);
                    continue;
                }
                if let Ok(clone) = stream.try_clone() {
                    let mut conns = ctl.conns.lock().unwrap_or_else(PoisonError::into_inner);
                    // Forget closed ones now and then.
                    if conns.len() > 256 {
                        conns.retain(|c| c.peer_addr().is_ok());
                    }
                    conns.push(clone);
                }
                crate::http::spawn_conn(&shared, stream, index);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    ctl.set_mode(NodeMode::Up);
}
