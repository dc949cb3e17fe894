//! Test helpers shared by the integration tests: fresh databases on both
//! backends. Every test gets its own SQLite file and its own PostgreSQL
//! schema, so tests never see each other's rows and can run in parallel.
#![allow(dead_code)]

use cordon::store::{Store, StoreOptions};

/// The PostgreSQL server for tests. `.ci/run` sets `CORDON_TEST_POSTGRES_URL`;
/// without it the PostgreSQL half of a store test cannot run, and that must
/// not pass silently.
pub fn postgres_url() -> String {
    match std::env::var("CORDON_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "CORDON_TEST_POSTGRES_URL is not set: store tests run on SQLite and PostgreSQL. \
             Run .ci/run, or export CORDON_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test"
        ),
    }
}

/// A database for one test.
pub struct TestDb {
    pub url: String,
    pub label: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("cordon.db").display());
        TestDb {
            url,
            label: "sqlite",
            _dir: Some(dir),
        }
    }

    /// A fresh schema in the test PostgreSQL database, selected through the
    /// connection's `search_path`.
    pub async fn postgres() -> TestDb {
        let base = postgres_url();
        let schema = format!(
            "t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let admin = sqlx::PgPool::connect(&base)
            .await
            .expect("connect to CORDON_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop schema if exists {schema} cascade"
        )))
        .execute(&admin)
        .await
        .expect("drop schema");
        sqlx::query(sqlx::AssertSqlSafe(format!("create schema {schema}")))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        TestDb {
            url,
            label: "postgres",
            _dir: None,
        }
    }

    pub async fn store(&self) -> Store {
        let s = Store::connect(&self.url, &StoreOptions::default())
            .await
            .expect("connect");
        s.migrate().await.expect("migrate");
        s
    }
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Both backends, for contract tests: `for db in both().await { ... }`.
pub async fn both() -> Vec<TestDb> {
    vec![TestDb::sqlite().await, TestDb::postgres().await]
}

/// A pinned instant for tests.
pub fn t0() -> cordon::domain::Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
        .expect("valid")
        .with_timezone(&chrono::Utc)
}

pub mod app;
pub mod chat;
pub mod fake_discord;
pub mod fake_slack;
pub mod fake_vendor;
pub mod history;
pub mod procs;
