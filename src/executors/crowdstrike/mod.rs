//! CrowdStrike Falcon: contain / lift containment of a host by agent id (AID).
//!
//! OAuth2 client credentials (`POST /oauth2/token`, form), token cached until
//! expiry and refreshed once after a 401. Contain and lift go through
//! `POST /devices/entities/devices-actions/v2?action_name=contain|lift_containment`
//! with `{"ids":[aid]}`; a per-host `errors[]` entry with code 409 (or an HTTP
//! 409) means the host is already in that state. The contain call has no field
//! for the decision id (vendor-apis.md §9), so `meta.trace_id` is kept as the
//! vendor reference instead. Confirmation reads the device `status`.
//!
//! A host without a `crowdstrike_aid` on its record is looked up by hostname
//! (`GET /devices/queries/devices/v1?filter=hostname:'…'`, FQL) and acted on
//! only when exactly one device answers; the hostname is never sent as an AID.
//! The filter is built only from names made of letters, digits, `.`, `-` and
//! `_`: anything else is refused rather than escaped, so an alert-supplied
//! name cannot widen the filter to other devices.

use super::config::{self, ConfigError, Secret};
use super::http::{self, Reply};
use super::oauth::TokenSource;
use super::resolve::{self, VendorId};
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
use std::time::Duration;

#[cfg(test)]
mod tests;

const NAME: &str = "crowdstrike";
/// The record attribute that carries the agent id.
const ATTR: &str = "crowdstrike_aid";

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

    /// An AgentId the alert carried (the inventory does not know the host)
    /// is acted on only if Falcon says it is the device of the target's
    /// name: the alert's sender chose both, and an alert naming
    /// `ws-unknown` with the CEO laptop's AgentId must not contain the
    /// laptop under the name of something else.
    async fn check_alert_aid(&self, aid: &str, target: &str) -> Result<(), ExecError> {
        let device = self.device(aid).await?;
        let hostname = device["hostname"].as_str().unwrap_or_default();
        let short = |s: &str| s.split('.').next().unwrap_or(s).to_ascii_lowercase();
        if hostname.is_empty() || short(hostname) != short(target) {
            return Err(ExecError::permanent(format!(
                "{NAME}: the alert's AgentId {aid} is the device {hostname:?}, not {target:?}; nothing was sent"
            )));
        }
        Ok(())
    }

    /// One device record (`GET /devices/entities/devices/v2?ids=`).
    async fn device(&self, aid: &str) -> Result<serde_json::Value, ExecError> {
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
        reply.json()["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|d| d["device_id"] == aid).cloned())
            .ok_or_else(|| ExecError::permanent(format!("{NAME}: device {aid} not found")))
    }

    async fn device_status(&self, aid: &str) -> Result<String, ExecError> {
        let device = self.device(aid).await?;
        device["status"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ExecError::permanent(format!("{NAME}: device {aid} has no status")))
    }

    /// The target's AID: from its record, from this decision's forward
    /// lookup, or looked up now by hostname (exactly one device, else a
    /// permanent error naming the host).
    async fn aid(&self, req: &ExecRequest) -> Result<VendorId, ExecError> {
        if let Some(known) = VendorId::known(req, ATTR) {
            if req
                .attributes
                .get(super::ALERT_IDS)
                .is_some_and(|v| v == "alert")
                && req.previous.is_none()
            {
                self.check_alert_aid(&known.id, &req.target.value).await?;
            }
            return Ok(known);
        }
        let host = fql_hostname(&req.target.value)?;
        let url = format!("{}/devices/queries/devices/v1", self.base);
        let filter = format!("hostname:'{host}'");
        let reply = self
            .tokens
            .send(|auth| {
                self.http
                    .get(&url)
                    .query(&[("filter", filter.as_str())])
                    .header("authorization", auth)
                    .header("accept", "application/json")
            })
            .await?;
        if !reply.status.is_success() {
            return Err(http::classify(NAME, "device lookup", &reply));
        }
        let ids = reply.json()["resources"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let aid = resolve::exactly_one(NAME, "CrowdStrike device", ATTR, host, ids)?;
        Ok(VendorId::looked_up(ATTR, aid))
    }
}

/// A hostname that can go between the quotes of an FQL filter as it is.
/// FQL has operators (`+`, `,`, `*`, `!`, `[`, …) and quoting of its own;
/// rather than trust an escape for them, names with anything but letters,
/// digits, `.`, `-` and `_` (all a DNS or NetBIOS name needs) are refused.
fn fql_hostname(name: &str) -> Result<&str, ExecError> {
    let name = resolve::lookup_name(NAME, "CrowdStrike device", name)?;
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        Ok(name)
    } else {
        Err(ExecError::permanent(format!(
            "{NAME}: will not look up host {name:?}: a Falcon hostname filter only takes \
             letters, digits, '.', '-' and '_'; put the crowdstrike_aid on its record"
        )))
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
    if !accepted {
        // Falcon reports a per-host failure (an unknown AID: code 404) as an
        // `errors[]` entry in an otherwise normal 202; the host is then
        // missing from `resources`.
        let why = errors
            .first()
            .map(|e| format!("{} {}", e["code"], e["message"]))
            .unwrap_or_else(|| "not in the accepted resources".into());
        return Err(ExecError::permanent(format!(
            "{NAME}: device action refused for {aid}: {why}"
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
        Some(ATTR)
    }

    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError> {
        let action = Self::action_name(&req.action).ok_or_else(|| {
            ExecError::permanent(format!("{NAME}: cannot perform {}", req.action))
        })?;
        if self.dry_run {
            return Ok(ExecOutcome::dry_run());
        }
        let aid = self.aid(req).await?;
        let url = format!("{}/devices/entities/devices-actions/v2", self.base);
        let body = serde_json::json!({ "ids": [aid.id] });
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
        contain_result(&aid.id, &reply).map(|out| aid.remember(out))
    }

    async fn confirm(
        &self,
        req: &ExecRequest,
        outcome: &ExecOutcome,
    ) -> Result<Confirmation, ExecError> {
        if outcome.dry_run || self.dry_run {
            return Ok(Confirmation::Confirmed);
        }
        let aid = self.aid(req).await?;
        let status = self.device_status(&aid.id).await?;
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
