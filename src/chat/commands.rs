//! `/cordon status|explain|report|isolate|disable`, platform-neutral: what
//! each subcommand does. The platforms parse their own wire format into a
//! [`Command`], run it here, and render the JSON result with their own
//! templates.
//!
//! Nothing here grants anything: a proposal goes through
//! [`Engine::propose`], and the matrix decides who approves it, with the
//! proposer recorded for separation of duties.

use crate::domain::action::TargetKind;
use crate::domain::decision::ActorRef;
use crate::domain::{ActionKind, ActionTarget, Actor, DecisionId, IncidentId, Severity};
use crate::engine::{Engine, platform_name};
use std::sync::Arc;

/// One `/cordon` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Explain {
        action: String,
        target: String,
    },
    Report,
    Isolate {
        host: String,
    },
    Disable {
        user: String,
    },
    /// Close an action's rate-guard breaker early (its `reset` roles).
    Reset {
        action: String,
    },
    Help,
}

impl Command {
    /// Whether only people named in the authority matrix get an answer.
    /// `status` lists open incidents and their targets, `explain` the
    /// rules and who may decide: neither is for every member of a
    /// workspace or guild (a guest, a compromised account scouting which
    /// hosts are watched and who must approve). `help` is for anyone;
    /// `report`, `isolate` and `disable` check the person themselves.
    pub fn needs_person(&self) -> bool {
        matches!(self, Command::Status | Command::Explain { .. })
    }

    /// From the words after `/cordon` (Slack sends text; Discord sends
    /// options, which the adapter turns into the same words).
    pub fn parse(words: &[&str]) -> Command {
        match words {
            ["status"] => Command::Status,
            ["explain", action, target] => Command::Explain {
                action: (*action).to_owned(),
                target: (*target).to_owned(),
            },
            ["report"] => Command::Report,
            ["isolate", host] => Command::Isolate {
                host: (*host).to_owned(),
            },
            ["disable", user] => Command::Disable {
                user: (*user).to_owned(),
            },
            ["reset", action] => Command::Reset {
                action: (*action).to_owned(),
            },
            _ => Command::Help,
        }
    }
}

/// Open incidents with their decisions still in motion:
/// `{"incidents": [{reference, title, severity, pending: [{reference, action, target, state}]}]}`.
pub async fn status(engine: &Engine) -> Result<serde_json::Value, String> {
    let store = &engine.store;
    let incidents = store
        .list_incidents(&crate::store::IncidentFilter {
            status: Some("open".into()),
            limit: Some(20),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in incidents {
        let pending: Vec<serde_json::Value> = store
            .decisions_of_incident(IncidentId(i.id))
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|d| {
                matches!(
                    d.state.as_str(),
                    "pending_approval" | "pending_veto" | "executing" | "failed"
                )
            })
            .map(|d| {
                serde_json::json!({
                    "reference": DecisionId(d.id).to_string(), "action": d.action,
                    "target": d.target_value, "state": d.state,
                })
            })
            .collect();
        out.push(serde_json::json!({
            "reference": IncidentId(i.id).to_string(), "title": i.title,
            "severity": i.severity().map(|s| s.as_str()).unwrap_or("unknown"), "pending": pending,
        }));
    }
    Ok(serde_json::json!({ "incidents": out }))
}

/// `cordon explain` for a high-severity incident on `target`: the rule
/// that applies and exactly who may approve, veto and override.
pub async fn explain(engine: &Engine, action: &str, target: &str) -> Result<String, String> {
    let action: ActionKind = action.parse()?;
    let kind = action.target_kind().unwrap_or(TargetKind::Host);
    let resolved = engine
        .resolve_target(
            &action,
            &ActionTarget {
                kind,
                value: target.to_owned(),
            },
            Severity::High,
            &Default::default(),
            &crate::enrich::Enrichment::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(engine.matrix().explain(&resolved.ctx).to_string())
}

/// A one-time sign-in link to the web console that lands on the reports,
/// for the person the chat platform vouched for (`/cordon report`). Only
/// people named in the authority matrix get one.
pub fn report_link(
    engine: &Engine,
    public_url: &str,
    web_secret: Option<&crate::config::Secret>,
    actor: &crate::domain::Actor,
) -> Result<String, String> {
    let base = public_url.trim_end_matches('/');
    let Some(secret) = web_secret else {
        return Ok(format!(
            "Reports: {base}/reports (sign in to the web console; CORDON_WEB_SECRET is not set, so no sign-in link)."
        ));
    };
    let Some(person) = engine.matrix().person_for(actor) else {
        return Err("you are not a person in the authority matrix, so no sign-in link".into());
    };
    let keys = crate::web::auth::WebKeys::new(secret.expose()).map_err(|e| e.to_string())?;
    let (token, _) = keys
        .login_token(
            &person,
            engine.now(),
            std::time::Duration::from_secs(15 * 60),
        )
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "Time-to-contain report for {person} (one-time sign-in link, valid 15 minutes): {}&next=/reports",
        crate::web::auth::login_url(base, &token)
    ))
}

