//! Before the matrix judges a proposal: which record its target is, and
//! who the incident is about (DESIGN §3a, "one canonical target" and
//! "subjects of an incident cannot act on it").
//!
//! A target reaches cordon under whatever name the alert used: a short host
//! name, an FQDN, an address, the EDR's agent id, an EC2 instance id, a UPN.
//! It is resolved here to exactly one inventory or directory record by any
//! of those names; the decision then carries the record's canonical name (so
//! guards and cool-downs see one target, not five spellings), its facts (for
//! the matrix) and its vendor ids (for the connector). A name two records
//! answer to is ambiguous, and ambiguous is unknown: judged strictly, and
//! no vendor id is guessed for it.

use super::{Engine, EngineError};
use crate::domain::action::{ASSET_ID_ATTRIBUTES, TargetKind};
use crate::domain::guards::{GuardFacts, parse_net};
use crate::domain::{ActionContext, ActionKind, ActionTarget, Matrix, PersonId, Severity};
use crate::enrich::Enrichment;
use crate::store::{Asset, Identity, Resolved, StoreError};
use std::collections::{BTreeMap, BTreeSet};

/// A proposal's target after resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTarget {
    /// The canonical target: the inventory host name or directory user
    /// name when the record is known, else the name as given.
    pub target: ActionTarget,
    /// What the matrix judges (severity set by the caller).
    pub ctx: ActionContext,
    /// The vendor ids the connector needs.
    pub attributes: BTreeMap<String, String>,
    /// Every name of the target, for the guards.
    pub facts: GuardFacts,
}

impl Engine {
    /// Resolves `target` (as a playbook or a person named it) for `action`.
    /// `host_ids` are the vendor ids the alert carried for its host (the
    /// CrowdStrike `AgentId`, …): they name the host too, and when the
    /// inventory does not know it they are what the connector gets.
    /// Refuses a value that cannot name a target of its kind.
    pub async fn resolve_target(
        &self,
        action: &ActionKind,
        target: &ActionTarget,
        severity: Severity,
        host_ids: &BTreeMap<String, String>,
        enrichment: &Enrichment,
    ) -> Result<ResolvedTarget, EngineError> {
        let value = target.value.trim();
        let target = ActionTarget {
            kind: target.kind,
            value: value.to_owned(),
        };
        target.validate().map_err(EngineError::InvalidTarget)?;
        let mut r = ResolvedTarget {
            target: target.clone(),
            ctx: ActionContext::new(action.clone(), severity),
            attributes: BTreeMap::new(),
            facts: GuardFacts::default(),
        };
        match target.kind {
            TargetKind::Host | TargetKind::CloudResource => {
                self.resolve_asset_target(&mut r, host_ids, enrichment)
                    .await?
            }
            TargetKind::User => self.resolve_user_target(&mut r, enrichment).await?,
            TargetKind::Ip => self.resolve_ip_target(&mut r).await?,
        }
        Ok(r)
    }

