use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{env, request};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn connector(server: &MockServer, dry_run: bool) -> CrowdStrike {
    let cfg = CrowdStrikeConfig {
        base_url: server.uri(),
        client_id_env: "CS_ID".into(),
        client_secret_env: "CS_SECRET".into(),
        member_cid: None,
        dry_run,
        timeout: Duration::from_secs(5),
    };
    CrowdStrike::new(&cfg, &env(&[("CS_ID", "cid-1"), ("CS_SECRET", "sek-1")])).unwrap()
}

fn contain_req() -> ExecRequest {
    request(
        ActionKind::IsolateHost,
        ActionTarget::host("web-01"),
        &[("crowdstrike_aid", "aid-1")],
    )
}

async fn token_mock(server: &MockServer, token: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("client_id=cid-1"))
        .and(body_string_contains("client_secret=sek-1"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("X-Cs-Region", "us-1")
                .set_body_json(serde_json::json!({
                    "access_token": token, "token_type": "bearer", "expires_in": 1799
                })),
        )
        .up_to_n_times(1)
        .expect(times)
        .mount(server)
        .await;
}

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(serde_json::json!({
        "meta": {"query_time": 0.1, "powered_by": "device-api", "trace_id": "trace-1"},
        "resources": [{"id": "aid-1"}],
        "errors": []
    }))
}

#[tokio::test]
async fn contain_posts_the_aid_with_a_bearer_token_and_two_calls_fetch_one_token() {
    let server = MockServer::start().await;
    token_mock(&server, "tok-1", 1).await;
    Mock::given(method("POST"))
        .and(path("/devices/entities/devices-actions/v2"))
        .and(query_param("action_name", "contain"))
        .and(header("authorization", "Bearer tok-1"))
        .and(body_json(serde_json::json!({"ids": ["aid-1"]})))
        .respond_with(accepted())
        .expect(2)
        .mount(&server)
        .await;
    let cs = connector(&server, false);
    for _ in 0..2 {
        let out = cs.execute(&contain_req()).await.unwrap();
        assert_eq!(out.vendor_ref.as_deref(), Some("trace-1"));
        assert!(!out.already && !out.dry_run);
    }
}

