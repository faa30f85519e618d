//! Consoles through proxmox-async against the simulator: hyper and reqwest hand the upgraded
//! connection over (a command and its output, resize, keepalive, close, exit, a dropped
//! connection, an oversized frame, tokens on old servers, VNC's password); surf refuses at
//! `build()`.
#![cfg(any(feature = "hyper", feature = "reqwest", feature = "surf"))]

use proxmox_async::{Backend, Client, ConsoleTarget, Error};
use proxmox_proto::console::ConsoleError;
use proxmox_sim::{Config, ConsoleEnd, Service as SimService, Simulator};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn sim() -> Simulator {
    let sim = Simulator::start(Config::new(SimService::Pve)).expect("simulator starts");
    sim.set_console_failure_delay(Duration::from_millis(100));
    sim
}

fn client(sim: &Simulator, backend: Backend, token: bool) -> Client {
    let b = Client::builder(&sim.url())
        .backend(backend)
        .ca_pem(sim.ca_pem().as_bytes())
        .timeout(Duration::from_secs(10));
    let b = if token {
        b.api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
    } else {
        b.password(proxmox_sim::ROOT_USER, proxmox_sim::ROOT_PASSWORD)
    };
    b.build().expect("builds")
}

fn console_error(e: &Error) -> Option<&ConsoleError> {
    match e {
        Error::Proto(proxmox_proto::Error::Console(f)) => Some(&f.error),
        _ => None,
    }
}

/// The simulator's record of session `i` once the simulator has seen it end (its thread
/// writes the end just after the client has returned).
fn ended(sim: &Simulator, i: usize) -> proxmox_sim::ConsoleRecord {
    for _ in 0..200 {
        let recs = sim.console_sessions();
        if recs.get(i).is_some_and(|r| r.ended != ConsoleEnd::Open) {
            return recs[i].clone();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("session {i} did not end: {:?}", sim.console_sessions());
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(any(feature = "hyper", feature = "reqwest"))]
fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A shell: command and output, the size sent after login and a resize, keepalives while a
/// reader waits, output read as a stream by one task while another types, close.
#[cfg(any(feature = "hyper", feature = "reqwest"))]
async fn shell_session(backend: Backend) {
    use futures_util::StreamExt;
    let sim = sim();
    let client = client(&sim, backend, false);
    let shell = std::sync::Arc::new(
        client
            .console(ConsoleTarget::Node("pve1".into()))
            .size(100, 30)
            .keepalive(Some(Duration::from_millis(150)))
            .build()
            .await
            .expect("console opens"),
    );
    assert!(!format!("{shell:?}").contains("PVEVNC"));
    shell.read_until(b"root@pve1:~# ", WAIT).await.unwrap();
    shell.send(b"echo hi there\r").await.unwrap();
    let out = shell.read_until(b"root@pve1:~# ", WAIT).await.unwrap();
    assert_eq!(text(&out), "echo hi there\r\nhi there\r\nroot@pve1:~# ");
    shell.send(b"stty size\r").await.unwrap();
    let out = shell.read_until(b"root@pve1:~# ", WAIT).await.unwrap();
    assert!(text(&out).contains("\r\n30 100\r\n"), "{}", text(&out));
    shell.resize(132, 43).await.unwrap();
    let quiet = shell
        .recv(Some(Duration::from_millis(700)))
        .await
        .unwrap_err();
    assert!(quiet.is_timeout(), "{quiet}");
    // One task reads the output as a stream; this one types.
    let reader = {
        let shell = shell.clone();
        tokio::spawn(async move {
            let mut all = Vec::new();
            let mut out = std::pin::pin!(shell.output());
            while let Some(chunk) = out.next().await {
                all.extend(chunk.expect("output"));
                if text(&all).contains("43 132\r\n") {
                    break;
                }
            }
            all
        })
    };
    shell.send(b"stty size\r").await.unwrap();
    let all = tokio::time::timeout(WAIT, reader).await.unwrap().unwrap();
    assert!(text(&all).contains("43 132"), "{}", text(&all));
    shell.close().await.expect("closes");
    assert!(shell.is_closed());
    let rec = &ended(&sim, 0);
    assert!(rec.keepalives >= 3, "keepalives: {}", rec.keepalives);
    assert_eq!(rec.size, Some((132, 43)));
    assert_eq!(rec.ended, ConsoleEnd::ClientClose(Some(1000)));
}

/// A guest console with a token: `exit` ends it; a dropped connection ends it; an oversized
/// frame is refused; an old server's refusal of tokens is the typed error.
#[cfg(any(feature = "hyper", feature = "reqwest"))]
async fn endings(backend: Backend) {
    let sim = sim();
    let client = client(&sim, backend, true);
    let guest = ConsoleTarget::Qemu {
        node: "pve1".into(),
        vmid: 100,
    };
    let shell = client.console(guest.clone()).build().await.unwrap();
    shell.read_until(b"root@web1:~# ", WAIT).await.unwrap();
    shell.send(b"exit\r").await.unwrap();
    while shell.recv(Some(WAIT)).await.unwrap().is_some() {}
    assert!(shell.is_closed());
    assert!(console_error(&shell.send(b"x").await.unwrap_err()).is_some());

    let shell = client
        .console(ConsoleTarget::Node("pve1".into()))
        .build()
        .await
        .unwrap();
    shell.read_until(b"# ", WAIT).await.unwrap();
    shell.send(b"drop\r").await.unwrap();
    while shell.recv(Some(WAIT)).await.expect("no error").is_some() {}

    let shell = client
        .console(ConsoleTarget::Node("pve1".into()))
        .build()
        .await
        .unwrap();
    shell.read_until(b"# ", WAIT).await.unwrap();
    shell.send(b"oversize\r").await.unwrap();
    let e = loop {
        match shell.recv(Some(WAIT)).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("closed without the error"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(console_error(&e), Some(ConsoleError::WebSocket(_))),
        "{e}"
    );

    // A refused upgrade (pveproxy's 401 for a bad vncticket) is an API error naming the
    // WebSocket's request, without the ticket.
    sim.inject(proxmox_sim::Fault::status(
        "GET",
        "/nodes/pve1/vncwebsocket",
        401,
        "permission denied - invalid PVEVNC ticket",
    ));
    let e = client
        .console(ConsoleTarget::Node("pve1".into()))
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.api().map(|a| a.status), Some(401), "{e}");
    assert!(
        e.to_string().contains("GET /nodes/pve1/vncwebsocket"),
        "{e}"
    );
    assert!(!e.to_string().contains("PVEVNC:"), "{e}");
    sim.clear_faults();

    sim.set_console_tokens_allowed(false);
    let e = client
        .console(ConsoleTarget::Node("pve1".into()))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            console_error(&e),
            Some(ConsoleError::TokensNotAllowed { .. })
        ),
        "{e}"
    );
    let e = client.console(guest).build().await.unwrap_err();
    assert_eq!(
        console_error(&e),
        Some(&ConsoleError::ClosedBeforeOk),
        "{e}"
    );
    let ended: Vec<_> = sim
        .console_sessions()
        .into_iter()
        .map(|r| r.ended)
        .collect();
    assert_eq!(
        ended[..3],
        [ConsoleEnd::Exit, ConsoleEnd::Dropped, ConsoleEnd::Oversize]
    );
}

