//! `minutely check stream kinesis:STREAM --expect SOURCE`: reads every record of the stream
//! once (parents before children, envelopes opened, events decoded with the record schema flags
//! `consume` takes) and judges it against the events that were meant to be put: lost,
//! duplicated (explained by a sim's lost answers, or not), unexpected, altered and unreadable
//! events, by id and place. Exit 0: nothing beyond `--allow`; 1: anomalies; 2: could not check.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use minutely_check::{Anomaly, Checker, Expected, Verdict};
use minutely_consumer::kinesis::scan::{ScanReport, scan};
use minutely_event::RecordDecoder;
use minutely_producer::source::{FileSource, RandomSource};
use minutely_producer::{Pace, Sourced};
use serde::Serialize;

use crate::aws_args::AwsArgs;
use crate::random_args::RandomArgs;
use crate::record_args::RecordArgs;
use crate::schema_args::SchemaArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Judge a stream's records against the events meant to be put: lost, duplicated,
    /// unexpected, altered and unreadable events, by id, with where they are.
    Stream(Box<StreamArgs>),
}

#[derive(Debug, clap::Args)]
pub struct StreamArgs {
    /// The stream: `kinesis:STREAM`. Read from every shard's trim horizon to its end or tip:
    /// check after the producer has stopped.
    #[arg(value_name = "kinesis:STREAM")]
    stream: KinesisStream,

    /// The events meant to be put: `file:PATH` (a `.tsv` file as `produce --source file:`
    /// replays it, with its schema beside it, ids `<file name>:<line>` where it has no id
    /// column; any other file holds one record per line in the stream's format, read with the
    /// record schema flags), `random` (the events `produce --source random` makes with the same
    /// flags; --start is needed) or `-` (records on stdin, as for a file).
    #[arg(long, value_name = "file:PATH|random|-")]
    expect: Expect,

    #[command(flatten)]
    record: RecordArgs,

    #[command(flatten)]
    random: RandomArgs,

    /// Witnesses shown per class.
    #[arg(long, default_value_t = 10)]
    witnesses: usize,

    /// Classes that do not fail the check, comma separated: lost, duplicated,
    /// explained-duplicates, unexpected, altered, unreadable.
    #[arg(long, value_name = "CLASSES", value_delimiter = ',')]
    allow: Vec<Anomaly>,

    /// Print the verdict as one JSON object on stdout (for CI) instead of the table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    aws: AwsArgs,
}

/// `kinesis:STREAM`.
#[derive(Clone, Debug)]
struct KinesisStream(String);

impl FromStr for KinesisStream {
    type Err = String;

    fn from_str(s: &str) -> Result<KinesisStream, String> {
        match s.strip_prefix("kinesis:") {
            Some(name) if !name.is_empty() => Ok(KinesisStream(name.to_owned())),
            _ => Err("use kinesis:STREAM".into()),
        }
    }
}

/// `--expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    File(PathBuf),
    Random,
    Stdin,
}

impl FromStr for Expect {
    type Err = String;

    fn from_str(s: &str) -> Result<Expect, String> {
        match (s, s.strip_prefix("file:")) {
            (_, Some(path)) if !path.is_empty() => Ok(Expect::File(path.into())),
            ("random", _) => Ok(Expect::Random),
            ("-", _) => Ok(Expect::Stdin),
            _ => Err("use file:PATH, random or -".into()),
        }
    }
}

/// Runs the check; `Err`: it could not be made (exit 2).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let What::Stream(args) = args.what;
    let runtime = crate::aws_args::runtime()?;
    runtime.block_on(check_stream(*args))
}

/// The expected events, what they are, and the stream's record decoder.
struct Expectation {
    events: Vec<Expected>,
    described: String,
    decoder: RecordDecoder,
}

