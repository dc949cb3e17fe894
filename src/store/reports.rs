//! Reads for reports and the web console, and the one-time sign-in ledger.
//!
//! Reports read a whole period at once, so these queries fetch only the
//! columns the aggregation needs (event kinds, times and actors, not the
//! event JSON): with 10,000 decisions in a period the page must still answer
//! in well under 100 ms.

use super::{IncidentRow, Result, on_pool};
use crate::domain::Timestamp;
use serde::Serialize;
use sqlx::Row;

/// One decision as reports see it: its head row, the times of the alert
/// that caused it, the first chat post of its incident and its events.
#[derive(Debug, Clone, Serialize)]
pub struct ReportDecision {
    pub id: i64,
    pub incident_id: i64,
    pub action: String,
    pub rule: Option<String>,
    pub mode: String,
    pub state: String,
    /// JSON `ActionContext` (severity, tier, environment).
    pub context: String,
    pub created_at: Timestamp,
    pub drill: bool,
    pub team: Option<String>,
    pub detected_at: Option<Timestamp>,
    pub received_at: Option<Timestamp>,
    pub first_post_at: Option<Timestamp>,
    pub events: Vec<ReportEvent>,
}

/// The parts of a stored event that reports use.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportEvent {
    pub seq: i64,
    pub at: Timestamp,
    pub kind: String,
    pub actor_person: Option<String>,
    pub actor_role: Option<String>,
}

impl super::Store {
    /// Every decision created in `[from, to)` with its events, alert times,
    /// incident team and first chat post, ordered by id.
    pub async fn report_decisions(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReportDecision>> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query(
                "select d.id, d.incident_id, d.action, d.rule, d.mode, d.state, d.context, d.created_at, d.drill, \
                 i.team, a.detected_at, a.received_at, \
                 (select min(c.created_at) from chat_messages c where c.incident_id = d.incident_id) as first_post_at \
                 from decisions d join incidents i on i.id = d.incident_id left join alerts a on a.id = d.alert_id \
                 where d.created_at >= $1 and d.created_at < $2 order by d.id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?;
            let evs = sqlx::query(
                "select e.decision_id, e.seq, e.at, e.kind, e.actor_person, e.actor_role \
                 from decision_events e join decisions d on d.id = e.decision_id \
                 where d.created_at >= $1 and d.created_at < $2 order by e.decision_id, e.seq",
            )
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?;
            let mut by_id: std::collections::HashMap<i64, Vec<ReportEvent>> =
                std::collections::HashMap::with_capacity(rows.len());
            for r in &evs {
                by_id.entry(r.try_get("decision_id")?).or_default().push(ReportEvent {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    actor_person: r.try_get("actor_person")?,
                    actor_role: r.try_get("actor_role")?,
                });
            }
            rows.iter()
                .map(|r| {
                    let id: i64 = r.try_get("id")?;
                    Ok(ReportDecision {
                        id,
                        incident_id: r.try_get("incident_id")?,
                        action: r.try_get("action")?,
                        rule: r.try_get("rule")?,
                        mode: r.try_get("mode")?,
                        state: r.try_get("state")?,
                        context: r.try_get("context")?,
                        created_at: r.try_get("created_at")?,
                        drill: r.try_get("drill")?,
                        team: r.try_get("team")?,
                        detected_at: r.try_get("detected_at")?,
                        received_at: r.try_get("received_at")?,
                        first_post_at: r.try_get("first_post_at")?,
                        events: by_id.remove(&id).unwrap_or_default(),
                    })
                })
                .collect()
        })
    }

    /// Incidents opened in `[from, to)`, oldest first, for MTTA and MTTR.
    pub async fn incidents_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<IncidentRow>> {
        on_pool!(&self.read, p => {
            Ok(sqlx::query_as::<_, IncidentRow>(
                "select id, title, severity, status, opened_at, detected_at, last_alert_at, acknowledged_at, \
                 contained_at, resolved_at, drill, team from incidents \
                 where opened_at >= $1 and opened_at < $2 order by id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?)
        })
    }

    /// Records the use of a one-time sign-in token. True the first time;
    /// false when the token id was used before (the primary key decides, so
    /// two racing sign-ins with one link cannot both succeed).
    pub async fn use_login_token(
        &self,
        jti: &str,
        person: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        on_pool!(&self.write, p => {
            let r = sqlx::query(
                "insert into login_tokens (jti, person, expires_at, used_at) values ($1, $2, $3, $4)",
            )
            .bind(jti)
            .bind(person)
            .bind(expires_at)
            .bind(now)
            .execute(p)
            .await;
            match r {
                Ok(_) => Ok(true),
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    }
}
