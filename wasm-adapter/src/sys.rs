//! The JavaScript environment: the global `fetch`, `AbortController`, `setTimeout`,
//! `clearTimeout`, `Date.now()` and `crypto.getRandomValues`, all looked up on the global object
//! so that the same code runs in a window, a worker and node.

use crate::RawResponse;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use proxmox_proto::flow::TransportFailure;
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Headers the browser sets itself (or forbids scripts to set); they are not copied into the
/// `fetch` call. `Content-Length` comes from the body (a Blob has a known size).
const BROWSER_OWNED: [&str; 5] = [
    "content-length",
    "user-agent",
    "accept-encoding",
    "host",
    "connection",
];

fn global() -> Object {
    js_sys::global()
}

/// What a JavaScript error says, with control characters (which may come from the server,
/// e.g. in an HTTP parser's complaint about a status line) replaced by U+FFFD.
fn js_message(v: &JsValue) -> String {
    js_message_raw(v)
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn js_message_raw(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        let mut m = String::from(e.message());
        // Node puts the real reason (ECONNREFUSED, certificate errors) into `cause`.
        if let Ok(cause) = Reflect::get(e, &"cause".into())
            && !cause.is_undefined()
            && !cause.is_null()
        {
            m.push_str(": ");
            m.push_str(&js_message_raw(&cause));
        }
        return m;
    }
    v.as_string()
        .or_else(|| js_sys::JSON::stringify(v).ok().and_then(|s| s.as_string()))
        .unwrap_or_else(|| "unknown JavaScript error".to_owned())
}

fn global_fn(name: &str) -> Result<Function, TransportFailure> {
    Reflect::get(&global(), &name.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| {
            TransportFailure::not_sent(format!(
                "this JavaScript environment has no global {name}()"
            ))
        })
}

/// Milliseconds since the Unix epoch from `Date.now()`.
pub(crate) fn now() -> Duration {
    let ms = js_sys::Date::now();
    if ms.is_finite() && ms > 0.0 {
        Duration::from_millis(ms as u64)
    } else {
        Duration::ZERO
    }
}

/// `setTimeout(callback, d)`: the timer's handle, or `None` without a working `setTimeout`.
pub(crate) fn set_timeout(callback: &Function, d: Duration) -> Option<JsValue> {
    // setTimeout takes a signed 32-bit delay; larger values fire at once.
    let ms = d.as_millis().min(i32::MAX as u128) as i32;
    global_fn("setTimeout")
        .ok()?
        .call2(&JsValue::UNDEFINED, callback, &JsValue::from(ms))
        .ok()
}

/// `clearTimeout(handle)`.
pub(crate) fn clear_timeout(handle: &JsValue) {
    if let Ok(f) = global_fn("clearTimeout") {
        let _ = f.call1(&JsValue::UNDEFINED, handle);
    }
}

/// Sleep on the JavaScript event loop (`setTimeout` wrapped in a Promise).
pub(crate) async fn sleep(d: Duration) {
    let ms = d.as_millis().min(i32::MAX as u128) as i32;
    let Ok(set_timeout) = global_fn("setTimeout") else {
        return;
    };
    let p = Promise::new(&mut |resolve, _reject| {
        let _ = set_timeout.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from(ms));
    });
    let _ = JsFuture::from(p).await;
}

/// Wait for whichever of two futures ends first (the other is dropped).
pub(crate) async fn first_of(a: impl Future<Output = ()>, b: impl Future<Output = ()>) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

