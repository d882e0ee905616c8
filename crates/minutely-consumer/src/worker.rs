//! One worker (a shard, or stdin): an [`Aggregator`] and the protocol that makes its output
//! durable: write-ahead checkpoint, objects, checkpoint.

use std::sync::Arc;
use std::time::Duration;

use minutely_aggregate::ProcessingTime;
use minutely_aws::clock::{self, Instant};

use crate::aggregator::{Aggregator, Checkpoint, Object, RestoreError, Settings};
use crate::output::{IfMatch, Output, OutputError};
use crate::prepare::{Prepared, Ready};
use crate::stats::WorkerStats;

/// Watches a run from the inside, for latency measurements (the scenario engine): which
/// records a worker read and when, and when each object was taken out of the windows and when
/// it was written.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// `records` (their bytes) were read by `worker` at `at`.
    fn read(&self, worker: &str, records: &mut dyn Iterator<Item = &[u8]>, at: Instant);
    /// `object` was taken out of the windows at `closed_at` and written at `written_at`.
    fn written(&self, worker: &str, object: &Object, closed_at: Instant, written_at: Instant);
}

/// Why a worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("checkpoint of {worker}: {error}")]
    Restore { worker: String, error: RestoreError },
}

/// The processing clock of a run: milliseconds since it started.
#[derive(Clone, Copy, Debug)]
pub struct Clock(pub Instant);

impl Clock {
    pub fn start() -> Clock {
        Clock(clock::now())
    }

    pub fn now(&self) -> ProcessingTime {
        ProcessingTime(self.0.elapsed().as_millis() as u64)
    }
}

#[derive(Debug)]
pub struct Worker {
    agg: Aggregator,
    output: Output,
    checkpoint_path: Option<String>,
    pub stats: Arc<WorkerStats>,
    checkpointed: Option<String>,
    /// The ETag of the checkpoint as this worker last read or wrote it.
    etag: IfMatch,
    last_checkpoint: Instant,
    checkpoint_every: Duration,
    pub observer: Option<Arc<dyn Observer>>,
}

impl Worker {
    /// Counts the events of one record ([`Aggregator::record`]); `position` names it in a reject.
    pub fn record(&mut self, data: &[u8], now: ProcessingTime, position: impl Fn() -> String) {
        self.agg.record(data, now, position);
    }

    /// Counts a block of lines decoded on another thread ([`Aggregator::prepared`]).
    pub fn record_prepared(&mut self, block: Prepared, now: ProcessingTime) -> Vec<Ready> {
        self.agg.prepared(block, now)
    }

    /// Every record up to `position` (a sequence number) is counted: the next checkpoint resumes
    /// after it. The record there arrived in the stream at `arrived_ms` (`None`: not said).
    pub fn processed_through(&mut self, position: &str, arrived_ms: Option<i64>) {
        self.agg.processed_through(position, arrived_ms);
    }

    /// The position of the last record processed (`None`: nothing yet).
    pub fn position(&self) -> Option<&str> {
        self.agg.position()
    }

    /// When the record at [`Worker::position`] arrived in the stream, if known.
    pub fn arrived_ms(&self) -> Option<i64> {
        self.agg.arrived_ms()
    }

    /// Lets processing time pass: the idle timeout closes windows.
    pub fn tick(&mut self, now: ProcessingTime) {
        self.agg.tick(now);
    }

    /// Closes every open window (the end of a shard, or a stop that closes).
    pub fn close_all(&mut self) {
        self.agg.close_all();
    }

    /// A worker named `name`; with a checkpoint path (and an output that keeps checkpoints), it
    /// resumes from the checkpoint there, first writing the objects it had pending. Returns
    /// whether the checkpoint says the shard is finished.
    pub async fn open(
        name: &str,
        settings: Settings,
        output: Output,
        checkpoint_path: Option<String>,
        checkpoint_every: Duration,
        clock: Clock,
        stats: Arc<WorkerStats>,
    ) -> Result<(Worker, bool), WorkerError> {
        let checkpoint_path = checkpoint_path.filter(|_| output.keeps_checkpoints());
        let mut agg = Aggregator::new(name, settings.clone());
        let mut finished = false;
        let mut etag = None;
        if let Some(path) = &checkpoint_path
            && let Some((cp, seen)) = output.load_checkpoint(path).await?
        {
            etag = seen;
            agg = Aggregator::restore(settings, &cp, clock.now())
                .map_err(|error| WorkerError::Restore { worker: name.to_owned(), error })?;
            for object in &cp.pending {
                output.write(object).await?;
                stats.object_written();
            }
            finished = cp.finished;
        }
        let checkpointed = agg.position().map(str::to_owned);
        let worker = Worker {
            agg,
            output,
            checkpoint_path,
            stats,
            checkpointed,
            etag,
            last_checkpoint: clock::now(),
            checkpoint_every,
            observer: None,
        };
        worker.publish();
        Ok((worker, finished))
    }

