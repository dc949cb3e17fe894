use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{assert_retry_after, env, request};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn connector(server: &MockServer, dry_run: bool) -> Defender {
    let cfg = DefenderConfig {
        base_url: server.uri(),
        login_base_url: server.uri(),
        tenant_id: "tenant-1".into(),
        client_id_env: "MDE_ID".into(),
        client_secret_env: "MDE_SECRET".into(),
        scope: default_scope(),
        isolation_type: "Full".into(),
        dry_run,
        timeout: Duration::from_secs(5),
    };
    Defender::new(&cfg, &env(&[("MDE_ID", "app-1"), ("MDE_SECRET", "sek")])).unwrap()
}

fn isolate_req() -> ExecRequest {
    request(
        ActionKind::IsolateHost,
        ActionTarget::host("web-01"),
        &[("mde_machine_id", "m1")],
    )
}

async fn token_mock(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=app-1"))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": "mde-tok"
        })))
        .expect(times)
        .mount(server)
        .await;
}

async fn actions_mock(server: &MockServer, actions: serde_json::Value, times: u64) {
    Mock::given(method("GET"))
        .and(path("/api/machineactions"))
        .and(query_param("$filter", "machineId eq 'm1'"))
        .and(header("authorization", "Bearer mde-tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "value": actions
        })))
        .up_to_n_times(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn isolate_sends_the_case_sensitive_body_with_the_decision_id_in_the_comment() {
    let server = MockServer::start().await;
    token_mock(&server, 1).await;
    actions_mock(&server, serde_json::json!([]), 2).await;
    Mock::given(method("POST"))
        .and(path("/api/machines/m1/isolate"))
        .and(header("authorization", "Bearer mde-tok"))
        .and(header("content-type", "application/json"))
        .and(body_json(serde_json::json!({
            "Comment": "cordon dec-42: ransomware on host",
            "IsolationType": "Full"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": "ma-1", "type": "Isolate", "status": "Pending", "machineId": "m1"
        })))
        .expect(2)
        .mount(&server)
        .await;
    let mde = connector(&server, false);
    for _ in 0..2 {
        let out = mde.execute(&isolate_req()).await.unwrap();
        assert_eq!(out.vendor_ref.as_deref(), Some("ma-1"));
        assert!(!out.already && !out.confirmed);
    }
}

#[tokio::test]
async fn release_posts_unisolate_with_only_a_comment() {
    let server = MockServer::start().await;
    token_mock(&server, 1).await;
    actions_mock(&server, serde_json::json!([]), 1).await;
    Mock::given(method("POST"))
        .and(path("/api/machines/m1/unisolate"))
        .and(body_json(
            serde_json::json!({"Comment": "cordon dec-42: ransomware on host"}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"id": "ma-2", "status": "Pending"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let req = request(
        ActionKind::ReleaseHost,
        ActionTarget::host("web-01"),
        &[("mde_machine_id", "m1")],
    );
    connector(&server, false).execute(&req).await.unwrap();
}

#[tokio::test]
async fn a_machine_whose_last_successful_action_was_an_isolate_is_already_isolated() {
    let server = MockServer::start().await;
    token_mock(&server, 1).await;
    actions_mock(
        &server,
        serde_json::json!([
            {"id": "old", "type": "Unisolate", "status": "Succeeded", "creationDateTimeUtc": "2026-11-01T00:00:00Z"},
            {"id": "ma-0", "type": "Isolate", "status": "Succeeded", "creationDateTimeUtc": "2026-11-20T00:00:00Z"},
            {"id": "bad", "type": "Unisolate", "status": "Failed", "creationDateTimeUtc": "2026-11-21T00:00:00Z"}
        ]),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    let out = connector(&server, false)
        .execute(&isolate_req())
        .await
        .unwrap();
    assert!(out.already && out.confirmed);
    assert_eq!(out.vendor_ref.as_deref(), Some("ma-0"));
}

#[tokio::test]
async fn action_already_in_progress_is_resolved_to_the_pending_action_instead_of_a_retry() {
    let server = MockServer::start().await;
    token_mock(&server, 1).await;
    actions_mock(&server, serde_json::json!([]), 1).await;
    actions_mock(
        &server,
        serde_json::json!([{"id": "ma-9", "type": "Isolate", "status": "Pending",
                            "creationDateTimeUtc": "2026-11-23T07:00:00Z"}]),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/machines/m1/isolate"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": {"code": "ActiveRequestAlreadyExists", "message": "Action is already in progress", "target": "c1"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, false)
        .execute(&isolate_req())
        .await
        .unwrap();
    assert!(out.already && !out.confirmed);
    assert_eq!(out.vendor_ref.as_deref(), Some("ma-9"));
}

async fn isolate_answer(resp: ResponseTemplate) -> ExecError {
    let server = MockServer::start().await;
    token_mock(&server, 1).await;
    actions_mock(&server, serde_json::json!([]), 1).await;
    Mock::given(method("POST"))
        .and(path("/api/machines/m1/isolate"))
        .respond_with(resp)
        .mount(&server)
        .await;
    connector(&server, false)
        .execute(&isolate_req())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn bad_body_and_unknown_machine_are_permanent_while_429_and_500_are_retryable() {
    let err = isolate_answer(ResponseTemplate::new(400).set_body_json(serde_json::json!({
        "error": {"code": "InvalidRequestBody", "message": "Request body is invalid"}
    })))
    .await;
    assert!(!err.is_retryable(), "{err}");
    let err = isolate_answer(ResponseTemplate::new(404).set_body_json(serde_json::json!({
        "error": {"code": "ResourceNotFound", "message": "Machine m1 was not found"}
    })))
    .await;
    assert!(!err.is_retryable(), "{err}");
    let err = isolate_answer(ResponseTemplate::new(429).insert_header("Retry-After", "30")).await;
    assert_retry_after(&err, 30);
    assert!(
        isolate_answer(ResponseTemplate::new(500))
            .await
            .is_retryable()
    );
}

#[tokio::test]
async fn confirmation_polls_the_machine_action_until_it_succeeds_or_fails() {
    let server = MockServer::start().await;
    token_mock(&server, 1).await;
    for status in ["Pending", "InProgress", "Succeeded", "Failed"] {
        Mock::given(method("GET"))
            .and(path("/api/machineactions/ma-1"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"id": "ma-1", "status": status})),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    let mde = connector(&server, false);
    let out = ExecOutcome {
        vendor_ref: Some("ma-1".into()),
        ..ExecOutcome::default()
    };
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(mde.confirm(&isolate_req(), &out).await.unwrap());
    }
    assert_eq!(
        seen,
        [
            Confirmation::Pending,
            Confirmation::Pending,
            Confirmation::Confirmed,
            Confirmation::Failed("machine action ma-1 is Failed".into())
        ]
    );
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let server = MockServer::start().await;
    let mde = connector(&server, true);
    assert!(mde.execute(&isolate_req()).await.unwrap().dry_run);
    mde.healthcheck().await.unwrap();
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// A Defender tenant that knows its machines (DNS name, machine id) and
/// refuses what the real one refuses: `GET /api/machines` takes only a
/// `computerDnsName eq '…'` filter (an OData literal, `''` for a quote;
/// 400 otherwise) and answers the matching machines; an action on an
/// unknown machine id answers 404 `ResourceNotFound` naming it (§2.3).
struct Mde(Vec<(&'static str, &'static str)>);

fn mde_error(status: u16, code: &str, message: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "error": {"code": code, "message": message, "target": "corr-1"}
    }))
}

/// The string inside an OData literal `'…'` (quotes doubled), or `None`.
fn odata_literal(s: &str) -> Option<String> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    if inner.replace("''", "").contains('\'') {
        return None;
    }
    Some(inner.replace("''", "'"))
}

impl Mde {
    fn filter(req: &Request) -> String {
        req.url
            .query_pairs()
            .find(|(k, _)| k == "$filter")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }

    fn machines(&self, req: &Request) -> ResponseTemplate {
        let filter = Self::filter(req);
        let name = filter
            .strip_prefix("computerDnsName eq ")
            .and_then(odata_literal);
        let Some(name) = name else {
            return mde_error(400, "InvalidInput", format!("bad filter {filter}"));
        };
        let value: Vec<_> = self
            .0
            .iter()
            .filter(|(dns, _)| dns.eq_ignore_ascii_case(&name))
            .map(|(dns, id)| serde_json::json!({"id": id, "computerDnsName": dns}))
            .collect();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": value}))
    }

    fn action(&self, req: &Request) -> ResponseTemplate {
        let parts: Vec<&str> = req.url.path().split('/').collect();
        let (id, verb) = (parts[3], parts[4]);
        if !self.0.iter().any(|(_, m)| *m == id) {
            return mde_error(
                404,
                "ResourceNotFound",
                format!("Machine {id} was not found"),
            );
        }
        let type_ = if verb == "isolate" {
            "Isolate"
        } else {
            "Unisolate"
        };
        ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": format!("ma-{id}"), "type": type_, "status": "Pending", "machineId": id
        }))
    }
}

