//! Dropping duplicate events (the same id twice, from producer retries or replays) while their
//! minute's window is open, and for [`KEEP_CLOSED_MINUTES`] after it closed, in bounded memory.
//!
//! Each minute keeps the 128-bit hashes of the ids seen in it; the set goes when the minute is
//! more than [`KEEP_CLOSED_MINUTES`] before the first open one (so that a late event's retry is
//! still caught). At most `max_ids` hashes are kept per worker: when full, the oldest closed
//! minute's set goes first; with none left to drop, new ids are counted as untracked and their
//! duplicates (if any) are counted twice. A false match needs two ids with the same 128-bit
//! hash (about 10^-26 for a million ids in one minute).

use std::collections::{BTreeMap, HashSet};

use minutely_aggregate::Minute;

type Set = HashSet<u128, foldhash::fast::FixedState>;

/// How many minutes before the first open one still have their ids remembered.
pub const KEEP_CLOSED_MINUTES: i64 = 10;

/// Sets of forgotten minutes kept emptied for the next minutes: a minute's set then starts at
/// the size the last ones grew to, without growing again (a rehash at every doubling) nor
/// memory the kernel must clear.
const SPARE_SETS: usize = 2;

pub use minutely_event::id_hash;

#[derive(Debug)]
pub struct Dedup {
    by_minute: BTreeMap<Minute, Set>,
    tracked: usize,
    max_ids: usize,
    /// Minutes before this are closed (their sets may be dropped to make room).
    closed_before: Option<Minute>,
    /// Ids not remembered because the bound was reached.
    pub untracked: u64,
    /// Emptied sets, for the next minutes (at most [`SPARE_SETS`]).
    spare: Vec<Set>,
}

impl Dedup {
    pub fn new(max_ids: usize) -> Dedup {
        Dedup { by_minute: BTreeMap::new(), tracked: 0, max_ids, closed_before: None, untracked: 0, spare: Vec::new() }
    }

    /// Whether `id` was already seen in `minute`; remembers it if not (and if there is room).
    pub fn is_duplicate(&mut self, minute: Minute, id: &str) -> bool {
        self.max_ids != 0 && self.is_duplicate_hash(minute, id_hash(id))
    }

    /// [`Dedup::is_duplicate`] of the id whose [`id_hash`] is `hash`.
    pub fn is_duplicate_hash(&mut self, minute: Minute, hash: u128) -> bool {
        if self.max_ids == 0 {
            return false;
        }
        // With room, and the minute's set made: one probe finds the id or remembers it.
        if self.tracked < self.max_ids
            && let Some(set) = self.by_minute.get_mut(&minute)
        {
            if !set.insert(hash) {
                return true;
            }
            self.tracked += 1;
            return false;
        }
        if self.by_minute.get(&minute).is_some_and(|set| set.contains(&hash)) {
            return true;
        }
        if self.tracked >= self.max_ids {
            self.evict_oldest_closed(minute);
        }
        if self.tracked < self.max_ids {
            if let Some(set) = self.by_minute.get_mut(&minute) {
                set.insert(hash);
            } else {
                let mut set = self.new_set(minute);
                set.insert(hash);
                self.by_minute.insert(minute, set);
            }
            self.tracked += 1;
        } else {
            self.untracked += 1;
        }
        false
    }

    /// A set for `minute`: a spare one, else one the size of the last minute's when `minute`
    /// is the newest (a minute of late events starts small: the bound is on ids, not room).
    fn new_set(&mut self, minute: Minute) -> Set {
        if let Some(set) = self.spare.pop() {
            return set;
        }
        match self.by_minute.last_key_value() {
            Some((last, set)) if *last < minute => Set::with_capacity_and_hasher(set.len(), Default::default()),
            _ => Set::default(),
        }
    }

    /// Windows before `closed_before` are closed: forgets the minutes more than
    /// [`KEEP_CLOSED_MINUTES`] before it.
    pub fn closed_before(&mut self, closed_before: Minute) {
        self.closed_before = Some(closed_before);
        let keep = self.by_minute.split_off(&Minute(closed_before.0.saturating_sub(KEEP_CLOSED_MINUTES)));
        for mut set in std::mem::replace(&mut self.by_minute, keep).into_values() {
            self.tracked -= set.len();
            if self.spare.len() < SPARE_SETS {
                set.clear();
                self.spare.push(set);
            }
        }
    }

