//! Time-to-contain and MTTR reports: one aggregation ([`build`]) that feeds
//! every output — the `/reports` page, `/reports.csv`, `/reports.json`,
//! `cordon report` and the weekly digest — so they cannot disagree.
//!
//! Everything is computed from stored events; nothing is cached. The
//! statistics are exact and reproducible:
//! - **median** and **p90** use the *nearest-rank* method: the value at
//!   rank `ceil(p/100 · n)` of the sorted sample. It is always a value that
//!   really occurred (no interpolation), which is what an auditor checks;
//! - **mean** is rounded to the nearest millisecond (halves away from zero);
//! - **rates** are `count / of` with `of` = the decisions in scope, and a
//!   percentage rounded to one decimal.
//!
//! This module reads no clock: the reference time for open SLA breaches is
//! an argument.

pub mod digest;
pub mod render;
pub mod svg;

use crate::domain::clock::{ClockFigures, Milestones};
use crate::domain::time::millis_between;
use crate::domain::{ActionContext, Severity, Timestamp};
use crate::store::{IncidentRow, ReportDecision};
use chrono::Datelike;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// `[reports]` in cordon.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Time-to-contain targets per severity, e.g. `critical = "15m"`.
    /// A severity without a target has no SLA.
    pub sla: BTreeMap<String, String>,
    /// The weekly digest.
    pub digest: DigestConfig,
    /// How long the web console reuses a report computed for the same
    /// filters (`0s` = always recompute). Reports read a whole period; this
    /// keeps a dashboard that several managers reload cheap.
    pub cache_ttl: String,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        let sla = [
            ("critical", "15m"),
            ("high", "1h"),
            ("medium", "4h"),
            ("low", "24h"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        ReportsConfig {
            sla,
            digest: DigestConfig::default(),
            cache_ttl: "15s".into(),
        }
    }
}

/// `[reports.digest]`: when the weekly digest is due and where it goes.
/// Posting it to chat is the chat surfaces' job; this module builds its text.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    pub enabled: bool,
    /// Day of the week (`mon` … `sun`).
    pub day: String,
    /// `HH:MM`, UTC.
    pub time: String,
    /// The period the digest covers, back from when it is sent.
    pub period: String,
    pub slack_channel: Option<String>,
    pub discord_channel: Option<String>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            enabled: false,
            day: "mon".into(),
            time: "09:00".into(),
            period: "7d".into(),
            slack_channel: None,
            discord_channel: None,
        }
    }
}

impl DigestConfig {
    /// The first send time strictly after `after`.
    pub fn next_due(&self, after: Timestamp) -> Result<Timestamp, String> {
        let day = match self.day.to_ascii_lowercase().get(..3) {
            Some("mon") => chrono::Weekday::Mon,
            Some("tue") => chrono::Weekday::Tue,
            Some("wed") => chrono::Weekday::Wed,
            Some("thu") => chrono::Weekday::Thu,
            Some("fri") => chrono::Weekday::Fri,
            Some("sat") => chrono::Weekday::Sat,
            Some("sun") => chrono::Weekday::Sun,
            _ => {
                return Err(format!(
                    "[reports.digest] day `{}`: use mon … sun",
                    self.day
                ));
            }
        };
        let t = chrono::NaiveTime::parse_from_str(&self.time, "%H:%M")
            .map_err(|_| format!("[reports.digest] time `{}`: use HH:MM (UTC)", self.time))?;
        let mut date = after.date_naive();
        for _ in 0..8 {
            let at = date.and_time(t).and_utc();
            if date.weekday() == day && at > after {
                return Ok(at);
            }
            date = date.succ_opt().ok_or("date out of range")?;
        }
        Err("no send time found".into())
    }

    pub fn period(&self) -> Result<Duration, String> {
        crate::domain::time::parse_duration(&self.period)
            .map_err(|e| format!("[reports.digest] period: {e}"))
    }
}

impl ReportsConfig {
    pub fn cache_ttl(&self) -> Result<Duration, String> {
        crate::domain::time::parse_duration(&self.cache_ttl)
            .map_err(|e| format!("[reports] cache_ttl: {e}"))
    }
}

/// Parsed SLA targets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlaTargets(pub BTreeMap<Severity, Duration>);

