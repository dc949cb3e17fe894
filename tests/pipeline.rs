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

#[tokio::test]
async fn replay_shows_what_a_candidate_matrix_would_have_done_with_real_history() {
    let app = spawn_app(Options::default()).await;
    // History: an automatic workstation isolation and a server veto window.
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("ws-0142", "aid0142", 90, "h-1"),
    )
    .await;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("app-srv-03", "aid-app03", 90, "h-2"),
    )
    .await;
    app.eventually("two isolations", || async {
        app.decisions()
            .await
            .iter()
            .filter(|d| d.action == "isolate_host")
            .count()
            == 2
    })
    .await;
    let ws = app
        .decisions()
        .await
        .into_iter()
        .find(|d| d.target_value == "ws-0142")
        .expect("ws");
    app.until_state(ws.id, "contained").await;
    // Candidate: workstations need a soc-lead's approval instead.
    let v1 = std::fs::read_to_string(repo("config/authority.toml")).expect("matrix");
    let v2 = v1.replacen(
        "match = { asset_tier = [\"workstation\"], severity_at_least = \"high\" }\nmode = \"auto\"\napprovers = [\"soc-analyst\"]",
        "match = { asset_tier = [\"workstation\"], severity_at_least = \"high\" }\nmode = \"approval\"\napprovers = [\"soc-lead\"]\ntimeout = \"15m\"",
        1,
    );
    let v2 = v2.replace(
        "after_execution_veto = \"rollback\"  #   that releases the host again\n",
        "",
    );
    assert_ne!(v1, v2);
    let candidate = cordon::domain::Matrix::parse("candidate.toml", &v2).expect("candidate parses");
    let mut loaded = Vec::new();
    let now = cordon::clock::Clock::now(&*app.clock);
    for (row, recs) in app
        .engine
        .store
        .decisions_between(
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(1),
        )
        .await
        .expect("load")
    {
        let events = recs
            .iter()
            .map(cordon::engine::from_record)
            .collect::<Result<Vec<_>, _>>()
            .expect("events");
        loaded.push((row, events));
    }
    let (rows, summary) = cordon::replay::replay(&candidate, &loaded);
    let ws_row = rows.iter().find(|r| r.target == "ws-0142").expect("row");
    assert!(ws_row.changed);
    assert_eq!(
        (ws_row.was_mode.as_str(), ws_row.new_mode.as_str()),
        ("auto", "approval")
    );
    assert!(
        ws_row.would_ask.iter().any(|w| w.contains("alice")),
        "{:?}",
        ws_row.would_ask
    );
    let srv = rows.iter().find(|r| r.target == "app-srv-03").expect("row");
    assert!(!srv.changed, "servers keep their rule");
    assert_eq!(
        summary.would_auto_execute,
        rows.iter().filter(|r| r.new_mode == "auto").count()
    );
    assert!(summary.changed >= 1);
    let table = cordon::replay::render_table(&rows, &summary);
    assert!(
        table.contains("contain-workstations/auto → contained"),
        "{table}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_incident_resolves_when_its_source_resolves_every_alert_or_a_person_closes_it() {
    let app = spawn_app(Options::default()).await;
    let firing = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(repo("tests/fixtures/alerts/alertmanager/firing_group.json"))
            .expect("fixture"),
    )
    .expect("json");
    let r: serde_json::Value = app
        .post_alert("alertmanager", &firing)
        .await
        .json()
        .await
        .expect("json");
    let incident =
        cordon::domain::IncidentId(r["alerts"][0]["incident_id"].as_i64().expect("incident"));
    let mut resolved = firing.clone();
    resolved["status"] = "resolved".into();
    for a in resolved["alerts"].as_array_mut().expect("alerts") {
        a["status"] = "resolved".into();
    }
    assert_eq!(
        app.post_alert("alertmanager", &resolved).await.status(),
        202
    );
    app.eventually("resolved by its source", || async {
        app.engine
            .store
            .get_incident(incident)
            .await
            .ok()
            .flatten()
            .is_some_and(|i| i.resolved_at.is_some())
    })
    .await;
    // A person closes an EDR incident; a stranger may not.
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("ws-0177", "aid0177", 50, "res-1"),
    )
    .await;
    let other = app
        .engine
        .store
        .list_incidents(&Default::default())
        .await
        .expect("list")
        .into_iter()
        .find(|i| i.resolved_at.is_none())
        .expect("open incident");
    let stranger = Actor {
        platform: Platform::Slack,
        platform_user_id: "U0NOBODY".into(),
        groups: vec![],
    };
    assert!(
        app.engine
            .resolve_incident(&stranger, cordon::domain::IncidentId(other.id), None)
            .await
            .is_err()
    );
    let alice = Actor {
        platform: Platform::Slack,
        platform_user_id: "U01ALICE".into(),
        groups: vec![],
    };
    app.engine
        .resolve_incident(
            &alice,
            cordon::domain::IncidentId(other.id),
            Some("reimaged".into()),
        )
        .await
        .expect("resolve");
    let inc = app
        .engine
        .store
        .get_incident(cordon::domain::IncidentId(other.id))
        .await
        .expect("get")
        .expect("incident");
    assert_eq!(inc.status, "resolved");
    let audit = app.engine.store.recent_audit(20).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "incident.resolved" && a.actor.starts_with("alice"))
    );
    app.stop().await;
}