    /// A shard read for the first time (nothing read yet) remembers the event ids in its
    /// parents' finished checkpoints (at `parents`, paths): a put retried across a split lands
    /// once in the parent and once in the child, and is counted once. A parent without a
    /// finished checkpoint (another consumer's, or aged out) gives nothing.
    pub async fn inherit_ids(&mut self, parents: &[String]) -> Result<(), WorkerError> {
        if self.checkpoint_path.is_none() || self.agg.position().is_some() {
            return Ok(());
        }
        for path in parents {
            if let Some((cp, _)) = self.output.load_checkpoint(path).await?
                && cp.finished
            {
                self.agg.inherit_ids(&cp).map_err(|error| WorkerError::Restore { worker: cp.worker.clone(), error })?;
            }
        }
        Ok(())
    }

    /// Writes the objects that are due through `output`, with no checkpoint: only the planted
    /// bug [`crate::kinesis::Planted::FlushOnLeaseLoss`] does this.
    pub async fn write_objects_to(&mut self, output: &Output) -> Result<(), WorkerError> {
        for object in self.agg.take_objects() {
            output.write(&object).await?;
        }
        Ok(())
    }

    /// Copies the aggregator's counters to the shared stats.
    pub fn publish(&self) {
        self.stats.publish(self.agg.counters(), self.agg.open_windows());
    }

    /// Makes what is due durable: when objects are due, a checkpoint that carries them, then
    /// the objects, then a checkpoint without them; when only the position moved, a checkpoint
    /// once per `checkpoint_every`, or now with `force`. `finished`: the shard ended (close the
    /// windows first).
    ///
    /// A crash anywhere in here is safe: before the first checkpoint, the records are read
    /// again from the previous one; after it, the restart writes the pending objects again at
    /// the same paths.
    pub async fn commit(&mut self, finished: bool, force: bool) -> Result<(), WorkerError> {
        let objects = self.agg.take_objects();
        let closed_at = clock::now();
        self.publish();
        let moved = self.agg.position() != self.checkpointed.as_deref();
        let due = finished
            || !objects.is_empty()
            || (moved && (force || self.last_checkpoint.elapsed() >= self.checkpoint_every));
        if !due {
            return Ok(());
        }
        if let Some(path) = self.checkpoint_path.clone()
            && !objects.is_empty()
        {
            self.save(&path, &self.agg.checkpoint(objects.clone(), false)).await?;
        }
        for object in &objects {
            self.output.write(object).await?;
            self.stats.object_written();
            if let Some(o) = &self.observer {
                o.written(self.agg.worker(), object, closed_at, clock::now());
            }
        }
        if let Some(path) = self.checkpoint_path.clone() {
            self.save(&path, &self.agg.checkpoint(Vec::new(), finished)).await?;
        }
        self.checkpointed = self.agg.position().map(str::to_owned);
        self.last_checkpoint = clock::now();
        self.publish();
        if finished {
            self.stats.finish();
        }
        Ok(())
    }

    /// A graceful stop: close the open windows first (`close_open`), or keep them in the
    /// checkpoint for the next run; then commit.
    pub async fn stop(&mut self, close_open: bool) -> Result<(), WorkerError> {
        if close_open || self.checkpoint_path.is_none() {
            self.agg.close_all();
        }
        self.commit(false, true).await
    }

    /// Writes a checkpoint if it is still the one this worker last saw (see
    /// [`Output::save_checkpoint`]).
    async fn save(&mut self, path: &str, checkpoint: &Checkpoint) -> Result<(), WorkerError> {
        self.etag = self.output.save_checkpoint(path, checkpoint, &self.etag).await?;
        self.stats.checkpoint_written();
        Ok(())
    }
}
