//! The authority matrix under attack (DESIGN §3a, §3b): who may act, on
//! which name of the target, and how far automation may go without a
//! person. Alerts go in over HTTP with the ingest token; people act through
//! signed Slack requests and the web console; the fake vendor records what
//! reached it. Each test failed on the code before its defence.

use crate::chat::{slack_click, slack_command, slack_post, start_slack, start_slack_on};
use crate::common::app::{Options, TestApp, spawn_app};
use crate::common::chat::crown_jewel_decision;
use crate::common::fake_slack::TEAM;
use crate::support::{all_decisions, host_alert, wait, web_act, workstations};
use cordon::clock::Clock;
use cordon::domain::DecisionId;
use std::time::Duration;

// --- helpers --------------------------------------------------------------

async fn decision(app: &TestApp, id: i64) -> (String, cordon::store::DecisionRow) {
    let l = app.engine.load(DecisionId(id)).await.expect("load");
    (l.decision.state.as_str().to_owned(), l.row)
}

/// Posts `alert` and returns the isolation it led to once it is in `state`.
async fn isolation_in(
    app: &TestApp,
    alert: &serde_json::Value,
    state: &str,
) -> cordon::store::DecisionRow {
    let isolations = async || {
        all_decisions(app)
            .await
            .into_iter()
            .filter(|d| d.action == "isolate_host")
            .collect::<Vec<_>>()
    };
    let before = isolations().await.len();
    assert_eq!(app.post_alert("crowdstrike", alert).await.status(), 202);
    wait("the isolation is proposed", 10, async || {
        isolations().await.len() > before
    })
    .await;
    let newest = isolations()
        .await
        .into_iter()
        .max_by_key(|d| d.id)
        .expect("isolation");
    app.until_state(newest.id, state).await;
    decision(app, newest.id).await.1
}

// --- who may act ------------------------------------------------------------

/// frank is it-ops: he may veto server isolations, not start them. His
/// `/cordon isolate` of a workstation used to land on the workstation's
/// auto rule and isolate it with nobody asked.
#[tokio::test]
async fn it_ops_cannot_start_an_automatic_isolation_by_slash_command() {
    let (app, _slack) = start_slack("").await;
    let answer = slack_command(&app, "U06FRANK", TEAM, "isolate ws-0142").await;
    assert!(
        answer.contains("does not let you propose isolate_host") && answer.contains("soc-analyst"),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.decisions().await.is_empty(), "nothing was proposed");
    assert_eq!(app.vendor.contain_requests("aid0142"), 0);
    // heidi is a soc-analyst, a proposer of that rule: hers goes through.
    let answer = slack_command(&app, "U08HEIDI", TEAM, "isolate ws-0177").await;
    assert!(answer.contains("dec-"), "{answer}");
    app.vendor.wait_for_actions(1, 10).await;
    assert_eq!(app.vendor.contain_requests("aid0177"), 1);
    app.stop().await;
}

/// carol is CISO: an approver *and* the override role of crown-jewels,
/// a two-person rule. Alone she denied, then overrode her own denial, and
/// the crown jewel was isolated, skipping the rule's veto window too.
#[tokio::test]
async fn deny_then_override_by_one_person_does_not_execute_a_quorum_2_rule() {
    let app = spawn_app(Options::default()).await;
    let d = crown_jewel_decision(&app).await;
    let (status, _) = web_act(&app, "carol", d.id, "deny").await;
    assert_eq!(status, 303);
    let (status, page) = web_act(&app, "carol", d.id, "override").await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("someone else"), "{page}");
    assert_eq!(decision(&app, d.id).await.0, "denied");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.vendor.actions_named("contain"), 0, "nothing executed");
    app.stop().await;
}

