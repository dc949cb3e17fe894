//! The Discord REST calls cordon makes, over serenity's [`Http`].
//!
//! Request bodies are serenity's builders (so they are well-formed by
//! construction); answers are read as plain JSON, and only the ids cordon
//! needs are taken from them, so a field Discord adds or drops cannot break
//! a post.
//!
//! Rate limits: in production serenity's ratelimiter keeps per-route
//! buckets and sleeps on `429` + `Retry-After` before retrying itself.
//! With a custom API URL (tests, an API proxy) serenity must run without
//! its ratelimiter (it only rewrites the base URL on that path); then a
//! `429` comes back here as [`DiscordError::Retry`], and the chat job is
//! retried later, in order, by the job queue.

use serenity::http::{Http, HttpBuilder, LightMethod, Request, Route};
use serenity::model::id::{ApplicationId, ChannelId, GuildId, MessageId};
use std::sync::Arc;
use std::time::Duration;

/// How long to wait after a `429` when serenity's ratelimiter is off (the
/// error serenity hands back does not carry `Retry-After`).
pub const RETRY_AFTER_429: Duration = Duration::from_secs(1);

/// A failed call, classified for the job queue.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// Rate limited, a 5xx, or the network: try again later.
    #[error("discord {call}: {message}")]
    Retry {
        call: &'static str,
        message: String,
        after: Option<Duration>,
    },
    /// The request itself is wrong (bad channel, missing permission…).
    #[error("discord {call}: {message}")]
    Permanent { call: &'static str, message: String },
}

fn classify(call: &'static str, e: serenity::Error) -> DiscordError {
    use serenity::http::HttpError;
    match &e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            let message = format!("{status} {}", r.error.message);
            if status == 429 {
                DiscordError::Retry {
                    call,
                    message,
                    after: Some(RETRY_AFTER_429),
                }
            } else if status >= 500 {
                DiscordError::Retry {
                    call,
                    message,
                    after: None,
                }
            } else {
                DiscordError::Permanent { call, message }
            }
        }
        serenity::Error::Http(HttpError::Request(_)) => DiscordError::Retry {
            call,
            message: e.to_string(),
            after: None,
        },
        _ => DiscordError::Permanent {
            call,
            message: e.to_string(),
        },
    }
}

/// Parses a snowflake id from config or a payload.
pub fn snowflake(what: &str, s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n != 0)
        .ok_or_else(|| format!("{what} `{s}` is not a Discord id (a number)"))
}

/// The REST client: serenity's `Http`, with the application id set so
/// interaction follow-ups and command registration can name it.
#[derive(Clone)]
pub struct DiscordApi {
    pub http: Arc<Http>,
}

impl std::fmt::Debug for DiscordApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DiscordApi")
    }
}

impl DiscordApi {
    /// `api_url`: base URL instead of `https://discord.com` (serenity's
    /// ratelimiter is then off, see the module docs).
    pub fn new(token: &str, application_id: Option<u64>, api_url: Option<&str>) -> DiscordApi {
        let mut b = HttpBuilder::new(token);
        if let Some(app) = application_id {
            b = b.application_id(ApplicationId::new(app));
        }
        if let Some(url) = api_url {
            b = b
                .proxy(url.trim_end_matches('/').to_owned())
                .ratelimiter_disabled(true);
        }
        DiscordApi {
            http: Arc::new(b.build()),
        }
    }

    async fn call(
        &self,
        name: &'static str,
        route: Route<'_>,
        method: LightMethod,
        body: &impl serde::Serialize,
    ) -> Result<serde_json::Value, DiscordError> {
        let bytes = serde_json::to_vec(body).map_err(|e| DiscordError::Permanent {
            call: name,
            message: e.to_string(),
        })?;
        let req = Request::new(route, method).body(Some(bytes));
        self.http
            .fire::<serde_json::Value>(req)
            .await
            .map_err(|e| classify(name, e))
    }

