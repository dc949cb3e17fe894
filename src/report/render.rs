//! The outputs of a [`Report`]: a flat table (CSV and the CLI's text table),
//! JSON (the struct itself), HTML (templates plus inline SVG) and the weekly
//! digest text. All read the same `Report`, so they agree by construction;
//! a test checks that they do.

use super::svg::{Bar, bars};
use super::{Report, Stats};
use crate::templates::{Templates, format_ms};

/// Column names of the flat table.
pub const COLUMNS: [&str; 9] = [
    "table",
    "key",
    "count",
    "median_ms",
    "p90_ms",
    "mean_ms",
    "of",
    "percent",
    "target_ms",
];

/// One row of the flat table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flat {
    pub table: &'static str,
    pub key: String,
    pub count: Option<usize>,
    pub stats: Option<Stats>,
    pub of: Option<usize>,
    pub percent: Option<f64>,
    pub target_ms: Option<i64>,
}

impl Flat {
    fn stats(table: &'static str, key: impl Into<String>, s: Stats) -> Flat {
        Flat {
            table,
            key: key.into(),
            count: Some(s.count),
            stats: Some(s),
            ..Flat::default()
        }
    }

    /// The row as CSV cells (milliseconds, empty when absent).
    pub fn cells(&self) -> [String; 9] {
        let o = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        [
            self.table.to_owned(),
            self.key.clone(),
            self.count.map(|c| c.to_string()).unwrap_or_default(),
            o(self.stats.and_then(|s| s.median_ms)),
            o(self.stats.and_then(|s| s.p90_ms)),
            o(self.stats.and_then(|s| s.mean_ms)),
            self.of.map(|c| c.to_string()).unwrap_or_default(),
            self.percent.map(|p| format!("{p:.1}")).unwrap_or_default(),
            o(self.target_ms),
        ]
    }
}

/// The whole report as one long table.
pub fn flat(r: &Report) -> Vec<Flat> {
    let mut out = Vec::new();
    for f in &r.figures {
        out.push(Flat::stats("figures", &f.figure, f.stats));
    }
    for p in &r.by_path {
        let mut ttc = Flat::stats(
            "path",
            format!("{}/time_to_contain", p.path),
            p.time_to_contain,
        );
        ttc.of = Some(p.decisions);
        out.push(ttc);
        out.push(Flat::stats(
            "path",
            format!("{}/decision_latency", p.path),
            p.decision_latency,
        ));
        out.push(Flat {
            table: "path",
            key: format!("{}/waiting_share", p.path),
            percent: p.waiting_pct,
            ..Flat::default()
        });
    }
    for a in &r.approval_latency {
        out.push(Flat::stats("approval_latency", &a.role, a.stats));
    }
    for x in &r.rates {
        out.push(Flat {
            table: "rates",
            key: x.rate.clone(),
            count: Some(x.count),
            of: Some(x.of),
            percent: x.pct,
            ..Flat::default()
        });
    }
    for s in &r.sla {
        out.push(Flat {
            table: "sla",
            key: s.severity.clone(),
            count: Some(s.breached),
            of: Some(s.considered),
            percent: s.breached_pct,
            target_ms: Some(s.target_ms),
            ..Flat::default()
        });
    }
    for g in &r.groups {
        let mut f = Flat::stats("groups", format!("{}:{}", g.by, g.key), g.time_to_contain);
        f.of = Some(g.decisions);
        out.push(f);
    }
    out.push(Flat {
        table: "incidents",
        key: "incidents".into(),
        count: Some(r.incidents.incidents),
        ..Flat::default()
    });
    out.push(Flat::stats("incidents", "mtta", r.incidents.mtta));
    out.push(Flat::stats(
        "incidents",
        "time_to_contain",
        r.incidents.time_to_contain,
    ));
    out.push(Flat::stats("incidents", "mttr", r.incidents.mttr));
    for w in &r.weekly {
        let mut f = Flat::stats("weekly", &w.week, w.time_to_contain);
        f.of = Some(w.decisions);
        out.push(f);
    }
    out
}

