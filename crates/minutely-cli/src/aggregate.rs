//! `minutely aggregate`: the batch counter (TSV in parallel blocks; CSV and JSON lines with the
//! record schema `consume` uses), or (with `--windows`) a replay of a TSV file through the
//! event-time window core in file order.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use minutely_aggregate::{Minute, ProcessingTime, WindowConfig, WindowCount, Windows};
use minutely_event::batch::{self, BatchOptions, LineStats};
use minutely_event::{Item, RecordFormat, Rejected, Schema, TsvReader, records};

use crate::schema_args::{SchemaArgs, describe_schema};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to read (TSV; CSV or JSON lines with --input-format or a schema), or `-` for stdin.
    input: PathBuf,

    #[command(flatten)]
    schema: SchemaArgs,

    /// Output: `json` lines or a readable `table`.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,

    /// Write every rejected line here: `<line>\t<reason>\t<the line as it was>`.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,

    /// Report at most this many rejected lines on stderr (all are counted; `--rejects` has all).
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_reported: usize,

    /// Decoding threads. Default: the number of cores.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Replay the file in order through the event-time windows and print each count as its
    /// window closes, marking counts that arrived after their window closed with `"late":true`.
    #[arg(long)]
    windows: bool,

    /// With `--windows`: how far the watermark trails the largest event time seen (`0s`, `30s`, `2m`).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s", requires = "windows")]
    allowed_lateness: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Json,
    Table,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let schema = args.schema.load(&args.input)?;
    let source = args.input.display().to_string();
    // Opened once: read through it, or mapped (`-`: stdin).
    let file = if args.input.as_os_str() == "-" {
        None
    } else {
        Some(File::open(&args.input).with_context(|| format!("cannot open {source}"))?)
    };
    let input: Box<dyn Read + '_> = match &file {
        Some(file) => Box::new(file),
        None => Box::new(io::stdin().lock()),
    };
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    let records = matches!(schema.format, Some(RecordFormat::Json | RecordFormat::Csv | RecordFormat::Minutely));
    let summary = if records {
        if args.windows {
            bail!("--windows replays TSV files; count {source} without it");
        }
        let report = records::count(input, &schema).with_context(|| format!("cannot aggregate {source}"))?;
        let format = schema.format.unwrap_or(RecordFormat::Minutely);
        let columns = report.columns.as_ref().map(|c| format!(", columns {c:?}")).unwrap_or_default();
        eprintln!("minutely: {source}: {format} records{columns}, key={:?}", report.key_names);
        let rows: Vec<OutRow> = report
            .counts
            .into_iter()
            .map(|c| OutRow { minute: c.minute, key: c.key, count: c.count, late: None })
            .collect();
        write_rows(&mut out, args.format, &report.key_names, &rows)?;
        Summary { stats: report.stats, rejects: report.rejects, groups: rows.len(), late: None }
    } else if args.windows {
        run_windows(input, &schema, &args, &source, &mut out)?
    } else {
        let mut options = BatchOptions::default();
        if let Some(threads) = args.threads {
            options.threads = threads;
        }
        let report = match crate::mapped::file(file.as_ref()) {
            Some(map) => batch::count_in_place(&map, &schema, options),
            None => batch::count(input, &schema, options),
        };
        let report = report.with_context(|| format!("cannot aggregate {source}"))?;
        describe_schema(&report.schema, report.time_format, report.detected_on_line, &source);
        let rows: Vec<OutRow> = report
            .counts
            .into_iter()
            .map(|c| OutRow { minute: c.minute, key: c.key, count: c.count, late: None })
            .collect();
        let key_names: Vec<String> = report.schema.key_names().into_iter().map(str::to_owned).collect();
        write_rows(&mut out, args.format, &key_names, &rows)?;
        Summary { stats: report.stats, rejects: report.rejects, groups: rows.len(), late: None }
    };
    out.flush()?;
    summary.report(&source, &args)
}

#[derive(Debug, Serialize)]
struct OutRow {
    #[serde(serialize_with = "minute_label")]
    minute: Minute,
    key: Vec<String>,
    count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    late: Option<bool>,
}

fn minute_label<S: serde::Serializer>(m: &Minute, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(m)
}

