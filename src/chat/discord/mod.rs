//! The Discord surface: posts and updates incident messages in a guild,
//! turns clicks, reason modals and slash commands into engine calls. A thin
//! adapter over the platform-neutral chat layer ([`crate::chat`]): the
//! message model, buttons, routing, timeline and `/cordon` subcommands are
//! shared with Slack; only the wire format lives here.
//!
//! - **Posting** runs as `chat` jobs of the engine's durable queue (one
//!   platform+incident at a time, in order, retried on 429 / 5xx). Each job
//!   brings Discord in line with the incident: post the main message if
//!   there is none (creating the per-incident channel under the configured
//!   category first when routing says so), else edit it in place if what
//!   it shows changed; then start its thread and post every timeline item
//!   not posted yet into it. Each step is recorded in
//!   `chat_state` right after its call, so a retried job continues where the
//!   last one stopped and posts nothing twice.
//! - **Interactions** arrive over `/discord/interactions` ([`http`]:
//!   Ed25519, see [`verify`]) or over the gateway ([`gateway`]) for
//!   deployments without a public endpoint; both feed [`interact`].
//! - **Identity**: the user id Discord vouched for and the member's role ids
//!   from the same signed payload; the matrix maps them to people
//!   (`discord = "…"`) and roles (`discord_roles`). No extra API call.

pub mod api;
pub mod commands;
pub mod gateway;
pub mod http;
pub mod interact;
pub mod render;
pub mod verify;

use crate::chat::routing::{Destination, RouteFacts, Routing};
pub use crate::chat::sync::SyncError;
use crate::chat::{IncidentMessage, Pacer, ReplayGuard, TimelineEntry, incident_channel_name};
use crate::config::Secret;
use crate::domain::{IncidentId, Matrix, PersonId};
use crate::engine::{ChatJobError, ChatSurface, Engine};
use crate::templates::Templates;
use api::{DiscordApi, DiscordError, snowflake};
use serde::Deserialize;
use sha2::Digest;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub const PLATFORM: &str = "discord";

use crate::config::dur;

/// The `[discord]` section of `cordon.toml`. The token, public key,
/// application id, guild id and API URL come from `CORDON_DISCORD_*` only.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Category (a channel id) per-incident channels are created under.
    pub category_id: Option<String>,
    /// Least time between two posts in one channel or thread (Discord
    /// allows about 5 messages per 5 s per channel).
    #[serde(deserialize_with = "dur::de")]
    pub pacing: Duration,
    /// A post whose pacing slot is further away goes back to the job queue.
    #[serde(deserialize_with = "dur::de")]
    pub max_pacing_wait: Duration,
    /// Hold a gateway connection for interactions. Unset: on when no public
    /// key is configured (Discord delivers interactions either to the HTTP
    /// endpoint or over the gateway, never both).
    pub gateway: Option<bool>,
    /// Mention the Discord roles (and people) who may act, in the main
    /// message and in the thread when their decision is asked for.
    pub mention: bool,
    /// How long a click may take before its answer is deferred (Discord
    /// wants an answer within 3 s).
    #[serde(deserialize_with = "dur::de")]
    pub answer_within: Duration,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            category_id: None,
            pacing: Duration::from_millis(500),
            max_pacing_wait: Duration::from_secs(10),
            gateway: None,
            mention: true,
            answer_within: Duration::from_millis(2500),
        }
    }
}

/// The Discord surface. Shared as `Arc<Discord>` by the chat jobs, the
/// HTTP route and the gateway handler.
pub struct Discord {
    pub api: DiscordApi,
    pub cfg: DiscordConfig,
    pub templates: Templates,
    pub routing: Routing,
    /// The guild cordon serves: channels are created there, and
    /// interactions from any other guild are refused.
    pub guild_id: Option<u64>,
    pub application_id: Option<u64>,
    category_id: Option<u64>,
    /// `None`: the HTTP endpoint refuses everything (gateway only).
    verifier: Option<serenity::interactions_endpoint::Verifier>,
    pub replay: ReplayGuard,
    pacer: Pacer,
    /// For links in replies (`/cordon report`).
    pub public_url: String,
    /// Signs report links.
    pub web_secret: Option<Secret>,
    bot_token: Secret,
    /// One sync per incident at a time in this process. The job queue
    /// already orders an incident's chat jobs, but a job that outlives its
    /// lease (serenity sleeping on a rate limit, a slow guild) is handed out
    /// again; without this both runs would post the same thread items.
    syncing: std::sync::Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discord")
            .field("cfg", &self.cfg)
            .field("guild_id", &self.guild_id)
            .finish()
    }
}

