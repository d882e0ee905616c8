//! How a consumer run stops when asked to, and why one failed.

use crate::worker;

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
    #[error(transparent)]
    Aws(#[from] minutely_aws::AwsError),
    #[error(transparent)]
    Worker(#[from] worker::WorkerError),
    #[error("reading the input: {0}")]
    Input(std::io::Error),
    #[error("a shard reader failed: {0}")]
    Task(String),
}

impl From<crate::output::OutputError> for ConsumeError {
    fn from(e: crate::output::OutputError) -> ConsumeError {
        ConsumeError::Worker(e.into())
    }
}
