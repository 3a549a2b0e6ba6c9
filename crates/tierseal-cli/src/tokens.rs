//! Finding sealed tokens in JSON Lines, streamed.
//!
//! One pass over each line both checks it against the JSON grammar
//! (RFC 8259, UTF-8) and finds every token, so the two cannot disagree. A
//! token is `tierseal:` followed by base64url characters in the *decoded*
//! text of any JSON string — a value or a key, at any depth, whatever its
//! escaping (`"\u0074ierseal:..."` is found), and also inside longer text
//! such as JSON kept in a string. Bytes are copied through as they are read:
//! every byte outside a replaced token is written exactly as it came
//! (numbers of any precision, key order, whitespace, escapes), and memory
//! does not grow with the line: only one token (at most
//! [`MAX_TOKEN_BYTES`]) and the nesting stack (at most [`MAX_DEPTH`]) are
//! held.
//!
//! A line is one JSON value: a newline ends it, as JSON Lines requires.
//! A line that breaks the grammar is a [`Line::fault`] naming the column;
//! the rest of it is copied unchanged and not searched, so a caller that
//! must not miss a token treats such a line as unreadable.

use std::io::{self, BufRead, Write};

/// The largest token, in bytes as written, that is searched and handed
/// over (sealed values larger than this are refused, line by line).
pub const MAX_TOKEN_BYTES: usize = 16 << 20;

/// How deeply objects and arrays may nest (the limit serde_json applies).
pub const MAX_DEPTH: usize = 128;

const NEEDLE: &[u8] = b"tierseal:";

/// Output is handed to the writer in pieces of about this size.
const OUT_CHUNK: usize = 64 << 10;

/// A token found in a string.
#[derive(Debug)]
pub struct Found<'a> {
    /// The token's text, JSON escapes resolved.
    pub text: &'a str,
    /// The token is the whole string (else it is part of longer text).
    pub whole_string: bool,
}

/// What to do with a token: `Ok(None)` keep it as written,
/// `Ok(Some(text))` write `text` instead (base64url characters only),
/// `Err(reason)` fail the line.
pub type TokenResult = Result<Option<String>, String>;

/// Reading the input or writing the output failed.
#[derive(Debug)]
pub enum StreamError {
    /// Reading the input failed.
    Read(io::Error),
    /// Writing the output failed.
    Write(io::Error),
}

/// One line as scanned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: u64,
    /// Bytes read, the newline included.
    pub bytes: u64,
    /// Only whitespace.
    pub blank: bool,
    /// Why the line is not usable (not JSON, not UTF-8, a token refused
    /// by the handler); `None` when it is.
    pub fault: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

