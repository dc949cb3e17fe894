//! Discord end to end: a real cordon, a fake Discord REST API that records
//! every call, and interactions signed exactly as Discord signs them
//! (Ed25519 over `timestamp ++ body`, with a test key). The clock is
//! manual: veto windows pass with `app.advance`, and requests are signed
//! with its time.

mod common;

use common::app::{DISCORD_GUILD, Options, TestApp, spawn_app};
use common::chat::{approvals, crown_jewel_decision};
use common::fake_discord::{Call, FakeDiscord};
use cordon::clock::Clock;
use cordon::domain::{Actor, DecisionId, Platform};
use ed25519_dalek::{Signer, SigningKey};
use std::time::Duration;

const ALICE: &str = "301234567890123456"; // soc-lead (slack U01ALICE)
const CAROL: &str = "301234567890123999"; // ciso
const GRACE: &str = "301234567890124444"; // no role for db-prod-01
const SOC_LEAD_ROLE: &str = "112233445566778899";
const TRIAGE: &str = "700000000000000001";
const CATEGORY: &str = "710000000000000001";

/// Production assets get their own channel (in the incidents category);
/// everything else goes to the triage channel.
fn config() -> String {
    format!(
        r#"
[discord]
pacing = "1ms"
category_id = "{CATEGORY}"
[routing]
default = "triage"
triage = {{ discord = "{TRIAGE}" }}
[[routing.routes]]
environments = ["prod"]
destination = "incident_channel"
"#
    )
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

async fn start() -> (TestApp, FakeDiscord) {
    start_on(false).await
}

async fn start_on(postgres: bool) -> (TestApp, FakeDiscord) {
    let discord = FakeDiscord::start().await;
    let app = spawn_app(Options {
        discord_api_url: Some(discord.url.clone()),
        discord_public_key: Some(hex::encode(key().verifying_key().to_bytes())),
        extra_config: config(),
        postgres,
        ..Default::default()
    })
    .await;
    (app, discord)
}

/// POSTs a body to /discord/interactions signed with `key` at `ts`.
async fn post_signed(app: &TestApp, body: &str, ts: i64, key: &SigningKey) -> reqwest::Response {
    let ts = ts.to_string();
    let sig = hex::encode(
        key.sign(&[ts.as_bytes(), body.as_bytes()].concat())
            .to_bytes(),
    );
    app.http
        .post(format!("{}/discord/interactions", app.url))
        .header("content-type", "application/json")
        .header("x-signature-ed25519", sig)
        .header("x-signature-timestamp", ts)
        .body(body.to_owned())
        .send()
        .await
        .expect("post")
}

/// Sends a signed interaction now; returns status and JSON answer.
async fn interact(app: &TestApp, i: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = post_signed(app, &i.to_string(), app.clock.now().timestamp(), &key()).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

fn member(user: &str, roles: &[&str]) -> serde_json::Value {
    serde_json::json!({"user": {"id": user, "username": format!("u{user}"), "discriminator": "0"},
                       "roles": roles, "joined_at": "2026-01-01T00:00:00Z", "deaf": false, "mute": false})
}

/// A button click (type 3) by `user` holding `roles`.
fn click(user: &str, roles: &[&str], custom_id: &str, n: u32) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{}", 900_000_000_000_000_000u64 + u64::from(n)),
        "application_id": common::app::DISCORD_APP, "type": 3, "version": 1,
        "token": format!("tok-{n}"), "guild_id": DISCORD_GUILD, "channel_id": "1",
        "member": member(user, roles),
        "message": {"id": "2", "channel_id": "1"},
        "data": {"custom_id": custom_id, "component_type": 2}
    })
}

/// A reason modal submit (type 5).
fn submit(user: &str, roles: &[&str], custom_id: &str, reason: &str, n: u32) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{}", 910_000_000_000_000_000u64 + u64::from(n)),
        "application_id": common::app::DISCORD_APP, "type": 5, "version": 1,
        "token": format!("tok-m{n}"), "guild_id": DISCORD_GUILD, "channel_id": "1",
        "member": member(user, roles),
        "data": {"custom_id": custom_id, "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "reason", "value": reason}]}]}
    })
}

