//! The schema's patterns, translated for [`regex_lite`] (the engine behind feature `schema`:
//! pure Rust, no Unicode tables, linear-time matching, so no pattern can make a check slow).
//!
//! A schema writes a pattern in one of two dialects:
//!
//! * **Perl** (PVE, PMG): the Perl modules check a string value with
//!   `$value =~ m/^$pattern$/` (`PVE::JSONSchema::check_prop`): the pattern is pasted between
//!   `^` and `$` *as text*, without a group. A pattern with a top-level alternation, `a|b`, is
//!   therefore anchored only at its ends (`^a|b$`: starts with `a`, or ends with `b`), and this
//!   module keeps that, since it is what the server accepts. Perl's `$` (without `/m`) matches
//!   at the end or before a final newline; it becomes `(?:\n?\z)`.
//! * **Rust** (PBS): written `/…/`, in the `regex` crate's syntax, and checked with
//!   `Regex::is_match` (a search; PBS's patterns carry their own `^…$`). The text between the
//!   slashes is used as it is, with the same search.
//!
//! The Perl constructs `regex-lite` lacks are rewritten ([`translate`]):
//!
//! | Perl | here | why it is the same |
//! |---|---|---|
//! | `(?^:X)`, `(?^i:X)` (a pattern interpolated with `qr//`: "reset the flags, then …") | `(?:X)`, `(?i:X)`; inside a group whose flags differ, the flags turned off are named (`(?-i:X)`) | the flags in force inside are the same |
//! | `(?>X)` atomic group, `X*+`/`X++`/`X?+`/`X{n,m}+` possessive | `(?:X)`, `X*`/`X+`/`X?`/`X{n,m}` | see below |
//! | `X{,n}` (Perl 5.34 and later: 0 to n) | `X{0,n}` | |
//! | `{` that does not start a quantifier (a literal in Perl) | `\{` | |
//! | `\0`, `\012`, `\o{…}`, `\x7`, `\cA`, `\e` | `\x{…}` | |
//! | `\Z` | `(?:\n?\z)` | |
//! | `\h`, `\v`, `\N`, `\R` | ASCII classes | |
//! | `(?<name>…)`, `(?'name'…)`, `(?\|…)`, `(?#…)` | `(?P<name>…)`, `(?P<name>…)`, `(?:…)`, nothing | |
//!
//! **Atomic groups and possessive quantifiers.** An atomic group keeps the first way it
//! matched and never gives characters back, so `(?>X)` can only *remove* matches compared
//! with `(?:X)` (`(?>a+)a` never matches; `(?:a+)a` matches `aa`). Rewriting it as a plain
//! group is therefore exact when what follows the group can never take characters the group
//! could have taken, and otherwise accepts a superset. Schemas use atomic groups to stop
//! Perl's backtracking from blowing up on a repeated token (of the form `((?>[a-z]+,?)+)`):
//! there the group ends at a character the group cannot match (`,`, another token's sign,
//! the end), the greedy match is the only one that can lead to a whole-value match, and both
//! forms accept the same values. `regex-lite` never backtracks exponentially, so nothing is lost.
//!
//! **Differences that remain:** `regex-lite` has no Unicode classes: `\w`, `\d`, `\s` and
//! `(?i)` are ASCII-only, where Perl applies Unicode rules to a decoded string (a value with
//! non-ASCII letters can fail here and pass on the server; ASCII values behave the same).
//! Lookaround, backreferences, recursion, conditionals, `\p{…}`, `\K`, `\G`, `\Q…\E` have no
//! translation: such a pattern keeps its text and an error ([`Pattern::is_match`] says so),
//! and a checker should then skip it rather than refuse values.

use super::model::{Pattern, PatternId, Schema, SchemaData};

/// The longest pattern translated (longer ones get an error, not a regex).
pub const MAX_PATTERN_LEN: usize = 64 * 1024;

/// The most memory one compiled pattern may take (`regex-lite`'s size limit).
const REGEX_SIZE_LIMIT: usize = 2 << 20;

