//! Block Kit for cordon's Slack messages. The words come from the
//! operator-editable templates in `templates/slack/`; the structure (blocks,
//! buttons, modal) is built here with slack-morphism's builders, so an
//! edited template can change what a message says but never produce a
//! malformed message or a button that does something else.

use crate::chat::{Button, IncidentMessage, TimelineEntry};
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
];

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

fn button(b: &Button) -> SlackActionBlockElement {
    let mut e = SlackBlockButtonElement::new(pt!(b.label.to_owned()))
        .with_action_id(b.id.clone().into())
        .with_value(b.id.clone());
    match b.style {
        Some("primary") => e = e.with_style(SlackBlockButtonStyle::Primary),
        Some("danger") => e = e.with_style(SlackBlockButtonStyle::Danger),
        _ => {}
    }
    e.into()
}

/// The main message: header, facts, one section (+ buttons) per decision,
/// and a footer with status and time to contain.
pub fn incident(t: &Templates, m: &IncidentMessage) -> Result<SlackMessageContent, TemplateError> {
    let ctx = serde_json::json!({ "m": m });
    let mut blocks: Vec<SlackBlock> = vec![
        SlackHeaderBlock::new(pt!(cut(&m.title, 150))).into(),
        SlackSectionBlock::new()
            .with_text(md!(cut(&t.render("slack/incident.txt", &ctx)?, 3000)))
            .into(),
    ];
    for d in &m.decisions {
        blocks.push(SlackDividerBlock::new().into());
        let text = t.render("slack/decision.txt", serde_json::json!({ "m": m, "d": d }))?;
        blocks.push(
            SlackSectionBlock::new()
                .with_block_id(format!("{}-text", d.reference).into())
                .with_text(md!(cut(&text, 3000)))
                .into(),
        );
        if !d.buttons.is_empty() {
            blocks.push(
                SlackActionsBlock::new(d.buttons.iter().map(button).collect())
                    .with_block_id(d.reference.clone().into())
                    .into(),
            );
        }
    }
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(cut(&t.render("slack/footer.txt", &ctx)?, 3000)),
        )])
        .into(),
    );
    Ok(SlackMessageContent::new()
        .with_text(cut(&t.render("slack/notification.txt", &ctx)?, 3000))
        .with_blocks(blocks))
}

/// One thread reply.
pub fn timeline(t: &Templates, e: &TimelineEntry) -> Result<SlackMessageContent, TemplateError> {
    let name = if e.kind == "alert" {
        "slack/thread_alert.txt"
    } else {
        "slack/thread_event.txt"
    };
    let text = cut(&t.render(name, serde_json::json!({ "e": e }))?, 3000);
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
    let prompt = t.render("slack/reason_modal.txt", &ctx)?;
    let input = SlackInputBlock::new(
        pt!("Reason"),
        SlackBlockPlainTextInputElement::new()
            .with_action_id(REASON_ACTION.into())
            .with_multiline(true)
            .with_max_length(2000)
            .into(),
    )
    .with_block_id(REASON_BLOCK.into());
    let blocks: Vec<SlackBlock> = vec![
        SlackSectionBlock::new()
            .with_text(md!(cut(&prompt, 3000)))
            .into(),
        input.into(),
    ];
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
