//! `cordon bench`: the performance harness.
//!
//! One run measures, per backend (SQLite, PostgreSQL):
//!
//! - ingest throughput and request→`202` latency, batches of 1 and of 100,
//!   with concurrent senders;
//! - alert request → connector request for an `auto` rule (a sequential
//!   series, each on its own workstation, against a fake CrowdStrike on
//!   loopback). The alert is committed between the request and the `202`,
//!   so request→connector is an upper bound of committed→connector;
//! - Approve → connector request for an `approval` rule. No chat route for
//!   a click exists in this build, so this phase runs cordon in-process and
//!   calls `Engine::act` directly (what the Slack/Discord handlers call
//!   after verifying the signature);
//! - peak RSS (`VmHWM`) of the cordon process after all the alerts.
//!
//! Cordon runs as a child process (`cordon serve`, this same executable) so
//! that its RSS is its own. Optionally Prometheus Alertmanager runs side by
//! side with a webhook receiver on loopback, measured the same way.
//!
//! Everything is on 127.0.0.1; every phase is bounded in count and by a
//! deadline. This module is a composition root like `app.rs`: it names
//! concrete adapters on purpose.

mod alertmanager;
mod fake;

use crate::app::App;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Secret};
use crate::domain::decision::Verb;
use crate::domain::{Actor, DecisionId, IncidentId, Platform};
use crate::store::{Store, StoreOptions};
use anyhow::{Context, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-ingest-secret-0123456789abcdef";
const MATRIX: &str = include_str!("../../config/authority.toml");
/// One playbook: a ransomware alert isolates its host, at any severity, so
/// high severity takes the `auto` rule and medium the `approval` rule.
const PLAYBOOKS: &str = r#"
[[playbooks]]
name = "bench-ransomware"
match = { formats = ["crowdstrike"], title = "(?i)ransom", has = ["host"] }
actions = [ { action = "isolate_host", target = "host" } ]
stop = true
"#;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// `sqlite`, `postgres`.
    pub backends: Vec<String>,
    pub postgres_url: Option<String>,
    /// Total alerts sent to each cordon in the throughput phases.
    pub alerts: usize,
    /// Samples in each latency series.
    pub samples: usize,
    pub concurrency: usize,
    /// Run Alertmanager side by side when its binary is found.
    pub alertmanager: bool,
    /// Alerts sent to Alertmanager (it keeps them all in memory).
    pub am_alerts: usize,
    pub max_seconds: u64,
    /// The cordon executable to run as the child.
    pub exe: PathBuf,
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub n: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(mut v: Vec<Duration>) -> Latency {
        if v.is_empty() {
            return Latency::default();
        }
        v.sort();
        let at = |q: f64| {
            let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
            v[i].as_secs_f64() * 1000.0
        };
        Latency {
            n: v.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// One throughput phase.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Load {
    pub batch: usize,
    pub concurrency: usize,
    pub alerts_sent: usize,
    pub alerts_accepted: usize,
    /// Requests answered 429 or 503 (overload), whose alerts were not stored.
    pub requests_refused: usize,
    /// Requests that failed otherwise (other statuses, transport errors).
    pub requests_failed: usize,
    /// The first such failure, to say why.
    pub first_failure: Option<String>,
    pub seconds: f64,
    pub alerts_per_sec: f64,
    /// Request → 202 (accepted requests only).
    pub latency: Latency,
}

/// Figures of one system on one backend.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Figures {
    pub system: String,
    pub ingest_batch_1: Load,
    pub ingest_batch_100: Load,
    /// Sequential single alerts: request → 202, no load.
    pub single_alert_to_202: Latency,
    /// Alert request → connector (or webhook) request.
    pub alert_to_connector: Latency,
    /// Approve (`Engine::act`) → connector request.
    pub approve_to_connector: Latency,
    pub alerts_stored: i64,
    pub alerts_stored_distinct: i64,
    pub rss_baseline_mb: f64,
    pub rss_peak_mb: f64,
    /// (peak − baseline) / alerts held.
    pub bytes_per_alert: f64,
    pub alerts_held: usize,
    pub notes: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub results: Vec<Figures>,
    pub notes: Vec<String>,
}

/// Runs the harness.
pub async fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let receiver = fake::start().await.context("starting the fake vendor")?;
    let mut report = Report::default();
    for b in &args.backends {
        if Instant::now() > deadline {
            report
                .notes
                .push(format!("{b}: skipped, the time limit was reached"));
            continue;
        }
        let f = match b.as_str() {
            "sqlite" => run_cordon(args, &receiver, None, deadline).await?,
            "postgres" => {
                let Some(url) = &args.postgres_url else {
                    report.notes.push(
                        "postgres: skipped, no --postgres-url (or CORDON_TEST_POSTGRES_URL)".into(),
                    );
                    continue;
                };
                run_cordon(args, &receiver, Some(url), deadline).await?
            }
            other => bail!("unknown backend {other}: use sqlite or postgres"),
        };
        report.results.push(f);
    }
    if args.alertmanager {
        match alertmanager::find() {
            Some(bin) => {
                let f = alertmanager::run(&bin, args, &receiver, deadline).await?;
                report.results.push(f);
            }
            None => report.notes.push(
                "alertmanager: skipped, no alertmanager or prometheus-alertmanager binary on PATH (apt-get install prometheus-alertmanager)"
                    .into(),
            ),
        }
    }
    Ok(report)
}

