//! Dropping duplicate events (the same id twice, from producer retries or replays) while their
//! minute's window is open, in bounded memory.
//!
//! Each open minute keeps the 128-bit hashes of the ids seen in it; the set goes when the
//! window closes. At most `max_ids` hashes are kept per worker: past that, new ids are counted
//! as untracked and their duplicates (if any) are counted twice. A false match needs two ids
//! with the same 128-bit hash (about 10^-26 for a million ids in one minute).

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;

use minutely_aggregate::Minute;

type Set = HashSet<u128, foldhash::fast::FixedState>;

/// Fixed seeds: hashes are stored in checkpoints and must mean the same in the next process.
const SEEDS: (u64, u64) = (0x6d69_6e75_7465_6c79, 0x6964_7320_6f6e_6365);

pub fn id_hash(id: &str) -> u128 {
    let a = foldhash::quality::FixedState::with_seed(SEEDS.0).hash_one(id);
    let b = foldhash::quality::FixedState::with_seed(SEEDS.1).hash_one(id);
    (u128::from(a) << 64) | u128::from(b)
}

#[derive(Debug)]
pub struct Dedup {
    by_minute: BTreeMap<Minute, Set>,
    tracked: usize,
    max_ids: usize,
    /// Ids not remembered because the bound was reached.
    pub untracked: u64,
}

impl Dedup {
    pub fn new(max_ids: usize) -> Dedup {
        Dedup { by_minute: BTreeMap::new(), tracked: 0, max_ids, untracked: 0 }
    }

    /// Whether `id` was already seen in `minute`; remembers it if not (and if there is room).
    pub fn is_duplicate(&mut self, minute: Minute, id: &str) -> bool {
        if self.max_ids == 0 {
            return false;
        }
        let hash = id_hash(id);
        let set = self.by_minute.entry(minute).or_default();
        if set.contains(&hash) {
            return true;
        }
        if self.tracked < self.max_ids {
            set.insert(hash);
            self.tracked += 1;
        } else {
            self.untracked += 1;
        }
        false
    }

    /// Forgets the minutes before `bound` (their windows closed).
    pub fn forget_before(&mut self, bound: Minute) {
        let keep = self.by_minute.split_off(&bound);
        for set in std::mem::replace(&mut self.by_minute, keep).into_values() {
            self.tracked -= set.len();
        }
    }

    pub fn tracked(&self) -> usize {
        self.tracked
    }

    /// The remembered hashes, per minute, sorted (for a checkpoint).
    pub fn snapshot(&self) -> Vec<(Minute, Vec<u128>)> {
        self.by_minute
            .iter()
            .map(|(m, set)| {
                let mut v: Vec<u128> = set.iter().copied().collect();
                v.sort_unstable();
                (*m, v)
            })
            .collect()
    }

    pub fn restore(max_ids: usize, untracked: u64, minutes: Vec<(Minute, Vec<u128>)>) -> Dedup {
        let mut d = Dedup::new(max_ids);
        d.untracked = untracked;
        for (m, hashes) in minutes {
            d.tracked += hashes.len();
            d.by_minute.insert(m, hashes.into_iter().collect());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_repeats_within_a_minute_and_forgets_closed_minutes() {
        let mut d = Dedup::new(3);
        assert!(!d.is_duplicate(Minute(1), "a"));
        assert!(d.is_duplicate(Minute(1), "a"));
        assert!(!d.is_duplicate(Minute(2), "a"), "per minute: the same id in another minute is another event");
        assert!(!d.is_duplicate(Minute(2), "b"));
        // The bound: "c" is not remembered, so its repeat counts again.
        assert!(!d.is_duplicate(Minute(2), "c"));
        assert!(!d.is_duplicate(Minute(2), "c"));
        assert_eq!((d.tracked(), d.untracked), (3, 2));
        let restored = Dedup::restore(3, d.untracked, d.snapshot());
        assert_eq!(restored.snapshot(), d.snapshot());
        d.forget_before(Minute(2));
        assert_eq!(d.tracked(), 2);
        assert!(!d.is_duplicate(Minute(1), "a"), "minute 1 was forgotten");
    }

    #[test]
    fn hashes_are_stable_across_processes() {
        // Stored in checkpoints: a change here silently breaks deduplication after an upgrade.
        assert_eq!(format!("{:032x}", id_hash("clean.tsv:2")), "4c34fbd6c5c971721b1b14b23c5b7c27");
        assert_ne!(id_hash("clean.tsv:2"), id_hash("clean.tsv:3"));
        assert_eq!(format!("{:032x}", id_hash("")).len(), 32);
    }
}
