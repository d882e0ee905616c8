//! `minutely produce`: events from a recorded file or a generator into a sink.

use minutely_aws::clock;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use minutely_aggregate::EventTime;
use minutely_event::{ColumnRef, RecordEncoder, RecordFormat};
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::{KinesisSink, RetryPolicy};
use minutely_producer::sink::{ConsoleSink, JsonLinesSink};
use minutely_producer::source::{FileSource, RandomSource};
use minutely_producer::{Pace, PartitionKey, Sink, Sourced, Summary, produce};

use crate::aws_args::AwsArgs;
use crate::flags::{Aggregate, EventSink, EventSource};
use crate::random_args::RandomArgs;
use crate::schema_args::{SchemaArgs, describe_schema};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `file:PATH` (a recorded TSV file, replayed) or `random` (a seeded generator).
    #[arg(long, value_name = "file:PATH|random")]
    source: EventSource,

    /// `console` (readable lines), `stdout` (JSON lines for `minutely consume --source stdin`)
    /// or `kinesis:STREAM`.
    #[arg(long, value_name = "console|stdout|kinesis:STREAM", default_value = "console")]
    sink: EventSink,

    #[command(flatten)]
    schema: SchemaArgs,

    /// Replay at the recorded pace times this factor (1 = as recorded, 60 = a recorded minute
    /// per second). Default: as fast as possible.
    #[arg(long, value_name = "FACTOR")]
    speed: Option<f64>,

    /// Shift event times so that the first event happens now.
    #[arg(long)]
    shift_to_now: bool,

    /// Stop after this long (any source), flushing what is buffered.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    #[command(flatten)]
    random: RandomArgs,

    /// The partition key: `key` (the key columns; the id when there are none), `id` or `random`.
    #[arg(long, default_value = "key")]
    partition_key: PartitionKey,
    /// Hold each shard to 1,000 records/s and 1 MiB/s (from ListShards and the key's MD5).
    #[arg(long)]
    shard_rate_limit: bool,
    /// How each event is written: minutely (default), json, csv or tsv. `json` without a
    /// record schema puts the time (epoch ms) at `ts`, the id at `id` and each dimension under
    /// its name; csv and tsv need a record schema that names the columns.
    #[arg(long, value_name = "FORMAT")]
    record_format: Option<RecordFormat>,
    /// A TOML record schema for what is written (format, time, time_format, id, key paths,
    /// columns): the same file `minutely consume --schema` reads them with.
    #[arg(long, value_name = "FILE")]
    record_schema: Option<PathBuf>,
    /// Pack the events bound for each shard into one record, routed to their shard by explicit
    /// hash key: a shard's 1,000 records/s then carry many more events. `kpl`: KPL aggregated
    /// records (as the Kinesis Producer Library writes them; the KCL, aws-kinesis-agg and
    /// `minutely consume` read them); `gzip-lines`: one record per line, gzip-compressed.
    #[arg(long, value_name = "none|kpl|gzip-lines", default_value = "none")]
    aggregate: Aggregate,
    /// The largest packed record, in bytes (KPL: data and partition key, KPL's default; gzip:
    /// the lines before compression).
    #[arg(long, value_name = "BYTES", default_value_t = minutely_producer::aggregation::DEFAULT_MAX_BYTES)]
    aggregate_max_bytes: usize,
    /// Create the stream with this many shards if it does not exist (and wait until it is
    /// active); `--shards N` says the same.
    #[arg(long, value_name = "SHARDS", visible_alias = "shards")]
    create_stream: Option<i32>,
    /// Give up on a record this long after its first PutRecords.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2m")]
    retry_deadline: Duration,
    #[command(flatten)]
    aws: AwsArgs,
}