#[tokio::test]
async fn a_401_drops_the_cached_token_and_retries_once_with_a_fresh_one() {
    let server = MockServer::start().await;
    token_mock(&server, "old", 1).await;
    token_mock(&server, "new", 1).await;
    Mock::given(method("POST"))
        .and(path("/devices/entities/devices-actions/v2"))
        .and(header("authorization", "Bearer old"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/devices/entities/devices-actions/v2"))
        .and(header("authorization", "Bearer new"))
        .respond_with(accepted())
        .expect(1)
        .mount(&server)
        .await;
    connector(&server, false)
        .execute(&contain_req())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_already_contained_host_reported_as_409_in_errors_counts_as_success() {
    let server = MockServer::start().await;
    token_mock(&server, "tok", 1).await;
    Mock::given(method("POST"))
        .and(path("/devices/entities/devices-actions/v2"))
        .respond_with(ResponseTemplate::new(202).set_body_json(serde_json::json!({
            "meta": {"trace_id": "trace-2"},
            "resources": [],
            "errors": [{"code": 409, "message": "Device aid-1 is already contained"}]
        })))
        .mount(&server)
        .await;
    let out = connector(&server, false)
        .execute(&contain_req())
        .await
        .unwrap();
    assert!(out.already);
}

async fn answer(status: u16, retry_after: Option<&str>) -> ExecError {
    let server = MockServer::start().await;
    token_mock(&server, "tok", 1).await;
    let mut resp = ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "meta": {}, "resources": [], "errors": [{"code": status, "message": "x"}]
    }));
    if let Some(s) = retry_after {
        resp = resp
            .insert_header("Retry-After", s)
            .insert_header("X-Ratelimit-Remaining", "0");
    }
    Mock::given(method("POST"))
        .and(path("/devices/entities/devices-actions/v2"))
        .respond_with(resp)
        .mount(&server)
        .await;
    connector(&server, false)
        .execute(&contain_req())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retryable_and_a_scope_error_is_permanent() {
    match answer(429, Some("7")).await {
        ExecError::Retryable { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }
    assert!(answer(503, None).await.is_retryable());
    assert!(!answer(403, None).await.is_retryable());
}

#[tokio::test]
async fn a_rejected_token_request_is_permanent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            serde_json::json!({"errors": [{"code": 403, "message": "access denied"}]}),
        ))
        .mount(&server)
        .await;
    let cs = connector(&server, false);
    assert!(!cs.execute(&contain_req()).await.unwrap_err().is_retryable());
    assert!(cs.healthcheck().await.is_err());
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let server = MockServer::start().await;
    let cs = connector(&server, true);
    let out = cs.execute(&contain_req()).await.unwrap();
    assert!(out.dry_run);
    assert_eq!(
        cs.confirm(&contain_req(), &out).await.unwrap(),
        Confirmation::Confirmed
    );
    cs.healthcheck().await.unwrap();
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn confirmation_polls_the_device_status_until_contained() {
    let server = MockServer::start().await;
    token_mock(&server, "tok", 1).await;
    for status in ["containment_pending", "contained"] {
        Mock::given(method("GET"))
            .and(path("/devices/entities/devices/v2"))
            .and(query_param("ids", "aid-1"))
            .and(header("authorization", "Bearer tok"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "resources": [{"device_id": "aid-1", "status": status}]
            })))
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    let cs = connector(&server, false);
    let out = ExecOutcome::default();
    assert_eq!(
        cs.confirm(&contain_req(), &out).await.unwrap(),
        Confirmation::Pending
    );
    assert_eq!(
        cs.confirm(&contain_req(), &out).await.unwrap(),
        Confirmation::Confirmed
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_with_the_token_and_is_permanent() {
    let server = MockServer::start().await;
    token_mock(&server, "tok", 1).await;
    Mock::given(method("POST"))
        .and(path("/devices/entities/devices-actions/v2"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("Location", "http://127.0.0.1:9/steal"),
        )
        .mount(&server)
        .await;
    let err = connector(&server, false)
        .execute(&contain_req())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
}

/// A Falcon that knows its devices (hostname, AID) and refuses what the real
/// one refuses: the hostname query takes only `hostname:'…'` (400 otherwise)
/// and answers the matching AIDs; a device action on an unknown AID answers
/// 202 with a code-404 `errors[]` entry naming it and no resource for it
/// (vendor-apis.md §1.2: per-host failures come back in the same response);
/// a device read of an unknown AID answers 404.
struct Falcon(Vec<(&'static str, &'static str)>);

impl Falcon {
    fn envelope(
        status: u16,
        resources: serde_json::Value,
        errors: serde_json::Value,
    ) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(serde_json::json!({
            "meta": {"trace_id": "trace-f"}, "resources": resources, "errors": errors
        }))
    }

    fn known(&self, aid: &str) -> bool {
        self.0.iter().any(|(_, a)| *a == aid)
    }

    fn lookup(&self, req: &Request) -> ResponseTemplate {
        let filter = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "filter")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let name = filter
            .strip_prefix("hostname:'")
            .and_then(|f| f.strip_suffix('\''))
            .filter(|n| !n.contains('\''));
        let Some(name) = name else {
            let e =
                serde_json::json!([{"code": 400, "message": format!("invalid filter {filter}")}]);
            return Self::envelope(400, serde_json::json!([]), e);
        };
        let aids: Vec<&str> = self
            .0
            .iter()
            .filter(|(h, _)| h.eq_ignore_ascii_case(name))
            .map(|(_, a)| *a)
            .collect();
        Self::envelope(200, serde_json::json!(aids), serde_json::json!([]))
    }

    fn action(&self, req: &Request) -> ResponseTemplate {
        let body: serde_json::Value = req.body_json().unwrap_or_default();
        let ids: Vec<String> = body["ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let (ok, unknown): (Vec<String>, Vec<String>) =
            ids.into_iter().partition(|a| self.known(a));
        let resources: Vec<_> = ok.iter().map(|a| serde_json::json!({"id": a})).collect();
        let errors: Vec<_> = unknown
            .iter()
            .map(|a| serde_json::json!({"code": 404, "message": format!("Device not found: {a}")}))
            .collect();
        Self::envelope(202, serde_json::json!(resources), serde_json::json!(errors))
    }

    fn read(&self, req: &Request) -> ResponseTemplate {
        let ids: Vec<String> = req
            .url
            .query_pairs()
            .filter(|(k, _)| k == "ids")
            .map(|(_, v)| v.into_owned())
            .collect();
        let found: Vec<_> = ids
            .iter()
            .filter(|a| self.known(a))
            .map(|a| serde_json::json!({"device_id": a, "status": "contained"}))
            .collect();
        if found.is_empty() {
            let e = serde_json::json!([{"code": 404, "message": format!("Devices not found: {ids:?}")}]);
            return Self::envelope(404, serde_json::json!([]), e);
        }
        Self::envelope(200, serde_json::json!(found), serde_json::json!([]))
    }
}

impl Respond for Falcon {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        match (req.method.as_str(), req.url.path()) {
            ("GET", "/devices/queries/devices/v1") => self.lookup(req),
            ("POST", "/devices/entities/devices-actions/v2") => self.action(req),
            ("GET", "/devices/entities/devices/v2") => self.read(req),
            _ => ResponseTemplate::new(404),
        }
    }
}

/// A Falcon at `server` with these (hostname, AID) devices, expecting
/// `tokens` token requests.
async fn falcon(server: &MockServer, devices: &[(&'static str, &'static str)], tokens: u64) {
    token_mock(server, "tok", tokens).await;
    Mock::given(header("authorization", "Bearer tok"))
        .respond_with(Falcon(devices.to_vec()))
        .mount(server)
        .await;
}

