use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{assert_retry_after, env, request};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn connector(server: &MockServer, dry_run: bool) -> Entra {
    let cfg = EntraConfig {
        base_url: server.uri(),
        login_base_url: server.uri(),
        tenant_id: "tenant-1".into(),
        client_id_env: "ENTRA_ID".into(),
        client_secret_env: "ENTRA_SECRET".into(),
        scope: default_scope(),
        revoke_sessions_on_disable: true,
        dry_run,
        timeout: Duration::from_secs(5),
    };
    Entra::new(
        &cfg,
        &env(&[("ENTRA_ID", "app-2"), ("ENTRA_SECRET", "sek")]),
    )
    .unwrap()
}

fn req(action: ActionKind) -> ExecRequest {
    request(
        action,
        ActionTarget::user("jdoe@example.com"),
        &[("entra_user_id", "u-1")],
    )
}

async fn token_mock(server: &MockServer, token: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=app-2"))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": token
        })))
        .up_to_n_times(1)
        .expect(times)
        .mount(server)
        .await;
}

async fn patch_mock(server: &MockServer, enabled: bool, times: u64) {
    Mock::given(method("PATCH"))
        .and(path("/v1.0/users/u-1"))
        .and(header("authorization", "Bearer g-tok"))
        .and(header("content-type", "application/json"))
        .and(body_json(serde_json::json!({"accountEnabled": enabled})))
        .respond_with(ResponseTemplate::new(204))
        .expect(times)
        .mount(server)
        .await;
}

async fn revoke_mock(server: &MockServer, resp: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path("/v1.0/users/u-1/revokeSignInSessions"))
        .and(header("authorization", "Bearer g-tok"))
        .respond_with(resp)
        .expect(times)
        .mount(server)
        .await;
}

fn revoked() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": true
    }))
}

#[tokio::test]
async fn disable_patches_account_enabled_false_then_revokes_sessions_with_one_token() {
    let server = MockServer::start().await;
    token_mock(&server, "g-tok", 1).await;
    patch_mock(&server, false, 2).await;
    revoke_mock(&server, revoked(), 2).await;
    let entra = connector(&server, false);
    for _ in 0..2 {
        let out = entra.execute(&req(ActionKind::DisableUser)).await.unwrap();
        assert!(!out.confirmed);
    }
    let got = server.received_requests().await.unwrap();
    let order: Vec<&str> = got.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(order, ["POST", "PATCH", "POST", "PATCH", "POST"]);
}

