//! `/discord/interactions`: Discord's signed HTTP interactions. The
//! [`DiscordSigned`] extractor checks the Ed25519 signature over the raw
//! body (see [`super::verify`]) before the handler parses a byte; anything
//! unsigned, forged, stale or replayed gets `401` and changes nothing.
//! PING is answered PONG; everything else goes to [`super::interact`] and
//! its answer is the JSON body of the response.

use super::Discord;
use super::interact::Incoming;
use super::verify::{NO_KEY, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_request};
use crate::engine::Engine;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::Arc;

/// State of the Discord route.
#[derive(Clone)]
pub struct DiscordHttp {
    pub discord: Arc<Discord>,
    pub engine: Arc<Engine>,
}

/// Largest interaction accepted (a click carries the whole message).
const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: DiscordHttp) -> Router {
    Router::new()
        .route("/discord/interactions", post(interactions))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// A request body whose Discord signature was verified.
pub struct DiscordSigned(pub Bytes);

impl FromRequest<DiscordHttp> for DiscordSigned {
    type Rejection = Response;

    async fn from_request(req: Request, s: &DiscordHttp) -> Result<Self, Self::Rejection> {
        let (sig, ts, body) =
            crate::chat::verify::signed_parts(req, s, SIGNATURE_HEADER, TIMESTAMP_HEADER).await?;
        let Some(v) = s.discord.verifier() else {
            return Err(crate::chat::verify::refused("discord", NO_KEY));
        };
        verify_request(
            v,
            &s.discord.replay,
            sig.as_deref(),
            ts.as_deref(),
            &body,
            s.engine.now().timestamp(),
        )
        .map_err(|e| crate::chat::verify::refused("discord", e))?;
        Ok(DiscordSigned(body))
    }
}

async fn interactions(
    State(s): State<DiscordHttp>,
    DiscordSigned(body): DiscordSigned,
) -> Response {
    let i: Incoming = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({ "error": format!("not an interaction: {e}") })),
            )
                .into_response();
        }
    };
    if i.kind == super::interact::kind::PING {
        // Exactly `{"type":1}`: serenity's Pong carries `"data":null`.
        return axum::Json(serde_json::json!({ "type": 1 })).into_response();
    }
    let answer = s.discord.interaction(&s.engine, &i).await;
    if let Some(rx) = answer.follow_up {
        s.discord.finish(i.token.clone(), rx);
    }
    axum::Json(answer.response).into_response()
}