/// The requests the connector sent to one path.
async fn sent(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

const LOOKUP: &str = "/devices/queries/devices/v1";
const ACTION: &str = "/devices/entities/devices-actions/v2";

#[tokio::test]
async fn a_host_without_an_aid_is_looked_up_by_hostname_and_contained_by_its_aid() {
    let server = MockServer::start().await;
    falcon(&server, &[("ws-9", "aid-9"), ("ws-10", "aid-10")], 1).await;
    let cs = connector(&server, false);
    let req = request(ActionKind::IsolateHost, ActionTarget::host("ws-9"), &[]);
    let out = cs.execute(&req).await.unwrap();
    let lookups = sent(&server, LOOKUP).await;
    assert_eq!(lookups.len(), 1);
    let filter: Vec<_> = lookups[0].url.query_pairs().collect();
    assert_eq!(filter, [("filter".into(), "hostname:'ws-9'".into())]);
    let actions = sent(&server, ACTION).await;
    assert_eq!(actions.len(), 1);
    assert_eq!(
        actions[0].body_json::<serde_json::Value>().unwrap(),
        serde_json::json!({"ids": ["aid-9"]})
    );
    // The confirmation and the inverse act on the device the lookup found,
    // without looking the name up again (the engine hands the saved state
    // back as `previous`).
    let mut confirm = req.clone();
    confirm.previous = out.saved_state.clone();
    assert_eq!(
        cs.confirm(&confirm, &out).await.unwrap(),
        Confirmation::Confirmed
    );
    let mut release = request(ActionKind::ReleaseHost, ActionTarget::host("ws-9"), &[]);
    release.previous = out.saved_state.clone();
    cs.execute(&release).await.unwrap();
    assert_eq!(sent(&server, LOOKUP).await.len(), 1, "looked up once");
    let reads = sent(&server, "/devices/entities/devices/v2").await;
    assert_eq!(reads[0].url.query(), Some("ids=aid-9"));
    let lift = &sent(&server, ACTION).await[1];
    assert!(lift.url.query().unwrap().contains("lift_containment"));
    assert_eq!(
        lift.body_json::<serde_json::Value>().unwrap(),
        serde_json::json!({"ids": ["aid-9"]})
    );
}

#[tokio::test]
async fn a_confirmation_without_the_saved_aid_looks_the_host_up_again() {
    let server = MockServer::start().await;
    falcon(&server, &[("ws-9", "aid-9")], 1).await;
    let req = request(ActionKind::IsolateHost, ActionTarget::host("ws-9"), &[]);
    let state = connector(&server, false)
        .confirm(&req, &ExecOutcome::default())
        .await
        .unwrap();
    assert_eq!(state, Confirmation::Confirmed);
    let reads = sent(&server, "/devices/entities/devices/v2").await;
    assert_eq!(reads[0].url.query(), Some("ids=aid-9"));
}

#[tokio::test]
async fn an_unknown_host_is_a_permanent_error_naming_it_and_nothing_is_contained() {
    let server = MockServer::start().await;
    falcon(&server, &[("ws-9", "aid-9")], 1).await;
    let req = request(ActionKind::IsolateHost, ActionTarget::host("ws-404"), &[]);
    let err = connector(&server, false).execute(&req).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("no CrowdStrike device named \"ws-404\""),
        "{err}"
    );
    assert!(sent(&server, ACTION).await.is_empty());
}

#[tokio::test]
async fn two_devices_with_the_hostname_are_ambiguous_and_nothing_is_contained() {
    let server = MockServer::start().await;
    falcon(&server, &[("ws-9", "aid-9"), ("WS-9", "aid-9-reimaged")], 1).await;
    let req = request(ActionKind::IsolateHost, ActionTarget::host("ws-9"), &[]);
    let err = connector(&server, false).execute(&req).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("2 CrowdStrike devices named \"ws-9\": ambiguous"),
        "{msg}"
    );
    assert!(sent(&server, ACTION).await.is_empty());
}

#[tokio::test]
async fn a_hostname_that_could_widen_the_fql_filter_is_refused_before_any_request() {
    let server = MockServer::start().await;
    falcon(&server, &[("ws-9", "aid-9")], 0).await;
    for name in ["ws-9'+hostname:*'*", "ws-*", "ws 9", "ws-9,ws-10", ""] {
        let req = request(ActionKind::IsolateHost, ActionTarget::host(name), &[]);
        let err = connector(&server, false).execute(&req).await.unwrap_err();
        assert!(!err.is_retryable(), "{name}: {err}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_aid_falcon_does_not_know_is_a_permanent_error_naming_it() {
    let server = MockServer::start().await;
    falcon(&server, &[("ws-9", "aid-9")], 1).await;
    let req = request(
        ActionKind::IsolateHost,
        ActionTarget::host("ws-9"),
        &[("crowdstrike_aid", "aid-gone")],
    );
    let cs = connector(&server, false);
    let err = cs.execute(&req).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("aid-gone"), "{err}");
    let err = cs.confirm(&req, &ExecOutcome::default()).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        sent(&server, LOOKUP).await.is_empty(),
        "a recorded AID is not second-guessed"
    );
}
