//! A stream's history against its expected events.
//!
//! The expected events are taken first, in input order; then, optionally, the places of the
//! entries a sim stored under a lost answer ([`Checker::explain`]); then every stored event, in
//! any order. Memory: one entry per distinct expected id (its id, time, key and what was seen
//! of it), the witnesses kept, and the explained places; stored events are not held. Witnesses
//! of lost, duplicated and altered events come in input order; the places a witness shows and
//! the unexpected and unreadable witnesses are the first by place (shard, then sequence
//! number), so the same history gives the same verdict whatever order shards were read in.

use std::collections::{BTreeMap, HashMap, HashSet};

use hashbrown::HashTable;
use serde::Serialize;

pub use crate::place::Place;
use crate::place::{Places, Sequence, Spot};

const _: () = assert!(std::mem::size_of::<Entry>() <= 96, "an entry per expected event: keep it small");

/// An event as the input has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub id: String,
    pub time_ms: i64,
    pub key: Vec<String>,
}

/// An event as the stream holds it; its record's partition key when the reader kept it (for
/// [`Checker::ordered`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    pub time_ms: i64,
    pub key: Vec<String>,
    pub place: Place,
    pub partition_key: Option<String>,
}

/// What can be wrong with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anomaly {
    /// Expected, never stored.
    Lost,
    /// Stored more often than the input gave it, not explained by a lost answer (counted once
    /// per id; `copies` in its class says how many extra).
    Duplicated,
    /// Stored more often than the input gave it, every extra copy stored by a put whose answer
    /// the sim lost: the producer was told the put failed, and resent it. Only known on a sim.
    ExplainedDuplicates,
    /// Stored, not expected.
    Unexpected,
    /// Stored with its id but another time or key than expected.
    Altered,
    /// Stored after an event given later with the same partition key (checked only when the
    /// producer promised order: [`Checker::ordered`]).
    Reordered,
    /// Stored, but not readable as an event (a broken envelope, a bad field, no id).
    Unreadable,
}

impl Anomaly {
    pub const ALL: [Anomaly; 7] = [
        Anomaly::Lost,
        Anomaly::Duplicated,
        Anomaly::ExplainedDuplicates,
        Anomaly::Unexpected,
        Anomaly::Altered,
        Anomaly::Reordered,
        Anomaly::Unreadable,
    ];

    /// Its name in flags and JSON: `lost`, `duplicated`, `explained-duplicates`, `unexpected`,
    /// `altered`, `reordered`, `unreadable`.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::Lost => "lost",
            Anomaly::Duplicated => "duplicated",
            Anomaly::ExplainedDuplicates => "explained-duplicates",
            Anomaly::Unexpected => "unexpected",
            Anomaly::Altered => "altered",
            Anomaly::Reordered => "reordered",
            Anomaly::Unreadable => "unreadable",
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

/// One event that shows an anomaly: its id (empty when unreadable), the first places it was
/// stored at (empty when lost), what was expected and found (altered), and why it could not be
/// read (unreadable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Witness {
    pub id: String,
    pub places: Vec<Place>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<(i64, Vec<String>)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<(i64, Vec<String>)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One class of anomaly: how many, as a fraction (of the expected events; of the stored ones for
/// unexpected and unreadable), extra copies (duplicates only), and the first witnesses.
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
    /// Events stored, copies and unreadable ones included.
    pub stored: u64,
    /// Expected events stored as often as given, as they were (and in order, when checked).
    pub ok: u64,
    /// Whether a sim's ledger told explained duplicates apart (without one, every duplicate is
    /// in `duplicated`).
    pub explained_known: bool,
    pub classes: BTreeMap<Anomaly, Class>,
}

impl Verdict {
    /// The classes with anomalies that `allow` does not permit, in order.
    pub fn failed(&self, allow: &[Anomaly]) -> Vec<Anomaly> {
        self.classes.iter().filter(|(a, c)| c.count > 0 && !allow.contains(a)).map(|(a, _)| *a).collect()
    }
}

/// What was seen of one expected event: a few words, the id, and where it was stored (most
/// events once), inline: no allocation for an event stored once but its id.
#[derive(Debug)]
struct Entry {
    id: Box<str>,
    time_ms: i64,
    /// Its key, interned in [`Checker::keys`].
    key: u32,
    /// How often the input gave it (a producer that sends an event twice on purpose).
    given: u32,
    copies: u32,
    /// Copies stored under a lost answer.
    explained: u32,
    altered: bool,
    /// Its first copy came after a later event of its partition key.
    reordered: bool,
    /// The first place it was stored at, by place (the next ones in [`Checker::places`]).
    first: Option<Spot>,
}

/// Values kept once, named by their number.
#[derive(Debug)]
struct Interner<T> {
    values: Vec<T>,
    numbers: HashMap<T, u32, foldhash::fast::FixedState>,
}

impl<T: std::hash::Hash + Eq + Clone> Interner<T> {
    fn new() -> Interner<T> {
        Interner { values: Vec::new(), numbers: HashMap::default() }
    }

