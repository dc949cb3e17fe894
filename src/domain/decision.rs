//! The decision state machine: one proposed containment action and its whole
//! life, event-sourced (DESIGN §2).
//!
//! A [`Decision`] is nothing but the fold of its [`DecisionEvent`]s; the store
//! keeps the events (append-only, unique `(decision_id, seq)`), never the
//! state. [`decide`] is the only place where policy is applied: given the
//! decision, the rule it was created under, a [`Command`] and `now`, it returns
//! the events to append and the [`Effect`]s for the engine to carry out. It is
//! pure: no clock, no I/O, so every path is testable with pinned times.
//!
//! ```text
//! proposed ─► forbidden                                   (terminal, advisory)
//! proposed ─► pending_approval ─► approved ─► [pending_veto] ─► executing ─► contained
//!                │  ├─► denied    (override → executing)        │  └─► vetoed (override → executing)
//!                │  ├─ escalated (stays pending_approval, more approvers, new deadline)
//!                │  └─► expired   (terminal)
//! proposed ─► pending_veto (veto_window rules) ─► executing …
//! proposed ─► executing (auto rules)
//! executing ─► failed ─(retry)─► executing
//! executing | contained ─► rolling_back ─► rolled_back   (veto with rollback, release, max_duration)
//! ```
//!
//! `approved` is transient: the event that reaches quorum is always followed,
//! in the same outcome, by `veto_window_opened` or `execution_requested`.
//! `rolling_back` is a state of its own (DESIGN lists only its end,
//! `rolled_back`) so that a failing inverse action is visible and retryable
//! and so that nothing can extend a containment that is being released.
//!
//! Who may do what (all checked against the rule the decision was created
//! under, with the roles the matrix resolved for the clicking identity):
//!
//! | verb     | roles                                   | needs a named person |
//! |----------|-----------------------------------------|----------------------|
//! | approve  | approvers + escalation steps taken      | yes (quorum counts people) |
//! | deny     | approvers + escalation steps taken      | no  |
//! | veto     | veto                                    | no  |
//! | override | override                                | yes |
//! | extend   | approvers (+ steps) or override         | yes |
//! | release  | approvers (+ steps), override or veto   | no  |
//! | retry    | approvers (+ steps) or override         | yes |
//!
//! Verbs that stop or undo containment (deny, veto, release) may come from a
//! chat group the platform vouched for even if the person is not named in
//! `[people]`: stopping is the safe direction. Verbs that push containment
//! forward need a named person, so that the audit trail names them and quorum
//! counts each human once. Retry of an auto or veto-window rule follows the
//! same table, which is why the example matrix gives auto rules `approvers`.

use super::matrix::{AfterExecutionVeto, Mode, OnTimeout, Platform, Rule};
use super::time::add;
use super::{DecisionId, PersonId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Where a decision is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionState {
    /// Created, not yet routed (only between the `proposed` event and the next).
    Proposed,
    /// No rule, or a `forbidden` rule: advisory only. Terminal.
    Forbidden,
    PendingApproval,
    /// Quorum reached (transient, see the module docs).
    Approved,
    /// Pre-authorised or approved; veto roles may still stop it until the deadline.
    PendingVeto,
    /// Execution requested from the vendor.
    Executing,
    /// The vendor confirmed containment.
    Contained,
    /// Denied by an approver. Terminal unless overridden.
    Denied,
    /// Nobody decided in time. Terminal.
    Expired,
    /// Vetoed before execution. Terminal unless overridden.
    Vetoed,
    /// Execution (or its rollback) failed; a responder may retry.
    Failed,
    /// The inverse action has been requested.
    RollingBack,
    /// The inverse action confirmed. Terminal.
    RolledBack,
}

impl DecisionState {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionState::Proposed => "proposed",
            DecisionState::Forbidden => "forbidden",
            DecisionState::PendingApproval => "pending_approval",
            DecisionState::Approved => "approved",
            DecisionState::PendingVeto => "pending_veto",
            DecisionState::Executing => "executing",
            DecisionState::Contained => "contained",
            DecisionState::Denied => "denied",
            DecisionState::Expired => "expired",
            DecisionState::Vetoed => "vetoed",
            DecisionState::Failed => "failed",
            DecisionState::RollingBack => "rolling_back",
            DecisionState::RolledBack => "rolled_back",
        }
    }

    /// No timer or vendor callback will move it any more (only an override
    /// can, for `denied` and `vetoed`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DecisionState::Forbidden
                | DecisionState::Denied
                | DecisionState::Expired
                | DecisionState::Vetoed
                | DecisionState::RolledBack
        )
    }
}