/// Where the grammar is between tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A value (start of the line, after `:` or `,` in an array).
    Value,
    /// A value or `]` (just after `[`).
    ValueOrClose,
    /// A key (after `,` in an object).
    Key,
    /// A key or `}` (just after `{`).
    KeyOrClose,
    /// `:` after a key.
    Colon,
    /// `,` or the container's closer.
    CommaOrClose,
    /// Nothing but whitespace: the line's value is complete.
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Str {
    Plain,
    Escape,
    Hex {
        digits: u8,
        value: u16,
    },
    Utf8 {
        need: u8,
        lo: u8,
        hi: u8,
        start: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    Between,
    String {
        key: bool,
        state: Str,
    },
    Number(Num),
    Literal {
        word: &'static [u8],
        at: usize,
    },
    /// After a fault: copy the rest of the line.
    Skip,
}

/// Streams JSON Lines, finding every sealed token.
#[derive(Debug)]
pub struct Scanner {
    lex: Lex,
    expect: Expect,
    stack: Vec<Container>,
    number: u64,
    column: u64,
    seen: bool,
    fault: Option<String>,
    out: Vec<u8>,
    // The search inside the current string.
    string_empty: bool,
    holding: bool,
    held: Vec<u8>,
    char_start: usize,
    matched: usize,
    in_token: bool,
    token_at_start: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    /// A scanner at the start of the input.
    pub fn new() -> Scanner {
        Scanner {
            lex: Lex::Between,
            expect: Expect::Value,
            stack: Vec::new(),
            number: 0,
            column: 0,
            seen: false,
            fault: None,
            out: Vec::with_capacity(OUT_CHUNK + 1024),
            string_empty: true,
            holding: false,
            held: Vec::new(),
            char_start: 0,
            matched: 0,
            in_token: false,
            token_at_start: false,
        }
    }

    /// A scanner whose first line is numbered `first_line` (1-based): for
    /// a piece of a larger input scanned on its own, so that reports name
    /// the line of the whole input.
    pub fn starting_at(first_line: u64) -> Scanner {
        let mut scanner = Scanner::new();
        scanner.number = first_line.saturating_sub(1);
        scanner
    }

    /// Scans the next line of `input` and copies it to `output`, calling
    /// `handle` on each token and writing what it says. `None` at the end
    /// of the input. Call [`finish`](Self::finish) once done.
    ///
    /// # Errors
    /// Reading or writing fails.
    pub fn next_line<R, W, H>(
        &mut self,
        input: &mut R,
        output: &mut W,
        handle: &mut H,
    ) -> Result<Option<Line>, StreamError>
    where
        R: BufRead + ?Sized,
        W: Write + ?Sized,
        H: FnMut(Found<'_>) -> TokenResult + ?Sized,
    {
        loop {
            let chunk = input.fill_buf().map_err(StreamError::Read)?;
            if chunk.is_empty() {
                if self.column == 0 {
                    return Ok(None);
                }
                let line = self.end_line(false);
                self.spill(output, 0).map_err(StreamError::Write)?;
                return Ok(Some(line));
            }
            let (used, ended) = self.feed(chunk, handle);
            input.consume(used);
            self.spill(output, OUT_CHUNK).map_err(StreamError::Write)?;
            if ended {
                return Ok(Some(self.end_line(true)));
            }
        }
    }

    /// Writes what is still buffered.
    ///
    /// # Errors
    /// Writing fails.
    pub fn finish<W: Write + ?Sized>(&mut self, output: &mut W) -> io::Result<()> {
        self.spill(output, 0)?;
        output.flush()
    }

    /// The most bytes the scanner has held at once (its buffers'
    /// capacity): it does not grow with the length of a line.
    pub fn peak_buffered(&self) -> usize {
        self.out.capacity() + self.held.capacity()
    }

    fn spill<W: Write + ?Sized>(&mut self, output: &mut W, above: usize) -> io::Result<()> {
        if self.out.len() > above {
            output.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Consumes bytes of `chunk` up to and including a newline; returns
    /// how many were consumed and whether the line ended.
    fn feed<H>(&mut self, chunk: &[u8], handle: &mut H) -> (usize, bool)
    where
        H: FnMut(Found<'_>) -> TokenResult + ?Sized,
    {
        let mut i = 0;
        while let Some(&byte) = chunk.get(i) {
            // Fast paths over the long runs: plain string text, token
            // bodies, and the rest of a faulty line.
            let rest = chunk.get(i..).unwrap_or_default();
            let run = match self.lex {
                Lex::String {
                    state: Str::Plain, ..
                } if self.in_token => run_len(rest, BASE64URL),
                Lex::String {
                    state: Str::Plain, ..
                } if !self.holding => run_len(rest, PLAIN_TEXT),
                Lex::Skip => run_len(rest, NOT_NEWLINE),
                _ => 0,
            };
            if let Some(bytes) = rest.get(..run).filter(|bytes| !bytes.is_empty()) {
                if matches!(self.lex, Lex::Skip) {
                    self.out.extend_from_slice(bytes);
                } else if self.in_token {
                    self.held.extend_from_slice(bytes);
                    self.string_empty = false;
                    if self.held.len() > MAX_TOKEN_BYTES {
                        self.fail(token_too_long());
                    }
                } else {
                    self.out.extend_from_slice(bytes);
                    self.string_empty = false;
                }
                self.column += run as u64;
                i += run;
                continue;
            }
            self.column += 1;
            i += 1;
            if byte == b'\n' {
                return (i, true);
            }
            if let Err(reason) = self.step(byte, handle) {
                self.fail(reason);
            }
        }
        (i, false)
    }

    /// Records the line's first fault; the rest of the line is copied.
    fn fail(&mut self, reason: String) {
        if self.fault.is_none() {
            self.fault = Some(reason);
        }
        self.out.append(&mut self.held);
        self.holding = false;
        self.in_token = false;
        self.lex = Lex::Skip;
    }

    fn step<H>(&mut self, byte: u8, handle: &mut H) -> Result<(), String>
    where
        H: FnMut(Found<'_>) -> TokenResult + ?Sized,
    {
        match self.lex {
            Lex::Skip => {
                self.out.push(byte);
                Ok(())
            }
            Lex::Between => {
                self.out.push(byte);
                self.between(byte)
            }
            Lex::String { key, state } => self.string(key, state, byte, handle),
            Lex::Number(state) => match next_number(state, byte) {
                Some(next) => {
                    self.out.push(byte);
                    self.lex = Lex::Number(next);
                    Ok(())
                }
                None => {
                    self.out.push(byte);
                    self.end_number()?;
                    self.between(byte)
                }
            },
            Lex::Literal { word, at } => {
                self.out.push(byte);
                if word.get(at) != Some(&byte) {
                    return Err(self.unexpected(byte));
                }
                if at + 1 == word.len() {
                    self.lex = Lex::Between;
                    self.after_value();
                } else {
                    self.lex = Lex::Literal { word, at: at + 1 };
                }
                Ok(())
            }
        }
    }

    /// A byte between tokens (already copied to the output).
    fn between(&mut self, byte: u8) -> Result<(), String> {
        if matches!(byte, b' ' | b'\t' | b'\r') {
            return Ok(());
        }
        self.seen = true;
        match (self.expect, byte) {
            (Expect::Value | Expect::ValueOrClose, b'{') => self.open(Container::Object),
            (Expect::Value | Expect::ValueOrClose, b'[') => self.open(Container::Array),
            (Expect::Value | Expect::ValueOrClose, b'"') => {
                self.open_string(false);
                Ok(())
            }
            (Expect::Value | Expect::ValueOrClose, b'-') => {
                self.lex = Lex::Number(Num::Minus);
                Ok(())
            }
            (Expect::Value | Expect::ValueOrClose, b'0') => {
                self.lex = Lex::Number(Num::Zero);
                Ok(())
            }
            (Expect::Value | Expect::ValueOrClose, b'1'..=b'9') => {
                self.lex = Lex::Number(Num::Int);
                Ok(())
            }
            (Expect::Value | Expect::ValueOrClose, b't' | b'f' | b'n') => {
                let word: &'static [u8] = match byte {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                self.lex = Lex::Literal { word, at: 1 };
                Ok(())
            }
            (Expect::ValueOrClose | Expect::CommaOrClose, b']') => self.close(Container::Array),
            (Expect::KeyOrClose | Expect::CommaOrClose, b'}') => self.close(Container::Object),
            (Expect::Key | Expect::KeyOrClose, b'"') => {
                self.open_string(true);
                Ok(())
            }
            (Expect::Colon, b':') => {
                self.expect = Expect::Value;
                Ok(())
            }
            (Expect::CommaOrClose, b',') => {
                self.expect = match self.stack.last() {
                    Some(Container::Object) => Expect::Key,
                    _ => Expect::Value,
                };
                Ok(())
            }
            _ => Err(self.unexpected(byte)),
        }
    }

    fn open(&mut self, container: Container) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!(
                "not JSON: nested deeper than {MAX_DEPTH} levels at column {}",
                self.column
            ));
        }
        self.stack.push(container);
        self.expect = match container {
            Container::Object => Expect::KeyOrClose,
            Container::Array => Expect::ValueOrClose,
        };
        Ok(())
    }

    fn close(&mut self, container: Container) -> Result<(), String> {
        if self.stack.pop() != Some(container) {
            return Err(self.unexpected(if container == Container::Array {
                b']'
            } else {
                b'}'
            }));
        }
        self.after_value();
        Ok(())
    }

    fn after_value(&mut self) {
        self.expect = if self.stack.is_empty() {
            Expect::End
        } else {
            Expect::CommaOrClose
        };
    }

    fn end_number(&mut self) -> Result<(), String> {
        match self.lex {
            Lex::Number(Num::Zero | Num::Int | Num::Frac | Num::ExpDigits) => {
                self.lex = Lex::Between;
                self.after_value();
                Ok(())
            }
            _ => Err(format!(
                "not JSON: incomplete number at column {}",
                self.column
            )),
        }
    }

    fn unexpected(&self, byte: u8) -> String {
        let shown = if byte.is_ascii_graphic() {
            format!("`{}`", char::from(byte))
        } else {
            format!("byte 0x{byte:02x}")
        };
        format!("not JSON: unexpected {shown} at column {}", self.column)
    }

    fn open_string(&mut self, key: bool) {
        self.lex = Lex::String {
            key,
            state: Str::Plain,
        };
        self.string_empty = true;
        self.matched = 0;
    }

    /// A byte inside a string.
    fn string<H>(&mut self, key: bool, state: Str, byte: u8, handle: &mut H) -> Result<(), String>
    where
        H: FnMut(Found<'_>) -> TokenResult + ?Sized,
    {
        let set = |this: &mut Scanner, state| this.lex = Lex::String { key, state };
        match state {
            Str::Plain => match byte {
                b'"' => {
                    let verdict = if self.in_token {
                        let whole = self.token_at_start;
                        self.end_token(self.held.len(), whole, handle)
                    } else {
                        Ok(())
                    };
                    self.release();
                    self.out.push(byte);
                    verdict?;
                    self.lex = Lex::Between;
                    if key {
                        self.expect = Expect::Colon;
                    } else {
                        self.after_value();
                    }
                    Ok(())
                }
                b'\\' => {
                    self.begin_char(byte);
                    set(self, Str::Escape);
                    Ok(())
                }
                0..=0x1f => {
                    self.emit(byte);
                    Err(format!(
                        "not JSON: control character 0x{byte:02x} in a string at column {}",
                        self.column
                    ))
                }
                0x20..=0x7f => {
                    self.begin_char(byte);
                    self.end_char(Some(byte), handle)
                }
                _ => {
                    let (need, lo, hi) = match byte {
                        0xc2..=0xdf => (1, 0x80, 0xbf),
                        0xe0 => (2, 0xa0, 0xbf),
                        0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
                        0xed => (2, 0x80, 0x9f),
                        0xf0 => (3, 0x90, 0xbf),
                        0xf1..=0xf3 => (3, 0x80, 0xbf),
                        0xf4 => (3, 0x80, 0x8f),
                        _ => {
                            self.emit(byte);
                            return Err(self.not_utf8(byte));
                        }
                    };
                    self.begin_char(byte);
                    let start = self.column;
                    set(
                        self,
                        Str::Utf8 {
                            need,
                            lo,
                            hi,
                            start,
                        },
                    );
                    Ok(())
                }
            },
            Str::Escape => {
                self.emit(byte);
                let decoded = match byte {
                    b'"' | b'\\' | b'/' => byte,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        set(
                            self,
                            Str::Hex {
                                digits: 0,
                                value: 0,
                            },
                        );
                        return Ok(());
                    }
                    _ => {
                        return Err(format!(
                            "not JSON: invalid escape in a string at column {}",
                            self.column
                        ));
                    }
                };
                set(self, Str::Plain);
                self.end_char(Some(decoded), handle)
            }
            Str::Hex { digits, value } => {
                self.emit(byte);
                let Some(digit) = char::from(byte).to_digit(16) else {
                    return Err(format!(
                        "not JSON: invalid \\u escape in a string at column {}",
                        self.column
                    ));
                };
                // Four hex digits fit a u16; a digit is below 16.
                let value = value << 4 | u16::try_from(digit).unwrap_or(0);
                if digits == 3 {
                    set(self, Str::Plain);
                    // Surrogates and other non-ASCII code units are never
                    // part of a token: only ASCII needs decoding.
                    self.end_char(u8::try_from(value).ok().filter(u8::is_ascii), handle)
                } else {
                    set(
                        self,
                        Str::Hex {
                            digits: digits + 1,
                            value,
                        },
                    );
                    Ok(())
                }
            }
            Str::Utf8 {
                need,
                lo,
                hi,
                start,
            } => {
                self.emit(byte);
                if !(lo..=hi).contains(&byte) {
                    return Err(format!(
                        "not UTF-8: invalid byte sequence at column {start}"
                    ));
                }
                if need == 1 {
                    set(self, Str::Plain);
                    self.end_char(None, handle)
                } else {
                    set(
                        self,
                        Str::Utf8 {
                            need: need - 1,
                            lo: 0x80,
                            hi: 0xbf,
                            start,
                        },
                    );
                    Ok(())
                }
            }
        }
    }

    fn not_utf8(&self, byte: u8) -> String {
        format!(
            "not UTF-8: invalid byte 0x{byte:02x} at column {}",
            self.column
        )
    }

    /// The first byte of a string character: held back if it may start
    /// or continue a token (`t`, or an escape that may decode to one).
    fn begin_char(&mut self, byte: u8) {
        if self.holding {
            self.char_start = self.held.len();
        } else if byte == b't' || byte == b'\\' {
            self.holding = true;
            self.char_start = 0;
        }
        self.emit(byte);
    }

    fn emit(&mut self, byte: u8) {
        if self.holding {
            self.held.push(byte);
        } else {
            self.out.push(byte);
        }
    }

    /// Writes out what was held back and stops holding.
    fn release(&mut self) {
        self.out.append(&mut self.held);
        self.holding = false;
        self.matched = 0;
    }

    /// A string character is complete: `decoded` is its value when ASCII.
    fn end_char<H>(&mut self, decoded: Option<u8>, handle: &mut H) -> Result<(), String>
    where
        H: FnMut(Found<'_>) -> TokenResult + ?Sized,
    {
        let at_start = std::mem::replace(&mut self.string_empty, false);
        if self.in_token {
            match decoded {
                Some(byte) if is_base64url(byte) => {
                    if self.held.len() > MAX_TOKEN_BYTES {
                        return Err(token_too_long());
                    }
                }
                _ => {
                    self.end_token(self.char_start, false, handle)?;
                    self.release();
                }
            }
            return Ok(());
        }
        if decoded == NEEDLE.get(self.matched).copied() {
            if self.matched == 0 {
                self.token_at_start = at_start;
            }
            self.matched += 1;
            if self.matched == NEEDLE.len() {
                self.in_token = true;
            }
        } else if decoded == Some(b't') {
            // A new candidate starts here: write out the failed one.
            let candidate = self.char_start;
            self.out.extend(self.held.drain(..candidate));
            self.char_start = 0;
            self.matched = 1;
            self.token_at_start = false;
        } else {
            self.release();
        }
        Ok(())
    }

    /// A token ended; the first `raw_len` held bytes are its text as
    /// written. Writes the handler's replacement or the original.
    fn end_token<H>(&mut self, raw_len: usize, whole: bool, handle: &mut H) -> Result<(), String>
    where
        H: FnMut(Found<'_>) -> TokenResult + ?Sized,
    {
        self.in_token = false;
        self.matched = 0;
        let verdict = {
            let raw = self.held.get(..raw_len).unwrap_or_default();
            // Escapes are rare: decode only a token that has one.
            let decoded;
            let text = if raw.contains(&b'\\') {
                decoded = unescape(raw);
                decoded.as_slice()
            } else {
                raw
            };
            // Only ASCII `tierseal:` and base64url characters were kept.
            let Ok(text) = std::str::from_utf8(text) else {
                return Err("internal: a token is not ASCII".into());
            };
            handle(Found {
                text,
                whole_string: whole,
            })
        };
        match verdict {
            Ok(Some(new)) if new.bytes().all(|b| b == b':' || is_base64url(b)) => {
                self.out.extend_from_slice(new.as_bytes());
                self.held.drain(..raw_len);
            }
            Ok(Some(_)) => {
                return Err("internal: a replacement token is not plain text".into());
            }
            Ok(None) => {}
            Err(reason) => return Err(reason),
        }
        Ok(())
    }

    /// Ends the line (at a newline, or at the end of the input).
    fn end_line(&mut self, newline: bool) -> Line {
        let number_fault = match self.lex {
            Lex::Number(_) => self
                .end_number()
                .err()
                .map(|_| "not JSON: incomplete number at the end of the line".to_owned()),
            _ => None,
        };
        let fault = match self.lex {
            Lex::Skip => None,
            Lex::String { .. } => Some("not JSON: the line ends inside a string".to_owned()),
            Lex::Number(_) => number_fault,
            Lex::Literal { .. } => Some(format!(
                "not JSON: incomplete literal at column {}",
                self.column
            )),
            Lex::Between if !self.stack.is_empty() => {
                Some("not JSON: the line ends inside an object or array".to_owned())
            }
            Lex::Between if self.seen && self.expect != Expect::End => {
                Some("not JSON: the line ends before its value".to_owned())
            }
            Lex::Between => None,
        };
        self.out.append(&mut self.held);
        if newline {
            self.out.push(b'\n');
        }
        self.number += 1;
        let line = Line {
            number: self.number,
            bytes: self.column,
            blank: !self.seen,
            fault: self.fault.take().or(fault),
        };
        self.lex = Lex::Between;
        self.expect = Expect::Value;
        self.stack.clear();
        self.column = 0;
        self.seen = false;
        self.holding = false;
        self.in_token = false;
        self.matched = 0;
        line
    }
}

fn token_too_long() -> String {
    format!(
        "a sealed token is longer than the limit of {} MiB",
        MAX_TOKEN_BYTES >> 20
    )
}

/// Decodes the JSON escapes of a token as written (the scanner has
/// checked them; each stands for one ASCII character).
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied();
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            text.push(byte);
            continue;
        }
        match bytes.next() {
            Some(b'u') => {
                let value = bytes
                    .by_ref()
                    .take(4)
                    .filter_map(|digit| char::from(digit).to_digit(16))
                    .fold(0u32, |value, digit| value << 4 | digit);
                text.push(u8::try_from(value).unwrap_or(b'?'));
            }
            Some(other) => text.push(match other {
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                other => other,
            }),
            None => {}
        }
    }
    text
}

/// Byte classes, looked up once per byte on the long runs.
const BASE64URL: u8 = 1;
/// String text that needs no decoding and cannot start a token.
const PLAIN_TEXT: u8 = 2;
/// Anything but a newline (the rest of a faulty line).
const NOT_NEWLINE: u8 = 4;

#[allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "built at compile time over the 256 byte values"
)]
const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        let mut class = 0;
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            class |= BASE64URL;
        }
        if b >= 0x20 && b <= 0x7f && b != b'"' && b != b'\\' && b != b't' {
            class |= PLAIN_TEXT;
        }
        if b != b'\n' {
            class |= NOT_NEWLINE;
        }
        table[byte] = class;
        byte += 1;
    }
    table
};

