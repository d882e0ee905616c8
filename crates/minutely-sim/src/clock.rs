//! The sim's one clock: wall time in milliseconds, a manual clock a test moves by hand, or
//! tokio's clock (paused in a test, it moves when the test's timers do).
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
    /// Wall time at `.1`, moved on by tokio's clock since.
    tokio: Option<(i64, tokio::time::Instant)>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Starts at `start_ms` and moves with tokio's clock: under `start_paused`, the sim's rate
    /// limits, arrival times and iterator expiry follow the test's virtual time.
    pub fn tokio(start_ms: i64) -> Clock {
        Clock { manual: None, tokio: Some((start_ms, tokio::time::Instant::now())) }
    }

    /// A clock that stands at `start_ms` until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(start_ms: i64) -> Clock {
        Clock { manual: Some(Arc::new(AtomicI64::new(start_ms))), tokio: None }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    pub fn now_ms(&self) -> i64 {
        match (&self.manual, &self.tokio) {
            (Some(t), _) => t.load(Ordering::Relaxed),
            (None, Some((start, at))) => start + at.elapsed().as_millis() as i64,
            (None, None) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
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
