//! Consoles over the runtime's own `WebSocket`: the browser (or node) frames and masks, the
//! core's [`ConsoleSession`] does the Proxmox layer (login line, `OK`, input, resize,
//! keepalive), this module moves whole messages between the two.
//!
//! A browser `WebSocket` cannot send `Authorization`, so the upgrade (`GET …/vncwebsocket`)
//! authenticates with the ticket cookie on PVE's origin, which PVE's own GUI also sets from
//! JavaScript (`PVEAuthCookie`, percent-encoded; pve-http-server unescapes it). That needs a
//! password login and a window on the API's origin: API tokens and workers are refused at
//! [`ConsoleBuilder::build`]. Node's `WebSocket` (undici; node 20 needs
//! `--experimental-websocket`) takes request headers, so there the same cookie goes in a
//! `Cookie` header.

use crate::{Client, Driven, Error, Io, sys};
use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use proxmox_proto::auth::{AuthError, Secret};
use proxmox_proto::capability::{self, Capability, Runtime};
use proxmox_proto::console::ConsoleError;
use proxmox_proto::console::ConsoleInfo;
use proxmox_proto::console::session::{Closed, ConsoleEvent, ConsoleSession, Framing};
use proxmox_proto::flow::{
    CallOptions, ConsoleKind, ConsoleTarget, Exchange, ExchangeId, HttpReply, MonoTime, Payload,
    Reply, TransportFailure,
};
use proxmox_proto::{AuthKind, ProtocolError};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// Why an API token cannot open a console here.
const TOKEN_ADVICE: &str = "a browser WebSocket cannot send an API token (the upgrade \
    authenticates with the ticket cookie): build the client with password() and open consoles \
    from a window on PVE's origin";
/// Why a worker cannot.
const WORKER_ADVICE: &str = "a worker has no document.cookie for the ticket cookie that a \
    browser WebSocket authenticates with: open consoles from a window (password login)";
/// Why a client for another origin cannot.
const ORIGIN_ADVICE: &str = "the ticket cookie can only be set on the page's own origin: build \
    the client for the page's origin (\"\") and serve the page from PVE or a reverse proxy in \
    front of it";
/// Why a runtime without `WebSocket` cannot.
const NO_WEBSOCKET_ADVICE: &str = "this JavaScript environment has no global WebSocket (node 20: \
    run it with --experimental-websocket; node 22 has one)";

/// [`Error::Unsupported`] for consoles with `advice`. The core's table says consoles are
/// `Limited` in a browser (`capability::support`); the part this client cannot do is refused
/// with the same type and wording as every other refusal.
fn unsupported(advice: &'static str) -> Error {
    Error::Unsupported(capability::Unsupported::new(
        Capability::Console,
        Runtime::Browser,
        advice,
    ))
}

/// How the upgrade carries the session's ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    /// A window: the ticket cookie on the page's origin (`document.cookie`), which the browser
    /// sends with the upgrade.
    Cookie,
    /// Node: its `WebSocket` (undici) takes request headers; the cookie goes in `Cookie`.
    Header,
}

fn global_get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `location.origin` and whether the page is `https:` (a window only).
fn page_origin() -> (Option<String>, bool) {
    let location = global_get(&js_sys::global(), "location");
    let origin = global_get(&location, "origin").as_string();
    let https = global_get(&location, "protocol").as_string().as_deref() == Some("https:");
    (origin, https)
}

/// Whether `client` can open a console here, and how the ticket travels.
fn carrier(client: &Client) -> Result<Carrier, Error> {
    if client.core().auth_kind() == AuthKind::Token {
        return Err(unsupported(TOKEN_ADVICE));
    }
    let global: JsValue = js_sys::global().into();
    let has_websocket = global_get(&global, "WebSocket").is_function();
    if global_get(&global, "document").is_object() {
        if !has_websocket {
            return Err(unsupported(NO_WEBSOCKET_ADVICE));
        }
        let origin = &client.inner.origin;
        if !origin.is_empty() && page_origin().0.as_deref() != Some(origin.as_str()) {
            return Err(unsupported(ORIGIN_ADVICE));
        }
        return Ok(Carrier::Cookie);
    }
    let node = global_get(&global_get(&global, "process"), "versions");
    if global_get(&node, "node").is_string() {
        return if has_websocket {
            Ok(Carrier::Header)
        } else {
            Err(unsupported(NO_WEBSOCKET_ADVICE))
        };
    }
    Err(unsupported(WORKER_ADVICE))
}

