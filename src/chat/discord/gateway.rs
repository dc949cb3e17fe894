//! Interactions over the gateway, for deployments without a public HTTPS
//! endpoint. serenity's client holds the websocket (identify, heartbeats,
//! resume, reconnect with backoff); each `INTERACTION_CREATE` is turned
//! into the same [`Incoming`] the HTTP endpoint parses and answered through
//! the same [`Discord::interaction`], then sent back over REST.
//!
//! The gateway session is the bot's own authenticated connection, so its
//! interactions need no signature. Discord delivers interactions either
//! here or to the HTTP endpoint, whichever the application is set up for.

use super::Discord;
use super::interact::Incoming;
use crate::config::Secret;
use crate::engine::Engine;
use serenity::all::{Context, EventHandler, GatewayIntents, Interaction, Ready};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Handler {
    discord: Arc<Discord>,
    engine: Arc<Engine>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, r: Ready) {
        tracing::info!(user = %r.user.name, guilds = r.guilds.len(), "discord: gateway connected");
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        // serenity's model → the wire shape → cordon's own, so both paths
        // share one parser and one handler.
        let parsed = serde_json::to_value(&interaction)
            .map_err(|e| e.to_string())
            .and_then(|v| serde_json::from_value::<Incoming>(v).map_err(|e| e.to_string()));
        let i = match parsed {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "discord: gateway interaction not understood");
                return;
            }
        };
        let answer = self.discord.interaction(&self.engine, &i).await;
        let Ok(id) = i.id.parse::<u64>() else { return };
        if let Err(e) = self
            .discord
            .api
            .respond(id, &i.token, &answer.response)
            .await
        {
            tracing::warn!(error = %e, "discord: could not answer an interaction");
            return;
        }
        if let Some(rx) = answer.follow_up {
            self.discord.finish(i.token.clone(), rx);
        }
    }
}

/// Connects and stays connected until shutdown; a failed start is retried
/// with backoff (a bad token is logged each time, not fatal to the server).
pub fn spawn(
    discord: Arc<Discord>,
    engine: Arc<Engine>,
    token: Secret,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            let handler = Handler {
                discord: Arc::clone(&discord),
                engine: Arc::clone(&engine),
            };
            // Interactions need no privileged intent; GUILDS keeps the
            // session's guild list for the ready log.
            let client = serenity::Client::builder(token.expose(), GatewayIntents::GUILDS)
                .event_handler(handler)
                .await;
            let mut client = match client {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "discord: gateway client not built");
                    return;
                }
            };
            let shards = client.shard_manager.clone();
            tokio::select! {
                r = client.start() => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, retry_in = ?backoff, "discord: gateway connection ended");
                    }
                }
                _ = shutdown.cancelled() => {
                    shards.shutdown_all().await;
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(300));
        }
    })
}
