//! A retry storm in virtual time: the Kinesis sink against the sim in this process
//! (`minutely_aws::in_process`, no socket), under tokio's paused clock, with the sim's per-shard
//! limits and a third of the entries failed by seeded dice. The same seeds give the same run:
//! every call, every retry, the same virtual time; a minute of backoff takes no real time.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use minutely_aws::{Clients, RetryPolicy};
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::KinesisSink;
use minutely_producer::source::{RandomSource, RandomSpec};
use minutely_producer::{PartitionKey, SinkStats, produce};
use minutely_sim::{Clock, Config, Faults, Sim};

const EVENTS: u64 = 20_000;

async fn in_process(config: Config) -> (Arc<Sim>, Clients) {
    let sim = Arc::new(Sim::start(config).await.unwrap());
    let clients = minutely_aws::in_process_clients(sim.handler()).await;
    (sim, clients)
}

/// What one run did: the sink's counts, the sim's throttled and failed entries, the virtual
/// time, the ids given up on, and the records the sim stored.
async fn run(policy: RetryPolicy) -> (SinkStats, u64, u64, Duration, Vec<u64>, u64) {
    let mut faults = Faults { seed: 11, ..Faults::default() };
    faults.put_records.entry_failure_rate = 0.3;
    let config = Config { clock: Clock::tokio(1_471_798_800_000), faults, ..Config::default() };
    let (sim, clients) = in_process(config).await;
    minutely_aws::kinesis::ensure_stream(&clients.kinesis, "storm", 2, Duration::from_secs(60)).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut sink = KinesisSink::new(clients.kinesis, "storm", Limits::default(), policy).with_seed(5);
    let spec = RandomSpec { seed: 3, count: Some(EVENTS), ..RandomSpec::default() };
    let stop = Arc::new(AtomicBool::new(false));
    let summary = produce(RandomSource::new(spec).unwrap(), &mut sink, PartitionKey::Id, &stop, |_| {}).await.unwrap();
    let stats = sim.stats();
    let failed_ids = sink.failed_ids.clone();
    (
        summary.sink,
        stats.limits.entries_throttled,
        stats.entries_failed_injected,
        started.elapsed(),
        failed_ids,
        stats.records_stored,
    )
}

#[tokio::test(start_paused = true)]
async fn a_retry_storm_is_the_same_every_time_and_takes_no_real_time() {
    let real = std::time::Instant::now();
    let first = run(RetryPolicy::default()).await;
    let (stats, throttled, failed_by_dice, virtual_time, failed_ids, stored) = &first;
    assert_eq!((stats.sent, *stored), (EVENTS, EVENTS), "each record stored once: {first:?}");
    assert_eq!((stats.failed, failed_ids.len()), (0, 0), "{first:?}");
    assert!(*failed_by_dice > EVENTS / 5, "{first:?}");
    // Every entry the sim failed (by the dice or the shard limits) was sent again, once.
    assert_eq!(stats.retried, failed_by_dice + throttled, "{first:?}");
    // Batches wait for their failed entries: most of a minute of backoff, in virtual time.
    assert!(*virtual_time >= Duration::from_secs(20), "{first:?}");
    assert_eq!(run(RetryPolicy::default()).await, first, "the same seeds, the same run");
    assert!(real.elapsed() < Duration::from_secs(60), "{:?} of real time", real.elapsed());
}

#[tokio::test(start_paused = true)]
async fn entries_still_failing_at_the_deadline_are_counted_failed_not_lost() {
    // A deadline shorter than the stream needs: what is left at the deadline is failed, by id.
    let policy = RetryPolicy { deadline: Some(Duration::from_millis(300)), ..RetryPolicy::default() };
    let (stats, _, _, _, failed_ids, stored) = run(policy).await;
    assert!(stats.failed > 0, "{stats:?}");
    assert_eq!((stats.sent + stats.failed, stored), (EVENTS, stats.sent), "{stats:?}");
    assert_eq!(failed_ids.len() as u64, stats.failed);
}
