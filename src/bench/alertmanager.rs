//! Prometheus Alertmanager side by side, measured the same way as cordon:
//! alert POST → webhook request on loopback (`group_wait: 0s`, one group per
//! alert), new-alert throughput in batches of 1 and 100, and RSS growth per
//! live alert. Clustering is off (`--cluster.listen-address=`), so the
//! peer comparison is one process against one process.
//!
//! Throughput alerts carry `bench="load"` and go to a route with a one-hour
//! `group_wait`, so they are held in memory but never notify, like cordon's
//! throughput alerts that match no playbook.

use super::{BenchArgs, Figures, Latency, fake, free_port, load, rss_mb, wait_ready};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The binary, if installed.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["alertmanager", "prometheus-alertmanager"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn config(hook: &str) -> String {
    format!(
        r#"route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
  routes:
    - matchers: ['bench="load"']
      receiver: hook
      group_by: ['alertname']
      group_wait: 1h
      group_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook}
        send_resolved: false
"#
    )
}

fn alert(id: &str, kind: &str) -> serde_json::Value {
    let now = chrono::Utc::now();
    serde_json::json!({
        "labels": {"alertname": "Ransomware", "id": id, "bench": kind, "severity": "critical"},
        "annotations": {"summary": "bench"},
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + chrono::Duration::hours(6)).to_rfc3339(),
    })
}

pub async fn run(
    bin: &Path,
    args: &BenchArgs,
    receiver: &fake::Receiver,
    deadline: Instant,
) -> anyhow::Result<Figures> {
    let dir = super::TempDir::new("am")?;
    let d = dir.path();
    std::fs::write(
        d.join("alertmanager.yml"),
        config(&format!("{}/am", receiver.url)),
    )?;
    let port = free_port()?;
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg(format!(
        "--config.file={}",
        d.join("alertmanager.yml").display()
    ))
    .arg(format!("--storage.path={}", d.join("data").display()))
    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
    .arg("--cluster.listen-address=")
    .arg("--log.level=warn")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true);
    let child = super::ChildGuard(cmd.spawn().context("starting alertmanager")?);
    let pid = child.0.id().unwrap_or(0);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    wait_ready(&http, &format!("{base}/-/ready"), "alertmanager").await?;
    let url = format!("{base}/api/v2/alerts");
    let mut fig = Figures {
        system: "alertmanager".into(),
        ..Default::default()
    };
    // Warm-up, then the baseline.
    let _ = load(
        &http,
        &url,
        None,
        200,
        1,
        4,
        deadline,
        Arc::new(|i| alert(&format!("w{i}"), "load")),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    fig.rss_baseline_mb = rss_mb(pid).1;

    let (mut to_hook, mut to_200) = (Vec::new(), Vec::new());
    for i in 0..args.samples {
        if Instant::now() > deadline {
            break;
        }
        let id = format!("lat-{i}");
        let body = serde_json::json!([alert(&id, "latency")]);
        let t0 = Instant::now();
        let resp = http.post(&url).json(&body).send().await?;
        let _ = resp.bytes().await;
        to_200.push(t0.elapsed());
        if let Some(t) = super::arrival(receiver, &id).await {
            to_hook.push(t.saturating_duration_since(t0));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fig.single_alert_to_202 = Latency::of(to_200);
    fig.alert_to_connector = Latency::of(to_hook);

    let n1 = (args.am_alerts / 10).max(1);
    let n100 = args.am_alerts.saturating_sub(n1);
    fig.ingest_batch_1 = load(
        &http,
        &url,
        None,
        n1,
        1,
        args.concurrency,
        deadline,
        Arc::new(|i| alert(&format!("s{i}"), "load")),
    )
    .await;
    fig.ingest_batch_100 = load(
        &http,
        &url,
        None,
        n100,
        100,
        args.concurrency.min(8),
        deadline,
        Arc::new(|i| alert(&format!("b{i}"), "load")),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (hwm, rss) = rss_mb(pid);
    fig.rss_peak_mb = hwm;
    fig.alerts_held = fig.ingest_batch_1.alerts_accepted
        + fig.ingest_batch_100.alerts_accepted
        + fig.alert_to_connector.n
        + 200;
    fig.bytes_per_alert =
        (rss - fig.rss_baseline_mb).max(0.0) * 1024.0 * 1024.0 / fig.alerts_held.max(1) as f64;
    fig.notes.push(format!(
        "memory per alert from VmRSS (alerts live in memory); {} alerts sent (--am-alerts)",
        fig.alerts_held
    ));
    drop(child);
    Ok(fig)
}
