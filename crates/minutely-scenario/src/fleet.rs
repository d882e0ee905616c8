//! Several consumers sharing the run's stream through leases (the `workers`,
//! `kill_worker_after_objects` and `add_worker_after_events` faults): each worker is one
//! `kinesis::consume` with its own worker id and stats. The first one is killed once it has
//! written the planned number of objects: its output freezes (no call after that one is sent;
//! the calls in flight finish), then its task is dropped, as SIGKILL would: no release, no
//! checkpoint, its reads and windows lost with it. One more joins once the planned number of
//! events was put.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minutely_aws::clock;
use minutely_consumer::kinesis::{KinesisOptions, LeaseOptions, LeaseReport, Planted};
use minutely_consumer::lease::{LeaseCounts, Timing};
use minutely_consumer::output::CrashAfter;
use minutely_consumer::{ConsumeError, Output, Settings, ShardStats, Stop, Totals};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

use crate::faults::Fleet;
use crate::happenings::Happenings;

/// What the workers did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkersReport {
    pub started: u64,
    pub killed: u64,
    pub added: u64,
    /// The lease counts of every worker, added up.
    pub leases: LeaseCounts,
}

/// The fleet's live view, for the progress line and the settling check.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// The stats of every reader of every worker (a killed worker's marked stopped).
    pub stats: ShardStats,
    /// Whether the live workers hold every readable shard between them: no killed worker's
    /// lease still waits to expire.
    pub accounted: Arc<AtomicBool>,
    /// The first worker's pause (`pause_worker`), made by the caller, which waits for its end.
    pub pause: Option<Arc<CrashAfter>>,
}

struct Worker {
    stop: watch::Sender<Option<Stop>>,
    abort: AbortHandle,
    stats: ShardStats,
    report: Arc<Mutex<LeaseReport>>,
    alive: bool,
}

/// What a worker task ends with.
type WorkerEnd = (usize, Result<(), ConsumeError>);

/// The running workers, and how to start one more.
struct Workers {
    tasks: JoinSet<WorkerEnd>,
    list: Vec<Worker>,
    /// The first worker's output freezes after the planned objects (see the module's text),
    /// or pauses for a while.
    freeze: Option<Arc<CrashAfter>>,
    planted: Option<Planted>,
    timing: Timing,
    client: aws_sdk_kinesis::Client,
    options: KinesisOptions,
    settings: Settings,
    output: Output,
}

impl Workers {
    /// Starts worker number `self.list.len()`, with its own id, leases and stats.
    fn start(&mut self) {
        let index = self.list.len();
        let output = match (&self.freeze, index) {
            (Some(f), 0) => Output::Crashing(f.clone(), Box::new(self.output.clone())),
            _ => self.output.clone(),
        };
        let mut leases = LeaseOptions::new(&format!("worker-{index}"), self.timing);
        leases.planted = self.planted;
        let report = leases.report.clone();
        let options = KinesisOptions { leases: Some(leases), ..self.options.clone() };
        let (stop, stop_rx) = watch::channel(None);
        let stats = ShardStats::new();
        let (client, settings, s) = (self.client.clone(), self.settings.clone(), stats.clone());
        let abort = self.tasks.spawn(async move {
            (index, minutely_consumer::kinesis::consume(client, options, settings, output, stop_rx, s).await)
        });
        self.list.push(Worker { stop, abort, stats, report, alive: true });
    }

    /// Drops the first worker's task, as SIGKILL would: nothing more comes from it.
    fn kill_first(&mut self) {
        let w = &mut self.list[0];
        w.abort.abort();
        w.alive = false;
        w.stats.stop_all();
    }
}

/// Runs the fleet until `stop` says so; returns what it did, and the totals of every worker.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    fleet: Fleet,
    client: aws_sdk_kinesis::Client,
    options: KinesisOptions,
    settings: Settings,
    output: Output,
    mut stop: watch::Receiver<Option<Stop>>,
    run: Happenings,
    view: View,
) -> Result<(WorkersReport, Totals), ConsumeError> {
    let freeze = fleet.kill_after_objects.map(|n| Arc::new(CrashAfter::freezing(n)));
    let pause = view.pause.clone();
    if let Some(pause) = &pause {
        tokio::spawn(crate::happenings::mark_stall(pause.clone(), run.clone(), "worker-0"));
    }
    let (planted, timing) = (fleet.planted, fleet.timing());
    let freeze = freeze.or(pause);
    let (tasks, list) = (JoinSet::new(), Vec::new());
    let mut workers = Workers { tasks, list, freeze, planted, timing, client, options, settings, output };
    let mut report = WorkersReport::default();
    for _ in 0..fleet.workers {
        workers.start();
        report.started += 1;
    }
    let mut stopping = false;
    let mut frozen_at: Option<clock::Instant> = None;
    loop {
        tokio::select! {
            biased;
            ended = workers.tasks.join_next(), if !workers.tasks.is_empty() => match ended {
                Some(Ok((i, Ok(())))) => workers.list[i].alive = false,
                Some(Ok((_, Err(e)))) => return Err(e),
                Some(Err(e)) if e.is_cancelled() => {} // the killed worker
                Some(Err(e)) => return Err(ConsumeError::Task(e.to_string())),
                None => {}
            },
            changed = stop.changed(), if !stopping => {
                if let Some(mode) = changed.ok().and(*stop.borrow()) {
                    stopping = true;
                    for w in workers.list.iter().filter(|w| w.alive) {
                        let _ = w.stop.send(Some(mode));
                    }
                }
            }
            _ = clock::sleep(Duration::from_millis(50)) => {}
        }
        if fleet.kill_after_objects.is_some() && workers.freeze.as_ref().is_some_and(|f| f.frozen()) {
            frozen_at.get_or_insert_with(clock::now);
        }
        // A second for the calls in flight when it froze to finish.
        if report.killed == 0 && frozen_at.is_some_and(|at| at.elapsed() >= Duration::from_secs(1)) {
            workers.kill_first();
            report.killed += 1;
            run.happened("worker-0 killed");
        }
        if let Some(after) = fleet.add_after_events
            && report.added == 0
            && !stopping
            && run.events_put() >= after
        {
            workers.start();
            report.added += 1;
            run.happened(&format!("worker-{} added", workers.list.len() - 1));
        }
        publish(&workers.list, &view);
        if stopping && workers.tasks.is_empty() {
            break;
        }
    }
    let mut totals = Totals::default();
    for w in &workers.list {
        totals.merge(&w.stats.totals());
        report.leases += w.report.lock().expect("report lock").counts;
    }
    Ok((report, totals))
}

/// Every worker's readers into the one view, and whether the live ones account for every shard.
fn publish(workers: &[Worker], view: &View) {
    view.stats.gather(workers.iter().map(|w| &w.stats));
    // The engine knows which worker it killed: every readable shard must be held by one that
    // lives (a lease's holder looks alive to the others for a duration after its death).
    let reports: Vec<LeaseReport> =
        workers.iter().filter(|w| w.alive).map(|w| w.report.lock().expect("report lock").clone()).collect();
    let held: usize = reports.iter().map(|r| r.held.len()).sum();
    let readable = reports.iter().map(|r| r.readable).max().unwrap_or(0);
    let accounted = !reports.is_empty() && readable > 0 && held == readable && reports.iter().all(|r| r.accounted);
    view.accounted.store(accounted, Ordering::Relaxed);
}
