//! A fake vendor on 127.0.0.1 that records every request: CrowdStrike
//! Falcon (OAuth2 token, hostname query, contain / lift, device status) and a
//! generic webhook receiver. Tests read `requests()` to count what cordon sent.
//!
//! Like a real Falcon it knows its devices: the hosts of
//! `config/assets.example.csv` with their `crowdstrike_aid`, plus whatever a
//! test adds with [`FakeVendor::register`]. An AID it does not know is
//! refused the way vendor-apis.md §1.2 describes per-host failures: a 202
//! whose `errors[]` holds a code-404 entry naming the id and whose
//! `resources` lacks it (nothing is contained); a device read of unknown ids
//! answers 404 with the same kind of entry. The hostname query takes only an
//! FQL `hostname:'…'` filter (400 otherwise).
#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: std::time::Instant,
}

#[derive(Default)]
pub struct VendorState {
    pub requests: Mutex<Vec<Recorded>>,
    /// Answer this many action calls with 503 before succeeding.
    pub fail_actions: Mutex<u32>,
    /// Answer action calls with 429 + Retry-After: 1 this many times.
    pub throttle_actions: Mutex<u32>,
    /// Sleep this long in action calls (to kill cordon mid-call).
    pub action_delay_ms: Mutex<u64>,
    /// Device status reported by the status endpoint.
    pub device_status: Mutex<String>,
    /// Effective containments per agent id: a contain of a host that was
    /// not contained counts one (at receipt, as a real vendor acts on it even
    /// if the caller dies before the answer); a lift resets it.
    pub contained: Mutex<HashMap<String, u32>>,
    /// Behave like Falcon for repeats: a contain of a contained host answers
    /// 409 (cordon reads it as "already done") instead of acting again.
    pub idempotent: Mutex<bool>,
    /// Contain calls take this long and take effect when they answer (a
    /// vendor that works the whole call long); other calls answer at once.
    pub slow_contain_ms: Mutex<u64>,
    /// The devices Falcon knows: (hostname, AID).
    pub devices: Mutex<Vec<(String, String)>>,
}

impl VendorState {
    fn knows(&self, aid: &str) -> bool {
        self.devices.lock().unwrap().iter().any(|(_, a)| a == aid)
    }
}

/// (hostname, crowdstrike_aid) of every row of the example inventory that
/// has an AID.
fn example_devices() -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/assets.example.csv");
    let text = std::fs::read_to_string(path).expect("read assets.example.csv");
    let mut rows = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(',').map(str::trim).collect::<Vec<_>>());
    let header = rows.next().expect("assets header");
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let (host, aid) = (col("hostname"), col("crowdstrike_aid"));
    rows.filter(|r| r.get(aid).is_some_and(|a| !a.is_empty()))
        .map(|r| (r[host].to_owned(), r[aid].to_owned()))
        .collect()
}

#[derive(Clone)]
pub struct FakeVendor {
    pub url: String,
    pub state: Arc<VendorState>,
}

