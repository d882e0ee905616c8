//! minutely's consumer: records from Kinesis shards (or JSON lines on stdin) into one-minute
//! event-time windows per worker, written as they close to S3 at deterministic paths, with
//! per-shard checkpoints in S3 that survive a crash at any point.
//!
//! ```text
//! kinesis::consume ── ListShards ─► Lineage (children after parents)
//!      │ one task per shard: GetRecords ─► Worker { Aggregator: decode ► dedup ► Windows }
//!      │                                        │ commit: checkpoint(pending) ► objects ► checkpoint
//! lines::consume ── stdin blocks ─► Worker ─────┴─► Output: S3 | console | stdout
//! ```
//!
//! **Invariant (exactly right counts from at-least-once input):** the content of every object is
//! part of a checkpoint before the object is written, and an object's path depends only on the
//! minute, the worker and counters kept in the checkpoint. A restart resumes from the last
//! checkpoint with its window state, rewrites its pending objects at the same paths, and reads
//! the records after its position again: nothing is counted twice and nothing is lost.

pub mod aggregator;
pub mod console;
pub mod dedup;
pub mod keys;
pub mod kinesis;
pub mod layout;
pub mod lineage;
pub mod lines;
pub mod output;
pub mod worker;

pub use aggregator::{Aggregator, Checkpoint, CountLine, Object, Outcome, Settings};
pub use output::{Output, S3Output};
pub use worker::{Observer, WorkerStats};

/// How a run stops when asked to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    /// Close and write the open windows (`true`), or keep them in the checkpoint for the next
    /// run (`false`; only with checkpoints).
    pub close_open: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    #[error("Kinesis {what} on stream {stream:?}: {message}")]
    Kinesis { what: &'static str, stream: String, message: String },
    #[error(transparent)]
    Worker(worker::WorkerError),
    #[error("reading the input: {0}")]
    Input(std::io::Error),
    #[error("a shard reader failed: {0}")]
    Task(String),
}
