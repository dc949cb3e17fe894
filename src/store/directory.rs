//! The asset inventory and identity directory used by enrichment and by the
//! target resolution that comes before every judgement of the matrix.
//!
//! Every name a record is known by (host name, short name, addresses and
//! vendor ids for assets; user name, email and vendor ids for identities)
//! is a row of `asset_names` / `identity_names`, rewritten with each import
//! of the record. Resolution is strict: a name two records answer to is
//! ambiguous, and ambiguous is unknown (DESIGN §3a).

use super::{Result, json_err, on_pool};
use crate::domain::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One asset (host) as imported from the inventory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Asset {
    pub hostname: String,
    pub ips: Vec<String>,
    pub tier: Option<String>,
    pub environment: Option<String>,
    pub business_service: Option<String>,
    /// Person ids of the authority matrix, or emails.
    pub owners: Vec<String>,
    /// Vendor ids: crowdstrike_aid, mde_machine_id, s1_agent_id, ec2_instance_id, aws_region, …
    pub attributes: BTreeMap<String, String>,
}

/// One identity as imported from the directory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Identity {
    pub username: String,
    pub email: Option<String>,
    pub department: Option<String>,
    pub privileged: bool,
    pub manager: Option<String>,
    /// Vendor ids: okta_user_id, entra_user_id, …
    pub attributes: BTreeMap<String, String>,
}

#[derive(sqlx::FromRow)]
struct AssetDb {
    hostname: String,
    ips: String,
    tier: Option<String>,
    environment: Option<String>,
    business_service: Option<String>,
    owners: String,
    attributes: String,
}

