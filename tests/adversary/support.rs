//! What the adversary tests share: a person acting through the console,
//! waiting for the background pipelines, alerts and inventories.

use crate::common::app::{TestApp, crowdstrike_alert, csrf_of};
use cordon::clock::Clock;
use cordon::domain::DecisionId;
use std::time::Duration;

/// `person` signs in to the console and uses `verb` on decision `d` through
/// the incident page's form. Returns the status and the page answered.
pub async fn web_act(app: &TestApp, person: &str, d: i64, verb: &str) -> (u16, String) {
    let cookie = app.sign_in(person).await;
    let row = app.engine.load(DecisionId(d)).await.expect("load").row;
    let (_, page) = app
        .page(&cookie, &format!("/incidents/{}", row.incident_id))
        .await;
    let r = app
        .no_redirect()
        .post(format!("{}/decisions/{d}/act", app.url))
        .header("cookie", &cookie)
        .form(&[
            ("verb", verb),
            ("reason", "adversary test"),
            ("csrf", &csrf_of(&page)),
        ])
        .send()
        .await
        .expect("act");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// Waits (real time) until `f` holds; the pipelines run in the background.
pub async fn wait(what: &str, secs: u64, f: impl AsyncFn() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(std::time::Instant::now() < until, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every decision, however many incidents there are.
pub async fn all_decisions(app: &TestApp) -> Vec<cordon::store::DecisionRow> {
    let now = app.clock.now();
    app.engine
        .store
        .decisions_between(
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(1),
        )
        .await
        .expect("decisions")
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

/// A ransomware detection on `host` without a user (so only the host is
/// proposed for containment).
pub fn host_alert(host: &str, aid: &str, id: &str) -> serde_json::Value {
    let mut a = crowdstrike_alert(host, aid, 90, id);
    if let Some(e) = a["event"].as_object_mut() {
        e.remove("UserName");
    }
    a
}

/// Imports `n` workstations `{prefix}000…` with AgentIds `aid-{prefix}000…`
/// into the inventory, and makes them known to the fake Falcon.
pub async fn workstations(app: &TestApp, prefix: &str, n: usize) {
    let assets: Vec<cordon::store::Asset> = (0..n)
        .map(|i| cordon::store::Asset {
            hostname: format!("{prefix}{i:03}"),
            tier: Some("workstation".into()),
            attributes: [("crowdstrike_aid".to_owned(), format!("aid-{prefix}{i:03}"))].into(),
            ..Default::default()
        })
        .collect();
    app.engine
        .store
        .upsert_assets(&assets, app.clock.now())
        .await
        .expect("import");
    for a in &assets {
        app.vendor
            .register(&a.hostname, &a.attributes["crowdstrike_aid"]);
    }
}