/// A fresh database: a temp SQLite file, or a new schema in PostgreSQL.
struct Db {
    url: String,
    schema: Option<(String, String)>,
}

impl Db {
    async fn new(dir: &Path, name: &str, pg: Option<&str>) -> anyhow::Result<Db> {
        match pg {
            None => Ok(Db {
                url: format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
                schema: None,
            }),
            Some(base) => {
                let schema = format!("bench_{}_{name}", std::process::id());
                let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(base)
                    .await
                    .context("connecting to PostgreSQL")?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "drop schema if exists {schema} cascade"
                )))
                .execute(&mut c)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("create schema {schema}")))
                    .execute(&mut c)
                    .await?;
                let sep = if base.contains('?') { '&' } else { '?' };
                Ok(Db {
                    url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                    schema: Some((base.to_owned(), schema)),
                })
            }
        }
    }

    async fn drop(self) {
        if let Some((base, schema)) = self.schema
            && let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop schema if exists {schema} cascade"
            )))
            .execute(&mut c)
            .await;
        }
    }
}

fn connectors(vendor: &str) -> String {
    format!(
        "[crowdstrike]\nbase_url = \"{vendor}\"\nclient_id_env = \"BENCH_CS_ID\"\nclient_secret_env = \"BENCH_CS_SECRET\"\ndry_run = false\ntimeout = \"5s\"\n\n[routes]\nisolate_host = \"crowdstrike\"\nrelease_host = \"crowdstrike\"\n"
    )
}

/// Workstations the latency series isolate: `prefix-N` with agent id `aid-prefix-N`.
fn assets_csv(prefixes: &[&str], n: usize) -> String {
    let mut s =
        String::from("hostname,ips,tier,environment,business_service,owners,crowdstrike_aid\n");
    for p in prefixes {
        for i in 0..n {
            s.push_str(&format!("{p}-{i},,workstation,corp,,,aid-{p}-{i}\n"));
        }
    }
    s
}

/// A CrowdStrike detection. `ransom` picks the playbook; severity the rule.
fn cs_alert(id: &str, host: &str, aid: &str, severity: u32, ransom: bool) -> serde_json::Value {
    let name = if ransom {
        "Ransomware detected"
    } else {
        "Benchmark noise"
    };
    serde_json::json!({
        "metadata": {"customerIDString": "cust-b", "offset": 1, "eventType": "EppDetectionSummaryEvent", "eventCreationTime": 1763884800000u64, "version": "1.0"},
        "event": {
            "Id": id, "CompositeId": format!("cust-b:ind:{aid}:{id}"), "AgentId": aid,
            "Hostname": host, "UserName": format!("u-{host}"), "Name": name, "Description": "bench",
            "Severity": severity, "SeverityName": if severity >= 70 { "High" } else { "Medium" },
            "Timestamp": 1763884800000u64, "LocalIP": "10.99.0.1"
        }
    })
}

