//! Embeds, buttons and modals for cordon's Discord messages. The words come
//! from the operator-editable templates in `templates/discord/`; the
//! structure (embed, action rows, modal) is built here with serenity's
//! builders and cut to Discord's limits, so an edited template can change
//! what a message says but never produce a rejected message or a button
//! that does something else.

use crate::chat::{Button, DecisionModel, IncidentMessage, TimelineEntry, escape};
use crate::templates::{TemplateError, Templates};
use serenity::builder::{
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateEmbedFooter,
    CreateInputText, CreateMessage, CreateModal, EditMessage,
};
use serenity::model::application::{ButtonStyle, InputTextStyle};

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

/// The embedded defaults of `templates/discord/*`.
pub const TEMPLATES: &[(&str, &str)] = templates![
    "discord/incident.txt",
    "discord/decision_title.txt",
    "discord/decision.txt",
    "discord/footer.txt",
    "discord/notification.txt",
    "discord/thread_alert.txt",
    "discord/thread_more_alerts.txt",
    "discord/thread_event.txt",
    "discord/ack.txt",
    "discord/refusal.txt",
    "discord/reason_modal.txt",
    "discord/status.txt",
    "discord/help.txt",
    "discord/proposed.txt",
    "discord/more_decisions.txt",
    "discord/decision_line.txt",
];

/// The Discord templates: the embedded defaults, files in `dir` over them,
/// and the `code` filter (an escaped value as a code span, see
/// [`escape::discord_code`]).
pub fn templates(dir: Option<&std::path::Path>) -> Result<Templates, TemplateError> {
    Ok(Templates::load(dir, &[TEMPLATES])?.with_filter("code", code_filter))
}

fn code_filter(v: minijinja::Value) -> String {
    if v.is_undefined() || v.is_none() {
        return String::new();
    }
    escape::discord_code(&v.to_string())
}

/// Escapes every string of a template context for Discord markdown (see
/// [`crate::chat::escape`]): special characters backslash-escaped, no
/// backticks, one line. Alert text cannot mention anyone (`@everyone`,
/// `<@&role>`), plant a masked link next to cordon's buttons, or close a
/// code span. Mentions and links cordon adds go into the context after.
pub fn escaped<S: serde::Serialize>(ctx: S) -> serde_json::Value {
    escape::escape_context(ctx, escape::discord)
}

/// Discord's limits (developer docs, "Embed Limits" and "Message Components").
pub mod limits {
    pub const CONTENT: usize = 2000;
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 4096;
    pub const FIELDS: usize = 25;
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1024;
    pub const FOOTER: usize = 2048;
    /// All text of all embeds of one message together.
    pub const EMBED_TOTAL: usize = 6000;
    pub const ACTION_ROWS: usize = 5;
    pub const BUTTONS_PER_ROW: usize = 5;
    pub const MODAL_TITLE: usize = 45;
    pub const INPUT_LABEL: usize = 45;
    pub const PLACEHOLDER: usize = 100;
    pub const REASON: u16 = 2000;
}

/// The custom id prefix of cordon's reason modal: `cordon-reason:deny:dec-42`.
pub const REASON_MODAL: &str = "cordon-reason";
/// The custom id of the reason input in that modal.
pub const REASON_INPUT: &str = "reason";

