//! Consoles against the simulator's termproxy and its fake shell (prompt `root@pve1:~# `,
//! `echo`, `stty size`, `exit`, `drop`), under node (undici's WebSocket, the ticket cookie in
//! a `Cookie` header) and in Chromium (the ticket cookie set on the page's origin).
//! `tests/browser.rs` checks the simulator's console records after the Chromium run
//! (keepalives, sizes, how each session ended).

use super::{get, js, js_val, options, origin, sleep_ms, token_client};
use proxmox_proto::capability::Capability;
use proxmox_wasm::js::ProxmoxClient;
use proxmox_wasm::{Client, Console, ConsoleTarget, Error};
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

const PROMPT: &str = "root@pve1:~# ";

fn password_client() -> Client {
    Client::builder(&origin())
        .password("root@pam", "secret")
        .build()
        .unwrap()
}

fn node() -> ConsoleTarget {
    ConsoleTarget::Node("pve1".into())
}

const WAIT: Duration = Duration::from_secs(5);

/// Output until `needle`, as text.
async fn read_until(con: &Console, needle: &str) -> String {
    match con.read_until(needle.as_bytes(), WAIT).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => panic!("waiting for {needle:?}: {e}"),
    }
}

/// Read until the console ends.
async fn read_to_end(con: &Console) {
    while let Some(bytes) = con.recv(Some(WAIT)).await.unwrap() {
        let _ = bytes;
    }
}

#[wasm_bindgen_test]
async fn console_echo_resize_keepalive_and_clean_close() {
    let c = password_client();
    let con = c
        .console(node())
        .size(100, 30)
        .keepalive(Some(Duration::from_millis(150)))
        .build()
        .await
        .unwrap();
    assert!(con.password().is_none());
    assert_eq!(con.ticket().user, "root@pam");
    assert!(!format!("{con:?}").contains("PVEVNC"), "{con:?}");
    read_until(&con, PROMPT).await;
    con.send(b"echo hi\n").unwrap();
    let out = read_until(&con, PROMPT).await;
    assert!(out.contains("echo hi\r\nhi\r\n"), "{out:?}");
    // The size from the builder went out right after OK.
    con.send(b"stty size\n").unwrap();
    read_until(&con, "\r\n30 100\r\n").await;
    con.resize(120, 40).unwrap();
    con.send(b"stty size\n").unwrap();
    read_until(&con, "\r\n40 120\r\n").await;
    read_until(&con, PROMPT).await;
    // Nothing to read: a timeout, and the console stays open.
    let e = con
        .recv(Some(Duration::from_millis(400)))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(!con.is_closed());
    // Meanwhile keepalives (every 150 ms here) went out: tests/browser.rs counts them.
    con.close();
    assert!(con.is_closed());
    read_to_end(&con).await;
    let closed = con.closed().expect("closed");
    assert!(closed.by_client && closed.clean, "{closed:?}");
    let e = con.send(b"late\n").unwrap_err();
    assert!(
        matches!(&e, Error::Proto(proxmox_proto::Error::Console(_))),
        "{e:?}"
    );
}

#[wasm_bindgen_test]
async fn console_server_drop_mid_stream_and_exit() {
    let c = password_client();
    // `drop`: the connection is cut without a close frame.
    let con = c.console(node()).build().await.unwrap();
    read_until(&con, PROMPT).await;
    con.send(b"drop\n").unwrap();
    read_to_end(&con).await;
    let closed = con.closed().expect("ended");
    assert!(!closed.clean && !closed.by_client, "{closed:?}");
    assert!(con.send(b"x").is_err());
    // `exit`: the server closes with 1000.
    let con = c.console(node()).build().await.unwrap();
    read_until(&con, PROMPT).await;
    con.send(b"exit\n").unwrap();
    let e = con.read_until(b"never", WAIT).await.unwrap_err();
    assert!(e.to_string().contains("never"), "{e}");
    let closed = con.closed().expect("ended");
    assert_eq!(closed.code, Some(1000), "{closed:?}");
    assert!(closed.clean && !closed.by_client, "{closed:?}");
}

