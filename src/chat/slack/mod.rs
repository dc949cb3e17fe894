//! The Slack surface: posts and updates incident messages, turns clicks and
//! slash commands into engine calls.
//!
//! - **Posting** runs as `chat` jobs of the engine's durable queue (one
//!   platform+incident at a time, in order, retried with Slack's
//!   `Retry-After` on 429). Each job brings Slack in line with the incident:
//!   post the main message if there is none (creating the incident channel
//!   first when routing says so), else `chat.update` it if what it shows
//!   changed, then post every thread item not posted yet. What was
//!   posted is recorded in `chat_state` right after each call, so a retried
//!   job continues where the last one stopped and posts nothing twice.
//! - **Interactions** (`/slack/interactions`, `/slack/commands`,
//!   `/slack/events`, see [`http`]) are verified with the signing secret
//!   before anything is parsed ([`verify`]); Socket Mode ([`socket`]) feeds
//!   the same handlers ([`interact`]).
//! - **Identity**: the Slack user id the signed request names, plus the user
//!   groups Slack says that user is in ([`groups`]); the matrix maps both to
//!   people and roles.

pub mod api;
pub mod groups;
pub mod http;
pub mod interact;
pub mod render;
pub mod socket;
pub mod verify;

use crate::chat::routing::{Destination, RouteFacts, Routing};
pub use crate::chat::sync::SyncError;
use crate::chat::{IncidentMessage, incident_channel_name, timeline};
use crate::config::Secret;
use crate::domain::{IncidentId, Matrix};
use crate::engine::{ChatJobError, ChatSurface, Engine};
use crate::templates::Templates;
use api::{SlackApi, SlackError};
use serde::Deserialize;
use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;

pub const PLATFORM: &str = "slack";

use crate::config::dur;

/// The `[slack]` section of `cordon.toml`. Secrets are not here: they come
/// from `CORDON_SLACK_*` only.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Web API base URL (`CORDON_SLACK_API_URL` wins); default `https://slack.com/api`.
    pub api_url: Option<String>,
    /// Least time between two posts in one channel.
    #[serde(deserialize_with = "dur::de")]
    pub pacing: Duration,
    /// A post whose pacing slot is further away goes back to the job queue.
    #[serde(deserialize_with = "dur::de")]
    pub max_pacing_wait: Duration,
    /// How often user groups are re-read.
    #[serde(deserialize_with = "dur::de")]
    pub group_refresh: Duration,
    /// Least time between two refreshes caused by an unknown clicker.
    #[serde(deserialize_with = "dur::de")]
    pub group_miss_refresh: Duration,
    /// Per-incident channels are private.
    pub private_channels: bool,
    /// Invite the people involved into per-incident channels.
    pub invite: bool,
    /// The workspace (`T…`) cordon serves; payloads from any other are
    /// ignored. Unset: the bot token's own workspace, which cordon reads
    /// with `auth.test` at start (and, until Slack answers, accepts no
    /// payload at all).
    pub team_id: Option<String>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            api_url: None,
            pacing: Duration::from_secs(1),
            max_pacing_wait: Duration::from_secs(10),
            group_refresh: Duration::from_secs(300),
            group_miss_refresh: Duration::from_secs(30),
            private_channels: false,
            invite: true,
            team_id: None,
        }
    }
}

/// The Slack surface. Shared as `Arc<Slack>` by the chat jobs, the HTTP
/// routes and the Socket Mode listener.
pub struct Slack {
    pub api: SlackApi,
    pub cfg: SlackConfig,
    pub templates: Templates,
    pub routing: Routing,
    pub groups: groups::GroupCache,
    pacer: crate::chat::Pacer,
    /// `None`: the HTTP endpoints refuse everything (Socket Mode only).
    signing_secret: Option<Secret>,
    pub replay: verify::ReplayGuard,
    /// For links in replies (`/cordon report`).
    pub public_url: String,
    /// Signs report links.
    pub web_secret: Option<Secret>,
    /// The bot token's workspace, once `auth.test` has said it (see
    /// [`Slack::team`]).
    token_team: std::sync::OnceLock<String>,
}