/// Cuts to `max` characters (not bytes), with an ellipsis.
pub fn cut(s: &str, max: usize) -> String {
    let s = s.trim_end();
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The embed colour of a severity (Discord shows it as the left bar).
pub fn colour(severity: &str) -> u32 {
    match severity {
        "critical" => 0xC0392B,
        "high" => 0xE67E22,
        "medium" => 0xF1C40F,
        "low" => 0x3498DB,
        _ => 0x95A5A6,
    }
}

fn button(b: &Button, with_ref: Option<&str>) -> CreateButton {
    let style = match (b.verb, b.style) {
        ("approve", _) => ButtonStyle::Success,
        (_, Some("danger")) => ButtonStyle::Danger,
        (_, Some("primary")) => ButtonStyle::Primary,
        _ => ButtonStyle::Secondary,
    };
    let label = match with_ref {
        Some(r) => format!("{} {r}", b.label),
        None => b.label.to_owned(),
    };
    CreateButton::new(b.id.clone())
        .label(cut(&label, 80))
        .style(style)
}

/// Who a message may ping: exactly the users and roles cordon asks to act,
/// never `@everyone`, and nobody a rendered alert text names (Discord
/// pings whatever the content mentions unless told otherwise, so every
/// message cordon sends says this; see [`no_mentions`]).
pub fn allowed_mentions(users: &[u64], roles: &[u64]) -> CreateAllowedMentions {
    CreateAllowedMentions::new()
        .everyone(false)
        .users(users.iter().copied())
        .roles(roles.iter().copied())
}

/// For messages that ask nobody to act (edits, thread notes without
/// mentions, private answers, the digest): they ping no one.
pub fn no_mentions() -> CreateAllowedMentions {
    allowed_mentions(&[], &[])
}

/// The rendered pieces of the main message.
#[derive(Debug, Clone)]
pub struct Main {
    pub content: String,
    pub embed: CreateEmbed,
    pub rows: Vec<CreateActionRow>,
}

impl Main {
    /// A stable digest input: what the message would show.
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(&(&self.content, &self.embed, &self.rows)).unwrap_or_default()
    }

    pub fn create(&self, mentions: CreateAllowedMentions) -> CreateMessage {
        CreateMessage::new()
            .content(self.content.clone())
            .embed(self.embed.clone())
            .components(self.rows.clone())
            .allowed_mentions(mentions)
    }

    pub fn edit(&self) -> EditMessage {
        EditMessage::new()
            .content(self.content.clone())
            .embed(self.embed.clone())
            .components(self.rows.clone())
            .allowed_mentions(no_mentions())
    }
}

/// Discord counts characters, not bytes, against its limits.
fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Room kept in the embed for the "more decisions" field.
const MORE_ROOM: usize = 600;

/// The main message: a line of content (plus the mentions, which only ping
/// from content), an embed with the facts and one field per decision, and
/// one row of buttons per decision that offers any, within Discord's
/// limits. The decisions that need a person come first (they get the five
/// rows of buttons); what does not fit goes into a last field, "N more
/// decisions: <console link>", one compact line each as far as they fit.
pub fn incident(
    t: &Templates,
    m: &IncidentMessage,
    mentions: &[String],
    console: &str,
) -> Result<Main, TemplateError> {
    let ctx = escaped(serde_json::json!({ "m": m }));
    let title = cut(&escape::discord(&m.title), limits::TITLE);
    let footer = cut(&t.render("discord/footer.txt", &ctx)?, limits::FOOTER);
    // Title, description and footer share the embed's 6000 characters with
    // the fields: the description gives way.
    let room = limits::EMBED_TOTAL - chars(&title) - chars(&footer) - 2 * MORE_ROOM;
    let description = cut(
        &t.render("discord/incident.txt", &ctx)?,
        limits::DESCRIPTION.min(room),
    );
    let mut embed_len = chars(&title) + chars(&description) + chars(&footer);
    let mut embed = CreateEmbed::new()
        .title(title)
        .description(description)
        .colour(colour(&m.severity))
        .footer(CreateEmbedFooter::new(footer))
        .timestamp(m.detected_at);
    let several = m.decisions.iter().filter(|d| !d.buttons.is_empty()).count() > 1;
    let mut rows = Vec::new();
    let mut rest: Vec<&DecisionModel> = Vec::new();
    let mut fields = 0usize;
    for d in crate::chat::by_urgency(&m.decisions) {
        let (name, value) = decision_field(t, m, d)?;
        let len = chars(&name) + chars(&value);
        // Keep a field and room for the "more" field below.
        if !rest.is_empty()
            || fields + 1 >= limits::FIELDS
            || embed_len + len > limits::EMBED_TOTAL - MORE_ROOM
        {
            rest.push(d);
            continue;
        }
        embed_len += len;
        fields += 1;
        embed = embed.field(name, value, false);
        if !d.buttons.is_empty() && rows.len() < limits::ACTION_ROWS {
            let r = several.then_some(d.reference.as_str());
            rows.push(CreateActionRow::Buttons(
                d.buttons
                    .iter()
                    .take(limits::BUTTONS_PER_ROW)
                    .map(|b| button(b, r))
                    .collect(),
            ));
        }
    }
    if !rest.is_empty() {
        let (name, value) = more_field(t, m, &rest, console, limits::EMBED_TOTAL - embed_len)?;
        embed = embed.field(name, value, false);
    }
    let mut content = escaped(serde_json::json!({ "m": m }));
    // Built by cordon from the matrix: mentions stay markup.
    content["mentions"] = serde_json::json!(mentions);
    Ok(Main {
        content: cut(
            &t.render("discord/notification.txt", &content)?,
            limits::CONTENT,
        ),
        embed,
        rows,
    })
}

