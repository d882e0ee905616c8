//! What a consumer run did, live: one [`WorkerStats`] per shard reader (or stdin), written by
//! the reader and read by whoever shows or checks progress, and [`ShardStats`], every reader a
//! run has started, summed in one place ([`ShardStats::totals`]).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use minutely_aggregate::ProcessingTime;

use crate::aggregator::Counters;

/// Live numbers of one worker, for the progress line and the final report. The reader writes
/// them through the methods below; everyone else reads a [`WorkerSnapshot`].
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// The aggregator's counters as last published.
    counters: Mutex<Counters>,
    objects: AtomicU64,
    checkpoints: AtomicU64,
    open_windows: AtomicU64,
    /// `MillisBehindLatest` of the last GetRecords; -1 before the first.
    behind_ms: AtomicI64,
    /// GetRecords calls that returned nothing since the last record.
    empty_polls: AtomicU64,
    get_records_calls: AtomicU64,
    /// GetRecords calls that were answered (records or none).
    answers: AtomicU64,
    /// When the first and the last record arrived, in ms of the run's clock (0: none yet).
    first_record_ms: AtomicU64,
    last_record_ms: AtomicU64,
    finished: AtomicBool,
    /// This reader stopped (the run stops, or its lease went to another worker).
    stopped: AtomicBool,
    /// Times it resumed after a record older than the stream's retention (what came after it
    /// may have been trimmed unread).
    trim_gaps: AtomicU64,
    /// Records a GetRecords answer held again, at or before the position read (skipped).
    repeated: AtomicU64,
}

/// One worker's numbers at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    pub counters: Counters,
    pub objects: u64,
    pub checkpoints: u64,
    pub open_windows: u64,
    /// `MillisBehindLatest` of the last GetRecords; -1 before the first.
    pub behind_ms: i64,
    pub get_records_calls: u64,
    /// GetRecords calls answered: a waiter that needs a read begun after some moment waits
    /// for two more (the first may have been in flight).
    pub answers: u64,
    /// When the first and the last record arrived, in ms of the run's clock (0: none yet).
    pub first_record_ms: u64,
    pub last_record_ms: u64,
    pub finished: bool,
    pub stopped: bool,
    /// See [`WorkerStats::caught_up`].
    pub caught_up: bool,
    /// See [`WorkerStats::trim_gap`].
    pub trim_gaps: u64,
    /// See [`WorkerStats::repeated`].
    pub repeated: u64,
}

impl WorkerStats {
    pub fn new() -> Arc<WorkerStats> {
        let s = WorkerStats::default();
        s.behind_ms.store(-1, Ordering::Relaxed);
        Arc::new(s)
    }

    /// The counters as last published.
    pub fn counters(&self) -> Counters {
        *self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn snapshot(&self) -> WorkerSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WorkerSnapshot {
            counters: self.counters(),
            objects: get(&self.objects),
            checkpoints: get(&self.checkpoints),
            open_windows: get(&self.open_windows),
            behind_ms: self.behind_ms.load(Ordering::Relaxed),
            get_records_calls: get(&self.get_records_calls),
            answers: get(&self.answers),
            first_record_ms: get(&self.first_record_ms),
            last_record_ms: get(&self.last_record_ms),
            finished: self.finished.load(Ordering::Relaxed),
            stopped: self.stopped.load(Ordering::Relaxed),
            caught_up: self.caught_up(),
            trim_gaps: get(&self.trim_gaps),
            repeated: get(&self.repeated),
        }
    }

    /// Whether this shard's reader has read all there is: it finished the shard (closed by a
    /// reshard), or its last GetRecords returned nothing at zero `MillisBehindLatest`; or it
    /// stopped reading (nothing more to wait for from it).
    pub fn caught_up(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
            || self.stopped.load(Ordering::Relaxed)
            || (self.empty_polls.load(Ordering::Relaxed) > 0 && self.behind_ms.load(Ordering::Relaxed) == 0)
    }

