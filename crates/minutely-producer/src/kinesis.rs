//! The Kinesis sink and its retrying PutRecords service: optional packing of several events per
//! record ([`crate::aggregation`]: KPL aggregates, gzip lines), batches within the limits ([`crate::batcher`]), requests and their
//! per-entry results ([`crate::request`]), retries of exactly the entries that failed, and an
//! optional per-shard rate limit ([`crate::limiter`]).
//!
//! A record counts as sent only when a PutRecords response gave it a sequence number. After
//! each call, the entries whose result carries an `ErrorCode` are sent again (never decided
//! from `FailedRecordCount`, which LocalStack reports wrongly), after an exponential backoff
//! with full jitter ([`minutely_aws::retry`]), until the retry deadline; what is left then is
//! counted as failed. A call that fails for a reason no retry can fix (no credentials, no
//! region, a missing stream, access denied) ends the run at once with that reason.
//!
//! Delivery is at least once: a call that times out may have been applied, and its retry then
//! writes the records twice. Every record carries its event id, so consumers drop such copies.
//! Retrying only failed entries can reorder records of one partition key when a call partly
//! fails; the per-minute counts do not depend on order.

use minutely_aws::clock;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_kinesis::Client;
pub use minutely_aws::RetryPolicy;
use minutely_aws::rng;
use minutely_aws::{AwsError, Backoff, Cause, RetryLog};
use minutely_event::RecordEncoder;
use rand::Rng;

use crate::aggregation::{Packing, ShardPacker};
use crate::batcher::{Batcher, Entry, Limits, Refused};
pub use crate::limiter::ShardLimiter;
use crate::partition::PartitionKey;
pub use crate::partition::hash_key;
use crate::request;
use crate::sink::{Sink, SinkError, SinkStats};
use crate::source::Sourced;
pub use crate::timeline::Timeline;

/// Sends events to a Kinesis stream.
#[derive(Debug)]
pub struct KinesisSink {
    client: Client,
    stream: String,
    batcher: Batcher,
    retry: RetryPolicy,
    limiter: Option<ShardLimiter>,
    packer: Option<ShardPacker>,
    encoder: Arc<RecordEncoder>,
    next_seq: u64,
    rng: rng::Rng,
    stats: SinkStats,
    /// Records refused before sending, with why.
    pub refused: Vec<Refused>,
    /// Event ids given up on after the deadline.
    pub failed_ids: Vec<u64>,
    /// Why the last retried entries or call failed.
    pub last_error: Option<String>,
    pub timeline: Option<Timeline>,
    log: RetryLog,
    /// Events acknowledged so far, for a reader on another task (a second Ctrl-C's account).
    acked: Option<Arc<AtomicU64>>,
}

impl KinesisSink {
    pub fn new(client: Client, stream: impl Into<String>, limits: Limits, retry: RetryPolicy) -> Self {
        let stream = stream.into();
        KinesisSink {
            client,
            log: RetryLog::stderr(format!("PutRecords to stream {stream}")),
            stream,
            batcher: Batcher::new(limits),
            retry,
            limiter: None,
            packer: None,
            encoder: Arc::new(RecordEncoder::minutely()),
            next_seq: 0,
            rng: rng::seeded(rng::fresh_seed()),
            stats: SinkStats::default(),
            refused: Vec::new(),
            failed_ids: Vec::new(),
            last_error: None,
            timeline: None,
            acked: None,
        }
    }

