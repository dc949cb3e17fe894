//! Loopback receivers for the harness: a fake CrowdStrike Falcon (token,
//! contain, device status) and a webhook receiver for Alertmanager. Each
//! records the instant the request arrived, keyed by what identifies the
//! sample (the CrowdStrike agent id; the Alertmanager `id` label).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Arrival instants by sample key. First arrival wins (a retry is not a
/// faster answer).
#[derive(Default)]
pub struct Arrivals {
    seen: Mutex<HashMap<String, Instant>>,
}

impl Arrivals {
    fn record(&self, key: String, at: Instant) {
        if let Ok(mut m) = self.seen.lock() {
            m.entry(key).or_insert(at);
        }
    }

    /// When `key` first arrived.
    pub fn get(&self, key: &str) -> Option<Instant> {
        self.seen.lock().ok().and_then(|m| m.get(key).copied())
    }
}

/// A running receiver.
pub struct Receiver {
    pub url: String,
    pub arrivals: Arc<Arrivals>,
}

/// Starts the fake vendor and webhook receiver on 127.0.0.1 (a free port).
pub async fn start() -> std::io::Result<Receiver> {
    let arrivals = Arc::new(Arrivals::default());
    let app = Router::new()
        .route("/oauth2/token", post(token))
        .route("/devices/entities/devices-actions/v2", post(contain))
        .route("/devices/entities/devices/v2", get(status))
        .route("/am", post(alertmanager_hook))
        .with_state(Arc::clone(&arrivals));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Receiver { url, arrivals })
}

async fn token() -> axum::Json<serde_json::Value> {
    axum::Json(
        serde_json::json!({"access_token": "tok-bench", "token_type": "bearer", "expires_in": 1799}),
    )
}

async fn contain(State(a): State<Arc<Arrivals>>, body: Bytes) -> axum::Json<serde_json::Value> {
    let at = Instant::now();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let ids: Vec<String> = v["ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for id in &ids {
        a.record(id.clone(), at);
    }
    axum::Json(serde_json::json!({
        "meta": {"trace_id": "trace-bench"},
        "resources": ids.iter().map(|i| serde_json::json!({"id": i})).collect::<Vec<_>>(),
        "errors": []
    }))
}

async fn status() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"resources": [{"status": "contained"}]}))
}

async fn alertmanager_hook(State(a): State<Arc<Arrivals>>, body: Bytes) -> &'static str {
    let at = Instant::now();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    for alert in v["alerts"].as_array().into_iter().flatten() {
        if let Some(id) = alert["labels"]["id"].as_str() {
            a.record(id.to_owned(), at);
        }
    }
    "ok"
}
