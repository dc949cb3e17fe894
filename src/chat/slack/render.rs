//! Block Kit for cordon's Slack messages. The words come from the
//! operator-editable templates in `templates/slack/`; the structure (blocks,
//! buttons, modal) is built here with slack-morphism's builders, so an
//! edited template can change what a message says but never produce a
//! malformed message or a button that does something else.

use crate::chat::{Button, DecisionModel, IncidentMessage, TimelineEntry, escape};
use crate::templates::{TemplateError, Templates};
use slack_morphism::prelude::*;

/// The embedded defaults of `templates/slack/*`.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "slack/incident.txt",
        include_str!("../../../templates/slack/incident.txt"),
    ),
    (
        "slack/decision.txt",
        include_str!("../../../templates/slack/decision.txt"),
    ),
    (
        "slack/footer.txt",
        include_str!("../../../templates/slack/footer.txt"),
    ),
    (
        "slack/notification.txt",
        include_str!("../../../templates/slack/notification.txt"),
    ),
    (
        "slack/thread_alert.txt",
        include_str!("../../../templates/slack/thread_alert.txt"),
    ),
    (
        "slack/thread_more_alerts.txt",
        include_str!("../../../templates/slack/thread_more_alerts.txt"),
    ),
    (
        "slack/thread_event.txt",
        include_str!("../../../templates/slack/thread_event.txt"),
    ),
    (
        "slack/refusal.txt",
        include_str!("../../../templates/slack/refusal.txt"),
    ),
    (
        "slack/ack.txt",
        include_str!("../../../templates/slack/ack.txt"),
    ),
    (
        "slack/reason_modal.txt",
        include_str!("../../../templates/slack/reason_modal.txt"),
    ),
    (
        "slack/status.txt",
        include_str!("../../../templates/slack/status.txt"),
    ),
    (
        "slack/help.txt",
        include_str!("../../../templates/slack/help.txt"),
    ),
    (
        "slack/proposed.txt",
        include_str!("../../../templates/slack/proposed.txt"),
    ),
    (
        "slack/more_decisions.txt",
        include_str!("../../../templates/slack/more_decisions.txt"),
    ),
    (
        "slack/decision_line.txt",
        include_str!("../../../templates/slack/decision_line.txt"),
    ),
];

/// Escapes every string of a template context for Slack mrkdwn (see
/// [`crate::chat::escape`]): `&`, `<` and `>` as entities, backticks as a
/// look-alike, one line. Alert titles, hostnames and reasons come from
/// outside (a SIEM, a clicker): unescaped, `<!channel>` or
/// `<https://evil|Approve here>` in an alert title would become a mention
/// or a disguised link in the incident channel, and a backtick would close
/// the code span around a host name. The templates add Slack's own markup
/// (`<@U…>`, `<!date^…>`) around the escaped values.
pub fn escaped<S: serde::Serialize>(ctx: S) -> serde_json::Value {
    escape::escape_context(ctx, escape::slack)
}

/// Slack's limits (Block Kit reference and `chat.postMessage`): a message
/// with more blocks or longer texts is refused with `invalid_blocks` or
/// `msg_too_long`, and then neither it nor its buttons appear.
pub mod limits {
    pub const BLOCKS: usize = 50;
    /// Also what a message's own `text` is cut to (Slack takes 40,000).
    pub const SECTION_TEXT: usize = 3000;
    pub const HEADER: usize = 150;
    /// A button's label.
    pub const BUTTON_TEXT: usize = 75;
}