/// One decision as an embed field: its title and its text.
fn decision_field(
    t: &Templates,
    m: &IncidentMessage,
    d: &DecisionModel,
) -> Result<(String, String), TemplateError> {
    let c = escaped(serde_json::json!({ "m": m, "d": d }));
    let name = cut(
        &t.render("discord/decision_title.txt", &c)?,
        limits::FIELD_NAME,
    );
    let value = cut(&t.render("discord/decision.txt", &c)?, limits::FIELD_VALUE);
    // Discord refuses an empty field value.
    let value = if value.is_empty() {
        "—".into()
    } else {
        value
    };
    Ok((name, value))
}

/// The last field of a summarised message: "N more decisions: <link>" and
/// a compact line per decision, as many as fit in `room` characters.
fn more_field(
    t: &Templates,
    m: &IncidentMessage,
    rest: &[&DecisionModel],
    console: &str,
    room: usize,
) -> Result<(String, String), TemplateError> {
    let mut ctx = escaped(serde_json::json!({ "m": m, "count": rest.len() }));
    // The link comes from cordon's own config; escaped, it would not work.
    ctx["url"] = serde_json::json!(console);
    let name = "More decisions".to_owned();
    let room = room.saturating_sub(chars(&name)).min(limits::FIELD_VALUE);
    let mut value = cut(&t.render("discord/more_decisions.txt", &ctx)?, room);
    for d in rest {
        let line = t.render(
            "discord/decision_line.txt",
            escaped(serde_json::json!({ "d": d })),
        )?;
        let line = line.trim_end();
        if chars(&value) + chars(line) + 1 > room {
            break;
        }
        value.push('\n');
        value.push_str(line);
    }
    Ok((name, value))
}

/// One thread message.
pub fn timeline(
    t: &Templates,
    e: &TimelineEntry,
    mentions: &[String],
) -> Result<String, TemplateError> {
    let name = match e.kind.as_str() {
        "alert" => "discord/thread_alert.txt",
        crate::chat::MORE_ALERTS => "discord/thread_more_alerts.txt",
        _ => "discord/thread_event.txt",
    };
    let mut ctx = escaped(serde_json::json!({ "e": e }));
    // Built by cordon from the matrix, not from outside text: not escaped.
    ctx["mentions"] = serde_json::json!(mentions);
    Ok(cut(&t.render(name, ctx)?, limits::CONTENT))
}

