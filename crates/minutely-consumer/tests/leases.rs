//! Several consumers sharing one stream through leases, in virtual time: the sim in this
//! process under tokio's paused clock, 16 shards, one in-memory store for every worker (as one
//! bucket). Three workers start; one is killed (its task dropped mid-flight, as SIGKILL would);
//! one joins; one stops gracefully; events keep arriving between the steps. Every event is
//! counted exactly once, the shards are shared evenly after each step, the killed worker's
//! shards are taken within the lease's bounds, released leases at once, and no shard is read by
//! two workers at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minutely_aggregate::WindowConfig;
use minutely_aws::{Clients, RetryPolicy};
use minutely_consumer::kinesis::{KinesisOptions, consume};
use minutely_consumer::kinesis::{LeaseOptions, LeaseReport};
use minutely_consumer::lease::Timing;
use minutely_consumer::output::MemoryStore;
use minutely_consumer::{CountLine, Object, Observer, Output, Settings, Stop};
use minutely_event::RecordDecoder;
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::KinesisSink;
use minutely_producer::source::{RandomSource, RandomSpec};
use minutely_producer::{PartitionKey, produce};
use minutely_sim::{Clock, Config, Sim};
use tokio::sync::watch;
use tokio::time::Instant;

const SHARDS: usize = 16;
const TIMING: Timing = Timing { duration_ms: 10_000, renew_ms: 3_000 };

/// Every GetRecords answer with records, by shard: which worker read it, when.
#[derive(Debug, Default)]
struct Reads(Mutex<Vec<(String, Instant, usize)>>);

#[derive(Debug)]
struct Tagged(Arc<Reads>, usize);

impl Observer for Tagged {
    fn read(&self, shard: &str, records: &mut dyn Iterator<Item = &[u8]>, at: Instant) {
        if records.next().is_some() {
            self.0.0.lock().unwrap().push((shard.to_owned(), at, self.1));
        }
    }
    fn written(&self, _: &str, _: &Object, _: Instant, _: Instant) {}
}

struct Worker {
    stop: watch::Sender<Option<Stop>>,
    task: tokio::task::JoinHandle<()>,
    report: Arc<Mutex<LeaseReport>>,
}

struct World {
    clients: Clients,
    store: Arc<MemoryStore>,
    reads: Arc<Reads>,
    sent: u64,
}

impl World {
    async fn produce(&mut self, seed: u64, count: u64) {
        let mut sink =
            KinesisSink::new(self.clients.kinesis.clone(), "shared", Limits::default(), RetryPolicy::default())
                .with_seed(seed);
        let start = minutely_aggregate::EventTime(1_471_798_800_000 + seed as i64 * 60_000);
        let spec = RandomSpec { seed, count: Some(count), start, ..RandomSpec::default() };
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        produce(RandomSource::new(spec).unwrap(), &mut sink, PartitionKey::Id, &stop, |_| {}).await.unwrap();
        self.sent += count;
    }

    fn start(&self, index: usize) -> Worker {
        let settings = Settings {
            decoder: Arc::new(RecordDecoder::minutely(&["country".to_owned()])),
            windows: WindowConfig { allowed_lateness_ms: 0, idle_timeout_ms: None },
            max_dedup_ids: 1_000_000,
        };
        let leases = LeaseOptions::new(&format!("worker-{index}"), TIMING);
        let report = leases.report.clone();
        let options = KinesisOptions {
            observer: Some(Arc::new(Tagged(self.reads.clone(), index))),
            leases: Some(leases),
            ..KinesisOptions::new("shared")
        };
        let (stop, stop_rx) = watch::channel(None);
        let (kinesis, output) = (self.clients.kinesis.clone(), Output::Memory(self.store.clone()));
        let task = tokio::spawn(async move {
            let stats = minutely_consumer::ShardStats::new();
            consume(kinesis, options, settings, output, stop_rx, stats).await.unwrap();
        });
        Worker { stop, task, report }
    }

    fn counted(&self) -> u64 {
        let mut counted = 0;
        for (path, body) in self.store.under("minutes/") {
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let c: CountLine = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{path}: {e}"));
                counted += c.count;
            }
        }
        counted
    }
}

fn held(w: &Worker) -> usize {
    w.report.lock().unwrap().held.len()
}

