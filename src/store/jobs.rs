//! The durable job queue and timers.
//!
//! Jobs (connector calls, chat posts, the per-alert pipeline) and timers
//! (veto window end, approval timeout, containment expiry) are rows. Workers
//! claim due rows with a lease; a worker that dies mid-job simply lets its
//! lease run out and the row becomes claimable again, which is why every job
//! must be idempotent (connectors use the decision id as idempotency key).
//!
//! On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`, so several replicas
//! never claim the same row. On SQLite the single writer connection
//! serialises claims.
//!
//! Jobs that share an `ordering_key` (e.g. the chat posts of one incident in
//! one channel) run strictly one after the other, in id order.

use super::{Pool, Result, json_err, ms, on_pool};
use crate::domain::{DecisionId, Timestamp};
use serde::Serialize;
use sqlx::Row;
use std::time::Duration;

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub queue: String,
    /// Enqueueing the same dedup key twice is a no-op (the first row wins).
    pub dedup_key: Option<String>,
    pub payload: serde_json::Value,
    pub run_at: Timestamp,
    pub ordering_key: Option<String>,
    pub max_attempts: i64,
    /// Skip the insert when an identical job (same queue, ordering key and
    /// payload) is still queued: that one will see this change when it runs.
    /// For chat syncs, which render the incident's state as it is when they run.
    pub coalesce: bool,
}

impl NewJob {
    pub fn new(queue: &str, payload: serde_json::Value, run_at: Timestamp) -> NewJob {
        NewJob {
            queue: queue.to_owned(),
            dedup_key: None,
            payload,
            run_at,
            ordering_key: None,
            max_attempts: 8,
            coalesce: false,
        }
    }
    pub fn coalesce(mut self) -> NewJob {
        self.coalesce = true;
        self
    }
    pub fn dedup(mut self, key: impl Into<String>) -> NewJob {
        self.dedup_key = Some(key.into());
        self
    }
    pub fn ordered_by(mut self, key: impl Into<String>) -> NewJob {
        self.ordering_key = Some(key.into());
        self
    }
    pub fn max_attempts(mut self, n: i64) -> NewJob {
        self.max_attempts = n;
        self
    }
}

/// Inserts a job inside an open transaction `$tx`; evaluates to
/// `Option<i64>`: the new id, or `None` when the dedup key already existed.
/// With `$claim = Some((worker, lease))` the row is born claimed by that
/// worker, so the caller can run it at once, except when an unfinished job
/// of the same ordering key is ahead of it: then it is queued behind that
/// one (the job loop runs it when its turn comes) and this evaluates to
/// `None` too, so the caller does not run it. This is what keeps an
/// inverse action from overtaking its forward action in flight.
macro_rules! insert_job {
    ($tx:ident, $job:expr, $claim:expr, $now:expr) => {{
        let job: &$crate::store::NewJob = $job;
        let mut claim: Option<(&str, std::time::Duration)> = $claim;
        let mut behind = false;
        if let (Some(_), Some(key)) = (claim, &job.ordering_key) {
            let ahead: Option<i64> = sqlx::query_scalar(
                "select id from jobs where ordering_key = $1 and status in ('queued', 'running') limit 1",
            )
            .bind(key)
            .fetch_optional(&mut *$tx)
            .await?;
            if ahead.is_some() {
                claim = None;
                behind = true;
            }
        }
        let (status, attempts, lease, by) = $crate::store::jobs::claim_columns(claim, $now);
        let sql = if job.coalesce && claim.is_none() {
            // `$10 = ordering_key` is null-safe enough: coalescing jobs carry one.
            "insert into jobs (queue, dedup_key, payload, status, run_at_ms, attempts, max_attempts, \
             lease_until_ms, locked_by, ordering_key, created_at) \
             select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 where not exists \
             (select 1 from jobs where ordering_key = $10 and status = 'queued' and queue = $1 and payload = $3) \
             on conflict (dedup_key) do nothing returning id"
        } else {
            "insert into jobs (queue, dedup_key, payload, status, run_at_ms, attempts, max_attempts, \
             lease_until_ms, locked_by, ordering_key, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             on conflict (dedup_key) do nothing returning id"
        };
        let row = sqlx::query(sql)
        .bind(&job.queue)
        .bind(&job.dedup_key)
        .bind(job.payload.to_string())
        .bind(status)
        .bind($crate::store::ms(job.run_at))
        .bind(attempts)
        .bind(job.max_attempts)
        .bind(lease)
        .bind(by)
        .bind(&job.ordering_key)
        .bind($now)
        .fetch_optional(&mut *$tx)
        .await?;
        match row {
            Some(_) if behind => None,
            Some(r) => Some(sqlx::Row::try_get::<i64, _>(&r, "id")?),
            None => None,
        }
    }};
}
pub(crate) use insert_job;

