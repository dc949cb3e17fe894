//! The decision engine: moves every alert and decision through the flow.
//!
//! It owns no rules of its own. The authority matrix says which path an
//! action takes, [`crate::domain::decision::decide`] says what each command
//! does, and the engine carries out the effects: it writes the events, jobs,
//! timers and audit entries of a transition in one store transaction, then
//! runs the jobs. Everything it does is driven by rows, so a restart at any
//! point resumes from the database:
//!
//! - `pipeline` jobs (one per new alert): enrich, run playbooks, propose
//!   decisions;
//! - `execute` jobs: one connector call (forward or inverse);
//! - `confirm` jobs: poll the vendor until it confirms;
//! - `chat` jobs: bring a chat surface in line with the incident's state;
//! - timers: veto window end, approval timeout / escalation, containment expiry.
//!
//! The fast path: jobs that a transition creates are inserted already
//! claimed by this process and run at once, so a pre-authorised action
//! reaches its connector without waiting for any polling interval. The
//! worker loop only picks up what was left behind (retries, other replicas'
//! expired leases, work from before a restart).
//!
//! Each background loop is a step function (`run_due_timers`,
//! `run_due_jobs`) plus a loop that sleeps until the next due time, wakes
//! early on a [`Notify`], and stops on shutdown; tests drive the steps.

pub mod finish;
pub mod ingest;
pub mod targets;

pub use targets::ResolvedTarget;

use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::domain::decision::{
    ActorRef, Command, Decision, DecisionError, DecisionEvent, DecisionState, Effect, TimerKind,
    Verb, decide,
};
use crate::domain::guards::Guards;
use crate::domain::{
    ActionContext, ActionKind, ActionTarget, Actor, AlertId, DecisionId, IncidentId, Matrix,
    PersonId, Platform, Timestamp,
};
use crate::enrich::Enricher;
use crate::executors::{Confirmation, ExecError, ExecRequest, Registry};
use crate::playbooks::Playbooks;
use crate::store::{
    EnrichmentResult, EventRecord, IncidentStamp, Job, JobDone, NewAudit, NewDecision, NewJob,
    NewTimer, RateCheck, Store, StoreError, TransitionWrites,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Something a chat surface (Slack, Discord) does with the job queue: the
/// engine enqueues `chat` jobs; the surface that owns the platform runs them.
#[async_trait::async_trait]
pub trait ChatSurface: Send + Sync {
    /// `slack` or `discord`.
    fn platform(&self) -> &'static str;
    /// Runs one chat job (payload as enqueued by [`Engine::notify_chat`]).
    /// Err(retry_after) asks for a retry.
    async fn run(&self, engine: &Engine, payload: &serde_json::Value) -> Result<(), ChatJobError>;
}

/// A chat job failure.
#[derive(Debug, thiserror::Error)]
pub enum ChatJobError {
    #[error("retry later: {message}")]
    Retry {
        message: String,
        after: Option<Duration>,
    },
    #[error("{0}")]
    Permanent(String),
}

/// Errors of engine operations that people trigger.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0} not found")]
    NotFound(String),
    /// The matrix refused: the message names the rule and the roles that may act.
    #[error("{0}")]
    Refused(DecisionError),
    #[error("the decision kept changing under us; try again")]
    Contended,
    #[error("authority matrix {0} is not available")]
    MatrixMissing(String),
    /// The target's value cannot name a target of its kind.
    #[error("{0}")]
    InvalidTarget(String),
    /// A person may not propose this action: the message names the rule
    /// and the roles that may.
    #[error("{0}")]
    ProposalRefused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a person's click led to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActResult {
    pub decision: DecisionId,
    /// False for an idempotent repeat (e.g. a double click).
    pub changed: bool,
    pub state: DecisionState,
    /// Approvals counted so far / quorum, for approval rules.
    pub approvals: usize,
    pub quorum: u32,
}

/// Matrices by content hash; `current` is the one new decisions use.
struct Matrices {
    current: Arc<Matrix>,
    by_hash: HashMap<String, Arc<Matrix>>,
}

/// The engine. Shared as `Arc<Engine>`.
pub struct Engine {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    matrices: RwLock<Matrices>,
    enricher: Arc<Enricher>,
    playbooks: Arc<Playbooks>,
    pub executors: Arc<Registry>,
    chat: RwLock<Vec<Arc<dyn ChatSurface>>>,
    cfg: EngineConfig,
    /// This process's name in job leases.
    pub worker_id: String,
    wake_jobs: Notify,
    wake_timers: Notify,
    /// Limits how many jobs run at once in this process.
    slots: Arc<tokio::sync::Semaphore>,
    /// Limits how many chat syncs run at once (see [`Engine::slots_for`]).
    chat_slots: Arc<tokio::sync::Semaphore>,
    /// The job loop left due jobs unclaimed for want of a free slot: the
    /// next job to end wakes it.
    slots_exhausted: AtomicBool,
    /// Group commit for job ends, started on first use (inside the runtime).
    finisher: std::sync::OnceLock<finish::Finisher>,
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("worker_id", &self.worker_id)
            .finish()
    }
}

const QUEUES: [&str; 4] = ["pipeline", "execute", "confirm", "chat"];

/// The queues by the slots their jobs run in (see [`Engine::slots_for`]):
/// the loop claims each group in one statement.
const SLOT_GROUPS: [&[&str]; 2] = [&["pipeline", "execute", "confirm"], &["chat"]];

/// How often finished jobs past their retention are deleted, and how many
/// in one statement.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_CHUNK: i64 = 5_000;

/// How many times a running job's lease is renewed (every third of the
/// lease) before it is left to lapse: a job running that long is taken to
/// hang, and another worker takes it over.
const MAX_LEASE_RENEWALS: u32 = 30;

/// How long the job loop lets wake-ups gather before it looks again.
const LOOP_COALESCE: Duration = Duration::from_millis(20);

fn err_conflict(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(_))
}

/// Converts a domain event to its stored form.
pub fn to_record(e: &DecisionEvent) -> EventRecord {
    EventRecord {
        seq: e.seq,
        at: e.at,
        kind: e.kind.name().to_owned(),
        actor_person: e
            .actor
            .as_ref()
            .and_then(|a| a.person.as_ref().map(|p| p.0.clone())),
        actor_platform: e
            .actor
            .as_ref()
            .map(|a| platform_name(a.platform).to_owned()),
        actor_user: e.actor.as_ref().map(|a| a.platform_user_id.clone()),
        actor_role: e.actor.as_ref().and_then(|a| a.role.clone()),
        data: serde_json::to_value(e).unwrap_or(serde_json::Value::Null),
    }
}

/// Converts a stored event back.
pub fn from_record(r: &EventRecord) -> Result<DecisionEvent, StoreError> {
    serde_json::from_value(r.data.clone())
        .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", r.seq)))
}

/// How the audit log names a person acting through an identity:
/// `alice (slack:U01ALICE)`.
fn audit_actor(person: &PersonId, actor: &Actor) -> String {
    format!(
        "{person} ({}:{})",
        platform_name(actor.platform),
        actor.platform_user_id
    )
}

pub fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Slack => "slack",
        Platform::Discord => "discord",
        Platform::Web => "web",
        Platform::Cli => "cli",
        Platform::System => "system",
    }
}

fn timer_name(k: TimerKind) -> &'static str {
    match k {
        TimerKind::VetoWindowEnd => "veto_window_end",
        TimerKind::ApprovalTimeout => "approval_timeout",
        TimerKind::ContainmentExpiry => "containment_expiry",
    }
}

