//! Several workers sharing a stream: the coordinator of one worker when leases are on. Every
//! renew period it lists the lease files of the listed shards, lets [`Leases::round`] decide,
//! and carries the decisions out: conditional writes of the lease files, shard readers started
//! after a take, stopped and checkpointed before a handover or a release, dropped at once when
//! a lease is lost. The rules and their reasons are in `lease.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minutely_aws::clock;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::kinesis::{Control, Ctx, DISCOVERY, ShardEnd, ShardStats, StartAt, idle_for, list_shards, read_shard};
use crate::lease::{Action, Lease, LeaseCounts, Leases, Lost, Purpose, Seen, Timing};
use crate::lineage::ShardInfo;
use crate::output::{Output, OutputError};
use crate::worker::WorkerStats;
use crate::{ConsumeError, Stop, layout};
use minutely_aws::RetryPolicy;

/// How a worker takes part in sharing a stream.
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    /// This worker's name in the lease files (default: host and process id).
    pub worker_id: String,
    pub timing: Timing,
    /// What this worker holds and did, for the live line and the summary.
    pub report: Arc<Mutex<LeaseReport>>,
}

impl LeaseOptions {
    pub fn new(worker_id: &str, timing: Timing) -> LeaseOptions {
        LeaseOptions { worker_id: worker_id.to_owned(), timing, report: Arc::default() }
    }
}

/// What a worker holds and did with leases.
#[derive(Clone, Debug, Default)]
pub struct LeaseReport {
    /// Shards whose lease it holds now.
    pub held: Vec<String>,
    pub counts: LeaseCounts,
    /// At the last round, every shard that could be read was held here or by a worker seen
    /// renewing within the lease duration ([`Leases::accounted`]). A worker that died less
    /// than a duration ago still looks alive.
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

/// One shard reader of this worker.
struct Reader {
    stop: watch::Sender<Option<Stop>>,
    valid_until: Arc<AtomicU64>,
}

/// The lease file of every listed shard, read at once. An unreadable file ends the run: it
/// names the file.
pub async fn read_leases(output: &Output, stream: &str, shards: &[ShardInfo]) -> Result<Vec<Seen>, ConsumeError> {
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

/// The coordinator of one worker with leases (see the module's documentation).
pub(crate) async fn consume(
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<Option<Stop>>,
    stats: ShardStats,
) -> Result<(), ConsumeError> {
    let o = ctx.options.leases.clone().expect("called with leases");
    let stream = ctx.options.stream.clone();
    let mut leases = Leases::new(&o.worker_id, o.timing);
    let renew = Duration::from_millis(o.timing.renew_ms);
    let mut readers: BTreeMap<String, Reader> = BTreeMap::new();
    let mut tasks: JoinSet<(String, Result<ShardEnd, ConsumeError>)> = JoinSet::new();
    let mut listing: Vec<ShardInfo> = Vec::new();
    let mut initial: Option<std::collections::HashSet<String>> = None;
    let (mut next_discovery, mut next_round) = (clock::now(), clock::now());
    let (mut last_record, mut last_total) = (clock::now(), 0u64);
    let mut stopping: Option<Stop> = None;
    let mut rounds = 0u64;
    let mut run = Run { ctx: &ctx, stream: &stream, report: &o.report };
    loop {
        if stopping.is_none() && clock::now() >= next_discovery {
            let policy = if initial.is_none() { RetryPolicy::FIRST_CALLS } else { DISCOVERY };
            listing = list_shards(&ctx.client, &stream, policy).await?;
            initial.get_or_insert_with(|| listing.iter().map(|s| s.id.clone()).collect());
            next_discovery = clock::now() + ctx.options.discover_every;
        }
        if stopping.is_none() && clock::now() >= next_round {
            let seen = read_leases(&ctx.output, &stream, &listing).await?;
            // The round's time is taken after the reads: a version is never seen before it was
            // written, which is what makes expiry safe.
            let actions = leases.round(ctx.clock.now().0, &seen, clock::unix_ms());
            // The writes go out together: a round takes one write's time, not the sum of them.
            let (writes, others): (Vec<Action>, Vec<Action>) =
                actions.into_iter().partition(|a| matches!(a, Action::Write { .. }));
            for shard in run.write_all(&mut leases, writes).await? {
                if !readers.contains_key(&shard) {
                    let listed_at_start = initial.as_ref().is_some_and(|i| i.contains(&shard));
                    let start = if listed_at_start { ctx.options.start } else { StartAt::TrimHorizon };
                    let valid_until = leases.valid_until(&shard).unwrap_or(0);
                    readers.insert(shard.clone(), spawn(&ctx, &mut tasks, &stats, &shard, start, valid_until));
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
                        eprintln!("minutely: {}: lost the lease of {shard} ({why}): stopped reading it", o.worker_id);
                        if let Some(r) = readers.get(&shard) {
                            r.valid_until.store(0, Ordering::Relaxed);
                            let _ = r.stop.send(Some(Stop { close_open: false }));
                        }
                    }
                    Action::HandOver { shard, .. } => match readers.get(&shard) {
                        // Handed over when its reader has checkpointed (below, when it ends).
                        Some(r) => {
                            let _ = r.stop.send(Some(Stop { close_open: false }));
                        }
                        None => run.final_write(&mut leases, &shard, Purpose::HandOver).await?,
                    },
                }
            }
            // Renewals move each reader's deadline.
            for (shard, r) in &readers {
                if let Some(until) = leases.valid_until(shard) {
                    r.valid_until.store(until, Ordering::Relaxed);
                }
            }
            run.publish(&leases);
            rounds += 1;
            next_round = clock::now() + round_wait(&o.worker_id, rounds, renew);
        }
        if stopping.is_some() && tasks.is_empty() {
            // Readers that never started (a take just before the stop) still hold leases.
            for shard in leases.holding() {
                run.final_write(&mut leases, &shard, Purpose::Release).await?;
            }
            run.publish(&leases);
            return Ok(());
        }
        tokio::select! {
            biased;
            joined = tasks.join_next(), if !tasks.is_empty() => {
                let (shard, end) = joined.expect("a task, the set is not empty").map_err(|e| ConsumeError::Task(e.to_string()))?;
                readers.remove(&shard);
                let purpose = match end {
                    Ok(ShardEnd::Finished) => {
                        // Its children may be taken now.
                        (next_discovery, next_round) = (clock::now(), clock::now());
                        Some(Purpose::Finish)
                    }
                    Ok(ShardEnd::Stopped) if leases.is_handing_over(&shard) => Some(Purpose::HandOver),
                    Ok(ShardEnd::Stopped) => stopping.is_some().then_some(Purpose::Release),
                    Ok(ShardEnd::Lost) => None,
                    Err(ConsumeError::Worker(crate::worker::WorkerError::Output(OutputError::Fenced { key }))) => {
                        eprintln!("minutely: {}: another worker wrote {key}: stopped reading {shard}", o.worker_id);
                        leases.lost(&shard);
                        None
                    }
                    Err(e) => {
                        for r in readers.values() {
                            let _ = r.stop.send(Some(Stop { close_open: false }));
                        }
                        while tasks.join_next().await.is_some() {}
                        return Err(e);
                    }
                };
                match purpose {
                    Some(p) => run.final_write(&mut leases, &shard, p).await?,
                    None => leases.forget(&shard),
                }
                run.publish(&leases);
            }
            changed = stop.changed(), if stopping.is_none() => {
                let mode = if changed.is_ok() { *stop.borrow() } else { None };
                if let Some(mode) = mode {
                    stopping = Some(mode);
                    for r in readers.values() {
                        let _ = r.stop.send(Some(mode));
                    }
                }
            }
            _ = clock::sleep(Duration::from_millis(200)) => {
                if let Some((idle, mode)) = ctx.options.exit_when_idle
                    && stopping.is_none()
                    && idle_for(&stats, &mut last_total, &mut last_record) >= idle
                    && o.report.lock().unwrap_or_else(|e| e.into_inner()).accounted
                {
                    stopping = Some(mode);
                    for r in readers.values() {
                        let _ = r.stop.send(Some(mode));
                    }
                }
            }
        }
    }
}

/// The wait before the next round: the renew period less up to a fifth of it, drawn from the
/// worker id and the round's number. Workers that started together would otherwise read and
/// write in lockstep, and a steal would meet the holder's renewal every time.
fn round_wait(worker: &str, round: u64, renew: Duration) -> Duration {
    let draw = minutely_event::id_hash(&format!("{worker}/{round}")) as u64 % 1_000;
    renew - renew / 5 * draw as u32 / 1_000
}

/// The writes of one worker's rounds.
struct Run<'a> {
    ctx: &'a Ctx,
    stream: &'a str,
    report: &'a Mutex<LeaseReport>,
}

