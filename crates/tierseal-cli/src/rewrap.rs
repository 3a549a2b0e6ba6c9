//! Streaming rewrap of JSON Lines: every data key under its tier's primary
//! version, field ciphertexts untouched, in memory that does not grow with
//! the input or its lines.

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
}

/// Rewraps every token of every line of `input` into `output`, streaming:
/// memory does not grow with the line length (see [`crate::tokens`]). A
/// line that is not JSON (or not UTF-8), or holds a token that cannot be
/// rewrapped, is counted as a failure, with its number and the reason; the
/// output is then incomplete and must be discarded (the CLI writes nothing
/// when any line failed).
///
/// # Errors
/// [`CliError::Io`] when reading or writing fails.
pub fn rewrap_lines(
    keyring: &Keyring,
    mut input: impl BufRead,
    mut output: impl Write,
    progress: &Progress,
) -> Result<Summary, CliError> {
    let mut summary = Summary::default();
    let primaries = primary_versions(keyring);
    let mut scanner = Scanner::new();
    loop {
        let mut counts = LineCounts::default();
        let line = scanner
            .next_line(&mut input, &mut output, &mut |found: Found<'_>| {
                rewrap_token(keyring, &primaries, &found, &mut counts)
            })
            .map_err(io_error)?;
        let Some(line) = line else { break };
        progress.advance(line.bytes);
        if line.blank {
            continue;
        }
        summary.records += 1;
        match line.fault {
            Some(reason) => summary.fail(line.number, reason),
            None => counts.add_to(&mut summary),
        }
    }
    scanner
        .finish(&mut output)
        .map_err(|e| CliError::io("write", "the output", e))?;
    progress.finish();
    Ok(summary)
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
/// or row is a fault, and retire refuses.
pub(crate) fn token_key_version(found: &Found<'_>) -> Result<Option<String>, String> {
    match parse_token(found) {
        Ok(Some(token)) => Ok(token
            .key_version()
            .map(|(tier, version)| format!("{tier} v{version}"))),
        Ok(None) => Ok(None),
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
