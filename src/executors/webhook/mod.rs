//! Generic webhook: a signed JSON POST for tools cordon has no connector for.
//!
//! Body: `{"decision_id","action","target":{"kind","value"},"attributes","reason"}`
//! (plus `"previous"` for inverse actions). Headers:
//!
//! - `X-Cordon-Timestamp: <unix seconds>` when the request was signed;
//! - `X-Cordon-Signature: sha256=<hex>`, the HMAC-SHA256 with the shared
//!   secret of `<timestamp> + "." + <raw body>`;
//! - `Idempotency-Key: dec-42:block_ip` (the decision and the action; its
//!   inverse is `dec-42:unblock_ip`, see [`ExecRequest::idempotency_key`]).
//!
//! 2xx is success, 409 means "already done", 429/5xx retryable, other 4xx
//! permanent.
//!
//! # Verifying a request (the receiver's side)
//!
//! 1. Read the raw body bytes, before any JSON parsing.
//! 2. Refuse the request unless `X-Cordon-Timestamp` is within 5 minutes of
//!    your clock (a captured request replayed later fails here).
//! 3. Compute `HMAC-SHA256(secret, timestamp + "." + body)` and compare it
//!    with the hex after `sha256=` in constant time (`hmac.compare_digest`,
//!    `crypto.timingSafeEqual`, `subtle`).
//! 4. Perform each `Idempotency-Key` once; answer a repeat with 409 (or
//!    the first answer). Keep keys for longer than the 5 minutes of step 2,
//!    so a replay inside the window is a repeat.
//!
//! The signature covers the timestamp: an attacker who saw one request
//! cannot re-send it later with a fresh timestamp. (Before, only the body was
//! signed and the timestamp was informational, so a captured isolation
//! request could be replayed at any time, e.g. after the release.)

use super::config::{self, ConfigError, Secret};
use super::http;
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(test)]
mod tests;

const NAME: &str = "webhook";

/// `[webhook]` in connectors.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub secret_env: String,
    /// Actions this webhook performs; empty means every action.
    #[serde(default)]
    pub actions: Vec<ActionKind>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(
        default = "config::default_timeout",
        deserialize_with = "config::duration"
    )]
    pub timeout: Duration,
}

/// The connector.
#[derive(Debug)]
pub struct Webhook {
    url: String,
    secret: Secret,
    actions: Vec<ActionKind>,
    dry_run: bool,
    http: reqwest::Client,
}

/// `sha256=<hex>` of HMAC-SHA256 over `timestamp + "." + body` with
/// `secret`: what the receiver recomputes.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        // Unreachable: HMAC takes keys of any length.
        Err(_) => String::new(),
    }
}

impl Webhook {
    pub fn new(
        cfg: &WebhookConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        reqwest::Url::parse(&cfg.url)
            .map_err(|e| ConfigError::new(format!("[webhook] url `{}`: {e}", cfg.url)))?;
        Ok(Webhook {
            url: cfg.url.clone(),
            secret: config::secret(env, NAME, "secret_env", &cfg.secret_env, cfg.dry_run)?,
            actions: cfg.actions.clone(),
            dry_run: cfg.dry_run,
            http: http::client(cfg.timeout)?,
        })
    }
}

#[async_trait::async_trait]
impl Executor for Webhook {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, action: &ActionKind) -> bool {
        self.actions.is_empty() || self.actions.contains(action)
    }

    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError> {
        if self.dry_run {
            return Ok(ExecOutcome::dry_run());
        }
        let mut payload = serde_json::json!({
            "decision_id": req.decision_id.to_string(),
            "action": req.action,
            "target": req.target,
            "attributes": req.attributes,
            "reason": req.reason,
        });
        if let Some(prev) = &req.previous {
            payload["previous"] = prev.clone();
        }
        let body = serde_json::to_vec(&payload)
            .map_err(|e| ExecError::permanent(format!("{NAME}: body: {e}")))?;
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let reply = http::send(
            NAME,
            self.http
                .post(&self.url)
                .header("content-type", "application/json")
                .header(
                    "x-cordon-signature",
                    signature(self.secret.expose().as_bytes(), ts, &body),
                )
                .header("x-cordon-timestamp", ts.to_string())
                .header("idempotency-key", req.idempotency_key())
                .body(body),
        )
        .await?;
        if reply.status == reqwest::StatusCode::CONFLICT {
            return Ok(ExecOutcome {
                already: true,
                confirmed: true,
                ..ExecOutcome::default()
            });
        }
        if !reply.status.is_success() {
            return Err(http::classify(NAME, "POST", &reply));
        }
        let json = reply.json();
        Ok(ExecOutcome {
            vendor_ref: json["id"].as_str().map(str::to_owned),
            saved_state: (!json.is_null()).then_some(json),
            confirmed: true,
            ..ExecOutcome::default()
        })
    }

    async fn confirm(
        &self,
        _req: &ExecRequest,
        _outcome: &ExecOutcome,
    ) -> Result<Confirmation, ExecError> {
        Ok(Confirmation::Confirmed)
    }

    async fn healthcheck(&self) -> Result<(), ExecError> {
        Ok(())
    }
}
