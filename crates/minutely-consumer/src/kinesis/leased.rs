//! Several workers sharing a stream: what the coordinator does with leases on. Every renew
//! period it lists the lease files of the listed shards, lets [`Leases::round`] decide, and
//! carries the decisions out: conditional writes of the lease files, shard readers started
//! after a take, stopped and checkpointed before a handover or a release, dropped at once when
//! a lease is lost. The rules and their reasons are in `lease.rs`.

use std::time::Duration;

use minutely_aws::clock;
use tokio::task::JoinSet;

use super::options::LeaseOptions;
use super::reader::{Ctx, Readers, ShardEnd};
use super::shards::{Discovery, read_leases};
use crate::layout;
use crate::lease::{Action, Leases, Lost, Purpose};
use crate::output::OutputError;
use crate::run::{ConsumeError, Stop};
use crate::worker::WorkerError;

/// One worker's side of the lease protocol.
pub(super) struct Leased {
    options: LeaseOptions,
    leases: Leases,
    next_round: clock::Instant,
    rounds: u64,
}

impl Leased {
    pub fn new(options: LeaseOptions) -> Leased {
        let leases = Leases::new(&options.worker_id, options.timing);
        Leased { options, leases, next_round: clock::now(), rounds: 0 }
    }

    /// Runs a round at the next chance (a shard finished: its children may be taken).
    pub fn round_now(&mut self) {
        self.next_round = clock::now();
    }

    /// When a round is due: reads the lease files of the listed shards, decides, writes the
    /// leases it decided on at once, starts a reader for each lease it now holds and stops the
    /// readers of the leases it lost or hands over.
    pub async fn round_if_due(
        &mut self,
        ctx: &Ctx,
        discovery: &Discovery,
        readers: &mut Readers,
    ) -> Result<(), ConsumeError> {
        if clock::now() < self.next_round {
            return Ok(());
        }
        let seen = read_leases(&ctx.output, &ctx.options.stream, &discovery.listing).await?;
        // The round's time is taken after the reads: a version is never seen before it was
        // written, which is what makes expiry safe.
        let actions = self.leases.round(ctx.clock.now().0, &seen, clock::unix_ms());
        // The writes go out together: a round takes one write's time, not the sum of them.
        let (writes, others): (Vec<Action>, Vec<Action>) =
            actions.into_iter().partition(|a| matches!(a, Action::Write { .. }));
        for shard in self.write_all(ctx, writes).await? {
            if !readers.is_reading(&shard) {
                let valid_until = self.leases.valid_until(&shard).unwrap_or(0);
                readers.start(
                    &shard,
                    discovery.parents_of(&shard),
                    discovery.start_of(&shard, ctx.options.start),
                    valid_until,
                );
            }
        }
        for action in others {
            match action {
                Action::Write { .. } => {} // written above
                Action::Drop { shard, why } => {
                    let why = match why {
                        Lost::Taken => "another worker holds it",
                        Lost::Lapsed => "it was not renewed in time",
                    };
                    let me = &self.options.worker_id;
                    eprintln!("minutely: {me}: lost the lease of {shard} ({why}): stopped reading it");
                    readers.revoke(&shard);
                }
                // Handed over when its reader has checkpointed (in `ended`).
                Action::HandOver { shard, .. } if readers.is_reading(&shard) => {
                    readers.stop(&shard, Stop { close_open: false })
                }
                Action::HandOver { shard, .. } => self.final_write(ctx, &shard, Purpose::HandOver).await?,
            }
        }
        // Renewals move each reader's deadline.
        for shard in readers.shards() {
            if let Some(until) = self.leases.valid_until(shard) {
                readers.extend(shard, until);
            }
        }
        self.publish(ctx);
        self.rounds += 1;
        let renew = Duration::from_millis(self.options.timing.renew_ms);
        self.next_round = clock::now() + round_wait(&self.options.worker_id, self.rounds, renew);
        Ok(())
    }

