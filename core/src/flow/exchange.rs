//! What a flow asks the adapter to perform: one [`Exchange`].

use super::time::MonoTime;
use crate::command::CommandLine;
use crate::request::FormBody;
use std::fmt;
use std::time::Duration;

/// Names one exchange of a flow, so that a reply finds its way back when a flow has several in
/// flight. Unique within its flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeId(pub u64);

/// Which endpoint an exchange goes to: an index into the client's endpoints (a cluster client
/// has several; a single-host client has only [`EndpointId::PRIMARY`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(pub u32);

impl EndpointId {
    /// The first (or only) endpoint.
    pub const PRIMARY: Self = Self(0);
}

/// What kind of exchange this is, which tells the adapter how to treat it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExchangeKind {
    /// An API call carrying the client's credentials (login, renewal and TFA steps too).
    Api,
    /// A plain fetch without credentials, possibly to another origin (a checksum file on a
    /// mirror, the server's schema); redirects are the flow's business, not the adapter's.
    Fetch,
    /// An upload: the head is given, the adapter streams the body it was handed by the caller
    /// (exactly the head's `Content-Length`); read timeouts are inactivity timeouts.
    Upload,
    /// An HTTP/1.1 upgrade to a WebSocket (consoles): on `101` the adapter keeps the connection
    /// and feeds the head as the reply; the flow's output ([`super::OpenedConsole`]) names the
    /// exchange whose connection is the console's.
    WebSocket,
}

/// The bytes to move.
#[derive(Debug)]
pub enum Payload {
    /// An HTTP request with its whole (form) body.
    Http(http::Request<FormBody>),
    /// An HTTP request head whose body of exactly `body_len` bytes the adapter streams.
    HttpStreaming {
        /// Method, URL and headers, `Content-Length` included.
        head: http::Request<()>,
        /// The body's length.
        body_len: u64,
    },
    /// A command line to run (`pvesh`/`pmgsh`, locally or over SSH).
    Command(CommandLine),
    /// A command line to run with the upload's bytes, exactly `input_len` of them, on its
    /// standard input (staging an upload on the node).
    CommandInput {
        /// The command.
        command: CommandLine,
        /// How many bytes go to its standard input.
        input_len: u64,
    },
}

/// One exchange a flow asks the adapter to perform, with the limits that apply to it.
///
/// The timeouts are already cut to what remains of the call's deadline: the adapter applies
/// them as they are.
pub struct Exchange {
    /// Its id: pass it back with the reply.
    pub id: ExchangeId,
    /// Its kind.
    pub kind: ExchangeKind,
    /// Where it goes.
    pub endpoint: EndpointId,
    /// The bytes to move.
    pub payload: Payload,
    /// How long connecting may take (TCP, proxy tunnel and TLS handshake).
    pub connect_timeout: Duration,
    /// How long to wait for the response head, and at most between two reads of the body.
    pub read_timeout: Duration,
    /// When the whole call must be over (waiting for an in-flight slot included), if it has a
    /// deadline.
    pub deadline: Option<MonoTime>,
    /// The largest body accepted; a larger one is a [`crate::ProtocolError::BodyTooLarge`].
    pub body_limit: u64,
    /// Which attempt of its call this exchange is (1 for the first; for logging).
    pub attempt: u32,
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload's Debug shows method and URI only: bodies and auth headers stay out.
        let what = match &self.payload {
            Payload::Http(r) => format!("{} {}", r.method(), r.uri().path()),
            Payload::HttpStreaming { head, body_len } => {
                format!(
                    "{} {} ({body_len} bytes streamed)",
                    head.method(),
                    head.uri().path()
                )
            }
            Payload::Command(c) => format!("command {}", c.program()),
            Payload::CommandInput { command, input_len } => {
                format!("command {} ({input_len} bytes on stdin)", command.program())
            }
        };
        f.debug_struct("Exchange")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("payload", &what)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("deadline", &self.deadline)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}
