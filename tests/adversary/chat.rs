//! The chat surfaces under attack: alert text that tries to ping a channel
//! or plant a fake button, an incident too big for one message, people
//! outside the matrix asking what cordon watches, and clicks from another
//! Slack workspace. Everything goes through real HTTP: alerts with the
//! ingest token, clicks and slash commands signed exactly as Slack
//! (HMAC-SHA256) and Discord (Ed25519) sign them, and fake Slack and
//! Discord APIs that record every request and refuse what the real ones
//! refuse.

use crate::common::app::{
    DISCORD_APP, DISCORD_GUILD, Options, TestApp, crowdstrike_alert, spawn_app,
};
use crate::common::chat::{approvals, crown_jewel_decision};
use crate::common::fake_discord::{Call as DiscordCall, FakeDiscord};
use crate::common::fake_slack::{Call, FakeSlack, TEAM};
use cordon::clock::Clock;
use ed25519_dalek::{Signer, SigningKey};

const SLACK_SECRET: &str = "adversary-slack-signing-secret";

/// Everything goes to one triage channel on both platforms.
const TRIAGE: &str = "700000000000000001";
const SOC_LEAD_ROLE: &str = "112233445566778899";
const ALICE_DISCORD: &str = "301234567890123456";
/// A Discord member who is no person of the matrix.
const STRANGER_DISCORD: &str = "301234567890129999";

fn slack_config(extra: &str) -> String {
    format!(
        r#"
[slack]
pacing = "1ms"
group_miss_refresh = "1ms"
{extra}
[routing]
default = "triage"
triage = {{ slack = "C0TRIAGE", discord = "{TRIAGE}" }}
[discord]
pacing = "1ms"
"#
    )
}

pub(crate) async fn start_slack(extra: &str) -> (TestApp, FakeSlack) {
    start_slack_on(extra, false).await
}

/// [`start_slack`] on PostgreSQL (`postgres`) or SQLite.
pub(crate) async fn start_slack_on(extra: &str, postgres: bool) -> (TestApp, FakeSlack) {
    let slack = FakeSlack::start().await;
    let app = spawn_app(Options {
        slack_api_url: Some(slack.api_url()),
        slack_signing_secret: Some(SLACK_SECRET.into()),
        extra_config: slack_config(extra),
        postgres,
        ..Default::default()
    })
    .await;
    (app, slack)
}

fn discord_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

async fn start_discord() -> (TestApp, FakeDiscord) {
    let discord = FakeDiscord::start().await;
    let app = spawn_app(Options {
        discord_api_url: Some(discord.url.clone()),
        discord_public_key: Some(hex::encode(discord_key().verifying_key().to_bytes())),
        extra_config: slack_config(""),
        ..Default::default()
    })
    .await;
    (app, discord)
}

// --- signed requests ----------------------------------------------------

/// POSTs a form to a Slack endpoint, signed as Slack signs it.
pub(crate) async fn slack_post(app: &TestApp, path: &str, body: String) -> reqwest::Response {
    let ts = app.clock.now().timestamp().to_string();
    let sig = cordon::chat::slack::verify::sign(SLACK_SECRET, &ts, body.as_bytes());
    app.http
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await
        .expect("post")
}

/// A `block_actions` click on `button` by `user`, naming `team` as the
/// user's workspace and `payload_team` as the payload's.
pub(crate) fn slack_click(
    slack: &FakeSlack,
    user: &str,
    team: &str,
    payload_team: &str,
    button: &str,
    n: u32,
) -> String {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "team_id": team},
        "team": {"id": payload_team, "domain": "somewhere"},
        "channel": {"id": "C0TRIAGE", "name": "triage"},
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0TRIAGE"},
        "trigger_id": format!("trigger-{n}"),
        "response_url": slack.response_url(&format!("{user}-{n}")),
        "actions": [{"type": "button", "action_id": button, "block_id": "b", "value": button,
                     "action_ts": format!("1700000000.{n:06}")}]
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form")
}

