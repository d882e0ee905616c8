//! Reading a Kinesis stream. One coordinator per worker (`coordinator.rs`) lists the shards
//! (`shards.rs`), lets its assignment say which to read (all of them, children after parents;
//! or, with leases, those whose leases it holds: `leased.rs`), and runs one reader per shard
//! (`reader.rs`: GetRecords within the limits, iterators renewed when they expire, every
//! record through the shard's `Worker`). `options.rs`: how a stream is read. `scan.rs`: the
//! whole stream read once, parents before children, for a history checker. `sequence.rs`:
//! the records of an answer that a reader has read already (a backend that repeats them).
//!
//! Modules here only use the ones listed after them: coordinator → leased → reader, scan →
//! shards → options; reader and scan → sequence.

mod coordinator;
mod leased;
mod options;
mod reader;
pub mod scan;
mod sequence;
pub(crate) mod shards;

use std::sync::Arc;

use aws_sdk_kinesis::Client;
use tokio::sync::watch;

pub use options::{KinesisOptions, LeaseOptions, LeaseReport, Planted, StartAt, default_worker_id};

use crate::aggregator::Settings;
use crate::output::Output;
use crate::run::{ConsumeError, Stop};
use crate::stats::ShardStats;
use crate::worker::Clock;

/// Reads the stream's shards (every shard, or with [`KinesisOptions::leases`] this worker's
/// share) until `stop` says so, or until idle (see [`KinesisOptions::exit_when_idle`]).
pub async fn consume(
    client: Client,
    options: KinesisOptions,
    settings: Settings,
    output: Output,
    stop: watch::Receiver<Option<Stop>>,
    stats: ShardStats,
) -> Result<(), ConsumeError> {
    // With leases, every object names the worker that wrote it.
    let output = match &options.leases {
        Some(l) => output.with_writer(&l.worker_id),
        None => output,
    };
    let retention_ms = tokio::sync::OnceCell::new();
    let ctx = reader::Ctx { client, options, settings, output, clock: Clock::start(), retention_ms };
    coordinator::coordinate(Arc::new(ctx), stop, stats).await
}
