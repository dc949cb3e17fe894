//! The append-only, hash-chained audit log.

use super::{Backend, Result, json_err, on_pool};
use crate::domain::audit::{AuditEntry, AuditRow};
use sqlx::Row;

/// An audit entry to append; seq, time text and hashes are assigned on write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub at: crate::domain::Timestamp,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

/// Appends audit entries inside `$tx`, extending the chain. On PostgreSQL
/// an advisory transaction lock serialises appenders across replicas (two
/// transactions must never read the same chain head); SQLite's single writer
/// already does.
macro_rules! append_audit {
    ($tx:ident, $backend:expr, $entries:expr) => {{
        let entries: &[$crate::store::NewAudit] = $entries;
        if !entries.is_empty() {
            if $backend == $crate::store::Backend::Postgres {
                sqlx::query("select pg_advisory_xact_lock(7460000001)").execute(&mut *$tx).await?;
            }
            let head = sqlx::query("select seq, hash from audit_log order by seq desc limit 1")
                .fetch_optional(&mut *$tx)
                .await?;
            let (mut seq, mut prev): (i64, String) = match head {
                Some(r) => (sqlx::Row::try_get(&r, "seq")?, sqlx::Row::try_get(&r, "hash")?),
                None => (0, $crate::domain::audit::GENESIS_HASH.to_owned()),
            };
            for a in entries {
                seq += 1;
                let entry = $crate::domain::audit::AuditEntry {
                    seq,
                    at: a.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    actor: a.actor.clone(),
                    action: a.action.clone(),
                    subject: a.subject.clone(),
                    detail: a.detail.clone(),
                };
                let hash = $crate::domain::audit::entry_hash(&prev, &entry);
                sqlx::query(
                    "insert into audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(seq)
                .bind(&entry.at)
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.subject)
                .bind(entry.detail.to_string())
                .bind(&prev)
                .bind(&hash)
                .execute(&mut *$tx)
                .await?;
                prev = hash;
            }
        }
    }};
}
pub(crate) use append_audit;

impl super::Store {
    /// Appends entries on their own (refused clicks, config reloads, logins).
    pub async fn audit(&self, entries: &[NewAudit]) -> Result<()> {
        let backend: Backend = self.backend();
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            append_audit!(tx, backend, entries);
            tx.commit().await?;
            Ok(())
        })
    }

    /// The whole chain in order, for `cordon audit verify`.
    pub async fn audit_chain(&self) -> Result<Vec<AuditRow>> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query(
                "select seq, at, actor, action, subject, detail, prev_hash, hash from audit_log order by seq",
            )
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    let detail: String = r.try_get("detail")?;
                    Ok(AuditRow {
                        entry: AuditEntry {
                            seq: r.try_get("seq")?,
                            at: r.try_get("at")?,
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            subject: r.try_get("subject")?,
                            detail: serde_json::from_str(&detail).map_err(json_err)?,
                        },
                        prev_hash: r.try_get("prev_hash")?,
                        hash: r.try_get("hash")?,
                    })
                })
                .collect()
        })
    }

    /// The latest entries, newest first, for the console.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query(
                "select seq, at, actor, action, subject, detail from audit_log order by seq desc limit $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    let detail: String = r.try_get("detail")?;
                    Ok(AuditEntry {
                        seq: r.try_get("seq")?,
                        at: r.try_get("at")?,
                        actor: r.try_get("actor")?,
                        action: r.try_get("action")?,
                        subject: r.try_get("subject")?,
                        detail: serde_json::from_str(&detail).map_err(json_err)?,
                    })
                })
                .collect()
        })
    }
}
