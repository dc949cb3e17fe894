//! Scale-out and overload, with real processes: the built `cordon` binary
//! run as several replicas on one PostgreSQL schema, killed with SIGKILL in
//! the middle of the work, a burst above the ingest queue's capacity, and a
//! database outage made by cutting a TCP proxy. Nothing here asserts on
//! timings; waits are generous upper bounds.

mod common;

use common::TestDb;
use common::fake_vendor::FakeVendor;
use common::procs::{Cluster, Proc, Proxy, alert, postgres_host_port, through};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Short leases, windows and intervals so that takeovers happen within
/// seconds.
const EXTRA: &str = r#"
[engine]
job_lease = "3s"
retry_base = "100ms"
retry_max = "1s"
confirm_interval = "200ms"
leader_interval = "500ms"
[database]
acquire_timeout = "1s"
"#;

/// Posts one alert; on a transport error or a 5xx from `first`, resends it
/// to `second` (what a load balancer's retry does). Returns the final status.
async fn send(c: &Cluster, first: &str, second: &str, body: &serde_json::Value) -> u16 {
    for url in [first, second] {
        let r = c
            .http
            .post(format!("{url}/v1/alerts/crowdstrike"))
            .bearer_auth(&c.token)
            .json(body)
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_server_error() => continue,
            Ok(r) => return r.status().as_u16(),
            Err(_) => continue,
        }
    }
    0
}

/// Inventory rows for `Cluster::new` (hostname,…,crowdstrike_aid), also
/// registered with the fake Falcon: like a real one, it acts only on AIDs
/// of devices it knows.
fn inventory(vendor: &FakeVendor, rows: &str) -> String {
    for line in rows.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split(',').collect();
        vendor.register(cols[0], cols[cols.len() - 1]);
    }
    rows.to_owned()
}

async fn wait_until<F, Fut>(what: &str, secs: u64, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {secs}s waiting for: {what}");
}

