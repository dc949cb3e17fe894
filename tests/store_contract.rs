//! The store contract: the same stories on SQLite and PostgreSQL.

mod common;

use chrono::Duration as ChronoDuration;
use common::{both, t0};
use cordon::domain::{DecisionId, IncidentId, NewAlert, Observables, Severity, alert::AlertStatus};
use cordon::store::{
    EventRecord, IncomingAlert, IngestWindows, NewAudit, NewDecision, NewJob, NewTimer, Store,
    StoreError, TransitionWrites,
};
use std::time::Duration;

fn alert(title: &str, host: &str, source_id: Option<&str>) -> NewAlert {
    let mut o = Observables::default();
    Observables::push(&mut o.hosts, host);
    NewAlert {
        format: "wazuh".into(),
        source_id: source_id.map(str::to_owned),
        fingerprint: format!("fp-{title}-{host}"),
        title: title.into(),
        description: None,
        severity: Severity::High,
        source_severity: Some("10".into()),
        detected_at: Some(t0() - ChronoDuration::seconds(5)),
        status: AlertStatus::Firing,
        observables: o,
        tags: vec!["T1110".into()],
        rule: Some("5712".into()),
        raw: serde_json::json!({"k": 1}),
    }
}

fn incoming(a: NewAlert, at: cordon::domain::Timestamp) -> IncomingAlert {
    IncomingAlert {
        alert: a,
        sender: "wazuh-prod".into(),
        received_at: at,
        drill: false,
    }
}

async fn a_decision(store: &Store) -> DecisionId {
    let (ids, _) = {
        let r = store
            .ingest_batch(
                &[incoming(alert("x", "ws-1", None), t0())],
                IngestWindows::default(),
                None,
            )
            .await
            .expect("ingest");
        (r, ())
    };
    let d = NewDecision {
        incident_id: ids[0].0.incident_id,
        alert_id: Some(ids[0].0.alert_id.0),
        action: "isolate_host".into(),
        target_kind: "host".into(),
        target_value: "ws-1".into(),
        rule: Some("crown-jewels".into()),
        mode: "approval".into(),
        matrix_hash: "abc".into(),
        context: serde_json::json!({}),
        attributes: serde_json::json!({}),
        proposer: None,
        created_at: t0(),
        drill: false,
        automatic: false,
    };
    let ev = event(1, "proposed");
    let (id, _) = store
        .create_decision(
            &d,
            "pending_approval",
            &[ev],
            &TransitionWrites::default(),
            None,
        )
        .await
        .expect("create decision");
    id
}

fn event(seq: i64, kind: &str) -> EventRecord {
    EventRecord {
        seq,
        at: t0(),
        kind: kind.into(),
        actor_person: Some("alice".into()),
        actor_platform: Some("slack".into()),
        actor_user: Some("U1".into()),
        actor_role: Some("soc-lead".into()),
        data: serde_json::json!({"type": kind}),
    }
}

