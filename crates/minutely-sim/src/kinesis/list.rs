//! ListStreams and ListShards on the state: pages, tokens and shard filters.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::KinesisError;
use super::state::{Kinesis, Need, required};
use super::stream::{Shard, Stream, parse_shard_id};
use super::wire::*;

impl Kinesis {
    pub fn list_streams(&self, input: ListStreamsInput, now_ms: i64) -> Result<ListStreamsOutput, KinesisError> {
        let limit = match input.limit {
            None => 100,
            Some(n) if (1..=10_000).contains(&n) => n as usize,
            Some(n) => {
                return Err(KinesisError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000"
                )));
            }
        };
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
        let names: Vec<&Stream> = self
            .streams
            .values()
            .filter(|s| !s.gone(now_ms) && after.as_ref().is_none_or(|a| s.name.as_str() > a.as_str()))
            .collect();
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
                    stream_status: s.status(now_ms),
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
        let s = self.stream_mut(&stream_ref, now_ms, Need::Shards)?;
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
}
