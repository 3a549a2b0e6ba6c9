//! The audit trail: who opened what, when, why, and with which key —
//! never the values themselves.
//!
//! Every open through a [`RecordOpener`](crate::RecordOpener) (and so
//! through `#[derive(Classified)]`), every failed open, every seal of
//! restricted data and every rewrap produces an [`AuditEvent`] on the
//! keyring's [`AuditSink`]. The default sink, [`FileSink`], appends JSON
//! Lines whose entries are hash-chained and authenticated with HMAC-SHA-256
//! under an [`AuditKey`] kept in the keystore; [`verify`] finds the first
//! entry that was edited, removed, reordered or inserted, and
//! [`verify_with`] a [`Checkpoint`] also finds removed last entries. [`TracingSink`]
//! forwards events to `tracing` for the organisation's own pipeline, and
//! [`MultiSink`] combines sinks.
//!
//! What is logged: principal, purpose, action, outcome, type name, record
//! id (public by construction), field ids with their tier, key version and
//! whether each was revealed or withheld, and error kinds. What is never
//! logged: field values, masks, key bytes, passphrases.

mod checkpoint;
mod event;
mod file;
mod key;
mod line;
pub(crate) mod trail;
mod verify;

use std::sync::Arc;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use event::{Action, ApprovalUse, AuditEvent, FieldAccess, FieldOutcome, Outcome, Timestamp};
pub use file::{Durability, FileSink};
pub use key::AuditKey;
pub use line::LogHead;
pub use verify::{
    Unfinished, VerifyError, VerifyProblem, VerifyReport, read_events, read_events_until_error,
    verify, verify_with,
};

use crate::Error;

/// Where audit events go.
pub trait AuditSink: Send + Sync {
    /// Records one event. An error means the event may not be durable:
    /// callers that reveal data fail closed on it.
    ///
    /// # Errors
    /// The sink could not record the event.
    fn record(&self, event: AuditEvent) -> Result<(), Error>;

    /// Makes every recorded event durable (as the sink's durability
    /// allows).
    ///
    /// # Errors
    /// The sink could not write.
    fn flush(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// Forwards events to `tracing` at INFO level (target `tierseal::audit`),
/// one structured event each, for the user's own pipeline.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingSink;

impl AuditSink for TracingSink {
    fn record(&self, event: AuditEvent) -> Result<(), Error> {
        let fields = serde_json::to_string(&event.fields).unwrap_or_default();
        tracing::info!(
            target: "tierseal::audit",
            action = event.action.as_str(),
            outcome = event.outcome.as_str(),
            writer = %event.writer,
            principal = %event.principal,
            purpose = event.purpose.as_deref().unwrap_or(""),
            type_name = event.type_name.as_deref().unwrap_or(""),
            record_id = event.record_id.as_deref().unwrap_or(""),
            tier = event.tier.as_deref().unwrap_or(""),
            key_version = event.key_version.unwrap_or(0),
            reason = event.reason.as_deref().unwrap_or(""),
            fields = %fields,
            "audit"
        );
        Ok(())
    }
}

/// Sends every event to several sinks, failing if any fails.
#[derive(Clone, Default)]
pub struct MultiSink {
    sinks: Vec<Arc<dyn AuditSink>>,
}

impl MultiSink {
    /// No sinks yet.
    pub fn new() -> MultiSink {
        MultiSink::default()
    }

    /// This set plus `sink`.
    #[must_use]
    pub fn with(mut self, sink: Arc<dyn AuditSink>) -> MultiSink {
        self.sinks.push(sink);
        self
    }
}

impl AuditSink for MultiSink {
    fn record(&self, event: AuditEvent) -> Result<(), Error> {
        let mut first_error = None;
        for sink in &self.sinks {
            if let Err(error) = sink.record(event.clone()) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn flush(&self) -> Result<(), Error> {
        self.sinks.iter().try_for_each(|sink| sink.flush())
    }
}

impl std::fmt::Debug for MultiSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MultiSink({} sinks)", self.sinks.len())
    }
}

/// A UTC timestamp as RFC 3339 with milliseconds: `2026-11-27T05:01:02.123Z`.
pub fn utc_timestamp(time: std::time::SystemTime) -> String {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX / 2);
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// Parses what [`utc_timestamp`] writes (and a bare date, as midnight UTC).
pub fn parse_utc_timestamp(text: &str) -> Option<std::time::SystemTime> {
    let number =
        |range: std::ops::Range<usize>| text.get(range).and_then(|part| part.parse::<i64>().ok());
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if text.get(4..5) != Some("-")
        || text.get(7..8) != Some("-")
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let mut millis = days_from_civil(year, month, day).checked_mul(86_400_000)?;
    if text.len() > 10 {
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        millis += (hour * 3_600 + minute * 60 + second) * 1_000;
        if text.get(19..20) == Some(".") {
            millis += number(20..23)?;
        }
    }
    let millis = u64::try_from(millis).ok()?;
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(millis))
}

/// Year, month and day of a day count since 1970-01-01 (proleptic
/// Gregorian), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days since 1970-01-01 of a civil date (the inverse of the above).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn timestamps_parse_back() {
        for millis in [0_u64, 951_782_400_250, 1_795_000_000_123, 4_102_444_800_999] {
            let time = UNIX_EPOCH + Duration::from_millis(millis);
            assert_eq!(parse_utc_timestamp(&utc_timestamp(time)), Some(time));
        }
        assert_eq!(
            parse_utc_timestamp("2026-11-18"),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_000_000 - 40_000))
        );
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2026/11/18",
            "2026-11-18T25:00:00.000Z",
            "yesterday",
        ] {
            assert_eq!(parse_utc_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_250);
        assert_eq!(utc_timestamp(leap), "2000-02-29T00:00:00.250Z");
        assert_eq!(
            utc_timestamp(UNIX_EPOCH + Duration::from_secs(1_795_000_000)),
            "2026-11-18T11:06:40.000Z"
        );
    }
}
