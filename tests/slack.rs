//! Slack end to end: a real cordon, a fake Slack Web API that records every
//! call, and interaction payloads signed exactly as Slack signs them
//! (`v0=HMAC-SHA256(secret, "v0:" + ts + ":" + body)` over the form body
//! `payload=<json>`). The clock is manual: veto windows and Retry-After
//! delays pass with `app.advance`, and requests are signed with its time.

mod common;

use common::app::{Options, TestApp, crowdstrike_alert, spawn_app};
use common::chat::{approvals, crown_jewel_decision};
use common::fake_slack::{Call, FakeSlack};
use cordon::clock::Clock;
use std::time::Duration;

const SECRET: &str = "test-slack-signing-secret";

/// Production prod assets get their own channel; everything else goes to triage.
const ROUTING: &str = r#"
[slack]
pacing = "1ms"
group_miss_refresh = "1ms"
[routing]
default = "triage"
triage = { slack = "C0TRIAGE" }
[[routing.routes]]
environments = ["prod"]
destination = "incident_channel"
"#;

async fn start() -> (TestApp, FakeSlack) {
    start_on(false).await
}

async fn start_on(postgres: bool) -> (TestApp, FakeSlack) {
    let slack = FakeSlack::start().await;
    let app = spawn_app(Options {
        slack_api_url: Some(slack.api_url()),
        slack_signing_secret: Some(SECRET.into()),
        extra_config: ROUTING.into(),
        postgres,
        ..Default::default()
    })
    .await;
    (app, slack)
}

/// A `block_actions` payload for a click on `button` by `user`.
fn click(slack: &FakeSlack, user: &str, button: &str, n: u32) -> serde_json::Value {
    serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "team_id": "T0CORDON"},
        "team": {"id": "T0CORDON", "domain": "cordon-test"},
        "channel": {"id": "CINC0001", "name": "inc"},
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "CINC0001"},
        "trigger_id": format!("trigger-{n}"),
        "response_url": slack.response_url(&format!("{user}-{n}")),
        "actions": [{"type": "button", "action_id": button, "block_id": "b", "value": button,
                     "action_ts": format!("1700000000.{n:06}")}]
    })
}

/// POSTs a signed Slack request; `ts` is the request timestamp in unix seconds.
async fn post_signed(
    app: &TestApp,
    path: &str,
    body: String,
    ts: i64,
    secret: &str,
) -> reqwest::Response {
    let sig = cordon::chat::slack::verify::sign(secret, &ts.to_string(), body.as_bytes());
    app.http
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await
        .expect("post")
}

fn form(payload: &serde_json::Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form")
}

async fn interact(app: &TestApp, payload: &serde_json::Value) -> reqwest::Response {
    post_signed(
        app,
        "/slack/interactions",
        form(payload),
        app.clock.now().timestamp(),
        SECRET,
    )
    .await
}

#[tokio::test]
async fn a_crown_jewel_alert_is_posted_approved_by_two_executed_and_shows_time_to_contain() {
    full_flow(false).await;
}

#[tokio::test]
async fn the_full_flow_also_holds_on_postgresql() {
    full_flow(true).await;
}

