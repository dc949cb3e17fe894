//! Local command: runs a program with arguments (never through a shell), for
//! tools only reachable by a CLI or script.
//!
//! Each argument may contain `{decision_id}`, `{action}` and `{target}`,
//! substituted per argument, so a target value can never split into extra
//! arguments or be interpreted by a shell. The previous state, if any, is
//! passed as JSON in `CORDON_PREVIOUS`. Exit 0 is success; an exit code
//! listed in `retryable_exit_codes` (or a timeout) is retryable; anything
//! else is permanent. Stdout (capped) becomes `vendor_ref` (first line) and
//! `saved_state` (parsed as JSON when it is JSON).
//!
//! Two rules keep alert text and cordon's secrets where they belong:
//!
//! - **No value becomes an option.** The target comes from an alert; a host
//!   named `-rf` or `--config=/tmp/x` in `args = ["{target}"]` would be read
//!   by the program as an option. An argument that starts with `-` only
//!   because of what was substituted into it is refused (permanent error),
//!   before anything runs. Refused rather than put after `--`: cordon
//!   cannot know where in an operator's argument list `--` would be right
//!   (`ssh host tool {target}`, options after the target), not every program
//!   honours `--`, and no real host, IP, user or instance id starts with
//!   `-`. An option written by the operator (`--target={target}`) is fine:
//!   the value is glued to it.
//! - **The child gets a clean environment.** cordon's own environment holds
//!   its secrets (`CORDON_INGEST_JWT_SECRET`, `CORDON_WEB_SECRET`, chat and
//!   vendor tokens, the database URL); a script, or anything it runs, must
//!   not read them. The child sees only `PATH`, `HOME`, `LANG`, `LC_ALL`
//!   and `TZ` from cordon's environment, the names listed in `pass_env`,
//!   the values of `env`, and `CORDON_DECISION_ID` / `CORDON_PREVIOUS`.

use super::config::{self, ConfigError};
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

#[cfg(test)]
mod tests;

const NAME: &str = "command";

/// `[command]` in connectors.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// Program path (or name looked up in `PATH`).
    pub program: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Actions this command performs; empty means every action.
    #[serde(default)]
    pub actions: Vec<ActionKind>,
    #[serde(default)]
    pub retryable_exit_codes: Vec<i32>,
    /// Bytes of stdout kept.
    #[serde(default = "default_max_output")]
    pub max_output: usize,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default = "default_timeout", deserialize_with = "config::duration")]
    pub timeout: Duration,
    /// Variables of cordon's environment passed to the program (besides
    /// [`BASE_ENV`]), e.g. the tool's own API token. `CORDON_*` names are
    /// refused: those are cordon's settings and secrets.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Variables set for the program, with their values.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// What every program gets from cordon's environment: finding programs,
/// a home and the locale, none of them secret.
pub const BASE_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ"];

