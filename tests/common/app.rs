//! `spawn_app`: a real cordon on 127.0.0.1:0 with a fresh database, a
//! manual clock, the fake vendor as its CrowdStrike and webhook, and a
//! signed source token. Tests talk to it over HTTP and drive the timer and
//! job steps directly.
#![allow(dead_code)]

use super::TestDb;
use super::fake_vendor::FakeVendor;
use cordon::app::App;
use cordon::clock::{Clock, ManualClock};
use cordon::config::{Config, Secret};
use cordon::engine::Engine;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const INGEST_SECRET: &str = "test-ingest-secret-0123456789abcdef";
pub const WEB_SECRET: &str = "test-web-secret-0123456789abcdef-0123";
/// The Discord application and guild of the tests.
pub const DISCORD_APP: &str = "555000000000000001";
pub const DISCORD_GUILD: &str = "999000000000000001";

pub struct TestApp {
    pub url: String,
    pub engine: Arc<Engine>,
    pub clock: Arc<ManualClock>,
    pub vendor: FakeVendor,
    pub token: String,
    pub read_token: String,
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub shutdown: tokio_util::sync::CancellationToken,
    pub server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
pub struct Options {
    /// Connects Discord to this REST base URL (a fake Discord) with a test
    /// bot token, [`DISCORD_APP`] and [`DISCORD_GUILD`].
    pub discord_api_url: Option<String>,
    /// `CORDON_DISCORD_PUBLIC_KEY` (hex).
    pub discord_public_key: Option<String>,
    /// Authority matrix text (default: config/authority.toml).
    pub matrix: Option<String>,
    pub playbooks: Option<String>,
    pub postgres: bool,
    /// Extra config.toml text appended.
    pub extra_config: String,
    /// Connects Slack to this Web API base URL (a fake Slack) with a test bot token.
    pub slack_api_url: Option<String>,
    /// `CORDON_SLACK_SIGNING_SECRET`.
    pub slack_signing_secret: Option<String>,
}

pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn connectors_toml(vendor: &str) -> String {
    format!(
        r#"
[crowdstrike]
base_url = "{vendor}"
client_id_env = "TEST_CS_ID"
client_secret_env = "TEST_CS_SECRET"
dry_run = false
timeout = "5s"

[webhook]
url = "{vendor}/hook"
secret_env = "TEST_HOOK_SECRET"
actions = ["block_ip", "unblock_ip", "disable_user", "enable_user", "revoke_sessions", "quarantine_instance", "release_instance"]
dry_run = false
timeout = "5s"

[routes]
isolate_host = "crowdstrike"
release_host = "crowdstrike"
block_ip = "webhook"
unblock_ip = "webhook"
disable_user = "webhook"
enable_user = "webhook"
revoke_sessions = "webhook"
quarantine_instance = "webhook"
release_instance = "webhook"
"#
    )
}

pub async fn spawn_app(opts: Options) -> TestApp {
    let db = if opts.postgres {
        TestDb::postgres().await
    } else {
        TestDb::sqlite().await
    };
    let vendor = FakeVendor::start().await;
    spawn_app_with(opts, db, vendor).await
}

pub async fn spawn_app_with(opts: Options, db: TestDb, vendor: FakeVendor) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let matrix = opts
        .matrix
        .unwrap_or_else(|| std::fs::read_to_string(repo("config/authority.toml")).expect("matrix"));
    let playbooks = opts.playbooks.unwrap_or_else(|| {
        std::fs::read_to_string(repo("config/playbooks.toml")).expect("playbooks")
    });
    std::fs::write(dir.path().join("authority.toml"), matrix).expect("write");
    std::fs::write(dir.path().join("playbooks.toml"), playbooks).expect("write");
    std::fs::write(
        dir.path().join("connectors.toml"),
        connectors_toml(&vendor.url),
    )
    .expect("write");
    let cfg_text = format!(
        "listen = \"127.0.0.1:0\"\n[engine]\nretry_base = \"50ms\"\nretry_max = \"1s\"\nconfirm_interval = \"100ms\"\n{}",
        opts.extra_config
    );
    let mut cfg: Config = toml::from_str(&cfg_text).expect("config");
    cfg.database_url = db.url.clone();
    cfg.matrix = dir.path().join("authority.toml");
    cfg.playbooks = dir.path().join("playbooks.toml");
    cfg.connectors = dir.path().join("connectors.toml");
    cfg.secrets.ingest_jwt_secret = Some(Secret::new(INGEST_SECRET));
    cfg.secrets.web_secret = Some(Secret::new(WEB_SECRET));
    if let Some(u) = &opts.slack_api_url {
        cfg.secrets.slack_bot_token = Some(Secret::new("xoxb-test-token"));
        cfg.secrets.slack_api_url = Some(u.clone());
    }
    cfg.secrets.slack_signing_secret = opts.slack_signing_secret.as_deref().map(Secret::new);
    for (k, v) in [
        ("TEST_CS_ID", "cid"),
        ("TEST_CS_SECRET", "csecret"),
        ("TEST_HOOK_SECRET", "hooksecret"),
    ] {
        cfg.extra_env.insert(k.into(), v.into());
    }
    if let Some(u) = &opts.discord_api_url {
        cfg.secrets.discord_bot_token = Some(Secret::new("test-discord-bot-token"));
        cfg.secrets.discord_api_url = Some(u.clone());
        cfg.secrets.discord_application_id = Some(DISCORD_APP.into());
        cfg.secrets.discord_guild_id = Some(DISCORD_GUILD.into());
    }
    cfg.secrets.discord_public_key = opts.discord_public_key.clone();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = App::build(cfg, clock.clone(), None)
        .await
        .expect("build app");
    let url = format!("http://{}", app.local_addr().expect("addr"));
    let engine = Arc::clone(&app.engine);
    // Assets and identities the example matrix and playbooks refer to.
    let assets = cordon::enrich::parse_assets(
        "assets",
        &std::fs::read(repo("config/assets.example.csv")).expect("assets"),
    )
    .expect("parse assets");
    engine
        .store
        .upsert_assets(&assets, clock.now())
        .await
        .expect("import");
    let ids = cordon::enrich::parse_identities(
        "identities",
        &std::fs::read(repo("config/identities.example.csv")).expect("identities"),
    )
    .expect("parse identities");
    engine
        .store
        .upsert_identities(&ids, clock.now())
        .await
        .expect("import");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let s2 = shutdown.clone();
    let server = tokio::spawn(async move {
        let _ = app.serve(async move { s2.cancelled().await }).await;
    });
    let token = token_for("edr-test", "ingest", clock.now());
    let read_token = token_for("reader", "read", clock.now());
    TestApp {
        url,
        engine,
        clock,
        vendor,
        token,
        read_token,
        db,
        dir,
        http: reqwest::Client::new(),
        shutdown,
        server,
    }
}

