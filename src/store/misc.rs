//! Dead letters and chat message references.

use super::{Result, on_pool};
use crate::domain::{IncidentId, Timestamp};
use serde::Serialize;
use sqlx::Row;

/// A rejected body, kept verbatim so that nothing accepted from an
/// authenticated sender is ever lost.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub received_at: Timestamp,
    pub sender: Option<String>,
    pub format: Option<String>,
    pub content_type: Option<String>,
    pub reason: String,
    pub field: Option<String>,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub replayed_at: Option<Timestamp>,
    pub replay_result: Option<String>,
    /// Sent as a drill (`?drill=true`): a replay ingests it as a drill again.
    pub drill: bool,
    /// When a replay ingested its alerts; another replay needs `--force`.
    pub ingested_at: Option<Timestamp>,
}

/// A body to keep as a dead letter.
#[derive(Debug, Clone, Copy)]
pub struct NewDeadLetter<'a> {
    pub received_at: Timestamp,
    /// The JWT `sub` of the sender.
    pub sender: Option<&'a str>,
    pub format: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub reason: &'a str,
    /// The field the reason is about.
    pub field: Option<&'a str>,
    pub body: &'a [u8],
    pub drill: bool,
}

/// Where a message about an incident (and optionally one decision) lives on
/// a chat platform.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ChatMessage {
    pub platform: String,
    pub incident_id: i64,
    pub decision_id: Option<i64>,
    pub channel: String,
    pub message_ref: String,
    pub thread_ref: Option<String>,
}

macro_rules! dead_letter_cols {
    () => {
        "id, received_at, sender, format, content_type, reason, field, body, replayed_at, \
         replay_result, drill, ingested_at"
    };
}

impl super::Store {
    pub async fn add_dead_letter(&self, d: &NewDeadLetter<'_>) -> Result<i64> {
        on_pool!(&self.write, p => {
            let r = sqlx::query(
                "insert into dead_letters (received_at, sender, format, content_type, reason, field, body, drill) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
            )
            .bind(d.received_at)
            .bind(d.sender)
            .bind(d.format)
            .bind(d.content_type)
            .bind(d.reason)
            .bind(d.field)
            .bind(d.body)
            .bind(d.drill)
            .fetch_one(p)
            .await?;
            Ok(r.try_get("id")?)
        })
    }

    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>> {
        on_pool!(&self.read, p => {
            Ok(sqlx::query_as::<_, DeadLetter>(concat!(
                "select ", dead_letter_cols!(), " from dead_letters order by id desc limit $1"
            ))
            .bind(limit)
            .fetch_all(p)
            .await?)
        })
    }

    pub async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>> {
        on_pool!(&self.read, p => {
            Ok(sqlx::query_as::<_, DeadLetter>(concat!(
                "select ", dead_letter_cols!(), " from dead_letters where id = $1"
            ))
            .bind(id)
            .fetch_optional(p)
            .await?)
        })
    }

    /// Records a replay's result; `ingested` when its alerts were stored
    /// (then another replay needs `--force`).
    pub async fn mark_dead_letter_replayed(
        &self,
        id: i64,
        at: Timestamp,
        result: &str,
        ingested: bool,
    ) -> Result<()> {
        on_pool!(&self.write, p => {
            sqlx::query(
                "update dead_letters set replayed_at = $1, replay_result = $2, \
                 ingested_at = case when $4 then $1 else ingested_at end where id = $3",
            )
            .bind(at)
            .bind(result)
            .bind(id)
            .bind(ingested)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    /// Remembers where a message was posted (first writer wins).
    pub async fn save_chat_message(&self, m: &ChatMessage, now: Timestamp) -> Result<()> {
        on_pool!(&self.write, p => {
            sqlx::query(
                "insert into chat_messages (platform, incident_id, decision_id, channel, message_ref, thread_ref, \
                 created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $7) \
                 on conflict (platform, incident_id, decision_id) do nothing",
            )
            .bind(&m.platform)
            .bind(m.incident_id)
            .bind(m.decision_id)
            .bind(&m.channel)
            .bind(&m.message_ref)
            .bind(&m.thread_ref)
            .bind(now)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    /// The incident's main message on `platform` (the one without a decision).
    pub async fn incident_message(
        &self,
        platform: &str,
        incident: IncidentId,
    ) -> Result<Option<ChatMessage>> {
        on_pool!(&self.read, p => {
            Ok(sqlx::query_as::<_, ChatMessage>(
                "select platform, incident_id, decision_id, channel, message_ref, thread_ref from chat_messages \
                 where platform = $1 and incident_id = $2 and decision_id is null order by id limit 1",
            )
            .bind(platform)
            .bind(incident.0)
            .fetch_optional(p)
            .await?)
        })
    }
}

impl super::Store {
    /// Remembers a matrix version (idempotent).
    pub async fn save_matrix_version(
        &self,
        hash: &str,
        source: &str,
        content: &str,
        at: Timestamp,
    ) -> Result<()> {
        on_pool!(&self.write, p => {
            sqlx::query(
                "insert into matrix_versions (hash, source, content, loaded_at) values ($1, $2, $3, $4) \
                 on conflict (hash) do nothing",
            )
            .bind(hash)
            .bind(source)
            .bind(content)
            .bind(at)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    /// A matrix version by hash: (source name, content).
    pub async fn matrix_version(&self, hash: &str) -> Result<Option<(String, String)>> {
        on_pool!(&self.read, p => {
            let r = sqlx::query("select source, content from matrix_versions where hash = $1")
                .bind(hash)
                .fetch_optional(p)
                .await?;
            r.map(|r| Ok((r.try_get("source")?, r.try_get("content")?))).transpose()
        })
    }
}

impl super::Store {
    /// Everything a chat surface recorded about an incident (see the
    /// `chat_state` migration): item → value.
    pub async fn chat_state(
        &self,
        platform: &str,
        incident: IncidentId,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query(
                "select item, value from chat_state where platform = $1 and incident_id = $2",
            )
            .bind(platform)
            .bind(incident.0)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("item")?, r.try_get("value")?)))
                .collect()
        })
    }

    /// Records one chat item (insert or replace).
    pub async fn put_chat_state(
        &self,
        platform: &str,
        incident: IncidentId,
        item: &str,
        value: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_pool!(&self.write, p => {
            sqlx::query(
                "insert into chat_state (platform, incident_id, item, value, updated_at) values ($1, $2, $3, $4, $5) \
                 on conflict (platform, incident_id, item) do update set value = excluded.value, \
                 updated_at = excluded.updated_at",
            )
            .bind(platform)
            .bind(incident.0)
            .bind(item)
            .bind(value)
            .bind(now)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    /// Opens an incident that no alert started: a person asked for an action
    /// from chat (`/cordon isolate HOST`). It has no alerts; its detection
    /// time is the request time.
    pub async fn open_manual_incident(
        &self,
        title: &str,
        severity: crate::domain::Severity,
        now: Timestamp,
    ) -> Result<IncidentId> {
        on_pool!(&self.write, p => {
            let r = sqlx::query(
                "insert into incidents (title, severity, status, opened_at, detected_at, last_alert_at, drill) \
                 values ($1, $2, 'open', $3, $3, $3, false) returning id",
            )
            .bind(title)
            .bind(severity as i64)
            .bind(now)
            .fetch_one(p)
            .await?;
            Ok(IncidentId(r.try_get("id")?))
        })
    }
}
