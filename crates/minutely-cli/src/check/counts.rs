//! `check counts LOCATION --expect SOURCE`: a counting job's output (every object under an S3
//! prefix, or a local file or folder) read as its output schema says and compared per (window,
//! key) with the counting model of the expected events: missing, extra, short and over.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context, bail};
use minutely_aws::RetryPolicy;
use minutely_check::counts::compare;
use minutely_check::output::{Combine, OutputFormat};
use minutely_check::{CountAnomaly, CountsVerdict, Found, Model, OutputSchema};
use minutely_event::TimeFormat;
use serde::Serialize;

use super::expect::{Expect, expectation};
use crate::aws_args::AwsArgs;
use crate::random_args::RandomArgs;
use crate::record_args::RecordArgs;

#[derive(Debug, clap::Args)]
pub struct CountsArgs {
    /// The output: `s3://BUCKET/PREFIX` (every object under it) or a local file or folder.
    #[arg(value_name = "s3://BUCKET/PREFIX|PATH")]
    location: Location,

    /// The events the job was given: `file:PATH`, `random` (with produce's flags and --start)
    /// or `-`, as for `check stream`. Counted once per id, by event time, per --key.
    #[arg(long, value_name = "file:PATH|random|-")]
    expect: Expect,

    /// A TOML output schema: format (minutely, jsonl, json, csv), window (the field of the
    /// window's start), time_format, window_length ("1m", "5m"...), key (fields), count (field),
    /// combine (sum: objects add up; last: the last write per window wins). The flags below
    /// override its fields. Default: minutely's layout.
    #[arg(long, value_name = "FILE")]
    output_schema: Option<PathBuf>,
    /// minutely (default), jsonl, json or csv.
    #[arg(long, value_name = "FORMAT")]
    output_format: Option<OutputFormat>,
    /// The field holding the window's start (default: minute).
    #[arg(long, value_name = "FIELD")]
    output_window: Option<String>,
    /// How the window is written (default: auto).
    #[arg(long, value_name = "FORMAT")]
    output_time_format: Option<TimeFormat>,
    /// The window's length (default: 1m).
    #[arg(long, value_name = "DURATION")]
    window_length: Option<String>,
    /// The key fields of the output, comma separated, in --key's order (default: --key's names).
    #[arg(long, value_name = "FIELDS", value_delimiter = ',')]
    output_key: Option<Vec<String>>,
    /// The count field (default: count).
    #[arg(long, value_name = "FIELD")]
    output_count: Option<String>,
    /// sum (default: objects add up) or last (per window, the object written last wins).
    #[arg(long, value_name = "sum|last")]
    combine: Option<Combine>,

    #[command(flatten)]
    record: RecordArgs,

    #[command(flatten)]
    random: RandomArgs,

    /// Differing (window, key) pairs shown per class.
    #[arg(long, default_value_t = 10)]
    shown: usize,

    /// Classes that do not fail the check, comma separated: missing, extra, short, over.
    #[arg(long, value_name = "CLASSES", value_delimiter = ',')]
    allow: Vec<CountAnomaly>,

