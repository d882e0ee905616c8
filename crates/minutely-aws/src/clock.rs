//! The one clock. Every wait, deadline, interval and latency in minutely's pipeline reads
//! tokio's clock through here, so a test that pauses it (`#[tokio::test(start_paused = true)]`)
//! controls all of them at once: retry backoff, the producer's pacing and rate limiter, the
//! consumer's polls, discovery and checkpoint intervals, the scenario's latencies. tokio's
//! clock is the injection point (it is what `tokio::time::sleep` already obeys), so there is no
//! second clock to keep in step with it. Wall-clock time, for what has to name a moment in the
//! world (a run's id, "now" for generated events), is [`unix_ms`].
//!
//! The emulator keeps its own clock (`minutely_sim::Clock`), which can follow this one
//! (`Clock::tokio`); process supervision in `minutely-localstack` waits for real processes in
//! real time, and benchmarks and examples measure real time, so those three read
//! `std::time::Instant` themselves.

use std::time::{SystemTime, UNIX_EPOCH};

pub use tokio::time::{Instant, sleep, sleep_until};

/// Now, on tokio's clock (paused and advanced by tests; the real monotonic clock otherwise).
pub fn now() -> Instant {
    Instant::now()
}

/// Milliseconds since the Unix epoch, from the wall clock.
pub fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_moves_only_when_told() {
        let t0 = now();
        sleep(Duration::from_secs(3600)).await;
        assert_eq!(now() - t0, Duration::from_secs(3600));
        assert!(unix_ms() > 1_700_000_000_000);
    }
}
