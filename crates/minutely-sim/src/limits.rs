//! AWS's per-shard throughput limits as token buckets on the sim's clock.

/// A token bucket that refills `rate` tokens per second up to `capacity`, and may be driven
/// below zero by a call that is allowed to overdraw (a GetRecords returns up to 10 MiB even
/// though a shard serves 2 MiB/s: the calls after it are refused until the debt is repaid).
#[derive(Clone, Debug)]
pub struct Bucket {
    tokens: f64,
    capacity: f64,
    rate: f64,
    at_ms: i64,
}

impl Bucket {
    pub fn full(rate: f64, capacity: f64, now_ms: i64) -> Bucket {
        Bucket { tokens: capacity, capacity, rate, at_ms: now_ms }
    }

    fn refill(&mut self, now_ms: i64) {
        if now_ms > self.at_ms {
            let gained = (now_ms - self.at_ms) as f64 * self.rate / 1000.0;
            self.tokens = (self.tokens + gained).min(self.capacity);
            self.at_ms = now_ms;
        }
    }

    /// Takes `n` tokens if there are that many.
    pub fn try_take(&mut self, n: f64, now_ms: i64) -> bool {
        self.refill(now_ms);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// Whether any token is left (the bucket is not in debt).
    pub fn positive(&mut self, now_ms: i64) -> bool {
        self.refill(now_ms);
        self.tokens > 0.0
    }

    /// Takes `n` tokens, going into debt if needed.
    pub fn overdraw(&mut self, n: f64, now_ms: i64) {
        self.refill(now_ms);
        self.tokens -= n;
    }
}

/// AWS's control-plane rate of `op` (calls a second, per account): beyond it a call is
/// `LimitExceededException`. `None`: not limited here (data-plane calls have their per-shard
/// limits; ListShards's 1,000 a second per stream is not reached by a client that works).
pub fn control_rate(op: &str) -> Option<f64> {
    match op {
        "CreateStream" | "DeleteStream" | "ListStreams" | "SplitShard" | "MergeShards" => Some(5.0),
        "RegisterStreamConsumer" | "DeregisterStreamConsumer" | "ListStreamConsumers" => Some(5.0),
        "AddTagsToStream" | "RemoveTagsFromStream" | "ListTagsForStream" => Some(5.0),
        "UpdateStreamWarmThroughput" | "DescribeAccountSettings" | "UpdateAccountSettings" => Some(5.0),
        "DescribeLimits" => Some(1.0),
        "DescribeStream" => Some(10.0),
        "DescribeStreamSummary" | "DescribeStreamConsumer" => Some(20.0),
        _ => None,
    }
}

/// A bucket per rate-limited control-plane operation (a second's worth of burst).
#[derive(Debug, Default)]
pub struct ControlLimits {
    buckets: std::collections::HashMap<&'static str, Bucket>,
}

impl ControlLimits {
    /// Whether a call of `op` (at `rate` a second) is taken now.
    pub fn admit(&mut self, op: &'static str, rate: f64, now_ms: i64) -> bool {
        self.buckets.entry(op).or_insert_with(|| Bucket::full(rate, rate, now_ms)).try_take(1.0, now_ms)
    }
}

/// UpdateShardCount calls a stream may take in a rolling 24 hours.
pub const SCALINGS_PER_DAY: usize = 10;

/// The documented limits of one shard.
pub const WRITE_RECORDS_PER_S: f64 = 1000.0;
pub const WRITE_BYTES_PER_S: f64 = 1024.0 * 1024.0;
pub const READ_CALLS_PER_S: f64 = 5.0;
pub const READ_BYTES_PER_S: f64 = 2.0 * 1024.0 * 1024.0;

/// The buckets of one shard.
#[derive(Clone, Debug)]
pub struct ShardLimits {
    pub write_records: Bucket,
    pub write_bytes: Bucket,
    pub read_calls: Bucket,
    pub read_bytes: Bucket,
}

impl ShardLimits {
    pub fn new(now_ms: i64) -> ShardLimits {
        ShardLimits {
            write_records: Bucket::full(WRITE_RECORDS_PER_S, WRITE_RECORDS_PER_S, now_ms),
            write_bytes: Bucket::full(WRITE_BYTES_PER_S, WRITE_BYTES_PER_S, now_ms),
            read_calls: Bucket::full(READ_CALLS_PER_S, READ_CALLS_PER_S, now_ms),
            read_bytes: Bucket::full(READ_BYTES_PER_S, READ_BYTES_PER_S, now_ms),
        }
    }