    /// Draws partition keys and backoff jitter from `seed` (the same seed, the same keys and
    /// waits).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = rng::seeded(seed);
        self
    }

    /// Holds each shard to Kinesis's 1,000 records/s and 1 MiB/s, from the shards' hash key
    /// ranges (read now with ListShards).
    pub async fn with_shard_rate_limit(mut self) -> Result<Self, SinkError> {
        let ranges = self.shard_ranges().await?;
        self.limiter = Some(ShardLimiter::new(ranges, 1000.0, f64::from(1u32 << 20)));
        Ok(self)
    }

    /// Writes each event as `encoder` says (default: minutely's record format).
    pub fn with_encoder(mut self, encoder: Arc<RecordEncoder>) -> Self {
        self.encoder = encoder;
        self
    }

    /// Packs the events bound for each shard into one record, KPL-aggregated or as gzip
    /// lines, of at most `max_bytes` ([`crate::aggregation`]), from the shards' hash key ranges
    /// (read now with ListShards).
    pub async fn with_aggregation(mut self, packing: Packing, max_bytes: usize) -> Result<Self, SinkError> {
        let ranges = self.shard_ranges().await?;
        self.packer = Some(ShardPacker::new(packing, ranges, max_bytes));
        Ok(self)
    }

    async fn shard_ranges(&self) -> Result<Vec<(u128, u128)>, SinkError> {
        let ranges = minutely_aws::kinesis::open_ranges(&self.client, &self.stream).await?;
        Ok(ranges.into_iter().map(|(lo, hi, _)| (lo, hi)).collect())
    }

    /// Keeps the [`Timeline`] of every record (for latency measurements), with room for
    /// Also counts the events Kinesis acknowledged in `acked`, as they are.
    pub fn counting_acked_in(mut self, acked: Arc<AtomicU64>) -> Self {
        self.acked = Some(acked);
        self
    }

    /// `records` (48 bytes each) made at once: no doubling of a vector of millions.
    pub fn with_timeline(mut self, records: usize) -> Self {
        self.timeline = Some(Timeline { sent: Vec::with_capacity(records), acked: Vec::with_capacity(records) });
        self
    }

    async fn put(&mut self, batch: Vec<Entry>) -> Result<(), SinkError> {
        let mut backoff = Backoff::new(self.retry, self.rng.random());
        let mut pending = batch;
        loop {
            if let Some(limiter) = &mut self.limiter {
                let wait = limiter.take(&pending, clock::now());
                if !wait.is_zero() {
                    clock::sleep(wait).await;
                }
            }
            let entries = request::entries(&pending);
            self.stats.calls += 1;
            let result = self.client.put_records().stream_name(&self.stream).set_records(Some(entries)).send().await;
            let refused = match result {
                Ok(out) => {
                    let results = out.records();
                    if results.len() != pending.len() {
                        let message = format!("{} results for {} records", results.len(), pending.len());
                        return Err(AwsError::new("PutRecords", self.target(), Cause::Other, message).into());
                    }
                    let now = clock::now();
                    let (timeline, stats) = (&mut self.timeline, &mut self.stats);
                    request::keep_failed(&mut pending, results, |e| {
                        stats.records += 1;
                        stats.sent += e.events().len() as u64;
                        if let Some(t) = timeline {
                            for &seq in e.events() {
                                t.acked[seq as usize] = Some(now);
                            }
                        }
                    })
                }
                Err(e) => {
                    let e = AwsError::from_sdk("PutRecords", self.target(), &e);
                    if !self.retry.retries(&e) {
                        return Err(e.into());
                    }
                    let events = pending.iter().map(|e| e.events().len() as u64).sum();
                    let throttled_events = if e.cause == Cause::Throttled { events } else { 0 };
                    request::Refused { first: Some(e.to_string()), throttled_events }
                }
            };
            if let Some(acked) = &self.acked {
                acked.store(self.stats.sent, Ordering::Relaxed);
            }
            if pending.is_empty() {
                return Ok(());
            }
            let why = refused.first.unwrap_or_default();
            let events: u64 = pending.iter().map(|e| e.events().len() as u64).sum();
            let Some(wait) = backoff.next_wait() else {
                self.stats.failed += events;
                self.failed_ids.extend(pending.iter().flat_map(|e| e.events().iter().copied()));
                self.last_error = Some(why);
                return Ok(());
            };
            self.stats.retried += events;
            self.stats.throttled += refused.throttled_events;
            self.log.retried(pending.len() as u64, &why);
            self.last_error = Some(why);
            clock::sleep(wait).await;
        }
    }

    fn target(&self) -> String {
        format!("stream {}", self.stream)
    }
}

impl KinesisSink {
    /// Sends bytes that are not an event (fault injection: malformed records among good ones).
    pub async fn send_raw(&mut self, data: Vec<u8>, partition_key: String) -> Result<(), SinkError> {
        self.push(Timeline::NO_ID, partition_key, data).await
    }

    async fn push(&mut self, id: u128, partition_key: String, data: Vec<u8>) -> Result<(), SinkError> {
        let seq = self.next_seq;
        if let Some(t) = &mut self.timeline {
            t.sent.push((id, clock::now()));
            t.acked.push(None);
        }
        self.next_seq += 1;
        let entry = match &mut self.packer {
            None => Entry::new(seq, partition_key, data),
            Some(packer) => match packer.push(seq, partition_key, data) {
                Some(ready) => ready,
                None => return Ok(()),
            },
        };
        self.batch(entry).await
    }

    /// Adds a record to the batch being filled; sends the batch it closed.
    async fn batch(&mut self, entry: Entry) -> Result<(), SinkError> {
        match self.batcher.push(entry) {
            Ok(Some(full)) => self.put(full).await,
            Ok(None) => Ok(()),
            Err(refused) => {
                let (why, entry) = *refused;
                self.stats.rejected += entry.events().len() as u64;
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
        let mut data = Vec::with_capacity(128);
        if let Err(why) = self.encoder.encode(&sourced.event, &mut data) {
            self.stats.rejected += 1;
            self.refused.push(Refused::Unencodable { seq: self.next_seq, why });
            return Ok(());
        }
        self.push(id, partition_key, data).await
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        for aggregate in self.packer.as_mut().map(ShardPacker::drain).unwrap_or_default() {
            self.batch(aggregate).await?;
        }
        match self.batcher.take() {
            Some(batch) => self.put(batch).await,
            None => Ok(()),
        }
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}
