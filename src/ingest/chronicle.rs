//! Google SecOps (Chronicle) rule detections (`type: RULE_DETECTION`), one
//! detection with its UDM `event` (as Elastic's integration flattens it) or
//! the API's `detection[]` / `collectionElements[].references[].event`.

use super::IngestError;
use super::common::{self, blank, first, join, s, word_severity};
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

pub(crate) fn looks_like(v: &Value) -> bool {
    s(v, "type").is_some_and(|t| t == "RULE_DETECTION" || t == "GCTI_FINDING")
        || common::get(v, "detection.ruleName").is_some()
        || common::get(v, "detection.0.ruleName").is_some()
        || common::items(v, "detections")
            .first()
            .is_some_and(looks_like)
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    if let Some(Value::Array(ds)) = v.get("detections") {
        for (i, d) in ds.iter().enumerate() {
            out.push(one(d, &join(prefix, &format!("detections[{i}]")))?);
        }
        return Ok(());
    }
    out.push(one(v, prefix)?);
    Ok(())
}

/// The first UDM event of the detection.
fn event(v: &Value) -> Option<&Value> {
    v.get("event")
        .or_else(|| common::get(v, "collectionElements.0.references.0.event"))
}

fn one(v: &Value, path: &str) -> Result<NewAlert, IngestError> {
    // `detection` is an object in the flattened form, an array in the API.
    let d = match v.get("detection") {
        Some(Value::Array(a)) => a.first().unwrap_or(&Value::Null),
        Some(o) => o,
        None => &Value::Null,
    };
    let dp = join(
        path,
        if v.get("detection").is_some_and(Value::is_array) {
            "detection[0]"
        } else {
            "detection"
        },
    );
    let title = s(d, "ruleName").ok_or_else(|| {
        common::missing(
            &dp,
            "ruleName",
            "the rule name",
            "Chronicle detections carry `detection.ruleName`",
        )
    })?;
    let mut alert = blank("chronicle", title.clone(), v);
    alert.description = s(d, "description");
    // Rule label `severity` first (the rule author's word), then the risk
    // score (Elastic's 0–100 bands), then the event's securityResult.
    let label = common::items(d, "ruleLabels")
        .iter()
        .find(|l| s(l, "key").is_some_and(|k| k.eq_ignore_ascii_case("severity")))
        .and_then(|l| s(l, "value"));
    let risk = common::num(d, "riskScore");
    let ev = event(v);
    let sr = ev.and_then(|e| first(e, &["securityResult.0.severity"]));
    alert.severity = label
        .as_deref()
        .and_then(word_severity)
        .or(risk.map(common::risk_score_severity))
        .or(sr.as_deref().and_then(word_severity))
        .unwrap_or(Severity::Medium);
    alert.source_severity = label.or(s(d, "riskScore")).or(sr);
    alert.detected_at = common::first_time(v, &["detectionTime", "createdTime"]);
    alert.source_id = s(v, "id");
    alert.fingerprint = common::fingerprint(
        "chronicle",
        &[
            alert.source_id.as_deref().unwrap_or(&title),
            &s(d, "ruleId").unwrap_or_default(),
        ],
    );
    if let Some(e) = ev {
        let o = &mut alert.observables;
        for p in [
            "principal.hostname",
            "principal.asset.hostname",
            "target.hostname",
            "target.asset.hostname",
        ] {
            if let Some(h) = s(e, p) {
                Observables::push(&mut o.hosts, h);
            }
        }
        for p in [
            "principal.user.userid",
            "target.user.userid",
            "principal.user.emailAddresses.0",
        ] {
            if let Some(u) = s(e, p) {
                Observables::push(&mut o.users, u);
            }
        }
        for p in ["principal.ip", "src.ip"] {
            for ip in common::texts(e, p) {
                Observables::push(&mut o.source_ips, ip);
            }
        }
        for p in ["target.ip", "principal.asset.ip"] {
            for ip in common::texts(e, p) {
                Observables::push(&mut o.ips, ip);
            }
        }
        for p in ["target.file.sha256", "principal.process.file.sha256"] {
            if let Some(h) = s(e, p) {
                Observables::push(&mut o.file_hashes, h);
            }
        }
    }
    if let Some(id) = s(d, "ruleId") {
        Observables::push(&mut alert.tags, id.clone());
        alert.rule = Some(id);
    }
    Ok(alert)
}
