//! Time in the domain is a plain value. Only `crate::clock` reads the system
//! clock; everything here takes `now` as an argument.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// A UTC instant with nanosecond precision.
pub type Timestamp = DateTime<Utc>;

/// Whole milliseconds from `from` to `to` (negative if `to` is earlier).
pub fn millis_between(from: Timestamp, to: Timestamp) -> i64 {
    (to - from).num_milliseconds()
}

/// `at + d`, saturating instead of panicking on absurd durations.
pub fn add(at: Timestamp, d: Duration) -> Timestamp {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Parses a human duration as written in config files: `90s`, `3m`, `10m`,
/// `4h`, `24h`, `30d`. Zero is refused: a zero window or timeout is always a
/// configuration mistake.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!("`{s}` is not a duration ({e}); write e.g. `90s`, `3m`, `4h`, `30d`")
    })?;
    if d.is_zero() {
        return Err(format!("`{s}` is zero; a duration must be positive"));
    }
    Ok(d)
}

/// Formats a duration the way it is written in config (`3m`, `1h 30m`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_durations_parse() {
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
