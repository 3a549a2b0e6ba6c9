//! Streaming rewrap of JSON Lines: every data key under its tier's primary
//! version, field ciphertexts untouched, in memory that does not grow with
//! the input or its lines, a chunk of lines at a time over every core (see
//! [`rewrap_lines`]).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tierseal::{Keyring, Rewrapped, SealedToken};

use crate::CliError;
use crate::tokens::{Found, Scanner, StreamError, TokenResult};

/// At most this many failures are kept with their reasons (all are counted).
const KEPT_FAILURES: usize = 100;

/// A progress bar on a terminal, nothing otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// No progress output.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// A bar over `total` input bytes, drawn on stderr only if it is a
    /// terminal.
    pub fn bytes(total: u64) -> Progress {
        use std::io::IsTerminal as _;
        if !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} rewrap [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar: Some(bar) }
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A line that could not be processed.
#[derive(Clone, Debug, Serialize)]
pub struct LineFailure {
    /// 1-based line number.
    pub line: u64,
    /// Why (never contains plaintext or key bytes).
    pub reason: String,
}

/// What a rewrap did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Non-empty lines read.
    pub records: u64,
    /// Data keys moved to the primary version.
    pub rewrapped: u64,
    /// Data keys already under the primary version.
    pub already_current: u64,
    /// How many lines failed.
    pub failed_lines: u64,
    /// The first failures, with reasons.
    pub failures: Vec<LineFailure>,
    /// Data keys still under a non-primary version afterwards, by
    /// `tier vN`.
    pub still_old: BTreeMap<String, u64>,
}

impl Summary {
    fn fail(&mut self, line: u64, reason: String) {
        self.failed_lines += 1;
        if self.failures.len() < KEPT_FAILURES {
            self.failures.push(LineFailure { line, reason });
        }
    }

    /// Adds what the lines after this summary's did (`later` covers the
    /// lines that follow, so failures stay in line order).
    fn absorb(&mut self, later: Summary) {
        self.records += later.records;
        self.rewrapped += later.rewrapped;
        self.already_current += later.already_current;
        self.failed_lines += later.failed_lines;
        let room = KEPT_FAILURES.saturating_sub(self.failures.len());
        self.failures.extend(later.failures.into_iter().take(room));
        for (key, count) in later.still_old {
            *self.still_old.entry(key).or_default() += count;
        }
    }
}

/// Input gathered into one chunk: lines are read until the chunk holds
/// this many bytes (or [`CHUNK_LINES`] lines) and rewrapped over the
/// threads, while the previous chunk is written out and the next one read.
/// Memory holds about four times this (two chunks of input, two of
/// output), whatever the input's size; at most about eight times, when
/// the line that fills a chunk is itself nearly a chunk long.
pub const CHUNK_BYTES: usize = 1 << 20;

/// The most lines in one chunk (a few thousand: small lines are not
/// gathered past this, so the bookkeeping per chunk stays small too).
pub const CHUNK_LINES: usize = 4096;

/// Lines one thread takes at a time, with one scanner and one output
/// buffer: a few hundred microseconds of work, well above the pool's
/// scheduling cost, and still many runs per chunk to balance the threads.
const GROUP_LINES: usize = 64;

