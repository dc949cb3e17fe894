//! The composition root: the only place that names concrete adapters. It
//! reads the config files, opens the store, builds the engine and the HTTP
//! router, and starts the background loops.

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Matrix;
use crate::engine::Engine;
use crate::engine::ingest::IngestQueue;
use crate::http::{AppState, auth::TokenVerifier};
use crate::store::{IngestWindows, Store, StoreOptions};
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A built application, not yet serving.
pub struct App {
    pub engine: Arc<Engine>,
    pub state: AppState,
    pub router: axum::Router,
    pub listener: tokio::net::TcpListener,
    pub config: Config,
    /// The Slack surface, when `CORDON_SLACK_BOT_TOKEN` is set.
    pub slack: Option<Arc<crate::chat::slack::Slack>>,
    /// The Discord surface, when `CORDON_DISCORD_BOT_TOKEN` is set.
    pub discord: Option<Arc<crate::chat::discord::Discord>>,
    /// Leadership among replicas (always leader on SQLite). Chat gateways
    /// (Slack Socket Mode, Discord) run only while `leader.is_leader()`.
    pub leader: crate::store::leader::Leadership,
}

/// Reads and parses the authority matrix; errors name file, line and key.
pub fn load_matrix(path: &std::path::Path) -> anyhow::Result<(Matrix, String)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the authority matrix {}", path.display()))?;
    let m =
        Matrix::parse(&path.display().to_string(), &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((m, text))
}

/// Opens the store named by the config and applies migrations.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let opts = StoreOptions {
        max_connections: cfg.database.max_connections,
        acquire_timeout: cfg.database.acquire_timeout,
    };
    let store = Store::connect(&cfg.database_url, &opts)
        .await
        .with_context(|| {
            format!(
                "opening the database {}",
                crate::store::redact_url(&cfg.database_url)
            )
        })?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// Builds the executors registry from `connectors.toml` (absent = none).
pub fn load_connectors(cfg: &Config) -> anyhow::Result<crate::executors::Registry> {
    let env = |k: &str| {
        cfg.extra_env
            .get(k)
            .cloned()
            .or_else(|| std::env::var(k).ok())
    };
    match std::fs::read_to_string(&cfg.connectors) {
        Ok(text) => {
            let c: crate::executors::ConnectorsConfig = toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.connectors.display()))?;
            crate::executors::Registry::from_config(&c, &env)
                .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.connectors.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %cfg.connectors.display(), "no connectors file: no action can be executed");
            Ok(crate::executors::Registry::default())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", cfg.connectors.display())),
    }
}

