//! The plumbing every chat surface's sync job shares: why a sync stopped
//! ([`SyncError`]) and how that becomes the job queue's answer
//! ([`job_outcome`]). What a sync *does* (post, edit, thread) is each
//! platform's own (`slack::Slack::sync`, `discord::Discord::sync`); the
//! model it shows comes from [`crate::chat::load_model`].
//!
//! Store failures are retried (the database may be back in a moment);
//! template failures are permanent (retrying renders the same broken
//! template). Each platform classifies its own API errors with a `From`
//! impl next to its client.

use crate::domain::IncidentId;
use crate::engine::ChatJobError;
use std::time::Duration;

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Try again later; `Some(after)` when the platform (or the pacer)
    /// said when.
    #[error("{0}")]
    Retry(String, Option<Duration>),
    #[error("{0}")]
    Permanent(String),
}

impl From<crate::store::StoreError> for SyncError {
    fn from(e: crate::store::StoreError) -> Self {
        SyncError::Retry(format!("store: {e}"), None)
    }
}

impl From<crate::templates::TemplateError> for SyncError {
    fn from(e: crate::templates::TemplateError) -> Self {
        SyncError::Permanent(e.to_string())
    }
}

/// The incident a chat job is about (`{"incident_id": …}`, as enqueued by
/// [`crate::engine::Engine::notify_chat`]).
pub fn job_incident(payload: &serde_json::Value) -> Result<IncidentId, ChatJobError> {
    payload["incident_id"]
        .as_i64()
        .map(IncidentId)
        .ok_or_else(|| ChatJobError::Permanent("chat job without incident_id".into()))
}

/// A sync's result as the job queue wants it: rate-limited retries are
/// counted, permanent failures logged once here.
pub fn job_outcome(
    platform: &'static str,
    incident: IncidentId,
    r: Result<(), SyncError>,
) -> Result<(), ChatJobError> {
    match r {
        Ok(()) => Ok(()),
        Err(SyncError::Retry(message, after)) => {
            if after.is_some() {
                metrics::counter!("cordon_chat_ratelimited_total", "platform" => platform)
                    .increment(1);
            }
            Err(ChatJobError::Retry { message, after })
        }
        Err(SyncError::Permanent(m)) => {
            tracing::error!(incident = %incident, error = %m, "{platform}: giving up on this update");
            Err(ChatJobError::Permanent(m))
        }
    }
}

/// Records a newly posted main message (where it is, and the hash of what
/// it shows, so later syncs edit it only when that changes).
pub async fn record_main_message(
    store: &crate::store::Store,
    platform: &'static str,
    incident: IncidentId,
    channel: &str,
    message_ref: &str,
    hash: &str,
    now: crate::domain::Timestamp,
) -> Result<(), SyncError> {
    store
        .save_chat_message(
            &crate::store::ChatMessage {
                platform: platform.into(),
                incident_id: incident.0,
                decision_id: None,
                channel: channel.to_owned(),
                message_ref: message_ref.to_owned(),
                thread_ref: None,
            },
            now,
        )
        .await?;
    store
        .put_chat_state(platform, incident, "main_hash", hash, now)
        .await?;
    metrics::counter!("cordon_chat_posts_total", "platform" => platform).increment(1);
    Ok(())
}
