//! A fake Slack Web API on 127.0.0.1 that records every call, in order:
//! `/api/<method>` (chat.postMessage answers with a fresh ts, conversations.create
//! with a channel id, usergroups.users.list from `groups`, …) and
//! `/response/<id>` for interaction `response_url`s. It can answer
//! chat.postMessage with `429` + `Retry-After` a number of times.
//!
//! It refuses what Slack refuses, the way Slack does (HTTP 200 with
//! `{"ok": false, "error": …}`): more than 50 blocks in a message (100 in
//! a view), a section text over 3000 characters, a header over 150, a
//! button label over 75, more than 25 elements in an actions block, a
//! repeated `block_id`, and a message `text` over 40,000 characters
//! (`msg_too_long`). `auth.test` names the workspace [`TEAM`] (or what
//! [`FakeSlack::set_team`] says) and can fail a number of times.
#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One recorded call.
#[derive(Debug, Clone)]
pub struct Call {
    /// `chat.postMessage`, `response_url`, …
    pub method: String,
    /// JSON body, form fields or query parameters, as one JSON object.
    pub body: serde_json::Value,
    /// For `/response/<id>`: the id.
    pub path: String,
    pub status: u16,
    /// What the answer's `ok` said (false for a refused message).
    pub ok: bool,
}

/// The workspace the fake's bot token belongs to.
pub const TEAM: &str = "T0CORDON";