/// What [`Discord::new`] needs.
pub struct DiscordParts {
    pub bot_token: Secret,
    pub public_key: Option<String>,
    pub application_id: Option<String>,
    pub guild_id: Option<String>,
    pub api_url: Option<String>,
    pub cfg: DiscordConfig,
    pub routing: Routing,
    pub templates: Templates,
    pub public_url: String,
    pub web_secret: Option<Secret>,
}

impl Discord {
    pub fn new(p: DiscordParts) -> Result<Discord, String> {
        let application_id = p
            .application_id
            .as_deref()
            .map(|s| snowflake("CORDON_DISCORD_APPLICATION_ID", s))
            .transpose()?;
        let guild_id = p
            .guild_id
            .as_deref()
            .map(|s| snowflake("CORDON_DISCORD_GUILD_ID", s))
            .transpose()?;
        let category_id = p
            .cfg
            .category_id
            .as_deref()
            .map(|s| snowflake("[discord] category_id", s))
            .transpose()?;
        let verifier = p.public_key.as_deref().map(verify::verifier).transpose()?;
        Ok(Discord {
            api: DiscordApi::new(p.bot_token.expose(), application_id, p.api_url.as_deref()),
            pacer: Pacer::new(p.cfg.pacing, p.cfg.max_pacing_wait),
            cfg: p.cfg,
            templates: p.templates,
            routing: p.routing,
            guild_id,
            application_id,
            category_id,
            verifier,
            replay: ReplayGuard::default(),
            public_url: p.public_url,
            web_secret: p.web_secret,
            bot_token: p.bot_token,
            syncing: std::sync::Mutex::default(),
        })
    }

    pub fn verifier(&self) -> Option<&serenity::interactions_endpoint::Verifier> {
        self.verifier.as_ref()
    }

    /// True when the gateway should carry interactions (see [`DiscordConfig::gateway`]).
    pub fn wants_gateway(&self) -> bool {
        self.cfg.gateway.unwrap_or(self.verifier.is_none())
    }

    async fn paced(&self, channel: &str) -> Result<(), SyncError> {
        self.pacer.wait(channel).await.map_err(|after| {
            SyncError::Retry(format!("channel {channel} is busy (pacing)"), Some(after))
        })
    }

    /// Mentions for the roles named: each role's `discord_roles` as role
    /// mentions, and for roles without any (or `from_asset` roles) the
    /// Discord ids of their people. Returns (text mentions, user ids, role ids).
    pub fn mentions(
        &self,
        matrix: &Matrix,
        roles: &[String],
        m: &IncidentMessage,
    ) -> (Vec<String>, Vec<u64>, Vec<u64>) {
        let (mut users, mut role_ids) = (BTreeSet::new(), BTreeSet::new());
        if !self.cfg.mention {
            return (vec![], vec![], vec![]);
        }
        let discord_of = |p: &PersonId| {
            matrix
                .people
                .get(p)
                .and_then(|p| p.discord.as_deref())
                .and_then(|d| d.parse::<u64>().ok())
        };
        for name in roles {
            let Some(role) = matrix.roles.get(name) else {
                continue;
            };
            let ids: Vec<u64> = role
                .discord_roles
                .iter()
                .filter_map(|r| r.parse().ok())
                .collect();
            if !ids.is_empty() {
                role_ids.extend(ids);
                continue;
            }
            users.extend(role.members.iter().filter_map(discord_of));
            if role.from_asset.is_some() {
                for o in m.asset.iter().flat_map(|a| a.owners.iter()) {
                    let person = matrix.people.get(&PersonId(o.clone())).or_else(|| {
                        matrix
                            .people
                            .values()
                            .find(|p| p.email.as_deref() == Some(o.as_str()))
                    });
                    if let Some(d) = person
                        .and_then(|p| p.discord.as_deref())
                        .and_then(|d| d.parse::<u64>().ok())
                    {
                        users.insert(d);
                    }
                }
            }
        }
        let text = role_ids
            .iter()
            .map(|r| format!("<@&{r}>"))
            .chain(users.iter().map(|u| format!("<@{u}>")))
            .collect();
        (
            text,
            users.into_iter().collect(),
            role_ids.into_iter().collect(),
        )
    }

