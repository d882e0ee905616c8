//! What a test suite needs of the sim between its cases, through the admin API
//! (`POST /_sim/streams/NAME/truncate` and `.../reset`): a stream emptied of its records, or put
//! back as CreateStream made it; and the streams as a snapshot's (`crate::snapshot`), taken and
//! restored. No IO.

use std::sync::Arc;

use super::consumers::Consumer;
use super::error::KinesisError;
use super::state::{Kinesis, Need};
use super::stream::{Record, Shard, Stream};
use super::wire::StreamRef;
use crate::snapshot::{ConsumerState, RecordState, ShardState, StreamState, decode, encode};

fn named(name: &str) -> StreamRef {
    StreamRef { stream_name: Some(name.to_owned()), stream_arn: None }
}

impl Kinesis {
    /// Drops every record of stream `name`, keeping its shards, consumers and settings. Positions
    /// go on (no sequence number is given twice), so an older iterator reads what comes next.
    /// Returns how many records were dropped.
    pub fn truncate(&mut self, name: &str, now_ms: i64) -> Result<u64, KinesisError> {
        let s = self.stream_mut(&named(name), now_ms, Need::Any)?;
        let mut dropped = 0;
        for shard in &mut s.shards {
            dropped += shard.records.len() as u64;
            shard.first = shard.end();
            shard.records.clear();
            shard.bytes = 0;
        }
        Ok(dropped)
    }

    /// Stream `name` as CreateStream made it, ACTIVE at once: as many shards as it has open now,
    /// over even hash ranges, no records, consumers or ledger; its mode, retention, maximum
    /// record size, warm throughput, tags and encryption kept. A new incarnation, as a stream deleted and created
    /// again: older iterators and sequence numbers do not reach it. Returns its shard count.
    pub fn reset_stream(&mut self, name: &str, now_ms: i64) -> Result<i64, KinesisError> {
        let incarnation = self.next_incarnation();
        let old = self.stream_mut(&named(name), now_ms, Need::Any)?;
        let mut new = Stream::new(old.name.clone(), incarnation, old.on_demand, old.open_count() as u32, now_ms);
        new.retention_hours = old.retention_hours;
        new.max_record_kib = old.max_record_kib;
        new.kms_key = old.kms_key.take();
        new.warm_mibps = old.warm_mibps;
        new.tags = std::mem::take(&mut old.tags);
        let shards = new.open_count();
        // Its subscriptions end at their next event: the incarnation they read is gone.
        *old = new;
        Ok(shards)
    }
}

impl Kinesis {
    /// Every stream but those being deleted, as a snapshot holds them.
    pub fn snapshot(&self) -> Vec<StreamState> {
        self.streams.values().filter(|s| s.deleting_until_ms.is_none()).map(stream_state).collect()
    }

    /// Makes the snapshot's streams, ACTIVE from `now_ms` (each a new incarnation), or says which
    /// part of the snapshot is wrong (and changes nothing that the caller keeps).
    pub fn restore(&mut self, streams: &[StreamState], now_ms: i64) -> Result<(), String> {
        for st in streams {
            let incarnation = self.next_incarnation();
            let s = restored(st, incarnation, now_ms).map_err(|e| format!("stream {:?}: {e}", st.name))?;
            if self.streams.insert(st.name.clone(), s).is_some() {
                return Err(format!("stream {:?} is in the snapshot twice", st.name));
            }
        }
        let total: i64 = self.streams.values().map(Stream::open_count).sum();
        super::state::check_quota(total).map_err(|e| e.message)
    }
}

fn stream_state(s: &Stream) -> StreamState {
    StreamState {
        name: s.name.clone(),
        on_demand: s.on_demand,
        created_ms: s.created_ms,
        retention_hours: s.retention_hours,
        max_record_kib: s.max_record_kib,
        kms_key: s.kms_key.clone(),
        warm_mibps: s.warm_mibps,
        tags: s.tags.clone(),
        shards: s
            .shards
            .iter()
            .map(|sh| ShardState {
                parent: sh.parent,
                adjacent_parent: sh.adjacent_parent,
                hash_start: sh.hash_start.to_string(),
                hash_end: sh.hash_end.to_string(),
                created_ms: sh.created_ms,
                closed: sh.closed,
                first: sh.first,
                records: sh
                    .records
                    .iter()
                    .map(|r| {
                        let (key, data) = r.bytes.split_at(r.key_len as usize);
                        let key = String::from_utf8_lossy(key).into_owned();
                        RecordState { key, data: encode(data), arrival_ms: r.arrival_ms }
                    })
                    .collect(),
            })
            .collect(),
        consumers: s
            .consumers
            .iter()
            .map(|c| ConsumerState { name: c.name.clone(), arn: c.arn.clone(), created_ms: c.created_ms })
            .collect(),
    }
}

