//! Web console sessions ended on the server: the ids of signed-out sessions,
//! kept until the session would have expired anyway.

use super::{Result, on_pool};
use crate::domain::Timestamp;

impl super::Store {
    /// Ends session `jti` (of `person`, valid until `exp`, unix seconds):
    /// from now on [`Store::session_revoked`] says so. Also deletes the rows
    /// of sessions that have expired by `now`, which no token can use any
    /// more, so the table holds at most one session lifetime of sign-outs.
    pub async fn revoke_session(
        &self,
        jti: &str,
        person: &str,
        exp: i64,
        now: Timestamp,
    ) -> Result<()> {
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "insert into revoked_sessions (jti, person, exp, revoked_at) values ($1, $2, $3, $4) \
                 on conflict (jti) do nothing",
            )
            .bind(jti)
            .bind(person)
            .bind(exp)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("delete from revoked_sessions where exp <= $1")
                .bind(now.timestamp())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Whether session `jti` was signed out. (The read pool sees every
    /// committed sign-out: SQLite readers over WAL, the same PostgreSQL.)
    pub async fn session_revoked(&self, jti: &str) -> Result<bool> {
        on_pool!(&self.read, p => {
            let n: i64 = sqlx::query_scalar("select count(*) from revoked_sessions where jti = $1")
                .bind(jti)
                .fetch_one(p)
                .await?;
            Ok(n > 0)
        })
    }
}