/// Slack's limits: section text 3000 characters, header 150.
fn cut(s: &str, max: usize) -> String {
    let s = s.trim_end();
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A mrkdwn text object that Slack takes literally apart from cordon's own
/// markup: `verbatim` keeps Slack from turning bare channel names, URLs and
/// `@here`-style words of outside text into links or mentions.
fn mrkdwn(text: String) -> SlackBlockText {
    SlackBlockText::MarkDown(SlackBlockMarkDownText::new(text).with_verbatim(true))
}

fn section(id: String, text: String) -> SlackBlock {
    SlackSectionBlock::new()
        .with_block_id(id.into())
        .with_text(mrkdwn(cut(&text, limits::SECTION_TEXT)))
        .into()
}

fn button(b: &Button) -> SlackActionBlockElement {
    let mut e = SlackBlockButtonElement::new(pt!(cut(b.label, limits::BUTTON_TEXT)))
        .with_action_id(b.id.clone().into())
        .with_value(b.id.clone());
    match b.style {
        Some("primary") => e = e.with_style(SlackBlockButtonStyle::Primary),
        Some("danger") => e = e.with_style(SlackBlockButtonStyle::Danger),
        _ => {}
    }
    e.into()
}

/// One decision in full: its text and, when it offers any, its buttons.
fn decision_blocks(
    t: &Templates,
    m: &IncidentMessage,
    d: &DecisionModel,
) -> Result<Vec<SlackBlock>, TemplateError> {
    let text = t.render(
        "slack/decision.txt",
        escaped(serde_json::json!({ "m": m, "d": d })),
    )?;
    let mut out = vec![section(format!("{}-text", d.reference), text)];
    if !d.buttons.is_empty() {
        out.push(
            SlackActionsBlock::new(d.buttons.iter().map(button).collect())
                .with_block_id(d.reference.clone().into())
                .into(),
        );
    }
    Ok(out)
}

/// The blocks one decision takes in full.
fn full_cost(d: &DecisionModel) -> usize {
    1 + usize::from(!d.buttons.is_empty())
}

/// The decisions' blocks within `budget` blocks. When every decision fits
/// in full (a divider, its text, its buttons) they are shown so. Otherwise
/// the message summarises: the decisions that need a person (pending
/// approval or veto, failed) come first, in full with their buttons, as
/// many as fit; then a line "N more decisions: <console link>" and the
/// rest as one compact line each, as many as fit in one section.
fn decisions(
    t: &Templates,
    m: &IncidentMessage,
    console: &str,
    budget: usize,
) -> Result<Vec<SlackBlock>, TemplateError> {
    let mut out = Vec::new();
    if m.decisions.iter().map(|d| 1 + full_cost(d)).sum::<usize>() <= budget {
        for d in &m.decisions {
            out.push(SlackDividerBlock::new().into());
            out.extend(decision_blocks(t, m, d)?);
        }
        return Ok(out);
    }
    // Room for the "more" line and the compact list after the full ones.
    let room = budget.saturating_sub(2);
    out.push(SlackDividerBlock::new().into());
    let mut rest: Vec<&DecisionModel> = Vec::new();
    for d in crate::chat::by_urgency(&m.decisions) {
        if d.needs_person() && out.len() + full_cost(d) <= room {
            out.extend(decision_blocks(t, m, d)?);
        } else {
            rest.push(d);
        }
    }
    if rest.is_empty() {
        return Ok(out);
    }
    let more = t.render(
        "slack/more_decisions.txt",
        escaped(serde_json::json!({ "m": m, "count": rest.len(), "url": console })),
    )?;
    out.push(section("more".into(), more));
    let mut lines = String::new();
    for d in &rest {
        let line = t.render(
            "slack/decision_line.txt",
            escaped(serde_json::json!({ "d": d })),
        )?;
        let line = line.trim_end();
        if lines.chars().count() + line.chars().count() + 1 > limits::SECTION_TEXT {
            break;
        }
        lines.push_str(line);
        lines.push('\n');
    }
    if !lines.is_empty() {
        out.push(section("more-list".into(), lines));
    }
    Ok(out)
}

/// The main message: header, facts, the decisions (summarised when they
/// do not all fit, see [`decisions`]), and a footer with status and time
/// to contain. `console` is the incident's page in the web console.
pub fn incident(
    t: &Templates,
    m: &IncidentMessage,
    console: &str,
) -> Result<SlackMessageContent, TemplateError> {
    let ctx = escaped(serde_json::json!({ "m": m }));
    let mut blocks: Vec<SlackBlock> = vec![
        // Plain text: Slack reads no markup in a header.
        SlackHeaderBlock::new(pt!(cut(&escape::one_line(&m.title), limits::HEADER))).into(),
        section("facts".into(), t.render("slack/incident.txt", &ctx)?),
    ];
    let footer = SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
        SlackBlockMarkDownText::new(cut(
            &t.render("slack/footer.txt", &ctx)?,
            limits::SECTION_TEXT,
        ))
        .with_verbatim(true),
    )])
    .with_block_id("footer".into());
    let budget = limits::BLOCKS - blocks.len() - 1;
    blocks.extend(decisions(t, m, console, budget)?);
    blocks.push(footer.into());
    Ok(SlackMessageContent::new()
        .with_text(cut(
            &t.render("slack/notification.txt", &ctx)?,
            limits::SECTION_TEXT,
        ))
        .with_blocks(blocks))
}

