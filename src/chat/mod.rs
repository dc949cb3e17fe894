//! The platform-neutral chat layer: what a message about an incident says,
//! which buttons it carries, where it goes, and what goes into its thread.
//!
//! Slack ([`slack`]) and Discord render the same [`IncidentMessage`] and
//! [`TimelineEntry`] values with their own templates and widgets, parse the
//! same [`ButtonId`]s back from clicks, and route with the same
//! [`routing::Routing`]. Nothing here talks to a platform or decides who may
//! act: a click always goes to [`crate::engine::Engine::act`], which judges it
//! against the matrix the decision was created under.
//!
//! The model is built from [`crate::http::incidents::incident_view`], the
//! same view the read API and the web console show, so the three surfaces
//! cannot disagree about an incident.
//!
//! Also shared, so that `slack/` and `discord/` keep only their wire
//! formats (Block Kit vs embeds, HMAC vs Ed25519, `response_url` vs
//! interaction responses): `/cordon` subcommands ([`commands`]), click
//! handling ([`act`]), the sync job plumbing ([`sync`]), per-channel
//! pacing ([`pacing`]) and the replay window of signed requests
//! ([`verify`]).

pub mod act;
pub mod commands;
pub mod discord;
pub mod escape;
pub mod pacing;
pub mod routing;
pub mod slack;
pub mod sync;
pub mod verify;

pub use pacing::Pacer;
pub use verify::ReplayGuard;

use crate::domain::decision::{DecisionEvent, DecisionState, EventKind, Verb, allowed_roles};
use crate::domain::{DecisionId, Matrix, Mode, PersonId, Timestamp};
use crate::enrich::Enrichment;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// Every verb a button can carry, in the order buttons are shown.
pub const VERBS: [Verb; 7] = [
    Verb::Approve,
    Verb::Deny,
    Verb::Veto,
    Verb::Override,
    Verb::Extend,
    Verb::Release,
    Verb::Retry,
];

/// Parses a verb from its wire name (`approve`, `deny`, …).
pub fn parse_verb(s: &str) -> Option<Verb> {
    VERBS.into_iter().find(|v| v.as_str() == s)
}

/// Verbs that record a reason: the platform asks for one (a modal) first.
pub fn needs_reason(v: Verb) -> bool {
    matches!(v, Verb::Deny | Verb::Veto | Verb::Override)
}

/// A button's identity on every platform: `approve:dec-42`. It is both the
/// Slack `action_id` / Discord `custom_id` and the value carried back on a
/// click; nothing else in the click payload is trusted to say what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonId {
    pub verb: Verb,
    pub decision: DecisionId,
}

impl fmt::Display for ButtonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.verb.as_str(), self.decision)
    }
}

impl std::str::FromStr for ButtonId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (verb, dec) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not a cordon button"))?;
        let verb = parse_verb(verb).ok_or_else(|| format!("`{verb}` is not a verb"))?;
        let decision = dec.parse::<DecisionId>()?;
        Ok(ButtonId { verb, decision })
    }
}

/// A button as templates and renderers see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Button {
    /// `approve:dec-42`.
    pub id: String,
    pub verb: &'static str,
    pub label: &'static str,
    /// `primary`, `danger` or none.
    pub style: Option<&'static str>,
}

impl Button {
    pub fn new(verb: Verb, decision: DecisionId) -> Button {
        let (label, style) = match verb {
            Verb::Approve => ("Approve", Some("primary")),
            Verb::Deny => ("Deny", Some("danger")),
            Verb::Veto => ("Veto", Some("danger")),
            Verb::Override => ("Override", None),
            Verb::Extend => ("Extend", None),
            Verb::Release => ("Release", None),
            Verb::Retry => ("Retry", Some("primary")),
        };
        Button {
            id: ButtonId { verb, decision }.to_string(),
            verb: verb.as_str(),
            label,
            style,
        }
    }
}

