//! termproxy's input stream and the fake shell behind it.
//!
//! The stream (pve-xtermjs `termproxy/src/main.rs`, `process_queue`/`remove_number`): pveproxy
//! strips the WebSocket framing, so message boundaries are lost and the messages are parsed
//! from a byte stream, split or joined anywhere:
//!
//! - `0:<len>:<data>`: `len` bytes of terminal input;
//! - `1:<cols>:<rows>:`: resize;
//! - `2`: keepalive (termproxy skips any byte that starts no message).
//!
//! termproxy assumes the byte after the type is the `:` without looking at it, and gives up on
//! a number that has no `:` within 20 bytes. Unlike termproxy, a message cut inside its header
//! is not lost here: the parser keeps its state across reads.
//!
//! The shell: a prompt `root@<host>:~# `, input echoed like a tty (CR or LF ends the line and
//! is echoed as `\r\n`), and a few line commands, see [`Shell::input`].

use std::time::Duration;

/// One message of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    /// Terminal input (part of a `0:` message's payload, as it arrived).
    Data(Vec<u8>),
    /// `1:<cols>:<rows>:`.
    Resize(u16, u16),
    /// `2`.
    Keepalive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data,
    Resize,
}

#[derive(Debug, Default)]
enum State {
    /// Expecting a message type.
    #[default]
    Type,
    /// The byte after the type (termproxy's `consume(2)`: taken as the `:`).
    Sep(Kind),
    /// Digits up to `:`; `cols` holds a resize's first number.
    Number {
        kind: Kind,
        digits: Vec<u8>,
        cols: Option<u16>,
    },
    /// Payload bytes still to come.
    Data(u64),
}

/// The parser of termproxy's input stream.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    state: State,
}

/// termproxy's `remove_number` gives up after 20 bytes without a `:`.
const MAX_DIGITS: usize = 20;

impl Parser {
    /// Feed the next bytes; returns the messages they complete (input as it arrives).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Msg> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes.get(i).copied().unwrap_or(0);
            match &mut self.state {
                State::Data(left) => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - i);
                    out.push(Msg::Data(bytes.get(i..i + n).unwrap_or_default().to_vec()));
                    *left -= n as u64;
                    i += n;
                    if *left == 0 {
                        self.state = State::Type;
                    }
                    continue;
                }
                State::Type => match b {
                    b'0' => self.state = State::Sep(Kind::Data),
                    b'1' => self.state = State::Sep(Kind::Resize),
                    b'2' => out.push(Msg::Keepalive),
                    _ => {}
                },
                State::Sep(kind) => {
                    self.state = State::Number {
                        kind: *kind,
                        digits: Vec::new(),
                        cols: None,
                    };
                }
                State::Number { kind, digits, cols } => {
                    if b == b':' {
                        let n = std::str::from_utf8(digits)
                            .ok()
                            .and_then(|d| d.parse::<u64>().ok());
                        self.state = match (*kind, n, *cols) {
                            (Kind::Data, Some(0), _) | (_, None, _) => State::Type,
                            (Kind::Data, Some(len), _) => State::Data(len),
                            (Kind::Resize, Some(c), None) => match u16::try_from(c) {
                                Ok(c) => State::Number {
                                    kind: Kind::Resize,
                                    digits: Vec::new(),
                                    cols: Some(c),
                                },
                                Err(_) => State::Type,
                            },
                            (Kind::Resize, Some(r), Some(c)) => {
                                if let Ok(r) = u16::try_from(r) {
                                    out.push(Msg::Resize(c, r));
                                }
                                State::Type
                            }
                        };
                    } else if digits.len() >= MAX_DIGITS {
                        self.state = State::Type;
                    } else {
                        digits.push(b);
                    }
                }
            }
            i += 1;
        }
        out
    }
}

/// What the shell wants done, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send these bytes as one frame.
    Out(Vec<u8>),
    /// Command output: send it as two frames, cut in the middle.
    Split(Vec<u8>),
    /// `bulk N`: N bytes of lines of `x`, as fast as possible.
    Bulk(u64),
    /// `slowread S`: read nothing for S seconds (real time).
    SlowRead(Duration),
    /// `exit`: close frame 1000.
    Exit,
    /// `drop`: cut the TCP connection, no close frame.
    Drop,
    /// `oversize`: a frame header announcing 64 MiB.
    Oversize,
}

/// The longest line kept; more input on one line is dropped (not echoed).
const MAX_LINE: usize = 64 * 1024;

/// The fake shell.
#[derive(Debug)]
pub(crate) struct Shell {
    host: String,
    line: Vec<u8>,
    cols: u16,
    rows: u16,
}

