//! CrowdStrike Falcon Event Streams detections: legacy `DetectionSummaryEvent`
//! (severity 1–5) and `EppDetectionSummaryEvent` (severity 10–100), both as
//! `{metadata, event}`.

use super::IngestError;
use super::common::{self, blank, first, s};
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

pub(crate) fn looks_like(v: &Value) -> bool {
    let ty = s(v, "metadata.eventType")
        .unwrap_or_default()
        .to_ascii_lowercase();
    ty.contains("detectionsummaryevent")
        || (v.get("metadata").is_some()
            && (common::get(v, "event.DetectId").is_some()
                || common::get(v, "event.CompositeId").is_some()))
}

/// Legacy 1–5: 1 informational, 2 low, 3 medium, 4 high, 5 critical.
/// EPP 10–100 in Falcon's bands: <20 informational (10), 20–39 low (30),
/// 40–59 medium (50), 60–79 high (70), 80+ critical (90).
pub(crate) fn severity(n: f64) -> Severity {
    if n >= 10.0 {
        match n {
            x if x >= 80.0 => Severity::Critical,
            x if x >= 60.0 => Severity::High,
            x if x >= 40.0 => Severity::Medium,
            x if x >= 20.0 => Severity::Low,
            _ => Severity::Info,
        }
    } else {
        match n {
            x if x >= 5.0 => Severity::Critical,
            x if x >= 4.0 => Severity::High,
            x if x >= 3.0 => Severity::Medium,
            x if x >= 2.0 => Severity::Low,
            _ => Severity::Info,
        }
    }
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    let ty = s(v, "metadata.eventType").unwrap_or_default();
    if !ty.is_empty() && !ty.to_ascii_lowercase().contains("detection") {
        // Event Streams also carry audit and auth events; they are not alerts.
        return Ok(());
    }
    let e = v.get("event").unwrap_or(v);
    let ep = common::join(
        prefix,
        if v.get("event").is_some() {
            "event"
        } else {
            ""
        },
    );
    let title = first(e, &["Name", "DetectName"]).ok_or_else(|| {
        common::missing(
            &ep,
            "DetectName",
            "the detection name",
            "legacy detections carry `event.DetectName`, EPP detections `event.Name`",
        )
    })?;
    let mut alert = blank("crowdstrike", title.clone(), v);
    alert.description = first(e, &["Description", "DetectDescription"]);
    match common::num(e, "Severity") {
        Some(n) => {
            alert.severity = severity(n);
            alert.source_severity = s(e, "Severity").map(|n| match s(e, "SeverityName") {
                Some(name) => format!("{n}/{name}"),
                None => n,
            });
        }
        None => {
            if let Some(name) = s(e, "SeverityName") {
                alert.severity = common::word_severity(&name).unwrap_or(Severity::Medium);
                alert.source_severity = Some(name);
            }
        }
    }
    // eventCreationTime is epoch ms; ProcessStartTime's unit differs between
    // event versions, so it is only a fallback (the unit is told by size).
    alert.detected_at =
        common::first_time(v, &["metadata.eventCreationTime", "event.ProcessStartTime"]);
    alert.source_id = first(e, &["CompositeId", "DetectId"]);
    alert.fingerprint = match &alert.source_id {
        Some(id) => common::fingerprint("crowdstrike", &[id]),
        None => common::fingerprint(
            "crowdstrike",
            &[
                &first(e, &["AgentId", "SensorId"]).unwrap_or_default(),
                &title,
                &s(e, "SHA256String").unwrap_or_default(),
                &s(e, "CommandLine").unwrap_or_default(),
            ],
        ),
    };
    let o = &mut alert.observables;
    if let Some(h) = first(e, &["Hostname", "ComputerName"]) {
        Observables::push(&mut o.hosts, h);
    }
    if let Some(aid) = first(e, &["AgentId", "SensorId"]) {
        o.host_id("crowdstrike_aid", aid);
    }
    if let Some(u) = s(e, "UserName") {
        Observables::push(&mut o.users, u);
    }
    // LocalIP is the host's own address; remote peers are the network accesses.
    for p in ["LocalIP", "LocalIPv6"] {
        if let Some(ip) = s(e, p) {
            Observables::push(&mut o.ips, ip);
        }
    }
    for na in common::items(e, "NetworkAccesses") {
        if let Some(ip) = s(na, "RemoteAddress") {
            Observables::push(&mut o.source_ips, ip);
        }
    }
    for p in ["SHA256String", "MD5String", "SHA1String"] {
        if let Some(h) = s(e, p)
            && !h.bytes().all(|b| b == b'0')
        {
            Observables::push(&mut o.file_hashes, h);
        }
    }
    if s(e, "IOCType").as_deref() == Some("domain")
        && let Some(d) = s(e, "IOCValue")
    {
        Observables::push(&mut o.domains, d);
    }
    for p in ["Tactic", "Technique"] {
        if let Some(t) = s(e, p) {
            Observables::push(&mut alert.tags, t);
        }
    }
    for m in common::items(e, "MitreAttack") {
        for p in ["TechniqueID", "TacticID"] {
            if let Some(t) = s(m, p) {
                Observables::push(&mut alert.tags, t);
            }
        }
    }
    alert.rule = s(e, "PatternId")
        .map(|p| format!("pattern:{p}"))
        .or(Some(title));
    out.push(alert);
    Ok(())
}