async fn full_flow(postgres: bool) {
    let (app, slack) = start_on(postgres).await;
    let d = crown_jewel_decision(&app).await;
    let button = format!("approve:dec-{}", d.id);

    // An incident channel is created for the prod asset, the people who may
    // act (soc-lead, ciso, the asset owners) are invited, and the message
    // is posted there. It carries the Approve button from the start or,
    // when the alert was posted before the playbooks proposed anything,
    // from the update that follows.
    let with_button = |c: &Call| {
        (c.method == "chat.update"
            || (c.method == "chat.postMessage" && c.body["thread_ts"].is_null()))
            && c.body.to_string().contains(&button)
    };
    // ... and, once enrichment is recorded, with the asset's business service.
    let enriched = |c: &Call| with_button(c) && c.body.to_string().contains("payments-ledger");
    let calls = slack
        .wait_for("the enriched main message with buttons", |c| {
            c.iter().any(enriched)
        })
        .await;
    let create = calls
        .iter()
        .find(|c| c.method == "conversations.create")
        .unwrap_or_else(|| panic!("no conversations.create: {calls:#?}"));
    let name = create.body["name"].as_str().unwrap_or_default();
    assert!(
        name.starts_with("inc-") && name.contains("ransomware"),
        "{name}"
    );
    let invited: String = calls
        .iter()
        .filter(|c| c.method == "conversations.invite")
        .map(|c| c.body["users"].to_string())
        .collect();
    for u in ["U01ALICE", "U02BOB", "U03CAROL", "U04DAVE"] {
        assert!(invited.contains(u), "{u} not invited: {invited}");
    }
    let mains: Vec<&Call> = calls
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.body["thread_ts"].is_null())
        .collect();
    assert_eq!(mains.len(), 1, "one main message");
    assert_eq!(mains[0].body["channel"], "CINC0001");
    let shown = calls
        .iter()
        .find(|c| enriched(c))
        .map(|c| c.body.to_string())
        .unwrap_or_default();
    for fact in [
        "db-prod-01",
        "crown-jewel",
        "payments-ledger",
        "Needs 2 of soc-lead, ciso",
        "deny:dec-",
    ] {
        assert!(shown.contains(fact), "main message lacks {fact}: {shown}");
    }

    // alice and carol approve: quorum 2 of distinct people.
    let r = interact(&app, &click(&slack, "U01ALICE", &button, 1)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(approvals(&app, d.id).await, 1);
    let r = interact(&app, &click(&slack, "U03CAROL", &button, 2)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.decision_state(d.id).await, "pending_veto");
    slack
        .wait_for("a private acknowledgement", |c| {
            c.iter().any(|c| {
                c.method == "response_url"
                    && c.path == "U01ALICE-1"
                    && c.body.to_string().contains("Recorded")
            })
        })
        .await;

    // The veto window (2m) passes; the vendor contains the host.
    app.advance(Duration::from_secs(121)).await;
    app.until_state(d.id, "contained").await;
    assert_eq!(app.vendor.actions_named("contain"), 1);

    // The main message is updated in place with who approved and the time to contain.
    let calls = slack
        .wait_for("chat.update with the time to contain", |c| {
            c.iter().any(|c| {
                c.method == "chat.update" && c.body.to_string().contains("time to contain")
            })
        })
        .await;
    let last = calls
        .iter()
        .rev()
        .find(|c| c.method == "chat.update")
        .expect("update");
    let shown = last.body.to_string();
    let main_ref = app
        .engine
        .store
        .incident_message("slack", cordon::domain::IncidentId(d.incident_id))
        .await
        .expect("store")
        .expect("main message saved");
    assert_eq!(last.body["ts"], main_ref.message_ref.as_str());
    assert_eq!(last.body["channel"], "CINC0001");
    assert!(
        shown.contains("<@U01ALICE>") && shown.contains("<@U03CAROL>"),
        "{shown}"
    );
    assert!(
        !shown.contains("approve:dec-"),
        "buttons must be gone: {shown}"
    );
    // The decision's events went to the thread, in order.
    let prefix = format!("dec-{} ", d.id);
    let calls = slack
        .wait_for("the containment in the thread", |c| {
            c.iter().any(|c| {
                let t = c.body["text"].as_str().unwrap_or_default();
                !c.body["thread_ts"].is_null()
                    && t.starts_with(&prefix)
                    && t.contains(":white_check_mark: contained")
            })
        })
        .await;
    let thread: Vec<String> = calls
        .iter()
        .filter(|c| c.method == "chat.postMessage" && !c.body["thread_ts"].is_null())
        .map(|c| c.body["text"].as_str().unwrap_or_default().to_owned())
        .filter(|t| t.starts_with(&prefix))
        .collect();
    let approved = thread
        .iter()
        .position(|t| t.contains("approved by <@U01ALICE>"))
        .expect("alice in thread");
    let contained = thread
        .iter()
        .position(|t| t.contains(":white_check_mark: contained"))
        .expect("contained in thread");
    assert!(approved < contained, "{thread:#?}");
    app.stop().await;
}

