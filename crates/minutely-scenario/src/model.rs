//! The counting model: what the S3 sums must be. Each distinct event id counts once, in the
//! minute of its time, under the values of the key dimensions.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use minutely_event::Event;

/// Counts by (minute label, key values).
pub type Counts = BTreeMap<(String, Vec<String>), u64>;

/// The model, one event at a time: memory grows with the (minute, key) pairs and 16 bytes per
/// distinct id (its 128-bit hash, [`minutely_event::id_hash`]).
#[derive(Debug)]
pub struct Model {
    key: Vec<String>,
    seen: HashSet<u128, foldhash::fast::FixedState>,
    counts: Counts,
}

impl Model {
    pub fn new(key: &[String]) -> Model {
        Model { key: key.to_vec(), seen: HashSet::default(), counts: Counts::new() }
    }

    pub fn add(&mut self, e: &Event) {
        let Some(values) = self.key.iter().map(|k| e.dims.get(k).cloned()).collect::<Option<Vec<_>>>() else {
            return; // the consumer rejects an event without a key dimension
        };
        if self.seen.insert(minutely_event::id_hash(e.id.as_deref().unwrap_or_default())) {
            *self.counts.entry((e.time.minute().to_string(), values)).or_default() += 1;
        }
    }

    pub fn counts(self) -> Counts {
        self.counts
    }
}

pub fn count<'a>(events: impl IntoIterator<Item = &'a Event>, key: &[String]) -> Counts {
    let mut model = Model::new(key);
    events.into_iter().for_each(|e| model.add(e));
    model.counts()
}

/// Where two counts differ.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Diff {
    /// (minute, key, expected, found) where S3 has less than the model.
    pub missing: Vec<(String, Vec<String>, u64, u64)>,
    /// Where S3 has more.
    pub extra: Vec<(String, Vec<String>, u64, u64)>,
}

impl Diff {
    pub fn of(expected: &Counts, found: &Counts) -> Diff {
        let mut d = Diff::default();
        let keys: BTreeSet<_> = expected.keys().chain(found.keys()).collect();
        for k in keys {
            let (e, f) = (expected.get(k).copied().unwrap_or(0), found.get(k).copied().unwrap_or(0));
            let row = (k.0.clone(), k.1.clone(), e, f);
            if f < e {
                d.missing.push(row);
            } else if f > e {
                d.extra.push(row);
            }
        }
        d
    }

    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty()
    }
}

/// The snapshot text of counts: one line per (minute, key), sorted.
/// Counts per (window start in ms, key), as `minutely_check` reads an output, per minute label.
pub fn by_minute(counts: minutely_check::counts::Counts) -> Counts {
    let mut out = Counts::new();
    for ((start, key), n) in counts {
        let label = minutely_aggregate::EventTime(start).minute().label().to_string();
        *out.entry((label, key)).or_default() += n;
    }
    out
}

pub fn render(counts: &Counts) -> String {
    let mut out = String::new();
    for ((minute, key), n) in counts {
        out.push_str(&format!("{minute} {} {n}\n", key.join(" ")));
    }
    out
}
