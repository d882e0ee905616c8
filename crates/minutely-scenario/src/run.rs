//! One run, in named steps: input and model, the fault plan, the backend, then
//! `provision` (stream and bucket), `spawn_consumer`, `produce` (with the reshards),
//! `wait_until_settled`, `read_back`, and the checks of `Report::check`.

use minutely_aws::clock::{self, Instant};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_kinesis::types::ScalingType;
use minutely_aggregate::WindowConfig;
use minutely_aws::AwsError;
use minutely_consumer::kinesis::{KinesisOptions, ShardStats};
use minutely_consumer::output::{CrashAfter, OutputError};
use minutely_consumer::worker::WorkerError;
use minutely_consumer::{ConsumeError, CountLine, Output, S3Output, Settings, Stop};
use minutely_producer::aggregation::DEFAULT_MAX_BYTES;
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::{KinesisSink, RetryPolicy, Timeline};
use minutely_producer::{Pacer, Sink, Sourced};
use rand::Rng;
use tokio::sync::watch;

use crate::backend::Running;
use crate::faults::{Plan, Reshard};
use crate::fleet::{self, WorkersReport};
use crate::generate::Payload;
use crate::input::{Counted, Input};
use crate::model::{self, Counts, Diff};
use crate::report::{Engine, Marker, MinuteCounts, Report, ShardLag};
use crate::spec::Scenario;
use crate::trace::{self, Tracer};

const BUCKET: &str = "minutely-scenarios";

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The workspace (fixture paths are relative to it).
    pub root: PathBuf,
    /// Where `<name>.snap` lives.
    pub snapshots: PathBuf,
    /// Write the snapshot instead of comparing with it.
    pub update_snapshots: bool,
    /// A backend that overrides the scenario's.
    pub backend: Option<crate::ScenarioBackend>,
    /// LocalStack options (cache directory, Python...).
    pub localstack: minutely_localstack::Options,
    /// Stops the run when it holds a reason (`"SIGINT"`): producer and consumer are dropped,
    /// the backend is stopped, and the report is a partial one marked interrupted.
    pub interrupt: Option<watch::Receiver<Option<String>>>,
}

/// How long past its timeout a run may take to end on its own (reading back, stopping) before
/// it is cut off with a partial report.
const TIMEOUT_OVERRUN: Duration = Duration::from_secs(5);

/// Why a run ended before its end.
#[derive(Debug)]
struct Cut {
    /// `Some(signal)` for an interruption, `None` for the timeout.
    signal: Option<String>,
}

