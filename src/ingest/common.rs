//! Helpers every format parser shares: body splitting, lenient field access
//! (dotted paths that mix flat `"a.b"` keys and nested objects), time parsing,
//! fingerprints and the free-form severity vocabulary.
//!
//! Nothing here knows a particular format.

use super::IngestError;
use crate::domain::alert::AlertStatus;
use crate::domain::{NewAlert, Observables, Severity, Timestamp};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One record of a body and the JSON path prefix that names it in errors
/// (`""` for a single object, `"[3]"` for the fourth element or NDJSON line).
pub(crate) struct Record {
    pub value: Value,
    pub path: String,
}

/// Splits a body into records: one JSON object, a JSON array of records, or
/// NDJSON (one record per line). Format-specific batches (`alerts[]`,
/// `hits.hits[]`) are unwrapped by the format parsers themselves.
pub(crate) fn records(body: &[u8]) -> Result<Vec<Record>, IngestError> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(IngestError::new(
            "body",
            "the body is empty",
            "send one JSON alert, a JSON array of alerts, or NDJSON (one alert per line)",
        ));
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Array(items)) => {
            if items.is_empty() {
                return Err(no_alerts("the body is an empty JSON array"));
            }
            Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, value)| Record {
                    value,
                    path: format!("[{i}]"),
                })
                .collect())
        }
        Ok(value) => Ok(vec![Record {
            value,
            path: String::new(),
        }]),
        Err(whole) => {
            // Not one JSON document: try NDJSON before giving up.
            let lines: Vec<&str> = trimmed
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            if lines.len() < 2 {
                return Err(invalid_json(&whole.to_string()));
            }
            lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    serde_json::from_str::<Value>(line)
                        .map(|value| Record {
                            value,
                            path: format!("[{i}]"),
                        })
                        .map_err(|e| {
                            IngestError::new(
                                "body",
                                format!("line {} is not valid JSON: {e}", i + 1),
                                "NDJSON bodies need one complete JSON object per line",
                            )
                        })
                })
                .collect()
        }
    }
}

pub(crate) fn invalid_json(detail: &str) -> IngestError {
    IngestError::new(
        "body",
        format!("the body is not valid JSON: {detail}"),
        "send one JSON alert, a JSON array of alerts, or NDJSON (one alert per line)",
    )
}

pub(crate) fn no_alerts(problem: &str) -> IngestError {
    IngestError::new(
        "body",
        problem,
        "the body must carry at least one alert record",
    )
}

/// `prefix` + `rest` as a JSON path: `("[2]", "rule.level")` → `[2].rule.level`.
pub(crate) fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_owned()
    } else if rest.is_empty() || rest.starts_with('[') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}.{rest}")
    }
}

/// Looks up `path` in `v`. A path starting with `/` is a JSON pointer;
/// otherwise it is dotted, and at every object the longest run of segments
/// that exists as one flat key wins (so `kibana.alert.rule.name` finds both
/// `{"kibana.alert.rule.name": …}` and `{"kibana": {"alert": …}}`). Numeric
/// segments index arrays.
pub(crate) fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.starts_with('/') {
        return v.pointer(path);
    }
    if path.is_empty() {
        return Some(v);
    }
    let segs: Vec<&str> = path.split('.').collect();
    get_segs(v, &segs)
}

fn get_segs<'a>(v: &'a Value, segs: &[&str]) -> Option<&'a Value> {
    if segs.is_empty() {
        return Some(v);
    }
    match v {
        Value::Object(map) => {
            for n in (1..=segs.len()).rev() {
                let key = segs[..n].join(".");
                if let Some(child) = map.get(&key)
                    && let Some(found) = get_segs(child, &segs[n..])
                {
                    return Some(found);
                }
            }
            None
        }
        Value::Array(items) => {
            let i: usize = segs[0].parse().ok()?;
            get_segs(items.get(i)?, &segs[1..])
        }
        _ => None,
    }
}

/// A scalar as trimmed text (numbers and booleans included); `None` when
/// absent, null, empty or not a scalar.
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// The text at `path`.
pub(crate) fn s(v: &Value, path: &str) -> Option<String> {
    text(get(v, path))
}

/// The first path of `paths` that yields text.
pub(crate) fn first(v: &Value, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| s(v, p))
}