    /// Drops the oldest closed minute's set (not `except`'s) to make room.
    fn evict_oldest_closed(&mut self, except: Minute) {
        let Some(bound) = self.closed_before else { return };
        let oldest = self.by_minute.keys().next().copied();
        if let Some(m) = oldest.filter(|m| *m < bound && *m != except)
            && let Some(set) = self.by_minute.remove(&m)
        {
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

    /// Adds ids seen elsewhere (a parent shard's), newest minute first, as far as the bound
    /// allows (ids left out are not counted as untracked: they were never this worker's).
    /// Returns how many were added.
    pub fn inherit(&mut self, minutes: Vec<(Minute, Vec<u128>)>) -> usize {
        let before = self.tracked;
        for (m, hashes) in minutes.into_iter().rev() {
            let set = self.by_minute.entry(m).or_default();
            for h in hashes {
                if self.tracked >= self.max_ids {
                    break;
                }
                if set.insert(h) {
                    self.tracked += 1;
                }
            }
        }
        self.by_minute.retain(|_, set| !set.is_empty());
        self.tracked - before
    }

    pub fn restore(
        max_ids: usize,
        untracked: u64,
        closed_before: Option<Minute>,
        minutes: Vec<(Minute, Vec<u128>)>,
    ) -> Dedup {
        let mut d = Dedup::new(max_ids);
        d.untracked = untracked;
        d.closed_before = closed_before;
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
    fn drops_repeats_within_a_minute_and_forgets_old_closed_minutes() {
        let mut d = Dedup::new(3);
        assert!(!d.is_duplicate(Minute(1), "a"));
        assert!(d.is_duplicate(Minute(1), "a"));
        assert!(!d.is_duplicate(Minute(2), "a"), "per minute: the same id in another minute is another event");
        assert!(!d.is_duplicate(Minute(2), "b"));
        // The bound, nothing closed to drop: "c" is not remembered, so its repeat counts again.
        assert!(!d.is_duplicate(Minute(2), "c"));
        assert!(!d.is_duplicate(Minute(2), "c"));
        assert_eq!((d.tracked(), d.untracked), (3, 2));
        let restored = Dedup::restore(3, d.untracked, None, d.snapshot());
        assert_eq!(restored.snapshot(), d.snapshot());
        // Minute 1 closes: kept for KEEP_CLOSED_MINUTES, so a late retry is still caught...
        d.closed_before(Minute(2));
        assert!(d.is_duplicate(Minute(1), "a"));
        // ...unless room is needed: the oldest closed minute goes first.
        assert!(!d.is_duplicate(Minute(2), "d"));
        assert_eq!((d.tracked(), d.untracked), (3, 2));
        assert!(!d.is_duplicate(Minute(1), "a"), "minute 1 was dropped to make room");
        d.closed_before(Minute(2 + KEEP_CLOSED_MINUTES + 1));
        assert_eq!(d.tracked(), 0, "everything is now too old");
    }

    #[test]
    fn a_child_inherits_its_parents_ids_newest_first_within_the_bound() {
        let mut parent = Dedup::new(10);
        for (m, id) in [(1, "a"), (2, "b"), (2, "c"), (3, "d")] {
            assert!(!parent.is_duplicate(Minute(m), id));
        }
        let mut other = Dedup::new(10);
        assert!(!other.is_duplicate(Minute(3), "d"));
        assert!(!other.is_duplicate(Minute(3), "e"));
        // Room for 3: minute 3's d, then minute 2's b and c; minute 1 is left out.
        let mut child = Dedup::new(3);
        assert_eq!(child.inherit(parent.snapshot()), 3);
        assert_eq!(child.inherit(other.snapshot()), 0, "full: nothing more, and d is there already");
        assert_eq!((child.tracked(), child.untracked), (3, 0));
        assert!(child.is_duplicate(Minute(3), "d"));
        assert!(!child.is_duplicate(Minute(1), "a"), "left out by the bound");
        let mut roomy = Dedup::new(10);
        assert_eq!(roomy.inherit(parent.snapshot()) + roomy.inherit(other.snapshot()), 5, "a merge: the union");
        for (m, id) in [(1, "a"), (2, "b"), (2, "c"), (3, "d"), (3, "e")] {
            assert!(roomy.is_duplicate(Minute(m), id), "{id} in minute {m}");
        }
    }
}
