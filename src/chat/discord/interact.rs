//! What a click, a reason modal or a slash command does. Shared by the
//! signed HTTP endpoint and the gateway: both hand over an interaction
//! whose origin is already established (Ed25519 signature, or the bot's
//! own gateway session).
//!
//! Every decision goes through the shared click handling
//! ([`crate::chat::act`], which calls [`Engine::act`]) or the shared
//! [`crate::chat::commands`]; this module only translates. The user id and
//! the member's role ids come from the verified interaction, never from a
//! button's custom id, which only says *what* to do.

use super::{Discord, PLATFORM, render};
use crate::chat::act::{self, Voice};
use crate::chat::commands::{self, Command, RequestError};
use crate::chat::{ButtonId, escape, needs_reason};
use crate::domain::{ActionKind, Actor, Platform};
use crate::engine::Engine;
use serde::{Deserialize, Deserializer};
use serenity::builder::{
    CreateInteractionResponse, CreateInteractionResponseMessage, EditInteractionResponse,
};
use std::sync::Arc;

/// A Discord id: a string on the wire, sometimes a number after a round
/// trip through other models. Either is accepted.
fn snowflake<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        Str(String),
        Num(u64),
    }
    Ok(match S::deserialize(d)? {
        S::Str(s) => s,
        S::Num(n) => n.to_string(),
    })
}

fn opt_snowflake<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct W(#[serde(deserialize_with = "snowflake")] String);
    Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
}

fn snowflakes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct W(#[serde(deserialize_with = "snowflake")] String);
    Ok(Vec::<W>::deserialize(d)?.into_iter().map(|w| w.0).collect())
}

/// The parts of an interaction cordon reads (Discord's Interaction object).
#[derive(Debug, Clone, Deserialize)]
pub struct Incoming {
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(deserialize_with = "snowflake")]
    pub id: String,
    #[serde(default)]
    pub token: String,
    #[serde(default, deserialize_with = "opt_snowflake")]
    pub guild_id: Option<String>,
    #[serde(default, deserialize_with = "opt_snowflake")]
    pub channel_id: Option<String>,
    /// In a guild: the member, with their role ids.
    pub member: Option<Member>,
    /// In a DM: the user only.
    pub user: Option<User>,
    pub data: Option<Data>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    pub user: User,
    #[serde(default, deserialize_with = "snowflakes")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    #[serde(deserialize_with = "snowflake")]
    pub id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Data {
    /// Components and modals.
    pub custom_id: Option<String>,
    /// Application commands.
    pub name: Option<String>,
    #[serde(default)]
    pub options: Vec<CommandOption>,
    /// Modal submits: rows of inputs.
    #[serde(default)]
    pub components: Vec<Row>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommandOption {
    pub name: String,
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub options: Vec<CommandOption>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    #[serde(default)]
    pub components: Vec<Input>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Input {
    pub custom_id: Option<String>,
    pub value: Option<String>,
}

/// Interaction types (Discord docs, "Interaction Type").
pub mod kind {
    pub const PING: u8 = 1;
    pub const COMMAND: u8 = 2;
    pub const COMPONENT: u8 = 3;
    pub const AUTOCOMPLETE: u8 = 4;
    pub const MODAL_SUBMIT: u8 = 5;
}

impl Incoming {
    /// The user Discord vouches for.
    pub fn user_id(&self) -> Option<&str> {
        self.member
            .as_ref()
            .map(|m| m.user.id.as_str())
            .or(self.user.as_ref().map(|u| u.id.as_str()))
    }

    /// The slash command as words: `/cordon explain action:isolate_host
    /// target:ws-1` → `["explain", "isolate_host", "ws-1"]`.
    fn words(&self) -> Vec<String> {
        let Some(sub) = self.data.as_ref().and_then(|d| d.options.first()) else {
            return vec![];
        };
        let mut out = vec![sub.name.clone()];
        for o in &sub.options {
            if let Some(v) = &o.value {
                out.push(v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            }
        }
        out
    }

    /// The reason typed into cordon's modal.
    fn reason(&self) -> Option<String> {
        self.data
            .as_ref()?
            .components
            .iter()
            .flat_map(|r| r.components.iter())
            .find(|i| i.custom_id.as_deref() == Some(render::REASON_INPUT))
            .and_then(|i| i.value.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }
}

/// The answer to an interaction, plus work to finish after it was sent.
pub struct Answer {
    pub response: CreateInteractionResponse,
    /// When the answer is deferred: the text for the follow-up, once ready.
    pub follow_up: Option<tokio::sync::oneshot::Receiver<String>>,
}

impl Answer {
    fn now(response: CreateInteractionResponse) -> Answer {
        Answer {
            response,
            follow_up: None,
        }
    }
}

/// A private (ephemeral) message to the person who clicked or typed.
pub fn ephemeral(text: impl Into<String>) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(render::cut(&text.into(), render::limits::CONTENT))
            .allowed_mentions(render::no_mentions())
            .ephemeral(true),
    )
}

impl Voice for Discord {
    fn platform(&self) -> &'static str {
        PLATFORM
    }
    fn warning(&self) -> &'static str {
        "⚠️"
    }
    fn render(
        &self,
        template: &str,
        ctx: serde_json::Value,
    ) -> Result<String, crate::templates::TemplateError> {
        self.templates.render(template, render::escaped(ctx))
    }
    fn escape(&self, text: &str) -> String {
        escape::discord(text)
    }
}

