//! The streams, their shards and their records: Kinesis's semantics without any IO.
//!
//! A shard keeps its records in a `VecDeque` indexed by their position since the shard was
//! created, so a sequence number, an iterator or a `Limit` is an index: every operation costs
//! the same at any fill. Sequence numbers are 56-digit decimal strings, as AWS's are, that
//! carry the stream's incarnation, the shard's ordinal and the record's position; within a
//! shard they increase, and every shard created later (a child) has larger ones.

use std::collections::{BTreeMap, VecDeque};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use md5::{Digest, Md5};

use super::error::KinesisError;
use super::wire::*;
use crate::faults::EntryError;
use crate::limits::ShardLimits;

pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";
/// Records, partition key included, above this are refused.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
pub const MAX_PUT_RECORDS_ENTRIES: usize = 500;
pub const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_GET_RECORDS: usize = 10_000;
pub const MAX_GET_RECORDS_BYTES: usize = 10 * 1024 * 1024;
pub const ITERATOR_TTL_MS: i64 = 5 * 60 * 1000;
pub const ON_DEMAND_SHARDS: u32 = 4;
const DEFAULT_RETENTION_HOURS: i64 = 24;

/// One stored record: data and partition key in one allocation.
#[derive(Debug)]
struct Record {
    bytes: Box<[u8]>,
    key_len: u16,
    arrival_ms: i64,
}

impl Record {
    fn data(&self) -> &[u8] {
        &self.bytes[usize::from(self.key_len)..]
    }
    fn partition_key(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.key_len)]).unwrap_or_default()
    }
}

#[derive(Debug)]
struct Shard {
    ordinal: u32,
    parent: Option<u32>,
    adjacent_parent: Option<u32>,
    hash_start: u128,
    hash_end: u128,
    created_ms: i64,
    /// When it was closed, and the position of its last record (`None` if it has none).
    closed: Option<(i64, Option<u64>)>,
    /// Position of `records[0]`: records before it were trimmed.
    first: u64,
    records: VecDeque<Record>,
    /// Bytes (data and partition keys) of `records`.
    bytes: u64,
    limits: ShardLimits,
}

impl Shard {
    fn new(ordinal: u32, range: (u128, u128), parents: (Option<u32>, Option<u32>), now_ms: i64) -> Shard {
        Shard {
            ordinal,
            parent: parents.0,
            adjacent_parent: parents.1,
            hash_start: range.0,
            hash_end: range.1,
            created_ms: now_ms,
            closed: None,
            first: 0,
            records: VecDeque::new(),
            bytes: 0,
            limits: ShardLimits::new(now_ms),
        }
    }

    /// Position after the last record.
    fn end(&self) -> u64 {
        self.first + self.records.len() as u64
    }

    fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    fn get(&self, position: u64) -> Option<&Record> {
        position.checked_sub(self.first).and_then(|i| self.records.get(i as usize))
    }
}

pub fn shard_id(ordinal: u32) -> String {
    format!("shardId-{ordinal:012}")
}

