//! Clock figures for one decision: where the time between detection and
//! containment went (DESIGN §2). Pure arithmetic over timestamps that are
//! already stored; reports aggregate these.
//!
//! Every figure is whole milliseconds, `None` when one of its two ends has
//! not happened (or is unknown), and never negative: a span whose end is
//! recorded before its start is clamped to 0. That happens in practice
//! because the detecting tool's clock is not ours — an EDR sensor a few
//! seconds fast makes `detected_at` later than `received_at`. A negative
//! figure would drag medians down and hide real delay, and 0 is the honest
//! reading of "no measurable delay on our side".

use super::Timestamp;
use super::decision::{DecisionEvent, EventKind};
use super::time::millis_between;
use serde::{Deserialize, Serialize};

/// The first time of each milestone of a decision's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Milestones {
    pub proposed: Option<Timestamp>,
    pub requested: Option<Timestamp>,
    pub accepted: Option<Timestamp>,
    pub contained: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClockFigures {
    /// Tool detection → cordon received the alert.
    pub detect_to_ingest: Option<i64>,
    /// Received → first post in chat.
    pub ingest_to_post: Option<i64>,
    /// Proposed → execution requested (quorum, timeout, override or auto):
    /// the time spent waiting for humans (and veto windows).
    pub decision_latency: Option<i64>,
    /// Execution requested → vendor accepted.
    pub execution_latency: Option<i64>,
    /// Vendor accepted → vendor confirmed containment.
    pub confirm_latency: Option<i64>,
    /// The headline: contained − detected (received when the tool gave no
    /// detection time).
    pub time_to_contain: Option<i64>,
}

/// `to − from` in ms, clamped at 0 (see the module docs).
fn span(from: Option<Timestamp>, to: Option<Timestamp>) -> Option<i64> {
    Some(millis_between(from?, to?).max(0))
}

impl ClockFigures {
    /// Computes the figures from the alert's times, the first chat post and
    /// the decision's events. Only the first occurrence of each milestone
    /// counts (a retry does not reset the execution clock).
    pub fn compute(
        detected_at: Option<Timestamp>,
        received_at: Timestamp,
        first_post_at: Option<Timestamp>,
        events: &[DecisionEvent],
    ) -> ClockFigures {
        let first = |f: fn(&EventKind) -> bool| events.iter().find(|e| f(&e.kind)).map(|e| e.at);
        let m = Milestones {
            proposed: first(|k| matches!(k, EventKind::Proposed { .. })),
            requested: first(|k| matches!(k, EventKind::ExecutionRequested)),
            accepted: first(|k| matches!(k, EventKind::ExecutionAccepted { .. })),
            contained: first(|k| matches!(k, EventKind::Contained { .. })),
        };
        ClockFigures::from_milestones(detected_at, received_at, first_post_at, m)
    }

    /// The same figures from the first time of each milestone. Reports use
    /// this with milestones the database folded out of the events, over
    /// thousands of decisions, without decoding every event's JSON.
    pub fn from_milestones(
        detected_at: Option<Timestamp>,
        received_at: Timestamp,
        first_post_at: Option<Timestamp>,
        m: Milestones,
    ) -> ClockFigures {
        ClockFigures {
            detect_to_ingest: span(detected_at, Some(received_at)),
            ingest_to_post: span(Some(received_at), first_post_at),
            decision_latency: span(m.proposed, m.requested),
            execution_latency: span(m.requested, m.accepted),
            confirm_latency: span(m.accepted, m.contained),
            time_to_contain: span(Some(detected_at.unwrap_or(received_at)), m.contained),
        }
    }

    /// Figure names, in the order of [`ClockFigures::values`].
    pub const NAMES: [&'static str; 6] = [
        "detect_to_ingest",
        "ingest_to_post",
        "decision_latency",
        "execution_latency",
        "confirm_latency",
        "time_to_contain",
    ];

    /// Every figure that is present.
    pub fn values(&self) -> [Option<i64>; 6] {
        [
            self.detect_to_ingest,
            self.ingest_to_post,
            self.decision_latency,
            self.execution_latency,
            self.confirm_latency,
            self.time_to_contain,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decision::ActorRef;
    use crate::domain::matrix::Mode;
    use chrono::{Duration, TimeZone, Utc};

    fn t(s: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn ev(seq: i64, at: i64, kind: EventKind) -> DecisionEvent {
        DecisionEvent {
            seq,
            at: t(at),
            actor: Some(ActorRef::system()),
            kind,
        }
    }

    #[test]
    fn figures_follow_the_events_of_an_approved_isolation() {
        let events = vec![
            ev(
                1,
                30,
                EventKind::Proposed {
                    rule: Some("r".into()),
                    mode: Mode::Approval,
                    matrix_hash: "h".into(),
                    proposer: None,
                    guard: None,
                },
            ),
            ev(2, 30, EventKind::ApprovalRequested { until: None }),
            ev(3, 150, EventKind::QuorumReached),
            ev(4, 150, EventKind::ExecutionRequested),
            ev(5, 152, EventKind::ExecutionAccepted { vendor_ref: None }),
            ev(6, 180, EventKind::Contained { expires_at: None }),
        ];
        let f = ClockFigures::compute(Some(t(0)), t(10), Some(t(31)), &events);
        assert_eq!(f.detect_to_ingest, Some(10_000));
        assert_eq!(f.ingest_to_post, Some(21_000));
        assert_eq!(f.decision_latency, Some(120_000));
        assert_eq!(f.execution_latency, Some(2_000));
        assert_eq!(f.confirm_latency, Some(28_000));
        assert_eq!(f.time_to_contain, Some(180_000));
    }

    #[test]
    fn a_tool_clock_running_ahead_gives_zero_not_a_negative_figure() {
        let events = vec![ev(1, 5, EventKind::Contained { expires_at: None })];
        let f = ClockFigures::compute(Some(t(60)), t(0), None, &events);
        assert_eq!(f.detect_to_ingest, Some(0));
        assert_eq!(f.time_to_contain, Some(0));
        assert_eq!(f.ingest_to_post, None);
    }

    #[test]
    fn without_a_detection_time_time_to_contain_starts_at_receipt() {
        let events = vec![ev(1, 90, EventKind::Contained { expires_at: None })];
        let f = ClockFigures::compute(None, t(30), None, &events);
        assert_eq!(f.detect_to_ingest, None);
        assert_eq!(f.time_to_contain, Some(60_000));
    }
}
