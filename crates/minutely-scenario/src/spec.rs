//! `scenarios/<name>.toml`: what one scenario run is.
//!
//! ```toml
//! description = "Small and fast: the README's main command"
//! backend = "auto"                    # sim | auto | host | testcontainers | endpoint
//! clock = "virtual"                   # virtual | real; default: virtual on the sim without the
//!                                     # user's programs, real elsewhere (see `crate::clock`)
//!
//! [input]                             # a generated stream ...
//! seed = 1
//! count = 1500
//! span = "3m"                         # event times spread over this much
//! start = "2016-08-21T17:00:00Z"
//! rate = 2000.0                       # events per second of wall time (absent: as fast as possible)
//! diurnal = { low = 0.2, peak = "14h" }   # instead of rate: events follow a day's traffic over the
//!                                     # span (busiest `peak` into it, `low` times that 12 h away),
//!                                     # each put at its own time
//! dims = ["country=12:zipf:1.1", "device=3"]
//! jitter = "5s"                       # event times up to this much before their slot (out of order)
//! late_fraction = 0.01                # this fraction is moved back by late_by
//! late_by = "5m"
//! duplicate_fraction = 0.02           # sent twice (same id), like a producer retry
//! malformed_fraction = 0.01           # undecodable records put among the events
//! missing_fraction = 0.02             # events lacking their last dimension (`#name=...` in
//!                                     # dims: numeric values)
//! # ... or a recorded file: fixture = "fixtures/clean.tsv" (schema beside it), speed = 60.0
//! # ... or a recorded-style file the fixtures generator writes at run time (a day of
//! # `time country device id` rows, keyed by [pipeline] key): recorded = { lines = 300000, seed = 7 }
//!
//! [pipeline]
//! shards = 2                          # or on_demand = true: Kinesis sizes the stream (4 shards
//!                                     # at first) and splits its hot shards as traffic grows
//! key = ["country"]
//! allowed_lateness = "30s"
//! idle_timeout = "5s"
//! idle_poll = "200ms"                 # the consumer's wait after an empty page
//! batch_records = 500                 # records per PutRecords call
//! partition_key = "key"               # key | id | random
//! rate_limit = false                  # the producer holds each shard to 1,000 records/s, 1 MiB/s
//! aggregation = "none"                # none | kpl | gzip-lines: several events per record
//! records = { format = "json", time = "/ts", key = ["/geo/country"], id = "/event_id" }
//!                                     # the record schema both ends use (default: minutely's)
//!
//! [faults]                            # one fault per key: see [`crate::faults`] for all of them
//! throttle_probability = 0.2          # whole PutRecords calls throttled
//! restart_consumer_after_objects = 4  # the consumer dies after this many object writes
//! split_shard_after_events = 800      # the producer splits the first shard after this many
//! put_entry_failures = { rate = 0.05 }  # sim only: refused by LocalStack, by name
//!
//! [producer]                          # the user's own producer instead of minutely's (any language):
//! command = ["python3", "examples/pipelines/producer.py"]   # run from the workspace, with the
//!                                     # environment of `crate::program`; its input: the run's
//!                                     # records, one per line, in the pipeline's record format
//!
//! [consumer]                          # the user's own consumer instead of minutely's:
//! command = ["python3", "examples/pipelines/consumer.py"]   # started with the producer; SIGTERM
//! settle = "5s"                       # this long after the producer ended (unless it exits)
//! output = { format = "json", window = "minute", time_format = "yyyymmddhhmm", key = ["country"], combine = "last" }
//!                                     # its output under the run's prefix, as `check counts` reads it
//!
//! [expect]
//! allow = ["explained-duplicates"]    # anomaly classes that do not fail the run: the stream's
//!                                     # (lost, duplicated...) or the counts' (missing, short...)
//! finds = ["lost"]                    # a demonstration: the checks must find exactly these
//!                                     # (the run is still reported FAILED, naming them)
//! ordered = true                      # the user's producer promises order per partition key:
//!                                     # the stream's check also finds `reordered` events
//! zero_loss = true                    # S3 sums equal the counting model
//! snapshot = "smoke"                  # and scenarios/snapshots/smoke.snap (default: the
//!                                     # scenario's name; false: no snapshot)
//! latency_p50 = "5s"
//! latency_p95 = "10s"
//! latency_p99 = "15s"
//! throttled = true                    # the sim's limits must have refused entries (hot shards)
//! scaled = true                       # the sim must have split shards of the on-demand stream
//! trimmed = true                      # retention must have trimmed records the consumer never read
//! min_events_per_s = 5000.0           # events put per second, at least
//! timeout = "3m"                      # the whole run
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::ScenarioBackend;
use crate::durations as humantime_serde_compat;
pub use crate::expect::{Classes, Expect, Snapshot};
use crate::faults::Fault;
use anyhow::{Context, bail};
use minutely_check::OutputSchema;
use minutely_event::{ColumnRef, RecordDecoder, RecordEncoder, RecordFormat, Schema};
use minutely_localstack::Backend;
use minutely_producer::PartitionKey;
use minutely_producer::aggregation::Packing;
use minutely_producer::generate::DimSpec;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(skip)]
    pub name: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub description: String,
    #[serde(default = "default_backend", deserialize_with = "parsed")]
    pub backend: ScenarioBackend,
    /// The clock on the sim ([`crate::clock::ClockMode::of`]); `None`: virtual wherever it can be.
    #[serde(default)]
    pub clock: Option<crate::clock::ClockMode>,
    pub input: InputSpec,
    #[serde(default)]
    pub pipeline: Pipeline,
    /// `[faults]` as written; its ranges (`rate = [0.0, 0.2]`) are drawn for the seed into
    /// `faults` and `faults_drawn` ([`crate::draw`]).
    #[serde(default, rename = "faults")]
    pub fault_table: toml::Table,
    /// The faults of this seed.
    #[serde(skip)]
    pub faults: Vec<Fault>,
    /// `[faults]` as drawn for this seed (the report shows it), and whether it had ranges.
    #[serde(skip)]
    pub faults_drawn: (toml::Table, bool),
    /// The user's own producer, run instead of minutely's.
    pub producer: Option<Program>,
    /// The user's own consumer, run instead of minutely's.
    pub consumer: Option<UsersConsumer>,
    #[serde(default)]
    pub expect: Expect,
    /// A bug planted in minutely's workers on purpose (tests only, never from a file): how the
    /// tests prove that the swarm and the fence check find one.
    #[serde(skip)]
    pub planted: Option<minutely_consumer::kinesis::Planted>,
}

