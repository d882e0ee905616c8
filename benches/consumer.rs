//! Criterion benchmark of the consumer's hot path without a network: JSON lines (as
//! `minutely produce --sink stdout` writes them) decoded, deduplicated and counted per minute
//! and key by one worker, as `minutely consume --source stdin` does with each block it reads.
//!
//! `cargo bench -p minutely-benches --bench consumer`. Target: at least 1 million events/s.
//! `consumer/prepare_blocks` and `consumer/count_prepared` time its two halves apart: decoding
//! 1 MiB blocks (each of stdin's decoding threads) and counting decoded blocks (the one
//! counting thread).
//!
//! `consumer/app_json_lines_into_windows`: the same events as an app writes them (nested JSON,
//! `{"event_id","ts" (epoch ms),"geo":{"country"},"os","screen":{...}}`), read with a schema:
//! time, two key fields (one at depth 2) and the id found by path. Target: 1 million events/s.
//!
//! `kpl/deaggregate`: a KPL aggregate made by aws-kinesis-agg (`fixtures/kpl/app-json-120.bin`,
//! 120 app-style JSON user records) checked (MD5) and decoded into its user records. Target: at
//! least 2 million user records/s.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minutely_aggregate::{EventTime, ProcessingTime, WindowConfig};
use minutely_consumer::prepare::{Framing, Prepared, prepare};
use minutely_consumer::{Aggregator, Settings};
use minutely_event::RecordDecoder;
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
        decoder: Arc::new(RecordDecoder::minutely(&["country".to_owned(), "device".to_owned()])),
        windows: WindowConfig { allowed_lateness_ms: 30_000, idle_timeout_ms: Some(30_000) },
        max_dedup_ids: 1_000_000,
    };
    let mut g = c.benchmark_group("consumer");
    g.throughput(Throughput::Elements(lines));
    g.sample_size(10);
    g.bench_function("json_lines_into_windows", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new("stdin", settings.clone());
            agg.lines(&bytes, 1, ProcessingTime(0));
            agg.close_all();
            let objects = agg.take_objects();
            assert_eq!(agg.counters().records, lines);
            black_box(objects)
        })
    });
    // The two halves of it apart: decoding 1 MiB blocks (what each decoding thread does) and
    // counting the decoded blocks (what the one counting thread does).
    let blocks = blocks_of_lines(&bytes, 1 << 20);
    g.bench_function("prepare_blocks", |b| {
        b.iter(|| {
            let decoded: Vec<Prepared> =
                blocks.iter().map(|(first, block)| prepare(&settings.decoder, Framing::Lines, block, *first)).collect();
            assert_eq!(decoded.iter().map(|p| p.records).sum::<u64>(), lines);
            black_box(decoded)
        })
    });
    g.bench_function("count_prepared", |b| {
        b.iter_batched(
            || blocks.iter().map(|(first, block)| prepare(&settings.decoder, Framing::Lines, block, *first)).collect(),
            |decoded: Vec<Prepared>| {
                let mut agg = Aggregator::new("stdin", settings.clone());
                for block in decoded {
                    agg.prepared(block, ProcessingTime(0));
                }
                agg.close_all();
                assert_eq!(agg.counters().records, lines);
                black_box(agg.take_objects())
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// `bytes` in blocks of whole lines of about `size` bytes, each with the number of its first line.
fn blocks_of_lines(bytes: &[u8], size: usize) -> Vec<(u64, &[u8])> {
    let (mut out, mut start, mut line) = (Vec::new(), 0, 1);
    while start < bytes.len() {
        let from = (start + size).min(bytes.len());
        let end = bytes[from..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| from + i + 1);
        out.push((line, &bytes[start..end]));
        line += bytes[start..end].iter().filter(|b| **b == b'\n').count() as u64;
        start = end;
    }
    out
}

/// The events of [`records`] in an app's own shape, one JSON object per line.
fn app_records(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for line in records(n).split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let e = minutely_event::Event::decode(line).unwrap();
        let app = serde_json::json!({
            "event_id": e.id,
            "ts": e.time.0,
            "geo": {"country": e.dims["country"], "city": "x"},
            "os": e.dims["device"],
            "screen": {"name": "home", "ms": 12},
        });
        serde_json::to_writer(&mut out, &app).unwrap();
        out.push(b'\n');
    }
    out
}

fn app_json_into_windows(c: &mut Criterion) {
    let bytes = app_records(1_000_000);
    let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    let schema = "format = \"json\"\ntime = \"/ts\"\nkey = [\"/geo/country\", \"os\"]\nid = \"event_id\"";
    let decoder = RecordDecoder::new(&minutely_event::Schema::from_toml(schema).unwrap()).unwrap();
    let settings = Settings {
        decoder: Arc::new(decoder),
        windows: WindowConfig { allowed_lateness_ms: 30_000, idle_timeout_ms: Some(30_000) },
        max_dedup_ids: 1_000_000,
    };
    let mut g = c.benchmark_group("consumer");
    g.throughput(Throughput::Elements(lines));
    g.sample_size(10);
    g.bench_function("app_json_lines_into_windows", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new("stdin", settings.clone());
            agg.lines(&bytes, 1, ProcessingTime(0));
            agg.close_all();
            let objects = agg.take_objects();
            let c = agg.counters();
            assert_eq!((c.events, c.rejected), (lines, 0));
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

criterion_group!(benches, stdin_into_windows, app_json_into_windows, kpl_deaggregate);
criterion_main!(benches);
