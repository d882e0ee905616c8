//! `minutely consume`: Kinesis shards or lines on stdin, in minutely's record format or a
//! schema's, into per-minute counts on S3, the console or stdout.

use minutely_aws::clock;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use minutely_aggregate::WindowConfig;
use minutely_consumer::kinesis::{KinesisOptions, LeaseOptions, LeaseReport, StartAt, default_worker_id};
use minutely_consumer::lease::Timing;
use minutely_consumer::lines::LinesOptions;
use minutely_consumer::output::CrashAfter;
use minutely_consumer::prepare::Framing;
use minutely_consumer::{Output, S3Output, Settings, ShardStats, Stop, WorkerStats};
use tokio::sync::watch;

use crate::aws_args::AwsArgs;
use crate::flags::{OnStop, Sink, Source, Switch};
use crate::record_args::RecordArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `kinesis:STREAM` (every shard, children after parents) or `stdin` (one record per line:
    /// minutely's, as `minutely produce --sink stdout` writes them, or as --format says).
    #[arg(long, value_name = "kinesis:STREAM|stdin")]
    source: Source,

    /// `s3://BUCKET/PREFIX` (objects per closed minute and checkpoints; see docs/s3-layout.md for the
    /// layout), `console` (readable lines) or `stdout` (JSON lines).
    #[arg(long, value_name = "s3://BUCKET/PREFIX|console|stdout", default_value = "console")]
    sink: Sink,

    #[command(flatten)]
    record: RecordArgs,

    /// How far the watermark trails the largest event time seen: events up to this much out of
    /// order still land in their window.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    allowed_lateness: Duration,

    /// Close every open window of a shard when it had no record for this long ("group until
    /// timeout"); `0s` turns it off.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    idle_timeout: Duration,

    /// Where shards without a checkpoint start: `trim-horizon`, `latest` or an RFC 3339 time.
    #[arg(long, default_value = "trim-horizon")]
    from: StartAt,

    /// On Ctrl-C (or --exit-when-idle): `keep` open windows in the checkpoint for the next run,
    /// or `close` them and write them now. Default: keep with an S3 sink, close otherwise.
    #[arg(long, value_name = "keep|close")]
    on_stop: Option<OnStop>,

    /// Stop when no shard had a record for this long and every shard is caught up.
    #[arg(long, value_parser = humantime::parse_duration)]
    exit_when_idle: Option<Duration>,

    /// The most event ids remembered to drop duplicates, per shard (0: no deduplication).
    #[arg(long, default_value_t = 1_000_000)]
    max_dedup_ids: usize,

    /// Checkpoint at least this often while records arrive and no window closes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    checkpoint_every: Duration,

    /// How often to look for new shards (after a reshard).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    discover_every: Duration,

    /// The wait after a GetRecords call that returned nothing.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "250ms")]
    idle_poll: Duration,

    /// The least time between two GetRecords calls on one shard. Kinesis allows 5 per second
    /// per shard (200ms, with 10,000 records a call: 50,000 records/s a shard at most); `0s`
    /// reads as fast as answers come, for `minutely sim --no-limits` (AWS would throttle it).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "200ms")]
    min_call_interval: Duration,

    /// The worker name for stdin, used in object paths.
    #[arg(long, default_value = "stdin")]
    worker: String,

    /// What a line of stdin is: `lines`, an event (a CSV row); `base64`, one Kinesis record's
    /// data as `aws kinesis get-records` prints it (`jq -r '.Records[].Data'`), whose KPL
    /// aggregates and gzip payloads are opened as from a stream. A reject names the line.
    #[arg(long, value_enum, default_value_t = StdinFraming::Lines, value_name = "lines|base64")]
    stdin: StdinFraming,

    /// Share the stream's shards with the other consumers on the same sink prefix, through
    /// leases in S3 beside the checkpoints: `on` (the default with an S3 sink) or `off` (this
    /// consumer reads every shard; a second one is stopped at its first checkpoint).
    #[arg(long, value_name = "on|off")]
    leases: Option<Switch>,

    /// This consumer's name in the lease files (default: the host name and the process id).
    #[arg(long, value_name = "NAME")]
    worker_id: Option<String>,

    /// How long a lease stays valid without a renewal: a consumer that dies loses its shards
    /// to the others after about this long (plus up to two renew periods).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    lease_duration: Duration,

    /// How often leases are renewed, taken and balanced (at most half the duration).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    lease_renew: Duration,

    /// Print the stream's shards as their consumers left them (lease owner and expiry,
    /// checkpoint, how far behind) and exit; reads only.
    #[arg(long)]
    status: bool,

    /// Create the S3 bucket when it does not exist.
    #[arg(long)]
    create_bucket: bool,

    #[command(flatten)]
    aws: AwsArgs,

    /// Testing: exit abruptly after this many object writes, before their checkpoint.
    #[arg(long, hide = true)]
    fault_exit_after_objects: Option<u64>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = crate::aws_args::runtime()?;
    let target = args.aws.target();
    let role = if args.status { crate::names::Role::Reader } else { crate::names::Role::Consumer };
    runtime.block_on(async {
        match run_async(args).await {
            Err(e) => Err(crate::names::explain_missing(e, &target, role).await),
            ok => ok,
        }
    })
}

