//! Where a stored event sits, as witnesses show it ([`Place`]) and as the checker keeps it for a
//! million events ([`Spot`]): the shard interned, the sequence number packed inline, the first
//! place of an event inline in its entry. Nothing here allocates for an event stored once.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::Serialize;

/// Where a stored event sits: its shard, its record's sequence number, its index among the
/// events of that record (a KPL aggregate or gzip lines hold several), and when the record
/// arrived (ms since the epoch; 0 when unknown). Ordered by shard, then sequence number (as a
/// number: a shorter decimal string is smaller), then index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Place {
    pub shard: String,
    pub sequence: String,
    pub index: u32,
    pub arrival_ms: i64,
}

impl Ord for Place {
    fn cmp(&self, o: &Place) -> Ordering {
        (&self.shard, self.sequence.len(), &self.sequence, self.index, self.arrival_ms).cmp(&(
            &o.shard,
            o.sequence.len(),
            &o.sequence,
            o.index,
            o.arrival_ms,
        ))
    }
}

impl PartialOrd for Place {
    fn partial_cmp(&self, o: &Place) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The most decimal digits packed inline: AWS's sequence numbers have 56.
const PACKED_DIGITS: usize = 56;

/// A sequence number: up to 56 decimal digits packed two to a byte, inline (AWS's, LocalStack's
/// and the sim's); any other text boxed. Ordered as [`Place`] orders sequence numbers: by
/// length, then digit by digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Sequence {
    Packed { len: u8, digits: [u8; PACKED_DIGITS / 2] },
    Text(Box<str>),
}

impl Sequence {
    pub(crate) fn new(s: &str) -> Sequence {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > PACKED_DIGITS || !b.iter().all(u8::is_ascii_digit) {
            return Sequence::Text(s.into());
        }
        let mut digits = [0u8; PACKED_DIGITS / 2];
        for (i, d) in b.iter().enumerate() {
            digits[i / 2] |= (d - b'0') << if i % 2 == 0 { 4 } else { 0 };
        }
        Sequence::Packed { len: b.len() as u8, digits }
    }

    fn len(&self) -> usize {
        match self {
            Sequence::Packed { len, .. } => usize::from(*len),
            Sequence::Text(t) => t.len(),
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Sequence::Packed { len, digits } => (0..usize::from(*len))
                .map(|i| char::from(b'0' + if i % 2 == 0 { digits[i / 2] >> 4 } else { digits[i / 2] & 0xf }))
                .collect(),
            Sequence::Text(t) => t.to_string(),
        }
    }
}

impl Ord for Sequence {
    fn cmp(&self, o: &Sequence) -> Ordering {
        match (self, o) {
            // Same length: the packed digits compare as the digits do (unused nibbles are 0).
            (Sequence::Packed { len: a, digits: x }, Sequence::Packed { len: b, digits: y }) => (a, x).cmp(&(b, y)),
            _ => (self.len(), self.text()).cmp(&(o.len(), o.text())),
        }
    }
}

impl PartialOrd for Sequence {
    fn partial_cmp(&self, o: &Sequence) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A [`Place`] as the checker keeps it: the shard numbered by the checker's shard names.
#[derive(Clone, Debug)]
pub(crate) struct Spot {
    pub(crate) shard: u32,
    pub(crate) index: u32,
    pub(crate) arrival_ms: i64,
    pub(crate) sequence: Sequence,
}

impl Spot {
    pub(crate) fn new(shard: u32, p: &Place) -> Spot {
        Spot { shard, index: p.index, arrival_ms: p.arrival_ms, sequence: Sequence::new(&p.sequence) }
    }

    /// The place this spot stands for, given the shard names.
    pub(crate) fn place(&self, names: &[String]) -> Place {
        Place {
            shard: names[self.shard as usize].clone(),
            sequence: self.sequence.text(),
            index: self.index,
            arrival_ms: self.arrival_ms,
        }
    }

    /// [`Place`]'s order, given the shard names.
    fn cmp_in(&self, o: &Spot, names: &[String]) -> Ordering {
        let shard = |s: &Spot| names[s.shard as usize].as_str();
        (shard(self), &self.sequence, self.index, self.arrival_ms).cmp(&(shard(o), &o.sequence, o.index, o.arrival_ms))
    }
}

/// The first places of each event, by place, up to `PLACES`: the first inline in the event's
/// entry (most events are stored once), the others here, by entry number.
#[derive(Debug, Default)]
pub(crate) struct Places {
    more: HashMap<u32, Vec<Spot>, foldhash::fast::FixedState>,
}

/// Places shown per witness.
pub(crate) const PLACES: usize = 4;

impl Places {
    /// Keeps `spot` among the places of entry `entry` (whose first is `first`) if it is among
    /// the first `PLACES`; a spot equal to one kept goes after it.
    pub(crate) fn insert(&mut self, entry: u32, first: &mut Option<Spot>, mut spot: Spot, names: &[String]) {
        let Some(first) = first else {
            *first = Some(spot);
            return;
        };
        if spot.cmp_in(first, names) == Ordering::Less {
            std::mem::swap(first, &mut spot);
        }
        let rest = self.more.entry(entry).or_default();
        let at = rest.partition_point(|p| p.cmp_in(&spot, names) != Ordering::Greater);
        if at < PLACES - 1 {
            rest.insert(at, spot);
            rest.truncate(PLACES - 1);
        }
    }

    /// The places kept of entry `entry`, whose first is `first`.
    pub(crate) fn places(&self, entry: u32, first: &Option<Spot>, names: &[String]) -> Vec<Place> {
        first.iter().chain(self.more.get(&entry).into_iter().flatten()).map(|s| s.place(names)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_sequence_numbers_keep_their_text_and_order() {
        let aws = "49654236829375618739461058315396413720419522137838829570";
        let texts = ["7", "30", "007", "100", aws, "not-a-number", "", &"9".repeat(57)];
        for t in texts {
            assert_eq!(Sequence::new(t).text(), t);
        }
        assert!(matches!(Sequence::new(aws), Sequence::Packed { len: 56, .. }));
        assert!(matches!(Sequence::new("12a"), Sequence::Text(_)));
        for a in texts {
            for b in texts {
                let place = |s: &str| Place { shard: "s".into(), sequence: s.into(), index: 0, arrival_ms: 0 };
                assert_eq!(Sequence::new(a).cmp(&Sequence::new(b)), place(a).cmp(&place(b)), "{a:?} against {b:?}");
            }
        }
    }

    #[test]
    fn places_keep_the_first_four_by_place_in_any_order_of_arrival() {
        let names = vec!["shardId-000000000000".to_owned(), "shardId-000000000001".to_owned()];
        let spot = |shard: u32, seq: &str| Spot { shard, index: 0, arrival_ms: 0, sequence: Sequence::new(seq) };
        let (mut p, mut first) = (Places::default(), None);
        for (shard, seq) in [(1, "5"), (0, "100"), (0, "30"), (1, "2"), (0, "4"), (0, "30")] {
            p.insert(7, &mut first, spot(shard, seq), &names);
        }
        assert!(p.places(8, &None, &names).is_empty());
        let kept: Vec<(String, String)> =
            p.places(7, &first, &names).into_iter().map(|p| (p.shard, p.sequence)).collect();
        let want = [("0", "4"), ("0", "30"), ("0", "30"), ("0", "100")]
            .map(|(s, q)| (format!("shardId-00000000000{s}"), q.to_owned()));
        assert_eq!(kept, want);
    }
}