impl ReportsConfig {
    /// Checks the section; errors say which key is wrong.
    pub fn sla_targets(&self) -> Result<SlaTargets, String> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.sla {
            let sev: Severity = k
                .parse()
                .map_err(|e: String| format!("[reports] sla.{k}: {e}"))?;
            let d = crate::domain::time::parse_duration(v)
                .map_err(|e| format!("[reports] sla.{k}: {e}"))?;
            out.insert(sev, d);
        }
        self.cache_ttl()?;
        self.digest.next_due(chrono::DateTime::UNIX_EPOCH)?;
        self.digest.period()?;
        Ok(SlaTargets(out))
    }
}

/// The path a decision took through the matrix.
pub const PATHS: [&str; 3] = ["auto", "veto_window", "approval"];

/// What a report covers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    pub severity: Option<Severity>,
    pub action: Option<String>,
    pub rule: Option<String>,
    /// `auto`, `veto_window` or `approval`.
    pub path: Option<String>,
    pub team: Option<String>,
    pub environment: Option<String>,
    /// Drills are reported apart and excluded by default (DESIGN §3).
    pub include_drills: bool,
}

impl ReportQuery {
    pub fn new(from: Timestamp, to: Timestamp) -> ReportQuery {
        ReportQuery {
            from,
            to,
            severity: None,
            action: None,
            rule: None,
            path: None,
            team: None,
            environment: None,
            include_drills: false,
        }
    }

    /// Checks filter values that have a closed set.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = &self.path
            && !PATHS.contains(&p.as_str())
        {
            return Err(format!("path `{p}`: use auto, veto_window or approval"));
        }
        if self.from >= self.to {
            return Err("the period is empty: `from` must be before `to`".into());
        }
        Ok(())
    }
}

/// Report filters as they arrive from a query string or the CLI: strings,
/// empty meaning "any". [`ReportParams::to_query`] parses them, so the web
/// page, the downloads and `cordon report` accept exactly the same values.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportParams {
    /// A duration back from now (`30d`, the default) …
    pub since: Option<String>,
    /// … or an explicit period (RFC 3339), `to` defaulting to now.
    pub from: Option<String>,
    pub to: Option<String>,
    pub severity: Option<String>,
    pub action: Option<String>,
    pub rule: Option<String>,
    pub path: Option<String>,
    pub team: Option<String>,
    pub environment: Option<String>,
    /// `on` / `true` includes drills.
    pub drills: Option<String>,
    /// CSV only: one table (`figures`, `path`, `rates`, …).
    pub table: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn parse_time(name: &str, v: &str) -> Result<Timestamp, String> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{name} `{v}`: {e} (use RFC 3339, e.g. 2026-11-01T00:00:00Z)"))
}

impl ReportParams {
    pub fn to_query(&self, now: Timestamp) -> Result<ReportQuery, String> {
        let to = match given(&self.to) {
            Some(v) => parse_time("to", &v)?,
            // The period is [from, to): without an explicit end it must
            // include what happened at this very instant.
            None => now + chrono::Duration::milliseconds(1),
        };
        let from = match (given(&self.from), given(&self.since)) {
            (Some(_), Some(_)) => return Err("give either `since` or `from`, not both".into()),
            (Some(v), None) => parse_time("from", &v)?,
            (None, since) => {
                let d = crate::domain::time::parse_duration(since.as_deref().unwrap_or("30d"))
                    .map_err(|e| format!("since: {e}"))?;
                to - chrono::Duration::from_std(d).map_err(|e| format!("since: {e}"))?
            }
        };
        let severity = match given(&self.severity) {
            None => None,
            Some(v) => Some(
                v.parse::<Severity>()
                    .map_err(|e| format!("severity: {e}"))?,
            ),
        };
        let q = ReportQuery {
            from,
            to,
            severity,
            action: given(&self.action),
            rule: given(&self.rule),
            path: given(&self.path),
            team: given(&self.team),
            environment: given(&self.environment),
            include_drills: matches!(given(&self.drills).as_deref(), Some("on" | "true" | "1")),
        };
        q.validate()?;
        Ok(q)
    }
}

/// Reads the period from the store and builds the report: the one function
/// behind every output.
pub async fn run(
    store: &crate::store::Store,
    q: &ReportQuery,
    sla: &SlaTargets,
    now: Timestamp,
) -> Result<Report, crate::store::StoreError> {
    let decisions = store.report_decisions(q.from, q.to).await?;
    let incidents = store.incidents_between(q.from, q.to).await?;
    Ok(build(q, &decisions, &incidents, sla, now))
}

/// count / median / p90 / mean of a sample of milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    pub count: usize,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
    pub mean_ms: Option<i64>,
}

