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
        let i = match to_incoming(&interaction) {
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

/// serenity's model of a gateway interaction, in the wire shape cordon parses.
/// serenity serializes the variant's struct without the `type` the variant
/// stands for, so it is put back from the variant.
pub fn to_incoming(interaction: &Interaction) -> Result<Incoming, String> {
    use super::interact::kind;
    let k = match interaction {
        Interaction::Ping(_) => kind::PING,
        Interaction::Command(_) => kind::COMMAND,
        Interaction::Component(_) => kind::COMPONENT,
        Interaction::Autocomplete(_) => kind::AUTOCOMPLETE,
        Interaction::Modal(_) => kind::MODAL_SUBMIT,
        _ => return Err("an interaction type cordon does not know".into()),
    };
    let mut v = serde_json::to_value(interaction).map_err(|e| e.to_string())?;
    if let Some(o) = v.as_object_mut() {
        o.insert("type".into(), k.into());
    }
    serde_json::from_value::<Incoming>(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> serde_json::Value {
        serde_json::json!({"id": id, "username": "alice", "discriminator": "0", "global_name": null, "avatar": null})
    }

    #[test]
    fn a_gateway_click_reads_like_an_http_one() {
        let raw = serde_json::json!({
            "id": "900000000000000001", "application_id": "555000000000000001", "type": 3,
            "token": "tok", "version": 1, "guild_id": "999000000000000001",
            "channel_id": "700000000000000001", "locale": "en-US", "app_permissions": "0",
            "entitlements": [], "authorizing_integration_owners": {}, "attachment_size_limit": 8388608, "guild_locale": "en-US",
            "member": {"user": user("301234567890123456"), "roles": ["112233445566778899"],
                       "joined_at": "2026-01-01T00:00:00Z", "deaf": false, "mute": false, "flags": 0},
            "message": {"id": "800000000000000002", "channel_id": "700000000000000001",
                        "author": user("555000000000000001"), "content": "", "timestamp": "2026-11-23T08:00:00Z",
                        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
                        "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
                        "components": [], "flags": 0},
            "data": {"custom_id": "approve:dec-4", "component_type": 2}
        });
        let i: Interaction = serde_json::from_value(raw).expect("serenity parses it");
        let inc = to_incoming(&i).expect("cordon reads it");
        assert_eq!(inc.kind, super::super::interact::kind::COMPONENT);
        assert_eq!(inc.token, "tok");
        let a = Discord::actor(&inc).expect("actor");
        assert_eq!(a.platform_user_id, "301234567890123456");
        assert_eq!(a.groups, ["112233445566778899"]);
        assert_eq!(
            inc.data.and_then(|d| d.custom_id).as_deref(),
            Some("approve:dec-4")
        );
    }

    #[test]
    fn a_gateway_modal_submit_keeps_its_reason() {
        let raw = serde_json::json!({
            "id": "900000000000000003", "application_id": "555000000000000001", "type": 5,
            "token": "tok", "version": 1, "guild_id": "999000000000000001",
            "channel_id": "700000000000000001", "locale": "en-US", "app_permissions": "0",
            "entitlements": [], "authorizing_integration_owners": {}, "attachment_size_limit": 8388608,
            "member": {"user": user("301234567890123999"), "roles": [],
                       "joined_at": "2026-01-01T00:00:00Z", "deaf": false, "mute": false, "flags": 0},
            "data": {"custom_id": "cordon-reason:deny:dec-4", "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": "reason", "value": "outage"}]}]}
        });
        let i: Interaction = serde_json::from_value(raw).expect("serenity parses it");
        let inc = to_incoming(&i).expect("cordon reads it");
        assert_eq!(inc.kind, super::super::interact::kind::MODAL_SUBMIT);
        let reason = inc
            .data
            .and_then(|d| d.components.into_iter().next())
            .and_then(|r| r.components.into_iter().next())
            .and_then(|i| i.value);
        assert_eq!(reason.as_deref(), Some("outage"));
    }

    #[test]
    fn a_gateway_slash_command_keeps_its_subcommand_and_options() {
        let raw = serde_json::json!({
            "id": "900000000000000004", "application_id": "555000000000000001", "type": 2,
            "token": "tok", "version": 1, "guild_id": "999000000000000001",
            "channel_id": "700000000000000001", "locale": "en-US", "app_permissions": "0",
            "entitlements": [], "authorizing_integration_owners": {}, "attachment_size_limit": 8388608,
            "member": {"user": user("301234567890123456"), "roles": [],
                       "joined_at": "2026-01-01T00:00:00Z", "deaf": false, "mute": false, "flags": 0},
            "data": {"id": "1", "name": "cordon", "type": 1, "options": [
                {"name": "isolate", "type": 1, "options": [{"name": "host", "type": 3, "value": "ws-1"}]}]}
        });
        let i: Interaction = serde_json::from_value(raw).expect("serenity parses it");
        let inc = to_incoming(&i).expect("cordon reads it");
        let d = inc.data.expect("data");
        assert_eq!(d.name.as_deref(), Some("cordon"));
        assert_eq!(d.options[0].name, "isolate");
        assert_eq!(
            d.options[0].options[0].value,
            Some(serde_json::json!("ws-1"))
        );
    }
}
