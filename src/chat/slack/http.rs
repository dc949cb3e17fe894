//! `/slack/interactions`, `/slack/commands`, `/slack/events`: Slack's
//! signed requests. The [`SlackSigned`] extractor checks the signature over
//! the raw body (see [`super::verify`]) before any handler parses a byte;
//! anything unsigned, forged, stale or replayed gets `401` and changes
//! nothing.

use super::Slack;
use super::interact::{Reply, SlashCommand};
use super::verify::{SIGNATURE_HEADER, SignatureError, TIMESTAMP_HEADER, verify_request};
use crate::engine::Engine;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::Arc;

/// State of the Slack routes.
#[derive(Clone)]
pub struct SlackHttp {
    pub slack: Arc<Slack>,
    pub engine: Arc<Engine>,
}

/// Largest Slack request accepted (interaction payloads carry the whole message).
const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: SlackHttp) -> Router {
    Router::new()
        .route("/slack/interactions", post(interactions))
        .route("/slack/commands", post(commands))
        .route("/slack/events", post(events))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// A request body whose Slack signature was verified.
pub struct SlackSigned(pub Bytes);

impl FromRequest<SlackHttp> for SlackSigned {
    type Rejection = Response;

    async fn from_request(req: Request, s: &SlackHttp) -> Result<Self, Self::Rejection> {
        let (sig, ts, body) =
            crate::chat::verify::signed_parts(req, s, SIGNATURE_HEADER, TIMESTAMP_HEADER).await?;
        let Some(secret) = s.slack.signing_secret() else {
            return Err(crate::chat::verify::refused(
                "slack",
                SignatureError::Unsigned,
            ));
        };
        verify_request(
            secret,
            &s.slack.replay,
            sig.as_deref(),
            ts.as_deref(),
            &body,
            s.engine.now().timestamp(),
        )
        .map_err(|e| crate::chat::verify::refused("slack", e))?;
        Ok(SlackSigned(body))
    }
}

fn bad(what: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({ "error": what })),
    )
        .into_response()
}

fn answer(r: Reply) -> Response {
    match r {
        Reply::Empty => StatusCode::OK.into_response(),
        Reply::Json(v) => axum::Json(v).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct PayloadForm {
    payload: String,
}

async fn interactions(State(s): State<SlackHttp>, SlackSigned(body): SlackSigned) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<PayloadForm>(&body) else {
        return bad("expected a form with a payload field");
    };
    let Ok(payload) = serde_json::from_str::<serde_json::Value>(&form.payload) else {
        return bad("payload is not JSON");
    };
    answer(s.slack.interaction(&s.engine, &payload).await)
}

async fn commands(State(s): State<SlackHttp>, SlackSigned(body): SlackSigned) -> Response {
    let Ok(c) = serde_urlencoded::from_bytes::<SlashCommand>(&body) else {
        return bad("expected a slash command form");
    };
    answer(s.slack.command(&s.engine, &c).await)
}

/// Events API: answers the URL verification challenge; cordon subscribes
/// to no events yet, so the rest are acknowledged and dropped.
async fn events(SlackSigned(body): SlackSigned) -> Response {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return bad("expected JSON");
    };
    match v["type"].as_str() {
        Some("url_verification") => {
            axum::Json(serde_json::json!({ "challenge": v["challenge"] })).into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}