/// Waits (virtual time) until `done`, at most `limit`; returns how long it took.
async fn until(limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() <= limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

fn even(loads: &[usize]) -> bool {
    loads.iter().sum::<usize>() == SHARDS && loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1
}

#[tokio::test(start_paused = true)]
async fn workers_share_a_stream_through_kills_joins_and_stops_and_count_every_event_once() {
    let sim =
        Arc::new(Sim::start(Config { clock: Clock::tokio(1_471_798_800_000), ..Config::default() }).await.unwrap());
    let clients = minutely_aws::in_process_clients(sim.handler()).await;
    minutely_aws::kinesis::ensure_stream(&clients.kinesis, "shared", SHARDS as i32, Duration::from_secs(60))
        .await
        .unwrap();
    let mut world = World { clients, store: Arc::default(), reads: Arc::default(), sent: 0 };
    world.produce(1, 4_000).await;

    // Three workers share 16 shards: 6, 5, 5.
    let mut w: Vec<Worker> = (0..3).map(|i| world.start(i)).collect();
    let took = until(Duration::from_secs(60), || even(&[held(&w[0]), held(&w[1]), held(&w[2])])).await;
    eprintln!("three workers even after {took:?}");

    // Kill worker 1 mid-run: its 5 or 6 shards go to the others once its leases expire.
    world.produce(2, 3_000).await;
    w[1].task.abort();
    let took = until(Duration::from_secs(30), || held(&w[0]) + held(&w[2]) == SHARDS).await;
    eprintln!("the killed worker's shards taken after {took:?}");
    let bound = Duration::from_millis(TIMING.duration_ms + 2 * TIMING.renew_ms + 1_000);
    assert!(took <= bound, "taken after {took:?}, more than {bound:?}");
    assert!(took >= Duration::from_millis(TIMING.duration_ms - TIMING.renew_ms), "taken before expiry: {took:?}");
    until(Duration::from_secs(60), || even(&[held(&w[0]), held(&w[2])])).await;

    // A fourth worker joins and gets its share by handovers.
    w.push(world.start(3));
    world.produce(3, 3_000).await;
    let took = until(Duration::from_secs(90), || even(&[held(&w[0]), held(&w[2]), held(&w[3])])).await;
    eprintln!("the new worker has its share after {took:?}");
    let stolen = w[3].report.lock().unwrap().counts.stolen;
    assert!(stolen >= 5, "the new worker's shards were handed over to it: {stolen}");

    // Worker 2 stops gracefully (Ctrl-C): it checkpoints, releases, and the others take its
    // shards at their next round.
    let _ = w[2].stop.send(Some(Stop { close_open: false }));
    let stopped = Instant::now();
    (&mut w[2].task).await.unwrap();
    let report = w[2].report.lock().unwrap().clone();
    assert!(report.held.is_empty() && report.counts.released > 0, "{report:?}");
    until(Duration::from_secs(10), || held(&w[0]) + held(&w[3]) == SHARDS).await;
    assert!(stopped.elapsed() <= Duration::from_millis(TIMING.renew_ms + 1_000), "released leases wait for no expiry");
    until(Duration::from_secs(60), || even(&[held(&w[0]), held(&w[3])])).await;

    world.produce(4, 2_000).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    for i in [0, 3] {
        let _ = w[i].stop.send(Some(Stop { close_open: true }));
    }
    for i in [0, 3] {
        (&mut w[i].task).await.unwrap();
    }
    assert_eq!(world.counted(), world.sent, "every event counted exactly once");

    // Every shard was read; no two workers read one shard at once: a shard's reads, in time
    // order, fall into runs of one worker, and each run needs a take of its own (interleaved
    // readers would make a run of almost every read).
    let reads = world.reads.0.lock().unwrap().clone();
    let mut by_shard: BTreeMap<String, Vec<(Instant, usize)>> = BTreeMap::new();
    for (shard, at, worker) in reads {
        by_shard.entry(shard).or_default().push((at, worker));
    }
    assert_eq!(by_shard.len(), SHARDS, "every shard read");
    let runs: usize = by_shard
        .values_mut()
        .map(|v| {
            v.sort();
            1 + v.windows(2).filter(|p| p[0].1 != p[1].1).count()
        })
        .sum();
    let takes: u64 = w.iter().map(|w| w.report.lock().unwrap().counts.taken).sum();
    // The killed worker's report stops at its kill; it took at most its first share.
    assert!(runs as u64 <= takes, "{runs} runs of reads for {takes} takes");
}
