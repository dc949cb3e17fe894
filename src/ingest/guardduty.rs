//! AWS GuardDuty findings: the native finding (GetFindings), the EventBridge
//! envelope (`detail`), and Security Hub's ASFF (`Findings[]` or one finding,
//! also inside an EventBridge `detail.findings[]`).

use super::IngestError;
use super::common::{self, blank, first, join, s, word_severity};
use crate::domain::alert::AlertStatus;
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

fn is_native(v: &Value) -> bool {
    s(v, "service.serviceName").as_deref() == Some("guardduty")
        || s(v, "arn").is_some_and(|a| a.contains(":guardduty:"))
        || (v.get("schemaVersion").is_some()
            && v.get("resource").is_some()
            && v.get("type").is_some())
}

fn is_asff(v: &Value) -> bool {
    v.get("SchemaVersion").is_some()
        && (v.get("ProductArn").is_some() || v.get("AwsAccountId").is_some())
}

pub(crate) fn looks_like(v: &Value) -> bool {
    let d = v.get("detail").unwrap_or(v);
    is_native(d)
        || is_asff(d)
        || s(v, "source").as_deref() == Some("aws.guardduty")
        || common::items(d, "findings").first().is_some_and(is_asff)
        || common::items(v, "Findings").first().is_some_and(is_asff)
}

/// Native `severity` 0–10: 9.0+ critical, 7.0–8.9 high, 4.0–6.9 medium,
/// 1.0–3.9 low (GuardDuty's documented bands); below 1 informational.
pub(crate) fn severity(n: f64) -> Severity {
    if n >= 9.0 {
        Severity::Critical
    } else if n >= 7.0 {
        Severity::High
    } else if n >= 4.0 {
        Severity::Medium
    } else if n >= 1.0 {
        Severity::Low
    } else {
        Severity::Info
    }
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    for key in ["Findings", "findings"] {
        if let Some(Value::Array(fs)) = v.get(key) {
            for (i, f) in fs.iter().enumerate() {
                out.push(asff(f, &join(prefix, &format!("{key}[{i}]")))?);
            }
            return Ok(());
        }
    }
    if let Some(d) = v.get("detail") {
        return parse(d, &join(prefix, "detail"), out);
    }
    if is_asff(v) {
        out.push(asff(v, prefix)?);
    } else {
        out.push(native(v, prefix)?);
    }
    Ok(())
}

fn native(f: &Value, path: &str) -> Result<NewAlert, IngestError> {
    let title = first(f, &["title", "type"]).ok_or_else(|| {
        common::missing(
            path,
            "title",
            "the finding title",
            "GuardDuty findings carry `title` and `type`",
        )
    })?;
    let mut alert = blank("guardduty", title, f);
    alert.description = s(f, "description");
    if let Some(n) = common::num(f, "severity") {
        alert.severity = severity(n);
        alert.source_severity = s(f, "severity");
    }
    alert.detected_at =
        common::first_time(f, &["createdAt", "service.eventFirstSeen", "updatedAt"]);
    alert.source_id = first(f, &["id", "arn"]);
    alert.fingerprint = match &alert.source_id {
        Some(id) => common::fingerprint("guardduty", &[&s(f, "accountId").unwrap_or_default(), id]),
        None => common::fingerprint(
            "guardduty",
            &[&s(f, "type").unwrap_or_default(), &alert.title],
        ),
    };
    if s(f, "service.archived").as_deref() == Some("true") {
        alert.status = AlertStatus::Resolved;
    }
    let o = &mut alert.observables;
    if let Some(id) = s(f, "resource.instanceDetails.instanceId") {
        Observables::push(&mut o.cloud_resources, &id);
        o.host_id("ec2_instance_id", id);
    }
    for ni in common::items(f, "resource.instanceDetails.networkInterfaces") {
        if let Some(h) = s(ni, "privateDnsName") {
            Observables::push(&mut o.hosts, h);
        }
        if let Some(ip) = s(ni, "privateIpAddress") {
            Observables::push(&mut o.ips, ip);
        }
    }
    for b in common::items(f, "resource.s3BucketDetails") {
        if let Some(arn) = s(b, "arn") {
            Observables::push(&mut o.cloud_resources, arn);
        }
    }
    if let Some(u) = first(
        f,
        &[
            "resource.accessKeyDetails.userName",
            "resource.accessKeyDetails.principalId",
        ],
    ) {
        Observables::push(&mut o.users, u);
    }
    for p in [
        "service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
        "service.action.awsApiCallAction.remoteIpDetails.ipAddressV4",
        "service.action.kubernetesApiCallAction.remoteIpDetails.ipAddressV4",
        "service.action.rdsLoginAttemptAction.remoteIpDetails.ipAddressV4",
    ] {
        if let Some(ip) = s(f, p) {
            Observables::push(&mut o.source_ips, ip);
        }
    }
    for pd in common::items(f, "service.action.portProbeAction.portProbeDetails") {
        if let Some(ip) = s(pd, "remoteIpDetails.ipAddressV4") {
            Observables::push(&mut o.source_ips, ip);
        }
    }
    if let Some(d) = s(f, "service.action.dnsRequestAction.domain") {
        Observables::push(&mut o.domains, d);
    }
    if let Some(t) = s(f, "type") {
        Observables::push(&mut alert.tags, t.clone());
        alert.rule = Some(t);
    }
    Ok(alert)
}

