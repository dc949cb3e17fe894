use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{assert_retry_after, env, request};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn connector(server: &MockServer, dry_run: bool) -> SentinelOne {
    let cfg = SentinelOneConfig {
        base_url: server.uri(),
        api_token_env: "S1_TOKEN".into(),
        dry_run,
        timeout: Duration::from_secs(5),
    };
    SentinelOne::new(&cfg, &env(&[("S1_TOKEN", "s1-tok")])).unwrap()
}

fn disconnect_req() -> ExecRequest {
    request(
        ActionKind::IsolateHost,
        ActionTarget::host("host-1"),
        &[("s1_agent_id", "123")],
    )
}

async fn agent_mock(server: &MockServer, status: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path("/web/api/v2.1/agents"))
        .and(query_param("ids", "123"))
        .and(header("authorization", "ApiToken s1-tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": [{"id": "123", "computerName": "host-1", "networkStatus": status}],
            "pagination": {"totalItems": 1}
        })))
        .up_to_n_times(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn disconnect_reads_the_network_status_then_posts_an_explicit_ids_filter() {
    let server = MockServer::start().await;
    agent_mock(&server, "connected", 1).await;
    Mock::given(method("POST"))
        .and(path("/web/api/v2.1/agents/actions/disconnect"))
        .and(header("authorization", "ApiToken s1-tok"))
        .and(body_json(
            serde_json::json!({"filter": {"ids": ["123"]}, "data": {}}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": {"affected": 1}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, false)
        .execute(&disconnect_req())
        .await
        .unwrap();
    assert!(!out.already);
}

#[tokio::test]
async fn an_agent_already_disconnected_is_reported_as_already_without_the_action_call() {
    let server = MockServer::start().await;
    agent_mock(&server, "disconnected", 1).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let out = connector(&server, false)
        .execute(&disconnect_req())
        .await
        .unwrap();
    assert!(out.already && out.confirmed);
}

#[tokio::test]
async fn reconnect_uses_the_connect_action() {
    let server = MockServer::start().await;
    agent_mock(&server, "disconnected", 1).await;
    Mock::given(method("POST"))
        .and(path("/web/api/v2.1/agents/actions/connect"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": {"affected": 1}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let req = request(
        ActionKind::ReleaseHost,
        ActionTarget::host("host-1"),
        &[("s1_agent_id", "123")],
    );
    connector(&server, false).execute(&req).await.unwrap();
}

#[tokio::test]
async fn affected_zero_is_rechecked_and_is_permanent_when_nothing_changed() {
    let server = MockServer::start().await;
    agent_mock(&server, "connected", 2).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": {"affected": 0}})),
        )
        .mount(&server)
        .await;
    let err = connector(&server, false)
        .execute(&disconnect_req())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn an_empty_agent_id_is_refused_before_any_request() {
    let server = MockServer::start().await;
    let req = request(ActionKind::IsolateHost, ActionTarget::host("  "), &[]);
    let err = connector(&server, false).execute(&req).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(server.received_requests().await.unwrap().is_empty());
}

async fn read_answer(resp: ResponseTemplate) -> ExecError {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(resp)
        .mount(&server)
        .await;
    connector(&server, false)
        .execute(&disconnect_req())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_bad_token_is_permanent_and_rate_limits_and_5xx_are_retryable() {
    let err = read_answer(ResponseTemplate::new(401).set_body_json(serde_json::json!({
        "errors": [{"code": 4010010, "detail": null, "title": "Authentication Failed"}]
    })))
    .await;
    assert!(!err.is_retryable());
    assert_retry_after(
        &read_answer(ResponseTemplate::new(429).insert_header("Retry-After", "12")).await,
        12,
    );
    assert!(read_answer(ResponseTemplate::new(502)).await.is_retryable());
}

#[tokio::test]
async fn confirmation_waits_for_disconnecting_to_become_disconnected() {
    let server = MockServer::start().await;
    agent_mock(&server, "disconnecting", 1).await;
    agent_mock(&server, "disconnected", 1).await;
    let s1 = connector(&server, false);
    let out = ExecOutcome::default();
    assert_eq!(
        s1.confirm(&disconnect_req(), &out).await.unwrap(),
        Confirmation::Pending
    );
    assert_eq!(
        s1.confirm(&disconnect_req(), &out).await.unwrap(),
        Confirmation::Confirmed
    );
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let server = MockServer::start().await;
    let s1 = connector(&server, true);
    assert!(s1.execute(&disconnect_req()).await.unwrap().dry_run);
    s1.healthcheck().await.unwrap();
    assert!(server.received_requests().await.unwrap().is_empty());
}
