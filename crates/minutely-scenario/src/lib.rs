//! minutely's scenario engine: one `scenarios/<name>.toml` run end to end. LocalStack is
//! provisioned, a fresh stream and prefix made, the producer and the consumer run together (with
//! the scenario's faults), the aggregates are read back from S3 and compared with the counting
//! model and the snapshot, and latency is measured per stage.
//!
//! ```text
//! input (fixture TSV | proptest-generated) ──► items ──► producer (KinesisSink + timeline) ──► Kinesis
//!        │                                                  faults: split, throttling              │
//!        └──► model::count ─┐                   consumer (kinesis::consume + Tracer) ◄─────────────┘
//!                           ├── compare ◄── S3 sums ◄── objects (restart fault: crash, resume)
//!    snapshots/<name>.snap ─┘
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use minutely_aggregate::WindowConfig;
use minutely_consumer::kinesis::{KinesisOptions, ShardStats};
use minutely_consumer::output::{CrashAfter, OutputError};
use minutely_consumer::worker::WorkerError;
use minutely_consumer::{ConsumeError, CountLine, Output, S3Output, Settings, Stop};
use minutely_event::Schema;
use minutely_localstack::{Backend, LocalStack};
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::{KinesisSink, RetryPolicy};
use minutely_producer::source::FileSource;
use minutely_producer::{Pace, Pacer, Sink, Sourced};
use rand::Rng;
use serde::Serialize;
use tokio::sync::watch;

pub mod generate;
pub mod model;
pub mod spec;
pub mod trace;

pub use spec::Scenario;

use crate::generate::{GenSpec, Item};
use crate::model::{Counts, Diff};
use crate::trace::{Latency, Tracer};

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
    pub backend: Option<Backend>,
    /// LocalStack options (cache directory, Python...).
    pub localstack: minutely_localstack::Options,
    /// Stops the run when it holds a reason (`"SIGINT"`): producer and consumer are dropped,
    /// LocalStack is stopped, and the report is a partial one marked interrupted.
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
        _ = tokio::time::sleep_until(hard_deadline.into()) => Err(Cut { signal: None }),
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
    pub produced: std::sync::atomic::AtomicU64,
    pub total: std::sync::atomic::AtomicU64,
    pub consumer: Mutex<Option<ShardStats>>,
}

impl Progress {
    fn phase(&self, p: &str) {
        *self.phase.lock().expect("progress lock") = p.to_owned();
    }

    /// `records read, objects written` by the consumer so far (this attempt).
    pub fn consumed(&self) -> (u64, u64) {
        let guard = self.consumer.lock().expect("progress lock");
        let Some(stats) = guard.as_ref() else { return (0, 0) };
        let workers = stats.lock().expect("stats lock");
        workers.iter().fold((0, 0), |(r, o), (_, s)| {
            (r + s.records.load(Ordering::Relaxed), o + s.objects.load(Ordering::Relaxed))
        })
    }
}

/// What a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub backend: String,
    pub passed: bool,
    pub failures: Vec<String>,
    /// Records put into the stream: events (with their duplicates) and malformed records.
    pub records_in: u64,
    /// Distinct events the model counts.
    pub events: u64,
    /// The sum of every count under `minutes/`.
    pub counted: u64,
    /// Counted in late objects.
    pub late: u64,
    pub rejected_by_producer: u64,
    /// Reject lines under `rejects/` in S3.
    pub rejected_by_consumer: u64,
    pub duplicates_dropped: u64,
    pub consumer_restarts: u64,
    pub shard_split: bool,
    pub put_retries: u64,
    pub objects: u64,
    pub diff: Diff,
    pub latency: Latency,
    pub produce_seconds: f64,
    pub run_seconds: f64,
    pub throughput_events_per_s: f64,
    /// Records the producer had sent when the run ended (all of them, unless it was cut short).
    pub records_sent: u64,
    /// Why the run was cut short (a signal, or its timeout), with where it was.
    pub interrupted: Option<String>,
    /// The signal that interrupted it, if one did.
    pub signal: Option<String>,
    /// The S3 sums as snapshot text.
    #[serde(skip)]
    pub aggregates: String,
}