/// All texts at `path`: a scalar gives one, an array gives its scalar items.
pub(crate) fn texts(v: &Value, path: &str) -> Vec<String> {
    match get(v, path) {
        Some(Value::Array(items)) => items.iter().filter_map(|i| text(Some(i))).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// The items of the array at `path` (empty when absent or not an array).
pub(crate) fn items<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    match get(v, path) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

/// A number at `path`, accepting numeric strings (`"10"`, `"5.0"`).
pub(crate) fn num(v: &Value, path: &str) -> Option<f64> {
    match get(v, path)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses a detection time as the formats write it: RFC 3339 with any offset
/// and up to nanoseconds, `+0000`-style offsets (Suricata, Wazuh), naive
/// date-times (taken as UTC), and epoch numbers or numeric strings in
/// seconds, milliseconds, microseconds or nanoseconds (told apart by size).
pub(crate) fn time(v: Option<&Value>) -> Option<Timestamp> {
    match v? {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                epoch(i)
            } else {
                n.as_f64().and_then(epoch_f64)
            }
        }
        Value::String(s) => time_str(s.trim()),
        _ => None,
    }
}

pub(crate) fn time_at(v: &Value, path: &str) -> Option<Timestamp> {
    time(get(v, path))
}

/// The first path of `paths` that yields a time.
pub(crate) fn first_time(v: &Value, paths: &[&str]) -> Option<Timestamp> {
    paths.iter().find_map(|p| time_at(v, p))
}

fn time_str(s: &str) -> Option<Timestamp> {
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(i) = s.parse::<i64>() {
        return epoch(i);
    }
    s.parse::<f64>().ok().and_then(epoch_f64)
}

/// Epoch integer of unknown unit. Seconds reach 1e11 only in the year 5138,
/// so anything larger is milliseconds, then microseconds, then nanoseconds.
fn epoch(i: i64) -> Option<Timestamp> {
    if i <= 0 {
        return None;
    }
    let a = i;
    let (secs, nanos) = if a < 100_000_000_000 {
        (a, 0)
    } else if a < 100_000_000_000_000 {
        (a / 1_000, (a % 1_000) * 1_000_000)
    } else if a < 100_000_000_000_000_000 {
        (a / 1_000_000, (a % 1_000_000) * 1_000)
    } else {
        (a / 1_000_000_000, a % 1_000_000_000)
    };
    Utc.timestamp_opt(secs, u32::try_from(nanos).ok()?).single()
}

fn epoch_f64(f: f64) -> Option<Timestamp> {
    if !f.is_finite() || f <= 0.0 || f >= 9.0e18 {
        return None;
    }
    if f < 1.0e11 {
        // Fractional seconds (Splunk `_time` may be "1700000000.123").
        let secs = f.trunc() as i64;
        let nanos = ((f - f.trunc()) * 1e9).round() as u32;
        return Utc.timestamp_opt(secs, nanos.min(999_999_999)).single();
    }
    epoch(f as i64)
}

/// `sha256(format NUL part NUL part …)`, hex, first 32 characters.
pub(crate) fn fingerprint(format: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(format.as_bytes());
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    let mut out = hex::encode(h.finalize());
    out.truncate(32);
    out
}

/// The shared vocabulary of free-form severity words (Alertmanager labels,
/// Falco priorities, syslog levels, vendor captions). `None` for anything
/// else, so the caller can fall back and keep the source value.
pub(crate) fn word_severity(word: &str) -> Option<Severity> {
    let w = word.trim().to_ascii_lowercase();
    Some(match w.as_str() {
        "critical" | "crit" | "page" | "fatal" | "emergency" | "emerg" | "alert" | "p1"
        | "sev1" | "very high" | "very_high" | "veryhigh" => Severity::Critical,
        "major" | "error" | "err" | "high" | "p2" | "sev2" => Severity::High,
        "warning" | "warn" | "minor" | "medium" | "moderate" | "p3" | "sev3" => Severity::Medium,
        "low" | "notice" | "p4" | "sev4" => Severity::Low,
        "info" | "informational" | "information" | "none" | "debug" | "ok" | "p5" | "sev5" => {
            Severity::Info
        }
        _ => return None,
    })
}

/// Risk score 0–100 in Elastic's default bands (21 low, 47 medium, 73 high,
/// 99 critical), also used for Chronicle's risk score.
pub(crate) fn risk_score_severity(score: f64) -> Severity {
    if score >= 74.0 {
        Severity::Critical
    } else if score >= 48.0 {
        Severity::High
    } else if score >= 22.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// A `NewAlert` with everything optional left empty; parsers fill it in.
pub(crate) fn blank(format: &str, title: String, raw: &Value) -> NewAlert {
    NewAlert {
        format: format.to_owned(),
        source_id: None,
        fingerprint: String::new(),
        title,
        description: None,
        severity: Severity::Medium,
        source_severity: None,
        detected_at: None,
        status: AlertStatus::Firing,
        observables: Observables::default(),
        tags: Vec::new(),
        rule: None,
        raw: raw.clone(),
    }
}

/// The error for a record without a title anywhere.
pub(crate) fn missing(prefix: &str, field: &str, what: &str, hint: &str) -> IngestError {
    IngestError::new(join(prefix, field), format!("{what} is missing"), hint)
}

/// Strips a trailing `:port` from `host:port` (not from bare IPv6 addresses).
pub(crate) fn strip_port(s: &str) -> &str {
    if let Some(inner) = s.strip_prefix('[') {
        // [v6]:port
        return inner.split(']').next().unwrap_or(inner);
    }
    match s.rsplit_once(':') {
        Some((host, port))
            if !host.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => s,
    }
}

/// Whether `ip` is a private, loopback or link-local address (the protected
/// side of a network alert rather than the remote one).
pub(crate) fn is_internal_ip(ip: &str) -> bool {
    match ip.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_find_flat_and_nested_keys() {
        let v = json!({"kibana.alert.rule.name": "a", "host": {"name": "h"}, "k": {"x.y": [1, {"z": "deep"}]}});
        assert_eq!(s(&v, "kibana.alert.rule.name").as_deref(), Some("a"));
        assert_eq!(s(&v, "host.name").as_deref(), Some("h"));
        assert_eq!(s(&v, "k.x.y.1.z").as_deref(), Some("deep"));
        assert_eq!(s(&v, "/host/name").as_deref(), Some("h"));
        assert_eq!(s(&v, "missing.path"), None);
    }

    #[test]
    fn times_parse_in_every_shape_the_formats_use() {
        let cases = [
            (
                json!("2019-09-27T16:27:56.612666101Z"),
                "2019-09-27T16:27:56.612666101Z",
            ),
            (
                json!("2018-03-07T06:33:21.873077559-05:00"),
                "2018-03-07T11:33:21.873077559Z",
            ),
            (
                json!("2020-04-17T00:04:41.137+0000"),
                "2020-04-17T00:04:41.137Z",
            ),
            (
                json!("2024-10-04T09:49:02.698985"),
                "2024-10-04T09:49:02.698985Z",
            ),
            (json!(1728049742), "2024-10-04T13:49:02Z"),
            (json!(1686845212400_i64), "2023-06-15T16:06:52.400Z"),
            (
                json!(1715108059341081180_i64),
                "2024-05-07T18:54:19.341081180Z",
            ),
            (json!("1700000000"), "2023-11-14T22:13:20Z"),
        ];
        for (v, want) in cases {
            let got =
                time(Some(&v)).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
            assert_eq!(got.as_deref(), Some(want), "{v}");
        }
        assert_eq!(
            time(Some(&json!("0001-01-01T00:00:00Z"))).map(|t| t.timestamp() < 0),
            Some(true)
        );
        assert_eq!(time(Some(&json!("yesterday"))), None);
        assert_eq!(time(Some(&json!(-5))), None);
    }

    #[test]
    fn ports_are_stripped_but_ipv6_is_kept() {
        assert_eq!(strip_port("10.0.0.1:9100"), "10.0.0.1");
        assert_eq!(strip_port("db-prod-01:9100"), "db-prod-01");
        assert_eq!(strip_port("db-prod-01"), "db-prod-01");
        assert_eq!(strip_port("fe80::1"), "fe80::1");
        assert_eq!(strip_port("[fe80::1]:9100"), "fe80::1");
    }
}
