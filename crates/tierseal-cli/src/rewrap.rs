//! Streaming rewrap of JSON Lines: every data key under its tier's primary
//! version, field ciphertexts untouched, one line in memory at a time.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tierseal::{Keyring, Rewrapped, SealedToken};

use crate::CliError;
use crate::tokens::find_tokens;

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

    fn advance(&self, bytes: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(u64::try_from(bytes).unwrap_or(u64::MAX));
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

/// Rewraps every token of every line of `input` into `output`. A line that
/// is not JSON or holds a token that cannot be rewrapped is counted as a
/// failure and copied unchanged; the caller decides whether to keep the
/// output (the CLI keeps it only when nothing failed).
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
    let mut line = String::new();
    let mut number = 0u64;
    let primaries: Vec<(String, u32)> = keyring
        .tiers()
        .filter_map(|tier| keyring.primary_version(tier).map(|v| (tier.to_string(), v)))
        .collect();
    loop {
        line.clear();
        let read = input
            .read_line(&mut line)
            .map_err(|e| CliError::io("read", "the input", e))?;
        if read == 0 {
            break;
        }
        number += 1;
        progress.advance(read);
        let content = line.trim_end_matches(['\n', '\r']);
        if !content.trim().is_empty() {
            summary.records += 1;
            if let Err(reason) = rewrap_line(keyring, &primaries, &mut line, &mut summary) {
                summary.fail(number, reason);
            }
        }
        output
            .write_all(line.as_bytes())
            .map_err(|e| CliError::io("write", "the output", e))?;
    }
    output
        .flush()
        .map_err(|e| CliError::io("write", "the output", e))?;
    progress.finish();
    Ok(summary)
}

/// Rewraps the tokens of one line in place (tokens keep their length).
fn rewrap_line(
    keyring: &Keyring,
    primaries: &[(String, u32)],
    line: &mut String,
    summary: &mut Summary,
) -> Result<(), String> {
    let content = line.trim_end_matches(['\n', '\r']);
    serde_json::from_str::<serde::de::IgnoredAny>(content).map_err(|e| format!("not JSON: {e}"))?;
    let mut counts = (0u64, 0u64);
    let mut still_old = Vec::new();
    for range in find_tokens(content) {
        let text = line.get(range.clone()).unwrap_or_default();
        let mut token: SealedToken = text.parse().map_err(|e: tierseal::Error| format!("{e}"))?;
        match token.rewrap(keyring).map_err(|e| e.to_string())? {
            None => continue,
            Some(Rewrapped::AlreadyCurrent) => counts.1 += 1,
            Some(Rewrapped::Moved { .. }) => {
                counts.0 += 1;
                let new_text = token.to_text();
                if new_text.len() != range.len() {
                    return Err("internal: a rewrapped token changed length".into());
                }
                line.replace_range(range, &new_text);
            }
        }
        if let Some((tier, version)) = token.key_version() {
            let primary = primaries
                .iter()
                .find(|(name, _)| name == tier)
                .map(|(_, v)| *v);
            if primary != Some(version) {
                still_old.push(format!("{tier} v{version}"));
            }
        }
    }
    summary.rewrapped += counts.0;
    summary.already_current += counts.1;
    for key in still_old {
        *summary.still_old.entry(key).or_default() += 1;
    }
    Ok(())
}

/// Counts, per `tier vN`, the data keys in `input` (JSON Lines) that are
/// wrapped under each version. Lines that are not JSON and tokens that do
/// not parse are counted under `"unreadable"`.
///
/// # Errors
/// [`CliError::Io`] when reading fails.
pub fn count_key_versions(mut input: impl BufRead) -> Result<BTreeMap<String, u64>, CliError> {
    let mut counts = BTreeMap::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input
            .read_line(&mut line)
            .map_err(|e| CliError::io("read", "data file", e))?
            == 0
        {
            break;
        }
        for range in find_tokens(&line) {
            let key = match line.get(range).unwrap_or_default().parse::<SealedToken>() {
                Ok(token) => match token.key_version() {
                    Some((tier, version)) => format!("{tier} v{version}"),
                    None => continue,
                },
                Err(_) => "unreadable".to_owned(),
            };
            *counts.entry(key).or_default() += 1;
        }
    }
    Ok(counts)
}