/// The records a run puts, each with when it is due (offset from the start).
struct Input {
    items: Vec<(Item, Option<Duration>, Arc<[String]>)>,
    rejected_by_producer: u64,
}

fn input(s: &Scenario, root: &Path) -> anyhow::Result<Input> {
    let i = &s.input;
    if let Some(fixture) = &i.fixture {
        let path = root.join(fixture);
        let sidecar = path.with_extension("schema.toml");
        let schema = if sidecar.is_file() {
            let text = std::fs::read_to_string(&sidecar)?;
            Schema::from_toml(&text).with_context(|| format!("in {}", sidecar.display()))?
        } else {
            Schema::default()
        };
        let file = std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let pace = i.speed.map_or(Pace::Asap, Pace::Speed);
        let mut source = FileSource::new(std::io::BufReader::new(file), &schema, &name, pace)?;
        // Malformed records among the replayed ones, from a generator seeded by the scenario.
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(i.seed);
        let mut items = Vec::new();
        for s in source.by_ref() {
            let s: Sourced = s?;
            let (due, key) = (s.due, s.key.clone());
            items.push((Item::Event(s.event), due, s.key));
            if rng.random_bool(i.malformed_fraction) {
                let bytes = format!("malformed record {} of {name}", items.len()).into_bytes();
                items.push((Item::Malformed(bytes), due, key));
            }
        }
        return Ok(Input { items, rejected_by_producer: source.rejects.len() as u64 });
    }
    let start = minutely_event::TimeFormat::Rfc3339
        .parse(i.start.as_bytes())
        .map_err(|e| anyhow::anyhow!("[input] start {:?}: {e}", i.start))?;
    let spec = GenSpec {
        seed: i.seed,
        start,
        span_ms: i.span.as_millis() as i64,
        dims: s.dims()?,
        jitter_ms: i.jitter.as_millis() as i64,
        late_fraction: i.late_fraction,
        late_by_ms: i.late_by.as_millis() as i64,
        duplicate_fraction: i.duplicate_fraction,
        malformed_fraction: i.malformed_fraction,
    };
    let key: Arc<[String]> = spec.dims.iter().map(|d| d.name.clone()).collect();
    let generated = generate::generate(&spec, i.count.unwrap_or_default() as usize);
    let items = generated
        .into_iter()
        .enumerate()
        .map(|(n, item)| (item, i.rate.map(|r| Duration::from_secs_f64(n as f64 / r)), key.clone()))
        .collect();
    Ok(Input { items, rejected_by_producer: 0 })
}