async fn check_stream(args: StreamArgs) -> anyhow::Result<ExitCode> {
    let expectation = expectation(&args)?;
    let stream = &args.stream.0;
    let mut checker = Checker::new(args.witnesses);
    let expected_count = expectation.events.len();
    for e in expectation.events {
        checker.expect(e);
    }
    let ledger = match &args.aws.endpoint {
        Some(endpoint) => sim_ledger(endpoint, stream).await,
        None => None,
    };
    if let Some(l) = &ledger {
        checker.explain(l.ambiguous.iter().map(|p| (p.shard.clone(), p.sequence.clone())));
    }
    let clients = minutely_aws::clients(&args.aws.target()).await;
    let report = scan(&clients.kinesis, stream, Arc::new(expectation.decoder), |page| {
        for e in page.events {
            checker.stored(e);
        }
        for (place, reason) in page.unreadable {
            checker.unreadable(place, reason);
        }
    })
    .await
    .with_context(|| format!("reading kinesis:{stream}"))?;
    let verdict = checker.verdict();
    let failed = verdict.failed(&args.allow);
    let summary = Summary {
        stream,
        expected_from: &expectation.described,
        expected_given: expected_count as u64,
        shards: report.shards,
        records: report.records,
        get_records_calls: report.get_records_calls,
        verdict: &verdict,
        allowed: &args.allow,
        failed: &failed,
        passed: failed.is_empty(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_table(&summary, &report);
    }
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What `--json` prints.
#[derive(Serialize)]
struct Summary<'a> {
    stream: &'a str,
    expected_from: &'a str,
    /// Expected events as given, an id given twice counted twice.
    expected_given: u64,
    shards: usize,
    records: u64,
    get_records_calls: u64,
    verdict: &'a Verdict,
    allowed: &'a [Anomaly],
    failed: &'a [Anomaly],
    passed: bool,
}

/// The expected events of `--expect`, and the decoder of the stream's records (its key, for
/// minutely's records, the expected events' own when no flag names one).
fn expectation(args: &StreamArgs) -> anyhow::Result<Expectation> {
    match &args.expect {
        Expect::Random => {
            let spec = args.random.spec(None, false)?;
            let described = format!("random (seed {}, {} events)", spec.seed, spec.count.unwrap_or(0));
            let source = RandomSource::new(spec).map_err(|e| anyhow::anyhow!(e))?;
            from_source(source, described, &args.record)
        }
        Expect::File(path) if path.extension().is_some_and(|e| e == "tsv") => {
            let schema = SchemaArgs::default().load(path)?;
            let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let name =
                path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
            let mut source = FileSource::new(io::BufReader::new(file), &schema, &name, Pace::Asap)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let events: Vec<Sourced> = source.by_ref().collect::<io::Result<_>>()?;
            if !source.rejects.is_empty() {
                eprintln!(
                    "minutely: {} lines of {} rejected: not expected (produce does not send them)",
                    source.rejects.len(),
                    path.display()
                );
            }
            from_source(events.into_iter().map(Ok), format!("file:{}", path.display()), &args.record)
        }
        Expect::File(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            from_records(&bytes, path, &args.record)
        }
        Expect::Stdin => {
            let mut bytes = Vec::new();
            io::stdin().read_to_end(&mut bytes).context("reading the expected records on stdin")?;
            from_records(&bytes, Path::new("stdin"), &args.record)
        }
    }
}

/// The records' decoder ([`RecordArgs::decoder`]); it must find ids: the check matches by id.
fn decoder(record: &RecordArgs, default_key: Option<&[String]>) -> anyhow::Result<RecordDecoder> {
    let decoder = record.decoder(default_key)?;
    if !decoder.has_id() {
        bail!("the record schema names no id field: the check matches events by id (give --id FIELD)");
    }
    Ok(decoder)
}

/// The events of a producer's source (a TSV file, the generator).
fn from_source(
    source: impl Iterator<Item = io::Result<Sourced>>,
    described: String,
    record: &RecordArgs,
) -> anyhow::Result<Expectation> {
    let mut events = Vec::new();
    let mut key_names: Option<Vec<String>> = None;
    for s in source {
        let s = s?;
        let names: Vec<&str> = s.key.iter().map(String::as_str).collect();
        key_names.get_or_insert_with(|| s.key.to_vec());
        let key = s.event.key(&names);
        let id = s.event.id.context("an expected event has no id")?;
        events.push(Expected { id, time_ms: s.event.time.0, key });
    }
    if events.is_empty() {
        bail!("{described} holds no events to expect");
    }
    let decoder = decoder(record, key_names.as_deref())?;
    Ok(Expectation { events, described, decoder })
}

/// The events of a file of records in the stream's format, one per line (CSV: per row).
fn from_records(bytes: &[u8], path: &Path, record: &RecordArgs) -> anyhow::Result<Expectation> {
    let decoder = decoder(record, None)?;
    let mut events = Vec::new();
    let mut first_error: Option<String> = None;
    decoder.each(bytes, &mut |line, _, fields| {
        if first_error.is_some() {
            return;
        }
        match fields {
            Ok(f) => match f.id {
                Some(id) => events.push(Expected {
                    id: id.into_owned(),
                    time_ms: f.time.0,
                    key: f.key.into_iter().map(|k| k.into_owned()).collect(),
                }),
                None => first_error = Some(format!("{}:{line}: the event has no id", path.display())),
            },
            Err(e) => first_error = Some(format!("{}:{line}: {e}", path.display())),
        }
    });
    if let Some(e) = first_error {
        bail!("{e}");
    }
    if events.is_empty() {
        bail!("{} holds no events to expect", path.display());
    }
    Ok(Expectation { events, described: format!("file:{}", path.display()), decoder })
}

/// The stream's ledger when `endpoint` is a minutely sim; `None` otherwise (LocalStack, AWS):
/// duplicates then cannot be told apart.
async fn sim_ledger(endpoint: &str, stream: &str) -> Option<minutely_sim::Ledger> {
    let url = format!("{}/_sim/streams/{stream}/ledger", endpoint.trim_end_matches('/'));
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut answer = agent.get(&url).call().ok()?;
        if answer.status() != 200 {
            return None;
        }
        let body = answer.body_mut().with_config().limit(1 << 30).read_to_string().ok()?;
        serde_json::from_str(&body).ok()
    })
    .await
    .ok()
    .flatten()
}

