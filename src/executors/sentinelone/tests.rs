use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{assert_retry_after, env, request};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

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

/// A SentinelOne console that knows its agents (computer name, id, network
/// status) and answers like the real one: `GET /agents?computerName=` the
/// agents of that name, `GET /agents?ids=` the known ones among the ids, and
/// an action whose filter names no known agent `affected: 0` (§3, §9).
struct Console(Vec<(&'static str, &'static str, &'static str)>);

impl Console {
    fn agents(&self, req: &Request) -> ResponseTemplate {
        let q: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        let data: Vec<_> = self
            .0
            .iter()
            .filter(|(name, id, _)| {
                q.iter().any(|(k, v)| {
                    (k == "computerName" && v.eq_ignore_ascii_case(name))
                        || (k == "ids" && v.split(',').any(|i| i == *id))
                })
            })
            .map(|(name, id, status)| {
                serde_json::json!({"id": id, "computerName": name, "networkStatus": status})
            })
            .collect();
        let n = data.len();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": data, "pagination": {"totalItems": n}
        }))
    }

    fn action(&self, req: &Request) -> ResponseTemplate {
        let body: serde_json::Value = req.body_json().unwrap_or_default();
        let ids = body["filter"]["ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if ids.is_empty() {
            return ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "errors": [{"code": 4000010, "title": "Validation Error", "detail": "filter"}]
            }));
        }
        let affected = self
            .0
            .iter()
            .filter(|(_, id, _)| ids.contains(&(*id).into()))
            .count();
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"data": {"affected": affected}}))
    }
}

impl Respond for Console {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        match (req.method.as_str(), req.url.path()) {
            ("GET", "/web/api/v2.1/agents") => self.agents(req),
            ("POST", p) if p.starts_with("/web/api/v2.1/agents/actions/") => self.action(req),
            _ => ResponseTemplate::new(404),
        }
    }
}

async fn console(server: &MockServer, agents: &[(&'static str, &'static str, &'static str)]) {
    Mock::given(header("authorization", "ApiToken s1-tok"))
        .respond_with(Console(agents.to_vec()))
        .mount(server)
        .await;
}

async fn posts(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect()
}

#[tokio::test]
async fn a_host_without_an_agent_id_is_looked_up_by_computer_name_and_disconnected_by_its_id() {
    let server = MockServer::start().await;
    console(
        &server,
        &[("ws-9", "900", "connected"), ("ws-90", "901", "connected")],
    )
    .await;
    let s1 = connector(&server, false);
    let req = request(ActionKind::IsolateHost, ActionTarget::host("ws-9"), &[]);
    let out = s1.execute(&req).await.unwrap();
    let got = server.received_requests().await.unwrap();
    assert_eq!(got[0].url.query(), Some("computerName=ws-9"));
    assert_eq!(got[1].url.query(), Some("ids=900"));
    let sent = posts(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body_json::<serde_json::Value>().unwrap(),
        serde_json::json!({"filter": {"ids": ["900"]}, "data": {}})
    );
    // The confirmation polls the agent the lookup found, without a new lookup.
    let mut confirm = req.clone();
    confirm.previous = out.saved_state.clone();
    assert_eq!(
        s1.confirm(&confirm, &out).await.unwrap(),
        Confirmation::Pending
    );
    let got = server.received_requests().await.unwrap();
    assert_eq!(got.last().unwrap().url.query(), Some("ids=900"));
    let lookups = got
        .iter()
        .filter(|r| r.url.query().is_some_and(|q| q.starts_with("computerName")))
        .count();
    assert_eq!(lookups, 1);
}

#[tokio::test]
async fn an_unknown_or_ambiguous_computer_name_is_a_permanent_error_and_nothing_is_disconnected() {
    let server = MockServer::start().await;
    console(
        &server,
        &[("dup", "1", "connected"), ("DUP", "2", "connected")],
    )
    .await;
    let s1 = connector(&server, false);
    let unknown = request(ActionKind::IsolateHost, ActionTarget::host("ws-404"), &[]);
    let err = s1.execute(&unknown).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("no SentinelOne agent named \"ws-404\""),
        "{err}"
    );
    let dup = request(ActionKind::IsolateHost, ActionTarget::host("dup"), &[]);
    let err = s1.execute(&dup).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("2 SentinelOne agents named \"dup\": ambiguous"),
        "{msg}"
    );
    assert!(posts(&server).await.is_empty());
}

#[tokio::test]
async fn an_agent_id_the_console_does_not_know_is_a_permanent_error_naming_it() {
    let server = MockServer::start().await;
    console(&server, &[("ws-9", "900", "connected")]).await;
    let req = request(
        ActionKind::IsolateHost,
        ActionTarget::host("ws-9"),
        &[("s1_agent_id", "777")],
    );
    let err = connector(&server, false).execute(&req).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("777"), "{err}");
    assert!(posts(&server).await.is_empty());
}