    /// Whether this reader has stopped (see [`WorkerStats::stop`]).
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Notes that records arrived at `now` (for the read rate).
    pub fn arrived(&self, now: ProcessingTime) {
        let ms = now.0.max(1);
        let _ = self.first_record_ms.compare_exchange(0, ms, Ordering::Relaxed, Ordering::Relaxed);
        self.last_record_ms.store(ms, Ordering::Relaxed);
    }

    /// The aggregator's counters and open windows, as of now.
    pub fn publish(&self, counters: Counters, open_windows: usize) {
        *self.counters.lock().unwrap_or_else(|e| e.into_inner()) = counters;
        self.open_windows.store(open_windows as u64, Ordering::Relaxed);
    }

    pub fn object_written(&self) {
        self.objects.fetch_add(1, Ordering::Relaxed);
    }

    pub fn checkpoint_written(&self) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
    }

    /// A GetRecords call is sent.
    pub fn get_records_call(&self) {
        self.get_records_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// A GetRecords call answered `records` records, `behind_ms` behind the tip (-1: unknown).
    pub fn polled(&self, records: usize, behind_ms: i64) {
        self.answers.fetch_add(1, Ordering::Relaxed);
        if records > 0 {
            self.empty_polls.store(0, Ordering::Relaxed);
        } else {
            self.empty_polls.fetch_add(1, Ordering::Relaxed);
        }
        self.behind_ms.store(behind_ms, Ordering::Relaxed);
    }

    /// The reader resumed after a record older than the stream's retention: whatever arrived
    /// after it and before the trim horizon was trimmed before it was read.
    pub fn trim_gap(&self) {
        self.trim_gaps.fetch_add(1, Ordering::Relaxed);
    }

    /// A GetRecords answer began with `n` records read already (a backend that repeats them:
    /// see `kinesis/sequence.rs`); they were skipped. Returns how many were skipped before.
    pub fn repeated(&self, n: usize) -> u64 {
        self.repeated.fetch_add(n as u64, Ordering::Relaxed)
    }

    /// The shard was read to its end and written.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    /// The reader no longer reads: nothing more is to be waited for from it.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// Sums over several workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub counters: Counters,
    pub objects: u64,
    pub checkpoints: u64,
    pub open_windows: u64,
    /// The largest `MillisBehindLatest` of a worker still reading; -1 when none said.
    pub max_behind_ms: i64,
    pub get_records_calls: u64,
    /// The span between the first and the last arrival of records, over every worker (ms).
    pub reading_ms: u64,
    /// Every worker is caught up ([`WorkerStats::caught_up`]); true when there are none.
    pub caught_up: bool,
    /// Resumes behind the stream's retention ([`WorkerStats::trim_gap`]).
    pub trim_gaps: u64,
    /// Records answered again and skipped ([`WorkerStats::repeated`]).
    pub repeated: u64,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            counters: Counters::default(),
            objects: 0,
            checkpoints: 0,
            open_windows: 0,
            max_behind_ms: -1,
            get_records_calls: 0,
            reading_ms: 0,
            caught_up: true,
            trim_gaps: 0,
            repeated: 0,
        }
    }
}

impl Totals {
    /// The sums of `workers`.
    pub fn of<'a>(workers: impl IntoIterator<Item = &'a WorkerSnapshot>) -> Totals {
        let mut t = Totals::default();
        let (mut first, mut last) = (u64::MAX, 0);
        for s in workers {
            t.merge(&Totals {
                counters: s.counters,
                objects: s.objects,
                checkpoints: s.checkpoints,
                open_windows: s.open_windows,
                max_behind_ms: s.behind_ms,
                get_records_calls: s.get_records_calls,
                reading_ms: 0, // the span over every worker, below
                caught_up: s.caught_up,
                trim_gaps: s.trim_gaps,
                repeated: s.repeated,
            });
            if s.first_record_ms > 0 {
                first = first.min(s.first_record_ms);
                last = last.max(s.last_record_ms);
            }
        }
        t.reading_ms = last.saturating_sub(first);
        t
    }

    /// Adds another set of sums (another worker process's, say).
    pub fn merge(&mut self, o: &Totals) {
        self.counters += o.counters;
        self.objects += o.objects;
        self.checkpoints += o.checkpoints;
        self.open_windows += o.open_windows;
        self.get_records_calls += o.get_records_calls;
        self.max_behind_ms = self.max_behind_ms.max(o.max_behind_ms);
        self.reading_ms = self.reading_ms.max(o.reading_ms);
        self.caught_up &= o.caught_up;
        self.trim_gaps += o.trim_gaps;
        self.repeated += o.repeated;
    }
}

