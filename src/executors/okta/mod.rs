//! Okta: suspend / unsuspend a user and clear their sessions.
//!
//! `Authorization: SSWS <token>`. Suspend and unsuspend are `POST
//! /api/v1/users/{id}/lifecycle/{suspend|unsuspend}` without a body; a 400
//! means the user is not in the state the transition starts from, so the
//! user is re-read and the 400 counts as "already" when the status is the
//! target one (vendor-apis.md §4.3). Sessions are cleared with
//! `DELETE /api/v1/users/{id}/sessions?oauthTokens=true`. On 429 the wait is
//! taken from `X-Rate-Limit-Reset` (epoch seconds). Okta has no field for the
//! decision id (§9).
//!
//! A user without an `okta_user_id` on their record is looked up with
//! `GET /api/v1/users/{login}` (Okta takes a login there) and acted on by the
//! `id` it answers; a 404 is a permanent error naming the user. Okta also
//! answers that call for a user *id*, so the answer's `profile.login` must be
//! the name asked for (or its short form before `@`): a value that only
//! matches as another account's id is refused, not acted on.

use super::config::{self, ConfigError, Secret};
use super::http::{self, Reply};
use super::resolve::{self, VendorId};
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(test)]
mod tests;

const NAME: &str = "okta";
/// The record attribute that carries the user id.
const ATTR: &str = "okta_user_id";

/// `[okta]` in connectors.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OktaConfig {
    /// `https://acme.okta.com`.
    pub base_url: String,
    pub api_token_env: String,
    /// Also clear the user's sessions after suspending (suspend alone keeps
    /// existing sessions alive).
    #[serde(default = "config::default_true")]
    pub clear_sessions_on_disable: bool,
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
pub struct Okta {
    base: String,
    token: Secret,
    clear_sessions_on_disable: bool,
    dry_run: bool,
    http: reqwest::Client,
}

impl Okta {
    pub fn new(
        cfg: &OktaConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Ok(Okta {
            token: config::secret(env, NAME, "api_token_env", &cfg.api_token_env, cfg.dry_run)?,
            base: http::trim_base(&cfg.base_url),
            clear_sessions_on_disable: cfg.clear_sessions_on_disable,
            dry_run: cfg.dry_run,
            http: http::client(cfg.timeout)?,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str) -> Result<Reply, ExecError> {
        http::send(
            NAME,
            self.http
                .request(method, format!("{}{path}", self.base))
                .header("authorization", format!("SSWS {}", self.token.expose()))
                .header("accept", "application/json")
                // Lifecycle calls have no body, and hyper omits
                // `Content-Length: 0` unless told; some gateways answer 411.
                .header("content-length", "0"),
        )
        .await
    }

    /// `status` of the user, and whether a transition is still in flight.
    async fn user_status(&self, user: &str) -> Result<(String, bool), ExecError> {
        let reply = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/users/{}", http::segment(user)),
            )
            .await?;
        if !reply.status.is_success() {
            return Err(classify("user read", &reply));
        }
        let json = reply.json();
        let status = json["status"].as_str().unwrap_or("").to_owned();
        Ok((status, !json["transitioningToStatus"].is_null()))
    }

    /// The target's Okta id: from their record, from this decision's forward
    /// lookup, or looked up now by login.
    async fn user(&self, req: &ExecRequest) -> Result<VendorId, ExecError> {
        if let Some(known) = VendorId::known(req, ATTR) {
            return Ok(known);
        }
        let login = resolve::lookup_name(NAME, "Okta user", &req.target.value)?;
        let reply = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/users/{}", http::segment(login)),
            )
            .await?;
        if reply.status == reqwest::StatusCode::NOT_FOUND {
            return Err(resolve::not_found(NAME, "Okta user", ATTR, login));
        }
        if !reply.status.is_success() {
            return Err(classify("user lookup", &reply));
        }
        let json = reply.json();
        let found = json["profile"]["login"].as_str().unwrap_or("");
        if !login_matches(found, login) {
            return Err(ExecError::permanent(format!(
                "{NAME}: looking up the login {login:?} found the Okta user {found:?}, which \
                 is not that login; put the okta_user_id on the record"
            )));
        }
        match json["id"].as_str().filter(|id| !id.trim().is_empty()) {
            Some(id) => Ok(VendorId::looked_up(ATTR, id.to_owned())),
            None => Err(ExecError::permanent(format!(
                "{NAME}: the user read for {login:?} carries no id"
            ))),
        }
    }