/// The value at nearest rank `ceil(p/100 · n)` of a sorted sample.
fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (n * p as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

impl Stats {
    pub fn of(mut sample: Vec<i64>) -> Stats {
        sample.sort_unstable();
        let n = sample.len();
        let mean = if n == 0 {
            None
        } else {
            let sum: i128 = sample.iter().map(|&v| i128::from(v)).sum();
            let n = n as i128;
            // Round half away from zero; samples are never negative.
            Some(((2 * sum + n) / (2 * n)) as i64)
        };
        Stats {
            count: n,
            median_ms: nearest_rank(&sample, 50),
            p90_ms: nearest_rank(&sample, 90),
            mean_ms: mean,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FigureRow {
    pub figure: String,
    pub stats: Stats,
}

/// Time to contain by path: the execution gap.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PathRow {
    pub path: String,
    pub decisions: usize,
    pub contained: usize,
    pub time_to_contain: Stats,
    /// Proposed → execution requested: waiting for people and veto windows.
    pub decision_latency: Stats,
    /// Share of the summed time to contain spent in decision latency, in
    /// percent (one decimal), over decisions that have both figures.
    pub waiting_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoleRow {
    pub role: String,
    /// Approval requested → this role's approval.
    pub stats: Stats,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RateRow {
    pub rate: String,
    pub count: usize,
    pub of: usize,
    pub pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlaRow {
    pub severity: String,
    pub target_ms: i64,
    /// Decisions that should have contained (auto / veto window / approval,
    /// not stopped by a person: denied and vetoed ones are left out).
    pub considered: usize,
    pub met: usize,
    /// Contained after the target, or still not contained past it.
    pub breached: usize,
    pub breached_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupRow {
    /// `severity`, `action`, `rule` or `team`.
    pub by: String,
    pub key: String,
    pub decisions: usize,
    pub time_to_contain: Stats,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IncidentFigures {
    pub incidents: usize,
    /// Detected → first human interaction.
    pub mtta: Stats,
    /// Detected → first containment confirmed.
    pub time_to_contain: Stats,
    /// Detected → resolved.
    pub mttr: Stats,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WeekRow {
    /// ISO week, `2026-W47`.
    pub week: String,
    /// Its Monday.
    pub starts: chrono::NaiveDate,
    pub decisions: usize,
    pub contained: usize,
    pub time_to_contain: Stats,
}

/// A whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub query: ReportQuery,
    pub decisions: usize,
    pub figures: Vec<FigureRow>,
    pub by_path: Vec<PathRow>,
    pub approval_latency: Vec<RoleRow>,
    pub rates: Vec<RateRow>,
    pub sla: Vec<SlaRow>,
    pub groups: Vec<GroupRow>,
    pub incidents: IncidentFigures,
    pub weekly: Vec<WeekRow>,
}

fn pct(count: usize, of: usize) -> Option<f64> {
    if of == 0 {
        return None;
    }
    // Tenths of a percent, rounded half up, computed in integers so the
    // figure is exact and the same on every output.
    let tenths = (count as u64 * 2000 + of as u64) / (2 * of as u64);
    Some(tenths as f64 / 10.0)
}

/// One decision after parsing, with its figures.
struct Row<'a> {
    d: &'a ReportDecision,
    severity: Option<Severity>,
    figures: ClockFigures,
    start: Timestamp,
}

/// Builds the report for `q` from the decisions and incidents of its period.
/// `now` is the reference for decisions still waiting (open SLA breaches);
/// it is capped at the end of the period so a past period reads the same
/// whenever it is asked for.
pub fn build(
    q: &ReportQuery,
    decisions: &[ReportDecision],
    incidents: &[IncidentRow],
    sla: &SlaTargets,
    now: Timestamp,
) -> Report {
    let reference = now.min(q.to);
    let rows: Vec<Row> = decisions
        .iter()
        .filter(|d| q.include_drills || !d.drill)
        .filter(|d| q.action.as_ref().is_none_or(|a| &d.action == a))
        .filter(|d| q.rule.as_ref().is_none_or(|r| d.rule.as_ref() == Some(r)))
        .filter(|d| q.path.as_ref().is_none_or(|p| &d.mode == p))
        .filter(|d| q.team.as_ref().is_none_or(|t| d.team.as_ref() == Some(t)))
        .filter_map(|d| {
            let ctx: Option<ActionContext> = serde_json::from_str(&d.context).ok();
            let severity = ctx.as_ref().map(|c| c.severity);
            if q.severity.is_some() && severity != q.severity {
                return None;
            }
            if let Some(env) = &q.environment
                && ctx.as_ref().and_then(|c| c.environment.as_ref()) != Some(env)
            {
                return None;
            }
            let m = Milestones {
                proposed: d.proposed_at,
                requested: d.requested_at,
                accepted: d.accepted_at,
                contained: d.contained_at,
            };
            let received = d.received_at.unwrap_or(d.created_at);
            let figures =
                ClockFigures::from_milestones(d.detected_at, received, d.first_post_at, m);
            Some(Row {
                d,
                severity,
                figures,
                start: d.detected_at.unwrap_or(received),
            })
        })
        .collect();

    let figures = ClockFigures::NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| FigureRow {
            figure: (*name).to_owned(),
            stats: Stats::of(rows.iter().filter_map(|r| r.figures.values()[i]).collect()),
        })
        .collect();

    let by_path = PATHS
        .iter()
        .map(|path| {
            let of: Vec<&Row> = rows.iter().filter(|r| r.d.mode == *path).collect();
            let both: Vec<(i64, i64)> = of
                .iter()
                .filter_map(|r| Some((r.figures.decision_latency?, r.figures.time_to_contain?)))
                .collect();
            let ttc_sum: i64 = both.iter().map(|b| b.1).sum();
            let wait_sum: i64 = both.iter().map(|b| b.0.min(b.1)).sum();
            PathRow {
                path: (*path).to_owned(),
                decisions: of.len(),
                contained: of
                    .iter()
                    .filter(|r| r.figures.time_to_contain.is_some())
                    .count(),
                time_to_contain: Stats::of(
                    of.iter()
                        .filter_map(|r| r.figures.time_to_contain)
                        .collect(),
                ),
                decision_latency: Stats::of(
                    of.iter()
                        .filter_map(|r| r.figures.decision_latency)
                        .collect(),
                ),
                waiting_pct: if ttc_sum > 0 {
                    pct(wait_sum as usize, ttc_sum as usize)
                } else {
                    None
                },
            }
        })
        .collect();

    // Approval latency: from the first approval request (else the proposal)
    // to each approval, grouped by the role the approver acted in.
    let mut by_role: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &rows {
        let asked =
            r.d.approval_events
                .iter()
                .find(|e| e.kind == "approval_requested")
                .map(|e| e.at)
                .or(r.d.proposed_at);
        let Some(asked) = asked else { continue };
        for e in r.d.approval_events.iter().filter(|e| e.kind == "approved") {
            let role = e.actor_role.clone().unwrap_or_else(|| "(no role)".into());
            by_role
                .entry(role)
                .or_default()
                .push(millis_between(asked, e.at).max(0));
        }
    }
    let approval_latency = by_role
        .into_iter()
        .map(|(role, v)| RoleRow {
            role,
            stats: Stats::of(v),
        })
        .collect();

    let n = rows.len();
    let rate = |name: &str, flag: fn(&ReportDecision) -> bool| {
        let c = rows.iter().filter(|r| flag(r.d)).count();
        RateRow {
            rate: name.to_owned(),
            count: c,
            of: n,
            pct: pct(c, n),
        }
    };
    let rates = vec![
        rate("veto", |d| d.vetoed),
        rate("override", |d| d.overridden),
        rate("denial", |d| d.denied),
        rate("expiry", |d| d.expired),
        rate("failure", |d| d.failed),
    ];

    let sla_rows = sla
        .0
        .iter()
        .rev()
        .map(|(sev, target)| {
            let target_ms = i64::try_from(target.as_millis()).unwrap_or(i64::MAX);
            let mut considered = 0;
            let mut breached = 0;
            for r in rows.iter().filter(|r| r.severity == Some(*sev)) {
                if !PATHS.contains(&r.d.mode.as_str()) {
                    continue;
                }
                let stopped = r.d.denied || r.d.vetoed;
                match r.figures.time_to_contain {
                    Some(ttc) => {
                        considered += 1;
                        if ttc > target_ms {
                            breached += 1;
                        }
                    }
                    None if stopped && r.d.state != "failed" => {}
                    None => {
                        considered += 1;
                        if millis_between(r.start, reference) > target_ms {
                            breached += 1;
                        }
                    }
                }
            }
            SlaRow {
                severity: sev.as_str().to_owned(),
                target_ms,
                considered,
                met: considered - breached,
                breached,
                breached_pct: pct(breached, considered),
            }
        })
        .collect();

    let mut groups = Vec::new();
    let mut group = |by: &str, key_of: &dyn Fn(&Row) -> Option<String>| {
        let mut m: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        for r in &rows {
            m.entry(key_of(r).unwrap_or_else(|| "(none)".into()))
                .or_default()
                .push(r);
        }
        for (key, rs) in m {
            groups.push(GroupRow {
                by: by.to_owned(),
                key,
                decisions: rs.len(),
                time_to_contain: Stats::of(
                    rs.iter()
                        .filter_map(|r| r.figures.time_to_contain)
                        .collect(),
                ),
            });
        }
    };
    group("severity", &|r| r.severity.map(|s| s.as_str().to_owned()));
    group("action", &|r| Some(r.d.action.clone()));
    group("rule", &|r| r.d.rule.clone());
    group("team", &|r| r.d.team.clone());

    let incs: Vec<&IncidentRow> = incidents
        .iter()
        .filter(|i| q.include_drills || !i.drill)
        .filter(|i| q.team.as_ref().is_none_or(|t| i.team.as_ref() == Some(t)))
        .filter(|i| q.severity.is_none_or(|s| i.severity().ok() == Some(s)))
        .collect();
    let since_detect = |f: fn(&IncidentRow) -> Option<Timestamp>| {
        Stats::of(
            incs.iter()
                .filter_map(|i| f(i).map(|t| millis_between(i.detected_at, t).max(0)))
                .collect(),
        )
    };
    let incidents = IncidentFigures {
        incidents: incs.len(),
        mtta: since_detect(|i| i.acknowledged_at),
        time_to_contain: since_detect(|i| i.contained_at),
        mttr: since_detect(|i| i.resolved_at),
    };

    Report {
        query: q.clone(),
        decisions: n,
        figures,
        by_path,
        approval_latency,
        rates,
        sla: sla_rows,
        groups,
        incidents,
        weekly: weekly(q, &rows),
    }
}

/// One row per ISO week from the period's first to its last (at most 60),
/// empty weeks included so a gap shows as a gap.
fn weekly(q: &ReportQuery, rows: &[Row]) -> Vec<WeekRow> {
    let monday = |t: Timestamp| {
        let d = t.date_naive();
        d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))
    };
    let last = monday(q.to - chrono::Duration::milliseconds(1));
    let mut start = monday(q.from);
    if (last - start).num_weeks() > 59 {
        start = last - chrono::Days::new(59 * 7);
    }
    let mut out = Vec::new();
    let mut wk = start;
    while wk <= last {
        let of: Vec<&Row> = rows
            .iter()
            .filter(|r| monday(r.d.created_at) == wk)
            .collect();
        let iso = wk.iso_week();
        out.push(WeekRow {
            week: format!("{}-W{:02}", iso.year(), iso.week()),
            starts: wk,
            decisions: of.len(),
            contained: of
                .iter()
                .filter(|r| r.figures.time_to_contain.is_some())
                .count(),
            time_to_contain: Stats::of(
                of.iter()
                    .filter_map(|r| r.figures.time_to_contain)
                    .collect(),
            ),
        });
        wk = wk + chrono::Days::new(7);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_values_that_occurred() {
        let s = Stats::of(vec![50, 10, 40, 20, 30]);
        assert_eq!(s.count, 5);
        assert_eq!(s.median_ms, Some(30));
        assert_eq!(s.p90_ms, Some(50));
        assert_eq!(s.mean_ms, Some(30));
        let s = Stats::of((1..=10).collect());
        assert_eq!(s.median_ms, Some(5));
        assert_eq!(s.p90_ms, Some(9));
        assert_eq!(s.mean_ms, Some(6), "5.5 rounds half away from zero");
        assert_eq!(Stats::of(vec![]).median_ms, None);
    }

    #[test]
    fn rates_round_to_a_tenth_of_a_percent() {
        assert_eq!(pct(1, 3), Some(33.3));
        assert_eq!(pct(2, 3), Some(66.7));
        assert_eq!(pct(0, 0), None);
    }

    #[test]
    fn the_digest_is_due_on_the_next_configured_weekday() {
        let d = DigestConfig::default();
        // 2026-11-23 is a Monday.
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .expect("t");
        let due = d.next_due(t).expect("due");
        assert_eq!(due.to_rfc3339(), "2026-11-30T09:00:00+00:00");
    }
}
