//! Real cordon processes for the scale tests: the built binary
//! (`CARGO_BIN_EXE_cordon`) run as `cordon serve` on a free loopback port,
//! with the system clock, killable with SIGKILL. Also a TCP proxy between
//! cordon and PostgreSQL that a test can cut and restore.
#![allow(dead_code)]

use super::app::{INGEST_SECRET, connectors_toml, repo, token_for};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything the processes of one test share: config files and database.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub db_url: String,
    pub token: String,
    pub http: reqwest::Client,
}

/// A running `cordon serve`.
pub struct Proc {
    pub child: tokio::process::Child,
    pub url: String,
    pub pid: u32,
}

/// Test playbook: ransomware isolates the host, nothing else, so the vendor
/// counts read directly.
pub const PLAYBOOKS: &str = r#"
[[playbooks]]
name = "ransomware"
match = { formats = ["crowdstrike"], title = "(?i)ransom", has = ["host"] }
actions = [ { action = "isolate_host", target = "host" } ]
stop = true
"#;

impl Cluster {
    /// Writes the config: the example matrix with the server veto window
    /// shortened to `veto`, the test playbook, connectors to `vendor`, and
    /// `extra` appended to cordon.toml. Imports `assets` (CSV rows after the
    /// header) into the database.
    pub async fn new(db_url: &str, vendor: &str, veto: &str, extra: &str, assets: &str) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let matrix = std::fs::read_to_string(repo("config/authority.toml"))
            .expect("matrix")
            .replace("veto_window = \"3m\"", &format!("veto_window = \"{veto}\""))
            // These tests count executions by the hundred: the rate guard of
            // the example (10 per 10 minutes) is tested in tests/adversary.
            .replace(
                "action = \"isolate_host\"\nmax = 10\n",
                "action = \"isolate_host\"\nmax = 100000\n",
            );
        std::fs::write(dir.path().join("authority.toml"), matrix).expect("write");
        std::fs::write(dir.path().join("playbooks.toml"), PLAYBOOKS).expect("write");
        std::fs::write(dir.path().join("connectors.toml"), connectors_toml(vendor)).expect("write");
        let d = dir.path();
        std::fs::write(
            d.join("cordon.toml"),
            format!(
                "listen = \"127.0.0.1:0\"\nmatrix = \"{}\"\nplaybooks = \"{}\"\nconnectors = \"{}\"\n[log]\nfilter = \"warn\"\n{extra}",
                d.join("authority.toml").display(),
                d.join("playbooks.toml").display(),
                d.join("connectors.toml").display(),
            ),
        )
        .expect("write");
        let store = cordon::store::Store::connect(db_url, &Default::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let csv = format!(
            "hostname,ips,tier,environment,business_service,owners,crowdstrike_aid\n{assets}"
        );
        let parsed = cordon::enrich::parse_assets("test", csv.as_bytes()).expect("assets");
        store
            .upsert_assets(&parsed, chrono::Utc::now())
            .await
            .expect("import");
        store.close().await;
        Cluster {
            dir,
            db_url: db_url.to_owned(),
            token: token_for("edr-test", "ingest", chrono::Utc::now()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("cordon.toml")
    }

    /// Starts a process and waits until it answers `/healthz`.
    pub async fn start(&self) -> Proc {
        self.start_with_url(&self.db_url.clone()).await
    }

    /// Starts a process on another database URL (e.g. through a proxy).
    pub async fn start_with_url(&self, db_url: &str) -> Proc {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cordon"));
        for (k, _) in std::env::vars() {
            if k.starts_with("CORDON_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("--config")
            .arg(self.config_path())
            .arg("serve")
            .env("CORDON_DATABASE_URL", db_url)
            .env("CORDON_LISTEN", format!("127.0.0.1:{port}"))
            .env("CORDON_INGEST_JWT_SECRET", INGEST_SECRET)
            .env("TEST_CS_ID", "cid")
            .env("TEST_CS_SECRET", "csecret")
            .env("TEST_HOOK_SECRET", "hooksecret")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().expect("spawn cordon");
        let pid = child.id().expect("pid");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..300 {
            if let Ok(r) = self.http.get(format!("{url}/healthz")).send().await
                && r.status().is_success()
            {
                return Proc { child, url, pid };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cordon did not start at {url}");
    }

    /// POSTs CrowdStrike records (a JSON array) to a process.
    pub async fn post(
        &self,
        p: &Proc,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(format!("{}/v1/alerts/crowdstrike", p.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
    }

    pub async fn store(&self) -> cordon::store::Store {
        cordon::store::Store::connect(&self.db_url, &Default::default())
            .await
            .expect("connect")
    }
}

impl Proc {
    /// SIGKILL: no shutdown, no lock release, leases left behind.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// `leader` or `follower`, or `down`.
    pub async fn leadership(&self, http: &reqwest::Client) -> String {
        match http.get(format!("{}/leaderz", self.url)).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => "down".into(),
        }
    }

    /// Peak resident memory (VmHWM) in kB.
    pub fn peak_rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// A CrowdStrike detection; `ransom` makes the playbook propose isolation.
pub fn alert(id: &str, host: &str, aid: &str, severity: u32, ransom: bool) -> serde_json::Value {
    let mut a = super::app::crowdstrike_alert(host, aid, severity, id);
    a["event"]["UserName"] = serde_json::json!(format!("u-{host}"));
    if !ransom {
        a["event"]["Name"] = serde_json::json!("Benign noise");
        a["event"]["Description"] = serde_json::json!("noise");
        a["event"]["Tactic"] = serde_json::Value::Null;
        a["event"]["Technique"] = serde_json::Value::Null;
    }
    a
}

/// A TCP proxy on loopback that can be cut (every connection dropped, the
/// port closed) and restored on the same port.
pub struct Proxy {
    pub port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(target: &str) -> Proxy {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let p = Proxy {
            port,
            target: target.to_owned(),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        p.restore().await;
        p
    }

    /// Opens the port again.
    pub async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind proxy");
        let target = self.target.clone();
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                tasks.lock().unwrap().push(h);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Drops every connection and closes the port.
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// A PostgreSQL URL with `host:port` replaced by the proxy's.
pub fn through(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("url");
    let at = rest.find('@').map_or(0, |i| i + 1);
    let end = rest[at..].find(['/', '?']).map_or(rest.len(), |i| at + i);
    format!("{scheme}://{}127.0.0.1:{port}{}", &rest[..at], &rest[end..])
}

pub fn postgres_host_port(url: &str) -> String {
    let rest = url.split_once("://").expect("url").1;
    let at = rest.find('@').map_or(0, |i| i + 1);
    let end = rest[at..].find(['/', '?']).map_or(rest.len(), |i| at + i);
    let hp = &rest[at..end];
    if hp.contains(':') {
        hp.to_owned()
    } else {
        format!("{hp}:5432")
    }
}
