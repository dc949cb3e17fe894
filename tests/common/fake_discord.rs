//! A fake Discord REST API on 127.0.0.1 that records every call, in order.
//! serenity reaches it through `HttpBuilder::proxy`, so paths are the real
//! ones (`/api/v10/channels/{c}/messages`, …). It answers with fresh
//! snowflakes, and can answer message posts with `429` a number of times.
//!
//! Messages over Discord's limits get what Discord answers them: `400`
//! with `{"code": 50035, "message": "Invalid Form Body", "errors": …}`
//! (content over 2000 characters, more than 10 embeds, an embed over its
//! title/description/field/footer limits or over 6000 characters in all,
//! more than 25 fields, more than 5 action rows or 5 buttons in a row, a
//! label over 80 characters, a custom id over 100 or used twice).
#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One recorded call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// Without the `/api/v10` prefix: `/channels/7/messages`.
    pub path: String,
    pub body: serde_json::Value,
    pub status: u16,
    pub authorization: String,
}

impl Call {
    /// `POST /channels/{c}/messages` for channel `c`.
    pub fn is_post_to(&self, channel: &str) -> bool {
        self.method == "POST" && self.path == format!("/channels/{channel}/messages")
    }
}

#[derive(Default)]
pub struct DiscordState {
    pub calls: Mutex<Vec<Call>>,
    /// Answer this many message posts with 429.
    pub throttle_posts: Mutex<u32>,
    next_id: Mutex<u64>,
}

