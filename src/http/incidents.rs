//! The read API: `GET /v1/incidents`, `GET /v1/incidents/{id}` and
//! `GET /v1/incidents/{id}/alerts` (JWT with the `read` scope).

use super::AppState;
use super::auth::bearer;
use super::error::ApiError;
use crate::domain::decision::Decision;
use crate::domain::{DecisionId, IncidentId, Severity};
use crate::store::IncidentFilter;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::routing::get;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/incidents", get(list))
        .route("/v1/incidents/{id}", get(show))
        .route("/v1/incidents/{id}/alerts", get(alerts))
}

fn reader(s: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = bearer(headers.get(header::AUTHORIZATION)).ok_or_else(ApiError::unauthorized)?;
    let c = s.verifier.verify(token, s.engine.now())?;
    if !c.has_scope("read") {
        return Err(ApiError::forbidden(
            "this token may not read incidents (scope read missing)",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    /// RFC 3339 time or a duration back from now (`24h`, `7d`).
    since: Option<String>,
    severity: Option<String>,
    limit: Option<i64>,
    drills: Option<bool>,
}

async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    reader(&s, &headers)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    if let Some(st) = &q.status
        && !["open", "contained", "resolved"].contains(&st.as_str())
    {
        return Err(
            ApiError::bad_request("status", format!("`{st}` is not a status"))
                .hint("use open, contained or resolved"),
        );
    }
    let since = match &q.since {
        None => None,
        Some(v) => Some(match chrono::DateTime::parse_from_rfc3339(v) {
            Ok(t) => t.with_timezone(&chrono::Utc),
            Err(_) => {
                let d = crate::domain::time::parse_duration(v).map_err(|e| {
                    ApiError::bad_request("since", e)
                        .hint("an RFC 3339 time or a duration like 24h")
                })?;
                s.engine.now() - chrono::Duration::from_std(d).unwrap_or_default()
            }
        }),
    };
    let min_severity = match &q.severity {
        None => None,
        Some(v) => Some(
            v.parse::<Severity>()
                .map_err(|e| ApiError::bad_request("severity", e))?,
        ),
    };
    let rows = s
        .engine
        .store
        .list_incidents(&IncidentFilter {
            status: q.status.clone(),
            since,
            min_severity,
            include_drills: q.drills.unwrap_or(false),
            limit: Some(q.limit.unwrap_or(100).clamp(1, 1000)),
        })
        .await?;
    Ok(axum::Json(serde_json::json!({ "incidents": rows })))
}

/// A decision with its events and clock figures, as the API and console show it.
#[derive(Debug, Serialize)]
pub struct DecisionView {
    #[serde(flatten)]
    pub row: crate::store::DecisionRow,
    pub events: Vec<crate::domain::decision::DecisionEvent>,
    pub approvals: usize,
    pub deadline: Option<crate::domain::Timestamp>,
    pub clock: crate::domain::clock::ClockFigures,
}

/// How many alerts `GET /v1/incidents/{id}` and the console show by
/// default, and at most; `GET /v1/incidents/{id}/alerts` pages the rest.
pub const VIEW_ALERTS: i64 = 100;
pub const VIEW_ALERTS_MAX: i64 = 1000;

/// Everything about one incident: the incident, its decisions with their
/// events, and its alerts as [`crate::store::Store::incident_alerts`]
/// bounds them (the first `alerts`, those with decisions or intel hits),
/// with `alerts_total`. A flood of alerts on one incident must not make
/// every read of it (each chat sync, each console page) load them all.
pub async fn incident_view(
    s: &crate::engine::Engine,
    id: IncidentId,
    alerts: i64,
) -> Result<Option<serde_json::Value>, ApiError> {
    let Some(inc) = s.store.get_incident(id).await? else {
        return Ok(None);
    };
    let (alerts, alerts_total) = s.store.incident_alerts(id, alerts).await?;
    let mut decisions = Vec::new();
    for d in s.store.decisions_of_incident(id).await? {
        let l = s.load(DecisionId(d.id)).await.map_err(ApiError::internal)?;
        let alert = alerts.iter().find(|a| Some(a.id) == d.alert_id);
        let clock = crate::domain::clock::ClockFigures::compute(
            alert.map(|a| a.detected_at),
            alert.map_or(d.created_at, |a| a.received_at),
            None,
            &l.events,
        );
        let folded = Decision::replay(DecisionId(d.id), &l.events).map_err(ApiError::internal)?;
        decisions.push(DecisionView {
            row: d,
            approvals: folded.approvals.len(),
            deadline: folded.deadline,
            events: l.events,
            clock,
        });
    }
    let alerts: Vec<serde_json::Value> = alerts.iter().map(alert_json).collect();
    Ok(Some(serde_json::json!({
        "incident": inc,
        "alerts": alerts,
        "alerts_total": alerts_total,
        "decisions": decisions,
    })))
}

/// An alert as the API shows it: its JSON columns parsed.
fn alert_json(a: &crate::store::AlertRow) -> serde_json::Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    for k in ["observables", "tags", "raw", "enrichment"] {
        if let Some(text) = v.get(k).and_then(|x| x.as_str()).map(str::to_owned) {
            v[k] = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        }
    }
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    /// How many of the first alerts to include (with those that have
    /// decisions or intel hits).
    alerts: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    /// The last alert id already read; the page starts after it.
    after: Option<i64>,
    limit: Option<i64>,
}

fn bounded(field: &str, v: Option<i64>) -> Result<i64, ApiError> {
    match v {
        None => Ok(VIEW_ALERTS),
        Some(n) if (1..=VIEW_ALERTS_MAX).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(field, format!("{n} is out of range"))
            .hint(format!("between 1 and {VIEW_ALERTS_MAX}"))),
    }
}

/// The token, the incident id and the query of a request about one incident.
fn incident_request<Q>(
    s: &AppState,
    headers: &HeaderMap,
    id: &str,
    q: Result<Query<Q>, axum::extract::rejection::QueryRejection>,
) -> Result<(IncidentId, Q), ApiError> {
    reader(s, headers)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    let id: IncidentId = id
        .parse()
        .map_err(|e: String| ApiError::bad_request("id", e))?;
    Ok((id, q))
}

async fn show(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<ShowQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let (id, q) = incident_request(&s, &headers, &id, q)?;
    match incident_view(&s.engine, id, bounded("alerts", q.alerts)?).await? {
        Some(v) => Ok(axum::Json(v)),
        None => Err(ApiError::not_found(id.to_string())),
    }
}

/// `GET /v1/incidents/{id}/alerts?after=&limit=`: every alert of an
/// incident, a page at a time, oldest first. `next_after` is the `after` of
/// the next page, absent on the last one.
async fn alerts(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let (id, q) = incident_request(&s, &headers, &id, q)?;
    let limit = bounded("limit", q.limit)?;
    if s.engine.store.get_incident(id).await?.is_none() {
        return Err(ApiError::not_found(id.to_string()));
    }
    let rows = s
        .engine
        .store
        .incident_alerts_after(id, q.after.unwrap_or(0), limit)
        .await?;
    let next_after = (i64::try_from(rows.len()).unwrap_or(0) == limit)
        .then(|| rows.last().map(|a| a.id))
        .flatten();
    let alerts: Vec<serde_json::Value> = rows.iter().map(alert_json).collect();
    Ok(axum::Json(
        serde_json::json!({ "alerts": alerts, "next_after": next_after }),
    ))
}
