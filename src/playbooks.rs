//! TEMPORARY stand-in with the agreed API; replaced by the enrich branch at merge.
use crate::domain::{ActionKind, ActionTarget, NewAlert};
#[derive(Debug, Clone, Default)]
pub struct Playbooks;
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub playbook: String,
    pub action: ActionKind,
    pub target: ActionTarget,
}
impl Playbooks {
    pub fn parse(_: &str, _: &str) -> Result<Playbooks, String> {
        Ok(Playbooks)
    }
    pub fn propose(&self, _: &NewAlert) -> Vec<Proposal> {
        vec![]
    }
}
