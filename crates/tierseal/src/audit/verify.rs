//! Verifying an audit log: every MAC, and the chain of `seq` and `prev`.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{AuditEvent, AuditKey};

/// What is wrong at the first bad entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyProblem {
    /// The entry's MAC does not match: it was edited, or written without
    /// the audit key (forged or inserted).
    BadMac,
    /// The sequence jumps or goes back: an entry before it was removed, or
    /// entries were reordered or replayed.
    SequenceBreak,
    /// The entry does not follow the previous one (its `prev` differs).
    ChainBreak,
    /// The last line is incomplete (a writer was interrupted, or it was cut).
    Truncated,
    /// A line that is not an audit entry.
    Malformed,
    /// The log could not be read.
    Unreadable,
}

/// The first problem found, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {detail}", seq.map(|s| format!(" (entry {s})")).unwrap_or_default())]
pub struct VerifyError {
    /// 1-based line number.
    pub line: u64,
    /// The entry's sequence number, when it could be read.
    pub seq: Option<u64>,
    /// The kind of problem.
    pub problem: VerifyProblem,
    /// What to tell the auditor.
    pub detail: String,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    entry: &'a RawValue,
    mac: String,
}

#[derive(Deserialize)]
struct Entry {
    seq: u64,
    prev: String,
    event: AuditEvent,
}

/// One parsed line.
pub(crate) struct ParsedLine {
    pub(crate) seq: u64,
    pub(crate) prev: String,
    pub(crate) mac: String,
    pub(crate) event: AuditEvent,
    entry_text: String,
}

pub(crate) fn parse_line(line: &[u8]) -> Result<ParsedLine, serde_json::Error> {
    let outer: Line<'_> = serde_json::from_slice(line)?;
    let entry: Entry = serde_json::from_str(outer.entry.get())?;
    Ok(ParsedLine {
        seq: entry.seq,
        prev: entry.prev,
        mac: outer.mac,
        event: entry.event,
        entry_text: outer.entry.get().to_owned(),
    })
}

/// Verifies the log at `path` with the root audit key (or a writer's key,
/// for a log only that writer signs). Returns the number of entries.
///
/// # Errors
/// The first entry that was edited, removed, reordered, inserted or cut.
pub fn verify(path: &Path, key: &AuditKey) -> Result<u64, VerifyError> {
    let unreadable = |line: u64, e: std::io::Error| VerifyError {
        line,
        seq: None,
        problem: VerifyProblem::Unreadable,
        detail: format!("cannot read {}: {e}", path.display()),
    };
    let file = std::fs::File::open(path).map_err(|e| unreadable(0, e))?;
    let mut reader = BufReader::new(file);
    let mut expected_seq = 1u64;
    let mut prev = super::file::genesis().to_owned();
    let mut number = 0u64;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| unreadable(number + 1, e))?;
        if read == 0 {
            return Ok(expected_seq - 1);
        }
        number += 1;
        let complete = buffer.last() == Some(&b'\n');
        let line = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        let parsed = match parse_line(line) {
            Ok(parsed) => parsed,
            Err(_) if !complete => {
                return Err(VerifyError {
                    line: number,
                    seq: None,
                    problem: VerifyProblem::Truncated,
                    detail:
                        "the last entry is incomplete: the log was cut or a writer was interrupted"
                            .into(),
                });
            }
            Err(e) => {
                return Err(VerifyError {
                    line: number,
                    seq: None,
                    problem: VerifyProblem::Malformed,
                    detail: format!("not an audit entry ({e})"),
                });
            }
        };
        let valid = key.derive(&parsed.event.writer).is_some_and(|writer_key| {
            writer_key.verify(parsed.entry_text.as_bytes(), &from_hex(&parsed.mac))
        });
        if !valid {
            return Err(VerifyError {
                line: number,
                seq: Some(parsed.seq),
                problem: VerifyProblem::BadMac,
                detail: "the entry's MAC does not match: it was edited, or written without the audit key".into(),
            });
        }
        if parsed.seq != expected_seq {
            return Err(VerifyError {
                line: number,
                seq: Some(parsed.seq),
                problem: VerifyProblem::SequenceBreak,
                detail: format!(
                    "expected entry {expected_seq}, found entry {}: entries were removed, reordered or replayed",
                    parsed.seq
                ),
            });
        }
        if parsed.prev != prev {
            return Err(VerifyError {
                line: number,
                seq: Some(parsed.seq),
                problem: VerifyProblem::ChainBreak,
                detail: "the entry does not follow the one before it".into(),
            });
        }
        expected_seq += 1;
        prev = parsed.mac;
    }
}

/// Every entry's event, in order, without verifying (for display).
///
/// # Errors
/// The first line that does not parse.
pub fn read_events(path: &Path) -> Result<Vec<(u64, AuditEvent)>, VerifyError> {
    let file = std::fs::File::open(path).map_err(|e| VerifyError {
        line: 0,
        seq: None,
        problem: VerifyProblem::Unreadable,
        detail: format!("cannot read {}: {e}", path.display()),
    })?;
    let mut events = Vec::new();
    for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
        let number = index as u64 + 1;
        let line = line.map_err(|e| VerifyError {
            line: number,
            seq: None,
            problem: VerifyProblem::Unreadable,
            detail: e.to_string(),
        })?;
        let parsed = parse_line(&line).map_err(|e| VerifyError {
            line: number,
            seq: None,
            problem: VerifyProblem::Malformed,
            detail: format!("not an audit entry ({e})"),
        })?;
        events.push((parsed.seq, parsed.event));
    }
    Ok(events)
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| {
            text.get(2 * i..2 * i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}
