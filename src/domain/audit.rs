//! The audit log's hash chain (the pure part): how an entry is turned into
//! bytes, how each row's hash covers the previous one, and how a chain is
//! verified. The store appends rows; `cordon audit verify` calls
//! [`verify_chain`].
//!
//! `hash(n) = sha256_hex(hash(n-1) ‖ canonical_bytes(entry n))`, with the
//! genesis `hash(0)` = 64 zeros. Changing, removing or reordering any row
//! breaks every hash after it, so the first broken row is where tampering
//! (or corruption) starts.

use super::Timestamp;
use super::matrix::sha256_hex;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audited fact: who did what to what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, … without gaps.
    pub seq: i64,
    pub at: Timestamp,
    /// `person:alice`, `slack:U123`, `system`, …
    pub actor: String,
    /// `decision.approved`, `matrix.loaded`, `click.refused`, …
    pub action: String,
    /// `dec-42`, `inc-7`, `matrix:<hash>`, …
    pub subject: String,
    pub detail: Value,
}

/// A stored row: the entry and its chain hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// Stable bytes for hashing: JSON with object keys sorted at every depth,
    /// no whitespace, and the time as RFC 3339 UTC with microseconds. Keys
    /// are sorted here rather than trusting `serde_json`'s map order, which a
    /// `preserve_order` feature anywhere in the build would change.
    /// Microseconds because PostgreSQL stores no finer: a hash over
    /// nanoseconds would not survive a round trip through the database.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let v = serde_json::json!({
            "seq": self.seq,
            "at": self.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "detail": self.detail,
        });
        let mut out = String::new();
        write_canonical(&v, &mut out);
        out.into_bytes()
    }
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// SHA-256 hex of `prev_hash ‖ canonical_bytes(entry)`.
pub fn entry_hash(prev_hash: &str, entry: &AuditEntry) -> String {
    let mut bytes = prev_hash.as_bytes().to_vec();
    bytes.extend(entry.canonical_bytes());
    sha256_hex(&bytes)
}

/// Builds the next row of a chain whose last hash is `prev_hash`.
pub fn chain_row(prev_hash: &str, entry: AuditEntry) -> AuditRow {
    let hash = entry_hash(prev_hash, &entry);
    AuditRow {
        entry,
        prev_hash: prev_hash.to_owned(),
        hash,
    }
}

/// The first row where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at seq {seq}: {reason}")]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Verifies a whole chain from the genesis row (seq 1) on.
pub fn verify_chain(rows: &[AuditRow]) -> Result<(), ChainBreak> {
    let mut prev = GENESIS_HASH.to_owned();
    for (expected_seq, row) in (1_i64..).zip(rows) {
        let seq = row.entry.seq;
        if seq != expected_seq {
            return Err(ChainBreak {
                seq: expected_seq,
                reason: format!("row {expected_seq} is missing (next row found is {seq})"),
            });
        }
        if row.prev_hash != prev {
            return Err(ChainBreak {
                seq,
                reason: "prev_hash does not match the previous row's hash (link broken)".into(),
            });
        }
        if entry_hash(&prev, &row.entry) != row.hash {
            return Err(ChainBreak {
                seq,
                reason: "content does not match its hash (row altered)".into(),
            });
        }
        prev = row.hash.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let row = chain_row(
                    &prev,
                    AuditEntry {
                        seq,
                        at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, seq as u32).unwrap(),
                        actor: "person:alice".into(),
                        action: "decision.approved".into(),
                        subject: format!("dec-{seq}"),
                        detail: json!({"z": 1, "a": {"y": [1, 2], "b": null}}),
                    },
                );
                prev = row.hash.clone();
                row
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(()));
        assert_eq!(verify_chain(&[]), Ok(()));
    }

    #[test]
    fn canonical_bytes_sort_keys_at_every_depth() {
        let row = &chain(1)[0];
        let s = String::from_utf8(row.entry.canonical_bytes()).unwrap();
        assert_eq!(
            s,
            r#"{"action":"decision.approved","actor":"person:alice","at":"2026-03-01T12:00:01.000000Z","detail":{"a":{"b":null,"y":[1,2]},"z":1},"seq":1,"subject":"dec-1"}"#
        );
    }

    #[test]
    fn an_altered_row_is_named() {
        let mut rows = chain(5);
        rows[2].entry.detail = json!({"z": 2});
        let err = verify_chain(&rows).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.reason.contains("altered"));
    }

    #[test]
    fn a_broken_link_is_named() {
        let mut rows = chain(5);
        // Re-hash row 4 consistently over a different prev: content ok, link broken.
        rows[3] = chain_row(GENESIS_HASH, rows[3].entry.clone());
        let err = verify_chain(&rows).unwrap_err();
        assert_eq!(err.seq, 4);
        assert!(err.reason.contains("link"));
    }

    #[test]
    fn a_missing_row_is_named() {
        let mut rows = chain(5);
        rows.remove(1);
        let err = verify_chain(&rows).unwrap_err();
        assert_eq!(err.seq, 2);
        assert!(err.reason.contains("missing"));
    }
}
