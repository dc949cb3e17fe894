//! Slack user groups (`slack_groups` in the matrix) resolved to members
//! through `usergroups.users.list`, cached.
//!
//! The cache is refreshed on a timer and, when a clicking user is in none of
//! the cached groups, once more right away (at most every `miss_refresh`), so
//! someone just added to `@soc-leads` can act without waiting for the timer.
//! A group that cannot be fetched keeps its last known members; one never
//! fetched counts as empty. That fails closed: an unknown membership grants
//! nothing.

use super::api::SlackApi;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Group id → member user ids, and when they were last refreshed.
type Members = (BTreeMap<String, BTreeSet<String>>, Option<Instant>);

/// The cache of the matrix's Slack user groups.
#[derive(Debug)]
pub struct GroupCache {
    groups: Vec<String>,
    members: RwLock<Members>,
    miss_refresh: Duration,
}

impl GroupCache {
    /// A cache for the groups the matrix names.
    pub fn new(groups: Vec<String>, miss_refresh: Duration) -> GroupCache {
        GroupCache {
            groups,
            members: RwLock::new((BTreeMap::new(), None)),
            miss_refresh,
        }
    }

    /// Fetches every group once. Returns how many failed.
    pub async fn refresh(&self, api: &SlackApi) -> usize {
        let mut fetched = BTreeMap::new();
        let mut failed = 0;
        for g in &self.groups {
            match api.usergroup_users(g).await {
                Ok(users) => {
                    fetched.insert(g.clone(), users.into_iter().collect::<BTreeSet<_>>());
                }
                Err(e) => {
                    failed += 1;
                    tracing::warn!(group = %g, error = %e, "slack user group not refreshed; keeping its last members");
                }
            }
        }
        let mut w = self.members.write().await;
        w.0.extend(fetched);
        w.1 = Some(Instant::now());
        failed
    }

    fn lookup(map: &BTreeMap<String, BTreeSet<String>>, user: &str) -> Vec<String> {
        map.iter()
            .filter(|(_, m)| m.contains(user))
            .map(|(g, _)| g.clone())
            .collect()
    }

    /// The groups `user` is in; refreshes first on a miss (see module docs).
    pub async fn groups_of(&self, api: &SlackApi, user: &str) -> Vec<String> {
        if self.groups.is_empty() {
            return vec![];
        }
        let (found, stale) = {
            let r = self.members.read().await;
            let stale = r.1.is_none_or(|t| t.elapsed() >= self.miss_refresh);
            (Self::lookup(&r.0, user), stale)
        };
        if !found.is_empty() || !stale {
            return found;
        }
        self.refresh(api).await;
        Self::lookup(&self.members.read().await.0, user)
    }

    /// Members of the given groups (for invitations), from the cache.
    pub async fn members_of(&self, groups: &[String]) -> BTreeSet<String> {
        let r = self.members.read().await;
        groups
            .iter()
            .filter_map(|g| r.0.get(g))
            .flat_map(|m| m.iter().cloned())
            .collect()
    }
}
