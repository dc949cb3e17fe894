//! Alerts and incidents: the ingest unit of work (dedup, correlation, the
//! pipeline job) and the read side used by the API and the web console.

use super::ingest_plan as plan;
use super::{Result, StoreError, json_err, ms, on_pool, row_runs};
use crate::domain::{AlertId, IncidentId, NewAlert, Severity, Timestamp, alert::AlertStatus};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use std::time::Duration;

// Column lists as macros so that `concat!` can build `&'static str` SQL
// (sqlx 0.9 only takes static SQL, or dynamic SQL explicitly asserted safe).
macro_rules! alert_cols { () => { "id, incident_id, format, sender, source_id, fingerprint, title, description, severity, \
    source_severity, detected_at, received_at, last_seen_at, occurrences, status, observables, tags, rule, raw, \
    enrichment, enrichment_partial, drill" } }
macro_rules! incident_cols {
    () => {
        "id, title, severity, status, opened_at, detected_at, last_alert_at, acknowledged_at, \
    contained_at, resolved_at, drill, team"
    };
}

/// One parsed alert with what the HTTP edge knows about it.
#[derive(Debug, Clone)]
pub struct IncomingAlert {
    pub alert: NewAlert,
    /// The JWT `sub` of the sending tool.
    pub sender: String,
    pub received_at: Timestamp,
    pub drill: bool,
}

/// Dedup and correlation windows.
#[derive(Debug, Clone, Copy)]
pub struct IngestWindows {
    pub dedup: Duration,
    pub correlation: Duration,
}

impl Default for IngestWindows {
    fn default() -> Self {
        IngestWindows {
            dedup: Duration::from_secs(3600),
            correlation: Duration::from_secs(1800),
        }
    }
}

/// What happened to one incoming alert.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IngestedAlert {
    pub alert_id: AlertId,
    pub incident_id: IncidentId,
    /// The same alert was already stored inside the dedup window: its count
    /// went up instead of a new row.
    pub duplicate: bool,
    pub new_incident: bool,
}

pub(crate) fn sev_i(s: Severity) -> i64 {
    s as i64
}

pub(crate) fn sev_from(i: i64) -> Result<Severity> {
    Severity::ALL
        .get(usize::try_from(i).unwrap_or(usize::MAX))
        .copied()
        .ok_or_else(|| StoreError::Corrupt(format!("severity {i}")))
}

/// The dedup key: the tool's own id when it has one, else the fingerprint,
/// scoped by format and sender so two tools never collide, and by drill: a
/// drill that reuses a real alert's id must not be counted as its repeat
/// (the real alert would be swallowed as a "duplicate" of a rehearsal, or
/// the drill run as a repeat of a live alert). Real alerts keep the key
/// they always had; drills start with `drill|`.
pub fn dedup_key(a: &NewAlert, sender: &str, drill: bool) -> String {
    let scope = if drill { "drill|" } else { "" };
    match &a.source_id {
        Some(id) => format!("{scope}{}|{}|id:{}", a.format, sender, id),
        None => format!("{scope}{}|{}|fp:{}", a.format, sender, a.fingerprint),
    }
}

/// The correlation keys of an alert: hosts, users and attacker IPs.
pub fn correlation_keys(a: &NewAlert) -> Vec<String> {
    let o = &a.observables;
    let mut keys: Vec<String> = Vec::new();
    keys.extend(o.hosts.iter().map(|h| format!("host:{}", h.to_lowercase())));
    keys.extend(o.users.iter().map(|u| format!("user:{}", u.to_lowercase())));
    keys.extend(o.source_ips.iter().map(|i| format!("ip:{i}")));
    keys.dedup();
    keys
}

/// The multi-row statements below are built per batch and run with
/// `persistent(false)`: their text changes with the row count, and caching
/// each variant per connection held megabytes of SQL text and prepared
/// statements for nothing.
///
/// Keys per `in (…)` lookup and rows per multi-row statement: well inside
/// SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
const LOOKUP_CHUNK: usize = 1000;
const ROWS_CHUNK: usize = 500;

