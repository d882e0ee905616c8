//! One run, in named steps, and nothing else: input and model, the fault plan, the backend,
//! then `provision` (stream and bucket), the consumer (`consumer.rs`), the producer with the
//! reshards, or the user's producer (`producer.rs`), the wait until the consumer settled, the
//! read-back (`readback.rs`), the stream's check after a user's producer (`history.rs`), the
//! report made of what each step returned (`report_of`), and the checks of
//! `Report::check`.

use minutely_aws::clock::{self, Instant};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minutely_consumer::{S3Output, ShardStats};
use tokio::sync::watch;

use crate::backend::Running;
use crate::clock::{ClockMode, VIRTUAL_EPOCH_MS};
use crate::consumer::{AbortOnDrop, Consumer, ConsumerEnd, LagSamples, sample_lag};
use crate::faults::Plan;
use crate::fence;
use crate::happenings::Happenings;
use crate::history::{self, History};
use crate::input::{Counted, Input};
use crate::model::{self, Counts, Diff};
use crate::producer::{self, Produced};
use crate::program::{self, Setting};
use crate::readback::{ReadBack, read_back};
use crate::replay::{Engine, Replay};
use crate::report::{Marker, MinuteCounts, Report, ShardLag};
use crate::spec::{Program, Scenario};
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
    pub backend: Option<crate::backend::ScenarioBackend>,
    /// LocalStack options (cache directory, Python...).
    pub localstack: minutely_localstack::Options,
    /// Stops the run when it holds a reason (`"SIGINT"`): producer and consumer are dropped,
    /// the backend is stopped, and the report is a partial one marked interrupted.
    pub interrupt: Option<watch::Receiver<Option<String>>>,
    /// Added to the environment of the user's programs (the tests put a Python with boto3
    /// first on `PATH`).
    pub program_env: Vec<(String, String)>,
    /// A clock that overrides the scenario's ([`ClockMode::of`]). The run must be on the
    /// runtime of its clock: [`RunOptions::runtime_for`].
    pub clock: Option<ClockMode>,
}

impl RunOptions {
    /// Runs on the sim from the workspace `root`, checked against `snapshots`, on the
    /// scenario's clock, nothing else changed (the tests' options).
    pub fn on_sim(root: &std::path::Path, snapshots: &std::path::Path) -> anyhow::Result<RunOptions> {
        Ok(RunOptions {
            root: root.to_owned(),
            snapshots: snapshots.to_owned(),
            update_snapshots: false,
            backend: Some(crate::backend::ScenarioBackend::Sim),
            localstack: minutely_localstack::Options::from_env()?,
            interrupt: None,
            program_env: Vec::new(),
            clock: None,
        })
    }

    /// The clock `s` runs on with these options.
    pub fn clock_of(&self, s: &Scenario) -> anyhow::Result<ClockMode> {
        s.clock_on(self.backend.unwrap_or(s.backend), self.clock).map_err(|e| anyhow::anyhow!(e))
    }

    /// The runtime to run `s` on ([`ClockMode::runtime`]).
    pub fn runtime_for(&self, s: &Scenario) -> anyhow::Result<tokio::runtime::Runtime> {
        Ok(self.clock_of(s)?.runtime()?)
    }
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
    // `biased`: on virtual time a run ends the same way each replay.
    tokio::select! {
        biased;
        v = fut => Ok(v),
        signal = interrupted => Err(Cut { signal: Some(signal) }),
        _ = clock::sleep_until(hard_deadline) => Err(Cut { signal: None }),
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
        let totals = stats.totals();
        (totals.counters.events, totals.objects)
    }
}