    async fn resolve_asset_target(
        &self,
        r: &mut ResolvedTarget,
        host_ids: &BTreeMap<String, String>,
        enrichment: &Enrichment,
    ) -> Result<(), StoreError> {
        // The alert's vendor ids name its first host; they count only for a
        // target that is that host (or the instance the ids name).
        let alert_ids: BTreeMap<String, String> = host_ids
            .iter()
            .filter(|(k, _)| ASSET_ID_ATTRIBUTES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut names = vec![r.target.value.clone()];
        names.extend(alert_ids.values().cloned());
        let resolved = match self.store.resolve_asset(&names).await? {
            // A live inventory source (HTTP enrichment) may know a host the
            // imported inventory does not.
            Resolved::Unknown => enrichment
                .asset_for(&r.target.value)
                .cloned()
                .map_or(Resolved::Unknown, Resolved::One),
            other => other,
        };
        match resolved {
            // An inventoried record's vendor ids are the record's: an id the
            // alert carried never fills a gap in it (the connector looks the
            // name up instead). Otherwise an alert naming a workstation with
            // the agent id of the CEO's laptop has the laptop contained
            // under the workstation's rule.
            Resolved::One(asset) => apply_asset(r, &asset),
            Resolved::Unknown => {
                r.ctx.target_unknown = true;
                r.facts.names.push(r.target.value.clone());
                r.facts.names.extend(alert_ids.values().cloned());
                r.attributes = alert_ids;
                // The connector checks with the vendor that the id it got
                // from the alert is the device of that name.
                if !r.attributes.is_empty() {
                    r.attributes
                        .insert(crate::executors::ALERT_IDS.into(), "alert".into());
                }
            }
            Resolved::Ambiguous(hosts) => {
                // Names that point at different records: neither is trusted,
                // and no vendor id is passed on (the connector must look the
                // name up itself and fail visibly if it cannot).
                tracing::warn!(target = %r.target, ?hosts, "target names several assets: judged as unknown");
                r.ctx.target_unknown = true;
                r.facts.names.push(r.target.value.clone());
                r.facts.names.extend(alert_ids.values().cloned());
                r.facts.names.extend(hosts);
            }
        }
        Ok(())
    }

    /// One spelling per address (`203.0.113.9/32` is `203.0.113.9`, a
    /// network is named by its first address), so guards and cool-downs
    /// see one target. An address in the inventory brings the names and
    /// tier of its host to the guards: blocking a protected host's public
    /// address is blocking the host.
    async fn resolve_ip_target(&self, r: &mut ResolvedTarget) -> Result<(), StoreError> {
        let Some(net) = parse_net(&r.target.value) else {
            return Ok(());
        };
        let single = net.prefix_len() == net.max_prefix_len();
        r.target.value = if single {
            net.addr().to_string()
        } else {
            net.trunc().to_string()
        };
        r.facts.names.push(r.target.value.clone());
        if single
            && let Resolved::One(a) = self
                .store
                .resolve_asset(std::slice::from_ref(&r.target.value))
                .await?
        {
            let mut host = ResolvedTarget {
                target: r.target.clone(),
                ctx: r.ctx.clone(),
                attributes: BTreeMap::new(),
                facts: GuardFacts::default(),
            };
            apply_asset(&mut host, &a);
            r.facts.names.extend(host.facts.names);
            r.facts.ips.extend(host.facts.ips);
            r.facts.tier = a.tier.clone();
        }
        Ok(())
    }

    async fn resolve_user_target(
        &self,
        r: &mut ResolvedTarget,
        enrichment: &Enrichment,
    ) -> Result<(), StoreError> {
        let resolved = match self.store.resolve_identity(&r.target.value).await? {
            Resolved::Unknown => match &enrichment.identity {
                Some(i) if i.username.eq_ignore_ascii_case(&r.target.value) => {
                    Resolved::One(i.clone())
                }
                _ => Resolved::Unknown,
            },
            other => other,
        };
        r.facts.names.push(r.target.value.clone());
        match resolved {
            Resolved::One(i) => apply_identity(r, &i),
            Resolved::Unknown | Resolved::Ambiguous(_) => r.ctx.target_unknown = true,
        }
        // A person of the matrix is a responder: an alert must not lock
        // one out on its own (a forged "impossible travel" would do).
        let matrix = self.matrix();
        r.facts.person = r
            .facts
            .names
            .iter()
            .find_map(|n| matrix.people_named(n).into_iter().next())
            .map(|p| p.0);
        Ok(())
    }

    /// The people a decision's target is about, who may not stop or undo
    /// its containment (DESIGN §3a item 3; see `decision.rs`): the user a
    /// user action targets; the recorded users of a host (the inventory's
    /// `users` column); and an owner of the host whom an alert of the
    /// incident names as its user (the person working on it). Alert user
    /// fields alone do not make anyone a subject: they are the most
    /// attacker-chosen part of an alert, and naming the people who may
    /// veto would take their veto away. Every matrix passed is asked, so a
    /// person is recognised under the pinned and the current one.
    pub async fn subjects_of(
        &self,
        incident: crate::domain::IncidentId,
        target: &ActionTarget,
        matrices: &[&Matrix],
    ) -> Result<BTreeSet<PersonId>, StoreError> {
        let mut names: Vec<String> = Vec::new();
        match target.kind {
            TargetKind::User => {
                names.push(target.value.clone());
                if let Some(i) = self.store.find_identity(&target.value).await? {
                    names.push(i.username.clone());
                    names.extend(i.email.clone());
                }
            }
            TargetKind::Host | TargetKind::CloudResource => {
                if let Some(a) = self.store.find_asset(&target.value).await? {
                    names.extend(asset_users(&a));
                    let users = self.store.incident_users(incident).await?;
                    let named = |owner: &str| {
                        users.iter().any(|u| {
                            matrices.iter().any(|m| {
                                let a = m.people_named(u);
                                !a.is_empty() && a == m.people_named(owner)
                            })
                        })
                    };
                    names.extend(a.owners.iter().filter(|o| named(o)).cloned());
                }
            }
            TargetKind::Ip => {}
        }
        let mut out = BTreeSet::new();
        for n in &names {
            for m in matrices {
                out.extend(m.people_named(n));
            }
        }
        Ok(out)
    }
}

/// The people an asset records as its users (`users` column of the
/// inventory: person ids or emails, separated by `;`, `|` or `,`).
fn asset_users(a: &Asset) -> Vec<String> {
    a.attributes
        .get("users")
        .map(|v| {
            v.split([';', '|', ','])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn apply_asset(r: &mut ResolvedTarget, a: &Asset) {
    r.target.value = a.hostname.clone();
    r.ctx.asset_tier = a.tier.clone();
    r.ctx.environment = a.environment.clone();
    r.ctx.asset_owners = a.owners.clone();
    r.attributes = a.attributes.clone();
    r.facts.names.push(a.hostname.clone());
    if let Some((short, _)) = a.hostname.split_once('.') {
        r.facts.names.push(short.to_owned());
    }
    r.facts.names.extend(a.ips.iter().cloned());
    r.facts.ips = a.ips.iter().filter_map(|ip| ip.parse().ok()).collect();
    for attr in ASSET_ID_ATTRIBUTES {
        if let Some(v) = a.attributes.get(attr) {
            r.facts.names.push(v.clone());
        }
    }
}

fn apply_identity(r: &mut ResolvedTarget, i: &Identity) {
    r.target.value = i.username.clone();
    r.ctx.user_privileged = Some(i.privileged);
    r.attributes = i.attributes.clone();
    if let Some(m) = &i.manager {
        r.ctx.asset_owners.push(m.clone());
    }
    r.facts.names.push(i.username.clone());
    r.facts.names.extend(i.email.clone());
    r.facts.names.extend(i.attributes.values().cloned());
}