/// A query builder for the backend of `pool`.
fn builder<DB: sqlx::Database>(_pool: &sqlx::Pool<DB>, sql: &str) -> sqlx::QueryBuilder<DB>
where
    DB::Arguments: Default,
{
    sqlx::QueryBuilder::new(sql)
}

/// `column IN (values)` in each dialect's cheapest form.
trait InList: sqlx::Database {
    /// Appends the condition, binding `values`.
    fn push_in(q: &mut sqlx::QueryBuilder<Self>, column: &str, values: &[String]);
    /// Whether the statement's text is the same whatever the number of
    /// values, so the prepared statement is worth caching.
    const STABLE_TEXT: bool;
    /// The whole query "the newest stored alert of each of `keys`":
    /// `id, incident_id, dedup_key, last_seen_at`.
    fn push_latest_alerts(q: &mut sqlx::QueryBuilder<Self>, keys: &[String]);
}

/// PostgreSQL: one array parameter. A list of hundreds of parameters cost
/// a parse and a plan on every batch; `= any($1)` is parsed and planned once.
impl InList for sqlx::Postgres {
    fn push_in(q: &mut sqlx::QueryBuilder<Self>, column: &str, values: &[String]) {
        q.push(column)
            .push(" = any(")
            .push_bind(values.to_vec())
            .push(")");
    }
    const STABLE_TEXT: bool = true;
    /// One backward probe of `alerts_dedup_latest` per key, whatever plan
    /// is cached: `max(id) … where dedup_key = any($1) group by` planned
    /// generically fell back to scanning the index (20 ms a batch).
    fn push_latest_alerts(q: &mut sqlx::QueryBuilder<Self>, keys: &[String]) {
        q.push(
            "select a.id, a.incident_id, a.dedup_key, a.last_seen_at from unnest(",
        )
        .push_bind(keys.to_vec())
        .push(
            "::text[]) as k(key) cross join lateral (select id, incident_id, dedup_key, last_seen_at \
             from alerts where dedup_key = k.key order by id desc limit 1) a",
        );
    }
}

/// SQLite has no arrays: `$n, $n+1, …`.
impl InList for sqlx::Sqlite {
    fn push_in(q: &mut sqlx::QueryBuilder<Self>, column: &str, values: &[String]) {
        q.push(column).push(" in (");
        let mut sep = q.separated(", ");
        for v in values {
            sep.push_bind(v.clone());
        }
        q.push(")");
    }
    const STABLE_TEXT: bool = false;
    fn push_latest_alerts(q: &mut sqlx::QueryBuilder<Self>, keys: &[String]) {
        q.push(
            "select id, incident_id, dedup_key, last_seen_at from alerts \
             where id in (select max(id) from alerts where ",
        );
        Self::push_in(q, "dedup_key", keys);
        q.push(" group by dedup_key)");
    }
}

/// Whether `q`'s backend keeps one statement text for any list length.
fn stable_text<DB: InList>(_q: &sqlx::QueryBuilder<DB>) -> bool {
    DB::STABLE_TEXT
}

fn status_str(s: AlertStatus) -> &'static str {
    match s {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    }
}

impl super::Store {
    /// Stores a batch of alerts in ONE transaction (group commit) and returns
    /// only after it committed. For each alert: a repeat inside the dedup
    /// window bumps the stored alert's count (and marks it resolved when the
    /// tool says so); otherwise the alert joins the most recent open incident
    /// that shares a host, user or source IP inside the correlation window,
    /// or opens a new one. Every new alert also gets a `pipeline` job in the
    /// same transaction, so enrichment and playbooks resume after a crash.
    ///
    /// `claim_by` marks those jobs as already claimed by this process (with a
    /// lease), so the caller can run them at once without a second round
    /// trip; if the process dies, the lease runs out and another worker
    /// takes them.
    ///
    /// The work is set-based: two lookups for the whole batch, the decisions
    /// in memory ([`plan`](super::ingest_plan::plan)), then one multi-row
    /// statement per kind of write. A statement per alert cost a round trip
    /// each (to SQLite's worker thread or PostgreSQL's socket), which capped
    /// ingest at ~1,500 alerts/s whatever the batching.
    pub async fn ingest_batch(
        &self,
        batch: &[IncomingAlert],
        windows: IngestWindows,
        claim_by: Option<(&str, Duration)>,
    ) -> Result<Vec<(IngestedAlert, Option<i64>)>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let keys = plan::batch_keys(batch);
        let (dedup_keys, corr_keys) = (&keys.dedup, &keys.corr);
        let oldest = batch
            .iter()
            .map(|i| i.received_at)
            .min()
            .unwrap_or_default();
        let corr_since =
            ms(oldest) - i64::try_from(windows.correlation.as_millis()).unwrap_or(i64::MAX / 2);
        let pg = matches!(self.write, super::Pool::Postgres(_));
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;

