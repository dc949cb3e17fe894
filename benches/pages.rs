//! Page latency with 10,000 decisions in the store (DESIGN: pages answer in
//! < 100 ms). Not a test: it measures and prints, and exits non-zero only
//! when a page's median misses the budget.
//!
//! `cargo bench --bench pages` (optimised) or `cargo test --bench pages`
//! (debug, pessimistic). `CORDON_BENCH_POSTGRES=1` runs it on the test
//! PostgreSQL (`CORDON_TEST_POSTGRES_URL`) instead of SQLite;
//! `CORDON_BENCH_DECISIONS` changes the count.

#[path = "../tests/common/mod.rs"]
mod common;

use common::app::{Options, spawn_app};
use common::history;
use cordon::clock::Clock;
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_millis(100);

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --bench` passes nothing
    // special. Either way, run once.
    let n: usize = std::env::var("CORDON_BENCH_DECISIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let postgres = std::env::var("CORDON_BENCH_POSTGRES").as_deref() == Ok("1");
    let app = spawn_app(Options {
        postgres,
        ..Options::default()
    })
    .await;
    let now = app.clock.now();
    let started = Instant::now();
    let mut last = (0, 0);
    // The nine shapes of the report test's history, spread over 29 days.
    for i in 0..n {
        let mut spec = history::known().swap_remove(i % 9);
        spec.detected =
            now - chrono::Duration::seconds(29 * 86_400 * (i as i64 + 1) / n as i64 + 3600);
        spec.drill = false;
        spec.matrix_hash = app.engine.matrix().hash.clone();
        last = history::insert(&app.engine.store, i, &spec).await;
    }
    eprintln!(
        "inserted {n} decisions (and as many alerts and incidents) on {} in {:.1}s",
        if postgres { "postgres" } else { "sqlite" },
        started.elapsed().as_secs_f64()
    );
    // Where the report's time goes: the store read versus the aggregation.
    {
        let q = cordon::report::ReportParams::default()
            .to_query(now)
            .expect("query");
        let t = Instant::now();
        let ds = app
            .engine
            .store
            .report_decisions(q.from, q.to)
            .await
            .expect("read");
        let read = t.elapsed();
        let t = Instant::now();
        let incs = app
            .engine
            .store
            .incidents_between(q.from, q.to)
            .await
            .expect("read");
        let read_inc = t.elapsed();
        let t = Instant::now();
        let r = cordon::report::build(&q, &ds, &incs, &Default::default(), now);
        eprintln!(
            "report parts: read decisions {:.1} ms, read incidents {:.1} ms, aggregate {:.1} ms ({} decisions)",
            read.as_secs_f64() * 1e3,
            read_inc.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3,
            r.decisions
        );
    }
    let cookie = app.sign_in("carol").await;
    let pages = [
        "/incidents".to_owned(),
        format!("/incidents/{}", last.0),
        "/matrix".to_owned(),
        "/reports".to_owned(),
        "/reports.json".to_owned(),
        "/reports.csv".to_owned(),
        "/reports?path=approval&severity=critical".to_owned(),
    ];
    // Cold: the first request for these filters computes the report (the
    // console then reuses it for `[reports] cache_ttl`).
    for p in [
        "/reports.json?since=29d",
        "/reports?since=28d&severity=high",
    ] {
        let t = Instant::now();
        let (status, _) = app.page(&cookie, p).await;
        assert_eq!(status, 200);
        println!(
            "cold, computed: {:<30} {:>6.1}ms",
            p,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    if let Ok(keep) = std::env::var("CORDON_BENCH_KEEP_DB")
        && let Some(path) = app.db.url.strip_prefix("sqlite://")
    {
        std::fs::copy(path, &keep).expect("copy the database");
        eprintln!("database kept at {keep}");
    }
    println!(
        "{:<45} {:>8} {:>8} {:>8}  budget {} ms",
        "page (10 runs after 2 warm-ups)",
        "median",
        "p90",
        "max",
        BUDGET.as_millis()
    );
    let mut missed = false;
    for p in &pages {
        let mut times = Vec::new();
        for i in 0..12 {
            let t = Instant::now();
            let (status, body) = app.page(&cookie, p).await;
            let el = t.elapsed();
            assert_eq!(status, 200, "{p}: {body}");
            if i >= 2 {
                times.push(el);
            }
        }
        times.sort();
        let median = times[times.len().div_ceil(2) - 1];
        let p90 = times[(times.len() * 9).div_ceil(10) - 1];
        let ok = median < BUDGET;
        missed |= !ok;
        println!(
            "{:<45} {:>6.1}ms {:>6.1}ms {:>6.1}ms  {}",
            p,
            median.as_secs_f64() * 1e3,
            p90.as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
            if ok { "ok" } else { "OVER BUDGET" }
        );
    }
    app.stop().await;
    if missed {
        std::process::exit(1);
    }
}
