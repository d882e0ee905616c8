//! What the sim counts: calls, faults injected, limits applied, what it stores.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What the sim has seen and done, for `/_sim/stats` and [`crate::Sim::stats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Calls per operation (`PutRecords`, `s3:PutObject`...).
    pub calls: BTreeMap<String, u64>,
    /// Whole-call errors injected, per operation.
    pub errors_injected: BTreeMap<String, u64>,
    /// PutRecords entries failed by the fault dice.
    pub entries_failed_injected: u64,
    /// What the per-shard limits refused (flattened: the same JSON fields).
    #[serde(flatten)]
    pub limits: LimitStats,
    /// Calls applied whose answer was lost.
    pub answers_lost: u64,
    /// GetRecords answered `ExpiredIteratorException` by the `expire_iterators` fault.
    pub iterators_expired: u64,
    /// ... and because the iterator was older than its 5 minutes (a stalled reader's).
    #[serde(default)]
    pub iterators_aged_out: u64,
    /// GetRecords answers left empty while records remained (`Shapes::empty_pages`, raised by the
    /// `empty_pages` fault).
    pub empty_pages: u64,
    /// Those of them beyond AWS's rate: the `empty_pages` fault's.
    pub empty_pages_injected: u64,
    /// SubscribeToShard events pushed (heartbeats included), and subscriptions cut by the
    /// `subscriptions_cut` fault.
    pub subscription_events: u64,
    pub subscriptions_cut: u64,
    pub records_read: u64,
    pub records_stored: u64,
    pub record_bytes_stored: u64,
    pub objects_stored: u64,
    pub object_bytes_stored: u64,
    /// What each stream was given and what came of it, by stream name.
    pub streams: BTreeMap<String, StreamCounts>,
    /// The port's connections.
    pub connections: ConnectionStats,
    /// Requests on which the sim panicked, each answered 500 (a bug in the sim; see stderr).
    pub panics: u64,
}

/// The port's connections, counted since the start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionStats {
    pub opened: u64,
    pub closed: u64,
    /// Answered 503 and closed: the cap was reached.
    pub refused: u64,
    /// Closed because a request's headers did not arrive in time.
    pub timed_out: u64,
    /// Accepts that failed (out of file descriptors, mostly), each followed by a pause.
    pub accept_errors: u64,
    /// Closed because what came was not HTTP/1.1 or HTTP/2 (said on stderr with its first bytes).
    pub unparsable: u64,
}

/// What one stream was given and what came of its entries, counted as they were put.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamCounts {
    /// Entries stored (each copy of a resent entry counts).
    pub entries_stored: u64,
    /// Entries the fault dice failed: never stored, the client was told so.
    pub entries_failed_injected: u64,
    /// Entries the per-shard write limits refused: never stored, the client was told so.
    pub entries_throttled: u64,
    /// PutRecords and PutRecord calls applied whose answer was lost (an error or a dropped
    /// connection instead of the results).
    pub answers_lost: u64,
    /// The entries those calls stored: the client was told nothing was, so a resend stores
    /// them twice.
    pub entries_ambiguous: u64,
    /// Records the retention period trimmed.
    pub records_trimmed: u64,
    /// Of those, records no GetRecords or SubscribeToShard had returned: gone unread.
    pub records_trimmed_unread: u64,
}

/// A stream's counts and the place of every entry stored under a lost answer: the facts that
/// make a duplicate "explained" (`GET /_sim/streams/NAME/ledger`, [`crate::Sim::ledger`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ledger {
    pub stream: String,
    #[serde(flatten)]
    pub counts: StreamCounts,
    /// In the order they were stored.
    pub ambiguous: Vec<Placed>,
    /// The records retention trimmed before anyone read them, in the order they were trimmed;
    /// kept only from [`crate::Sim::keep_trimmed`] on (a long-running sim would grow without
    /// bound), counted always.
    pub trimmed_unread: Vec<Trimmed>,
    /// Whether `trimmed_unread` is kept.
    #[serde(skip)]
    pub keep_trimmed: bool,
}

/// A record retention trimmed unread: where it was, when it arrived, and its data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trimmed {
    pub shard: String,
    pub sequence: String,
    pub arrival_ms: i64,
    /// Its data, base64 in JSON as Kinesis has it.
    #[serde(with = "base64_data")]
    pub data: Vec<u8>,
}

mod base64_data {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Where an entry was stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub shard: String,
    pub sequence: String,
}

/// What the per-shard limits refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LimitStats {
    /// PutRecords entries refused by the per-shard write limits.
    pub entries_throttled: u64,
    /// GetRecords calls refused by the per-shard read limits.
    pub reads_throttled: u64,
    /// Entries refused by the write limits, per `stream/shardId`.
    pub entries_throttled_by_shard: BTreeMap<String, u64>,
    /// GetRecords calls refused by the read limits, per `stream/shardId`.
    pub reads_throttled_by_shard: BTreeMap<String, u64>,
    /// SubscribeToShard calls refused by the one-a-second limit per consumer and shard.
    pub subscribe_throttled: u64,
    /// Control-plane calls refused by AWS's per-account rates (and UpdateShardCount by its
    /// 10 a day per stream), by operation.
    pub control_throttled: BTreeMap<String, u64>,
    /// Shards of on-demand streams split because their traffic ran at half their limit.
    pub on_demand_splits: u64,
}

#[derive(Debug, Default)]
pub(crate) struct StatsCell(pub(crate) Mutex<Stats>);

impl StatsCell {
    pub(crate) fn bump(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Counts a call and returns its number among this operation's calls (from 0). `op` is a
    /// name the sim knows (the caller maps others to one name): what a client sends cannot
    /// grow the map.
    pub(crate) fn call(&self, op: &'static str) -> u64 {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = s.calls.entry(op.to_owned()).or_default();
        *n += 1;
        *n - 1
    }

    /// Counts the entries the fault dice failed (those the limits refused are counted where
    /// the limits are applied, in the state).
    pub(crate) fn injected(&self, failed: u64) {
        self.bump(|s| s.entries_failed_injected += failed);
    }
}
