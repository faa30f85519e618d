//! Consoles over the backend's upgraded connection (hyper and reqwest hand it over; surf
//! cannot, and refuses at [`ConsoleBuilder::build`]), driven by the core's
//! [`ConsoleSession`]. One task may read while another writes: the reader waits on the
//! connection's read half and wakes for the keepalive; writes go out in order under the write
//! half's lock.

use crate::transport::{UpgradedRead, UpgradedWrite};
use crate::{Client, Error, ExchangeIo};
use futures_util::Stream;
use proxmox_proto::capability::{Capability, require};
use proxmox_proto::console::ConsoleError;
use proxmox_proto::console::ConsoleInfo;
use proxmox_proto::console::session::{ConsoleEvent, ConsoleSession, Framing};
use proxmox_proto::flow::{CallOptions, ConsoleKind, ConsoleTarget, MonoTime};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Builds a console: [`Client::console`].
#[derive(Debug)]
#[must_use]
pub struct ConsoleBuilder {
    client: Client,
    target: ConsoleTarget,
    settings: proxmox_proto::console::ConsoleSettings,
}

impl ConsoleBuilder {
    proxmox_proto::console_builder_methods!("proxmox_async", asynchronous);

    /// Open the console: the console call, the WebSocket upgrade on the node that answered
    /// it, and for a terminal the login (this returns once termproxy said `OK`), within the
    /// client's timeouts. The surf backend refuses here ([`Error::Unsupported`]): it cannot
    /// hand over an upgraded connection.
    ///
    /// ```no_run
    /// # async fn example(client: &proxmox_async::Client) -> Result<(), proxmox_async::Error> {
    /// use proxmox_async::ConsoleTarget;
    /// let shell = client.console(ConsoleTarget::Lxc { node: "pve1".into(), vmid: 200 }).build().await?;
    /// shell.send(b"uname -a\n").await?;
    /// # Ok(()) }
    /// ```
    pub async fn build(self) -> Result<Console, Error> {
        let client = self.client;
        require(client.runtime(), Capability::Console)?;
        // The standard library's keyed hashes of a per-process random key: unpredictable
        // to anyone on the path, as RFC 6455 §5.3 asks of masks.
        let key = crate::files::random_bytes();
        let framing = Framing::websocket(|| {
            let b = crate::files::random_bytes();
            [b[0], b[1], b[2], b[3]]
        });
        let flow = client.inner.core.console(
            self.target,
            self.settings.kind,
            key,
            framing,
            &CallOptions::default(),
        )?;
        let io = ExchangeIo::default();
        let opened = client.run_io(flow, &mut |_| {}, &io).await?;
        let upgraded = io
            .upgraded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .filter(|(id, _)| *id == opened.exchange);
        let Some((_, up)) = upgraded else {
            return Err(Error::Config(
                "the console's upgraded connection went missing".into(),
            ));
        };
        let mut session = opened.session;
        self.settings.apply(&mut session);
        let read_timeout = client.inner.core.policy().read_timeout;
        let console = Console {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    session,
                    pending: VecDeque::new(),
                }),
                read: async_lock::Mutex::new(up.read),
                write: async_lock::Mutex::new(up.write),
                client: client.clone(),
                info: ConsoleInfo::new(opened.ticket, opened.request, self.settings.kind),
            }),
        };
        console.flush().await?;
        if self.settings.kind == ConsoleKind::Terminal {
            console.wait_open(read_timeout).await?;
            if let Some((cols, rows)) = self.settings.size {
                console.resize(cols, rows).await?;
            }
        }
        Ok(console)
    }
}

impl Client {
    /// A console: a node's shell, a container's console or a VM's serial terminal
    /// (termproxy), or with [`ConsoleBuilder::vnc`] a VNC stream. Nothing happens before
    /// [`ConsoleBuilder::build`].
    ///
    /// ```no_run
    /// # async fn example(client: &proxmox_async::Client) -> Result<(), proxmox_async::Error> {
    /// use proxmox_async::ConsoleTarget;
    /// use std::time::Duration;
    /// let shell = client.console(ConsoleTarget::Node("pve1".into())).build().await?;
    /// shell.send(b"hostname\n").await?;
    /// let out = shell.read_until(b"# ", Duration::from_secs(5)).await?;
    /// println!("{}", String::from_utf8_lossy(&out));
    /// shell.close().await?;
    /// # Ok(()) }
    /// ```
    pub fn console(&self, target: ConsoleTarget) -> ConsoleBuilder {
        ConsoleBuilder {
            client: self.clone(),
            target,
            settings: Default::default(),
        }
    }
}