/// VNC: the RFB stream and the password.
#[cfg(any(feature = "hyper", feature = "reqwest"))]
async fn vnc(backend: Backend) {
    let sim = sim();
    let client = client(&sim, backend, false);
    let vnc = client
        .console(ConsoleTarget::Node("pve1".into()))
        .vnc()
        .build()
        .await
        .expect("VNC opens");
    assert_eq!(vnc.password().map(|p| p.expose().len()), Some(8));
    let version = vnc.read_until(b"\n", WAIT).await.unwrap();
    assert_eq!(version, b"RFB 003.008\n");
    vnc.close().await.unwrap();
}

#[cfg(feature = "hyper")]
mod hyper {
    use super::*;

    #[test]
    fn shell() {
        run(shell_session(Backend::Hyper));
    }

    #[test]
    fn endings() {
        run(super::endings(Backend::Hyper));
    }

    #[test]
    fn vnc() {
        run(super::vnc(Backend::Hyper));
    }
}

#[cfg(feature = "reqwest")]
mod reqwest {
    use super::*;

    #[test]
    fn shell() {
        run(shell_session(Backend::Reqwest));
    }

    #[test]
    fn endings() {
        run(super::endings(Backend::Reqwest));
    }

    #[test]
    fn vnc() {
        run(super::vnc(Backend::Reqwest));
    }
}

#[cfg(feature = "surf")]
#[test]
fn surf_refuses_at_build_and_sends_nothing() {
    // Nothing is sent, so no server is needed.
    let client = Client::builder("pve1.example.com")
        .backend(Backend::Surf)
        .password(proxmox_sim::ROOT_USER, proxmox_sim::ROOT_PASSWORD)
        .build()
        .expect("builds");
    let e = async_std::task::block_on(client.console(ConsoleTarget::Node("pve1".into())).build())
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
    assert!(e.to_string().contains("hyper or reqwest"), "{e}");
}
