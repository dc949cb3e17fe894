//! Enrichment: what cordon knows about the hosts, users and indicators of an
//! alert, from the asset inventory, the identity directory (imported into the
//! store, or looked up live over HTTP), threat-intel list files and the
//! incident history.
//!
//! Every source runs concurrently under its own time budget (default
//! 300 ms). A source that is slow or fails is reported in
//! [`Enrichment::sources`] and marks the result `partial`; [`Enricher::enrich`]
//! itself never fails and returns within about the largest budget, so a dead
//! CMDB never holds up containment. The authority matrix reads the result
//! through [`Enrichment::field`] and must treat missing facts as missing
//! (rules that need `asset.tier` do not match when it is absent).
//!
//! This module must not decide anything: it only gathers facts.

pub mod http;
pub mod import;
pub mod intel;

pub use import::{ImportError, parse_assets, parse_identities};
pub use intel::{IntelHit, IntelKind, IntelList};

use crate::domain::time::parse_duration;
use crate::domain::{IncidentId, NewAlert, Timestamp};
use crate::store::{Asset, Identity, Store};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// At most this many hosts of one alert are looked up.
pub const MAX_HOSTS: usize = 5;
/// The window of [`History`].
pub const HISTORY_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// Incidents seen on the same host(s) before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Other incidents (not the one being enriched) with activity on one of
    /// the alert's hosts in the last 30 days.
    pub incidents_30d: usize,
    pub last_incident_id: Option<i64>,
}

/// How one source did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReport {
    /// `store.assets`, `store.identities`, `intel`, `history`, or the
    /// configured name of an HTTP source.
    pub name: String,
    pub ok: bool,
    pub elapsed_ms: u64,
    pub error: Option<String>,
}

/// Everything enrichment found about one alert.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Enrichment {
    /// The asset of the alert's first host.
    pub asset: Option<Asset>,
    /// The assets of all hosts found (first [`MAX_HOSTS`] hosts).
    pub assets: Vec<Asset>,
    /// The identity of the alert's first user.
    pub identity: Option<Identity>,
    pub intel_hits: Vec<IntelHit>,
    pub history: Option<History>,
    /// True when some source timed out or failed: facts may be missing.
    pub partial: bool,
    pub sources: Vec<SourceReport>,
}

impl Enrichment {
    /// The asset of one host of the alert (by hostname, short name or IP),
    /// for the matrix when an action targets a host other than the first.
    pub fn asset_for(&self, host: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| names_host(a, host))
    }

    /// One fact by name, as the authority matrix's `evidence` lists and
    /// message templates name them: `asset.tier`, `asset.business_service`,
    /// `asset.owners`, `asset.<attribute>`, `identity.department`,
    /// `identity.privileged`, `intel_hits`, `history.incidents_30d`, …
    /// Lists are joined with `, `. `None` when the fact is unknown.
    pub fn field(&self, path: &str) -> Option<String> {
        let join = |v: &[String]| (!v.is_empty()).then(|| v.join(", "));
        let (head, rest) = path.split_once('.').unwrap_or((path, ""));
        match head {
            "asset" => {
                let a = self.asset.as_ref()?;
                match rest {
                    "hostname" => Some(a.hostname.clone()),
                    "ips" => join(&a.ips),
                    "tier" => a.tier.clone(),
                    "environment" => a.environment.clone(),
                    "business_service" => a.business_service.clone(),
                    "owners" => join(&a.owners),
                    other => a
                        .attributes
                        .get(other.strip_prefix("attributes.").unwrap_or(other))
                        .cloned(),
                }
            }
            "identity" => {
                let i = self.identity.as_ref()?;
                match rest {
                    "username" => Some(i.username.clone()),
                    "email" => i.email.clone(),
                    "department" => i.department.clone(),
                    "privileged" => Some(i.privileged.to_string()),
                    "manager" => i.manager.clone(),
                    other => i
                        .attributes
                        .get(other.strip_prefix("attributes.").unwrap_or(other))
                        .cloned(),
                }
            }
            "intel_hits" => match rest {
                "" => {
                    let v: Vec<String> = self
                        .intel_hits
                        .iter()
                        .map(|h| format!("{} ({})", h.indicator, h.list))
                        .collect();
                    join(&v)
                }
                "count" => Some(self.intel_hits.len().to_string()),
                _ => None,
            },
            "history" => {
                let h = self.history.as_ref()?;
                match rest {
                    "incidents_30d" => Some(h.incidents_30d.to_string()),
                    "last_incident_id" => h.last_incident_id.map(|i| i.to_string()),
                    _ => None,
                }
            }
            "partial" if rest.is_empty() => Some(self.partial.to_string()),
            _ => None,
        }
    }
}