/// The record schema of what is written: the `--record-schema` file with `--record-format`
/// over it; JSON without a schema has its time at `ts` and its id at `id`.
fn record_encoder(args: &Args) -> anyhow::Result<RecordEncoder> {
    let mut schema = crate::schema_args::read_schema(args.record_schema.as_deref())?;
    if let Some(format) = args.record_format {
        schema.format = Some(format);
    }
    if schema.format == Some(RecordFormat::Json) && schema.time.is_none() {
        schema.time = Some(ColumnRef::Name("ts".into()));
        schema.id = schema.id.or(Some(ColumnRef::Name("id".into())));
    }
    if schema.format.is_some_and(|f| f != RecordFormat::Minutely) && args.sink == EventSink::Console {
        bail!("--record-format and --record-schema apply to --sink stdout and kinesis:STREAM; console is for reading");
    }
    RecordEncoder::new(&schema).context("the records to write")
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = crate::aws_args::runtime()?;
    let target = args.aws.target();
    runtime.block_on(async {
        match run_async(args).await {
            Err(e) => Err(crate::names::explain_missing(e, &target, crate::names::Role::Producer).await),
            ok => ok,
        }
    })
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    if let Aggregate(Some(p)) = args.aggregate
        && !matches!(args.sink, EventSink::Kinesis(_))
    {
        bail!("--aggregate {p} packs Kinesis records: it needs --sink kinesis:STREAM");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());
    let stopped = {
        let (stop, progress, kinesis) = (stop.clone(), progress.clone(), matches!(args.sink, EventSink::Kinesis(_)));
        let graceful = move |signal| {
            eprintln!("\nminutely: {signal}: stopping: flushing what is buffered (again to abort)");
            stop.store(true, Ordering::Relaxed);
        };
        crate::signals::watch_with(graceful, move || progress.undone(kinesis))?
    };
    if let Some(d) = args.duration {
        let stop = stop.clone();
        tokio::spawn(async move {
            clock::sleep(d).await;
            stop.store(true, Ordering::Relaxed);
        });
    }
    let mut source = source(&args, EventTime(clock::unix_ms()))?;
    let encoder = record_encoder(&args)?;
    let bar = progress_bar(&args);
    let on_progress = |n| {
        progress.read.store(n, Ordering::Relaxed);
        bar.set_position(n)
    };
    let (summary, last_error) = send(&args, &mut source, encoder, &stop, &progress.acked, on_progress).await?;
    bar.finish_and_clear();
    say_summary(&args, &summary, &source);
    if summary.sink.failed > 0 {
        let last = last_error.map_or_else(String::new, |e| format!(" (the last error: {e})"));
        bail!("{} records were not accepted by Kinesis before the retry deadline{last}", summary.sink.failed);
    }
    if let Some(signal) = stopped.get() {
        std::process::exit(signal.exit_code());
    }
    Ok(())
}

/// How far a run got, for the account of a second Ctrl-C: events read from the source, and
/// events Kinesis acknowledged.
#[derive(Debug, Default)]
struct Progress {
    read: AtomicU64,
    acked: Arc<AtomicU64>,
}

impl Progress {
    /// What an abort leaves undone, after `stopping at once`.
    fn undone(&self, kinesis: bool) -> String {
        let (read, acked) = (self.read.load(Ordering::Relaxed), self.acked.load(Ordering::Relaxed));
        if !kinesis {
            return format!(": {read} events read; the last of them may not be written");
        }
        format!(
            ": of {read} events read, {acked} were acknowledged by Kinesis; the other {} were not sent, or sent without an answer (`minutely check stream` tells which)",
            read.saturating_sub(acked)
        )
    }
}

