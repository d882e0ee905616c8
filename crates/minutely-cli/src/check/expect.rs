//! The events a check expects (`--expect`): a TSV file as `produce` replays it, the generator
//! as `produce --source random` draws it, or records in the stream's format (a file, stdin).

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use minutely_check::Expected;
use minutely_event::RecordDecoder;
use minutely_producer::source::{FileSource, RandomSource};
use minutely_producer::{Pace, Sourced};

use crate::random_args::RandomArgs;
use crate::record_args::RecordArgs;
use crate::schema_args::SchemaArgs;

/// `--expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
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

/// The expected events (generated ones drawn as they are taken, on another core), how many
/// when known, what they are, and the stream's record decoder.
pub struct Expectation {
    events: Box<dyn Iterator<Item = anyhow::Result<Expected>> + Send>,
    pub count: Option<usize>,
    pub described: String,
    pub decoder: RecordDecoder,
}

impl Expectation {
    fn held(events: Vec<Expected>, described: String, decoder: RecordDecoder) -> Expectation {
        let count = Some(events.len());
        Expectation { events: Box::new(events.into_iter().map(Ok)), count, described, decoder }
    }

    /// Hands every expected event to `take`; how many there were. An error drawing them, or
    /// none at all, is an error.
    pub fn each(&mut self, mut take: impl FnMut(Expected)) -> anyhow::Result<u64> {
        let mut n = 0;
        for e in self.events.by_ref() {
            take(e?);
            n += 1;
        }
        self.not_empty(n)
    }

    /// The expected events, to be drawn by the taker (then [`Expectation::not_empty`]).
    pub fn events(&mut self) -> impl Iterator<Item = anyhow::Result<Expected>> + '_ {
        self.events.by_ref()
    }

    /// `n`, the number of events drawn, when it is not 0 (an expectation of nothing is an error).
    pub fn not_empty(&self, n: u64) -> anyhow::Result<u64> {
        if n == 0 {
            bail!("{} holds no events to expect", self.described);
        }
        Ok(n)
    }
}

/// The expected events of `--expect`, and the decoder of the stream's records (its key, for
/// minutely's records, the expected events' own when no flag names one).
pub fn expectation(expect: &Expect, record: &RecordArgs, random: &RandomArgs) -> anyhow::Result<Expectation> {
    match expect {
        Expect::Random => {
            let spec = random.spec(None, false)?;
            let described = format!("random (seed {}, {} events)", spec.seed, spec.count.unwrap_or(0));
            let count = spec.count.map(|c| usize::try_from(c).unwrap_or(usize::MAX));
            let names = record.key_names().unwrap_or_else(|| spec.dims.iter().map(|d| d.name.clone()).collect());
            let decoder = decoder(record, Some(&names))?;
            let source = RandomSource::new(spec).map_err(|e| anyhow::anyhow!(e))?;
            let events = minutely_check::ahead(source.map(move |s| {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                expected(s?, &names)
            }));
            Ok(Expectation { events: Box::new(events), count, described, decoder })
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
            from_source(events.into_iter().map(Ok), format!("file:{}", path.display()), record)
        }
        Expect::File(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            from_records(&bytes, path, record)
        }
        Expect::Stdin => {
            let mut bytes = Vec::new();
            io::stdin().read_to_end(&mut bytes).context("reading the expected records on stdin")?;
            from_records(&bytes, Path::new("stdin"), record)
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

/// The events of a producer's source (a TSV file).
fn from_source(
    source: impl Iterator<Item = io::Result<Sourced>>,
    described: String,
    record: &RecordArgs,
) -> anyhow::Result<Expectation> {
    let mut events = Vec::new();
    // The key: the fields `--key` names, or the source's own (a file's key columns).
    let mut key_names: Option<Vec<String>> = record.key_names();
    for s in source {
        let s = s?;
        let names = key_names.get_or_insert_with(|| s.key.to_vec());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        events.push(expected(s, &names)?);
    }
    if events.is_empty() {
        bail!("{described} holds no events to expect");
    }
    let decoder = decoder(record, key_names.as_deref())?;
    Ok(Expectation::held(events, described, decoder))
}

/// A producer's event as the check expects it: its id, time and key.
fn expected(s: Sourced, names: &[&str]) -> anyhow::Result<Expected> {
    let key = s.event.key(names);
    let id = s.event.id.context("an expected event has no id")?;
    Ok(Expected { id, time_ms: s.event.time.0, key })
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
    Ok(Expectation::held(events, format!("file:{}", path.display()), decoder))
}