impl FakeVendor {
    pub async fn start() -> FakeVendor {
        Self::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(addr: &str) -> FakeVendor {
        let state = Arc::new(VendorState::default());
        *state.device_status.lock().unwrap() = "contained".into();
        *state.devices.lock().unwrap() = example_devices();
        let app = Router::new()
            .route("/oauth2/token", post(token))
            .route("/devices/queries/devices/v1", get(device_query))
            .route("/devices/entities/devices-actions/v2", post(device_action))
            .route("/devices/entities/devices/v2", get(device_status))
            .route("/hook", post(hook))
            .fallback(any(fallback))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind fake vendor");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeVendor { url, state }
    }

    /// Makes Falcon know one more device (a host outside the example
    /// inventory, or a second device under a known hostname).
    pub fn register(&self, hostname: &str, aid: &str) {
        self.state
            .devices
            .lock()
            .unwrap()
            .push((hostname.to_owned(), aid.to_owned()));
    }

    /// Hostname queries received (`GET /devices/queries/devices/v1`).
    pub fn lookups(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/devices/queries/devices/v1")
            .collect()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Action calls (contain / lift / webhook), not token or status polls.
    pub fn actions(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/devices/entities/devices-actions/v2" || r.path == "/hook")
            .collect()
    }

    /// Effective containments of one agent id (see `VendorState::contained`).
    pub fn containments(&self, aid: &str) -> u32 {
        self.state
            .contained
            .lock()
            .unwrap()
            .get(aid)
            .copied()
            .unwrap_or(0)
    }

    /// Contain requests received for one agent id (repeats included).
    pub fn contain_requests(&self, aid: &str) -> usize {
        self.actions()
            .iter()
            .filter(|r| {
                r.query.contains("action_name=contain") && r.body.contains(&format!("\"{aid}\""))
            })
            .count()
    }

    pub fn actions_named(&self, name: &str) -> usize {
        self.actions()
            .iter()
            .filter(|r| r.query.contains(&format!("action_name={name}")))
            .count()
    }

    /// Waits until `n` action calls arrived (or panics after `secs`).
    pub async fn wait_for_actions(&self, n: usize, secs: u64) -> Vec<Recorded> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let a = self.actions();
            if a.len() >= n {
                return a;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "expected {n} action calls at the fake vendor, got {}: {:?}",
                    a.len(),
                    a
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

fn record(s: &VendorState, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
    s.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(body).into_owned(),
        at: std::time::Instant::now(),
    });
}

async fn token(
    State(s): State<Arc<VendorState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    record(&s, &method, &uri, &headers, &body);
    (
        StatusCode::CREATED,
        axum::Json(
            serde_json::json!({"access_token": "tok-fake", "token_type": "bearer", "expires_in": 1799}),
        ),
    )
}

async fn device_action(
    State(s): State<Arc<VendorState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    record(&s, &method, &uri, &headers, &body);
    let action = uri.query().unwrap_or("").to_owned();
    let aids: Vec<String> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["ids"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    let (aids, unknown): (Vec<String>, Vec<String>) = aids.into_iter().partition(|a| s.knows(a));
    let mut repeat = false;
    let slow = *s.slow_contain_ms.lock().unwrap();
    if slow > 0 && action.contains("action_name=contain") {
        tokio::time::sleep(std::time::Duration::from_millis(slow)).await;
    }
    let delay = *s.action_delay_ms.lock().unwrap();
    {
        let mut c = s.contained.lock().unwrap();
        for aid in &aids {
            if action.contains("action_name=contain") {
                let n = c.entry(aid.clone()).or_insert(0);
                if *n > 0 && *s.idempotent.lock().unwrap() {
                    repeat = true;
                } else {
                    *n += 1;
                }
            } else if action.contains("action_name=lift_containment") {
                c.remove(aid);
            }
        }
    }
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    {
        let mut t = s.throttle_actions.lock().unwrap();
        if *t > 0 {
            *t -= 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "slow down",
            )
                .into_response();
        }
    }
    {
        let mut f = s.fail_actions.lock().unwrap();
        if *f > 0 {
            *f -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
        }
    }
    if repeat {
        return (StatusCode::CONFLICT, "host already contained").into_response();
    }
    let errors: Vec<_> = unknown
        .iter()
        .map(|a| serde_json::json!({"code": 404, "message": format!("Device not found: {a}")}))
        .collect();
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({
            "meta": {"trace_id": "trace-fake"},
            "resources": aids.iter().map(|i| serde_json::json!({"id": i})).collect::<Vec<_>>(),
            "errors": errors
        })),
    )
        .into_response()
}

/// `GET /devices/queries/devices/v1?filter=hostname:'…'`: the AIDs of the
/// devices with that hostname (case-insensitive, as Falcon compares them).
async fn device_query(
    State(s): State<Arc<VendorState>>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> axum::response::Response {
    record(&s, &method, &uri, &headers, &Bytes::new());
    let filter = q.get("filter").cloned().unwrap_or_default();
    let name = filter
        .strip_prefix("hostname:'")
        .and_then(|f| f.strip_suffix('\''))
        .filter(|n| !n.contains('\''));
    let Some(name) = name else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "meta": {}, "resources": [],
                "errors": [{"code": 400, "message": format!("Invalid filter: {filter}")}]
            })),
        )
            .into_response();
    };
    let aids: Vec<String> = s
        .devices
        .lock()
        .unwrap()
        .iter()
        .filter(|(h, _)| h.eq_ignore_ascii_case(name))
        .map(|(_, a)| a.clone())
        .collect();
    axum::Json(serde_json::json!({
        "meta": {"pagination": {"offset": 0, "limit": 100, "total": aids.len()}},
        "resources": aids,
        "errors": []
    }))
    .into_response()
}

async fn device_status(
    State(s): State<Arc<VendorState>>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> axum::response::Response {
    record(&s, &method, &uri, &headers, &Bytes::new());
    let aid = q.get("ids").cloned().unwrap_or_default();
    if !s.knows(&aid) {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({
                "meta": {}, "resources": [],
                "errors": [{"code": 404, "message": format!("Device not found: {aid}")}]
            })),
        )
            .into_response();
    }
    let status = s.device_status.lock().unwrap().clone();
    let hostname = s
        .devices
        .lock()
        .unwrap()
        .iter()
        .find(|(_, a)| a == &aid)
        .map(|(h, _)| h.clone())
        .unwrap_or_default();
    axum::Json(serde_json::json!({
        "resources": [{"device_id": aid, "status": status, "hostname": hostname}]
    }))
    .into_response()
}

async fn hook(
    State(s): State<Arc<VendorState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    record(&s, &method, &uri, &headers, &body);
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"ok": true, "ref": "hook-1"})),
    )
}

async fn fallback(
    State(s): State<Arc<VendorState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    record(&s, &method, &uri, &headers, &body);
    (StatusCode::NOT_FOUND, "no such fake endpoint")
}
