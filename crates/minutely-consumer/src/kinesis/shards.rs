//! What the stream holds: its shards as ListShards lists them (with their parents), when to
//! list them again, where a shard's reading starts, and the lease file of each listed shard.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use minutely_aws::RetryPolicy;
use minutely_aws::clock;
use tokio::task::JoinSet;

use super::options::StartAt;
use crate::layout;
use crate::lease::{Lease, Seen};
use crate::lineage::ShardInfo;
use crate::output::{Output, OutputError};
use crate::run::ConsumeError;

/// Finding new shards during a run: a dropped connection is retried, for up to a minute.
const DISCOVERY: RetryPolicy = RetryPolicy { retry_unreachable: true, ..RetryPolicy::FIRST_CALLS };

/// Every shard of `stream` with its parents.
pub(crate) async fn list_shards(
    client: &Client,
    stream: &str,
    policy: RetryPolicy,
) -> Result<Vec<ShardInfo>, ConsumeError> {
    let shards = minutely_aws::kinesis::list_shards(client, stream, policy).await?;
    Ok(shards
        .iter()
        .map(|s| ShardInfo {
            id: s.shard_id().to_owned(),
            parents: s.parent_shard_id().into_iter().chain(s.adjacent_parent_shard_id()).map(str::to_owned).collect(),
        })
        .collect())
}

/// The listing of a run: the last one, the shards of the first (they begin at the run's start
/// position; shards that appear later begin at their trim horizon, all their records are new),
/// and when to list again.
pub(super) struct Discovery {
    every: Duration,
    next: clock::Instant,
    initial: Option<HashSet<String>>,
    pub listing: Vec<ShardInfo>,
}

impl Discovery {
    pub fn new(every: Duration) -> Discovery {
        Discovery { every, next: clock::now(), initial: None, listing: Vec::new() }
    }

    /// Lists the shards when it is time; returns whether it did.
    pub async fn list_if_due(&mut self, client: &Client, stream: &str) -> Result<bool, ConsumeError> {
        if clock::now() < self.next {
            return Ok(false);
        }
        // The first listing is the run's first call: a wrong endpoint fails it at once.
        let policy = if self.initial.is_none() { RetryPolicy::FIRST_CALLS } else { DISCOVERY };
        self.listing = list_shards(client, stream, policy).await?;
        self.initial.get_or_insert_with(|| self.listing.iter().map(|s| s.id.clone()).collect());
        self.next = clock::now() + self.every;
        Ok(true)
    }

    /// List again at the next chance (a shard ended: its children may be listed).
    pub fn list_now(&mut self) {
        self.next = clock::now();
    }

    /// The parents of `shard` in the last listing.
    pub fn parents_of(&self, shard: &str) -> Vec<String> {
        self.listing.iter().find(|s| s.id == shard).map(|s| s.parents.clone()).unwrap_or_default()
    }

    /// Where `shard` begins without a checkpoint.
    pub fn start_of(&self, shard: &str, start: StartAt) -> StartAt {
        let listed_at_start = self.initial.as_ref().is_some_and(|i| i.contains(shard));
        if listed_at_start { start } else { StartAt::TrimHorizon }
    }
}

/// The lease file of every listed shard, read at once. An unreadable file ends the run: it
/// names the file.
pub(crate) async fn read_leases(
    output: &Output,
    stream: &str,
    shards: &[ShardInfo],
) -> Result<Vec<Seen>, ConsumeError> {
    let mut reads = JoinSet::new();
    for (i, s) in shards.iter().enumerate() {
        let (output, path) = (output.clone(), layout::lease(stream, &s.id));
        reads.spawn(async move { (i, output.read(&path).await.map(|found| (path, found))) });
    }
    let mut files = vec![None; shards.len()];
    while let Some(joined) = reads.join_next().await {
        let (i, read) = joined.map_err(|e| ConsumeError::Task(e.to_string()))?;
        let (path, found) = read?;
        if let Some((bytes, etag)) = found {
            let lease: Lease = serde_json::from_slice(&bytes).map_err(|e| OutputError::Unreadable {
                what: "lease",
                place: output.place(&path),
                message: e.to_string(),
            })?;
            files[i] = Some((lease, etag.unwrap_or_default()));
        }
    }
    Ok(shards
        .iter()
        .zip(files)
        .map(|(s, file)| Seen { shard: s.id.clone(), parents: s.parents.clone(), file })
        .collect())
}