impl fmt::Display for DecisionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who caused an event: the person (if the matrix knows them), the identity
/// they used, and the role under which they acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorRef {
    pub person: Option<PersonId>,
    pub platform: Platform,
    pub platform_user_id: String,
    pub role: Option<String>,
}

impl ActorRef {
    /// cordon itself: timers and vendor callbacks.
    pub fn system() -> Self {
        ActorRef {
            person: None,
            platform: Platform::System,
            platform_user_id: "cordon".into(),
            role: None,
        }
    }
}

/// What happened. The serde tag (`"type"`) is what the store keeps, so
/// renaming a variant is a migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The first event of every decision: the rule (none = forbidden) and the
    /// matrix it was judged under.
    Proposed {
        rule: Option<String>,
        mode: Mode,
        matrix_hash: String,
        proposer: Option<PersonId>,
    },
    /// Waiting for approvers; `until` is the approval timeout, if any.
    ApprovalRequested {
        until: Option<Timestamp>,
    },
    /// One approval; the approver is the event's actor.
    Approved {
        reason: Option<String>,
    },
    QuorumReached,
    Denied {
        reason: Option<String>,
    },
    /// Escalation step `step` (1-based) added its roles to the approvers.
    Escalated {
        step: u32,
        until: Option<Timestamp>,
    },
    Expired,
    /// `on_timeout = "execute"` fired: approved by silence.
    TimeoutExecute,
    VetoWindowOpened {
        until: Timestamp,
    },
    Vetoed {
        reason: Option<String>,
    },
    Overridden {
        reason: Option<String>,
    },
    /// The action was handed to the executor queue.
    ExecutionRequested,
    /// The vendor accepted the request.
    ExecutionAccepted {
        vendor_ref: Option<String>,
    },
    /// The executor gave up. `inverse` says whether it was the rollback.
    ExecutionFailed {
        error: String,
        permanent: bool,
        inverse: bool,
    },
    /// The vendor confirmed containment; `expires_at` from `max_duration`.
    Contained {
        expires_at: Option<Timestamp>,
    },
    Extended {
        until: Timestamp,
    },
    /// `max_duration` ran out (followed by `rollback_requested`).
    ContainmentExpired,
    RollbackRequested {
        reason: String,
    },
    RolledBack,
    /// A responder retried after a failure.
    Retried,
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Proposed { .. } => "proposed",
            EventKind::ApprovalRequested { .. } => "approval_requested",
            EventKind::Approved { .. } => "approved",
            EventKind::QuorumReached => "quorum_reached",
            EventKind::Denied { .. } => "denied",
            EventKind::Escalated { .. } => "escalated",
            EventKind::Expired => "expired",
            EventKind::TimeoutExecute => "timeout_execute",
            EventKind::VetoWindowOpened { .. } => "veto_window_opened",
            EventKind::Vetoed { .. } => "vetoed",
            EventKind::Overridden { .. } => "overridden",
            EventKind::ExecutionRequested => "execution_requested",
            EventKind::ExecutionAccepted { .. } => "execution_accepted",
            EventKind::ExecutionFailed { .. } => "execution_failed",
            EventKind::Contained { .. } => "contained",
            EventKind::Extended { .. } => "extended",
            EventKind::ContainmentExpired => "containment_expired",
            EventKind::RollbackRequested { .. } => "rollback_requested",
            EventKind::RolledBack => "rolled_back",
            EventKind::Retried => "retried",
        }
    }
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// 1, 2, 3, … per decision, no gaps: the store's unique `(decision_id, seq)`
    /// makes two racing clicks produce one winner.
    pub seq: i64,
    pub at: Timestamp,
    pub actor: Option<ActorRef>,
    pub kind: EventKind,
}

/// One counted approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub person: PersonId,
    pub role: Option<String>,
    pub at: Timestamp,
}

/// The fold of a decision's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: DecisionId,
    pub state: DecisionState,
    pub rule: Option<String>,
    pub mode: Mode,
    pub matrix_hash: String,
    pub proposer: Option<PersonId>,
    /// Distinct people, in the order they approved.
    pub approvals: Vec<Approval>,
    /// Escalation steps taken (0 = only the rule's own approvers).
    pub escalation_step: u32,
    /// The next deadline: approval timeout, veto window end or containment
    /// expiry, depending on the state.
    pub deadline: Option<Timestamp>,
    pub overridden: bool,
    pub approved_by_timeout: bool,
    pub vetoed: bool,
    /// The inverse action has been requested (a failure now is the rollback's).
    pub rolling_back: bool,
    /// Execution attempts requested (first request plus retries).
    pub attempts: u32,
    pub last_error: Option<String>,
    pub proposed_at: Option<Timestamp>,
    pub approved_at: Option<Timestamp>,
    pub execution_requested_at: Option<Timestamp>,
    pub accepted_at: Option<Timestamp>,
    pub contained_at: Option<Timestamp>,
    pub vetoed_at: Option<Timestamp>,
    pub rollback_requested_at: Option<Timestamp>,
    pub rolled_back_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    /// When it reached a terminal state (for reports).
    pub closed_at: Option<Timestamp>,
    pub next_seq: i64,
}