/// How a schema writes a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternDialect {
    /// Perl (PVE, PMG), applied as `m/^PATTERN$/`.
    Perl,
    /// Rust's `regex` syntax between slashes (PBS, `/^…$/`), applied as a search.
    Rust,
}

/// A pattern translated for `regex-lite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The dialect the schema wrote it in.
    pub dialect: PatternDialect,
    /// The regex for `regex-lite`, anchored as the server applies the pattern.
    pub regex: String,
    /// The Perl-only constructs that were rewritten (none for a pattern `regex-lite` reads as
    /// Perl does), e.g. `"(?^…)"`, `"(?>…)"`, `"{,n}"`.
    pub perl_only: Vec<&'static str>,
}

/// Translates a schema pattern (see the module documentation for the dialects and rewrites).
///
/// ```
/// use proxmox_proto::schema::pattern::translate;
/// let t = translate(r"(?^i:[a-z]+)(?:;(?^i:[a-z]+))*").unwrap();
/// assert_eq!(t.regex, r"^(?i:[a-z]+)(?:;(?i:[a-z]+))*(?:\n?\z)");
/// assert_eq!(t.perl_only, ["(?^…)"]);
/// ```
///
/// # Errors
///
/// A construct without a `regex-lite` equivalent (lookaround, backreferences, …), or a
/// malformed pattern, as a message naming it.
pub fn translate(source: &str) -> Result<Translation, String> {
    if source.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "the pattern is {} bytes long, more than the {MAX_PATTERN_LEN} this client translates",
            source.len()
        ));
    }
    if let Some(body) = rust_form(source) {
        return Ok(Translation {
            dialect: PatternDialect::Rust,
            regex: body.to_owned(),
            perl_only: Vec::new(),
        });
    }
    // Exactly what PVE compiles: the pattern pasted between `^` and `$`.
    let perl = format!("^{source}$");
    let mut t = Translator::new(&perl);
    t.run()?;
    Ok(Translation {
        dialect: PatternDialect::Perl,
        regex: t.out,
        perl_only: t.perl_only,
    })
}

/// The text between the slashes of a PBS pattern (`/^…$/`).
fn rust_form(source: &str) -> Option<&str> {
    // A lone `/` is a Perl pattern matching a slash: after the prefix, no suffix is left.
    source.strip_prefix('/')?.strip_suffix('/')
}

/// Compiles a translation.
fn compile(regex: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::RegexBuilder::new(regex)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("the translated pattern does not compile: {e}"))
}

impl Pattern {
    /// The pattern `source` as a schema writes it, translated and compiled.
    ///
    /// ```
    /// use proxmox_proto::schema::model::Pattern;
    /// let p = Pattern::new(r"(?^:[a-z][a-z0-9]*)");
    /// assert_eq!(p.is_match("vm1"), Ok(true));
    /// assert_eq!(p.is_match("1vm"), Ok(false));
    /// ```
    pub fn new(source: &str) -> Pattern {
        let translation = translate(source);
        let compiled = translation
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|t| compile(&t.regex));
        let (translated, regex) = match (translation, compiled) {
            (Ok(t), Ok(re)) => (Ok(t.regex), Some(re)),
            (Ok(_), Err(e)) | (Err(e), _) => (Err(e), None),
        };
        Pattern {
            perl: source.to_owned(),
            translated,
            regex,
        }
    }

    /// Whether `value` matches, as the server applies the pattern.
    ///
    /// # Errors
    ///
    /// The pattern has no translation (the message says why); a checker should not refuse
    /// the value then.
    pub fn is_match(&self, value: &str) -> Result<bool, String> {
        match (&self.regex, &self.translated) {
            (Some(re), _) => Ok(re.is_match(value)),
            (None, Err(e)) => Err(e.clone()),
            (None, Ok(_)) => Err("the pattern was not compiled".to_owned()),
        }
    }
}

