//! Helpers the chat surface tests (`tests/slack.rs`, `tests/discord.rs`)
//! share: the crown-jewel decision both flows start from, and how many
//! approvals a decision holds.

use super::app::{TestApp, crowdstrike_alert};

/// Posts a high-severity CrowdStrike alert on `db-prod-01` and waits for
/// the crown-jewels isolation it proposes.
pub async fn crown_jewel_decision(app: &TestApp) -> cordon::store::DecisionRow {
    let r = app
        .post_alert(
            "crowdstrike",
            &crowdstrike_alert("db-prod-01", "aid-db01", 90, "d-db-1"),
        )
        .await;
    assert_eq!(r.status(), 202);
    app.eventually("the crown-jewel isolation is proposed", || async {
        app.decisions()
            .await
            .iter()
            .any(|d| d.state == "pending_approval")
    })
    .await;
    let d = app
        .decisions()
        .await
        .into_iter()
        .find(|d| d.action == "isolate_host")
        .expect("decision");
    assert_eq!(d.rule.as_deref(), Some("crown-jewels"));
    d
}

/// How many approvals decision `id` holds.
pub async fn approvals(app: &TestApp, id: i64) -> usize {
    app.engine
        .load(cordon::domain::DecisionId(id))
        .await
        .expect("load")
        .decision
        .approvals
        .len()
}