    /// The roles a timeline entry asks to act: approvers when approval is
    /// requested or escalated, vetoers when a veto window opens.
    fn roles_asked(e: &TimelineEntry, m: &IncidentMessage) -> Vec<String> {
        let Some(d) = m
            .decisions
            .iter()
            .find(|d| Some(&d.reference) == e.decision.as_ref())
        else {
            return vec![];
        };
        match e.kind.as_str() {
            "approval_requested" | "escalated" => d.approver_roles.clone(),
            "veto_window_opened" => d.veto_roles.clone(),
            _ => vec![],
        }
    }

    /// The roles the main message asks to act now.
    fn roles_asked_now(m: &IncidentMessage) -> Vec<String> {
        let mut out = BTreeSet::new();
        for d in &m.decisions {
            match d.state.as_str() {
                "pending_approval" => out.extend(d.approver_roles.iter().cloned()),
                "pending_veto" => out.extend(d.veto_roles.iter().cloned()),
                _ => {}
            }
        }
        out.into_iter().collect()
    }

    /// Where the incident's main message goes; creates the incident channel
    /// when routing asks for one.
    async fn open_channel(
        &self,
        m: &IncidentMessage,
        team: Option<&str>,
    ) -> Result<String, SyncError> {
        let facts = RouteFacts {
            severity: m.severity.parse().ok(),
            environment: m.asset.as_ref().and_then(|a| a.environment.as_deref()),
            team,
            tier: m.asset.as_ref().and_then(|a| a.tier.as_deref()),
        };
        match self.routing.destination(PLATFORM, &facts) {
            Err(e) => Err(SyncError::Permanent(e.to_string())),
            Ok(Destination::Channel(c)) => Ok(c),
            Ok(Destination::IncidentChannel) => {
                let Some(guild) = self.guild_id else {
                    return Err(SyncError::Permanent(
                        "[routing] asks for an incident channel but CORDON_DISCORD_GUILD_ID is not set".into(),
                    ));
                };
                let name = incident_channel_name(m.incident_id, m.opened_at, &m.title);
                // Topics render markdown: the title is outside text.
                let topic = render::cut(
                    &format!(
                        "{} · {}",
                        m.reference,
                        crate::chat::escape::discord(&m.title)
                    ),
                    1024,
                );
                Ok(self
                    .api
                    .create_channel(guild, &name, self.category_id, &topic)
                    .await?)
            }
        }
    }

    /// Brings Discord in line with one incident (see the module docs), one
    /// run per incident at a time.
    pub async fn sync(&self, engine: &Engine, incident: IncidentId) -> Result<(), SyncError> {
        let lock = {
            let mut g = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(g.entry(incident.0).or_default())
        };
        let r = {
            let _held = lock.lock().await;
            self.sync_locked(engine, incident).await
        };
        let mut g = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
        // Only this map and this call hold it: nobody is waiting.
        if Arc::strong_count(&lock) == 2 {
            g.remove(&incident.0);
        }
        r
    }

