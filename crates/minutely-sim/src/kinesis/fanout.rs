//! Enhanced fan-out without IO: a stream's registered consumers (RegisterStreamConsumer,
//! DeregisterStreamConsumer, DescribeStreamConsumer, ListStreamConsumers) and the state of
//! SubscribeToShard's subscriptions, with AWS's rules:
//! - a consumer is CREATING for [`CONSUMER_CREATING_MS`] after it is registered, then ACTIVE;
//!   it can be subscribed only when ACTIVE; at most [`MAX_CONSUMERS`] per stream;
//! - one subscription per consumer and shard: a second call within [`TAKEOVER_MS`] of the live
//!   one's start is `ResourceInUseException`, a later one takes it over (the old one ends);
//! - with limits on, at most one call a second per consumer and shard (`LimitExceededException`);
//! - a subscription lasts [`SUBSCRIPTION_MS`]; its events hold the records from its position,
//!   `ContinuationSequenceNumber` (the last record's sequence number, for `AFTER_SEQUENCE_NUMBER`),
//!   `MillisBehindLatest`, and at a closed shard's end no continuation and the `ChildShards`.
//!
//! The pushing itself (an AWS event stream over HTTP/1.1 or HTTP/2) is `subscribe.rs`.

use serde::{Deserialize, Serialize};

pub use super::consumers::{CONSUMER_CREATING_MS, ConsumerOut};
use super::consumers::{Consumer, Live};
use super::error::KinesisError;
use super::state::{Kinesis, Need, required, stream_name};
use super::stream::{ACCOUNT, Start, sequence_number};
use super::wire::*;

/// Consumers per stream (AWS's quota).
pub const MAX_CONSUMERS: usize = 20;
/// A subscription's life.
pub const SUBSCRIPTION_MS: i64 = 5 * 60 * 1000;
/// A subscription younger than this cannot be taken over.
pub const TAKEOVER_MS: i64 = 5_000;
/// An event holds at most this many records and bytes.
const EVENT_RECORDS: usize = 10_000;
const EVENT_BYTES: usize = 1024 * 1024;

/// A subscription granted: where it reads.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: u64,
    pub consumer_arn: String,
    pub stream: String,
    pub incarnation: u64,
    pub ordinal: u32,
    pub started_ms: i64,
}

