//! The one place that reads the system clock. Everything else gets `now`
//! from a [`Clock`], so tests can pin and move time.

use crate::domain::Timestamp;
use std::sync::Mutex;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// A clock that only moves when told to (tests and drills).
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(Mutex::new(at))
    }
    pub fn set(&self, at: Timestamp) {
        if let Ok(mut g) = self.0.lock() {
            *g = at;
        }
    }
    pub fn advance(&self, d: std::time::Duration) {
        if let Ok(mut g) = self.0.lock() {
            *g = crate::domain::time::add(*g, d);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        match self.0.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }
}
