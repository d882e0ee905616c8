//! The one coordinator of a worker: it lists the shards, lets its assignment say which to read
//! (every shard once its parents are finished, or, with leases, the shards whose leases it
//! holds), runs a reader per shard, and stops them all when asked, when idle, or when one fails.

use std::sync::Arc;
use std::time::Duration;

use minutely_aws::clock;
use tokio::sync::watch;

use super::leased::Leased;
use super::reader::{Ctx, Readers, ShardEnd};
use super::shards::Discovery;
use crate::lineage::Lineage;
use crate::run::{ConsumeError, Stop};
use crate::stats::ShardStats;

/// Which shards this worker reads.
enum Assignment {
    /// All of them, each after its parents (no leases).
    Solo(Lineage),
    /// Those whose leases it holds.
    Leased(Box<Leased>),
}

impl Assignment {
    /// Starts the readers of the shards this worker should read now. `listed`: the listing is new.
    async fn assign(
        &mut self,
        ctx: &Ctx,
        discovery: &Discovery,
        listed: bool,
        readers: &mut Readers,
    ) -> Result<(), ConsumeError> {
        match self {
            Assignment::Solo(lineage) => {
                if listed {
                    lineage.update(discovery.listing.iter().cloned());
                }
                for shard in lineage.ready() {
                    lineage.start(&shard);
                    readers.start(
                        &shard,
                        discovery.parents_of(&shard),
                        discovery.start_of(&shard, ctx.options.start),
                        u64::MAX,
                    );
                }
                Ok(())
            }
            Assignment::Leased(leased) => leased.round_if_due(ctx, discovery, readers).await,
        }
    }

    /// A reader ended. The inner `Err`: it failed for good, and so does the run.
    async fn ended(
        &mut self,
        ctx: &Ctx,
        shard: &str,
        end: Result<ShardEnd, ConsumeError>,
        stopping: bool,
    ) -> Result<Result<(), ConsumeError>, ConsumeError> {
        match self {
            Assignment::Solo(lineage) => {
                match end {
                    Ok(ShardEnd::Finished) => lineage.finish(shard),
                    Ok(ShardEnd::Stopped | ShardEnd::Lost) => lineage.release(shard),
                    Err(e) => return Ok(Err(e)),
                }
                Ok(Ok(()))
            }
            Assignment::Leased(leased) => leased.ended(ctx, shard, end, stopping).await,
        }
    }

    /// A shard finished: its children may be read at once.
    fn look_now(&mut self) {
        if let Assignment::Leased(leased) = self {
            leased.round_now();
        }
    }

    /// Nothing is left that this worker should start: the idle exit may stop it.
    fn settled(&self) -> bool {
        match self {
            Assignment::Solo(lineage) => lineage.ready().is_empty(),
            Assignment::Leased(leased) => leased.settled(),
        }
    }

    /// The run ends, every reader has stopped.
    async fn end(&mut self, ctx: &Ctx) -> Result<(), ConsumeError> {
        match self {
            Assignment::Solo(_) => Ok(()),
            Assignment::Leased(leased) => leased.release_all(ctx).await,
        }
    }
}

/// Reads the shards this worker should read until `stop` says so, or until idle.
pub(super) async fn coordinate(
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<Option<Stop>>,
    stats: ShardStats,
) -> Result<(), ConsumeError> {
    let mut assignment = match &ctx.options.leases {
        Some(o) => Assignment::Leased(Box::new(Leased::new(o.clone()))),
        None => Assignment::Solo(Lineage::default()),
    };
    let mut discovery = Discovery::new(ctx.options.discover_every);
    let mut readers = Readers::new(ctx.clone(), stats.clone());
    let mut idle = Idle::new();
    let mut stopping: Option<Stop> = None;
    loop {
        if stopping.is_none() {
            let listed = discovery.list_if_due(&ctx.client, &ctx.options.stream).await?;
            assignment.assign(&ctx, &discovery, listed, &mut readers).await?;
        }
        if stopping.is_some() && readers.is_empty() {
            return assignment.end(&ctx).await;
        }
        // `biased`: the branches are polled in this order, not at random, so that a run under a
        // paused clock is the same every time.
        tokio::select! {
            biased;
            ended = readers.next_end(), if !readers.is_empty() => {
                let (shard, end) = ended?;
                let finished = matches!(end, Ok(ShardEnd::Finished));
                if let Err(e) = assignment.ended(&ctx, &shard, end, stopping.is_some()).await? {
                    readers.abandon().await;
                    return Err(e);
                }
                if finished {
                    // Look for its children now.
                    discovery.list_now();
                    assignment.look_now();
                }
            }
            changed = stop.changed(), if stopping.is_none() => {
                let mode = if changed.is_ok() { *stop.borrow() } else { None };
                if let Some(mode) = mode {
                    stopping = Some(mode);
                    readers.stop_all(mode);
                }
            }
            _ = clock::sleep(Duration::from_millis(200)) => {
                if let Some((after, mode)) = ctx.options.exit_when_idle
                    && stopping.is_none()
                    && idle.idle_for(&stats) >= after
                    && assignment.settled()
                {
                    stopping = Some(mode);
                    readers.stop_all(mode);
                }
            }
        }
    }
}

/// How long every shard read so far has been caught up with no new record.
struct Idle {
    last_total: u64,
    last_record: clock::Instant,
}

impl Idle {
    fn new() -> Idle {
        Idle { last_total: 0, last_record: clock::now() }
    }

    /// Zero while a reader is not caught up.
    fn idle_for(&mut self, stats: &ShardStats) -> Duration {
        let totals = stats.totals();
        if totals.counters.records != self.last_total {
            self.last_total = totals.counters.records;
            self.last_record = clock::now();
        }
        if totals.caught_up { self.last_record.elapsed() } else { Duration::ZERO }
    }
}
