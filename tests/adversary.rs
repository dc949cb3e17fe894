//! Issue 13: one test per attack on cordon's authority, each failing on the
//! code before its defence. Real HTTP against a cordon on port 0, signed
//! Slack and Discord requests, fake platforms and vendors that record
//! every request. One module per area; `docs/threat-model.md` names them.

mod common;

#[path = "adversary/authority.rs"]
mod authority;
#[path = "adversary/chat.rs"]
mod chat;
#[path = "adversary/connector_ids.rs"]
mod connector_ids;
#[path = "adversary/edge.rs"]
mod edge;
#[path = "adversary/redteam.rs"]
mod redteam;
#[path = "adversary/support.rs"]
mod support;