impl AssetDb {
    fn into_asset(self) -> Result<Asset> {
        Ok(Asset {
            hostname: self.hostname,
            ips: serde_json::from_str(&self.ips).map_err(json_err)?,
            tier: self.tier,
            environment: self.environment,
            business_service: self.business_service,
            owners: serde_json::from_str(&self.owners).map_err(json_err)?,
            attributes: serde_json::from_str(&self.attributes).map_err(json_err)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct IdentityDb {
    username: String,
    email: Option<String>,
    department: Option<String>,
    privileged: bool,
    manager: Option<String>,
    attributes: String,
}

/// What a set of names resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<T> {
    /// No record answers to any of the names.
    Unknown,
    /// Exactly one record answers to them.
    One(T),
    /// Several records answer (their keys): judged as unknown.
    Ambiguous(Vec<String>),
}

impl<T> Resolved<T> {
    /// The record, when there is exactly one.
    pub fn one(self) -> Option<T> {
        match self {
            Resolved::One(t) => Some(t),
            _ => None,
        }
    }
}

/// The records (asset host names) answering to names `$1…`, and whether
/// only by their short name. One index probe per name.
fn names_sql(table: &str, key: &str, n: usize) -> String {
    let list = (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("select distinct {key}, kind = 'short' as short from {table} where name in ({list})")
}

const ASSET_COLS: &str = "hostname, ips, tier, environment, business_service, owners, attributes";

/// The lower-case forms of `names` and, for host names that are not
/// addresses, their short names (`ws-0142` of `ws-0142.corp.example`).
fn lookup_keys(names: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for n in names {
        let k = n.trim().to_lowercase();
        if k.is_empty() {
            continue;
        }
        if k.parse::<std::net::IpAddr>().is_err()
            && let Some((short, _)) = k.split_once('.')
            && !short.is_empty()
            && !keys.iter().any(|x| x == short)
        {
            keys.push(short.to_owned());
        }
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// Picks the one record among the matches: names that match a record
/// exactly win over short-name matches; more than one record is ambiguous.
fn pick(matches: Vec<(String, bool)>) -> Resolved<String> {
    let exact: std::collections::BTreeSet<String> = matches
        .iter()
        .filter(|(_, short)| !short)
        .map(|(k, _)| k.clone())
        .collect();
    let set = if exact.is_empty() {
        matches.into_iter().map(|(k, _)| k).collect()
    } else {
        exact
    };
    match set.len() {
        0 => Resolved::Unknown,
        1 => set
            .into_iter()
            .next()
            .map_or(Resolved::Unknown, Resolved::One),
        _ => Resolved::Ambiguous(set.into_iter().collect()),
    }
}

/// Every name an asset answers to, for `asset_names`.
fn asset_names(a: &Asset) -> Vec<(String, &'static str)> {
    let host = a.hostname.trim().to_lowercase();
    let mut out = vec![(host.clone(), "hostname")];
    if let Some((short, _)) = host.split_once('.')
        && !short.is_empty()
        && host.parse::<std::net::IpAddr>().is_err()
    {
        out.push((short.to_owned(), "short"));
    }
    for ip in &a.ips {
        out.push((ip.trim().to_lowercase(), "ip"));
    }
    for attr in crate::domain::action::ASSET_ID_ATTRIBUTES {
        if let Some(v) = a.attributes.get(attr) {
            out.push((v.trim().to_lowercase(), attr));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|(n, _)| !n.is_empty() && seen.insert(n.clone()));
    out
}

/// Every name an identity answers to, for `identity_names`.
fn identity_names(i: &Identity) -> Vec<(String, &'static str)> {
    let mut out = vec![(i.username.trim().to_lowercase(), "username")];
    if let Some(e) = &i.email {
        out.push((e.trim().to_lowercase(), "email"));
    }
    for attr in crate::domain::action::IDENTITY_ID_ATTRIBUTES {
        if let Some(v) = i.attributes.get(attr) {
            out.push((v.trim().to_lowercase(), attr));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|(n, _)| !n.is_empty() && seen.insert(n.clone()));
    out
}

impl super::Store {
    /// Inserts or replaces assets (keyed by lower-case hostname), all in one
    /// transaction: an import either lands whole or not at all.
    pub async fn upsert_assets(&self, assets: &[Asset], now: Timestamp) -> Result<usize> {
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            for a in assets {
                sqlx::query(
                    "insert into assets (hostname, ips, tier, environment, business_service, owners, attributes, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (hostname) do update set \
                     ips = excluded.ips, tier = excluded.tier, environment = excluded.environment, \
                     business_service = excluded.business_service, owners = excluded.owners, \
                     attributes = excluded.attributes, updated_at = excluded.updated_at",
                )
                .bind(a.hostname.to_lowercase())
                .bind(serde_json::to_string(&a.ips).map_err(json_err)?)
                .bind(&a.tier)
                .bind(&a.environment)
                .bind(&a.business_service)
                .bind(serde_json::to_string(&a.owners).map_err(json_err)?)
                .bind(serde_json::to_string(&a.attributes).map_err(json_err)?)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // The names follow the asset as imported now: a host that
                // moved is not found at its old address any more.
                let host = a.hostname.to_lowercase();
                sqlx::query("delete from asset_names where hostname = $1")
                    .bind(&host)
                    .execute(&mut *tx)
                    .await?;
                for (name, kind) in asset_names(a) {
                    sqlx::query("insert into asset_names (name, hostname, kind) values ($1, $2, $3)")
                        .bind(name)
                        .bind(&host)
                        .bind(kind)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(assets.len())
        })
    }

    /// Finds the one asset a name (host name, its short name, an address or
    /// a vendor id, case-insensitive) belongs to. `None` when no asset or
    /// several answer to it.
    pub async fn find_asset(&self, name: &str) -> Result<Option<Asset>> {
        Ok(self.resolve_asset(&[name.to_owned()]).await?.one())
    }

    /// Resolves a target known by several names (the alert's host name and
    /// the agent id it carried, say) to one asset. Names pointing at two
    /// different assets are ambiguous: an alert that calls a workstation by
    /// the agent id of a crown-jewel server must not pick either.
    pub async fn resolve_asset(&self, names: &[String]) -> Result<Resolved<Asset>> {
        let keys = lookup_keys(names);
        if keys.is_empty() {
            return Ok(Resolved::Unknown);
        }
        let sql = names_sql("asset_names", "hostname", keys.len());
        let matches: Vec<(String, bool)> = on_pool!(&self.read, p => {
            let mut q = sqlx::query_as::<_, (String, bool)>(sqlx::AssertSqlSafe(sql));
            for k in &keys {
                q = q.bind(k);
            }
            q.fetch_all(p).await?
        });
        let host = match pick(matches) {
            Resolved::One(h) => h,
            Resolved::Unknown => return Ok(Resolved::Unknown),
            Resolved::Ambiguous(hs) => return Ok(Resolved::Ambiguous(hs)),
        };
        let sql = format!("select {ASSET_COLS} from assets where hostname = $1");
        on_pool!(&self.read, p => {
            let row = sqlx::query_as::<_, AssetDb>(sqlx::AssertSqlSafe(sql))
                .bind(&host)
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Resolved::One(r.into_asset()?),
                None => Resolved::Unknown,
            })
        })
    }

    pub async fn upsert_identities(&self, ids: &[Identity], now: Timestamp) -> Result<usize> {
        on_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            for i in ids {
                sqlx::query(
                    "insert into identities (username, email, department, privileged, manager, attributes, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7) on conflict (username) do update set \
                     email = excluded.email, department = excluded.department, privileged = excluded.privileged, \
                     manager = excluded.manager, attributes = excluded.attributes, updated_at = excluded.updated_at",
                )
                .bind(i.username.to_lowercase())
                .bind(&i.email)
                .bind(&i.department)
                .bind(i.privileged)
                .bind(&i.manager)
                .bind(serde_json::to_string(&i.attributes).map_err(json_err)?)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let user = i.username.to_lowercase();
                sqlx::query("delete from identity_names where username = $1")
                    .bind(&user)
                    .execute(&mut *tx)
                    .await?;
                for (name, kind) in identity_names(i) {
                    sqlx::query("insert into identity_names (name, username, kind) values ($1, $2, $3)")
                        .bind(name)
                        .bind(&user)
                        .bind(kind)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(ids.len())
        })
    }

    /// Finds the one identity a name belongs to. `None` when none or
    /// several answer to it.
    pub async fn find_identity(&self, user: &str) -> Result<Option<Identity>> {
        Ok(self.resolve_identity(user).await?.one())
    }

    /// Resolves a user name, email, UPN or vendor id to one identity,
    /// exactly: an email matches an email, never the user name before its
    /// `@` (`bob@partner.example` is not our `bob`). Only `DOMAIN\user`,
    /// which names an account of the domain, falls back to the bare user
    /// name, and only when nothing matches the whole name.
    pub async fn resolve_identity(&self, user: &str) -> Result<Resolved<Identity>> {
        let key = user.trim().to_lowercase();
        if key.is_empty() {
            return Ok(Resolved::Unknown);
        }
        let mut found = self.identity_names_for(&key).await?;
        if found.is_empty()
            && let Some((_, bare)) = key.rsplit_once('\\')
            && !bare.is_empty()
        {
            found = self.identity_names_for(bare).await?;
        }
        let username = match found.len() {
            0 => return Ok(Resolved::Unknown),
            1 => found.remove(0),
            _ => return Ok(Resolved::Ambiguous(found)),
        };
        on_pool!(&self.read, p => {
            let row = sqlx::query_as::<_, IdentityDb>(
                "select username, email, department, privileged, manager, attributes from identities \
                 where username = $1",
            )
            .bind(&username)
            .fetch_optional(p)
            .await?;
            row.map(|r| {
                Ok(Identity {
                    username: r.username,
                    email: r.email,
                    department: r.department,
                    privileged: r.privileged,
                    manager: r.manager,
                    attributes: serde_json::from_str(&r.attributes).map_err(json_err)?,
                })
            })
            .transpose()
            .map(|i| i.map_or(Resolved::Unknown, Resolved::One))
        })
    }

    async fn identity_names_for(&self, key: &str) -> Result<Vec<String>> {
        on_pool!(&self.read, p => {
            let rows = sqlx::query_as::<_, (String,)>(
                "select distinct username from identity_names where name = $1 order by username",
            )
            .bind(key)
            .fetch_all(p)
            .await?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alert carrying an address or a host name looks it up: reading
    /// the whole inventory for it (as the JSON `like` once did) slows every
    /// pipeline.
    #[tokio::test]
    async fn the_sqlite_lookup_by_name_probes_indexes() {
        let (_dir, store, pool) = crate::store::sqlite_for_plans().await;
        let p = &pool;
        let plan = format!(
            "explain query plan {}",
            names_sql("asset_names", "hostname", 3)
        );
        let steps: Vec<String> =
            sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(plan))
                .bind("10.0.4.17")
                .bind("ws-1")
                .bind("aid-1")
                .fetch_all(p)
                .await
                .expect("plan")
                .into_iter()
                .map(|r| r.3)
                .collect();
        assert!(
            !steps.iter().any(|s| s.starts_with("SCAN")),
            "the lookup reads a whole table: {steps:#?}"
        );
        store.close().await;
    }

    #[test]
    fn exact_names_win_over_short_names_and_two_records_are_ambiguous() {
        let m = |v: &[(&str, bool)]| v.iter().map(|(k, s)| (k.to_string(), *s)).collect();
        assert_eq!(pick(m(&[])), Resolved::Unknown);
        assert_eq!(
            pick(m(&[("web.prod", false), ("web.dev", true)])),
            Resolved::One("web.prod".into())
        );
        assert_eq!(
            pick(m(&[("web.prod", true), ("web.dev", true)])),
            Resolved::Ambiguous(vec!["web.dev".into(), "web.prod".into()])
        );
        assert_eq!(
            pick(m(&[("ws-1", false), ("db-1", false)])),
            Resolved::Ambiguous(vec!["db-1".into(), "ws-1".into()])
        );
        assert_eq!(
            lookup_keys(&["WS-1.corp.example".into(), "10.0.0.1".into()]),
            vec!["ws-1", "ws-1.corp.example", "10.0.0.1"]
        );
    }
}
