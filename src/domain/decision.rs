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
//! | verb     | roles                                   |
//! |----------|-----------------------------------------|
//! | approve  | approvers + escalation steps taken      |
//! | deny     | approvers + escalation steps taken      |
//! | veto     | veto                                    |
//! | override | override                                |
//! | extend   | approvers (+ steps) or override         |
//! | release  | approvers (+ steps), override or veto   |
//! | retry    | approvers (+ steps) or override         |
//!
//! The guards of DESIGN §3a, all enforced here:
//!
//! - **Every verb needs a named person.** Stopping is not the harmless
//!   direction it looks like: releasing or vetoing the isolation of a
//!   compromised host hands it back to the attacker. So deny, veto and
//!   release need a person named in `[people]`, like approve.
//! - **Subjects cannot stop containment.** A person the target is about
//!   (the user a decision disables, the recorded users of a host, an owner
//!   of the host whom an alert names as its user) cannot deny, veto or
//!   release it: the attacker on a laptop often holds its user's chat
//!   session. They may still approve or override: pushing containment of
//!   their own machine forward never helps an attacker, and refusing it
//!   would let any alert that names the approvers as its users keep them
//!   from containing.
//! - **What a person said stands only while they hold the role.** An
//!   approval by someone since removed from the approver roles (or from
//!   `[people]`) no longer counts towards the quorum.
//! - **Override is the final word over someone else.** The overrider is
//!   neither the person who denied or vetoed nor, under separation of
//!   duties, the proposer; it must come within `override_within`. Overriding
//!   a stop that came *before* the decision was authorised (a denial, or a
//!   veto while approvals were still being gathered) counts as the
//!   overrider's approval and re-opens the approval: quorum still counts
//!   distinct people, then the rule's veto window applies. Overriding a
//!   veto of an authorised decision (pre-authorised, or quorum reached) is
//!   final and executes at once.
//!
//! Retry of an auto or veto-window rule follows the same table, which is
//! why the example matrix gives auto rules `approvers`.

use super::guards::GuardHit;
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
        /// The guard that moved the rule's automatic path to an approval.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        guard: Option<GuardHit>,
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
        /// Set when the override re-opened the approval: its new deadline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Timestamp>,
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
    /// Where it was given: a chat platform can vouch for group roles,
    /// the console and the CLI cannot.
    pub platform: Platform,
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
    /// The guard that stopped the rule's automatic path, if one did.
    pub guard: Option<GuardHit>,
    /// Authorised to execute: pre-authorised by its mode, quorum reached,
    /// or approved by silence. A stop before this is a stop of the approval.
    pub authorised: bool,
    /// The person whose denial or veto stands (an override must come from
    /// someone else).
    pub stopped_by: Option<PersonId>,
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

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::VetoWindowEnd => "veto_window_end",
            TimerKind::ApprovalTimeout => "approval_timeout",
            TimerKind::ContainmentExpiry => "containment_expiry",
        }
    }
}