    async fn sync_locked(&self, engine: &Engine, incident: IncidentId) -> Result<(), SyncError> {
        let store = &engine.store;
        let (view, m) = match crate::chat::load_model(engine, incident).await {
            Ok(Some(x)) => x,
            Ok(None) => return Ok(()),
            Err(e) => return Err(SyncError::Retry(e, None)),
        };
        let now = engine.now();
        let matrix = engine.matrix();
        let mut state = store.chat_state(PLATFORM, incident).await?;
        let (mention_text, users, roles) = self.mentions(&matrix, &Self::roles_asked_now(&m), &m);
        let console = crate::chat::console_link(&self.public_url, m.incident_id);
        let main = render::incident(&self.templates, &m, &mention_text, &console)?;
        // The digest leaves the mentions out: who is pinged changing is no
        // reason to edit (an edit pings nobody anyway).
        let shown = render::incident(&self.templates, &m, &[], &console)?;
        let hash = hex::encode(sha2::Sha256::digest(shown.fingerprint().as_bytes()));
        let (channel, message) = match store.incident_message(PLATFORM, incident).await? {
            Some(msg) => (msg.channel, msg.message_ref),
            None if crate::chat::awaiting_enrichment(&view) => return Ok(()),
            None => {
                let channel = match state.get("channel") {
                    Some(c) => c.clone(),
                    None => {
                        let team = view["incident"]["team"].as_str();
                        let c = self.open_channel(&m, team).await?;
                        store
                            .put_chat_state(PLATFORM, incident, "channel", &c, now)
                            .await?;
                        c
                    }
                };
                let cid = snowflake("channel", &channel).map_err(SyncError::Permanent)?;
                self.paced(&channel).await?;
                let id = self
                    .api
                    .post(cid, &main.create(render::allowed_mentions(&users, &roles)))
                    .await?;
                crate::chat::sync::record_main_message(
                    store, PLATFORM, incident, &channel, &id, &hash, now,
                )
                .await?;
                state.insert("main_hash".into(), hash.clone());
                (channel, id)
            }
        };
        let cid = snowflake("channel", &channel).map_err(SyncError::Permanent)?;
        let mid = snowflake("message", &message).map_err(SyncError::Permanent)?;
        // The current state (and its buttons) first; the timeline after.
        if state.get("main_hash") != Some(&hash) {
            self.api.edit(cid, mid, &main.edit()).await?;
            store
                .put_chat_state(PLATFORM, incident, "main_hash", &hash, now)
                .await?;
        }
        let entries = crate::chat::timeline(&view);
        if entries.iter().any(|e| !state.contains_key(&e.key)) {
            let thread = match state.get("thread") {
                Some(t) => t.clone(),
                None => {
                    let name = render::cut(&format!("{} timeline", m.reference), 100);
                    let t = self.api.start_thread(cid, mid, &name).await?;
                    store
                        .put_chat_state(PLATFORM, incident, "thread", &t, now)
                        .await?;
                    t
                }
            };
            let tid = snowflake("thread", &thread).map_err(SyncError::Permanent)?;
            for e in entries {
                if state.contains_key(&e.key) {
                    continue;
                }
                let (text, users, roles) = self.mentions(&matrix, &Self::roles_asked(&e, &m), &m);
                let content = render::timeline(&self.templates, &e, &text)?;
                let msg = serenity::builder::CreateMessage::new()
                    .content(content)
                    .allowed_mentions(render::allowed_mentions(&users, &roles));
                self.paced(&thread).await?;
                let r = self.api.post(tid, &msg).await?;
                store
                    .put_chat_state(PLATFORM, incident, &e.key, &r, now)
                    .await?;
                metrics::counter!("cordon_chat_posts_total", "platform" => PLATFORM).increment(1);
            }
        }
        Ok(())
    }
}

impl From<DiscordError> for SyncError {
    fn from(e: DiscordError) -> Self {
        match e {
            DiscordError::Retry { after, .. } => SyncError::Retry(e.to_string(), after),
            DiscordError::Permanent { .. } => SyncError::Permanent(e.to_string()),
        }
    }
}