/// Runs `s` and checks its expectations. A fault the backend cannot do is an error that names
/// both, before anything starts.
///
/// On virtual time it must run on [`ClockMode::runtime`]'s runtime (`opts.runtime_for(s)`):
/// it names the wall clock's epoch there ([`VIRTUAL_EPOCH_MS`]) for as long as it runs.
pub async fn run(s: &Scenario, opts: &RunOptions, progress: &Progress) -> anyhow::Result<Report> {
    let mode = opts.clock_of(s)?;
    let wall = std::time::Instant::now();
    let _virtual_wall = (mode == ClockMode::Virtual).then(|| clock::virtual_wall(VIRTUAL_EPOCH_MS));
    let mut report = run_checked(s, opts, progress, mode).await?;
    let backend = opts.backend.unwrap_or(s.backend);
    report.replay = Replay {
        state_sha256: report.replay.state_sha256.take(),
        ..Replay::new(&s.name, &backend.to_string(), s.input.seed, mode)
    };
    report.wall.run_seconds = wall.elapsed().as_secs_f64();
    report.wall.stream_seconds_per_wall_second = report.run_seconds / report.wall.run_seconds.max(1e-9);
    report.summary = report.render();
    Ok(report)
}

async fn run_checked(s: &Scenario, opts: &RunOptions, progress: &Progress, mode: ClockMode) -> anyhow::Result<Report> {
    let started = clock::now();
    // The scenario's timeout bounds the whole run, the backend's start and production included.
    let deadline = started + s.expect.timeout;
    let hard_deadline = deadline + TIMEOUT_OVERRUN;
    let backend = opts.backend.unwrap_or(s.backend);
    let mut plan = Plan::new(&s.faults, backend, s.input.seed).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(fleet) = plan.fleet.as_mut() {
        fleet.planted = s.planted;
    }
    if s.producer.is_some() && !plan.reshards.is_empty() {
        anyhow::bail!("the reshard faults happen between minutely's producer's puts: not with [producer] command");
    }
    progress.phase("counting the input");
    let input = Input::of(s, &opts.root)?;
    // The engine's own steps are timed on the machine's clock: on virtual time they take none.
    let counting = std::time::Instant::now();
    let counted = input.count(&s.pipeline.key)?;
    let input_and_model_seconds = counting.elapsed().as_secs_f64();
    progress.total.store(counted.records, Ordering::Relaxed);

    progress.phase(if backend == crate::backend::ScenarioBackend::Sim {
        "starting the sim"
    } else {
        "starting LocalStack"
    });
    let mut sim_config = plan.sim_config();
    if mode == ClockMode::Virtual {
        sim_config.clock = minutely_sim::Clock::tokio(VIRTUAL_EPOCH_MS);
    }
    let starting = Running::start(backend, sim_config, &plan.localstack_env, &opts.localstack);
    let running = match unless_cut(starting, &opts.interrupt, hard_deadline).await {
        Ok(running) => running?,
        Err(cut) => return Ok(partial(s, progress, cut, started, "none")),
    };
    let name = running.name();
    let given = Given { input: &input, counted: &counted, root: &opts.root, program_env: &opts.program_env };
    let steps = run_on(s, &plan, given, &running, progress, (deadline, mode));
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
    report.wall.engine.input_and_model_seconds = input_and_model_seconds;
    report.wall.engine.peak_rss_bytes = Engine::peak_rss();
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

/// Waits for minutely's consumer to settle, by the run's deadline or, with `[expect] settle`,
/// within that of the producer's end and of the heal; then stops it. Returns whether it timed
/// out, what was still moving when it did not settle in time, and how it ended.
async fn settle(
    s: &Scenario,
    plan: &Plan,
    (consumer, sampler): (Consumer, AbortOnDrop<()>),
    (producing_at, deadline): (Instant, Instant),
    healing: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> anyhow::Result<(bool, Option<String>, ConsumerEnd)> {
    let healed_at = plan.heal_after.map_or(clock::now(), |d| producing_at + d).max(clock::now());
    let settle_by = s.expect.settle.map_or(deadline, |d| deadline.min(healed_at + d));
    let settled = tokio::select! {
        biased;
        settled = consumer.wait_until_settled(settle_by) => settled,
        _ = healing => unreachable!("healing never ends"),
    };
    let unsettled = (!settled && settle_by < deadline).then(|| {
        let settle = humantime::format_duration(s.expect.settle.unwrap_or_default());
        let after = match plan.heal_after {
            Some(d) => format!("the faults healing ({} in) and the producer's end", humantime::format_duration(d)),
            None => "the producer's end".to_owned(),
        };
        format!("not settled within {settle} of {after}: still moving: {}", consumer.still_moving())
    });
    drop(sampler);
    Ok((!settled && unsettled.is_none(), unsettled, consumer.stop().await?))
}

/// Ends the sim's faults `plan.heal_after` from now (marked "faults healed"); never returns, so
/// that it can run beside the run's steps.
async fn heal(plan: &Plan, backend: &Running, happenings: Happenings) {
    if let Some(d) = plan.heal_after {
        clock::sleep(d).await;
        backend.set_faults(plan.calm());
        happenings.happened("faults healed");
    }
    std::future::pending::<()>().await
}

/// What a run is given: its input, the model's count of it, and the workspace.
struct Given<'a> {
    input: &'a Input,
    counted: &'a Counted,
    root: &'a std::path::Path,
    program_env: &'a [(String, String)],
}

/// The steps on a running backend.
async fn run_on(
    s: &Scenario,
    plan: &Plan,
    given: Given<'_>,
    backend: &Running,
    progress: &Progress,
    (deadline, mode): (Instant, ClockMode),
) -> anyhow::Result<Report> {
    let Given { input, counted, root, program_env } = given;
    let clients = backend.clients(mode == ClockMode::Virtual).await;
    let (stream, output) = provision(s, &clients).await?;
    let (bucket, prefix) = (output.bucket.clone(), output.prefix.clone());
    let setting = Setting::of(s, backend, (&stream, &bucket, &prefix), (root, program_env), deadline)?;
    let tracer = Arc::new(Tracer::new(counted.records as usize, Arc::new(s.decoder()?)));
    let happenings = Happenings::default();
    let lag = LagSamples::default();
    if plan.fleet.is_some() {
        // Every write, for the fence check.
        backend.journal_s3_writes();
    }
    // Every record retention trims unread, for what the consumer could not count.
    backend.keep_trimmed();
    // minutely's consumer, unless the user's runs instead.
    let ours = s.consumer.is_none().then(|| {
        let consumer = Consumer::spawn(s, plan, &clients.kinesis, &stream, output, tracer.clone(), happenings.clone());
        *progress.consumer.lock().expect("progress lock") = Some(consumer.stats.clone());
        let sampler = AbortOnDrop(tokio::spawn(sample_lag(consumer.stats.clone(), lag.clone())));
        (consumer, sampler)
    });
    progress.phase("producing and consuming");
    let to = producer::Target {
        kinesis: &clients.kinesis,
        stream: &stream,
        produced: &progress.produced,
        happenings: &happenings,
        running: backend,
    };
    // The liveness phase: the sim's faults end `heal_after` into the run, beside the rest.
    let producing_at = clock::now();
    let healing = heal(plan, backend, happenings.clone());
    tokio::pin!(healing);
    let produced = tokio::select! {
        biased;
        produced = produce_with_users(s, plan, input, counted, to, &setting) => produced,
        _ = &mut healing => unreachable!("healing never ends"),
    };
    let (produced, mut history) = produced?;
    let (timed_out, unsettled, ended) = match ours {
        Some(ours) => {
            progress.phase("waiting for the windows to close");
            settle(s, plan, ours, (producing_at, deadline), healing).await?
        }
        None => (false, None, ConsumerEnd::default()),
    };

    progress.phase("reading the aggregates back");
    let trimmed = match s.consumer {
        None => {
            crate::retention::Trimmed::of(backend.ledger(&stream), &tracer, input, &s.pipeline.key, ended.trim_gaps)?
        }
        Some(_) => None,
    };
    let sim = backend.sim_stats();
    backend.calm();
    let (back, read_back_seconds) = read_results(s, input, backend, &clients, &setting, &mut history, progress).await?;
    let history = (s.producer.is_some() || s.consumer.is_some()).then_some(history);
    let joining = std::time::Instant::now();
    let latency = tracer.latency(&produced.timeline);
    let fence = plan.fleet.as_ref().and_then(|f| Some((f.timing(), backend.s3_writes()?)));
    let fence = fence.map(|(timing, writes)| fence::check(&writes, &bucket, &prefix, &stream, timing.duration_ms));
    let mut report = Report { latency, sim, history, fence, ..Report::empty(s, &backend.name()) };
    report.wall.engine =
        Engine { read_back_seconds, latency_join_seconds: joining.elapsed().as_secs_f64(), ..Engine::default() };
    // Only a virtual run is the same twice: a digest of a real run's state would say nothing.
    report.replay.state_sha256 = (mode == ClockMode::Virtual).then(|| backend.state_sha256()).flatten();
    let steps =
        Steps { counted, produced, ended, back, tracer: &tracer, happenings, lag, timed_out, unsettled, trimmed };
    Ok(report_of(s, report, steps))
}

/// What the run left: S3's sums (minutely's layout, or the user's consumer's output, checked
/// against the model), and after the user's producer the stream's check. Returns the sums and
/// how long reading them took.
async fn read_results(
    s: &Scenario,
    input: &Input,
    backend: &Running,
    clients: &minutely_aws::Clients,
    setting: &Setting<'_>,
    history: &mut History,
    progress: &Progress,
) -> anyhow::Result<(ReadBack, f64)> {
    let (stream, bucket, prefix) = (setting.stream, setting.bucket, setting.prefix);
    let reading = std::time::Instant::now();
    let back = match &s.consumer {
        None => read_back(&clients.s3, bucket, prefix).await?,
        Some(users) => {
            let (check, counts) = history::check_counts(s, users, input, &clients.s3, bucket, prefix).await?;
            let objects = check.objects;
            history.counts = Some(check);
            ReadBack { sums: model::by_minute(counts), late: 0, objects, rejects: 0 }
        }
    };
    let seconds = reading.elapsed().as_secs_f64();
    if s.producer.is_some() {
        progress.phase("checking the stream");
        let ledger = backend.ledger(stream);
        history.stream = Some(history::check_stream(s, input, &clients.kinesis, stream, ledger).await?);
    }
    Ok((back, seconds))
}

/// The producer side (minutely's, or the user's) and, beside it, the user's consumer, asked to
/// stop (SIGTERM) `settle` after the producer ended. Returns what the producer did and the
/// user's programs' runs.
async fn produce_with_users(
    s: &Scenario,
    plan: &Plan,
    input: &Input,
    counted: &Counted,
    to: producer::Target<'_>,
    setting: &Setting<'_>,
) -> anyhow::Result<(Produced, History)> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let users_consumer = async {
        let Some(c) = &s.consumer else { return Ok(None) };
        let program = Program { command: c.command.clone() };
        let log = setting.dir.join("consumer.log");
        program::run(&program, setting, None, &log, async {
            let _ = stopped.await;
        })
        .await
        .map(Some)
    };
    let producing = async {
        let produced = match &s.producer {
            None => producer::produce(s, plan, input, counted.records, to).await.map(|p| (p, None)),
            Some(program) => {
                let ran = producer::run_users(s, program, input, setting).await;
                to.produced.store(counted.records, Ordering::Relaxed);
                ran.map(|(p, ran)| (p, Some(ran)))
            }
        };
        if let Some(c) = s.consumer.as_ref().filter(|_| produced.is_ok()) {
            clock::sleep(c.settle).await;
        }
        let _ = stop.send(());
        produced
    };
    let (consumer, produced) = tokio::join!(users_consumer, producing);
    let (produced, producer) = produced?;
    Ok((produced, History { producer, consumer: consumer?, ..History::default() }))
}

