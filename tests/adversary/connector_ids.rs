//! A connector never sends a name where the vendor expects an id (DESIGN
//! §3a.2, issue 13): a host whose record has no `crowdstrike_aid` is
//! contained through the AID Falcon reports for its hostname, and a host
//! Falcon does not know fails visibly, naming the host, without a contain
//! call. The alerts are generic (no `AgentId`), so the connector's own
//! lookup is what is tested; the fake Falcon refuses unknown AIDs as the
//! real one does.

use crate::common::app::{Options, TestApp, spawn_app};
use cordon::domain::DecisionId;

/// A high-severity ransomware alert on `host`, in the generic format.
fn ransomware_on(host: &str, id: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "title": "Ransomware detected",
        "severity": "critical",
        "timestamp": "2026-11-23T07:00:00Z",
        "host": host
    })
}

/// Adds a workstation to the inventory without any vendor id.
async fn workstation_without_ids(app: &TestApp, host: &str) {
    let csv = format!(
        "hostname,ips,tier,environment,business_service,owners\n{host},,workstation,corp,,dave\n"
    );
    let assets = cordon::enrich::parse_assets("test", csv.as_bytes()).expect("assets");
    app.engine
        .store
        .upsert_assets(&assets, app.engine.now())
        .await
        .expect("import");
}

async fn isolation(app: &TestApp) -> cordon::store::DecisionRow {
    app.eventually("an isolation is proposed", || async {
        app.decisions()
            .await
            .iter()
            .any(|d| d.action == "isolate_host")
    })
    .await;
    app.decisions()
        .await
        .into_iter()
        .find(|d| d.action == "isolate_host")
        .expect("decision")
}

async fn contained_through_the_looked_up_aid(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    workstation_without_ids(&app, "ws-noaid").await;
    app.vendor.register("ws-other", "aid-other");
    app.vendor.register("ws-noaid", "aid-noaid");
    let r = app
        .post_alert("generic", &ransomware_on("ws-noaid", "g-1"))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let d = isolation(&app).await;
    app.until_state(d.id, "contained").await;
    let contains: Vec<_> = app
        .vendor
        .actions()
        .into_iter()
        .filter(|r| r.query == "action_name=contain")
        .collect();
    assert_eq!(contains.len(), 1);
    assert_eq!(contains[0].body, r#"{"ids":["aid-noaid"]}"#);
    assert_eq!(app.vendor.containments("aid-noaid"), 1);
    let lookups = app.vendor.lookups();
    assert_eq!(lookups.len(), 1, "looked up once: {lookups:?}");
    assert!(
        lookups[0].query.contains("hostname%3A%27ws-noaid%27"),
        "{:?}",
        lookups[0]
    );
    // The confirmation polled the device the lookup found: the AID travelled
    // with the acceptance, no second lookup, never the hostname.
    let reads: Vec<_> = app
        .vendor
        .requests()
        .into_iter()
        .filter(|r| r.path == "/devices/entities/devices/v2")
        .collect();
    assert!(!reads.is_empty());
    assert!(
        reads.iter().all(|r| r.query == "ids=aid-noaid"),
        "{reads:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_workstation_without_an_aid_is_contained_through_the_aid_falcon_reports_for_its_name() {
    contained_through_the_looked_up_aid(false).await;
}

#[tokio::test]
async fn a_workstation_without_an_aid_is_contained_through_its_looked_up_aid_on_postgresql() {
    contained_through_the_looked_up_aid(true).await;
}

async fn unknown_host_fails_visibly(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    workstation_without_ids(&app, "ws-ghost").await;
    let r = app
        .post_alert("generic", &ransomware_on("ws-ghost", "g-2"))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let d = isolation(&app).await;
    app.until_state(d.id, "failed").await;
    let l = app.engine.load(DecisionId(d.id)).await.expect("load");
    let events = serde_json::to_string(&l.events).expect("json");
    assert!(
        events.contains(r#"no CrowdStrike device named \"ws-ghost\""#),
        "{events}"
    );
    assert!(
        app.vendor.actions().is_empty(),
        "{:?}",
        app.vendor.actions()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_host_falcon_does_not_know_fails_naming_it_and_nothing_is_contained() {
    unknown_host_fails_visibly(false).await;
}

#[tokio::test]
async fn a_host_falcon_does_not_know_fails_naming_it_on_postgresql() {
    unknown_host_fails_visibly(true).await;
}