/// Runs `s` and checks its expectations.
pub async fn run(s: &Scenario, opts: &RunOptions, progress: &Progress) -> anyhow::Result<Report> {
    let started = Instant::now();
    // The scenario's timeout bounds the whole run, LocalStack's start and production included.
    let deadline = started + s.expect.timeout;
    let hard_deadline = deadline + TIMEOUT_OVERRUN;
    progress.phase("preparing the input");
    let input = input(s, &opts.root)?;
    let events = input.items.iter().filter_map(|(i, _, _)| if let Item::Event(e) = i { Some(e) } else { None });
    let expected = model::count(events, &s.pipeline.key);
    progress.total.store(input.items.len() as u64, Ordering::Relaxed);

    progress.phase("starting LocalStack");
    let mut ls_options = opts.localstack.clone();
    ls_options.backend = match opts.backend {
        Some(b) => b,
        None => s.backend()?,
    };
    if s.faults.throttle_probability > 0.0 {
        if ls_options.backend == Backend::Endpoint {
            bail!("throttle_probability needs a LocalStack this run starts: not the endpoint backend");
        }
        ls_options.endpoint = None; // auto must start one, with the setting
        ls_options = ls_options.with_env("KINESIS_ERROR_PROBABILITY", &s.faults.throttle_probability.to_string());
    }
    // A scenario's instance holds nothing worth a slow clean shutdown (LocalStack takes about
    // five seconds on SIGTERM): SIGKILL after two, so that an interrupted run ends within five.
    ls_options.stop_grace = ls_options.stop_grace.min(Duration::from_secs(2));
    // A start cut short goes on in its thread and stops LocalStack when it ends (or, if this
    // process exits first, LocalStack's watchdog does).
    let starting = tokio::task::spawn_blocking(move || LocalStack::start(&ls_options));
    let ls = match unless_cut(starting, &opts.interrupt, hard_deadline).await {
        Ok(ls) => ls??,
        Err(cut) => return Ok(partial(s, progress, cut, started, "none")),
    };
    let backend = format!("{:?}", ls.backend()).to_lowercase();
    let result =
        unless_cut(run_on(s, &input, &expected, ls.endpoint(), progress, deadline), &opts.interrupt, hard_deadline)
            .await;
    // Where a cut run was is taken before LocalStack is stopped.
    let result = result.map_err(|cut| partial(s, progress, cut, started, &backend));
    progress.phase("stopping LocalStack");
    tokio::task::spawn_blocking(move || drop(ls)).await?;
    let mut report = match result {
        Ok(report) => report?,
        Err(mut partial) => {
            partial.run_seconds = started.elapsed().as_secs_f64();
            return Ok(partial);
        }
    };
    report.backend = backend;
    report.run_seconds = started.elapsed().as_secs_f64();
    check(s, opts, &mut report)?;
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
        scenario: s.name.clone(),
        description: s.description.clone(),
        backend: backend.to_owned(),
        passed: false,
        failures: vec![reason.clone()],
        records_in: total,
        events: 0,
        counted: 0,
        late: 0,
        rejected_by_producer: 0,
        rejected_by_consumer: 0,
        duplicates_dropped: 0,
        consumer_restarts: 0,
        shard_split: false,
        put_retries: 0,
        objects,
        diff: Diff::default(),
        latency: Latency::default(),
        produce_seconds: 0.0,
        run_seconds: started.elapsed().as_secs_f64(),
        throughput_events_per_s: 0.0,
        records_sent: sent,
        interrupted: Some(reason),
        signal: cut.signal,
        aggregates: String::new(),
    }
}

