//! A run's consumer side: one consumer (started again from its checkpoints after the kill
//! fault), or a fleet of workers on leases (`fleet.rs`); the wait until it has read everything
//! and closed every window; each shard's lag sampled once a second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minutely_aggregate::WindowConfig;
use minutely_aws::clock::{self, Instant};
use minutely_consumer::kinesis::KinesisOptions;
use minutely_consumer::output::{CrashAfter, OutputError};
use minutely_consumer::worker::WorkerError;
use minutely_consumer::{ConsumeError, Output, S3Output, Settings, ShardStats, Stop};
use tokio::sync::watch;

use crate::faults::Plan;
use crate::fleet::{self, WorkersReport};
use crate::happenings::Happenings;
use crate::spec::Scenario;
use crate::trace::Tracer;

/// A spawned task that is aborted when this handle is dropped (a run cut short).
pub(crate) struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The consumer (or the fleet of workers) as a task, with its stop switch and its live stats.
pub(crate) struct Consumer {
    task: AbortOnDrop<Result<ConsumerEnd, ConsumeError>>,
    stop: watch::Sender<Option<Stop>>,
    pub stats: ShardStats,
    /// With workers: whether every readable shard is held by a live worker.
    accounted: Option<Arc<AtomicBool>>,
    /// The stall fault, once it fired: the consumer is not settled until it ended.
    stall: Option<Arc<CrashAfter>>,
}

/// How long past a stall's end the run waits before it may call the consumer settled: the
/// readers' stats from before the stall say "caught up" until their next GetRecords.
const AFTER_STALL: Duration = Duration::from_secs(5);

/// What the consumer side did, over all its attempts or workers.
#[derive(Debug, Default)]
pub(crate) struct ConsumerEnd {
    /// Times the consumer was started again after the kill fault.
    pub restarts: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Resumes after a record older than the stream's retention, as the readers said them.
    pub trim_gaps: u64,
    /// With the `workers` faults: what the workers did.
    pub workers: Option<WorkersReport>,
}

impl Consumer {
    /// Starts the consumer; after an injected crash (the kill fault), a new one takes over from
    /// the checkpoints. With the `workers` faults, starts the fleet instead.
    pub fn spawn(
        s: &Scenario,
        plan: &Plan,
        kinesis: &aws_sdk_kinesis::Client,
        stream: &str,
        output: S3Output,
        tracer: Arc<Tracer>,
        happenings: Happenings,
    ) -> Consumer {
        let p = &s.pipeline;
        let settings = Settings {
            decoder: tracer.decoder(),
            windows: WindowConfig {
                allowed_lateness_ms: p.allowed_lateness.as_millis() as u64,
                idle_timeout_ms: (!p.idle_timeout.is_zero()).then_some(p.idle_timeout.as_millis() as u64),
            },
            max_dedup_ids: 2_000_000,
        };
        // The kill fault: clones share the crash, which fires once; the stall likewise.
        let stall = plan.stall_consumer.map(|k| Arc::new(CrashAfter::stalling(k.after_objects, k.duration)));
        let output = match (plan.kill_consumer, &stall) {
            (Some(k), _) => Output::S3(output).crashing(CrashAfter::at(k.after_objects, k.at, false)),
            (None, Some(stall)) => {
                tokio::spawn(crate::happenings::mark_stall(stall.clone(), happenings.clone(), "consumer"));
                Output::Crashing(stall.clone(), Box::new(Output::S3(output)))
            }
            (None, None) => Output::S3(output),
        };
        let options = KinesisOptions {
            // Listings at most every second, and no more often than five polls of an idle shard.
            discover_every: (p.idle_poll * 5).max(Duration::from_secs(1)),
            idle_poll: p.idle_poll,
            checkpoint_every: Duration::from_secs(1),
            observer: Some(tracer),
            ..KinesisOptions::new(stream)
        };
        let (stop, stop_rx) = watch::channel(None::<Stop>);
        let stats = ShardStats::new();
        let client = kinesis.clone();
        if let Some(f) = plan.fleet {
            // The run is not settled while the first worker is paused (nor just after).
            let pause = f.pause.map(|p| Arc::new(CrashAfter::stalling(p.after_objects, p.duration)));
            let view = fleet::View { stats: stats.clone(), accounted: Arc::default(), pause: pause.clone() };
            let accounted = Some(view.accounted.clone());
            let task = AbortOnDrop(tokio::spawn(async move {
                let (workers, totals) =
                    fleet::run(f, client, options, settings, output, stop_rx, happenings, view).await?;
                let (duplicates, rejected) = (totals.counters.duplicates, totals.counters.rejected);
                let trim_gaps = totals.trim_gaps;
                Ok(ConsumerEnd { restarts: 0, duplicates, rejected, trim_gaps, workers: Some(workers) })
            }));
            return Consumer { task, stop, stats, accounted, stall: pause };
        }
        let shard_stats = stats.clone();
        let task = AbortOnDrop(tokio::spawn(async move {
            let mut end = ConsumerEnd::default();
            loop {
                let (options, settings, output) = (options.clone(), settings.clone(), output.clone());
                let (stop_rx, stats) = (stop_rx.clone(), shard_stats.clone());
                let r = minutely_consumer::kinesis::consume(client.clone(), options, settings, output, stop_rx, stats);
                let r = r.await;
                let totals = shard_stats.totals();
                end.duplicates += totals.counters.duplicates;
                end.rejected += totals.counters.rejected;
                end.trim_gaps += totals.trim_gaps;
                match r {
                    Ok(()) => return Ok(end),
                    Err(ConsumeError::Worker(WorkerError::Output(OutputError::InjectedCrash { .. }))) => {
                        end.restarts += 1;
                        shard_stats.clear();
                        happenings.happened("consumer killed, restarted");
                    }
                    Err(e) => return Err(e),
                }
            }
        }));
        Consumer { task, stop, stats, accounted: None, stall }
    }

