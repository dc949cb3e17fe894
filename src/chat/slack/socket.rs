//! Socket Mode (`CORDON_SLACK_APP_TOKEN`, `xapp-…`): for teams that cannot
//! expose `/slack/*` to the internet. Slack delivers the same interaction
//! and command payloads over a websocket that cordon opens with the app
//! token, so they need no request signature; they go to the same handlers
//! as the HTTP endpoints.

use super::Slack;
use super::interact::{Reply, SlashCommand};
use crate::engine::Engine;
use slack_morphism::prelude::*;
use std::sync::Arc;

/// What the callbacks (plain `fn`s, as slack-morphism requires) find in the
/// listener's user state.
struct SocketState {
    slack: Arc<Slack>,
    engine: Arc<Engine>,
}

async fn state_of(states: &SlackClientEventsUserState) -> Option<(Arc<Slack>, Arc<Engine>)> {
    let g = states.read().await;
    g.get_user_state::<SocketState>()
        .map(|s| (Arc::clone(&s.slack), Arc::clone(&s.engine)))
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let Some((slack, engine)) = state_of(&states).await else {
        return Ok(SlackInteractionResponse::Empty);
    };
    let payload = serde_json::to_value(&event)?;
    match slack.interaction(&engine, &payload).await {
        Reply::Json(v) if v.get("response_action").is_some() => {
            let r: SlackViewSubmissionResponse = serde_json::from_value(v)?;
            Ok(SlackInteractionResponse::ViewSubmission(r))
        }
        _ => Ok(SlackInteractionResponse::Empty),
    }
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let text = match state_of(&states).await {
        None => "cordon is starting; try again in a moment".to_owned(),
        Some((slack, engine)) => {
            let c = SlashCommand {
                user_id: event.user_id.0.clone(),
                team_id: Some(event.team_id.0.clone()),
                channel_id: Some(event.channel_id.0.clone()),
                text: event.text.clone().unwrap_or_default(),
                response_url: Some(event.response_url.0.to_string()),
                trigger_id: Some(event.trigger_id.0.clone()),
            };
            match slack.command(&engine, &c).await {
                Reply::Json(v) => v["text"].as_str().unwrap_or_default().to_owned(),
                Reply::Empty => String::new(),
            }
        }
    };
    Ok(
        SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text))
            .with_response_type(SlackMessageResponseType::Ephemeral),
    )
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHyperClient>,
    _states: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    tracing::warn!(error = %err, "slack socket mode: error");
    axum::http::StatusCode::OK
}

/// Connects with the app token and serves until `shutdown`.
pub fn spawn(
    slack: Arc<Slack>,
    engine: Arc<Engine>,
    app_token: &str,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let token = SlackApiToken::new(app_token.to_owned().into());
    let client = Arc::clone(slack.api.client());
    tokio::spawn(async move {
        let env = Arc::new(
            SlackClientEventsListenerEnvironment::new(client)
                .with_error_handler(on_error)
                .with_user_state(SocketState { slack, engine }),
        );
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_interaction_events(on_interaction)
            .with_command_events(on_command);
        let listener =
            SlackClientSocketModeListener::new(&SlackClientSocketModeConfig::new(), env, callbacks);
        if let Err(e) = listener.listen_for(&token).await {
            tracing::error!(error = %e, "slack socket mode: could not connect (check CORDON_SLACK_APP_TOKEN)");
            return;
        }
        listener.start().await;
        tracing::info!("slack socket mode: connected");
        shutdown.cancelled().await;
        listener.shutdown().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Socket Mode hands us slack-morphism's typed events; the handlers read
    /// the JSON shape Slack sends over HTTP. The round trip must keep every
    /// field they read.
    #[test]
    fn typed_socket_mode_events_keep_the_fields_the_handlers_read() {
        let click = serde_json::json!({
            "type": "block_actions",
            "user": {"id": "U01ALICE", "username": "alice", "team_id": "T0CORDON"},
            "team": {"id": "T0CORDON", "domain": "cordon"},
            "api_app_id": "A1",
            "channel": {"id": "C1", "name": "inc"},
            "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1"},
            "trigger_id": "t-1",
            "response_url": "https://hooks.slack.com/actions/T/1/x",
            "actions": [{"type": "button", "action_id": "approve:dec-42", "block_id": "dec-42",
                         "value": "approve:dec-42", "action_ts": "1.2"}]
        });
        let typed: SlackInteractionEvent = serde_json::from_value(click).expect("parses");
        let back = serde_json::to_value(&typed).expect("serialises");
        assert_eq!(back["type"], "block_actions");
        assert_eq!(back["user"]["id"], "U01ALICE");
        assert_eq!(back["user"]["team_id"], "T0CORDON");
        assert_eq!(back["actions"][0]["action_id"], "approve:dec-42");
        assert_eq!(back["trigger_id"], "t-1");
        assert_eq!(
            back["response_url"],
            "https://hooks.slack.com/actions/T/1/x"
        );
        assert_eq!(back["channel"]["id"], "C1");

        let submit = serde_json::json!({
            "type": "view_submission",
            "user": {"id": "U02BOB", "team_id": "T0CORDON"},
            "team": {"id": "T0CORDON"},
            "view": {"id": "V1", "team_id": "T0CORDON", "type": "modal", "hash": "h",
                     "title": {"type": "plain_text", "text": "Deny dec-42"}, "blocks": [],
                     "callback_id": "cordon-reason", "private_metadata": "{\"button\":\"deny:dec-42\"}",
                     "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "fp"}}}}}
        });
        let typed: SlackInteractionEvent = serde_json::from_value(submit).expect("parses");
        let back = serde_json::to_value(&typed).expect("serialises");
        assert_eq!(back["type"], "view_submission");
        assert_eq!(back["view"]["callback_id"], "cordon-reason");
        assert_eq!(
            back["view"]["private_metadata"],
            "{\"button\":\"deny:dec-42\"}"
        );
        assert_eq!(
            back["view"]["state"]["values"]["reason"]["reason"]["value"],
            "fp"
        );
    }
}
