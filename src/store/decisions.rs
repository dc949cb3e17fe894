//! Decisions and their append-only events.
//!
//! A decision's state is the fold of its events. The `decisions` row caches
//! the current state and `next_seq`; every transition is one transaction
//! that checks `next_seq` (optimistic concurrency), appends the events, and
//! writes the transition's effects (jobs, timers, audit entries) with them,
//! so nothing a transition decided can be lost or done without its record.

use super::{NewAudit, NewJob, NewTimer};
use super::{Result, StoreError, json_err, on_pool};
use crate::domain::{DecisionId, IncidentId, Timestamp};
use serde::Serialize;
use sqlx::Row;

/// A decision to create.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub incident_id: IncidentId,
    pub alert_id: Option<i64>,
    pub action: String,
    pub target_kind: String,
    pub target_value: String,
    pub rule: Option<String>,
    pub mode: String,
    pub matrix_hash: String,
    pub context: serde_json::Value,
    pub attributes: serde_json::Value,
    pub proposer: Option<String>,
    pub created_at: Timestamp,
    pub drill: bool,
    /// It took a path that runs without a human approval (the rate guard
    /// counts these).
    pub automatic: bool,
}

/// One stored decision event; `data` is the whole domain event as JSON, the
/// other columns are copies for querying.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub seq: i64,
    pub at: Timestamp,
    pub kind: String,
    pub actor_person: Option<String>,
    pub actor_platform: Option<String>,
    pub actor_user: Option<String>,
    pub actor_role: Option<String>,
    pub data: serde_json::Value,
}

/// Everything a transition writes besides its events.
#[derive(Debug, Clone, Default)]
pub struct TransitionWrites {
    pub jobs: Vec<NewJob>,
    pub timers: Vec<NewTimer>,
    /// Cancel the decision's pending timers before adding `timers`.
    pub cancel_timers: bool,
    pub audit: Vec<NewAudit>,
    /// State saved by the forward action (e.g. previous security groups).
    pub saved_state: Option<serde_json::Value>,
    /// Insert `jobs` already claimed by this worker for this lease, so the
    /// caller runs them at once (the fast path for pre-authorised actions).
    pub claim_by: Option<(String, std::time::Duration)>,
    /// Jobs written queued, never claimed (chat syncs: the job loop runs
    /// them in order per incident), committed with the transition so a
    /// crash cannot lose the chat update of a decision.
    pub queued: Vec<NewJob>,
}

/// A stored decision (the cached head of its event stream).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DecisionRow {
    pub id: i64,
    pub incident_id: i64,
    pub alert_id: Option<i64>,
    pub action: String,
    pub target_kind: String,
    pub target_value: String,
    pub rule: Option<String>,
    pub mode: String,
    pub matrix_hash: String,
    pub state: String,
    pub context: String,
    pub attributes: String,
    pub saved_state: Option<String>,
    pub proposer: Option<String>,
    pub next_seq: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub drill: bool,
}

macro_rules! decision_cols {
    () => {
        "id, incident_id, alert_id, action, target_kind, target_value, rule, mode, matrix_hash, state, context, \
         attributes, saved_state, proposer, next_seq, created_at, updated_at, drill"
    };
}

