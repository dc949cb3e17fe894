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

/// Per-channel pacing: Slack allows about one message per second per
/// channel. Each post takes the next free slot of its channel; a job whose
/// slot is further away than `max_wait` is handed back to the job queue
/// with that delay instead of holding a worker.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    max_wait: Duration,
    next: std::sync::Mutex<BTreeMap<String, tokio::time::Instant>>,
}

impl Pacer {
    pub fn new(interval: Duration, max_wait: Duration) -> Pacer {
        Pacer {
            interval,
            max_wait,
            next: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Waits for the channel's next slot. `Err(delay)`: too far away, come back later.
    pub async fn wait(&self, channel: &str) -> Result<(), Duration> {
        if self.interval.is_zero() {
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        let slot = {
            let mut g = match self.next.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let slot = g.get(channel).copied().unwrap_or(now).max(now);
            if slot - now > self.max_wait {
                return Err(slot - now);
            }
            g.insert(channel.to_owned(), slot + self.interval);
            if g.len() > 10_000 {
                g.retain(|_, t| *t > now);
            }
            slot
        };
        tokio::time::sleep_until(slot).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn posts_to_one_channel_are_spaced_and_far_slots_are_handed_back() {
        let p = Pacer::new(Duration::from_millis(30), Duration::from_secs(1));
        let t0 = std::time::Instant::now();
        for _ in 0..4 {
            p.wait("C1").await.expect("slot");
        }
        assert!(
            t0.elapsed() >= Duration::from_millis(90),
            "{:?}",
            t0.elapsed()
        );
        // Another channel is not held up by C1.
        let t1 = std::time::Instant::now();
        p.wait("C2").await.expect("slot");
        assert!(t1.elapsed() < Duration::from_millis(30));
        // Reserve slots without waiting for them: beyond max_wait the
        // caller is told to come back later.
        let p = Pacer::new(Duration::from_secs(1), Duration::from_secs(3));
        for _ in 0..4 {
            let _ = tokio::time::timeout(Duration::ZERO, p.wait("C1")).await;
        }
        let later = p.wait("C1").await.expect_err("too far");
        assert!(later > Duration::from_secs(3), "{later:?}");
    }
}
