//! Reading a Kinesis stream: discovery of shards (and of their children after a reshard),
//! one reader task per shard, GetRecords within the limits, iterators renewed when they expire.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::ShardIteratorType;
use minutely_aws::clock;
use minutely_aws::{AwsError, Backoff, RetryLog, RetryPolicy};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::aggregator::Settings;
use crate::layout;
use crate::lineage::{Lineage, ShardInfo};
use crate::output::Output;
use crate::worker::{Clock, Observer, Worker, WorkerStats};
use crate::{ConsumeError, Stop};

/// Where reading starts in a shard that has no checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record kept.
    TrimHorizon,
    /// Only records put after the reader starts.
    Latest,
    /// Records from this time on (milliseconds since the epoch).
    Timestamp(i64),
}

impl std::str::FromStr for StartAt {
    type Err = String;

    fn from_str(s: &str) -> Result<StartAt, String> {
        match s {
            "trim-horizon" | "TRIM_HORIZON" => Ok(StartAt::TrimHorizon),
            "latest" | "LATEST" => Ok(StartAt::Latest),
            t => minutely_event::TimeFormat::Rfc3339
                .parse(t.as_bytes())
                .map(|t| StartAt::Timestamp(t.0))
                .map_err(|_| format!("{t:?}: use trim-horizon, latest or an RFC 3339 time")),
        }
    }
}

/// How a stream is read.
#[derive(Clone, Debug)]
pub struct KinesisOptions {
    pub stream: String,
    /// Where shards present at start begin without a checkpoint. Shards found later (children
    /// of a reshard) always begin at their trim horizon: all their records are new.
    pub start: StartAt,
    /// How often ListShards runs to find new shards.
    pub discover_every: Duration,
    /// The least time between two GetRecords calls on one shard (Kinesis allows 5 per second).
    pub min_call_interval: Duration,
    /// The wait after a GetRecords that returned nothing.
    pub idle_poll: Duration,
    /// Records per GetRecords call (at most 10,000).
    pub limit: i32,
    /// Stop when no shard has had a record for this long and every shard is caught up, closing
    /// the open windows or keeping them as the [`Stop`] says.
    pub exit_when_idle: Option<(Duration, Stop)>,
    /// Checkpoint at least this often when records were read but no window closed.
    pub checkpoint_every: Duration,
    pub observer: Option<Arc<dyn Observer>>,
    /// Share the stream's shards with other workers through leases beside the checkpoints
    /// (`crate::leasing`); `None`: this worker reads every shard.
    pub leases: Option<crate::leasing::LeaseOptions>,
}

impl KinesisOptions {
    pub fn new(stream: &str) -> KinesisOptions {
        KinesisOptions {
            stream: stream.to_owned(),
            start: StartAt::TrimHorizon,
            discover_every: Duration::from_secs(10),
            min_call_interval: Duration::from_millis(200),
            idle_poll: Duration::from_millis(250),
            limit: 10_000,
            exit_when_idle: None,
            checkpoint_every: Duration::from_secs(10),
            observer: None,
            leases: None,
        }
    }
}

/// The live stats of every shard a run has started, for a progress line.
pub type ShardStats = Arc<Mutex<Vec<(String, Arc<WorkerStats>)>>>;

/// How one shard's reader ended.
pub(crate) enum ShardEnd {
    /// Read to its end (after a reshard) and fully written.
    Finished,
    /// Asked to stop: it wrote what was due and checkpointed.
    Stopped,
    /// Its lease lapsed or was lost: it stopped at once, writing nothing more.
    Lost,
}

pub(crate) struct Ctx {
    pub client: Client,
    pub options: KinesisOptions,
    pub settings: Settings,
    pub output: Output,
    pub clock: Clock,
}

/// What a shard's reader obeys: a stop, and the time (ms on the run's [`Clock`]) after which
/// it may not read or write anything (its lease lapses; `u64::MAX` without leases).
pub(crate) struct Control {
    pub stop: watch::Receiver<Option<Stop>>,
    pub valid_until: Arc<AtomicU64>,
}

