//! Criterion benchmark of `minutely-check`'s history classifier: 1,000,000 expected events and
//! a stored history with 1% of them lost, 2% stored twice and 0.1% altered, plus 0.1% unexpected
//! events: the whole verdict (expect, store, classify), per stored event.
//!
//! `cargo bench -p minutely-benches --bench check`. Issue 26's target is for `check stream` as a
//! whole (reading and classifying at least 500,000 records/s from the sim): this is its
//! classifying part alone.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minutely_check::{Checker, Expected, Place, Stored};

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
        stored.push(Stored { id: format!("g7-{i}"), time_ms, key: key(i), place: place(i) });
        if i % 50 == 3 {
            stored.push(Stored { id: format!("g7-{i}"), time_ms, key: key(i), place: place(i + EVENTS) });
        }
        if i % 1000 == 7 {
            stored.push(Stored { id: format!("x-{i}"), time_ms, key: key(i), place: place(i + 2 * EVENTS) });
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

criterion_group!(benches, classify);
criterion_main!(benches);
