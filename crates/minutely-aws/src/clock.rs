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
//!
//! A scenario on virtual time runs on a paused current-thread runtime and names its own wall
//! clock ([`virtual_wall`]): on that thread, [`unix_ms`] is a fixed epoch moved on by tokio's
//! clock, so run ids, lease stamps and "now" come out the same on every replay.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

pub use tokio::time::{Instant, sleep, sleep_until};

/// Now, on tokio's clock (paused and advanced by tests; the real monotonic clock otherwise).
pub fn now() -> Instant {
    Instant::now()
}

thread_local! {
    /// On a virtual-time thread: the epoch named and tokio's instant when it was named.
    static VIRTUAL_WALL: Cell<Option<(i64, Instant)>> = const { Cell::new(None) };
}

/// Milliseconds since the Unix epoch: from the wall clock, or on a thread under
/// [`virtual_wall`], from its epoch and tokio's clock.
pub fn unix_ms() -> i64 {
    if let Some((epoch_ms, at)) = VIRTUAL_WALL.get() {
        return epoch_ms.saturating_add(at.elapsed().as_millis() as i64);
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// While the guard lives, [`unix_ms`] on this thread reads `epoch_ms` moved on by tokio's
/// clock since now. Called inside a paused current-thread runtime (every task of which runs on
/// this thread), it makes the wall clock as virtual as the rest.
pub fn virtual_wall(epoch_ms: i64) -> VirtualWall {
    let previous = VIRTUAL_WALL.replace(Some((epoch_ms, now())));
    VirtualWall { previous }
}

/// Restores the thread's wall clock when dropped.
#[derive(Debug)]
#[must_use = "the wall clock is virtual only while the guard lives"]
pub struct VirtualWall {
    previous: Option<(i64, Instant)>,
}

impl Drop for VirtualWall {
    fn drop(&mut self) {
        VIRTUAL_WALL.set(self.previous);
    }
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

    #[tokio::test(start_paused = true)]
    async fn a_virtual_wall_follows_the_paused_clock_and_ends_with_its_guard() {
        {
            let _wall = virtual_wall(1_000_000);
            assert_eq!(unix_ms(), 1_000_000);
            sleep(Duration::from_secs(90_000)).await;
            assert_eq!(unix_ms(), 1_000_000 + 90_000_000);
        }
        assert!(unix_ms() > 1_700_000_000_000, "the real wall clock again");
    }
}