/// What a person can do with a button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Approve,
    Deny,
    Veto,
    Override,
    Extend,
    Release,
    Retry,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Approve => "approve",
            Verb::Deny => "deny",
            Verb::Veto => "veto",
            Verb::Override => "override",
            Verb::Extend => "extend",
            Verb::Release => "release",
            Verb::Retry => "retry",
        }
    }

    /// Verbs that push containment forward need a person named in the matrix.
    fn needs_person(self) -> bool {
        matches!(
            self,
            Verb::Approve | Verb::Override | Verb::Extend | Verb::Retry
        )
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The timers a decision can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    VetoWindowEnd,
    ApprovalTimeout,
    ContainmentExpiry,
}

/// What the engine asks of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Propose {
        proposer: Option<PersonId>,
        /// Who proposed it (a playbook is `ActorRef::system()`).
        actor: Option<ActorRef>,
        matrix_hash: String,
    },
    /// A click. `roles` are what `Matrix::roles_of` resolved for the identity
    /// the platform vouched for; `person` is `Matrix::person_for`.
    Act {
        actor: ActorRef,
        person: Option<PersonId>,
        roles: BTreeSet<String>,
        verb: Verb,
        reason: Option<String>,
    },
    TimerFired(TimerKind),
    ExecutionAccepted {
        vendor_ref: Option<String>,
    },
    ExecutionConfirmed,
    ExecutionFailed {
        error: String,
        permanent: bool,
        /// True when the failed job was the inverse action.
        inverse: bool,
    },
    RollbackDone,
}

impl Command {
    fn name(&self) -> String {
        match self {
            Command::Propose { .. } => "propose".into(),
            Command::Act { verb, .. } => verb.to_string(),
            Command::TimerFired(k) => format!("{k:?} timer"),
            Command::ExecutionAccepted { .. } => "accept execution".into(),
            Command::ExecutionConfirmed => "confirm execution".into(),
            Command::ExecutionFailed { .. } => "fail execution".into(),
            Command::RollbackDone => "confirm rollback".into(),
        }
    }
}

/// What the engine must do after appending the events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Enqueue the action (idempotency key = decision id).
    Execute,
    /// Enqueue the inverse action.
    ExecuteInverse,
    ScheduleTimer {
        kind: TimerKind,
        at: Timestamp,
    },
    /// Cancel every pending timer of this decision (always precedes a new schedule).
    CancelTimers,
    /// Chat surfaces should update the message.
    Notify,
}

/// The result of [`decide`]. An empty outcome means "nothing to do" (an
/// idempotent repeat or a stale timer); it is not an error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub events: Vec<EventKind>,
    pub effects: Vec<Effect>,
    /// Who caused these events, with the role they acted under.
    pub actor: Option<ActorRef>,
}

impl Outcome {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.effects.is_empty()
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("rule `{rule}` does not let you {verb}; {}", roles_text(allowed_roles))]
    NotAuthorised {
        rule: String,
        verb: Verb,
        allowed_roles: Vec<String>,
    },
    #[error(
        "rule `{rule}` requires separation of duties: {person} proposed this action and cannot approve it"
    )]
    SeparationOfDuties { rule: String, person: PersonId },
    #[error("to {verb} you must be named in the authority matrix ([people]); this identity is not")]
    UnidentifiedActor { verb: Verb },
    #[error("cannot {verb}: the decision is {state}")]
    IllegalTransition { state: DecisionState, verb: String },
    #[error(
        "rule `{rule}` does not allow a veto once the action is {state} (after_execution_veto is not \"rollback\")"
    )]
    VetoClosed { rule: String, state: DecisionState },
    #[error("rule `{rule}`: the action has no inverse, so it cannot be released or rolled back")]
    NoInverse { rule: String },
    #[error("rule `{rule}` has no max_duration, so there is nothing to extend")]
    NotExtendable { rule: String },
    #[error("decision was made under rule {expected:?}, but rule {got:?} was supplied")]
    RuleMismatch {
        expected: Option<String>,
        got: Option<String>,
    },
    #[error("rule `{rule}` is inconsistent: {reason}")]
    InvalidRule { rule: String, reason: String },
    #[error("event seq {got} out of order (expected {expected})")]
    OutOfOrder { expected: i64, got: i64 },
    #[error("event {seq} ({event}) cannot apply to a decision that is {state}")]
    InvalidEvent {
        seq: i64,
        state: DecisionState,
        event: &'static str,
    },
    #[error("a decision needs at least its `proposed` event")]
    NoEvents,
}