/// What a subscription gets next.
#[derive(Debug)]
pub enum Next {
    /// An event to push; `last`: the shard's end, the subscription is over.
    Event { event: SubscribeToShardEvent, bytes: usize, last: bool },
    /// Nothing new yet.
    Nothing,
    /// The subscription is over without an event: taken over, or its 5 minutes are up.
    Over,
    /// It ends with this error (the consumer or stream is gone).
    Failed(KinesisError),
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConsumerInput {
    #[serde(rename = "StreamARN")]
    pub stream_arn: Option<String>,
    pub consumer_name: Option<String>,
    #[serde(rename = "ConsumerARN")]
    pub consumer_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListStreamConsumersInput {
    #[serde(rename = "StreamARN")]
    pub stream_arn: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SubscribeToShardInput {
    #[serde(rename = "ConsumerARN")]
    pub consumer_arn: Option<String>,
    pub shard_id: Option<String>,
    pub starting_position: Option<StartingPosition>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StartingPosition {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub sequence_number: Option<String>,
    pub timestamp: Option<Timestamp>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterOut {
    pub consumer: ConsumerOut,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescriptionOut {
    #[serde(flatten)]
    pub consumer: ConsumerOut,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeOut {
    pub consumer_description: DescriptionOut,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListOut {
    pub consumers: Vec<ConsumerOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One `SubscribeToShardEvent`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscribeToShardEvent {
    pub records: Vec<RecordOut>,
    /// `None` at a closed shard's end only.
    pub continuation_sequence_number: Option<String>,
    pub millis_behind_latest: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_shards: Option<Vec<ChildShard>>,
}

/// The stream a consumer ARN (`arn:aws:kinesis:R:A:stream/NAME/consumer/CONSUMER:TS`) names.
fn stream_of_consumer(arn: &str) -> Result<String, KinesisError> {
    arn.rsplit_once(":stream/")
        .and_then(|(_, rest)| rest.split_once("/consumer/"))
        .map(|(stream, _)| stream.to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            KinesisError::invalid(format!(
                "ConsumerARN {arn} is not a consumer ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME/consumer/CONSUMER:TIMESTAMP)"
            ))
        })
}

fn consumer_not_found(what: &str) -> KinesisError {
    KinesisError::not_found(format!("Consumer {what} under account {ACCOUNT} not found."))
}

fn stream_ref(arn: Option<String>) -> StreamRef {
    StreamRef { stream_name: None, stream_arn: arn }
}

impl Kinesis {
    pub fn register_stream_consumer(&mut self, input: ConsumerInput, now_ms: i64) -> Result<RegisterOut, KinesisError> {
        let stream_arn = required(input.stream_arn, "streamARN")?;
        let name = required(input.consumer_name, "consumerName")?;
        if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(KinesisError::validation(format!(
                "1 validation error detected: Value '{name}' at 'consumerName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ (1 to 128 characters)"
            )));
        }
        let s = self.stream_mut(&stream_ref(Some(stream_arn)), now_ms, Need::Shards)?;
        if s.consumers.iter().any(|c| c.name == name) {
            return Err(KinesisError::in_use(format!("Consumer {name} under account {ACCOUNT} already exists.")));
        }
        if s.consumers.len() >= MAX_CONSUMERS {
            return Err(KinesisError::new(
                "LimitExceededException",
                format!("Stream {} already has {MAX_CONSUMERS} registered consumers, the most it may have.", s.name),
            ));
        }
        let arn = format!("{}/consumer/{name}:{}", s.arn(), now_ms / 1000);
        let c = Consumer { name, arn, created_ms: now_ms };
        let out = c.out(now_ms);
        s.consumers.push(c);
        Ok(RegisterOut { consumer: out })
    }

    /// The stream and position of the consumer `input` names (by ARN, or stream ARN and name).
    fn find_consumer(&self, input: &ConsumerInput) -> Result<(String, usize), KinesisError> {
        let (stream, by_arn) = match (&input.consumer_arn, &input.stream_arn, &input.consumer_name) {
            (Some(arn), _, _) => (stream_of_consumer(arn)?, true),
            (None, Some(stream_arn), Some(_)) => (stream_name(&stream_ref(Some(stream_arn.clone())))?, false),
            _ => {
                return Err(KinesisError::invalid(
                    "Either ConsumerARN, or StreamARN and ConsumerName, should be provided.",
                ));
            }
        };
        let s = self.streams.get(&stream).ok_or_else(|| consumer_not_found(&stream))?;
        let at = s.consumers.iter().position(|c| {
            if by_arn {
                Some(&c.arn) == input.consumer_arn.as_ref()
            } else {
                Some(&c.name) == input.consumer_name.as_ref()
            }
        });
        let what = input.consumer_arn.as_ref().or(input.consumer_name.as_ref()).map_or("", String::as_str);
        Ok((stream, at.ok_or_else(|| consumer_not_found(what))?))
    }

    pub fn deregister_stream_consumer(&mut self, input: ConsumerInput) -> Result<Empty, KinesisError> {
        let (stream, at) = self.find_consumer(&input)?;
        let gone = self.streams.get_mut(&stream).expect("found above").consumers.remove(at);
        // Its subscriptions end at their next look (`next_event` finds no consumer).
        self.subscriptions.live.retain(|(arn, _), _| *arn != gone.arn);
        Ok(Empty {})
    }

    pub fn describe_stream_consumer(&mut self, input: ConsumerInput, now_ms: i64) -> Result<DescribeOut, KinesisError> {
        let (stream, at) = self.find_consumer(&input)?;
        let s = &self.streams[&stream];
        let consumer = s.consumers[at].out(now_ms);
        Ok(DescribeOut { consumer_description: DescriptionOut { consumer, stream_arn: s.arn() } })
    }

    pub fn list_stream_consumers(
        &mut self,
        input: ListStreamConsumersInput,
        now_ms: i64,
    ) -> Result<ListOut, KinesisError> {
        let stream_arn = required(input.stream_arn, "streamARN")?;
        let max = match input.max_results {
            None => 100,
            Some(n) if (1..=10_000).contains(&n) => n as usize,
            Some(n) => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000"
                )));
            }
        };
        let skip = match input.next_token.as_deref() {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| KinesisError::invalid(format!("Invalid NextToken: {t}")))?,
        };
        let s = self.stream_mut(&stream_ref(Some(stream_arn)), now_ms, Need::Any)?;
        let consumers: Vec<ConsumerOut> = s.consumers.iter().skip(skip).take(max).map(|c| c.out(now_ms)).collect();
        let next_token = (skip + consumers.len() < s.consumers.len()).then(|| (skip + consumers.len()).to_string());
        Ok(ListOut { consumers, next_token })
    }

    /// Grants a subscription, or says why not; the position it starts at is in `Subscription`'s
    /// reads (`next_event`).
    pub fn subscribe_to_shard(
        &mut self,
        input: SubscribeToShardInput,
        now_ms: i64,
    ) -> Result<(Subscription, u64), KinesisError> {
        let arn = required(input.consumer_arn, "consumerARN")?;
        let shard_in = required(input.shard_id, "shardId")?;
        let start = required(input.starting_position, "startingPosition")?;
        let kind = required(start.kind, "startingPosition.type")?;
        let limits = self.limits;
        let (stream, at) =
            self.find_consumer(&ConsumerInput { consumer_arn: Some(arn.clone()), ..ConsumerInput::default() })?;
        let s =
            self.stream_mut(&StreamRef { stream_name: Some(stream.clone()), stream_arn: None }, now_ms, Need::Data)?;
        let consumer = &s.consumers[at];
        if consumer.status(now_ms) != "ACTIVE" {
            return Err(KinesisError::in_use(format!(
                "Consumer {arn} under account {ACCOUNT} is not in ACTIVE state (it is {}).",
                consumer.status(now_ms)
            )));
        }
        let incarnation = s.incarnation;
        let asked = Start {
            op: "SubscribeToShard",
            member: "startingPosition.type",
            kind: &kind,
            sequence: start.sequence_number.as_deref(),
            timestamp: start.timestamp.map(|t| t.0),
        };
        let (ordinal, position) = s.start(&shard_in, asked, now_ms)?;
        let key = (arn.clone(), ordinal);
        let subs = &mut self.subscriptions;
        if let Some(live) = subs.live.get(&key)
            && now_ms - live.started_ms < TAKEOVER_MS
        {
            return Err(KinesisError::in_use(format!(
                "Another active subscription exists for consumer {arn} on shard {shard_in}; it can be taken over {TAKEOVER_MS} ms after it started."
            )));
        }
        if limits && subs.last_call_ms.get(&key).is_some_and(|&t| now_ms - t < 1000) {
            self.limit_stats.subscribe_throttled += 1;
            return Err(KinesisError::new(
                "LimitExceededException",
                format!(
                    "Rate exceeded for consumer {arn} and shard {shard_in}: at most one SubscribeToShard a second."
                ),
            ));
        }
        subs.last_call_ms.insert(key.clone(), now_ms);
        subs.next_id += 1;
        let id = subs.next_id;
        subs.live.insert(key, Live { id, started_ms: now_ms });
        let sub = Subscription { id, consumer_arn: arn, stream, incarnation, ordinal, started_ms: now_ms };
        Ok((sub, position))
    }

    /// The next event of `sub` from `position` (moved past what it holds); with `heartbeat`, an
    /// empty one when nothing is new (once a continuation can be named).
    pub fn next_event(&mut self, sub: &Subscription, position: &mut u64, heartbeat: bool, now_ms: i64) -> Next {
        let key = (sub.consumer_arn.clone(), sub.ordinal);
        if self.subscriptions.live.get(&key).is_none_or(|l| l.id != sub.id) {
            return Next::Over; // taken over, or the consumer deregistered
        }
        if now_ms - sub.started_ms >= SUBSCRIPTION_MS {
            self.subscriptions.live.remove(&key);
            return Next::Over;
        }
        let Some(s) = self
            .streams
            .get_mut(&sub.stream)
            .filter(|s| s.incarnation == sub.incarnation && s.deleting_until_ms.is_none())
        else {
            self.subscriptions.live.remove(&key);
            return Next::Failed(KinesisError::not_found(format!(
                "Stream {} under account {ACCOUNT} not found.",
                sub.stream
            )));
        };
        s.trim(now_ms);
        let children = |s: &super::stream::Stream| s.children(sub.ordinal);
        let shard = &s.shards[sub.ordinal as usize];
        let from = (*position).max(shard.first);
        let (to, bytes) = shard.read_until(from, EVENT_RECORDS, EVENT_BYTES);
        let at_end = shard.closed.is_some() && to >= shard.end();
        if to == from && !at_end && !(heartbeat && to > 0) {
            return Next::Nothing;
        }
        s.mark_read(sub.ordinal, from..to);
        let shard = &s.shards[sub.ordinal as usize];
        let records = super::state::records_out(shard, sub.incarnation, from..to);
        let millis_behind_latest = shard.get(to).map_or(0, |r| (now_ms - r.arrival_ms).max(0));
        // The last record's sequence number: `AFTER_SEQUENCE_NUMBER` it resumes exactly here.
        let continuation = to.checked_sub(1).map(|p| sequence_number(sub.incarnation, sub.ordinal, p));
        *position = to;
        let (continuation, child_shards) = if at_end { (None, Some(children(s))) } else { (continuation, None) };
        if at_end {
            self.subscriptions.live.remove(&key);
        }
        let event = SubscribeToShardEvent {
            records,
            continuation_sequence_number: continuation,
            millis_behind_latest,
            child_shards,
        };
        Next::Event { event, bytes, last: at_end }
    }

    /// A subscription ended on its side (the client went away): another may start at once.
    pub fn unsubscribe(&mut self, sub: &Subscription) {
        let key = (sub.consumer_arn.clone(), sub.ordinal);
        if self.subscriptions.live.get(&key).is_some_and(|l| l.id == sub.id) {
            self.subscriptions.live.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(limits: bool) -> (Kinesis, String, String) {
        let mut k = Kinesis::new(limits, crate::Shapes::NONE);
        let input =
            CreateStreamInput { stream_name: Some("s".into()), shard_count: Some(1), ..CreateStreamInput::default() };
        k.create_stream(input, 0).unwrap();
        let stream_arn = format!("arn:aws:kinesis:{}:{ACCOUNT}:stream/s", super::super::stream::REGION);
        let reg =
            ConsumerInput { stream_arn: Some(stream_arn.clone()), consumer_name: Some("c".into()), consumer_arn: None };
        let out = k.register_stream_consumer(reg, 0).unwrap();
        assert_eq!(out.consumer.consumer_status, "CREATING");
        (k, stream_arn, out.consumer.consumer_arn)
    }

    fn subscribe(k: &mut Kinesis, arn: &str, now: i64) -> Result<(Subscription, u64), KinesisError> {
        let start = StartingPosition { kind: Some("TRIM_HORIZON".into()), ..StartingPosition::default() };
        let input = SubscribeToShardInput {
            consumer_arn: Some(arn.into()),
            shard_id: Some("shardId-000000000000".into()),
            starting_position: Some(start),
        };
        k.subscribe_to_shard(input, now)
    }

    #[test]
    fn a_consumer_is_active_after_creating_and_a_subscription_is_taken_over_after_five_seconds() {
        let (mut k, stream_arn, arn) = setup(true);
        assert_eq!(subscribe(&mut k, &arn, 100).unwrap_err().code, "ResourceInUseException", "still CREATING");
        let d =
            k.describe_stream_consumer(ConsumerInput { consumer_arn: Some(arn.clone()), ..Default::default() }, 600);
        assert_eq!(d.unwrap().consumer_description.consumer.consumer_status, "ACTIVE");
        let (first, _) = subscribe(&mut k, &arn, 1_000).unwrap();
        assert_eq!(subscribe(&mut k, &arn, 4_000).unwrap_err().code, "ResourceInUseException");
        let (second, _) = subscribe(&mut k, &arn, 6_500).unwrap();
        assert!(matches!(k.next_event(&first, &mut 0, false, 6_600), Next::Over), "taken over");
        assert!(matches!(k.next_event(&second, &mut 0, true, 6_600), Next::Nothing), "an empty shard");
        assert!(matches!(k.next_event(&second, &mut 0, false, 6_500 + SUBSCRIPTION_MS), Next::Over), "5 minutes");
        // Ended: another at once is over the one-a-second limit, a second later it is fine.
        assert_eq!(subscribe(&mut k, &arn, 6_900).unwrap_err().code, "LimitExceededException");
        assert!(subscribe(&mut k, &arn, 7_600).is_ok());
        let list = ListStreamConsumersInput { stream_arn: Some(stream_arn), ..Default::default() };
        assert_eq!(k.list_stream_consumers(list, 8_000).unwrap().consumers.len(), 1);
        k.deregister_stream_consumer(ConsumerInput { consumer_arn: Some(arn.clone()), ..Default::default() }).unwrap();
        assert_eq!(subscribe(&mut k, &arn, 9_000).unwrap_err().code, "ResourceNotFoundException");
    }

    #[test]
    fn events_carry_the_records_their_continuation_and_the_children_at_a_shard_end() {
        let (mut k, _, arn) = setup(false);
        let entries = (0..3)
            .map(|i| super::super::state::entry(Some(Blob(vec![b'x'; 10])), Some(format!("k{i}")), None, "").unwrap())
            .collect();
        k.put_records(
            &StreamRef { stream_name: Some("s".into()), stream_arn: None },
            entries,
            &[super::super::state::Fate::Store; 3],
            false,
            None,
            1_000,
        )
        .unwrap();
        let (sub, mut position) = subscribe(&mut k, &arn, 1_000).unwrap();
        let Next::Event { event, last: false, .. } = k.next_event(&sub, &mut position, false, 1_000) else {
            panic!("an event")
        };
        assert_eq!(event.records.len(), 3);
        assert_eq!(event.continuation_sequence_number.as_deref(), Some(event.records[2].sequence_number.as_str()));
        assert!(matches!(k.next_event(&sub, &mut position, false, 1_100), Next::Nothing));
        // A heartbeat: no record, the same continuation.
        let Next::Event { event: beat, .. } = k.next_event(&sub, &mut position, true, 1_100) else { panic!("a beat") };
        assert!(beat.records.is_empty());
        assert_eq!(beat.continuation_sequence_number, event.continuation_sequence_number);
        let split = SplitShardInput {
            stream: StreamRef { stream_name: Some("s".into()), stream_arn: None },
            shard_to_split: Some("shardId-000000000000".into()),
            new_starting_hash_key: Some((u128::MAX / 2).to_string()),
        };
        k.split_shard(split, 1_200).unwrap();
        let Next::Event { event, last: true, .. } = k.next_event(&sub, &mut position, false, 1_300) else {
            panic!("the end")
        };
        assert!(event.records.is_empty() && event.continuation_sequence_number.is_none());
        assert_eq!(event.child_shards.unwrap().len(), 2);
    }
}