/// A stream from its snapshot, checked as CreateStream and the reshards would check it.
fn restored(st: &StreamState, incarnation: u64, now_ms: i64) -> Result<Stream, String> {
    super::state::check_max_record_kib(st.max_record_kib).map_err(|e| e.message)?;
    if st.shards.is_empty() || st.shards.len() > super::state::SHARD_QUOTA as usize {
        return Err(format!("{} shards: a stream has between 1 and {}", st.shards.len(), super::state::SHARD_QUOTA));
    }
    let mut s = Stream::new(st.name.clone(), incarnation, st.on_demand, 1, st.created_ms);
    (s.retention_hours, s.max_record_kib) = (st.retention_hours, st.max_record_kib);
    (s.kms_key, s.tags, s.warm_mibps) = (st.kms_key.clone(), st.tags.clone(), st.warm_mibps);
    s.shards.clear();
    for (ordinal, sh) in st.shards.iter().enumerate() {
        let at = format!("shard {ordinal}");
        let key = |k: &str| k.parse::<u128>().map_err(|_| format!("{at}: hash key {k:?} is not a 128-bit integer"));
        let (start, end) = (key(&sh.hash_start)?, key(&sh.hash_end)?);
        let parents_ok = [sh.parent, sh.adjacent_parent].iter().flatten().all(|p| (*p as usize) < ordinal);
        if start > end || !parents_ok {
            return Err(format!("{at}: its range is empty or a parent comes after it"));
        }
        let mut shard = Shard::new(ordinal as u32, (start, end), (sh.parent, sh.adjacent_parent), sh.created_ms);
        (shard.closed, shard.first) = (sh.closed, sh.first);
        for (i, r) in sh.records.iter().enumerate() {
            let data = decode(&r.data, &format!("{at}, record {i}"))?;
            let key_len = u16::try_from(r.key.len()).map_err(|_| format!("{at}, record {i}: the key is too long"))?;
            let bytes: Arc<[u8]> = r.key.as_bytes().iter().chain(&data).copied().collect();
            shard.bytes += bytes.len() as u64;
            shard.records.push_back(Record { bytes, key_len, arrival_ms: r.arrival_ms, read: false });
        }
        s.shards.push(shard);
    }
    s.consumers = st
        .consumers
        .iter()
        .map(|c| Consumer { name: c.name.clone(), arn: c.arn.clone(), created_ms: c.created_ms })
        .collect();
    s.active_ms = now_ms;
    s.reindex();
    // Writes are routed among the open shards: they must cover every hash key once.
    let mut next = Some(0u128);
    for &(start, ordinal) in &s.open {
        if next != Some(start) {
            return Err(format!("the open shards leave a gap or overlap at hash key {start} (shard {ordinal})"));
        }
        next = s.shards[ordinal as usize].hash_end.checked_add(1);
    }
    if next.is_some() {
        return Err("the open shards do not reach the last hash key".into());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn input<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn put(k: &mut Kinesis, n: usize, now: i64) -> Vec<String> {
        let entries = (0..n)
            .map(|i| {
                super::super::state::entry(
                    Some(super::super::wire::Blob(vec![b'x'; 3])),
                    Some(format!("k{i}")),
                    None,
                    "",
                )
                .unwrap()
            })
            .collect();
        let fates = vec![super::super::state::Fate::Store; n];
        let out = k.put_records(&named("s"), entries, &fates, false, None, now).unwrap();
        out.records.into_iter().map(|r| r.sequence_number.unwrap()).collect()
    }

    fn read_all(k: &mut Kinesis, now: i64) -> usize {
        let shards = k.list_shards(input(json!({"StreamName": "s"})), now).unwrap().shards;
        let mut n = 0;
        for sh in shards {
            let i = json!({"StreamName": "s", "ShardId": sh.shard_id, "ShardIteratorType": "TRIM_HORIZON"});
            let it = k.get_shard_iterator(input(i), now).unwrap().shard_iterator;
            let page = k.get_records(&input(json!({"ShardIterator": it})), Default::default(), now).unwrap();
            n += page.records.len();
        }
        n
    }

    #[test]
    fn truncate_empties_the_shards_and_never_gives_a_sequence_number_twice() {
        let mut k = Kinesis::new(false, crate::Shapes::NONE);
        k.create_stream(input(json!({"StreamName": "s", "ShardCount": 2})), 0).unwrap();
        let before = put(&mut k, 10, 0);
        assert_eq!(k.truncate("s", 0).unwrap(), 10);
        assert_eq!(read_all(&mut k, 0), 0);
        let after = put(&mut k, 10, 0);
        assert!(after.iter().all(|s| !before.contains(s)));
        assert_eq!(read_all(&mut k, 0), 10);
        assert_eq!(k.truncate("nothing", 0).unwrap_err().code, "ResourceNotFoundException");
    }

    #[test]
    fn reset_is_a_new_stream_with_the_old_settings() {
        let mut k = Kinesis::new(false, crate::Shapes::NONE);
        k.create_stream(input(json!({"StreamName": "s", "ShardCount": 1, "MaxRecordSizeInKiB": 2048})), 0).unwrap();
        let split = json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "1000"});
        k.split_shard(input(split), 0).unwrap();
        put(&mut k, 5, 0);
        let i = json!({"StreamName": "s", "ShardId": "shardId-000000000001", "ShardIteratorType": "TRIM_HORIZON"});
        let old_iterator = k.get_shard_iterator(input(i), 0).unwrap().shard_iterator;
        assert_eq!(k.reset_stream("s", 10).unwrap(), 2, "the two open shards");
        let shards = k.list_shards(input(json!({"StreamName": "s"})), 10).unwrap().shards;
        assert_eq!(shards.len(), 2, "no closed parent any more");
        assert_eq!(read_all(&mut k, 10), 0);
        let e = k.get_records(&input(json!({"ShardIterator": old_iterator})), Default::default(), 10).unwrap_err();
        assert_eq!(e.code, "ResourceNotFoundException", "an old iterator does not reach the new stream");
        let d = k.describe_stream_summary(input(json!({"StreamName": "s"})), 10).unwrap().stream_description_summary;
        assert_eq!((d.max_record_size_in_kib, d.stream_status), (2048, "ACTIVE"));
    }
}
