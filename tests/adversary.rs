mod common;
#[path = "adversary/edge.rs"]
mod edge;
