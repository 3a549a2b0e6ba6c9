//! `tierseal audit verify|show`.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tierseal::audit::{self, utc_timestamp};

use super::{open_keystore, say};
use crate::CliError;
use crate::cli::{AuditCommand, GlobalArgs};

pub(super) fn run(global: &GlobalArgs, command: &AuditCommand) -> Result<ExitCode, CliError> {
    match command {
        AuditCommand::Verify { file } => {
            let keystore = open_keystore(global)?;
            let key = keystore.audit_key()?;
            drop(keystore);
            match audit::verify(file, &key) {
                Ok(count) => {
                    say(&format!(
                        "{}: {count} entries, chain intact",
                        file.display()
                    ));
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => Err(CliError::Refused(format!("{}: {error}", file.display()))),
            }
        }
        AuditCommand::Show {
            file,
            principal,
            since,
            action,
            json,
        } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let events = audit::read_events(file)
                .map_err(|e| CliError::Refused(format!("{}: {e}", file.display())))?;
            for (seq, event) in events {
                if principal.as_ref().is_some_and(|p| *p != event.principal)
                    || action.as_ref().is_some_and(|a| a != event.action.as_str())
                    || since
                        .as_ref()
                        .is_some_and(|s| event.time.to_string().as_str() < s.as_str())
                {
                    continue;
                }
                if *json {
                    say(&serde_json::json!({ "seq": seq, "event": event }).to_string());
                    continue;
                }
                let mut line = format!(
                    "#{seq} {} {} {} by {}",
                    event.time,
                    event.action.as_str(),
                    event.outcome.as_str(),
                    event.principal
                );
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
                if let (Some(tier), Some(version)) = (&event.tier, event.key_version) {
                    line.push_str(&format!(" {tier} v{version}"));
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
                say(&line);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
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
    let _ = Duration::ZERO;
    Err(CliError::Usage(format!(
        "invalid --since `{text}`: use a date (2026-11-27), an RFC 3339 time or a duration ago (24h, 7d)"
    )))
}