/// The events: a recorded file (its schema described on stderr) or the generator.
fn source(args: &Args, now: EventTime) -> anyhow::Result<Source> {
    let path = match &args.source {
        EventSource::File(path) => path,
        EventSource::Random => {
            let spec = args.random.spec(Some((now, minutely_aws::rng::fresh_seed())), args.duration.is_some())?;
            let at = std::time::UNIX_EPOCH + Duration::from_millis(spec.start.0.max(0) as u64);
            let drawn = (spec.seed, humantime::format_rfc3339_millis(at).to_string());
            return Ok(Source::Random(RandomSource::new(spec).map_err(|e| anyhow::anyhow!(e))?, drawn));
        }
    };
    let schema = args.schema.load(path)?;
    if schema.format.is_some_and(|f| f != RecordFormat::Tsv) {
        bail!("--source file: replays TSV files; --input-format and the schema's format must be tsv");
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let pace = args.speed.map_or(Pace::Asap, Pace::Speed);
    let mut source = FileSource::new(io::BufReader::new(file), &schema, &name, pace)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if args.shift_to_now {
        source = source.shift_to(now);
    }
    let d = source.reader().decoder();
    describe_schema(&d.schema, d.format, source.reader().detected_on_line(), &path.display().to_string());
    Ok(Source::File(Box::new(source), path.clone()))
}

/// Sends every event of `source` into the sink; returns the summary and, for Kinesis, the last
/// error of a record that failed.
async fn send(
    args: &Args,
    source: &mut Source,
    encoder: RecordEncoder,
    stop: &Arc<AtomicBool>,
    acked: &Arc<AtomicU64>,
    on_progress: impl FnMut(u64),
) -> anyhow::Result<(Summary, Option<String>)> {
    let stream = match &args.sink {
        EventSink::Console => {
            let mut sink = ConsoleSink::new(io::stdout().lock());
            return Ok((run_sink(source, &mut sink, args, stop, on_progress).await?, None));
        }
        EventSink::Stdout => {
            let mut sink = JsonLinesSink::new(io::stdout().lock()).with_encoder(encoder);
            let summary = run_sink(source, &mut sink, args, stop, on_progress).await?;
            for refused in &sink.refused {
                eprintln!("minutely: rejected: {refused}");
            }
            return Ok((summary, None));
        }
        EventSink::Kinesis(stream) => stream,
    };
    let clients = minutely_aws::clients(&args.aws.target()).await;
    // The first call: no credentials, no region, no endpoint or no stream fail here, at once.
    match args.create_stream {
        Some(shards) => {
            minutely_aws::kinesis::ensure_stream(&clients.kinesis, stream, shards, Duration::from_secs(60)).await?;
        }
        None => minutely_aws::kinesis::wait_writable(&clients.kinesis, stream, Duration::from_secs(60)).await?,
    }
    let retry = RetryPolicy { deadline: Some(args.retry_deadline), ..RetryPolicy::default() };
    let mut sink = KinesisSink::new(clients.kinesis, stream, Limits::default(), retry)
        .with_encoder(Arc::new(encoder))
        .counting_acked_in(acked.clone());
    if args.shard_rate_limit {
        sink = sink.with_shard_rate_limit().await?;
    }
    if let Aggregate(Some(packing)) = args.aggregate {
        sink = sink.with_aggregation(packing, args.aggregate_max_bytes).await?;
    }
    let summary = run_sink(source, &mut sink, args, stop, on_progress).await?;
    for refused in &sink.refused {
        eprintln!("minutely: rejected: {refused}");
    }
    Ok((summary, sink.last_error.take().map(|e| e.to_string())))
}

/// The run's summary on stderr, and the file's first rejected lines.
fn say_summary(args: &Args, summary: &Summary, source: &Source) {
    let s = &summary.sink;
    let secs = summary.elapsed.as_secs_f64();
    eprintln!(
        "minutely: produced {} events in {secs:.2} s ({:.0}/s){}: sent {}{}, retried {}, rejected {}, failed {} ({} calls)",
        summary.produced,
        summary.produced as f64 / secs.max(1e-9),
        if summary.stopped { ", stopped early" } else { "" },
        s.sent,
        if args.aggregate.0.is_some() { format!(" in {} packed records", s.records) } else { String::new() },
        s.retried,
        s.rejected,
        s.failed,
        s.calls
    );
    if s.throttled > 0 {
        let of = if s.throttled == s.retried { "all" } else { "of them" };
        eprintln!(
            "minutely: {of} {} retried were throttled by AWS's per-shard write limit (1,000 records/s and 1 MiB/s per shard): more shards take more; --shard-rate-limit paces the sending to it instead",
            s.throttled
        );
    }
    if let Source::Random(_, (seed, start)) = source {
        // The same flags draw the same events again (for `check stream --expect random`).
        eprintln!(
            "minutely: random events of seed {seed}, the first at {start} (`--seed {seed} --start {start}` draws them again)"
        );
    }
    if let Source::File(file, path) = source {
        let rejects = &file.rejects;
        for r in rejects.iter().take(20) {
            eprintln!("{}:{}: {}", path.display(), r.line, r.reason);
        }
        if !rejects.is_empty() {
            eprintln!("minutely: {} lines of {} rejected, not sent", rejects.len(), path.display());
        }
    }
}

async fn run_sink<S: Sink>(
    source: impl Iterator<Item = io::Result<Sourced>>,
    sink: &mut S,
    args: &Args,
    stop: &Arc<AtomicBool>,
    progress: impl FnMut(u64),
) -> anyhow::Result<Summary> {
    Ok(produce(source, sink, args.partition_key, stop, progress).await?)
}

/// A bar on stderr when it is a terminal and stdout is not the data.
fn progress_bar(args: &Args) -> ProgressBar {
    if !io::stderr().is_terminal() || matches!(args.sink, EventSink::Stdout | EventSink::Console) {
        return ProgressBar::hidden();
    }
    let bar = match (&args.source, args.random.count) {
        (EventSource::Random, Some(n)) => ProgressBar::new(n),
        _ => ProgressBar::no_length(),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} events {per_sec} {elapsed}").expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The run's source; a file source keeps its rejects for the summary.
enum Source {
    File(Box<FileSource<io::BufReader<std::fs::File>>>, PathBuf),
    /// The generator, its seed and its first event time (RFC 3339).
    Random(RandomSource, (u64, String)),
}

impl Iterator for Source {
    type Item = io::Result<Sourced>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Source::File(f, _) => f.next(),
            Source::Random(r, _) => r.next(),
        }
    }
}
