//! Prometheus Alertmanager webhook (`version: "4"`): one POST carries a group
//! of alerts in `alerts[]`. Labels are free-form; the severity label is
//! whatever the rule authors chose.

use super::IngestError;
use super::common::{self, blank, join, s, strip_port, word_severity};
use crate::domain::alert::AlertStatus;
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

pub(crate) fn looks_like(v: &Value) -> bool {
    v.get("alerts").is_some_and(Value::is_array)
        && (v.get("receiver").is_some()
            || v.get("groupKey").is_some()
            || v.get("commonLabels").is_some())
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    match v.get("alerts") {
        Some(Value::Array(alerts)) => {
            for (i, a) in alerts.iter().enumerate() {
                out.push(one(a, v, &join(prefix, &format!("alerts[{i}]")))?);
            }
            Ok(())
        }
        Some(_) => Err(IngestError::new(
            join(prefix, "alerts"),
            "`alerts` is not an array",
            "an Alertmanager webhook body carries its alerts in `alerts: [...]`",
        )),
        // A single alert posted on its own (as in `alerts[i]`).
        None if v.get("labels").is_some() => {
            out.push(one(v, &Value::Null, prefix)?);
            Ok(())
        }
        None => Err(IngestError::new(
            join(prefix, "alerts"),
            "`alerts` is missing",
            "send the Alertmanager webhook body unchanged (webhook_config receiver)",
        )),
    }
}

fn one(a: &Value, group: &Value, path: &str) -> Result<NewAlert, IngestError> {
    let label =
        |k: &str| s(a, &format!("labels.{k}")).or_else(|| s(group, &format!("commonLabels.{k}")));
    let annotation = |k: &str| {
        s(a, &format!("annotations.{k}")).or_else(|| s(group, &format!("commonAnnotations.{k}")))
    };
    let title = label("alertname").ok_or_else(|| {
        common::missing(
            path,
            "labels.alertname",
            "the alert name",
            "every Prometheus alert carries an `alertname` label",
        )
    })?;
    let mut alert = blank("alertmanager", title, a);

    // Dedup: Alertmanager's own fingerprint when present, else the sorted
    // label set (never status or times: a resolve must match its firing).
    let mut labels: Vec<(String, String)> = match a.get("labels") {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| common::text(Some(v)).map(|t| (k.clone(), t)))
            .collect(),
        _ => Vec::new(),
    };
    labels.sort();
    let flat: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let parts: Vec<&str> = flat.iter().map(String::as_str).collect();
    alert.fingerprint = common::fingerprint("alertmanager", &parts);
    alert.source_id = s(a, "fingerprint");

    if let Some(sev) = label("severity") {
        alert.severity = word_severity(&sev).unwrap_or(Severity::Medium);
        alert.source_severity = Some(sev);
    }
    alert.description = annotation("description")
        .or_else(|| annotation("summary"))
        .or_else(|| label("summary"));
    alert.detected_at = common::time_at(a, "startsAt");
    let status = s(a, "status").or_else(|| s(group, "status"));
    if status.as_deref() == Some("resolved") {
        alert.status = AlertStatus::Resolved;
    }
    for k in ["instance", "host", "hostname", "node", "nodename", "alias"] {
        if let Some(h) = label(k) {
            Observables::push(&mut alert.observables.hosts, strip_port(&h));
        }
    }
    for k in ["user", "username"] {
        if let Some(u) = label(k) {
            Observables::push(&mut alert.observables.users, u);
        }
    }
    for k in ["src_ip", "source_ip"] {
        if let Some(ip) = label(k) {
            Observables::push(&mut alert.observables.source_ips, ip);
        }
    }
    alert.rule = Some(alert.title.clone());
    for k in ["job", "tags"] {
        if let Some(t) = label(k) {
            for part in t.split(',') {
                Observables::push(&mut alert.tags, part);
            }
        }
    }
    Ok(alert)
}