/// Rewraps every token of every line of `input` into `output`, in memory
/// that does not grow with the input or its lines, over the threads of
/// the rayon pool (`RAYON_NUM_THREADS`, by default one per core).
///
/// Lines are read a chunk at a time ([`CHUNK_BYTES`], [`CHUNK_LINES`]);
/// each run of lines of the chunk is scanned on one thread with its own
/// [`Scanner`], every token through the same `rewrap_token` as the
/// database rewrap; the runs' output is written in input order (while the
/// next chunk is rewrapped, by a thread of the pool: `input` and `output`
/// are `Send`). A line longer than [`CHUNK_BYTES`] is not gathered:
/// it is streamed through one scanner on the calling thread, as
/// [`crate::tokens`] streams any line. The output is byte for byte what a
/// single scanner over the whole input writes, and the summary (counts,
/// failures with their line numbers, in order) is the same.
///
/// A line that is not JSON (or not UTF-8), or holds a token that cannot be
/// rewrapped, is counted as a failure, with its number and the reason; the
/// output is then incomplete and must be discarded (the CLI writes nothing
/// when any line failed).
///
/// # Errors
/// [`CliError::Io`] when reading or writing fails.
pub fn rewrap_lines(
    keyring: &Keyring,
    mut input: impl BufRead + Send,
    mut output: impl Write + Send,
    progress: &Progress,
) -> Result<Summary, CliError> {
    let mut summary = Summary::default();
    let primaries = primary_versions(keyring);
    let (mut chunk, mut next) = (Chunk::default(), Chunk::default());
    // The previous chunk's output, written while this one is rewrapped.
    let mut pending: Vec<Vec<u8>> = Vec::new();
    // The number of the chunk's first line.
    let mut first_line = 1;
    let mut filled = chunk.fill(&mut input).map_err(read_error)?;
    loop {
        // While the pool rewraps this chunk, one of its threads writes the
        // previous chunk and reads the next: reading and writing do not
        // leave the other threads idle.
        let prefetch = filled == Filled::Full;
        let (done, (written, refilled)) = rayon::join(
            || rewrap_chunk(keyring, &primaries, &chunk, first_line),
            || {
                let written = write_all(&mut output, &pending);
                let refilled = prefetch.then(|| next.fill(&mut input));
                (written, refilled)
            },
        );
        written?;
        pending.clear();
        for (out, part) in done? {
            summary.absorb(part);
            pending.push(out);
        }
        progress.advance(chunk.complete_bytes() as u64);
        first_line += chunk.lines() as u64;
        match filled {
            Filled::Full => {
                filled = refilled.unwrap_or(Ok(Filled::End)).map_err(read_error)?;
                std::mem::swap(&mut chunk, &mut next);
            }
            Filled::End => break,
            Filled::LongLine => {
                write_all(&mut output, &pending)?;
                pending.clear();
                // Its start, then the rest straight from the input.
                let mut reader = std::io::Read::chain(chunk.partial(), &mut input);
                let mut scanner = Scanner::starting_at(first_line);
                let bytes = rewrap_stream(
                    keyring,
                    &primaries,
                    &mut scanner,
                    &mut reader,
                    &mut output,
                    1,
                    &mut summary,
                )?;
                progress.advance(bytes);
                first_line += 1;
                filled = chunk.fill(&mut input).map_err(read_error)?;
            }
        }
    }
    write_all(&mut output, &pending)?;
    output
        .flush()
        .map_err(|e| CliError::io("write", "the output", e))?;
    progress.finish();
    Ok(summary)
}

/// Rewraps the complete lines of `chunk` (whose first line is numbered
/// `first_line`) over the rayon pool, a run of lines per task: each run's
/// output and summary, in line order.
fn rewrap_chunk(
    keyring: &Keyring,
    primaries: &[(String, u32)],
    chunk: &Chunk,
    first_line: u64,
) -> Result<Vec<(Vec<u8>, Summary)>, CliError> {
    use rayon::prelude::*;

    let groups: Vec<(u64, &[u8])> = chunk.groups(first_line).collect();
    groups
        .into_par_iter()
        .map(|(first, mut lines)| {
            let mut scanner = Scanner::starting_at(first);
            let mut out = Vec::with_capacity(lines.len());
            let mut part = Summary::default();
            rewrap_stream(
                keyring,
                primaries,
                &mut scanner,
                &mut lines,
                &mut out,
                u64::MAX,
                &mut part,
            )?;
            Ok((out, part))
        })
        .collect()
}

fn write_all(output: &mut impl Write, pieces: &[Vec<u8>]) -> Result<(), CliError> {
    for piece in pieces {
        output
            .write_all(piece)
            .map_err(|e| CliError::io("write", "the output", e))?;
    }
    Ok(())
}

fn read_error(error: std::io::Error) -> CliError {
    CliError::io("read", "the input", error)
}

/// Rewraps up to `max_lines` lines of `input` into `output` with
/// `scanner`, adding what they did to `summary`: the one loop every line
/// goes through, on whichever thread. Returns the bytes read.
fn rewrap_stream<R, W>(
    keyring: &Keyring,
    primaries: &[(String, u32)],
    scanner: &mut Scanner,
    input: &mut R,
    output: &mut W,
    max_lines: u64,
    summary: &mut Summary,
) -> Result<u64, CliError>
where
    R: BufRead + ?Sized,
    W: Write + ?Sized,
{
    let mut bytes = 0;
    for _ in 0..max_lines {
        let mut counts = LineCounts::default();
        let line = scanner
            .next_line(input, output, &mut |found: Found<'_>| {
                rewrap_token(keyring, primaries, &found, &mut counts)
            })
            .map_err(io_error)?;
        let Some(line) = line else { break };
        bytes += line.bytes;
        if line.blank {
            continue;
        }
        summary.records += 1;
        match line.fault {
            Some(reason) => summary.fail(line.number, reason),
            None => counts.add_to(summary),
        }
    }
    scanner
        .finish(output)
        .map_err(|e| CliError::io("write", "the output", e))?;
    Ok(bytes)
}