/// The same attack with a second override role: the override re-opens the
/// approval with the overrider's one approval, and quorum plus the veto
/// window still stand between it and the vendor.
#[tokio::test]
async fn an_override_of_a_denial_counts_as_one_approval_and_keeps_the_veto_window() {
    let matrix = std::fs::read_to_string(crate::common::app::repo("config/authority.toml"))
        .expect("matrix")
        .replace(
            "[roles.ciso]\nmembers = [\"carol\"]",
            "[roles.ciso]\nmembers = [\"carol\", \"erin\"]",
        );
    let app = spawn_app(Options {
        matrix: Some(matrix),
        ..Default::default()
    })
    .await;
    let d = crown_jewel_decision(&app).await;
    assert_eq!(web_act(&app, "carol", d.id, "deny").await.0, 303);
    assert_eq!(web_act(&app, "erin", d.id, "override").await.0, 303);
    assert_eq!(decision(&app, d.id).await.0, "pending_approval");
    assert_eq!(web_act(&app, "alice", d.id, "approve").await.0, 303);
    assert_eq!(
        decision(&app, d.id).await.0,
        "pending_veto",
        "the veto window"
    );
    assert_eq!(app.vendor.actions_named("contain"), 0);
    app.stop().await;
}

/// A Slack user who is in the soc-analyst user group but not in [people]
/// clicked Release on a contained workstation, and it was released: anyone
/// who can join a Slack group held its role.
#[tokio::test]
async fn a_slack_group_only_member_cannot_release_or_veto() {
    let (app, slack) = start_slack("").await;
    slack.set_group("S0SOCANALYSTS", &["U0STRANGER"]);
    slack.set_group("S0SOCLEADS", &["U0STRANGER"]);
    let d = isolation_in(&app, &host_alert("ws-0142", "aid0142", "g-1"), "contained").await;
    for (n, verb) in [(1, "release"), (2, "veto")] {
        let r = slack_post(
            &app,
            "/slack/interactions",
            slack_click(
                &slack,
                "U0STRANGER",
                TEAM,
                TEAM,
                &format!("{verb}:dec-{}", d.id),
                n,
            ),
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(decision(&app, d.id).await.0, "contained");
    assert_eq!(app.vendor.actions_named("lift_containment"), 0);
    let (_, events) = app
        .engine
        .store
        .get_decision(DecisionId(d.id))
        .await
        .expect("get")
        .expect("d");
    assert!(
        events
            .iter()
            .all(|e| e.actor_user.as_deref() != Some("U0STRANGER"))
    );
    app.stop().await;
}

/// dave owns ws-0142, so he may veto its isolation. But the alert is about
/// *his* account: whoever holds his laptop holds his Slack session, and
/// could hand the host back to themselves.
#[tokio::test]
async fn the_alerts_own_user_cannot_veto_or_release() {
    let app = spawn_app(Options::default()).await;
    let mut alert = host_alert("ws-0142", "aid0142", "s-1");
    alert["event"]["UserName"] = serde_json::json!("CORP\\dave");
    let d = isolation_in(&app, &alert, "contained").await;
    for verb in ["veto", "release"] {
        let (status, page) = web_act(&app, "dave", d.id, verb).await;
        assert_eq!(status, 403, "{verb}: {page}");
        assert!(page.contains("involved in this incident"), "{page}");
    }
    assert_eq!(decision(&app, d.id).await.0, "contained");
    assert_eq!(app.vendor.actions_named("lift_containment"), 0);
    app.stop().await;
}

/// Removing someone from a role must take effect on decisions made before
/// the change, not only on new ones.
#[tokio::test]
async fn a_person_removed_from_a_role_is_refused_on_an_old_decision_on_sqlite() {
    a_person_removed_from_a_role_is_refused_on_an_old_decision(false).await;
}

#[tokio::test]
async fn a_person_removed_from_a_role_is_refused_on_an_old_decision_on_postgres() {
    a_person_removed_from_a_role_is_refused_on_an_old_decision(true).await;
}

async fn a_person_removed_from_a_role_is_refused_on_an_old_decision(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    let d = crown_jewel_decision(&app).await;
    let path = app.dir.path().join("authority.toml");
    let text = std::fs::read_to_string(&path)
        .expect("matrix")
        .replace("members = [\"alice\", \"bob\"]", "members = [\"bob\"]")
        .replace("slack_groups = [\"S0SOCLEADS\"]\n", "");
    std::fs::write(&path, text).expect("write");
    cordon::app::reload_matrix(&app.engine, &path)
        .await
        .expect("reload");
    let (status, page) = web_act(&app, "alice", d.id, "approve").await;
    assert_eq!(status, 403, "{page}");
    assert_eq!(crate::common::chat::approvals(&app, d.id).await, 0);
    // bob still holds the role in both versions.
    assert_eq!(web_act(&app, "bob", d.id, "approve").await.0, 303);
    app.stop().await;
}

// --- which target -----------------------------------------------------------

/// A GuardDuty finding names its instance by id. db-prod-01 is that
/// instance, a crown jewel: matched only by host name, it fell to the
/// generic instance rule (quarantine after a 5-minute veto window, nobody
/// asked).
#[tokio::test]
async fn a_guardduty_finding_naming_a_crown_jewel_instance_by_its_id_takes_the_crown_jewel_rule_on_sqlite()
 {
    a_guardduty_finding_naming_a_crown_jewel_instance_by_its_id_takes_the_crown_jewel_rule(false)
        .await;
}

#[tokio::test]
async fn a_guardduty_finding_naming_a_crown_jewel_instance_by_its_id_takes_the_crown_jewel_rule_on_postgres()
 {
    a_guardduty_finding_naming_a_crown_jewel_instance_by_its_id_takes_the_crown_jewel_rule(true)
        .await;
}

async fn a_guardduty_finding_naming_a_crown_jewel_instance_by_its_id_takes_the_crown_jewel_rule(
    postgres: bool,
) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    let finding = serde_json::json!({
        "schemaVersion": "2.0", "accountId": "123456789012", "region": "eu-west-1",
        "id": "gd-crown-1", "type": "Backdoor:EC2/C&CActivity.B!DNS",
        "resource": {"resourceType": "Instance", "instanceDetails": {
            "instanceId": "i-0fff666aaa7778889",
            "networkInterfaces": [{"privateDnsName": "ip-10-30-2-10.eu-west-1.compute.internal", "privateIpAddress": "10.30.2.10"}]}},
        "service": {"serviceName": "guardduty", "archived": false, "count": 1,
                    "eventFirstSeen": "2026-12-05T09:00:00.000Z", "eventLastSeen": "2026-12-05T09:00:00.000Z"},
        "severity": 8.0, "createdAt": "2026-12-05T09:00:00.000Z", "updatedAt": "2026-12-05T09:00:00.000Z",
        "title": "EC2 instance is querying a C&C domain.", "description": "Backdoor"
    });
    assert_eq!(app.post_alert("guardduty", &finding).await.status(), 202);
    wait("the quarantine is proposed", 10, async || {
        app.decisions()
            .await
            .iter()
            .any(|d| d.action == "quarantine_instance")
    })
    .await;
    let d = app
        .decisions()
        .await
        .into_iter()
        .find(|d| d.action == "quarantine_instance")
        .expect("quarantine");
    assert_eq!(d.rule.as_deref(), Some("quarantine-crown-jewel-instances"));
    assert_eq!(d.target_value, "db-prod-01", "the canonical name");
    assert_eq!(d.state, "pending_approval");
    app.stop().await;
}

/// ws-ghost is in Falcon but not in the inventory. The alert carries its
/// AgentId; the connector sent the host *name* as the device id instead, and
/// Falcon refused it. The isolation of an unknown host also needs a person.
#[tokio::test]
async fn a_crowdstrike_alert_on_an_uninventoried_host_is_contained_through_its_own_agent_id() {
    let app = spawn_app(Options::default()).await;
    app.vendor.register("ws-ghost", "aid-ghost-7");
    assert_eq!(
        app.post_alert("crowdstrike", &host_alert("ws-ghost", "aid-ghost-7", "u-1"))
            .await
            .status(),
        202
    );
    wait("the isolation is proposed", 10, async || {
        !app.decisions().await.is_empty()
    })
    .await;
    let d = app.decisions().await.remove(0);
    assert_eq!(d.rule.as_deref(), Some("isolate-unknown-assets"));
    assert_eq!(
        d.state, "pending_approval",
        "an unknown host is never automatic"
    );
    assert_eq!(web_act(&app, "alice", d.id, "approve").await.0, 303);
    app.until_state(d.id, "contained").await;
    assert_eq!(app.vendor.contain_requests("aid-ghost-7"), 1);
    assert!(
        app.vendor.lookups().is_empty(),
        "the alert's own AgentId was used"
    );
    app.stop().await;
}

/// A host name is what the alert says it is: markup or an option in it
/// never becomes a target a connector sees.
#[tokio::test]
async fn a_target_that_is_no_host_name_is_never_proposed() {
    let app = spawn_app(Options::default()).await;
    for (n, host) in ["ws-1<!channel>", "--config=/etc/passwd", "ws 1"]
        .into_iter()
        .enumerate()
    {
        let alert = host_alert(host, &format!("aid-bad-{n}"), &format!("bad-{n}"));
        assert_eq!(app.post_alert("crowdstrike", &alert).await.status(), 202);
    }
    // A good alert after them: once it is proposed, the bad ones were seen.
    isolation_in(&app, &host_alert("ws-0177", "aid0177", "good"), "contained").await;
    let targets: Vec<String> = app
        .decisions()
        .await
        .into_iter()
        .map(|d| d.target_value)
        .collect();
    assert_eq!(targets, ["ws-0177"]);
    app.stop().await;
}

// --- how far automation goes ------------------------------------------------

/// One ingest token sent 1,000 alerts naming 500 workstations, and each
/// was isolated automatically. The rate guard lets 10 run; the rest wait
/// for a person, and the chat message says why.
#[tokio::test]
async fn a_thousand_alerts_on_500_workstations_run_at_most_the_guards_max_automatically_on_sqlite()
{
    a_thousand_alerts_on_500_workstations_run_at_most_the_guards_max_automatically(false).await;
}

#[tokio::test]
async fn a_thousand_alerts_on_500_workstations_run_at_most_the_guards_max_automatically_on_postgres()
 {
    a_thousand_alerts_on_500_workstations_run_at_most_the_guards_max_automatically(true).await;
}

async fn a_thousand_alerts_on_500_workstations_run_at_most_the_guards_max_automatically(
    postgres: bool,
) {
    let (app, slack) = start_slack_on("", postgres).await;
    workstations(&app, "ws-r", 500).await;
    for batch in 0..10 {
        let body: Vec<serde_json::Value> = (0..100)
            .map(|j| {
                let n = batch * 100 + j;
                let i = n % 500;
                host_alert(
                    &format!("ws-r{i:03}"),
                    &format!("aid-ws-r{i:03}"),
                    &format!("storm-{n}"),
                )
            })
            .collect();
        let r = app
            .post_alert("crowdstrike", &serde_json::json!(body))
            .await;
        assert_eq!(r.status(), 202);
    }
    wait("1,000 isolations are judged", 180, async || {
        all_decisions(&app).await.len() >= 1000
    })
    .await;
    let all = all_decisions(&app).await;
    let automatic = all.iter().filter(|d| d.mode == "auto").count();
    assert_eq!(automatic, 10, "the guard's max");
    let guarded = all
        .iter()
        .filter(|d| d.mode == "approval" && d.state == "pending_approval")
        .count();
    assert_eq!(guarded, 990);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.vendor.actions_named("contain") <= 10);
    slack
        .wait_for("a message saying the breaker is open", |calls| {
            calls.iter().any(|c| {
                c.method.starts_with("chat.")
                    && c.body
                        .to_string()
                        .contains("isolate_host rate guard open, 10 in 10m")
            })
        })
        .await;
    app.stop().await;
}