/// What a line of stdin is (`--stdin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StdinFraming {
    Lines,
    Base64,
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    if let (StdinFraming::Base64, Source::Kinesis(stream)) = (args.stdin, &args.source) {
        bail!(
            "--stdin base64 says what stdin's lines are; the source is kinesis:{stream}, whose records are read as they are"
        );
    }
    let target = args.aws.target();
    let output = output(&args, &target).await?;
    if args.status {
        return status(&args, &target, &output).await;
    }
    let close_open = match args.on_stop {
        None => !output.keeps_checkpoints(),
        Some(OnStop::Close) => true,
        Some(OnStop::Keep) if output.keeps_checkpoints() => false,
        Some(OnStop::Keep) => bail!("--on-stop keep needs checkpoints, which only an S3 sink keeps"),
    };
    let settings = settings(&args)?;
    let leases = leases(&args, &output)?;
    let report = leases.as_ref().map(|l| (l.worker_id.clone(), l.report.clone()));

    let (stop_tx, stop_rx) = watch::channel(None::<Stop>);
    let stopped = crate::signals::watch(move |signal| {
        let what = if close_open { "closing open windows" } else { "keeping open windows for the next run" };
        eprintln!("\nminutely: {signal}: stopping: writing closed windows, {what}, checkpointing (again to abort)");
        let _ = stop_tx.send(Some(Stop { close_open }));
    })?;

    let stats = ShardStats::new();
    let started = clock::now();
    let live = live_line(stats.clone(), report.clone(), args.sink.is_stdout());
    let result = match &args.source {
        Source::Kinesis(stream) => {
            let clients = minutely_aws::clients(&target).await;
            let options = KinesisOptions {
                start: args.from,
                discover_every: args.discover_every,
                idle_poll: args.idle_poll,
                min_call_interval: args.min_call_interval,
                exit_when_idle: args.exit_when_idle.map(|d| (d, Stop { close_open })),
                checkpoint_every: args.checkpoint_every,
                leases,
                ..KinesisOptions::new(stream)
            };
            let stats = stats.clone();
            minutely_consumer::kinesis::consume(clients.kinesis, options, settings, output, stop_rx, stats).await
        }
        Source::Stdin => {
            let worker_stats = WorkerStats::new();
            stats.add(&args.worker, worker_stats.clone());
            let (stdin, name) = (crate::mapped::stdin(), &args.worker);
            let framing = match args.stdin {
                StdinFraming::Lines => Framing::Lines,
                StdinFraming::Base64 => Framing::Base64,
            };
            let options = LinesOptions { idle_poll: args.idle_poll, framing };
            minutely_consumer::lines::consume(stdin, name, settings, output, options, stop_rx, worker_stats).await
        }
    };
    live.finish_and_clear();
    // A run that failed before it read a shard has nothing to sum up: its error says it all.
    if result.is_ok() || !stats.is_empty() {
        summary(&stats, report.as_ref(), started.elapsed());
        say_kept_open(&stats, close_open, &args);
    }
    result?;
    if let Some(signal) = stopped.get() {
        // Stopped gracefully by a signal: say so in the exit code, as a shell expects.
        std::process::exit(signal.exit_code());
    }
    Ok(())
}

