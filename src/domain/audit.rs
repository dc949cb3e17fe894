//! The audit chain (pure part): canonical form, hashing and verification.
//! Each row holds the hash of the previous row and of its own canonical
//! content, so altering or removing any row breaks the chain from there on.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit row as hashed. `at` is kept as the exact RFC 3339 text stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// Stable bytes: JSON with keys in a fixed (sorted) order. serde_json's
    /// `Value` maps are BTreeMaps (no `preserve_order` feature), so nested
    /// objects in `detail` are sorted too.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let v = serde_json::json!({
            "action": self.action,
            "actor": self.actor,
            "at": self.at,
            "detail": self.detail,
            "seq": self.seq,
            "subject": self.subject,
        });
        v.to_string().into_bytes()
    }
}

/// SHA-256 hex of `prev_hash ‖ canonical(entry)`.
pub fn entry_hash(prev_hash: &str, entry: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(entry.canonical_bytes());
    hex::encode(h.finalize())
}

/// A stored row: the entry with its link and hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// Where and why the chain broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit row {seq}: {reason}")]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Verifies rows in `seq` order from the start of the log; names the first
/// broken row.
pub fn verify_chain(rows: &[AuditRow]) -> Result<(), ChainBreak> {
    let mut prev = GENESIS_HASH.to_owned();
    for (expected_seq, r) in (1_i64..).zip(rows) {
        let seq = r.entry.seq;
        if seq != expected_seq {
            return Err(ChainBreak {
                seq: expected_seq,
                reason: format!("missing (next row present is {seq})"),
            });
        }
        if r.prev_hash != prev {
            return Err(ChainBreak {
                seq,
                reason:
                    "link to the previous row is broken (a row before it was removed or altered)"
                        .into(),
            });
        }
        let h = entry_hash(&prev, &r.entry);
        if h != r.hash {
            return Err(ChainBreak {
                seq,
                reason: "content does not match its hash (row altered)".into(),
            });
        }
        prev = h;
    }
    Ok(())
}
