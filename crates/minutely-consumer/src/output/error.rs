//! Why output failed, and the vocabulary of its conditional writes and injected crashes.

use minutely_aws::AwsError;

/// Why output failed for good (after retries).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A checkpoint or lease file that does not parse.
    #[error("{what} {place} is not readable: {message}")]
    Unreadable { what: &'static str, place: String, message: String },
    #[error("writing to stdout")]
    Io(#[from] std::io::Error),
    #[error("fault injection: a crash after {objects} object writes, {at}")]
    InjectedCrash { objects: u64, at: CrashPoint },
    #[error(
        "another consumer wrote the checkpoint {key} since this one read it: stopping (two consumers on one shard: leases off, or one --worker-id twice)"
    )]
    Fenced { key: String },
    /// The reader's lease lapsed (or was lost) before this write went out: nothing was sent.
    #[error("the lease of this shard lapsed before writing {key}: stopped (another worker may hold it now)")]
    Lapsed { key: String },
}

/// The precondition of a conditional write: `Some(etag)`, the ETag it last saw (`If-Match`), or
/// `None`, no object at all (`If-None-Match: *`).
pub type IfMatch = Option<String>;

/// Where, around the checkpoint that follows the objects, an injected crash happens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashPoint {
    /// Between an object write and its checkpoint: the worst moment (the objects are written
    /// again after the restart, to the same paths).
    #[default]
    BeforeCheckpoint,
    /// Right after the checkpoint that follows the objects: a clean point.
    AfterCheckpoint,
}

impl std::fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CrashPoint::BeforeCheckpoint => "before the checkpoint",
            CrashPoint::AfterCheckpoint => "after the checkpoint",
        })
    }
}
