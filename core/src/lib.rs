//! # proxmox-proto: the sans-IO core of a Proxmox VE, PMG and PBS API client
//!
//! ## Using the client
//!
//! To call a Proxmox API, depend on an adapter, not on this crate: `proxmox-ureq` (blocking),
//! `proxmox-async` (tokio or async-std), `proxmox-wasm` (browser, worker, node) or
//! `proxmox-cli` (`pvesh` over SSH). Each has the same methods and re-exports what you touch
//! from here (and this whole crate as `proto`):
//!
//! ```ignore
//! use proxmox_ureq::{ClientBuilder, Upid, WaitOptions, models};
//! // PROXMOX_URL=https://pve1:8006 PROXMOX_TOKEN_ID=ci@pve!ci PROXMOX_TOKEN_SECRET=... (see `env`)
//! let pve = ClientBuilder::from_env().build()?;
//! let guests: Vec<models::ClusterResource> = pve.get_with("cluster/resources", &[("type", "vm")])?;
//! let upid: Upid = pve.post(("nodes", "pve1", "qemu", 100, "status", "start"), &())?;
//! pve.wait_task_ok(&upid, WaitOptions::default())?;   // a failed task is an Err with its log
//! ```
//!
//! What you meet from this crate as a user: paths ([`IntoApiPath`]: a string for fixed paths,
//! a tuple for values), parameters ([`Params`], or any `Serialize` struct, map or list of
//! pairs), the typed [`models`] and the lenient [`loose`] readers, [`json::Document`] for big
//! untyped listings, [`Upid`] and the [`task`] types, the errors ([`ClientError`] with `api()`,
//! `class()`, `transport_kind()`, `task()`, and [`ErrorClass`]), the environment variables of
//! `from_env()` ([`env`](mod@env)) and what each runtime can do ([`capability`]).
//!
//! ## What this crate is
//!
//! This crate never touches a socket, a file, a process, the clock, the environment or
//! randomness. Calls become [`http::Request`] values or `pvesh` argv vectors; response bytes
//! become values or typed errors. Adapters (blocking, async, browser, command line) move the
//! bytes and call back in. The rest of this page is for adapter authors.
//!
//! Map of the crate:
//!
//! | module | what |
//! |---|---|
//! | [`service`] | PVE, PMG, PBS: ports, cookie names, token formats, shell programs |
//! | [`target`] | host/port/prefix parsing and the base URL |
//! | [`path`] | API paths where every caller value is exactly one segment |
//! | [`params`] | ordered parameters, serde support, form encoding |
//! | [`call`] | a transport-neutral call: method, path, parameters |
//! | [`request`] | [`Call`] → [`http::Request`] with auth headers |
//! | [`response`] | the `{"data": ...}` envelope and typed API errors |
//! | [`auth`] | API tokens, tickets, the login/TFA state machine, renewal |
//! | [`options`] | client options and their checks, shared by every adapter's builder |
//! | [`session`] | credentials and auth state shared by every adapter: login, renewal, re-login |
//! | [`flow`] | flows and their driving contract: the API call (auth, TFA, renewal, retry, deadline) on [`flow::ClientCore`] |
//! | [`retry`] | whether a failure may be retried |
//! | [`tls`] | SHA-256 certificate fingerprints |
//! | [`pins`] | the pin store (a known_hosts-like file of certificate fingerprints) and first-contact rules |
//! | `rustls_config` | (feature `rustls`) rustls client configurations for the native adapters |
//! | `pin_file` | (feature `rustls`) the pin file: read, and changed under a lock |
//! | `probe` | (feature `rustls`) first contact: a server's certificate chain, without sending anything else |
//! | [`upid`], [`task`] | task ids, task status, the task waiter, task logs |
//! | [`console`] | consoles: the WebSocket handshake and frames, the termproxy protocol |
//! | [`checksum`], [`upload`] | checksum files and discovery, upload framing, download-url |
//! | [`shell`], [`command`] | POSIX splitting and quoting, pvesh argv and output |
//! | [`loose`], [`models`] | Perl-loose JSON helpers and typed models of common endpoints |
//! | [`json`] | [`json::Document`]: a cheap owned untyped JSON value (flat tape, one string arena) |
//! | [`env`](mod@env) | the environment variables of the adapters' `ClientBuilder::from_env()` |
//! | [`trace`] | (feature `tracing`) spans per exchange and events per flow decision |
//! | [`capability`] | what each runtime can do; the common surface |
//!
//! ## Driving the core
//!
//! Adapters do not compose these machines themselves: a [`flow::ClientCore`] hands out
//! *flows* (the API call with its auth, renewal, TFA, retries and deadline; more to come),
//! and an adapter runs each in one driver loop — poll with the time, perform the exchange the
//! step names, feed the reply back. The driving contract and a run loop on canned bytes are in
//! the [`flow`] module docs. Below, the machines underneath, driven by hand.
//!
//! ## A whole login with TFA, driven by hand against canned bytes
//!
//! Every flow follows the same loop: the core hands out a request value, the caller performs it
//! and feeds the answer back. Here the "server" is two canned bodies.
//!
//! ```
//! use proxmox_proto::auth::{Auth, Login, LoginOutcome, SecondFactor};
//! use proxmox_proto::request::RequestBuilder;
//! use proxmox_proto::response::parse_data;
//! use proxmox_proto::{Call, Service, Target};
//!
//! let rb = RequestBuilder::new(Target::parse(Service::Pve, "pve1.example.com").unwrap());
//!
//! // Step 1: user and password.
//! let login = Login::new(Service::Pve, "alice@pve", "correct horse").unwrap();
//! let req = rb.build(&login.request(), None).unwrap();
//! assert_eq!(req.uri(), "https://pve1.example.com:8006/api2/json/access/ticket");
//! assert_eq!(req.body(), b"username=alice%40pve&password=correct+horse");
//! let answer = br#"{"data":{"username":"alice@pve","NeedTFA":1,"CSRFPreventionToken":"x",
//!   "ticket":"PVE:!tfa!%7B%22totp%22%3Atrue%7D:65000000::aGFsZg=="}}"#;
//! let LoginOutcome::SecondFactor(challenge) = login.handle_response(200, Some("OK"), answer).unwrap() else {
//!     unreachable!("this user has TFA")
//! };
//!
//! // Step 2: the TOTP code. Never retried automatically.
//! let step = challenge.respond(SecondFactor::totp("123456")).unwrap();
//! let req = rb.build(&step.request(), None).unwrap();
//! let form = std::str::from_utf8(req.body()).unwrap();
//! assert!(form.ends_with("&password=totp%3A123456"));
//! let answer = br#"{"data":{"username":"alice@pve","CSRFPreventionToken":"65000000:Y3NyZg",
//!   "ticket":"PVE:alice@pve:65000000::c2lnbmF0dXJl"}}"#;
//! let session = step.handle_response(200, Some("OK"), answer).unwrap();
//!
//! // Authenticated calls carry the cookie, and the CSRF token on anything but GET.
//! let auth = Auth::Session(session);
//! let req = rb.build(&Call::post(("nodes", "pve1", "qemu", 100, "status", "start")).unwrap(), Some(&auth)).unwrap();
//! assert_eq!(req.headers()["cookie"], "PVEAuthCookie=PVE:alice@pve:65000000::c2lnbmF0dXJl");
//! assert_eq!(req.headers()["csrfpreventiontoken"], "65000000:Y3NyZg");
//! let upid: String = parse_data(200, Some("OK"),
//!     br#"{"data":"UPID:pve1:0000C3B8:00A1B2C3:65000010:qmstart:100:alice@pve:"}"#).unwrap();
//! assert!(upid.starts_with("UPID:pve1:"));
//! ```
#![forbid(unsafe_code)]
// Library code never unwraps data from outside; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(missing_docs)]

