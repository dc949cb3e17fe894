//! SentinelOne: disconnect / reconnect an agent from the network.
//!
//! `Authorization: ApiToken <token>`. The network status is read first
//! (`GET /web/api/v2.1/agents?ids=`) because the vendor does not document an
//! "already" answer: an agent already disconnected (or disconnecting) is
//! reported as `already` without calling the action. The action body always
//! carries an explicit, non-empty `ids` filter: an empty filter would apply
//! to every agent in the console. No field carries the decision id (§9).
//!
//! A host without an `s1_agent_id` on its record is looked up with
//! `GET /web/api/v2.1/agents?computerName=…`; only agents whose
//! `computerName` equals the name count, and exactly one must answer. The
//! name is never sent as an agent id.

use super::config::{self, ConfigError, Secret};
use super::http::{self, Reply};
use super::resolve::{self, VendorId};
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
use std::time::Duration;

#[cfg(test)]
mod tests;

const NAME: &str = "sentinelone";
const API: &str = "/web/api/v2.1";
/// The record attribute that carries the agent id.
const ATTR: &str = "s1_agent_id";

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

    /// The target's agent id: from its record, from this decision's forward
    /// lookup, or looked up now by computer name (exactly one agent, else a
    /// permanent error naming the host).
    async fn agent(&self, req: &ExecRequest) -> Result<VendorId, ExecError> {
        if let Some(known) = VendorId::known(req, ATTR) {
            return Ok(known);
        }
        let name = resolve::lookup_name(NAME, "SentinelOne agent", &req.target.value)?;
        let reply = http::send(
            NAME,
            self.http
                .get(format!("{}{API}/agents", self.base))
                .query(&[("computerName", name)])
                .header("authorization", self.auth())
                .header("accept", "application/json"),
        )
        .await?;
        if !reply.status.is_success() {
            return Err(http::classify(NAME, "agent lookup", &reply));
        }
        // Count only exact names: whatever else the console returns (a
        // looser match, a list split at a comma) is not this host.
        let ids = reply.json()["data"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter(|a| {
                        a["computerName"]
                            .as_str()
                            .is_some_and(|c| c.eq_ignore_ascii_case(name))
                    })
                    .filter_map(|a| a["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let id = resolve::exactly_one(NAME, "SentinelOne agent", ATTR, name, ids)?;
        Ok(VendorId::looked_up(ATTR, id))
    }

    /// Disconnects or reconnects one agent by id: skips when its network
    /// status already satisfies the verb, else posts the action with an
    /// explicit one-id filter (never an empty one: it would match every
    /// agent in the console).
    async fn act(&self, agent: &str, verb: &str) -> Result<ExecOutcome, ExecError> {
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
        Some(ATTR)
    }

    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError> {
        let verb = Self::verb(&req.action).ok_or_else(|| {
            ExecError::permanent(format!("{NAME}: cannot perform {}", req.action))
        })?;
        if self.dry_run {
            return Ok(ExecOutcome::dry_run());
        }
        let id = self.agent(req).await?;
        let out = self.act(&id.id, verb).await?;
        Ok(id.remember(out))
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
        let agent = self.agent(req).await?;
        let status = self.network_status(&agent.id).await?;
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