impl SchemaData {
    /// Whether `value` matches pattern `id`, as the server applies it (see
    /// [`Pattern::is_match`]).
    ///
    /// # Errors
    ///
    /// `id` is not a pattern of this schema, or the pattern has no translation.
    pub fn pattern_matches(&self, id: PatternId, value: &str) -> Result<bool, String> {
        let index = usize::try_from(id.0).map_err(|_| format!("no pattern {}", id.0))?;
        self.patterns
            .get(index)
            .ok_or_else(|| format!("no pattern {} in this schema", id.0))?
            .is_match(value)
    }
}

impl Schema {
    /// Whether `value` matches pattern `id`, as the server applies it (see
    /// [`Pattern::is_match`]).
    ///
    /// # Errors
    ///
    /// `id` is not a pattern of this schema, or the pattern has no translation.
    pub fn pattern_matches(&self, id: PatternId, value: &str) -> Result<bool, String> {
        self.inner.pattern_matches(id, value)
    }
}

/// The regex flags Perl and `regex-lite` share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flags {
    i: bool,
    m: bool,
    s: bool,
    x: bool,
}

impl Flags {
    fn set(&mut self, letter: char, on: bool) {
        match letter {
            'i' => self.i = on,
            'm' => self.m = on,
            's' => self.s = on,
            'x' => self.x = on,
            _ => {}
        }
    }

    /// `regex-lite` flag text turning `self` into `to` (`i-m`), empty when equal.
    fn change_to(self, to: Flags) -> String {
        let pairs = [
            ('i', self.i, to.i),
            ('m', self.m, to.m),
            ('s', self.s, to.s),
            ('x', self.x, to.x),
        ];
        let on: String = pairs
            .iter()
            .filter(|(_, a, b)| !a && *b)
            .map(|p| p.0)
            .collect();
        let off: String = pairs
            .iter()
            .filter(|(_, a, b)| *a && !b)
            .map(|p| p.0)
            .collect();
        if off.is_empty() {
            on
        } else {
            format!("{on}-{off}")
        }
    }
}

/// What `$` (Perl, without `/m`) and `\Z` match: the end, or before a final newline.
const PERL_END: &str = r"(?:\n?\z)";

/// The Perl-to-`regex-lite` rewriter: one pass over the characters.
struct Translator {
    src: Vec<char>,
    pos: usize,
    out: String,
    flags: Flags,
    /// The flags in force outside each open group.
    groups: Vec<Flags>,
    /// Whether the last thing written can take a quantifier.
    atom: bool,
    perl_only: Vec<&'static str>,
}

