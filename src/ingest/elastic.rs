//! Elastic Security detection alerts (`kibana.alert.*` fields), as a Kibana
//! rule action sends them, as search hits (`hits.hits[]._source`) or as
//! es_archiver records (`value.source`). Keys mix flat dotted names and
//! nested ECS objects; `common::get` reads both.

use super::IngestError;
use super::common::{self, blank, first, join, s, word_severity};
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

fn source(v: &Value) -> (&Value, &'static str) {
    if let Some(src) = common::get(v, "value.source") {
        return (src, "value.source");
    }
    if let Some(src) = v.get("_source") {
        return (src, "_source");
    }
    (v, "")
}

pub(crate) fn looks_like(v: &Value) -> bool {
    if let Some(Value::Array(hits)) = common::get(v, "hits.hits") {
        return hits.first().is_some_and(looks_like);
    }
    let (src, _) = source(v);
    common::get(src, "kibana.alert.rule.name").is_some()
        || common::get(src, "signal.rule.name").is_some()
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    if let Some(Value::Array(hits)) = common::get(v, "hits.hits") {
        for (i, h) in hits.iter().enumerate() {
            let src = h.get("_source").unwrap_or(h);
            out.push(one(
                src,
                &join(prefix, &format!("hits.hits[{i}]._source")),
                h,
            )?);
        }
        return Ok(());
    }
    let (src, sub) = source(v);
    out.push(one(src, &join(prefix, sub), v)?);
    Ok(())
}

fn one(a: &Value, path: &str, envelope: &Value) -> Result<NewAlert, IngestError> {
    let title = first(a, &["kibana.alert.rule.name", "signal.rule.name"]).ok_or_else(|| {
        common::missing(
            path,
            "kibana.alert.rule.name",
            "the rule name",
            "Elastic Security alerts carry `kibana.alert.rule.name`",
        )
    })?;
    let mut alert = blank("elastic", title.clone(), a);
    alert.description = first(a, &["kibana.alert.reason", "kibana.alert.rule.description"]);
    let risk =
        common::num(a, "kibana.alert.risk_score").or(common::num(a, "signal.rule.risk_score"));
    let word = first(a, &["kibana.alert.severity", "signal.rule.severity"]);
    // The alert's own severity word is authoritative; the risk score is the
    // fallback (Elastic's default bands: 21 low, 47 medium, 73 high, 99 critical).
    alert.severity = word
        .as_deref()
        .and_then(word_severity)
        .or(risk.map(common::risk_score_severity))
        .unwrap_or(Severity::Medium);
    alert.source_severity = match (&word, s(a, "kibana.alert.risk_score")) {
        (Some(w), Some(r)) => Some(format!("{w}/{r}")),
        (w, r) => w.clone().or(r),
    };
    alert.detected_at = common::first_time(
        a,
        &[
            "kibana.alert.original_time",
            "signal.original_time",
            "@timestamp",
            "kibana.alert.start",
        ],
    );
    alert.source_id =
        first(a, &["kibana.alert.uuid"]).or_else(|| first(envelope, &["value.id", "_id"]));
    alert.fingerprint = match &alert.source_id {
        Some(id) => common::fingerprint("elastic", &[id]),
        None => common::fingerprint(
            "elastic",
            &[
                &s(a, "kibana.alert.rule.uuid").unwrap_or_default(),
                &s(a, "host.name").unwrap_or_default(),
                &s(a, "user.name").unwrap_or_default(),
                &alert.title,
            ],
        ),
    };
    if let Some(st) = first(a, &["kibana.alert.workflow_status"])
        && st == "closed"
    {
        alert.status = crate::domain::alert::AlertStatus::Resolved;
    }
    let o = &mut alert.observables;
    for p in ["host.name", "host.hostname"] {
        if let Some(h) = s(a, p) {
            Observables::push(&mut o.hosts, h);
        }
    }
    for p in ["user.name", "user.target.name"] {
        if let Some(u) = s(a, p) {
            Observables::push(&mut o.users, u);
        }
    }
    for ip in common::texts(a, "source.ip") {
        Observables::push(&mut o.source_ips, ip);
    }
    for p in ["host.ip", "destination.ip"] {
        for ip in common::texts(a, p) {
            Observables::push(&mut o.ips, ip);
        }
    }
    for p in ["destination.domain", "dns.question.name", "url.domain"] {
        if let Some(d) = s(a, p) {
            Observables::push(&mut o.domains, d);
        }
    }
    for p in ["file.hash.sha256", "process.hash.sha256", "file.hash.md5"] {
        if let Some(h) = s(a, p) {
            Observables::push(&mut o.file_hashes, h);
        }
    }
    if let Some(id) = s(a, "cloud.instance.id") {
        Observables::push(&mut o.cloud_resources, id);
    }
    for t in common::items(a, "kibana.alert.rule.threat") {
        for tech in common::items(t, "technique") {
            if let Some(id) = s(tech, "id") {
                Observables::push(&mut alert.tags, id);
            }
        }
    }
    for t in common::texts(a, "kibana.alert.rule.tags") {
        Observables::push(&mut alert.tags, t);
    }
    if s(a, "kibana.alert.building_block_type").is_some() {
        Observables::push(&mut alert.tags, "building_block");
    }
    alert.rule = first(a, &["kibana.alert.rule.rule_id", "kibana.alert.rule.uuid"]).or(Some(title));
    Ok(alert)
}
