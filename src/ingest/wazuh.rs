//! Wazuh alerts: one line of `alerts.json`, what integratord posts, or the
//! same alert as an indexer hit (`_source`).

use super::IngestError;
use super::common::{self, blank, first, join, s};
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

pub(crate) fn looks_like(v: &Value) -> bool {
    if let Some(first) = common::items(v, "hits.hits").first() {
        return looks_like(first);
    }
    let src = v.get("_source").unwrap_or(v);
    common::get(src, "rule.level").is_some() && common::get(src, "rule.description").is_some()
}

/// `rule.level` 0–15 in the Wazuh dashboard's bands: 0–3 informational
/// (ignored / successful events), 4–6 low, 7–11 medium, 12–14 high, 15 critical.
pub(crate) fn severity(level: f64) -> Severity {
    if level >= 15.0 {
        Severity::Critical
    } else if level >= 12.0 {
        Severity::High
    } else if level >= 7.0 {
        Severity::Medium
    } else if level >= 4.0 {
        Severity::Low
    } else {
        Severity::Info
    }
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    if let Some(Value::Array(hits)) = common::get(v, "hits.hits") {
        for (i, h) in hits.iter().enumerate() {
            let p = join(prefix, &format!("hits.hits[{i}]._source"));
            out.push(one(h.get("_source").unwrap_or(h), &p)?);
        }
        return Ok(());
    }
    match v.get("_source") {
        Some(src) => out.push(one(src, &join(prefix, "_source"))?),
        None => out.push(one(v, prefix)?),
    }
    Ok(())
}

fn one(a: &Value, path: &str) -> Result<NewAlert, IngestError> {
    let description = s(a, "rule.description").ok_or_else(|| {
        common::missing(
            path,
            "rule.description",
            "the rule description",
            "a Wazuh alert names the rule that fired in `rule.description`",
        )
    })?;
    let rule_id = s(a, "rule.id");
    // The README and analysts know these alerts as "5712 sshd: brute force…".
    let title = match &rule_id {
        Some(id) => format!("{id} {description}"),
        None => description.clone(),
    };
    let mut alert = blank("wazuh", title, a);
    alert.description = s(a, "full_log");
    match common::num(a, "rule.level") {
        Some(level) => {
            alert.severity = severity(level);
            alert.source_severity = s(a, "rule.level");
        }
        None => {
            return Err(common::missing(
                path,
                "rule.level",
                "the rule level",
                "Wazuh alerts carry `rule.level` (0-15)",
            ));
        }
    }
    alert.detected_at = common::first_time(a, &["timestamp", "@timestamp"]);
    alert.source_id = s(a, "id");
    let manager = first(a, &["manager.name", "cluster.node"]).unwrap_or_default();
    alert.fingerprint = match &alert.source_id {
        Some(id) => common::fingerprint("wazuh", &[&manager, id]),
        None => common::fingerprint(
            "wazuh",
            &[
                &manager,
                rule_id.as_deref().unwrap_or(""),
                &s(a, "agent.name").unwrap_or_default(),
                &s(a, "full_log").unwrap_or_default(),
            ],
        ),
    };
    let o = &mut alert.observables;
    if let Some(h) = s(a, "agent.name") {
        Observables::push(&mut o.hosts, h);
    } else if let Some(h) = s(a, "predecoder.hostname") {
        Observables::push(&mut o.hosts, h);
    }
    for p in ["data.dstuser", "data.srcuser", "data.user"] {
        if let Some(u) = s(a, p) {
            Observables::push(&mut o.users, u);
        }
    }
    if let Some(ip) = s(a, "data.srcip") {
        Observables::push(&mut o.source_ips, ip);
    }
    for p in ["agent.ip", "data.dstip"] {
        if let Some(ip) = s(a, p) {
            Observables::push(&mut o.ips, ip);
        }
    }
    for p in ["syscheck.sha256_after", "syscheck.md5_after"] {
        if let Some(h) = s(a, p) {
            Observables::push(&mut o.file_hashes, h);
        }
    }
    if let Some(id) = &rule_id {
        Observables::push(&mut alert.tags, format!("wazuh:{id}"));
    }
    for t in common::texts(a, "rule.mitre.id")
        .into_iter()
        .chain(common::texts(a, "rule.groups"))
    {
        Observables::push(&mut alert.tags, t);
    }
    alert.rule = rule_id.or(Some(description));
    Ok(alert)
}