fn default_max_output() -> usize {
    4096
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// The connector.
#[derive(Debug)]
pub struct Command {
    cfg: CommandConfig,
}

impl Command {
    pub fn new(cfg: &CommandConfig) -> Result<Self, ConfigError> {
        if cfg.program.trim().is_empty() {
            return Err(ConfigError::new("[command] program must not be empty"));
        }
        for name in cfg.pass_env.iter().chain(cfg.env.keys()) {
            if name.starts_with("CORDON_") {
                return Err(ConfigError::new(format!(
                    "[command] `{name}`: CORDON_* variables are cordon's own settings and secrets \
                     and are never passed to the program; give the program's variable another name"
                )));
            }
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(ConfigError::new(format!(
                    "[command] `{name}` is not a valid environment variable name"
                )));
            }
        }
        Ok(Command { cfg: cfg.clone() })
    }

    /// The arguments with the placeholders substituted. Refuses an argument
    /// that substitution turned into an option (see the module docs).
    fn args(&self, req: &ExecRequest) -> Result<Vec<String>, ExecError> {
        let id = req.decision_id.to_string();
        self.cfg
            .args
            .iter()
            .map(|a| {
                let arg = a
                    .replace("{decision_id}", &id)
                    .replace("{action}", req.action.as_str())
                    .replace("{target}", &req.target.value);
                if arg.starts_with('-') && !a.starts_with('-') {
                    return Err(ExecError::permanent(format!(
                        "{NAME}: refusing to run {}: the target `{}` would become the option `{arg}`",
                        self.cfg.program, req.target.value
                    )));
                }
                Ok(arg)
            })
            .collect()
    }

    /// The program's whole environment: nothing of cordon's but
    /// [`BASE_ENV`] and `pass_env`, then `env`, then the decision.
    fn environment(&self, req: &ExecRequest) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = BASE_ENV
            .iter()
            .copied()
            .chain(self.cfg.pass_env.iter().map(String::as_str))
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_owned(), v)))
            .collect();
        vars.extend(self.cfg.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars.push(("CORDON_DECISION_ID".into(), req.decision_id.to_string()));
        if let Some(prev) = &req.previous {
            vars.push(("CORDON_PREVIOUS".into(), prev.to_string()));
        }
        vars
    }
}

/// Reads at most `max` bytes, then drains the rest so the child never blocks
/// on a full pipe.
async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    r: Option<&mut R>,
    max: usize,
) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(r) = r {
        (&mut *r).take(max as u64).read_to_end(&mut buf).await?;
        tokio::io::copy(r, &mut tokio::io::sink()).await?;
    }
    Ok(buf)
}

#[async_trait::async_trait]
impl Executor for Command {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, action: &ActionKind) -> bool {
        self.cfg.actions.is_empty() || self.cfg.actions.contains(action)
    }

    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError> {
        if self.cfg.dry_run {
            return Ok(ExecOutcome::dry_run());
        }
        let mut cmd = tokio::process::Command::new(&self.cfg.program);
        cmd.args(self.args(req)?)
            .env_clear()
            .envs(self.environment(req))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            ExecError::permanent(format!("{NAME}: cannot start {}: {e}", self.cfg.program))
        })?;
        let max = self.cfg.max_output;
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let run = async {
            let (out, err) = tokio::join!(
                read_capped(stdout.as_mut(), max),
                read_capped(stderr.as_mut(), 512)
            );
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, out?, err?))
        };
        let (status, buf, errbuf) = match tokio::time::timeout(self.cfg.timeout, run).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return Err(ExecError::retryable(format!("{NAME}: i/o error: {e}")));
            }
            Err(_) => {
                return Err(ExecError::retryable(format!(
                    "{NAME}: {} timed out after {:?}",
                    self.cfg.program, self.cfg.timeout
                )));
            }
        };
        let stderr_text = String::from_utf8_lossy(&errbuf).trim().to_owned();
        let out = String::from_utf8_lossy(&buf).trim().to_owned();
        match status.code() {
            Some(0) => Ok(ExecOutcome {
                vendor_ref: out
                    .lines()
                    .next()
                    .map(str::to_owned)
                    .filter(|l| !l.is_empty()),
                saved_state: (!out.is_empty()).then(|| {
                    serde_json::from_str(&out)
                        .unwrap_or_else(|_| serde_json::json!({ "stdout": out }))
                }),
                confirmed: true,
                ..ExecOutcome::default()
            }),
            Some(code) if self.cfg.retryable_exit_codes.contains(&code) => {
                Err(ExecError::retryable(format!(
                    "{NAME}: {} exited with {code}: {stderr_text}",
                    self.cfg.program
                )))
            }
            Some(code) => Err(ExecError::permanent(format!(
                "{NAME}: {} exited with {code}: {stderr_text}",
                self.cfg.program
            ))),
            None => Err(ExecError::retryable(format!(
                "{NAME}: {} was killed by a signal",
                self.cfg.program
            ))),
        }
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