/// How long one `auth.test` at start may take before cordon starts
/// without knowing its workspace (and keeps asking in the background).
const AUTH_TEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The first and the longest wait between two `auth.test` attempts.
const AUTH_RETRY_FIRST: Duration = Duration::from_secs(1);
const AUTH_RETRY_MAX: Duration = Duration::from_secs(60);

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack").field("cfg", &self.cfg).finish()
    }
}

/// What [`Slack::new`] needs.
pub struct SlackParts {
    pub bot_token: Secret,
    pub signing_secret: Option<Secret>,
    pub cfg: SlackConfig,
    pub routing: Routing,
    pub templates: Templates,
    pub public_url: String,
    pub web_secret: Option<Secret>,
}

impl Slack {
    pub fn new(parts: SlackParts, matrix: &Matrix) -> std::io::Result<Slack> {
        let client = api::client(parts.cfg.api_url.as_deref())?;
        let groups: Vec<String> = matrix
            .roles
            .values()
            .flat_map(|r| r.slack_groups.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(Slack {
            api: SlackApi::new(client, parts.bot_token.expose()),
            groups: groups::GroupCache::new(groups, parts.cfg.group_miss_refresh),
            pacer: crate::chat::Pacer::new(parts.cfg.pacing, parts.cfg.max_pacing_wait),
            cfg: parts.cfg,
            templates: parts.templates,
            routing: parts.routing,
            signing_secret: parts.signing_secret,
            replay: verify::ReplayGuard::default(),
            public_url: parts.public_url,
            web_secret: parts.web_secret,
            token_team: std::sync::OnceLock::new(),
        })
    }

    /// The workspace cordon serves: `[slack] team_id`, else the bot
    /// token's own (from `auth.test`). `None` until it is known, and then
    /// every interaction and command is refused: accepting any workspace
    /// while Slack is unreachable would let another workspace's members
    /// click cordon's buttons.
    pub fn team(&self) -> Option<&str> {
        self.cfg
            .team_id
            .as_deref()
            .or_else(|| self.token_team.get().map(String::as_str))
    }

    /// Asks Slack once which workspace the bot token belongs to, unless
    /// that is known already. True when it is known afterwards.
    pub async fn learn_workspace(&self) -> bool {
        if self.team().is_some() {
            return true;
        }
        match tokio::time::timeout(AUTH_TEST_TIMEOUT, self.api.auth_test()).await {
            Ok(Ok(team)) => {
                tracing::info!(team = %team, "slack: serving the bot token's workspace");
                let _ = self.token_team.set(team);
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "slack: auth.test failed; interactions are refused until it succeeds");
                false
            }
            Err(_) => {
                tracing::warn!(
                    "slack: auth.test timed out; interactions are refused until it succeeds"
                );
                false
            }
        }
    }