/// Every isolate_host decision in the store.
async fn isolations(c: &Cluster) -> Vec<cordon::store::DecisionRow> {
    let store = c.store().await;
    let mut out = Vec::new();
    for i in store
        .list_incidents(&cordon::store::IncidentFilter {
            include_drills: true,
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .expect("incidents")
    {
        out.extend(
            store
                .decisions_of_incident(cordon::domain::IncidentId(i.id))
                .await
                .expect("decisions")
                .into_iter()
                .filter(|d| d.action == "isolate_host"),
        );
    }
    store.close().await;
    out
}

async fn counts(c: &Cluster) -> cordon::store::AlertCounts {
    let store = c.store().await;
    let n = store.alert_counts().await.expect("counts");
    store.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_lose_nothing_and_act_once_when_one_is_killed_mid_run() {
    let db = TestDb::postgres().await;
    let vendor = FakeVendor::start().await;
    *vendor.state.idempotent.lock().unwrap() = true;
    let assets: String = (0..50)
        .map(|i| {
            format!(
                "ws-k{i},,workstation,corp,,,aid-ws-k{i}\nsrv-k{i},,server,prod,,,aid-srv-k{i}\n"
            )
        })
        .collect();
    let assets = inventory(&vendor, &assets);
    let c = Cluster::new(&db.url, &vendor.url, "2s", EXTRA, &assets).await;
    let mut a = c.start().await;
    let b = c.start().await;
    // 500 alerts: every tenth isolates a workstation at once (auto), every
    // tenth + 5 a server after its 2 s veto window; the rest are noise.
    let alerts: Vec<serde_json::Value> = (0..500)
        .map(|i| {
            let k = i / 10;
            match i % 10 {
                0 => alert(
                    &format!("k{i}"),
                    &format!("ws-k{k}"),
                    &format!("aid-ws-k{k}"),
                    90,
                    true,
                ),
                5 => alert(
                    &format!("k{i}"),
                    &format!("srv-k{k}"),
                    &format!("aid-srv-k{k}"),
                    90,
                    true,
                ),
                _ => alert(
                    &format!("k{i}"),
                    &format!("noise-{}", i % 37),
                    &format!("aid-n{}", i % 37),
                    40,
                    false,
                ),
            }
        })
        .collect();
    let (ua, ub) = (a.url.clone(), b.url.clone());
    for (n, chunk) in alerts.chunks(20).enumerate() {
        let sends = chunk.iter().enumerate().map(|(j, body)| {
            let (first, second) = if j % 2 == 0 { (&ua, &ub) } else { (&ub, &ua) };
            send(&c, first, second, body)
        });
        let all = futures::future::join_all(sends);
        let statuses = if n == 12 {
            // Kill A while this chunk is in flight.
            let (s, _) = tokio::join!(all, async {
                tokio::time::sleep(Duration::from_millis(3)).await;
                a.kill().await;
            });
            s
        } else {
            all.await
        };
        assert!(
            statuses.iter().all(|s| *s == 202),
            "chunk {n}: {statuses:?}"
        );
    }
    let _b = b;
    // Every auto action and every veto window, including those A had
    // claimed or scheduled, ends in exactly one containment.
    let aids: Vec<String> = (0..50)
        .flat_map(|k| [format!("aid-ws-k{k}"), format!("aid-srv-k{k}")])
        .collect();
    wait_until("every host contained", 60, || async {
        aids.iter().all(|a| vendor.containments(a) >= 1)
    })
    .await;
    for aid in &aids {
        assert_eq!(vendor.containments(aid), 1, "{aid} contained once");
    }
    let n = counts(&c).await;
    assert_eq!((n.rows, n.distinct), (500, 500), "every alert stored once");
    wait_until("every decision contained", 30, || async {
        let d = isolations(&c).await;
        d.len() == 100 && d.iter().all(|d| d.state == "contained")
    })
    .await;
    let hosts: HashSet<String> = isolations(&c)
        .await
        .into_iter()
        .map(|d| d.target_value)
        .collect();
    assert_eq!(hosts.len(), 100, "one decision per host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_to_the_survivor_when_the_holder_is_killed() {
    let db = TestDb::postgres().await;
    let vendor = FakeVendor::start().await;
    let c = Cluster::new(&db.url, &vendor.url, "2s", EXTRA, "").await;
    let mut procs = vec![c.start().await, c.start().await];
    let leaders = |ps: &Vec<Proc>| {
        let ps: Vec<String> = ps.iter().map(|p| p.url.clone()).collect();
        let http = c.http.clone();
        async move {
            let mut out = Vec::new();
            for u in ps {
                let t = match http.get(format!("{u}/leaderz")).send().await {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(_) => "down".into(),
                };
                out.push(t);
            }
            out
        }
    };
    wait_until("one leader", 15, || async {
        leaders(&procs)
            .await
            .iter()
            .filter(|s| *s == "leader")
            .count()
            == 1
    })
    .await;
    let states = leaders(&procs).await;
    assert_eq!(
        states.iter().filter(|s| *s == "follower").count(),
        1,
        "{states:?}"
    );
    let holder = states.iter().position(|s| s == "leader").expect("leader");
    procs[holder].kill().await;
    let survivor = 1 - holder;
    wait_until("the survivor takes the lock", 15, || async {
        procs[survivor].leadership(&c.http).await == "leader"
    })
    .await;
    // A new replica joins as a follower.
    procs.push(c.start().await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(procs[2].leadership(&c.http).await, "follower");
    assert_eq!(procs[survivor].leadership(&c.http).await, "leader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_above_capacity_gets_429_with_retry_after_and_every_202_alert_is_stored() {
    let db = TestDb::sqlite().await;
    let vendor = FakeVendor::start().await;
    let extra = format!("{EXTRA}\n[ingest]\nqueue_capacity = 40\nmax_batch = 20\n");
    let c = Cluster::new(&db.url, &vendor.url, "2s", &extra, "").await;
    let p = c.start().await;
    let before = p.peak_rss_kb();
    let mut accepted: HashSet<String> = HashSet::new();
    let (mut refused, mut too_many) = (0, 0);
    for round in 0..3 {
        let sends = (0..64).map(|r| {
            let ids: Vec<String> = (0..20).map(|j| format!("o{round}-{r}-{j}")).collect();
            let body = serde_json::Value::Array(
                ids.iter()
                    .map(|id| alert(id, &format!("h-{}", r % 7), "aid-x", 40, false))
                    .collect(),
            );
            let c = &c;
            let p = &p;
            async move { (ids, c.post(p, &body).await.expect("post")) }
        });
        for (ids, r) in futures::future::join_all(sends).await {
            match r.status().as_u16() {
                202 => accepted.extend(ids),
                429 | 503 => {
                    assert!(
                        r.headers().contains_key("retry-after"),
                        "a refusal says when to retry"
                    );
                    refused += 1;
                    if r.status() == 429 {
                        too_many += 1;
                    }
                }
                s => panic!("unexpected {s}: {}", r.text().await.unwrap_or_default()),
            }
        }
    }
    assert!(refused > 0 && too_many > 0, "the burst exceeded the queue");
    assert!(!accepted.is_empty(), "some were accepted");
    let n = counts(&c).await;
    assert_eq!(n.rows as usize, accepted.len(), "every 202 alert is stored");
    assert_eq!(n.distinct, n.rows);
    let peak = p.peak_rss_kb();
    assert!(
        peak < 300 * 1024,
        "memory stays bounded: {before} kB → {peak} kB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_turns_readiness_red_then_green_and_loses_nothing_accepted() {
    let db = TestDb::postgres().await;
    let vendor = FakeVendor::start().await;
    let proxy = Proxy::start(&postgres_host_port(&db.url)).await;
    let assets = inventory(
        &vendor,
        "ws-o1,,workstation,corp,,,aid-ws-o1\nws-o2,,workstation,corp,,,aid-ws-o2\n",
    );
    let c = Cluster::new(&db.url, &vendor.url, "2s", EXTRA, &assets).await;
    let p = c.start_with_url(&through(&db.url, proxy.port)).await;
    let ready = |p: &Proc| {
        let (http, url) = (c.http.clone(), format!("{}/readyz", p.url));
        async move {
            http.get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let mut ids = Vec::new();
    for i in 0..10 {
        let body = if i == 0 {
            alert("o-0", "ws-o1", "aid-ws-o1", 90, true)
        } else {
            alert(&format!("o-{i}"), "noise", "aid-n", 40, false)
        };
        assert_eq!(c.post(&p, &body).await.expect("post").status(), 202);
        ids.push(i);
    }
    proxy.cut();
    wait_until("readiness red", 15, || async { ready(&p).await == 503 }).await;
    // Ingest refuses with 503 and Retry-After, and stores nothing.
    let r = c
        .post(&p, &alert("o-refused", "noise", "aid-n", 40, false))
        .await
        .expect("post");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    proxy.restore().await;
    wait_until("readiness green", 30, || async { ready(&p).await == 200 }).await;
    for i in 10..20 {
        let body = if i == 10 {
            alert("o-10", "ws-o2", "aid-ws-o2", 90, true)
        } else {
            alert(&format!("o-{i}"), "noise", "aid-n", 40, false)
        };
        assert_eq!(c.post(&p, &body).await.expect("post").status(), 202);
    }
    let n = counts(&c).await;
    assert_eq!(
        (n.rows, n.distinct),
        (20, 20),
        "the 20 accepted alerts, not the refused one"
    );
    wait_until("both hosts contained", 30, || async {
        vendor.containments("aid-ws-o1") == 1 && vendor.containments("aid-ws-o2") == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_worker_processes_never_execute_the_same_job_twice() {
    let db = TestDb::postgres().await;
    let vendor = FakeVendor::start().await;
    let assets: String = (0..200)
        .map(|i| format!("ws-j{i},,workstation,corp,,,aid-ws-j{i}\n"))
        .collect();
    let assets = inventory(&vendor, &assets);
    let c = Cluster::new(&db.url, &vendor.url, "2s", EXTRA, &assets).await;
    // 200 alerts stored with their pipeline jobs unclaimed, as if their
    // replica died right after the commit: both processes race for them.
    let store = c.store().await;
    let mut incoming = Vec::new();
    for i in 0..200 {
        let body = alert(
            &format!("j{i}"),
            &format!("ws-j{i}"),
            &format!("aid-ws-j{i}"),
            90,
            true,
        );
        for a in cordon::ingest::parse(
            cordon::ingest::Format::Crowdstrike,
            &serde_json::to_vec(&body).expect("json"),
            &Default::default(),
        )
        .expect("parse")
        {
            incoming.push(cordon::store::IncomingAlert {
                alert: a,
                sender: "edr-test".into(),
                received_at: chrono::Utc::now(),
                drill: false,
            });
        }
    }
    store
        .ingest_batch(
            &incoming,
            cordon::store::IngestWindows {
                dedup: Duration::from_secs(3600),
                correlation: Duration::from_secs(1800),
            },
            None,
        )
        .await
        .expect("ingest");
    store.close().await;
    let (_a, _b) = tokio::join!(c.start(), c.start());
    wait_until("200 contain calls", 60, || async {
        vendor.actions_named("contain") >= 200
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(vendor.actions_named("contain"), 200, "no job ran twice");
    for i in 0..200 {
        assert_eq!(vendor.contain_requests(&format!("aid-ws-j{i}")), 1);
    }
    // The vendor knew every AID, so every decision ends contained (a
    // refused AID would end it failed while the counts above still held).
    wait_until("every decision contained", 30, || async {
        let d = isolations(&c).await;
        d.len() == 200 && d.iter().all(|d| d.state == "contained")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_in_a_veto_window_or_mid_call_acts_exactly_once_after_restart() {
    let db = TestDb::postgres().await;
    let vendor = FakeVendor::start().await;
    *vendor.state.idempotent.lock().unwrap() = true;
    let assets = inventory(
        &vendor,
        "srv-r,,server,prod,,,aid-srv-r\nws-r,,workstation,corp,,,aid-ws-r\n",
    );
    let c = Cluster::new(&db.url, &vendor.url, "2s", EXTRA, &assets).await;
    // 1. Killed during the server's 2 s veto window.
    let mut a = c.start().await;
    assert_eq!(
        c.post(&a, &alert("r-1", "srv-r", "aid-srv-r", 90, true))
            .await
            .expect("post")
            .status(),
        202
    );
    wait_until("the veto window is open", 10, || async {
        isolations(&c)
            .await
            .iter()
            .any(|d| d.target_value == "srv-r")
    })
    .await;
    a.kill().await;
    assert_eq!(
        vendor.contain_requests("aid-srv-r"),
        0,
        "still in the window"
    );
    let mut b = c.start().await;
    wait_until(
        "the window ends and the server is contained",
        30,
        || async { vendor.containments("aid-srv-r") == 1 },
    )
    .await;
    // 2. Killed while the connector call is in flight.
    *vendor.state.action_delay_ms.lock().unwrap() = 5_000;
    assert_eq!(
        c.post(&b, &alert("r-2", "ws-r", "aid-ws-r", 90, true))
            .await
            .expect("post")
            .status(),
        202
    );
    wait_until("the call reached the vendor", 10, || async {
        vendor.contain_requests("aid-ws-r") == 1
    })
    .await;
    b.kill().await;
    *vendor.state.action_delay_ms.lock().unwrap() = 0;
    let _c2 = c.start().await;
    wait_until("the workstation decision is contained", 40, || async {
        isolations(&c)
            .await
            .iter()
            .any(|d| d.target_value == "ws-r" && d.state == "contained")
    })
    .await;
    // The call was repeated once after the lease expired (cordon cannot
    // know whether the first arrived); the vendor acted once and answered
    // the repeat "already contained".
    assert_eq!(vendor.containments("aid-ws-r"), 1);
    assert_eq!(vendor.contain_requests("aid-ws-r"), 2);
    assert_eq!(vendor.containments("aid-srv-r"), 1);
    assert_eq!(vendor.contain_requests("aid-srv-r"), 1);
}
