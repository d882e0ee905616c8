//! The consumer's reads through a retry storm in virtual time: the sim in this process
//! (`minutely_aws::in_process`, no socket) under tokio's paused clock fails 40 % of GetRecords
//! and GetShardIterator calls with seeded dice, on top of its 5 reads/s per shard. Every event is
//! still counted once, seconds of backoff take no real time, and two runs are the same call for
//! call: the same calls, the same faults, the same virtual time.

use std::sync::Arc;
use std::time::Duration;

use minutely_aggregate::WindowConfig;
use minutely_aws::{Clients, RetryPolicy};
use minutely_consumer::kinesis::{KinesisOptions, consume};
use minutely_consumer::output::MemoryStore;
use minutely_consumer::{CountLine, Output, Settings, Stop};
use minutely_event::RecordDecoder;
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::KinesisSink;
use minutely_producer::source::{RandomSource, RandomSpec};
use minutely_producer::{PartitionKey, produce};
use minutely_sim::faults::{ErrorKind, OperationFaults};
use minutely_sim::{Clock, Config, Faults, Sim};

const EVENTS: u64 = 5_000;

async fn in_process(config: Config) -> (Arc<Sim>, Clients) {
    let sim = Arc::new(Sim::start(config).await.unwrap());
    let clients = minutely_aws::in_process_clients(sim.handler()).await;
    (sim, clients)
}

/// The counts the consumer wrote, the sim's read calls (GetRecords, GetShardIterator, failed by
/// the dice, throttled by the limits), and the virtual time the reading took.
async fn run() -> (u64, u64, u64, u64, u64, Duration) {
    let (sim, clients) = in_process(Config { clock: Clock::tokio(1_471_798_800_000), ..Config::default() }).await;
    minutely_aws::kinesis::ensure_stream(&clients.kinesis, "storm", 2, Duration::from_secs(60)).await.unwrap();
    let mut sink = KinesisSink::new(clients.kinesis.clone(), "storm", Limits::default(), RetryPolicy::default())
        .with_seed(1)
        .with_shard_rate_limit()
        .await
        .unwrap();
    let spec = RandomSpec { seed: 2, count: Some(EVENTS), ..RandomSpec::default() };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    produce(RandomSource::new(spec).unwrap(), &mut sink, PartitionKey::Id, &stop, |_| {}).await.unwrap();

    let failing = OperationFaults { error_rate: 0.4, error: ErrorKind::Throttle, ..OperationFaults::default() };
    let operations = [("GetRecords", failing.clone()), ("GetShardIterator", failing)];
    let faults = Faults { seed: 9, operations: operations.map(|(o, f)| (o.to_owned(), f)).into(), ..Faults::default() };
    sim.set_faults(faults).unwrap();

    let store = Arc::new(MemoryStore::default());
    let settings = Settings {
        decoder: Arc::new(RecordDecoder::minutely(&["country".to_owned()])),
        windows: WindowConfig { allowed_lateness_ms: 0, idle_timeout_ms: None },
        max_dedup_ids: 1_000_000,
    };
    let options = KinesisOptions {
        exit_when_idle: Some((Duration::from_secs(5), Stop { close_open: true })),
        ..KinesisOptions::new("storm")
    };
    let (_never, stop) = tokio::sync::watch::channel(None);
    let started = tokio::time::Instant::now();
    let stats = minutely_consumer::ShardStats::new();
    consume(clients.kinesis, options, settings, Output::Memory(store.clone()), stop, stats).await.unwrap();
    let took = started.elapsed();

    let mut counted = 0;
    for (path, body) in store.under("minutes/") {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let c: CountLine = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{path}: {e}"));
            counted += c.count;
        }
    }
    let s = sim.stats();
    let calls = |op: &str| s.calls.get(op).copied().unwrap_or_default();
    let failed = s.errors_injected.values().sum();
    (counted, calls("GetRecords"), calls("GetShardIterator"), failed, s.limits.reads_throttled, took)
}

#[tokio::test(start_paused = true)]
async fn reads_through_a_retry_storm_count_every_event_once_in_no_real_time() {
    let real = std::time::Instant::now();
    let first = run().await;
    let (counted, get_records, iterators, failed, _throttled, took) = first;
    assert_eq!(counted, EVENTS, "{first:?}");
    assert!(failed > (get_records + iterators) / 4, "about 40 % of the reads fail: {first:?}");
    assert!(took >= Duration::from_secs(5), "the idle exit alone waits 5 s: {first:?}");
    // Seeded jitter, `biased` selects and one retry layer (the SDK's own is off in process):
    // nothing in the run is left to chance.
    assert_eq!(run().await, first, "a second run, call for call");
    assert!(real.elapsed() < Duration::from_secs(60), "{:?} of real time", real.elapsed());
}