/// Status, attempts, lease end and owner of a new job: queued, or born
/// claimed by `claim` (worker, lease) at `now` so its creator runs it at once.
pub(crate) fn claim_columns(
    claim: Option<(&str, Duration)>,
    now: Timestamp,
) -> (&'static str, i64, Option<i64>, Option<&str>) {
    match claim {
        Some((w, lease)) => (
            "running",
            1,
            Some(ms(now) + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)),
            Some(w),
        ),
        None => ("queued", 0, None, None),
    }
}

/// Inserts a timer inside an open transaction.
macro_rules! insert_timer {
    ($tx:ident, $t:expr, $now:expr) => {{
        let t: &$crate::store::NewTimer = $t;
        sqlx::query(
            "insert into timers (decision_id, kind, due_ms, status, created_at) values ($1, $2, $3, 'pending', $4) \
             on conflict (decision_id, kind, due_ms) do nothing",
        )
        .bind(t.decision_id.0)
        .bind(&t.kind)
        .bind($crate::store::ms(t.due))
        .bind($now)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use insert_timer;

/// The end of one job, for [`Store::finish_jobs`](super::Store::finish_jobs).
#[derive(Debug, Clone, Default)]
pub struct JobDone {
    pub job: i64,
    pub enrichment: Option<EnrichmentResult>,
    /// Jobs to enqueue with the completion (queued, not claimed).
    pub enqueue: Vec<NewJob>,
}

/// An alert's enrichment, as JSON.
#[derive(Debug, Clone)]
pub struct EnrichmentResult {
    pub alert: crate::domain::AlertId,
    pub json: String,
    pub partial: bool,
    /// The enrichment found threat-intel hits.
    pub intel_hit: bool,
}

/// A claimed job.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub queue: String,
    pub dedup_key: Option<String>,
    pub payload: serde_json::Value,
    /// Attempts so far, including the current one.
    pub attempts: i64,
    pub max_attempts: i64,
    pub ordering_key: Option<String>,
}

/// A timer to schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimer {
    pub decision_id: DecisionId,
    pub kind: String,
    pub due: Timestamp,
}

/// A claimed, due timer.
#[derive(Debug, Clone)]
pub struct DueTimer {
    pub id: i64,
    pub decision_id: DecisionId,
    pub kind: String,
    pub due_ms: i64,
}

/// A job row as shown to operators.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub queue: String,
    pub dedup_key: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub run_at_ms: i64,
}

/// The claim of due jobs: queued and due, or running on a lapsed lease, and
/// not behind an unfinished job of the same ordering key. `$1` is now,
/// `$2` the new lease end, `$3` the worker, `$4` the limit, and `$5…` the
/// queues; the PostgreSQL form skips rows another worker is claiming.
fn claim_sql(queues: usize, skip_locked: bool) -> String {
    let list = (0..queues)
        .map(|i| format!("${}", i + 5))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "update jobs set status = 'running', attempts = attempts + 1, lease_until_ms = $2, locked_by = $3 \
         where id in (select j.id from jobs j where j.queue in ({list}) \
         and ((j.status = 'queued' and j.run_at_ms <= $1) or (j.status = 'running' and j.lease_until_ms < $1)) \
         and (j.ordering_key is null or not exists (select 1 from jobs e where e.ordering_key = j.ordering_key \
         and e.id < j.id and e.status in ('queued', 'running'))) \
         order by j.id limit $4{}) \
         returning id, queue, dedup_key, payload, attempts, max_attempts, ordering_key",
        if skip_locked {
            " for update skip locked"
        } else {
            ""
        }
    )
}

impl super::Store {
    /// Enqueues one job on its own (outside a decision transition).
    pub async fn enqueue(&self, job: &NewJob, now: Timestamp) -> Result<Option<i64>> {
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            let id = insert_job!(tx, job, None, now);
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Claims up to `limit` due jobs of `queue` for `worker` for `lease`.
    pub async fn claim_jobs(
        &self,
        queue: &str,
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<Job>> {
        self.claim_jobs_of(&[queue], worker, now, lease, limit)
            .await
    }

    /// Claims up to `limit` due jobs of any of `queues` for `worker` for
    /// `lease`, oldest first: one statement for the queues that share a
    /// pool of worker slots.
    pub async fn claim_jobs_of(
        &self,
        queues: &[&str],
        worker: &str,
        now: Timestamp,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let lease_until = ms(now) + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let sql = claim_sql(queues.len(), matches!(self.write, Pool::Postgres(_)));
        let mut rows = on_pool!(&self.write, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ms(now))
                .bind(lease_until)
                .bind(worker)
                .bind(limit);
            for queue in queues {
                q = q.bind(*queue);
            }
            q.fetch_all(p)
                .await?
                .into_iter()
                .map(|r| job_from_row(&r))
                .collect::<Result<Vec<_>>>()?
        });
        rows.sort_by_key(|j| j.id);
        Ok(rows)
    }