    fn number(&mut self, v: T) -> u32 {
        if let Some(&n) = self.numbers.get(&v) {
            return n;
        }
        let n = self.values.len() as u32;
        self.values.push(v.clone());
        self.numbers.insert(v, n);
        n
    }
}

/// Takes the expected events, then the stored ones; [`Checker::verdict`] classifies.
#[derive(Debug)]
pub struct Checker {
    entries: Vec<Entry>,
    /// The entries by id: only their numbers, the ids compared in the entries (5 bytes a slot,
    /// where a map of id hashes to positions takes 33: at a million events, fresh memory is
    /// what a check spends most on).
    by_id: HashTable<u32>,
    keys: Interner<Vec<String>>,
    /// The places of events stored more than once, but their first.
    places: Places,
    /// What the first altered copy of an event held, by entry: rare.
    found: HashMap<u32, (i64, Vec<String>), foldhash::fast::FixedState>,
    shards: Interner<String>,
    witnesses: usize,
    stored: u64,
    unexpected: Class,
    unreadable: Class,
    /// (shard, sequence number) of every entry stored under a lost answer; `None`: not known.
    explained: Option<HashSet<(u32, Sequence)>>,
    /// With order promised: per partition key, the latest input position stored so far.
    order: Option<HashMap<String, usize, foldhash::fast::FixedState>>,
}

impl Checker {
    /// A checker that keeps up to `witnesses` witnesses per class.
    pub fn new(witnesses: usize) -> Checker {
        Checker {
            entries: Vec::new(),
            by_id: HashTable::new(),
            keys: Interner::new(),
            places: Places::default(),
            found: HashMap::default(),
            shards: Interner::new(),
            witnesses,
            stored: 0,
            unexpected: Class::default(),
            unreadable: Class::default(),
            explained: None,
            order: None,
        }
    }

    /// The producer promised order per partition key (one producer, each key's events put one
    /// after another, as with `SequenceNumberForOrdering`): an event whose first copy is stored
    /// after a later event of its key is reordered. Needs the stored events' partition keys; the
    /// stream is taken shard by shard, parents before children, each in order.
    pub fn ordered(&mut self) {
        self.order.get_or_insert_with(HashMap::default);
    }

    /// Room for `n` more expected events (when their number is known: a generated stream), so
    /// the tables are not grown and copied on the way.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
        let entries = &self.entries;
        self.by_id.reserve(n, |&i| hash(&entries[i as usize].id));
    }

    /// One expected event. An id given again is the same event given twice: it may be stored
    /// twice without being a duplicate.
    pub fn expect(&mut self, e: Expected) {
        self.expect_at(e);
    }

    /// [`Checker::expect`], and the position of the event's entry.
    pub(crate) fn expect_at(&mut self, e: Expected) -> usize {
        let h = hash(&e.id);
        if let Some(&i) = self.by_id.find(h, |&i| *self.entries[i as usize].id == *e.id) {
            self.entries[i as usize].given += 1;
            return i as usize;
        }
        let entries = &self.entries;
        let n = u32::try_from(entries.len()).expect("at most 2^32 expected events");
        self.by_id.insert_unique(h, n, |&i| hash(&entries[i as usize].id));
        let entry = Entry {
            id: e.id.into_boxed_str(),
            time_ms: e.time_ms,
            key: self.keys.number(e.key),
            given: 1,
            copies: 0,
            explained: 0,
            altered: false,
            reordered: false,
            first: None,
        };
        self.entries.push(entry);
        n as usize
    }

