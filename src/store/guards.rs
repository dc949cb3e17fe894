//! What the matrix's guards and the subject rule need from history: how
//! many decisions of an action ran automatically lately (checked inside the
//! transaction that creates the next one, see [`RateCheck`]), when a person
//! last stopped an action on a target, and who the users of an incident are.

use super::{Result, on_pool};
use crate::domain::{IncidentId, Timestamp};

/// The rate guard's count, made inside the transaction that creates a
/// decision on an automatic path: if `max` decisions of `action` took an
/// automatic path since `since`, the decision is not created and the store
/// answers [`super::StoreError::RateGuard`], so the engine judges it again
/// with the breaker open. Two pipelines (or two replicas) racing for the
/// last slot are serialised: SQLite has one writer, PostgreSQL takes a
/// transaction-scoped advisory lock per action.
#[derive(Debug, Clone)]
pub struct RateCheck {
    pub action: String,
    pub since: Timestamp,
    pub max: u32,
    /// Drills count apart from real decisions.
    pub drill: bool,
}

/// The advisory lock key of an action's rate guard (stable across
/// processes: FNV-1a of the action name).
pub(crate) fn rate_lock_key(action: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"cordon-rate:".iter().chain(action.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// Counts, inside an open transaction, the decisions of `$check.action`
/// that took an automatic path since `$check.since`. Evaluates to
/// `Result<(), StoreError>`: `Err(RateGuard)` when the guard is full.
macro_rules! check_rate {
    ($tx:ident, $backend:expr, $check:expr) => {{
        let c: &$crate::store::RateCheck = $check;
        if $backend == $crate::store::Backend::Postgres {
            sqlx::query("select pg_advisory_xact_lock($1)")
                .bind($crate::store::guards::rate_lock_key(&c.action))
                .execute(&mut *$tx)
                .await?;
        }
        // Counting stops at `max`: the answer is only "full or not". A
        // reset of the breaker starts the count again.
        let reset = sqlx::query_scalar::<_, Option<$crate::domain::Timestamp>>(
            "select max(at) from guard_resets where action = $1",
        )
        .bind(&c.action)
        .fetch_one(&mut *$tx)
        .await?
        .filter(|r| *r >= c.since);
        // Decisions made at the very instant of a reset are before it.
        let (since, cmp) = match reset {
            Some(r) => (r, ">"),
            None => (c.since, ">="),
        };
        let sql = format!(
            "select count(*) from (select 1 from decisions where action = $1 and created_at {cmp} $2 \
             and automatic = $5 and drill = $3 limit $4) x"
        );
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(&c.action)
        .bind(since)
        .bind(c.drill)
        .bind(i64::from(c.max))
        .bind(true)
        .fetch_one(&mut *$tx)
        .await?;
        if n >= i64::from(c.max) {
            Err($crate::store::StoreError::RateGuard {
                action: c.action.clone(),
                count: n,
            })
        } else {
            Ok(())
        }
    }};
}
pub(crate) use check_rate;

impl super::Store {
    /// Closes the rate guard's breaker of `action`: automatic decisions
    /// before `at` no longer count.
    pub async fn reset_rate_guard(&self, action: &str, at: Timestamp, person: &str) -> Result<()> {
        on_pool!(&self.write, p => {
            sqlx::query("insert into guard_resets (action, at, person) values ($1, $2, $3)")
                .bind(action)
                .bind(at)
                .bind(person)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The last time since `since` that a person vetoed, denied or released
    /// (asked the rollback of) `action` on `target`, and which it was.
    /// Rollbacks cordon asked itself (a `max_duration` running out) do not
    /// count: nobody said no.
    pub async fn last_stop(
        &self,
        action: &str,
        target: &str,
        since: Timestamp,
        drill: bool,
    ) -> Result<Option<(Timestamp, String)>> {
        on_pool!(&self.read, p => {
            let row = sqlx::query_as::<_, (Timestamp, String)>(
                "select e.at, e.kind from decision_events e join decisions d on d.id = e.decision_id \
                 where d.target_value = $1 and d.action = $2 and d.drill = $3 and e.at >= $4 \
                 and (e.kind in ('vetoed', 'denied') or (e.kind = 'rollback_requested' and e.actor_person is not null)) \
                 order by e.at desc limit 1",
            )
            .bind(target)
            .bind(action)
            .bind(drill)
            .bind(since)
            .fetch_optional(p)
            .await?;
            Ok(row.map(|(at, kind)| {
                let what = match kind.as_str() {
                    "rollback_requested" => "released",
                    other => other,
                };
                (at, what.to_owned())
            }))
        })
    }

    /// Every stop of `action` by a person since `since`: (target, when,
    /// which), newest first. For actions on addresses, where a stop of
    /// `203.0.113.0/24` also stands for `203.0.113.9`.
    pub async fn recent_stops(
        &self,
        action: &str,
        since: Timestamp,
        drill: bool,
    ) -> Result<Vec<(String, Timestamp, String)>> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query_as::<_, (String, Timestamp, String)>(
                "select d.target_value, e.at, e.kind from decision_events e join decisions d on d.id = e.decision_id \
                 where d.action = $1 and d.drill = $2 and e.at >= $3 \
                 and (e.kind in ('vetoed', 'denied') or (e.kind = 'rollback_requested' and e.actor_person is not null)) \
                 order by e.at desc limit 1000",
            )
            .bind(action)
            .bind(drill)
            .bind(since)
            .fetch_all(p)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(t, at, kind)| {
                    let what = if kind == "rollback_requested" { "released".to_owned() } else { kind };
                    (t, at, what)
                })
                .collect())
        })
    }

    /// The user names of every alert of an incident, as the tools wrote
    /// them: the people an incident is about (DESIGN §3a, subjects).
    pub async fn incident_users(&self, incident: IncidentId) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(&self.read, p => {
            sqlx::query_as("select distinct observables from alerts where incident_id = $1")
                .bind(incident.0)
                .fetch_all(p)
                .await?
        });
        let mut users: Vec<String> = Vec::new();
        for (json,) in rows {
            let o: crate::domain::Observables =
                serde_json::from_str(&json).map_err(super::json_err)?;
            for u in o.users {
                if !users.contains(&u) {
                    users.push(u);
                }
            }
        }
        Ok(users)
    }
}
