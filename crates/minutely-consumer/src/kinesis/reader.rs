//! One shard's reader (GetRecords within the limits, iterators renewed when they expire, every
//! call's records through its [`Worker`]), and [`Readers`], the running readers of one worker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::operation::get_records::GetRecordsOutput;
use aws_sdk_kinesis::types::ShardIteratorType;
use minutely_aws::clock;
use minutely_aws::{AwsError, Backoff, RetryLog, RetryPolicy};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::options::{KinesisOptions, Planted, StartAt};
use super::sequence;
use crate::aggregator::Settings;
use crate::layout;
use crate::output::{Deadline, Output, OutputError};
use crate::run::{ConsumeError, Stop};
use crate::stats::{ShardStats, WorkerStats};
use crate::worker::{Clock, Worker, WorkerError};

/// What every reader of a run shares.
pub(super) struct Ctx {
    pub client: Client,
    pub options: KinesisOptions,
    pub settings: Settings,
    pub output: Output,
    pub clock: Clock,
    /// The stream's retention period (ms), to name a resume behind the trim: asked for the
    /// first time a reader resumes after a record ([`retention_ms`]); `None`: unknown.
    pub retention_ms: tokio::sync::OnceCell<Option<i64>>,
}

/// How one shard's reader ended.
pub(super) enum ShardEnd {
    /// Read to its end (after a reshard) and fully written.
    Finished,
    /// Asked to stop: it wrote what was due and checkpointed.
    Stopped,
    /// Its lease lapsed or was lost: it stopped at once, writing nothing more.
    Lost,
}

/// What a shard's reader obeys: a stop, and the time (ms on the run's [`Clock`]) after which
/// it may not read or write anything (its lease lapses; `u64::MAX` without leases).
struct Control {
    stop: watch::Receiver<Option<Stop>>,
    valid_until: Arc<AtomicU64>,
}

impl Control {
    fn lapsed(&self, clock: &Clock) -> bool {
        clock.now().0 >= self.valid_until.load(Ordering::Relaxed)
    }
}

/// A running reader, as its coordinator holds it.
struct Handle {
    stop: watch::Sender<Option<Stop>>,
    valid_until: Arc<AtomicU64>,
}

/// The shard readers of one worker, each a task, each with its own stop and deadline.
pub(super) struct Readers {
    ctx: Arc<Ctx>,
    stats: ShardStats,
    handles: BTreeMap<String, Handle>,
    tasks: JoinSet<(String, Result<ShardEnd, ConsumeError>)>,
}

impl Readers {
    pub fn new(ctx: Arc<Ctx>, stats: ShardStats) -> Readers {
        Readers { ctx, stats, handles: BTreeMap::new(), tasks: JoinSet::new() }
    }

    /// Starts reading `shard` (at `start` without a checkpoint; after `parents`, read to their
    /// end), allowed until `valid_until`.
    pub fn start(&mut self, shard: &str, parents: Vec<String>, start: StartAt, valid_until: u64) {
        let (stop_tx, stop_rx) = watch::channel(None::<Stop>);
        let valid_until = Arc::new(AtomicU64::new(valid_until));
        let stats = self.stats.start(shard);
        let control = Control { stop: stop_rx, valid_until: valid_until.clone() };
        let (ctx, name) = (self.ctx.clone(), shard.to_owned());
        self.tasks.spawn(async move {
            let end = read_shard(&ctx, &name, &parents, start, stats, control).await;
            (name, end)
        });
        self.handles.insert(shard.to_owned(), Handle { stop: stop_tx, valid_until });
    }

