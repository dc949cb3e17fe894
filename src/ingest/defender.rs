//! Microsoft Defender: the Defender for Endpoint alert API object and the
//! Microsoft Graph `security/alerts_v2` alert. OData list bodies (`value[]`)
//! are unwrapped.

use super::IngestError;
use super::common::{self, blank, first, join, s};
use crate::domain::alert::AlertStatus;
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

fn is_alert(v: &Value) -> bool {
    s(v, "@odata.type").is_some_and(|t| t.contains("microsoft.graph.security.alert"))
        || (v.get("alertCreationTime").is_some() && v.get("title").is_some())
        || (v.get("machineId").is_some() && v.get("title").is_some())
        || (v.get("serviceSource").is_some() && v.get("title").is_some())
}

pub(crate) fn looks_like(v: &Value) -> bool {
    is_alert(v) || common::items(v, "value").first().is_some_and(is_alert)
}

/// Both APIs use Informational/Low/Medium/High (MDE PascalCase, Graph
/// lower-case); `UnSpecified`/`unknown` → medium with the value kept.
fn severity(word: &str) -> Severity {
    common::word_severity(word).unwrap_or(Severity::Medium)
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    if let Some(Value::Array(items)) = v.get("value") {
        for (i, a) in items.iter().enumerate() {
            out.push(one(a, &join(prefix, &format!("value[{i}]")))?);
        }
        return Ok(());
    }
    out.push(one(v, prefix)?);
    Ok(())
}

fn one(a: &Value, path: &str) -> Result<NewAlert, IngestError> {
    let title = s(a, "title").ok_or_else(|| {
        common::missing(
            path,
            "title",
            "the alert title",
            "Defender alerts carry `title`",
        )
    })?;
    let mut alert = blank("defender", title, a);
    alert.description = s(a, "description");
    if let Some(w) = s(a, "severity") {
        alert.severity = severity(&w);
        alert.source_severity = Some(w);
    }
    alert.detected_at = common::first_time(
        a,
        &[
            "alertCreationTime",
            "createdDateTime",
            "firstEventTime",
            "firstActivityDateTime",
        ],
    );
    alert.source_id = s(a, "id");
    alert.fingerprint = common::fingerprint(
        "defender",
        &[
            alert.source_id.as_deref().unwrap_or(&alert.title),
            &first(a, &["machineId"]).unwrap_or_default(),
        ],
    );
    if s(a, "status").is_some_and(|st| st.eq_ignore_ascii_case("resolved")) {
        alert.status = AlertStatus::Resolved;
    }
    let o = &mut alert.observables;
    if let Some(h) = s(a, "computerDnsName") {
        Observables::push(&mut o.hosts, h);
    }
    if let Some(id) = s(a, "machineId") {
        o.host_id("mde_machine_id", id);
    }
    if let Some(u) = s(a, "relatedUser.userName") {
        Observables::push(&mut o.users, u);
    }
    for e in common::items(a, "evidence") {
        let odata = s(e, "@odata.type").unwrap_or_default();
        let kind = s(e, "entityType").unwrap_or_default().to_ascii_lowercase();
        if let Some(h) = s(e, "deviceDnsName") {
            Observables::push(&mut o.hosts, h);
        }
        if odata.ends_with("deviceEvidence") {
            if let Some(id) = s(e, "mdeDeviceId") {
                o.host_id("mde_machine_id", id);
            }
            for ip in common::texts(e, "ipInterfaces") {
                Observables::push(&mut o.ips, ip);
            }
        }
        if (odata.ends_with("ipEvidence") || kind == "ip")
            && let Some(ip) = s(e, "ipAddress")
        {
            Observables::push(&mut o.source_ips, ip);
        }
        if let Some(u) = first(
            e,
            &["userAccount.userPrincipalName", "userAccount.accountName"],
        ) {
            Observables::push(&mut o.users, u);
        }
        if kind == "user"
            && let Some(u) = first(e, &["userPrincipalName", "accountName"])
        {
            Observables::push(&mut o.users, u);
        }
        for p in [
            "sha256",
            "fileDetails.sha256",
            "imageFile.sha256",
            "sha1",
            "fileDetails.sha1",
        ] {
            if let Some(h) = s(e, p) {
                Observables::push(&mut o.file_hashes, h);
            }
        }
        if let Some(d) =
            first(e, &["domainName"]).filter(|_| kind == "url" || odata.ends_with("urlEvidence"))
        {
            Observables::push(&mut o.domains, d);
        }
        if let Some(r) = s(e, "vmMetadata.resourceId") {
            Observables::push(&mut o.cloud_resources, r);
        }
    }
    for t in common::texts(a, "mitreTechniques") {
        Observables::push(&mut alert.tags, t);
    }
    if let Some(c) = s(a, "category") {
        Observables::push(&mut alert.tags, c);
    }
    alert.rule = first(a, &["detectorId", "detectionSource"]);
    Ok(alert)
}
