//! Microsoft Sentinel incidents (ARM `Microsoft.SecurityInsights/incidents`),
//! alone, as an ARM list (`value[]`), or inside an `x-ms-examples` document
//! (`responses.200.body`). Also accepts Sentinel alerts (`alertDisplayName`).
//!
//! The incident object names no host or user: `properties.owner` is the
//! analyst the incident is assigned to and is deliberately NOT reported as a
//! user observable (a playbook must never disable the responder's account).

use super::IngestError;
use super::common::{self, blank, first, join, s};
use crate::domain::alert::AlertStatus;
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

fn is_incident(v: &Value) -> bool {
    s(v, "type").is_some_and(|t| t.starts_with("Microsoft.SecurityInsights/"))
        || common::get(v, "properties.incidentNumber").is_some()
        || common::get(v, "properties.alertDisplayName").is_some()
}

pub(crate) fn looks_like(v: &Value) -> bool {
    is_incident(v)
        || common::get(v, "responses.200.body").is_some_and(is_incident)
        || common::items(v, "value").first().is_some_and(is_incident)
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    if let Some(body) = common::get(v, "responses.200.body") {
        return parse(body, &join(prefix, "responses.200.body"), out);
    }
    if let Some(Value::Array(items)) = v.get("value") {
        for (i, a) in items.iter().enumerate() {
            out.push(one(a, &join(prefix, &format!("value[{i}]")))?);
        }
        return Ok(());
    }
    out.push(one(v, prefix)?);
    Ok(())
}

fn one(i: &Value, path: &str) -> Result<NewAlert, IngestError> {
    let p = i.get("properties").unwrap_or(i);
    let pp = join(
        path,
        if i.get("properties").is_some() {
            "properties"
        } else {
            ""
        },
    );
    let title = first(p, &["title", "alertDisplayName"]).ok_or_else(|| {
        common::missing(
            &pp,
            "title",
            "the incident title",
            "Sentinel incidents carry `properties.title`",
        )
    })?;
    let mut alert = blank("sentinel", title, i);
    alert.description = s(p, "description");
    // Informational/Low/Medium/High map one to one.
    if let Some(w) = s(p, "severity") {
        alert.severity = common::word_severity(&w).unwrap_or(Severity::Medium);
        alert.source_severity = Some(w);
    }
    alert.detected_at = common::first_time(
        p,
        &[
            "createdTimeUtc",
            "firstActivityTimeUtc",
            "startTimeUtc",
            "timeGenerated",
        ],
    );
    alert.source_id = s(i, "name").or_else(|| s(p, "systemAlertId"));
    alert.fingerprint = common::fingerprint(
        "sentinel",
        &[
            &s(i, "id").unwrap_or_default(),
            alert.source_id.as_deref().unwrap_or(&alert.title),
        ],
    );
    if s(p, "status")
        .is_some_and(|st| st.eq_ignore_ascii_case("closed") || st.eq_ignore_ascii_case("resolved"))
    {
        alert.status = AlertStatus::Resolved;
    }
    if let Some(n) = s(p, "incidentNumber") {
        Observables::push(&mut alert.tags, format!("incident:{n}"));
    }
    for t in common::texts(p, "additionalData.tactics")
        .into_iter()
        .chain(common::texts(p, "additionalData.techniques"))
    {
        Observables::push(&mut alert.tags, t);
    }
    for l in common::items(p, "labels") {
        if let Some(n) = s(l, "labelName") {
            Observables::push(&mut alert.tags, n);
        }
    }
    if let Some(r) = s(p, "relatedAnalyticRuleIds.0") {
        alert.rule = Some(r.rsplit('/').next().unwrap_or(&r).to_owned());
    }
    Ok(alert)
}