    /// Keeps asking `auth.test` (1 s, 2 s, … up to a minute apart) until
    /// the workspace is known or cordon stops. `None` when it is known.
    pub fn spawn_workspace_lookup(
        self: &Arc<Self>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.team().is_some() {
            return None;
        }
        let me = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut wait = AUTH_RETRY_FIRST;
            while !me.learn_workspace().await {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(AUTH_RETRY_MAX);
            }
        }))
    }

    pub fn signing_secret(&self) -> Option<&str> {
        self.signing_secret.as_ref().map(Secret::expose)
    }

    /// Refreshes the user groups every `group_refresh` until shutdown.
    pub fn spawn_group_refresh(
        self: &Arc<Self>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                me.groups.refresh(&me.api).await;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(me.cfg.group_refresh) => {}
                }
            }
        })
    }

    async fn paced(&self, channel: &str) -> Result<(), SlackError> {
        self.pacer
            .wait(channel)
            .await
            .map_err(|after| SlackError::Retry {
                method: "chat.postMessage",
                message: format!("channel {channel} is busy (pacing)"),
                after: Some(after),
            })
    }

    /// Where the incident's first message goes. For a per-incident channel
    /// it creates the channel (a name already taken, e.g. by a run that
    /// crashed before recording it, gets a suffix) and records it at once,
    /// before anything else can fail.
    async fn open_channel(
        &self,
        engine: &Engine,
        m: &IncidentMessage,
        team: Option<&str>,
    ) -> Result<String, SyncError> {
        let incident = IncidentId(m.incident_id);
        let facts = RouteFacts {
            severity: m.severity.parse().ok(),
            environment: m.asset.as_ref().and_then(|a| a.environment.as_deref()),
            team,
            tier: m.asset.as_ref().and_then(|a| a.tier.as_deref()),
        };
        let (id, own) = match self.routing.destination(PLATFORM, &facts) {
            Err(e) => return Err(SyncError::Permanent(e.to_string())),
            Ok(Destination::Channel(c)) => (c, false),
            Ok(Destination::IncidentChannel) => {
                let base = incident_channel_name(m.incident_id, m.opened_at, &m.title);
                let mut created = None;
                for n in 1..=5 {
                    let name = if n == 1 {
                        base.clone()
                    } else {
                        format!("{}-{n}", base.chars().take(77).collect::<String>())
                    };
                    match self
                        .api
                        .create_channel(&name, self.cfg.private_channels)
                        .await
                    {
                        Ok(id) => {
                            created = Some(id);
                            break;
                        }
                        Err(e) if e.code() == "name_taken" => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                let id = created.ok_or_else(|| {
                    SyncError::Permanent(format!("channel names {base}(-2..-5) are all taken"))
                })?;
                (id, true)
            }
        };
        let now = engine.now();
        engine
            .store
            .put_chat_state(PLATFORM, incident, "channel", &id, now)
            .await?;
        if own {
            engine
                .store
                .put_chat_state(PLATFORM, incident, "own_channel", "true", now)
                .await?;
        }
        Ok(id)
    }

    /// Invites into the incident's own channel everyone who may act on one
    /// of its decisions and was not invited yet (escalations and new
    /// decisions bring new people). An invitation Slack refuses for good
    /// (a missing scope, a deactivated user) is logged and does not stop
    /// the incident from being posted.
    async fn invite_new(
        &self,
        engine: &Engine,
        m: &IncidentMessage,
        channel: &str,
        state: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), SyncError> {
        if !self.cfg.invite || state.get("own_channel").map(String::as_str) != Some("true") {
            return Ok(());
        }
        let matrix = engine.matrix();
        let mut users: std::collections::BTreeSet<String> = m
            .people_involved(&matrix)
            .iter()
            .filter_map(|p| matrix.people.get(p).and_then(|p| p.slack.clone()))
            .collect();
        let groups: Vec<String> = m
            .roles_involved()
            .iter()
            .filter_map(|r| matrix.roles.get(r))
            .flat_map(|r| r.slack_groups.iter().cloned())
            .collect();
        users.extend(self.groups.members_of(&groups).await);
        let done: std::collections::BTreeSet<String> = state
            .get("invited")
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let new: Vec<String> = users.difference(&done).cloned().collect();
        if new.is_empty() {
            return Ok(());
        }
        match self.api.invite(channel, &new).await {
            Ok(()) => {}
            Err(e @ SlackError::Retry { .. }) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(channel = %channel, error = %e, "slack: could not invite the people involved")
            }
        }
        let all: Vec<String> = users.union(&done).cloned().collect();
        engine
            .store
            .put_chat_state(
                PLATFORM,
                IncidentId(m.incident_id),
                "invited",
                &all.join(","),
                engine.now(),
            )
            .await?;
        Ok(())
    }

    /// Brings Slack in line with one incident (see the module docs).
    pub async fn sync(&self, engine: &Engine, incident: IncidentId) -> Result<(), SyncError> {
        let store = &engine.store;
        let (view, m) = match crate::chat::load_model(engine, incident).await {
            Ok(Some(x)) => x,
            Ok(None) => return Ok(()),
            Err(e) => return Err(SyncError::Retry(e, None)),
        };
        let now = engine.now();
        let mut state = store.chat_state(PLATFORM, incident).await?;
        let console = crate::chat::console_link(&self.public_url, m.incident_id);
        let content = render::incident(&self.templates, &m, &console)?;
        // What the message shows, minus the age (Slack renders it live):
        // an unchanged incident is not edited again.
        let hash = {
            let mut shown = m.clone();
            shown.age_ms = 0;
            hex::encode(sha2::Sha256::digest(
                serde_json::to_vec(&shown).unwrap_or_default(),
            ))
        };
        let (channel, ts) = match store.incident_message(PLATFORM, incident).await? {
            Some(msg) => (msg.channel, msg.message_ref),
            None => {
                let channel = match state.get("channel") {
                    Some(c) => c.clone(),
                    None => {
                        let team = view["incident"]["team"].as_str();
                        let c = self.open_channel(engine, &m, team).await?;
                        state = store.chat_state(PLATFORM, incident).await?;
                        c
                    }
                };
                self.invite_new(engine, &m, &channel, &state).await?;
                state = store.chat_state(PLATFORM, incident).await?;
                self.paced(&channel).await?;
                let ts = self.api.post(&channel, content.clone(), None).await?;
                crate::chat::sync::record_main_message(
                    store, PLATFORM, incident, &channel, &ts, &hash, now,
                )
                .await?;
                state.insert("main_hash".into(), hash.clone());
                (channel, ts)
            }
        };
        // Invited before they are shown buttons.
        if state.contains_key("invited") {
            // Later decisions and escalations may involve new people.
            self.invite_new(engine, &m, &channel, &state).await?;
        }
        // The current state (and its buttons) first; the timeline after.
        if state.get("main_hash") != Some(&hash) {
            self.api.update(&channel, &ts, content).await?;
            store
                .put_chat_state(PLATFORM, incident, "main_hash", &hash, now)
                .await?;
        }
        for e in timeline(&view) {
            if state.contains_key(&e.key) {
                continue;
            }
            let mentions = match (&e.kind[..], &e.decision) {
                ("escalated", Some(r)) => m
                    .decisions
                    .iter()
                    .find(|d| &d.reference == r)
                    .map(|d| mentions(&engine.matrix(), &d.approver_roles))
                    .unwrap_or_default(),
                _ => vec![],
            };
            let reply = render::timeline(&self.templates, &e, &mentions)?;
            self.paced(&channel).await?;
            let r = self.api.post(&channel, reply, Some(&ts)).await?;
            store
                .put_chat_state(PLATFORM, incident, &e.key, &r, now)
                .await?;
            metrics::counter!("cordon_chat_posts_total", "platform" => PLATFORM).increment(1);
        }
        Ok(())
    }
}