/// `/cordon reset <action>`: closes the action's rate-guard breaker, for
/// a person holding one of its `reset` roles.
pub async fn reset(engine: &Engine, actor: &Actor, action: &str) -> Result<String, String> {
    let action: ActionKind = action.parse()?;
    engine
        .reset_rate_guard(actor, &action)
        .await
        .map_err(|e| e.to_string())
}

/// Why [`request`] proposed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The chat account maps to no person in the matrix (`source` names
    /// the matrix file); each platform says so in its own words.
    NotAPerson { source: String },
    /// The matrix does not let this person propose it (the message names
    /// the rule and the roles that may), or the target is not valid.
    Refused(String),
    /// The store or the engine failed.
    Failed(String),
}

impl From<String> for RequestError {
    fn from(e: String) -> Self {
        RequestError::Failed(e)
    }
}

/// A person proposes `action` on `target` from chat: a manual incident is
/// opened (its title names the person and `via`, how the platform calls
/// itself there) and the matrix decides the path. Returns
/// `{decision, action, target, incident, state, rule}`.
pub async fn request(
    engine: &Arc<Engine>,
    actor: &Actor,
    via: &str,
    action: ActionKind,
    target: &str,
) -> Result<serde_json::Value, RequestError> {
    let matrix = engine.matrix();
    let platform = platform_name(actor.platform);
    let Some(person) = matrix.person_for(actor) else {
        return Err(RequestError::NotAPerson {
            source: matrix.source.to_string(),
        });
    };
    let kind = action.target_kind().unwrap_or(TargetKind::Host);
    let target = ActionTarget {
        kind,
        value: target.to_owned(),
    };
    let aref = ActorRef {
        person: Some(person.clone()),
        platform: actor.platform,
        platform_user_id: actor.platform_user_id.clone(),
        role: None,
    };
    let (id, incident, rule) = engine
        .propose_by_hand(actor, aref, action.clone(), &target, Severity::High, via)
        .await
        .map_err(|e| match e {
            crate::engine::EngineError::ProposalRefused(m)
            | crate::engine::EngineError::InvalidTarget(m) => RequestError::Refused(m),
            other => RequestError::Failed(other.to_string()),
        })?;
    let state = engine
        .load(id)
        .await
        .map(|l| l.decision.state.as_str().to_owned())
        .unwrap_or_default();
    tracing::info!(user = %actor.platform_user_id, decision = %id, platform, "action proposed by a person");
    Ok(serde_json::json!({
        "decision": id.to_string(), "action": action.to_string(), "target": target.value,
        "incident": incident.to_string(), "state": state, "rule": rule,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_subcommands_and_anything_else_is_help() {
        assert_eq!(Command::parse(&["status"]), Command::Status);
        assert_eq!(
            Command::parse(&["isolate", "db-prod-01"]),
            Command::Isolate {
                host: "db-prod-01".into()
            }
        );
        assert_eq!(
            Command::parse(&["explain", "isolate_host", "ws-1"]),
            Command::Explain {
                action: "isolate_host".into(),
                target: "ws-1".into()
            }
        );
        assert_eq!(Command::parse(&["isolate"]), Command::Help);
        assert_eq!(Command::parse(&[]), Command::Help);
    }
}
