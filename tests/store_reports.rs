//! The report and sign-in store methods on both backends.

mod common;

use common::{both, history};

#[tokio::test]
async fn report_reads_return_the_period_with_events_and_alert_times_on_both_backends() {
    for db in both().await {
        let store = db.store().await;
        let specs = history::known();
        for (n, spec) in specs.iter().enumerate() {
            history::insert(&store, n, spec).await;
        }
        let from = history::t("2026-10-05T00:00:00Z");
        let to = history::t("2026-10-12T00:00:00Z");
        let ds = store.report_decisions(from, to).await.expect("read");
        assert_eq!(
            ds.len(),
            8,
            "{}: week one holds D1–D7 and the drill",
            db.label
        );
        let d1 = &ds[0];
        assert_eq!(
            d1.detected_at,
            Some(history::t("2026-10-05T09:00:00Z")),
            "{}",
            db.label
        );
        assert_eq!(
            d1.received_at,
            Some(history::t("2026-10-05T09:00:10Z")),
            "{}",
            db.label
        );
        assert_eq!(
            d1.first_post_at,
            Some(history::t("2026-10-05T09:00:13Z")),
            "{}",
            db.label
        );
        let at = |s: &str| Some(history::t(s));
        assert_eq!(d1.proposed_at, at("2026-10-05T09:00:15Z"), "{}", db.label);
        assert_eq!(d1.requested_at, at("2026-10-05T09:00:15Z"), "{}", db.label);
        assert_eq!(d1.accepted_at, at("2026-10-05T09:00:17Z"), "{}", db.label);
        assert_eq!(d1.contained_at, at("2026-10-05T09:00:45Z"), "{}", db.label);
        assert!(
            d1.approval_events.is_empty() && !d1.vetoed && !d1.failed,
            "{}",
            db.label
        );
        let d4 = &ds[3];
        let kinds: Vec<&str> = d4.approval_events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["approval_requested", "approved", "approved"],
            "{}",
            db.label
        );
        let first = &d4.approval_events[1];
        assert_eq!(
            first.actor_role.as_deref(),
            Some("soc-lead"),
            "{}",
            db.label
        );
        assert_eq!(first.actor_person.as_deref(), Some("alice"), "{}", db.label);
        assert!(
            ds[5].vetoed && ds[5].overridden && !ds[5].denied,
            "{}",
            db.label
        );
        assert!(ds[4].denied && ds[6].expired, "{}", db.label);
        assert!(ds.iter().any(|d| d.drill), "{}", db.label);
        let incs = store.incidents_between(from, to).await.expect("incidents");
        assert_eq!(incs.len(), 8, "{}", db.label);
        assert!(incs[0].resolved_at.is_some(), "{}", db.label);
    }
}

#[tokio::test]
async fn a_login_token_is_accepted_once_on_both_backends() {
    for db in both().await {
        let store = db.store().await;
        let now = common::t0();
        assert!(
            store
                .use_login_token("jti-1", "alice", now, now)
                .await
                .expect("first"),
            "{}",
            db.label
        );
        assert!(
            !store
                .use_login_token("jti-1", "alice", now, now)
                .await
                .expect("second"),
            "{}",
            db.label
        );
        assert!(
            store
                .use_login_token("jti-2", "alice", now, now)
                .await
                .expect("other"),
            "{}",
            db.label
        );
    }
}