    /// A reader ended: the lease's last write (finished, handed over, released), or nothing
    /// when it was lost. `Err` in the result: the reader failed for good.
    pub async fn ended(
        &mut self,
        ctx: &Ctx,
        shard: &str,
        end: Result<ShardEnd, ConsumeError>,
        stopping: bool,
    ) -> Result<Result<(), ConsumeError>, ConsumeError> {
        let purpose = match end {
            Ok(ShardEnd::Finished) => Some(Purpose::Finish),
            Ok(ShardEnd::Stopped) if self.leases.is_handing_over(shard) => Some(Purpose::HandOver),
            Ok(ShardEnd::Stopped) => stopping.then_some(Purpose::Release),
            Ok(ShardEnd::Lost) => None,
            Err(ConsumeError::Worker(WorkerError::Output(OutputError::Fenced { key }))) => {
                eprintln!("minutely: {}: another worker wrote {key}: stopped reading {shard}", self.options.worker_id);
                self.leases.lost(shard);
                None
            }
            Err(e) => return Ok(Err(e)),
        };
        match purpose {
            Some(p) => self.final_write(ctx, shard, p).await?,
            None => self.leases.forget(shard),
        }
        self.publish(ctx);
        Ok(Ok(()))
    }

    /// Every readable shard is held here or by a live worker: nothing is left unread.
    pub fn settled(&self) -> bool {
        self.options.report.lock().unwrap_or_else(|e| e.into_inner()).accounted
    }

    /// At the end of a run, after the last reader: releases the leases of readers that never
    /// started (a take just before the stop).
    pub async fn release_all(&mut self, ctx: &Ctx) -> Result<(), ConsumeError> {
        for shard in self.leases.holding() {
            self.final_write(ctx, &shard, Purpose::Release).await?;
        }
        self.publish(ctx);
        Ok(())
    }

    /// Carries out [`Action::Write`]s at once; returns the shards this worker may now read.
    async fn write_all(&mut self, ctx: &Ctx, writes: Vec<Action>) -> Result<Vec<String>, ConsumeError> {
        let mut sent = JoinSet::new();
        for (i, action) in writes.iter().enumerate() {
            let Action::Write { shard, expected, lease, .. } = action else { continue };
            let (output, path) = (ctx.output.clone(), layout::lease(&ctx.options.stream, shard));
            let body = serde_json::to_vec_pretty(lease).expect("serialising to a Vec cannot fail");
            let (expected, sent_at) = (expected.clone(), ctx.clock.now().0);
            sent.spawn(async move { (i, sent_at, output.write_if(&path, body, &expected).await) });
        }
        let mut outcomes = Vec::with_capacity(writes.len());
        while let Some(joined) = sent.join_next().await {
            outcomes.push(joined.map_err(|e| ConsumeError::Task(e.to_string()))?);
        }
        outcomes.sort_by_key(|(i, _, _)| *i);
        let mut readable = Vec::new();
        for (i, sent_at, outcome) in outcomes {
            let Action::Write { shard, lease, purpose, .. } = &writes[i] else { continue };
            let outcome = outcome?.map(|etag| etag.unwrap_or_default()).ok_or(());
            if self.leases.wrote(shard, lease, *purpose, sent_at, outcome) {
                readable.push(shard.clone());
            }
        }
        Ok(readable)
    }

    /// A handover, a release or the end of a shard (see [`Leases::final_write`]).
    async fn final_write(&mut self, ctx: &Ctx, shard: &str, purpose: Purpose) -> Result<(), ConsumeError> {
        if let Some(action) = self.leases.final_write(shard, purpose, clock::unix_ms()) {
            self.write_all(ctx, vec![action]).await?;
        }
        Ok(())
    }

    fn publish(&self, ctx: &Ctx) {
        let mut r = self.options.report.lock().unwrap_or_else(|e| e.into_inner());
        r.held = self.leases.holding();
        r.counts = self.leases.counts;
        r.accounted = self.leases.accounted(ctx.clock.now().0);
        r.readable = self.leases.readable_shards();
    }
}

/// The wait before the next round: the renew period less up to a fifth of it, drawn from the
/// worker id and the round's number. Workers that started together would otherwise read and
/// write in lockstep, and a steal would meet the holder's renewal every time.
fn round_wait(worker: &str, round: u64, renew: Duration) -> Duration {
    let draw = minutely_event::id_hash(&format!("{worker}/{round}")) as u64 % 1_000;
    renew - renew / 5 * draw as u32 / 1_000
}
