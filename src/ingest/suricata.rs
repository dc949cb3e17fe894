//! Suricata EVE JSON, `event_type: alert`. Severity is inverted (1 = most
//! severe). There is no asset field: the protected host is the internal side.

use super::IngestError;
use super::common::{self, blank, is_internal_ip, s};
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

pub(crate) fn looks_like(v: &Value) -> bool {
    common::get(v, "alert.signature").is_some()
        && (v.get("event_type").is_some() || v.get("flow_id").is_some())
}

/// `alert.severity`: 1 → high, 2 → medium, 3 → low, 4+ → info. An IDS
/// signature alone is never critical.
pub(crate) fn severity(n: f64) -> Severity {
    if n <= 1.0 {
        Severity::High
    } else if n <= 2.0 {
        Severity::Medium
    } else if n <= 3.0 {
        Severity::Low
    } else {
        Severity::Info
    }
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    if let Some(t) = s(v, "event_type")
        && t != "alert"
    {
        // Other EVE records (flow, dns, stats) in a mixed NDJSON batch.
        return Ok(());
    }
    let title = s(v, "alert.signature").ok_or_else(|| {
        common::missing(
            prefix,
            "alert.signature",
            "the signature",
            "an EVE alert names its rule in `alert.signature`",
        )
    })?;
    let mut alert = blank("suricata", title.clone(), v);
    if let Some(n) = common::num(v, "alert.severity") {
        alert.severity = severity(n);
        alert.source_severity = s(v, "alert.severity");
    }
    alert.description = s(v, "alert.category");
    alert.detected_at = common::time_at(v, "timestamp");
    let sid = s(v, "alert.signature_id").unwrap_or_default();
    let rev = s(v, "alert.rev").unwrap_or_default();
    let flow = s(v, "flow_id");
    alert.source_id = flow.as_ref().map(|f| format!("{f}:{sid}:{rev}"));
    let src = s(v, "src_ip").unwrap_or_default();
    let dst = s(v, "dest_ip").unwrap_or_default();
    alert.fingerprint = common::fingerprint(
        "suricata",
        &[
            flow.as_deref().unwrap_or(""),
            &sid,
            &src,
            &dst,
            &s(v, "tx_id").unwrap_or_default(),
        ],
    );
    // The remote side is what block_ip should block: for an outbound rule
    // (internal src → external dest) that is the destination.
    let o = &mut alert.observables;
    let (remote, local) = if is_internal_ip(&src) && !dst.is_empty() && !is_internal_ip(&dst) {
        (dst, src)
    } else {
        (src, dst)
    };
    Observables::push(&mut o.source_ips, &remote);
    Observables::push(&mut o.ips, &local);
    if let Some(h) = s(v, "host") {
        Observables::push(&mut o.hosts, h);
    }
    if let Some(d) = s(v, "http.hostname")
        .or_else(|| s(v, "tls.sni"))
        .or_else(|| s(v, "dns.rrname"))
    {
        Observables::push(&mut o.domains, d);
    }
    if !sid.is_empty() {
        Observables::push(&mut alert.tags, format!("sid:{sid}"));
    }
    if let Some(c) = s(v, "alert.category") {
        Observables::push(&mut alert.tags, c);
    }
    alert.rule = Some(if sid.is_empty() { title } else { sid });
    out.push(alert);
    Ok(())
}
