//! Criterion benchmark of the scenario engine's own work, per 100,000 events of the `million`
//! scenario's stream: the first pass over the input (drawing the generated stream and counting
//! it in the model), and the latency join of the producer's timeline with what the consumer read
//! and wrote. Both are linear: a run's time for them is about ten times these per million.
//!
//! `cargo bench -p minutely-benches --bench engine`. The whole run at scale, with its memory:
//! `minutely scenario million --backend sim --events 10000000` (the report's `engine` line).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minutely_aggregate::{ProcessingTime, WindowConfig};
use minutely_consumer::{Aggregator, Observer, Settings};
use minutely_event::RecordDecoder;
use minutely_producer::kinesis::Timeline;
use minutely_scenario::Scenario;
use minutely_scenario::generate::Payload;
use minutely_scenario::input::Input;
use minutely_scenario::trace::Tracer;
use std::sync::Arc;
use tokio::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: u64 = 100_000;

fn scenario() -> Scenario {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Scenario::load(&root.join("scenarios/million.toml")).unwrap().scaled(EVENTS).unwrap()
}

fn input_and_model(c: &mut Criterion) {
    let s = scenario();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(EVENTS));
    g.sample_size(10);
    g.bench_function("input_and_model", |b| {
        b.iter(|| {
            let input = Input::of(&s, Path::new(".")).unwrap();
            let counted = input.count(&s.pipeline.key).unwrap();
            assert_eq!(counted.expected.values().sum::<u64>(), EVENTS);
            black_box(counted)
        })
    });
    g.finish();
}

/// A tracer that saw every event read by one of four workers and written in its minute's
/// object, and the producer's timeline of the same records.
fn traced() -> (Tracer, Timeline) {
    let s = scenario();
    let input = Input::of(&s, Path::new(".")).unwrap();
    let settings = Settings {
        decoder: Arc::new(RecordDecoder::minutely(&s.pipeline.key)),
        windows: WindowConfig { allowed_lateness_ms: 30_000, idle_timeout_ms: Some(3_000) },
        max_dedup_ids: 1_000_000,
    };
    let workers: Vec<String> = (0..4).map(|w| format!("shardId-{w:012}")).collect();
    let mut aggs: Vec<Aggregator> = workers.iter().map(|w| Aggregator::new(w, settings.clone())).collect();
    let (tracer, mut timeline, t0) = (Tracer::default(), Timeline::default(), Instant::now());
    for (n, planned) in input.items().unwrap().enumerate() {
        let (item, _, _) = planned.unwrap();
        let at = t0 + Duration::from_micros(n as u64 * 10);
        let Payload::Event(e) = item else { continue };
        let record = e.to_record();
        let w = n % workers.len();
        tracer.read(&workers[w], &mut std::iter::once(record.as_slice()), at);
        aggs[w].record(&record, ProcessingTime(n as u64 / 100), || n.to_string());
        timeline.sent.push((minutely_event::id_hash(e.id.as_deref().unwrap()), at));
        timeline.acked.push(Some(at + Duration::from_millis(5)));
    }
    let written = t0 + Duration::from_secs(60);
    for (w, agg) in aggs.iter_mut().enumerate() {
        agg.close_all();
        for object in agg.take_objects() {
            tracer.written(&workers[w], &object, written, written);
        }
    }
    (tracer, timeline)
}

fn latency_join(c: &mut Criterion) {
    let (tracer, timeline) = traced();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(EVENTS));
    g.sample_size(20);
    g.bench_function("latency_join", |b| {
        b.iter(|| {
            let latency = tracer.latency(&timeline);
            assert_eq!(latency.total.count, EVENTS, "every distinct event joined, once");
            black_box(latency)
        })
    });
    g.finish();
}

criterion_group!(benches, input_and_model, latency_join);
criterion_main!(benches);
