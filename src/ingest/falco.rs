//! Falco JSON output (`json_output: true`), as Falco or Falcosidekick send it.
//! `output_fields` keys contain dots and are flat keys, not paths.

use super::IngestError;
use super::common::{self, blank, s, word_severity};
use crate::domain::{NewAlert, Observables, Severity};
use serde_json::Value;

pub(crate) fn looks_like(v: &Value) -> bool {
    v.get("rule").is_some_and(Value::is_string)
        && v.get("priority").is_some_and(Value::is_string)
        && v.get("output").is_some()
}

pub(crate) fn parse(v: &Value, prefix: &str, out: &mut Vec<NewAlert>) -> Result<(), IngestError> {
    let title = s(v, "rule").ok_or_else(|| {
        common::missing(
            prefix,
            "rule",
            "the rule name",
            "Falco alerts name their rule in `rule`",
        )
    })?;
    let mut alert = blank("falco", title.clone(), v);
    // Falco priorities are syslog levels: Emergency/Alert/Critical → critical,
    // Error → high, Warning → medium, Notice → low, Informational/Debug → info.
    if let Some(p) = s(v, "priority") {
        alert.severity = word_severity(&p).unwrap_or(Severity::Medium);
        alert.source_severity = Some(p);
    }
    alert.description = s(v, "output");
    alert.detected_at = common::time_at(v, "time");
    alert.source_id = s(v, "uuid");
    let fields = v.get("output_fields");
    let field = |k: &str| fields.and_then(|f| common::text(f.get(k)));
    let hostname = s(v, "hostname").unwrap_or_default();
    // No uuid → rule + host + the output fields minus the event times, so a
    // repeat of the same behaviour dedups instead of paging again.
    let mut stable: Vec<String> = match fields {
        Some(Value::Object(m)) => m
            .iter()
            .filter(|(k, _)| !k.starts_with("evt.time"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        _ => Vec::new(),
    };
    stable.sort();
    let mut parts: Vec<&str> = vec![&title, &hostname];
    parts.extend(stable.iter().map(String::as_str));
    alert.fingerprint = match &alert.source_id {
        Some(id) => common::fingerprint("falco", &[id]),
        None => common::fingerprint("falco", &parts),
    };
    let o = &mut alert.observables;
    Observables::push(&mut o.hosts, &hostname);
    for k in ["k8s.pod.name"] {
        if let Some(h) = field(k) {
            Observables::push(&mut o.hosts, h);
        }
    }
    for k in ["user.name", "ka.user.name"] {
        if let Some(u) = field(k) {
            Observables::push(&mut o.users, u);
        }
    }
    if let Some(ip) = field("fd.rip") {
        Observables::push(&mut o.source_ips, ip);
    }
    for k in ["fd.sip", "fd.lip"] {
        if let Some(ip) = field(k) {
            Observables::push(&mut o.ips, ip);
        }
    }
    for t in common::texts(v, "tags") {
        Observables::push(&mut alert.tags, t);
    }
    alert.rule = Some(title);
    out.push(alert);
    Ok(())
}
