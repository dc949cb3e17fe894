//! What a click does once a platform has said who clicked: the verb goes
//! to [`Engine::act`], and the answer (done, refused with the rule and the
//! roles that may act, or failed) is rendered for the person privately.
//! Shared by Slack and Discord; each says it in its own [`Voice`]
//! (templates, escaping, warning sign) and delivers it its own way
//! (`response_url`, an interaction response, a deferred follow-up).
//!
//! Nothing here decides anything: the engine judges the click against the
//! matrix and audits refusals before this renders them.

use crate::chat::ButtonId;
use crate::domain::decision::Verb;
use crate::domain::{Actor, DecisionId};
use crate::engine::{Engine, EngineError};
use crate::templates::TemplateError;
use std::sync::Arc;

/// How a platform words cordon's private answers.
pub trait Voice {
    /// `slack` or `discord`: the template folder (`<platform>/ack.txt`,
    /// `<platform>/refusal.txt`) and the log prefix.
    fn platform(&self) -> &'static str;
    /// What a warning starts with (`:warning:` on Slack, `⚠️` on Discord).
    fn warning(&self) -> &'static str;
    /// Renders one of the platform's templates (escaping as it needs).
    fn render(&self, template: &str, ctx: serde_json::Value) -> Result<String, TemplateError>;
    /// Escapes text that is not cordon's own (an error that may quote a
    /// vendor or what someone typed) for the platform's markup.
    fn escape(&self, text: &str) -> String;
}

/// The past tense of a verb, for "you approved dec-4".
pub fn past(v: Verb) -> &'static str {
    match v {
        Verb::Approve => "approved",
        Verb::Deny => "denied",
        Verb::Veto => "vetoed",
        Verb::Override => "overrode",
        Verb::Extend => "extended",
        Verb::Release => "released",
        Verb::Retry => "retried",
    }
}

/// The button label of a verb ("Approve", "Veto", …).
pub fn label(v: Verb) -> &'static str {
    crate::chat::Button::new(v, DecisionId(0)).label
}

/// One verb for one person; the private answer saying how it went.
/// Refusals name the rule and the roles that may act; the engine has
/// already audited them.
pub async fn act_and_say(
    voice: &impl Voice,
    engine: &Arc<Engine>,
    actor: &Actor,
    button: ButtonId,
    reason: Option<String>,
) -> String {
    let (platform, warning) = (voice.platform(), voice.warning());
    let verb = button.verb;
    let text = match engine.act(actor, button.decision, verb, reason).await {
        Ok(r) => voice.render(
            &format!("{platform}/ack.txt"),
            serde_json::json!({
                "changed": r.changed, "verb": verb.as_str(), "done": past(verb),
                "decision": r.decision.to_string(), "state": r.state.as_str(),
                "approvals": r.approvals, "quorum": if verb == Verb::Approve { r.quorum } else { 0 },
            }),
        ),
        Err(EngineError::Refused(e)) => {
            tracing::info!(user = %actor.platform_user_id, decision = %button.decision, verb = %verb, "{platform}: click refused");
            voice.render(
                &format!("{platform}/refusal.txt"),
                serde_json::json!({
                    "verb": verb.as_str(), "decision": button.decision.to_string(), "message": e.to_string(),
                }),
            )
        }
        Err(e) => Ok(format!(
            "{warning} {} {}: {}",
            label(verb),
            button.decision,
            voice.escape(&e.to_string())
        )),
    };
    text.unwrap_or_else(|e| format!("{warning} {}", voice.escape(&e.to_string())))
}

/// What the reason form for `button` shows: the verb, the decision, its
/// action and target.
pub async fn reason_context(
    engine: &Engine,
    button: ButtonId,
) -> Result<serde_json::Value, String> {
    let l = engine
        .load(button.decision)
        .await
        .map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "verb": button.verb.as_str(), "decision": button.decision.to_string(),
        "action": l.row.action, "target": l.row.target_value,
    }))
}