/// Percent-encode everything but RFC 3986's unreserved characters (a cookie value must not
/// carry `;`, `,` or spaces; pveproxy unescapes it).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The WebSocket URL of `url` (absolute, or relative to the page): `https:` → `wss:`,
/// `http:` → `ws:`.
fn websocket_url(url: &str) -> Result<String, TransportFailure> {
    let absolute = if url.starts_with('/') {
        let origin = page_origin().0.ok_or_else(|| {
            TransportFailure::not_sent("a relative URL outside a page: give the client an origin")
                .permanent()
        })?;
        format!("{origin}{url}")
    } else {
        url.to_owned()
    };
    if let Some(rest) = absolute.strip_prefix("https://") {
        Ok(format!("wss://{rest}"))
    } else if let Some(rest) = absolute.strip_prefix("http://") {
        Ok(format!("ws://{rest}"))
    } else {
        Err(TransportFailure::not_sent("the console's URL is neither https nor http").permanent())
    }
}

/// What the socket delivered before the session was there to take it.
enum Incoming {
    Message(Vec<u8>),
    Close {
        code: u16,
        reason: String,
        clean: bool,
    },
}

fn feed(session: &mut ConsoleSession, ev: Incoming) {
    match ev {
        Incoming::Message(bytes) => session.handle_message(&bytes),
        Incoming::Close {
            code,
            reason,
            clean: true,
        } => session.handle_close(Some(code), &reason),
        // 1006 and friends: no close frame came (a cut connection).
        Incoming::Close { clean: false, .. } => session.handle_eof(),
    }
}

enum Stage {
    /// The socket is connecting.
    Connecting,
    /// It failed before it opened (the close code, if the runtime gave one).
    Refused(Option<u16>),
    /// Open; the flow has not handed out the session yet.
    Switched(Vec<Incoming>),
    /// The session runs.
    Running(Box<ConsoleSession>),
}

struct State {
    stage: Stage,
    /// `recv`, `build` or the open wait.
    waker: Option<Waker>,
    /// The keepalive's `setTimeout` handle.
    timer: Option<JsValue>,
    output: VecDeque<Vec<u8>>,
    /// termproxy accepted the login (VNC: from the start).
    opened: bool,
    end: Option<Result<Closed, ConsoleError>>,
    /// `ConsoleBuilder::size`, sent right after `OK`.
    pending_size: Option<(u16, u16)>,
    socket_closed: bool,
    listener: Option<Rc<dyn Fn()>>,
}

/// What one round of the session asks the runtime to do.
#[derive(Default)]
struct Actions {
    send: Vec<Vec<u8>>,
    close: bool,
    /// The keepalive timer of a session that has ended.
    clear_timer: Option<JsValue>,
    wake: Option<Waker>,
    listener: Option<Rc<dyn Fn()>>,
}

impl State {
    fn drain(&mut self, now: MonoTime) -> Actions {
        let mut a = Actions::default();
        let Stage::Running(s) = &mut self.stage else {
            return a;
        };
        let mut changed = false;
        while let Some(ev) = s.poll_event() {
            changed = true;
            match ev {
                ConsoleEvent::Opened => {
                    self.opened = true;
                    if let Some((cols, rows)) = self.pending_size.take() {
                        // Open: a resize cannot fail.
                        let _ = s.resize(cols, rows, now);
                    }
                }
                ConsoleEvent::Output(bytes) => self.output.push_back(bytes),
                ConsoleEvent::Closed(c) => self.end = Some(Ok(c)),
                ConsoleEvent::Failed(e) => self.end = Some(Err(e)),
            }
        }
        a.send = std::iter::from_fn(|| s.poll_transmit()).collect();
        if s.is_closed() {
            // An armed timer would keep node's event loop alive for nothing.
            a.clear_timer = self.timer.take();
            if !self.socket_closed {
                self.socket_closed = true;
                a.close = true;
            }
        }
        if changed {
            a.wake = self.waker.take();
            a.listener = self.listener.clone();
        }
        a
    }
}

