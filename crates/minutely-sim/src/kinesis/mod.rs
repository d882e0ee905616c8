//! Kinesis over HTTP: one POST per call, the operation in `X-Amz-Target`, the body in
//! awsJson1_1 or CBOR. Decodes, applies the faults, runs the operation on [`state::Kinesis`],
//! encodes the answer in the request's protocol.

pub mod error;
pub mod state;
pub mod wire;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Shared;
use crate::faults::dice;
use error::KinesisError;
use state::{Fate, MAX_PUT_RECORDS_BYTES, MAX_PUT_RECORDS_ENTRIES};
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
}

impl Answer {
    pub fn error(protocol: Protocol, e: &KinesisError) -> Answer {
        Answer {
            status: e.status(),
            body: protocol.encode(&ErrorBody { kind: e.code, message: &e.message }),
            error: Some(e.code),
        }
    }
}

/// The operations served, for `X-Amz-Target: Kinesis_20131202.<op>`.
pub const OPERATIONS: &[&str] = &[
    "CreateStream",
    "DeleteStream",
    "DescribeStream",
    "DescribeStreamSummary",
    "ListStreams",
    "ListShards",
    "PutRecord",
    "PutRecords",
    "GetShardIterator",
    "GetRecords",
    "SplitShard",
    "MergeShards",
    "UpdateShardCount",
];

/// Whether an operation reads or writes records (its throttling error is then
/// `ProvisionedThroughputExceededException`, else `LimitExceededException`).
pub fn is_data_operation(op: &str) -> bool {
    matches!(op, "PutRecord" | "PutRecords" | "GetRecords" | "GetShardIterator")
}

/// Runs one call. `call` is its number among this operation's calls (for the dice).
pub(crate) fn handle(shared: &Shared, op: &str, protocol: Protocol, body: &[u8], call: u64) -> Answer {
    let now = shared.clock.now_ms();
    let result = run(shared, op, protocol, body, call, now);
    match result {
        Ok(body) => Answer { status: 200, body, error: None },
        Err(e) => Answer::error(protocol, &e),
    }
}

fn run(shared: &Shared, op: &str, p: Protocol, body: &[u8], call: u64, now: i64) -> Result<Vec<u8>, KinesisError> {
    let mut k = shared.kinesis.lock().unwrap_or_else(|e| e.into_inner());
    match op {
        "CreateStream" => Ok(p.encode(&k.create_stream(p.decode(body)?, now)?)),
        "DeleteStream" => Ok(p.encode(&k.delete_stream(p.decode(body)?)?)),
        "DescribeStream" => Ok(p.encode(&k.describe_stream(p.decode(body)?, now)?)),
        "DescribeStreamSummary" => Ok(p.encode(&k.describe_stream_summary(p.decode(body)?)?)),
        "ListStreams" => Ok(p.encode(&k.list_streams(p.decode(body)?)?)),
        "ListShards" => Ok(p.encode(&k.list_shards(p.decode(body)?, now)?)),
        "GetShardIterator" => Ok(p.encode(&k.get_shard_iterator(p.decode(body)?, now)?)),
        "SplitShard" => Ok(p.encode(&k.split_shard(p.decode(body)?, now)?)),
        "MergeShards" => Ok(p.encode(&k.merge_shards(p.decode(body)?, now)?)),
        "UpdateShardCount" => Ok(p.encode(&k.update_shard_count(p.decode(body)?, now)?)),
        "PutRecords" => {
            drop(k);
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
                .map(|(i, r)| {
                    state::entry(r.data, r.partition_key, r.explicit_hash_key, &format!("records.{}.member.", i + 1))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let total: usize = entries.iter().map(|e| e.data.len() + e.partition_key.len()).sum();
            if total > MAX_PUT_RECORDS_BYTES {
                return Err(KinesisError::invalid(format!(
                    "Records size exceeds 5 MB limit: the request holds {total} bytes of data and partition keys"
                )));
            }
            let fates = fates(shared, "PutRecords", call, entries.len());
            let out = shared.kinesis.lock().unwrap_or_else(|e| e.into_inner()).put_records(
                &input.stream,
                entries,
                &fates,
                now,
            )?;
            shared.stats.entries(&out, &fates);
            Ok(p.encode(&out))
        }
        "PutRecord" => {
            drop(k);
            let input: PutRecordInput = p.decode(body)?;
            let entry = state::entry(input.data, input.partition_key, input.explicit_hash_key, "")?;
            let fates = fates(shared, "PutRecord", call, 1);
            let out = shared.kinesis.lock().unwrap_or_else(|e| e.into_inner()).put_records(
                &input.stream,
                vec![entry],
                &fates,
                now,
            )?;
            shared.stats.entries(&out, &fates);
            let r = out.records.into_iter().next().expect("one entry in, one out");
            match (r.shard_id, r.sequence_number, r.error_code) {
                (Some(shard_id), Some(sequence_number), None) => {
                    Ok(p.encode(&PutRecordOutput { shard_id, sequence_number, encryption_type: "NONE" }))
                }
                (_, _, code) => Err(KinesisError::new(
                    if code == Some("InternalFailure") {
                        "InternalFailure"
                    } else {
                        "ProvisionedThroughputExceededException"
                    },
                    r.error_message.unwrap_or_default(),
                )),
            }
        }
        "GetRecords" => {
            let input: GetRecordsInput = p.decode(body)?;
            let f = shared.faults.read().unwrap_or_else(|e| e.into_inner());
            let expire = f.get_records.expire_iterator_rate > 0.0
                && dice(f.seed, "GetRecords.expire", call, 0) < f.get_records.expire_iterator_rate;
            drop(f);
            if expire {
                shared.stats.bump(|s| s.iterators_expired += 1);
            }
            let out = k.get_records(&input, expire, now)?;
            let n = out.records.len() as u64;
            let body = p.encode(&out);
            drop(k);
            shared.stats.bump(|s| s.records_read += n);
            Ok(body)
        }
        other => Err(KinesisError::new(
            "UnknownOperationException",
            format!("minutely sim does not serve the Kinesis operation {other}; it serves {}", OPERATIONS.join(", ")),
        )),
    }
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
