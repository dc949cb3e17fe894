//! Leadership among replicas: which process holds the connections that must
//! exist once per deployment (Slack Socket Mode, the Discord gateway).
//!
//! On PostgreSQL the leader is the process whose dedicated connection holds
//! the session advisory lock `hashtext(current_schema() || ':cordon-leader')`
//! (the schema is part of the key, so deployments sharing one database in
//! different schemas do not fence each other). The lock lives exactly as long
//! as that connection: when the leader dies, even by SIGKILL, the server
//! notices the closed socket, ends the session, and the lock is free. Every
//! other replica tries `pg_try_advisory_lock` every `interval` (about 2 s)
//! and the first to succeed takes over.
//!
//! The leader also pings its connection every `interval`. If the ping fails
//! (database restart, network cut) it steps down at once and drops the
//! connection. It cannot know whether the server still holds the old
//! session, so stepping down first is the safe order: two leaders never
//! overlap from this process's point of view; at worst there is a gap until
//! the server drops the dead session and someone takes the lock again.
//!
//! On SQLite there is one process by construction, and it is always leader.
//!
//! What this module must not do: decide anything about jobs or timers. Those
//! are claimed per row (`FOR UPDATE SKIP LOCKED` plus leases) by every
//! replica; leadership is only for the long-lived chat connections.

use super::{Pool, Store};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Takes the lock if free; the key is one per schema.
const TRY_LOCK: &str =
    "select pg_try_advisory_lock(hashtext(current_schema() || ':cordon-leader'))";
const UNLOCK: &str = "select pg_advisory_unlock(hashtext(current_schema() || ':cordon-leader'))";

/// A handle on this process's leadership. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    /// Held for `always()`, so `changed()` waits forever instead of erroring.
    _fixed: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl Leadership {
    /// A process that is leader for its whole life (SQLite, tests).
    pub fn always() -> Leadership {
        let (tx, rx) = watch::channel(true);
        Leadership {
            rx,
            _fixed: Some(std::sync::Arc::new(tx)),
        }
    }

    /// True while this process holds the lock.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// A receiver that changes when leadership is gained or lost: chat
    /// gateways start when it turns `true` and stop when it turns `false`.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Runs `start` (given a token that says "stop now") for as long as this
    /// process is leader: started when leadership is gained, stopped when it
    /// is lost, started again if it comes back, until `shutdown`.
    pub fn run_while_leader<F>(
        &self,
        what: &'static str,
        shutdown: CancellationToken,
        start: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Fn(CancellationToken) -> tokio::task::JoinHandle<()> + Send + 'static,
    {
        let mut rx = self.watch();
        tokio::spawn(async move {
            loop {
                while !*rx.borrow_and_update() {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        r = rx.changed() => if r.is_err() { return },
                    }
                }
                let stop = shutdown.child_token();
                tracing::info!(what, "leader: starting");
                let running = start(stop.clone());
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            stop.cancel();
                            let _ = running.await;
                            return;
                        }
                        r = rx.changed() => {
                            if r.is_err() || !*rx.borrow_and_update() {
                                break;
                            }
                        }
                    }
                }
                tracing::warn!(what, "leadership lost: stopping");
                stop.cancel();
                let _ = running.await;
            }
        })
    }
}

impl Store {
    /// Starts the leadership loop for this store's database (PostgreSQL), or
    /// returns [`Leadership::always`] (SQLite). The loop stops, releasing the
    /// lock, when `shutdown` is cancelled.
    pub fn leadership(&self, interval: Duration, shutdown: CancellationToken) -> Leadership {
        match &self.write {
            Pool::Sqlite(_) => Leadership::always(),
            Pool::Postgres(p) => {
                let opts = p.connect_options().as_ref().clone();
                let (tx, rx) = watch::channel(false);
                tokio::spawn(leader_loop(opts, interval, tx, shutdown));
                Leadership { rx, _fixed: None }
            }
        }
    }
}

/// One step: returns whether this process is leader afterwards. `conn` is
/// the dedicated connection (dropped on any error).
async fn step(
    opts: &PgConnectOptions,
    conn: &mut Option<PgConnection>,
    leader: bool,
    timeout: Duration,
) -> bool {
    if conn.is_none() {
        match tokio::time::timeout(timeout, PgConnection::connect_with(opts)).await {
            Ok(Ok(c)) => *conn = Some(c),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "leadership: cannot connect");
                return false;
            }
            Err(_) => return false,
        }
    }
    let Some(c) = conn.as_mut() else {
        return false;
    };
    let sql = if leader {
        // Still holding it? A ping is enough: the lock lives with the session.
        "select true"
    } else {
        TRY_LOCK
    };
    match tokio::time::timeout(timeout, sqlx::query_scalar::<_, bool>(sql).fetch_one(c)).await {
        Ok(Ok(held)) => held,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "leadership: connection lost");
            *conn = None;
            false
        }
        Err(_) => {
            tracing::warn!("leadership: database did not answer in time");
            *conn = None;
            false
        }
    }
}

async fn leader_loop(
    opts: PgConnectOptions,
    interval: Duration,
    tx: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let mut conn: Option<PgConnection> = None;
    loop {
        let was = *tx.borrow();
        let now = step(&opts, &mut conn, was, interval.max(Duration::from_secs(1))).await;
        if now != was {
            if now {
                tracing::info!("leadership: this replica is now the leader");
            } else {
                tracing::warn!("leadership: this replica is no longer the leader");
            }
            metrics::gauge!("cordon_leader").set(if now { 1.0 } else { 0.0 });
            let _ = tx.send(now);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    // Release explicitly so a graceful restart hands over at once (closing
    // the connection would release it too).
    let _ = tx.send(false);
    if let Some(mut c) = conn {
        let _ = sqlx::query(UNLOCK).execute(&mut c).await;
        let _ = c.close().await;
    }
}
