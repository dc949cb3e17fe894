//! `POST /v1/alerts/{format}` and `POST /v1/alerts` (format detected).
//!
//! Order of checks: token (401) → format allowed for this source (403) →
//! content type (415) → body size (413) → parse (400/422) → queue (429/503)
//! → 202 after commit. Every body rejected after authentication is kept as
//! a dead letter (with its drill flag, so a replay keeps it), so nothing an
//! authenticated source sent is ever lost.

use super::AppState;
use super::auth::{Claims, bearer};
use super::error::ApiError;
use crate::engine::ingest::IngestRejected;
use crate::ingest::{Format, IngestError};
use crate::store::{IncomingAlert, NewDeadLetter};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use http_body_util::BodyExt;
use serde::Serialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/alerts", post(detect_and_ingest))
        .route("/v1/alerts/{format}", post(ingest))
}

#[derive(Serialize)]
struct Accepted {
    accepted: usize,
    alerts: Vec<crate::store::IngestedAlert>,
}

fn authenticate(s: &AppState, headers: &HeaderMap) -> Result<Claims, ApiError> {
    let token = bearer(headers.get(header::AUTHORIZATION)).ok_or_else(ApiError::unauthorized)?;
    let claims = s.verifier.verify(token, s.engine.now())?;
    if !claims.has_scope("ingest") {
        return Err(ApiError::forbidden(
            "this token may not send alerts (scope ingest missing)",
        ));
    }
    Ok(claims)
}

/// `?drill=true` marks the alerts as a drill: people are asked for real,
/// connectors run dry, and reports keep drills apart. Only tokens with the
/// `drill` scope may send drills, so a real source can never turn its
/// alerts into rehearsals (or the reverse).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestQuery {
    #[serde(default)]
    drill: bool,
}

fn drill_flag(
    claims: &Claims,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<bool, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::bad_request("query", e.body_text()).hint("the only parameter is drill=true|false")
    })?;
    if q.drill && !claims.has_scope("drill") {
        return Err(
            ApiError::forbidden("this token may not send drills (scope drill missing)")
                .field("drill"),
        );
    }
    Ok(q.drill)
}

async fn ingest(
    State(s): State<AppState>,
    Path(format): Path<String>,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let claims = authenticate(&s, &headers)?;
    let drill = drill_flag(&claims, q)?;
    let format: Format = match format.parse() {
        Ok(f) => f,
        Err(e) => {
            let e: IngestError = e;
            return Err(ApiError::new(StatusCode::NOT_FOUND, e.problem)
                .field("format")
                .hint(e.hint));
        }
    };
    handle(s, claims, Some(format), drill, headers, body).await
}

async fn detect_and_ingest(
    State(s): State<AppState>,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let claims = authenticate(&s, &headers)?;
    let drill = drill_flag(&claims, q)?;
    handle(s, claims, None, drill, headers, body).await
}

