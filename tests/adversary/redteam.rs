//! Red team of issue 13's authority model: attacks that still get around the
//! matrix, the canonical target or the guards after the fixes landed. Each
//! test is one attack, through real interfaces (alerts over HTTP with the
//! ingest token, the web console with a signed-in session, the fake vendor
//! recording what reached it), and asserts what a defended cordon does. They
//! fail on the code they were written against; the report that came with
//! them names the line that lets each attack through.

use crate::common::app::{Options, TestApp, spawn_app};
use crate::common::chat::crown_jewel_decision;
use crate::support::{host_alert, wait, web_act};
use cordon::clock::Clock;
use cordon::domain::{DecisionId, IncidentId};
use std::time::Duration;

// --- helpers ------------------------------------------------------------------

async fn state(app: &TestApp, id: i64) -> String {
    app.engine
        .load(DecisionId(id))
        .await
        .expect("load")
        .decision
        .state
        .as_str()
        .to_owned()
}

/// Moves the clock in small steps until decision `id` rests: neither just
/// proposed nor waiting on a vendor call. Returns the state it rests in.
async fn settled(app: &TestApp, id: i64) -> String {
    for _ in 0..150 {
        let s = state(app, id).await;
        if !matches!(s.as_str(), "proposed" | "executing" | "rolling_back") {
            return s;
        }
        app.advance(Duration::from_millis(200)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    state(app, id).await
}

/// The first decision of `action` on `target`, once the pipeline made it.
async fn decision_on(app: &TestApp, action: &str, target: &str) -> cordon::store::DecisionRow {
    let find = async || {
        app.decisions()
            .await
            .into_iter()
            .filter(|d| d.action == action && d.target_value == target)
            .min_by_key(|d| d.id)
    };
    wait(&format!("{action} {target} is proposed"), 10, async || {
        find().await.is_some()
    })
    .await;
    find().await.expect("decision")
}

/// Posts `alert` in `format` and returns the decision of `action` it led to
/// (the newest one), whatever name the target was given in the end.
async fn post_and_decide(
    app: &TestApp,
    format: &str,
    alert: &serde_json::Value,
    action: &str,
) -> cordon::store::DecisionRow {
    let of_action = async || {
        app.decisions()
            .await
            .into_iter()
            .filter(|d| d.action == action)
            .collect::<Vec<_>>()
    };
    let before = of_action().await.len();
    assert_eq!(app.post_alert(format, alert).await.status(), 202);
    wait(&format!("{action} is proposed"), 10, async || {
        of_action().await.len() > before
    })
    .await;
    of_action()
        .await
        .into_iter()
        .max_by_key(|d| d.id)
        .expect("decision")
}

async fn add_assets(app: &TestApp, assets: &[cordon::store::Asset]) {
    app.engine
        .store
        .upsert_assets(assets, app.clock.now())
        .await
        .expect("import");
}

fn asset(host: &str, tier: &str, owners: &[&str], ips: &[&str]) -> cordon::store::Asset {
    cordon::store::Asset {
        hostname: host.into(),
        tier: Some(tier.into()),
        owners: owners.iter().map(|o| (*o).to_owned()).collect(),
        ips: ips.iter().map(|i| (*i).to_owned()).collect(),
        ..Default::default()
    }
}

/// The bodies of the webhook calls (blocks, disables, their inverses).
fn hooks(app: &TestApp) -> Vec<serde_json::Value> {
    app.vendor
        .requests()
        .into_iter()
        .filter(|r| r.path == "/hook")
        .map(|r| serde_json::from_str(&r.body).unwrap_or_default())
        .collect()
}

/// How many webhook calls asked for `action` (on any target).
fn hooked(app: &TestApp, action: &str) -> usize {
    hooks(app).iter().filter(|b| b["action"] == action).count()
}

/// How many webhook calls asked for `action` on `target`.
fn hooked_on(app: &TestApp, action: &str, target: &str) -> usize {
    hooks(app)
        .iter()
        .filter(|b| b["action"] == action && b["target"]["value"] == target)
        .count()
}

/// Wazuh sshd brute force (rule 5712) from `ip` on the bastion.
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

// --- the canonical target -------------------------------------------------------

/// ws-noid is an inventoried workstation whose record has no AID (the
/// connector is meant to look it up by name); ceo-laptop is a crown jewel
/// whose record has none either. A detection naming ws-noid but carrying
/// ceo-laptop's AgentId resolves to ws-noid alone (the AgentId matches no
/// record), is judged as a workstation (auto), and the AgentId then
/// "fills what the inventory lacks" (src/engine/targets.rs, `entry(k)
/// .or_insert(v)`): Falcon contains the CEO's laptop, with nobody asked,
/// while cordon shows and records an isolation of ws-noid.
#[tokio::test]
async fn redteam_an_alerts_agent_id_cannot_redirect_a_workstation_isolation_to_another_device() {
    let app = spawn_app(Options::default()).await;
    add_assets(
        &app,
        &[
            asset("ws-noid", "workstation", &["dave"], &[]),
            asset("ceo-laptop", "crown-jewel", &["carol"], &[]),
        ],
    )
    .await;
    app.vendor.register("ws-noid", "aid-noid");
    app.vendor.register("ceo-laptop", "aid-ceo");
    let r = app
        .post_alert("crowdstrike", &host_alert("ws-noid", "aid-ceo", "swap-1"))
        .await;
    assert_eq!(r.status(), 202);
    let d = decision_on(&app, "isolate_host", "ws-noid").await;
    let rest = settled(&app, d.id).await;
    assert_eq!(
        app.vendor.contain_requests("aid-ceo"),
        0,
        "the CEO's laptop was contained by an isolation of ws-noid (decision {rest}, rule {:?}, mode {})",
        d.rule,
        d.mode
    );
    app.stop().await;
}

// --- subjects of an incident ----------------------------------------------------

/// The attacker on db-prod-01 fails to log in as the SOC leads and the CISO
/// (`su alice`, `ssh bob@…`): the host's logs reach cordon as one more alert
/// on db-prod-01, whose users are the people who must approve its
/// isolation. Correlated into the incident, it makes every one of them a
/// "subject" (src/engine/targets.rs `subjects_of` takes the users of *every*
/// alert of the incident, as the alert wrote them), and nobody may approve
/// or override the containment of the crown jewel any more. User fields are
/// the most attacker-chosen part of an alert.
#[tokio::test]
async fn redteam_a_correlated_alert_naming_the_approvers_does_not_stop_them_containing() {
    let app = spawn_app(Options::default()).await;
    let d = crown_jewel_decision(&app).await;
    let noise = serde_json::json!({
        "id": "failed-logons-1",
        "title": "Multiple failed logons",
        "severity": "low",
        "host": "db-prod-01",
        "user": ["alice", "bob@example.com", "CORP\\carol"]
    });
    assert_eq!(app.post_alert("generic", &noise).await.status(), 202);
    wait("the failed logons join the incident", 10, async || {
        app.engine
            .store
            .incident_users(IncidentId(d.incident_id))
            .await
            .expect("users")
            .iter()
            .any(|u| u == "alice")
    })
    .await;
    let (status, page) = web_act(&app, "alice", d.id, "approve").await;
    assert_eq!(
        status, 303,
        "a soc-lead named by the attacker's alert could not approve: {page}"
    );
    let (status, page) = web_act(&app, "carol", d.id, "approve").await;
    assert_eq!(status, 303, "the CISO could not approve: {page}");
    assert_eq!(state(&app, d.id).await, "pending_veto");
    app.stop().await;
}

/// The same weapon pointed the other way: a forged ransomware alert on the
/// production server app-srv-03 lists as its users the people who may veto
/// its isolation (frank of it-ops; the owners dave and bob). The rule gives
/// them three minutes to stop a mistaken isolation; naming them in the
/// alert is enough to take that away (`subjects_of` again), and the server
/// is cut off with nobody able to say no.
#[tokio::test]
async fn redteam_an_alert_naming_the_veto_holders_does_not_take_their_veto_away() {
    let app = spawn_app(Options::default()).await;
    let forged = serde_json::json!({
        "id": "forged-1",
        "title": "Ransomware detected",
        "severity": "critical",
        "host": "app-srv-03",
        "user": ["frank", "dave", "bob"]
    });
    let d = post_and_decide(&app, "generic", &forged, "isolate_host").await;
    assert_eq!(d.rule.as_deref(), Some("servers-with-owner-veto"));
    app.until_state(d.id, "pending_veto").await;
    let (status, page) = web_act(&app, "frank", d.id, "veto").await;
    assert_eq!(
        status, 303,
        "it-ops, named by the forged alert, could not veto: {page}"
    );
    assert_eq!(state(&app, d.id).await, "vetoed");
    app.advance(Duration::from_secs(181)).await;
    assert_eq!(app.vendor.contain_requests("aid-app03"), 0);
    app.stop().await;
}

/// erin owns ws-erin, her laptop, so the workstation rule's veto role
/// (`asset-owner`, `after_execution_veto = "rollback"`) is hers. The
/// ransomware on it runs as SYSTEM, so the detection names no user and erin
/// is no "subject": the only subjects are the alerts' users and a user
/// target (src/engine/targets.rs `subjects_of`), never the owners of the
/// host. Whoever holds her laptop holds her Slack and console sessions, and
/// hands the laptop back to themselves with one click: the attack of
/// issue 13 ("the user of a compromised laptop can roll back its
/// isolation"), still open whenever the alert does not name her.
///
/// The defence: the inventory records who uses a host (`users`), and they
/// are subjects of its incidents whatever the alert says. (An owner is not
/// barred as such: for a server the owner is the IT owner whose veto the
/// rule wants.)
#[tokio::test]
async fn redteam_the_owner_of_a_compromised_workstation_cannot_roll_back_its_isolation() {
    let app = spawn_app(Options::default()).await;
    let mut laptop = asset("ws-erin", "workstation", &["erin"], &[]);
    laptop
        .attributes
        .insert("crowdstrike_aid".into(), "aid-erin".into());
    laptop.attributes.insert("users".into(), "erin".into());
    add_assets(&app, &[laptop]).await;
    app.vendor.register("ws-erin", "aid-erin");
    let mut alert = host_alert("ws-erin", "aid-erin", "sys-1");
    alert["event"]["UserName"] = serde_json::json!("SYSTEM");
    assert_eq!(app.post_alert("crowdstrike", &alert).await.status(), 202);
    let d = decision_on(&app, "isolate_host", "ws-erin").await;
    app.until_state(d.id, "contained").await;
    for verb in ["veto", "release"] {
        let (status, page) = web_act(&app, "erin", d.id, verb).await;
        assert_eq!(
            status, 403,
            "the laptop's owner could {verb} its isolation: {page}"
        );
    }
    assert_eq!(settled(&app, d.id).await, "contained");
    assert_eq!(app.vendor.actions_named("lift_containment"), 0);
    app.stop().await;
}

// --- undoing containment ----------------------------------------------------------

/// servers-with-owner-veto lets it-ops veto a server isolation during its
/// 3-minute window and, by leaving `after_execution_veto` unset, not after:
/// "once executing, vetoes are refused". But Release is granted to the
/// rule's veto roles as well (src/domain/decision.rs `allowed_roles`,
/// `Verb::Release => union(approvers, override, veto)`), so frank (it-ops
/// only; or any named person who joins the @it-ops Slack group) undoes the
/// containment the rule closed to him, the post-execution veto under
/// another name.
#[tokio::test]
async fn redteam_a_veto_role_cannot_release_what_the_rule_closed_to_vetoes() {
    let app = spawn_app(Options::default()).await;
    assert_eq!(
        app.post_alert(
            "crowdstrike",
            &host_alert("app-srv-03", "aid-app03", "srv-1")
        )
        .await
        .status(),
        202
    );
    let d = decision_on(&app, "isolate_host", "app-srv-03").await;
    assert_eq!(d.rule.as_deref(), Some("servers-with-owner-veto"));
    app.until_state(d.id, "pending_veto").await;
    app.advance(Duration::from_secs(181)).await;
    app.until_state(d.id, "contained").await;
    let (status, page) = web_act(&app, "frank", d.id, "veto").await;
    assert_eq!(
        status, 403,
        "the rule closes vetoes after execution: {page}"
    );
    let (status, page) = web_act(&app, "frank", d.id, "release").await;
    assert_eq!(
        status, 403,
        "it-ops released a server the rule let it veto only before execution: {page}"
    );
    assert_eq!(settled(&app, d.id).await, "contained");
    assert_eq!(app.vendor.actions_named("lift_containment"), 0);
    app.stop().await;
}

// --- removed people -----------------------------------------------------------------

/// bob approves the isolation of the payment ledger, then is removed from
/// soc-lead (he is the insider under suspicion). His approval still counts
/// towards the quorum of two (src/domain/decision.rs `act`, `Verb::Approve`
/// counts `d.approvals` as recorded), so carol's one click reaches the
/// quorum: one person who still holds the role, plus one who no longer does.
/// Removing someone must take effect at once (DESIGN §3), and that includes
/// what they already said.
#[tokio::test]
async fn redteam_an_approval_by_someone_since_removed_does_not_count_on_sqlite() {
    an_approval_by_someone_since_removed_does_not_count(false).await;
}

#[tokio::test]
async fn redteam_an_approval_by_someone_since_removed_does_not_count_on_postgres() {
    an_approval_by_someone_since_removed_does_not_count(true).await;
}

async fn an_approval_by_someone_since_removed_does_not_count(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    let d = crown_jewel_decision(&app).await;
    assert_eq!(web_act(&app, "bob", d.id, "approve").await.0, 303);
    let path = app.dir.path().join("authority.toml");
    let text = std::fs::read_to_string(&path)
        .expect("matrix")
        .replace("members = [\"alice\", \"bob\"]", "members = [\"alice\"]");
    std::fs::write(&path, text).expect("write");
    cordon::app::reload_matrix(&app.engine, &path)
        .await
        .expect("reload");
    assert_eq!(web_act(&app, "carol", d.id, "approve").await.0, 303);
    assert_eq!(
        state(&app, d.id).await,
        "pending_approval",
        "carol and a removed soc-lead made the quorum of two"
    );
    assert_eq!(web_act(&app, "alice", d.id, "approve").await.0, 303);
    assert_eq!(state(&app, d.id).await, "pending_veto");
    app.stop().await;
}

// --- guards ---------------------------------------------------------------------------

/// vpn-gw-01 is protected (`hosts = ["vpn-gw-*"]`, "globs over any name of
/// the target"), and 198.51.100.10 is its public address in the inventory.
/// A brute-force alert naming that address as the attacker has it blocked
/// at the firewall automatically: an `ip` target is never resolved to the
/// inventory record it belongs to (src/engine/targets.rs, "addresses are
/// not inventory records"), so the protected globs and tiers only ever see
/// the bare address. One forged alert cuts the company's VPN off.
#[tokio::test]
async fn redteam_blocking_the_address_of_a_protected_host_is_never_automatic() {
    let app = spawn_app(Options::default()).await;
    add_assets(
        &app,
        &[asset("vpn-gw-01", "server", &["frank"], &["198.51.100.10"])],
    )
    .await;
    let alert = brute_force("198.51.100.10", "vpn-1");
    let d = post_and_decide(&app, "wazuh", &alert, "block_ip").await;
    let rest = settled(&app, d.id).await;
    assert_eq!(
        hooked(&app, "block_ip"),
        0,
        "the VPN gateway's address was blocked automatically ({rest}, mode {})",
        d.mode
    );
    assert_eq!(rest, "pending_approval");
    app.stop().await;
}

/// it-ops vetoed the automatic block of 203.0.113.9 (a partner, not an
/// attacker) and it was rolled back; the cool-down is meant to keep the
/// next alert from blocking it automatically for an hour. The next alert
/// spells the address `203.0.113.9/32`, then names the `/24` around it:
/// the cool-down looks the target up by its exact text
/// (src/store/guards.rs `last_stop`, `d.target_value = $1`; a plain address
/// is kept as written and a network canonicalised, src/engine/targets.rs),
/// so both are blocked automatically again.
#[tokio::test]
async fn redteam_a_vetoed_address_is_not_blocked_again_under_another_spelling_on_sqlite() {
    a_vetoed_address_is_not_blocked_again_under_another_spelling(false).await;
}

#[tokio::test]
async fn redteam_a_vetoed_address_is_not_blocked_again_under_another_spelling_on_postgres() {
    a_vetoed_address_is_not_blocked_again_under_another_spelling(true).await;
}

async fn a_vetoed_address_is_not_blocked_again_under_another_spelling(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    let first = post_and_decide(
        &app,
        "wazuh",
        &brute_force("203.0.113.9", "p-1"),
        "block_ip",
    )
    .await;
    assert_eq!(settled(&app, first.id).await, "contained");
    assert_eq!(web_act(&app, "frank", first.id, "veto").await.0, 303);
    assert_eq!(settled(&app, first.id).await, "rolled_back");
    assert_eq!(hooked(&app, "block_ip"), 1);
    for (n, spelling) in ["203.0.113.9/32", "203.0.113.0/24"].into_iter().enumerate() {
        let alert = brute_force(spelling, &format!("p-{}", n + 2));
        let again = post_and_decide(&app, "wazuh", &alert, "block_ip").await;
        let rest = settled(&app, again.id).await;
        assert_eq!(
            hooked(&app, "block_ip"),
            1,
            "{spelling} blocked automatically within the cool-down of 203.0.113.9 ({rest}, mode {})",
            again.mode
        );
    }
    app.stop().await;
}

/// alice is a soc-lead; in the directory she is an unprivileged user. An
/// "impossible travel" alert about her (forged with an ingest token, or
/// provoked by signing in as her from two countries) disables her account
/// and revokes her sessions automatically: nothing keeps automation off the
/// people who hold cordon's authority (the example's `[guards.protected]
/// users` name the CEO and break-glass accounts only, and the guards know
/// nothing of `[people]`). Five such alerts in ten minutes lock out the
/// responders at the moment they are needed.
#[tokio::test]
async fn redteam_an_alert_cannot_automatically_lock_out_a_person_of_the_matrix() {
    let app = spawn_app(Options::default()).await;
    let alert = serde_json::json!({
        "id": "travel-1",
        "title": "Impossible travel sign-in",
        "severity": "high",
        "user": "alice@example.com",
        "src_ip": "198.51.100.77"
    });
    assert_eq!(app.post_alert("generic", &alert).await.status(), 202);
    for action in ["disable_user", "revoke_sessions"] {
        let d = decision_on(&app, action, "alice").await;
        let rest = settled(&app, d.id).await;
        assert_eq!(
            hooked_on(&app, action, "alice"),
            0,
            "{action} of a soc-lead ran automatically ({rest}, rule {:?}, mode {})",
            d.rule,
            d.mode
        );
        assert_eq!(rest, "pending_approval");
    }
    app.stop().await;
}

/// A team makes workstation isolation "approval, silence is consent"
/// (`on_timeout = "execute"`, a documented mode for cheap-to-undo actions).
/// The rate guard is meant to make a storm of forged alerts isolate ten
/// hosts, not thousands; but it counts and stops only `auto` and
/// `veto_window` (src/domain/guards.rs `check`: "an approval that executes
/// by silence was already seen by people" — nobody saw them; and
/// src/engine/mod.rs `propose` asks the store's rate check only for those
/// modes), so 15 forged alerts isolate 15 workstations five minutes later
/// with nobody having clicked anything.
#[tokio::test]
async fn redteam_silence_as_consent_is_bounded_by_the_rate_guard() {
    let matrix = std::fs::read_to_string(crate::common::app::repo("config/authority.toml"))
        .expect("matrix")
        .replace(
            "mode = \"auto\"\napprovers = [\"soc-analyst\"]        # in auto mode: may retry a failed isolation",
            "mode = \"approval\"\ntimeout = \"5m\"\non_timeout = \"execute\"\napprovers = [\"soc-analyst\"]",
        );
    assert!(
        matrix.contains("on_timeout = \"execute\""),
        "the rule was rewritten"
    );
    let app = spawn_app(Options {
        matrix: Some(matrix),
        ..Default::default()
    })
    .await;
    let hosts: Vec<cordon::store::Asset> = (0..15)
        .map(|i| {
            let mut a = asset(&format!("ws-s{i:02}"), "workstation", &["dave"], &[]);
            a.attributes
                .insert("crowdstrike_aid".into(), format!("aid-s{i:02}"));
            a
        })
        .collect();
    add_assets(&app, &hosts).await;
    for i in 0..15 {
        app.vendor
            .register(&format!("ws-s{i:02}"), &format!("aid-s{i:02}"));
    }
    let storm: Vec<serde_json::Value> = (0..15)
        .map(|i| {
            host_alert(
                &format!("ws-s{i:02}"),
                &format!("aid-s{i:02}"),
                &format!("st-{i}"),
            )
        })
        .collect();
    assert_eq!(
        app.post_alert("crowdstrike", &serde_json::json!(storm))
            .await
            .status(),
        202
    );
    wait("15 isolations are judged", 20, async || {
        app.decisions()
            .await
            .iter()
            .filter(|d| d.action == "isolate_host")
            .count()
            == 15
    })
    .await;
    app.advance(Duration::from_secs(301)).await;
    for d in app.decisions().await {
        settled(&app, d.id).await;
    }
    let contained = app.vendor.actions_named("contain");
    assert!(
        contained <= 10,
        "{contained} workstations isolated by silence; the isolate_host rate guard allows 10 in 10m"
    );
    app.stop().await;
}
