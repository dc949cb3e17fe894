//! Per-channel pacing of posts, for every chat surface: Slack allows about
//! one message per second per channel, Discord about five per five seconds
//! per channel or thread; each surface sets its own interval
//! (`[slack] pacing`, `[discord] pacing`). Order within an incident is the
//! job queue's business; this only spaces posts out, and hands a post back
//! to the queue rather than hold a worker for long.

use std::collections::BTreeMap;
use std::time::Duration;

/// Per-channel pacing. Each post takes the next free slot of its channel; a job whose
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
