//! The generic JSON format: any tool, with the field paths given in config
//! (`cordon.toml [ingest.generic]`). Each field takes one path or a list of
//! candidate paths (first that yields a value wins); a path is dotted
//! (`alert.host.name`, flat dotted keys found too) or a JSON pointer
//! (`/alert/host/name`).

use super::IngestError;
use super::common::{self, blank, word_severity};
use crate::domain::{NewAlert, Observables, Severity};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One path or a list of candidate paths.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "OneOrMany")]
pub struct Paths(pub Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl From<OneOrMany> for Paths {
    fn from(v: OneOrMany) -> Self {
        match v {
            OneOrMany::One(s) => Paths(vec![s]),
            OneOrMany::Many(v) => Paths(v),
        }
    }
}

impl Paths {
    fn of(paths: &[&str]) -> Self {
        Paths(paths.iter().map(|s| (*s).to_owned()).collect())
    }
}

/// Where the generic parser finds each field. Unknown keys are refused so
/// that a typo in config is caught at load time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenericMapping {
    /// Mandatory in every record: a record without a title is refused.
    /// Default `title`, `name`, `summary`.
    pub title: Paths,
    /// Default `severity`, `priority`; mapped through `severity_map`, then
    /// the shared words; absent or unknown → medium.
    pub severity: Paths,
    /// Default `description`, `message`.
    pub description: Paths,
    /// RFC 3339 or epoch (s/ms/µs/ns). Default `timestamp`, `@timestamp`, `time`.
    pub detected_at: Paths,
    /// The tool's own id, for dedup. Default `id`.
    pub source_id: Paths,
    /// Strings or arrays of strings. Default `host`, `hostname`.
    pub hosts: Paths,
    /// Default `user`, `username`.
    pub users: Paths,
    /// Remote / attacker addresses. Default `src_ip`, `source_ip`.
    pub source_ips: Paths,
    /// Default `tags`.
    pub tags: Paths,
    /// The tool's severity values → cordon's (`{"P1" = "critical"}`), matched
    /// case-insensitively before the built-in words (critical, high, warning…).
    pub severity_map: BTreeMap<String, Severity>,
}

impl Default for GenericMapping {
    fn default() -> Self {
        GenericMapping {
            title: Paths::of(&["title", "name", "summary"]),
            severity: Paths::of(&["severity", "priority"]),
            description: Paths::of(&["description", "message"]),
            detected_at: Paths::of(&["timestamp", "@timestamp", "time"]),
            source_id: Paths::of(&["id"]),
            hosts: Paths::of(&["host", "hostname"]),
            users: Paths::of(&["user", "username"]),
            source_ips: Paths::of(&["src_ip", "source_ip"]),
            tags: Paths::of(&["tags"]),
            severity_map: BTreeMap::new(),
        }
    }
}

fn first(v: &Value, p: &Paths) -> Option<String> {
    p.0.iter().find_map(|path| common::s(v, path))
}

fn all(v: &Value, p: &Paths) -> Vec<String> {
    p.0.iter().flat_map(|path| common::texts(v, path)).collect()
}

pub(crate) fn parse(
    v: &Value,
    prefix: &str,
    m: &GenericMapping,
    out: &mut Vec<NewAlert>,
) -> Result<(), IngestError> {
    let title = first(v, &m.title).ok_or_else(|| {
        IngestError::new(
            common::join(prefix, m.title.0.first().map(String::as_str).unwrap_or("title")),
            "the alert title is missing",
            format!(
                "the generic format reads the title from {:?}; send it there or set [ingest.generic] title",
                m.title.0
            ),
        )
    })?;
    let mut alert = blank("generic", title, v);
    if let Some(w) = first(v, &m.severity) {
        let mapped = m
            .severity_map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&w))
            .map(|(_, s)| *s);
        alert.severity = mapped
            .or_else(|| word_severity(&w))
            .unwrap_or(Severity::Medium);
        alert.source_severity = Some(w);
    }
    alert.description = first(v, &m.description);
    alert.detected_at = m.detected_at.0.iter().find_map(|p| common::time_at(v, p));
    alert.source_id = first(v, &m.source_id);
    let o = &mut alert.observables;
    for h in all(v, &m.hosts) {
        Observables::push(&mut o.hosts, h);
    }
    for u in all(v, &m.users) {
        Observables::push(&mut o.users, u);
    }
    for ip in all(v, &m.source_ips) {
        Observables::push(&mut o.source_ips, ip);
    }
    for t in all(v, &m.tags) {
        Observables::push(&mut alert.tags, t);
    }
    let hosts = alert.observables.hosts.join(",");
    alert.fingerprint = match &alert.source_id {
        Some(id) => common::fingerprint("generic", &[id]),
        None => common::fingerprint(
            "generic",
            &[&alert.title, &hosts, &alert.observables.users.join(",")],
        ),
    };
    out.push(alert);
    Ok(())
}