async fn run_on(
    s: &Scenario,
    input: &Input,
    expected: &Counts,
    endpoint: &str,
    progress: &Progress,
    deadline: Instant,
) -> anyhow::Result<Report> {
    let clients = minutely_aws::clients(&minutely_aws::Target::endpoint(endpoint)).await;
    let (k, s3) = (&clients.kinesis, &clients.s3);
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let stream = format!("{}-{run_id}", s.name);
    let prefix = format!("{}/{run_id}", s.name);
    minutely_producer::kinesis::ensure_stream(k, &stream, s.pipeline.shards, Duration::from_secs(60)).await?;
    match s3.create_bucket().bucket(BUCKET).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
        Err(e) => return Err(anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e)).context("CreateBucket")),
    }

    // The consumer, restarted after an injected crash.
    let tracer = Arc::new(Tracer::default());
    let p = &s.pipeline;
    let settings = Settings {
        key: p.key.iter().cloned().collect(),
        windows: WindowConfig {
            allowed_lateness_ms: p.allowed_lateness.as_millis() as u64,
            idle_timeout_ms: (!p.idle_timeout.is_zero()).then_some(p.idle_timeout.as_millis() as u64),
        },
        max_dedup_ids: 1_000_000,
    };
    let crash = s.faults.restart_consumer_after_objects.map(|n| Arc::new(CrashAfter::new(n, false)));
    let output = S3Output {
        client: s3.clone(),
        bucket: BUCKET.into(),
        prefix: prefix.clone(),
        retry_deadline: Duration::from_secs(60),
        crash_after: crash,
    };
    let options = KinesisOptions {
        discover_every: Duration::from_secs(1),
        idle_poll: Duration::from_millis(100),
        checkpoint_every: Duration::from_secs(1),
        observer: Some(tracer.clone()),
        ..KinesisOptions::new(&stream)
    };
    let (stop_tx, stop_rx) = watch::channel(None::<Stop>);
    let stats: ShardStats = Arc::new(Mutex::new(Vec::new()));
    *progress.consumer.lock().expect("progress lock") = Some(stats.clone());
    let mut consumer = {
        let (client, stats) = (k.clone(), stats.clone());
        AbortOnDrop(tokio::spawn(async move {
            let mut restarts = 0u64;
            let mut duplicates = 0u64;
            let mut rejected = 0u64;
            loop {
                let r = minutely_consumer::kinesis::consume(
                    client.clone(),
                    options.clone(),
                    settings.clone(),
                    Output::S3(output.clone()),
                    stop_rx.clone(),
                    stats.clone(),
                )
                .await;
                let mut workers = stats.lock().expect("stats lock");
                for (_, w) in workers.iter() {
                    duplicates += w.duplicates.load(Ordering::Relaxed);
                    rejected += w.rejected.load(Ordering::Relaxed);
                }
                match r {
                    Ok(()) => return Ok((restarts, duplicates, rejected)),
                    Err(ConsumeError::Worker(WorkerError::Output(OutputError::InjectedCrash(_)))) => {
                        restarts += 1;
                        workers.clear();
                    }
                    Err(e) => return Err(e),
                }
            }
        }))
    };

    // The producer, with the split fault.
    progress.phase("producing and consuming");
    let mut pacer = Pacer::new();
    let partition = s.partition_key()?;
    let limits = Limits { max_records: p.batch_records.clamp(1, 500), ..Limits::default() };
    let mut sink = KinesisSink::new(k.clone(), &stream, limits, RetryPolicy::default()).with_timeline();
    let mut split = false;
    let mut rng = rand::rng();
    let mut events_sent = 0u64;
    for (n, (item, due, key)) in input.items.iter().enumerate() {
        pacer.wait(*due, &mut sink).await?;
        if !split && s.faults.split_shard_after_events.is_some_and(|after| events_sent >= after) {
            sink.flush().await?;
            split_first_shard(k, &stream).await?;
            split = true;
        }
        match item {
            Item::Event(e) => {
                let sourced = Sourced { event: e.clone(), due: None, key: key.clone() };
                sink.send(sourced, partition).await?;
                events_sent += 1;
            }
            Item::Malformed(bytes) => {
                let pk = format!("{:032x}", rng.random::<u128>());
                sink.send_raw(bytes.clone(), pk).await?;
            }
        }
        progress.produced.store(n as u64 + 1, Ordering::Relaxed);
    }
    sink.flush().await?;
    let produce_seconds = pacer.elapsed().as_secs_f64();
    let sent = sink.stats();
    if sent.failed > 0 || sent.rejected > 0 {
        bail!("the producer could not put {} records ({} refused)", sent.failed, sent.rejected);
    }

    // Wait until every shard is caught up and every window closed (by the idle timeout).
    progress.phase("waiting for the windows to close");
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if consumer.0.is_finished() {
            break;
        }
        let workers = stats.lock().expect("stats lock").clone();
        let caught_up = !workers.is_empty()
            && workers.iter().all(|(_, w)| {
                w.finished.load(Ordering::Relaxed)
                    || (w.empty_polls.load(Ordering::Relaxed) > 0 && w.behind_ms.load(Ordering::Relaxed) == 0)
            });
        let open: u64 = workers.iter().map(|(_, w)| w.open_windows.load(Ordering::Relaxed)).sum();
        if (caught_up && open == 0) || Instant::now() >= deadline {
            break;
        }
    }
    let timed_out = Instant::now() >= deadline;
    let _ = stop_tx.send(Some(Stop { close_open: true }));
    let (restarts, duplicates, rejected) = (&mut consumer.0).await??;

    progress.phase("reading the aggregates back");
    let (found, late, objects) = read_back(s3, &prefix).await?;
    let rejected_in_s3 = count_lines(s3, &format!("{prefix}/rejects/")).await?;
    let timeline = sink.timeline.take().unwrap_or_default();
    let produced: Vec<_> =
        timeline.sent.into_iter().zip(timeline.acked).map(|((id, sent), ack)| (id, sent, ack)).collect();
    let latency = tracer.latency(&produced);
    let events = expected.values().sum::<u64>();
    let mut failures = Vec::new();
    if timed_out {
        failures.push(format!("timed out after {:?} with windows still open", s.expect.timeout));
    }
    // After a restart, the records read again are rejected again in memory, but written once.
    if restarts == 0 && rejected_in_s3 != rejected {
        failures.push(format!("{rejected} records rejected, {rejected_in_s3} reject lines in S3"));
    }
    Ok(Report {
        scenario: s.name.clone(),
        description: s.description.clone(),
        backend: String::new(),
        passed: false,
        failures,
        records_in: input.items.len() as u64,
        events,
        counted: found.values().sum(),
        late,
        rejected_by_producer: input.rejected_by_producer,
        rejected_by_consumer: rejected_in_s3,
        duplicates_dropped: duplicates,
        consumer_restarts: restarts,
        shard_split: split,
        put_retries: sent.retried,
        objects,
        diff: Diff::of(expected, &found),
        latency,
        produce_seconds,
        run_seconds: 0.0,
        throughput_events_per_s: input.items.len() as f64 / produce_seconds.max(1e-9),
        records_sent: input.items.len() as u64,
        interrupted: None,
        signal: None,
        aggregates: model::render(&found),
    })
}

