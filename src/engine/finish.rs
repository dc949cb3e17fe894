//! Group commit for the end of jobs.
//!
//! Every job ends with bookkeeping: its completion, and for a pipeline the
//! alert's enrichment and the chat sync it leaves behind. Written one job at
//! a time, that is a durable commit per job on the store's single writer
//! (SQLite) and competes with ingest for it, so sustained ingest was capped by
//! the pipelines behind it. Here finished jobs wait for one task that writes
//! everything waiting in ONE transaction, the way ingest batches requests;
//! a job that finishes alone waits for nothing.

use crate::clock::Clock;
use crate::store::{JobDone, Store, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most job ends written in one transaction.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<bool, String>>;

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Finisher {
    tx: mpsc::Sender<(JobDone, Reply)>,
}

impl Finisher {
    /// Starts the writer task (it ends when every sender is gone).
    pub fn start(store: Store, worker: String, clock: Arc<dyn Clock>) -> Finisher {
        let (tx, mut rx) = mpsc::channel::<(JobDone, Reply)>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut batch: Vec<(JobDone, Reply)> = Vec::new();
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (done, replies): (Vec<JobDone>, Vec<Reply>) = batch.drain(..).unzip();
                let ids: Vec<i64> = done.iter().map(|d| d.job).collect();
                match store.finish_jobs(&worker, clock.now(), &done).await {
                    Ok(finished) => {
                        let finished: HashSet<i64> = finished.into_iter().collect();
                        for (id, reply) in ids.into_iter().zip(replies) {
                            let _ = reply.send(Ok(finished.contains(&id)));
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(msg.clone()));
                        }
                    }
                }
            }
        });
        Finisher { tx }
    }

    /// Records the end of a job and waits until it is committed. Returns
    /// false when the job's lease had been lost to another worker.
    pub async fn finish(&self, done: JobDone) -> Result<bool, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((done, reply))
            .await
            .map_err(|_| StoreError::Unavailable("shutting down".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("shutting down".into()))?
            .map_err(StoreError::Unavailable)
    }
}
