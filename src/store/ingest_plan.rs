//! The ingest batch, decided in memory.
//!
//! [`Store::ingest_batch`](super::Store::ingest_batch) reads what the batch
//! needs in two set-based lookups (the newest stored alert of every dedup key,
//! the open incidents of every correlation key), lets [`plan`] decide every
//! alert in order, and writes the result with a handful of multi-row
//! statements. Deciding in order keeps the semantics of one alert at a time:
//! a later alert of the batch deduplicates against, or correlates into, what
//! an earlier one of the same batch created.

use super::alerts::{IncomingAlert, IngestWindows, correlation_keys, dedup_key};
use crate::domain::{Severity, Timestamp, alert::AlertStatus};
use std::collections::{BTreeMap, HashMap};

/// The newest stored alert of a dedup key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredAlert {
    pub id: i64,
    pub incident_id: i64,
    pub last_seen_at: Timestamp,
}

/// A stored open incident sharing a correlation key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredKey {
    pub incident_id: i64,
    pub last_seen_ms: i64,
    pub drill: bool,
}

/// An alert or incident that is already stored, or that this batch creates
/// (an index into [`Plan::new_alerts`] / [`Plan::new_incidents`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Ref {
    Stored(i64),
    New(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct NewIncident {
    /// The alert that opened it (its title names the incident).
    pub first: usize,
    pub severity: Severity,
    pub opened_at: Timestamp,
    pub detected_at: Timestamp,
    pub last_alert_at: Timestamp,
    pub drill: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct NewAlertRow {
    /// The input alert stored as this row.
    pub input: usize,
    pub incident: Ref,
    pub dedup_key: String,
    pub detected_at: Timestamp,
    /// 1 + the repeats of it later in the same batch.
    pub occurrences: i64,
    pub last_seen_at: Timestamp,
    pub status: AlertStatus,
}

/// Repeats of a stored alert: its count goes up by `count`.
#[derive(Debug, Clone)]
pub(crate) struct Repeat {
    pub count: i64,
    pub last_seen_at: Timestamp,
    pub status: AlertStatus,
}

/// Max severity, latest alert and earliest detection an incident gains.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IncidentTouch {
    pub severity: Severity,
    pub last_alert_at: Timestamp,
    pub detected_at: Timestamp,
}

/// Which pipeline job an input alert starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PipelineJob {
    /// A new alert: enrich, run the playbooks.
    New,
    /// A repeat that says "resolved": the pipeline runs again for the alert.
    Resolved,
}

/// What happens to one input alert.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub alert: Ref,
    pub incident: Ref,
    pub duplicate: bool,
    pub new_incident: bool,
    pub job: Option<PipelineJob>,
    pub received_at: Timestamp,
}

/// Everything the batch writes.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub outcomes: Vec<Outcome>,
    pub new_incidents: Vec<NewIncident>,
    pub new_alerts: Vec<NewAlertRow>,
    /// Stored incidents that gained alerts.
    pub touched: BTreeMap<i64, IncidentTouch>,
    /// Stored alerts that were repeated.
    pub repeats: BTreeMap<i64, Repeat>,
    /// Correlation keys to record, with the time they were last seen.
    pub keys: BTreeMap<(String, Ref), i64>,
}

/// The keys of a batch, computed once: each alert's dedup key and
/// correlation keys, and the distinct ones for the two lookups.
pub(crate) struct BatchKeys {
    pub per_alert: Vec<(String, Vec<String>)>,
    pub dedup: Vec<String>,
    pub corr: Vec<String>,
}

pub(crate) fn batch_keys(batch: &[IncomingAlert]) -> BatchKeys {
    let per_alert: Vec<(String, Vec<String>)> = batch
        .iter()
        .map(|i| {
            (
                dedup_key(&i.alert, &i.sender, i.drill),
                correlation_keys(&i.alert),
            )
        })
        .collect();
    let mut dedup: Vec<String> = per_alert.iter().map(|(d, _)| d.clone()).collect();
    dedup.sort_unstable();
    dedup.dedup();
    let mut corr: Vec<String> = per_alert.iter().flat_map(|(_, c)| c.clone()).collect();
    corr.sort_unstable();
    corr.dedup();
    BatchKeys {
        per_alert,
        dedup,
        corr,
    }
}