#[derive(Default)]
pub struct SlackState {
    pub calls: Mutex<Vec<Call>>,
    /// Answer this many chat.postMessage calls with 429.
    pub throttle_posts: Mutex<u32>,
    /// The Retry-After of those answers, in seconds.
    pub retry_after: Mutex<u32>,
    /// usergroups.users.list answers.
    pub groups: Mutex<HashMap<String, Vec<String>>>,
    /// The team id auth.test answers.
    pub team: Mutex<String>,
    /// Answer this many auth.test calls with an error.
    pub fail_auth: Mutex<u32>,
    next_ts: Mutex<u64>,
    next_channel: Mutex<u64>,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub url: String,
    pub state: Arc<SlackState>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let state = Arc::new(SlackState::default());
        *state.retry_after.lock().unwrap() = 1;
        *state.team.lock().unwrap() = TEAM.into();
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/response/{id}", any(response))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake slack");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSlack { url, state }
    }

    /// The Web API base URL to give cordon.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.url)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Successful calls of one method.
    pub fn ok_calls(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.status == 200 && c.ok)
            .collect()
    }

    /// Calls Slack answered `ok: false` (refused messages).
    pub fn refused(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.status == 200 && !c.ok)
            .collect()
    }

    /// The workspace auth.test names from now on.
    pub fn set_team(&self, team: &str) {
        *self.state.team.lock().unwrap() = team.into();
    }

    /// Fails the next `n` auth.test calls (as Slack does when it is down).
    pub fn fail_auth(&self, n: u32) {
        *self.state.fail_auth.lock().unwrap() = n;
    }

    pub fn throttle(&self, posts: u32, retry_after_secs: u32) {
        *self.state.throttle_posts.lock().unwrap() = posts;
        *self.state.retry_after.lock().unwrap() = retry_after_secs;
    }

    pub fn set_group(&self, group: &str, users: &[&str]) {
        self.state
            .groups
            .lock()
            .unwrap()
            .insert(group.into(), users.iter().map(|u| u.to_string()).collect());
    }

    /// Waits (real time) until `f` holds over the recorded calls.
    pub async fn wait_for(&self, what: &str, f: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        // Generous: two cores are shared by parallel tests and PostgreSQL.
        for _ in 0..1500 {
            let calls = self.calls();
            if f(&calls) {
                return calls;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("fake slack never saw: {what}\ncalls: {:#?}", self.calls());
    }
}

fn parse_body(headers: &HeaderMap, query: Option<String>, body: &Bytes) -> serde_json::Value {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut v = if ct.contains("json") {
        serde_json::from_slice(body).unwrap_or(serde_json::Value::Null)
    } else {
        let m: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        serde_json::to_value(m).unwrap_or_default()
    };
    if let Some(q) = query {
        let m: HashMap<String, String> = serde_urlencoded::from_str(&q).unwrap_or_default();
        if !v.is_object() {
            v = serde_json::json!({});
        }
        for (k, val) in m {
            v[k] = serde_json::json!(val);
        }
    }
    v
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}

async fn api(
    State(s): State<Arc<SlackState>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = parse_body(&headers, query, &body);
    let record_ok = |status: u16, ok: bool| {
        s.calls.lock().unwrap().push(Call {
            method: method.clone(),
            body: body.clone(),
            path: String::new(),
            status,
            ok,
        })
    };
    let record = |status: u16| record_ok(status, true);
    let limit = match method.as_str() {
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" => Some(50),
        "views.open" => Some(100),
        _ => None,
    };
    if let Some(max_blocks) = limit {
        let view = method == "views.open";
        let checked = if view {
            check_blocks(&body["view"]["blocks"], max_blocks)
        } else {
            check_message(&body, max_blocks)
        };
        if let Err(error) = checked {
            record_ok(200, false);
            return json(
                StatusCode::OK,
                serde_json::json!({"ok": false, "error": error}),
            );
        }
    }
    match method.as_str() {
        "chat.postMessage" => {
            {
                let mut t = s.throttle_posts.lock().unwrap();
                if *t > 0 {
                    *t -= 1;
                    drop(t);
                    record(429);
                    let after = *s.retry_after.lock().unwrap();
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", after.to_string())],
                        axum::Json(serde_json::json!({"ok": false, "error": "ratelimited"})),
                    )
                        .into_response();
                }
            }
            let ts = {
                let mut n = s.next_ts.lock().unwrap();
                *n += 1;
                format!("1700000000.{:06}", *n)
            };
            record(200);
            json(
                StatusCode::OK,
                serde_json::json!({"ok": true, "channel": body["channel"], "ts": ts,
                    "message": {"ts": ts, "text": body["text"]}}),
            )
        }
        "chat.update" => {
            record(200);
            json(
                StatusCode::OK,
                serde_json::json!({"ok": true, "channel": body["channel"], "ts": body["ts"],
                    "message": {"text": body["text"]}}),
            )
        }
        "chat.postEphemeral" => {
            record(200);
            json(
                StatusCode::OK,
                serde_json::json!({"ok": true, "message_ts": "1.1"}),
            )
        }
        "conversations.create" => {
            let id = {
                let mut n = s.next_channel.lock().unwrap();
                *n += 1;
                format!("CINC{:04}", *n)
            };
            record(200);
            json(
                StatusCode::OK,
                serde_json::json!({"ok": true, "channel": {"id": id, "name": body["name"], "created": 1700000000,
                    "is_channel": true, "is_private": false}}),
            )
        }
        "conversations.invite" => {
            record(200);
            json(
                StatusCode::OK,
                serde_json::json!({"ok": true, "channel": {"id": body["channel"], "created": 1700000000}}),
            )
        }
        "views.open" => {
            record(200);
            let mut view = body["view"].clone();
            view["id"] = serde_json::json!("V0001");
            view["team_id"] = serde_json::json!("T0CORDON");
            view["hash"] = serde_json::json!("h1");
            json(
                StatusCode::OK,
                serde_json::json!({"ok": true, "view": view}),
            )
        }
        "auth.test" => {
            let failing = {
                let mut f = s.fail_auth.lock().unwrap();
                let failing = *f > 0;
                *f = f.saturating_sub(1);
                failing
            };
            if failing {
                record_ok(200, false);
                return json(
                    StatusCode::OK,
                    serde_json::json!({"ok": false, "error": "internal_error"}),
                );
            }
            record(200);
            let team = s.team.lock().unwrap().clone();
            json(
                StatusCode::OK,
                serde_json::json!({"ok": true, "url": "https://cordon-test.slack.com/",
                    "team": "cordon-test", "user": "cordon", "team_id": team,
                    "user_id": "U0CORDONBOT", "bot_id": "B0CORDON"}),
            )
        }
        "usergroups.users.list" => {
            record(200);
            let g = body["usergroup"].as_str().unwrap_or_default().to_owned();
            let users = s
                .groups
                .lock()
                .unwrap()
                .get(&g)
                .cloned()
                .unwrap_or_default();
            json(
                StatusCode::OK,
                serde_json::json!({"ok": true, "users": users}),
            )
        }
        _ => {
            record_ok(200, false);
            json(
                StatusCode::OK,
                serde_json::json!({"ok": false, "error": "unknown_method"}),
            )
        }
    }
}