    /// The records a sim stored under a lost answer (shard, sequence number), from its ledger:
    /// extra copies stored there are explained duplicates. Before the stored events.
    pub fn explain(&mut self, places: impl IntoIterator<Item = (String, String)>) {
        let explained = self.explained.get_or_insert_with(HashSet::new);
        for (shard, sequence) in places {
            explained.insert((self.shards.number(shard), Sequence::new(&sequence)));
        }
    }

    /// One stored event.
    pub fn stored(&mut self, s: Stored) {
        self.stored_at(self.position(&s.id), s);
    }

    /// One stored event, the position of its id's entry (`None`: not expected) looked up.
    pub(crate) fn stored_at(&mut self, at: Option<usize>, s: Stored) {
        self.stored += 1;
        let Some(i) = at else {
            self.unexpected.count += 1;
            let w = Witness {
                id: s.id,
                places: vec![s.place],
                expected: None,
                found: Some((s.time_ms, s.key)),
                reason: None,
            };
            keep_first_in(&mut self.unexpected.witnesses, w, self.witnesses);
            return;
        };
        // A shard seen before is looked up by reference: no copy of its name per event.
        let shard = match self.shards.numbers.get(s.place.shard.as_str()) {
            Some(&n) => n,
            None => self.shards.number(s.place.shard.clone()),
        };
        let e = &mut self.entries[i];
        e.copies += 1;
        if let (Some(order), Some(pk), 1) = (&mut self.order, &s.partition_key, e.copies) {
            match order.get_mut(pk.as_str()) {
                Some(latest) if *latest > i => e.reordered = true,
                Some(latest) => *latest = i,
                None => {
                    order.insert(pk.clone(), i);
                }
            }
        }
        let spot = Spot::new(shard, &s.place);
        if let Some(explained) = &self.explained
            && explained.contains(&(shard, spot.sequence.clone()))
        {
            e.explained += 1;
        }
        if (s.time_ms != e.time_ms || s.key != self.keys.values[e.key as usize]) && !e.altered {
            e.altered = true;
            self.found.insert(i as u32, (s.time_ms, s.key));
        }
        self.places.insert(i as u32, &mut e.first, spot, &self.shards.values);
    }

    /// One stored record (or a part of it) that could not be read as an event, and why.
    pub fn unreadable(&mut self, place: Place, reason: String) {
        self.stored += 1;
        self.unreadable.count += 1;
        let w = Witness { id: String::new(), places: vec![place], expected: None, found: None, reason: Some(reason) };
        keep_first_in(&mut self.unreadable.witnesses, w, self.witnesses);
    }

