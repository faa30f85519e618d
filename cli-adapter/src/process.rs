//! Running a local process (the API shell itself, or `ssh`): stdout and stderr read on their
//! own threads (no deadlock at any output size), optional stdin fed from a reader, a time limit
//! and an output bound that both end the process group.

use crate::{Error, Limits, RawOutput};
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

/// How long a process has between TERM and KILL.
const TERM_GRACE: Duration = Duration::from_millis(500);

/// The marker error of a stream that went over its limit.
#[derive(Debug)]
struct OutputTooLarge;

impl std::fmt::Display for OutputTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the command printed more than its output limit")
    }
}

impl std::error::Error for OutputTooLarge {}

/// Read one output stream on its own thread: at most `limit` bytes are kept. One byte more
/// and the stream is given up: the pipe is closed (a process that keeps writing gets
/// `EPIPE`/`SIGPIPE`), the watchdog is told to end the process group, and the stream is
/// reported as too large. Nothing past `limit + 1` bytes is ever read.
fn reader<R: Read + Send + 'static>(
    mut r: R,
    tx: mpsc::Sender<(usize, io::Result<Vec<u8>>)>,
    which: usize,
    limit: u64,
    kill: mpsc::Sender<Msg>,
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
            let mut buf = Vec::new();
            let res = (&mut r)
                .take(limit.saturating_add(1))
                .read_to_end(&mut buf)
                .and_then(|_| {
                    if buf.len() as u64 > limit {
                        Err(io::Error::other(OutputTooLarge))
                    } else {
                        Ok(std::mem::take(&mut buf))
                    }
                });
            if res.is_err() {
                drop(r);
                drop(buf);
                let _ = kill.send(Msg::Kill);
            }
            drop(kill);
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

/// What the watchdog thread is told.
enum Msg {
    /// End the process group now (output over the limit, failed input).
    Kill,
    /// The process was reaped: never signal its pid again.
    Done,
}

/// Ends the child's process group when the deadline passes or when asked to, until told the
/// run is over. TERM first (sudo relays it to the command), KILL if still there.
struct Watchdog {
    tx: mpsc::Sender<Msg>,
    fired: mpsc::Receiver<()>,
    seen: bool,
}

impl Watchdog {
    fn start(pid: u32, timeout: Option<Duration>) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let (fired_tx, fired) = mpsc::channel::<()>();
        thread::Builder::new()
            .name("proxmox-cli-watchdog".into())
            .spawn(move || {
                let first = match timeout {
                    Some(t) => rx.recv_timeout(t),
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match first {
                    Ok(Msg::Kill) => {}
                    Err(RecvTimeoutError::Timeout) => {
                        let _ = fired_tx.send(());
                    }
                    Ok(Msg::Done) | Err(RecvTimeoutError::Disconnected) => return,
                }
                signal_group(pid, "TERM");
                let until = Instant::now() + TERM_GRACE;
                loop {
                    match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                        Ok(Msg::Kill) => {}
                        Ok(Msg::Done) | Err(RecvTimeoutError::Disconnected) => return,
                        Err(RecvTimeoutError::Timeout) => break,
                    }
                }
                signal_group(pid, "KILL");
            })?;
        Ok(Self {
            tx,
            fired,
            seen: false,
        })
    }

    /// A handle that asks for the process group to be ended.
    fn killer(&self) -> mpsc::Sender<Msg> {
        self.tx.clone()
    }

    fn kill(&self) {
        let _ = self.tx.send(Msg::Kill);
    }

    /// Whether the time limit passed.
    fn fired(&mut self) -> bool {
        self.seen |= self.fired.try_recv().is_ok();
        self.seen
    }

    /// The process was reaped; whether the time limit had passed.
    fn finish(&mut self) -> bool {
        let _ = self.tx.send(Msg::Done);
        self.fired()
    }
}

impl Drop for Watchdog {
    /// The reader threads hold senders too: say "done" explicitly, so that an early return
    /// never leaves a timer that signals a reaped pid.
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Done);
    }
}

/// Spawn `cmd` in its own process group and collect its output.
///
/// Errors: spawning failed (not sent), the time limit passed (killed; may have acted), the
/// output went over its bound (ended; `BodyTooLarge`), or reading the pipes failed.
pub(crate) fn run(
    transport: &'static str,
    mut cmd: Command,
    stdin: Stdin<'_>,
    limits: Limits,
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
        crate::transport_error(transport, format!("cannot run {program}: {e}"), false)
    })?;
    let (tx, rx) = mpsc::channel();
    let pipes = (child.stdout.take(), child.stderr.take());
    let (Some(out), Some(err)) = pipes else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(crate::transport_error(transport, "no output pipes", false));
    };
    let mut watchdog = match Watchdog::start(child.id(), limits.timeout).and_then(|w| {
        reader(out, tx.clone(), 0, limits.output, w.killer())?;
        reader(err, tx, 1, limits.output, w.killer())?;
        Ok(w)
    }) {
        Ok(w) => w,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(crate::transport_error(
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
                    watchdog.kill();
                }
            }
        }
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut read_error = None;
    let mut too_large = false;
    let mut pending = 2;
    while pending > 0 {
        // Without a kill the pipes close when the process ends; after one (time limit, output
        // bound, failed input), give them a grace period.
        let next = if too_large || feed_error.is_some() || watchdog.fired() {
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
            Ok((_, Err(e))) => {
                if e.get_ref()
                    .is_some_and(|inner| inner.is::<OutputTooLarge>())
                {
                    too_large = true;
                } else {
                    read_error = Some(e);
                }
            }
            Err(()) => break,
        }
        pending -= 1;
    }
    drop(held);
    let status = child.wait();
    let fired = watchdog.finish();
    if too_large {
        return Err(limits.too_large());
    }
    if fired {
        return Err(crate::timed_out(transport, started.elapsed()));
    }
    if let Some(e) = feed_error {
        return Err(crate::transport_error(
            transport,
            format!("writing the command's input failed: {e}"),
            true,
        ));
    }
    if let Some(e) = read_error {
        return Err(crate::transport_error(
            transport,
            format!("reading the command's output failed: {e}"),
            true,
        ));
    }
    let status = status.map_err(|e| {
        crate::transport_error(
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
