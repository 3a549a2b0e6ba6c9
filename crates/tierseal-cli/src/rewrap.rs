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
    let primaries: Vec<(String, u32)> = keyring
        .tiers()
        .filter_map(|tier| keyring.primary_version(tier).map(|v| (tier.to_string(), v)))
        .collect();
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

/// What one line's tokens did (added to the summary if the line succeeds).
#[derive(Default)]
struct LineCounts {
    rewrapped: u64,
    already_current: u64,
    still_old: Vec<String>,
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

/// Rewraps one token: its new text if its data key moved.
fn rewrap_token(
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
        let key = match parse_token(&found) {
            Ok(Some(token)) => match token.key_version() {
                Some((tier, version)) => format!("{tier} v{version}"),
                None => return Ok(None),
            },
            Ok(None) => return Ok(None),
            // A token this build cannot read (another format version, or
            // damaged) may still be wrapped under the version being
            // retired: its line is a fault, and retire refuses.
            Err(e) => return Err(format!("a token that cannot be read: {e}")),
        };
        *result.counts.entry(key).or_default() += 1;
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
