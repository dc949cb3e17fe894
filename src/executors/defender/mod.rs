//! Microsoft Defender for Endpoint: isolate / release a machine.
//!
//! Entra client-credentials token (`POST {login_base}/{tenant}/oauth2/v2.0/token`,
//! scope `https://api.securitycenter.microsoft.com/.default`), cached, refreshed
//! once after a 401. Before acting, the machine's recent machine actions are
//! read: a pending/in-progress action of the same type, or a last successful
//! action of the same type, means "already" (vendor-apis.md §2.4: a duplicate
//! isolate can get stuck pending). A 400 "Action is already in progress" is
//! resolved the same way. The decision id travels in the required `Comment`.
//! Confirmation polls `GET /api/machineactions/{id}`.
//!
//! A host without an `mde_machine_id` on its record is looked up with
//! `GET /api/machines?$filter=computerDnsName eq '…'` (OData string literal,
//! a quote doubled) and acted on only when exactly one machine answers; the
//! name is never sent as a machine id.

use super::config::{self, ConfigError};
use super::http::{self, Reply};
use super::oauth::TokenSource;
use super::resolve::{self, VendorId};
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

#[cfg(test)]
mod tests;

const NAME: &str = "defender";
/// The record attribute that carries the machine id.
const ATTR: &str = "mde_machine_id";

/// `[defender]` in connectors.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefenderConfig {
    /// `https://api.securitycenter.microsoft.com` (or a regional host).
    pub base_url: String,
    /// `https://login.microsoftonline.com`.
    #[serde(default = "default_login")]
    pub login_base_url: String,
    pub tenant_id: String,
    pub client_id_env: String,
    pub client_secret_env: String,
    #[serde(default = "default_scope")]
    pub scope: String,
    /// `Full` or `Selective`.
    #[serde(default = "default_isolation")]
    pub isolation_type: String,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(
        default = "config::default_timeout",
        deserialize_with = "config::duration"
    )]
    pub timeout: Duration,
}

fn default_login() -> String {
    "https://login.microsoftonline.com".into()
}
fn default_scope() -> String {
    "https://api.securitycenter.microsoft.com/.default".into()
}
fn default_isolation() -> String {
    "Full".into()
}

/// The connector.
#[derive(Debug)]
pub struct Defender {
    base: String,
    isolation_type: String,
    dry_run: bool,
    http: reqwest::Client,
    tokens: TokenSource,
}

