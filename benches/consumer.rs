//! Criterion benchmark of the consumer's hot path without a network: JSON lines (as
//! `minutely produce --sink stdout` writes them) decoded, deduplicated and counted per minute
//! and key by one worker, as `minutely consume --source stdin` does with each block it reads.
//!
//! `cargo bench -p minutely-benches --bench consumer`. Target: at least 1 million events/s.

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

criterion_group!(benches, stdin_into_windows);
criterion_main!(benches);
