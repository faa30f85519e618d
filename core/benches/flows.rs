//! What a call costs in the flow layer itself, without any I/O: one call driven to its end on
//! canned bytes, as an adapter's driver loop would (poll, send, handle, poll, parse).
//!
//! Run: `cargo bench -p proxmox-proto --bench flows`.
//!
//! * `http_api_call`: `ClientCore::call` with a token, a `GET /version` answered with its JSON,
//!   `parse_data` of the answer (what proxmox-ureq does per `get`).
//! * `shell_call`: `ClientCore::shell_call`, the same call over the shell wire (argv built by
//!   the core's `CommandBuilder`), `command::parse_data` of the output (what proxmox-cli does
//!   per `get` since it runs on the flows).
//! * `shell_direct`: what proxmox-cli did before: `CommandBuilder::build` and
//!   `command::parse_data`, no flow.

use divan::Bencher;
use proxmox_proto::command::{CommandBuilder, parse_data};
use proxmox_proto::flow::{
    CallOptions, ClientCore, Flow, HttpReply, MonoTime, Now, Reply, ShellReply, Step,
};
use proxmox_proto::options::ClientOptions;
use proxmox_proto::{Call, Service, TransportKind};
use serde_json::Value;
use std::time::Duration;

fn main() {
    divan::main();
}

const VERSION: &[u8] = br#"{"release":"9.0","repoid":"0123456789abcdef","version":"9.0.3"}"#;

fn now() -> Now {
    Now::new(MonoTime::ZERO, Duration::from_secs(1_700_000_000))
}

fn drive<F: Flow>(mut flow: F, reply: impl Fn() -> Reply) -> F::Output {
    loop {
        match flow.poll(now()) {
            Step::Send(ex) => flow.handle(ex.id, reply()),
            Step::Done(out) => return out.expect("the canned call succeeds"),
            _ => panic!("a canned call only sends and ends"),
        }
    }
}

#[divan::bench]
fn http_api_call(bencher: Bencher<'_, '_>) {
    let mut o = ClientOptions::new("pve1.example.com");
    o.set_api_token("root@pam!bench", "s".into());
    let core = ClientCore::from_options(o.validate(TransportKind::Https).expect("valid"), |rb| rb);
    let body = [br#"{"data":"#.as_slice(), VERSION, b"}"].concat();
    bencher.bench_local(|| {
        let call = Call::get("version").expect("valid path");
        let r = drive(core.call(call, &CallOptions::default()), || {
            Reply::Http(HttpReply::new(200, None, body.clone()))
        });
        proxmox_proto::response::parse_data::<Value>(r.status, r.reason.as_deref(), &r.body)
            .expect("parses")
    });
}

#[divan::bench]
fn shell_call(bencher: Bencher<'_, '_>) {
    let commands = CommandBuilder::new(Service::Pve).expect("pvesh");
    let core = ClientCore::shell(
        Service::Pve,
        commands,
        "pve1",
        Duration::from_secs(60),
        1 << 28,
    );
    bencher.bench_local(|| {
        let call = Call::get("version").expect("valid path");
        let out = drive(core.shell_call(call, &CallOptions::default()), || {
            Reply::Shell(ShellReply {
                stdout: VERSION.to_vec(),
                stderr: Vec::new(),
                exit: Some(0),
            })
        });
        parse_data::<Value>(&out.stdout, &out.stderr, out.exit).expect("parses")
    });
}

#[divan::bench]
fn shell_direct(bencher: Bencher<'_, '_>) {
    let commands = CommandBuilder::new(Service::Pve).expect("pvesh");
    bencher.bench_local(|| {
        let call = Call::get("version").expect("valid path");
        let cmd = commands.build(&call).expect("argv");
        let stdout = VERSION.to_vec();
        divan::black_box(&cmd);
        parse_data::<Value>(&stdout, &[], Some(0)).expect("parses")
    });
}
