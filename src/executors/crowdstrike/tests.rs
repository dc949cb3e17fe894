use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{env, request};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
async fn lift_containment_falls_back_to_the_target_value_without_an_aid() {
    let server = MockServer::start().await;
    token_mock(&server, "tok-1", 1).await;
    Mock::given(method("POST"))
        .and(path("/devices/entities/devices-actions/v2"))
        .and(query_param("action_name", "lift_containment"))
        .and(body_json(serde_json::json!({"ids": ["aid-1"]})))
        .respond_with(accepted())
        .expect(1)
        .mount(&server)
        .await;
    let req = request(ActionKind::ReleaseHost, ActionTarget::host("aid-1"), &[]);
    connector(&server, false).execute(&req).await.unwrap();
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

#[tokio::test]
async fn a_per_host_error_other_than_409_is_permanent() {
    let server = MockServer::start().await;
    token_mock(&server, "tok", 1).await;
    Mock::given(method("POST"))
        .and(path("/devices/entities/devices-actions/v2"))
        .respond_with(ResponseTemplate::new(202).set_body_json(serde_json::json!({
            "meta": {}, "resources": [],
            "errors": [{"code": 404, "message": "aid-1 not found"}]
        })))
        .mount(&server)
        .await;
    let err = connector(&server, false)
        .execute(&contain_req())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
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
