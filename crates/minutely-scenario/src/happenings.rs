//! What a run tells its consumer side and hears back from it: how many events were put so far
//! (a worker joins after some), and what happened when (reshards, consumer restarts, workers
//! killed or added), for the report's markers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minutely_aws::clock::{self, Instant};
use minutely_consumer::output::CrashAfter;

#[derive(Clone, Debug, Default)]
pub(crate) struct Happenings {
    events_put: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Happenings {
    /// `what` happened now.
    pub fn happened(&self, what: &str) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push((clock::now(), what.to_owned()));
    }

    /// Everything that happened, in order.
    pub fn all(&self) -> Vec<(Instant, String)> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_events_put(&self, n: u64) {
        self.events_put.store(n, Ordering::Relaxed);
    }

    pub fn events_put(&self) -> u64 {
        self.events_put.load(Ordering::Relaxed)
    }
}

/// Marks the stall's start and end of `who` for the report and its page.
pub(crate) async fn mark_stall(stall: Arc<CrashAfter>, happenings: Happenings, who: &str) {
    while stall.stalled_until().is_none() {
        clock::sleep(Duration::from_millis(100)).await;
    }
    happenings.happened(&format!("{who} stalled"));
    if let Some(until) = stall.stalled_until() {
        clock::sleep_until(until).await;
        happenings.happened(&format!("{who} resumed"));
    }
}
