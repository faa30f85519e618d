//! Running a local process (the API shell itself, or `ssh`): stdout and stderr read on their
//! own threads (no deadlock at any output size), optional stdin fed from a reader, a time limit
//! that kills the process group.

use crate::{Error, RawOutput};
use std::io::{self, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// What happens with the child's standard input.
pub(crate) enum Stdin<'a> {
    /// `/dev/null`.
    Null,
    /// A pipe held open until the process ends (the SSH watchdog's "caller still there").
    HoldOpen,
    /// A pipe fed from this reader, then closed.
    Feed(&'a mut dyn Read),
}

/// How long to wait for the output pipes after the process was killed (a grandchild that left
/// its process group may hold them).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// The most a command may print on stdout or on stderr (the HTTP clients' body limit).
pub(crate) const OUTPUT_LIMIT: u64 = proxmox_proto::response::DEFAULT_BODY_LIMIT;

/// The marker error of a stream that went over [`OUTPUT_LIMIT`].
#[derive(Debug)]
struct OutputTooLarge;

impl std::fmt::Display for OutputTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the command printed more than {OUTPUT_LIMIT} bytes")
    }
}

impl std::error::Error for OutputTooLarge {}

fn reader<R: Read + Send + 'static>(
    mut r: R,
    tx: mpsc::Sender<(usize, io::Result<Vec<u8>>)>,
    which: usize,
) -> io::Result<()> {
    thread::Builder::new()
        .name(
            if which == 0 {
                "proxmox-cli-stdout"
            } else {
                "proxmox-cli-stderr"
            }
            .into(),
        )
        .spawn(move || {
            // Keep at most OUTPUT_LIMIT bytes; past that, drain the rest (so the process is
            // not stuck on a full pipe) and report the stream as too large.
            let mut buf = Vec::new();
            let res = (&mut r)
                .take(OUTPUT_LIMIT + 1)
                .read_to_end(&mut buf)
                .and_then(|_| {
                    if buf.len() as u64 > OUTPUT_LIMIT {
                        buf = Vec::new();
                        io::copy(&mut r, &mut io::sink())?;
                        Err(io::Error::other(OutputTooLarge))
                    } else {
                        Ok(std::mem::take(&mut buf))
                    }
                });
            let _ = tx.send((which, res));
        })
        .map(|_| ())
}

/// Signal the process group of `pid` (and `pid` itself, in case it has no group of its own).
fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg("kill -s \"$1\" -- \"-$2\" 2>/dev/null; kill -s \"$1\" \"$2\" 2>/dev/null; exit 0")
        .arg("sh")
        .arg(signal)
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills the child's process group when the deadline passes, unless told the run is over.
struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    fired: mpsc::Receiver<()>,
    seen: bool,
}

impl Watchdog {
    fn start(pid: u32, timeout: Option<Duration>) -> io::Result<Self> {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (fired_tx, fired) = mpsc::channel::<()>();
        if let Some(timeout) = timeout {
            thread::Builder::new()
                .name("proxmox-cli-timeout".into())
                .spawn(move || {
                    if let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(timeout) {
                        let _ = fired_tx.send(());
                        // TERM first (sudo relays it to the command), KILL if still there.
                        signal_group(pid, "TERM");
                        if let Err(RecvTimeoutError::Timeout) =
                            done_rx.recv_timeout(Duration::from_millis(500))
                        {
                            signal_group(pid, "KILL");
                        }
                    }
                })?;
        }
        Ok(Self {
            done: Some(done_tx),
            fired,
            seen: false,
        })
    }

    fn fired(&mut self) -> bool {
        self.seen |= self.fired.try_recv().is_ok();
        self.seen
    }

    fn finish(&mut self) -> bool {
        drop(self.done.take());
        self.fired()
    }
}

/// Spawn `cmd` in its own process group and collect its output.
///
/// Errors: spawning failed (not sent), the time limit passed (killed; may have acted), or
/// reading the pipes failed.
pub(crate) fn run(
    transport: &'static str,
    mut cmd: Command,
    stdin: Stdin<'_>,
    timeout: Option<Duration>,
) -> Result<RawOutput, Error> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(match stdin {
        Stdin::Null => Stdio::null(),
        Stdin::HoldOpen | Stdin::Feed(_) => Stdio::piped(),
    });
    let started = Instant::now();
    let mut child: Child = cmd.spawn().map_err(|e| {
        let program = cmd.get_program().to_string_lossy().into_owned();
        Error::transport(transport, format!("cannot run {program}: {e}"), false)
    })?;
    let (tx, rx) = mpsc::channel();
    let pipes = (child.stdout.take(), child.stderr.take());
    let (Some(out), Some(err)) = pipes else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::transport(transport, "no output pipes", false));
    };
    let mut watchdog = match reader(out, tx.clone(), 0)
        .and_then(|()| reader(err, tx, 1))
        .and_then(|()| Watchdog::start(child.id(), timeout))
    {
        Ok(w) => w,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::transport(
                transport,
                format!("cannot start a thread: {e}"),
                true,
            ));
        }
    };
    let mut held = None;
    let mut feed_error = None;
    match stdin {
        Stdin::Null => {}
        Stdin::HoldOpen => held = child.stdin.take(),
        Stdin::Feed(input) => {
            if let Some(mut pipe) = child.stdin.take() {
                // A broken pipe means the process stopped reading: its exit says why.
                if let Err(e) = io::copy(input, &mut pipe).and_then(|_| pipe.flush())
                    && e.kind() != io::ErrorKind::BrokenPipe
                {
                    feed_error = Some(e);
                    signal_group(child.id(), "KILL");
                }
            }
        }
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut read_error = None;
    let mut pending = 2;
    while pending > 0 {
        // Without a watchdog event the pipes close when the process ends; after a kill, give
        // them a grace period.
        let next = if watchdog.fired() {
            rx.recv_timeout(DRAIN_GRACE).map_err(|_| ())
        } else {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(v) => Ok(v),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => Err(()),
            }
        };
        match next {
            Ok((which, Ok(buf))) => {
                if which == 0 {
                    stdout = buf;
                } else {
                    stderr = buf;
                }
            }
            Ok((_, Err(e))) => read_error = Some(e),
            Err(()) => break,
        }
        pending -= 1;
    }
    drop(held);
    let status = child.wait();
    let fired = watchdog.finish();
    if fired {
        return Err(Error::timed_out(transport, started.elapsed()));
    }
    if let Some(e) = feed_error {
        return Err(Error::transport(
            transport,
            format!("writing the command's input failed: {e}"),
            true,
        ));
    }
    if let Some(e) = read_error {
        if e.get_ref()
            .is_some_and(|inner| inner.is::<OutputTooLarge>())
        {
            return Err(Error::Proto(
                proxmox_proto::ProtocolError::BodyTooLarge {
                    size: OUTPUT_LIMIT + 1,
                    limit: OUTPUT_LIMIT,
                }
                .into(),
            ));
        }
        return Err(Error::transport(
            transport,
            format!("reading the command's output failed: {e}"),
            true,
        ));
    }
    let status = status.map_err(|e| {
        Error::transport(
            transport,
            format!("waiting for the command failed: {e}"),
            true,
        )
    })?;
    Ok(RawOutput {
        stdout,
        stderr,
        exit_code: status.code(),
    })
}