struct State {
    session: ConsoleSession,
    /// Output received and not handed out yet: `Some(empty)` marks the login accepted,
    /// `None` the end.
    pending: VecDeque<Result<Option<Vec<u8>>, Error>>,
}

struct Shared {
    state: Mutex<State>,
    read: async_lock::Mutex<Box<dyn UpgradedRead>>,
    write: async_lock::Mutex<Box<dyn UpgradedWrite>>,
    client: Client,
    info: ConsoleInfo,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> MonoTime {
        self.client.inner.mono.at(Instant::now())
    }

    fn error(&self, e: ConsoleError) -> Error {
        self.info.error(e).into()
    }

    /// Move the session's events to `pending`.
    fn collect(&self, st: &mut State) {
        while let Some(ev) = st.session.poll_event() {
            let item = match ev {
                ConsoleEvent::Opened => Ok(Some(Vec::new())),
                ConsoleEvent::Output(b) => Ok(Some(b)),
                ConsoleEvent::Closed(_) => Ok(None),
                ConsoleEvent::Failed(e) => Err(self.error(e)),
            };
            st.pending.push_back(item);
        }
    }
}

/// An open console (see [`Client::console`]): share it (`Arc<Console>` or `&Console`) so
/// that one task reads while another writes.
pub struct Console {
    shared: Arc<Shared>,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("info", &self.shared.info)
            .finish()
    }
}

impl Console {
    proxmox_proto::console_info_methods!("proxmox_async");

    fn info(&self) -> &ConsoleInfo {
        &self.shared.info
    }

    /// Write what the session queued, in order; shut the connection once it is over.
    async fn flush(&self) -> Result<(), Error> {
        let mut w = self.shared.write.lock().await;
        let (frames, closed) = {
            let mut st = self.shared.lock();
            let frames: Vec<Vec<u8>> = std::iter::from_fn(|| st.session.poll_transmit()).collect();
            (frames, st.session.is_closed())
        };
        for f in frames {
            w.write_all(&f).await.map_err(Error::Io)?;
        }
        if closed {
            let _ = w.shutdown().await;
        }
        Ok(())
    }