    /// The earliest time after `now` at which a queued job becomes due (a
    /// retry's backoff, a delayed job), in epoch milliseconds, for the worker
    /// to sleep until. Jobs already due are not counted: the worker claimed
    /// them or is waiting for a slot. Lapsed leases are not looked for here:
    /// the worker's claim finds them on its periodic look (every few
    /// seconds), which is soon enough for a lease of a minute, and looking
    /// for the next lease end walked the entries of every job that finished
    /// within the last lease period. One index probe.
    pub async fn next_job_due(&self, now: Timestamp) -> Result<Option<i64>> {
        on_pool!(&self.read, p => {
            let r = sqlx::query(
                "select min(run_at_ms) as queued from jobs where status = 'queued' and run_at_ms > $1",
            )
            .bind(ms(now))
            .fetch_one(p)
            .await?;
            Ok(r.try_get::<Option<i64>, _>("queued")?)
        })
    }

    /// Marks a job done. Only the worker holding the lease may do so; returns
    /// false when the lease was lost (another worker took the job over).
    pub async fn complete_job(&self, id: i64, worker: &str, now: Timestamp) -> Result<bool> {
        on_pool!(&self.write, p => {
            let r = sqlx::query(
                "update jobs set status = 'done', finished_at = $1, lease_until_ms = null \
                 where id = $2 and locked_by = $3 and status = 'running'",
            )
            .bind(now)
            .bind(id)
            .bind(worker)
            .execute(p)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// Renews the lease of a job `worker` is still running as attempt
    /// `attempt`, to `until`. Returns false when the lease was lost: the job
    /// ended, or it was claimed again after the lease lapsed (by another
    /// worker, or by this one's job loop: the attempt count tells).
    pub async fn renew_job_lease(
        &self,
        id: i64,
        worker: &str,
        attempt: i64,
        until: Timestamp,
    ) -> Result<bool> {
        on_pool!(&self.write, p => {
            let r = sqlx::query(
                "update jobs set lease_until_ms = $1 \
                 where id = $2 and locked_by = $3 and attempts = $4 and status = 'running'",
            )
            .bind(ms(until))
            .bind(id)
            .bind(worker)
            .bind(attempt)
            .execute(p)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// Records the end of several jobs in ONE transaction (group commit):
    /// each job's enrichment result, the jobs it leaves behind (chat syncs)
    /// and its completion. Only jobs `worker` still holds are marked done;
    /// returns their ids.
    pub async fn finish_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        done: &[JobDone],
    ) -> Result<Vec<i64>> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            let enriched: Vec<_> = done.iter().filter_map(|d| d.enrichment.as_ref()).collect();
            for r in super::row_runs(enriched.len(), 500) {
                let chunk = &enriched[r];
                let mut q = sqlx::QueryBuilder::new(
                    "update alerts set enrichment = v.column2, enrichment_partial = v.column3, \
                     intel_hit = v.column4 from (",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.alert.0)
                        .push_bind(e.json.as_str())
                        .push_bind(e.partial)
                        .push_bind(e.intel_hit);
                });
                q.push(") as v where alerts.id = v.column1");
                q.build().persistent(false).execute(&mut *tx).await?;
            }
            // Coalescing jobs (chat syncs): one of each per batch, all in one
            // statement that skips those an identical queued job covers.
            let mut seen = std::collections::HashSet::new();
            let mut coalescing: Vec<(&NewJob, String)> = Vec::new();
            for job in done.iter().flat_map(|d| &d.enqueue) {
                if !job.coalesce {
                    insert_job!(tx, job, None, now);
                    continue;
                }
                let payload = job.payload.to_string();
                if seen.insert((job.queue.as_str(), job.ordering_key.as_deref(), payload.clone())) {
                    coalescing.push((job, payload));
                }
            }
            for r in super::row_runs(coalescing.len(), 500) {
                let mut q = sqlx::QueryBuilder::new(
                    "insert into jobs (queue, dedup_key, payload, status, run_at_ms, attempts, max_attempts, \
                     ordering_key, created_at) select v.* from (",
                );
                q.push_values(&coalescing[r], |mut b, (job, payload)| {
                    b.push_bind(job.queue.as_str())
                        .push_bind(job.dedup_key.as_deref())
                        .push_bind(payload.as_str())
                        .push_bind("queued")
                        .push_bind(ms(job.run_at))
                        .push_bind(0_i64)
                        .push_bind(job.max_attempts)
                        .push_bind(job.ordering_key.as_deref())
                        .push_bind(now);
                });
                q.push(
                    ") as v where not exists (select 1 from jobs j where j.ordering_key = v.column8 \
                     and j.status = 'queued' and j.queue = v.column1 and j.payload = v.column3) \
                     on conflict (dedup_key) do nothing",
                );
                q.build().persistent(false).execute(&mut *tx).await?;
            }
            let mut finished = Vec::with_capacity(done.len());
            for r in super::row_runs(done.len(), 1000) {
                let chunk = &done[r];
                let mut q = sqlx::QueryBuilder::new(
                    "update jobs set status = 'done', lease_until_ms = null, finished_at = ",
                );
                q.push_bind(now);
                q.push(" where status = 'running' and locked_by = ");
                q.push_bind(worker);
                q.push(" and id in (");
                let mut sep = q.separated(", ");
                for d in chunk {
                    sep.push_bind(d.job);
                }
                q.push(") returning id");
                for r in q.build().persistent(false).fetch_all(&mut *tx).await? {
                    finished.push(r.try_get::<i64, _>("id")?);
                }
            }
            tx.commit().await?;
            Ok(finished)
        })
    }