fn token(now: crate::domain::Timestamp) -> anyhow::Result<String> {
    let c = crate::http::auth::new_claims(
        "bench",
        now,
        Duration::from_secs(6 * 3600),
        None,
        Some("ingest".into()),
    );
    crate::http::auth::issue_hs256(SECRET, &c).map_err(|e| anyhow::anyhow!(e))
}

/// `VmHWM` and `VmRSS` of a process, in MB.
pub fn rss_mb(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

async fn wait_ready(http: &reqwest::Client, url: &str, what: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{what} did not become ready at {url}")
}

/// A scratch folder under the system temp dir, removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> std::io::Result<TempDir> {
        let p = std::env::temp_dir().join(format!(
            "cordon-bench-{}-{tag}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        ));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills the child when dropped (the harness must not leave processes).
struct ChildGuard(tokio::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

/// Sends `total` alerts in requests of `batch`, `concurrency` at a time.
#[allow(clippy::too_many_arguments)]
async fn load(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    total: usize,
    batch: usize,
    concurrency: usize,
    deadline: Instant,
    make: Arc<dyn Fn(usize) -> serde_json::Value + Send + Sync>,
) -> Load {
    let requests = total.div_ceil(batch);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, token, next, make) = (
            http.clone(),
            url.to_owned(),
            token.map(str::to_owned),
            Arc::clone(&next),
            Arc::clone(&make),
        );
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut sent, mut ok, mut refused) = (Vec::new(), 0usize, 0usize, 0usize);
            let mut failed: Vec<String> = Vec::new();
            loop {
                let r = next.fetch_add(1, Ordering::Relaxed);
                if r >= requests || Instant::now() > deadline {
                    break;
                }
                let body: Vec<serde_json::Value> = (r * batch..((r + 1) * batch).min(total))
                    .map(|i| make(i))
                    .collect();
                let n = body.len();
                let mut req = http.post(&url).json(&body);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let t0 = Instant::now();
                sent += n;
                match req.send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        lat.push(t0.elapsed());
                        ok += n;
                    }
                    Ok(resp) if resp.status() == 429 || resp.status() == 503 => refused += 1,
                    Ok(resp) => {
                        let st = resp.status();
                        let text = resp.text().await.unwrap_or_default();
                        failed.push(format!(
                            "{st}: {}",
                            text.chars().take(200).collect::<String>()
                        ));
                    }
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (lat, sent, ok, refused, failed)
        }));
    }
    let mut out = Load {
        batch,
        concurrency,
        ..Default::default()
    };
    let mut all = Vec::new();
    for t in tasks {
        if let Ok((lat, sent, ok, refused, failed)) = t.await {
            out.requests_failed += failed.len();
            if out.first_failure.is_none() {
                out.first_failure = failed.into_iter().next();
            }
            all.extend(lat);
            out.alerts_sent += sent;
            out.alerts_accepted += ok;
            out.requests_refused += refused;
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    out.alerts_per_sec = out.alerts_accepted as f64 / out.seconds.max(1e-9);
    out.latency = Latency::of(all);
    out
}

/// Waits until `key` reached the receiver (or 10 s passed).
async fn arrival(r: &fake::Receiver, key: &str) -> Option<Instant> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = r.arrivals.get(key) {
            return Some(t);
        }
        if Instant::now() > until {
            return None;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

async fn run_cordon(
    args: &BenchArgs,
    receiver: &fake::Receiver,
    pg: Option<&str>,
    deadline: Instant,
) -> anyhow::Result<Figures> {
    let backend = if pg.is_some() { "postgres" } else { "sqlite" };
    let dir = TempDir::new(backend)?;
    let d = dir.path();
    std::fs::write(d.join("authority.toml"), MATRIX)?;
    std::fs::write(d.join("playbooks.toml"), PLAYBOOKS)?;
    std::fs::write(d.join("connectors.toml"), connectors(&receiver.url))?;
    let mut fig = Figures {
        system: format!("cordon ({backend})"),
        ..Default::default()
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let run_id = std::process::id();
    let (auto_p, appr_p) = (
        format!("auto{run_id}{backend}"),
        format!("appr{run_id}{backend}"),
    );

    // --- The child: migrate and import assets first, then serve. ---------
    let db = Db::new(d, "child", pg).await?;
    {
        let store = Store::connect(&db.url, &StoreOptions::default()).await?;
        store.migrate().await?;
        let assets = crate::enrich::parse_assets(
            "bench",
            assets_csv(&[auto_p.as_str()], args.samples).as_bytes(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        store.upsert_assets(&assets, SystemClock.now()).await?;
        store.close().await;
    }
    let port = free_port()?;
    let cfg_path = d.join("cordon.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "listen = \"127.0.0.1:{port}\"\nmatrix = \"{m}\"\nplaybooks = \"{p}\"\nconnectors = \"{c}\"\n[log]\nfilter = \"warn\"\n",
            m = d.join("authority.toml").display(),
            p = d.join("playbooks.toml").display(),
            c = d.join("connectors.toml").display(),
        ),
    )?;
    let mut cmd = tokio::process::Command::new(&args.exe);
    for (k, _) in std::env::vars() {
        if k.starts_with("CORDON_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--config")
        .arg(&cfg_path)
        .arg("serve")
        .env("CORDON_DATABASE_URL", &db.url)
        .env("CORDON_INGEST_JWT_SECRET", SECRET)
        .env("BENCH_CS_ID", "cid")
        .env("BENCH_CS_SECRET", "csecret")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    let child = ChildGuard(cmd.spawn().context("starting cordon serve")?);
    let pid = child.0.id().unwrap_or(0);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&http, &format!("{base}/readyz"), "cordon").await?;
    let tok = token(SystemClock.now())?;
    let ingest_url = format!("{base}/v1/alerts/crowdstrike");
    // Warm up connections and caches.
    let _ = load(
        &http,
        &ingest_url,
        Some(&tok),
        200,
        1,
        4,
        deadline,
        Arc::new(|i| cs_alert(&format!("w{i}"), "warm", "aidwarm", 40, false)),
    )
    .await;
    fig.rss_baseline_mb = rss_mb(pid).1;

    // --- Auto rule: sequential alerts, each on its own workstation. -------
    let (mut to_conn, mut to_202) = (Vec::new(), Vec::new());
    for i in 0..args.samples {
        if Instant::now() > deadline {
            fig.notes
                .push("auto series cut short by the time limit".into());
            break;
        }
        let host = format!("{auto_p}-{i}");
        let aid = format!("aid-{host}");
        let body = cs_alert(&format!("a{i}"), &host, &aid, 90, true);
        let t0 = Instant::now();
        let resp = http
            .post(&ingest_url)
            .bearer_auth(&tok)
            .json(&body)
            .send()
            .await?;
        let st = resp.status();
        let _ = resp.bytes().await;
        if st != 202 {
            bail!("auto sample {i}: cordon answered {st}");
        }
        to_202.push(t0.elapsed());
        match arrival(receiver, &aid).await {
            Some(t) => to_conn.push(t.saturating_duration_since(t0)),
            None => fig
                .notes
                .push(format!("auto sample {i}: no connector call")),
        }
        // Let the confirmation poll and the chat jobs of this one settle, so
        // each sample starts from a quiet process.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fig.single_alert_to_202 = Latency::of(to_202);
    fig.alert_to_connector = Latency::of(to_conn);

    // --- Throughput: batches of 1, then of 100. ---------------------------
    let n1 = (args.alerts / 10).max(1);
    let n100 = args.alerts.saturating_sub(n1);
    let noise = |prefix: &'static str| -> Arc<dyn Fn(usize) -> serde_json::Value + Send + Sync> {
        Arc::new(move |i| {
            let h = i % 500;
            cs_alert(
                &format!("{prefix}{i}"),
                &format!("ld-{h}"),
                &format!("aid-ld-{h}"),
                40,
                false,
            )
        })
    };
    fig.ingest_batch_1 = load(
        &http,
        &ingest_url,
        Some(&tok),
        n1,
        1,
        args.concurrency,
        deadline,
        noise("s"),
    )
    .await;
    fig.ingest_batch_100 = load(
        &http,
        &ingest_url,
        Some(&tok),
        n100,
        100,
        args.concurrency.min(8),
        deadline,
        noise("b"),
    )
    .await;
    // The pipelines of the last alerts run after their 202; let them finish
    // before reading the peak.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (hwm, _) = rss_mb(pid);
    fig.rss_peak_mb = hwm;
    fig.alerts_held = fig.ingest_batch_1.alerts_accepted
        + fig.ingest_batch_100.alerts_accepted
        + fig.alert_to_connector.n
        + 200;
    fig.bytes_per_alert =
        (hwm - fig.rss_baseline_mb).max(0.0) * 1024.0 * 1024.0 / fig.alerts_held.max(1) as f64;
    drop(child);
    {
        let store = Store::connect(&db.url, &StoreOptions::default()).await?;
        let c = store.alert_counts().await?;
        fig.alerts_stored = c.rows;
        fig.alerts_stored_distinct = c.distinct;
        store.close().await;
    }
    db.drop().await;

    // --- Approve → connector, in-process (no chat click route yet). -------
    fig.approve_to_connector = approve_series(args, receiver, d, pg, &appr_p, deadline)
        .await
        .context("approve series")?;
    fig.notes.push(
        "approve→connector: cordon in-process, Engine::act called directly (no signed chat click route in this build)".into(),
    );
    Ok(fig)
}

/// Medium-severity ransomware on a workstation: the `approval` rule. Heidi
/// (soc-analyst) approves; we time act → the contain request.
async fn approve_series(
    args: &BenchArgs,
    receiver: &fake::Receiver,
    d: &Path,
    pg: Option<&str>,
    prefix: &str,
    deadline: Instant,
) -> anyhow::Result<Latency> {
    let db = Db::new(d, "inproc", pg).await?;
    let mut cfg: Config = toml::from_str("listen = \"127.0.0.1:0\"\n")?;
    cfg.database_url = db.url.clone();
    cfg.matrix = d.join("authority.toml");
    cfg.playbooks = d.join("playbooks.toml");
    cfg.connectors = d.join("connectors.toml");
    cfg.secrets.ingest_jwt_secret = Some(Secret::new(SECRET));
    cfg.extra_env.insert("BENCH_CS_ID".into(), "cid".into());
    cfg.extra_env
        .insert("BENCH_CS_SECRET".into(), "csecret".into());
    let app = App::build(cfg, Arc::new(SystemClock), None).await?;
    let engine = Arc::clone(&app.engine);
    let assets =
        crate::enrich::parse_assets("bench", assets_csv(&[prefix], args.samples).as_bytes())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    engine.store.upsert_assets(&assets, engine.now()).await?;
    let url = format!("http://{}/v1/alerts/crowdstrike", app.local_addr()?);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let s2 = shutdown.clone();
    let server = tokio::spawn(async move {
        let _ = app.serve(async move { s2.cancelled().await }).await;
    });
    let http = reqwest::Client::new();
    let tok = token(engine.now())?;
    let heidi = Actor {
        platform: Platform::Slack,
        platform_user_id: "U08HEIDI".into(),
        groups: vec![],
    };
    let mut lat = Vec::new();
    for i in 0..args.samples {
        if Instant::now() > deadline {
            break;
        }
        let host = format!("{prefix}-{i}");
        let aid = format!("aid-{host}");
        let resp = http
            .post(&url)
            .bearer_auth(&tok)
            .json(&cs_alert(&format!("p{i}"), &host, &aid, 50, true))
            .send()
            .await?;
        let v: serde_json::Value = resp.json().await?;
        let incident = v["alerts"][0]["incident_id"]
            .as_i64()
            .context("no incident id in the 202")?;
        // Wait for the pipeline to propose the decision.
        let mut decision = None;
        for _ in 0..2000 {
            let ds = engine
                .store
                .decisions_of_incident(IncidentId(incident))
                .await?;
            if let Some(d) = ds
                .iter()
                .find(|d| d.action == "isolate_host" && d.target_value == host)
            {
                decision = Some(d.id);
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let id = decision.context("no decision proposed")?;
        let t0 = Instant::now();
        engine
            .act(&heidi, DecisionId(id), Verb::Approve, None)
            .await
            .map_err(|e| anyhow::anyhow!("approve dec-{id}: {e}"))?;
        if let Some(t) = arrival(receiver, &aid).await {
            lat.push(t.saturating_duration_since(t0));
        }
    }
    shutdown.cancel();
    let _ = server.await;
    db.drop().await;
    Ok(Latency::of(lat))
}

/// The human-readable table.
pub fn table(r: &Report) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let lat = |l: &Latency| {
        if l.n == 0 {
            "-".to_owned()
        } else {
            format!("{:.2} / {:.2} / {:.2}", l.p50_ms, l.p90_ms, l.p99_ms)
        }
    };
    let col = |f: &dyn Fn(&Figures) -> String| r.results.iter().map(f).collect::<Vec<_>>();
    rows.push(("".into(), col(&|f| f.system.clone())));
    rows.push((
        "ingest batch=1: alerts/s (senders)".into(),
        col(&|f| {
            format!(
                "{:.0} ({})",
                f.ingest_batch_1.alerts_per_sec, f.ingest_batch_1.concurrency
            )
        }),
    ));
    rows.push((
        "  request→202 p50/p90/p99 ms".into(),
        col(&|f| lat(&f.ingest_batch_1.latency)),
    ));
    rows.push((
        "ingest batch=100: alerts/s (senders)".into(),
        col(&|f| {
            format!(
                "{:.0} ({})",
                f.ingest_batch_100.alerts_per_sec, f.ingest_batch_100.concurrency
            )
        }),
    ));
    rows.push((
        "  request→202 p50/p90/p99 ms".into(),
        col(&|f| lat(&f.ingest_batch_100.latency)),
    ));
    rows.push((
        "  requests refused 429/503".into(),
        col(&|f| {
            format!(
                "{}",
                f.ingest_batch_1.requests_refused + f.ingest_batch_100.requests_refused
            )
        }),
    ));
    rows.push((
        "single alert request→202 (idle) ms".into(),
        col(&|f| lat(&f.single_alert_to_202)),
    ));
    rows.push((
        "alert→connector/notification ms".into(),
        col(&|f| lat(&f.alert_to_connector)),
    ));
    rows.push((
        "approve→connector ms".into(),
        col(&|f| lat(&f.approve_to_connector)),
    ));
    rows.push((
        "alerts accepted / stored".into(),
        col(&|f| {
            format!(
                "{} / {}",
                f.alerts_held,
                if f.alerts_stored > 0 {
                    format!(
                        "{} ({} distinct)",
                        f.alerts_stored, f.alerts_stored_distinct
                    )
                } else {
                    "in memory".into()
                }
            )
        }),
    ));
    rows.push((
        "RSS baseline → peak MB".into(),
        col(&|f| format!("{:.1} → {:.1}", f.rss_baseline_mb, f.rss_peak_mb)),
    ));
    rows.push((
        "memory per alert (bytes)".into(),
        col(&|f| format!("{:.0}", f.bytes_per_alert)),
    ));
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let ncol = r.results.len();
    let widths: Vec<usize> = (0..ncol)
        .map(|c| {
            rows.iter()
                .map(|r| r.1.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (label, cells) in &rows {
        out.push_str(&format!("{label:<w0$}"));
        for (c, cell) in cells.iter().enumerate() {
            out.push_str(&format!(" | {cell:>w$}", w = widths[c]));
        }
        out.push('\n');
    }
    for f in &r.results {
        for l in [&f.ingest_batch_1, &f.ingest_batch_100] {
            if l.requests_failed > 0 {
                out.push_str(&format!(
                    "note [{}]: batch={}: {} requests failed, first: {}\n",
                    f.system,
                    l.batch,
                    l.requests_failed,
                    l.first_failure.as_deref().unwrap_or("?")
                ));
            }
        }
        for n in &f.notes {
            out.push_str(&format!("note [{}]: {n}\n", f.system));
        }
    }
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}