impl Control {
    fn lapsed(&self, clock: &Clock) -> bool {
        clock.now().0 >= self.valid_until.load(Ordering::Relaxed)
    }
}

/// Reads every shard of the stream until `stop` says so (or until idle, see
/// [`KinesisOptions::exit_when_idle`]).
pub async fn consume(
    client: Client,
    options: KinesisOptions,
    settings: Settings,
    output: Output,
    mut stop: watch::Receiver<Option<Stop>>,
    stats: ShardStats,
) -> Result<(), ConsumeError> {
    let clock = Clock::start();
    let ctx = Arc::new(Ctx { client, options, settings, output, clock });
    if ctx.options.leases.is_some() {
        return crate::leasing::consume(ctx, stop, stats).await;
    }
    let (stop_tx, stop_rx) = watch::channel(None::<Stop>);
    let mut lineage = Lineage::default();
    let mut tasks: JoinSet<(String, Result<ShardEnd, ConsumeError>)> = JoinSet::new();
    // Shards listed at start begin at `options.start`; shards that appear later begin at their
    // trim horizon.
    let mut initial: Option<std::collections::HashSet<String>> = None;
    let mut next_discovery = clock::now();
    let mut last_record = clock::now();
    let mut last_total = 0u64;
    let mut stopping = false;
    loop {
        if !stopping && clock::now() >= next_discovery {
            // The first listing is the run's first call: a wrong endpoint fails it at once.
            let policy = if initial.is_none() { RetryPolicy::FIRST_CALLS } else { DISCOVERY };
            let listed = list_shards(&ctx.client, &ctx.options.stream, policy).await?;
            initial.get_or_insert_with(|| listed.iter().map(|s| s.id.clone()).collect());
            lineage.update(listed);
            next_discovery = clock::now() + ctx.options.discover_every;
        }
        if !stopping {
            for shard in lineage.ready() {
                lineage.start(&shard);
                let shard_stats = WorkerStats::new();
                stats.lock().expect("stats lock").push((shard.clone(), shard_stats.clone()));
                let listed_at_start = initial.as_ref().is_some_and(|i| i.contains(&shard));
                let start = if listed_at_start { ctx.options.start } else { StartAt::TrimHorizon };
                let control = Control { stop: stop_rx.clone(), valid_until: Arc::new(AtomicU64::new(u64::MAX)) };
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    let end = read_shard(&ctx, &shard, start, shard_stats, control).await;
                    (shard, end)
                });
            }
        }
        if stopping && tasks.is_empty() {
            return Ok(());
        }
        // `biased`: the branches are polled in this order, not at random, so that a run under a
        // paused clock is the same every time.
        tokio::select! {
            biased;
            joined = tasks.join_next(), if !tasks.is_empty() => {
                let (shard, end) = joined.expect("a task, the set is not empty").map_err(|e| ConsumeError::Task(e.to_string()))?;
                match end {
                    Ok(ShardEnd::Finished) => {
                        lineage.finish(&shard);
                        next_discovery = clock::now(); // look for its children now
                    }
                    Ok(ShardEnd::Stopped | ShardEnd::Lost) => lineage.release(&shard),
                    Err(e) => {
                        let _ = stop_tx.send(Some(Stop { close_open: false }));
                        while tasks.join_next().await.is_some() {}
                        return Err(e);
                    }
                }
            }
            changed = stop.changed(), if !stopping => {
                let mode = if changed.is_ok() { *stop.borrow() } else { None };
                if let Some(mode) = mode {
                    stopping = true;
                    let _ = stop_tx.send(Some(mode));
                }
            }
            _ = clock::sleep(Duration::from_millis(200)) => {
                if let Some((idle, mode)) = ctx.options.exit_when_idle
                    && !stopping
                    && idle_for(&stats, &mut last_total, &mut last_record) >= idle
                    && lineage.ready().is_empty()
                {
                    stopping = true;
                    let _ = stop_tx.send(Some(mode));
                }
            }
        }
    }
}