/// The checks that need no AWS: model, snapshot (of what S3 holds), latency thresholds.
fn check(s: &Scenario, opts: &RunOptions, report: &mut Report) -> anyhow::Result<()> {
    let e = &s.expect;
    if e.zero_loss && !report.diff.is_empty() {
        report.failures.push(format!(
            "the S3 sums differ from the model: {} (minute, key) short, {} over",
            report.diff.missing.len(),
            report.diff.extra.len()
        ));
    }
    if let Some(name) = s.snapshot_name() {
        let text = report.aggregates.clone();
        let path = opts.snapshots.join(format!("{name}.snap"));
        match snapshot_matches(&path, &text, opts.update_snapshots)? {
            SnapshotCheck::Matches | SnapshotCheck::Written => {}
            SnapshotCheck::Differs(new) => report.failures.push(format!(
                "the aggregates differ from snapshot {} (new one in {}; accept with --update-snapshots)",
                path.display(),
                new.display()
            )),
            SnapshotCheck::Missing(new) => report.failures.push(format!(
                "no snapshot {} yet (written to {}; accept with --update-snapshots)",
                path.display(),
                new.display()
            )),
        }
    }
    let t = &report.latency.total;
    for (name, limit, value) in
        [("p50", e.latency_p50, t.p50_ms), ("p95", e.latency_p95, t.p95_ms), ("p99", e.latency_p99, t.p99_ms)]
    {
        if let Some(limit) = limit
            && Duration::from_millis(value) > limit
        {
            report.failures.push(format!("latency {name} {value} ms is above the limit {limit:?}"));
        }
    }
    if t.count == 0 && report.events > 0 {
        report.failures.push("no event could be followed from put to S3 (latency unmeasured)".into());
    }
    report.passed = report.failures.is_empty();
    Ok(())
}

enum SnapshotCheck {
    Matches,
    Written,
    Differs(PathBuf),
    Missing(PathBuf),
}

/// The snapshot, in insta's `.snap` format (so `cargo insta review` works on it too).
fn snapshot_matches(path: &Path, text: &str, update: bool) -> anyhow::Result<SnapshotCheck> {
    let file = format!("---\nsource: crates/minutely-scenario/src/lib.rs\nexpression: aggregates\n---\n{text}");
    if update {
        std::fs::write(path, &file).with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(SnapshotCheck::Written);
    }
    let new = path.with_extension("snap.new");
    let Ok(old) = std::fs::read_to_string(path) else {
        std::fs::write(&new, &file)?;
        return Ok(SnapshotCheck::Missing(new));
    };
    if snapshot_body(&old).trim_end() == text.trim_end() {
        let _ = std::fs::remove_file(&new);
        Ok(SnapshotCheck::Matches)
    } else {
        std::fs::write(&new, &file)?;
        Ok(SnapshotCheck::Differs(new))
    }
}

/// The content of a `.snap` file: what follows its metadata block.
pub fn snapshot_body(file: &str) -> &str {
    let Some(rest) = file.strip_prefix("---\n") else { return file };
    match rest.find("\n---\n") {
        Some(i) => &rest[i + 5..],
        None => file,
    }
}