/// `/cordon <sub> [options]` (type 2).
fn slash(user: &str, sub: &str, options: &[(&str, &str)], n: u32) -> serde_json::Value {
    let opts: Vec<serde_json::Value> = options
        .iter()
        .map(|(k, v)| serde_json::json!({"name": k, "type": 3, "value": v}))
        .collect();
    serde_json::json!({
        "id": format!("{}", 920_000_000_000_000_000u64 + u64::from(n)),
        "application_id": common::app::DISCORD_APP, "type": 2, "version": 1,
        "token": format!("tok-c{n}"), "guild_id": DISCORD_GUILD, "channel_id": "1",
        "member": member(user, &[]),
        "data": {"id": "1", "name": "cordon", "type": 1,
                 "options": [{"name": sub, "type": 1, "options": opts}]}
    })
}

fn ephemeral_text(answer: &serde_json::Value) -> String {
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "not ephemeral: {answer}");
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn has_embed(c: &Call) -> bool {
    c.body["embeds"].as_array().is_some_and(|e| !e.is_empty())
}

/// A post without an embed: a thread message.
fn is_plain_post(c: &Call) -> bool {
    c.method == "POST"
        && c.path.ends_with("/messages")
        && c.body["embeds"].as_array().is_none_or(|e| e.is_empty())
}

/// The incident's main message post, once made.
async fn main_post(discord: &FakeDiscord) -> (Vec<Call>, String) {
    let calls = discord
        .wait_for("the main message", |c| {
            c.iter()
                .any(|c| c.method == "POST" && has_embed(c) && c.status == 200)
        })
        .await;
    let created = calls
        .iter()
        .find(|c| c.path == format!("/guilds/{DISCORD_GUILD}/channels"))
        .unwrap_or_else(|| panic!("incident channel created: {calls:#?}"));
    let channel_post = calls
        .iter()
        .find(|c| c.method == "POST" && has_embed(c))
        .expect("main post");
    let channel = channel_post
        .path
        .trim_start_matches("/channels/")
        .trim_end_matches("/messages")
        .to_owned();
    assert_ne!(channel, TRIAGE, "a prod incident gets its own channel");
    assert_eq!(created.body["parent_id"], CATEGORY, "{:#?}", created.body);
    (calls, channel)
}

#[tokio::test]
async fn quorum_across_slack_and_discord_executes_and_the_message_shows_time_to_contain() {
    quorum_flow(false).await;
}

#[tokio::test]
async fn quorum_across_slack_and_discord_on_postgres() {
    quorum_flow(true).await;
}