#[derive(Clone)]
pub struct FakeDiscord {
    pub url: String,
    pub state: Arc<DiscordState>,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let state = Arc::new(DiscordState {
            next_id: Mutex::new(800_000_000_000_000_000),
            ..Default::default()
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord { url, state }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().expect("lock").clone()
    }

    pub fn throttle_posts(&self, n: u32) {
        *self.state.throttle_posts.lock().expect("lock") = n;
    }

    /// Waits until `f` holds for the calls so far; returns them.
    pub async fn wait_for(&self, what: &str, f: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        // As generous as the fake Slack's: two cores are shared by parallel
        // tests and PostgreSQL.
        for _ in 0..1500 {
            let c = self.calls();
            if f(&c) {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fake Discord never saw {what}: {:#?}", self.calls());
    }
}

fn next(state: &DiscordState) -> String {
    let mut n = state.next_id.lock().expect("lock");
    *n += 1;
    n.to_string()
}

async fn handle(
    State(state): State<Arc<DiscordState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/api/v10")
        .unwrap_or(uri.path())
        .to_owned();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let message = matches!(
        (method.as_str(), seg.as_slice()),
        ("POST", ["channels", _, "messages"])
            | ("PATCH", ["channels", _, "messages", _])
            | ("PATCH", ["webhooks", _, _, "messages", "@original"])
    );
    let invalid = if message {
        check_message(&body).err()
    } else {
        None
    };
    let (status, answer) = match (method.as_str(), seg.as_slice()) {
        _ if invalid.is_some() => (
            StatusCode::BAD_REQUEST,
            serde_json::json!({"code": 50035, "message": "Invalid Form Body", "errors": invalid}),
        ),
        ("POST", ["channels", c, "messages"]) => {
            let mut t = state.throttle_posts.lock().expect("lock");
            if *t > 0 {
                *t -= 1;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    serde_json::json!({"message": "You are being rate limited.", "retry_after": 1.0, "global": false, "code": 0}),
                )
            } else {
                (
                    StatusCode::OK,
                    serde_json::json!({"id": next(&state), "channel_id": c, "content": body["content"], "type": 0}),
                )
            }
        }
        ("PATCH", ["channels", c, "messages", m]) => (
            StatusCode::OK,
            serde_json::json!({"id": m, "channel_id": c, "type": 0}),
        ),
        ("POST", ["guilds", g, "channels"]) => (
            StatusCode::CREATED,
            serde_json::json!({"id": next(&state), "guild_id": g, "type": 0, "name": body["name"], "parent_id": body["parent_id"]}),
        ),
        ("POST", ["channels", c, "messages", _, "threads"]) => (
            StatusCode::CREATED,
            serde_json::json!({"id": next(&state), "parent_id": c, "type": 11, "name": body["name"]}),
        ),
        ("PATCH", ["webhooks", _, _, "messages", "@original"]) => {
            (StatusCode::OK, serde_json::json!({"id": next(&state)}))
        }
        ("PUT", ["applications", _, "guilds", _, "commands"]) => {
            let cmds: Vec<serde_json::Value> = body
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let mut c = c.clone();
                    c["id"] = serde_json::Value::String(next(&state));
                    c
                })
                .collect();
            (StatusCode::OK, serde_json::Value::Array(cmds))
        }
        _ => (
            StatusCode::NOT_FOUND,
            serde_json::json!({"message": "Unknown route", "code": 0}),
        ),
    };
    state.calls.lock().expect("lock").push(Call {
        method: method.to_string(),
        path,
        body,
        status: status.as_u16(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    });
    (status, axum::Json(answer)).into_response()
}

/// Discord's error object for one field: `{"_errors": [{code, message}]}`.
fn field_error(code: &str, message: String) -> serde_json::Value {
    serde_json::json!({"_errors": [{"code": code, "message": message}]})
}

fn too_long(max: usize) -> serde_json::Value {
    field_error(
        "BASE_TYPE_MAX_LENGTH",
        format!("Must be {max} or fewer in length."),
    )
}

fn len(v: &serde_json::Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Discord's limits on a message body ("Embed Limits", "Message
/// Components"); the error says where, as Discord's does.
fn check_message(body: &serde_json::Value) -> Result<(), serde_json::Value> {
    if len(&body["content"]) > 2000 {
        return Err(serde_json::json!({"content": too_long(2000)}));
    }
    let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
    if embeds.len() > 10 {
        return Err(serde_json::json!({"embeds": too_long(10)}));
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        let wrong = |what: &str, max: usize| {
            Err(serde_json::json!({"embeds": {i.to_string(): {what: too_long(max)}}}))
        };
        if len(&e["title"]) > 256 {
            return wrong("title", 256);
        }
        if len(&e["description"]) > 4096 {
            return wrong("description", 4096);
        }
        if len(&e["footer"]["text"]) > 2048 {
            return wrong("footer", 2048);
        }
        if fields.len() > 25 {
            return wrong("fields", 25);
        }
        for f in &fields {
            if len(&f["name"]) == 0
                || len(&f["name"]) > 256
                || len(&f["value"]) == 0
                || len(&f["value"]) > 1024
            {
                return wrong("fields", 1024);
            }
            total += len(&f["name"]) + len(&f["value"]);
        }
        total += len(&e["title"])
            + len(&e["description"])
            + len(&e["footer"]["text"])
            + len(&e["author"]["name"]);
    }
    if total > 6000 {
        return Err(serde_json::json!({"embeds": field_error(
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000".into(),
        )}));
    }
    let rows = body["components"].as_array().cloned().unwrap_or_default();
    if rows.len() > 5 {
        return Err(serde_json::json!({"components": too_long(5)}));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        let buttons = r["components"].as_array().cloned().unwrap_or_default();
        let wrong = |what: serde_json::Value| {
            Err(serde_json::json!({"components": {i.to_string(): {"components": what}}}))
        };
        if buttons.is_empty() || buttons.len() > 5 {
            return wrong(too_long(5));
        }
        for b in &buttons {
            let id = b["custom_id"].as_str().unwrap_or_default();
            if len(&b["label"]) > 80 || id.chars().count() > 100 {
                return wrong(too_long(100));
            }
            if !id.is_empty() && !ids.insert(id.to_owned()) {
                return wrong(field_error(
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated".into(),
                ));
            }
        }
    }
    Ok(())
}