/// The user's consumer: its program, when to ask it to stop, and where its output is.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersConsumer {
    pub command: Vec<String>,
    /// How long after the producer ended it may go on before SIGTERM asks it to write and stop.
    #[serde(default = "default_settle", with = "humantime_serde_compat")]
    pub settle: Duration,
    /// How its output (every object under the run's prefix) is read.
    #[serde(default)]
    pub output: OutputSchema,
}

fn default_settle() -> Duration {
    Duration::from_secs(5)
}

/// A program of the user's, started by the run (`crate::program`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// The program and its arguments, run from the workspace.
    pub command: Vec<String>,
}

fn default_backend() -> ScenarioBackend {
    ScenarioBackend::LocalStack(Backend::Auto)
}

/// A field parsed from its string form (`FromStr`), its error kept.
fn parsed<'de, D: serde::Deserializer<'de>, T>(d: D) -> Result<T, D::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
}

fn parsed_each<'de, D: serde::Deserializer<'de>, T>(d: D) -> Result<Vec<T>, D::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    Vec::<String>::deserialize(d)?.iter().map(|s| s.parse().map_err(serde::de::Error::custom)).collect()
}

/// `aggregation = "none" | "kpl" | "gzip-lines"`.
fn packing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Packing>, D::Error> {
    match String::deserialize(d)?.as_str() {
        "none" => Ok(None),
        other => other.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// A recorded TSV file (relative to the workspace), with its schema beside it.
    pub fixture: Option<PathBuf>,
    /// A recorded-style TSV written at run time by `minutely_fixtures::write_big`.
    pub recorded: Option<Recorded>,
    /// Replay speed of a fixture (1 = as recorded); absent: as fast as possible.
    pub speed: Option<f64>,
    #[serde(default)]
    pub seed: u64,
    pub count: Option<u64>,
    #[serde(default = "default_span", with = "humantime_serde_compat")]
    pub span: Duration,
    #[serde(default = "default_start")]
    pub start: String,
    pub rate: Option<f64>,
    /// A day's traffic instead of an even rate (a generated stream only).
    pub diurnal: Option<Diurnal>,
    #[serde(default = "default_dims", deserialize_with = "parsed_each")]
    pub dims: Vec<DimSpec>,
    #[serde(default, with = "humantime_serde_compat")]
    pub jitter: Duration,
    #[serde(default)]
    pub late_fraction: f64,
    #[serde(default = "default_late_by", with = "humantime_serde_compat")]
    pub late_by: Duration,
    #[serde(default)]
    pub duplicate_fraction: f64,
    #[serde(default)]
    pub malformed_fraction: f64,
    /// Generated events lacking their last dimension (a field the client did not set).
    #[serde(default)]
    pub missing_fraction: f64,
}

impl InputSpec {
    fn check_diurnal(&self) -> anyhow::Result<()> {
        let Some(d) = self.diurnal else { return Ok(()) };
        if self.count.is_none() || self.rate.is_some() {
            bail!("[input] diurnal is the pace of a generated stream (count = N), instead of rate");
        }
        if !(d.low > 0.0 && d.low <= 1.0) {
            bail!("[input] diurnal low = {}: the quietest hour's share of the busiest, above 0 and at most 1", d.low);
        }
        Ok(())
    }
}

/// `diurnal = { low = 0.2, peak = "14h" }`: the density of events follows a cosine of a day's
/// period, highest `peak` into the span, `low` times that twelve hours away; each event is put at
/// its own time (its time less the start, in stream time), so the put rate follows it too.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diurnal {
    pub low: f64,
    #[serde(with = "humantime_serde_compat")]
    pub peak: Duration,
}

