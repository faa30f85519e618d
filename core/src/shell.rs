//! POSIX shell word splitting and quoting, without running a shell.
//!
//! * [`split`] turns one command string into words the way a POSIX shell's tokenizer would
//!   (used for the QEMU guest agent `exec` command given as one string, see
//!   [`crate::Call::wire_params`]).
//! * [`quote`] and [`join`] do the reverse: one command line that a POSIX shell reads back as
//!   exactly the given words, whatever bytes they hold (used by transports that must hand a
//!   command line to a remote shell, such as OpenSSH).
//!
//! ```
//! use proxmox_proto::shell::{join, quote, split};
//! assert_eq!(split(r#"ls -la '/tmp/a b' "x\"y" c\ d"#).unwrap(), ["ls", "-la", "/tmp/a b", "x\"y", "c d"]);
//! assert!(split("echo 'oops").is_err());
//! assert_eq!(quote("it's"), r#"'it'"'"'s'"#);
//! assert_eq!(quote(""), "''");
//! assert_eq!(quote("-la"), "-la");
//! let words = ["pvesh".to_string(), "set".into(), "/x".into(), "--description".into(), "a $b `c`\n".into()];
//! let line = join(&words);
//! assert_eq!(line, "pvesh set /x --description 'a $b `c`\n'");
//! assert_eq!(split(&line).unwrap(), words);
//! ```

use std::fmt;

/// Why a string could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitError {
    /// A `'` opened at this byte offset is never closed.
    UnclosedSingleQuote {
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// A `"` opened at this byte offset is never closed.
    UnclosedDoubleQuote {
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// The string ends with a backslash that escapes nothing.
    TrailingBackslash,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnclosedSingleQuote { offset } => {
                write!(
                    f,
                    "unbalanced quote: the ' at byte {offset} is never closed"
                )
            }
            Self::UnclosedDoubleQuote { offset } => {
                write!(
                    f,
                    "unbalanced quote: the \" at byte {offset} is never closed"
                )
            }
            Self::TrailingBackslash => f.write_str("the string ends with an unescaped backslash"),
        }
    }
}

impl std::error::Error for SplitError {}