impl Shell {
    /// A shell on `host`, 80x20: termproxy sets the pty to 80 columns, 20 rows before the
    /// first resize (`run_pty`: `pty.set_size(80, 20)`).
    pub(crate) fn new(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            line: Vec::new(),
            cols: 80,
            rows: 20,
        }
    }

    /// `root@<host>:~# `.
    pub(crate) fn prompt(&self) -> Vec<u8> {
        format!("root@{}:~# ", self.host).into_bytes()
    }

    pub(crate) fn resize(&mut self, cols: u16, rows: u16) {
        self.cols = cols;
        self.rows = rows;
    }

    /// Typed input: echoed (one frame per call, until a line ends), CR or LF runs the line,
    /// DEL/BS erases a character (`\b \b`), Ctrl-C drops the line (`^C`). Commands: `echo
    /// ARGS`, `uname`, `hostname`, `stty size`, `bulk N`, `exit`, `drop`, `oversize`,
    /// `slowread S`; anything else prints `<cmd>: command not found`. After `exit`, `drop` or
    /// `oversize` the rest of the input is ignored.
    pub(crate) fn input(&mut self, bytes: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        let mut echo = Vec::new();
        for &b in bytes {
            match b {
                b'\r' | b'\n' => {
                    echo.extend_from_slice(b"\r\n");
                    out.push(Action::Out(std::mem::take(&mut echo)));
                    let line = std::mem::take(&mut self.line);
                    let (actions, last) = self.run(&line);
                    out.extend(actions);
                    if last {
                        return out;
                    }
                    out.push(Action::Out(self.prompt()));
                }
                0x7f | 0x08 if self.erase() => echo.extend_from_slice(b"\x08 \x08"),
                0x7f | 0x08 => {}
                0x03 => {
                    self.line.clear();
                    echo.extend_from_slice(b"^C\r\n");
                    out.push(Action::Out(std::mem::take(&mut echo)));
                    out.push(Action::Out(self.prompt()));
                }
                _ if self.line.len() < MAX_LINE => {
                    self.line.push(b);
                    echo.push(b);
                }
                _ => {}
            }
        }
        if !echo.is_empty() {
            out.push(Action::Out(echo));
        }
        out
    }

    /// Erase the last character (all bytes of a UTF-8 sequence); whether there was one.
    fn erase(&mut self) -> bool {
        let Some(last) = self.line.pop() else {
            return false;
        };
        if last & 0xc0 == 0x80 {
            // A continuation byte: erase back to the sequence's lead byte.
            while let Some(&b) = self.line.last() {
                if b < 0x80 {
                    break;
                }
                self.line.pop();
                if b >= 0xc0 {
                    break;
                }
            }
        }
        true
    }

    /// Run one line: its actions, and whether the session ends with them.
    fn run(&self, line: &[u8]) -> (Vec<Action>, bool) {
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_whitespace();
        let Some(cmd) = words.next() else {
            return (Vec::new(), false);
        };
        let args: Vec<&str> = words.collect();
        let say = |s: String| (vec![Action::Split(s.into_bytes())], false);
        match cmd {
            "echo" => say(format!("{}\r\n", args.join(" "))),
            "uname" => say("Linux\r\n".to_owned()),
            "hostname" => say(format!("{}\r\n", self.host)),
            "stty" if args == ["size"] => say(format!("{} {}\r\n", self.rows, self.cols)),
            "stty" => say("stty: only 'stty size' is simulated\r\n".to_owned()),
            "bulk" => match args.first().and_then(|n| n.parse::<u64>().ok()) {
                Some(n) => (vec![Action::Bulk(n)], false),
                None => say("bulk: usage: bulk N\r\n".to_owned()),
            },
            "slowread" => match args
                .first()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
            {
                Some(s) => {
                    let d = if s > 0.0 {
                        Duration::from_secs_f64(s.min(300.0))
                    } else {
                        Duration::ZERO
                    };
                    (vec![Action::SlowRead(d)], false)
                }
                None => say("slowread: usage: slowread SECONDS\r\n".to_owned()),
            },
            "exit" => (vec![Action::Exit], true),
            "drop" => (vec![Action::Drop], true),
            "oversize" => (vec![Action::Oversize], true),
            _ => say(format!("{cmd}: command not found\r\n")),
        }
    }
}

/// `bulk N`'s output: lines of 78 `x` and `\r\n`, cut to exactly N bytes.
#[derive(Debug)]
pub(crate) struct Bulk {
    left: u64,
    /// Position within the 80-byte line.
    col: usize,
}

/// One line of `bulk`: 78 `x`, CR, LF.
const BULK_LINE: [u8; 80] = {
    let mut line = [b'x'; 80];
    line[78] = b'\r';
    line[79] = b'\n';
    line
};

