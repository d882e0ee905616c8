//! A stream's shards and their records, and the shard and sequence-number arithmetic: AWS's
//! numbers, routing by hash key, splits and merges. No IO; `state.rs` runs the operations on it.

use std::collections::VecDeque;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use md5::{Digest, Md5};

use super::error::KinesisError;
use super::wire::*;
use crate::limits::ShardLimits;
use crate::stats::Placed;

pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";
/// Records, partition key included, above this are refused on any stream (10 MiB).
pub const MAX_RECORD_BYTES: usize = 10 * 1024 * 1024;
/// A stream's own maximum record size, in KiB: 1 MiB unless CreateStream or
/// UpdateMaxRecordSize set it (1024 to 10240).
pub const DEFAULT_MAX_RECORD_KIB: i64 = 1024;
pub const MAX_RECORD_KIB: i64 = 10 * 1024;
pub const MAX_PUT_RECORDS_ENTRIES: usize = 500;
pub const MAX_PUT_RECORDS_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_GET_RECORDS: usize = 10_000;
pub const MAX_GET_RECORDS_BYTES: usize = 10 * 1024 * 1024;
pub const ITERATOR_TTL_MS: i64 = 5 * 60 * 1000;
pub const ON_DEMAND_SHARDS: u32 = 4;
pub(super) const DEFAULT_RETENTION_HOURS: i64 = 24;

/// One stored record: data and partition key in one allocation, shared with the answers that
/// read it (so that they are written outside the lock without copying it).
#[derive(Debug)]
pub(super) struct Record {
    pub(super) bytes: Arc<[u8]>,
    pub(super) key_len: u16,
    pub(super) arrival_ms: i64,
    /// A GetRecords or SubscribeToShard returned it: retention trims it read, not unread.
    pub(super) read: bool,
}

#[derive(Debug)]
pub(super) struct Shard {
    pub(super) ordinal: u32,
    pub(super) parent: Option<u32>,
    pub(super) adjacent_parent: Option<u32>,
    pub(super) hash_start: u128,
    pub(super) hash_end: u128,
    pub(super) created_ms: i64,
    /// When it was closed, and the position of its last record (`None` if it has none).
    pub(super) closed: Option<(i64, Option<u64>)>,
    /// Position of `records[0]`: records before it were trimmed.
    pub(super) first: u64,
    pub(super) records: VecDeque<Record>,
    /// Bytes (data and partition keys) of `records`.
    pub(super) bytes: u64,
    pub(super) limits: ShardLimits,
    /// The writes it met this second, for on-demand scaling.
    pub(super) demand: crate::limits::Demand,
}

impl Shard {
    pub(super) fn new(ordinal: u32, range: (u128, u128), parents: (Option<u32>, Option<u32>), now_ms: i64) -> Shard {
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
            demand: Default::default(),
        }
    }

    /// Position after the last record.
    pub(super) fn end(&self) -> u64 {
        self.first + self.records.len() as u64
    }

    pub(super) fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    pub(super) fn get(&self, position: u64) -> Option<&Record> {
        position.checked_sub(self.first).and_then(|i| self.records.get(i as usize))
    }
}

pub fn shard_id(ordinal: u32) -> String {
    format!("shardId-{ordinal:012}")
}

