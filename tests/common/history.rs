//! Builds a decision history with fixed timestamps directly through the
//! store, for report tests and the page benchmark: every figure is known in
//! advance, to the millisecond.
#![allow(dead_code)]

use cordon::domain::decision::{ActorRef, DecisionEvent, EventKind};
use cordon::domain::matrix::Mode;
use cordon::domain::{ActionContext, ActionKind, PersonId, Platform, Severity, Timestamp};
use cordon::store::{
    ChatMessage, IncidentStamp, IncomingAlert, IngestWindows, NewDecision, Store, TransitionWrites,
};

/// One event `at` seconds after detection, by `who` = (person, role) or cordon.
pub struct Ev {
    pub at: i64,
    pub kind: EventKind,
    pub who: Option<(&'static str, &'static str)>,
}

pub fn ev(at: i64, kind: EventKind) -> Ev {
    Ev {
        at,
        kind,
        who: None,
    }
}

pub fn by(at: i64, kind: EventKind, person: &'static str, role: &'static str) -> Ev {
    Ev {
        at,
        kind,
        who: Some((person, role)),
    }
}

/// One alert → one incident → one decision. Times are seconds after
/// `detected`; the alert is received 10 s after detection and the decision
/// proposed at 15 s.
pub struct Spec {
    pub detected: Timestamp,
    pub severity: Severity,
    pub mode: Mode,
    pub rule: &'static str,
    pub state: &'static str,
    pub events: Vec<Ev>,
    pub drill: bool,
    /// First chat post, seconds after detection.
    pub post_at: Option<i64>,
    /// Incident stamps (acknowledged, contained, resolved), seconds after detection.
    pub stamps: [Option<i64>; 3],
    /// The matrix version the decision claims; pages that load decisions
    /// need one the engine knows (`engine.matrix().hash`).
    pub matrix_hash: String,
}

pub fn secs(t: Timestamp, s: i64) -> Timestamp {
    t + chrono::Duration::seconds(s)
}

/// Inserts `spec` as alert n; returns (incident id, decision id).
pub async fn insert(store: &Store, n: usize, spec: &Spec) -> (i64, i64) {
    let host = format!("hist-host-{n}");
    let alert = cordon::domain::NewAlert {
        format: "generic".into(),
        source_id: Some(format!("hist-{n}")),
        fingerprint: format!("fp-{n}"),
        title: format!("History alert {n}"),
        description: None,
        severity: spec.severity,
        source_severity: None,
        detected_at: Some(spec.detected),
        status: Default::default(),
        observables: cordon::domain::Observables {
            hosts: vec![host.clone()],
            ..Default::default()
        },
        tags: vec![],
        rule: None,
        raw: serde_json::json!({}),
    };
    let got = store
        .ingest_batch(
            &[IncomingAlert {
                alert,
                sender: "history".into(),
                received_at: secs(spec.detected, 10),
                drill: spec.drill,
            }],
            IngestWindows {
                dedup: std::time::Duration::from_secs(1),
                correlation: std::time::Duration::from_secs(1),
            },
            None,
        )
        .await
        .expect("ingest");
    let (a, _) = &got[0];
    let mut ctx = ActionContext::new(ActionKind::IsolateHost, spec.severity);
    ctx.asset_tier = Some("server".into());
    ctx.environment = Some("production".into());
    let mut events = vec![DecisionEvent {
        seq: 1,
        at: secs(spec.detected, 15),
        actor: Some(ActorRef::system()),
        kind: EventKind::Proposed {
            rule: Some(spec.rule.into()),
            mode: spec.mode,
            matrix_hash: spec.matrix_hash.clone(),
            proposer: None,
            guard: None,
        },
    }];
    for e in &spec.events {
        events.push(DecisionEvent {
            seq: events.len() as i64 + 1,
            at: secs(spec.detected, e.at),
            actor: Some(match e.who {
                None => ActorRef::system(),
                Some((p, role)) => ActorRef {
                    person: Some(PersonId(p.into())),
                    platform: Platform::Web,
                    platform_user_id: p.into(),
                    role: Some(role.into()),
                },
            }),
            kind: e.kind.clone(),
        });
    }
    let records: Vec<_> = events.iter().map(cordon::engine::to_record).collect();
    let (id, _) = store
        .create_decision(
            &NewDecision {
                incident_id: a.incident_id,
                alert_id: Some(a.alert_id.0),
                action: "isolate_host".into(),
                target_kind: "host".into(),
                target_value: host,
                rule: Some(spec.rule.into()),
                mode: spec.mode.as_str().into(),
                matrix_hash: spec.matrix_hash.clone(),
                context: serde_json::to_value(&ctx).expect("ctx"),
                attributes: serde_json::json!({}),
                proposer: None,
                created_at: secs(spec.detected, 15),
                drill: spec.drill,
                automatic: matches!(spec.mode, Mode::Auto | Mode::VetoWindow),
            },
            spec.state,
            &records,
            &TransitionWrites::default(),
            None,
        )
        .await
        .expect("decision");
    if let Some(p) = spec.post_at {
        store
            .save_chat_message(
                &ChatMessage {
                    platform: "slack".into(),
                    incident_id: a.incident_id.0,
                    decision_id: None,
                    channel: "C1".into(),
                    message_ref: format!("1.{n}"),
                    thread_ref: None,
                },
                secs(spec.detected, p),
            )
            .await
            .expect("chat");
    }
    for (i, what) in [
        IncidentStamp::Acknowledged,
        IncidentStamp::Contained,
        IncidentStamp::Resolved,
    ]
    .into_iter()
    .enumerate()
    {
        if let Some(s) = spec.stamps[i] {
            store
                .stamp_incident(a.incident_id, what, secs(spec.detected, s))
                .await
                .expect("stamp");
        }
    }
    (a.incident_id.0, id.0)
}

