//! Ingest: turns the bytes an alert source POSTed into [`NewAlert`]s.
//!
//! Pure parsers, one module per format. No HTTP, no database, no clock: the
//! HTTP endpoint calls [`parse`] (or [`detect`] then `parse`) and stores what
//! comes back. A body may be one JSON record, a JSON array of records, NDJSON,
//! or the format's own batch (Alertmanager `alerts[]`, Elastic `hits.hits[]`,
//! ARM `value[]`, ASFF `Findings[]`).
//!
//! Policy: strict only where an alert would be meaningless (no title anywhere
//! → an [`IngestError`] naming the JSON path), lenient for everything else
//! (unknown severity words map to medium and keep the source value; missing
//! times leave `detected_at` empty so the receive time is used).
//!
//! Severity tables per format are in `docs/severity-mapping.md`.

mod alertmanager;
mod chronicle;
mod common;
mod crowdstrike;
mod defender;
mod elastic;
mod falco;
mod generic;
mod guardduty;
mod ocsf;
mod sentinel;
mod splunk;
mod suricata;
mod wazuh;

pub use generic::GenericMapping;

use crate::domain::NewAlert;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// The alert formats cordon understands, named as in `/v1/alerts/{format}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Alertmanager,
    Ocsf,
    Elastic,
    Wazuh,
    Falco,
    Suricata,
    Splunk,
    Guardduty,
    Crowdstrike,
    Defender,
    Sentinel,
    Chronicle,
    Generic,
}

impl Format {
    pub const ALL: [Format; 13] = [
        Format::Alertmanager,
        Format::Ocsf,
        Format::Elastic,
        Format::Wazuh,
        Format::Falco,
        Format::Suricata,
        Format::Splunk,
        Format::Guardduty,
        Format::Crowdstrike,
        Format::Defender,
        Format::Sentinel,
        Format::Chronicle,
        Format::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Alertmanager => "alertmanager",
            Format::Ocsf => "ocsf",
            Format::Elastic => "elastic",
            Format::Wazuh => "wazuh",
            Format::Falco => "falco",
            Format::Suricata => "suricata",
            Format::Splunk => "splunk",
            Format::Guardduty => "guardduty",
            Format::Crowdstrike => "crowdstrike",
            Format::Defender => "defender",
            Format::Sentinel => "sentinel",
            Format::Chronicle => "chronicle",
            Format::Generic => "generic",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = IngestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == wanted)
            .ok_or_else(|| {
                IngestError::new(
                    "format",
                    format!("unknown alert format `{s}`"),
                    format!("use one of: {}", Format::ALL.map(Format::as_str).join(", ")),
                )
            })
    }
}

/// Why a body was refused. `field` is a JSON path into the body
/// (`alerts[0].startsAt`, `[3].rule.description`) or `body` for the body as
/// a whole; `hint` says how the sender can fix it. Serialised as-is into the
/// 4xx response.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{field}: {problem} ({hint})")]
pub struct IngestError {
    /// JSON path into the body, `body`, or `format` for an unknown format name.
    pub field: String,
    /// What is wrong, for the sender.
    pub problem: String,
    /// How to fix it.
    pub hint: String,
}

impl IngestError {
    pub fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        IngestError {
            field: field.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}

/// Parses `body` as `format`. Every record of the body becomes one or more
/// alerts; the first record that cannot be understood fails the whole body
/// (the caller keeps the raw body as a dead letter).
pub fn parse(
    format: Format,
    body: &[u8],
    generic: &GenericMapping,
) -> Result<Vec<NewAlert>, IngestError> {
    let records = common::records(body)?;
    let mut out = Vec::new();
    for rec in &records {
        let (v, p) = (&rec.value, rec.path.as_str());
        if !v.is_object() {
            return Err(IngestError::new(
                if p.is_empty() { "body" } else { p },
                "expected a JSON object for an alert record",
                format!("each {format} record is a JSON object"),
            ));
        }
        match format {
            Format::Alertmanager => alertmanager::parse(v, p, &mut out)?,
            Format::Ocsf => ocsf::parse(v, p, &mut out)?,
            Format::Elastic => elastic::parse(v, p, &mut out)?,
            Format::Wazuh => wazuh::parse(v, p, &mut out)?,
            Format::Falco => falco::parse(v, p, &mut out)?,
            Format::Suricata => suricata::parse(v, p, &mut out)?,
            Format::Splunk => splunk::parse(v, p, &mut out)?,
            Format::Guardduty => guardduty::parse(v, p, &mut out)?,
            Format::Crowdstrike => crowdstrike::parse(v, p, &mut out)?,
            Format::Defender => defender::parse(v, p, &mut out)?,
            Format::Sentinel => sentinel::parse(v, p, &mut out)?,
            Format::Chronicle => chronicle::parse(v, p, &mut out)?,
            Format::Generic => generic::parse(v, p, generic, &mut out)?,
        }
    }
    if out.is_empty() {
        return Err(common::no_alerts(&format!(
            "the body holds no {format} alerts"
        )));
    }
    Ok(out)
}

/// Recognises the format of a body sent to `POST /v1/alerts` without one, by
/// the fields that only that format has. Looks at the first record only.
/// Never guesses `generic`: a body that is not recognised is refused with a
/// hint to name the format.
pub fn detect(body: &[u8]) -> Result<Format, IngestError> {
    let records = common::records(body)?;
    let first = records.first().map(|r| &r.value);
    let found = first.and_then(detect_value);
    found.ok_or_else(|| {
        IngestError::new(
            "body",
            "the alert format could not be recognised",
            format!(
                "POST to /v1/alerts/{{format}} naming it (one of: {}); use `generic` with a field mapping for other tools",
                Format::ALL.map(Format::as_str).join(", ")
            ),
        )
    })
}

/// A format's "is this mine?" test.
type Check = fn(&Value) -> bool;

fn detect_value(v: &Value) -> Option<Format> {
    // Order matters only where shapes overlap; the most specific tests first.
    let checks: [(Format, Check); 12] = [
        (Format::Alertmanager, alertmanager::looks_like),
        (Format::Crowdstrike, crowdstrike::looks_like),
        (Format::Ocsf, ocsf::looks_like),
        (Format::Suricata, suricata::looks_like),
        (Format::Falco, falco::looks_like),
        (Format::Wazuh, wazuh::looks_like),
        (Format::Splunk, splunk::looks_like),
        (Format::Guardduty, guardduty::looks_like),
        (Format::Elastic, elastic::looks_like),
        (Format::Chronicle, chronicle::looks_like),
        (Format::Sentinel, sentinel::looks_like),
        (Format::Defender, defender::looks_like),
    ];
    checks
        .into_iter()
        .find(|(_, check)| check(v))
        .map(|(f, _)| f)
}

#[cfg(test)]
mod tests;
