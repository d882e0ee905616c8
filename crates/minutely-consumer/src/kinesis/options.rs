//! How a stream is read: where reading starts, the polling cadence, the idle exit, and (with
//! leases) this worker's part in sharing the stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lease::{LeaseCounts, Timing};
use crate::run::Stop;
use crate::worker::Observer;

/// Where reading starts in a shard that has no checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record kept.
    TrimHorizon,
    /// Only records put after the reader starts.
    Latest,
    /// Records from this time on (milliseconds since the epoch).
    Timestamp(i64),
}

impl std::str::FromStr for StartAt {
    type Err = String;

    fn from_str(s: &str) -> Result<StartAt, String> {
        match s {
            "trim-horizon" | "TRIM_HORIZON" => Ok(StartAt::TrimHorizon),
            "latest" | "LATEST" => Ok(StartAt::Latest),
            t => minutely_event::TimeFormat::Rfc3339
                .parse(t.as_bytes())
                .map(|t| StartAt::Timestamp(t.0))
                .map_err(|_| format!("{t:?}: use trim-horizon, latest or an RFC 3339 time")),
        }
    }
}

/// How a stream is read.
#[derive(Clone, Debug)]
pub struct KinesisOptions {
    pub stream: String,
    /// Where shards present at start begin without a checkpoint. Shards found later (children
    /// of a reshard) always begin at their trim horizon: all their records are new.
    pub start: StartAt,
    /// How often ListShards runs to find new shards.
    pub discover_every: Duration,
    /// The least time between two GetRecords calls on one shard (Kinesis allows 5 per second).
    pub min_call_interval: Duration,
    /// The wait after a GetRecords that returned nothing.
    pub idle_poll: Duration,
    /// Records per GetRecords call (at most 10,000).
    pub limit: i32,
    /// Stop when no shard has had a record for this long and every shard is caught up, closing
    /// the open windows or keeping them as the [`Stop`] says.
    pub exit_when_idle: Option<(Duration, Stop)>,
    /// Checkpoint at least this often when records were read but no window closed.
    pub checkpoint_every: Duration,
    pub observer: Option<Arc<dyn Observer>>,
    /// Share the stream's shards with other workers through leases beside the checkpoints
    /// (`leased.rs`); `None`: this worker reads every shard.
    pub leases: Option<LeaseOptions>,
}

impl KinesisOptions {
    pub fn new(stream: &str) -> KinesisOptions {
        KinesisOptions {
            stream: stream.to_owned(),
            start: StartAt::TrimHorizon,
            discover_every: Duration::from_secs(10),
            min_call_interval: Duration::from_millis(200),
            idle_poll: Duration::from_millis(250),
            limit: 10_000,
            exit_when_idle: None,
            checkpoint_every: Duration::from_secs(10),
            observer: None,
            leases: None,
        }
    }
}

/// How a worker takes part in sharing a stream.
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    /// This worker's name in the lease files (default: host and process id).
    pub worker_id: String,
    pub timing: Timing,
    /// What this worker holds and did, for the live line and the summary.
    pub report: Arc<Mutex<LeaseReport>>,
    /// A bug planted on purpose, for the tests that prove the swarm and the fence check find
    /// one. Never set by the command line.
    pub planted: Option<Planted>,
}

impl LeaseOptions {
    pub fn new(worker_id: &str, timing: Timing) -> LeaseOptions {
        LeaseOptions { worker_id: worker_id.to_owned(), timing, report: Arc::default(), planted: None }
    }
}

/// Bugs that can be planted in a worker on leases (`LeaseOptions::planted`), for tests only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planted {
    /// On losing a lease, the reader closes its windows and writes them before it stops,
    /// skipping the lease check and the checkpoint (a careless flush on the way out): a worker
    /// woken after its lease lapsed writes over the new holder's objects.
    FlushOnLeaseLoss,
}

/// What a worker holds and did with leases.
#[derive(Clone, Debug, Default)]
pub struct LeaseReport {
    /// Shards whose lease it holds now.
    pub held: Vec<String>,
    pub counts: LeaseCounts,
    /// At the last round, every shard that could be read was held here or by a worker seen
    /// renewing within the lease duration ([`crate::lease::Leases::accounted`]). A worker that
    /// died less than a duration ago still looks alive.
    pub accounted: bool,
    /// How many shards could be read at the last round (listed, not finished, parents finished).
    pub readable: usize,
}

/// The default worker id: the host name and the process id.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}", std::process::id())
}