    fn id_of(name: &'static str, v: &serde_json::Value) -> Result<String, DiscordError> {
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DiscordError::Permanent {
                call: name,
                message: "the answer carries no id".into(),
            })
    }

    /// Posts a message; returns its id.
    pub async fn post(
        &self,
        channel: u64,
        msg: &serenity::builder::CreateMessage,
    ) -> Result<String, DiscordError> {
        let v = self
            .call(
                "create message",
                Route::ChannelMessages {
                    channel_id: ChannelId::new(channel),
                },
                LightMethod::Post,
                msg,
            )
            .await?;
        Self::id_of("create message", &v)
    }

    /// Edits a message in place.
    pub async fn edit(
        &self,
        channel: u64,
        message: u64,
        msg: &serenity::builder::EditMessage,
    ) -> Result<(), DiscordError> {
        self.call(
            "edit message",
            Route::ChannelMessage {
                channel_id: ChannelId::new(channel),
                message_id: MessageId::new(message),
            },
            LightMethod::Patch,
            msg,
        )
        .await
        .map(drop)
    }

    /// Creates a text channel in the guild, under `category` if given.
    pub async fn create_channel(
        &self,
        guild: u64,
        name: &str,
        category: Option<u64>,
        topic: &str,
    ) -> Result<String, DiscordError> {
        let mut b = serenity::builder::CreateChannel::new(name)
            .kind(serenity::model::channel::ChannelType::Text)
            .topic(topic);
        if let Some(c) = category {
            b = b.category(ChannelId::new(c));
        }
        let v = self
            .call(
                "create channel",
                Route::GuildChannels {
                    guild_id: GuildId::new(guild),
                },
                LightMethod::Post,
                &b,
            )
            .await?;
        Self::id_of("create channel", &v)
    }

    /// Starts a thread on a message; returns the thread's channel id.
    pub async fn start_thread(
        &self,
        channel: u64,
        message: u64,
        name: &str,
    ) -> Result<String, DiscordError> {
        let b = serenity::builder::CreateThread::new(name)
            .auto_archive_duration(serenity::model::channel::AutoArchiveDuration::OneWeek);
        let v = self
            .call(
                "start thread",
                Route::ChannelMessageThreads {
                    channel_id: ChannelId::new(channel),
                    message_id: MessageId::new(message),
                },
                LightMethod::Post,
                &b,
            )
            .await?;
        Self::id_of("start thread", &v)
    }

    /// Answers an interaction that came over the gateway (HTTP
    /// interactions are answered in the HTTP response instead).
    pub async fn respond(
        &self,
        interaction_id: u64,
        token: &str,
        response: &serenity::builder::CreateInteractionResponse,
    ) -> Result<(), DiscordError> {
        self.http
            .create_interaction_response(interaction_id.into(), token, response, vec![])
            .await
            .map_err(|e| classify("interaction response", e))
    }

    /// Replaces a deferred interaction answer (within 15 minutes).
    pub async fn edit_original(
        &self,
        token: &str,
        msg: &serenity::builder::EditInteractionResponse,
    ) -> Result<(), DiscordError> {
        let app = self
            .http
            .application_id()
            .ok_or_else(|| DiscordError::Permanent {
                call: "edit interaction response",
                message: "CORDON_DISCORD_APPLICATION_ID is not set".into(),
            })?;
        self.call(
            "edit interaction response",
            Route::WebhookOriginalInteractionResponse {
                application_id: app,
                token,
            },
            LightMethod::Patch,
            msg,
        )
        .await
        .map(drop)
    }

    /// Replaces the guild's commands with `commands` (bulk overwrite).
    pub async fn set_guild_commands(
        &self,
        guild: u64,
        commands: &[serenity::builder::CreateCommand],
    ) -> Result<serde_json::Value, DiscordError> {
        let app = self
            .http
            .application_id()
            .ok_or_else(|| DiscordError::Permanent {
                call: "register commands",
                message: "CORDON_DISCORD_APPLICATION_ID is not set".into(),
            })?;
        self.call(
            "register commands",
            Route::GuildCommands {
                application_id: app,
                guild_id: GuildId::new(guild),
            },
            LightMethod::Put,
            &commands,
        )
        .await
    }
}
