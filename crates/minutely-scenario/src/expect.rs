//! `[expect]` of a scenario file: what a run must show to pass (see [`crate::spec`] for the
//! whole file).

use std::time::Duration;

use crate::durations as humantime_serde_compat;
use minutely_check::{Anomaly, CountAnomaly};
use serde::Deserialize;

/// Anomaly classes by name: of the stream's check (`lost`, `duplicated`...) or of the counts'
/// (`missing`, `extra`, `short`, `over`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classes {
    pub stream: Vec<Anomaly>,
    pub counts: Vec<CountAnomaly>,
}

impl Classes {
    pub fn is_empty(&self) -> bool {
        self.stream.is_empty() && self.counts.is_empty()
    }

    /// Their names, the stream's first.
    pub fn names(&self) -> Vec<&'static str> {
        self.stream.iter().map(|a| a.name()).chain(self.counts.iter().map(|a| a.name())).collect()
    }
}

impl<'de> Deserialize<'de> for Classes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Classes, D::Error> {
        let mut c = Classes::default();
        for name in Vec::<String>::deserialize(d)? {
            match (name.parse::<Anomaly>(), name.parse::<CountAnomaly>()) {
                (Ok(a), _) => c.stream.push(a),
                (_, Ok(a)) => c.counts.push(a),
                (Err(e), Err(f)) => return Err(serde::de::Error::custom(format!("{e}; {f}"))),
            }
        }
        Ok(c)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    pub zero_loss: bool,
    pub snapshot: Snapshot,
    #[serde(with = "humantime_serde_compat::option")]
    pub latency_p50: Option<Duration>,
    #[serde(with = "humantime_serde_compat::option")]
    pub latency_p95: Option<Duration>,
    #[serde(with = "humantime_serde_compat::option")]
    pub latency_p99: Option<Duration>,
    /// The sim's per-shard limits must have refused some entries (a hot shard).
    pub throttled: bool,
    /// The sim must have split shards of the on-demand stream (`[pipeline] on_demand`).
    pub scaled: bool,
    /// Retention must have trimmed records before the consumer read them (`retention.rs`).
    pub trimmed: bool,
    /// Events per second, from the first put to the last acknowledgement, at least this.
    pub min_events_per_s: Option<f64>,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Liveness: every event counted and every lease held within this long (stream time) of
    /// the producer's end and of `[faults] heal_after`; a run that does not is failed with what
    /// was still moving.
    #[serde(with = "humantime_serde_compat::option")]
    pub settle: Option<Duration>,
    /// Anomaly classes of the checks of a run with the user's programs that do not fail it.
    pub allow: Classes,
    /// The classes those checks must find: a scenario that demonstrates a bug.
    pub finds: Classes,
    /// The user's producer promises order per partition key (one writer per key): the stream's
    /// check also looks for `reordered` events.
    pub ordered: bool,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            zero_loss: true,
            snapshot: Snapshot::Enabled(true),
            latency_p50: None,
            latency_p95: None,
            latency_p99: None,
            throttled: false,
            scaled: false,
            trimmed: false,
            min_events_per_s: None,
            timeout: Duration::from_secs(180),
            settle: None,
            allow: Classes::default(),
            finds: Classes::default(),
            ordered: false,
        }
    }
}

/// `snapshot = "name"`, or `true` (the scenario's name), or `false` (none).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Snapshot {
    Named(String),
    Enabled(bool),
}