async fn quorum_flow(postgres: bool) {
    let (app, discord) = start_on(postgres).await;
    let d = crown_jewel_decision(&app).await;
    let (calls, channel) = main_post(&discord).await;

    // The main message: severity colour, live timestamps, an Approve and a
    // Deny button, the approver roles mentioned (role for soc-lead, the
    // CISO in person since that role has no Discord role).
    let post = calls
        .iter()
        .find(|c| c.is_post_to(&channel))
        .expect("main post");
    assert!(
        post.authorization.starts_with("Bot "),
        "{}",
        post.authorization
    );
    let embed = &post.body["embeds"][0];
    assert_eq!(embed["color"], 0xC0392B, "critical is red: {embed}");
    assert!(
        embed["description"]
            .as_str()
            .is_some_and(|s| s.contains(":R>")),
        "{embed}"
    );
    assert!(
        embed["description"]
            .as_str()
            .is_some_and(|s| s.contains("db-prod-01"))
    );
    let buttons: Vec<&str> = post.body["components"][0]["components"]
        .as_array()
        .expect("buttons")
        .iter()
        .filter_map(|b| b["custom_id"].as_str())
        .collect();
    assert_eq!(
        buttons,
        [
            format!("approve:dec-{}", d.id),
            format!("deny:dec-{}", d.id),
            // crown-jewels lets the asset owner veto while approval is pending
            format!("veto:dec-{}", d.id)
        ]
    );
    let content = post.body["content"].as_str().unwrap_or_default();
    assert!(
        content.contains(&format!("<@&{SOC_LEAD_ROLE}>")),
        "{content}"
    );
    assert!(content.contains(&format!("<@{CAROL}>")), "{content}");
    assert_eq!(post.body["allowed_mentions"]["roles"][0], SOC_LEAD_ROLE);
    assert_eq!(
        post.body["allowed_mentions"]["parse"],
        serde_json::json!([])
    );

    // Bob approves on Slack, Alice on Discord (with her soc-lead role from
    // the interaction): two distinct people, quorum met.
    let bob = Actor {
        platform: Platform::Slack,
        platform_user_id: "U02BOB".into(),
        groups: vec![],
    };
    app.engine
        .act(
            &bob,
            DecisionId(d.id),
            cordon::domain::decision::Verb::Approve,
            None,
        )
        .await
        .expect("bob approves");
    let (status, answer) = interact(
        &app,
        &click(ALICE, &[SOC_LEAD_ROLE], &format!("approve:dec-{}", d.id), 1),
    )
    .await;
    assert_eq!(status, 200);
    let text = ephemeral_text(&answer);
    assert!(text.contains("Recorded"), "{text}");
    assert!(text.contains("2/2"), "{text}");
    // Approved → veto window (2m) → executed → contained.
    app.until_state(d.id, "pending_veto").await;
    app.advance(Duration::from_secs(121)).await;
    app.until_state(d.id, "contained").await;

    // The main message is edited in place with the time to contain; the
    // thread got the decision events.
    let calls = discord
        .wait_for("the main message edited with the time to contain", |c| {
            c.iter().any(|c| {
                c.method == "PATCH"
                    && c.path
                        .starts_with(&format!("/channels/{channel}/messages/"))
                    && c.body["embeds"][0]["fields"][0]["value"]
                        .as_str()
                        .is_some_and(|v| v.contains("time to contain"))
            })
        })
        .await;
    let edit = calls
        .iter()
        .rev()
        .find(|c| c.method == "PATCH" && c.path.starts_with(&format!("/channels/{channel}/")))
        .expect("edit");
    let ids = edit.body["components"].to_string();
    assert!(
        !ids.contains("approve:") && !ids.contains("deny:"),
        "no Approve/Deny once contained: {ids}"
    );
    assert!(ids.contains(&format!("release:dec-{}", d.id)), "{ids}");
    assert!(
        edit.body["embeds"][0]["footer"]["text"]
            .as_str()
            .is_some_and(|f| f.contains("time to contain")),
        "{:#?}",
        edit.body
    );
    let thread = calls
        .iter()
        .find(|c| c.path.ends_with("/threads"))
        .expect("a thread on the main message");
    assert!(
        thread
            .path
            .starts_with(&format!("/channels/{channel}/messages/"))
    );
    // The pre-authorised decisions of the same incident are contained first;
    // wait for this decision's own containment, the last of its events.
    let prefix = format!("dec-{} ", d.id);
    let calls = discord
        .wait_for("the contained event in the thread", |c| {
            c.iter().any(|c| {
                c.body["content"].as_str().is_some_and(|s| {
                    s.starts_with(&prefix) && s.contains("contained") && s.contains("✅")
                })
            })
        })
        .await;
    let thread_posts: Vec<String> = calls
        .iter()
        .filter(|c| is_plain_post(c))
        .filter_map(|c| c.body["content"].as_str().map(str::to_owned))
        .collect();
    assert!(
        thread_posts
            .iter()
            .any(|t| t.contains(&format!("approved by <@{ALICE}>"))),
        "{thread_posts:#?}"
    );
    assert!(
        thread_posts
            .iter()
            .any(|t| t.contains("approved by bob (slack)")),
        "{thread_posts:#?}"
    );
    assert!(
        thread_posts.iter().any(
            |t| t.contains("approval requested") && t.contains(&format!("<@&{SOC_LEAD_ROLE}>"))
        ),
        "the approvers are mentioned when asked: {thread_posts:#?}"
    );
    // Nothing was posted twice.
    let mut seen = thread_posts.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), thread_posts.len(), "{thread_posts:#?}");
    app.stop().await;
}