/// Where the counts go: an S3 sink is checked (and created with `--create-bucket`) first.
async fn output(args: &Args, target: &minutely_aws::Target) -> anyhow::Result<Output> {
    let (bucket, prefix) = match &args.sink {
        Sink::Console => return Ok(Output::Console),
        Sink::Stdout => return Ok(Output::Stdout),
        Sink::S3 { bucket, .. } if bucket.is_empty() => {
            bail!("--sink s3://: no bucket; use s3://BUCKET/PREFIX, console or stdout")
        }
        Sink::S3 { bucket, prefix } => (bucket, prefix),
    };
    let clients = minutely_aws::clients(target).await;
    let s3 = S3Output {
        client: clients.s3,
        bucket: bucket.clone(),
        prefix: prefix.clone(),
        retry_deadline: Duration::from_secs(120),
        writer: None,
    };
    if args.create_bucket {
        s3.create_bucket().await?;
    }
    s3.check_bucket().await?;
    Ok(match args.fault_exit_after_objects {
        Some(n) => Output::S3(s3).crashing(CrashAfter::new(n, true)),
        None => Output::S3(s3),
    })
}

/// `--status`: the stream's shards as their consumers left them.
async fn status(args: &Args, target: &minutely_aws::Target, output: &Output) -> anyhow::Result<()> {
    let Source::Kinesis(stream) = &args.source else {
        bail!("--status needs --source kinesis:STREAM");
    };
    if !output.keeps_checkpoints() {
        bail!("--status needs the S3 sink the consumers write to (s3://BUCKET/PREFIX)");
    }
    let clients = minutely_aws::clients(target).await;
    let shards = minutely_consumer::status::status(&clients.kinesis, output, stream).await?;
    if let Output::S3(s3) = output
        && shards.iter().all(|s| s.lease.is_none() && !s.checkpointed)
    {
        bail!("{}", never_written(s3, stream).await);
    }
    print!("{}", crate::status::render(&shards, clock::unix_ms()));
    Ok(())
}

/// `--status` on a prefix where no consumer of the stream ever wrote: says so, with the
/// prefixes the bucket has (a mistyped prefix is the usual cause).
async fn never_written(s3: &minutely_consumer::output::S3Output, stream: &str) -> String {
    let listed = s3.client.list_objects_v2().bucket(&s3.bucket).delimiter("/").max_keys(20).send().await;
    let prefixes: Vec<String> = listed
        .map(|l| {
            l.common_prefixes().iter().filter_map(|p| p.prefix().map(|p| format!("s3://{}/{p}", s3.bucket))).collect()
        })
        .unwrap_or_default();
    let here = match prefixes.as_slice() {
        [] => format!("s3://{} holds nothing yet", s3.bucket),
        some => format!("the prefixes in s3://{}: {}", s3.bucket, some.join(", ")),
    };
    format!(
        "no consumer of stream {stream} has written under s3://{}/{}: no checkpoint, no lease ({here}; --sink must be the one the consumers were given)",
        s3.bucket, s3.prefix
    )
}

/// How records are decoded, windowed and deduplicated.
fn settings(args: &Args) -> anyhow::Result<Settings> {
    let decoder = args.record.decoder(None)?;
    if !decoder.has_id() {
        eprintln!("minutely: the schema names no id field: events are not deduplicated");
    }
    Ok(Settings {
        decoder: Arc::new(decoder),
        windows: WindowConfig {
            allowed_lateness_ms: args.allowed_lateness.as_millis() as u64,
            idle_timeout_ms: (!args.idle_timeout.is_zero()).then_some(args.idle_timeout.as_millis() as u64),
        },
        max_dedup_ids: args.max_dedup_ids,
    })
}

/// This consumer's part in sharing the stream: on by default with an S3 sink and a stream.
fn leases(args: &Args, output: &Output) -> anyhow::Result<Option<LeaseOptions>> {
    let kinesis = matches!(args.source, Source::Kinesis(_));
    let on = match args.leases {
        None => output.keeps_checkpoints(),
        Some(Switch(true)) if !output.keeps_checkpoints() => {
            bail!("--leases on needs an S3 sink: the leases are kept beside the checkpoints")
        }
        Some(Switch(true)) if !kinesis => bail!("--leases on is for a Kinesis source: stdin has no shards to share"),
        Some(Switch(on)) => on,
    };
    if !(on && kinesis) {
        return Ok(None);
    }
    let timing = Timing::new(args.lease_duration.as_millis() as u64, args.lease_renew.as_millis() as u64)
        .map_err(|e| anyhow::anyhow!("--lease-duration and --lease-renew: {e}"))?;
    let id = args.worker_id.clone().unwrap_or_else(default_worker_id);
    Ok(Some(LeaseOptions::new(&id, timing)))
}

/// A worker's id and its lease report.
type Report = (String, Arc<Mutex<LeaseReport>>);

