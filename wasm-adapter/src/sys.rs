//! The JavaScript environment: the global `fetch`, `setTimeout`, `Date.now()` and
//! `crypto.getRandomValues`, all looked up on the global object so that the same code runs in a
//! window, a worker and node.

use crate::{Error, RawResponse};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use std::time::Duration;
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

fn js_message(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        let mut m = String::from(e.message());
        // Node puts the real reason (ECONNREFUSED, certificate errors) into `cause`.
        if let Ok(cause) = Reflect::get(e, &"cause".into())
            && !cause.is_undefined()
            && !cause.is_null()
        {
            m.push_str(": ");
            m.push_str(&js_message(&cause));
        }
        return m;
    }
    v.as_string()
        .or_else(|| js_sys::JSON::stringify(v).ok().and_then(|s| s.as_string()))
        .unwrap_or_else(|| "unknown JavaScript error".to_owned())
}

fn global_fn(name: &str) -> Result<Function, Error> {
    Reflect::get(&global(), &name.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| Error::Transport {
            message: format!("this JavaScript environment has no global {name}()"),
            may_have_been_sent: false,
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

/// `fetch(url, {method, headers, body})` and read the whole answer.
pub(crate) async fn fetch(
    method: &str,
    url: &str,
    headers: &http::HeaderMap,
    body: Option<&JsValue>,
    body_limit: u64,
) -> Result<RawResponse, Error> {
    let not_sent = |message: String| Error::Transport {
        message,
        may_have_been_sent: false,
    };
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
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&h);
    if let Some(b) = body {
        init.set_body(b);
    }
    // Never follow redirects silently: the API does not redirect.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let promise = fetch
        .call2(&global(), &JsValue::from_str(url), &init)
        .map_err(|e| not_sent(js_message(&e)))?;
    let promise: Promise = promise
        .dyn_into()
        .map_err(|_| not_sent("fetch() did not return a Promise".into()))?;
    // A rejected fetch does not say how far the request got.
    let resp = JsFuture::from(promise)
        .await
        .map_err(|e| Error::Transport {
            message: js_message(&e),
            may_have_been_sent: true,
        })?;
    let resp: web_sys::Response = resp.unchecked_into();
    let status = resp.status();
    let reason = Some(resp.status_text()).filter(|s| !s.is_empty());
    let too_large = |size: u64| {
        Error::Proto(
            proxmox_proto::ProtocolError::BodyTooLarge {
                size,
                limit: body_limit,
            }
            .into(),
        )
    };
    if let Ok(Some(len)) = resp.headers().get("content-length")
        && let Ok(len) = len.trim().parse::<u64>()
        && len > body_limit
    {
        return Err(too_large(len));
    }
    let read_err = |e: JsValue| Error::Transport {
        message: format!("reading the response body: {}", js_message(&e)),
        may_have_been_sent: true,
    };
    let buf = JsFuture::from(resp.array_buffer().map_err(read_err)?)
        .await
        .map_err(read_err)?;
    let bytes = Uint8Array::new(&buf);
    if u64::from(bytes.length()) > body_limit {
        return Err(too_large(u64::from(bytes.length())));
    }
    Ok(RawResponse {
        status,
        reason,
        body: bytes.to_vec(),
    })
}

/// A Blob of `parts` (Uint8Arrays and Blobs), which the browser streams as a request body.
pub(crate) fn blob_of(parts: &[JsValue]) -> Result<web_sys::Blob, Error> {
    let arr = Array::new();
    for p in parts {
        arr.push(p);
    }
    web_sys::Blob::new_with_blob_sequence(&arr).map_err(|e| Error::Transport {
        message: format!("building the upload body: {}", js_message(&e)),
        may_have_been_sent: false,
    })
}

/// The bytes of `blob[start..end]`.
pub(crate) async fn read_slice(
    blob: &web_sys::Blob,
    start: f64,
    end: f64,
) -> Result<Vec<u8>, Error> {
    let err = |e: JsValue| Error::Transport {
        message: format!("reading the file: {}", js_message(&e)),
        may_have_been_sent: false,
    };
    let part = blob.slice_with_f64_and_f64(start, end).map_err(err)?;
    let buf = JsFuture::from(part.array_buffer()).await.map_err(err)?;
    Ok(Uint8Array::new(&buf).to_vec())
}
