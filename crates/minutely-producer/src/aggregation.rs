//! Several events in one Kinesis record, packed per shard, so that a shard's 1,000 records/s
//! carry many more events: KPL aggregation (the Kinesis Producer Library's format, read by the
//! KCL, aws-kinesis-agg and `minutely consume`), or newline-delimited records compressed with
//! gzip (as log shippers write them; `minutely consume` detects both per record).
//!
//! Each open shard (from the same ListShards map as the rate limiter) has one record being
//! filled. An event goes to the shard whose hash key range holds the MD5 of its partition key
//! (a KPL user record keeps that partition key inside the aggregate); the packed record is sent
//! with its first event's partition key and, as explicit hash key, the start of its shard's
//! range, which routes it there. A record is closed when the next event would take it over
//! `max_bytes` (for KPL: data and partition key, as Kinesis counts them; for gzip: the lines
//! before compression, which bounds the compressed size), and when the sink flushes (the
//! producer's linger). An event too large to share a record goes as a plain record.
//! Pure: no IO, no clock.

use std::io::Write;

use bytes::Bytes;
use minutely_event::kpl::Packer;

use crate::batcher::Entry;
use crate::partition::hash_key;

/// KPL's own default aggregate size (`AggregationMaxSize`).
pub const DEFAULT_MAX_BYTES: usize = 51_200;

/// How events are packed into one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// A KPL aggregated record of user records.
    Kpl,
    /// The events' records one per line, gzip-compressed.
    GzipLines,
}

impl std::str::FromStr for Packing {
    type Err = String;

    fn from_str(s: &str) -> Result<Packing, String> {
        match s {
            "kpl" => Ok(Packing::Kpl),
            "gzip-lines" => Ok(Packing::GzipLines),
            other => Err(format!("aggregation {other:?}: use none, kpl or gzip-lines")),
        }
    }
}

impl std::fmt::Display for Packing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Packing::Kpl => "kpl",
            Packing::GzipLines => "gzip-lines",
        })
    }
}

/// What one shard's packed record holds so far.
#[derive(Debug)]
enum Body {
    Kpl(Packer),
    Lines(Vec<u8>),
}

impl Body {
    fn new(packing: Packing) -> Body {
        match packing {
            Packing::Kpl => Body::Kpl(Packer::new()),
            Packing::GzipLines => Body::Lines(Vec::new()),
        }
    }

    /// The record's size (with `pk_len`, the partition key it is sent with) if `data` is added.
    fn size_with(&self, partition_key: &str, data_len: usize, pk_len: usize) -> usize {
        match self {
            Body::Kpl(p) => p.size_with(partition_key, None, data_len) + pk_len,
            // Deflate can grow what it cannot compress by a few bytes per 16 KiB, gzip adds 18.
            Body::Lines(l) => {
                let raw = l.len() + usize::from(!l.is_empty()) + data_len;
                raw + raw / 1000 + 64 + pk_len
            }
        }
    }

    fn push(&mut self, partition_key: &str, data: Vec<u8>) {
        match self {
            Body::Kpl(p) => p.push(partition_key, None, Bytes::from(data)),
            Body::Lines(l) => {
                if !l.is_empty() {
                    l.push(b'\n');
                }
                l.extend_from_slice(&data);
            }
        }
    }

    fn finish(&mut self) -> Vec<u8> {
        match self {
            Body::Kpl(p) => p.finish(),
            Body::Lines(l) => {
                let mut z = flate2::write::GzEncoder::new(Vec::with_capacity(l.len() / 4), flate2::Compression::fast());
                z.write_all(l).expect("writing to a Vec cannot fail");
                l.clear();
                z.finish().expect("writing to a Vec cannot fail")
            }
        }
    }
}

/// One shard's record being filled.
#[derive(Debug)]
struct Open {
    start: u128,
    end: u128,
    body: Body,
    first: Option<(u64, String)>,
    members: Vec<u64>,
}

/// The records being filled, one per open shard.
#[derive(Debug)]
pub struct ShardPacker {
    packing: Packing,
    shards: Vec<Open>,
    max_bytes: usize,
}