/// A socket's event handler (`onopen`, `onmessage`, `onerror`, `onclose`).
type Handler = Closure<dyn FnMut(JsValue)>;

/// One socket and its session; the event handlers hold it weakly.
struct Shared {
    ws: web_sys::WebSocket,
    state: RefCell<State>,
    handlers: RefCell<Vec<Handler>>,
    tick: RefCell<Option<Closure<dyn FnMut()>>>,
    client: Client,
}

impl Shared {
    /// `new WebSocket(url, second)` with its handlers.
    fn connect(client: &Client, url: &str, second: &JsValue) -> Result<Rc<Self>, TransportFailure> {
        let ctor: Function = global_get(&js_sys::global(), "WebSocket")
            .dyn_into()
            .map_err(|_| TransportFailure::not_sent(NO_WEBSOCKET_ADVICE).permanent())?;
        let args = Array::of2(&JsValue::from_str(url), second);
        // The error could quote the URL, which carries the vncticket: only its name is kept.
        let ws: web_sys::WebSocket = Reflect::construct(&ctor, &args)
            .map_err(|e| {
                let name = global_get(&e, "name").as_string().unwrap_or_default();
                TransportFailure::not_sent(format!("new WebSocket() refused the request ({name})"))
                    .permanent()
            })?
            .unchecked_into();
        ws.set_binary_type(web_sys::BinaryType::Arraybuffer);
        let shared = Rc::new(Shared {
            ws,
            state: RefCell::new(State {
                stage: Stage::Connecting,
                waker: None,
                timer: None,
                output: VecDeque::new(),
                opened: false,
                end: None,
                pending_size: None,
                socket_closed: false,
                listener: None,
            }),
            handlers: RefCell::new(Vec::new()),
            tick: RefCell::new(None),
            client: client.clone(),
        });
        let handler = |f: fn(&Shared, JsValue)| {
            let weak = Rc::downgrade(&shared);
            Handler::new(move |ev: JsValue| {
                if let Some(s) = weak.upgrade() {
                    f(&s, ev);
                }
            })
        };
        let (open, message, error, close) = (
            handler(Shared::on_open),
            handler(Shared::on_message),
            handler(Shared::on_error),
            handler(Shared::on_close),
        );
        shared.ws.set_onopen(Some(open.as_ref().unchecked_ref()));
        shared
            .ws
            .set_onmessage(Some(message.as_ref().unchecked_ref()));
        shared.ws.set_onerror(Some(error.as_ref().unchecked_ref()));
        shared.ws.set_onclose(Some(close.as_ref().unchecked_ref()));
        shared
            .handlers
            .borrow_mut()
            .extend([open, message, error, close]);
        let weak: Weak<Shared> = Rc::downgrade(&shared);
        *shared.tick.borrow_mut() = Some(Closure::new(move || {
            if let Some(s) = weak.upgrade() {
                s.on_tick();
            }
        }));
        Ok(shared)
    }

