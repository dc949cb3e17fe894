//! Loopback fakes for the harness:
//!
//! - a fake CrowdStrike Falcon (token, contain, device status) and a webhook
//!   receiver for Alertmanager. Each records the instant the request
//!   arrived, keyed by what identifies the sample (the CrowdStrike agent id;
//!   the Alertmanager `id` label);
//! - a fake Slack Web API ([`FakeSlack`]) that answers every call cordon's
//!   Slack surface makes with Slack-shaped JSON at once, counts the calls per
//!   method, and remembers the buttons of the messages posted or updated, so
//!   the approve series can click one. Everything it keeps is bounded (the
//!   throughput phases send it tens of thousands of calls).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{any, get, post};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Arrival instants by sample key. First arrival wins (a retry is not a
/// faster answer).
#[derive(Default)]
pub struct Arrivals {
    seen: Mutex<HashMap<String, Instant>>,
}

impl Arrivals {
    fn record(&self, key: String, at: Instant) {
        if let Ok(mut m) = self.seen.lock() {
            m.entry(key).or_insert(at);
        }
    }

    /// When `key` first arrived.
    pub fn get(&self, key: &str) -> Option<Instant> {
        self.seen.lock().ok().and_then(|m| m.get(key).copied())
    }
}

/// A running receiver.
pub struct Receiver {
    pub url: String,
    pub arrivals: Arc<Arrivals>,
}

/// Starts the fake vendor and webhook receiver on 127.0.0.1 (a free port).
pub async fn start() -> std::io::Result<Receiver> {
    let arrivals = Arc::new(Arrivals::default());
    let app = Router::new()
        .route("/oauth2/token", post(token))
        .route("/devices/entities/devices-actions/v2", post(contain))
        .route("/devices/entities/devices/v2", get(status))
        .route("/am", post(alertmanager_hook))
        .with_state(Arc::clone(&arrivals));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Receiver { url, arrivals })
}

async fn token() -> axum::Json<serde_json::Value> {
    axum::Json(
        serde_json::json!({"access_token": "tok-bench", "token_type": "bearer", "expires_in": 1799}),
    )
}

async fn contain(State(a): State<Arc<Arrivals>>, body: Bytes) -> axum::Json<serde_json::Value> {
    let at = Instant::now();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let ids: Vec<String> = v["ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for id in &ids {
        a.record(id.clone(), at);
    }
    axum::Json(serde_json::json!({
        "meta": {"trace_id": "trace-bench"},
        "resources": ids.iter().map(|i| serde_json::json!({"id": i})).collect::<Vec<_>>(),
        "errors": []
    }))
}

async fn status() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"resources": [{"status": "contained"}]}))
}

async fn alertmanager_hook(State(a): State<Arc<Arrivals>>, body: Bytes) -> &'static str {
    let at = Instant::now();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    for alert in v["alerts"].as_array().into_iter().flatten() {
        if let Some(id) = alert["labels"]["id"].as_str() {
            a.record(id.to_owned(), at);
        }
    }
    "ok"
}

/// The Web API methods the fake answers (anything else gets
/// `unknown_method`, and the bench says so).
const SLACK_ANSWERED: &[&str] = &[
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "conversations.create",
    "conversations.invite",
    "usergroups.users.list",
    "views.open",
    "auth.test",
    "response_url",
];

/// Buttons and private replies remembered by the fake Slack (the most
/// recent ones; the approve series uses each within seconds).
const SLACK_KEEP: usize = 4096;
/// Distinct method names counted; anything beyond is counted as `other`.
const SLACK_METHODS: usize = 64;

/// A map that keeps only the `cap` most recently inserted keys.
struct Recent<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
    cap: usize,
}

