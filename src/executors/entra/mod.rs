//! Microsoft Entra ID through Microsoft Graph: disable / enable an account
//! and revoke its sign-in sessions.
//!
//! Client-credentials token (`POST {login_base}/{tenant}/oauth2/v2.0/token`,
//! scope `https://graph.microsoft.com/.default`), cached, refreshed once
//! after a 401. Disable is `PATCH /v1.0/users/{id}` `{"accountEnabled":false}`
//! followed by `POST /v1.0/users/{id}/revokeSignInSessions` (in that order,
//! so no new refresh token can be issued in between, §5.2). PATCHing the
//! value the user already has is a 204 again, so there is no "already"
//! answer to recognise. Graph has no field for the decision id (§9).
//!
//! Graph addresses a user as `/users/{id | userPrincipalName}`, so a user
//! without an `entra_user_id` on their record is addressed by their UPN when
//! the target is one (`local@domain`). A bare name is refused, not looked
//! up: Graph has no one key for it (it could be `mailNickname`,
//! `onPremisesSamAccountName` or a display name, none of them unique by
//! rule), and a guessed filter could disable someone else's account.

use super::config::{self, ConfigError};
use super::http::{self, Reply};
use super::oauth::TokenSource;
use super::resolve::{self, VendorId};
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
use std::time::Duration;

#[cfg(test)]
mod tests;

const NAME: &str = "entra";
/// The record attribute that carries the user's object id.
const ATTR: &str = "entra_user_id";

/// `[entra]` in connectors.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// `https://graph.microsoft.com` (the `/v1.0` is added by the connector).
    #[serde(default = "default_graph")]
    pub base_url: String,
    #[serde(default = "default_login")]
    pub login_base_url: String,
    pub tenant_id: String,
    pub client_id_env: String,
    pub client_secret_env: String,
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Also revoke sessions after disabling the account.
    #[serde(default = "config::default_true")]
    pub revoke_sessions_on_disable: bool,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(
        default = "config::default_timeout",
        deserialize_with = "config::duration"
    )]
    pub timeout: Duration,
}

fn default_graph() -> String {
    "https://graph.microsoft.com".into()
}
fn default_login() -> String {
    "https://login.microsoftonline.com".into()
}
fn default_scope() -> String {
    "https://graph.microsoft.com/.default".into()
}

/// The connector.
#[derive(Debug)]
pub struct Entra {
    base: String,
    revoke_sessions_on_disable: bool,
    dry_run: bool,
    http: reqwest::Client,
    tokens: TokenSource,
}

impl Entra {
    pub fn new(
        cfg: &EntraConfig,
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
        Ok(Entra {
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
            base: format!("{}/v1.0", http::trim_base(&cfg.base_url)),
            revoke_sessions_on_disable: cfg.revoke_sessions_on_disable,
            dry_run: cfg.dry_run,
            http,
        })
    }

    fn expect_ok(what: &str, reply: Reply) -> Result<Reply, ExecError> {
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(http::classify(NAME, what, &reply))
        }
    }

    async fn set_enabled(&self, user: &str, enabled: bool) -> Result<(), ExecError> {
        let url = format!("{}/users/{}", self.base, http::segment(user));
        let body = serde_json::json!({ "accountEnabled": enabled });
        let reply = self
            .tokens
            .send(|auth| {
                self.http
                    .patch(&url)
                    .header("authorization", auth)
                    .json(&body)
            })
            .await?;
        Self::expect_ok("account update", reply).map(|_| ())
    }

    async fn revoke(&self, user: &str) -> Result<(), ExecError> {
        let url = format!(
            "{}/users/{}/revokeSignInSessions",
            self.base,
            http::segment(user)
        );
        let reply = self
            .tokens
            .send(|auth| {
                self.http
                    .post(&url)
                    .header("authorization", auth)
                    // No body; hyper omits `Content-Length: 0` unless told.
                    .header("content-length", "0")
            })
            .await?;
        // Documented 204, really 200 {"value": true}: any 2xx is success.
        Self::expect_ok("revokeSignInSessions", reply).map(|_| ())
    }
}

/// The user as Graph's path takes it: the object id from the record, else
/// the target's user principal name; anything else is a permanent error
/// naming the user, before any request.
fn graph_user(req: &ExecRequest) -> Result<String, ExecError> {
    if let Some(known) = VendorId::known(req, ATTR) {
        return Ok(known.id);
    }
    let name = resolve::lookup_name(NAME, "Entra user", &req.target.value)?;
    if is_upn(name) {
        return Ok(name.to_owned());
    }
    Err(ExecError::permanent(format!(
        "{NAME}: {name:?} is not a user principal name (local@domain) and the user has no \
         {ATTR} on their record; Graph cannot address a bare name"
    )))
}

/// `local@domain.tld`: one `@`, something on each side, a dot in the domain.
fn is_upn(name: &str) -> bool {
    match name.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

#[async_trait::async_trait]
impl Executor for Entra {
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
        let user = graph_user(req)?;
        match req.action {
            ActionKind::DisableUser => {
                self.set_enabled(&user, false).await?;
                if self.revoke_sessions_on_disable {
                    self.revoke(&user).await?;
                }
            }
            ActionKind::EnableUser => self.set_enabled(&user, true).await?,
            _ => self.revoke(&user).await?,
        }
        Ok(ExecOutcome {
            // Revocation has no state to poll beyond the timestamp.
            confirmed: req.action == ActionKind::RevokeSessions,
            ..ExecOutcome::default()
        })
    }

    async fn confirm(
        &self,
        req: &ExecRequest,
        outcome: &ExecOutcome,
    ) -> Result<Confirmation, ExecError> {
        if outcome.dry_run || self.dry_run || outcome.confirmed {
            return Ok(Confirmation::Confirmed);
        }
        let want = match req.action {
            ActionKind::DisableUser => false,
            ActionKind::EnableUser => true,
            _ => return Ok(Confirmation::Confirmed),
        };
        let url = format!("{}/users/{}", self.base, http::segment(&graph_user(req)?));
        let reply = self
            .tokens
            .send(|auth| {
                self.http
                    .get(&url)
                    .query(&[("$select", "accountEnabled,signInSessionsValidFromDateTime")])
                    .header("authorization", auth)
            })
            .await?;
        let reply = Self::expect_ok("user read", reply)?;
        Ok(if reply.json()["accountEnabled"].as_bool() == Some(want) {
            Confirmation::Confirmed
        } else {
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
