mod common;
#[path = "adversary/connector_ids.rs"]
mod connector_ids;
