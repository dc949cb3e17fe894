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

use super::config::{self, ConfigError};
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
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
}

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
        Ok(Command { cfg: cfg.clone() })
    }

    fn args(&self, req: &ExecRequest) -> Vec<String> {
        let id = req.decision_id.to_string();
        self.cfg
            .args
            .iter()
            .map(|a| {
                a.replace("{decision_id}", &id)
                    .replace("{action}", req.action.as_str())
                    .replace("{target}", &req.target.value)
            })
            .collect()
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
        cmd.args(self.args(req))
            .env("CORDON_DECISION_ID", req.decision_id.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(prev) = &req.previous {
            cmd.env("CORDON_PREVIOUS", prev.to_string());
        }
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