#[tokio::test]
async fn a_repeated_alert_inside_the_dedup_window_counts_instead_of_duplicating() {
    for db in both().await {
        let store = db.store().await;
        let w = IngestWindows::default();
        let first = store
            .ingest_batch(
                &[incoming(alert("brute force", "ws-1", Some("A1")), t0())],
                w,
                None,
            )
            .await
            .expect("ingest");
        let again = store
            .ingest_batch(
                &[incoming(
                    alert("brute force", "ws-1", Some("A1")),
                    t0() + ChronoDuration::minutes(5),
                )],
                w,
                None,
            )
            .await
            .expect("ingest");
        assert!(!first[0].0.duplicate, "{}", db.label);
        assert!(again[0].0.duplicate, "{}", db.label);
        assert_eq!(again[0].0.alert_id, first[0].0.alert_id, "{}", db.label);
        let stored = store
            .get_alert(first[0].0.alert_id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(stored.occurrences, 2, "{}", db.label);
        // Outside the window it is a new alert.
        let later = store
            .ingest_batch(
                &[incoming(
                    alert("brute force", "ws-1", Some("A1")),
                    t0() + ChronoDuration::hours(3),
                )],
                w,
                None,
            )
            .await
            .expect("ingest");
        assert!(!later[0].0.duplicate, "{}", db.label);
        store.close().await;
    }
}

#[tokio::test]
async fn alerts_sharing_a_host_join_one_incident_whose_severity_is_the_maximum() {
    for db in both().await {
        let store = db.store().await;
        let w = IngestWindows::default();
        let mut low = alert("scan", "WS-7", None);
        low.severity = Severity::Low;
        let mut crit = alert("ransomware", "ws-7", None);
        crit.severity = Severity::Critical;
        let other = alert("phish", "ws-9", None);
        let r = store
            .ingest_batch(
                &[
                    incoming(low, t0()),
                    incoming(crit, t0() + ChronoDuration::minutes(1)),
                    incoming(other, t0() + ChronoDuration::minutes(2)),
                ],
                w,
                None,
            )
            .await
            .expect("ingest");
        assert_eq!(r[0].0.incident_id, r[1].0.incident_id, "{}", db.label);
        assert_ne!(r[0].0.incident_id, r[2].0.incident_id, "{}", db.label);
        assert!(r[0].0.new_incident && !r[1].0.new_incident, "{}", db.label);
        let inc = store
            .get_incident(r[0].0.incident_id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            inc.severity().expect("sev"),
            Severity::Critical,
            "{}",
            db.label
        );
        assert_eq!(
            store
                .alerts_of_incident(IncidentId(inc.id))
                .await
                .expect("alerts")
                .len(),
            2
        );
        // Every new alert got its durable pipeline job in the same commit.
        let jobs = store.list_jobs(Some("queued"), 10).await.expect("jobs");
        assert_eq!(jobs.len(), 3, "{}", db.label);
        store.close().await;
    }
}

/// One batch mixing every case the set-based ingest decides in memory:
/// repeats of stored alerts and of alerts earlier in the same batch, a late
/// "resolved", correlation into a stored incident and into one the batch
/// opened, drills kept apart, and more rows than one statement carries.
#[tokio::test]
async fn one_batch_decides_each_alert_as_if_it_came_alone() {
    for db in both().await {
        let store = db.store().await;
        let w = IngestWindows::default();
        let first = store
            .ingest_batch(
                &[
                    incoming(alert("brute force", "ws-1", Some("A1")), t0()),
                    incoming(alert("old", "ws-2", Some("OLD")), t0()),
                ],
                w,
                None,
            )
            .await
            .expect("ingest");
        let (a1, inc1) = (first[0].0.alert_id, first[0].0.incident_id);
        let old = first[1].0.alert_id;

        let at = |m: i64| t0() + ChronoDuration::minutes(m);
        let mut crit = alert("ransomware", "WS-1", Some("R1"));
        crit.severity = Severity::Critical;
        crit.detected_at = Some(t0() - ChronoDuration::minutes(30));
        let mut resolved_old = alert("old", "ws-2", Some("OLD"));
        resolved_old.status = AlertStatus::Resolved;
        let mut drill = incoming(alert("drill", "ws-1", Some("D1")), at(10));
        drill.drill = true;
        let mut batch = vec![
            incoming(alert("brute force", "ws-1", Some("A1")), at(10)), // repeat of stored A1
            incoming(crit, at(11)),                                     // joins inc1, raises it
            incoming(alert("new", "ws-3", Some("N1")), at(12)),         // opens an incident
            incoming(alert("new", "ws-3", Some("N1")), at(13)),         // repeat inside the batch
            incoming(alert("lateral", "WS-3", Some("N2")), at(14)),     // joins the new incident
            drill,                                                      // a drill stays apart
            incoming(resolved_old, at(24 * 60)),                        // resolved, long after
        ];
        for i in 0..1200 {
            batch.push(incoming(
                alert("spray", &format!("bulk-{i}"), Some(&format!("S{i}"))),
                at(20),
            ));
        }
        let r = store.ingest_batch(&batch, w, None).await.expect("ingest");
        let l = &db.label;
        assert_eq!(r.len(), batch.len(), "{l}");
        assert!(r[0].0.duplicate && r[0].0.alert_id == a1, "{l}");
        assert_eq!(r[1].0.incident_id, inc1, "{l}");
        assert!(!r[1].0.new_incident && !r[1].0.duplicate, "{l}");
        assert!(r[2].0.new_incident, "{l}");
        assert!(
            r[3].0.duplicate && r[3].0.alert_id == r[2].0.alert_id,
            "{l}"
        );
        assert_eq!(r[4].0.incident_id, r[2].0.incident_id, "{l}");
        assert!(r[5].0.new_incident && r[5].0.incident_id != inc1, "{l}");
        assert!(r[6].0.duplicate && r[6].0.alert_id == old, "{l}");
        let bulk: std::collections::HashSet<_> = r[7..].iter().map(|x| x.0.incident_id).collect();
        assert_eq!(
            bulk.len(),
            1200,
            "{l}: every bulk host opens its own incident"
        );
        for x in &r[7..] {
            let inc = store
                .get_incident(x.0.incident_id)
                .await
                .expect("get")
                .expect("exists");
            assert_eq!(inc.title, "spray", "{l}");
            let alerts = store
                .alerts_of_incident(x.0.incident_id)
                .await
                .expect("alerts");
            assert_eq!(alerts.len(), 1, "{l}");
            assert_eq!(alerts[0].id, x.0.alert_id.0, "{l}");
        }

        let a = store.get_alert(a1).await.expect("get").expect("exists");
        assert_eq!((a.occurrences, a.last_seen_at), (2, at(10)), "{l}");
        let n1 = store
            .get_alert(r[2].0.alert_id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!((n1.occurrences, n1.last_seen_at), (2, at(13)), "{l}");
        let o = store.get_alert(old).await.expect("get").expect("exists");
        assert_eq!(o.status, "resolved", "{l}");
        let i1 = store
            .get_incident(inc1)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(i1.severity().expect("sev"), Severity::Critical, "{l}");
        assert_eq!(i1.detected_at, t0() - ChronoDuration::minutes(30), "{l}");
        assert_eq!(i1.last_alert_at, at(11), "{l}");
        let i3 = store
            .get_incident(r[2].0.incident_id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            (i3.title.as_str(), i3.last_alert_at),
            ("new", at(14)),
            "{l}"
        );
        assert!(
            store
                .get_incident(r[5].0.incident_id)
                .await
                .expect("get")
                .expect("exists")
                .drill,
            "{l}"
        );

        // Jobs: the 2 first alerts, the 4 new ones, the 1200 bulk ones and
        // one re-run for the resolution; a repeat that is still firing adds none.
        let jobs = store.list_jobs(Some("queued"), 5000).await.expect("jobs");
        assert_eq!(jobs.len(), 2 + 4 + 1200 + 1, "{l}");
        assert!(
            jobs.iter()
                .any(|j| j.dedup_key.as_deref() == Some(&format!("pipeline:{}:resolved", old.0))),
            "{l}"
        );
        // The next batch correlates against what this one stored.
        let next = store
            .ingest_batch(&[incoming(alert("again", "bulk-7", None), at(30))], w, None)
            .await
            .expect("ingest");
        assert_eq!(next[0].0.incident_id, r[7 + 7].0.incident_id, "{l}");
        store.close().await;
    }
}

/// Job ends written together: the enrichment lands, a chat sync is enqueued
/// once however many alerts ask for it while one is still queued, and a job
/// whose lease went to another worker is not marked done.
#[tokio::test]
async fn finished_jobs_are_written_together_and_chat_syncs_coalesce() {
    for db in both().await {
        let store = db.store().await;
        let l = &db.label;
        let lease = Some(("w1", Duration::from_secs(60)));
        let r = store
            .ingest_batch(
                &[
                    incoming(alert("a", "ws-1", Some("A")), t0()),
                    incoming(alert("b", "ws-1", Some("B")), t0()),
                    incoming(alert("c", "ws-2", Some("C")), t0()),
                ],
                IngestWindows::default(),
                lease,
            )
            .await
            .expect("ingest");
        let inc = r[0].0.incident_id;
        let sync = |incident: IncidentId| {
            NewJob::new(
                "chat",
                serde_json::json!({"platform": "slack", "incident_id": incident.0}),
                t0(),
            )
            .ordered_by(format!("slack:{incident}"))
            .coalesce()
        };
        let done = |i: usize, incident: IncidentId| cordon::store::JobDone {
            job: r[i].1.expect("claimed job"),
            enrichment: Some(cordon::store::EnrichmentResult {
                alert: r[i].0.alert_id,
                json: format!("{{\"n\":{i}}}"),
                partial: i == 1,
                intel_hit: false,
            }),
            enqueue: vec![sync(incident)],
        };
        let finished = store
            .finish_jobs("w1", t0(), &[done(0, inc), done(1, inc)])
            .await
            .expect("finish");
        assert_eq!(finished.len(), 2, "{l}");
        // A later end for the same incident while its sync is still queued
        // adds nothing; the third alert's incident gets its own. A worker
        // that does not hold the lease finishes nothing.
        let other = store
            .finish_jobs("w2", t0(), &[done(2, r[2].0.incident_id)])
            .await
            .expect("finish");
        assert!(other.is_empty(), "{l}");
        store
            .finish_jobs("w1", t0(), &[done(2, r[2].0.incident_id), done(0, inc)])
            .await
            .expect("finish");
        let a1 = store
            .get_alert(r[1].0.alert_id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(a1.enrichment.as_deref(), Some("{\"n\":1}"), "{l}");
        assert!(a1.enrichment_partial, "{l}");
        let queued = store.list_jobs(Some("queued"), 100).await.expect("jobs");
        assert_eq!(queued.len(), 2, "{l}: one sync per incident: {queued:?}");
        assert!(queued.iter().all(|j| j.queue == "chat"), "{l}");
        let done_jobs = store.list_jobs(Some("done"), 100).await.expect("jobs");
        assert_eq!(done_jobs.len(), 3, "{l}");
        // Once the sync is running, a new change needs a new sync.
        let claimed = store
            .claim_jobs("chat", "w1", t0(), Duration::from_secs(60), 10)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 2, "{l}");
        store.enqueue(&sync(inc), t0()).await.expect("enqueue");
        let queued = store.list_jobs(Some("queued"), 100).await.expect("jobs");
        assert_eq!(queued.len(), 1, "{l}");
        store.close().await;
    }
}

#[tokio::test]
async fn sixteen_racing_writers_on_one_decision_leave_exactly_one_winner() {
    for db in both().await {
        let store = db.store().await;
        let id = a_decision(&store).await;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                let kind = if i % 2 == 0 { "approved" } else { "vetoed" };
                s.append_transition(
                    id,
                    2,
                    kind,
                    &[event(2, kind)],
                    &TransitionWrites {
                        audit: vec![NewAudit {
                            at: t0(),
                            actor: format!("writer-{i}"),
                            action: kind.into(),
                            subject: id.to_string(),
                            detail: serde_json::json!({}),
                        }],
                        ..Default::default()
                    },
                    t0(),
                )
                .await
            }));
        }
        let mut wins = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(_) => wins += 1,
                Err(StoreError::Conflict(_)) => conflicts += 1,
                Err(e) => panic!("{}: unexpected error {e}", db.label),
            }
        }
        assert_eq!((wins, conflicts), (1, 15), "{}", db.label);
        let (row, events) = store.get_decision(id).await.expect("get").expect("exists");
        assert_eq!(events.len(), 2, "{}", db.label);
        assert_eq!(row.next_seq, 3, "{}", db.label);
        assert_eq!(
            row.state, events[1].kind,
            "{}: state matches the winning event",
            db.label
        );
        // Only the winner's audit entry exists and the chain is intact.
        let chain = store.audit_chain().await.expect("chain");
        assert_eq!(chain.len(), 1, "{}", db.label);
        cordon::domain::audit::verify_chain(&chain).expect("intact");
        store.close().await;
    }
}

