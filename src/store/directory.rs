//! The asset inventory and identity directory used by enrichment.

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

/// An asset by exact or short host name ($1, $2) or by address ($1).
const ASSET_BY_NAME_OR_IP: &str = "select hostname, ips, tier, environment, business_service, owners, attributes from ( \
       select hostname, ips, tier, environment, business_service, owners, attributes from assets \
       where hostname = $1 or hostname = $2 \
       union \
       select a.hostname, a.ips, a.tier, a.environment, a.business_service, a.owners, a.attributes \
       from asset_ips i join assets a on a.hostname = i.hostname where i.ip = $1 \
     ) x order by hostname = $1 desc, hostname limit 1";

/// An asset by exact or short host name ($1, $2).
const ASSET_BY_NAME: &str = "select hostname, ips, tier, environment, business_service, owners, attributes from assets \
     where hostname = $1 or hostname = $2 order by hostname = $1 desc limit 1";

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
                // The IP index follows the asset's IPs as imported now.
                let host = a.hostname.to_lowercase();
                sqlx::query("delete from asset_ips where hostname = $1")
                    .bind(&host)
                    .execute(&mut *tx)
                    .await?;
                let ips: std::collections::BTreeSet<String> = a
                    .ips
                    .iter()
                    .map(|ip| ip.trim().to_lowercase())
                    .filter(|ip| !ip.is_empty())
                    .collect();
                for ip in ips {
                    sqlx::query("insert into asset_ips (ip, hostname) values ($1, $2)")
                        .bind(ip)
                        .bind(&host)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(assets.len())
        })
    }

    /// Finds an asset by host name (case-insensitive, also the short name of
    /// an FQDN) or by one of its IPs.
    pub async fn find_asset(&self, host_or_ip: &str) -> Result<Option<Asset>> {
        let key = host_or_ip.trim().to_lowercase();
        let short = key.split('.').next().unwrap_or(&key).to_owned();
        // An address is also looked up in the IP index (`asset_ips`), with
        // a union so that each arm is an index probe; the exact host name
        // wins, then the lowest host name among those sharing the address.
        let by_ip = key.parse::<std::net::IpAddr>().is_ok();
        let sql = if by_ip {
            ASSET_BY_NAME_OR_IP
        } else {
            ASSET_BY_NAME
        };
        on_pool!(&self.read, p => {
            let q = sqlx::query_as::<_, AssetDb>(sql).bind(&key).bind(&short);
            let row = q.fetch_optional(p).await?;
            row.map(AssetDb::into_asset).transpose()
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
            }
            tx.commit().await?;
            Ok(ids.len())
        })
    }

    /// Finds an identity by user name or email (case-insensitive; `DOMAIN\user`
    /// and `user@domain` also match the bare user name).
    pub async fn find_identity(&self, user: &str) -> Result<Option<Identity>> {
        let key = user.trim().to_lowercase();
        let bare = key
            .rsplit('\\')
            .next()
            .unwrap_or(&key)
            .split('@')
            .next()
            .unwrap_or(&key)
            .to_owned();
        on_pool!(&self.read, p => {
            let row = sqlx::query_as::<_, IdentityDb>(
                "select username, email, department, privileged, manager, attributes from identities \
                 where username = $1 or lower(email) = $1 or username = $2 order by username = $1 desc limit 1",
            )
            .bind(&key)
            .bind(&bare)
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alert carrying an address looks it up: reading the whole
    /// inventory for it (as the JSON `like` did) slows every pipeline.
    #[tokio::test]
    async fn the_sqlite_lookup_by_address_probes_indexes() {
        let (_dir, store, pool) = crate::store::sqlite_for_plans().await;
        let p = &pool;
        let plan = format!("explain query plan {ASSET_BY_NAME_OR_IP}");
        let steps: Vec<String> =
            sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(plan))
                .bind("10.0.4.17")
                .bind("10")
                .fetch_all(p)
                .await
                .expect("plan")
                .into_iter()
                .map(|r| r.3)
                .collect();
        // `SCAN x` walks the union's few rows to order them.
        assert!(
            !steps.iter().any(|s| s.starts_with("SCAN") && s != "SCAN x"),
            "the lookup reads a whole table: {steps:#?}"
        );
        store.close().await;
    }
}
