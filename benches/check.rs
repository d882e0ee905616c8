//! Criterion benchmark of `minutely-check`'s history classifier: 1,000,000 expected events and
//! a stored history with 1% of them lost, 2% stored twice and 0.1% altered, plus 0.1% unexpected
//! events: the whole verdict (expect, store, classify), per stored event.
//!
//! `check/stream_1m_8_shards`: `check stream` as a whole, in process: 1,000,000 of minutely's
//! records in 8 shards of the sim (limits off, answered without a socket), the expected events
//! generated, every shard read with `kinesis::scan` (decoded in the shards' tasks), classified.
//! Issue 26's target: at least 500,000 records/s. Measured on the 2-core VM (medians): 373,000/s
//! at first, 421,000/s with the checker's entries made small, then 318,000/s on a noisier day
//! (2026-12-03), and 439,000-536,000/s over three runs after four changes (not yet reliably
//! above the target), each measured by its part below:
//! - the sim encodes a GetRecords answer after letting go of its lock (records shared as
//!   `Arc`s), with SIMD base64 and sequence numbers written without `format!`: `scan_1m_8_shards`
//!   1.41 s → 0.75 s;
//! - the checker's tables reserved for the expected count: `expect_1m_generated` 1.52 → 1.03 s;
//! - its id table holding entry numbers (5 bytes a slot, not 33) and entries of 96 bytes, not
//!   128 (later places and altered copies in side tables): `history_1m` 0.93 → 0.64 s;
//! - the expected events drawn on another core as the checker takes them (`minutely_check::
//!   ahead`, as `check stream` does): `expect_1m_generated` 0.69 s, the generator's own time
//!   (`generate_1m` 0.68 s).
//!
//! Then (2026-12-03, sixth session) 664,000, 688,000 and 722,000 records/s over three runs
//! (1.39-1.51 s), from three more changes:
//! - the expected events drawn as the stored ones need them (`minutely_check::Drawing`), so
//!   drawing and reading run side by side instead of one after the other;
//! - a page's ids looked up together (`Drawing::stored_all`): a lookup in a million ids' table
//!   is mostly cache misses, and independent lookups overlap them (`perf`: the lookup was the
//!   largest single cost, 12% of the cycles);
//! - the generator drawing with the strategy's samplers but without a value tree per event, its
//!   labels made once: `generate_1m` 0.68 → 0.50 s.
//!
//! What bounds it now: both cores are busy; the in-process sim's JSON and base64, the SDK's
//! parsing, the id table's cache misses and allocation are the largest costs.
//!
//! `cargo bench -p minutely-benches --bench check`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use minutely_check::{Checker, Drawing, Expected, Place, Stored};
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::{KinesisSink, RetryPolicy};
use minutely_producer::source::{RandomSource, RandomSpec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: u64 = 1_000_000;

fn history() -> (Vec<Expected>, Vec<Stored>) {
    let key = |i: u64| vec![format!("c{}", i % 50), format!("d{}", i % 3)];
    let expected: Vec<Expected> =
        (0..EVENTS).map(|i| Expected { id: format!("g7-{i}"), time_ms: i as i64, key: key(i) }).collect();
    let mut stored = Vec::with_capacity(EVENTS as usize * 103 / 100);
    let place = |i: u64| Place {
        shard: format!("shardId-{:012}", i % 8),
        sequence: format!("{:056}", i),
        index: 0,
        arrival_ms: i as i64,
    };
    for i in 0..EVENTS {
        if i % 100 == 0 {
            continue; // lost
        }
        let time_ms = if i % 1000 == 1 { i as i64 + 1 } else { i as i64 }; // altered
        stored.push(Stored { id: format!("g7-{i}"), time_ms, key: key(i), place: place(i), partition_key: None });
        if i % 50 == 3 {
            stored.push(Stored {
                id: format!("g7-{i}"),
                time_ms,
                key: key(i),
                place: place(i + EVENTS),
                partition_key: None,
            });
        }
        if i % 1000 == 7 {
            stored.push(Stored {
                id: format!("x-{i}"),
                time_ms,
                key: key(i),
                place: place(i + 2 * EVENTS),
                partition_key: None,
            });
        }
    }
    (expected, stored)
}

fn classify(c: &mut Criterion) {
    let (expected, stored) = history();
    let mut g = c.benchmark_group("check");
    g.throughput(Throughput::Elements(stored.len() as u64));
    g.sample_size(10);
    g.bench_function("history_1m", |b| {
        b.iter_batched(
            || (expected.clone(), stored.clone()),
            |(expected, stored)| {
                let mut checker = Checker::new(10);
                expected.into_iter().for_each(|e| checker.expect(e));
                stored.into_iter().for_each(|s| checker.stored(s));
                black_box(checker.verdict())
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The generated events as a check expects them, drawn ahead on another thread.
fn expected_events(spec: &RandomSpec) -> impl Iterator<Item = Expected> {
    minutely_check::ahead(RandomSource::new(spec.clone()).unwrap().map(|s| {
        let e = s.unwrap().event;
        Expected { id: e.id.clone().unwrap(), time_ms: e.time.0, key: e.key(&["country", "device"]) }
    }))
}

/// 1,000,000 generated events put into 8 shards of an in-process sim without limits, then the
/// whole check: expected events drawn again from the seed, every shard scanned, classified.
fn stream_in_process(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = minutely_sim::Config { limits: false, ..minutely_sim::Config::default() };
    let sim = Arc::new(runtime.block_on(minutely_sim::Sim::start(config)).unwrap());
    let clients = runtime.block_on(minutely_aws::in_process_clients(sim.handler()));
    let spec = RandomSpec { seed: 9, count: Some(EVENTS), ..RandomSpec::default() };
    runtime.block_on(async {
        let k = &clients.kinesis;
        minutely_aws::kinesis::ensure_stream(k, "checked", 8, std::time::Duration::from_secs(10)).await.unwrap();
        let mut sink = KinesisSink::new(k.clone(), "checked", Limits::default(), RetryPolicy::default());
        let source = RandomSource::new(spec.clone()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let key = minutely_producer::PartitionKey::Id;
        let summary = minutely_producer::produce(source, &mut sink, key, &stop, |_| {}).await.unwrap();
        assert_eq!(summary.sink.failed, 0);
    });
    let decoder = Arc::new(minutely_event::RecordDecoder::minutely(&["country".to_owned(), "device".to_owned()]));
    let mut g = c.benchmark_group("check");
    g.throughput(Throughput::Elements(EVENTS));
    g.sample_size(10);
    // Its two halves apart: the expected events drawn from the seed into a checker, and the
    // shards scanned and decoded with nothing kept.
    g.bench_function("expect_1m_generated", |b| {
        b.iter(|| {
            let mut checker = Checker::new(10);
            checker.reserve(EVENTS as usize);
            // Drawn on another core as they are taken, as `check stream` draws them.
            expected_events(&spec).for_each(|e| checker.expect(e));
            black_box(checker)
        })
    });
    g.bench_function("generate_1m", |b| {
        b.iter(|| {
            let names = ["country", "device"];
            for s in RandomSource::new(spec.clone()).unwrap() {
                let e = s.unwrap().event;
                black_box((e.id.clone().unwrap(), e.key(&names)));
            }
        })
    });
    g.bench_function("scan_1m_8_shards", |b| {
        b.iter(|| {
            let mut n = 0;
            let scanned = runtime.block_on(minutely_consumer::kinesis::scan::scan(
                &clients.kinesis,
                "checked",
                decoder.clone(),
                false,
                |page| n += page.events.len(),
            ));
            assert_eq!((scanned.unwrap().records, n), (EVENTS, EVENTS as usize));
        })
    });
    g.bench_function("stream_1m_8_shards", |b| {
        b.iter(|| {
            let mut checker = Checker::new(10);
            checker.reserve(EVENTS as usize); // as `check stream` does: it knows how many it expects
            // Drawn on another core as the stored events come, as `check stream` draws them.
            let mut drawing = Drawing::new(checker, expected_events(&spec).map(Ok::<_, ()>));
            let scanned = runtime.block_on(minutely_consumer::kinesis::scan::scan(
                &clients.kinesis,
                "checked",
                decoder.clone(),
                false,
                |page| drawing.stored_all(page.events),
            ));
            assert_eq!(scanned.unwrap().records, EVENTS);
            let (checker, given) = drawing.finish().unwrap();
            assert_eq!(given, EVENTS);
            let v = checker.verdict();
            assert_eq!(v.ok, EVENTS, "every event stored once, as given");
            black_box(v)
        })
    });
    g.finish();
}

/// `check counts`' reading: 10,000 objects of minutely's layout (12 count lines each) in an
/// in-process sim's S3, listed, fetched 16 at a time and read into counts, then compared.
/// Issue 26's target: 10,000 objects in at most 5 s.
fn counts_in_process(c: &mut Criterion) {
    const OBJECTS: usize = 10_000;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = Arc::new(runtime.block_on(minutely_sim::Sim::start(minutely_sim::Config::default())).unwrap());
    let clients = runtime.block_on(minutely_aws::in_process_clients(sim.handler()));
    let mut expected = minutely_check::counts::Counts::new();
    runtime.block_on(async {
        clients.s3.create_bucket().bucket("out").send().await.unwrap();
        let mut puts = tokio::task::JoinSet::new();
        for i in 0..OBJECTS {
            let minute = 1_471_798_800_000 + (i / 8) as i64 * 60_000;
            let label = minutely_aggregate::EventTime(minute).minute().label().to_string();
            let body: String = (0..12)
                .map(|k| {
                    *expected.entry((minute, vec![format!("c{k}")])).or_default() += 5;
                    format!("{{\"minute\":\"{label}\",\"key\":[\"c{k}\"],\"count\":5}}\n")
                })
                .collect();
            let key = format!("run/minutes/minute={label}/shardId-{:012}.jsonl", i % 8);
            let s3 = clients.s3.clone();
            puts.spawn(
                async move { s3.put_object().bucket("out").key(key).body(body.into_bytes().into()).send().await },
            );
            if puts.len() >= 32 {
                puts.join_next().await.unwrap().unwrap().unwrap();
            }
        }
        while let Some(p) = puts.join_next().await {
            p.unwrap().unwrap();
        }
    });
    let mut g = c.benchmark_group("check");
    g.throughput(Throughput::Elements(OBJECTS as u64));
    g.sample_size(10);
    g.bench_function("counts_10k_objects", |b| {
        b.iter(|| {
            let mut found = minutely_check::Found::new(minutely_check::OutputSchema::default()).unwrap();
            runtime.block_on(async {
                let policy = minutely_aws::RetryPolicy::default();
                let listed = minutely_aws::s3::objects_under(&clients.s3, "out", "run/", policy).await.unwrap();
                let keys = listed.into_iter().map(|(k, _)| k).collect();
                minutely_aws::s3::each_object(&clients.s3, "out", keys, 16, policy, |key, body| {
                    found.object(key, 0, body).map_err(|e| {
                        minutely_aws::AwsError::new("read", key, minutely_aws::Cause::Other, e.to_string())
                    })
                })
                .await
                .unwrap();
            });
            assert_eq!(found.objects, OBJECTS as u64);
            let v = minutely_check::counts::compare(&expected, &found.counts(), 10);
            assert_eq!(v.ok, v.pairs_expected);
            black_box(v)
        })
    });
    g.finish();
}

criterion_group!(benches, classify, stream_in_process, counts_in_process);
criterion_main!(benches);
