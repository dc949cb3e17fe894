//! CrowdStrike Falcon: contain / lift containment of a host by agent id (AID).
//!
//! OAuth2 client credentials (`POST /oauth2/token`, form), token cached until
//! expiry and refreshed once after a 401. Contain and lift go through
//! `POST /devices/entities/devices-actions/v2?action_name=contain|lift_containment`
//! with `{"ids":[aid]}`; a per-host `errors[]` entry with code 409 (or an HTTP
//! 409) means the host is already in that state. The contain call has no field
//! for the decision id (vendor-apis.md §9), so `meta.trace_id` is kept as the
//! vendor reference instead. Confirmation reads the device `status`.

use super::config::{self, ConfigError, Secret};
use super::http::{self, Reply};
use super::oauth::TokenSource;
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
use std::time::Duration;

#[cfg(test)]
mod tests;

const NAME: &str = "crowdstrike";

/// `[crowdstrike]` in connectors.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrowdStrikeConfig {
    /// e.g. `https://api.crowdstrike.com` or `https://api.eu-1.crowdstrike.com`.
    pub base_url: String,
    pub client_id_env: String,
    pub client_secret_env: String,
    /// MSSP parent acting for a child CID.
    #[serde(default)]
    pub member_cid: Option<String>,
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
pub struct CrowdStrike {
    base: String,
    dry_run: bool,
    http: reqwest::Client,
    tokens: TokenSource,
}

impl CrowdStrike {
    pub fn new(
        cfg: &CrowdStrikeConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let id = config::secret(env, NAME, "client_id_env", &cfg.client_id_env, cfg.dry_run)?;
        let secret: Secret = config::secret(
            env,
            NAME,
            "client_secret_env",
            &cfg.client_secret_env,
            cfg.dry_run,
        )?;
        let http = http::client(cfg.timeout)?;
        let base = http::trim_base(&cfg.base_url);
        let extra = cfg
            .member_cid
            .iter()
            .map(|c| ("member_cid", c.clone()))
            .collect();
        Ok(CrowdStrike {
            tokens: TokenSource::new(
                NAME,
                format!("{base}/oauth2/token"),
                id.expose().to_owned(),
                secret,
                extra,
                http.clone(),
            ),
            base,
            dry_run: cfg.dry_run,
            http,
        })
    }

    fn action_name(action: &ActionKind) -> Option<&'static str> {
        match action {
            ActionKind::IsolateHost => Some("contain"),
            ActionKind::ReleaseHost => Some("lift_containment"),
            _ => None,
        }
    }

    async fn device_status(&self, aid: &str) -> Result<String, ExecError> {
        let url = format!("{}/devices/entities/devices/v2", self.base);
        let reply = self
            .tokens
            .send(|auth| {
                self.http
                    .get(&url)
                    .query(&[("ids", aid)])
                    .header("authorization", auth)
                    .header("accept", "application/json")
            })
            .await?;
        if !reply.status.is_success() {
            return Err(http::classify(NAME, "device read", &reply));
        }
        let json = reply.json();
        let status = json["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|d| d["device_id"] == aid).or(r.first()))
            .and_then(|d| d["status"].as_str())
            .ok_or_else(|| ExecError::permanent(format!("{NAME}: device {aid} not found")))?;
        Ok(status.to_owned())
    }
}

/// Reads the contain answer: success, already (409), or a per-host failure.
fn contain_result(aid: &str, reply: &Reply) -> Result<ExecOutcome, ExecError> {
    let json = reply.json();
    let vendor_ref = json["meta"]["trace_id"].as_str().map(str::to_owned);
    let errors = json["errors"].as_array().cloned().unwrap_or_default();
    let already = reply.status == reqwest::StatusCode::CONFLICT
        || errors.iter().any(|e| e["code"].as_u64() == Some(409));
    if already {
        return Ok(ExecOutcome {
            vendor_ref,
            already: true,
            ..ExecOutcome::default()
        });
    }
    if !reply.status.is_success() {
        return Err(http::classify(NAME, "device action", reply));
    }
    let accepted = json["resources"]
        .as_array()
        .is_some_and(|r| r.iter().any(|d| d["id"] == aid));
    if let Some(e) = errors.first()
        && !accepted
    {
        return Err(ExecError::permanent(format!(
            "{NAME}: device action refused for {aid}: {} {}",
            e["code"], e["message"]
        )));
    }
    Ok(ExecOutcome {
        vendor_ref,
        ..ExecOutcome::default()
    })
}

#[async_trait::async_trait]
impl Executor for CrowdStrike {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, action: &ActionKind) -> bool {
        Self::action_name(action).is_some()
    }

    fn id_attribute(&self) -> Option<&str> {
        Some("crowdstrike_aid")
    }

    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError> {
        let action = Self::action_name(&req.action).ok_or_else(|| {
            ExecError::permanent(format!("{NAME}: cannot perform {}", req.action))
        })?;
        if self.dry_run {
            return Ok(ExecOutcome::dry_run());
        }
        let aid = req.vendor_id("crowdstrike_aid");
        let url = format!("{}/devices/entities/devices-actions/v2", self.base);
        let body = serde_json::json!({ "ids": [aid] });
        let reply = self
            .tokens
            .send(|auth| {
                self.http
                    .post(&url)
                    .query(&[("action_name", action)])
                    .header("authorization", auth)
                    .header("accept", "application/json")
                    .json(&body)
            })
            .await?;
        contain_result(aid, &reply)
    }

    async fn confirm(
        &self,
        req: &ExecRequest,
        outcome: &ExecOutcome,
    ) -> Result<Confirmation, ExecError> {
        if outcome.dry_run || self.dry_run {
            return Ok(Confirmation::Confirmed);
        }
        let status = self.device_status(req.vendor_id("crowdstrike_aid")).await?;
        let done = match req.action {
            ActionKind::IsolateHost => "contained",
            _ => "normal",
        };
        Ok(if status == done {
            Confirmation::Confirmed
        } else {
            // containment_pending / lift_containment_pending, or the sensor
            // has not picked the action up yet.
            Confirmation::Pending
        })
    }

    async fn healthcheck(&self) -> Result<(), ExecError> {
        if self.dry_run {
            return Ok(());
        }
        self.tokens.token().await.map(|_| ())
    }
}
