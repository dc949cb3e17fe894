//! Executors: the adapters that carry out one containment action against a
//! vendor API (EDR, identity provider, cloud, webhook, local command).
//!
//! What this module owns: the [`Executor`] port, the request/outcome/error
//! types every connector speaks, the connector config file
//! (`config/connectors.toml`, see [`config`]) and the [`Registry`] that picks a
//! connector for an action.
//!
//! What it must not do: schedule retries, sleep for backoff, or move decision
//! state. A connector performs exactly **one attempt** and classifies the
//! result ([`ExecError::Retryable`] vs [`ExecError::Permanent`]); the job queue
//! in `engine` owns retries, backoff, jitter and the state machine.
//!
//! Rules every connector follows (vendor-apis.md §0 and §9):
//! - read state first where the vendor offers it, and report "already in the
//!   target state" as success with `already = true`;
//! - 429 (with the vendor's wait header) and 5xx are retryable, other 4xx are
//!   permanent, network errors are retryable;
//! - the decision id (`dec-42`) travels wherever the vendor echoes free text
//!   (MDE `Comment`, webhook `Idempotency-Key`, command placeholders);
//! - `dry_run = true` sends nothing at all;
//! - secrets come from env vars named in config and never appear in `Debug`.

pub mod aws_ec2;
pub mod command;
pub mod config;
pub mod crowdstrike;
pub mod defender;
pub mod entra;
mod http;
mod oauth;
pub mod okta;
mod resolve;
pub mod sentinelone;
pub mod webhook;

use crate::domain::{ActionKind, ActionTarget, DecisionId};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use config::{ConfigError, ConnectorsConfig, Secret};

/// The port. One implementation per vendor; `Arc<dyn Executor>` is shared by
/// the job workers, so implementations must be safe to call concurrently
/// (token caches are behind async mutexes).
#[async_trait::async_trait]
pub trait Executor: Send + Sync {
    /// The connector name used in config and routes (`crowdstrike`, `okta`, …).
    fn name(&self) -> &str;
    /// Whether this connector can carry out `action` at all.
    fn supports(&self, action: &ActionKind) -> bool;
    /// The attribute (from the asset/identity record) that carries this
    /// vendor's own id for the target, e.g. `crowdstrike_aid`. The registry
    /// uses it to pick the EDR that actually manages a host. `None` for
    /// generic connectors, which are only chosen by an explicit route.
    fn id_attribute(&self) -> Option<&str> {
        None
    }
    /// One attempt at the action. Never retries on its own except the single
    /// token refresh after a 401 that OAuth-based vendors need.
    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError>;
    /// Poll the vendor for confirmation where it offers status (else
    /// `Ok(Confirmation::Confirmed)` at once).
    async fn confirm(
        &self,
        req: &ExecRequest,
        outcome: &ExecOutcome,
    ) -> Result<Confirmation, ExecError>;
    /// A cheap authenticated call that proves credentials and reachability.
    /// Dry-run connectors answer `Ok` without calling anyone.
    async fn healthcheck(&self) -> Result<(), ExecError>;
}

/// Everything a connector needs for one attempt. Built by the engine from the
/// decision, its target and the enrichment record of the target.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The idempotency key (`dec-42`) sent wherever the vendor allows.
    pub decision_id: DecisionId,
    pub action: ActionKind,
    pub target: ActionTarget,
    /// Vendor ids from the asset/identity record (`crowdstrike_aid`,
    /// `mde_machine_id`, `s1_agent_id`, `okta_user_id`, `entra_user_id`,
    /// `ec2_instance_id`, `aws_region`). When its id is missing a connector
    /// resolves `target.value` through the vendor's lookup API or fails; it
    /// never sends the name as the id (DESIGN §3a.2, see [`resolve`]).
    pub attributes: BTreeMap<String, String>,
    /// State saved by the forward action (e.g. EC2's previous security
    /// groups), handed to the inverse action.
    pub previous: Option<serde_json::Value>,
    /// Human reason, shown in vendor comments where there is a field for it.
    pub reason: String,
}

