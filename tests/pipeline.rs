//! The pipeline around the decisions: enrichment that never blocks
//! containment, and matrix reloads that never change a decision's rules
//! after the fact.

mod common;

use common::app::{Options, crowdstrike_alert, repo, spawn_app};
use cordon::domain::decision::Verb;
use cordon::domain::{Actor, DecisionId, Platform};
use std::time::{Duration, Instant};

/// A CMDB that answers after `delay`.
async fn slow_cmdb(delay: Duration) -> String {
    let app = axum::Router::new().route(
        "/api/hosts/{host}",
        axum::routing::get(move |axum::extract::Path(host): axum::extract::Path<String>| async move {
            tokio::time::sleep(delay).await;
            axum::Json(serde_json::json!({"data": {"tier": "server", "owners": ["dave"], "host": host}}))
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    url
}

#[tokio::test]
async fn a_cmdb_slower_than_its_budget_marks_enrichment_partial_and_containment_still_runs() {
    let cmdb = slow_cmdb(Duration::from_secs(5)).await;
    let extra = format!(
        "[enrich]\nbudget = \"200ms\"\n[[enrich.http_sources]]\nname = \"cmdb\"\nkind = \"asset\"\n\
         url_template = \"{cmdb}/api/hosts/{{host}}\"\nfields = {{ tier = \"data.tier\" }}\nbudget = \"200ms\"\n"
    );
    let app = spawn_app(Options {
        extra_config: extra,
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let r = app
        .post_alert(
            "crowdstrike",
            &crowdstrike_alert("ws-0142", "aid0142", 90, "slow-1"),
        )
        .await;
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = r.json().await.expect("json");
    app.vendor.wait_for_actions(1, 10).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(2000),
        "containment waited for the CMDB: {elapsed:?}"
    );
    let alert_id = cordon::domain::AlertId(body["alerts"][0]["alert_id"].as_i64().expect("id"));
    app.eventually("the enrichment record", || async {
        app.engine
            .store
            .get_alert(alert_id)
            .await
            .ok()
            .flatten()
            .is_some_and(|a| a.enrichment.is_some())
    })
    .await;
    let alert = app
        .engine
        .store
        .get_alert(cordon::domain::AlertId(
            body["alerts"][0]["alert_id"].as_i64().expect("id"),
        ))
        .await
        .expect("get")
        .expect("alert");
    assert!(alert.enrichment_partial, "marked partial");
    let e: serde_json::Value =
        serde_json::from_str(alert.enrichment.as_deref().expect("enrichment")).expect("json");
    let cmdb_report = e["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["name"] == "cmdb")
        .expect("cmdb source")
        .clone();
    assert_eq!(cmdb_report["ok"], false, "{cmdb_report}");
    // The imported inventory still answered: the workstation tier decided the auto rule.
    assert_eq!(e["asset"]["tier"], "workstation");
    app.stop().await;
}

#[tokio::test]
async fn a_reloaded_matrix_applies_to_new_decisions_only_and_a_broken_one_is_refused() {
    let app = spawn_app(Options::default()).await;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("app-srv-03", "aid-app03", 90, "m-1"),
    )
    .await;
    app.eventually("a veto window", || async {
        app.decisions()
            .await
            .iter()
            .any(|d| d.state == "pending_veto")
    })
    .await;
    let old = app
        .decisions()
        .await
        .into_iter()
        .find(|d| d.action == "isolate_host")
        .expect("decision");
    // v2: the owners may no longer veto server isolations.
    let v1 = std::fs::read_to_string(repo("config/authority.toml")).expect("matrix");
    let v2 = v1.replace("veto = [\"asset-owner\", \"it-ops\"]\noverride = [\"ciso\"]                # the final word", "veto = [\"it-ops\"]\noverride = [\"ciso\"]                # the final word");
    assert_ne!(v1, v2, "the test edits the server rule");
    let path = app.dir.path().join("authority.toml");
    std::fs::write(&path, &v2).expect("write");
    let hash = cordon::app::reload_matrix(&app.engine, &path)
        .await
        .expect("reload");
    assert_eq!(app.engine.matrix().hash(), hash);
    // The decision made under v1 keeps v1: dave (owner) may still veto it.
    app.engine
        .act(
            &Actor {
                platform: Platform::Slack,
                platform_user_id: "U04DAVE".into(),
                groups: vec![],
            },
            DecisionId(old.id),
            Verb::Veto,
            None,
        )
        .await
        .expect("veto under the old matrix");
    // A decision made after the reload is judged under v2: dave's veto is refused.
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("bastion-01", "aid-bastion01", 90, "m-2"),
    )
    .await;
    app.eventually("a second decision", || async {
        app.decisions()
            .await
            .iter()
            .any(|d| d.target_value == "bastion-01" && d.state == "pending_veto")
    })
    .await;
    let new = app
        .decisions()
        .await
        .into_iter()
        .find(|d| d.target_value == "bastion-01")
        .expect("new");
    assert_eq!(new.matrix_hash, hash);
    let refused = app
        .engine
        .act(
            &Actor {
                platform: Platform::Slack,
                platform_user_id: "U04DAVE".into(),
                groups: vec![],
            },
            DecisionId(new.id),
            Verb::Veto,
            None,
        )
        .await
        .expect_err("owners lost the veto in v2");
    assert!(refused.to_string().contains("it-ops"), "{refused}");
    // A broken file is refused and the matrix in force stays.
    std::fs::write(&path, v2.replace("mode = \"auto\"", "mode = \"automatic\"")).expect("write");
    assert!(
        cordon::app::reload_matrix(&app.engine, &path)
            .await
            .is_err()
    );
    assert_eq!(app.engine.matrix().hash(), hash);
    let audit = app.engine.store.recent_audit(20).await.expect("audit");
    assert!(audit.iter().any(|a| a.action == "matrix.reloaded"));
    assert!(audit.iter().any(|a| a.action == "matrix.reload_refused"));
    app.stop().await;
}
