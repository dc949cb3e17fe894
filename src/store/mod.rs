//! Persistence: every arrow of the flow is a row here first.
//!
//! One [`Store`] serves both backends. The SQL text is shared (SQLite accepts
//! PostgreSQL's `$1` placeholders and `RETURNING`), and the few dialect
//! differences (`FOR UPDATE SKIP LOCKED`, advisory locks) live in match arms.
//! A trait with two implementations would have repeated every query twice for
//! no gain; the [`on_pool!`] macro expands each method body once per backend
//! so both are type-checked.
//!
//! Each public method is one unit of work: it opens and commits its own
//! transaction. Unique constraints settle races (`(decision_id, seq)` on
//! decision events) and surface as [`StoreError::Conflict`].
//!
//! SQLite runs with one writer connection (writes are serialised in-process,
//! never `SQLITE_BUSY`) and a small pool of readers over WAL. It is for one
//! process; several replicas need PostgreSQL.

mod alerts;
mod audit;
mod decisions;
mod directory;
pub(crate) mod guards;
mod history;
mod ingest_plan;
mod jobs;
pub mod leader;
mod misc;
mod reports;
mod sessions;

pub use alerts::*;
pub use audit::*;
pub use decisions::*;
pub use directory::*;
pub use guards::RateCheck;
pub use history::*;
pub use jobs::*;
pub use misc::*;
pub use reports::*;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// Errors of the persistence layer, mapped to what callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote first (an optimistic-concurrency check failed):
    /// re-read and decide again.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The database could not be reached or is saturated; try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data that cannot be decoded (a migration or a hand edit went wrong).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The action's rate guard is full (see [`RateCheck`]): judge again
    /// with the breaker open.
    #[error("the {action} rate guard is full ({count} automatic decisions in its window)")]
    RateGuard { action: String, count: i64 },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when the database could not be reached or was overloaded, as
    /// opposed to a bad query: ingest answers 503 with Retry-After for these.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
            || matches!(
                self,
                StoreError::Database(
                    sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Io(_)
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::Protocol(_)
                        | sqlx::Error::WorkerCrashed
                )
            )
            || self.is_server_unavailable()
    }

    /// PostgreSQL said it cannot serve right now: connection exceptions
    /// (class 08), operator intervention such as a shutdown or restart in
    /// progress (57P01–57P03), insufficient resources (class 53, e.g. too
    /// many connections). Anything else is a real error of the query.
    fn is_server_unavailable(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        db.code().is_some_and(|c| {
            c.starts_with("08")
                || c.starts_with("53")
                || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        })
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub(crate) fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool of either backend. The
/// body is compiled once per backend, so the same SQL and row handling is
/// checked against both.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Tuning knobs for the connection pools.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before the store
    /// reports itself unavailable (ingest then answers 503).
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// The store. Cheap to clone (pools are reference counted).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) write: Pool,
    pub(crate) read: Pool,
    backend: Backend,
}

impl Store {
    /// Opens the database named by `url`: `sqlite://path` (created if
    /// missing, WAL, synchronous=FULL so a 202 survives power loss) or
    /// `postgres://…`.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect)
                .await?;
            Ok(Store {
                write: Pool::Postgres(pool.clone()),
                read: Pool::Postgres(pool),
                backend: Backend::Postgres,
            })
        } else if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.clamp(1, 8))
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect.read_only(true))
                .await;
            // A read-only pool cannot open a database that does not exist yet;
            // the writer above has just created it, so this only fails for
            // real reasons.
            let read = read?;
            Ok(Store {
                write: Pool::Sqlite(write),
                read: Pool::Sqlite(read),
                backend: Backend::Sqlite,
            })
        } else {
            Err(StoreError::Database(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL `{}`: use sqlite://PATH or postgres://…",
                    redact_url(url)
                )
                .into(),
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations of this backend (idempotent).
    pub async fn migrate(&self) -> Result<()> {
        match &self.write {
            Pool::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Pool::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(&self.write, p => {
            sqlx::query("select 1").execute(p).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(&self.write, p => p.close().await);
        on_pool!(&self.read, p => p.close().await);
    }
}

/// Hides the password of a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Milliseconds since the epoch, the unit of the scheduler columns.
/// `0..n` in runs of at most `max` rows, one multi-row statement each.
pub(crate) fn row_runs(n: usize, max: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).step_by(max.max(1)).map(move |s| s..(s + max).min(n))
}

pub(crate) fn ms(t: crate::domain::Timestamp) -> i64 {
    t.timestamp_millis()
}

/// A migrated SQLite store in a temporary folder, and its pool, for unit
/// tests that read query plans.
#[cfg(test)]
pub(crate) async fn sqlite_for_plans() -> (tempfile::TempDir, Store, sqlx::SqlitePool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("plans.db").display());
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let Pool::Sqlite(p) = &store.write else {
        panic!("sqlite store");
    };
    let p = p.clone();
    (dir, store, p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn row_runs_cover_every_row_once() {
        assert_eq!(
            super::row_runs(5, 2).collect::<Vec<_>>(),
            vec![0..2, 2..4, 4..5]
        );
        assert_eq!(super::row_runs(0, 2).count(), 0);
    }

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(
            super::redact_url("postgres://cordon:s3cret@db:5432/cordon"),
            "postgres://cordon:***@db:5432/cordon"
        );
        assert_eq!(
            super::redact_url("sqlite://cordon.db"),
            "sqlite://cordon.db"
        );
    }
}