/// The buttons a decision in `state` offers under `rule`: only verbs that
/// the state machine accepts there and that some role may use. A button
/// is an offer, not a permission; the engine still checks the clicker.
pub fn buttons_for(
    state: DecisionState,
    rule: Option<&crate::domain::matrix::Rule>,
    step: u32,
) -> Vec<Verb> {
    use DecisionState as S;
    let Some(rule) = rule else { return vec![] };
    let offered: &[Verb] = match state {
        S::PendingApproval => &[Verb::Approve, Verb::Deny, Verb::Veto],
        S::PendingVeto => &[Verb::Veto],
        S::Denied | S::Vetoed => &[Verb::Override],
        S::Executing => &[Verb::Veto],
        S::Contained => &[Verb::Veto, Verb::Extend, Verb::Release],
        S::Failed => &[Verb::Retry],
        _ => &[],
    };
    // A veto after execution only exists where the rule rolls back.
    let late_veto = rule.after_execution_veto
        == crate::domain::matrix::AfterExecutionVeto::Rollback
        && rule.inverse.is_some();
    offered
        .iter()
        .copied()
        .filter(|v| !allowed_roles(rule, step, *v).is_empty())
        .filter(|v| *v != Verb::Extend || rule.max_duration.is_some())
        .filter(|v| *v != Verb::Release || rule.inverse.is_some())
        .filter(|v| {
            *v != Verb::Veto || matches!(state, S::PendingApproval | S::PendingVeto) || late_veto
        })
        .collect()
}

/// Who did something, as a platform shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Who {
    /// The matrix person, when the identity is known.
    pub person: Option<String>,
    /// `slack`, `discord`, `web`, `system`.
    pub platform: String,
    pub user_id: String,
    pub role: Option<String>,
}

impl Who {
    fn of(e: &DecisionEvent) -> Option<Who> {
        let a = e.actor.as_ref()?;
        if a.platform == crate::domain::Platform::System {
            return None;
        }
        Some(Who {
            person: a.person.as_ref().map(|p| p.0.clone()),
            platform: crate::engine::platform_name(a.platform).to_owned(),
            user_id: a.platform_user_id.clone(),
            role: a.role.clone(),
        })
    }
}

/// The facts about the asset acted on.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct AssetFacts {
    pub hostname: String,
    pub tier: Option<String>,
    pub environment: Option<String>,
    pub business_service: Option<String>,
    pub owners: Vec<String>,
}

/// The facts about the user involved.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct UserFacts {
    pub username: String,
    pub department: Option<String>,
    pub privileged: bool,
}

/// One evidence field the rule asks to show next to the buttons.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub field: String,
    /// `None` when the fact is unknown (shown as such: absence is evidence too).
    pub value: Option<String>,
}

/// One proposed action as a message shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionModel {
    pub id: i64,
    /// `dec-42`.
    pub reference: String,
    pub action: String,
    pub target: String,
    pub rule: Option<String>,
    /// `auto`, `veto_window`, `approval`, `forbidden`.
    pub mode: String,
    pub state: String,
    /// True once the decision can no longer move on its own or by a click.
    pub terminal: bool,
    /// Approval timeout, veto window end or containment expiry.
    pub deadline: Option<Timestamp>,
    pub deadline_unix: Option<i64>,
    pub quorum: u32,
    pub approvals: usize,
    /// Roles that may approve now (escalation included).
    pub approver_roles: Vec<String>,
    pub veto_roles: Vec<String>,
    pub override_roles: Vec<String>,
    pub approved_by: Vec<Who>,
    /// The person behind the last human decision (approve, deny, veto, override, …).
    pub decided_by: Option<Who>,
    pub decided_verb: Option<String>,
    pub reason: Option<String>,
    pub last_error: Option<String>,
    /// Why a guard sent this decision to a person instead of its rule's
    /// automatic path ("isolate_host rate guard open, 10 in 10m").
    pub guard: Option<String>,
    pub time_to_contain_ms: Option<i64>,
    pub evidence: Vec<Evidence>,
    pub buttons: Vec<Button>,
}

