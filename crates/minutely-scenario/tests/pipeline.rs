//! The pipeline without LocalStack, over many generated streams: the producer's `produce` into
//! the in-process channel, the consumer's worker (decode, dedup, windows, commit protocol) on
//! the other end, objects in memory. Their sums must equal the counting model, whatever the
//! stream; proptest shrinks a failure to a small stream, kept in `pipeline.proptest-regressions`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use minutely_aggregate::{EventTime, WindowConfig};
use minutely_consumer::WorkerStats;
use minutely_consumer::output::MemoryStore;
use minutely_consumer::worker::{Clock, Worker};
use minutely_consumer::{CountLine, Output, Settings};
use minutely_event::RecordDecoder;
use minutely_producer::sink::ChannelSink;
use minutely_producer::{PartitionKey, Sourced, produce};
use minutely_scenario::generate::{GenSpec, Payload, Spacing, strategy};
use minutely_scenario::model::{self, Counts};
use proptest::prelude::*;

fn spec() -> impl Strategy<Value = GenSpec> {
    (any::<u64>(), 0i64..600_000, 0i64..40_000, 0.0..0.2f64, 0.0..0.2f64, 0.0..0.1f64).prop_map(
        |(seed, span_ms, jitter_ms, late_fraction, duplicate_fraction, malformed_fraction)| GenSpec {
            seed,
            start: EventTime(1_471_798_800_000),
            spacing: Spacing::Span(span_ms),
            dims: vec!["country=6:zipf".parse().unwrap(), "device=3".parse().unwrap()],
            jitter_ms,
            late_fraction,
            late_by_ms: 200_000,
            duplicate_fraction,
            malformed_fraction,
            missing_fraction: 0.0,
        },
    )
}

/// The stream through producer, channel and worker; the sums of the objects and the rejects.
async fn pipeline(items: &[Payload], lateness_ms: u64) -> (Counts, u64) {
    let key: Arc<[String]> = Arc::from(vec!["country".to_owned(), "device".to_owned()]);
    let events: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            Payload::Event(e) => Some(Ok(Sourced { event: e.clone(), due: None, key: key.clone() })),
            Payload::Malformed(_) => None,
        })
        .collect();
    let (mut sink, mut rx) = ChannelSink::new(64, 4);
    let stop = Arc::new(AtomicBool::new(false));
    let producer =
        tokio::spawn(async move { produce(events.into_iter(), &mut sink, PartitionKey::Key, &stop, |_| {}).await });

    let store = Arc::new(MemoryStore::default());
    let settings = Settings {
        decoder: Arc::new(RecordDecoder::minutely(&["country".to_owned()])),
        windows: WindowConfig { allowed_lateness_ms: lateness_ms, idle_timeout_ms: None },
        max_dedup_ids: 1_000_000,
    };
    let clock = Clock::start();
    let (mut worker, _) = Worker::open(
        "channel",
        settings,
        Output::Memory(store.clone()),
        Some("checkpoints/channel.json".into()),
        Duration::ZERO,
        clock,
        WorkerStats::new(),
    )
    .await
    .unwrap();
    let mut n = 0u64;
    while let Some(chunk) = rx.recv().await {
        for event in chunk {
            n += 1;
            worker.record(&event.to_record(), clock.now(), || n.to_string());
        }
        worker.processed_through(&n.to_string(), None);
        worker.commit(false, false).await.unwrap();
    }
    producer.await.unwrap().unwrap();
    for (i, item) in items.iter().enumerate() {
        if let Payload::Malformed(bytes) = item {
            worker.record(bytes, clock.now(), || format!("malformed {i}"));
        }
    }
    worker.close_all();
    worker.commit(true, true).await.unwrap();

    let mut sums = Counts::new();
    for (path, body) in store.under("minutes/") {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let c: CountLine = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{path}: {e}"));
            *sums.entry((c.minute, c.key)).or_default() += c.count;
        }
    }
    let rejects = store
        .under("rejects/")
        .iter()
        .map(|(_, b)| b.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count() as u64)
        .sum();
    (sums, rejects)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_in_process_pipeline_counts_every_distinct_event_once(
        (items, lateness_ms) in spec().prop_flat_map(|s| (strategy(s, 0..400), 0u64..60_000)),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (sums, rejects) = rt.block_on(pipeline(&items, lateness_ms));
        let events = items.iter().filter_map(|i| if let Payload::Event(e) = i { Some(e) } else { None });
        prop_assert_eq!(sums, model::count(events, &["country".to_owned()]));
        prop_assert_eq!(rejects, items.iter().filter(|i| matches!(i, Payload::Malformed(_))).count() as u64);
    }
}
