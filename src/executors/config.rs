//! The connector config file (`config/connectors.toml`): one optional table
//! per connector plus `[routes]`. Parsing is strict (`deny_unknown_fields`)
//! so a typo in a key is an error, not a silently ignored setting.
//!
//! Secrets are never in the file: each connector names the env vars that hold
//! them (`client_secret_env = "CORDON_CROWDSTRIKE_CLIENT_SECRET"`), and the
//! values live only in [`Secret`], whose `Debug` is redacted.

use super::{aws_ec2, command, crowdstrike, defender, entra, okta, sentinelone, webhook};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// `config/connectors.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorsConfig {
    pub crowdstrike: Option<crowdstrike::CrowdStrikeConfig>,
    pub defender: Option<defender::DefenderConfig>,
    pub sentinelone: Option<sentinelone::SentinelOneConfig>,
    pub okta: Option<okta::OktaConfig>,
    pub entra: Option<entra::EntraConfig>,
    pub aws_ec2: Option<aws_ec2::AwsEc2Config>,
    pub webhook: Option<webhook::WebhookConfig>,
    pub command: Option<command::CommandConfig>,
    /// action name → connector name, or a list of names in preference order
    /// (the first one whose vendor id the target has wins).
    #[serde(default)]
    pub routes: BTreeMap<String, RouteTargets>,
}

/// One route: `isolate_host = "crowdstrike"` or
/// `isolate_host = ["crowdstrike", "defender"]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RouteTargets {
    One(String),
    Many(Vec<String>),
}

impl RouteTargets {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            RouteTargets::One(s) => vec![s],
            RouteTargets::Many(v) => v,
        }
    }
}

impl ConnectorsConfig {
    /// Parses the TOML text; the error says which key is wrong.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::new(format!("connectors config: {e}")))
    }

    /// Reads and parses a file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
    }
}

/// A fatal config problem, phrased so the operator knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    pub fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

/// A secret value read from the environment. `Debug` and `Display` never show
/// it; only [`Secret::expose`] does, at the point where it goes on the wire.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads the secret named by `var` from `env`. A live connector without it is
/// a config error naming the variable; a dry-run connector gets an empty
/// secret because it never sends anything.
pub(crate) fn secret(
    env: &dyn Fn(&str) -> Option<String>,
    connector: &str,
    key: &str,
    var: &str,
    dry_run: bool,
) -> Result<Secret, ConfigError> {
    match env(var).filter(|v| !v.is_empty()) {
        Some(v) => Ok(Secret(v)),
        None if dry_run => Ok(Secret::default()),
        None => Err(ConfigError::new(format!(
            "[{connector}] {key} names env var {var}, which is not set; export {var} \
             or set dry_run = true for this connector"
        ))),
    }
}

/// The default per-request timeout of every connector.
pub(crate) fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Serde helper for durations written as `"10s"`, `"2m"`, `"500ms"`.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!("`{s}` is not a duration ({e}); write e.g. \"10s\""))
    })
}

pub(crate) fn default_true() -> bool {
    true
}
