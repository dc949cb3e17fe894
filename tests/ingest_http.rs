//! Every answer of `POST /v1/alerts/{format}`, over real HTTP, and the dead
//! letters kept for bodies rejected after authentication.

mod common;

use common::app::{INGEST_SECRET, Options, TestApp, crowdstrike_alert, spawn_app};
use proptest::prelude::*;
use std::time::Duration;

async fn post_raw(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    ctype: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    // A client per call: the property tests run each case on its own runtime.
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", app.url))
        .header("content-type", ctype)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

async fn dead_letters(app: &TestApp) -> Vec<cordon::store::DeadLetter> {
    app.engine
        .store
        .dead_letters(100)
        .await
        .expect("dead letters")
}

fn wazuh(host: &str, id: &str, level: u32) -> serde_json::Value {
    serde_json::json!({
        "timestamp": "2026-11-23T07:00:00.000+0000",
        "rule": {"level": level, "description": "Integrity checksum changed", "id": "550"},
        "agent": {"id": "017", "name": host},
        "manager": {"name": "wazuh-mgr-01"},
        "id": id
    })
}

#[tokio::test]
async fn a_valid_alert_is_answered_202_with_its_stored_ids() {
    let app = spawn_app(Options::default()).await;
    let body = serde_json::to_vec(&wazuh("ws-0177", "a.1", 7)).expect("json");
    let (status, json) = post_raw(
        &app,
        "/v1/alerts/wazuh",
        Some(&app.token),
        "application/json",
        body,
    )
    .await;
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["accepted"], 1);
    let id = cordon::domain::AlertId(json["alerts"][0]["alert_id"].as_i64().expect("id"));
    // Answered only after commit: the row is there.
    let row = app
        .engine
        .store
        .get_alert(id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        row.sender, "edr-test",
        "the token's sub is stored as the sender"
    );
    assert_eq!(
        json["alerts"][0]["incident_id"].as_i64(),
        Some(row.incident_id)
    );
    app.stop().await;
}

#[tokio::test]
async fn the_format_is_detected_when_the_path_does_not_name_it() {
    let app = spawn_app(Options::default()).await;
    let body =
        serde_json::to_vec(&crowdstrike_alert("ws-0177", "aid0177", 50, "det-1")).expect("json");
    let (status, json) = post_raw(
        &app,
        "/v1/alerts",
        Some(&app.token),
        "application/json",
        body,
    )
    .await;
    assert_eq!(status, 202, "{json}");
    let row = app
        .engine
        .store
        .get_alert(cordon::domain::AlertId(
            json["alerts"][0]["alert_id"].as_i64().expect("id"),
        ))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(row.format, "crowdstrike");
    app.stop().await;
}