    pub fn is_reading(&self, shard: &str) -> bool {
        self.handles.contains_key(shard)
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Asks `shard`'s reader to stop as `mode` says (it writes what is due first).
    pub fn stop(&self, shard: &str, mode: Stop) {
        if let Some(h) = self.handles.get(shard) {
            let _ = h.stop.send(Some(mode));
        }
    }

    /// Every reader stops as `mode` says.
    pub fn stop_all(&self, mode: Stop) {
        for h in self.handles.values() {
            let _ = h.stop.send(Some(mode));
        }
    }

    /// `shard`'s reader may not read or write anything more: its lease is gone.
    pub fn revoke(&self, shard: &str) {
        if let Some(h) = self.handles.get(shard) {
            h.valid_until.store(0, Ordering::Relaxed);
            let _ = h.stop.send(Some(Stop { close_open: false }));
        }
    }

    /// Moves `shard`'s deadline (a renewed lease).
    pub fn extend(&self, shard: &str, valid_until: u64) {
        if let Some(h) = self.handles.get(shard) {
            h.valid_until.store(valid_until, Ordering::Relaxed);
        }
    }

    /// The shards being read.
    pub fn shards(&self) -> impl Iterator<Item = &str> {
        self.handles.keys().map(String::as_str)
    }

    /// The next reader that ends, and how. Only when some reader runs.
    pub async fn next_end(&mut self) -> Result<(String, Result<ShardEnd, ConsumeError>), ConsumeError> {
        let joined = self.tasks.join_next().await.expect("called with readers running");
        let (shard, end) = joined.map_err(|e| ConsumeError::Task(e.to_string()))?;
        self.handles.remove(&shard);
        Ok((shard, end))
    }

    /// After a failure: every reader stops without closing its windows; waits for them all.
    pub async fn abandon(&mut self) {
        self.stop_all(Stop { close_open: false });
        while self.tasks.join_next().await.is_some() {}
        self.handles.clear();
    }
}

/// A shard's reads: 200 ms doubling to 10 s, until the run stops.
const READS: RetryPolicy = RetryPolicy {
    base: Duration::from_millis(200),
    max_backoff: Duration::from_secs(10),
    deadline: None,
    retry_unreachable: true,
};

/// What one GetRecords call came to.
enum Polled {
    /// Records (maybe none: `empty`) and the next iterator.
    Next { next: String, empty: bool },
    /// The shard is closed and read to its end.
    End,
    /// Try again: the iterator to use (`None`: a new one is needed).
    Again(Option<String>),
}

/// Marks a reader stopped when it ends, however it ends (returned, failed, or its task dropped).
struct StopOnDrop(Arc<WorkerStats>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Reads one shard until it ends, the run stops, or (with leases) its lease lapses. Whatever
/// the end, its stats say it is no longer read.
async fn read_shard(
    ctx: &Ctx,
    shard: &str,
    parents: &[String],
    start: StartAt,
    stats: Arc<WorkerStats>,
    control: Control,
) -> Result<ShardEnd, ConsumeError> {
    let _stopped = StopOnDrop(stats.clone());
    let o = &ctx.options;
    let checkpoint = layout::checkpoint(&o.stream, shard);
    // Every write of this reader is checked against its lease's deadline last of all.
    let deadline = Deadline { valid_until: control.valid_until.clone(), clock: ctx.clock };
    let output = ctx.output.clone().within(deadline);
    let opened = Worker::open(
        shard,
        ctx.settings.clone(),
        output,
        Some(checkpoint),
        o.checkpoint_every,
        ctx.clock,
        stats.clone(),
    );
    let (mut worker, finished) = match opened.await {
        Err(WorkerError::Output(OutputError::Lapsed { .. })) => return Ok(ShardEnd::Lost),
        opened => opened?,
    };
    worker.observer = o.observer.clone();
    if finished {
        stats.finish();
        return Ok(ShardEnd::Finished);
    }
    let parents: Vec<String> = parents.iter().map(|p| layout::checkpoint(&o.stream, p)).collect();
    let end = match worker.inherit_ids(&parents).await {
        Ok(()) => read_loop(ctx, shard, start, &mut worker, &stats, &control).await,
        Err(e) => Err(e.into()),
    };
    match end {
        Ok(ShardEnd::Lost) | Err(ConsumeError::Worker(WorkerError::Output(OutputError::Lapsed { .. }))) => {
            if o.leases.as_ref().is_some_and(|l| l.planted == Some(Planted::FlushOnLeaseLoss)) {
                // The planted bug (tests only): a careless worker's flush on the way out.
                worker.close_all();
                worker.write_objects_to(&ctx.output).await?;
            }
            Ok(ShardEnd::Lost)
        }
        end => end,
    }
}

/// The reads of one shard through `worker`, until it ends, the run stops or the lease lapses.
async fn read_loop(
    ctx: &Ctx,
    shard: &str,
    start: StartAt,
    worker: &mut Worker,
    stats: &WorkerStats,
    control: &Control,
) -> Result<ShardEnd, ConsumeError> {
    let mut stop = control.stop.clone();
    let o = &ctx.options;
    let mut iterator: Option<String> = None;
    // The arrival of the position last named behind the trim: said once per position.
    let mut named: Option<i64> = None;
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
            None => match shard_iterator(ctx, shard, start, behind_trim(ctx, shard, worker, stats, &mut named).await)
                .await
            {
                Ok(Some(it)) => it,
                Ok(None) => return finish(worker, control, &ctx.clock).await,
                Err(e) if READS.retries(&e) => {
                    log.retried(1, &e);
                    wait(backoff.next_wait().unwrap_or(READS.max_backoff), &mut stop).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            },
        };
        let call_start = clock::now();
        let (next, empty) = match poll(ctx, shard, it, worker, stats, &log).await? {
            Polled::Next { next, empty } => (next, empty),
            Polled::End => return finish(worker, control, &ctx.clock).await,
            Polled::Again(it) => {
                if let Some(it) = it {
                    // Throttling, KMS throttling, 5xx, network: the same iterator, later.
                    iterator = Some(it);
                    wait(backoff.next_wait().unwrap_or(READS.max_backoff), &mut stop).await;
                }
                continue;
            }
        };
        backoff.reset();
        iterator = Some(next);
        if control.lapsed(&ctx.clock) {
            return Ok(ShardEnd::Lost);
        }
        worker.commit(false, false).await?;
        let pause = if empty { o.idle_poll.max(o.min_call_interval) } else { o.min_call_interval };
        wait((call_start + pause).saturating_duration_since(clock::now()), &mut stop).await;
    }
}

/// One GetRecords call with iterator `it`: its records counted by `worker`. Returns what came
/// of it. A failure no retry fixes is an error.
async fn poll(
    ctx: &Ctx,
    shard: &str,
    it: String,
    worker: &mut Worker,
    stats: &WorkerStats,
    log: &RetryLog,
) -> Result<Polled, ConsumeError> {
    let o = &ctx.options;
    stats.get_records_call();
    let out: GetRecordsOutput = match ctx.client.get_records().shard_iterator(&it).limit(o.limit).send().await {
        Ok(out) => out,
        Err(e) => {
            if e.as_service_error().is_some_and(|s| s.is_expired_iterator_exception()) {
                // A new iterator after the last record taken (kept in the aggregator).
                return Ok(Polled::Again(None));
            }
            let e = AwsError::from_sdk("GetRecords", format!("stream {} {shard}", o.stream), &e);
            if !READS.retries(&e) {
                return Err(e.into());
            }
            log.retried(1, &e);
            return Ok(Polled::Again(Some(it)));
        }
    };
    let now = ctx.clock.now();
    let page = out.records();
    let records = sequence::after(page, worker.position());
    let repeated = page.len() - records.len();
    if repeated > 0 && stats.repeated(repeated) == 0 {
        eprintln!(
            "minutely: GetRecords on {} {shard} answered {repeated} record(s) read already (at or before sequence number {}): skipped, not counted again. Kinesis never does this; LocalStack 4.9's Kinesis does with a shard's first record. Said once per shard; the summary counts them all",
            o.stream,
            worker.position().unwrap_or_default()
        );
    }
    for r in records {
        worker.record(r.data().as_ref(), now, || r.sequence_number().to_owned());
    }
    if let Some(observer) = &o.observer {
        observer.read(shard, &mut records.iter().map(|r| r.data().as_ref()), clock::now());
    }
    if let Some(last) = records.last() {
        stats.arrived(now);
        let arrived_ms = last.approximate_arrival_timestamp().and_then(|t| t.to_millis().ok());
        worker.processed_through(last.sequence_number(), arrived_ms);
    }
    stats.polled(records.len(), out.millis_behind_latest().unwrap_or(-1));
    worker.tick(now);
    Ok(match out.next_shard_iterator() {
        Some(next) => Polled::Next { next: next.to_owned(), empty: records.is_empty() },
        None => Polled::End,
    })
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

/// The position to resume after (`worker`'s), having said once, on stderr and in `stats`,
/// when the record there is older than the stream's retention: Kinesis starts such an
/// iterator at the oldest record it keeps, so whatever arrived after the position and before
/// the trim horizon was trimmed unread. (Sequence numbers are not dense: only the arrival
/// times tell that something may be gone; the sim's ledger tells exactly what.)
async fn behind_trim<'w>(
    ctx: &Ctx,
    shard: &str,
    worker: &'w Worker,
    stats: &WorkerStats,
    named: &mut Option<i64>,
) -> Option<&'w str> {
    let position = worker.position()?;
    let Some(arrived_ms) = worker.arrived_ms() else { return Some(position) };
    let retention_ms = *ctx.retention_ms.get_or_init(|| retention_ms(&ctx.client, &ctx.options.stream)).await;
    if let Some(retention_ms) = retention_ms {
        let horizon_ms = clock::unix_ms() - retention_ms;
        if arrived_ms < horizon_ms && *named != Some(arrived_ms) {
            *named = Some(arrived_ms);
            stats.trim_gap();
            let at = |ms: i64| {
                let t = aws_sdk_kinesis::primitives::DateTime::from_millis(ms);
                t.fmt(aws_sdk_kinesis::primitives::DateTimeFormat::DateTime).unwrap_or_else(|_| ms.to_string())
            };
            eprintln!(
                "minutely: {} {shard}: resuming after {position}, a record that arrived at {}, older than the stream's retention of {} h: whatever arrived after it until {} was trimmed before this consumer read it, and is not counted (IncreaseStreamRetentionPeriod keeps more; a consumer down longer than the retention loses data)",
                ctx.options.stream,
                at(arrived_ms),
                retention_ms / 3_600_000,
                at(horizon_ms)
            );
        }
    }
    Some(position)
}

/// The retention period of `stream` in ms (DescribeStreamSummary). `None`, said on stderr,
/// when it cannot be learned: a reader resuming behind the trim then cannot say so.
async fn retention_ms(client: &Client, stream: &str) -> Option<i64> {
    match client.describe_stream_summary().stream_name(stream).send().await {
        Ok(out) => out.stream_description_summary().map(|d| i64::from(d.retention_period_hours()) * 3_600_000),
        Err(e) => {
            let e = AwsError::from_sdk("DescribeStreamSummary", format!("stream {stream}"), &e);
            eprintln!(
                "minutely: could not learn the retention of stream {stream} ({e}): a reader resuming after a record the retention trimmed will not say so"
            );
            None
        }
    }
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
