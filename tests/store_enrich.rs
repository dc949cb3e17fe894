//! The store as enrichment uses it, on SQLite and PostgreSQL: history of
//! incidents on a host, and inventory lookups feeding an enrichment.

mod common;

use chrono::Duration as ChronoDuration;
use common::{both, t0};
use cordon::domain::{IncidentId, NewAlert, Observables, Severity, Timestamp, alert::AlertStatus};
use cordon::enrich::{EnrichConfig, Enricher};
use cordon::store::{IncomingAlert, IngestWindows, Store};
use std::time::Duration;

fn alert(title: &str, host: &str) -> NewAlert {
    let mut o = Observables::default();
    Observables::push(&mut o.hosts, host);
    NewAlert {
        format: "crowdstrike".into(),
        source_id: None,
        fingerprint: format!("fp-{title}-{host}"),
        title: title.into(),
        description: None,
        severity: Severity::High,
        source_severity: None,
        detected_at: None,
        status: AlertStatus::Firing,
        observables: o,
        tags: vec![],
        rule: None,
        raw: serde_json::json!({}),
    }
}

/// Ingests one alert at `at` with a short correlation window, so each call
/// a day apart opens its own incident.
async fn ingest(store: &Store, a: NewAlert, at: Timestamp, drill: bool) -> IncidentId {
    let windows = IngestWindows {
        dedup: Duration::from_secs(60),
        correlation: Duration::from_secs(600),
    };
    let r = store
        .ingest_batch(
            &[IncomingAlert {
                alert: a,
                sender: "falcon".into(),
                received_at: at,
                drill,
            }],
            windows,
            None,
        )
        .await
        .unwrap();
    r[0].0.incident_id
}

#[tokio::test]
async fn history_counts_other_incidents_on_the_same_host_in_the_last_30_days() {
    for db in both().await {
        let store = db.store().await;
        let day = |n: i64| t0() - ChronoDuration::days(n);
        let _old = ingest(&store, alert("old", "ws-0142"), day(40), false).await;
        let a = ingest(&store, alert("a", "ws-0142"), day(20), false).await;
        let b = ingest(&store, alert("b", "WS-0142"), day(3), false).await;
        let _drill = ingest(&store, alert("drill", "ws-0142"), day(2), true).await;
        let _other = ingest(&store, alert("other", "ws-0177"), day(1), false).await;
        let now = ingest(&store, alert("now", "ws-0142"), t0(), false).await;
        assert_ne!(a, b, "{}", db.label);

        let keys = vec!["host:ws-0142".to_owned()];
        let h = store
            .incidents_with_keys_since(&keys, t0() - ChronoDuration::days(30), Some(now))
            .await
            .unwrap();
        assert_eq!(h.incidents, vec![b, a], "{}", db.label);

        // Through the enricher: the same figures, the current incident left out.
        let enricher = Enricher::new(&EnrichConfig::default()).unwrap();
        let en = enricher
            .enrich_for(&store, &alert("now", "ws-0142"), Some(now), t0())
            .await;
        let hist = en.history.clone().unwrap();
        assert_eq!(hist.incidents_30d, 2, "{}", db.label);
        assert_eq!(hist.last_incident_id, Some(b.0), "{}", db.label);
        assert_eq!(en.field("history.incidents_30d").as_deref(), Some("2"));
        // Without the incident to exclude it counts itself.
        let en = enricher
            .enrich(&store, &alert("now", "ws-0142"), t0())
            .await;
        assert_eq!(en.history.unwrap().incidents_30d, 3, "{}", db.label);
    }
}

#[tokio::test]
async fn imported_assets_and_identities_feed_the_enrichment_fields() {
    for db in both().await {
        let store = db.store().await;
        let assets = cordon::enrich::parse_assets(
            "config/assets.example.csv",
            &std::fs::read("config/assets.example.csv").unwrap(),
        )
        .unwrap();
        let ids = cordon::enrich::parse_identities(
            "config/identities.example.csv",
            &std::fs::read("config/identities.example.csv").unwrap(),
        )
        .unwrap();
        store.upsert_assets(&assets, t0()).await.unwrap();
        store.upsert_identities(&ids, t0()).await.unwrap();

        let mut a = alert("Ransomware", "db-prod-01.corp.example");
        Observables::push(&mut a.observables.hosts, "10.20.1.42");
        Observables::push(&mut a.observables.users, "CORP\\postgres");
        let enricher = Enricher::new(&EnrichConfig::default()).unwrap();
        let en = enricher.enrich(&store, &a, t0()).await;

        assert!(!en.partial, "{}: {:?}", db.label, en.sources);
        assert_eq!(
            en.field("asset.tier").as_deref(),
            Some("crown-jewel"),
            "{}",
            db.label
        );
        assert_eq!(
            en.field("asset.business_service").as_deref(),
            Some("payments-ledger")
        );
        assert_eq!(en.field("asset.owners").as_deref(), Some("carol, dave"));
        assert_eq!(
            en.field("asset.crowdstrike_aid").as_deref(),
            Some("aid-db01")
        );
        assert_eq!(
            en.assets.len(),
            2,
            "{}: the host named by IP is found too",
            db.label
        );
        assert_eq!(en.assets[1].hostname, "ws-0142");
        assert_eq!(en.field("identity.privileged").as_deref(), Some("true"));
        assert_eq!(en.field("identity.department").as_deref(), Some("platform"));
        assert_eq!(en.field("intel_hits"), None);
        assert_eq!(en.field("asset.no_such_thing"), None);
    }
}