fn asff(f: &Value, path: &str) -> Result<NewAlert, IngestError> {
    let title = s(f, "Title").ok_or_else(|| {
        common::missing(
            path,
            "Title",
            "the finding title",
            "ASFF findings carry `Title`",
        )
    })?;
    let mut alert = blank("guardduty", title, f);
    alert.description = s(f, "Description");
    // Labels are INFORMATIONAL/LOW/MEDIUM/HIGH/CRITICAL; Normalized 0–100 is
    // the fallback in the same bands divided by ten.
    let label = first(
        f,
        &["FindingProviderFields.Severity.Label", "Severity.Label"],
    );
    alert.severity = label
        .as_deref()
        .and_then(word_severity)
        .or(common::num(f, "Severity.Normalized").map(|n| {
            if n < 1.0 {
                Severity::Info
            } else {
                severity(n / 10.0)
            }
        }))
        .unwrap_or(Severity::Medium);
    alert.source_severity = label.or(s(f, "Severity.Normalized"));
    alert.detected_at = common::first_time(f, &["CreatedAt", "FirstObservedAt", "UpdatedAt"]);
    alert.source_id = s(f, "Id");
    alert.fingerprint = common::fingerprint(
        "guardduty",
        &[
            &s(f, "AwsAccountId").unwrap_or_default(),
            alert.source_id.as_deref().unwrap_or(&alert.title),
        ],
    );
    if s(f, "RecordState").as_deref() == Some("ARCHIVED")
        || s(f, "Workflow.Status").as_deref() == Some("RESOLVED")
    {
        alert.status = AlertStatus::Resolved;
    }
    let pf = |k: &str| f.get("ProductFields").and_then(|p| common::text(p.get(k)));
    let o = &mut alert.observables;
    for r in common::items(f, "Resources") {
        if let Some(id) = s(r, "Id") {
            Observables::push(&mut o.cloud_resources, id);
        }
        if let Some(u) = s(r, "Details.AwsIamAccessKey.UserName") {
            Observables::push(&mut o.users, u);
        }
    }
    for k in [
        "aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV4",
        "aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4",
    ] {
        if let Some(ip) = pf(k) {
            Observables::push(&mut o.source_ips, ip);
        }
    }
    for t in common::texts(f, "Types") {
        Observables::push(&mut alert.tags, t);
    }
    alert.rule = common::texts(f, "Types")
        .into_iter()
        .next()
        .or(s(f, "GeneratorId"));
    Ok(alert)
}