impl DecisionModel {
    /// True while the decision waits for a person: approval or a veto
    /// window pending, or a failed execution to retry. A message too long
    /// for its platform shows these first, with their buttons.
    pub fn needs_person(&self) -> bool {
        matches!(
            self.state.as_str(),
            "pending_approval" | "pending_veto" | "failed"
        )
    }
}

/// The decisions in the order a summarised message shows them: those that
/// [need a person](DecisionModel::needs_person) first, each group in its
/// own order.
pub fn by_urgency(decisions: &[DecisionModel]) -> Vec<&DecisionModel> {
    let (first, rest): (Vec<&DecisionModel>, Vec<&DecisionModel>) =
        decisions.iter().partition(|d| d.needs_person());
    first.into_iter().chain(rest).collect()
}

/// The incident's page in the web console, where a message too long for
/// its platform points for the decisions it leaves out.
pub fn console_link(public_url: &str, incident: i64) -> String {
    format!("{}/incidents/{incident}", public_url.trim_end_matches('/'))
}

/// The incident's main message, platform-neutral.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentMessage {
    pub incident_id: i64,
    /// `inc-42`.
    pub reference: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub drill: bool,
    /// `crowdstrike (edr-prod)`.
    pub source: String,
    pub detected_at: Timestamp,
    pub detected_unix: i64,
    /// Detection to now, as of rendering.
    pub age_ms: i64,
    pub opened_at: Timestamp,
    pub asset: Option<AssetFacts>,
    pub user: Option<UserFacts>,
    pub intel_hits: Vec<String>,
    pub alert_count: usize,
    /// Alerts beyond the first.
    pub related_alerts: usize,
    /// Enrichment is partial: some source timed out or failed.
    pub partial: bool,
    pub contained_at: Option<Timestamp>,
    pub time_to_contain_ms: Option<i64>,
    pub decisions: Vec<DecisionModel>,
}

/// One thread reply: a later alert or one decision event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelineEntry {
    /// Stable key, unique per incident: `alert:7`, `event:42:3`.
    pub key: String,
    pub at: Timestamp,
    pub at_unix: i64,
    /// `alert` or the event kind (`approved`, `vetoed`, `contained`, …).
    pub kind: String,
    pub decision: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub who: Option<Who>,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub reason: Option<String>,
    pub until_unix: Option<i64>,
    pub error: Option<String>,
}

fn str_of(v: &serde_json::Value, k: &str) -> Option<String> {
    v.get(k).and_then(|x| x.as_str()).map(str::to_owned)
}

fn ts_of(v: &serde_json::Value, k: &str) -> Option<Timestamp> {
    v.get(k)
        .and_then(|x| serde_json::from_value(x.clone()).ok())
}

fn severity_name(v: &serde_json::Value) -> String {
    v.as_i64()
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| crate::domain::Severity::ALL.get(i).copied())
        .map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned())
}