/// The modal (interaction response type 9) that asks for a reason before
/// Deny, Veto or Override. Its custom id carries the button, so the submit
/// says what it is for.
pub fn reason_modal(
    t: &Templates,
    label: &str,
    button_id: &str,
    ctx: serde_json::Value,
) -> Result<CreateModal, TemplateError> {
    let placeholder = cut(
        &t.render("discord/reason_modal.txt", &ctx)?,
        limits::PLACEHOLDER,
    );
    let title = cut(
        &format!("{label} {}", ctx["decision"].as_str().unwrap_or_default()),
        limits::MODAL_TITLE,
    );
    let input = CreateInputText::new(
        InputTextStyle::Paragraph,
        cut("Reason (recorded with the decision)", limits::INPUT_LABEL),
        REASON_INPUT,
    )
    .placeholder(placeholder)
    .required(true)
    .min_length(1)
    .max_length(limits::REASON);
    Ok(
        CreateModal::new(format!("{REASON_MODAL}:{button_id}"), title)
            .components(vec![CreateActionRow::InputText(input)]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> IncidentMessage {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        let view = serde_json::json!({
            "incident": {"id": 7, "title": "Ransomware on db-prod-01", "severity": 4,
                         "status": "open", "detected_at": t, "opened_at": t, "contained_at": t},
            "alerts": [], "decisions": []
        });
        let mut m = IncidentMessage::build(&view, &|_| None, t);
        m.decisions.push(crate::chat::DecisionModel {
            id: 1,
            reference: "dec-1".into(),
            action: "isolate_host".into(),
            target: "db-prod-01".into(),
            rule: Some("crown-jewels".into()),
            mode: "approval".into(),
            state: "contained".into(),
            terminal: false,
            deadline: Some(t),
            deadline_unix: Some(t.timestamp()),
            quorum: 2,
            approvals: 2,
            approver_roles: vec!["soc-lead".into()],
            veto_roles: vec![],
            override_roles: vec![],
            approved_by: vec![],
            decided_by: None,
            decided_verb: None,
            reason: None,
            last_error: None,
            guard: None,
            time_to_contain_ms: Some(93_500),
            evidence: vec![],
            buttons: vec![Button::new(
                crate::domain::decision::Verb::Release,
                crate::domain::DecisionId(1),
            )],
        });
        m
    }

    #[test]
    fn every_template_renders_and_the_main_message_fits_discord() {
        let t = templates(None).expect("templates");
        let m = model();
        let d = &m.decisions[0];
        let e = crate::chat::TimelineEntry {
            key: "event:1:1".into(),
            at: m.detected_at,
            at_unix: m.detected_unix,
            kind: "approved".into(),
            decision: Some("dec-1".into()),
            action: Some("isolate_host".into()),
            target: Some("db-prod-01".into()),
            who: None,
            title: Some("t".into()),
            severity: Some("high".into()),
            reason: Some("r".into()),
            until_unix: None,
            error: None,
        };
        let ctx = serde_json::json!({
            "m": m, "d": d, "e": e, "mentions": ["<@&1>"], "incidents": [],
            "changed": true, "verb": "approve", "done": "approved", "decision": "dec-1",
            "state": "approved", "approvals": 1, "quorum": 2, "message": "m",
            "action": "isolate_host", "target": "db-prod-01", "incident": "inc-7", "rule": "r",
            "count": 3, "url": "https://cordon.example/incidents/7",
        });
        for (name, _) in TEMPLATES {
            t.render(name, &ctx).expect(name);
        }
        let main = incident(&t, &m, &["<@&1>".to_owned()], CONSOLE).expect("main");
        let v = serde_json::to_value(main.create(allowed_mentions(&[], &[1]))).expect("json");
        assert_eq!(v["embeds"][0]["color"], colour("critical"));
        assert!(v["content"].as_str().is_some_and(|c| c.contains("<@&1>")));
        let field = v["embeds"][0]["fields"][0]["value"]
            .as_str()
            .unwrap_or_default();
        assert!(field.contains("time to contain **1m 33s**"), "{field}");
        assert!(field.contains("<t:"), "{field}");
        assert_eq!(
            v["components"][0]["components"][0]["custom_id"],
            "release:dec-1"
        );
        assert_eq!(v["allowed_mentions"]["roles"][0], "1");
    }

    const CONSOLE: &str = "https://cordon.example/incidents/7";

    #[test]
    fn outside_text_is_escaped_and_code_spans_stay_closed() {
        let t = templates(None).expect("templates");
        let mut m = model();
        m.decisions[0].target = "ws-1@everyone<@&42>`x [Approve](https://evil)".into();
        m.decisions[0].state = "pending_approval".into();
        let main = incident(&t, &m, &[], CONSOLE).expect("main");
        let v = serde_json::to_value(main.create(no_mentions())).expect("json");
        let field = &v["embeds"][0]["fields"][0];
        let name = field["name"].as_str().unwrap_or_default();
        assert!(
            name.contains("ws-1\\@everyone\\<\\@&42\\>ˋx \\[Approve\\](https://evil)"),
            "{name}"
        );
        let value = field["value"].as_str().unwrap_or_default();
        assert!(value.contains("Needs 2 of soc-lead"), "{value}");
        assert_eq!(v["allowed_mentions"]["parse"], serde_json::json!([]));
        let e = crate::chat::TimelineEntry {
            key: "event:1:1".into(),
            at: m.detected_at,
            at_unix: m.detected_unix,
            kind: "proposed".into(),
            decision: Some("dec-1".into()),
            action: Some("isolate_host".into()),
            target: Some(m.decisions[0].target.clone()),
            who: None,
            title: None,
            severity: None,
            reason: None,
            until_unix: None,
            error: None,
        };
        let text = timeline(&t, &e, &[]).expect("timeline");
        assert!(
            text.starts_with(
                "dec-1 `isolate_host ws-1@everyone<@&42>ˋx [Approve](https://evil)`: "
            ),
            "{text}"
        );
    }

    #[test]
    fn forty_decisions_stay_within_discords_limits_with_a_console_link() {
        let t = templates(None).expect("templates");
        let mut m = model();
        let base = m.decisions[0].clone();
        m.decisions = (0..40)
            .map(|n| {
                let mut d = base.clone();
                d.id = n;
                d.reference = format!("dec-{n}");
                // Every third one waits for approval.
                if n % 3 == 2 {
                    d.state = "pending_approval".into();
                    d.buttons = vec![
                        Button::new(
                            crate::domain::decision::Verb::Approve,
                            crate::domain::DecisionId(n),
                        ),
                        Button::new(
                            crate::domain::decision::Verb::Deny,
                            crate::domain::DecisionId(n),
                        ),
                    ];
                } else {
                    d.buttons = vec![Button::new(
                        crate::domain::decision::Verb::Release,
                        crate::domain::DecisionId(n),
                    )];
                }
                d
            })
            .collect();
        let main = incident(&t, &m, &[], CONSOLE).expect("main");
        let v = serde_json::to_value(main.create(no_mentions())).expect("json");
        let embed = &v["embeds"][0];
        let fields = embed["fields"].as_array().expect("fields");
        assert!(fields.len() <= limits::FIELDS, "{}", fields.len());
        let total: usize = fields
            .iter()
            .map(|f| {
                chars(f["name"].as_str().unwrap_or_default())
                    + chars(f["value"].as_str().unwrap_or_default())
            })
            .sum::<usize>()
            + chars(embed["title"].as_str().unwrap_or_default())
            + chars(embed["description"].as_str().unwrap_or_default())
            + chars(embed["footer"]["text"].as_str().unwrap_or_default());
        assert!(total <= limits::EMBED_TOTAL, "{total}");
        let rows = v["components"].as_array().expect("rows");
        assert_eq!(rows.len(), limits::ACTION_ROWS);
        // The rows carry the decisions waiting for approval.
        for r in rows {
            assert!(
                r["components"][0]["custom_id"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("approve:")),
                "{r}"
            );
        }
        let last = fields.last().expect("more");
        let more = last["value"].as_str().unwrap_or_default();
        assert!(
            more.contains(&format!("more decisions: {CONSOLE}")),
            "{more}"
        );
    }

    #[test]
    fn cutting_counts_characters_not_bytes() {
        assert_eq!(cut("ééé", 3), "ééé");
        assert_eq!(cut("éééé", 3), "éé…");
    }

    #[test]
    fn buttons_serialize_as_discord_components() {
        let b = Button::new(
            crate::domain::decision::Verb::Approve,
            crate::domain::DecisionId(42),
        );
        let row = CreateActionRow::Buttons(vec![button(&b, None)]);
        let v = serde_json::to_value(&row).expect("json");
        assert_eq!(v["type"], 1);
        assert_eq!(v["components"][0]["custom_id"], "approve:dec-42");
        assert_eq!(v["components"][0]["style"], 3);
    }
}
