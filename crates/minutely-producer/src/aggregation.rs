//! KPL aggregation: the user records bound for one shard packed into one Kinesis record, as the
//! Kinesis Producer Library does, so that a shard's 1,000 records/s carry many more events.
//!
//! Each open shard (from the same ListShards map as the rate limiter) has one aggregate being
//! filled. A user record goes to the shard whose hash key range holds the MD5 of its partition
//! key, and keeps that partition key inside the aggregate; the aggregate is sent with its first
//! user record's partition key and, as explicit hash key, the start of its shard's range, which
//! routes it there. An aggregate is closed when the next user record would take it over
//! `max_bytes` (data and partition key, as Kinesis counts them), and when the sink flushes (the
//! producer's linger). A user record too large to share an aggregate goes as a plain record.
//! Pure: no IO, no clock.

use bytes::Bytes;
use minutely_event::kpl::Packer;

use crate::batcher::Entry;
use crate::limiter::hash_key;

/// KPL's own default aggregate size (`AggregationMaxSize`).
pub const DEFAULT_MAX_BYTES: usize = 51_200;

/// One shard's aggregate being filled.
#[derive(Debug)]
struct Open {
    start: u128,
    end: u128,
    packer: Packer,
    first: Option<(u64, String)>,
    members: Vec<u64>,
}

/// The aggregates being filled, one per open shard.
#[derive(Debug)]
pub struct KplAggregator {
    shards: Vec<Open>,
    max_bytes: usize,
}

impl KplAggregator {
    /// Aggregates for the shards of these hash key ranges, each at most `max_bytes`.
    pub fn new(mut ranges: Vec<(u128, u128)>, max_bytes: usize) -> KplAggregator {
        ranges.sort_unstable();
        let shards = ranges
            .into_iter()
            .map(|(start, end)| Open { start, end, packer: Packer::new(), first: None, members: Vec::new() })
            .collect();
        KplAggregator { shards, max_bytes }
    }

    /// Adds event `seq`'s record. Returns what is ready to send: the aggregate it closed, or the
    /// record itself when it cannot be aggregated (too large, or no known shard takes its key).
    pub fn push(&mut self, seq: u64, partition_key: String, data: Vec<u8>) -> Option<Entry> {
        let h = hash_key(&partition_key);
        let i = self.shards.partition_point(|s| s.end < h);
        let max = self.max_bytes;
        let Some(shard) = self.shards.get_mut(i).filter(|s| s.start <= h) else {
            return Some(Entry::new(seq, partition_key, data));
        };
        let size = |p: &Packer, pk_len: usize| p.size_with(&partition_key, None, data.len()) + pk_len;
        if size(&Packer::new(), partition_key.len()) > max {
            return Some(Entry::new(seq, partition_key, data));
        }
        let first_len = shard.first.as_ref().map_or(partition_key.len(), |(_, pk)| pk.len());
        let closed = if size(&shard.packer, first_len) <= max { None } else { close(shard) };
        shard.packer.push(&partition_key, None, Bytes::from(data));
        shard.members.push(seq);
        shard.first.get_or_insert((seq, partition_key));
        closed
    }

    /// Every aggregate with something in it, closed (the sink's flush).
    pub fn drain(&mut self) -> Vec<Entry> {
        self.shards.iter_mut().filter_map(close).collect()
    }

    /// User records waiting in open aggregates.
    pub fn pending(&self) -> usize {
        self.shards.iter().map(|s| s.members.len()).sum()
    }
}

fn close(shard: &mut Open) -> Option<Entry> {
    let (seq, partition_key) = shard.first.take()?;
    Some(Entry {
        seq,
        partition_key,
        explicit_hash_key: Some(shard.start.to_string()),
        data: shard.packer.finish(),
        members: std::mem::take(&mut shard.members),
    })
}

#[cfg(test)]
mod tests {
    use minutely_event::kpl;

    use super::*;

    /// Three shards splitting the hash key space evenly.
    fn three() -> Vec<(u128, u128)> {
        let third = u128::MAX / 3;
        vec![(0, third), (third + 1, 2 * third + 1), (2 * third + 2, u128::MAX)]
    }

    fn all(agg: &mut KplAggregator, n: u64, data_len: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> =
            (0..n).filter_map(|i| agg.push(i, format!("pk{i}"), vec![b'a' + (i % 26) as u8; data_len])).collect();
        out.extend(agg.drain());
        out
    }

    #[test]
    fn user_records_go_in_their_shards_aggregate_and_decode_back() {
        let mut agg = KplAggregator::new(three(), 4_000);
        let entries = all(&mut agg, 1_000, 20);
        assert_eq!(agg.pending(), 0);
        let mut seen: Vec<u64> = Vec::new();
        for e in &entries {
            assert!(e.size() <= 4_000, "{} bytes", e.size());
            let start: u128 = e.explicit_hash_key.as_deref().unwrap().parse().unwrap();
            let (lo, hi) = three().into_iter().find(|r| r.0 == start).expect("the EHK is a shard's start");
            let a = kpl::decode(&e.data.clone().into()).unwrap().expect("an aggregate");
            assert_eq!(a.records.len(), e.members.len());
            assert_eq!(e.partition_key, format!("pk{}", e.members[0]));
            for (i, &seq) in e.members.iter().enumerate() {
                let pk = a.partition_key(i).unwrap();
                assert_eq!(pk, format!("pk{seq}"), "the user record keeps its own partition key");
                assert!((lo..=hi).contains(&hash_key(pk)), "user record {seq} is bound for this shard");
                assert_eq!(&a.records[i].data[..], &[b'a' + (seq % 26) as u8; 20]);
            }
            seen.extend(&e.members);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..1_000).collect::<Vec<_>>(), "every event once");
        assert!(entries.len() < 20, "1,000 events in {} records", entries.len());
    }

    #[test]
    fn an_aggregate_closes_before_it_would_go_over_its_size() {
        let mut agg = KplAggregator::new(vec![(0, u128::MAX)], 1_000);
        let entries = all(&mut agg, 200, 40);
        for e in &entries[..entries.len() - 1] {
            assert!(e.size() <= 1_000 && e.size() > 1_000 - 60, "full aggregates: {} bytes", e.size());
        }
        assert_eq!(entries.iter().map(|e| e.members.len()).sum::<usize>(), 200);
    }

    #[test]
    fn what_cannot_be_aggregated_goes_plain() {
        let mut agg = KplAggregator::new(vec![(0, 10)], 100);
        // Too large to share an aggregate.
        let big = agg.push(7, "k".into(), vec![0; 200]).expect("sent at once");
        assert_eq!((big.seq, big.explicit_hash_key, big.members.len(), big.data.len()), (7, None, 0, 200));
        // No known shard takes this key (the map is stale): plain, routed by its key.
        let stray = agg.push(8, "usa".into(), vec![1]).expect("sent at once");
        assert_eq!((stray.seq, stray.events()), (8, &[8][..]));
        assert!(agg.drain().is_empty());
    }
}
