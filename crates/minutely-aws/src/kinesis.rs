//! Stream administration that the producer, the consumer and the scenarios share: the one
//! ListShards pager, a stream's check, creation, reshards and wait until active. Throttled calls are
//! retried ([`crate::retry`]); anything else fails at once with an [`AwsError`].

use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::operation::create_stream::builders::CreateStreamFluentBuilder;
use aws_sdk_kinesis::types::{Shard, StreamMode, StreamModeDetails, StreamStatus};

use crate::error::{AwsError, Cause};
use crate::retry::{RetryLog, RetryPolicy, retry};

fn target(stream: &str) -> String {
    format!("stream {stream}")
}

/// Every shard of `stream`, open and closed, all pages; each page retried under `policy`
/// ([`RetryPolicy::FIRST_CALLS`] at the start of a run).
pub async fn list_shards(client: &Client, stream: &str, policy: RetryPolicy) -> Result<Vec<Shard>, AwsError> {
    let log = RetryLog::stderr(format!("ListShards {}", target(stream)));
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = retry(policy, 0, &log, || {
            let call = match &token {
                Some(t) => client.list_shards().next_token(t),
                None => client.list_shards().stream_name(stream),
            };
            async move {
                call.send().await.map_err(|e| not_found_hint(AwsError::from_sdk("ListShards", target(stream), &e)))
            }
        })
        .await?;
        shards.extend(out.shards().iter().cloned());
        match out.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(shards),
        }
    }
}

/// The open shards' hash key ranges `(start, end)`, from [`list_shards`].
pub async fn open_ranges(client: &Client, stream: &str) -> Result<Vec<(u128, u128, String)>, AwsError> {
    let mut ranges = Vec::new();
    for shard in list_shards(client, stream, RetryPolicy::FIRST_CALLS).await? {
        let open = shard.sequence_number_range().is_some_and(|r| r.ending_sequence_number().is_none());
        let (true, Some(r)) = (open, shard.hash_key_range()) else { continue };
        let parse = |s: &str| {
            s.parse::<u128>().map_err(|e| {
                let message = format!("shard {} has hash key {s:?}: {e}", shard.shard_id());
                AwsError::new("ListShards", target(stream), Cause::Other, message)
            })
        };
        ranges.push((parse(r.starting_hash_key())?, parse(r.ending_hash_key())?, shard.shard_id().to_owned()));
    }
    Ok(ranges)
}

/// The stream's status (DescribeStreamSummary), the first call of a run
/// ([`RetryPolicy::FIRST_CALLS`]): fails with a hint when it does not exist.
pub async fn status(client: &Client, stream: &str) -> Result<StreamStatus, AwsError> {
    let log = RetryLog::stderr(format!("DescribeStreamSummary {}", target(stream)));
    let out = retry(RetryPolicy::FIRST_CALLS, 0, &log, || async {
        client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| not_found_hint(AwsError::from_sdk("DescribeStreamSummary", target(stream), &e)))
    })
    .await?;
    Ok(out.stream_description_summary().map_or(StreamStatus::Creating, |s| s.stream_status().clone()))
}

/// Creates `stream` with `shards` shards unless it exists, and waits until it is active (at most
/// `timeout`). Returns whether it was created.
pub async fn ensure_stream(client: &Client, stream: &str, shards: i32, timeout: Duration) -> Result<bool, AwsError> {
    ensure(client, stream, client.create_stream().stream_name(stream).shard_count(shards), timeout).await
}

/// Creates on-demand `stream` unless it exists (Kinesis sizes it: 4 shards at first, split as
/// its traffic grows), and waits until it is active (at most `timeout`). Returns whether it was
/// created.
pub async fn ensure_on_demand_stream(client: &Client, stream: &str, timeout: Duration) -> Result<bool, AwsError> {
    let mode = StreamModeDetails::builder().stream_mode(StreamMode::OnDemand).build().expect("the mode is set");
    ensure(client, stream, client.create_stream().stream_name(stream).stream_mode_details(mode), timeout).await
}

async fn ensure(
    client: &Client,
    stream: &str,
    create: CreateStreamFluentBuilder,
    timeout: Duration,
) -> Result<bool, AwsError> {
    let created = match create.send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => false,
        Err(e) => return Err(AwsError::from_sdk("CreateStream", target(stream), &e)),
    };
    wait_active(client, stream, timeout).await?;
    Ok(created)
}