fn parse_shard_id(id: &str) -> Option<u32> {
    let digits = id.strip_prefix("shardId-")?;
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// `49` + incarnation (10 digits) + shard ordinal (20) + position (24): 56 digits.
fn sequence_number(incarnation: u64, ordinal: u32, position: u64) -> String {
    format!("49{incarnation:010}{ordinal:020}{position:024}")
}

/// The (incarnation, ordinal, position) of a sequence number this sim gave.
fn parse_sequence_number(s: &str) -> Option<(u64, u32, u64)> {
    if s.len() != 56 || !s.starts_with("49") || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((s[2..12].parse().ok()?, s[12..32].parse().ok()?, s[32..].parse().ok()?))
}

#[derive(Debug)]
struct Stream {
    name: String,
    incarnation: u64,
    on_demand: bool,
    created_ms: i64,
    retention_hours: i64,
    shards: Vec<Shard>,
    /// Open shards by starting hash key, for routing.
    open: Vec<(u128, u32)>,
}

impl Stream {
    fn arn(&self) -> String {
        format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{}", self.name)
    }

    fn mode(&self) -> StreamModeOut {
        StreamModeOut { stream_mode: if self.on_demand { "ON_DEMAND" } else { "PROVISIONED" } }
    }

    fn shard(&self, id: &str) -> Result<&Shard, KinesisError> {
        parse_shard_id(id).and_then(|o| self.shards.get(o as usize)).ok_or_else(|| {
            KinesisError::not_found(format!(
                "Shard {id} in stream {} under account {ACCOUNT} does not exist",
                self.name
            ))
        })
    }

    fn reindex(&mut self) {
        self.open = self.shards.iter().filter(|s| s.is_open()).map(|s| (s.hash_start, s.ordinal)).collect();
        self.open.sort_unstable();
    }

    fn route(&self, hash: u128) -> u32 {
        let i = self.open.partition_point(|(start, _)| *start <= hash);
        self.open[i.saturating_sub(1)].1
    }

    fn add_shard(&mut self, range: (u128, u128), parents: (Option<u32>, Option<u32>), now_ms: i64) -> u32 {
        let ordinal = self.shards.len() as u32;
        self.shards.push(Shard::new(ordinal, range, parents, now_ms));
        ordinal
    }

    fn close(&mut self, ordinal: u32, now_ms: i64) {
        let s = &mut self.shards[ordinal as usize];
        let last = s.end().checked_sub(1);
        s.closed = Some((now_ms, last));
    }

    fn out(&self, s: &Shard) -> ShardOut {
        let end = s.closed.map(|(_, last)| sequence_number(self.incarnation, s.ordinal, last.unwrap_or(0)));
        ShardOut {
            shard_id: shard_id(s.ordinal),
            parent_shard_id: s.parent.map(shard_id),
            adjacent_parent_shard_id: s.adjacent_parent.map(shard_id),
            hash_key_range: HashKeyRange {
                starting_hash_key: s.hash_start.to_string(),
                ending_hash_key: s.hash_end.to_string(),
            },
            sequence_number_range: SequenceNumberRange {
                starting_sequence_number: sequence_number(self.incarnation, s.ordinal, 0),
                ending_sequence_number: end,
            },
        }
    }

    /// Drops records older than the retention period, and shards closed before it whose
    /// records are all gone.
    fn trim(&mut self, now_ms: i64) {
        let horizon = now_ms - self.retention_hours * 3_600_000;
        for s in &mut self.shards {
            while let Some(r) = s.records.pop_front_if(|r| r.arrival_ms < horizon) {
                s.bytes -= r.bytes.len() as u64;
                s.first += 1;
            }
        }
    }

    fn open_count(&self) -> i64 {
        self.open.len() as i64
    }

    fn status(&self) -> &'static str {
        "ACTIVE"
    }
}

/// An iterator's content: which shard, where, and when it was issued.
#[derive(Debug, PartialEq, Eq)]
struct Iter {
    stream: String,
    incarnation: u64,
    ordinal: u32,
    position: u64,
    issued_ms: i64,
}

