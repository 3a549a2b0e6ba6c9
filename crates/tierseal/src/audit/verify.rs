//! Verifying an audit log: every MAC, the chain of `seq` and `prev`, the
//! checkpoints that say how far it reached, and the pairing of each key
//! operation's intent with its outcome.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::line::{self, LogHead};
use super::{Action, AuditEvent, AuditKey, Checkpoint, Outcome};

/// What is wrong at the first bad entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A line that is not an audit entry (including a field no version
    /// defines, or bytes outside the signed entry).
    Malformed,
    /// The log could not be read.
    Unreadable,
    /// There is no log at the path, and no checkpoint says there was none.
    Missing,
    /// The log has no entries, and no checkpoint says it had none.
    Empty,
    /// The log ends before an entry a checkpoint covers: its last entries
    /// were removed.
    TailRemoved,
    /// The entry a checkpoint covers is not the one in the log: the log
    /// was replaced or rewritten.
    CheckpointMismatch,
    /// An outcome names an intent that is not an open intent of the same
    /// action.
    UnknownIntent,
}

/// The first problem found, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {detail}", seq.map(|s| format!(" (entry {s})")).unwrap_or_default())]
pub struct VerifyError {
    /// 1-based line number (0: the log as a whole).
    pub line: u64,
    /// The entry's sequence number, when it could be read.
    pub seq: Option<u64>,
    /// The kind of problem.
    pub problem: VerifyProblem,
    /// What to tell the auditor.
    pub detail: String,
}

impl VerifyError {
    fn whole(problem: VerifyProblem, detail: String) -> VerifyError {
        VerifyError {
            line: 0,
            seq: None,
            problem,
            detail,
        }
    }
}

/// An operation announced by an intent entry that has no outcome entry:
/// it was interrupted, and the change it announced may or may not have
/// happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfinished {
    /// The intent entry's sequence number.
    pub seq: u64,
    /// What was announced.
    pub action: Action,
}

/// What a verified log holds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// How many entries.
    pub entries: u64,
    /// The last entry's sequence number and MAC.
    pub head: LogHead,
    /// The checkpoint covering the most entries, when one was given.
    pub covered_by: Option<Checkpoint>,
    /// Intents without an outcome, in log order.
    pub unfinished: Vec<Unfinished>,
    /// Entries recording damage to the log itself (`log-repair`,
    /// `log-loss`), in log order.
    pub incidents: Vec<(u64, AuditEvent)>,
}

impl VerifyReport {
    /// Entries after the covering checkpoint: removing these would not be
    /// detected.
    pub fn uncovered(&self) -> u64 {
        self.entries
            - self
                .covered_by
                .as_ref()
                .map_or(0, |c| c.head.seq.min(self.entries))
    }
}

/// Verifies the log at `path` with the root audit key (or a writer's key,
/// for a log only that writer signs), without a checkpoint: removal of its
/// last entries cannot be detected. See [`verify_with`].
///
/// # Errors
/// The first entry that was edited, removed, reordered, inserted or cut;
/// an empty or missing log.
pub fn verify(path: &Path, key: &AuditKey) -> Result<VerifyReport, VerifyError> {
    verify_with(path, key, &[])
}

