//! The sim's one clock: wall time in milliseconds, or a manual clock a test moves by hand.
//!
//! Arrival timestamps, iterator expiry, retention and the per-shard rate limits all read this
//! clock, so a test that sets a manual clock gets the same throttling on any machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, from the system or from a hand.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that stands at `start_ms` until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(start_ms: i64) -> Clock {
        Clock { manual: Some(Arc::new(AtomicI64::new(start_ms))) }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::Relaxed),
            None => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
        }
    }

    /// Moves a manual clock forward; returns `false` (and does nothing) on the system clock.
    pub fn advance(&self, ms: i64) -> bool {
        self.manual.as_ref().map(|t| t.fetch_add(ms, Ordering::Relaxed)).is_some()
    }

    /// Sets a manual clock; returns `false` (and does nothing) on the system clock.
    pub fn set(&self, ms: i64) -> bool {
        self.manual.as_ref().map(|t| t.store(ms, Ordering::Relaxed)).is_some()
    }
}