    /// Admits one record of `bytes` (data and partition key) for writing, or refuses it and
    /// takes nothing. A record above the bucket's second (a large record, up to 10 MiB) bursts:
    /// it is taken when the bucket is full and drives it into debt, repaid at 1 MiB/s before
    /// the shard takes the next record (AWS: "the tank temporarily drains").
    pub fn admit_write(&mut self, bytes: usize, now_ms: i64) -> bool {
        self.write_records.refill(now_ms);
        self.write_bytes.refill(now_ms);
        let needed = (bytes as f64).min(self.write_bytes.capacity);
        if self.write_records.tokens >= 1.0 && self.write_bytes.tokens >= needed {
            self.write_records.tokens -= 1.0;
            self.write_bytes.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

/// The writes one shard met in one second of the sim's clock.
#[derive(Clone, Debug, Default)]
pub struct Demand {
    second: i64,
    records: u32,
    bytes: u64,
    /// A whole second met half the shard's limit: it splits at its next put.
    pub hot: bool,
}

impl Demand {
    /// Meters a write of `bytes` met at `now_ms`, taken or not.
    pub fn add(&mut self, bytes: usize, now_ms: i64) {
        let second = now_ms.div_euclid(1000);
        if second != self.second {
            self.hot |=
                f64::from(self.records) >= WRITE_RECORDS_PER_S / 2.0 || self.bytes as f64 >= WRITE_BYTES_PER_S / 2.0;
            (self.second, self.records, self.bytes) = (second, 0, 0);
        }
        self.records = self.records.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_plane_takes_its_rate_a_second() {
        let mut c = ControlLimits::default();
        let rate = control_rate("DescribeStream").unwrap();
        assert_eq!((0..15).filter(|_| c.admit("DescribeStream", rate, 0)).count(), 10);
        assert!(c.admit("CreateStream", 5.0, 0), "each operation has its own bucket");
        assert!(!c.admit("DescribeStream", rate, 50) && c.admit("DescribeStream", rate, 100), "one back every 100 ms");
        assert_eq!(control_rate("GetRecords"), None);
    }

    #[test]
    fn a_shard_takes_a_thousand_records_a_second() {
        let mut l = ShardLimits::new(0);
        let taken = (0..1500).filter(|_| l.admit_write(100, 0)).count();
        assert_eq!(taken, 1000);
        // Half a second later, 500 more.
        let taken = (0..1500).filter(|_| l.admit_write(100, 500)).count();
        assert_eq!(taken, 500);
    }

    #[test]
    fn a_shard_takes_a_mebibyte_a_second() {
        let mut l = ShardLimits::new(0);
        let taken = (0..20).filter(|_| l.admit_write(100 * 1024, 0)).count();
        assert_eq!(taken, 10);
        // A refused record takes nothing: a small one still fits.
        assert!(l.admit_write(24 * 1024, 0));
        assert!(!l.admit_write(1, 0));
    }

    #[test]
    fn a_large_record_bursts_and_is_repaid() {
        let mut l = ShardLimits::new(0);
        assert!(l.admit_write(100, 0));
        let ten = 10 * 1024 * 1024;
        assert!(!l.admit_write(ten, 0), "a large record needs the whole second's bucket");
        assert!(l.admit_write(ten, 1_000), "and takes it when full");
        assert!(!l.admit_write(1, 9_900), "the shard takes nothing until the debt is repaid");
        assert!(l.admit_write(1, 10_100));
    }

    #[test]
    fn a_large_read_is_repaid_before_the_next() {
        let mut b = Bucket::full(READ_BYTES_PER_S, READ_BYTES_PER_S, 0);
        assert!(b.positive(0));
        b.overdraw(10.0 * 1024.0 * 1024.0, 0);
        assert!(!b.positive(3_999));
        assert!(b.positive(4_001));
    }
}