    /// Deletes up to `limit` jobs that finished (done) before `before`,
    /// oldest first; returns how many. Failed jobs stay for operators, and
    /// so do the weekly digests (chat jobs with a dedup key): a restart
    /// re-enqueues the last digest and relies on its key to skip it. The
    /// decisions, events and audit log keep the history; a done job row only
    /// served to run it once.
    pub async fn prune_done_jobs(&self, before: Timestamp, limit: i64) -> Result<u64> {
        macro_rules! doomed {
            () => {
                "select id from jobs where status = 'done' and finished_at < $1 \
                 and not (queue = 'chat' and dedup_key is not null) order by id limit $2"
            };
        }
        let r = match &self.write {
            // `id = any(array(…))` probes the primary key; `id in (…)` was
            // planned as a hash join over the whole table.
            Pool::Postgres(p) => sqlx::query(concat!(
                "delete from jobs where id = any(array(",
                doomed!(),
                "))"
            ))
            .bind(before)
            .bind(limit)
            .execute(p)
            .await?
            .rows_affected(),
            Pool::Sqlite(p) => {
                sqlx::query(concat!("delete from jobs where id in (", doomed!(), ")"))
                    .bind(before)
                    .bind(limit)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
        };
        Ok(r)
    }

    /// Puts a job back in the queue to run again at `run_at` (retryable
    /// failure), or marks it `failed` when it has no attempts left.
    /// Returns true when it was marked failed.
    pub async fn retry_or_fail_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        run_at: Timestamp,
        permanent: bool,
        now: Timestamp,
    ) -> Result<bool> {
        on_pool!(&self.write, p => {
            let r = sqlx::query(
                "update jobs set \
                   status = case when $1 or attempts >= max_attempts then 'failed' else 'queued' end, \
                   run_at_ms = $2, last_error = $3, lease_until_ms = null, \
                   finished_at = case when $1 or attempts >= max_attempts then $4 else null end \
                 where id = $5 and locked_by = $6 and status = 'running' returning status",
            )
            .bind(permanent)
            .bind(ms(run_at))
            .bind(error)
            .bind(now)
            .bind(id)
            .bind(worker)
            .fetch_optional(p)
            .await?;
            Ok(match r {
                Some(r) => r.try_get::<String, _>("status")? == "failed",
                None => false,
            })
        })
    }

    /// Jobs, newest first (tests and operators reading the store).
    pub async fn list_jobs(&self, status: Option<&str>, limit: i64) -> Result<Vec<JobRow>> {
        on_pool!(&self.read, p => {
            Ok(sqlx::query_as::<_, JobRow>(
                "select id, queue, dedup_key, status, attempts, last_error, run_at_ms from jobs \
                 where ($1 is null or status = $1) order by id desc limit $2",
            )
            .bind(status)
            .bind(limit)
            .fetch_all(p)
            .await?)
        })
    }