/// `recorded = { lines = 300000, seed = 7 }`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    pub lines: u64,
    #[serde(default)]
    pub seed: u64,
}

fn default_span() -> Duration {
    Duration::from_secs(180)
}
fn default_start() -> String {
    "2016-08-21T17:00:00Z".into()
}
fn default_dims() -> Vec<DimSpec> {
    ["country=12:zipf", "device=3"].iter().map(|d| d.parse().expect("a valid dimension")).collect()
}
fn default_late_by() -> Duration {
    Duration::from_secs(300)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pipeline {
    /// Open shards at the start (default 2), for a provisioned stream.
    pub shards: Option<i32>,
    /// An on-demand stream instead: Kinesis sizes it (4 shards at first) and splits the shards
    /// its traffic runs hot, so the consumer meets reshards nobody asked for.
    pub on_demand: bool,
    pub key: Vec<String>,
    #[serde(with = "humantime_serde_compat")]
    pub allowed_lateness: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub idle_timeout: Duration,
    /// How long the consumer waits after an empty GetRecords page (and, at least a second,
    /// between two listings of the shards): a day of stream time polls less often.
    #[serde(with = "humantime_serde_compat")]
    pub idle_poll: Duration,
    pub batch_records: usize,
    #[serde(deserialize_with = "parsed")]
    pub partition_key: PartitionKey,
    /// The producer's per-shard rate limiter (1,000 records/s, 1 MiB/s).
    pub rate_limit: bool,
    /// How events are written into Kinesis and read back: a record schema (`format`, `time`,
    /// `time_format`, `id`, `key` paths or columns, `columns`, `missing`), as `produce
    /// --record-schema` and `consume --schema` take it. Its key defaults to `key`, and its key
    /// fields must end with `key`'s names, in order (the model counts by those). Default:
    /// minutely's record format.
    pub records: Option<Schema>,
    /// `none` (default), `kpl` or `gzip-lines`: the producer packs each shard's events into KPL
    /// aggregates, or into gzip-compressed lines.
    #[serde(deserialize_with = "packing")]
    pub aggregation: Option<Packing>,
}

impl Pipeline {
    fn check_stream(&self) -> anyhow::Result<()> {
        match (self.shards, self.on_demand) {
            (Some(n), false) if n < 1 => bail!("[pipeline] shards = {n}: at least 1"),
            (Some(n), true) => bail!("[pipeline] shards = {n} with on_demand: an on-demand stream sizes itself"),
            _ => Ok(()),
        }
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            shards: None,
            on_demand: false,
            key: vec!["country".into()],
            allowed_lateness: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(5),
            idle_poll: Duration::from_millis(200),
            batch_records: 500,
            partition_key: PartitionKey::Key,
            rate_limit: false,
            records: None,
            aggregation: None,
        }
    }
}