/// 16 random bytes from `crypto.getRandomValues` (window, worker, node 19+), or from
/// `Math.random` where there is no Web Crypto (only the multipart boundary uses them).
pub(crate) fn random16() -> [u8; 16] {
    let buf = Uint8Array::new_with_length(16);
    let filled = Reflect::get(&global(), &"crypto".into())
        .ok()
        .filter(|c| c.is_object())
        .and_then(|c| {
            let f = Reflect::get(&c, &"getRandomValues".into())
                .ok()?
                .dyn_into::<Function>()
                .ok()?;
            f.call1(&c, &buf).ok()
        })
        .is_some();
    let mut out = [0u8; 16];
    if filled {
        buf.copy_to(&mut out);
    } else {
        for b in &mut out {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    out
}

/// Time limits of one exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// From calling `fetch` to the response head (connect + read timeout); `None` for uploads,
    /// whose time to the head includes sending the file, which `fetch` does not report.
    pub(crate) head: Option<Duration>,
    /// Each wait for a chunk of the response body.
    pub(crate) read: Duration,
}

fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// An `AbortController` for one exchange, and a `setTimeout` timer that aborts it. Dropped
/// before the exchange finished (the future was cancelled, or the body is refused), it aborts
/// the exchange, so the browser closes the connection instead of downloading on.
struct Abort {
    controller: web_sys::AbortController,
    fired: Rc<Cell<bool>>,
    on_timer: Closure<dyn FnMut()>,
    timer: Option<JsValue>,
    set_timeout: Function,
    clear_timeout: Function,
    finished: bool,
}

impl Abort {
    fn new() -> Result<Self, TransportFailure> {
        let ctor = global_fn("AbortController")?;
        let controller: web_sys::AbortController = Reflect::construct(&ctor, &Array::new())
            .map_err(|e| {
                TransportFailure::not_sent(format!("new AbortController(): {}", js_message(&e)))
            })?
            .unchecked_into();
        let fired = Rc::new(Cell::new(false));
        let on_timer = {
            let (controller, fired) = (controller.clone(), Rc::clone(&fired));
            Closure::new(move || {
                fired.set(true);
                controller.abort();
            })
        };
        Ok(Self {
            controller,
            fired,
            on_timer,
            timer: None,
            set_timeout: global_fn("setTimeout")?,
            clear_timeout: global_fn("clearTimeout")?,
            finished: false,
        })
    }

    fn signal(&self) -> web_sys::AbortSignal {
        self.controller.signal()
    }

    /// Abort after `d` unless disarmed first. Without a working `setTimeout`, nothing is armed
    /// and the wait is unbounded.
    fn arm(&mut self, d: Duration) {
        self.disarm();
        // setTimeout takes a signed 32-bit delay; larger values fire at once.
        let ms = d.as_millis().clamp(1, i32::MAX as u128) as i32;
        self.timer = self
            .set_timeout
            .call2(
                &JsValue::UNDEFINED,
                self.on_timer.as_ref(),
                &JsValue::from(ms),
            )
            .ok();
    }

    fn disarm(&mut self) {
        if let Some(t) = self.timer.take() {
            let _ = self.clear_timeout.call1(&JsValue::UNDEFINED, &t);
        }
    }

    fn fired(&self) -> bool {
        self.fired.get()
    }
}

impl Drop for Abort {
    fn drop(&mut self) {
        // The timer must not fire once the closure is gone.
        self.disarm();
        if !self.finished {
            self.controller.abort();
        }
    }
}

/// `fetch(url, {method, headers, body, signal, redirect: "manual"})` and read the body as a
/// stream, counting: more than `body_limit` bytes is [`ProtocolError::BodyTooLarge`]
/// (`proxmox_proto::ProtocolError`) at once, without reading on. `timeouts` bound the wait for
/// the head and for every body chunk.
pub(crate) async fn fetch(
    method: &str,
    url: &str,
    headers: &http::HeaderMap,
    body: Option<&JsValue>,
    body_limit: u64,
    timeouts: Timeouts,
) -> Result<RawResponse, TransportFailure> {
    let not_sent = |message: String| TransportFailure::not_sent(message);
    let fetch = global_fn("fetch")?;
    let h = web_sys::Headers::new().map_err(|e| not_sent(js_message(&e)))?;
    for (name, value) in headers {
        if BROWSER_OWNED.contains(&name.as_str()) {
            continue;
        }
        let value = value
            .to_str()
            .map_err(|_| not_sent(format!("header {name} is not visible ASCII")))?;
        h.append(name.as_str(), value)
            .map_err(|e| not_sent(js_message(&e)))?;
    }
    let mut abort = Abort::new()?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&h);
    if let Some(b) = body {
        init.set_body(b);
    }
    init.set_signal(Some(&abort.signal()));
    // Never follow a redirect: the API does not redirect, and a redirect to another host must
    // not receive the request (or its credentials). "manual" rather than "error": a browser
    // then hands back an opaque-redirect answer that can be named as such (with "error" it
    // would be an anonymous network error), and node hands back the 3xx itself.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let promise = fetch
        .call2(&global(), &JsValue::from_str(url), &init)
        .map_err(|e| not_sent(js_message(&e)))?;
    let promise: Promise = promise
        .dyn_into()
        .map_err(|_| not_sent("fetch() did not return a Promise".into()))?;
    if let Some(t) = timeouts.head {
        abort.arm(t);
    }
    let resp = JsFuture::from(promise).await;
    abort.disarm();
    // A rejected fetch does not say how far the request got.
    let resp = resp.map_err(|e| match timeouts.head {
        Some(t) if abort.fired() => {
            TransportFailure::maybe_sent(format!("no response head within {}", seconds(t)))
                .timed_out()
        }
        _ => TransportFailure::maybe_sent(js_message(&e)),
    })?;
    let resp: web_sys::Response = resp.unchecked_into();
    if resp.type_() == web_sys::ResponseType::Opaqueredirect {
        return Err(TransportFailure::refused(
            proxmox_proto::ProtocolError::Malformed {
                what: "response",
                detail: "the server answered with a redirect, which is not followed (the \
                         browser hides its status and target)"
                    .into(),
            },
        ));
    }
    let status = resp.status();
    let reason = Some(resp.status_text()).filter(|s| !s.is_empty());
    let too_large = |size: u64| {
        TransportFailure::refused(proxmox_proto::ProtocolError::BodyTooLarge {
            size,
            limit: body_limit,
        })
    };
    // fetch decodes a Content-Encoding itself; the declared length is then the encoded one.
    let encoded = !matches!(resp.headers().get("content-encoding"), Ok(None));
    let declared = match resp.headers().get("content-length") {
        Ok(Some(len)) => len.trim().parse::<u64>().ok(),
        _ => None,
    };
    let capacity = proxmox_proto::response::body_capacity(declared, encoded, body_limit)
        .map_err(TransportFailure::refused)?;
    let mut bytes = Vec::with_capacity(capacity);
    if let Some(stream) = resp.body() {
        let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
        loop {
            abort.arm(timeouts.read);
            let next = JsFuture::from(reader.read()).await;
            abort.disarm();
            let next = next.map_err(|e| {
                let f = TransportFailure::maybe_sent(if abort.fired() {
                    format!("no response body data within {}", seconds(timeouts.read))
                } else {
                    format!("reading the response body: {}", js_message(&e))
                });
                if abort.fired() { f.timed_out() } else { f }
            })?;
            if Reflect::get(&next, &"done".into()).is_ok_and(|d| d.is_truthy()) {
                break;
            }
            let chunk: Uint8Array = Reflect::get(&next, &"value".into())
                .ok()
                .and_then(|v| v.dyn_into().ok())
                .ok_or_else(|| {
                    TransportFailure::maybe_sent(
                        "the response body stream gave something else than bytes",
                    )
                })?;
            let size = bytes.len() as u64 + u64::from(chunk.length());
            if size > body_limit {
                // Dropping `abort` unfinished aborts the download.
                return Err(too_large(size));
            }
            let start = bytes.len();
            bytes.resize(start + chunk.length() as usize, 0);
            if let Some(dst) = bytes.get_mut(start..) {
                chunk.copy_to(dst);
            }
        }
    }
    abort.finished = true;
    Ok(RawResponse {
        status,
        reason,
        body: bytes,
        // One fetch: the call flow counts attempts.
        attempts: 1,
    })
}

/// A Blob of `parts` (Uint8Arrays and Blobs), which the browser streams as a request body.
pub(crate) fn blob_of(parts: &[JsValue]) -> Result<web_sys::Blob, TransportFailure> {
    let arr = Array::new();
    for p in parts {
        arr.push(p);
    }
    web_sys::Blob::new_with_blob_sequence(&arr).map_err(|e| {
        TransportFailure::not_sent(format!("building the upload body: {}", js_message(&e)))
    })
}

/// The bytes of `blob[start..end]`.
pub(crate) async fn read_slice(
    blob: &web_sys::Blob,
    start: f64,
    end: f64,
) -> Result<Vec<u8>, TransportFailure> {
    let err =
        |e: JsValue| TransportFailure::not_sent(format!("reading the file: {}", js_message(&e)));
    let part = blob.slice_with_f64_and_f64(start, end).map_err(err)?;
    let buf = JsFuture::from(part.array_buffer()).await.map_err(err)?;
    Ok(Uint8Array::new(&buf).to_vec())
}