    /// Print the verdict as one JSON object on stdout (for CI) instead of the table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Where an output is.
#[derive(Clone, Debug)]
enum Location {
    S3 { bucket: String, prefix: String },
    Local(PathBuf),
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Location, String> {
        match s.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err("s3://BUCKET/PREFIX needs a bucket".into());
                }
                Ok(Location::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
            }
            None if s.is_empty() => Err("use s3://BUCKET/PREFIX or a path".into()),
            None => Ok(Location::Local(s.into())),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Location::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

pub(super) async fn check_counts(args: CountsArgs) -> anyhow::Result<ExitCode> {
    let schema = output_schema(&args)?;
    let window_ms = schema.window_ms().map_err(|e| anyhow::anyhow!("the output schema: {e}"))?;
    let mut expectation = expectation(&args.expect, &args.record, &args.random)?;
    let mut model = Model::new(window_ms);
    expectation.each(|e| model.add(&e))?;
    let expected = model.counts();
    let mut found = Found::new(schema.clone()).map_err(|e| anyhow::anyhow!("the output schema: {e}"))?;
    read_output(&args, &schema, &mut found).await?;
    let (objects, rows) = (found.objects, found.rows);
    if objects == 0 {
        bail!("{}: no object with counts in it (is the location right, and the format?)", args.location);
    }
    let verdict = compare(&expected, &found.counts(), args.shown);
    let failed = verdict.failed(&args.allow);
    let summary = Summary {
        location: args.location.to_string(),
        expected_from: &expectation.described,
        objects,
        rows,
        window_ms,
        verdict: &verdict,
        allowed: &args.allow,
        failed: &failed,
        passed: failed.is_empty(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_table(&summary);
    }
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What `--json` prints.
#[derive(Serialize)]
struct Summary<'a> {
    location: String,
    expected_from: &'a str,
    objects: u64,
    rows: u64,
    window_ms: i64,
    verdict: &'a CountsVerdict,
    allowed: &'a [CountAnomaly],
    failed: &'a [CountAnomaly],
    passed: bool,
}

/// The output schema: the file with the flags over it; the output's key fields default to
/// `--key`'s names for formats other than minutely's.
fn output_schema(args: &CountsArgs) -> anyhow::Result<OutputSchema> {
    let (mut schema, file_names_key) = match &args.output_schema {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            let table: toml::Table = text.parse().with_context(|| format!("in {}", p.display()))?;
            let has_key = table.contains_key("key");
            (table.try_into().with_context(|| format!("in {}", p.display()))?, has_key)
        }
        None => (OutputSchema::default(), false),
    };
    if let Some(f) = args.output_format {
        schema.format = f;
    }
    if let Some(w) = &args.output_window {
        schema.window = w.clone();
    }
    schema.time_format = args.output_time_format.or(schema.time_format);
    if let Some(l) = &args.window_length {
        schema.window_length = l.clone();
    }
    match (&args.output_key, file_names_key) {
        (Some(k), _) => schema.key = k.clone(),
        (None, false) if schema.format != OutputFormat::Minutely => {
            schema.key = args.record.key_names().unwrap_or_default();
        }
        _ => {}
    }
    if let Some(c) = &args.output_count {
        schema.count = c.clone();
    }
    if let Some(c) = args.combine {
        schema.combine = c;
    }
    Ok(schema)
}

/// Every object of the output with counts in it, into `found`.
async fn read_output(args: &CountsArgs, schema: &OutputSchema, found: &mut Found) -> anyhow::Result<()> {
    match &args.location {
        Location::S3 { bucket, prefix } => {
            let s3 = minutely_aws::clients(&args.aws.target()).await.s3;
            let policy = RetryPolicy::FIRST_CALLS;
            let listed = minutely_aws::s3::objects_under(&s3, bucket, prefix, policy).await?;
            let relative =
                |key: &str| key.strip_prefix(prefix.as_str()).unwrap_or(key).trim_start_matches('/').to_owned();
            let written: std::collections::HashMap<String, i64> = listed.iter().cloned().collect();
            let keys = listed.into_iter().map(|(k, _)| k).filter(|k| schema.holds_counts(&relative(k))).collect();
            minutely_aws::s3::each_object(&s3, bucket, keys, 16, policy, |key, body| {
                let name = format!("s3://{bucket}/{key}");
                found.object(&name, written.get(key).copied().unwrap_or(0), body).map_err(anyhow::Error::from)
            })
            .await
        }
        Location::Local(path) => {
            let mut files = Vec::new();
            local_files(path, path, &mut files)?;
            for (file, relative) in files {
                if !schema.holds_counts(&relative) && file != *path {
                    continue;
                }
                let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let written = std::fs::metadata(&file)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_millis() as i64);
                found.object(&file.display().to_string(), written, &bytes)?;
            }
            Ok(())
        }
    }
}

/// Every file under `path` (itself, when it is a file), with its path relative to `root`, in
/// name order.
fn local_files(root: &Path, path: &Path, out: &mut Vec<(PathBuf, String)>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        let relative = path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned();
        out.push((path.to_owned(), relative));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        local_files(root, &e, out)?;
    }
    Ok(())
}

fn print_table(s: &Summary<'_>) {
    let v = s.verdict;
    println!(
        "minutely check: {} ({} objects, {} rows) against {} ({} ms windows)",
        s.location, s.objects, s.rows, s.expected_from, s.window_ms
    );
    println!(
        "expected {} events in {} (window, key) pairs; the output counts {} in {}; {} pairs as expected",
        v.events_expected, v.pairs_expected, v.events_found, v.pairs_found, v.ok
    );
    println!("{:<10} {:>8} {:>10}", "class", "pairs", "events off");
    for (a, c) in &v.classes {
        println!("{:<10} {:>8} {:>10}", a.name(), c.windows, c.events);
    }
    for (a, c) in v.classes.iter().filter(|(_, c)| c.windows > 0) {
        for d in &c.first {
            println!(
                "  {:<8} window {} key {:?}: expected {}, found {}",
                a.name(),
                window_label(d.window_start_ms),
                d.key,
                d.expected,
                d.found
            );
        }
        if c.windows > c.first.len() as u64 {
            println!("  {:<8} ... and {} more", a.name(), c.windows - c.first.len() as u64);
        }
    }
    let names = |l: &[CountAnomaly]| l.iter().map(|a| a.name()).collect::<Vec<_>>();
    println!("{}", super::verdict_line(&names(s.failed), &names(s.allowed), "every (window, key) as expected"));
}

/// A window's start as minutely labels minutes (`YYYYMMDDHHMM`, UTC), with seconds when it
/// does not start on a minute.
fn window_label(ms: i64) -> String {
    let t = minutely_aggregate::EventTime(ms);
    let label = t.minute().label().to_string();
    match ms.rem_euclid(60_000) {
        0 => label,
        rest => format!("{label}+{}ms", rest),
    }
}
