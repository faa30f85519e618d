//! Consoles through proxmox-ureq against the simulator's termproxy, VNC server and cluster:
//! login, a command and its output, resize, keepalive, clean close, the server's close
//! mid-stream, an oversized frame, a refused upgrade, tokens on old servers, the node that
//! runs termproxy, and VNC's byte stream with its password.

use proxmox_proto::console::ConsoleError;
use proxmox_sim::{Config, ConsoleEnd, Fault, Service as SimService, Simulator};
use proxmox_ureq::{Client, ConsoleTarget, Error};
use std::io::{Read, Write};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn sim() -> Simulator {
    let sim = Simulator::start(Config::new(SimService::Pve)).expect("simulator starts");
    sim.set_console_failure_delay(Duration::from_millis(100));
    sim
}

fn password(sim: &Simulator) -> Client {
    Client::builder(&sim.url())
        .ca_pem(sim.ca_pem().as_bytes())
        .password(proxmox_sim::ROOT_USER, proxmox_sim::ROOT_PASSWORD)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("builds")
}

fn token(sim: &Simulator) -> Client {
    Client::builder(&sim.url())
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("builds")
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

#[test]
fn a_node_shell_logs_in_runs_a_command_resizes_keeps_alive_and_closes() {
    let sim = sim();
    let client = password(&sim);
    let shell = client
        .console(ConsoleTarget::Node("pve1".into()))
        .size(100, 30)
        .keepalive(Some(Duration::from_millis(150)))
        .build()
        .expect("console opens");
    assert!(!format!("{shell:?}").contains("PVEVNC"), "{shell:?}");
    shell.read_until(b"root@pve1:~# ", WAIT).expect("prompt");
    shell.send(b"echo hi there\r").unwrap();
    let out = shell.read_until(b"root@pve1:~# ", WAIT).unwrap();
    assert_eq!(text(&out), "echo hi there\r\nhi there\r\nroot@pve1:~# ");
    // The size was sent right after the login.
    shell.send(b"stty size\r").unwrap();
    let out = shell.read_until(b"root@pve1:~# ", WAIT).unwrap();
    assert!(text(&out).contains("\r\n30 100\r\n"), "{}", text(&out));
    shell.resize(132, 43).unwrap();
    shell.send(b"stty size\r").unwrap();
    let out = shell.read_until(b"root@pve1:~# ", WAIT).unwrap();
    assert!(text(&out).contains("\r\n43 132\r\n"), "{}", text(&out));
    // A quiet console: the reader waits, and the keepalives go out meanwhile.
    let quiet = shell.recv(Some(Duration::from_millis(700))).unwrap_err();
    assert!(quiet.is_timeout(), "{quiet}");
    assert!(!shell.is_closed());
    shell.close().expect("closes");
    assert!(shell.is_closed());
    let rec = &ended(&sim, 0);
    assert!(rec.login_accepted);
    assert_eq!(rec.user, "root@pam");
    assert!(rec.keepalives >= 3, "keepalives: {}", rec.keepalives);
    assert_eq!(rec.size, Some((132, 43)));
    assert_eq!(rec.ended, ConsoleEnd::ClientClose(Some(1000)));
}

#[test]
fn a_guest_console_with_a_token_ends_with_exit_and_reader_and_writer_share_it() {
    let sim = sim();
    let client = token(&sim);
    let shell = client
        .console(ConsoleTarget::Qemu {
            node: "pve1".into(),
            vmid: 100,
        })
        .build()
        .expect("console opens");
    // The prompt first, on this thread: two threads reading at once would race for it (the
    // loser waits for output that the other already took).
    shell.read_until(b"# ", WAIT).expect("the prompt");
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut all = Vec::new();
            while let Some(b) = shell.recv(Some(WAIT)).expect("output") {
                all.extend(b);
            }
            all
        });
        (&shell).write_all(b"hostname\r").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        shell.send(b"exit\r").unwrap();
        let all = reader.join().unwrap();
        assert!(text(&all).contains("exit"), "{}", text(&all));
    });
    assert!(shell.is_closed());
    assert_eq!(shell.recv(None).unwrap(), None, "the end stays the end");
    assert!(console_error(&shell.send(b"x").unwrap_err()).is_some());
    let rec = &ended(&sim, 0);
    assert_eq!(
        (rec.user.as_str(), &rec.ended),
        (proxmox_sim::TOKEN_ID, &ConsoleEnd::Exit)
    );
}