/// CSV of the flat table, optionally one table only.
pub fn csv(r: &Report, table: Option<&str>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(COLUMNS);
    for f in flat(r)
        .iter()
        .filter(|f| table.is_none_or(|t| f.table == t))
    {
        let _ = w.write_record(f.cells());
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The CLI's text table: the same rows with durations for people.
pub fn table(r: &Report) -> String {
    let h = |v: Option<i64>| v.map(format_ms).unwrap_or_else(|| "-".into());
    let mut rows: Vec<[String; 8]> = Vec::new();
    let mut out = format!(
        "cordon report {} .. {} ({} decisions{})\n",
        r.query.from.to_rfc3339(),
        r.query.to.to_rfc3339(),
        r.decisions,
        if r.query.include_drills {
            ", drills included"
        } else {
            ", drills excluded"
        }
    );
    let mut last = "";
    for f in flat(r) {
        if f.table != last {
            rows.push([
                format!("[{}]", f.table),
                "count".into(),
                "median".into(),
                "p90".into(),
                "mean".into(),
                "of".into(),
                "%".into(),
                "target".into(),
            ]);
            last = f.table;
        }
        rows.push([
            f.key.clone(),
            f.count.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            h(f.stats.and_then(|s| s.median_ms)),
            h(f.stats.and_then(|s| s.p90_ms)),
            h(f.stats.and_then(|s| s.mean_ms)),
            f.of.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            f.percent
                .map(|p| format!("{p:.1}"))
                .unwrap_or_else(|| "-".into()),
            h(f.target_ms),
        ]);
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    for r in rows {
        if r[0].starts_with('[') {
            out.push('\n');
        }
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The inline charts of the HTML report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Charts {
    pub by_path: String,
    pub weekly: String,
}

pub fn charts(r: &Report) -> Charts {
    Charts {
        by_path: bars(
            "Time to contain by path (the execution gap)",
            &["median", "p90"],
            &r.by_path
                .iter()
                .map(|p| Bar {
                    label: p.path.replace('_', " "),
                    series: vec![p.time_to_contain.median_ms, p.time_to_contain.p90_ms],
                })
                .collect::<Vec<_>>(),
        ),
        weekly: bars(
            "Weekly trend: median time to contain",
            &["median", "p90"],
            &r.weekly
                .iter()
                .map(|w| Bar {
                    label: format!("{} ({} dec.)", w.week, w.decisions),
                    series: vec![w.time_to_contain.median_ms, w.time_to_contain.p90_ms],
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// A standalone HTML page (for `cordon report --format html`).
pub fn html(t: &Templates, r: &Report) -> Result<String, crate::templates::TemplateError> {
    t.render(
        "report/report.html",
        serde_json::json!({ "report": r, "charts": charts(r), "query_string": "" }),
    )
}

/// The weekly digest: headline figures and the link. The chat surfaces post
/// it; this is only its text (Slack and Discord both render this markdown).
pub fn digest(r: &Report, link: &str) -> String {
    let ttc = r
        .figures
        .iter()
        .find(|f| f.figure == "time_to_contain")
        .map(|f| f.stats)
        .unwrap_or_default();
    let h = |v: Option<i64>| v.map(format_ms).unwrap_or_else(|| "n/a".into());
    let mut s = format!(
        "*cordon weekly digest* — {} to {}\n• {} decisions, {} contained; time to contain median {} (p90 {})\n",
        r.query.from.format("%Y-%m-%d"),
        r.query.to.format("%Y-%m-%d"),
        r.decisions,
        ttc.count,
        h(ttc.median_ms),
        h(ttc.p90_ms)
    );
    let paths: Vec<String> = r
        .by_path
        .iter()
        .filter(|p| p.decisions > 0)
        .map(|p| {
            format!(
                "{} {}",
                p.path.replace('_', " "),
                h(p.time_to_contain.median_ms)
            )
        })
        .collect();
    if !paths.is_empty() {
        s.push_str(&format!("• median by path: {}\n", paths.join(", ")));
    }
    let breaches: usize = r.sla.iter().map(|x| x.breached).sum();
    let considered: usize = r.sla.iter().map(|x| x.considered).sum();
    s.push_str(&format!("• SLA breaches: {breaches} of {considered}\n"));
    let rates: Vec<String> = r
        .rates
        .iter()
        .filter(|x| x.count > 0)
        .map(|x| format!("{} {}", x.rate, x.count))
        .collect();
    if !rates.is_empty() {
        s.push_str(&format!("• {}\n", rates.join(", ")));
    }
    s.push_str(&format!(
        "• incidents: {}, MTTA {}, MTTR {}\n",
        r.incidents.incidents,
        h(r.incidents.mtta.median_ms),
        h(r.incidents.mttr.median_ms)
    ));
    s.push_str(&format!("Full report: {link}\n"));
    s
}