fn roles_text(roles: &[String]) -> String {
    if roles.is_empty() {
        "it names no role that may".into()
    } else {
        format!("only {} may", roles.join(", "))
    }
}

// ---------------------------------------------------------------------------
// The fold
// ---------------------------------------------------------------------------

impl Decision {
    /// A decision with no events yet (state `proposed`, seq 1 next).
    pub fn new(id: DecisionId) -> Decision {
        Decision {
            id,
            state: DecisionState::Proposed,
            rule: None,
            mode: Mode::Forbidden,
            matrix_hash: String::new(),
            proposer: None,
            approvals: Vec::new(),
            escalation_step: 0,
            deadline: None,
            overridden: false,
            approved_by_timeout: false,
            vetoed: false,
            rolling_back: false,
            attempts: 0,
            last_error: None,
            proposed_at: None,
            approved_at: None,
            execution_requested_at: None,
            accepted_at: None,
            contained_at: None,
            vetoed_at: None,
            rollback_requested_at: None,
            rolled_back_at: None,
            failed_at: None,
            closed_at: None,
            next_seq: 1,
        }
    }

    /// Rebuilds a decision from its stored events (which must start at seq 1).
    pub fn replay<'a>(
        id: DecisionId,
        events: impl IntoIterator<Item = &'a DecisionEvent>,
    ) -> Result<Decision, DecisionError> {
        let mut d = Decision::new(id);
        for e in events {
            d.apply(e)?;
        }
        if d.next_seq == 1 {
            return Err(DecisionError::NoEvents);
        }
        Ok(d)
    }

    /// Stamps an outcome's events with seq numbers, `now` and the outcome's
    /// actor, applies them, and returns them for the store to append.
    pub fn record(
        &mut self,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<Vec<DecisionEvent>, DecisionError> {
        let mut out = Vec::with_capacity(outcome.events.len());
        for kind in &outcome.events {
            let e = DecisionEvent {
                seq: self.next_seq,
                at: now,
                actor: outcome.actor.clone(),
                kind: kind.clone(),
            };
            self.apply(&e)?;
            out.push(e);
        }
        Ok(out)
    }

    fn close(&mut self, state: DecisionState, at: Timestamp) {
        self.state = state;
        self.deadline = None;
        self.closed_at = Some(at);
    }

    /// Applies one stored event. Strict: an event that could not have been
    /// produced from the current state is an error, because it means the
    /// stored history is corrupt or was written by something other than
    /// [`decide`].
    pub fn apply(&mut self, e: &DecisionEvent) -> Result<(), DecisionError> {
        use DecisionState as S;
        if e.seq != self.next_seq {
            return Err(DecisionError::OutOfOrder {
                expected: self.next_seq,
                got: e.seq,
            });
        }
        let invalid = DecisionError::InvalidEvent {
            seq: e.seq,
            state: self.state,
            event: e.kind.name(),
        };
        let at = e.at;
        match (&e.kind, self.state) {
            (
                EventKind::Proposed {
                    rule,
                    mode,
                    matrix_hash,
                    proposer,
                },
                S::Proposed,
            ) if self.next_seq == 1 => {
                self.rule = rule.clone();
                self.mode = *mode;
                self.matrix_hash = matrix_hash.clone();
                self.proposer = proposer.clone();
                self.proposed_at = Some(at);
                if *mode == Mode::Forbidden {
                    self.close(S::Forbidden, at);
                }
            }
            (EventKind::ApprovalRequested { until }, S::Proposed)
                if self.mode == Mode::Approval && self.proposed_at.is_some() =>
            {
                self.state = S::PendingApproval;
                self.deadline = *until;
            }
            (EventKind::Approved { .. }, S::PendingApproval) => {
                let person = e
                    .actor
                    .as_ref()
                    .and_then(|a| a.person.clone())
                    .ok_or(invalid.clone())?;
                if self.approvals.iter().any(|a| a.person == person) {
                    return Err(invalid);
                }
                self.approvals.push(Approval {
                    person,
                    role: e.actor.as_ref().and_then(|a| a.role.clone()),
                    at,
                });
            }
            (EventKind::QuorumReached, S::PendingApproval) => {
                self.state = S::Approved;
                self.approved_at = Some(at);
                self.deadline = None;
            }
            (EventKind::TimeoutExecute, S::PendingApproval) => {
                self.state = S::Approved;
                self.approved_by_timeout = true;
                self.approved_at = Some(at);
                self.deadline = None;
            }
            (EventKind::Denied { .. }, S::PendingApproval) => self.close(S::Denied, at),
            (EventKind::Escalated { step, until }, S::PendingApproval)
                if *step == self.escalation_step + 1 =>
            {
                self.escalation_step = *step;
                self.deadline = *until;
            }
            (EventKind::Expired, S::PendingApproval) => self.close(S::Expired, at),
            (EventKind::VetoWindowOpened { until }, S::Proposed | S::Approved)
                if self.proposed_at.is_some() =>
            {
                self.state = S::PendingVeto;
                self.deadline = Some(*until);
            }
            (EventKind::Vetoed { .. }, S::PendingApproval | S::PendingVeto) => {
                self.vetoed = true;
                self.vetoed_at = Some(at);
                self.close(S::Vetoed, at);
            }
            // A veto after execution is recorded here; the rollback_requested
            // event that always follows it moves the state.
            (EventKind::Vetoed { .. }, S::Executing | S::Contained) => {
                self.vetoed = true;
                self.vetoed_at = Some(at);
            }
            (EventKind::Overridden { .. }, S::Vetoed | S::Denied) => {
                self.state = S::Approved;
                self.overridden = true;
                self.approved_at = Some(at);
                self.closed_at = None;
            }
            (EventKind::ExecutionRequested, S::Proposed)
                if self.mode == Mode::Auto && self.proposed_at.is_some() =>
            {
                self.start_execution(at)
            }
            (EventKind::ExecutionRequested, S::Approved | S::PendingVeto) => {
                self.start_execution(at)
            }
            (EventKind::ExecutionAccepted { .. }, S::Executing | S::RollingBack) => {
                self.accepted_at.get_or_insert(at);
            }
            (EventKind::ExecutionFailed { error, inverse, .. }, S::Executing) if !inverse => {
                self.state = S::Failed;
                self.failed_at = Some(at);
                self.last_error = Some(error.clone());
            }
            (EventKind::ExecutionFailed { error, inverse, .. }, S::RollingBack) => {
                // A late failure of the forward action changes nothing: the
                // rollback is already under way.
                if *inverse {
                    self.state = S::Failed;
                    self.failed_at = Some(at);
                }
                self.last_error = Some(error.clone());
            }
            (EventKind::Contained { expires_at }, S::Executing) => {
                self.state = S::Contained;
                self.contained_at.get_or_insert(at);
                self.deadline = *expires_at;
            }
            // The forward action confirmed after a rollback was requested: it
            // did contain, so time to contain is real; the rollback goes on.
            (EventKind::Contained { .. }, S::RollingBack) => {
                self.contained_at.get_or_insert(at);
            }
            (EventKind::Extended { until }, S::Contained) => self.deadline = Some(*until),
            (EventKind::ContainmentExpired, S::Contained) => {}
            (EventKind::RollbackRequested { .. }, S::Executing | S::Contained) => {
                self.state = S::RollingBack;
                self.rolling_back = true;
                self.deadline = None;
                self.rollback_requested_at.get_or_insert(at);
            }
            (EventKind::RolledBack, S::RollingBack) => {
                self.rolled_back_at = Some(at);
                self.close(S::RolledBack, at);
            }
            (EventKind::Retried, S::Failed) => {
                self.attempts += 1;
                self.state = if self.rolling_back {
                    S::RollingBack
                } else {
                    S::Executing
                };
            }
            _ => return Err(invalid),
        }
        self.next_seq += 1;
        Ok(())
    }

    fn start_execution(&mut self, at: Timestamp) {
        self.state = DecisionState::Executing;
        self.deadline = None;
        self.attempts += 1;
        self.execution_requested_at.get_or_insert(at);
    }

    fn has_approved(&self, person: &PersonId) -> bool {
        self.approvals.iter().any(|a| &a.person == person)
    }
}