impl Defender {
    pub fn new(
        cfg: &DefenderConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let id = config::secret(env, NAME, "client_id_env", &cfg.client_id_env, cfg.dry_run)?;
        let secret = config::secret(
            env,
            NAME,
            "client_secret_env",
            &cfg.client_secret_env,
            cfg.dry_run,
        )?;
        let http = http::client(cfg.timeout)?;
        Ok(Defender {
            tokens: TokenSource::new(
                NAME,
                format!(
                    "{}/{}/oauth2/v2.0/token",
                    http::trim_base(&cfg.login_base_url),
                    cfg.tenant_id
                ),
                id.expose().to_owned(),
                secret,
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("scope", cfg.scope.clone()),
                ],
                http.clone(),
            ),
            base: http::trim_base(&cfg.base_url),
            isolation_type: cfg.isolation_type.clone(),
            dry_run: cfg.dry_run,
            http,
        })
    }

    fn kind(action: &ActionKind) -> Option<(&'static str, &'static str)> {
        match action {
            ActionKind::IsolateHost => Some(("isolate", "Isolate")),
            ActionKind::ReleaseHost => Some(("unisolate", "Unisolate")),
            _ => None,
        }
    }

    async fn get(&self, url: &str, query: &[(&str, String)]) -> Result<Reply, ExecError> {
        self.tokens
            .send(|auth| {
                self.http
                    .get(url)
                    .query(query)
                    .header("authorization", auth)
                    .header("accept", "application/json")
            })
            .await
    }

    /// The machine's isolate/unisolate actions, newest first.
    async fn recent_actions(&self, machine: &str) -> Result<Vec<Value>, ExecError> {
        let url = format!("{}/api/machineactions", self.base);
        let filter = format!("machineId eq {}", odata_string(machine));
        let reply = self.get(&url, &[("$filter", filter)]).await?;
        if !reply.status.is_success() {
            return Err(http::classify(NAME, "machine action list", &reply));
        }
        let mut actions: Vec<Value> = reply.json()["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| matches!(a["type"].as_str(), Some("Isolate" | "Unisolate")))
            .collect();
        actions.sort_by(|a, b| {
            b["creationDateTimeUtc"]
                .as_str()
                .unwrap_or("")
                .cmp(a["creationDateTimeUtc"].as_str().unwrap_or(""))
        });
        Ok(actions)
    }

    /// The target's machine id: from its record, from this decision's
    /// forward lookup, or looked up now by DNS name (exactly one machine,
    /// else a permanent error naming the host).
    async fn machine(&self, req: &ExecRequest) -> Result<VendorId, ExecError> {
        if let Some(known) = VendorId::known(req, ATTR) {
            return Ok(known);
        }
        let name = resolve::lookup_name(NAME, "Defender machine", &req.target.value)?;
        let filter = format!("computerDnsName eq {}", odata_string(name));
        let reply = self
            .get(
                &format!("{}/api/machines", self.base),
                &[("$filter", filter)],
            )
            .await?;
        if !reply.status.is_success() {
            return Err(http::classify(NAME, "machine lookup", &reply));
        }
        let ids = reply.json()["value"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let id = resolve::exactly_one(NAME, "Defender machine", ATTR, name, ids)?;
        Ok(VendorId::looked_up(ATTR, id))
    }

    /// Isolates or releases one machine by id: skips when the machine's own
    /// action list says it is already done, else posts the action.
    async fn act(
        &self,
        req: &ExecRequest,
        machine: &str,
        verb: &str,
        type_: &str,
    ) -> Result<ExecOutcome, ExecError> {
        if let Some(out) = Self::already(&self.recent_actions(machine).await?, type_) {
            return Ok(out);
        }
        let url = format!(
            "{}/api/machines/{}/{verb}",
            self.base,
            http::segment(machine)
        );
        // Body keys are case-sensitive (`Comment`, `IsolationType`).
        let body = if verb == "isolate" {
            serde_json::json!({ "Comment": req.comment(), "IsolationType": self.isolation_type })
        } else {
            serde_json::json!({ "Comment": req.comment() })
        };
        let reply = self
            .tokens
            .send(|auth| {
                self.http
                    .post(&url)
                    .header("authorization", auth)
                    .json(&body)
            })
            .await?;
        if reply.status.is_success() {
            let json = reply.json();
            let status = json["status"].as_str().unwrap_or("");
            return Ok(ExecOutcome {
                vendor_ref: json["id"].as_str().map(str::to_owned),
                confirmed: status == "Succeeded",
                ..ExecOutcome::default()
            });
        }
        if reply.status == reqwest::StatusCode::BAD_REQUEST
            && reply
                .body
                .to_ascii_lowercase()
                .contains("already in progress")
        {
            // Look the pending action up instead of sending another one.
            return match Self::already(&self.recent_actions(machine).await?, type_) {
                Some(out) => Ok(out),
                None => Err(ExecError::retryable(format!(
                    "{NAME}: {verb} already in progress on {machine}, but no pending action was listed"
                ))),
            };
        }
        Err(http::classify(NAME, verb, &reply))
    }

    /// "Already" per §2.4: a same-type action in flight, or the last
    /// successful isolate/unisolate is of the same type.
    fn already(actions: &[Value], type_: &str) -> Option<ExecOutcome> {
        let in_flight = actions.iter().find(|a| {
            a["type"] == type_ && matches!(a["status"].as_str(), Some("Pending" | "InProgress"))
        });
        if let Some(a) = in_flight {
            return Some(ExecOutcome {
                vendor_ref: a["id"].as_str().map(str::to_owned),
                already: true,
                ..ExecOutcome::default()
            });
        }
        let last_done = actions.iter().find(|a| a["status"] == "Succeeded")?;
        (last_done["type"] == type_).then(|| ExecOutcome {
            vendor_ref: last_done["id"].as_str().map(str::to_owned),
            already: true,
            confirmed: true,
            ..ExecOutcome::default()
        })
    }
}

/// An OData string literal: quoted, with a quote inside doubled, so a name
/// cannot end the literal and add a clause of its own.
fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[async_trait::async_trait]
impl Executor for Defender {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, action: &ActionKind) -> bool {
        Self::kind(action).is_some()
    }

    fn id_attribute(&self) -> Option<&str> {
        Some(ATTR)
    }

    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError> {
        let (verb, type_) = Self::kind(&req.action).ok_or_else(|| {
            ExecError::permanent(format!("{NAME}: cannot perform {}", req.action))
        })?;
        if self.dry_run {
            return Ok(ExecOutcome::dry_run());
        }
        let id = self.machine(req).await?;
        let out = self.act(req, &id.id, verb, type_).await?;
        Ok(id.remember(out))
    }

    async fn confirm(
        &self,
        _req: &ExecRequest,
        outcome: &ExecOutcome,
    ) -> Result<Confirmation, ExecError> {
        if outcome.dry_run || self.dry_run || outcome.confirmed {
            return Ok(Confirmation::Confirmed);
        }
        let Some(id) = &outcome.vendor_ref else {
            return Err(ExecError::permanent(format!(
                "{NAME}: no machine action id to confirm"
            )));
        };
        let reply = self
            .get(
                &format!("{}/api/machineactions/{}", self.base, http::segment(id)),
                &[],
            )
            .await?;
        if !reply.status.is_success() {
            return Err(http::classify(NAME, "machine action read", &reply));
        }
        Ok(match reply.json()["status"].as_str().unwrap_or("") {
            "Succeeded" => Confirmation::Confirmed,
            "Pending" | "InProgress" => Confirmation::Pending,
            other => Confirmation::Failed(format!("machine action {id} is {other}")),
        })
    }

    async fn healthcheck(&self) -> Result<(), ExecError> {
        if self.dry_run {
            return Ok(());
        }
        self.tokens.token().await.map(|_| ())
    }
}