            // 1. The newest stored alert of every dedup key of the batch.
            let mut stored_alerts: HashMap<String, plan::StoredAlert> = HashMap::new();
            for r in row_runs(dedup_keys.len(), LOOKUP_CHUNK) {
                let chunk = &dedup_keys[r];
                let mut q = builder(p, "");
                InList::push_latest_alerts(&mut q, chunk);
                let cache = stable_text(&q);
                for r in q.build().persistent(cache).fetch_all(&mut *tx).await? {
                    stored_alerts.insert(r.try_get("dedup_key")?, plan::StoredAlert {
                        id: r.try_get("id")?,
                        incident_id: r.try_get("incident_id")?,
                        last_seen_at: r.try_get("last_seen_at")?,
                    });
                }
            }

            // 2. The open incidents of every correlation key, inside the window.
            let mut stored_keys: HashMap<String, Vec<plan::StoredKey>> = HashMap::new();
            for r in row_runs(corr_keys.len(), LOOKUP_CHUNK) {
                let chunk = &corr_keys[r];
                let mut q = builder(p,
                    "select k.key, k.incident_id, k.last_seen_ms, i.drill from incident_keys k \
                     join incidents i on i.id = k.incident_id \
                     where i.status <> 'resolved' and k.last_seen_ms >= ",
                );
                q.push_bind(corr_since);
                q.push(" and ");
                InList::push_in(&mut q, "k.key", chunk);
                let cache = stable_text(&q);
                for r in q.build().persistent(cache).fetch_all(&mut *tx).await? {
                    stored_keys.entry(r.try_get("key")?).or_default().push(plan::StoredKey {
                        incident_id: r.try_get("incident_id")?,
                        last_seen_ms: r.try_get("last_seen_ms")?,
                        drill: r.try_get("drill")?,
                    });
                }
            }

            // 3. Every alert decided in order, in memory.
            let plan = plan::plan(batch, &keys, windows, stored_alerts, stored_keys);

