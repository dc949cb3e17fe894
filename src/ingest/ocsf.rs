//! OCSF Detection Finding (class 2004) and the older Security Finding (2001).
//! Producers drift (`classname` vs `class_name`, captions with stray spaces,
//! `time` in seconds or milliseconds), so everything is read leniently.

use super::IngestError;
use super::common::{self, blank, first, s, word_severity};
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

pub(crate) fn looks_like(v: &Value) -> bool {
    v.get("class_uid").is_some_and(Value::is_number)
        && (v.get("finding_info").is_some()
            || v.get("finding").is_some()
            || v.get("severity_id").is_some()
            || v.get("category_uid").is_some())
}

/// `severity_id`: 1 informational, 2 low, 3 medium, 4 high, 5 critical,
/// 6 fatal → critical; 0 unknown / 99 other → the caption, else medium.
pub(crate) fn severity(id: Option<f64>, caption: Option<&str>) -> Severity {
    match id.map(|n| n as i64) {
        Some(1) => Severity::Info,
        Some(2) => Severity::Low,
        Some(3) => Severity::Medium,
        Some(4) => Severity::High,
        Some(5) | Some(6) => Severity::Critical,
        _ => caption.and_then(word_severity).unwrap_or(Severity::Medium),
    }
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    let title = first(v, &["finding_info.title", "finding.title", "message"]).ok_or_else(|| {
        common::missing(
            prefix,
            "finding_info.title",
            "the finding title",
            "OCSF findings carry `finding_info.title` (class 2004) or `finding.title` (2001)",
        )
    })?;
    let mut alert = blank("ocsf", title, v);
    alert.description = first(v, &["finding_info.desc", "finding.desc", "desc"]);
    let caption = s(v, "severity");
    alert.severity = severity(common::num(v, "severity_id"), caption.as_deref());
    alert.source_severity = match (s(v, "severity_id"), &caption) {
        (Some(id), Some(c)) => Some(format!("{id}/{c}")),
        (id, c) => id.or(c.clone()),
    };
    alert.detected_at = common::first_time(
        v,
        &[
            "time_dt",
            "time",
            "finding_info.created_time",
            "finding.created_time",
        ],
    );
    alert.source_id = first(v, &["finding_info.uid", "finding.uid", "metadata.uid"]);
    alert.fingerprint = match &alert.source_id {
        Some(id) => common::fingerprint("ocsf", &[id]),
        None => common::fingerprint(
            "ocsf",
            &[
                &alert.title,
                &s(v, "class_uid").unwrap_or_default(),
                &s(v, "resources.0.uid").unwrap_or_default(),
                &s(v, "device.hostname").unwrap_or_default(),
            ],
        ),
    };
    if let Some(st) = first(v, &["status", "status_code"])
        && st.eq_ignore_ascii_case("resolved")
    {
        alert.status = crate::domain::alert::AlertStatus::Resolved;
    }
    let o = &mut alert.observables;
    for p in ["device.hostname", "device.name"] {
        if let Some(h) = s(v, p) {
            Observables::push(&mut o.hosts, h);
        }
    }
    for p in ["actor.user.name", "user.name"] {
        if let Some(u) = s(v, p) {
            Observables::push(&mut o.users, u);
        }
    }
    if let Some(ip) = s(v, "src_endpoint.ip") {
        Observables::push(&mut o.source_ips, ip);
    }
    for e in common::items(v, "evidences") {
        if let Some(ip) = s(e, "src_endpoint.ip") {
            Observables::push(&mut o.source_ips, ip);
        }
        if let Some(ip) = s(e, "dst_endpoint.ip") {
            Observables::push(&mut o.ips, ip);
        }
    }
    for p in ["device.ip", "dst_endpoint.ip"] {
        if let Some(ip) = s(v, p) {
            Observables::push(&mut o.ips, ip);
        }
    }
    for r in common::items(v, "resources") {
        if let Some(id) = first(r, &["uid", "name"]) {
            Observables::push(&mut o.cloud_resources, id);
        }
    }
    // Observables by type_id: 1 hostname, 2 IP, 4 user, 8 hash; the Falco
    // mapping uses type 0 with a name, so `hostname` / `user.name` count too.
    for ob in common::items(v, "observables") {
        let (Some(value), name) = (s(ob, "value"), s(ob, "name").unwrap_or_default()) else {
            continue;
        };
        match (common::num(ob, "type_id").map(|n| n as i64), name.as_str()) {
            (Some(1), _) | (_, "hostname") => Observables::push(&mut o.hosts, value),
            (Some(2), n) if n.contains("src") || n.contains("remote") => {
                Observables::push(&mut o.source_ips, value)
            }
            (Some(2), _) => Observables::push(&mut o.ips, value),
            (Some(4), _) | (_, "user.name") => Observables::push(&mut o.users, value),
            (Some(8), _) => Observables::push(&mut o.file_hashes, value),
            _ => {}
        }
    }
    for p in [
        "finding_info.types",
        "finding.types",
        "finding_info.analytic.uid",
    ] {
        for t in common::texts(v, p) {
            Observables::push(&mut alert.tags, t);
        }
    }
    for a in common::items(v, "finding_info.attacks")
        .iter()
        .chain(common::items(v, "attacks"))
    {
        if let Some(t) = s(a, "technique.uid") {
            Observables::push(&mut alert.tags, t);
        }
    }
    alert.rule = first(
        v,
        &[
            "finding_info.analytic.name",
            "finding_info.analytic.uid",
            "metadata.product.name",
        ],
    );
    out.push(alert);
    Ok(())
}