/// What an HTTP source looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Asset,
    Identity,
}

/// `[[enrich.http_sources]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    /// With `{host}` (asset) or `{user}` (identity), percent-encoded on use.
    pub url_template: String,
    /// Header values; `env:NAME` reads the environment variable at start.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// cordon field → dotted path in the JSON answer. Fields other than the
    /// typed ones (`tier`, `owners`, `department`, …) become attributes.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Cache lifetime of answers (also of "not found"); default `10m`.
    pub ttl: Option<String>,
    /// Overrides the global budget for this source.
    pub budget: Option<String>,
    /// Cache size bound; default 10000.
    pub max_entries: Option<usize>,
}

/// The `[enrich]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrichConfig {
    /// Time budget of each source (`300ms`).
    pub budget: String,
    /// Indicator list files.
    pub intel_files: Vec<String>,
    /// How often an intel file's mtime is checked, at most (`1s`).
    pub intel_recheck: String,
    pub http_sources: Vec<SourceConfig>,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            budget: "300ms".into(),
            intel_files: Vec::new(),
            intel_recheck: "1s".into(),
            http_sources: Vec::new(),
        }
    }
}

/// A configuration the enricher cannot start with; the message says what
/// to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("enrich config: {0}")]
pub struct EnrichConfigError(pub String);

/// Gathers enrichment. Cheap to share (`Arc<Enricher>`); all state (intel
/// lists, HTTP caches) is behind its own lock.
#[derive(Debug)]
pub struct Enricher {
    budget: Duration,
    intel: Vec<IntelList>,
    http: Vec<Arc<http::HttpSource>>,
}

/// The outcome of one source, before it is folded into the [`Enrichment`].
enum Outcome {
    Assets(Vec<Asset>),
    Identity(Option<Identity>),
    Found(Vec<http::Found>),
    Intel(Vec<IntelHit>),
    History(History),
}