#[async_trait::async_trait]
impl ChatSurface for Discord {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn run(&self, engine: &Engine, payload: &serde_json::Value) -> Result<(), ChatJobError> {
        if payload["kind"] == "digest" {
            // The weekly digest (crate::report::digest): plain text to its channel.
            let text = payload["text"].as_str().unwrap_or_default();
            let r = match snowflake(
                "digest channel",
                payload["channel"].as_str().unwrap_or_default(),
            ) {
                Ok(channel) => self
                    .api
                    .post(
                        channel,
                        &serenity::builder::CreateMessage::new()
                            .content(text)
                            .allowed_mentions(render::no_mentions()),
                    )
                    .await
                    .map(|_| ())
                    .map_err(SyncError::from),
                Err(e) => Err(SyncError::Permanent(e)),
            };
            return crate::chat::sync::job_outcome(PLATFORM, IncidentId(0), r);
        }
        let incident = crate::chat::sync::job_incident(payload)?;
        crate::chat::sync::job_outcome(PLATFORM, incident, self.sync(engine, incident).await)
    }
}

/// Reads the Discord settings from the config (`None` without a bot token).
pub fn from_config(config: &crate::config::Config) -> Result<Option<Discord>, String> {
    let Some(token) = config.secrets.discord_bot_token.clone() else {
        return Ok(None);
    };
    let cfg: DiscordConfig = config.section("discord").map_err(|e| e.to_string())?;
    let routing: Routing = config.section("routing").map_err(|e| e.to_string())?;
    let templates = render::templates(Some(&config.templates)).map_err(|e| e.to_string())?;
    let s = &config.secrets;
    let d = Discord::new(DiscordParts {
        bot_token: token,
        public_key: s.discord_public_key.clone(),
        application_id: s.discord_application_id.clone(),
        guild_id: s.discord_guild_id.clone(),
        api_url: s.discord_api_url.clone(),
        cfg,
        routing,
        templates,
        public_url: config.public_url.clone(),
        web_secret: s.web_secret.clone(),
    })?;
    if d.verifier.is_none() && !d.wants_gateway() {
        tracing::warn!(
            "discord: CORDON_DISCORD_PUBLIC_KEY is not set and [discord] gateway = false: messages are posted but clicks cannot be received"
        );
    }
    if d.guild_id.is_none() {
        tracing::warn!(
            "discord: CORDON_DISCORD_GUILD_ID is not set: interactions from any guild the bot is in are accepted, and incident channels cannot be created"
        );
    }
    Ok(Some(d))
}

/// Builds the Discord surface when `CORDON_DISCORD_BOT_TOKEN` is set and
/// adds it to the engine.
pub fn setup(
    config: &crate::config::Config,
    engine: &Arc<Engine>,
) -> Result<Option<Arc<Discord>>, String> {
    let Some(d) = from_config(config)? else {
        return Ok(None);
    };
    let d = Arc::new(d);
    engine.add_chat_surface(Arc::clone(&d) as Arc<dyn ChatSurface>);
    Ok(Some(d))
}

/// Starts the gateway connection when interactions should come that way.
///
/// DESIGN §5: one replica at a time holds the gateway; it runs only while
/// this process is leader (see [`crate::store::leader`]) and another replica
/// takes over when the leader dies.
pub fn spawn_loops(
    d: &Arc<Discord>,
    engine: &Arc<Engine>,
    leader: &crate::store::leader::Leadership,
) -> Vec<tokio::task::JoinHandle<()>> {
    if !d.wants_gateway() {
        return vec![];
    }
    let (d, engine) = (Arc::clone(d), Arc::clone(engine));
    vec![
        leader.run_while_leader("discord gateway", engine.shutdown.clone(), move |stop| {
            gateway::spawn(
                Arc::clone(&d),
                Arc::clone(&engine),
                d.bot_token.clone(),
                stop,
            )
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_discord_section_parses_and_unknown_keys_are_errors() {
        let text = include_str!("../../../config/cordon.toml");
        let v: toml::Value = toml::from_str(text).expect("cordon.toml");
        let cfg: DiscordConfig = v["discord"].clone().try_into().expect("[discord]");
        assert_eq!(cfg.pacing, Duration::from_millis(500));
        assert!(toml::from_str::<DiscordConfig>("mentoin = false").is_err());
    }
}
