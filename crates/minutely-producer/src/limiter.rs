//! The per-shard rate limit a producer can hold itself to: Kinesis's 1,000 records/s and
//! 1 MiB/s per shard, from each record's hash key (its explicit hash key, or the MD5 of its
//! partition key).

use std::time::Duration;

// tokio's clock: a test under a paused clock sees the same waits on any machine.
use minutely_aws::clock::Instant;

use crate::batcher::Entry;

/// Token buckets per open shard, refilled continuously, one second deep.
#[derive(Debug)]
pub struct ShardLimiter {
    /// (start, end, records available, bytes available), sorted by start.
    shards: Vec<(u128, u128, f64, f64)>,
    records_per_s: f64,
    bytes_per_s: f64,
    last: Option<Instant>,
}

impl ShardLimiter {
    pub fn new(mut ranges: Vec<(u128, u128)>, records_per_s: f64, bytes_per_s: f64) -> Self {
        ranges.sort_unstable();
        let shards = ranges.into_iter().map(|(s, e)| (s, e, records_per_s, bytes_per_s)).collect();
        ShardLimiter { shards, records_per_s, bytes_per_s, last: None }
    }

    /// Takes the batch's records and bytes from their shards' buckets and returns how long to
    /// wait before sending it so that no shard goes over its rate.
    pub fn take(&mut self, batch: &[Entry], now: Instant) -> Duration {
        let elapsed = self.last.map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64());
        self.last = Some(now);
        let (rps, bps) = (self.records_per_s, self.bytes_per_s);
        for s in &mut self.shards {
            s.2 = (s.2 + elapsed * rps).min(rps);
            s.3 = (s.3 + elapsed * bps).min(bps);
        }
        for e in batch {
            let h = e.hash_key();
            let i = self.shards.partition_point(|s| s.1 < h);
            if let Some(s) = self.shards.get_mut(i).filter(|s| s.0 <= h) {
                s.2 -= 1.0;
                s.3 -= e.size() as f64;
            }
        }
        let wait = self.shards.iter().map(|s| (-s.2 / rps).max(-s.3 / bps).max(0.0)).fold(0.0, f64::max);
        Duration::from_secs_f64(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::hash_key;

    #[test]
    fn hash_keys_are_the_md5_of_the_partition_key() {
        // `printf usa | md5sum`
        assert_eq!(hash_key("usa"), 0xada53304c5b9e4a839615b6e8f908eb6);
        assert_eq!(hash_key(""), 0xd41d8cd98f00b204e9800998ecf8427e);
    }

    #[test]
    fn one_shard_is_held_to_a_thousand_records_a_second() {
        let mut limiter = ShardLimiter::new(vec![(0, u128::MAX)], 1000.0, 1e9);
        let batch: Vec<Entry> = (0..500).map(|i| Entry::new(i, format!("k{i}"), vec![0; 10])).collect();
        let t0 = minutely_aws::clock::now();
        assert_eq!(limiter.take(&batch, t0), Duration::ZERO, "the first second's budget");
        assert_eq!(limiter.take(&batch, t0), Duration::ZERO);
        let wait = limiter.take(&batch, t0);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        // Half a second later the bucket is back at zero: the next batch waits half a second.
        let wait = limiter.take(&batch, t0 + Duration::from_millis(500));
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn records_of_another_shard_do_not_wait() {
        let half = u128::MAX / 2;
        let mut limiter = ShardLimiter::new(vec![(half + 1, u128::MAX), (0, half)], 10.0, 1e9);
        let on = |low: bool| (0..).map(|i| format!("k{i}")).find(|k| (hash_key(k) <= half) == low).unwrap();
        let low: Vec<Entry> = (0..10).map(|i| Entry::new(i, on(true), vec![])).collect();
        let high: Vec<Entry> = (0..10).map(|i| Entry::new(i, on(false), vec![])).collect();
        let t0 = minutely_aws::clock::now();
        assert_eq!(limiter.take(&low, t0), Duration::ZERO);
        assert_eq!(limiter.take(&high, t0), Duration::ZERO);
        assert!(limiter.take(&low, t0) > Duration::ZERO);
    }
}
