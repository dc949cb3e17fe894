//! Configuration: defaults < `config/cordon.toml` < `CORDON_*` environment.
//!
//! Unknown keys in the file are errors (a typo must not silently fall back to
//! a default); unknown `CORDON_*` variables are reported as warnings. Secrets
//! are wrapped in [`Secret`], whose `Debug` never shows the value.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A secret value from the environment. `Debug` and `Display` print `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Durations written as `"30m"` in config files: `#[serde(deserialize_with = "crate::config::dur::de")]`.
pub(crate) mod dur {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;
    pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        crate::domain::time::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// The whole configuration. (serde cannot combine `deny_unknown_fields`
/// with the flattened `sections`, so unknown top-level keys are checked
/// against [`SECTIONS`] after parsing.)
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP server binds (`CORDON_LISTEN`).
    pub listen: String,
    /// `sqlite://PATH` or `postgres://…` (`CORDON_DATABASE_URL`).
    pub database_url: String,
    /// The URL people reach cordon at, for links in chat messages.
    pub public_url: String,
    pub matrix: PathBuf,
    pub playbooks: PathBuf,
    pub connectors: PathBuf,
    /// Folder of operator-editable templates; the built-in defaults are used
    /// for any template missing there.
    pub templates: PathBuf,
    pub database: DatabaseConfig,
    pub ingest: IngestConfig,
    pub engine: EngineConfig,
    pub web: WebConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    /// Free-form tables read by the adapters that own them
    /// (`[enrich]`, `[slack]`, `[discord]`, `[routing]`, `[reports]`).
    #[serde(flatten)]
    pub sections: BTreeMap<String, toml::Value>,
    #[serde(skip)]
    pub secrets: Secrets,
    /// Extra environment for connector secrets, consulted before the process
    /// environment (tests inject fake vendor credentials this way).
    #[serde(skip)]
    pub extra_env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    #[serde(deserialize_with = "dur::de")]
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest accepted request body in bytes (413 above it).
    pub body_limit: usize,
    #[serde(deserialize_with = "dur::de")]
    pub dedup_window: Duration,
    #[serde(deserialize_with = "dur::de")]
    pub correlation_window: Duration,
    /// Alerts waiting for the group commit; beyond it ingest answers 429.
    pub queue_capacity: usize,
    /// Most alerts written in one transaction.
    pub max_batch: usize,
    /// JWT `iss` values accepted from sources.
    pub issuers: Vec<String>,
    /// PEM files of public keys for RS256/ES256 source tokens.
    pub public_keys: Vec<PathBuf>,
    /// Field mapping of the `generic` format.
    pub generic: Option<toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Jobs run concurrently per process.
    pub workers: usize,
    #[serde(deserialize_with = "dur::de")]
    pub job_lease: Duration,
    /// First retry delay; doubles per attempt, with jitter.
    #[serde(deserialize_with = "dur::de")]
    pub retry_base: Duration,
    #[serde(deserialize_with = "dur::de")]
    pub retry_max: Duration,
    pub max_attempts: i64,
    /// How often a connector's confirmation is polled.
    #[serde(deserialize_with = "dur::de")]
    pub confirm_interval: Duration,
    /// Polls before an unconfirmed action is marked failed (retryable).
    pub confirm_attempts: i64,
    /// How often a follower replica tries to take the leader lock (and the
    /// leader checks it still holds it). Takeover after a crash is within
    /// about this long.
    #[serde(deserialize_with = "dur::de")]
    pub leader_interval: Duration,
    /// Jobs that finished (done) are deleted this long after; failed jobs
    /// stay for operators (the `jobs` table, `cordon_jobs{status="failed"}`).
    #[serde(deserialize_with = "dur::de")]
    pub job_retention: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    #[serde(deserialize_with = "dur::de")]
    pub session_ttl: Duration,
    #[serde(deserialize_with = "dur::de")]
    pub login_link_ttl: Duration,
}