fn print_table(s: &Summary<'_>, report: &ScanReport) {
    let v = s.verdict;
    println!(
        "minutely check: kinesis:{} ({} shards, {} records, {} GetRecords calls) against {}",
        s.stream, report.shards, report.records, report.get_records_calls, s.expected_from
    );
    println!(
        "expected {} events ({} distinct ids); stored {} events; {} stored as given",
        s.expected_given, v.expected, v.stored, v.ok
    );
    println!("{:<22} {:>9} {:>8} {:>12}", "class", "events", "share", "extra copies");
    for (a, c) in &v.classes {
        if *a == Anomaly::ExplainedDuplicates && !v.explained_known {
            println!("{:<22} {:>9} {:>8} {:>12}", a.name(), "unknown", "", "");
            continue;
        }
        let copies = if c.copies > 0 { c.copies.to_string() } else { String::new() };
        println!("{:<22} {:>9} {:>7.2}% {:>12}", a.name(), c.count, c.fraction * 100.0, copies);
    }
    if !v.explained_known {
        println!("(explained duplicates are known only on a minutely sim: every duplicate is in duplicated)");
    }
    for (a, c) in v.classes.iter().filter(|(_, c)| c.count > 0) {
        for w in &c.witnesses {
            let places: Vec<String> = w
                .places
                .iter()
                .map(|p| format!("{} {}#{} (arrived {} ms)", p.shard, p.sequence, p.index, p.arrival_ms))
                .collect();
            let mut line = format!("  {:<20} {}", a.name(), if w.id.is_empty() { "-" } else { &w.id });
            if let (Some((et, ek)), Some((ft, fk))) = (&w.expected, &w.found) {
                line += &format!(": expected time {et} key {ek:?}, found time {ft} key {fk:?}");
            }
            if let Some(r) = &w.reason {
                line += &format!(": {r}");
            }
            if !places.is_empty() {
                line += &format!(" at {}", places.join(", "));
            }
            println!("{line}");
        }
        if c.count > c.witnesses.len() as u64 {
            println!("  {:<20} ... and {} more", a.name(), c.count - c.witnesses.len() as u64);
        }
    }
    let names = |l: &[Anomaly]| l.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ");
    let allowed = if s.allowed.is_empty() { String::new() } else { format!(" (allowed: {})", names(s.allowed)) };
    if s.passed {
        println!("PASS: no anomaly beyond those allowed{allowed}");
    } else {
        println!("FAIL: {}{allowed}", names(s.failed));
    }
}