impl ExecRequest {
    /// The vendor id for the target from its record's attribute, if it has
    /// one. There is deliberately no fallback to the target's name: a name
    /// where the vendor expects an id fails at the vendor, or worse, matches
    /// something else.
    pub fn vendor_id(&self, attribute: &str) -> Option<&str> {
        self.attributes
            .get(attribute)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The idempotency key of this attempt's direction: `dec-42:isolate_host`
    /// for the action, `dec-42:release_host` for its inverse.
    ///
    /// Per decision *and* action, because a receiver that deduplicates on
    /// the key must drop a repeated delivery of the same step (a retry after
    /// a timeout whose first attempt did arrive) and must never drop the
    /// other step: with one key per decision, the release that follows an
    /// isolation was "already done" and the host stayed contained while
    /// cordon recorded it released. Not per attempt: a retry of the same
    /// step must keep its key, or the dedup is useless. One decision runs
    /// its action at most once and its inverse at most once (rolled back is
    /// final; isolating the host again is a new decision with a new id), so
    /// the action name tells the two steps apart without a sequence number.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.decision_id, self.action)
    }

    /// The free-text comment sent to vendors that have one: it starts with the
    /// decision id so the vendor's audit trail points back at the incident.
    pub fn comment(&self) -> String {
        if self.reason.trim().is_empty() {
            format!("cordon {}", self.decision_id)
        } else {
            format!("cordon {}: {}", self.decision_id, self.reason)
        }
    }
}

/// The attribute the engine sets when a target's vendor ids come from the
/// alert (the inventory does not know the target): a connector must check
/// with the vendor that such an id is the device of the target's name
/// before acting on it, since whoever sent the alert chose both.
pub const ALERT_IDS: &str = "vendor_ids_from";

/// What one successful attempt produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecOutcome {
    /// The vendor's handle for the action (MDE machine action id, CrowdStrike
    /// trace id, …), used by [`Executor::confirm`].
    pub vendor_ref: Option<String>,
    /// The vendor said (or a state read showed) the target was already in
    /// the requested state; nothing was changed.
    pub already: bool,
    /// Rollback data for the inverse action (stored with the decision).
    pub saved_state: Option<serde_json::Value>,
    /// The vendor already reported the final state; no polling needed.
    pub confirmed: bool,
    /// Nothing was sent because the connector is in dry-run mode.
    pub dry_run: bool,
}

impl ExecOutcome {
    /// The outcome of a dry run: nothing sent, nothing to confirm.
    pub fn dry_run() -> Self {
        ExecOutcome {
            dry_run: true,
            ..ExecOutcome::default()
        }
    }
}

/// The answer of a confirmation poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    /// Still in progress; poll again later.
    Pending,
    /// The vendor reports that the action failed (the text says how).
    Failed(String),
}

/// How one attempt failed. The job queue retries `Retryable` with backoff
/// (at least `retry_after` when given) and stops on `Permanent`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecError {
    #[error("retryable: {message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("permanent: {message}")]
    Permanent { message: String },
}

impl ExecError {
    pub fn retryable(message: impl Into<String>) -> Self {
        ExecError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        ExecError::Permanent {
            message: message.into(),
        }
    }
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExecError::Retryable { .. })
    }
}

/// All configured connectors plus the routing table.
#[derive(Clone, Default)]
pub struct Registry {
    executors: Vec<Arc<dyn Executor>>,
    /// action name → connector names in preference order.
    routes: BTreeMap<String, Vec<String>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field(
                "executors",
                &self.executors.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("routes", &self.routes)
            .finish()
    }
}

