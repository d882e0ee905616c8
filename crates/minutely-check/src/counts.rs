//! A counting job's output against the counting model of its input.
//!
//! The model counts the expected events once per id (the first time given), each in the window
//! of its own event time, per key. The output is read into counts per (window, key)
//! ([`crate::output`]). Each (window, key) of either is then **ok** (the same count), **short**
//! (fewer counted: events lost), **over** (more: events counted twice), **missing** (expected,
//! absent from the output) or **extra** (in the output, not expected). Memory: one entry per
//! (window, key), and the ids of the expected events while the model is made.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::history::Expected;

/// A window's start (ms since the epoch) and a key.
pub type WindowKey = (i64, Vec<String>);

/// Counts per (window, key).
pub type Counts = BTreeMap<WindowKey, u64>;

/// The counting model: distinct ids per (window, key), by event time.
#[derive(Debug)]
pub struct Model {
    window_ms: i64,
    ids: HashSet<u128>,
    counts: Counts,
}

impl Model {
    /// A model of windows `window_ms` long (aligned to the epoch, as minutes are).
    pub fn new(window_ms: i64) -> Model {
        Model { window_ms: window_ms.max(1), ids: HashSet::new(), counts: Counts::new() }
    }

    /// One expected event; an id seen before is not counted again.
    pub fn add(&mut self, e: &Expected) {
        if self.ids.insert(minutely_event::id_hash(&e.id)) {
            let window = e.time_ms.div_euclid(self.window_ms) * self.window_ms;
            *self.counts.entry((window, e.key.clone())).or_default() += 1;
        }
    }

    pub fn counts(self) -> Counts {
        self.counts
    }
}

/// What can be wrong with a (window, key) of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CountAnomaly {
    /// Expected, absent from the output.
    Missing,
    /// In the output, not expected.
    Extra,
    /// Fewer counted than expected: events lost.
    Short,
    /// More counted than expected: events counted twice.
    Over,
}

impl CountAnomaly {
    pub const ALL: [CountAnomaly; 4] =
        [CountAnomaly::Missing, CountAnomaly::Extra, CountAnomaly::Short, CountAnomaly::Over];

    pub fn name(self) -> &'static str {
        match self {
            CountAnomaly::Missing => "missing",
            CountAnomaly::Extra => "extra",
            CountAnomaly::Short => "short",
            CountAnomaly::Over => "over",
        }
    }
}

impl std::str::FromStr for CountAnomaly {
    type Err = String;

    fn from_str(s: &str) -> Result<CountAnomaly, String> {
        CountAnomaly::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            let names: Vec<&str> = CountAnomaly::ALL.iter().map(|a| a.name()).collect();
            format!("{s:?} is not a class of counts; use {}", names.join(", "))
        })
    }
}

/// One (window, key) whose count differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Differing {
    pub window_start_ms: i64,
    pub key: Vec<String>,
    pub expected: u64,
    pub found: u64,
}

/// One class: how many (window, key) pairs, the events they differ by, and the first of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CountClass {
    pub windows: u64,
    /// The sum of |expected − found| over its pairs.
    pub events: u64,
    pub first: Vec<Differing>,
}

/// The verdict on an output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CountsVerdict {
    /// (window, key) pairs expected, and found in the output.
    pub pairs_expected: u64,
    pub pairs_found: u64,
    /// Events the model counts, and the output's total.
    pub events_expected: u64,
    pub events_found: u64,
    /// Pairs with the expected count.
    pub ok: u64,
    pub classes: BTreeMap<CountAnomaly, CountClass>,
}

impl CountsVerdict {
    /// The classes with differences that `allow` does not permit, in order.
    pub fn failed(&self, allow: &[CountAnomaly]) -> Vec<CountAnomaly> {
        self.classes.iter().filter(|(a, c)| c.windows > 0 && !allow.contains(a)).map(|(a, _)| *a).collect()
    }
}

/// Compares the output's counts with the model's, keeping up to `shown` pairs per class (in
/// window, then key order).
pub fn compare(expected: &Counts, found: &Counts, shown: usize) -> CountsVerdict {
    let mut classes: BTreeMap<CountAnomaly, CountClass> =
        CountAnomaly::ALL.iter().map(|a| (*a, CountClass::default())).collect();
    let mut ok = 0;
    let keys: std::collections::BTreeSet<&WindowKey> = expected.keys().chain(found.keys()).collect();
    for k in keys {
        let (e, f) = (expected.get(k).copied(), found.get(k).copied());
        let class = match (e, f) {
            (Some(e), Some(f)) if e == f => {
                ok += 1;
                continue;
            }
            (Some(_), None) => CountAnomaly::Missing,
            (None, Some(_)) => CountAnomaly::Extra,
            (Some(e), Some(f)) if f < e => CountAnomaly::Short,
            _ => CountAnomaly::Over,
        };
        let (e, f) = (e.unwrap_or(0), f.unwrap_or(0));
        let c = classes.get_mut(&class).expect("every class is there");
        c.windows += 1;
        c.events += e.abs_diff(f);
        if c.first.len() < shown {
            c.first.push(Differing { window_start_ms: k.0, key: k.1.clone(), expected: e, found: f });
        }
    }
    CountsVerdict {
        pairs_expected: expected.len() as u64,
        pairs_found: found.len() as u64,
        events_expected: expected.values().sum(),
        events_found: found.values().sum(),
        ok,
        classes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, t: i64, key: &str) -> Expected {
        Expected { id: id.into(), time_ms: t, key: vec![key.into()] }
    }

    #[test]
    fn the_model_counts_each_id_once_in_its_own_window() {
        let mut m = Model::new(60_000);
        for ev in [e("a", 59_999, "x"), e("b", 60_000, "x"), e("a", 60_001, "x"), e("c", -1, "y")] {
            m.add(&ev);
        }
        let want: Counts =
            [((0, vec!["x".into()]), 1), ((60_000, vec!["x".into()]), 1), ((-60_000, vec!["y".into()]), 1)].into();
        assert_eq!(m.counts(), want);
    }

    #[test]
    fn every_difference_is_classified() {
        let k = |w: i64, key: &str| (w, vec![key.to_owned()]);
        let expected: Counts = [(k(0, "a"), 5), (k(0, "b"), 3), (k(60, "a"), 2), (k(60, "b"), 4)].into();
        let found: Counts = [(k(0, "a"), 5), (k(0, "b"), 1), (k(60, "a"), 3), (k(120, "z"), 7)].into();
        let v = compare(&expected, &found, 10);
        assert_eq!((v.ok, v.events_expected, v.events_found), (1, 14, 16));
        let c = |a| v.classes[&a].clone();
        assert_eq!((c(CountAnomaly::Short).windows, c(CountAnomaly::Short).events), (1, 2));
        assert_eq!((c(CountAnomaly::Over).windows, c(CountAnomaly::Over).events), (1, 1));
        assert_eq!(
            c(CountAnomaly::Missing).first[0],
            Differing { window_start_ms: 60, key: vec!["b".into()], expected: 4, found: 0 }
        );
        assert_eq!(c(CountAnomaly::Extra).first[0].found, 7);
        assert_eq!(v.failed(&[CountAnomaly::Extra]), [CountAnomaly::Missing, CountAnomaly::Short, CountAnomaly::Over]);
        assert!(compare(&expected, &expected, 10).failed(&[]).is_empty());
        assert_eq!("over".parse(), Ok(CountAnomaly::Over));
    }
}
