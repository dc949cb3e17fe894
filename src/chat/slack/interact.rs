//! What a click, a modal submission or a slash command does. Shared by the
//! signed HTTP endpoints and Socket Mode: both hand over a payload whose
//! origin is already established (HMAC or the app-token websocket).
//!
//! Every decision goes through the shared click handling
//! ([`crate::chat::act`], which calls [`Engine::act`]) or the shared
//! [`crate::chat::commands`]; this module only translates. The user id and team id come from the verified
//! payload, the user groups from Slack's API, never from anything a client
//! could put into a button value.

use super::{PLATFORM, Slack, render};
use crate::chat::act::{self, Voice};
use crate::chat::commands::{self, Command, RequestError};
use crate::chat::{ButtonId, needs_reason};
use crate::domain::{ActionKind, Actor, Platform};
use crate::engine::Engine;
use std::sync::Arc;

/// The body of the HTTP answer (Socket Mode sends it in the ack).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `200` with an empty body.
    Empty,
    Json(serde_json::Value),
}

impl Reply {
    fn ephemeral(text: String) -> Reply {
        Reply::Json(serde_json::json!({ "response_type": "ephemeral", "text": text }))
    }
}

impl Voice for Slack {
    fn platform(&self) -> &'static str {
        PLATFORM
    }
    fn warning(&self) -> &'static str {
        ":warning:"
    }
    fn render(
        &self,
        template: &str,
        ctx: serde_json::Value,
    ) -> Result<String, crate::templates::TemplateError> {
        self.templates.render(template, render::escaped(ctx))
    }
    fn escape(&self, text: &str) -> String {
        crate::chat::escape::slack(text)
    }
}

impl Slack {
    /// True when every workspace the payload names is the one cordon serves
    /// ([`Slack::team`]). The signing secret is the app's, and one app can
    /// be installed in several workspaces or reach other workspaces'
    /// members through shared channels: a valid signature alone says
    /// nothing about whose people these are. Until the workspace is known
    /// (auth.test has not answered yet) nothing is accepted.
    fn team_ok(&self, teams: &[Option<&str>]) -> bool {
        let Some(want) = self.team() else {
            return false;
        };
        let named: Vec<&str> = teams.iter().flatten().copied().collect();
        !named.is_empty() && named.iter().all(|t| *t == want)
    }

    /// The actor for a Slack user: the id Slack vouched for and the user
    /// groups Slack says they are in.
    pub async fn actor(&self, user: &str) -> Actor {
        Actor {
            platform: Platform::Slack,
            platform_user_id: user.to_owned(),
            groups: self.groups.groups_of(&self.api, user).await,
        }
    }