    /// Queue depths by queue and status, for `/metrics`.
    pub async fn queue_depths(&self) -> Result<Vec<(String, String, i64)>> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query(
                // One arm per status, so that each is counted through its
                // own partial index on PostgreSQL instead of a table scan.
                "select queue, status, count(*) as n from jobs where status = 'queued' group by queue, status \
                 union all select queue, status, count(*) as n from jobs where status = 'running' group by queue, status \
                 union all select queue, status, count(*) as n from jobs where status = 'failed' group by queue, status",
            )
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("queue")?, r.try_get("status")?, r.try_get("n")?)))
                .collect()
        })
    }

    /// Claims due timers (lease as for jobs).
    pub async fn claim_timers(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<DueTimer>> {
        let lease_until = ms(now) + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        macro_rules! claim_sql {
            ($lock:literal) => {
                concat!(
                    "update timers set lease_until_ms = $2 where id in (select id from timers \
                     where status = 'pending' and due_ms <= $1 and (lease_until_ms is null or lease_until_ms < $1) \
                     order by due_ms limit $3",
                    $lock,
                    ") returning id, decision_id, kind, due_ms"
                )
            };
        }
        let rows = match &self.write {
            Pool::Postgres(p) => sqlx::query(claim_sql!(" for update skip locked"))
                .bind(ms(now))
                .bind(lease_until)
                .bind(limit)
                .fetch_all(p)
                .await?
                .iter()
                .map(timer_from_row)
                .collect::<Result<Vec<_>>>()?,
            Pool::Sqlite(p) => sqlx::query(claim_sql!(""))
                .bind(ms(now))
                .bind(lease_until)
                .bind(limit)
                .fetch_all(p)
                .await?
                .iter()
                .map(timer_from_row)
                .collect::<Result<Vec<_>>>()?,
        };
        Ok(rows)
    }

    /// Marks a claimed timer as fired.
    pub async fn timer_fired(&self, id: i64) -> Result<()> {
        on_pool!(&self.write, p => {
            sqlx::query("update timers set status = 'fired', lease_until_ms = null where id = $1")
                .bind(id)
                .execute(p)
                .await?;
            Ok(())
        })
    }

    /// When the next pending timer is due.
    pub async fn next_timer_due(&self) -> Result<Option<i64>> {
        on_pool!(&self.read, p => {
            let r = sqlx::query("select min(due_ms) as due from timers where status = 'pending'")
                .fetch_one(p)
                .await?;
            Ok(r.try_get::<Option<i64>, _>("due")?)
        })
    }

    /// Number of pending timers, for `/metrics`.
    pub async fn pending_timers(&self) -> Result<i64> {
        on_pool!(&self.read, p => {
            let r = sqlx::query("select count(*) as n from timers where status = 'pending'")
                .fetch_one(p)
                .await?;
            Ok(r.try_get::<i64, _>("n")?)
        })
    }
}

fn job_from_row<R: Row>(r: &R) -> Result<Job>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    String: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let payload: String = r.try_get("payload")?;
    Ok(Job {
        id: r.try_get("id")?,
        queue: r.try_get("queue")?,
        dedup_key: r.try_get("dedup_key")?,
        payload: serde_json::from_str(&payload).map_err(json_err)?,
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        ordering_key: r.try_get("ordering_key")?,
    })
}

fn timer_from_row<R: Row>(r: &R) -> Result<DueTimer>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    String: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(DueTimer {
        id: r.try_get("id")?,
        decision_id: DecisionId(r.try_get("decision_id")?),
        kind: r.try_get("kind")?,
        due_ms: r.try_get("due_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::claim_sql;

    /// The claim runs on SQLite's one writer connection, often: a table scan
    /// there (as partial indexes once caused) holds up every ingest commit.
    #[tokio::test]
    async fn the_sqlite_claim_probes_indexes_instead_of_scanning_jobs() {
        let (_dir, store, pool) = crate::store::sqlite_for_plans().await;
        let p = &pool;
        let plan = format!("explain query plan {}", claim_sql(3, false));
        let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(plan))
            .bind(0_i64)
            .bind(0_i64)
            .bind("w")
            .bind(1_i64);
        for queue in ["pipeline", "execute", "confirm"] {
            q = q.bind(queue);
        }
        let steps: Vec<String> = q
            .fetch_all(p)
            .await
            .expect("plan")
            .into_iter()
            .map(|r| r.3)
            .collect();
        assert!(
            !steps.iter().any(|s| s.starts_with("SCAN")),
            "the claim scans a table: {steps:#?}"
        );
        assert!(
            steps.iter().any(|s| s.contains("jobs_due"))
                && steps.iter().any(|s| s.contains("jobs_lease")),
            "{steps:#?}"
        );
        store.close().await;
    }
}