#[tokio::test]
async fn bad_tokens_get_401_without_detail_and_leave_no_dead_letter() {
    let app = spawn_app(Options::default()).await;
    let body = serde_json::to_vec(&wazuh("ws-0177", "a.2", 7)).expect("json");
    let expired = {
        let c = cordon::http::auth::new_claims(
            "edr",
            cordon::clock::Clock::now(&*app.clock) - chrono::Duration::days(2),
            Duration::from_secs(60),
            None,
            None,
        );
        cordon::http::auth::issue_hs256(INGEST_SECRET, &c).expect("token")
    };
    let forged = {
        let c = cordon::http::auth::new_claims(
            "edr",
            cordon::clock::Clock::now(&*app.clock),
            Duration::from_secs(60),
            None,
            None,
        );
        cordon::http::auth::issue_hs256("not-the-secret-not-the-secret-xx", &c).expect("token")
    };
    for token in [
        None,
        Some("garbage"),
        Some(expired.as_str()),
        Some(forged.as_str()),
    ] {
        let (status, json) = post_raw(
            &app,
            "/v1/alerts/wazuh",
            token,
            "application/json",
            body.clone(),
        )
        .await;
        assert_eq!(status, 401, "{token:?}");
        assert_eq!(json, serde_json::json!({"error": "unauthorized"}));
    }
    assert!(dead_letters(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_source_restricted_to_some_formats_gets_403_for_others() {
    let app = spawn_app(Options::default()).await;
    let c = cordon::http::auth::new_claims(
        "wazuh-only",
        cordon::clock::Clock::now(&*app.clock),
        Duration::from_secs(600),
        Some(vec!["wazuh".into()]),
        None,
    );
    let t = cordon::http::auth::issue_hs256(INGEST_SECRET, &c).expect("token");
    let body =
        serde_json::to_vec(&crowdstrike_alert("ws-0177", "aid0177", 50, "f-1")).expect("json");
    let (status, json) = post_raw(
        &app,
        "/v1/alerts/crowdstrike",
        Some(&t),
        "application/json",
        body.clone(),
    )
    .await;
    assert_eq!(status, 403, "{json}");
    assert_eq!(json["field"], "format");
    // Detection does not get around the restriction.
    let (status, _) = post_raw(&app, "/v1/alerts", Some(&t), "application/json", body).await;
    assert_eq!(status, 403);
    let (status, _) = post_raw(
        &app,
        "/v1/alerts/wazuh",
        Some(&t),
        "application/json",
        serde_json::to_vec(&wazuh("h", "x", 3)).expect("j"),
    )
    .await;
    assert_eq!(status, 202);
    app.stop().await;
}

#[tokio::test]
async fn invalid_json_is_400_and_a_missing_field_is_422_both_kept_as_dead_letters() {
    let app = spawn_app(Options::default()).await;
    let (status, json) = post_raw(
        &app,
        "/v1/alerts/wazuh",
        Some(&app.token),
        "application/json",
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(json["field"], "body");
    assert!(
        json["hint"].is_string() && json["dead_letter_id"].is_i64(),
        "{json}"
    );
    let mut no_rule = wazuh("ws-0177", "a.3", 7);
    no_rule.as_object_mut().expect("obj").remove("rule");
    let (status, json) = post_raw(
        &app,
        "/v1/alerts/wazuh",
        Some(&app.token),
        "application/json",
        serde_json::to_vec(&no_rule).expect("j"),
    )
    .await;
    assert_eq!(status, 422, "{json}");
    assert!(
        json["field"].as_str().expect("field").starts_with("rule"),
        "{json}"
    );
    let dls = dead_letters(&app).await;
    assert_eq!(dls.len(), 2);
    let dl = dls
        .iter()
        .find(|d| Some(d.id) == json["dead_letter_id"].as_i64())
        .expect("kept");
    assert_eq!(
        dl.body,
        serde_json::to_vec(&no_rule).expect("j"),
        "kept verbatim"
    );
    assert_eq!(dl.sender.as_deref(), Some("edr-test"));
    assert!(dl.reason.contains("rule"), "{}", dl.reason);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_format_is_404_naming_the_field() {
    let app = spawn_app(Options::default()).await;
    let (status, json) = post_raw(
        &app,
        "/v1/alerts/nagios",
        Some(&app.token),
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 404, "{json}");
    assert_eq!(json["field"], "format");
    app.stop().await;
}

#[tokio::test]
async fn a_non_json_content_type_is_415_and_kept() {
    let app = spawn_app(Options::default()).await;
    let (status, json) = post_raw(
        &app,
        "/v1/alerts/wazuh",
        Some(&app.token),
        "text/plain",
        b"rule fired".to_vec(),
    )
    .await;
    assert_eq!(status, 415, "{json}");
    assert_eq!(json["field"], "content-type");
    let dls = dead_letters(&app).await;
    assert_eq!(dls.len(), 1);
    assert_eq!(dls[0].body, b"rule fired");
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app(Options {
        extra_config: "[ingest]\nbody_limit = 2048\n".into(),
        ..Default::default()
    })
    .await;
    let mut big = wazuh("ws-0177", "a.4", 7);
    big["full_log"] = serde_json::json!("x".repeat(4096));
    let (status, json) = post_raw(
        &app,
        "/v1/alerts/wazuh",
        Some(&app.token),
        "application/json",
        serde_json::to_vec(&big).expect("j"),
    )
    .await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["field"], "body");
    assert_eq!(
        dead_letters(&app).await.len(),
        1,
        "the rejection itself is recorded"
    );
    app.stop().await;
}

#[tokio::test]
async fn five_alerts_about_one_host_from_three_formats_become_one_incident() {
    let app = spawn_app(Options::default()).await;
    let falco = serde_json::json!({
        "output": "Shell spawned in a container", "priority": "Warning", "rule": "Terminal shell in container",
        "time": "2026-11-23T07:00:00.000000000Z", "hostname": "WS-0177", "output_fields": {"user.name": "root"}
    });
    let bodies = [
        (
            "crowdstrike",
            crowdstrike_alert("ws-0177", "aid0177", 50, "c-1"),
        ),
        ("wazuh", wazuh("ws-0177", "w-1", 5)),
        ("falco", falco),
        (
            "crowdstrike",
            crowdstrike_alert("ws-0177.corp.example", "aid0177", 90, "c-2"),
        ),
        ("wazuh", wazuh("ws-0177", "w-2", 12)),
    ];
    let mut incidents = std::collections::BTreeSet::new();
    for (f, b) in bodies {
        let r = app.post_alert(f, &b).await;
        assert_eq!(r.status(), 202);
        let j: serde_json::Value = r.json().await.expect("json");
        incidents.insert(j["alerts"][0]["incident_id"].as_i64().expect("incident"));
    }
    let hosts: Vec<_> = incidents.iter().collect();
    // The FQDN alert joins too: the host name is compared case-insensitively
    // and it shares its user (jdoe) with the first CrowdStrike alert.
    assert_eq!(
        hosts.len(),
        1,
        "all five alerts share one incident: {incidents:?}"
    );
    let id = cordon::domain::IncidentId(*hosts[0]);
    let inc = app
        .engine
        .store
        .get_incident(id)
        .await
        .expect("get")
        .expect("incident");
    assert_eq!(
        app.engine
            .store
            .alerts_of_incident(id)
            .await
            .expect("alerts")
            .len(),
        5
    );
    assert_eq!(
        inc.severity().expect("sev"),
        cordon::domain::Severity::Critical,
        "severity is the maximum"
    );
    app.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bodies_get_a_4xx_or_202_never_a_5xx(body in proptest::collection::vec(any::<u8>(), 0..512), fmt in 0usize..13) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        let status = rt.block_on(async {
            let app = shared_app().await;
            let format = cordon::ingest::Format::ALL[fmt].as_str();
            let (status, _) = post_raw(app, &format!("/v1/alerts/{format}"), Some(&app.token), "application/json", body).await;
            status
        });
        prop_assert!(status == 202 || (400..500).contains(&status), "status {}", status);
    }

    #[test]
    fn arbitrary_json_gets_a_4xx_or_202_never_a_5xx(v in arb_json(), fmt in 0usize..13) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        let status = rt.block_on(async {
            let app = shared_app().await;
            let format = cordon::ingest::Format::ALL[fmt].as_str();
            let (status, _) = post_raw(app, &format!("/v1/alerts/{format}"), Some(&app.token), "application/json", serde_json::to_vec(&v).expect("j")).await;
            status
        });
        prop_assert!(status == 202 || (400..500).contains(&status), "status {}", status);
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z0-9 :.-]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("alerts".to_owned()),
                    Just("event".to_owned()),
                    Just("rule".to_owned()),
                    Just("detail".to_owned()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One app for all property cases: its server runs on its own runtime thread.
async fn shared_app() -> &'static TestApp {
    static APP: std::sync::OnceLock<&'static TestApp> = std::sync::OnceLock::new();
    if let Some(a) = APP.get() {
        return a;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let app: &'static TestApp = Box::leak(Box::new(spawn_app(Options::default()).await));
            let _ = tx.send(app);
            std::future::pending::<()>().await;
        });
    });
    let app = rx.recv().expect("app");
    let _ = APP.set(app);
    APP.get().copied().expect("set")
}