/// Waits until `stream` is active (after a create or a reshard), at most `timeout`.
pub async fn wait_active(client: &Client, stream: &str, timeout: Duration) -> Result<(), AwsError> {
    wait_for(client, stream, timeout, |s| *s == StreamStatus::Active).await
}

/// Waits until `stream` takes records, at most `timeout`: active, or updating (a stream keeps
/// taking records while it is resharded); a stream being created does not yet.
pub async fn wait_writable(client: &Client, stream: &str, timeout: Duration) -> Result<(), AwsError> {
    wait_for(client, stream, timeout, |s| matches!(s, StreamStatus::Active | StreamStatus::Updating)).await
}

async fn wait_for(
    client: &Client,
    stream: &str,
    timeout: Duration,
    ready: impl Fn(&StreamStatus) -> bool,
) -> Result<(), AwsError> {
    let deadline = crate::clock::now() + timeout;
    loop {
        let status = status(client, stream).await?;
        if ready(&status) {
            return Ok(());
        }
        if crate::clock::now() > deadline {
            let message = format!("still {status} after {timeout:?}");
            return Err(AwsError::new("DescribeStreamSummary", target(stream), Cause::Timeout, message));
        }
        crate::clock::sleep(Duration::from_millis(100)).await;
    }
}

/// A missing stream: say how to make one.
fn not_found_hint(e: AwsError) -> AwsError {
    if e.cause == Cause::NotFound {
        let stream = e.target.trim_start_matches("stream ").to_owned();
        e.with_hint(format!("`minutely produce --create-stream SHARDS --sink kinesis:{stream}` creates it"))
    } else {
        e
    }
}

/// A change of a stream's open shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reshard {
    /// The open shard with the lowest hash keys, split at the middle of its range.
    Split,
    /// The first two adjacent open shards, merged.
    Merge,
    /// Uniform scaling to this many open shards.
    ShardCount(i32),
}

/// Carries out `change` on `stream`, then waits (up to `timeout`) until the stream is active
/// again. Says what it did: `split shardId-000000000000`. Throttled or failed calls are retried
/// under [`RetryPolicy::FIRST_CALLS`]; the stream must be active.
pub async fn reshard(client: &Client, stream: &str, change: Reshard, timeout: Duration) -> Result<String, AwsError> {
    let mut open = open_ranges(client, stream).await?;
    open.sort();
    let log = RetryLog::stderr(format!("reshard of {}", target(stream)));
    let invalid = |op, message: &str| AwsError::new(op, target(stream), Cause::Invalid, message.to_owned());
    let what = match change {
        Reshard::Split => {
            let (lo, hi, id) = open.first().ok_or_else(|| invalid("SplitShard", "no open shard to split"))?;
            let middle = lo + (hi - lo) / 2 + 1;
            retry(RetryPolicy::FIRST_CALLS, 0, &log, || async {
                let call = client.split_shard().stream_name(stream).shard_to_split(id);
                let sent = call.new_starting_hash_key(middle.to_string()).send().await;
                sent.map_err(|e| AwsError::from_sdk("SplitShard", target(stream), &e))
            })
            .await?;
            format!("split {id}")
        }
        Reshard::Merge => {
            let pair = open.windows(2).find(|w| w[0].1.checked_add(1) == Some(w[1].0));
            let Some([a, b]) = pair else {
                return Err(invalid("MergeShards", "no two adjacent open shards to merge"));
            };
            retry(RetryPolicy::FIRST_CALLS, 0, &log, || async {
                let call = client.merge_shards().stream_name(stream).shard_to_merge(&a.2);
                let sent = call.adjacent_shard_to_merge(&b.2).send().await;
                sent.map_err(|e| AwsError::from_sdk("MergeShards", target(stream), &e))
            })
            .await?;
            format!("merged {} and {}", a.2, b.2)
        }
        Reshard::ShardCount(to) => {
            retry(RetryPolicy::FIRST_CALLS, 0, &log, || async {
                let call = client.update_shard_count().stream_name(stream).target_shard_count(to);
                let sent = call.scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling).send().await;
                sent.map_err(|e| AwsError::from_sdk("UpdateShardCount", target(stream), &e))
            })
            .await?;
            format!("{} shards to {to}", open.len())
        }
    };
    wait_active(client, stream, timeout).await?;
    Ok(what)
}