            // 4. New incidents, with ids taken up front so that the alerts
            //    and keys of this batch can name them.
            let mut incident_ids: Vec<i64> = Vec::with_capacity(plan.new_incidents.len());
            if !plan.new_incidents.is_empty() {
                let sql = if pg {
                    "select nextval(pg_get_serial_sequence('incidents', 'id')) as id from generate_series(1, $1)"
                } else {
                    "with recursive s(n) as (select 1 union all select n + 1 from s where n < $1) \
                     select (select coalesce(max(id), 0) from incidents) + n as id from s"
                };
                let n = i64::try_from(plan.new_incidents.len()).unwrap_or(i64::MAX);
                for r in sqlx::query(sql).bind(n).fetch_all(&mut *tx).await? {
                    incident_ids.push(r.try_get("id")?);
                }
                for r in row_runs(plan.new_incidents.len(), ROWS_CHUNK) {
                    let (chunk, ids) = (&plan.new_incidents[r.clone()], &incident_ids[r]);
                    let mut q = builder(p,
                        "insert into incidents (id, title, severity, status, opened_at, detected_at, last_alert_at, drill) ",
                    );
                    q.push_values(chunk.iter().zip(ids), |mut b, (n, id)| {
                        b.push_bind(*id)
                            .push_bind(batch[n.first].alert.title.as_str())
                            .push_bind(sev_i(n.severity))
                            .push_bind("open")
                            .push_bind(n.opened_at)
                            .push_bind(n.detected_at)
                            .push_bind(n.last_alert_at)
                            .push_bind(n.drill);
                    });
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
            }
            let incident_id = |r: plan::Ref| match r {
                plan::Ref::Stored(id) => id,
                plan::Ref::New(i) => incident_ids[i],
            };

            // 5. Stored incidents that gained alerts: severity is the maximum,
            //    detection the earliest.
            let touched: Vec<_> = plan.touched.iter().collect();
            for r in row_runs(touched.len(), ROWS_CHUNK) {
                let chunk = &touched[r];
                let mut q = builder(p,
                    "update incidents set severity = case when severity < v.column2 then v.column2 else severity end, \
                     last_alert_at = v.column3, \
                     detected_at = case when detected_at > v.column4 then v.column4 else detected_at end \
                     from (",
                );
                q.push_values(chunk, |mut b, (id, t)| {
                    b.push_bind(**id)
                        .push_bind(sev_i(t.severity))
                        .push_bind(t.last_alert_at)
                        .push_bind(t.detected_at);
                });
                q.push(") as v where incidents.id = v.column1");
                q.build().persistent(false).execute(&mut *tx).await?;
            }

            // 6. Correlation keys.
            let keys: Vec<_> = plan.keys.iter().collect();
            for r in row_runs(keys.len(), ROWS_CHUNK) {
                let chunk = &keys[r];
                let mut q = builder(p, "insert into incident_keys (key, incident_id, last_seen_ms) ");
                q.push_values(chunk, |mut b, ((k, r), seen)| {
                    b.push_bind(k.as_str()).push_bind(incident_id(*r)).push_bind(**seen);
                });
                q.push(" on conflict (key, incident_id) do update set last_seen_ms = excluded.last_seen_ms");
                q.build().persistent(false).execute(&mut *tx).await?;
            }

            // 7. New alerts.
            let mut encoded = Vec::with_capacity(plan.new_alerts.len());
            for row in &plan.new_alerts {
                let a = &batch[row.input].alert;
                encoded.push((
                    serde_json::to_string(&a.observables).map_err(json_err)?,
                    serde_json::to_string(&a.tags).map_err(json_err)?,
                    serde_json::to_string(&a.raw).map_err(json_err)?,
                ));
            }
            let mut alert_ids: HashMap<String, i64> = HashMap::with_capacity(plan.new_alerts.len());
            for r in row_runs(plan.new_alerts.len(), ROWS_CHUNK) {
                let (chunk, enc) = (&plan.new_alerts[r.clone()], &encoded[r]);
                let mut q = builder(p,
                    "insert into alerts (incident_id, format, sender, source_id, fingerprint, dedup_key, title, \
                     description, severity, source_severity, detected_at, received_at, last_seen_at, occurrences, \
                     status, observables, tags, rule, raw, drill) ",
                );
                q.push_values(chunk.iter().zip(enc), |mut b, (row, (obs, tags, raw))| {
                    let inc = &batch[row.input];
                    let a = &inc.alert;
                    b.push_bind(incident_id(row.incident))
                        .push_bind(a.format.as_str())
                        .push_bind(inc.sender.as_str())
                        .push_bind(a.source_id.as_deref())
                        .push_bind(a.fingerprint.as_str())
                        .push_bind(row.dedup_key.as_str())
                        .push_bind(a.title.as_str())
                        .push_bind(a.description.as_deref())
                        .push_bind(sev_i(a.severity))
                        .push_bind(a.source_severity.as_deref())
                        .push_bind(row.detected_at)
                        .push_bind(inc.received_at)
                        .push_bind(row.last_seen_at)
                        .push_bind(row.occurrences)
                        .push_bind(status_str(row.status))
                        .push_bind(obs.as_str())
                        .push_bind(tags.as_str())
                        .push_bind(a.rule.as_deref())
                        .push_bind(raw.as_str())
                        .push_bind(inc.drill);
                });
                q.push(" returning id, dedup_key");
                for r in q.build().persistent(false).fetch_all(&mut *tx).await? {
                    alert_ids.insert(r.try_get("dedup_key")?, r.try_get("id")?);
                }
            }
            let alert_id = |r: plan::Ref| -> Result<i64> {
                match r {
                    plan::Ref::Stored(id) => Ok(id),
                    plan::Ref::New(i) => alert_ids
                        .get(&plan.new_alerts[i].dedup_key)
                        .copied()
                        .ok_or_else(|| StoreError::Corrupt(format!("alert {} not returned", plan.new_alerts[i].dedup_key))),
                }
            };

            // 8. Repeats of stored alerts: the count goes up.
            let repeats: Vec<_> = plan.repeats.iter().collect();
            for r in row_runs(repeats.len(), ROWS_CHUNK) {
                let chunk = &repeats[r];
                let mut q = builder(p,
                    "update alerts set occurrences = occurrences + v.column2, last_seen_at = v.column3, \
                     status = v.column4 from (",
                );
                q.push_values(chunk, |mut b, (id, r)| {
                    b.push_bind(**id)
                        .push_bind(r.count)
                        .push_bind(r.last_seen_at)
                        .push_bind(status_str(r.status));
                });
                q.push(") as v where alerts.id = v.column1");
                q.build().persistent(false).execute(&mut *tx).await?;
            }

            // 9. Pipeline jobs: one per new alert, and one more when a tool
            //    resolves an alert (a resolution is news: the pipeline runs
            //    again, proposing nothing twice, and may close the incident).
            let mut jobs: Vec<(String, i64, Timestamp)> = Vec::new();
            let mut job_keys: Vec<Option<String>> = Vec::with_capacity(plan.outcomes.len());
            let mut keyed = std::collections::HashSet::new();
            for o in &plan.outcomes {
                let key = match o.job {
                    None => None,
                    Some(plan::PipelineJob::New) => Some(format!("pipeline:{}", alert_id(o.alert)?)),
                    Some(plan::PipelineJob::Resolved) => Some(format!("pipeline:{}:resolved", alert_id(o.alert)?)),
                };
                if let Some(k) = &key
                    && keyed.insert(k.clone())
                {
                    jobs.push((k.clone(), alert_id(o.alert)?, o.received_at));
                }
                job_keys.push(key);
            }
            let max_attempts = super::NewJob::new("pipeline", serde_json::Value::Null, oldest).max_attempts;
            let mut job_ids: HashMap<String, i64> = HashMap::with_capacity(jobs.len());
            for r in row_runs(jobs.len(), ROWS_CHUNK) {
                let chunk = &jobs[r];
                let mut q = builder(p,
                    "insert into jobs (queue, dedup_key, payload, status, run_at_ms, attempts, max_attempts, \
                     lease_until_ms, locked_by, created_at) ",
                );
                q.push_values(chunk, |mut b, (key, alert, now)| {
                    let (status, attempts, lease, by) = super::jobs::claim_columns(claim_by, *now);
                    b.push_bind("pipeline")
                        .push_bind(key.as_str())
                        .push_bind(format!("{{\"alert_id\":{alert}}}"))
                        .push_bind(status)
                        .push_bind(ms(*now))
                        .push_bind(attempts)
                        .push_bind(max_attempts)
                        .push_bind(lease)
                        .push_bind(by)
                        .push_bind(*now);
                });
                q.push(" on conflict (dedup_key) do nothing returning id, dedup_key");
                for r in q.build().persistent(false).fetch_all(&mut *tx).await? {
                    job_ids.insert(r.try_get("dedup_key")?, r.try_get("id")?);
                }
            }
            tx.commit().await?;

            let mut out = Vec::with_capacity(batch.len());
            for (o, key) in plan.outcomes.iter().zip(job_keys) {
                let id = alert_id(o.alert)?;
                let job = key.and_then(|k| job_ids.remove(&k));
                out.push((
                    IngestedAlert {
                        alert_id: AlertId(id),
                        incident_id: IncidentId(incident_id(o.incident)),
                        duplicate: o.duplicate,
                        new_incident: o.new_incident,
                    },
                    job,
                ));
            }
            Ok(out)
        })
    }

    pub async fn get_alert(&self, id: AlertId) -> Result<Option<AlertRow>> {
        on_pool!(&self.read, p => {
            let row = sqlx::query_as::<_, AlertRow>(concat!("select ", alert_cols!(), " from alerts where id = $1"))
                .bind(id.0)
                .fetch_optional(p)
                .await?;
            Ok(row)
        })
    }

    pub async fn alerts_of_incident(&self, id: IncidentId) -> Result<Vec<AlertRow>> {
        on_pool!(&self.read, p => {
            Ok(sqlx::query_as::<_, AlertRow>(concat!(
                "select ", alert_cols!(), " from alerts where incident_id = $1 order by id"
            ))
            .bind(id.0)
            .fetch_all(p)
            .await?)
        })
    }

    /// What a view of an incident shows of its alerts, bounded however
    /// many there are (a worm can put thousands on one incident): the first
    /// `first` alerts, every alert a decision was proposed for, and up to
    /// `first` alerts with threat-intel hits; oldest first. With the total
    /// count of the incident's alerts.
    pub async fn incident_alerts(
        &self,
        id: IncidentId,
        first: i64,
    ) -> Result<(Vec<AlertRow>, i64)> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query_as::<_, AlertRow>(concat!(
                "select ", alert_cols!(), " from alerts where incident_id = $1 and (\
                   id in (select id from alerts where incident_id = $1 order by id limit $2) \
                   or id in (select alert_id from decisions where incident_id = $1) \
                   or id in (select id from alerts where incident_id = $1 and intel_hit \
                             order by id limit $2)) \
                 order by id"
            ))
            .bind(id.0)
            .bind(first)
            .fetch_all(p)
            .await?;
            let total: i64 = sqlx::query_scalar("select count(*) from alerts where incident_id = $1")
                .bind(id.0)
                .fetch_one(p)
                .await?;
            Ok((rows, total))
        })
    }

    /// A page of an incident's alerts, oldest first, after alert `after`.
    pub async fn incident_alerts_after(
        &self,
        id: IncidentId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AlertRow>> {
        on_pool!(&self.read, p => {
            Ok(sqlx::query_as::<_, AlertRow>(concat!(
                "select ", alert_cols!(), " from alerts where incident_id = $1 and id > $2 order by id limit $3"
            ))
            .bind(id.0)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await?)
        })
    }

    /// How many alerts an incident has, and how many of them the tools have
    /// not reported resolved.
    pub async fn incident_alert_statuses(&self, id: IncidentId) -> Result<(i64, i64)> {
        on_pool!(&self.read, p => {
            let r = sqlx::query(
                "select count(*) as total, \
                 coalesce(sum(case when status <> 'resolved' then 1 else 0 end), 0) as open \
                 from alerts where incident_id = $1",
            )
            .bind(id.0)
            .fetch_one(p)
            .await?;
            Ok((r.try_get::<i64, _>("total")?, r.try_get::<i64, _>("open")?))
        })
    }

    pub async fn get_incident(&self, id: IncidentId) -> Result<Option<IncidentRow>> {
        on_pool!(&self.read, p => {
            Ok(sqlx::query_as::<_, IncidentRow>(concat!("select ", incident_cols!(), " from incidents where id = $1"))
                .bind(id.0)
                .fetch_optional(p)
                .await?)
        })
    }

    /// Incidents, newest first, filtered.
    pub async fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentRow>> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query_as::<_, IncidentRow>(concat!(
                "select ", incident_cols!(), " from incidents \
                 where ($1 is null or status = $1) and ($2 is null or opened_at >= $2) \
                 and ($3 is null or severity >= $3) and ($4 or drill = false) \
                 order by id desc limit $5"
            ))
            .bind(f.status.as_deref())
            .bind(f.since)
            .bind(f.min_severity.map(sev_i))
            .bind(f.include_drills)
            .bind(f.limit.unwrap_or(200))
            .fetch_all(p)
            .await?;
            Ok(rows)
        })
    }

    /// Stamps the first human interaction, the first confirmed containment or
    /// the resolution of an incident; an earlier stamp is never overwritten.
    pub async fn stamp_incident(
        &self,
        id: IncidentId,
        what: IncidentStamp,
        at: Timestamp,
    ) -> Result<()> {
        let sql = match what {
            IncidentStamp::Acknowledged => {
                "update incidents set acknowledged_at = $1 where id = $2 and acknowledged_at is null"
            }
            IncidentStamp::Contained => {
                "update incidents set contained_at = $1, status = case when status = 'open' then 'contained' else status end \
                 where id = $2 and contained_at is null"
            }
            IncidentStamp::Resolved => {
                "update incidents set resolved_at = $1, status = 'resolved' where id = $2 and resolved_at is null"
            }
        };
        on_pool!(&self.write, p => {
            sqlx::query(sql).bind(at).bind(id.0).execute(p).await?;
            Ok(())
        })
    }
}