    async fn lifecycle(
        &self,
        user: &str,
        verb: &str,
        target: &str,
    ) -> Result<ExecOutcome, ExecError> {
        let reply = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/users/{}/lifecycle/{verb}", http::segment(user)),
            )
            .await?;
        if reply.status.is_success() {
            return Ok(ExecOutcome::default());
        }
        if reply.status == reqwest::StatusCode::BAD_REQUEST {
            let (status, _) = self.user_status(user).await?;
            if status == target {
                return Ok(ExecOutcome {
                    already: true,
                    confirmed: true,
                    ..ExecOutcome::default()
                });
            }
        }
        Err(classify(verb, &reply))
    }

    async fn clear_sessions(&self, user: &str) -> Result<(), ExecError> {
        let reply = self
            .call(
                reqwest::Method::DELETE,
                &format!(
                    "/api/v1/users/{}/sessions?oauthTokens=true",
                    http::segment(user)
                ),
            )
            .await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(classify("clear sessions", &reply))
        }
    }
}

/// Whether the login Okta answered with is the one asked for: equal, or
/// the asked name is its short form (the part before `@`), which Okta also
/// accepts in the path. Logins are case-insensitive in Okta.
fn login_matches(found: &str, asked: &str) -> bool {
    found.eq_ignore_ascii_case(asked)
        || found
            .split_once('@')
            .is_some_and(|(short, _)| short.eq_ignore_ascii_case(asked))
}

/// The common classification, plus Okta's `X-Rate-Limit-Reset` on 429.
fn classify(what: &str, reply: &Reply) -> ExecError {
    let mut err = http::classify(NAME, what, reply);
    if reply.status == reqwest::StatusCode::TOO_MANY_REQUESTS
        && let ExecError::Retryable { retry_after, .. } = &mut err
        && retry_after.is_none()
    {
        *retry_after = reset_wait(reply);
    }
    err
}

/// Seconds until `X-Rate-Limit-Reset` (UTC epoch seconds), at least one.
fn reset_wait(reply: &Reply) -> Option<Duration> {
    let reset: u64 = reply
        .headers
        .get("x-rate-limit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

#[async_trait::async_trait]
impl Executor for Okta {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, action: &ActionKind) -> bool {
        matches!(
            action,
            ActionKind::DisableUser | ActionKind::EnableUser | ActionKind::RevokeSessions
        )
    }

    fn id_attribute(&self) -> Option<&str> {
        Some(ATTR)
    }

    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError> {
        if !self.supports(&req.action) {
            return Err(ExecError::permanent(format!(
                "{NAME}: cannot perform {}",
                req.action
            )));
        }
        if self.dry_run {
            return Ok(ExecOutcome::dry_run());
        }
        let id = self.user(req).await?;
        let user = id.id.as_str();
        let out = match req.action {
            ActionKind::DisableUser => {
                let out = self.lifecycle(user, "suspend", "SUSPENDED").await?;
                if self.clear_sessions_on_disable {
                    self.clear_sessions(user).await?;
                }
                out
            }
            ActionKind::EnableUser => self.lifecycle(user, "unsuspend", "ACTIVE").await?,
            _ => {
                self.clear_sessions(user).await?;
                ExecOutcome {
                    confirmed: true,
                    ..ExecOutcome::default()
                }
            }
        };
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
        let target = match req.action {
            ActionKind::DisableUser => "SUSPENDED",
            ActionKind::EnableUser => "ACTIVE",
            _ => return Ok(Confirmation::Confirmed),
        };
        let id = self.user(req).await?;
        let (status, transitioning) = self.user_status(&id.id).await?;
        Ok(if status == target && !transitioning {
            Confirmation::Confirmed
        } else {
            Confirmation::Pending
        })
    }

    async fn healthcheck(&self) -> Result<(), ExecError> {
        if self.dry_run {
            return Ok(());
        }
        let reply = self.call(reqwest::Method::GET, "/api/v1/users/me").await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(classify("healthcheck", &reply))
        }
    }
}
