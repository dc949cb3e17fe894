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
/// that caused it, the first chat post of its incident, the first time of
/// each milestone, which outcomes it went through, and its approval events.
/// The database folds the events (one row per decision, not per event), which
/// is what keeps a 10,000-decision report fast.
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
    pub proposed_at: Option<Timestamp>,
    pub requested_at: Option<Timestamp>,
    pub accepted_at: Option<Timestamp>,
    pub contained_at: Option<Timestamp>,
    pub vetoed: bool,
    pub overridden: bool,
    pub denied: bool,
    pub expired: bool,
    pub failed: bool,
    /// `approval_requested` and `approved` events, in order.
    pub approval_events: Vec<ReportEvent>,
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
    /// Every decision created in `[from, to)`, ordered by id, with its
    /// events folded (see [`ReportDecision`]).
    pub async fn report_decisions(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReportDecision>> {
        on_pool!(&self.read, p => {
            // Event times are only ever appended in seq order, so the first
            // occurrence of a kind is also its earliest time: min(at).
            let rows = sqlx::query(
                "select d.id, d.incident_id, d.action, d.rule, d.mode, d.state, d.context, d.created_at, d.drill, \
                 i.team, a.detected_at, a.received_at, \
                 (select min(c.created_at) from chat_messages c where c.incident_id = d.incident_id) as first_post_at, \
                 e.proposed_at, e.requested_at, e.accepted_at, e.contained_at, \
                 e.vetoed, e.overridden, e.denied, e.expired, e.failed \
                 from decisions d join incidents i on i.id = d.incident_id left join alerts a on a.id = d.alert_id \
                 left join ( \
                   select ev.decision_id, \
                   min(case when ev.kind = 'proposed' then ev.at end) as proposed_at, \
                   min(case when ev.kind = 'execution_requested' then ev.at end) as requested_at, \
                   min(case when ev.kind = 'execution_accepted' then ev.at end) as accepted_at, \
                   min(case when ev.kind = 'contained' then ev.at end) as contained_at, \
                   max(case when ev.kind = 'vetoed' then 1 else 0 end) as vetoed, \
                   max(case when ev.kind = 'overridden' then 1 else 0 end) as overridden, \
                   max(case when ev.kind = 'denied' then 1 else 0 end) as denied, \
                   max(case when ev.kind = 'expired' then 1 else 0 end) as expired, \
                   max(case when ev.kind = 'execution_failed' then 1 else 0 end) as failed \
                   from decision_events ev join decisions dd on dd.id = ev.decision_id \
                   where dd.created_at >= $1 and dd.created_at < $2 group by ev.decision_id \
                 ) e on e.decision_id = d.id \
                 where d.created_at >= $1 and d.created_at < $2 order by d.id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?;
            let evs = sqlx::query(
                "select e.decision_id, e.seq, e.at, e.kind, e.actor_person, e.actor_role \
                 from decision_events e join decisions d on d.id = e.decision_id \
                 where d.created_at >= $1 and d.created_at < $2 \
                 and e.kind in ('approval_requested', 'approved') order by e.decision_id, e.seq",
            )
            .bind(from)
            .bind(to)
            .fetch_all(p)
            .await?;
            let mut by_id: std::collections::HashMap<i64, Vec<ReportEvent>> =
                std::collections::HashMap::new();
            for r in &evs {
                by_id.entry(r.try_get("decision_id")?).or_default().push(ReportEvent {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    actor_person: r.try_get("actor_person")?,
                    actor_role: r.try_get("actor_role")?,
                });
            }
            let flag = |r: &_, c: &str| -> Result<bool> {
                let v: Option<i32> = sqlx::Row::try_get(r, c)?;
                Ok(v == Some(1))
            };
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
                        proposed_at: r.try_get("proposed_at")?,
                        requested_at: r.try_get("requested_at")?,
                        accepted_at: r.try_get("accepted_at")?,
                        contained_at: r.try_get("contained_at")?,
                        vetoed: flag(r, "vetoed")?,
                        overridden: flag(r, "overridden")?,
                        denied: flag(r, "denied")?,
                        expired: flag(r, "expired")?,
                        failed: flag(r, "failed")?,
                        approval_events: by_id.remove(&id).unwrap_or_default(),
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