impl Registry {
    /// Builds every connector present in the config. Fails with a message
    /// naming the missing env var when a live (not dry-run) connector has no
    /// secret, or naming the unknown connector in `[routes]`.
    pub fn from_config(
        cfg: &ConnectorsConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Registry, ConfigError> {
        let mut executors: Vec<Arc<dyn Executor>> = Vec::new();
        if let Some(c) = &cfg.crowdstrike {
            executors.push(Arc::new(crowdstrike::CrowdStrike::new(c, env)?));
        }
        if let Some(c) = &cfg.defender {
            executors.push(Arc::new(defender::Defender::new(c, env)?));
        }
        if let Some(c) = &cfg.sentinelone {
            executors.push(Arc::new(sentinelone::SentinelOne::new(c, env)?));
        }
        if let Some(c) = &cfg.okta {
            executors.push(Arc::new(okta::Okta::new(c, env)?));
        }
        if let Some(c) = &cfg.entra {
            executors.push(Arc::new(entra::Entra::new(c, env)?));
        }
        if let Some(c) = &cfg.aws_ec2 {
            executors.push(Arc::new(aws_ec2::AwsEc2::new(c, env)?));
        }
        if let Some(c) = &cfg.webhook {
            executors.push(Arc::new(webhook::Webhook::new(c, env)?));
        }
        if let Some(c) = &cfg.command {
            executors.push(Arc::new(command::Command::new(c)?));
        }
        let mut routes = BTreeMap::new();
        for (action, names) in &cfg.routes {
            let kind: ActionKind = action
                .parse()
                .map_err(|e: String| ConfigError::new(format!("[routes] {e}")))?;
            let names = names.clone().into_vec();
            for name in &names {
                let Some(ex) = executors.iter().find(|e| e.name() == name) else {
                    return Err(ConfigError::new(format!(
                        "[routes] {action} names connector `{name}`, which is not configured; \
                         add a [{name}] table or remove it from the route"
                    )));
                };
                if !ex.supports(&kind) {
                    return Err(ConfigError::new(format!(
                        "[routes] connector `{name}` cannot perform `{action}`"
                    )));
                }
            }
            routes.insert(kind.as_str().to_owned(), names);
        }
        Ok(Registry { executors, routes })
    }

    /// Builds a registry from ready connectors (tests, custom wiring).
    pub fn from_parts(
        executors: Vec<Arc<dyn Executor>>,
        routes: BTreeMap<String, Vec<String>>,
    ) -> Registry {
        Registry { executors, routes }
    }

    /// Picks the connector for an action on a target with these attributes.
    ///
    /// 1. With a route for the action: the first routed connector whose vendor
    ///    id attribute the target has (the EDR that actually manages the
    ///    host); if none has one, the first routed connector.
    /// 2. Without a route: the first configured connector that supports the
    ///    action and whose vendor id the target has. Generic connectors
    ///    (webhook, command) are only ever chosen by a route.
    pub fn for_action(
        &self,
        action: &ActionKind,
        attributes: &BTreeMap<String, String>,
    ) -> Option<Arc<dyn Executor>> {
        let has_id = |e: &Arc<dyn Executor>| {
            e.id_attribute()
                .is_some_and(|a| attributes.get(a).is_some_and(|v| !v.trim().is_empty()))
        };
        if let Some(names) = self.routes.get(action.as_str()) {
            let routed: Vec<&Arc<dyn Executor>> = names
                .iter()
                .filter_map(|n| self.executors.iter().find(|e| e.name() == n))
                .filter(|e| e.supports(action))
                .collect();
            return routed
                .iter()
                .find(|e| has_id(e))
                .or_else(|| routed.first())
                .map(|e| Arc::clone(e));
        }
        self.executors
            .iter()
            .find(|e| e.supports(action) && has_id(e))
            .cloned()
    }

    /// Every configured connector (for healthchecks and the console).
    pub fn all(&self) -> Vec<Arc<dyn Executor>> {
        self.executors.clone()
    }

    /// A connector by name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Executor>> {
        self.executors.iter().find(|e| e.name() == name).cloned()
    }
}

#[cfg(test)]
mod tests;
