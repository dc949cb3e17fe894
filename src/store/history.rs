//! Incident history, as enrichment asks for it: "what else happened on this
//! host lately?".

use super::{Result, ms, on_pool};
use crate::domain::{IncidentId, Timestamp};
use sqlx::Row;

/// Incidents that touched one correlation key recently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHistory {
    /// Distinct incidents, most recently active first.
    pub incidents: Vec<IncidentId>,
}

impl super::Store {
    /// The non-drill incidents whose correlation keys include any of `keys`
    /// (as written by ingest: `host:ws-0142`, `user:jdoe`, `ip:203.0.113.9`)
    /// with activity on that key at or after `since`, most recent first,
    /// without `exclude` (the incident being enriched). `incident_keys`
    /// keeps a row per (key, incident) for ever, so resolved incidents count
    /// too. One query per key keeps the SQL static on both backends; callers
    /// pass a handful of keys.
    pub async fn incidents_with_keys_since(
        &self,
        keys: &[String],
        since: Timestamp,
        exclude: Option<IncidentId>,
    ) -> Result<KeyHistory> {
        let mut seen: Vec<(i64, i64)> = Vec::new(); // (incident id, last seen ms)
        for key in keys {
            let rows = on_pool!(&self.read, p => {
                sqlx::query(
                    "select k.incident_id, k.last_seen_ms from incident_keys k \
                     join incidents i on i.id = k.incident_id \
                     where k.key = $1 and k.last_seen_ms >= $2 and i.drill = false and k.incident_id <> $3",
                )
                .bind(key)
                .bind(ms(since))
                .bind(exclude.map(|i| i.0).unwrap_or(-1))
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| Ok((r.try_get::<i64, _>("incident_id")?, r.try_get::<i64, _>("last_seen_ms")?)))
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?
            });
            for (id, last) in rows {
                match seen.iter_mut().find(|(i, _)| *i == id) {
                    Some(entry) => entry.1 = entry.1.max(last),
                    None => seen.push((id, last)),
                }
            }
        }
        seen.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        Ok(KeyHistory {
            incidents: seen.into_iter().map(|(id, _)| IncidentId(id)).collect(),
        })
    }
}