async fn response(
    State(s): State<Arc<SlackState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = parse_body(&headers, None, &body);
    let checked = check_message(&body, 50);
    s.calls.lock().unwrap().push(Call {
        method: "response_url".into(),
        body,
        path: id,
        status: 200,
        ok: checked.is_ok(),
    });
    match checked {
        Ok(()) => json(StatusCode::OK, serde_json::json!({"ok": true})),
        Err(error) => json(
            StatusCode::OK,
            serde_json::json!({"ok": false, "error": error}),
        ),
    }
}

/// Slack's limits on a message: its `text` and its blocks. `blocks` may
/// arrive as JSON text (form-encoded calls).
fn check_message(body: &serde_json::Value, max_blocks: usize) -> Result<(), &'static str> {
    let text = body["text"].as_str().unwrap_or_default();
    if text.chars().count() > 40_000 {
        return Err("msg_too_long");
    }
    let blocks = match &body["blocks"] {
        serde_json::Value::String(s) => {
            serde_json::from_str(s).map_err(|_| "invalid_blocks_format")?
        }
        v => v.clone(),
    };
    check_blocks(&blocks, max_blocks)
}

fn text_len(v: &serde_json::Value) -> usize {
    v["text"].as_str().map_or(0, |t| t.chars().count())
}

/// Block Kit's limits (Slack's reference for each block type).
fn check_blocks(blocks: &serde_json::Value, max_blocks: usize) -> Result<(), &'static str> {
    let Some(blocks) = blocks.as_array() else {
        return if blocks.is_null() {
            Ok(())
        } else {
            Err("invalid_blocks_format")
        };
    };
    if blocks.len() > max_blocks {
        return Err("invalid_blocks");
    }
    let mut ids = std::collections::HashSet::new();
    for b in blocks {
        if let Some(id) = b["block_id"].as_str()
            && (id.len() > 255 || !ids.insert(id.to_owned()))
        {
            return Err("invalid_blocks");
        }
        let ok = match b["type"].as_str().unwrap_or_default() {
            "header" => text_len(&b["text"]) <= 150,
            "section" => {
                text_len(&b["text"]) <= 3000
                    && b["fields"]
                        .as_array()
                        .is_none_or(|f| f.len() <= 10 && f.iter().all(|x| text_len(x) <= 2000))
            }
            "context" => b["elements"]
                .as_array()
                .is_some_and(|e| e.len() <= 10 && e.iter().all(|x| text_len(x) <= 3000)),
            "actions" => b["elements"].as_array().is_some_and(|e| {
                e.len() <= 25
                    && e.iter().all(|x| {
                        text_len(&x["text"]) <= 75
                            && x["action_id"].as_str().is_none_or(|a| a.len() <= 255)
                            && x["value"].as_str().is_none_or(|v| v.len() <= 2000)
                    })
            }),
            _ => true,
        };
        if !ok {
            return Err("invalid_blocks");
        }
    }
    Ok(())
}
