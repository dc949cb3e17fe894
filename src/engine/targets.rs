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
            TargetKind::Ip => {
                // Addresses are not inventory records: a plain address
                // stays as written, a network in its canonical form.
                if let Some(net) = parse_net(value)
                    && value.contains('/')
                {
                    r.target.value = net.to_string();
                }
                r.facts.names.push(r.target.value.clone());
            }
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
            Resolved::One(asset) => {
                apply_asset(r, &asset);
                // The alert's own ids fill what the inventory lacks.
                for (k, v) in alert_ids {
                    r.attributes.entry(k).or_insert(v);
                }
            }
            Resolved::Unknown => {
                r.ctx.target_unknown = true;
                r.facts.names.push(r.target.value.clone());
                r.facts.names.extend(alert_ids.values().cloned());
                r.attributes = alert_ids;
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
        Ok(())
    }

    /// The people an incident is about: whoever's account is a user of its
    /// alerts, and the decision's target when it is a user. They may not
    /// approve, deny, veto, release or override anything in it (their chat
    /// session is often the attacker's). Every matrix passed is asked, so a
    /// person is recognised under the pinned and the current one.
    pub async fn subjects_of(
        &self,
        incident: crate::domain::IncidentId,
        target: Option<&ActionTarget>,
        matrices: &[&Matrix],
    ) -> Result<BTreeSet<PersonId>, StoreError> {
        let mut users = self.store.incident_users(incident).await?;
        if let Some(t) = target.filter(|t| t.kind == TargetKind::User) {
            users.push(t.value.clone());
        }
        let mut out = BTreeSet::new();
        for u in users {
            let mut names = vec![u.clone()];
            if let Some(i) = self.store.find_identity(&u).await? {
                names.push(i.username.clone());
                names.extend(i.email.clone());
            }
            for m in matrices {
                for n in &names {
                    out.extend(m.people_named(n));
                }
            }
        }
        Ok(out)
    }
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