fn contained(req: i64, acc: i64, cont: i64) -> Vec<Ev> {
    vec![
        ev(req, EventKind::ExecutionRequested),
        ev(acc, EventKind::ExecutionAccepted { vendor_ref: None }),
        ev(cont, EventKind::Contained { expires_at: None }),
    ]
}

/// The known history of the report test (see tests/reports.rs for the
/// expected figures): nine real decisions over two weeks and one drill.
pub fn known() -> Vec<Spec> {
    let wk1 = |h: i64| secs(t("2026-10-05T09:00:00Z"), h * 3600);
    let wk2 = |h: i64| secs(t("2026-10-12T09:00:00Z"), h * 3600);
    let spec = |detected, severity, mode, rule, state, events| Spec {
        detected,
        severity,
        mode,
        rule,
        state,
        events,
        drill: false,
        post_at: None,
        stamps: [None; 3],
        matrix_hash: "history".to_owned(),
    };
    let ar = || ev(15, EventKind::ApprovalRequested { until: None });
    let vw = |d| {
        ev(
            15,
            EventKind::VetoWindowOpened {
                until: secs(d, 195),
            },
        )
    };
    let mut out = Vec::new();
    // D1 auto, critical: contained at 45 s; posted at 13 s.
    let mut d1 = spec(
        wk1(0),
        Severity::Critical,
        Mode::Auto,
        "auto-rule",
        "contained",
        contained(15, 17, 45),
    );
    d1.post_at = Some(13);
    d1.stamps = [None, Some(45), Some(1800)];
    out.push(d1);
    // D2 auto, high: contained at 75 s.
    out.push(spec(
        wk1(1),
        Severity::High,
        Mode::Auto,
        "auto-rule",
        "contained",
        contained(15, 16, 75),
    ));
    // D3 veto window, high: window of 180 s, contained at 225 s.
    let mut e = vec![vw(wk1(2))];
    e.extend(contained(195, 197, 225));
    out.push(spec(
        wk1(2),
        Severity::High,
        Mode::VetoWindow,
        "veto-rule",
        "contained",
        e,
    ));
    // D4 approval, critical: alice (soc-lead) at 75 s, carol (ciso) at 135 s; contained at 1215 s (SLA breach).
    let mut e = vec![
        ar(),
        by(
            75,
            EventKind::Approved { reason: None },
            "alice",
            "soc-lead",
        ),
        by(135, EventKind::Approved { reason: None }, "carol", "ciso"),
        ev(135, EventKind::QuorumReached),
    ];
    e.extend(contained(135, 140, 1215));
    let mut d4 = spec(
        wk1(3),
        Severity::Critical,
        Mode::Approval,
        "approval-rule",
        "contained",
        e,
    );
    d4.post_at = Some(14);
    d4.stamps = [Some(75), Some(1215), Some(3600)];
    out.push(d4);
    // D5 approval, high: denied by bob at 315 s.
    let mut d5 = spec(
        wk1(4),
        Severity::High,
        Mode::Approval,
        "approval-rule",
        "denied",
        vec![
            ar(),
            by(
                315,
                EventKind::Denied {
                    reason: Some("false positive".into()),
                },
                "bob",
                "soc-lead",
            ),
        ],
    );
    d5.stamps = [Some(315), None, Some(7200)];
    out.push(d5);
    // D6 veto window, medium: vetoed by frank at 75 s, overridden by carol at 135 s, contained at 165 s.
    let mut e = vec![
        vw(wk1(5)),
        by(75, EventKind::Vetoed { reason: None }, "frank", "it-ops"),
        by(
            135,
            EventKind::Overridden {
                reason: None,
                until: None,
            },
            "carol",
            "ciso",
        ),
    ];
    e.extend(contained(135, 137, 165));
    out.push(spec(
        wk1(5),
        Severity::Medium,
        Mode::VetoWindow,
        "veto-rule",
        "contained",
        e,
    ));
    // D7 approval, high: nobody answered; expired at 615 s.
    out.push(spec(
        wk1(6),
        Severity::High,
        Mode::Approval,
        "approval-rule",
        "expired",
        vec![ar(), ev(615, EventKind::Expired)],
    ));
    // D8 auto, high (week 2): the connector failed for good at 20 s.
    out.push(spec(
        wk2(0),
        Severity::High,
        Mode::Auto,
        "auto-rule",
        "failed",
        vec![
            ev(15, EventKind::ExecutionRequested),
            ev(
                20,
                EventKind::ExecutionFailed {
                    error: "vendor said no".into(),
                    permanent: true,
                    inverse: false,
                },
            ),
        ],
    ));
    // D9 approval, critical (week 2): alice at 45 s, bob at 105 s; contained at 225 s.
    let mut e = vec![
        ar(),
        by(
            45,
            EventKind::Approved { reason: None },
            "alice",
            "soc-lead",
        ),
        by(105, EventKind::Approved { reason: None }, "bob", "soc-lead"),
        ev(105, EventKind::QuorumReached),
    ];
    e.extend(contained(105, 107, 225));
    out.push(spec(
        wk2(1),
        Severity::Critical,
        Mode::Approval,
        "approval-rule",
        "contained",
        e,
    ));
    // D10: a drill, contained in 20 s; excluded by default.
    let mut d10 = spec(
        wk1(24),
        Severity::High,
        Mode::Auto,
        "auto-rule",
        "contained",
        contained(15, 16, 20),
    );
    d10.drill = true;
    out.push(d10);
    out
}

pub fn t(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&chrono::Utc)
}
