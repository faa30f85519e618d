//! # proxmox-proto: the sans-IO core of a Proxmox VE, PMG and PBS API client
//!
//! This crate never touches a socket, a file, a process, the clock, the environment or
//! randomness. Calls become [`http::Request`] values or `pvesh` argv vectors; response bytes
//! become values or typed errors. Adapters (blocking, async, browser, command line) move the
//! bytes and call back in.
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
//! | [`retry`] | whether a failure may be retried |
//! | [`tls`] | SHA-256 certificate fingerprints |
//! | [`upid`], [`task`] | task ids, task status, the task waiter, task logs |
//! | [`checksum`], [`upload`] | checksum files and discovery, upload framing, download-url |
//! | [`shell`], [`command`] | POSIX splitting and quoting, pvesh argv and output |
//! | [`loose`], [`models`] | Perl-loose JSON helpers and typed models of common endpoints |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod call;
pub mod checksum;
pub mod command;
pub mod error;
pub mod loose;
pub mod models;
pub mod params;
pub mod path;
pub mod request;
pub mod response;
pub mod retry;
pub mod service;
pub mod shell;
pub mod target;
pub mod task;
pub mod tls;
pub mod upid;
pub mod upload;

pub use call::{Call, Method};
pub use error::{ApiError, Error, ErrorClass, InputError, ProtocolError};
pub use params::Params;
pub use path::{ApiPath, IntoApiPath, Lit};
pub use service::{AuthKind, Service, TransportKind};
pub use target::{Host, Target};
pub use upid::Upid;
