//! End-to-end decision flows: alerts in over HTTP, the authority matrix,
//! the state machine, timers and the fake vendor. The clock is manual, so
//! veto windows and timeouts pass in an instant and exactly.

mod common;

use common::app::{Options, TestApp, crowdstrike_alert, spawn_app};
use cordon::domain::decision::Verb;
use cordon::domain::{Actor, DecisionId, Platform};
use std::time::Duration;

fn slack(user: &str) -> Actor {
    Actor {
        platform: Platform::Slack,
        platform_user_id: user.into(),
        groups: vec![],
    }
}

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
    // The ransomware playbook also acts on the user (webhook); look at the host.
    app.eventually("the contain call", || async {
        app.vendor.actions_named("contain") == 1
    })
    .await;
    let calls: Vec<_> = app
        .vendor
        .actions()
        .into_iter()
        .filter(|r| r.query == "action_name=contain")
        .collect();
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

fn wazuh_brute_force(src_ip: &str, id: &str) -> serde_json::Value {
    serde_json::json!({
        "timestamp": "2026-11-23T07:00:00.000+0000",
        "rule": {"level": 10, "description": "sshd: brute force trying to get access to the system.", "id": "5712",
                 "groups": ["syslog", "sshd", "authentication_failures"], "mitre": {"id": ["T1110"]}},
        "agent": {"id": "004", "name": "bastion-01", "ip": "10.30.0.5"},
        "manager": {"name": "wazuh-mgr-01"},
        "id": id,
        "data": {"srcip": src_ip, "srcuser": "root"},
        "full_log": "sshd[1]: Failed password for root from 203.0.113.50",
        "location": "/var/log/auth.log"
    })
}

