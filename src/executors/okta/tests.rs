use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{assert_retry_after, env, request};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn connector(server: &MockServer, dry_run: bool) -> Okta {
    let cfg = OktaConfig {
        base_url: server.uri(),
        api_token_env: "OKTA_TOKEN".into(),
        clear_sessions_on_disable: true,
        dry_run,
        timeout: Duration::from_secs(5),
    };
    Okta::new(&cfg, &env(&[("OKTA_TOKEN", "okta-tok")])).unwrap()
}

fn req(action: ActionKind) -> ExecRequest {
    request(
        action,
        ActionTarget::user("jdoe@example.com"),
        &[("okta_user_id", "00u1")],
    )
}

async fn sessions_mock(server: &MockServer, times: u64) {
    Mock::given(method("DELETE"))
        .and(path("/api/v1/users/00u1/sessions"))
        .and(query_param("oauthTokens", "true"))
        .and(header("authorization", "SSWS okta-tok"))
        .respond_with(ResponseTemplate::new(204))
        .expect(times)
        .mount(server)
        .await;
}

async fn user_mock(server: &MockServer, status: &str, transitioning: Option<&str>) {
    Mock::given(method("GET"))
        .and(path("/api/v1/users/00u1"))
        .and(header("authorization", "SSWS okta-tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "00u1", "status": status, "transitioningToStatus": transitioning
        })))
        .up_to_n_times(1)
        .mount(server)
        .await;
}

fn wrong_state() -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(serde_json::json!({
        "errorCode": "E0000001", "errorSummary": "Api validation failed: user",
        "errorCauses": [{"errorSummary": "Only active users can be suspended."}]
    }))
}

#[tokio::test]
async fn disable_suspends_with_the_ssws_token_and_clears_sessions_with_oauth_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/00u1/lifecycle/suspend"))
        .and(header("authorization", "SSWS okta-tok"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    sessions_mock(&server, 1).await;
    let out = connector(&server, false)
        .execute(&req(ActionKind::DisableUser))
        .await
        .unwrap();
    assert!(!out.already);
    let got = server.received_requests().await.unwrap();
    assert_eq!(
        got[0].method.as_str(),
        "POST",
        "suspend before clearing sessions"
    );
    assert!(got[0].body.is_empty(), "suspend has no body");
}

#[tokio::test]
async fn a_second_suspend_answered_400_counts_as_already_when_the_user_is_suspended() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/00u1/lifecycle/suspend"))
        .respond_with(wrong_state())
        .mount(&server)
        .await;
    user_mock(&server, "SUSPENDED", None).await;
    sessions_mock(&server, 1).await;
    let out = connector(&server, false)
        .execute(&req(ActionKind::DisableUser))
        .await
        .unwrap();
    assert!(out.already && out.confirmed);
}

#[tokio::test]
async fn unsuspend_of_an_active_user_counts_as_already() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/00u1/lifecycle/unsuspend"))
        .respond_with(wrong_state())
        .mount(&server)
        .await;
    user_mock(&server, "ACTIVE", None).await;
    let out = connector(&server, false)
        .execute(&req(ActionKind::EnableUser))
        .await
        .unwrap();
    assert!(out.already);
}

#[tokio::test]
async fn a_400_for_a_user_in_another_state_is_permanent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(wrong_state())
        .mount(&server)
        .await;
    user_mock(&server, "DEPROVISIONED", None).await;
    let err = connector(&server, false)
        .execute(&req(ActionKind::DisableUser))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
}

#[tokio::test]
async fn revoke_sessions_only_clears_sessions() {
    let server = MockServer::start().await;
    sessions_mock(&server, 1).await;
    let out = connector(&server, false)
        .execute(&req(ActionKind::RevokeSessions))
        .await
        .unwrap();
    assert!(out.confirmed);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

async fn suspend_answer(resp: ResponseTemplate) -> ExecError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(resp)
        .mount(&server)
        .await;
    connector(&server, false)
        .execute(&req(ActionKind::DisableUser))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_429_waits_until_x_rate_limit_reset() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let err = suspend_answer(
        ResponseTemplate::new(429)
            .insert_header("X-Rate-Limit-Limit", "600")
            .insert_header("X-Rate-Limit-Remaining", "0")
            .insert_header("X-Rate-Limit-Reset", (now + 30).to_string().as_str())
            .set_body_json(serde_json::json!({
                "errorCode": "E0000047",
                "errorSummary": "API call exceeded rate limit due to too many requests."
            })),
    )
    .await;
    match err {
        ExecError::Retryable {
            retry_after: Some(d),
            ..
        } => assert!((28..=30).contains(&d.as_secs()), "{d:?}"),
        other => panic!("{other:?}"),
    }
    assert_retry_after(
        &suspend_answer(ResponseTemplate::new(429).insert_header("Retry-After", "5")).await,
        5,
    );
}

#[tokio::test]
async fn permission_errors_are_permanent_and_server_errors_retryable() {
    let err = suspend_answer(ResponseTemplate::new(403).set_body_json(serde_json::json!({
        "errorCode": "E0000006",
        "errorSummary": "You do not have permission to perform the requested action"
    })))
    .await;
    assert!(!err.is_retryable());
    assert!(
        !suspend_answer(ResponseTemplate::new(404))
            .await
            .is_retryable()
    );
    assert!(
        suspend_answer(ResponseTemplate::new(500))
            .await
            .is_retryable()
    );
}

#[tokio::test]
async fn confirmation_waits_until_the_user_is_suspended_and_no_longer_transitioning() {
    let server = MockServer::start().await;
    user_mock(&server, "ACTIVE", Some("SUSPENDED")).await;
    user_mock(&server, "SUSPENDED", None).await;
    let okta = connector(&server, false);
    let r = req(ActionKind::DisableUser);
    let out = ExecOutcome::default();
    assert_eq!(okta.confirm(&r, &out).await.unwrap(), Confirmation::Pending);
    assert_eq!(
        okta.confirm(&r, &out).await.unwrap(),
        Confirmation::Confirmed
    );
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let server = MockServer::start().await;
    let okta = connector(&server, true);
    for a in [
        ActionKind::DisableUser,
        ActionKind::EnableUser,
        ActionKind::RevokeSessions,
    ] {
        assert!(okta.execute(&req(a)).await.unwrap().dry_run);
    }
    okta.healthcheck().await.unwrap();
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_hostile_user_name_from_an_alert_stays_inside_its_path_segment() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let r = request(
        ActionKind::EnableUser,
        ActionTarget::user("x/../../../api/v1/users/admin"),
        &[],
    );
    connector(&server, false).execute(&r).await.unwrap();
    let got = server.received_requests().await.unwrap();
    assert_eq!(
        got[0].url.path(),
        "/api/v1/users/x%2F..%2F..%2F..%2Fapi%2Fv1%2Fusers%2Fadmin/lifecycle/unsuspend"
    );
}

#[tokio::test]
async fn lifecycle_calls_send_an_explicit_empty_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    connector(&server, false)
        .execute(&req(ActionKind::EnableUser))
        .await
        .unwrap();
    let got = server.received_requests().await.unwrap();
    assert_eq!(got[0].headers.get("content-length").unwrap(), "0");
    assert!(got[0].body.is_empty());
}
