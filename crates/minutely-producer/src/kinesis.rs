//! The Kinesis sink: PutRecords batches within the limits, retries of exactly the entries that
//! failed, and an optional per-shard rate limit.
//!
//! A record counts as sent only when a PutRecords response gave it a sequence number. After
//! each call, the entries whose result carries an `ErrorCode` are sent again (never decided
//! from `FailedRecordCount`, which LocalStack reports wrongly), after an exponential backoff
//! with full jitter, until the retry deadline; what is left then is counted as failed.
//!
//! Delivery is at least once: a call that times out may have been applied, and its retry then
//! writes the records twice. Every record carries its event id, so consumers drop such copies.
//! Retrying only failed entries can reorder records of one partition key when a call partly
//! fails; the per-minute counts do not depend on order.

use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use md5::{Digest, Md5};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::batcher::{Batcher, Entry, Limits, Refused};
use crate::sink::{Sink, SinkError, SinkStats};
use crate::{PartitionKey, Sourced};

/// How long and how often to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_backoff: Duration,
    /// Give up on an entry this long after its batch was first sent.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            deadline: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in `[0, min(max, base * 2^attempt)]`.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let cap = self.base.saturating_mul(1u32 << attempt.min(20)).min(self.max_backoff);
        Duration::from_secs_f64(rng.random::<f64>() * cap.as_secs_f64())
    }
}

/// When each record was handed to the sink and when a PutRecords result acknowledged it, by the
/// sink's record number (input order). Kept only when asked for ([`KinesisSink::with_timeline`]).
#[derive(Debug, Default)]
pub struct Timeline {
    /// The event id's hash ([`minutely_event::id_hash`]; [`Timeline::NO_ID`] for raw bytes) and
    /// when it was handed to the sink: 32 bytes a record, with `acked` 48.
    pub sent: Vec<(u128, Instant)>,
    /// When Kinesis gave it a sequence number; `None`: refused or failed.
    pub acked: Vec<Option<Instant>>,
}

impl Timeline {
    /// The id of records that are not events ([`KinesisSink::send_raw`]).
    pub const NO_ID: u128 = 0;
}

/// Sends events to a Kinesis stream.
#[derive(Debug)]
pub struct KinesisSink {
    client: Client,
    stream: String,
    batcher: Batcher,
    retry: RetryPolicy,
    limiter: Option<ShardLimiter>,
    next_seq: u64,
    rng: ChaCha8Rng,
    stats: SinkStats,
    /// Records refused before sending, with why.
    pub refused: Vec<Refused>,
    /// Event ids given up on after the deadline.
    pub failed_ids: Vec<u64>,
    pub timeline: Option<Timeline>,
}

impl KinesisSink {
    pub fn new(client: Client, stream: impl Into<String>, limits: Limits, retry: RetryPolicy) -> Self {
        KinesisSink {
            client,
            stream: stream.into(),
            batcher: Batcher::new(limits),
            retry,
            limiter: None,
            next_seq: 0,
            rng: ChaCha8Rng::from_rng(&mut rand::rng()),
            stats: SinkStats::default(),
            refused: Vec::new(),
            failed_ids: Vec::new(),
            timeline: None,
        }
    }