// ---------------------------------------------------------------------------
// decide: the policy
// ---------------------------------------------------------------------------

/// Applies the rule to a command. Pure: the same inputs always give the same
/// outcome. `rule` must be the rule the decision was created under (looked up
/// by name in the matrix whose hash the decision recorded); `None` only for
/// forbidden decisions.
pub fn decide(
    d: &Decision,
    rule: Option<&Rule>,
    cmd: Command,
    now: Timestamp,
) -> Result<Outcome, DecisionError> {
    if d.proposed_at.is_some() && rule.map(|r| &r.name) != d.rule.as_ref() {
        return Err(DecisionError::RuleMismatch {
            expected: d.rule.clone(),
            got: rule.map(|r| r.name.clone()),
        });
    }
    let illegal = |cmd: &Command| DecisionError::IllegalTransition {
        state: d.state,
        verb: cmd.name(),
    };
    if let Command::Propose {
        proposer,
        actor,
        matrix_hash,
    } = cmd
    {
        return propose(d, rule, proposer, actor, matrix_hash, now);
    }
    // Everything else needs a rule: a forbidden decision has none and can
    // only be looked at.
    let Some(rule) = rule.filter(|_| d.state != DecisionState::Forbidden) else {
        return Err(illegal(&cmd));
    };
    let sys = Some(ActorRef::system());
    let mut o = Outcome {
        actor: sys,
        ..Outcome::default()
    };
    use DecisionState as S;
    match cmd {
        Command::Propose { .. } => unreachable_propose(d),
        Command::Act {
            actor,
            person,
            roles,
            verb,
            reason,
        } => act(d, rule, actor, person, roles, verb, reason, now),
        Command::TimerFired(kind) => {
            let due = d.deadline.is_some_and(|t| now >= t);
            match (kind, d.state) {
                (TimerKind::VetoWindowEnd, S::PendingVeto) if due => {
                    o.events.push(EventKind::ExecutionRequested);
                    o.effects
                        .extend([Effect::CancelTimers, Effect::Execute, Effect::Notify]);
                }
                (TimerKind::ApprovalTimeout, S::PendingApproval) if due => {
                    match rule.on_timeout {
                        OnTimeout::Expire => {
                            o.events.push(EventKind::Expired);
                            o.effects.extend([Effect::CancelTimers, Effect::Notify]);
                        }
                        OnTimeout::Execute => {
                            o.events.push(EventKind::TimeoutExecute);
                            after_approval(rule, now, &mut o);
                        }
                        OnTimeout::Escalate => {
                            if (d.escalation_step as usize) < rule.escalate_to.len() {
                                let until = rule.timeout.map(|t| add(now, t));
                                o.events.push(EventKind::Escalated {
                                    step: d.escalation_step + 1,
                                    until,
                                });
                                o.effects.push(Effect::CancelTimers);
                                if let Some(at) = until {
                                    o.effects.push(Effect::ScheduleTimer {
                                        kind: TimerKind::ApprovalTimeout,
                                        at,
                                    });
                                }
                                o.effects.push(Effect::Notify);
                            } else {
                                // Chain exhausted: fail closed.
                                o.events.push(EventKind::Expired);
                                o.effects.extend([Effect::CancelTimers, Effect::Notify]);
                            }
                        }
                    }
                }
                (TimerKind::ContainmentExpiry, S::Contained) if due => {
                    if rule.inverse.is_none() {
                        return Err(DecisionError::NoInverse {
                            rule: rule.name.clone(),
                        });
                    }
                    o.events.extend([
                        EventKind::ContainmentExpired,
                        EventKind::RollbackRequested {
                            reason: "max_duration ran out".into(),
                        },
                    ]);
                    o.effects.extend([
                        Effect::CancelTimers,
                        Effect::ExecuteInverse,
                        Effect::Notify,
                    ]);
                }
                // A timer that no longer fits the state (the decision moved
                // on, or the deadline was extended) is stale: nothing to do.
                _ => {}
            }
            Ok(o)
        }
        Command::ExecutionAccepted { vendor_ref } => match d.state {
            S::Executing | S::RollingBack => {
                o.events.push(EventKind::ExecutionAccepted { vendor_ref });
                o.effects.push(Effect::Notify);
                Ok(o)
            }
            // A late acceptance after confirmation: already known.
            S::Contained => Ok(Outcome::default()),
            _ => Err(illegal(&Command::ExecutionAccepted { vendor_ref })),
        },
        Command::ExecutionConfirmed => match d.state {
            S::Executing => {
                let expires_at = rule.max_duration.map(|m| add(now, m));
                o.events.push(EventKind::Contained { expires_at });
                if let Some(at) = expires_at {
                    o.effects.push(Effect::ScheduleTimer {
                        kind: TimerKind::ContainmentExpiry,
                        at,
                    });
                }
                o.effects.push(Effect::Notify);
                Ok(o)
            }
            S::RollingBack if d.contained_at.is_none() => {
                o.events.push(EventKind::Contained { expires_at: None });
                Ok(o)
            }
            S::Contained | S::RollingBack => Ok(Outcome::default()),
            _ => Err(illegal(&Command::ExecutionConfirmed)),
        },
        Command::ExecutionFailed {
            error,
            permanent,
            inverse,
        } => match (d.state, inverse) {
            (S::Executing, false) | (S::RollingBack, _) => {
                o.events.push(EventKind::ExecutionFailed {
                    error,
                    permanent,
                    inverse,
                });
                o.effects.push(Effect::Notify);
                Ok(o)
            }
            _ => Err(illegal(&Command::ExecutionFailed {
                error,
                permanent,
                inverse,
            })),
        },
        Command::RollbackDone => match d.state {
            S::RollingBack => {
                o.events.push(EventKind::RolledBack);
                o.effects.extend([Effect::CancelTimers, Effect::Notify]);
                Ok(o)
            }
            S::RolledBack => Ok(Outcome::default()),
            _ => Err(illegal(&Command::RollbackDone)),
        },
    }
}

