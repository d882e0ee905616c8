//! The sim's one clock: wall time in milliseconds, a manual clock a test moves by hand, or
//! tokio's clock (paused in a test, it moves when the test's timers do).
//!
//! Arrival timestamps, iterator expiry, retention and the per-shard rate limits all read this
//! clock, so a test that sets a manual clock gets the same throttling on any machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The latest time a clock reads, in epoch milliseconds (about the year 37,600): every sum of an
/// instant and a duration the sim makes (retention, expiry, transitions) stays far inside an
/// `i64` from 0 to here.
pub const MAX_MS: i64 = 1 << 50;

/// Milliseconds since the Unix epoch, from the system or from a hand; always within
/// `0..=MAX_MS`.
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
        let ms = match (&self.manual, &self.tokio) {
            (Some(t), _) => t.load(Ordering::Relaxed),
            (None, Some((start, at))) => start.saturating_add(at.elapsed().as_millis() as i64),
            (None, None) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
        };
        ms.clamp(0, MAX_MS)
    }

    /// Moves a manual clock by `ms` (kept within `0..=MAX_MS`); returns `false` (and does
    /// nothing) on the system clock.
    pub fn advance(&self, ms: i64) -> bool {
        let Some(t) = &self.manual else { return false };
        let _ =
            t.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| Some(now.saturating_add(ms).clamp(0, MAX_MS)));
        true
    }

    /// Sets a manual clock (kept within `0..=MAX_MS`); returns `false` (and does nothing) on the
    /// system clock.
    pub fn set(&self, ms: i64) -> bool {
        self.manual.as_ref().map(|t| t.store(ms.clamp(0, MAX_MS), Ordering::Relaxed)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test's hand (or the admin API) can ask for any time; the clock stays where the sim's
    /// arithmetic is safe (the fuzzer found a trim that overflowed at `set_ms = i64::MIN`).
    #[test]
    fn a_manual_clock_stays_within_its_range() {
        let c = Clock::manual(5);
        c.set(i64::MIN);
        assert_eq!(c.now_ms(), 0);
        c.set(i64::MAX);
        assert_eq!(c.now_ms(), MAX_MS);
        c.advance(i64::MAX);
        assert_eq!(c.now_ms(), MAX_MS);
        c.advance(i64::MIN);
        assert_eq!(c.now_ms(), 0);
        assert_eq!(Clock::manual(-7).now_ms(), 0);
    }
}
