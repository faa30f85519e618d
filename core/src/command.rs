//! `pvesh`/`pmgsh` command lines: argv vectors for a [`Call`](crate::Call), shell-safe
//! command lines, output parsing, and uploads staged on the node.
//!
//! The command-line transports (a local subprocess, OpenSSH, an SSH library) run the node's
//! own API shell instead of talking HTTPS. The core builds what they run and reads what comes
//! back; the adapter only spawns the process (or the SSH channel) and collects stdout, stderr
//! and the exit code.
//!
//! # Driving contract
//!
//! 1. Build a [`CommandBuilder`] once per client ([`CommandBuilder::new`] refuses PBS, which has
//!    no API shell), with [`CommandBuilder::sudo`] if the remote user is not root.
//! 2. For each [`Call`](crate::Call), [`CommandBuilder::build`] gives a [`CommandLine`]. A
//!    local adapter spawns [`CommandLine::argv`] directly (no shell) with
//!    [`CommandLine::env`] added to the environment; an SSH adapter sends
//!    [`CommandLine::to_shell`], one line in which every word is quoted and the locale is
//!    forced to C.
//! 3. The adapter hands stdout, stderr and the exit code (`None` if the process died from a
//!    signal) to [`parse_output`] (or [`parse_data`] for a typed result). The exit code decides
//!    first: 0 is success, whatever stderr says; anything else is a [`crate::ApiError`] read
//!    from the stderr status line, the same typed error as over HTTPS.
//!
//! ```
//! use proxmox_proto::command::{parse_output, CommandBuilder};
//! use proxmox_proto::{Call, ErrorClass, Service};
//!
//! let pvesh = CommandBuilder::new(Service::Pve)?.sudo(true);
//! let call = Call::post(("nodes", "pve1", "qemu"))?
//!     .param("vmid", 100)
//!     .param("net0", "virtio,bridge=vmbr0")
//!     .param("start", true);
//! let cmd = pvesh.build(&call)?;
//! assert_eq!(cmd.argv(), [
//!     "sudo", "-n", "pvesh", "create", "/nodes/pve1/qemu",
//!     "--vmid", "100", "--net0", "virtio,bridge=vmbr0", "--start", "1",
//!     "--output-format", "json",
//! ]);
//! assert_eq!(cmd.env(), [("LC_ALL", "C")]);
//! assert_eq!(
//!     cmd.to_shell(),
//!     "env LC_ALL=C sudo -n pvesh create /nodes/pve1/qemu --vmid 100 --net0 virtio,bridge=vmbr0 --start 1 --output-format json",
//! );
//!
//! // The task's own output may come before the JSON (PVE bug 4333); warnings on stderr with
//! // exit code 0 are success.
//! let out = parse_output(
//!     b"trying to acquire lock...\n OK\n\"UPID:pve1:000ABCDE:0012ABCD:65000000:qmcreate:100:root@pam:\"\n",
//!     b"WARN: storage 'nas' is not online\n",
//!     Some(0),
//! )?;
//! assert_eq!(out.upid(), Some("UPID:pve1:000ABCDE:0012ABCD:65000000:qmcreate:100:root@pam:"));
//! assert_eq!(out.warnings().collect::<Vec<_>>(), ["WARN: storage 'nas' is not online"]);
//!
//! // A failure: the stderr status line becomes the same error as an HTTP 400.
//! let err = parse_output(
//!     b"",
//!     b"400 Parameter verification failed.\nvmid: property is missing and it is not optional\n\nUSAGE: pvesh create /nodes/{node}/qemu ...\n",
//!     Some(255),
//! ).unwrap_err();
//! let api = err.api().unwrap();
//! assert_eq!((api.status, api.class, api.exit_code), (400, ErrorClass::BadRequest, Some(255)));
//! assert_eq!(api.param_errors["vmid"], "property is missing and it is not optional");
//! # Ok::<(), proxmox_proto::Error>(())
//! ```
//!
//! One concern per file, every item re-exported here: [`argv`] (building the command lines),
//! [`upload`] (staging a file on the node for an upload) and [`output`] (reading what the
//! command printed, UPIDs in its text included).

pub mod argv;
pub mod output;
pub mod upload;

pub use argv::{CommandBuilder, CommandLine};
pub use output::{Output, has_status_line, is_upid, parse_data, parse_output, upids};
pub use upload::{ShellUpload, StagingPath};

/// The environment every command runs with: the C locale, so that no translated or
/// locale-dependent text (or Perl's "Setting locale failed" warning) reaches stderr.
pub const LOCALE_ENV: [(&str, &str); 1] = [("LC_ALL", "C")];
