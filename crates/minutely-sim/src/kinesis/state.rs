//! The streams, their shards and their records: Kinesis's semantics without any IO.
//!
//! A shard keeps its records in a `VecDeque` indexed by their position since the shard was
//! created, so a sequence number, an iterator or a `Limit` is an index: every operation costs
//! the same at any fill. Sequence numbers are 56-digit decimal strings, as AWS's are, that
//! carry the stream's incarnation, the shard's ordinal and the record's position; within a
//! shard they increase, and every shard created later (a child) has larger ones.

use std::collections::BTreeMap;

use super::error::KinesisError;
pub use super::stream::{
    ACCOUNT, DEFAULT_MAX_RECORD_KIB, ITERATOR_TTL_MS, MAX_GET_RECORDS, MAX_GET_RECORDS_BYTES, MAX_PUT_RECORDS_BYTES,
    MAX_PUT_RECORDS_ENTRIES, MAX_RECORD_BYTES, MAX_RECORD_KIB, ON_DEMAND_SHARDS, REGION, hash_key, shard_id,
};
use super::stream::{Iter, Record, Shard, Start, Stream, parse_shard_id, sequence_number};
use super::wire::*;
use crate::faults::EntryError;

/// The fault dice's verdicts on one GetRecords call: its iterator expired, its page left empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dice {
    /// The `kms_errors` fault's error for this call (it hits encrypted streams only).
    pub kms: Option<&'static str>,
    pub expire: bool,
    pub empty: bool,
}
use crate::stats::{Ledger, StreamCounts};

/// What a PutRecords entry needs, already checked and routed.
#[derive(Debug)]
pub struct Entry {
    pub data: Vec<u8>,
    pub partition_key: String,
    pub hash: u128,
}

/// An entry's fate decided before it is applied: by the fault dice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Store,
    Fail(EntryError),
}

/// Every stream.
#[derive(Debug, Default)]
pub struct Kinesis {
    pub(super) streams: BTreeMap<String, Stream>,
    incarnations: u64,
    pub limits: bool,
    /// What the limits refused: counted here, under the streams' lock, and shown in [`crate::Stats`].
    pub limit_stats: crate::stats::LimitStats,
    /// Enhanced fan-out's live subscriptions (`fanout.rs`).
    pub(super) subscriptions: super::consumers::Subscriptions,
    /// The control plane's per-account rates, with limits on.
    pub(super) control: crate::limits::ControlLimits,
    /// How long streams stay CREATING, UPDATING and DELETING.
    pub shapes: crate::Shapes,
    /// The account's MinimumThroughputBillingCommitment (warm throughput needs it).
    pub(super) commitment: super::account::Commitment,
    /// Every stream's ledger keeps the records trimmed unread ([`Kinesis::keep_trimmed`]).
    keep_trimmed: bool,
}

/// What an operation needs of a stream's state (AWS's rules, as kinesalite has them too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Need {
    /// Any state: the describe and list calls, tags.
    Any,
    /// Reads and writes: ACTIVE or UPDATING, else `ResourceNotFoundException`.
    Data,
    /// ListShards: not CREATING (`ResourceInUseException`) nor DELETING (not found).
    Shards,
    /// A change of the stream (reshards, its mode, its deletion): ACTIVE, else
    /// `ResourceInUseException`.
    Change,
}

/// The account's shard quota: open shards over every stream (AWS's default in its large
/// regions). It also bounds what one client can make the sim hold.
pub const SHARD_QUOTA: i64 = 20_000;
/// UpdateShardCount scales a stream to at most this many shards.
pub const MAX_SHARDS_PER_UPDATE: i64 = 10_000;

/// Refuses a change that would leave `total` open shards in the account.
pub(super) fn check_quota(total: i64) -> Result<(), KinesisError> {
    if total > SHARD_QUOTA {
        return Err(KinesisError::limit(format!(
            "This request would exceed the shard limit for the account {ACCOUNT} in {REGION}. Shards after it: {total}. Limit: {SHARD_QUOTA}."
        )));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), KinesisError> {
    if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        return Err(KinesisError::validation(format!(
            "1 validation error detected: Value '{name}' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128"
        )));
    }
    Ok(())
}