/// Wazuh brute force from `ip` on the bastion.
fn brute_force(ip: &str, id: &str) -> serde_json::Value {
    serde_json::json!({
        "timestamp": "2026-12-05T10:20:31.412+0000",
        "rule": {"level": 10, "description": "sshd: brute force trying to get access to the system.", "id": "5712", "groups": ["sshd"]},
        "agent": {"id": "017", "name": "bastion-01", "ip": "10.30.0.5"},
        "id": id,
        "data": {"srcip": ip, "dstuser": "root"},
        "location": "/var/log/auth.log"
    })
}

/// An alert naming the attacker as `0.0.0.0/0`, or as an internal address,
/// had the firewall block the internet or our own network automatically.
#[tokio::test]
async fn block_ip_of_the_whole_internet_or_an_internal_address_is_never_automatic() {
    let app = spawn_app(Options::default()).await;
    for (n, ip) in ["0.0.0.0/0", "10.1.2.3", "203.0.113.9"]
        .into_iter()
        .enumerate()
    {
        let r = app
            .post_alert("wazuh", &brute_force(ip, &format!("bf-{n}")))
            .await;
        assert_eq!(r.status(), 202);
    }
    wait("three blocks judged", 10, async || {
        app.decisions()
            .await
            .iter()
            .filter(|d| d.action == "block_ip")
            .count()
            == 3
    })
    .await;
    let blocks = app.decisions().await;
    let state_of = |t: &str| {
        blocks
            .iter()
            .find(|d| d.target_value == t)
            .map(|d| (d.mode.clone(), d.state.clone()))
            .expect(t)
    };
    assert_eq!(
        state_of("0.0.0.0/0"),
        ("forbidden".into(), "forbidden".into())
    );
    assert_eq!(state_of("10.1.2.3").1, "pending_approval");
    assert_ne!(
        state_of("203.0.113.9").1,
        "pending_approval",
        "a real attacker is still blocked"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hooks: Vec<String> = app.vendor.actions().into_iter().map(|r| r.body).collect();
    assert!(
        hooks
            .iter()
            .all(|b| !b.contains("0.0.0.0") && !b.contains("10.1.2.3")),
        "{hooks:?}"
    );
    app.stop().await;
}

/// After the owner vetoed an isolation, the very next alert isolated the
/// host again, automatically.
#[tokio::test]
async fn a_vetoed_host_is_not_reisolated_automatically_within_the_cooldown_on_sqlite() {
    a_vetoed_host_is_not_reisolated_automatically_within_the_cooldown(false).await;
}

#[tokio::test]
async fn a_vetoed_host_is_not_reisolated_automatically_within_the_cooldown_on_postgres() {
    a_vetoed_host_is_not_reisolated_automatically_within_the_cooldown(true).await;
}

async fn a_vetoed_host_is_not_reisolated_automatically_within_the_cooldown(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    let d = isolation_in(&app, &host_alert("ws-0142", "aid0142", "c-1"), "contained").await;
    assert_eq!(web_act(&app, "dave", d.id, "veto").await.0, 303);
    app.until_state(d.id, "rolled_back").await;
    let again = isolation_in(
        &app,
        &host_alert("ws-0142", "aid0142", "c-2"),
        "pending_approval",
    )
    .await;
    assert_eq!(again.mode, "approval");
    let (_, events) = app
        .engine
        .store
        .get_decision(DecisionId(again.id))
        .await
        .expect("get")
        .expect("decision");
    assert_eq!(
        events[0].data["kind"]["guard"]["guard"], "cooldown",
        "{:?}",
        events[0].data
    );
    assert_eq!(app.vendor.contain_requests("aid0142"), 1);
    // After the cool-down the workstation rule applies again (the test's
    // ingest token lives an hour too: the sender uses a longer one).
    app.clock.advance(Duration::from_secs(3700));
    let claims = cordon::http::auth::new_claims(
        "edr-test",
        chrono::Utc::now(),
        Duration::from_secs(3 * 3600),
        None,
        Some("ingest".into()),
    );
    let token =
        cordon::http::auth::issue_hs256(crate::common::app::INGEST_SECRET, &claims).expect("token");
    let r = app
        .http
        .post(format!("{}/v1/alerts/crowdstrike", app.url))
        .bearer_auth(token)
        .json(&host_alert("ws-0142", "aid0142", "c-3"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    wait("the third isolation runs", 10, async || {
        app.vendor.contain_requests("aid0142") == 2
    })
    .await;
    app.stop().await;
}

/// A GuardDuty finding on `instance` (its private DNS name correlates
/// findings on one instance into one incident).
fn finding(id: &str, kind: &str, severity: f64, remote: Option<&str>) -> serde_json::Value {
    let mut f = serde_json::json!({
        "schemaVersion": "2.0", "accountId": "123456789012", "region": "eu-west-1",
        "id": id, "type": kind,
        "resource": {"resourceType": "Instance", "instanceDetails": {
            "instanceId": "i-0abc123def4567890",
            "networkInterfaces": [{"privateDnsName": "ip-10-30-0-13.eu-west-1.compute.internal", "privateIpAddress": "10.30.0.13"}]}},
        "service": {"serviceName": "guardduty", "archived": false, "count": 1,
                    "eventFirstSeen": "2026-12-05T09:00:00.000Z", "eventLastSeen": "2026-12-05T09:00:00.000Z"},
        "severity": severity, "createdAt": "2026-12-05T09:00:00.000Z", "updatedAt": "2026-12-05T09:00:00.000Z",
        "title": kind, "description": kind
    });
    if let Some(ip) = remote {
        f["service"]["action"] = serde_json::json!({"actionType": "NETWORK_CONNECTION",
            "networkConnectionAction": {"remoteIpDetails": {"ipAddressV4": ip}}});
    }
    f
}

/// A low-severity finding correlated into a high-severity incident was
/// judged at the incident's severity: its attacker address was blocked by
/// the automatic rule meant for medium and above.
#[tokio::test]
async fn correlation_never_raises_an_alert_into_an_automatic_rule_on_sqlite() {
    correlation_never_raises_an_alert_into_an_automatic_rule(false).await;
}

#[tokio::test]
async fn correlation_never_raises_an_alert_into_an_automatic_rule_on_postgres() {
    correlation_never_raises_an_alert_into_an_automatic_rule(true).await;
}

async fn correlation_never_raises_an_alert_into_an_automatic_rule(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    let high = finding("gd-k1", "Backdoor:EC2/C&CActivity.B!DNS", 8.0, None);
    assert_eq!(app.post_alert("guardduty", &high).await.status(), 202);
    wait("the quarantine is proposed", 10, async || {
        !app.decisions().await.is_empty()
    })
    .await;
    let low = finding(
        "gd-k2",
        "UnauthorizedAccess:EC2/SSHBruteForce",
        2.0,
        Some("198.51.100.23"),
    );
    assert_eq!(app.post_alert("guardduty", &low).await.status(), 202);
    wait("the block is proposed", 10, async || {
        app.decisions().await.iter().any(|d| d.action == "block_ip")
    })
    .await;
    let all = app.decisions().await;
    assert_eq!(
        all.iter()
            .map(|d| d.incident_id)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        1,
        "one incident"
    );
    let block = all.iter().find(|d| d.action == "block_ip").expect("block");
    assert_eq!(block.rule.as_deref(), Some("block-ip-low"));
    assert_eq!(block.state, "pending_approval");
    let ctx: serde_json::Value = serde_json::from_str(&block.context).expect("ctx");
    assert_eq!(ctx["severity"], "high", "the incident's, shown");
    assert_eq!(ctx["alert_severity"], "low", "the alert's, judged");
    app.stop().await;
}

/// A protected host is never isolated without a human approval, whatever
/// rule matches it.
#[tokio::test]
async fn a_protected_host_waits_for_a_person_even_under_an_auto_rule() {
    let app = spawn_app(Options::default()).await;
    let dc = cordon::store::Asset {
        hostname: "dc-01".into(),
        tier: Some("workstation".into()),
        attributes: [("crowdstrike_aid".to_owned(), "aid-dc01".to_owned())].into(),
        ..Default::default()
    };
    app.engine
        .store
        .upsert_assets(&[dc], app.clock.now())
        .await
        .expect("import");
    app.vendor.register("dc-01", "aid-dc01");
    let d = isolation_in(
        &app,
        &host_alert("dc-01", "aid-dc01", "p-1"),
        "pending_approval",
    )
    .await;
    assert_eq!(d.mode, "approval");
    // The protected targets' approvers (soc-lead) decide, not the
    // workstation rule's (soc-analyst).
    assert_eq!(web_act(&app, "heidi", d.id, "approve").await.0, 403);
    assert_eq!(web_act(&app, "alice", d.id, "approve").await.0, 303);
    app.until_state(d.id, "contained").await;
    app.stop().await;
}

// --- forward and inverse ------------------------------------------------------

/// The owner vetoed while the vendor was still working on the isolation.
/// The release ran beside the isolation, arrived first, and the vendor
/// contained the host after it: the host stayed isolated while cordon
/// recorded it released.
#[tokio::test]
async fn a_veto_during_a_slow_vendor_call_ends_with_the_host_released_and_recorded_so_on_sqlite() {
    a_veto_during_a_slow_vendor_call_ends_with_the_host_released_and_recorded_so(false).await;
}

#[tokio::test]
async fn a_veto_during_a_slow_vendor_call_ends_with_the_host_released_and_recorded_so_on_postgres()
{
    a_veto_during_a_slow_vendor_call_ends_with_the_host_released_and_recorded_so(true).await;
}

async fn a_veto_during_a_slow_vendor_call_ends_with_the_host_released_and_recorded_so(
    postgres: bool,
) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    *app.vendor.state.slow_contain_ms.lock().unwrap() = 1500;
    let alert = host_alert("ws-0142", "aid0142", "v-1");
    assert_eq!(app.post_alert("crowdstrike", &alert).await.status(), 202);
    app.vendor.wait_for_actions(1, 10).await;
    let d = app.decisions().await.remove(0);
    assert_eq!(decision(&app, d.id).await.0, "executing");
    assert_eq!(web_act(&app, "dave", d.id, "veto").await.0, 303);
    app.until_state(d.id, "rolled_back").await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let order: Vec<String> = app.vendor.actions().into_iter().map(|r| r.query).collect();
    assert_eq!(
        order,
        ["action_name=contain", "action_name=lift_containment"],
        "the release waited for the isolation"
    );
    assert_eq!(
        app.vendor.containments("aid0142"),
        0,
        "the host is released"
    );
    app.stop().await;
}

/// The breaker closes early only for the guard's `reset` roles: a
/// soc-analyst whose own isolations tripped it cannot reopen automation.
#[tokio::test]
async fn only_a_reset_role_closes_the_rate_breaker_early_on_sqlite() {
    only_a_reset_role_closes_the_rate_breaker_early(false).await;
}

#[tokio::test]
async fn only_a_reset_role_closes_the_rate_breaker_early_on_postgres() {
    only_a_reset_role_closes_the_rate_breaker_early(true).await;
}

async fn only_a_reset_role_closes_the_rate_breaker_early(postgres: bool) {
    let (app, _slack) = start_slack_on("", postgres).await;
    workstations(&app, "ws-b", 12).await;
    let body: Vec<serde_json::Value> = (0..11)
        .map(|i| {
            host_alert(
                &format!("ws-b{i:03}"),
                &format!("aid-ws-b{i:03}"),
                &format!("b-{i}"),
            )
        })
        .collect();
    assert_eq!(
        app.post_alert("crowdstrike", &serde_json::json!(body))
            .await
            .status(),
        202
    );
    wait("eleven isolations judged", 30, async || {
        all_decisions(&app).await.len() == 11
    })
    .await;
    let modes =
        |ds: Vec<cordon::store::DecisionRow>| ds.iter().filter(|d| d.mode == "auto").count();
    assert_eq!(modes(all_decisions(&app).await), 10, "the breaker opened");
    let refused = slack_command(&app, "U08HEIDI", TEAM, "reset isolate_host").await;
    assert!(refused.contains("only soc-lead may"), "{refused}");
    let done = slack_command(&app, "U01ALICE", TEAM, "reset isolate_host").await;
    assert!(done.contains("rate guard reset by alice"), "{done}");
    let r = app
        .post_alert("crowdstrike", &host_alert("ws-b011", "aid-ws-b011", "b-11"))
        .await;
    assert_eq!(r.status(), 202);
    wait("the twelfth isolation judged", 30, async || {
        all_decisions(&app).await.len() == 12
    })
    .await;
    assert_eq!(
        modes(all_decisions(&app).await),
        11,
        "automatic again after the reset"
    );
    let audit = app.engine.store.recent_audit(1000).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "guard.reset" && a.actor.contains("alice"))
    );
    app.stop().await;
}