impl Iter {
    fn encode(&self) -> String {
        let raw = format!("{}|{}|{}|{}|{}", self.incarnation, self.ordinal, self.position, self.issued_ms, self.stream);
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn decode(s: &str) -> Option<Iter> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
        let mut parts = raw.splitn(5, '|');
        Some(Iter {
            incarnation: parts.next()?.parse().ok()?,
            ordinal: parts.next()?.parse().ok()?,
            position: parts.next()?.parse().ok()?,
            issued_ms: parts.next()?.parse().ok()?,
            stream: parts.next()?.to_owned(),
        })
    }
}

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
    streams: BTreeMap<String, Stream>,
    incarnations: u64,
    pub limits: bool,
    /// What the limits refused: counted here, under the streams' lock, and shown in [`crate::Stats`].
    pub limit_stats: crate::LimitStats,
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
fn stream_name(r: &StreamRef) -> Result<String, KinesisError> {
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

/// `n` shards of even ranges over the 128-bit hash key space.
fn even_ranges(n: u32) -> Vec<(u128, u128)> {
    let width = u128::MAX / u128::from(n);
    (0..n)
        .map(|i| {
            let start = width * u128::from(i);
            let end = if i + 1 == n { u128::MAX } else { width * u128::from(i + 1) - 1 };
            (start, end)
        })
        .collect()
}

/// AWS's routing: the MD5 of the partition key as a big-endian 128-bit integer.
pub fn hash_key(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

fn required<T>(v: Option<T>, member: &str) -> Result<T, KinesisError> {
    v.ok_or_else(|| {
        KinesisError::validation(format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"))
    })
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
    pub fn new(limits: bool) -> Kinesis {
        Kinesis { limits, ..Kinesis::default() }
    }

    fn stream(&self, r: &StreamRef) -> Result<&Stream, KinesisError> {
        let name = stream_name(r)?;
        self.streams.get(&name).ok_or_else(|| not_found(&name))
    }

    fn stream_mut(&mut self, r: &StreamRef, now_ms: i64) -> Result<&mut Stream, KinesisError> {
        let name = stream_name(r)?;
        let s = self.streams.get_mut(&name).ok_or_else(|| not_found(&name))?;
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
            (false, Some(n)) if (1..=10_000).contains(&n) => n as u32,
            (false, Some(n)) => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"
                )));
            }
        };
        if self.streams.contains_key(&name) {
            return Err(KinesisError::in_use(format!("Stream {name} under account {ACCOUNT} already exists.")));
        }
        self.incarnations += 1;
        let mut stream = Stream {
            name: name.clone(),
            incarnation: self.incarnations,
            on_demand,
            created_ms: now_ms,
            retention_hours: DEFAULT_RETENTION_HOURS,
            shards: Vec::new(),
            open: Vec::new(),
        };
        for range in even_ranges(count) {
            stream.add_shard(range, (None, None), now_ms);
        }
        stream.reindex();
        self.streams.insert(name, stream);
        Ok(Empty {})
    }

    pub fn delete_stream(&mut self, input: DeleteStreamInput) -> Result<Empty, KinesisError> {
        let name = stream_name(&input.stream)?;
        self.streams.remove(&name).map(|_| Empty {}).ok_or_else(|| not_found(&name))
    }

    pub fn describe_stream(
        &mut self,
        input: DescribeStreamInput,
        now_ms: i64,
    ) -> Result<DescribeStreamOutput, KinesisError> {
        let limit = input.limit.unwrap_or(100).clamp(1, 10_000) as usize;
        let s = self.stream_mut(&input.stream, now_ms)?;
        let after = input.exclusive_start_shard_id.as_deref().and_then(parse_shard_id);
        let all: Vec<&Shard> = s.shards.iter().filter(|sh| after.is_none_or(|a| sh.ordinal > a)).collect();
        let shards = all.iter().take(limit).map(|sh| s.out(sh)).collect();
        Ok(DescribeStreamOutput {
            stream_description: StreamDescription {
                stream_name: s.name.clone(),
                stream_arn: s.arn(),
                stream_status: s.status(),
                stream_mode_details: s.mode(),
                shards,
                has_more_shards: all.len() > limit,
                retention_period_hours: s.retention_hours,
                stream_creation_timestamp: Timestamp(s.created_ms),
                enhanced_monitoring: vec![EnhancedMetrics { shard_level_metrics: vec![] }],
                encryption_type: "NONE",
            },
        })
    }

    pub fn describe_stream_summary(&mut self, input: StreamRef) -> Result<DescribeStreamSummaryOutput, KinesisError> {
        let s = self.stream(&input)?;
        Ok(DescribeStreamSummaryOutput {
            stream_description_summary: StreamDescriptionSummary {
                stream_name: s.name.clone(),
                stream_arn: s.arn(),
                stream_status: s.status(),
                stream_mode_details: s.mode(),
                retention_period_hours: s.retention_hours,
                stream_creation_timestamp: Timestamp(s.created_ms),
                enhanced_monitoring: vec![EnhancedMetrics { shard_level_metrics: vec![] }],
                encryption_type: "NONE",
                open_shard_count: s.open_count(),
                consumer_count: 0,
            },
        })
    }

    pub fn list_streams(&self, input: ListStreamsInput) -> Result<ListStreamsOutput, KinesisError> {
        let limit = input.limit.unwrap_or(100).clamp(1, 10_000) as usize;
        let after = match (&input.next_token, &input.exclusive_start_stream_name) {
            (Some(t), _) => Some(
                String::from_utf8(
                    URL_SAFE_NO_PAD
                        .decode(t)
                        .map_err(|_| KinesisError::invalid("NextToken is not one this service gave"))?,
                )
                .map_err(|_| KinesisError::invalid("NextToken is not one this service gave"))?,
            ),
            (None, a) => a.clone(),
        };
        let names: Vec<&Stream> =
            self.streams.values().filter(|s| after.as_ref().is_none_or(|a| s.name.as_str() > a.as_str())).collect();
        let page = &names[..names.len().min(limit)];
        let more = names.len() > limit;
        Ok(ListStreamsOutput {
            stream_names: page.iter().map(|s| s.name.clone()).collect(),
            has_more_streams: more,
            next_token: more.then(|| URL_SAFE_NO_PAD.encode(&page[page.len() - 1].name)),
            stream_summaries: page
                .iter()
                .map(|s| StreamSummary {
                    stream_name: s.name.clone(),
                    stream_arn: s.arn(),
                    stream_status: s.status(),
                    stream_mode_details: s.mode(),
                    stream_creation_timestamp: Timestamp(s.created_ms),
                })
                .collect(),
        })
    }

    pub fn list_shards(&mut self, input: ListShardsInput, now_ms: i64) -> Result<ListShardsOutput, KinesisError> {
        let max = input.max_results.unwrap_or(1000);
        if !(1..=10_000).contains(&max) {
            return Err(KinesisError::invalid(format!("MaxResults {max} is not between 1 and 10000")));
        }
        let max = max as usize;
        // A NextToken carries the stream and the filter's start; it excludes StreamName.
        let (stream_ref, after, filter) = match &input.next_token {
            Some(token) => {
                if input.stream.stream_name.is_some()
                    || input.stream.stream_arn.is_some()
                    || input.exclusive_start_shard_id.is_some()
                {
                    return Err(KinesisError::invalid(
                        "NextToken and StreamName/StreamARN/ExclusiveStartShardId cannot be provided together.",
                    ));
                }
                let raw = URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok());
                let (name, after) = raw
                    .as_deref()
                    .and_then(|r| r.split_once('|'))
                    .ok_or_else(|| KinesisError::invalid("NextToken is not one this service gave"))?;
                let after = after
                    .parse::<u32>()
                    .map_err(|_| KinesisError::invalid("NextToken is not one this service gave"))?;
                (StreamRef { stream_name: Some(name.to_owned()), stream_arn: None }, Some(after), None)
            }
            None => (
                input.stream,
                input.exclusive_start_shard_id.as_deref().map(|id| parse_shard_id(id).unwrap_or(0)),
                input.shard_filter,
            ),
        };
        let s = self.stream_mut(&stream_ref, now_ms)?;
        let horizon = now_ms - s.retention_hours * 3_600_000;
        let created = s.created_ms;
        let mut after = after;
        let keep: Box<dyn Fn(&Shard) -> bool> = match filter {
            None => Box::new(|_| true),
            Some(f) => {
                let ts = f.timestamp.map(|t| t.0);
                match f.kind.as_deref() {
                    Some("AFTER_SHARD_ID") => {
                        let id = required(f.shard_id, "shardFilter.shardId")?;
                        after = Some(
                            parse_shard_id(&id)
                                .ok_or_else(|| KinesisError::invalid(format!("ShardId {id} is not a shard id")))?,
                        );
                        Box::new(|_| true)
                    }
                    Some("AT_TRIM_HORIZON") => Box::new(move |sh| {
                        sh.closed.is_none_or(|(c, _)| c > horizon) && sh.created_ms <= horizon.max(created)
                    }),
                    Some("FROM_TRIM_HORIZON") => Box::new(|_| true),
                    Some("AT_LATEST") => Box::new(|sh| sh.is_open()),
                    Some("AT_TIMESTAMP") => {
                        let t = required(ts, "shardFilter.timestamp")?;
                        Box::new(move |sh| sh.created_ms <= t.max(created) && sh.closed.is_none_or(|(c, _)| c > t))
                    }
                    Some("FROM_TIMESTAMP") => {
                        let t = required(ts, "shardFilter.timestamp")?;
                        Box::new(move |sh| sh.closed.is_none_or(|(c, _)| c > t))
                    }
                    other => {
                        return Err(KinesisError::validation(format!(
                            "1 validation error detected: Value '{}' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]",
                            other.unwrap_or("null")
                        )));
                    }
                }
            }
        };
        let all: Vec<&Shard> = s.shards.iter().filter(|sh| after.is_none_or(|a| sh.ordinal > a) && keep(sh)).collect();
        let page = &all[..all.len().min(max)];
        let next_token =
            (all.len() > max).then(|| URL_SAFE_NO_PAD.encode(format!("{}|{}", s.name, page[page.len() - 1].ordinal)));
        Ok(ListShardsOutput { shards: page.iter().map(|sh| s.out(sh)).collect(), next_token })
    }

    /// Stores the entries whose fate is `Store` and whose shard admits them (when limits are on).
    pub fn put_records(
        &mut self,
        r: &StreamRef,
        entries: Vec<Entry>,
        fates: &[Fate],
        now_ms: i64,
    ) -> Result<PutRecordsOutput, KinesisError> {
        let limits = self.limits;
        let mut throttled = 0;
        let s = self.stream_mut(r, now_ms)?;
        let mut out = Vec::with_capacity(entries.len());
        let mut failed = 0;
        // (shard ordinal, entries throttled), run-length: per-shard counters without a map
        // lookup per entry.
        let mut throttled_in: Vec<(u32, u64)> = Vec::new();
        for (e, fate) in entries.into_iter().zip(fates) {
            let ordinal = s.route(e.hash);
            let shard = &mut s.shards[ordinal as usize];
            let size = e.data.len() + e.partition_key.len();
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
                    let mut bytes = Vec::with_capacity(size);
                    bytes.extend_from_slice(e.partition_key.as_bytes());
                    bytes.extend_from_slice(&e.data);
                    shard.bytes += size as u64;
                    shard.records.push_back(Record {
                        bytes: bytes.into_boxed_slice(),
                        key_len: e.partition_key.len() as u16,
                        arrival_ms: now_ms,
                    });
                    Ok(sequence_number(s.incarnation, ordinal, position))
                }
            };
            out.push(match result {
                Ok(seq) => PutRecordsResultEntry {
                    shard_id: Some(shard_id(ordinal)),
                    sequence_number: Some(seq),
                    error_code: None,
                    error_message: None,
                },
                Err((code, message)) => {
                    failed += 1;
                    PutRecordsResultEntry {
                        shard_id: None,
                        sequence_number: None,
                        error_code: Some(code),
                        error_message: Some(message),
                    }
                }
            });
        }
        // The stream's name only when a shard throttled: no copy on every call.
        let stream = if throttled_in.is_empty() { String::new() } else { s.name.clone() };
        self.limit_stats.entries_throttled += throttled;
        for (ordinal, n) in throttled_in {
            let key = format!("{stream}/{}", shard_id(ordinal));
            *self.limit_stats.entries_throttled_by_shard.entry(key).or_default() += n;
        }
        Ok(PutRecordsOutput { failed_record_count: failed, records: out, encryption_type: "NONE" })
    }

    pub fn get_shard_iterator(
        &mut self,
        input: GetShardIteratorInput,
        now_ms: i64,
    ) -> Result<GetShardIteratorOutput, KinesisError> {
        let shard_id_in = required(input.shard_id, "shardId")?;
        let kind = required(input.shard_iterator_type, "shardIteratorType")?;
        let s = self.stream_mut(&input.stream, now_ms)?;
        let shard = s.shard(&shard_id_in)?;
        let at_sequence = |after: bool| -> Result<u64, KinesisError> {
            let seq = input.starting_sequence_number.as_deref().ok_or_else(|| {
                KinesisError::invalid(format!("StartingSequenceNumber is required for ShardIteratorType {kind}"))
            })?;
            match parse_sequence_number(seq) {
                Some((inc, ord, pos)) if inc == s.incarnation && ord == shard.ordinal => Ok(pos + u64::from(after)),
                _ => Err(KinesisError::invalid(format!(
                    "StartingSequenceNumber {seq} used in GetShardIterator on shard {shard_id_in} in stream {} under account {ACCOUNT} is invalid because it did not come from this stream.",
                    s.name
                ))),
            }
        };
        let position = match kind.as_str() {
            "TRIM_HORIZON" => shard.first,
            "LATEST" => shard.end(),
            "AT_SEQUENCE_NUMBER" => at_sequence(false)?,
            "AFTER_SEQUENCE_NUMBER" => at_sequence(true)?,
            "AT_TIMESTAMP" => {
                let t = input
                    .timestamp
                    .ok_or_else(|| KinesisError::invalid("Timestamp is required for ShardIteratorType AT_TIMESTAMP"))?
                    .0;
                if t > now_ms {
                    return Err(KinesisError::invalid("Timestamp cannot be in the future"));
                }
                shard.first + shard.records.partition_point(|r| r.arrival_ms < t) as u64
            }
            other => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"
                )));
            }
        };
        let iter = Iter {
            stream: s.name.clone(),
            incarnation: s.incarnation,
            ordinal: shard.ordinal,
            position,
            issued_ms: now_ms,
        };
        Ok(GetShardIteratorOutput { shard_iterator: iter.encode() })
    }

    /// Reads from an iterator. `expire` is the fault dice's verdict.
    pub fn get_records<'a>(
        &'a mut self,
        input: &GetRecordsInput,
        expire: bool,
        now_ms: i64,
    ) -> Result<GetRecordsOutput<'a>, KinesisError> {
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
        if expire || now_ms - iter.issued_ms > ITERATOR_TTL_MS {
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
            .filter(|s| s.incarnation == iter.incarnation)
            .ok_or_else(|| not_found(&name))?;
        s.trim(now_ms);
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
        let mut position = start;
        let mut bytes = 0;
        while ((position - start) as usize) < limit {
            let Some(r) = shard.get(position) else { break };
            if position > start && bytes + r.bytes.len() > MAX_GET_RECORDS_BYTES {
                break;
            }
            bytes += r.bytes.len();
            position += 1;
        }
        let millis_behind_latest = shard.get(position).map_or(0, |r| (now_ms - r.arrival_ms).max(0));
        let (next, children) = if shard.closed.is_some() && position >= shard.end() {
            let me = shard.ordinal;
            let children = s
                .shards
                .iter()
                .filter(|c| c.parent == Some(me) || c.adjacent_parent == Some(me))
                .map(|c| ChildShard {
                    shard_id: shard_id(c.ordinal),
                    parent_shards: c.parent.into_iter().chain(c.adjacent_parent).map(shard_id).collect(),
                    hash_key_range: HashKeyRange {
                        starting_hash_key: c.hash_start.to_string(),
                        ending_hash_key: c.hash_end.to_string(),
                    },
                })
                .collect();
            (None, Some(children))
        } else {
            let next = Iter { stream: name.clone(), incarnation, ordinal: iter.ordinal, position, issued_ms: now_ms };
            (Some(next.encode()), None)
        };
        if limits_on {
            s.shards[iter.ordinal as usize].limits.read_bytes.overdraw(bytes as f64, now_ms);
        }
        let shard = &self.streams[&name].shards[iter.ordinal as usize];
        let records = (start..position)
            .filter_map(|p| {
                let r = shard.get(p)?;
                Some(RecordOut {
                    sequence_number: sequence_number(incarnation, shard.ordinal, p),
                    approximate_arrival_timestamp: Timestamp(r.arrival_ms),
                    data: BlobRef(r.data()),
                    partition_key: r.partition_key(),
                })
            })
            .collect();
        Ok(GetRecordsOutput { records, next_shard_iterator: next, millis_behind_latest, child_shards: children })
    }

    pub fn split_shard(&mut self, input: SplitShardInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let parent = required(input.shard_to_split, "shardToSplit")?;
        let key = required(input.new_starting_hash_key, "newStartingHashKey")?;
        let s = self.stream_mut(&input.stream, now_ms)?;
        let sh = s.shard(&parent)?;
        let new_start: u128 = key
            .parse()
            .map_err(|_| KinesisError::invalid(format!("NewStartingHashKey {key} is not a 128-bit integer")))?;
        split(s, sh.ordinal, new_start, now_ms)?;
        Ok(Empty {})
    }

    pub fn merge_shards(&mut self, input: MergeShardsInput, now_ms: i64) -> Result<Empty, KinesisError> {
        let a = required(input.shard_to_merge, "shardToMerge")?;
        let b = required(input.adjacent_shard_to_merge, "adjacentShardToMerge")?;
        let s = self.stream_mut(&input.stream, now_ms)?;
        let (a, b) = (s.shard(&a)?.ordinal, s.shard(&b)?.ordinal);
        merge(s, a, b, now_ms)?;
        Ok(Empty {})
    }

    /// Uniform scaling, the way AWS does it: splits at every new boundary, then merges inside
    /// every new range, so every shard has at most two parents and lineage stays readable.
    pub fn update_shard_count(
        &mut self,
        input: UpdateShardCountInput,
        now_ms: i64,
    ) -> Result<UpdateShardCountOutput, KinesisError> {
        let target = required(input.target_shard_count, "targetShardCount")?;
        match input.scaling_type.as_deref() {
            Some("UNIFORM_SCALING") => {}
            other => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{}' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]",
                    other.unwrap_or("null")
                )));
            }
        }
        let s = self.stream_mut(&input.stream, now_ms)?;
        let current = s.open_count();
        if target < 1 || target > current * 2 || target * 2 < current {
            return Err(KinesisError::invalid(format!(
                "TargetShardCount {target} must be between half ({}) and double ({}) the current open shard count {current}",
                (current + 1) / 2,
                current * 2
            )));
        }
        let bounds: Vec<u128> = even_ranges(target as u32).into_iter().map(|(start, _)| start).collect();
        // Splits: every boundary strictly inside an open shard.
        for &b in bounds.iter().skip(1) {
            let inside =
                s.open.iter().find(|(start, o)| *start < b && s.shards[*o as usize].hash_end >= b).map(|(_, o)| *o);
            if let Some(o) = inside {
                split(s, o, b, now_ms)?;
            }
        }
        // Merges: left to right inside each new range.
        for (i, &b) in bounds.iter().enumerate() {
            let end = bounds.get(i + 1).map_or(u128::MAX, |n| n - 1);
            loop {
                let pieces: Vec<u32> =
                    s.open.iter().filter(|(start, _)| *start >= b && *start <= end).map(|(_, o)| *o).collect();
                if pieces.len() < 2 {
                    break;
                }
                merge(s, pieces[0], pieces[1], now_ms)?;
            }
        }
        Ok(UpdateShardCountOutput {
            stream_name: s.name.clone(),
            stream_arn: s.arn(),
            current_shard_count: current,
            target_shard_count: target,
        })
    }

    /// Stored records and bytes (data and partition keys) over every stream.
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

    /// The names of the streams.
    pub fn stream_names(&self) -> Vec<String> {
        self.streams.keys().cloned().collect()
    }
}

