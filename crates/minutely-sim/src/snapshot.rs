//! The whole sim's state as a file: every stream (its shards, records, consumers and settings)
//! and every bucket (its objects), written by `GET /_sim/state` and read by `minutely sim
//! --state FILE`, so that a test suite starts from a prepared stream. JSON, records and object
//! bodies in base64: a fixture a person can read and diff. Not kept: the ledgers and stats, the
//! limits' buckets (full again) and on-demand meters, the account's commitment, live
//! subscriptions and multipart uploads in progress, the faults.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// What a snapshot holds; its `version` says its shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub version: u32,
    /// The sim's clock when it was taken, in epoch milliseconds.
    pub taken_ms: i64,
    pub streams: Vec<StreamState>,
    pub buckets: BTreeMap<String, BucketSnapshot>,
}

/// The shape written now.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamState {
    pub name: String,
    pub on_demand: bool,
    pub created_ms: i64,
    pub retention_hours: i64,
    pub max_record_kib: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// Its warm throughput target (on-demand), in MiB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_mibps: Option<i64>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub shards: Vec<ShardState>,
    #[serde(default)]
    pub consumers: Vec<ConsumerState>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardState {
    pub parent: Option<u32>,
    pub adjacent_parent: Option<u32>,
    /// The hash key range, as decimal strings (128-bit).
    pub hash_start: String,
    pub hash_end: String,
    pub created_ms: i64,
    /// When it was closed, and its last position.
    pub closed: Option<(i64, Option<u64>)>,
    /// The position of its first record (records before it were trimmed).
    pub first: u64,
    pub records: Vec<RecordState>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordState {
    pub key: String,
    /// Base64.
    pub data: String,
    pub arrival_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerState {
    pub name: String,
    pub arn: String,
    pub created_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSnapshot {
    pub created_ms: i64,
    pub objects: BTreeMap<String, ObjectState>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectState {
    /// Base64.
    pub data: String,
    /// As S3 gave it (a multipart object's is not its body's MD5).
    pub etag: String,
    pub modified_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Base64 back to bytes, or what is wrong and where.
pub(crate) fn decode(text: &str, at: &str) -> Result<Vec<u8>, String> {
    STANDARD.decode(text).map_err(|e| format!("{at}: the data is not base64: {e}"))
}

impl crate::shared::Shared {
    /// The whole state now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let streams = self.kinesis.lock().unwrap_or_else(|e| e.into_inner()).snapshot();
        let buckets = self.s3.snapshot();
        Snapshot { version: VERSION, taken_ms: self.clock.now_ms(), streams, buckets }
    }

    /// Replaces the whole state with `s` (checked first: on an error nothing changes).
    pub(crate) fn restore(&self, s: &Snapshot) -> Result<(), String> {
        if s.version != VERSION {
            return Err(format!("snapshot version {} is not {VERSION}, the one this sim reads", s.version));
        }
        let mut k = crate::kinesis::state::Kinesis::new(self.limits, self.shapes);
        k.restore(&s.streams, self.clock.now_ms())?;
        self.s3.restore(&s.buckets)?;
        *self.kinesis.lock().unwrap_or_else(|e| e.into_inner()) = k;
        Ok(())
    }
}