#[tokio::test]
async fn the_same_person_approving_on_slack_and_discord_counts_once() {
    let (app, _discord) = start().await;
    let d = crown_jewel_decision(&app).await;
    let alice_on_slack = Actor {
        platform: Platform::Slack,
        platform_user_id: "U01ALICE".into(),
        groups: vec![],
    };
    app.engine
        .act(
            &alice_on_slack,
            DecisionId(d.id),
            cordon::domain::decision::Verb::Approve,
            None,
        )
        .await
        .expect("alice approves on slack");
    let (status, answer) = interact(
        &app,
        &click(ALICE, &[SOC_LEAD_ROLE], &format!("approve:dec-{}", d.id), 1),
    )
    .await;
    assert_eq!(status, 200);
    let text = ephemeral_text(&answer);
    assert!(text.contains("already counted"), "{text}");
    assert_eq!(approvals(&app, d.id).await, 1);
    assert_eq!(app.decision_state(d.id).await, "pending_approval");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_signature_or_a_stale_timestamp_gets_401_and_changes_nothing() {
    let (app, _discord) = start().await;
    let d = crown_jewel_decision(&app).await;
    let audit_before = app.engine.store.audit_chain().await.expect("audit").len();
    let body = click(ALICE, &[SOC_LEAD_ROLE], &format!("approve:dec-{}", d.id), 1).to_string();
    let now = app.clock.now().timestamp();
    // Another key.
    let r = post_signed(&app, &body, now, &SigningKey::from_bytes(&[1u8; 32])).await;
    assert_eq!(r.status(), 401);
    // The right key, but the body was changed after signing.
    let ts = now.to_string();
    let sig = hex::encode(
        key()
            .sign(&[ts.as_bytes(), body.as_bytes()].concat())
            .to_bytes(),
    );
    let tampered = body.replace(ALICE, CAROL);
    let r = app
        .http
        .post(format!("{}/discord/interactions", app.url))
        .header("x-signature-ed25519", &sig)
        .header("x-signature-timestamp", &ts)
        .body(tampered)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    // Unsigned.
    let r = app
        .http
        .post(format!("{}/discord/interactions", app.url))
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    // Correctly signed, six minutes old.
    let r = post_signed(&app, &body, now - 360, &key()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(approvals(&app, d.id).await, 0);
    assert_eq!(app.decision_state(d.id).await, "pending_approval");
    let audit = app.engine.store.audit_chain().await.expect("audit");
    assert!(
        !audit[audit_before..]
            .iter()
            .any(|a| a.entry.actor.contains("discord:")),
        "{audit:#?}"
    );
    // The same request, fresh and signed, goes through once; a replay is refused.
    let r = post_signed(&app, &body, now, &key()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(approvals(&app, d.id).await, 1);
    let r = post_signed(&app, &body, now, &key()).await;
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_ping_gets_a_pong() {
    let (app, _discord) = start().await;
    let ping = serde_json::json!({"id": "1", "application_id": common::app::DISCORD_APP, "type": 1, "token": "t", "version": 1});
    let r = post_signed(&app, &ping.to_string(), app.clock.now().timestamp(), &key()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json"),
        serde_json::json!({"type": 1})
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unauthorised_click_gets_an_ephemeral_refusal_and_an_audit_entry() {
    let (app, _discord) = start().await;
    let d = crown_jewel_decision(&app).await;
    // Grace is in the matrix but holds no approver role; a role id that is
    // not soc-lead's does not help her.
    let (status, answer) = interact(
        &app,
        &click(GRACE, &["123"], &format!("approve:dec-{}", d.id), 1),
    )
    .await;
    assert_eq!(status, 200);
    let text = ephemeral_text(&answer);
    assert!(text.contains("You may not approve"), "{text}");
    assert!(text.contains("crown-jewels"), "names the rule: {text}");
    assert!(text.contains("soc-lead"), "names the roles: {text}");
    assert_eq!(approvals(&app, d.id).await, 0);
    let audit = app.engine.store.audit_chain().await.expect("audit");
    assert!(
        audit.iter().any(|a| a.entry.action == "refused.approve"
            && a.entry.actor.contains(&format!("discord:{GRACE}"))
            && a.entry.subject == format!("dec-{}", d.id)),
        "{audit:#?}"
    );
    // Someone who may not deny is refused at once, without a reason form.
    let (_, answer) = interact(&app, &click(GRACE, &[], &format!("deny:dec-{}", d.id), 2)).await;
    assert!(
        ephemeral_text(&answer).contains("You may not deny"),
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test]
async fn deny_asks_for_a_reason_in_a_modal_and_records_it() {
    let (app, _discord) = start().await;
    let d = crown_jewel_decision(&app).await;
    let (status, answer) =
        interact(&app, &click(CAROL, &[], &format!("deny:dec-{}", d.id), 1)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["type"], 9, "a modal: {answer}");
    let custom_id = answer["data"]["custom_id"]
        .as_str()
        .expect("custom id")
        .to_owned();
    assert_eq!(custom_id, format!("cordon-reason:deny:dec-{}", d.id));
    let input = &answer["data"]["components"][0]["components"][0];
    assert_eq!(input["custom_id"], "reason");
    assert_eq!(input["required"], true);
    assert_eq!(
        app.decision_state(d.id).await,
        "pending_approval",
        "nothing yet"
    );
    let (_, answer) = interact(
        &app,
        &submit(
            CAROL,
            &[],
            &custom_id,
            "payments close at noon; isolating now costs more",
            2,
        ),
    )
    .await;
    assert!(ephemeral_text(&answer).contains("denied"), "{answer}");
    assert_eq!(app.decision_state(d.id).await, "denied");
    let l = app.engine.load(DecisionId(d.id)).await.expect("load");
    let reason = serde_json::to_string(&l.events).expect("json");
    assert!(reason.contains("payments close at noon"), "{reason}");
    app.stop().await;
}

#[tokio::test]
async fn slash_commands_propose_and_report_status_and_register_for_the_guild() {
    let (app, discord) = start().await;
    let (status, answer) =
        interact(&app, &slash(ALICE, "isolate", &[("host", "ws-0042")], 1)).await;
    assert_eq!(status, 200);
    let text = ephemeral_text(&answer);
    assert!(text.contains("Proposed dec-"), "{text}");
    let (_, answer) = interact(&app, &slash(ALICE, "status", &[], 2)).await;
    assert!(ephemeral_text(&answer).contains("ws-0042"), "{answer}");
    let (_, answer) = interact(
        &app,
        &slash(
            ALICE,
            "explain",
            &[("action", "isolate_host"), ("target", "db-prod-01")],
            3,
        ),
    )
    .await;
    assert!(ephemeral_text(&answer).contains("crown-jewels"), "{answer}");

    // `cordon discord register-commands` does this PUT.
    let d = cordon::chat::discord::from_config(&{
        let mut c: cordon::config::Config = toml::from_str("").expect("config");
        c.secrets.discord_bot_token = Some(cordon::config::Secret::new("t"));
        c.secrets.discord_api_url = Some(discord.url.clone());
        c.secrets.discord_application_id = Some(common::app::DISCORD_APP.into());
        c.secrets.discord_guild_id = Some(DISCORD_GUILD.into());
        c
    })
    .expect("config")
    .expect("discord");
    let names = cordon::chat::discord::commands::register(&d.api, d.guild_id.expect("guild"))
        .await
        .expect("register");
    assert_eq!(names, ["cordon"]);
    let put = discord
        .calls()
        .into_iter()
        .find(|c| c.method == "PUT")
        .expect("put");
    assert_eq!(
        put.path,
        format!(
            "/applications/{}/guilds/{DISCORD_GUILD}/commands",
            common::app::DISCORD_APP
        )
    );
    let subs: Vec<&str> = put.body[0]["options"]
        .as_array()
        .expect("subcommands")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(
        subs,
        ["status", "explain", "report", "isolate", "disable", "reset"]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rate_limited_burst_loses_nothing_and_keeps_order() {
    let (app, discord) = start().await;
    discord.throttle_posts(3);
    let d = crown_jewel_decision(&app).await;
    // The first posts are refused with 429; the chat job comes back after
    // the pause and carries on where it stopped.
    for _ in 0..20 {
        app.advance(Duration::from_millis(1100)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        if discord
            .calls()
            .iter()
            .any(|c| has_embed(c) && c.status == 200)
        {
            break;
        }
    }
    let (_, _channel) = main_post(&discord).await;
    let alice_on_slack = Actor {
        platform: Platform::Slack,
        platform_user_id: "U01ALICE".into(),
        groups: vec![],
    };
    app.engine
        .act(
            &alice_on_slack,
            DecisionId(d.id),
            cordon::domain::decision::Verb::Approve,
            None,
        )
        .await
        .expect("approve");
    discord.throttle_posts(2);
    for _ in 0..20 {
        app.advance(Duration::from_millis(1100)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = discord
        .wait_for("the approval in the thread", |c| {
            c.iter().any(|c| {
                c.status == 200
                    && c.body["content"]
                        .as_str()
                        .is_some_and(|s| s.contains("approved by"))
            })
        })
        .await;
    let posted: Vec<String> = calls
        .iter()
        .filter(|c| is_plain_post(c) && c.status == 200)
        .filter_map(|c| c.body["content"].as_str().map(str::to_owned))
        .collect();
    let throttled = calls.iter().filter(|c| c.status == 429).count();
    assert_eq!(throttled, 5, "{calls:#?}");
    let proposed = posted
        .iter()
        .position(|p| p.contains("proposed"))
        .expect("proposed");
    let approved = posted
        .iter()
        .position(|p| p.contains("approved by"))
        .expect("approved");
    assert!(proposed < approved, "{posted:#?}");
    let mut unique = posted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), posted.len(), "nothing twice: {posted:#?}");
    app.stop().await;
}

#[tokio::test]
async fn a_slow_click_is_answered_at_once_and_followed_up_with_the_result() {
    let discord = FakeDiscord::start().await;
    let app = spawn_app(Options {
        discord_api_url: Some(discord.url.clone()),
        discord_public_key: Some(hex::encode(key().verifying_key().to_bytes())),
        extra_config: config().replace(
            "pacing = \"1ms\"",
            "pacing = \"1ms\"\nanswer_within = \"1ms\"",
        ),
        ..Default::default()
    })
    .await;
    let d = crown_jewel_decision(&app).await;
    let (status, answer) = interact(
        &app,
        &click(ALICE, &[SOC_LEAD_ROLE], &format!("approve:dec-{}", d.id), 7),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["type"], 5, "deferred: {answer}");
    assert_eq!(answer["data"]["flags"], 64, "privately: {answer}");
    let calls = discord
        .wait_for("the follow-up", |c| {
            c.iter()
                .any(|c| c.method == "PATCH" && c.path.contains("/webhooks/"))
        })
        .await;
    let f = calls
        .iter()
        .find(|c| c.method == "PATCH" && c.path.contains("/webhooks/"))
        .expect("follow-up");
    assert_eq!(
        f.path,
        format!(
            "/webhooks/{}/tok-7/messages/@original",
            common::app::DISCORD_APP
        )
    );
    assert!(
        f.body["content"]
            .as_str()
            .is_some_and(|c| c.contains("Recorded")),
        "{:#?}",
        f.body
    );
    assert_eq!(approvals(&app, d.id).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn an_escalation_is_announced_in_the_thread_with_the_roles_now_asked() {
    let (app, discord) = start().await;
    let d = crown_jewel_decision(&app).await;
    let _ = main_post(&discord).await;
    // crown-jewels: no decision within 10 minutes escalates to soc-oncall.
    app.advance(Duration::from_secs(601)).await;
    let calls = discord
        .wait_for("the escalation in the thread", |c| {
            c.iter().any(|c| {
                is_plain_post(c)
                    && c.body["content"]
                        .as_str()
                        .is_some_and(|s| s.contains("escalated"))
            })
        })
        .await;
    let post = calls
        .iter()
        .find(|c| {
            is_plain_post(c)
                && c.body["content"]
                    .as_str()
                    .is_some_and(|s| s.contains("escalated"))
        })
        .expect("escalation");
    let text = post.body["content"].as_str().unwrap_or_default();
    assert!(text.contains(&format!("dec-{}", d.id)), "{text}");
    assert!(text.contains(&format!("<@&{SOC_LEAD_ROLE}>")), "{text}");
    assert!(text.contains(&format!("<@{CAROL}>")), "{text}");
    assert_eq!(post.body["allowed_mentions"]["roles"][0], SOC_LEAD_ROLE);
    app.stop().await;
}
