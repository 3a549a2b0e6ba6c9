//! Small text helpers: durations, dates, ages.

/// Parses `30d`, `12h`, `90m`, `2w`, `3600s` (or a bare number of seconds).
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("invalid duration `{text}`: expected a number and a unit, e.g. 30d, 12h, 90m")
    })?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        other => {
            return Err(format!(
                "invalid duration unit `{other}`: use s, m, h, d or w"
            ));
        }
    };
    number
        .checked_mul(seconds)
        .filter(|s| *s > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("invalid duration `{text}`: must be positive and reasonable"))
}

/// Seconds since the Unix epoch as RFC 3339 UTC, as the audit log writes
/// times.
pub(crate) fn utc(seconds: u64) -> String {
    tierseal::audit::utc_timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
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

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").unwrap().as_secs(), 30 * 86_400);
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999999999w").is_err());
    }
}