    fn wake_opening(&self, next: Stage) {
        let waker = match self.state.try_borrow_mut() {
            Ok(mut st) if matches!(st.stage, Stage::Connecting) => {
                st.stage = next;
                st.waker.take()
            }
            _ => None,
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn on_open(&self, _ev: JsValue) {
        self.wake_opening(Stage::Switched(Vec::new()));
    }

    fn on_error(&self, _ev: JsValue) {
        // Once open, the close event follows and says more.
        self.wake_opening(Stage::Refused(None));
    }

    fn on_message(&self, ev: JsValue) {
        let data = global_get(&ev, "data");
        let bytes = if let Some(text) = data.as_string() {
            text.into_bytes()
        } else if data.is_instance_of::<js_sys::ArrayBuffer>() {
            Uint8Array::new(&data).to_vec()
        } else {
            return;
        };
        self.incoming(Incoming::Message(bytes));
    }

    fn on_close(&self, ev: JsValue) {
        let code = global_get(&ev, "code")
            .as_f64()
            .filter(|c| (0.0..=65535.0).contains(c))
            .map_or(1006, |c| c as u16);
        let clean = global_get(&ev, "wasClean").is_truthy();
        let reason = global_get(&ev, "reason").as_string().unwrap_or_default();
        if let Ok(st) = self.state.try_borrow()
            && matches!(st.stage, Stage::Connecting)
        {
            drop(st);
            self.wake_opening(Stage::Refused(Some(code)));
            return;
        }
        self.incoming(Incoming::Close {
            code,
            reason,
            clean,
        });
    }

    fn incoming(&self, ev: Incoming) {
        {
            let Ok(mut st) = self.state.try_borrow_mut() else {
                return;
            };
            match &mut st.stage {
                Stage::Switched(kept) => {
                    kept.push(ev);
                    return;
                }
                Stage::Running(s) => feed(s, ev),
                Stage::Connecting | Stage::Refused(_) => return,
            }
        }
        self.process();
    }

    fn on_tick(&self) {
        let now = self.client.flow_now().mono;
        if let Ok(mut st) = self.state.try_borrow_mut() {
            st.timer = None;
            if let Stage::Running(s) = &mut st.stage {
                s.handle_timeout(now);
            }
        }
        self.process();
    }

    /// Hand the session what it asked for: bytes to send, the socket to close, the
    /// keepalive timer, and wake whoever waits. Never holds the state while calling out.
    fn process(&self) {
        let now = self.client.flow_now().mono;
        let actions = match self.state.try_borrow_mut() {
            Ok(mut st) => st.drain(now),
            Err(_) => return,
        };
        for bytes in &actions.send {
            // A socket that is closing drops what is sent; its close event follows.
            let _ = self.ws.send_with_u8_array(bytes);
        }
        if actions.close {
            let _ = self.ws.close_with_code(1000);
        }
        if let Some(t) = &actions.clear_timer {
            sys::clear_timeout(t);
        }
        self.arm_timer(now);
        if let Some(w) = actions.wake {
            w.wake();
        }
        if let Some(listener) = actions.listener {
            listener();
        }
    }

    /// A `setTimeout` at the session's next keepalive, unless one is armed.
    fn arm_timer(&self, now: MonoTime) {
        let Ok(mut st) = self.state.try_borrow_mut() else {
            return;
        };
        if st.timer.is_some() {
            return;
        }
        let due = match &st.stage {
            Stage::Running(s) => s.poll_timeout(),
            _ => None,
        };
        let (Some(due), Ok(tick)) = (due, self.tick.try_borrow()) else {
            return;
        };
        if let Some(cb) = tick.as_ref() {
            // One millisecond late rather than early: the clock counts whole milliseconds.
            let delay = now.until(due).saturating_add(Duration::from_millis(1));
            st.timer = sys::set_timeout(cb.as_ref().unchecked_ref(), delay);
        }
    }

    /// Whether the socket opened (`Ok`), failed before (`Err` with the close code), or is
    /// still connecting.
    fn poll_open(&self, cx: &mut Context<'_>) -> Poll<Result<(), Option<u16>>> {
        let Ok(mut st) = self.state.try_borrow_mut() else {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        match st.stage {
            Stage::Connecting => {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Stage::Refused(code) => Poll::Ready(Err(code)),
            Stage::Switched(_) | Stage::Running(_) => Poll::Ready(Ok(())),
        }
    }

    /// Start the session on this socket: what arrived since the socket opened first.
    fn install(
        &self,
        mut session: ConsoleSession,
        settings: proxmox_proto::console::ConsoleSettings,
    ) {
        settings.apply(&mut session);
        let size = settings.size;
        if let Ok(mut st) = self.state.try_borrow_mut() {
            st.opened = session.is_open();
            st.pending_size = size;
            match std::mem::replace(&mut st.stage, Stage::Connecting) {
                Stage::Switched(kept) => kept.into_iter().for_each(|ev| feed(&mut session, ev)),
                Stage::Running(_) | Stage::Connecting | Stage::Refused(_) => session.handle_eof(),
            }
            st.stage = Stage::Running(Box::new(session));
        }
        self.process();
    }

    /// Run `f` on the session and process what it queued.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&mut ConsoleSession, MonoTime) -> Result<T, ConsoleError>,
    ) -> Result<T, ConsoleError> {
        let now = self.client.flow_now().mono;
        let r = match self.state.try_borrow_mut() {
            Ok(mut st) => match &mut st.stage {
                Stage::Running(s) => f(s, now),
                _ => Err(ConsoleError::NotOpen),
            },
            // Only reachable from a listener that calls back in while the state is taken,
            // which `process` never lets happen.
            Err(_) => Err(ConsoleError::NotOpen),
        };
        self.process();
        r
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // No handler may run once its closure is gone.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onerror(None);
        self.ws.set_onclose(None);
        if let Some(t) = self.state.get_mut().timer.take() {
            sys::clear_timeout(&t);
        }
        let _ = self.ws.close_with_code(1000);
    }
}

/// A `setTimeout` that wakes a task and is cleared when dropped.
struct Deadline {
    fired: Rc<Cell<bool>>,
    waker: Rc<RefCell<Option<Waker>>>,
    handle: Option<JsValue>,
    _callback: Closure<dyn FnMut()>,
}

impl Deadline {
    fn new(after: Duration) -> Self {
        let fired = Rc::new(Cell::new(false));
        let waker: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
        let callback = {
            let (fired, waker) = (Rc::clone(&fired), Rc::clone(&waker));
            Closure::<dyn FnMut()>::new(move || {
                fired.set(true);
                if let Some(w) = waker.take() {
                    w.wake();
                }
            })
        };
        let handle = sys::set_timeout(callback.as_ref().unchecked_ref(), after);
        Self {
            fired,
            waker,
            handle,
            _callback: callback,
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.fired.get() {
            return Poll::Ready(());
        }
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            sys::clear_timeout(&h);
        }
    }
}

fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// The sockets one console's flow opens: the driver performs its WebSocket exchange here.
pub(crate) struct Sockets {
    carrier: Carrier,
    opened: RefCell<Option<(ExchangeId, Rc<Shared>)>>,
}

impl Sockets {
    /// Perform a WebSocket exchange: set the ticket cookie (or header), open the socket, and
    /// answer `101` when it opened. The socket is kept for the flow's output.
    pub(crate) async fn open(&self, client: &Client, exchange: Exchange) -> Reply {
        let Exchange {
            id,
            payload,
            connect_timeout,
            read_timeout,
            ..
        } = exchange;
        let Payload::Http(req) = payload else {
            return Reply::Failed(
                TransportFailure::not_sent("a WebSocket exchange without a request").permanent(),
            );
        };
        let url = match websocket_url(&client.url_of(req.uri())) {
            Ok(u) => u,
            Err(f) => return Reply::Failed(f),
        };
        let protocols = Array::new();
        for value in req.headers().get_all(http::header::SEC_WEBSOCKET_PROTOCOL) {
            for p in value.to_str().unwrap_or_default().split(',') {
                let p = p.trim();
                if !p.is_empty() {
                    protocols.push(&JsValue::from_str(p));
                }
            }
        }
        let Some(session) = client.session() else {
            return Reply::Failed(
                TransportFailure::not_sent("no session ticket for the console's upgrade")
                    .permanent(),
            );
        };
        let cookie = Secret::new(format!(
            "{}={}",
            session.service().cookie_name(),
            percent_encode(session.ticket().expose())
        ));
        let second: JsValue = match self.carrier {
            Carrier::Cookie => {
                let secure = if page_origin().1 { "; secure" } else { "" };
                let line = Secret::new(format!(
                    "{}; path=/; samesite=strict{secure}",
                    cookie.expose()
                ));
                let document = global_get(&js_sys::global(), "document");
                if Reflect::set(&document, &"cookie".into(), &line.expose().into()).is_err() {
                    return Reply::Failed(
                        TransportFailure::not_sent("document.cookie cannot be set").permanent(),
                    );
                }
                protocols.into()
            }
            Carrier::Header => {
                let headers = Object::new();
                let options = Object::new();
                let _ = Reflect::set(&headers, &"Cookie".into(), &cookie.expose().into());
                let _ = Reflect::set(&options, &"headers".into(), &headers);
                let _ = Reflect::set(&options, &"protocols".into(), &protocols);
                options.into()
            }
        };
        let shared = match Shared::connect(client, &url, &second) {
            Ok(s) => s,
            Err(f) => return Reply::Failed(f),
        };
        let limit = connect_timeout.saturating_add(read_timeout);
        let deadline = Deadline::new(limit);
        let opened = std::future::poll_fn(|cx| match shared.poll_open(cx) {
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => deadline.poll(cx).map(|()| None),
        })
        .await;
        match opened {
            Some(Ok(())) => {
                let previous = self.opened.replace(Some((id, shared)));
                drop(previous);
                Reply::Http(HttpReply::new(101, None, Vec::new()))
            }
            Some(Err(code)) => {
                let code = code
                    .map(|c| format!(" (close code {c})"))
                    .unwrap_or_default();
                Reply::Failed(TransportFailure::maybe_sent(format!(
                    "the WebSocket failed before it opened{code}; the runtime does not say why: \
                     the upgrade refused (no ticket cookie for this origin, a console ticket \
                     expired or for another node) or the connection failed"
                )))
            }
            None => Reply::Failed(
                TransportFailure::maybe_sent(format!(
                    "the WebSocket did not open within {}",
                    seconds(limit)
                ))
                .timed_out(),
            ),
        }
    }

    /// The socket of the exchange the flow switched on.
    fn take(&self, exchange: ExchangeId) -> Option<Rc<Shared>> {
        match self.opened.take() {
            Some((id, shared)) if id == exchange => Some(shared),
            _ => None,
        }
    }
}

impl Client {
    /// Start building a console on `target`: a terminal (termproxy) unless
    /// [`ConsoleBuilder::vnc`]. Needs a password login in a window on PVE's origin (or node
    /// with a global `WebSocket`); see [`ConsoleBuilder::build`].
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let console = client.console(ConsoleTarget::Node("pve1".into())).size(120, 40).build().await?;
    /// console.send(b"uname -a\n")?;
    /// while let Some(bytes) = console.recv(None).await? {
    ///     print!("{}", String::from_utf8_lossy(&bytes));
    /// }
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

/// Opens a console: made by [`Client::console`].
#[must_use]
pub struct ConsoleBuilder {
    client: Client,
    target: ConsoleTarget,
    settings: proxmox_proto::console::ConsoleSettings,
}

impl fmt::Debug for ConsoleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleBuilder")
            .field("target", &self.target)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ConsoleBuilder {
    proxmox_proto::console_builder_methods!("proxmox_wasm", asynchronous);

    /// Open the console: the console call on the target's node (logging in first if
    /// needed), the WebSocket on the node that answered, and for a terminal the login line,
    /// waiting for termproxy's `OK` (so a refused console ticket or a console closed before
    /// `OK` fails here, as [`proxmox_proto::Error::Console`]).
    ///
    /// Fails with [`Error::Unsupported`] before sending anything when the client uses an API
    /// token (a browser `WebSocket` cannot send one), in a worker (no `document.cookie`), for
    /// a client built for another origin than the page's, or without a global `WebSocket`.
    /// In a window it sets the session's ticket cookie (`PVEAuthCookie`, path `/`,
    /// `SameSite=Strict`, `Secure` on https pages) on the page's origin, as PVE's own GUI
    /// does, and leaves it there; in node it sends that cookie as a `Cookie` header.
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// match client.console(ConsoleTarget::Node("pve1".into())).build().await {
    ///     Ok(console) => console.close(),
    ///     Err(Error::Unsupported(why)) => eprintln!("{why}"),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn build(self) -> Result<Console, Error> {
        let carrier = carrier(&self.client)?;
        let mut flow = self.client.core().console(
            self.target,
            self.settings.kind,
            sys::random16(),
            Framing::Messages,
            &CallOptions::default(),
        )?;
        let sockets = Sockets {
            carrier,
            opened: RefCell::new(None),
        };
        let opened = match self
            .client
            .drive(&mut flow, &mut |_| {}, Io::Console(&sockets))
            .await?
        {
            Driven::Done(opened) => opened,
            Driven::SecondFactor(_) => {
                return Err(proxmox_proto::Error::Auth(AuthError::SecondFactorRequired).into());
            }
        };
        let shared = sockets.take(opened.exchange).ok_or_else(|| {
            Error::from(ProtocolError::Malformed {
                what: "console",
                detail: "the flow switched on an exchange that opened no socket".into(),
            })
        })?;
        shared.install(opened.session, self.settings);
        let console = Console {
            shared,
            info: ConsoleInfo::new(opened.ticket, opened.request, self.settings.kind),
        };
        if self.settings.kind == ConsoleKind::Terminal {
            console.wait_for_ok().await?;
        }
        Ok(console)
    }
}

/// An open console. Output comes from [`Console::recv`], input goes with [`Console::send`];
/// dropping it closes the socket. Not `Send` (WebAssembly in a browser is single-threaded).
pub struct Console {
    shared: Rc<Shared>,
    info: ConsoleInfo,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Console {
    proxmox_proto::console_info_methods!("proxmox_wasm");

    fn info(&self) -> &ConsoleInfo {
        &self.info
    }

    fn error(&self, e: ConsoleError) -> Error {
        self.info.error(e).into()
    }

    /// Wait for termproxy's `OK` (bounded by the read timeout).
    async fn wait_for_ok(&self) -> Result<(), Error> {
        let limit = self.shared.client.core().policy().read_timeout;
        let deadline = Deadline::new(limit);
        let outcome = std::future::poll_fn(|cx| {
            let Ok(mut st) = self.shared.state.try_borrow_mut() else {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            };
            if st.opened {
                return Poll::Ready(Ok(()));
            }
            match &st.end {
                Some(Err(e)) => return Poll::Ready(Err(Some(e.clone()))),
                Some(Ok(_)) => return Poll::Ready(Err(Some(ConsoleError::ClosedBeforeOk))),
                None => {}
            }
            st.waker = Some(cx.waker().clone());
            drop(st);
            deadline.poll(cx).map(|()| Err(None))
        })
        .await;
        match outcome {
            Ok(()) => Ok(()),
            Err(Some(e)) => Err(self.error(e)),
            Err(None) => {
                self.close();
                Err(self.info.no_output_within(limit).into())
            }
        }
    }

    /// The next output (everything that arrived since the last call, at least one byte),
    /// waiting at most `timeout` (`None`: until there is some; keepalives go out meanwhile).
    /// `Ok(None)` once the console has ended (a clean close, a dropped connection or
    /// [`Console::close`]); an error when it failed (a protocol error, an oversized frame),
    /// or a timeout whose [`Error::is_timeout`] is true (the console stays open). One reader
    /// at a time.
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(console: &Console) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// while let Some(bytes) = console.recv(Some(Duration::from_secs(5))).await? {
    ///     print!("{}", String::from_utf8_lossy(&bytes));
    /// }
    /// println!("ended: {:?}", console.closed());
    /// # Ok(()) }
    /// ```
    pub async fn recv(&self, timeout: Option<Duration>) -> Result<Option<Vec<u8>>, Error> {
        let deadline = timeout.map(Deadline::new);
        let r = std::future::poll_fn(|cx| {
            let Ok(mut st) = self.shared.state.try_borrow_mut() else {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            };
            if !st.output.is_empty() {
                let bytes: Vec<u8> = st.output.drain(..).flatten().collect();
                return Poll::Ready(Some(Ok(Some(bytes))));
            }
            match &st.end {
                Some(Ok(_)) => Poll::Ready(Some(Ok(None))),
                Some(Err(e)) => Poll::Ready(Some(Err(e.clone()))),
                None => {
                    st.waker = Some(cx.waker().clone());
                    drop(st);
                    match &deadline {
                        Some(d) => d.poll(cx).map(|()| None),
                        None => Poll::Pending,
                    }
                }
            }
        })
        .await;
        match r {
            Some(r) => r.map_err(|e| self.error(e)),
            None => Err(self
                .info
                .no_output_within(timeout.unwrap_or_default())
                .into()),
        }
    }

    /// Output until `needle` appears (included), waiting at most `timeout` in all: for
    /// scripted sessions (wait for a prompt, then type). What came after `needle` stays for
    /// the next read.
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(console: &Console) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// console.send(b"echo done\n")?;
    /// let out = console.read_until(b"done\r\n", Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn read_until(&self, needle: &[u8], timeout: Duration) -> Result<Vec<u8>, Error> {
        let started = self.shared.client.flow_now().mono;
        let mut got = Vec::new();
        loop {
            if let Some(found) = proxmox_proto::console::termproxy::split_after(&mut got, needle) {
                self.unread(got);
                return Ok(found);
            }
            let left = timeout.saturating_sub(self.shared.client.flow_now().mono.since(started));
            match self.recv(Some(left)).await {
                Ok(Some(bytes)) => got.extend_from_slice(&bytes),
                Ok(None) => {
                    self.unread(got);
                    return Err(self.error(ConsoleError::EndedBefore {
                        needle: String::from_utf8_lossy(needle).into_owned(),
                    }));
                }
                Err(e) => {
                    self.unread(got);
                    return Err(e);
                }
            }
        }
    }

    /// Put `bytes` back in front of the output.
    fn unread(&self, bytes: Vec<u8>) {
        if !bytes.is_empty()
            && let Ok(mut st) = self.shared.state.try_borrow_mut()
        {
            st.output.push_front(bytes);
        }
    }

    /// Type `data` (a terminal's input, or RFB bytes for VNC); fails once the console has
    /// ended.
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(console: &Console) -> Result<(), Box<dyn std::error::Error>> {
    /// console.send(b"echo hi\n")?;
    /// # Ok(()) }
    /// ```
    pub fn send(&self, data: &[u8]) -> Result<(), Error> {
        self.shared
            .with_session(|s, now| s.send(data, now))
            .map_err(|e| self.error(e))
    }

    /// Tell the terminal its new size (ignored for VNC); fails once the console has ended.
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(console: &Console) -> Result<(), Box<dyn std::error::Error>> {
    /// console.resize(100, 30)?;
    /// # Ok(()) }
    /// ```
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), Error> {
        self.shared
            .with_session(|s, now| s.resize(cols, rows, now))
            .map_err(|e| self.error(e))
    }

    /// Close the console (WebSocket close 1000); [`Console::recv`] then returns `None`.
    /// Closing twice does nothing.
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(console: &Console) -> Result<(), Box<dyn std::error::Error>> {
    /// console.close();
    /// assert!(console.closed().is_some_and(|c| c.by_client));
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        let _ = self.shared.with_session(|s, now| {
            s.close(now);
            Ok(())
        });
    }

    /// How the console ended, once it has (`None` while it runs, or when it failed: then
    /// [`Console::recv`] returns the error).
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(console: &Console) -> Result<(), Box<dyn std::error::Error>> {
    /// if let Some(c) = console.closed() {
    ///     println!("closed with {:?} (clean: {})", c.code, c.clean);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn closed(&self) -> Option<Closed> {
        match self.shared.state.try_borrow() {
            Ok(st) => st.end.clone().and_then(Result::ok),
            Err(_) => None,
        }
    }

    /// Whether the console has ended (closed or failed).
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(console: &Console) -> Result<(), Box<dyn std::error::Error>> {
    /// if !console.is_closed() {
    ///     console.send(b"exit\n")?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared
            .state
            .try_borrow()
            .is_ok_and(|st| st.end.is_some())
    }

    /// Called (outside any borrow) whenever output or the end arrives.
    pub(crate) fn set_listener(&self, listener: Option<Rc<dyn Fn()>>) {
        if let Ok(mut st) = self.shared.state.try_borrow_mut() {
            st.listener = listener;
        }
    }

    /// Everything queued for [`Console::recv`], taken.
    pub(crate) fn take_output(&self) -> Vec<u8> {
        match self.shared.state.try_borrow_mut() {
            Ok(mut st) => st.output.drain(..).flatten().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// How it ended, if it has.
    pub(crate) fn end(&self) -> Option<Result<Closed, Error>> {
        let end = match self.shared.state.try_borrow() {
            Ok(st) => st.end.clone(),
            Err(_) => None,
        };
        end.map(|r| r.map_err(|e| self.error(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_are_percent_encoded() {
        assert_eq!(
            percent_encode("PVE:root@pam:65000000::a+b/c="),
            "PVE%3Aroot%40pam%3A65000000%3A%3Aa%2Bb%2Fc%3D"
        );
        assert_eq!(percent_encode("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn websocket_urls() {
        assert_eq!(
            websocket_url("https://pve1:8006/api2/json/x?port=1").unwrap(),
            "wss://pve1:8006/api2/json/x?port=1"
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:9/x").unwrap(),
            "ws://127.0.0.1:9/x"
        );
        assert!(websocket_url("ftp://x/y").is_err());
    }
}