impl Discord {
    /// True when the interaction comes from the configured guild.
    fn guild_ok(&self, i: &Incoming) -> bool {
        match (self.guild_id, i.guild_id.as_deref()) {
            (Some(want), Some(got)) => got.parse::<u64>().ok() == Some(want),
            // Not in a guild (a DM): no member roles to judge by.
            (_, None) => false,
            (None, Some(_)) => true,
        }
    }

    /// The actor for the member who clicked: their user id and role ids.
    pub fn actor(i: &Incoming) -> Option<Actor> {
        let m = i.member.as_ref()?;
        Some(Actor {
            platform: Platform::Discord,
            platform_user_id: m.user.id.clone(),
            groups: m.roles.clone(),
        })
    }

    /// Answers one interaction. Clicks that take longer than
    /// `answer_within` are answered "thinking…" (deferred, ephemeral) and
    /// the caller sends the follow-up when it is ready.
    pub async fn interaction(self: &Arc<Self>, engine: &Arc<Engine>, i: &Incoming) -> Answer {
        if i.kind == kind::PING {
            return Answer::now(CreateInteractionResponse::Pong);
        }
        if !self.guild_ok(i) {
            tracing::warn!(guild = ?i.guild_id, "discord: interaction from another guild or a DM refused");
            return Answer::now(ephemeral(
                "cordon only acts on interactions in the guild it is connected to.",
            ));
        }
        let Some(actor) = Self::actor(i) else {
            return Answer::now(ephemeral("cordon could not tell who you are."));
        };
        let data = i.data.clone().unwrap_or_default();
        match i.kind {
            kind::COMPONENT => {
                let Some(button) = data
                    .custom_id
                    .as_deref()
                    .and_then(|s| s.parse::<ButtonId>().ok())
                else {
                    return Answer::now(ephemeral("This button is not cordon's."));
                };
                if needs_reason(button.verb) && crate::chat::may_act(engine, &actor, button).await {
                    match self.reason_modal(engine, button).await {
                        Ok(m) => Answer::now(CreateInteractionResponse::Modal(m)),
                        Err(e) => Answer::now(ephemeral(format!("⚠️ {}", escape::discord(&e)))),
                    }
                } else {
                    self.act_in_time(engine, actor, button, None).await
                }
            }
            kind::MODAL_SUBMIT => {
                let Some(button) = data
                    .custom_id
                    .as_deref()
                    .and_then(|s| s.strip_prefix(render::REASON_MODAL))
                    .and_then(|s| s.strip_prefix(':'))
                    .and_then(|s| s.parse::<ButtonId>().ok())
                else {
                    return Answer::now(ephemeral("This form is not cordon's."));
                };
                let Some(reason) = i.reason() else {
                    return Answer::now(ephemeral(
                        "Please give a reason: it is recorded with the decision. Click the button again.",
                    ));
                };
                self.act_in_time(engine, actor, button, Some(reason)).await
            }
            kind::COMMAND if data.name.as_deref() == Some(super::commands::NAME) => {
                let words = i.words();
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                Answer::now(ephemeral(
                    self.command(engine, &actor, Command::parse(&words)).await,
                ))
            }
            kind::AUTOCOMPLETE => Answer::now(CreateInteractionResponse::Autocomplete(
                serenity::builder::CreateAutocompleteResponse::new(),
            )),
            _ => Answer::now(ephemeral("cordon does not handle this interaction.")),
        }
    }