fn write_rows(out: &mut impl Write, format: Format, key_names: &[String], rows: &[OutRow]) -> io::Result<()> {
    match format {
        Format::Json => {
            for r in rows {
                serde_json::to_writer(&mut *out, r)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        Format::Table => {
            let mut header: Vec<String> = vec!["minute".into()];
            header.extend(key_names.iter().cloned());
            header.push("count".into());
            if rows.iter().any(|r| r.late.is_some()) {
                header.push("late".into());
            }
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut c = vec![r.minute.to_string()];
                    c.extend(r.key.iter().cloned());
                    c.push(r.count.to_string());
                    if let Some(late) = r.late {
                        c.push(if late { "late".into() } else { String::new() });
                    }
                    c
                })
                .collect();
            let widths: Vec<usize> = (0..header.len())
                .map(|i| cells.iter().map(|c| c[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0))
                .collect();
            let count_col = header.len() - 1 - usize::from(header.last().is_some_and(|h| h == "late"));
            for row in std::iter::once(&header).chain(&cells) {
                let line: Vec<String> = row
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i == count_col {
                            format!("{c:>w$}", w = widths[i])
                        } else {
                            format!("{c:<w$}", w = widths[i])
                        }
                    })
                    .collect();
                writeln!(out, "{}", line.join("  ").trim_end())?;
            }
            Ok(())
        }
    }
}

fn run_windows(
    input: Box<dyn Read + '_>,
    schema: &Schema,
    args: &Args,
    source: &str,
    out: &mut impl Write,
) -> anyhow::Result<Summary> {
    let mut reader = TsvReader::open(input, schema).with_context(|| format!("cannot aggregate {source}"))?;
    let resolved = reader.decoder().schema.clone();
    let key_names = resolved.key_names();
    let key_strings: Vec<String> = key_names.iter().map(|k| (*k).to_owned()).collect();
    describe_schema(&resolved, reader.decoder().format, reader.detected_on_line(), source);
    let config = WindowConfig { allowed_lateness_ms: args.allowed_lateness.as_millis() as u64, idle_timeout_ms: None };
    let mut windows: Windows<Vec<String>> = Windows::new(config);
    let mut rejects = Vec::new();
    let mut stats = LineStats { header: u64::from(schema.has_header()), ..LineStats::default() };
    let mut rows = Vec::new();
    let mut emit = |w: &mut Windows<Vec<String>>, out: &mut dyn Write| -> io::Result<usize> {
        rows.clear();
        rows.extend(w.drain_ready().map(|c: WindowCount<Vec<String>>| OutRow {
            minute: c.minute,
            key: c.key,
            count: c.count,
            late: Some(c.late),
        }));
        let mut out = out;
        write_rows(&mut out, args.format, &key_strings, &rows)?;
        Ok(rows.len())
    };
    let mut groups = 0;
    // A file has no processing clock: windows close by the watermark and at the end of the file.
    let now = ProcessingTime(0);
    for item in reader.by_ref() {
        match item.with_context(|| format!("reading {source}"))? {
            Item::Row(row) => {
                stats.accepted += 1;
                windows.record(row.event.time, row.event.key(&key_names), now);
            }
            Item::Rejected(r) => rejects.push(r),
        }
        groups += emit(&mut windows, out)?;
    }
    windows.close_all();
    groups += emit(&mut windows, out)?;
    stats.blank = reader.blank_lines;
    stats.rejected = rejects.len() as u64;
    stats.lines = stats.header + stats.blank + stats.accepted + stats.rejected;
    Ok(Summary { stats, rejects, groups, late: Some(windows.stats().late_events) })
}

struct Summary {
    stats: LineStats,
    rejects: Vec<Rejected>,
    groups: usize,
    late: Option<u64>,
}

impl Summary {
    fn report(self, source: &str, args: &Args) -> anyhow::Result<()> {
        for r in self.rejects.iter().take(args.max_reported) {
            eprintln!("{source}:{}: {}", r.line, r.reason);
        }
        if self.rejects.len() > args.max_reported {
            eprintln!(
                "minutely: {} more rejected lines not shown (--max-reported; --rejects FILE writes them all)",
                self.rejects.len() - args.max_reported
            );
        }
        if let Some(path) = &args.rejects {
            write_rejects(path, &self.rejects)
                .with_context(|| format!("cannot write rejects to {}", path.display()))?;
        }
        let s = self.stats;
        let late = self.late.map(|l| format!(", {l} late")).unwrap_or_default();
        eprintln!(
            "minutely: {source}: {} lines: {} accepted{late}, {} rejected, {} blank, {} header; {} counts",
            s.lines, s.accepted, s.rejected, s.blank, s.header, self.groups
        );
        if s.accepted == 0 && s.rejected > 0 {
            bail!("no line of {source} was accepted: check the schema (--time-col, --time-format, --no-header)");
        }
        Ok(())
    }
}

fn write_rejects(path: &Path, rejects: &[Rejected]) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    for r in rejects {
        write!(w, "{}\t{}\t", r.line, r.reason)?;
        w.write_all(&r.raw)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}