pub mod auth;
mod blocking_verbs;
pub mod call;
pub mod capability;
pub mod checksum;
mod client_error;
pub mod cluster;
pub mod command;
pub mod console;
pub mod env;
pub mod error;
pub mod flow;
pub mod json;
pub mod loose;
pub mod models;
pub mod options;
pub mod params;
pub mod path;
pub mod pdm;
#[cfg(feature = "rustls")]
pub mod pin_file;
#[cfg(feature = "rustls")]
mod pin_verifier;
pub mod pins;
#[cfg(feature = "rustls")]
pub mod probe;
pub mod request;
pub mod resources;
pub mod response;
pub mod retry;
#[cfg(feature = "rustls")]
pub mod rustls_config;
#[cfg(feature = "schema")]
pub mod schema;
pub mod service;
pub mod session;
pub mod shell;
pub mod target;
pub mod task;
pub mod tls;
pub mod trace;
pub mod upid;
pub mod upload;

pub use call::{Call, Method};
pub use capability::Unsupported;
pub use client_error::ClientError;
pub use error::{
    ApiError, Error, ErrorClass, InputError, ProtocolError, RequestLabel, TransportError,
};
pub use params::Params;
pub use path::{ApiPath, IntoApiPath, Lit};
#[doc(hidden)]
pub use serde as __serde;
#[doc(hidden)]
pub use serde_json as __serde_json;
pub use service::{AuthKind, Service, TransportKind};
pub use target::{Host, Target};
pub use upid::Upid;
