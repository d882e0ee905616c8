//! Event ids as 128-bit hashes: what is kept of an id where millions of them are remembered
//! (the consumer's duplicate sets and checkpoints, the scenario model and latency joins).
//!
//! Two ids share a hash with probability about n²/2^129: 10^-25 for ten million ids.

use std::hash::BuildHasher;

/// Fixed seeds: hashes are stored in checkpoints and must mean the same in the next process.
const SEEDS: (u64, u64) = (0x6d69_6e75_7465_6c79, 0x6964_7320_6f6e_6365);

/// The 128-bit hash of an event id (two seeded foldhash hashes).
pub fn id_hash(id: &str) -> u128 {
    let a = foldhash::quality::FixedState::with_seed(SEEDS.0).hash_one(id);
    let b = foldhash::quality::FixedState::with_seed(SEEDS.1).hash_one(id);
    (u128::from(a) << 64) | u128::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_across_processes_and_distinct() {
        // Stored in checkpoints: a change here silently breaks deduplication after an upgrade.
        assert_eq!(format!("{:032x}", id_hash("clean.tsv:2")), "4c34fbd6c5c971721b1b14b23c5b7c27");
        let hashes: std::collections::HashSet<u128> = (0..100_000).map(|i| id_hash(&format!("g1-{i}"))).collect();
        assert_eq!(hashes.len(), 100_000);
        assert_ne!(id_hash(""), id_hash(" "));
    }
}