/// Verifies the log at `path` and checks it still holds every entry each
/// of `checkpoints` covers, with the same MAC.
///
/// # Errors
/// The first entry that was edited, removed, reordered, inserted or cut;
/// a log that ends before a checkpoint or differs from it; an empty or
/// missing log unless a checkpoint says it was empty.
pub fn verify_with(
    path: &Path,
    key: &AuditKey,
    checkpoints: &[Checkpoint],
) -> Result<VerifyReport, VerifyError> {
    let covered_by = checkpoints.iter().max_by_key(|c| c.head.seq).cloned();
    let vouched_empty = checkpoints.iter().any(|c| c.head.seq == 0);
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match &covered_by {
                Some(c) if c.head.seq > 0 => Err(tail_removed(path, 0, c)),
                Some(_) => Ok(VerifyReport {
                    entries: 0,
                    head: LogHead::empty(),
                    covered_by,
                    unfinished: Vec::new(),
                    incidents: Vec::new(),
                }),
                None => Err(VerifyError::whole(
                    VerifyProblem::Missing,
                    format!(
                        "there is no log at {}: a log whose every entry was removed is not intact",
                        path.display()
                    ),
                )),
            };
        }
        Err(e) => {
            return Err(VerifyError::whole(
                VerifyProblem::Unreadable,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let mut reader = BufReader::new(file);
    let mut head = LogHead::empty();
    let mut intents = BTreeMap::new();
    let mut incidents = Vec::new();
    let mut number = 0u64;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| VerifyError {
                line: number + 1,
                seq: None,
                problem: VerifyProblem::Unreadable,
                detail: format!("cannot read {}: {e}", path.display()),
            })?;
        if read == 0 {
            break;
        }
        number += 1;
        let complete = buffer.last() == Some(&b'\n');
        let text = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        let at = |seq: Option<u64>, problem, detail: String| VerifyError {
            line: number,
            seq,
            problem,
            detail,
        };
        let parsed = match line::parse(text) {
            Ok(parsed) => parsed,
            Err(_) if !complete => {
                return Err(at(
                    None,
                    VerifyProblem::Truncated,
                    "the last entry is incomplete: the log was cut or a writer was interrupted"
                        .into(),
                ));
            }
            Err(e) => {
                return Err(at(
                    None,
                    VerifyProblem::Malformed,
                    format!("not an audit entry ({e})"),
                ));
            }
        };
        let seq = Some(parsed.seq);
        if !parsed.is_signed_by(key) {
            return Err(at(
                seq,
                VerifyProblem::BadMac,
                "the entry's MAC does not match: it was edited, or written without the audit key"
                    .into(),
            ));
        }
        let expected = head.seq + 1;
        if parsed.seq != expected {
            return Err(at(
                seq,
                VerifyProblem::SequenceBreak,
                format!(
                    "expected entry {expected}, found entry {}: entries were removed, reordered or replayed",
                    parsed.seq
                ),
            ));
        }
        if parsed.prev != head.mac {
            return Err(at(
                seq,
                VerifyProblem::ChainBreak,
                "the entry does not follow the one before it".into(),
            ));
        }
        head = parsed.head();
        for checkpoint in checkpoints.iter().filter(|c| c.head.seq == head.seq) {
            if checkpoint.head.mac != head.mac {
                return Err(at(
                    seq,
                    VerifyProblem::CheckpointMismatch,
                    format!(
                        "the checkpoint of {} covers a different entry {}: the log was replaced or rewritten",
                        checkpoint.time, head.seq
                    ),
                ));
            }
        }
        let event = parsed.event;
        if event.outcome == Outcome::Intent {
            intents.insert(head.seq, event.action);
        } else if let Some(intent) = event.intent {
            if intents.get(&intent) != Some(&event.action) {
                return Err(at(
                    seq,
                    VerifyProblem::UnknownIntent,
                    format!(
                        "the outcome of a {} names entry {intent}, which is not an open {} intent",
                        event.action.as_str(),
                        event.action.as_str()
                    ),
                ));
            }
            intents.remove(&intent);
        }
        if matches!(event.action, Action::LogRepair | Action::LogLoss) {
            incidents.push((head.seq, event));
        }
    }
    if let Some(checkpoint) = covered_by.as_ref().filter(|c| c.head.seq > head.seq) {
        return Err(tail_removed(path, head.seq, checkpoint));
    }
    if head.seq == 0 && !vouched_empty {
        return Err(VerifyError::whole(
            VerifyProblem::Empty,
            format!(
                "{} has no entries: a log whose every entry was removed is not intact",
                path.display()
            ),
        ));
    }
    Ok(VerifyReport {
        entries: head.seq,
        head,
        covered_by,
        unfinished: intents
            .into_iter()
            .map(|(seq, action)| Unfinished { seq, action })
            .collect(),
        incidents,
    })
}

fn tail_removed(path: &Path, entries: u64, checkpoint: &Checkpoint) -> VerifyError {
    VerifyError {
        line: entries + 1,
        seq: Some(entries + 1),
        problem: VerifyProblem::TailRemoved,
        detail: format!(
            "{} ends after entry {entries}, but the checkpoint of {} covers {} entries: entries {}..={} were removed",
            path.display(),
            checkpoint.time,
            checkpoint.head.seq,
            entries + 1,
            checkpoint.head.seq
        ),
    }
}

/// Every entry's event, in order, without verifying (for display: run
/// [`verify`] first, and show entries from its error's line on as
/// unverified).
///
/// # Errors
/// The first line that does not parse.
pub fn read_events(path: &Path) -> Result<Vec<(u64, AuditEvent)>, VerifyError> {
    match read_events_until_error(path) {
        (events, None) => Ok(events),
        (_, Some(error)) => Err(error),
    }
}

/// Like [`read_events`], but keeps the events before the first line that
/// does not parse, and returns that line's error beside them.
pub fn read_events_until_error(path: &Path) -> (Vec<(u64, AuditEvent)>, Option<VerifyError>) {
    let mut events = Vec::new();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => {
            let error = VerifyError::whole(
                VerifyProblem::Unreadable,
                format!("cannot read {}: {e}", path.display()),
            );
            return (events, Some(error));
        }
    };
    for (index, text) in BufReader::new(file).split(b'\n').enumerate() {
        let number = index as u64 + 1;
        let parsed = match text {
            Ok(text) => line::parse(&text).map_err(|e| VerifyError {
                line: number,
                seq: None,
                problem: VerifyProblem::Malformed,
                detail: format!("not an audit entry ({e})"),
            }),
            Err(e) => Err(VerifyError {
                line: number,
                seq: None,
                problem: VerifyProblem::Unreadable,
                detail: e.to_string(),
            }),
        };
        match parsed {
            Ok(parsed) => events.push((parsed.seq, parsed.event)),
            Err(error) => return (events, Some(error)),
        }
    }
    (events, None)
}