/// How long every shard read so far has been caught up with no new record: zero while one is
/// not caught up. `last_total` and `last_record` carry the count and its time between calls.
pub(crate) fn idle_for(stats: &ShardStats, last_total: &mut u64, last_record: &mut clock::Instant) -> Duration {
    let shards = stats.lock().expect("stats lock").clone();
    let total: u64 = shards.iter().map(|(_, s)| s.counters().records).sum();
    if total != *last_total {
        *last_total = total;
        *last_record = clock::now();
    }
    if shards.iter().all(|(_, s)| s.caught_up()) { last_record.elapsed() } else { Duration::ZERO }
}

/// Finding new shards during a run: a dropped connection is retried, for up to a minute.
pub(crate) const DISCOVERY: RetryPolicy = RetryPolicy { retry_unreachable: true, ..RetryPolicy::FIRST_CALLS };

/// A shard's reads: 200 ms doubling to 10 s, until the run stops.
const READS: RetryPolicy = RetryPolicy {
    base: Duration::from_millis(200),
    max_backoff: Duration::from_secs(10),
    deadline: None,
    retry_unreachable: true,
};

pub(crate) async fn list_shards(
    client: &Client,
    stream: &str,
    policy: RetryPolicy,
) -> Result<Vec<ShardInfo>, ConsumeError> {
    let shards = minutely_aws::kinesis::list_shards(client, stream, policy).await?;
    Ok(shards
        .iter()
        .map(|s| ShardInfo {
            id: s.shard_id().to_owned(),
            parents: s.parent_shard_id().into_iter().chain(s.adjacent_parent_shard_id()).map(str::to_owned).collect(),
        })
        .collect())
}

/// Reads one shard until it ends, the run stops, or (with leases) its lease lapses. Whatever
/// the end, its stats say it is no longer read.
pub(crate) async fn read_shard(
    ctx: &Ctx,
    shard: &str,
    start: StartAt,
    stats: Arc<WorkerStats>,
    control: Control,
) -> Result<ShardEnd, ConsumeError> {
    let end = read_until_end(ctx, shard, start, stats.clone(), control).await;
    stats.stopped.store(true, Ordering::Relaxed);
    end
}

