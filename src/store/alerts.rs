//! Alerts and incidents: the ingest unit of work (dedup, correlation, the
//! pipeline job) and the read side used by the API and the web console.

use super::{Result, StoreError, json_err, ms, on_pool};
use crate::domain::{AlertId, IncidentId, NewAlert, Severity, Timestamp, alert::AlertStatus};
use serde::Serialize;
use sqlx::Row;
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
/// scoped by format and sender so two tools never collide.
pub fn dedup_key(a: &NewAlert, sender: &str) -> String {
    match &a.source_id {
        Some(id) => format!("{}|{}|id:{}", a.format, sender, id),
        None => format!("{}|{}|fp:{}", a.format, sender, a.fingerprint),
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
    pub async fn ingest_batch(
        &self,
        batch: &[IncomingAlert],
        windows: IngestWindows,
        claim_by: Option<(&str, Duration)>,
    ) -> Result<Vec<(IngestedAlert, Option<i64>)>> {
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            let mut out = Vec::with_capacity(batch.len());
            for inc in batch {
                let a = &inc.alert;
                let now = inc.received_at;
                let key = dedup_key(a, &inc.sender);
                let since = now - chrono::Duration::from_std(windows.dedup).unwrap_or_default();
                let existing = sqlx::query(
                    "select id, incident_id from alerts where dedup_key = $1 and last_seen_at >= $2 \
                     order by id desc limit 1",
                )
                .bind(&key)
                .bind(since)
                .fetch_optional(&mut *tx)
                .await?;
                let existing = match existing {
                    Some(r) => Some(r),
                    // A "resolved" may arrive long after the firing alert.
                    None if a.status == AlertStatus::Resolved => sqlx::query(
                        "select id, incident_id from alerts where dedup_key = $1 order by id desc limit 1",
                    )
                    .bind(&key)
                    .fetch_optional(&mut *tx)
                    .await?,
                    None => None,
                };
                if let Some(r) = existing {
                    let alert_id: i64 = r.try_get("id")?;
                    let incident_id: i64 = r.try_get("incident_id")?;
                    let status = match a.status {
                        AlertStatus::Firing => "firing",
                        AlertStatus::Resolved => "resolved",
                    };
                    sqlx::query(
                        "update alerts set occurrences = occurrences + 1, last_seen_at = $1, status = $2 \
                         where id = $3",
                    )
                    .bind(now)
                    .bind(status)
                    .bind(alert_id)
                    .execute(&mut *tx)
                    .await?;
                    // A resolution is news: the pipeline runs again for the
                    // alert (proposing nothing twice) and may close the incident.
                    let job_id = if a.status == AlertStatus::Resolved {
                        let job = super::NewJob::new("pipeline", serde_json::json!({ "alert_id": alert_id }), now)
                            .dedup(format!("pipeline:{alert_id}:resolved"));
                        super::jobs::insert_job!(tx, &job, claim_by, now)
                    } else {
                        None
                    };
                    out.push((
                        IngestedAlert {
                            alert_id: AlertId(alert_id),
                            incident_id: IncidentId(incident_id),
                            duplicate: true,
                            new_incident: false,
                        },
                        job_id,
                    ));
                    continue;
                }

                let detected = a.detected_at.unwrap_or(now);
                let keys = correlation_keys(a);
                let corr_since = ms(now) - i64::try_from(windows.correlation.as_millis()).unwrap_or(i64::MAX);
                let mut incident: Option<i64> = None;
                for k in &keys {
                    let row = sqlx::query(
                        "select k.incident_id from incident_keys k join incidents i on i.id = k.incident_id \
                         where k.key = $1 and k.last_seen_ms >= $2 and i.status <> 'resolved' and i.drill = $3 \
                         order by k.last_seen_ms desc limit 1",
                    )
                    .bind(k)
                    .bind(corr_since)
                    .bind(inc.drill)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(r) = row {
                        incident = Some(r.try_get("incident_id")?);
                        break;
                    }
                }
                let new_incident = incident.is_none();
                let incident_id = match incident {
                    Some(id) => {
                        sqlx::query(
                            "update incidents set severity = case when severity < $1 then $1 else severity end, \
                             last_alert_at = $2, detected_at = case when detected_at > $3 then $3 else detected_at end \
                             where id = $4",
                        )
                        .bind(sev_i(a.severity))
                        .bind(now)
                        .bind(detected)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        id
                    }
                    None => sqlx::query(
                        "insert into incidents (title, severity, status, opened_at, detected_at, last_alert_at, drill) \
                         values ($1, $2, 'open', $3, $4, $3, $5) returning id",
                    )
                    .bind(&a.title)
                    .bind(sev_i(a.severity))
                    .bind(now)
                    .bind(detected)
                    .bind(inc.drill)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("id")?,
                };
                for k in &keys {
                    sqlx::query(
                        "insert into incident_keys (key, incident_id, last_seen_ms) values ($1, $2, $3) \
                         on conflict (key, incident_id) do update set last_seen_ms = excluded.last_seen_ms",
                    )
                    .bind(k)
                    .bind(incident_id)
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await?;
                }
                let status = match a.status {
                    AlertStatus::Firing => "firing",
                    AlertStatus::Resolved => "resolved",
                };
                let alert_id: i64 = sqlx::query(
                    "insert into alerts (incident_id, format, sender, source_id, fingerprint, dedup_key, title, \
                     description, severity, source_severity, detected_at, received_at, last_seen_at, status, \
                     observables, tags, rule, raw, drill) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16, $17, $18) \
                     returning id",
                )
                .bind(incident_id)
                .bind(&a.format)
                .bind(&inc.sender)
                .bind(&a.source_id)
                .bind(&a.fingerprint)
                .bind(&key)
                .bind(&a.title)
                .bind(&a.description)
                .bind(sev_i(a.severity))
                .bind(&a.source_severity)
                .bind(detected)
                .bind(now)
                .bind(status)
                .bind(serde_json::to_string(&a.observables).map_err(json_err)?)
                .bind(serde_json::to_string(&a.tags).map_err(json_err)?)
                .bind(&a.rule)
                .bind(serde_json::to_string(&a.raw).map_err(json_err)?)
                .bind(inc.drill)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
                let job = super::NewJob::new(
                    "pipeline",
                    serde_json::json!({ "alert_id": alert_id }),
                    now,
                )
                .dedup(format!("pipeline:{alert_id}"));
                let job_id = super::jobs::insert_job!(tx, &job, claim_by, now);
                out.push((
                    IngestedAlert {
                        alert_id: AlertId(alert_id),
                        incident_id: IncidentId(incident_id),
                        duplicate: false,
                        new_incident,
                    },
                    job_id,
                ));
            }
            tx.commit().await?;
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

    /// Records the enrichment result on the alert.
    pub async fn set_enrichment(
        &self,
        id: AlertId,
        enrichment: &serde_json::Value,
        partial: bool,
    ) -> Result<()> {
        on_pool!(&self.write, p => {
            sqlx::query("update alerts set enrichment = $1, enrichment_partial = $2 where id = $3")
                .bind(enrichment.to_string())
                .bind(partial)
                .bind(id.0)
                .execute(p)
                .await?;
            Ok(())
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
