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