/// The stream a request names, by StreamName or StreamARN.
pub(super) fn stream_name(r: &StreamRef) -> Result<String, KinesisError> {
    match (&r.stream_name, &r.stream_arn) {
        (Some(n), _) => Ok(n.clone()),
        (None, Some(arn)) => {
            arn.rsplit_once(":stream/").map(|(_, n)| n.to_owned()).filter(|n| !n.is_empty()).ok_or_else(|| {
                KinesisError::invalid(format!(
                    "StreamARN {arn} is not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)"
                ))
            })
        }
        (None, None) => Err(KinesisError::validation("Either StreamName or StreamARN should be provided.")),
    }
}

pub(super) fn required<T>(v: Option<T>, member: &str) -> Result<T, KinesisError> {
    v.ok_or_else(|| {
        KinesisError::validation(format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"))
    })
}

/// A PutRecords answer's entry: where it was stored, or why not.
fn result_entry(ordinal: u32, result: Result<String, (&'static str, String)>) -> PutRecordsResultEntry {
    match result {
        Ok(seq) => PutRecordsResultEntry {
            shard_id: Some(shard_id(ordinal)),
            sequence_number: Some(seq),
            error_code: None,
            error_message: None,
        },
        Err((code, message)) => PutRecordsResultEntry {
            shard_id: None,
            sequence_number: None,
            error_code: Some(code),
            error_message: Some(message),
        },
    }
}

/// Checks one record's members and routes it: the checks are AWS's `ValidationException`s.
pub fn entry(
    data: Option<Blob>,
    partition_key: Option<String>,
    explicit_hash_key: Option<String>,
    at: &str,
) -> Result<Entry, KinesisError> {
    let data = required(data, &format!("{at}data"))?.0;
    let partition_key = required(partition_key, &format!("{at}partitionKey"))?;
    if partition_key.is_empty() || partition_key.chars().count() > 256 {
        return Err(KinesisError::validation(format!(
            "1 validation error detected: Value at '{at}partitionKey' failed to satisfy constraint: Member must have length between 1 and 256"
        )));
    }
    if data.len() + partition_key.len() > MAX_RECORD_BYTES {
        return Err(KinesisError::validation(format!(
            "1 validation error detected: Value at '{at}data' failed to satisfy constraint: Member must have length less than or equal to {MAX_RECORD_BYTES} (with the partition key: {} bytes)",
            data.len() + partition_key.len()
        )));
    }
    let hash = match explicit_hash_key {
        Some(k) => k
            .parse::<u128>()
            .ok()
            .filter(|_| k.len() <= 39 && k.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| KinesisError::invalid(format!("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {k}")))?,
        None => hash_key(&partition_key),
    };
    Ok(Entry { data, partition_key, hash })
}

impl Kinesis {
    pub fn new(limits: bool, shapes: crate::Shapes) -> Kinesis {
        Kinesis { limits, shapes, ..Kinesis::default() }
    }

    /// The stream `r` names, if its state allows what `need` says; a stream whose deletion is
    /// over is removed here (lazily: nothing runs between calls).
    pub(super) fn stream_mut(&mut self, r: &StreamRef, now_ms: i64, need: Need) -> Result<&mut Stream, KinesisError> {
        let name = stream_name(r)?;
        if self.streams.get(&name).is_some_and(|s| s.gone(now_ms)) {
            self.streams.remove(&name);
        }
        let s = self.streams.get_mut(&name).ok_or_else(|| not_found(&name))?;
        let status = s.status(now_ms);
        let refused = match (need, status) {
            (Need::Any, _) | (Need::Data | Need::Shards, "ACTIVE" | "UPDATING") | (Need::Change, "ACTIVE") => None,
            (Need::Data | Need::Shards, "DELETING") | (Need::Data, _) => Some(not_found(&name)),
            _ => Some(KinesisError::in_use(format!(
                "Stream {name} under account {ACCOUNT} not ACTIVE, instead in state {status}"
            ))),
        };
        if let Some(e) = refused {
            return Err(e);
        }
        s.trim(now_ms);
        Ok(s)
    }

    pub fn create_stream(&mut self, input: CreateStreamInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let name = required(input.stream_name, "streamName")?;
        check_name(&name)?;
        let on_demand = match input.stream_mode_details.and_then(|m| m.stream_mode).as_deref() {
            None | Some("PROVISIONED") => false,
            Some("ON_DEMAND") => true,
            Some(other) => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]"
                )));
            }
        };
        let count = match (on_demand, input.shard_count) {
            (true, None) => ON_DEMAND_SHARDS,
            (true, Some(_)) => {
                return Err(KinesisError::validation("ShardCount must not be given for an ON_DEMAND stream"));
            }
            (false, None) => return Err(KinesisError::validation("ShardCount is required for a PROVISIONED stream")),
            (false, Some(n)) if n >= 1 => {
                // Saturating: a ShardCount near i64::MAX wrapped past the quota once.
                check_quota(self.open_shards_except(&StreamRef::default()).saturating_add(n))?;
                u32::try_from(n).map_err(|_| {
                    KinesisError::limit(format!("ShardCount {n} is above the shard quota {SHARD_QUOTA}"))
                })?
            }
            (false, Some(n)) => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"
                )));
            }
        };
        let warm = input.warm_throughput_mi_bps.map(|m| self.check_warm(m, on_demand, now_ms)).transpose()?;
        let count = match warm {
            Some(mibps) if mibps > i64::from(count) => {
                check_quota(self.open_shards_except(&StreamRef::default()).saturating_add(mibps))?;
                mibps as u32
            }
            _ => count,
        };
        let max_record_kib = match input.max_record_size_in_kib {
            None => DEFAULT_MAX_RECORD_KIB,
            Some(kib) => check_max_record_kib(kib)?,
        };
        // Streams whose deletion is over go now: a suite that deletes and creates streams
        // under new names holds no deleted records.
        self.streams.retain(|_, s| !s.gone(now_ms));
        if self.streams.contains_key(&name) {
            return Err(KinesisError::in_use(format!("Stream {name} under account {ACCOUNT} already exists.")));
        }
        let incarnation = self.next_incarnation();
        let mut stream = Stream::new(name.clone(), incarnation, on_demand, count, now_ms);
        stream.active_ms = now_ms + self.shapes.transition_ms;
        stream.max_record_kib = max_record_kib;
        stream.warm_mibps = warm;
        stream.ledger.keep_trimmed = self.keep_trimmed;
        self.streams.insert(name, stream);
        Ok(Empty {})
    }

    /// DELETING for the transition's time, then gone (at once without transitions).
    pub fn delete_stream(&mut self, input: DeleteStreamInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let delay = self.shapes.transition_ms;
        let s = self.stream_mut(&input.stream, now_ms, Need::Change)?;
        if delay > 0 {
            s.deleting_until_ms = Some(now_ms + delay);
        } else {
            let name = s.name.clone();
            self.streams.remove(&name);
        }
        Ok(Empty {})
    }

    pub fn describe_stream(
        &mut self,
        input: DescribeStreamInput,
        now_ms: i64,
    ) -> Result<DescribeStreamOutput, KinesisError> {
        let limit = input.limit.unwrap_or(100).clamp(1, 10_000) as usize;
        let s = self.stream_mut(&input.stream, now_ms, Need::Any)?;
        let after = input.exclusive_start_shard_id.as_deref().and_then(parse_shard_id);
        let all: Vec<&Shard> = s.shards.iter().filter(|sh| after.is_none_or(|a| sh.ordinal > a)).collect();
        let shards = all.iter().take(limit).map(|sh| s.out(sh)).collect();
        Ok(DescribeStreamOutput {
            stream_description: StreamDescription {
                stream_name: s.name.clone(),
                stream_arn: s.arn(),
                stream_status: s.status(now_ms),
                stream_mode_details: s.mode(),
                shards,
                has_more_shards: all.len() > limit,
                retention_period_hours: s.retention_hours,
                stream_creation_timestamp: Timestamp(s.created_ms),
                enhanced_monitoring: vec![EnhancedMetrics { shard_level_metrics: vec![] }],
                encryption_type: s.encryption(),
                key_id: s.kms_key.clone(),
            },
        })
    }

    pub fn describe_stream_summary(
        &mut self,
        input: StreamRef,
        now_ms: i64,
    ) -> Result<DescribeStreamSummaryOutput, KinesisError> {
        let committed = self.commitment.active(now_ms);
        let s = self.stream_mut(&input, now_ms, Need::Any)?;
        Ok(DescribeStreamSummaryOutput {
            stream_description_summary: StreamDescriptionSummary {
                stream_name: s.name.clone(),
                stream_arn: s.arn(),
                stream_status: s.status(now_ms),
                stream_mode_details: s.mode(),
                retention_period_hours: s.retention_hours,
                stream_creation_timestamp: Timestamp(s.created_ms),
                enhanced_monitoring: vec![EnhancedMetrics { shard_level_metrics: vec![] }],
                encryption_type: s.encryption(),
                key_id: s.kms_key.clone(),
                open_shard_count: s.open_count(),
                consumer_count: s.consumers.len() as i64,
                max_record_size_in_kib: s.max_record_kib,
                warm_throughput: s.warm_throughput(committed),
            },
        })
    }

    /// Stores the entries whose fate allows it and the write limits admit. `answer_lost`: the
    /// client will not see the results (a fault), so the stream's ledger keeps where each
    /// entry was stored.
    pub fn put_records(
        &mut self,
        r: &StreamRef,
        entries: Vec<Entry>,
        fates: &[Fate],
        answer_lost: bool,
        kms: Option<&'static str>,
        now_ms: i64,
    ) -> Result<PutRecordsOutput, KinesisError> {
        let limits = self.limits;
        let mut throttled = 0;
        let s = self.stream_mut(r, now_ms, Need::Data)?;
        s.check_put(entries.iter().map(|e| e.data.len() + e.partition_key.len()), kms)?;
        let mut out = Vec::with_capacity(entries.len());
        let mut failed = 0;
        // (shard ordinal, entries throttled), run-length: per-shard counters without a map
        // lookup per entry.
        let mut throttled_in: Vec<(u32, u64)> = Vec::new();
        // On-demand streams meter what their shards meet, to scale (`on_demand.rs`).
        let (metered, mut hot) = (limits && s.on_demand, false);
        for (e, fate) in entries.into_iter().zip(fates) {
            let ordinal = s.route(e.hash);
            let shard = &mut s.shards[ordinal as usize];
            let size = e.data.len() + e.partition_key.len();
            if metered && *fate == Fate::Store {
                shard.demand.add(size, now_ms);
                hot |= shard.demand.hot;
            }
            let result = match fate {
                Fate::Fail(code) => Err((code.code(), "Injected by minutely sim".to_owned())),
                Fate::Store if limits && !shard.limits.admit_write(size, now_ms) => {
                    throttled += 1;
                    match throttled_in.last_mut() {
                        Some((o, n)) if *o == ordinal => *n += 1,
                        _ => throttled_in.push((ordinal, 1)),
                    }
                    Err((
                        "ProvisionedThroughputExceededException",
                        format!(
                            "Rate exceeded for shard {} in stream {} under account {ACCOUNT}.",
                            shard_id(ordinal),
                            s.name
                        ),
                    ))
                }
                Fate::Store => {
                    let position = shard.end();
                    let bytes = e.partition_key.as_bytes().iter().chain(&e.data).copied().collect();
                    shard.bytes += size as u64;
                    shard.records.push_back(Record {
                        bytes,
                        key_len: e.partition_key.len() as u16,
                        arrival_ms: now_ms,
                        read: false,
                    });
                    Ok(sequence_number(s.incarnation, ordinal, position))
                }
            };
            failed += i64::from(result.is_err());
            out.push(result_entry(ordinal, result));
        }
        s.keep_in_ledger(&out, throttled, answer_lost);
        // The stream's name only when a shard throttled: no copy on every call.
        let stream = if throttled_in.is_empty() { String::new() } else { s.name.clone() };
        let encryption_type = s.encryption();
        self.limit_stats.entries_throttled += throttled;
        for (ordinal, n) in throttled_in {
            let key = format!("{stream}/{}", shard_id(ordinal));
            *self.limit_stats.entries_throttled_by_shard.entry(key).or_default() += n;
        }
        if hot {
            self.scale_on_demand(r, now_ms);
        }
        Ok(PutRecordsOutput { failed_record_count: failed, records: out, encryption_type })
    }

    pub fn get_shard_iterator(
        &mut self,
        input: GetShardIteratorInput,
        now_ms: i64,
    ) -> Result<GetShardIteratorOutput, KinesisError> {
        let shard_id_in = required(input.shard_id, "shardId")?;
        let kind = required(input.shard_iterator_type, "shardIteratorType")?;
        let s = self.stream_mut(&input.stream, now_ms, Need::Data)?;
        let start = Start {
            op: "GetShardIterator",
            member: "shardIteratorType",
            kind: &kind,
            sequence: input.starting_sequence_number.as_deref(),
            timestamp: input.timestamp.map(|t| t.0),
        };
        let (ordinal, position) = s.start(&shard_id_in, start, now_ms)?;
        let iter = Iter { stream: s.name.clone(), incarnation: s.incarnation, ordinal, position, issued_ms: now_ms };
        Ok(GetShardIteratorOutput { shard_iterator: iter.encode() })
    }

    /// Reads from an iterator. `dice`: the fault dice's verdicts.
    pub fn get_records(
        &mut self,
        input: &GetRecordsInput,
        dice: Dice,
        now_ms: i64,
    ) -> Result<GetRecordsOutput, KinesisError> {
        let expire = dice.expire;
        let token = required(input.shard_iterator.as_deref(), "shardIterator")?;
        let limit = match input.limit {
            None => MAX_GET_RECORDS,
            Some(n) if (1..=MAX_GET_RECORDS as i64).contains(&n) => n as usize,
            Some(n) => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000"
                )));
            }
        };
        let iter =
            Iter::decode(token).ok_or_else(|| KinesisError::invalid(format!("Invalid ShardIterator: {token}")))?;
        if expire || now_ms.saturating_sub(iter.issued_ms) > ITERATOR_TTL_MS {
            return Err(KinesisError::new(
                "ExpiredIteratorException",
                format!(
                    "Iterator expired. The iterator was created at time {} while right now it is {}.",
                    iter.issued_ms, now_ms
                ),
            ));
        }
        let limits_on = self.limits;
        let name = iter.stream.clone();
        let s = self
            .streams
            .get_mut(&name)
            .filter(|s| s.incarnation == iter.incarnation && s.deleting_until_ms.is_none())
            .ok_or_else(|| not_found(&name))?;
        s.trim(now_ms);
        s.check_kms(dice.kms)?;
        let incarnation = s.incarnation;
        let Some(shard) = s.shards.get_mut(iter.ordinal as usize) else {
            return Err(KinesisError::invalid(format!("Invalid ShardIterator: {token}")));
        };
        if limits_on && !(shard.limits.read_bytes.positive(now_ms) && shard.limits.read_calls.try_take(1.0, now_ms)) {
            self.limit_stats.reads_throttled += 1;
            let key = format!("{name}/{}", shard_id(iter.ordinal));
            *self.limit_stats.reads_throttled_by_shard.entry(key).or_default() += 1;
            return Err(KinesisError::new(
                "ProvisionedThroughputExceededException",
                format!("Rate exceeded for shard {} in stream {name} under account {ACCOUNT}.", shard_id(iter.ordinal)),
            ));
        }
        let shard = &s.shards[iter.ordinal as usize];
        let start = iter.position.max(shard.first);
        // AWS's empty page while records remain: nothing read, the iterator stays.
        let left_empty = dice.empty && start < shard.end();
        let (position, bytes) =
            if left_empty { (start, 0) } else { shard.read_until(start, limit, MAX_GET_RECORDS_BYTES) };
        // Behind by at least a millisecond while records remain: an empty page is no tip.
        let millis_behind_latest =
            shard.get(position).map_or(0, |r| (now_ms - r.arrival_ms).max(i64::from(left_empty)));
        let (next, children) = if shard.closed.is_some() && position >= shard.end() {
            (None, Some(s.children(shard.ordinal)))
        } else {
            let next = Iter { stream: name.clone(), incarnation, ordinal: iter.ordinal, position, issued_ms: now_ms };
            (Some(next.encode()), None)
        };
        if limits_on {
            s.shards[iter.ordinal as usize].limits.read_bytes.overdraw(bytes as f64, now_ms);
        }
        let s = self.streams.get_mut(&name).expect("the stream read above");
        s.mark_read(iter.ordinal, start..position);
        let records = records_out(&s.shards[iter.ordinal as usize], incarnation, start..position);
        Ok(GetRecordsOutput {
            records,
            next_shard_iterator: next,
            millis_behind_latest,
            child_shards: children,
            left_empty,
        })
    }

    /// Stored records and bytes (data and partition keys) over every stream.
    /// Every stream's counts, by name.
    pub fn stream_counts(&self) -> BTreeMap<String, StreamCounts> {
        self.streams.iter().map(|(name, s)| (name.clone(), s.ledger.counts.clone())).collect()
    }

    /// From now on, every stream's ledger keeps the records retention trims unread.
    pub fn keep_trimmed(&mut self) {
        self.keep_trimmed = true;
        for s in self.streams.values_mut() {
            s.ledger.keep_trimmed = true;
        }
    }

    /// The ledger of the stream named `name`.
    pub fn ledger(&self, name: &str) -> Option<Ledger> {
        self.streams.get(name).map(|s| s.ledger.clone())
    }

    pub fn stored(&self) -> (u64, u64) {
        let mut n = 0;
        let mut bytes = 0;
        for s in self.streams.values() {
            for sh in &s.shards {
                n += sh.records.len() as u64;
                bytes += sh.bytes;
            }
        }
        (n, bytes)
    }

    /// Open shards over every stream but the one `except` names (none: every stream).
    /// A new incarnation's number.
    pub(super) fn next_incarnation(&mut self) -> u64 {
        self.incarnations += 1;
        self.incarnations
    }

    /// Open shards over every stream but `except` and those being deleted (for the quota).
    pub(super) fn open_shards_except(&self, except: &StreamRef) -> i64 {
        let except = stream_name(except).ok();
        let counted = |s: &&Stream| except.as_ref() != Some(&s.name) && s.deleting_until_ms.is_none();
        self.streams.values().filter(counted).map(Stream::open_count).sum()
    }

    /// The names of the streams.
    pub fn stream_names(&self) -> Vec<String> {
        self.streams.keys().cloned().collect()
    }
}

/// A `MaxRecordSizeInKiB` AWS takes.
pub(super) fn check_max_record_kib(kib: i64) -> Result<i64, KinesisError> {
    if !(DEFAULT_MAX_RECORD_KIB..=MAX_RECORD_KIB).contains(&kib) {
        return Err(KinesisError::validation(format!(
            "1 validation error detected: Value '{kib}' at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must have value between {DEFAULT_MAX_RECORD_KIB} and {MAX_RECORD_KIB}"
        )));
    }
    Ok(kib)
}

fn not_found(name: &str) -> KinesisError {
    KinesisError::not_found(format!("Stream {name} under account {ACCOUNT} not found."))
}

/// The records of `shard` at `positions`, shared for an answer written after the lock.
pub(super) fn records_out(shard: &Shard, incarnation: u64, positions: std::ops::Range<u64>) -> Vec<RecordOut> {
    positions
        .filter_map(|p| {
            let r = shard.get(p)?;
            Some(RecordOut {
                sequence_number: sequence_number(incarnation, shard.ordinal, p),
                approximate_arrival_timestamp: Timestamp(r.arrival_ms),
                record: r.bytes.clone(),
                key_len: r.key_len,
            })
        })
        .collect()
}