fn unreachable_propose(d: &Decision) -> Result<Outcome, DecisionError> {
    Err(DecisionError::IllegalTransition {
        state: d.state,
        verb: "propose".into(),
    })
}

fn propose(
    d: &Decision,
    rule: Option<&Rule>,
    proposer: Option<PersonId>,
    actor: Option<ActorRef>,
    matrix_hash: String,
    now: Timestamp,
) -> Result<Outcome, DecisionError> {
    if d.next_seq != 1 {
        return unreachable_propose(d);
    }
    let mode = rule.map_or(Mode::Forbidden, |r| r.mode);
    let mut o = Outcome {
        events: vec![EventKind::Proposed {
            rule: rule.map(|r| r.name.clone()),
            mode,
            matrix_hash,
            proposer,
        }],
        effects: Vec::new(),
        actor,
    };
    match rule {
        None => {}
        Some(r) => match r.mode {
            Mode::Forbidden => {}
            Mode::Auto => {
                o.events.push(EventKind::ExecutionRequested);
                o.effects.push(Effect::Execute);
            }
            Mode::VetoWindow => {
                let Some(w) = r.veto_window else {
                    return Err(DecisionError::InvalidRule {
                        rule: r.name.clone(),
                        reason: "mode veto_window without veto_window".into(),
                    });
                };
                let until = add(now, w);
                o.events.push(EventKind::VetoWindowOpened { until });
                o.effects.push(Effect::ScheduleTimer {
                    kind: TimerKind::VetoWindowEnd,
                    at: until,
                });
            }
            Mode::Approval => {
                let until = r.timeout.map(|t| add(now, t));
                o.events.push(EventKind::ApprovalRequested { until });
                if let Some(at) = until {
                    o.effects.push(Effect::ScheduleTimer {
                        kind: TimerKind::ApprovalTimeout,
                        at,
                    });
                }
            }
        },
    }
    o.effects.push(Effect::Notify);
    Ok(o)
}