/// What the steps of a run returned, by name.
struct Steps<'a> {
    counted: &'a Counted,
    produced: Produced,
    ended: ConsumerEnd,
    back: ReadBack,
    tracer: &'a Tracer,
    happenings: Happenings,
    lag: LagSamples,
    /// The consumer had not settled by the run's deadline.
    timed_out: bool,
    /// The consumer had not settled within `[expect] settle`: what was still moving.
    unsettled: Option<String>,
    /// What retention trimmed unread, and those events' counts (taken out of the model).
    trimmed: Option<(crate::retention::Trimmed, Counts)>,
}

/// The report of a run that went through every step: `report` (the latency, the engine's
/// timings, the sim's counters) completed with what the steps returned.
fn report_of(s: &Scenario, report: Report, steps: Steps<'_>) -> Report {
    let Steps { counted, produced, ended, back, tracer, happenings, lag, timed_out, unsettled, trimmed } = steps;
    let mut failures = Vec::new();
    if timed_out {
        failures.push(format!("timed out after {:?} with windows still open", s.expect.timeout));
    }
    failures.extend(unsettled);
    // After a restart (or a worker's kill), the records read again are rejected again in
    // memory, but written once.
    let killed = ended.workers.as_ref().is_some_and(|w| w.killed > 0);
    if ended.restarts == 0 && !killed && back.rejects != ended.rejected {
        failures.push(format!("{} records rejected, {} reject lines in S3", ended.rejected, back.rejects));
    }
    let timeline = &produced.timeline;
    let t0 = timeline.sent.first().map_or_else(Instant::now, |(_, t)| *t);
    let mut throughput = tracer.throughput(t0, timeline.acked.iter().flatten().copied());
    for (at, n) in &produced.retried_at {
        trace::second_of(&mut throughput, t0, *at).retried += n;
    }
    let since = |at: Instant| at.checked_duration_since(t0).map(|d| d.as_secs_f64());
    let markers =
        happenings.all().into_iter().map(|(at, what)| Marker { second: since(at).unwrap_or(0.0), what }).collect();
    let mut lag_by_shard: std::collections::BTreeMap<String, Vec<(f64, i64)>> = std::collections::BTreeMap::new();
    for (at, shard, ms) in lag.lock().expect("lag lock").iter() {
        if let Some(second) = since(*at) {
            lag_by_shard.entry(shard.clone()).or_default().push((second, *ms));
        }
    }
    let (throughput, throughput_step) = trace::coarsen(throughput);
    let lag_by_shard =
        lag_by_shard.into_iter().map(|(shard, points)| (shard, trace::coarsen_lag(points, throughput_step)));
    let lag = lag_by_shard.map(|(shard, points)| ShardLag { shard, points }).collect();
    // What retention took is reported apart; the rest must be counted exactly.
    let (trimmed, expected) = match trimmed {
        Some((t, lost)) => (Some(t), std::borrow::Cow::Owned(crate::retention::minus(&counted.expected, &lost))),
        None => (None, std::borrow::Cow::Borrowed(&counted.expected)),
    };
    let expected: &Counts = &expected;
    Report {
        failures,
        records_in: counted.records,
        events: counted.expected.values().sum::<u64>(),
        counted: back.sums.values().sum(),
        late: back.late,
        rejected_by_producer: counted.rejected_by_producer,
        rejected_by_consumer: back.rejects,
        duplicates_dropped: ended.duplicates,
        consumer_restarts: ended.restarts,
        workers: ended.workers,
        reshards: produced.reshards,
        put_retries: produced.retried,
        objects: back.objects,
        diff: Diff::of(expected, &back.sums),
        throughput,
        throughput_step,
        markers,
        minutes: minute_totals(expected, &back.sums),
        lag,
        produce_seconds: produced.seconds,
        throughput_events_per_s: counted.records as f64 / produced.seconds.max(1e-9),
        records_sent: counted.records,
        aggregates: model::render(&back.sums),
        trimmed,
        ..report
    }
}

/// A fresh stream and prefix for this run (named after the scenario and the time), and the
/// bucket.
async fn provision(s: &Scenario, clients: &minutely_aws::Clients) -> anyhow::Result<(String, S3Output)> {
    let run_id = clock::unix_ms();
    let stream = format!("{}-{run_id}", s.name);
    let timeout = Duration::from_secs(60);
    match s.pipeline.shards {
        _ if s.pipeline.on_demand => {
            minutely_aws::kinesis::ensure_on_demand_stream(&clients.kinesis, &stream, timeout).await?
        }
        shards => minutely_aws::kinesis::ensure_stream(&clients.kinesis, &stream, shards.unwrap_or(2), timeout).await?,
    };
    let output = S3Output {
        client: clients.s3.clone(),
        bucket: BUCKET.into(),
        prefix: format!("{}/{run_id}", s.name),
        retry_deadline: Duration::from_secs(60),
        writer: None,
    };
    output.create_bucket().await?;
    Ok((stream, output))
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
