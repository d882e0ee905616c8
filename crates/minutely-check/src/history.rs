//! A stream's history against its expected events.
//!
//! The expected events are taken first, in input order; then every stored event, in any order.
//! Memory: one entry per expected event (its id, time, key hash and what was seen of it), and
//! the witnesses kept; stored events are not held. Witnesses come in input order (lost,
//! duplicated, altered) or stored order (unexpected), so the same inputs give the same verdict.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// An event as the input has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub id: String,
    pub time_ms: i64,
    pub key: Vec<String>,
}

/// Where a stored event sits: its shard, its record's sequence number, its index among the
/// events of that record (a KPL aggregate or gzip lines hold several), and when the record
/// arrived (ms since the epoch; 0 when unknown).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Place {
    pub shard: String,
    pub sequence: String,
    pub index: u32,
    pub arrival_ms: i64,
}

/// An event as the stream holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    pub time_ms: i64,
    pub key: Vec<String>,
    pub place: Place,
}

/// What can be wrong with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anomaly {
    /// Expected, never stored.
    Lost,
    /// Stored more than once (counted once per id; `copies` in its class says how many extra).
    Duplicated,
    /// Stored, not expected.
    Unexpected,
    /// Stored with its id but another time or key than expected.
    Altered,
}

impl Anomaly {
    pub const ALL: [Anomaly; 4] = [Anomaly::Lost, Anomaly::Duplicated, Anomaly::Unexpected, Anomaly::Altered];

    /// Its name in flags and JSON: `lost`, `duplicated`, `unexpected`, `altered`.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::Lost => "lost",
            Anomaly::Duplicated => "duplicated",
            Anomaly::Unexpected => "unexpected",
            Anomaly::Altered => "altered",
        }
    }
}

impl std::str::FromStr for Anomaly {
    type Err = String;

    fn from_str(s: &str) -> Result<Anomaly, String> {
        Anomaly::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Anomaly::ALL.iter().map(|a| a.name()).collect();
            format!("{s:?} is not an anomaly class; use {}", names.join(", "))
        })
    }
}

/// One event that shows an anomaly: its id, every place it was stored (empty when lost), and
/// for an altered one what was expected and what was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Witness {
    pub id: String,
    pub places: Vec<Place>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<(i64, Vec<String>)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<(i64, Vec<String>)>,
}

/// One class of anomaly: how many, as a fraction (of the expected events; of the stored ones for
/// unexpected), extra copies (duplicated only), and the first witnesses.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Class {
    pub count: u64,
    pub fraction: f64,
    #[serde(skip_serializing_if = "is_zero")]
    pub copies: u64,
    pub witnesses: Vec<Witness>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Distinct expected events.
    pub expected: u64,
    /// Events stored, copies included.
    pub stored: u64,
    /// Expected events stored at least once, as they were.
    pub ok: u64,
    pub classes: BTreeMap<Anomaly, Class>,
}

impl Verdict {
    /// The classes with anomalies that `allow` does not permit, in order.
    pub fn failed(&self, allow: &[Anomaly]) -> Vec<Anomaly> {
        self.classes.iter().filter(|(a, c)| c.count > 0 && !allow.contains(a)).map(|(a, _)| *a).collect()
    }
}

/// What was seen of one expected event.
#[derive(Debug)]
struct Entry {
    id: String,
    time_ms: i64,
    key: Vec<String>,
    copies: u32,
    altered: bool,
    /// The first places it was stored at, up to what a witness shows.
    places: Vec<Place>,
    found: Option<(i64, Vec<String>)>,
}

/// Places shown per witness.
const PLACES: usize = 4;

/// Takes the expected events, then the stored ones; [`Checker::verdict`] classifies.
#[derive(Debug)]
pub struct Checker {
    entries: Vec<Entry>,
    by_id: HashMap<u128, usize>,
    witnesses: usize,
    stored: u64,
    unexpected: Class,
}

impl Checker {
    /// A checker that keeps up to `witnesses` witnesses per class.
    pub fn new(witnesses: usize) -> Checker {
        Checker { entries: Vec::new(), by_id: HashMap::new(), witnesses, stored: 0, unexpected: Class::default() }
    }

    /// One expected event. An id given twice is one event (the input's own duplicates, which a
    /// producer is meant to resend with the same id).
    pub fn expect(&mut self, e: Expected) {
        let h = minutely_event::id_hash(&e.id);
        if self.by_id.contains_key(&h) {
            return;
        }
        self.by_id.insert(h, self.entries.len());
        let entry = Entry {
            id: e.id,
            time_ms: e.time_ms,
            key: e.key,
            copies: 0,
            altered: false,
            places: Vec::new(),
            found: None,
        };
        self.entries.push(entry);
    }

    /// One stored event.
    pub fn stored(&mut self, s: Stored) {
        self.stored += 1;
        let Some(&i) = self.by_id.get(&minutely_event::id_hash(&s.id)) else {
            self.unexpected.count += 1;
            if self.unexpected.witnesses.len() < self.witnesses {
                let found = Some((s.time_ms, s.key));
                self.unexpected.witnesses.push(Witness { id: s.id, places: vec![s.place], expected: None, found });
            }
            return;
        };
        let e = &mut self.entries[i];
        e.copies += 1;
        if e.places.len() < PLACES {
            e.places.push(s.place);
        }
        if (s.time_ms != e.time_ms || s.key != e.key) && !e.altered {
            e.altered = true;
            e.found = Some((s.time_ms, s.key));
        }
    }