/// A one-line summary of an alert's observables (`hosts: a, b; users: c`).
fn summarise(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => Some(
            a.iter()
                .filter_map(summarise)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        serde_json::Value::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .filter_map(|(k, v)| {
                    summarise(v)
                        .filter(|s| !s.is_empty())
                        .map(|s| format!("{k}: {s}"))
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        other => Some(other.to_string()),
    }
}

/// One evidence field: `alert.<key>` from the first alert, anything else
/// from its enrichment ([`Enrichment::field`]).
fn evidence_value(
    path: &str,
    alert: &serde_json::Value,
    enrichment: &Enrichment,
) -> Option<String> {
    match path.strip_prefix("alert.") {
        Some(k) => alert.get(k).and_then(summarise),
        None => enrichment.field(path),
    }
}

impl IncidentMessage {
    /// Builds the model from an incident view (see
    /// [`crate::http::incidents::incident_view`]). `matrix_for` gives the
    /// matrix a decision was created under (by its hash). `now` only feeds
    /// the age shown.
    pub fn build(
        view: &serde_json::Value,
        matrix_for: &dyn Fn(&str) -> Option<std::sync::Arc<Matrix>>,
        now: Timestamp,
    ) -> IncidentMessage {
        let inc = &view["incident"];
        let alerts = view["alerts"].as_array().cloned().unwrap_or_default();
        // The view holds a bounded selection of the alerts; the count is
        // of all of them.
        let alert_count = view["alerts_total"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(alerts.len());
        let first = alerts.first().cloned().unwrap_or(serde_json::Value::Null);
        let enrichment: Enrichment = first
            .get("enrichment")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default();
        let detected_at = ts_of(inc, "detected_at").unwrap_or(now);
        let contained_at = ts_of(inc, "contained_at");
        // The alert's enrichment is recorded after its decisions are
        // proposed; until then the first host decision's context (what the
        // matrix judged) stands in, so routing and the message already know
        // the asset's tier and environment.
        let asset = enrichment
            .asset
            .as_ref()
            .map(|a| AssetFacts {
                hostname: a.hostname.clone(),
                tier: a.tier.clone(),
                environment: a.environment.clone(),
                business_service: a.business_service.clone(),
                owners: a.owners.clone(),
            })
            .or_else(|| asset_from_decisions(view));
        let user = enrichment.identity.as_ref().map(|i| UserFacts {
            username: i.username.clone(),
            department: i.department.clone(),
            privileged: i.privileged,
        });
        let mut intel_hits: Vec<String> = Vec::new();
        for a in &alerts {
            let e: Enrichment = a
                .get("enrichment")
                .and_then(|e| serde_json::from_value(e.clone()).ok())
                .unwrap_or_default();
            for h in e.intel_hits {
                let s = format!("{} ({})", h.indicator, h.list);
                if !intel_hits.contains(&s) {
                    intel_hits.push(s);
                }
            }
        }
        let decisions = view["decisions"]
            .as_array()
            .map(|ds| {
                ds.iter()
                    .map(|d| decision_model(d, &alerts, &enrichment, matrix_for))
                    .collect()
            })
            .unwrap_or_default();
        let source = match (str_of(&first, "format"), str_of(&first, "sender")) {
            (Some(f), Some(s)) => format!("{f} ({s})"),
            (Some(f), None) => f,
            _ => "manual request".to_owned(),
        };
        IncidentMessage {
            incident_id: inc["id"].as_i64().unwrap_or_default(),
            reference: format!("inc-{}", inc["id"].as_i64().unwrap_or_default()),
            title: str_of(inc, "title").unwrap_or_default(),
            severity: severity_name(&inc["severity"]),
            status: str_of(inc, "status").unwrap_or_default(),
            drill: inc["drill"].as_bool().unwrap_or(false),
            source,
            detected_at,
            detected_unix: detected_at.timestamp(),
            age_ms: (now - detected_at).num_milliseconds().max(0),
            opened_at: ts_of(inc, "opened_at").unwrap_or(now),
            asset,
            user,
            intel_hits,
            alert_count,
            related_alerts: alert_count.saturating_sub(1),
            partial: first["enrichment_partial"].as_bool().unwrap_or(false),
            contained_at,
            time_to_contain_ms: contained_at.map(|c| (c - detected_at).num_milliseconds()),
            decisions,
        }
    }

    /// The people a per-incident channel should hold: members of every role
    /// that may act on one of its decisions, and the asset owners.
    pub fn people_involved(&self, matrix: &Matrix) -> BTreeSet<PersonId> {
        let mut roles: BTreeSet<&str> = BTreeSet::new();
        for d in &self.decisions {
            for r in d
                .approver_roles
                .iter()
                .chain(&d.veto_roles)
                .chain(&d.override_roles)
            {
                roles.insert(r.as_str());
            }
        }
        let mut out = BTreeSet::new();
        for r in roles {
            if let Some(role) = matrix.roles.get(r) {
                out.extend(role.members.iter().cloned());
            }
        }
        if let Some(a) = &self.asset {
            for o in &a.owners {
                let id = PersonId(o.clone());
                if matrix.people.contains_key(&id) {
                    out.insert(id);
                } else if let Some(p) = matrix
                    .people
                    .values()
                    .find(|p| p.email.as_deref() == Some(o.as_str()))
                {
                    out.insert(p.id.clone());
                }
            }
        }
        out
    }

    /// The role names whose platform groups should be invited too.
    pub fn roles_involved(&self) -> BTreeSet<String> {
        self.decisions
            .iter()
            .flat_map(|d| {
                d.approver_roles
                    .iter()
                    .chain(&d.veto_roles)
                    .chain(&d.override_roles)
                    .cloned()
            })
            .collect()
    }
}

/// Asset facts from the first decision about a host, as the matrix saw them.
fn asset_from_decisions(view: &serde_json::Value) -> Option<AssetFacts> {
    view["decisions"].as_array()?.iter().find_map(|d| {
        if d["target_kind"].as_str() != Some("host") {
            return None;
        }
        let ctx: crate::domain::ActionContext =
            serde_json::from_str(d["context"].as_str()?).ok()?;
        if ctx.asset_tier.is_none() && ctx.environment.is_none() {
            return None;
        }
        Some(AssetFacts {
            hostname: str_of(d, "target_value").unwrap_or_default(),
            tier: ctx.asset_tier,
            environment: ctx.environment,
            business_service: None,
            owners: ctx.asset_owners,
        })
    })
}

fn decision_model(
    d: &serde_json::Value,
    alerts: &[serde_json::Value],
    first_enrichment: &Enrichment,
    matrix_for: &dyn Fn(&str) -> Option<std::sync::Arc<Matrix>>,
) -> DecisionModel {
    let id = DecisionId(d["id"].as_i64().unwrap_or_default());
    let events: Vec<DecisionEvent> = d
        .get("events")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    let folded = crate::domain::decision::Decision::replay(id, &events).ok();
    let matrix = str_of(d, "matrix_hash").and_then(|h| matrix_for(&h));
    let rule_name = str_of(d, "rule");
    let guard = folded.as_ref().and_then(|f| f.guard.clone());
    let rule = matrix
        .as_deref()
        .zip(rule_name.as_deref())
        .and_then(|(m, n)| m.effective_rule(n, guard.as_ref()));
    let rule = rule.as_ref();
    let state = folded.as_ref().map_or(DecisionState::Proposed, |f| f.state);
    let step = folded.as_ref().map_or(0, |f| f.escalation_step);
    let alert = d["alert_id"]
        .as_i64()
        .and_then(|aid| alerts.iter().find(|a| a["id"].as_i64() == Some(aid)))
        .or_else(|| alerts.first())
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let enrichment: Enrichment = alert
        .get("enrichment")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_else(|| first_enrichment.clone());
    let evidence = rule
        .map(|r| {
            r.evidence
                .iter()
                .map(|f| Evidence {
                    field: f.clone(),
                    value: evidence_value(f, &alert, &enrichment),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut decided: Option<(Who, String, Option<String>)> = None;
    let mut approved_by = Vec::new();
    for e in &events {
        let (verb, reason) = match &e.kind {
            EventKind::Approved { reason } => {
                if let Some(w) = Who::of(e) {
                    approved_by.push(w);
                }
                ("approved", reason.clone())
            }
            EventKind::Denied { reason } => ("denied", reason.clone()),
            EventKind::Vetoed { reason } => ("vetoed", reason.clone()),
            EventKind::Overridden { reason, .. } => ("overridden", reason.clone()),
            EventKind::Extended { .. } => ("extended", None),
            _ => continue,
        };
        if let Some(w) = Who::of(e) {
            decided = Some((w, verb.to_owned(), reason));
        }
    }
    let clock_ttc = d["clock"]["time_to_contain"].as_i64();
    let (decided_by, decided_verb, reason) = match decided {
        Some((w, v, r)) => (Some(w), Some(v), r),
        None => (None, None, None),
    };
    let buttons = buttons_for(state, rule, step)
        .into_iter()
        .map(|v| Button::new(v, id))
        .collect();
    let deadline = folded.as_ref().and_then(|f| f.deadline);
    DecisionModel {
        id: id.0,
        reference: id.to_string(),
        action: str_of(d, "action").unwrap_or_default(),
        target: str_of(d, "target_value").unwrap_or_default(),
        rule: rule_name,
        mode: rule.map_or_else(
            || str_of(d, "mode").unwrap_or_else(|| "forbidden".into()),
            |r| r.mode.as_str().to_owned(),
        ),
        state: state.as_str().to_owned(),
        terminal: matches!(
            state,
            DecisionState::Forbidden
                | DecisionState::Expired
                | DecisionState::RolledBack
                | DecisionState::Denied
                | DecisionState::Vetoed
        ),
        deadline,
        deadline_unix: deadline.map(|t| t.timestamp()),
        quorum: rule.map_or(0, |r| {
            if r.mode == Mode::Approval {
                r.quorum
            } else {
                0
            }
        }),
        approvals: folded.as_ref().map_or(0, |f| f.approvals.len()),
        approver_roles: rule.map(|r| r.approver_roles(step)).unwrap_or_default(),
        veto_roles: rule.map(|r| r.veto.clone()).unwrap_or_default(),
        override_roles: rule.map(|r| r.override_roles.clone()).unwrap_or_default(),
        approved_by,
        decided_by,
        decided_verb,
        reason,
        last_error: folded.as_ref().and_then(|f| f.last_error.clone()),
        guard: guard.map(|g| g.to_string()),
        time_to_contain_ms: clock_ttc,
        evidence,
        buttons,
    }
}

/// How many related alerts get a thread reply of their own. A flood of
/// alerts on one incident (a worm, a noisy rule) would otherwise bury the
/// decisions in the thread, and could not be posted anyway: Slack takes about
/// one message per second per channel. Past this many, the thread says once
/// that further alerts are only counted in the incident message (which shows
/// the running count), and the console lists them all.
pub const THREAD_ALERTS: usize = 10;

/// How many of an incident's first alerts a chat view reads: the first
/// (the main message), [`THREAD_ALERTS`] thread replies, and one more to
/// know there are more. Alerts with decisions or intel hits come anyway.
const VIEW_ALERTS: i64 = THREAD_ALERTS as i64 + 2;

/// The timeline entry kind that stands for every related alert past
/// [`THREAD_ALERTS`].
pub const MORE_ALERTS: &str = "more_alerts";

/// The thread of an incident: the first [`THREAD_ALERTS`] alerts after the
/// first (then one [`MORE_ALERTS`] note), and every decision event, oldest
/// first.
pub fn timeline(view: &serde_json::Value) -> Vec<TimelineEntry> {
    let mut out = Vec::new();
    let alerts = view["alerts"].as_array().cloned().unwrap_or_default();
    for (n, a) in alerts.iter().skip(1).enumerate() {
        let at = ts_of(a, "received_at").unwrap_or_default();
        if n == THREAD_ALERTS {
            out.push(TimelineEntry {
                key: "alerts:more".into(),
                at,
                at_unix: at.timestamp(),
                kind: MORE_ALERTS.into(),
                decision: None,
                action: None,
                target: None,
                who: None,
                title: None,
                severity: None,
                reason: None,
                until_unix: None,
                error: None,
            });
            break;
        }
        out.push(TimelineEntry {
            key: format!("alert:{}", a["id"].as_i64().unwrap_or_default()),
            at,
            at_unix: at.timestamp(),
            kind: "alert".into(),
            decision: None,
            action: None,
            target: None,
            who: None,
            title: str_of(a, "title"),
            severity: Some(severity_name(&a["severity"])),
            reason: None,
            until_unix: None,
            error: None,
        });
    }
    for d in view["decisions"].as_array().cloned().unwrap_or_default() {
        let id = d["id"].as_i64().unwrap_or_default();
        let events: Vec<DecisionEvent> = d
            .get("events")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default();
        for e in events {
            let (reason, until, error) = match &e.kind {
                EventKind::Approved { reason }
                | EventKind::Denied { reason }
                | EventKind::Vetoed { reason }
                | EventKind::Overridden { reason, .. } => (reason.clone(), None, None),
                EventKind::ApprovalRequested { until } | EventKind::Escalated { until, .. } => {
                    (None, *until, None)
                }
                EventKind::VetoWindowOpened { until } | EventKind::Extended { until } => {
                    (None, Some(*until), None)
                }
                EventKind::Contained { expires_at } => (None, *expires_at, None),
                EventKind::ExecutionFailed { error, .. } => (None, None, Some(error.clone())),
                EventKind::RollbackRequested { reason } => (Some(reason.clone()), None, None),
                _ => (None, None, None),
            };
            out.push(TimelineEntry {
                key: format!("event:{id}:{}", e.seq),
                at: e.at,
                at_unix: e.at.timestamp(),
                kind: e.kind.name().to_owned(),
                decision: Some(DecisionId(id).to_string()),
                action: str_of(&d, "action"),
                target: str_of(&d, "target_value"),
                who: Who::of(&e),
                title: None,
                severity: None,
                reason,
                until_unix: until.map(|t| t.timestamp()),
                error,
            });
        }
    }
    // Stable: at equal times alerts come first (by id), then each
    // decision's events in sequence order.
    out.sort_by_key(|e| e.at);
    out
}

/// An incident as every chat surface shows it: the incident view (see
/// [`crate::http::incidents::incident_view`]) and the message model built
/// from it, each decision judged under the matrix it was created under.
/// `Ok(None)`: no such incident. `Err`: the store failed (retry later).
pub async fn load_model(
    engine: &crate::engine::Engine,
    incident: crate::domain::IncidentId,
) -> Result<Option<(serde_json::Value, IncidentMessage)>, String> {
    let view = match crate::http::incidents::incident_view(engine, incident, VIEW_ALERTS).await {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(None),
        Err(e) => return Err(format!("{e:?}")),
    };
    let mut matrices: std::collections::HashMap<String, std::sync::Arc<Matrix>> =
        std::collections::HashMap::new();
    for d in view["decisions"].as_array().into_iter().flatten() {
        let Some(h) = d["matrix_hash"].as_str() else {
            continue;
        };
        if matrices.contains_key(h) {
            continue;
        }
        if let Ok(m) = engine.matrix_for(h).await {
            matrices.insert(h.to_owned(), m);
        }
    }
    let m = IncidentMessage::build(&view, &|h| matrices.get(h).cloned(), engine.now());
    Ok(Some((view, m)))
}

/// True while the incident's first alert has no enrichment record yet.
/// The pipeline proposes before it records enrichment (containment must
/// not wait for bookkeeping), so the first chat job can run before the
/// asset is known; routing on an unknown asset would send a production
/// incident to triage. The pipeline sends another chat notice right after
/// the record, so the first post simply waits for that one.
pub fn awaiting_enrichment(view: &serde_json::Value) -> bool {
    view["alerts"]
        .as_array()
        .and_then(|a| a.first())
        .is_some_and(|a| a["enrichment"].is_null())
}

/// Whether `actor` holds a role that may use `button` now. Only to spare
/// someone a reason form that would be refused anyway: without the role the
/// click goes straight to [`crate::engine::Engine::act`], which refuses it,
/// says why and audits it. The engine decides either way; when in doubt
/// this says yes.
pub async fn may_act(
    engine: &crate::engine::Engine,
    actor: &crate::domain::Actor,
    button: ButtonId,
) -> bool {
    let Ok(l) = engine.load(button.decision).await else {
        return true;
    };
    let (Some(rule), Ok(ctx)) = (
        l.rule(),
        serde_json::from_str::<crate::domain::ActionContext>(&l.row.context),
    ) else {
        return true;
    };
    let roles = l.matrix.roles_of(actor, &ctx);
    allowed_roles(&rule, l.decision.escalation_step, button.verb)
        .iter()
        .any(|r| roles.contains(r))
}

/// The name of a per-incident channel: `inc-20261123-42-ransomware-detected`,
/// lowercase, `[a-z0-9-]`, at most 80 characters (Slack's limit; Discord's
/// is 100).
pub fn incident_channel_name(incident: i64, opened_at: Timestamp, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let head = format!("inc-{}-{incident}", opened_at.format("%Y%m%d"));
    let room = 80usize.saturating_sub(head.len() + 1);
    let slug: String = slug.chars().take(room).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        head
    } else {
        format!("{head}-{slug}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_ids_round_trip_and_reject_anything_else() {
        for v in VERBS {
            let b = ButtonId {
                verb: v,
                decision: DecisionId(42),
            };
            assert_eq!(b.to_string().parse::<ButtonId>(), Ok(b));
        }
        assert_eq!(
            Button::new(Verb::Approve, DecisionId(42)).id,
            "approve:dec-42"
        );
        assert!("launch:dec-1".parse::<ButtonId>().is_err());
        assert!("approve".parse::<ButtonId>().is_err());
        assert!("approve:dec-x".parse::<ButtonId>().is_err());
    }

    #[test]
    fn buttons_follow_the_state_and_the_rule() {
        let text = include_str!("../../config/authority.toml");
        let m = Matrix::parse("authority.toml", text).expect("example matrix");
        let crown = m.rule("crown-jewels");
        let ws = m.rule("contain-workstations");
        use DecisionState as S;
        assert_eq!(
            buttons_for(S::PendingApproval, crown, 0),
            [Verb::Approve, Verb::Deny, Verb::Veto]
        );
        assert_eq!(buttons_for(S::PendingVeto, crown, 0), [Verb::Veto]);
        assert_eq!(buttons_for(S::Vetoed, crown, 0), [Verb::Override]);
        assert_eq!(buttons_for(S::Failed, crown, 0), [Verb::Retry]);
        // crown-jewels has no veto after execution; workstations roll back.
        assert!(!buttons_for(S::Contained, crown, 0).contains(&Verb::Veto));
        assert!(buttons_for(S::Contained, ws, 0).contains(&Verb::Veto));
        assert!(buttons_for(S::Contained, ws, 0).contains(&Verb::Release));
        assert!(buttons_for(S::Forbidden, None, 0).is_empty());
        assert!(buttons_for(S::Expired, crown, 0).is_empty());
    }

    #[test]
    fn channel_names_are_slack_safe_and_bounded() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        assert_eq!(
            incident_channel_name(42, t, "Ransomware detected on DB-PROD-01!"),
            "inc-20261123-42-ransomware-detected-on-db-prod-01"
        );
        let long = incident_channel_name(7, t, &"x".repeat(200));
        assert!(long.len() <= 80, "{long}");
        assert_eq!(incident_channel_name(7, t, "!!!"), "inc-20261123-7");
    }

    #[test]
    fn observables_summarise_on_one_line() {
        let v = serde_json::json!({"hosts": ["a", "b"], "users": ["c"], "ips": []});
        assert_eq!(summarise(&v).as_deref(), Some("hosts: a, b; users: c"));
    }
}
