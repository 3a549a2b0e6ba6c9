//! Small text helpers: durations, dates, ages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest duration an argument may give: far beyond any cryptoperiod
/// or grant, and short enough that adding it to the clock cannot overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z).
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

/// Parses `30d`, `12h`, `90m`, `2w`, `3600s`, `1h30m` (humantime's
/// syntax) or a bare number of seconds: positive and at most 100 years.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Past u64 seconds is past the limit too.
        Ok(text
            .parse::<u64>()
            .map_or(Duration::MAX, Duration::from_secs))
    } else {
        humantime::parse_duration(text)
    };
    match parsed {
        Ok(duration) if duration.is_zero() => {
            Err(format!("invalid duration `{text}`: must be more than zero"))
        }
        Ok(duration) if duration > MAX_DURATION => Err(too_long(text)),
        Err(humantime::DurationError::NumberOverflow) => Err(too_long(text)),
        Ok(duration) => Ok(duration),
        Err(reason) => Err(format!(
            "invalid duration `{text}` ({reason}): use a number and a unit, e.g. 30d, 12h, 90m, 2w"
        )),
    }
}

fn too_long(text: &str) -> String {
    format!("invalid duration `{text}`: at most 100 years (36500d)")
}

/// `now + duration`, or a clear error when the clock cannot hold it.
pub(crate) fn after_now(duration: Duration, what: &str) -> Result<SystemTime, crate::CliError> {
    SystemTime::now()
        .checked_add(duration)
        .ok_or_else(|| crate::CliError::Usage(format!("{what} is too far in the future")))
}

/// Seconds since the Unix epoch as RFC 3339 UTC; a time past the year
/// 9999 (which RFC 3339 cannot write, and only a damaged or forged file
/// holds) is named as such.
pub(crate) fn utc(seconds: u64) -> String {
    match UNIX_EPOCH.checked_add(Duration::from_secs(seconds)) {
        Some(time) if seconds <= LAST_RFC3339_SECOND => {
            humantime::format_rfc3339_seconds(time).to_string()
        }
        _ => format!("after the year 9999 (Unix time {seconds})"),
    }
}

/// An age in whole days (or hours under a day).
pub(crate) fn age(seconds: u64) -> String {
    if seconds < 86_400 {
        format!("{}h", seconds / 3_600)
    } else {
        format!("{}d", seconds / 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").unwrap().as_secs(), 30 * 86_400);
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 14 * 86_400);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5_400);
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("36500d").unwrap(), MAX_DURATION);
        for bad in [
            "0d",
            "0",
            "3x",
            "d",
            "",
            "-1d",
            "36501d",
            "99999999999999999999w",
            "18446744073709551615",
            "18446744073709551616",
            "18446744073709551615d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(utc(LAST_RFC3339_SECOND), "9999-12-31T23:59:59Z");
        assert_eq!(
            utc(u64::MAX),
            "after the year 9999 (Unix time 18446744073709551615)"
        );
    }

    proptest! {
        /// No text makes the duration parser panic, and what it accepts
        /// can be added to the clock.
        #[test]
        fn any_duration_text_is_an_error_or_a_usable_duration(text in "\\PC{0,24}|[0-9]{1,25}[a-zA-Z]{0,7}") {
            if let Ok(duration) = parse_duration(&text) {
                prop_assert!(!duration.is_zero() && duration <= MAX_DURATION);
                prop_assert!(after_now(duration, "it").is_ok());
            }
        }

        /// Every second count prints without panicking.
        #[test]
        fn any_time_prints(seconds in any::<u64>()) {
            prop_assert!(!utc(seconds).is_empty());
        }
    }
}
