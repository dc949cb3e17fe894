//! `cordon replay`: policy is testable before it is trusted. Runs the stored
//! decisions of a period through another authority matrix and shows, side by
//! side with what really happened, which rule and path each action would
//! have taken, who would have been asked, and the projected time to contain.
//!
//! Pure: it reads decisions and events the caller loaded and does no I/O.

use crate::domain::clock::ClockFigures;
use crate::domain::decision::DecisionEvent;
use crate::domain::{ActionContext, Matrix, Mode};
use crate::store::DecisionRow;
use serde::Serialize;

/// One stored decision, then and under the candidate matrix.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReplayRow {
    pub decision: i64,
    pub action: String,
    pub target: String,
    pub tier: Option<String>,
    pub severity: String,
    pub was_rule: Option<String>,
    pub was_mode: String,
    /// The state it ended in (or is in).
    pub outcome: String,
    pub time_to_contain_ms: Option<i64>,
    /// Of that, the time spent waiting for people (proposed → execution).
    pub waited_ms: Option<i64>,
    pub new_rule: Option<String>,
    pub new_mode: String,
    /// Who the candidate matrix would ask (people and groups), for approval paths.
    pub would_ask: Vec<String>,
    pub changed: bool,
    /// Time to contain had the candidate matrix been in force: the human wait
    /// removed when it would have been automatic, the period's median wait
    /// for approvals added when it would have needed a human, none when it
    /// would have been forbidden.
    pub projected_time_to_contain_ms: Option<i64>,
}

/// Totals for the summary line.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReplaySummary {
    pub decisions: usize,
    pub changed: usize,
    pub would_auto_execute: usize,
    pub would_ask_people: usize,
    pub would_forbid: usize,
    pub median_time_to_contain_ms: Option<i64>,
    pub projected_median_time_to_contain_ms: Option<i64>,
}

fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[(v.len() - 1) / 2])
}

/// Replays `decisions` (with their events) through `candidate`.
pub fn replay(
    candidate: &Matrix,
    decisions: &[(DecisionRow, Vec<DecisionEvent>)],
) -> (Vec<ReplayRow>, ReplaySummary) {
    let figures: Vec<ClockFigures> = decisions
        .iter()
        .map(|(d, ev)| ClockFigures::compute(None, d.created_at, None, ev))
        .collect();
    // The period's typical wait for a human decision, to project paths that
    // would newly need one.
    let human_waits: Vec<i64> = decisions
        .iter()
        .zip(&figures)
        .filter(|((d, _), _)| d.mode == "approval" || d.mode == "veto_window")
        .filter_map(|(_, f)| f.decision_latency)
        .collect();
    let typical_wait = median(human_waits);
    let mut rows = Vec::new();
    for ((d, _), f) in decisions.iter().zip(&figures) {
        let Ok(ctx) = serde_json::from_str::<ActionContext>(&d.context) else {
            continue;
        };
        let ex = candidate.explain(&ctx);
        let new_mode = ex.mode;
        let waited = f.decision_latency;
        let ttc = f.time_to_contain;
        let projected = match (new_mode, d.mode.as_str()) {
            (Mode::Forbidden, _) => None,
            (Mode::Auto, _) => ttc.map(|t| t - waited.unwrap_or(0)),
            (_, "auto") => ttc.map(|t| t + typical_wait.unwrap_or(0)),
            _ => ttc,
        };
        let would_ask = if new_mode == Mode::Approval {
            ex.approvers.iter().map(|h| h.to_string()).collect()
        } else {
            Vec::new()
        };
        rows.push(ReplayRow {
            decision: d.id,
            action: d.action.clone(),
            target: d.target_value.clone(),
            tier: ctx.asset_tier.clone(),
            severity: ctx.severity.to_string(),
            was_rule: d.rule.clone(),
            was_mode: d.mode.clone(),
            outcome: d.state.clone(),
            time_to_contain_ms: ttc,
            waited_ms: waited,
            changed: ex.rule != d.rule || new_mode.as_str() != d.mode,
            new_rule: ex.rule.clone(),
            new_mode: new_mode.as_str().to_owned(),
            would_ask,
            projected_time_to_contain_ms: projected,
        });
    }
    let summary = ReplaySummary {
        decisions: rows.len(),
        changed: rows.iter().filter(|r| r.changed).count(),
        would_auto_execute: rows.iter().filter(|r| r.new_mode == "auto").count(),
        would_ask_people: rows
            .iter()
            .filter(|r| r.new_mode == "approval" || r.new_mode == "veto_window")
            .count(),
        would_forbid: rows.iter().filter(|r| r.new_mode == "forbidden").count(),
        median_time_to_contain_ms: median(
            rows.iter().filter_map(|r| r.time_to_contain_ms).collect(),
        ),
        projected_median_time_to_contain_ms: median(
            rows.iter()
                .filter_map(|r| r.projected_time_to_contain_ms)
                .collect(),
        ),
    };
    (rows, summary)
}

/// The table `cordon replay` prints.
pub fn render_table(rows: &[ReplayRow], s: &ReplaySummary) -> String {
    let ms = |v: Option<i64>| v.map_or("-".to_owned(), |m| format!("{:.1}s", m as f64 / 1000.0));
    let mut out = String::from(
        "decision\taction\ttarget\ttier\tseverity\twas (rule/mode → outcome, ttc)\twould be (rule/mode, ttc)\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{}dec-{}\t{}\t{}\t{}\t{}\t{}/{} → {}, {}\t{}/{}, {}{}\n",
            if r.changed { "* " } else { "  " },
            r.decision,
            r.action,
            r.target,
            r.tier.as_deref().unwrap_or("-"),
            r.severity,
            r.was_rule.as_deref().unwrap_or("(none)"),
            r.was_mode,
            r.outcome,
            ms(r.time_to_contain_ms),
            r.new_rule.as_deref().unwrap_or("(none)"),
            r.new_mode,
            ms(r.projected_time_to_contain_ms),
            if r.would_ask.is_empty() {
                String::new()
            } else {
                format!("; would ask {}", r.would_ask.join(", "))
            },
        ));
    }
    out.push_str(&format!(
        "\n{} decisions, {} would change: {} auto-executed, {} asking people, {} forbidden. \
         Median time to contain {} → projected {}.\n",
        s.decisions,
        s.changed,
        s.would_auto_execute,
        s.would_ask_people,
        s.would_forbid,
        ms(s.median_time_to_contain_ms),
        ms(s.projected_median_time_to_contain_ms)
    ));
    out
}
