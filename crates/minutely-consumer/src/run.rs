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

impl ConsumeError {
    /// The AWS call that failed, when that is what stopped the run.
    pub fn aws(&self) -> Option<&minutely_aws::AwsError> {
        match self {
            ConsumeError::Aws(a)
            | ConsumeError::Worker(worker::WorkerError::Output(crate::output::OutputError::Aws(a))) => Some(a),
            _ => None,
        }
    }
}

impl From<crate::output::OutputError> for ConsumeError {
    fn from(e: crate::output::OutputError) -> ConsumeError {
        ConsumeError::Worker(e.into())
    }
}