pub fn load_playbooks(
    cfg: &Config,
    custom_actions: &[crate::domain::ActionKind],
) -> anyhow::Result<crate::playbooks::Playbooks> {
    match std::fs::read_to_string(&cfg.playbooks) {
        Ok(text) => {
            // Playbooks may propose the custom actions the matrix declares.
            let custom: Vec<crate::domain::ActionKind> = custom_actions.to_vec();
            crate::playbooks::Playbooks::parse_with_custom(
                &cfg.playbooks.display().to_string(),
                &text,
                &custom,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %cfg.playbooks.display(), "no playbooks file: alerts will propose no action");
            crate::playbooks::Playbooks::parse("(none)", "").map_err(|e| anyhow::anyhow!("{e}"))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", cfg.playbooks.display())),
    }
}

impl App {
    /// Builds everything from the config. Binds the listener (port 0 picks a
    /// free port, for tests).
    pub async fn build(
        config: Config,
        clock: Arc<dyn Clock>,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> anyhow::Result<App> {
        let (matrix, matrix_text) = load_matrix(&config.matrix)?;
        let store = open_store(&config).await?;
        let enrich_cfg: crate::enrich::EnrichConfig = config
            .section("enrich")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let enricher = crate::enrich::Enricher::new(&enrich_cfg)
            .map_err(|e| anyhow::anyhow!("[enrich] {}", e.0))?;
        let custom: Vec<crate::domain::ActionKind> = matrix
            .custom_actions
            .keys()
            .map(|k| crate::domain::ActionKind::Custom(k.clone()))
            .collect();
        let playbooks = load_playbooks(&config, &custom)?;
        let registry = load_connectors(&config)?;
        let worker_id = format!("{}-{}", hostname(), std::process::id());
        let engine = Arc::new(Engine::new(
            store.clone(),
            clock,
            matrix,
            enricher,
            playbooks,
            registry,
            config.engine.clone(),
            worker_id.clone(),
        ));
        engine
            .save_matrix(&config.matrix.display().to_string(), &matrix_text)
            .await?;

        let leader = engine
            .store
            .leadership(config.engine.leader_interval, engine.shutdown.child_token());

        let e2 = Arc::clone(&engine);
        let on_commit: Arc<dyn Fn(Vec<crate::engine::ingest::Committed>) + Send + Sync> =
            Arc::new(move |rows| {
                let ids: Vec<Option<i64>> = rows.iter().map(|(_, j)| *j).collect();
                let payloads = rows
                    .iter()
                    .map(|(a, _)| (serde_json::json!({ "alert_id": a.alert_id.0 }), None))
                    .collect();
                e2.run_claimed(ids, "pipeline", payloads);
            });
        let ingest = IngestQueue::start(
            store,
            IngestWindows {
                dedup: config.ingest.dedup_window,
                correlation: config.ingest.correlation_window,
            },
            config.ingest.queue_capacity,
            config.ingest.max_batch,
            worker_id,
            config.engine.job_lease,
            on_commit,
        );

        let mut pems = Vec::new();
        for p in &config.ingest.public_keys {
            pems.push((
                p.display().to_string(),
                std::fs::read(p).with_context(|| format!("reading public key {}", p.display()))?,
            ));
        }
        let secret = config
            .secrets
            .ingest_jwt_secret
            .as_ref()
            .map(|s| s.expose().to_owned());
        let verifier = TokenVerifier::new(secret.as_deref(), &pems, &config.ingest.issuers)
            .map_err(|e| anyhow::anyhow!(e))?;
        if !verifier.is_configured() {
            tracing::warn!(
                "no ingest key configured (CORDON_INGEST_JWT_SECRET or ingest.public_keys): every alert will be refused with 401"
            );
        }
        let generic: crate::ingest::GenericMapping = match &config.ingest.generic {
            Some(v) => v
                .clone()
                .try_into()
                .map_err(|e| anyhow::anyhow!("[ingest.generic] {e}"))?,
            None => crate::ingest::GenericMapping::default(),
        };
        let state = AppState {
            engine: Arc::clone(&engine),
            ingest,
            verifier: Arc::new(verifier),
            generic: Arc::new(generic),
            body_limit: config.ingest.body_limit,
            ready: Arc::new(AtomicBool::new(true)),
            metrics,
            leader: leader.clone(),
        };
        let web = web_state(&config, &engine)?;
        let slack = crate::chat::slack::setup(&config, &engine).map_err(|e| anyhow::anyhow!(e))?;
        if let Some(s) = &slack {
            // Which workspace to accept clicks from: asked once here, so a
            // healthy start accepts them at once; on failure, again in the
            // background (see `spawn_loops`), refusing them meanwhile.
            s.learn_workspace().await;
        }
        let mut router = crate::http::router(state.clone()).merge(crate::web::router(web));
        if let Some(s) = &slack {
            router = router.merge(crate::chat::slack::http::router(
                crate::chat::slack::http::SlackHttp {
                    slack: Arc::clone(s),
                    engine: Arc::clone(&engine),
                },
            ));
        }
        let discord =
            crate::chat::discord::setup(&config, &engine).map_err(|e| anyhow::anyhow!(e))?;
        if let Some(d) = &discord {
            router = router.merge(crate::chat::discord::http::router(
                crate::chat::discord::http::DiscordHttp {
                    discord: Arc::clone(d),
                    engine: Arc::clone(&engine),
                },
            ));
        }
        let router = router
            .layer(axum::middleware::map_response(
                crate::http::security_headers,
            ))
            .layer(tower_http::trace::TraceLayer::new_for_http());
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| {
                format!(
                    "binding {} (set CORDON_LISTEN to another address)",
                    config.listen
                )
            })?;
        Ok(App {
            engine,
            state,
            router,
            listener,
            config,
            slack,
            discord,
            leader,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops the loops.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut loops = self.engine.spawn_loops();
        if let Some(s) = &self.slack {
            loops.extend(crate::chat::slack::spawn_loops(
                s,
                &self.engine,
                self.config.secrets.slack_app_token.as_ref(),
                &self.leader,
            ));
        }
        if let Some(d) = &self.discord {
            loops.extend(crate::chat::discord::spawn_loops(
                d,
                &self.engine,
                &self.leader,
            ));
        }
        // The weekly digest (posted once per due time, whichever replica runs).
        let reports: crate::report::ReportsConfig = self
            .config
            .section("reports")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let sla = reports.sla_targets().map_err(|e| anyhow::anyhow!(e))?;
        loops.push(tokio::spawn(crate::report::digest::run_loop(
            Arc::clone(&self.engine),
            reports,
            sla,
            self.config.public_url.clone(),
        )));
        let engine = Arc::clone(&self.engine);
        crate::http::serve::serve(self.listener, self.router, &self.config.http, shutdown).await;
        engine.shutdown.cancel();
        for l in loops {
            let _ = l.await;
        }
        engine.store.close().await;
        Ok(())
    }
}

/// Reloads the authority matrix from `path`. A file that does not parse
/// leaves the current matrix in force and says why; a good one applies to
/// new decisions (decisions already made stay under their own version).
/// Either way the attempt is audited.
pub async fn reload_matrix(engine: &Engine, path: &std::path::Path) -> anyhow::Result<String> {
    let now = engine.now();
    match load_matrix(path) {
        Ok((m, text)) => {
            let hash = m.hash().to_owned();
            let findings: Vec<String> = m.check().iter().map(|f| f.to_string()).collect();
            engine
                .replace_matrix(m, &path.display().to_string(), &text)
                .await?;
            engine
                .store
                .audit(&[crate::store::NewAudit {
                    at: now,
                    actor: "cordon".into(),
                    action: "matrix.reloaded".into(),
                    subject: path.display().to_string(),
                    detail: serde_json::json!({ "hash": hash, "findings": findings }),
                }])
                .await?;
            Ok(hash)
        }
        Err(e) => {
            engine
                .store
                .audit(&[crate::store::NewAudit {
                    at: now,
                    actor: "cordon".into(),
                    action: "matrix.reload_refused".into(),
                    subject: path.display().to_string(),
                    detail: serde_json::json!({ "error": format!("{e:#}") }),
                }])
                .await?;
            Err(e)
        }
    }
}

/// The web console's state: its signing secret, the templates (operator
/// overrides in `config.templates`) and the `[reports]` section.
fn web_state(config: &Config, engine: &Arc<Engine>) -> anyhow::Result<crate::web::WebState> {
    let keys = match &config.secrets.web_secret {
        Some(s) => crate::web::auth::WebKeys::new(s.expose()).map_err(|e| anyhow::anyhow!(e))?,
        None => {
            tracing::warn!(
                "CORDON_WEB_SECRET is not set: using a random secret, so web sessions will not survive a restart and `cordon login-link` cannot make links for this server"
            );
            crate::web::auth::WebKeys::random()
        }
    };
    let templates =
        crate::templates::Templates::load(Some(&config.templates), &[crate::web::TEMPLATES])
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let reports: crate::report::ReportsConfig = config
        .section("reports")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sla = reports.sla_targets().map_err(|e| anyhow::anyhow!(e))?;
    let cache_ttl = reports.cache_ttl().map_err(|e| anyhow::anyhow!(e))?;
    Ok(crate::web::WebState {
        report_cache: Arc::new(crate::web::ReportCache::new(cache_ttl)),
        engine: Arc::clone(engine),
        keys: Arc::new(keys),
        templates,
        reports: Arc::new(reports),
        sla: Arc::new(sla),
        session_ttl: config.web.session_ttl,
        secure_cookie: config.public_url.starts_with("https://"),
    })
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "cordon".into())
}