#[tokio::test]
async fn the_audit_chain_names_the_row_that_was_altered() {
    for db in both().await {
        let store = db.store().await;
        let entries: Vec<NewAudit> = (0..5)
            .map(|i| NewAudit {
                at: t0() + ChronoDuration::seconds(i),
                actor: "alice".into(),
                action: "approve".into(),
                subject: format!("dec-{i}"),
                detail: serde_json::json!({"reason": "looks bad", "n": i}),
            })
            .collect();
        store.audit(&entries[..2]).await.expect("audit");
        store.audit(&entries[2..]).await.expect("audit");
        let chain = store.audit_chain().await.expect("chain");
        assert_eq!(chain.len(), 5);
        cordon::domain::audit::verify_chain(&chain).expect("intact chain");
        let mut tampered = chain.clone();
        tampered[2].entry.actor = "mallory".into();
        let err = cordon::domain::audit::verify_chain(&tampered).expect_err("altered");
        assert_eq!(err.seq, 3, "{}", db.label);
        let mut removed = chain.clone();
        removed.remove(1);
        assert_eq!(
            cordon::domain::audit::verify_chain(&removed)
                .expect_err("removed")
                .seq,
            2
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_job_is_claimed_once_and_comes_back_when_its_lease_runs_out() {
    for db in both().await {
        let store = db.store().await;
        let job =
            NewJob::new("execute", serde_json::json!({"decision": 1}), t0()).dedup("execute:dec-1");
        assert!(store.enqueue(&job, t0()).await.expect("enqueue").is_some());
        assert!(
            store.enqueue(&job, t0()).await.expect("enqueue").is_none(),
            "dedup key"
        );
        let lease = Duration::from_secs(30);
        let a = store
            .claim_jobs("execute", "w1", t0(), lease, 10)
            .await
            .expect("claim");
        let b = store
            .claim_jobs("execute", "w2", t0(), lease, 10)
            .await
            .expect("claim");
        assert_eq!((a.len(), b.len()), (1, 0), "{}", db.label);
        // w1 dies; after the lease w2 takes it over, and w1 can no longer complete it.
        let later = t0() + ChronoDuration::seconds(31);
        let b = store
            .claim_jobs("execute", "w2", later, lease, 10)
            .await
            .expect("claim");
        assert_eq!(b.len(), 1, "{}", db.label);
        assert_eq!(b[0].attempts, 2, "{}", db.label);
        assert!(
            !store
                .complete_job(a[0].id, "w1", later)
                .await
                .expect("complete")
        );
        assert!(
            store
                .complete_job(b[0].id, "w2", later)
                .await
                .expect("complete")
        );
        store.close().await;
    }
}

#[tokio::test]
async fn retryable_failures_wait_and_exhausted_jobs_are_marked_failed() {
    for db in both().await {
        let store = db.store().await;
        let job = NewJob::new("execute", serde_json::json!({}), t0()).max_attempts(2);
        store.enqueue(&job, t0()).await.expect("enqueue");
        let lease = Duration::from_secs(30);
        let j = store
            .claim_jobs("execute", "w", t0(), lease, 1)
            .await
            .expect("claim")
            .remove(0);
        let retry_at = t0() + ChronoDuration::seconds(10);
        assert!(
            !store
                .retry_or_fail_job(j.id, "w", "503", retry_at, false, t0())
                .await
                .expect("retry")
        );
        assert!(
            store
                .claim_jobs("execute", "w", t0(), lease, 1)
                .await
                .expect("claim")
                .is_empty()
        );
        let j = store
            .claim_jobs("execute", "w", retry_at, lease, 1)
            .await
            .expect("claim")
            .remove(0);
        assert!(
            store
                .retry_or_fail_job(j.id, "w", "503 again", retry_at, false, retry_at)
                .await
                .expect("fail")
        );
        let rows = store.list_jobs(Some("failed"), 10).await.expect("list");
        assert_eq!(
            rows[0].last_error.as_deref(),
            Some("503 again"),
            "{}",
            db.label
        );
        store.close().await;
    }
}

#[tokio::test]
async fn one_claim_takes_due_jobs_of_several_queues_oldest_first_up_to_the_limit() {
    for db in both().await {
        let l = db.label;
        let store = db.store().await;
        for q in ["confirm", "chat", "execute", "execute"] {
            let job = NewJob::new(q, serde_json::json!({ "q": q }), t0());
            store.enqueue(&job, t0()).await.expect("enqueue");
        }
        let lease = Duration::from_secs(30);
        let got = store
            .claim_jobs_of(&["execute", "confirm"], "w", t0(), lease, 2)
            .await
            .expect("claim");
        let queues: Vec<&str> = got.iter().map(|j| j.queue.as_str()).collect();
        assert_eq!(queues, ["confirm", "execute"], "{l}");
        let got = store
            .claim_jobs_of(&["execute", "confirm"], "w", t0(), lease, 10)
            .await
            .expect("claim");
        assert_eq!(got.len(), 1, "{l}");
        // The chat job was never touched.
        let queued = store.list_jobs(Some("queued"), 10).await.expect("jobs");
        assert_eq!(queued.len(), 1, "{l}");
        assert_eq!(queued[0].queue, "chat", "{l}");
        store.close().await;
    }
}

#[tokio::test]
async fn pruning_deletes_only_jobs_done_before_the_cutoff() {
    for db in both().await {
        let l = db.label;
        let store = db.store().await;
        let at = |s: i64| t0() + ChronoDuration::seconds(s);
        for i in 0..5 {
            let job = NewJob::new("execute", serde_json::json!({ "i": i }), t0());
            store.enqueue(&job, t0()).await.expect("enqueue");
        }
        let lease = Duration::from_secs(60);
        let jobs = store
            .claim_jobs("execute", "w", t0(), lease, 4)
            .await
            .expect("claim");
        assert_eq!(jobs.len(), 4, "{l}");
        // A weekly digest, done long ago: its dedup key keeps a restart from
        // posting it again, so it stays.
        let digest = NewJob::new("chat", serde_json::json!({ "kind": "digest" }), t0())
            .dedup("digest:slack:1");
        store.enqueue(&digest, t0()).await.expect("enqueue");
        let d = store
            .claim_jobs("chat", "w", t0(), lease, 1)
            .await
            .expect("claim");
        assert!(store.complete_job(d[0].id, "w", at(0)).await.expect("done"));
        // Done long ago, done just now, failed long ago, still running; one queued.
        assert!(
            store
                .complete_job(jobs[0].id, "w", at(0))
                .await
                .expect("done")
        );
        assert!(
            store
                .complete_job(jobs[1].id, "w", at(100))
                .await
                .expect("done")
        );
        store
            .retry_or_fail_job(jobs[2].id, "w", "gave up", at(0), true, at(0))
            .await
            .expect("fail");
        assert_eq!(
            store.prune_done_jobs(at(50), 100).await.expect("prune"),
            1,
            "{l}"
        );
        assert_eq!(
            store.prune_done_jobs(at(50), 100).await.expect("prune"),
            0,
            "{l}"
        );
        let left: Vec<(i64, String)> = store
            .list_jobs(None, 10)
            .await
            .expect("jobs")
            .into_iter()
            .map(|j| (j.id, j.status))
            .collect();
        assert_eq!(left.len(), 5, "{l}: {left:?}");
        assert!(!left.iter().any(|(id, _)| *id == jobs[0].id), "{l}");
        assert!(
            left.iter().any(|(id, _)| *id == d[0].id),
            "{l}: the digest stays"
        );
        for status in ["done", "failed", "running", "queued"] {
            assert!(
                left.iter().any(|(_, s)| s == status),
                "{l}: {status} kept: {left:?}"
            );
        }
        store.close().await;
    }
}

#[tokio::test]
async fn the_next_job_due_is_the_earliest_future_start_of_a_queued_job() {
    for db in both().await {
        let l = db.label;
        let store = db.store().await;
        assert_eq!(store.next_job_due(t0()).await.expect("due"), None, "{l}");
        let at = |s: i64| t0() + ChronoDuration::seconds(s);
        // Due already (the worker claims it or waits for a slot), and due later.
        for s in [-5, 10] {
            let job = NewJob::new("execute", serde_json::json!({ "s": s }), at(s));
            store.enqueue(&job, t0()).await.expect("enqueue");
        }
        let due = store.next_job_due(t0()).await.expect("due");
        assert_eq!(due, Some(at(10).timestamp_millis()), "{l}");
        // Once it is due, it is no longer counted.
        let due = store.next_job_due(at(10)).await.expect("due");
        assert_eq!(due, None, "{l}");
        store.close().await;
    }
}

#[tokio::test]
async fn jobs_sharing_an_ordering_key_run_one_after_the_other() {
    for db in both().await {
        let store = db.store().await;
        for i in 0..3 {
            let j =
                NewJob::new("chat", serde_json::json!({"n": i}), t0()).ordered_by("slack:C1:inc-1");
            store.enqueue(&j, t0()).await.expect("enqueue");
        }
        let lease = Duration::from_secs(30);
        let first = store
            .claim_jobs("chat", "w", t0(), lease, 10)
            .await
            .expect("claim");
        assert_eq!(first.len(), 1, "{}: only the head of the line", db.label);
        assert_eq!(first[0].payload["n"], 0);
        assert!(
            store
                .claim_jobs("chat", "w", t0(), lease, 10)
                .await
                .expect("claim")
                .is_empty()
        );
        store
            .complete_job(first[0].id, "w", t0())
            .await
            .expect("complete");
        let second = store
            .claim_jobs("chat", "w", t0(), lease, 10)
            .await
            .expect("claim");
        assert_eq!(second[0].payload["n"], 1, "{}", db.label);
        store.close().await;
    }
}

#[tokio::test]
async fn due_timers_are_claimed_once_and_cancelled_timers_never_fire() {
    for db in both().await {
        let store = db.store().await;
        let id = a_decision(&store).await;
        let writes = TransitionWrites {
            timers: vec![NewTimer {
                decision_id: id,
                kind: "veto_window_end".into(),
                due: t0() + ChronoDuration::minutes(3),
            }],
            ..Default::default()
        };
        store
            .append_transition(id, 2, "pending_veto", &[event(2, "x")], &writes, t0())
            .await
            .expect("append");
        assert_eq!(
            store.next_timer_due().await.expect("next"),
            Some((t0() + ChronoDuration::minutes(3)).timestamp_millis())
        );
        assert!(
            store
                .claim_timers(t0(), Duration::from_secs(30), 10)
                .await
                .expect("claim")
                .is_empty()
        );
        let due = t0() + ChronoDuration::minutes(3);
        let t = store
            .claim_timers(due, Duration::from_secs(30), 10)
            .await
            .expect("claim");
        assert_eq!(t.len(), 1, "{}", db.label);
        assert!(
            store
                .claim_timers(due, Duration::from_secs(30), 10)
                .await
                .expect("claim")
                .is_empty()
        );
        store.timer_fired(t[0].id).await.expect("fired");
        // A cancelled timer never comes back.
        let writes = TransitionWrites {
            cancel_timers: true,
            timers: vec![],
            ..Default::default()
        };
        let w2 = TransitionWrites {
            timers: vec![NewTimer {
                decision_id: id,
                kind: "approval_timeout".into(),
                due,
            }],
            ..Default::default()
        };
        store
            .append_transition(id, 3, "pending_approval", &[event(3, "y")], &w2, t0())
            .await
            .expect("append");
        store
            .append_transition(id, 4, "vetoed", &[event(4, "z")], &writes, t0())
            .await
            .expect("append");
        assert!(
            store
                .claim_timers(due, Duration::from_secs(30), 10)
                .await
                .expect("claim")
                .is_empty()
        );
        assert_eq!(
            store.next_timer_due().await.expect("next"),
            None,
            "{}",
            db.label
        );
        store.close().await;
    }
}

#[tokio::test]
async fn assets_are_found_by_short_name_fqdn_or_ip() {
    for db in both().await {
        let store = db.store().await;
        let a = cordon::store::Asset {
            hostname: "DB-PROD-01".into(),
            ips: vec!["10.0.4.17".into()],
            tier: Some("crown-jewel".into()),
            owners: vec!["dana".into()],
            ..Default::default()
        };
        store.upsert_assets(&[a], t0()).await.expect("import");
        for key in ["db-prod-01", "db-prod-01.corp.example", "10.0.4.17"] {
            let found = store
                .find_asset(key)
                .await
                .expect("find")
                .unwrap_or_else(|| panic!("{key} in {}", db.label));
            assert_eq!(found.tier.as_deref(), Some("crown-jewel"));
        }
        assert!(
            store.find_asset("10.0.4.1").await.expect("find").is_none(),
            "no prefix match"
        );
        // A re-import moves the host to new addresses: the old one no
        // longer finds it. Addresses match whatever their case.
        let moved = cordon::store::Asset {
            hostname: "db-prod-01".into(),
            ips: vec!["10.0.9.9".into(), "FD00::17".into()],
            tier: Some("crown-jewel".into()),
            ..Default::default()
        };
        store.upsert_assets(&[moved], t0()).await.expect("import");
        assert!(
            store.find_asset("10.0.4.17").await.expect("find").is_none(),
            "{}",
            db.label
        );
        for key in ["10.0.9.9", "fd00::17"] {
            let found = store.find_asset(key).await.expect("find");
            assert_eq!(
                found.map(|a| a.hostname),
                Some("db-prod-01".to_owned()),
                "{key} in {}",
                db.label
            );
        }
        // Two hosts behind one address: ambiguous, so unknown (DESIGN §3a:
        // the matrix must not judge either host on the other's word).
        let twin = cordon::store::Asset {
            hostname: "app-01".into(),
            ips: vec!["10.0.9.9".into()],
            ..Default::default()
        };
        store.upsert_assets(&[twin], t0()).await.expect("import");
        assert!(store.find_asset("10.0.9.9").await.expect("find").is_none());
        assert_eq!(
            store
                .resolve_asset(&["10.0.9.9".to_owned()])
                .await
                .expect("resolve"),
            cordon::store::Resolved::Ambiguous(vec!["app-01".into(), "db-prod-01".into()]),
            "{}",
            db.label
        );
        // A host name and an agent id of two different hosts: ambiguous too.
        assert!(matches!(
            store
                .resolve_asset(&["app-01".to_owned(), "fd00::17".to_owned()])
                .await
                .expect("resolve"),
            cordon::store::Resolved::Ambiguous(_)
        ));
        store.close().await;
    }
}

#[tokio::test]
async fn only_the_holder_renews_a_lease_and_a_renewed_lease_is_not_claimed() {
    for db in both().await {
        let l = db.label;
        let store = db.store().await;
        let at = |s: i64| t0() + ChronoDuration::seconds(s);
        let job = NewJob::new("execute", serde_json::json!({}), t0());
        store.enqueue(&job, t0()).await.expect("enqueue");
        let lease = Duration::from_secs(60);
        let jobs = store
            .claim_jobs("execute", "a", t0(), lease, 1)
            .await
            .expect("claim");
        let id = jobs[0].id;
        assert!(
            !store
                .renew_job_lease(id, "b", 1, at(120))
                .await
                .expect("renew"),
            "{l}: b does not hold it"
        );
        assert!(
            store
                .renew_job_lease(id, "a", 1, at(120))
                .await
                .expect("renew"),
            "{l}"
        );
        // Past the first lease, inside the renewed one: nobody takes it.
        let again = store
            .claim_jobs("execute", "b", at(90), lease, 1)
            .await
            .expect("claim");
        assert!(again.is_empty(), "{l}: {again:?}");
        // Past the renewed lease, b takes it over and a has lost it.
        let taken = store
            .claim_jobs("execute", "b", at(121), lease, 1)
            .await
            .expect("claim");
        assert_eq!(taken.len(), 1, "{l}");
        assert!(
            !store
                .renew_job_lease(id, "a", 1, at(200))
                .await
                .expect("renew"),
            "{l}: a lost it"
        );
        // a's own job loop claiming its lapsed job is a takeover too: the
        // first run's attempt no longer holds the lease.
        let d = NewJob::new("execute", serde_json::json!({ "n": 2 }), t0());
        store.enqueue(&d, t0()).await.expect("enqueue");
        let mine = store
            .claim_jobs("execute", "a", t0(), lease, 1)
            .await
            .expect("claim");
        let again = store
            .claim_jobs("execute", "a", at(61), lease, 1)
            .await
            .expect("claim");
        assert_eq!(again.len(), 1, "{l}");
        assert!(
            !store
                .renew_job_lease(mine[0].id, "a", mine[0].attempts, at(100))
                .await
                .expect("renew"),
            "{l}: the first attempt lost it"
        );
        assert!(
            store
                .renew_job_lease(again[0].id, "a", again[0].attempts, at(100))
                .await
                .expect("renew"),
            "{l}"
        );
        assert!(store.complete_job(id, "b", at(130)).await.expect("done"));
        assert!(
            !store
                .renew_job_lease(id, "b", 2, at(200))
                .await
                .expect("renew"),
            "{l}: a finished job has no lease"
        );
        store.close().await;
    }
}