/// Writes the events, jobs, timers and audit entries of one transition
/// inside `$tx`. `$first_seq` is the seq of the first event.
macro_rules! write_transition {
    ($tx:ident, $backend:expr, $id:expr, $first_seq:expr, $events:expr, $w:expr, $now:expr) => {{
        let id: i64 = $id;
        for (i, e) in $events.iter().enumerate() {
            let e: &EventRecord = e;
            let _ = i;
            let seq = e.seq;
            let r = sqlx::query(
                "insert into decision_events (decision_id, seq, at, kind, actor_person, actor_platform, actor_user, \
                 actor_role, data) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(seq)
            .bind(e.at)
            .bind(&e.kind)
            .bind(&e.actor_person)
            .bind(&e.actor_platform)
            .bind(&e.actor_user)
            .bind(&e.actor_role)
            .bind(e.data.to_string())
            .execute(&mut *$tx)
            .await;
            match r {
                Ok(_) => {}
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                    return Err(StoreError::Conflict(format!("dec-{id} seq {seq} already written")));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let w: &TransitionWrites = $w;
        if w.cancel_timers {
            sqlx::query("update timers set status = 'cancelled' where decision_id = $1 and status = 'pending'")
                .bind(id)
                .execute(&mut *$tx)
                .await?;
        }
        for t in &w.timers {
            super::jobs::insert_timer!($tx, t, $now);
        }
        let mut job_ids = Vec::new();
        let claim = w.claim_by.as_ref().map(|(who, lease)| (who.as_str(), *lease));
        for j in &w.jobs {
            job_ids.push(super::jobs::insert_job!($tx, j, claim, $now));
        }
        for j in &w.queued {
            super::jobs::insert_job!($tx, j, None, $now);
        }
        if let Some(s) = &w.saved_state {
            sqlx::query("update decisions set saved_state = $1 where id = $2")
                .bind(s.to_string())
                .bind(id)
                .execute(&mut *$tx)
                .await?;
        }
        super::audit::append_audit!($tx, $backend, &w.audit);
        job_ids
    }};
}

impl super::Store {
    /// Creates a decision with its first events and effects, in one
    /// transaction. Returns its id and the ids of the jobs enqueued.
    /// With `rate`, the action's rate guard is checked in the same
    /// transaction (see [`super::RateCheck`]).
    pub async fn create_decision(
        &self,
        d: &NewDecision,
        state: &str,
        events: &[EventRecord],
        writes: &TransitionWrites,
        rate: Option<&super::RateCheck>,
    ) -> Result<(DecisionId, Vec<Option<i64>>)> {
        let backend = self.backend();
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            if let Some(check) = rate {
                super::guards::check_rate!(tx, backend, check)?;
            }
            let id = sqlx::query(
                "insert into decisions (incident_id, alert_id, action, target_kind, target_value, rule, mode, \
                 matrix_hash, state, context, attributes, proposer, next_seq, created_at, updated_at, drill, automatic) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16) returning id",
            )
            .bind(d.incident_id.0)
            .bind(d.alert_id)
            .bind(&d.action)
            .bind(&d.target_kind)
            .bind(&d.target_value)
            .bind(&d.rule)
            .bind(&d.mode)
            .bind(&d.matrix_hash)
            .bind(state)
            .bind(d.context.to_string())
            .bind(d.attributes.to_string())
            .bind(&d.proposer)
            .bind(events.last().map_or(1, |e| e.seq + 1))
            .bind(d.created_at)
            .bind(d.drill)
            .bind(d.automatic)
            .fetch_one(&mut *tx)
            .await;
            let id: i64 = match id {
                Ok(r) => r.try_get("id")?,
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::Conflict(format!(
                        "a decision to {} {} for alert {:?} exists already",
                        d.action, d.target_value, d.alert_id
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            // Jobs and audit entries may need the new id: patch placeholders.
            let writes = writes.with_decision_id(DecisionId(id));
            let ids = write_transition!(tx, backend, id, 1, events, &writes, d.created_at);
            tx.commit().await?;
            Ok((DecisionId(id), ids))
        })
    }

    /// Appends the events of one transition if nobody else wrote since
    /// `expected_seq` was read; else [`StoreError::Conflict`].
    pub async fn append_transition(
        &self,
        id: DecisionId,
        expected_seq: i64,
        new_state: &str,
        events: &[EventRecord],
        writes: &TransitionWrites,
        now: Timestamp,
    ) -> Result<Vec<Option<i64>>> {
        let backend = self.backend();
        let n = i64::try_from(events.len()).unwrap_or(0);
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            let r = sqlx::query(
                "update decisions set next_seq = $1, state = $2, updated_at = $3 where id = $4 and next_seq = $5",
            )
            .bind(expected_seq + n)
            .bind(new_state)
            .bind(now)
            .bind(id.0)
            .bind(expected_seq)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("{id} moved past seq {expected_seq}")));
            }
            let ids = write_transition!(tx, backend, id.0, expected_seq, events, writes, now);
            tx.commit().await?;
            Ok(ids)
        })
    }

    pub async fn get_decision(
        &self,
        id: DecisionId,
    ) -> Result<Option<(DecisionRow, Vec<EventRecord>)>> {
        // From the readers: under WAL a reader sees every transaction that
        // has committed, and keeping reads off SQLite's single writer
        // connection leaves it to the writes (the ingest batches above all).
        on_pool!(&self.read, p => {
            let Some(row) = sqlx::query_as::<_, DecisionRow>(concat!(
                "select ", decision_cols!(), " from decisions where id = $1"
            ))
            .bind(id.0)
            .fetch_optional(p)
            .await?
            else {
                return Ok(None);
            };
            let events = sqlx::query(
                "select seq, at, kind, actor_person, actor_platform, actor_user, actor_role, data \
                 from decision_events where decision_id = $1 order by seq",
            )
            .bind(id.0)
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                Ok(EventRecord {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    actor_person: r.try_get("actor_person")?,
                    actor_platform: r.try_get("actor_platform")?,
                    actor_user: r.try_get("actor_user")?,
                    actor_role: r.try_get("actor_role")?,
                    data: serde_json::from_str(&data).map_err(json_err)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
            Ok(Some((row, events)))
        })
    }

    pub async fn decisions_of_incident(&self, id: IncidentId) -> Result<Vec<DecisionRow>> {
        on_pool!(&self.read, p => {
            Ok(sqlx::query_as::<_, DecisionRow>(concat!(
                "select ", decision_cols!(), " from decisions where incident_id = $1 order by id"
            ))
            .bind(id.0)
            .fetch_all(p)
            .await?)
        })
    }

    /// All decisions created in `[from, to)` with all their events, for reports.
    pub async fn decisions_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(DecisionRow, Vec<EventRecord>)>> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query_as::<_, DecisionRow>(concat!(
                "select ", decision_cols!(), " from decisions where created_at >= $1 and created_at < $2 order by id"
            ))
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?;
            let evs = sqlx::query(
                "select e.decision_id, e.seq, e.at, e.kind, e.actor_person, e.actor_platform, e.actor_user, \
                 e.actor_role, e.data from decision_events e join decisions d on d.id = e.decision_id \
                 where d.created_at >= $1 and d.created_at < $2 order by e.decision_id, e.seq",
            )
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?;
            let mut by_id: std::collections::HashMap<i64, Vec<EventRecord>> = std::collections::HashMap::new();
            for r in &evs {
                let data: String = r.try_get("data")?;
                by_id.entry(r.try_get("decision_id")?).or_default().push(EventRecord {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    actor_person: r.try_get("actor_person")?,
                    actor_platform: r.try_get("actor_platform")?,
                    actor_user: r.try_get("actor_user")?,
                    actor_role: r.try_get("actor_role")?,
                    data: serde_json::from_str(&data).map_err(json_err)?,
                });
            }
            Ok(rows
                .into_iter()
                .map(|d| {
                    let e = by_id.remove(&d.id).unwrap_or_default();
                    (d, e)
                })
                .collect())
        })
    }
}

impl TransitionWrites {
    /// Replaces the `"$decision"` placeholder in job payloads, dedup keys and
    /// audit subjects with the id a new decision just received.
    fn with_decision_id(&self, id: DecisionId) -> TransitionWrites {
        let mut w = self.clone();
        let s = id.0.to_string();
        let fix = |v: &mut serde_json::Value| {
            if let Some(o) = v.as_object_mut() {
                for val in o.values_mut() {
                    if val.as_str() == Some("$decision") {
                        *val = serde_json::json!(id.0);
                    }
                }
            }
        };
        for j in w.jobs.iter_mut().chain(w.queued.iter_mut()) {
            fix(&mut j.payload);
            if let Some(k) = &mut j.dedup_key {
                *k = k.replace("$decision", &s);
            }
        }
        for t in &mut w.timers {
            t.decision_id = id;
        }
        for a in &mut w.audit {
            a.subject = a.subject.replace("$decision", &id.to_string());
        }
        w
    }
}