    /// Waits until every shard is caught up and every window closed (by the idle timeout), or
    /// the consumer ended, or the deadline passed (returns `false` then).
    pub async fn wait_until_settled(&self, deadline: Instant) -> bool {
        // A reader's "caught up" is as of its last answer: it counts only from an answer to a
        // call made after now (two answers on: the first may have been in flight), or a reader
        // whose calls fail and back off would look caught up with records still to read.
        let before: BTreeMap<String, u64> = self.stats.reading().into_iter().map(|(s, w)| (s, w.answers)).collect();
        loop {
            clock::sleep(Duration::from_millis(200)).await;
            if self.task.0.is_finished() {
                return true;
            }
            let fresh = self
                .stats
                .reading()
                .iter()
                .all(|(shard, w)| w.finished || w.answers >= before.get(shard).copied().unwrap_or(0) + 2);
            let caught_up = !self.stats.is_empty() && self.stats.totals().caught_up && fresh;
            // A reader that stopped (a worker killed, a lease handed over) left its open windows
            // to the next reader of its shard, which counts them.
            let open: u64 = self.stats.reading().iter().map(|(_, w)| w.open_windows).sum();
            let accounted = self.accounted.as_ref().is_none_or(|a| a.load(Ordering::Relaxed));
            let stalled = self.stall.as_ref().is_some_and(|s| {
                s.frozen() && s.stalled_until().is_none_or(|until| clock::now() < until + AFTER_STALL)
            });
            if caught_up && open == 0 && accounted && !stalled {
                return true;
            }
            if clock::now() >= deadline {
                return false;
            }
        }
    }

    /// What keeps the consumer from being settled now, in a sentence: the shards behind, the
    /// windows open, the leases not held, a pause.
    pub fn still_moving(&self) -> String {
        let mut moving = Vec::new();
        let readers = self.stats.reading();
        let behind: Vec<String> = readers
            .iter()
            .filter(|(_, w)| !w.caught_up)
            .map(|(shard, w)| match w.behind_ms {
                0 => format!("{shard} (its last page had records)"),
                -1 => format!("{shard} (no page read yet)"),
                ms => format!("{shard} ({ms} ms behind)"),
            })
            .collect();
        if !behind.is_empty() {
            moving.push(format!("shards not caught up: {}", behind.join(", ")));
        }
        let open: u64 = readers.iter().map(|(_, w)| w.open_windows).sum();
        if open > 0 {
            moving.push(format!("{open} windows open"));
        }
        if self.accounted.as_ref().is_some_and(|a| !a.load(Ordering::Relaxed)) {
            moving.push("a readable shard held by no live worker".to_owned());
        }
        if self.stall.as_ref().is_some_and(|s| s.frozen() && s.stalled_until().is_none_or(|u| clock::now() < u)) {
            moving.push("a consumer paused".to_owned());
        }
        if readers.is_empty() {
            moving.push("no shard being read".to_owned());
        }
        moving.join("; ")
    }

    /// Stops the consumer, closing its open windows, and waits for its end.
    pub async fn stop(mut self) -> anyhow::Result<ConsumerEnd> {
        let _ = self.stop.send(Some(Stop { close_open: true }));
        Ok((&mut self.task.0).await??)
    }
}

/// Each shard's lag as sampled: when, which shard, ms behind.
pub(crate) type LagSamples = Arc<Mutex<Vec<(Instant, String, i64)>>>;

/// Every shard's `MillisBehindLatest` once a second, from the consumer's live stats (readers
/// that stopped left the shard to another).
pub(crate) async fn sample_lag(stats: ShardStats, samples: LagSamples) {
    loop {
        clock::sleep(Duration::from_secs(1)).await;
        let now = clock::now();
        let readers = stats.reading();
        let mut samples = samples.lock().expect("lag lock");
        for (shard, s) in readers {
            if s.behind_ms >= 0 {
                samples.push((now, shard, s.behind_ms));
            }
        }
    }
}
