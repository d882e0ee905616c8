//! Kinesis over HTTP: one POST per call, the operation in `X-Amz-Target`, the body in
//! awsJson1_1 or CBOR. Decodes, applies the faults, runs the operation on [`state::Kinesis`],
//! encodes the answer in the request's protocol.

mod account;
mod consumers;
pub mod error;
pub mod fanout;
mod fixtures;
mod list;
mod on_demand;
mod reshard;
pub mod settings;
pub mod state;
mod stream;
pub(crate) mod subscribe;
pub mod wire;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::faults::{LostAnswer, dice};
pub use crate::operation::{OPERATIONS, Operation, is_data_operation};
use crate::shared::Shared;
use error::KinesisError;
use state::{ACCOUNT, Fate, MAX_PUT_RECORDS_BYTES, MAX_PUT_RECORDS_ENTRIES};
use wire::*;

/// The two wire protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Cbor,
}

impl Protocol {
    pub fn from_content_type(ct: Option<&str>) -> Protocol {
        match ct {
            Some(ct) if ct.starts_with("application/x-amz-cbor") => Protocol::Cbor,
            _ => Protocol::Json,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::Json => "application/x-amz-json-1.1",
            Protocol::Cbor => "application/x-amz-cbor-1.1",
        }
    }

    fn decode<T: DeserializeOwned + Default>(self, body: &[u8]) -> Result<T, KinesisError> {
        if body.is_empty() {
            return Ok(T::default());
        }
        match self {
            Protocol::Json => serde_json::from_slice(body).map_err(|e| {
                KinesisError::serialization(format!("the request body is not valid for this operation: {e}"))
            }),
            Protocol::Cbor => ciborium::from_reader(body).map_err(|e| {
                KinesisError::serialization(format!("the CBOR request body is not valid for this operation: {e}"))
            }),
        }
    }

    pub fn encode<T: Serialize>(self, value: &T) -> Vec<u8> {
        match self {
            Protocol::Json => {
                serde_json::to_vec(value).unwrap_or_else(|e| format!("{{\"message\":\"{e}\"}}").into_bytes())
            }
            Protocol::Cbor => {
                let mut out = Vec::new();
                // Writing into a Vec fails only on a value serde cannot express; answer that as an error body.
                if let Err(e) = ciborium::into_writer(value, &mut out) {
                    out.clear();
                    let _ = ciborium::into_writer(
                        &ErrorBody { kind: "InternalFailure", message: &e.to_string() },
                        &mut out,
                    );
                }
                out
            }
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "__type")]
    kind: &'a str,
    message: &'a str,
}

/// An HTTP answer before it becomes one.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub error: Option<&'static str>,
    /// The call was applied, but the fault dice lose its answer: the client sees this instead.
    pub lost: Option<LostAnswer>,
}

impl Answer {
    pub fn error(protocol: Protocol, e: &KinesisError) -> Answer {
        Answer {
            status: e.status(),
            body: protocol.encode(&ErrorBody { kind: e.code, message: &e.message }),
            error: Some(e.code),
            lost: None,
        }
    }
}

/// Runs one call. `call` is its number among this operation's calls (for the dice).
pub(crate) fn handle(shared: &Shared, op: &str, protocol: Protocol, body: &[u8], call: u64) -> Answer {
    let now = shared.clock.now_ms();
    let lost = answer_lost(shared, op, call);
    let result = match Operation::parse(op) {
        Some(op) => run(shared, op, protocol, body, call, lost.is_some(), now),
        None => Err(KinesisError::new(
            "UnknownOperationException",
            format!("minutely sim does not serve the Kinesis operation {op}; it serves {}", OPERATIONS.join(", ")),
        )),
    };
    match result {
        Ok(body) => {
            if lost.is_some() {
                shared.stats.bump(|s| s.answers_lost += 1);
            }
            Answer { status: 200, body, error: None, lost }
        }
        Err(e) => Answer::error(protocol, &e),
    }
}

