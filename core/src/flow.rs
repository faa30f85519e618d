//! Flows: the layer that composes the core's machines, driven by one loop per runtime.
//!
//! A *flow* is a value that performs one piece of work for the caller: an API call with its
//! auth, renewal, TFA and retries ([`ApiCall`]), authenticating ([`Authenticate`]), and — on
//! the same vocabulary — waiting for tasks, reading logs, downloads with checksum discovery,
//! uploads, consoles and cluster routing. The flow decides everything; the adapter moves bytes.
//!
//! ## The driving contract
//!
//! A driver repeats, until the flow is done:
//!
//! 1. `flow.poll(now)` with [`Now`]: the monotonic instant (deadlines, backoff, leases) and
//!    the wall-clock time (tickets) — the core never reads a clock;
//! 2. it does what the [`Step`] says:
//!    * [`Step::Send`]: perform the [`Exchange`] (an HTTP request, a streamed upload, a
//!      WebSocket upgrade — keep the connection when it answers `101` — or a command line, with the timeouts and body limit it carries), then
//!      `flow.handle(id, reply)` with a [`Reply`]: the HTTP answer (status, reason, headers,
//!      body, peer fingerprint), the command's output, or a [`TransportFailure`] saying whether
//!      the request may have been sent, whether it timed out and whether it is permanent;
//!    * [`Step::SleepUntil`]: sleep until that instant;
//!    * [`Step::AwaitReplies`]: feed a reply of an exchange still in flight;
//!    * [`Step::WaitForLogin`]: another caller is logging in; register a waker with
//!      [`Flow::wake_on_release`] and wait until it is woken or the lease ends;
//!    * [`Step::WaitForSlot`]: the node this exchange goes to has its in-flight limit of
//!      exchanges on the wire; the same: register a waker, wait until woken or `until`;
//!    * [`Step::SecondFactor`]: answer with [`Flow::answer_second_factor`];
//!    * [`Step::Event`]: pass it on to the caller (or a log), then poll again;
//!    * [`Step::Done`]: return the result.
//!
//! A driver leaves the steps that need no I/O to [`next_io`] and handles only the six
//! [`IoStep`]s; one that performs each exchange before it polls again never sees
//! [`IoStep::AwaitReplies`].
//!
//! Dropping a flow at any point is safe: the leases it holds (login, renewal) are released at
//! once, and a lease that nobody releases runs out by itself, so no caller can block the next
//! login. Flows are `Send + 'static`; one client's flows share its [`ClientCore`].
//!
//! Timeouts have one meaning everywhere: a call's `timeout` is its deadline, every attempt,
//! backoff and wait included; each exchange carries connect and read timeouts already cut to
//! what remains; `max_attempts` is the only setting for attempts; a permanent failure (a
//! certificate that does not match, an unknown issuer) is never retried.
//!
//! ## The run loop, on canned bytes
//!
//! A password client's first call: the flow logs in, then sends the call with the new ticket.
//!
//! ```
//! use proxmox_proto::flow::{CallOptions, ClientCore, Flow, HttpReply, MonoTime, Now, Reply, Step, Payload};
//! use proxmox_proto::options::ClientOptions;
//! use proxmox_proto::{Call, TransportKind};
//! use std::time::Duration;
//!
//! let mut options = ClientOptions::new("pve1.example.com");
//! options.set_password("root@pam", "secret".into());
//! let core = ClientCore::from_options(options.validate(TransportKind::Https).unwrap(), |rb| rb);
//! let mut flow = core.call(Call::get("version").unwrap(), &CallOptions::default());
//!
//! // The "server": a login answer, then the call's answer.
//! let login = br#"{"data":{"username":"root@pam","ticket":"PVE:root@pam:65000000::c2ln","CSRFPreventionToken":"c"}}"#;
//! let version = br#"{"data":{"version":"9.1.1"}}"#;
//! let mut answers = vec![version.to_vec(), login.to_vec()];
//! let mut sent = Vec::new();
//! let now = Now::new(MonoTime::ZERO, Duration::from_secs(0x6500_0000));
//! let reply = loop {
//!     match flow.poll(now) {
//!         Step::Send(exchange) => {
//!             let Payload::Http(req) = &exchange.payload else { unreachable!() };
//!             sent.push(req.uri().path().to_owned());
//!             let body = answers.pop().unwrap();
//!             flow.handle(exchange.id, Reply::Http(HttpReply::new(200, Some("OK".into()), body)));
//!         }
//!         Step::Event(_) => {}
//!         Step::Done(result) => break result.unwrap(),
//!         other => unreachable!("{other:?}"),
//!     }
//! };
//! assert_eq!(sent, ["/api2/json/access/ticket", "/api2/json/version"]);
//! assert_eq!(reply.body, version);
//! assert!(core.session().is_some());
//! ```

mod api_call;
mod client;
mod composite;
mod console;
mod discover;
mod exchange;
mod files;
mod guest;
mod options;
mod reply;
#[cfg(feature = "schema")]
mod schema;
mod sequential;
mod shell_call;
mod shell_upload;
mod step;
mod sub_call;
mod tasks;
mod time;

pub use api_call::{ApiCall, Authenticate, UploadFlow};
pub use client::ClientCore;
pub use console::{ConsoleKind, ConsoleTarget, OpenConsole, OpenedConsole, console_call};
pub use discover::DiscoverCluster;
pub use exchange::{EndpointId, Exchange, ExchangeId, ExchangeKind, Payload};
pub use files::{DataCall, DiscoverChecksum, DownloadUrlFlow};
pub use guest::GuestCall;
pub use options::{CallOptions, Policy};
pub use reply::{FailureKind, HttpReply, Phase, Reply, ShellReply, TransportFailure};
#[cfg(feature = "schema")]
pub use schema::{FetchSchema, MAX_SCHEMA_BYTES, schema_path};
pub use sequential::{IoStep, next_io};
pub use shell_call::ShellCall;
pub use shell_upload::ShellUploadFlow;
pub use step::{Event, Flow, Step};
pub use tasks::{FollowLog, LOG_PAGE, ReadTaskLog, WaitTask, WaitTasks};
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub use time::MonoClock;
pub use time::{MonoTime, Now};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cluster;
#[cfg(test)]
mod tests_console;