/// `[http]`: limits of the HTTP server itself. A client that connects and
/// then sends slowly (or nothing) must not hold a connection, a task and a
/// file descriptor for ever.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The whole request head (request line and headers) must arrive within
    /// this long of the connection opening or of the previous response on a
    /// kept-alive connection; else the connection is closed.
    #[serde(deserialize_with = "dur::de")]
    pub header_read_timeout: Duration,
    /// A request (reading its body included) must be answered within this
    /// long; else it gets `408 Request Timeout`.
    #[serde(deserialize_with = "dur::de")]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info,cordon=debug` (`RUST_LOG` wins).
    pub filter: String,
}

/// Secrets, only ever from the environment.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub ingest_jwt_secret: Option<Secret>,
    pub web_secret: Option<Secret>,
    pub slack_bot_token: Option<Secret>,
    pub slack_signing_secret: Option<Secret>,
    pub slack_app_token: Option<Secret>,
    /// Slack Web API base URL (`CORDON_SLACK_API_URL`; tests, GovSlack). Not secret.
    pub slack_api_url: Option<String>,
    pub discord_bot_token: Option<Secret>,
    pub discord_public_key: Option<String>,
    /// Discord application id (`CORDON_DISCORD_APPLICATION_ID`). Not secret.
    pub discord_application_id: Option<String>,
    /// The guild cordon serves (`CORDON_DISCORD_GUILD_ID`). Not secret.
    pub discord_guild_id: Option<String>,
    /// Discord REST base URL (`CORDON_DISCORD_API_URL`; tests, API proxies). Not secret.
    pub discord_api_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://cordon.db".into(),
            public_url: "http://127.0.0.1:8080".into(),
            matrix: "config/authority.toml".into(),
            playbooks: "config/playbooks.toml".into(),
            connectors: "config/connectors.toml".into(),
            templates: "templates".into(),
            database: DatabaseConfig::default(),
            ingest: IngestConfig::default(),
            engine: EngineConfig::default(),
            web: WebConfig::default(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
            sections: BTreeMap::new(),
            secrets: Secrets::default(),
            extra_env: BTreeMap::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            body_limit: 1024 * 1024,
            dedup_window: Duration::from_secs(3600),
            correlation_window: Duration::from_secs(30 * 60),
            queue_capacity: 20_000,
            max_batch: 1000,
            issuers: vec![],
            public_keys: vec![],
            generic: None,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 16,
            job_lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_attempts: 8,
            confirm_interval: Duration::from_secs(5),
            confirm_attempts: 60,
            leader_interval: Duration::from_secs(2),
            job_retention: Duration::from_secs(7 * 86_400),
        }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            session_ttl: Duration::from_secs(8 * 3600),
            login_link_ttl: Duration::from_secs(15 * 60),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

/// A configuration error that says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}\n  fix the file, or point CORDON_CONFIG at another one")]
    File { path: String, message: String },
    #[error("{var}: {message}")]
    Env { var: String, message: String },
}

/// The free-form sections adapters own; any other unknown top-level key is an error.
pub const SECTIONS: &[&str] = &["enrich", "slack", "discord", "routing", "reports", "digest"];

/// Every `CORDON_*` variable cordon reads; others are reported as unknown.
pub const KNOWN_ENV: &[&str] = &[
    "CORDON_CONFIG",
    "CORDON_LISTEN",
    "CORDON_DATABASE_URL",
    "CORDON_PUBLIC_URL",
    "CORDON_MATRIX",
    "CORDON_LOG_FORMAT",
    "CORDON_INGEST_JWT_SECRET",
    "CORDON_WEB_SECRET",
    "CORDON_SLACK_BOT_TOKEN",
    "CORDON_SLACK_SIGNING_SECRET",
    "CORDON_SLACK_APP_TOKEN",
    "CORDON_SLACK_API_URL",
    "CORDON_DISCORD_BOT_TOKEN",
    "CORDON_DISCORD_PUBLIC_KEY",
    "CORDON_DISCORD_APPLICATION_ID",
    "CORDON_DISCORD_GUILD_ID",
    "CORDON_DISCORD_API_URL",
    "CORDON_TEST_POSTGRES_URL",
    "CORDON_TOKEN",
    // Named by the example config/connectors.toml (`*_env` keys).
    "CORDON_CROWDSTRIKE_CLIENT_ID",
    "CORDON_CROWDSTRIKE_CLIENT_SECRET",
    "CORDON_DEFENDER_CLIENT_ID",
    "CORDON_DEFENDER_CLIENT_SECRET",
    "CORDON_SENTINELONE_API_TOKEN",
    "CORDON_OKTA_API_TOKEN",
    "CORDON_ENTRA_CLIENT_ID",
    "CORDON_ENTRA_CLIENT_SECRET",
    "CORDON_WEBHOOK_SECRET",
];