impl Bulk {
    pub(crate) fn new(n: u64) -> Self {
        Self { left: n, col: 0 }
    }

    /// The next chunk of at most `max` bytes, `None` when all N are out.
    pub(crate) fn next_chunk(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.left == 0 {
            return None;
        }
        let n = usize::try_from(self.left).unwrap_or(usize::MAX).min(max);
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            let take = (BULK_LINE.len() - self.col).min(n - v.len());
            v.extend_from_slice(BULK_LINE.get(self.col..self.col + take).unwrap_or_default());
            self.col = (self.col + take) % BULK_LINE.len();
        }
        self.left -= n as u64;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(chunks: &[&[u8]]) -> Vec<Msg> {
        let mut p = Parser::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c));
        }
        // Join adjacent input for easy comparison.
        let mut joined: Vec<Msg> = Vec::new();
        for m in out {
            match (joined.last_mut(), m) {
                (Some(Msg::Data(a)), Msg::Data(b)) => a.extend(b),
                (_, m) => joined.push(m),
            }
        }
        joined
    }

    #[test]
    fn messages_joined_and_split_anywhere() {
        let stream: &[u8] = b"0:5:hello1:100:30:20:3:\xc3\xa9!2";
        let want = vec![
            Msg::Data(b"hello".to_vec()),
            Msg::Resize(100, 30),
            Msg::Keepalive,
            Msg::Data("é!".as_bytes().to_vec()),
            Msg::Keepalive,
        ];
        assert_eq!(feed_all(&[stream]), want);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(feed_all(&[a, b]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(feed_all(&bytes), want);
    }

    #[test]
    fn garbage_is_skipped_like_termproxy() {
        // Unknown types are skipped, a number without ':' within 20 bytes is dropped, a zero
        // length carries no data, a resize out of range is ignored.
        assert_eq!(
            feed_all(&[b"x9 0:0:1:70000:5:0:1:a"]),
            vec![Msg::Data(b"a".to_vec())]
        );
        assert_eq!(
            feed_all(&[b"0:aaaaaaaaaaaaaaaaaaaaaaaa:2"]),
            vec![Msg::Keepalive]
        );
    }

    fn text(actions: &[Action]) -> String {
        let mut s = String::new();
        for a in actions {
            match a {
                Action::Out(b) | Action::Split(b) => s.push_str(&String::from_utf8_lossy(b)),
                other => s.push_str(&format!("<{other:?}>")),
            }
        }
        s
    }

    #[test]
    fn shell_echoes_and_runs_commands() {
        let mut sh = Shell::new("pve1");
        assert_eq!(text(&sh.input(b"echo  hi   there")), "echo  hi   there");
        assert_eq!(text(&sh.input(b"\r")), "\r\nhi there\r\nroot@pve1:~# ");
        assert_eq!(
            text(&sh.input(b"stty size\n")),
            "stty size\r\n20 80\r\nroot@pve1:~# "
        );
        sh.resize(132, 43);
        assert_eq!(
            text(&sh.input(b"stty size\r")),
            "stty size\r\n43 132\r\nroot@pve1:~# "
        );
        assert_eq!(
            text(&sh.input(b"uname\rhostname\r")),
            "uname\r\nLinux\r\nroot@pve1:~# hostname\r\npve1\r\nroot@pve1:~# "
        );
        assert_eq!(
            text(&sh.input(b"ls -l\r")),
            "ls -l\r\nls: command not found\r\nroot@pve1:~# "
        );
        assert_eq!(text(&sh.input(b"\r")), "\r\nroot@pve1:~# ");
        assert_eq!(
            text(&sh.input(b"ab\x7fc\r")),
            "ab\x08 \x08c\r\nac: command not found\r\nroot@pve1:~# "
        );
        assert_eq!(
            text(&sh.input("é\x7f\x03".as_bytes())),
            "é\x08 \x08^C\r\nroot@pve1:~# "
        );
        assert_eq!(
            text(&sh.input(b"bulk 10\r")),
            "bulk 10\r\n<Bulk(10)>root@pve1:~# "
        );
        assert_eq!(text(&sh.input(b"exit\recho no\r")), "exit\r\n<Exit>");
    }

    #[test]
    fn bulk_is_exact_lines_of_x() {
        let mut b = Bulk::new(200);
        let mut all = Vec::new();
        while let Some(c) = b.next_chunk(7) {
            assert!(c.len() <= 7);
            all.extend(c);
        }
        assert_eq!(all.len(), 200);
        assert_eq!(all.get(..80), Some(&BULK_LINE[..]));
        assert_eq!(all.get(78..80), Some(&b"\r\n"[..]));
        assert_eq!(all.get(160..200), BULK_LINE.get(..40));
    }
}