/// Slack mentions for the members of `roles`: the people's user ids and
/// the roles' user groups.
fn mentions(matrix: &Matrix, roles: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in roles.iter().filter_map(|r| matrix.roles.get(r)) {
        for p in r.members.iter().filter_map(|p| matrix.people.get(p)) {
            if let Some(u) = &p.slack {
                let m = format!("<@{u}>");
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        for g in &r.slack_groups {
            let m = format!("<!subteam^{g}>");
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out
}

impl From<SlackError> for SyncError {
    fn from(e: SlackError) -> Self {
        match e {
            SlackError::Retry { after, .. } => SyncError::Retry(e.to_string(), after),
            SlackError::Permanent { .. } => SyncError::Permanent(e.to_string()),
        }
    }
}

#[async_trait::async_trait]
impl ChatSurface for Slack {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn run(&self, engine: &Engine, payload: &serde_json::Value) -> Result<(), ChatJobError> {
        if payload["kind"] == "digest" {
            // The weekly digest (crate::report::digest): plain text to its channel.
            let channel = payload["channel"].as_str().unwrap_or_default();
            let text = payload["text"].as_str().unwrap_or_default();
            let r = self
                .api
                .post(
                    channel,
                    slack_morphism::prelude::SlackMessageContent::new().with_text(text.to_owned()),
                    None,
                )
                .await
                .map(|_| ())
                .map_err(SyncError::from);
            return crate::chat::sync::job_outcome(PLATFORM, IncidentId(0), r);
        }
        let incident = crate::chat::sync::job_incident(payload)?;
        crate::chat::sync::job_outcome(PLATFORM, incident, self.sync(engine, incident).await)
    }
}

/// Builds the Slack surface when `CORDON_SLACK_BOT_TOKEN` is set and adds
/// it to the engine. `None` when Slack is not configured.
pub fn setup(
    config: &crate::config::Config,
    engine: &Arc<Engine>,
) -> Result<Option<Arc<Slack>>, String> {
    let Some(token) = config.secrets.slack_bot_token.clone() else {
        return Ok(None);
    };
    let mut cfg: SlackConfig = config.section("slack").map_err(|e| e.to_string())?;
    if let Some(u) = &config.secrets.slack_api_url {
        cfg.api_url = Some(u.clone());
    }
    let routing: Routing = config.section("routing").map_err(|e| e.to_string())?;
    let templates = Templates::load(Some(&config.templates), &[render::TEMPLATES])
        .map_err(|e| e.to_string())?;
    if config.secrets.slack_signing_secret.is_none() && config.secrets.slack_app_token.is_none() {
        tracing::warn!(
            "slack: neither CORDON_SLACK_SIGNING_SECRET nor CORDON_SLACK_APP_TOKEN is set: messages are posted but clicks cannot be received"
        );
    }
    let slack = Slack::new(
        SlackParts {
            bot_token: token,
            signing_secret: config.secrets.slack_signing_secret.clone(),
            cfg,
            routing,
            templates,
            public_url: config.public_url.clone(),
            web_secret: config.secrets.web_secret.clone(),
        },
        &engine.matrix(),
    )
    .map_err(|e| format!("slack client: {e} (are the OS CA certificates installed?)"))?;
    let slack = Arc::new(slack);
    engine.add_chat_surface(Arc::clone(&slack) as Arc<dyn ChatSurface>);
    Ok(Some(slack))
}

/// Starts the user group refresh and, with an app token, Socket Mode.
/// Socket Mode is held by one replica at a time: it runs only while this
/// process is leader (see [`crate::store::leader`]).
pub fn spawn_loops(
    slack: &Arc<Slack>,
    engine: &Arc<Engine>,
    app_token: Option<&Secret>,
    leader: &crate::store::leader::Leadership,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut v = vec![slack.spawn_group_refresh(engine.shutdown.clone())];
    v.extend(slack.spawn_workspace_lookup(engine.shutdown.clone()));
    if let Some(t) = app_token {
        let (slack, engine, token) = (Arc::clone(slack), Arc::clone(engine), t.expose().to_owned());
        v.push(leader.run_while_leader(
            "slack socket mode",
            engine.shutdown.clone(),
            move |stop| socket::spawn(Arc::clone(&slack), Arc::clone(&engine), &token, stop),
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_has_valid_slack_and_routing_sections() {
        let text = include_str!("../../../config/cordon.toml");
        let v: toml::Table = toml::from_str(text).expect("cordon.toml parses");
        let slack: SlackConfig = v["slack"].clone().try_into().expect("[slack]");
        assert_eq!(slack.pacing, Duration::from_secs(1));
        let routing: Routing = v["routing"].clone().try_into().expect("[routing]");
        assert_eq!(
            routing.destination("slack", &RouteFacts::default()),
            Ok(Destination::Channel("C0SOCTRIAGE".into()))
        );
    }

    #[test]
    fn an_unknown_slack_key_is_an_error() {
        let v: toml::Value = toml::from_str("pacng = \"1s\"").expect("toml");
        assert!(v.try_into::<SlackConfig>().is_err());
    }
}