/// One thread reply. `mentions` is Slack markup (`<@U…>`, `<!subteam^S…>`)
/// for the people now asked to act, used by escalations.
pub fn timeline(
    t: &Templates,
    e: &TimelineEntry,
    mentions: &[String],
) -> Result<SlackMessageContent, TemplateError> {
    let name = match e.kind.as_str() {
        "alert" => "slack/thread_alert.txt",
        crate::chat::MORE_ALERTS => "slack/thread_more_alerts.txt",
        _ => "slack/thread_event.txt",
    };
    let mut ctx = escaped(serde_json::json!({ "e": e }));
    // Built by cordon from the matrix, not from outside text: not escaped.
    ctx["mentions"] = serde_json::json!(mentions);
    let text = cut(&t.render(name, ctx)?, limits::SECTION_TEXT);
    Ok(SlackMessageContent::new().with_text(text))
}

/// The block id and action id of the reason field in the modal.
pub const REASON_BLOCK: &str = "reason";
pub const REASON_ACTION: &str = "reason";
/// The callback id of cordon's reason modal.
pub const REASON_CALLBACK: &str = "cordon-reason";

/// The modal that asks for a reason before Deny, Veto or Override.
/// `metadata` travels back in the `view_submission`.
pub fn reason_modal(
    t: &Templates,
    label: &str,
    ctx: serde_json::Value,
    metadata: String,
) -> Result<SlackView, TemplateError> {
    let prompt = t.render("slack/reason_modal.txt", escaped(&ctx))?;
    let input = SlackInputBlock::new(
        pt!("Reason"),
        SlackBlockPlainTextInputElement::new()
            .with_action_id(REASON_ACTION.into())
            .with_multiline(true)
            .with_max_length(2000)
            .into(),
    )
    .with_block_id(REASON_BLOCK.into());
    let blocks: Vec<SlackBlock> = vec![section("prompt".into(), prompt), input.into()];
    let title = cut(
        &format!("{label} {}", ctx["decision"].as_str().unwrap_or_default()),
        24,
    );
    Ok(SlackView::Modal(
        SlackModalView::new(pt!(title), blocks)
            .with_submit(pt!(label.to_owned()))
            .with_close(pt!("Cancel"))
            .with_callback_id(REASON_CALLBACK.into())
            .with_private_metadata(metadata),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{AssetFacts, DecisionModel, Evidence, UserFacts, Who};

    fn t(s: &str) -> crate::domain::Timestamp {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default()
    }

    fn who(user: &str, person: &str) -> Who {
        Who {
            person: Some(person.into()),
            platform: "slack".into(),
            user_id: user.into(),
            role: Some("soc-lead".into()),
        }
    }

    fn decision(state: &str, mode: &str) -> DecisionModel {
        let id = crate::domain::DecisionId(42);
        DecisionModel {
            id: 42,
            reference: "dec-42".into(),
            action: "isolate_host".into(),
            target: "db-prod-01".into(),
            rule: Some("crown-jewels".into()),
            mode: mode.into(),
            state: state.into(),
            terminal: false,
            deadline: Some(t("2026-11-23T08:10:00Z")),
            deadline_unix: Some(t("2026-11-23T08:10:00Z").timestamp()),
            quorum: 2,
            approvals: 1,
            approver_roles: vec!["soc-lead".into(), "ciso".into()],
            veto_roles: vec!["asset-owner".into()],
            override_roles: vec!["ciso".into()],
            approved_by: vec![who("U01ALICE", "alice")],
            decided_by: Some(who("U04DAVE", "dave")),
            decided_verb: Some("vetoed".into()),
            reason: Some("ledger close".into()),
            last_error: Some("vendor said 500".into()),
            guard: None,
            time_to_contain_ms: Some(93_500),
            evidence: vec![
                Evidence {
                    field: "asset.owners".into(),
                    value: Some("carol, dave".into()),
                },
                Evidence {
                    field: "asset.business_service".into(),
                    value: None,
                },
            ],
            buttons: crate::chat::VERBS
                .iter()
                .map(|v| crate::chat::Button::new(*v, id))
                .collect(),
        }
    }

    fn sample() -> IncidentMessage {
        let states = [
            ("pending_approval", "approval"),
            ("pending_veto", "veto_window"),
            ("executing", "auto"),
            ("contained", "auto"),
            ("failed", "approval"),
            ("forbidden", "forbidden"),
            ("vetoed", "approval"),
        ];
        IncidentMessage {
            incident_id: 7,
            reference: "inc-7".into(),
            title: "Ransomware detected".into(),
            severity: "critical".into(),
            status: "contained".into(),
            drill: true,
            source: "crowdstrike (edr-test)".into(),
            detected_at: t("2026-11-23T08:00:00Z"),
            detected_unix: t("2026-11-23T08:00:00Z").timestamp(),
            age_ms: 61_000,
            opened_at: t("2026-11-23T08:00:01Z"),
            asset: Some(AssetFacts {
                hostname: "db-prod-01".into(),
                tier: Some("crown-jewel".into()),
                environment: Some("prod".into()),
                business_service: Some("payments-ledger".into()),
                owners: vec!["carol".into(), "dave".into()],
            }),
            user: Some(UserFacts {
                username: "jdoe".into(),
                department: Some("finance".into()),
                privileged: true,
            }),
            intel_hits: vec!["203.0.113.9 (bad-ips)".into()],
            alert_count: 3,
            related_alerts: 2,
            partial: true,
            contained_at: Some(t("2026-11-23T08:01:33Z")),
            time_to_contain_ms: Some(93_500),
            decisions: states.iter().map(|(s, m)| decision(s, m)).collect(),
        }
    }

    const CONSOLE: &str = "https://cordon.example/incidents/7";

    /// Every text of a Slack message or view, with its type (`plain_text`,
    /// `mrkdwn`, or `text` for the message's own text).
    fn texts(v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(o) => {
                if let (Some(k), Some(t)) = (
                    o.get("type").and_then(|k| k.as_str()),
                    o.get("text").and_then(|t| t.as_str()),
                ) {
                    out.push((k.to_owned(), t.to_owned()));
                }
                o.values().for_each(|v| texts(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
            _ => {}
        }
    }

    #[test]
    fn a_hostile_host_name_is_escaped_in_every_block() {
        let tpl = Templates::builtin(&[TEMPLATES]).expect("templates load");
        let mut m = sample();
        let host = "ws-1<!channel>`x";
        for d in &mut m.decisions {
            d.target = host.into();
            d.reason = Some("fine\n:white_check_mark: Approved by <@U0BOSS>".into());
        }
        if let Some(a) = m.asset.as_mut() {
            a.hostname = host.into();
        }
        let content = incident(&tpl, &m, CONSOLE).expect("renders");
        let v = serde_json::to_value(&content).expect("json");
        let mut all = Vec::new();
        texts(&v["blocks"], &mut all);
        let mut with_host = 0;
        for (kind, text) in &all {
            assert!(
                !text.contains("<!channel>") || kind == "plain_text",
                "{text}"
            );
            assert!(!text.contains("<@U0BOSS>"), "{text}");
            if kind == "mrkdwn" && text.contains("ws-1") {
                assert!(text.contains("ws-1&lt;!channel&gt;ˋx"), "{text}");
                assert_eq!(text.matches('`').count() % 2, 0, "{text}");
                with_host += 1;
            }
        }
        assert!(with_host > m.decisions.len(), "{all:#?}");
        let mrkdwn = v["blocks"][1]["text"].clone();
        assert_eq!(mrkdwn["verbatim"], true, "{mrkdwn}");
    }

    #[test]
    fn forty_decisions_fit_in_fifty_blocks_those_needing_a_person_first() {
        let tpl = Templates::builtin(&[TEMPLATES]).expect("templates load");
        let mut m = sample();
        let base = m.decisions.clone();
        m.decisions = (0..40)
            .map(|n| {
                let mut d = base[n % base.len()].clone();
                d.id = n as i64;
                d.reference = format!("dec-{n}");
                d.buttons = d
                    .buttons
                    .iter()
                    .map(|b| Button {
                        id: b.id.replace("dec-42", &d.reference),
                        ..b.clone()
                    })
                    .collect();
                d
            })
            .collect();
        let v = serde_json::to_value(incident(&tpl, &m, CONSOLE).expect("renders")).expect("json");
        let blocks = v["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= limits::BLOCKS, "{} blocks", blocks.len());
        let json = v.to_string();
        assert!(json.contains(CONSOLE), "{json}");
        // Every decision is in the message, in full or on a line of its own.
        for d in &m.decisions {
            assert!(
                json.contains(&format!("{} ", d.reference)),
                "{} missing",
                d.reference
            );
        }
        // The first actions blocks belong to decisions that need a person.
        let first = blocks
            .iter()
            .find(|b| b["type"] == "actions")
            .expect("buttons");
        let r = first["block_id"].as_str().unwrap_or_default();
        let d = m
            .decisions
            .iter()
            .find(|d| d.reference == r)
            .expect("decision");
        assert!(d.needs_person(), "{r} is {}", d.state);
        for b in blocks {
            if b["type"] == "section" {
                let n = b["text"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .count();
                assert!(n <= limits::SECTION_TEXT, "{n}");
            }
        }
    }

    #[test]
    fn outside_text_cannot_mention_the_channel_or_hide_a_link() {
        let tpl = Templates::builtin(&[TEMPLATES]).expect("templates load");
        let mut m = sample();
        m.title = "<!channel> see <https://evil.example|Approve here> & more".into();
        let content = incident(&tpl, &m, CONSOLE).expect("renders");
        let text = content.text.unwrap_or_default();
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(
            !text.contains("<!channel>") && !text.contains("<https://evil"),
            "{text}"
        );
    }

    #[test]
    fn every_slack_template_renders_with_a_sample_context() {
        let tpl = Templates::builtin(&[TEMPLATES]).expect("templates load");
        let m = sample();
        let content = incident(&tpl, &m, CONSOLE).expect("incident renders");
        let json = serde_json::to_string(&content).expect("json");
        for expected in [
            "Ransomware detected",
            "payments-ledger",
            "*privileged*",
            "203.0.113.9 (bad-ips)",
            "Needs 2 of soc-lead, ciso (1/2 so far)",
            "Executes at <!date^",
            "unless vetoed by asset-owner",
            "executed automatically",
            "time to contain *1m 33s*",
            "Advisory only",
            "Failed: vendor said 500",
            "Approved by <@U01ALICE>",
            "Vetoed by <@U04DAVE>",
            "asset.business_service: unknown",
            "approve:dec-42",
            "DRILL",
        ] {
            assert!(json.contains(expected), "missing {expected}: {json}");
        }
        let kinds = [
            "alert",
            crate::chat::MORE_ALERTS,
            "proposed",
            "approval_requested",
            "approved",
            "quorum_reached",
            "denied",
            "escalated",
            "expired",
            "veto_window_opened",
            "vetoed",
            "overridden",
            "execution_requested",
            "execution_accepted",
            "execution_failed",
            "contained",
            "extended",
            "rollback_requested",
            "rolled_back",
        ];
        for k in kinds {
            let e = crate::chat::TimelineEntry {
                key: format!("event:42:{k}"),
                at: t("2026-11-23T08:00:05Z"),
                at_unix: t("2026-11-23T08:00:05Z").timestamp(),
                kind: k.into(),
                decision: Some("dec-42".into()),
                action: Some("isolate_host".into()),
                target: Some("db-prod-01".into()),
                who: Some(who("U02BOB", "bob")),
                title: Some("Second alert".into()),
                severity: Some("high".into()),
                reason: Some("because".into()),
                until_unix: Some(t("2026-11-23T08:10:00Z").timestamp()),
                error: Some("timeout".into()),
            };
            let text = timeline(&tpl, &e, &["<@U03CAROL>".to_owned()])
                .expect("timeline renders")
                .text
                .unwrap_or_default();
            assert!(!text.trim().is_empty(), "{k} rendered empty");
            if k != "alert" && k != crate::chat::MORE_ALERTS {
                assert!(
                    text.starts_with("dec-42 `isolate_host db-prod-01`"),
                    "{k}: {text}"
                );
            }
        }
        let rest = [
            (
                "slack/refusal.txt",
                serde_json::json!({"verb": "approve", "decision": "dec-42", "message": "rule crown-jewels: approve needs soc-lead or ciso"}),
            ),
            (
                "slack/ack.txt",
                serde_json::json!({"changed": true, "done": "approved", "decision": "dec-42", "state": "pending_approval", "approvals": 1, "quorum": 2}),
            ),
            (
                "slack/ack.txt",
                serde_json::json!({"changed": false, "decision": "dec-42", "state": "pending_veto"}),
            ),
            (
                "slack/reason_modal.txt",
                serde_json::json!({"verb": "veto", "decision": "dec-42", "action": "isolate_host", "target": "db-prod-01"}),
            ),
            (
                "slack/status.txt",
                serde_json::json!({"incidents": [{"reference": "inc-7", "severity": "critical", "title": "x", "pending": [{"reference": "dec-42", "action": "isolate_host", "target": "db-prod-01", "state": "pending_approval"}]}]}),
            ),
            ("slack/status.txt", serde_json::json!({"incidents": []})),
            ("slack/help.txt", serde_json::json!({})),
            (
                "slack/more_decisions.txt",
                serde_json::json!({"m": {"reference": "inc-7"}, "count": 3, "url": CONSOLE}),
            ),
            (
                "slack/decision_line.txt",
                serde_json::json!({"d": {"reference": "dec-42", "action": "isolate_host", "target": "ws-1", "state": "contained"}}),
            ),
            (
                "slack/proposed.txt",
                serde_json::json!({"decision": "dec-42", "action": "isolate_host", "target": "db-prod-01", "incident": "inc-7", "state": "pending_approval", "rule": "crown-jewels"}),
            ),
        ];
        let rest_names: Vec<&str> = rest.iter().map(|(n, _)| *n).collect();
        for (name, ctx) in rest {
            let text = tpl.render(name, ctx).expect(name);
            assert!(!text.trim().is_empty(), "{name} rendered empty");
        }
        let modal = reason_modal(
            &tpl,
            "Veto",
            serde_json::json!({"verb": "veto", "decision": "dec-42", "action": "isolate_host", "target": "db-prod-01"}),
            "{}".into(),
        )
        .expect("modal");
        assert!(
            serde_json::to_string(&modal)
                .expect("json")
                .contains("cordon-reason")
        );
        // Every embedded template was exercised above.
        let mut covered: Vec<&str> = vec![
            "slack/incident.txt",
            "slack/decision.txt",
            "slack/footer.txt",
            "slack/notification.txt",
            "slack/thread_alert.txt",
            "slack/thread_more_alerts.txt",
            "slack/thread_event.txt",
            "slack/reason_modal.txt",
        ];
        covered.extend(rest_names);
        for (name, _) in TEMPLATES {
            assert!(
                covered.contains(name),
                "{name} is not rendered by this test"
            );
        }
    }
}