/// Runs `fut` unless the interrupt fires or `hard_deadline` passes first.
async fn unless_cut<T>(
    fut: impl std::future::Future<Output = T>,
    interrupt: &Option<watch::Receiver<Option<String>>>,
    hard_deadline: Instant,
) -> Result<T, Cut> {
    let interrupted = async {
        match interrupt.clone() {
            Some(mut rx) => match rx.wait_for(Option::is_some).await {
                Ok(reason) => reason.clone().unwrap_or_default(),
                Err(_) => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        v = fut => Ok(v),
        signal = interrupted => Err(Cut { signal: Some(signal) }),
        _ = clock::sleep_until(hard_deadline) => Err(Cut { signal: None }),
    }
}

/// A spawned task that is aborted when this handle is dropped (a run cut short).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Live numbers for a progress line.
#[derive(Debug, Default)]
pub struct Progress {
    pub phase: Mutex<String>,
    pub produced: AtomicU64,
    pub total: AtomicU64,
    pub consumer: Mutex<Option<ShardStats>>,
}

impl Progress {
    fn phase(&self, p: &str) {
        *self.phase.lock().expect("progress lock") = p.to_owned();
    }

    /// `events read, objects written` by the consumer so far (this attempt).
    pub fn consumed(&self) -> (u64, u64) {
        let guard = self.consumer.lock().expect("progress lock");
        let Some(stats) = guard.as_ref() else { return (0, 0) };
        let workers = stats.lock().expect("stats lock");
        workers.iter().fold((0, 0), |(r, o), (_, s)| (r + s.counters().events, o + s.objects.load(Ordering::Relaxed)))
    }
}

/// Runs `s` and checks its expectations. A fault the backend cannot do is an error that names
/// both, before anything starts.
pub async fn run(s: &Scenario, opts: &RunOptions, progress: &Progress) -> anyhow::Result<Report> {
    let mut report = run_checked(s, opts, progress).await?;
    report.summary = report.render();
    Ok(report)
}

async fn run_checked(s: &Scenario, opts: &RunOptions, progress: &Progress) -> anyhow::Result<Report> {
    let started = clock::now();
    // The scenario's timeout bounds the whole run, the backend's start and production included.
    let deadline = started + s.expect.timeout;
    let hard_deadline = deadline + TIMEOUT_OVERRUN;
    let backend = match opts.backend {
        Some(b) => b,
        None => s.backend()?,
    };
    let plan = Plan::new(&s.faults, backend, s.input.seed).map_err(|e| anyhow::anyhow!(e))?;
    progress.phase("counting the input");
    let input = Input::of(s, &opts.root)?;
    let counting = clock::now();
    let counted = input.count(&s.pipeline.key)?;
    let input_and_model_seconds = counting.elapsed().as_secs_f64();
    progress.total.store(counted.records, Ordering::Relaxed);

    progress.phase(if backend == crate::ScenarioBackend::Sim { "starting the sim" } else { "starting LocalStack" });
    let starting = Running::start(backend, &plan, &opts.localstack);
    let running = match unless_cut(starting, &opts.interrupt, hard_deadline).await {
        Ok(running) => running?,
        Err(cut) => return Ok(partial(s, progress, cut, started, "none")),
    };
    let name = running.name();
    let steps = run_on(s, &plan, &input, &counted, &running, progress, deadline);
    let result = unless_cut(steps, &opts.interrupt, hard_deadline).await;
    // Where a cut run was is taken before the backend is stopped.
    let result = result.map_err(|cut| partial(s, progress, cut, started, &name));
    progress.phase("stopping the backend");
    running.stop().await;
    let mut report = match result {
        Ok(report) => report?,
        Err(mut partial) => {
            partial.run_seconds = started.elapsed().as_secs_f64();
            return Ok(partial);
        }
    };
    report.run_seconds = started.elapsed().as_secs_f64();
    report.engine.input_and_model_seconds = input_and_model_seconds;
    report.engine.peak_rss_bytes = Engine::peak_rss();
    report.check(s, &plan, &opts.snapshots, opts.update_snapshots)?;
    Ok(report)
}

/// The report of a run cut short: what was sent, read and written so far, and why it ended.
fn partial(s: &Scenario, progress: &Progress, cut: Cut, started: Instant, backend: &str) -> Report {
    let phase = progress.phase.lock().expect("progress lock").clone();
    let sent = progress.produced.load(Ordering::Relaxed);
    let total = progress.total.load(Ordering::Relaxed);
    let (read, objects) = progress.consumed();
    let why = match &cut.signal {
        Some(signal) => format!("interrupted by {signal}"),
        None => format!("timed out after {}", humantime::format_duration(s.expect.timeout)),
    };
    let reason = format!(
        "{why} while {phase}: {sent} of {total} records sent, {read} read by the consumer, {objects} objects written"
    );
    Report {
        failures: vec![reason.clone()],
        records_in: total,
        objects,
        run_seconds: started.elapsed().as_secs_f64(),
        records_sent: sent,
        interrupted: Some(reason),
        signal: cut.signal,
        ..Report::empty(s, backend)
    }
}

/// The steps on a running backend.
async fn run_on(
    s: &Scenario,
    plan: &Plan,
    input: &Input,
    counted: &Counted,
    backend: &Running,
    progress: &Progress,
    deadline: Instant,
) -> anyhow::Result<Report> {
    let clients = minutely_aws::clients(&minutely_aws::Target::endpoint(backend.endpoint())).await;
    let (stream, output) = provision(s, &clients).await?;
    let decoder = Arc::new(s.decoder()?);
    let tracer = Arc::new(Tracer::new(counted.records as usize, decoder.clone()));
    let events_put = Arc::new(AtomicU64::new(0));
    let happened = Happened::default();
    let watch = Watch { events_put: events_put.clone(), happened: happened.clone() };
    let mut consumer =
        spawn_consumer(s, plan, &clients.kinesis, &stream, output.clone(), tracer.clone(), progress, watch);
    let lag = LagSamples::default();
    let sampler = AbortOnDrop(tokio::spawn(sample_lag(consumer.stats.clone(), lag.clone())));
    progress.phase("producing and consuming");
    let produced =
        produce(s, plan, input, counted.records, &clients.kinesis, &stream, progress, &events_put, &happened).await?;
    progress.phase("waiting for the windows to close");
    let timed_out = !wait_until_settled(&consumer, deadline).await;
    drop(sampler);
    let _ = consumer.stop.send(Some(Stop { close_open: true }));
    let (restarts, duplicates, rejected, workers) = (&mut consumer.task.0).await??;

    progress.phase("reading the aggregates back");
    let sim = backend.sim_stats();
    backend.calm();
    let reading = clock::now();
    let back = read_back(&clients.s3, &output.prefix).await?;
    let read_back_seconds = reading.elapsed().as_secs_f64();
    let mut failures = Vec::new();
    if timed_out {
        failures.push(format!("timed out after {:?} with windows still open", s.expect.timeout));
    }
    // After a restart (or a worker's kill), the records read again are rejected again in
    // memory, but written once.
    let killed = workers.as_ref().is_some_and(|w| w.killed > 0);
    if restarts == 0 && !killed && back.rejects != rejected {
        failures.push(format!("{rejected} records rejected, {} reject lines in S3", back.rejects));
    }
    let timeline = produced.timeline;
    let t0 = timeline.sent.first().map_or_else(Instant::now, |(_, t)| *t);
    let mut throughput = tracer.throughput(t0, timeline.acked.iter().flatten().copied());
    for (at, n) in &produced.retried_at {
        trace::second_of(&mut throughput, t0, *at).retried += n;
    }
    let since = |at: Instant| at.checked_duration_since(t0).map(|d| d.as_secs_f64());
    let markers = happened
        .lock()
        .expect("happened lock")
        .iter()
        .map(|(at, what)| Marker { second: since(*at).unwrap_or(0.0), what: what.clone() })
        .collect();
    let mut lag_by_shard: std::collections::BTreeMap<String, Vec<(f64, i64)>> = std::collections::BTreeMap::new();
    for (at, shard, ms) in lag.lock().expect("lag lock").iter() {
        if let Some(second) = since(*at) {
            lag_by_shard.entry(shard.clone()).or_default().push((second, *ms));
        }
    }
    let lag = lag_by_shard.into_iter().map(|(shard, points)| ShardLag { shard, points }).collect();
    let expected = &counted.expected;
    let joining = clock::now();
    let latency = tracer.latency(&timeline);
    let engine =
        Engine { read_back_seconds, latency_join_seconds: joining.elapsed().as_secs_f64(), ..Engine::default() };
    Ok(Report {
        failures,
        records_in: counted.records,
        events: expected.values().sum::<u64>(),
        counted: back.sums.values().sum(),
        late: back.late,
        rejected_by_producer: counted.rejected_by_producer,
        rejected_by_consumer: back.rejects,
        duplicates_dropped: duplicates,
        consumer_restarts: restarts,
        workers,
        reshards: produced.reshards,
        put_retries: produced.retried,
        objects: back.objects,
        diff: Diff::of(expected, &back.sums),
        latency,
        engine,
        throughput,
        markers,
        minutes: minute_totals(expected, &back.sums),
        lag,
        produce_seconds: produced.seconds,
        throughput_events_per_s: counted.records as f64 / produced.seconds.max(1e-9),
        records_sent: counted.records,
        sim,
        aggregates: model::render(&back.sums),
        ..Report::empty(s, &backend.name())
    })
}

/// A fresh stream and prefix for this run (named after the scenario and the time), and the
/// bucket.
async fn provision(s: &Scenario, clients: &minutely_aws::Clients) -> anyhow::Result<(String, S3Output)> {
    let run_id = clock::unix_ms();
    let stream = format!("{}-{run_id}", s.name);
    minutely_aws::kinesis::ensure_stream(&clients.kinesis, &stream, s.pipeline.shards, Duration::from_secs(60)).await?;
    let output = S3Output {
        client: clients.s3.clone(),
        bucket: BUCKET.into(),
        prefix: format!("{}/{run_id}", s.name),
        retry_deadline: Duration::from_secs(60),
    };
    output.create_bucket().await?;
    Ok((stream, output))
}

/// The consumer (or the fleet of workers) as a task, with its stop switch and its live stats.
struct Consumer {
    task: AbortOnDrop<Result<Ended, ConsumeError>>,
    stop: watch::Sender<Option<Stop>>,
    stats: ShardStats,
    /// With workers: whether every readable shard is held by a live worker.
    accounted: Option<Arc<AtomicBool>>,
}

/// What the consumer task ends with: restarts, duplicates dropped, records rejected, and what
/// the workers did (with the `workers` faults).
type Ended = (u64, u64, u64, Option<WorkersReport>);

/// Starts the consumer; after an injected crash (the kill fault), a new one takes over from the
/// checkpoints. With the `workers` faults, starts the fleet instead (`fleet.rs`).
#[allow(clippy::too_many_arguments)]
fn spawn_consumer(
    s: &Scenario,
    plan: &Plan,
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    output: S3Output,
    tracer: Arc<Tracer>,
    progress: &Progress,
    watch: Watch,
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
    // The kill fault: clones share the crash, which fires once.
    let output = match plan.kill_consumer {
        Some(k) => Output::S3(output).crashing(CrashAfter::at(k.after_objects, k.at, false)),
        None => Output::S3(output),
    };
    let options = KinesisOptions {
        discover_every: Duration::from_secs(1),
        idle_poll: Duration::from_millis(200),
        checkpoint_every: Duration::from_secs(1),
        observer: Some(tracer),
        ..KinesisOptions::new(stream)
    };
    let (stop, stop_rx) = watch::channel(None::<Stop>);
    let stats: ShardStats = Arc::new(Mutex::new(Vec::new()));
    *progress.consumer.lock().expect("progress lock") = Some(stats.clone());
    let client = kinesis.clone();
    if let Some(f) = plan.fleet {
        let view = fleet::View { stats: stats.clone(), accounted: Arc::default() };
        let accounted = Some(view.accounted.clone());
        let task = AbortOnDrop(tokio::spawn(async move {
            let (workers, duplicates, rejected) =
                fleet::run(f, client, options, settings, output, stop_rx, watch, view).await?;
            Ok((0, duplicates, rejected, Some(workers)))
        }));
        return Consumer { task, stop, stats, accounted };
    }
    let shard_stats = stats.clone();
    let task = AbortOnDrop(tokio::spawn(async move {
        let (mut restarts, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
        loop {
            let r = minutely_consumer::kinesis::consume(
                client.clone(),
                options.clone(),
                settings.clone(),
                output.clone(),
                stop_rx.clone(),
                shard_stats.clone(),
            )
            .await;
            let mut workers = shard_stats.lock().expect("stats lock");
            for (_, w) in workers.iter() {
                let c = w.counters();
                duplicates += c.duplicates;
                rejected += c.rejected;
            }
            match r {
                Ok(()) => return Ok((restarts, duplicates, rejected, None)),
                Err(ConsumeError::Worker(WorkerError::Output(OutputError::InjectedCrash { .. }))) => {
                    restarts += 1;
                    workers.clear();
                    watch.happened("consumer killed, restarted");
                }
                Err(e) => return Err(e),
            }
        }
    }));
    Consumer { task, stop, stats, accounted: None }
}

/// What the producer did.
struct Produced {
    seconds: f64,
    retried: u64,
    reshards: Vec<String>,
    timeline: Timeline,
    /// When entries were retried, and how many.
    retried_at: Vec<(Instant, u64)>,
}

/// What happened to the run and when: reshards, consumer restarts, workers killed or added.
pub(crate) type Happened = Arc<Mutex<Vec<(Instant, String)>>>;

/// Each shard's lag as sampled: when, which shard, ms behind.
type LagSamples = Arc<Mutex<Vec<(Instant, String, i64)>>>;

/// What the consumer side watches of the run and tells it: events put so far (a worker joins
/// after some), and what happened when.
#[derive(Clone, Debug, Default)]
pub(crate) struct Watch {
    pub events_put: Arc<AtomicU64>,
    pub happened: Happened,
}

impl Watch {
    pub(crate) fn happened(&self, what: &str) {
        self.happened.lock().expect("happened lock").push((clock::now(), what.to_owned()));
    }
}

/// Puts every item at its due time, resharding where the plan says.
#[allow(clippy::too_many_arguments)]
async fn produce(
    s: &Scenario,
    plan: &Plan,
    input: &Input,
    records: u64,
    k: &aws_sdk_kinesis::Client,
    stream: &str,
    progress: &Progress,
    events_put: &AtomicU64,
    happened: &Happened,
) -> anyhow::Result<Produced> {
    let p = &s.pipeline;
    let mut pacer = Pacer::new();
    let partition = s.partition_key()?;
    let limits = Limits { max_records: p.batch_records.clamp(1, 500), ..Limits::default() };
    let mut sink = KinesisSink::new(k.clone(), stream, limits, RetryPolicy::default())
        .with_seed(s.input.seed)
        .with_timeline(records as usize)
        .with_encoder(Arc::new(s.encoder()?));
    if p.rate_limit {
        sink = sink.with_shard_rate_limit().await?;
    }
    if let Some(packing) = s.packing()? {
        sink = sink.with_aggregation(packing, DEFAULT_MAX_BYTES).await?;
    }
    let mut reshards = plan.reshards.iter().peekable();
    let mut done = Vec::new();
    // The malformed records' partition keys, and the sink's keys and jitter, from the seed.
    let mut rng = minutely_aws::rng::seeded(s.input.seed);
    let mut events_sent = 0u64;
    let (mut retried_at, mut retried_noted): (Vec<(Instant, u64)>, u64) = (Vec::new(), 0);
    for (n, planned) in input.items()?.enumerate() {
        let (item, due, key) = planned?;
        pacer.wait(due, &mut sink).await?;
        while let Some((after, change)) = reshards.next_if(|(after, _)| events_sent >= *after) {
            sink.flush().await?;
            let what = reshard(k, stream, *change).await?;
            happened.lock().expect("happened lock").push((clock::now(), what.clone()));
            done.push(format!("{what} after {after} events"));
            // The new shards' hash key ranges.
            if p.rate_limit {
                sink = sink.with_shard_rate_limit().await?;
            }
            if let Some(packing) = s.packing()? {
                sink = sink.with_aggregation(packing, DEFAULT_MAX_BYTES).await?;
            }
        }
        match item {
            Payload::Event(e) => {
                sink.send(Sourced { event: e, due: None, key }, partition).await?;
                events_sent += 1;
                events_put.store(events_sent, Ordering::Relaxed);
            }
            Payload::Malformed(bytes) => {
                let pk = format!("{:032x}", rng.random::<u128>());
                sink.send_raw(bytes, pk).await?;
            }
        }
        progress.produced.store(n as u64 + 1, Ordering::Relaxed);
        note_retries(&sink, &mut retried_at, &mut retried_noted);
    }
    sink.flush().await?;
    note_retries(&sink, &mut retried_at, &mut retried_noted);
    let sent = sink.stats();
    if sent.failed > 0 || sent.rejected > 0 {
        bail!("the producer could not put {} records ({} refused)", sent.failed, sent.rejected);
    }
    Ok(Produced {
        seconds: pacer.elapsed().as_secs_f64(),
        retried: sent.retried,
        reshards: done,
        timeline: sink.timeline.take().unwrap_or_default(),
        retried_at,
    })
}

/// Notes the entries the sink retried since the last note, and when; `so_far` is the total noted.
fn note_retries(sink: &KinesisSink, noted: &mut Vec<(Instant, u64)>, so_far: &mut u64) {
    let retried = sink.stats().retried;
    if retried > *so_far {
        noted.push((clock::now(), retried - *so_far));
        *so_far = retried;
    }
}

/// Every shard's `MillisBehindLatest` once a second, from the consumer's live stats (readers
/// that stopped left the shard to another).
async fn sample_lag(stats: ShardStats, samples: LagSamples) {
    loop {
        clock::sleep(Duration::from_secs(1)).await;
        let now = clock::now();
        let readers = stats.lock().expect("stats lock").clone();
        let mut samples = samples.lock().expect("lag lock");
        for (shard, s) in readers.iter().filter(|(_, s)| !s.stopped.load(Ordering::Relaxed)) {
            let ms = s.behind_ms.load(Ordering::Relaxed);
            if ms >= 0 {
                samples.push((now, shard.clone(), ms));
            }
        }
    }
}

/// Per minute: the model's count and S3's, over every key.
fn minute_totals(expected: &Counts, found: &Counts) -> Vec<MinuteCounts> {
    let mut by_minute: std::collections::BTreeMap<&str, (u64, u64)> = std::collections::BTreeMap::new();
    for ((minute, _), n) in expected {
        by_minute.entry(minute.as_str()).or_default().0 += n;
    }
    for ((minute, _), n) in found {
        by_minute.entry(minute.as_str()).or_default().1 += n;
    }
    by_minute.into_iter().map(|(minute, (model, s3))| MinuteCounts { minute: minute.to_owned(), model, s3 }).collect()
}

/// Waits until every shard is caught up and every window closed (by the idle timeout), or the
/// consumer ended, or the deadline passed (returns `false` then).
async fn wait_until_settled(consumer: &Consumer, deadline: Instant) -> bool {
    loop {
        clock::sleep(Duration::from_millis(200)).await;
        if consumer.task.0.is_finished() {
            return true;
        }
        let workers = consumer.stats.lock().expect("stats lock").clone();
        let caught_up = !workers.is_empty() && workers.iter().all(|(_, w)| w.caught_up());
        // A reader that stopped (a worker killed, a lease handed over) left its open windows
        // to the next reader of its shard, which counts them.
        let open: u64 = workers
            .iter()
            .filter(|(_, w)| !w.stopped.load(Ordering::Relaxed))
            .map(|(_, w)| w.open_windows.load(Ordering::Relaxed))
            .sum();
        let accounted = consumer.accounted.as_ref().is_none_or(|a| a.load(Ordering::Relaxed));
        if caught_up && open == 0 && accounted {
            return true;
        }
        if clock::now() >= deadline {
            return false;
        }
    }
}

/// Splits the first open shard at the middle of its range, merges the first two adjacent open
/// shards, or scales uniformly; waits until the stream is active again. Says what it did.
async fn reshard(k: &aws_sdk_kinesis::Client, stream: &str, change: Reshard) -> anyhow::Result<String> {
    let mut open = minutely_aws::kinesis::open_ranges(k, stream).await?;
    open.sort();
    let target = format!("stream {stream}");
    let what = match change {
        Reshard::Split => {
            let (lo, hi, id) = open.first().context("no open shard to split")?;
            let middle = lo + (hi - lo) / 2 + 1;
            let call = k.split_shard().stream_name(stream).shard_to_split(id).new_starting_hash_key(middle.to_string());
            call.send().await.map_err(|e| AwsError::from_sdk("SplitShard", &target, &e))?;
            format!("split {id}")
        }
        Reshard::Merge => {
            let pair = open.windows(2).find(|w| w[0].1.checked_add(1) == Some(w[1].0));
            let [a, b] = pair.context("no two adjacent open shards to merge")? else { unreachable!("windows(2)") };
            let call = k.merge_shards().stream_name(stream).shard_to_merge(&a.2).adjacent_shard_to_merge(&b.2);
            call.send().await.map_err(|e| AwsError::from_sdk("MergeShards", &target, &e))?;
            format!("merged {} and {}", a.2, b.2)
        }
        Reshard::ShardCount(to) => {
            let call = k.update_shard_count().stream_name(stream).target_shard_count(to);
            call.scaling_type(ScalingType::UniformScaling)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("UpdateShardCount", &target, &e))?;
            format!("{} shards to {to}", open.len())
        }
    };
    minutely_aws::kinesis::wait_active(k, stream, Duration::from_secs(60)).await?;
    Ok(what)
}

/// What S3 holds under the run's prefix.
struct ReadBack {
    sums: Counts,
    late: u64,
    objects: u64,
    rejects: u64,
}

/// Sums every count line under `<prefix>/minutes/` and counts the lines under `rejects/`, 16
/// objects at a time (memory grows with the (minute, key) pairs, not with the events).
async fn read_back(s3: &aws_sdk_s3::Client, prefix: &str) -> anyhow::Result<ReadBack> {
    let mut back = ReadBack { sums: Counts::new(), late: 0, objects: 0, rejects: 0 };
    each_object(s3, keys_under(s3, &format!("{prefix}/minutes/")).await?, |key, body| {
        back.objects += 1;
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let c: CountLine = serde_json::from_slice(line).with_context(|| format!("s3://{BUCKET}/{key}"))?;
            if c.late {
                back.late += c.count;
            }
            *back.sums.entry((c.minute, c.key)).or_default() += c.count;
        }
        Ok(())
    })
    .await?;
    each_object(s3, keys_under(s3, &format!("{prefix}/rejects/")).await?, |_, body| {
        back.rejects += body.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count() as u64;
        Ok(())
    })
    .await?;
    Ok(back)
}

/// GetObject of every key, 16 calls in flight, and `f` on each (key, body) as it comes.
async fn each_object(
    s3: &aws_sdk_s3::Client,
    keys: Vec<String>,
    mut f: impl FnMut(&str, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut keys = keys.into_iter();
    let mut calls = tokio::task::JoinSet::new();
    loop {
        while calls.len() < 16
            && let Some(key) = keys.next()
        {
            let s3 = s3.clone();
            calls.spawn(async move { get(&s3, &key).await.map(|body| (key, body)) });
        }
        let Some(done) = calls.join_next().await else { return Ok(()) };
        let (key, body) = done??;
        f(&key, &body)?;
    }
}

async fn keys_under(s3: &aws_sdk_s3::Client, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let list = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListObjectsV2", format!("s3://{BUCKET}/{prefix}"), &e))?;
        out.extend(list.contents().iter().map(|o| o.key().unwrap_or_default().to_owned()));
        match list.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(out),
        }
    }
}

async fn get(s3: &aws_sdk_s3::Client, key: &str) -> anyhow::Result<Vec<u8>> {
    let target = || format!("s3://{BUCKET}/{key}");
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObject", target(), &e))?;
    Ok(got.body.collect().await.with_context(|| format!("GetObject {}: the body", target()))?.to_vec())
}
