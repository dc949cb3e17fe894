//! The pure core of cordon: alerts, incidents, actions, the authority matrix,
//! the decision state machine, clock figures and the audit chain.
//!
//! Nothing in here performs I/O or reads the clock. Time is always an argument
//! (`now: Timestamp`), so every rule can be tested with pinned times and every
//! decision replayed exactly. Adapters (`store`, `http`, `chat`, `executors`,
//! `ingest`, `enrich`) depend on this module; it depends on none of them.

pub mod action;
pub mod alert;
pub mod audit;
pub mod clock;
pub mod decision;
pub mod ids;
pub mod matrix;
pub mod severity;
pub mod time;

pub use action::{ActionKind, ActionTarget};
pub use alert::{NewAlert, Observables};
pub use ids::{AlertId, DecisionId, IncidentId, PersonId};
pub use matrix::{ActionContext, Actor, Matrix, MatrixError, MatrixErrors, Mode, Platform, Rule};
pub use severity::Severity;
pub use time::Timestamp;