    /// Holds each shard to Kinesis's 1,000 records/s and 1 MiB/s, from the shards' hash key
    /// ranges (read now with ListShards).
    pub async fn with_shard_rate_limit(mut self) -> Result<Self, SinkError> {
        let mut ranges = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = self.client.list_shards();
            call = match &token {
                Some(t) => call.next_token(t),
                None => call.stream_name(&self.stream),
            };
            let out =
                call.send().await.map_err(|e| SinkError::Kinesis(format!("ListShards: {}", e.into_service_error())))?;
            for shard in out.shards() {
                let open = shard.sequence_number_range().is_some_and(|r| r.ending_sequence_number().is_none());
                let range = shard.hash_key_range();
                if let (true, Some(r)) = (open, range) {
                    let parse =
                        |s: &str| s.parse::<u128>().map_err(|e| SinkError::Kinesis(format!("hash key {s}: {e}")));
                    ranges.push((parse(r.starting_hash_key())?, parse(r.ending_hash_key())?));
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        self.limiter = Some(ShardLimiter::new(ranges, 1000.0, f64::from(1u32 << 20)));
        Ok(self)
    }

    /// Keeps the [`Timeline`] of every record (for latency measurements), with room for
    /// `records` (48 bytes each) made at once: no doubling of a vector of millions.
    pub fn with_timeline(mut self, records: usize) -> Self {
        self.timeline = Some(Timeline { sent: Vec::with_capacity(records), acked: Vec::with_capacity(records) });
        self
    }

    async fn put(&mut self, batch: Vec<Entry>) -> Result<(), SinkError> {
        let started = Instant::now();
        let mut pending = batch;
        let mut attempt = 0u32;
        loop {
            if let Some(limiter) = &mut self.limiter {
                let wait = limiter.take(&pending, Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let entries = pending
                .iter()
                .map(|e| {
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(e.data.clone()))
                        .partition_key(&e.partition_key)
                        .build()
                        .expect("data and partition key are set")
                })
                .collect();
            self.stats.calls += 1;
            let result = self.client.put_records().stream_name(&self.stream).set_records(Some(entries)).send().await;
            match result {
                Ok(out) => {
                    let results = out.records();
                    if results.len() != pending.len() {
                        return Err(SinkError::Kinesis(format!(
                            "PutRecords answered {} results for {} records",
                            results.len(),
                            pending.len()
                        )));
                    }
                    let before = pending.len();
                    let now = Instant::now();
                    let mut i = 0;
                    pending.retain(|e| {
                        let failed = results[i].error_code().is_some();
                        i += 1;
                        if !failed && let Some(t) = &mut self.timeline {
                            t.acked[e.seq as usize] = Some(now);
                        }
                        failed
                    });
                    self.stats.sent += (before - pending.len()) as u64;
                }
                Err(e) if retryable(&e) => {}
                Err(e) => {
                    return Err(SinkError::Kinesis(format!(
                        "PutRecords to {}: {}",
                        self.stream,
                        e.into_service_error()
                    )));
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            let backoff = self.retry.backoff(attempt, &mut rand::rng());
            attempt += 1;
            if started.elapsed() + backoff > self.retry.deadline {
                self.stats.failed += pending.len() as u64;
                self.failed_ids.extend(pending.iter().map(|e| e.seq));
                return Ok(());
            }
            self.stats.retried += pending.len() as u64;
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Throttling, server errors, timeouts and connection errors are worth another try; a missing
/// stream, a bad argument or missing permissions are not.
fn retryable(e: &SdkError<PutRecordsError, aws_sdk_kinesis::config::http::HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(se) => !matches!(
            se.err(),
            PutRecordsError::ResourceNotFoundException(_)
                | PutRecordsError::InvalidArgumentException(_)
                | PutRecordsError::AccessDeniedException(_)
                | PutRecordsError::KmsAccessDeniedException(_)
                | PutRecordsError::KmsDisabledException(_)
                | PutRecordsError::KmsNotFoundException(_)
                | PutRecordsError::KmsInvalidStateException(_)
        ),
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    }
}

impl KinesisSink {
    /// Sends bytes that are not an event (fault injection: malformed records among good ones).
    pub async fn send_raw(&mut self, data: Vec<u8>, partition_key: String) -> Result<(), SinkError> {
        self.push(Timeline::NO_ID, partition_key, data).await
    }

    async fn push(&mut self, id: u128, partition_key: String, data: Vec<u8>) -> Result<(), SinkError> {
        let entry = Entry { seq: self.next_seq, partition_key, data };
        if let Some(t) = &mut self.timeline {
            t.sent.push((id, Instant::now()));
            t.acked.push(None);
        }
        self.next_seq += 1;
        match self.batcher.push(entry) {
            Ok(Some(full)) => self.put(full).await,
            Ok(None) => Ok(()),
            Err((why, _)) => {
                self.stats.rejected += 1;
                self.refused.push(why);
                Ok(())
            }
        }
    }
}

impl Sink for KinesisSink {
    async fn send(&mut self, sourced: Sourced, partition: PartitionKey) -> Result<(), SinkError> {
        let partition_key = partition.of(&sourced, &mut self.rng).into_owned();
        let id = match &self.timeline {
            Some(_) => minutely_event::id_hash(sourced.event.id.as_deref().unwrap_or_default()),
            None => Timeline::NO_ID,
        };
        self.push(id, partition_key, sourced.event.to_record()).await
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        match self.batcher.take() {
            Some(batch) => self.put(batch).await,
            None => Ok(()),
        }
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}

/// Creates `stream` with `shards` shards unless it exists, and waits until it is active (at most
/// `timeout`). Returns whether it was created.
pub async fn ensure_stream(client: &Client, stream: &str, shards: i32, timeout: Duration) -> Result<bool, SinkError> {
    let created = match client.create_stream().stream_name(stream).shard_count(shards).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => false,
        Err(e) => {
            return Err(SinkError::Kinesis(format!(
                "CreateStream {stream}: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(e)
            )));
        }
    };
    wait_active(client, stream, timeout).await?;
    Ok(created)
}

/// Waits until `stream` is active (after a create or a reshard), at most `timeout`.
pub async fn wait_active(client: &Client, stream: &str, timeout: Duration) -> Result<(), SinkError> {
    let deadline = Instant::now() + timeout;
    loop {
        let d = client.describe_stream_summary().stream_name(stream).send().await.map_err(|e| {
            SinkError::Kinesis(format!(
                "DescribeStreamSummary {stream}: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(e)
            ))
        })?;
        let status = d.stream_description_summary().map(|s| s.stream_status().clone());
        if status == Some(aws_sdk_kinesis::types::StreamStatus::Active) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(SinkError::Kinesis(format!("stream {stream} not active after {timeout:?} ({status:?})")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The shard a partition key goes to: the MD5 of the key, as a 128-bit big-endian integer,
/// inside the shard's hash key range.
pub fn hash_key(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

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
            let h = hash_key(&e.partition_key);
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

    #[test]
    fn hash_keys_are_the_md5_of_the_partition_key() {
        // `printf usa | md5sum`
        assert_eq!(hash_key("usa"), 0xada53304c5b9e4a839615b6e8f908eb6);
        assert_eq!(hash_key(""), 0xd41d8cd98f00b204e9800998ecf8427e);
    }

    #[test]
    fn one_shard_is_held_to_a_thousand_records_a_second() {
        let mut limiter = ShardLimiter::new(vec![(0, u128::MAX)], 1000.0, 1e9);
        let batch: Vec<Entry> =
            (0..500).map(|i| Entry { seq: i, partition_key: format!("k{i}"), data: vec![0; 10] }).collect();
        let t0 = Instant::now();
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
        let low: Vec<Entry> = (0..10).map(|i| Entry { seq: i, partition_key: on(true), data: vec![] }).collect();
        let high: Vec<Entry> = (0..10).map(|i| Entry { seq: i, partition_key: on(false), data: vec![] }).collect();
        let t0 = Instant::now();
        assert_eq!(limiter.take(&low, t0), Duration::ZERO);
        assert_eq!(limiter.take(&high, t0), Duration::ZERO);
        assert!(limiter.take(&low, t0) > Duration::ZERO);
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        let p = RetryPolicy {
            base: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            deadline: Duration::ZERO,
        };
        let mut rng = rand::rng();
        for attempt in 0..40 {
            let cap = Duration::from_millis((10u64 << attempt.min(20)).min(100));
            assert!(p.backoff(attempt, &mut rng) <= cap);
        }
    }
}
