//! The console in a real headless Chromium, driven over WebDriver
//! (chromedriver) with plain JSON calls: sign in with a one-time link, open
//! an incident, click Approve, see the decision move, open the reports.
//! Screenshots go to `$CARGO_TARGET_DIR/screenshots/` (default
//! `target/screenshots/`) for review.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them). Without them the test fails, unless `CORDON_SKIP_BROWSER=1`.

mod common;

use common::app::{Options, crowdstrike_alert, spawn_app};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find(bin: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(bin.to_uppercase().replace('-', "_")) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// A WebDriver session on a chromedriver this test started.
struct Browser {
    http: reqwest::Client,
    base: String,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    async fn start(chromium: PathBuf, chromedriver: PathBuf) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let driver = std::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("json");
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused the session: {r}"))
            .to_owned();
        let shots = PathBuf::from(
            std::env::var("CARGO_TARGET_DIR")
                .unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR"))),
        )
        .join("screenshots");
        std::fs::create_dir_all(&shots).expect("screenshots dir");
        let b = Browser {
            http,
            base: format!("{base}/session/{id}"),
            driver,
            _profile: profile,
            shots,
        };
        // Element lookups wait (up to 10 s) for the page a click or form
        // submission is still loading, instead of failing at once.
        b.call(
            reqwest::Method::POST,
            "/timeouts",
            json!({ "implicit": 10_000 }),
        )
        .await;
        b
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r: Value = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("webdriver call")
            .json()
            .await
            .expect("json");
        if r["value"].get("error").is_some() {
            panic!("webdriver {path}: {}", r["value"]);
        }
        r["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    async fn click(&self, css: &str) {
        let e = self
            .call(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        let id = e[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {e}"))
            .to_owned();
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", json!({}))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page source once it satisfies `ok` (a click's navigation may
    /// still be under way when WebDriver returns); the last source after 10 s.
    async fn source_when(&self, ok: impl Fn(&str) -> bool) -> String {
        let mut src = self.source().await;
        for _ in 0..100 {
            if ok(&src) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            src = self.source().await;
        }
        src
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let b64 = self
            .call(reqwest::Method::GET, "/screenshot", json!({}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("png");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    async fn stop(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_signs_in_approves_in_chromium_and_reads_the_reports() {
    let chromium = find(
        "chromium",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let driver = find(
        "chromedriver",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    );
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        if std::env::var("CORDON_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("SKIPPED: chromium or chromedriver not found and CORDON_SKIP_BROWSER=1");
            return;
        }
        panic!(
            "the browser test needs Chromium and chromedriver: apt-get install -y chromium chromium-driver \
             (or set CHROMIUM / CHROMEDRIVER to their paths, or CORDON_SKIP_BROWSER=1 to skip)"
        );
    };
    let app = spawn_app(Options::default()).await;
    let r = app
        .post_alert(
            "crowdstrike",
            &crowdstrike_alert("db-prod-01", "aiddb01", 90, "d-browser"),
        )
        .await;
    assert_eq!(r.status(), 202);
    app.eventually("a decision waits for approval", || async {
        app.decisions()
            .await
            .iter()
            .any(|d| d.action == "isolate_host" && d.state == "pending_approval")
    })
    .await;
    let d = app
        .decisions()
        .await
        .into_iter()
        .find(|d| d.action == "isolate_host" && d.state == "pending_approval")
        .expect("decision");

    let b = Browser::start(chromium, driver).await;
    // Without a session the console sends the browser to sign-in.
    b.goto(&format!("{}/incidents", app.url)).await;
    assert!(
        b.source().await.contains("one-time links"),
        "redirected to sign-in"
    );

    // alice signs in with her link and approves: 1 of 2.
    b.goto(&app.login_link("alice")).await;
    b.screenshot("01-sign-in").await;
    b.click("#sign-in").await;
    let list = b
        .source_when(|s| s.contains("signed in as") && s.contains("alice"))
        .await;
    assert!(
        list.contains("signed in as") && list.contains("alice"),
        "{list}"
    );
    b.screenshot("02-incidents").await;
    b.click(&format!("a[href=\"/incidents/{}\"]", d.incident_id))
        .await;
    let page = b
        .source_when(|s| s.contains("data-state=\"pending_approval\""))
        .await;
    assert!(page.contains("data-state=\"pending_approval\""), "{page}");
    b.click(&format!("#approve-{}", d.id)).await;
    let page = b
        .source_when(|s| s.contains("<td>approved</td>") && s.contains("<td>alice</td>"))
        .await;
    assert!(
        page.contains("<td>approved</td>") && page.contains("<td>alice</td>"),
        "{page}"
    );
    b.screenshot("03-approved-by-alice").await;

    // carol (CISO) signs in and gives the second approval: the decision
    // moves on to its veto window.
    b.goto(&app.login_link("carol")).await;
    b.click("#sign-in").await;
    // Wait for the sign-in to land before navigating on, or the cookie races the next page.
    b.source_when(|s| s.contains("signed in as") && s.contains("carol"))
        .await;
    b.goto(&format!("{}/incidents/{}", app.url, d.incident_id))
        .await;
    b.click(&format!("#approve-{}", d.id)).await;
    let page = b
        .source_when(|s| s.contains("data-state=\"pending_veto\""))
        .await;
    assert!(
        page.contains("data-state=\"pending_veto\""),
        "the decision moved: {page}"
    );
    assert_eq!(app.decision_state(d.id).await, "pending_veto");
    b.screenshot("04-quorum-reached").await;

    b.goto(&format!("{}/matrix", app.url)).await;
    assert!(b.source().await.contains("crown-jewels"));
    b.screenshot("05-matrix").await;
    b.goto(&format!("{}/reports", app.url)).await;
    let rep = b
        .source_when(|s| s.contains("Time to contain by path") && s.contains("<svg"))
        .await;
    assert!(
        rep.contains("Time to contain by path") && rep.contains("<svg"),
        "{rep}"
    );
    b.screenshot("06-reports").await;
    b.stop().await;
    app.stop().await;
}