/// The three stamps of an incident's life after it opened.
#[derive(Debug, Clone, Copy)]
pub enum IncidentStamp {
    Acknowledged,
    Contained,
    Resolved,
}

/// Filters of the incident list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub status: Option<String>,
    pub since: Option<Timestamp>,
    pub min_severity: Option<Severity>,
    pub include_drills: bool,
    pub limit: Option<i64>,
}

/// A stored alert.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub incident_id: i64,
    pub format: String,
    pub sender: String,
    pub source_id: Option<String>,
    pub fingerprint: String,
    pub title: String,
    pub description: Option<String>,
    pub severity: i64,
    pub source_severity: Option<String>,
    pub detected_at: Timestamp,
    pub received_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub occurrences: i64,
    pub status: String,
    pub observables: String,
    pub tags: String,
    pub rule: Option<String>,
    pub raw: String,
    pub enrichment: Option<String>,
    pub enrichment_partial: bool,
    pub drill: bool,
}

impl AlertRow {
    pub fn severity(&self) -> Result<Severity> {
        sev_from(self.severity)
    }
    /// Rebuilds the parsed alert (for the pipeline and for replays).
    pub fn to_new_alert(&self) -> Result<NewAlert> {
        Ok(NewAlert {
            format: self.format.clone(),
            source_id: self.source_id.clone(),
            fingerprint: self.fingerprint.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            severity: self.severity()?,
            source_severity: self.source_severity.clone(),
            detected_at: Some(self.detected_at),
            status: if self.status == "resolved" {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            },
            observables: serde_json::from_str(&self.observables).map_err(json_err)?,
            tags: serde_json::from_str(&self.tags).map_err(json_err)?,
            rule: self.rule.clone(),
            raw: serde_json::from_str(&self.raw).map_err(json_err)?,
        })
    }
}

/// A stored incident.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: i64,
    pub title: String,
    pub severity: i64,
    pub status: String,
    pub opened_at: Timestamp,
    pub detected_at: Timestamp,
    pub last_alert_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub contained_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub drill: bool,
    pub team: Option<String>,
}

impl IncidentRow {
    pub fn severity(&self) -> Result<Severity> {
        sev_from(self.severity)
    }
}

/// Totals over the alerts table, for the harness and the scale tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AlertCounts {
    /// Stored rows.
    pub rows: i64,
    /// Distinct dedup keys: equal to `rows` when no alert was stored twice.
    pub distinct: i64,
}

impl super::Store {
    /// Counts stored alerts and distinct dedup keys.
    pub async fn alert_counts(&self) -> Result<AlertCounts> {
        on_pool!(&self.read, p => {
            let r = sqlx::query(
                "select count(*) as n, count(distinct dedup_key) as d from alerts",
            )
            .fetch_one(p)
            .await?;
            Ok(AlertCounts {
                rows: r.try_get("n")?,
                distinct: r.try_get("d")?,
            })
        })
    }
}
