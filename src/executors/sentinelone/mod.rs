//! SentinelOne: disconnect / reconnect an agent from the network.
//!
//! `Authorization: ApiToken <token>`. The network status is read first
//! (`GET /web/api/v2.1/agents?ids=`) because the vendor does not document an
//! "already" answer: an agent already disconnected (or disconnecting) is
//! reported as `already` without calling the action. The action body always
//! carries an explicit, non-empty `ids` filter: an empty filter would apply
//! to every agent in the console. No field carries the decision id (§9).

use super::config::{self, ConfigError, Secret};
use super::http::{self, Reply};
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
use std::time::Duration;

#[cfg(test)]
mod tests;

const NAME: &str = "sentinelone";
const API: &str = "/web/api/v2.1";

/// `[sentinelone]` in connectors.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelOneConfig {
    /// `https://<console>.sentinelone.net` (without `/web/api/v2.1`).
    pub base_url: String,
    pub api_token_env: String,
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
pub struct SentinelOne {
    base: String,
    token: Secret,
    dry_run: bool,
    http: reqwest::Client,
}

impl SentinelOne {
    pub fn new(
        cfg: &SentinelOneConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Ok(SentinelOne {
            token: config::secret(env, NAME, "api_token_env", &cfg.api_token_env, cfg.dry_run)?,
            base: http::trim_base(&cfg.base_url),
            dry_run: cfg.dry_run,
            http: http::client(cfg.timeout)?,
        })
    }

    fn verb(action: &ActionKind) -> Option<&'static str> {
        match action {
            ActionKind::IsolateHost => Some("disconnect"),
            ActionKind::ReleaseHost => Some("connect"),
            _ => None,
        }
    }

    fn auth(&self) -> String {
        format!("ApiToken {}", self.token.expose())
    }

    async fn network_status(&self, agent: &str) -> Result<String, ExecError> {
        let reply = http::send(
            NAME,
            self.http
                .get(format!("{}{API}/agents", self.base))
                .query(&[("ids", agent)])
                .header("authorization", self.auth())
                .header("accept", "application/json"),
        )
        .await?;
        if !reply.status.is_success() {
            return Err(http::classify(NAME, "agent read", &reply));
        }
        reply.json()["data"]
            .as_array()
            .and_then(|d| d.iter().find(|a| a["id"] == agent))
            .and_then(|a| a["networkStatus"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| ExecError::permanent(format!("{NAME}: agent {agent} not found")))
    }
}

/// The states that already satisfy a verb (transitional ones included: the
/// agent is on its way and a second action would change nothing).
fn satisfied(verb: &str, status: &str) -> bool {
    match verb {
        "disconnect" => matches!(status, "disconnected" | "disconnecting"),
        _ => matches!(status, "connected" | "connecting"),
    }
}

fn affected(reply: &Reply) -> Option<u64> {
    reply.json()["data"]["affected"].as_u64()
}

#[async_trait::async_trait]
impl Executor for SentinelOne {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, action: &ActionKind) -> bool {
        Self::verb(action).is_some()
    }

    fn id_attribute(&self) -> Option<&str> {
        Some("s1_agent_id")
    }

    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError> {
        let verb = Self::verb(&req.action).ok_or_else(|| {
            ExecError::permanent(format!("{NAME}: cannot perform {}", req.action))
        })?;
        let agent = req.vendor_id("s1_agent_id").trim();
        if agent.is_empty() {
            // Safety rule: never send an action with an empty filter.
            return Err(ExecError::permanent(format!(
                "{NAME}: refusing {verb} without an agent id"
            )));
        }
        if self.dry_run {
            return Ok(ExecOutcome::dry_run());
        }
        let before = self.network_status(agent).await?;
        if satisfied(verb, &before) {
            return Ok(ExecOutcome {
                already: true,
                confirmed: before.ends_with("ed"),
                ..ExecOutcome::default()
            });
        }
        let reply = http::send(
            NAME,
            self.http
                .post(format!("{}{API}/agents/actions/{verb}", self.base))
                .header("authorization", self.auth())
                .json(&serde_json::json!({ "filter": { "ids": [agent] }, "data": {} })),
        )
        .await?;
        if !reply.status.is_success() {
            return Err(http::classify(NAME, verb, &reply));
        }
        if affected(&reply) == Some(0) {
            // Nothing changed: re-read to tell "already" from "not applied".
            let now = self.network_status(agent).await?;
            if satisfied(verb, &now) {
                return Ok(ExecOutcome {
                    already: true,
                    ..ExecOutcome::default()
                });
            }
            return Err(ExecError::permanent(format!(
                "{NAME}: {verb} affected no agent; {agent} is {now}"
            )));
        }
        Ok(ExecOutcome::default())
    }

    async fn confirm(
        &self,
        req: &ExecRequest,
        outcome: &ExecOutcome,
    ) -> Result<Confirmation, ExecError> {
        if outcome.dry_run || self.dry_run || outcome.confirmed {
            return Ok(Confirmation::Confirmed);
        }
        let verb = Self::verb(&req.action).unwrap_or("disconnect");
        let done = if verb == "disconnect" {
            "disconnected"
        } else {
            "connected"
        };
        let status = self.network_status(req.vendor_id("s1_agent_id")).await?;
        Ok(if status == done {
            Confirmation::Confirmed
        } else {
            Confirmation::Pending
        })
    }

    async fn healthcheck(&self) -> Result<(), ExecError> {
        if self.dry_run {
            return Ok(());
        }
        let reply = http::send(
            NAME,
            self.http
                .get(format!("{}{API}/agents", self.base))
                .query(&[("limit", "1")])
                .header("authorization", self.auth()),
        )
        .await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(http::classify(NAME, "healthcheck", &reply))
        }
    }
}