/// How [`Chunk::fill`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filled {
    /// The chunk is full; more input may follow.
    Full,
    /// The input ended (a last line without a newline is complete).
    End,
    /// The line after the chunk's complete lines is longer than
    /// [`CHUNK_BYTES`]: its start is [`Chunk::partial`], the rest is still
    /// in the input.
    LongLine,
}

/// Lines read from the input, as they were written.
#[derive(Debug, Default)]
struct Chunk {
    bytes: Vec<u8>,
    /// Where each complete line ends in `bytes` (after its newline).
    ends: Vec<usize>,
}

impl Chunk {
    /// Replaces the chunk with the next lines of `input`.
    fn fill<R: BufRead + ?Sized>(&mut self, input: &mut R) -> std::io::Result<Filled> {
        self.bytes.clear();
        self.ends.clear();
        loop {
            let complete = self.complete_bytes();
            if complete == self.bytes.len()
                && (self.ends.len() >= CHUNK_LINES || complete >= CHUNK_BYTES)
            {
                return Ok(Filled::Full);
            }
            let partial = self.bytes.len() - complete;
            if partial > CHUNK_BYTES {
                return Ok(Filled::LongLine);
            }
            // Up to the next newline (found with memchr), but never more
            // than one byte past a chunk's worth of one line.
            let room = (CHUNK_BYTES + 1 - partial) as u64;
            let read = std::io::Read::take(&mut *input, room).read_until(b'\n', &mut self.bytes)?;
            if read == 0 {
                if partial > 0 {
                    self.ends.push(self.bytes.len());
                }
                return Ok(Filled::End);
            }
            if self.bytes.last() == Some(&b'\n') {
                self.ends.push(self.bytes.len());
            }
        }
    }

    /// How many complete lines the chunk holds.
    fn lines(&self) -> usize {
        self.ends.len()
    }