/// `held 5 (taken 7, stolen 2, handed over 2, lost 0, released 0)`.
fn leases_line(report: &Report) -> String {
    let r = report.1.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let c = r.counts;
    format!(
        "held {} (taken {}, stolen {}, handed over {}, lost {}, released {})",
        r.held.len(),
        c.taken,
        c.stolen,
        c.handed_over,
        c.lost,
        c.released
    )
}

/// The live line on stderr (a terminal only): records/s, lag, windows open and written.
fn live_line(stats: ShardStats, report: Option<Report>, data_on_stdout: bool) -> ProgressBar {
    if !std::io::stderr().is_terminal() || (data_on_stdout && std::io::stdout().is_terminal()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    let shown = bar.clone();
    tokio::spawn(async move {
        let mut last = (clock::now(), 0u64);
        loop {
            clock::sleep(Duration::from_secs(1)).await;
            let (t, workers) = (stats.totals(), stats.snapshot());
            let rate = (t.counters.records - last.1) as f64 / last.0.elapsed().as_secs_f64();
            last = (clock::now(), t.counters.records);
            let lag = if t.max_behind_ms < 0 { "-".to_owned() } else { format!("{} ms", t.max_behind_ms) };
            let shards = match &report {
                Some(r) => format!("leases {}", leases_line(r)),
                None => format!("{} shards", workers.len()),
            };
            shown.set_message(format!(
                "{} records ({rate:.0}/s) | lag {lag} | {shards} | windows open {} | objects written {} | rejects {} | duplicates {}",
                t.counters.records,
                t.open_windows,
                t.objects,
                t.counters.rejected,
                t.counters.duplicates
            ));
        }
    });
    bar
}

/// Windows a stop kept open are counted but in no object yet: says where they are and how to
/// write them, so that a first run with no objects does not look broken.
fn say_kept_open(stats: &ShardStats, close_open: bool, args: &Args) {
    let open = stats.totals().open_windows;
    if close_open || open == 0 {
        return;
    }
    let why = match args.exit_when_idle {
        Some(idle) if !args.idle_timeout.is_zero() && idle < args.idle_timeout => format!(
            " (--exit-when-idle {} came before --idle-timeout {} could close them)",
            humantime::format_duration(idle),
            humantime::format_duration(args.idle_timeout)
        ),
        _ => String::new(),
    };
    eprintln!(
        "minutely: {open} windows still open{why}: counted, not written; kept in the checkpoints, the next run continues them. `--on-stop close` writes them when this run stops"
    );
}

fn summary(stats: &ShardStats, report: Option<&Report>, elapsed: Duration) {
    let (t, workers) = (stats.totals(), stats.snapshot());
    let secs = elapsed.as_secs_f64().max(1e-9);
    // Events are named apart only when records hold several (KPL aggregates, lines).
    let events = if t.counters.events == t.counters.records {
        String::new()
    } else {
        format!(" holding {} events", t.counters.events)
    };
    eprintln!(
        "minutely: consumed {} records{events} in {secs:.2} s ({:.0}/s): counted {} (late {}), duplicates dropped {}, rejected {}; {} objects, {} checkpoints written",
        t.counters.records,
        t.counters.records as f64 / secs,
        t.counters.counted,
        t.counters.late,
        t.counters.duplicates,
        t.counters.rejected,
        t.objects,
        t.checkpoints
    );
    if t.trim_gaps > 0 {
        eprintln!(
            "minutely:   {} resumes after a record older than the stream's retention: what arrived after it was trimmed unread (said above, by shard)",
            t.trim_gaps
        );
    }
    if t.repeated > 0 {
        eprintln!(
            "minutely:   {} records answered again by the backend, at or before what their shard's reader had read: skipped (said above, by shard)",
            t.repeated
        );
    }
    if t.get_records_calls > 0 {
        let span = t.reading_ms as f64 / 1000.0;
        eprintln!(
            "minutely:   first to last record read: {span:.2} s over {} GetRecords calls{}",
            t.get_records_calls,
            if t.reading_ms > 0 {
                format!(" ({:.0} records/s)", t.counters.records as f64 / span)
            } else {
                String::new()
            }
        );
        if let Some(r) = report {
            eprintln!("minutely:   leases of {}: {}", r.0, leases_line(r));
        }
        for (name, s) in &workers {
            eprintln!(
                "minutely:   {name}: {} records, {} GetRecords calls, {} ms behind{}",
                s.counters.records,
                s.get_records_calls,
                s.behind_ms,
                if s.finished { ", finished (reshard)" } else { "" }
            );
        }
    }
}