/// How many leading bytes of `bytes` are in `class`.
fn run_len(bytes: &[u8], class: u8) -> usize {
    bytes
        .iter()
        .position(|&b| class_of(b) & class == 0)
        .unwrap_or(bytes.len())
}

fn class_of(byte: u8) -> u8 {
    // Never out of bounds: the table has an entry for every byte.
    CLASSES.get(usize::from(byte)).copied().unwrap_or(0)
}

fn is_base64url(byte: u8) -> bool {
    class_of(byte) & BASE64URL != 0
}

fn next_number(state: Num, byte: u8) -> Option<Num> {
    Some(match (state, byte) {
        (Num::Minus, b'0') => Num::Zero,
        (Num::Minus, b'1'..=b'9') | (Num::Int, b'0'..=b'9') => Num::Int,
        (Num::Zero | Num::Int, b'.') => Num::Dot,
        (Num::Dot | Num::Frac, b'0'..=b'9') => Num::Frac,
        (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Num::Exp,
        (Num::Exp, b'+' | b'-') => Num::ExpSign,
        (Num::Exp | Num::ExpSign | Num::ExpDigits, b'0'..=b'9') => Num::ExpDigits,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Scans `input`; returns the output, the tokens (text, whole) and the
    /// lines, replacing each token by `replace` when given.
    fn scan(
        input: &[u8],
        replace: Option<&dyn Fn(&str) -> String>,
    ) -> (Vec<u8>, Vec<(String, bool)>, Vec<Line>) {
        let mut scanner = Scanner::new();
        let mut reader = input;
        let mut output = Vec::new();
        let mut found = Vec::new();
        let mut lines = Vec::new();
        let mut handle = |token: Found<'_>| {
            found.push((token.text.to_owned(), token.whole_string));
            Ok(replace.map(|r| r(token.text)))
        };
        while let Some(line) = scanner
            .next_line(&mut reader, &mut output, &mut handle)
            .unwrap()
        {
            lines.push(line);
        }
        scanner.finish(&mut output).unwrap();
        (output, found, lines)
    }

    fn texts(found: &[(String, bool)]) -> Vec<&str> {
        found.iter().map(|(text, _)| text.as_str()).collect()
    }

    #[test]
    fn finds_tokens_anywhere_whatever_the_escaping() {
        let line = br#"{"a":"tierseal:AQ","b":{"c":["x","\u0074ierseal:Bw"]},"tierseal:Cg":1,"d":"tierseal","e":"\u0074\u0069\u0065\u0072\u0073\u0065\u0061\u006c\u003aDQ","f":"{\"k\":\"tierseal:EA\"}","g":"see tierseal:docs","h":"ttierseal:Fw"}"#;
        let (output, found, lines) = scan(line, None);
        assert_eq!(output, line, "copied byte for byte");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].fault, None);
        assert_eq!(
            found,
            [
                ("tierseal:AQ".into(), true),
                ("tierseal:Bw".into(), true),
                ("tierseal:Cg".into(), true),
                ("tierseal:DQ".into(), true),
                ("tierseal:EA".into(), false),
                ("tierseal:docs".into(), false),
                ("tierseal:Fw".into(), false),
            ]
        );
    }

    #[test]
    fn replaces_only_the_token_text() {
        let line = b"{\"n\": 12345678901234567890.123456789e-400, \"a\": \"\\u0074ierseal:AQ\", \"b\" :[ \"x\\u00e9tierseal:Bw\\\"\"]}\r\n";
        let (output, _, lines) = scan(
            line,
            Some(&|text: &str| text.replace('A', "Z").replace('B', "Y")),
        );
        assert_eq!(lines[0].fault, None);
        assert_eq!(
            String::from_utf8(output).unwrap(),
            "{\"n\": 12345678901234567890.123456789e-400, \"a\": \"tierseal:ZQ\", \"b\" :[ \"x\\u00e9tierseal:Yw\\\"\"]}\r\n"
        );
    }

    #[test]
    fn bad_lines_are_named_and_copied_unchanged() {
        let input: &[u8] = b"{\"a\":1}\n\n  \n{\"broken\": \n{\"x\":\"caf\xff\"}\n[1,2\n{\"a\":1}{}\n\"unterminated\n{\"a\":\"tierseal:AQ\" x}\n-\n01\n";
        let (output, found, lines) = scan(input, Some(&|_| "tierseal:ZZ".into()));
        let faults: Vec<(u64, &str)> = lines
            .iter()
            .filter_map(|l| l.fault.as_deref().map(|f| (l.number, f)))
            .collect();
        assert_eq!(
            faults,
            [
                (4, "not JSON: the line ends inside an object or array"),
                (5, "not UTF-8: invalid byte 0xff at column 10"),
                (6, "not JSON: the line ends inside an object or array"),
                (7, "not JSON: unexpected `{` at column 8"),
                (8, "not JSON: the line ends inside a string"),
                (9, "not JSON: unexpected `x` at column 20"),
                (10, "not JSON: incomplete number at the end of the line"),
                (11, "not JSON: unexpected `1` at column 2"),
            ]
        );
        assert!(lines[1].blank && lines[2].blank && !lines[0].blank);
        assert_eq!(texts(&found), ["tierseal:AQ"]);
        // Only the token was replaced; every other byte is as it came.
        let expected = String::from_utf8_lossy(input).replace("tierseal:AQ", "tierseal:ZZ");
        assert_eq!(String::from_utf8_lossy(&output), expected);
    }

    #[test]
    fn a_refused_token_fails_its_line_only() {
        let input = b"{\"a\":\"tierseal:AQ\",\"b\":\"tierseal:Bw\"}\n{\"c\":\"tierseal:Bw\"}\n";
        let mut scanner = Scanner::new();
        let mut reader = &input[..];
        let mut output = Vec::new();
        let mut handle = |token: Found<'_>| {
            if token.text.ends_with("AQ") {
                Err("refused".to_owned())
            } else {
                Ok(Some("tierseal:ZZ".to_owned()))
            }
        };
        let first = scanner
            .next_line(&mut reader, &mut output, &mut handle)
            .unwrap()
            .unwrap();
        let second = scanner
            .next_line(&mut reader, &mut output, &mut handle)
            .unwrap()
            .unwrap();
        scanner.finish(&mut output).unwrap();
        assert_eq!(first.fault.as_deref(), Some("refused"));
        assert_eq!(second.fault, None);
        assert_eq!(
            String::from_utf8(output).unwrap(),
            "{\"a\":\"tierseal:AQ\",\"b\":\"tierseal:Bw\"}\n{\"c\":\"tierseal:ZZ\"}\n"
        );
    }

    #[test]
    fn lone_surrogates_are_accepted_as_serde_json_accepts_them() {
        for line in [r#""\ud800""#, r#"["\udc00x", "\ud83d\ude00"]"#] {
            assert_eq!(scan(line.as_bytes(), None).2[0].fault, None, "{line}");
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok());
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(scan(deep.as_bytes(), None).2[0].fault, None);
        let deeper = format!(
            "{}{}\n",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let fault = scan(deeper.as_bytes(), None).2[0].fault.clone().unwrap();
        assert!(fault.contains("nested deeper than 128"), "{fault}");
    }

    /// A reader of one huge line, `[` then `count` tokens then `]`, made
    /// as it is read.
    struct HugeLine {
        count: usize,
        at: usize,
        chunk: Vec<u8>,
        pos: usize,
    }

    impl std::io::Read for HugeLine {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.chunk.len() {
                self.chunk.clear();
                if self.at == 0 {
                    self.chunk.push(b'[');
                }
                while self.chunk.len() < 1 << 16 && self.at < self.count {
                    if self.at > 0 {
                        self.chunk.push(b',');
                    }
                    self.chunk.extend_from_slice(b"\"tierseal:");
                    self.chunk.extend(std::iter::repeat_n(b'A', 500));
                    self.chunk.extend_from_slice(b"\"");
                    self.at += 1;
                }
                if self.at == self.count && self.chunk.last() != Some(&b']') {
                    self.chunk.extend_from_slice(b"]\n");
                    self.at += 1;
                }
                self.pos = 0;
            }
            let n = buf.len().min(self.chunk.len() - self.pos);
            buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn memory_stays_flat_on_a_64_mib_line() {
        let count = (64 << 20) / 512;
        let mut reader = std::io::BufReader::with_capacity(
            1 << 16,
            HugeLine {
                count,
                at: 0,
                chunk: Vec::new(),
                pos: 0,
            },
        );
        let mut scanner = Scanner::new();
        let mut written = 0u64;
        let mut sink = std::io::sink();
        let mut counting = CountingWriter(&mut sink, &mut written);
        let mut seen = 0usize;
        let line = scanner
            .next_line(&mut reader, &mut counting, &mut |_: Found<'_>| {
                seen += 1;
                Ok(Some(format!("tierseal:{}", "B".repeat(500))))
            })
            .unwrap()
            .unwrap();
        scanner.finish(&mut counting).unwrap();
        assert_eq!(line.fault, None);
        assert!(line.bytes > 64 << 20, "{}", line.bytes);
        assert_eq!(seen, count);
        assert_eq!(written, line.bytes);
        assert!(
            scanner.peak_buffered() < 256 << 10,
            "buffered {} bytes",
            scanner.peak_buffered()
        );
    }

    struct CountingWriter<'a>(&'a mut std::io::Sink, &'a mut u64);

    impl Write for CountingWriter<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            *self.1 += buf.len() as u64;
            self.0.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_token_over_the_limit_is_refused() {
        let line = format!("[\"tierseal:{}\"]\n", "A".repeat(MAX_TOKEN_BYTES));
        let (output, found, lines) = scan(line.as_bytes(), None);
        assert!(found.is_empty());
        assert!(
            lines[0]
                .fault
                .as_deref()
                .unwrap()
                .contains("longer than the limit of 16 MiB"),
            "{:?}",
            lines[0].fault
        );
        assert_eq!(output, line.as_bytes());
    }

    /// A JSON document with tokens planted in it, written with random
    /// whitespace and escaping.
    #[derive(Clone, Debug)]
    enum Doc {
        Null,
        Bool(bool),
        Number(String),
        Str(Text),
        Array(Vec<Doc>),
        Object(Vec<(Text, Doc)>),
    }

    /// A string: plain text, a token, or text with a token inside.
    #[derive(Clone, Debug)]
    enum Text {
        Plain(String),
        Token(String),
        Embedded(String, String, String),
    }

    impl Text {
        fn value(&self) -> String {
            match self {
                Text::Plain(text) | Text::Token(text) => text.clone(),
                Text::Embedded(before, token, after) => format!("{before} {token}\"{after}"),
            }
        }

        fn token(&self) -> Option<(String, bool)> {
            match self {
                Text::Plain(_) => None,
                Text::Token(token) => Some((token.clone(), true)),
                Text::Embedded(_, token, _) => Some((token.clone(), false)),
            }
        }
    }

    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_-]{1,40}".prop_map(|body| format!("tierseal:{body}"))
    }

    fn text() -> impl Strategy<Value = Text> {
        let plain = any::<String>().prop_filter("no needle", |s| !s.contains("tierseal:"));
        prop_oneof![
            plain.clone().prop_map(Text::Plain),
            token().prop_map(Text::Token),
            (plain.clone(), token(), plain).prop_map(|(a, t, b)| Text::Embedded(a, t, b)),
        ]
    }

    fn number() -> impl Strategy<Value = String> {
        "-?(0|[1-9][0-9]{0,30})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?"
    }

    fn doc() -> impl Strategy<Value = Doc> {
        let leaf = prop_oneof![
            Just(Doc::Null),
            any::<bool>().prop_map(Doc::Bool),
            number().prop_map(Doc::Number),
            text().prop_map(Doc::Str),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Doc::Array),
                prop::collection::vec((text(), inner), 0..6).prop_map(Doc::Object),
            ]
        })
    }

    /// Writes `doc` with whitespace and escapes drawn from `choices`.
    struct Writer<'a> {
        /// Write every number as 0 (for serde_json's f64).
        zeros: bool,
        choices: &'a [u8],
        at: usize,
        out: String,
        tokens: Vec<(String, bool)>,
    }

    impl Writer<'_> {
        fn choice(&mut self) -> u8 {
            let c = self.choices[self.at % self.choices.len()];
            self.at += 1;
            c
        }

        fn space(&mut self) {
            for _ in 0..self.choice() % 3 {
                let ws = [" ", "\t", "\r", "  "][usize::from(self.choice() % 4)];
                self.out.push_str(ws);
            }
        }

        fn string(&mut self, text: &Text) {
            if let Some(token) = text.token() {
                self.tokens.push(token);
            }
            self.out.push('"');
            for c in text.value().chars() {
                let escape = self.choice().is_multiple_of(4);
                match c {
                    '"' => self.out.push_str(if escape { "\\u0022" } else { "\\\"" }),
                    '\\' => self.out.push_str("\\\\"),
                    '\n' => self.out.push_str("\\n"),
                    c if (c as u32) < 0x20 => self.out.push_str(&format!("\\u{:04x}", c as u32)),
                    c if escape => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            if self.choice().is_multiple_of(2) {
                                self.out.push_str(&format!("\\u{unit:04x}"));
                            } else {
                                self.out.push_str(&format!("\\u{unit:04X}"));
                            }
                        }
                    }
                    '/' if self.choice().is_multiple_of(2) => self.out.push_str("\\/"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }

        fn doc(&mut self, doc: &Doc) {
            self.space();
            match doc {
                Doc::Null => self.out.push_str("null"),
                Doc::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
                Doc::Number(_) if self.zeros => self.out.push('0'),
                Doc::Number(n) => self.out.push_str(n),
                Doc::Str(text) => self.string(text),
                Doc::Array(items) => {
                    self.out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            self.out.push(',');
                        }
                        self.doc(item);
                    }
                    self.space();
                    self.out.push(']');
                }
                Doc::Object(members) => {
                    self.out.push('{');
                    for (i, (key, value)) in members.iter().enumerate() {
                        if i > 0 {
                            self.out.push(',');
                        }
                        self.space();
                        self.string(key);
                        self.space();
                        self.out.push(':');
                        self.doc(value);
                    }
                    self.space();
                    self.out.push('}');
                }
            }
            self.space();
        }
    }

    /// Replaces a token by one of the same length, for the tests.
    fn flip(text: &str) -> String {
        let (prefix, body) = text.split_at(NEEDLE.len());
        let body: String = body
            .chars()
            .map(|c| {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        format!("{prefix}{body}")
    }

    /// Replaces tokens in the decoded strings of a parsed document.
    fn flip_value(value: &mut serde_json::Value) {
        fn flip_str(text: &str) -> String {
            let mut out = String::new();
            let mut rest = text;
            while let Some(at) = rest.find("tierseal:") {
                out.push_str(&rest[..at]);
                let after = &rest[at..];
                let end = after[NEEDLE.len()..]
                    .find(|c: char| !c.is_ascii() || !is_base64url(c as u8))
                    .map_or(after.len(), |e| e + NEEDLE.len());
                out.push_str(&flip(&after[..end]));
                rest = &after[end..];
            }
            out.push_str(rest);
            out
        }
        match value {
            serde_json::Value::String(s) => *s = flip_str(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(flip_value),
            serde_json::Value::Object(map) => {
                let members: Vec<(String, serde_json::Value)> =
                    std::mem::take(map).into_iter().collect();
                for (key, mut value) in members {
                    flip_value(&mut value);
                    map.insert(flip_str(&key), value);
                }
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every planted token is found, in order, whatever the escaping,
        /// nesting or position; the line is copied byte for byte; and the
        /// replaced output is the same document with the tokens replaced.
        #[test]
        fn every_token_is_found(doc in doc(), choices in prop::collection::vec(any::<u8>(), 1..64)) {
            let mut writer = Writer { zeros: false, choices: &choices, at: 0, out: String::new(), tokens: Vec::new() };
            writer.doc(&doc);
            let line = format!("{}\n", writer.out);
            let (output, found, lines) = scan(line.as_bytes(), None);
            prop_assert_eq!(&lines[0].fault, &None);
            prop_assert_eq!(&found, &writer.tokens);
            prop_assert_eq!(output, line.as_bytes());

            let mut writer = Writer { zeros: true, choices: &choices, at: 0, out: String::new(), tokens: Vec::new() };
            writer.doc(&doc);
            let line = format!("{}\n", writer.out);
            let (output, _, _) = scan(line.as_bytes(), Some(&flip));
            let mut expected: serde_json::Value = serde_json::from_str(&line).unwrap();
            flip_value(&mut expected);
            let actual: serde_json::Value = serde_json::from_slice(&output).unwrap();
            prop_assert_eq!(actual, expected);
        }

        /// The scanner accepts exactly the lines serde_json accepts.
        #[test]
        fn agrees_with_serde_json(doc in doc(), choices in prop::collection::vec(any::<u8>(), 1..64),
                                  edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 0..4)) {
            let mut writer = Writer { zeros: false, choices: &choices, at: 0, out: String::new(), tokens: Vec::new() };
            writer.doc(&doc);
            let mut bytes = writer.out.into_bytes();
            for (index, byte, kind) in edits {
                let byte = if byte == b'\n' { b' ' } else { byte };
                let at = index.index(bytes.len() + 1);
                match kind {
                    0 => bytes.insert(at, byte),
                    1 if at < bytes.len() => { bytes.remove(at); }
                    _ if at < bytes.len() => bytes[at] = byte,
                    _ => {}
                }
            }
            let (_, _, lines) = scan(&bytes, None);
            let Some(line) = lines.first() else { return Ok(()) };
            if line.blank {
                return Ok(());
            }
            let serde = std::str::from_utf8(&bytes).ok()
                .and_then(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).ok());
            prop_assert_eq!(line.fault.is_none(), serde.is_some(), "{:?}: {:?}", String::from_utf8_lossy(&bytes), line.fault);
        }
    }
}