impl Config {
    /// Loads the file (if it exists; a missing *default* file is fine, a
    /// missing *named* file is an error) and applies the environment.
    /// Returns the config and warnings to log.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        env_names: &[String],
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let explicit = path
            .map(Path::to_path_buf)
            .or_else(|| env("CORDON_CONFIG").map(PathBuf::from));
        let file = explicit
            .clone()
            .unwrap_or_else(|| PathBuf::from("config/cordon.toml"));
        let mut cfg = match std::fs::read_to_string(&file) {
            Ok(text) => toml::from_str::<Config>(&text).map_err(|e| ConfigError::File {
                path: file.display().to_string(),
                message: e.to_string().trim_end().replace('\n', "\n  "),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                Config::default()
            }
            Err(e) => {
                return Err(ConfigError::File {
                    path: file.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        for (key, value) in &cfg.sections {
            if !SECTIONS.contains(&key.as_str()) || !value.is_table() {
                return Err(ConfigError::File {
                    path: file.display().to_string(),
                    message: format!(
                        "unknown key `{key}` (top-level keys are listen, database_url, public_url, matrix, playbooks, \
                         connectors, templates and the tables [database] [ingest] [engine] [web] [http] [log] {})",
                        SECTIONS
                            .iter()
                            .map(|s| format!("[{s}]"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                });
            }
        }
        for (key, d) in [
            ("header_read_timeout", cfg.http.header_read_timeout),
            ("request_timeout", cfg.http.request_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::File {
                    path: file.display().to_string(),
                    message: format!(
                        "[http] {key} must be longer than zero (e.g. \"10s\"): a zero timeout would close every connection"
                    ),
                });
            }
        }
        let mut warnings = Vec::new();
        for name in env_names {
            if name.starts_with("CORDON_") && !KNOWN_ENV.contains(&name.as_str()) {
                warnings.push(format!(
                    "unknown environment variable {name} is ignored (see .env.example for the list)"
                ));
            }
        }
        if let Some(v) = env("CORDON_LISTEN") {
            cfg.listen = v;
        }
        if let Some(v) = env("CORDON_DATABASE_URL") {
            cfg.database_url = v;
        }
        if let Some(v) = env("CORDON_PUBLIC_URL") {
            cfg.public_url = v;
        }
        if let Some(v) = env("CORDON_MATRIX") {
            cfg.matrix = v.into();
        }
        if let Some(v) = env("CORDON_LOG_FORMAT") {
            if v != "text" && v != "json" {
                return Err(ConfigError::Env {
                    var: "CORDON_LOG_FORMAT".into(),
                    message: format!("`{v}`: use text or json"),
                });
            }
            cfg.log.format = v;
        }
        let secret = |n: &str| env(n).filter(|v| !v.is_empty()).map(Secret::new);
        cfg.secrets = Secrets {
            ingest_jwt_secret: secret("CORDON_INGEST_JWT_SECRET"),
            web_secret: secret("CORDON_WEB_SECRET"),
            slack_bot_token: secret("CORDON_SLACK_BOT_TOKEN"),
            slack_signing_secret: secret("CORDON_SLACK_SIGNING_SECRET"),
            slack_app_token: secret("CORDON_SLACK_APP_TOKEN"),
            slack_api_url: env("CORDON_SLACK_API_URL").filter(|v| !v.is_empty()),
            discord_bot_token: secret("CORDON_DISCORD_BOT_TOKEN"),
            discord_public_key: env("CORDON_DISCORD_PUBLIC_KEY").filter(|v| !v.is_empty()),
            discord_application_id: env("CORDON_DISCORD_APPLICATION_ID").filter(|v| !v.is_empty()),
            discord_guild_id: env("CORDON_DISCORD_GUILD_ID").filter(|v| !v.is_empty()),
            discord_api_url: env("CORDON_DISCORD_API_URL").filter(|v| !v.is_empty()),
        };
        if let Some(s) = &cfg.secrets.ingest_jwt_secret
            && s.expose().len() < 32
        {
            return Err(ConfigError::Env {
                var: "CORDON_INGEST_JWT_SECRET".into(),
                message: "is shorter than 32 bytes; generate one with `openssl rand -hex 32`"
                    .into(),
            });
        }
        Ok((cfg, warnings))
    }

    /// Loads from the real process environment.
    pub fn from_env(path: Option<&Path>) -> Result<(Config, Vec<String>), ConfigError> {
        let names: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        Config::load(path, &|k| std::env::var(k).ok(), &names)
    }

    /// A free-form section deserialised by its owner.
    pub fn section<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, ConfigError> {
        match self.sections.get(name) {
            None => Ok(T::default()),
            Some(v) => v
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::File {
                    path: format!("[{name}]"),
                    message: e.to_string(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<(Config, Vec<String>), ConfigError> {
        let dir = tempfile::tempdir().map_err(|e| ConfigError::File {
            path: "tmp".into(),
            message: e.to_string(),
        })?;
        let p = dir.path().join("cordon.toml");
        std::fs::write(&p, text).map_err(|e| ConfigError::File {
            path: "tmp".into(),
            message: e.to_string(),
        })?;
        let map: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let names: Vec<String> = map.keys().cloned().collect();
        Config::load(Some(&p), &|k| map.get(k).cloned(), &names)
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let (c, w) = load(
            "listen = \"0.0.0.0:9000\"\n[ingest]\ndedup_window = \"10m\"\n",
            &[("CORDON_LISTEN", "127.0.0.1:7000")],
        )
        .expect("loads");
        assert_eq!(c.listen, "127.0.0.1:7000");
        assert_eq!(c.ingest.dedup_window, Duration::from_secs(600));
        assert_eq!(c.ingest.correlation_window, Duration::from_secs(1800));
        assert!(w.is_empty());
    }

    #[test]
    fn an_unknown_top_level_key_is_an_error_too() {
        let err = load("lisen = \"0.0.0.0:1\"\n", &[]).expect_err("typo");
        assert!(err.to_string().contains("lisen"), "{err}");
        let (c, _) = load("[enrich]\nbudget = \"1s\"\n", &[]).expect("section");
        assert!(c.sections.contains_key("enrich"));
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_it() {
        let err = load("[ingest]\ndedup_windw = \"10m\"\n", &[]).expect_err("typo");
        let msg = err.to_string();
        assert!(msg.contains("dedup_windw"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn unknown_cordon_variables_are_warned_about_and_secrets_are_redacted() {
        let (c, w) = load(
            "",
            &[
                ("CORDON_LISTNE", "x"),
                ("CORDON_SLACK_BOT_TOKEN", "xoxb-very-secret"),
            ],
        )
        .expect("loads");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("CORDON_LISTNE"));
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn http_timeouts_have_defaults_and_a_typo_is_an_error() {
        let (c, _) = load("[http]\nheader_read_timeout = \"2s\"\n", &[]).expect("loads");
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.http.request_timeout, Duration::from_secs(30));
        let err = load("[http]\nheader_timeout = \"2s\"\n", &[]).expect_err("typo");
        assert!(err.to_string().contains("header_timeout"), "{err}");
    }

    #[test]
    fn a_short_ingest_secret_is_refused_with_a_fix() {
        let err = load("", &[("CORDON_INGEST_JWT_SECRET", "short")]).expect_err("short");
        assert!(err.to_string().contains("openssl rand"));
    }
}