    /// The bytes of the complete lines.
    fn complete_bytes(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The start of a line that did not fit ([`Filled::LongLine`]).
    fn partial(&self) -> &[u8] {
        self.bytes.get(self.complete_bytes()..).unwrap_or_default()
    }

    /// Runs of up to [`GROUP_LINES`] complete lines, each with the number
    /// of its first line (the chunk's first line is `first_line`).
    fn groups(&self, first_line: u64) -> impl Iterator<Item = (u64, &[u8])> {
        self.ends
            .chunks(GROUP_LINES)
            .enumerate()
            .scan(0, move |start, (index, ends)| {
                let end = ends.last().copied().unwrap_or(*start);
                let lines = self.bytes.get(*start..end).unwrap_or_default();
                *start = end;
                Some((first_line + (index * GROUP_LINES) as u64, lines))
            })
    }
}

/// A read error names the input, a write error the output.
fn io_error(error: StreamError) -> CliError {
    match error {
        StreamError::Read(e) => CliError::io("read", "the input", e),
        StreamError::Write(e) => CliError::io("write", "the output", e),
    }
}

/// Each tier's primary version, as `rewrap_token` compares them.
pub(crate) fn primary_versions(keyring: &Keyring) -> Vec<(String, u32)> {
    keyring
        .tiers()
        .filter_map(|tier| keyring.primary_version(tier).map(|v| (tier.to_string(), v)))
        .collect()
}

/// What one line's (or database row's) tokens did, added to the summary
/// if the line succeeds.
#[derive(Default)]
pub(crate) struct LineCounts {
    pub(crate) rewrapped: u64,
    pub(crate) already_current: u64,
    pub(crate) still_old: Vec<String>,
}

impl LineCounts {
    fn add_to(self, summary: &mut Summary) {
        summary.rewrapped += self.rewrapped;
        summary.already_current += self.already_current;
        for key in self.still_old {
            *summary.still_old.entry(key).or_default() += 1;
        }
    }
}

/// Rewraps one token: its new text if its data key moved. The JSON Lines
/// rewrap and the database rewrap both go through here.
pub(crate) fn rewrap_token(
    keyring: &Keyring,
    primaries: &[(String, u32)],
    found: &Found<'_>,
    counts: &mut LineCounts,
) -> TokenResult {
    let mut token = match parse_token(found) {
        Ok(Some(token)) => token,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let replacement = match token.rewrap(keyring).map_err(|e| e.to_string())? {
        None => return Ok(None),
        Some(Rewrapped::AlreadyCurrent) => {
            counts.already_current += 1;
            None
        }
        Some(Rewrapped::Moved { .. }) => {
            counts.rewrapped += 1;
            let text = token.to_text();
            if text.len() != found.text.len() {
                return Err("internal: a rewrapped token changed length".into());
            }
            Some(text)
        }
    };
    if let Some((tier, version)) = token.key_version() {
        let primary = primaries
            .iter()
            .find(|(name, _)| name == tier)
            .map(|(_, v)| *v);
        if primary != Some(version) {
            counts.still_old.push(format!("{tier} v{version}"));
        }
    }
    Ok(replacement)
}

/// A token that is a whole JSON string must parse; `tierseal:` inside
/// longer text is a token only if it parses (prose may mention
/// `tierseal:`).
fn parse_token(found: &Found<'_>) -> Result<Option<SealedToken>, tierseal::Error> {
    match found.text.parse::<SealedToken>() {
        Ok(token) => Ok(Some(token)),
        Err(_) if !found.whole_string => Ok(None),
        Err(e) => Err(e),
    }
}

/// The data keys found in a data file, per `tier vN`.
#[derive(Clone, Debug, Default)]
pub struct KeyVersionCounts {
    /// Data keys per `tier vN`. A token that is a whole string but does
    /// not parse makes its line unreadable.
    pub counts: BTreeMap<String, u64>,
    /// How many lines could not be read (not JSON, not UTF-8): they may
    /// hold tokens that were not counted.
    pub unreadable_lines: u64,
    /// The first unreadable lines, with reasons.
    pub failures: Vec<LineFailure>,
}

/// Counts, per `tier vN`, the data keys in `input` (JSON Lines) that are
/// wrapped under each version, and the lines that could not be read.
///
/// # Errors
/// [`CliError::Io`] when reading fails.
pub fn count_key_versions(mut input: impl BufRead) -> Result<KeyVersionCounts, CliError> {
    let mut result = KeyVersionCounts::default();
    let mut scanner = Scanner::new();
    let mut count = |found: Found<'_>| {
        if let Some(key) = token_key_version(&found)? {
            *result.counts.entry(key).or_default() += 1;
        }
        Ok(None)
    };
    let mut failures = Vec::new();
    let mut unreadable = 0;
    while let Some(line) = scanner
        .next_line(&mut input, &mut std::io::sink(), &mut count)
        .map_err(|e| match e {
            StreamError::Read(e) | StreamError::Write(e) => CliError::io("read", "data file", e),
        })?
    {
        if let Some(reason) = line.fault {
            unreadable += 1;
            if failures.len() < KEPT_FAILURES {
                failures.push(LineFailure {
                    line: line.number,
                    reason,
                });
            }
        }
    }
    result.unreadable_lines = unreadable;
    result.failures = failures;
    Ok(result)
}

/// The `tier vN` that wraps a found token's data key (`None` for a record
/// field, or text that only mentions `tierseal:`). The JSON Lines retire
/// check and the database one both go through here.
///
/// # Errors
/// A token this build cannot read (another format version, or damaged):
/// it may still be wrapped under the version being retired, so its line
/// or row is a fault, and retire refuses. So is `tierseal:` inside longer
/// text followed by base64url that does not parse: it may be a real token
/// glued to more base64url characters (`tierseal:AQ...-old`), which no
/// scanner can cut apart, and retiring its key would destroy it.
pub(crate) fn token_key_version(found: &Found<'_>) -> Result<Option<String>, String> {
    match parse_token(found) {
        Ok(Some(token)) => Ok(token
            .key_version()
            .map(|(tier, version)| format!("{tier} v{version}"))),
        // `tierseal:` with nothing after it (prose naming the prefix).
        Ok(None) if found.text.len() == tierseal::TEXT_PREFIX.len() => Ok(None),
        Ok(None) => Err(
            "text mentions `tierseal:` followed by what is not a token this build \
             can read; it may be a token glued to other text, which could be wrapped under the \
             version: separate it from that text, or remove the mention"
                .into(),
        ),
        Err(e) => Err(format!("a token that cannot be read: {e}")),
    }
}

/// Finds the tokens in one database value, reusing one [`Scanner`] (and
/// its buffers) for every value.
///
/// A value is searched as the JSON Lines rewrap searches a line, so that
/// the same tokens are found: a value that is one token (`tierseal:...`)
/// must parse; a value that is JSON on one line (every JSON or JSONB
/// value, and JSON kept in a text column) goes through the JSON scanner,
/// escapes and all; any other text is searched for `tierseal:` followed by
/// base64url, and what parses as a token is one (prose may mention
/// `tierseal:`).
#[derive(Debug, Default)]
pub(crate) struct ValueScanner {
    scanner: Scanner,
    out: Vec<u8>,
}

impl ValueScanner {
    /// Calls `handle` on every token of `value`; the value's new text if
    /// `handle` replaced any token, `Err` with the reason if it refused one.
    pub(crate) fn visit(
        &mut self,
        value: &str,
        handle: &mut dyn FnMut(Found<'_>) -> TokenResult,
    ) -> Result<Option<String>, String> {
        if let Some(body) = value.strip_prefix(tierseal::TEXT_PREFIX)
            && body.bytes().all(is_base64url)
        {
            let found = Found {
                text: value,
                whole_string: true,
            };
            return handle(found);
        }
        let trimmed = value.trim_start();
        if (trimmed.starts_with('{') || trimmed.starts_with('[') || trimmed.starts_with('"'))
            && !value.contains('\n')
        {
            // `None`: not JSON after all, so searched as text below.
            if let Some(result) = self.json(value, handle)? {
                return Ok(result);
            }
        }
        search_text(value, handle)
    }

    /// `Some(result)` if `value` is JSON; `None` if it is not.
    fn json(
        &mut self,
        value: &str,
        handle: &mut dyn FnMut(Found<'_>) -> TokenResult,
    ) -> Result<Option<Option<String>>, String> {
        let mut refused = None;
        let mut changed = false;
        let mut handler = |found: Found<'_>| {
            let result = handle(found);
            match &result {
                Err(reason) => refused = Some(reason.clone()),
                Ok(Some(_)) => changed = true,
                Ok(None) => {}
            }
            result
        };
        self.out.clear();
        let mut input = value.as_bytes();
        let line = self
            .scanner
            .next_line(&mut input, &mut self.out, &mut handler)
            .map_err(|_| "internal: reading a value in memory failed".to_owned())?;
        if let Some(reason) = refused {
            return Err(reason);
        }
        match line {
            Some(line) if line.fault.is_some() => Ok(None),
            _ if !changed => Ok(Some(None)),
            _ => String::from_utf8(std::mem::take(&mut self.out))
                .map(|text| Some(Some(text)))
                .map_err(|_| "internal: a rewritten value is not UTF-8".to_owned()),
        }
    }
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// Tokens inside free text: `tierseal:` and the base64url that follows.
fn search_text(
    value: &str,
    handle: &mut dyn FnMut(Found<'_>) -> TokenResult,
) -> Result<Option<String>, String> {
    const PREFIX: &str = tierseal::TEXT_PREFIX;
    let mut result: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(at) = value.get(from..).and_then(|rest| rest.find(PREFIX)) {
        let start = from + at;
        let body = start + PREFIX.len();
        let len = value.get(body..).map_or(0, |rest| {
            rest.bytes().take_while(|b| is_base64url(*b)).count()
        });
        let end = body + len;
        from = end.max(start + 1);
        let Some(text) = value.get(start..end) else {
            break;
        };
        if len == 0 {
            continue;
        }
        let found = Found {
            text,
            whole_string: false,
        };
        if let Some(new) = handle(found)? {
            let out = result.get_or_insert_with(|| String::with_capacity(value.len()));
            out.push_str(value.get(copied..start).unwrap_or_default());
            out.push_str(&new);
            copied = end;
        }
    }
    Ok(result.map(|mut out| {
        out.push_str(value.get(copied..).unwrap_or_default());
        out
    }))
}

#[cfg(test)]
mod value_tests {
    use super::*;

    /// What `visit` returned, and the tokens it handed over.
    type Visited = (Result<Option<String>, String>, Vec<(String, bool)>);

    /// Replaces every token with `tierseal:NEW`, refuses `tierseal:BAD`.
    fn visit(value: &str) -> Visited {
        let mut seen = Vec::new();
        let mut handle = |found: Found<'_>| {
            seen.push((found.text.to_owned(), found.whole_string));
            if found.text == "tierseal:BAD" {
                Err("bad".to_owned())
            } else {
                Ok(Some("tierseal:NEW".to_owned()))
            }
        };
        let result = ValueScanner::default().visit(value, &mut handle);
        (result, seen)
    }

    #[test]
    fn a_whole_value_token_json_and_free_text_are_all_searched() {
        let (result, seen) = visit("tierseal:AAA");
        assert_eq!(result, Ok(Some("tierseal:NEW".into())));
        assert_eq!(seen, [("tierseal:AAA".into(), true)]);

        let (result, seen) = visit(r#"{"a":"\u0074ierseal:AAA","b":[1,"x tierseal:BB y"]}"#);
        assert_eq!(
            result,
            Ok(Some(
                r#"{"a":"tierseal:NEW","b":[1,"x tierseal:NEW y"]}"#.into()
            ))
        );
        assert_eq!(seen.len(), 2);
        assert!(seen[0].1 && !seen[1].1);

        let (result, seen) = visit("see tierseal:AAA, and tierseal: alone, tierseal:B");
        assert_eq!(
            result,
            Ok(Some(
                "see tierseal:NEW, and tierseal: alone, tierseal:NEW".into()
            ))
        );
        assert_eq!(seen.len(), 2);

        // Looks like JSON but is not: searched as text.
        let (result, _) = visit("{not json tierseal:AAA");
        assert_eq!(result, Ok(Some("{not json tierseal:NEW".into())));

        assert_eq!(visit("plain text").0, Ok(None));
        assert_eq!(visit("").0, Ok(None));
        assert_eq!(visit("tierseal:BAD").0, Err("bad".into()));
        assert_eq!(visit(r#"["tierseal:BAD"]"#).0, Err("bad".into()));
        assert_eq!(visit("x tierseal:BAD").0, Err("bad".into()));
    }

    #[test]
    fn one_scanner_serves_many_values() {
        let mut scanner = ValueScanner::default();
        let mut handle = |_: Found<'_>| Ok(Some("tierseal:NEW".to_owned()));
        for _ in 0..3 {
            assert_eq!(scanner.visit("[1,2", &mut handle), Ok(None));
            assert_eq!(
                scanner.visit(r#"["tierseal:OLD"]"#, &mut handle),
                Ok(Some(r#"["tierseal:NEW"]"#.into()))
            );
        }
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::*;
    use tierseal::{
        AccessContext, Binding, Clearance, KdfProfile, Keystore, Level, SealedValue, Tier,
    };

    /// How many lines the test file has: a few chunks' worth.
    const LINES: u64 = 9_000;
    /// The line made longer than a chunk (streamed on its own).
    const LONG: u64 = 101;

    fn binding(i: u64) -> String {
        format!("rec_{i}")
    }

    /// What kind of line `i` (1-based) is.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Kind {
        Good,
        BadToken,
        NotJson,
        NotUtf8,
        Blank,
    }

    fn kind(i: u64) -> Kind {
        match i % 10 {
            _ if i.is_multiple_of(97) => Kind::NotUtf8,
            3 => Kind::BadToken,
            5 => Kind::NotJson,
            7 => Kind::Blank,
            _ => Kind::Good,
        }
    }

    /// A keyring after the confidential tier's rotation, and the input:
    /// each good line holds two confidential tokens sealed before the
    /// rotation (one a whole string, one inside text) and one internal
    /// token sealed after it; the last line has no newline.
    fn setup() -> (tempfile::TempDir, Keyring, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let mut keystore =
            Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test).unwrap();
        let clearance = Clearance::up_to(Level::Confidential);
        let before = keystore.keyring(&clearance).unwrap();
        let old: Vec<String> = (1..=LINES)
            .map(|i| {
                let id = binding(i);
                let binding = Binding::new("Doc", "iban").with_record_id(&id);
                SealedValue::seal(&before, &Tier::CONFIDENTIAL, binding, &format!("DE{i:020}"))
                    .unwrap()
                    .to_text()
            })
            .collect();
        keystore.rotate(&Tier::CONFIDENTIAL).unwrap();
        let keyring = keystore.keyring(&clearance).unwrap();
        let mut input = Vec::new();
        for i in 1..=LINES {
            let token = &old[(i - 1) as usize];
            match kind(i) {
                Kind::Good => {
                    let id = binding(i);
                    let binding = Binding::new("Doc", "name").with_record_id(&id);
                    let current =
                        SealedValue::seal(&keyring, &Tier::INTERNAL, binding, "Ada").unwrap();
                    let pad = if i == LONG {
                        "x".repeat(CHUNK_BYTES + 1000)
                    } else {
                        String::new()
                    };
                    input.extend_from_slice(
                        format!(
                            "{{\"i\": {i}, \"pad\":\"{pad}\", \"iban\":\"{token}\", \
                             \"name\" :\"{}\", \"note\":\"was {token}.\"}}",
                            current.to_text()
                        )
                        .as_bytes(),
                    );
                }
                Kind::BadToken => input.extend_from_slice(b"{\"t\":\"tierseal:AAAA\"}"),
                Kind::NotJson => input.extend_from_slice(b"{\"i\": "),
                Kind::NotUtf8 => input.extend_from_slice(b"[\"\xff\"]"),
                Kind::Blank => input.extend_from_slice(b"  "),
            }
            if i < LINES {
                input.push(b'\n');
            }
        }
        (dir, keyring, input)
    }

    /// The line with every token replaced by `T`, and its tokens.
    fn split_tokens(line: &[u8]) -> (Vec<u8>, Vec<String>) {
        let needle = tierseal::TEXT_PREFIX.as_bytes();
        let (mut rest, mut tokens) = (Vec::new(), Vec::new());
        let mut at = 0;
        while at < line.len() {
            if line[at..].starts_with(needle) {
                let len = needle.len()
                    + line[at + needle.len()..]
                        .iter()
                        .take_while(|b| is_base64url(**b))
                        .count();
                tokens.push(String::from_utf8(line[at..at + len].to_vec()).unwrap());
                rest.push(b'T');
                at += len;
            } else {
                rest.push(line[at]);
                at += 1;
            }
        }
        (rest, tokens)
    }

    fn run(keyring: &Keyring, input: &[u8], threads: usize) -> (Vec<u8>, Summary) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut output = Vec::new();
        // Through a small reader buffer, as a file is read.
        let reader = std::io::BufReader::with_capacity(1 << 12, input);
        let summary = pool
            .install(|| rewrap_lines(keyring, reader, &mut output, &Progress::hidden()))
            .unwrap();
        (output, summary)
    }

    #[test]
    fn chunks_over_threads_write_every_line_in_order_with_the_counts_of_one_scanner() {
        let (_dir, keyring, input) = setup();
        let good = (1..=LINES).filter(|i| kind(*i) == Kind::Good).count() as u64;
        let failed: Vec<u64> = (1..=LINES)
            .filter(|i| !matches!(kind(*i), Kind::Good | Kind::Blank))
            .collect();
        let blank = (1..=LINES).filter(|i| kind(*i) == Kind::Blank).count() as u64;

        // One scanner over the whole input, on this thread: the reference.
        let mut reference = Vec::new();
        let mut expected = Summary::default();
        rewrap_stream(
            &keyring,
            &primary_versions(&keyring),
            &mut Scanner::new(),
            &mut &input[..],
            &mut reference,
            u64::MAX,
            &mut expected,
        )
        .unwrap();

        for threads in [2, 1] {
            let (output, summary) = run(&keyring, &input, threads);
            assert_eq!(summary.records, LINES - blank);
            assert_eq!(summary.rewrapped, 2 * good);
            assert_eq!(summary.already_current, good);
            assert_eq!(summary.failed_lines, failed.len() as u64);
            let numbers: Vec<u64> = summary.failures.iter().map(|f| f.line).collect();
            assert_eq!(numbers, failed[..KEPT_FAILURES]);
            assert!(summary.failures[0].reason.contains("format version 0"));
            assert!(summary.failures[1].reason.starts_with("not JSON"));
            assert!(summary.still_old.is_empty(), "{:?}", summary.still_old);
            assert_eq!(
                serde_json::to_value(&summary).unwrap(),
                serde_json::to_value(&expected).unwrap()
            );

            // Same length, same lines in the same order, every byte outside
            // the tokens as it was; only the old tokens changed.
            assert_eq!(output.len(), input.len());
            let lines_in: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
            let lines_out: Vec<&[u8]> = output.split(|b| *b == b'\n').collect();
            let lines_ref: Vec<&[u8]> = reference.split(|b| *b == b'\n').collect();
            assert_eq!(lines_in.len() as u64, LINES);
            assert_eq!(lines_out.len(), lines_in.len());
            for (index, ((old, new), reference)) in
                lines_in.iter().zip(&lines_out).zip(&lines_ref).enumerate()
            {
                let i = index as u64 + 1;
                let (old_rest, old_tokens) = split_tokens(old);
                let (new_rest, new_tokens) = split_tokens(new);
                assert_eq!(old_rest, new_rest, "line {i}");
                assert_eq!(split_tokens(reference).0, new_rest, "line {i}");
                if kind(i) != Kind::Good {
                    assert_eq!(old, new, "line {i}");
                    continue;
                }
                assert_eq!(old_tokens.len(), 3, "line {i}");
                assert_eq!(new_tokens[1], old_tokens[1], "line {i}: already current");
                for at in [0, 2] {
                    assert_ne!(new_tokens[at], old_tokens[at], "line {i}");
                    let token: SealedToken = new_tokens[at].parse().unwrap();
                    assert_eq!(token.key_version(), Some(("confidential", 2)), "line {i}");
                }
                if i % 1000 == 1 || i == LONG {
                    let value: SealedValue = new_tokens[0].parse().unwrap();
                    let id = binding(i);
                    let ctx = AccessContext::new("test").with_purpose("rewrap test");
                    let plain: String = value
                        .open(
                            &keyring,
                            Binding::new("Doc", "iban").with_record_id(&id),
                            &ctx,
                        )
                        .unwrap();
                    assert_eq!(plain, format!("DE{i:020}"));
                }
            }
        }
    }

    /// A packed record (`#[classified(packed)]`) in stored JSON: its parts
    /// are tokens like fields (read, never rewritten), its record keys are
    /// rewrapped.
    #[test]
    fn packed_parts_are_read_and_kept_and_their_record_keys_rewrapped() {
        let dir = tempfile::tempdir().unwrap();
        let mut keystore =
            Keystore::create(dir.path().join("k"), &"pw".into(), KdfProfile::Test).unwrap();
        let clearance = Clearance::up_to(Level::Confidential);
        let before = keystore.keyring(&clearance).unwrap();
        let (tier, entries) = (Tier::CONFIDENTIAL, [tierseal::PackedEntry::value("iban")]);
        let layout =
            tierseal::PackedLayout::new([tierseal::PartLayout::new(&tier, &entries)]).unwrap();
        let binding = Binding::new("Doc", "").with_record_id("doc_1");
        let mut sealer = tierseal::RecordSealer::new(&before, binding);
        let mut packer = sealer.pack(&layout).unwrap();
        packer.value(0, 0, "DE89370400440532013000").unwrap();
        let [part] = packer.finish().unwrap();
        let keys = sealer.finish();
        keystore.rotate(&Tier::CONFIDENTIAL).unwrap();
        let keyring = keystore.keyring(&clearance).unwrap();
        let line = format!(
            "{{\"_confidential\":\"{}\",\"_keys\":[\"{}\"]}}\n",
            part.to_text(),
            keys.keys()[0].to_text()
        );
        let mut output = Vec::new();
        let mut summary = Summary::default();
        rewrap_stream(
            &keyring,
            &primary_versions(&keyring),
            &mut Scanner::new(),
            &mut line.as_bytes(),
            &mut output,
            u64::MAX,
            &mut summary,
        )
        .unwrap();
        assert_eq!(summary.failed_lines, 0, "{:?}", summary.failures);
        assert_eq!(summary.rewrapped, 1);
        let json: serde_json::Value = serde_json::from_slice(&output).unwrap();
        assert_eq!(
            json["_confidential"],
            part.to_text().as_str(),
            "the part is kept"
        );
        let keys: tierseal::RecordKeys = serde_json::from_value(json["_keys"].clone()).unwrap();
        assert_eq!(keys.key_versions().next(), Some(("confidential", 2)));
        let ctx = AccessContext::new("test").with_purpose("rewrap test");
        let mut opener = tierseal::RecordOpener::new(&keyring, &keys, binding, &ctx);
        let mut packed = opener.unpack(&layout, [&part]);
        assert_eq!(
            packed.open::<String>(0, 0).unwrap(),
            "DE89370400440532013000"
        );
    }

    #[test]
    fn chunks_stop_at_lines_bytes_and_long_lines() {
        let mut chunk = Chunk::default();
        let mut input: &[u8] = b"a\n\nb";
        assert_eq!(chunk.fill(&mut input).unwrap(), Filled::End);
        assert_eq!(chunk.lines(), 3);
        let groups: Vec<(u64, &[u8])> = chunk.groups(7).collect();
        assert_eq!(groups, [(7, &b"a\n\nb"[..])]);

        let many = "{}\n".repeat(CHUNK_LINES + 5);
        let mut input = many.as_bytes();
        assert_eq!(chunk.fill(&mut input).unwrap(), Filled::Full);
        assert_eq!(chunk.lines(), CHUNK_LINES);
        let firsts: Vec<u64> = chunk.groups(1).map(|(first, _)| first).collect();
        assert_eq!(firsts.len(), CHUNK_LINES / GROUP_LINES);
        assert_eq!(firsts[1], 1 + GROUP_LINES as u64);
        assert_eq!(chunk.fill(&mut input).unwrap(), Filled::End);
        assert_eq!(chunk.lines(), 5);

        let long = format!("[1]\n\"{}\"\n[2]\n", "y".repeat(CHUNK_BYTES + 100_000));
        let mut input = std::io::BufReader::with_capacity(4096, long.as_bytes());
        assert_eq!(chunk.fill(&mut input).unwrap(), Filled::LongLine);
        assert_eq!(chunk.lines(), 1);
        assert!(chunk.partial().len() > CHUNK_BYTES);
        assert!(chunk.partial().len() < CHUNK_BYTES + 4096);
    }
}