impl Translator {
    fn new(src: &str) -> Self {
        Translator {
            src: src.chars().collect(),
            pos: 0,
            out: String::with_capacity(src.len() + 16),
            flags: Flags::default(),
            groups: Vec::new(),
            atom: false,
            perl_only: Vec::new(),
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.src.get(self.pos + ahead).copied()
    }

    fn note(&mut self, what: &'static str) {
        if !self.perl_only.contains(&what) {
            self.perl_only.push(what);
        }
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.peek(0) {
            if self.flags.x && (c.is_whitespace() || c == '#') {
                self.skip_extended_space();
                continue;
            }
            match c {
                '\\' => {
                    self.escape(false)?;
                    self.atom = true;
                }
                '[' => {
                    self.class()?;
                    self.atom = true;
                }
                '(' => {
                    self.open_group()?;
                }
                ')' => {
                    let Some(outer) = self.groups.pop() else {
                        return Err("unbalanced `)`".to_owned());
                    };
                    self.flags = outer;
                    self.out.push(')');
                    self.pos += 1;
                    self.atom = true;
                }
                '*' | '+' | '?' => {
                    self.out.push(c);
                    self.pos += 1;
                    self.after_quantifier();
                }
                '{' => self.brace(),
                '}' => {
                    self.out.push_str(r"\}");
                    self.pos += 1;
                    self.atom = true;
                }
                '$' => {
                    self.out.push_str(if self.flags.m { "$" } else { PERL_END });
                    self.pos += 1;
                    self.atom = false;
                }
                '^' | '|' => {
                    self.out.push(c);
                    self.pos += 1;
                    self.atom = false;
                }
                _ => {
                    self.out.push(c);
                    self.pos += 1;
                    self.atom = true;
                }
            }
        }
        if !self.groups.is_empty() {
            return Err("a group is not closed (missing `)`)".to_owned());
        }
        Ok(())
    }

    /// Under `/x`, whitespace and `#` comments (to the end of the line) are not pattern.
    fn skip_extended_space(&mut self) {
        if self.peek(0) == Some('#') {
            while let Some(c) = self.peek(0) {
                self.pos += 1;
                if c == '\n' {
                    break;
                }
            }
        } else {
            self.pos += 1;
        }
    }

    /// After `*`, `+`, `?` or `{…}`: a possessive `+` is dropped, a lazy `?` kept.
    fn after_quantifier(&mut self) {
        match self.peek(0) {
            Some('+') => {
                self.pos += 1;
                self.note("possessive quantifier");
            }
            Some('?') => {
                self.out.push('?');
                self.pos += 1;
            }
            _ => {}
        }
        self.atom = false;
    }

    /// `{`: a quantifier (`{n}`, `{n,}`, `{n,m}`, `{,m}`) after something quantifiable,
    /// otherwise a literal brace, as in Perl.
    fn brace(&mut self) {
        let mut j = self.pos + 1;
        let skip_space = |j: &mut usize, src: &[char]| {
            while src.get(*j).is_some_and(|c| *c == ' ' || *c == '\t') {
                *j += 1;
            }
        };
        let digits = |j: &mut usize, src: &[char]| {
            let start = *j;
            while src.get(*j).is_some_and(char::is_ascii_digit) {
                *j += 1;
            }
            src[start..*j].iter().collect::<String>()
        };
        skip_space(&mut j, &self.src);
        let min = digits(&mut j, &self.src);
        skip_space(&mut j, &self.src);
        let mut max = None;
        if self.src.get(j) == Some(&',') {
            j += 1;
            skip_space(&mut j, &self.src);
            max = Some(digits(&mut j, &self.src));
            skip_space(&mut j, &self.src);
        }
        let closed = self.src.get(j) == Some(&'}');
        let valid =
            closed && (!min.is_empty() || max.as_ref().is_some_and(|m| !m.is_empty())) && self.atom;
        if !valid {
            self.out.push_str(r"\{");
            self.pos += 1;
            self.atom = true;
            return;
        }
        let min = if min.is_empty() {
            self.note("{,n}");
            "0".to_owned()
        } else {
            min
        };
        match max {
            None => self.out.push_str(&format!("{{{min}}}")),
            Some(max) => self.out.push_str(&format!("{{{min},{max}}}")),
        }
        self.pos = j + 1;
        self.after_quantifier();
    }

    fn open_group(&mut self) -> Result<(), String> {
        self.atom = false;
        if self.peek(1) != Some('?') {
            self.out.push('(');
            self.pos += 1;
            self.groups.push(self.flags);
            return Ok(());
        }
        let kind = self.peek(2);
        match kind {
            Some(':') => {
                self.out.push_str("(?:");
                self.pos += 3;
                self.groups.push(self.flags);
            }
            Some('>') => {
                self.out.push_str("(?:");
                self.pos += 3;
                self.groups.push(self.flags);
                self.note("(?>…)");
            }
            Some('|') => {
                self.out.push_str("(?:");
                self.pos += 3;
                self.groups.push(self.flags);
                self.note("(?|…)");
            }
            Some('#') => {
                // A comment: up to the first `)`.
                self.pos += 3;
                while let Some(c) = self.peek(0) {
                    self.pos += 1;
                    if c == ')' {
                        self.note("(?#…)");
                        return Ok(());
                    }
                }
                return Err("a `(?#` comment is not closed".to_owned());
            }
            Some('=' | '!') => return Err("lookahead `(?=`/`(?!` is not supported".to_owned()),
            Some('<') if matches!(self.peek(3), Some('=' | '!')) => {
                return Err("lookbehind `(?<=`/`(?<!` is not supported".to_owned());
            }
            Some('<') => self.named_group(3, '>')?,
            Some('\'') => self.named_group(3, '\'')?,
            Some('P') if self.peek(3) == Some('<') => self.named_group(4, '>')?,
            Some('^' | '-' | 'a'..='z') => self.flag_group()?,
            _ => {
                let what: String = self.src[self.pos..].iter().take(4).collect();
                return Err(format!("the group `{what}…` is not supported"));
            }
        }
        Ok(())
    }

    /// `(?<name>`, `(?'name'`, `(?P<name>` → `(?P<name>`.
    fn named_group(&mut self, skip: usize, close: char) -> Result<(), String> {
        let start = self.pos + skip;
        let mut j = start;
        while let Some(c) = self.src.get(j) {
            if *c == close {
                let name: String = self.src[start..j].iter().collect();
                self.out.push_str(&format!("(?P<{name}>"));
                self.pos = j + 1;
                self.groups.push(self.flags);
                return Ok(());
            }
            j += 1;
        }
        Err("a named group's name is not closed".to_owned())
    }

    /// `(?^i:`, `(?i-s:`, `(?i)`.
    fn flag_group(&mut self) -> Result<(), String> {
        let mut j = self.pos + 2;
        let mut new = self.flags;
        let mut on = true;
        if self.src.get(j) == Some(&'^') {
            new = Flags::default();
            j += 1;
            self.note("(?^…)");
        }
        loop {
            match self.src.get(j) {
                Some('-') => on = false,
                Some(c @ ('i' | 'm' | 's' | 'x')) => new.set(*c, on),
                // Charset and capture modifiers change nothing for matching here.
                Some('a' | 'u' | 'l' | 'd' | 'n' | 'p') => {}
                Some(':') => {
                    let change = self.flags.change_to(new);
                    self.out.push_str(&format!("(?{change}:"));
                    self.groups.push(self.flags);
                    self.flags = new;
                    self.pos = j + 1;
                    return Ok(());
                }
                Some(')') => {
                    let change = self.flags.change_to(new);
                    if !change.is_empty() {
                        self.out.push_str(&format!("(?{change})"));
                    }
                    self.flags = new;
                    self.pos = j + 1;
                    return Ok(());
                }
                Some(c) => return Err(format!("the regex flag `{c}` is not supported")),
                None => return Err("a flag group is not closed".to_owned()),
            }
            j += 1;
        }
    }

    /// A hex escape for code point `n`.
    fn push_code(&mut self, n: u32) -> Result<(), String> {
        if char::from_u32(n).is_none() {
            return Err(format!(
                "the escape for code point {n:#x} is not a character"
            ));
        }
        self.out.push_str(&format!("\\x{{{n:X}}}"));
        Ok(())
    }

    /// Up to `max` digits of `radix` at the current position, as a number.
    fn number(&mut self, radix: u32, max: usize) -> Result<u32, String> {
        let mut n: u32 = 0;
        let mut count = 0;
        while count < max {
            let Some(d) = self.peek(0).and_then(|c| c.to_digit(radix)) else {
                break;
            };
            n = n
                .checked_mul(radix)
                .and_then(|n| n.checked_add(d))
                .ok_or("an escape's number is too large")?;
            self.pos += 1;
            count += 1;
        }
        Ok(n)
    }

    /// `{…}` after `\x` or `\o`: the number inside.
    fn braced_number(&mut self, radix: u32) -> Result<u32, String> {
        self.pos += 1; // `{`
        while self.peek(0) == Some(' ') {
            self.pos += 1;
        }
        let n = self.number(radix, 8)?;
        while self.peek(0) == Some(' ') {
            self.pos += 1;
        }
        if self.peek(0) != Some('}') {
            return Err("an escape's `{…}` is not closed".to_owned());
        }
        self.pos += 1;
        Ok(n)
    }

    /// A backslash sequence, outside or inside a class. Returns whether it was a class
    /// (`\d`, `\w`, …: it cannot be a range end).
    fn escape(&mut self, in_class: bool) -> Result<bool, String> {
        let Some(c) = self.peek(1) else {
            return Err("the pattern ends with a lone `\\`".to_owned());
        };
        self.pos += 2;
        match c {
            '0' => {
                let n = self.number(8, 2)?;
                self.note("octal escape");
                self.push_code(n)?;
            }
            '1'..='9' if in_class => {
                // Octal in a class (`[\1]`).
                self.pos -= 1;
                let n = self.number(8, 3)?;
                self.note("octal escape");
                self.push_code(n)?;
            }
            '1'..='9' => return Err(format!("the backreference `\\{c}` is not supported")),
            'x' => {
                let n = if self.peek(0) == Some('{') {
                    self.braced_number(16)?
                } else {
                    self.number(16, 2)?
                };
                self.push_code(n)?;
            }
            'o' if self.peek(0) == Some('{') => {
                let n = self.braced_number(8)?;
                self.note("octal escape");
                self.push_code(n)?;
            }
            'c' => {
                let Some(x) = self.peek(0) else {
                    return Err("`\\c` without a character".to_owned());
                };
                self.pos += 1;
                self.push_code(u32::from(x.to_ascii_uppercase()) ^ 0x40)?;
            }
            'e' => self.push_code(0x1B)?,
            'a' | 'f' | 't' | 'n' | 'r' => {
                self.out.push('\\');
                self.out.push(c);
            }
            'd' | 'D' | 'w' | 'W' | 's' | 'S' => {
                self.out.push('\\');
                self.out.push(c);
                return Ok(true);
            }
            'b' if in_class => self.push_code(0x08)?,
            'b' | 'B' if self.peek(0) == Some('{') => {
                return Err(format!("the boundary `\\{c}{{…}}` is not supported"));
            }
            'b' | 'B' | 'A' | 'z' if !in_class => {
                self.out.push('\\');
                self.out.push(c);
            }
            'Z' if !in_class => {
                self.out.push_str(PERL_END);
                self.note("\\Z");
            }
            'h' | 'v' => {
                let set = if c == 'h' { r"\t\x20" } else { r"\n\x0B\f\r" };
                if in_class {
                    self.out.push_str(set);
                } else {
                    self.out.push_str(&format!("[{set}]"));
                }
                self.note("\\h \\v \\N \\R");
                return Ok(true);
            }
            'H' | 'V' | 'N' | 'R' if !in_class && self.peek(0) != Some('{') => {
                self.out.push_str(match c {
                    'H' => r"[^\t\x20]",
                    'V' => r"[^\n\x0B\f\r]",
                    'N' => r"[^\n]",
                    _ => r"(?:\r\n|[\n\x0B\f\r])",
                });
                self.note("\\h \\v \\N \\R");
            }
            '<' | '>' => self.out.push(c),
            c if c.is_ascii_alphanumeric() => {
                return Err(format!("the escape `\\{c}` is not supported"));
            }
            c if c.is_ascii() => {
                self.out.push('\\');
                self.out.push(c);
            }
            c => self.out.push(c),
        }
        Ok(false)
    }

    /// A bracketed class, from `[` to its `]`.
    fn class(&mut self) -> Result<(), String> {
        self.out.push('[');
        self.pos += 1;
        if self.peek(0) == Some('^') {
            self.out.push('^');
            self.pos += 1;
        }
        if self.peek(0) == Some(']') {
            self.out.push_str(r"\]");
            self.pos += 1;
        }
        // Whether the previous item was a class (`\w`), and whether a `-` was just written
        // as a range operator: then a following `-` is a literal.
        let mut prev_class = false;
        let mut prev_dash = false;
        loop {
            let Some(c) = self.peek(0) else {
                return Err("a character class is not closed (missing `]`)".to_owned());
            };
            match c {
                ']' => {
                    self.out.push(']');
                    self.pos += 1;
                    return Ok(());
                }
                '\\' => {
                    prev_class = self.escape(true)?;
                    prev_dash = false;
                }
                '[' => {
                    if let Some(len) = self.posix_class_len() {
                        let text: String = self.src[self.pos..self.pos + len].iter().collect();
                        self.out.push_str(&text);
                        self.pos += len;
                        prev_class = true;
                    } else {
                        self.out.push_str(r"\[");
                        self.pos += 1;
                        prev_class = false;
                    }
                    prev_dash = false;
                }
                '-' => {
                    let next_is_class = match self.peek(1) {
                        Some('\\') => matches!(
                            self.peek(2),
                            Some('d' | 'D' | 'w' | 'W' | 's' | 'S' | 'h' | 'v')
                        ),
                        Some('[') => self.peek(2) == Some(':'),
                        Some('-') => true,
                        _ => false,
                    };
                    if prev_class || prev_dash || next_is_class {
                        self.out.push_str(r"\-");
                        prev_dash = false;
                    } else {
                        self.out.push('-');
                        prev_dash = true;
                    }
                    self.pos += 1;
                    prev_class = false;
                }
                '&' | '~' => {
                    self.out.push('\\');
                    self.out.push(c);
                    self.pos += 1;
                    prev_class = false;
                    prev_dash = false;
                }
                c if self.flags.x && (c.is_whitespace() || c == '#') => {
                    // regex-lite skips these in a class under `x`; Perl (without `/xx`) does
                    // not.
                    self.push_code(u32::from(c))?;
                    self.pos += 1;
                    prev_class = false;
                    prev_dash = false;
                }
                c => {
                    self.out.push(c);
                    self.pos += 1;
                    prev_class = false;
                    prev_dash = false;
                }
            }
        }
    }

    /// The length of a POSIX class (`[:alpha:]`, `[:^cntrl:]`) at the current `[`, if one.
    fn posix_class_len(&self) -> Option<usize> {
        if self.peek(1) != Some(':') {
            return None;
        }
        let mut j = 2;
        if self.peek(j) == Some('^') {
            j += 1;
        }
        let start = j;
        while self.peek(j).is_some_and(|c| c.is_ascii_lowercase()) {
            j += 1;
        }
        (j > start && self.peek(j) == Some(':') && self.peek(j + 1) == Some(']')).then_some(j + 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(p: &str) -> String {
        translate(p).unwrap().regex
    }

    fn matches(p: &str, value: &str) -> bool {
        Pattern::new(p).is_match(value).unwrap()
    }

    #[test]
    fn caret_flag_groups_become_plain_and_case_insensitive_groups() {
        assert_eq!(regex("(?^:[a-z]+)"), r"^(?:[a-z]+)(?:\n?\z)");
        assert_eq!(regex("(?^i:[a-z]+)"), r"^(?i:[a-z]+)(?:\n?\z)");
        assert!(matches("(?^i:[a-z]+)", "AbC"));
        assert!(!matches("(?^:[a-z]+)", "AbC"));
        // A reset inside a case-insensitive group turns `i` off again.
        assert_eq!(regex("(?^i:a(?^:b))"), r"^(?i:a(?-i:b))(?:\n?\z)");
        assert!(matches("(?^i:a(?^:b))", "Ab"));
        assert!(!matches("(?^i:a(?^:b))", "AB"));
    }

    #[test]
    fn atomic_groups_and_possessive_quantifiers_become_plain() {
        let p = r"(?^:(?>[a-z]+:?)+)";
        let t = translate(p).unwrap();
        assert!(t.perl_only.contains(&"(?>…)"));
        assert!(matches(p, "ab:cd:ef"));
        assert!(!matches(p, "ab::cd"));
        // Where the group could give characters back, the plain group accepts more.
        assert!(matches("(?>[a-z]+)z", "abz"));
        assert!(matches("a++b", "aaab"));
        assert_eq!(
            translate("a*+").unwrap().perl_only,
            ["possessive quantifier"]
        );
    }

    #[test]
    fn open_minimum_repetition_and_literal_braces() {
        assert_eq!(regex("[a-z]{,4}"), r"^[a-z]{0,4}(?:\n?\z)");
        assert!(matches("[a-z]{,4}", ""));
        assert!(matches("[a-z]{,4}", "abcd"));
        assert!(!matches("[a-z]{,4}", "abcde"));
        // Not a quantifier in Perl: literal braces.
        assert!(matches("x{y}", "x{y}"));
        assert!(matches("{2}", "{2}"));
        assert!(matches("a{2,}+", "aaa"));
    }

    #[test]
    fn octal_and_other_perl_escapes() {
        // `\0` is NUL, as a list separator in some patterns.
        let p = r"(?^:[a-z]+(?:\0[a-z]+)*)";
        assert!(matches(p, "ab\0cd"));
        assert!(!matches(p, "ab\0"));
        assert!(matches(r"\x42\x{43}\x4\cA\e", "BC\u{4}\u{1}\u{1B}"));
        assert!(matches(r"[\101]", "A"));
        assert!(matches(r"a\Z", "a\n"));
        assert!(matches(r"a\hb", "a b"));
        assert!(matches(r"\@\/\_", "@/_"));
    }

    #[test]
    fn anchoring_is_perls_textual_one() {
        // `^a|b$`: starts with `a`, or ends with `b`.
        assert!(matches("a|b", "a-and-more"));
        assert!(matches("a|b", "more-then-b"));
        assert!(!matches("a|b", "xax"));
        // `$` also matches before a final newline.
        assert!(matches("[a-z]+", "abc\n"));
        assert!(!matches("[a-z]+", "abc\n\n"));
        // The pattern's own anchors are harmless.
        assert!(matches("^[0-9]+$", "42"));
    }

    #[test]
    fn classes_keep_perls_literal_characters() {
        // `-` next to a class is a literal; `[`, `&`, `~` are literals in Perl classes.
        assert!(matches(r"[\w-]+", "a-b"));
        assert!(matches(r"[-\w]+", "-a"));
        assert!(matches(r"[a[&~]+", "a[&~"));
        assert!(matches(r"[]a]+", "]a"));
        assert!(matches(r"[[:alpha:][:digit:]]+", "a1"));
        assert!(matches(r"[\(\)-_]+", "()*+,-._"));
        assert!(matches(r"(?x) a b [ ]", "ab "));
    }

    #[test]
    fn rust_form_patterns_are_searches() {
        let t = translate(r"/^[a-z][a-z0-9]*$/").unwrap();
        assert_eq!(t.dialect, PatternDialect::Rust);
        assert_eq!(t.regex, r"^[a-z][a-z0-9]*$");
        assert!(matches(r"/^[[:^cntrl:]]*$/", "fine text"));
        assert!(!matches(r"/^[[:^cntrl:]]*$/", "bell\u{7}"));
        assert!(matches("/b/", "abc"));
    }

    #[test]
    fn unsupported_constructs_are_errors_not_panics() {
        for p in [
            "(?=a)", "(?<=a)b", r"(a)\1", r"\p{L}", "(?R)", "(", ")", "[a", "(?#x", r"\Qa\E",
            "(?z:a)",
        ] {
            let p = Pattern::new(p);
            assert!(p.translated.is_err(), "{p:?}");
            assert!(p.is_match("a").is_err());
        }
    }

    #[test]
    fn a_trailing_backslash_escapes_the_anchor_as_in_perl() {
        // `m/^\$/`: a literal dollar sign at the start.
        assert!(matches(r"\", "$5"));
        assert!(!matches(r"\", "5"));
    }

    #[test]
    fn huge_patterns_fail_cleanly() {
        assert!(translate(&"a".repeat(MAX_PATTERN_LEN + 1)).is_err());
        assert!(Pattern::new("(?:a{1000}){1000}").is_match("a").is_err());
    }
}