pub(super) fn parse_shard_id(id: &str) -> Option<u32> {
    let digits = id.strip_prefix("shardId-")?;
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// `49` + incarnation (10 digits) + shard ordinal (20) + position (24): 56 digits.
pub(super) fn sequence_number(incarnation: u64, ordinal: u32, position: u64) -> String {
    let mut b = [b'0'; 56];
    b[0] = b'4';
    b[1] = b'9';
    // Digits written in place: `format!`'s padding writes a character at a time, and a read
    // writes one of these per record.
    if !(digits(&mut b[2..12], incarnation)
        && digits(&mut b[12..32], u64::from(ordinal))
        && digits(&mut b[32..], position))
    {
        return format!("49{incarnation:010}{ordinal:020}{position:024}");
    }
    String::from_utf8(b.to_vec()).expect("digits are ASCII")
}

/// Writes `n` right-aligned into `out` (zeros before it); false when it does not fit.
fn digits(out: &mut [u8], mut n: u64) -> bool {
    for d in out.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    n == 0
}

/// The (incarnation, ordinal, position) of a sequence number this sim gave.
pub(super) fn parse_sequence_number(s: &str) -> Option<(u64, u32, u64)> {
    if s.len() != 56 || !s.starts_with("49") || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((s[2..12].parse().ok()?, s[12..32].parse().ok()?, s[32..].parse().ok()?))
}

#[derive(Debug)]
pub(super) struct Stream {
    pub(super) name: String,
    pub(super) incarnation: u64,
    pub(super) on_demand: bool,
    pub(super) created_ms: i64,
    /// When it stops being CREATING.
    pub(super) active_ms: i64,
    /// UPDATING until then (after a reshard or a change of mode).
    pub(super) updating_until_ms: i64,
    /// DELETING until then, and gone after.
    pub(super) deleting_until_ms: Option<i64>,
    pub(super) retention_hours: i64,
    /// The largest record it takes, in KiB (UpdateMaxRecordSize).
    pub(super) max_record_kib: i64,
    /// The KMS key its records are encrypted with (StartStreamEncryption), if any.
    pub(super) kms_key: Option<String>,
    /// The warm throughput asked of it (on-demand), in MiB/s.
    pub(super) warm_mibps: Option<i64>,
    pub(super) shards: Vec<Shard>,
    /// Open shards by starting hash key, for routing.
    pub(super) open: Vec<(u128, u32)>,
    /// What its entries came to, for a history checker.
    pub(super) ledger: crate::stats::Ledger,
    /// Its enhanced fan-out consumers, in the order they were registered.
    pub(super) consumers: Vec<super::consumers::Consumer>,
    /// When UpdateShardCount scaled it, in the last 24 hours (with limits on).
    pub(super) scalings_ms: Vec<i64>,
    /// Its tags (AddTagsToStream), by key.
    pub(super) tags: std::collections::BTreeMap<String, String>,
}

impl Stream {
    /// A stream as CreateStream makes it: `count` shards over even hash ranges, ACTIVE from
    /// `now_ms` (the caller sets a CREATING time), AWS's default settings.
    pub(super) fn new(name: String, incarnation: u64, on_demand: bool, count: u32, now_ms: i64) -> Stream {
        let mut stream = Stream {
            ledger: crate::stats::Ledger { stream: name.clone(), ..Default::default() },
            name,
            incarnation,
            on_demand,
            created_ms: now_ms,
            active_ms: now_ms,
            updating_until_ms: 0,
            deleting_until_ms: None,
            retention_hours: DEFAULT_RETENTION_HOURS,
            max_record_kib: DEFAULT_MAX_RECORD_KIB,
            kms_key: None,
            warm_mibps: None,
            shards: Vec::new(),
            open: Vec::new(),
            consumers: Vec::new(),
            scalings_ms: Vec::new(),
            tags: std::collections::BTreeMap::new(),
        };
        for range in even_ranges(count) {
            stream.add_shard(range, (None, None), now_ms);
        }
        stream.reindex();
        stream
    }

    /// What a put came to, in the stream's ledger: `out` its answer's entries (a failed one has
    /// no sequence number), `throttled` how many the limits refused.
    pub(super) fn keep_in_ledger(&mut self, out: &[PutRecordsResultEntry], throttled: u64, answer_lost: bool) {
        let ledger = &mut self.ledger;
        let failed = out.iter().filter(|r| r.error_code.is_some()).count() as u64;
        ledger.counts.entries_stored += out.len() as u64 - failed;
        ledger.counts.entries_throttled += throttled;
        ledger.counts.entries_failed_injected += failed - throttled;
        if answer_lost {
            ledger.counts.answers_lost += 1;
            for r in out {
                if let (Some(shard), Some(sequence)) = (&r.shard_id, &r.sequence_number) {
                    ledger.ambiguous.push(Placed { shard: shard.clone(), sequence: sequence.clone() });
                }
            }
            ledger.counts.entries_ambiguous = ledger.ambiguous.len() as u64;
        }
    }

    pub(super) fn arn(&self) -> String {
        format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{}", self.name)
    }

    pub(super) fn mode(&self) -> StreamModeOut {
        StreamModeOut { stream_mode: if self.on_demand { "ON_DEMAND" } else { "PROVISIONED" } }
    }

    pub(super) fn shard(&self, id: &str) -> Result<&Shard, KinesisError> {
        parse_shard_id(id).and_then(|o| self.shards.get(o as usize)).ok_or_else(|| {
            KinesisError::not_found(format!(
                "Shard {id} in stream {} under account {ACCOUNT} does not exist",
                self.name
            ))
        })
    }

    /// Where a reader asking for `start` begins in shard `id` (GetShardIterator's iterator
    /// types, SubscribeToShard's starting positions): its ordinal and position, or AWS's error.
    pub(super) fn start(&self, id: &str, start: Start<'_>, now_ms: i64) -> Result<(u32, u64), KinesisError> {
        let shard = self.shard(id)?;
        let Start { op, member, kind, sequence, timestamp } = start;
        let at_sequence = |after: bool| -> Result<u64, KinesisError> {
            let seq = sequence.ok_or_else(|| {
                KinesisError::invalid(format!("StartingSequenceNumber is required for {member} {kind}"))
            })?;
            match parse_sequence_number(seq) {
                // After the largest position is past every record: never back to 0.
                Some((inc, ord, pos)) if inc == self.incarnation && ord == shard.ordinal => {
                    Ok(pos.saturating_add(u64::from(after)))
                }
                _ => Err(KinesisError::invalid(format!(
                    "StartingSequenceNumber {seq} used in {op} on shard {id} in stream {} under account {ACCOUNT} is invalid because it did not come from this stream.",
                    self.name
                ))),
            }
        };
        let position = match kind {
            "TRIM_HORIZON" => shard.first,
            "LATEST" => shard.end(),
            "AT_SEQUENCE_NUMBER" => at_sequence(false)?,
            "AFTER_SEQUENCE_NUMBER" => at_sequence(true)?,
            "AT_TIMESTAMP" => {
                let t = timestamp
                    .ok_or_else(|| KinesisError::invalid(format!("Timestamp is required for {member} AT_TIMESTAMP")))?;
                if t > now_ms {
                    return Err(KinesisError::invalid("Timestamp cannot be in the future"));
                }
                shard.first + shard.records.partition_point(|r| r.arrival_ms < t) as u64
            }
            other => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{other}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"
                )));
            }
        };
        Ok((shard.ordinal, position))
    }

    pub(super) fn reindex(&mut self) {
        self.open = self.shards.iter().filter(|s| s.is_open()).map(|s| (s.hash_start, s.ordinal)).collect();
        self.open.sort_unstable();
    }

    pub(super) fn route(&self, hash: u128) -> u32 {
        let i = self.open.partition_point(|(start, _)| *start <= hash);
        self.open[i.saturating_sub(1)].1
    }

    pub(super) fn add_shard(&mut self, range: (u128, u128), parents: (Option<u32>, Option<u32>), now_ms: i64) -> u32 {
        let ordinal = self.shards.len() as u32;
        self.shards.push(Shard::new(ordinal, range, parents, now_ms));
        ordinal
    }

    pub(super) fn close(&mut self, ordinal: u32, now_ms: i64) {
        let s = &mut self.shards[ordinal as usize];
        let last = s.end().checked_sub(1);
        s.closed = Some((now_ms, last));
    }

    pub(super) fn out(&self, s: &Shard) -> ShardOut {
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
    /// Counted in the ledger, unread ones kept there when it keeps them.
    pub(super) fn trim(&mut self, now_ms: i64) {
        let horizon = now_ms - self.retention_hours * 3_600_000;
        let ledger = &mut self.ledger;
        for s in &mut self.shards {
            while let Some(r) = s.records.pop_front_if(|r| r.arrival_ms < horizon) {
                s.bytes -= r.bytes.len() as u64;
                ledger.counts.records_trimmed += 1;
                if !r.read {
                    ledger.counts.records_trimmed_unread += 1;
                    if ledger.keep_trimmed {
                        ledger.trimmed_unread.push(crate::stats::Trimmed {
                            shard: shard_id(s.ordinal),
                            sequence: sequence_number(self.incarnation, s.ordinal, s.first),
                            arrival_ms: r.arrival_ms,
                            data: r.bytes[r.key_len as usize..].to_vec(),
                        });
                    }
                }
                s.first += 1;
            }
        }
    }

    /// Marks the records of `ordinal` at `positions` read (they are being returned).
    pub(super) fn mark_read(&mut self, ordinal: u32, positions: std::ops::Range<u64>) {
        let shard = &mut self.shards[ordinal as usize];
        // Positions past the end (an iterator after the last record) mark nothing.
        let to = (positions.end.saturating_sub(shard.first) as usize).min(shard.records.len());
        let from = (positions.start.saturating_sub(shard.first) as usize).min(to);
        for r in shard.records.range_mut(from..to) {
            r.read = true;
        }
    }

    pub(super) fn open_count(&self) -> i64 {
        self.open.len() as i64
    }

    /// AWS's StreamStatus at `now_ms`.
    pub(super) fn status(&self, now_ms: i64) -> &'static str {
        if self.deleting_until_ms.is_some() {
            "DELETING"
        } else if now_ms < self.active_ms {
            "CREATING"
        } else if now_ms < self.updating_until_ms {
            "UPDATING"
        } else {
            "ACTIVE"
        }
    }

    /// `EncryptionType` as AWS says it.
    pub(super) fn encryption(&self) -> &'static str {
        if self.kms_key.is_some() { "KMS" } else { "NONE" }
    }

    /// Refuses a whole put whose records (`sizes`, with their keys) hold one above the stream's
    /// maximum record size (UpdateMaxRecordSize raises it), AWS's `ValidationException`; or, on
    /// an encrypted stream, with the `kms_errors` fault's error (`kms`), request-level as AWS's.
    pub(super) fn check_put(
        &self,
        sizes: impl Iterator<Item = usize>,
        kms: Option<&'static str>,
    ) -> Result<(), KinesisError> {
        let max = self.max_record_kib as usize * 1024;
        if let Some((i, size)) = sizes.enumerate().find(|(_, size)| *size > max) {
            return Err(KinesisError::validation(format!(
                "Record {i} of the call holds {size} bytes with its partition key, above stream {}'s maximum record size of {} KiB (UpdateMaxRecordSize raises it up to 10240 KiB)",
                self.name, self.max_record_kib
            )));
        }
        self.check_kms(kms)
    }

    /// The `kms_errors` fault's error (`kms`) if the stream is encrypted.
    pub(super) fn check_kms(&self, kms: Option<&'static str>) -> Result<(), KinesisError> {
        match (kms, &self.kms_key) {
            (Some(code), Some(key)) => Err(KinesisError::new(
                code,
                format!("Injected by minutely sim: KMS key {key} of stream {} under account {ACCOUNT}", self.name),
            )),
            _ => Ok(()),
        }
    }

    /// Its deletion is over.
    pub(super) fn gone(&self, now_ms: i64) -> bool {
        self.deleting_until_ms.is_some_and(|t| now_ms >= t)
    }

    /// UPDATING for `ms` from `now_ms` (a reshard, a change of mode).
    pub(super) fn updating(&mut self, now_ms: i64, ms: i64) {
        self.updating_until_ms = now_ms + ms;
    }
}