impl Respond for Mde {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let path = req.url.path();
        match req.method.as_str() {
            "GET" if path == "/api/machines" => self.machines(req),
            "GET" if path == "/api/machineactions" => {
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": []}))
            }
            "POST" if path.starts_with("/api/machines/") && path.split('/').count() == 5 => {
                self.action(req)
            }
            _ => mde_error(404, "ResourceNotFound", format!("no route {path}")),
        }
    }
}

async fn mde(server: &MockServer, machines: &[(&'static str, &'static str)]) {
    token_mock(server, 1).await;
    Mock::given(header("authorization", "Bearer mde-tok"))
        .respond_with(Mde(machines.to_vec()))
        .mount(server)
        .await;
}

async fn sent(server: &MockServer, method: &str, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == method && r.url.path().starts_with(p))
        .collect()
}

fn filter_of(r: &Request) -> String {
    Mde::filter(r)
}

#[tokio::test]
async fn a_host_without_a_machine_id_is_looked_up_by_dns_name_and_isolated_by_its_id() {
    let server = MockServer::start().await;
    mde(
        &server,
        &[("ws-9.corp.example", "m9"), ("ws-10.corp.example", "m10")],
    )
    .await;
    let defender = connector(&server, false);
    let req = request(
        ActionKind::IsolateHost,
        ActionTarget::host("ws-9.corp.example"),
        &[],
    );
    let out = defender.execute(&req).await.unwrap();
    assert_eq!(out.vendor_ref.as_deref(), Some("ma-m9"));
    let lookups = sent(&server, "GET", "/api/machines").await;
    assert_eq!(lookups.len(), 1);
    assert_eq!(
        filter_of(&lookups[0]),
        "computerDnsName eq 'ws-9.corp.example'"
    );
    let listed = sent(&server, "GET", "/api/machineactions").await;
    assert_eq!(filter_of(&listed[0]), "machineId eq 'm9'");
    let posts = sent(&server, "POST", "/api/machines/").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].url.path(), "/api/machines/m9/isolate");
    // The inverse releases the machine the lookup found, without a new lookup.
    let mut release = request(
        ActionKind::ReleaseHost,
        ActionTarget::host("ws-9.corp.example"),
        &[],
    );
    release.previous = out.saved_state.clone();
    defender.execute(&release).await.unwrap();
    assert_eq!(sent(&server, "GET", "/api/machines").await.len(), 1);
    let posts = sent(&server, "POST", "/api/machines/").await;
    assert_eq!(posts[1].url.path(), "/api/machines/m9/unisolate");
}

