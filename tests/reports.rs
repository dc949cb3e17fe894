//! Reports over a known history with fixed timestamps: every median, p90,
//! mean and rate is asserted exactly, and the HTML page, the CSV and JSON
//! downloads and `cordon report` agree.
//!
//! Statistics use the nearest-rank method (see src/report/mod.rs): the
//! median of n values is the ceil(n/2)-th smallest, p90 the ceil(0.9·n)-th.

mod common;

use common::app::{Options, spawn_app};
use common::history;
use serde_json::{Value, json};

const PERIOD: &str = "from=2026-10-05T00:00:00Z&to=2026-10-19T00:00:00Z";

fn stats(count: u64, median: i64, p90: i64, mean: i64) -> Value {
    json!({ "count": count, "median_ms": median, "p90_ms": p90, "mean_ms": mean })
}

fn empty() -> Value {
    json!({ "count": 0, "median_ms": null, "p90_ms": null, "mean_ms": null })
}

#[tokio::test]
async fn report_figures_are_exact_and_every_output_agrees() {
    let app = spawn_app(Options::default()).await;
    for (n, spec) in history::known().iter().enumerate() {
        history::insert(&app.engine.store, n, spec).await;
    }
    let cookie = app.sign_in("carol").await;

    let (status, body) = app.page(&cookie, &format!("/reports.json?{PERIOD}")).await;
    assert_eq!(status, 200, "{body}");
    let r: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(r["decisions"], 9, "the drill is excluded");

    // Clock figures (D1…D9, see tests/common/history.rs).
    let fig = |name: &str| {
        r["figures"]
            .as_array()
            .expect("figures")
            .iter()
            .find(|f| f["figure"] == name)
            .expect(name)["stats"]
            .clone()
    };
    assert_eq!(fig("detect_to_ingest"), stats(9, 10_000, 10_000, 10_000));
    assert_eq!(fig("ingest_to_post"), stats(2, 3_000, 4_000, 3_500));
    // [0,0,0,90,120,120,180] s
    assert_eq!(fig("decision_latency"), stats(7, 90_000, 180_000, 72_857));
    // [1,2,2,2,2,5] s
    assert_eq!(fig("execution_latency"), stats(6, 2_000, 5_000, 2_333));
    // [28,28,28,59,118,1075] s
    assert_eq!(fig("confirm_latency"), stats(6, 28_000, 1_075_000, 222_667));
    // [45,75,165,225,225,1215] s
    assert_eq!(
        fig("time_to_contain"),
        stats(6, 165_000, 1_215_000, 325_000)
    );

    // Time to contain by path: the execution gap.
    assert_eq!(
        r["by_path"],
        json!([
            { "path": "auto", "decisions": 3, "contained": 2,
              "time_to_contain": stats(2, 45_000, 75_000, 60_000),
              "decision_latency": stats(3, 0, 0, 0), "waiting_pct": 0.0 },
            { "path": "veto_window", "decisions": 2, "contained": 2,
              "time_to_contain": stats(2, 165_000, 225_000, 195_000),
              "decision_latency": stats(2, 120_000, 180_000, 150_000), "waiting_pct": 76.9 },
            { "path": "approval", "decisions": 4, "contained": 2,
              "time_to_contain": stats(2, 225_000, 1_215_000, 720_000),
              "decision_latency": stats(2, 90_000, 120_000, 105_000), "waiting_pct": 14.6 },
        ])
    );

    // Approval latency per approver role: soc-lead [30,60,90] s, ciso [120] s.
    assert_eq!(
        r["approval_latency"],
        json!([
            { "role": "ciso", "stats": stats(1, 120_000, 120_000, 120_000) },
            { "role": "soc-lead", "stats": stats(3, 60_000, 90_000, 60_000) },
        ])
    );

    // One of each outcome among nine decisions.
    for rate in ["veto", "override", "denial", "expiry", "failure"] {
        let x = r["rates"]
            .as_array()
            .expect("rates")
            .iter()
            .find(|x| x["rate"] == rate)
            .expect(rate);
        assert_eq!(
            x,
            &json!({ "rate": rate, "count": 1, "of": 9, "pct": 11.1 })
        );
    }

    // SLA: critical 15m (D4 took 20m15s), high 1h (D7 expired and D8
    // failed: never contained), medium 4h; D5 was denied, so not counted.
    assert_eq!(
        r["sla"],
        json!([
            { "severity": "critical", "target_ms": 900_000, "considered": 3, "met": 2, "breached": 1, "breached_pct": 33.3 },
            { "severity": "high", "target_ms": 3_600_000, "considered": 4, "met": 2, "breached": 2, "breached_pct": 50.0 },
            { "severity": "medium", "target_ms": 14_400_000, "considered": 1, "met": 1, "breached": 0, "breached_pct": 0.0 },
            { "severity": "low", "target_ms": 86_400_000, "considered": 0, "met": 0, "breached": 0, "breached_pct": null },
        ])
    );

    // Incidents: MTTA [75,315] s, contained [45,1215] s, MTTR [1800,3600,7200] s.
    assert_eq!(
        r["incidents"],
        json!({
            "incidents": 9,
            "mtta": stats(2, 75_000, 315_000, 195_000),
            "time_to_contain": stats(2, 45_000, 1_215_000, 630_000),
            "mttr": stats(3, 3_600_000, 7_200_000, 4_200_000),
        })
    );

    // Weekly trend.
    assert_eq!(
        r["weekly"],
        json!([
            { "week": "2026-W41", "starts": "2026-10-05", "decisions": 7, "contained": 5,
              "time_to_contain": stats(5, 165_000, 1_215_000, 345_000) },
            { "week": "2026-W42", "starts": "2026-10-12", "decisions": 2, "contained": 1,
              "time_to_contain": stats(1, 225_000, 225_000, 225_000) },
        ])
    );

    // Filters.
    let count = |q: &'static str| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            let (s, b) = app
                .page(&cookie, &format!("/reports.json?{PERIOD}&{q}"))
                .await;
            assert_eq!(s, 200, "{b}");
            serde_json::from_str::<Value>(&b).expect("json")["decisions"].clone()
        }
    };
    assert_eq!(count("path=approval").await, 4);
    assert_eq!(count("severity=critical").await, 3);
    assert_eq!(count("drills=on").await, 10);
    assert_eq!(count("rule=veto-rule").await, 2);
    assert_eq!(count("environment=staging").await, 0);
    let (s, b) = app
        .page(&cookie, &format!("/reports.json?{PERIOD}&path=sideways"))
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("auto, veto_window or approval"), "{b}");

    // CSV: the same numbers.
    let (s, csv) = app.page(&cookie, &format!("/reports.csv?{PERIOD}")).await;
    assert_eq!(s, 200);
    assert!(
        csv.starts_with("table,key,count,median_ms,p90_ms,mean_ms,of,percent,target_ms\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\nfigures,time_to_contain,6,165000,1215000,325000,,,\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\npath,veto_window/waiting_share,,,,,,76.9,\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\napproval_latency,soc-lead,3,60000,90000,60000,,,\n"),
        "{csv}"
    );
    assert!(csv.contains("\nrates,veto,1,,,,9,11.1,\n"), "{csv}");
    assert!(csv.contains("\nsla,critical,1,,,,3,33.3,900000\n"), "{csv}");
    assert!(
        csv.contains("\nincidents,mttr,3,3600000,7200000,4200000,,,\n"),
        "{csv}"
    );
    let (_, one) = app
        .page(&cookie, &format!("/reports.csv?{PERIOD}&table=rates"))
        .await;
    assert_eq!(one.lines().count(), 6, "{one}");

    // HTML: every figure row carries the same milliseconds.
    let (s, html) = app.page(&cookie, &format!("/reports?{PERIOD}")).await;
    assert_eq!(s, 200, "{html}");
    let row = |id: &str| {
        let start = html
            .find(&format!("<tr id=\"{id}\">"))
            .unwrap_or_else(|| panic!("row {id}"));
        let end = html[start..].find("</tr>").expect("end") + start;
        html[start..end].to_owned()
    };
    for f in r["figures"].as_array().expect("figures") {
        let tr = row(&format!("fig-{}", f["figure"].as_str().expect("name")));
        for k in ["median_ms", "p90_ms", "mean_ms"] {
            let v = match &f["stats"][k] {
                Value::Null => String::new(),
                v => v.to_string(),
            };
            assert!(tr.contains(&format!("data-ms=\"{v}\"")), "{k} {v} in {tr}");
        }
    }
    assert!(row("rate-denial").contains("11.1%"));
    assert!(row("sla-high").contains("50.0%"));
    assert!(
        html.contains("<svg") && html.contains("Time to contain by path"),
        "chart"
    );
    assert!(html.contains("2m 45s"), "the median as people read it");

    // The CLI prints the same JSON and CSV from the same database.
    let cli = |format: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cordon"))
            .args([
                "report",
                "--from",
                "2026-10-05T00:00:00Z",
                "--to",
                "2026-10-19T00:00:00Z",
                "--format",
                format,
            ])
            .env("CORDON_DATABASE_URL", &app.db.url)
            .output()
            .expect("run cordon report");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    let cli_json: Value = serde_json::from_str(&cli("json")).expect("cli json");
    assert_eq!(cli_json, r, "CLI JSON = /reports.json");
    assert_eq!(cli("csv"), csv, "CLI CSV = /reports.csv");
    let table = cli("table");
    assert!(
        table.contains("time_to_contain") && table.contains("2m 45s") && table.contains("20m 15s"),
        "{table}"
    );
    let page = cli("html");
    assert!(
        page.contains("data-ms=\"165000\"") && page.contains("<svg"),
        "CLI HTML"
    );
    let digest = cli("digest");
    assert!(
        digest.contains("6 contained; time to contain median 2m 45s (p90 20m 15s)"),
        "{digest}"
    );
    assert!(digest.contains("/reports?"), "{digest}");
    let _ = empty();
    app.stop().await;
}
