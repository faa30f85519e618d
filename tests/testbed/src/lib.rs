//! Test bed for the Proxmox API client adapters.
//!
//! This crate is used by the adapters' integration tests (it is not published). It offers:
//!
//! - **Launchers for real peers** we did not write, installed on demand by
//!   `tests/peers/setup.sh` into `<repo>/target/peers/` (a pinned Python venv and Debian's
//!   `openssh-server`):
//!   - [`FakePve`]: `fakepve` 0.5.0 (a stateful fake PVE 9 API over TLS) on a free loopback
//!     port, with a certificate that rustls accepts, an API token, a password user and a
//!     restricted user registered through its Python API; stopped on drop.
//!   - [`Sshd`]: OpenSSH's `sshd` on `127.0.0.1` as the current user, with its own host key,
//!     an authorized client key and a `pvesh` shim on the session's `PATH` that forwards every
//!     call to fakepve or the simulator; stopped on drop.
//! - [`require_peer`]: turns a launcher's failure into a loud `SKIPPED` line, or a panic under
//!   `CI=true`, so that a missing peer never passes silently in CI.
//! - **The scenario catalogue** ([`mod@catalogue`]): data-driven steps with expected outcomes that
//!   every adapter runs through the small [`Driver`] trait, against the simulator and fakepve.
//! - **JSON shape comparison** ([`shape`]): keys and JSON types of `data`, recursively, so the
//!   simulator can be checked against a real peer.
//!
//! Environment:
//!
//! - `CI=true`: a missing peer fails the test instead of skipping it.
//! - `PROXMOX_TESTBED_NO_INSTALL=1`: never run `setup.sh` (no apt, no pip); only use what is
//!   there.
//! - `PROXMOX_TESTBED_DIR`: where the venv and the per-run directories go (default
//!   `<repo>/target/peers`).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod catalogue;
mod fakepve;
pub mod hostile;
mod peer;
pub mod secrets;
pub mod shape;
#[cfg(feature = "sim")]
mod sim;
mod sshd;
pub mod surface;

pub use catalogue::{
    ApiErrorShape, Driver, DriverError, Feature, PeerControl, PeerKind, PeerProfile, Report,
    Scenario, Step, SurfaceOp, catalogue, outcome_text, run_catalogue, run_scenarios,
};
pub use fakepve::{FakePve, FakePveOptions};
pub use peer::{PeerError, ensure_setup, is_ci, peers_dir, repo_root, require_peer};
#[cfg(feature = "sim")]
pub use proxmox_sim;
#[cfg(feature = "sim")]
pub use sim::start_simulator;
pub use sshd::{PveshTarget, Sshd};

#[doc(hidden)]
pub use proxmox_proto as __proto;
#[doc(hidden)]
pub use serde_json as __json;