    /// Runs [`Self::act_and_say`]; if it is not done within
    /// `answer_within`, answers deferred and lets it finish in the background.
    async fn act_in_time(
        self: &Arc<Self>,
        engine: &Arc<Engine>,
        actor: Actor,
        button: ButtonId,
        reason: Option<String>,
    ) -> Answer {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let me = Arc::clone(self);
        let engine = Arc::clone(engine);
        tokio::spawn(async move {
            let text = me.act_and_say(&engine, &actor, button, reason).await;
            let _ = tx.send(text);
        });
        match tokio::time::timeout(self.cfg.answer_within, &mut rx).await {
            Ok(Ok(text)) => Answer::now(ephemeral(text)),
            Ok(Err(_)) => Answer::now(ephemeral("⚠️ cordon could not finish this click.")),
            Err(_) => Answer {
                response: CreateInteractionResponse::Defer(
                    CreateInteractionResponseMessage::new()
                        .allowed_mentions(render::no_mentions())
                        .ephemeral(true),
                ),
                follow_up: Some(rx),
            },
        }
    }

    /// One verb for one member; the private answer saying how it went
    /// ([`act::act_and_say`]).
    pub async fn act_and_say(
        &self,
        engine: &Arc<Engine>,
        actor: &Actor,
        button: ButtonId,
        reason: Option<String>,
    ) -> String {
        act::act_and_say(self, engine, actor, button, reason).await
    }

    /// The reason modal for Deny, Veto or Override.
    async fn reason_modal(
        &self,
        engine: &Arc<Engine>,
        button: ButtonId,
    ) -> Result<serenity::builder::CreateModal, String> {
        let ctx = act::reason_context(engine, button).await?;
        render::reason_modal(
            &self.templates,
            act::label(button.verb),
            &button.to_string(),
            ctx,
        )
        .map_err(|e| e.to_string())
    }