impl<V: Clone> Recent<V> {
    fn new(cap: usize) -> Self {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    fn insert(&mut self, key: String, v: V) {
        if self.map.insert(key.clone(), v).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    fn get(&self, key: &str) -> Option<V> {
        self.map.get(key).cloned()
    }
}

/// A button of a message cordon posted or updated.
#[derive(Debug, Clone)]
pub struct PostedButton {
    pub channel: String,
    /// The message's ts (what a click's `container.message_ts` names).
    pub ts: String,
    pub block_id: String,
    pub value: String,
}

/// What the fake Slack records.
pub struct SlackState {
    calls: Mutex<BTreeMap<String, u64>>,
    /// Buttons by `action_id`.
    buttons: Mutex<Recent<PostedButton>>,
    /// The text of the last reply through each `response_url` id.
    replies: Mutex<Recent<String>>,
    /// `usergroups.users.list` answers: group id → user ids.
    groups: HashMap<String, Vec<String>>,
    next_ts: AtomicU64,
    next_channel: AtomicU64,
}

impl SlackState {
    fn count(&self, method: &str) {
        if let Ok(mut m) = self.calls.lock() {
            let key = if m.contains_key(method) || m.len() < SLACK_METHODS {
                method
            } else {
                "other"
            };
            *m.entry(key.to_owned()).or_default() += 1;
        }
    }

    fn remember_buttons(&self, channel: &str, ts: &str, blocks: &serde_json::Value) {
        // A form-encoded call carries the blocks as a JSON string.
        let parsed;
        let blocks = match blocks.as_str() {
            Some(s) => {
                parsed = serde_json::from_str(s).unwrap_or_default();
                &parsed
            }
            None => blocks,
        };
        let Ok(mut b) = self.buttons.lock() else {
            return;
        };
        for block in blocks.as_array().into_iter().flatten() {
            let block_id = block["block_id"].as_str().unwrap_or_default();
            for e in block["elements"].as_array().into_iter().flatten() {
                if e["type"] != "button" {
                    continue;
                }
                if let Some(id) = e["action_id"].as_str() {
                    b.insert(
                        id.to_owned(),
                        PostedButton {
                            channel: channel.to_owned(),
                            ts: ts.to_owned(),
                            block_id: block_id.to_owned(),
                            value: e["value"].as_str().unwrap_or_default().to_owned(),
                        },
                    );
                }
            }
        }
    }
}

/// A running fake Slack Web API; stopped when dropped.
pub struct FakeSlack {
    /// The Web API base URL to give cordon (`…/api`).
    pub api_url: String,
    url: String,
    state: Arc<SlackState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSlack {
    /// Starts it on 127.0.0.1 (a free port). `groups` answers
    /// `usergroups.users.list`.
    pub async fn start(groups: HashMap<String, Vec<String>>) -> std::io::Result<FakeSlack> {
        let state = Arc::new(SlackState {
            calls: Mutex::new(BTreeMap::new()),
            buttons: Mutex::new(Recent::new(SLACK_KEEP)),
            replies: Mutex::new(Recent::new(SLACK_KEEP)),
            groups,
            next_ts: AtomicU64::new(0),
            next_channel: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/api/{method}", any(slack_api))
            .route("/response/{id}", any(slack_response))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeSlack {
            api_url: format!("{url}/api"),
            url,
            state,
            server,
        })
    }

    /// A `response_url` whose replies are remembered under `id`.
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.url)
    }

    /// The button with this `action_id`, once a message showing it was
    /// posted or updated.
    pub fn button(&self, action_id: &str) -> Option<PostedButton> {
        self.state.buttons.lock().ok()?.get(action_id)
    }

    /// The last reply sent through `response_url(id)`.
    pub fn reply(&self, id: &str) -> Option<String> {
        self.state.replies.lock().ok()?.get(id)
    }

    /// Methods cordon called that the fake does not answer.
    pub fn unanswered(&self) -> Vec<String> {
        self.calls()
            .into_keys()
            .filter(|m| !SLACK_ANSWERED.contains(&m.as_str()))
            .collect()
    }

    /// Calls so far, per method (`chat.postMessage`, `response_url`, …).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.state
            .calls
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }
}

/// The call's parameters as one JSON object: a JSON body, or form fields,
/// plus the query string (GET methods such as `usergroups.users.list`).
fn slack_params(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> serde_json::Value {
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let mut v = if json {
        serde_json::from_slice(body).unwrap_or_default()
    } else {
        let m: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        serde_json::to_value(m).unwrap_or_default()
    };
    if !v.is_object() {
        v = serde_json::json!({});
    }
    if let Some(q) = query {
        let m: HashMap<String, String> = serde_urlencoded::from_str(q).unwrap_or_default();
        for (k, val) in m {
            v[k] = serde_json::Value::String(val);
        }
    }
    v
}

async fn slack_api(
    State(s): State<Arc<SlackState>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<serde_json::Value> {
    use serde_json::json;
    s.count(&method);
    let p = slack_params(&headers, query.as_deref(), &body);
    let channel = p["channel"].as_str().unwrap_or_default();
    axum::Json(match method.as_str() {
        "chat.postMessage" => {
            let n = s.next_ts.fetch_add(1, Ordering::Relaxed) + 1;
            let ts = format!("1700000000.{n:06}");
            s.remember_buttons(channel, &ts, &p["blocks"]);
            json!({"ok": true, "channel": channel, "ts": ts,
                   "message": {"ts": ts, "text": p["text"]}})
        }
        "chat.update" => {
            let ts = p["ts"].as_str().unwrap_or_default();
            s.remember_buttons(channel, ts, &p["blocks"]);
            json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": p["text"]}})
        }
        "chat.postEphemeral" => json!({"ok": true, "message_ts": "1700000000.000000"}),
        "conversations.create" => {
            let n = s.next_channel.fetch_add(1, Ordering::Relaxed) + 1;
            json!({"ok": true, "channel": {"id": format!("CBENCH{n:06}"), "name": p["name"],
                   "created": 1700000000, "is_channel": true, "is_private": false}})
        }
        "conversations.invite" => {
            json!({"ok": true, "channel": {"id": channel, "created": 1700000000}})
        }
        "usergroups.users.list" => {
            let users = p["usergroup"]
                .as_str()
                .and_then(|g| s.groups.get(g))
                .cloned()
                .unwrap_or_default();
            json!({"ok": true, "users": users})
        }
        "views.open" => {
            let mut view = p["view"].clone();
            if view.is_string() {
                view = serde_json::from_str(view.as_str().unwrap_or_default()).unwrap_or_default();
            }
            view["id"] = json!("VBENCH");
            view["team_id"] = json!("TBENCH");
            view["hash"] = json!("h1");
            json!({"ok": true, "view": view})
        }
        "auth.test" => {
            json!({"ok": true, "url": "https://cordon-bench.slack.com/", "team": "cordon-bench",
                   "user": "cordon", "team_id": "TBENCH", "user_id": "UCORDON", "bot_id": "BCORDON"})
        }
        _ => json!({"ok": false, "error": "unknown_method"}),
    })
}

async fn slack_response(
    State(s): State<Arc<SlackState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<serde_json::Value> {
    s.count("response_url");
    let p = slack_params(&headers, None, &body);
    if let Ok(mut r) = s.replies.lock() {
        r.insert(id, p["text"].as_str().unwrap_or_default().to_owned());
    }
    axum::Json(serde_json::json!({"ok": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_keeps_only_the_newest_keys() {
        let mut r = Recent::new(2);
        r.insert("a".into(), 1);
        r.insert("b".into(), 2);
        r.insert("a".into(), 3);
        r.insert("c".into(), 4);
        assert_eq!(r.get("a"), None);
        assert_eq!(r.get("b"), Some(2));
        assert_eq!(r.get("c"), Some(4));
        assert_eq!(r.map.len(), 2);
    }

    #[tokio::test]
    async fn the_fake_slack_answers_posts_and_remembers_their_buttons() {
        let slack = FakeSlack::start(HashMap::from([("S1".into(), vec!["U1".into()])]))
            .await
            .expect("start");
        let http = reqwest::Client::new();
        let posted: serde_json::Value = http
            .post(format!("{}/chat.postMessage", slack.api_url))
            .json(
                &serde_json::json!({"channel": "C1", "text": "t", "blocks": [
                {"type": "actions", "block_id": "dec-7", "elements": [
                    {"type": "button", "action_id": "approve:dec-7", "value": "approve:dec-7"}]}]}),
            )
            .send()
            .await
            .expect("post")
            .json()
            .await
            .expect("json");
        assert_eq!(posted["ok"], true);
        assert_eq!(posted["channel"], "C1");
        let b = slack.button("approve:dec-7").expect("button");
        assert_eq!(
            (b.channel.as_str(), b.ts.as_str(), b.block_id.as_str()),
            ("C1", posted["ts"].as_str().expect("ts"), "dec-7")
        );
        let groups: serde_json::Value = http
            .get(format!(
                "{}/usergroups.users.list?usergroup=S1",
                slack.api_url
            ))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(groups["users"], serde_json::json!(["U1"]));
        let _ = http
            .post(format!("{}/users.list", slack.api_url))
            .send()
            .await;
        assert_eq!(slack.unanswered(), ["users.list"]);
        assert_eq!(slack.calls()["chat.postMessage"], 1);
    }
}