#[test]
fn a_connection_dropped_mid_stream_ends_the_console_and_an_oversized_frame_is_refused() {
    let sim = sim();
    let client = password(&sim);
    let shell = client
        .console(ConsoleTarget::Lxc {
            node: "pve1".into(),
            vmid: 200,
        })
        .build()
        .unwrap();
    shell.read_until(b"# ", WAIT).unwrap();
    shell.send(b"drop\r").unwrap();
    let mut n = 0;
    while shell
        .recv(Some(WAIT))
        .expect("no error on a dropped connection")
        .is_some()
    {
        n += 1;
        assert!(n < 100);
    }
    assert!(shell.is_closed());

    let shell = client
        .console(ConsoleTarget::Node("pve1".into()))
        .build()
        .unwrap();
    shell.read_until(b"# ", WAIT).unwrap();
    shell.send(b"oversize\r").unwrap();
    let e = loop {
        match shell.recv(Some(WAIT)) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("closed without the error"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            console_error(&e),
            Some(ConsoleError::WebSocket(
                proxmox_proto::console::frame::FrameError::TooLarge { .. }
            ))
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("vncwebsocket"),
        "names the request: {e}"
    );
}

#[test]
fn a_refused_upgrade_and_old_servers_refusing_tokens_are_typed_errors() {
    let sim = sim();
    sim.inject(Fault::status(
        "GET",
        "/nodes/pve1/vncwebsocket",
        401,
        "permission denied - invalid PVEVNC ticket",
    ));
    let e = password(&sim)
        .console(ConsoleTarget::Node("pve1".into()))
        .build()
        .unwrap_err();
    assert_eq!(e.api().map(|a| a.status), Some(401), "{e}");
    assert!(
        e.to_string().contains("GET /nodes/pve1/vncwebsocket"),
        "{e}"
    );
    sim.clear_faults();

    sim.set_console_tokens_allowed(false);
    let client = token(&sim);
    let e = client
        .console(ConsoleTarget::Node("pve1".into()))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            console_error(&e),
            Some(ConsoleError::TokensNotAllowed { .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("9.0.13"), "{e}");
    let e = client
        .console(ConsoleTarget::Qemu {
            node: "pve1".into(),
            vmid: 100,
        })
        .build()
        .unwrap_err();
    assert_eq!(
        console_error(&e),
        Some(&ConsoleError::ClosedBeforeOk),
        "{e}"
    );
    for s in [proxmox_sim::TOKEN_SECRET, "PVEVNC"] {
        assert!(!format!("{e} {e:?}").contains(s));
    }
}

#[test]
fn the_websocket_goes_to_the_node_whose_termproxy_answered() {
    let mut c = Config::new(SimService::Pve);
    c.nodes = 3;
    let sim = Simulator::start(c).unwrap();
    sim.set_console_failure_delay(Duration::from_millis(100));
    let urls = sim.node_urls();
    let client = Client::builder(&urls[0])
        .endpoints(&urls[1..])
        .ca_pem(sim.ca_pem().as_bytes())
        .api_token(proxmox_sim::TOKEN_ID, proxmox_sim::TOKEN_SECRET)
        .build()
        .unwrap();
    client.discover().expect("discovery");
    let shell = client
        .console(ConsoleTarget::Node("pve2".into()))
        .build()
        .expect("console opens");
    shell.read_until(b"root@pve2:~# ", WAIT).unwrap();
    let posted: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/termproxy") || r.path.contains("/vncwebsocket"))
        .map(|r| r.node)
        .collect();
    assert_eq!(
        posted,
        ["pve2", "pve2"],
        "the POST and the WebSocket, on one node"
    );
    assert_eq!(sim.console_sessions()[0].node, "pve2");
}

/// VNC authentication's response: the challenge encrypted with DES under the password,
/// each key byte's bits reversed (RFB 3.8 §7.2.2).
fn vnc_response(password: &[u8], challenge: &[u8; 16]) -> [u8; 16] {
    use des::cipher::{BlockEncrypt, KeyInit};
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password) {
        *k = p.reverse_bits();
    }
    let cipher = des::Des::new_from_slice(&key).unwrap();
    let mut out = *challenge;
    for block in out.chunks_mut(8) {
        cipher.encrypt_block(block.into());
    }
    out
}

#[test]
fn a_vnc_console_is_the_rfb_byte_stream_with_its_password() {
    let sim = sim();
    let client = password(&sim);
    let vnc = client
        .console(ConsoleTarget::Qemu {
            node: "pve1".into(),
            vmid: 100,
        })
        .vnc()
        .build()
        .expect("VNC opens");
    // No generated password (the client does not ask): the ticket is QEMU's VNC password.
    assert!(vnc.ticket().password.is_none());
    let password = vnc.password().expect("an RFB password").expose().to_owned();
    assert_eq!(password, vnc.ticket().ticket.expose());
    assert!(!format!("{vnc:?}").contains(&password));
    let mut r = &vnc;
    let mut version = [0u8; 12];
    r.read_exact(&mut version).unwrap();
    assert_eq!(&version, b"RFB 003.008\n");
    vnc.send(b"RFB 003.008\n").unwrap();
    let mut n = [0u8; 1];
    r.read_exact(&mut n).unwrap();
    let mut types = vec![0u8; n[0] as usize];
    r.read_exact(&mut types).unwrap();
    assert!(types.contains(&2), "VNC authentication offered: {types:?}");
    vnc.send(&[2]).unwrap();
    let mut challenge = [0u8; 16];
    r.read_exact(&mut challenge).unwrap();
    vnc.send(&vnc_response(password.as_bytes(), &challenge))
        .unwrap();
    let mut result = [0u8; 4];
    r.read_exact(&mut result).unwrap();
    assert_eq!(result, [0, 0, 0, 0], "SecurityResult OK");
    vnc.close().unwrap();
    assert!(sim.console_sessions()[0].login_accepted);
}

#[test]
fn spice_gives_the_viewer_fields_and_a_file_only_its_owner_reads() {
    let sim = sim();
    let client = password(&sim);
    let target = ConsoleTarget::Qemu {
        node: "pve1".into(),
        vmid: 100,
    };
    let vv = client
        .spice(&target, Some("spice.example.com"))
        .expect("spiceproxy");
    assert_eq!(vv.get("type"), Some("spice"));
    assert!(
        vv.get("host")
            .is_some_and(|h| h.starts_with("pvespiceproxy:")),
        "{vv:?}"
    );
    assert!(vv.get("tls-port").is_some());
    assert!(
        vv.get("password").is_none(),
        "the password only goes to the file"
    );
    let file_text = vv.to_vv();
    let password = file_text
        .expose()
        .lines()
        .find_map(|l| l.strip_prefix("password="))
        .expect("a password line")
        .to_owned();
    assert!(!format!("{vv:?}").contains(&password));
    let dir = std::env::temp_dir().join(format!("vv-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vm100.vv");
    std::fs::write(&path, "an old, world-readable file").unwrap();
    proxmox_ureq::write_vv(&path, &vv).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.starts_with("[virt-viewer]\ntype=spice\n"),
        "{written}"
    );
    assert!(written.contains(&format!("password={password}\n")));
    assert!(written.contains("proxy="), "{written}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // A stopped VM has no SPICE session.
    let e = client
        .spice(
            &ConsoleTarget::Qemu {
                node: "pve1".into(),
                vmid: 101,
            },
            None,
        )
        .unwrap_err();
    assert_eq!(e.api().map(|a| a.status), Some(500), "{e}");
}
