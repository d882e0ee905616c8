//! Which shards may be read now: a shard is read only after its parents (after a split or a
//! merge) have been read to their end, so that the records of one key stay in order.

use std::collections::{BTreeMap, BTreeSet};

/// A shard as ListShards describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    /// The parent and the adjacent parent (a merge has two).
    pub parents: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Lineage {
    known: BTreeMap<String, ShardInfo>,
    started: BTreeSet<String>,
    finished: BTreeSet<String>,
}

impl Lineage {
    /// Adds the shards of a listing (shards already known are kept as they are).
    pub fn update(&mut self, shards: impl IntoIterator<Item = ShardInfo>) {
        for s in shards {
            self.known.entry(s.id.clone()).or_insert(s);
        }
    }

    /// Shards that are known, not started, and whose parents are finished. A parent that is
    /// not in any listing has aged out of the stream's retention: nothing is left to read in it.
    pub fn ready(&self) -> Vec<String> {
        self.known
            .values()
            .filter(|s| !self.started.contains(&s.id) && !self.finished.contains(&s.id))
            .filter(|s| s.parents.iter().all(|p| self.finished.contains(p) || !self.known.contains_key(p)))
            .map(|s| s.id.clone())
            .collect()
    }

    pub fn start(&mut self, id: &str) {
        self.started.insert(id.to_owned());
    }

    pub fn finish(&mut self, id: &str) {
        self.finished.insert(id.to_owned());
    }

    /// A shard that stopped without finishing (the run is stopping): it may be started again.
    pub fn release(&mut self, id: &str) {
        self.started.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parents: &[&str]) -> ShardInfo {
        ShardInfo { id: id.into(), parents: parents.iter().map(|p| p.to_string()).collect() }
    }

    #[test]
    fn children_wait_for_every_parent() {
        let mut l = Lineage::default();
        // 0 and 1 split into 2 and 3; 2 and 3 merge into 4. Shard 9's parent aged out.
        l.update([shard("0", &[]), shard("1", &[]), shard("2", &["0"]), shard("3", &["0"])]);
        l.update([shard("4", &["2", "3"]), shard("9", &["gone"])]);
        assert_eq!(l.ready(), ["0", "1", "9"]);
        for s in ["0", "1", "9"] {
            l.start(s);
        }
        assert!(l.ready().is_empty());
        l.finish("0");
        assert_eq!(l.ready(), ["2", "3"]);
        l.start("2");
        l.start("3");
        l.finish("2");
        assert!(l.ready().is_empty(), "a merge waits for both parents");
        l.finish("3");
        assert_eq!(l.ready(), ["4"]);
        l.release("1");
        assert_eq!(l.ready(), ["1", "4"]);
    }
}
