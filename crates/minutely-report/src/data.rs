//! What the page reads from a scenario report's JSON (`target/scenarios/NAME.json`): the fields
//! it draws, each with a default, so that an older report without a field still makes a page
//! (without that chart's data, said on the page).

use serde::Deserialize;

/// One run, as its JSON report says.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Run {
    pub scenario: String,
    pub description: String,
    pub backend: String,
    pub passed: bool,
    pub failures: Vec<String>,
    pub checks: Vec<Check>,
    /// The scenario's tables as written (`[input]`, `[pipeline]`, `[faults]`), TOML text.
    pub input: String,
    pub pipeline: String,
    pub faults: String,
    pub records_in: u64,
    pub events: u64,
    pub counted: u64,
    pub late: u64,
    pub rejected_by_producer: u64,
    pub rejected_by_consumer: u64,
    pub duplicates_dropped: u64,
    pub consumer_restarts: u64,
    pub reshards: Vec<String>,
    pub put_retries: u64,
    pub objects: u64,
    pub latency: Latency,
    pub throughput: Vec<Second>,
    /// The seconds each entry of `throughput` sums (1 in reports from before it was said).
    #[serde(default = "one_second")]
    pub throughput_step: u32,
    pub markers: Vec<Marker>,
    pub minutes: Vec<MinuteCounts>,
    pub lag: Vec<ShardLag>,
    pub produce_seconds: f64,
    pub run_seconds: f64,
    pub throughput_events_per_s: f64,
    pub records_sent: u64,
    pub interrupted: Option<String>,
    pub signal: Option<String>,
    /// The text summary, as `minutely scenario` printed it.
    pub summary: String,
    /// With the user's programs: what the stream's and the counts' checks found.
    pub history: Option<History>,
    /// When, with what build, where and how it ran: under `wall` (absent in reports before it
    /// was kept), or at the top in reports before the `wall` section.
    pub wall: Wall,
    pub provenance: Option<Provenance>,
    /// The clock, seed and command that make the run again (absent in older reports).
    pub replay: Option<Replay>,
}

impl Run {
    /// When, with what build, where and how it ran, wherever the report keeps it.
    pub fn provenance(&self) -> Option<&Provenance> {
        self.wall.provenance.as_ref().or(self.provenance.as_ref())
    }
}

/// A report's wall-clock section: what the page reads of it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Wall {
    pub run_seconds: f64,
    pub provenance: Option<Provenance>,
}

/// How to make a run again.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Replay {
    pub clock: String,
    pub seed: u64,
    pub command: String,
}

/// When, with what build, where and how a run was made.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Provenance {
    pub started_at: String,
    pub version: String,
    pub commit: String,
    pub host: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub command: String,
    pub seed: u64,
}

/// The checks of a run with the user's programs.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct History {
    pub stream: Option<StreamCheck>,
    pub counts: Option<CountsCheck>,
}

/// The stream's check: each class of anomaly with its witnesses.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct StreamCheck {
    pub records_read: u64,
    pub verdict: StreamVerdict,
    /// The classes beyond what the scenario allows.
    pub failed: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct StreamVerdict {
    pub expected: u64,
    pub stored: u64,
    pub ok: u64,
    pub classes: std::collections::BTreeMap<String, AnomalyClass>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct AnomalyClass {
    pub count: u64,
    pub fraction: f64,
    pub copies: u64,
    pub witnesses: Vec<Witness>,
}

/// An event that shows an anomaly: its id and where it was stored, or why it is unreadable.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Witness {
    pub id: String,
    pub places: Vec<Place>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Place {
    pub shard: String,
    pub sequence: String,
    pub index: u32,
}

/// The counts' check: each class of differing (window, key) pairs with the first of them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CountsCheck {
    pub objects: u64,
    pub verdict: CountsVerdict,
    pub failed: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CountsVerdict {
    pub pairs_expected: u64,
    pub ok: u64,
    pub classes: std::collections::BTreeMap<String, CountClass>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CountClass {
    pub windows: u64,
    pub events: u64,
    pub first: Vec<Differing>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Differing {
    pub window_start_ms: i64,
    pub key: Vec<String>,
    pub expected: u64,
    pub found: u64,
}

impl Run {
    /// Reads a report's JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Run, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// PASSED, FAILED, TIMED OUT or INTERRUPTED, as the text summary says.
    pub fn verdict(&self) -> &'static str {
        match (&self.signal, &self.interrupted, self.passed) {
            (Some(_), _, _) => "INTERRUPTED",
            (None, Some(_), _) => "TIMED OUT",
            (None, None, true) => "PASSED",
            (None, None, false) => "FAILED",
        }
    }
}

/// One expectation: what was asked, what was measured, and whether it held.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Check {
    pub name: String,
    pub expected: String,
    pub measured: String,
    pub passed: bool,
}

/// Latency per stage, with each stage's distribution and the scenario's limits.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub total: Stage,
    pub put_acknowledged: Stage,
    pub read_by_consumer: Stage,
    pub window_closed: Stage,
    pub written_to_s3: Stage,
    /// The scenario's limits on the total (`latency_p50` ...), in ms.
    pub limit_p50_ms: Option<u64>,
    pub limit_p95_ms: Option<u64>,
    pub limit_p99_ms: Option<u64>,
}

impl Latency {
    /// The stages in the order of the pipeline, named as the text summary names them.
    pub fn stages(&self) -> [(&'static str, &Stage); 5] {
        [
            ("put to S3", &self.total),
            ("put acknowledged", &self.put_acknowledged),
            ("read by consumer", &self.read_by_consumer),
            ("window closed", &self.window_closed),
            ("written to S3", &self.written_to_s3),
        ]
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Stage {
    pub count: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// (percent of events, ms): the distribution, from 0 to 100 %.
    pub cdf: Vec<(f64, u64)>,
}

/// One second of the run: records acknowledged, events read, counts written, entries retried.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Second {
    pub second: u32,
    pub produced: u64,
    pub read: u64,
    pub written: u64,
    pub retried: u64,
}

/// Something that happened to the run at a time: a reshard, a consumer restart, a worker
/// killed or added.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Marker {
    /// Seconds since the producer took its first record.
    pub second: f64,
    pub what: String,
}

/// One minute's count over every key, by the model and in S3.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct MinuteCounts {
    pub minute: String,
    pub model: u64,
    pub s3: u64,
}

/// A shard's `MillisBehindLatest` over the run: (seconds since the first put, ms behind).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShardLag {
    pub shard: String,
    pub points: Vec<(f64, i64)>,
}

fn one_second() -> u32 {
    1
}