/// Every reader a run has started, by shard, in the order they started (a shard read twice,
/// after a lease came back, appears twice).
#[derive(Clone, Debug, Default)]
pub struct ShardStats(Arc<Mutex<Vec<Started>>>);

/// A reader's shard and its stats.
type Started = (String, Arc<WorkerStats>);

impl ShardStats {
    pub fn new() -> ShardStats {
        ShardStats::default()
    }

    /// A new reader of `shard`: its stats, kept here.
    pub fn start(&self, shard: &str) -> Arc<WorkerStats> {
        let stats = WorkerStats::new();
        self.lock().push((shard.to_owned(), stats.clone()));
        stats
    }

    /// Adds a worker's stats made elsewhere (stdin's).
    pub fn add(&self, name: &str, stats: Arc<WorkerStats>) {
        self.lock().push((name.to_owned(), stats));
    }

    /// Every reader started so far, with its numbers now.
    pub fn snapshot(&self) -> Vec<(String, WorkerSnapshot)> {
        self.lock().iter().map(|(shard, s)| (shard.clone(), s.snapshot())).collect()
    }

    /// The readers still reading, with their numbers now.
    pub fn reading(&self) -> Vec<(String, WorkerSnapshot)> {
        self.snapshot().into_iter().filter(|(_, s)| !s.stopped).collect()
    }

    /// The sums over every reader started so far.
    pub fn totals(&self) -> Totals {
        let snapshots: Vec<WorkerSnapshot> = self.lock().iter().map(|(_, s)| s.snapshot()).collect();
        Totals::of(&snapshots)
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every reader (a consumer restarted: its new readers start from nothing).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// This set now lists the readers of every one of `parts` (several workers seen as one).
    pub fn gather<'a>(&self, parts: impl IntoIterator<Item = &'a ShardStats>) {
        let all: Vec<_> = parts.into_iter().flat_map(|p| p.lock().clone()).collect();
        *self.lock() = all;
    }

    /// Marks every reader stopped (a worker whose task was dropped: nothing more comes from it).
    pub fn stop_all(&self) {
        for (_, s) in self.lock().iter() {
            s.stop();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Arc<WorkerStats>)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_every_reader_and_merge_adds_sums() {
        let stats = ShardStats::new();
        let a = stats.start("shard-a");
        let b = stats.start("shard-b");
        a.publish(Counters { records: 3, events: 4, counted: 4, ..Counters::default() }, 2);
        b.publish(Counters { records: 5, events: 5, counted: 4, duplicates: 1, ..Counters::default() }, 1);
        a.object_written();
        a.object_written();
        b.checkpoint_written();
        a.get_records_call();
        a.polled(3, 40);
        b.polled(0, 0);
        a.arrived(ProcessingTime(100));
        b.arrived(ProcessingTime(250));
        let t = stats.totals();
        assert_eq!(t.counters.records, 8);
        assert_eq!(t.counters.counted, 8);
        assert_eq!(t.counters.duplicates, 1);
        assert_eq!((t.objects, t.checkpoints, t.open_windows, t.get_records_calls), (2, 1, 3, 1));
        assert_eq!(t.max_behind_ms, 40);
        assert_eq!(t.reading_ms, 150);
        assert!(!t.caught_up, "shard-a is 40 ms behind");
        b.finish();
        a.stop();
        assert!(stats.totals().caught_up);
        assert_eq!(stats.reading().len(), 1);
        let mut sum = t;
        sum.merge(&t);
        assert_eq!(sum.counters.records, 16);
        assert_eq!(sum.objects, 4);
    }
}