impl Enricher {
    /// Builds the enricher: parses durations, reads the intel files once
    /// (a missing or broken file is an error now rather than silence
    /// later) and resolves `env:` headers.
    pub fn new(cfg: &EnrichConfig) -> Result<Enricher, EnrichConfigError> {
        let e = |m: String| EnrichConfigError(m);
        let budget = parse_duration(&cfg.budget).map_err(|m| e(format!("budget: {m}")))?;
        let recheck =
            parse_duration(&cfg.intel_recheck).map_err(|m| e(format!("intel_recheck: {m}")))?;
        let intel = cfg
            .intel_files
            .iter()
            .map(|p| IntelList::open(p, recheck).map_err(|m| e(format!("intel_files: {m}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let client = reqwest::Client::builder()
            .connect_timeout(budget.max(Duration::from_millis(100)))
            .build()
            .map_err(|err| e(format!("HTTP client: {err}")))?;
        let mut http = Vec::new();
        for s in &cfg.http_sources {
            if http
                .iter()
                .any(|h: &Arc<http::HttpSource>| h.name == s.name)
            {
                return Err(e(format!(
                    "http_sources: the name `{}` is used twice",
                    s.name
                )));
            }
            http.push(Arc::new(
                http::HttpSource::new(s, budget, client.clone()).map_err(e)?,
            ));
        }
        Ok(Enricher {
            budget,
            intel,
            http,
        })
    }

    /// [`Enricher::enrich_for`] without an incident to leave out of the history.
    pub async fn enrich(&self, store: &Store, alert: &NewAlert, now: Timestamp) -> Enrichment {
        self.enrich_for(store, alert, None, now).await
    }

    /// Enriches one alert. `incident` is the incident the alert already
    /// belongs to, left out of the history count. Never fails: each source
    /// runs under its own timeout and reports how it did.
    pub async fn enrich_for(
        &self,
        store: &Store,
        alert: &NewAlert,
        incident: Option<IncidentId>,
        now: Timestamp,
    ) -> Enrichment {
        let o = &alert.observables;
        let hosts: Vec<String> = o.hosts.iter().take(MAX_HOSTS).cloned().collect();
        let user = o.users.first().cloned();

        type Job<'a> = (String, Duration, BoxFuture<'a, Result<Outcome, String>>);
        let mut jobs: Vec<Job<'_>> = Vec::new();

        if !hosts.is_empty() {
            let hs = hosts.clone();
            jobs.push((
                "store.assets".into(),
                self.budget,
                Box::pin(async move {
                    let mut found = Vec::new();
                    for h in &hs {
                        if let Some(a) = store.find_asset(h).await.map_err(|e| e.to_string())? {
                            found.push(a);
                        }
                    }
                    Ok(Outcome::Assets(found))
                }),
            ));
            let keys: Vec<String> = hosts
                .iter()
                .map(|h| format!("host:{}", h.to_lowercase()))
                .collect();
            let since = now - chrono::Duration::days(30);
            jobs.push((
                "history".into(),
                self.budget,
                Box::pin(async move {
                    let h = store
                        .incidents_with_keys_since(&keys, since, incident)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(Outcome::History(History {
                        incidents_30d: h.incidents.len(),
                        last_incident_id: h.incidents.first().map(|i| i.0),
                    }))
                }),
            ));
        }
        if let Some(u) = user.clone() {
            jobs.push((
                "store.identities".into(),
                self.budget,
                Box::pin(async move {
                    let i = store.find_identity(&u).await.map_err(|e| e.to_string())?;
                    Ok(Outcome::Identity(i))
                }),
            ));
        }
        for src in &self.http {
            let keys: Vec<String> = match src.kind {
                SourceKind::Asset => hosts.clone(),
                SourceKind::Identity => user.iter().cloned().collect(),
            };
            if keys.is_empty() {
                continue;
            }
            let src = src.clone();
            jobs.push((
                src.name.clone(),
                src.budget,
                Box::pin(async move {
                    let answers =
                        futures::future::join_all(keys.iter().map(|k| src.lookup(k))).await;
                    let mut found = Vec::new();
                    for a in answers {
                        found.extend(a?);
                    }
                    Ok(Outcome::Found(found))
                }),
            ));
        }
        let mut ips: Vec<String> = o.source_ips.clone();
        ips.extend(o.ips.iter().cloned());
        let has_indicators = !ips.is_empty() || !o.domains.is_empty() || !o.file_hashes.is_empty();
        if !self.intel.is_empty() && has_indicators {
            let (domains, hashes) = (o.domains.clone(), o.file_hashes.clone());
            jobs.push((
                "intel".into(),
                self.budget,
                Box::pin(async move {
                    let mut hits = Vec::new();
                    let mut errors = Vec::new();
                    for list in &self.intel {
                        let (h, err) = list.matches(&ips, &domains, &hashes).await;
                        hits.extend(h);
                        errors.extend(err);
                    }
                    // Hits from the last good copy are still hits; a reload
                    // error marks the source failed so the result is partial.
                    if errors.is_empty() {
                        Ok(Outcome::Intel(hits))
                    } else {
                        Err(format!(
                            "{} [hits so far: {}]",
                            errors.join("; "),
                            hits.len()
                        ))
                    }
                }),
            ));
        }

        let results = futures::future::join_all(
            jobs.into_iter()
                .map(|(name, budget, fut)| timed(name, budget, fut)),
        )
        .await;

        let mut en = Enrichment::default();
        let mut store_assets: Vec<Asset> = Vec::new();
        let mut http_assets: Vec<Asset> = Vec::new();
        let mut store_identity: Option<Identity> = None;
        let mut http_identity: Option<Identity> = None;
        for (report, outcome) in results {
            if !report.ok {
                en.partial = true;
                tracing::warn!(source = %report.name, error = ?report.error, "enrichment source failed");
            }
            en.sources.push(report);
            match outcome {
                Some(Outcome::Assets(a)) => store_assets = a,
                Some(Outcome::Identity(i)) => store_identity = i,
                Some(Outcome::Found(found)) => {
                    for f in found {
                        match f {
                            http::Found::Asset(a) => http_assets.push(a),
                            http::Found::Identity(i) => http_identity = Some(i),
                        }
                    }
                }
                Some(Outcome::Intel(h)) => en.intel_hits = h,
                Some(Outcome::History(h)) => en.history = Some(h),
                None => {}
            }
        }
        // One asset per host: the imported inventory is the base, live HTTP
        // answers (fresher) override the fields they carry.
        for h in &hosts {
            let mut base: Option<Asset> = store_assets.iter().find(|a| names_host(a, h)).cloned();
            for live in http_assets.iter().filter(|a| names_host(a, h)) {
                base = Some(match base {
                    None => live.clone(),
                    Some(b) => merge_asset(b, live.clone()),
                });
            }
            if let Some(a) = base
                && !en.assets.iter().any(|x| x.hostname == a.hostname)
            {
                en.assets.push(a);
            }
        }
        en.asset = hosts
            .first()
            .and_then(|h| en.assets.iter().find(|a| names_host(a, h)).cloned());
        en.identity = match (store_identity, http_identity) {
            (Some(s), Some(l)) => Some(merge_identity(s, l)),
            (s, l) => l.or(s),
        };
        en
    }
}

/// Runs one source under its budget and reports how it went.
async fn timed<F>(name: String, budget: Duration, fut: F) -> (SourceReport, Option<Outcome>)
where
    F: Future<Output = Result<Outcome, String>>,
{
    let start = Instant::now();
    let r = tokio::time::timeout(budget, fut).await;
    let elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (ok, error, outcome) = match r {
        Ok(Ok(o)) => (true, None, Some(o)),
        Ok(Err(e)) => (false, Some(e), None),
        Err(_) => (
            false,
            Some(format!("timed out after {} ms", budget.as_millis())),
            None,
        ),
    };
    (
        SourceReport {
            name,
            ok,
            elapsed_ms,
            error,
        },
        outcome,
    )
}

/// Whether `a` is the asset the alert calls `host` (hostname, short name of
/// an FQDN, or one of its IPs).
fn names_host(a: &Asset, host: &str) -> bool {
    let h = host.trim().to_lowercase();
    let short = h.split('.').next().unwrap_or(&h);
    a.hostname == h || a.hostname == short || a.ips.contains(&h)
}

fn merge_asset(mut base: Asset, live: Asset) -> Asset {
    if !live.ips.is_empty() {
        base.ips = live.ips;
    }
    base.tier = live.tier.or(base.tier);
    base.environment = live.environment.or(base.environment);
    base.business_service = live.business_service.or(base.business_service);
    if !live.owners.is_empty() {
        base.owners = live.owners;
    }
    base.attributes.extend(live.attributes);
    base
}

fn merge_identity(mut base: Identity, live: Identity) -> Identity {
    base.email = live.email.or(base.email);
    base.department = live.department.or(base.department);
    base.manager = live.manager.or(base.manager);
    base.privileged = base.privileged || live.privileged;
    base.attributes.extend(live.attributes);
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_as_the_matrix_evidence_names_them() {
        let asset = Asset {
            hostname: "ws-0142".into(),
            ips: vec!["10.20.1.42".into()],
            tier: Some("workstation".into()),
            owners: vec!["dave".into()],
            attributes: BTreeMap::from([("crowdstrike_aid".into(), "aid0142".into())]),
            ..Asset::default()
        };
        let en = Enrichment {
            asset: Some(asset.clone()),
            assets: vec![asset],
            identity: Some(Identity {
                username: "jdoe".into(),
                department: Some("finance".into()),
                ..Identity::default()
            }),
            intel_hits: vec![IntelHit {
                indicator: "203.0.113.9".into(),
                kind: IntelKind::Ip,
                list: "bad-ips".into(),
                entry: None,
            }],
            history: Some(History {
                incidents_30d: 2,
                last_incident_id: Some(7),
            }),
            partial: true,
            sources: vec![],
        };
        let cases = [
            ("asset.tier", Some("workstation")),
            ("asset.owners", Some("dave")),
            ("asset.business_service", None),
            ("asset.crowdstrike_aid", Some("aid0142")),
            ("asset.attributes.crowdstrike_aid", Some("aid0142")),
            ("identity.department", Some("finance")),
            ("identity.privileged", Some("false")),
            ("intel_hits", Some("203.0.113.9 (bad-ips)")),
            ("intel_hits.count", Some("1")),
            ("history.incidents_30d", Some("2")),
            ("history.last_incident_id", Some("7")),
            ("partial", Some("true")),
            ("nonsense", None),
        ];
        for (path, want) in cases {
            assert_eq!(en.field(path).as_deref(), want, "{path}");
        }
        assert!(en.asset_for("10.20.1.42").is_some());
        assert!(en.asset_for("WS-0142.corp.example").is_some());
        assert!(en.asset_for("ws-9999").is_none());
        let back: Enrichment = serde_json::from_value(serde_json::to_value(&en).unwrap()).unwrap();
        assert_eq!(back, en);
    }
}
