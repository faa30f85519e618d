//! The client over a transport of the test's own (no network, no feature needed): the
//! `Transport` trait is all a runtime needs to provide.

use bytes::Bytes;
use futures_util::StreamExt;
use proxmox_async::transport::{BoxFuture, UploadStream};
use proxmox_async::{Client, Error, RequestBody, Transport, TransportError, TransportResponse};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers from a script and records what was sent.
#[derive(Default)]
struct Scripted {
    answers: Mutex<Vec<(u16, &'static str)>>,
    seen: Mutex<Vec<(String, String, Option<String>)>>,
}

impl Transport for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn send(
        &self,
        request: http::Request<RequestBody>,
    ) -> BoxFuture<'static, Result<TransportResponse, TransportError>> {
        self.seen.lock().unwrap().push((
            request.method().to_string(),
            request.uri().to_string(),
            request
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned()),
        ));
        let next = self.answers.lock().unwrap().pop();
        Box::pin(async move {
            let (status, body) = next.ok_or_else(|| TransportError::not_sent("no answer left"))?;
            Ok(TransportResponse {
                status,
                reason: Some("custom reason".into()),
                headers: http::HeaderMap::new(),
                body: futures_util::stream::iter(vec![Ok(Bytes::from_static(body.as_bytes()))])
                    .boxed(),
            })
        })
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async_std::task::sleep(duration))
    }

    fn open_file(&self, _: &Path) -> BoxFuture<'static, std::io::Result<(u64, UploadStream)>> {
        Box::pin(async { Err(std::io::Error::other("no files here")) })
    }
}

#[test]
fn a_custom_transport_carries_the_whole_client() {
    let t = Arc::new(Scripted::default());
    // Popped from the end: the second call's answer first.
    *t.answers.lock().unwrap() = vec![
        (
            403,
            r#"{"data":null,"message":"Permission check failed\n"}"#,
        ),
        (200, r#"{"data":{"version":"9.0"}}"#),
    ];
    let c = Client::builder("pve1.example.com")
        .api_token("root@pam!ci", "s3cret")
        .build_with_transport(t.clone())
        .unwrap();
    assert_eq!(c.transport_name(), "scripted");
    let v: serde_json::Value = async_std::task::block_on(c.get("version")).unwrap();
    assert_eq!(v["version"], "9.0");
    let e = async_std::task::block_on(c.get::<serde_json::Value>("nodes")).unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(api.status, 403);
    assert_eq!(api.class, proxmox_proto::ErrorClass::Forbidden);
    assert!(api.summary().contains("Permission check failed"));
    let seen = t.seen.lock().unwrap().clone();
    assert_eq!(seen[0].1, "https://pve1.example.com:8006/api2/json/version");
    assert_eq!(seen[0].2.as_deref(), Some("PVEAPIToken=root@pam!ci=s3cret"));
    // The secret never shows in Debug output.
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn tls_options_belong_to_the_transport() {
    let e = Client::builder("pve1")
        .api_token("root@pam!ci", "x")
        .danger_accept_invalid_certs()
        .build_with_transport(Arc::new(Scripted::default()))
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    for b in [
        Client::builder("pve1").proxy("http://proxy:3128"),
        Client::builder("pve1").proxy_from_env(),
        Client::builder("pve1").fingerprint(&format!("{}AB", "AB:".repeat(31))),
    ] {
        let e = b
            .api_token("root@pam!ci", "x")
            .build_with_transport(Arc::new(Scripted::default()))
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
    }
    // Without TLS or proxy options the same builder is fine.
    assert!(
        Client::builder("pve1")
            .api_token("root@pam!ci", "x")
            .build_with_transport(Arc::new(Scripted::default()))
            .is_ok()
    );
}
