//! Enhanced fan-out's data, kept by the streams (`Stream::consumers`) and by `Kinesis`
//! (`Subscriptions`): what the operations of `fanout.rs` read and change.

use serde::Serialize;

use super::wire::Timestamp;

/// How long a registered consumer stays CREATING.
pub const CONSUMER_CREATING_MS: i64 = 500;

/// A registered consumer.
#[derive(Clone, Debug)]
pub(super) struct Consumer {
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) created_ms: i64,
}

impl Consumer {
    pub(super) fn status(&self, now_ms: i64) -> &'static str {
        if now_ms < self.created_ms + CONSUMER_CREATING_MS { "CREATING" } else { "ACTIVE" }
    }

    pub(super) fn out(&self, now_ms: i64) -> ConsumerOut {
        ConsumerOut {
            consumer_name: self.name.clone(),
            consumer_arn: self.arn.clone(),
            consumer_status: self.status(now_ms),
            consumer_creation_timestamp: Timestamp(self.created_ms),
        }
    }
}

/// The live subscription of a (consumer, shard).
#[derive(Clone, Copy, Debug)]
pub(super) struct Live {
    pub(super) id: u64,
    pub(super) started_ms: i64,
}

/// What the sim keeps of subscriptions, in [`Kinesis`].
#[derive(Debug, Default)]
pub struct Subscriptions {
    /// By (consumer ARN, shard ordinal).
    pub(super) live: std::collections::HashMap<(String, u32), Live>,
    /// The last call's time, by (consumer ARN, shard ordinal): the one-a-second limit.
    pub(super) last_call_ms: std::collections::HashMap<(String, u32), i64>,
    pub(super) next_id: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConsumerOut {
    pub consumer_name: String,
    #[serde(rename = "ConsumerARN")]
    pub consumer_arn: String,
    pub consumer_status: &'static str,
    pub consumer_creation_timestamp: Timestamp,
}
