//! `tierseal audit verify|checkpoint|show`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use tierseal::audit::{
    self, Action, AuditEvent, AuditKey, Checkpoint, VerifyError, VerifyReport, utc_timestamp,
};

use super::{open_keystore, refuse_overwrite, say};
use crate::CliError;
use crate::cli::{AuditCommand, GlobalArgs};

pub(super) fn run(global: &GlobalArgs, command: &AuditCommand) -> Result<ExitCode, CliError> {
    match command {
        AuditCommand::Verify { file, checkpoints } => verify(global, file, checkpoints),
        AuditCommand::Checkpoint { file, out, force } => checkpoint(global, file, out, *force),
        AuditCommand::Show {
            file,
            principal,
            since,
            action,
            json,
            no_verify,
        } => {
            let filter = Filter {
                principal: principal.as_deref(),
                action: action.as_deref(),
                since: since.as_deref().map(parse_since).transpose()?,
            };
            show(global, file, &filter, *json, *no_verify)
        }
    }
}

/// The root audit key, and the checkpoints that apply to `log`: the
/// keystore's own (for the keystore's log) and the files given.
fn key_and_checkpoints(
    global: &GlobalArgs,
    log: &Path,
    files: &[PathBuf],
) -> Result<(AuditKey, Vec<Checkpoint>), CliError> {
    let keystore = open_keystore(global)?;
    let key = keystore.audit_key()?;
    let checkpoints = checkpoints(global, &keystore, &key, log, files)?;
    Ok((key, checkpoints))
}

/// The checkpoints that apply to `log`: the keystore's own (for the
/// keystore's log) and those in `files`, each checked with `key`.
pub(super) fn checkpoints(
    global: &GlobalArgs,
    keystore: &tierseal::Keystore,
    key: &AuditKey,
    log: &Path,
    files: &[PathBuf],
) -> Result<Vec<Checkpoint>, CliError> {
    let mut checkpoints: Vec<Checkpoint> = super::keystore_checkpoint(global, keystore, log)
        .into_iter()
        .collect();
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| CliError::io("read checkpoint", path, e))?;
        let checkpoint = Checkpoint::from_file(&bytes, key)
            .map_err(|e| CliError::Refused(format!("{}: {e}", path.display())))?;
        checkpoints.push(checkpoint);
    }
    Ok(checkpoints)
}

fn refused(log: &Path, error: &VerifyError) -> CliError {
    CliError::Refused(format!("{}: {error}", log.display()))
}