fn timer_kind(s: &str) -> Option<TimerKind> {
    match s {
        "veto_window_end" => Some(TimerKind::VetoWindowEnd),
        "approval_timeout" => Some(TimerKind::ApprovalTimeout),
        "containment_expiry" => Some(TimerKind::ContainmentExpiry),
        _ => None,
    }
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        matrix: Matrix,
        enricher: Enricher,
        playbooks: Playbooks,
        executors: Registry,
        cfg: EngineConfig,
        worker_id: String,
    ) -> Engine {
        let matrix = Arc::new(matrix);
        let mut by_hash = HashMap::new();
        by_hash.insert(matrix.hash().to_owned(), Arc::clone(&matrix));
        let workers = cfg.workers.max(1);
        Engine {
            store,
            clock,
            matrices: RwLock::new(Matrices {
                current: matrix,
                by_hash,
            }),
            enricher: Arc::new(enricher),
            playbooks: Arc::new(playbooks),
            executors: Arc::new(executors),
            chat: RwLock::new(Vec::new()),
            cfg,
            worker_id,
            wake_jobs: Notify::new(),
            wake_timers: Notify::new(),
            slots: Arc::new(tokio::sync::Semaphore::new(workers)),
            // A chat sync spends most of its time waiting on the platform's
            // pacing; a few at once keep every channel busy.
            chat_slots: Arc::new(tokio::sync::Semaphore::new((workers / 4).max(2))),
            slots_exhausted: AtomicBool::new(false),
            finisher: std::sync::OnceLock::new(),
            shutdown: CancellationToken::new(),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Adds a chat surface (Slack, Discord); its jobs run from then on.
    pub fn add_chat_surface(&self, s: Arc<dyn ChatSurface>) {
        if let Ok(mut c) = self.chat.write() {
            c.push(s);
        }
    }

    fn chat_surfaces(&self) -> Vec<Arc<dyn ChatSurface>> {
        self.chat.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// The matrix new decisions are judged under.
    pub fn matrix(&self) -> Arc<Matrix> {
        match self.matrices.read() {
            Ok(m) => Arc::clone(&m.current),
            Err(p) => Arc::clone(&p.into_inner().current),
        }
    }

    /// Records the current matrix version in the store (at start and reload).
    pub async fn save_matrix(&self, source: &str, content: &str) -> Result<(), StoreError> {
        let m = self.matrix();
        self.store
            .save_matrix_version(m.hash(), source, content, self.now())
            .await
    }

    /// Swaps in a new matrix (reload). Decisions already made stay under theirs.
    pub async fn replace_matrix(
        &self,
        matrix: Matrix,
        source: &str,
        content: &str,
    ) -> Result<(), StoreError> {
        self.store
            .save_matrix_version(matrix.hash(), source, content, self.now())
            .await?;
        let m = Arc::new(matrix);
        if let Ok(mut g) = self.matrices.write() {
            g.by_hash.insert(m.hash().to_owned(), Arc::clone(&m));
            g.current = m;
        }
        Ok(())
    }

    /// The matrix version with this content hash (the one a decision was
    /// created under): from memory, else the store, then cached.
    pub async fn matrix_for(&self, hash: &str) -> Result<Arc<Matrix>, EngineError> {
        if let Ok(g) = self.matrices.read()
            && let Some(m) = g.by_hash.get(hash)
        {
            return Ok(Arc::clone(m));
        }
        let Some((source, content)) = self.store.matrix_version(hash).await? else {
            return Err(EngineError::MatrixMissing(hash.to_owned()));
        };
        let m = Matrix::parse(&source, &content)
            .map_err(|_| EngineError::MatrixMissing(hash.to_owned()))?;
        let m = Arc::new(m);
        if let Ok(mut g) = self.matrices.write() {
            g.by_hash.insert(hash.to_owned(), Arc::clone(&m));
        }
        Ok(m)
    }

    // -----------------------------------------------------------------
    // Jobs
    // -----------------------------------------------------------------

    /// Runs jobs that this process has just inserted claimed (the fast path).
    pub fn run_claimed(
        self: &Arc<Self>,
        ids: impl IntoIterator<Item = Option<i64>>,
        queue: &str,
        payloads: Vec<(serde_json::Value, Option<String>)>,
    ) {
        let jobs: Vec<Job> = ids
            .into_iter()
            .zip(payloads)
            .filter_map(|(id, (payload, ordering_key))| {
                Some(Job {
                    id: id?,
                    queue: queue.to_owned(),
                    dedup_key: None,
                    payload,
                    attempts: 1,
                    max_attempts: self.cfg.max_attempts,
                    ordering_key,
                })
            })
            .collect();
        if jobs.is_empty() {
            return;
        }
        // One feeder per committed batch spawns a job task only once a slot
        // is free. Spawning one task per job up front would park a full
        // job future (kilobytes each) per waiting job: under sustained
        // ingest faster than the pipelines, that was ~17 KB per alert.
        let me = Arc::clone(self);
        let claimed = tokio::time::Instant::now();
        tokio::spawn(async move {
            for job in jobs {
                let Ok(permit) = Arc::clone(me.slots_for(&job.queue)).acquire_owned().await else {
                    return;
                };
                let me2 = Arc::clone(&me);
                tokio::spawn(async move {
                    let _permit = permit;
                    me2.run_after_wait(job, claimed).await;
                });
            }
        });
    }

    /// Claims and runs every due job of every queue once, and waits for them
    /// (the step function tests drive). Returns how many ran.
    pub async fn run_due_jobs(self: &Arc<Self>) -> Result<usize, StoreError> {
        self.claim_due_jobs(true).await
    }

    /// The slots a queue's jobs run in. Chat syncs have their own: a sync
    /// paced by a platform's rate limit sleeps while holding its slot, and
    /// must never keep a pre-authorised containment from running.
    fn slots_for(&self, queue: &str) -> &Arc<tokio::sync::Semaphore> {
        if queue == "chat" {
            &self.chat_slots
        } else {
            &self.slots
        }
    }

    /// Claims due jobs (no more than there are free slots) and runs them;
    /// `wait` waits for them to finish. The loop does not wait, so one slow
    /// job (a paced chat sync) does not hold back every other queue, and it
    /// claims the queues sharing slots in one statement. Waiting, queue by
    /// queue in pipeline → execute → confirm → chat order, is the step
    /// function tests drive: what one queue's jobs enqueue runs in the same step.
    async fn claim_due_jobs(self: &Arc<Self>, wait: bool) -> Result<usize, StoreError> {
        let mut n = 0;
        let groups: Vec<&[&str]> = if wait {
            QUEUES.iter().map(std::slice::from_ref).collect()
        } else {
            SLOT_GROUPS.to_vec()
        };
        for qs in groups {
            let slots = self.slots_for(qs[0]);
            let free = i64::try_from(slots.available_permits()).unwrap_or(0);
            if free == 0 && !wait {
                self.slots_exhausted.store(true, AtomicOrdering::Relaxed);
                // A job that ended just before the flag was set did not wake us.
                if slots.available_permits() > 0 {
                    self.wake_jobs.notify_one();
                }
                continue;
            }
            let jobs = self
                .store
                .claim_jobs_of(
                    qs,
                    &self.worker_id,
                    self.now(),
                    self.cfg.job_lease,
                    free.max(1),
                )
                .await?;
            n += jobs.len();
            if !wait && i64::try_from(jobs.len()).unwrap_or(i64::MAX) >= free {
                // Every free slot taken: more may be due behind them.
                self.slots_exhausted.store(true, AtomicOrdering::Relaxed);
            }
            let mut handles = Vec::new();
            let claimed = tokio::time::Instant::now();
            for job in jobs {
                let me = Arc::clone(self);
                let slots = Arc::clone(slots);
                handles.push(tokio::spawn(async move {
                    let Ok(_permit) = slots.acquire_owned().await else {
                        return;
                    };
                    me.run_after_wait(job, claimed).await;
                }));
            }
            if wait {
                for h in handles {
                    let _ = h.await;
                }
            }
        }
        Ok(n)
    }

    /// The worker loop: run due jobs, sleep until the next is due or until woken.
    ///
    /// Wake-ups are coalesced: under load every finished job asks for a
    /// look, and looking (a claim per queue, the next due time) costs the
    /// database more than the jobs the loop picks up; the fast path runs new
    /// work without the loop anyway. So after a wake-up the loop waits
    /// [`LOOP_COALESCE`] before the next look.
    ///
    /// Jobs already due but left unclaimed are not a reason to look again
    /// soon: they wait for a free slot (the next job to end wakes the loop)
    /// or for the job ahead of them on their ordering key (whose end wakes
    /// it too). Only the next queued job due in the future, and a periodic
    /// look for lapsed leases, set the sleep.
    pub async fn job_loop(self: Arc<Self>) {
        loop {
            if let Err(e) = self.claim_due_jobs(false).await {
                tracing::warn!(error = %e, "job worker: store unavailable, retrying");
            }
            // The periodic look also finds leases lapsed by a dead worker
            // (see `Store::next_job_due`): a quarter of a lease late at most.
            let period =
                (self.cfg.job_lease / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
            let next = self.store.next_job_due(self.now()).await.ok().flatten();
            let now_ms = self.now().timestamp_millis();
            let wait = next.map_or(period, |t| {
                Duration::from_millis(u64::try_from((t - now_ms).max(5)).unwrap_or(5)).min(period)
            });
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.wake_jobs.notified() => {
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return,
                        _ = tokio::time::sleep(LOOP_COALESCE) => {}
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn finisher(&self) -> &finish::Finisher {
        self.finisher.get_or_init(|| {
            finish::Finisher::start(
                self.store.clone(),
                self.worker_id.clone(),
                Arc::clone(&self.clock),
            )
        })
    }

    async fn run_job(self: &Arc<Self>, job: Job) {
        let started = std::time::Instant::now();
        let work = async {
            match job.queue.as_str() {
                "pipeline" => self.run_pipeline(&job).await,
                "execute" => self.run_execute(&job).await.map(|()| JobDone::default()),
                "confirm" => self.run_confirm(&job).await.map(|()| JobDone::default()),
                "chat" => self.run_chat(&job).await.map(|()| JobDone::default()),
                other => Err(JobFailure::Permanent(format!("unknown queue {other}"))),
            }
        };
        let result = self.keeping_lease(&job, work).await;
        metrics::histogram!("cordon_job_seconds", "queue" => job.queue.clone())
            .record(started.elapsed().as_secs_f64());
        let Some(result) = result else {
            // Taken over: the new holder records the outcome.
            return;
        };
        let now = self.now();
        // The loop has something new to look at only when this job leaves
        // work behind: queued jobs, a retry, or the next job of its ordering key.
        let mut wake = job.ordering_key.is_some();
        let outcome = match result {
            Ok(done) => {
                wake |= !done.enqueue.is_empty();
                self.finisher()
                    .finish(JobDone {
                        job: job.id,
                        ..done
                    })
                    .await
                    .map(|_| ())
            }
            Err(JobFailure::Retry { message, after }) => {
                wake = true;
                let delay = after.unwrap_or_else(|| self.backoff(job.attempts));
                tracing::info!(job = job.id, queue = %job.queue, attempt = job.attempts, error = %message, "job will be retried");
                self.store
                    .retry_or_fail_job(
                        job.id,
                        &self.worker_id,
                        &message,
                        crate::domain::time::add(now, delay),
                        false,
                        now,
                    )
                    .await
                    .map(|_| ())
            }
            Err(JobFailure::Permanent(message)) => {
                tracing::warn!(job = job.id, queue = %job.queue, error = %message, "job failed");
                self.store
                    .retry_or_fail_job(job.id, &self.worker_id, &message, now, true, now)
                    .await
                    .map(|_| ())
            }
        };
        if let Err(e) = outcome {
            tracing::warn!(job = job.id, error = %e, "could not record the job's outcome; its lease will expire");
        }
        if wake | self.slots_exhausted.swap(false, AtomicOrdering::Relaxed) {
            self.wake_jobs.notify_one();
        }
    }

    /// Runs a job claimed at `claimed` once it holds a slot. Under a backlog
    /// the wait for a slot can outlast the lease the job was claimed with;
    /// the job loop would then claim it again and it would run twice. Past
    /// a third of the lease, the lease is renewed first, and a job taken
    /// over in the meantime is left to whoever took it.
    async fn run_after_wait(self: &Arc<Self>, job: Job, claimed: tokio::time::Instant) {
        if claimed.elapsed() > self.cfg.job_lease / 3 {
            match self.renew_lease(&job).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(job = job.id, queue = %job.queue, "job waited past its lease and was taken over");
                    return;
                }
                Err(e) => {
                    tracing::warn!(job = job.id, error = %e, "could not renew the lease of a waiting job");
                }
            }
        }
        self.run_job(job).await;
    }

    /// Renews the lease of a job this process runs, for a whole lease from
    /// now. False: it was taken over (see [`Store::renew_job_lease`]).
    async fn renew_lease(&self, job: &Job) -> Result<bool, StoreError> {
        let until = crate::domain::time::add(self.now(), self.cfg.job_lease);
        self.store
            .renew_job_lease(job.id, &self.worker_id, job.attempts, until)
            .await
    }

    /// Runs a job's work while renewing its lease every third of the lease.
    /// A chat sync paced by a platform's rate limit, or a slow vendor, can
    /// outlive the lease; once it lapsed, another worker (or this one)
    /// would claim the job and run it a second time: a second post, a
    /// second call. Renewal stops after [`MAX_LEASE_RENEWALS`] (ten minutes
    /// with the default one-minute lease), so a job that hangs is still
    /// taken over.
    ///
    /// `None`: the lease had been lost (a renewal failed for a whole lease,
    /// say while the database was away) and the job was claimed again. The
    /// work is dropped then, unfinished: the new holder runs the job, and
    /// carrying on would run it twice and record two outcomes.
    async fn keeping_lease<T>(
        &self,
        job: &Job,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let beat = (self.cfg.job_lease / 3).max(Duration::from_millis(10));
        tokio::pin!(work);
        for _ in 0..MAX_LEASE_RENEWALS {
            // The work goes on while the renewal waits for a connection: on
            // SQLite's one writer connection the work may be the one
            // holding it, and pausing the work would block every writer.
            let renew = async {
                tokio::time::sleep(beat).await;
                self.renew_lease(job).await
            };
            tokio::select! {
                biased;
                out = &mut work => return Some(out),
                renewed = renew => match renewed {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = job.id, queue = %job.queue, attempt = job.attempts, "job lost its lease and was claimed again; this attempt stops");
                        return None;
                    }
                    // The next beat tries again; the lease is still a
                    // third of its length ahead.
                    Err(e) => {
                        tracing::warn!(job = job.id, error = %e, "could not renew the job's lease")
                    }
                },
            }
        }
        tracing::warn!(job = job.id, queue = %job.queue, "job still running after {MAX_LEASE_RENEWALS} lease renewals; letting its lease lapse");
        Some(work.await)
    }

    /// Exponential backoff with full jitter, capped.
    fn backoff(&self, attempt: i64) -> Duration {
        let exp = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
        let base = self
            .cfg
            .retry_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.cfg.retry_max);
        let jitter = rand::random::<f64>();
        base.mul_f64(0.5 + jitter * 0.5)
    }

    // -----------------------------------------------------------------
    // Pipeline: enrich → playbooks → decisions
    // -----------------------------------------------------------------

    async fn run_pipeline(self: &Arc<Self>, job: &Job) -> Result<JobDone, JobFailure> {
        let alert_id = AlertId(
            job.payload["alert_id"]
                .as_i64()
                .ok_or_else(|| JobFailure::Permanent("no alert_id".into()))?,
        );
        self.pipeline(alert_id)
            .await
            .map_err(JobFailure::from_store)
    }

    /// Enriches one stored alert, runs the playbooks and proposes a decision
    /// for each proposed action. Idempotent: a re-run proposes nothing twice.
    /// Returns the bookkeeping (the enrichment record, the chat sync) for the
    /// caller to commit with the job's completion.
    pub async fn pipeline(self: &Arc<Self>, alert_id: AlertId) -> Result<JobDone, StoreError> {
        let Some(row) = self.store.get_alert(alert_id).await? else {
            return Ok(JobDone::default());
        };
        let alert = row.to_new_alert()?;
        let incident = IncidentId(row.incident_id);
        let enrichment = self
            .enricher
            .enrich_for(&self.store, &alert, Some(incident), self.now())
            .await;
        // Proposals first, bookkeeping after: a pre-authorised action must not
        // wait for the enrichment record or the chat notice to be committed.
        // A crash in between re-runs the pipeline (its job is not complete),
        // which proposes nothing twice.
        let proposals = if alert.status == crate::domain::alert::AlertStatus::Resolved {
            Vec::new()
        } else {
            self.playbooks.propose(&alert)
        };
        // The incident's severity is what people are shown, but automatic
        // rules must also match at the alert's own severity (see
        // `Matrix::rule_for`): correlation never raises an alert into one.
        let severity = if proposals.is_empty() {
            alert.severity
        } else {
            match self.store.get_incident(incident).await? {
                Some(i) => i.severity()?.max(alert.severity),
                None => alert.severity,
            }
        };
        let first_host = alert.observables.hosts.first();
        let no_ids = std::collections::BTreeMap::new();
        for p in proposals {
            // The alert's vendor ids name its first host (or the instance
            // they are the id of), no other target of the alert.
            let names_first = first_host.is_some_and(|h| h.eq_ignore_ascii_case(&p.target.value))
                || alert
                    .observables
                    .host_ids
                    .values()
                    .any(|v| v == &p.target.value);
            let ids = if names_first {
                &alert.observables.host_ids
            } else {
                &no_ids
            };
            let resolved = match self
                .resolve_target(&p.action, &p.target, severity, ids, &enrichment)
                .await
            {
                Ok(mut r) => {
                    if alert.severity < severity {
                        r.ctx.alert_severity = Some(alert.severity);
                    }
                    r
                }
                Err(EngineError::Store(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(alert = %alert_id, action = %p.action, error = %e, "proposal dropped");
                    continue;
                }
            };
            let proposal = Proposal {
                incident,
                alert: Some(alert_id),
                action: p.action,
                target: resolved,
                proposer: None,
                actor: ActorRef::system(),
                drill: row.drill,
            };
            match self.propose(proposal).await {
                Ok(_) => {}
                Err(EngineError::Store(e)) if err_conflict(&e) => {} // proposed by an earlier run
                Err(EngineError::Store(e)) => return Err(e),
                Err(e) => tracing::warn!(alert = %alert_id, error = %e, "could not propose"),
            }
        }
        if alert.status == crate::domain::alert::AlertStatus::Resolved {
            self.resolve_if_quiet(incident).await?;
        }
        Ok(JobDone {
            job: 0,
            enrichment: Some(EnrichmentResult {
                alert: alert_id,
                json: serde_json::to_string(&enrichment).unwrap_or_default(),
                partial: enrichment.partial,
                intel_hit: !enrichment.intel_hits.is_empty(),
            }),
            enqueue: self.chat_jobs(incident, None),
        })
    }

    /// An incident whose every alert the tools report resolved, and which has
    /// no decision still in flight, is resolved by cordon itself.
    async fn resolve_if_quiet(&self, incident: IncidentId) -> Result<(), StoreError> {
        let (total, unresolved) = self.store.incident_alert_statuses(incident).await?;
        if total == 0 || unresolved > 0 {
            return Ok(());
        }
        let open = self
            .store
            .decisions_of_incident(incident)
            .await?
            .iter()
            .any(|d| {
                !matches!(
                    d.state.as_str(),
                    "forbidden"
                        | "denied"
                        | "expired"
                        | "vetoed"
                        | "contained"
                        | "rolled_back"
                        | "failed"
                )
            });
        if open {
            return Ok(());
        }
        let now = self.now();
        self.store
            .stamp_incident(incident, IncidentStamp::Resolved, now)
            .await?;
        self.store
            .audit(&[NewAudit {
                at: now,
                actor: "cordon".into(),
                action: "incident.resolved".into(),
                subject: incident.to_string(),
                detail: serde_json::json!({ "why": "every alert resolved by its source" }),
            }])
            .await
    }

    /// A person closes an incident (the end of its MTTR). Anyone named in
    /// the authority matrix may; an unknown identity is refused. Audited.
    pub async fn resolve_incident(
        &self,
        actor: &Actor,
        incident: IncidentId,
        note: Option<String>,
    ) -> Result<(), EngineError> {
        let matrix = self.matrix();
        let Some(person) = matrix.person_for(actor) else {
            return Err(EngineError::Refused(DecisionError::UnidentifiedActor {
                verb: Verb::Release,
            }));
        };
        if self.store.get_incident(incident).await?.is_none() {
            return Err(EngineError::NotFound(incident.to_string()));
        }
        let now = self.now();
        self.store
            .stamp_incident(incident, IncidentStamp::Resolved, now)
            .await?;
        self.store
            .audit(&[NewAudit {
                at: now,
                actor: audit_actor(&person, actor),
                action: "incident.resolved".into(),
                subject: incident.to_string(),
                detail: serde_json::json!({ "note": note }),
            }])
            .await?;
        self.notify_chat(incident, None).await;
        Ok(())
    }

    /// Proposes one action: judges it under the current matrix and its
    /// guards, and writes the decision with its first events and effects.
    /// An automatic path is re-checked against the action's rate guard in
    /// the transaction that creates the decision; a full guard sends it to
    /// approval instead.
    pub async fn propose(self: &Arc<Self>, p: Proposal) -> Result<DecisionId, EngineError> {
        let matrix = self.matrix();
        let now = self.now();
        let ctx = &p.target.ctx;
        let rule = matrix.rule_for(ctx);
        let mut facts = p.target.facts.clone();
        if let (Some(r), Some(after)) = (rule, matrix.guards.cooldown)
            && Guards::is_automatic(r)
        {
            let since = now - chrono::Duration::from_std(after).unwrap_or_default();
            let target = &p.target.target;
            facts.stopped = match crate::domain::guards::parse_net(&target.value) {
                // An address: a stop of any network that overlaps it counts.
                Some(net) if target.kind == crate::domain::action::TargetKind::Ip => self
                    .store
                    .recent_stops(p.action.as_str(), since, p.drill)
                    .await?
                    .into_iter()
                    .find(|(t, _, _)| {
                        crate::domain::guards::parse_net(t)
                            .is_some_and(|s| crate::domain::guards::overlaps(&s, &net))
                    })
                    .map(|(_, at, what)| (at, what)),
                _ => {
                    self.store
                        .last_stop(p.action.as_str(), &target.value, since, p.drill)
                        .await?
                }
            };
        }
        loop {
            let guard = rule.and_then(|r| matrix.guards.check(r, ctx, &p.target.target, &facts));
            let effective = match (rule, &guard) {
                (Some(r), Some(hit)) => Some(matrix.guards.guarded(r, hit)),
                (r, _) => r.cloned(),
            };
            let rate = effective
                .as_ref()
                .filter(|r| Guards::is_automatic(r))
                .and_then(|_| matrix.guards.rate_for(&p.action))
                .map(|g| RateCheck {
                    action: p.action.to_string(),
                    since: now - chrono::Duration::from_std(g.per).unwrap_or_default(),
                    max: g.max,
                    drill: p.drill,
                });
            match self
                .create_decision(&p, &matrix, effective.as_ref(), guard, rate.as_ref(), now)
                .await
            {
                Err(EngineError::Store(StoreError::RateGuard { count, .. })) => {
                    facts.recent_automatic = u32::try_from(count).unwrap_or(u32::MAX);
                }
                other => return other,
            }
        }
    }

    /// A person proposes `action` on `target` by hand (a chat command, the
    /// console, the API). They must hold one of the rule's `proposers`
    /// roles, in the current matrix (DESIGN §3a item 5): a person who may
    /// not approve an isolation cannot start an automatic one either. The
    /// proposal is judged at `severity` (what the person states, recorded
    /// with the decision) in a manual incident titled after them and `via`.
    /// Returns the decision, its incident and its rule.
    pub async fn propose_by_hand(
        self: &Arc<Self>,
        actor: &Actor,
        aref: ActorRef,
        action: ActionKind,
        target: &ActionTarget,
        severity: crate::domain::Severity,
        via: &str,
    ) -> Result<(DecisionId, IncidentId, Option<String>), EngineError> {
        let matrix = self.matrix();
        let Some(person) = matrix.person_for(actor) else {
            return Err(EngineError::ProposalRefused(format!(
                "you are not a person in the authority matrix ({}), so you cannot propose actions",
                matrix.source
            )));
        };
        let resolved = self
            .resolve_target(
                &action,
                target,
                severity,
                &BTreeMap::new(),
                &crate::enrich::Enrichment::default(),
            )
            .await?;
        let Some(rule) = matrix.rule_for(&resolved.ctx) else {
            return Err(EngineError::ProposalRefused(format!(
                "no rule lets anyone {action} {} (tier {}, severity {severity}): the matrix fails closed",
                resolved.target.value,
                resolved.ctx.asset_tier.as_deref().unwrap_or("unknown"),
            )));
        };
        let roles = matrix.roles_of(actor, &resolved.ctx);
        if rule.mode == crate::domain::Mode::Forbidden
            || !rule.proposers.iter().any(|r| roles.contains(r))
        {
            let who = if rule.proposers.is_empty() || rule.mode == crate::domain::Mode::Forbidden {
                "nobody may".to_owned()
            } else {
                format!("only {} may", rule.proposers.join(", "))
            };
            return Err(EngineError::ProposalRefused(format!(
                "rule `{}` does not let you propose {action} on {}; {who}",
                rule.name, resolved.target.value
            )));
        }
        let rule_name = rule.name.clone();
        let now = self.now();
        let title = format!(
            "{action} {} requested by {person} in {via}",
            resolved.target.value
        );
        let incident = self
            .store
            .open_manual_incident(&title, severity, now)
            .await?;
        let id = self
            .propose(Proposal {
                incident,
                alert: None,
                action,
                target: resolved,
                proposer: Some(person),
                actor: aref,
                drill: false,
            })
            .await?;
        Ok((id, incident, Some(rule_name)))
    }

    /// A person holding one of the rate guard's `reset` roles closes the
    /// breaker of `action` before its window has passed: automation runs
    /// again, up to the guard's `max` from now. Audited. Returns what to tell
    /// them.
    pub async fn reset_rate_guard(
        &self,
        actor: &Actor,
        action: &ActionKind,
    ) -> Result<String, EngineError> {
        let matrix = self.matrix();
        let Some(person) = matrix.person_for(actor) else {
            return Err(EngineError::ProposalRefused(format!(
                "you are not a person in the authority matrix ({}), so you cannot reset a guard",
                matrix.source
            )));
        };
        let Some(guard) = matrix.guards.rate_for(action) else {
            return Err(EngineError::ProposalRefused(format!(
                "[guards] has no rate guard for {action}"
            )));
        };
        let roles = matrix.roles_of(
            actor,
            &ActionContext::new(action.clone(), crate::domain::Severity::Info),
        );
        if !guard.reset.iter().any(|r| roles.contains(r)) {
            let who = if guard.reset.is_empty() {
                "it names no reset roles".to_owned()
            } else {
                format!("only {} may", guard.reset.join(", "))
            };
            return Err(EngineError::ProposalRefused(format!(
                "you may not reset the {action} rate guard; {who}"
            )));
        }
        let now = self.now();
        self.store
            .reset_rate_guard(action.as_str(), now, &person.0)
            .await?;
        self.store
            .audit(&[NewAudit {
                at: now,
                actor: audit_actor(&person, actor),
                action: "guard.reset".into(),
                subject: format!("rate:{action}"),
                detail: serde_json::json!({ "max": guard.max, "per": crate::domain::time::format_duration(guard.per) }),
            }])
            .await?;
        Ok(format!(
            "{action} rate guard reset by {person}: up to {} automatic {action} per {} from now",
            guard.max,
            crate::domain::time::format_duration(guard.per)
        ))
    }

    async fn create_decision(
        self: &Arc<Self>,
        p: &Proposal,
        matrix: &Matrix,
        rule: Option<&crate::domain::Rule>,
        guard: Option<crate::domain::guards::GuardHit>,
        rate: Option<&RateCheck>,
        now: Timestamp,
    ) -> Result<DecisionId, EngineError> {
        let mut d = Decision::new(DecisionId(0));
        let outcome = decide(
            &d,
            rule,
            Command::Propose {
                proposer: p.proposer.clone(),
                actor: Some(p.actor.clone()),
                matrix_hash: matrix.hash().to_owned(),
                guard,
            },
            now,
        )
        .map_err(EngineError::Refused)?;
        let events = d.record(&outcome, now).map_err(EngineError::Refused)?;
        let target = &p.target.target;
        let new = NewDecision {
            incident_id: p.incident,
            alert_id: p.alert.map(|a| a.0),
            action: p.action.to_string(),
            target_kind: serde_json::to_value(target.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            target_value: target.value.clone(),
            rule: rule.map(|r| r.name.clone()),
            mode: rule.map_or("forbidden", |r| r.mode.as_str()).to_owned(),
            matrix_hash: matrix.hash().to_owned(),
            context: serde_json::to_value(&p.target.ctx).unwrap_or_default(),
            attributes: serde_json::to_value(&p.target.attributes).unwrap_or_default(),
            proposer: p.proposer.as_ref().map(|x| x.0.clone()),
            created_at: now,
            drill: p.drill,
            automatic: rule.is_some_and(Guards::is_automatic),
        };
        let records: Vec<EventRecord> = events.iter().map(to_record).collect();
        let (mut writes, payloads) = self.writes_for(
            DecisionId(0),
            &outcome.effects,
            &events,
            "$decision",
            &execution_order(target),
            now,
        );
        writes.queued = self.chat_jobs_for_new_decision(p.incident);
        let (id, job_ids) = self
            .store
            .create_decision(&new, d.state.as_str(), &records, &writes, rate)
            .await?;
        metrics::counter!("cordon_decisions_total", "mode" => new.mode.clone()).increment(1);
        let payloads = payloads
            .into_iter()
            .map(|(p, key)| (fix_decision(p, id), key))
            .collect();
        self.after_transition(&outcome.effects, job_ids, payloads)
            .await;
        Ok(id)
    }

    /// Turns a transition's effects into the rows to write with it.
    /// Execute jobs carry `order` as their ordering key (see
    /// [`execution_order`]): a decision's inverse never runs beside its
    /// forward action, nor two decisions' actions on one target at once.
    fn writes_for(
        &self,
        id: DecisionId,
        effects: &[Effect],
        events: &[DecisionEvent],
        subject: &str,
        order: &str,
        now: Timestamp,
    ) -> (TransitionWrites, Vec<(serde_json::Value, Option<String>)>) {
        let mut w = TransitionWrites {
            claim_by: Some((self.worker_id.clone(), self.cfg.job_lease)),
            ..Default::default()
        };
        let mut payloads = Vec::new();
        let id_val = if id.0 == 0 {
            serde_json::json!("$decision")
        } else {
            serde_json::json!(id.0)
        };
        let seq = events.last().map_or(0, |e| e.seq);
        for e in effects {
            match e {
                Effect::Execute | Effect::ExecuteInverse => {
                    let inverse = matches!(e, Effect::ExecuteInverse);
                    let payload = serde_json::json!({ "decision_id": id_val, "inverse": inverse });
                    let key = format!(
                        "execute:{}:{}:{}",
                        if id.0 == 0 {
                            "$decision".to_owned()
                        } else {
                            id.0.to_string()
                        },
                        if inverse { "inverse" } else { "forward" },
                        seq
                    );
                    w.jobs.push(
                        NewJob::new("execute", payload.clone(), now)
                            .dedup(key)
                            .ordered_by(order)
                            .max_attempts(self.cfg.max_attempts),
                    );
                    payloads.push((payload, Some(order.to_owned())));
                }
                Effect::ScheduleTimer { kind, at } => {
                    w.timers.push(NewTimer {
                        decision_id: id,
                        kind: timer_name(*kind).to_owned(),
                        due: *at,
                    });
                }
                Effect::CancelTimers => w.cancel_timers = true,
                Effect::Notify => {}
            }
        }
        let subject = if id.0 == 0 {
            subject.to_owned()
        } else {
            id.to_string()
        };
        for e in events {
            let actor = e.actor.as_ref().map_or_else(
                || "cordon".to_owned(),
                |a| match &a.person {
                    Some(p) => format!(
                        "{} ({}:{})",
                        p,
                        platform_name(a.platform),
                        a.platform_user_id
                    ),
                    None => format!("{}:{}", platform_name(a.platform), a.platform_user_id),
                },
            );
            w.audit.push(NewAudit {
                at: now,
                actor,
                action: format!("decision.{}", e.kind.name()),
                subject: subject.clone(),
                detail: serde_json::to_value(&e.kind).unwrap_or_default(),
            });
        }
        (w, payloads)
    }

    /// After a transition committed: run the jobs it created, wake the timer
    /// loop if it scheduled one, and the job loop for the chat syncs that
    /// were committed with it.
    async fn after_transition(
        self: &Arc<Self>,
        effects: &[Effect],
        job_ids: Vec<Option<i64>>,
        payloads: Vec<(serde_json::Value, Option<String>)>,
    ) {
        self.run_claimed(job_ids, "execute", payloads);
        if effects
            .iter()
            .any(|e| matches!(e, Effect::ScheduleTimer { .. }))
        {
            self.wake_timers.notify_one();
        }
        self.wake_jobs.notify_one();
    }

    /// Enqueues a `chat` job per surface: bring the incident's message (and
    /// the decision's, if any) up to date. Ordered per incident and platform.
    pub async fn notify_chat(&self, incident: IncidentId, decision: Option<DecisionId>) {
        for job in self.chat_jobs(incident, decision) {
            if let Err(e) = self.store.enqueue(&job, self.now()).await {
                tracing::warn!(error = %e, "could not enqueue a chat update");
            }
        }
        self.wake_jobs.notify_one();
    }

    /// The chat syncs of a decision being created: its id is filled in by
    /// the store when the row exists.
    fn chat_jobs_for_new_decision(&self, incident: IncidentId) -> Vec<NewJob> {
        let mut jobs = self.chat_jobs(incident, None);
        for j in &mut jobs {
            j.payload["decision_id"] = serde_json::json!("$decision");
        }
        jobs
    }

    /// One sync job per connected chat surface. A sync renders the incident
    /// as it is when it runs, so one still queued covers this change too
    /// (coalesced): a burst of alerts on one incident is one update, not one
    /// per alert.
    fn chat_jobs(&self, incident: IncidentId, decision: Option<DecisionId>) -> Vec<NewJob> {
        self.chat_surfaces()
            .iter()
            .map(|s| {
                let p = s.platform();
                NewJob::new(
                    "chat",
                    serde_json::json!({ "platform": p, "incident_id": incident.0, "decision_id": decision.map(|d| d.0) }),
                    self.now(),
                )
                .ordered_by(format!("{p}:{incident}"))
                .max_attempts(50)
                .coalesce()
            })
            .collect()
    }

    async fn run_chat(&self, job: &Job) -> Result<(), JobFailure> {
        let platform = job.payload["platform"].as_str().unwrap_or_default();
        let Some(s) = self
            .chat_surfaces()
            .into_iter()
            .find(|s| s.platform() == platform)
        else {
            return Err(JobFailure::Retry {
                message: format!("{platform} is not connected"),
                after: Some(Duration::from_secs(30)),
            });
        };
        let started = std::time::Instant::now();
        let r = s.run(self, &job.payload).await;
        metrics::histogram!("cordon_chat_seconds", "platform" => platform.to_owned())
            .record(started.elapsed().as_secs_f64());
        r.map_err(|e| {
            let class = match &e {
                ChatJobError::Retry { .. } => "retryable",
                ChatJobError::Permanent(_) => "permanent",
            };
            metrics::counter!("cordon_chat_errors_total", "platform" => platform.to_owned(), "class" => class)
                .increment(1);
            match e {
                ChatJobError::Retry { message, after } => JobFailure::Retry { message, after },
                ChatJobError::Permanent(m) => JobFailure::Permanent(m),
            }
        })
    }

    // -----------------------------------------------------------------
    // Transitions
    // -----------------------------------------------------------------

    /// Loads a decision with its rule and matrix.
    pub async fn load(&self, id: DecisionId) -> Result<Loaded, EngineError> {
        let Some((row, records)) = self.store.get_decision(id).await? else {
            return Err(EngineError::NotFound(id.to_string()));
        };
        let events = records
            .iter()
            .map(from_record)
            .collect::<Result<Vec<_>, _>>()?;
        let decision =
            Decision::replay(id, &events).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let matrix = self.matrix_for(&row.matrix_hash).await?;
        Ok(Loaded {
            row,
            events,
            decision,
            matrix,
        })
    }

    /// Applies a command to a decision: decide, write, run effects. Retries
    /// on a lost race (another writer appended first) by re-reading.
    pub async fn apply(
        self: &Arc<Self>,
        id: DecisionId,
        cmd: impl Fn(&Loaded) -> Command,
        extra: TransitionWrites,
    ) -> Result<(Loaded, bool), EngineError> {
        for _ in 0..8 {
            let mut l = self.load(id).await?;
            let rule = l.rule();
            let now = self.now();
            let outcome =
                decide(&l.decision, rule.as_ref(), cmd(&l), now).map_err(EngineError::Refused)?;
            if outcome.is_empty() {
                return Ok((l, false));
            }
            let expected = l.decision.next_seq;
            let events = l
                .decision
                .record(&outcome, now)
                .map_err(EngineError::Refused)?;
            let records: Vec<EventRecord> = events.iter().map(to_record).collect();
            let order = execution_order(&l.target());
            let (mut writes, payloads) =
                self.writes_for(id, &outcome.effects, &events, "", &order, now);
            writes.saved_state = extra.saved_state.clone();
            writes.audit.extend(extra.audit.iter().cloned());
            writes.queued = self.chat_jobs(IncidentId(l.row.incident_id), Some(id));
            writes.queued.extend(extra.queued.iter().cloned());
            match self
                .store
                .append_transition(
                    id,
                    expected,
                    l.decision.state.as_str(),
                    &records,
                    &writes,
                    now,
                )
                .await
            {
                Ok(job_ids) => {
                    let incident = IncidentId(l.row.incident_id);
                    let contained = events.iter().any(|e| {
                        matches!(e.kind, crate::domain::decision::EventKind::Contained { .. })
                    });
                    if contained {
                        self.store
                            .stamp_incident(incident, IncidentStamp::Contained, now)
                            .await?;
                    }
                    self.record_outcome(&l, contained, now).await;
                    self.after_transition(&outcome.effects, job_ids, payloads)
                        .await;
                    l.events.extend(events);
                    return Ok((l, true));
                }
                Err(e) if err_conflict(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contended)
    }

    /// Operations metrics of a transition: decisions by mode and outcome,
    /// and the time-to-contain histogram (from the alert's detection, like
    /// the reports).
    async fn record_outcome(&self, l: &Loaded, contained: bool, now: Timestamp) {
        let state = l.decision.state.as_str();
        if matches!(
            state,
            "contained" | "denied" | "vetoed" | "expired" | "failed" | "rolled_back"
        ) {
            metrics::counter!("cordon_decision_outcomes_total", "mode" => l.row.mode.clone(), "outcome" => state)
                .increment(1);
        }
        if contained
            && l.events
                .iter()
                .all(|e| !matches!(e.kind, crate::domain::decision::EventKind::Contained { .. }))
        {
            let start = match l.row.alert_id {
                Some(a) => self
                    .store
                    .get_alert(AlertId(a))
                    .await
                    .ok()
                    .flatten()
                    .map(|a| a.detected_at),
                None => None,
            }
            .unwrap_or(l.row.created_at);
            let secs = crate::domain::time::millis_between(start, now).max(0) as f64 / 1000.0;
            metrics::histogram!("cordon_time_to_contain_seconds", "mode" => l.row.mode.clone())
                .record(secs);
        }
    }

    /// The one entry point for people, whatever the platform: approve, deny,
    /// veto, override, extend, release, retry. Authorisation uses the matrix
    /// the decision was created under and the identity the platform vouched
    /// for. A refusal is audited and its message names the rule and the
    /// roles that may act. Repeats are idempotent.
    pub async fn act(
        self: &Arc<Self>,
        actor: &Actor,
        id: DecisionId,
        verb: Verb,
        reason: Option<String>,
    ) -> Result<ActResult, EngineError> {
        let l = self.load(id).await?;
        let ctx: ActionContext = serde_json::from_str(&l.row.context)
            .map_err(|e| StoreError::Corrupt(format!("{id} context: {e}")))?;
        // The person and their roles must hold in the matrix the decision
        // was made under *and* in the current one: removing someone from a
        // role (or from [people]) takes effect on old decisions at once.
        let current = self.matrix();
        let person = l
            .matrix
            .person_for(actor)
            .filter(|p| current.person_for(actor).as_ref() == Some(p));
        let roles: BTreeSet<String> = l
            .matrix
            .roles_of(actor, &ctx)
            .intersection(&current.roles_of(actor, &ctx))
            .cloned()
            .collect();
        let subjects = self
            .subjects_of(
                IncidentId(l.row.incident_id),
                &l.target(),
                &[&l.matrix, &current],
            )
            .await?;
        let role = roles.iter().next().cloned();
        let aref = ActorRef {
            person: person.clone(),
            platform: actor.platform,
            platform_user_id: actor.platform_user_id.clone(),
            role,
        };
        // Approvals by people who no longer hold the role they gave them
        // under stop counting (read afresh on each attempt).
        let cmd = |l: &Loaded| Command::Act {
            actor: aref.clone(),
            person: person.clone(),
            roles: roles.clone(),
            verb,
            reason: reason.clone(),
            subjects: subjects.clone(),
            revoked: l
                .decision
                .approvals
                .iter()
                .filter(|a| {
                    !current.still_holds(
                        &a.person,
                        a.role.as_deref().unwrap_or_default(),
                        a.platform,
                        &ctx,
                    )
                })
                .map(|a| a.person.clone())
                .collect(),
        };
        let now = self.now();
        match self.apply(id, cmd, TransitionWrites::default()).await {
            Ok((l, changed)) => {
                if changed {
                    self.store
                        .stamp_incident(
                            IncidentId(l.row.incident_id),
                            IncidentStamp::Acknowledged,
                            now,
                        )
                        .await?;
                }
                let quorum = l.rule().map_or(0, |r| r.quorum);
                let decision = Decision::replay(id, &l.events)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(ActResult {
                    decision: id,
                    changed,
                    state: decision.state,
                    approvals: decision.approvals.len(),
                    quorum,
                })
            }
            Err(EngineError::Refused(e)) => {
                metrics::counter!("cordon_refusals_total", "verb" => verb.as_str()).increment(1);
                self.store
                    .audit(&[NewAudit {
                        at: now,
                        actor: format!(
                            "{}{}:{}",
                            person.as_ref().map(|p| format!("{p} ")).unwrap_or_default(),
                            platform_name(actor.platform),
                            actor.platform_user_id
                        ),
                        action: format!("refused.{}", verb.as_str()),
                        subject: id.to_string(),
                        detail: serde_json::json!({ "reason": e.to_string(), "roles": roles }),
                    }])
                    .await?;
                Err(EngineError::Refused(e))
            }
            Err(e) => Err(e),
        }
    }

    // -----------------------------------------------------------------
    // Timers
    // -----------------------------------------------------------------

    /// Fires every due timer once. Returns how many fired.
    pub async fn run_due_timers(self: &Arc<Self>) -> Result<usize, StoreError> {
        let due = self
            .store
            .claim_timers(self.now(), self.cfg.job_lease, 100)
            .await?;
        let n = due.len();
        for t in due {
            if let Some(kind) = timer_kind(&t.kind) {
                match self
                    .apply(
                        t.decision_id,
                        |_| Command::TimerFired(kind),
                        TransitionWrites::default(),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(EngineError::Refused(e)) => {
                        tracing::debug!(decision = %t.decision_id, error = %e, "stale timer ignored")
                    }
                    Err(EngineError::Store(e)) => return Err(e),
                    Err(e) => {
                        tracing::warn!(decision = %t.decision_id, error = %e, "timer could not fire")
                    }
                }
            }
            self.store.timer_fired(t.id).await?;
        }
        Ok(n)
    }

    /// The timer loop: sleep until the next timer is due (woken early when a
    /// transition schedules an earlier one), fire, repeat.
    pub async fn timer_loop(self: Arc<Self>) {
        loop {
            if let Err(e) = self.run_due_timers().await {
                tracing::warn!(error = %e, "timers: store unavailable, retrying");
            }
            let now_ms = self.now().timestamp_millis();
            let wait = match self.store.next_timer_due().await {
                Ok(Some(t)) => {
                    Duration::from_millis(u64::try_from((t - now_ms).max(1)).unwrap_or(1))
                }
                _ => Duration::from_secs(5),
            }
            .min(Duration::from_secs(5));
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.wake_timers.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Wakes the loops (tests that move a manual clock call this).
    pub fn wake(&self) {
        self.wake_jobs.notify_one();
        self.wake_timers.notify_one();
    }

    // -----------------------------------------------------------------
    // Execution
    // -----------------------------------------------------------------

    fn exec_request(
        &self,
        l: &Loaded,
        inverse: bool,
    ) -> Result<(ActionKind, ExecRequest), JobFailure> {
        let forward: ActionKind = l.row.action.parse().map_err(JobFailure::Permanent)?;
        let action = if inverse {
            l.matrix
                .inverse_of(&forward)
                .ok_or_else(|| JobFailure::Permanent(format!("{forward} has no inverse")))?
        } else {
            forward
        };
        let kind = serde_json::from_value(serde_json::json!(l.row.target_kind))
            .map_err(|e| JobFailure::Permanent(format!("target kind: {e}")))?;
        let attributes: BTreeMap<String, String> =
            serde_json::from_str(&l.row.attributes).unwrap_or_default();
        let previous = l
            .row
            .saved_state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let reason = l
            .row
            .rule
            .clone()
            .map(|r| format!("rule {r}"))
            .unwrap_or_default();
        Ok((
            action.clone(),
            ExecRequest {
                decision_id: l.decision.id,
                action,
                target: ActionTarget {
                    kind,
                    value: l.row.target_value.clone(),
                },
                attributes,
                previous,
                reason,
            },
        ))
    }

    /// Records the vendor's confirmation of a decision's action.
    async fn confirm_execution(self: &Arc<Self>, id: DecisionId) -> Result<(), JobFailure> {
        self.apply(
            id,
            |_| Command::ExecutionConfirmed,
            TransitionWrites::default(),
        )
        .await
        .map_err(JobFailure::from_engine)?;
        Ok(())
    }

    /// The job that polls the vendor until it confirms the action accepted
    /// at event `accepted_seq` (one per acceptance: its dedup key).
    fn confirm_job(&self, id: DecisionId, accepted_seq: i64, vendor_ref: Option<String>) -> NewJob {
        NewJob::new(
            "confirm",
            serde_json::json!({ "decision_id": id.0, "vendor_ref": vendor_ref }),
            crate::domain::time::add(self.now(), self.cfg.confirm_interval),
        )
        .dedup(format!("confirm:{}:{accepted_seq}", id.0))
        .max_attempts(self.cfg.confirm_attempts)
    }

    async fn run_execute(self: &Arc<Self>, job: &Job) -> Result<(), JobFailure> {
        let id = DecisionId(
            job.payload["decision_id"]
                .as_i64()
                .ok_or_else(|| JobFailure::Permanent("no decision_id".into()))?,
        );
        let inverse = job.payload["inverse"].as_bool().unwrap_or(false);
        let l = self.load(id).await.map_err(JobFailure::from_engine)?;
        if let Some(accepted) = acceptance_since_last_request(&l.events)
            && !inverse
            && l.decision.state == DecisionState::Executing
        {
            // A worker died after the vendor accepted and before this job
            // ended: calling again would repeat the action, and the
            // confirmation that follows an acceptance may never have been
            // scheduled (the vendor's own confirmation is a second
            // transition). Poll the vendor's status instead; the dedup key
            // makes this a no-op when the confirmation job exists. A drill
            // has nothing to poll: it is confirmed as `finish_dry` does.
            if l.row.drill {
                return self.confirm_execution(id).await;
            }
            let vendor_ref = match &accepted.kind {
                crate::domain::decision::EventKind::ExecutionAccepted { vendor_ref } => {
                    vendor_ref.clone()
                }
                _ => None,
            };
            self.store
                .enqueue(&self.confirm_job(id, accepted.seq, vendor_ref), self.now())
                .await
                .map_err(JobFailure::from_store)?;
            self.wake_jobs.notify_one();
            return Ok(());
        }
        // Only run while the decision still wants it (a veto may have won).
        let wanted = if inverse {
            l.decision.state == DecisionState::RollingBack
        } else {
            l.decision.state == DecisionState::Executing
        };
        if !wanted {
            return Ok(());
        }
        let (action, req) = self.exec_request(&l, inverse)?;
        if l.row.drill {
            // A drill: people were asked for real, but nothing reaches a vendor.
            tracing::info!(decision = %id, %action, "drill: connector not called");
            return self.finish_dry(id, inverse).await;
        }
        let Some(ex) = self.executors.for_action(&action, &req.attributes) else {
            let msg = format!(
                "no connector is configured for {action} (see config/connectors.toml [routes])"
            );
            self.fail(id, &msg, true, inverse).await?;
            return Err(JobFailure::Permanent(msg));
        };
        let started = std::time::Instant::now();
        let r = ex.execute(&req).await;
        metrics::histogram!("cordon_connector_seconds", "connector" => ex.name().to_owned())
            .record(started.elapsed().as_secs_f64());
        match r {
            Ok(out) => {
                let mut extra = TransitionWrites {
                    saved_state: if inverse {
                        None
                    } else {
                        out.saved_state.clone()
                    },
                    ..Default::default()
                };
                if inverse {
                    self.apply(id, |_| Command::RollbackDone, extra)
                        .await
                        .map_err(JobFailure::from_engine)?;
                    return Ok(());
                }
                let vendor_ref = out.vendor_ref.clone();
                let confirmed = out.confirmed || out.dry_run || out.already;
                if !confirmed {
                    // Committed with the acceptance: a crash between the two
                    // left the decision executing with nothing to confirm it.
                    extra.queued.push(self.confirm_job(
                        id,
                        l.decision.next_seq,
                        out.vendor_ref.clone(),
                    ));
                }
                self.apply(
                    id,
                    |_| Command::ExecutionAccepted {
                        vendor_ref: vendor_ref.clone(),
                    },
                    extra,
                )
                .await
                .map_err(JobFailure::from_engine)?;
                if confirmed {
                    self.confirm_execution(id).await?;
                } else {
                    self.wake_jobs.notify_one();
                }
                Ok(())
            }
            Err(ExecError::Retryable {
                message,
                retry_after,
            }) => {
                metrics::counter!("cordon_connector_errors_total", "connector" => ex.name().to_owned(), "class" => "retryable").increment(1);
                if job.attempts >= job.max_attempts {
                    self.fail(id, &message, false, inverse).await?;
                    return Err(JobFailure::Permanent(message));
                }
                Err(JobFailure::Retry {
                    message,
                    after: retry_after,
                })
            }
            Err(ExecError::Permanent { message }) => {
                metrics::counter!("cordon_connector_errors_total", "connector" => ex.name().to_owned(), "class" => "permanent").increment(1);
                self.fail(id, &message, true, inverse).await?;
                Err(JobFailure::Permanent(message))
            }
        }
    }

    async fn fail(
        self: &Arc<Self>,
        id: DecisionId,
        error: &str,
        permanent: bool,
        inverse: bool,
    ) -> Result<(), JobFailure> {
        let error = error.to_owned();
        self.apply(
            id,
            |_| Command::ExecutionFailed {
                error: error.clone(),
                permanent,
                inverse,
            },
            TransitionWrites::default(),
        )
        .await
        .map_err(JobFailure::from_engine)?;
        Ok(())
    }

    async fn run_confirm(self: &Arc<Self>, job: &Job) -> Result<(), JobFailure> {
        let id = DecisionId(
            job.payload["decision_id"]
                .as_i64()
                .ok_or_else(|| JobFailure::Permanent("no decision_id".into()))?,
        );
        let l = self.load(id).await.map_err(JobFailure::from_engine)?;
        if l.decision.state != DecisionState::Executing {
            return Ok(());
        }
        let (action, req) = self.exec_request(&l, false)?;
        let Some(ex) = self.executors.for_action(&action, &req.attributes) else {
            return Err(JobFailure::Permanent(format!("no connector for {action}")));
        };
        let out = crate::executors::ExecOutcome {
            vendor_ref: job.payload["vendor_ref"].as_str().map(str::to_owned),
            ..Default::default()
        };
        match ex.confirm(&req, &out).await {
            Ok(Confirmation::Confirmed) => self.confirm_execution(id).await,
            Ok(Confirmation::Pending) => {
                self.still_unconfirmed(id, job, "the vendor has not confirmed containment", None)
                    .await
            }
            Ok(Confirmation::Failed(m)) => {
                self.fail(id, &m, true, false).await?;
                Err(JobFailure::Permanent(m))
            }
            Err(ExecError::Retryable {
                message,
                retry_after,
            }) => self.still_unconfirmed(id, job, &message, retry_after).await,
            Err(ExecError::Permanent { message }) => {
                self.fail(id, &message, true, false).await?;
                Err(JobFailure::Permanent(message))
            }
        }
    }

    /// Completes an action without calling a vendor (drills).
    async fn finish_dry(self: &Arc<Self>, id: DecisionId, inverse: bool) -> Result<(), JobFailure> {
        if inverse {
            self.apply(id, |_| Command::RollbackDone, TransitionWrites::default())
                .await
                .map_err(JobFailure::from_engine)?;
            return Ok(());
        }
        self.apply(
            id,
            |_| Command::ExecutionAccepted {
                vendor_ref: Some("drill".into()),
            },
            TransitionWrites::default(),
        )
        .await
        .map_err(JobFailure::from_engine)?;
        self.confirm_execution(id).await
    }

    /// Another confirmation poll later, or — when the polls are used up — a
    /// visible failure a responder can retry, never a decision stuck in
    /// `executing`.
    async fn still_unconfirmed(
        self: &Arc<Self>,
        id: DecisionId,
        job: &Job,
        why: &str,
        after: Option<Duration>,
    ) -> Result<(), JobFailure> {
        if job.attempts >= job.max_attempts {
            let msg = format!("not confirmed after {} polls: {why}", job.attempts);
            self.fail(id, &msg, false, false).await?;
            return Err(JobFailure::Permanent(msg));
        }
        Err(JobFailure::Retry {
            message: why.to_owned(),
            after: Some(after.unwrap_or(self.cfg.confirm_interval)),
        })
    }

    /// Starts the background loops.
    pub fn spawn_loops(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(Arc::clone(self).job_loop()),
            tokio::spawn(Arc::clone(self).timer_loop()),
            tokio::spawn(Arc::clone(self).retention_loop()),
        ]
    }

    /// Deletes jobs finished longer than `job_retention` ago, a chunk at a
    /// time (short transactions beside live traffic). Returns how many.
    pub async fn prune_jobs(&self) -> Result<u64, StoreError> {
        let retention = chrono::Duration::from_std(self.cfg.job_retention)
            .unwrap_or_else(|_| chrono::Duration::days(7));
        let before = self.now() - retention;
        let mut total = 0;
        loop {
            let n = self.store.prune_done_jobs(before, PRUNE_CHUNK).await?;
            total += n;
            if n < PRUNE_CHUNK.unsigned_abs() {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Without it the jobs table grows by about two rows per alert for ever.
    /// Every replica may run it: deleting a finished job twice is harmless.
    async fn retention_loop(self: Arc<Self>) {
        loop {
            match self.prune_jobs().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "deleted finished jobs past their retention"),
                Err(e) => tracing::warn!(error = %e, "could not delete finished jobs; will retry"),
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(RETENTION_EVERY) => {}
            }
        }
    }
}

/// The vendor's acceptance of the action after the latest request to run it
/// (first request, retry or override), if any: running the job again would only
/// repeat a call the vendor already took. A retry after a failed
/// confirmation is a new request, so it runs.
fn acceptance_since_last_request(events: &[DecisionEvent]) -> Option<&DecisionEvent> {
    use crate::domain::decision::EventKind as K;
    for e in events.iter().rev() {
        match e.kind {
            K::ExecutionAccepted { .. } => return Some(e),
            K::ExecutionRequested | K::Retried | K::Overridden { .. } | K::TimeoutExecute => {
                return None;
            }
            _ => {}
        }
    }
    None
}

fn fix_decision(mut p: serde_json::Value, id: DecisionId) -> serde_json::Value {
    if p.get("decision_id").and_then(|v| v.as_str()) == Some("$decision") {
        p["decision_id"] = serde_json::json!(id.0);
    }
    p
}

/// A decision as loaded: its row, events, folded state and matrix.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub row: crate::store::DecisionRow,
    pub events: Vec<DecisionEvent>,
    pub decision: Decision,
    pub matrix: Arc<Matrix>,
}

impl Loaded {
    /// The rule the decision lives under: its rule by name in its matrix,
    /// as its guard (if one stopped it) turned it into an approval.
    pub fn rule(&self) -> Option<crate::domain::Rule> {
        let name = self.row.rule.as_deref()?;
        self.matrix
            .effective_rule(name, self.decision.guard.as_ref())
    }

    /// The decision's (canonical) target.
    pub fn target(&self) -> ActionTarget {
        ActionTarget {
            kind: serde_json::from_value(serde_json::json!(self.row.target_kind))
                .unwrap_or(crate::domain::action::TargetKind::Host),
            value: self.row.target_value.clone(),
        }
    }
}

/// A proposal ready to be judged: a resolved target and who proposed it.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub incident: IncidentId,
    pub alert: Option<AlertId>,
    pub action: ActionKind,
    pub target: ResolvedTarget,
    /// The person who proposed it by hand (never counted as an approver
    /// under separation of duties).
    pub proposer: Option<PersonId>,
    pub actor: ActorRef,
    pub drill: bool,
}

/// The ordering key of every action on one target: forward and inverse of
/// a decision, and the actions of different decisions on the same target,
/// run one after the other, never side by side (DESIGN §3a, item 7).
fn execution_order(target: &ActionTarget) -> String {
    format!("exec:{target}")
}

/// How a job attempt ended, for the queue.
#[derive(Debug)]
pub enum JobFailure {
    Retry {
        message: String,
        after: Option<Duration>,
    },
    Permanent(String),
}

impl JobFailure {
    fn from_store(e: StoreError) -> JobFailure {
        JobFailure::Retry {
            message: e.to_string(),
            after: None,
        }
    }
    fn from_engine(e: EngineError) -> JobFailure {
        match e {
            EngineError::Store(s) => JobFailure::from_store(s),
            EngineError::Contended => JobFailure::Retry {
                message: "contended".into(),
                after: None,
            },
            other => JobFailure::Permanent(other.to_string()),
        }
    }
}