/// Where a reader asks to start: `kind` is an iterator type (`TRIM_HORIZON`, `AT_SEQUENCE_NUMBER`,
/// ...) with its sequence number or timestamp; `op` and `member` name the call and the field in
/// errors.
#[derive(Clone, Copy, Debug)]
pub(super) struct Start<'a> {
    pub(super) op: &'static str,
    pub(super) member: &'static str,
    pub(super) kind: &'a str,
    pub(super) sequence: Option<&'a str>,
    pub(super) timestamp: Option<i64>,
}

/// An iterator's content: which shard, where, and when it was issued.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Iter {
    pub(super) stream: String,
    pub(super) incarnation: u64,
    pub(super) ordinal: u32,
    pub(super) position: u64,
    pub(super) issued_ms: i64,
}

impl Iter {
    pub(super) fn encode(&self) -> String {
        let raw = format!("{}|{}|{}|{}|{}", self.incarnation, self.ordinal, self.position, self.issued_ms, self.stream);
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub(super) fn decode(s: &str) -> Option<Iter> {
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

impl Stream {
    /// The shards whose parent or adjacent parent is `ordinal`, as GetRecords names them at the
    /// end of a closed shard.
    pub(super) fn children(&self, ordinal: u32) -> Vec<ChildShard> {
        self.shards
            .iter()
            .filter(|c| c.parent == Some(ordinal) || c.adjacent_parent == Some(ordinal))
            .map(|c| ChildShard {
                shard_id: shard_id(c.ordinal),
                parent_shards: c.parent.into_iter().chain(c.adjacent_parent).map(shard_id).collect(),
                hash_key_range: HashKeyRange {
                    starting_hash_key: c.hash_start.to_string(),
                    ending_hash_key: c.hash_end.to_string(),
                },
            })
            .collect()
    }
}

impl Shard {
    /// How far one read (a GetRecords page, a SubscribeToShard event) goes from `start`: at most
    /// `limit` records and `max_bytes` (but always one record, if there is one). Returns the
    /// position after the last record read and the bytes read.
    pub(super) fn read_until(&self, start: u64, limit: usize, max_bytes: usize) -> (u64, usize) {
        let (mut position, mut bytes) = (start, 0);
        while ((position - start) as usize) < limit {
            let Some(r) = self.get(position) else { break };
            if position > start && bytes + r.bytes.len() > max_bytes {
                break;
            }
            bytes += r.bytes.len();
            position += 1;
        }
        (position, bytes)
    }
}

/// `n` shards of even ranges over the 128-bit hash key space, as AWS draws them: shard `i`
/// starts at `i * floor(2^128 / n)`, so that the ranges of `2n` shards split those of `n`
/// exactly in two (a doubling is one split per shard).
pub(super) fn even_ranges(n: u32) -> Vec<(u128, u128)> {
    let n = u128::from(n.max(1));
    // floor(2^128 / n) without 2^128: floor((2^128 - 1) / n), plus one when n divides 2^128.
    let width = u128::MAX / n + u128::from(n > 1 && u128::MAX % n == n - 1);
    (0..n)
        .map(|i| {
            let start = width * i;
            let end = if i + 1 == n { u128::MAX } else { width * (i + 1) - 1 };
            (start, end)
        })
        .collect()
}

/// AWS's routing: the MD5 of the partition key as a big-endian 128-bit integer.
pub fn hash_key(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

/// Splits open shard `ordinal` at `new_start`; returns the two children (low, high). The
/// caller reindexes the open shards ([`Stream::reindex`]) once it has made all its changes.
pub(super) fn split(s: &mut Stream, ordinal: u32, new_start: u128, now_ms: i64) -> Result<(u32, u32), KinesisError> {
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
    let low = s.add_shard((start, new_start - 1), (Some(ordinal), None), now_ms);
    let high = s.add_shard((new_start, end), (Some(ordinal), None), now_ms);
    Ok((low, high))
}

/// Merges open adjacent shards `a` and `b`; returns the child. The caller reindexes.
pub(super) fn merge(s: &mut Stream, a: u32, b: u32, now_ms: i64) -> Result<u32, KinesisError> {
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
    Ok(s.add_shard(range, (Some(a), Some(b)), now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_are_written_as_format_pads_them_and_read_back() {
        let cases = [(1, 0, 0), (7, 3, 12_345), (9_999_999_999, u32::MAX, u64::MAX), (10_000_000_000, 1, 2)];
        for (incarnation, ordinal, position) in cases {
            let s = sequence_number(incarnation, ordinal, position);
            assert_eq!(s, format!("49{incarnation:010}{ordinal:020}{position:024}"));
            if incarnation < 10_000_000_000 {
                assert_eq!(parse_sequence_number(&s), Some((incarnation, ordinal, position)));
            }
        }
    }
}