fn split(s: &mut Stream, ordinal: u32, new_start: u128, now_ms: i64) -> Result<(), KinesisError> {
    let sh = &s.shards[ordinal as usize];
    if !sh.is_open() {
        return Err(KinesisError::invalid(format!(
            "Shard {} in stream {} under account {ACCOUNT} is closed and cannot be split.",
            shard_id(ordinal),
            s.name
        )));
    }
    if new_start <= sh.hash_start || new_start > sh.hash_end {
        return Err(KinesisError::invalid(format!(
            "NewStartingHashKey {new_start} used in SplitShard() on shard {} in stream {} under account {ACCOUNT} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
            shard_id(ordinal),
            s.name,
            sh.hash_start,
            sh.hash_end
        )));
    }
    let (start, end) = (sh.hash_start, sh.hash_end);
    s.close(ordinal, now_ms);
    s.add_shard((start, new_start - 1), (Some(ordinal), None), now_ms);
    s.add_shard((new_start, end), (Some(ordinal), None), now_ms);
    s.reindex();
    Ok(())
}

fn merge(s: &mut Stream, a: u32, b: u32, now_ms: i64) -> Result<(), KinesisError> {
    let (sa, sb) = (&s.shards[a as usize], &s.shards[b as usize]);
    if !sa.is_open() || !sb.is_open() {
        return Err(KinesisError::invalid(format!(
            "Shards {} and {} in stream {} must both be open to be merged.",
            shard_id(a),
            shard_id(b),
            s.name
        )));
    }
    let adjacent =
        sa.hash_end.checked_add(1) == Some(sb.hash_start) || sb.hash_end.checked_add(1) == Some(sa.hash_start);
    if !adjacent {
        return Err(KinesisError::invalid(format!(
            "Shards {} and {} in stream {} under account {ACCOUNT} are not an adjacent pair of shards eligible for merging",
            shard_id(a),
            shard_id(b),
            s.name
        )));
    }
    let range = (sa.hash_start.min(sb.hash_start), sa.hash_end.max(sb.hash_end));
    s.close(a, now_ms);
    s.close(b, now_ms);
    s.add_shard(range, (Some(a), Some(b)), now_ms);
    s.reindex();
    Ok(())
}

fn not_found(name: &str) -> KinesisError {
    KinesisError::not_found(format!("Stream {name} under account {ACCOUNT} not found."))
}