    /// The verdict on everything taken so far.
    pub fn verdict(mut self) -> Verdict {
        let expected = self.entries.len() as u64;
        let mut classes: BTreeMap<Anomaly, Class> = Anomaly::ALL.iter().map(|a| (*a, Class::default())).collect();
        let mut ok = 0;
        for (n, e) in self.entries.into_iter().enumerate() {
            let n = n as u32;
            let extra = e.copies.saturating_sub(e.given);
            let duplicate = match extra {
                0 => None,
                _ if e.explained >= extra => Some(Anomaly::ExplainedDuplicates),
                _ => Some(Anomaly::Duplicated),
            };
            let class = match (e.copies, e.altered, duplicate) {
                (0, _, _) => Some(Anomaly::Lost),
                (_, true, _) => Some(Anomaly::Altered),
                (_, false, d) => d,
            };
            // Reordered beside any other class (a resent event is often both).
            if e.reordered {
                let c = classes.get_mut(&Anomaly::Reordered).expect("every class is there");
                c.count += 1;
                if c.witnesses.len() < self.witnesses {
                    let places = self.places.places(n, &e.first, &self.shards.values);
                    let w = Witness { id: e.id.to_string(), places, expected: None, found: None, reason: None };
                    c.witnesses.push(w);
                }
            }
            let Some(class) = class else {
                ok += u64::from(!e.reordered);
                continue;
            };
            // An altered event stored too often is a duplicate too.
            if let Some(d) = duplicate {
                let c = classes.get_mut(&d).expect("every class is there");
                c.copies += u64::from(extra);
                if class == Anomaly::Altered {
                    c.count += 1;
                }
            }
            let c = classes.get_mut(&class).expect("every class is there");
            c.count += 1;
            if c.witnesses.len() < self.witnesses {
                let altered = class == Anomaly::Altered;
                let names = &self.shards.values;
                c.witnesses.push(Witness {
                    id: e.id.into(),
                    places: self.places.places(n, &e.first, names),
                    expected: altered.then(|| (e.time_ms, self.keys.values[e.key as usize].clone())),
                    found: self.found.remove(&n).filter(|_| altered),
                    reason: None,
                });
            }
        }
        classes.insert(Anomaly::Unexpected, self.unexpected);
        classes.insert(Anomaly::Unreadable, self.unreadable);
        for (a, c) in &mut classes {
            let of = if matches!(a, Anomaly::Unexpected | Anomaly::Unreadable) { self.stored } else { expected };
            c.fraction = if of == 0 { 0.0 } else { c.count as f64 / of as f64 };
        }
        Verdict { expected, stored: self.stored, ok, explained_known: self.explained.is_some(), classes }
    }
}

/// An id's hash in [`Checker`]'s table.
fn hash(id: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6d69_6e75_7465_6c79).hash_one(id)
}

impl Checker {
    /// The position of the entry of `id`, if it was expected.
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.by_id.find(hash(id), |&i| *self.entries[i as usize].id == *id).map(|&i| i as usize)
    }
}