pub fn token_for(source: &str, scope: &str, now: cordon::domain::Timestamp) -> String {
    let c = cordon::http::auth::new_claims(
        source,
        now,
        Duration::from_secs(3600),
        None,
        Some(scope.into()),
    );
    cordon::http::auth::issue_hs256(INGEST_SECRET, &c).expect("token")
}

impl TestApp {
    /// POSTs an alert body to /v1/alerts/{format}.
    pub async fn post_alert(&self, format: &str, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/alerts/{format}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("post alert")
    }

    /// Moves the manual clock and fires what became due.
    pub async fn advance(&self, d: Duration) {
        self.clock.advance(d);
        self.engine.run_due_timers().await.expect("timers");
        self.engine.run_due_jobs().await.expect("jobs");
    }

    /// Waits until `f` holds, polling the store (the pipeline runs in the background).
    pub async fn eventually<F, Fut>(&self, what: &str, f: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..500 {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    /// The decisions of every incident, newest incident first.
    pub async fn decisions(&self) -> Vec<cordon::store::DecisionRow> {
        let mut out = Vec::new();
        for i in self
            .engine
            .store
            .list_incidents(&cordon::store::IncidentFilter {
                include_drills: true,
                ..Default::default()
            })
            .await
            .expect("incidents")
        {
            out.extend(
                self.engine
                    .store
                    .decisions_of_incident(cordon::domain::IncidentId(i.id))
                    .await
                    .expect("decisions"),
            );
        }
        out
    }

    /// Advances the clock in small steps until the decision reaches `state`
    /// (confirmation polls and retries are due on the manual clock).
    pub async fn until_state(&self, id: i64, state: &str) {
        for _ in 0..300 {
            if self.decision_state(id).await == state {
                return;
            }
            self.advance(Duration::from_millis(200)).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "dec-{id} never reached {state}; it is {}",
            self.decision_state(id).await
        );
    }

    pub async fn decision_state(&self, id: i64) -> String {
        self.engine
            .store
            .get_decision(cordon::domain::DecisionId(id))
            .await
            .expect("get")
            .expect("exists")
            .0
            .state
    }

    /// A one-time sign-in link for `person`, as `cordon login-link` makes it.
    pub fn login_link(&self, person: &str) -> String {
        let keys = cordon::web::auth::WebKeys::new(WEB_SECRET).expect("keys");
        let (token, _) = keys
            .login_token(
                &cordon::domain::PersonId(person.into()),
                self.clock.now(),
                Duration::from_secs(900),
            )
            .expect("token");
        cordon::web::auth::login_url(&self.url, &token)
    }

    /// Signs `person` in over HTTP and returns the `Cookie` header value.
    pub async fn sign_in(&self, person: &str) -> String {
        let link = self.login_link(person);
        let token = link.split("token=").nth(1).expect("token").to_owned();
        let resp = self
            .no_redirect()
            .post(format!("{}/login", self.url))
            .form(&[("token", token)])
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 303, "sign-in redirects");
        let cookie = resp
            .headers()
            .get("set-cookie")
            .expect("set-cookie")
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        cookie.split(';').next().expect("pair").to_owned()
    }

    /// A client that shows redirects instead of following them.
    pub fn no_redirect(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// GET with a session cookie; returns (status, body).
    pub async fn page(&self, cookie: &str, path: &str) -> (u16, String) {
        let r = self
            .no_redirect()
            .get(format!("{}{path}", self.url))
            .header("cookie", cookie)
            .send()
            .await
            .expect("get");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
    }
}

/// The CSRF token of a console page's forms.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 64].to_owned()
}

/// A CrowdStrike EPP detection about `host` with the given severity (10–100).
pub fn crowdstrike_alert(host: &str, aid: &str, severity: u32, id: &str) -> serde_json::Value {
    serde_json::json!({
        "metadata": {"customerIDString": "cust-1", "offset": 1, "eventType": "EppDetectionSummaryEvent", "eventCreationTime": 1763884800000u64, "version": "1.0"},
        "event": {
            "Id": id,
            "CompositeId": format!("cust-1:ind:{aid}:{id}"),
            "AgentId": aid,
            "Hostname": host,
            "UserName": "jdoe",
            "Name": "Ransomware detected",
            "Description": "A process encrypted many files",
            "Severity": severity,
            "SeverityName": if severity >= 70 { "High" } else { "Medium" },
            "Tactic": "Impact",
            "Technique": "Data Encrypted for Impact",
            "Objective": "Keep Access",
            "Timestamp": 1763884800000u64,
            "LocalIP": "10.20.1.42",
            "FileName": "evil.exe",
            "SHA256String": "0000000000000000000000000000000000000000000000000000000000000001",
            "PatternDispositionDescription": "Detection, process would have been blocked"
        }
    })
}
