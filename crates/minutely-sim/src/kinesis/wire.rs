//! Kinesis's request and response shapes, for both of its wire protocols.
//!
//! awsJson1_1 (the Rust SDK, boto3, the AWS CLI) and CBOR (`application/x-amz-cbor-1.1`, the
//! Java SDK v2 and so the KCL) carry the same members; they differ in how a blob and a
//! timestamp are written. [`Blob`] and [`Timestamp`] ask the format (`is_human_readable`):
//! JSON gets base64 strings and epoch seconds as numbers, CBOR gets byte strings and
//! epoch-seconds numbers under tag 1. Every member is optional here; the operations check what
//! is required and answer `ValidationException`, as AWS does.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes: base64 in JSON, a byte string in CBOR.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        BlobRef(&self.0).serialize(s)
    }
}

/// A blob borrowed for writing an answer without copying the stored record.
#[derive(Clone, Copy, Debug)]
pub struct BlobRef<'a>(pub &'a [u8]);

impl Serialize for BlobRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // SIMD base64: the bulk of a GetRecords answer in JSON.
        if s.is_human_readable() {
            s.serialize_str(&base64_simd::STANDARD.encode_to_string(self.0))
        } else {
            s.serialize_bytes(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Blob, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a blob (base64 string or bytes)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Blob, E> {
                STANDARD.decode(v).map(Blob).map_err(|e| E::custom(format!("a blob is not valid base64: {e}")))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A point in time, milliseconds since the epoch. In JSON, epoch seconds (a number with a
/// fraction); in CBOR, as the Java SDKs write and read it, tag 1 around epoch *milliseconds*
/// (an integer; RFC 8949 says seconds, the SDKs' `SdkCborGenerator` writes `getTime()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_f64(self.0 as f64 / 1000.0)
        } else {
            ciborium::tag::Required::<i64, 1>(self.0).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        // Numbers are seconds in JSON and milliseconds in CBOR.
        struct V {
            unit_ms: f64,
        }
        impl<'de> Visitor<'de> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp (a number)")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Ok(Timestamp((v * self.unit_ms).round() as i64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse::<f64>().map_err(|_| E::custom("a timestamp is a number")).and_then(|n| self.visit_f64(n))
            }
        }
        if d.is_human_readable() {
            return d.deserialize_any(V { unit_ms: 1000.0 });
        }
        // CBOR: the number may sit inside tag 1.
        let mut v = ciborium::Value::deserialize(d)?;
        while let ciborium::Value::Tag(_, inner) = v {
            v = *inner;
        }
        let ms = match v {
            ciborium::Value::Integer(i) => i128::from(i) as f64,
            ciborium::Value::Float(f) => f,
            other => return Err(de::Error::custom(format!("a timestamp is a number, not {other:?}"))),
        };
        Ok(Timestamp(ms.round() as i64))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StreamModeDetails {
    pub stream_mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StreamRef {
    pub stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    pub stream_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateStreamInput {
    pub stream_name: Option<String>,
    pub shard_count: Option<i64>,
    pub stream_mode_details: Option<StreamModeDetails>,
    #[serde(rename = "MaxRecordSizeInKiB")]
    pub max_record_size_in_kib: Option<i64>,
    #[serde(rename = "WarmThroughputMiBps")]
    pub warm_throughput_mi_bps: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeStreamInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub limit: Option<i64>,
    pub exclusive_start_shard_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListStreamsInput {
    pub limit: Option<i64>,
    pub exclusive_start_stream_name: Option<String>,
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ShardFilter {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub shard_id: Option<String>,
    pub timestamp: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListShardsInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub next_token: Option<String>,
    pub exclusive_start_shard_id: Option<String>,
    pub max_results: Option<i64>,
    pub stream_creation_timestamp: Option<Timestamp>,
    pub shard_filter: Option<ShardFilter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PutRecordInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub data: Option<Blob>,
    pub partition_key: Option<String>,
    pub explicit_hash_key: Option<String>,
    pub sequence_number_for_ordering: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PutRecordsEntry {
    pub data: Option<Blob>,
    pub partition_key: Option<String>,
    pub explicit_hash_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PutRecordsInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub records: Option<Vec<PutRecordsEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetShardIteratorInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub shard_id: Option<String>,
    pub shard_iterator_type: Option<String>,
    pub starting_sequence_number: Option<String>,
    pub timestamp: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetRecordsInput {
    pub shard_iterator: Option<String>,
    pub limit: Option<i64>,
    #[serde(rename = "StreamARN")]
    pub stream_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SplitShardInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub shard_to_split: Option<String>,
    pub new_starting_hash_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MergeShardsInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub shard_to_merge: Option<String>,
    pub adjacent_shard_to_merge: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateShardCountInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub target_shard_count: Option<i64>,
    pub scaling_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteStreamInput {
    #[serde(flatten)]
    pub stream: StreamRef,
    pub enforce_consumer_deletion: Option<bool>,
}

// ---- answers ----

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HashKeyRange {
    pub starting_hash_key: String,
    pub ending_hash_key: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SequenceNumberRange {
    pub starting_sequence_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ending_sequence_number: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShardOut {
    pub shard_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_shard_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adjacent_parent_shard_id: Option<String>,
    pub hash_key_range: HashKeyRange,
    pub sequence_number_range: SequenceNumberRange,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChildShard {
    pub shard_id: String,
    pub parent_shards: Vec<String>,
    pub hash_key_range: HashKeyRange,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamModeOut {
    pub stream_mode: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnhancedMetrics {
    pub shard_level_metrics: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDescription {
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    pub stream_status: &'static str,
    pub stream_mode_details: StreamModeOut,
    pub shards: Vec<ShardOut>,
    pub has_more_shards: bool,
    pub retention_period_hours: i64,
    pub stream_creation_timestamp: Timestamp,
    pub enhanced_monitoring: Vec<EnhancedMetrics>,
    pub encryption_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDescriptionSummary {
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    pub stream_status: &'static str,
    pub stream_mode_details: StreamModeOut,
    pub retention_period_hours: i64,
    pub stream_creation_timestamp: Timestamp,
    pub enhanced_monitoring: Vec<EnhancedMetrics>,
    pub encryption_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    pub open_shard_count: i64,
    pub consumer_count: i64,
    #[serde(rename = "MaxRecordSizeInKiB")]
    pub max_record_size_in_kib: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_throughput: Option<WarmThroughputOut>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSummary {
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    pub stream_status: &'static str,
    pub stream_mode_details: StreamModeOut,
    pub stream_creation_timestamp: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsOutput {
    pub stream_names: Vec<String>,
    pub has_more_streams: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    pub stream_summaries: Vec<StreamSummary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListShardsOutput {
    pub shards: Vec<ShardOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordOutput {
    pub shard_id: String,
    pub sequence_number: String,
    pub encryption_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsResultEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsOutput {
    pub failed_record_count: i64,
    pub records: Vec<PutRecordsResultEntry>,
    pub encryption_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetShardIteratorOutput {
    pub shard_iterator: String,
}

/// A record read: its stored bytes shared (partition key, then data), written after the lock
/// is let go.
#[derive(Debug)]
pub struct RecordOut {
    pub sequence_number: String,
    pub approximate_arrival_timestamp: Timestamp,
    pub record: std::sync::Arc<[u8]>,
    pub key_len: u16,
}

impl Serialize for RecordOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (key, data) = self.record.split_at(usize::from(self.key_len));
        let mut r = s.serialize_struct("Record", 4)?;
        r.serialize_field("SequenceNumber", &self.sequence_number)?;
        r.serialize_field("ApproximateArrivalTimestamp", &self.approximate_arrival_timestamp)?;
        r.serialize_field("Data", &BlobRef(data))?;
        r.serialize_field("PartitionKey", std::str::from_utf8(key).unwrap_or_default())?;
        r.end()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRecordsOutput {
    /// Left empty by the `empty_pages` fault (not on the wire).
    #[serde(skip)]
    pub left_empty: bool,
    pub records: Vec<RecordOut>,
    pub next_shard_iterator: Option<String>,
    pub millis_behind_latest: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_shards: Option<Vec<ChildShard>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateShardCountOutput {
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    pub current_shard_count: i64,
    pub target_shard_count: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamOutput {
    pub stream_description: StreamDescription,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamSummaryOutput {
    pub stream_description_summary: StreamDescriptionSummary,
}

#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WarmThroughputOut {
    #[serde(rename = "TargetMiBps", skip_serializing_if = "Option::is_none")]
    pub target_mi_bps: Option<i64>,
    #[serde(rename = "CurrentMiBps")]
    pub current_mi_bps: i64,
}