impl ShardPacker {
    /// Packed records for the shards of these hash key ranges, each at most `max_bytes`.
    pub fn new(packing: Packing, mut ranges: Vec<(u128, u128)>, max_bytes: usize) -> ShardPacker {
        ranges.sort_unstable();
        let shards = ranges
            .into_iter()
            .map(|(start, end)| Open { start, end, body: Body::new(packing), first: None, members: Vec::new() })
            .collect();
        ShardPacker { packing, shards, max_bytes }
    }

    /// Adds event `seq`'s record. Returns what is ready to send: the record it closed, or the
    /// event's own record when it cannot be packed (too large, or no known shard takes its key).
    pub fn push(&mut self, seq: u64, partition_key: String, data: Vec<u8>) -> Option<Entry> {
        let h = hash_key(&partition_key);
        let i = self.shards.partition_point(|s| s.end < h);
        let max = self.max_bytes;
        let alone = Body::new(self.packing).size_with(&partition_key, data.len(), partition_key.len());
        let Some(shard) = self.shards.get_mut(i).filter(|s| s.start <= h && alone <= max) else {
            return Some(Entry::new(seq, partition_key, data));
        };
        let first_len = shard.first.as_ref().map_or(partition_key.len(), |(_, pk)| pk.len());
        let closed =
            if shard.body.size_with(&partition_key, data.len(), first_len) <= max { None } else { close(shard) };
        shard.body.push(&partition_key, data);
        shard.members.push(seq);
        shard.first.get_or_insert((seq, partition_key));
        closed
    }

    /// Every record with something in it, closed (the sink's flush).
    pub fn drain(&mut self) -> Vec<Entry> {
        self.shards.iter_mut().filter_map(close).collect()
    }

    /// Events waiting in open records.
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
        data: shard.body.finish(),
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

    fn all(agg: &mut ShardPacker, n: u64, data_len: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> =
            (0..n).filter_map(|i| agg.push(i, format!("pk{i}"), vec![b'a' + (i % 26) as u8; data_len])).collect();
        out.extend(agg.drain());
        out
    }

    #[test]
    fn user_records_go_in_their_shards_aggregate_and_decode_back() {
        let mut agg = ShardPacker::new(Packing::Kpl, three(), 4_000);
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
        let mut agg = ShardPacker::new(Packing::Kpl, vec![(0, u128::MAX)], 1_000);
        let entries = all(&mut agg, 200, 40);
        for e in &entries[..entries.len() - 1] {
            assert!(e.size() <= 1_000 && e.size() > 1_000 - 60, "full aggregates: {} bytes", e.size());
        }
        assert_eq!(entries.iter().map(|e| e.members.len()).sum::<usize>(), 200);
    }

    #[test]
    fn what_cannot_be_aggregated_goes_plain() {
        let mut agg = ShardPacker::new(Packing::Kpl, vec![(0, 10)], 100);
        // Too large to share an aggregate.
        let big = agg.push(7, "k".into(), vec![0; 200]).expect("sent at once");
        assert_eq!((big.seq, big.explicit_hash_key, big.members.len(), big.data.len()), (7, None, 0, 200));
        // No known shard takes this key (the map is stale): plain, routed by its key.
        let stray = agg.push(8, "usa".into(), vec![1]).expect("sent at once");
        assert_eq!((stray.seq, stray.events()), (8, &[8][..]));
        assert!(agg.drain().is_empty());
    }

    #[test]
    fn gzip_lines_hold_each_shards_events_one_per_line() {
        let mut agg = ShardPacker::new(Packing::GzipLines, three(), 2_000);
        let entries = all(&mut agg, 1_000, 30);
        let mut seen = 0;
        for e in &entries {
            assert!(e.size() <= 2_000 && e.data.starts_with(&minutely_event::envelope::GZIP_MAGIC));
            let text = minutely_event::envelope::gunzip(&e.data).unwrap();
            let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
            assert_eq!(lines.len(), e.members.len());
            assert!(text.len() <= 2_000, "the lines before compression are bounded too");
            for (line, &seq) in lines.iter().zip(&e.members) {
                assert_eq!(*line, &[b'a' + (seq % 26) as u8; 30][..]);
            }
            seen += e.members.len();
        }
        assert_eq!(seen, 1_000);
        assert!(entries.len() < 30, "{} records", entries.len());
    }
}