/// Keeps the `max` witnesses of `kept` with the smallest places, `w` among them if its place
/// is small enough.
fn keep_first_in(kept: &mut Vec<Witness>, w: Witness, max: usize) {
    let at = kept.partition_point(|k| k.places[0] <= w.places[0]);
    if at < max {
        kept.insert(at, w);
        kept.truncate(max);
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
        Stored { id: id.into(), time_ms: t, key: vec![key.into()], place, partition_key: None }
    }

    #[test]
    fn each_class_is_counted_with_its_witnesses() {
        let mut c = Checker::new(2);
        for (id, t) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
            c.expect(expected(id, t, "usa"));
        }
        c.expect(expected("a", 1, "usa")); // given twice: two copies are no duplicate
        c.stored(stored("a", 1, "usa", 1));
        c.stored(stored("a", 1, "usa", 7));
        c.stored(stored("b", 2, "usa", 2));
        c.stored(stored("b", 2, "usa", 3)); // duplicated
        c.stored(stored("b", 2, "usa", 4));
        c.stored(stored("d", 4, "deu", 5)); // altered
        c.stored(stored("x", 9, "usa", 6)); // unexpected
        // c and e lost
        let v = c.verdict();
        assert_eq!((v.expected, v.stored, v.ok), (5, 7, 1));
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
        assert!((class(Anomaly::Unexpected).fraction - 1.0 / 7.0).abs() < 1e-12);
        assert!(!v.explained_known);
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
        assert_eq!("explained-duplicates".parse(), Ok(Anomaly::ExplainedDuplicates));
        assert!("doubled".parse::<Anomaly>().unwrap_err().contains("lost, duplicated, explained-duplicates"));
        assert_eq!("reordered".parse(), Ok(Anomaly::Reordered));
    }

    #[test]
    fn with_order_promised_an_event_stored_after_a_later_one_of_its_key_is_reordered() {
        let mut c = Checker::new(10);
        c.ordered();
        for id in ["a1", "b1", "a2", "a3", "b2"] {
            c.expect(expected(id, 1, "usa"));
        }
        let mut put = |id: &str, pk: &str, seq: u32| {
            c.stored(Stored { partition_key: Some(pk.into()), ..stored(id, 1, "usa", seq) });
        };
        put("a1", "a", 1);
        put("b1", "b", 2);
        put("a3", "a", 3); // a2 failed and was resent after a3: a2 is out of order
        put("b2", "b", 4);
        put("a2", "a", 5);
        put("a3", "a", 6); // a second copy of a3: a duplicate, not reordered again
        let v = c.verdict();
        let ids = |a: Anomaly| v.classes[&a].witnesses.iter().map(|w| w.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(Anomaly::Reordered), ["a2"]);
        assert_eq!(ids(Anomaly::Duplicated), ["a3"]);
        assert_eq!(v.ok, 3, "a1, b1 and b2");
        // Without the promise, order is not judged.
        let mut c = Checker::new(10);
        c.expect(expected("x", 1, "usa"));
        c.expect(expected("y", 1, "usa"));
        c.stored(Stored { partition_key: Some("k".into()), ..stored("y", 1, "usa", 1) });
        c.stored(Stored { partition_key: Some("k".into()), ..stored("x", 1, "usa", 2) });
        assert_eq!(c.verdict().classes[&Anomaly::Reordered].count, 0);
    }

    #[test]
    fn duplicates_stored_under_a_lost_answer_are_explained() {
        let mut c = Checker::new(10);
        for id in ["a", "b", "c"] {
            c.expect(expected(id, 1, "usa"));
        }
        // The sim lost the answers of the puts that stored sequence numbers 1 and 3.
        c.explain([
            ("shardId-000000000000".to_owned(), "1".to_owned()),
            ("shardId-000000000000".to_owned(), "3".to_owned()),
        ]);
        c.stored(stored("a", 1, "usa", 1)); // a: stored, answer lost, resent: explained
        c.stored(stored("a", 1, "usa", 2));
        c.stored(stored("b", 1, "usa", 4)); // b: stored twice, no lost answer: a real duplicate
        c.stored(stored("b", 1, "usa", 5));
        c.stored(stored("c", 1, "usa", 3)); // c: stored once under a lost answer, never resent: fine
        let v = c.verdict();
        assert!(v.explained_known);
        assert_eq!(v.ok, 1);
        let ids = |a: Anomaly| v.classes[&a].witnesses.iter().map(|w| w.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(Anomaly::ExplainedDuplicates), ["a"]);
        assert_eq!(ids(Anomaly::Duplicated), ["b"]);
        assert_eq!(v.failed(&[Anomaly::ExplainedDuplicates]), [Anomaly::Duplicated]);
    }

    #[test]
    fn unreadable_records_and_witnesses_chosen_by_place_whatever_the_order() {
        let run = |order: &[u32]| {
            let mut c = Checker::new(2);
            c.expect(expected("a", 1, "usa"));
            for &seq in order {
                c.stored(stored(&format!("x{seq}"), 1, "usa", seq));
                c.stored(stored("a", 1, "usa", seq));
            }
            let place = Place { shard: "shardId-000000000001".into(), sequence: "9".into(), index: 2, arrival_ms: 0 };
            c.unreadable(place, "not JSON".into());
            c.verdict()
        };
        let v = run(&[30, 4, 100, 7]);
        assert_eq!(v, run(&[100, 7, 30, 4]), "the same history read in another order");
        let u = &v.classes[&Anomaly::Unexpected];
        assert_eq!(u.count, 4);
        // Sequence numbers compare as numbers: 4 and 7 come before 30 and 100.
        assert_eq!(u.witnesses.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), ["x4", "x7"]);
        let dup = &v.classes[&Anomaly::Duplicated].witnesses[0];
        assert_eq!(dup.places.iter().map(|p| p.sequence.as_str()).collect::<Vec<_>>(), ["4", "7", "30", "100"]);
        let bad = &v.classes[&Anomaly::Unreadable];
        assert_eq!((bad.count, bad.witnesses[0].reason.as_deref()), (1, Some("not JSON")));
        assert_eq!(v.stored, 9);
    }
}