/// An uninventoried host whose alert carries the AgentId of another
/// device: judged as unknown (a person approves), and even then Falcon is
/// asked whose AgentId it is before anything is contained.
#[tokio::test]
async fn an_alerts_agent_id_of_another_device_is_never_acted_on_for_an_unknown_host() {
    let app = spawn_app(Options::default()).await;
    // Falcon knows the CEO's laptop; the inventory does not.
    app.vendor.register("ceo-laptop", "aid-ceo");
    let alert = host_alert("ws-unknown", "aid-ceo", "swap-2");
    assert_eq!(app.post_alert("crowdstrike", &alert).await.status(), 202);
    wait("the isolation is proposed", 10, async || {
        !all_decisions(&app).await.is_empty()
    })
    .await;
    let d = all_decisions(&app).await.remove(0);
    assert_eq!(d.state, "pending_approval");
    assert_eq!(web_act(&app, "alice", d.id, "approve").await.0, 303);
    app.until_state(d.id, "failed").await;
    assert_eq!(
        app.vendor.contain_requests("aid-ceo"),
        0,
        "the laptop was not touched"
    );
    let l = app.engine.load(DecisionId(d.id)).await.expect("load");
    let error = l.decision.last_error.unwrap_or_default();
    assert!(error.contains("is the device \"ceo-laptop\""), "{error}");
    app.stop().await;
}
