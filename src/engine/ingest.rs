//! Group commit for ingest.
//!
//! Each HTTP request hands its parsed alerts to one batcher task through a
//! bounded queue and waits for the answer. The batcher takes everything that
//! is waiting (up to `max_batch` alerts), writes it in ONE transaction, and
//! answers every request. Under load many requests share one durable commit,
//! so throughput grows with concurrency instead of being capped at one
//! commit per request; a lone request waits for nothing.
//!
//! The queue is bounded in alerts (a semaphore): when it is full the caller
//! gets [`IngestRejected::QueueFull`] at once (HTTP 429 with Retry-After)
//! instead of memory growing.

use crate::store::{IncomingAlert, IngestWindows, IngestedAlert, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Why an ingest request was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestRejected {
    #[error("the ingest queue is full")]
    QueueFull,
    #[error("the request has more alerts ({0}) than the ingest queue holds")]
    TooLarge(usize),
    #[error("cordon is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A committed alert and, when it started a pipeline, the id of the job
/// (claimed by this process) that runs the pipeline.
pub type Committed = (IngestedAlert, Option<i64>);

struct Request {
    alerts: Vec<IncomingAlert>,
    permits: tokio::sync::OwnedSemaphorePermit,
    reply: oneshot::Sender<Result<Vec<Committed>, StoreError>>,
}

/// The sending side, shared by all HTTP handlers.
#[derive(Clone)]
pub struct IngestQueue {
    tx: mpsc::Sender<Request>,
    capacity: Arc<Semaphore>,
    max: usize,
}

impl IngestQueue {
    /// Starts the batcher task. `worker` and `lease` mark the pipeline jobs
    /// as claimed by this process; `on_commit` is called with every
    /// committed batch (to start the pipelines at once).
    pub fn start(
        store: Store,
        windows: IngestWindows,
        capacity: usize,
        max_batch: usize,
        worker: String,
        lease: Duration,
        on_commit: Arc<dyn Fn(Vec<Committed>) + Send + Sync>,
    ) -> IngestQueue {
        let (tx, mut rx) = mpsc::channel::<Request>(capacity.max(1));
        let sem = Arc::new(Semaphore::new(capacity));
        tokio::spawn(async move {
            let mut pending: Vec<Request> = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut n = first.alerts.len();
                pending.push(first);
                while n < max_batch {
                    match rx.try_recv() {
                        Ok(r) => {
                            n += r.alerts.len();
                            pending.push(r);
                        }
                        Err(_) => break,
                    }
                }
                // Move (not copy) the alerts into one batch; remember how
                // many each request brought to split the answer.
                let counts: Vec<usize> = pending.iter().map(|r| r.alerts.len()).collect();
                let all: Vec<IncomingAlert> = pending
                    .iter_mut()
                    .flat_map(|r| std::mem::take(&mut r.alerts))
                    .collect();
                let result = store
                    .ingest_batch(&all, windows, Some((&worker, lease)))
                    .await;
                match result {
                    Ok(rows) => {
                        on_commit(rows.clone());
                        let mut it = rows.into_iter();
                        for (r, n) in pending.drain(..).zip(counts) {
                            let mine: Vec<Committed> = it.by_ref().take(n).collect();
                            let _ = r.reply.send(Ok(mine));
                            drop(r.permits);
                        }
                    }
                    Err(e) => {
                        // The whole batch rolled back: every request in it is
                        // told, none was acknowledged, nothing is lost.
                        let msg = e.to_string();
                        let unavailable = e.is_unavailable();
                        for r in pending.drain(..) {
                            let err = if unavailable {
                                StoreError::Database(sqlx::Error::PoolTimedOut)
                            } else {
                                StoreError::Corrupt(msg.clone())
                            };
                            let _ = r.reply.send(Err(err));
                        }
                    }
                }
            }
        });
        IngestQueue {
            tx,
            capacity: sem,
            max: capacity,
        }
    }

    /// Queues the alerts and waits until they are committed.
    pub async fn submit(
        &self,
        alerts: Vec<IncomingAlert>,
    ) -> Result<Vec<Committed>, IngestRejected> {
        if alerts.is_empty() {
            return Ok(vec![]);
        }
        if alerts.len() > self.max {
            return Err(IngestRejected::TooLarge(alerts.len()));
        }
        let n = u32::try_from(alerts.len()).map_err(|_| IngestRejected::TooLarge(alerts.len()))?;
        let permits = Arc::clone(&self.capacity)
            .try_acquire_many_owned(n)
            .map_err(|_| IngestRejected::QueueFull)?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request {
                alerts,
                permits,
                reply,
            })
            .await
            .map_err(|_| IngestRejected::ShuttingDown)?;
        rx.await
            .map_err(|_| IngestRejected::ShuttingDown)?
            .map_err(IngestRejected::Store)
    }

    /// Alerts currently waiting, for `/metrics`.
    pub fn depth(&self) -> usize {
        self.max - self.capacity.available_permits()
    }
}
