use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{assert_retry_after, env, request};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

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
    org(&server, &[("admin@example.com", "00uadmin", "ACTIVE")]).await;
    let r = request(
        ActionKind::EnableUser,
        ActionTarget::user("x/../../../api/v1/users/admin"),
        &[],
    );
    let err = connector(&server, false).execute(&r).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let got = server.received_requests().await.unwrap();
    assert_eq!(got.len(), 1, "only the lookup: {got:?}");
    assert_eq!(
        got[0].url.path(),
        "/api/v1/users/x%2F..%2F..%2F..%2Fapi%2Fv1%2Fusers%2Fadmin"
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

/// An Okta org that knows its users (login, id, status) and answers like the
/// real one: `GET /api/v1/users/{id | login | unambiguous short login}` the
/// user, else 404 `E0000007`; lifecycle and session calls on an unknown id
/// 404 too.
struct Org(Vec<(&'static str, &'static str, &'static str)>);

fn not_found(what: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(serde_json::json!({
        "errorCode": "E0000007", "errorSummary": format!("Not found: Resource not found: {what} (User)"),
        "errorLink": "E0000007", "errorId": "oae1", "errorCauses": []
    }))
}

impl Org {
    fn find(&self, key: &str) -> Option<&(&'static str, &'static str, &'static str)> {
        if let Some(u) = self
            .0
            .iter()
            .find(|(login, id, _)| *id == key || login.eq_ignore_ascii_case(key))
        {
            return Some(u);
        }
        let short: Vec<_> = self
            .0
            .iter()
            .filter(|(login, _, _)| {
                login
                    .split('@')
                    .next()
                    .is_some_and(|s| s.eq_ignore_ascii_case(key))
            })
            .collect();
        (short.len() == 1).then(|| short[0])
    }
}

impl Respond for Org {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let rest = req.url.path().strip_prefix("/api/v1/users/").unwrap_or("");
        let mut parts = rest.splitn(2, '/');
        let key = parts.next().unwrap_or("");
        let tail = parts.next();
        let decoded = percent_decode(key);
        match (req.method.as_str(), tail) {
            ("GET", None) => match self.find(&decoded) {
                Some((login, id, status)) => {
                    ResponseTemplate::new(200).set_body_json(serde_json::json!({
                        "id": id, "status": status, "transitioningToStatus": null,
                        "profile": {"login": login, "email": login}
                    }))
                }
                None => not_found(&decoded),
            },
            // Lifecycle and sessions address users by id here.
            (_, Some(_)) if !self.0.iter().any(|(_, id, _)| *id == decoded) => not_found(&decoded),
            ("POST", Some(_)) => ResponseTemplate::new(200),
            ("DELETE", Some("sessions")) => ResponseTemplate::new(204),
            _ => not_found(&decoded),
        }
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("k={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn org(server: &MockServer, users: &[(&'static str, &'static str, &'static str)]) {
    Mock::given(header("authorization", "SSWS okta-tok"))
        .respond_with(Org(users.to_vec()))
        .mount(server)
        .await;
}

async fn changes(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() != "GET")
        .collect()
}

#[tokio::test]
async fn a_user_without_an_okta_id_is_looked_up_by_login_and_suspended_by_id() {
    let server = MockServer::start().await;
    org(
        &server,
        &[
            ("jdoe@example.com", "00ujdoe", "ACTIVE"),
            ("ann@example.com", "00uann", "ACTIVE"),
        ],
    )
    .await;
    let okta = connector(&server, false);
    let r = request(
        ActionKind::DisableUser,
        ActionTarget::user("jdoe@example.com"),
        &[],
    );
    let out = okta.execute(&r).await.unwrap();
    let got = server.received_requests().await.unwrap();
    assert_eq!(got[0].url.path(), "/api/v1/users/jdoe@example.com");
    let paths: Vec<String> = changes(&server)
        .await
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/api/v1/users/00ujdoe/lifecycle/suspend",
            "/api/v1/users/00ujdoe/sessions"
        ]
    );
    // The inverse unsuspends the same id without another lookup.
    let mut inverse = request(
        ActionKind::EnableUser,
        ActionTarget::user("jdoe@example.com"),
        &[],
    );
    inverse.previous = out.saved_state.clone();
    okta.execute(&inverse).await.unwrap();
    let got = server.received_requests().await.unwrap();
    assert_eq!(
        got.last().unwrap().url.path(),
        "/api/v1/users/00ujdoe/lifecycle/unsuspend"
    );
    assert_eq!(got.iter().filter(|r| r.method.as_str() == "GET").count(), 1);
}

#[tokio::test]
async fn an_unknown_login_is_a_permanent_error_naming_it_and_nothing_is_suspended() {
    let server = MockServer::start().await;
    org(&server, &[("jdoe@example.com", "00ujdoe", "ACTIVE")]).await;
    let r = request(
        ActionKind::DisableUser,
        ActionTarget::user("ghost@example.com"),
        &[],
    );
    let err = connector(&server, false).execute(&r).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("no Okta user named \"ghost@example.com\""),
        "{err}"
    );
    assert!(changes(&server).await.is_empty());
}

#[tokio::test]
async fn an_ambiguous_short_login_is_refused_and_nothing_is_suspended() {
    let server = MockServer::start().await;
    org(
        &server,
        &[
            ("jdoe@example.com", "00u1", "ACTIVE"),
            ("jdoe@sub.example.com", "00u2", "ACTIVE"),
        ],
    )
    .await;
    let r = request(ActionKind::DisableUser, ActionTarget::user("jdoe"), &[]);
    let err = connector(&server, false).execute(&r).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("\"jdoe\""), "{err}");
    assert!(changes(&server).await.is_empty());
}

#[tokio::test]
async fn a_name_that_is_another_users_okta_id_is_refused_not_acted_on() {
    let server = MockServer::start().await;
    org(&server, &[("ceo@example.com", "00uceo", "ACTIVE")]).await;
    let r = request(ActionKind::DisableUser, ActionTarget::user("00uceo"), &[]);
    let err = connector(&server, false).execute(&r).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("ceo@example.com"), "{err}");
    assert!(changes(&server).await.is_empty());
}
