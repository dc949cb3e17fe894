//! cordon — chat-ops containment for security incident response.
//!
//! A tour, following one alert:
//!
//! 1. [`http`] receives `POST /v1/alerts/{format}`, authenticates the sending
//!    tool (JWT) and hands the raw bytes to [`ingest`], which turns each format
//!    into [`domain::NewAlert`]s.
//! 2. [`engine`] commits the alerts through [`store`] (the `202` is sent only
//!    after the commit), correlates them into incidents, asks [`enrich`] about
//!    the hosts and users involved, runs the playbooks, and for every proposed
//!    action asks the authority matrix ([`domain::matrix`]) which path applies.
//! 3. The decision state machine ([`domain::decision`]) moves each proposed
//!    action along that path. Its effects (post a message, start a timer, call
//!    a vendor) are rows first — jobs and timers in the store — and actions
//!    second, so a crash at any moment resumes from the database.
//! 4. [`chat`] shows the decision in Slack, Discord and the web console and
//!    turns button clicks back into `engine::act` calls; [`executors`] call
//!    the vendor APIs.
//! 5. Every transition is an event with a timestamp; [`report`] turns the
//!    events into time-to-contain and MTTR figures.
//!
//! `domain` is pure (no I/O, no clock reads). [`app`] is the only place that
//! names concrete adapters (and [`bench`], the performance harness, which
//! composes the app the same way).

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod app;
pub mod bench;
pub mod chat;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod enrich;
pub mod executors;
pub mod http;
pub mod ingest;
pub mod playbooks;
pub mod replay;
pub mod report;
pub mod store;
pub mod templates;
pub mod web;
