//! The state every connection shares: the streams, the buckets, the faults, the clock and the
//! counters.

use std::sync::{Arc, Mutex, RwLock};

use crate::clock::Clock;
use crate::faults::Faults;
use crate::kinesis::state::Kinesis;
use crate::s3::Store;
use crate::stats::{Stats, StatsCell};

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub kinesis: Mutex<Kinesis>,
    pub s3: Arc<Store>,
    pub faults: RwLock<Faults>,
    pub initial_faults: Faults,
    pub limits: bool,
    /// AWS's states and empty pages (`Config::shapes`).
    pub shapes: crate::Shapes,
    pub clock: Clock,
    pub stats: StatsCell,
    /// `--verify-signatures`: the credentials every Kinesis and S3 request must be signed with.
    pub signatures: Option<crate::sigv4::Credentials>,
    /// Request bodies being read, bounded (`Bounds::bodies_in_flight`).
    pub bodies: crate::budget::Budget,
}

impl Shared {
    /// Empty, with AWS's limits on or off, the starting faults and the clock; AWS's shapes of
    /// time and state as [`crate::Shapes::default`] (`with_shapes` changes them).
    pub(crate) fn new(limits: bool, faults: &Faults, clock: &Clock) -> Shared {
        Shared {
            kinesis: Mutex::new(Kinesis::new(limits, crate::Shapes::default())),
            s3: Arc::new(Store::new(clock.clone())),
            faults: RwLock::new(faults.clone()),
            initial_faults: faults.clone(),
            limits,
            shapes: crate::Shapes::default(),
            clock: clock.clone(),
            stats: StatsCell::default(),
            signatures: None,
            bodies: crate::budget::Budget::new(crate::budget::DEFAULT_BYTES),
        }
    }

    pub(crate) fn with_shapes(mut self, shapes: crate::Shapes) -> Shared {
        self.shapes = shapes;
        self.kinesis.get_mut().unwrap_or_else(|e| e.into_inner()).shapes = shapes;
        self
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut s = self.stats.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let k = self.kinesis.lock().unwrap_or_else(|e| e.into_inner());
        (s.records_stored, s.record_bytes_stored) = k.stored();
        s.limits = k.limit_stats.clone();
        s.streams = k.stream_counts();
        drop(k);
        (s.objects_stored, s.object_bytes_stored) = self.s3.stored();
        s
    }

    /// The ledger of stream `name`, if it exists.
    pub(crate) fn ledger(&self, name: &str) -> Option<crate::stats::Ledger> {
        self.kinesis.lock().unwrap_or_else(|e| e.into_inner()).ledger(name)
    }

    pub(crate) fn keep_trimmed(&self) {
        self.kinesis.lock().unwrap_or_else(|e| e.into_inner()).keep_trimmed();
    }

    pub(crate) fn reset(&self) {
        *self.kinesis.lock().unwrap_or_else(|e| e.into_inner()) = Kinesis::new(self.limits, self.shapes);
        self.s3.clear();
        *self.faults.write().unwrap_or_else(|e| e.into_inner()) = self.initial_faults.clone();
        *self.stats.0.lock().unwrap_or_else(|e| e.into_inner()) = Stats::default();
    }
}
