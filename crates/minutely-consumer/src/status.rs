//! The state of a stream's consumers, read from where they keep it: every listed shard with its
//! lease file (owner, counter, expiry, a handover asked for), its checkpoint (last sequence
//! number, finished, open windows) and how far that checkpoint is behind the shard's newest
//! record (`MillisBehindLatest` of one GetRecords after it). Reads only; for
//! `minutely consume --status`.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::ShardIteratorType;
use minutely_aws::{AwsError, RetryPolicy};
use serde::Serialize;

use crate::kinesis::shards::{list_shards, read_leases};
use crate::layout;
use crate::lease::Lease;
use crate::output::Output;
use crate::run::ConsumeError;

/// One shard as its consumers left it.
#[derive(Clone, Debug, Serialize)]
pub struct ShardStatus {
    pub shard: String,
    pub parents: Vec<String>,
    /// `None`: no lease file (leases off, or never taken).
    pub lease: Option<Lease>,
    /// The checkpoint's last sequence number; `None`: no checkpoint, or nothing read yet.
    pub position: Option<String>,
    pub checkpointed: bool,
    pub finished: bool,
    /// Minutes open in the checkpoint (kept for the next reader).
    pub open_windows: usize,
    /// How far the checkpoint is behind the newest record of the shard, in ms; `None` for a
    /// finished shard.
    pub behind_ms: Option<i64>,
}

/// Every listed shard of `stream` with its lease and checkpoint under `output`.
pub async fn status(client: &Client, output: &Output, stream: &str) -> Result<Vec<ShardStatus>, ConsumeError> {
    let shards = list_shards(client, stream, RetryPolicy::FIRST_CALLS).await?;
    let leases = read_leases(output, stream, &shards).await?;
    let mut out = Vec::with_capacity(shards.len());
    for (info, seen) in shards.into_iter().zip(leases) {
        let checkpoint = output.load_checkpoint(&layout::checkpoint(stream, &info.id)).await?.map(|(c, _)| c);
        let position = checkpoint.as_ref().and_then(|c| c.position.clone());
        let finished = checkpoint.as_ref().is_some_and(|c| c.finished);
        let behind_ms = if finished { None } else { behind(client, stream, &info.id, position.as_deref()).await? };
        out.push(ShardStatus {
            shard: info.id,
            parents: info.parents,
            lease: seen.file.map(|(l, _)| l),
            position,
            checkpointed: checkpoint.is_some(),
            finished,
            open_windows: checkpoint.as_ref().map_or(0, |c| c.state.open.len()),
            behind_ms,
        });
    }
    Ok(out)
}

/// `MillisBehindLatest` of one GetRecords right after `position` (or at the trim horizon).
async fn behind(client: &Client, stream: &str, shard: &str, position: Option<&str>) -> Result<Option<i64>, AwsError> {
    let what = format!("stream {stream} {shard}");
    let call = client.get_shard_iterator().stream_name(stream).shard_id(shard);
    let call = match position {
        Some(seq) => call.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(seq),
        None => call.shard_iterator_type(ShardIteratorType::TrimHorizon),
    };
    let it = call.send().await.map_err(|e| AwsError::from_sdk("GetShardIterator", what.clone(), &e))?;
    let Some(it) = it.shard_iterator() else { return Ok(None) };
    let out = client
        .get_records()
        .shard_iterator(it)
        .limit(1)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetRecords", what, &e))?;
    Ok(out.millis_behind_latest())
}