/// What the engine asks of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Propose {
        proposer: Option<PersonId>,
        /// Who proposed it (a playbook is `ActorRef::system()`).
        actor: Option<ActorRef>,
        matrix_hash: String,
        /// The guard that stopped the rule's automatic path; the rule passed
        /// to [`decide`] is then the guarded one (`Guards::guarded`).
        guard: Option<GuardHit>,
    },
    /// A click. `roles` are what `Matrix::roles_of` resolved for the identity
    /// the platform vouched for; `person` is `Matrix::person_for`.
    /// `subjects` are the people involved in the incident (users of its
    /// alerts, the decision's target), who may not act on it.
    Act {
        actor: ActorRef,
        person: Option<PersonId>,
        roles: BTreeSet<String>,
        verb: Verb,
        reason: Option<String>,
        subjects: BTreeSet<PersonId>,
        /// People whose recorded approvals no longer count (removed from
        /// the approver roles or from `[people]` since they approved).
        revoked: BTreeSet<PersonId>,
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
            Command::TimerFired(k) => format!("fire the {} timer", k.as_str()),
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
    #[error(
        "{person} is involved in this incident (the target's user or an owner its alerts name): someone else must {verb}"
    )]
    Subject { person: PersonId, verb: Verb },
    #[error("{person} {stopped} this decision; an override must come from someone else")]
    SelfOverride { person: PersonId, stopped: String },
    #[error("rule `{rule}` accepts an override within {within} of the {stopped}; that has passed")]
    OverrideExpired {
        rule: String,
        within: String,
        stopped: String,
    },
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
            guard: None,
            authorised: false,
            stopped_by: None,
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
                    guard,
                },
                S::Proposed,
            ) if self.next_seq == 1 => {
                self.rule = rule.clone();
                self.mode = *mode;
                self.matrix_hash = matrix_hash.clone();
                self.proposer = proposer.clone();
                self.guard = guard.clone();
                self.authorised = matches!(mode, Mode::Auto | Mode::VetoWindow);
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
                    platform: e.actor.as_ref().map_or(Platform::System, |a| a.platform),
                });
            }
            (EventKind::QuorumReached, S::PendingApproval) => {
                self.state = S::Approved;
                self.authorised = true;
                self.approved_at = Some(at);
                self.deadline = None;
            }
            (EventKind::TimeoutExecute, S::PendingApproval) => {
                self.state = S::Approved;
                self.authorised = true;
                self.approved_by_timeout = true;
                self.approved_at = Some(at);
                self.deadline = None;
            }
            (EventKind::Denied { .. }, S::PendingApproval) => {
                self.stopped_by = e.actor.as_ref().and_then(|a| a.person.clone());
                self.close(S::Denied, at);
            }
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
                self.stopped_by = e.actor.as_ref().and_then(|a| a.person.clone());
                self.close(S::Vetoed, at);
            }
            // A veto after execution is recorded here; the rollback_requested
            // event that always follows it moves the state.
            (EventKind::Vetoed { .. }, S::Executing | S::Contained) => {
                self.vetoed = true;
                self.vetoed_at = Some(at);
            }
            // An authorised decision's stop overridden: approved again, the
            // execution request follows. A stop of the approval overridden:
            // the approval re-opens and the overrider's approval follows.
            (EventKind::Overridden { until, .. }, S::Vetoed | S::Denied) => {
                self.overridden = true;
                self.stopped_by = None;
                self.closed_at = None;
                if self.authorised {
                    self.state = S::Approved;
                    self.approved_at = Some(at);
                } else {
                    self.state = S::PendingApproval;
                    self.deadline = *until;
                }
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
        guard,
    } = cmd
    {
        return propose(d, rule, proposer, actor, matrix_hash, guard, now);
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
        Command::Propose { .. } => already_proposed(d),
        Command::Act {
            actor,
            person,
            roles,
            verb,
            reason,
            subjects,
            revoked,
        } => act(
            d,
            rule,
            actor,
            Clicker {
                person,
                roles,
                subjects: &subjects,
                revoked: &revoked,
            },
            verb,
            reason,
            now,
        ),
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

fn already_proposed(d: &Decision) -> Result<Outcome, DecisionError> {
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
    guard: Option<GuardHit>,
    now: Timestamp,
) -> Result<Outcome, DecisionError> {
    if d.next_seq != 1 {
        return already_proposed(d);
    }
    let mode = rule.map_or(Mode::Forbidden, |r| r.mode);
    let mut o = Outcome {
        events: vec![EventKind::Proposed {
            rule: rule.map(|r| r.name.clone()),
            mode,
            matrix_hash,
            proposer,
            guard: rule.and(guard),
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

/// Override of a denial or veto (see the module docs): by someone other
/// than whoever stopped it (and the proposer under separation of duties),
/// within `override_within`; final for an authorised decision, else the
/// overrider's approval in a re-opened approval.
fn override_stop(
    d: &Decision,
    rule: &Rule,
    who: &PersonId,
    reason: Option<String>,
    revoked: &BTreeSet<PersonId>,
    now: Timestamp,
    o: &mut Outcome,
) -> Result<(), DecisionError> {
    let stopped = if d.state == DecisionState::Denied {
        "denied"
    } else {
        "vetoed"
    };
    if d.stopped_by.as_ref() == Some(who) {
        return Err(DecisionError::SelfOverride {
            person: who.clone(),
            stopped: stopped.to_owned(),
        });
    }
    if rule.separation_of_duties && d.proposer.as_ref() == Some(who) {
        return Err(DecisionError::SeparationOfDuties {
            rule: rule.name.clone(),
            person: who.clone(),
        });
    }
    if d.closed_at
        .is_some_and(|c| now > add(c, rule.override_within))
    {
        return Err(DecisionError::OverrideExpired {
            rule: rule.name.clone(),
            within: super::time::format_duration(rule.override_within),
            stopped: if stopped == "denied" {
                "denial"
            } else {
                "veto"
            }
            .to_owned(),
        });
    }
    if d.authorised {
        o.events.extend([
            EventKind::Overridden {
                reason,
                until: None,
            },
            EventKind::ExecutionRequested,
        ]);
        o.effects
            .extend([Effect::CancelTimers, Effect::Execute, Effect::Notify]);
        return Ok(());
    }
    let until = rule.timeout.map(|t| add(now, t));
    o.events.push(EventKind::Overridden { reason, until });
    let counted = standing_approvals(d, revoked) + usize::from(!d.has_approved(who));
    if !d.has_approved(who) {
        o.events.push(EventKind::Approved { reason: None });
    }
    if counted >= rule.quorum as usize {
        o.events.push(EventKind::QuorumReached);
        after_approval(rule, now, o);
    } else {
        o.effects.push(Effect::CancelTimers);
        if let Some(at) = until {
            o.effects.push(Effect::ScheduleTimer {
                kind: TimerKind::ApprovalTimeout,
                at,
            });
        }
        o.effects.push(Effect::Notify);
    }
    Ok(())
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
        // A veto role may undo the action only where the rule lets a veto
        // roll it back: release is that veto under another name.
        Verb::Release if rule.after_execution_veto == AfterExecutionVeto::Rollback => {
            union(&[&approvers, &rule.override_roles, &rule.veto])
        }
        Verb::Release => union(&[&approvers, &rule.override_roles]),
    }
}

/// Who clicked, as the engine resolved it: the person, their roles, and
/// what the incident and the current matrix say about people.
struct Clicker<'a> {
    person: Option<PersonId>,
    roles: BTreeSet<String>,
    subjects: &'a BTreeSet<PersonId>,
    revoked: &'a BTreeSet<PersonId>,
}

/// Approvals that still count: by people not revoked since.
fn standing_approvals(d: &Decision, revoked: &BTreeSet<PersonId>) -> usize {
    d.approvals
        .iter()
        .filter(|a| !revoked.contains(&a.person))
        .count()
}

fn act(
    d: &Decision,
    rule: &Rule,
    actor: ActorRef,
    c: Clicker<'_>,
    verb: Verb,
    reason: Option<String>,
    now: Timestamp,
) -> Result<Outcome, DecisionError> {
    let Clicker {
        person,
        roles,
        subjects,
        revoked,
    } = c;
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
    let Some(who) = person.clone() else {
        return Err(DecisionError::UnidentifiedActor { verb });
    };
    if subjects.contains(&who) && matches!(verb, Verb::Deny | Verb::Veto | Verb::Release) {
        return Err(DecisionError::Subject { person: who, verb });
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
            if standing_approvals(d, revoked) + 1 >= rule.quorum as usize {
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
            S::Vetoed | S::Denied => override_stop(d, rule, &who, reason, revoked, now, &mut o)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::ClockFigures;
    use crate::domain::matrix::{ActionContext, Actor, Matrix, RuleMatch};
    use crate::domain::{ActionKind, Severity};
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;
    use std::time::Duration;

    fn t(s: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(s)
    }

    const MIN: u64 = 60;

    fn rule(mode: Mode) -> Rule {
        Rule {
            name: "r".into(),
            line: 1,
            action: ActionKind::IsolateHost,
            inverse: Some(ActionKind::ReleaseHost),
            matches: RuleMatch::default(),
            mode,
            approvers: vec!["lead".into()],
            quorum: 1,
            separation_of_duties: false,
            timeout: None,
            on_timeout: OnTimeout::Expire,
            escalate_to: vec![],
            veto: vec!["owner".into()],
            veto_window: (mode == Mode::VetoWindow).then_some(Duration::from_secs(3 * MIN)),
            after_execution_veto: AfterExecutionVeto::None,
            override_roles: vec!["ciso".into()],
            override_within: crate::domain::matrix::DEFAULT_OVERRIDE_WITHIN,
            proposers: vec!["lead".into()],
            max_duration: None,
            evidence: vec![],
        }
    }

    /// Drives one decision the way the engine does: decide, then record.
    struct H {
        d: Decision,
        rule: Option<Rule>,
        events: Vec<DecisionEvent>,
        now: Timestamp,
    }

    impl H {
        fn propose(rule: Option<Rule>, proposer: Option<&str>) -> (H, Outcome) {
            let mut h = H {
                d: Decision::new(DecisionId(1)),
                rule,
                events: vec![],
                now: t(0),
            };
            let o = h
                .run(Command::Propose {
                    proposer: proposer.map(PersonId::from),
                    actor: Some(ActorRef::system()),
                    matrix_hash: "abc".into(),
                    guard: None,
                })
                .unwrap();
            (h, o)
        }
        fn at(&mut self, s: i64) -> &mut Self {
            self.now = t(s);
            self
        }
        fn run(&mut self, cmd: Command) -> Result<Outcome, DecisionError> {
            let o = decide(&self.d, self.rule.as_ref(), cmd, self.now)?;
            let evs = self.d.record(&o, self.now).unwrap();
            self.events.extend(evs);
            Ok(o)
        }
        fn state(&self) -> DecisionState {
            self.d.state
        }
    }

    fn click(person: &str, roles: &[&str], verb: Verb) -> Command {
        Command::Act {
            actor: ActorRef {
                person: None,
                platform: Platform::Slack,
                platform_user_id: format!("U-{person}"),
                role: None,
            },
            person: Some(PersonId::from(person)),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            verb,
            reason: None,
            subjects: BTreeSet::new(),
            revoked: BTreeSet::new(),
        }
    }

    fn unnamed(roles: &[&str], verb: Verb) -> Command {
        Command::Act {
            actor: ActorRef {
                person: None,
                platform: Platform::Slack,
                platform_user_id: "U-x".into(),
                role: None,
            },
            person: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            verb,
            reason: None,
            subjects: BTreeSet::new(),
            revoked: BTreeSet::new(),
        }
    }

    fn kinds(o: &Outcome) -> Vec<&'static str> {
        o.events.iter().map(EventKind::name).collect()
    }

    // --- propose ---------------------------------------------------------

    #[test]
    fn no_rule_means_forbidden_and_nothing_can_move_it() {
        let (mut h, o) = H::propose(None, None);
        assert_eq!(h.state(), DecisionState::Forbidden);
        assert_eq!(o.effects, vec![Effect::Notify]);
        assert!(matches!(
            h.run(click("a", &["lead"], Verb::Approve)),
            Err(DecisionError::IllegalTransition { .. })
        ));
        assert!(matches!(
            h.run(Command::ExecutionConfirmed),
            Err(DecisionError::IllegalTransition { .. })
        ));
    }

    #[test]
    fn a_forbidden_rule_posts_an_advisory_only() {
        let (mut h, o) = H::propose(Some(rule(Mode::Forbidden)), None);
        assert_eq!(h.state(), DecisionState::Forbidden);
        assert!(!o.effects.contains(&Effect::Execute));
        assert!(h.run(click("c", &["ciso"], Verb::Override)).is_err());
    }

    #[test]
    fn an_auto_rule_executes_at_once() {
        let (h, o) = H::propose(Some(rule(Mode::Auto)), None);
        assert_eq!(h.state(), DecisionState::Executing);
        assert_eq!(kinds(&o), vec!["proposed", "execution_requested"]);
        assert!(o.effects.contains(&Effect::Execute));
    }

    #[test]
    fn proposing_twice_is_illegal() {
        let (mut h, _) = H::propose(Some(rule(Mode::Auto)), None);
        let again = Command::Propose {
            proposer: None,
            actor: None,
            matrix_hash: "x".into(),
            guard: None,
        };
        assert!(matches!(
            h.run(again),
            Err(DecisionError::IllegalTransition { .. })
        ));
    }

    // --- veto window -----------------------------------------------------

    #[test]
    fn a_veto_window_executes_when_it_ends_and_not_before() {
        let (mut h, o) = H::propose(Some(rule(Mode::VetoWindow)), None);
        assert_eq!(h.state(), DecisionState::PendingVeto);
        assert!(o.effects.contains(&Effect::ScheduleTimer {
            kind: TimerKind::VetoWindowEnd,
            at: t(180)
        }));
        assert!(
            h.at(179)
                .run(Command::TimerFired(TimerKind::VetoWindowEnd))
                .unwrap()
                .is_empty()
        );
        let o = h
            .at(180)
            .run(Command::TimerFired(TimerKind::VetoWindowEnd))
            .unwrap();
        assert_eq!(h.state(), DecisionState::Executing);
        assert!(o.effects.contains(&Effect::Execute));
    }

    #[test]
    fn a_veto_in_the_window_stops_execution_and_the_late_timer_is_stale() {
        let (mut h, _) = H::propose(Some(rule(Mode::VetoWindow)), None);
        let o = h.at(60).run(click("olga", &["owner"], Verb::Veto)).unwrap();
        assert_eq!(h.state(), DecisionState::Vetoed);
        assert!(o.effects.contains(&Effect::CancelTimers));
        assert_eq!(
            h.events
                .last()
                .and_then(|e| e.actor.clone())
                .and_then(|a| a.role),
            Some("owner".into())
        );
        assert!(
            h.at(180)
                .run(Command::TimerFired(TimerKind::VetoWindowEnd))
                .unwrap()
                .is_empty()
        );
        // a second veto click is idempotent
        assert!(
            h.run(click("olga", &["owner"], Verb::Veto))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn only_an_override_role_can_override_a_veto() {
        let (mut h, _) = H::propose(Some(rule(Mode::VetoWindow)), None);
        h.run(click("olga", &["owner"], Verb::Veto)).unwrap();
        let err = h.run(click("bob", &["lead"], Verb::Override)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rule `r` does not let you override; only ciso may"
        );
        let o = h.run(click("carol", &["ciso"], Verb::Override)).unwrap();
        assert_eq!(kinds(&o), vec!["overridden", "execution_requested"]);
        assert!(o.effects.contains(&Effect::Execute));
        assert_eq!(h.state(), DecisionState::Executing);
        assert!(h.d.overridden);
    }

    #[test]
    fn a_veto_by_someone_without_a_veto_role_is_refused_naming_the_roles() {
        let (mut h, _) = H::propose(Some(rule(Mode::VetoWindow)), None);
        let err = h.run(click("bob", &["lead"], Verb::Veto)).unwrap_err();
        assert_eq!(
            err,
            DecisionError::NotAuthorised {
                rule: "r".into(),
                verb: Verb::Veto,
                allowed_roles: vec!["owner".into()]
            }
        );
        assert_eq!(h.state(), DecisionState::PendingVeto);
    }

    // --- approval ----------------------------------------------------------

    fn approval(quorum: u32) -> Rule {
        Rule {
            quorum,
            approvers: vec!["lead".into(), "ciso".into()],
            ..rule(Mode::Approval)
        }
    }

    #[test]
    fn quorum_counts_distinct_people_and_a_repeat_click_is_a_no_op() {
        let (mut h, _) = H::propose(Some(approval(2)), None);
        assert_eq!(h.state(), DecisionState::PendingApproval);
        let o = h.run(click("alice", &["lead"], Verb::Approve)).unwrap();
        assert_eq!(kinds(&o), vec!["approved"]);
        assert!(
            h.run(click("alice", &["lead", "ciso"], Verb::Approve))
                .unwrap()
                .is_empty()
        );
        assert_eq!(h.state(), DecisionState::PendingApproval);
        let o = h
            .at(30)
            .run(click("carol", &["ciso"], Verb::Approve))
            .unwrap();
        assert_eq!(
            kinds(&o),
            vec!["approved", "quorum_reached", "execution_requested"]
        );
        assert!(o.effects.contains(&Effect::Execute));
        assert_eq!(h.state(), DecisionState::Executing);
        assert_eq!(h.d.approvals.len(), 2);
        // clicking again after quorum is still a no-op
        assert!(
            h.run(click("alice", &["lead"], Verb::Approve))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn separation_of_duties_refuses_the_proposer() {
        let r = Rule {
            separation_of_duties: true,
            ..approval(1)
        };
        let (mut h, _) = H::propose(Some(r), Some("alice"));
        let err = h.run(click("alice", &["lead"], Verb::Approve)).unwrap_err();
        assert!(matches!(err, DecisionError::SeparationOfDuties { .. }));
        assert!(err.to_string().contains("alice proposed this action"));
        h.run(click("bob", &["lead"], Verb::Approve)).unwrap();
        assert_eq!(h.state(), DecisionState::Executing);
    }

    #[test]
    fn an_approval_without_an_approver_role_is_refused_naming_rule_and_roles() {
        let (mut h, _) = H::propose(Some(approval(1)), None);
        let err = h
            .run(click("frank", &["owner"], Verb::Approve))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rule `r` does not let you approve; only lead, ciso may"
        );
    }

    #[test]
    fn an_approval_from_an_identity_the_matrix_does_not_name_is_refused() {
        let (mut h, _) = H::propose(Some(approval(1)), None);
        let err = h.run(unnamed(&["lead"], Verb::Approve)).unwrap_err();
        assert_eq!(
            err,
            DecisionError::UnidentifiedActor {
                verb: Verb::Approve
            }
        );
    }

    #[test]
    fn quorum_with_a_veto_window_waits_for_the_window() {
        let r = Rule {
            veto_window: Some(Duration::from_secs(2 * MIN)),
            ..approval(1)
        };
        let (mut h, _) = H::propose(Some(r), None);
        let o = h
            .at(10)
            .run(click("alice", &["lead"], Verb::Approve))
            .unwrap();
        assert_eq!(h.state(), DecisionState::PendingVeto);
        assert!(o.effects.contains(&Effect::ScheduleTimer {
            kind: TimerKind::VetoWindowEnd,
            at: t(130)
        }));
        h.at(60).run(click("olga", &["owner"], Verb::Veto)).unwrap();
        assert_eq!(h.state(), DecisionState::Vetoed);
    }

    #[test]
    fn a_denial_ends_the_decision_unless_overridden() {
        let (mut h, _) = H::propose(Some(approval(2)), None);
        h.run(click("alice", &["lead"], Verb::Deny)).unwrap();
        assert_eq!(h.state(), DecisionState::Denied);
        assert!(h.d.state.is_terminal());
        assert!(
            h.run(click("bob", &["lead"], Verb::Deny))
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            h.run(click("bob", &["lead"], Verb::Approve)),
            Err(DecisionError::IllegalTransition { .. })
        ));
        // The override counts as carol's approval; quorum 2 still needs
        // a second person.
        let o = h.run(click("carol", &["ciso"], Verb::Override)).unwrap();
        assert_eq!(kinds(&o), vec!["overridden", "approved"]);
        assert_eq!(h.state(), DecisionState::PendingApproval);
        h.run(click("bob", &["lead"], Verb::Approve)).unwrap();
        assert_eq!(h.state(), DecisionState::Executing);
    }

    #[test]
    fn one_person_cannot_deny_then_override_a_two_person_rule() {
        let r = Rule {
            override_roles: vec!["ciso".into()],
            veto_window: Some(Duration::from_secs(2 * MIN)),
            ..approval(2)
        };
        let (mut h, _) = H::propose(Some(r), None);
        h.run(click("carol", &["lead", "ciso"], Verb::Deny))
            .unwrap();
        assert_eq!(
            h.run(click("carol", &["ciso"], Verb::Override)),
            Err(DecisionError::SelfOverride {
                person: "carol".into(),
                stopped: "denied".into()
            })
        );
        // Another overrider re-opens the approval, a second person reaches
        // quorum, and the rule's veto window still comes before execution.
        let o = h.run(click("cyril", &["ciso"], Verb::Override)).unwrap();
        assert!(!o.effects.contains(&Effect::Execute));
        let o = h.run(click("alice", &["lead"], Verb::Approve)).unwrap();
        assert_eq!(
            kinds(&o),
            vec!["approved", "quorum_reached", "veto_window_opened"]
        );
        assert_eq!(h.state(), DecisionState::PendingVeto);
    }

    #[test]
    fn a_veto_of_an_authorised_decision_overridden_executes_at_once() {
        let r = Rule {
            veto_window: Some(Duration::from_secs(2 * MIN)),
            ..approval(1)
        };
        let (mut h, _) = H::propose(Some(r), None);
        h.run(click("alice", &["lead"], Verb::Approve)).unwrap();
        h.run(click("olga", &["owner"], Verb::Veto)).unwrap();
        let o = h.run(click("carol", &["ciso"], Verb::Override)).unwrap();
        assert_eq!(kinds(&o), vec!["overridden", "execution_requested"]);
        assert_eq!(h.state(), DecisionState::Executing);
    }

    #[test]
    fn a_veto_before_quorum_overridden_still_needs_the_quorum() {
        let (mut h, _) = H::propose(Some(approval(2)), None);
        h.run(click("olga", &["owner"], Verb::Veto)).unwrap();
        let o = h.run(click("carol", &["ciso"], Verb::Override)).unwrap();
        assert_eq!(kinds(&o), vec!["overridden", "approved"]);
        assert_eq!(h.state(), DecisionState::PendingApproval);
    }

    #[test]
    fn an_override_comes_within_override_within_and_not_from_the_proposer_under_sod() {
        let r = Rule {
            separation_of_duties: true,
            ..approval(1)
        };
        let (mut h, _) = H::propose(Some(r.clone()), Some("carol"));
        h.run(click("alice", &["lead"], Verb::Deny)).unwrap();
        assert!(matches!(
            h.run(click("carol", &["ciso"], Verb::Override)),
            Err(DecisionError::SeparationOfDuties { .. })
        ));
        let (mut h, _) = H::propose(Some(r), None);
        h.run(click("alice", &["lead"], Verb::Deny)).unwrap();
        let late = h
            .at(24 * 3600 + 1)
            .run(click("carol", &["ciso"], Verb::Override));
        assert!(
            matches!(late, Err(DecisionError::OverrideExpired { .. })),
            "{late:?}"
        );
    }

    #[test]
    fn every_verb_needs_a_named_person() {
        for verb in [
            Verb::Approve,
            Verb::Deny,
            Verb::Veto,
            Verb::Release,
            Verb::Override,
        ] {
            let (mut h, _) = H::propose(Some(rule(Mode::VetoWindow)), None);
            let roles = ["lead", "owner", "ciso"];
            assert_eq!(
                h.run(unnamed(&roles, verb)),
                Err(DecisionError::UnidentifiedActor { verb }),
                "{verb}"
            );
        }
    }

    #[test]
    fn a_subject_of_the_incident_cannot_act_on_it() {
        let r = Rule {
            after_execution_veto: AfterExecutionVeto::Rollback,
            ..rule(Mode::Auto)
        };
        let (mut h, _) = H::propose(Some(r), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        for verb in [Verb::Veto, Verb::Release] {
            let Command::Act {
                actor,
                person,
                roles,
                reason,
                ..
            } = click("dave", &["owner", "lead"], verb)
            else {
                unreachable!()
            };
            let cmd = Command::Act {
                actor,
                person,
                roles,
                verb,
                reason,
                subjects: [PersonId::from("dave")].into(),
                revoked: BTreeSet::new(),
            };
            assert_eq!(
                h.run(cmd),
                Err(DecisionError::Subject {
                    person: "dave".into(),
                    verb
                })
            );
        }
        assert_eq!(h.state(), DecisionState::Contained);
    }

    #[test]
    fn an_approval_timeout_can_expire_or_execute() {
        let r = Rule {
            timeout: Some(Duration::from_secs(10 * MIN)),
            ..approval(1)
        };
        let (mut h, o) = H::propose(Some(r.clone()), None);
        assert!(o.effects.contains(&Effect::ScheduleTimer {
            kind: TimerKind::ApprovalTimeout,
            at: t(600)
        }));
        h.at(600)
            .run(Command::TimerFired(TimerKind::ApprovalTimeout))
            .unwrap();
        assert_eq!(h.state(), DecisionState::Expired);

        let (mut h, _) = H::propose(
            Some(Rule {
                on_timeout: OnTimeout::Execute,
                ..r
            }),
            None,
        );
        let o = h
            .at(600)
            .run(Command::TimerFired(TimerKind::ApprovalTimeout))
            .unwrap();
        assert_eq!(kinds(&o), vec!["timeout_execute", "execution_requested"]);
        assert!(h.d.approved_by_timeout);
        assert_eq!(h.state(), DecisionState::Executing);
    }

    #[test]
    fn escalation_adds_each_steps_roles_then_expires_when_the_chain_is_exhausted() {
        let r = Rule {
            timeout: Some(Duration::from_secs(10 * MIN)),
            on_timeout: OnTimeout::Escalate,
            escalate_to: vec![vec!["oncall".into()], vec!["ciso2".into()]],
            ..approval(1)
        };
        let (mut h, _) = H::propose(Some(r), None);
        assert!(matches!(
            h.run(click("dave", &["oncall"], Verb::Approve)),
            Err(DecisionError::NotAuthorised { .. })
        ));
        let o = h
            .at(600)
            .run(Command::TimerFired(TimerKind::ApprovalTimeout))
            .unwrap();
        assert_eq!(
            o.events,
            vec![EventKind::Escalated {
                step: 1,
                until: Some(t(1200))
            }]
        );
        assert_eq!(h.state(), DecisionState::PendingApproval);
        h.at(1200)
            .run(Command::TimerFired(TimerKind::ApprovalTimeout))
            .unwrap();
        assert_eq!(h.d.escalation_step, 2);
        let err = h.run(click("x", &["nobody"], Verb::Approve)).unwrap_err();
        assert!(
            err.to_string()
                .contains("only lead, ciso, oncall, ciso2 may"),
            "{err}"
        );
        h.at(1800)
            .run(Command::TimerFired(TimerKind::ApprovalTimeout))
            .unwrap();
        assert_eq!(h.state(), DecisionState::Expired);
    }

    #[test]
    fn an_escalated_role_can_approve() {
        let r = Rule {
            timeout: Some(Duration::from_secs(10 * MIN)),
            on_timeout: OnTimeout::Escalate,
            escalate_to: vec![vec!["oncall".into()]],
            ..approval(1)
        };
        let (mut h, _) = H::propose(Some(r), None);
        h.at(600)
            .run(Command::TimerFired(TimerKind::ApprovalTimeout))
            .unwrap();
        h.run(click("dave", &["oncall"], Verb::Approve)).unwrap();
        assert_eq!(h.state(), DecisionState::Executing);
    }

    #[test]
    fn a_stale_approval_timeout_is_a_no_op() {
        let r = Rule {
            timeout: Some(Duration::from_secs(10 * MIN)),
            ..approval(1)
        };
        let (mut h, _) = H::propose(Some(r), None);
        assert!(
            h.at(599)
                .run(Command::TimerFired(TimerKind::ApprovalTimeout))
                .unwrap()
                .is_empty()
        );
        h.run(click("alice", &["lead"], Verb::Approve)).unwrap();
        assert!(
            h.at(600)
                .run(Command::TimerFired(TimerKind::ApprovalTimeout))
                .unwrap()
                .is_empty()
        );
        assert_eq!(h.state(), DecisionState::Executing);
    }

    // --- execution, containment, rollback ----------------------------------

    #[test]
    fn confirmation_contains_and_max_duration_runs_the_inverse() {
        let r = Rule {
            max_duration: Some(Duration::from_secs(60 * MIN)),
            ..rule(Mode::Auto)
        };
        let (mut h, _) = H::propose(Some(r), None);
        h.at(2)
            .run(Command::ExecutionAccepted {
                vendor_ref: Some("job-1".into()),
            })
            .unwrap();
        let o = h.at(5).run(Command::ExecutionConfirmed).unwrap();
        assert_eq!(h.state(), DecisionState::Contained);
        assert!(o.effects.contains(&Effect::ScheduleTimer {
            kind: TimerKind::ContainmentExpiry,
            at: t(3605)
        }));
        let o = h
            .at(3605)
            .run(Command::TimerFired(TimerKind::ContainmentExpiry))
            .unwrap();
        assert_eq!(kinds(&o), vec!["containment_expired", "rollback_requested"]);
        assert!(o.effects.contains(&Effect::ExecuteInverse));
        assert_eq!(h.state(), DecisionState::RollingBack);
        h.run(Command::RollbackDone).unwrap();
        assert_eq!(h.state(), DecisionState::RolledBack);
        assert_eq!(h.d.contained_at, Some(t(5)));
    }

    #[test]
    fn extend_restarts_the_containment_clock_and_makes_the_old_timer_stale() {
        let r = Rule {
            max_duration: Some(Duration::from_secs(60 * MIN)),
            ..rule(Mode::Auto)
        };
        let (mut h, _) = H::propose(Some(r), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        assert!(matches!(
            h.run(click("frank", &["owner"], Verb::Extend)),
            Err(DecisionError::NotAuthorised { .. })
        ));
        let o = h
            .at(3000)
            .run(click("alice", &["lead"], Verb::Extend))
            .unwrap();
        assert_eq!(o.events, vec![EventKind::Extended { until: t(6600) }]);
        assert!(
            h.run(click("alice", &["lead"], Verb::Extend))
                .unwrap()
                .is_empty()
        );
        assert!(
            h.at(3600)
                .run(Command::TimerFired(TimerKind::ContainmentExpiry))
                .unwrap()
                .is_empty()
        );
        assert_eq!(h.state(), DecisionState::Contained);
    }

    #[test]
    fn extend_without_max_duration_is_refused() {
        let (mut h, _) = H::propose(Some(rule(Mode::Auto)), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        assert_eq!(
            h.run(click("alice", &["lead"], Verb::Extend)),
            Err(DecisionError::NotExtendable { rule: "r".into() })
        );
    }

    #[test]
    fn a_veto_after_execution_rolls_back_only_where_the_rule_allows() {
        let (mut h, _) = H::propose(Some(rule(Mode::Auto)), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        let err = h.run(click("olga", &["owner"], Verb::Veto)).unwrap_err();
        assert!(matches!(err, DecisionError::VetoClosed { .. }));
        assert!(
            err.to_string()
                .contains("rule `r` does not allow a veto once the action is contained")
        );

        let r = Rule {
            after_execution_veto: AfterExecutionVeto::Rollback,
            ..rule(Mode::Auto)
        };
        let (mut h, _) = H::propose(Some(r), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        let o = h.run(click("olga", &["owner"], Verb::Veto)).unwrap();
        assert_eq!(kinds(&o), vec!["vetoed", "rollback_requested"]);
        assert!(o.effects.contains(&Effect::ExecuteInverse));
        assert_eq!(h.state(), DecisionState::RollingBack);
        assert!(h.d.vetoed);
        h.run(Command::RollbackDone).unwrap();
        assert_eq!(h.state(), DecisionState::RolledBack);
    }

    #[test]
    fn release_by_a_veto_role_rolls_back_a_contained_action() {
        // Without a veto after execution, a veto role may not release.
        let (mut h, _) = H::propose(Some(rule(Mode::Auto)), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        assert!(matches!(
            h.run(click("olga", &["owner"], Verb::Release)),
            Err(DecisionError::NotAuthorised { .. })
        ));
        let r = Rule {
            after_execution_veto: AfterExecutionVeto::Rollback,
            ..rule(Mode::Auto)
        };
        let (mut h, _) = H::propose(Some(r), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        let o = h.run(click("olga", &["owner"], Verb::Release)).unwrap();
        assert!(o.effects.contains(&Effect::ExecuteInverse));
        assert_eq!(h.state(), DecisionState::RollingBack);
        assert!(
            h.run(click("olga", &["owner"], Verb::Release))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn release_of_an_action_without_inverse_is_refused() {
        let r = Rule {
            action: ActionKind::RevokeSessions,
            inverse: None,
            ..rule(Mode::Auto)
        };
        let (mut h, _) = H::propose(Some(r), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        assert_eq!(
            h.run(click("lena", &["lead"], Verb::Release)),
            Err(DecisionError::NoInverse { rule: "r".into() })
        );
    }

    #[test]
    fn a_failed_execution_is_retried_by_an_approver_or_override_role() {
        let (mut h, _) = H::propose(Some(rule(Mode::Auto)), None);
        h.run(Command::ExecutionFailed {
            error: "503".into(),
            permanent: false,
            inverse: false,
        })
        .unwrap();
        assert_eq!(h.state(), DecisionState::Failed);
        assert_eq!(h.d.last_error.as_deref(), Some("503"));
        let err = h.run(click("frank", &["owner"], Verb::Retry)).unwrap_err();
        assert!(err.to_string().contains("only lead, ciso may"), "{err}");
        let o = h.run(click("carol", &["ciso"], Verb::Retry)).unwrap();
        assert_eq!(o.effects, vec![Effect::Execute, Effect::Notify]);
        assert_eq!(h.state(), DecisionState::Executing);
        assert_eq!(h.d.attempts, 2);
    }

    #[test]
    fn a_failed_rollback_is_retried_as_a_rollback() {
        let (mut h, _) = H::propose(Some(rule(Mode::Auto)), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        h.run(click("lena", &["lead"], Verb::Release)).unwrap();
        h.run(Command::ExecutionFailed {
            error: "404".into(),
            permanent: true,
            inverse: true,
        })
        .unwrap();
        assert_eq!(h.state(), DecisionState::Failed);
        let o = h.run(click("alice", &["lead"], Verb::Retry)).unwrap();
        assert!(o.effects.contains(&Effect::ExecuteInverse));
        assert_eq!(h.state(), DecisionState::RollingBack);
    }

    #[test]
    fn illegal_transitions_are_errors() {
        let (mut h, _) = H::propose(Some(approval(1)), None);
        let err = h.run(Command::ExecutionConfirmed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot confirm execution: the decision is pending_approval"
        );
        assert!(matches!(
            h.run(Command::RollbackDone),
            Err(DecisionError::IllegalTransition { .. })
        ));
        assert!(matches!(
            h.run(click("carol", &["ciso"], Verb::Override)),
            Err(DecisionError::IllegalTransition { .. })
        ));
        h.run(click("alice", &["lead"], Verb::Approve)).unwrap();
        assert!(matches!(
            h.run(click("bob", &["lead"], Verb::Deny)),
            Err(DecisionError::IllegalTransition { .. })
        ));
        assert!(matches!(
            h.run(click("bob", &["lead"], Verb::Retry)),
            Err(DecisionError::IllegalTransition { .. })
        ));
    }

    #[test]
    fn the_rule_must_be_the_one_the_decision_was_made_under() {
        let (h, _) = H::propose(Some(rule(Mode::Auto)), None);
        let other = Rule {
            name: "other".into(),
            ..rule(Mode::Auto)
        };
        let err = decide(&h.d, Some(&other), Command::ExecutionConfirmed, t(1)).unwrap_err();
        assert!(matches!(err, DecisionError::RuleMismatch { .. }));
    }

    // --- replay -----------------------------------------------------------

    #[test]
    fn replaying_the_events_rebuilds_the_same_decision_and_events_round_trip_as_json() {
        let r = Rule {
            quorum: 2,
            veto_window: Some(Duration::from_secs(MIN)),
            ..approval(2)
        };
        let (mut h, _) = H::propose(Some(r), Some("bob"));
        h.at(5)
            .run(click("alice", &["lead"], Verb::Approve))
            .unwrap();
        h.at(9)
            .run(click("carol", &["ciso"], Verb::Approve))
            .unwrap();
        h.at(69)
            .run(Command::TimerFired(TimerKind::VetoWindowEnd))
            .unwrap();
        h.at(70).run(Command::ExecutionConfirmed).unwrap();
        let json = serde_json::to_string(&h.events).unwrap();
        assert!(json.contains(r#""type":"quorum_reached""#));
        let back: Vec<DecisionEvent> = serde_json::from_str(&json).unwrap();
        assert_eq!(Decision::replay(DecisionId(1), &back).unwrap(), h.d);
    }

    #[test]
    fn replay_refuses_gaps_and_impossible_histories() {
        let (mut h, _) = H::propose(Some(rule(Mode::Auto)), None);
        h.run(Command::ExecutionConfirmed).unwrap();
        let mut gap = h.events.clone();
        gap.remove(1);
        assert!(matches!(
            Decision::replay(DecisionId(1), &gap),
            Err(DecisionError::OutOfOrder {
                expected: 2,
                got: 3
            })
        ));
        let mut bad = h.events.clone();
        bad[2].kind = EventKind::QuorumReached;
        assert!(matches!(
            Decision::replay(DecisionId(1), &bad),
            Err(DecisionError::InvalidEvent { seq: 3, .. })
        ));
        assert_eq!(
            Decision::replay(DecisionId(1), &[]),
            Err(DecisionError::NoEvents)
        );
    }

    // --- with the example matrix ------------------------------------------

    #[test]
    fn crown_jewel_isolation_needs_two_distinct_people_through_any_identity() {
        let m = Matrix::parse(
            "config/authority.toml",
            include_str!("../../config/authority.toml"),
        )
        .unwrap();
        let mut ctx = ActionContext::new(ActionKind::IsolateHost, Severity::Critical);
        ctx.asset_tier = Some("crown-jewel".into());
        let r = m.rule_for(&ctx).unwrap().clone();
        let act = |platform, id: &str, verb| {
            let actor = Actor {
                platform,
                platform_user_id: id.into(),
                groups: vec![],
            };
            Command::Act {
                actor: ActorRef {
                    person: None,
                    platform,
                    platform_user_id: id.into(),
                    role: None,
                },
                person: m.person_for(&actor),
                roles: m.roles_of(&actor, &ctx),
                verb,
                reason: None,
                subjects: BTreeSet::new(),
                revoked: BTreeSet::new(),
            }
        };
        let (mut h, _) = H::propose(Some(r), Some("bob"));
        // bob proposed: separation of duties
        assert!(matches!(
            h.run(act(Platform::Slack, "U02BOB", Verb::Approve)),
            Err(DecisionError::SeparationOfDuties { .. })
        ));
        h.run(act(Platform::Slack, "U01ALICE", Verb::Approve))
            .unwrap();
        // alice again, from Discord: still one person
        assert!(
            h.run(act(Platform::Discord, "301234567890123456", Verb::Approve))
                .unwrap()
                .is_empty()
        );
        assert_eq!(h.state(), DecisionState::PendingApproval);
        h.run(act(Platform::Discord, "301234567890123999", Verb::Approve))
            .unwrap();
        assert_eq!(h.state(), DecisionState::PendingVeto);
        assert_eq!(
            h.d.approvals
                .iter()
                .map(|a| a.person.0.as_str())
                .collect::<Vec<_>>(),
            vec!["alice", "carol"]
        );
    }

    // --- properties ---------------------------------------------------------

    const ROLES: [&str; 6] = ["lead", "ciso", "esc1", "esc2", "owner", "ops"];
    const PEOPLE: [&str; 5] = ["p0", "p1", "p2", "p3", "p4"];
    /// A user of the incident's alerts: every click of theirs is refused.
    const SUBJECT: &str = "p4";

    #[derive(Debug, Clone)]
    enum Step {
        Click {
            person: Option<usize>,
            roles: Vec<bool>,
            verb: Verb,
        },
        Timer(TimerKind),
        Accept,
        Confirm,
        Fail {
            inverse: bool,
        },
        RollbackDone,
    }

    fn verb() -> impl Strategy<Value = Verb> {
        prop_oneof![
            3 => Just(Verb::Approve),
            1 => Just(Verb::Deny),
            1 => Just(Verb::Veto),
            1 => Just(Verb::Override),
            1 => Just(Verb::Extend),
            1 => Just(Verb::Release),
            1 => Just(Verb::Retry),
        ]
    }

    fn step() -> impl Strategy<Value = (Step, i64)> {
        let s = prop_oneof![
            6 => (proptest::option::weighted(0.9, 0..PEOPLE.len()), proptest::collection::vec(any::<bool>(), ROLES.len()), verb())
                .prop_map(|(person, roles, verb)| Step::Click { person, roles, verb }),
            2 => prop_oneof![Just(TimerKind::VetoWindowEnd), Just(TimerKind::ApprovalTimeout), Just(TimerKind::ContainmentExpiry)].prop_map(Step::Timer),
            1 => Just(Step::Accept),
            1 => Just(Step::Confirm),
            1 => any::<bool>().prop_map(|inverse| Step::Fail { inverse }),
            1 => Just(Step::RollbackDone),
        ];
        (s, 0i64..900)
    }

    fn any_rule() -> impl Strategy<Value = Option<Rule>> {
        (
            prop_oneof![1 => Just(None), 1 => Just(Some(Mode::Auto)), 1 => Just(Some(Mode::VetoWindow)), 3 => Just(Some(Mode::Approval)), 1 => Just(Some(Mode::Forbidden))],
            1u32..=3,
            any::<bool>(),
            prop_oneof![Just(OnTimeout::Escalate), Just(OnTimeout::Expire), Just(OnTimeout::Execute)],
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(mode, quorum, sod, on_timeout, timeout, window, rollback, max)| {
                let mode = mode?;
                let approval = mode == Mode::Approval;
                Some(Rule {
                    approvers: vec!["lead".into(), "ciso".into()],
                    quorum: if approval { quorum } else { 1 },
                    separation_of_duties: approval && sod,
                    timeout: (approval && timeout).then_some(Duration::from_secs(10 * MIN)),
                    on_timeout: if approval { on_timeout } else { OnTimeout::Expire },
                    escalate_to: if approval && on_timeout == OnTimeout::Escalate {
                        vec![vec!["esc1".into()], vec!["esc2".into()]]
                    } else {
                        vec![]
                    },
                    veto_window: match mode {
                        Mode::VetoWindow => Some(Duration::from_secs(3 * MIN)),
                        Mode::Approval if window => Some(Duration::from_secs(2 * MIN)),
                        _ => None,
                    },
                    after_execution_veto: if rollback { AfterExecutionVeto::Rollback } else { AfterExecutionVeto::None },
                    max_duration: max.then_some(Duration::from_secs(60 * MIN)),
                    ..rule(mode)
                })
            })
    }

    fn to_command(s: &Step) -> Command {
        match s {
            Step::Click {
                person,
                roles,
                verb,
            } => Command::Act {
                subjects: [PersonId::from(SUBJECT)].into(),
                revoked: BTreeSet::new(),
                actor: ActorRef {
                    person: None,
                    platform: Platform::Slack,
                    platform_user_id: "U".into(),
                    role: None,
                },
                person: person.map(|i| PersonId::from(PEOPLE[i])),
                roles: ROLES
                    .iter()
                    .zip(roles)
                    .filter(|(_, on)| **on)
                    .map(|(r, _)| r.to_string())
                    .collect(),
                verb: *verb,
                reason: None,
            },
            Step::Timer(k) => Command::TimerFired(*k),
            Step::Accept => Command::ExecutionAccepted { vendor_ref: None },
            Step::Confirm => Command::ExecutionConfirmed,
            Step::Fail { inverse } => Command::ExecutionFailed {
                error: "e".into(),
                permanent: false,
                inverse: *inverse,
            },
            Step::RollbackDone => Command::RollbackDone,
        }
    }

    /// Walks a history and asserts the safety properties on it.
    fn assert_safe(rule: Option<&Rule>, proposer: Option<&PersonId>, events: &[DecisionEvent]) {
        let mut approvers: BTreeSet<PersonId> = BTreeSet::new();
        let mut by_timeout = false;
        let mut stopped: Option<Option<PersonId>> = None; // a veto or denial stands, by whom
        let mut step = 0;
        for e in events {
            let actor = e.actor.as_ref();
            let role = actor.and_then(|a| a.role.clone());
            if let Some(a) = actor.filter(|a| a.platform != Platform::System) {
                let person = a
                    .person
                    .as_ref()
                    .expect("a human event without a named person");
                let stop = matches!(
                    e.kind,
                    EventKind::Denied { .. }
                        | EventKind::Vetoed { .. }
                        | EventKind::RollbackRequested { .. }
                );
                assert!(
                    !(stop && person.0 == SUBJECT),
                    "a subject of the incident stopped it"
                );
            }
            match &e.kind {
                EventKind::Approved { .. } => {
                    let (rule, person) = (rule.unwrap(), actor.unwrap().person.clone().unwrap());
                    if rule.separation_of_duties {
                        assert_ne!(Some(&person), proposer, "the proposer approved");
                    }
                    assert!(rule.approver_roles(step).contains(&role.unwrap()));
                    assert!(approvers.insert(person), "one person counted twice");
                }
                EventKind::Escalated { step: s, .. } => step = *s,
                EventKind::TimeoutExecute => {
                    assert_eq!(rule.unwrap().on_timeout, OnTimeout::Execute);
                    by_timeout = true;
                }
                EventKind::Vetoed { .. } | EventKind::Denied { .. } => {
                    stopped = Some(actor.and_then(|a| a.person.clone()));
                }
                EventKind::Overridden { .. } => {
                    let rule = rule.unwrap();
                    assert!(rule.override_roles.contains(&role.unwrap()));
                    let person = actor.unwrap().person.clone();
                    assert!(person.is_some());
                    assert_ne!(stopped.take().flatten(), person, "overrode their own stop");
                    if rule.separation_of_duties {
                        assert_ne!(person.as_ref(), proposer, "the proposer overrode");
                    }
                }
                EventKind::ExecutionRequested => {
                    let rule = rule.expect("a decision without a rule executed");
                    assert_ne!(rule.mode, Mode::Forbidden, "a forbidden decision executed");
                    assert!(
                        stopped.is_none(),
                        "executed after a veto or denial without an override"
                    );
                    // An override never stands in for the quorum.
                    if rule.mode == Mode::Approval {
                        assert!(
                            approvers.len() >= rule.quorum as usize || by_timeout,
                            "executed with {} of {} approvals",
                            approvers.len(),
                            rule.quorum
                        );
                    }
                }
                _ => {}
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_clicks_and_timers_never_break_the_safety_properties(
            rule in any_rule(),
            proposer in proptest::option::of(0..PEOPLE.len()),
            steps in proptest::collection::vec(step(), 0..40),
            detect_skew in -120i64..120,
        ) {
            let proposer = proposer.map(|i| PersonId::from(PEOPLE[i]));
            let mut d = Decision::new(DecisionId(7));
            let mut events = Vec::new();
            let mut now = t(0);
            let o = decide(&d, rule.as_ref(), Command::Propose { proposer: proposer.clone(), actor: None, matrix_hash: "h".into(), guard: None }, now).unwrap();
            events.extend(d.record(&o, now).unwrap());
            for (s, advance) in &steps {
                now += chrono::Duration::seconds(*advance);
                let before = d.clone();
                match decide(&d, rule.as_ref(), to_command(s), now) {
                    Ok(o) => {
                        // Execute is requested exactly when execution starts.
                        let starts = o.events.iter().any(|k| matches!(k, EventKind::ExecutionRequested))
                            || (o.events.contains(&EventKind::Retried) && !before.rolling_back);
                        prop_assert_eq!(o.effects.contains(&Effect::Execute), starts);
                        events.extend(d.record(&o, now).unwrap());
                    }
                    Err(_) => prop_assert_eq!(&d, &before),
                }
                if rule.is_none() || rule.as_ref().is_some_and(|r| r.mode == Mode::Forbidden) {
                    prop_assert_eq!(d.state, DecisionState::Forbidden);
                }
                if let Some(r) = &rule && r.separation_of_duties {
                    prop_assert!(d.approvals.iter().all(|a| Some(&a.person) != proposer.as_ref()));
                }
            }
            assert_safe(rule.as_ref(), proposer.as_ref(), &events);
            prop_assert_eq!(&Decision::replay(DecisionId(7), &events).unwrap(), &d);

            let received = t(0) - chrono::Duration::seconds(5);
            let detected = received - chrono::Duration::seconds(detect_skew);
            let figures = ClockFigures::compute(Some(detected), received, Some(t(1)), &events);
            for v in figures.values().into_iter().flatten() {
                prop_assert!(v >= 0);
            }
        }
    }
}