#[tokio::test]
async fn enable_patches_true_and_revoke_accepts_the_documented_204_too() {
    let server = MockServer::start().await;
    token_mock(&server, "g-tok", 1).await;
    patch_mock(&server, true, 1).await;
    revoke_mock(&server, ResponseTemplate::new(204), 1).await;
    let entra = connector(&server, false);
    entra.execute(&req(ActionKind::EnableUser)).await.unwrap();
    let out = entra
        .execute(&req(ActionKind::RevokeSessions))
        .await
        .unwrap();
    assert!(out.confirmed);
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let server = MockServer::start().await;
    token_mock(&server, "stale", 1).await;
    token_mock(&server, "g-tok", 1).await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer stale"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": {"code": "InvalidAuthenticationToken", "message": "expired"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    revoke_mock(&server, revoked(), 1).await;
    connector(&server, false)
        .execute(&req(ActionKind::RevokeSessions))
        .await
        .unwrap();
}

async fn patch_answer(resp: ResponseTemplate) -> ExecError {
    let server = MockServer::start().await;
    token_mock(&server, "g-tok", 1).await;
    Mock::given(method("PATCH"))
        .respond_with(resp)
        .mount(&server)
        .await;
    connector(&server, false)
        .execute(&req(ActionKind::DisableUser))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn denied_and_unknown_users_are_permanent_and_throttling_is_retryable() {
    let err = patch_answer(ResponseTemplate::new(403).set_body_json(serde_json::json!({
        "error": {"code": "Authorization_RequestDenied",
                  "message": "Insufficient privileges to complete the operation."}
    })))
    .await;
    assert!(!err.is_retryable());
    let err = patch_answer(ResponseTemplate::new(404).set_body_json(serde_json::json!({
        "error": {"code": "Request_ResourceNotFound", "message": "no such user"}
    })))
    .await;
    assert!(!err.is_retryable());
    assert_retry_after(
        &patch_answer(ResponseTemplate::new(429).insert_header("Retry-After", "9")).await,
        9,
    );
    assert_retry_after(
        &patch_answer(ResponseTemplate::new(503).insert_header("Retry-After", "4")).await,
        4,
    );
}

#[tokio::test]
async fn confirmation_reads_account_enabled() {
    let server = MockServer::start().await;
    token_mock(&server, "g-tok", 1).await;
    for enabled in [true, false] {
        Mock::given(method("GET"))
            .and(path("/v1.0/users/u-1"))
            .and(query_param(
                "$select",
                "accountEnabled,signInSessionsValidFromDateTime",
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"accountEnabled": enabled})),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    let entra = connector(&server, false);
    let r = req(ActionKind::DisableUser);
    let out = ExecOutcome::default();
    assert_eq!(
        entra.confirm(&r, &out).await.unwrap(),
        Confirmation::Pending
    );
    assert_eq!(
        entra.confirm(&r, &out).await.unwrap(),
        Confirmation::Confirmed
    );
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let server = MockServer::start().await;
    let entra = connector(&server, true);
    assert!(
        entra
            .execute(&req(ActionKind::DisableUser))
            .await
            .unwrap()
            .dry_run
    );
    entra.healthcheck().await.unwrap();
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn revoke_sends_no_body_with_an_explicit_zero_length() {
    let server = MockServer::start().await;
    token_mock(&server, "g-tok", 1).await;
    revoke_mock(&server, revoked(), 1).await;
    connector(&server, false)
        .execute(&req(ActionKind::RevokeSessions))
        .await
        .unwrap();
    let got = server.received_requests().await.unwrap();
    let revoke = got.last().unwrap();
    assert_eq!(revoke.headers.get("content-length").unwrap(), "0");
    assert!(revoke.body.is_empty());
}

/// A Graph tenant that knows its users (UPN, object id) and answers like
/// the real one: `/v1.0/users/{id | userPrincipalName}` for a known user,
/// 404 `Request_ResourceNotFound` naming it for anyone else (§5.3).
struct Tenant(Vec<(&'static str, &'static str)>);

impl Respond for Tenant {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let rest = req.url.path().strip_prefix("/v1.0/users/").unwrap_or("");
        let key = rest.split('/').next().unwrap_or("");
        let known = self
            .0
            .iter()
            .any(|(upn, id)| *id == key || upn.eq_ignore_ascii_case(key));
        if !known {
            return ResponseTemplate::new(404).set_body_json(serde_json::json!({"error": {
                "code": "Request_ResourceNotFound",
                "message": format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present.")
            }}));
        }
        match req.method.as_str() {
            "PATCH" => ResponseTemplate::new(204),
            "POST" => revoked(),
            _ => ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"accountEnabled": false})),
        }
    }
}

async fn tenant(server: &MockServer, users: &[(&'static str, &'static str)], tokens: u64) {
    token_mock(server, "g-tok", tokens).await;
    Mock::given(header("authorization", "Bearer g-tok"))
        .respond_with(Tenant(users.to_vec()))
        .mount(server)
        .await;
}

async fn graph_calls(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().starts_with("/v1.0/"))
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[tokio::test]
async fn a_user_without_an_object_id_is_addressed_by_their_upn() {
    let server = MockServer::start().await;
    tenant(&server, &[("jdoe@example.com", "u-1")], 1).await;
    let entra = connector(&server, false);
    let r = request(
        ActionKind::DisableUser,
        ActionTarget::user("jdoe@example.com"),
        &[],
    );
    let out = entra.execute(&r).await.unwrap();
    assert_eq!(
        entra.confirm(&r, &out).await.unwrap(),
        Confirmation::Confirmed
    );
    assert_eq!(
        graph_calls(&server).await,
        [
            "PATCH /v1.0/users/jdoe@example.com",
            "POST /v1.0/users/jdoe@example.com/revokeSignInSessions",
            "GET /v1.0/users/jdoe@example.com",
        ]
    );
}

#[tokio::test]
async fn a_bare_name_is_refused_before_any_request_because_graph_cannot_address_it() {
    let server = MockServer::start().await;
    tenant(&server, &[("jdoe@example.com", "u-1")], 0).await;
    let entra = connector(&server, false);
    for name in ["jdoe", "jdoe@", "@example.com", "a@b@example.com"] {
        let r = request(ActionKind::DisableUser, ActionTarget::user(name), &[]);
        let err = entra.execute(&r).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("{name:?} is not a user principal name")),
            "{err}"
        );
        let err = entra
            .confirm(&r, &ExecOutcome::default())
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{err}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_upn_is_a_permanent_error_and_no_session_is_revoked() {
    let server = MockServer::start().await;
    tenant(&server, &[("jdoe@example.com", "u-1")], 1).await;
    let r = request(
        ActionKind::DisableUser,
        ActionTarget::user("ghost@example.com"),
        &[],
    );
    let err = connector(&server, false).execute(&r).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("ghost@example.com"), "{err}");
    assert_eq!(
        graph_calls(&server).await,
        ["PATCH /v1.0/users/ghost@example.com"]
    );
}
