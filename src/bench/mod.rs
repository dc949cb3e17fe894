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
//! - a signed Slack Approve click → connector request for an `approval`
//!   rule: the decision's message is posted to a fake Slack, then a
//!   `block_actions` interaction, signed with the signing secret exactly as
//!   Slack signs it, goes to cordon's `/slack/interactions` as Heidi
//!   (`U08HEIDI`, a soc-analyst the matrix lets approve);
//! - peak RSS (`VmHWM`) of the cordon process after all the alerts.
//!
//! Cordon runs as a child process (`cordon serve`, this same executable) so
//! that its RSS is its own, with Slack connected to a fake Slack Web API on
//! loopback (see [`fake::FakeSlack`]), so every phase pays for posting and
//! updating incident messages. Routing sends the latency series'
//! workstations to their own incident channels and everything else to one
//! triage channel. Slack pacing is 1 ms, not the default 1 s: see
//! [`PACING_NOTE`].
//! Optionally Prometheus Alertmanager runs side by side with a webhook
//! receiver on loopback, measured the same way.
//!
//! Everything is on 127.0.0.1; every phase is bounded in count and by a
//! deadline. This module is a composition root like `app.rs`: it names
//! concrete adapters on purpose.

mod alertmanager;
mod fake;

use crate::chat::ButtonId;
use crate::clock::{Clock, SystemClock};
use crate::domain::decision::Verb;
use crate::domain::{DecisionId, IncidentId};
use crate::store::{Store, StoreOptions};
use anyhow::{Context, bail};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-ingest-secret-0123456789abcdef";
/// The Slack app's signing secret: cordon verifies clicks with it, the
/// bench signs them with it.
const SLACK_SIGNING_SECRET: &str = "bench-slack-signing-secret-0123456789";
const SLACK_BOT_TOKEN: &str = "xoxb-bench-0000";
/// Heidi's Slack user id (`config/authority.toml`): a soc-analyst, so an
/// approver of `workstations-below-high`.
const HEIDI: &str = "U08HEIDI";
/// The workspace the clicks come from.
const TEAM: &str = "TBENCH";
/// Why the child paces Slack posts at 1 ms (printed with the results).
const PACING_NOTE: &str = "Slack pacing is 1ms, not the default 1s: the fake Slack does not rate-limit, \
and at 1s every post to the one triage channel that the 100,000 noise alerts share waits its turn while \
holding a chat slot, so the approve series' decision messages would wait behind them for minutes";
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
    /// Sending a signed Slack Approve click → connector request.
    pub approve_click_to_connector: Latency,
    /// Calls cordon made to the fake Slack, per method.
    pub slack_calls: BTreeMap<String, u64>,
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
    if !report.results.is_empty() {
        report.notes.push(PACING_NOTE.into());
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

/// `cordon.toml` of the child. Slack keeps cordon's defaults but for the
/// API URL and the pacing ([`PACING_NOTE`]); the latency series' hosts are
/// workstations and get their own channel each (as a SOC would route
/// incidents someone must act on); the throughput noise goes to one triage
/// channel.
fn child_config(port: u16, d: &Path, slack_api: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:{port}"
matrix = "{m}"
playbooks = "{p}"
connectors = "{c}"

[log]
filter = "warn"

[slack]
api_url = "{slack_api}"
pacing = "1ms"

[routing]
default = "triage"
triage = {{ slack = "C0BENCHTRIAGE" }}

[[routing.routes]]
tiers = ["workstation"]
destination = "incident_channel"
"#,
        m = d.join("authority.toml").display(),
        p = d.join("playbooks.toml").display(),
        c = d.join("connectors.toml").display(),
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

/// The example matrix without its `isolate_host` rate guard. The bench
/// times the automatic path of every alert it sends; with the example's
/// guard (10 per 10 minutes) all but ten would wait for a person. The guard's
/// own cost with a realistic `max` is one index range of at most `max` rows.
fn without_isolate_rate_guard(m: &str) -> String {
    m.replace(
        "[[guards.rate]]\naction = \"isolate_host\"\nmax = 10\nper = \"10m\"\nreset = [\"soc-lead\"]\n",
        "",
    )
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
    std::fs::write(d.join("authority.toml"), without_isolate_rate_guard(MATRIX))?;
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
            assets_csv(&[auto_p.as_str(), appr_p.as_str()], args.samples).as_bytes(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        store.upsert_assets(&assets, SystemClock.now()).await?;
        store.close().await;
    }
    // Heidi is in @soc-analysts, as she would be in a real workspace, so a
    // click by her finds her groups in cordon's cache.
    let slack = fake::FakeSlack::start(HashMap::from([(
        "S0SOCANALYSTS".to_owned(),
        vec![HEIDI.to_owned()],
    )]))
    .await
    .context("starting the fake Slack")?;
    let port = free_port()?;
    let cfg_path = d.join("cordon.toml");
    std::fs::write(&cfg_path, child_config(port, d, &slack.api_url))?;
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
        .env("CORDON_SLACK_BOT_TOKEN", SLACK_BOT_TOKEN)
        .env("CORDON_SLACK_SIGNING_SECRET", SLACK_SIGNING_SECRET)
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
    let to_202_n = to_202.len();
    fig.single_alert_to_202 = Latency::of(to_202);
    fig.alert_to_connector = Latency::of(to_conn);

    // --- Approval rule: a signed Slack click on Approve. -----------------
    let reader = Store::connect(&db.url, &StoreOptions::default()).await?;
    let target = Target {
        http: &http,
        base: &base,
        tok: &tok,
        store: &reader,
        slack: &slack,
        receiver,
    };
    let approved = approve_series(&target, &appr_p, args.samples, deadline).await;
    reader.close().await;
    let (lat, sent, failures) = approved.context("approve series")?;
    fig.approve_click_to_connector = lat;
    if let Some(first) = failures.first() {
        fig.notes.push(format!(
            "approve series: {} of {sent} samples failed, first: {first}",
            failures.len()
        ));
    }
    if sent < args.samples {
        fig.notes
            .push("approve series cut short by the time limit".into());
    }

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
        + to_202_n
        + sent
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
    fig.slack_calls = slack.calls();
    let unanswered = slack.unanswered();
    if !unanswered.is_empty() {
        fig.notes.push(format!(
            "cordon called Slack methods the fake Slack does not answer: {}",
            unanswered.join(", ")
        ));
    }
    Ok(fig)
}

/// The running child, as the approve series talks to it.
struct Target<'a> {
    http: &'a reqwest::Client,
    /// `http://127.0.0.1:PORT`
    base: &'a str,
    /// Ingest bearer token.
    tok: &'a str,
    /// A reader on the child's database, to learn decision ids.
    store: &'a Store,
    slack: &'a fake::FakeSlack,
    receiver: &'a fake::Receiver,
}

/// Polls `f` every millisecond for up to 10 s.
async fn poll<T, F, Fut>(mut f: F) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await? {
            return Ok(Some(v));
        }
        if Instant::now() > until {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A `block_actions` payload as Slack sends it for a click on `button`.
fn click_payload(
    user: &str,
    action_id: &str,
    button: &fake::PostedButton,
    response_url: &str,
    n: usize,
) -> serde_json::Value {
    let now = SystemClock.now();
    let action_ts = format!("{}.{:06}", now.timestamp(), now.timestamp_subsec_micros());
    serde_json::json!({
        "type": "block_actions",
        "api_app_id": "ABENCH",
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": TEAM},
        "team": {"id": TEAM, "domain": "cordon-bench"},
        "channel": {"id": button.channel, "name": "incident"},
        "container": {"type": "message", "message_ts": button.ts, "channel_id": button.channel, "is_ephemeral": false},
        "message": {"type": "message", "ts": button.ts, "text": ""},
        "trigger_id": format!("bench-trigger-{n}"),
        "response_url": response_url,
        "actions": [{
            "type": "button", "action_id": action_id, "block_id": button.block_id,
            "value": button.value, "text": {"type": "plain_text", "text": "Approve"},
            "action_ts": action_ts
        }]
    })
}

/// Medium-severity ransomware on a workstation takes the `approval` rule.
/// Per sample: the alert goes in; once cordon has proposed the isolation
/// and posted its Approve button to the fake Slack, Heidi clicks it (a
/// signed interaction to `/slack/interactions`). Timed: sending the click
/// → the contain request at the fake vendor.
///
/// Returns the latencies, the samples started, and why samples failed.
async fn approve_series(
    t: &Target<'_>,
    prefix: &str,
    samples: usize,
    deadline: Instant,
) -> anyhow::Result<(Latency, usize, Vec<String>)> {
    let ingest_url = format!("{}/v1/alerts/crowdstrike", t.base);
    let click_url = format!("{}/slack/interactions", t.base);
    let (mut lat, mut failures, mut sent) = (Vec::new(), Vec::new(), 0);
    for i in 0..samples {
        if Instant::now() > deadline {
            break;
        }
        sent += 1;
        let host = format!("{prefix}-{i}");
        let aid = format!("aid-{host}");
        let resp = t
            .http
            .post(&ingest_url)
            .bearer_auth(t.tok)
            .json(&cs_alert(&format!("p{i}"), &host, &aid, 50, true))
            .send()
            .await?;
        let st = resp.status();
        if st != 202 {
            bail!("approve sample {i}: cordon answered {st}");
        }
        let v: serde_json::Value = resp.json().await?;
        let incident = IncidentId(
            v["alerts"][0]["incident_id"]
                .as_i64()
                .context("no incident id in the 202")?,
        );
        let decision = poll(|| async {
            let ds = t.store.decisions_of_incident(incident).await?;
            Ok(ds
                .iter()
                .find(|d| d.action == "isolate_host" && d.target_value == host)
                .map(|d| d.id))
        })
        .await?;
        let Some(id) = decision else {
            failures.push(format!("sample {i}: no isolation proposed for {host}"));
            continue;
        };
        // The button as cordon renders it (`approve:dec-N`), and proof that
        // a message showing it reached Slack: nobody can click it before.
        let action_id = ButtonId {
            verb: Verb::Approve,
            decision: DecisionId(id),
        }
        .to_string();
        let posted = poll(|| async { Ok(t.slack.button(&action_id)) }).await?;
        let Some(button) = posted else {
            failures.push(format!("sample {i}: {action_id} never posted to Slack"));
            continue;
        };
        let reply_id = format!("{prefix}-{i}");
        let payload = click_payload(
            HEIDI,
            &action_id,
            &button,
            &t.slack.response_url(&reply_id),
            i,
        );
        let body = serde_urlencoded::to_string([("payload", payload.to_string())])?;
        let ts = SystemClock.now().timestamp().to_string();
        let sig = crate::chat::slack::verify::sign(SLACK_SIGNING_SECRET, &ts, body.as_bytes());
        let t0 = Instant::now();
        let resp = t
            .http
            .post(&click_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header(crate::chat::slack::verify::TIMESTAMP_HEADER, &ts)
            .header(crate::chat::slack::verify::SIGNATURE_HEADER, sig)
            .body(body)
            .send()
            .await?;
        let st = resp.status();
        let _ = resp.bytes().await;
        if st != 200 {
            failures.push(format!("sample {i}: the click was answered {st}"));
            continue;
        }
        match arrival(t.receiver, &aid).await {
            Some(at) => lat.push(at.saturating_duration_since(t0)),
            None => failures.push(format!(
                "sample {i}: no contain request after the click; cordon replied: {}",
                t.slack.reply(&reply_id).unwrap_or_else(|| "nothing".into())
            )),
        }
    }
    Ok((Latency::of(lat), sent, failures))
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
        "signed Approve click→connector ms".into(),
        col(&|f| lat(&f.approve_click_to_connector)),
    ));
    rows.push((
        "Slack calls: postMessage / update / all".into(),
        col(&|f| {
            let n = |m: &str| f.slack_calls.get(m).copied().unwrap_or(0);
            format!(
                "{} / {} / {}",
                n("chat.postMessage"),
                n("chat.update"),
                f.slack_calls.values().sum::<u64>()
            )
        }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_matrix_is_the_example_without_the_isolation_rate_guard() {
        let m = crate::domain::Matrix::parse("bench", &without_isolate_rate_guard(MATRIX))
            .expect("bench matrix");
        let example = crate::domain::Matrix::parse("example", MATRIX).expect("example");
        let isolate = crate::domain::ActionKind::IsolateHost;
        assert!(example.guards.rate_for(&isolate).is_some());
        assert!(m.guards.rate_for(&isolate).is_none());
        let shape = |m: &crate::domain::Matrix| {
            m.rules
                .iter()
                .map(|r| (r.name.clone(), r.mode))
                .collect::<Vec<_>>()
        };
        assert_eq!(shape(&m), shape(&example));
    }

    #[test]
    fn a_bench_click_is_a_block_action_that_cordon_verifies_and_reads() {
        let button = fake::PostedButton {
            channel: "C1".into(),
            ts: "1700000000.000001".into(),
            block_id: "dec-7".into(),
            value: "approve:dec-7".into(),
        };
        let payload = click_payload(HEIDI, "approve:dec-7", &button, "http://x/response/1", 1);
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form");
        let ts = "1763884800";
        let sig = crate::chat::slack::verify::sign(SLACK_SIGNING_SECRET, ts, body.as_bytes());
        assert!(
            crate::chat::slack::verify::verify(
                SLACK_SIGNING_SECRET,
                Some(&sig),
                Some(ts),
                body.as_bytes(),
                1763884800
            )
            .is_ok()
        );
        let back: Vec<(String, String)> = serde_urlencoded::from_str(&body).expect("form");
        let p: serde_json::Value = serde_json::from_str(&back[0].1).expect("json");
        assert_eq!(p["type"], "block_actions");
        assert_eq!(p["user"]["id"], "U08HEIDI");
        let id: ButtonId = p["actions"][0]["action_id"]
            .as_str()
            .expect("action_id")
            .parse()
            .expect("a cordon button");
        assert_eq!((id.verb, id.decision), (Verb::Approve, DecisionId(7)));
    }

    #[test]
    fn the_child_config_is_a_valid_cordon_config_with_slack_routing() {
        let text = child_config(1234, Path::new("/tmp/x"), "http://127.0.0.1:9/api");
        let v: toml::Table = toml::from_str(&text).expect("toml");
        let slack: crate::chat::slack::SlackConfig =
            v["slack"].clone().try_into().expect("[slack]");
        assert_eq!(slack.api_url.as_deref(), Some("http://127.0.0.1:9/api"));
        let routing: crate::chat::routing::Routing =
            v["routing"].clone().try_into().expect("[routing]");
        assert_eq!(routing.routes.len(), 1);
    }
}
