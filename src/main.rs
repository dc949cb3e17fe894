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
    /// Run the stored decisions of a period through another authority
    /// matrix and compare with what really happened.
    Replay {
        #[arg(long)]
        matrix: PathBuf,
        #[arg(long, default_value = "30d")]
        since: String,
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
    /// Print a one-time sign-in link to the web console for a person of the
    /// authority matrix (signed with CORDON_WEB_SECRET; works once).
    LoginLink {
        #[arg(long)]
        person: String,
        /// Validity (default: `[web] login_link_ttl`, 15m).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// Time-to-contain and MTTR report: the same figures as /reports.
    Report {
        #[command(flatten)]
        filters: ReportArgs,
        /// table, csv, json, html, or digest (the weekly digest's text).
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Discord set-up.
    Discord {
        #[command(subcommand)]
        cmd: DiscordCmd,
    },
}

/// The report filters; empty means any. Parsed by the same code as the
/// web page's query string.
#[derive(clap::Args)]
struct ReportArgs {
    /// A duration back from now (default 30d)…
    #[arg(long)]
    since: Option<String>,
    /// …or an explicit period, RFC 3339.
    #[arg(long)]
    from: Option<String>,
    #[arg(long)]
    to: Option<String>,
    #[arg(long)]
    severity: Option<String>,
    #[arg(long)]
    action: Option<String>,
    #[arg(long)]
    rule: Option<String>,
    /// auto, veto_window or approval.
    #[arg(long)]
    path: Option<String>,
    #[arg(long)]
    team: Option<String>,
    #[arg(long)]
    environment: Option<String>,
    /// Include drills (excluded by default).
    #[arg(long)]
    drills: bool,
    /// CSV only: one table (figures, path, approval_latency, rates, sla, groups, incidents, weekly).
    #[arg(long)]
    table: Option<String>,
}

#[derive(Subcommand)]
enum DiscordCmd {
    /// Register `/cordon status|explain|report|isolate|disable` for the
    /// guild (CORDON_DISCORD_BOT_TOKEN, _APPLICATION_ID, _GUILD_ID).
    RegisterCommands,
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
        /// Send it as a drill: people are asked for real, connectors run
        /// dry, reports keep it apart (the token needs the `drill` scope).
        #[arg(long)]
        drill: bool,
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
    /// Parse a dead letter again (after a parser fix) and ingest it, as a
    /// drill if it was sent as one. Once a replay ingested it, another one
    /// needs --force.
    Replay {
        id: i64,
        /// Ingest its alerts again although a replay already did.
        #[arg(long)]
        force: bool,
    },
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
            // Durations as histograms (not summaries) so they aggregate across
            // replicas; the buckets span a sub-second auto isolation to a day.
            let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                    &[
                        0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0,
                        86400.0,
                    ],
                )
                .and_then(|b| b.install_recorder())
                .ok();
            let app = App::build(cfg, Arc::new(SystemClock), metrics).await?;
            let addr = app.local_addr()?;
            tracing::info!(%addr, database = %cordon::store::redact_url(&app.config.database_url), "cordon is serving");
            eprintln!("cordon listening on http://{addr} (health: /healthz, ready: /readyz)");
            spawn_reload_on_sighup(Arc::clone(&app.engine), app.config.matrix.clone());
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
        Cmd::Replay {
            matrix,
            since,
            json,
        } => {
            let (candidate, _) = app::load_matrix(&matrix)?;
            let since = cordon::domain::time::parse_duration(&since)
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            let store = app::open_store(&cfg).await?;
            let now = SystemClock.now();
            let from = now - chrono::Duration::from_std(since).unwrap_or_default();
            let mut loaded = Vec::new();
            for (row, records) in store
                .decisions_between(from, now + chrono::Duration::seconds(1))
                .await?
            {
                let events = records
                    .iter()
                    .map(cordon::engine::from_record)
                    .collect::<Result<Vec<_>, _>>()?;
                loaded.push((row, events));
            }
            let (rows, summary) = cordon::replay::replay(&candidate, &loaded);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "rows": rows, "summary": summary })
                    )?
                );
            } else {
                print!("{}", cordon::replay::render_table(&rows, &summary));
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
                    drill,
                },
        } => {
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let url = match format {
                Some(f) => format!("{}/v1/alerts/{f}", url.trim_end_matches('/')),
                None => format!("{}/v1/alerts", url.trim_end_matches('/')),
            };
            let url = if drill {
                format!("{url}?drill=true")
            } else {
                url
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
                    "{}\t{}\t{}\t{}\t{}\t{} bytes{}{}",
                    d.id,
                    d.received_at.to_rfc3339(),
                    d.sender.as_deref().unwrap_or("-"),
                    d.format.as_deref().unwrap_or("-"),
                    d.reason,
                    d.body.len(),
                    if d.drill { "\tdrill" } else { "" },
                    d.replayed_at
                        .map(|t| format!("\treplayed {t}: {}", d.replay_result.unwrap_or_default()))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::DeadLetters {
            cmd: DeadCmd::Replay { id, force },
        } => {
            let store = app::open_store(&cfg).await?;
            let Some(d) = store.dead_letter(id).await? else {
                bail!("dead letter {id} not found")
            };
            // Its alerts are stored already: again, after the dedup window,
            // they would be new alerts, with their playbooks and containment.
            if let Some(at) = d.ingested_at.filter(|_| !force) {
                bail!(
                    "dead letter {id} was replayed already ({}: {}); replaying it again ingests its alerts \
                     a second time, as new alerts once the dedup window has passed. Add --force to do that",
                    at.to_rfc3339(),
                    d.replay_result.as_deref().unwrap_or("ingested")
                )
            }
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
                            // A drill stays a drill: a replay must never
                            // turn a rehearsal into a live alert.
                            drill: d.drill,
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
                            true,
                        )
                        .await?;
                    println!(
                        "dead letter {id}: ingested {} alerts{} (the running server's workers run their pipelines)",
                        rows.len(),
                        if d.drill { " as a drill" } else { "" }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    store
                        .mark_dead_letter_replayed(
                            id,
                            now,
                            &format!("still rejected: {}: {}", e.field, e.problem),
                            false,
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
        Cmd::LoginLink { person, ttl } => {
            let Some(secret) = cfg.secrets.web_secret.as_ref() else {
                bail!(
                    "CORDON_WEB_SECRET is not set: set it (e.g. `openssl rand -hex 32`) for both the server and this command"
                );
            };
            let keys =
                cordon::web::auth::WebKeys::new(secret.expose()).map_err(|e| anyhow::anyhow!(e))?;
            let (m, _) = app::load_matrix(&cfg.matrix)?;
            let Some(p) = m.people.keys().find(|p| p.0 == person) else {
                bail!(
                    "`{person}` is not a person in {}; people: {}",
                    cfg.matrix.display(),
                    m.people
                        .keys()
                        .map(|p| p.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            let ttl = match ttl {
                Some(t) => cordon::domain::time::parse_duration(&t)
                    .map_err(|e| anyhow::anyhow!("--ttl: {e}"))?,
                None => cfg.web.login_link_ttl,
            };
            let (token, _) = keys
                .login_token(p, SystemClock.now(), ttl)
                .map_err(|e| anyhow::anyhow!(e))?;
            eprintln!(
                "one-time sign-in link for {person}, valid for {}:",
                cordon::domain::time::format_duration(ttl)
            );
            println!("{}", cordon::web::auth::login_url(&cfg.public_url, &token));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Report { filters, format } => {
            let reports: cordon::report::ReportsConfig =
                cfg.section("reports").map_err(|e| anyhow::anyhow!("{e}"))?;
            let sla = reports.sla_targets().map_err(|e| anyhow::anyhow!(e))?;
            let params = cordon::report::ReportParams {
                since: filters.since.or_else(|| {
                    (format == "digest" && filters.from.is_none())
                        .then(|| reports.digest.period.clone())
                }),
                from: filters.from,
                to: filters.to,
                severity: filters.severity,
                action: filters.action,
                rule: filters.rule,
                path: filters.path,
                team: filters.team,
                environment: filters.environment,
                drills: filters.drills.then(|| "on".to_owned()),
                table: filters.table.clone(),
            };
            let now = SystemClock.now();
            let q = params.to_query(now).map_err(|e| anyhow::anyhow!(e))?;
            let store = app::open_store(&cfg).await?;
            let r = cordon::report::run(&store, &q, &sla, now).await?;
            use cordon::report::render;
            match format.as_str() {
                "table" => print!("{}", render::table(&r)),
                "csv" => print!("{}", render::csv(&r, filters.table.as_deref())),
                "json" => println!("{}", serde_json::to_string_pretty(&r)?),
                "html" => {
                    let t = cordon::templates::Templates::load(
                        Some(&cfg.templates),
                        &[cordon::web::TEMPLATES],
                    )
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                    print!(
                        "{}",
                        render::html(&t, &r).map_err(|e| anyhow::anyhow!("{e}"))?
                    )
                }
                "digest" => {
                    let qs = serde_urlencoded::to_string(&params).unwrap_or_default();
                    let link = format!("{}/reports?{qs}", cfg.public_url.trim_end_matches('/'));
                    print!("{}", render::digest(&r, &link));
                    if reports.digest.enabled {
                        let next = reports
                            .digest
                            .next_due(now)
                            .map_err(|e| anyhow::anyhow!(e))?;
                        eprintln!("next scheduled digest: {}", next.to_rfc3339());
                    } else {
                        eprintln!(
                            "the weekly digest is not enabled ([reports.digest] enabled = true)"
                        );
                    }
                }
                other => bail!("--format {other}: use table, csv, json, html or digest"),
            }
            Ok(ExitCode::SUCCESS)
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
        Cmd::Discord {
            cmd: DiscordCmd::RegisterCommands,
        } => {
            let Some(d) =
                cordon::chat::discord::from_config(&cfg).map_err(|e| anyhow::anyhow!(e))?
            else {
                bail!("CORDON_DISCORD_BOT_TOKEN is not set");
            };
            let (Some(guild), Some(_)) = (d.guild_id, d.application_id) else {
                bail!(
                    "set CORDON_DISCORD_APPLICATION_ID and CORDON_DISCORD_GUILD_ID (Developer Portal → General Information; guild: right-click the server → Copy Server ID)"
                );
            };
            let names = cordon::chat::discord::commands::register(&d.api, guild).await?;
            println!("registered for guild {guild}: /{}", names.join(", /"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `kill -HUP` reloads the authority matrix.
fn spawn_reload_on_sighup(engine: Arc<cordon::engine::Engine>, path: PathBuf) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match app::reload_matrix(&engine, &path).await {
                Ok(hash) => {
                    tracing::info!(matrix = %path.display(), hash = %hash, "authority matrix reloaded")
                }
                Err(e) => {
                    tracing::error!(matrix = %path.display(), error = %format!("{e:#}"), "matrix reload refused; the previous matrix stays in force")
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (engine, path);
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
