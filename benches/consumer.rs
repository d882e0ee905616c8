//! Criterion benchmark of the consumer's hot path without a network: JSON lines (as
//! `minutely produce --sink stdout` writes them) decoded, deduplicated and counted per minute
//! and key by one worker, as `minutely consume --source stdin` does with each block it reads.
//!
//! `cargo bench -p minutely-benches --bench consumer`. Target: at least 1 million events/s.
//!
//! `kpl/deaggregate`: a KPL aggregate made by aws-kinesis-agg (`fixtures/kpl/app-json-120.bin`,
//! 120 app-style JSON user records) checked (MD5) and decoded into its user records. Target: at
//! least 2 million user records/s.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minutely_aggregate::{EventTime, ProcessingTime, WindowConfig};
use minutely_consumer::{Aggregator, Settings, lines::count_block};
use minutely_producer::source::{RandomSource, RandomSpec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn records(n: u64) -> Vec<u8> {
    // 12 countries (Zipf) x 3 devices, 1,000 events per second of event time, 2 % sent twice.
    let spec = RandomSpec {
        seed: 9,
        count: Some(n),
        rate: Some(1000.0),
        start: EventTime(1_471_798_800_000),
        jitter: std::time::Duration::from_millis(500),
        duplicate_fraction: 0.02,
        ..RandomSpec::default()
    };
    let mut out = Vec::new();
    for s in RandomSource::new(spec).unwrap() {
        s.unwrap().event.encode(&mut out);
        out.push(b'\n');
    }
    out
}

fn stdin_into_windows(c: &mut Criterion) {
    let n = 1_000_000u64;
    let bytes = records(n);
    let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    let settings = Settings {
        key: Arc::from(vec!["country".to_owned(), "device".to_owned()]),
        windows: WindowConfig { allowed_lateness_ms: 30_000, idle_timeout_ms: Some(30_000) },
        max_dedup_ids: 1_000_000,
    };
    let mut g = c.benchmark_group("consumer");
    g.throughput(Throughput::Elements(lines));
    g.sample_size(10);
    g.bench_function("json_lines_into_windows", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new("stdin", settings.clone());
            count_block(&mut agg, &bytes, 1, ProcessingTime(0));
            agg.close_all();
            let objects = agg.take_objects();
            assert_eq!(agg.counters().records, lines);
            black_box(objects)
        })
    });
    g.finish();
}

fn kpl_deaggregate(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/kpl/app-json-120.bin");
    let data = bytes::Bytes::from(std::fs::read(&path).unwrap());
    let users = minutely_event::kpl::decode(&data).unwrap().unwrap().records.len() as u64;
    let mut g = c.benchmark_group("kpl");
    g.throughput(Throughput::Elements(users));
    g.bench_function("deaggregate", |b| {
        b.iter(|| {
            let aggregate = minutely_event::kpl::decode(black_box(&data)).unwrap().unwrap();
            assert_eq!(aggregate.records.len() as u64, users);
            black_box(aggregate)
        })
    });
    g.finish();
}

criterion_group!(benches, stdin_into_windows, kpl_deaggregate);
criterion_main!(benches);
