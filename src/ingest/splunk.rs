//! Splunk webhook alert action: `{result, sid, results_link, search_name,
//! owner, app}`. Only the first result row is sent; all its values are
//! strings. Severity exists only if the search emits a field for it.

use super::IngestError;
use super::common::{self, blank, first, s, word_severity};
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

pub(crate) fn looks_like(v: &Value) -> bool {
    v.get("search_name").is_some() || (v.get("sid").is_some() && v.get("result").is_some())
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    let r = v.get("result").unwrap_or(&Value::Null);
    let sid = s(v, "sid");
    // Splunk's own documented example has `search_name: null`; the search id
    // still identifies the triggering search, so it names the alert.
    let title = s(v, "search_name")
        .or_else(|| sid.as_ref().map(|sid| format!("Splunk alert (sid {sid})")))
        .ok_or_else(|| {
            common::missing(
                prefix,
                "search_name",
                "the saved search name",
                "the Splunk webhook sends `search_name` and `sid`; post its body unchanged",
            )
        })?;
    let mut alert = blank("splunk", title, v);
    // No severity in the envelope: a result field if the SPL emits one, a
    // word (or 1–5 urgency number, 5 = critical), else medium.
    if let Some(w) = first(r, &["severity", "urgency", "priority"]) {
        alert.severity = word_severity(&w)
            .or_else(|| {
                w.parse::<u8>().ok().map(|n| match n {
                    0 | 1 => Severity::Info,
                    2 => Severity::Low,
                    3 => Severity::Medium,
                    4 => Severity::High,
                    _ => Severity::Critical,
                })
            })
            .unwrap_or(Severity::Medium);
        alert.source_severity = Some(w);
    }
    alert.description = first(r, &["description", "message", "_raw"]);
    alert.detected_at = common::first_time(r, &["_time"]);
    alert.source_id = sid.clone();
    alert.fingerprint = common::fingerprint(
        "splunk",
        &[
            &s(v, "app").unwrap_or_default(),
            &s(v, "search_name").unwrap_or_default(),
            sid.as_deref().unwrap_or(""),
        ],
    );
    let o = &mut alert.observables;
    for p in ["host", "dest", "dest_host", "hostname", "ComputerName"] {
        if let Some(h) = s(r, p) {
            Observables::push(&mut o.hosts, h);
        }
    }
    for p in ["user", "username", "src_user", "user_name"] {
        if let Some(u) = s(r, p) {
            Observables::push(&mut o.users, u);
        }
    }
    for p in ["src_ip", "srcip", "src", "source_ip"] {
        if let Some(ip) = s(r, p) {
            Observables::push(&mut o.source_ips, ip);
        }
    }
    for p in ["dest_ip", "dst_ip", "dstip"] {
        if let Some(ip) = s(r, p) {
            Observables::push(&mut o.ips, ip);
        }
    }
    for p in ["file_hash", "sha256", "hash"] {
        if let Some(h) = s(r, p) {
            Observables::push(&mut o.file_hashes, h);
        }
    }
    if let Some(app) = s(v, "app") {
        Observables::push(&mut alert.tags, format!("app:{app}"));
    }
    alert.rule = s(v, "search_name");
    out.push(alert);
    Ok(())
}