async fn handle(
    s: AppState,
    claims: Claims,
    format: Option<Format>,
    drill: bool,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let now = s.engine.now();
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(f) = format
        && !claims.may_send(f.as_str())
    {
        return Err(ApiError::forbidden(format!(
            "source `{}` may not send format `{}`",
            claims.sub,
            f.as_str()
        ))
        .field("format"));
    }
    // Read the body up to the limit; beyond it keep the first part as a
    // dead letter (marked truncated) and answer 413.
    let limit = s.body_limit;
    let limited = http_body_util::Limited::new(body, limit);
    let bytes = match limited.collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            let dl = s
                .engine
                .store
                .add_dead_letter(&NewDeadLetter {
                    received_at: now,
                    sender: Some(&claims.sub),
                    format: format.map(|f| f.as_str()),
                    content_type: ctype.as_deref(),
                    reason: &format!("body larger than {limit} bytes (not kept)"),
                    field: Some("body"),
                    body: b"",
                    drill,
                })
                .await
                .ok();
            let mut e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {limit} bytes"),
            )
            .field("body")
            .hint("split the batch into smaller requests");
            e.dead_letter_id = dl;
            return Err(e);
        }
    };
    let dead = |reason: String, field: String| {
        let store = s.engine.store.clone();
        let sub = claims.sub.clone();
        let ctype = ctype.clone();
        let bytes = bytes.clone();
        async move {
            store
                .add_dead_letter(&NewDeadLetter {
                    received_at: now,
                    sender: Some(&sub),
                    format: format.map(|f| f.as_str()),
                    content_type: ctype.as_deref(),
                    reason: &reason,
                    field: Some(&field),
                    body: &bytes,
                    drill,
                })
                .await
                .ok()
        }
    };
    let json_type = ctype.as_deref().is_some_and(|c| {
        let c = c
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        c == "application/json"
            || c == "application/x-ndjson"
            || c.ends_with("+json")
            || c == "application/jsonl"
    });
    if !json_type {
        let dl = dead(
            format!("unsupported content type {ctype:?}"),
            "content-type".into(),
        )
        .await;
        let mut e = ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "alerts must be JSON")
            .field("content-type")
            .hint("send Content-Type: application/json (or application/x-ndjson)");
        e.dead_letter_id = dl;
        return Err(e);
    }
    let format = match format {
        Some(f) => f,
        None => match crate::ingest::detect(&bytes) {
            Ok(f) if claims.may_send(f.as_str()) => f,
            Ok(f) => {
                return Err(ApiError::forbidden(format!(
                    "source `{}` may not send format `{}`",
                    claims.sub,
                    f.as_str()
                ))
                .field("format"));
            }
            Err(e) => {
                let reason = format!("{}: {}", e.field, e.problem);
                let field = e.field.clone();
                return Err(parse_error(e, dead(reason, field)).await);
            }
        },
    };
    let alerts = match crate::ingest::parse(format, &bytes, &s.generic) {
        Ok(a) if a.is_empty() => {
            let dl = dead("no alert in the body".into(), "body".into()).await;
            let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "the body holds no alert")
                .field("body")
                .hint("send at least one alert record");
            e.dead_letter_id = dl;
            return Err(e);
        }
        Ok(a) => a,
        Err(e) => {
            let reason = format!("{}: {}", e.field, e.problem);
            let field = e.field.clone();
            return Err(parse_error(e, dead(reason, field)).await);
        }
    };
    metrics::counter!("cordon_alerts_received_total", "format" => format.as_str(), "source" => claims.sub.clone()).increment(alerts.len() as u64);
    let incoming: Vec<IncomingAlert> = alerts
        .into_iter()
        .map(|a| IncomingAlert {
            alert: a,
            sender: claims.sub.clone(),
            received_at: now,
            drill,
        })
        .collect();
    match s.ingest.submit(incoming).await {
        Ok(rows) => {
            let alerts: Vec<_> = rows.into_iter().map(|(a, _)| a).collect();
            Ok((
                StatusCode::ACCEPTED,
                axum::Json(Accepted {
                    accepted: alerts.len(),
                    alerts,
                }),
            ))
        }
        Err(IngestRejected::QueueFull) => {
            metrics::counter!("cordon_ingest_rejected_total", "reason" => "queue_full")
                .increment(1);
            Err(
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "ingest queue is full")
                    .hint("retry after the delay in Retry-After")
                    .retry_after(1),
            )
        }
        Err(IngestRejected::TooLarge(n)) => {
            let dl = dead(
                format!("{n} alerts in one request exceed the ingest queue"),
                "body".into(),
            )
            .await;
            let mut e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{n} alerts in one request is more than the ingest queue holds"),
            )
            .field("body")
            .hint("split the batch");
            e.dead_letter_id = dl;
            Err(e)
        }
        Err(IngestRejected::ShuttingDown) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down").retry_after(5))
        }
        Err(IngestRejected::Store(e)) => {
            metrics::counter!("cordon_ingest_rejected_total", "reason" => "store").increment(1);
            // Unreachable or saturated database: 503 + Retry-After (the
            // sender retries; nothing was acknowledged). A real query error
            // is a 500 and is logged.
            Err(ApiError::from(e))
        }
    }
}

async fn parse_error(
    e: IngestError,
    dead: impl std::future::Future<Output = Option<i64>>,
) -> ApiError {
    let status = if e.field == "body" {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut err = ApiError::new(status, e.problem).field(e.field).hint(e.hint);
    err.dead_letter_id = dead.await;
    err
}