fn verify(global: &GlobalArgs, log: &Path, files: &[PathBuf]) -> Result<ExitCode, CliError> {
    let (key, checkpoints) = key_and_checkpoints(global, log, files)?;
    let report = audit::verify_with(log, &key, &checkpoints).map_err(|e| refused(log, &e))?;
    say(&format!(
        "{}: {} entries, chain intact",
        log.display(),
        report.entries
    ));
    say(&coverage(&report));
    warn_unfinished(&report);
    let mut lost = None;
    for (seq, event) in &report.incidents {
        let reason = event.reason.as_deref().unwrap_or_default();
        eprintln!(
            "tierseal: warning: entry {seq}: {}: {reason}",
            event.action.as_str()
        );
        if event.action == Action::LogLoss {
            lost.get_or_insert(*seq);
        }
    }
    match lost {
        Some(seq) => Err(CliError::Refused(format!(
            "{}: entry {seq} records that entries were lost from this log: it is not complete",
            log.display()
        ))),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// How far checkpoints cover the log, for the auditor.
pub(super) fn coverage(report: &VerifyReport) -> String {
    match &report.covered_by {
        None => "not covered by a checkpoint: removal of its last entries cannot be detected \
                 (`tierseal audit checkpoint` writes one)"
            .into(),
        Some(checkpoint) if checkpoint.head.seq == 0 => format!(
            "the checkpoint of {} says the log was empty; {} entries after it not covered",
            checkpoint.time,
            report.uncovered()
        ),
        Some(checkpoint) => format!(
            "entries 1..={} covered by the checkpoint of {}; {} entries after it not covered",
            checkpoint.head.seq,
            checkpoint.time,
            report.uncovered()
        ),
    }
}

fn warn_unfinished(report: &VerifyReport) {
    for unfinished in &report.unfinished {
        eprintln!(
            "tierseal: warning: entry {}: a {} was announced and no outcome recorded: it was \
             interrupted and may or may not have happened (check `tierseal keys list`)",
            unfinished.seq,
            unfinished.action.as_str()
        );
    }
}

fn checkpoint(
    global: &GlobalArgs,
    log: &Path,
    out: &Path,
    force: bool,
) -> Result<ExitCode, CliError> {
    refuse_overwrite(out, force)?;
    let (key, checkpoints) = key_and_checkpoints(global, log, &[])?;
    let report = audit::verify_with(log, &key, &checkpoints).map_err(|e| {
        CliError::Refused(format!(
            "{}: {e}; a checkpoint vouches only for a log that verifies",
            log.display()
        ))
    })?;
    let checkpoint = Checkpoint::now(report.head);
    let text = checkpoint
        .to_file(&key)
        .map_err(|e| CliError::Refused(e.to_string()))?;
    super::write_atomically(out, text.as_bytes())?;
    say(&format!(
        "{}: entries 1..={} checkpointed at {} in {} (keep it where the log's writers cannot write)",
        log.display(),
        checkpoint.head.seq,
        checkpoint.time,
        out.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Which entries `show` prints.
struct Filter<'a> {
    principal: Option<&'a str>,
    action: Option<&'a str>,
    /// A lower bound on entry times, comparable with their RFC 3339 text.
    since: Option<String>,
}

impl Filter<'_> {
    fn admits(&self, event: &AuditEvent) -> bool {
        self.principal.is_none_or(|p| p == event.principal)
            && self.action.is_none_or(|a| a == event.action.as_str())
            && self
                .since
                .as_deref()
                .is_none_or(|s| event.time.to_string().as_str() >= s)
    }
}

/// What verification said before `show` prints.
enum Verdict {
    /// Every entry verified.
    Intact(VerifyReport),
    /// Entries from `line` on did not verify.
    BrokenAt(u64, CliError),
    /// Not verified at all, and why.
    NotVerified(String),
}

fn show(
    global: &GlobalArgs,
    log: &Path,
    filter: &Filter<'_>,
    json: bool,
    no_verify: bool,
) -> Result<ExitCode, CliError> {
    let verdict = if no_verify {
        Verdict::NotVerified("--no-verify".into())
    } else if super::keystore_file_missing(global) {
        Verdict::NotVerified(format!(
            "no keystore at {} to verify with (pass --keystore, or --no-verify)",
            global.keystore
        ))
    } else {
        let (key, checkpoints) = key_and_checkpoints(global, log, &[])?;
        match audit::verify_with(log, &key, &checkpoints) {
            Ok(report) => Verdict::Intact(report),
            Err(error) => Verdict::BrokenAt(error.line.max(1), refused(log, &error)),
        }
    };
    let verified_before = match &verdict {
        Verdict::Intact(_) => u64::MAX,
        Verdict::BrokenAt(line, _) => *line,
        Verdict::NotVerified(why) => {
            eprintln!(
                "tierseal: warning: {} was NOT verified ({why}): every entry is marked UNVERIFIED",
                log.display()
            );
            0
        }
    };
    let unfinished: Vec<u64> = match &verdict {
        Verdict::Intact(report) => report.unfinished.iter().map(|u| u.seq).collect(),
        _ => Vec::new(),
    };
    let (events, unreadable) = audit::read_events_until_error(log);
    for (index, (seq, event)) in events.iter().enumerate() {
        if !filter.admits(event) {
            continue;
        }
        let verified = (index as u64) + 1 < verified_before;
        let no_outcome = unfinished.contains(seq);
        if json {
            let entry = if no_outcome {
                serde_json::json!({ "seq": seq, "verified": verified, "no_outcome": true, "event": event })
            } else {
                serde_json::json!({ "seq": seq, "verified": verified, "event": event })
            };
            say(&entry.to_string());
        } else {
            say(&describe(*seq, event, verified, no_outcome));
        }
    }
    match verdict {
        Verdict::BrokenAt(line, error) => {
            eprintln!("tierseal: entries from line {line} on are UNVERIFIED");
            Err(error)
        }
        _ => match unreadable {
            Some(error) => Err(refused(log, &error)),
            None => Ok(ExitCode::SUCCESS),
        },
    }
}

/// One entry as `show` prints it.
fn describe(seq: u64, event: &AuditEvent, verified: bool, no_outcome: bool) -> String {
    let mut line = String::new();
    if !verified {
        line.push_str("UNVERIFIED ");
    }
    line.push_str(&format!(
        "#{seq} {} {} {} by {}",
        event.time,
        event.action.as_str(),
        event.outcome.as_str(),
        event.principal
    ));
    if event.writer != event.principal {
        line.push_str(&format!(" (via {})", event.writer));
    }
    if let Some(purpose) = &event.purpose {
        line.push_str(&format!(" for \"{purpose}\""));
    }
    if let Some(type_name) = &event.type_name {
        line.push_str(&format!(" {type_name}"));
        if let Some(id) = &event.record_id {
            line.push_str(&format!(" {id}"));
        }
    }
    match (&event.tier, event.key_version) {
        (Some(tier), Some(version)) => line.push_str(&format!(" {tier} v{version}")),
        (Some(tier), None) => line.push_str(&format!(" {tier}")),
        _ => {}
    }
    let fields: Vec<String> = event
        .fields
        .iter()
        .map(|f| format!("{}:{:?}", f.field, f.outcome).to_lowercase())
        .collect();
    if !fields.is_empty() {
        line.push_str(&format!(" [{}]", fields.join(", ")));
    }
    if let Some(reason) = &event.reason {
        line.push_str(&format!(" ({reason})"));
    }
    if !event.approvers.is_empty() {
        line.push_str(&format!(" approved by {}", event.approvers.join(", ")));
    }
    if let Some(intent) = event.intent {
        line.push_str(&format!(" [outcome of #{intent}]"));
    }
    if no_outcome {
        line.push_str(" [NO OUTCOME: interrupted]");
    }
    line
}

/// A lower bound on entry times, comparable with their RFC 3339 text.
fn parse_since(text: &str) -> Result<String, CliError> {
    if let Ok(ago) = crate::text::parse_duration(text) {
        let time = SystemTime::now()
            .checked_sub(ago)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        return Ok(utc_timestamp(time));
    }
    let looks_like_date = text.len() >= 10
        && text.bytes().take(10).enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if looks_like_date {
        return Ok(text.to_owned());
    }
    Err(CliError::Usage(format!(
        "invalid --since `{text}`: use a date (2026-11-27), an RFC 3339 time or a duration ago (24h, 7d)"
    )))
}