/// Whether the dice lose the answer of this put (and how the client sees it); decided before
/// the call is applied, so that the stream's ledger knows its entries are in doubt.
fn answer_lost(shared: &Shared, op: &str, call: u64) -> Option<LostAnswer> {
    if !matches!(op, "PutRecords" | "PutRecord") {
        return None;
    }
    let f = shared.faults.read().unwrap_or_else(|e| e.into_inner());
    let rate = f.put_records.answer_lost_rate;
    (rate > 0.0 && dice(f.seed, &format!("{op}.lost"), call, 0) < rate).then_some(f.put_records.answer_lost_as)
}

/// Runs `op`; `lost`: the answer of a put will be lost.
fn run(
    shared: &Shared,
    op: Operation,
    p: Protocol,
    body: &[u8],
    call: u64,
    lost: bool,
    now: i64,
) -> Result<Vec<u8>, KinesisError> {
    use Operation::*;
    if let Some(rate) = crate::limits::control_rate(op.name()) {
        let mut k = lock(shared);
        if k.limits && !k.control.admit(op.name(), rate, now) {
            *k.limit_stats.control_throttled.entry(op.name().into()).or_default() += 1;
            return Err(KinesisError::limit(format!(
                "Rate exceeded for {} under account {ACCOUNT}: at most {rate} calls a second (AWS's limit per account)",
                op.name()
            )));
        }
    }
    // Bodies are decoded before the lock is taken (`locked`); answers that borrow records are encoded under it.
    match op {
        CreateStream => locked(shared, p, body, |k, input| k.create_stream(input, now)),
        DeleteStream => locked(shared, p, body, |k, input| k.delete_stream(input, now)),
        DescribeStream => locked(shared, p, body, |k, input| k.describe_stream(input, now)),
        DescribeStreamSummary => locked(shared, p, body, |k, input| k.describe_stream_summary(input, now)),
        ListStreams => locked(shared, p, body, |k, input| k.list_streams(input, now)),
        ListShards => locked(shared, p, body, |k, input| k.list_shards(input, now)),
        GetShardIterator => locked(shared, p, body, |k, input| k.get_shard_iterator(input, now)),
        SplitShard => locked(shared, p, body, |k, input| k.split_shard(input, now)),
        MergeShards => locked(shared, p, body, |k, input| k.merge_shards(input, now)),
        UpdateShardCount => locked(shared, p, body, |k, input| k.update_shard_count(input, now)),
        PutRecords => put_records(shared, p, body, call, lost, now),
        PutRecord => put_record(shared, p, body, call, lost, now),
        GetRecords => get_records(shared, p, body, call, now),
        RegisterStreamConsumer => locked(shared, p, body, |k, input| k.register_stream_consumer(input, now)),
        DeregisterStreamConsumer => locked(shared, p, body, |k, input| k.deregister_stream_consumer(input)),
        DescribeStreamConsumer => locked(shared, p, body, |k, input| k.describe_stream_consumer(input, now)),
        ListStreamConsumers => locked(shared, p, body, |k, input| k.list_stream_consumers(input, now)),
        IncreaseStreamRetentionPeriod => locked(shared, p, body, |k, input| k.change_retention(input, true, now)),
        DecreaseStreamRetentionPeriod => locked(shared, p, body, |k, input| k.change_retention(input, false, now)),
        AddTagsToStream => locked(shared, p, body, |k, input| k.add_tags_to_stream(input, now)),
        RemoveTagsFromStream => locked(shared, p, body, |k, input| k.remove_tags_from_stream(input, now)),
        ListTagsForStream => locked(shared, p, body, |k, input| k.list_tags_for_stream(input, now)),
        UpdateStreamMode => locked(shared, p, body, |k, input| k.update_stream_mode(input, now)),
        UpdateMaxRecordSize => locked(shared, p, body, |k, input| k.update_max_record_size(input, now)),
        StartStreamEncryption => locked(shared, p, body, |k, input| k.change_encryption(input, true, now)),
        StopStreamEncryption => locked(shared, p, body, |k, input| k.change_encryption(input, false, now)),
        DescribeLimits => locked(shared, p, body, |k, _: serde_json::Value| k.describe_limits()),
        UpdateStreamWarmThroughput => locked(shared, p, body, |k, input| k.update_stream_warm_throughput(input, now)),
        DescribeAccountSettings => locked(shared, p, body, |k, _: serde_json::Value| k.describe_account_settings(now)),
        UpdateAccountSettings => locked(shared, p, body, |k, input| k.update_account_settings(input, now)),
        // Its answer is a stream of events, not a body: the server pushes it (`subscribe.rs`).
        SubscribeToShard => Err(KinesisError::new("InternalFailure", "SubscribeToShard is answered by the server")),
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, state::Kinesis> {
    shared.kinesis.lock().unwrap_or_else(|e| e.into_inner())
}

/// PutRecords: the request's limits checked, each entry's fate drawn, then applied.
fn put_records(
    shared: &Shared,
    p: Protocol,
    body: &[u8],
    call: u64,
    lost: bool,
    now: i64,
) -> Result<Vec<u8>, KinesisError> {
    let input: PutRecordsInput = p.decode(body)?;
    let records = input.records.ok_or_else(|| KinesisError::validation("1 validation error detected: Value null at 'records' failed to satisfy constraint: Member must not be null"))?;
    if records.is_empty() || records.len() > MAX_PUT_RECORDS_ENTRIES {
        return Err(KinesisError::validation(format!(
            "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and {MAX_PUT_RECORDS_ENTRIES} (it has {})",
            records.len()
        )));
    }
    let entries = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| state::entry(r.data, r.partition_key, r.explicit_hash_key, &format!("records.{}.member.", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let total: usize = entries.iter().map(|e| e.data.len() + e.partition_key.len()).sum();
    if total > MAX_PUT_RECORDS_BYTES {
        return Err(KinesisError::invalid(format!(
            "Records size exceeds 10 MiB limit: the request holds {total} bytes of data and partition keys"
        )));
    }
    let fates = fates(shared, "PutRecords", call, entries.len());
    let kms = kms(shared, "PutRecords", call);
    let out = lock(shared).put_records(&input.stream, entries, &fates, lost, kms, now)?;
    shared.stats.injected(fates.iter().filter(|f| matches!(f, Fate::Fail(_))).count() as u64);
    Ok(p.encode(&out))
}

/// PutRecord: one entry, its failure an error of the call.
fn put_record(
    shared: &Shared,
    p: Protocol,
    body: &[u8],
    call: u64,
    lost: bool,
    now: i64,
) -> Result<Vec<u8>, KinesisError> {
    let input: PutRecordInput = p.decode(body)?;
    let entry = state::entry(input.data, input.partition_key, input.explicit_hash_key, "")?;
    let fates = fates(shared, "PutRecord", call, 1);
    let kms = kms(shared, "PutRecord", call);
    let out = lock(shared).put_records(&input.stream, vec![entry], &fates, lost, kms, now)?;
    shared.stats.injected(fates.iter().filter(|f| matches!(f, Fate::Fail(_))).count() as u64);
    let r = out.records.into_iter().next().expect("one entry in, one out");
    match (r.shard_id, r.sequence_number, r.error_code) {
        (Some(shard_id), Some(sequence_number), None) => {
            Ok(p.encode(&PutRecordOutput { shard_id, sequence_number, encryption_type: out.encryption_type }))
        }
        (_, _, code) => Err(KinesisError::new(
            if code == Some("InternalFailure") { "InternalFailure" } else { "ProvisionedThroughputExceededException" },
            r.error_message.unwrap_or_default(),
        )),
    }
}

/// GetRecords, with the iterator's expiry drawn by the dice.
fn get_records(shared: &Shared, p: Protocol, body: &[u8], call: u64, now: i64) -> Result<Vec<u8>, KinesisError> {
    let input: GetRecordsInput = p.decode(body)?;
    let f = shared.faults.read().unwrap_or_else(|e| e.into_inner());
    let g = &f.get_records;
    let expire = g.expire_iterator_rate > 0.0 && dice(f.seed, "GetRecords.expire", call, 0) < g.expire_iterator_rate;
    // The `empty_pages` fault raises AWS's own rate (`Shapes::empty_pages`), never lowers it;
    // the pages beyond AWS's rate are the fault's (so a scenario sees whether it fired).
    let (aws, rate) = (shared.shapes.empty_pages, g.empty_page_rate.max(shared.shapes.empty_pages));
    let roll = if rate > 0.0 { dice(f.seed, "GetRecords.empty", call, 0) } else { 1.0 };
    let (empty, injected) = (roll < rate, roll >= aws);
    drop(f);
    if expire {
        shared.stats.bump(|s| s.iterators_expired += 1);
    }
    let mut k = lock(shared);
    let out = match k.get_records(&input, state::Dice { expire, empty, kms: kms(shared, "GetRecords", call) }, now) {
        Err(e) if !expire && e.code == "ExpiredIteratorException" => {
            drop(k);
            shared.stats.bump(|s| s.iterators_aged_out += 1);
            return Err(e);
        }
        out => out?,
    };
    // Written after the lock is let go: the records are shared, not copied.
    drop(k);
    if out.left_empty {
        shared.stats.bump(|s| {
            s.empty_pages += 1;
            s.empty_pages_injected += u64::from(injected);
        });
    }
    let n = out.records.len() as u64;
    let body = p.encode(&out);
    shared.stats.bump(|s| s.records_read += n);
    Ok(body)
}

/// Decodes the body, then runs `apply` on the state under the lock and encodes its answer.
fn locked<I: DeserializeOwned + Default, O: Serialize>(
    shared: &Shared,
    p: Protocol,
    body: &[u8],
    apply: impl FnOnce(&mut state::Kinesis, I) -> Result<O, KinesisError>,
) -> Result<Vec<u8>, KinesisError> {
    let input = p.decode(body)?;
    let mut k = shared.kinesis.lock().unwrap_or_else(|e| e.into_inner());
    Ok(p.encode(&apply(&mut k, input)?))
}

/// The `kms_errors` fault's error for this call of `op`, if the dice draw one (applied only
/// if the stream is encrypted).
fn kms(shared: &Shared, op: &str, call: u64) -> Option<&'static str> {
    let f = shared.faults.read().unwrap_or_else(|e| e.into_inner());
    let k = &f.kms;
    (k.rate > 0.0 && dice(f.seed, &format!("{op}.kms"), call, 0) < k.rate).then(|| k.error.code())
}

/// The fault dice's verdict on each entry of a call.
fn fates(shared: &Shared, op: &str, call: u64, n: usize) -> Vec<Fate> {
    let f = shared.faults.read().unwrap_or_else(|e| e.into_inner());
    let rate = f.put_records.entry_failure_rate;
    (0..n as u64)
        .map(|i| {
            if rate > 0.0 && dice(f.seed, op, call, i) < rate {
                Fate::Fail(f.put_records.entry_error)
            } else {
                Fate::Store
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::Clock;

    /// Member names of every operation, so that generated bodies reach deep into the decoders.
    const MEMBERS: &[&str] = &[
        "StreamName",
        "StreamARN",
        "ShardCount",
        "StreamModeDetails",
        "StreamMode",
        "Limit",
        "ExclusiveStartShardId",
        "NextToken",
        "MaxResults",
        "ShardFilter",
        "Type",
        "ShardId",
        "Timestamp",
        "Records",
        "Data",
        "PartitionKey",
        "ExplicitHashKey",
        "ShardIteratorType",
        "StartingSequenceNumber",
        "ShardIterator",
        "ShardToSplit",
        "NewStartingHashKey",
        "ShardToMerge",
        "AdjacentShardToMerge",
        "TargetShardCount",
        "ScalingType",
        "ConsumerName",
        "ConsumerARN",
        "StartingPosition",
        "SequenceNumber",
        "RetentionPeriodHours",
        "Tags",
        "TagKeys",
        "ExclusiveStartTagKey",
        "MaxRecordSizeInKiB",
        "EncryptionType",
        "KeyId",
    ];

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
            prop_oneof![
                Just("s".to_owned()),
                Just("shardId-000000000000".to_owned()),
                Just("TRIM_HORIZON".to_owned()),
                Just("AT_SEQUENCE_NUMBER".to_owned()),
                Just("UNIFORM_SCALING".to_owned()),
                Just("AAAA".to_owned()),
                Just("340282366920938463463374607431768211455".to_owned()),
                Just("49000000000100000000000000000000000000000000000000000000".to_owned()),
                ".{0,20}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(MEMBERS), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    fn check(shared: &Shared, op: &str, protocol: Protocol, body: &[u8], call: u64) {
        let a = handle(shared, op, protocol, body, call);
        assert!(matches!(a.status, 200 | 400 | 500 | 503), "{op}: status {}", a.status);
        if a.status != 200 {
            let v: Value = match protocol {
                Protocol::Json => serde_json::from_slice(&a.body).unwrap(),
                Protocol::Cbor => ciborium::from_reader(&a.body[..]).unwrap(),
            };
            assert!(v["__type"].is_string() && v["message"].is_string(), "{op}: {v}");
        }
    }

    /// A stream used at the clock's extremes (a manual clock set far back or ahead) answers
    /// without a panic.
    #[test]
    fn the_clocks_extremes_panic_nothing() {
        for t in [i64::MIN, 0, i64::MAX] {
            let shared = Shared::new(true, &crate::Faults::default(), &Clock::manual(1_700_000_000_000));
            check(&shared, "CreateStream", Protocol::Json, br#"{"StreamName":"s","ShardCount":1}"#, 0);
            shared.clock.advance(1_000);
            let put = br#"{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"a"}]}"#;
            check(&shared, "PutRecords", Protocol::Json, put, 0);
            shared.clock.set(t);
            check(&shared, "PutRecords", Protocol::Json, put, 1);
            let it = br#"{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}"#;
            check(&shared, "GetShardIterator", Protocol::Json, it, 0);
            check(&shared, "ListShards", Protocol::Json, br#"{"StreamName":"s"}"#, 0);
            check(&shared, "DescribeStream", Protocol::Json, br#"{"StreamName":"s"}"#, 0);
            check(&shared, "DeleteStream", Protocol::Json, br#"{"StreamName":"s"}"#, 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// No body, however wrong, panics an operation: each gets an answer with a status and,
        /// when it fails, an AWS-shaped error.
        #[test]
        fn no_request_panics(ops in prop::collection::vec((prop::sample::select(OPERATIONS), value()), 1..8), cbor in any::<bool>(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
            let shared = Shared::new(true, &crate::Faults::default(), &Clock::manual(1_700_000_000_000));
            // A stream to hit, so that valid-looking bodies go past the lookups.
            check(&shared, "CreateStream", Protocol::Json, br#"{"StreamName":"s","ShardCount":2}"#, 0);
            shared.clock.advance(crate::Shapes::AWS.transition_ms); // past CREATING
            for (i, (op, body)) in ops.iter().enumerate() {
                let protocol = if cbor { Protocol::Cbor } else { Protocol::Json };
                let bytes = match protocol {
                    Protocol::Json => serde_json::to_vec(body).unwrap(),
                    Protocol::Cbor => { let mut b = Vec::new(); ciborium::into_writer(body, &mut b).unwrap(); b }
                };
                check(&shared, op, protocol, &bytes, i as u64);
                check(&shared, op, protocol, &raw, i as u64);
            }
        }
    }
}