async fn events_of(app: &TestApp, id: i64) -> Vec<String> {
    let (_, events) = app
        .engine
        .store
        .get_decision(DecisionId(id))
        .await
        .expect("get")
        .expect("exists");
    events.into_iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn a_veto_inside_the_window_stops_the_server_isolation() {
    let app = spawn_app(Options::default()).await;
    assert_eq!(
        app.post_alert(
            "crowdstrike",
            &crowdstrike_alert("app-srv-03", "aid-app03", 90, "v-1")
        )
        .await
        .status(),
        202
    );
    let d = one_decision(&app, "isolate_host").await;
    assert_eq!(d.rule.as_deref(), Some("servers-with-owner-veto"));
    app.eventually("veto window open", || async {
        app.decision_state(d.id).await == "pending_veto"
    })
    .await;
    // dave owns app-srv-03 (asset-owner) and vetoes within the 3 minutes.
    let r = app
        .engine
        .act(
            &slack("U04DAVE"),
            DecisionId(d.id),
            Verb::Veto,
            Some("payments freeze".into()),
        )
        .await
        .expect("veto");
    assert_eq!(r.state.as_str(), "vetoed");
    app.advance(Duration::from_secs(240)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        app.vendor.actions_named("contain"),
        0,
        "a vetoed isolation never runs"
    );
    assert_eq!(app.decision_state(d.id).await, "vetoed");
    app.stop().await;
}

#[tokio::test]
async fn without_a_veto_the_window_ends_and_the_server_is_isolated() {
    let app = spawn_app(Options::default()).await;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("app-srv-03", "aid-app03", 90, "v-2"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    app.eventually("veto window open", || async {
        app.decision_state(d.id).await == "pending_veto"
    })
    .await;
    app.advance(Duration::from_secs(170)).await;
    assert_eq!(
        app.vendor.actions_named("contain"),
        0,
        "not before the window ends"
    );
    app.advance(Duration::from_secs(11)).await;
    app.until_state(d.id, "contained").await;
    assert_eq!(app.vendor.actions_named("contain"), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_ciso_overrides_a_veto_and_the_isolation_runs() {
    let app = spawn_app(Options::default()).await;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("app-srv-03", "aid-app03", 90, "v-3"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    app.eventually("veto window open", || async {
        app.decision_state(d.id).await == "pending_veto"
    })
    .await;
    app.engine
        .act(&slack("U04DAVE"), DecisionId(d.id), Verb::Veto, None)
        .await
        .expect("veto");
    // bob (soc-lead) may not override; carol (ciso) may.
    let refused = app
        .engine
        .act(&slack("U02BOB"), DecisionId(d.id), Verb::Override, None)
        .await
        .expect_err("not ciso");
    assert!(refused.to_string().contains("ciso"), "{refused}");
    app.engine
        .act(
            &slack("U03CAROL"),
            DecisionId(d.id),
            Verb::Override,
            Some("ransomware spreading".into()),
        )
        .await
        .expect("override");
    app.until_state(d.id, "contained").await;
    assert_eq!(app.vendor.actions_named("contain"), 1);
    let kinds = events_of(&app, d.id).await;
    assert!(
        kinds.contains(&"vetoed".to_owned()) && kinds.contains(&"overridden".to_owned()),
        "{kinds:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_veto_after_execution_rolls_the_workstation_back() {
    let app = spawn_app(Options::default()).await;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("ws-0142", "aid0142", 90, "r-1"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    app.until_state(d.id, "contained").await;
    app.engine
        .act(
            &slack("U04DAVE"),
            DecisionId(d.id),
            Verb::Veto,
            Some("CEO's laptop, false positive".into()),
        )
        .await
        .expect("veto");
    app.until_state(d.id, "rolled_back").await;
    assert_eq!(app.vendor.actions_named("contain"), 1);
    assert_eq!(
        app.vendor.actions_named("lift_containment"),
        1,
        "the inverse ran once"
    );
    app.stop().await;
}

#[tokio::test]
async fn quorum_of_two_distinct_people_with_separation_of_duties() {
    let app = spawn_app(Options::default()).await;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("fs-prod-02", "aid-fs02", 90, "q-1"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    assert_eq!(d.rule.as_deref(), Some("crown-jewels"));
    // alice proposes the same isolation of db-prod-01 herself: she may not approve it.
    let proposer = cordon::domain::decision::ActorRef {
        person: Some("alice".into()),
        platform: Platform::Slack,
        platform_user_id: "U01ALICE".into(),
        role: Some("soc-lead".into()),
    };
    let target = app
        .engine
        .resolve_target(
            &cordon::domain::ActionKind::IsolateHost,
            &cordon::domain::ActionTarget::host("db-prod-01"),
            cordon::domain::Severity::Critical,
            &Default::default(),
            &Default::default(),
        )
        .await
        .expect("resolve");
    let id = app
        .engine
        .propose(cordon::engine::Proposal {
            incident: cordon::domain::IncidentId(d.incident_id),
            alert: None,
            action: cordon::domain::ActionKind::IsolateHost,
            target,
            proposer: Some("alice".into()),
            actor: proposer,
            drill: false,
        })
        .await
        .expect("propose");
    let sod = app
        .engine
        .act(&slack("U01ALICE"), id, Verb::Approve, None)
        .await
        .expect_err("proposer");
    assert!(sod.to_string().contains("separation of duties"), "{sod}");
    let first = app
        .engine
        .act(&slack("U02BOB"), id, Verb::Approve, None)
        .await
        .expect("bob");
    assert_eq!((first.approvals, first.quorum, first.changed), (1, 2, true));
    let again = app
        .engine
        .act(&slack("U02BOB"), id, Verb::Approve, None)
        .await
        .expect("bob again");
    assert_eq!(
        (again.approvals, again.changed),
        (1, false),
        "a second click by the same person counts once"
    );
    // carol on Discord completes the quorum; then the 2-minute post-approval veto window.
    let done = app
        .engine
        .act(&discord("301234567890123999"), id, Verb::Approve, None)
        .await
        .expect("carol");
    assert_eq!(done.state.as_str(), "pending_veto");
    assert_eq!(app.vendor.actions_named("contain"), 0);
    app.advance(Duration::from_secs(121)).await;
    app.until_state(id.0, "contained").await;
    app.stop().await;
}

#[tokio::test]
async fn an_unanswered_approval_escalates_along_the_chain_and_then_expires() {
    let app = spawn_app(Options::default()).await;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("db-prod-01", "aid-db01", 90, "e-1"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    app.eventually("pending", || async {
        app.decision_state(d.id).await == "pending_approval"
    })
    .await;
    // dave is soc-oncall: not an approver before the first escalation step.
    assert!(
        app.engine
            .act(&slack("U04DAVE"), DecisionId(d.id), Verb::Approve, None)
            .await
            .is_err()
    );
    app.advance(Duration::from_secs(601)).await;
    assert_eq!(app.decision_state(d.id).await, "pending_approval");
    let r = app
        .engine
        .act(&slack("U04DAVE"), DecisionId(d.id), Verb::Approve, None)
        .await
        .expect("dave after step 1");
    assert_eq!(r.approvals, 1);
    app.advance(Duration::from_secs(601)).await;
    app.advance(Duration::from_secs(601)).await;
    assert_eq!(
        app.decision_state(d.id).await,
        "expired",
        "fail closed when the chain is exhausted"
    );
    let kinds = events_of(&app, d.id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "escalated").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(app.vendor.actions_named("contain"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_block_is_lifted_when_max_duration_runs_out_unless_extended() {
    let app = spawn_app(Options::default()).await;
    app.post_alert("wazuh", &wazuh_brute_force("203.0.113.50", "1.1"))
        .await;
    app.post_alert("wazuh", &wazuh_brute_force("198.51.100.7", "1.2"))
        .await;
    app.eventually("two blocks", || async {
        app.decisions()
            .await
            .iter()
            .filter(|d| d.action == "block_ip")
            .count()
            == 2
    })
    .await;
    let blocks: Vec<_> = app
        .decisions()
        .await
        .into_iter()
        .filter(|d| d.action == "block_ip")
        .collect();
    for b in &blocks {
        app.until_state(b.id, "contained").await;
    }
    let hook_calls = |action: &str| {
        app.vendor
            .actions()
            .iter()
            .filter(|r| r.path == "/hook" && r.body.contains(&format!("\"action\":\"{action}\"")))
            .count()
    };
    assert_eq!(hook_calls("block_ip"), 2);
    // heidi (soc-analyst, an approver of block-attacker-ips) extends one block.
    app.advance(Duration::from_secs(20 * 3600)).await;
    let (keep, lapse) = (&blocks[0], &blocks[1]);
    app.engine
        .act(&slack("U08HEIDI"), DecisionId(keep.id), Verb::Extend, None)
        .await
        .expect("extend");
    app.advance(Duration::from_secs(4 * 3600 + 60)).await;
    app.until_state(lapse.id, "rolled_back").await;
    assert_eq!(
        app.decision_state(keep.id).await,
        "contained",
        "the extended block stays"
    );
    assert_eq!(hook_calls("unblock_ip"), 1);
    app.advance(Duration::from_secs(20 * 3600 + 60)).await;
    app.until_state(keep.id, "rolled_back").await;
    assert_eq!(hook_calls("unblock_ip"), 2);
    app.stop().await;
}

#[tokio::test]
async fn an_unauthorised_click_is_refused_naming_the_rule_and_roles_and_is_audited() {
    let app = spawn_app(Options::default()).await;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("db-prod-01", "aid-db01", 90, "u-1"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    app.eventually("pending", || async {
        app.decision_state(d.id).await == "pending_approval"
    })
    .await;
    let err = app
        .engine
        .act(&slack("U08HEIDI"), DecisionId(d.id), Verb::Approve, None)
        .await
        .expect_err("heidi");
    let msg = err.to_string();
    assert!(
        msg.contains("crown-jewels") && msg.contains("soc-lead") && msg.contains("ciso"),
        "{msg}"
    );
    // An identity the matrix does not know at all is refused too.
    assert!(
        app.engine
            .act(
                &slack("U999STRANGER"),
                DecisionId(d.id),
                Verb::Approve,
                None
            )
            .await
            .is_err()
    );
    let audit = app.engine.store.recent_audit(10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "refused.approve" && a.actor.contains("heidi")),
        "{audit:?}"
    );
    assert_eq!(
        app.decision_state(d.id).await,
        "pending_approval",
        "nothing changed"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_vendor_outage_ends_in_a_visible_failure_that_a_responder_retries() {
    let app = spawn_app(Options {
        extra_config: "max_attempts = 3\n".into(),
        ..Default::default()
    })
    .await;
    *app.vendor.state.fail_actions.lock().unwrap() = 1000;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("ws-0142", "aid0142", 90, "f-1"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    app.until_state(d.id, "failed").await;
    assert_eq!(
        app.vendor.actions_named("contain"),
        3,
        "three attempts, with backoff"
    );
    let kinds = events_of(&app, d.id).await;
    assert_eq!(kinds.last().map(String::as_str), Some("execution_failed"));
    // The vendor is back; heidi (soc-analyst, approver of contain-workstations) retries.
    *app.vendor.state.fail_actions.lock().unwrap() = 0;
    app.engine
        .act(&slack("U08HEIDI"), DecisionId(d.id), Verb::Retry, None)
        .await
        .expect("retry");
    app.until_state(d.id, "contained").await;
    assert_eq!(app.vendor.actions_named("contain"), 4);
    app.stop().await;
}

#[tokio::test]
async fn a_429_is_retried_after_the_vendors_retry_after() {
    let app = spawn_app(Options::default()).await;
    *app.vendor.state.throttle_actions.lock().unwrap() = 1;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("ws-0142", "aid0142", 90, "t-1"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    app.vendor.wait_for_actions(1, 10).await;
    // Retry-After: 1 — nothing before the second has passed on cordon's clock.
    app.advance(Duration::from_millis(500)).await;
    assert_eq!(app.vendor.actions_named("contain"), 1);
    app.advance(Duration::from_millis(600)).await;
    app.until_state(d.id, "contained").await;
    assert_eq!(app.vendor.actions_named("contain"), 2);
    app.stop().await;
}

#[tokio::test]
async fn an_action_the_vendor_never_confirms_fails_visibly_and_can_be_retried() {
    let app = spawn_app(Options {
        extra_config: "confirm_attempts = 3\n".into(),
        ..Default::default()
    })
    .await;
    *app.vendor.state.device_status.lock().unwrap() = "containment_pending".into();
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("ws-0142", "aid0142", 90, "c-9"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    app.until_state(d.id, "failed").await;
    assert_eq!(app.vendor.actions_named("contain"), 1);
    *app.vendor.state.device_status.lock().unwrap() = "contained".into();
    app.engine
        .act(&slack("U08HEIDI"), DecisionId(d.id), Verb::Retry, None)
        .await
        .expect("retry");
    app.until_state(d.id, "contained").await;
    assert_eq!(
        app.vendor.actions_named("contain"),
        2,
        "the retry asks the vendor again"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_drill_asks_people_for_real_but_never_calls_a_vendor() {
    let app = spawn_app(Options::default()).await;
    let drill_token = common::app::token_for(
        "drill-runner",
        "ingest drill",
        cordon::clock::Clock::now(&*app.clock),
    );
    let post = |token: String, id: &'static str| {
        let http = app.http.clone();
        let url = format!("{}/v1/alerts/crowdstrike?drill=true", app.url);
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&crowdstrike_alert("ws-0142", "aid0142", 90, id))
                .send()
                .await
                .expect("post")
        }
    };
    // A real source cannot send drills.
    assert_eq!(post(app.token.clone(), "dr-0").await.status(), 403);
    assert_eq!(post(drill_token, "dr-1").await.status(), 202);
    let d = one_decision(&app, "isolate_host").await;
    assert!(d.drill);
    app.until_state(d.id, "contained").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        app.vendor.actions().is_empty(),
        "connectors run dry in a drill: {:?}",
        app.vendor.actions()
    );
    // Drills stay out of the default incident list (and so out of MTTR).
    let list = app
        .engine
        .store
        .list_incidents(&Default::default())
        .await
        .expect("list");
    assert!(list.is_empty(), "{list:?}");
    app.stop().await;
}

#[tokio::test]
async fn finished_jobs_are_deleted_after_the_retention_and_failed_ones_stay() {
    let app = spawn_app(Options::default()).await;
    let r = app
        .post_alert(
            "crowdstrike",
            &crowdstrike_alert("ws-keep", "aid-keep", 30, "k1"),
        )
        .await;
    assert_eq!(r.status(), 202);
    let done = || async {
        app.engine
            .store
            .list_jobs(Some("done"), 100)
            .await
            .expect("jobs")
            .iter()
            .any(|j| j.queue == "pipeline")
    };
    app.eventually("the pipeline job is done", done).await;
    // A failed job, for operators to look at.
    let failing = cordon::store::NewJob::new("execute", serde_json::json!({}), app.engine.now());
    let id = app
        .engine
        .store
        .enqueue(&failing, app.engine.now())
        .await
        .expect("enqueue")
        .expect("id");
    let claimed = app
        .engine
        .store
        .claim_jobs(
            "execute",
            "op",
            app.engine.now(),
            Duration::from_secs(60),
            10,
        )
        .await
        .expect("claim");
    assert!(claimed.iter().any(|j| j.id == id));
    let now = app.engine.now();
    app.engine
        .store
        .retry_or_fail_job(id, "op", "vendor said no", now, true, now)
        .await
        .expect("fail");
    // Inside the retention (7 days by default) nothing goes.
    assert_eq!(app.engine.prune_jobs().await.expect("prune"), 0);
    app.clock.advance(Duration::from_secs(8 * 86_400));
    assert!(app.engine.prune_jobs().await.expect("prune") >= 1);
    assert!(!done().await, "the done pipeline job was deleted");
    let failed = app
        .engine
        .store
        .list_jobs(Some("failed"), 10)
        .await
        .expect("jobs");
    assert_eq!(failed.len(), 1, "the failed job stays");
    app.stop().await;
}

/// An app whose job lease is 600 ms on cordon's clock (renewed every
/// 200 ms of real time while a job runs), with a workstation contain in
/// flight at a vendor that answers after `vendor_ms`.
async fn contain_in_flight(vendor_ms: u64) -> (TestApp, cordon::store::DecisionRow) {
    let app = spawn_app(Options {
        extra_config: "job_lease = \"600ms\"\n".into(),
        ..Default::default()
    })
    .await;
    *app.vendor.state.action_delay_ms.lock().unwrap() = vendor_ms;
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("ws-0142", "aid0142", 90, "lease-1"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    app.vendor.wait_for_actions(1, 10).await;
    (app, d)
}

#[tokio::test]
async fn a_vendor_call_longer_than_the_job_lease_keeps_the_lease_and_runs_once() {
    let (app, d) = contain_in_flight(2_000).await;
    // While the vendor sleeps (2 s), cordon's clock moves 1.8 s: three
    // leases. Each step stays inside the lease as last renewed, and every
    // step claims what is due: a lapsed lease would run the contain again.
    for _ in 0..6 {
        app.advance(Duration::from_millis(300)).await;
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    app.until_state(d.id, "contained").await;
    assert_eq!(
        app.vendor.actions_named("contain"),
        1,
        "the running job kept its lease: no second contain"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_flooded_incident_is_read_bounded_and_paged_on_sqlite() {
    flooded_incident(false).await;
}

#[tokio::test]
async fn a_flooded_incident_is_read_bounded_and_paged_on_postgres() {
    flooded_incident(true).await;
}

/// Ten low alerts on one host (the eighth from a known-bad address), then
/// a critical one that gets decisions: the incident view reads the first
/// few, the alert with an intel hit, the decision's alert and the count;
/// the alerts route pages through every one.
async fn flooded_incident(postgres: bool) {
    let intel = common::app::repo("config/intel/bad-ips.txt");
    let app = spawn_app(Options {
        postgres,
        extra_config: format!(
            "[enrich]\nintel_files = [{:?}]\n",
            intel.display().to_string()
        ),
        ..Default::default()
    })
    .await;
    for i in 0..10 {
        let mut a = crowdstrike_alert("ws-flood", "aidflood", 20, &format!("fl-{i}"));
        if i == 7 {
            a["event"]["LocalIP"] = serde_json::json!("203.0.113.9");
        }
        let r = app.post_alert("crowdstrike", &a).await;
        assert_eq!(r.status(), 202);
    }
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("ws-flood", "aidflood", 90, "fl-crit"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    let get = |path: String| {
        let app = &app;
        async move {
            let r = app
                .http
                .get(format!("{}{path}", app.url))
                .bearer_auth(&app.read_token)
                .send()
                .await
                .expect("get");
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.expect("json"))
        }
    };
    let inc = d.incident_id;
    let shown = |view: &serde_json::Value| -> Vec<i64> {
        view["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter_map(|a| a["id"].as_i64())
            .collect()
    };
    // Enrichment is recorded after the decisions are proposed.
    app.eventually("the intel hit is recorded", || async {
        shown(&get(format!("/v1/incidents/{inc}?alerts=3")).await.1).len() == 5
    })
    .await;
    let (status, view) = get(format!("/v1/incidents/{inc}?alerts=3")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["alerts_total"], 11, "{view}");
    let ids = shown(&view);
    assert_eq!(
        ids.len(),
        5,
        "the first three, the intel hit and the decision's: {ids:?}"
    );
    assert_eq!(ids.last().copied(), d.alert_id, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    let hit = &view["alerts"][3];
    assert_eq!(
        hit["enrichment"]["intel_hits"][0]["indicator"], "203.0.113.9",
        "{hit}"
    );
    // The default shows up to 100: all eleven here.
    let (_, view) = get(format!("/v1/incidents/{inc}")).await;
    assert_eq!(view["alerts"].as_array().map(Vec::len), Some(11));

    // Every alert, four at a time.
    let mut seen: Vec<i64> = Vec::new();
    let mut after = 0;
    loop {
        let (status, page) = get(format!("/v1/incidents/{inc}/alerts?after={after}&limit=4")).await;
        assert_eq!(status, 200, "{page}");
        let got: Vec<i64> = page["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter_map(|a| a["id"].as_i64())
            .collect();
        assert!(got.len() <= 4);
        seen.extend(&got);
        match page["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(seen.len(), 11, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

    // Bad input names the field.
    for (path, field) in [
        (format!("/v1/incidents/{inc}?alerts=0"), "alerts"),
        (format!("/v1/incidents/{inc}?alerts=5000"), "alerts"),
        (format!("/v1/incidents/{inc}/alerts?limit=0"), "limit"),
        (format!("/v1/incidents/{inc}/alerts?page=2"), "query"),
    ] {
        let (status, body) = get(path.clone()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["field"], field, "{path}: {body}");
    }
    let (status, _) = get("/v1/incidents/999999/alerts".into()).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_takeover_after_the_vendor_accepted_confirms_instead_of_calling_again() {
    let app = spawn_app(Options::default()).await;
    *app.vendor.state.device_status.lock().unwrap() = "containment_pending".into();
    app.post_alert(
        "crowdstrike",
        &crowdstrike_alert("ws-0142", "aid0142", 90, "crash-1"),
    )
    .await;
    let d = one_decision(&app, "isolate_host").await;
    let confirms = || async {
        app.engine
            .store
            .list_jobs(None, 100)
            .await
            .expect("jobs")
            .into_iter()
            .filter(|j| j.queue == "confirm")
            .count()
    };
    app.eventually("the acceptance schedules a confirmation", || async {
        confirms().await == 1
    })
    .await;
    assert_eq!(app.vendor.actions_named("contain"), 1);
    // The worker died after the vendor accepted: its confirmation job is
    // gone, and its execute job comes back to another worker.
    let pool = sqlx::SqlitePool::connect(&app.db.url).await.expect("db");
    sqlx::query("delete from jobs where queue = 'confirm'")
        .execute(&pool)
        .await
        .expect("delete");
    let rerun = cordon::store::NewJob::new(
        "execute",
        serde_json::json!({ "decision_id": d.id }),
        app.engine.now(),
    );
    app.engine
        .store
        .enqueue(&rerun, app.engine.now())
        .await
        .expect("enqueue");
    app.advance(Duration::from_millis(10)).await;
    assert_eq!(
        confirms().await,
        1,
        "the takeover scheduled the confirmation"
    );
    *app.vendor.state.device_status.lock().unwrap() = "contained".into();
    app.until_state(d.id, "contained").await;
    assert_eq!(
        app.vendor.actions_named("contain"),
        1,
        "the vendor already took it: no second call"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_attempt_that_lost_its_lease_to_another_worker_stops_and_records_nothing() {
    let (app, d) = contain_in_flight(1_500).await;
    // While the vendor sleeps, another worker claims the job (as after a
    // lease that lapsed while the database was away).
    let pool = sqlx::SqlitePool::connect(&app.db.url).await.expect("db");
    let taken = sqlx::query(
        "update jobs set attempts = attempts + 1, locked_by = 'other-replica' \
         where queue = 'execute' and status = 'running' and payload like $1",
    )
    .bind(format!("%\"decision_id\":{}%", d.id))
    .execute(&pool)
    .await
    .expect("take over");
    assert_eq!(taken.rows_affected(), 1);
    // The vendor answers after 1.5 s; this attempt must not record it.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let kinds = events_of(&app, d.id).await;
    assert!(
        !kinds.iter().any(|k| k == "execution_accepted"),
        "the attempt that lost the job recorded its outcome: {kinds:?}"
    );
    let (status, by): (String, String) = sqlx::query_as(
        "select status, locked_by from jobs where queue = 'execute' and payload like $1",
    )
    .bind(format!("%\"decision_id\":{}%", d.id))
    .fetch_one(&pool)
    .await
    .expect("job");
    assert_eq!((status.as_str(), by.as_str()), ("running", "other-replica"));
    app.stop().await;
}