#[tokio::test]
async fn an_unknown_or_ambiguous_dns_name_is_a_permanent_error_and_nothing_is_isolated() {
    let server = MockServer::start().await;
    mde(
        &server,
        &[("dup.corp.example", "m1"), ("dup.corp.example", "m2")],
    )
    .await;
    let defender = connector(&server, false);
    let unknown = request(ActionKind::IsolateHost, ActionTarget::host("ws-404"), &[]);
    let err = defender.execute(&unknown).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("no Defender machine named \"ws-404\""),
        "{err}"
    );
    let dup = request(
        ActionKind::IsolateHost,
        ActionTarget::host("dup.corp.example"),
        &[],
    );
    let err = defender.execute(&dup).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("2 Defender machines named \"dup.corp.example\": ambiguous"),
        "{msg}"
    );
    assert!(
        sent(&server, "POST", "/")
            .await
            .iter()
            .all(|r| r.url.path().contains("oauth2"))
    );
    assert!(sent(&server, "GET", "/api/machineactions").await.is_empty());
}

#[tokio::test]
async fn a_quote_in_the_name_is_doubled_so_it_stays_inside_the_odata_literal() {
    let server = MockServer::start().await;
    mde(&server, &[("o'neil-pc", "m-quote"), ("x", "m-x")]).await;
    let defender = connector(&server, false);
    let req = request(
        ActionKind::IsolateHost,
        ActionTarget::host("o'neil-pc"),
        &[],
    );
    defender.execute(&req).await.unwrap();
    let lookups = sent(&server, "GET", "/api/machines").await;
    assert_eq!(filter_of(&lookups[0]), "computerDnsName eq 'o''neil-pc'");
    // A name trying to close the literal and add a clause matches nothing.
    let req = request(
        ActionKind::IsolateHost,
        ActionTarget::host("nope' or computerDnsName eq 'x"),
        &[],
    );
    let err = defender.execute(&req).await.unwrap_err();
    assert!(
        err.to_string().contains("no Defender machine named"),
        "{err}"
    );
    let posts = sent(&server, "POST", "/api/machines/").await;
    assert_eq!(posts.len(), 1, "only o'neil-pc was isolated");
    assert_eq!(posts[0].url.path(), "/api/machines/m-quote/isolate");
}

#[tokio::test]
async fn a_machine_id_defender_does_not_know_is_a_permanent_error_naming_it() {
    let server = MockServer::start().await;
    mde(&server, &[("ws-9", "m9")]).await;
    let req = request(
        ActionKind::IsolateHost,
        ActionTarget::host("ws-9"),
        &[("mde_machine_id", "m-gone")],
    );
    let err = connector(&server, false).execute(&req).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("m-gone"), "{err}");
    let lookups = sent(&server, "GET", "/api/machines").await;
    assert!(
        lookups.iter().all(|r| r.url.path() != "/api/machines"),
        "a recorded machine id is not second-guessed"
    );
}