/// Quorum reached, approval by timeout, or nothing else to wait for: open the
/// veto window if the rule has one, else execute.
fn after_approval(rule: &Rule, now: Timestamp, o: &mut Outcome) {
    o.effects.push(Effect::CancelTimers);
    match rule.veto_window {
        Some(w) => {
            let until = add(now, w);
            o.events.push(EventKind::VetoWindowOpened { until });
            o.effects.push(Effect::ScheduleTimer {
                kind: TimerKind::VetoWindowEnd,
                at: until,
            });
        }
        None => {
            o.events.push(EventKind::ExecutionRequested);
            o.effects.push(Effect::Execute);
        }
    }
    o.effects.push(Effect::Notify);
}

fn union(lists: &[&[String]]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in lists.iter().flat_map(|l| l.iter()) {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// The roles that may use `verb` on a decision at escalation step `step`.
pub fn allowed_roles(rule: &Rule, step: u32, verb: Verb) -> Vec<String> {
    let approvers = rule.approver_roles(step);
    match verb {
        Verb::Approve | Verb::Deny => approvers,
        Verb::Veto => rule.veto.clone(),
        Verb::Override => rule.override_roles.clone(),
        Verb::Extend | Verb::Retry => union(&[&approvers, &rule.override_roles]),
        Verb::Release => union(&[&approvers, &rule.override_roles, &rule.veto]),
    }
}

#[allow(clippy::too_many_arguments)]
fn act(
    d: &Decision,
    rule: &Rule,
    actor: ActorRef,
    person: Option<PersonId>,
    roles: BTreeSet<String>,
    verb: Verb,
    reason: Option<String>,
    now: Timestamp,
) -> Result<Outcome, DecisionError> {
    use DecisionState as S;
    // Authorisation first: someone without a role learns who may act, not
    // what state the decision is in.
    let allowed = allowed_roles(rule, d.escalation_step, verb);
    let Some(role) = allowed.iter().find(|r| roles.contains(*r)).cloned() else {
        return Err(DecisionError::NotAuthorised {
            rule: rule.name.clone(),
            verb,
            allowed_roles: allowed,
        });
    };
    if verb.needs_person() && person.is_none() {
        return Err(DecisionError::UnidentifiedActor { verb });
    }
    let illegal = || DecisionError::IllegalTransition {
        state: d.state,
        verb: verb.to_string(),
    };
    let mut o = Outcome {
        actor: Some(ActorRef {
            person: person.clone(),
            role: Some(role.clone()),
            ..actor
        }),
        ..Outcome::default()
    };
    match verb {
        Verb::Approve => {
            let Some(person) = person else {
                return Err(DecisionError::UnidentifiedActor { verb });
            };
            // The same person clicking again changes nothing (idempotent),
            // whether or not quorum has been reached since.
            if d.has_approved(&person) && !d.state.is_terminal() {
                return Ok(Outcome::default());
            }
            if d.state != S::PendingApproval {
                return Err(illegal());
            }
            if rule.separation_of_duties && d.proposer.as_ref() == Some(&person) {
                return Err(DecisionError::SeparationOfDuties {
                    rule: rule.name.clone(),
                    person,
                });
            }
            o.events.push(EventKind::Approved { reason });
            // `person` is not among the approvals yet, so this is +1 distinct.
            if d.approvals.len() + 1 >= rule.quorum as usize {
                o.events.push(EventKind::QuorumReached);
                after_approval(rule, now, &mut o);
            } else {
                o.effects.push(Effect::Notify);
            }
        }
        Verb::Deny => match d.state {
            S::PendingApproval => {
                o.events.push(EventKind::Denied { reason });
                o.effects.extend([Effect::CancelTimers, Effect::Notify]);
            }
            S::Denied => return Ok(Outcome::default()),
            _ => return Err(illegal()),
        },
        Verb::Veto => match d.state {
            S::PendingApproval | S::PendingVeto => {
                o.events.push(EventKind::Vetoed { reason });
                o.effects.extend([Effect::CancelTimers, Effect::Notify]);
            }
            S::Executing | S::Contained => {
                if rule.after_execution_veto != AfterExecutionVeto::Rollback {
                    return Err(DecisionError::VetoClosed {
                        rule: rule.name.clone(),
                        state: d.state,
                    });
                }
                if rule.inverse.is_none() {
                    return Err(DecisionError::NoInverse {
                        rule: rule.name.clone(),
                    });
                }
                o.events.extend([
                    EventKind::Vetoed {
                        reason: reason.clone(),
                    },
                    EventKind::RollbackRequested {
                        reason: format!("vetoed by {role}"),
                    },
                ]);
                o.effects
                    .extend([Effect::CancelTimers, Effect::ExecuteInverse, Effect::Notify]);
            }
            S::Vetoed => return Ok(Outcome::default()),
            S::RollingBack | S::RolledBack if d.vetoed => return Ok(Outcome::default()),
            _ => return Err(illegal()),
        },
        Verb::Override => match d.state {
            S::Vetoed | S::Denied => {
                o.events.extend([
                    EventKind::Overridden { reason },
                    EventKind::ExecutionRequested,
                ]);
                o.effects
                    .extend([Effect::CancelTimers, Effect::Execute, Effect::Notify]);
            }
            _ => return Err(illegal()),
        },
        Verb::Extend => {
            if d.state != S::Contained {
                return Err(illegal());
            }
            let Some(max) = rule.max_duration else {
                return Err(DecisionError::NotExtendable {
                    rule: rule.name.clone(),
                });
            };
            // Extend restarts the max_duration clock from now; it never
            // shortens, so a second click right after the first is a no-op.
            let until = add(now, max);
            if d.deadline.is_some_and(|dl| until <= dl) {
                return Ok(Outcome::default());
            }
            o.events.push(EventKind::Extended { until });
            o.effects.extend([
                Effect::CancelTimers,
                Effect::ScheduleTimer {
                    kind: TimerKind::ContainmentExpiry,
                    at: until,
                },
                Effect::Notify,
            ]);
        }
        Verb::Release => match d.state {
            S::Executing | S::Contained => {
                if rule.inverse.is_none() {
                    return Err(DecisionError::NoInverse {
                        rule: rule.name.clone(),
                    });
                }
                o.events.push(EventKind::RollbackRequested {
                    reason: reason.unwrap_or_else(|| format!("released by {role}")),
                });
                o.effects
                    .extend([Effect::CancelTimers, Effect::ExecuteInverse, Effect::Notify]);
            }
            S::RollingBack | S::RolledBack => return Ok(Outcome::default()),
            _ => return Err(illegal()),
        },
        Verb::Retry => match d.state {
            S::Failed => {
                o.events.push(EventKind::Retried);
                o.effects.push(if d.rolling_back {
                    Effect::ExecuteInverse
                } else {
                    Effect::Execute
                });
                o.effects.push(Effect::Notify);
            }
            _ => return Err(illegal()),
        },
    }
    Ok(o)
}