    /// `/cordon …`: the shared subcommands, rendered for Discord.
    async fn command(&self, engine: &Arc<Engine>, actor: &Actor, c: Command) -> String {
        if c.needs_person() && engine.matrix().person_for(actor).is_none() {
            tracing::info!(user = %actor.platform_user_id, "discord: /cordon from someone not in the matrix refused");
            return "🔒 Your Discord account is not a person in the authority matrix, and `/cordon status` and `/cordon explain` answer its people only.".into();
        }
        let t = &self.templates;
        let r = match c {
            Command::Status => commands::status(engine).await.and_then(|v| {
                t.render("discord/status.txt", render::escaped(v))
                    .map_err(|e| e.to_string())
            }),
            // The explanation names the target as typed: in a code block,
            // where only a backtick could do harm.
            Command::Explain { action, target } => {
                commands::explain(engine, &action, &target).await.map(|x| {
                    let x: Vec<String> = x.lines().map(escape::one_line).collect();
                    format!(
                        "For a **high** severity incident:\n```\n{}\n```",
                        x.join("\n")
                    )
                })
            }
            Command::Report => Ok(commands::report_link(
                engine,
                &self.public_url,
                self.web_secret.as_ref(),
                actor,
            )
            .unwrap_or_else(|e| format!("Could not sign a report link: {}", escape::discord(&e)))),
            Command::Isolate { host } => {
                self.propose(engine, actor, ActionKind::IsolateHost, &host)
                    .await
            }
            Command::Disable { user } => {
                self.propose(engine, actor, ActionKind::DisableUser, &user)
                    .await
            }
            Command::Reset { action } => commands::reset(engine, actor, &action)
                .await
                .map(|m| format!("🔄 {}", escape::discord(&m))),
            Command::Help => t
                .render("discord/help.txt", serde_json::json!({}))
                .map_err(|e| e.to_string()),
        };
        // An error can carry what was typed (`@everyone is not an action`).
        r.unwrap_or_else(|e| format!("⚠️ {}", escape::discord(&e)))
    }

    async fn propose(
        &self,
        engine: &Arc<Engine>,
        actor: &Actor,
        action: ActionKind,
        target: &str,
    ) -> Result<String, String> {
        let v = commands::request(engine, actor, "Discord", action, target)
            .await
            .map_err(|e| match e {
                RequestError::NotAPerson { source } => format!(
                    "your Discord account is not a person in the authority matrix ({source}), so it cannot propose actions"
                ),
                RequestError::Failed(e) | RequestError::Refused(e) => e,
            })?;
        self.templates
            .render("discord/proposed.txt", render::escaped(v))
            .map_err(|e| e.to_string())
    }

    /// Sends the follow-up of a deferred answer (PATCH `@original`).
    pub fn finish(
        self: &Arc<Self>,
        token: String,
        follow_up: tokio::sync::oneshot::Receiver<String>,
    ) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let Ok(text) = follow_up.await else { return };
            let msg = EditInteractionResponse::new()
                .content(render::cut(&text, render::limits::CONTENT))
                .allowed_mentions(render::no_mentions());
            if let Err(e) = me.api.edit_original(&token, &msg).await {
                tracing::warn!(error = %e, "discord: could not send a deferred answer");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_click_names_its_member_and_roles() {
        let i: Incoming = serde_json::from_value(serde_json::json!({
            "id": "1", "application_id": "2", "type": 3, "token": "t", "version": 1,
            "guild_id": "9", "channel_id": "8",
            "member": {"user": {"id": "301234567890123456", "username": "alice"}, "roles": ["112233445566778899"]},
            "data": {"custom_id": "approve:dec-4", "component_type": 2}
        }))
        .expect("parses");
        let a = Discord::actor(&i).expect("actor");
        assert_eq!(a.platform_user_id, "301234567890123456");
        assert_eq!(a.groups, ["112233445566778899"]);
    }

    #[test]
    fn slash_command_options_become_words_and_modal_inputs_a_reason() {
        let i: Incoming = serde_json::from_value(serde_json::json!({
            "id": 1, "type": 2, "token": "t",
            "data": {"name": "cordon", "options": [{"name": "explain", "type": 1, "options": [
                {"name": "action", "type": 3, "value": "isolate_host"},
                {"name": "target", "type": 3, "value": "ws-1"}]}]}
        }))
        .expect("parses");
        assert_eq!(i.words(), ["explain", "isolate_host", "ws-1"]);
        let m: Incoming = serde_json::from_value(serde_json::json!({
            "id": "1", "type": 5, "token": "t",
            "data": {"custom_id": "cordon-reason:deny:dec-1", "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": "reason", "value": "  prod outage  "}]}]}
        }))
        .expect("parses");
        assert_eq!(m.reason().as_deref(), Some("prod outage"));
    }
}