    /// Sends a private answer: through `response_url` when there is one,
    /// else `chat.postEphemeral`. In the background: the interaction must be
    /// acknowledged within 3 s whatever Slack's API does.
    fn tell(
        self: &Arc<Self>,
        response_url: Option<String>,
        channel: Option<String>,
        user: String,
        text: String,
    ) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let r = match (response_url, channel) {
                (Some(url), _) => me.api.respond(&url, &text).await,
                (None, Some(c)) => me.api.ephemeral(&c, &user, &text).await,
                (None, None) => return,
            };
            if let Err(e) = r {
                tracing::warn!(user = %user, error = %e, "slack: could not send a private reply");
            }
        });
    }

    /// Runs one verb for a user and says privately how it went.
    async fn act_and_tell(
        self: &Arc<Self>,
        engine: &Arc<Engine>,
        user: &str,
        button: ButtonId,
        reason: Option<String>,
        response_url: Option<String>,
        channel: Option<String>,
    ) {
        let actor = self.actor(user).await;
        let text = act::act_and_say(self.as_ref(), engine, &actor, button, reason).await;
        self.tell(response_url, channel, user.to_owned(), text);
    }

    /// An interaction payload (`block_actions`, `view_submission`, …).
    pub async fn interaction(
        self: &Arc<Self>,
        engine: &Arc<Engine>,
        p: &serde_json::Value,
    ) -> Reply {
        let user = p["user"]["id"].as_str().unwrap_or_default().to_owned();
        let teams = [p["user"]["team_id"].as_str(), p["team"]["id"].as_str()];
        if user.is_empty() || !self.team_ok(&teams) {
            tracing::warn!(teams = ?teams, serving = ?self.team(), "slack: interaction from another workspace (or before the workspace is known, or without a user) ignored");
            return Reply::Empty;
        }
        match p["type"].as_str().unwrap_or_default() {
            "block_actions" => {
                let response_url = p["response_url"].as_str().map(str::to_owned);
                let channel = p["channel"]["id"]
                    .as_str()
                    .or_else(|| p["container"]["channel_id"].as_str())
                    .map(str::to_owned);
                for a in p["actions"].as_array().into_iter().flatten() {
                    let Some(button) = a["action_id"]
                        .as_str()
                        .and_then(|s| s.parse::<ButtonId>().ok())
                    else {
                        continue;
                    };
                    if needs_reason(button.verb)
                        && crate::chat::may_act(engine, &self.actor(&user).await, button).await
                    {
                        let trigger = p["trigger_id"].as_str().unwrap_or_default();
                        if let Err(e) = self
                            .ask_reason(
                                engine,
                                button,
                                trigger,
                                response_url.clone(),
                                channel.clone(),
                            )
                            .await
                        {
                            self.tell(
                                response_url.clone(),
                                channel.clone(),
                                user.clone(),
                                format!(":warning: {}", crate::chat::escape::slack(&e)),
                            );
                        }
                    } else {
                        self.act_and_tell(
                            engine,
                            &user,
                            button,
                            None,
                            response_url.clone(),
                            channel.clone(),
                        )
                        .await;
                    }
                }
                Reply::Empty
            }
            "view_submission" if p["view"]["callback_id"] == render::REASON_CALLBACK => {
                let meta: serde_json::Value = p["view"]["private_metadata"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default();
                let Some(button) = meta["button"]
                    .as_str()
                    .and_then(|s| s.parse::<ButtonId>().ok())
                else {
                    return Reply::Empty;
                };
                let reason = p["view"]["state"]["values"][render::REASON_BLOCK]
                    [render::REASON_ACTION]["value"]
                    .as_str()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                if reason.is_none() {
                    return Reply::Json(serde_json::json!({
                        "response_action": "errors",
                        "errors": { render::REASON_BLOCK: "Please give a reason: it is recorded with the decision." }
                    }));
                }
                let response_url = meta["response_url"].as_str().map(str::to_owned);
                let channel = meta["channel"].as_str().map(str::to_owned);
                self.act_and_tell(engine, &user, button, reason, response_url, channel)
                    .await;
                Reply::Empty
            }
            _ => Reply::Empty,
        }
    }

    /// Opens the reason modal for Deny, Veto or Override.
    async fn ask_reason(
        &self,
        engine: &Arc<Engine>,
        button: ButtonId,
        trigger: &str,
        response_url: Option<String>,
        channel: Option<String>,
    ) -> Result<(), String> {
        let ctx = act::reason_context(engine, button).await?;
        let meta = serde_json::json!({
            "button": button.to_string(), "response_url": response_url, "channel": channel,
        })
        .to_string();
        let view = render::reason_modal(&self.templates, act::label(button.verb), ctx, meta)
            .map_err(|e| e.to_string())?;
        self.api
            .open_view(trigger, view)
            .await
            .map_err(|e| format!("could not ask for a reason: {e}"))
    }

    /// `/cordon …`: the shared subcommands ([`crate::chat::commands`]),
    /// rendered for Slack.
    pub async fn command(self: &Arc<Self>, engine: &Arc<Engine>, c: &SlashCommand) -> Reply {
        if !self.team_ok(&[c.team_id.as_deref()]) {
            tracing::warn!(team = ?c.team_id, serving = ?self.team(), "slack: command from another workspace refused");
            return Reply::ephemeral(match self.team() {
                Some(_) => "This workspace is not connected to cordon.".into(),
                None => ":warning: cordon has not reached Slack yet; try again in a moment.".into(),
            });
        }
        let words: Vec<&str> = c.text.split_whitespace().collect();
        let command = Command::parse(&words);
        if command.needs_person() {
            let actor = self.actor(&c.user_id).await;
            if engine.matrix().person_for(&actor).is_none() {
                tracing::info!(user = %c.user_id, "slack: /cordon from someone not in the matrix refused");
                return Reply::ephemeral(format!(
                    ":lock: <@{}> is not a person in the authority matrix, and `/cordon status` and `/cordon explain` answer its people only.",
                    crate::chat::escape::slack(&c.user_id)
                ));
            }
        }
        let t = &self.templates;
        let text = match command {
            Command::Status => commands::status(engine).await.and_then(|v| {
                t.render("slack/status.txt", render::escaped(v))
                    .map_err(|e| e.to_string())
            }),
            // The explanation names the target as typed: a code block
            // with it escaped like any outside text.
            Command::Explain { action, target } => {
                commands::explain(engine, &action, &target).await.map(|x| {
                    let x: Vec<String> = x.lines().map(crate::chat::escape::slack).collect();
                    format!("For a *high* severity incident:\n```{}```", x.join("\n"))
                })
            }
            Command::Report => Ok(commands::report_link(
                engine,
                &self.public_url,
                self.web_secret.as_ref(),
                &self.actor(&c.user_id).await,
            )
            .unwrap_or_else(|e| {
                format!(
                    ":warning: could not sign a report link: {}",
                    crate::chat::escape::slack(&e)
                )
            })),
            Command::Isolate { host } => {
                self.request(engine, c, ActionKind::IsolateHost, &host)
                    .await
            }
            Command::Disable { user } => {
                self.request(engine, c, ActionKind::DisableUser, &user)
                    .await
            }
            Command::Reset { action } => {
                commands::reset(engine, &self.actor(&c.user_id).await, &action)
                    .await
                    .map(|m| {
                        format!(
                            ":arrows_counterclockwise: {}",
                            crate::chat::escape::slack(&m)
                        )
                    })
            }
            Command::Help => t
                .render("slack/help.txt", serde_json::json!({}))
                .map_err(|e| e.to_string()),
        };
        // An error can carry what was typed (`foo<!channel> is not an action`).
        Reply::ephemeral(
            text.unwrap_or_else(|e| format!(":warning: {}", crate::chat::escape::slack(&e))),
        )
    }

    /// A person proposes an action ([`commands::request`]).
    async fn request(
        &self,
        engine: &Arc<Engine>,
        c: &SlashCommand,
        action: ActionKind,
        target: &str,
    ) -> Result<String, String> {
        let actor = self.actor(&c.user_id).await;
        let v = commands::request(engine, &actor, "Slack", action, target)
            .await
            .map_err(|e| match e {
                RequestError::NotAPerson { source } => format!(
                    "your Slack account is not a person in the authority matrix ({source}), so it cannot propose actions"
                ),
                RequestError::Failed(e) | RequestError::Refused(e) => e,
            })?;
        self.templates
            .render("slack/proposed.txt", render::escaped(v))
            .map_err(|e| e.to_string())
    }
}

/// A slash command, whichever way it arrived.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SlashCommand {
    pub user_id: String,
    pub team_id: Option<String>,
    pub channel_id: Option<String>,
    #[serde(default)]
    pub text: String,
    pub response_url: Option<String>,
    pub trigger_id: Option<String>,
}