/// Characters that separate words outside quotes.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Split a command string into words like a POSIX shell's tokenizer.
///
/// Rules:
///
/// * space, tab, carriage return and newline outside quotes separate words; runs of them
///   count once, and leading or trailing ones produce no empty word;
/// * `'...'` keeps everything literally up to the next `'` (no escapes inside);
/// * `"..."` keeps everything literally except that a backslash escapes `$`, `` ` ``, `"`,
///   `\` and newline (a backslash before any other character stays as it is);
/// * a backslash outside quotes makes the next character literal;
/// * a backslash followed by a newline (outside single quotes) is a line continuation and
///   disappears;
/// * quoted pieces and bare pieces next to each other form one word, and `''` or `""` alone
///   is an empty word.
///
/// Nothing is expanded (`$HOME`, `` `cmd` ``, `*`, `~` stay as written), `#` does not start a
/// comment, and `;`, `|`, `&`, `<`, `>` are ordinary characters: this is word splitting, not
/// a shell.
///
/// # Errors
///
/// An unclosed `'` or `"`, or a backslash at the very end.
pub fn split(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Whether a word is in progress (needed for empty quoted words).
    let mut in_word = false;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if is_separator(c) => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => match chars.next() {
                None => return Err(SplitError::TrailingBackslash),
                Some((_, '\n')) => {}
                Some((_, next)) => {
                    word.push(next);
                    in_word = true;
                }
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(SplitError::UnclosedSingleQuote { offset: i }),
                        Some((_, '\'')) => break,
                        Some((_, q)) => word.push(q),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(SplitError::UnclosedDoubleQuote { offset: i }),
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.peek().map(|&(_, n)| n) {
                            Some('\n') => {
                                chars.next();
                            }
                            Some(n @ ('$' | '`' | '"' | '\\')) => {
                                chars.next();
                                word.push(n);
                            }
                            _ => word.push('\\'),
                        },
                        Some((_, q)) => word.push(q),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Characters that never need quoting (the same set as Python's `shlex.quote`).
fn is_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '@' | '%' | '+' | '=' | ':' | ',' | '.' | '/' | '-')
}

/// Quote one word so that a POSIX shell reads it back unchanged.
///
/// A non-empty word made only of ASCII letters, digits and `_ @ % + = : , . / -` is returned
/// as it is; the empty word is `''`; anything else is wrapped in single quotes, with each `'`
/// written as `'"'"'`. Inside single quotes a POSIX shell gives no character a special
/// meaning, so spaces, newlines, `$`, backticks, backslashes, `!`, `*` and non-ASCII text all
/// come back literally. A NUL character cannot be passed to a program at all; callers that
/// build argv vectors refuse it earlier (see [`crate::command`]).
pub fn quote(word: &str) -> String {
    if word.is_empty() {
        return "''".to_owned();
    }
    if word.chars().all(is_safe_char) {
        return word.to_owned();
    }
    force_quote(word)
}

fn force_quote(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\"'\"'");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Words that a shell reads as reserved words when they come first on a command line.
const RESERVED: [&str; 16] = [
    "case", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if", "in", "select",
    "then", "time", "until", "while",
];

/// Join words into one command line that a POSIX shell splits back into exactly these words.
///
/// Each word goes through [`quote`] and the results are joined with single spaces. The first
/// word is also quoted when a shell would otherwise read it as a variable assignment
/// (`A=b`) or a reserved word (`if`, `for`, ...), so the line always runs the program named by
/// the first word.
///
/// ```
/// use proxmox_proto::shell::join;
/// let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// assert_eq!(join(&w(&["sudo", "pvesh", "get", "/nodes", "-x", "a;b|c&d$e`f"])), "sudo pvesh get /nodes -x 'a;b|c&d$e`f'");
/// assert_eq!(join(&w(&["A=b", "if"])), "'A=b' if");
/// ```
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        let w = w.as_ref();
        if i > 0 {
            out.push(' ');
        }
        if i == 0 && !w.is_empty() && (w.contains('=') || RESERVED.contains(&w)) {
            out.push_str(&force_quote(w));
        } else {
            out.push_str(&quote(w));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<String> {
        match split(s) {
            Ok(v) => v,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    #[test]
    fn whitespace() {
        assert_eq!(ok(""), Vec::<String>::new());
        assert_eq!(ok(" \t\n\r "), Vec::<String>::new());
        assert_eq!(ok("  a\tb\nc\r\nd  "), ["a", "b", "c", "d"]);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(ok("'a b' 'c\"d' 'e\\f'"), ["a b", "c\"d", "e\\f"]);
        assert_eq!(ok("'' x ''"), ["", "x", ""]);
        assert_eq!(ok("a'b c'd"), ["ab cd"]);
        assert_eq!(ok("'line\nbreak'"), ["line\nbreak"]);
        assert_eq!(ok("'\\\n'"), ["\\\n"]);
    }

    #[test]
    fn double_quotes() {
        assert_eq!(ok(r#""a b" "c'd""#), ["a b", "c'd"]);
        assert_eq!(ok(r#""\$ \` \" \\ \n \a""#), ["$ ` \" \\ \\n \\a"]);
        assert_eq!(ok("\"a\\\nb\""), ["ab"]);
        assert_eq!(ok(r#""""#), [""]);
        assert_eq!(ok(r#""$HOME" `x` $y"#), ["$HOME", "`x`", "$y"]);
    }

    #[test]
    fn backslashes() {
        assert_eq!(ok(r"a\ b c\'d \\"), ["a b", "c'd", "\\"]);
        assert_eq!(ok("a\\\nb"), ["ab"]);
        assert_eq!(ok("a \\\n b"), ["a", "b"]);
        assert_eq!(ok("\\\"x"), ["\"x"]);
    }

    #[test]
    fn no_operators_or_comments() {
        assert_eq!(ok("a;b | c # d"), ["a;b", "|", "c", "#", "d"]);
        assert_eq!(ok("ü 'ß'"), ["ü", "ß"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            split("echo 'oops"),
            Err(SplitError::UnclosedSingleQuote { offset: 5 })
        );
        assert_eq!(
            split("a \"b"),
            Err(SplitError::UnclosedDoubleQuote { offset: 2 })
        );
        assert_eq!(
            split(r#""a\""#),
            Err(SplitError::UnclosedDoubleQuote { offset: 0 })
        );
        assert_eq!(split("a\\"), Err(SplitError::TrailingBackslash));
        assert!(split("it's").is_err());
        assert!(split("unbalanced quote").is_ok());
        assert!(
            split("'x")
                .unwrap_err()
                .to_string()
                .contains("unbalanced quote")
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("abc-_@%+=:,./XYZ09"), "abc-_@%+=:,./XYZ09");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("'"), r#"''"'"''"#);
        assert_eq!(quote("ü"), "'ü'");
        assert_eq!(quote("~"), "'~'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(join::<&str>(&[]), "");
        assert_eq!(join(&["", "x"]), "'' x");
        assert_eq!(join(&["for", "for"]), "'for' for");
    }
}