    /// The verdict on everything taken so far.
    pub fn verdict(self) -> Verdict {
        let expected = self.entries.len() as u64;
        let mut classes: BTreeMap<Anomaly, Class> = Anomaly::ALL.iter().map(|a| (*a, Class::default())).collect();
        let mut ok = 0;
        for e in self.entries {
            let class = match (e.copies, e.altered) {
                (0, _) => Anomaly::Lost,
                (_, true) => Anomaly::Altered,
                (n, false) if n > 1 => Anomaly::Duplicated,
                _ => {
                    ok += 1;
                    continue;
                }
            };
            let c = classes.get_mut(&class).expect("every class is there");
            c.count += 1;
            if class == Anomaly::Duplicated {
                c.copies += u64::from(e.copies - 1);
            }
            if c.witnesses.len() < self.witnesses {
                let altered = class == Anomaly::Altered;
                c.witnesses.push(Witness {
                    id: e.id,
                    places: e.places,
                    expected: altered.then_some((e.time_ms, e.key)),
                    found: e.found,
                });
            }
            // An altered event stored more than once is a duplicate too.
            if class == Anomaly::Altered && e.copies > 1 {
                let d = classes.get_mut(&Anomaly::Duplicated).expect("every class is there");
                d.count += 1;
                d.copies += u64::from(e.copies - 1);
            }
        }
        classes.insert(Anomaly::Unexpected, self.unexpected);
        for (a, c) in &mut classes {
            let of = if *a == Anomaly::Unexpected { self.stored } else { expected };
            c.fraction = if of == 0 { 0.0 } else { c.count as f64 / of as f64 };
        }
        Verdict { expected, stored: self.stored, ok, classes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(id: &str, t: i64, key: &str) -> Expected {
        Expected { id: id.into(), time_ms: t, key: vec![key.into()] }
    }

    fn stored(id: &str, t: i64, key: &str, seq: u32) -> Stored {
        let place = Place { shard: "shardId-000000000000".into(), sequence: seq.to_string(), index: 0, arrival_ms: 0 };
        Stored { id: id.into(), time_ms: t, key: vec![key.into()], place }
    }

    #[test]
    fn each_class_is_counted_with_its_witnesses() {
        let mut c = Checker::new(2);
        for (id, t) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
            c.expect(expected(id, t, "usa"));
        }
        c.expect(expected("a", 1, "usa")); // the input's own duplicate: one event
        c.stored(stored("a", 1, "usa", 1));
        c.stored(stored("b", 2, "usa", 2));
        c.stored(stored("b", 2, "usa", 3)); // duplicated
        c.stored(stored("b", 2, "usa", 4));
        c.stored(stored("d", 4, "deu", 5)); // altered
        c.stored(stored("x", 9, "usa", 6)); // unexpected
        // c and e lost
        let v = c.verdict();
        assert_eq!((v.expected, v.stored, v.ok), (5, 6, 1));
        let class = |a| v.classes[&a].clone();
        assert_eq!(class(Anomaly::Lost).count, 2);
        assert_eq!(class(Anomaly::Lost).fraction, 0.4);
        let lost: Vec<&str> = v.classes[&Anomaly::Lost].witnesses.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(lost, ["c", "e"]);
        assert_eq!((class(Anomaly::Duplicated).count, class(Anomaly::Duplicated).copies), (1, 2));
        let dup = &class(Anomaly::Duplicated).witnesses[0];
        assert_eq!(dup.places.iter().map(|p| p.sequence.as_str()).collect::<Vec<_>>(), ["2", "3", "4"]);
        let altered = &class(Anomaly::Altered).witnesses[0];
        assert_eq!(altered.expected, Some((4, vec!["usa".to_owned()])));
        assert_eq!(altered.found, Some((4, vec!["deu".to_owned()])));
        assert_eq!(class(Anomaly::Unexpected).count, 1);
        assert!((class(Anomaly::Unexpected).fraction - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(v.failed(&[]), [Anomaly::Lost, Anomaly::Duplicated, Anomaly::Unexpected, Anomaly::Altered]);
        assert_eq!(v.failed(&[Anomaly::Duplicated, Anomaly::Unexpected]), [Anomaly::Lost, Anomaly::Altered]);
    }

    #[test]
    fn a_clean_history_has_no_anomaly_and_names_parse() {
        let mut c = Checker::new(10);
        c.expect(expected("a", 1, "usa"));
        c.stored(stored("a", 1, "usa", 1));
        let v = c.verdict();
        assert_eq!(v.ok, 1);
        assert!(v.failed(&[]).is_empty());
        assert!(v.classes.values().all(|c| c.count == 0 && c.witnesses.is_empty()));
        assert_eq!("duplicated".parse(), Ok(Anomaly::Duplicated));
        assert!("doubled".parse::<Anomaly>().unwrap_err().contains("lost, duplicated, unexpected, altered"));
    }
}
