//! The checker against a plain model: for any expected ids and any stored events (ids drawn
//! from the expected ones and others, times and keys sometimes changed), every id falls in
//! exactly the class a direct count says, and the counts add up. An id given n times may be
//! stored n times without being a duplicate.

use std::collections::{BTreeMap, BTreeSet};

use minutely_check::{Anomaly, Checker, Expected, Place, Stored};
use proptest::prelude::*;

fn history() -> impl Strategy<Value = (Vec<u8>, Vec<(u8, bool)>)> {
    (prop::collection::vec(0u8..40, 0..30), prop::collection::vec((0u8..50, prop::bool::weighted(0.1)), 0..60))
}

proptest! {
    #[test]
    fn classes_match_a_direct_count((expected, stored) in history()) {
        let mut c = Checker::new(1_000);
        let wanted: BTreeSet<u8> = expected.iter().copied().collect();
        for id in &expected {
            c.expect(Expected { id: format!("e{id}"), time_ms: i64::from(*id), key: vec!["k".into()] });
        }
        let mut copies: BTreeMap<u8, u32> = BTreeMap::new();
        let mut altered: BTreeSet<u8> = BTreeSet::new();
        for (i, (id, change)) in stored.iter().enumerate() {
            *copies.entry(*id).or_default() += 1;
            if *change && wanted.contains(id) {
                altered.insert(*id);
            }
            let time_ms = i64::from(*id) + i64::from(*change);
            let place = Place { shard: "s".into(), sequence: i.to_string(), index: 0, arrival_ms: 0 };
            c.stored(Stored { id: format!("e{id}"), time_ms, key: vec!["k".into()], place, partition_key: None });
        }
        let v = c.verdict();
        let lost = wanted.iter().filter(|id| !copies.contains_key(id)).count() as u64;
        let unexpected = stored.iter().filter(|(id, _)| !wanted.contains(id)).count() as u64;
        let given = |id: &u8| expected.iter().filter(|e| *e == id).count() as u32;
        let duplicated = copies.iter().filter(|(id, n)| wanted.contains(id) && **n > given(id)).count() as u64;
        prop_assert_eq!(v.expected, wanted.len() as u64);
        prop_assert_eq!(v.stored, stored.len() as u64);
        prop_assert_eq!(v.classes[&Anomaly::Lost].count, lost);
        prop_assert_eq!(v.classes[&Anomaly::Unexpected].count, unexpected);
        prop_assert_eq!(v.classes[&Anomaly::Altered].count, altered.len() as u64);
        prop_assert_eq!(v.classes[&Anomaly::Duplicated].count, duplicated);
        // Every expected event is ok, lost or altered, or else duplicated (and not altered).
        let dup_only = copies.iter().filter(|(id, n)| wanted.contains(id) && **n > given(id) && !altered.contains(id)).count() as u64;
        prop_assert_eq!(v.ok + lost + altered.len() as u64 + dup_only, v.expected);
        let lost_ids: BTreeSet<String> = v.classes[&Anomaly::Lost].witnesses.iter().map(|w| w.id.clone()).collect();
        let want_lost: BTreeSet<String> = wanted.iter().filter(|id| !copies.contains_key(id)).map(|id| format!("e{id}")).collect();
        prop_assert_eq!(lost_ids, want_lost);
    }
}