fn window_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Decides every alert of the batch in order.
///
/// For each alert: a repeat of the newest alert with its dedup key inside the
/// dedup window (or of any, when it says "resolved") bumps that alert;
/// otherwise the alert joins the most recently seen open incident that shares
/// its first matching correlation key inside the correlation window (drills
/// only with drills), or opens a new one.
pub(crate) fn plan(
    batch: &[IncomingAlert],
    batch_keys: &BatchKeys,
    windows: IngestWindows,
    stored_alerts: HashMap<String, StoredAlert>,
    stored_keys: HashMap<String, Vec<StoredKey>>,
) -> Plan {
    let mut p = Plan::default();
    // Newest alert per dedup key, stored or created by this batch, with its
    // incident and when it was last seen.
    let mut latest: HashMap<String, (Ref, Ref, Timestamp)> = stored_alerts
        .into_iter()
        .map(|(k, a)| {
            let refs = (Ref::Stored(a.id), Ref::Stored(a.incident_id));
            (k, (refs.0, refs.1, a.last_seen_at))
        })
        .collect();
    // Candidates per correlation key: (incident, last seen ms, drill).
    let mut keys: HashMap<String, Vec<(Ref, i64, bool)>> = stored_keys
        .into_iter()
        .map(|(k, v)| {
            let c = v
                .into_iter()
                .map(|s| (Ref::Stored(s.incident_id), s.last_seen_ms, s.drill))
                .collect();
            (k, c)
        })
        .collect();
    let dedup_window = chrono::Duration::from_std(windows.dedup).unwrap_or_default();
    let corr_window = window_ms(windows.correlation);

    for (i, inc) in batch.iter().enumerate() {
        let a = &inc.alert;
        let now = inc.received_at;
        let (key, ckeys) = &batch_keys.per_alert[i];
        let key = key.clone();
        let since = now - dedup_window;
        let repeat_of = latest
            .get(&key)
            .filter(|(_, _, seen)| *seen >= since || a.status == AlertStatus::Resolved)
            .map(|(alert, incident, _)| (*alert, *incident));
        if let Some((alert, incident)) = repeat_of {
            match alert {
                Ref::Stored(id) => {
                    let r = p.repeats.entry(id).or_insert(Repeat {
                        count: 0,
                        last_seen_at: now,
                        status: a.status,
                    });
                    r.count += 1;
                    r.last_seen_at = now;
                    r.status = a.status;
                }
                Ref::New(j) => {
                    let row = &mut p.new_alerts[j];
                    row.occurrences += 1;
                    row.last_seen_at = now;
                    row.status = a.status;
                }
            }
            latest.insert(key, (alert, incident, now));
            p.outcomes.push(Outcome {
                alert,
                incident,
                duplicate: true,
                new_incident: false,
                job: (a.status == AlertStatus::Resolved).then_some(PipelineJob::Resolved),
                received_at: now,
            });
            continue;
        }

        let detected = a.detected_at.unwrap_or(now);
        let corr_since = super::ms(now) - corr_window;
        let found = ckeys.iter().find_map(|k| {
            keys.get(k)?
                .iter()
                .filter(|(_, seen, drill)| *seen >= corr_since && *drill == inc.drill)
                .max_by_key(|(_, seen, _)| *seen)
                .map(|(r, _, _)| *r)
        });
        let (incident, new_incident) = match found {
            Some(Ref::Stored(id)) => {
                let t = p.touched.entry(id).or_insert(IncidentTouch {
                    severity: a.severity,
                    last_alert_at: now,
                    detected_at: detected,
                });
                t.severity = t.severity.max(a.severity);
                t.last_alert_at = now;
                t.detected_at = t.detected_at.min(detected);
                (Ref::Stored(id), false)
            }
            Some(Ref::New(n)) => {
                let t = &mut p.new_incidents[n];
                t.severity = t.severity.max(a.severity);
                t.last_alert_at = now;
                t.detected_at = t.detected_at.min(detected);
                (Ref::New(n), false)
            }
            None => {
                p.new_incidents.push(NewIncident {
                    first: i,
                    severity: a.severity,
                    opened_at: now,
                    detected_at: detected,
                    last_alert_at: now,
                    drill: inc.drill,
                });
                (Ref::New(p.new_incidents.len() - 1), true)
            }
        };
        let now_ms = super::ms(now);
        for k in ckeys.iter().cloned() {
            let cands = keys.entry(k.clone()).or_default();
            match cands.iter_mut().find(|(r, _, _)| *r == incident) {
                Some(c) => c.1 = now_ms,
                None => cands.push((incident, now_ms, inc.drill)),
            }
            p.keys.insert((k, incident), now_ms);
        }
        p.new_alerts.push(NewAlertRow {
            input: i,
            incident,
            dedup_key: key.clone(),
            detected_at: detected,
            occurrences: 1,
            last_seen_at: now,
            status: a.status,
        });
        let alert = Ref::New(p.new_alerts.len() - 1);
        latest.insert(key, (alert, incident, now));
        p.outcomes.push(Outcome {
            alert,
            incident,
            duplicate: false,
            new_incident,
            job: Some(PipelineJob::New),
            received_at: now,
        });
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewAlert, alert::Observables};
    use chrono::TimeZone;

    fn t(sec: i64) -> Timestamp {
        chrono::Utc
            .timestamp_opt(1_763_884_800 + sec, 0)
            .single()
            .unwrap()
    }

    fn alert(id: &str, host: &str, sev: Severity, status: AlertStatus, at: i64) -> IncomingAlert {
        IncomingAlert {
            alert: NewAlert {
                format: "generic".into(),
                source_id: Some(id.into()),
                fingerprint: format!("fp-{id}"),
                title: format!("alert {id}"),
                description: None,
                severity: sev,
                source_severity: None,
                detected_at: Some(t(at - 5)),
                status,
                observables: Observables {
                    hosts: vec![host.into()],
                    ..Default::default()
                },
                tags: vec![],
                rule: None,
                raw: serde_json::json!({}),
            },
            sender: "test".into(),
            received_at: t(at),
            drill: false,
        }
    }

    #[test]
    fn a_later_alert_of_the_batch_repeats_or_joins_an_earlier_one() {
        let batch = vec![
            alert("a", "web-1", Severity::Low, AlertStatus::Firing, 0),
            alert("b", "WEB-1", Severity::High, AlertStatus::Firing, 1),
            alert("a", "web-1", Severity::Low, AlertStatus::Resolved, 2),
            alert("c", "db-1", Severity::Medium, AlertStatus::Firing, 3),
        ];
        let p = plan(
            &batch,
            &batch_keys(&batch),
            IngestWindows::default(),
            HashMap::new(),
            HashMap::new(),
        );
        assert_eq!(p.new_incidents.len(), 2);
        assert_eq!(p.new_incidents[0].severity, Severity::High);
        assert_eq!(p.new_incidents[0].detected_at, t(-5));
        assert_eq!(p.new_alerts.len(), 3);
        assert_eq!(p.new_alerts[0].occurrences, 2);
        assert_eq!(p.new_alerts[0].status, AlertStatus::Resolved);
        let o = &p.outcomes;
        assert!(o[0].new_incident && !o[1].new_incident && o[3].new_incident);
        assert_eq!(o[1].incident, Ref::New(0));
        assert!(o[2].duplicate);
        assert_eq!(o[2].alert, Ref::New(0));
        assert_eq!(o[2].job, Some(PipelineJob::Resolved));
        assert_eq!(o[3].incident, Ref::New(1));
    }

    #[test]
    fn stored_alerts_outside_the_window_are_new_unless_resolved() {
        let stored = HashMap::from([(
            dedup_key(
                &alert("a", "h", Severity::Low, AlertStatus::Firing, 0).alert,
                "test",
                false,
            ),
            StoredAlert {
                id: 7,
                incident_id: 3,
                last_seen_at: t(-7200),
            },
        )]);
        let firing = vec![alert("a", "h", Severity::Low, AlertStatus::Firing, 0)];
        let p = plan(
            &firing,
            &batch_keys(&firing),
            IngestWindows::default(),
            stored.clone(),
            HashMap::new(),
        );
        assert!(!p.outcomes[0].duplicate);
        let resolved = vec![alert("a", "h", Severity::Low, AlertStatus::Resolved, 0)];
        let p = plan(
            &resolved,
            &batch_keys(&resolved),
            IngestWindows::default(),
            stored,
            HashMap::new(),
        );
        assert!(p.outcomes[0].duplicate);
        assert_eq!(p.outcomes[0].incident, Ref::Stored(3));
        assert_eq!(p.repeats[&7].count, 1);
    }

    #[test]
    fn a_drill_and_a_real_alert_with_the_same_id_are_not_repeats_of_each_other() {
        let mut drill = alert("a", "h", Severity::High, AlertStatus::Firing, 1);
        drill.drill = true;
        let batch = vec![
            alert("a", "h", Severity::High, AlertStatus::Firing, 0),
            drill.clone(),
            alert("a", "h", Severity::High, AlertStatus::Firing, 2),
            drill,
        ];
        let p = plan(
            &batch,
            &batch_keys(&batch),
            IngestWindows::default(),
            HashMap::new(),
            HashMap::new(),
        );
        let dup: Vec<bool> = p.outcomes.iter().map(|o| o.duplicate).collect();
        assert_eq!(dup, [false, false, true, true]);
        assert_eq!(p.outcomes[2].alert, Ref::New(0));
        assert_eq!(p.outcomes[3].alert, Ref::New(1));
        assert_eq!(
            p.new_incidents.len(),
            2,
            "drills correlate only with drills"
        );
    }

    #[test]
    fn correlation_takes_the_most_recent_incident_and_keeps_drills_apart() {
        let keys = HashMap::from([(
            "host:h".to_owned(),
            vec![
                StoredKey {
                    incident_id: 1,
                    last_seen_ms: super::super::ms(t(-60)),
                    drill: false,
                },
                StoredKey {
                    incident_id: 2,
                    last_seen_ms: super::super::ms(t(-30)),
                    drill: false,
                },
                StoredKey {
                    incident_id: 9,
                    last_seen_ms: super::super::ms(t(-1)),
                    drill: true,
                },
                StoredKey {
                    incident_id: 4,
                    last_seen_ms: super::super::ms(t(-3600)),
                    drill: false,
                },
            ],
        )]);
        let batch = vec![alert("x", "h", Severity::Critical, AlertStatus::Firing, 0)];
        let p = plan(
            &batch,
            &batch_keys(&batch),
            IngestWindows::default(),
            HashMap::new(),
            keys,
        );
        assert_eq!(p.outcomes[0].incident, Ref::Stored(2));
        assert_eq!(p.touched[&2].severity, Severity::Critical);
    }
}