#[wasm_bindgen_test]
async fn console_with_a_token_is_refused_at_build() {
    let e = token_client().console(node()).build().await.unwrap_err();
    let Error::Unsupported(u) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(u.capability, Capability::Console);
    assert!(!e.may_have_been_sent());
    assert!(e.to_string().contains("password()"), "{e}");
}

/// Call the JS method `name` of `obj` with `args`.
fn call(obj: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = get(obj, name).into();
    let a = js_sys::Array::new();
    for v in args {
        a.push(v);
    }
    f.apply(obj, &a)
}

#[wasm_bindgen_test]
async fn js_api_console_output_resize_and_close() {
    let c = ProxmoxClient::new(options(
        json!({"username": "root@pam", "password": "secret"}),
    ))
    .unwrap();
    let con =
        js(c.console(js_val(json!({"node": "pve1", "cols": 90, "rows": 25})).unchecked_into()))
            .await
            .unwrap();
    let screen = Rc::new(RefCell::new(String::new()));
    let s = Rc::clone(&screen);
    let on_output = Closure::<dyn FnMut(js_sys::Uint8Array)>::new(move |b: js_sys::Uint8Array| {
        s.borrow_mut()
            .push_str(&String::from_utf8_lossy(&b.to_vec()));
    });
    let ended = Rc::new(RefCell::new(None::<JsValue>));
    let e2 = Rc::clone(&ended);
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |info: JsValue| {
        *e2.borrow_mut() = Some(info);
    });
    call(&con, "onOutput", &[on_output.as_ref().clone()]).unwrap();
    call(&con, "onClose", &[on_close.as_ref().clone()]).unwrap();
    let wait_for = |needle: &'static str| {
        let screen = Rc::clone(&screen);
        async move {
            for _ in 0..100 {
                if screen.borrow().contains(needle) {
                    return;
                }
                sleep_ms(50).await;
            }
            panic!("no {needle:?} on {:?}", screen.borrow());
        }
    };
    wait_for(PROMPT).await;
    call(&con, "send", &["echo js\n".into()]).unwrap();
    wait_for("\r\njs\r\n").await;
    call(
        &con,
        "send",
        &[js_sys::Uint8Array::from(&b"stty size\n"[..]).into()],
    )
    .unwrap();
    wait_for("\r\n25 90\r\n").await;
    call(&con, "resize", &[JsValue::from(132), JsValue::from(43)]).unwrap();
    call(&con, "send", &["stty size\n".into()]).unwrap();
    wait_for("\r\n43 132\r\n").await;
    // A wrong argument throws a ProxmoxError.
    let e = call(&con, "send", &[JsValue::from(5)]).unwrap_err();
    assert_eq!(get(&e, "kind"), "config");
    call(&con, "close", &[]).unwrap();
    for _ in 0..100 {
        if ended.borrow().is_some() {
            break;
        }
        sleep_ms(20).await;
    }
    let info = ended.borrow().clone().expect("onClose was called");
    assert_eq!(get(&info, "byClient"), true);
    assert_eq!(get(&info, "clean"), true);
    // Nothing more comes: recv() resolves null.
    assert!(
        js(call(&con, "recv", &[JsValue::from(1000)])
            .unwrap()
            .unchecked_into())
        .await
        .unwrap()
        .is_null()
    );
    assert_eq!(
        get(&call(&con, "send", &["x".into()]).unwrap_err(), "kind"),
        "console"
    );

    // A token client is refused with kind "unsupported".
    let t = ProxmoxClient::new(options(
        json!({"tokenId": super::TOKEN_ID, "tokenSecret": super::TOKEN_SECRET}),
    ))
    .unwrap();
    let e = js(t.console(js_val(json!({"node": "pve1"})).unchecked_into()))
        .await
        .unwrap_err();
    assert_eq!(get(&e, "kind"), "unsupported");
}