impl Run<'_> {
    /// Carries out [`Action::Write`]s at once; returns the shards this worker may now read.
    async fn write_all(&mut self, leases: &mut Leases, writes: Vec<Action>) -> Result<Vec<String>, ConsumeError> {
        let mut sent = JoinSet::new();
        for (i, action) in writes.iter().enumerate() {
            let Action::Write { shard, expected, lease, .. } = action else { continue };
            let (output, path) = (self.ctx.output.clone(), layout::lease(self.stream, shard));
            let body = serde_json::to_vec_pretty(lease).expect("serialising to a Vec cannot fail");
            let (expected, sent_at) = (expected.clone(), self.ctx.clock.now().0);
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
            if leases.wrote(shard, lease, *purpose, sent_at, outcome) {
                readable.push(shard.clone());
            }
        }
        Ok(readable)
    }

    /// A handover, a release or the end of a shard (see [`Leases::final_write`]).
    async fn final_write(&mut self, leases: &mut Leases, shard: &str, purpose: Purpose) -> Result<(), ConsumeError> {
        if let Some(action) = leases.final_write(shard, purpose, clock::unix_ms()) {
            self.write_all(leases, vec![action]).await?;
        }
        Ok(())
    }

    fn publish(&self, leases: &Leases) {
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        r.held = leases.holding();
        r.counts = leases.counts;
        r.accounted = leases.accounted(self.ctx.clock.now().0);
        r.readable = leases.readable_shards();
    }
}

fn spawn(
    ctx: &Arc<Ctx>,
    tasks: &mut JoinSet<(String, Result<ShardEnd, ConsumeError>)>,
    stats: &ShardStats,
    shard: &str,
    start: StartAt,
    valid_until: u64,
) -> Reader {
    let (stop_tx, stop_rx) = watch::channel(None::<Stop>);
    let valid_until = Arc::new(AtomicU64::new(valid_until));
    let shard_stats = WorkerStats::new();
    stats.lock().expect("stats lock").push((shard.to_owned(), shard_stats.clone()));
    let control = Control { stop: stop_rx, valid_until: valid_until.clone() };
    let (ctx, shard) = (ctx.clone(), shard.to_owned());
    tasks.spawn(async move {
        let end = read_shard(&ctx, &shard, start, shard_stats, control).await;
        (shard, end)
    });
    Reader { stop: stop_tx, valid_until }
}