/// Durations as humantime strings (`"30s"`, `"5m"`).
impl Scenario {
    /// Reads and checks `path`; the scenario's name is the file stem.
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut s: Scenario = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        s.name = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        s.path = path.to_owned();
        s.draw_faults().with_context(|| format!("{}", path.display()))?;
        s.check().with_context(|| format!("{}", path.display()))?;
        Ok(s)
    }

    /// The same scenario with another seed: its generated events, its faults' ranges drawn
    /// again, every jitter. A generated input's events change with it, so its snapshot is
    /// dropped (the model still checks every count).
    pub fn with_seed(mut self, seed: u64) -> anyhow::Result<Scenario> {
        if seed != self.input.seed && self.input.count.is_some() {
            self.expect.snapshot = Snapshot::Enabled(false);
        }
        self.input.seed = seed;
        self.draw_faults()?;
        Ok(self)
    }

    /// The clock on `backend` ([`crate::clock::ClockMode::of`]), over the file's when `asked`.
    pub fn clock_on(
        &self,
        backend: ScenarioBackend,
        asked: Option<crate::clock::ClockMode>,
    ) -> Result<crate::clock::ClockMode, String> {
        let programs = self.producer.is_some() || self.consumer.is_some();
        crate::clock::ClockMode::of((&self.name, self.clock, programs), backend, asked)
    }

    fn draw_faults(&mut self) -> anyhow::Result<()> {
        self.faults_drawn = crate::draw::drawn(&self.fault_table, self.input.seed).map_err(|e| anyhow::anyhow!(e))?;
        self.faults = Fault::parse_table(&self.faults_drawn.0).map_err(|e| anyhow::anyhow!(e))?;
        Ok(())
    }

    /// Every `*.toml` in `dir`, by name.
    pub fn all(dir: &Path) -> anyhow::Result<Vec<Scenario>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| Scenario::load(p)).collect()
    }

    fn check(&self) -> anyhow::Result<()> {
        let i = &self.input;
        if [i.fixture.is_some(), i.recorded.is_some(), i.count.is_some()].iter().filter(|x| **x).count() != 1 {
            bail!(
                "[input] needs one of `fixture` (a recorded file), `recorded` (one written at run time) or `count` (a generated stream)"
            );
        }
        for (name, f) in [
            ("late_fraction", i.late_fraction),
            ("duplicate_fraction", i.duplicate_fraction),
            ("malformed_fraction", i.malformed_fraction),
            ("missing_fraction", i.missing_fraction),
        ] {
            if !(0.0..=1.0).contains(&f) {
                bail!("{name} = {f}: a fraction between 0 and 1");
            }
        }
        i.check_diurnal()?;
        let decoder = self.decoder()?;
        self.encoder()?;
        if i.missing_fraction > 0.0 && i.count.is_none() {
            bail!("missing_fraction applies to a generated stream (count = N)");
        }
        if i.missing_fraction > 0.0 && self.record_schema().missing == Some(minutely_event::Missing::Empty) {
            bail!(
                "missing_fraction with missing = \"empty\": the model counts an event without a key field as a reject"
            );
        }
        // The consumer's key fields must be the model's dimensions, in order.
        let last = |f: &String| f.rsplit(['/', '.']).next().unwrap_or_default().to_owned();
        if decoder.format() != RecordFormat::Minutely
            && decoder.key_names().iter().map(last).collect::<Vec<_>>() != self.pipeline.key
        {
            bail!(
                "[pipeline.records] key {:?} must end with the pipeline's key {:?}, in order",
                decoder.key_names(),
                self.pipeline.key
            );
        }
        if let Some(p) = &self.producer {
            if p.command.is_empty() {
                bail!("[producer] command is empty: give the program and its arguments");
            }
            if self.pipeline.aggregation.is_some() {
                bail!(
                    "[producer] command puts the records itself: [pipeline] aggregation applies to minutely's producer"
                );
            }
        }
        if let Some(c) = &self.consumer {
            if c.command.is_empty() {
                bail!("[consumer] command is empty: give the program and its arguments");
            }
            let window = c.output.window_ms().map_err(|e| anyhow::anyhow!("[consumer] output: {e}"))?;
            if window != 60_000 {
                bail!("[consumer] output window_length: the run's model counts minutes; use 1m");
            }
        }
        let finds = &self.expect.finds;
        if !finds.stream.is_empty() && self.producer.is_none() {
            bail!("[expect] finds {:?}: the stream's classes need [producer] command", finds.names());
        }
        if self.expect.ordered && self.producer.is_none() {
            bail!("[expect] ordered: a promise of the user's producer; it needs [producer] command");
        }
        if !finds.counts.is_empty() && self.consumer.is_none() {
            bail!("[expect] finds {:?}: the counts' classes need [consumer] command", finds.names());
        }
        self.pipeline.check_stream()?;
        if i.duplicate_fraction > 0.0 && i.jitter > self.pipeline.allowed_lateness {
            bail!(
                "jitter ({:?}) above allowed_lateness ({:?}) makes on-time events late; keep it at or below",
                i.jitter,
                self.pipeline.allowed_lateness
            );
        }
        Ok(())
    }

    /// The record schema of the pipeline, its key defaulting to the pipeline's key.
    pub fn record_schema(&self) -> Schema {
        let mut schema = self.pipeline.records.clone().unwrap_or_default();
        if schema.key.is_none() {
            schema.key = Some(self.pipeline.key.iter().map(|k| ColumnRef::Name(k.clone())).collect());
        }
        schema
    }

    /// How the consumer reads the pipeline's records.
    pub fn decoder(&self) -> anyhow::Result<RecordDecoder> {
        RecordDecoder::new(&self.record_schema()).map_err(|e| anyhow::anyhow!("[pipeline.records] {e}"))
    }

    /// How the producer writes them.
    pub fn encoder(&self) -> anyhow::Result<RecordEncoder> {
        RecordEncoder::new(&self.record_schema()).map_err(|e| anyhow::anyhow!("[pipeline.records] {e}"))
    }

    /// The same scenario with `events` generated events or recorded lines instead of its own
    /// number: a generated stream keeps its events per minute (its span scales with the count),
    /// so windows, checkpoints and latency stay what they were; no snapshot (the model still
    /// checks every count); the timeout grows with the input. A fixture file has the events it
    /// has: refused.
    pub fn scaled(mut self, events: u64) -> anyhow::Result<Scenario> {
        let i = &mut self.input;
        let before = match (&mut i.count, &mut i.recorded) {
            (Some(count), _) => {
                let before = std::mem::replace(count, events);
                i.span = i.span.mul_f64(events as f64 / before.max(1) as f64);
                before
            }
            (None, Some(recorded)) => std::mem::replace(&mut recorded.lines, events),
            (None, None) => bail!(
                "scenario {} replays {}: --events applies to generated (`count`) and recorded (`recorded`) inputs",
                self.name,
                i.fixture.as_deref().unwrap_or(Path::new("a fixture")).display()
            ),
        };
        if events > before {
            self.expect.timeout = self.expect.timeout.mul_f64(events as f64 / before.max(1) as f64);
        }
        self.expect.snapshot = Snapshot::Enabled(false);
        Ok(self)
    }

    /// The snapshot's name, if the scenario has one.
    pub fn snapshot_name(&self) -> Option<&str> {
        match &self.expect.snapshot {
            Snapshot::Named(n) => Some(n),
            Snapshot::Enabled(true) => Some(&self.name),
            Snapshot::Enabled(false) => None,
        }
    }

    /// One line for `--list`.
    pub fn summary_line(&self) -> String {
        format!("{:<24} {}", self.name, self.description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> Scenario {
        Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../scenarios/{name}.toml"))).unwrap()
    }

    #[test]
    fn scaled_keeps_the_events_per_minute_and_drops_the_snapshot() {
        let s = load("million");
        let big = s.clone().scaled(10_000_000).unwrap();
        assert_eq!(big.input.count, Some(10_000_000));
        assert_eq!(big.input.span, s.input.span * 10);
        assert_eq!(big.expect.timeout, s.expect.timeout * 10);
        assert_eq!(big.snapshot_name(), None);
        // Smaller: the timeout is kept.
        let small = s.clone().scaled(100_000).unwrap();
        assert_eq!((small.input.span, small.expect.timeout), (s.input.span / 10, s.expect.timeout));
        let recorded = load("recorded-day").scaled(1_000).unwrap();
        assert_eq!(recorded.input.recorded.map(|r| r.lines), Some(1_000));
    }

    #[test]
    fn a_fixture_is_not_scaled() {
        let e = load("messy-input").scaled(1_000).unwrap_err().to_string();
        assert!(e.contains("messy-input replays") && e.contains("fixtures/messy.tsv") && e.contains("--events"), "{e}");
    }
}
