//! Issue 13, the edge: the HTTP server, the web console's sign-in and
//! session, its headers, the command connector's child process, and drills
//! in dedup and dead letters. Real HTTP against the app on port 0 (a real
//! `cordon serve` process where the process environment matters), raw TCP
//! for slow clients, the `cordon` binary for the CLI, both backends where a
//! store is involved.

use crate::common::TestDb;
use crate::common::app::{Options, TestApp, crowdstrike_alert, csrf_of, spawn_app, token_for};
use crate::common::procs::{Cluster, alert};
use cordon::clock::Clock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------
// HTTP server timeouts
// ---------------------------------------------------------------------------

const SHORT_TIMEOUTS: &str = "[http]\nheader_read_timeout = \"500ms\"\nrequest_timeout = \"1s\"\n";

/// Writes `bytes` on a fresh connection, then reads until the server closes
/// it or `within` passes. Returns what was read and whether it was closed.
async fn send_and_wait_for_close(app: &TestApp, bytes: &[u8], within: Duration) -> (String, bool) {
    let addr = app.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut got = Vec::new();
    let closed = tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

#[tokio::test]
async fn a_client_that_sends_half_a_request_line_is_disconnected() {
    let app = spawn_app(Options {
        extra_config: SHORT_TIMEOUTS.into(),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let (got, closed) =
        send_and_wait_for_close(&app, b"GET /healthz HT", Duration::from_secs(5)).await;
    assert!(
        closed,
        "a half request line held the connection for 5 s (header_read_timeout is 500 ms)"
    );
    assert!(!got.contains("200 OK"), "{got}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    // A client that connects and sends nothing at all goes the same way.
    let (_, closed) = send_and_wait_for_close(&app, b"", Duration::from_secs(5)).await;
    assert!(closed, "a silent connection was held for 5 s");
    // Whole requests are still served.
    let r = app.http.get(format!("{}/healthz", app.url)).send().await;
    assert_eq!(r.expect("healthz").status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_is_answered_408_and_closed() {
    let app = spawn_app(Options {
        extra_config: SHORT_TIMEOUTS.into(),
        ..Default::default()
    })
    .await;
    let head = format!(
        "POST /v1/alerts/crowdstrike HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"metadata\":",
        app.token
    );
    let (got, closed) =
        send_and_wait_for_close(&app, head.as_bytes(), Duration::from_secs(5)).await;
    assert!(closed, "a body that never arrives held the request: {got}");
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Web console: sign-in `next`, sign-out, headers
// ---------------------------------------------------------------------------

/// Signs `person` in with a fresh link and `next`; returns the redirect target.
async fn sign_in_to(app: &TestApp, person: &str, next: &str) -> String {
    let link = app.login_link(person);
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let r = app
        .no_redirect()
        .post(format!("{}/login", app.url))
        .form(&[("token", token.as_str()), ("next", next)])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303, "{next:?}");
    r.headers()["location"].to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn the_sign_in_next_parameter_cannot_send_anyone_off_site() {
    let app = spawn_app(Options::default()).await;
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/\\\\evil.example",
        "\\/evil.example",
        "https://evil.example",
        "evil.example",
        " //evil.example",
        "/ /evil.example",
        "/incidents//evil.example",
        "/\u{0}/evil.example",
        "/\u{3000}/evil.example",
    ] {
        assert_eq!(
            sign_in_to(&app, "alice", next).await,
            "/",
            "next = {next:?}"
        );
    }
    // Same-site paths are kept.
    for next in ["/reports?since=30d", "/incidents/3#dec-4", "/"] {
        assert_eq!(sign_in_to(&app, "alice", next).await, next);
    }
    // The sign-in page puts only the safe value in its form.
    let link = format!("{}&next=%2F%09%2Fevil.example", app.login_link("bob"));
    let page = app.http.get(&link).send().await.expect("get");
    let html = page.text().await.expect("body");
    // (minijinja writes `/` as `&#x2f;` in attributes.)
    assert!(html.contains(r#"name="next" value="&#x2f;""#), "{html}");
    assert!(!html.contains("evil"), "{html}");
    app.stop().await;
}

async fn sign_out_ends_the_session_on_the_server(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    let cookie = app.sign_in("alice").await;
    // The copy an attacker took (another tab, a stolen cookie file).
    let copied = cookie.clone();
    let (status, page) = app.page(&cookie, "/incidents").await;
    assert_eq!(status, 200);
    let r = app
        .no_redirect()
        .post(format!("{}/logout", app.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    for path in ["/incidents", "/matrix", "/reports.json"] {
        let r = app
            .no_redirect()
            .get(format!("{}{path}", app.url))
            .header("cookie", &copied)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 303, "{path} after sign-out ({})", app.db.label);
        assert_eq!(r.headers()["location"], "/login");
    }
    // A POST with the old cookie and its CSRF token is refused too.
    let r = app
        .no_redirect()
        .post(format!("{}/decisions/1/act", app.url))
        .header("cookie", &copied)
        .form(&[("csrf", csrf_of(&page).as_str()), ("verb", "approve")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    // Signing in again gives a new session that works.
    let fresh = app.sign_in("alice").await;
    assert_eq!(app.page(&fresh, "/incidents").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_session_cookie_copied_before_sign_out_is_refused_after_it_on_sqlite() {
    sign_out_ends_the_session_on_the_server(false).await;
}

#[tokio::test]
async fn a_session_cookie_copied_before_sign_out_is_refused_after_it_on_postgres() {
    sign_out_ends_the_session_on_the_server(true).await;
}

/// The console's policy: no script at all, styles from cordon only, forms
/// post to cordon only, never framed.
const CONSOLE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn every_console_response_carries_the_security_headers() {
    let app = spawn_app(Options::default()).await;
    let cookie = app.sign_in("carol").await;
    let link = app.login_link("bob");
    let c = app.no_redirect();
    let get = |url: String, cookie: Option<&str>| {
        let mut r = c.get(url);
        if let Some(k) = cookie {
            r = r.header("cookie", k);
        }
        r.send()
    };
    let pages = [
        (link.clone(), None, 200),
        (format!("{}/login", app.url), None, 200),
        (format!("{}/incidents", app.url), None, 303),
        (format!("{}/incidents", app.url), Some(cookie.as_str()), 200),
        (format!("{}/matrix", app.url), Some(cookie.as_str()), 200),
        (format!("{}/reports", app.url), Some(cookie.as_str()), 200),
        (
            format!("{}/reports.json", app.url),
            Some(cookie.as_str()),
            200,
        ),
        (
            format!("{}/incidents/999", app.url),
            Some(cookie.as_str()),
            404,
        ),
    ];
    for (url, cookie, status) in pages {
        let r = get(url.clone(), cookie).await.expect("get");
        assert_eq!(r.status(), status, "{url}");
        let csp = header(&r, "content-security-policy");
        assert_eq!(csp, CONSOLE_CSP, "{url}");
        assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"), "{url}");
        assert_eq!(header(&r, "x-frame-options"), "DENY", "{url}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{url}");
        assert_eq!(header(&r, "referrer-policy"), "no-referrer", "{url}");
        assert_eq!(header(&r, "cache-control"), "no-store", "{url}");
        // Nothing on the page needs what the policy forbids.
        let body = r.text().await.expect("body");
        for forbidden in ["<script", "<style", " style=", " onclick=", "javascript:"] {
            assert!(!body.contains(forbidden), "{url} has {forbidden}");
        }
    }
    // The stylesheet the pages link is served, as CSS.
    let r = get(format!("{}/console.css", app.url), None)
        .await
        .expect("css");
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/css"));
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert!(r.text().await.expect("css").contains("body {"));
    // The API and the health endpoints: not framed, not sniffed, not cached.
    for (url, token) in [
        (format!("{}/v1/incidents", app.url), Some(&app.read_token)),
        (format!("{}/healthz", app.url), None),
        (format!("{}/no-such-path", app.url), None),
    ] {
        let mut req = c.get(&url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.expect("get");
        assert!(
            header(&r, "content-security-policy").contains("frame-ancestors 'none'"),
            "{url}"
        );
        assert_eq!(header(&r, "x-frame-options"), "DENY", "{url}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{url}");
        assert_eq!(header(&r, "referrer-policy"), "no-referrer", "{url}");
        assert_eq!(header(&r, "cache-control"), "no-store", "{url}");
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------
// The command connector's child process
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_command_connector_child_sees_none_of_cordons_secrets() {
    let db = TestDb::sqlite().await;
    let vendor = crate::common::fake_vendor::FakeVendor::start().await;
    let c = Cluster::new(
        &db.url,
        &vendor.url,
        "1s",
        "",
        "ws-env1,,workstation,corp,,,aid-ws-env1\n",
    )
    .await;
    // Isolation goes to a script that writes down what it was given.
    let out = c.dir.path().join("child-env.txt");
    std::fs::write(
        c.dir.path().join("connectors.toml"),
        format!(
            r#"
[command]
program = "/bin/sh"
args = ["-c", 'env > "$0"; echo isolated', "{}", "{{target}}"]
actions = ["isolate_host", "release_host"]
dry_run = false
timeout = "10s"

[routes]
isolate_host = "command"
release_host = "command"
"#,
            out.display()
        ),
    )
    .expect("write connectors");
    // `cordon serve` runs with CORDON_INGEST_JWT_SECRET (and the test's
    // vendor secrets) in its own environment.
    let p = c.start().await;
    let r = c
        .post(
            &p,
            &serde_json::json!([alert("env-1", "ws-env1", "aid-ws-env1", 90, true)]),
        )
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    let env = loop {
        if let Ok(t) = std::fs::read_to_string(&out)
            && t.contains("CORDON_DECISION_ID")
        {
            break t;
        }
        assert!(Instant::now() < deadline, "the command never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for secret in [
        "CORDON_INGEST_JWT_SECRET",
        "CORDON_DATABASE_URL",
        "CORDON_LISTEN",
        "TEST_CS_SECRET",
        "TEST_HOOK_SECRET",
    ] {
        assert!(!env.contains(secret), "the child saw {secret}:\n{env}");
    }
    assert!(
        !env.contains(crate::common::app::INGEST_SECRET),
        "the child saw the ingest secret's value"
    );
    assert!(env.contains("CORDON_DECISION_ID=dec-"), "{env}");
    assert!(env.contains("PATH="), "{env}");
    drop(p);
}

// ---------------------------------------------------------------------------
// Drills: dedup and dead letters
// ---------------------------------------------------------------------------

/// Posts one CrowdStrike detection with source id `id`, as a drill or not,
/// from the same source (`edr-test`); returns the ingest answer's first alert.
async fn post_as(app: &TestApp, id: &str, drill: bool) -> serde_json::Value {
    let token = token_for("edr-test", "ingest drill", app.clock.now());
    let r = app
        .http
        .post(format!("{}/v1/alerts/crowdstrike?drill={drill}", app.url))
        .bearer_auth(token)
        .json(&crowdstrike_alert("ws-drill", "aid-drill", 40, id))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let v: serde_json::Value = r.json().await.expect("json");
    v["alerts"][0].clone()
}

async fn drills_and_real_alerts_do_not_deduplicate_each_other(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    let label = app.db.label;
    // A drill first, then the real alert with the same source id: the real
    // one is news, not a repeat of the rehearsal.
    let drill = post_as(&app, "same-1", true).await;
    let real = post_as(&app, "same-1", false).await;
    assert_eq!(
        real["duplicate"], false,
        "{label}: the real alert was swallowed"
    );
    assert_ne!(real["incident_id"], drill["incident_id"]);
    let incident =
        |v: &serde_json::Value| cordon::domain::IncidentId(v["incident_id"].as_i64().expect("id"));
    let row = app
        .engine
        .store
        .get_incident(incident(&real))
        .await
        .expect("get")
        .expect("row");
    assert!(!row.drill, "{label}");
    // The reverse: a real alert, then a drill that reuses its id.
    let real = post_as(&app, "same-2", false).await;
    let drill = post_as(&app, "same-2", true).await;
    assert_eq!(
        drill["duplicate"], false,
        "{label}: the drill was counted on the real alert"
    );
    let row = app
        .engine
        .store
        .get_incident(incident(&drill))
        .await
        .expect("get")
        .expect("row");
    assert!(row.drill, "{label}");
    assert_ne!(real["incident_id"], drill["incident_id"]);
    // Repeats within each kind are still repeats.
    assert_eq!(post_as(&app, "same-2", true).await["duplicate"], true);
    assert_eq!(post_as(&app, "same-2", false).await["duplicate"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_real_alert_and_a_drill_with_the_same_source_id_are_not_duplicates_on_sqlite() {
    drills_and_real_alerts_do_not_deduplicate_each_other(false).await;
}

#[tokio::test]
async fn a_real_alert_and_a_drill_with_the_same_source_id_are_not_duplicates_on_postgres() {
    drills_and_real_alerts_do_not_deduplicate_each_other(true).await;
}

/// Runs the `cordon` binary against `db_url`; returns (exit code, stdout, stderr).
fn cordon_cli(args: &[&str], db_url: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("cordon.toml"), "").expect("write");
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cordon"));
    for (k, _) in std::env::vars() {
        if k.starts_with("CORDON_") {
            c.env_remove(k);
        }
    }
    let out = c
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CORDON_CONFIG", dir.path().join("cordon.toml"))
        .env("CORDON_DATABASE_URL", db_url)
        .output()
        .expect("run cordon");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn a_drill_dead_letter_replays_as_a_drill_once(postgres: bool) {
    let app = spawn_app(Options {
        postgres,
        ..Default::default()
    })
    .await;
    let label = app.db.label;
    // A drill sent with the wrong content type: kept as a dead letter.
    let token = token_for("edr-test", "ingest drill", app.clock.now());
    let body =
        serde_json::to_vec(&crowdstrike_alert("ws-dl", "aid-dl", 40, "dl-drill-1")).expect("json");
    let r = app
        .http
        .post(format!("{}/v1/alerts/crowdstrike?drill=true", app.url))
        .bearer_auth(token)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415);
    let err: serde_json::Value = r.json().await.expect("json");
    let id = err["dead_letter_id"]
        .as_i64()
        .expect("a dead letter id")
        .to_string();

    let (code, out, errout) = cordon_cli(&["dead-letters", "replay", &id], &app.db.url);
    assert_eq!(code, 0, "{label}: {out}{errout}");
    assert!(out.contains("ingested 1 alerts as a drill"), "{out}");
    let incidents = app
        .engine
        .store
        .list_incidents(&cordon::store::IncidentFilter {
            include_drills: true,
            ..Default::default()
        })
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1, "{label}");
    assert!(
        incidents[0].drill,
        "{label}: the replayed drill became a live incident"
    );
    let alerts = app
        .engine
        .store
        .alerts_of_incident(cordon::domain::IncidentId(incidents[0].id))
        .await
        .expect("alerts");
    assert!(alerts.iter().all(|a| a.drill), "{label}");

    // A second replay would ingest the alerts again: refused without --force.
    let (code, out, errout) = cordon_cli(&["dead-letters", "replay", &id], &app.db.url);
    assert_ne!(code, 0, "{label}: {out}");
    assert!(
        errout.contains("replayed already") && errout.contains("--force"),
        "{errout}"
    );
    let (code, out, errout) = cordon_cli(&["dead-letters", "replay", &id, "--force"], &app.db.url);
    assert_eq!(code, 0, "{label}: {out}{errout}");
    assert!(out.contains("as a drill"), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_drill_dead_letter_stays_a_drill_and_a_second_replay_needs_force_on_sqlite() {
    a_drill_dead_letter_replays_as_a_drill_once(false).await;
}

#[tokio::test]
async fn a_replayed_drill_dead_letter_stays_a_drill_and_a_second_replay_needs_force_on_postgres() {
    a_drill_dead_letter_replays_as_a_drill_once(true).await;
}
