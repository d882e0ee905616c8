//! `check stream kinesis:STREAM --expect SOURCE`: reads every record of the stream
//! once (parents before children, envelopes opened, events decoded with the record schema flags
//! `consume` takes) and judges it against the events that were meant to be put: lost,
//! duplicated (explained by a sim's lost answers, or not), unexpected, altered and unreadable
//! events, by id and place. Exit 0: nothing beyond `--allow`; 1: anomalies; 2: could not check.

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use minutely_check::{Anomaly, Checker, Drawing, Verdict};
use minutely_consumer::kinesis::scan::{ScanReport, scan};
use serde::Serialize;

use super::expect::{Expect, expectation};
use crate::aws_args::AwsArgs;
use crate::random_args::RandomArgs;
use crate::record_args::RecordArgs;

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
    /// explained-duplicates, unexpected, altered, reordered, unreadable.
    #[arg(long, value_name = "CLASSES", value_delimiter = ',')]
    allow: Vec<Anomaly>,

    /// The producer promised order per partition key (one writer per key, each key's events
    /// put one after another): report events stored after a later event of their key as
    /// reordered.
    #[arg(long)]
    ordered: bool,

    /// Print the verdict as one JSON object on stdout (for CI) instead of the table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    pub aws: AwsArgs,
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

pub(super) async fn check_stream(args: StreamArgs) -> anyhow::Result<ExitCode> {
    let mut expectation = expectation(&args.expect, &args.record, &args.random)?;
    let stream = &args.stream.0;
    let mut checker = Checker::new(args.witnesses);
    checker.reserve(expectation.count.unwrap_or(0));
    let ledger = match &args.aws.endpoint {
        Some(endpoint) => sim_ledger(endpoint, stream).await,
        None => None,
    };
    if let Some(l) = &ledger {
        checker.explain(l.ambiguous.iter().map(|p| (p.shard.clone(), p.sequence.clone())));
    }
    let clients = minutely_aws::clients(&args.aws.target()).await;
    if args.ordered {
        checker.ordered();
    }
    // The expected events are drawn as the stored ones come (a generated expectation on its
    // own core beside the reading): the verdict is the one of taking them first.
    let decoder = Arc::new(expectation.decoder.clone());
    let mut drawing = Drawing::new(checker, expectation.events());
    let report = scan(&clients.kinesis, stream, decoder, args.ordered, |page| {
        drawing.stored_all(page.events);
        for (place, reason) in page.unreadable {
            drawing.unreadable(place, reason);
        }
    })
    .await
    .with_context(|| format!("reading kinesis:{stream}"))?;
    let (checker, expected_count) = drawing.finish()?;
    expectation.not_empty(expected_count)?;
    let verdict = checker.verdict();
    let failed = verdict.failed(&args.allow);
    let summary = Summary {
        stream,
        expected_from: &expectation.described,
        expected_given: expected_count,
        shards: report.shards,
        records: report.records,
        get_records_calls: report.get_records_calls,
        repeated_by_backend: report.repeated,
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
    /// Records the backend answered again after the read had taken them (never Kinesis;
    /// LocalStack 4.9 does): skipped, not judged as copies.
    repeated_by_backend: u64,
    verdict: &'a Verdict,
    allowed: &'a [Anomaly],
    failed: &'a [Anomaly],
    passed: bool,
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
    if report.repeated > 0 {
        println!(
            "the backend answered {} records again after they were read (Kinesis never does; LocalStack 4.9 does with a shard's first record): skipped, not judged as copies",
            report.repeated
        );
    }
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
    let names = |l: &[Anomaly]| l.iter().map(|a| a.name()).collect::<Vec<_>>();
    println!("{}", super::verdict_line(&names(s.failed), &names(s.allowed), "no anomaly beyond those allowed"));
}