async fn read_until_end(
    ctx: &Ctx,
    shard: &str,
    start: StartAt,
    stats: Arc<WorkerStats>,
    control: Control,
) -> Result<ShardEnd, ConsumeError> {
    let mut stop = control.stop.clone();
    let o = &ctx.options;
    let checkpoint = layout::checkpoint(&o.stream, shard);
    let (mut worker, finished) = Worker::open(
        shard,
        ctx.settings.clone(),
        ctx.output.clone(),
        Some(checkpoint),
        o.checkpoint_every,
        ctx.clock,
        stats.clone(),
    )
    .await?;
    worker.observer = o.observer.clone();
    if finished {
        stats.finished.store(true, Ordering::Relaxed);
        return Ok(ShardEnd::Finished);
    }
    let mut iterator: Option<String> = None;
    // Jitter seeded by the shard: the same shard waits the same way, shards differ.
    let mut backoff = Backoff::new(READS, minutely_event::id_hash(shard) as u64);
    let log = RetryLog::stderr(format!("GetRecords on {} {shard}", o.stream));
    loop {
        if control.lapsed(&ctx.clock) {
            return Ok(ShardEnd::Lost);
        }
        let asked = *stop.borrow();
        if let Some(mode) = asked {
            worker.stop(mode.close_open).await?;
            return Ok(ShardEnd::Stopped);
        }
        let it = match iterator.take() {
            Some(it) => it,
            None => match shard_iterator(ctx, shard, start, worker.position()).await {
                Ok(Some(it)) => it,
                Ok(None) => return finish(&mut worker, &control, &ctx.clock).await,
                Err(e) if READS.retries(&e) => {
                    log.retried(1, &e);
                    wait(backoff.next_wait().unwrap_or(READS.max_backoff), &mut stop).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            },
        };
        let call_start = clock::now();
        stats.get_records_calls.fetch_add(1, Ordering::Relaxed);
        let out = match ctx.client.get_records().shard_iterator(&it).limit(o.limit).send().await {
            Ok(out) => out,
            Err(e) => {
                if e.as_service_error().is_some_and(|s| s.is_expired_iterator_exception()) {
                    // A new iterator after the last record taken (kept in the aggregator).
                    continue;
                }
                let e = AwsError::from_sdk("GetRecords", format!("stream {} {shard}", o.stream), &e);
                if !READS.retries(&e) {
                    return Err(e.into());
                }
                // Throttling, KMS throttling, 5xx, network: the same iterator, later.
                log.retried(1, &e);
                iterator = Some(it);
                wait(backoff.next_wait().unwrap_or(READS.max_backoff), &mut stop).await;
                continue;
            }
        };
        backoff.reset();
        let now = ctx.clock.now();
        let records = out.records();
        for r in records {
            worker.record(r.data().as_ref(), now, || r.sequence_number().to_owned());
        }
        if let Some(observer) = &o.observer {
            observer.read(shard, &mut records.iter().map(|r| r.data().as_ref()), clock::now());
        }
        if let Some(last) = records.last() {
            stats.arrived(now);
            worker.processed_through(last.sequence_number());
            stats.empty_polls.store(0, Ordering::Relaxed);
        } else {
            stats.empty_polls.fetch_add(1, Ordering::Relaxed);
        }
        stats.behind_ms.store(out.millis_behind_latest().unwrap_or(-1), Ordering::Relaxed);
        worker.tick(now);
        let Some(next) = out.next_shard_iterator() else {
            return finish(&mut worker, &control, &ctx.clock).await;
        };
        iterator = Some(next.to_owned());
        if control.lapsed(&ctx.clock) {
            return Ok(ShardEnd::Lost);
        }
        worker.commit(false, false).await?;
        let pause = if records.is_empty() { o.idle_poll.max(o.min_call_interval) } else { o.min_call_interval };
        wait((call_start + pause).saturating_duration_since(clock::now()), &mut stop).await;
    }
}

/// The shard ended: close its windows, write everything, checkpoint it as finished.
async fn finish(worker: &mut Worker, control: &Control, clock: &Clock) -> Result<ShardEnd, ConsumeError> {
    if control.lapsed(clock) {
        return Ok(ShardEnd::Lost);
    }
    worker.close_all();
    worker.commit(true, true).await?;
    Ok(ShardEnd::Finished)
}

/// An iterator after `position`, or at `start` when nothing was read yet. `None`: the shard is
/// closed and has nothing after the position.
async fn shard_iterator(
    ctx: &Ctx,
    shard: &str,
    start: StartAt,
    position: Option<&str>,
) -> Result<Option<String>, AwsError> {
    let mut call = ctx.client.get_shard_iterator().stream_name(&ctx.options.stream).shard_id(shard);
    call = match (position, start) {
        (Some(seq), _) => {
            call.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(seq)
        }
        (None, StartAt::TrimHorizon) => call.shard_iterator_type(ShardIteratorType::TrimHorizon),
        (None, StartAt::Latest) => call.shard_iterator_type(ShardIteratorType::Latest),
        (None, StartAt::Timestamp(ms)) => call
            .shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(ms)),
    };
    match call.send().await {
        Ok(out) => Ok(out.shard_iterator().map(str::to_owned)),
        Err(e) => Err(AwsError::from_sdk("GetShardIterator", format!("stream {} {shard}", ctx.options.stream), &e)),
    }
}

/// Sleeps, or returns early when a stop is asked for.
async fn wait(d: Duration, stop: &mut watch::Receiver<Option<Stop>>) {
    if stop.borrow().is_some() {
        return;
    }
    tokio::select! {
        biased;
        _ = clock::sleep(d) => {}
        _ = stop.changed() => {}
    }
}