    /// Send input: typed bytes (a terminal), or RFB bytes (VNC).
    ///
    /// ```no_run
    /// # async fn example(shell: &proxmox_async::Console) -> Result<(), proxmox_async::Error> {
    /// shell.send(b"ls /\n").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, data: &[u8]) -> Result<(), Error> {
        {
            let now = self.shared.now();
            let mut st = self.shared.lock();
            st.session.handle_timeout(now);
            st.session
                .send(data, now)
                .map_err(|e| self.shared.error(e))?;
        }
        self.flush().await
    }

    /// Tell the terminal its new size.
    ///
    /// ```no_run
    /// # async fn example(shell: &proxmox_async::Console) -> Result<(), proxmox_async::Error> {
    /// shell.resize(132, 43).await?;
    /// # Ok(()) }
    /// ```
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), Error> {
        {
            let now = self.shared.now();
            let mut st = self.shared.lock();
            st.session
                .resize(cols, rows, now)
                .map_err(|e| self.shared.error(e))?;
        }
        self.flush().await
    }

    /// The next output, waiting at most `timeout` (`None`: until there is some; keepalives
    /// go out meanwhile). `Ok(None)` once the console has closed; a timeout is an error whose
    /// [`Error::is_timeout`] is true (the console stays open).
    ///
    /// ```no_run
    /// # async fn example(shell: &proxmox_async::Console) -> Result<(), proxmox_async::Error> {
    /// use std::time::Duration;
    /// while let Some(bytes) = shell.recv(Some(Duration::from_secs(5))).await? {
    ///     print!("{}", String::from_utf8_lossy(&bytes));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn recv(&self, timeout: Option<Duration>) -> Result<Option<Vec<u8>>, Error> {
        loop {
            match self.next(timeout).await? {
                Some(b) if b.is_empty() => continue,
                other => return Ok(other),
            }
        }
    }

    /// The output as a stream of chunks, until the console closes (an error ends it too).
    ///
    /// ```no_run
    /// # async fn example(shell: &proxmox_async::Console) -> Result<(), proxmox_async::Error> {
    /// use futures_util::StreamExt;
    /// let mut output = std::pin::pin!(shell.output());
    /// while let Some(chunk) = output.next().await {
    ///     print!("{}", String::from_utf8_lossy(&chunk?));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn output(&self) -> impl Stream<Item = Result<Vec<u8>, Error>> + Send + '_ {
        futures_util::stream::unfold(false, move |ended| async move {
            if ended {
                return None;
            }
            match self.recv(None).await {
                Ok(Some(b)) => Some((Ok(b), false)),
                Ok(None) => None,
                Err(e) => Some((Err(e), true)),
            }
        })
    }

    /// Output until `needle` appears (included), waiting at most `timeout` in all: for
    /// scripted sessions (wait for a prompt, then type).
    ///
    /// ```no_run
    /// # async fn example(shell: &proxmox_async::Console) -> Result<(), proxmox_async::Error> {
    /// use std::time::Duration;
    /// shell.send(b"echo done\n").await?;
    /// let out = shell.read_until(b"done\r\n", Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn read_until(&self, needle: &[u8], timeout: Duration) -> Result<Vec<u8>, Error> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            if let Some(found) = proxmox_proto::console::termproxy::split_after(&mut got, needle) {
                if !got.is_empty() {
                    self.shared.lock().pending.push_front(Ok(Some(got)));
                }
                return Ok(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(Some(left)).await {
                Ok(Some(b)) => got.extend_from_slice(&b),
                Ok(None) => {
                    return Err(self.shared.error(ConsoleError::EndedBefore {
                        needle: String::from_utf8_lossy(needle).into_owned(),
                    }));
                }
                Err(e) => {
                    // What came stays for the next read.
                    if !got.is_empty() {
                        self.shared.lock().pending.push_front(Ok(Some(got)));
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Close the console: a close frame, then the server's answer (at most the client's read
    /// timeout), then the connection is shut.
    ///
    /// ```no_run
    /// # async fn example(shell: proxmox_async::Console) -> Result<(), proxmox_async::Error> {
    /// shell.close().await?;
    /// # Ok(()) }
    /// ```
    pub async fn close(&self) -> Result<(), Error> {
        {
            let now = self.shared.now();
            self.shared.lock().session.close(now);
        }
        self.flush().await?;
        let timeout = self.shared.client.inner.core.policy().read_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(Some(left)).await {
                Ok(None) => return Ok(()),
                Ok(Some(_)) => {}
                Err(e) if e.is_timeout() => {
                    let _ = self.shared.write.lock().await.shutdown().await;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the console has ended.
    ///
    /// ```no_run
    /// # fn example(shell: &proxmox_async::Console) {
    /// assert!(!shell.is_closed());
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().session.is_closed()
    }

    /// Wait for termproxy's `OK`.
    async fn wait_open(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let mut early = Vec::new();
        let result = loop {
            if self.shared.lock().session.is_open() {
                break Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(Some(left)).await {
                Ok(Some(b)) if b.is_empty() => break Ok(()),
                Ok(Some(b)) => early.push(b),
                Ok(None) => break Err(self.shared.error(ConsoleError::ClosedBeforeOk)),
                Err(e) => break Err(e),
            }
        };
        let mut st = self.shared.lock();
        for b in early.into_iter().rev() {
            st.pending.push_front(Ok(Some(b)));
        }
        result
    }

    /// The next event's bytes: `Some(empty)` for the login accepted, `Some(output)`, `None`
    /// at the end.
    async fn next(&self, timeout: Option<Duration>) -> Result<Option<Vec<u8>>, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut rd = self.shared.read.lock().await;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let keepalive = {
                let mut st = self.shared.lock();
                if let Some(item) = st.pending.pop_front() {
                    if matches!(item, Ok(None)) {
                        // The end stays the end.
                        st.pending.push_front(Ok(None));
                    }
                    return item;
                }
                if st.session.is_closed() {
                    st.pending.push_back(Ok(None));
                    continue;
                }
                st.session.poll_timeout()
            };
            let mut wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if let Some(k) = keepalive {
                let k = self.shared.now().until(k);
                wait = Some(wait.map_or(k, |w| w.min(k)));
            }
            let read = match wait {
                Some(w) => self.shared.client.timed(w, rd.read(&mut buf)).await,
                None => Some(rd.read(&mut buf).await),
            };
            {
                let mut st = self.shared.lock();
                match read {
                    Some(Ok(0)) | Some(Err(_)) => st.session.handle_eof(),
                    Some(Ok(n)) => st.session.handle_bytes(&buf[..n]),
                    None => {
                        let now = self.shared.now();
                        st.session.handle_timeout(now);
                    }
                }
                self.shared.collect(&mut st);
            }
            self.flush().await?;
            let empty = self.shared.lock().pending.is_empty();
            if empty && deadline.is_some_and(|d| Instant::now() >= d) {
                let waited = timeout.unwrap_or_default();
                return Err(self.shared.info.no_output_within(waited).into());
            }
        }
    }
}
