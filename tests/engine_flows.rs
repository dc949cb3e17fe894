//! End-to-end decision flows: alerts in over HTTP, the authority matrix,
//! the state machine, timers and the fake vendor. The clock is manual, so
//! veto windows and timeouts pass in an instant and exactly.

mod common;

use common::app::{Options, TestApp, crowdstrike_alert, spawn_app};
#[allow(unused_imports)]
use cordon::domain::decision::Verb;
#[allow(unused_imports)]
use cordon::domain::{Actor, DecisionId, Platform};
use std::time::Duration;

#[allow(dead_code)]
fn slack(user: &str) -> Actor {
    Actor {
        platform: Platform::Slack,
        platform_user_id: user.into(),
        groups: vec![],
    }
}

#[allow(dead_code)]
fn discord(user: &str) -> Actor {
    Actor {
        platform: Platform::Discord,
        platform_user_id: user.into(),
        groups: vec![],
    }
}

async fn one_decision(app: &TestApp, action: &str) -> cordon::store::DecisionRow {
    app.eventually("a decision is proposed", || async {
        app.decisions().await.iter().any(|d| d.action == action)
    })
    .await;
    app.decisions()
        .await
        .into_iter()
        .find(|d| d.action == action)
        .expect("decision")
}

#[tokio::test]
async fn an_auto_rule_isolates_a_workstation_once_and_records_time_to_contain() {
    let app = spawn_app(Options::default()).await;
    let resp = app
        .post_alert(
            "crowdstrike",
            &crowdstrike_alert("ws-0142", "aid0142", 90, "d-1"),
        )
        .await;
    assert_eq!(
        resp.status(),
        202,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let calls = app.vendor.wait_for_actions(1, 10).await;
    assert_eq!(calls[0].query, "action_name=contain");
    assert_eq!(calls[0].headers["authorization"], "Bearer tok-fake");
    assert!(calls[0].body.contains("aid0142"), "{}", calls[0].body);
    let d = one_decision(&app, "isolate_host").await;
    assert_eq!(d.rule.as_deref(), Some("contain-workstations"));
    app.until_state(d.id, "contained").await;
    // The same alert again is a duplicate: no second decision, no second call.
    let again = app
        .post_alert(
            "crowdstrike",
            &crowdstrike_alert("ws-0142", "aid0142", 90, "d-1"),
        )
        .await;
    assert_eq!(again.status(), 202);
    let body: serde_json::Value = again.json().await.expect("json");
    assert_eq!(body["alerts"][0]["duplicate"], true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.vendor.actions_named("contain"), 1);
    // The incident is stamped contained and the read API shows time to contain.
    let inc: serde_json::Value = app
        .http
        .get(format!("{}/v1/incidents/{}", app.url, d.incident_id))
        .bearer_auth(&app.read_token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(inc["incident"]["contained_at"].is_string(), "{inc}");
    let dec = &inc["decisions"][0];
    assert!(dec["clock"]["time_to_contain"].as_i64().is_some(), "{dec}");
    let kinds: Vec<&str> = dec["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"]["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        [
            "proposed",
            "execution_requested",
            "execution_accepted",
            "contained"
        ],
        "{dec}"
    );
    app.stop().await;
}
