//! Packing records into PutRecords calls within Kinesis's limits. Pure: no IO, no clock.

/// Kinesis's PutRecords limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Records per call.
    pub max_records: usize,
    /// Bytes per call: data plus partition keys.
    pub max_call_bytes: usize,
    /// Bytes per record: data plus partition key.
    pub max_record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_records: 500, max_call_bytes: 5 << 20, max_record_bytes: 1 << 20 }
    }
}

/// A partition key longer than this is refused by Kinesis.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// One record on its way to Kinesis. `seq` is the producer's own number for its event (input
/// order); an aggregated record holds several events, `members`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub partition_key: String,
    /// Routes the record to the shard whose range holds this hash key, instead of the MD5 of
    /// the partition key (a KPL aggregate goes to the shard its user records are bound for).
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
    /// The events of a KPL aggregate, by `seq`, in the order of its user records; empty for a
    /// record of one event (`seq`).
    pub members: Vec<u64>,
}

impl Entry {
    /// A record of one event.
    pub fn new(seq: u64, partition_key: String, data: Vec<u8>) -> Entry {
        Entry { seq, partition_key, explicit_hash_key: None, data, members: Vec::new() }
    }

    /// What Kinesis counts against its limits.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }

    /// The events this record carries, by `seq`.
    pub fn events(&self) -> &[u64] {
        if self.members.is_empty() { std::slice::from_ref(&self.seq) } else { &self.members }
    }

    /// The hash key that picks the record's shard.
    pub fn hash_key(&self) -> u128 {
        self.explicit_hash_key
            .as_deref()
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| crate::partition::hash_key(&self.partition_key))
    }
}

/// Why a record can never be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("record {seq} is {size} bytes with its partition key, over Kinesis's {limit}-byte limit")]
    TooLarge { seq: u64, size: usize, limit: usize },
    #[error("record {seq} has a partition key of {chars} characters; Kinesis takes 1 to 256")]
    BadPartitionKey { seq: u64, chars: usize },
    #[error("event {seq} cannot be written as a record: {why}")]
    Unencodable { seq: u64, why: String },
}

/// Fills batches in input order; a batch is handed out when the next record would not fit.
#[derive(Debug, Default)]
pub struct Batcher {
    limits: Limits,
    current: Vec<Entry>,
    bytes: usize,
}

impl Batcher {
    pub fn new(limits: Limits) -> Self {
        Batcher { limits, current: Vec::new(), bytes: 0 }
    }

    /// Adds a record. Returns the full batch it closed, if any. A record that can never be sent
    /// is refused alone; the batch being filled is untouched.
    pub fn push(&mut self, entry: Entry) -> Result<Option<Vec<Entry>>, Box<(Refused, Entry)>> {
        let chars = entry.partition_key.chars().count();
        if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
            return Err(Box::new((Refused::BadPartitionKey { seq: entry.seq, chars }, entry)));
        }
        let size = entry.size();
        if size > self.limits.max_record_bytes || size > self.limits.max_call_bytes {
            let limit = self.limits.max_record_bytes.min(self.limits.max_call_bytes);
            return Err(Box::new((Refused::TooLarge { seq: entry.seq, size, limit }, entry)));
        }
        let full = if self.current.len() + 1 > self.limits.max_records || self.bytes + size > self.limits.max_call_bytes
        {
            self.take()
        } else {
            None
        };
        self.bytes += size;
        self.current.push(entry);
        Ok(full)
    }

    /// The batch being filled, if it has anything.
    pub fn take(&mut self) -> Option<Vec<Entry>> {
        self.bytes = 0;
        (!self.current.is_empty()).then(|| std::mem::take(&mut self.current))
    }

    pub fn len(&self) -> usize {
        self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(seq: u64, key: &str, size: usize) -> Entry {
        Entry::new(seq, key.into(), vec![b'x'; size])
    }

    #[test]
    fn an_oversized_record_is_refused_alone() {
        let mut b = Batcher::new(Limits::default());
        assert_eq!(b.push(entry(0, "a", 10)), Ok(None));
        let (why, back) = *b.push(entry(1, "a", 1 << 20)).unwrap_err();
        assert_eq!(why, Refused::TooLarge { seq: 1, size: (1 << 20) + 1, limit: 1 << 20 });
        assert_eq!(back.seq, 1);
        assert_eq!(b.push(entry(2, "a", (1 << 20) - 1)), Ok(None), "data plus key at exactly 1 MiB fits");
        assert_eq!(b.take().unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 2]);
        assert!(b.push(entry(3, "", 1)).is_err());
        assert!(b.push(entry(4, &"k".repeat(257), 1)).is_err());
    }

    #[test]
    fn five_hundred_records_make_a_call() {
        let mut b = Batcher::new(Limits::default());
        let mut full = Vec::new();
        for i in 0..1001 {
            full.extend(b.push(entry(i, "k", 1)).unwrap());
        }
        assert_eq!(full.iter().map(Vec::len).collect::<Vec<_>>(), vec![500, 500]);
        assert_eq!(b.len(), 1);
    }

    proptest! {
        /// No batch over a limit, no record lost or sent twice, input order kept (so, per
        /// partition key too), and only records that can never fit are refused.
        #[test]
        fn batches_respect_the_limits_and_keep_everything_in_order(
            sizes in proptest::collection::vec((0usize..4, 0usize..3000), 0..400),
            max_records in 1usize..20,
            max_call_bytes in 1usize..20_000,
            max_record_bytes in 1usize..8_000,
        ) {
            let limits = Limits { max_records, max_call_bytes, max_record_bytes };
            let mut b = Batcher::new(limits);
            let mut batches = Vec::new();
            let mut refused = Vec::new();
            for (seq, &(key, size)) in sizes.iter().enumerate() {
                match b.push(entry(seq as u64, &format!("key{key}"), size)) {
                    Ok(full) => batches.extend(full),
                    Err(r) => refused.push(r.1.seq),
                }
            }
            batches.extend(b.take());
            let mut seen = Vec::new();
            for batch in &batches {
                prop_assert!(!batch.is_empty());
                prop_assert!(batch.len() <= max_records);
                prop_assert!(batch.iter().map(Entry::size).sum::<usize>() <= max_call_bytes);
                prop_assert!(batch.iter().all(|e| e.size() <= max_record_bytes));
                seen.extend(batch.iter().map(|e| e.seq));
            }
            let expected_refused: Vec<u64> = sizes.iter().enumerate()
                .filter(|(_, (_, size))| size + 4 > max_record_bytes.min(max_call_bytes))
                .map(|(i, _)| i as u64).collect();
            prop_assert_eq!(&refused, &expected_refused);
            let expected_sent: Vec<u64> = (0..sizes.len() as u64).filter(|s| !refused.contains(s)).collect();
            prop_assert_eq!(seen, expected_sent, "every record once, in input order");
        }
    }
}
