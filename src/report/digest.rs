//! The weekly digest, posted to chat on the schedule in `[reports.digest]`.
//!
//! When a digest is due, one durable `chat` job per configured platform is
//! enqueued with the digest text; the chat surface posts it. The job's dedup
//! key names the platform and the due time, so several replicas (each
//! running this loop) post each digest exactly once, and a replica that was
//! down at the due time catches up when it starts.

use super::{ReportParams, ReportsConfig, SlaTargets};
use crate::domain::Timestamp;
use crate::engine::Engine;
use crate::store::{NewJob, StoreError};
use std::sync::Arc;

/// Builds the digest due at `due` and enqueues it for every configured
/// channel. Returns how many posts were newly enqueued (0 when another
/// replica already did).
pub async fn enqueue(
    engine: &Engine,
    cfg: &ReportsConfig,
    sla: &SlaTargets,
    public_url: &str,
    due: Timestamp,
) -> Result<usize, StoreError> {
    let params = ReportParams {
        since: Some(cfg.digest.period.clone()),
        ..Default::default()
    };
    let q = params.to_query(due).map_err(StoreError::Corrupt)?;
    let report = super::run(&engine.store, &q, sla, due).await?;
    let qs = serde_urlencoded::to_string(&params).unwrap_or_default();
    let link = format!("{}/reports?{qs}", public_url.trim_end_matches('/'));
    let text = super::render::digest(&report, &link);
    let mut n = 0;
    for (platform, channel) in [
        ("slack", &cfg.digest.slack_channel),
        ("discord", &cfg.digest.discord_channel),
    ] {
        let Some(channel) = channel else { continue };
        let job = NewJob::new(
            "chat",
            serde_json::json!({ "platform": platform, "kind": "digest", "channel": channel, "text": text }),
            engine.now(),
        )
        .dedup(format!("digest:{platform}:{}", due.timestamp()))
        .max_attempts(50);
        if engine.store.enqueue(&job, engine.now()).await?.is_some() {
            n += 1;
        }
    }
    engine.wake();
    Ok(n)
}

/// Sleeps until each digest is due and enqueues it, until shutdown. The
/// last due time before start is sent too if it was missed (dedup makes
/// that harmless when it was not).
pub async fn run_loop(
    engine: Arc<Engine>,
    cfg: ReportsConfig,
    sla: SlaTargets,
    public_url: String,
) {
    if !cfg.digest.enabled {
        return;
    }
    let week = chrono::Duration::days(7);
    let mut due = match cfg.digest.next_due(engine.now() - week) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "weekly digest disabled");
            return;
        }
    };
    loop {
        let wait = (due - engine.now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = engine.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        if engine.now() < due {
            continue;
        }
        match enqueue(&engine, &cfg, &sla, &public_url, due).await {
            Ok(n) => tracing::info!(due = %due, posts = n, "weekly digest enqueued"),
            Err(e) => {
                tracing::warn!(error = %e, "weekly digest: store unavailable, retrying in a minute");
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                continue;
            }
        }
        due = match cfg.digest.next_due(due) {
            Ok(d) => d,
            Err(_) => return,
        };
    }
}
