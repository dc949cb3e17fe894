//! Alerts as cordon understands them, whatever tool sent them.

use super::{Severity, Timestamp};
use serde::{Deserialize, Serialize};

/// Everything an alert says about *what* is involved. Parsers fill what their
/// format carries; enrichment and correlation read it; playbooks pick targets
/// from it. Values are kept as the tool wrote them (trimmed), deduplicated,
/// first-seen first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Observables {
    /// Host names (or the host's address when the tool names it only by IP).
    pub hosts: Vec<String>,
    /// User names, UPNs or emails.
    pub users: Vec<String>,
    /// Remote / attacker IPs: the source of the attack, what `block_ip` blocks.
    pub source_ips: Vec<String>,
    /// Other IPs named by the alert (destination, the host's own addresses).
    pub ips: Vec<String>,
    pub domains: Vec<String>,
    /// File hashes (SHA-256 preferred; MD5/SHA-1 kept when that is all there is).
    pub file_hashes: Vec<String>,
    /// Cloud resource ids (EC2 instance ids, ARNs, Azure resource ids).
    pub cloud_resources: Vec<String>,
    /// The vendor's own ids of the alert's first host, as the tool reported
    /// them, keyed like the inventory's attributes (`crowdstrike_aid` →
    /// the detection's `AgentId`). They name the host even when the
    /// inventory does not know it, and they are what a connector must send:
    /// a vendor takes its device id, not a host name.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub host_ids: std::collections::BTreeMap<String, String>,
}

impl Observables {
    /// Adds `v` to `list` unless it is empty or already there.
    pub fn push(list: &mut Vec<String>, v: impl AsRef<str>) {
        let v = v.as_ref().trim();
        if !v.is_empty() && !list.iter().any(|x| x == v) {
            list.push(v.to_owned());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
            && self.users.is_empty()
            && self.source_ips.is_empty()
            && self.ips.is_empty()
            && self.domains.is_empty()
            && self.file_hashes.is_empty()
            && self.cloud_resources.is_empty()
            && self.host_ids.is_empty()
    }

    /// Records a vendor id of the first host (the first value wins).
    pub fn host_id(&mut self, attribute: &str, v: impl AsRef<str>) {
        let v = v.as_ref().trim();
        if !v.is_empty() {
            self.host_ids
                .entry(attribute.to_owned())
                .or_insert_with(|| v.to_owned());
        }
    }
}

/// Whether the tool says the condition is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    #[default]
    Firing,
    Resolved,
}

/// An alert as parsed from one tool's payload, before it is stored.
/// `ingest` produces these; the store gives them an [`super::AlertId`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAlert {
    /// The ingest format name (`wazuh`, `guardduty`, …).
    pub format: String,
    /// The tool's own id for this alert, used for dedup when present.
    pub source_id: Option<String>,
    /// A stable hash of what makes this alert "the same alert again" when the
    /// tool has no id of its own. Parsers compute it from stable fields only
    /// (never from status or timestamps).
    pub fingerprint: String,
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    /// The tool's own severity value as written (`major`, `10`, `70`), kept
    /// so that the mapping can be audited.
    pub source_severity: Option<String>,
    /// When the tool detected it (from the payload); `None` when the format
    /// has no such time, then the receive time is used.
    pub detected_at: Option<Timestamp>,
    pub status: AlertStatus,
    pub observables: Observables,
    /// Free-form tags and rule identifiers (MITRE technique ids, rule ids,
    /// categories) that playbooks may match.
    pub tags: Vec<String>,
    /// Rule name or id that fired in the source tool, for playbook matching.
    pub rule: Option<String>,
    /// The record this alert was parsed from, kept verbatim.
    pub raw: serde_json::Value,
}
