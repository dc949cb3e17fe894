//! The HTTP edge (axum): alert ingest, the read API, health and metrics.
//! Handlers are thin: authenticate, make one engine call, answer.

pub mod alerts;
pub mod auth;
pub mod error;
pub mod incidents;
pub mod serve;

use crate::engine::Engine;
use crate::engine::ingest::IngestQueue;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub ingest: IngestQueue,
    pub verifier: Arc<auth::TokenVerifier>,
    pub generic: Arc<crate::ingest::GenericMapping>,
    pub body_limit: usize,
    /// Set once migrations ran and the matrix loaded.
    pub ready: Arc<AtomicBool>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Whether this replica holds the chat gateway connections.
    pub leader: crate::store::leader::Leadership,
}

/// All routes. Adapters (Slack, Discord, web console) merge their own routers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/leaderz", get(leaderz))
        .route("/metrics", get(metrics))
        .merge(alerts::router())
        .merge(incidents::router())
        .with_state(state)
}

/// Security headers for every response that did not set its own (the web
/// console sets stricter ones): nothing cordon serves may be framed or
/// sniffed into another type, answers of the read API (bearer tokens,
/// incident data) are not cached, and no referrer leaves.
pub async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let h = resp.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    resp
}

/// Ready when migrations ran, the matrix loaded and the database answers.
async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if !s.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting");
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), s.engine.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// `leader` or `follower`: which replica holds the Slack Socket Mode and
/// Discord gateway connections. Always 200: a follower is healthy, and a
/// load balancer must keep sending it HTTP traffic.
async fn leaderz(State(s): State<AppState>) -> impl IntoResponse {
    if s.leader.is_leader() {
        "leader"
    } else {
        "follower"
    }
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    if let Ok(depths) = s.engine.store.queue_depths().await {
        for (queue, status, n) in depths {
            metrics::gauge!("cordon_jobs", "queue" => queue, "status" => status).set(n as f64);
        }
    }
    if let Ok(n) = s.engine.store.pending_timers().await {
        metrics::gauge!("cordon_timers_pending").set(n as f64);
    }
    metrics::gauge!("cordon_ingest_queue_depth").set(s.ingest.depth() as f64);
    match &s.metrics {
        Some(h) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics disabled").into_response(),
    }
}
