//! minutely's consumer: records from Kinesis shards (or lines on stdin) into one-minute
//! event-time windows per worker, written as they close to S3 at deterministic paths, with
//! per-shard checkpoints in S3 that survive a crash at any point.
//!
//! ```text
//! kinesis::consume ─► coordinator: ListShards ─► Lineage (children after parents), or with leases
//!      │             lease files in S3 ─► lease::Leases (take, renew, steal, hand over)
//!      │ one reader task per shard: GetRecords ─► Worker { Aggregator: envelopes ► decode ► dedup ► Windows }
//!      │                                        │ commit: checkpoint(pending) ► objects ► checkpoint
//! lines::consume ── stdin blocks ─► prepare (a thread per core) ─► Worker, in read order ─► Output: S3 | console | stdout
//! ```
//!
//! **Invariant (exactly right counts from at-least-once input):** the content of every object is
//! part of a checkpoint before the object is written, and an object's path depends only on the
//! minute, the worker and counters kept in the checkpoint. A restart resumes from the last
//! checkpoint with its window state, rewrites its pending objects at the same paths, and reads
//! the records after its position again: nothing is counted twice and nothing is lost.

pub mod aggregator;
pub mod dedup;
pub mod kinesis;
pub mod layout;
pub mod lease;
pub mod lineage;
pub mod lines;
pub mod output;
pub mod prepare;
pub mod run;
pub mod stats;
pub mod status;
mod tally;
pub mod worker;

pub use aggregator::{Aggregator, Checkpoint, CountLine, Object, Settings};
pub use output::{Output, S3Output};
pub use run::{ConsumeError, Stop};
pub use stats::{ShardStats, Totals, WorkerStats};
pub use worker::Observer;
