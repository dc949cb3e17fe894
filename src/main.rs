//! The `cordon` command line.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use cordon::app::{self, App};
use cordon::clock::{Clock, SystemClock};
use cordon::config::Config;
use cordon::domain::{ActionContext, ActionKind, Severity};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "cordon",
    version,
    about = "Chat-ops containment for security incident response"
)]
struct Cli {
    /// Config file (default config/cordon.toml; CORDON_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The performance harness: runs `cordon serve` as a child against a fake
    /// vendor on loopback and measures ingest throughput, latencies and
    /// memory on SQLite and PostgreSQL (and Alertmanager side by side when
    /// installed). Loopback only; bounded in count and time.
    Bench {
        /// Backends to measure.
        #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
        backend: Vec<String>,
        /// PostgreSQL server for the postgres backend (a schema per run is
        /// created and dropped). Default: CORDON_TEST_POSTGRES_URL.
        #[arg(long)]
        postgres_url: Option<String>,
        /// Alerts sent in the throughput phases (10% in batches of 1, the
        /// rest in batches of 100).
        #[arg(long, default_value_t = 100_000)]
        alerts: usize,
        /// Samples in each latency series (auto, approve).
        #[arg(long, default_value_t = 300)]
        samples: usize,
        /// Concurrent senders.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Skip Alertmanager even when installed.
        #[arg(long)]
        no_alertmanager: bool,
        /// Alerts sent to Alertmanager (it holds all of them in memory).
        #[arg(long, default_value_t = 20_000)]
        am_alerts: usize,
        /// Stop every phase after this many seconds in total.
        #[arg(long, default_value_t = 900)]
        max_seconds: u64,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Run the server (HTTP, engine, timers, workers).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Check the authority matrix: unknown roles or people, empty roles,
    /// shadowed rules, coverage gaps. Exit 0 when sound, 1 otherwise.
    Check {
        #[arg(long)]
        matrix: Option<PathBuf>,
    },
    /// Explain which rule applies to a hypothetical action and who may act.
    Explain {
        #[arg(long)]
        matrix: Option<PathBuf>,
        #[arg(long)]
        action: String,
        #[arg(long)]
        tier: Option<String>,
        #[arg(long)]
        severity: String,
        #[arg(long)]
        environment: Option<String>,
        #[arg(long)]
        privileged: bool,
        #[arg(long)]
        json: bool,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Source tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Send an alert payload to a running cordon.
    Alert {
        #[command(subcommand)]
        cmd: AlertCmd,
    },
    /// The asset inventory.
    Assets {
        #[command(subcommand)]
        cmd: ImportCmd,
    },
    /// The identity directory.
    Identities {
        #[command(subcommand)]
        cmd: ImportCmd,
    },
    /// Bodies rejected after authentication.
    DeadLetters {
        #[command(subcommand)]
        cmd: DeadCmd,
    },
    /// Containment connectors.
    Connectors {
        #[command(subcommand)]
        cmd: ConnectorsCmd,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Verify the hash chain; names the first broken row.
    Verify,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Print a new HS256 source token (signed with CORDON_INGEST_JWT_SECRET).
    Issue {
        #[arg(long)]
        source: String,
        #[arg(long, default_value = "90d")]
        ttl: String,
        /// Comma-separated formats this source may send (default: all).
        #[arg(long, value_delimiter = ',')]
        formats: Option<Vec<String>>,
        /// Space-separated scopes: ingest, read.
        #[arg(long, default_value = "ingest")]
        scope: String,
    },
}

#[derive(Subcommand)]
enum AlertCmd {
    /// POST a payload file to /v1/alerts[/FORMAT].
    Send {
        file: PathBuf,
        #[arg(long)]
        format: Option<String>,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        #[arg(long, env = "CORDON_TOKEN")]
        token: String,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Import a CSV or JSON file (all rows in one transaction).
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum DeadCmd {
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Parse a dead letter again (after a parser fix) and ingest it.
    Replay { id: i64 },
}

#[derive(Subcommand)]
enum ConnectorsCmd {
    /// Run every configured connector's healthcheck.
    Check,
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let (cfg, warnings) = Config::from_env(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(cfg)
}

fn init_tracing(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.filter));
    if cfg.log.format == "json" {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .try_init();
    } else {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Cmd::Bench {
        backend,
        postgres_url,
        alerts,
        samples,
        concurrency,
        no_alertmanager,
        am_alerts,
        max_seconds,
        json,
    } = cli.command
    {
        let args = cordon::bench::BenchArgs {
            backends: backend,
            postgres_url: postgres_url.or_else(|| {
                std::env::var("CORDON_TEST_POSTGRES_URL")
                    .ok()
                    .filter(|s| !s.is_empty())
            }),
            alerts,
            samples: samples.max(1),
            concurrency: concurrency.max(1),
            alertmanager: !no_alertmanager,
            am_alerts,
            max_seconds,
            exe: std::env::current_exe().context("locating the cordon executable")?,
        };
        let report = cordon::bench::run(&args).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", cordon::bench::table(&report));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = load_config(cli.config.as_deref())?;
    match cli.command {
        Cmd::Bench { .. } => unreachable!("handled above"),
        Cmd::Serve => {
            init_tracing(&cfg);
            let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .ok();
            let app = App::build(cfg, Arc::new(SystemClock), metrics).await?;
            let addr = app.local_addr()?;
            tracing::info!(%addr, database = %cordon::store::redact_url(&app.config.database_url), "cordon is serving");
            eprintln!("cordon listening on http://{addr} (health: /healthz, ready: /readyz)");
            app.serve(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Migrate => {
            app::open_store(&cfg).await?;
            println!(
                "migrations applied to {}",
                cordon::store::redact_url(&cfg.database_url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check { matrix } => {
            let path = matrix.unwrap_or(cfg.matrix.clone());
            let (m, _) = match app::load_matrix(&path) {
                Ok(m) => m,
                Err(e) => {
                    println!("{e:#}");
                    return Ok(ExitCode::from(1));
                }
            };
            let findings = m.check();
            for f in &findings {
                println!("{}: {f}", path.display());
            }
            if findings.is_empty() {
                println!(
                    "{}: sound ({} rules, {} roles, {} people; hash {})",
                    path.display(),
                    m.rules.len(),
                    m.roles.len(),
                    m.people.len(),
                    &m.hash()[..12]
                );
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(1))
            }
        }
        Cmd::Explain {
            matrix,
            action,
            tier,
            severity,
            environment,
            privileged,
            json,
        } => {
            let path = matrix.unwrap_or(cfg.matrix.clone());
            let (m, _) = app::load_matrix(&path)?;
            let action: ActionKind = action
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--action: {e}"))?;
            let severity: Severity = severity
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--severity: {e}"))?;
            let mut ctx = ActionContext::new(action, severity);
            ctx.asset_tier = tier;
            ctx.environment = environment;
            ctx.user_privileged = Some(privileged);
            let ex = m.explain(&ctx);
            if json {
                println!("{}", serde_json::to_string_pretty(&ex)?);
            } else {
                println!("{ex}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Audit {
            cmd: AuditCmd::Verify,
        } => {
            let store = app::open_store(&cfg).await?;
            let chain = store.audit_chain().await?;
            match cordon::domain::audit::verify_chain(&chain) {
                Ok(()) => {
                    println!("audit chain intact: {} rows", chain.len());
                    Ok(ExitCode::SUCCESS)
                }
                Err(b) => {
                    println!("audit chain BROKEN at row {}: {}", b.seq, b.reason);
                    Ok(ExitCode::from(2))
                }
            }
        }
        Cmd::Token {
            cmd:
                TokenCmd::Issue {
                    source,
                    ttl,
                    formats,
                    scope,
                },
        } => {
            let Some(secret) = cfg.secrets.ingest_jwt_secret.as_ref() else {
                bail!(
                    "CORDON_INGEST_JWT_SECRET is not set: set it to the secret the server uses (e.g. `openssl rand -hex 32`)"
                );
            };
            let ttl = cordon::domain::time::parse_duration(&ttl)
                .map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            if let Some(fs) = &formats {
                for f in fs {
                    f.parse::<cordon::ingest::Format>()
                        .map_err(|e| anyhow::anyhow!("--formats: {}", e.problem))?;
                }
            }
            let claims = cordon::http::auth::new_claims(
                &source,
                SystemClock.now(),
                ttl,
                formats,
                Some(scope),
            );
            let token = cordon::http::auth::issue_hs256(secret.expose(), &claims)
                .map_err(|e| anyhow::anyhow!(e))?;
            eprintln!(
                "token for source `{source}`, valid until {}",
                chrono::DateTime::from_timestamp(claims.exp, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            );
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Alert {
            cmd:
                AlertCmd::Send {
                    file,
                    format,
                    url,
                    token,
                },
        } => {
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let url = match format {
                Some(f) => format!("{}/v1/alerts/{f}", url.trim_end_matches('/')),
                None => format!("{}/v1/alerts", url.trim_end_matches('/')),
            };
            let resp = reqwest::Client::new()
                .post(&url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            println!("{status}\n{text}");
            Ok(if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Assets {
            cmd: ImportCmd::Import { file },
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let assets = cordon::enrich::parse_assets(&file.display().to_string(), &bytes)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let store = app::open_store(&cfg).await?;
            let n = store.upsert_assets(&assets, SystemClock.now()).await?;
            println!("imported {n} assets");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Identities {
            cmd: ImportCmd::Import { file },
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let ids = cordon::enrich::parse_identities(&file.display().to_string(), &bytes)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let store = app::open_store(&cfg).await?;
            let n = store.upsert_identities(&ids, SystemClock.now()).await?;
            println!("imported {n} identities");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::DeadLetters {
            cmd: DeadCmd::List { limit },
        } => {
            let store = app::open_store(&cfg).await?;
            for d in store.dead_letters(limit).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{} bytes{}",
                    d.id,
                    d.received_at.to_rfc3339(),
                    d.sender.as_deref().unwrap_or("-"),
                    d.format.as_deref().unwrap_or("-"),
                    d.reason,
                    d.body.len(),
                    d.replayed_at
                        .map(|t| format!("\treplayed {t}: {}", d.replay_result.unwrap_or_default()))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::DeadLetters {
            cmd: DeadCmd::Replay { id },
        } => {
            let store = app::open_store(&cfg).await?;
            let Some(d) = store.dead_letter(id).await? else {
                bail!("dead letter {id} not found")
            };
            let format = match d.format.as_deref() {
                Some(f) => f
                    .parse::<cordon::ingest::Format>()
                    .map_err(|e| anyhow::anyhow!("{}", e.problem))?,
                None => cordon::ingest::detect(&d.body)
                    .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.problem))?,
            };
            let generic: cordon::ingest::GenericMapping = match &cfg.ingest.generic {
                Some(v) => v
                    .clone()
                    .try_into()
                    .map_err(|e| anyhow::anyhow!("[ingest.generic] {e}"))?,
                None => Default::default(),
            };
            let now = SystemClock.now();
            match cordon::ingest::parse(format, &d.body, &generic) {
                Ok(alerts) => {
                    let incoming: Vec<_> = alerts
                        .into_iter()
                        .map(|a| cordon::store::IncomingAlert {
                            alert: a,
                            sender: d.sender.clone().unwrap_or_else(|| "replay".into()),
                            received_at: now,
                            drill: false,
                        })
                        .collect();
                    let windows = cordon::store::IngestWindows {
                        dedup: cfg.ingest.dedup_window,
                        correlation: cfg.ingest.correlation_window,
                    };
                    let rows = store.ingest_batch(&incoming, windows, None).await?;
                    store
                        .mark_dead_letter_replayed(
                            id,
                            now,
                            &format!("ingested {} alerts", rows.len()),
                        )
                        .await?;
                    println!(
                        "dead letter {id}: ingested {} alerts (the running server's workers run their pipelines)",
                        rows.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    store
                        .mark_dead_letter_replayed(
                            id,
                            now,
                            &format!("still rejected: {}: {}", e.field, e.problem),
                        )
                        .await?;
                    println!(
                        "dead letter {id} is still rejected: {}: {} ({})",
                        e.field, e.problem, e.hint
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
        Cmd::Connectors {
            cmd: ConnectorsCmd::Check,
        } => {
            let reg = app::load_connectors(&cfg)?;
            let mut bad = 0;
            for c in reg.all() {
                match c.healthcheck().await {
                    Ok(()) => println!("{}\tok", c.name()),
                    Err(e) => {
                        bad += 1;
                        println!("{}\tFAILED: {e}", c.name());
                    }
                }
            }
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