/// `/cordon <text>` by `user` of `team`; returns the private answer.
pub(crate) async fn slack_command(app: &TestApp, user: &str, team: &str, text: &str) -> String {
    let body = serde_urlencoded::to_string([
        ("command", "/cordon"),
        ("text", text),
        ("user_id", user),
        ("team_id", team),
        ("channel_id", "C0TRIAGE"),
    ])
    .expect("form");
    let r = slack_post(app, "/slack/commands", body).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["response_type"], "ephemeral", "{v}");
    v["text"].as_str().unwrap_or_default().to_owned()
}

/// Sends a signed Discord interaction; returns the JSON answer.
async fn discord_interact(app: &TestApp, i: &serde_json::Value) -> serde_json::Value {
    let body = i.to_string();
    let ts = app.clock.now().timestamp().to_string();
    let sig = hex::encode(
        discord_key()
            .sign(&[ts.as_bytes(), body.as_bytes()].concat())
            .to_bytes(),
    );
    let r = app
        .http
        .post(format!("{}/discord/interactions", app.url))
        .header("content-type", "application/json")
        .header("x-signature-ed25519", sig)
        .header("x-signature-timestamp", ts)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

/// `/cordon <sub> [options]` by a Discord member.
fn discord_slash(user: &str, sub: &str, options: &[(&str, &str)], n: u32) -> serde_json::Value {
    let opts: Vec<serde_json::Value> = options
        .iter()
        .map(|(k, v)| serde_json::json!({"name": k, "type": 3, "value": v}))
        .collect();
    serde_json::json!({
        "id": format!("{}", 930_000_000_000_000_000u64 + u64::from(n)),
        "application_id": DISCORD_APP, "type": 2, "version": 1,
        "token": format!("tok-a{n}"), "guild_id": DISCORD_GUILD, "channel_id": TRIAGE,
        "member": {"user": {"id": user, "username": format!("u{user}"), "discriminator": "0"},
                   "roles": [], "joined_at": "2026-01-01T00:00:00Z", "deaf": false, "mute": false},
        "data": {"id": "1", "name": "cordon", "type": 1,
                 "options": [{"name": sub, "type": 1, "options": opts}]}
    })
}

fn ephemeral_text(answer: &serde_json::Value) -> String {
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "not private: {answer}");
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A CrowdStrike ransomware detection on `host` that names no user, so
/// that its only decision is the isolation and its incident stays open
/// (and listed by `/cordon status`) while that waits for approval.
fn host_alert(host: &str, id: &str) -> serde_json::Value {
    let mut a = crowdstrike_alert(host, &format!("aid-{id}"), 90, id);
    if let Some(e) = a["event"].as_object_mut() {
        e.remove("UserName");
    }
    a
}

/// A crown-jewel detection whose user name (and title) carry `hostile`.
/// A host name with markup is no host name: cordon never proposes an
/// action on it (tests/adversary/authority.rs), so the hostile text reaches
/// the decision's section through the evidence the crown-jewel rule shows
/// (`alert.observables`), and the message through the title.
fn hostile_alert(hostile: &str, id: &str) -> serde_json::Value {
    let mut a = crowdstrike_alert("fs-prod-02", "aid-fs02", 90, id);
    a["event"]["UserName"] = serde_json::json!(hostile);
    a
}

/// Posts [`host_alert`] and waits for its isolation to wait for approval.
async fn pending_isolation(app: &TestApp, alert: &serde_json::Value) -> cordon::store::DecisionRow {
    assert_eq!(app.post_alert("crowdstrike", alert).await.status(), 202);
    app.eventually("the isolation is proposed", || async {
        app.decisions()
            .await
            .iter()
            .any(|d| d.action == "isolate_host" && d.state == "pending_approval")
    })
    .await;
    app.decisions()
        .await
        .into_iter()
        .find(|d| d.action == "isolate_host")
        .expect("isolation")
}

// --- what a message says ------------------------------------------------

/// Every Slack text object in `v` (blocks, views) with its type, and a
/// message's own `text` as type `text`.
fn slack_texts(v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(o) => {
            match (o.get("type").and_then(|t| t.as_str()), o.get("text")) {
                (Some(kind @ ("mrkdwn" | "plain_text")), Some(serde_json::Value::String(t))) => {
                    out.push((kind.to_owned(), t.clone()));
                }
                (_, Some(serde_json::Value::String(t))) => out.push(("text".into(), t.clone())),
                _ => {}
            }
            o.values().for_each(|v| slack_texts(v, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| slack_texts(v, out)),
        _ => {}
    }
}

/// Every text a recorded Slack call carries (blocks may arrive as JSON text).
fn texts_of_call(c: &Call) -> Vec<(String, String)> {
    let mut body = c.body.clone();
    for k in ["blocks", "view"] {
        if let Some(s) = body[k].as_str() {
            body[k] = serde_json::from_str(s).unwrap_or_default();
        }
    }
    let mut out = Vec::new();
    slack_texts(&body, &mut out);
    out
}

/// True when `text` names decision `id` (`dec-4`, not `dec-42`).
fn names_decision(text: &str, id: i64) -> bool {
    let r = format!("dec-{id}");
    text.match_indices(&r).any(|(at, _)| {
        !text[at + r.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Main-message posts and updates Slack accepted.
fn slack_mains(calls: &[Call]) -> Vec<&Call> {
    calls
        .iter()
        .filter(|c| c.ok && c.status == 200)
        .filter(|c| {
            c.method == "chat.update"
                || (c.method == "chat.postMessage" && c.body["thread_ts"].is_null())
        })
        .collect()
}

// --- 1. alert text cannot ping, link or break out -----------------------

/// An alert from an EDR whose host name (and title) carry Slack markup and
/// a backtick, as an attacker who names a machine would send them.
const SLACK_HOST: &str = "ws-1<!channel>`x";

#[tokio::test]
async fn a_host_name_carrying_channel_and_a_backtick_arrives_escaped_in_every_slack_block() {
    let (app, slack) = start_slack("").await;
    let mut alert = hostile_alert(SLACK_HOST, "det-hostile-1");
    alert["event"]["Name"] = serde_json::json!(format!(
        "Ransomware detected on {SLACK_HOST} <https://evil.example|Approve here>"
    ));
    let d = pending_isolation(&app, &alert).await;
    assert_eq!(d.target_value, "fs-prod-02");
    let deny = format!("deny:dec-{}", d.id);
    // The main message with its buttons, and the thread reply saying the
    // isolation was proposed.
    slack
        .wait_for("the main message with buttons and the thread", |calls| {
            slack_mains(calls)
                .iter()
                .any(|c| c.body.to_string().contains(&deny))
                && calls.iter().any(|c| {
                    c.method == "chat.postMessage"
                        && !c.body["thread_ts"].is_null()
                        && c.body["text"]
                            .as_str()
                            .is_some_and(|t| t.contains("isolate_host fs-prod-02"))
                })
        })
        .await;
    // A private answer that lists the target, and the reason form.
    let status = slack_command(&app, "U02BOB", TEAM, "status").await;
    let r = slack_post(
        &app,
        "/slack/interactions",
        slack_click(&slack, "U01ALICE", TEAM, TEAM, &deny, 1),
    )
    .await;
    assert_eq!(r.status(), 200);
    let calls = slack
        .wait_for("the reason form", |c| {
            c.iter().any(|c| c.method == "views.open")
        })
        .await;

    let escaped = "ws-1&lt;!channel&gt;ˋx";
    let mut seen = std::collections::BTreeSet::new();
    let mut all: Vec<(String, String, String)> = Vec::new();
    for c in &calls {
        for (kind, text) in texts_of_call(c) {
            all.push((c.method.clone(), kind, text));
        }
    }
    all.push(("command".into(), "text".into(), status));
    for (method, kind, text) in &all {
        // A header is plain text: Slack reads no markup there.
        if kind == "plain_text" {
            continue;
        }
        assert!(!text.contains("<!channel>"), "{method}: {text}");
        assert!(!text.contains("<https://evil"), "{method}: {text}");
        if text.contains("ws-1") {
            assert!(text.contains(escaped), "{method} {kind}: {text}");
            assert_eq!(
                text.matches('`').count() % 2,
                0,
                "an open code span in {method}: {text}"
            );
            seen.insert(method.clone());
        }
    }
    // (The reason form shows the action and its validated target only.)
    for place in ["chat.postMessage", "chat.update", "command"] {
        if place == "chat.update" && !calls.iter().any(|c| c.method == "chat.update") {
            continue;
        }
        assert!(
            seen.contains(place),
            "the host never reached {place}: {all:#?}"
        );
    }
    // The decision's own section, where the buttons are.
    let main = slack_mains(&calls)
        .into_iter()
        .rev()
        .find(|c| c.body.to_string().contains(&deny))
        .expect("main message");
    let section = texts_of_call(main)
        .into_iter()
        .find(|(k, t)| k == "mrkdwn" && t.contains(&format!("dec-{}", d.id)))
        .expect("the decision's section");
    assert!(section.1.contains(escaped), "{}", section.1);
    app.stop().await;
}

/// A Discord host name with `@everyone`, a role mention, a masked link and
/// a backtick.
const DISCORD_HOST: &str = "ws-1@everyone<@&424242424242424242>`x";

/// `text` without its code spans (where Discord formats nothing).
fn outside_code(text: &str) -> String {
    text.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// True when `what` occurs in `text` without a backslash before it.
fn unescaped(text: &str, what: &str) -> bool {
    text.match_indices(what)
        .any(|(at, _)| at == 0 || !text[..at].ends_with('\\'))
}

/// Every text a Discord message body carries: content and embed texts.
fn discord_texts(body: &serde_json::Value) -> Vec<String> {
    let mut out = vec![];
    let data = if body["data"].is_object() {
        &body["data"]
    } else {
        body
    };
    out.extend(data["content"].as_str().map(str::to_owned));
    for e in data["embeds"].as_array().into_iter().flatten() {
        for k in ["title", "description"] {
            out.extend(e[k].as_str().map(str::to_owned));
        }
        out.extend(e["footer"]["text"].as_str().map(str::to_owned));
        for f in e["fields"].as_array().into_iter().flatten() {
            out.extend(f["name"].as_str().map(str::to_owned));
            out.extend(f["value"].as_str().map(str::to_owned));
        }
    }
    out
}

/// A message posted or edited (not a thread started on one).
fn is_message(c: &DiscordCall) -> bool {
    let seg: Vec<&str> = c.path.trim_matches('/').split('/').collect();
    matches!(
        (c.method.as_str(), seg.as_slice()),
        ("POST", ["channels", _, "messages"])
            | ("PATCH", ["channels", _, "messages", _])
            | ("PATCH", ["webhooks", _, _, "messages", "@original"])
    )
}

#[tokio::test]
async fn a_host_name_carrying_everyone_and_a_backtick_arrives_escaped_on_discord_and_pings_nobody()
{
    let (app, discord) = start_discord().await;
    let mut alert = hostile_alert(DISCORD_HOST, "det-hostile-2");
    alert["event"]["Name"] = serde_json::json!(format!(
        "Ransomware detected on {DISCORD_HOST} [Approve](https://evil.example)"
    ));
    pending_isolation(&app, &alert).await;
    let calls = discord
        .wait_for("the main message and the thread", |c| {
            c.iter()
                .any(|c| is_message(c) && c.status == 200 && c.body["embeds"].is_array())
                && c.iter().any(|c| {
                    is_message(c)
                        && c.body["content"]
                            .as_str()
                            .is_some_and(|t| t.contains("isolate_host"))
                })
        })
        .await;
    let status = discord_interact(&app, &discord_slash(ALICE_DISCORD, "status", &[], 1)).await;
    assert!(ephemeral_text(&status).contains("ws-1"), "{status}");

    let mut bodies: Vec<(String, serde_json::Value)> = calls
        .iter()
        .filter(|c| is_message(c))
        .map(|c| (format!("{} {}", c.method, c.path), c.body.clone()))
        .collect();
    bodies.push(("interaction response".into(), status.clone()));
    let mut seen = 0;
    for (what, body) in &bodies {
        // Every message says whom it may ping: never everyone, never a
        // role or user because alert text names it.
        let data = if body["data"].is_object() {
            &body["data"]
        } else {
            body
        };
        let m = &data["allowed_mentions"];
        assert!(
            m["parse"].is_array(),
            "{what} sets no allowed_mentions: {body}"
        );
        assert_eq!(m["parse"], serde_json::json!([]), "{what}: {m}");
        for r in m["roles"].as_array().into_iter().flatten() {
            assert_eq!(r, SOC_LEAD_ROLE, "{what} may ping {r}");
        }
        for text in discord_texts(body) {
            assert_eq!(text.matches('`').count() % 2, 0, "{what}: {text}");
            let plain = outside_code(&text);
            assert!(!unescaped(&plain, "@everyone"), "{what}: {text}");
            assert!(!unescaped(&plain, "<@&4242"), "{what}: {text}");
            assert!(!unescaped(&plain, "[Approve]"), "{what}: {text}");
            if text.contains("ws-1") {
                seen += 1;
            }
        }
    }
    assert!(
        seen >= 3,
        "the host name reached too few texts: {bodies:#?}"
    );
    app.stop().await;
}

// --- 2. an incident bigger than a message -------------------------------

/// A generic EDR alert naming five hosts and five users: each gets an
/// isolation, a disable and a session revocation proposed. Every alert
/// shares `fleet-00`, so they all land on one incident.
fn fleet_alert(n: usize) -> serde_json::Value {
    let hosts: Vec<String> = std::iter::once("fleet-00".to_owned())
        .chain((1..5).map(|h| format!("fleet-{:02}", n * 4 + h)))
        .collect();
    let users: Vec<String> = (0..5).map(|u| format!("user-{:02}", n * 5 + u)).collect();
    serde_json::json!({
        "title": "Ransomware spreading across the fleet",
        "severity": "high",
        "id": format!("fleet-{n}"),
        "host": hosts,
        "user": users,
    })
}

/// Posts fleet alerts until the incident holds at least 40 decisions.
async fn forty_decisions(app: &TestApp) -> (i64, Vec<cordon::store::DecisionRow>) {
    for n in 0..3 {
        let r = app.post_alert("generic", &fleet_alert(n)).await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    }
    app.eventually("40 decisions on one incident", || async {
        app.decisions().await.len() >= 40
    })
    .await;
    let ds = app.decisions().await;
    let incident = ds[0].incident_id;
    assert!(ds.iter().all(|d| d.incident_id == incident), "one incident");
    (incident, ds)
}

#[tokio::test]
async fn an_incident_with_40_decisions_still_posts_and_updates_its_slack_message() {
    let (app, slack) = start_slack("").await;
    let (incident, ds) = forty_decisions(&app).await;
    let console = format!("/incidents/{incident}|");
    // The message shows every decision: in full, or on a line of its own
    // after "N more decisions" and the console link.
    let shows_all = |c: &Call| {
        let json = c.body.to_string();
        json.contains(&console) && ds.iter().all(|d| names_decision(&json, d.id))
    };
    let calls = slack
        .wait_for("a main message showing all 40 decisions", |calls| {
            slack_mains(calls).into_iter().any(shows_all)
        })
        .await;
    assert!(
        slack.refused().is_empty(),
        "Slack refused: {:#?}",
        slack.refused()
    );
    let main = slack_mains(&calls)
        .into_iter()
        .rev()
        .find(|c| shows_all(c))
        .expect("main")
        .clone();
    let blocks = main.body["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    // The buttons are there, first for decisions that wait for a person.
    let pending: Vec<i64> = app
        .decisions()
        .await
        .iter()
        .filter(|d| d.state == "pending_approval")
        .map(|d| d.id)
        .collect();
    let buttons: Vec<String> = blocks
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["action_id"].as_str().map(str::to_owned))
        .collect();
    let approve: Vec<i64> = buttons
        .iter()
        .filter_map(|b| b.strip_prefix("approve:dec-"))
        .filter_map(|id| id.parse().ok())
        .collect();
    assert!(approve.len() >= 10, "too few buttons: {buttons:?}");
    assert!(
        approve.iter().all(|id| pending.contains(id)),
        "{approve:?} / {pending:?}"
    );

    // Alice approves one of them; the message is updated, within limits.
    let target = approve[0];
    let r = slack_post(
        &app,
        "/slack/interactions",
        slack_click(
            &slack,
            "U01ALICE",
            TEAM,
            TEAM,
            &format!("approve:dec-{target}"),
            1,
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(approvals(&app, target).await, 1);
    let gone = format!("\"approve:dec-{target}\"");
    slack
        .wait_for("the update without that Approve button", |calls| {
            calls.iter().any(|c| {
                c.method == "chat.update"
                    && c.ok
                    && shows_all(c)
                    && !c.body.to_string().contains(&gone)
            })
        })
        .await;
    assert!(
        slack.refused().is_empty(),
        "Slack refused: {:#?}",
        slack.refused()
    );
    app.stop().await;
}

#[tokio::test]
async fn an_incident_with_40_decisions_stays_within_discords_limits_and_links_the_console() {
    let (app, discord) = start_discord().await;
    let (incident, _) = forty_decisions(&app).await;
    let console = format!("/incidents/{incident}");
    let calls = discord
        .wait_for("a main message linking the console", |c| {
            c.iter().any(|c| {
                is_message(c)
                    && c.status == 200
                    && c.body["embeds"][0]["fields"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f.to_string().contains(&console)))
            })
        })
        .await;
    let refused: Vec<&DiscordCall> = calls.iter().filter(|c| c.status == 400).collect();
    assert!(refused.is_empty(), "Discord refused: {refused:#?}");
    let main = calls
        .iter()
        .rev()
        .find(|c| is_message(c) && c.body["embeds"][0]["fields"].is_array())
        .expect("main");
    let rows = main.body["components"].as_array().expect("rows");
    assert_eq!(rows.len(), 5);
    let pending: Vec<String> = app
        .decisions()
        .await
        .iter()
        .filter(|d| d.state == "pending_approval")
        .map(|d| format!("approve:dec-{}", d.id))
        .collect();
    // Every row of buttons belongs to a decision waiting for approval.
    for r in rows {
        let first = r["components"][0]["custom_id"].as_str().unwrap_or_default();
        assert!(pending.iter().any(|p| p == first), "{first} / {pending:?}");
    }
    let fields = main.body["embeds"][0]["fields"].as_array().expect("fields");
    assert!(fields.len() <= 25);
    let more = fields.last().expect("more").to_string();
    assert!(more.contains("more decisions: http"), "{more}");
    app.stop().await;
}

// --- 3. status and explain answer named people only ---------------------

#[tokio::test]
async fn status_and_explain_answer_named_people_only_on_slack() {
    let (app, _slack) = start_slack("").await;
    let d = pending_isolation(&app, &host_alert("db-prod-01", "det-status")).await;
    let reference = format!("dec-{}", d.id);
    // A workspace member who is no person of the matrix learns nothing.
    let status = slack_command(&app, "U0STRANGER", TEAM, "status").await;
    assert!(status.contains("not a person"), "{status}");
    assert!(
        !status.contains(&reference) && !status.contains("db-prod-01"),
        "{status}"
    );
    let explain = slack_command(&app, "U0STRANGER", TEAM, "explain isolate_host db-prod-01").await;
    assert!(explain.contains("not a person"), "{explain}");
    assert!(!explain.contains("crown-jewels"), "{explain}");
    // Help stays open to anyone.
    let help = slack_command(&app, "U0STRANGER", TEAM, "help").await;
    assert!(help.contains("/cordon status"), "{help}");
    // Named people get their answers.
    let status = slack_command(&app, "U02BOB", TEAM, "status").await;
    assert!(status.contains(&reference), "{status}");
    let explain = slack_command(&app, "U08HEIDI", TEAM, "explain isolate_host db-prod-01").await;
    assert!(explain.contains("crown-jewels"), "{explain}");
    app.stop().await;
}

#[tokio::test]
async fn status_and_explain_answer_named_people_only_on_discord() {
    let (app, _discord) = start_discord().await;
    let d = pending_isolation(&app, &host_alert("db-prod-01", "det-status")).await;
    let reference = format!("dec-{}", d.id);
    let status = ephemeral_text(
        &discord_interact(&app, &discord_slash(STRANGER_DISCORD, "status", &[], 1)).await,
    );
    assert!(status.contains("not a person"), "{status}");
    assert!(!status.contains(&reference), "{status}");
    let explain = ephemeral_text(
        &discord_interact(
            &app,
            &discord_slash(
                STRANGER_DISCORD,
                "explain",
                &[("action", "isolate_host"), ("target", "db-prod-01")],
                2,
            ),
        )
        .await,
    );
    assert!(explain.contains("not a person"), "{explain}");
    assert!(!explain.contains("crown-jewels"), "{explain}");
    let status = ephemeral_text(
        &discord_interact(&app, &discord_slash(ALICE_DISCORD, "status", &[], 3)).await,
    );
    assert!(status.contains(&reference), "{status}");
    app.stop().await;
}

// --- 4. Slack clicks from the bot's own workspace only ------------------

#[tokio::test]
async fn a_correctly_signed_click_naming_another_workspace_is_refused_and_changes_nothing() {
    let (app, slack) = start_slack("").await;
    let d = crown_jewel_decision(&app).await;
    let approve = format!("approve:dec-{}", d.id);
    // Alice's id, cordon's signing secret, another workspace: a second
    // install of the app, or a shared channel reaching another company.
    for (n, (user_team, payload_team)) in [("T0EVIL", "T0EVIL"), ("T0EVIL", TEAM), (TEAM, "T0EVIL")]
        .into_iter()
        .enumerate()
    {
        let r = slack_post(
            &app,
            "/slack/interactions",
            slack_click(
                &slack,
                "U01ALICE",
                user_team,
                payload_team,
                &approve,
                n as u32,
            ),
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    let other = slack_command(&app, "U02BOB", "T0EVIL", "status").await;
    assert!(!other.contains(&format!("dec-{}", d.id)), "{other}");
    // Nothing counted, nothing answered, nothing audited as Alice's.
    assert_eq!(approvals(&app, d.id).await, 0);
    assert_eq!(app.decision_state(d.id).await, "pending_approval");
    assert!(
        !slack.calls().iter().any(|c| c.method == "response_url"),
        "{:#?}",
        slack.calls()
    );
    // The same click from cordon's own workspace counts.
    let r = slack_post(
        &app,
        "/slack/interactions",
        slack_click(&slack, "U01ALICE", TEAM, TEAM, &approve, 9),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(approvals(&app, d.id).await, 1);
    assert!(
        slack.ok_calls("auth.test").iter().all(|c| c.status == 200),
        "cordon asked Slack for its workspace"
    );
    assert!(!slack.ok_calls("auth.test").is_empty());
    app.stop().await;
}

#[tokio::test]
async fn until_auth_test_answers_no_workspace_is_accepted() {
    let slack = FakeSlack::start().await;
    // Slack fails the first three auth.test calls (at start, at once in
    // the background, one second later); the fourth succeeds.
    slack.fail_auth(3);
    let app = spawn_app(Options {
        slack_api_url: Some(slack.api_url()),
        slack_signing_secret: Some(SLACK_SECRET.into()),
        extra_config: slack_config(""),
        ..Default::default()
    })
    .await;
    let d = crown_jewel_decision(&app).await;
    let approve = format!("approve:dec-{}", d.id);
    let r = slack_post(
        &app,
        "/slack/interactions",
        slack_click(&slack, "U01ALICE", TEAM, TEAM, &approve, 1),
    )
    .await;
    assert_eq!(r.status(), 200);
    let said = slack_command(&app, "U02BOB", TEAM, "status").await;
    assert!(!said.contains(&format!("dec-{}", d.id)), "{said}");
    assert_eq!(
        approvals(&app, d.id).await,
        0,
        "accepted before the workspace was known"
    );
    // cordon keeps asking; once Slack answers, its own workspace is served.
    slack
        .wait_for("a successful auth.test", |c| {
            c.iter().any(|c| c.method == "auth.test" && c.ok)
        })
        .await;
    let r = slack_post(
        &app,
        "/slack/interactions",
        slack_click(&slack, "U01ALICE", TEAM, TEAM, &approve, 2),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(approvals(&app, d.id).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_configured_team_id_is_the_only_workspace_served() {
    let (app, slack) = start_slack("team_id = \"T0SECOND\"").await;
    let d = crown_jewel_decision(&app).await;
    let approve = format!("approve:dec-{}", d.id);
    // The token's own workspace (what auth.test would say) is not it.
    let r = slack_post(
        &app,
        "/slack/interactions",
        slack_click(&slack, "U01ALICE", TEAM, TEAM, &approve, 1),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(approvals(&app, d.id).await, 0);
    let r = slack_post(
        &app,
        "/slack/interactions",
        slack_click(&slack, "U01ALICE", "T0SECOND", "T0SECOND", &approve, 2),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(approvals(&app, d.id).await, 1);
    app.stop().await;
}