#[tokio::test]
async fn unsigned_forged_stale_and_replayed_requests_get_401_and_change_nothing() {
    let (app, slack) = start().await;
    let d = crown_jewel_decision(&app).await;
    let button = format!("approve:dec-{}", d.id);
    let now = app.clock.now().timestamp();
    let body = form(&click(&slack, "U01ALICE", &button, 1));

    let unsigned = app
        .http
        .post(format!("{}/slack/interactions", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(unsigned.status(), 401);
    let forged = post_signed(
        &app,
        "/slack/interactions",
        body.clone(),
        now,
        "not-the-secret",
    )
    .await;
    assert_eq!(forged.status(), 401);
    let stale = post_signed(&app, "/slack/interactions", body.clone(), now - 301, SECRET).await;
    assert_eq!(stale.status(), 401);
    let commands = post_signed(
        &app,
        "/slack/commands",
        "text=status&user_id=U01ALICE".into(),
        now - 600,
        SECRET,
    )
    .await;
    assert_eq!(commands.status(), 401);
    assert_eq!(approvals(&app, d.id).await, 0);

    let ok = post_signed(&app, "/slack/interactions", body.clone(), now, SECRET).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(approvals(&app, d.id).await, 1);
    let replay = post_signed(&app, "/slack/interactions", body, now, SECRET).await;
    assert_eq!(replay.status(), 401);
    assert_eq!(approvals(&app, d.id).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn an_unauthorised_click_is_refused_privately_and_audited_and_a_double_click_counts_once() {
    let (app, slack) = start().await;
    let d = crown_jewel_decision(&app).await;
    let button = format!("approve:dec-{}", d.id);

    // heidi is a soc-analyst: not an approver of crown-jewels.
    let r = interact(&app, &click(&slack, "U08HEIDI", &button, 1)).await;
    assert_eq!(r.status(), 200);
    let calls = slack
        .wait_for("the private refusal", |c| {
            c.iter()
                .any(|c| c.method == "response_url" && c.path == "U08HEIDI-1")
        })
        .await;
    let refusal = calls
        .iter()
        .find(|c| c.path == "U08HEIDI-1")
        .expect("refusal");
    let text = refusal.body["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("crown-jewels") && text.contains("soc-lead") && text.contains("ciso"),
        "{text}"
    );
    assert!(
        refusal
            .body
            .get("replace_original")
            .is_none_or(|v| v == false),
        "must not replace the message"
    );
    let audit = app.engine.store.recent_audit(20).await.expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "refused.approve"
            && a.actor.contains("U08HEIDI")
            && a.subject == format!("dec-{}", d.id)),
        "{audit:#?}"
    );
    assert_eq!(approvals(&app, d.id).await, 0);

    // bob clicks twice (two deliveries, as Slack sends them): one approval.
    for n in [2, 3] {
        let r = interact(&app, &click(&slack, "U02BOB", &button, n)).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(approvals(&app, d.id).await, 1);
    assert_eq!(app.decision_state(d.id).await, "pending_approval");
    let calls = slack
        .wait_for("both acknowledgements", |c| {
            c.iter().filter(|c| c.path.starts_with("U02BOB-")).count() == 2
        })
        .await;
    let second = calls.iter().find(|c| c.path == "U02BOB-3").expect("second");
    assert!(
        second.body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("changed nothing"),
        "{:?}",
        second.body
    );
    app.stop().await;
}

#[tokio::test]
async fn someone_who_may_not_veto_is_refused_at_once_without_a_reason_form() {
    let (app, slack) = start().await;
    let d = crown_jewel_decision(&app).await;
    // heidi is no owner of db-prod-01: the veto belongs to asset-owner.
    let r = interact(
        &app,
        &click(&slack, "U08HEIDI", &format!("veto:dec-{}", d.id), 1),
    )
    .await;
    assert_eq!(r.status(), 200);
    let calls = slack
        .wait_for("the refusal", |c| c.iter().any(|c| c.path == "U08HEIDI-1"))
        .await;
    assert!(
        !calls.iter().any(|c| c.method == "views.open"),
        "{calls:#?}"
    );
    let text = calls
        .iter()
        .find(|c| c.path == "U08HEIDI-1")
        .map(|c| c.body["text"].to_string())
        .unwrap_or_default();
    assert!(text.contains("asset-owner"), "{text}");
    let audit = app.engine.store.recent_audit(20).await.expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "refused.veto"),
        "{audit:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn deny_asks_for_a_reason_in_a_modal_and_records_it() {
    let (app, slack) = start().await;
    let d = crown_jewel_decision(&app).await;
    let button = format!("deny:dec-{}", d.id);
    let r = interact(&app, &click(&slack, "U02BOB", &button, 1)).await;
    assert_eq!(r.status(), 200);
    // Nothing decided yet: a modal asks bob why.
    assert_eq!(app.decision_state(d.id).await, "pending_approval");
    let calls = slack
        .wait_for("views.open", |c| c.iter().any(|c| c.method == "views.open"))
        .await;
    let open = calls
        .iter()
        .find(|c| c.method == "views.open")
        .expect("open");
    assert_eq!(open.body["trigger_id"], "trigger-1");
    let meta = open.body["view"]["private_metadata"]
        .as_str()
        .expect("metadata")
        .to_owned();
    let submission = serde_json::json!({
        "type": "view_submission",
        "user": {"id": "U02BOB", "team_id": "T0CORDON"},
        "team": {"id": "T0CORDON"},
        "view": {"id": "V0001", "type": "modal", "callback_id": "cordon-reason", "private_metadata": meta,
                 "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "  "}}}}}
    });
    // An empty reason is refused inside the modal.
    let r = interact(&app, &submission).await;
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["response_action"], "errors", "{v}");
    let mut submission = submission;
    submission["view"]["state"]["values"]["reason"]["reason"]["value"] =
        serde_json::json!("ledger close tonight");
    let r = interact(&app, &submission).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.decision_state(d.id).await, "denied");
    let l = app
        .engine
        .load(cordon::domain::DecisionId(d.id))
        .await
        .expect("load");
    let json = serde_json::to_string(&l.events).expect("events");
    assert!(json.contains("ledger close tonight"), "{json}");
    app.stop().await;
}

#[tokio::test]
async fn a_named_member_of_a_slack_user_group_acts_with_the_role_the_group_grants() {
    let (app, slack) = start().await;
    // heidi (U08HEIDI) is a soc-analyst in the matrix; the @soc-leads group
    // adds soc-lead. (Someone in the group but not in [people] holds
    // nothing: tests/adversary.)
    slack.set_group("S0SOCLEADS", &["U08HEIDI"]);
    let d = crown_jewel_decision(&app).await;
    let r = interact(
        &app,
        &click(&slack, "U08HEIDI", &format!("deny:dec-{}", d.id), 1),
    )
    .await;
    assert_eq!(r.status(), 200);
    let calls = slack
        .wait_for("views.open", |c| c.iter().any(|c| c.method == "views.open"))
        .await;
    assert!(
        calls
            .iter()
            .any(|c| c.method == "usergroups.users.list" && c.body["usergroup"] == "S0SOCLEADS"),
        "{calls:#?}"
    );
    let open = calls
        .iter()
        .find(|c| c.method == "views.open")
        .expect("open");
    let submission = serde_json::json!({
        "type": "view_submission",
        "user": {"id": "U08HEIDI", "team_id": "T0CORDON"},
        "view": {"id": "V0001", "type": "modal", "callback_id": "cordon-reason",
                 "private_metadata": open.body["view"]["private_metadata"],
                 "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "false positive"}}}}}
    });
    let r = interact(&app, &submission).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.decision_state(d.id).await, "denied");
    let l = app
        .engine
        .load(cordon::domain::DecisionId(d.id))
        .await
        .expect("load");
    let last = l.events.last().expect("event");
    let actor = last.actor.as_ref().expect("actor");
    assert_eq!(actor.platform_user_id, "U08HEIDI");
    assert_eq!(actor.role.as_deref(), Some("soc-lead"));
    app.stop().await;
}

#[tokio::test]
async fn the_slash_command_explains_reports_status_and_proposes_as_the_person() {
    let (app, slack) = start().await;
    let _ = &slack;
    let now = app.clock.now().timestamp();
    let cmd = |text: &str, user: &str| {
        serde_urlencoded::to_string([
            ("command", "/cordon"),
            ("text", text),
            ("user_id", user),
            ("team_id", "T0CORDON"),
            ("channel_id", "C0TRIAGE"),
        ])
        .expect("form")
    };
    let text = |r: serde_json::Value| r["text"].as_str().unwrap_or_default().to_owned();
    let r = post_signed(
        &app,
        "/slack/commands",
        cmd("explain isolate_host db-prod-01", "U01ALICE"),
        now,
        SECRET,
    )
    .await;
    let explained = text(r.json().await.expect("json"));
    assert!(explained.contains("crown-jewels"), "{explained}");
    let r = post_signed(
        &app,
        "/slack/commands",
        cmd("isolate db-prod-01", "U01ALICE"),
        now,
        SECRET,
    )
    .await;
    let proposed = text(r.json().await.expect("json"));
    assert!(
        proposed.contains("pending approval") && proposed.contains("crown-jewels"),
        "{proposed}"
    );
    let d = app
        .decisions()
        .await
        .into_iter()
        .find(|d| d.action == "isolate_host")
        .expect("decision");
    assert_eq!(d.proposer.as_deref(), Some("alice"));
    // Separation of duties: alice proposed it, so alice may not approve it.
    let r = interact(
        &app,
        &click(&slack, "U01ALICE", &format!("approve:dec-{}", d.id), 9),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(approvals(&app, d.id).await, 0);
    let r = post_signed(
        &app,
        "/slack/commands",
        cmd("status", "U02BOB"),
        now,
        SECRET,
    )
    .await;
    let status = text(r.json().await.expect("json"));
    assert!(status.contains(&format!("dec-{}", d.id)), "{status}");
    let r = post_signed(
        &app,
        "/slack/commands",
        cmd("isolate db-prod-01", "U0STRANGER"),
        now,
        SECRET,
    )
    .await;
    assert!(text(r.json().await.expect("json")).contains("not a person"));
    let r = post_signed(&app, "/slack/commands", cmd("", "U02BOB"), now, SECRET).await;
    assert!(text(r.json().await.expect("json")).contains("/cordon status"));
    app.stop().await;
}

/// An alert on `host` for `user`, so that alerts correlate by host only.
fn burst_alert(host: usize, n: usize) -> serde_json::Value {
    let mut a = crowdstrike_alert(
        &format!("burst-{host:02}"),
        &format!("aidburst{host:02}"),
        70,
        &format!("b-{host}-{n}"),
    );
    a["event"]["UserName"] = serde_json::json!(format!("burst-user-{host:02}"));
    a["event"]["Name"] = serde_json::json!(format!("Burst {host} alert {n}"));
    a
}

#[tokio::test]
async fn a_burst_of_200_alerts_under_rate_limiting_loses_nothing_duplicates_nothing_and_keeps_order()
 {
    burst(false).await;
}

#[tokio::test]
async fn the_burst_also_holds_on_postgresql() {
    burst(true).await;
}

async fn burst(postgres: bool) {
    let (app, slack) = start_on(postgres).await;
    // Slack throttles the first 60 posts with Retry-After: 2 s.
    slack.throttle(60, 2);
    for n in 0..10 {
        for host in 0..20 {
            let r = app.post_alert("crowdstrike", &burst_alert(host, n)).await;
            assert_eq!(r.status(), 202);
        }
    }
    // Let Retry-After pass on the manual clock until Slack shows everything.
    let templates =
        cordon::templates::Templates::builtin(&[cordon::chat::slack::render::TEMPLATES])
            .expect("templates");
    let mut done = false;
    for _ in 0..400 {
        app.advance(Duration::from_secs(2)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        if complete(&app, &slack, &templates).await.is_ok() {
            done = true;
            break;
        }
    }
    if !done {
        panic!(
            "{}",
            complete(&app, &slack, &templates)
                .await
                .expect_err("incomplete")
        );
    }
    let throttled = slack.calls().iter().filter(|c| c.status == 429).count();
    assert_eq!(throttled, 60);
    app.stop().await;
}

#[tokio::test]
async fn a_flood_on_one_incident_posts_the_first_related_alerts_then_only_counts_them() {
    let (app, slack) = start().await;
    let limit = cordon::chat::THREAD_ALERTS;
    let total = limit + 5;
    for n in 0..total {
        let r = app.post_alert("crowdstrike", &burst_alert(7, n)).await;
        assert_eq!(r.status(), 202);
    }
    // The incident message keeps the running count of every related alert.
    let related = format!("*{}* related alerts", total - 1);
    slack
        .wait_for("the incident message counting every alert", |calls| {
            calls.iter().any(|c| {
                matches!(c.method.as_str(), "chat.postMessage" | "chat.update")
                    && c.body["thread_ts"].is_null()
                    && c.body.to_string().contains(&related)
            })
        })
        .await;
    // Give any sync still in flight time to post what it would.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replies: Vec<String> = slack
        .ok_calls("chat.postMessage")
        .iter()
        .filter(|c| c.body["thread_ts"].is_string())
        .map(|c| c.body["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    let alerts: Vec<&String> = replies
        .iter()
        .filter(|t| t.contains("Related alert"))
        .collect();
    assert_eq!(alerts.len(), limit, "{replies:#?}");
    // The first related alerts, in order of arrival.
    for (i, t) in alerts.iter().enumerate() {
        assert!(t.contains(&format!("Burst 7 alert {}", i + 1)), "{t}");
    }
    let notes = replies
        .iter()
        .filter(|t| t.contains("More related alerts keep arriving"))
        .count();
    assert_eq!(notes, 1, "{replies:#?}");
    // Every alert is still stored and in the incident.
    let incidents = app
        .engine
        .store
        .list_incidents(&cordon::store::IncidentFilter::default())
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1);
    let alerts = app
        .engine
        .store
        .alerts_of_incident(cordon::domain::IncidentId(incidents[0].id))
        .await
        .expect("alerts");
    assert_eq!(alerts.len(), total);
    app.stop().await;
}

/// Checks that for every incident Slack holds exactly one main message and,
/// in its thread, exactly the incident's timeline in order, nothing twice.
async fn complete(
    app: &TestApp,
    slack: &FakeSlack,
    templates: &cordon::templates::Templates,
) -> Result<(), String> {
    let incidents = app
        .engine
        .store
        .list_incidents(&cordon::store::IncidentFilter {
            include_drills: true,
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    if incidents.len() != 20 {
        return Err(format!("{} incidents", incidents.len()));
    }
    let posts = slack.ok_calls("chat.postMessage");
    let mut expected_posts = 0;
    for i in incidents {
        let id = cordon::domain::IncidentId(i.id);
        let view = cordon::http::incidents::incident_view(
            &app.engine,
            id,
            cordon::http::incidents::VIEW_ALERTS,
        )
        .await
        .map_err(|e| format!("{e:?}"))?
        .ok_or("no view")?;
        if view["alerts"].as_array().map_or(0, Vec::len) != 10 {
            return Err(format!("{id} has not all its alerts yet"));
        }
        let mains: Vec<&Call> = posts
            .iter()
            .filter(|c| {
                c.body["thread_ts"].is_null()
                    && c.body["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(&format!("({id})"))
            })
            .collect();
        if mains.len() != 1 {
            return Err(format!("{id}: {} main messages", mains.len()));
        }
        let msg = app
            .engine
            .store
            .incident_message("slack", id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no ref")?;
        let replies: Vec<String> = posts
            .iter()
            .filter(|c| c.body["thread_ts"].as_str() == Some(msg.message_ref.as_str()))
            .map(|c| c.body["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        let expected: Vec<String> = cordon::chat::timeline(&view)
            .iter()
            .map(|e| {
                cordon::chat::slack::render::timeline(templates, e, &[])
                    .map(|c| c.text.unwrap_or_default())
                    .unwrap_or_default()
            })
            .collect();
        expected_posts += 1 + expected.len();
        // Everything arrived, nothing twice ...
        let (mut a, mut b) = (replies.clone(), expected.clone());
        a.sort();
        b.sort();
        if a != b {
            return Err(format!("{id}: thread {replies:#?}\nexpected {expected:#?}"));
        }
        // ... and in order: the alerts among themselves, the decision events among themselves.
        for prefix in [":rotating_light:", "dec-"] {
            let of = |v: &[String]| {
                v.iter()
                    .filter(|t| t.starts_with(prefix))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            if of(&replies) != of(&expected) {
                return Err(format!(
                    "{id}: out of order {replies:#?}\nexpected {expected:#?}"
                ));
            }
        }
    }
    if posts.len() != expected_posts {
        return Err(format!("{} posts, expected {expected_posts}", posts.len()));
    }
    Ok(())
}

#[tokio::test]
async fn an_escalation_is_announced_in_the_thread_with_mentions_of_the_new_approvers() {
    let (app, slack) = start().await;
    let d = crown_jewel_decision(&app).await;
    slack
        .wait_for("the main message", |c| {
            c.iter().any(|c| c.method == "chat.postMessage")
        })
        .await;
    // Nobody decides within the rule's 10 minutes: soc-oncall is asked.
    app.advance(Duration::from_secs(601)).await;
    let calls = slack
        .wait_for("the escalation in the thread", |c| {
            c.iter()
                .any(|c| c.method == "chat.postMessage" && c.body.to_string().contains("escalated"))
        })
        .await;
    let text = calls
        .iter()
        .find(|c| c.method == "chat.postMessage" && c.body.to_string().contains("escalated"))
        .map(|c| c.body["text"].as_str().unwrap_or_default().to_owned())
        .expect("escalation");
    assert!(
        !calls
            .iter()
            .find(|c| c.body.to_string().contains("escalated"))
            .expect("c")
            .body["thread_ts"]
            .is_null()
    );
    assert!(
        text.contains("<@U04DAVE>") && text.contains("<!subteam^S0SOCONCALL>"),
        "{text}"
    );
    assert_eq!(app.decision_state(d.id).await, "pending_approval");
    app.stop().await;
}

#[tokio::test]
async fn the_events_endpoint_answers_slacks_url_verification_when_signed() {
    let (app, _slack) = start().await;
    let body = serde_json::json!({"type": "url_verification", "challenge": "c-123", "token": "x"})
        .to_string();
    let r = post_signed(
        &app,
        "/slack/events",
        body.clone(),
        app.clock.now().timestamp(),
        SECRET,
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["challenge"], "c-123");
    let r = post_signed(
        &app,
        "/slack/events",
        body,
        app.clock.now().timestamp(),
        "wrong",
    )
    .await;
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn the_weekly_digest_is_posted_once_to_its_channel() {
    let (app, slack) = start().await;
    let cfg: cordon::report::ReportsConfig = toml::from_str(
        "[digest]\nenabled = true\nday = \"mon\"\ntime = \"09:00\"\nslack_channel = \"C0DIGEST\"\n",
    )
    .expect("reports config");
    let sla = cfg.sla_targets().expect("sla");
    let due = cordon::clock::Clock::now(&*app.clock);
    // Two replicas reaching the same due time enqueue it once.
    let first = cordon::report::digest::enqueue(&app.engine, &cfg, &sla, &app.url, due)
        .await
        .expect("enqueue");
    let second = cordon::report::digest::enqueue(&app.engine, &cfg, &sla, &app.url, due)
        .await
        .expect("enqueue");
    assert_eq!((first, second), (1, 0));
    app.eventually("the digest is posted", || async {
        slack
            .ok_calls("chat.postMessage")
            .iter()
            .any(|c| c.body["channel"] == "C0DIGEST")
    })
    .await;
    let posts: Vec<_> = slack
        .ok_calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == "C0DIGEST")
        .collect();
    assert_eq!(posts.len(), 1);
    let text = posts[0].body["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("weekly digest") && text.contains("/reports?"),
        "{text}"
    );
    app.stop().await;
}