/// Splits the stream's first open shard at the middle of its hash key range.
async fn split_first_shard(k: &aws_sdk_kinesis::Client, stream: &str) -> anyhow::Result<()> {
    let shards = k.list_shards().stream_name(stream).send().await.context("ListShards")?;
    let shard = shards
        .shards()
        .iter()
        .find(|s| s.sequence_number_range().is_some_and(|r| r.ending_sequence_number().is_none()))
        .context("no open shard to split")?;
    let range = shard.hash_key_range().context("a shard without a hash key range")?;
    let lo: u128 = range.starting_hash_key().parse()?;
    let hi: u128 = range.ending_hash_key().parse()?;
    k.split_shard()
        .stream_name(stream)
        .shard_to_split(shard.shard_id())
        .new_starting_hash_key((lo + (hi - lo) / 2 + 1).to_string())
        .send()
        .await
        .context("SplitShard")?;
    Ok(minutely_producer::kinesis::wait_active(k, stream, Duration::from_secs(60)).await?)
}

/// Sums every count line under `<prefix>/minutes/`: (sums, late count, objects).
async fn read_back(s3: &aws_sdk_s3::Client, prefix: &str) -> anyhow::Result<(Counts, u64, u64)> {
    let mut sums = Counts::new();
    let (mut late, mut objects) = (0, 0);
    for (key, body) in objects_under(s3, &format!("{prefix}/minutes/")).await? {
        objects += 1;
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let c: CountLine = serde_json::from_slice(line).with_context(|| format!("s3://{BUCKET}/{key}"))?;
            if c.late {
                late += c.count;
            }
            *sums.entry((c.minute, c.key)).or_default() += c.count;
        }
    }
    Ok((sums, late, objects))
}

async fn count_lines(s3: &aws_sdk_s3::Client, prefix: &str) -> anyhow::Result<u64> {
    let objects = objects_under(s3, prefix).await?;
    Ok(objects.iter().map(|(_, b)| b.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count() as u64).sum())
}

async fn objects_under(s3: &aws_sdk_s3::Client, prefix: &str) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
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
            .context("ListObjectsV2")?;
        for o in list.contents() {
            let key = o.key().unwrap_or_default().to_owned();
            let got = s3.get_object().bucket(BUCKET).key(&key).send().await.context("GetObject")?;
            out.push((key, got.body.collect().await?.into_bytes().to_vec()));
        }
        match list.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(out),
        }
    }
}

impl Report {
    /// The summary as text.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let verdict = match (&self.signal, &self.interrupted, self.passed) {
            (Some(_), _, _) => "INTERRUPTED",
            (None, Some(_), _) => "TIMED OUT",
            (None, None, true) => "PASSED",
            (None, None, false) => "FAILED",
        };
        o.push_str(&format!("scenario {}: {verdict} ({}, {:.1} s)\n", self.scenario, self.backend, self.run_seconds));
        o.push_str(&format!(
            "  records in {} | events {} | counted {} (late {}) | rejected {} by the producer, {} by the consumer | duplicates dropped {}\n",
            self.records_in,
            self.events,
            self.counted,
            self.late,
            self.rejected_by_producer,
            self.rejected_by_consumer,
            self.duplicates_dropped
        ));
        o.push_str(&format!(
            "  faults: put retries {}, consumer restarts {}, shard split {} | {} objects | produced in {:.2} s ({:.0} records/s)\n",
            self.put_retries,
            self.consumer_restarts,
            if self.shard_split { "yes" } else { "no" },
            self.objects,
            self.produce_seconds,
            self.throughput_events_per_s
        ));
        let l = &self.latency;
        o.push_str("  latency (ms)           p50     p95     p99     max\n");
        for (name, p) in [
            ("put to S3", l.total),
            ("  put acknowledged", l.put_acknowledged),
            ("  read by consumer", l.read_by_consumer),
            ("  window closed", l.window_closed),
            ("  written to S3", l.written_to_s3),
        ] {
            o.push_str(&format!("  {name:<20} {:>7} {:>7} {:>7} {:>7}\n", p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms));
        }
        for (minute, key, e, f) in self.diff.missing.iter().take(10) {
            o.push_str(&format!("  missing: {minute} {key:?}: expected {e}, found {f}\n"));
        }
        for (minute, key, e, f) in self.diff.extra.iter().take(10) {
            o.push_str(&format!("  extra:   {minute} {key:?}: expected {e}, found {f}\n"));
        }
        for f in &self.failures {
            o.push_str(&format!("  failed: {f}\n"));
        }
        o
    }
}
